//! A run started by an approval, done again, or recorded before the config changed, is
//! held to what starting its agent afresh needs under the config in force (issue 11,
//! outside review 11c, A1, A2 and A3): an approver and a retrier need the permission the
//! agent's trigger needs, and a fork's code runs only as the fork policy in force lets it,
//! however the run came to be recorded. (An approval's stories are in `fork_approvals.rs`.)

use crate::scenario::{OWNER, PullRequest, Scenario, contains};
use crate::support;

use std::path::PathBuf;

use agentpods::agentrun::Phase;
use support::cluster::Cluster;
use support::fixtures::variant;
use support::server::{Workdir, within};

/// The example's task agent, which only admins may start by `/agent run`.
/// The head of the fork pull request the stories open.
const FORK_HEAD: &str = "c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6";

const ADMIN_TASK: (&str, &str) = (
    "      comment:\n        verbs: [run]\n",
    "      comment:\n        verbs: [run]\n        min_permission: admin\n",
);

#[tokio::test]
async fn a_writer_cannot_retry_or_re_run_a_task_only_admins_may_start() {
    within(120, async {
        let s = Scenario::new()
            .config(ADMIN_TASK.0, ADMIN_TASK.1)
            .in_cluster()
            .start()
            .await;
        s.gh.set_role("Codertocat", "admin");
        s.gh.set_role("writer1", "write");
        s.gh.set_association("writer1", "COLLABORATOR");
        let pr = s.gh.pull_request(PullRequest::new(2));

        // The admin asks for the task; it runs, fails, and GitHub hears of it.
        let asked = s.gh.comment(pr, "/agent run deploy it").await;
        let task = asked.expect_status(202).run();
        s.cluster.pod_fails(&task, 1).await;
        s.cluster.expect_reported(&task, Phase::Failed).await;

        // A writer may not start it...
        s.gh.comment_as("writer1", pr, "/agent run deploy it").await;
        s.gh.expect_comment(pr, contains("@writer1 you need `admin` permission"));

        // ... nor run it again by `/agent retry` (before: launched, as writer1)...
        let retry = s.gh.comment_as("writer1", pr, "/agent retry").await;
        assert_eq!(
            retry.json()["runs"],
            serde_json::json!([]),
            "{}",
            retry.json()
        );
        let notes = retry.json()["notes"].to_string();
        assert!(
            notes.contains("retry refused") && notes.contains("you need `admin` permission"),
            "{notes}"
        );

        // ... nor by "Re-run" on its check run (before: launched).
        let check =
            s.gh.fake
                .check_runs()
                .into_iter()
                .find(|c| c.external_id.as_deref() == Some(task.as_str()))
                .expect("the task's check run");
        let rerun = s.gh.rerun_check("writer1", check.id).await;
        assert_eq!(
            rerun.json()["runs"],
            serde_json::json!([]),
            "{}",
            rerun.json()
        );
        assert!(
            rerun.json()["notes"].to_string().contains("re-run refused"),
            "{}",
            rerun.json()
        );
        assert_eq!(s.cluster.runs().await.len(), 1, "nothing ran again");

        // The admin may.
        let again = s.gh.comment(pr, "/agent retry").await;
        assert_eq!(again.expect_status(202).json()["runs"][0]["retry_of"], 2);
        assert_eq!(s.cluster.runs().await.len(), 2);
        s.end();
    })
    .await;
}

#[tokio::test]
async fn a_fork_run_recorded_under_always_runs_again_once_forks_need_approval_only_at_an_approved_head()
 {
    within(120, async {
        let s = Scenario::new()
            .config("fork_pull_requests: approve", "fork_pull_requests: always")
            .in_cluster()
            .start()
            .await;
        s.gh.set_role("Codertocat", "admin");
        s.gh.set_role("forker", "read");

        // Every fork is trusted: the fork's pull request gets its review at once, which fails.
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(6).in_fork("forker").at(FORK_HEAD))
                .await;
        let review = opened.expect_status(202).run();
        assert!(review.starts_with("review-"), "{review}");
        s.cluster.pod_fails(&review, 1).await;
        s.cluster.expect_reported(&review, Phase::Failed).await;

        // The operator now wants a maintainer's approval of each fork's head.
        s.reconfigure("fork_pull_requests: always", "fork_pull_requests: approve");

        // The owner's `/agent retry` is refused, as a fresh event would be, and told so on
        // the pull request (before: said only in the delivery's answer and the log).
        let retry = s.gh.comment(pr, "/agent retry").await;
        assert_eq!(
            retry.expect_status(200).json()["runs"],
            serde_json::json!([]),
            "{}",
            retry.json()
        );
        let needs = format!("a maintainer comments `/agent approve {FORK_HEAD}`");
        assert!(
            retry.json()["notes"].to_string().contains("retry refused"),
            "{}",
            retry.json()
        );
        s.gh.expect_comment(pr, contains(needs.as_str()));

        // Asked again within the hour, they are not told again: a 😕 on the comment.
        let replies = s.gh.replies(pr).len();
        s.gh.comment(pr, "/agent retry").await.expect_status(200);
        assert_eq!(s.gh.replies(pr).len(), replies, "one reply an hour");
        let confused = s.gh.fake.with(|m| {
            m.reactions
                .iter()
                .filter(|(_, _, content, _)| content == "confused")
                .count()
        });
        assert_eq!(confused, 1);

        // "Re-run" on the review's check run is refused too, and told beside it, on the
        // fork's head (before: said only in the delivery's answer and the log).
        let check = |external_id: &str| {
            s.gh.fake
                .check_runs()
                .into_iter()
                .find(|c| c.external_id.as_deref() == Some(external_id))
        };
        let pressed = check(&review).expect("the review's check run");
        let rerun = s.gh.rerun_check(OWNER, pressed.id).await;
        assert_eq!(
            rerun.expect_status(200).json()["runs"],
            serde_json::json!([]),
            "{}",
            rerun.json()
        );
        // One for the commit and the person refused (review 15d, D7).
        let told = check(&format!("refused-{FORK_HEAD}-{}", OWNER.to_lowercase()))
            .expect("a check run telling why");
        assert_eq!(told.head_sha, FORK_HEAD);
        assert_eq!(told.conclusion.as_deref(), Some("neutral"));
        assert!(
            told.summary.as_deref().is_some_and(|t| t.contains(&needs)),
            "{told:?}"
        );
        assert_eq!(s.cluster.runs().await.len(), 1, "nothing ran again");

        // Once the owner approves the head, it runs there again: by the approval, and by
        // a retry (the review, which listens to pull requests, starts once per approval).
        let approved =
            s.gh.comment(pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        approved.expect_status(202);
        let again = s.gh.comment(pr, "/agent retry").await;
        assert_eq!(again.expect_status(202).json()["runs"][0]["retry_of"], 6);
        assert_eq!(s.cluster.runs().await.len(), 3);
        s.end();
    })
    .await;
}

/// Trusting every fork: a fixer whose token writes, and a review that only reads, both
/// answer a pull request's opening.
const ALWAYS: &str = r#"
project: forks
cluster:
  namespace: agentpods-runs
images:
  agent: ghcr.io/agentpods/agent:0.1.0
github:
  authorization:
    fork_pull_requests: always
agents:
  - name: fixer
    github_token: { contents: write }
    triggers:
      pull_request: {}
  - name: review
    triggers:
      pull_request: {}
"#;

/// The fork's pull request is opened under [`ALWAYS`], and its runs recorded; then the
/// policy becomes `policy` and the controller starts. The cluster and the two runs
/// (the fixer's, the review's).
async fn recorded_under_always_then(policy: &str) -> (Cluster, String, String, Workdir) {
    let work = Workdir::new();
    let config: PathBuf = work.config();
    std::fs::write(&config, ALWAYS).expect("write services.yaml");
    let mut cluster = Cluster::with_config(&config).await;
    let runs = cluster
        .deliver(&variant("pull_request/fork-opened.json"), "d-fork")
        .await;
    let named = |agent: &str| {
        runs.iter()
            .map(|(name, _)| name.clone())
            .find(|name| name.starts_with(&format!("{agent}-")))
            .unwrap_or_else(|| panic!("{agent} was recorded: {runs:?}"))
    };
    let (fixer, review) = (named("fixer"), named("review"));
    let tightened = ALWAYS.replace(
        "fork_pull_requests: always",
        &format!("fork_pull_requests: {policy}"),
    );
    std::fs::write(&config, tightened).expect("rewrite services.yaml");
    cluster.config.reload().expect("the new config loads");
    cluster.start_controller();
    (cluster, fixer, review, work)
}

/// The run's message, once it has failed.
async fn failed_because(cluster: &Cluster, run: &str) -> String {
    let failed = cluster.wait_phase(run, Phase::Failed).await;
    assert!(
        cluster.pods_of(run).await.is_empty(),
        "{run}: no pod for a fork's code the policy in force keeps out"
    );
    failed.status.and_then(|s| s.message).unwrap_or_default()
}

#[tokio::test]
async fn fork_runs_recorded_under_always_get_no_pod_once_forks_never_run() {
    within(120, async {
        let (mut cluster, fixer, review, _work) = recorded_under_always_then("never").await;
        // Before: both got their pods on the fork's head.
        for run in [&fixer, &review] {
            let message = failed_because(&cluster, run).await;
            assert!(
                message.contains("does not run agents on forks"),
                "{run}: {message}"
            );
        }
        cluster.stop_controller().await;
    })
    .await;
}

#[tokio::test]
async fn a_fork_run_recorded_under_always_gets_no_writing_token_once_forks_need_approval() {
    within(120, async {
        let (mut cluster, fixer, review, _work) = recorded_under_always_then("approve").await;
        // Before: the fixer got its pod, and would get a token that writes.
        let message = failed_because(&cluster, &fixer).await;
        assert!(message.contains("its token can write"), "{message}");
        // The review, whose token only reads, was approved as `always` approves: it runs.
        cluster
            .wait_for(&review, "its pod", |r| {
                r.and_then(Cluster::phase_of)
                    .is_some_and(|p| p != Phase::Failed)
            })
            .await;
        cluster.stop_controller().await;
    })
    .await;
}
