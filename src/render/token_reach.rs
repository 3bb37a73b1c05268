//! Which containers of a rendered pod hold the run's GitHub token while they run something
//! other than agentpods' own steps. The agent reads strangers' text and may be talked into
//! anything its container allows, so a container that runs the agent's command must not
//! hold a token that can write. The default template gives the token only to `agentpods
//! agent --phase checkout` and `--phase publish` (docs/agent.md, The three steps);
//! `validate` warns of a template that gives it to anything else.

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};

use crate::agent_pod::{
    CHANGES_DIR_ENV, CHANGES_DIR_FLAG, CHECKOUT_STEP, PHASE_ENV, PHASE_FLAG, PUBLISH_STEP,
    runs_entrypoint,
};

/// The steps of `agentpods agent` that run only agentpods' own code.
const OWN_STEPS: [&str; 2] = [CHECKOUT_STEP, PUBLISH_STEP];

/// The names of the containers (init containers included) of `spec` that can read the
/// Secret `secret` — a volume of it (plain, or projected) that they mount, a variable from
/// one of its keys, or all of its keys — and run something other than agentpods' own
/// checkout or publish step.
pub fn agent_containers_holding(spec: &PodSpec, secret: &str) -> Vec<String> {
    let volumes = secret_volumes(spec, secret);
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .filter(|c| holds(c, secret, &volumes) && !is_own_step(c))
        .map(|c| c.name.clone())
        .collect()
}

/// The names of the containers of `spec` that run `agentpods agent --phase publish` with
/// the Secret `secret` but without `--changes-dir`: such a step commits and pushes from the
/// agent's checkout, running git on what the agent wrote while it holds the token, where
/// the default template's takes the agent's commits as a bundle and never mounts the
/// checkout.
pub fn publishing_from_the_checkout(spec: &PodSpec, secret: &str) -> Vec<String> {
    let volumes = secret_volumes(spec, secret);
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .filter(|c| holds(c, secret, &volumes) && phase(c) == Some(PUBLISH_STEP))
        .filter(|c| {
            let flag = format!("--{CHANGES_DIR_FLAG}");
            let by_option = words(c).iter().any(|w| {
                *w == flag
                    || w.strip_prefix(flag.as_str())
                        .is_some_and(|r| r.starts_with('='))
            });
            let by_variable = c.env.iter().flatten().any(|e| e.name == CHANGES_DIR_ENV);
            !(by_option || by_variable)
        })
        .map(|c| c.name.clone())
        .collect()
}

fn secret_volumes<'a>(spec: &'a PodSpec, secret: &str) -> Vec<&'a str> {
    spec.volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.secret
                .as_ref()
                .is_some_and(|s| s.secret_name.as_deref() == Some(secret))
                || v.projected.as_ref().is_some_and(|p| {
                    p.sources
                        .iter()
                        .flatten()
                        .any(|s| s.secret.as_ref().is_some_and(|s| s.name == secret))
                })
        })
        .map(|v| v.name.as_str())
        .collect()
}

fn holds(c: &Container, secret: &str, volumes: &[&str]) -> bool {
    let mounted = c
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| volumes.contains(&m.name.as_str()));
    let variable = c.env.iter().flatten().any(|e| {
        e.value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.as_ref())
            .is_some_and(|r| r.name == secret)
    });
    let all_keys = c
        .env_from
        .iter()
        .flatten()
        .any(|e| e.secret_ref.as_ref().is_some_and(|r| r.name == secret));
    mounted || variable || all_keys
}

/// `agentpods agent --phase checkout|publish`, with no agent command after `--`.
fn is_own_step(c: &Container) -> bool {
    phase(c).is_some_and(|phase| OWN_STEPS.contains(&phase))
}

/// The command and arguments of `c`, as words.
fn words(c: &Container) -> Vec<&str> {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect()
}

/// The step `c` runs when it runs `agentpods agent` (its `command`, as
/// [`runs_entrypoint`] reads it: `args` alone run the image's own entrypoint, whatever
/// it is) with no agent command after `--`.
fn phase(c: &Container) -> Option<&str> {
    let words = words(c);
    if !runs_entrypoint(c) || words.contains(&"--") {
        return None;
    }
    let flag = format!("--{PHASE_FLAG}");
    let by_option = words
        .windows(2)
        .find_map(|w| (w[0] == flag).then_some(w[1]));
    let by_equals = words
        .iter()
        .find_map(|w| w.strip_prefix(flag.as_str())?.strip_prefix('='));
    let by_variable = c
        .env
        .iter()
        .flatten()
        .find(|e: &&EnvVar| e.name == PHASE_ENV)
        .and_then(|e| e.value.as_deref());
    by_option.or(by_equals).or(by_variable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_yaml::from_str(yaml).expect("a pod spec")
    }

    const VOLUME: &str = "
volumes:
  - name: t
    secret: {secretName: tok}
";

    #[test]
    fn only_agentpods_own_steps_may_hold_the_token() {
        let split = spec(&format!(
            "{VOLUME}
initContainers:
  - name: checkout
    command: [agentpods, agent]
    args: [--phase, checkout]
    volumeMounts: [{{name: t, mountPath: /t}}]
  - name: agent
    command: [agentpods, agent]
    args: [--phase, run, --, codex]
containers:
  - name: publish
    command: [/usr/local/bin/agentpods, agent, --phase=publish]
    volumeMounts: [{{name: t, mountPath: /t}}]
"
        ));
        assert_eq!(
            agent_containers_holding(&split, "tok"),
            Vec::<String>::new()
        );
        let one = spec(&format!(
            "{VOLUME}
containers:
  - name: agent
    command: [agentpods, agent]
    args: [--task-file, /t, --, codex]
    volumeMounts: [{{name: t, mountPath: /t}}]
"
        ));
        assert_eq!(agent_containers_holding(&one, "tok"), ["agent"]);
    }

    #[test]
    fn a_publish_step_with_the_token_and_no_bundle_pushes_from_the_checkout() {
        let pod = spec(&format!(
            "{VOLUME}
containers:
  - name: old
    command: [agentpods, agent]
    args: [--phase, publish]
    volumeMounts: [{{name: t, mountPath: /t}}]
  - name: new
    command: [agentpods, agent]
    args: [--phase, publish, --changes-dir=/c]
    volumeMounts: [{{name: t, mountPath: /t}}]
  - name: by-variable
    command: [agentpods, agent]
    env: [{{name: AGENTPODS_PHASE, value: publish}}, {{name: AGENTPODS_CHANGES_DIR, value: /c}}]
    volumeMounts: [{{name: t, mountPath: /t}}]
  - name: no-token
    command: [agentpods, agent]
    args: [--phase, publish]
"
        ));
        assert_eq!(publishing_from_the_checkout(&pod, "tok"), ["old"]);
    }

    /// `args` alone run the image's own entrypoint (which may be the agent), whatever
    /// they say: such a container is not agentpods' step (architecture review 12c, R3).
    #[test]
    fn args_that_name_agentpods_without_its_command_are_not_its_step() {
        let pod = spec(&format!(
            "{VOLUME}
initContainers:
  - name: looks-like-checkout
    image: ghcr.io/acme/agent:1
    args: [agentpods, agent, --phase, checkout]
    volumeMounts: [{{name: t, mountPath: /t}}]
"
        ));
        assert_eq!(
            agent_containers_holding(&pod, "tok"),
            ["looks-like-checkout"]
        );
    }

    #[test]
    fn every_way_a_container_can_hold_the_secret_counts() {
        let ways = spec(
            "
volumes:
  - name: p
    projected: {sources: [{secret: {name: tok}}]}
initContainers:
  - name: projected
    image: x
    command: [codex]
    volumeMounts: [{name: p, mountPath: /p}]
containers:
  - name: variable
    image: x
    env: [{name: T, valueFrom: {secretKeyRef: {name: tok, key: token}}}]
  - name: all-keys
    image: x
    envFrom: [{secretRef: {name: tok}}]
  - name: phase-all
    command: [agentpods, agent]
    env: [{name: AGENTPODS_PHASE, value: all}, {name: T, valueFrom: {secretKeyRef: {name: tok, key: token}}}]
  - name: publish-by-variable
    command: [agentpods, agent]
    env: [{name: AGENTPODS_PHASE, value: publish}, {name: T, valueFrom: {secretKeyRef: {name: tok, key: token}}}]
  - name: without
    image: x
",
        );
        assert_eq!(
            agent_containers_holding(&ways, "tok"),
            ["projected", "variable", "all-keys", "phase-all"]
        );
    }
}
