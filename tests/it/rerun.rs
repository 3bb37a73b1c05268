//! GitHub's "Re-run" button on a check run of ours runs that run again, as `/agent retry`
//! would: the same agent at the same exact commit, for whoever GitHub's permission API
//! says may, once however often the delivery comes. Told through the fake GitHub (which
//! checks every request against GitHub's REST description) and the fake API server.

use crate::scenario::{PullRequest, Scenario};
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
use serde_json::{Value, json};
use support::cluster::{Cluster, reporting_cluster};
use support::fake_github::{APP_ID, BOT_LOGIN, FakeGithub, manual_clock};
use support::fake_kube::PodScript;
use support::fixtures::{EXAMPLE_CONFIG, fixture};
use support::server::{Post, SECRET, TestService, Workdir, json as body_of};

const REPO: &str = "Codertocat/Hello-World";

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the scenario finished within two minutes")
}

/// The service as `serve` runs it in a cluster: runs recorded through the API server,
/// who may do what asked of GitHub (the fake) as the App.
fn service(cluster: &Cluster, github: &FakeGithub) -> TestService {
    let config = ConfigStore::load(Path::new(EXAMPLE_CONFIG)).expect("the example config");
    let launcher = ClusterLauncher::new(
        cluster.service.clone(),
        cluster.clock.clone() as Arc<dyn Clock>,
    )
    .in_namespaces(run_namespaces(config.current().engine()));
    let secrets = WebhookSecrets::parse_list(SECRET).expect("secrets");
    let state = AppState::new(secrets, config, Arc::new(launcher))
        .with_github(Some(github.app_client(manual_clock())));
    TestService {
        work: Workdir::new(),
        state: Arc::new(state),
    }
}

/// A review of pull request #2 that ends in failure, and its check run, reported.
async fn a_failed_review(cluster: &Cluster, github: &FakeGithub) -> (AgentRun, u64) {
    cluster.fake.run_kubelet(|_| PodScript {
        exit_code: 1,
        ..PodScript::succeeds("")
    });
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-opened")
        .await;
    let run = cluster
        .wait_for(&name, "GitHub to hear it failed", |r| {
            r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                == Some(Phase::Failed)
        })
        .await
        .expect("the run");
    let checks = github.check_runs();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0].external_id.as_deref(), Some(name.as_str()));
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
    (run, checks[0].id)
}

/// GitHub's `check_run.rerequested`, for check run `id` of app `app`, pressed by `login`.
fn rerequested(github: &FakeGithub, id: u64, app: u64, login: &str) -> Vec<u8> {
    let check = github
        .check_runs()
        .into_iter()
        .find(|c| c.id == id)
        .expect("the check run");
    let mut payload: Value =
        serde_json::from_slice(&fixture("check_run/rerequested.json").body()).expect("JSON");
    let pr: Value =
        serde_json::from_slice(&fixture("pull_request/opened.json").body()).expect("JSON");
    payload["check_run"]["id"] = id.into();
    payload["check_run"]["name"] = check.name.into();
    payload["check_run"]["head_sha"] = check.head_sha.into();
    payload["check_run"]["external_id"] = check.external_id.unwrap_or_default().into();
    payload["check_run"]["app"]["id"] = app.into();
    payload["repository"] = pr["repository"].clone();
    payload["sender"] = pr["sender"].clone();
    payload["sender"]["login"] = login.into();
    payload["installation"] = json!({ "id": 77 });
    serde_json::to_vec(&payload).expect("JSON")
}

async fn all_runs(cluster: &Cluster) -> Vec<AgentRun> {
    cluster
        .runs()
        .list(&ListParams::default())
        .await
        .expect("list runs")
        .items
}

#[tokio::test]
async fn a_maintainer_presses_rerun_on_a_failed_check_and_the_run_runs_again_at_that_commit() {
    timed(async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role("Codertocat", "admin");
        // Pull request #2's review fails, and GitHub hears it on the review's check run.
        let (_, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let first = opened.expect_status(202).run();
        s.cluster.pod_fails(&first, 1).await;
        let first_run = s.cluster.expect_reported(&first, Phase::Failed).await;
        let checks = s.gh.fake.check_runs();
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert_eq!(checks[0].external_id.as_deref(), Some(first.as_str()));
        assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));

        // A maintainer presses "Re-run" on it: the review runs again, and fails again.
        let rerun = s.gh.rerun_check("Codertocat", checks[0].id).await;
        let name = rerun.expect_status(202).run();
        assert_eq!(rerun.json()["runs"][0]["rerun_of"], first.as_str());
        s.cluster.pod_fails(&name, 1).await;
        let again = s.cluster.expect_reported(&name, Phase::Failed).await;
        assert_eq!(again.spec.agent, first_run.spec.agent);
        assert_eq!(again.spec.sha, first_run.spec.sha, "the same exact commit");
        assert_eq!(again.spec.pull_request, first_run.spec.pull_request);
        assert_eq!(again.spec.trigger, "check_run:rerequested");
        assert_eq!(again.spec.requested_by, "Codertocat");
        assert_eq!(s.cluster.runs().await.len(), 2);

        // One new check run, for the new run, on the same commit.
        let checks = s.gh.fake.check_runs();
        assert_eq!(checks.len(), 2, "{checks:#?}");
        assert_eq!(checks[1].external_id.as_deref(), Some(name.as_str()));
        assert_eq!(checks[1].head_sha, checks[0].head_sha);
        assert_eq!(checks[1].name, checks[0].name);
        s.end();
    })
    .await;
}

#[tokio::test]
async fn the_same_rerun_delivered_again_runs_nothing_more() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        let (_, check) = a_failed_review(&cluster, &github).await;
        github.set_role(REPO, "Codertocat", "write");
        let service = service(&cluster, &github);

        let body = rerequested(&github, check, APP_ID, "Codertocat");
        let mut names = Vec::new();
        for _ in 0..2 {
            let reply = service
                .oneshot(&Post::delivery("check_run", "d-rerun-twice", body.clone()))
                .await;
            assert_eq!(reply.status, 202, "{}", reply.text());
            names.push(body_of(&reply)["runs"][0]["name"].clone());
        }
        assert_eq!(names[0], names[1], "{names:?}");
        assert_eq!(all_runs(&cluster).await.len(), 2, "one re-run, not two");
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_reader_presses_rerun_and_is_told_on_the_commit_and_nothing_runs() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        let (_, check) = a_failed_review(&cluster, &github).await;
        // GitHub's permission API decides, whatever the payload says.
        github.set_role(REPO, "reader", "read");
        let service = service(&cluster, &github);

        for _ in 0..2 {
            let body = rerequested(&github, check, APP_ID, "reader");
            let reply = service
                .oneshot(&Post::delivery("check_run", "d-rerun-reader", body))
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            assert!(reply.text().contains("refused"), "{}", reply.text());
        }
        assert_eq!(all_runs(&cluster).await.len(), 1, "nothing ran");
        let checks = github.check_runs();
        assert_eq!(checks.len(), 2, "one refusal, however often: {checks:#?}");
        let told = &checks[1];
        assert_eq!(told.name, "agentpods");
        assert_eq!(
            told.head_sha, checks[0].head_sha,
            "beside the check it was pressed on"
        );
        assert_eq!(told.conclusion.as_deref(), Some("neutral"));
        let summary = told.summary.clone().unwrap_or_default();
        assert!(
            summary.contains("@reader") && summary.contains("read"),
            "{summary}"
        );
        assert_eq!(
            checks[0].conclusion.as_deref(),
            Some("failure"),
            "left as it was"
        );
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn rerun_on_a_check_run_of_another_app_starts_nothing_quietly() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        let (_, check) = a_failed_review(&cluster, &github).await;
        github.set_role(REPO, "Codertocat", "admin");
        let service = service(&cluster, &github);

        let comments = github.comments().len();
        let body = rerequested(&github, check, APP_ID + 1, "Codertocat");
        let reply = service
            .oneshot(&Post::delivery("check_run", "d-rerun-other-app", body))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.text().contains("not created by this GitHub App"),
            "{}",
            reply.text()
        );
        assert_eq!(all_runs(&cluster).await.len(), 1, "nothing ran");
        assert_eq!(github.check_runs().len(), 1);
        // Nothing is written to the repository: no check run, no comment.
        assert_eq!(github.count("POST", "/check-runs"), 1);
        assert_eq!(github.comments().len(), comments);
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn rerun_pressed_as_agentpods_itself_starts_nothing() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        let (_, check) = a_failed_review(&cluster, &github).await;
        github.set_role(REPO, BOT_LOGIN, "admin");
        let service = service(&cluster, &github);

        let body = rerequested(&github, check, APP_ID, BOT_LOGIN);
        let reply = service
            .oneshot(&Post::delivery("check_run", "d-rerun-bot", body))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.text().contains("agentpods itself"),
            "{}",
            reply.text()
        );
        assert_eq!(all_runs(&cluster).await.len(), 1, "nothing ran");
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

/// "Re-run all checks" re-runs nothing: the delivery says which suite, not which of our
/// runs in it failed, and a maintainer's Re-run on each failed check does that exactly.
#[tokio::test]
async fn rerun_all_checks_is_answered_with_what_to_press_instead() {
    timed(async {
        let (cluster, github) = reporting_cluster().await;
        let (_, check) = a_failed_review(&cluster, &github).await;
        github.set_role(REPO, "Codertocat", "admin");
        let service = service(&cluster, &github);

        let run: Value = serde_json::from_slice(&rerequested(&github, check, APP_ID, "Codertocat"))
            .expect("JSON");
        let mut suite = run["check_run"]["check_suite"].clone();
        suite["head_sha"] = run["check_run"]["head_sha"].clone();
        suite["app"] = run["check_run"]["app"].clone();
        let body = json!({
            "action": "rerequested",
            "check_suite": suite,
            "repository": run["repository"],
            "sender": run["sender"],
            "installation": run["installation"],
        });
        let reply = service
            .oneshot(&Post::delivery(
                "check_suite",
                "d-rerun-all",
                serde_json::to_vec(&body).expect("JSON"),
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.text().contains("Re-run"), "{}", reply.text());
        assert_eq!(all_runs(&cluster).await.len(), 1, "nothing ran");
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn rerun_pressed_again_and_again_while_the_queue_is_full_leaves_one_neutral_check() {
    // Review 15d, D7: each "Re-run" refused because the repository's queue was full made
    // a check run of its own on the commit: five presses, five neutral `agentpods` checks
    // beside the failed one. Now the one told is edited.
    use crate::scenario::Pr;
    timed(async {
        let s = Scenario::new()
            .config(
                "\nagents:\n",
                "\nlimits: { running: 1, queued_per_repository: 1 }\nagents:\n",
            )
            .in_cluster()
            .start()
            .await;
        s.gh.set_role("Codertocat", "admin");
        let (_, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let review = opened.expect_status(202).run();
        s.cluster.pod_fails(&review, 1).await;
        s.cluster.expect_reported(&review, Phase::Failed).await;
        let failed = s.gh.fake.check_runs()[0].id;
        // One run holds the place, one waits: the queue is full.
        let hold =
            s.gh.comment(Pr(5), "/agent run hold")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&hold, Phase::Running).await;
        let wait =
            s.gh.comment(Pr(6), "/agent run wait")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&wait, Phase::Queued).await;

        for _ in 0..5 {
            s.gh.rerun_check("Codertocat", failed)
                .await
                .expect_status(200);
        }
        let neutral: Vec<_> =
            s.gh.fake
                .check_runs()
                .into_iter()
                .filter(|c| c.conclusion.as_deref() == Some("neutral"))
                .collect();
        assert_eq!(neutral.len(), 1, "{neutral:#?}");
        assert!(
            neutral[0]
                .summary
                .as_deref()
                .is_some_and(|t| t.contains("already waiting")),
            "{neutral:#?}"
        );
        s.end();
    })
    .await;
}
