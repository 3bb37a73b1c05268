//! Real git, run as a child process without a shell. The token reaches git only through
//! its environment (`GIT_CONFIG_COUNT`/`KEY`/`VALUE`, an `http.<url>.extraHeader` scoped to
//! the remote), never through argv, a file on disk or an error message.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;

use super::result::Redactor;
use super::task::{Branch, GitRef, RemoteUrl, commit_sha};
use crate::github::event::CommitSha;

/// A git step that failed, with the end of what git said (credentials removed).
#[derive(Debug, Error)]
pub enum GitError {
    #[error("cannot run {exe}")]
    Spawn { exe: String, source: std::io::Error },
    #[error("git {step} failed ({status}): {stderr}")]
    Failed {
        step: &'static str,
        status: String,
        stderr: String,
    },
    #[error("checked out {actual}, not the requested commit {expected}")]
    WrongHead { expected: String, actual: String },
    #[error("commit {0} is not on the remote (not even on the requested ref)")]
    MissingCommit(String),
    /// An object the push would publish is larger than GitHub takes; it is not read.
    /// `what`: the file's path in backticks, or the kind of object and its id.
    #[error("{what} is {mib:.1} MiB: GitHub refuses a file over 100 MiB, so nothing was pushed")]
    TooLarge { what: String, mib: f64 },
    /// What the push would publish is more than GitHub takes in one push; the rest is not
    /// read.
    #[error(
        "the changes are over {} MiB: GitHub refuses a push over 2 GiB, so nothing was pushed",
        LARGEST_PUSH / (1024 * 1024)
    )]
    TooMuch,
    /// The agent made the checkout's git directory something the entrypoint's own git
    /// commands cannot be kept safe in.
    #[error("the agent replaced {0}, so nothing of its work is kept")]
    Tampered(String),
}

/// The largest file GitHub takes in a push (it refuses one over 100 MiB), and so the most
/// of one object [`Git::each_new_object`] reads.
const LARGEST_FILE: usize = 100 * 1024 * 1024;

/// The kind of a git object, as `git cat-file` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Commit,
    Tree,
    Blob,
    Tag,
}

impl ObjectKind {
    /// The kind git calls `name`.
    fn named(name: &str) -> Option<ObjectKind> {
        match name {
            "commit" => Some(ObjectKind::Commit),
            "tree" => Some(ObjectKind::Tree),
            "blob" => Some(ObjectKind::Blob),
            "tag" => Some(ObjectKind::Tag),
            _ => None,
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
            ObjectKind::Tag => "tag",
        })
    }
}

/// The most bytes of objects [`Git::each_new_object`] reads in all: GitHub refuses a push
/// over 2 GiB, and a small bundle of deltas can make many files of 100 MiB each, which
/// would keep the step that holds the token busy for its whole deadline (review 11h, D1).
const LARGEST_PUSH: usize = 2 * 1024 * 1024 * 1024;

/// The credentials git sends to the remote: a GitHub token as HTTP basic auth.
#[derive(Clone)]
pub struct Credentials {
    header: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(***)")
    }
}

impl Credentials {
    /// The way GitHub takes an installation token over HTTPS.
    pub fn github_token(token: &str) -> Credentials {
        let basic = base64(format!("x-access-token:{token}").as_bytes());
        Credentials {
            header: format!("Authorization: Basic {basic}"),
        }
    }

    /// What must never appear in anything we write: the header's encoded value.
    pub fn secrets(&self) -> Vec<String> {
        self.header
            .rsplit(' ')
            .next()
            .map(String::from)
            .into_iter()
            .collect()
    }
}

/// The identity of the commit the entrypoint makes for the agent's uncommitted changes.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// git, in one working directory (or a bare repository), talking to one remote.
#[derive(Debug)]
pub struct Git {
    exe: PathBuf,
    dir: PathBuf,
    remote: RemoteUrl,
    credentials: Option<Credentials>,
    redactor: Redactor,
    /// A bare repository the fetches go into, whose objects the working directory borrows
    /// (`objects/info/alternates`): kept where the agent cannot write, so that the publish
    /// step can build on the checked-out commit without reading the agent's checkout.
    store: Option<PathBuf>,
    /// The most of one object, and of all, [`Git::each_new_object`] reads.
    limits: (usize, usize),
}

impl Git {
    pub fn new(
        exe: PathBuf,
        dir: PathBuf,
        remote: RemoteUrl,
        credentials: Option<Credentials>,
        redactor: Redactor,
    ) -> Git {
        Git {
            exe,
            dir,
            remote,
            credentials,
            redactor,
            store: None,
            limits: (LARGEST_FILE, LARGEST_PUSH),
        }
    }

    /// Fetches into the bare repository `store` (made by [`Git::init`]), whose objects the
    /// working directory borrows.
    pub fn with_store(mut self, store: PathBuf) -> Git {
        self.store = Some(store);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A git command in the working directory; `remote` when it talks to origin (fetch,
    /// push), the one kind given the token's header: a command that only reads or writes
    /// the checkout never holds it.
    fn command(&self, remote: bool) -> Command {
        self.command_in(&self.dir, remote)
    }

    fn command_in(&self, dir: &Path, remote: bool) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("-C")
            .arg(dir)
            .stdin(Stdio::null())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ADVICE", "0")
            // The run's configuration is ours alone: no commit signing, hooks or rewrites
            // from a system config, nor from the home the agent writes (`~/.gitconfig`).
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            // What is checked before a push is what the push sends: no object stands in
            // for another.
            .env("GIT_NO_REPLACE_OBJECTS", "1");
        let mut config: Vec<(String, OsString)> = vec![
            ("commit.gpgSign".into(), "false".into()),
            ("core.hooksPath".into(), "/dev/null".into()),
            ("core.fsmonitor".into(), "false".into()),
            ("protocol.ext.allow".into(), "never".into()),
            // No command recurses into a nested repository, whose configuration is not
            // ours ([`Git::reseal`] removes them too).
            ("submodule.recurse".into(), "false".into()),
            ("fetch.recurseSubmodules".into(), "false".into()),
            ("push.recurseSubmodules".into(), "no".into()),
            ("status.submoduleSummary".into(), "false".into()),
            // A push's delta search holds its window of objects in memory: many files
            // of 100 MiB made it 950 MB (review 11h, D1).
            ("pack.windowMemory".into(), "256m".into()),
        ];
        if let Some(c) = self.credentials.as_ref().filter(|_| remote) {
            config.push((
                format!("http.{}.extraHeader", self.remote.as_str()),
                c.header.clone().into(),
            ));
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key);
            cmd.env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        cmd
    }

    /// Runs one step on the checkout alone (without the token); stdout on success.
    fn run(&self, step: &'static str, args: &[&str]) -> Result<String, GitError> {
        self.run_as(step, args, false)
    }

    /// Runs one step that talks to origin, with the token's header; stdout on success.
    fn run_remote(&self, step: &'static str, args: &[&str]) -> Result<String, GitError> {
        self.run_as(step, args, true)
    }

    fn run_as(&self, step: &'static str, args: &[&str], remote: bool) -> Result<String, GitError> {
        self.run_in(&self.dir, step, args, remote)
    }

    fn run_in(
        &self,
        dir: &Path,
        step: &'static str,
        args: &[&str],
        remote: bool,
    ) -> Result<String, GitError> {
        let mut cmd = self.command_in(dir, remote);
        cmd.args(args);
        self.finish(step, cmd)
    }

    /// Runs `cmd` to its end; stdout on success, else what git said (redacted).
    fn finish(&self, step: &'static str, mut cmd: Command) -> Result<String, GitError> {
        let out = cmd.output().map_err(|source| GitError::Spawn {
            exe: self.exe.display().to_string(),
            source,
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.trim_end().lines().collect();
        let tail = tail[tail.len().saturating_sub(5)..].join(" / ");
        Err(GitError::Failed {
            step,
            status: out.status.to_string(),
            stderr: self.redactor.redact(&tail),
        })
    }

    /// The checkout's `.git/config` as the entrypoint wrote it, to put back with
    /// [`Git::reseal`] once the agent has run.
    pub fn config_snapshot(&self) -> Result<Vec<u8>, GitError> {
        let path = self.dir.join(".git/config");
        std::fs::read(&path).map_err(|source| GitError::Spawn {
            exe: format!("read {}", path.display()),
            source,
        })
    }

    /// Puts the checkout's git directory back as the entrypoint's own commands need it, after
    /// the agent (which may write all of it) has run: its `config` as the entrypoint wrote
    /// it (no fsmonitor, filter, proxy, `insteadOf`, credential helper or include the agent
    /// added, any of which would run code in, or redirect, the commands that commit and
    /// push with the token), and none of the files that would make git read a configuration
    /// elsewhere (`commondir`, `config.worktree`) or run a filter (`info/attributes`). A
    /// `.git` that is no longer a plain folder (a link, a `gitdir:` file) is refused.
    ///
    /// Nor does any repository the agent left inside the checkout stay one: git reads a
    /// nested repository's own configuration (its filters, which run programs) when
    /// `status` or `add` look into it, so every `.git` below the checkout's top and the
    /// submodules' git folders (`.git/modules`) are removed, their files left as files.
    /// And the agent's index goes: git takes a gitlink's path from the index as written
    /// and looks into that folder (`.git/x`, `../x`, `/x`: anywhere); the index is built
    /// again from HEAD (`read-tree`, which refuses such paths), and history is read
    /// without the agent's grafts (`info/grafts`, `shallow`), which would hide commits
    /// from the secret scan. Returns the nested repositories removed, as paths in the
    /// checkout.
    pub fn reseal(&self, config: &[u8]) -> Result<Vec<String>, GitError> {
        let git_dir = self.dir.join(".git");
        let tampered = |what: &str| GitError::Tampered(what.to_string());
        match std::fs::symlink_metadata(&git_dir) {
            Ok(m) if m.is_dir() => {}
            _ => return Err(tampered("the checkout's .git folder")),
        }
        for name in [
            "config",
            "commondir",
            "config.worktree",
            "info/attributes",
            "info/grafts",
            "shallow",
            "index",
            "modules",
        ] {
            let path = git_dir.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() && name == "modules" => remove(&path, true)?,
                Ok(m) if m.is_dir() => return Err(tampered(&format!(".git/{name}"))),
                Ok(_) => remove(&path, false)?,
                Err(_) => {}
            }
        }
        let path = git_dir.join("config");
        std::fs::write(&path, config).map_err(|source| GitError::Spawn {
            exe: format!("write {}", path.display()),
            source,
        })?;
        let mut nested = Vec::new();
        let mut todo = vec![self.dir.clone()];
        while let Some(dir) = todo.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|source| GitError::Spawn {
                exe: format!("read {}", dir.display()),
                source,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                // The type of the entry itself: a link is never followed.
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if entry.file_name() == ".git" {
                    if dir != self.dir {
                        remove(&path, kind.is_dir())?;
                        let shown = path.strip_prefix(&self.dir).unwrap_or(&path);
                        nested.push(shown.display().to_string());
                    }
                } else if kind.is_dir() {
                    todo.push(path);
                }
            }
        }
        nested.sort();
        self.run("read-tree", &["read-tree", "HEAD"])?;
        Ok(nested)
    }

    /// `git init` in the working directory (created if missing) with the remote as origin;
    /// with a store, the store too, its objects borrowed by the working directory.
    pub fn init(&self) -> Result<(), GitError> {
        mkdir(&self.dir)?;
        if let Some(store) = &self.store {
            mkdir(store)?;
            self.run_in(store, "init", &["init", "--bare", "--quiet"], false)?;
        }
        self.run("init", &["init", "--quiet"])?;
        self.run(
            "remote add",
            &["remote", "add", "origin", self.remote.as_str()],
        )?;
        if let Some(store) = &self.store {
            borrow_objects(&self.dir.join(".git"), store)?;
        }
        Ok(())
    }

    /// `git init --bare` of a new repository at the working directory (anything there
    /// before is removed first) that borrows the objects of the bare repository `store`.
    pub fn init_bare_on(&self, store: &Path) -> Result<(), GitError> {
        if std::fs::symlink_metadata(&self.dir).is_ok() {
            remove(&self.dir, true)?;
        }
        mkdir(&self.dir)?;
        self.run("init", &["init", "--bare", "--quiet"])?;
        borrow_objects(&self.dir, store)
    }

    /// Fetches `want` (a commit id or a ref) from origin, into the store when there is
    /// one; the commit fetched.
    fn fetch(&self, want: &str) -> Result<CommitSha, GitError> {
        let dir = self.store.as_deref().unwrap_or(&self.dir);
        self.run_in(
            dir,
            "fetch",
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-recurse-submodules",
                self.remote.as_str(),
                want,
            ],
            true,
        )?;
        let out = self.run_in(
            dir,
            "rev-parse",
            &["rev-parse", "--verify", "FETCH_HEAD^{commit}"],
            false,
        )?;
        parse_sha(&out)
    }

    /// Takes a bundle's pack (`pack`: the agent's word, read from where its header ends)
    /// into this repository, every object checked as git checks what a remote sends
    /// (`index-pack --strict`: no `.git` or `..` in a tree, no broken object; the objects
    /// it builds on from this repository's), and records `head`, which must then be a
    /// commit here, as `refs/agentpods/change`. What `head` reaches and the pack lacks
    /// shows when its objects are listed ([`Git::each_new_object`]).
    pub fn take_pack(&self, pack: std::fs::File, head: &CommitSha) -> Result<(), GitError> {
        let mut cmd = self.command(false);
        cmd.args(["index-pack", "--strict", "--fix-thin", "--stdin"])
            .stdin(Stdio::from(pack));
        self.finish("index-pack", cmd)?;
        self.run(
            "update-ref",
            &["update-ref", "refs/agentpods/change", head.as_str()],
        )?;
        let out = self.run(
            "rev-parse",
            &["rev-parse", "--verify", "refs/agentpods/change^{commit}"],
        )?;
        match parse_sha(&out)? {
            found if found == *head => Ok(()),
            _ => Err(GitError::Failed {
                step: "rev-parse",
                status: "not a commit".into(),
                stderr: format!("the bundle's HEAD {head} is not a commit"),
            }),
        }
    }

    /// Writes the commits from `base` to HEAD as a git bundle at `path`.
    pub fn bundle(&self, base: &CommitSha, path: &Path) -> Result<(), GitError> {
        let path = path.to_str().ok_or_else(|| GitError::Failed {
            step: "bundle",
            status: "not a UTF-8 path".into(),
            stderr: path.display().to_string(),
        })?;
        let not_base = format!("^{}", base.as_str());
        self.run(
            "bundle",
            &["bundle", "create", "--quiet", path, "HEAD", &not_base],
        )
        .map(drop)
    }

    /// Checks out exactly `sha` (detached), fetching it directly or else through `git_ref`,
    /// and verifies HEAD. Without a `sha`, checks out the tip of `git_ref`. Returns HEAD.
    pub fn checkout(
        &self,
        git_ref: &GitRef,
        sha: Option<&CommitSha>,
    ) -> Result<CommitSha, GitError> {
        let target = match sha {
            Some(sha) => {
                self.fetch_commit(git_ref, sha)?;
                sha.clone()
            }
            None => self.fetch(git_ref.as_str())?,
        };
        self.run(
            "checkout",
            &["checkout", "--quiet", "--detach", target.as_str(), "--"],
        )?;
        let head = self.head()?;
        if let Some(sha) = sha.filter(|s| **s != head) {
            return Err(GitError::WrongHead {
                expected: sha.to_string(),
                actual: head.to_string(),
            });
        }
        Ok(head)
    }

    /// Fetches exactly `sha`, directly or else through `git_ref`.
    fn fetch_commit(&self, git_ref: &GitRef, sha: &CommitSha) -> Result<(), GitError> {
        // A server may refuse a bare commit id; the ref then brings it, unless the ref
        // moved on so far that the commit is no longer in its history.
        if self.fetch(sha.as_str()).is_err() {
            self.fetch(git_ref.as_str())?;
            let object = format!("{}^{{commit}}", sha.as_str());
            if self.run("cat-file", &["cat-file", "-e", &object]).is_err() {
                return Err(GitError::MissingCommit(sha.to_string()));
            }
        }
        Ok(())
    }

    /// Fetches the branch a pull request goes into at exactly `sha` and makes
    /// `origin/<branch>` point at it, so that `git diff origin/<branch>...HEAD` (and
    /// `git merge-base`) shows the pull request's change. Only what the checked-out history
    /// lacks is fetched.
    pub fn fetch_base(&self, branch: &Branch, sha: &CommitSha) -> Result<(), GitError> {
        let git_ref = GitRef::parse(&format!("refs/heads/{}", branch.as_str())).map_err(|_| {
            GitError::Failed {
                step: "fetch base",
                status: "not a branch name".into(),
                stderr: branch.to_string(),
            }
        })?;
        self.fetch_commit(&git_ref, sha)?;
        let remote_ref = format!("refs/remotes/origin/{}", branch.as_str());
        self.run("update-ref", &["update-ref", &remote_ref, sha.as_str()])
            .map(drop)
    }

    /// The commit HEAD points at.
    pub fn head(&self) -> Result<CommitSha, GitError> {
        let out = self.run("rev-parse", &["rev-parse", "--verify", "HEAD^{commit}"])?;
        parse_sha(&out)
    }

    /// Whether the working tree has changes that are not committed (untracked files too,
    /// ignored ones not).
    pub fn is_dirty(&self) -> Result<bool, GitError> {
        let out = self.run(
            "status",
            &["status", "--porcelain", "--untracked-files=all"],
        )?;
        Ok(!out.trim().is_empty())
    }

    /// Commits every change in the working tree.
    pub fn commit_all(&self, who: &Identity, message: &str) -> Result<(), GitError> {
        self.run("add", &["add", "--all", "--", "."])?;
        let name = format!("user.name={}", who.name);
        let email = format!("user.email={}", who.email);
        self.run(
            "commit",
            &[
                "-c",
                &name,
                "-c",
                &email,
                "commit",
                "--quiet",
                "--no-verify",
                "--message",
                message,
            ],
        )
        .map(drop)
    }

    /// How many commits lie between `base` and HEAD.
    pub fn commits_since(&self, base: &CommitSha) -> Result<usize, GitError> {
        self.commits_between(base, "HEAD")
    }

    /// How many commits lie between `base` and `head`.
    pub fn commits_between(&self, base: &CommitSha, head: &str) -> Result<usize, GitError> {
        let range = format!("{}..{head}", base.as_str());
        let out = self.run("rev-list", &["rev-list", "--count", &range])?;
        Ok(out.trim().parse().unwrap_or(0))
    }

    /// Every object a push of `head` would publish that `base` does not already hold (the
    /// commits as stored: message, author, committer and every header; the trees: file
    /// names; the blobs: whole contents, binary too), each passed to `look` with the path
    /// it was found at (empty for commits), until `look` says stop. Replacement objects
    /// are ignored here as they are by the push.
    pub fn each_new_object(
        &self,
        base: &CommitSha,
        head: &CommitSha,
        look: &mut dyn FnMut(ObjectKind, &str, &[u8]) -> bool,
    ) -> Result<(), GitError> {
        use std::io::{BufRead, BufReader, Read, Write};
        let not_base = format!("^{}", base.as_str());
        let listed = self.run(
            "rev-list",
            &["rev-list", "--objects", head.as_str(), &not_base],
        )?;
        let objects: Vec<(&str, &str)> = listed
            .lines()
            .map(|l| l.split_once(' ').unwrap_or((l, "")))
            .collect();
        if objects.is_empty() {
            return Ok(());
        }
        let spawn = |source| GitError::Spawn {
            exe: self.exe.display().to_string(),
            source,
        };
        let mut child = self
            .command(false)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn)?;
        let ids: String = objects.iter().map(|(id, _)| format!("{id}\n")).collect();
        let mut stdin = child.stdin.take().expect("piped");
        let writer = std::thread::spawn(move || stdin.write_all(ids.as_bytes()));
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let broken = |what: &str| GitError::Failed {
            step: "cat-file",
            status: "unexpected output".into(),
            stderr: what.to_string(),
        };
        let mut outcome = Ok(());
        let mut total = 0usize;
        for (id, path) in &objects {
            let mut header = String::new();
            match out.read_line(&mut header) {
                Ok(0) => {
                    outcome = Err(broken("it ended early"));
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    outcome = Err(spawn(e));
                    break;
                }
            }
            let mut fields = header.split_whitespace();
            let (Some(_), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next())
            else {
                outcome = Err(broken(&format!("{id} is missing")));
                break;
            };
            let Ok(size) = size.parse::<usize>() else {
                outcome = Err(broken("a size that is not a number"));
                break;
            };
            let Some(kind) = ObjectKind::named(kind) else {
                outcome = Err(broken(&format!("{id} is of no kind git has")));
                break;
            };
            // Never read whole: the step that looks holds the token, and runs out of
            // memory on a file of gigabytes before it could revoke it.
            if size > self.limits.0 {
                let what = if path.is_empty() {
                    format!("a {kind} ({id})")
                } else {
                    format!(
                        "`{}`",
                        self.redactor.redact(&path.escape_debug().to_string())
                    )
                };
                outcome = Err(GitError::TooLarge {
                    what,
                    mib: size as f64 / (1024.0 * 1024.0),
                });
                break;
            }
            total = total.saturating_add(size);
            if total > self.limits.1 {
                outcome = Err(GitError::TooMuch);
                break;
            }
            let mut content = vec![0; size + 1];
            if let Err(e) = out.read_exact(&mut content) {
                outcome = Err(spawn(e));
                break;
            }
            content.truncate(size);
            if !look(kind, path, &content) {
                break;
            }
        }
        drop(out);
        let _ = child.kill();
        let _ = child.wait();
        let _ = writer.join();
        outcome
    }

    /// Pushes `head` to `branch` on origin (never forced).
    pub fn push(&self, head: &CommitSha, branch: &Branch) -> Result<(), GitError> {
        let refspec = format!("{}:refs/heads/{}", head.as_str(), branch.as_str());
        self.run_remote(
            "push",
            &[
                "push",
                "--quiet",
                "--no-verify",
                // Only the commits checked: no tags or submodules the agent configured.
                "--no-follow-tags",
                "--recurse-submodules=no",
                self.remote.as_str(),
                &refspec,
            ],
        )
        .map(drop)
    }
}

fn parse_sha(out: &str) -> Result<CommitSha, GitError> {
    commit_sha(out.trim()).map_err(|_| GitError::Failed {
        step: "rev-parse",
        status: "unexpected output".into(),
        stderr: out.trim().to_string(),
    })
}

fn mkdir(dir: &Path) -> Result<(), GitError> {
    std::fs::create_dir_all(dir).map_err(|source| GitError::Spawn {
        exe: format!("mkdir {}", dir.display()),
        source,
    })
}

/// Makes the repository whose git folder is `git_dir` read objects from the bare
/// repository `store` too.
fn borrow_objects(git_dir: &Path, store: &Path) -> Result<(), GitError> {
    let path = git_dir.join("objects/info/alternates");
    let line = format!("{}\n", store.join("objects").display());
    std::fs::create_dir_all(git_dir.join("objects/info"))
        .and_then(|()| std::fs::write(&path, line))
        .map_err(|source| GitError::Spawn {
            exe: format!("write {}", path.display()),
            source,
        })
}

/// Removes a file, a link or (`folder`) a folder and all in it.
fn remove(path: &Path, folder: bool) -> Result<(), GitError> {
    let removed = if folder {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.map_err(|source| GitError::Spawn {
        exe: format!("remove {}", path.display()),
        source,
    })
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    /// Review 11h, D1 and D2: the objects a push would publish are read up to a limit
    /// each and in all, and an object that is not a file is named by its kind and id.
    #[test]
    fn new_objects_are_read_up_to_a_limit_each_and_in_all() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(&repo)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        std::fs::create_dir_all(&repo).unwrap();
        git(&["init", "-q"]);
        std::fs::write(repo.join("a"), "a").unwrap();
        git(&["add", "a"]);
        git(&["commit", "-qm", "base"]);
        let base = commit_sha(&git(&["rev-parse", "HEAD"])).unwrap();
        for name in ["b", "c", "d"] {
            std::fs::write(repo.join(name), "x".repeat(1000) + name).unwrap();
        }
        git(&["add", "."]);
        git(&["commit", "-qm", &"m".repeat(3000)]);
        let head = commit_sha(&git(&["rev-parse", "HEAD"])).unwrap();
        let reader = |limits| Git {
            limits,
            ..Git::new(
                "git".into(),
                repo.clone(),
                RemoteUrl::resolve("file:///nowhere.git", "https://github.com").unwrap(),
                None,
                Redactor::new(Vec::<String>::new()),
            )
        };
        let read = |limits| reader(limits).each_new_object(&base, &head, &mut |_, _, _| true);
        assert!(read((4000, 10_000)).is_ok());
        let e = read((4000, 2500)).unwrap_err();
        assert!(matches!(e, GitError::TooMuch), "{e}");
        let e = read((2000, 10_000)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("a commit ({head}) is 0.0 MiB")),
            "{e}"
        );
    }

    #[test]
    fn credentials_never_print_themselves() {
        let c = Credentials::github_token("ghs_secret");
        assert_eq!(format!("{c:?}"), "Credentials(***)");
        assert_eq!(c.secrets(), vec![base64(b"x-access-token:ghs_secret")]);
    }
}
