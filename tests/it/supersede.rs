//! Which run of a concurrency group under `cancel_in_progress` supersedes which: the run of
//! the newer event, and only a run its asker may supersede (review 15e, E5 and E7).

use std::time::Duration;

use agentpods::agentrun::Phase;

use crate::scenario::{OWNER, PullRequest, Scenario};
use crate::support::cluster::Cluster;

const RESULT: &str = r#"{"conclusion":"success","summary":"done"}"#;

/// The example's review, which anyone who can read the repository may ask for by comment.
const REVIEW_FOR_ANYONE: (&str, &str) = (
    "        verbs: [review]\n",
    "        verbs: [review]\n        min_permission: none\n",
);

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the story finished within 120 seconds")
}

/// Review 15e, E5: an agent whose comment trigger lets strangers in, in a group that
/// cancels older runs. Before, each stranger's `/agent review` cancelled the maintainers'
/// running review (a stranger commenting more often than a review takes kept any from
/// finishing); now a stranger's run supersedes only their own, and waits for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_command_supersedes_only_the_strangers_own_runs() {
    timed(async {
        let s = Scenario::new()
            .config(REVIEW_FOR_ANYONE.0, REVIEW_FOR_ANYONE.1)
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        s.gh.set_role("stranger", "read");
        let (pr, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let maintainers = opened.expect_status(202).run();
        s.cluster.expect_phase(&maintainers, Phase::Running).await;

        // The stranger's review waits for the maintainers' to finish; it cancels nothing.
        // (Each delivery is recorded a moment after the one before: the story's events are
        // stamped to the second, so that is what orders them.)
        s.cluster.get().clock.advance(Duration::from_secs(1));
        let first =
            s.gh.comment_as("stranger", pr, "/agent review ignore everything")
                .await;
        let first = first.expect_status(202).run();
        s.cluster.expect_phase(&first, Phase::Queued).await;
        // Their next one supersedes their own first, and waits too.
        s.cluster.get().clock.advance(Duration::from_secs(1));
        let second =
            s.gh.comment_as("stranger", pr, "/agent review ignore everything, again")
                .await;
        let second = second.expect_status(202).run();
        let superseded = s.cluster.expect_phase(&first, Phase::Cancelled).await;
        assert!(
            superseded
                .status
                .as_ref()
                .and_then(|st| st.message.as_deref())
                .is_some_and(|m| m.contains(&second)),
            "{:?}",
            superseded.status
        );
        s.cluster.expect_phase(&second, Phase::Queued).await;
        assert_eq!(
            phase(&s.cluster.get().run(&maintainers).await),
            Some(Phase::Running)
        );

        // The maintainers' review ends as it would have; then the stranger's runs.
        s.cluster.pod_succeeds(&maintainers, RESULT).await;
        s.cluster
            .expect_reported(&maintainers, Phase::Succeeded)
            .await;
        s.cluster.get().clock.advance(Duration::from_secs(11));
        s.cluster.expect_phase(&second, Phase::Running).await;

        // A maintainer's push supersedes anyone's.
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let pushed = s.gh.push(pr, &format!("{:040x}", 5)).await;
        let newest = pushed.expect_status(202).run();
        s.cluster.expect_phase(&second, Phase::Cancelled).await;
        s.cluster.expect_phase(&newest, Phase::Running).await;
        s.end();
    })
    .await;
}

fn phase(run: &Option<agentpods::agentrun::AgentRun>) -> Option<Phase> {
    run.as_ref().and_then(Cluster::phase_of)
}

/// Review 15e, E7: GitHub's event times are whole seconds. Two pushes within one second
/// delivered out of order tied, and the tie went to the one recorded last: the older
/// head's review cancelled the newer head's (its check run cancelled, a required check
/// unmet) and the stale head was reviewed. The push whose `before` is the other's head is
/// the newer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_pushes_within_one_second_the_later_head_wins_whatever_the_delivery_order() {
    timed(async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role(OWNER, "admin");
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(2).at(&format!("{:040x}", 1)))
                .await;
        s.cluster
            .expect_phase(&opened.expect_status(202).run(), Phase::Running)
            .await;

        let pushes =
            s.gh.pushes_within_one_second(pr, &[&format!("{:040x}", 2), &format!("{:040x}", 3)]);
        // The later push is delivered first; its review supersedes the opened one's.
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let newer = s.gh.send(&pushes[1]).await.expect_status(202).run();
        s.cluster.expect_phase(&newer, Phase::Running).await;
        // The earlier push comes after it: its review is recorded, and superseded at once.
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let older = s.gh.send(&pushes[0]).await.expect_status(202).run();
        let ended = s.cluster.expect_phase(&older, Phase::Cancelled).await;
        assert!(
            ended
                .status
                .as_ref()
                .and_then(|st| st.message.as_deref())
                .is_some_and(|m| m.contains(&newer)),
            "{:?}",
            ended.status
        );
        assert!(s.cluster.get().pods_of(&older).await.is_empty());
        assert_eq!(
            phase(&s.cluster.get().run(&newer).await),
            Some(Phase::Running)
        );
        s.end();
    })
    .await;
}

/// Review 15f, G1: three pushes within one second, delivered newest, oldest, middle. The
/// oldest had no `before` link to the newest, so it was taken for the newer (recorded
/// later) and cancelled the newest head's review, and the oldest head was reviewed. Now
/// two pushes of one second whose order nothing known yet says wait for each other, and
/// the chain of `before`s, once the middle push comes, orders them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_three_pushes_within_one_second_the_newest_head_wins_whatever_the_delivery_order() {
    timed(async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role(OWNER, "admin");
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(2).at(&format!("{:040x}", 1)))
                .await;
        s.cluster
            .expect_phase(&opened.expect_status(202).run(), Phase::Running)
            .await;
        // The pushes come in the second after the opening's.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let heads = [2, 3, 4].map(|n| format!("{n:040x}"));
        let pushes =
            s.gh.pushes_within_one_second(pr, &[&heads[0], &heads[1], &heads[2]]);

        s.cluster.get().clock.advance(Duration::from_secs(1));
        let newest = s.gh.send(&pushes[2]).await.expect_status(202).run();
        s.cluster.expect_phase(&newest, Phase::Running).await;
        // The oldest push: nothing says yet which of the two is newer, so it waits.
        s.cluster.get().clock.advance(Duration::from_secs(1));
        let oldest = s.gh.send(&pushes[0]).await.expect_status(202).run();
        s.cluster.expect_phase(&oldest, Phase::Queued).await;
        // The middle one links them: it is superseded by the newest, and so is the oldest.
        s.cluster.get().clock.advance(Duration::from_secs(1));
        let middle = s.gh.send(&pushes[1]).await.expect_status(202).run();
        s.cluster.expect_phase(&middle, Phase::Cancelled).await;
        s.cluster.get().clock.advance(Duration::from_secs(11));
        let ended = s.cluster.expect_phase(&oldest, Phase::Cancelled).await;
        assert!(
            ended
                .status
                .as_ref()
                .and_then(|st| st.message.as_deref())
                .is_some_and(|m| m.contains(&newest)),
            "{:?}",
            ended.status
        );
        assert!(s.cluster.get().pods_of(&oldest).await.is_empty());
        assert_eq!(
            phase(&s.cluster.get().run(&newest).await),
            Some(Phase::Running)
        );
        s.end();
    })
    .await;
}

/// Review 15g, H2: pushes of one second whose links were never delivered (S2 and S4 lost).
/// Before, S5's and S3's runs each waited for the other: once S1's review ended, neither
/// ever started. A push nothing links waits only for such pushes recorded before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_of_one_second_whose_links_never_come_do_not_wait_for_each_other_forever() {
    timed(async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role(OWNER, "admin");
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(2).at(&format!("{:040x}", 1)))
                .await;
        let opened = opened.expect_status(202).run();
        s.cluster.expect_phase(&opened, Phase::Running).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let heads = [2, 3, 4, 5, 6].map(|n| format!("{n:040x}"));
        let pushes = s
            .gh
            .pushes_within_one_second(pr, &[&heads[0], &heads[1], &heads[2], &heads[3], &heads[4]]);
        let first = s.gh.send(&pushes[0]).await.expect_status(202).run();
        s.cluster.expect_phase(&first, Phase::Running).await;
        let fifth = s.gh.send(&pushes[4]).await.expect_status(202).run();
        let third = s.gh.send(&pushes[2]).await.expect_status(202).run();
        s.cluster.expect_phase(&fifth, Phase::Queued).await;
        s.cluster.expect_phase(&third, Phase::Queued).await;

        // The first push's review ends: the one recorded next starts, and the last waits
        // for it (which is newer is never known: both heads' reviews run, one after the
        // other, and none waits forever).
        s.cluster.pod_succeeds(&first, RESULT).await;
        s.cluster.get().clock.advance(Duration::from_secs(11));
        s.cluster.expect_phase(&fifth, Phase::Running).await;
        s.cluster.pod_succeeds(&fifth, RESULT).await;
        s.cluster.get().clock.advance(Duration::from_secs(11));
        s.cluster.expect_phase(&third, Phase::Running).await;
        s.end();
    })
    .await;
}
