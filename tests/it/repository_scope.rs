//! One installation, three repositories, two teams (issue 15): an agent limited to
//! `acme/a` with `repositories:` runs there and never for `acme/b` or `other/c` (not by a
//! pull request, not by a command), a command naming it elsewhere is answered as a verb
//! nobody answers to there, and the secret limited to `acme/a` never reaches a pod of
//! another repository, even when the config changes under a run already asked for.

use crate::support;

use std::path::{Path, PathBuf};

use agentpods::agentrun::Phase;
use support::cluster::Cluster;
use support::fake_github::{FakeGithub, manual_clock};
use support::fixtures::{Payload, fixture, moved, variant};
use support::server::{Post, TestService, Workdir, within};

const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/// The repositories of the installation.
const REPOSITORIES: [&str; 3] = ["acme/a", "acme/b", "other/c"];

/// Team A's key: its Kubernetes Secret's name appears in a pod that gets it.
const TEAM_A_SECRET: &str = "team-a-model-key";

/// Team A's agents and key, and one review agent for everyone with the shared key.
const CONFIG: &str = r#"
project: scoped
cluster:
  namespace: agentpods-runs
images:
  agent: ghcr.io/agentpods/agent:0.1.0
secrets:
  team-a:
    name: team-a-model-key
    key: api-key
    env: OPENAI_API_KEY
    repositories: ["acme/a"]
  shared:
    name: openai-api-key
    key: api-key
    env: OPENAI_API_KEY
agents:
  - name: a-review
    repositories: ["acme/a"]
    secrets: [team-a]
    triggers:
      pull_request: {}
  - name: a-fix
    description: team A's fixer
    repositories: ["acme/a"]
    secrets: [team-a]
    triggers:
      comment: {verbs: [fix]}
  - name: review
    secrets: [shared]
    triggers:
      pull_request: {}
"#;

/// A work folder holding [`CONFIG`] (and the example templates).
fn workdir(config: &str) -> Workdir {
    let work = Workdir::new();
    std::fs::write(work.config(), config).expect("write services.yaml");
    work
}

/// The fake GitHub with the App installed on every repository, each with pull request #1
/// (for the comment fixture's #1 as well) and `Codertocat` an admin of it.
async fn github() -> FakeGithub {
    let fake = FakeGithub::start(manual_clock()).await;
    for repository in REPOSITORIES {
        fake.install(repository, 77);
        fake.set_role(repository, "Codertocat", "admin");
        for number in [1, 2] {
            fake.add_pull(repository, number, HEAD, repository);
        }
    }
    fake
}

/// The manifests the service wrote, each with the repository its run is about.
fn manifests_by_repository(work: &Workdir) -> Vec<(String, String)> {
    work.manifests()
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(work.manifests_dir().join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let repository = REPOSITORIES
                .into_iter()
                .find(|r| text.contains(&format!("agentpods.dev/repository: {r}\n")))
                .unwrap_or_else(|| panic!("{file} names none of the repositories:\n{text}"));
            (repository.to_string(), text)
        })
        .collect()
}

/// The agent of a run's manifests.
fn agent_of(manifest: &str) -> &str {
    manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("agentpods.dev/agent: "))
        .unwrap_or("?")
}

#[tokio::test]
async fn team_as_agents_and_key_serve_acme_a_and_no_other_repository() {
    within(60, async {
        let fake = github().await;
        let client = std::sync::Arc::try_unwrap(fake.app_client(manual_clock()))
            .unwrap_or_else(|_| panic!("a fresh client"));
        let service = TestService::with_github_on(client, |work| {
            std::fs::write(work.config(), CONFIG).expect("write services.yaml");
        });

        // A pull request opened in each repository: team A's review only in acme/a, the
        // shared review everywhere.
        let opened = fixture("pull_request/opened.json");
        for repository in REPOSITORIES {
            let post = Post::delivery(
                "pull_request",
                &format!("d-opened-{}", repository.replace('/', "-")),
                moved(&opened, repository, None),
            );
            let reply = service.oneshot(&post).await;
            assert_eq!(reply.status, 202, "{repository}: {}", reply.text());
        }

        // `/agent fix` in each: team A's fixer in acme/a; elsewhere `fix` is unknown.
        let command = variant("issue_comment/run-on-pull-request.json");
        for repository in REPOSITORIES {
            let post = Post::delivery(
                "issue_comment",
                &format!("d-fix-{}", repository.replace('/', "-")),
                moved(&command, repository, Some("/agent fix the flaky test")),
            );
            let reply = service.oneshot(&post).await;
            let expected = if repository == "acme/a" { 202 } else { 200 };
            assert_eq!(reply.status, expected, "{repository}: {}", reply.text());
        }

        let mut started: Vec<(String, String)> = manifests_by_repository(&service.work)
            .iter()
            .map(|(repository, text)| (repository.clone(), agent_of(text).to_string()))
            .collect();
        started.sort();
        let expected: Vec<(String, String)> = [
            ("acme/a", "a-fix"),
            ("acme/a", "a-review"),
            ("acme/a", "review"),
            ("acme/b", "review"),
            ("other/c", "review"),
        ]
        .iter()
        .map(|(r, a)| (r.to_string(), a.to_string()))
        .collect();
        assert_eq!(started, expected);

        // Team A's key is in its runs, and in no run of another repository.
        for (repository, text) in manifests_by_repository(&service.work) {
            let has_key = text.contains(TEAM_A_SECRET);
            let team_a = agent_of(&text).starts_with("a-");
            assert_eq!(
                has_key,
                team_a,
                "{repository}, agent {}: team A's key {}",
                agent_of(&text),
                if has_key { "reached it" } else { "is missing" }
            );
            if repository != "acme/a" {
                assert!(!has_key, "{repository} got team A's key:\n{text}");
            }
        }

        // The command elsewhere is answered as a verb nobody answers to there.
        for repository in ["acme/b", "other/c"] {
            let replies: Vec<String> = fake
                .comments()
                .into_iter()
                .filter(|c| c.repo == repository)
                .map(|c| c.body)
                .collect();
            assert_eq!(replies.len(), 1, "{repository}: {replies:#?}");
            assert!(
                replies[0].contains("unknown command `fix`"),
                "{repository}: {}",
                replies[0]
            );
        }
        assert!(
            fake.comments().iter().all(|c| c.repo != "acme/a"),
            "no reply to an accepted command in acme/a: {:#?}",
            fake.comments()
        );

        // `help` in acme/b lists no verb of team A's; in acme/a it does.
        for (repository, lists_fix) in [("acme/b", false), ("acme/a", true)] {
            let post = Post::delivery(
                "issue_comment",
                &format!("d-help-{}", repository.replace('/', "-")),
                moved(&command, repository, Some("/agent help")),
            );
            let reply = service.oneshot(&post).await;
            assert!(reply.status < 300, "{repository}: {}", reply.text());
            let help = fake
                .comments()
                .into_iter()
                .rfind(|c| c.repo == repository)
                .map(|c| c.body)
                .unwrap_or_default();
            assert!(help.contains("/agent status"), "{repository}: {help}");
            // No agent of this config answers `run`: the help does not offer it.
            assert!(!help.contains("/agent run"), "{repository}: {help}");
            assert_eq!(
                help.contains("/agent fix") || help.contains("team A"),
                lists_fix,
                "{repository}: {help}"
            );
        }
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

/// The services.yaml of a cluster scenario, in its own folder with the example templates.
fn cluster_workdir() -> (Workdir, PathBuf) {
    let work = workdir(CONFIG);
    let config = work.config();
    (work, config)
}

/// A payload file of its own for `repository`, in `dir`.
fn payload_for(dir: &Path, payload: &Payload, repository: &str) -> Payload {
    let path = dir.join(format!(
        "{}-{}",
        repository.replace('/', "-"),
        payload.name.replace('/', "-")
    ));
    std::fs::write(&path, moved(payload, repository, None)).expect("write the payload");
    Payload {
        event: payload.event.clone(),
        name: format!("{} in {repository}", payload.name),
        path,
    }
}

#[tokio::test]
async fn a_run_asked_for_before_the_config_left_its_repository_out_gets_no_pod() {
    within(120, async {
        let (work, config) = cluster_workdir();
        let mut cluster = Cluster::with_config(&config).await;
        let opened = payload_for(
            work.dir.path(),
            &fixture("pull_request/opened.json"),
            "acme/a",
        );
        // Recorded while team A's review runs for acme/a; its pod not made yet.
        let runs = cluster.deliver(&opened, "d-before").await;
        let a_review = runs
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| name.starts_with("a-review-"))
            .unwrap_or_else(|| panic!("team A's review was recorded: {runs:?}"));
        let shared = runs
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| name.starts_with("review-"))
            .unwrap_or_else(|| panic!("the shared review was recorded: {runs:?}"));

        // Then team A's agents and key move to acme/z, and the controller starts.
        let moved_away = CONFIG.replace(r#"["acme/a"]"#, r#"["acme/z"]"#);
        std::fs::write(&config, moved_away).expect("rewrite services.yaml");
        cluster.config.reload().expect("the new config loads");
        cluster.start_controller();

        let failed = cluster.wait_phase(&a_review, Phase::Failed).await;
        let message = failed
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        assert!(
            message.contains("does not run for acme/a"),
            "the run says why: {message}"
        );
        assert!(
            cluster.pods_of(&a_review).await.is_empty(),
            "no pod for a run its agent no longer serves"
        );
        // The shared review, for every repository, runs as before, without team A's key.
        cluster
            .wait_for(&shared, "its pod", |r| {
                r.and_then(Cluster::phase_of)
                    .is_some_and(|p| p != Phase::Failed)
            })
            .await;
        let deadline = tokio::time::Instant::now() + support::cluster::PATIENCE;
        let pods = loop {
            let pods = cluster.pods_of(&shared).await;
            if !pods.is_empty() || tokio::time::Instant::now() > deadline {
                break pods;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        };
        assert_eq!(pods.len(), 1, "the shared review's pod");
        let pod = serde_json::to_string(&pods[0]).expect("JSON");
        assert!(!pod.contains(TEAM_A_SECRET), "{pod}");
        cluster.stop_controller().await;
    })
    .await;
}

#[tokio::test]
async fn a_person_allowed_in_one_team_s_repositories_starts_nothing_in_another_s() {
    // Issue 15, item 2 (review 15d, D6): authorization restricted to repositories.
    // `allowed_users` holds in every repository of the installation, so a team's helper
    // (a bot, a contractor) listed for their repositories could start agents in every
    // other team's. `allowed_in` lists them for some repositories only.
    use crate::scenario::{Pr, Scenario};
    let s = Scenario::new()
        .config(
            "    allowed_users: []\n",
            "    allowed_users: []\n    allowed_in:\n      - repositories: [\"Codertocat/Hello-*\"]\n        users: [helper]\n",
        )
        .start()
        .await;
    s.gh.set_role("helper", "read");
    let other = s.gh.another_repository("Other-World");
    s.gh.fake.set_role(&other, "helper", "read");

    // In the repository their entry takes in, the helper's command starts the task agent.
    let here =
        s.gh.comment_as("helper", Pr(7), "/agent run fix the flaky test")
            .await;
    assert_eq!(here.expect_status(202).runs().len(), 1);

    // In another team's repository, they are a reader like any other: refused.
    let there =
        s.gh.comment_in(&other, "helper", Pr(1), "/agent run fix it")
            .await;
    there.expect_status(200);
    assert!(there.runs().is_empty(), "{}", there.reply.text());
    assert!(
        there.reply.text().contains("refused"),
        "{}",
        there.reply.text()
    );
}
