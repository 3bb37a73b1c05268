//! Each run's GitHub token, on the fake API server and the fake GitHub: it carries the
//! permissions its agent declares in services.yaml and no more (`{ contents: read }` unless
//! it declares others; none at all with `github_token: none`), and the controller revokes
//! every token it minted for a run once the run ends, however it ends.
//! (The entrypoint's own revoke as it exits: tests/it/agent_entrypoint.rs.)

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentpods::agentrun::Phase;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use support::cluster::{Cluster, PATIENCE, RUNS, reporting_cluster, reporting_cluster_on};
use support::fake_github::FakeGithub;
use support::fake_kube::PodScript;
use support::fixtures::{EXAMPLE_CONFIG, fixture, variant};
use tempfile::TempDir;

const RESULT: &str = r#"{"conclusion":"success","summary":"Looks good."}"#;

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(150), f)
        .await
        .expect("the scenario finished within two and a half minutes")
}

fn permissions(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits until GitHub has revoked every run token it granted; panics after [`PATIENCE`]
/// with those still good.
async fn wait_all_revoked(github: &FakeGithub) {
    let started = Instant::now();
    loop {
        let tokens = github.scoped_tokens();
        assert!(!tokens.is_empty(), "no run token was minted");
        let good: Vec<&String> = tokens
            .iter()
            .filter(|(_, g)| !g.revoked)
            .map(|(t, _)| t)
            .collect();
        if good.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} of {} run tokens were never revoked; GitHub saw:\n{:#?}",
            good.len(),
            tokens.len(),
            github.requests()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The example services.yaml with `line` added to the agent `agent`, in a folder of its own
/// (the templates stay where they are).
fn example_with(agent: &str, line: &str) -> (TempDir, PathBuf) {
    let text = std::fs::read_to_string(EXAMPLE_CONFIG).expect("the example config");
    let anchor = format!("  - name: {agent}\n");
    let at = text.find(&anchor).expect("the agent") + anchor.len();
    let templates = Path::new(EXAMPLE_CONFIG)
        .parent()
        .expect("the crate root")
        .join("templates");
    let text = format!(
        "templates_dir: {}\n{}    {line}\n{}",
        templates.display(),
        &text[..at],
        &text[at..]
    );
    let dir = TempDir::new().expect("a folder");
    let path = dir.path().join("services.yaml");
    std::fs::write(&path, text).expect("write the config");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_agent_s_token_can_read_the_repository_and_write_nothing() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-review-token")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        let tokens = github.scoped_tokens();
        assert_eq!(tokens.len(), 1, "one token for the one run");
        let grant = &tokens[0].1;
        assert_eq!(
            grant.permissions,
            permissions(&[("contents", "read")]),
            "what GitHub was asked for"
        );
        assert_eq!(grant.repositories, Some(vec!["Hello-World".to_owned()]));
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_agent_s_token_can_push_and_open_pull_requests_and_no_more() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&variant("issue_comment/run-on-issue.json"), "d-task-token")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        let tokens = github.scoped_tokens();
        assert_eq!(tokens.len(), 1);
        assert_eq!(
            tokens[0].1.permissions,
            permissions(&[("contents", "write"), ("pull_requests", "write")]),
            "no `issues: write`: the task agent does not declare it"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_github_token_none_gets_no_token_no_secret_and_no_token_volume() {
    timed(async {
        let (_dir, config) = example_with("review", "github_token: none");
        let (mut cluster, github) = reporting_cluster_on(&config).await;
        cluster.start_controller();
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-no-token")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        assert!(github.scoped_tokens().is_empty(), "nothing minted");
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), RUNS);
        assert!(
            secrets
                .get_opt(&format!("{name}-github-token-1"))
                .await
                .expect("the API server answers")
                .is_none(),
            "no token Secret"
        );
        let pod = serde_json::to_value(&cluster.pods_of(&name).await[0]).expect("the pod");
        let text = pod.to_string();
        assert!(!text.contains("github-token"), "no token volume: {text}");
        assert!(!text.contains("AGENTPODS_TOKEN_FILE"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_succeeds_ends_with_its_token_revoked() {
    timed(async {
        let (mut cluster, github) = reporting_cluster_on(Path::new(EXAMPLE_CONFIG)).await;
        let controller = cluster.start_controller_with(cluster.controller_options());
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-ok")
            .await;
        cluster.wait_phase(&name, Phase::Succeeded).await;
        wait_all_revoked(&github).await;
        assert_eq!(github.scoped_tokens().len(), 1);
        assert_eq!(
            controller.holding_tokens(),
            0,
            "the controller keeps no token of a run that ended"
        );
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_ends_with_its_token_revoked() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript {
            exit_code: 1,
            ..PodScript::succeeds("")
        });
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-fails")
            .await;
        cluster.wait_phase(&name, Phase::Failed).await;
        wait_all_revoked(&github).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_ends_with_its_token_revoked() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-stopped")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;
        assert!(!github.scoped_tokens()[0].1.revoked, "good while it runs");

        // What `/agent stop` does.
        let patch = json!({"spec": {"cancel": "stopped by @octocat with `/agent stop`"}});
        cluster
            .runs()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("request the cancel");
        cluster.wait_phase(&name, Phase::Cancelled).await;
        wait_all_revoked(&github).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_run_ends_with_its_token_revoked() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let first = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-first")
            .await;
        cluster.wait_phase(&first, Phase::Running).await;
        cluster.clock.advance(Duration::from_secs(60));
        let second = cluster
            .deliver_one(&fixture("pull_request/synchronize.json"), "d-second")
            .await;
        cluster.wait_phase(&first, Phase::Cancelled).await;
        cluster.wait_phase(&second, Phase::Running).await;

        // The first run's token goes; the second's is good while it runs.
        let started = Instant::now();
        loop {
            let tokens = github.scoped_tokens();
            if tokens.len() == 2 && tokens[0].1.revoked {
                assert!(!tokens[1].1.revoked, "the running review's token is good");
                break;
            }
            assert!(started.elapsed() < PATIENCE, "{tokens:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_times_out_ends_with_its_token_revoked() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-too-long")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;
        // The review agent may run 20 minutes.
        cluster.clock.advance(Duration::from_secs(21 * 60));
        cluster.wait_phase(&name, Phase::TimedOut).await;
        wait_all_revoked(&github).await;
    })
    .await;
}

/// A launch that finds its token Secret made already (an earlier try of the same launch
/// made it, then failed before recording it): the pod uses the token in it, and the token
/// just minted, which nothing will use, is revoked at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_secret_there_already_gets_the_token_just_minted_revoked_at_once() {
    timed(async {
        let (mut cluster, github) = reporting_cluster_on(Path::new(EXAMPLE_CONFIG)).await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-409")
            .await;
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), RUNS);
        let earlier = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("{name}-github-token-1")),
                ..Default::default()
            },
            string_data: Some([("token".to_string(), "ghs_earlier".to_string())].into()),
            ..Secret::default()
        };
        secrets
            .create(&PostParams::default(), &earlier)
            .await
            .expect("the Secret of an earlier try");

        cluster.start_controller();
        cluster.wait_phase(&name, Phase::Running).await;
        let pod = serde_json::to_string(&cluster.pods_of(&name).await[0]).expect("the pod");
        assert!(pod.contains(&format!("{name}-github-token-1")), "{pod}");
        wait_all_revoked(&github).await;
        assert_eq!(github.scoped_tokens().len(), 1, "one token minted");
        assert_eq!(
            Cluster::phase_of(&cluster.run(&name).await.expect("the run")),
            Some(Phase::Running),
            "the run goes on with the token of the Secret"
        );
    })
    .await;
}

/// Every way a container of `pod` can reach the Secret `secret`: a volume of it (plain or
/// projected) that the container mounts, a variable from one of its keys, or all of its keys.
fn containers_reaching(pod: &serde_json::Value, secret: &str) -> Vec<String> {
    let from_secret = |volume: &serde_json::Value| {
        volume
            .pointer("/secret/secretName")
            .and_then(|n| n.as_str())
            == Some(secret)
            || volume
                .pointer("/projected/sources")
                .and_then(|s| s.as_array())
                .is_some_and(|sources| {
                    sources
                        .iter()
                        .any(|s| s.pointer("/secret/name").and_then(|n| n.as_str()) == Some(secret))
                })
    };
    let volumes: Vec<&str> = pod
        .pointer("/spec/volumes")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|v| from_secret(v))
        .filter_map(|v| v["name"].as_str())
        .collect();
    let mut reaching = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let mounts = c["volumeMounts"].as_array().into_iter().flatten();
            let mounted = mounts
                .filter_map(|m| m["name"].as_str())
                .any(|m| volumes.contains(&m));
            let env = c["env"].as_array().into_iter().flatten().any(|e| {
                e.pointer("/valueFrom/secretKeyRef/name")
                    .and_then(|n| n.as_str())
                    == Some(secret)
            });
            let env_from = c["envFrom"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e.pointer("/secretRef/name").and_then(|n| n.as_str()) == Some(secret));
            if mounted || env || env_from {
                reaching.push(c["name"].as_str().unwrap_or("?").to_owned());
            }
        }
    }
    reaching
}

/// The containers of `pod` that run the agent's own command (`agentpods agent` with a
/// command after `--`, or anything that is not `agentpods agent`).
fn containers_running_the_agent(pod: &serde_json::Value) -> Vec<String> {
    let mut running = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let words: Vec<&str> = c["command"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(c["args"].as_array().into_iter().flatten())
                .filter_map(|w| w.as_str())
                .collect();
            let ours = words.starts_with(&["agentpods", "agent"]);
            if !ours || words.contains(&"--") {
                running.push(c["name"].as_str().unwrap_or("?").to_owned());
            }
        }
    }
    running
}

/// The agent is hostile (it reads strangers' text and does what its pod allows), so the
/// process that runs it never holds the run's token: with the token, it could approve a
/// fork's pull request, edit the bot's comments, push a tag. In the default pod, for each
/// kind of run the example launches, the token reaches only the steps that run
/// agentpods' own code (the checkout before the agent, the publish after it), and never a
/// container that runs the agent's command. Before, one container held both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_s_own_process_never_holds_the_run_s_token() {
    timed(async {
        let (cluster, _github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        for (delivery, payload) in [
            ("d-pr", fixture("pull_request/opened.json")),
            ("d-comment", variant("issue_comment/run-on-issue.json")),
            ("d-release", fixture("release/published.json")),
        ] {
            let name = cluster.deliver_one(&payload, delivery).await;
            cluster.wait_phase(&name, Phase::Running).await;
            let pod = serde_json::to_value(&cluster.pods_of(&name).await[0]).expect("the pod");
            let token = format!("{name}-github-token-1");
            let reaching = containers_reaching(&pod, &token);
            let agents = containers_running_the_agent(&pod);
            assert!(
                !agents.is_empty(),
                "{name}: the agent runs somewhere: {pod:#}"
            );
            assert!(
                !reaching.is_empty(),
                "{name}: the token reaches the checkout and the publish: {pod:#}"
            );
            for agent in &agents {
                assert!(
                    !reaching.contains(agent),
                    "{name}: container `{agent}` runs the agent's command and holds the \
                     run's token (Secret {token}); these hold it: {reaching:?}"
                );
            }
            assert_eq!(
                pod["spec"]["automountServiceAccountToken"], false,
                "{name}: nor a Kubernetes token to read the Secret with"
            );
        }
    })
    .await;
}

/// Each container of `pod` in the order the kubelet starts them, with each volume it
/// mounts and whether it may write it.
fn mounts_in_order(pod: &serde_json::Value) -> Vec<(String, Vec<(String, bool)>)> {
    let mut order = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            let mounts = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap_or("?").to_owned(),
                        m["readOnly"] != true,
                    )
                })
                .collect();
            order.push((c["name"].as_str().unwrap_or("?").to_owned(), mounts));
        }
    }
    order
}

/// What the agent leaves behind is the agent's (it may have planted anything in a git
/// folder: a filter, a hook, a nested repository, an index entry pointing elsewhere), so
/// the step that holds the token after it reads it only as data: the agent's record and
/// its commits as a bundle, each from a volume it mounts read-only, and never the agent's
/// checkout, where git would read the agent's own configuration. Before, `publish`
/// mounted the checkout writable and ran `git status`, `add` and `commit` in it with the
/// token file mounted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_s_step_after_the_agent_never_mounts_the_agent_s_checkout() {
    timed(async {
        let (cluster, _github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        for (delivery, payload) in [
            ("d-pr", fixture("pull_request/opened.json")),
            ("d-comment", variant("issue_comment/run-on-issue.json")),
        ] {
            let name = cluster.deliver_one(&payload, delivery).await;
            cluster.wait_phase(&name, Phase::Running).await;
            let pod = serde_json::to_value(&cluster.pods_of(&name).await[0]).expect("the pod");
            let token = format!("{name}-github-token-1");
            let reaching = containers_reaching(&pod, &token);
            let agents = containers_running_the_agent(&pod);
            let order = mounts_in_order(&pod);
            let first_agent = order
                .iter()
                .position(|(c, _)| agents.contains(c))
                .expect("the agent runs somewhere");
            let agent_writes: Vec<&String> = order
                .iter()
                .filter(|(c, _)| agents.contains(c))
                .flat_map(|(_, mounts)| mounts.iter().filter(|(_, w)| *w).map(|(v, _)| v))
                .collect();
            let checkout = pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(pod["spec"]["containers"].as_array().into_iter().flatten())
                .filter(|c| agents.iter().any(|a| c["name"] == a.as_str()))
                .flat_map(|c| {
                    let dir = c["workingDir"].as_str().unwrap_or("/").to_owned();
                    c["volumeMounts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(move |m| {
                            m["mountPath"].as_str().is_some_and(|p| dir.starts_with(p))
                        })
                        .filter_map(|m| m["name"].as_str().map(String::from))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>();
            assert!(
                !checkout.is_empty(),
                "{name}: the agent works in a volume: {pod:#}"
            );
            let after: Vec<_> = order[first_agent + 1..]
                .iter()
                .filter(|(c, _)| reaching.contains(c))
                .collect();
            assert!(
                !after.is_empty(),
                "{name}: a step holds the token after the agent"
            );
            for (step, mounts) in after {
                for (volume, writes) in mounts {
                    assert!(
                        !checkout.contains(volume),
                        "{name}: `{step}` holds the run's token and mounts `{volume}`, the \
                         agent's checkout, where git reads what the agent wrote: {pod:#}"
                    );
                    assert!(
                        !(*writes && agent_writes.contains(&volume)),
                        "{name}: `{step}` holds the run's token and mounts `{volume}`, which \
                         the agent writes, writable"
                    );
                }
            }
        }
    })
    .await;
}

/// A launch tried again while the namespace's quota has no room for its pod: the token
/// Secret made at the first try is used at each, and one token is minted in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_tried_again_for_a_full_quota_mints_its_token_once() {
    // Review 15c, F14: each try minted a token, found the Secret of the first there (409)
    // and revoked the new one at once: two GitHub requests a try, each try backing off to
    // every five minutes, for as long as the quota stayed full.
    timed(async {
        let (mut cluster, github) = reporting_cluster_on(Path::new(EXAMPLE_CONFIG)).await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        // Another workload holds the namespace's one pod.
        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(cluster.client.clone(), RUNS);
        let squatter: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": { "name": "squatter" },
            "spec": { "containers": [{ "name": "c", "image": "busybox" }] }
        }))
        .expect("a pod");
        pods.create(&PostParams::default(), &squatter)
            .await
            .expect("the other workload's pod");
        cluster
            .fake
            .faults
            .pod_quota
            .store(1, std::sync::atomic::Ordering::Relaxed);

        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-quota-token")
            .await;
        cluster.start_controller();
        // Tried at once, and again after 0.25, 0.5, 1 and 2 seconds.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(cluster.pods_of(&name).await.is_empty(), "no room yet");

        cluster
            .fake
            .faults
            .pod_quota
            .store(0, std::sync::atomic::Ordering::Relaxed);
        cluster.wait_phase(&name, Phase::Running).await;
        let tokens = github.scoped_tokens();
        assert_eq!(
            tokens.len(),
            1,
            "one token minted for the one launch: {tokens:#?}"
        );
        assert!(!tokens[0].1.revoked, "the running pod's token is good");
    })
    .await;
}
