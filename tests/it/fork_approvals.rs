//! An approval of a fork's head lets its code run only as far as its approver may start
//! agents now, on every event at that head, not only the `approve` itself (issue 11,
//! outside review 11d, A1, A4 and A9). Before, once a writer had approved a head, the fork
//! author's next event there (a reopen, an edit) started every agent, the admin-only ones
//! with their secrets included, and went on doing so after the writer lost their access.

use crate::scenario::{PullRequest, Scenario, contains};
use crate::support::server::within;

/// A `deep` review beside the example's, which only admins may start.
const DEEP_REVIEW: (&str, &str) = (
    "  - name: task\n",
    "  - name: deep\n    templates: [agent-pod.yaml]\n    prompt: prompts/review.md\n    triggers:\n      pull_request: { min_permission: admin }\n    secrets: [openai]\n  - name: task\n",
);

/// The head of the fork's pull request.
const FORK_HEAD: &str = "d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7";

/// The agents of the runs a delivery started, by their names (`review-pr6-…`).
fn agents(runs: &[String]) -> Vec<&str> {
    runs.iter()
        .map(|r| r.split_once("-pr").map_or(r.as_str(), |(agent, _)| agent))
        .collect()
}

/// How often the service asked GitHub what `login` may do.
fn permission_asks(s: &crate::scenario::Story, login: &str) -> usize {
    let path = format!("/collaborators/{login}/permission");
    s.gh.fake
        .requests()
        .iter()
        .filter(|r| r.contains(&path))
        .count()
}

#[tokio::test]
async fn a_writers_approval_never_starts_an_admin_only_agent_and_ends_with_the_writers_access() {
    within(60, async {
        let s = Scenario::new()
            .config(DEEP_REVIEW.0, DEEP_REVIEW.1)
            .start()
            .await;
        s.gh.set_role("writer1", "write");
        s.gh.set_association("writer1", "COLLABORATOR");
        s.gh.set_role("forker", "read");

        // A fork's pull request waits for an approval; a writer approves its head, and
        // the review starts, not `deep`.
        let (pr, opened) = s
            .gh
            .open_pull_request(PullRequest::new(6).in_fork("forker").at(FORK_HEAD))
            .await;
        assert!(opened.runs().is_empty(), "{}", opened.json());
        let approved = s
            .gh
            .comment_as("writer1", pr, &format!("/agent approve {FORK_HEAD}"))
            .await;
        assert_eq!(agents(&approved.expect_status(202).runs()), ["review"]);
        let told = s.gh.expect_comment(pr, contains("Approved by @writer1"));
        assert!(
            told.body.contains(
                "Agent `deep` was not started: @writer1 needs `admin` permission on this repository to start it (has `write`)."
            ),
            "{}",
            told.body
        );

        // The fork's author closes and reopens it: the review runs again at the approved
        // head, and `deep` still does not (before: it launched, as the author). The
        // writer's permission is asked again, once, to rely on their approval.
        let asked = permission_asks(&s, "writer1");
        let reopened = s.gh.reopen(pr).await;
        assert_eq!(
            agents(&reopened.expect_status(202).runs()),
            ["review"],
            "{}",
            reopened.json()
        );
        assert!(
            reopened.json()["notes"]
                .to_string()
                .contains("agent deep: not started: @writer1 needs `admin` permission"),
            "{}",
            reopened.json()
        );
        assert_eq!(permission_asks(&s, "writer1"), asked + 1);

        // The writer's access is taken away: their approval starts nothing from the next
        // event on (before: the review and `deep` both launched), and the refusal says
        // what it takes (told to the author, who was told within the hour already).
        s.gh.set_role("writer1", "read");
        let ready = s.gh.ready_for_review(pr).await;
        assert!(ready.runs().is_empty(), "{}", ready.json());
        assert!(
            ready.json()["notes"].to_string().contains(&format!(
                "@writer1 approved `{FORK_HEAD}` and has `read` permission now; agent `review` needs `write`"
            )),
            "{}",
            ready.json()
        );
        s.end();
    })
    .await;
}

#[tokio::test]
async fn under_always_a_read_only_fork_author_does_not_start_an_admin_only_agent() {
    within(60, async {
        let s = Scenario::new()
            .config(DEEP_REVIEW.0, DEEP_REVIEW.1)
            .config("fork_pull_requests: approve", "fork_pull_requests: always")
            .start()
            .await;
        s.gh.set_role("forker", "read");

        // `always` waives the global minimum for a fork's author: the review runs. But
        // `deep`'s own `min_permission: admin` still holds for them (before: it launched).
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(7).in_fork("forker").at(FORK_HEAD))
                .await;
        assert_eq!(
            agents(&opened.expect_status(202).runs()),
            ["review"],
            "{}",
            opened.json()
        );
        s.gh.expect_comment(pr, contains("@forker you need `admin` permission"));
        s.end();
    })
    .await;
}

#[tokio::test]
async fn an_allowed_user_who_may_only_read_does_not_start_an_admin_only_agent() {
    within(60, async {
        let s = Scenario::new()
            .config(
                "      comment:\n        verbs: [run]\n",
                "      comment:\n        verbs: [run]\n        min_permission: admin\n",
            )
            .config("allowed_users: []", "allowed_users: [\"pinned:4242\"]")
            .start()
            .await;
        s.gh.set_role("pinned", "read");
        s.gh.set_account("pinned", 4242);
        let pr = s.gh.pull_request(PullRequest::new(2));

        // An allowed user stands in for the global minimum: the review, which needs it.
        let review = s.gh.comment_as("pinned", pr, "/agent review").await;
        assert_eq!(agents(&review.expect_status(202).runs()), ["review"]);

        // Not for the task, whose trigger says admin (before: launched, as `pinned`).
        let task = s.gh.comment_as("pinned", pr, "/agent run deploy it").await;
        assert!(task.runs().is_empty(), "{}", task.json());
        s.gh.expect_comment(pr, contains("@pinned you need `admin` permission"));
        s.end();
    })
    .await;
}

#[tokio::test]
async fn an_approval_names_the_agents_skipped_because_their_token_can_write() {
    within(60, async {
        let s = Scenario::new()
            .config(
                "  - name: task\n",
                "  - name: workflows\n    templates: [agent-pod.yaml]\n    prompt: prompts/review.md\n    github_token: { contents: read, workflows: write }\n    triggers:\n      pull_request: {}\n    secrets: [openai]\n  - name: task\n",
            )
            .start()
            .await;
        s.gh.set_role("Codertocat", "admin");
        s.gh.set_role("forker", "read");
        let (pr, _) = s
            .gh
            .open_pull_request(PullRequest::new(8).in_fork("forker").at(FORK_HEAD))
            .await;

        // The owner approves: the review runs, and the reply says why `workflows` does not
        // (before: it was left out in silence).
        let approved = s
            .gh
            .comment(pr, &format!("/agent approve {FORK_HEAD}"))
            .await;
        assert_eq!(agents(&approved.expect_status(202).runs()), ["review"]);
        s.gh.expect_comment(
            pr,
            contains(
                "Agent `workflows` was not started: its token can write (workflows)",
            ),
        );
        s.end();
    })
    .await;
}

/// The fifth outside review's A3: a second approver of the same head counts. A writer
/// approves a fork's head (the review runs), then an admin approves it too (`deep` runs);
/// at the author's next event there, both agents run again, `deep` on the admin's
/// approval. Before, the admin's approval was not recorded (the head was approved
/// already), so the reopen refused `deep`, naming the writer, and asked the admin for what
/// they had done.
#[tokio::test]
async fn every_approver_of_a_head_counts_not_only_the_first() {
    within(60, async {
        let s = Scenario::new()
            .config(DEEP_REVIEW.0, DEEP_REVIEW.1)
            .start()
            .await;
        s.gh.set_role("writer1", "write");
        s.gh.set_association("writer1", "COLLABORATOR");
        s.gh.set_role("admin1", "admin");
        s.gh.set_association("admin1", "MEMBER");
        s.gh.set_role("forker", "read");

        let (pr, _) =
            s.gh.open_pull_request(PullRequest::new(6).in_fork("forker").at(FORK_HEAD))
                .await;
        let approved =
            s.gh.comment_as("writer1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert_eq!(agents(&approved.expect_status(202).runs()), ["review"]);
        let again =
            s.gh.comment_as("admin1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert!(
            agents(&again.expect_status(202).runs()).contains(&"deep"),
            "{}",
            again.json()
        );

        let reopened = s.gh.reopen(pr).await;
        let runs = reopened.expect_status(202).runs();
        let mut started = agents(&runs);
        started.sort_unstable();
        assert_eq!(started, ["deep", "review"], "{}", reopened.json());
        s.end();
    })
    .await;
}

/// Review 15e, E1: a retry or a Re-run of a fork's run relies on the approval of its head
/// as every event there does, only as far as the approver may start the agent now. A writer
/// approves a fork's head (the review runs), then loses write access; the owner's Re-run
/// and `/agent retry` are refused as the owner's `/agent review` is, naming the approver.
/// Before, both recorded a run and the fork's code got a pod with the agent's secrets.
#[tokio::test]
async fn a_retry_or_rerun_of_a_forks_run_ends_with_its_approvers_access() {
    within(60, async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role(crate::scenario::OWNER, "admin");
        s.gh.set_role("writer1", "write");
        s.gh.set_role("forker", "read");
        let (pr, _) =
            s.gh.open_pull_request(PullRequest::new(9).in_fork("forker").at(FORK_HEAD))
                .await;
        let approved =
            s.gh.comment_as("writer1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        let review = approved.expect_status(202).run();
        s.cluster
            .pod_succeeds(&review, r#"{"conclusion":"success","summary":"ok"}"#)
            .await;
        s.cluster
            .expect_reported(&review, agentpods::agentrun::Phase::Succeeded)
            .await;

        // While the writer may still start it, the owner's retry runs it again: once GitHub
        // says so. Unanswered, the retry waits and the delivery comes again.
        s.gh.fake.fail_next(
            10,
            Some(("GET", "/collaborators/writer1/permission")),
            crate::support::fake_github::FaultKind::BadGateway,
        );
        let waits = s.gh.comment(pr, "/agent retry").await;
        waits.expect_status(503);
        assert!(
            waits.json()["error"]
                .to_string()
                .contains("what permission @writer1, who approved this pull request's head, has now"),
            "{}",
            waits.json()
        );
        s.gh.fake.clear_faults();
        let retried = s.gh.redeliver(&waits).await;
        assert_eq!(agents(&retried.expect_status(202).runs()), ["review"]);

        s.gh.set_role("writer1", "read");
        let refused = format!(
            "@writer1 approved `{FORK_HEAD}` and has `read` permission now; agent `review` needs `write`"
        );
        let check = s
            .gh
            .fake
            .check_runs()
            .into_iter()
            .find(|c| c.external_id.as_deref() == Some(review.as_str()))
            .expect("the review's check run")
            .id;
        let rerun = s.gh.rerun_check(crate::scenario::OWNER, check).await;
        assert!(rerun.runs().is_empty(), "{}", rerun.json());
        assert!(
            rerun.json()["notes"].to_string().contains(&refused),
            "{}",
            rerun.json()
        );
        let retry = s.gh.comment(pr, "/agent retry").await;
        assert!(retry.runs().is_empty(), "{}", retry.json());
        assert!(
            retry.json()["notes"].to_string().contains(&refused),
            "{}",
            retry.json()
        );
        s.end();
    })
    .await;
}

/// Review 15e, E1, its `allowed_in` half: someone an `allowed_in` entry lets in approves a
/// fork's head, which then runs on the author's reopen and on the owner's retry; once the
/// entry no longer takes the repository in, neither runs it again.
#[tokio::test]
async fn an_approval_by_someone_allowed_in_stands_while_the_entry_takes_the_repository_in() {
    within(60, async {
        let s = Scenario::new()
            .config(
                "allowed_users: []",
                "allowed_users: []\n    allowed_in:\n      - repositories: [\"codertocat/hello-world\"]\n        users: [\"helper\"]",
            )
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(crate::scenario::OWNER, "admin");
        s.gh.set_role("helper", "read");
        s.gh.set_role("forker", "read");
        let (pr, _) =
            s.gh.open_pull_request(PullRequest::new(9).in_fork("forker").at(FORK_HEAD))
                .await;
        let approved =
            s.gh.comment_as("helper", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert_eq!(agents(&approved.expect_status(202).runs()), ["review"]);
        let reopened = s.gh.reopen(pr).await;
        assert_eq!(
            agents(&reopened.expect_status(202).runs()),
            ["review"],
            "{}",
            reopened.json()
        );
        let retried = s.gh.comment(pr, "/agent retry").await;
        assert_eq!(agents(&retried.expect_status(202).runs()), ["review"]);

        s.reconfigure("codertocat/hello-world", "codertocat/elsewhere");
        let reopened = s.gh.reopen(pr).await;
        assert!(reopened.runs().is_empty(), "{}", reopened.json());
        let retry = s.gh.comment(pr, "/agent retry").await;
        assert!(retry.runs().is_empty(), "{}", retry.json());
        assert!(
            retry.json()["notes"]
                .to_string()
                .contains("@helper approved"),
            "{}",
            retry.json()
        );
        s.end();
    })
    .await;
}

/// Review 15e, E8: someone an `allowed_in` entry lets in as the global minimum (`write`),
/// whom GitHub says may only read, is told what GitHub says and what the entry gives them,
/// when an agent needs more. Before, the refusals said they "have `write`", which GitHub
/// never said, while the next refusal on the same thread said `read`.
#[tokio::test]
async fn someone_let_in_by_allowed_in_is_told_what_github_says_they_have() {
    within(60, async {
        let s = Scenario::new()
            .config(
                "allowed_users: []",
                "allowed_users: []\n    allowed_in:\n      - repositories: [\"codertocat/hello-world\"]\n        users: [\"helper:4242\"]",
            )
            .config(
                "        actions: [opened, synchronize, reopened, ready_for_review]\n",
                "        actions: [opened, synchronize, reopened, ready_for_review]\n        min_permission: admin\n",
            )
            .config(
                "        verbs: [run]\n    secrets: [openai]",
                "        verbs: [run]\n        min_permission: admin\n    secrets: [openai]",
            )
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(crate::scenario::OWNER, "admin");
        s.gh.set_role("helper", "read");
        s.gh.set_account("helper", 4242);
        s.gh.set_role("forker", "read");
        let (pr, _) =
            s.gh.open_pull_request(PullRequest::new(9).in_fork("forker").at(FORK_HEAD))
                .await;
        let approved =
            s.gh.comment_as("helper", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert!(approved.runs().is_empty(), "{}", approved.json());
        assert!(
            approved.json()["notes"].to_string().contains(
                "@helper needs `admin` permission on this repository to start it (has `read`; github.authorization lets them in as `write`)"
            ),
            "{}",
            approved.json()
        );

        // The owner's review of their own pull request ran; the helper's retry of it is
        // refused, saying the same.
        let (own, opened) = s.gh.open_pull_request(PullRequest::new(3)).await;
        let review = opened.expect_status(202).run();
        s.cluster
            .pod_succeeds(&review, r#"{"conclusion":"success","summary":"ok"}"#)
            .await;
        s.cluster
            .expect_reported(&review, agentpods::agentrun::Phase::Succeeded)
            .await;
        let retry = s.gh.comment_as("helper", own, "/agent retry").await;
        assert!(retry.runs().is_empty(), "{}", retry.json());
        assert!(
            retry.json()["notes"].to_string().contains(
                "@helper you need `admin` permission on this repository to start agents (you have `read`; github.authorization lets you in as `write`)"
            ),
            "{}",
            retry.json()
        );
        // And so is a new command of theirs (review 15f, G5).
        let task = s.gh.comment_as("helper", own, "/agent run deploy it").await;
        assert!(task.runs().is_empty(), "{}", task.json());
        assert!(
            task.json()["notes"].to_string().contains(
                "@helper you need `admin` permission on this repository to start agents (you have `read`; github.authorization lets you in as `write`)"
            ),
            "{}",
            task.json()
        );
        s.end();
    })
    .await;
}

/// Review 15f, G2: a second maintainer approves a fork's head someone already approved.
/// Before, the approval planned every agent again: the review running on the first
/// approval was superseded and started over (a new token, pod, check run and comment).
/// Now it records the approval and starts only what the earlier approvals did not: here
/// nothing, and the reply says why; an admin's approval still starts the admin-only agent.
#[tokio::test]
async fn a_second_approval_of_a_head_starts_only_what_the_first_did_not() {
    within(60, async {
        let s = Scenario::new()
            .config(DEEP_REVIEW.0, DEEP_REVIEW.1)
            .in_cluster()
            .start()
            .await;
        s.gh.set_role("writer1", "write");
        s.gh.set_role("writer2", "write");
        s.gh.set_role("admin1", "admin");
        s.gh.set_role("forker", "read");
        let (pr, _) =
            s.gh.open_pull_request(PullRequest::new(6).in_fork("forker").at(FORK_HEAD))
                .await;
        let first =
            s.gh.comment_as("writer1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        let review = first.expect_status(202).run();
        s.cluster
            .expect_phase(&review, agentpods::agentrun::Phase::Running)
            .await;

        let second =
            s.gh.comment_as("writer2", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert!(second.runs().is_empty(), "{}", second.json());
        let told = s.gh.expect_comment(pr, contains("Approved by @writer2"));
        assert!(
            told.body.contains(
                "Agent `review` was not started: an approval of this head given before starts it already (to run it again: `retry`)."
            ),
            "{}",
            told.body
        );
        // The same approver again (review 15g, H1), with and without the SHA: nothing.
        let again =
            s.gh.comment_as("writer1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert!(again.runs().is_empty(), "{}", again.json());
        let bare = s.gh.comment_as("writer1", pr, "/agent approve").await;
        assert!(bare.runs().is_empty(), "{}", bare.json());
        let third =
            s.gh.comment_as("admin1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert_eq!(agents(&third.expect_status(202).runs()), ["deep"]);
        // The admin again: `deep` is not started a second time (review 15g, H3).
        let fourth =
            s.gh.comment_as("admin1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert!(fourth.runs().is_empty(), "{}", fourth.json());
        assert_eq!(
            crate::support::cluster::Cluster::phase_of(
                &s.cluster.get().run(&review).await.expect("the review")
            ),
            Some(agentpods::agentrun::Phase::Running)
        );
        s.end();
    })
    .await;
}

/// Review 15g, H5: `/agent retry` repeats the newest run of the pull request, and is judged
/// by it. Two runs recorded within one second (creation times are whole seconds) were a
/// tie, and the retry repeated the older one: someone who may not start the newest run's
/// agent got a retry of the opening's review instead of a refusal.
#[tokio::test]
async fn a_retry_repeats_the_newest_run_even_of_the_same_second() {
    within(60, async {
        let s = Scenario::new()
            .config(
                "        verbs: [review]\n",
                "        verbs: [review]\n        min_permission: admin\n",
            )
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(crate::scenario::OWNER, "admin");
        s.gh.set_role("writer1", "write");
        let (pr, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        opened.expect_status(202);
        let deep = s.gh.comment(pr, "/agent review deeply").await.run();
        s.cluster.pod_fails(&deep, 1).await;
        s.cluster
            .expect_phase(&deep, agentpods::agentrun::Phase::Failed)
            .await;
        let retry = s.gh.comment_as("writer1", pr, "/agent retry").await;
        assert!(retry.runs().is_empty(), "{}", retry.json());
        assert!(
            retry.json()["notes"]
                .to_string()
                .contains("@writer1 you need `admin` permission"),
            "{}",
            retry.json()
        );
        s.end();
    })
    .await;
}
