//! The seam between "the planner decided to launch this" and "it is durably recorded".
//!
//! A [`Launcher`] records one run and says whether it created it or found it already
//! there. Runs are named after their delivery's signed body (see `plan::run_name` and
//! `DeliveryId::run_key`), so "already there" is how a repeated delivery is recognised,
//! under its own id or another, even by a replica that never saw the first.
//!
//! Today there is one launcher, [`DryRunLauncher`], which writes each run's manifests to
//! `<dir>/<run-name>.yaml` (or only logs them). The cluster launcher (an AgentRun created
//! through the Kubernetes API, where HTTP 409 AlreadyExists means [`Launched::AlreadyExists`])
//! implements the same trait.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::agentrun::{Phase, RunSource, SourceError};
use crate::github::event::RepoFullName;
use crate::github::webhook::DeliveryId;
use crate::names::RunName;
use crate::plan::Launch;
use crate::render::RenderedRun;

/// One run to record: what the planner decided, what it was decided from, and what it
/// renders to.
#[derive(Debug, Clone)]
pub struct RunToLaunch {
    pub delivery: DeliveryId,
    /// The `X-GitHub-Event` name.
    pub event: String,
    /// The event and the planner's decision (`source.launch`), kept with the run.
    pub source: RunSource,
    pub rendered: RenderedRun,
}

impl RunToLaunch {
    pub fn name(&self) -> &str {
        &self.rendered.name
    }

    pub fn launch(&self) -> &Launch {
        &self.source.launch
    }
}

/// What recording a run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launched {
    Created,
    /// A run of this name exists already: a repeated delivery.
    AlreadyExists,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("run name {0:?} is not a DNS label")]
    BadName(String),
    #[error("cannot print {kind} {name} as YAML: {source}")]
    Yaml {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{path}: cannot write the run's manifests: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot record run {name}: {source}")]
    Unrecordable {
        name: String,
        #[source]
        source: SourceError,
    },
    #[error("the launcher stopped before recording the run")]
    Interrupted,
    /// A fork's run done again is judged by its pull request's approvals, which could not
    /// be read.
    #[error("cannot judge the run again: {0}")]
    Approvals(#[from] crate::ports::approvals::ApprovalError),
    /// The API server did not record (or find) run `name`.
    #[error("cannot record run {name} in namespace {namespace}: {source}")]
    Cluster {
        name: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    /// The runs of a pull request or issue could not be listed, or changed.
    #[error(
        "cannot read or change the runs of {repository}#{number} in namespace {namespace}: {source}"
    )]
    Runs {
        repository: RepoFullName,
        number: u64,
        namespace: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type LaunchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Launched, LaunchError>> + Send + 'a>>;

pub type CancelFuture<'a> = Pin<Box<dyn Future<Output = Result<usize, LaunchError>> + Send + 'a>>;

/// The runs of one pull request or issue, to be cancelled (`/agent stop`, a closed PR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRuns {
    /// Its runs are matched as GitHub tells repositories apart, case aside
    /// ([`RepoFullName::key`]).
    pub repository: RepoFullName,
    /// The pull request's or issue's number.
    pub number: u64,
    /// Why, recorded on each run (in words: its `Display`).
    pub reason: CancelReason,
    /// When it was asked (the comment written, the pull request closed): only runs
    /// recorded before then and [`crate::plan::STOP_REACH`] are stopped, so the same
    /// request sent again later stops nothing started since. `None`: every run.
    pub asked_at: Option<k8s_openapi::jiff::Timestamp>,
}

impl CancelRuns {
    /// Whether a run recorded at `created` is one this request means.
    pub fn reaches(&self, created: Option<k8s_openapi::jiff::Timestamp>) -> bool {
        match (self.asked_at, created) {
            (Some(asked), Some(created)) => {
                created.duration_since(asked) <= crate::plan::STOP_REACH
            }
            _ => true,
        }
    }
}

/// Why the intake cancels runs; its words are what each run records (`spec.cancel`) and
/// GitHub is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// `/agent stop`, written by this login.
    StoppedBy(String),
    /// The pull request of this number was closed.
    PullRequestClosed(u64),
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelReason::StoppedBy(login) => write!(f, "stopped by @{login}"),
            CancelReason::PullRequestClosed(number) => {
                write!(f, "pull request #{number} was closed")
            }
        }
    }
}

pub type RetryFuture<'a> = Pin<Box<dyn Future<Output = Result<RunAgain, LaunchError>> + Send + 'a>>;

/// What asking for a run again came to.
#[derive(Debug, Clone)]
pub enum RunAgain {
    /// Recorded again under this name (or found recorded: the same delivery again).
    Recorded(String),
    /// There is no such run.
    NoRun,
    /// The run was found, and the one who asked may not run it again under the config in
    /// force (its trigger needs more, or its code is a fork's the policy keeps out).
    Refused(crate::plan::Refusal),
    /// The run was found, and this version cannot do it again as it was: its stored
    /// source does not read (a newer agentpods recorded it, say), or does not record again
    /// in today's form. Nothing is recorded (outside review 12, R10: the new run kept the
    /// old source, with the old run's name and requester).
    Unrepeatable { run: String, source: SourceError },
}

/// `/agent retry` on a pull request or issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRun {
    /// Matched as GitHub tells repositories apart, case aside ([`RepoFullName::key`]).
    pub repository: RepoFullName,
    pub number: u64,
    /// The delivery that asked. Its signed body ([`DeliveryId::run_key`]) names the new
    /// run, so that the same comment sent again under another id retries once.
    pub delivery: DeliveryId,
    /// The login that asked.
    pub requested_by: String,
    /// What the one who asked may run again (see [`crate::plan::Again::judge`]).
    pub may: crate::plan::Again,
}

/// GitHub's "Re-run" on the check run of run `run` (its `external_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunRun {
    /// The run must be about this repository (case aside, [`RepoFullName::key`]).
    pub repository: RepoFullName,
    /// The run's name (a check run's `external_id`, checked).
    pub run: RunName,
    /// The delivery that asked; it names the new run, as for [`RetryRun::delivery`].
    pub delivery: DeliveryId,
    /// The login that asked.
    pub requested_by: String,
    /// What the one who asked may run again (see [`crate::plan::Again::judge`]).
    pub may: crate::plan::Again,
}

/// One line of a `/agent status` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLine {
    pub name: String,
    pub agent: String,
    /// `None`: the controller has not given it a phase yet (shown `New`).
    pub phase: Option<Phase>,
    pub url: Option<String>,
}

impl RunLine {
    /// Its phase in a word: `Running`, `Succeeded`, ..., `New` before it has one.
    pub fn phase_shown(&self) -> std::borrow::Cow<'_, str> {
        match &self.phase {
            Some(phase) => phase.to_string().into(),
            None => "New".into(),
        }
    }
}

pub type RunsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<RunLine>, LaunchError>> + Send + 'a>>;

/// Records runs durably; idempotent by run name.
pub trait Launcher: Send + Sync + 'static {
    /// Records `run`; [`Launched::AlreadyExists`] if a run of that name was recorded before.
    fn launch<'a>(&'a self, run: &'a RunToLaunch) -> LaunchFuture<'a>;

    /// Asks every unfinished run of a pull request or issue to stop; how many were asked.
    fn cancel<'a>(&'a self, runs: &'a CancelRuns) -> CancelFuture<'a>;

    /// The runs of a pull request or issue (`/agent status`), newest first.
    /// `repository`'s runs as GitHub tells repositories apart, case aside.
    fn runs_of<'a>(&'a self, repository: &'a RepoFullName, number: u64) -> RunsFuture<'a>;

    /// Records the newest run of a pull request or issue again, as asked by `retry`
    /// (named after `retry.delivery`'s signed body, so a repeated delivery retries once, under any id); the new run's
    /// name, or `None` when there is no run to retry.
    fn retry<'a>(&'a self, retry: &'a RetryRun) -> RetryFuture<'a>;

    /// Records run `rerun.run` of `rerun.repository` again, as GitHub's "Re-run" asks
    /// (named after `rerun.delivery`'s signed body, so a repeated delivery re-runs once, under any id); the new run's
    /// name, or `None` when there is no such run. Launchers that keep no runs have none.
    fn rerun<'a>(&'a self, _rerun: &'a RerunRun) -> RetryFuture<'a> {
        Box::pin(async { Ok(RunAgain::NoRun) })
    }

    /// Whether runs can be recorded now (`GET /readyz`); the reason if not.
    fn ready(&self) -> Result<(), String>;

    /// A few words for the startup log, e.g. `dry-run, manifests to /tmp/runs`.
    fn describe(&self) -> String;

    /// Whether what it records runs for real. Without a GitHub client to ask who may do
    /// what, only a launcher that runs nothing may take the payload's word for it.
    fn runs_for_real(&self) -> bool {
        true
    }
}

/// Launches nothing: writes each run's objects as multi-document YAML to
/// `<dir>/<run-name>.yaml`, atomically and never over an existing file; with no folder,
/// only logs them.
#[derive(Debug)]
pub struct DryRunLauncher {
    dir: Option<PathBuf>,
}

impl DryRunLauncher {
    /// A launcher writing into `dir` (created if missing), or only logging with `None`.
    pub fn new(dir: Option<PathBuf>) -> Result<Self, LaunchError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|source| LaunchError::Write {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(DryRunLauncher { dir })
    }

    /// Where a run's manifests go.
    pub fn path_of(&self, run_name: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{run_name}.yaml")))
    }
}

/// The file's text: a comment naming the delivery, then every object.
pub fn manifests_yaml(run: &RunToLaunch) -> Result<String, LaunchError> {
    let mut text = format!(
        "# agentpods dry-run: run {} of agent {} in namespace {}, delivery {} ({}, {})\n",
        run.rendered.name,
        run.rendered.agent,
        run.rendered.namespace,
        run.delivery,
        run.event,
        run.launch().trigger.describe(),
    );
    for object in &run.rendered.objects {
        let yaml = serde_yaml::to_string(object).map_err(|e| LaunchError::Yaml {
            kind: object.kind(),
            name: object.name().to_string(),
            source: e,
        })?;
        text.push_str("---\n");
        text.push_str(&yaml);
    }
    Ok(text)
}

use crate::text::is_dns_label;

/// A run's objects in a log line: `ConfigMap/x, Pod/y`.
fn objects_summary(run: &RunToLaunch) -> String {
    run.rendered
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.kind(), o.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Launcher for DryRunLauncher {
    fn launch<'a>(&'a self, run: &'a RunToLaunch) -> LaunchFuture<'a> {
        Box::pin(async move {
            let name = run.name();
            if !is_dns_label(name) {
                return Err(LaunchError::BadName(name.to_string()));
            }
            let text = manifests_yaml(run)?;
            let objects = objects_summary(run);
            let Some(path) = self.path_of(name) else {
                tracing::info!(
                    run = name,
                    agent = %run.rendered.agent,
                    namespace = %run.rendered.namespace,
                    %objects,
                    "dry-run: would launch (not written: give --manifests-dir DIR to keep each run's manifests)"
                );
                tracing::debug!(run = name, manifests = %text, "dry-run: the manifests");
                return Ok(Launched::Created);
            };
            let shown = path.display().to_string();
            let launched = tokio::task::spawn_blocking(move || write_new(&path, text.as_bytes()))
                .await
                .map_err(|_| LaunchError::Interrupted)??;
            match launched {
                Launched::Created => {
                    tracing::info!(run = name, path = %shown, %objects, "dry-run: wrote the manifests");
                }
                _ => {
                    tracing::info!(run = name, path = %shown, "dry-run: the manifests were written before (a redelivery)");
                }
            }
            Ok(launched)
        })
    }

    fn cancel<'a>(&'a self, runs: &'a CancelRuns) -> CancelFuture<'a> {
        Box::pin(async move {
            tracing::info!(repository = %runs.repository, number = runs.number, reason = %runs.reason, "dry-run: would cancel the runs");
            Ok(0)
        })
    }

    fn runs_of<'a>(&'a self, _repository: &'a RepoFullName, _number: u64) -> RunsFuture<'a> {
        // Dry-run records no runs it could list.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn retry<'a>(&'a self, _retry: &'a RetryRun) -> RetryFuture<'a> {
        // Nor any it could retry.
        Box::pin(async { Ok(RunAgain::NoRun) })
    }

    fn ready(&self) -> Result<(), String> {
        match &self.dir {
            Some(dir) if !dir.is_dir() => Err(format!("{}: not a folder", dir.display())),
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        match &self.dir {
            Some(dir) => format!("dry-run, manifests written to {}", dir.display()),
            None => {
                "dry-run, manifests not written (no --manifests-dir): each run's objects are logged"
                    .into()
            }
        }
    }

    fn runs_for_real(&self) -> bool {
        false
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` unless it exists, atomically: into a temporary file beside it,
/// flushed to disk, then hard-linked into place (which fails if the name is taken, unlike a
/// rename) and the temporary name removed. Readers see the whole file or none.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<Launched, LaunchError> {
    let failed = |p: &Path| {
        let path = p.display().to_string();
        move |source| LaunchError::Write { path, source }
    };
    if path.exists() {
        return Ok(Launched::AlreadyExists);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create_new(&temp).map_err(failed(&temp))?;
        file.write_all(bytes).map_err(failed(&temp))?;
        file.sync_all().map_err(failed(&temp))?;
        match std::fs::hard_link(&temp, path) {
            Ok(()) => {
                // Make the new name itself durable.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(Launched::Created)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Launched::AlreadyExists),
            Err(e) => Err(failed(path)(e)),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_once_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.yaml");
        assert_eq!(
            write_new(&path, b"first").expect("write"),
            Launched::Created
        );
        assert_eq!(
            write_new(&path, b"second").expect("write"),
            Launched::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["run.yaml"], "no temporary file is left behind");
    }

    #[test]
    fn concurrent_writers_create_one_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.yaml");
        let created: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || write_new(path, format!("writer {i}").as_bytes()))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("write"))
                .filter(|l| *l == Launched::Created)
                .count()
        });
        assert_eq!(created, 1);
    }

    #[test]
    fn run_names_must_be_dns_labels() {
        assert!(is_dns_label("review-pr1-0a1b2c3d"));
        for bad in ["", "-a", "a-", "A", "a/b", "../x", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
    }
}
