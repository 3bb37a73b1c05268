//! `agentpods runs list|logs|cancel` as an operator types them: the real binary, with
//! KUBECONFIG pointing at the fake API server, while the controller runs the runs. Each
//! scenario is a story.

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use agentpods::agentrun::{AgentRun, Conclusion, Phase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::ResourceExt;
use kube::api::PostParams;
use support::cluster::{Cluster, RUNS, sample_run};
use support::fake_kube::{FakeKube, PodScript};
use support::fixtures::fixture;
use support::process::output_within;
use tempfile::TempDir;

const RESULT: &str = r#"{"conclusion":"success","summary":"Looks good: two nits inline."}"#;

/// Who the operator is: `$USER` in the default cancel reason.
const OPERATOR: &str = "octo-operator";

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("the scenario finished within 90 seconds")
}

/// An operator's shell: a kubeconfig whose context points at the fake (namespace
/// `default`, as most contexts are), and a HOME of its own.
struct Shell {
    dir: TempDir,
    kubeconfig: PathBuf,
}

/// What one command did.
#[derive(Debug)]
struct Said {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Said {
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        &self.stdout
    }

    fn failed(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected exit code 1: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self.stderr.trim_end()
    }
}

impl Shell {
    fn new(fake: &FakeKube) -> Shell {
        let dir = tempfile::tempdir().expect("a temp dir");
        let kubeconfig = fake.kubeconfig(dir.path());
        Shell { dir, kubeconfig }
    }

    /// A shell whose kubeconfig says `text`.
    fn with_kubeconfig(text: &str) -> Shell {
        let dir = tempfile::tempdir().expect("a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, text).expect("write the kubeconfig");
        Shell { dir, kubeconfig }
    }

    /// Runs `agentpods ARGS` to its end (at most 30 s), off the runtime serving the fake.
    async fn agentpods(&self, args: &[&str]) -> Said {
        let mut command = Command::new(env!("CARGO_BIN_EXE_agentpods"));
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env("USER", OPERATOR)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = args.join(" ");
        tokio::task::spawn_blocking(move || {
            let child = command.spawn().expect("start agentpods");
            let out = output_within(child, 30, &format!("agentpods {shown}"));
            Said {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("agentpods ran")
    }
}

/// The controller runs a review of pull request #2 with the kubelet playing `script`, up to
/// `phase`; returns the cluster, the run's name and an operator's shell.
async fn review(script: PodScript, phase: Phase, delivery: &str) -> (Cluster, String, Shell) {
    let cluster = Cluster::start().await;
    cluster.fake.run_kubelet(move |_| script.clone());
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), delivery)
        .await;
    cluster.wait_phase(&name, phase).await;
    let shell = Shell::new(&cluster.fake);
    (cluster, name, shell)
}

/// The table's rows (header left out), each split into its cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| {
            l.split("   ")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn list_shows_the_review_of_a_pull_request_with_the_phase_the_controller_gave_it() {
    timed(async {
        let (_cluster, name, shell) =
            review(PodScript::succeeds(RESULT), Phase::Succeeded, "d-list").await;

        // The context's namespace is `default`, like `kubectl get agentruns`: nothing there,
        // and the operator is told where the runs are.
        let said = shell.agentpods(&["runs", "list"]).await;
        assert_eq!(said.ok(), "");
        assert_eq!(
            said.stderr.trim_end(),
            "No runs found in namespace default; there are some in namespace agentpods-runs.\n\
             what to do: add -n agentpods-runs, or -A to list every namespace"
        );
        // A namespace with no runs, or none at all (new-user review 13e, N8: before, only
        // "No runs found in namespace nope").
        let said = shell.agentpods(&["runs", "list", "-n", "nope"]).await;
        assert_eq!(said.ok(), "");
        assert_eq!(
            said.stderr.trim_end().lines().last(),
            Some("what to do: add -n agentpods-runs, or -A to list every namespace")
        );

        let said = shell.agentpods(&["runs", "list", "-A"]).await;
        let table = said.ok();
        assert!(table.starts_with("NAMESPACE        NAME   "), "{table}");
        let row = &rows(table)[0];
        assert_eq!(
            row[..6],
            [
                RUNS,
                &name,
                "review",
                "Codertocat/Hello-World",
                "pr/2",
                "Succeeded"
            ]
        );
        assert!(row[6].ends_with('s'), "an age in seconds: {row:?}");
        assert_eq!(row[7], "success: Looks good: two nits inline.");

        let said = shell
            .agentpods(&["runs", "list", "-n", RUNS, "-o", "wide"])
            .await;
        let table = said.ok();
        assert!(table.starts_with("NAME "), "{table}");
        let row = &rows(table)[0];
        assert_eq!(row[0], name);
        assert_eq!(
            row[6..10],
            ["pull_request.opened", "Codertocat", &name, "1"],
            "{row:?}"
        );
    })
    .await;
}

/// A run recorded as if for another repository or pull request (the controller is not
/// running: these only need to be listed).
async fn forged(cluster: &Cluster, name: &str, repository: &str, pr: Option<u64>, minute: u8) {
    let mut run: AgentRun = sample_run("pull_request/opened.json");
    run.metadata.name = Some(name.into());
    let labels = run.labels_mut();
    labels.insert(
        "agentpods.dev/repo".into(),
        agentpods::names::label_value(repository),
    );
    labels.remove("agentpods.dev/pr");
    match pr {
        Some(n) => {
            labels.insert("agentpods.dev/pr".into(), n.to_string());
        }
        None => {
            labels.insert("agentpods.dev/issue".into(), "1".into());
        }
    }
    run.spec.repository = repository.into();
    match (&mut run.spec.pull_request, pr) {
        (Some(p), Some(n)) => p.number = n,
        (_, None) => {
            run.spec.pull_request = None;
            run.spec.issue = Some(1);
        }
        _ => unreachable!("the sample is about a pull request"),
    }
    let at = format!("2026-11-25T10:{minute:02}:00Z");
    run.spec.requested_at = Some(MicroTime(at.parse().expect("a time")));
    cluster
        .runs()
        .create(&PostParams::default(), &run)
        .await
        .expect("record the forged run");
}

/// Review 13i, F11: one AgentRun that this binary cannot read (its spec lacks `event`, as
/// one of another version, or written by hand, would) failed the whole list, as "check that
/// the cluster is reachable", in serde's words. It is named and left out; the rest is listed.
#[tokio::test]
async fn a_run_this_binary_cannot_read_is_named_and_the_others_are_listed() {
    timed(async {
        let cluster = Cluster::without_controller().await;
        forged(&cluster, "readable-2", "Codertocat/Hello-World", Some(2), 1).await;
        let mut odd = serde_json::to_value(sample_run("pull_request/opened.json")).unwrap();
        odd["metadata"]["name"] = "from-elsewhere".into();
        odd["spec"].as_object_mut().expect("a spec").remove("event");
        let odd: kube::api::DynamicObject = serde_json::from_value(odd).unwrap();
        let resource = kube::api::ApiResource::erase::<AgentRun>(&());
        kube::Api::<kube::api::DynamicObject>::namespaced_with(
            cluster.client.clone(),
            RUNS,
            &resource,
        )
        .create(&PostParams::default(), &odd)
        .await
        .expect("record the odd run");
        let shell = Shell::new(&cluster.fake);

        let said = shell.agentpods(&["runs", "list", "-A"]).await;
        assert_eq!(names(said.ok()), [RUNS], "{said:#?}");
        assert_eq!(rows(said.ok())[0][1], "readable-2");
        assert_eq!(
            said.stderr.trim_end(),
            format!(
                "warning: run from-elsewhere in namespace {RUNS} is not in the form this \
                 agentpods reads (spec: missing field `event`), so it is not listed; it was \
                 written by another version of agentpods or by hand\n\
                 what to do: list it with the agentpods of the service's version, or read it \
                 with `kubectl get agentrun from-elsewhere -n {RUNS} -o yaml`"
            )
        );
    })
    .await;
}

fn names(table: &str) -> Vec<String> {
    rows(table).into_iter().map(|r| r[0].clone()).collect()
}

#[tokio::test]
async fn repo_pr_and_issue_filters_pick_runs_by_label_then_by_spec() {
    timed(async {
        let cluster = Cluster::without_controller().await;
        forged(
            &cluster,
            "hello-world-2",
            "Codertocat/Hello-World",
            Some(2),
            1,
        )
        .await;
        forged(
            &cluster,
            "hello-world-7",
            "Codertocat/Hello-World",
            Some(7),
            2,
        )
        .await;
        forged(
            &cluster,
            "hello-world-issue-1",
            "Codertocat/Hello-World",
            None,
            3,
        )
        .await;
        forged(
            &cluster,
            "hello-dot-world-2",
            "Codertocat/Hello.World",
            Some(2),
            4,
        )
        .await;
        // Its label value is the same as Codertocat/Hello.World's: only the spec tells.
        forged(
            &cluster,
            "lossy-twin-2",
            "Codertocat.Hello/World",
            Some(2),
            5,
        )
        .await;
        let shell = Shell::new(&cluster.fake);
        let list = |args: &'static [&'static str]| {
            let shell = &shell;
            async move {
                let mut all = vec!["runs", "list", "-n", RUNS];
                all.extend(args);
                names(shell.agentpods(&all).await.ok())
            }
        };

        assert_eq!(
            list(&[]).await,
            [
                "lossy-twin-2",
                "hello-dot-world-2",
                "hello-world-issue-1",
                "hello-world-7",
                "hello-world-2"
            ],
            "newest first"
        );
        assert_eq!(
            list(&["--repo", "Codertocat/Hello.World"]).await,
            ["hello-dot-world-2"]
        );
        assert_eq!(
            list(&["--repo", "Codertocat/Hello-World", "--pr", "2"]).await,
            ["hello-world-2"]
        );
        assert_eq!(list(&["--pr", "7"]).await, ["hello-world-7"]);
        assert_eq!(list(&["--issue", "1"]).await, ["hello-world-issue-1"]);

        // GitHub's names ignore case, and so does `--repo` (review 12d, R3).
        assert_eq!(
            list(&["--repo", "codertocat/hello-world", "--pr", "2"]).await,
            ["hello-world-2"]
        );

        // The number's selector went to the server; the repository is matched by the spec,
        // as its label keeps the case it was recorded in.
        let asked = cluster.fake.requests();
        assert!(
            asked
                .iter()
                .any(|r| r.contains("labelSelector=agentpods.dev%2Fpr%3D2")),
            "{asked:#?}"
        );
        assert!(
            !asked.iter().any(|r| r.contains("agentpods.dev%2Frepo")),
            "{asked:#?}"
        );

        let said = shell
            .agentpods(&["runs", "list", "-n", RUNS, "--pr", "8"])
            .await;
        assert_eq!(said.ok(), "");
        assert_eq!(
            said.stderr.trim_end(),
            "No runs found for pull request #8 in namespace agentpods-runs, nor in any other.\n\
             what to do: check --repo, --pr and --issue (`agentpods runs list -A` lists every run)"
        );

        let said = shell
            .agentpods(&["runs", "list", "-n", RUNS, "--pr", "7", "-o", "json"])
            .await;
        let list: serde_json::Value = serde_json::from_str(said.ok()).expect("JSON");
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"][0]["kind"], "AgentRun");
        assert_eq!(list["items"][0]["metadata"]["name"], "hello-world-7");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

        let said = shell
            .agentpods(&["runs", "list", "--repo", "Hello-World"])
            .await;
        assert_eq!(
            said.failed(),
            r#"--repo "Hello-World": expected owner/name"#
        );
    })
    .await;
}

#[tokio::test]
async fn logs_prints_what_the_agent_logged() {
    timed(async {
        let (_cluster, name, shell) = review(
            PodScript {
                logs: "cloning Codertocat/Hello-World\nreviewing 3 files\n".into(),
                ..PodScript::succeeds(RESULT)
            },
            Phase::Succeeded,
            "d-logs",
        )
        .await;

        let said = shell.agentpods(&["runs", "logs", &name, "-n", RUNS]).await;
        assert_eq!(
            said.ok(),
            "cloning Codertocat/Hello-World\nreviewing 3 files\n"
        );

        let said = shell
            .agentpods(&["runs", "logs", &name, "-n", RUNS, "--tail", "1"])
            .await;
        assert_eq!(said.ok(), "reviewing 3 files\n");
    })
    .await;
}

#[tokio::test]
async fn logs_of_a_run_without_a_pod_says_so() {
    timed(async {
        // No controller: the run is recorded, nothing launched it yet.
        let cluster = Cluster::without_controller().await;
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-early")
            .await;
        let shell = Shell::new(&cluster.fake);

        let said = shell.agentpods(&["runs", "logs", &name, "-n", RUNS]).await;
        assert_eq!(
            said.failed(),
            format!(
                "run {name} in namespace agentpods-runs has no pod yet (not seen by the controller yet)"
            )
        );
    })
    .await;
}

#[tokio::test]
async fn cancel_stops_a_running_run_and_asking_again_is_harmless() {
    timed(async {
        let (cluster, name, shell) =
            review(PodScript::stays_running(), Phase::Running, "d-cancel").await;

        let said = shell.agentpods(&["runs", "cancel", &name, "-n", RUNS]).await;
        let reason = format!("cancelled with `agentpods runs cancel` by {OPERATOR}");
        assert_eq!(
            said.ok(),
            format!(
                "run {name} in namespace agentpods-runs: cancel requested ({reason}); the controller deletes its pod and ends it Cancelled\n"
            )
        );

        let run = cluster.wait_phase(&name, Phase::Cancelled).await;
        let status = run.status.expect("a status");
        assert_eq!(status.message.as_deref(), Some(reason.as_str()));
        assert_eq!(status.result.map(|r| r.conclusion), Some(Conclusion::Cancelled));
        assert!(cluster.pods_of(&name).await.is_empty());

        let said = shell.agentpods(&["runs", "cancel", &name, "-n", RUNS]).await;
        assert_eq!(
            said.ok(),
            format!("run {name} in namespace agentpods-runs was already cancelled ({reason})\n")
        );

        let said = shell
            .agentpods(&["runs", "list", "-n", RUNS, "-o", "wide"])
            .await;
        let row = &rows(said.ok())[0];
        assert_eq!(row[4], "Cancelled");
        assert_eq!(row[10], format!("cancelled: {reason}"), "whole, when wide");

        // The pod went with the cancel; the result is what is left.
        let said = shell.agentpods(&["runs", "logs", &name, "-n", RUNS]).await;
        assert_eq!(
            said.failed(),
            format!(
                "the pod of run {name} in namespace agentpods-runs is gone (Cancelled: {reason}); its result: cancelled: {reason}"
            )
        );
    })
    .await;
}

#[tokio::test]
async fn cancel_of_a_finished_run_is_refused_and_changes_nothing() {
    timed(async {
        let (cluster, name, shell) =
            review(PodScript::succeeds(RESULT), Phase::Succeeded, "d-late").await;

        let said = shell
            .agentpods(&["runs", "cancel", &name, "-n", RUNS, "--reason", "too late"])
            .await;
        assert_eq!(
            said.failed(),
            format!(
                "run {name} in namespace agentpods-runs already ended Succeeded; there is nothing to cancel; its result: success: Looks good: two nits inline."
            )
        );
        let run = cluster.run(&name).await.expect("the run");
        assert_eq!(run.spec.cancel, None);
        assert_eq!(Cluster::phase_of(&run), Some(Phase::Succeeded));
    })
    .await;
}

/// What a hijacked agent prints to take over the operator's terminal: a clipboard write
/// (OSC 52), a new window title, a cleared screen, colour, and a carriage return that
/// overwrites its line with a forged entrypoint message.
const TERMINAL_TRICKS: &str = "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7} \u{1b}[2J\u{1b}[31mRED\u{1b}[0m \u{1b}]0;pwned\u{7}\rX\u{9b}31m";

#[tokio::test]
async fn what_the_agent_wrote_reaches_the_operators_terminal_escaped() {
    timed(async {
        let summary = serde_json::json!({"conclusion": "success", "summary": TERMINAL_TRICKS});
        let (_cluster, name, shell) = review(
            PodScript {
                logs: format!("hello {TERMINAL_TRICKS}\n\tindented\n"),
                ..PodScript::succeeds(&summary.to_string())
            },
            Phase::Succeeded,
            "d-escapes",
        )
        .await;
        let escaped = "\\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7} \\u{1b}[2J\\u{1b}[31mRED\\u{1b}[0m \\u{1b}]0;pwned\\u{7}\\rX\\u{9b}31m";

        // The log, even through a pipe: newlines and tabs stay, every other control is shown.
        let said = shell.agentpods(&["runs", "logs", &name, "-n", RUNS]).await;
        assert_eq!(said.ok(), format!("hello {escaped}\n\tindented\n"));

        // The stored summary, in the error a cancel of the finished run prints.
        let said = shell.agentpods(&["runs", "cancel", &name, "-n", RUNS]).await;
        assert_eq!(
            said.failed(),
            format!(
                "run {name} in namespace agentpods-runs already ended Succeeded; there is nothing to cancel; its result: success: {escaped}"
            )
        );

        // And in the table, as before.
        let said = shell
            .agentpods(&["runs", "list", "-n", RUNS, "-o", "wide"])
            .await;
        let row = &rows(said.ok())[0];
        assert_eq!(row[10], format!("success: {escaped}"));
    })
    .await;
}

#[tokio::test]
async fn an_unknown_run_is_named_with_where_it_might_be() {
    timed(async {
        let cluster = Cluster::without_controller().await;
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-where")
            .await;
        let shell = Shell::new(&cluster.fake);

        let said = shell
            .agentpods(&["runs", "logs", "no-such-run", "-n", RUNS])
            .await;
        assert_eq!(
            said.failed(),
            "run no-such-run not found in namespace agentpods-runs"
        );

        // In the context's namespace: the error says where the run is.
        let said = shell.agentpods(&["runs", "cancel", &name]).await;
        assert_eq!(
            said.failed(),
            format!(
                "run {name} not found in namespace default; it is in namespace agentpods-runs: add -n agentpods-runs"
            )
        );

        // A typo: the likely name.
        let typo = format!("{}x", &name[..name.len() - 1]);
        let said = shell.agentpods(&["runs", "cancel", &typo, "-n", RUNS]).await;
        assert_eq!(
            said.failed(),
            format!("run {typo} not found in namespace agentpods-runs; did you mean {name}?")
        );

        let said = shell
            .agentpods(&["runs", "logs", "../../secrets/x", "-n", RUNS])
            .await;
        assert_eq!(
            said.failed(),
            r#""../../secrets/x" is not a run name (lowercase letters, digits, '-' and '.')"#
        );
        let run = cluster.run(&name).await.expect("the run");
        assert_eq!(run.spec.cancel, None, "nothing was cancelled");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_cluster_is_an_error_that_keeps_the_token_to_itself() {
    timed(async {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let shell = Shell::with_kubeconfig(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: admin\n\
             current-context: gone\nusers:\n- name: admin\n  user:\n    token: s3cr3t-t0ken\n"
        ));
        for args in [
            &["runs", "list"][..],
            &["runs", "logs", "some-run"],
            &["runs", "cancel", "some-run"],
        ] {
            let said = shell.agentpods(args).await;
            let error = said.failed();
            assert!(error.starts_with("Kubernetes API, "), "{error}");
            assert!(!error.contains("s3cr3t"), "{error}");
            assert_eq!(
                error.lines().last(),
                Some(
                    "what to do: check that the cluster is reachable from here \
                     (`kubectl cluster-info` with the same KUBECONFIG and --context)"
                ),
                "{error}"
            );
        }

        let said = shell
            .agentpods(&["runs", "list", "--context", "nowhere"])
            .await;
        let error = said.failed();
        // The kubeconfig is fine; the context's name is not (new-user review).
        assert_eq!(
            error.lines().collect::<Vec<_>>(),
            [
                "your kubeconfig has no context named \"nowhere\" (it has: gone)",
                "what to do: give --context one of the names above (`kubectl config \
                 get-contexts` lists them), or leave it out for the current context",
            ],
            "{error}"
        );
    })
    .await;
}

/// A new user tries `runs list` on a cluster where agentpods is not installed yet: the
/// error ends with the one thing to do.
#[tokio::test]
async fn a_cluster_without_the_crd_says_to_install_it() {
    timed(async {
        let fake = FakeKube::start().await;
        let shell = Shell::new(&fake);
        let said = shell.agentpods(&["runs", "list", "-n", RUNS]).await;
        let error = said.failed();
        assert!(
            error.starts_with("Kubernetes API, listing runs in namespace agentpods-runs: "),
            "{error}"
        );
        assert_eq!(
            error.lines().last(),
            Some(
                "what to do: install the AgentRun CRD (`kubectl apply -k deploy/crd`), \
                 or check the namespace (agentpods-runs) and the kubeconfig context"
            ),
            "{error}"
        );
    })
    .await;
}

/// A kubeconfig whose user logs in through `plugin`, a program that is run for a token.
fn kubeconfig_with_plugin(plugin: &std::path::Path, current: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: old\n  context:\n    cluster: c\n    user: sso\n\
         current-context: {current}\nusers:\n- name: sso\n  user:\n    exec:\n      \
         apiVersion: client.authentication.k8s.io/v1beta1\n      command: {}\n      \
         interactiveMode: Never\n",
        plugin.display()
    )
}

/// A new user's old kubeconfig (new-user review 13f, N2): a credential plugin whose login
/// expired, a current context that is gone. Each error says what is wrong in words (the
/// plugin's own message as text, not a debug dump with `\n`s and the JSON kube hands it)
/// and what to do about that, not "point KUBECONFIG at your cluster's kubeconfig" to a
/// user whose KUBECONFIG is set.
#[tokio::test]
async fn an_old_kubeconfig_is_explained_with_the_one_thing_to_do() {
    timed(async {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plugin = dir.path().join("sso-auth-plugin");
        std::fs::write(
            &plugin,
            "#!/bin/sh\necho 'F1204 token expired' >&2\necho 'Please run:' >&2\necho '  $ sso login' >&2\nexit 1\n",
        )
        .expect("write the plugin");
        let mut permissions = std::fs::metadata(&plugin).expect("the plugin").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&plugin, permissions).expect("make the plugin runnable");

        let shell = Shell::with_kubeconfig(&kubeconfig_with_plugin(&plugin, "old"));
        let said = shell.agentpods(&["runs", "list"]).await;
        let error = said.failed();
        assert!(
            error.contains("credential plugin")
                && error.contains("sso-auth-plugin")
                && error.contains("F1204 token expired\nPlease run:\n  $ sso login"),
            "{error}"
        );
        assert!(
            !error.contains("Output {") && !error.contains("KUBERNETES_EXEC_INFO"),
            "{error}"
        );
        assert!(
            error.lines().last().unwrap_or("").starts_with("what to do: log in again"),
            "{error}"
        );

        let shell = Shell::with_kubeconfig(&kubeconfig_with_plugin(&plugin, "gone"));
        let error = shell.agentpods(&["runs", "list"]).await.failed().to_string();
        assert!(
            error.contains("current context \"gone\" is not one of its contexts"),
            "{error}"
        );
        assert!(
            error.lines().last().unwrap_or("").contains("kubectl config use-context"),
            "{error}"
        );
        assert!(!error.contains("KUBECONFIG"), "{error}");
    })
    .await;
}

/// A KUBECONFIG list with a stale entry (a kind or minikube leftover) is read as kubectl
/// reads it: the file that is not there is skipped and the others are merged (new-user
/// review 13i, F5: before, `runs list` and `serve` stopped at "the kubeconfig …/gone.kc
/// cannot be read: No such file or directory (os error 2)" while kubectl worked).
#[tokio::test]
async fn a_kubeconfig_list_with_a_file_gone_is_read_as_kubectl_reads_it() {
    timed(async {
        let (_cluster, name, mut shell) =
            review(PodScript::succeeds(RESULT), Phase::Succeeded, "d-stale").await;
        let gone = shell.dir.path().join("gone.kc");
        shell.kubeconfig = std::env::join_paths([gone, shell.kubeconfig.clone()])
            .expect("a KUBECONFIG list")
            .into();
        let said = shell.agentpods(&["runs", "list", "-A"]).await;
        assert_eq!(rows(said.ok())[0][1], name);

        // A folder where a kubeconfig should be is still an error, said in words.
        shell.kubeconfig = shell.dir.path().to_path_buf();
        let said = shell.agentpods(&["runs", "list"]).await;
        let stderr = said.failed();
        assert!(
            stderr.starts_with(&format!(
                "the kubeconfig {} cannot be read: ",
                shell.dir.path().display()
            )) && !stderr.contains("os error"),
            "{stderr}"
        );
    })
    .await;
}
