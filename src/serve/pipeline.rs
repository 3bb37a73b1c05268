//! The whole of one signed delivery, with the service's state: the pipeline
//! [`super::http`] hands a delivery to once its signature and id are checked, and turns
//! the [`Answer`] it gives into an HTTP response.
//!
//! Parse the body into an event; drop it if it is stale (the replay window); record a
//! pull request's head as seen; ask GitHub the facts the planner needs
//! ([`super::facts_and_replies::gather`]); decide ([`intake::decide_event`], pure); record
//! the approvals it gave; launch, cancel and do again ([`intake::launch_telling`], through
//! the [`crate::ports::launcher::Launcher`]); then tell GitHub what it must hear (replies,
//! refusals, `/agent status` answers).

use std::sync::Arc;

use super::facts_and_replies::RefusalsTold;
use super::intake::{self, Answer, DecideError};
use super::metrics::Metrics;
use super::reload::ConfigStore;
use crate::clock::Clock;
use crate::github::event;
use crate::github::webhook::{self, DeliveryId, WebhookError};
use crate::github_client::GithubClient;
use crate::ids::IssueNumber;
use crate::ports::approvals::{ApprovalStore, PullRequestKey};
use crate::ports::launcher::Launcher;

/// What of the service's state a delivery is carried through with, and only that (review
/// 12v, R32): the HTTP layer builds it from its own state (`http::AppState::pipeline`), and
/// another way in (a catch-up, a queue, a bench) builds it without one.
pub struct PipelineState<'a> {
    /// The config in force.
    pub config: &'a ConfigStore,
    /// Where runs are launched, cancelled and listed.
    pub launcher: &'a Arc<dyn Launcher>,
    /// Asks GitHub what the payload does not say and tells it what it must hear, when
    /// credentials are set (else the payload alone decides and replies are only logged).
    pub github: &'a Option<Arc<GithubClient>>,
    /// Where fork approvals and the pull request heads seen are recorded.
    pub approvals: &'a Arc<dyn ApprovalStore>,
    /// When heads are seen and approvals given.
    pub clock: &'a Arc<dyn Clock>,
    /// Who was told lately, on which issue, that a command was refused.
    pub refusals: &'a RefusalsTold,
    /// The deliveries and launches counted.
    pub metrics: &'a Metrics,
    /// The changed files every pull request delivery is given (`serve --dry-run
    /// --changed-files`), for agents with a `paths` filter.
    pub changed_files: &'a Option<Vec<String>>,
}

/// Records the head of a pull request as seen now (`opened`, `synchronize`, `reopened`,
/// `edited`), so that an `approve` without a SHA can be bound to the head its writer saw.
/// A failure is logged: such an approve is then refused (and names the SHA to approve).
async fn record_head(app: &PipelineState<'_>, event: &event::WebhookEvent) {
    let (event::Event::PullRequest(e), Some(repository)) = (&event.event, &event.repository) else {
        return;
    };
    // One arm an action, no catch-all: a new action decides whether it shows a head.
    use crate::github::event::PullRequestAction as Action;
    match &e.action {
        Action::Opened | Action::Synchronize | Action::Reopened | Action::Edited => {}
        Action::Closed
        | Action::Labeled
        | Action::Unlabeled
        | Action::ReadyForReview
        | Action::ConvertedToDraft
        | Action::Other(_) => return,
    }
    let key = PullRequestKey::new(&repository.full_name, IssueNumber(e.number));
    let sha = e.pull_request.head.sha.clone();
    let now = app.clock.now();
    let change = move |r: &mut crate::ports::approvals::PullRequestRecord| r.see(&sha, now);
    if let Err(e) = app.approvals.update(&key, &change).await {
        tracing::warn!(
            "cannot record the head seen: {}",
            crate::text::with_causes(&e)
        );
    }
}

/// Carries one signed delivery (`event_name`, its `Content-Type` and `body`) through to
/// its answer: a 400 when the body is not the event it says, else what was decided and
/// done (see [`intake::launch_telling`]), or why nothing was (stale, deferred, untold,
/// internal).
pub(super) async fn deliver(
    app: &PipelineState<'_>,
    content_type: Option<&[u8]>,
    body: &[u8],
    event_name: &str,
    delivery: &DeliveryId,
) -> Answer {
    let payload = match webhook::json_payload(content_type, body) {
        Ok(p) => p,
        Err(e) => return Answer::rejected(&e),
    };
    let live = app.config.current();
    let parsed = match event::parse(event_name, &payload) {
        Ok(event) => event,
        Err(e) => return Answer::rejected(&WebhookError::MalformedBody(e)),
    };
    // A body signed longer ago than the replay window may be a captured one sent again:
    // it does nothing, asks GitHub nothing and tells nobody. A preview (dry-run without
    // GitHub credentials: nothing runs and nobody is told, whatever the answer says) shows
    // what a new delivery would do, so GitHub's recorded examples can be replayed to it.
    let preview = app.github.is_none() && !app.launcher.runs_for_real();
    if let Some(why) = crate::plan::stale(&parsed, app.clock.now()) {
        if !preview {
            tracing::warn!(event = event_name, "{why}");
            return Answer::stale(delivery, &parsed, &why);
        }
        // Not `why`, which ends "so nothing is done": here the preview goes on.
        tracing::info!(
            event = event_name,
            "a preview, answered as if new: with GitHub credentials this delivery would be \
             refused as stale (its {} is older than the replay window); previewing it anyway",
            why.field
        );
    }
    let (decided, event) = match &app.github {
        None => (
            intake::decide_parsed_without_github(
                &live,
                event_name,
                delivery,
                &parsed,
                app.launcher.runs_for_real(),
                app.changed_files.as_deref(),
            ),
            None,
        ),
        Some(github) => {
            record_head(app, &parsed).await;
            // A push may have added the repository's own file where it was found absent.
            if let (event::Event::Push(_), Some(repository)) = (&parsed.event, &parsed.repository) {
                github.forget_absent_files(&repository.full_name);
            }
            let gathered = super::facts_and_replies::gather(
                github,
                app.approvals.as_ref(),
                live.planner(),
                &parsed,
            )
            .await;
            // `serve --dry-run --changed-files` stands in for what GitHub said of the files.
            let facts = gathered.facts();
            let facts = crate::plan::Facts {
                changed_files: match app.changed_files.as_deref() {
                    Some(files) => crate::plan::ChangedFiles::All(files),
                    None => facts.changed_files,
                },
                ..facts
            };
            let decided = intake::decide_event(&live, event_name, delivery, &parsed, &facts);
            (decided, Some(parsed))
        }
    };
    match decided {
        Ok(decided) => {
            // Taken apart whole: a part added to `Decided` is carried out here or does not
            // compile.
            let intake::Decided {
                mut work,
                responses,
                statuses,
                deferred,
                approvals,
            } = decided;
            if let Some(why) = deferred {
                return intake::deferred_answer(delivery, &why);
            }
            // A delivery that only tells (a refusal, a reply) has done nothing until GitHub
            // takes what it tells; one that also acts is answered by what it did.
            let only_tells = !work.acts() && approvals.is_empty();
            for approval in approvals {
                let entry = approval.entry(app.clock.now());
                let change = move |r: &mut crate::ports::approvals::PullRequestRecord| {
                    r.approve(entry.clone())
                };
                if let Err(e) = app.approvals.update(&approval.key, &change).await {
                    // Nothing runs and nobody is told it was approved: the delivery
                    // fails, and comes again.
                    tracing::error!(
                        "cannot record the approval: {}",
                        crate::text::with_causes(&e)
                    );
                    return Answer::internal(delivery);
                }
                tracing::info!(
                    pull_request = %approval.key,
                    sha = %approval.sha,
                    approved_by = %approval.approved_by,
                    "fork pull request approved"
                );
            }
            let mut responses = responses;
            if app.github.is_none() {
                // Nobody to answer on GitHub: the answer says what would be (before, a
                // bare "ignored": new-user review 13c, N11).
                // A dry run has no runs to answer with, and says so, as retry and stop do
                // (review 13i, F9).
                let dry_run = !app.launcher.runs_for_real();
                work.notes.extend(statuses.iter().map(|number| {
                    if dry_run {
                        format!(
                            "service command: no runs of #{number} to answer with: {}",
                            intake::DRY_RUN_KEEPS_NO_RUNS
                        )
                    } else {
                        format!(
                            "service command: answer with the runs of #{number} (not posted: \
                             no GitHub credentials)"
                        )
                    }
                }));
            }
            let intake::Carried {
                answer,
                tell,
                all_kept_out,
            } = intake::launch_telling(
                app.launcher.as_ref(),
                app.github.as_deref(),
                app.metrics,
                delivery,
                work,
            )
            .await;
            responses.extend(tell);
            // 👀 promises work: a comment whose every run a full queue kept out gets the
            // refusal's answer only (a reply, or 😕 within the hour), unless a command of
            // it is answered here (`status`; issue 15).
            if all_kept_out && statuses.is_empty() {
                responses.retain(|r| !matches!(r, super::facts_and_replies::Response::Eyes { .. }));
            }
            if let (Some(github), Some(event)) = (&app.github, &event)
                && answer.is_final()
            {
                let repository = event.repository.as_ref().map(|r| &r.full_name);
                for number in statuses {
                    let Some(repository) = repository else { break };
                    match app.launcher.runs_of(repository, IssueNumber(number)).await {
                        Ok(runs) => responses.push(super::facts_and_replies::Response::Reply {
                            number,
                            body: crate::report::status_body(number, &runs),
                        }),
                        Err(e) => tracing::warn!(
                            "cannot list the runs for status: {}",
                            crate::text::with_causes(&e)
                        ),
                    }
                }
                let told = super::facts_and_replies::respond(
                    github,
                    live.engine(),
                    event,
                    delivery.as_str(),
                    &responses,
                    app.refusals,
                    app.clock.now(),
                )
                .await;
                if !told && only_tells {
                    return Answer::untold(delivery);
                }
            }
            answer
        }
        Err(DecideError::Event(e)) => Answer::rejected(&WebhookError::MalformedBody(e)),
        Err(e @ DecideError::Render { .. }) => {
            tracing::error!(
                config_generation = live.generation,
                "{}",
                crate::text::with_causes(&e)
            );
            Answer::internal(delivery)
        }
    }
}
