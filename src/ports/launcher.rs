//! The seam between "the planner decided to launch this" and "it is durably recorded".
//!
//! A [`Launcher`] records one run and says whether it created it or found it already
//! there. Runs are named after their delivery's signed body (see `plan::run_name` and
//! `DeliveryId::run_key`), so "already there" is how a repeated delivery is recognised,
//! under its own id or another, even by a replica that never saw the first.
//!
//! Two launchers implement it: the cluster's (`cluster::launch`: an AgentRun created
//! through the Kubernetes API, where HTTP 409 AlreadyExists means
//! [`Launched::AlreadyExists`]) and the dry run's (`serve::dry_run`: each run's manifests
//! written to `<dir>/<run-name>.yaml`, or only logged).

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;

use crate::agentrun::{CancelReason, Phase, RunSource, SourceError};
use crate::github::event::{Login, RepoFullName};
use crate::github::webhook::DeliveryId;
use crate::ids::IssueNumber;
use crate::names::RunName;
use crate::plan::Launch;
use crate::render::RenderedRun;

/// One run to record: what the planner decided, what it was decided from, and what it
/// renders to.
#[derive(Debug, Clone)]
pub struct RunToLaunch {
    pub delivery: DeliveryId,
    /// The event (its `X-GitHub-Event` name too) and the planner's decision (`source.launch`), kept with the run.
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

    /// The repository it is about (none for an event that names none).
    pub fn repository(&self) -> Option<&RepoFullName> {
        self.source.event.repository.as_ref().map(|r| &r.full_name)
    }
}

/// Where a run about to be recorded stands in its repository's queue
/// (`limits.queued_per_repository`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// A run of its name is recorded already (its delivery came again): recording it
    /// takes no new place.
    Recorded,
    /// A place in its repository's queue is held for it until [`Launcher::launch`] records
    /// it (or fails to).
    Placed,
    /// This many runs of its repository are recorded and not launched yet (places held for
    /// runs being recorded included): the limit or more, so it is not to be recorded.
    Full(usize),
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
    #[error("cannot print {kind} {name} as YAML")]
    Yaml {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{path}: cannot write the run's manifests")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot record run {name}")]
    Unrecordable {
        name: String,
        #[source]
        source: SourceError,
    },
    #[error("the launcher stopped before recording the run")]
    Interrupted,
    /// A fork's run done again is judged by its pull request's approvals, which could not
    /// be read.
    #[error("cannot judge the run again")]
    Approvals(#[from] crate::ports::approvals::ApprovalError),
    /// The API server did not record (or find) run `name`.
    #[error("cannot record run {name} in namespace {namespace}")]
    Cluster {
        name: String,
        namespace: String,
        /// What the failure was, as the cluster side read the API server's error.
        fault: ClusterFault,
        #[source]
        source: BoxError,
    },
    /// The runs waiting in `repository` could not be counted: the API server did not list
    /// them in time, or its watch failed (`source`) before it did.
    #[error(
        "cannot count the runs waiting in {repository} (limits.queued_per_repository): the \
         API server did not list the runs in namespace {namespace} (waited at most {within})"
    )]
    Uncounted {
        repository: RepoFullName,
        namespace: String,
        within: String,
        fault: ClusterFault,
        #[source]
        source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The runs of a pull request or issue could not be listed, or changed.
    #[error("cannot read or change the runs of {repository}#{number} in namespace {namespace}")]
    Runs {
        repository: RepoFullName,
        number: IssueNumber,
        namespace: String,
        fault: ClusterFault,
        #[source]
        source: BoxError,
    },
}

/// An error of the API server's client, kept as the source of a [`LaunchError`] (the
/// port names no Kubernetes type: the cluster side reads it into a [`ClusterFault`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a failure of the API server was, as the cluster side read it (review 12w, R34):
/// the intake answers GitHub by it, without knowing Kubernetes' error model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterFault {
    /// No answer at all (it is away, or cannot be reached): nothing was recorded, and the
    /// same request may do once it answers.
    Unanswered,
    /// It answered that it serves no AgentRuns: the CRD is not installed (new-user review
    /// 13h, F15).
    CrdMissing,
    /// It answered otherwise (refused, invalid, ...).
    Answered,
}

impl LaunchError {
    /// Whether the API server gave no answer at all (it is away, or cannot be reached):
    /// nothing was recorded, and the same request may do once it answers.
    pub fn is_unanswered(&self) -> bool {
        match self {
            LaunchError::Cluster { fault, .. } | LaunchError::Uncounted { fault, .. } => {
                *fault == ClusterFault::Unanswered
            }
            _ => false,
        }
    }

    /// Whether the API server answered that it serves no AgentRuns: the CRD is not
    /// installed (new-user review 13h, F15). Nothing was recorded; the same delivery does
    /// once it is.
    pub fn is_crd_missing(&self) -> bool {
        match self {
            LaunchError::Cluster { fault, .. }
            | LaunchError::Uncounted { fault, .. }
            | LaunchError::Runs { fault, .. } => *fault == ClusterFault::CrdMissing,
            _ => false,
        }
    }
}

pub type LaunchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Launched, LaunchError>> + Send + 'a>>;

pub type QueuedFuture<'a> = Pin<Box<dyn Future<Output = Result<Queued, LaunchError>> + Send + 'a>>;

pub type CancelFuture<'a> = Pin<Box<dyn Future<Output = Result<usize, LaunchError>> + Send + 'a>>;

/// The runs of one pull request or issue, to be cancelled (`/agent stop`, a closed PR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRuns {
    /// Its runs are matched as GitHub tells repositories apart, case aside
    /// ([`RepoFullName::key`]).
    pub repository: RepoFullName,
    /// The pull request's or issue's number.
    pub number: IssueNumber,
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
    /// The run was found, and whether it may run again waits on what GitHub says: of an
    /// approver of its fork's head, what they have now (review 15e, E1). The caller asks,
    /// tells [`RetryRun::may`] ([`crate::plan::Again::knowing`]) and asks for it again.
    Waits(crate::plan::Deferral),
    /// The run was found, and its repository has `limits.queued_per_repository` runs
    /// waiting (`waiting` of them): nothing is recorded.
    QueueFull { agent: String, waiting: usize },
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
    pub number: IssueNumber,
    /// The delivery that asked. Its signed body ([`DeliveryId::run_key`]) names the new
    /// run, so that the same comment sent again under another id retries once.
    pub delivery: DeliveryId,
    /// The login that asked.
    pub requested_by: Login,
    /// What the one who asked may run again (see [`crate::plan::Again::judge`]).
    pub may: crate::plan::Again,
    /// `limits.queued_per_repository` in force: nothing is recorded while this many of the
    /// repository's runs wait.
    pub queued_per_repository: std::num::NonZeroU32,
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
    pub requested_by: Login,
    /// What the one who asked may run again (see [`crate::plan::Again::judge`]).
    pub may: crate::plan::Again,
    /// As [`RetryRun::queued_per_repository`].
    pub queued_per_repository: std::num::NonZeroU32,
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

    /// Where `run` would stand in its repository's queue, whose runs (case aside) not
    /// launched yet may be at most `limit`: recorded already; or a place held for it until
    /// [`Launcher::launch`] records it, in the same step as the count, so that deliveries
    /// at once cannot each take the last place; or the queue is full. Counted from the runs
    /// it keeps track of (those it recorded a moment ago included), without a request per
    /// call; a launcher that keeps no runs counts none.
    fn queued<'a>(&'a self, _run: &'a RunToLaunch, _limit: NonZeroU32) -> QueuedFuture<'a> {
        Box::pin(async { Ok(Queued::Placed) })
    }

    /// Asks every unfinished run of a pull request or issue to stop; how many were asked.
    fn cancel<'a>(&'a self, runs: &'a CancelRuns) -> CancelFuture<'a>;

    /// The runs of a pull request or issue (`/agent status`), newest first.
    /// `repository`'s runs as GitHub tells repositories apart, case aside.
    fn runs_of<'a>(&'a self, repository: &'a RepoFullName, number: IssueNumber) -> RunsFuture<'a>;

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
    fn ready(&self) -> Result<(), crate::ports::probe::NotReady>;

    /// A few words for the startup log, e.g. `dry-run, manifests to /tmp/runs`.
    fn describe(&self) -> String;

    /// Whether what it records runs for real. Without a GitHub client to ask who may do
    /// what, only a launcher that runs nothing may take the payload's word for it.
    fn runs_for_real(&self) -> bool {
        true
    }
}
