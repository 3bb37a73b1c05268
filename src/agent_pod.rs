//! The contract between render, the controller and `agentpods agent` about a pod: which
//! container runs the entrypoint (only its result is believed), how render tells it
//! which of its variables and files are secrets (it redacts them; the service, which may
//! not read Secrets, cannot), and the result it writes to its termination message
//! ([`result`], one format for the agent that writes it and the controller that reads it).
//! Depends on nothing else in the crate.

pub mod result;

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};

/// The variables whose values are secrets, comma-separated; `PREFIX*` stands for every
/// variable whose name starts with PREFIX (an `envFrom` Secret).
pub const SECRET_ENV: &str = "AGENTPODS_SECRET_ENV";
/// The files and folders (a Secret volume's mount) that hold secrets, comma-separated.
pub const SECRET_FILES: &str = "AGENTPODS_SECRET_FILES";

/// The entrypoint's options and steps that `validate` reads in a template too
/// (`render::token_reach`): one spelling for the entrypoint and its reader. The steps are
/// the values of `--phase` (tied to `agent::Step` by a test there).
pub const PHASE_FLAG: &str = "phase";
pub const PHASE_ENV: &str = "AGENTPODS_PHASE";
pub const CHANGES_DIR_FLAG: &str = "changes-dir";
pub const CHANGES_DIR_ENV: &str = "AGENTPODS_CHANGES_DIR";
/// The steps that run agentpods' own code only, and may hold the run's token.
pub const CHECKOUT_STEP: &str = "checkout";
pub const PUBLISH_STEP: &str = "publish";

/// Whether a container runs `agentpods agent`: its command is `agentpods` (any path)
/// followed by `agent`. Only such a container's termination message is believed to be
/// a result, and only such a container is told its secrets.
pub fn runs_entrypoint(container: &Container) -> bool {
    let command = container.command.as_deref().unwrap_or_default();
    let Some((program, rest)) = command.split_first() else {
        return false;
    };
    let next = rest
        .first()
        .or_else(|| container.args.as_deref().unwrap_or_default().first());
    Path::new(program).file_name().and_then(|n| n.to_str()) == Some("agentpods")
        && next.map(String::as_str) == Some("agent")
}

/// Tells each container of `spec` that runs the entrypoint which of its variables and
/// files are secrets: those from a `secretKeyRef` or an `envFrom` Secret, and the mounts of
/// Secret volumes (projected ones and ServiceAccount tokens included). Names the template
/// gave these variables itself are kept.
pub fn declare(spec: &mut PodSpec) {
    let secret_volumes: BTreeSet<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| {
            v.secret.is_some()
                || v.projected.as_ref().is_some_and(|p| {
                    p.sources
                        .iter()
                        .flatten()
                        .any(|s| s.secret.is_some() || s.service_account_token.is_some())
                })
        })
        .map(|v| v.name.clone())
        .collect();
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers.filter(|c| runs_entrypoint(c)) {
        let mut names: Vec<String> = c
            .env
            .iter()
            .flatten()
            .filter(|e| {
                e.value_from
                    .as_ref()
                    .is_some_and(|f| f.secret_key_ref.is_some())
            })
            .map(|e| e.name.clone())
            .collect();
        names.extend(
            c.env_from
                .iter()
                .flatten()
                .filter(|e| e.secret_ref.is_some())
                .map(|e| format!("{}*", e.prefix.as_deref().unwrap_or_default())),
        );
        let files: Vec<String> = c
            .volume_mounts
            .iter()
            .flatten()
            .filter(|m| secret_volumes.contains(&m.name))
            .map(|m| m.mount_path.clone())
            .collect();
        add_to_list(c, SECRET_ENV, names);
        add_to_list(c, SECRET_FILES, files);
    }
}

fn add_to_list(c: &mut Container, var: &str, items: Vec<String>) {
    if items.is_empty() {
        return;
    }
    let env = c.env.get_or_insert_with(Vec::new);
    match env
        .iter_mut()
        .find(|e| e.name == var && e.value_from.is_none())
    {
        Some(e) => {
            let mut list: Vec<String> = e
                .value
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            for item in items {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            e.value = Some(list.join(","));
        }
        None => env.push(EnvVar {
            name: var.to_string(),
            value: Some(items.join(",")),
            value_from: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_spec(yaml: &str) -> PodSpec {
        serde_yaml::from_str(yaml).expect("a pod spec")
    }

    #[test]
    fn render_tells_the_entrypoint_its_secret_variables_and_files() {
        let mut spec = pod_spec(
            r#"
containers:
  - name: agent
    command: [agentpods, agent]
    env:
      - {name: PLAIN, value: x}
      - name: OPENAI_API_KEY
        valueFrom: {secretKeyRef: {name: openai, key: api-key}}
      - {name: AGENTPODS_SECRET_ENV, value: MY_OWN}
    envFrom:
      - {secretRef: {name: more}, prefix: MORE_}
      - configMapRef: {name: plain}
    volumeMounts:
      - {name: token, mountPath: /var/run/agentpods/github}
      - {name: work, mountPath: /workspace}
      - {name: both, mountPath: /etc/both}
  - name: sidecar
    image: busybox
    env:
      - name: K
        valueFrom: {secretKeyRef: {name: s, key: k}}
volumes:
  - {name: token, secret: {secretName: run-token}}
  - {name: work, emptyDir: {}}
  - name: both
    projected: {sources: [{configMap: {name: c}}, {secret: {name: s}}]}
"#,
        );
        declare(&mut spec);
        let env = |c: &Container, name: &str| {
            c.env
                .iter()
                .flatten()
                .find(|e| e.name == name)
                .and_then(|e| e.value.clone())
        };
        let agent = &spec.containers[0];
        assert_eq!(
            env(agent, SECRET_ENV).as_deref(),
            Some("MY_OWN,OPENAI_API_KEY,MORE_*")
        );
        assert_eq!(
            env(agent, SECRET_FILES).as_deref(),
            Some("/var/run/agentpods/github,/etc/both")
        );
        assert_eq!(env(&spec.containers[1], SECRET_ENV), None, "not ours");
    }

    #[test]
    fn only_agentpods_agent_is_the_entrypoint() {
        let c = |command: &[&str], args: &[&str]| Container {
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            args: Some(args.iter().map(|s| s.to_string()).collect()),
            ..Container::default()
        };
        assert!(runs_entrypoint(&c(&["agentpods", "agent"], &["--x"])));
        assert!(runs_entrypoint(&c(
            &["/usr/local/bin/agentpods"],
            &["agent"]
        )));
        assert!(!runs_entrypoint(&c(&["agentpods", "serve"], &[])));
        assert!(!runs_entrypoint(&c(&[], &["agent"])));
        assert!(!runs_entrypoint(&c(&["/kaniko/executor"], &["agent"])));
    }
}
