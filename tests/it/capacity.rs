//! Capacity (issue 15, item 3): services.yaml's `limits` against the real controller on the
//! fake API server. Runs beyond a limit wait Queued, start as soon as a place frees (the
//! controller is told, not left to its next look: its requeue here is an hour), a place
//! that frees goes to the repositories in turn (in request order within one), and a
//! repository at its limit or with a backlog never holds back another.

use crate::scenario::{Delivered, OWNER, Pr, PullRequest, Scenario, Story, starts_with};
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agentpods::agentrun::{AgentRun, Phase};
use agentpods::cluster::controller::ControllerOptions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use support::cluster::{Cluster, RUNS, renamed_run, sample_run};
use support::fake_kube::PodScript;
use support::fixtures::EXAMPLE_CONFIG;

const RESULT: &str = r#"{"conclusion":"success","summary":"done"}"#;

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(150), f)
        .await
        .expect("the scenario finished within 150 seconds")
}

/// The example services.yaml with `limits` added, in a folder of its own.
fn config_with(limits: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let example = std::fs::read_to_string(EXAMPLE_CONFIG).expect("the example config");
    let templates = Path::new(EXAMPLE_CONFIG)
        .parent()
        .expect("the repository")
        .join("templates");
    let text = format!(
        "{example}\ntemplates_dir: {}\nlimits: {limits}\n",
        templates.display()
    );
    let path = dir.path().join("services.yaml");
    std::fs::write(&path, text).expect("write services.yaml");
    (dir, path)
}

/// A cluster with these limits and a kubelet that keeps every pod running until the story
/// ends it; the controller would look again on its own only after an hour.
async fn cluster_with(limits: &str) -> (Cluster, tempfile::TempDir) {
    let (dir, path) = config_with(limits);
    let mut cluster = Cluster::on(&path, Timestamp::now()).await;
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    start(&mut cluster);
    (cluster, dir)
}

fn start(cluster: &mut Cluster) {
    let options = ControllerOptions {
        max_requeue: Duration::from_secs(3600),
        ..cluster.controller_options()
    };
    cluster.start_controller_with(options);
}

/// A run for `repository` asked for at second `at` of the story (as the intake records a
/// pull request's review; named `name`, in no concurrency group).
async fn command(cluster: &Cluster, name: &str, repository: &str, at: u32) {
    command_as(cluster, name, repository, at, |_| {}).await;
}

/// [`command`], the run as `change` leaves it.
async fn command_as(
    cluster: &Cluster,
    name: &str,
    repository: &str,
    at: u32,
    change: impl FnOnce(&mut AgentRun),
) {
    let mut run = renamed_run(&sample_run("pull_request/opened.json"), name);
    run.spec.repository = repository.to_string();
    let at: Timestamp = format!("2026-12-03T10:00:{at:02}Z")
        .parse()
        .expect("a time");
    run.spec.requested_at = Some(MicroTime(at));
    change(&mut run);
    cluster
        .runs()
        .create(&PostParams::default(), &run)
        .await
        .unwrap_or_else(|e| panic!("record {name}: {e}"));
}

/// [`command`], and the run starts.
async fn started(cluster: &Cluster, name: &str, repository: &str, at: u32) {
    command(cluster, name, repository, at).await;
    cluster.wait_phase(name, Phase::Running).await;
}

async fn ends(cluster: &Cluster, name: &str) {
    assert!(
        cluster
            .fake
            .finish_pod(RUNS, name, &PodScript::succeeds(RESULT)),
        "{name} has a pod to end"
    );
    cluster.wait_phase(name, Phase::Succeeded).await;
}

fn message(run: &AgentRun) -> String {
    run.status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

async fn phase(cluster: &Cluster, name: &str) -> Option<Phase> {
    cluster.run(name).await.as_ref().and_then(Cluster::phase_of)
}

/// `agentpods runs list` as an operator runs it (off the runtime that serves the fake).
async fn runs_list(cluster: &Cluster) -> String {
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = cluster.fake.kubeconfig(dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentpods"));
    command
        .args(["runs", "list", "-n", RUNS, "-o", "wide"])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("agentpods ran")
        .expect("run agentpods runs list");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line_of<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in\n{table}"))
}

#[tokio::test]
async fn with_one_run_per_repository_the_fourth_command_waits_for_its_repository_only() {
    timed(async {
        let (cluster, _dir) = cluster_with("{ per_repository: 1 }").await;

        // One command in each of three repositories: all three run.
        command(&cluster, "a1", "org/a", 1).await;
        command(&cluster, "b1", "org/b", 2).await;
        command(&cluster, "c1", "org/c", 3).await;
        for name in ["a1", "b1", "c1"] {
            cluster.wait_phase(name, Phase::Running).await;
        }

        // The fourth, on org/a, waits, and says why; so does a fifth behind it.
        command(&cluster, "a2", "org/a", 4).await;
        let a2 = cluster.wait_phase("a2", Phase::Queued).await;
        assert_eq!(message(&a2), "queued: 0 ahead (limit: 1 running in org/a)");
        command(&cluster, "a3", "org/a", 5).await;
        let a3 = cluster.wait_phase("a3", Phase::Queued).await;
        assert_eq!(message(&a3), "queued: 1 ahead (limit: 1 running in org/a)");
        assert!(cluster.pods_of("a2").await.is_empty());

        // Other repositories are not held back by org/a's queue: b2, asked for after a2 and
        // a3, waits only for b1, and starts when b1 ends while org/a's runs still wait.
        command(&cluster, "b2", "org/b", 6).await;
        cluster.wait_phase("b2", Phase::Queued).await;
        ends(&cluster, "b1").await;
        cluster.wait_phase("b2", Phase::Running).await;
        command(&cluster, "c2", "org/c", 7).await;
        cluster.wait_phase("c2", Phase::Queued).await;
        ends(&cluster, "c1").await;
        cluster.wait_phase("c2", Phase::Running).await;
        assert_eq!(phase(&cluster, "a2").await, Some(Phase::Queued));
        assert_eq!(phase(&cluster, "a3").await, Some(Phase::Queued));

        // `runs list` shows where each waiting run stands.
        let table = runs_list(&cluster).await;
        assert!(
            line_of(&table, "a2").contains("Queued")
                && line_of(&table, "a2").contains("queued: 0 ahead (limit: 1 running in org/a)"),
            "{table}"
        );
        assert!(
            line_of(&table, "a3").contains("queued: 1 ahead (limit: 1 running in org/a)"),
            "{table}"
        );

        // The first on org/a ends: the next starts at once (woken, not at a later look).
        let freed = Instant::now();
        ends(&cluster, "a1").await;
        cluster.wait_phase("a2", Phase::Running).await;
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "a2 started {:?} after a1 ended",
            freed.elapsed()
        );
        assert_eq!(phase(&cluster, "a3").await, Some(Phase::Queued));

        // runs list moves a3 up; its stored message is not rewritten for that.
        let table = runs_list(&cluster).await;
        assert!(
            line_of(&table, "a3").contains("queued: 0 ahead (limit: 1 running in org/a)"),
            "{table}"
        );

        // A waiting run cancelled leaves the queue at once, without ever getting a pod.
        cluster
            .runs()
            .patch(
                "a3",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"cancel": "stopped by @octocat"}})),
            )
            .await
            .expect("request the cancel");
        cluster.wait_phase("a3", Phase::Cancelled).await;
        assert!(cluster.pods_of("a3").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_running_limit_starts_runs_in_request_order_across_repositories_and_a_restart_keeps_it()
{
    timed(async {
        let (mut cluster, _dir) = cluster_with("{ running: 1 }").await;
        command(&cluster, "first", "org/a", 1).await;
        cluster.wait_phase("first", Phase::Running).await;

        // Recorded in another order than they were asked for (as by two replicas of the
        // intake): among repositories not served yet, the queue goes by the request time.
        command(&cluster, "third", "org/c", 30).await;
        command(&cluster, "second", "org/b", 20).await;
        command(&cluster, "fourth", "org/a", 40).await;
        for name in ["second", "third", "fourth"] {
            cluster.wait_phase(name, Phase::Queued).await;
        }
        assert_eq!(
            message(&cluster.run("fourth").await.expect("fourth")),
            "queued: 0 ahead in this repository (limit: 1 running)"
        );

        ends(&cluster, "first").await;
        cluster.wait_phase("second", Phase::Running).await;
        assert_eq!(phase(&cluster, "third").await, Some(Phase::Queued));

        // The controller restarts while runs wait; second ends meanwhile. The order comes
        // from the runs themselves: third starts, not fourth.
        cluster.stop_controller().await;
        assert!(
            cluster
                .fake
                .finish_pod(RUNS, "second", &PodScript::succeeds(RESULT))
        );
        start(&mut cluster);
        cluster.wait_phase("second", Phase::Succeeded).await;
        cluster.wait_phase("third", Phase::Running).await;
        assert_eq!(phase(&cluster, "fourth").await, Some(Phase::Queued));
        assert!(cluster.pods_of("fourth").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn runs_recorded_all_at_once_never_take_more_places_than_the_limit() {
    timed(async {
        let (_dir, path) = config_with("{ per_repository: 2 }");
        let mut cluster = Cluster::on(&path, Timestamp::now()).await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        // Eight recorded before the controller starts: it lists them all at once and
        // reconciles them side by side, each from a store that shows no launch yet (the
        // queue gives the earlier runs their places whether their launch shows or not).
        let names: Vec<String> = (0..8).map(|i| format!("burst-{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            command(&cluster, name, "org/a", 10 + i as u32).await;
        }
        start(&mut cluster);
        for name in &names[..2] {
            cluster.wait_phase(name, Phase::Running).await;
        }
        for name in &names[2..] {
            cluster.wait_phase(name, Phase::Queued).await;
        }
        // Let any reconcile still in flight land.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pods = cluster
            .pods()
            .list(&Default::default())
            .await
            .expect("pods");
        assert_eq!(pods.items.len(), 2, "two places, two pods");

        // One ends: exactly the next in order takes its place.
        ends(&cluster, "burst-0").await;
        cluster.wait_phase("burst-2", Phase::Running).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for name in &names[3..] {
            assert_eq!(phase(&cluster, name).await, Some(Phase::Queued), "{name}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_repository_with_a_backlog_takes_one_freed_place_in_turn_not_every_one() {
    // Review 15b, B3: the writers of two repositories each keep a backlog of five behind
    // their running run, asked for before another repository's one command. Before, the
    // queue went by request time across repositories: every freed place went to the
    // backlogs, and the victim waited for all ten of them.
    timed(async {
        let (cluster, _dir) = cluster_with("{ running: 2, per_repository: 1 }").await;
        started(&cluster, "x1-0", "org/x1", 1).await;
        started(&cluster, "x2-0", "org/x2", 2).await;
        for i in 1..=5u32 {
            command(&cluster, &format!("x1-{i}"), "org/x1", 2 + 2 * i).await;
            command(&cluster, &format!("x2-{i}"), "org/x2", 3 + 2 * i).await;
        }
        command(&cluster, "victim", "org/victim", 30).await;
        cluster.wait_phase("victim", Phase::Queued).await;

        // The first place that frees is the victim's.
        ends(&cluster, "x1-0").await;
        cluster.wait_phase("victim", Phase::Running).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for i in 1..=5 {
            for repo in ["x1", "x2"] {
                let name = format!("{repo}-{i}");
                assert_eq!(phase(&cluster, &name).await, Some(Phase::Queued), "{name}");
            }
        }

        // Then the backlogs take turns: x2's run ends, and x1 (served longer ago) goes next.
        ends(&cluster, "x2-0").await;
        cluster.wait_phase("x1-1", Phase::Running).await;
        assert_eq!(phase(&cluster, "x2-1").await, Some(Phase::Queued));
    })
    .await;
}

#[tokio::test]
async fn a_waiting_run_is_told_only_its_own_repositorys_runs_ahead() {
    // Review 15b, B6: the queued message reaches a public repository's check runs. Before,
    // held by the running limit it counted every repository's waiting runs ("queued: 3
    // ahead"), telling a stranger how busy private repositories were, and wrongly so once
    // places go to repositories in turn.
    timed(async {
        let (cluster, _dir) = cluster_with("{ running: 1 }").await;
        started(&cluster, "p0", "org/private", 1).await;
        for i in 1..=3u32 {
            command(&cluster, &format!("p{i}"), "org/private", 1 + i).await;
        }
        command(&cluster, "pub1", "org/public", 10).await;
        command(&cluster, "pub2", "org/public", 11).await;
        for name in ["p1", "p2", "p3", "pub2"] {
            cluster.wait_phase(name, Phase::Queued).await;
        }
        let pub1 = cluster.wait_phase("pub1", Phase::Queued).await;
        assert_eq!(
            message(&pub1),
            "queued: 0 ahead in this repository (limit: 1 running)"
        );
        assert_eq!(
            message(&cluster.run("pub2").await.expect("pub2")),
            "queued: 1 ahead in this repository (limit: 1 running)"
        );
        let table = runs_list(&cluster).await;
        assert!(
            line_of(&table, "pub1")
                .contains("queued: 0 ahead in this repository (limit: 1 running)")
                && line_of(&table, "p3")
                    .contains("queued: 2 ahead in this repository (limit: 1 running)"),
            "{table}"
        );

        // And it is so: the place p0 frees goes to org/public, not served yet.
        ends(&cluster, "p0").await;
        cluster.wait_phase("pub1", Phase::Running).await;
        assert_eq!(phase(&cluster, "p1").await, Some(Phase::Queued));
        let table = runs_list(&cluster).await;
        assert!(
            line_of(&table, "pub2")
                .contains("queued: 0 ahead in this repository (limit: 1 running)"),
            "{table}"
        );
    })
    .await;
}

/// A story in a cluster with these limits, the repository's owner an admin.
async fn story_with(limits: &str) -> Story {
    let s = Scenario::new()
        .config("\nagents:\n", &format!("\nlimits: {limits}\nagents:\n"))
        .in_cluster()
        .start()
        .await;
    s.gh.set_role(OWNER, "admin");
    s
}

#[tokio::test]
async fn a_repository_whose_queue_is_full_is_told_once_and_others_still_launch() {
    // Review 15b, B2: nothing capped a repository's queued runs, so one repository (a bot
    // in a loop, or a writer who means harm) queued thousands, each costing GitHub
    // requests every repository of the installation shares. Before, the fourth command
    // was recorded too, and waited with the others.
    timed(async {
        let s = story_with("{ per_repository: 1, queued_per_repository: 2 }").await;
        let issue = Pr(7);

        // The first runs; the next two wait behind it.
        let first = s.gh.comment(issue, "/agent run one").await;
        let first = first.expect_status(202).run();
        s.cluster.expect_phase(&first, Phase::Running).await;
        let mut waiting = Vec::new();
        for task in ["two", "three"] {
            let asked = s.gh.comment(issue, &format!("/agent run {task}")).await;
            waiting.push(asked.expect_status(202).run());
        }
        for run in &waiting {
            s.cluster.expect_phase(run, Phase::Queued).await;
        }

        // Two more, in one comment: neither is recorded, and the comment gets one reply.
        let refused =
            s.gh.comment(issue, "/agent run four\n/agent run five")
                .await;
        refused.expect_status(200);
        assert_eq!(
            refused.runs(),
            Vec::<String>::new(),
            "{}",
            refused.reply.text()
        );
        assert_eq!(s.cluster.runs().await.len(), 3);
        let told: Vec<_> =
            s.gh.replies(issue)
                .into_iter()
                .filter(|c| c.body.starts_with("Not started"))
                .collect();
        assert_eq!(told.len(), 1, "{told:#?}");
        assert!(
            told[0].body.starts_with(
                "Not started: 2 runs of agent `task`. 2 runs are already waiting to start in \
                 Codertocat/Hello-World (limit: 2 waiting per repository); ask again once some \
                 of them have started."
            ),
            "{}",
            told[0].body
        );

        // A retry is held to it too: nothing more is recorded.
        let retried = s.gh.comment(issue, "/agent retry").await;
        retried.expect_status(200);
        assert!(
            retried
                .reply
                .text()
                .contains("refused: Not started: the run of agent `task`. 2 runs"),
            "{}",
            retried.reply.text()
        );
        assert_eq!(s.cluster.runs().await.len(), 3);

        // Another repository is not held back by this one's queue.
        let other = s.gh.another_repository("Other-World");
        s.gh.fake.set_role(&other, OWNER, "admin");
        let elsewhere =
            s.gh.comment_in(&other, OWNER, Pr(1), "/agent run six")
                .await;
        let elsewhere = elsewhere.expect_status(202).run();
        s.cluster.expect_phase(&elsewhere, Phase::Running).await;

        // Once the first ends and the second starts, the repository has room again.
        s.cluster.pod_succeeds(&first, RESULT).await;
        // (The two were asked for at the same second of the story's clock: either goes.)
        let deadline = Instant::now() + Duration::from_secs(60);
        while !s.cluster.runs().await.iter().any(|r| {
            waiting.contains(&kube::ResourceExt::name_any(r))
                && Cluster::phase_of(r) == Some(Phase::Running)
        }) {
            assert!(Instant::now() < deadline, "one of {waiting:?} starts");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let again = s.gh.comment(issue, "/agent run four").await;
        let again = again.expect_status(202).run();
        s.cluster.expect_phase(&again, Phase::Queued).await;
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn comments_that_come_at_once_do_not_pass_the_queue_limit_together() {
    // Outside review 15c, F2: each delivery counted the runs waiting, then recorded its own
    // a moment later, so deliveries in flight at once all saw the same count: with a limit
    // of 3, forty comments at once left 18 runs waiting. A place is now held in the same
    // step as the count.
    timed(async {
        let s = story_with("{ per_repository: 1, queued_per_repository: 2 }").await;
        let issue = Pr(7);
        let first = s.gh.comment(issue, "/agent run first").await;
        s.cluster
            .expect_phase(&first.expect_status(202).run(), Phase::Running)
            .await;

        // Sixteen comments of four runs each, all at once, while the API server takes 50 ms
        // to answer each request (as a busy one does): each delivery's record is in flight
        // while the others count.
        s.cluster
            .get()
            .fake
            .faults
            .latency_ms
            .store(50, std::sync::atomic::Ordering::Relaxed);
        let bodies: Vec<String> = (0..16)
            .map(|n| {
                (0..4)
                    .map(|k| format!("/agent run task {n}.{k}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        let asked =
            futures_util::future::join_all(bodies.iter().map(|body| s.gh.comment(issue, body)))
                .await;
        let recorded: Vec<String> = asked.iter().flat_map(Delivered::runs).collect();
        assert_eq!(
            recorded.len(),
            2,
            "two places were free; recorded: {recorded:?}"
        );
        s.cluster
            .get()
            .fake
            .faults
            .latency_ms
            .store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(s.cluster.runs().await.len(), 3);
        let refused = asked.iter().filter(|d| d.runs().is_empty()).count();
        assert!(refused >= 14, "the others are told the queue is full");
        s.end();
    })
    .await;
}

#[tokio::test]
async fn a_pod_the_namespace_s_quota_refuses_waits_for_room_and_is_not_failed() {
    // Review 15c, F17: Kubernetes' quota admission refuses a pod past the namespace's
    // ResourceQuota with a 403, which the controller took for its own rules refusing it: the
    // run ended Failed, blamed on RBAC, with the quota's figures in the comment on the
    // thread; and so did each run whose turn came while the quota was full. A quota is
    // capacity: the run waits for room, and starts when a pod ends.
    timed(async {
        let (cluster, _dir) = cluster_with("{ running: 2 }").await;
        cluster
            .fake
            .faults
            .pod_quota
            .store(1, std::sync::atomic::Ordering::Relaxed);
        started(&cluster, "a0", "org/a", 1).await;
        command(&cluster, "b1", "org/b", 2).await;
        // Its turn has come (two may run), but the quota has no room for its pod.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let b1 = cluster.run("b1").await.expect("b1");
        assert_ne!(
            Cluster::phase_of(&b1),
            Some(Phase::Failed),
            "{:?}",
            b1.status
        );
        assert!(cluster.pods_of("b1").await.is_empty());

        ends(&cluster, "a0").await;
        cluster.wait_phase("b1", Phase::Running).await;
    })
    .await;
}

/// The reactions the service put on the comment `delivered` carried, in order.
fn reactions_on(s: &Story, delivered: &Delivered) -> Vec<String> {
    let payload: serde_json::Value =
        serde_json::from_slice(&delivered.post.body).expect("a comment's payload");
    let repo = payload["repository"]["full_name"]
        .as_str()
        .expect("its repository");
    let id = payload["comment"]["id"].as_u64().expect("its comment's id");
    s.gh.fake.with(|m| {
        m.reactions
            .iter()
            .filter(|(r, comment, _, _)| r == repo && *comment == id)
            .map(|(_, _, content, _)| content.clone())
            .collect()
    })
}

#[tokio::test]
async fn a_comment_whose_every_run_the_full_queue_keeps_out_gets_no_eyes() {
    // Issue 15: a comment whose runs were all kept out by a full queue got 👀, which
    // promises work that will never happen, beside the reply saying it was not started.
    // Now 👀 follows what happened: a comment that started or queued something gets it; one
    // whose every run was kept out gets the refusal's answer only (the reply, then 😕 within
    // the hour), and a command in it that is carried out (`status`) still gets 👀.
    timed(async {
        let s = story_with("{ per_repository: 1, queued_per_repository: 1 }").await;
        let issue = Pr(7);
        let first = s.gh.comment(issue, "/agent run one").await;
        s.cluster
            .expect_phase(&first.expect_status(202).run(), Phase::Running)
            .await;
        let second = s.gh.comment(issue, "/agent run two").await;
        s.cluster
            .expect_phase(&second.expect_status(202).run(), Phase::Queued)
            .await;
        assert_eq!(reactions_on(&s, &first), ["eyes"]);
        assert_eq!(reactions_on(&s, &second), ["eyes"], "queued is started");

        // Kept out, both of its runs: no 👀; the reply says why.
        let refused =
            s.gh.comment(issue, "/agent run three\n/agent run four")
                .await;
        refused.expect_status(200);
        assert_eq!(s.cluster.runs().await.len(), 2);
        s.gh.expect_comment(issue, starts_with("Not started: 2 runs of agent `task`."));
        assert_eq!(reactions_on(&s, &refused), Vec::<String>::new());

        // Kept out again within the hour: not told again, a 😕 and no 👀.
        let again = s.gh.comment(issue, "/agent run five").await;
        again.expect_status(200);
        assert_eq!(reactions_on(&s, &again), ["confused"]);

        // A retry kept out likewise.
        let retried = s.gh.comment(issue, "/agent retry").await;
        retried.expect_status(200);
        assert_eq!(s.cluster.runs().await.len(), 2);
        assert_eq!(reactions_on(&s, &retried), ["confused"]);

        // A comment whose run is kept out but whose `status` is answered: 👀 for that.
        let status = s.gh.comment(issue, "/agent run six\n/agent status").await;
        status.expect_status(200);
        assert_eq!(s.cluster.runs().await.len(), 2);
        assert!(reactions_on(&s, &status).contains(&"eyes".to_owned()));

        // Another repository's command launches, and gets its 👀.
        let other = s.gh.another_repository("Other-World");
        s.gh.fake.set_role(&other, OWNER, "admin");
        let elsewhere =
            s.gh.comment_in(&other, OWNER, Pr(1), "/agent run seven")
                .await;
        s.cluster
            .expect_phase(&elsewhere.expect_status(202).run(), Phase::Running)
            .await;
        assert_eq!(reactions_on(&s, &elsewhere), ["eyes"]);
        s.end();
    })
    .await;
}

#[tokio::test]
async fn a_pull_request_whose_run_the_full_queue_keeps_out_is_told_so() {
    // An event's run refused for the queue was told nobody: the pull request simply got no
    // review. Now its author is told on it, as a refused event is (once an hour).
    timed(async {
        let s = story_with("{ per_repository: 1, queued_per_repository: 1 }").await;
        let (_, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let first = opened.expect_status(202).run();
        s.cluster.expect_phase(&first, Phase::Running).await;
        let (_, opened) = s.gh.open_pull_request(PullRequest::new(3)).await;
        let second = opened.expect_status(202).run();
        s.cluster.expect_phase(&second, Phase::Queued).await;

        let kept_out = "4444444444444444444444444444444444444444";
        let (pr, refused) =
            s.gh.open_pull_request(PullRequest {
                head: kept_out.to_owned(),
                ..PullRequest::new(4)
            })
            .await;
        refused.expect_status(200);
        assert_eq!(s.cluster.runs().await.len(), 2);
        // Its head shows no check run: none says it is queued (nothing will run), and none
        // completes the agent's check (a required one stays unmet).
        let checks = s.gh.fake.check_runs();
        assert!(checks.iter().all(|c| c.head_sha != kept_out), "{checks:#?}");
        s.gh.expect_replies(pr, 1);
        s.gh.expect_comment(
            pr,
            starts_with(
                "Not started: the run of agent `review`. 1 run is already waiting to start \
                 in Codertocat/Hello-World (limit: 1 waiting per repository)",
            ),
        );
        s.end();
    })
    .await;
}

/// Waits until GitHub has been told `name` is in `phase`.
async fn told(cluster: &Cluster, name: &str, phase: Phase) {
    cluster
        .wait_for(name, &format!("GitHub to hear {phase:?}"), |r| {
            r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                == Some(phase.clone())
        })
        .await;
}

/// Asks `name` to stop, as `/agent stop` does, and waits until GitHub has heard it.
async fn stopped(cluster: &Cluster, name: &str) {
    cluster
        .runs()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"cancel": "stopped by @octocat"}})),
        )
        .await
        .expect("request the cancel");
    told(cluster, name, Phase::Cancelled).await;
}

/// The GitHub requests made since the `from`th, the numbers in their paths left out.
fn requests_since(github: &support::fake_github::FakeGithub, from: usize) -> Vec<String> {
    github.requests()[from..]
        .iter()
        .map(|r| {
            let (request, status) = r.rsplit_once(" -> ").unwrap_or((r, "?"));
            let request = request.replace(|c: char| c.is_ascii_digit(), "");
            format!("{request} -> {status}")
        })
        .collect()
}

#[tokio::test]
async fn a_waiting_run_stopped_gets_no_comment_and_one_started_after_a_restart_does_not_list_the_thread()
 {
    // Review 15c, F1: each waiting run a `/agent stop` cancelled got a comment of its own
    // ("finished: cancelled"), and, when it was there as the controller started, a listing
    // of the thread first: one stop of 50 waiting runs made 150 requests, 100 of them
    // content-creating. Now its check run is completed, and that is all. F8: after a
    // restart, a run that was only waiting listed the thread for its comment when it
    // started, though a run that never started cannot have one. Before, the stops cost a
    // `POST …/comments` each (and a `GET …/comments` after the restart), and `second`'s
    // start a `GET …/comments`.
    timed(async {
        let (_dir, path) = config_with("{ running: 1 }");
        let (mut cluster, github) = support::cluster::reporting_cluster_on(&path).await;
        cluster.fake.run_kubelet(|_| PodScript::stays_running());
        start(&mut cluster);
        let repo = "Codertocat/Hello-World";
        started(&cluster, "first", repo, 1).await;
        told(&cluster, "first", Phase::Running).await;
        for (name, at) in [("second", 2), ("third", 3), ("fourth", 4)] {
            command(&cluster, name, repo, at).await;
            told(&cluster, name, Phase::Queued).await;
        }

        // A waiting run born under this controller is stopped: its check run completed.
        let mark = github.requests().len();
        stopped(&cluster, "fourth").await;
        let check_run_completed = ["PATCH /repos/Codertocat/Hello-World/check-runs/ -> 200"];
        assert_eq!(requests_since(&github, mark), check_run_completed);

        // The same for one that was waiting when the controller started.
        cluster.stop_controller().await;
        start(&mut cluster);
        let mark = github.requests().len();
        stopped(&cluster, "third").await;
        assert_eq!(requests_since(&github, mark), check_run_completed);

        // One that was waiting then starts: its comment is posted without a look first.
        let mark = github.requests().len();
        ends(&cluster, "first").await;
        told(&cluster, "second", Phase::Running).await;
        let spent = requests_since(&github, mark);
        assert!(
            !spent
                .iter()
                .any(|r| r.starts_with("GET ") && r.contains("/comments")),
            "{spent:#?}"
        );
        let comments = github.comments();
        assert_eq!(comments.len(), 2, "first's and second's: {comments:#?}");
        assert!(
            comments.iter().all(|c| !c.body.contains("cancelled")),
            "{comments:#?}"
        );
        let cancelled: Vec<_> = github
            .check_runs()
            .into_iter()
            .filter(|c| c.conclusion.as_deref() == Some("cancelled"))
            .collect();
        assert_eq!(cancelled.len(), 2, "{cancelled:#?}");
        assert_eq!(github.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_run_whose_token_github_will_not_mint_ends_failed_and_the_next_starts() {
    // Review 15c, F7: a waiting run whose repository the installation no longer has (renamed,
    // deleted, taken out of it) came to its turn, GitHub answered its token's mint with 422,
    // and it kept the place and the head of the queue, retrying without end: nothing else
    // of the installation started. Now such a refusal ends the run Failed, saying why, and
    // the place goes to the next run at once.
    timed(async {
        let s = story_with("{ running: 1 }").await;
        let first = s.gh.comment(Pr(7), "/agent run one").await;
        let first = first.expect_status(202).run();
        s.cluster.expect_phase(&first, Phase::Running).await;

        // A run of another repository waits behind it, then one of a third, asked after it:
        // the place that frees goes to the one that asked first.
        let gone = s.gh.another_repository("Vic");
        s.gh.fake.set_role(&gone, OWNER, "admin");
        let doomed = s.gh.comment_in(&gone, OWNER, Pr(1), "/agent run two").await;
        let doomed = doomed.expect_status(202).run();
        s.cluster.expect_reported(&doomed, Phase::Queued).await;
        // (A second later by the clock runs are recorded by: not a tie for the queue.)
        s.cluster.get().clock.advance(Duration::from_secs(1));
        let after = s.gh.another_repository("After");
        s.gh.fake.set_role(&after, OWNER, "admin");
        let next =
            s.gh.comment_in(&after, OWNER, Pr(1), "/agent run three")
                .await;
        let next = next.expect_status(202).run();
        s.cluster.expect_reported(&next, Phase::Queued).await;

        // Vic is renamed: the installation no longer has its old name.
        s.gh.fake.with(|m| m.installations.remove(&gone));
        s.cluster.pod_succeeds(&first, RESULT).await;

        let failed = s.cluster.expect_phase(&doomed, Phase::Failed).await;
        let said = message(&failed);
        assert!(
            said.contains(&format!("GitHub will not give the run a token for {gone}"))
                && said.contains("install the App on"),
            "{said}"
        );
        s.cluster.expect_phase(&next, Phase::Running).await;
        s.end();
    })
    .await;
}

/// [`command`], the run recorded as a newer agentpods would record it (its `spec.source`
/// in a version this one does not read: a rolling update's new intake, or a rollback).
async fn command_of_a_newer_version(cluster: &Cluster, name: &str, repository: &str, at: u32) {
    command_as(cluster, name, repository, at, |run| {
        run.spec.source.0["version"] = json!(99);
    })
    .await;
}

#[tokio::test]
async fn a_run_left_for_a_newer_version_takes_no_turn_and_the_next_repository_starts() {
    // Review 15c, F6: a run a newer agentpods recorded waits, untouched, for the newer
    // controller. Before, it stood first in line (asked for first, its repository never
    // served): its turn came, the controller would not start it, and nothing else started.
    timed(async {
        let (cluster, _dir) = cluster_with("{ running: 1 }").await;
        started(&cluster, "a0", "org/a", 1).await;
        command_of_a_newer_version(&cluster, "upgraded", "org/upgraded", 2).await;
        command(&cluster, "b1", "org/b", 3).await;
        let b1 = cluster.wait_phase("b1", Phase::Queued).await;
        // Nothing of another repository is counted ahead of it, nor shown.
        assert_eq!(
            message(&b1),
            "queued: 0 ahead in this repository (limit: 1 running)"
        );

        // The place a0 frees goes to b1, at once; the newer version's run is left as it is.
        ends(&cluster, "a0").await;
        cluster.wait_phase("b1", Phase::Running).await;
        let upgraded = cluster.run("upgraded").await.expect("upgraded");
        assert!(upgraded.status.is_none(), "{:?}", upgraded.status);
        assert!(cluster.pods_of("upgraded").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn strangers_let_in_by_a_lower_min_permission_fill_only_half_the_queue() {
    // Review 15c, F5: an agent whose comment trigger lets readers in (`min_permission:
    // read`, below the global `write`) let anyone who can read the repository fill its
    // queue: their commands were recorded until `queued_per_repository` runs waited, and
    // then the maintainers' own commands were refused as the queue was full. Runs asked
    // for below the global minimum now wait only while fewer than half the limit do.
    timed(async {
        let s = Scenario::new()
            .config(
                "\nagents:\n",
                "\nlimits: { per_repository: 1, queued_per_repository: 4 }\nagents:\n",
            )
            .config(
                "        verbs: [run]\n    secrets: [openai]",
                "        verbs: [run]\n        min_permission: read\n    secrets: [openai]",
            )
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        s.gh.set_role("mallory", "read");
        let issue = Pr(7);

        // The stranger's first run starts; two more wait; the fourth is kept out.
        let first = s.gh.comment_as("mallory", issue, "/agent run one").await;
        s.cluster
            .expect_phase(&first.expect_status(202).run(), Phase::Running)
            .await;
        for task in ["two", "three"] {
            let asked =
                s.gh.comment_as("mallory", issue, &format!("/agent run {task}"))
                    .await;
            s.cluster
                .expect_phase(&asked.expect_status(202).run(), Phase::Queued)
                .await;
        }
        let kept_out = s.gh.comment_as("mallory", issue, "/agent run four").await;
        kept_out.expect_status(200);
        assert_eq!(kept_out.runs(), Vec::<String>::new());
        s.gh.expect_comment(
            issue,
            starts_with(
                "Not started: the run of agent `task`. 2 runs are already waiting to start in \
                 Codertocat/Hello-World (a run asked for by someone without the permission its \
                 maintainers need waits only while fewer than 2 do)",
            ),
        );

        // The maintainer's commands still find the two places left.
        for task in ["five", "six"] {
            let asked = s.gh.comment(issue, &format!("/agent run {task}")).await;
            s.cluster
                .expect_phase(&asked.expect_status(202).run(), Phase::Queued)
                .await;
        }
        assert_eq!(s.cluster.runs().await.len(), 5);
        s.end();
    })
    .await;
}

#[tokio::test]
async fn a_comment_whose_own_runs_fill_the_queue_is_told_they_are_its_own() {
    // Review 15c, F11: a comment of three commands, two places left, was told "2 runs are
    // already waiting", which reads as other people's runs holding it back when they are
    // the two it just asked for.
    timed(async {
        let s = story_with("{ per_repository: 1, queued_per_repository: 2 }").await;
        let issue = Pr(7);
        let first = s.gh.comment(issue, "/agent run one").await;
        s.cluster
            .expect_phase(&first.expect_status(202).run(), Phase::Running)
            .await;

        let asked =
            s.gh.comment(issue, "/agent run two\n/agent run three\n/agent run four")
                .await;
        assert_eq!(asked.expect_status(202).runs().len(), 2);
        s.gh.expect_comment(
            issue,
            starts_with(
                "Not started: the run of agent `task`. 2 runs, 2 of them asked for just now, \
                 are already waiting to start in Codertocat/Hello-World (limit: 2 waiting per \
                 repository)",
            ),
        );
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_while_github_will_not_mint_its_token_gives_its_place_back() {
    // Review 15d, D5: a run whose turn came while GitHub failed its token's mint (5xx,
    // retried) and that was then stopped ended Cancelled, but its place stayed taken: the
    // next run waited, with nothing running, until the controller restarted. During a
    // GitHub incident each stop lost a place of `limits.running`.
    use support::fake_github::FaultKind;
    timed(async {
        let s = story_with("{ running: 1 }").await;
        let a =
            s.gh.comment(Pr(1), "/agent run a")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&a, Phase::Running).await;
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let b =
            s.gh.comment(Pr(2), "/agent run b")
                .await
                .expect_status(202)
                .run();
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let c =
            s.gh.comment(Pr(3), "/agent run c")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&c, Phase::Queued).await;

        // GitHub fails every mint; `a` ends, and `b`'s launch is tried again and again.
        s.gh.fake.fail_next(
            100_000,
            Some(("POST", "access_tokens")),
            FaultKind::BadGateway,
        );
        s.cluster.pod_succeeds(&a, RESULT).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        s.gh.comment(Pr(2), "/agent stop").await.expect_status(200);
        s.cluster.expect_phase(&b, Phase::Cancelled).await;

        // GitHub is back: `c` takes the place `b` left.
        s.gh.fake.clear_faults();
        s.cluster.expect_phase(&c, Phase::Running).await;
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_while_the_quota_has_no_room_gives_its_place_back() {
    // Review 15d, D5, the same through a full ResourceQuota: `b` held the second place,
    // waiting for room; stopped, it kept it, and `c` waited for `a`'s place instead.
    timed(async {
        let s = story_with("{ running: 2 }").await;
        let fake = &s.cluster.get().fake;
        fake.faults
            .pod_quota
            .store(1, std::sync::atomic::Ordering::Relaxed);
        let a =
            s.gh.comment(Pr(1), "/agent run a")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&a, Phase::Running).await;
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let b =
            s.gh.comment(Pr(2), "/agent run b")
                .await
                .expect_status(202)
                .run();
        tokio::time::sleep(Duration::from_secs(1)).await;
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let c =
            s.gh.comment(Pr(3), "/agent run c")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&c, Phase::Queued).await;

        s.gh.comment(Pr(2), "/agent stop").await.expect_status(200);
        s.cluster.expect_phase(&b, Phase::Cancelled).await;
        // The quota has room for one more pod once `b` no longer waits for it: `c` has the
        // second place and starts.
        fake.faults
            .pod_quota
            .store(2, std::sync::atomic::Ordering::Relaxed);
        s.cluster.expect_phase(&c, Phase::Running).await;
        assert_eq!(
            Cluster::phase_of(&s.cluster.get().run(&a).await.expect("a")),
            Some(Phase::Running),
            "`a` still runs: `c` took `b`'s place, not `a`'s"
        );
        s.end();
    })
    .await;
}

#[tokio::test]
async fn strangers_fork_pull_requests_under_always_fill_only_half_the_queue() {
    // Review 15d, D2: `fork_pull_requests: always` lets in every fork's author in place of
    // the global `min_permission`, and their reviews were not taken for strangers' runs:
    // four fork pull requests by a reader took all four waiting places, and the owner's
    // own `/agent run` was refused as the queue was full.
    timed(async {
        let s = Scenario::new()
            .config(
                "\nagents:\n",
                "\nlimits: { running: 1, queued_per_repository: 4 }\nagents:\n",
            )
            .config("fork_pull_requests: approve", "fork_pull_requests: always")
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        s.gh.set_role("mallory", "read");
        let first = s.gh.comment(Pr(1), "/agent run hold the place").await;
        s.cluster
            .expect_phase(&first.expect_status(202).run(), Phase::Running)
            .await;

        let mut recorded = 0;
        for n in 10..16 {
            let pr = PullRequest::new(n)
                .in_fork("mallory")
                .at(&format!("{n:040x}"));
            let (_, opened) = s.gh.open_pull_request(pr).await;
            recorded += opened.runs().len();
        }
        assert_eq!(recorded, 2, "half of the four places");

        for task in ["five", "six"] {
            let asked = s.gh.comment(Pr(2), &format!("/agent run {task}")).await;
            s.cluster
                .expect_phase(&asked.expect_status(202).run(), Phase::Queued)
                .await;
        }
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_delivered_late_does_not_supersede_the_review_of_a_newer_head() {
    // Review 15d, D4: GitHub does not promise to deliver in order, and the service asks for
    // a delivery again when it cannot decide it (GitHub failing it): a push delivered
    // again after a newer one superseded the newer head's review (its check run ended
    // cancelled, a required check unmet) and the stale head's review ran instead.
    use support::fake_github::FaultKind;
    timed(async {
        let s = story_with("{ running: 5 }").await;
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(20).at(&format!("{:040x}", 1)))
                .await;
        s.cluster
            .expect_phase(&opened.expect_status(202).run(), Phase::Running)
            .await;

        // The push of head 6 cannot be decided now (GitHub fails the permission look-up).
        s.gh.fake
            .fail_next(50, Some(("GET", "/permission")), FaultKind::BadGateway);
        let late = s.gh.push(pr, &format!("{:040x}", 6)).await;
        late.expect_status(503);
        s.gh.fake.clear_faults();
        // Head 7 is pushed a moment later (payload times are to the second), and delivered.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let newest = s.gh.push(pr, &format!("{:040x}", 7)).await;
        let newest = newest.expect_status(202).run();
        s.cluster.expect_phase(&newest, Phase::Running).await;

        // GitHub delivers head 6's push again: its review is recorded, and superseded by
        // the newer head's at once.
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let again = s.gh.redeliver(&late).await;
        let stale = again.expect_status(202).run();
        let ended = s.cluster.expect_phase(&stale, Phase::Cancelled).await;
        assert!(
            ended
                .status
                .as_ref()
                .and_then(|st| st.message.as_deref())
                .is_some_and(|m| m.contains(&newest)),
            "{:?}",
            ended.status
        );
        assert!(s.cluster.get().pods_of(&stale).await.is_empty());
        assert_eq!(
            Cluster::phase_of(&s.cluster.get().run(&newest).await.expect("the newest")),
            Some(Phase::Running)
        );
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_whose_agent_the_repository_turned_off_does_not_start() {
    // Review 15d, D9: a repository's `.agentpods.yaml` is how its maintainers turn an
    // agent off there; new events heeded it, but the runs already waiting (a flood of
    // strangers' reviews, say) still started, one by one, as places freed.
    timed(async {
        let s = Scenario::new()
            .config(
                "\nagents:\n",
                "\nlimits: { running: 1 }\nrepository_config: {}\nagents:\n",
            )
            .in_cluster()
            .start()
            .await;
        s.gh.set_role(OWNER, "admin");
        let a =
            s.gh.comment(Pr(1), "/agent run a")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&a, Phase::Running).await;
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let (_, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        let review = opened.expect_status(202).run();
        s.cluster.expect_phase(&review, Phase::Queued).await;
        s.cluster.get().clock.advance(Duration::from_secs(2));
        let task =
            s.gh.comment(Pr(3), "/agent run c")
                .await
                .expect_status(202)
                .run();
        s.cluster.expect_phase(&task, Phase::Queued).await;

        // The maintainers turn the review agent off (the task agent stays), and the five
        // minutes the file was believed absent pass.
        s.gh.merge_file(".agentpods.yaml", "agents: [task]\n");
        s.gh.clock.advance(Duration::from_secs(400));
        s.cluster.get().clock.advance(Duration::from_secs(400));

        // `a` ends: the review's turn comes, and it does not start; the task's does.
        s.cluster.pod_succeeds(&a, RESULT).await;
        let ended = s.cluster.expect_phase(&review, Phase::Failed).await;
        let message = ended
            .status
            .as_ref()
            .and_then(|st| st.message.clone())
            .unwrap_or_default();
        assert!(
            message.contains("Codertocat/Hello-World's .agentpods.yaml no longer names it"),
            "{message}"
        );
        assert!(s.cluster.get().pods_of(&review).await.is_empty());
        s.cluster.expect_phase(&task, Phase::Running).await;
        s.end();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_token_the_apps_rate_limit_holds_back_says_so_and_starts_after() {
    // Review 15f, G6: while the App's own budget (which mints every run's token) was spent,
    // a new run waited with no phase, no message and no check run, for up to an hour.
    use support::fake_github::FaultKind;
    timed(async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role(OWNER, "admin");
        // The intake has its installation token already; the review of the pull request
        // runs.
        let (pr, opened) = s.gh.open_pull_request(PullRequest::new(2)).await;
        s.cluster
            .expect_phase(&opened.expect_status(202).run(), Phase::Running)
            .await;
        s.gh.fake.fail_next(
            1,
            Some(("POST", "/access_tokens")),
            FaultKind::PrimaryLimit { reset_in: 3600 },
        );
        let held = s.gh.comment(pr, "/agent run second").await;
        let held = held.expect_status(202).run();
        let waiting = s.cluster.expect_phase(&held, Phase::Queued).await;
        let message = waiting
            .status
            .as_ref()
            .and_then(|st| st.message.clone())
            .unwrap_or_default();
        assert!(
            message.starts_with("waiting for GitHub's rate limit to mint its token"),
            "{message}"
        );
        assert!(s.cluster.get().pods_of(&held).await.is_empty());
        assert!(
            s.gh.fake
                .check_runs()
                .iter()
                .any(|c| c.external_id.as_deref() == Some(held.as_str())),
            "the waiting run has a check run"
        );
        // The window turns (GitHub's clock), and the run looks again (within its pending
        // timeout, by the cluster's): it starts.
        s.gh.clock.advance(Duration::from_secs(3601));
        s.cluster.get().clock.advance(Duration::from_secs(601));
        s.cluster.expect_phase(&held, Phase::Running).await;
        s.end();
    })
    .await;
}
