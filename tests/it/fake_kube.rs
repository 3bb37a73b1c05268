//! The fake Kubernetes API server, checked by the real clients: the `kube` client over TCP
//! (CRUD, errors, the AgentRun CRD and its status, watches, cascade, faults) and the real
//! `kubectl` on this machine (get, apply).

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;

use agentpods::agentrun::{AgentRun, AgentRunStatus, Phase};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, CustomResourceExt, Resource, ResourceExt};
use serde_json::json;
use support::fake_kube::{FakeKube, PodScript};
use support::server::within;

const NS: &str = "agents";

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([("app".to_owned(), "demo".to_owned())])),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ConfigMap::default()
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"agentpods.dev/run": "run-1"}},
        "spec": {"containers": [{"name": "agent", "image": "ghcr.io/example/agent:1"}]},
    }))
    .expect("a pod")
}

fn agent_run(name: &str) -> AgentRun {
    let mut run = support::cluster::sample_run("pull_request/opened.json");
    run.metadata.name = Some(name.to_owned());
    run.metadata.namespace = None;
    run
}

async fn register_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &AgentRun::crd())
        .await
        .expect("create the AgentRun CRD");
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn config_maps_and_pods_round_trip_through_the_kube_client() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);

        let created = maps
            .create(&PostParams::default(), &config_map("settings", &[("a", "1")]))
            .await
            .expect("create");
        assert!(created.metadata.uid.is_some());
        assert!(created.metadata.creation_timestamp.is_some());
        assert_eq!(created.metadata.namespace.as_deref(), Some(NS));

        let got = maps.get("settings").await.expect("get");
        assert_eq!(got.data, created.data);

        maps.create(&PostParams::default(), &config_map("other", &[]))
            .await
            .expect("create another");
        let unlabelled = ConfigMap {
            metadata: ObjectMeta {
                name: Some("plain".to_owned()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        maps.create(&PostParams::default(), &unlabelled).await.expect("create a third");
        let names = |list: kube::core::ObjectList<ConfigMap>| {
            list.items.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
        };
        let labelled = maps.list(&ListParams::default().labels("app=demo")).await.expect("list");
        assert_eq!(names(labelled), ["other", "settings"]);
        let all = maps.list(&ListParams::default()).await.expect("list all");
        assert_eq!(names(all), ["other", "plain", "settings"]);

        let mut replacement = got.clone();
        replacement.data = Some(BTreeMap::from([("a".to_owned(), "2".to_owned())]));
        let replaced = maps
            .replace("settings", &PostParams::default(), &replacement)
            .await
            .expect("replace");
        assert_ne!(replaced.resource_version(), got.resource_version());
        assert_eq!(replaced.metadata.generation, Some(2), "a data change bumps the generation");

        let patched = maps
            .patch(
                "settings",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"b": "3", "a": null}})),
            )
            .await
            .expect("merge patch");
        assert_eq!(
            patched.data,
            Some(BTreeMap::from([("b".to_owned(), "3".to_owned())]))
        );

        let applied = maps
            .patch(
                "applied",
                &PatchParams::apply("agentpods"),
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"x": "1"}})),
            )
            .await
            .expect("apply creates");
        assert_eq!(applied.data.as_ref().expect("data")["x"], "1");
        let managers = |cm: &ConfigMap| -> Vec<(String, String)> {
            cm.metadata
                .managed_fields
                .iter()
                .flatten()
                .map(|m| (m.manager.clone().unwrap_or_default(), m.operation.clone().unwrap_or_default()))
                .collect()
        };
        assert_eq!(managers(&applied), [("agentpods".to_owned(), "Apply".to_owned())]);
        let reapplied = maps
            .patch(
                "applied",
                &PatchParams::apply("agentpods"),
                &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"y": "2"}})),
            )
            .await
            .expect("apply updates");
        assert_eq!(reapplied.data.as_ref().expect("data").len(), 2, "merged, for now");
        assert_eq!(managers(&reapplied), managers(&applied));

        maps.delete("settings", &DeleteParams::default()).await.expect("delete");
        let missing = api_error(maps.get("settings").await);
        assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));

        let pods: Api<Pod> = Api::namespaced(fake.client(), NS);
        pods.create(&PostParams::default(), &pod("agent-1")).await.expect("create pod");
        let status = pods
            .patch_status(
                "agent-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Running"}, "spec": {"nodeName": "ignored"}})),
            )
            .await
            .expect("patch pod status");
        assert_eq!(status.status.and_then(|s| s.phase.clone()).as_deref(), Some("Running"));
        assert_eq!(status.spec.and_then(|s| s.node_name), None, "/status leaves the spec alone");
        let relabelled = pods
            .patch(
                "agent-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"extra": "yes"}}, "status": {"phase": "Failed"}})),
            )
            .await
            .expect("patch pod");
        assert_eq!(relabelled.labels()["extra"], "yes");
        assert_eq!(
            relabelled.status.and_then(|s| s.phase.clone()).as_deref(),
            Some("Running"),
            "the main endpoint leaves the status alone"
        );
        assert_eq!(relabelled.metadata.generation, Some(1), "a label change is not a spec change");
        let selected = pods
            .list(&ListParams::default().labels("agentpods.dev/run=run-1,extra=yes"))
            .await
            .expect("list pods");
        assert_eq!(selected.items.len(), 1);
        pods.delete("agent-1", &DeleteParams::default()).await.expect("delete pod");
        assert!(pods.list(&ListParams::default()).await.expect("list").items.is_empty());
    })
    .await;
}

#[tokio::test]
async fn errors_are_metav1_statuses_the_kube_client_understands() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        let first = maps
            .create(&PostParams::default(), &config_map("taken", &[]))
            .await
            .expect("create");

        let exists = api_error(
            maps.create(&PostParams::default(), &config_map("taken", &[]))
                .await,
        );
        assert_eq!(
            (exists.code, exists.reason.as_str()),
            (409, "AlreadyExists")
        );
        assert_eq!(exists.message, "configmaps \"taken\" already exists");

        maps.patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .expect("a change moves the resourceVersion on");
        let stale = api_error(maps.replace("taken", &PostParams::default(), &first).await);
        assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
        assert!(
            stale.message.contains("the object has been modified"),
            "{}",
            stale.message
        );

        let invalid = api_error(
            maps.create(&PostParams::default(), &config_map("Not_A_Name", &[]))
                .await,
        );
        assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
        let cause = &invalid.details.expect("details").causes[0];
        assert_eq!(cause.field, "metadata.name");

        let gone = api_error(maps.delete("nothing", &DeleteParams::default()).await);
        assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
    })
    .await;
}

#[tokio::test]
async fn an_agent_run_crd_registered_at_runtime_is_served_with_its_status() {
    within(30, async {
        let fake = FakeKube::start().await;
        let client = fake.client();
        let runs: Api<AgentRun> = Api::namespaced(client.clone(), NS);
        let before = api_error(runs.list(&ListParams::default()).await);
        assert_eq!(before.code, 404, "no AgentRun before the CRD");

        register_crd(&client).await;
        let crd = fake
            .object(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "",
                "agentruns.agentpods.dev",
            )
            .expect("the CRD is stored");
        assert_eq!(crd["status"]["conditions"][1]["type"], "Established");

        let created = runs
            .create(&PostParams::default(), &agent_run("run-1"))
            .await
            .expect("create");
        assert_eq!(created.metadata.generation, Some(1));
        let status = AgentRunStatus {
            phase: Some(Phase::Running),
            pod_name: Some("run-1-pod".to_owned()),
            observed_generation: Some(1),
            ..AgentRunStatus::default()
        };
        let patched = runs
            .patch_status(
                "run-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .expect("patch status");
        assert_eq!(
            patched.status.as_ref().and_then(|s| s.phase.clone()),
            Some(Phase::Running)
        );
        assert_eq!(
            patched.metadata.generation,
            Some(1),
            "a status change keeps the generation"
        );

        let mut changed = patched.clone();
        changed.spec.task = Some("fix the build".to_owned());
        changed.status = None;
        let replaced = runs
            .replace("run-1", &PostParams::default(), &changed)
            .await
            .expect("replace");
        assert_eq!(
            replaced.metadata.generation,
            Some(2),
            "a spec change bumps the generation"
        );
        assert_eq!(
            replaced.status, patched.status,
            "the main endpoint keeps the status"
        );

        let listed = runs.list(&ListParams::default()).await.expect("list");
        assert_eq!(listed.items.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn watches_report_added_modified_deleted_and_410_for_a_compacted_version() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        maps.create(&PostParams::default(), &config_map("before", &[]))
            .await
            .expect("create");

        // The runtime watcher: initial list, then live changes.
        let mut events = watcher(maps.clone(), watcher::Config::default()).boxed();
        let mut initial = Vec::new();
        loop {
            match events.try_next().await.expect("watch").expect("an event") {
                watcher::Event::Init => {}
                watcher::Event::InitApply(cm) => initial.push(cm.name_any()),
                watcher::Event::InitDone => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(initial, ["before"]);
        maps.create(&PostParams::default(), &config_map("live", &[]))
            .await
            .expect("create");
        maps.patch(
            "live",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .expect("patch");
        maps.delete("live", &DeleteParams::default())
            .await
            .expect("delete");
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match events.try_next().await.expect("watch").expect("an event") {
                watcher::Event::Apply(cm) => seen.push(format!(
                    "apply {} {}",
                    cm.name_any(),
                    cm.data.unwrap_or_default().len()
                )),
                watcher::Event::Delete(cm) => seen.push(format!("delete {}", cm.name_any())),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, ["apply live 0", "apply live 1", "delete live"]);

        // The raw watch API: event types as sent, from a resourceVersion.
        let from = maps
            .list(&ListParams::default())
            .await
            .expect("list")
            .metadata
            .resource_version
            .expect("rv");
        let mut raw = maps
            .watch(&WatchParams::default().timeout(5), &from)
            .await
            .expect("watch")
            .boxed();
        maps.create(&PostParams::default(), &config_map("raw", &[]))
            .await
            .expect("create");
        maps.patch(
            "raw",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .expect("patch");
        maps.delete("raw", &DeleteParams::default())
            .await
            .expect("delete");
        let mut types = Vec::new();
        for _ in 0..3 {
            types.push(
                match raw.try_next().await.expect("watch").expect("an event") {
                    WatchEvent::Added(_) => "ADDED",
                    WatchEvent::Modified(_) => "MODIFIED",
                    WatchEvent::Deleted(_) => "DELETED",
                    other => panic!("unexpected {other:?}"),
                },
            );
        }
        assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);

        // timeoutSeconds ends the stream.
        let mut short = maps
            .watch(&WatchParams::default().timeout(1), "0")
            .await
            .expect("watch")
            .boxed();
        assert!(matches!(
            short.try_next().await.expect("watch"),
            Some(WatchEvent::Added(_))
        ));
        assert!(
            short.try_next().await.expect("watch").is_none(),
            "ends after the timeout"
        );

        fake.compact();
        let mut old = maps
            .watch(&WatchParams::default(), &from)
            .await
            .expect("watch")
            .boxed();
        match old.try_next().await.expect("watch").expect("an event") {
            WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
            other => panic!("expected 410 Gone, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn deleting_an_owner_deletes_what_it_owns() {
    within(30, async {
        let fake = FakeKube::start().await;
        let client = fake.client();
        register_crd(&client).await;
        let runs: Api<AgentRun> = Api::namespaced(client.clone(), NS);
        let run = runs
            .create(&PostParams::default(), &agent_run("owner"))
            .await
            .expect("create run");
        let owner: OwnerReference = run.controller_owner_ref(&()).expect("an owner reference");
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
        let mut owned = config_map("owned", &[]);
        owned.metadata.owner_references = Some(vec![owner.clone()]);
        let owned = maps
            .create(&PostParams::default(), &owned)
            .await
            .expect("create owned");
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let mut grandchild = pod("grandchild");
        grandchild.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".to_owned(),
            kind: "ConfigMap".to_owned(),
            name: "owned".to_owned(),
            uid: owned.uid().expect("uid"),
            ..OwnerReference::default()
        }]);
        pods.create(&PostParams::default(), &grandchild)
            .await
            .expect("create grandchild");
        maps.create(&PostParams::default(), &config_map("bystander", &[]))
            .await
            .expect("create bystander");

        runs.delete("owner", &DeleteParams::default())
            .await
            .expect("delete run");
        assert_eq!(api_error(maps.get("owned").await).code, 404);
        assert_eq!(api_error(pods.get("grandchild").await).code, 404);
        maps.get("bystander").await.expect("the bystander stays");
    })
    .await;
}

#[tokio::test]
async fn injected_errors_are_statuses_and_503s_are_retried_by_the_client() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        fake.faults.error_percent.store(100, Relaxed);
        let failed = api_error(maps.list(&ListParams::default()).await);
        assert_eq!(
            (failed.code, failed.reason.as_str()),
            (500, "InternalError")
        );

        fake.faults.error_percent.store(30, Relaxed);
        fake.faults.error_code.store(503, Relaxed);
        let before = fake.faults.injected.load(Relaxed);
        for i in 0..30 {
            maps.create(&PostParams::default(), &config_map(&format!("m{i}"), &[]))
                .await
                .expect("a 503 is retried");
        }
        assert!(fake.faults.injected.load(Relaxed) - before >= 5);
        fake.faults.error_percent.store(0, Relaxed);
        assert_eq!(
            maps.list(&ListParams::default())
                .await
                .expect("list")
                .items
                .len(),
            30
        );
    })
    .await;
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        fake.faults.latency_ms.store(200, Relaxed);
        let started = std::time::Instant::now();
        maps.list(&ListParams::default()).await.expect("list");
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    })
    .await;
}

#[tokio::test]
async fn a_dropped_watch_ends_after_n_events_and_the_watcher_resumes() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        fake.faults.drop_watch_after.store(1, Relaxed);
        let mut raw = maps
            .watch(&WatchParams::default(), "0")
            .await
            .expect("watch")
            .boxed();
        maps.create(&PostParams::default(), &config_map("one", &[]))
            .await
            .expect("create");
        maps.create(&PostParams::default(), &config_map("two", &[]))
            .await
            .expect("create");
        assert!(matches!(
            raw.try_next().await.expect("watch"),
            Some(WatchEvent::Added(_))
        ));
        assert!(
            raw.try_next().await.expect("watch").is_none(),
            "dropped after one event"
        );

        // The runtime watcher re-watches from where it was and misses nothing.
        let mut events = watcher(maps.clone(), watcher::Config::default())
            .applied_objects()
            .boxed();
        let mut names = Vec::new();
        for i in 0..4 {
            if i >= 2 {
                maps.create(
                    &PostParams::default(),
                    &config_map(&format!("later{i}"), &[]),
                )
                .await
                .expect("create");
            }
            names.push(
                events
                    .try_next()
                    .await
                    .expect("watch")
                    .expect("an object")
                    .name_any(),
            );
        }
        assert_eq!(names, ["one", "two", "later2", "later3"]);
    })
    .await;
}

/// Runs the real `kubectl` against the fake, returning stdout; fails the test on a non-zero
/// exit, showing what kubectl said.
async fn kubectl(fake: &FakeKube, dir: &std::path::Path, args: &[&str]) -> String {
    let kubeconfig = fake.kubeconfig(dir);
    let cache = dir.join("cache");
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("--request-timeout=10s")
        .args(args);
    let shown = format!("kubectl {}", args.join(" "));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join kubectl")
        .expect("run kubectl");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{shown} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    assert!(stderr.is_empty(), "{shown} warned: {stderr}");
    stdout
}

#[tokio::test]
async fn kubectl_gets_configmaps() {
    within(60, async {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        maps.create(&PostParams::default(), &config_map("alpha", &[("a", "1")]))
            .await
            .expect("create");
        maps.create(&PostParams::default(), &config_map("beta", &[]))
            .await
            .expect("create");
        let version = kubectl(&fake, dir.path(), &["version", "-o", "json"]).await;
        let version: serde_json::Value = serde_json::from_str(&version).expect("JSON");
        assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0-fake");
        assert_eq!(
            version["clientVersion"]["minor"], "33",
            "the dispatcher runs the kubectl matching the server"
        );
        let out = kubectl(&fake, dir.path(), &["get", "configmaps", "-n", NS]).await;
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0], ["NAME", "AGE"], "{out}");
        assert_eq!(lines[1][0], "alpha", "{out}");
        assert_eq!(lines[2][0], "beta", "{out}");
        assert_eq!(lines.len(), 3, "{out}");
    })
    .await;
}

#[tokio::test]
async fn kubectl_applies_a_manifest() {
    within(60, async {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = dir.path().join("manifest.yaml");
        let write = |value: &str| {
            std::fs::write(
                &manifest,
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: {NS}\ndata:\n  key: {value}\n"),
            )
            .expect("write the manifest")
        };
        let file = manifest.to_str().expect("utf-8 path");
        write("one");
        let out = kubectl(&fake, dir.path(), &["apply", "-f", file]).await;
        assert_eq!(out.trim(), "configmap/applied created");
        let stored = fake.object("", "v1", "configmaps", NS, "applied").expect("stored");
        assert_eq!(stored["data"]["key"], "one");

        write("two");
        let out = kubectl(&fake, dir.path(), &["apply", "-f", file]).await;
        assert_eq!(out.trim(), "configmap/applied configured");
        let stored = fake.object("", "v1", "configmaps", NS, "applied").expect("stored");
        assert_eq!(stored["data"]["key"], "two");
        let requests = fake.requests();
        assert!(requests.iter().any(|r| r.starts_with("GET /openapi/v3/api/v1")), "{requests:#?}");
        let patch = requests
            .iter()
            .find(|r| r.starts_with("PATCH /api/v1/namespaces/agents/configmaps/applied?"))
            .expect("the second apply patches");
        assert!(patch.contains("fieldValidation=Strict"), "{patch}");
        assert!(patch.ends_with("application/strategic-merge-patch+json"), "{patch}");
    })
    .await;
}

#[tokio::test]
async fn kubectl_gets_agent_runs_with_their_printer_columns() {
    within(60, async {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let client = fake.client();
        register_crd(&client).await;
        let runs: Api<AgentRun> = Api::namespaced(client, NS);
        runs.create(&PostParams::default(), &agent_run("run-1"))
            .await
            .expect("create");
        runs.patch_status(
            "run-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .expect("patch status");
        let out = kubectl(&fake, dir.path(), &["get", "agentruns", "-n", NS]).await;
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            ["NAME", "AGENT", "REPO", "PR", "PHASE", "AGE"],
            "{out}"
        );
        assert_eq!(
            lines[1][..5],
            ["run-1", "review", "Codertocat/Hello-World", "2", "Running"],
            "{out}"
        );
        let short = kubectl(&fake, dir.path(), &["get", "ar", "-n", NS, "-o", "name"]).await;
        assert_eq!(short.trim(), "agentrun.agentpods.dev/run-1");
    })
    .await;
}

#[tokio::test]
async fn the_kubelet_runs_pods_to_their_end_with_a_termination_message() {
    within(30, async {
        let fake = FakeKube::start().await;
        fake.run_kubelet(|pod| {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            PodScript {
                exit_code: i32::from(name == "fails"),
                message: format!(r#"{{"conclusion": "success", "summary": "{name} done"}}"#),
                logs: "cloning\nworking\ndone\n".to_owned(),
                stay_running: name == "slow",
            }
        });
        let pods: Api<Pod> = Api::namespaced(fake.client(), NS);
        // Watching from before the creation replays every phase, however fast the kubelet.
        let from = pods
            .list(&ListParams::default())
            .await
            .expect("list")
            .metadata
            .resource_version
            .expect("rv");
        pods.create(&PostParams::default(), &pod("agent"))
            .await
            .expect("create");
        let mut phases = pods
            .watch(&WatchParams::default(), &from)
            .await
            .expect("watch")
            .boxed();
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("Succeeded") {
            let pod = match phases.try_next().await.expect("watch").expect("an event") {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => pod,
                other => panic!("unexpected {other:?}"),
            };
            seen.push(
                pod.status
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "-".to_owned()),
            );
        }
        assert_eq!(seen, ["-", "Pending", "Running", "Succeeded"]);
        let done = pods.get("agent").await.expect("get");
        let terminated = done
            .status
            .expect("status")
            .container_statuses
            .expect("statuses")[0]
            .state
            .clone()
            .and_then(|s| s.terminated)
            .expect("terminated");
        assert_eq!(terminated.exit_code, 0);
        assert_eq!(
            terminated.message.as_deref(),
            Some(r#"{"conclusion": "success", "summary": "agent done"}"#)
        );
        let logs = pods
            .logs(
                "agent",
                &kube::api::LogParams {
                    tail_lines: Some(1),
                    ..Default::default()
                },
            )
            .await
            .expect("logs");
        assert_eq!(logs, "done\n");

        pods.create(&PostParams::default(), &pod("fails"))
            .await
            .expect("create");
        pods.create(&PostParams::default(), &pod("slow"))
            .await
            .expect("create");
        let mut ends = BTreeMap::new();
        let finished = |ends: &BTreeMap<String, String>| {
            ends.get("fails").map(String::as_str) == Some("Failed")
                && ends.get("slow").map(String::as_str) == Some("Running")
        };
        while !finished(&ends) {
            let pod = match phases.try_next().await.expect("watch").expect("an event") {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => pod,
                other => panic!("unexpected {other:?}"),
            };
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            ends.insert(pod.name_any(), phase);
        }
        assert_eq!(ends.len(), 2, "{ends:?}");
        assert!(fake.finish_pod(NS, "slow", &PodScript::succeeds("late")));
        let slow = pods.get("slow").await.expect("get");
        assert_eq!(
            slow.status.and_then(|s| s.phase.clone()).as_deref(),
            Some("Succeeded")
        );
    })
    .await;
}

#[tokio::test]
async fn kubectl_reads_a_pods_logs() {
    within(60, async {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        fake.run_kubelet(|_| PodScript {
            logs: "line one\nline two\n".to_owned(),
            ..PodScript::succeeds("")
        });
        let pods: Api<Pod> = Api::namespaced(fake.client(), NS);
        pods.create(&PostParams::default(), &pod("agent"))
            .await
            .expect("create");
        let succeeded = |pod: Option<&Pod>| {
            pod.and_then(|p| p.status.as_ref()?.phase.as_deref()) == Some("Succeeded")
        };
        kube::runtime::wait::await_condition(pods.clone(), "agent", succeeded)
            .await
            .expect("the pod succeeds");
        let out = kubectl(&fake, dir.path(), &["logs", "-n", NS, "agent"]).await;
        assert_eq!(out, "line one\nline two\n");
        let out = kubectl(&fake, dir.path(), &["get", "pods", "-n", NS]).await;
        assert!(out.starts_with("NAME"), "{out}");
    })
    .await;
}

#[tokio::test]
async fn kubectl_applies_a_pod_change_as_a_strategic_merge() {
    within(60, async {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = dir.path().join("pod.yaml");
        let write = |image: &str| {
            std::fs::write(
                &manifest,
                format!(
                    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: agent\n  namespace: {NS}\nspec:\n  \
                     containers:\n  - name: agent\n    image: {image}\n    args: [\"--task\", \"/task/task.md\"]\n  \
                     - name: sidecar\n    image: busybox\n"
                ),
            )
            .expect("write the manifest")
        };
        let file = manifest.to_str().expect("utf-8 path");
        write("agent:1");
        kubectl(&fake, dir.path(), &["apply", "-f", file]).await;
        write("agent:2");
        let out = kubectl(&fake, dir.path(), &["apply", "-f", file]).await;
        assert_eq!(out.trim(), "pod/agent configured");
        let pod = fake.object("", "v1", "pods", NS, "agent").expect("stored");
        let containers = &pod["spec"]["containers"];
        assert_eq!(containers[0]["image"], "agent:2");
        assert_eq!(containers[0]["args"], json!(["--task", "/task/task.md"]));
        assert_eq!(containers[1]["name"], "sidecar");
        assert!(
            !pod["spec"].as_object().expect("spec").keys().any(|k| k.starts_with('$')),
            "no patch directive is stored: {pod}"
        );
    })
    .await;
}

#[tokio::test]
async fn kubectl_applies_server_side_and_lists_all_namespaces() {
    within(60, async {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = dir.path().join("manifest.yaml");
        std::fs::write(
            &manifest,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: {NS}\ndata:\n  key: value\n"),
        )
        .expect("write the manifest");
        let file = manifest.to_str().expect("utf-8 path");
        let out = kubectl(&fake, dir.path(), &["apply", "--server-side", "-f", file]).await;
        assert_eq!(out.trim(), "configmap/ssa serverside-applied");
        let stored = fake.object("", "v1", "configmaps", NS, "ssa").expect("stored");
        assert_eq!(stored["data"]["key"], "value");
        assert_eq!(stored["metadata"]["managedFields"][0]["manager"], "kubectl");
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), "other");
        maps.create(&PostParams::default(), &config_map("elsewhere", &[]))
            .await
            .expect("create");
        let out = kubectl(&fake, dir.path(), &["get", "configmaps", "-A"]).await;
        let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0], ["NAMESPACE", "NAME", "AGE"], "{out}");
        assert_eq!(lines[1][..2], [NS, "ssa"], "{out}");
        assert_eq!(lines[2][..2], ["other", "elsewhere"], "{out}");
    })
    .await;
}

#[tokio::test]
async fn lists_come_in_pages_that_all_carry_the_first_pages_version() {
    within(30, async {
        let fake = FakeKube::start().await;
        let maps: Api<ConfigMap> = Api::namespaced(fake.client(), NS);
        for i in 0..5 {
            maps.create(&PostParams::default(), &config_map(&format!("m{i}"), &[]))
                .await
                .expect("create");
        }
        let first = maps
            .list(&ListParams::default().limit(2))
            .await
            .expect("the first page");
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.metadata.remaining_item_count, Some(3));
        let version = first.metadata.resource_version.clone();
        // A change between pages does not move the list's version.
        maps.create(&PostParams::default(), &config_map("late", &[]))
            .await
            .expect("create");
        let mut names: Vec<String> = first.items.iter().map(|m| m.name_any()).collect();
        let mut token = first.metadata.continue_.clone();
        while let Some(t) = token.filter(|t| !t.is_empty()) {
            let page = maps
                .list(&ListParams::default().limit(2).continue_token(&t))
                .await
                .expect("a next page");
            assert_eq!(page.metadata.resource_version, version);
            names.extend(page.items.iter().map(|m| m.name_any()));
            token = page.metadata.continue_.clone();
        }
        // "late" sorts before the cursor: the list misses it, a watch from `version` has it.
        assert_eq!(names, ["m0", "m1", "m2", "m3", "m4"]);
        let malformed = maps
            .list(&ListParams::default().limit(2).continue_token("zz"))
            .await;
        assert_eq!(api_error(malformed).code, 410);
    })
    .await;
}

#[tokio::test]
async fn the_kubelet_runs_a_job_through_one_pod_of_its_template() {
    use k8s_openapi::api::batch::v1::Job;
    within(30, async {
        let fake = FakeKube::start().await;
        fake.run_kubelet(|pod| PodScript {
            exit_code: i32::from(pod["metadata"]["name"].as_str().unwrap_or_default().starts_with("breaks")),
            ..PodScript::succeeds(r#"{"conclusion": "success", "summary": "built"}"#)
        });
        let jobs: Api<Job> = Api::namespaced(fake.client(), NS);
        let pods: Api<Pod> = Api::namespaced(fake.client(), NS);
        let job = |name: &str| -> Job {
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"backoffLimit": 0, "template": {
                    "metadata": {"labels": {"agentpods.dev/run": name}},
                    "spec": {"restartPolicy": "Never",
                             "containers": [{"name": "kaniko", "image": "gcr.io/kaniko-project/executor:v1"}]},
                }},
            }))
            .expect("a job")
        };
        let ended = |kind: &'static str| {
            move |job: Option<&Job>| {
                job.and_then(|j| j.status.as_ref()?.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
            }
        };

        let created = jobs
            .create(&PostParams::default(), &job("builds"))
            .await
            .expect("create");
        kube::runtime::wait::await_condition(jobs.clone(), "builds", ended("Complete"))
            .await
            .expect("the Job completes");
        let done = jobs.get("builds").await.expect("the Job");
        let status = done.status.expect("a status");
        assert_eq!((status.active, status.succeeded), (Some(0), Some(1)));
        assert!(status.start_time.is_some() && status.completion_time.is_some());
        // Its one pod: from the template, labelled and owned as the Job controller does.
        let own = pods
            .list(&ListParams::default().labels("job-name=builds"))
            .await
            .expect("list")
            .items;
        assert_eq!(own.len(), 1);
        assert!(own[0].name_any().starts_with("builds-"), "{}", own[0].name_any());
        assert_eq!(own[0].labels()["agentpods.dev/run"], "builds");
        assert_eq!(own[0].owner_references()[0].uid, created.uid().expect("a uid"));
        assert_eq!(own[0].owner_references()[0].kind, "Job");
        let phase = own[0].status.as_ref().and_then(|s| s.phase.clone());
        assert_eq!(phase.as_deref(), Some("Succeeded"));

        // A pod that fails fails its Job (backoffLimit 0: no second pod).
        jobs.create(&PostParams::default(), &job("breaks"))
            .await
            .expect("create");
        kube::runtime::wait::await_condition(jobs.clone(), "breaks", ended("Failed"))
            .await
            .expect("the Job fails");
        let failed = jobs.get("breaks").await.expect("the Job");
        assert_eq!(failed.status.and_then(|s| s.failed), Some(1));
        let own = pods
            .list(&ListParams::default().labels("job-name=breaks"))
            .await
            .expect("list")
            .items;
        assert_eq!(own.len(), 1);

        // Deleting the Job takes its pod.
        jobs.delete("builds", &DeleteParams::default())
            .await
            .expect("delete");
        let left = pods
            .list(&ListParams::default().labels("job-name=builds"))
            .await
            .expect("list")
            .items;
        assert!(left.is_empty(), "{left:?}");
    })
    .await;
}
