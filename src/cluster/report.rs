//! The controller's side of reporting: which stage of a run GitHub should see, and the
//! seam through which it is told. `crate::report` turns a stage into writes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use crate::agentrun::{AgentRun, AgentRunStatus, Phase, ReportRefs, StoredRun};
use crate::config::{AgentName, Say};
use crate::github::event::RepoFullName;
use crate::github_client::{GithubClient, GithubError, RepositoryRead, Secret, TokenPermissions};
use crate::ids::{CheckRunId, CommentId, IssueNumber};
use crate::ports::reload::ConfigSource;
use crate::report::{Posted, ReportError, Reporter, RunInfo, Stage};

pub type ReportFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ReportError>> + Send + 'a>>;

/// Tells GitHub about a run (`stored`: its spec, read); `refs` says what was created before
/// and is updated. `fresh`: nothing was posted for the run that `refs` does not name, so
/// nothing is looked for before it is created.
pub trait RunReports: Send + Sync + 'static {
    fn report<'a>(
        &'a self,
        run: &'a AgentRun,
        stored: &'a StoredRun,
        stage: &'a Stage,
        refs: &'a mut ReportRefs,
        fresh: bool,
    ) -> ReportFuture<'a>;

    /// What `repository`'s own file (services.yaml's `repository_config`), on `branch`,
    /// says of `agent` now: read when a run that waited gets its turn, so that an agent
    /// the maintainers turned off since does not start (review 15d, D9). Nothing is known
    /// by default.
    fn own_file_says<'a>(
        &'a self,
        repository: &'a RepoFullName,
        branch: &'a str,
        agent: &'a AgentName,
    ) -> OwnFileFuture<'a> {
        let _ = (repository, branch, agent);
        Box::pin(async { OwnFileSays::Unknown })
    }
}

pub type OwnFileFuture<'a> = Pin<Box<dyn Future<Output = OwnFileSays> + Send + 'a>>;

/// What a repository's own file says of an agent (see [`RunReports::own_file_says`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnFileSays {
    /// It runs as services.yaml says: the file names it for events, the repository has no
    /// file, or services.yaml reads none (`repository_config` unset).
    Runs,
    /// Only its comment verbs start it there.
    CommandsOnly,
    /// The file does not name it.
    Off,
    /// The file does not read (its first problem).
    Broken(String),
    /// GitHub did not say.
    Unknown,
}

/// The three stages GitHub sees, in the order a run goes through them; several phases
/// share one. A stage is told once: a run whose `ReportRefs.reported` phase is of this
/// stage or a later one is not told again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StageKind {
    Queued,
    Started,
    Finished,
}

/// The stage GitHub sees of a phase; none of a phase a newer agentpods wrote (its
/// controller tells GitHub about it). Exhaustive, with no catch-all: a new `Phase` is a
/// compile error here until it is given its stage.
fn stage_kind(phase: &Phase) -> Option<StageKind> {
    Some(match phase {
        Phase::Pending | Phase::Queued => StageKind::Queued,
        Phase::Running => StageKind::Started,
        Phase::Succeeded | Phase::Failed | Phase::Cancelled | Phase::TimedOut => {
            StageKind::Finished
        }
        Phase::Unknown(_) => return None,
    })
}

fn system_time(t: k8s_openapi::jiff::Timestamp) -> SystemTime {
    SystemTime::from(t)
}

/// What GitHub should be told about `run` now, if it has not been told already. `now`
/// (the injected clock's) stands in for a start or finish time the status lacks. Nothing
/// for a run whose phase, or the phase last told, a newer agentpods wrote.
pub fn pending_report(run: &AgentRun, now: SystemTime) -> Option<Stage> {
    let status = run.status.as_ref()?;
    let phase = status.phase.clone()?;
    let kind = stage_kind(&phase)?;
    if let Some(reported) = status.report.as_ref().and_then(|r| r.reported.as_ref())
        && stage_kind(reported).is_none_or(|told| told >= kind)
    {
        return None;
    }
    let started = status.start_time.as_ref().map(|t| system_time(t.0));
    Some(match phase {
        // Held by a limit: where it stands, said once (a place further up is not told).
        Phase::Queued
            if status
                .conditions
                .iter()
                .any(|c| c.type_ == super::queue::QUEUED) =>
        {
            Stage::Waiting {
                why: super::queue::place(status.message.as_deref().unwrap_or_default()).into(),
            }
        }
        Phase::Pending | Phase::Queued => Stage::Queued,
        Phase::Running => Stage::Started {
            at: started.unwrap_or(now),
        },
        Phase::Succeeded | Phase::Failed | Phase::Cancelled | Phase::TimedOut => {
            let result = status.result.clone().unwrap_or(crate::agentrun::RunResult {
                conclusion: crate::agentrun::Conclusion::Failure,
                summary: String::new(),
            });
            Stage::Finished {
                started_at: started,
                at: status
                    .finish_time
                    .as_ref()
                    .map(|t| system_time(t.0))
                    .unwrap_or(now),
                conclusion: result.conclusion,
                // Whoever may patch the AgentRun writes a cancel's reason: never the bot's
                // own words on GitHub (review 11e, A5).
                summary: if phase == Phase::Cancelled {
                    format!("Cancelled: {}", crate::report::quoted(&result.summary))
                } else {
                    result.summary
                },
            }
        }
        Phase::Unknown(_) => return None,
    })
}

/// Whether `status` is of a run that never had a pod: none recorded, no attempt. Such a
/// run never reported `Running`, which its pod being seen must first be recorded for, so
/// it has no comment: a run's comment is posted when it starts running or finishes.
fn never_launched(status: &AgentRunStatus) -> bool {
    status.pod_name.is_none() && status.job_name.is_none() && status.attempts == 0
}

/// Whether `run`'s report gets a comment: not when it was cancelled (stopped, its pull
/// request closed, superseded) before it ever had a pod. Its check run is completed, with
/// the reason; the `/agent stop` got its 👀; and one stop of 50 waiting runs does not post
/// 50 comments on the thread (nor list it 50 times) (review 15c, F1).
fn comments(run: &AgentRun, refs: &ReportRefs) -> bool {
    let Some(status) = run.status.as_ref() else {
        return true;
    };
    refs.comment_id.is_some() || status.phase != Some(Phase::Cancelled) || !never_launched(status)
}

/// Whether everything GitHub was told of `run`, as a list of the runs shows it, is named
/// in its status: a run still waiting that never had a pod, whose queued stage was told
/// (GitHub is told first and the ids go into the same status write as the phase). Its
/// next report (it starts, or it is cancelled) can create without looking first, as for a
/// run born while the controller watched: a run that never started cannot have a comment,
/// so a restart or a Lease hand-over does not list the thread once per waiting run
/// (review 15c, F8).
pub fn nothing_posted_unrecorded(run: &AgentRun) -> bool {
    let Some(status) = run.status.as_ref() else {
        return false;
    };
    let told = status.report.as_ref().and_then(|r| r.reported.as_ref());
    matches!(status.phase, Some(Phase::Queued | Phase::Pending))
        && never_launched(status)
        && told.and_then(stage_kind) == Some(StageKind::Queued)
}

/// Reports through the GitHub API, as services.yaml's `github.report` asks.
pub struct GithubReports {
    client: Arc<GithubClient>,
    config: ConfigSource,
}

impl GithubReports {
    pub fn new(client: Arc<GithubClient>, config: ConfigSource) -> GithubReports {
        GithubReports { client, config }
    }
}

impl RunReports for GithubReports {
    fn report<'a>(
        &'a self,
        run: &'a AgentRun,
        stored: &'a StoredRun,
        stage: &'a Stage,
        refs: &'a mut ReportRefs,
        fresh: bool,
    ) -> ReportFuture<'a> {
        Box::pin(async move {
            let live = self.config.config_for(&stored.repository);
            let config = live.engine().config();
            let report = &config.github.report;
            let info = RunInfo {
                repo: stored.repository.clone(),
                name: run.metadata.name.clone().unwrap_or_default(),
                agent: stored.agent.to_string(),
                number: stored
                    .number()
                    .map(IssueNumber)
                    .filter(|_| report.comment && comments(run, refs)),
                head_sha: stored
                    .commit()
                    .filter(|_| report.check_run || report.commit_status)
                    .cloned(),
                check_run: report.check_run,
                commit_status: report.commit_status,
                requested_by: Some(stored.requested_by.to_string()),
                details_url: None,
                prefix: config.github.command_prefix.to_string(),
            };
            let reporter = Reporter {
                client: &self.client,
                template: live.engine(),
            };
            let mut posted = Posted {
                check_run_id: refs.check_run_id.map(CheckRunId),
                comment_id: refs.comment_id.map(CommentId),
                status_context: refs.status_context.clone(),
                fresh,
            };
            // What was created is kept even when a later write fails.
            let result = reporter.report(&info, stage, &mut posted).await;
            // Stored as the bare numbers they always were.
            refs.check_run_id = posted.check_run_id.map(CheckRunId::get);
            refs.comment_id = posted.comment_id.map(CommentId::get);
            refs.status_context = posted.status_context;
            result
        })
    }

    fn own_file_says<'a>(
        &'a self,
        repository: &'a RepoFullName,
        branch: &'a str,
        agent: &'a AgentName,
    ) -> OwnFileFuture<'a> {
        Box::pin(self.read_own_file(repository, branch, agent))
    }
}

impl GithubReports {
    async fn read_own_file(
        &self,
        repository: &RepoFullName,
        branch: &str,
        agent: &AgentName,
    ) -> OwnFileSays {
        let live = self.config.config_for(repository);
        let Some(path) = live
            .engine()
            .config()
            .repository_config
            .as_ref()
            .map(|c| c.path.clone())
        else {
            return OwnFileSays::Runs;
        };
        match self.client.own_file(repository, &path, branch).await {
            RepositoryRead::Read(file) => match file.say(agent) {
                Say::Runs => OwnFileSays::Runs,
                Say::CommandsOnly => OwnFileSays::CommandsOnly,
                Say::Off => OwnFileSays::Off,
            },
            // Read as the intake reads it: no file is services.yaml alone, one that does
            // not read (or that the App may not read) keeps its agents off.
            RepositoryRead::Absent => OwnFileSays::Runs,
            RepositoryRead::Broken(problem) => OwnFileSays::Broken(problem),
            RepositoryRead::Unanswered | RepositoryRead::NotAsked => OwnFileSays::Unknown,
        }
    }
}

pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret, TokenError>> + Send + 'a>>;

pub type RevokeFuture<'a> = Pin<Box<dyn Future<Output = Result<(), TokenError>> + Send + 'a>>;

/// Why a run's token was not minted or revoked. Never names the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Github(#[from] GithubError),
}

impl TokenError {
    /// GitHub refused to mint for this run's repository and permissions (404, 403, 422:
    /// the installation no longer has the repository, or does not grant what the agent
    /// asks for): asked again, it answers the same. Not the App's own credentials (401), a
    /// rate limit, or a failure at GitHub or on the way there: those pass.
    pub fn is_final(&self) -> bool {
        let TokenError::Github(e) = self;
        match e {
            GithubError::NotFound { .. } | GithubError::Forbidden { .. } => true,
            GithubError::Rejected { status, .. } => {
                (400..500).contains(status) && !matches!(status, 408 | 429)
            }
            _ => false,
        }
    }

    /// GitHub's rate limit holds the mint back until this time (the App's own budget,
    /// which mints every run's token).
    pub fn rate_limited_until(&self) -> Option<SystemTime> {
        let TokenError::Github(e) = self;
        match e {
            GithubError::RateLimited { retry_at } => Some(*retry_at),
            _ => None,
        }
    }
}

/// Mints the short-lived token a run's agent gets: for its one repository, with the
/// permissions its agent declares. The App's key stays in the service.
pub trait TokenMinter: Send + Sync + 'static {
    fn mint<'a>(
        &'a self,
        repository: &'a RepoFullName,
        permissions: &'a TokenPermissions,
    ) -> TokenFuture<'a>;

    /// Revokes a token `mint` gave, once its run has no more use for it. Errors never
    /// name the token.
    fn revoke<'a>(&'a self, token: &'a Secret) -> RevokeFuture<'a>;
}

/// Installation tokens scoped to one repository, from a GitHub App.
pub struct AppTokens(pub Arc<GithubClient>);

impl TokenMinter for AppTokens {
    fn mint<'a>(
        &'a self,
        repository: &'a RepoFullName,
        permissions: &'a TokenPermissions,
    ) -> TokenFuture<'a> {
        Box::pin(async move { Ok(self.0.scoped_token(repository, permissions).await?.token) })
    }

    fn revoke<'a>(&'a self, token: &'a Secret) -> RevokeFuture<'a> {
        Box::pin(async move { Ok(self.0.revoke_token(token).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agentrun::AgentRunStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn queued(by_limit: bool) -> AgentRun {
        let spec = crate::cluster::decide::tests::spec(None, false);
        let mut run = AgentRun::new("r", spec);
        run.status = Some(AgentRunStatus {
            phase: Some(Phase::Queued),
            message: Some("queued: 3 ahead (limit: 3 running in my-org/api)".into()),
            conditions: by_limit
                .then(|| Condition {
                    type_: super::super::queue::QUEUED.into(),
                    status: "True".into(),
                    reason: super::super::queue::REPOSITORY_LIMIT.into(),
                    message: "limit: 3 running in my-org/api".into(),
                    last_transition_time: Time("2026-12-03T10:00:00Z".parse().expect("a time")),
                    observed_generation: None,
                })
                .into_iter()
                .collect(),
            ..AgentRunStatus::default()
        });
        run
    }

    #[test]
    fn a_mint_github_refuses_for_the_repository_is_final_and_a_failure_on_the_way_is_not() {
        let what = || "POST /app/installations/1/access_tokens".to_owned();
        let rejected = |status| GithubError::Rejected {
            status,
            what: what(),
            message: String::new(),
        };
        let finals = [
            rejected(422),
            GithubError::NotFound { what: what() },
            GithubError::Forbidden {
                what: what(),
                message: String::new(),
            },
        ];
        for e in finals {
            assert!(TokenError::Github(e).is_final());
        }
        let passing = [
            rejected(429),
            rejected(408),
            GithubError::Server {
                status: 502,
                what: what(),
            },
            GithubError::Unauthorized { what: what() },
            GithubError::RateLimited {
                retry_at: SystemTime::UNIX_EPOCH,
            },
        ];
        for e in passing {
            let e = TokenError::Github(e);
            assert!(!e.is_final(), "{e}");
        }
    }

    #[test]
    fn a_run_a_limit_holds_is_reported_queued_with_its_place_once() {
        let mut run = queued(true);
        assert_eq!(
            pending_report(&run, SystemTime::UNIX_EPOCH),
            Some(Stage::Waiting {
                why: "3 ahead (limit: 3 running in my-org/api)".into()
            })
        );
        // Told: neither a place further up nor its launch is told again before it runs.
        if let Some(status) = run.status.as_mut() {
            status.report = Some(ReportRefs {
                reported: Some(Phase::Queued),
                ..ReportRefs::default()
            });
        }
        assert_eq!(pending_report(&run, SystemTime::UNIX_EPOCH), None);
        if let Some(status) = run.status.as_mut() {
            status.phase = Some(Phase::Pending);
        }
        assert_eq!(pending_report(&run, SystemTime::UNIX_EPOCH), None);
        // A run its concurrency group holds is queued as before.
        assert_eq!(
            pending_report(&queued(false), SystemTime::UNIX_EPOCH),
            Some(Stage::Queued)
        );
    }

    #[test]
    fn only_a_run_that_never_had_a_pod_is_taken_as_having_no_comment() {
        let mut run = queued(true);
        // Its queued stage not told yet: a check run may exist that the status does not name.
        assert!(!nothing_posted_unrecorded(&run));
        if let Some(status) = run.status.as_mut() {
            status.report = Some(ReportRefs {
                reported: Some(Phase::Queued),
                check_run_id: Some(7),
                ..ReportRefs::default()
            });
        }
        assert!(nothing_posted_unrecorded(&run));
        let refs = ReportRefs::default();
        // Cancelled while waiting: no comment of its own.
        let mut cancelled = run.clone();
        if let Some(status) = cancelled.status.as_mut() {
            status.phase = Some(Phase::Cancelled);
        }
        assert!(!comments(&cancelled, &refs));
        // Launched once (a replica may have died between its comment and the status write):
        // a comment may exist, so it is looked for, and a cancel edits or posts it.
        for launched in [run, cancelled] {
            let mut launched = launched;
            if let Some(status) = launched.status.as_mut() {
                status.attempts = 1;
                status.pod_name = Some("r".into());
            }
            assert!(!nothing_posted_unrecorded(&launched));
            assert!(comments(&launched, &refs));
        }
    }
}
