//! A captured signed delivery cannot start a run again (issue 11, F7). The signature
//! covers the body, not the delivery id, so whoever captured a maintainer's `/agent run`
//! (from a proxy's log, say) can send it again under a new id. Two guards meet with no gap
//! between them: inside the replay window (three days from the event's signed time) the
//! run of that deterministic name still exists, whatever its TTL, so the replay finds it;
//! past the window the delivery is stale and launches nothing, whether or not anything
//! remembers it. Told on the fake API server (the controller on a manual clock) and the
//! fake GitHub, through the service's HTTP handler, restarted in between.

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentpods::agentrun::{AgentRun, Phase};
use agentpods::clock::Clock;
use agentpods::cluster::launch::ClusterLauncher;
use agentpods::github::webhook::WebhookSecrets;
use agentpods::serve::http::AppState;
use agentpods::serve::reload::{ConfigStore, run_namespaces};
use kube::api::ListParams;
use support::cluster::Cluster;
use support::fake_github::{FakeGithub, manual_clock};
use support::fake_kube::PodScript;
use support::fixtures::{EXAMPLE_CONFIG, variant};
use support::server::{Post, SECRET, TestService, Workdir, json};

const REPO: &str = "Codertocat/Hello-World";
const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the scenario finished within two minutes")
}

/// GitHub, where Codertocat maintains the repository.
async fn github() -> FakeGithub {
    let github = FakeGithub::start(manual_clock()).await;
    github.install(REPO, 77);
    github.set_role(REPO, "Codertocat", "admin");
    github.set_branch(REPO, "master", HEAD);
    github
}

/// The service as `serve` runs it in a cluster, just started: it remembers no delivery.
/// Runs are recorded through the API server; its clock is the cluster's.
fn service(cluster: &Cluster, github: &FakeGithub) -> TestService {
    let config = ConfigStore::load(Path::new(EXAMPLE_CONFIG)).expect("the example config");
    let launcher = ClusterLauncher::new(
        cluster.service.clone(),
        cluster.clock.clone() as Arc<dyn Clock>,
    )
    .in_namespaces(run_namespaces(config.current().engine()));
    let secrets = WebhookSecrets::parse_list(SECRET).expect("secrets");
    let state = AppState::new(secrets, config, Arc::new(launcher))
        .with_github(Some(github.app_client(manual_clock())))
        .with_clock(cluster.clock.clone() as Arc<dyn Clock>);
    TestService {
        work: Workdir::new(),
        state: Arc::new(state),
    }
}

async fn all_runs(cluster: &Cluster) -> Vec<AgentRun> {
    cluster
        .runs()
        .list(&ListParams::default())
        .await
        .expect("list runs")
        .items
}

/// Codertocat's `/agent run fix the flaky test` on issue #1, written now: the body a
/// captured delivery holds.
fn captured() -> Vec<u8> {
    variant("issue_comment/run-on-issue.json").body()
}

/// The maintainer's command, delivered once: the `task` run it started, finished.
async fn a_finished_task(cluster: &Cluster, github: &FakeGithub) -> String {
    cluster.fake.run_kubelet(|_| PodScript::succeeds(""));
    let reply = service(cluster, github)
        .oneshot(&Post::delivery("issue_comment", "d-first", captured()))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let name = json(&reply)["runs"][0]["name"]
        .as_str()
        .expect("a run")
        .to_string();
    cluster.wait_phase(&name, Phase::Succeeded).await;
    name
}

#[tokio::test]
async fn a_captured_run_command_sent_again_after_its_run_is_collected_and_a_restart_launches_nothing()
 {
    timed(async {
        let cluster = Cluster::start().await;
        let github = github().await;
        let name = a_finished_task(&cluster, &github).await;

        // Past its TTL (24 h) and past the replay window (3 days): the run is collected.
        cluster.clock.advance(3 * DAY + 2 * HOUR);
        cluster
            .wait_for(&name, "its deletion", |r| r.is_none())
            .await;

        // The service restarted (it remembers no delivery); the captured body comes again.
        let reply = service(&cluster, &github)
            .oneshot(&Post::delivery("issue_comment", "d-replayed", captured()))
            .await;
        let answer = json(&reply);
        assert_eq!(
            (reply.status, answer["outcome"].as_str()),
            (200, Some("stale")),
            "{answer}"
        );
        let why = answer["notes"][0].as_str().unwrap_or_default();
        assert!(why.contains("older than the replay window"), "{answer}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            all_runs(&cluster).await.is_empty(),
            "the replay started a run again: {:?}",
            all_runs(&cluster)
                .await
                .iter()
                .map(|r| r.metadata.name.clone())
                .collect::<Vec<_>>()
        );
        // Nobody is told anything: a replay earns no reply.
        assert!(github.comments().is_empty(), "{:#?}", github.comments());
    })
    .await;
}

#[tokio::test]
async fn inside_the_replay_window_a_captured_command_finds_its_run_which_its_ttl_does_not_collect()
{
    timed(async {
        let cluster = Cluster::start().await;
        let github = github().await;
        let name = a_finished_task(&cluster, &github).await;

        // A day and an hour later its TTL (24 h) has passed, the replay window has not.
        cluster.clock.advance(DAY + HOUR);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let kept = cluster.run(&name).await;
        assert!(
            kept.is_some(),
            "the run was collected at its TTL, inside the replay window"
        );

        // Restarted, the service finds the run of that name: nothing starts again.
        let reply = service(&cluster, &github)
            .oneshot(&Post::delivery("issue_comment", "d-replayed", captured()))
            .await;
        let answer = json(&reply);
        assert_eq!(
            answer["runs"][0]["name"].as_str(),
            Some(name.as_str()),
            "{answer}"
        );
        let runs = all_runs(&cluster).await;
        assert_eq!(runs.len(), 1);
        assert_eq!(Cluster::phase_of(&runs[0]), Some(Phase::Succeeded));
        assert_eq!(runs[0].status.as_ref().map(|s| s.attempts), Some(1));
    })
    .await;
}

/// A real payload as GitHub recorded it in 2019, signed and sent today: far older than the
/// window, it launches nothing and costs no request to GitHub.
#[tokio::test]
async fn a_real_payload_signed_years_ago_is_stale() {
    timed(async {
        let github = github().await;
        let client = github.app_client(manual_clock());
        let service = TestService::start().with_state(|s| s.with_github(Some(client)));
        let recorded = variant("issue_comment/run-on-issue.json").as_recorded();
        let reply = service
            .oneshot(&Post::delivery("issue_comment", "d-2019", recorded))
            .await;
        let answer = json(&reply);
        assert_eq!(
            (reply.status, answer["outcome"].as_str()),
            (200, Some("stale")),
            "{answer}"
        );
        let why = answer["notes"][0].as_str().unwrap_or_default();
        assert!(why.contains("2019-05-15T15:20:21Z"), "{answer}");
        assert!(github.requests().is_empty(), "{:#?}", github.requests());
        assert!(service.work.manifests().is_empty());

        // Sent with `agentpods replay`, as a new user sends the examples (here a repeat of
        // it, given the first answer): the answer is followed by the next step (new-user
        // review 13f, N14: there was none).
        let server = service.listen().await;
        let payload = service.work.dir.path().join("recorded.json");
        std::fs::write(
            &payload,
            variant("issue_comment/run-on-issue.json").as_recorded(),
        )
        .expect("write the payload");
        let url = server.url("/webhook");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
                .args([
                    "replay",
                    "--url",
                    &url,
                    "--event",
                    "issue_comment",
                    "--payload",
                ])
                .arg(&payload)
                .env("GITHUB_WEBHOOK_SECRET", SECRET)
                .output()
                .expect("run agentpods replay")
        })
        .await
        .expect("replay ran");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "what to do: replay a payload whose signed time is recent: set the field the \
                 answer names to now"
            ),
            "{stderr}{}",
            String::from_utf8_lossy(&out.stdout)
        );
        server.stop().await;
    })
    .await;
}
