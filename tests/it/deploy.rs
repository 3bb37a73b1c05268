//! deploy/, the install of agentpods itself: every overlay builds with `kubectl kustomize`,
//! every object in it is valid Kubernetes (`kubernetes-validate --strict`), and the parts
//! that matter for trust say what they should: the service's rights are exactly those its
//! code uses, it runs non-root on a read-only root, agent pods get no rights and reach only
//! DNS and HTTPS.
//!
//! Needs `kubectl` (for `kubectl kustomize`); without it these tests say so and pass.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};
use support::validate;

const OVERLAYS: &[&str] = &["default", "prometheus", "example", "token"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize deploy/overlays/<overlay>`, or `None` (with a note) without kubectl.
fn kustomize(overlay: &str) -> Option<String> {
    let dir = root().join("deploy/overlays").join(overlay);
    let out = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "NOTE: kubectl is not installed, so the deploy/ checks are SKIPPED"
            );
            return None;
        }
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("UTF-8"))
}

/// The documents of a YAML stream, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = of_kind(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    found[0]
}

/// The default install, built.
fn install() -> Option<Vec<Value>> {
    kustomize("default").map(|yaml| documents(&yaml))
}

#[test]
fn every_overlay_builds_and_each_object_passes_strict_validation() {
    for overlay in OVERLAYS {
        let Some(yaml) = kustomize(overlay) else {
            return;
        };
        let docs = documents(&yaml);
        // kubernetes-validate has schemas for the built-in kinds only; the ServiceMonitor is
        // a Prometheus Operator CRD kind, checked on its own below instead.
        let (custom, builtin): (Vec<_>, Vec<_>) =
            docs.iter().partition(|d| d["kind"] == "ServiceMonitor");
        let stream: String = builtin
            .iter()
            .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
            .collect();
        validate::assert_valid(
            &format!("deploy/overlays/{overlay}"),
            &stream,
            builtin.len(),
        );
        let expected_custom = usize::from(*overlay == "prometheus");
        assert_eq!(custom.len(), expected_custom, "{overlay}: ServiceMonitors");
    }
}

#[test]
fn the_install_holds_the_generated_crds_three_namespaces_and_no_secret() {
    let Some(docs) = install() else { return };
    for (name, yaml, command) in [
        (
            "agentruns.agentpods.dev",
            agentpods::agentrun::crd_yaml(),
            "agentpods crd",
        ),
        (
            "agentapprovals.agentpods.dev",
            agentpods::cluster::approvals::crd_yaml(),
            "agentpods crd --approvals",
        ),
    ] {
        let crd = one(&docs, "CustomResourceDefinition", name);
        let generated: Value = serde_yaml::from_str(&yaml).unwrap();
        let mut installed = crd.clone();
        // kustomize adds the common label; the rest is the generated CRD, unchanged.
        installed["metadata"]["labels"]
            .as_object_mut()
            .map(|l| l.remove("app.kubernetes.io/part-of"));
        if installed["metadata"]["labels"] == json!({}) {
            installed["metadata"]
                .as_object_mut()
                .map(|m| m.remove("labels"));
        }
        assert!(
            normalized(&installed) == normalized(&generated),
            "the CRD {name} in the install differs from what `{command}` prints"
        );
    }

    let namespaces: BTreeSet<_> = of_kind(&docs, "Namespace")
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        namespaces,
        BTreeSet::from([
            "agentpods".into(),
            "agentpods-runs".into(),
            "agentpods-builds".into()
        ])
    );
    assert!(
        of_kind(&docs, "Secret").is_empty(),
        "secrets are made by hand, not committed"
    );
}

/// The value with whole floats as integers: kustomize prints `0` where serde_yaml has `0.0`.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && n.is_f64() => json!(f as i64),
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// (apiGroup, resource, sorted verbs), one a rule's group × resource.
fn grants(role: &Value) -> BTreeSet<(String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let mut verbs: Vec<String> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        verbs.sort();
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                out.insert((
                    group.as_str().unwrap().to_string(),
                    resource.as_str().unwrap().to_string(),
                    verbs.clone(),
                ));
            }
        }
    }
    out
}

fn grant(group: &str, resource: &str, verbs: &[&str]) -> (String, String, Vec<String>) {
    let mut verbs: Vec<String> = verbs.iter().map(|v| v.to_string()).collect();
    verbs.sort();
    (group.into(), resource.into(), verbs)
}

/// The namespaces the service's runs live in, and the rules bound to it there. The rules
/// themselves are held to the code by tests/it/rbac.rs; here, that the install binds them where
/// runs live and nowhere else.
#[test]
fn the_service_may_do_exactly_what_its_code_does_and_no_more() {
    let Some(docs) = install() else { return };
    assert!(
        of_kind(&docs, "ClusterRoleBinding").is_empty(),
        "the service needs no cluster-wide rights"
    );
    let runs = one(&docs, "ClusterRole", "agentpods-runs");
    let rules = grants(runs);
    assert_eq!(
        rules,
        BTreeSet::from([
            grant(
                "agentpods.dev",
                "agentruns",
                &["get", "list", "watch", "create", "patch", "delete"]
            ),
            grant("agentpods.dev", "agentruns/status", &["update"]),
            grant(
                "",
                "pods",
                &["get", "list", "watch", "create", "patch", "delete"]
            ),
            grant(
                "batch",
                "jobs",
                &["get", "list", "watch", "create", "patch", "delete"]
            ),
            grant("", "configmaps", &["create", "patch"]),
            grant("", "secrets", &["create"]),
            grant("events.k8s.io", "events", &["create"]),
        ])
    );
    assert!(
        !rules.iter().any(
            |(_, resource, verbs)| resource == "secrets" && verbs.iter().any(|v| v != "create")
        ),
        "no read of a Secret, by get, list, watch or patch"
    );
    let bound: BTreeSet<String> = of_kind(&docs, "RoleBinding")
        .into_iter()
        .filter(|b| {
            b["roleRef"]["kind"] == "ClusterRole" && b["roleRef"]["name"] == "agentpods-runs"
        })
        .map(|b| b["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect();
    let config = installed_config(&docs);
    let runs_live_in: BTreeSet<String> = config
        .config
        .cluster
        .run_namespaces()
        .expect("the installed config names its namespaces")
        .into_iter()
        .collect();
    assert_eq!(
        bound, runs_live_in,
        "the service may run runs where the installed config says they live, and nowhere else"
    );

    let home = one(&docs, "Role", "agentpods");
    assert_eq!(home["metadata"]["namespace"], "agentpods");
    assert_eq!(
        grants(home),
        BTreeSet::from([
            grant(
                "coordination.k8s.io",
                "leases",
                &["get", "create", "update"]
            ),
            // Fork approvals: written by the service alone, with optimistic concurrency.
            grant(
                "agentpods.dev",
                "agentapprovals",
                &["get", "create", "update"]
            ),
        ])
    );
    for binding in of_kind(&docs, "RoleBinding") {
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "agentpods", "namespace": "agentpods"}]),
            "only the service is bound to anything"
        );
    }
}

#[test]
fn the_service_runs_twice_non_root_on_a_read_only_root_with_probes_and_limits() {
    let Some(docs) = install() else { return };
    let deployment = one(&docs, "Deployment", "agentpods");
    let spec = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(spec["serviceAccountName"], "agentpods");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["args"][0], "serve");
    let security = &c["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        c["ports"],
        json!([
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ])
    );
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--metrics-listen", "0.0.0.0:9090"]),
        "/metrics is not apart from the webhook: {args:?}"
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "{kind}.{resource}"
            );
        }
    }

    let pdb = one(&docs, "PodDisruptionBudget", "agentpods");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], pod_labels);
    let service = one(&docs, "Service", "agentpods");
    assert_eq!(&service["spec"]["selector"], pod_labels);

    // Anyone may reach the webhook port; only the monitoring namespace the metrics port.
    let policy = one(&docs, "NetworkPolicy", "agentpods");
    assert_eq!(policy["metadata"]["namespace"], "agentpods");
    assert_eq!(&policy["spec"]["podSelector"]["matchLabels"], pod_labels);
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([
            {"ports": [{"protocol": "TCP", "port": "http"}]},
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                "ports": [{"protocol": "TCP", "port": "metrics"}],
            },
        ])
    );
}

#[test]
fn agent_pods_and_image_builds_get_no_rights_no_token_and_reach_only_dns_and_https() {
    let Some(docs) = install() else { return };
    for (ns, policy) in [
        ("agentpods-runs", "agent-pods"),
        ("agentpods-builds", "builds"),
    ] {
        let agent = of_kind(&docs, "ServiceAccount")
            .into_iter()
            .find(|a| a["metadata"]["name"] == "agent" && a["metadata"]["namespace"] == ns)
            .unwrap_or_else(|| panic!("a ServiceAccount `agent` in {ns}"));
        assert_eq!(agent["automountServiceAccountToken"], false, "{ns}");
        isolated(one(&docs, "NetworkPolicy", policy), ns);
    }
}

/// Every pod of `ns` gets no ingress and reaches only the cluster's DNS and port 443.
fn isolated(policy: &Value, ns: &str) {
    let spec = &policy["spec"];
    assert_eq!(policy["metadata"]["namespace"], ns);
    assert_eq!(spec["podSelector"], json!({}), "every pod of {ns}");
    assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(
        spec["ingress"].as_array().is_none_or(Vec::is_empty),
        "no ingress"
    );
    let mut ports = BTreeSet::new();
    for rule in spec["egress"].as_array().unwrap() {
        for port in rule["ports"]
            .as_array()
            .expect("every egress rule names its ports")
        {
            ports.insert((
                port["protocol"].as_str().unwrap().to_string(),
                port["port"].as_u64().unwrap(),
            ));
        }
        if rule["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == 53)
        {
            assert_eq!(
                rule["to"][0]["podSelector"]["matchLabels"]["k8s-app"], "kube-dns",
                "DNS only to the cluster's DNS"
            );
        }
    }
    assert_eq!(
        ports,
        BTreeSet::from([("TCP".into(), 53), ("TCP".into(), 443), ("UDP".into(), 53)]),
        "{ns}"
    );
}

/// The Pod Security level each namespace enforces is the one the installed config checks its
/// agents' pods against: `restricted` where agents run, the builds' level (set once, on the
/// Namespace) where images are built.
#[test]
fn each_runs_namespace_enforces_the_pod_security_the_config_checks_against() {
    let Some(docs) = install() else { return };
    let config = installed_config(&docs);
    let cluster = &config.config.cluster;
    for ns in cluster.run_namespaces().expect("named namespaces") {
        let namespace = one(&docs, "Namespace", &ns);
        let labels = &namespace["metadata"]["labels"];
        assert_eq!(
            labels["pod-security.kubernetes.io/enforce"],
            cluster.pod_security_of(&ns).as_str(),
            "{ns}: the enforced level and the config's"
        );
        assert_eq!(
            labels["pod-security.kubernetes.io/enforce-version"],
            "latest"
        );
    }
    let runs = &one(&docs, "Namespace", "agentpods-runs")["metadata"]["labels"];
    assert_eq!(runs["pod-security.kubernetes.io/enforce"], "restricted");
    let builds = &one(&docs, "Namespace", "agentpods-builds")["metadata"]["labels"];
    assert_eq!(builds["pod-security.kubernetes.io/warn"], "restricted");
}

/// The example of an operator's own overlay sets their images and replaces services.yaml
/// wholesale, and what it installs is valid.
#[test]
fn the_example_overlay_sets_the_operator_s_images_and_services_yaml() {
    let Some(yaml) = kustomize("example") else {
        return;
    };
    let docs = documents(&yaml);
    let deployment = one(&docs, "Deployment", "agentpods");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.org/agentpods:0.1.0"
    );
    let configs: Vec<_> = of_kind(&docs, "ConfigMap")
        .into_iter()
        .filter(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("agentpods-config"))
        })
        .collect();
    assert_eq!(configs.len(), 1, "replaced, not added");
    let config = installed_config(&docs);
    assert_eq!(
        config
            .config
            .images
            .get("agent")
            .map(ToString::to_string)
            .as_deref(),
        Some("registry.example.org/agentpods-agent:0.1.0")
    );
    let agents: Vec<String> = config
        .config
        .agents
        .iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(agents, ["task"]);
    // The Deployment mounts the config it replaced (its name carries the new hash).
    let mounted = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["configMap"]["name"].as_str())
        .collect::<Vec<_>>();
    assert!(
        mounted.contains(&configs[0]["metadata"]["name"].as_str().unwrap()),
        "{mounted:?}"
    );
}

/// The installed services.yaml, loaded with the crate's own templates (the service image
/// holds them at /usr/share/agentpods/templates).
fn installed_config(docs: &[Value]) -> agentpods::config::LoadedConfig {
    let config_map = of_kind(docs, "ConfigMap")
        .into_iter()
        .find(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("agentpods-config"))
        })
        .expect("the config ConfigMap");
    let text = config_map["data"]["services.yaml"].as_str().unwrap();
    let shipped = "templates_dir: /usr/share/agentpods/templates";
    assert!(text.contains(shipped));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("services.yaml");
    let local = format!("templates_dir: {}", root().join("templates").display());
    std::fs::write(&path, text.replace(shipped, &local)).unwrap();
    agentpods::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_installed_config_is_valid_and_names_the_installed_namespaces_and_account() {
    let Some(docs) = install() else { return };
    let loaded = installed_config(&docs);
    let cluster = &loaded.config.cluster;
    assert_eq!(
        cluster.namespace.as_ref().map(|n| n.to_string()).as_deref(),
        Some("agentpods-runs")
    );
    assert_eq!(
        cluster.run_namespaces(),
        Some(vec!["agentpods-builds".into(), "agentpods-runs".into()])
    );
    assert_eq!(cluster.service_account.to_string(), "agent");
}

#[test]
fn the_prometheus_overlay_scrapes_the_service_s_metrics() {
    let Some(yaml) = kustomize("prometheus") else {
        return;
    };
    let docs = documents(&yaml);
    let monitor = one(&docs, "ServiceMonitor", "agentpods");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let service = one(&docs, "Service", "agentpods");
    let labels = service["metadata"]["labels"].as_object().unwrap();
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            labels.get(key),
            Some(value),
            "the monitor selects the Service"
        );
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["port"], "metrics");
    assert!(
        service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "metrics" && p["targetPort"] == "metrics"),
        "the Service has no metrics port: {}",
        service["spec"]["ports"]
    );
}

#[test]
fn the_github_app_manifest_asks_for_what_agentpods_uses_and_nothing_more() {
    let text = std::fs::read_to_string(root().join("deploy/github-app.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).expect("the manifest is JSON");
    assert_eq!(
        manifest["default_permissions"],
        json!({
            // push branches (agentpods/<run>), read code
            "contents": "write",
            // open pull requests from pushed branches
            "pull_requests": "write",
            // reactions and the one result comment
            "issues": "write",
            // check runs: queued → in_progress → completed
            "checks": "write",
            // commit statuses, when report.commit_status is on
            "statuses": "write",
            "metadata": "read",
            // allowed_teams: team membership of the requester
            "members": "read",
        })
    );
    let events: BTreeSet<&str> = manifest["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        // check_run: GitHub's "Re-run" button on our check runs (`rerequested`).
        BTreeSet::from([
            "pull_request",
            "issue_comment",
            "issues",
            "push",
            "release",
            "check_run"
        ])
    );
    assert_eq!(
        manifest["public"], false,
        "a private App: installed by its owner only"
    );
    assert!(
        manifest["hook_attributes"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://") && u.ends_with("/webhook"))
    );
}

/// The keys of Secrets the service's container reads, as (Secret, key): from `env`
/// (`secretKeyRef`) and from the Secret volumes it mounts. Kubernetes starts the container
/// only when each of them exists (none is `optional`).
fn secret_keys_read(deployment: &Value) -> BTreeSet<(String, String)> {
    let spec = &deployment["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let mut keys = BTreeSet::new();
    for var in c["env"].as_array().unwrap() {
        let r = &var["valueFrom"]["secretKeyRef"];
        if r.is_object() {
            assert_ne!(r["optional"], true, "{var}");
            keys.insert((
                r["name"].as_str().unwrap().into(),
                r["key"].as_str().unwrap().into(),
            ));
        }
    }
    let mounted: BTreeSet<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for volume in spec["volumes"].as_array().unwrap() {
        let secret = &volume["secret"];
        if !secret.is_object() || !mounted.contains(volume["name"].as_str().unwrap()) {
            continue;
        }
        assert_ne!(secret["optional"], true, "{volume}");
        for item in secret["items"].as_array().unwrap() {
            keys.insert((
                secret["secretName"].as_str().unwrap().into(),
                item["key"].as_str().unwrap().into(),
            ));
        }
    }
    keys
}

/// The container's environment with its Secret references filled from `secret`, as the
/// kubelet would, and the GitHub credentials the service then finds in it (files read
/// from the mounted Secret by their mount path).
fn credentials_of(
    deployment: &Value,
    secret: &[(&str, &str)],
) -> Option<agentpods::github_client::Credentials> {
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    let value = |key: &str| {
        secret
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    let env: Vec<(String, Option<String>)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            let name = var["name"].as_str().unwrap().to_owned();
            let r = &var["valueFrom"]["secretKeyRef"];
            let v = match var["value"].as_str() {
                Some(v) => Some(v.to_owned()),
                None if r.is_object() => value(r["key"].as_str().unwrap()),
                None => Some("from the downward API".into()),
            };
            (name, v)
        })
        .collect();
    let var = |name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    let read = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or_default();
        value(file).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    };
    agentpods::github_client::Credentials::from_env(var, read).expect("credentials")
}

/// docs/setup.md offers two installs: with the GitHub App's Secret (`app-id`,
/// `private-key.pem`, `webhook-secret`) through deploy/overlays/default, and with a plain
/// token (`token`, `webhook-secret`) through deploy/overlays/token. Each Deployment starts
/// with exactly its Secret's keys and the service finds the credentials it expects.
#[test]
fn the_app_install_and_the_token_install_each_start_with_their_secret() {
    let Some(default) = kustomize("default") else {
        return;
    };
    let token = kustomize("token").expect("kubectl");
    let pairs = |keys: &[&str]| -> BTreeSet<(String, String)> {
        keys.iter()
            .map(|k| ("agentpods-github".to_owned(), (*k).to_owned()))
            .collect()
    };
    let app_docs = documents(&default);
    let app = one(&app_docs, "Deployment", "agentpods");
    assert_eq!(
        secret_keys_read(app),
        pairs(&["app-id", "private-key.pem", "webhook-secret"])
    );
    let app_secret = [
        ("app-id", "123456"),
        // A key that reads: the service checks it at start (new-user review 13h, F18).
        ("private-key.pem", support::fake_github::APP_KEY_PEM),
        ("webhook-secret", "s3cret"),
    ];
    assert!(matches!(
        credentials_of(app, &app_secret),
        Some(agentpods::github_client::Credentials::App { app_id: 123456, .. })
    ));

    let token_docs = documents(&token);
    let deployment = one(&token_docs, "Deployment", "agentpods");
    assert_eq!(
        secret_keys_read(deployment),
        pairs(&["token", "webhook-secret"]),
        "the token install needs no App key"
    );
    let token_secret = [("token", "github_pat_x"), ("webhook-secret", "s3cret")];
    assert!(matches!(
        credentials_of(deployment, &token_secret),
        Some(agentpods::github_client::Credentials::Token(_))
    ));
    // Otherwise the same install: only the Deployment differs.
    let others = |docs: &[Value]| -> Vec<Value> {
        docs.iter()
            .filter(|d| d["kind"] != "Deployment")
            .cloned()
            .collect()
    };
    assert_eq!(others(&token_docs), others(&app_docs));
}

/// Whether a NetworkPolicy's egress rules let a pod of its namespace open a TCP connection
/// to `addr` on `port`, as a NetworkPolicy implementation decides it for an address that
/// is no pod's: a rule allows it when one of its ports is that port and it names no peers
/// (every destination), or an `ipBlock` peer holds the address outside its `except`.
/// Namespace and pod selectors are taken to match no such address (they select pods).
fn egress_allows(policy: &Value, addr: std::net::IpAddr, port: u64) -> bool {
    policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .any(|rule| {
            let port_ok = rule["ports"].as_array().is_none_or(|ports| {
                ports
                    .iter()
                    .any(|p| p["protocol"] == "TCP" && p["port"] == port)
            });
            let peers = rule["to"].as_array();
            let peer_ok = peers.is_none_or(Vec::is_empty)
                || peers.unwrap().iter().any(|peer| {
                    let block = &peer["ipBlock"];
                    block.is_object()
                        && in_cidr(addr, block["cidr"].as_str().unwrap())
                        && !block["except"].as_array().is_some_and(|except| {
                            except.iter().any(|c| in_cidr(addr, c.as_str().unwrap()))
                        })
                });
            port_ok && peer_ok
        })
}

/// Whether `addr` is in `cidr` (`10.0.0.0/8`, `fc00::/7`); an address of the other family
/// is not.
fn in_cidr(addr: std::net::IpAddr, cidr: &str) -> bool {
    use std::net::IpAddr;
    let (net, bits) = cidr
        .split_once('/')
        .unwrap_or_else(|| panic!("a CIDR: {cidr}"));
    let net: IpAddr = net.parse().unwrap_or_else(|e| panic!("{cidr}: {e}"));
    let bits: u32 = bits.parse().unwrap_or_else(|e| panic!("{cidr}: {e}"));
    let (a, n, width) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(a.to_bits()), u128::from(n.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    assert!(bits <= width, "{cidr}");
    let shift = width - bits;
    shift == width || (a >> shift) == (n >> shift)
}

/// A hijacked agent, or a Dockerfile's `RUN` in an image build, reaches the internet on
/// 443 and nothing of the cluster's or the node's there: not the API server (on 443 on
/// managed clusters: EKS's endpoints are in the VPC, GKE's private ones in 172.16/12),
/// not the cloud's metadata service, not the in-cluster ingress (the webhook port from
/// inside, past an allowlist of GitHub's hook addresses), not a Service's ClusterIP
/// (kubeadm's 10.96/12), not a pod (GKE's and EKS's pod ranges, CGNAT 100.64/10), over
/// IPv6 neither (unique local, link-local, loopback, IPv4-mapped).
#[test]
fn agent_pods_and_image_builds_reach_the_internet_on_443_and_no_address_of_the_cluster() {
    let Some(docs) = install() else { return };
    let denied = [
        "10.0.0.1",        // a node, a pod, a VPC endpoint of the API server
        "10.96.0.1",       // kubeadm's `kubernetes` Service ClusterIP
        "10.100.0.10",     // EKS's ClusterIP range
        "172.16.0.2",      // GKE's private control plane
        "172.20.0.1",      // EKS's alternative ClusterIP range
        "192.168.1.1",     // a home or VPC network
        "100.64.0.1",      // CGNAT: pod ranges of some CNIs
        "169.254.169.254", // the cloud's metadata service
        "127.0.0.1",       // the node itself
        "0.0.0.0",
        "fd00::1", // unique local
        "fe80::1", // link-local
        "::1",
        "::ffff:10.0.0.1", // IPv4-mapped: the same private address
        "fd00:ec2::254",   // AWS's IPv6 metadata service
        // Translated to IPv4 by a NAT64 gateway (outside review A3): 10.0.0.1, 172.16.0.1
        // and the metadata service through the well-known prefix; the same by 6to4 and by
        // the deprecated IPv4-compatible form.
        "64:ff9b::a00:1",
        "64:ff9b::ac10:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",
        "2002:a00:1::1",
        "::a00:1",
    ];
    let allowed = [
        "140.82.112.3",        // github.com
        "140.82.112.6",        // api.github.com
        "104.18.6.192",        // a model's API behind a CDN
        "2606:50c0:8000::154", // GitHub's IPv6
    ];
    for policy in ["agent-pods", "builds"] {
        let policy = one(&docs, "NetworkPolicy", policy);
        let name = policy["metadata"]["name"].as_str().unwrap();
        let reaches = |a: &str| egress_allows(policy, a.parse().unwrap(), 443);
        let wrongly_open: Vec<&str> = denied.iter().copied().filter(|a| reaches(a)).collect();
        assert!(
            wrongly_open.is_empty(),
            "{name}: reaches {wrongly_open:?} on 443"
        );
        let wrongly_closed: Vec<&str> = allowed.iter().copied().filter(|a| !reaches(a)).collect();
        assert!(
            wrongly_closed.is_empty(),
            "{name}: cannot reach {wrongly_closed:?} on 443"
        );
        // And nothing but 443 outside the cluster.
        assert!(
            !egress_allows(policy, "140.82.112.3".parse().unwrap(), 22),
            "{name}: ssh"
        );
    }
}

/// Every overlay installs, for each namespace the service may create pods in (its
/// RoleBindings), a ValidatingAdmissionPolicy bound with `Deny`: for the namespaces its
/// services.yaml names, the one `agentpods admission-policy` makes of that config (so the
/// example overlay, whose config has other images, replaces base's); for a namespace its
/// config does not name, one that admits no image at all. tests/it/admission.rs evaluates
/// what the policies admit.
#[test]
fn every_overlay_holds_the_service_s_pods_to_its_own_config() {
    for overlay in OVERLAYS {
        let Some(yaml) = kustomize(overlay) else {
            return;
        };
        let docs = documents(&yaml);
        let loaded = installed_config(&docs);
        let engine = agentpods::render::Engine::new(&loaded).expect("templates compile");
        let allowed = agentpods::cli::admission::allowed(&engine).expect("a policy");
        let user = agentpods::cli::admission::DEFAULT_SERVICE_USER;
        let unlabelled = |d: &Value| {
            let mut d = d.clone();
            d["metadata"].as_object_mut().unwrap().remove("labels");
            normalized(&d)
        };
        let bound: BTreeSet<String> = of_kind(&docs, "RoleBinding")
            .into_iter()
            .filter(|b| b["roleRef"]["name"] == "agentpods-runs")
            .map(|b| b["metadata"]["namespace"].as_str().unwrap().to_string())
            .collect();
        // Where the service may create pods but services.yaml runs no agent, the namespaces'
        // policy refuses it everything (new-user review 13b, N2).
        let namespaces: BTreeSet<String> = allowed.iter().map(|a| a.namespace.clone()).collect();
        let [want_ns, want_ns_binding] =
            agentpods::cli::admission::namespaces_policy_objects(&namespaces, user);
        let ns_policy = agentpods::cli::admission::NAMESPACES_POLICY;
        assert_eq!(
            unlabelled(one(&docs, "ValidatingAdmissionPolicy", ns_policy)),
            normalized(&want_ns),
            "{overlay}: the namespaces' policy"
        );
        assert_eq!(
            unlabelled(one(&docs, "ValidatingAdmissionPolicyBinding", ns_policy)),
            normalized(&want_ns_binding),
            "{overlay}: the namespaces' policy bound"
        );
        for ns in &bound {
            let name = format!("agentpods.{ns}");
            match allowed.iter().find(|a| &a.namespace == ns) {
                Some(a) => {
                    let policy = unlabelled(one(&docs, "ValidatingAdmissionPolicy", &name));
                    let binding = unlabelled(one(&docs, "ValidatingAdmissionPolicyBinding", &name));
                    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
                    let [
                        want_policy,
                        want_binding,
                        want_secrets,
                        want_secrets_binding,
                    ] = agentpods::cli::admission::policy_objects(a, user);
                    let secrets_name = format!("agentpods-secrets.{ns}");
                    let secrets =
                        unlabelled(one(&docs, "ValidatingAdmissionPolicy", &secrets_name));
                    let secrets_binding = unlabelled(one(
                        &docs,
                        "ValidatingAdmissionPolicyBinding",
                        &secrets_name,
                    ));
                    assert!(
                        policy == normalized(&want_policy)
                            && binding == normalized(&want_binding)
                            && secrets == normalized(&want_secrets)
                            && secrets_binding == normalized(&want_secrets_binding),
                        "{overlay}: the policies for {ns} are not those its services.yaml makes; \
                         regenerate them with `agentpods admission-policy`"
                    );
                }
                None => assert!(
                    !namespaces.contains(ns),
                    "{overlay}: {ns} runs none of its agents, so the service may start nothing there"
                ),
            }
        }
        // And at home, the fork approvals' policy (only the service records one).
        let [approvals, approvals_binding] =
            agentpods::cli::admission::approval_policy_objects(user);
        let home = approvals["metadata"]["name"].as_str().unwrap();
        assert_eq!(home, "agentpods-agentapprovals.agentpods");
        assert_eq!(
            unlabelled(one(&docs, "ValidatingAdmissionPolicy", home)),
            normalized(&approvals),
            "{overlay}: the approvals' policy"
        );
        assert_eq!(
            unlabelled(one(&docs, "ValidatingAdmissionPolicyBinding", home)),
            normalized(&approvals_binding),
            "{overlay}: the approvals' policy bound"
        );
        assert_eq!(
            of_kind(&docs, "ValidatingAdmissionPolicy").len(),
            3 * namespaces.len() + 2,
            "{overlay}: three policies a namespace its agents run in (pods and Jobs, Secrets, \
             AgentRuns), the namespaces' and the approvals' at home"
        );
        assert_eq!(
            of_kind(&docs, "ValidatingAdmissionPolicyBinding").len(),
            3 * namespaces.len() + 2,
            "{overlay}: each policy bound"
        );
    }
}

/// A copy of the example overlay in a folder of the test's own, with `base` at `../../..` of
/// it: `resources:` must be relative (kustomize refuses an absolute base).
fn own_overlay(name: &str, services: impl Fn(&str) -> String) -> std::path::PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("overlays")
        .join(name);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("a folder for the overlay");
    let example = root().join("deploy/overlays/example");
    // From the overlay's folder up to `/`, then down to the checkout's base.
    let up = "../".repeat(tmp.components().count() - 1);
    let base = format!(
        "{up}{}",
        root()
            .join("deploy/base")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    let kustomization = std::fs::read_to_string(example.join("kustomization.yaml"))
        .expect("the example overlay")
        .replace("../../base", &base);
    std::fs::write(tmp.join("kustomization.yaml"), kustomization).expect("write");
    let config = std::fs::read_to_string(example.join("services.yaml")).expect("services.yaml");
    std::fs::write(tmp.join("services.yaml"), services(&config)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .current_dir(root())
        .args([
            "admission-policy",
            "--templates-dir",
            "templates",
            "--config",
        ])
        .arg(tmp.join("services.yaml"))
        .output()
        .expect("run agentpods");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(tmp.join("admission-policy.yaml"), out.stdout).expect("write");
    tmp
}

/// New-user review 13b, N2: an operator who copies the example overlay, as setup.md §5 says,
/// and runs agents in a namespace of their own gets an install that builds, with the
/// policies of their namespace and none for base's. Before, base brought the policies of its
/// own services.yaml, and the overlay's file collided with them under `resources:`
/// ("may not add resource with an already registered id") and matched nothing under
/// `patches:`.
#[test]
fn an_overlay_whose_agents_run_in_a_namespace_of_its_own_builds_with_that_namespace_s_policies() {
    if kustomize("example").is_none() {
        return;
    }
    let dir = own_overlay("own-namespace", |c| {
        c.replace("agentpods-runs", "team-agents")
    });
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl kustomize of an overlay with its own namespace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&String::from_utf8(out.stdout).expect("UTF-8"));
    for kind in [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        for name in [
            "agentpods.team-agents",
            "agentpods-secrets.team-agents",
            "agentpods-agentruns.team-agents",
            "agentpods-agentapprovals.agentpods",
        ] {
            one(&docs, kind, name);
        }
        let names: Vec<&str> = of_kind(&docs, kind)
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".agentpods-runs") || n.ends_with(".agentpods-builds")),
            "base's namespaces keep no allowance the overlay's services.yaml does not give: {names:?}"
        );
    }
}

/// New-user review 13c, N3: an overlay whose agents run in a namespace of its own gets that
/// namespace from deploy/namespace (the Namespace with its Pod Security label, the service's
/// RoleBinding, the `agent` ServiceAccount, the NetworkPolicy of base's runs.yaml), and
/// leaves base's two namespaces out with deploy/components/without-base-namespaces: nothing
/// is left in a namespace that is gone (which `kubectl apply -k` would refuse on a fresh
/// cluster), as deleting the two Namespaces alone left base's objects in them.
#[test]
fn a_namespace_of_your_own_comes_from_deploy_namespace_and_base_s_can_be_left_out_whole() {
    if kustomize("example").is_none() {
        return;
    }
    let dir = own_overlay("own-namespace-folder", |c| {
        c.replace("agentpods-runs", "team-agents")
    });
    // From the overlay's folder (and the namespace's, one below) up to `/`, then down to
    // the checkout.
    let up = |from: &Path| {
        format!(
            "{}{}",
            "../".repeat(from.components().count() - 1),
            root().display().to_string().trim_start_matches('/')
        )
    };
    let folder = dir.join("team-agents");
    std::fs::create_dir_all(&folder).expect("a folder for the namespace");
    std::fs::write(
        folder.join("kustomization.yaml"),
        format!(
            "resources: [{}/deploy/namespace]\nnamespace: team-agents\n",
            up(&folder)
        ),
    )
    .expect("write");
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).expect("read");
    let kustomization = kustomization.replacen(
        "  - admission-policy.yaml\n",
        &format!(
            "  - admission-policy.yaml\n  - team-agents\ncomponents:\n  - {}/deploy/components/without-base-namespaces\n",
            up(&dir)
        ),
        1,
    );
    std::fs::write(dir.join("kustomization.yaml"), kustomization).expect("write");
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl kustomize of an overlay with deploy/namespace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&String::from_utf8(out.stdout).expect("UTF-8"));
    let namespace = one(&docs, "Namespace", "team-agents");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let in_team = |kind: &str, name: &str| {
        let found: Vec<&Value> = of_kind(&docs, kind)
            .into_iter()
            .filter(|d| {
                d["metadata"]["name"] == name && d["metadata"]["namespace"] == "team-agents"
            })
            .collect();
        assert_eq!(found.len(), 1, "one {kind} {name} in team-agents");
        found[0]
    };
    let binding = in_team("RoleBinding", "agentpods-runs");
    assert_eq!(binding["roleRef"]["name"], "agentpods-runs");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "agentpods", "namespace": "agentpods"}])
    );
    assert_eq!(
        in_team("ServiceAccount", "agent")["automountServiceAccountToken"],
        false
    );
    let policy = in_team("NetworkPolicy", "agent-pods");
    let base = documents(
        &std::fs::read_to_string(root().join("deploy/base/runs.yaml")).expect("runs.yaml"),
    );
    assert_eq!(
        normalized(&policy["spec"]),
        normalized(&one(&base, "NetworkPolicy", "agent-pods")["spec"]),
        "the NetworkPolicy of base's runs namespace"
    );
    let left: Vec<String> = docs
        .iter()
        .filter(|d| {
            let ns = &d["metadata"]["namespace"];
            let name = &d["metadata"]["name"];
            ["agentpods-runs", "agentpods-builds"]
                .iter()
                .any(|b| ns == b || (d["kind"] == "Namespace" && name == b))
        })
        .map(|d| format!("{} {}", d["kind"], d["metadata"]["name"]))
        .collect();
    assert!(left.is_empty(), "left of base's namespaces: {left:?}");
}
