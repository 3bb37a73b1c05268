//! The launcher and the controller against the fake API server: deliveries become
//! AgentRuns, AgentRuns become pods, pods end, and runs record how. Each scenario is a
//! story; the clock is manual, so timeouts and TTLs happen when the story says.

use crate::support;

use std::time::Duration;

use agentpods::agentrun::{AgentRun, Conclusion, Phase};
use agentpods::ports::launcher::Launched;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::cluster::{Cluster, RUNS, reporting_cluster};
use support::fake_kube::PodScript;
use support::fixtures::{fixture, variant};

const RESULT: &str = r#"{"conclusion":"success","summary":"Looks good: two nits inline."}"#;

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the scenario finished within two minutes")
}

#[tokio::test]
async fn a_pull_request_opened_runs_a_review_to_success_with_the_agents_result() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));

        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-opened")
            .await;
        let run = cluster.wait_phase(&name, Phase::Succeeded).await;

        let status = run.status.clone().expect("a status");
        let result = status.result.expect("a result");
        assert_eq!(result.conclusion, Conclusion::Success);
        assert_eq!(result.summary, "Looks good: two nits inline.");
        assert_eq!(status.attempts, 1);
        assert_eq!(status.pod_name.as_deref(), Some(name.as_str()));
        assert!(status.start_time.is_some() && status.finish_time.is_some());
        assert_eq!(status.observed_generation, run.metadata.generation);
        assert_eq!(run.spec.agent, "review");
        assert_eq!(run.spec.pull_request.as_ref().map(|p| p.number), Some(2));

        // The pod and its task ConfigMap are owned by the run and carry its labels.
        let pods = cluster.pods_of(&name).await;
        assert_eq!(pods.len(), 1);
        let owners = pods[0].owner_references();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "AgentRun");
        assert_eq!(owners[0].uid, run.uid().unwrap_or_default());
        assert_eq!(owners[0].controller, Some(true));
        let labels = pods[0].labels();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "agentpods");
        assert_eq!(labels["agentpods.dev/agent"], "review");
        assert_eq!(labels["agentpods.dev/pr"], "2");
        let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), RUNS);
        let task = config_maps
            .get(&format!("{name}-task"))
            .await
            .expect("the task ConfigMap");
        assert_eq!(task.owner_references()[0].name, name);

        // Every object went through server-side apply as `agentpods`.
        let applies: Vec<String> = cluster
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("PATCH") && r.contains("application/apply-patch+yaml"))
            .collect();
        assert_eq!(applies.len(), 2, "{applies:#?}");
        assert!(applies.iter().all(|r| r.contains("fieldManager=agentpods")));

        // Each phase change is a Kubernetes Event on the run.
        let events: Api<Event> = Api::namespaced(cluster.client.clone(), RUNS);
        let reasons: Vec<String> = events
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(&name))
            .filter_map(|e| e.reason)
            .collect();
        for reason in ["Launched", "Succeeded"] {
            assert!(
                reasons.iter().any(|r| r == reason),
                "{reason} in {reasons:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_delivery_repeated_three_times_launches_once() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let payload = fixture("pull_request/opened.json");
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            outcomes.extend(cluster.deliver(&payload, "d-repeated").await);
        }
        let name = outcomes[0].0.clone();
        assert_eq!(
            outcomes.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
            [
                Launched::Created,
                Launched::AlreadyExists,
                Launched::AlreadyExists
            ]
        );
        cluster.wait_phase(&name, Phase::Succeeded).await;
        assert_eq!(
            cluster
                .runs()
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
                .len(),
            1
        );
        assert_eq!(cluster.pods_of(&name).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_push_supersedes_the_running_review_of_the_same_pull_request() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());

        let first = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-first")
            .await;
        cluster.wait_phase(&first, Phase::Running).await;

        // A minute later, a push to the pull request.
        cluster.clock.advance(Duration::from_secs(60));
        let second = cluster
            .deliver_one(&fixture("pull_request/synchronize.json"), "d-second")
            .await;
        let first_run = cluster.wait_phase(&first, Phase::Cancelled).await;
        let second_run = cluster.wait_phase(&second, Phase::Running).await;

        let result = first_run.status.and_then(|s| s.result).expect("a result");
        assert_eq!(result.conclusion, Conclusion::Cancelled);
        assert_eq!(result.summary, format!("superseded by {second}"));
        assert!(
            cluster.pods_of(&first).await.is_empty(),
            "the superseded pod is deleted"
        );
        assert_eq!(cluster.pods_of(&second).await.len(), 1);
        assert_eq!(
            second_run.spec.concurrency_group,
            first_run.spec.concurrency_group
        );
    })
    .await;
}

#[tokio::test]
async fn a_cancel_request_stops_the_run_and_deletes_its_pod() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-stop")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        let patch = json!({"spec": {"cancel": "stopped by @octocat with `/agent stop`"}});
        cluster
            .runs()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("request the cancel");

        let run = cluster.wait_phase(&name, Phase::Cancelled).await;
        assert_eq!(
            run.status.and_then(|s| s.message).as_deref(),
            Some("stopped by @octocat with `/agent stop`")
        );
        assert!(cluster.pods_of(&name).await.is_empty());
    })
    .await;
}

/// GitHub's repository names ignore case, and so does the launcher: `/agent status` lists,
/// and `/agent stop` stops, the runs of `Codertocat/Hello-World` when asked for
/// `codertocat/hello-world` (a rename that changed only the case, say). Before review 12d,
/// R3, it asked the API server for the runs labelled with the name as written, and found
/// none.
#[tokio::test]
async fn a_repositorys_runs_are_listed_and_stopped_whatever_case_its_name_is_asked_in() {
    use agentpods::agentrun::CancelReason;
    use agentpods::github::event::RepoFullName;
    use agentpods::ports::launcher::{CancelRuns, Launcher};
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-case")
            .await;
        let run = cluster.wait_phase(&name, Phase::Running).await;
        assert_eq!(run.spec.repository, "Codertocat/Hello-World");

        let asked: RepoFullName = "codertocat/hello-world".parse().expect("a repository");
        let lines = cluster
            .launcher
            .runs_of(&asked, agentpods::ids::IssueNumber(2))
            .await
            .expect("listed");
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, [name.as_str()]);
        assert_eq!(lines[0].phase, Some(Phase::Running));

        let stopped = cluster
            .launcher
            .cancel(&CancelRuns {
                repository: asked,
                number: agentpods::ids::IssueNumber(2),
                reason: CancelReason::StoppedBy("Codertocat".into()),
                asked_at: None,
            })
            .await
            .expect("cancelled");
        assert_eq!(stopped, 1);
        let run = cluster.wait_phase(&name, Phase::Cancelled).await;
        assert_eq!(
            run.status.and_then(|s| s.message).as_deref(),
            Some("stopped by @Codertocat")
        );
    })
    .await;
}

#[tokio::test]
async fn a_pod_that_never_starts_times_out_after_the_pending_timeout() {
    timed(async {
        // No kubelet: the pod stays Pending, as when nothing can schedule it.
        let cluster = Cluster::start().await;
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-pending")
            .await;
        cluster.wait_phase(&name, Phase::Pending).await;
        assert_eq!(cluster.pods_of(&name).await.len(), 1);

        cluster.clock.advance(Duration::from_secs(9 * 60));
        tokio::time::sleep(Duration::from_millis(400)).await;
        let run = cluster.run(&name).await.expect("the run");
        assert_eq!(
            Cluster::phase_of(&run),
            Some(Phase::Pending),
            "not yet: 9 of 10 minutes"
        );

        cluster.clock.advance(Duration::from_secs(61));
        let run = cluster.wait_phase(&name, Phase::TimedOut).await;
        let result = run.status.and_then(|s| s.result).expect("a result");
        assert_eq!(result.conclusion, Conclusion::TimedOut);
        assert_eq!(result.summary, "the pod did not start within 10m");
        assert!(
            cluster.pods_of(&name).await.is_empty(),
            "the pending pod is deleted"
        );
    })
    .await;
}

#[tokio::test]
async fn an_agent_that_runs_too_long_times_out() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-long")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        // The review agent may run 20 minutes.
        cluster.clock.advance(Duration::from_secs(21 * 60));
        let run = cluster.wait_phase(&name, Phase::TimedOut).await;
        assert_eq!(
            run.status
                .and_then(|s| s.result)
                .map(|r| r.summary)
                .as_deref(),
            Some("the agent ran longer than 20m")
        );
        assert!(cluster.pods_of(&name).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_restarted_controller_picks_up_a_run_where_it_was() {
    timed(async {
        let mut cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-restart")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        // The service goes away; meanwhile the agent finishes.
        cluster.stop_controller().await;
        assert!(
            cluster
                .fake
                .finish_pod(RUNS, &name, &PodScript::succeeds(RESULT))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            cluster
                .run(&name)
                .await
                .as_ref()
                .and_then(Cluster::phase_of),
            Some(Phase::Running),
            "nobody is watching"
        );

        cluster.start_controller();
        let run = cluster.wait_phase(&name, Phase::Succeeded).await;
        let status = run.status.expect("a status");
        assert_eq!(status.attempts, 1, "the run was not launched again");
        assert_eq!(
            status.result.map(|r| r.conclusion),
            Some(Conclusion::Success)
        );
        assert_eq!(cluster.pods_of(&name).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_evicted_pod_is_retried_and_the_run_still_succeeds() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-evicted")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        let evicted = json!({"status": {"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory."}});
        cluster
            .pods()
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&evicted))
            .await
            .expect("evict the pod");

        cluster
            .wait_for(&name, "a second attempt", |r| {
                r.and_then(|r| r.status.as_ref())
                    .is_some_and(|s| s.attempts == 2)
            })
            .await;
        cluster.wait_phase(&name, Phase::Running).await;
        assert!(
            cluster
                .fake
                .finish_pod(RUNS, &name, &PodScript::succeeds(RESULT))
        );
        let run = cluster.wait_phase(&name, Phase::Succeeded).await;
        assert_eq!(run.status.map(|s| s.attempts), Some(2));
    })
    .await;
}

#[tokio::test]
async fn deleting_a_run_removes_its_objects_and_a_finished_run_goes_after_its_ttl() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let first = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-delete")
            .await;
        cluster.wait_phase(&first, Phase::Succeeded).await;
        let second = cluster
            .deliver_one(&fixture("pull_request/reopened.json"), "d-ttl")
            .await;
        cluster.wait_phase(&second, Phase::Succeeded).await;

        // Deleted by hand: the cascade takes its pod and ConfigMap.
        cluster
            .runs()
            .delete(&first, &Default::default())
            .await
            .expect("delete the run");
        assert!(cluster.pods_of(&first).await.is_empty());
        let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), RUNS);
        assert!(
            config_maps
                .get_opt(&format!("{first}-task"))
                .await
                .expect("get")
                .is_none()
        );

        // Kept for its TTL (24 hours) and, since that is shorter, until the replay guard
        // (3 days and an hour) has passed since its creation (issue 11, F7); then deleted
        // with everything it owns.
        cluster.clock.advance(Duration::from_secs(25 * 3600));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            cluster.run(&second).await.is_some(),
            "kept within the replay guard"
        );
        cluster
            .clock
            .advance(Duration::from_secs(2 * 24 * 3600 + 1));
        cluster
            .wait_for(&second, "deletion after its TTL", |r| r.is_none())
            .await;
        assert!(cluster.pods_of(&second).await.is_empty());
    })
    .await;
}

/// A run deleted by hand leaves nothing behind in the controller's memory either (what it
/// keeps per run: the versions it wrote, its failures), so a long-lived leader does not
/// grow with every run anyone deletes.
#[tokio::test]
async fn a_run_deleted_by_hand_is_forgotten_by_the_controller() {
    timed(async {
        let mut cluster = Cluster::without_controller().await;
        let ctx = cluster.start_controller_with(cluster.controller_options());
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let run = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-forget")
            .await;
        cluster.wait_phase(&run, Phase::Succeeded).await;
        assert_eq!(ctx.remembered(), 1, "it wrote the run's status");

        cluster
            .runs()
            .delete(&run, &Default::default())
            .await
            .expect("delete the run");
        while ctx.remembered() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn with_30_percent_api_errors_and_dropped_watches_every_run_completes_exactly_once() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        cluster
            .fake
            .faults
            .error_code
            .store(500, std::sync::atomic::Ordering::Relaxed);
        cluster
            .fake
            .faults
            .error_percent
            .store(30, std::sync::atomic::Ordering::Relaxed);
        cluster
            .fake
            .faults
            .drop_watch_after
            .store(3, std::sync::atomic::Ordering::Relaxed);

        // Four runs of three agents, none superseding another. (The second task is on an
        // issue: recorded from a preview, which knows nothing of the pull request a
        // comment is on, a task on a pull request would be taken to run a fork's code, and
        // its writing token keeps it from that.)
        let payloads = [
            fixture("pull_request/opened.json"),
            variant("issue_comment/run-on-issue.json"),
            variant("issue_comment/run-with-detail.json"),
            fixture("release/published.json"),
        ];
        let mut names = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            // GitHub redelivers until the run is recorded (a 5xx answer is redelivered).
            let delivery = format!("d-faults-{i}");
            let name = loop {
                match cluster.try_deliver(payload, &delivery).await {
                    Ok(runs) => break runs[0].0.clone(),
                    Err(e) => eprintln!("delivery {delivery} failed, redelivering: {e}"),
                }
            };
            names.push(name);
        }
        for name in &names {
            cluster.wait_phase(name, Phase::Succeeded).await;
        }
        cluster
            .fake
            .faults
            .error_percent
            .store(0, std::sync::atomic::Ordering::Relaxed);
        for name in &names {
            let run: AgentRun = cluster.run(name).await.expect("the run");
            assert_eq!(run.status.as_ref().map(|s| s.attempts), Some(1), "{name}");
            assert_eq!(cluster.pods_of(name).await.len(), 1, "{name}: one pod");
        }
        assert!(
            cluster
                .fake
                .faults
                .injected
                .load(std::sync::atomic::Ordering::Relaxed)
                > 10,
            "faults were injected"
        );
    })
    .await;
}

#[test]
fn every_payload_recorded_in_an_agent_run_renders_the_same_objects_in_the_controller() {
    use agentpods::github::webhook::DeliveryId;
    use agentpods::serve::intake;
    use std::path::Path;
    let store =
        agentpods::serve::reload::ConfigStore::load(Path::new(support::fixtures::EXAMPLE_CONFIG))
            .expect("the example config");
    let live = store.current();
    let mut checked = 0;
    for root in [support::fixtures::WEBHOOKS, support::fixtures::PAYLOADS] {
        for payload in support::fixtures::payloads_in(root) {
            let id = DeliveryId::parse(Some(b"d-roundtrip")).expect("an id");
            let Ok(decided) = intake::decide(&live, &payload.event, &id, &payload.body()) else {
                continue;
            };
            for run in &decided.work.runs {
                // Through JSON, as the API server stores it.
                let recorded = agentpods::cluster::launch::agent_run(
                    run,
                    "2026-11-25T10:00:00Z".parse().expect("a time"),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", payload.name));
                let stored: AgentRun =
                    serde_json::from_slice(&serde_json::to_vec(&recorded).expect("to JSON"))
                        .unwrap_or_else(|e| {
                            panic!("{}: the AgentRun does not read back: {e}", payload.name)
                        });
                // Only what rendering reads is stored: the launch whole, and the event
                // and pull request as far as templates see them (the render below).
                let source = stored
                    .spec
                    .source
                    .read()
                    .unwrap_or_else(|e| panic!("{}: {e}", payload.name));
                assert_eq!(source.launch, run.source.launch, "{}", payload.name);
                let again = live
                    .engine()
                    .render_run(
                        &source.event,
                        &stored.spec.delivery,
                        &source.launch,
                        source.pull_request.as_ref(),
                    )
                    .unwrap_or_else(|e| panic!("{}: {e}", payload.name));
                assert_eq!(again, run.rendered, "{}", payload.name);
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} runs were checked");
}

/// `payload` with the JSON at `pointer` set to `value`.
fn with(payload: &support::fixtures::Payload, edits: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_slice(&payload.body()).expect("a JSON payload");
    for (pointer, value) in edits {
        *body.pointer_mut(pointer).expect("the field is there") = value.clone();
    }
    serde_json::to_vec(&body).expect("JSON")
}

/// An RFC 3339 time `ago` before now, as GitHub writes it in a payload.
fn ago(ago: Duration) -> serde_json::Value {
    let at = k8s_openapi::jiff::Timestamp::now() - ago;
    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Decides the delivery `body` of `event` as the intake does, launches what it says, and
/// returns the answer's body.
async fn deliver_body(cluster: &Cluster, event: &str, id: &str, body: &[u8]) -> String {
    let live = cluster.config.current();
    let id = agentpods::github::webhook::DeliveryId::parse(Some(id.as_bytes())).expect("an id");
    let decided = agentpods::serve::intake::decide(&live, event, &id, body).expect("decide");
    assert!(decided.work.runs.is_empty());
    let metrics = agentpods::serve::metrics::Metrics::default();
    let answer = agentpods::serve::intake::launch(&cluster.launcher, &metrics, &id, decided).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body.to_string()
}

#[tokio::test]
async fn a_closed_pull_request_cancels_its_running_review() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-open")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        let closed = with(
            &fixture("pull_request/closed.json"),
            &[("/pull_request/closed_at", ago(Duration::ZERO))],
        );
        let answer = deliver_body(&cluster, "pull_request", "d-closed", &closed).await;
        assert!(answer.contains("1 run(s) of #2 asked to stop"), "{answer}");

        let run = cluster.wait_phase(&name, Phase::Cancelled).await;
        assert_eq!(
            run.status.and_then(|s| s.message).as_deref(),
            Some("pull request #2 was closed")
        );
        assert!(cluster.pods_of(&name).await.is_empty());
    })
    .await;
}

/// Someone who captured the signed body of a pull request's closing (from a proxy's log,
/// say) sends it again, under a new delivery id, after the pull request was reopened and
/// a review started anew: the close was about the runs of then, and stops none of now's.
/// (Before: the new review was cancelled.)
#[tokio::test]
async fn a_close_sent_again_after_the_pull_request_was_reopened_stops_none_of_its_new_runs() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-reopened")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        let closed_an_hour_ago = with(
            &fixture("pull_request/closed.json"),
            &[("/pull_request/closed_at", ago(Duration::from_secs(3600)))],
        );
        let answer =
            deliver_body(&cluster, "pull_request", "d-replayed", &closed_an_hour_ago).await;
        assert!(
            answer.contains("#2: no unfinished run to stop (pull request #2 was closed)"),
            "{answer}"
        );
        let run: AgentRun = cluster.runs().get(&name).await.expect("the run");
        assert_eq!(run.spec.cancel, None, "the new review was stopped");
        assert_eq!(
            run.status.and_then(|s| s.phase.clone()),
            Some(Phase::Running)
        );
    })
    .await;
}

/// `/agent stop` stops the runs there were when it was written; the same comment's signed
/// body sent again an hour later, under a new id, stops none of the runs started since.
/// (Before: it stopped them.)
#[tokio::test]
async fn a_stop_command_sent_again_later_stops_only_what_it_was_written_about() {
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-open")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;
        let stop = |written: Duration| {
            with(
                &variant("issue_comment/run-on-pull-request.json"),
                &[
                    ("/issue/number", json!(2)),
                    ("/comment/body", json!("/agent stop")),
                    ("/comment/created_at", ago(written)),
                ],
            )
        };

        let answer = deliver_body(
            &cluster,
            "issue_comment",
            "d-old-stop",
            &stop(Duration::from_secs(3600)),
        )
        .await;
        assert!(
            answer.contains("#2: no unfinished run to stop (`stop` by @"),
            "{answer}"
        );
        let run: AgentRun = cluster.runs().get(&name).await.expect("the run");
        assert_eq!(
            run.spec.cancel, None,
            "a stop written before the run stopped it"
        );

        let answer = deliver_body(&cluster, "issue_comment", "d-stop", &stop(Duration::ZERO)).await;
        assert!(answer.contains("1 run(s) of #2 asked to stop"), "{answer}");
        let run = cluster.wait_phase(&name, Phase::Cancelled).await;
        assert_eq!(
            run.status.and_then(|s| s.message).as_deref(),
            Some("stopped by @Codertocat")
        );
    })
    .await;
}

#[tokio::test]
async fn two_replicas_share_one_lease_and_the_second_takes_over_when_the_first_goes_quiet() {
    use agentpods::cluster::lease::{Held, LeaseOptions, try_acquire};
    use k8s_openapi::api::coordination::v1::Lease;
    timed(async {
        let fake = support::fake_kube::FakeKube::start().await;
        let leases: Api<Lease> = Api::namespaced(fake.client(), "agentpods");
        let a = LeaseOptions::new("agentpods", "replica-a");
        let b = LeaseOptions::new("agentpods", "replica-b");
        let start: k8s_openapi::jiff::Timestamp = "2026-11-25T10:00:00Z".parse().expect("a time");
        let at = |secs: i64| start + k8s_openapi::jiff::SignedDuration::from_secs(secs);
        let acquire = |o: &LeaseOptions, t| {
            let (leases, o) = (leases.clone(), o.clone());
            async move {
                try_acquire(&leases, &o, t)
                    .await
                    .expect("the Lease API answers")
            }
        };

        assert_eq!(acquire(&a, at(0)).await, Held::ByUs);
        assert_eq!(acquire(&b, at(1)).await, Held::By("replica-a".into()));
        assert_eq!(acquire(&a, at(10)).await, Held::ByUs, "renewed");
        assert_eq!(
            acquire(&b, at(24)).await,
            Held::By("replica-a".into()),
            "14 s after the renewal"
        );
        // replica-a falls silent: 15 s after its last renewal the Lease is free.
        assert_eq!(acquire(&b, at(25)).await, Held::ByUs);
        assert_eq!(acquire(&a, at(26)).await, Held::By("replica-b".into()));
        let lease = leases.get("agentpods-controller").await.expect("the Lease");
        assert_eq!(lease.spec.and_then(|s| s.lease_transitions), Some(1));
    })
    .await;
}

#[tokio::test]
async fn a_review_is_reported_as_a_check_run_and_one_comment_edited_with_the_result() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-report")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;

        // The agent got a token for this one repository, in a Secret the run owns, mounted
        // into its pod; the App's key never left the service.
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(cluster.client.clone(), RUNS);
        let secret = secrets
            .get(&format!("{name}-github-token-1"))
            .await
            .expect("the run's token Secret");
        assert_eq!(secret.owner_references()[0].name, name);
        let token = secret
            .data
            .as_ref()
            .and_then(|d| d.get("token"))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .expect("a token");
        assert!(!token.is_empty());
        assert_eq!(
            github.count("POST", "/access_tokens"),
            2,
            "the App's own token, then the run's"
        );
        let pod = serde_json::to_string(&cluster.pods_of(&name).await[0]).expect("the pod as JSON");
        assert!(
            pod.contains(&format!("{name}-github-token-1")),
            "the pod mounts it"
        );
        assert!(!pod.contains(&token), "the token is not in the pod spec");
        cluster
            .wait_for(&name, "GitHub to hear it started", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Running)
            })
            .await;
        assert_eq!(github.comments().len(), 1, "one comment once it runs");

        // GitHub stumbles (502s, a secondary rate limit) as the agent finishes.
        github.fail_next(2, None, support::fake_github::FaultKind::BadGateway);
        github.fail_next(
            1,
            None,
            support::fake_github::FaultKind::SecondaryLimit { retry_after: 1 },
        );
        assert!(
            cluster
                .fake
                .finish_pod(RUNS, &name, &PodScript::succeeds(RESULT))
        );
        let run = cluster
            .wait_for(&name, "GitHub to hear it finished", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Succeeded)
            })
            .await
            .expect("the run");

        let checks = github.check_runs();
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert_eq!(checks[0].name, "agentpods/review");
        assert_eq!(checks[0].external_id.as_deref(), Some(name.as_str()));
        assert_eq!(checks[0].conclusion.as_deref(), Some("success"));
        assert_eq!(
            checks[0].history.last().map(String::as_str),
            Some("completed")
        );
        let comments = github.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(
            comments[0].body.contains("Looks good: two nits inline."),
            "{}",
            comments[0].body
        );
        assert!(comments[0].edits >= 1, "edited in place");
        let refs = run.status.and_then(|s| s.report).expect("report refs");
        assert_eq!(refs.check_run_id, Some(checks[0].id));
        assert_eq!(refs.comment_id, Some(comments[0].id));
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_restart_between_start_and_finish_still_leaves_one_comment_edited_in_place() {
    timed(async {
        let (mut cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-restart-report")
            .await;
        cluster
            .wait_for(&name, "GitHub to hear it started", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Running)
            })
            .await;

        // The service goes away; the agent finishes; a new service comes up.
        cluster.stop_controller().await;
        assert!(
            cluster
                .fake
                .finish_pod(RUNS, &name, &PodScript::succeeds(RESULT))
        );
        cluster.start_controller();
        cluster
            .wait_for(&name, "GitHub to hear it finished", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Succeeded)
            })
            .await;

        let comments = github.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(
            comments[0].body.contains("Looks good"),
            "{}",
            comments[0].body
        );
        assert_eq!(github.check_runs().len(), 1);
        assert_eq!(
            github.count("POST", "/comments"),
            1,
            "posted once, edited after"
        );
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn agent_retry_runs_the_newest_run_of_the_pull_request_again_once() {
    use agentpods::github::webhook::DeliveryId;
    use agentpods::serve::intake;
    timed(async {
        let cluster = Cluster::start().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let first = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-first-review")
            .await;
        cluster.wait_phase(&first, Phase::Succeeded).await;

        // The owner comments `/agent retry` on the pull request, and GitHub delivers it twice.
        let mut payload: serde_json::Value =
            serde_json::from_slice(&variant("issue_comment/run-on-pull-request.json").body())
                .expect("JSON");
        payload["comment"]["body"] = "/agent retry".into();
        payload["issue"]["number"] = 2.into();
        let body = serde_json::to_vec(&payload).expect("JSON");
        let metrics = agentpods::serve::metrics::Metrics::default();
        let mut names = Vec::new();
        // Twice by GitHub, then once more by whoever captured the signed body, under an id
        // of their choosing, at a replica that has not seen it.
        for id in ["d-retry", "d-retry", "d-replayed"] {
            let id = DeliveryId::parse(Some(id.as_bytes()))
                .expect("an id")
                .with_signed_body(&[&body]);
            let live = cluster.config.current();
            let decided = intake::decide(&live, "issue_comment", &id, &body).expect("decide");
            let answer = intake::launch(&cluster.launcher, &metrics, &id, decided).await;
            assert_eq!(answer.status, 202, "{}", answer.body);
            let answer: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
            names.push(
                answer["runs"][0]["name"]
                    .as_str()
                    .expect("a run")
                    .to_string(),
            );
        }
        assert_eq!(names[0], names[1], "a repeated delivery retries once");
        assert_eq!(
            names[0], names[2],
            "a replayed comment retries nothing more"
        );
        let again = cluster.wait_phase(&names[0], Phase::Succeeded).await;
        assert_ne!(again.metadata.name.as_deref(), Some(first.as_str()));
        assert_eq!(again.spec.trigger, "comment:retry");
        assert_eq!(again.spec.requested_by, "Codertocat");
        assert_eq!(again.spec.agent, "review");
        assert_eq!(cluster.pods_of(&names[0]).await.len(), 1);
        assert_eq!(
            cluster
                .runs()
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
                .len(),
            2
        );
    })
    .await;
}

/// One controller watches every namespace the config names: a review in the agents'
/// namespace and an image build in the builds' run side by side. The runs were there before
/// the controller started, so each namespace's first list meets the other's in one store
/// (a list replaces what a store holds: merged naively, the second list would wipe the
/// first namespace's runs, which would then never start). A run deleted later is forgotten.
#[tokio::test]
async fn runs_in_every_configured_namespace_are_watched_from_one_store() {
    use support::cluster::BUILDS;
    timed(async {
        let mut cluster = Cluster::without_controller().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let review = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-review")
            .await;
        let build = cluster
            .deliver_one(&fixture("push/0.json"), "d-build")
            .await;
        let ctx = cluster.start_controller_with(cluster.controller_options());
        let review_run = cluster.wait_phase(&review, Phase::Running).await;
        let build_run = cluster.wait_phase(&build, Phase::Running).await;
        assert_eq!(review_run.namespace().as_deref(), Some(RUNS));
        assert_eq!(build_run.namespace().as_deref(), Some(BUILDS));
        assert_eq!(ctx.remembered(), 2, "it wrote both runs' status");

        cluster
            .runs()
            .delete(&review, &Default::default())
            .await
            .expect("delete the review");
        while ctx.remembered() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The build, in the other namespace, is still watched and finishes.
        let pod = cluster.fake.job_pod(BUILDS, &build).expect("the Job's pod");
        assert!(
            cluster
                .fake
                .finish_pod(BUILDS, &pod, &PodScript::succeeds(RESULT))
        );
        cluster.wait_phase(&build, Phase::Succeeded).await;
        assert!(cluster.fake.refused().is_empty());
    })
    .await;
}

/// A replica told GitHub a run started (a check run, a comment) and died before it could
/// write the run's status. The run was there before this controller started, so something
/// may have been posted for it that its status does not name: the controller looks before
/// creating, and the run ends with one check run and one comment. (A run born while the
/// controller watched creates without looking: `tests/it/api_budget.rs`.)
#[tokio::test]
async fn a_run_reported_by_a_replica_that_died_before_writing_its_status_is_not_posted_twice() {
    use support::fake_github::{BOT_LOGIN, CheckRun};
    timed(async {
        let (mut cluster, github) = support::cluster::reporting_cluster_on(std::path::Path::new(
            support::fixtures::EXAMPLE_CONFIG,
        ))
        .await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-died")
            .await;
        let marker = agentpods::report::marker(&name);
        let comment = github.add_bot_comment(
            "Codertocat/Hello-World",
            2,
            BOT_LOGIN,
            &format!("Running.\n\n{marker}"),
        );
        github.with(|m| {
            m.check_runs.push(CheckRun {
                id: 900_001,
                repo: "Codertocat/Hello-World".into(),
                head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".into(),
                name: "agentpods/review".into(),
                external_id: Some(name.clone()),
                status: "in_progress".into(),
                conclusion: None,
                details_url: None,
                summary: None,
                history: vec!["in_progress".into()],
            })
        });

        cluster.start_controller();
        let run = cluster
            .wait_for(&name, "GitHub to hear it started", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Running)
            })
            .await
            .expect("the run");
        assert_eq!(github.check_runs().len(), 1, "{:#?}", github.check_runs());
        assert_eq!(github.comments().len(), 1, "{:#?}", github.comments());
        let refs = run.status.and_then(|s| s.report).expect("report refs");
        assert_eq!(refs.check_run_id, Some(900_001));
        assert_eq!(refs.comment_id, Some(comment));
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

/// Whoever may patch an AgentRun (a tenant of the runs namespace: the admission policy
/// lets them set `spec.cancel`) writes a cancel's reason, and the bot reports the run on
/// the pull request. The reason shows there as their quoted words, in a code span, never
/// as the bot's: no link, image or mention of theirs renders. Before, it was posted as the
/// bot's Markdown, its link live (review 11e, A5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reason_someone_writes_is_reported_as_their_quoted_words() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let (cluster, github) = reporting_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-tenant")
            .await;
        cluster.wait_phase(&name, Phase::Running).await;
        let reason = "Approved, merge now: [click](https://evil.example)\n`![x](https://evil.example/p.png)`";
        let patch = json!({"spec": {"cancel": reason}});
        cluster
            .runs()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("the tenant cancels");
        cluster.wait_phase(&name, Phase::Cancelled).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let (body, summary) = loop {
            let body = github
                .comments()
                .into_iter()
                .map(|c| c.body)
                .find(|b| b.contains("cancelled"));
            let summary = github
                .check_runs()
                .into_iter()
                .find(|c| c.conclusion.as_deref() == Some("cancelled"))
                .and_then(|c| c.summary);
            if let (Some(body), Some(summary)) = (body, summary) {
                break (body, summary);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cancel was reported: {:#?}",
                github.requests()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for shown in [&body, &summary] {
            assert!(
                shown.contains(
                    "Cancelled: `Approved, merge now: [click](https://evil.example) '!\\[x](https://evil.example/p.png)'`"
                ),
                "the reason is quoted in a code span:\n{shown}"
            );
        }
    })
    .await
    .expect("within two and a half minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_github_keeps_refusing_are_tried_less_and_less_often() {
    // Outside review 15a: a report GitHub refused (the repository deleted, the App
    // uninstalled, no `checks: write` there) was tried again every 10 seconds for as long
    // as the run was kept, each try a GitHub request: fourteen such runs would spend an
    // installation's whole hour. Now each failure in a row doubles the wait, up to 32
    // times the first.
    use std::time::Duration;
    let (mut cluster, github) = support::cluster::reporting_cluster_on(std::path::Path::new(
        support::fixtures::EXAMPLE_CONFIG,
    ))
    .await;
    cluster.start_controller_with(agentpods::cluster::controller::ControllerOptions {
        max_requeue: Duration::from_secs(3600),
        report_retry: Duration::from_millis(50),
        ..cluster.controller_options()
    });
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    // The App is uninstalled: its token is not minted, the run fails, and every report of
    // it is refused.
    github.uninstall(77);
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-gone")
        .await;
    cluster.wait_phase(&name, Phase::Failed).await;
    let before = github.requests().len();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let tries = github.requests().len() - before;
    // 50 ms, then 100, 200, 400, 800, 1600: six tries at most in 3.2 s (a try is two
    // requests at most: the installation looked up, and refused); every 50 ms would be 64.
    assert!(tries <= 14, "{tries} requests in 3.2 s");
    assert!(tries >= 2, "still tried: {tries}");
}
