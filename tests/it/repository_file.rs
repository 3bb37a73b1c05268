//! A repository's own say (services.yaml's `repository_config`, issue 15): each
//! repository's `.agentpods.yaml` on its default branch narrows which of the agents
//! services.yaml gives it run there, and can do nothing else. The attacker's tests: a pull
//! request that adds or edits the file changes nothing (it is read at the default branch
//! the event names, never the head); a name services.yaml does not give the repository
//! starts nothing; a hostile or broken file, or one that is no file, fails closed with
//! its `file:line:col`; GitHub's failure waits (503) and is decided on redelivery.

use crate::scenario::{OWNER, PullRequest, Scenario};
use crate::support;

use agentpods::agentrun::Phase;
use agentpods::github_client::GithubClient;
use support::fake_github::{Content, FakeGithub, FaultKind, manual_clock};
use support::fixtures::{fixture, moved, variant};
use support::server::{Post, TestService, json, within};

const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const FILE: &str = ".agentpods.yaml";
/// The default branch of GitHub's example repository, which the payloads name.
const DEFAULT_BRANCH: &str = "master";

const REPOSITORIES: [&str; 2] = ["acme/a", "acme/b"];

/// A review on every pull request (and `/agent review`), a fixer on `/agent fix`, and an
/// agent services.yaml gives `acme/b` only; each repository may narrow them.
const CONFIG: &str = r#"
project: scoped
cluster:
  namespace: agentpods-runs
images:
  agent: ghcr.io/agentpods/agent:0.1.0
secrets:
  shared:
    name: openai-api-key
    key: api-key
    env: OPENAI_API_KEY
repository_config: {}
agents:
  - name: review
    secrets: [shared]
    triggers:
      pull_request: {}
      comment: {verbs: [review]}
  - name: fix
    secrets: [shared]
    triggers:
      comment: {verbs: [fix]}
  - name: b-only
    repositories: ["acme/b"]
    secrets: [shared]
    triggers:
      pull_request: {}
"#;

async fn github() -> (FakeGithub, GithubClient) {
    let fake = FakeGithub::start(manual_clock()).await;
    for repository in REPOSITORIES {
        fake.install(repository, 77);
        fake.set_role(repository, "Codertocat", "admin");
        for number in [1, 2] {
            fake.add_pull(repository, number, HEAD, repository);
        }
    }
    let client = std::sync::Arc::try_unwrap(fake.app_client(manual_clock()))
        .unwrap_or_else(|_| panic!("a fresh client"));
    (fake, client)
}

/// `text` as `.agentpods.yaml` on `branch` of `repository`.
fn put(fake: &FakeGithub, repository: &str, branch: &str, text: &str) {
    fake.put_content(
        repository,
        branch,
        FILE,
        Content::File(text.as_bytes().to_vec()),
    );
}

/// The fakes and the service on [`CONFIG`], with `text` as acme/a's file on its default
/// branch.
async fn with_file(text: &str) -> (FakeGithub, TestService) {
    let (fake, client) = github().await;
    put(&fake, "acme/a", DEFAULT_BRANCH, text);
    (fake, service(client, CONFIG))
}

fn service(client: GithubClient, config: &str) -> TestService {
    let config = config.to_string();
    TestService::with_github_on(client, move |work| {
        std::fs::write(work.config(), config).expect("write services.yaml");
    })
}

fn opened(repository: &str, id: &str) -> Post {
    Post::delivery(
        "pull_request",
        id,
        moved(&fixture("pull_request/opened.json"), repository, None),
    )
}

fn synchronized(repository: &str, id: &str) -> Post {
    let mut json: serde_json::Value = serde_json::from_slice(&moved(
        &fixture("pull_request/opened.json"),
        repository,
        None,
    ))
    .expect("JSON");
    json["action"] = "synchronize".into();
    Post::delivery("pull_request", id, serde_json::to_vec(&json).expect("JSON"))
}

fn command(repository: &str, id: &str, body: &str) -> Post {
    Post::delivery(
        "issue_comment",
        id,
        moved(
            &variant("issue_comment/run-on-pull-request.json"),
            repository,
            Some(body),
        ),
    )
}

/// The agents of the runs the service wrote, with their repositories, sorted.
fn started(service: &TestService) -> Vec<(String, String)> {
    let work = &service.work;
    let mut found: Vec<(String, String)> = work
        .manifests()
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(work.manifests_dir().join(file)).expect("read");
            let repository = REPOSITORIES
                .into_iter()
                .find(|r| text.contains(&format!("agentpods.dev/repository: {r}\n")))
                .unwrap_or("?");
            let agent = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("agentpods.dev/agent: "))
                .unwrap_or("?");
            (repository.to_string(), agent.to_string())
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(r, a)| (r.to_string(), a.to_string()))
        .collect()
}

/// The replies the service posted in `repository`.
fn replies(fake: &FakeGithub, repository: &str) -> Vec<String> {
    fake.comments()
        .into_iter()
        .filter(|c| c.repo == repository && c.login != "Codertocat")
        .map(|c| c.body)
        .collect()
}

#[tokio::test]
async fn a_repository_s_file_turns_an_agent_off_there_and_nowhere_else() {
    within(60, async {
        let (fake, service) = with_file("agents: [fix]\n").await;
        for repository in REPOSITORIES {
            let reply = service
                .oneshot(&opened(
                    repository,
                    &format!("d-opened-{}", repository.replace('/', "-")),
                ))
                .await;
            assert!(
                [200, 202].contains(&reply.status),
                "{repository}: {}",
                reply.text()
            );
        }
        assert_eq!(
            started(&service),
            pairs(&[("acme/b", "b-only"), ("acme/b", "review")])
        );

        // A command for the agent the file turns off is told why; one it names runs.
        let reply = service
            .oneshot(&command("acme/a", "d-review-a", "/agent review"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let told = replies(&fake, "acme/a");
        assert_eq!(told.len(), 1, "{told:#?}");
        assert!(
            told[0].contains("`/agent review` does not start agent `review` here")
                && told[0].contains("`.agentpods.yaml` does not name it")
                && told[0].contains("`master`"),
            "{}",
            told[0]
        );
        let reply = service
            .oneshot(&command("acme/a", "d-fix-a", "/agent fix the test"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert!(started(&service).contains(&("acme/a".into(), "fix".into())));

        // `help` there lists what runs there.
        let reply = service
            .oneshot(&command("acme/a", "d-help-a", "/agent help"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let help = replies(&fake, "acme/a").pop().unwrap_or_default();
        assert!(
            help.contains("/agent fix") && !help.contains("/agent review"),
            "{help}"
        );

        // Read from the default branch the event names, and each read once a delivery.
        let reads: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.contains("/contents/"))
            .collect();
        assert!(
            reads
                .iter()
                .all(|r| r.contains("/contents/.agentpods.yaml?ref=refs%2Fheads%2Fmaster ")),
            "{reads:#?}"
        );
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// `events: false` keeps an agent to its comment verbs.
#[tokio::test]
async fn a_file_may_keep_an_agent_to_its_comment_verbs() {
    within(60, async {
        let (_fake, service) = with_file("agents:\n  - name: review\n    events: false\n").await;
        let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.text().contains("keeps it to its comment verbs"),
            "{}",
            reply.text()
        );
        let reply = service
            .oneshot(&command("acme/a", "d-review", "/agent review"))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(started(&service), pairs(&[("acme/a", "review")]));
    })
    .await;
}

/// The attacker opens a pull request that adds `.agentpods.yaml` naming every agent (or
/// edits the one there): the file is read at the default branch, never at the head, so
/// nothing changes until a maintainer merges it.
#[tokio::test]
async fn a_pull_request_that_changes_the_file_changes_nothing_until_it_is_merged() {
    within(60, async {
        let (fake, client) = github().await;
        put(&fake, "acme/a", DEFAULT_BRANCH, "agents: []\n");
        // The pull request's branch (the example's head is `changes`), and its head commit.
        for at in ["changes", HEAD] {
            put(&fake, "acme/a", at, "agents: [review, fix]\n");
        }
        let service = service(client, CONFIG);
        let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let reply = service
            .oneshot(&command("acme/a", "d-fix", "/agent fix it"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(started(&service), Vec::<(String, String)>::new());

        // Merged: the default branch now says it, and the next push runs the review.
        put(&fake, "acme/a", DEFAULT_BRANCH, "agents: [review, fix]\n");
        let reply = service.oneshot(&synchronized("acme/a", "d-sync")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(started(&service), pairs(&[("acme/a", "review")]));
        let refs: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.contains("/contents/"))
            .collect();
        assert!(
            refs.iter()
                .all(|r| r.contains("?ref=refs%2Fheads%2Fmaster ")),
            "read elsewhere than the default branch: {refs:#?}"
        );
    })
    .await;
}

/// A file cannot add: an agent services.yaml gives another repository only, or none at
/// all, starts nothing, and the delivery says why.
#[tokio::test]
async fn a_file_naming_an_agent_not_given_to_the_repository_starts_nothing_extra() {
    within(60, async {
        let (_fake, service) = with_file("agents: [review, b-only, deploy-prod]\n").await;
        let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(started(&service), pairs(&[("acme/a", "review")]));
        let text = reply.text();
        for agent in ["b-only", "deploy-prod"] {
            assert!(
                text.contains(&format!(
                    "agent {agent}: not started: this repository's `.agentpods.yaml` names it"
                )) && text.contains("services.yaml does not give it to this repository"),
                "{agent}: {text}"
            );
        }
    })
    .await;
}

/// Every file that does not read, or is no file, fails closed: no event starts an agent,
/// and a command is answered with `.agentpods.yaml:LINE:COL` and the problem. A missing
/// file is services.yaml alone. Nothing panics, and each read is bounded, GitHub's answer
/// to it too.
#[tokio::test]
async fn a_hostile_or_broken_file_fails_closed_and_says_where() {
    within(120, async {
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, next) in ('a'..'j').zip('b'..='j') {
            let ten = vec![format!("*{prev}"); 10].join(", ");
            laughs.push_str(&format!("{next}: &{next} [{ten}]\n"));
        }
        laughs.push_str("agents: *j\n");
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let table: Vec<(&str, Content, &str)> = vec![
            (
                "huge",
                Content::File(vec![b'#'; 2 << 20]),
                ".agentpods.yaml:1:1: the file has 2097152 bytes",
            ),
            // Attacker review 15b, A4: a 133 MB answer took `serve` from 211 to 432 MB
            // resident. Now it is read up to a bound and no further.
            (
                "an answer of 128 MiB, a file whose content runs on",
                Content::Endless {
                    bytes: 128 << 20,
                    sent: sent.clone(),
                },
                ".agentpods.yaml:1:1: the file is larger than a repository's file may be",
            ),
            (
                "large",
                Content::File(format!("agents: [{}]\n", "a, ".repeat(10_000)).into_bytes()),
                ".agentpods.yaml:1:1: the file has 30011 bytes",
            ),
            (
                "deep",
                Content::File(format!("agents: {}{}\n", "[".repeat(2000), "]".repeat(2000)).into_bytes()),
                ".agentpods.yaml:1:",
            ),
            ("billion laughs", Content::File(laughs.into_bytes()), ".agentpods.yaml:"),
            (
                "binary",
                Content::File(b"\x7fELF\x02\x01\x01\x00\x00\x00".to_vec()),
                ".agentpods.yaml:1:8: the file is not text (it holds a NUL byte)",
            ),
            (
                "not UTF-8",
                Content::File(b"agents: [r\xe9view]\n".to_vec()),
                ".agentpods.yaml:1:11: the file is not UTF-8 text (byte 0xe9)",
            ),
            (
                "a typo",
                Content::File(b"agents:\n  - review\n  - name: fix\n    event: false\n".to_vec()),
                "``.agentpods.yaml:4:5: unknown key `event`: an agent's entry may say only `name`, `events`; did you mean `events`?``",
            ),
            (
                "a key that would speak as the bot",
                Content::File(b"\"x` @admin <img src=x> #1\": []\nagents: []\n".to_vec()),
                "fixed: `` .agentpods.yaml:1:1: unknown key `x' @admin <img src=x> #1`",
            ),
            // Attacker review 15b, A2: shown as their code points (a line separator as a
            // space), not as themselves, which hide text or reorder the bot's words.
            (
                "invisible and bidi characters",
                Content::File(b"agents: [\"re\\u200Bview\\u202Ex\\u2028y\"]\n".to_vec()),
                "fixed: ``.agentpods.yaml:1:10: `re[U+200B]view[U+202E]x y` is not an agent's name",
            ),
            (
                "a symbolic link out of the repository",
                Content::Symlink("/etc/passwd".into()),
                ".agentpods.yaml:1:1: is a symlink, not a file of this repository",
            ),
            (
                "a submodule",
                Content::Submodule("https://github.com/evil/config.git".into()),
                ".agentpods.yaml:1:1: is a submodule",
            ),
            ("a folder", Content::Dir, ".agentpods.yaml:1:1: is a dir"),
            (
                "junk after a second `---`",
                Content::File(b"agents: [fix]\n---\n}junk{ [\n".to_vec()),
                ".agentpods.yaml:2:1: a second YAML document starts here",
            ),
            (
                "403",
                Content::Refused,
                ".agentpods.yaml:1:1: GitHub refused to let agentpods read the file (403)",
            ),
        ];
        for (what, content, says) in table {
            let (fake, client) = github().await;
            fake.put_content("acme/a", DEFAULT_BRANCH, FILE, content);
            let service = service(client, CONFIG);
            let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
            assert_eq!(reply.status, 200, "{what}: {}", reply.text());
            assert!(
                reply.text().contains("does not read, so no agent starts here"),
                "{what}: {}",
                reply.text()
            );
            let reply = service
                .oneshot(&command("acme/a", "d-fix", "/agent fix it"))
                .await;
            assert_eq!(reply.status, 200, "{what}: {}", reply.text());
            assert_eq!(started(&service), Vec::<(String, String)>::new(), "{what}");
            let told = replies(&fake, "acme/a");
            assert_eq!(told.len(), 1, "{what}: {told:#?}");
            assert!(
                told[0].starts_with("`/agent fix` starts nothing here")
                    && told[0].contains(says),
                "{what}: expected {says:?} in\n{}",
                told[0]
            );
            assert!(
                !told[0].contains(['\u{200B}', '\u{202E}', '\u{2028}']),
                "{what}: {:?}",
                told[0]
            );
            assert_eq!(fake.violations(), Vec::<String>::new(), "{what}");
        }
        // The endless answer's two reads, each cut off near its bound (what the
        // connection's buffers held is sent too), not 2 × 128 MiB.
        let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
        assert!(sent < 32 << 20, "{sent} bytes of the endless answers sent");
    })
    .await;
}

/// What was kept of an earlier answer is not asked for again once GitHub answered with
/// another it did not keep (attacker review 15b, A4): the file grew past what is read, and
/// the next reads are not sent with the first answer's stale ETag.
#[tokio::test]
async fn an_answer_not_kept_leaves_no_stale_etag_behind() {
    within(60, async {
        let (fake, service) = with_file("agents: [review]\n").await;
        let reply = service.oneshot(&opened("acme/a", "d-1")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let grown = format!("agents: [review]\n{}", "# a comment line\n".repeat(5_000));
        put(&fake, "acme/a", DEFAULT_BRANCH, &grown);
        for (id, body) in [("d-2", "/agent review"), ("d-3", "/agent fix it")] {
            let reply = service.oneshot(&command("acme/a", id, body)).await;
            assert_eq!(reply.status, 200, "{id}: {}", reply.text());
        }
        let told = replies(&fake, "acme/a");
        assert_eq!(told.len(), 2, "{told:#?}");
        assert!(
            told.iter()
                .all(|t| t.contains("the file is larger than a repository's file may be")),
            "{told:#?}"
        );
        let reads = |requests: Vec<String>| -> Vec<String> {
            requests
                .into_iter()
                .filter(|r| r.contains("/contents/"))
                .collect()
        };
        assert_eq!(reads(fake.requests()).len(), 3, "{:#?}", fake.requests());
        // The second read, with the first answer's ETag; the third without one.
        let conditional = reads(fake.conditional_requests());
        assert_eq!(conditional.len(), 1, "{conditional:#?}");
    })
    .await;
}

/// No file: services.yaml alone decides, as without `repository_config`.
#[tokio::test]
async fn a_repository_without_the_file_gets_what_services_yaml_gives_it() {
    within(60, async {
        let (_fake, client) = github().await;
        let service = service(client, CONFIG);
        let reply = service.oneshot(&opened("acme/b", "d-opened")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(
            started(&service),
            pairs(&[("acme/b", "b-only"), ("acme/b", "review")])
        );
    })
    .await;
}

/// A repository without the file is not asked again on every delivery: GitHub's 404 has no
/// ETag, so each read was a counted request (outside review 15c, F4: 123 in one session, 11
/// requests a comment run). It is believed absent for five minutes, or until a push to the
/// repository, which may have added it: the push's delivery forgets it, and the next
/// delivery reads the file the push brought.
#[tokio::test]
async fn a_repository_without_the_file_is_asked_once_until_a_push() {
    within(60, async {
        let (fake, client) = github().await;
        let service = service(client, CONFIG);
        let reads = || {
            fake.requests()
                .into_iter()
                .filter(|r| r.contains("/repos/acme/b/contents/"))
                .count()
        };
        for (id, body) in [("d-b-1", "/agent fix one"), ("d-b-2", "/agent fix two")] {
            let reply = service.oneshot(&command("acme/b", id, body)).await;
            assert_eq!(reply.status, 202, "{}", reply.text());
        }
        assert_eq!(reads(), 1, "{:#?}", fake.requests());

        // A push brings a file that turns `fix` off there.
        put(&fake, "acme/b", DEFAULT_BRANCH, "agents: [review]\n");
        let push = Post::delivery(
            "push",
            "d-b-push",
            moved(&fixture("push/0.json"), "acme/b", None),
        );
        let reply = service.oneshot(&push).await;
        assert!(reply.status < 500, "{}", reply.text());
        let reply = service
            .oneshot(&command("acme/b", "d-b-3", "/agent fix three"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reads(), 2, "{:#?}", fake.requests());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// GitHub failing is not the repository's fault: the delivery answers 503, starts
/// nothing, and is decided when it comes again.
#[tokio::test]
async fn github_failing_to_answer_makes_the_delivery_wait() {
    within(60, async {
        let (fake, client) = github().await;
        put(&fake, "acme/a", DEFAULT_BRANCH, "agents: [review]\n");
        fake.fail_next(5, Some(("GET", "/contents/")), FaultKind::BadGateway);
        let service = service(client, CONFIG);
        let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert!(
            json(&reply)["error"]
                .as_str()
                .is_some_and(|e| e.contains("`.agentpods.yaml` on its default branch")),
            "{}",
            reply.text()
        );
        assert_eq!(started(&service), Vec::<(String, String)>::new());
        let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(started(&service), pairs(&[("acme/a", "review")]));
    })
    .await;
}

/// Without `repository_config`, no repository's file is read, whatever it says.
#[tokio::test]
async fn without_the_opt_in_no_file_is_read() {
    within(60, async {
        let (fake, client) = github().await;
        put(&fake, "acme/a", DEFAULT_BRANCH, "agents: []\n");
        let service = service(client, &CONFIG.replace("repository_config: {}\n", ""));
        let reply = service.oneshot(&opened("acme/a", "d-opened")).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        assert_eq!(started(&service), pairs(&[("acme/a", "review")]));
        assert!(
            !fake.requests().iter().any(|r| r.contains("/contents/")),
            "{:#?}",
            fake.requests()
        );
    })
    .await;
}

/// `repository_config` is strict: a path that leaves the repository, or a misspelt key,
/// is refused at its line and column.
#[test]
fn repository_config_is_checked_where_it_is_written() {
    let check = |block: &str| -> String {
        let text = CONFIG.replace("repository_config: {}\n", block);
        let templates = [(
            "agent-pod.yaml".to_string(),
            "kind: ConfigMap\n".to_string(),
        )]
        .into();
        match agentpods::config::parse(&text, "services.yaml", templates) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(check("repository_config: {}\n"), "ok");
    assert_eq!(
        check("repository_config: {path: .github/agentpods.yaml}\n"),
        "ok"
    );
    for (block, says) in [
        (
            "repository_config: {path: ../secrets.yaml}\n",
            "services.yaml:12:27: repository_config.path",
        ),
        (
            "repository_config: {path: /etc/passwd}\n",
            "services.yaml:12:27: repository_config.path",
        ),
        (
            "repository_config: {path: \"a/../../b\"}\n",
            "services.yaml:12:27: repository_config.path",
        ),
        (
            "repository_config: {paht: .agentpods.yaml}\n",
            "services.yaml:12:21: ",
        ),
    ] {
        let found = check(block);
        assert!(found.starts_with(says), "{block}: {found}");
    }
    assert!(
        check("repository_config: {paht: .agentpods.yaml}\n").contains("path"),
        "a did-you-mean"
    );
}

/// The story: a repository's maintainers turn the review off in `.agentpods.yaml`; a pull
/// request opened gets no review. Its author's pull request turns it on again in the file:
/// still nothing, at its opening or at its next push. A maintainer merges the change to the
/// default branch: the next push is reviewed.
#[tokio::test]
async fn the_review_turned_off_by_the_repository_stays_off_until_a_change_is_merged() {
    within(60, async {
        let s = Scenario::new()
            .config("\nagents:\n", "\nrepository_config: {}\nagents:\n")
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        s.gh.merge_file(FILE, "agents: [task]\n");

        let (_, opened) = s.gh.open_pull_request(PullRequest::new(3)).await;
        assert!(opened.runs().is_empty(), "{}", opened.json());
        assert!(
            opened.json().to_string().contains(
                "agent review: not started: this repository's `.agentpods.yaml` does not name it"
            ),
            "{}",
            opened.json()
        );

        let (pr, proposed) =
            s.gh.open_pull_request(PullRequest::new(4).changing(&[FILE]))
                .await;
        assert!(proposed.runs().is_empty(), "{}", proposed.json());
        s.gh.change_file(pr, FILE, "agents: [review, task]\n");
        let pushed =
            s.gh.push(pr, "0123456789abcdef0123456789abcdef01234567")
                .await;
        assert!(pushed.runs().is_empty(), "{}", pushed.json());

        s.gh.merge_file(FILE, "agents: [review, task]\n");
        let merged =
            s.gh.push(pr, "89abcdef0123456789abcdef0123456789abcdef")
                .await;
        assert!(
            merged.expect_status(202).run().starts_with("review-"),
            "{}",
            merged.json()
        );
        s.end();
    })
    .await;
}

/// A maintainer checks the file before merging it: `validate --repository-config FILE
/// --repository OWNER/NAME` prints each problem at FILE:LINE:COL, a name services.yaml does
/// not give the repository among them, and which agents would run there.
#[test]
fn a_maintainer_checks_the_file_before_merging_it() {
    let dir = tempfile::tempdir().expect("a folder");
    let config = dir.path().join("services.yaml");
    std::fs::write(&config, CONFIG).expect("write services.yaml");
    std::fs::create_dir(dir.path().join("templates")).expect("templates");
    for name in ["agent-pod.yaml", "comment.md"] {
        let shipped = format!("{}/templates/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(shipped, dir.path().join("templates").join(name)).expect("a template");
    }
    let validate = |text: &str, repository: &str| -> (bool, String) {
        let own = dir.path().join(".agentpods.yaml");
        std::fs::write(&own, text).expect("write the file");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .arg("validate")
            .arg(&config)
            .arg("--repository-config")
            .arg(&own)
            .arg("--repository")
            .arg(repository)
            .output()
            .expect("run agentpods");
        let text =
            String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", dir.path().display()), "");
        (out.status.success(), text)
    };
    let (ok, said) = validate("agents:\n  - name: review\n    events: false\n", "acme/a");
    assert!(ok, "{said}");
    for line in [
        "acme/a: review: runs by its comment verbs only (`events: false`)",
        "acme/a: fix: does not run (not named)",
        ".agentpods.yaml: ok for acme/a",
    ] {
        assert!(said.contains(line), "{line:?} in\n{said}");
    }
    assert!(!said.contains("acme/a: b-only"), "{said}");
    let (ok, said) = validate("agents: [review, b-only]\n", "acme/a");
    assert!(!ok, "{said}");
    assert!(
        said.contains(".agentpods.yaml:1:18: agent `b-only` is not one services.yaml gives acme/a (it gives `review`, `fix`): naming it adds nothing"),
        "{said}"
    );
    // New-user review 13f, N11: a misspelt name gets the one likely meant and what it
    // costs (the agent meant does not run), and comes with the file's other problems.
    let (ok, said) = validate("agents:\n  - reveiw\n  - fix\n", "acme/a");
    assert!(!ok, "{said}");
    assert!(
        said.contains(".agentpods.yaml:2:5: agent `reveiw` is not one services.yaml gives acme/a (it gives `review`, `fix`), did you mean `review`? Naming it adds nothing, and `review`, which the file does not name, does not run there"),
        "{said}"
    );
    let (ok, said) = validate(
        "agents:\n  - reveiw\n  - name: fix\n    event: false\n",
        "acme/a",
    );
    assert!(!ok, "{said}");
    assert_eq!(
        said.lines()
            .filter(|l| !l.starts_with("services.yaml"))
            .collect::<Vec<_>>(),
        [
            ".agentpods.yaml:2:5: agent `reveiw` is not one services.yaml gives acme/a (it gives `review`, `fix`), did you mean `review`? Naming it adds nothing, and `review`, which the file does not name, does not run there",
            ".agentpods.yaml:4:5: unknown key `event`: an agent's entry may say only `name`, `events`; did you mean `events`?",
            "2 problems found: the service would start no agent in acme/a (a file that does not read fails closed)",
        ],
        "{said}"
    );
    let (ok, said) = validate("agents: [review]\nimage: evil\n", "acme/b");
    assert!(!ok, "{said}");
    assert!(
        said.contains(".agentpods.yaml:2:1: unknown key `image`")
            && said.contains("the service would start no agent in acme/b"),
        "{said}"
    );
    // Nothing after the first document passes unread (attacker review 15b, A3).
    let (ok, said) = validate("agents: [review]\n---\n}junk{ [\n", "acme/a");
    assert!(!ok, "{said}");
    assert!(
        said.contains(".agentpods.yaml:2:1: a second YAML document starts here"),
        "{said}"
    );
    let (ok, said) = validate("agents: []\n", "acme/*");
    assert!(!ok && said.contains("expected one repository"), "{said}");
}

/// A maintainer's `approve` of a fork's head starts the agents the repository's file
/// names there, and only those: the file is read for the approval's launches too.
#[tokio::test]
async fn an_approval_starts_only_the_agents_the_repository_s_file_names() {
    within(60, async {
        let s = Scenario::new()
            .config("\nagents:\n", "\nrepository_config: {}\nagents:\n")
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        s.gh.set_role("forker", "read");
        s.gh.merge_file(FILE, "agents: [review]\n");
        let head = "d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7d7";
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(6).in_fork("forker").at(head))
                .await;
        assert!(opened.runs().is_empty(), "{}", opened.json());
        let approved = s.gh.comment(pr, &format!("/agent approve {head}")).await;
        let runs = approved.expect_status(202).runs();
        assert_eq!(runs.len(), 1, "{}", approved.json());
        assert!(runs[0].starts_with("review-"), "{runs:?}");

        s.gh.merge_file(FILE, "agents: [task]\n");
        let (pr, _) =
            s.gh.open_pull_request(PullRequest::new(7).in_fork("forker").at(head))
                .await;
        let approved = s.gh.comment(pr, &format!("/agent approve {head}")).await;
        assert!(approved.runs().is_empty(), "{}", approved.json());
        assert!(
            approved
                .json()
                .to_string()
                .contains("`.agentpods.yaml` does not name it"),
            "{}",
            approved.json()
        );
        s.end();
    })
    .await;
}

/// A retry or a Re-run is judged by the file as a new event is (attacker review 15b, A5;
/// before, a writer could run again an agent the maintainers had turned off): the review
/// runs and fails, the maintainers turn it off in `.agentpods.yaml`, and neither
/// `/agent retry` nor GitHub's "Re-run" on its check run runs it again. Each is told why in
/// the words a new command is told. Named again, it runs again.
#[tokio::test]
async fn a_retry_or_a_rerun_of_an_agent_the_file_turned_off_runs_nothing() {
    within(120, async {
        let s = Scenario::new()
            .config("\nagents:\n", "\nrepository_config: {}\nagents:\n")
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        s.gh.merge_file(FILE, "agents: [review, task]\n");
        let (pr, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let first = opened.expect_status(202).run();
        s.cluster.pod_fails(&first, 1).await;
        s.cluster.expect_reported(&first, Phase::Failed).await;

        s.gh.merge_file(FILE, "agents: [task]\n");
        let said = "does not start agent `review` here: this repository's `.agentpods.yaml` \
                    does not name it, so it does not run here (the file on `master`, the \
                    repository's default branch, counts: a change to it counts once merged there)";
        let retry = s.gh.comment(pr, "/agent retry").await;
        assert!(retry.runs().is_empty(), "{}", retry.json());
        let told: Vec<String> = s.gh.replies(pr).into_iter().map(|c| c.body).collect();
        assert!(told.iter().any(|t| t.contains(said)), "{told:#?}");

        let check = s.gh.fake.check_runs()[0].id;
        let rerun = s.gh.rerun_check(OWNER, check).await;
        assert!(rerun.runs().is_empty(), "{}", rerun.json());
        let checks = s.gh.fake.check_runs();
        assert!(
            checks
                .iter()
                .any(|c| c.summary.as_deref().is_some_and(|t| t.contains(said))),
            "{checks:#?}"
        );
        assert_eq!(s.cluster.runs().await.len(), 1, "nothing ran again");

        s.gh.merge_file(FILE, "agents: [review, task]\n");
        let retry = s.gh.comment(pr, "/agent retry").await;
        assert_eq!(retry.expect_status(202).runs().len(), 1, "{}", retry.json());
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_of_140_repositories_reads_them_again_with_etags() {
    // Review 15d, D3: the answers kept for conditional reads were 128, all dropped when
    // full, so past about 40 repositories every command's permission, head and file reads
    // were counted again: with 140, the second command in each repository made 560
    // counted requests and no 304.
    use crate::scenario::Pr;
    let s = Scenario::new()
        .config(
            "project: agentpods-demo",
            "project: agentpods-demo\nrepository_config: {}",
        )
        .start()
        .await;
    let mut repos = Vec::new();
    for i in 0..140 {
        let repo = s.gh.another_repository(&format!("repo-{i}"));
        s.gh.fake.set_role(&repo, OWNER, "admin");
        s.gh.fake.put_content(
            &repo,
            "master",
            ".agentpods.yaml",
            Content::File(b"agents: [task]\n".to_vec()),
        );
        repos.push(repo);
    }
    let mut rounds = Vec::new();
    for round in 1..=2 {
        let before = s.gh.fake.requests().len();
        for repo in &repos {
            let asked =
                s.gh.comment_in(repo, OWNER, Pr(round), "/agent run x")
                    .await;
            asked.expect_status(202);
        }
        let requests = s.gh.fake.requests()[before..].to_vec();
        let unchanged = requests.iter().filter(|r| r.ends_with("-> 304")).count();
        rounds.push((requests.len(), unchanged));
    }
    // The second round: the permission and the file read again, each answered 304 (the
    // pull request's head is another issue's, and the reaction a write).
    let (all, unchanged) = rounds[1];
    assert!(
        unchanged >= 2 * 140,
        "{unchanged} of {all} answered 304: {rounds:?}"
    );
}
