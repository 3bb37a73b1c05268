//! Whatever admission says, the render step refuses a pod that breaks its agent's Pod
//! Security level (`restricted` unless services.yaml opts the agent out by name, in a
//! namespace that allows it): privileged, host namespaces, hostPath, root, added
//! capabilities, privilege escalation. The error names the template, the document, the
//! field and the agent. The Kaniko image build is the one agent that opts out, and only in
//! the image builds' namespace.

use crate::support;

use agentpods::config::{self, LoadedConfig, TemplateSources};
use agentpods::github::event;
use agentpods::plan::{Decision, Facts, Planner};
use agentpods::render::{Engine, K8sObject};
use support::fixtures::{DELIVERY, EXAMPLE_CONFIG, fixture};

const CONFIG: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/example/agent:1
agents:
  - name: review
    templates: [t.yaml]
    triggers:
      pull_request: {}
";

/// Renders the opened pull request through the review agent with `template`.
fn render(config: &str, templates: TemplateSources, payload: &str) -> Result<(), String> {
    let loaded: LoadedConfig = config::parse(config, "services.yaml", templates)
        .unwrap_or_else(|e| panic!("the config must load:\n{e}"));
    let (event_name, _) = payload.split_once('/').expect("<event>/<file>");
    let body = fixture(payload).body();
    let event = event::parse(event_name, &body).expect("the fixture parses");
    let launch = Planner::new(&loaded.config)
        .plan(
            &event,
            Some(agentpods::plan::RunKey::new(DELIVERY)),
            &Facts::default(),
        )
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("the agent launches");
    let engine = Engine::new(&loaded).expect("templates compile");
    engine
        .render_run(&event, DELIVERY, &launch, None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A pod that meets `restricted`, with `{pod}` and `{container}` for more keys.
const HARDENED: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: {{ run.name }}
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: agent
      image: {{ agent.image }}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
";

fn refusal(field: &str, what: &str, loosest: &str) -> String {
    format!(
        "templates/t.yaml: document 1, field `{field}`: agent `review`: the {what}, which Pod \
         Security `restricted` forbids; change the template, or opt the agent in by name with \
         `pod_security: {loosest}` and run it in a namespace that allows it (`cluster.namespaces`)"
    )
}

#[test]
fn the_hardened_pod_renders() {
    let templates = [("t.yaml".to_string(), HARDENED.to_string())].into();
    assert_eq!(
        render(CONFIG, templates, "pull_request/opened.json"),
        Ok(())
    );
}

#[test]
fn every_dangerous_pod_is_refused_with_the_template_document_field_and_agent() {
    let c = "spec.containers[0].securityContext";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "a privileged container",
            HARDENED.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n        privileged: true"),
            refusal(&format!("{c}.privileged"), "Pod is privileged (every device and capability of the node)", "privileged"),
        ),
        (
            "the host's network",
            HARDENED.replace("spec:\n", "spec:\n  hostNetwork: true\n"),
            refusal("spec.hostNetwork", "Pod shares the host's network (hostNetwork)", "privileged"),
        ),
        (
            "the host's processes",
            HARDENED.replace("spec:\n", "spec:\n  hostPID: true\n"),
            refusal("spec.hostPID", "Pod shares the host's process namespace (hostPID)", "privileged"),
        ),
        (
            "the host's IPC",
            HARDENED.replace("spec:\n", "spec:\n  hostIPC: true\n"),
            refusal("spec.hostIPC", "Pod shares the host's IPC namespace (hostIPC)", "privileged"),
        ),
        (
            "a hostPath volume",
            format!("{HARDENED}  volumes:\n    - name: docker\n      hostPath: {{path: /var/run/docker.sock}}\n"),
            refusal("spec.volumes[0].hostPath", "Pod mounts a directory of the node (hostPath volume `docker`)", "privileged"),
        ),
        (
            "root by user id",
            HARDENED.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n        runAsUser: 0"),
            refusal(&format!("{c}.runAsUser"), "Pod runs as root (runAsUser 0)", "baseline"),
        ),
        (
            "root allowed outright",
            HARDENED.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n        runAsNonRoot: false"),
            refusal(&format!("{c}.runAsNonRoot"), "Pod may run as root (runAsNonRoot: false)", "baseline"),
        ),
        (
            // Said at the pod's field, which the template holds (new-user review 13b, N10;
            // before: at the container's, which it does not).
            "root allowed for the whole pod",
            HARDENED.replace("    runAsNonRoot: true\n", "    runAsNonRoot: false\n"),
            refusal("spec.securityContext.runAsNonRoot", "Pod may run as root (runAsNonRoot: false)", "baseline"),
        ),
        (
            "root as the image says",
            HARDENED.replace("    runAsNonRoot: true\n", ""),
            refusal(&format!("{c}.runAsNonRoot"), "Pod may run as root: runAsNonRoot is not set here or on the pod, so the image's user decides, and it is not known here", "baseline"),
        ),
        (
            "an added capability",
            HARDENED.replace("{drop: [ALL]}", "{drop: [ALL], add: [SYS_ADMIN]}"),
            refusal(&format!("{c}.capabilities.add[0]"), "Pod adds the capability SYS_ADMIN", "privileged"),
        ),
        (
            "AppArmor turned off by the annotation the kubelet still honours",
            HARDENED.replace("  name: {{ run.name }}\n", "  name: {{ run.name }}\n  annotations:\n    container.apparmor.security.beta.kubernetes.io/agent: unconfined\n"),
            refusal("metadata.annotations[container.apparmor.security.beta.kubernetes.io/agent]", "Pod runs container `agent` with the AppArmor profile `unconfined` (only `runtime/default` or `localhost/…` are allowed)", "privileged"),
        ),
        (
            "a default capability added back",
            HARDENED.replace("{drop: [ALL]}", "{drop: [ALL], add: [CHOWN]}"),
            refusal(&format!("{c}.capabilities.add[0]"), "Pod adds the capability CHOWN", "baseline"),
        ),
        (
            "privilege escalation",
            HARDENED.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
            refusal(&format!("{c}.allowPrivilegeEscalation"), "Pod may gain privileges (allowPrivilegeEscalation is not false)", "baseline"),
        ),
        (
            "a privileged init container",
            HARDENED.replace("  containers:\n", "  initContainers:\n    - name: setup\n      image: busybox\n      securityContext: {privileged: true, allowPrivilegeEscalation: true, capabilities: {drop: [ALL]}}\n  containers:\n"),
            "templates/t.yaml: document 1, field `spec.initContainers[0].securityContext.privileged`: \
             agent `review`: the Pod is privileged (every device and capability of the node), which \
             Pod Security `restricted` forbids (and 1 more: \
             `spec.initContainers[0].securityContext.allowPrivilegeEscalation` may gain privileges \
             (allowPrivilegeEscalation is not false)); change the template, or opt the agent in by \
             name with `pod_security: privileged` and run it in a namespace that allows it \
             (`cluster.namespaces`)"
                .to_string(),
        ),
        (
            "a Job whose pod runs as root",
            HARDENED
                .replace("apiVersion: v1\nkind: Pod\n", "apiVersion: batch/v1\nkind: Job\n")
                .replace("spec:\n", "spec:\n  template:\n    spec:\n      restartPolicy: Never\n")
                .replace("\n  securityContext:", "\n      securityContext:")
                .replace("\n    runAsNonRoot", "\n        runAsNonRoot")
                .replace("\n    seccompProfile", "\n        seccompProfile")
                .replace("\n  containers:", "\n      containers:")
                .replace("\n    - name: agent", "\n        - name: agent")
                .replace("\n      image:", "\n          image:")
                .replace("\n      securityContext:\n        allow", "\n          securityContext:\n            runAsUser: 0\n            allow")
                .replace("\n        capabilities", "\n            capabilities"),
            refusal(
                "spec.template.spec.containers[0].securityContext.runAsUser",
                "Job runs as root (runAsUser 0)",
                "baseline",
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (what, template, expected) in &cases {
        let templates = [("t.yaml".to_string(), template.clone())].into();
        match render(CONFIG, templates, "pull_request/opened.json") {
            Ok(()) => failures.push(format!("{what}: rendered\n{template}")),
            Err(e) if e != *expected => {
                failures.push(format!("{what}:\n  expected {expected}\n  got      {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The example config with `edit` applied, and the shipped templates.
fn example(edit: impl Fn(String) -> String) -> (String, TemplateSources) {
    let text = std::fs::read_to_string(EXAMPLE_CONFIG).expect("read services.yaml");
    let dir = std::path::Path::new(EXAMPLE_CONFIG)
        .parent()
        .expect("the crate root")
        .join("templates");
    let templates = std::fs::read_dir(&dir)
        .expect("the templates folder")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("a template"),
            )
        })
        .chain(
            std::fs::read_dir(dir.join("prompts"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    (
                        format!("prompts/{}", e.file_name().to_string_lossy()),
                        std::fs::read_to_string(e.path()).expect("a prompt"),
                    )
                }),
        )
        .collect();
    (edit(text), templates)
}

const OPT_IN: &str = "    namespace: agentpods-builds\n    pod_security: baseline\n";

#[test]
fn the_kaniko_build_renders_only_with_its_opt_in_and_only_in_the_builds_namespace() {
    // As shipped: opted in, in agentpods-builds, a Job whose pod runs as the image says
    // (root) under baseline.
    let (text, templates) = example(|t| t);
    assert!(text.contains(OPT_IN), "the example opts the image agent in");
    let loaded = config::parse(&text, "services.yaml", templates.clone()).expect("it loads");
    let body = fixture("push/0.json").body();
    let event = event::parse("push", &body).expect("the fixture parses");
    let launch = Planner::new(&loaded.config)
        .plan(
            &event,
            Some(agentpods::plan::RunKey::new(DELIVERY)),
            &Facts::default(),
        )
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("the tag builds");
    let run = Engine::new(&loaded)
        .expect("templates compile")
        .render_run(&event, DELIVERY, &launch, None)
        .expect("the build renders with its opt-in");
    assert_eq!(run.namespace, "agentpods-builds");
    assert!(matches!(run.objects[..], [K8sObject::Job(_)]));

    // Without the opt-in it is held to restricted, and refused at render.
    let (text, templates) = example(|t| t.replace(OPT_IN, "    namespace: agentpods-builds\n"));
    let refused = render(&text, templates, "push/0.json").expect_err("root is refused");
    assert!(
        refused.starts_with(
            "templates/kaniko-job.yaml: document 1, field `spec.template.spec.containers[0].securityContext.capabilities.drop`: agent `image`: the Job keeps the runtime's default capabilities"
        ),
        "{refused}"
    );
    assert!(
        refused.contains("Pod Security `restricted` forbids"),
        "{refused}"
    );
    assert!(refused.contains("may run as root"), "{refused}");

    // With the opt-in but where agents run (restricted), the config itself is refused.
    let (text, templates) = example(|t| t.replace(OPT_IN, "    pod_security: baseline\n"));
    let errors = config::parse(&text, "services.yaml", templates)
        .expect_err("baseline where runs are restricted")
        .to_string();
    assert!(
        errors.contains(
            "agent `image` asks for Pod Security `baseline`, but its namespace `agentpods-runs` enforces `restricted`: give the agent `namespace:` `agentpods-builds`"
        ),
        "{errors}"
    );
}

/// `agentpods validate` renders every agent with a sample event of each kind it triggers
/// on, so a dangerous pod is refused before any delivery, with the same message.
#[test]
fn validate_refuses_a_dangerous_pod_before_any_delivery() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (text, templates) = example(|t| t.replace(OPT_IN, "    namespace: agentpods-builds\n"));
    std::fs::write(dir.path().join("services.yaml"), text).expect("write services.yaml");
    for (name, body) in &templates {
        let path = dir.path().join("templates").join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(path, body).expect("write a template");
    }
    let validated = support::configs::validate(&dir.path().join("services.yaml"));
    assert_eq!(validated.code, Some(1), "{}", validated.stderr);
    // The example's warning (its task agent runs fork code with a write token) is not ours.
    let folder = format!("{}/", dir.path().display());
    let lines: Vec<String> = validated
        .stderr_lines()
        .iter()
        .filter(|l| !l.contains(": warning: "))
        .map(|l| l.replace(&folder, ""))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    // At the container's `capabilities.drop`, which drops NET_RAW but not ALL.
    assert!(
        lines[0].starts_with(
            "templates/kaniko-job.yaml:48:15: agent `image`, push of `refs/tags/v1.0.0`: document 1, field `spec.template.spec.containers[0].securityContext.capabilities.drop`: agent `image`:"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("`pod_security: baseline`"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "1 problem found");

    // With the opt-in, as shipped, it validates.
    let (text, _) = example(|t| t);
    std::fs::write(dir.path().join("services.yaml"), text).expect("write services.yaml");
    let validated = support::configs::validate(&dir.path().join("services.yaml"));
    assert_eq!(validated.code, Some(0), "{}", validated.stderr);
}

/// The image build runs as root with the runtime's default capabilities, which Kaniko needs
/// to unpack layers and run the Dockerfile's `RUN` (chown, setuid...), but not NET_RAW: a
/// build that could open raw sockets could forge packets to whatever its egress reaches
/// (outside review, issue 11). Before: no capability dropped.
#[test]
fn the_kaniko_build_drops_raw_sockets() {
    let (text, templates) = example(|t| t);
    let loaded = config::parse(&text, "services.yaml", templates).expect("it loads");
    let body = fixture("push/0.json").body();
    let event = event::parse("push", &body).expect("the fixture parses");
    let launch = Planner::new(&loaded.config)
        .plan(
            &event,
            Some(agentpods::plan::RunKey::new(DELIVERY)),
            &Facts::default(),
        )
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("the tag builds");
    let run = Engine::new(&loaded)
        .expect("templates compile")
        .render_run(&event, DELIVERY, &launch, None)
        .expect("the build renders");
    let [K8sObject::Job(job)] = &run.objects[..] else {
        panic!("one Job: {:#?}", run.objects);
    };
    let pod = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec");
    for container in pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
    {
        let capabilities = container
            .security_context
            .as_ref()
            .and_then(|s| s.capabilities.as_ref());
        let dropped = capabilities
            .and_then(|c| c.drop.clone())
            .unwrap_or_default();
        assert!(
            dropped.iter().any(|d| d == "NET_RAW" || d == "ALL"),
            "{}: drops {dropped:?}",
            container.name
        );
        assert_eq!(capabilities.and_then(|c| c.add.clone()), None);
    }
}
