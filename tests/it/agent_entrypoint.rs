//! `agentpods agent`, the entrypoint of an agent pod, end to end: the real binary, real git
//! against a bare repository in a temporary folder (a file:// remote), and a stand-in agent
//! (a small shell script: test data, where the real agent is `codex exec`).
//!
//! Runs that open a pull request talk to the fake GitHub (tests/it/support) over real HTTP.
//!
//! Each test tells one story: what the agent did, what the remote holds afterwards, and
//! what the controller reads from the termination message.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agentpods::agent::result::{CUT_MARKER, PodConclusion, PodResult, TERMINATION_MESSAGE_LIMIT};
use proptest::prelude::*;
use serde_json::Value;
use support::fake_github::{FakeGithub, FaultKind, PAT, manual_clock};
use tempfile::TempDir;

/// No run of the entrypoint in these tests may take longer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// git with a fixed identity and no configuration of the machine's.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "commit.gpgSign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository on a "remote": a bare repository with a `main` branch of a few commits.
struct Remote {
    tmp: TempDir,
    bare: PathBuf,
    /// What each commit on main is, oldest first.
    commits: Vec<String>,
}

impl Remote {
    fn with_main(files: &[(&str, &str)]) -> Remote {
        Remote::at("origin.git", files)
    }

    /// A remote at `<base>/OWNER/NAME.git`, so that `--repository OWNER/NAME` with
    /// `--git-base-url` [`Remote::base_url`] finds it.
    fn named(full_name: &str, files: &[(&str, &str)]) -> Remote {
        Remote::at(&format!("{full_name}.git"), files)
    }

    fn at(bare_path: &str, files: &[(&str, &str)]) -> Remote {
        let tmp = TempDir::new().expect("tempdir");
        let bare = tmp.path().join(bare_path);
        let seed = tmp.path().join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
        git(tmp.path(), &["init", "--quiet", "--bare", bare_path]);
        git(&seed, &["init", "--quiet"]);
        git(&seed, &["remote", "add", "origin", bare.to_str().unwrap()]);
        let mut remote = Remote {
            tmp,
            bare,
            commits: Vec::new(),
        };
        for (path, content) in files {
            remote.commit_on_main(path, content);
        }
        remote
    }

    fn seed(&self) -> PathBuf {
        self.tmp.path().join("seed")
    }

    /// Someone pushes another commit to main.
    fn commit_on_main(&mut self, path: &str, content: &str) -> String {
        let seed = self.seed();
        std::fs::write(seed.join(path), content).unwrap();
        git(&seed, &["add", path]);
        git(&seed, &["commit", "--quiet", "-m", &format!("edit {path}")]);
        git(
            &seed,
            &["push", "--quiet", "origin", "HEAD:refs/heads/main"],
        );
        let sha = git(&seed, &["rev-parse", "HEAD"]);
        self.commits.push(sha.clone());
        sha
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn base_url(&self) -> String {
        format!("file://{}", self.tmp.path().display())
    }

    fn tip(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .current_dir(&self.bare)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn show(&self, rev: &str) -> String {
        git(&self.bare, &["show", rev])
    }

    fn branches(&self) -> Vec<String> {
        git(&self.bare, &["branch", "--format=%(refname:short)"])
            .lines()
            .map(String::from)
            .collect()
    }
}

/// A story told both ways the entrypoint is deployed: as one process (`--phase all`, a
/// template of one container), and as the default pod's three containers, each its own
/// process (`Run::phased`). Each becomes `NAME::in_one_container` and
/// `NAME::in_three_containers`.
macro_rules! both_ways {
    ($(#[$meta:meta])* fn $name:ident($way:ident) $body:block) => {
        mod $name {
            use super::*;
            $(#[$meta])*
            fn story($way: fn(Run) -> Run) $body
            #[test]
            fn in_one_container() {
                story(|run| run)
            }
            #[test]
            fn in_three_containers() {
                story(Run::phased)
            }
        }
    };
}

/// One run of `agentpods agent` with a stand-in agent script.
struct Run {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Run as the default pod does: three processes, one per container (`checkout` and
    /// `publish` with the token, `agent` without it), handing off through files.
    phased: bool,
    /// What the agent's container does last, after the entrypoint's own part of that
    /// step (the agent may leave a process behind): given the run's folder.
    agent_leaves: Option<LastWord>,
}

/// What the agent's container does last, given the run's folder.
type LastWord = Box<dyn Fn(&Path) + Send>;

/// What a run left behind.
struct Outcome {
    success: bool,
    /// What `agentpods agent` printed on stdout and stderr (the pod's log).
    log: String,
    /// The termination message, as written.
    message: String,
    dir: TempDir,
}

impl Outcome {
    fn result(&self) -> PodResult {
        serde_json::from_str(&self.message).unwrap_or_else(|e| {
            panic!(
                "the termination message is not a result ({e}): {}",
                self.message
            )
        })
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Run {
    /// The agent is `/bin/sh agent.sh`, with this script; the task says `task`.
    fn new(remote: &Remote, run_name: &str, script: &str) -> Run {
        let dir = TempDir::new().expect("tempdir");
        std::fs::write(dir.path().join("task.md"), "Fix the greeting.\n").unwrap();
        std::fs::write(dir.path().join("agent.sh"), script).unwrap();
        let p = |name: &str| dir.path().join(name).display().to_string();
        let args = vec![
            "agent".into(),
            "--task-file".into(),
            p("task.md"),
            "--repository".into(),
            remote.url(),
            "--ref".into(),
            "refs/heads/main".into(),
            "--run-name".into(),
            run_name.into(),
            "--workdir".into(),
            p("workspace/repo"),
            "--result-file".into(),
            p("result/result.json"),
            "--termination-log".into(),
            p("termination-log"),
        ];
        Run {
            dir,
            args,
            // Nothing here talks to the real GitHub: a run's token would be revoked there.
            // Nothing listens on this port: the revoke fails at once.
            env: vec![("GITHUB_API_URL".into(), "http://127.0.0.1:9".into())],
            phased: false,
            agent_leaves: None,
        }
    }

    /// Runs as the default pod's three containers do, each its own process: `--phase
    /// checkout`, `--phase run` (given no token: no `--token-file`, no
    /// `AGENTPODS_TOKEN_FILE`) and `--phase publish`.
    fn phased(mut self) -> Self {
        self.phased = true;
        self
    }

    /// Three containers, and the agent's container does `last` after the entrypoint's
    /// part of its step.
    fn agent_leaves(mut self, last: impl Fn(&Path) + Send + 'static) -> Self {
        self.agent_leaves = Some(Box::new(last));
        self.phased()
    }

    /// Runs the way a `both_ways!` story is told.
    fn way(self, way: fn(Run) -> Run) -> Self {
        way(self)
    }

    /// Sets an option (replacing the default the run was made with), as `--flag=value` so
    /// that a value may start with a dash.
    fn arg(mut self, flag: &str, value: &str) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == flag) {
            self.args.drain(i..i + 2);
        }
        self.args.push(format!("{flag}={value}"));
        self
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    fn flag(mut self, flag: &str) -> Self {
        self.args.push(flag.into());
        self
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn go(self) -> Outcome {
        let script = self.path("agent.sh");
        let agent = ["--".to_string(), "/bin/sh".into(), script];
        if !self.phased {
            let args: Vec<String> = self.args.iter().chain(&agent).cloned().collect();
            let (success, log) = self.spawn(&args, &self.env);
            return self.outcome(success, log);
        }
        let step = |phase: &str| {
            let mut args = self.args.clone();
            args.extend([
                "--phase".to_string(),
                phase.into(),
                "--handoff-dir".into(),
                self.path("handoff"),
                "--agent-record".into(),
                self.path("exit/agent.json"),
                "--objects-dir".into(),
                self.path("objects"),
                "--changes-dir".into(),
                self.path("changes"),
                "--publish-dir".into(),
                self.path("publish"),
            ]);
            args
        };
        for dir in ["handoff", "exit", "objects", "changes", "publish"] {
            std::fs::create_dir_all(self.path(dir)).unwrap();
        }
        let mut log = String::new();
        let (checked_out, out) = self.spawn(&step("checkout"), &self.env);
        log.push_str(&out);
        assert!(
            checked_out,
            "the checkout step exits 0 when it could hand off:\n{log}"
        );
        // The agent's container: no token, by option or by variable.
        let mut args: Vec<String> = step("run")
            .into_iter()
            .filter(|a| !a.starts_with("--token-file"))
            .collect();
        args.extend(agent);
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| k != "AGENTPODS_TOKEN_FILE")
            .cloned()
            .collect();
        // What the checkout wrote, the agent's container mounts read-only.
        read_only(&self.dir.path().join("handoff"), true);
        read_only(&self.dir.path().join("objects"), true);
        let (ran, out) = self.spawn(&args, &env);
        read_only(&self.dir.path().join("handoff"), false);
        read_only(&self.dir.path().join("objects"), false);
        log.push_str(&out);
        if let Some(last) = &self.agent_leaves {
            last(self.dir.path());
        }
        assert!(
            ran,
            "the agent's step exits 0 when it could record the exit:\n{log}"
        );
        // The publish step does not mount the agent's checkout: whatever the agent left
        // there, no git holding the token reads it.
        let hidden = self.path("workspace-of-the-agent");
        std::fs::rename(self.path("workspace"), &hidden).unwrap();
        let (published, out) = self.spawn(&step("publish"), &self.env);
        log.push_str(&out);
        std::fs::rename(&hidden, self.path("workspace")).unwrap();
        self.outcome(published, log)
    }

    /// Runs `agentpods` with `args` and `env` (and nothing else of this process's
    /// AGENTPODS_ or GITHUB_ variables), under a watchdog.
    fn spawn(&self, args: &[String], env: &[(String, String)]) -> (bool, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentpods"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            let name_ = name.to_string_lossy();
            if name_.starts_with("AGENTPODS_") || name_.starts_with("GITHUB_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().expect("agentpods runs");
        let pid = child.id().to_string();
        let done = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let started = Instant::now();
                while !done.load(Ordering::SeqCst) {
                    if started.elapsed() > TIMEOUT {
                        let _ = Command::new("kill").args(["-9", &pid]).status();
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                false
            })
        };
        let out = child.wait_with_output().expect("agentpods finishes");
        done.store(true, Ordering::SeqCst);
        assert!(
            !watchdog.join().unwrap(),
            "agentpods agent took longer than {TIMEOUT:?}"
        );
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn outcome(self, success: bool, log: String) -> Outcome {
        Outcome {
            success,
            log,
            message: std::fs::read_to_string(self.dir.path().join("termination-log"))
                .unwrap_or_default(),
            dir: self.dir,
        }
    }
}

/// Makes everything under `dir` read-only (or writable again), as a read-only mount is.
fn read_only(dir: &Path, on: bool) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(dir) {
        let Ok(meta) = std::fs::symlink_metadata(&entry) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let mode = if on { mode & !0o222 } else { mode | 0o200 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// `dir` and everything under it, links not followed.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        let is_dir = std::fs::symlink_metadata(&all[i]).is_ok_and(|m| m.is_dir());
        if is_dir {
            let path = all[i].clone();
            all.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
        i += 1;
    }
    all
}

const EDIT_GREETING: &str = r#"
printf 'hello, world\n' > greeting.txt
echo "edited greeting.txt"
"#;

#[test]
fn an_agent_that_changes_nothing_ends_neutral_and_nothing_is_pushed() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "review-1", "cat > /dev/null; echo 'looks fine'\n")
        .flag("--push")
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Neutral);
    assert_eq!(result.summary, "The agent made no changes.");
    assert_eq!(result.branch, None);
    assert_eq!(remote.branches(), vec!["main"]);
    assert!(
        outcome.log.contains("looks fine"),
        "the agent's output is in the log"
    );
}

both_ways! {
    fn an_agent_that_edits_files_gets_them_pushed_to_its_branch_on_top_of_the_commit(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let base = remote.commits[0].clone();
    let outcome = Run::new(&remote, "task-7", EDIT_GREETING)
        .arg("--sha", &base)
        .flag("--push")
        .way(way).go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", result.summary);
    assert_eq!(result.branch.as_deref(), Some("agentpods/task-7"));
    assert!(
        result.summary.contains(&format!(
            "Pushed 1 commit on {} to branch `agentpods/task-7`",
            &base[..7]
        )),
        "{}",
        result.summary
    );

    let tip = remote
        .tip("agentpods/task-7")
        .expect("the branch was pushed");
    assert_eq!(git(&remote.bare, &["rev-parse", &format!("{tip}^")]), base);
    assert_eq!(
        git(&remote.bare, &["show", &format!("{tip}:greeting.txt")]),
        "hello, world"
    );
    let commit = remote.show(&tip);
    assert!(
        commit.contains("agentpods: changes of run task-7"),
        "{commit}"
    );
    assert!(commit.contains("Author: agentpods[bot]"), "{commit}");
    assert_eq!(remote.tip("main"), Some(base), "main is untouched");
}}

#[test]
fn the_agent_s_own_commits_are_pushed_as_they_are() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = r#"
printf 'hi\n' > greeting.txt
git -c user.name=Agent -c user.email=agent@example.com commit --quiet -am "Say hi"
"#;
    let outcome = Run::new(&remote, "task-8", script).flag("--push").go();

    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", outcome.log);
    let tip = remote.tip("agentpods/task-8").expect("pushed");
    assert!(remote.show(&tip).contains("Say hi"));
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{tip}^")]),
        remote.commits[0],
        "no extra commit when the tree is clean"
    );
}

#[test]
fn changes_of_a_task_that_may_not_push_are_reported_and_not_kept() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "review-2", EDIT_GREETING).go();

    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success);
    assert!(
        result.summary.contains("may not push"),
        "{}",
        result.summary
    );
    assert_eq!(result.branch, None);
    assert_eq!(remote.branches(), vec!["main"]);
}

both_ways! {
    fn an_agent_that_fails_ends_in_failure_with_the_end_of_its_stderr(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = r#"
printf 'half done\n' > greeting.txt
echo "connecting to the model" >&2
echo "error: the model refused: rate limited" >&2
exit 3
"#;
    let outcome = Run::new(&remote, "task-9", script).flag("--push").way(way).go();

    assert!(
        outcome.success,
        "the result was written, so agentpods exits 0"
    );
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert!(
        result
            .summary
            .starts_with("The agent exited with status 3."),
        "{}",
        result.summary
    );
    assert!(
        result
            .summary
            .contains("error: the model refused: rate limited"),
        "{}",
        result.summary
    );
    assert_eq!(
        remote.branches(),
        vec!["main"],
        "a failed run pushes nothing"
    );
}}

both_ways! {
    fn the_agent_s_result_file_is_its_word_and_an_oversized_summary_is_cut_to_4_kib(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    // A summary of 20 000 multibyte characters, with quotes and newlines that JSON escapes.
    let summary: String = "Grüße, \"世界\" 🦀\n".repeat(1500);
    let report = serde_json::json!({"conclusion": "success", "summary": summary});
    let run = Run::new(
        &remote,
        "docs-3",
        "cp ../../report.json \"$AGENTPODS_RESULT\"\n",
    );
    std::fs::write(run.path("report.json"), report.to_string()).unwrap();
    let outcome = run.way(way).go();

    assert!(outcome.success, "{}", outcome.log);
    assert!(
        outcome.message.len() <= TERMINATION_MESSAGE_LIMIT,
        "{} bytes",
        outcome.message.len()
    );
    assert!(
        outcome.message.len() > TERMINATION_MESSAGE_LIMIT - 16,
        "{} bytes: {}",
        outcome.message.len(),
        outcome.message
    );
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success);
    let kept = result
        .summary
        .strip_suffix(CUT_MARKER)
        .expect("the cut is marked");
    assert!(
        summary.starts_with(kept),
        "the kept part is the summary's start"
    );
}}

both_ways! {
    fn the_last_line_of_the_agent_s_output_may_be_its_result(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = r#"
echo "reviewing…"
echo '{"conclusion": "failure", "summary": "The change breaks `make test`."}'
"#;
    let outcome = Run::new(&remote, "review-4", script).way(way).go();

    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert_eq!(result.summary, "The change breaks `make test`.");
}}

#[test]
fn the_exact_commit_is_checked_out_even_when_the_branch_has_moved_on() {
    let mut remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let event_sha = remote.commits[0].clone();
    let newer = remote.commit_on_main("greeting.txt", "hello again\n");
    assert_ne!(remote.tip("main").as_deref(), Some(event_sha.as_str()));

    let script = r#"
git rev-parse HEAD > "$AGENTPODS_WORKDIR/../../head.txt"
cp greeting.txt "$AGENTPODS_WORKDIR/../../seen.txt"
printf 'bye\n' > greeting.txt
"#;
    let outcome = Run::new(&remote, "task-10", script)
        .arg("--sha", &event_sha)
        .flag("--push")
        .go();

    assert_eq!(outcome.file("head.txt").trim(), event_sha);
    assert_eq!(outcome.file("seen.txt"), "hello\n");
    let tip = remote.tip("agentpods/task-10").expect("pushed");
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{tip}^")]),
        event_sha
    );
    assert_eq!(remote.tip("main"), Some(newer));
}

both_ways! {
    /// The review agent's prompt asks for `git diff origin/<base>...HEAD`. The pod is given
    /// the pull request's base (`--base-ref`, `--base-sha`), and the entrypoint fetches it at
    /// that exact commit as `origin/<base>`, so the diff (three dots: from the merge base) is
    /// the pull request's change alone, even when the base has moved on since. Before the fix
    /// the agent's `git diff` printed "fatal: ambiguous argument 'origin/main...HEAD': unknown
    /// revision" and the run ended a success, having reviewed nothing (issue 13).
    fn a_review_run_sees_the_pull_request_s_change_against_its_base(way) {
    let mut remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let forked_from = remote.commits[0].clone();
    // The pull request: one commit on a branch, published as refs/pull/2/head.
    let seed = remote.seed();
    git(&seed, &["checkout", "--quiet", "-b", "feature"]);
    std::fs::write(seed.join("feature.txt"), "new feature\n").unwrap();
    git(&seed, &["add", "feature.txt"]);
    git(&seed, &["commit", "--quiet", "-m", "Add the feature"]);
    git(
        &seed,
        &["push", "--quiet", "origin", "HEAD:refs/pull/2/head"],
    );
    let head = git(&seed, &["rev-parse", "HEAD"]);
    git(&seed, &["checkout", "--quiet", "main"]);
    // main moves on: once before the event (the event's base), once after.
    let base = remote.commit_on_main("other.txt", "someone else's work\n");
    let later = remote.commit_on_main("other.txt", "more of it\n");

    let script = r#"
cat > /dev/null
out="$AGENTPODS_WORKDIR/../.."
git diff --stat origin/main...HEAD > "$out/diff.txt" 2> "$out/diff-error.txt"
git rev-parse origin/main > "$out/base.txt"
git merge-base origin/main HEAD > "$out/merge-base.txt"
echo '{"conclusion": "success", "summary": "reviewed"}'
"#;
    let outcome = Run::new(&remote, "review-5", script)
        .arg("--ref", "refs/pull/2/head")
        .arg("--sha", &head)
        .arg("--base-ref", "main")
        .arg("--base-sha", &base)
        .way(way).go();

    assert!(outcome.success, "{}", outcome.log);
    assert_eq!(
        outcome.result().conclusion,
        PodConclusion::Success,
        "{}",
        outcome.log
    );
    assert_eq!(outcome.file("diff-error.txt"), "", "{}", outcome.log);
    let diff = outcome.file("diff.txt");
    assert!(diff.contains("feature.txt | 1 +"), "{diff}");
    assert!(
        !diff.contains("other.txt"),
        "only the pull request's change: {diff}"
    );
    assert_eq!(
        outcome.file("base.txt").trim(),
        base,
        "the event's base, not {later}"
    );
    assert_eq!(outcome.file("merge-base.txt").trim(), forked_from);
}}

#[test]
fn a_base_the_remote_does_not_have_is_a_failure_not_a_review_of_nothing() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "review-6", "touch ran\n")
        .arg("--base-ref", "main")
        .arg("--base-sha", &"0123456789abcdef".repeat(3)[..40])
        .go();

    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure, "{}", outcome.log);
    assert!(
        result.summary.contains("is not on the remote"),
        "{}",
        result.summary
    );
    assert!(!outcome.dir.path().join("workspace/repo/ran").exists());
}

both_ways! {
    fn a_commit_the_remote_does_not_have_is_a_failure_result_not_a_crash(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "task-11", "touch ran\n")
        .arg("--sha", &"0123456789abcdef".repeat(3)[..40])
        .way(way).go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert!(
        result.summary.contains("is not on the remote"),
        "{}",
        result.summary
    );
    assert!(!outcome.dir.path().join("workspace/repo/ran").exists());
}}

#[test]
fn bad_options_are_a_failure_result_that_names_them() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    for (flag, value, says) in [
        ("--sha", "not-a-sha", "--sha: expected a full commit id"),
        ("--ref", "--upload-pack=evil", "--ref: not a git ref name"),
        ("--branch", "-f", "--branch: not a branch name"),
    ] {
        let outcome = Run::new(&remote, "task-12", "true\n").arg(flag, value).go();
        assert!(outcome.success, "{}", outcome.log);
        let result = outcome.result();
        assert_eq!(result.conclusion, PodConclusion::Failure);
        assert!(result.summary.contains(says), "{flag}: {}", result.summary);
    }
}

#[test]
fn a_result_that_cannot_be_written_is_the_one_nonzero_exit() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "task-13", "true\n")
        .arg("--termination-log", "/nonexistent/dir/termination-log")
        .go();

    assert!(!outcome.success);
    assert!(
        outcome.log.contains("cannot write the result"),
        "{}",
        outcome.log
    );
}

/// The token is a secret that git needs for the remote and nothing else needs.
#[test]
fn the_token_reaches_git_through_its_environment_only_and_is_never_shown() {
    const TOKEN: &str = "ghs_FakeTokenForTheTest0123456789";
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    // The agent is hostile: it dumps its environment, then leaks the token to stderr.
    let script = r#"
env > "$AGENTPODS_WORKDIR/../../agent-env.txt"
printf 'hello, world\n' > greeting.txt
cat ../../token >&2
exit 1
"#;
    let run = Run::new(&remote, "task-14", script);
    std::fs::write(run.path("token"), format!("{TOKEN}\n")).unwrap();
    // A git that notes its argv and its GIT_CONFIG_* environment, then runs the real git.
    let spy = run.path("git-spy");
    std::fs::write(
        &spy,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {argv}\nenv | grep '^GIT_CONFIG' >> {env}\nexec git \"$@\"\n",
            argv = run.path("git-argv.txt"),
            env = run.path("git-env.txt")
        ),
    )
    .unwrap();
    Command::new("chmod").args(["+x", &spy]).status().unwrap();
    let token_file = run.path("token");
    let outcome = run
        .arg("--token-file", &token_file)
        .arg("--git", &spy)
        .flag("--push")
        .go();

    let encoded = "eC1hY2Nlc3MtdG9rZW46Z2hzX0Zha2VUb2tlbkZvclRoZVRlc3QwMTIzNDU2Nzg5";
    let git_env = outcome.file("git-env.txt");
    assert!(
        git_env.contains(&format!("Authorization: Basic {encoded}")),
        "git got the token as a header in its environment:\n{git_env}"
    );
    assert!(git_env.contains(&format!("http.{}.extraHeader", remote.url())));

    let argv = outcome.file("git-argv.txt");
    assert!(argv.contains("fetch"), "the spy saw git run:\n{argv}");
    let agent_env = outcome.file("agent-env.txt");
    assert!(
        agent_env.contains("AGENTPODS_RESULT="),
        "the agent's env was captured"
    );
    for (what, text) in [
        ("git's argv", argv.as_str()),
        ("the agent's environment", agent_env.as_str()),
        ("the log", outcome.log.as_str()),
        ("the termination message", outcome.message.as_str()),
    ] {
        assert!(!text.contains(TOKEN), "the token is in {what}:\n{text}");
        assert!(
            !text.contains(encoded),
            "the encoded token is in {what}:\n{text}"
        );
    }
    assert!(!agent_env.contains("AGENTPODS_TOKEN_FILE"));
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert!(
        result.summary.contains("***"),
        "the leak is redacted: {}",
        result.summary
    );
}

/// The fake GitHub, served by a runtime of its own while a test waits for the entrypoint.
struct Github {
    fake: FakeGithub,
    _runtime: tokio::runtime::Runtime,
}

impl Github {
    fn start() -> Github {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let fake = runtime.block_on(FakeGithub::start(manual_clock()));
        Github {
            fake,
            _runtime: runtime,
        }
    }

    /// A run on `octo/demo` that may open a pull request, with the token the fake takes.
    fn run(&self, remote: &Remote, run_name: &str, script: &str) -> Run {
        self.run_with_token(remote, run_name, script, PAT)
    }

    /// The same with `token` in the token file.
    fn run_with_token(&self, remote: &Remote, run_name: &str, script: &str, token: &str) -> Run {
        let run = Run::new(remote, run_name, script);
        std::fs::write(run.path("token"), format!("{token}\n")).unwrap();
        let token_file = run.path("token");
        run.arg("--repository", REPO)
            .arg("--git-base-url", &remote.base_url())
            .arg("--token-file", &token_file)
            .env("GITHUB_API_URL", &self.fake.url())
    }

    fn pulls(&self) -> Vec<Value> {
        self.fake.pulls(REPO)
    }

    /// A run's token for `octo/demo`, minted by the App as the controller mints it.
    fn run_token(&self) -> String {
        use agentpods::github::permission::Access;
        use agentpods::github_client::TokenPermissions;
        self.fake.install(REPO, 77);
        let permissions = TokenPermissions::of(
            &[
                ("contents", Access::Write),
                ("pull_requests", Access::Write),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        );
        // The client's HTTP stack is built inside the runtime it runs on.
        let token = self
            ._runtime
            .block_on(async {
                let client = self.fake.app_client(manual_clock());
                client
                    .scoped_token(&REPO.parse().unwrap(), &permissions)
                    .await
            })
            .expect("a run token");
        token.token.expose().to_owned()
    }

    fn assert_clean(&self) {
        assert_eq!(
            self.fake.violations(),
            Vec::<String>::new(),
            "{:#?}",
            self.fake.requests()
        );
    }
}

const REPO: &str = "octo/demo";

/// The agent's own result: a title line, then a sentence that mentions someone.
const EDIT_AND_REPORT: &str = r#"
printf 'hello, world\n' > greeting.txt
printf '%s\n' '{"conclusion": "success", "summary": "Greet the whole world\n\nDone, as @admin said."}'
"#;

both_ways! {
    fn changes_with_a_pull_request_asked_for_are_pushed_and_one_pull_request_is_opened(way) {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let run = github
        .run(&remote, "task-20", EDIT_AND_REPORT)
        .flag("--open-pr")
        .arg("--requested-by", "octocat")
        .arg("--issue", "7");
    let argv = run.args.join(" ");
    let outcome = run.way(way).go();

    assert!(outcome.success, "{}", outcome.log);
    assert!(
        remote.tip("agentpods/task-20").is_some(),
        "the branch was pushed"
    );
    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr["head"]["ref"], "agentpods/task-20");
    assert_eq!(pr["base"]["ref"], "main", "onto the branch checked out");
    assert_eq!(pr["title"], "Greet the whole world");
    let body = pr["body"].as_str().unwrap();
    assert!(body.starts_with("Greet the whole world"), "{body}");
    assert!(
        body.contains("@\u{200D}admin"),
        "the agent's words ping nobody: {body}"
    );
    assert!(body.contains("to branch `agentpods/task-20`"), "{body}");
    assert!(body.ends_with("Requested by @octocat in #7."), "{body}");

    let result = outcome.result();
    let number = pr["number"].as_u64().unwrap();
    assert_eq!(result.conclusion, PodConclusion::Success);
    assert_eq!(result.branch.as_deref(), Some("agentpods/task-20"));
    assert_eq!(result.pull_request, Some(number));
    assert!(
        result.summary.ends_with(&format!(
            "Opened #{number}: https://github.com/{REPO}/pull/{number}"
        )),
        "{}",
        result.summary
    );
    for (what, text) in [
        ("argv", argv.as_str()),
        ("the log", outcome.log.as_str()),
        ("the termination message", outcome.message.as_str()),
    ] {
        assert!(!text.contains(PAT), "the token is in {what}:\n{text}");
    }
    github.assert_clean();
}}

#[test]
fn a_pull_request_github_opened_before_answering_502_is_not_opened_twice() {
    let github = Github::start();
    github.fake.fail_next(
        1,
        Some(("POST", "/repos/octo/demo/pulls")),
        FaultKind::BadGatewayAfterActing,
    );
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let outcome = github
        .run(&remote, "task-21", EDIT_GREETING)
        .flag("--open-pr")
        .go();

    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(github.fake.count("POST", "/pulls"), 1);
    let result = outcome.result();
    assert_eq!(result.pull_request, pulls[0]["number"].as_u64());
    assert_eq!(
        pulls[0]["title"], "Fix the greeting.",
        "without a summary of the agent's, the task names it"
    );
    github.assert_clean();
}

#[test]
fn no_changes_open_no_pull_request() {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let outcome = github
        .run(&remote, "task-22", "echo 'nothing to do'\n")
        .flag("--open-pr")
        .go();

    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Neutral);
    assert_eq!(result.pull_request, None);
    assert_eq!(remote.branches(), vec!["main"]);
    assert_eq!(github.fake.requests(), Vec::<String>::new());
}

#[test]
fn a_task_that_only_pushes_opens_no_pull_request() {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let outcome = github
        .run(&remote, "task-23", EDIT_GREETING)
        .flag("--push")
        .go();

    let result = outcome.result();
    assert_eq!(result.branch.as_deref(), Some("agentpods/task-23"));
    assert_eq!(result.pull_request, None);
    assert!(remote.tip("agentpods/task-23").is_some());
    assert_eq!(github.fake.requests(), Vec::<String>::new());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the summary — any Unicode, any length — the termination message is valid
    /// JSON within the limit, and its summary is the whole or a marked prefix of the original.
    #[test]
    fn any_summary_gives_a_valid_message_within_the_limit(
        summary in "(\\PC|[\"\\\\\n\t\u{0}-\u{1f}]){0,3000}",
        limit in 64usize..=4096,
    ) {
        let result = PodResult::new(PodConclusion::Success, summary.clone());
        let json = result.to_json_within(limit);
        prop_assert!(json.len() <= limit, "{} > {limit}", json.len());
        let back: PodResult = serde_json::from_str(&json).expect("valid JSON");
        prop_assert_eq!(back.conclusion, PodConclusion::Success);
        if back.summary != summary {
            let kept = back.summary.strip_suffix(CUT_MARKER).expect("a cut is marked");
            prop_assert!(summary.starts_with(kept));
        }
    }
}

#[test]
fn a_json_value_of_the_result_has_exactly_the_keys_the_controller_reads() {
    let mut result = PodResult::new(PodConclusion::Neutral, "ok");
    let v: Value = serde_json::from_str(&result.termination_message()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"conclusion": "neutral", "summary": "ok"})
    );
    result.branch = Some("agentpods/x".into());
    let v: Value = serde_json::from_str(&result.termination_message()).unwrap();
    assert_eq!(v["branch"], "agentpods/x");
}

// --- Finding 6 of issue 11: every secret the pod receives stays out of what is published ---

/// The model key the pod gets from its Secret (test data).
const OPENAI_KEY: &str = "sk-proj-Zm9vYmFyYmF6cXV4LTAxMjM0NTY3ODk";

/// A prompt-injected agent: it prints its key as it is, in base64 at each of the three
/// offsets (padded and not), URL-encoded, in hex and in two writes; prints the mounted
/// token file, as it is and in base64; says the key in its own result; and fails.
const LEAKY_AGENT: &str = r#"
cat > /dev/null
k="$OPENAI_API_KEY"
echo "my key is $k"
printf '%s' "$k" | base64
printf 'x%s' "$k" | base64
printf 'xy%s\n' "$k" | base64 -w0; echo
printf 'OPENAI_API_KEY=%s' "$k" | base64 -w0 | tr -d '='; echo
printf '%s' "$k" | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g'; echo
printf '%s' "$k" | od -An -tx1 | tr -d ' \n'; echo
printf 'in two writes: %s' "$(printf %s "$k" | cut -c1-12)"; sleep 0.1; printf '%s\n' "$(printf %s "$k" | cut -c13-)"
printf 'as Windows PowerShell 5 writes: %s\n' "$k" | iconv -f UTF-8 -t UTF-16
printf 'in UTF-32: %s\n' "$k" | iconv -f UTF-8 -t UTF-32BE
cat "$SECRET_DIR/token"
base64 "$SECRET_DIR/token" >&2
echo "the key again: $k" >&2
echo "{\"conclusion\": \"failure\", \"summary\": \"my key is $k\"}"
exit 1
"#;

/// The forms of `secret` still in `text`: as it is, URL-encoded, hex, or 12 characters in a
/// row of the middle of its base64 (standard or URL-safe) at any of the three offsets.
fn leaks(text: &str, secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let lower = text.to_ascii_lowercase();
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let percent: String = secret.bytes().map(|b| format!("%{b:02x}")).collect();
    let mut found = Vec::new();
    if text.contains(secret) {
        found.push("as it is".to_string());
    }
    // UTF-16 and UTF-32: its characters with NULs between them, which a terminal drops.
    let narrow: String = text.chars().filter(|c| *c != '\0').collect();
    if narrow.contains(secret) && !text.contains(secret) {
        found.push("as UTF-16 or UTF-32".to_string());
    }
    if lower.contains(&hex) {
        found.push("in hex".to_string());
    }
    if lower.contains(&percent) {
        found.push("URL-encoded".to_string());
    }
    for prefix in ["", "x", "xy"] {
        for engine in [STANDARD, URL_SAFE] {
            let encoded = engine.encode(format!("{prefix}{secret}"));
            let middle = &encoded[4..encoded.len() - 4];
            if let Some(w) = middle
                .as_bytes()
                .windows(12)
                .map(|w| std::str::from_utf8(w).unwrap())
                .find(|w| text.contains(w))
            {
                found.push(format!("base64 after {prefix:?} ({w})"));
            }
        }
    }
    found
}

fn assert_no_leak(what: &str, text: &str, secrets: &[(&str, &str)]) {
    for (name, secret) in secrets {
        let found = leaks(text, secret);
        assert!(
            found.is_empty(),
            "the {name} is in {what}, {}:\n{text}",
            found.join(", ")
        );
    }
}

/// The whole way out: render tells the entrypoint which variables and files are secrets;
/// the entrypoint (the real binary, running the hostile agent with what the pod would give
/// it) redacts them; the controller reads its result from the fake API server and reports
/// it to the fake GitHub. Neither secret is in the pod log, the termination message, the
/// AgentRun's status and events, the comment or the check run.
///
/// Before the fix the key was in the log as it is and the first check failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_prints_its_keys_in_every_encoding_and_fails_publishes_none_of_them() {
    use agentpods::agentrun::Phase;
    use k8s_openapi::api::core::v1::Secret;
    use kube::Api;
    use support::cluster::{RUNS, reporting_cluster};
    use support::fake_kube::PodScript;
    use support::fixtures::fixture;

    let (cluster, github) = reporting_cluster().await;
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-leaky")
        .await;
    cluster.wait_phase(&name, Phase::Running).await;

    // What the pod gets: the key in OPENAI_API_KEY, the run's token in a mounted file.
    let pod = cluster.pods_of(&name).await.remove(0);
    let agent = &pod.spec.as_ref().expect("a spec").containers[0];
    let env = |var: &str| {
        agent
            .env
            .iter()
            .flatten()
            .find(|e| e.name == var)
            .and_then(|e| e.value.clone())
            .unwrap_or_default()
    };
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), RUNS);
    let token = secrets
        .get(&format!("{name}-github-token-1"))
        .await
        .expect("the run's token Secret")
        .data
        .and_then(|d| {
            d.get("token")
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        })
        .expect("a token");
    // The pod's files, under a folder of the test's.
    let root = TempDir::new().unwrap();
    let local = |path: &str| root.path().join(path.trim_start_matches('/'));
    let declared_files: Vec<String> = env("AGENTPODS_SECRET_FILES")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| local(p).display().to_string())
        .collect();
    let token_dir = local("/var/run/agentpods/github");
    std::fs::create_dir_all(&token_dir).unwrap();
    std::fs::write(token_dir.join("token"), &token).unwrap();

    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let run = Run::new(&remote, &name, LEAKY_AGENT)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("AGENTPODS_SECRET_ENV", &env("AGENTPODS_SECRET_ENV"))
        .env("AGENTPODS_SECRET_FILES", &declared_files.join(","))
        .env("SECRET_DIR", &token_dir.display().to_string());
    let outcome = tokio::task::spawn_blocking(move || run.go())
        .await
        .expect("the entrypoint ran");
    let secrets = [("OpenAI key", OPENAI_KEY), ("token", token.as_str())];

    assert_no_leak("the pod log", &outcome.log, &secrets);
    assert_no_leak("the termination message", &outcome.message, &secrets);
    assert!(
        outcome.log.contains("my key is ***") && outcome.log.contains("in two writes: ***"),
        "the agent's output is in the log, redacted:\n{}",
        outcome.log
    );
    assert_eq!(env("AGENTPODS_SECRET_ENV"), "OPENAI_API_KEY");
    assert_eq!(env("AGENTPODS_SECRET_FILES"), "/var/run/agentpods/github");
    assert_eq!(agent.termination_message_policy.as_deref(), Some("File"));
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert!(
        result
            .summary
            .starts_with("The agent exited with status 1.")
    );

    // The pod ends as the entrypoint did: exit 0, the result as its termination message.
    assert!(cluster.fake.finish_pod(
        RUNS,
        &name,
        &PodScript {
            exit_code: 0,
            message: outcome.message.clone(),
            logs: outcome.log.clone(),
            stay_running: false,
        }
    ));
    let run = cluster
        .wait_for(&name, "GitHub to hear it failed", |r| {
            r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                == Some(Phase::Failed)
        })
        .await
        .expect("the run");
    let status = serde_json::to_string(&run.status).unwrap();
    assert_no_leak("the AgentRun's status", &status, &secrets);
    assert!(
        status.contains("The agent exited with status 1."),
        "{status}"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(cluster.client.clone(), RUNS);
    let events = events.list(&Default::default()).await.expect("events");
    assert_no_leak(
        "the run's events",
        &serde_json::to_string(&events.items).unwrap(),
        &secrets,
    );
    let comments = github.comments();
    assert_eq!(comments.len(), 1);
    assert_no_leak("the comment", &comments[0].body, &secrets);
    assert!(comments[0].body.contains("***"), "{}", comments[0].body);
    let checks = github.check_runs();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
    assert_no_leak("the check run", &format!("{:?}", checks[0]), &secrets);
}

/// An image build runs Kaniko, not `agentpods agent`: nothing redacts its log, so no text
/// of it is reported — only its exit, and where its log is. Before the fix the template's
/// `FallbackToLogsOnError` put the end of the log, registry credentials and all, in the
/// termination message, and the controller showed it in the status and the check run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_image_build_reports_its_exit_and_none_of_its_log() {
    use agentpods::agentrun::Phase;
    use support::cluster::reporting_cluster;
    use support::fake_kube::PodScript;
    use support::fixtures::fixture;
    const AUTH: &str = "cm9ib3Q6cmVnaXN0cnktcGFzc3dvcmQtNWY0ZGNjM2I=";

    let (cluster, github) = reporting_cluster().await;
    cluster.fake.run_kubelet(|_| {
        PodScript {
            exit_code: 1,
            message: String::new(),
            logs: format!(
                "INFO Retrieving image manifest\nerror pushing image: {{\"auths\":{{\"ghcr.io\":{{\"auth\":\"{AUTH}\"}}}}}}\n"
            ),
            stay_running: false,
        }
    });
    let name = cluster
        .deliver_one(&fixture("push/0.json"), "d-image")
        .await;
    let run = cluster
        .wait_for(&name, "GitHub to hear it failed", |r| {
            r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                == Some(Phase::Failed)
        })
        .await
        .expect("the run");

    let status = run.status.clone().expect("a status");
    let summary = status.result.expect("a result").summary;
    let shown = format!(
        "{}\n{summary}\n{:?}",
        status.message.unwrap_or_default(),
        github.check_runs()
    );
    for secret in [
        AUTH,
        "cm9ib3Q6cmVnaXN0cnktcGFzc3dvcmQt",
        "registry-password",
    ] {
        assert!(!shown.contains(secret), "the log is shown:\n{shown}");
    }
    assert!(!shown.contains("Retrieving"), "the log is shown:\n{shown}");
    assert_eq!(
        summary,
        format!(
            "the container \"kaniko\" exited with code 1 (Error). Its log is not shown here, \
             since it may hold secrets: `agentpods runs logs {name}`."
        )
    );
    let checks = github.check_runs();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
}

both_ways! {
    /// Nothing the agent starts outlives it: a process it leaves behind to overwrite the
    /// termination message once the result is written (a key in a forged result) is ended
    /// with it. Before the fix the forged message replaced the result.
    fn a_process_the_agent_leaves_behind_cannot_replace_the_result(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = r#"
cat > /dev/null
log="$TERMINATION_LOG"
( exec >/dev/null 2>&1 </dev/null; sleep 1; printf '{"conclusion":"failure","summary":"%s"}' "$OPENAI_API_KEY" > "$log" ) &
exit 0
"#;
    let run = Run::new(&remote, "review-3", script);
    let log = run.path("termination-log");
    let outcome = run
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("AGENTPODS_SECRET_ENV", "OPENAI_API_KEY")
        .env("TERMINATION_LOG", &log)
        .way(way).go();
    assert!(outcome.success, "{}", outcome.log);
    std::thread::sleep(Duration::from_millis(1500));
    let message = std::fs::read_to_string(&log).unwrap();
    assert!(!message.contains(OPENAI_KEY), "{message}");
    assert_eq!(
        outcome.result().conclusion,
        PodConclusion::Neutral,
        "{message}"
    );
    assert_eq!(message, outcome.message);
}}

/// A secret too short to redact without turning the log into `***` is not redacted: the
/// log says which variable it is, and the longer ones are still redacted.
#[test]
fn a_secret_too_short_to_redact_is_named_in_the_log() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = "cat > /dev/null\necho \"pin $PIN, key $OPENAI_API_KEY\"\n";
    let outcome = Run::new(&remote, "review-4", script)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("PIN", "4711")
        .env("AGENTPODS_SECRET_ENV", "PIN,OPENAI_API_KEY,UNSET_KEY")
        .go();
    assert!(outcome.success, "{}", outcome.log);
    assert!(outcome.log.contains("pin 4711, key ***"), "{}", outcome.log);
    assert!(
        outcome.log.contains(
            "agentpods agent: the variable PIN is shorter than 8 bytes: it is not redacted"
        ),
        "{}",
        outcome.log
    );
    assert!(
        outcome
            .log
            .contains("agentpods agent: AGENTPODS_SECRET_ENV names UNSET_KEY, which is not set"),
        "{}",
        outcome.log
    );
}

/// The run's token is revoked as the entrypoint exits, whatever became of the run: the
/// agent found nothing to do, the agent failed, the entrypoint itself failed (a commit the
/// remote does not have), or it pushed and opened a pull request with it. From then on
/// GitHub refuses it, so nothing the agent left behind can use it. Before the fix no case
/// revoked anything.
#[test]
fn the_run_s_token_is_revoked_as_the_entrypoint_exits_on_every_path() {
    /// One way a run ends: the agent's script, the options, what it comes to.
    struct Ending<'a> {
        story: &'a str,
        script: &'a str,
        sha: Option<&'a str>,
        open_pr: bool,
        conclusion: PodConclusion,
    }
    let unknown_commit = "d".repeat(40);
    let cases = [
        Ending {
            story: "nothing to do",
            script: "echo 'looks fine'\n",
            sha: None,
            open_pr: false,
            conclusion: PodConclusion::Neutral,
        },
        Ending {
            story: "the agent fails",
            script: "echo 'it broke' >&2\nexit 1\n",
            sha: None,
            open_pr: false,
            conclusion: PodConclusion::Failure,
        },
        Ending {
            story: "the entrypoint fails",
            script: "echo 'never runs'\n",
            sha: Some(&unknown_commit),
            open_pr: false,
            conclusion: PodConclusion::Failure,
        },
        Ending {
            story: "a pull request opened",
            script: EDIT_AND_REPORT,
            sha: None,
            open_pr: true,
            conclusion: PodConclusion::Success,
        },
    ];
    for (i, ending) in cases.into_iter().enumerate() {
        let Ending {
            story,
            script,
            sha,
            open_pr,
            conclusion,
        } = ending;
        let github = Github::start();
        let token = github.run_token();
        let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
        let mut run = github.run_with_token(&remote, &format!("task-3{i}"), script, &token);
        if let Some(sha) = sha {
            run = run.arg("--sha", sha);
        }
        if open_pr {
            run = run.flag("--open-pr");
        }
        let outcome = run.go();

        assert!(outcome.success, "{story}: {}", outcome.log);
        assert_eq!(
            outcome.result().conclusion,
            conclusion,
            "{story}: {}",
            outcome.log
        );
        assert_eq!(github.pulls().len(), usize::from(open_pr), "{story}");
        let tokens = github.fake.scoped_tokens();
        assert_eq!(tokens.len(), 1, "{story}");
        assert!(
            tokens[0].1.revoked,
            "{story}: the token is good after the run: {:#?}\n{}",
            github.fake.requests(),
            outcome.log
        );
        assert!(
            outcome.log.contains("revoked the run's GitHub token"),
            "{story}: {}",
            outcome.log
        );
        for (what, text) in [
            ("the log", outcome.log.as_str()),
            ("the termination message", outcome.message.as_str()),
        ] {
            assert!(
                !text.contains(&token),
                "{story}: the token is in {what}:\n{text}"
            );
        }
        github.assert_clean();
    }
}

/// A token GitHub cannot be asked to revoke (nothing answers) ends the run as it would
/// have ended, saying so in the log, without the token; a token that is not an
/// installation token (someone's own) is never sent to be revoked.
#[test]
fn a_revoke_that_fails_changes_nothing_and_only_installation_tokens_are_revoked() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    const TOKEN: &str = "ghs_RevokeGoesNowhere0123456789";
    let run = Run::new(&remote, "task-40", "echo 'looks fine'\n");
    std::fs::write(run.path("token"), format!("{TOKEN}\n")).unwrap();
    let token_file = run.path("token");
    let outcome = run.arg("--token-file", &token_file).go();
    assert!(outcome.success, "{}", outcome.log);
    assert_eq!(outcome.result().conclusion, PodConclusion::Neutral);
    assert!(
        outcome.log.contains("cannot revoke the run's GitHub token"),
        "{}",
        outcome.log
    );
    assert!(!outcome.log.contains(TOKEN), "{}", outcome.log);

    let github = Github::start();
    let outcome = github.run(&remote, "task-41", "echo 'looks fine'\n").go();
    assert!(outcome.success, "{}", outcome.log);
    assert!(!outcome.log.contains("revoke"), "{}", outcome.log);
    assert_eq!(github.fake.count("DELETE", "/installation/token"), 0);
}

both_ways! {
    /// A prompt-injected agent publishes its key through the branch the entrypoint pushes: in
    /// a file, a file name, a commit message or an author's name, as it is or base64-encoded.
    /// Before the push the entrypoint looks at everything the push would publish with the
    /// redactor's eyes; finding a secret, it pushes nothing, opens no pull request and says
    /// which secret (by its variable's name, never the value) and where. Before the fix every
    /// case was pushed: `agentpods/<run>` held the key in the clear and the run ended
    /// "success ... Pushed 1 commit" (issue 11); base64 and hex of UTF-16 were pushed until
    /// the fourth review's A5.
    fn changes_that_carry_a_secret_of_the_pod_are_not_pushed(way) {
    let cases = [
        (
            "in a file",
            "printf '%s\\n' \"$OPENAI_API_KEY\" > leaked.txt\n",
            "`leaked.txt`",
        ),
        (
            "base64 in a file",
            "printf '%s' \"$OPENAI_API_KEY\" | base64 > notes.txt\n",
            "`notes.txt`",
        ),
        (
            "UTF-16 in a file, as Windows PowerShell 5 writes",
            "printf 'key: %s\\n' \"$OPENAI_API_KEY\" | iconv -f UTF-8 -t UTF-16 > notes.txt\n",
            "`notes.txt`",
        ),
        (
            "UTF-32 in a file",
            "printf 'key: %s\\n' \"$OPENAI_API_KEY\" | iconv -f UTF-8 -t UTF-32BE > notes.txt\n",
            "`notes.txt`",
        ),
        (
            "base64 of UTF-16LE in a file, as PowerShell's -EncodedCommand takes it",
            "printf 'echo %s' \"$OPENAI_API_KEY\" | iconv -f UTF-8 -t UTF-16LE | base64 -w0 > enc.txt\n",
            "`enc.txt`",
        ),
        (
            "hex of UTF-16LE in a file",
            "printf 'key: %s' \"$OPENAI_API_KEY\" | iconv -f UTF-8 -t UTF-16LE | od -An -tx1 | tr -d ' \\n' > hex.txt\n",
            "`hex.txt`",
        ),
        (
            "as a file name",
            "mkdir -p keys && touch \"keys/$OPENAI_API_KEY\"\n",
            "a file name under `keys`",
        ),
        (
            "in the commit message",
            "printf 'x\\n' > greeting.txt\n\
             git -c user.name=Agent -c user.email=a@example.com commit --quiet -am \"summary $OPENAI_API_KEY\"\n",
            "a commit's message, author or committer",
        ),
        (
            "as the author",
            "printf 'x\\n' > greeting.txt\n\
             git -c \"user.name=$OPENAI_API_KEY\" -c user.email=a@example.com commit --quiet -am tidy\n",
            "a commit's message, author or committer",
        ),
        (
            "in a commit, removed by the next",
            "printf '%s\\n' \"$OPENAI_API_KEY\" > leaked.txt\n\
             git add leaked.txt && git -c user.name=A -c user.email=a@example.com commit --quiet -m one\n\
             git rm --quiet leaked.txt && git -c user.name=A -c user.email=a@example.com commit --quiet -m two\n",
            "`leaked.txt`",
        ),
    ];
    for (i, (case, script, place)) in cases.iter().enumerate() {
        let github = Github::start();
        let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
        let run_name = format!("task-leak-{i}");
        let outcome = github
            .run(&remote, &run_name, &format!("cat > /dev/null\n{script}"))
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("AGENTPODS_SECRET_ENV", "OPENAI_API_KEY")
            .flag("--open-pr")
            .way(way).go();

        assert!(outcome.success, "{case}: {}", outcome.log);
        let result = outcome.result();
        assert_eq!(
            result.conclusion,
            PodConclusion::Failure,
            "{case}: {}",
            result.summary
        );
        assert!(
            result.summary.contains(&format!(
                "Nothing was pushed and no pull request was opened: the changes carry a secret \
                 of the pod (the variable OPENAI_API_KEY, in {place})."
            )),
            "{case}: {}",
            result.summary
        );
        assert_eq!(result.branch, None, "{case}");
        assert_eq!(
            remote.branches(),
            vec!["main"],
            "{case}: nothing reached the remote"
        );
        assert!(github.pulls().is_empty(), "{case}: no pull request");
        assert_no_leak(case, &outcome.log, &[("OPENAI_API_KEY", OPENAI_KEY)]);
        assert_no_leak(case, &outcome.message, &[("OPENAI_API_KEY", OPENAI_KEY)]);
    }
}}

/// The same run without a secret in its changes is pushed: the check refuses only what
/// carries one.
#[test]
fn changes_without_a_secret_are_pushed_as_before() {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let outcome = github
        .run(
            &remote,
            "task-clean",
            "cat > /dev/null\nprintf 'key: $OPENAI_API_KEY\\n' > notes.txt\n",
        )
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("AGENTPODS_SECRET_ENV", "OPENAI_API_KEY")
        .flag("--push")
        .go();
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", outcome.log);
    let tip = remote.tip("agentpods/task-clean").expect("pushed");
    assert_eq!(
        git(&remote.bare, &["show", &format!("{tip}:notes.txt")]),
        "key: $OPENAI_API_KEY"
    );
}

both_ways! {
    /// The checkout's `.git/config`, and the agent's own `~/.gitconfig`, are the agent's to
    /// write, but what they say never runs inside the entrypoint's git commands after the agent
    /// has ended (outside review A6): not an fsmonitor, not a clean filter, not a proxy or a
    /// rewritten URL that the token's header would follow. The changes are still pushed, with
    /// the configuration the entrypoint wrote.
    fn git_configuration_the_agent_writes_runs_nothing_in_the_entrypoint_s_git(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let base = remote.commits[0].clone();
    let script = r#"
cat > /dev/null
printf '#!/bin/sh\necho "$0 $*" >> "%s/ran"\ncat\n' "$HOME" > "$HOME/hook.sh"
chmod +x "$HOME/hook.sh"
git config core.fsmonitor "$HOME/hook.sh"
git config filter.x.clean "$HOME/hook.sh clean"
git config filter.x.required true
mkdir -p .git/info && echo '* filter=x' > .git/info/attributes
git config http.proxy http://127.0.0.1:9
git config url.http://127.0.0.1:9/.insteadOf "$(git config remote.origin.url)"
printf '[core]\n\tfsmonitor = %s\n' "$HOME/hook.sh" > "$HOME/.gitconfig"
printf 'hello, world\n' > greeting.txt
rm -f "$HOME/ran"
"#;
    let run = Run::new(&remote, "task-8", script);
    let ran = run.path("ran");
    let outcome = run.arg("--sha", &base).flag("--push").way(way).go();

    let ran = std::fs::read_to_string(&ran).unwrap_or_default();
    assert_eq!(
        ran, "",
        "the agent's git configuration ran in the entrypoint's git:\n{}",
        outcome.log
    );
    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", result.summary);
    let tip = remote
        .tip("agentpods/task-8")
        .expect("the branch was pushed");
    assert_eq!(
        git(&remote.bare, &["show", &format!("{tip}:greeting.txt")]),
        "hello, world"
    );
}}

both_ways! {
    /// The fourth review's A6: a summary that spells the key with Markdown escapes (`\-`) or
    /// with invisible characters between its letters shows as the key itself on GitHub. The
    /// result (the bot's comment and the check run) and the pull request's title and body
    /// carry it redacted. Before, each form was published as the agent wrote it.
    fn a_summary_that_shows_the_key_on_github_is_published_redacted(way) {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let script = r#"
cat > /dev/null
k="$OPENAI_API_KEY"
printf 'x\n' > greeting.txt
escaped=$(printf '%s' "$k" | sed 's/-/\\\\-/g')
zw=$(printf '%s' "$k" | sed 's/./&\xe2\x80\x8b/g')
shy=$(printf '%s' "$k" | sed 's/./&\xc2\xad/g')
printf '{"conclusion": "success", "summary": "Key %s\\n\\nescaped: %s, soft: %s"}\n' "$zw" "$escaped" "$shy"
"#;
    let outcome = github
        .run(&remote, "task-shown", script)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("AGENTPODS_SECRET_ENV", "OPENAI_API_KEY")
        .flag("--open-pr")
        .way(way).go();
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", outcome.log);
    let shown = |text: &str| -> String {
        text.chars()
            .filter(|c| !matches!(c, '\u{200B}' | '\u{00AD}' | '\\'))
            .collect()
    };
    assert!(result.summary.contains("***"), "{}", result.summary);
    assert!(
        !shown(&result.summary).contains(OPENAI_KEY),
        "{}",
        result.summary
    );
    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1, "{}", outcome.log);
    for field in ["title", "body"] {
        let text = pulls[0][field].as_str().unwrap_or_default();
        assert!(!shown(text).contains(OPENAI_KEY), "{field}: {text}");
    }
}}

/// Every file under `dir` (but the token file itself) that holds `secret`.
fn files_holding(dir: &Path, secret: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file()
                && path.file_name() != Some(std::ffi::OsStr::new("token"))
                && std::fs::read(&path)
                    .is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
            {
                found.push(path);
            }
        }
    }
    found
}

/// The agent is hostile and looks for the run's token wherever its container can look:
/// its environment, the git configuration of its checkout, the hand-off the checkout left,
/// and the record it writes itself. It finds it nowhere, and its change is still pushed
/// and its pull request opened (by the publish step, with the token, after the agent's
/// container is gone).
#[test]
fn a_hostile_agent_finds_the_run_s_token_nowhere_its_container_can_look() {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let script = r#"
env > ../../agent-env.txt
git config --list --show-origin > ../../agent-git-config.txt 2>&1
cat ../../handoff/* > ../../agent-saw-handoff.txt 2>&1
printf 'hello, world\n' > greeting.txt
printf '%s\n' '{"conclusion": "success", "summary": "Greet the whole world"}'
"#;
    let outcome = github
        .run(&remote, "task-31", script)
        .flag("--open-pr")
        .phased()
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let env = outcome.file("agent-env.txt");
    assert!(env.contains("AGENTPODS_RESULT="), "the agent ran: {env}");
    assert!(!env.contains("AGENTPODS_TOKEN_FILE"), "{env}");
    assert!(
        !outcome.file("agent-saw-handoff.txt").is_empty(),
        "the agent read the hand-off"
    );
    assert_eq!(
        files_holding(outcome.dir.path(), PAT),
        Vec::<PathBuf>::new(),
        "files the checkout, the agent or the publish left that hold the token"
    );
    assert!(!outcome.log.contains(PAT), "{}", outcome.log);
    assert_eq!(outcome.result().conclusion, PodConclusion::Success);
    assert!(remote.tip("agentpods/task-31").is_some(), "pushed");
    assert_eq!(github.pulls().len(), 1, "the pull request is opened");
    github.assert_clean();
}

/// A template that gives the agent's container the token anyway (`--token-file` or
/// `AGENTPODS_TOKEN_FILE` on `--phase run`) is refused before the agent runs: the run
/// fails saying which step must not have it, and the agent's command never starts.
#[test]
fn the_agent_s_step_refuses_to_run_with_the_token() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let run = Run::new(&remote, "task-32", "touch ../../agent-ran\n");
    std::fs::write(run.path("token"), "ghs_FakeTokenForTheTest0123456789\n").unwrap();
    let token = run.path("token");
    let phase = |phase: &str| {
        let mut args = run.args.clone();
        args.extend([
            "--phase".to_string(),
            phase.into(),
            "--handoff-dir".into(),
            run.path("handoff"),
            "--agent-record".into(),
            run.path("exit/agent.json"),
        ]);
        args
    };
    let (ok, log) = run.spawn(&phase("checkout"), &run.env);
    assert!(ok, "{log}");
    let mut agent = phase("run");
    agent.extend(["--".into(), "/bin/sh".into(), run.path("agent.sh")]);
    let env: Vec<(String, String)> = run
        .env
        .iter()
        .cloned()
        .chain([("AGENTPODS_TOKEN_FILE".to_string(), token)])
        .collect();
    let (ok, log) = run.spawn(&agent, &env);
    assert!(ok, "the refusal is recorded: {log}");
    assert!(
        !Path::new(&run.path("agent-ran")).exists(),
        "the agent's command ran holding the token"
    );
    let (_, log) = run.spawn(&phase("publish"), &run.env);
    let outcome = run.outcome(true, log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert!(
        result
            .summary
            .contains("the agent would hold the run's token"),
        "{}",
        result.summary
    );
}

both_ways! {
    /// The fifth review's A1: git reads a nested repository's own configuration when
    /// `status` or `add` look into it, and runs the clean filter set there. The agent
    /// nests one (a repository in the checkout, added as a gitlink) and a submodule-style
    /// one (its git folder in `.git/modules`), each with a filter of its own on a file
    /// git must hash again. Before, the publish step's `git status` ran the agent's filter,
    /// holding the token (its file, and its header in git's environment). Now the nested
    /// repositories are removed before any git runs, and the change is pushed.
    fn a_repository_the_agent_nests_in_the_checkout_runs_nothing_in_the_entrypoint_s_git(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = r#"
cat > /dev/null
printf '#!/bin/sh\necho "$0 $* token:${AGENTPODS_TOKEN_FILE:-} $(env | grep -c extraHeader)" >> "%s/ran"\ncat\n' "$HOME" > "$HOME/filter.sh"
chmod +x "$HOME/filter.sh"
g() { git -c user.name=Agent -c user.email=agent@example.com "$@"; }
mkdir sub && (cd sub && g init -q && echo data > f.txt && g add f.txt && g commit -qm s &&
  printf '[filter "x"]\n\tclean = %s\n' "$HOME/filter.sh" >> .git/config &&
  echo '* filter=x' > .gitattributes && echo datb > f.txt && touch -d 2000-01-01 f.txt)
g add sub 2>/dev/null
mkdir -p .git/modules && g init -q --separate-git-dir="$PWD/.git/modules/mod" mod && (cd mod && echo data > f.txt &&
  g add f.txt && g commit -qm m &&
  printf '[filter "x"]\n\tclean = %s\n' "$HOME/filter.sh" >> "$(git rev-parse --git-dir)/config" &&
  echo '* filter=x' > .gitattributes && echo datb > f.txt && touch -d 2000-01-01 f.txt)
g add mod 2>/dev/null
printf 'hello, world\n' > greeting.txt
rm -f "$HOME/ran"
"#;
    let run = Run::new(&remote, "task-33", script);
    let ran = run.path("ran");
    let outcome = run.flag("--push").way(way).go();

    let ran = std::fs::read_to_string(&ran).unwrap_or_default();
    assert_eq!(
        ran, "",
        "the agent's filter ran in the entrypoint's git:\n{}",
        outcome.log
    );
    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", result.summary);
    let tip = remote
        .tip("agentpods/task-33")
        .expect("the branch was pushed");
    assert_eq!(
        git(&remote.bare, &["show", &format!("{tip}:greeting.txt")]),
        "hello, world"
    );
    assert!(
        outcome.log.contains("removed the git repositories the agent left"),
        "{}",
        outcome.log
    );
}}

both_ways! {
    /// Review 11f's B1: git takes a gitlink's path from the index as the agent wrote it,
    /// and `status` and `add` look into that folder as a repository, running its clean
    /// filter: a gitlink at `.git/foo` (inside the git folder, which no sweep of the
    /// checkout reaches) and one at `../evil` (outside the checkout). Before, the
    /// publish step's `git status` ran the agent's filter in both. Now the index is built
    /// again from HEAD, whose tree cannot hold such paths, before any git runs.
    fn a_gitlink_the_agent_writes_into_the_index_runs_nothing_in_the_entrypoint_s_git(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = r#"
cat > /dev/null
printf '#!/bin/sh\necho "$0 $*" >> "%s/ran"\ncat\n' "$HOME" > "$HOME/filter.sh"
chmod +x "$HOME/filter.sh"
g() { git -c user.name=Agent -c user.email=agent@example.com "$@"; }
nest() {
  mkdir -p "$1" && (cd "$1" && g init -q && echo data > f.txt && echo '* filter=x' > .gitattributes &&
    g add -A && g commit -qm s &&
    printf '[filter "x"]\n\tclean = %s\n' "$HOME/filter.sh" >> .git/config &&
    echo datb > f.txt && touch -d 2000-01-01 f.txt)
}
nest .git/foo
nest ../evil
g update-index --add --cacheinfo "160000,$(git -C .git/foo rev-parse HEAD),,git/foo"
g update-index --add --cacheinfo "160000,$(git -C ../evil rev-parse HEAD),,,/evil"
perl -MDigest::SHA=sha1 -e 'local $/; open F, "<", ".git/index" or die; my $d = <F>; close F;
  $d = substr($d, 0, -20); $d =~ s{,git/foo}{.git/foo}; $d =~ s{,,/evil}{../evil};
  open F, ">", ".git/index" or die; print F $d . sha1($d); close F'
git ls-files -s > "$HOME/index-as-left"
printf 'hello, world\n' > greeting.txt
rm -f "$HOME/ran"
"#;
    let run = Run::new(&remote, "task-34", script);
    let ran = run.path("ran");
    let left = run.path("index-as-left");
    let outcome = run.flag("--push").way(way).go();

    let left = std::fs::read_to_string(&left).unwrap_or_default();
    assert!(
        left.contains(".git/foo") && left.contains("../evil"),
        "the agent's index held both gitlinks:\n{left}\n{}",
        outcome.log
    );
    let ran = std::fs::read_to_string(&ran).unwrap_or_default();
    assert_eq!(
        ran, "",
        "the agent's filter ran in the entrypoint's git:\n{}",
        outcome.log
    );
    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Success, "{}", result.summary);
    let tip = remote
        .tip("agentpods/task-34")
        .expect("the branch was pushed");
    assert_eq!(
        git(&remote.bare, &["show", &format!("{tip}:greeting.txt")]),
        "hello, world"
    );
}}

/// The agent's record is the agent's word (its container can write the folder), so a
/// failure it records reaches the published summary as the agent wrote it: it is redacted
/// as GitHub shows Markdown, a key split by bold included. Before, a failure's summary
/// was redacted only in its plain forms.
#[test]
fn a_failure_the_agent_s_record_claims_is_published_redacted_as_github_shows_it() {
    const KEY: &str = "sk-proj-AbCdEfGh1234567890SECRETxyz";
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let run = Run::new(&remote, "task-35", "true\n").env("MYKEY", KEY);
    let phase = |phase: &str| {
        let mut args = run.args.clone();
        args.extend([
            "--phase".to_string(),
            phase.into(),
            "--handoff-dir".into(),
            run.path("handoff"),
            "--agent-record".into(),
            run.path("exit/agent.json"),
            "--secret-env".into(),
            "MYKEY".into(),
        ]);
        args
    };
    let (ok, log) = run.spawn(&phase("checkout"), &run.env);
    assert!(ok, "{log}");
    std::fs::create_dir_all(run.path("exit")).unwrap();
    let forged = serde_json::json!({
        "outcome": "failed",
        "message": format!("it broke: {}**{}**{}", &KEY[..6], &KEY[6..10], &KEY[10..]),
    });
    std::fs::write(run.path("exit/agent.json"), forged.to_string()).unwrap();
    let (_, log) = run.spawn(&phase("publish"), &run.env);
    let outcome = run.outcome(true, log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure);
    assert!(
        !result.summary.replace("**", "").contains(KEY),
        "{}",
        result.summary
    );
    assert!(result.summary.contains("***"), "{}", result.summary);
}

/// A bundle the agent's container made by hand: HEAD (the change) and `others` refs, the
/// commits since the checked-out one.
fn hand_made_bundle(run: &Path, others: &[&str]) {
    let repo = run.join("workspace/repo");
    let base = git(&repo, &["rev-parse", "HEAD~1"]);
    let bundle = run.join("changes/changes.bundle");
    let _ = std::fs::remove_file(&bundle);
    let mut args = vec!["bundle", "create", "-q", bundle.to_str().unwrap(), "HEAD"];
    args.extend(others);
    let not_base = format!("^{base}");
    args.push(&not_base);
    git(&repo, &args);
}

/// The agent's commits reach the publish step as a bundle in a folder the agent's
/// container writes: the agent's word. An agent that leaves a link there in its place,
/// to the token file publish mounts, gets its run failed: publish reads no file through a
/// link, the token is nowhere in what it writes, and nothing is pushed.
#[test]
fn a_link_the_agent_leaves_in_place_of_its_bundle_is_refused() {
    let github = Github::start();
    let remote = Remote::named(REPO, &[("greeting.txt", "hello\n")]);
    let outcome = github
        .run(&remote, "task-36", EDIT_GREETING)
        .flag("--open-pr")
        .agent_leaves(|run| {
            let bundle = run.join("changes/changes.bundle");
            std::fs::remove_file(&bundle).expect("the step bundled the change");
            std::os::unix::fs::symlink(run.join("token"), &bundle).unwrap();
        })
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(
        result.conclusion,
        PodConclusion::Failure,
        "{}",
        result.summary
    );
    assert!(
        result.summary.contains("is not a plain file"),
        "{}",
        result.summary
    );
    assert!(!outcome.log.contains(PAT) && !outcome.message.contains(PAT));
    assert_eq!(remote.branches(), vec!["main"], "nothing is pushed");
    assert!(github.pulls().is_empty(), "no pull request");
}

/// A bundle the agent makes itself may carry other refs than the change (a tag, a
/// branch): publish pushes the change alone, to the run's branch; the remote gains no
/// tag and no other branch.
#[test]
fn a_bundle_the_agent_forges_with_a_tag_and_a_branch_pushes_only_the_run_s_branch() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "task-37", EDIT_GREETING)
        .flag("--push")
        .agent_leaves(|run| {
            let repo = run.join("workspace/repo");
            git(&repo, &["tag", "v9.9.9"]);
            git(&repo, &["branch", "release", "HEAD"]);
            hand_made_bundle(run, &["refs/tags/v9.9.9", "refs/heads/release"]);
        })
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(
        result.conclusion,
        PodConclusion::Success,
        "{}",
        result.summary
    );
    assert_eq!(remote.branches(), vec!["agentpods/task-37", "main"]);
    assert_eq!(
        git(&remote.bare, &["tag", "--list"]),
        "",
        "no tag is pushed"
    );
    let tip = remote.tip("agentpods/task-37").expect("pushed");
    assert_eq!(
        git(&remote.bare, &["show", &format!("{tip}:greeting.txt")]),
        "hello, world"
    );
}

/// What the agent leaves as its bundle may be no bundle at all, or one that lacks the
/// objects it names: the run fails saying its changes could not be pushed, and nothing
/// reaches the remote.
#[test]
fn a_bundle_that_is_not_one_fails_the_run_and_pushes_nothing() {
    for (name, forged) in [
        ("task-38", b"# v2 git bundle\nnot a pack at all\n".to_vec()),
        ("task-39", vec![0u8; 4096]),
    ] {
        let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
        let outcome = Run::new(&remote, name, EDIT_GREETING)
            .flag("--push")
            .agent_leaves(move |run| {
                std::fs::write(run.join("changes/changes.bundle"), &forged).unwrap();
            })
            .go();

        assert!(outcome.success, "{}", outcome.log);
        let result = outcome.result();
        assert_eq!(
            result.conclusion,
            PodConclusion::Failure,
            "{}",
            result.summary
        );
        assert!(
            result.summary.contains("is not a git bundle of version 2"),
            "{}",
            result.summary
        );
        assert_eq!(remote.branches(), vec!["main"], "nothing is pushed");
    }
}

/// Review 11g, C1: given a path, git takes a file that is not a bundle for a repository
/// (`gitdir: …`), and `publish` ran `upload-pack` in a repository the agent built, read
/// its `packed-refs` (a link to the token file) and pushed a commit that was only there.
/// Now agentpods reads the bundle itself and gives git only its pack: the file is refused,
/// nothing of the agent's repository is read, and nothing is pushed.
#[test]
fn a_gitdir_file_in_place_of_the_bundle_reads_nothing_of_the_agent_s_repository() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let run = Run::new(&remote, "task-41", EDIT_GREETING);
    std::fs::write(run.path("token"), "ghs_FakeTokenOfTheRun0123456789abcdef\n").unwrap();
    let token = run.path("token");
    let outcome = run
        .arg("--token-file", &token)
        .flag("--push")
        .agent_leaves(|run| {
            let repo = run.join("workspace/repo");
            let evil = run.join("changes/evil.git");
            git(run, &["init", "--quiet", "--bare", evil.to_str().unwrap()]);
            std::fs::write(repo.join("only-in-evil.txt"), "mine\n").unwrap();
            git(&repo, &["add", "only-in-evil.txt"]);
            git(&repo, &["commit", "--quiet", "-m", "only in evil"]);
            git(
                &repo,
                &[
                    "push",
                    "--quiet",
                    evil.to_str().unwrap(),
                    "HEAD:refs/heads/main",
                ],
            );
            std::fs::remove_file(evil.join("packed-refs")).ok();
            std::os::unix::fs::symlink(run.join("token"), evil.join("packed-refs")).unwrap();
            std::fs::write(
                run.join("changes/changes.bundle"),
                format!("gitdir: {}\n", evil.display()),
            )
            .unwrap();
        })
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(
        result.conclusion,
        PodConclusion::Failure,
        "{}",
        result.summary
    );
    assert!(
        result.summary.contains("is not a git bundle of version 2"),
        "{}",
        result.summary
    );
    for seen in [&outcome.log, &outcome.message] {
        assert!(
            !seen.contains("ghs_FakeTokenOfTheRun") && !seen.contains("***"),
            "the token file was read: {seen}"
        );
    }
    assert_eq!(remote.branches(), vec!["main"], "nothing is pushed");
}

/// Review 11g, C3: every object of the bundle is checked as git checks what a remote
/// sends: a commit whose tree holds `.git/config` (which a checkout of it would take as
/// its own git configuration) is refused, and nothing is pushed. Before, `git fetch` from
/// a bundle checked no object, and `publish` pushed it.
#[test]
fn a_bundle_whose_tree_holds_a_git_folder_is_refused() {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let outcome = Run::new(&remote, "task-42", EDIT_GREETING)
        .flag("--push")
        .agent_leaves(|run| {
            let repo = run.join("workspace/repo");
            let blob = git(&repo, &["hash-object", "-w", "greeting.txt"]);
            let sub = pipe(&repo, &["mktree"], &format!("100644 blob {blob}\tconfig\n"));
            let tree = pipe(
                &repo,
                &["mktree"],
                &format!("040000 tree {sub}\t.git\n100644 blob {blob}\tgreeting.txt\n"),
            );
            let base = git(&repo, &["rev-parse", "HEAD~1"]);
            let bad = git(
                &repo,
                &["commit-tree", &tree, "-p", &base, "-m", "a git folder"],
            );
            git(&repo, &["update-ref", "--no-deref", "HEAD", &bad]);
            hand_made_bundle(run, &[]);
        })
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(
        result.conclusion,
        PodConclusion::Failure,
        "{}",
        result.summary
    );
    assert!(result.summary.contains("index-pack"), "{}", result.summary);
    assert_eq!(remote.branches(), vec!["main"], "nothing is pushed");
}

/// git with `input` on stdin, as [`git`] runs it.
fn pipe(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

both_ways! {
    /// GitHub refuses a push with a file over 100 MiB, and the step holding the token
    /// reads each new file whole to look for secrets: an agent that writes a huge file
    /// could make it run out of memory (a 2 GB file killed `publish` before its token
    /// was revoked). A file over 100 MiB is refused before it is read: the run fails
    /// saying so, and nothing is pushed. Before, a 101 MiB file was read and pushed.
    fn a_file_over_100_mib_is_refused_before_it_is_read(way) {
    let remote = Remote::with_main(&[("greeting.txt", "hello\n")]);
    let script = "cat > /dev/null\nhead -c 105906176 /dev/zero > big.bin\n";
    let outcome = Run::new(&remote, "task-40", script)
        .flag("--push")
        .way(way)
        .go();

    assert!(outcome.success, "{}", outcome.log);
    let result = outcome.result();
    assert_eq!(result.conclusion, PodConclusion::Failure, "{}", result.summary);
    assert!(
        result.summary.contains("`big.bin` is 101.0 MiB")
            && result.summary.contains("over 100 MiB"),
        "{}",
        result.summary
    );
    assert_eq!(remote.branches(), vec!["main"], "nothing is pushed");
}}
