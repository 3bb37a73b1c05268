//! `agentpods agent`: the entrypoint inside an agent pod. It checks out the repository at
//! the exact commit, runs the agent command on the task (no shell), pushes the changes to
//! `agentpods/<run-name>` when the task may, opens a pull request from that branch when the
//! task asks for one, and writes `{"conclusion", "summary"}` to the
//! termination message, where the controller reads it.
//!
//! As it exits, whatever the result, it revokes the run's token (an installation token,
//! `ghs_…`) with GitHub, best effort and briefly: nothing the agent left behind can use it
//! after the run.
//!
//! It exits 0 whenever the result was written, whatever the result; non-zero only when it
//! could not write it. The token is read from a file and reaches git through its
//! environment alone; it never appears in argv, on disk, in the agent's environment, in
//! what is logged, or in the result.
//!
//! The default pod runs it as three containers, so that the agent's own process never
//! holds the run's token (`--phase`): an init container `checkout` (the token, no agent),
//! an init container `agent` (the agent, no token) and the container `publish` (the
//! token again, after the agent's container has exited with everything it started: it
//! pushes, opens the pull request, revokes the token and writes the result). They hand
//! each other what they need through files ([`handoff`]). `--phase all` does the three in
//! one process, as a template of one container asks.
//!
//! Every secret the pod holds (the token, the variables and files render names in
//! `AGENTPODS_SECRET_ENV` and `AGENTPODS_SECRET_FILES`, what is under `/var/run/secrets`)
//! is taken out of everything it writes: the agent's output as passed to the pod log, its
//! own messages, the result, and the pull request it opens (see [`redact`]).

pub(crate) mod bundle;
pub(crate) mod git;
pub(crate) mod handoff;
pub(crate) mod process;
pub(crate) mod pull_request;
pub mod redact;
pub mod result;
pub(crate) mod secrets;
pub(crate) mod task;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use thiserror::Error;

use crate::agent_pod;
use crate::github_client::PullRequestCreated;

use self::git::{Credentials, Git, GitError, Identity, ObjectKind};
use self::process::{AgentCommand, PromptVia};
pub use self::pull_request::{GithubPullRequests, PullRequestDraft, RequestedBy};
use self::result::{AgentExit, AgentReport, PodConclusion, PodResult, Redactor};
use self::task::{AgentRunName, Branch, GitRef, RemoteUrl, TaskError, commit_sha};
use crate::github::event::CommitSha;

/// The options of `agentpods agent`; each has an environment variable too.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The rendered task (the prompt), as mounted from the run's ConfigMap.
    #[arg(long, env = "AGENTPODS_TASK_FILE")]
    pub task_file: PathBuf,
    /// OWNER/NAME on --git-base-url, or a full https://, http:// or file:// URL. Never with
    /// credentials in it: the token comes from --token-file.
    #[arg(long, env = "AGENTPODS_REPOSITORY")]
    pub repository: String,
    /// Where OWNER/NAME repositories live (GitHub Enterprise Server: its own host).
    #[arg(
        long,
        env = "AGENTPODS_GIT_BASE_URL",
        default_value = "https://github.com"
    )]
    pub git_base_url: String,
    /// The ref to fetch: refs/pull/N/head, refs/heads/BRANCH, refs/tags/TAG.
    #[arg(long = "ref", env = "AGENTPODS_REF")]
    pub git_ref: String,
    /// The exact commit to check out; HEAD is verified to be it. Without it, the ref's tip.
    #[arg(long, env = "AGENTPODS_SHA")]
    pub sha: Option<String>,
    /// For a pull request: the branch it goes into. With --base-sha, it is fetched at that
    /// commit as origin/BRANCH, so that `git diff origin/BRANCH...HEAD` shows the change.
    #[arg(long, env = "AGENTPODS_BASE_REF", requires = "base_sha")]
    pub base_ref: Option<String>,
    /// The commit --base-ref is fetched at (the pull request's base).
    #[arg(long, env = "AGENTPODS_BASE_SHA", requires = "base_ref")]
    pub base_sha: Option<String>,
    /// A file holding a short-lived repository token (sent to the git remote only).
    #[arg(long, env = "AGENTPODS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Where the repository is checked out (created; must be empty or absent).
    #[arg(long, env = "AGENTPODS_WORKDIR", default_value = "/workspace/repo")]
    pub workdir: PathBuf,
    /// The run's name (the AgentRun's); the pushed branch is agentpods/RUN-NAME.
    #[arg(long, env = "AGENTPODS_RUN")]
    pub run_name: String,
    /// Push the agent's changes, if any, to --branch.
    #[arg(long, env = "AGENTPODS_PUSH")]
    pub push: bool,
    /// Open a pull request from the pushed branch onto the checked-out branch (implies
    /// --push), with the token of --token-file at $GITHUB_API_URL.
    #[arg(long, env = "AGENTPODS_OPEN_PR")]
    pub open_pr: bool,
    /// The login of who asked for the run, named in the pull request.
    #[arg(long, env = "AGENTPODS_REQUESTED_BY")]
    pub requested_by: Option<String>,
    /// The issue or pull request the run was asked for in, named in the pull request.
    #[arg(long, env = "AGENTPODS_ISSUE")]
    pub issue: Option<u64>,
    /// The branch to push to; agentpods/RUN-NAME when absent.
    #[arg(long, env = "AGENTPODS_BRANCH")]
    pub branch: Option<String>,
    /// How the agent command receives the task.
    #[arg(long, env = "AGENTPODS_PROMPT_VIA", value_enum, default_value_t = PromptVia::Stdin)]
    pub prompt_via: PromptVia,
    /// Where the agent may write its own result JSON (given to it as $AGENTPODS_RESULT).
    #[arg(
        long,
        env = "AGENTPODS_RESULT",
        default_value = "/tmp/agentpods/result.json"
    )]
    pub result_file: PathBuf,
    /// Where the result is written for the controller.
    #[arg(
        long,
        env = "AGENTPODS_TERMINATION_LOG",
        default_value = "/dev/termination-log"
    )]
    pub termination_log: PathBuf,
    /// The git executable.
    #[arg(long, env = "AGENTPODS_GIT", default_value = "git")]
    pub git: PathBuf,
    /// The author of the commit made for uncommitted changes.
    #[arg(
        long,
        env = "AGENTPODS_GIT_AUTHOR_NAME",
        default_value = "agentpods[bot]"
    )]
    pub author_name: String,
    /// The email address of that commit's author.
    #[arg(
        long,
        env = "AGENTPODS_GIT_AUTHOR_EMAIL",
        default_value = "agentpods[bot]@users.noreply.github.com"
    )]
    pub author_email: String,
    /// Variables whose values are secrets, comma-separated (`PREFIX*`: every variable that
    /// starts with PREFIX). Render sets it from the pod's secretKeyRef and envFrom Secrets.
    #[arg(long, env = agent_pod::SECRET_ENV, value_delimiter = ',')]
    pub secret_env: Vec<String>,
    /// Files or folders of secrets, comma-separated. Render sets it from the pod's Secret
    /// volumes.
    #[arg(long, env = agent_pod::SECRET_FILES, value_delimiter = ',')]
    pub secret_files: Vec<PathBuf>,
    /// A folder of tokens Kubernetes and identity webhooks mount, read when present.
    #[arg(long, default_value = secrets::SYSTEM_SECRETS, hide = true)]
    pub system_secrets: PathBuf,
    /// Which of the run's steps to do: all of them in this process, or one, as its own
    /// container (the agent's container then never holds the token).
    #[arg(long = agent_pod::PHASE_FLAG, env = agent_pod::PHASE_ENV, value_enum, default_value_t = Step::All)]
    pub phase: Step,
    /// Where the checkout leaves what the publish step needs (--phase checkout writes it;
    /// mount it read-only in the agent's container).
    #[arg(
        long,
        env = "AGENTPODS_HANDOFF_DIR",
        default_value = "/var/run/agentpods/handoff"
    )]
    pub handoff_dir: PathBuf,
    /// Where the agent's step records how the agent exited, for the publish step.
    #[arg(
        long,
        env = "AGENTPODS_AGENT_RECORD",
        default_value = "/var/run/agentpods/exit/agent.json"
    )]
    pub agent_record: PathBuf,
    /// Three steps: where the checkout keeps the commit's git objects, in a folder it
    /// alone writes (the other steps mount it read-only, at the same path): the checkout's
    /// `.git` borrows them, and the publish step builds its push on them.
    #[arg(long, env = "AGENTPODS_OBJECTS_DIR")]
    pub objects_dir: Option<PathBuf>,
    /// Three steps: where the agent's step leaves the agent's commits as a git bundle
    /// (`changes.bundle`) for the publish step, which then never reads the agent's
    /// checkout. Needs --objects-dir and, in the publish step, --publish-dir.
    #[arg(long = agent_pod::CHANGES_DIR_FLAG, env = agent_pod::CHANGES_DIR_ENV)]
    pub changes_dir: Option<PathBuf>,
    /// Three steps: a folder of the publish step's own, which no other step mounts, where
    /// it takes the bundle into a repository of its own and pushes from there.
    #[arg(long, env = "AGENTPODS_PUBLISH_DIR")]
    pub publish_dir: Option<PathBuf>,
    /// The agent command and its arguments, after `--`; run directly, without a shell.
    /// Needed by --phase all and run.
    #[arg(last = true, required_if_eq_any = [("phase", "all"), ("phase", "run")])]
    pub command: Vec<String>,
}

/// The entrypoint's steps, each as its own container or all in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Check out, run the agent, publish: one container, which holds the token throughout.
    All,
    /// Check out the commit with the token; write the hand-off. No agent runs.
    Checkout,
    /// Run the agent on the checkout, without the token; record how it exited.
    Run,
    /// With the token again, once the agent's container is gone: push, open the pull
    /// request, revoke the token and write the result.
    Publish,
}

/// Why a run could not get as far as the agent's own result. Every variant ends the run as
/// a failure whose summary is this message (with any secret removed).
#[derive(Debug, Error)]
pub enum AgentError {
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("cannot read the token file {path}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {0} is empty")]
    EmptyToken(PathBuf),
    #[error("cannot read the task file {path}")]
    TaskFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the working directory {0} is not empty")]
    WorkdirNotEmpty(PathBuf),
    #[error("cannot prepare {path}")]
    Prepare {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot check out {repository}")]
    Checkout {
        repository: String,
        source: GitError,
    },
    #[error(transparent)]
    Agent(#[from] process::ProcessError),
    #[error("the agent's result file {path} is not valid: {reason}")]
    AgentResult {
        path: PathBuf,
        /// Shown in the message itself: the pod's result says it (not a `#[source]`).
        reason: result::ReportUnreadable,
    },
    #[error("cannot inspect the agent's changes: {0}")]
    Inspect(GitError),
    #[error("cannot bundle the agent's commits: {0}")]
    Bundling(GitError),
    /// The publish step was asked to take the agent's commits from a bundle without the
    /// folders that needs.
    #[error("--changes-dir needs {0} in the publish step")]
    Layout(&'static str),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error(transparent)]
    Handoff(#[from] handoff::HandoffError),
    /// The checkout step failed; its message, as it wrote it.
    #[error("{0}")]
    CheckoutStep(String),
    /// The agent's step could not run the agent; its message, as it wrote it.
    #[error("{0}")]
    AgentStep(String),
}

/// What the entrypoint asks of whoever opens pull requests: [`GithubPullRequests`] in
/// the binary, [`NoPullRequests`] where there is no GitHub to ask.
pub trait PullRequestOpener {
    /// Opens the pull request, or finds the one already open for the head.
    fn open(
        &self,
        draft: &PullRequestDraft<'_>,
    ) -> Result<PullRequestCreated, OpenPullRequestError>;
}

/// Why the entrypoint could not have GitHub open its pull request or revoke its token.
/// Never holds the token.
#[derive(Debug, Error)]
pub enum GithubCallError {
    #[error("there is no token to ask GitHub with (--token-file)")]
    NoToken,
    #[error(transparent)]
    Token(Box<AgentError>),
    #[error("{0:?} does not name a GitHub repository (OWNER/NAME)")]
    NotARepository(String),
    #[error("cannot start the HTTP runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Github(#[from] crate::github_client::GithubError),
    #[error("GitHub did not answer within {0:?}")]
    NoAnswer(std::time::Duration),
    #[error("this build cannot open pull requests; the branch is in the result")]
    NoClient,
}

/// The error of [`PullRequestOpener::open`].
pub type OpenPullRequestError = GithubCallError;

/// What the entrypoint asks of GitHub as it exits: to revoke the run's own token.
pub trait TokenRevoker {
    /// Revokes `token`, within a few seconds; the error never holds the token.
    fn revoke(&self, token: &str) -> Result<(), GithubCallError>;
}

/// Installation tokens start so; any other token is someone's own, not the run's to revoke.
const INSTALLATION_TOKEN_PREFIX: &str = "ghs_";

/// The opener of a build without a GitHub client.
#[derive(Debug, Default)]
pub struct NoPullRequests;

impl PullRequestOpener for NoPullRequests {
    fn open(&self, _: &PullRequestDraft<'_>) -> Result<PullRequestCreated, OpenPullRequestError> {
        Err(GithubCallError::NoClient)
    }
}

/// Runs `agentpods agent`, revokes the run's token and writes the result; the exit code
/// says only whether it could write it.
pub fn main(
    args: &AgentArgs,
    opener: &dyn PullRequestOpener,
    revoker: &dyn TokenRevoker,
) -> ExitCode {
    // The agent runs as the same user: without this it could write to this process's own
    // stdout (the pod log) through /proc/1/fd/1, past the redaction.
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        eprintln!(
            "agentpods agent: cannot make this process undumpable: {}",
            crate::text::with_causes(&e)
        );
    }
    match args.phase {
        Step::All | Step::Publish => {}
        Step::Checkout => return checkout_step(args),
        Step::Run => return agent_step(args),
    }
    let result = execute(args, opener);
    revoke_own_token(args.token_file.as_deref(), revoker);
    let json = result.termination_message();
    eprintln!("agentpods agent: {}: {json}", result.conclusion);
    match write_result(&args.termination_log, &json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "agentpods agent: cannot write the result to {}: {}",
                args.termination_log.display(),
                crate::text::with_causes(&e)
            );
            ExitCode::FAILURE
        }
    }
}

/// Revokes the run's installation token, whatever became of the run. Best effort: a token
/// that cannot be revoked now expires within the hour.
fn revoke_own_token(path: Option<&Path>, revoker: &dyn TokenRevoker) {
    let Ok(Some((token, _))) = read_token(path) else {
        return;
    };
    if !token.starts_with(INSTALLATION_TOKEN_PREFIX) {
        return;
    }
    let redactor = Redactor::new([token.clone()]);
    match revoker.revoke(&token) {
        Ok(()) => say(&redactor, "revoked the run's GitHub token"),
        Err(e) => say(
            &redactor,
            &format!(
                "cannot revoke the run's GitHub token (it expires within the hour): {}",
                crate::text::with_causes(&e)
            ),
        ),
    }
}

fn write_result(path: &Path, json: &str) -> std::io::Result<()> {
    std::fs::write(path, json)
}

/// The whole run (or, with `--phase publish`, its last step), to its result. Never fails: a
/// failure is a result too.
pub fn execute(args: &AgentArgs, opener: &dyn PullRequestOpener) -> PodResult {
    match load(args) {
        Ok(Loaded {
            credentials,
            secrets,
        }) => {
            let redactor = &secrets.all;
            match attempt(args, credentials, &secrets, opener) {
                Ok(mut result) => {
                    result.summary = redactor.redact_published(&result.summary);
                    result
                }
                Err(e) => failure(redactor, &e),
            }
        }
        Err((redactor, e)) => failure(&redactor, &e),
    }
}

/// The token and the secrets of the pod, as read in this container.
struct Loaded {
    credentials: Option<Credentials>,
    secrets: Secrets,
}

/// Reads the pod's secrets and the token; an unreadable token is an error, with what
/// redacts the pod's secrets from it.
fn load(args: &AgentArgs) -> Result<Loaded, (Redactor, AgentError)> {
    let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let found = secrets::gather(
        &args.secret_env,
        &args.secret_files,
        &vars,
        Some(&args.system_secrets),
    );
    let pod_secrets = Redactor::new(&found.values);
    for note in &found.notes {
        say(&pod_secrets, note);
    }
    let mut named: Vec<NamedSecret> = found
        .names
        .iter()
        .zip(&found.values)
        .map(|(name, value)| NamedSecret {
            name: name.clone(),
            redactor: Redactor::new([value]),
        })
        .collect();
    let (credentials, redactor) = match read_token(args.token_file.as_deref()) {
        Ok(Some((token, credentials))) => {
            let mut values = credentials.secrets();
            values.push(token);
            let token_redactor = Redactor::new(values);
            named.push(NamedSecret {
                name: "the run's GitHub token".into(),
                redactor: token_redactor.clone(),
            });
            let redactor = token_redactor.merged(&pod_secrets);
            (Some(credentials), redactor)
        }
        Ok(None) => (None, pod_secrets),
        Err(e) => return Err((pod_secrets, e)),
    };
    Ok(Loaded {
        credentials,
        secrets: Secrets {
            all: redactor,
            named,
        },
    })
}

/// `--phase checkout`: checks out the commit (with the token, before any agent runs) and
/// leaves the outcome in the hand-off folder; exits 0 when it could.
fn checkout_step(args: &AgentArgs) -> ExitCode {
    let (outcome, config) = match load(args) {
        Err((redactor, e)) => (checkout_failed(&redactor, &e), None),
        Ok(loaded) => {
            let redactor = &loaded.secrets.all;
            let checked = plan(args).map_err(AgentError::from).and_then(|plan| {
                ensure_empty_workdir(args)?;
                let git = git_for(args, &plan, loaded.credentials, redactor);
                check_out(&git, &plan, redactor)
            });
            match checked {
                Ok((base, sealed)) => (handoff::CheckedOut::Ready { base }, Some(sealed)),
                Err(e) => (checkout_failed(redactor, &e), None),
            }
        }
    };
    match handoff::write_checkout(&args.handoff_dir, &outcome, config.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentpods agent: {}", crate::text::with_causes(&e));
            ExitCode::FAILURE
        }
    }
}

fn checkout_failed(redactor: &Redactor, e: &AgentError) -> handoff::CheckedOut {
    handoff::CheckedOut::Failed {
        message: told(redactor, e),
    }
}

/// A step's error, said in the log and returned for the hand-off, its secrets taken out.
fn told(redactor: &Redactor, e: &AgentError) -> String {
    let message = redactor.redact(&crate::text::with_causes(e));
    say(redactor, &message);
    message
}

/// `--phase run`: runs the agent on the checkout, in a container without the token, and
/// records how it exited for the publish step; exits 0 when it could record it.
fn agent_step(args: &AgentArgs) -> ExitCode {
    // Refused before anything reads the token.
    let loaded = if args.token_file.is_some() {
        Err((
            Redactor::new(Vec::<String>::new()),
            AgentError::AgentStep(
                "the agent's step was given --token-file (AGENTPODS_TOKEN_FILE): the agent \
                 would hold the run's token. Give it to the checkout and publish steps only."
                    .into(),
            ),
        ))
    } else {
        load(args)
    };
    let record = match loaded {
        Err((redactor, e)) => agent_failed(&redactor, &e),
        Ok(loaded) => {
            let redactor = &loaded.secrets.all;
            match handoff::read_checkout(&args.handoff_dir) {
                Ok((handoff::CheckedOut::Failed { .. }, _)) => {
                    say(redactor, "the checkout failed; the agent does not run");
                    handoff::AgentRecord::Skipped
                }
                Ok((handoff::CheckedOut::Ready { base }, sealed)) => {
                    let ran = read_task(args).and_then(|task| {
                        let exit = run_agent(args, &args.workdir, &base, &task, redactor)?;
                        if let Some(changes) =
                            args.changes_dir.as_deref().filter(|_| exit.code == Some(0))
                        {
                            bundle_changes(args, &base, &sealed, changes, redactor)?;
                        }
                        Ok(exit)
                    });
                    match ran {
                        Ok(exit) => handoff::AgentRecord::exited(exit),
                        Err(e) => agent_failed(redactor, &e),
                    }
                }
                Err(e) => agent_failed(redactor, &e.into()),
            }
        }
    };
    match handoff::write_record(&args.agent_record, &record) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentpods agent: {}", crate::text::with_causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// The file in --changes-dir that holds the agent's commits.
const CHANGES_BUNDLE: &str = "changes.bundle";

/// In the agent's container (no token), once the agent has exited: commits what it left
/// uncommitted, and writes every commit since `base` as a bundle into `changes` (none when
/// there is none), for the publish step to push without reading the checkout.
fn bundle_changes(
    args: &AgentArgs,
    base: &CommitSha,
    sealed: &[u8],
    changes: &Path,
    redactor: &Redactor,
) -> Result<(), AgentError> {
    let plan = plan(args)?;
    let git = git_for(args, &plan, None, redactor);
    let bundle = changes.join(CHANGES_BUNDLE);
    let prepare = |source| AgentError::Prepare {
        path: bundle.clone(),
        source,
    };
    // Whatever is there is not this step's.
    match std::fs::symlink_metadata(&bundle) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&bundle).map_err(prepare)?,
        Ok(_) => std::fs::remove_file(&bundle).map_err(prepare)?,
        Err(_) => {}
    }
    reseal(&git, sealed, redactor)?;
    if git.is_dirty().map_err(AgentError::Inspect)? {
        commit_what_is_left(&git, args, &plan).map_err(AgentError::Bundling)?;
    }
    if git.commits_since(base).map_err(AgentError::Inspect)? == 0 {
        return Ok(());
    }
    std::fs::create_dir_all(changes).map_err(prepare)?;
    git.bundle(base, &bundle).map_err(AgentError::Bundling)
}

/// Commits every change the agent left uncommitted, as the entrypoint's author.
fn commit_what_is_left(git: &Git, args: &AgentArgs, plan: &Plan) -> Result<(), GitError> {
    let who = Identity {
        name: args.author_name.clone(),
        email: args.author_email.clone(),
    };
    git.commit_all(
        &who,
        &format!("agentpods: changes of run {}", plan.run.as_str()),
    )
}

/// Puts the checkout's git folder back as the entrypoint's own git needs it (see
/// [`Git::reseal`]), saying which nested repositories it removed.
fn reseal(git: &Git, sealed: &[u8], redactor: &Redactor) -> Result<(), AgentError> {
    let nested = git.reseal(sealed).map_err(AgentError::Inspect)?;
    if !nested.is_empty() {
        say(
            redactor,
            &format!(
                "removed the git repositories the agent left inside the checkout, which \
                 the entrypoint's git would have read the configuration of: {}",
                nested
                    .iter()
                    .map(|p| format!("\"{}\"", p.escape_debug()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Ok(())
}

fn agent_failed(redactor: &Redactor, e: &AgentError) -> handoff::AgentRecord {
    handoff::AgentRecord::Failed {
        message: told(redactor, e),
    }
}

/// One secret of the pod, by its name (a variable's, a file's), never its value.
struct NamedSecret {
    name: String,
    redactor: Redactor,
}

/// The pod's secrets: all of them, to redact; each by name, to say which one a push
/// would have published.
struct Secrets {
    all: Redactor,
    named: Vec<NamedSecret>,
}

/// Where a secret was found in what a push would publish: which secret (by name) and
/// where (a file's path, or a commit), never the value.
#[derive(Debug)]
struct Published {
    secret: String,
    place: String,
}

/// The first secret of the pod in what a push of `head` would publish over `base`, if any.
fn secret_in_push(
    git: &Git,
    base: &CommitSha,
    head: &CommitSha,
    secrets: &Secrets,
) -> Result<Option<Published>, GitError> {
    let mut found = None;
    git.each_new_object(base, head, &mut |kind, path, content| {
        if !secrets.all.finds(content) {
            return true;
        }
        let secret = secrets
            .named
            .iter()
            .find(|s| s.redactor.finds(content))
            .map_or_else(|| "a secret of the pod".to_string(), |s| s.name.clone());
        let place = match (kind, path.is_empty()) {
            (ObjectKind::Commit, _) => "a commit's message, author or committer".to_string(),
            (ObjectKind::Tree, true) => "a file name".to_string(),
            (ObjectKind::Tree, false) => format!("a file name under `{path}`"),
            (ObjectKind::Blob | ObjectKind::Tag, true) => format!("a {kind}"),
            (ObjectKind::Blob | ObjectKind::Tag, false) => format!("`{path}`"),
        };
        found = Some(Published {
            secret,
            place: secrets.all.redact(&place),
        });
        false
    })?;
    Ok(found)
}

fn failure(redactor: &Redactor, e: &AgentError) -> PodResult {
    let e = crate::text::with_causes(e);
    say(redactor, &e);
    // Published as Markdown, and it may quote the agent's own words (its step's record):
    // redacted as GitHub shows it too.
    PodResult::new(
        PodConclusion::Failure,
        redactor.redact_published(&format!("agentpods could not complete the run: {e}")),
    )
}

/// One line of the entrypoint's own in the pod log, with the secrets taken out.
fn say(redactor: &Redactor, line: &str) {
    eprintln!("agentpods agent: {}", redactor.redact(line));
}

fn read_token(path: Option<&Path>) -> Result<Option<(String, Credentials)>, AgentError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|source| AgentError::TokenFile {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(AgentError::EmptyToken(path.to_path_buf()));
    }
    Ok(Some((token.to_string(), Credentials::github_token(token))))
}

/// The checked options.
struct Plan {
    remote: RemoteUrl,
    git_ref: GitRef,
    sha: Option<CommitSha>,
    /// The branch a pull request goes into, and its commit.
    base: Option<(Branch, CommitSha)>,
    run: AgentRunName,
    branch: Branch,
    push: bool,
    open_pr: bool,
}

fn plan(args: &AgentArgs) -> Result<Plan, TaskError> {
    let run = AgentRunName::parse(&args.run_name)?;
    let branch = match &args.branch {
        Some(b) => Branch::parse(b)?,
        None => Branch::for_run(&run),
    };
    Ok(Plan {
        remote: RemoteUrl::resolve(&args.repository, &args.git_base_url)?,
        git_ref: GitRef::parse(&args.git_ref)?,
        sha: args.sha.as_deref().map(commit_sha).transpose()?,
        base: match (&args.base_ref, &args.base_sha) {
            (Some(b), Some(s)) => Some((Branch::parse(b)?, commit_sha(s)?)),
            _ => None,
        },
        run,
        branch,
        push: args.push || args.open_pr,
        open_pr: args.open_pr,
    })
}

fn read_task(args: &AgentArgs) -> Result<String, AgentError> {
    std::fs::read_to_string(&args.task_file).map_err(|source| AgentError::TaskFile {
        path: args.task_file.clone(),
        source,
    })
}

fn ensure_empty_workdir(args: &AgentArgs) -> Result<(), AgentError> {
    let is_empty_dir = |p: &Path| std::fs::read_dir(p).map(|mut d| d.next().is_none());
    if args.workdir.exists() && !is_empty_dir(&args.workdir).unwrap_or(false) {
        return Err(AgentError::WorkdirNotEmpty(args.workdir.clone()));
    }
    Ok(())
}

fn git_for(
    args: &AgentArgs,
    plan: &Plan,
    credentials: Option<Credentials>,
    redactor: &Redactor,
) -> Git {
    let git = Git::new(
        args.git.clone(),
        args.workdir.clone(),
        plan.remote.clone(),
        credentials,
        redactor.clone(),
    );
    match &args.objects_dir {
        Some(objects) => git.with_store(store_in(objects)),
        None => git,
    }
}

/// The bare repository the checkout fetches into, in --objects-dir: a folder the
/// checkout makes (and so owns: git refuses a repository whose folder another user owns,
/// as the volume's own folder may be).
fn store_in(objects_dir: &Path) -> PathBuf {
    objects_dir.join("checkout.git")
}

/// Checks out the commit (and a pull request's base); HEAD, and the git configuration as
/// written, to put back once the agent has run.
fn check_out(
    git: &Git,
    plan: &Plan,
    redactor: &Redactor,
) -> Result<(CommitSha, Vec<u8>), AgentError> {
    let wanted = plan
        .sha
        .as_ref()
        .map_or(plan.git_ref.as_str(), CommitSha::as_str);
    say(
        redactor,
        &format!("checking out {} at {wanted}", plan.remote.as_str()),
    );
    let checkout = |source| AgentError::Checkout {
        repository: plan.remote.to_string(),
        source,
    };
    git.init().map_err(checkout)?;
    let base = git
        .checkout(&plan.git_ref, plan.sha.as_ref())
        .map_err(checkout)?;
    if let Some((branch, sha)) = &plan.base {
        say(
            redactor,
            &format!("fetching the base {branch} at {sha} as origin/{branch}"),
        );
        git.fetch_base(branch, sha).map_err(checkout)?;
    }
    let sealed = git.config_snapshot().map_err(checkout)?;
    Ok((base, sealed))
}

/// Runs the agent command in the checkout `dir` (HEAD `base`) and reads what it reported.
fn run_agent(
    args: &AgentArgs,
    dir: &Path,
    base: &CommitSha,
    task: &str,
    redactor: &Redactor,
) -> Result<AgentExit, AgentError> {
    prepare_result_file(&args.result_file)?;
    say(
        redactor,
        &format!(
            "running {:?}",
            args.command.first().map_or("", String::as_str)
        ),
    );
    let finished = process::run(&AgentCommand {
        argv: &args.command,
        dir,
        prompt_via: args.prompt_via,
        task_file: &args.task_file,
        task,
        env: vec![
            ("AGENTPODS_TASK_FILE", args.task_file.clone().into()),
            ("AGENTPODS_RESULT", args.result_file.clone().into()),
            ("AGENTPODS_SHA", OsString::from(base.as_str())),
            ("AGENTPODS_WORKDIR", args.workdir.clone().into()),
        ],
        env_remove: &["AGENTPODS_TOKEN_FILE"],
        redactor,
    })?;
    eprintln!(
        "agentpods agent: the agent exited with {}",
        finished
            .code
            .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"))
    );
    let report = match std::fs::read_to_string(&args.result_file) {
        Ok(text) => Some(
            AgentReport::parse(&text).map_err(|reason| AgentError::AgentResult {
                path: args.result_file.clone(),
                reason,
            })?,
        ),
        Err(_) => AgentReport::from_last_line(&finished.stdout_tail),
    };
    Ok(AgentExit {
        code: finished.code,
        report,
        stderr_tail: finished.stderr_tail,
    })
}

fn attempt(
    args: &AgentArgs,
    credentials: Option<Credentials>,
    secrets: &Secrets,
    opener: &dyn PullRequestOpener,
) -> Result<PodResult, AgentError> {
    let redactor = &secrets.all;
    let plan = plan(args)?;
    let task = read_task(args)?;
    let git = git_for(args, &plan, credentials.clone(), redactor);
    let (base, sealed, exit) = if args.phase == Step::Publish {
        // What the checkout wrote, where the agent could not; and the agent's own word.
        let (checked, sealed) = handoff::read_checkout(&args.handoff_dir)?;
        let base = match checked {
            handoff::CheckedOut::Ready { base } => base,
            handoff::CheckedOut::Failed { message } => {
                return Err(AgentError::CheckoutStep(message));
            }
        };
        let exit = match handoff::read_record(&args.agent_record)? {
            handoff::AgentRecord::Exited {
                code,
                report,
                stderr_tail,
            } => AgentExit {
                code,
                report,
                stderr_tail: redactor.redact(&stderr_tail),
            },
            handoff::AgentRecord::Failed { message } => {
                return Err(AgentError::AgentStep(message));
            }
            handoff::AgentRecord::Skipped => {
                return Err(AgentError::AgentStep(
                    "the agent did not run, since the checkout had failed".into(),
                ));
            }
        };
        (base, sealed, exit)
    } else {
        ensure_empty_workdir(args)?;
        let (base, sealed) = check_out(&git, &plan, redactor)?;
        let exit = run_agent(args, git.dir(), &base, &task, redactor)?;
        (base, sealed, exit)
    };
    // Its words go into the pull request it opens, before the result is redacted.
    let exit = AgentExit {
        report: exit.report.map(|mut report| {
            report.summary = redactor.redact_published(&report.summary);
            report
        }),
        ..exit
    };
    let changes = match args.changes_dir.as_deref() {
        Some(changes) if args.phase == Step::Publish => Changes::bundled(args, changes)?,
        _ => {
            // What the agent wrote into the git directory runs nothing in our own git
            // commands.
            reseal(&git, &sealed, redactor)?;
            let dirty = git.is_dirty().map_err(AgentError::Inspect)?;
            let committed = git.commits_since(&base).map_err(AgentError::Inspect)?;
            (dirty || committed > 0).then_some(Changes::Checkout { dirty })
        }
    };
    let mut result = result::decide(&exit, changes.is_some());
    let Some(changes) = changes.filter(|_| exit.code == Some(0)) else {
        return Ok(result);
    };
    if !plan.push {
        result
            .summary
            .push_str("\n\nThe agent changed the repository; this task may not push, so the changes were not kept.");
        return Ok(result);
    }
    if result.conclusion == PodConclusion::Failure {
        result
            .summary
            .push_str("\n\nThe changes were not pushed, since the agent reported a failure.");
        return Ok(result);
    }
    let pushed = (|| {
        let (git, head) = match changes {
            Changes::Bundle {
                bundle,
                objects,
                publish,
            } => {
                // A repository of publish's own, on the checkout's objects: the agent's
                // commits come in as data, and no git here reads the agent's checkout.
                let own = Git::new(
                    args.git.clone(),
                    publish.join("push.git"),
                    plan.remote.clone(),
                    credentials.clone(),
                    redactor.clone(),
                );
                own.init_bare_on(&objects)?;
                own.take_pack(bundle.pack, &bundle.head)?;
                (own, bundle.head)
            }
            Changes::Checkout { dirty } => {
                if dirty {
                    commit_what_is_left(&git, args, &plan)?;
                }
                let head = git.head()?;
                (git, head)
            }
        };
        if let Some(published) = secret_in_push(&git, &base, &head, secrets)? {
            return Ok(Err(published));
        }
        git.push(&head, &plan.branch)?;
        git.commits_between(&base, head.as_str()).map(Ok)
    })();
    match pushed {
        Ok(Err(published)) => {
            say(
                redactor,
                &format!(
                    "refused to push: {} is in {}",
                    published.secret, published.place
                ),
            );
            result.conclusion = PodConclusion::Failure;
            result.summary.push_str(&format!(
                "\n\nNothing was pushed and no pull request was opened: the changes carry a \
                 secret of the pod ({}, in {}).",
                published.secret, published.place
            ));
        }
        Ok(Ok(commits)) => {
            eprintln!("agentpods agent: pushed {}", plan.branch);
            result.summary.push_str(&format!(
                "\n\nPushed {commits} commit{} on {} to branch `{}`.",
                if commits == 1 { "" } else { "s" },
                base.short(),
                plan.branch
            ));
            result.branch = Some(plan.branch.to_string());
            if plan.open_pr {
                let requested = RequestedBy {
                    login: args.requested_by.as_deref(),
                    number: args.issue,
                };
                let agent_summary = exit.report.as_ref().map(|r| r.summary.as_str());
                open_pull_request(
                    args,
                    &plan,
                    &task,
                    agent_summary,
                    requested,
                    &mut result,
                    opener,
                );
            }
        }
        Err(e) => {
            result.conclusion = PodConclusion::Failure;
            result.summary.push_str(&format!(
                "\n\nThe changes could not be pushed to `{}`: {}",
                plan.branch,
                crate::text::with_causes(&e)
            ));
        }
    }
    Ok(result)
}

/// Where the agent's changes are, for the publish step (when there are some).
enum Changes {
    /// In the checkout itself (one container, or a template without --changes-dir):
    /// `dirty` when some are not committed yet.
    Checkout { dirty: bool },
    /// In the bundle the agent's step wrote; publish takes it into a repository of its
    /// own in `publish`, on the objects of the checkout's repository `objects`.
    Bundle {
        bundle: bundle::Bundle,
        objects: PathBuf,
        publish: PathBuf,
    },
}

impl Changes {
    /// The bundle the agent's step left in `changes`, if any: a plain file (never a link,
    /// which would have publish read a file the agent chose); none when the agent changed
    /// nothing.
    fn bundled(args: &AgentArgs, changes: &Path) -> Result<Option<Changes>, AgentError> {
        let objects = args
            .objects_dir
            .clone()
            .ok_or(AgentError::Layout("--objects-dir"))?;
        let publish = args
            .publish_dir
            .clone()
            .ok_or(AgentError::Layout("--publish-dir"))?;
        let path = changes.join(CHANGES_BUNDLE);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => Ok(Some(Changes::Bundle {
                bundle: bundle::open(&path)?,
                objects: store_in(&objects),
                publish,
            })),
        }
    }
}

/// Opens the pull request of the pushed branch and says so in the result; a pull request
/// that could not be opened leaves the run's conclusion as it was (the branch is there).
fn open_pull_request(
    args: &AgentArgs,
    plan: &Plan,
    task: &str,
    agent_summary: Option<&str>,
    requested: RequestedBy<'_>,
    result: &mut PodResult,
    opener: &dyn PullRequestOpener,
) {
    let Some(base) = pull_request::base_branch(&plan.git_ref) else {
        result.summary.push_str(&format!(
            "\n\nNo pull request was opened: `{}` is not a branch to open one onto.",
            plan.git_ref.as_str()
        ));
        return;
    };
    let fallback = format!("agentpods: {}", plan.run.as_str());
    let draft = PullRequestDraft {
        repository: &args.repository,
        head: &plan.branch,
        base,
        title: pull_request::title(agent_summary, task, &fallback),
        body: pull_request::body(&result.summary, requested),
    };
    match opener.open(&draft) {
        Ok(pr) => {
            eprintln!("agentpods agent: opened pull request #{}", pr.number);
            result
                .summary
                .push_str(&format!("\n\nOpened #{}: {}", pr.number, pr.html_url));
            result.pull_request = Some(pr.number.get());
        }
        Err(e) => {
            // Logged with the (redacted) result.
            result.summary.push_str(&format!(
                "\n\nNo pull request was opened: {}.",
                crate::text::with_causes(&e)
            ));
        }
    }
}

/// Makes sure a stale result cannot be mistaken for this run's, and that the agent can
/// write one.
fn prepare_result_file(path: &Path) -> Result<(), AgentError> {
    let prepare = |source| AgentError::Prepare {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(prepare(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(prepare)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// `validate` reads the steps in a template by these names (`render::token_reach`): a
    /// renamed step must rename them too.
    #[test]
    fn the_steps_are_named_as_the_pod_s_contract_names_them() {
        let name = |phase: Step| {
            phase
                .to_possible_value()
                .expect("a value")
                .get_name()
                .to_owned()
        };
        assert_eq!(name(Step::Checkout), agent_pod::CHECKOUT_STEP);
        assert_eq!(name(Step::Publish), agent_pod::PUBLISH_STEP);
    }
}
