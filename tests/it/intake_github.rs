//! The intake asks GitHub what the payload cannot say (who may run what) and answers a
//! command at once: eyes when it is accepted, one reply when it is refused, however often
//! the delivery comes.

use crate::scenario::{Pr, PullRequest, Scenario, contains, starts_with};
use crate::support;

use std::sync::Arc;
use std::time::Duration;

use agentpods::clock::ManualClock;
use agentpods::github_client::{ClientConfig, Credentials, GithubClient, RetryPolicy, Secret};
use support::fake_github::{
    APP_ID, APP_KEY_PEM, BOT_LOGIN, FakeGithub, PAT, PAT_LOGIN, manual_clock,
};
use support::fixtures::{another_event, variant};
use support::server::{Post, TestService, json, within};

const REPO: &str = "Codertocat/Hello-World";
const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

async fn github() -> (FakeGithub, GithubClient) {
    let (fake, clock) = fake_github().await;
    let client = client(
        &fake,
        &clock,
        Credentials::App {
            app_id: APP_ID,
            private_key_pem: Secret::new(APP_KEY_PEM),
        },
        None,
    );
    (fake, client)
}

async fn fake_github() -> (FakeGithub, Arc<ManualClock>) {
    let clock: Arc<ManualClock> = manual_clock();
    let fake = FakeGithub::start(clock.clone()).await;
    fake.install(REPO, 77);
    fake.add_pull(REPO, 1, HEAD, REPO);
    // What an issue's run (the default branch) and a release's (its tag) check out.
    fake.set_branch(REPO, "master", HEAD);
    fake.set_tag(REPO, "0.0.1", HEAD);
    (fake, clock)
}

fn client(
    fake: &FakeGithub,
    clock: &Arc<ManualClock>,
    credentials: Credentials,
    own_login: Option<&str>,
) -> GithubClient {
    let mut config = ClientConfig::new(credentials);
    config.base_url = fake.url();
    config.own_login = own_login.map(str::to_owned);
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        jitter_seed: Some(1),
        ..RetryPolicy::default()
    };
    GithubClient::new(config, clock.clone()).expect("a client")
}

/// A delivery of its own event: each delivery id with a body of its own, as GitHub sends
/// (the same id, the same body: a redelivery).
fn delivered(event: &str, id: &str, body: Vec<u8>) -> Post {
    Post::delivery(event, id, another_event(&body, id))
}

fn delivery(name: &str, id: &str) -> Post {
    let payload = variant(name);
    delivered(&payload.event, id, payload.body())
}

#[tokio::test]
async fn an_owner_by_the_payload_with_read_permission_by_the_api_is_refused_once() {
    within(30, async {
        let (fake, client) = github().await;
        // The payload says OWNER; the API, asked now, says the account may only read.
        fake.set_role(REPO, "Codertocat", "read");
        let service = TestService::with_github(client);
        for _ in 0..2 {
            let reply = service
                .oneshot(&delivery(
                    "issue_comment/run-on-pull-request.json",
                    "d-read",
                ))
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        assert!(service.work.manifests().is_empty(), "nothing launched");
        let comments = fake.comments();
        assert_eq!(
            comments.len(),
            1,
            "one reply, however often the delivery comes: {comments:#?}"
        );
        assert!(
            comments[0].body.contains("@Codertocat"),
            "{}",
            comments[0].body
        );
        assert!(comments[0].body.contains("read"), "{}", comments[0].body);
        assert_eq!(fake.count("POST", "/reactions"), 0);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_drive_by_commenter_with_write_access_by_the_api_gets_eyes_and_a_run() {
    within(30, async {
        let (fake, client) = github().await;
        // The payload says NONE (no association); the API says write.
        fake.set_role(REPO, "drive-by", "write");
        let service = TestService::with_github(client);
        let reply = service
            .oneshot(&delivery("issue_comment/by-outsider.json", "d-write"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let body = json(&reply);
        assert_eq!(body["runs"].as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(fake.count("POST", "/reactions"), 1, "eyes on the command");
        assert!(
            fake.comments().is_empty(),
            "no reply to an accepted command"
        );
        assert_eq!(service.work.manifests().len(), 1);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_command_on_a_pull_request_runs_at_the_head_the_api_reports() {
    within(30, async {
        let (fake, client) = github().await;
        fake.set_role(REPO, "Codertocat", "admin");
        let service = TestService::with_github(client);
        let reply = service
            .oneshot(&delivery("issue_comment/run-on-pull-request.json", "d-pr"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        // A comment carries only the pull request's number; its head came from the API.
        let manifests = service.work.manifests();
        assert_eq!(manifests.len(), 1);
        let text = std::fs::read_to_string(service.work.manifests_dir().join(&manifests[0]))
            .expect("the run's manifests");
        assert!(text.contains(HEAD), "{text}");
        assert_eq!(fake.count("GET", "/pulls/1"), 1);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn agent_status_answers_with_the_runs_of_the_pull_request() {
    within(60, async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role("Codertocat", "write");
        // Pull request #2 is opened: its review is recorded in the cluster.
        let (pr, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let review = opened.expect_status(202).run();

        // A maintainer asks `/agent status` on it, and is answered with that run.
        let asked = s.gh.comment(pr, "/agent status").await;
        assert!(asked.reply.status < 300, "{}", asked.reply.text());
        let status = s.gh.expect_comment(pr, starts_with("Agent runs for #2:"));
        assert!(status.body.contains(&review), "{}", status.body);
        s.end();
    })
    .await;
}

#[tokio::test]
async fn a_fork_pull_request_runs_only_at_the_head_a_maintainer_approved() {
    within(60, async {
        let (fake, client) = github().await;
        fake.set_role(REPO, "Codertocat", "maintain");
        fake.set_role(REPO, "forker", "read");
        fake.add_pull(REPO, 2, FORK_HEAD, "forker/Hello-World");
        let service = TestService::with_github(client);
        let fork_pr = |head: &str, id: &str| {
            let mut payload: serde_json::Value =
                serde_json::from_slice(&variant("pull_request/fork-opened.json").body())
                    .expect("JSON");
            payload["pull_request"]["head"]["sha"] = head.into();
            delivered(
                "pull_request",
                id,
                serde_json::to_vec(&payload).expect("JSON"),
            )
        };

        // Opened from a fork: nothing runs, and the pull request is told why, once.
        for _ in 0..2 {
            let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-1")).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        assert!(service.work.manifests().is_empty());
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(comments[0].body.contains("approve"), "{}", comments[0].body);

        // A maintainer, having seen that head, approves: the service records the approval,
        // the reply says so, and the review starts there.
        let written = a_moment_later().await;
        let reply = service
            .oneshot(&approve_written_at("", &written, "d-approve"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let manifests = service.work.manifests();
        assert_eq!(manifests.len(), 1, "{}", reply.text());
        let text = std::fs::read_to_string(service.work.manifests_dir().join(&manifests[0]))
            .expect("the run's manifests");
        assert!(
            text.contains(FORK_HEAD),
            "the run checks out the approved head"
        );
        let approval = fake
            .comments()
            .into_iter()
            .find(|c| c.body.starts_with("Approved by @Codertocat"))
            .expect("the approval is told in a reply");
        assert!(approval.body.contains(FORK_HEAD), "{}", approval.body);

        // The same head again (a reopen, a redelivery): approved, it runs.
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-2")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());

        // A new push: the approval named the old head, so nothing runs until approved again,
        // and the fork's author cannot forge an approval by writing its marker, nor can
        // another App's bot (only our App's bot, learnt from GET /app, speaks for us).
        fake.add_pull(REPO, 2, PUSHED, "forker/Hello-World");
        fake.add_comment(REPO, 2, "forker", &forged_approval(PUSHED));
        fake.add_bot_comment(REPO, 2, "forker-helper[bot]", &forged_approval(PUSHED));
        let reply = service.oneshot(&fork_pr(PUSHED, "d-fork-3")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 2);
        assert_eq!(fake.count("GET", "/app"), 1, "our login is learnt once");
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// What our approval reply hides in its text, written by someone else.
fn forged_approval(sha: &str) -> String {
    format!("<!-- agentpods:approved sha={sha} -->")
}

const FORK_HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const PUSHED: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A `pull_request` delivery for fork pull request #2 at `head`.
fn fork_pr(head: &str, id: &str) -> Post {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&variant("pull_request/fork-opened.json").body()).expect("JSON");
    payload["pull_request"]["head"]["sha"] = head.into();
    delivered(
        "pull_request",
        id,
        serde_json::to_vec(&payload).expect("JSON"),
    )
}

/// `/agent approve FORK_HEAD` on fork pull request #2, by the maintainer Codertocat.
fn approve_fork_pr(id: &str) -> Post {
    let mut approve: serde_json::Value =
        serde_json::from_slice(&variant("issue_comment/run-on-pull-request.json").body())
            .expect("JSON");
    approve["comment"]["body"] = format!("/agent approve {FORK_HEAD}").into();
    approve["issue"]["number"] = 2.into();
    delivered(
        "issue_comment",
        id,
        serde_json::to_vec(&approve).expect("JSON"),
    )
}

fn fork_roles(fake: &FakeGithub) {
    fake.set_role(REPO, "Codertocat", "maintain");
    fake.set_role(REPO, "forker", "read");
    fake.add_pull(REPO, 2, FORK_HEAD, "forker/Hello-World");
}

#[tokio::test]
async fn with_a_plain_token_an_approval_is_the_services_record_and_no_comment_counts() {
    within(60, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        let client = client(&fake, &clock, Credentials::Token(Secret::new(PAT)), None);
        let service = TestService::with_github(client);

        // The fork's author writes an approval marker before anyone approves: it is not
        // the service's (the token's user, learnt from GET /user), so nothing runs.
        fake.add_comment(REPO, 2, "forker", &forged_approval(FORK_HEAD));
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-1")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            service.work.manifests().is_empty(),
            "a forged marker approves nothing"
        );

        // A maintainer approves: the service records it, the token's user says so, and the
        // review runs.
        let reply = service.oneshot(&approve_fork_pr("d-approve")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 1);
        let approval = fake
            .comments()
            .into_iter()
            .find(|c| c.body.starts_with("Approved by @Codertocat"))
            .expect("the approval is told in a reply");
        assert_eq!(approval.login, PAT_LOGIN);

        // That approval is believed for the same head (a redelivery, a reopen)...
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-2")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());

        // ... and a forged one for a new push is not.
        fake.add_pull(REPO, 2, PUSHED, "forker/Hello-World");
        fake.add_comment(REPO, 2, "forker", &forged_approval(PUSHED));
        let reply = service.oneshot(&fork_pr(PUSHED, "d-fork-3")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 2);
        assert_eq!(fake.count("GET", "/user"), 1, "our login is learnt once");
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn with_a_token_github_will_not_name_approvals_still_work_and_no_marker_counts() {
    within(60, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        // An installation token as the plain token: GET /user answers 403. Approvals do not
        // depend on knowing our own login: they are records of the service, not comments.
        let token = fake.installation_token(REPO);
        let unnamed = client(&fake, &clock, Credentials::Token(Secret::new(token)), None);
        let service = TestService::with_github(unnamed);

        fake.add_comment(REPO, 2, "forker", &forged_approval(FORK_HEAD));
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-1")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty());

        let reply = service.oneshot(&approve_fork_pr("d-approve")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 1);
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-2")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(fake.count("GET", "/user"), 1, "the refusal is kept");
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

// ---- Least authority: who may run is GitHub's answer, never the payload's guess ----

/// A payload (one of GitHub's examples, or a variant of ours when `name` is not one),
/// edited.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let example = Some(support::fixtures::fixture(name))
        .filter(|p| p.path.exists())
        .unwrap_or_else(|| variant(name));
    let mut payload: serde_json::Value = serde_json::from_slice(&example.body()).expect("JSON");
    edit(&mut payload);
    serde_json::to_vec(&payload).expect("JSON")
}

/// A command on pull request #2 (a fork's, once `fork_roles` set it up), by Codertocat.
fn command_on_pr2(body: &str, id: &str) -> Post {
    let body = body.to_string();
    delivered(
        "issue_comment",
        id,
        edited("issue_comment/run-on-pull-request.json", |p| {
            p["comment"]["body"] = body.into();
            p["issue"]["number"] = 2.into();
        }),
    )
}

fn manifest_texts(service: &TestService) -> Vec<String> {
    service
        .work
        .manifests()
        .iter()
        .map(|m| std::fs::read_to_string(service.work.manifests_dir().join(m)).expect("manifests"))
        .collect()
}

#[tokio::test]
async fn a_member_fork_author_whom_the_api_says_may_only_read_waits_for_an_approval() {
    within(30, async {
        let s = Scenario::new().start().await;
        s.gh.set_role("Codertocat", "maintain");
        s.gh.set_role("forker", "read");
        // The payload calls the fork's author a MEMBER of the organisation; GitHub's
        // permission API says they may only read. Their code does not run unapproved.
        let fork = PullRequest::new(2)
            .in_fork("forker")
            .at(FORK_HEAD)
            .association("MEMBER");
        let (pr, opened) = s.gh.open_pull_request(fork).await;
        opened.expect_status(200);
        assert!(s.manifests().is_empty(), "{}", opened.reply.text());
        assert_eq!(
            s.gh.fake.count("GET", "/collaborators/forker/permission"),
            1,
            "GitHub is asked, not the payload"
        );
        s.gh.expect_replies(pr, 1);
        // The reply names the whole commit to approve.
        s.gh.expect_comment(pr, contains(format!("`/agent approve {FORK_HEAD}`")));
        s.end();
    })
    .await;
}

/// A maintainer has a pull request open from her own fork, and someone she lets push to
/// that fork (who may only read the repository) pushes to it: the new head is theirs, so
/// it does not run unapproved because the pull request is the maintainer's. (Found by an
/// outside review; before, the review launched at the pusher's commit and only the
/// author's permission was asked.)
#[tokio::test]
async fn a_push_by_someone_else_to_a_maintainers_fork_waits_for_an_approval() {
    // The head is in her own fork of the repository (`Codertocat/Hello-World-fork`).
    fn her_fork(p: &mut serde_json::Value) {
        let head = &mut p["pull_request"]["head"]["repo"];
        head["full_name"] = "Codertocat/Hello-World-fork".into();
        head["name"] = "Hello-World-fork".into();
        head["owner"]["login"] = "Codertocat".into();
    }
    within(30, async {
        let (fake, client) = github().await;
        fork_roles(&fake);
        let service = TestService::with_github(client);
        let post = delivered(
            "pull_request",
            "d-pushed-by-another",
            edited("pull_request/fork-opened.json", |p| {
                p["action"] = "synchronize".into();
                p["pull_request"]["user"]["login"] = "Codertocat".into();
                p["pull_request"]["author_association"] = "OWNER".into();
                her_fork(p);
                p["sender"]["login"] = "forker".into();
            }),
        );
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(
            comments[0]
                .body
                .contains(&format!("`/agent approve {FORK_HEAD}`")),
            "the reply names the whole commit to approve: {}",
            comments[0].body
        );
        // The same push by the author herself runs.
        let post = delivered(
            "pull_request",
            "d-pushed-by-author",
            edited("pull_request/fork-opened.json", |p| {
                p["action"] = "synchronize".into();
                p["pull_request"]["user"]["login"] = "Codertocat".into();
                p["pull_request"]["author_association"] = "OWNER".into();
                her_fork(p);
                p["sender"]["login"] = "Codertocat".into();
            }),
        );
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn an_outsider_editing_an_issue_starts_no_agent_that_listens_to_edits() {
    within(30, async {
        let (fake, client) = github().await;
        fake.set_role(REPO, "Codertocat", "admin");
        let service = TestService::with_github_on(client, |work| {
            std::fs::write(
                work.dir.path().join("templates/prompts/triage.md"),
                "Triage issue #{{ issue.number }}.\n",
            )
            .expect("write the prompt");
            work.edit_config(
                "  - name: release-notes\n",
                "  - name: triage\n    templates: [agent-pod.yaml]\n    prompt: prompts/triage.md\n    triggers:\n      issues:\n        actions: [opened, edited, labeled]\n\n  - name: release-notes\n",
            );
        });
        let issue = |sender: &str, action: &str, id: &str| {
            let (sender, action) = (sender.to_string(), action.to_string());
            delivered(
                "issues",
                id,
                edited("issues/opened.json", |p| {
                    p["action"] = action.into();
                    p["sender"]["login"] = sender.into();
                }),
            )
        };
        // Anyone may edit an issue's text on GitHub only if they wrote it or can triage;
        // here a drive-by account the API knows nothing of is the sender.
        let reply = service
            .oneshot(&issue("drive-by", "edited", "d-edited"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        assert_eq!(fake.count("GET", "/collaborators/drive-by/permission"), 1);
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "the person is told: {comments:#?}");
        assert!(comments[0].body.contains("@drive-by"), "{}", comments[0].body);

        // The repository's admin editing it starts the agent.
        let reply = service
            .oneshot(&issue("Codertocat", "edited", "d-edited-2"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 1);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn with_fork_pull_requests_never_a_maintainers_command_runs_no_fork_code() {
    within(30, async {
        let s = Scenario::new()
            .config("fork_pull_requests: approve", "fork_pull_requests: never")
            .start()
            .await;
        s.gh.set_role("Codertocat", "maintain");
        s.gh.set_role("forker", "read");
        let pr =
            s.gh.pull_request(PullRequest::new(2).in_fork("forker").at(FORK_HEAD));

        s.gh.comment(pr, "/agent run fix the flaky test")
            .await
            .expect_status(200);
        assert!(s.manifests().is_empty());
        s.gh.expect_replies(pr, 1);
        s.gh.expect_comment(pr, contains("does not run agents on forks"));
        assert_eq!(s.gh.reactions(), 0, "no eyes: nothing runs");
        s.end();
    })
    .await;
}

#[tokio::test]
async fn a_maintainers_command_on_a_fork_runs_only_at_an_approved_head_and_exactly_there() {
    within(30, async {
        let s = Scenario::new().start().await;
        s.gh.set_role("Codertocat", "maintain");
        s.gh.set_role("forker", "read");
        let pr = s
            .gh
            .pull_request(PullRequest::new(2).in_fork("forker").at(FORK_HEAD));

        // Unapproved: the maintainer is told to approve the head first.
        s.gh.comment(pr, "/agent run fix the flaky test")
            .await
            .expect_status(200);
        assert!(s.manifests().is_empty());
        s.gh.expect_comment(pr, contains(format!("approve {FORK_HEAD}")));

        // Approved at its head: the review starts there; then a command runs there too.
        s.gh.comment(pr, &format!("/agent approve {FORK_HEAD}"))
            .await
            .expect_status(202);
        s.gh.comment(pr, "/agent review the tests")
            .await
            .expect_status(202);
        assert_eq!(s.manifests().len(), 2);

        // But not the task agent, whose token can write (it pushes): a fork's code never
        // gets a write token, approved or not. (Outside review F2: before, it ran with
        // contents and pull_requests write on the fork's code.)
        s.gh.comment(pr, "/agent run fix the flaky test")
            .await
            .expect_status(200);
        assert_eq!(s.manifests().len(), 2);
        s.gh.expect_comment(
            pr,
            contains(
                "Agent `task` was not started for @Codertocat: its token can write (contents, pull_requests)",
            ),
        );
        for text in s.manifests() {
            assert!(
                text.contains(&format!("- --sha\n    - {FORK_HEAD}\n")),
                "every run checks out the exact approved commit:\n{text}"
            );
        }
        s.end();
    })
    .await;
}

#[tokio::test]
async fn an_approval_by_a_seven_character_sha_approves_nothing_and_names_the_whole_head() {
    within(30, async {
        let (fake, client) = github().await;
        fork_roles(&fake);
        let service = TestService::with_github(client);
        let reply = service
            .oneshot(&command_on_pr2(
                &format!("/agent approve {}", &FORK_HEAD[..7]),
                "d-short",
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        let comments = fake.comments();
        assert!(
            comments.iter().all(|c| !c.body.starts_with("Approved by")),
            "nothing is approved: {comments:#?}"
        );
        assert!(
            comments.iter().any(|c| c.body.contains(FORK_HEAD)),
            "the reply names the full head to approve: {comments:#?}"
        );
        // Twelve characters of the head are enough, and the approval names it in full.
        let reply = service
            .oneshot(&command_on_pr2(
                &format!("/agent approve {}", &FORK_HEAD[..12]),
                "d-twelve",
            ))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert!(
            fake.comments()
                .iter()
                .any(|c| c.body.starts_with("Approved by") && c.body.contains(FORK_HEAD)),
            "{:#?}",
            fake.comments()
        );
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_tag_pushed_with_a_runs_token_starts_no_image_build() {
    within(30, async {
        let (fake, client) = github().await;
        fake.set_role(REPO, "Codertocat", "write");
        let service = TestService::with_github(client);
        // A run's installation token pushes `simple-tag`: GitHub names our App's bot as
        // the sender. What we (or our runs) cause starts nothing.
        let push = |sender: &str, id: &str| {
            let sender = sender.to_string();
            delivered(
                "push",
                id,
                edited("push/0.json", |p| {
                    p["sender"]["login"] = sender.into();
                    p["sender"]["type"] = "Bot".into();
                }),
            )
        };
        let reply = service.oneshot(&push(BOT_LOGIN, "d-bot-tag")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        assert!(
            reply.text().contains("agentpods itself"),
            "{}",
            reply.text()
        );

        // The same tag pushed by a maintainer builds the image.
        let reply = service.oneshot(&push("Codertocat", "d-human-tag")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 1);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_command_that_arrives_while_the_permission_api_is_down_waits_and_is_decided_later() {
    use support::fake_github::FaultKind;
    within(60, async {
        let (fake, client) = github().await;
        fake.set_role(REPO, "Codertocat", "read");
        let service = TestService::with_github(client);
        let post = delivery("issue_comment/run-on-pull-request.json", "d-down");
        // The payload says OWNER. GitHub's permission API fails every try.
        fake.fail_next(
            20,
            Some(("GET", "/collaborators/Codertocat/permission")),
            FaultKind::BadGateway,
        );
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert!(
            service.work.manifests().is_empty(),
            "no guess: nothing runs"
        );
        assert!(fake.comments().is_empty(), "{:#?}", fake.comments());
        assert_eq!(fake.count("POST", "/reactions"), 0);

        // GitHub answers again; the delivery comes again (catch-up or Redeliver) and is
        // decided by what GitHub says: read, so refused, and told.
        fake.clear_faults();
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty());
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(comments[0].body.contains("`read`"), "{}", comments[0].body);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// A stranger (no owner, member or collaborator by the payload) cannot have more than read:
/// while GitHub's permission API fails, they are refused at once and told, not kept waiting
/// behind a 503 that GitHub would redeliver (docs/security.md, "The payload never grants").
#[tokio::test]
async fn a_strangers_command_while_the_permission_api_is_down_is_refused_at_once_and_told() {
    use support::fake_github::FaultKind;
    within(60, async {
        let (fake, client) = github().await;
        let service = TestService::with_github(client);
        let post = delivered(
            "issue_comment",
            "d-stranger-down",
            edited("issue_comment/run-on-pull-request.json", |p| {
                p["comment"]["author_association"] = "NONE".into();
                p["comment"]["user"]["login"] = "drive-by".into();
                p["sender"]["login"] = "drive-by".into();
            }),
        );
        fake.fail_next(
            20,
            Some(("GET", "/collaborators/drive-by/permission")),
            FaultKind::BadGateway,
        );
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "nothing runs");
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "told once: {comments:#?}");
        assert!(
            comments[0].body.contains("drive-by"),
            "{}",
            comments[0].body
        );
        assert_eq!(fake.violations(), Vec::<String>::new());

        // With all of GitHub down, the refusal cannot be told: the delivery waits (503)
        // for GitHub to come back, runs nothing, and is told once then. (Another
        // stranger: drive-by, told within the hour, would get only a reaction.)
        let again = delivered(
            "issue_comment",
            "d-stranger-all-down",
            edited("issue_comment/run-on-pull-request.json", |p| {
                p["comment"]["author_association"] = "NONE".into();
                p["comment"]["user"]["login"] = "passer-by".into();
                p["comment"]["id"] = 492700401.into();
                p["comment"]["body"] = "/agent run try again".into();
                p["sender"]["login"] = "passer-by".into();
            }),
        );
        fake.fail_next(100, None, FaultKind::BadGateway);
        let reply = service.oneshot(&again).await;
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "nothing runs");
        assert_eq!(fake.comments().len(), 1, "not told yet: GitHub is down");
        fake.clear_faults();
        let reply = service.oneshot(&again).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "nothing runs");
        assert_eq!(fake.comments().len(), 2, "{:#?}", fake.comments());
    })
    .await;
}

// ---- Approvals are records only the service writes (issue 11, findings 1 and 4) ----

/// A run's token, as its pod holds it: an installation token of our App, which posts
/// and edits as our App's bot.
fn runs_token_client(fake: &FakeGithub, clock: &Arc<ManualClock>) -> GithubClient {
    let token = fake.installation_token(REPO);
    client(fake, clock, Credentials::Token(Secret::new(token)), None)
}

/// The service's own client: our App.
fn app(fake: &FakeGithub, clock: &Arc<ManualClock>) -> GithubClient {
    client(
        fake,
        clock,
        Credentials::App {
            app_id: APP_ID,
            private_key_pem: Secret::new(APP_KEY_PEM),
        },
        None,
    )
}

fn repo() -> agentpods::github::event::RepoFullName {
    REPO.parse().expect("a repository name")
}

/// `/agent approve` (and `extra`) on fork pull request #2 by Codertocat, written at
/// `created_at`.
fn approve_written_at(extra: &str, created_at: &str, id: &str) -> Post {
    let body = format!("/agent approve{extra}");
    let created_at = created_at.to_string();
    delivered(
        "issue_comment",
        id,
        edited("issue_comment/run-on-pull-request.json", |p| {
            p["comment"]["body"] = body.into();
            p["comment"]["created_at"] = created_at.into();
            p["issue"]["number"] = 2.into();
        }),
    )
}

/// A little over a second from now, to the second as GitHub writes `created_at`: later
/// than anything the service saw before the call.
async fn a_moment_later() -> String {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[tokio::test]
async fn a_forged_approval_posted_with_a_runs_token_starts_nothing() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        let service = TestService::with_github(app(&fake, &clock));
        // A hijacked run comments on the fork pull request with its own token: the
        // comment is by our App's bot, and carries the marker 0.1 believed.
        let run = runs_token_client(&fake, &clock);
        run.create_comment(
            &repo(),
            agentpods::ids::IssueNumber(2),
            &forged_approval(FORK_HEAD),
        )
        .await
        .expect("the run's token may comment");
        assert!(
            fake.comments()
                .iter()
                .any(|c| c.login == BOT_LOGIN && c.body.contains(FORK_HEAD)),
            "{:#?}",
            fake.comments()
        );

        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-forged")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            service.work.manifests().is_empty(),
            "a comment is no approval, whoever posted it: {}",
            reply.text()
        );
        assert!(
            fake.comments()
                .iter()
                .any(|c| c.body.contains(&format!("`/agent approve {FORK_HEAD}`"))),
            "the pull request is told it needs an approval: {:#?}",
            fake.comments()
        );
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn our_own_reply_edited_by_a_runs_token_to_carry_the_marker_starts_nothing() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        let service = TestService::with_github(app(&fake, &clock));
        // The fork pull request is told it needs an approval: our reply.
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-1")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let ours = fake
            .comments()
            .into_iter()
            .find(|c| c.login == BOT_LOGIN)
            .expect("our reply");

        // A hijacked run edits that reply with its token to add the marker.
        let run = runs_token_client(&fake, &clock);
        run.update_comment(
            &repo(),
            agentpods::ids::CommentId(ours.id),
            &format!("{}\n\n{}", ours.body, forged_approval(FORK_HEAD)),
        )
        .await
        .expect("the run's token may edit the bot's comments");
        assert_eq!(
            fake.comments()
                .iter()
                .find(|c| c.id == ours.id)
                .map(|c| c.edits),
            Some(1)
        );

        // The same head comes again (a reopen): still not approved.
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-2")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            service.work.manifests().is_empty(),
            "an edited reply is no approval: {}",
            reply.text()
        );
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_push_between_the_approve_comment_and_its_processing_is_refused_and_names_the_new_head() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        let service = TestService::with_github(app(&fake, &clock));
        // The maintainer sees FORK_HEAD (its pull_request event came), and comments
        // `/agent approve`; GitHub's delivery of the comment fails.
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-1")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let written = a_moment_later().await;
        // Then the fork's author pushes: a new head, seen after the comment was written.
        let _ = a_moment_later().await;
        fake.add_pull(REPO, 2, PUSHED, "forker/Hello-World");
        let reply = service.oneshot(&fork_pr(PUSHED, "d-pushed")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());

        // Catch-up redelivers the comment: it approves nothing, and says what would.
        let reply = service
            .oneshot(&approve_written_at("", &written, "d-approve"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            service.work.manifests().is_empty(),
            "the pushed head is not approved: {}",
            reply.text()
        );
        let answer = fake
            .comments()
            .into_iter()
            .find(|c| c.body.starts_with("@Codertocat"))
            .expect("a reply to the approve");
        assert!(
            answer.body.contains(&format!("`/agent approve {PUSHED}`")),
            "the reply names the new head in full and how to approve it: {}",
            answer.body
        );

        // Nor does the pushed head count as approved when it comes again.
        let reply = service.oneshot(&fork_pr(PUSHED, "d-pushed-again")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn an_approve_without_a_sha_runs_the_head_seen_before_the_comment_was_written() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        let service = TestService::with_github(app(&fake, &clock));
        // A comment written before the service saw any head approves nothing.
        let reply = service
            .oneshot(&approve_written_at("", "2019-05-15T15:20:21Z", "d-early"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());

        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-1")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let written = a_moment_later().await;
        let reply = service
            .oneshot(&approve_written_at("", &written, "d-approve"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let texts = manifest_texts(&service);
        assert_eq!(texts.len(), 1, "{}", reply.text());
        assert!(texts[0].contains(&format!("- --sha\n    - {FORK_HEAD}\n")));
        let approval = fake
            .comments()
            .into_iter()
            .find(|c| c.body.starts_with("Approved by @Codertocat"))
            .expect("the reply says what was approved");
        assert!(approval.body.contains(FORK_HEAD), "{}", approval.body);
        assert!(
            !approval.body.contains("agentpods:approved"),
            "no marker: comments are not where approvals live: {}",
            approval.body
        );

        // The approval is the service's record: the same head runs again.
        let reply = service.oneshot(&fork_pr(FORK_HEAD, "d-fork-2")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// Approvals live as AgentApproval objects in the service's own namespace, written with
/// the service's ServiceAccount under deploy/base/rbac.yaml: a restarted service (a new
/// process, nothing in memory) still believes them.
#[tokio::test]
async fn an_approval_survives_a_service_restart() {
    use agentpods::cluster::approvals::KubeApprovals;
    use support::cluster::Cluster;
    within(60, async {
        let (fake, clock) = fake_github().await;
        fork_roles(&fake);
        let cluster = Cluster::without_controller().await;
        let store = || Arc::new(KubeApprovals::new(cluster.service.clone(), "agentpods"));
        let first =
            TestService::with_github(app(&fake, &clock)).with_state(|s| s.with_approvals(store()));
        let reply = first
            .oneshot(&command_on_pr2(
                &format!("/agent approve {FORK_HEAD}"),
                "d-approve",
            ))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        drop(first);

        let restarted =
            TestService::with_github(app(&fake, &clock)).with_state(|s| s.with_approvals(store()));
        let reply = restarted.oneshot(&fork_pr(FORK_HEAD, "d-fork")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let name = agentpods::cluster::approvals::object_name(
            &agentpods::ports::approvals::PullRequestKey::new(
                &REPO.parse().expect("a repository"),
                agentpods::ids::IssueNumber(2),
            ),
        );
        let record = cluster
            .fake
            .object(
                "agentpods.dev",
                "v1alpha1",
                "agentapprovals",
                "agentpods",
                &name,
            )
            .expect("the AgentApproval");
        assert_eq!(record["spec"]["approvals"][0]["sha"], FORK_HEAD, "{record}");
        assert_eq!(record["spec"]["approvals"][0]["approvedBy"], "Codertocat");
        assert_eq!(record["spec"]["heads"][0]["sha"], FORK_HEAD, "{record}");
        assert!(
            cluster.fake.refused().is_empty(),
            "{:#?}",
            cluster.fake.refused()
        );

        // Kept in memory instead, as `serve --dry-run` does, it is gone after a restart.
        let in_memory = TestService::with_github(app(&fake, &clock));
        let reply = in_memory.oneshot(&fork_pr(FORK_HEAD, "d-fork-mem")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_release_trigger_needing_admin_refuses_a_writer() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        let service = TestService::with_github_on(app(&fake, &clock), |work| {
            work.edit_config(
                "      release:\n        actions: [published]\n",
                "      release:\n        actions: [published]\n        min_permission: admin\n",
            )
        });
        let release = || delivery_of("release/published.json");
        fake.set_role(REPO, "Codertocat", "write");
        let reply = service.oneshot(&release()("d-writer")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(service.work.manifests().is_empty(), "{}", reply.text());
        assert!(
            reply.text().contains("you need `admin` permission"),
            "{}",
            reply.text()
        );

        // The global minimum (write) still holds for every other trigger: a writer's
        // comment runs.
        let reply = service
            .oneshot(&delivery("issue_comment/run-on-pull-request.json", "d-cmd"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());

        fake.set_role(REPO, "Codertocat", "admin");
        let service = TestService::with_github_on(app(&fake, &clock), |work| {
            work.edit_config(
                "      release:\n        actions: [published]\n",
                "      release:\n        actions: [published]\n        min_permission: admin\n",
            )
        });
        let reply = service.oneshot(&release()("d-admin")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// A delivery of one of GitHub's examples, by id.
fn delivery_of(name: &'static str) -> impl Fn(&str) -> Post {
    move |id| {
        let payload = support::fixtures::fixture(name);
        delivered(&payload.event, id, payload.body())
    }
}

#[tokio::test]
async fn a_comment_trigger_may_ask_less_than_the_service_s_own_commands() {
    within(30, async {
        let (fake, clock) = fake_github().await;
        let service = TestService::with_github_on(app(&fake, &clock), |work| {
            work.edit_config(
                "        verbs: [review]\n        targets: [pull_request]\n",
                "        verbs: [review]\n        targets: [pull_request]\n        min_permission: triage\n",
            )
        });
        fake.set_role(REPO, "Codertocat", "triage");
        let command = |body: &str, id: &str| {
            let body = body.to_string();
            delivered(
                "issue_comment",
                id,
                edited("issue_comment/run-on-pull-request.json", |p| {
                    p["comment"]["body"] = body.into();
                }),
            )
        };
        // A triager may ask for a review, which asks only `triage`...
        let reply = service.oneshot(&command("/agent review", "d-review")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 1);
        // ... but not for a run (`write`, the global minimum), nor stop the review.
        let reply = service.oneshot(&command("/agent run fix it", "d-run")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let reply = service.oneshot(&command("/agent stop", "d-stop")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(service.work.manifests().len(), 1);
        // Told once why; refused again within the hour, the triager's comment gets a 😕
        // (issue 11, F9), besides the eyes on the review.
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(
            comments
                .iter()
                .all(|c| c.body.contains("you need `write` permission")),
            "{comments:#?}"
        );
        assert_eq!(fake.count("POST", "/reactions"), 2, "{:#?}", fake.requests());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// A stranger who comments `/agent run` five times on one issue is told once why not; the
/// next four get a 😕 on their comment, one request each, and no reply (issue 11, F9).
/// (Before: five replies, three requests each.)
#[tokio::test]
async fn a_strangers_five_refused_commands_on_one_issue_get_one_reply() {
    within(30, async {
        let (fake, client) = github().await;
        let service = TestService::with_github(client);
        for n in 0..5u64 {
            let post = delivered(
                "issue_comment",
                &format!("d-stranger-{n}"),
                edited("issue_comment/by-outsider.json", |p| {
                    p["comment"]["id"] = (900_000 + n).into();
                }),
            );
            let reply = service.oneshot(&post).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(
            comments[0].body.contains("@drive-by"),
            "{}",
            comments[0].body
        );
        let told: Vec<String> = fake
            .requests()
            .iter()
            .map(|r| r.split(" -> ").next().unwrap_or_default().to_owned())
            .filter(|r| {
                !r.contains("/access_tokens")
                    && !r.ends_with(" /app")
                    && !r.ends_with("/installation")
            })
            .collect();
        let mut expected = vec![
            // Asked once: GitHub's answer is kept for a while.
            "GET /repos/Codertocat/Hello-World/collaborators/drive-by/permission".to_string(),
            // Told once: looked for (a redelivery must not post it twice), then posted.
            "GET /repos/Codertocat/Hello-World/issues/1/comments?per_page=100&page=1".into(),
            "POST /repos/Codertocat/Hello-World/issues/1/comments".into(),
        ];
        for n in 1..5 {
            expected.push(format!(
                "POST /repos/Codertocat/Hello-World/issues/comments/90000{n}/reactions"
            ));
        }
        assert_eq!(told, expected);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// A stranger who goes from thread to thread is not told on each: the hourly quiet is per
/// person and thread, so 25 issues cost 25 thread reads and 25 of the bot's comments, of
/// the requests every repository of the installation shares (outside review 15b, B4).
/// A repository's replies to refused people are capped at 20 an hour; the rest get the 😕.
#[tokio::test]
async fn a_stranger_going_from_thread_to_thread_is_told_twenty_times_an_hour_at_most() {
    within(60, async {
        let (fake, client) = github().await;
        let service = TestService::with_github(client);
        for n in 0..25u64 {
            let post = delivered(
                "issue_comment",
                &format!("d-hopper-{n}"),
                edited("issue_comment/by-outsider.json", |p| {
                    p["comment"]["id"] = (910_000 + n).into();
                    p["issue"]["number"] = (100 + n).into();
                }),
            );
            let reply = service.oneshot(&post).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        let comments = fake.comments();
        assert_eq!(comments.len(), 20, "{comments:#?}");
        assert_eq!(
            fake.count("POST", "/reactions"),
            5,
            "{:#?}",
            fake.requests()
        );
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// A writer's comment of twelve unknown `/agent …` lines is answered in one comment, not
/// eleven: each reply was a read of the thread and a post of the requests every repository
/// of the installation shares (outside review 15b, B2: 23 requests for one comment).
#[tokio::test]
async fn a_comment_of_many_unknown_commands_gets_one_reply() {
    within(30, async {
        let (fake, client) = github().await;
        fake.set_role(REPO, "drive-by", "write");
        let service = TestService::with_github(client);
        let lines: Vec<String> = (0..12).map(|n| format!("/agent bogus{n}")).collect();
        let post = delivered(
            "issue_comment",
            "d-many-unknown",
            edited("issue_comment/by-outsider.json", |p| {
                p["comment"]["body"] = lines.join("\n").into();
            }),
        );
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{comments:#?}");
        let body = &comments[0].body;
        for n in 0..10 {
            assert!(body.contains(&format!("bogus{n}")), "{body}");
        }
        assert!(body.contains("Only the first 10 commands"), "{body}");
        assert_eq!(fake.count("POST", "/comments"), 1, "{:#?}", fake.requests());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// `allowed_users` names an account by its login and its id (`octocat:583231`). Its owner
/// renames it, and someone else registers the login it freed. The newcomer, whom GitHub
/// says may only read, neither starts the write-token `task` agent nor approves a fork's
/// head, and is told what anyone who may only read is told (not the id the entry names);
/// the account, under its new login, still does both. (Outside review A4; before, the
/// newcomer's `/agent run` was launched, 202, and their approval recorded.)
#[tokio::test]
async fn a_login_freed_by_a_rename_and_taken_does_not_inherit_its_allowed_users_entry() {
    within(60, async {
        let s = Scenario::new()
            .config("allowed_users: []", "allowed_users: [\"octocat:583231\"]")
            .start()
            .await;
        s.gh.set_account("octo-renamed", 583_231);
        s.gh.set_account("octocat", 190_000_001);
        for login in ["octo-renamed", "octocat", "forker"] {
            s.gh.set_role(login, "read");
        }
        let issue = Pr(1);
        let fork = PullRequest::new(2).in_fork("forker").at(FORK_HEAD);
        let (pr, opened) = s.gh.open_pull_request(fork).await;
        opened.expect_status(200);

        let run =
            s.gh.comment_as("octocat", issue, "/agent run push to main")
                .await;
        run.expect_status(200);
        let approve = format!("/agent approve {FORK_HEAD}");
        s.gh.comment_as("octocat", pr, &approve)
            .await
            .expect_status(200);
        assert!(s.manifests().is_empty(), "{:#?}", s.manifests());
        let told = s.gh.expect_comment(issue, contains("@octocat"));
        assert!(told.body.contains("`read`"), "{}", told.body);
        for reply in s.gh.replies(issue).iter().chain(&s.gh.replies(pr)) {
            assert!(!reply.body.contains("583231"), "{}", reply.body);
        }

        s.gh.comment_as("octo-renamed", pr, &approve)
            .await
            .expect_status(202);
        s.gh.comment_as("octo-renamed", issue, "/agent run push to main")
            .await
            .expect_status(202);
        assert_eq!(s.manifests().len(), 2, "the fork's review and the task");
        s.end();
    })
    .await;
}

/// A fork's author pushes to an unapproved pull request again and again, on a thread of
/// 3,000 comments. The bot says once that the head waits for an approval, and each later
/// push within the hour costs no comment request at all; the one reply looks through a
/// bounded number of the thread's pages for itself. (Outside review A5; before, five
/// pushes got five replies, each after listing 30 pages: 155 comment requests.)
#[tokio::test]
async fn a_fork_authors_pushes_get_one_reply_an_hour_at_a_bounded_cost() {
    within(60, async {
        let s = Scenario::new().start().await;
        s.gh.set_role("forker", "read");
        let fork = PullRequest::new(2).in_fork("forker").at(FORK_HEAD);
        let pr = s.gh.pull_request(fork);
        for i in 0..3000 {
            s.gh.fake
                .add_comment(REPO, 2, "chatter", &format!("comment {i}"));
        }
        let comment_requests = || {
            s.gh.fake.count("GET", "/issues/2/comments")
                + s.gh.fake.count("POST", "/issues/2/comments")
        };
        s.gh.push(pr, FORK_HEAD).await.expect_status(200);
        let first = comment_requests();
        assert!(first <= 4, "the first reply: {first} comment requests");
        for n in 1..5u8 {
            let sha = format!("{:040x}", 0xf0 + n);
            s.gh.push(pr, &sha).await.expect_status(200);
        }
        let bots: Vec<String> =
            s.gh.replies(pr)
                .into_iter()
                .filter(|c| c.login != "chatter")
                .map(|c| c.body)
                .collect();
        assert_eq!(bots.len(), 1, "{bots:#?}");
        assert!(
            bots[0].contains(&format!("`/agent approve {FORK_HEAD}`")),
            "{}",
            bots[0]
        );
        assert_eq!(comment_requests(), first, "later pushes within the hour");
        s.end();
    })
    .await;
}

/// `/Agent run …`, with the prefix in capitals, is no command (the prefix is
/// case-sensitive), and before it was silently ignored. Someone who may use a command is
/// told how to write it, once an hour on a thread; a passer-by is told nothing, and
/// nothing runs (issue 13, N15).
#[tokio::test]
async fn a_command_prefix_in_capitals_gets_a_hint_once_and_only_for_who_may_use_it() {
    within(30, async {
        let s = Scenario::new().start().await;
        s.gh.set_role("Codertocat", "admin");
        s.gh.set_role("passer-by", "read");
        let issue = Pr(7);

        let first = s.gh.comment(issue, "/Agent run fix the flaky test").await;
        assert_eq!(
            first.expect_status(200).json()["runs"],
            serde_json::json!([])
        );
        s.gh.expect_comment(
            issue,
            starts_with(
                "`/Agent` is not read as a command: commands start with `/agent`, in lower \
                 case: `/agent run fix the flaky test`",
            ),
        );
        // Again within the hour: not told again.
        s.gh.comment(issue, "/AGENTS run fix it")
            .await
            .expect_status(200);
        s.gh.expect_replies(issue, 1);

        // A passer-by, on another thread: nothing, and nothing runs.
        let other = Pr(8);
        s.gh.comment_as("passer-by", other, "/Agent run x")
            .await
            .expect_status(200);
        s.gh.expect_replies(other, 0);
        assert!(s.manifests().is_empty());

        // Written as read, it runs.
        s.gh.comment(issue, "/agent run fix the flaky test")
            .await
            .expect_status(202);
        assert_eq!(s.manifests().len(), 1);
        s.end();
    })
    .await;
}
