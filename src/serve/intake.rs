//! One verified delivery, from its JSON to its answer: parse, plan, render, launch.
//!
//! [`decide`] is pure (the config in force and the bytes in, runs and notes out);
//! [`launch`] hands each run to the [`Launcher`] and turns what came of it into the
//! [`Answer`] GitHub gets. The service carries a delivery through them in
//! `crate::serve::pipeline`; the HTTP layer around that is `crate::serve::http`.

use std::sync::Arc;

use serde_json::json;

use crate::agentrun::CancelReason;
use crate::agentrun::RunSource;
use crate::config::AgentName;
use crate::github::event::{self, Event, EventError, Login, WebhookEvent};
use crate::github::webhook::{DeliveryId, WebhookError};
use crate::ids::IssueNumber;
use crate::plan::{
    Authority, ChangedFiles, Control, Decision, Deferral, Facts, GivenApproval, Judged, Planner,
    RunKey,
};
use crate::ports::approvals::{ApprovalToRecord, PullRequestKey};
use crate::ports::launcher::{
    CancelRuns, Launched, Launcher, Queued, RerunRun, RetryRun, RunAgain, RunToLaunch,
};
use crate::ports::reload::LiveConfig;
use crate::render::RenderError;
use crate::serve::facts_and_replies;
use crate::serve::metrics::{LaunchOutcome, Metrics, Outcome};

/// At most this many notes go into an answer's body (all of them are logged).
const MAX_NOTES: usize = 20;
/// Notes longer than this are cut in an answer's body.
const MAX_NOTE_CHARS: usize = 300;

/// Why `/agent retry`, `/agent stop` and `/agent status` find no run in a dry run, with
/// what to do.
pub(super) const DRY_RUN_KEEPS_NO_RUNS: &str = "a dry run keeps no runs, so there is none to act on; this needs a cluster (serve \
     without --dry-run)";

/// The HTTP answer to a delivery, as recorded for repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// A JSON document.
    pub body: Arc<str>,
    pub outcome: Outcome,
    /// Why nothing (or not everything) was launched, `; `-separated, for the log line that
    /// closes the request (empty when there is nothing to say).
    pub notes: Arc<str>,
}

impl Answer {
    fn json(status: u16, outcome: Outcome, value: &serde_json::Value) -> Answer {
        Answer {
            status,
            body: value.to_string().into(),
            outcome,
            notes: "".into(),
        }
    }

    /// The answer to a repeat of a delivery already answered (GitHub's redelivery, or the
    /// same signed body under another id): the same status, and a body that says it is a
    /// repeat, of which delivery, and what that one did (its runs and notes).
    pub fn repeated(&self, delivery: &DeliveryId) -> Answer {
        const NOTE: &str =
            "a repeated delivery (the same signed body): answered as before, nothing launched";
        let body = match serde_json::from_str::<serde_json::Value>(&self.body) {
            Ok(serde_json::Value::Object(mut first)) => {
                let first_delivery = first.remove("delivery");
                first.insert("delivery".into(), delivery.as_str().into());
                if let Some(first_delivery) = first_delivery {
                    first.insert("repeat_of".into(), first_delivery);
                }
                first.insert("outcome".into(), "duplicate".into());
                serde_json::Value::Object(first).to_string().into()
            }
            _ => self.body.clone(),
        };
        Answer {
            status: self.status,
            body,
            outcome: Outcome::duplicate,
            notes: NOTE.into(),
        }
    }

    /// A delivery refused before planning: 401, 400 or 413 with the reason (logged).
    pub fn rejected(err: &WebhookError) -> Answer {
        tracing::warn!(status = err.status(), "refused: {err}");
        let outcome = match err.status() {
            401 => Outcome::unauthorized,
            413 => Outcome::too_large,
            _ => Outcome::bad_request,
        };
        Answer::json(err.status(), outcome, &json!({ "error": err.to_string() }))
    }

    /// Our own failure; the details are in the log, not in the answer.
    pub fn internal(delivery: &DeliveryId) -> Answer {
        Answer::json(
            500,
            Outcome::error,
            &json!({
                "delivery": delivery.as_str(),
                "error": "internal error: the delivery was not fully handled (see the service's log); redeliver it once fixed",
            }),
        )
    }

    /// The Kubernetes API server did not answer, so the run was not recorded: 503, so that
    /// the delivery is redelivered (by catch-up, or by hand) once it does (new-user review
    /// 13g, G1: a 500 "internal error" for a cluster that was away).
    pub fn cluster_unanswered(delivery: &DeliveryId) -> Answer {
        Answer::json(
            503,
            Outcome::error,
            &json!({
                "delivery": delivery.as_str(),
                "error": "the Kubernetes API server did not answer, so nothing was recorded (see the service's log); redeliver it once it answers",
            }),
        )
    }

    /// The API server answered that it serves no AgentRuns: the CRD is not installed, so
    /// nothing was recorded. 503, so that the delivery comes again once it is (new-user
    /// review 13h, F15: the answer said the API server "did not answer").
    pub fn crd_missing(delivery: &DeliveryId) -> Answer {
        Answer::json(
            503,
            Outcome::error,
            &json!({
                "delivery": delivery.as_str(),
                "error": "the AgentRun CRD is not installed in the cluster, so nothing was recorded; install it (`kubectl apply -k deploy/crd`), then redeliver it",
            }),
        )
    }

    /// Nothing was done because GitHub did not answer what the decision needs: 503, so
    /// that the delivery is redelivered (by catch-up, or by hand) and decided then.
    pub fn deferred(delivery: &DeliveryId, why: &Deferral) -> Answer {
        Answer::json(
            503,
            Outcome::deferred,
            &json!({
                "delivery": delivery.as_str(),
                "error": format!("not decided yet: {why}; nothing was started, redeliver it"),
            }),
        )
    }

    /// Decided, but GitHub did not take the reply or the refusal that tells the person
    /// (and nothing else was done): 503, so that it comes again and is told then (each
    /// reply is posted once, however often the delivery comes).
    pub fn untold(delivery: &DeliveryId) -> Answer {
        Answer::json(
            503,
            Outcome::deferred,
            &json!({
                "delivery": delivery.as_str(),
                "error": "decided, but GitHub did not take the reply; nothing was started, redeliver it",
            }),
        )
    }

    /// Too old to act on (see [`crate::plan::stale`]): 200, since a redelivery would be as
    /// old, with the reason; nothing was done and nobody is told.
    pub fn stale(delivery: &DeliveryId, event: &WebhookEvent, why: &crate::plan::Stale) -> Answer {
        let note = why.to_string();
        let answer = Answer::json(
            200,
            Outcome::stale,
            &json!({
                "delivery": delivery.as_str(),
                "event": event.name,
                "action": event.action(),
                "outcome": "stale",
                "runs": [],
                "notes": [note],
            }),
        );
        Answer {
            notes: note.into(),
            ..answer
        }
    }

    /// Whether a repeat of the delivery should get this answer without handling it again.
    pub fn is_final(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What the planner decided for one delivery, with each launch rendered. Whoever carries
/// it out takes it apart whole (`let Decided { .. } = decided` with every field named), so
/// a field added here and read nowhere does not compile (architecture review 12c, R10).
#[derive(Debug)]
pub struct Decided {
    /// What the launcher carries out: [`launch_telling`] takes it whole.
    pub work: Work,
    /// What GitHub hears back at once: eyes, replies.
    pub responses: Vec<facts_and_replies::Response>,
    /// Pull requests or issues whose runs `/agent status` asks for.
    pub statuses: Vec<u64>,
    /// Why nothing can be decided yet: GitHub did not answer. Nothing is done, and the
    /// delivery is answered 503 so that it comes again.
    pub deferred: Option<Deferral>,
    /// Approvals to record (in the service's own store) before anything is launched.
    pub approvals: Vec<ApprovalToRecord>,
}

/// The runs a delivery launches, cancels and does again, and what its answer says.
#[derive(Debug)]
pub struct Work {
    pub event: String,
    pub action: Option<String>,
    pub ping: bool,
    pub runs: Vec<RunToLaunch>,
    /// Runs to cancel (`/agent stop`, a closed pull request).
    pub cancels: Vec<CancelRuns>,
    /// Runs to do again (`/agent retry`).
    pub retries: Vec<RetryRun>,
    /// Runs to do again (GitHub's "Re-run" on their check runs).
    pub reruns: Vec<RerunRun>,
    /// Why things were not started, replies, service commands: one line each, for the log
    /// and the answer.
    pub notes: Vec<String>,
    /// The command prefix in force, for the words of a refusal found when launching.
    pub prefix: String,
    /// Where a retry or a Re-run refused once its run is found is told, and runs refused
    /// because their repository's queue is full.
    pub tell_again: Option<facts_and_replies::TellAgain>,
    /// `limits.queued_per_repository` in force: a run is not recorded while this many of
    /// its repository's wait.
    pub queued_per_repository: std::num::NonZeroU32,
}

impl Work {
    /// Whether it launches, cancels and does again nothing: the delivery only tells.
    pub fn acts(&self) -> bool {
        !(self.runs.is_empty()
            && self.cancels.is_empty()
            && self.retries.is_empty()
            && self.reruns.is_empty())
    }
}

/// A delivery's runs not recorded because their repository had
/// `limits.queued_per_repository` runs waiting already (outside review 15b, B2): told once
/// for the delivery, however many of its runs it kept out.
#[derive(Debug)]
struct QueueFull {
    repository: String,
    /// How many of its runs waited when the first was refused.
    waiting: usize,
    /// How many of those the same delivery had just recorded (a comment of several
    /// commands): said, so the count does not read as other people's runs.
    own: usize,
    limit: u32,
    /// The limit was the share of runs asked for by people below the global
    /// `min_permission` ([`outsiders_share`]).
    outsiders: bool,
    /// The agents of the runs refused, each once, in order.
    agents: Vec<String>,
    /// How many runs were refused.
    runs: usize,
    /// Who asked for them.
    login: Login,
}

impl QueueFull {
    /// A run of `agent` that `login` asked for in `repository`, refused with `waiting` runs
    /// there at `limit`, added to what the delivery tells.
    fn add(
        full: &mut Option<QueueFull>,
        repository: String,
        login: &Login,
        agent: &str,
        (waiting, own, limit, outsiders): (usize, usize, std::num::NonZeroU32, bool),
    ) {
        let full = full.get_or_insert_with(|| QueueFull {
            repository,
            waiting,
            own: own.min(waiting),
            limit: limit.get(),
            outsiders,
            agents: Vec::new(),
            runs: 0,
            login: login.clone(),
        });
        full.runs += 1;
        if !full.agents.iter().any(|a| a == agent) {
            full.agents.push(agent.to_owned());
        }
    }

    /// What whoever asked is told, with what to do.
    fn message(&self) -> String {
        let agents = self
            .agents
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let of = match self.agents.len() {
            1 => format!("agent {agents}"),
            _ => format!("agents {agents}"),
        };
        let what = match self.runs {
            1 => format!("the run of {of}"),
            n => format!("{n} runs of {of}"),
        };
        let waiting = match (self.waiting, self.own) {
            (1, 1) => "1 run, asked for just now, is".to_owned(),
            (1, _) => "1 run is".to_owned(),
            (n, 0) => format!("{n} runs are"),
            (n, own) => format!("{n} runs, {own} of them asked for just now, are"),
        };
        let limit = match self.outsiders {
            false => format!("limit: {} waiting per repository", self.limit),
            true => format!(
                "a run asked for by someone without the permission its maintainers need \
                 waits only while fewer than {} do",
                self.limit
            ),
        };
        format!(
            "Not started: {what}. {waiting} already waiting to start in {repository} \
             ({limit}); ask again once some of them have started.",
            repository = self.repository,
        )
    }
}

/// Why a delivery could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The sender's mistake: the body is not the event it says (400).
    #[error(transparent)]
    Event(#[from] EventError),
    /// Ours: an agent's templates do not render for this event (500).
    #[error("agent {agent}: cannot render")]
    Render {
        agent: AgentName,
        #[source]
        source: RenderError,
    },
}

/// An approval the planner gave, as the service's store records it: on the pull request
/// of `event`'s repository, with the comment that carried it (none without both).
fn to_record(event: &WebhookEvent, approval: GivenApproval) -> Option<ApprovalToRecord> {
    let repository = event.repository.as_ref()?;
    Some(ApprovalToRecord {
        key: PullRequestKey::new(&repository.full_name, IssueNumber(approval.number)),
        sha: approval.approval.sha,
        approved_by: approval.approval.approved_by,
        comment_id: approval.comment_id,
    })
}

/// Parses, plans and renders one delivery with the config in force, knowing nothing
/// beyond the payload: a preview, where the payload's author_association stands in for
/// GitHub's permission API. Pure.
pub fn decide(
    live: &LiveConfig,
    event_name: &str,
    delivery: &DeliveryId,
    payload: &[u8],
) -> Result<Decided, DecideError> {
    decide_without_github(live, event_name, delivery, payload, false, None)
}

/// The same, when the service has no GitHub API to ask who may do what: a preview when
/// nothing `runs_for_real` (the payload's author_association stands in), else nobody's
/// permission is known and only `allowed_users` may start agents. `changed_files` are a
/// pull request's changed files when a dry run was given them (`--changed-files`). Pure.
pub fn decide_without_github(
    live: &LiveConfig,
    event_name: &str,
    delivery: &DeliveryId,
    payload: &[u8],
    runs_for_real: bool,
    changed_files: Option<&[String]>,
) -> Result<Decided, DecideError> {
    let event = event::parse(event_name, payload)?;
    decide_parsed_without_github(
        live,
        event_name,
        delivery,
        &event,
        runs_for_real,
        changed_files,
    )
}

/// [`decide_without_github`] of an event already parsed. Pure.
pub fn decide_parsed_without_github(
    live: &LiveConfig,
    event_name: &str,
    delivery: &DeliveryId,
    event: &WebhookEvent,
    runs_for_real: bool,
    changed_files: Option<&[String]>,
) -> Result<Decided, DecideError> {
    let authority = if runs_for_real {
        Authority::Unavailable
    } else {
        Authority::Preview
    };
    let facts = Facts {
        repository_name: event.repository.as_ref().map(|r| &r.full_name),
        authority,
        changed_files: ChangedFiles::all_or_unknown(changed_files),
        ..Facts::default()
    };
    decide_event(live, event_name, delivery, event, &facts)
}

/// The planner's decisions for a delivery, each `approve` judged ([`Planner::decide`]).
/// Runs are named after its signed body's SHA-256
/// ([`DeliveryId::run_key`]), which costs as much to compute as the signature check, and
/// most deliveries launch nothing: so one whose body is not hashed yet is planned without
/// it first, and again with it only if that launches something. The planner is pure and
/// the key goes into run names only (`Launch::run_name`; the test
/// `server::the_run_key_changes_nothing_but_run_names` holds it to that), so what it
/// decides is the same as if the key had been given at once.
fn plan(
    planner: &Planner,
    event: &WebhookEvent,
    delivery: &DeliveryId,
    facts: &Facts<'_>,
) -> Judged {
    if let Some(key) = RunKey::if_hashed(delivery) {
        return planner.decide(event, Some(key), facts);
    }
    let judged = planner.decide(event, None, facts);
    if judged
        .decisions
        .iter()
        .any(|d| matches!(d, Decision::Launch(_)))
    {
        planner.decide(event, Some(RunKey::of(delivery)), facts)
    } else {
        judged
    }
}

/// Plans and renders a parsed delivery, with what GitHub's API said (`facts`). Pure.
pub fn decide_event(
    live: &LiveConfig,
    event_name: &str,
    delivery: &DeliveryId,
    event: &WebhookEvent,
    facts: &Facts<'_>,
) -> Result<Decided, DecideError> {
    let engine = live.engine();
    let planner = live.planner();
    let prefix = &engine.config().github.command_prefix;
    let Judged {
        decisions,
        approvals,
    } = plan(planner, event, delivery, facts);
    let approvals: Vec<_> = approvals
        .into_iter()
        .filter_map(|a| to_record(event, a))
        .collect();
    let commit = match facts.commit {
        crate::plan::RefCommit::Known(sha) => Some(sha),
        _ => None,
    };
    let responses = facts_and_replies::responses(event, &decisions, prefix, commit);
    let mut runs = Vec::new();
    let mut cancels = Vec::new();
    let mut statuses = Vec::new();
    let mut retries = Vec::new();
    let mut reruns = Vec::new();
    let mut notes = Vec::new();
    let mut deferred = None;
    let repository = event.repository.as_ref().map(|r| &r.full_name);
    let queued_per_repository = engine.config().limits.queued_per_repository;
    for decision in decisions {
        match decision {
            Decision::Launch(launch) => {
                // A run an approval starts records the comment that approved it, and the
                // pull request it approved (`Trigger::Approved`); render shows it to its
                // templates as the push of the head it was planned as.
                notes.extend(launch.unpinned(event));
                let rendered = engine
                    .render_run(event, delivery.as_str(), &launch, facts.pull_request)
                    .map_err(|source| DecideError::Render {
                        agent: launch.agent.clone(),
                        source,
                    })?;
                runs.push(RunToLaunch {
                    delivery: delivery.clone(),
                    source: RunSource {
                        event: event.clone(),
                        launch,
                        pull_request: facts.pull_request.cloned(),
                    },
                    rendered,
                });
            }
            Decision::Skip { agent, reason } => {
                notes.push(format!("agent {agent}: not started: {reason}"));
            }
            Decision::Refuse(refusal) => {
                notes.push(format!("refused: {}", refusal.message(prefix)));
            }
            Decision::Reply(text) => notes.push(format!("reply: {}", text.replace('\n', " "))),
            Decision::Hint { to, text } => notes.push(format!("hint to @{to}: {text}")),
            Decision::Control(control) => {
                // Each command is carried out here, or said why not: a new `Control` is a
                // compile error in this match, never a silent note (outside review 12, R3).
                let Some(repository) = &repository else {
                    notes.push(format!(
                        "service command not carried out: the delivery names no repository: {control}"
                    ));
                    continue;
                };
                match &control {
                    Control::Stop {
                        number,
                        requested_by,
                        asked_at,
                    } => cancels.push(CancelRuns {
                        repository: (*repository).clone(),
                        number: IssueNumber(*number),
                        reason: CancelReason::StoppedBy(requested_by.clone()),
                        asked_at: *asked_at,
                    }),
                    Control::Status { number } => statuses.push(*number),
                    Control::Retry {
                        number,
                        requested_by,
                        may,
                    } => retries.push(RetryRun {
                        repository: (*repository).clone(),
                        number: IssueNumber(*number),
                        delivery: delivery.clone(),
                        requested_by: requested_by.clone(),
                        may: may.clone(),
                        queued_per_repository,
                    }),
                    Control::Rerun {
                        run,
                        requested_by,
                        may,
                    } => reruns.push(RerunRun {
                        repository: (*repository).clone(),
                        run: run.clone(),
                        delivery: delivery.clone(),
                        requested_by: requested_by.clone(),
                        may: may.clone(),
                        queued_per_repository,
                    }),
                    Control::CancelPullRequest { number, asked_at } => cancels.push(CancelRuns {
                        repository: (*repository).clone(),
                        number: IssueNumber(*number),
                        reason: CancelReason::PullRequestClosed(IssueNumber(*number)),
                        asked_at: *asked_at,
                    }),
                    // `Planner::decide` judges each in its place: none is left to carry out
                    // here, and one that were would be said, not dropped.
                    Control::Approve { .. } => notes.push(format!(
                        "service command not carried out: {control}: the planner did not judge it; report this as a bug"
                    )),
                }
            }
            Decision::Ignore(reason) => notes.push(format!("nothing to do: {reason}")),
            Decision::Defer(why) => deferred = Some(why),
        }
    }
    Ok(Decided {
        work: Work {
            event: event_name.to_string(),
            action: event.action().map(String::from),
            ping: matches!(event.event, Event::Ping(_)),
            runs,
            cancels,
            retries,
            reruns,
            notes,
            prefix: prefix.to_string(),
            tell_again: facts_and_replies::TellAgain::of(event, commit),
            queued_per_repository,
        },
        responses,
        statuses,
        deferred,
        approvals,
    })
}

/// Records every run of a decided delivery and answers: 202 if anything was launched (or
/// found already launched), 200 if there was nothing to launch, 500 if a run could not be
/// recorded. Tells GitHub nothing and records no approval: the delivery's replies, its
/// `/agent status` answers and its approvals are the HTTP service's to carry out
/// (`serve::pipeline`), and a caller of this has none to carry out.
pub async fn launch(
    launcher: &dyn Launcher,
    metrics: &Metrics,
    delivery: &DeliveryId,
    decided: Decided,
) -> Answer {
    let Decided {
        work,
        responses: _,
        statuses: _,
        deferred,
        approvals: _,
    } = decided;
    if let Some(why) = deferred {
        return deferred_answer(delivery, &why);
    }
    launch_telling(launcher, None, metrics, delivery, work)
        .await
        .answer
}

/// How many of a repository's waiting runs may be runs asked for by people below
/// `github.authorization.min_permission` (let in by a trigger's lower `min_permission`):
/// half its `limits.queued_per_repository`, at least one, so strangers opening pull
/// requests or commenting cannot fill the queue and keep the maintainers' runs out
/// (review 15c, F5). Each of their runs is recorded only while fewer than this wait.
pub fn outsiders_share(queued_per_repository: std::num::NonZeroU32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(queued_per_repository.get() / 2).unwrap_or(std::num::NonZeroU32::MIN)
}

/// The answer to a delivery that cannot be decided yet: nothing is done, and it comes again.
pub fn deferred_answer(delivery: &DeliveryId, why: &Deferral) -> Answer {
    tracing::warn!(delivery = delivery.as_str(), "not decided yet: {why}");
    Answer::deferred(delivery, why)
}

/// Whether `answer`, the launcher's to a retry or Re-run, waits on what an approver of the
/// fork's head has now, not asked yet: then GitHub is asked and `may` told
/// ([`crate::plan::Again::knowing`]), and the caller asks the launcher again (review 15e,
/// E1). Each approver is asked once, so this ends; one GitHub did not answer leaves the
/// launcher's answer a [`RunAgain::Waits`], and the delivery comes again.
async fn asked_approver(
    github: Option<&crate::github_client::GithubClient>,
    repository: &event::RepoFullName,
    may: &mut crate::plan::Again,
    answer: &Result<RunAgain, crate::ports::launcher::LaunchError>,
) -> bool {
    let Ok(RunAgain::Waits(Deferral::ApproverPermissionUnanswered { login })) = answer else {
        return false;
    };
    if may.asked_of(login) {
        return false;
    }
    let approver = match github {
        Some(github) => facts_and_replies::approver_now(github, repository, login.clone()).await,
        None => crate::plan::ApproverAuthority {
            login: login.clone(),
            authority: Authority::Unavailable,
        },
    };
    may.knowing(approver);
    true
}

/// What came of a delivery's [`Work`] ([`launch_telling`]). Whoever reads it takes it
/// apart whole, every field named, so a field added here and read nowhere does not compile.
#[derive(Debug)]
pub struct Carried {
    /// The delivery's HTTP answer.
    pub answer: Answer,
    /// What GitHub is to be told beyond the delivery's own responses: each retry or Re-run
    /// refused once its run was found, and the runs a full queue kept out, told to whoever
    /// asked (see [`facts_and_replies::TellAgain`]).
    pub tell: Vec<facts_and_replies::Response>,
    /// Everything the work asked for (its runs, retries, Re-runs and cancels) was kept out
    /// because its repository's queue was full (`limits.queued_per_repository`): nothing
    /// was started, so the comment that asked is promised nothing (no 👀, issue 15).
    pub all_kept_out: bool,
}

/// [`launch`] of a delivery's work, and what GitHub is to be told of it beyond the
/// delivery's own responses (see [`Carried`]). `github` answers what an approver of a fork's
/// head has now, for a retry or Re-run of its run (none: they are taken to have nothing).
pub async fn launch_telling(
    launcher: &dyn Launcher,
    github: Option<&crate::github_client::GithubClient>,
    metrics: &Metrics,
    delivery: &DeliveryId,
    work: Work,
) -> Carried {
    let Work {
        event,
        action,
        ping,
        runs: to_launch,
        cancels,
        retries,
        reruns,
        mut notes,
        prefix,
        tell_again,
        queued_per_repository,
    } = work;
    let asked = to_launch.len() + retries.len() + reruns.len() + cancels.len();
    let mut tell = Vec::new();
    let mut runs = Vec::with_capacity(to_launch.len());
    let mut failed = false;
    // Whether each failure was the API server not answering, or answering that it serves
    // no AgentRuns (nothing recorded, nothing wrong with the delivery): a 503 asking for it
    // again, not our own 500; and whether it was the CRD, to say so.
    let mut redeliverable = true;
    let mut crd_missing = false;
    let mut failure = |e: &crate::ports::launcher::LaunchError| {
        failed = true;
        let missing = e.is_crd_missing();
        crd_missing |= missing;
        redeliverable &= missing || e.is_unanswered();
        crate::text::with_causes(e)
    };
    let mut queue_full: Option<QueueFull> = None;
    // Places this delivery's own runs took, so far.
    let mut placed = 0;
    for run in &to_launch {
        let name = run.name();
        let limit = if run.launch().by_outsider {
            outsiders_share(queued_per_repository)
        } else {
            queued_per_repository
        };
        match launcher.queued(run, limit).await {
            Ok(Queued::Full(waiting)) => {
                metrics.run(LaunchOutcome::queue_full);
                let repository = run.repository().map(ToString::to_string);
                tracing::warn!(
                    run = name,
                    agent = %run.rendered.agent,
                    repository,
                    waiting,
                    by_outsider = run.launch().by_outsider,
                    "not recorded: its repository's queue is full (limits.queued_per_repository: {queued_per_repository}; {limit} for runs asked for below github.authorization.min_permission)"
                );
                QueueFull::add(
                    &mut queue_full,
                    repository.unwrap_or_default(),
                    &run.launch().requested_by,
                    run.rendered.agent.as_str(),
                    (waiting, placed, limit, run.launch().by_outsider),
                );
                continue;
            }
            Ok(Queued::Placed) => placed += 1,
            Ok(Queued::Recorded) => {}
            Err(e) => {
                metrics.run(LaunchOutcome::failed);
                let why = failure(&e);
                tracing::error!(run = name, agent = %run.rendered.agent, "cannot launch: {why}");
                continue;
            }
        }
        match launcher.launch(run).await {
            Ok(launched) => {
                metrics.run(match launched {
                    Launched::Created => LaunchOutcome::created,
                    Launched::AlreadyExists => LaunchOutcome::already_exists,
                });
                tracing::info!(
                    run = name,
                    agent = %run.rendered.agent,
                    namespace = %run.rendered.namespace,
                    trigger = %run.launch().trigger.describe(),
                    created = launched == Launched::Created,
                    "launched"
                );
                runs.push(json!({
                    "name": name,
                    "agent": run.rendered.agent,
                    "namespace": run.rendered.namespace,
                }));
            }
            Err(e) => {
                metrics.run(LaunchOutcome::failed);
                let why = failure(&e);
                tracing::error!(run = name, agent = %run.rendered.agent, "cannot launch: {why}");
            }
        }
    }
    // What a retry or Re-run waits on, when GitHub did not say: the delivery comes again.
    let mut waits: Option<Deferral> = None;
    for retry in &retries {
        let mut retry = retry.clone();
        let answer = loop {
            let answer = launcher.retry(&retry).await;
            if !asked_approver(github, &retry.repository, &mut retry.may, &answer).await {
                break answer;
            }
        };
        match answer {
            Ok(RunAgain::Recorded(name)) => {
                tracing::info!(run = %name, number = retry.number.get(), "retried");
                runs.push(json!({ "name": name, "retry_of": retry.number }));
            }
            // A dry run keeps no runs: it says so, not as if none had been launched
            // (new-user review 13h, F16).
            Ok(RunAgain::NoRun) if !launcher.runs_for_real() => notes.push(format!(
                "#{}: no run to retry: {DRY_RUN_KEEPS_NO_RUNS}",
                retry.number
            )),
            Ok(RunAgain::NoRun) => notes.push(format!("#{}: no run to retry", retry.number)),
            Ok(RunAgain::QueueFull { agent, waiting }) => {
                metrics.run(LaunchOutcome::queue_full);
                tracing::warn!(
                    number = retry.number.get(),
                    waiting,
                    "retry not recorded: its repository's queue is full (limits.queued_per_repository: {queued_per_repository})"
                );
                QueueFull::add(
                    &mut queue_full,
                    retry.repository.to_string(),
                    &retry.requested_by,
                    &agent,
                    (waiting, 0, queued_per_repository, false),
                );
            }
            Ok(RunAgain::Refused(refusal)) => {
                let why = refusal.message(&prefix);
                tracing::info!(number = retry.number.get(), "retry refused: {why}");
                notes.push(format!("#{}: retry refused: {why}", retry.number));
                if let Some(at) = &tell_again {
                    tell.push(at.response(&refusal, &prefix));
                }
            }
            Ok(RunAgain::Waits(why)) => {
                notes.push(format!("#{}: retry not decided yet: {why}", retry.number));
                waits.get_or_insert(why);
            }
            Ok(RunAgain::Unrepeatable { run, source }) => {
                tracing::warn!(number = retry.number.get(), %run, "retry refused: {}", crate::text::with_causes(&source));
                notes.push(format!(
                    "#{}: retry refused: run {run} cannot be done again by this version: {source}",
                    retry.number
                ));
            }
            Err(e) => {
                let why = failure(&e);
                tracing::error!(number = retry.number.get(), "cannot retry: {why}");
            }
        }
    }
    for rerun in &reruns {
        let mut rerun = rerun.clone();
        let answer = loop {
            let answer = launcher.rerun(&rerun).await;
            if !asked_approver(github, &rerun.repository, &mut rerun.may, &answer).await {
                break answer;
            }
        };
        match answer {
            Ok(RunAgain::Recorded(name)) => {
                tracing::info!(run = %name, rerun_of = %rerun.run, "re-run");
                runs.push(json!({ "name": name, "rerun_of": rerun.run.as_str() }));
            }
            Ok(RunAgain::NoRun) => notes.push(format!("{}: no such run to re-run", rerun.run)),
            Ok(RunAgain::QueueFull { agent, waiting }) => {
                metrics.run(LaunchOutcome::queue_full);
                tracing::warn!(rerun_of = %rerun.run, waiting, "re-run not recorded: its repository's queue is full (limits.queued_per_repository: {queued_per_repository})");
                QueueFull::add(
                    &mut queue_full,
                    rerun.repository.to_string(),
                    &rerun.requested_by,
                    &agent,
                    (waiting, 0, queued_per_repository, false),
                );
            }
            Ok(RunAgain::Refused(refusal)) => {
                let why = refusal.message(&prefix);
                tracing::info!(rerun_of = %rerun.run, "re-run refused: {why}");
                notes.push(format!("{}: re-run refused: {why}", rerun.run));
                if let Some(at) = &tell_again {
                    tell.push(at.response(&refusal, &prefix));
                }
            }
            Ok(RunAgain::Waits(why)) => {
                notes.push(format!("{}: re-run not decided yet: {why}", rerun.run));
                waits.get_or_insert(why);
            }
            Ok(RunAgain::Unrepeatable { run, source }) => {
                tracing::warn!(rerun_of = %run, "re-run refused: {}", crate::text::with_causes(&source));
                notes.push(format!(
                    "{run}: re-run refused: it cannot be done again by this version: {source}"
                ));
            }
            Err(e) => {
                let why = failure(&e);
                tracing::error!(run = %rerun.run, "cannot re-run: {why}");
            }
        }
    }
    let all_kept_out = queue_full.as_ref().is_some_and(|full| full.runs == asked);
    if let Some(full) = &queue_full {
        notes.push(format!("refused: {}", full.message()));
        if let Some(at) = &tell_again {
            tell.push(at.tell(&full.login, full.message()));
        }
    }
    for cancel in &cancels {
        match launcher.cancel(cancel).await {
            Ok(n) => {
                tracing::info!(repository = %cancel.repository, number = cancel.number.get(), cancelled = n, "{}", cancel.reason);
                // Never "stopped" for nothing stopped (new-user review 13h, F16).
                notes.push(match n {
                    0 if !launcher.runs_for_real() => format!(
                        "#{}: no run to stop ({}): {DRY_RUN_KEEPS_NO_RUNS}",
                        cancel.number,
                        cancel.reason.asked()
                    ),
                    0 => format!(
                        "#{}: no unfinished run to stop ({})",
                        cancel.number,
                        cancel.reason.asked()
                    ),
                    n => format!(
                        "{}: {n} run(s) of #{} asked to stop",
                        cancel.reason, cancel.number
                    ),
                });
            }
            Err(e) => {
                let why = failure(&e);
                tracing::error!(repository = %cancel.repository, number = cancel.number.get(), "cannot cancel: {why}");
            }
        }
    }
    if let Some(why) = waits.filter(|_| !failed) {
        return Carried {
            answer: deferred_answer(delivery, &why),
            tell,
            all_kept_out,
        };
    }
    if failed && redeliverable && crd_missing {
        return Carried {
            answer: Answer::crd_missing(delivery),
            tell,
            all_kept_out,
        };
    }
    if failed && redeliverable {
        return Carried {
            answer: Answer::cluster_unanswered(delivery),
            tell,
            all_kept_out,
        };
    }
    if failed {
        return Carried {
            answer: Answer::internal(delivery),
            tell,
            all_kept_out,
        };
    }
    let (status, outcome) = if !runs.is_empty() {
        (202, Outcome::launched)
    } else if ping {
        (200, Outcome::ping)
    } else {
        (200, Outcome::ignored)
    };
    let shown: Vec<String> = notes
        .iter()
        .take(MAX_NOTES)
        .map(|n| crate::text::clip(n, MAX_NOTE_CHARS))
        .collect();
    let answer = Answer::json(
        status,
        outcome,
        &json!({
            "delivery": delivery.as_str(),
            "event": event,
            "action": action,
            "outcome": format!("{outcome:?}"),
            "runs": runs,
            "notes": shown,
        }),
    );
    let answer = Answer {
        notes: notes.join("; ").into(),
        ..answer
    };
    Carried {
        answer,
        tell,
        all_kept_out,
    }
}
