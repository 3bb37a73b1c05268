//! Every run at an exact commit, and every refusal told (issue 11). A run about an issue
//! checks out the commit the default branch had when the delivery came, a release's run
//! the commit its tag names, whatever moves afterwards; while GitHub cannot say which
//! commit that is, the delivery waits (503) and nothing is guessed. A refused push or
//! release is told on its commit, once, with the reason; what agentpods itself pushes is
//! ignored in silence.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use agentpods::clock::ManualClock;
use agentpods::github_client::{ClientConfig, Credentials, GithubClient, RetryPolicy, Secret};
use support::fake_github::{APP_ID, APP_KEY_PEM, BOT_LOGIN, FakeGithub, FaultKind, manual_clock};
use support::fixtures::{fixture, variant};
use support::server::{Post, TestService, within};

const REPO: &str = "Codertocat/Hello-World";
/// The default branch's head when the delivery comes.
const AT_DELIVERY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
/// Its head after a push that lands before the pod starts.
const MOVED: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
/// The commit a release's tag names.
const TAGGED: &str = "ccccccccccccccccccccccccccccccccccccccc3";
/// An annotated tag's own object (not a commit).
const TAG_OBJECT: &str = "ddddddddddddddddddddddddddddddddddddddd4";

async fn fake_github() -> (FakeGithub, Arc<ManualClock>) {
    let clock: Arc<ManualClock> = manual_clock();
    let fake = FakeGithub::start(clock.clone()).await;
    fake.install(REPO, 77);
    fake.set_role(REPO, "Codertocat", "admin");
    (fake, clock)
}

/// The service's own client: our App.
fn app(fake: &FakeGithub, clock: &Arc<ManualClock>) -> GithubClient {
    let mut config = ClientConfig::new(Credentials::App {
        app_id: APP_ID,
        private_key_pem: Secret::new(APP_KEY_PEM),
    });
    config.base_url = fake.url();
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        jitter_seed: Some(1),
        ..RetryPolicy::default()
    };
    GithubClient::new(config, clock.clone()).expect("a client")
}

/// The example config with a triage agent on opened issues as well.
fn with_triage(fake: &FakeGithub, clock: &Arc<ManualClock>) -> TestService {
    TestService::with_github_on(app(fake, clock), |work| {
        std::fs::write(
            work.dir.path().join("templates/prompts/triage.md"),
            "Triage issue #{{ issue.number }}.\n",
        )
        .expect("write the prompt");
        work.edit_config(
            "  - name: release-notes\n",
            "  - name: triage\n    templates: [agent-pod.yaml]\n    prompt: prompts/triage.md\n    triggers:\n      issues:\n        actions: [opened]\n\n  - name: release-notes\n",
        );
    })
}

fn manifest_texts(service: &TestService) -> Vec<String> {
    service
        .work
        .manifests()
        .iter()
        .map(|m| std::fs::read_to_string(service.work.manifests_dir().join(m)).expect("manifests"))
        .collect()
}

/// The commit the run's pod is told to check out (`--sha`), if any.
fn checked_out(manifest: &str) -> Option<String> {
    let mut lines = manifest.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == "- --sha" {
            return lines.next().map(|l| {
                l.trim_start_matches("- ")
                    .trim_matches(['"', '\''])
                    .to_string()
            });
        }
    }
    None
}

fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let payload = fixture(name);
    let mut v: serde_json::Value = serde_json::from_slice(&payload.body()).expect("json");
    edit(&mut v);
    serde_json::to_vec(&v).expect("json")
}

#[tokio::test]
async fn an_issue_run_checks_out_the_commit_the_default_branch_had_at_delivery() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        fake.set_branch(REPO, "master", AT_DELIVERY);
        let service = with_triage(&fake, &clock);
        let issue = Post::delivery("issues", "d-issue", fixture("issues/opened.json").body());
        let reply = service.oneshot(&issue).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        // A push lands on the default branch before the pod starts.
        fake.set_branch(REPO, "master", MOVED);
        let comment = variant("issue_comment/run-on-issue.json");
        let reply = service
            .oneshot(&Post::delivery("issue_comment", "d-cmd", comment.body()))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());

        let manifests = manifest_texts(&service);
        assert_eq!(manifests.len(), 2, "{manifests:#?}");
        let pinned: Vec<Option<String>> = manifests.iter().map(|m| checked_out(m)).collect();
        assert!(
            pinned.contains(&Some(AT_DELIVERY.to_string())),
            "the issue's run checks out the head the default branch had at its delivery, not the branch: {pinned:?}"
        );
        assert!(
            pinned.contains(&Some(MOVED.to_string())),
            "the command that came after the push checks out the new head: {pinned:?}"
        );
        assert_eq!(
            fake.count("GET", "/git/ref/heads%2Fmaster"),
            2,
            "one request per delivery"
        );
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_release_run_checks_out_the_commit_its_tag_names_annotated_or_not() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        let service = TestService::with_github(app(&fake, &clock));
        let release = |id: &str| {
            // Two releases of the same tag: two events, two bodies (a body sent again under a
            // new id is a replay).
            let body =
                support::fixtures::another_event(&fixture("release/published.json").body(), id);
            Post::delivery("release", id, body)
        };
        // A lightweight tag names the commit itself.
        fake.set_tag(REPO, "0.0.1", TAGGED);
        let reply = service.oneshot(&release("d-light")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        // An annotated tag names a tag object, which names the commit.
        fake.set_annotated_tag(REPO, "0.0.1", TAG_OBJECT, AT_DELIVERY);
        let reply = service.oneshot(&release("d-annotated")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());

        let pinned: Vec<Option<String>> = manifest_texts(&service)
            .iter()
            .map(|m| checked_out(m))
            .collect();
        assert_eq!(pinned.len(), 2);
        assert!(pinned.contains(&Some(TAGGED.into())), "{pinned:?}");
        assert!(
            pinned.contains(&Some(AT_DELIVERY.into())),
            "the annotated tag's commit, not the tag object: {pinned:?}"
        );
        assert_eq!(fake.count("GET", &format!("/git/tags/{TAG_OBJECT}")), 1);

        // A release whose tag does not exist (yet) has no commit to run at.
        let reply = service
            .oneshot(&Post::delivery(
                "release",
                "d-missing",
                edited("release/published.json", |p| {
                    p["release"]["tag_name"] = "0.0.2".into();
                }),
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.text().contains("`refs/tags/0.0.2` does not exist"),
            "{}",
            reply.text()
        );
        assert_eq!(manifest_texts(&service).len(), 2);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn while_github_cannot_say_the_commit_the_delivery_waits_and_then_runs_there() {
    within(60, async {
        let (fake, clock) = fake_github().await;
        fake.set_branch(REPO, "master", AT_DELIVERY);
        let service = with_triage(&fake, &clock);
        let issue = Post::delivery("issues", "d-down", fixture("issues/opened.json").body());
        fake.fail_next(20, Some(("GET", "/git/ref/")), FaultKind::BadGateway);
        let reply = service.oneshot(&issue).await;
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert!(
            service.work.manifests().is_empty(),
            "no guess: nothing runs at the moving branch"
        );
        assert!(fake.comments().is_empty(), "{:#?}", fake.comments());

        // GitHub answers again; the delivery comes again and runs at the commit.
        fake.clear_faults();
        let reply = service.oneshot(&issue).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let manifests = manifest_texts(&service);
        assert_eq!(manifests.len(), 1);
        assert_eq!(checked_out(&manifests[0]).as_deref(), Some(AT_DELIVERY));
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// `push/0.json` (a tag pushed by Codertocat), with `edit` applied.
fn tag_push(id: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Post {
    Post::delivery("push", id, edited("push/0.json", edit))
}

const PUSHED: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

#[tokio::test]
async fn a_tag_whose_name_holds_a_hash_builds_nothing_and_is_told_on_its_commit() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        let service = TestService::with_github(app(&fake, &clock));
        // Kaniko's git context is `repository#ref#commit`: this tag's name would put
        // another commit in the context's commit part.
        let hostile = format!("refs/tags/simple-tag#{MOVED}");
        let reply = service
            .oneshot(&tag_push("d-hash", |p| p["ref"] = hostile.clone().into()))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        let checks = fake.check_runs();
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert_eq!(checks[0].head_sha, PUSHED);
        assert_eq!(checks[0].conclusion.as_deref(), Some("neutral"));
        let summary = checks[0].summary.clone().unwrap_or_default();
        assert!(summary.contains("holds `#`"), "{summary}");
        assert!(summary.contains(&hostile), "{summary}");

        // The same tag name on a release.
        let tag = format!("v1#{MOVED}");
        fake.set_tag(REPO, &tag, TAGGED);
        let reply = service
            .oneshot(&Post::delivery(
                "release",
                "d-hash-release",
                edited("release/published.json", |p| {
                    p["release"]["tag_name"] = tag.clone().into();
                }),
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        let checks = fake.check_runs();
        assert_eq!(checks.len(), 2, "{checks:#?}");
        assert_eq!(checks[1].head_sha, TAGGED, "told on the tag's commit");
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// The example config, its image build asking `admin` of whoever pushes the tag.
fn admins_build(fake: &FakeGithub, clock: &Arc<ManualClock>) -> TestService {
    TestService::with_github_on(app(fake, clock), |work| {
        work.edit_config(
            "        tags: [\"v*\", \"simple-*\"]\n",
            "        tags: [\"v*\", \"simple-*\"]\n        min_permission: admin\n",
        )
    })
}

#[tokio::test]
async fn a_writer_below_the_triggers_minimum_is_told_once_on_the_pushed_commit() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        fake.set_role(REPO, "Codertocat", "write");
        let service = admins_build(&fake, &clock);
        let push = tag_push("d-writer-tag", |_| {});
        let reply = service.oneshot(&push).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        let checks = fake.check_runs();
        assert_eq!(checks.len(), 1, "the pusher is told: {checks:#?}");
        let check = &checks[0];
        assert_eq!(check.head_sha, PUSHED);
        assert_eq!(check.name, "agentpods");
        assert_eq!(check.status, "completed");
        assert_eq!(check.conclusion.as_deref(), Some("neutral"));
        let summary = check.summary.clone().unwrap_or_default();
        assert!(summary.contains("@Codertocat"), "{summary}");
        assert!(
            summary.contains("you need `admin` permission") && summary.contains("`write`"),
            "the reason, and so what it takes: {summary}"
        );

        // The delivery comes again (GitHub's Redeliver), to this replica and to a fresh
        // one that has never seen it: nothing more is posted.
        let reply = service.oneshot(&push).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let restarted = admins_build(&fake, &clock);
        let reply = restarted.oneshot(&push).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(fake.check_runs().len(), 1, "{:#?}", fake.check_runs());
        assert_eq!(fake.count("POST", "/check-runs"), 1);

        // A tag our own App's bot pushed (a run's token) is ignored in silence: telling it
        // would answer ourselves.
        let reply = service
            .oneshot(&tag_push("d-bot-tag", |p| {
                p["sender"]["login"] = BOT_LOGIN.into();
                p["sender"]["type"] = "Bot".into();
            }))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.text().contains("agentpods itself"),
            "{}",
            reply.text()
        );
        assert_eq!(fake.check_runs().len(), 1, "nothing told for our own push");
        assert!(fake.comments().is_empty());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}
