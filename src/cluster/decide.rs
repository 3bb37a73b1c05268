//! The controller's core: one run, what its workload shows, the runs of its concurrency
//! group and the time in; what to do and the run's next status out. Pure: no I/O, no clock.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::events::EventReason;
use super::queue::{self, Held, LAUNCHED, OBJECTS_APPLIED, QUEUED, Turn, launched_at};
use super::workload::{Ending, Workload};
use crate::agentrun::{AgentRunSpec, AgentRunStatus, CancelReason, Conclusion, Phase, RunResult};

/// The start of a run's message while its lost pod is being replaced.
const LOST_PREFIX: &str = "retrying: ";

/// How often a queued run looks again at its group, and a terminating pod at its end.
const QUEUED_RECHECK: Duration = Duration::from_secs(10);
const TERMINATING_RECHECK: Duration = Duration::from_secs(2);
/// How often a run waiting for capacity looks again, should no end of another run wake it
/// first (the controller wakes the runs that may start as soon as a place frees; this is
/// for a limit raised by a config reload). Long: each look works the queue out over every
/// run the store holds (about 30 ms for 10,000 runs in a debug build).
const CAPACITY_RECHECK: Duration = Duration::from_secs(300);

/// The run as the controller sees it.
#[derive(Debug, Clone, Copy)]
pub struct RunView<'a> {
    pub name: &'a str,
    pub spec: &'a AgentRunSpec,
    pub status: &'a AgentRunStatus,
    pub created: Timestamp,
    /// What the queue of services.yaml's `limits` says about it before its first launch
    /// (`Start` when there are no limits, or once it is launched).
    pub capacity: &'a Turn,
}

/// Another run of the same concurrency group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sibling {
    pub name: String,
    /// `spec.requestedAt`, else its creation time.
    pub requested: Timestamp,
    /// `spec.eventAt`: when GitHub says its event happened.
    pub event_at: Option<Timestamp>,
    /// `spec.pullRequest.headSha` and `beforeSha`: which of two pushes within one second
    /// came first.
    pub head_sha: Option<String>,
    pub before_sha: Option<String>,
    /// `spec.requestedBy`, and `spec.outsider`: an outsider's run supersedes only the runs
    /// the same person asked for.
    pub requested_by: String,
    pub outsider: bool,
    /// Its pod or Job was made (a run not launched yet waits in the queue).
    pub launched: bool,
    pub finished: bool,
    pub cancel_requested: bool,
}

/// A run's place in the order of superseding (see [`Place::cmp`]).
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    /// When GitHub says its event happened, else when it was recorded.
    event: Timestamp,
    head: Option<&'a str>,
    before: Option<&'a str>,
    requested: Timestamp,
    name: &'a str,
}

/// The pushes a group's runs know of: each head to the head before it (`beforeSha`), so
/// that pushes within one second are ordered by the whole chain, not pair by pair (review
/// 15f, G1).
struct Chain<'a>(std::collections::HashMap<&'a str, &'a str>);

impl<'a> Chain<'a> {
    fn of(places: impl Iterator<Item = Place<'a>>) -> Chain<'a> {
        Chain(places.filter_map(|p| Some((p.head?, p.before?))).collect())
    }

    /// Whether `later`'s push came after `earlier`'s head: its `before`, or the head before
    /// that, and so on as far as the chain is known, is `earlier`'s head. (A push back to an
    /// earlier head makes a cycle: the walk stops after as many steps as there are links.)
    fn follows(&self, later: &Place<'_>, earlier: &Place<'_>) -> bool {
        let Some(target) = earlier.head else {
            return false;
        };
        let mut at = later.before;
        for _ in 0..=self.0.len() {
            match at {
                Some(head) if head == target => return true,
                Some(head) => at = self.0.get(head).copied(),
                None => return false,
            }
        }
        false
    }
}

impl<'a> Place<'a> {
    fn of(s: &'a Sibling) -> Place<'a> {
        Place {
            event: s.event_at.unwrap_or(s.requested),
            head: s.head_sha.as_deref(),
            before: s.before_sha.as_deref(),
            requested: s.requested,
            name: s.name.as_str(),
        }
    }

    fn of_run(run: RunView<'a>) -> Place<'a> {
        let requested = requested(run);
        let pr = run.spec.pull_request.as_ref();
        Place {
            event: run.spec.event_at.as_ref().map_or(requested, |t| t.0),
            head: pr.and_then(|p| p.head_sha.as_deref()),
            before: pr.and_then(|p| p.before_sha.as_deref()),
            requested,
            name: run.name,
        }
    }

    /// Whose event is newer: by the time GitHub gives it; within the same second (GitHub's
    /// times are whole seconds), the push that came after the other's head by the chain of
    /// `before`s (review 15e, E7; 15f, G1). `None`: two pushes of the same second to
    /// different heads that nothing known links yet; which is newer is not known (the tie
    /// went to the one recorded last, so pushes delivered out of order had an older head
    /// reviewed and the newest cancelled).
    fn event_cmp(&self, other: &Place<'_>, chain: &Chain<'_>) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self.event.cmp(&other.event) {
            Equal => {}
            order => return Some(order),
        }
        if chain.follows(self, other) {
            Some(Greater)
        } else if chain.follows(other, self) {
            Some(Less)
        } else if self.before.is_some() && other.before.is_some() && self.head != other.head {
            None
        } else {
            Some(Equal)
        }
    }

    /// Which supersedes which: the newer event, however late its delivery came (review
    /// 15d, D4); recorded later, at a tie; then by name. `None` as for
    /// [`Place::event_cmp`].
    fn cmp(&self, other: &Place<'_>, chain: &Chain<'_>) -> Option<std::cmp::Ordering> {
        Some(
            self.event_cmp(other, chain)?
                .then(self.requested.cmp(&other.requested))
                .then(self.name.cmp(other.name)),
        )
    }
}

/// A side effect, carried out by the controller in this order: cancels, deletes, applies,
/// then the status, the events, and the run's own deletion.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask these runs of the group to stop (their `spec.cancel`).
    Cancel {
        runs: Vec<String>,
        reason: CancelReason,
    },
    /// Delete the run's pod or Job.
    DeleteWorkload,
    /// Render the run's templates and apply every object (idempotent).
    Apply,
    /// Publish a Kubernetes Event about the run (a `Warning` or not by its reason).
    Event { reason: EventReason, note: String },
    /// Delete the run; the ownerReference cascade removes its objects.
    DeleteRun,
}

/// What one reconcile comes to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    pub actions: Vec<Action>,
    /// The status to write, when it changed. `Apply` fills in the pod or Job name.
    pub status: Option<AgentRunStatus>,
    /// Look again after this long (timeouts, TTL, a queue), unless something changes first.
    pub requeue: Option<Duration>,
}

impl Step {
    fn event(&mut self, reason: EventReason, note: impl Into<String>) {
        self.actions.push(Action::Event {
            reason,
            note: note.into(),
        });
    }
}

fn secs(n: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(n).unwrap_or(i64::MAX))
}

fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

fn later(t: Timestamp, by: SignedDuration) -> Timestamp {
    t.checked_add(by).unwrap_or(Timestamp::MAX)
}

fn human(seconds: u64) -> String {
    crate::text::duration(Duration::from_secs(seconds))
}

/// Decides one reconcile of `run`. `siblings` are the other runs of its concurrency group
/// (empty when it has none, or when the controller did not need to look).
pub fn decide(run: RunView<'_>, workload: &Workload, siblings: &[Sibling], now: Timestamp) -> Step {
    let before = run.status;
    let mut status = before.clone();
    let mut step = Step::default();
    let limits = run.spec.limits;

    if before.phase.as_ref().is_some_and(Phase::is_finished) {
        let finished = before.finish_time.as_ref().map_or(run.created, |t| t.0);
        // Kept for its TTL, and at least the replay guard after its creation: a captured
        // delivery sent again within the replay window must find its run (see
        // `plan::REPLAY_WINDOW`), however short the TTL.
        let expires = later(finished, secs(limits.ttl_seconds_after_finished)).max(later(
            run.created,
            secs(crate::plan::REPLAY_GUARD.as_secs()),
        ));
        if now >= expires {
            step.actions.push(Action::DeleteRun);
        } else {
            step.requeue = Some(until(now, expires));
        }
        return step;
    }

    if let Some(reason) = &run.spec.cancel {
        // Always: a pod may exist that the status never recorded.
        step.actions.push(Action::DeleteWorkload);
        finish(
            &mut status,
            Phase::Cancelled,
            RunResult {
                conclusion: Conclusion::Cancelled,
                summary: reason.clone(),
            },
            now,
        );
        step.event(EventReason::Cancelled, reason.clone());
        step.requeue = Some(Duration::from_secs(limits.ttl_seconds_after_finished));
        return changed(step, before, status);
    }

    let launched = before.pod_name.is_some() || before.job_name.is_some();
    if !launched {
        // Waiting runs this one supersedes now: counted ahead of it by the queue, which
        // read the store before they were asked to stop (review 15f, G3).
        let mut superseded_waiting = 0;
        // First launch (the controller does not look at the cluster before it: applying
        // is idempotent, so a launch whose status write was lost is simply done again).
        if let Some(group) = &run.spec.concurrency_group {
            if run.spec.cancel_in_progress {
                use std::cmp::Ordering::Greater;
                let me = Place::of_run(run);
                let chain = Chain::of(siblings.iter().map(Place::of).chain([me]));
                let same_asker =
                    |s: &Sibling| s.requested_by.eq_ignore_ascii_case(&run.spec.requested_by);
                // A newer run is in the group: this one is stale. A finished one only when
                // its event is newer, not this event's run done again (a retry, a Re-run).
                // An outsider's run supersedes only its own asker's (review 15e, E5).
                let newer_than_me = |s: &&Sibling| {
                    let place = Place::of(s);
                    (!s.outsider || same_asker(s))
                        && place.cmp(&me, &chain) == Some(Greater)
                        && (!s.finished || place.event_cmp(&me, &chain) == Some(Greater))
                };
                let newest =
                    siblings.iter().filter(newer_than_me).reduce(|a, b| {
                        match Place::of(b).cmp(&Place::of(a), &chain) {
                            Some(Greater) => b,
                            _ => a,
                        }
                    });
                if let Some(newer) = newest {
                    if run.spec.cancel.is_none() {
                        step.actions.push(Action::Cancel {
                            runs: vec![run.name.to_owned()],
                            reason: CancelReason::SupersededBy(newer.name.clone()),
                        });
                    }
                    step.requeue = Some(QUEUED_RECHECK);
                    return changed(step, before, status);
                }
                // The older runs are asked to stop even when a limit keeps this one waiting:
                // superseded, they leave the queue (or free their place) at once. An
                // outsider's run waits for the others' instead.
                let live = || {
                    siblings
                        .iter()
                        .filter(|s| !s.finished && !s.cancel_requested)
                };
                let (runs, mut others): (Vec<&Sibling>, Vec<&Sibling>) = live()
                    .filter(|s| me.cmp(&Place::of(s), &chain) == Some(Greater))
                    .partition(|s| !run.spec.outsider || same_asker(s));
                // A push of the same second that nothing links to this one yet: neither
                // supersedes the other until a push between them is known; the one recorded
                // later waits (only for those recorded before it, so that none waits for
                // another that waits for it: review 15g, H2).
                let unordered: Vec<&Sibling> = live()
                    .filter(|s| {
                        me.cmp(&Place::of(s), &chain).is_none()
                            && (s.requested, s.name.as_str()) < (me.requested, me.name)
                    })
                    .collect();
                if !runs.is_empty() {
                    superseded_waiting = runs.iter().filter(|s| !s.launched).count();
                    step.actions.push(Action::Cancel {
                        runs: runs.iter().map(|s| s.name.clone()).collect(),
                        reason: CancelReason::SupersededBy(run.name.to_owned()),
                    });
                }
                if !others.is_empty() || !unordered.is_empty() {
                    let why = if others.is_empty() {
                        "; pushed within the same second, and which push is newer is not known yet"
                            .to_string()
                    } else {
                        format!(
                            "; asked for by @{} below github.authorization.min_permission, it supersedes only their own runs",
                            run.spec.requested_by
                        )
                    };
                    others.extend(unordered);
                    wait_for_group(&mut status, &mut step, before, group, &others, &why);
                    return changed(step, before, status);
                }
            } else {
                let me = (requested(run), run.name);
                let older: Vec<&Sibling> = siblings
                    .iter()
                    .filter(|s| !s.finished && (s.requested, s.name.as_str()) < me)
                    .collect();
                if !older.is_empty() {
                    wait_for_group(&mut status, &mut step, before, group, &older, "");
                    return changed(step, before, status);
                }
            }
        }
        if let Turn::Wait { ahead, held } = run.capacity {
            let ahead = ahead.saturating_sub(superseded_waiting);
            wait_for_capacity(&mut status, &mut step, ahead, held, now);
            return changed(step, before, status);
        }
        launch(&mut status, &mut step, run, now);
        return changed(step, before, status);
    }

    match workload {
        Workload::Terminating => {
            step.requeue = Some(TERMINATING_RECHECK);
        }
        Workload::Absent => {
            // The pod is gone without an ending: deleted after a loss, or by someone else.
            if before.attempts >= limits.max_attempts {
                let why = before
                    .message
                    .as_deref()
                    .and_then(|m| m.strip_prefix(LOST_PREFIX))
                    .unwrap_or("its pod disappeared")
                    .to_string();
                fail_lost(&mut status, &mut step, &why, before.attempts, now);
            } else {
                step.event(
                    EventReason::Retrying,
                    format!("attempt {} of {}", before.attempts + 1, limits.max_attempts),
                );
                launch(&mut status, &mut step, run, now);
            }
        }
        Workload::Lost { reason } => {
            // Delete what is left; once it is gone (Absent), the run is launched again.
            step.actions.push(Action::DeleteWorkload);
            if before.attempts >= limits.max_attempts {
                fail_lost(&mut status, &mut step, reason, before.attempts, now);
            } else {
                status.phase = Some(Phase::Pending);
                status.message = Some(format!("{LOST_PREFIX}{reason}"));
                step.event(EventReason::PodLost, reason.clone());
                step.requeue = Some(TERMINATING_RECHECK);
            }
        }
        Workload::Pending => {
            let since = launched_at(before).unwrap_or(run.created);
            let deadline = later(since, secs(limits.pending_timeout_seconds));
            if now >= deadline {
                step.actions.push(Action::DeleteWorkload);
                let why = format!(
                    "the pod did not start within {}",
                    human(limits.pending_timeout_seconds)
                );
                time_out(&mut status, &mut step, why, now);
            } else {
                step.requeue = Some(until(now, deadline));
            }
        }
        Workload::Running { since } => {
            let started = before
                .start_time
                .as_ref()
                .map(|t| t.0)
                .or(*since)
                .unwrap_or(now);
            let deadline = later(started, secs(limits.timeout_seconds));
            if now >= deadline {
                step.actions.push(Action::DeleteWorkload);
                let why = format!(
                    "the agent ran longer than {}",
                    human(limits.timeout_seconds)
                );
                time_out(&mut status, &mut step, why, now);
            } else {
                if before.phase != Some(Phase::Running) {
                    status.phase = Some(Phase::Running);
                    status.start_time = Some(Time(started));
                    status.message = Some("the agent is running".into());
                    step.event(EventReason::Started, "the agent's pod is running");
                }
                step.requeue = Some(until(now, deadline));
            }
        }
        Workload::Ended(ending) => {
            end(&mut status, &mut step, ending, now);
            step.requeue = Some(Duration::from_secs(limits.ttl_seconds_after_finished));
        }
    }
    changed(step, before, status)
}

/// A run whose spec does not read (`why`: which field, and what to do): it can be neither
/// carried out nor reported, so it ends Failed with that as its message, its pod or Job
/// (if one runs) deleted, said in a warning Event. Then it is kept for its TTL as any
/// finished run.
pub fn unreadable(before: &AgentRunStatus, why: String, now: Timestamp) -> Step {
    let mut status = before.clone();
    let mut step = Step::default();
    // Always, as for a cancel: a pod may exist that the status never recorded.
    step.actions.push(Action::DeleteWorkload);
    finish(
        &mut status,
        Phase::Failed,
        RunResult {
            conclusion: Conclusion::Failure,
            summary: why.clone(),
        },
        now,
    );
    // Whole: the field and what to do may take more than the first 200 characters.
    status.message = Some(why.clone());
    step.event(EventReason::SpecUnreadable, why);
    changed(step, before, status)
}

/// The run waits, Queued, for the runs of its concurrency group `group` named in `older`
/// to finish (`why` adds to the message why it does not supersede them).
fn wait_for_group(
    status: &mut AgentRunStatus,
    step: &mut Step,
    before: &AgentRunStatus,
    group: &str,
    older: &[&Sibling],
    why: &str,
) {
    let names: Vec<&str> = older.iter().map(|s| s.name.as_str()).collect();
    status.phase = Some(Phase::Queued);
    status.message = Some(format!(
        "waiting for {} of concurrency group {group:?} to finish{why}",
        names.join(", ")
    ));
    // Its group holds it now, not a limit.
    status.conditions.retain(|c| c.type_ != QUEUED);
    if before.phase != Some(Phase::Queued) {
        step.event(
            EventReason::Queued,
            status.message.clone().unwrap_or_default(),
        );
    }
    step.requeue = Some(QUEUED_RECHECK);
}

fn requested(run: RunView<'_>) -> Timestamp {
    run.spec.requested_at.as_ref().map_or(run.created, |t| t.0)
}

fn changed(mut step: Step, before: &AgentRunStatus, status: AgentRunStatus) -> Step {
    if &status != before {
        step.status = Some(status);
    }
    step
}

fn launch(status: &mut AgentRunStatus, step: &mut Step, run: RunView<'_>, now: Timestamp) {
    let relaunch = run.status.pod_name.is_some() || run.status.job_name.is_some();
    step.actions.push(Action::Apply);
    status.phase = Some(Phase::Pending);
    status.attempts = if relaunch {
        run.status.attempts + 1
    } else {
        run.status.attempts.max(1)
    };
    // The running timeout counts from each attempt's start.
    status.start_time = None;
    status.conditions.retain(|c| c.type_ != QUEUED);
    status.message = Some(if status.attempts > 1 {
        format!(
            "attempt {} of {}",
            status.attempts, run.spec.limits.max_attempts
        )
    } else {
        "the agent's objects are created".into()
    });
    set_condition(status, LAUNCHED, OBJECTS_APPLIED, now, status.attempts);
    step.event(
        EventReason::Launched,
        format!(
            "attempt {}: {} for {}",
            status.attempts, run.spec.agent, run.spec.trigger
        ),
    );
    step.requeue = Some(Duration::from_secs(run.spec.limits.pending_timeout_seconds));
}

/// Queued until a place frees. The status is written when the run starts waiting or the
/// limit that holds it changes, not when only its place in the queue does: that would be a
/// write to every waiting run each time one starts (`runs list` works the place out afresh,
/// from the runs it lists).
fn wait_for_capacity(
    status: &mut AgentRunStatus,
    step: &mut Step,
    ahead: usize,
    held: &Held,
    now: Timestamp,
) {
    let before = status.phase.clone();
    let note = held.note();
    let same = before == Some(Phase::Queued)
        && status.conditions.iter().any(|c| {
            c.type_ == QUEUED
                && queue::HeldBy::from_reason(&c.reason) == Some(held.by())
                && c.message == note
        });
    status.phase = Some(Phase::Queued);
    if !same {
        let place = queue::Place {
            ahead,
            by: held.by(),
        };
        status.message = Some(queue::message(place, &note));
        status.conditions.retain(|c| c.type_ != QUEUED);
        status.conditions.push(Condition {
            type_: QUEUED.into(),
            status: "True".into(),
            reason: held.reason().into(),
            message: note,
            last_transition_time: Time(now),
            observed_generation: None,
        });
    }
    if before != Some(Phase::Queued) {
        step.event(
            EventReason::Queued,
            status.message.clone().unwrap_or_default(),
        );
    }
    step.requeue = Some(CAPACITY_RECHECK);
}

fn set_condition(status: &mut AgentRunStatus, kind: &str, reason: &str, now: Timestamp, n: u32) {
    status.conditions.retain(|c| c.type_ != kind);
    status.conditions.push(Condition {
        type_: kind.into(),
        status: "True".into(),
        reason: reason.into(),
        message: format!("attempt {n}"),
        last_transition_time: Time(now),
        observed_generation: None,
    });
}

fn fail_lost(status: &mut AgentRunStatus, step: &mut Step, reason: &str, n: u32, now: Timestamp) {
    let summary = format!("{reason}, and all {n} attempts are used up");
    finish(
        status,
        Phase::Failed,
        RunResult {
            conclusion: Conclusion::Failure,
            summary: summary.clone(),
        },
        now,
    );
    step.event(EventReason::Failed, summary);
}

fn time_out(status: &mut AgentRunStatus, step: &mut Step, why: String, now: Timestamp) {
    finish(
        status,
        Phase::TimedOut,
        RunResult {
            conclusion: Conclusion::TimedOut,
            summary: why.clone(),
        },
        now,
    );
    step.event(EventReason::TimedOut, why);
}

fn end(status: &mut AgentRunStatus, step: &mut Step, ending: &Ending, now: Timestamp) {
    let ok = ending.succeeded && ending.result.conclusion != Conclusion::Failure;
    if status.start_time.is_none() {
        status.start_time = ending.started.map(Time);
    }
    let phase = if ok { Phase::Succeeded } else { Phase::Failed };
    finish(status, phase, ending.result.clone(), now);
    let note = format!(
        "{}: {}",
        ending.result.conclusion,
        first_line(&ending.result.summary)
    );
    let reason = if ok {
        EventReason::Succeeded
    } else {
        EventReason::Failed
    };
    step.event(reason, note);
}

fn first_line(s: &str) -> &str {
    crate::text::start(s.lines().next().unwrap_or_default(), 200)
}

fn finish(status: &mut AgentRunStatus, phase: Phase, result: RunResult, now: Timestamp) {
    status.message = Some(match phase {
        Phase::Succeeded => "the agent finished".into(),
        _ => first_line(&result.summary).to_string(),
    });
    status.phase = Some(phase);
    status.finish_time = Some(Time(now));
    status.result = Some(result);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::agentrun::RunLimits;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    /// A minimal run spec (also used by other modules' tests).
    pub(crate) fn spec(group: Option<&str>, cancel_in_progress: bool) -> AgentRunSpec {
        let run = serde_json::json!({
            "agent": "review", "repository": "o/r", "event": "pull_request", "delivery": "d",
            "trigger": "pull_request.opened", "requestedBy": "octocat",
            "concurrencyGroup": group, "cancelInProgress": cancel_in_progress,
            "source": {
                "event": {"name": "ping", "event": {"kind": "ping", "zen": "z", "hook_id": 1},
                          "repository": null, "sender": null, "installation_id": null},
                "launch": {"agent": "review", "run_name": "r", "trigger": {"kind": "push"},
                           "task": null, "requested_by": "octocat",
                           "subject": {"kind": "issue", "number": 1}},
            },
        });
        serde_json::from_value(run).expect("a spec")
    }

    fn t(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    fn view<'a>(name: &'a str, spec: &'a AgentRunSpec, status: &'a AgentRunStatus) -> RunView<'a> {
        RunView {
            name,
            spec,
            status,
            created: t("2026-11-25T10:00:00Z"),
            capacity: &Turn::Start,
        }
    }

    /// A run whose spec does not read ends Failed with the whole reason, its pod deleted,
    /// said in a warning Event.
    #[test]
    fn a_run_whose_spec_does_not_read_fails_saying_why() {
        let why = format!(
            "agent review: its spec.repository does not read: {}",
            "x".repeat(300)
        );
        let step = unreadable(&launched(1), why.clone(), t("2026-11-25T10:00:30Z"));
        let status = step.status.expect("a status");
        assert_eq!(status.phase, Some(Phase::Failed));
        assert_eq!(status.message.as_deref(), Some(why.as_str()));
        assert_eq!(
            status.result,
            Some(RunResult {
                conclusion: Conclusion::Failure,
                summary: why.clone(),
            })
        );
        assert_eq!(
            step.actions,
            vec![
                Action::DeleteWorkload,
                Action::Event {
                    reason: EventReason::SpecUnreadable,
                    note: why,
                },
            ]
        );
    }

    fn launched(attempts: u32) -> AgentRunStatus {
        let mut status = AgentRunStatus {
            phase: Some(Phase::Pending),
            pod_name: Some("p".into()),
            attempts,
            ..AgentRunStatus::default()
        };
        set_condition(
            &mut status,
            LAUNCHED,
            OBJECTS_APPLIED,
            t("2026-11-25T10:00:00Z"),
            attempts,
        );
        status
    }

    fn sibling(name: &str, at: &str) -> Sibling {
        Sibling {
            name: name.into(),
            requested: t(at),
            requested_by: "octocat".into(),
            ..Sibling::default()
        }
    }

    #[test]
    fn a_new_run_is_launched_once_with_its_first_attempt() {
        let spec = spec(None, false);
        let status = AgentRunStatus::default();
        let step = decide(
            view("r", &spec, &status),
            &Workload::Absent,
            &[],
            t("2026-11-25T10:00:01Z"),
        );
        assert_eq!(step.actions.first(), Some(&Action::Apply));
        let next = step.status.expect("a new status");
        assert_eq!(
            (next.phase.clone(), next.attempts),
            (Some(Phase::Pending), 1)
        );
        assert_eq!(launched_at(&next), Some(t("2026-11-25T10:00:01Z")));
        assert_eq!(
            step.requeue,
            Some(Duration::from_secs(
                RunLimits::default().pending_timeout_seconds
            ))
        );
    }

    #[test]
    fn without_cancel_in_progress_a_newer_run_waits_queued_for_the_older() {
        let mut spec = spec(Some("g"), false);
        spec.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            t("2026-11-25T10:00:05Z"),
        ));
        let status = AgentRunStatus::default();
        let older = [sibling("older", "2026-11-25T10:00:01Z")];
        let step = decide(
            view("newer", &spec, &status),
            &Workload::Absent,
            &older,
            t("2026-11-25T10:00:06Z"),
        );
        assert!(!step.actions.contains(&Action::Apply));
        assert_eq!(
            step.status.and_then(|s| s.phase.clone()),
            Some(Phase::Queued)
        );

        // Once the older one has finished, it starts.
        let done = [Sibling {
            finished: true,
            ..older[0].clone()
        }];
        let step = decide(
            view("newer", &spec, &status),
            &Workload::Absent,
            &done,
            t("2026-11-25T10:01:00Z"),
        );
        assert_eq!(step.actions.first(), Some(&Action::Apply));
    }

    #[test]
    fn with_cancel_in_progress_the_newer_run_cancels_the_older_and_never_the_reverse() {
        let mut spec = spec(Some("g"), true);
        spec.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            t("2026-11-25T10:00:05Z"),
        ));
        let status = AgentRunStatus::default();
        let older = [sibling("older", "2026-11-25T10:00:01Z")];
        let step = decide(
            view("mid", &spec, &status),
            &Workload::Absent,
            &older,
            t("2026-11-25T10:00:06Z"),
        );
        assert_eq!(
            step.actions.first(),
            Some(&Action::Cancel {
                runs: vec!["older".into()],
                reason: CancelReason::SupersededBy("mid".into())
            })
        );
        assert!(step.actions.contains(&Action::Apply));

        // A newer one in the group: this one is superseded by it, launches nothing and
        // cancels no other (the newest does).
        let others = [older[0].clone(), sibling("newest", "2026-11-25T10:00:09Z")];
        let step = decide(
            view("mid", &spec, &status),
            &Workload::Absent,
            &others,
            t("2026-11-25T10:00:06Z"),
        );
        assert_eq!(
            step.actions,
            vec![Action::Cancel {
                runs: vec!["mid".into()],
                reason: CancelReason::SupersededBy("newest".into())
            }]
        );
    }

    #[test]
    fn an_outsiders_run_supersedes_only_its_askers_runs_and_is_superseded_by_anyones() {
        // Review 15e, E5.
        let mut stranger = spec(Some("g"), true);
        stranger.requested_by = "Stranger".into();
        stranger.outsider = true;
        stranger.requested_at = Some(MicroTime(t("2026-11-25T10:00:05Z")));
        let status = AgentRunStatus::default();
        let maintainers = sibling("maintainers", "2026-11-25T10:00:01Z");
        let own = Sibling {
            requested_by: "stranger".into(),
            outsider: true,
            ..sibling("own", "2026-11-25T10:00:02Z")
        };
        let step = decide(
            view("newer", &stranger, &status),
            &Workload::Absent,
            &[maintainers.clone(), own.clone()],
            t("2026-11-25T10:00:06Z"),
        );
        assert_eq!(
            step.actions.first(),
            Some(&Action::Cancel {
                runs: vec!["own".into()],
                reason: CancelReason::SupersededBy("newer".into())
            })
        );
        assert!(!step.actions.contains(&Action::Apply), "{:?}", step.actions);
        let waiting = step.status.expect("a status");
        assert_eq!(waiting.phase, Some(Phase::Queued));
        assert!(
            waiting.message.as_deref().is_some_and(|m| m.starts_with(
                "waiting for maintainers of concurrency group \"g\" to finish; asked for by @Stranger below"
            )),
            "{:?}",
            waiting.message
        );

        // A maintainer's run waiting for its turn is not superseded by the stranger's newer
        // one; the stranger's own older run is superseded by a maintainer's newer one.
        let mut maintainer = spec(Some("g"), true);
        maintainer.requested_at = Some(MicroTime(t("2026-11-25T10:00:00Z")));
        let newer_stranger = Sibling {
            requested_by: "stranger".into(),
            outsider: true,
            ..sibling("stranger", "2026-11-25T10:00:05Z")
        };
        let step = decide(
            view("maintainer", &maintainer, &status),
            &Workload::Absent,
            &[newer_stranger],
            t("2026-11-25T10:00:06Z"),
        );
        assert!(step.actions.contains(&Action::Apply), "{:?}", step.actions);
        maintainer.requested_at = Some(MicroTime(t("2026-11-25T10:00:09Z")));
        let step = decide(
            view("maintainer", &maintainer, &status),
            &Workload::Absent,
            &[own],
            t("2026-11-25T10:00:10Z"),
        );
        assert_eq!(
            step.actions.first(),
            Some(&Action::Cancel {
                runs: vec!["own".into()],
                reason: CancelReason::SupersededBy("maintainer".into())
            })
        );
    }

    #[test]
    fn within_one_second_the_push_whose_before_is_the_others_head_is_newer() {
        // Review 15e, E7: the tie went to the run recorded last.
        let second = MicroTime(t("2026-11-25T10:00:01Z"));
        let mut older_push = spec(Some("g"), true);
        older_push.event_at = Some(second.clone());
        older_push.requested_at = Some(MicroTime(t("2026-11-25T10:00:08Z")));
        older_push.pull_request = Some(crate::agentrun::PullRequestRef {
            number: 2,
            head_sha: Some("b".repeat(40)),
            before_sha: Some("a".repeat(40)),
            head_ref: None,
        });
        let newer_push = Sibling {
            event_at: Some(second.0),
            head_sha: Some("c".repeat(40)),
            before_sha: Some("b".repeat(40)),
            ..sibling("newer", "2026-11-25T10:00:04Z")
        };
        let status = AgentRunStatus::default();
        let step = decide(
            view("late", &older_push, &status),
            &Workload::Absent,
            std::slice::from_ref(&newer_push),
            t("2026-11-25T10:00:10Z"),
        );
        assert_eq!(
            step.actions,
            vec![Action::Cancel {
                runs: vec!["late".into()],
                reason: CancelReason::SupersededBy("newer".into())
            }]
        );
        // Without the chain (runs recorded before `beforeSha`), recorded last wins the tie.
        older_push.pull_request = None;
        let step = decide(
            view("late", &older_push, &status),
            &Workload::Absent,
            &[Sibling {
                before_sha: None,
                ..newer_push
            }],
            t("2026-11-25T10:00:10Z"),
        );
        assert_eq!(
            step.actions.first(),
            Some(&Action::Cancel {
                runs: vec!["newer".into()],
                reason: CancelReason::SupersededBy("late".into())
            })
        );
    }

    #[test]
    fn pushes_are_ordered_by_the_whole_chain_of_befores_and_a_push_back_ends_the_walk() {
        // Review 15f, G1.
        let place = |name: &'static str, head: &'static str, before: &'static str| Place {
            event: t("2026-11-25T10:00:01Z"),
            head: Some(head),
            before: Some(before),
            requested: t("2026-11-25T10:00:02Z"),
            name,
        };
        let (a, b, c) = (
            place("a", "A", "H"),
            place("b", "B", "A"),
            place("c", "C", "B"),
        );
        let known = Chain::of([a, c].into_iter());
        assert_eq!(c.event_cmp(&a, &known), None, "no link known yet");
        let all = Chain::of([a, b, c].into_iter());
        assert_eq!(c.event_cmp(&a, &all), Some(std::cmp::Ordering::Greater));
        assert_eq!(a.event_cmp(&c, &all), Some(std::cmp::Ordering::Less));
        // A push back to head A after B: the chain has a cycle, and the walk still ends.
        let back = place("back", "A", "B");
        let cycle = Chain::of([b, back].into_iter());
        assert!(cycle.follows(&back, &b));
        assert!(!cycle.follows(&back, &place("x", "X", "Y")));
    }

    #[test]
    fn a_run_done_again_is_not_superseded_by_the_finished_run_of_the_same_event() {
        let at = |s: &str| {
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                t(s),
            ))
        };
        let mut again = spec(Some("g"), true);
        again.requested_at = at("2026-11-25T10:00:05Z");
        again.event_at = at("2026-11-25T10:00:01Z");
        let first = Sibling {
            event_at: Some(t("2026-11-25T10:00:01Z")),
            finished: true,
            ..sibling("first", "2026-11-25T10:00:09Z")
        };
        let status = AgentRunStatus::default();
        let step = decide(
            view("again", &again, &status),
            &Workload::Absent,
            &[first],
            t("2026-11-25T10:00:10Z"),
        );
        assert!(step.actions.contains(&Action::Apply), "{:?}", step.actions);
    }

    #[test]
    fn with_cancel_in_progress_the_newer_event_wins_however_late_its_run_was_recorded() {
        // Review 15d, D4: an older push delivered again after a newer one was recorded
        // after it, and superseded the newer head's review.
        let at = |s: &str| {
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                t(s),
            ))
        };
        let mut late = spec(Some("g"), true);
        late.requested_at = at("2026-11-25T10:00:09Z");
        late.event_at = at("2026-11-25T10:00:01Z");
        let newer = Sibling {
            event_at: Some(t("2026-11-25T10:00:03Z")),
            ..sibling("newer", "2026-11-25T10:00:04Z")
        };
        let status = AgentRunStatus::default();
        let step = decide(
            view("late", &late, &status),
            &Workload::Absent,
            std::slice::from_ref(&newer),
            t("2026-11-25T10:00:10Z"),
        );
        assert_eq!(
            step.actions,
            vec![Action::Cancel {
                runs: vec!["late".into()],
                reason: CancelReason::SupersededBy("newer".into())
            }]
        );

        // The newer one, looked at again, finds only an older event's run: it is not
        // superseded, and asks the late one to stop.
        let mut spec = spec(Some("g"), true);
        spec.requested_at = at("2026-11-25T10:00:04Z");
        spec.event_at = at("2026-11-25T10:00:03Z");
        let late = Sibling {
            event_at: Some(t("2026-11-25T10:00:01Z")),
            ..sibling("late", "2026-11-25T10:00:09Z")
        };
        let step = decide(
            view("newer", &spec, &status),
            &Workload::Absent,
            &[late],
            t("2026-11-25T10:00:10Z"),
        );
        assert!(step.actions.contains(&Action::Apply), "{:?}", step.actions);
    }

    #[test]
    fn a_lost_pod_is_replaced_until_the_attempts_are_used_up() {
        let spec = spec(None, false);
        let status = launched(1);
        let lost = Workload::Lost {
            reason: "Evicted".into(),
        };
        let step = decide(
            view("r", &spec, &status),
            &lost,
            &[],
            t("2026-11-25T10:01:00Z"),
        );
        assert_eq!(step.actions.first(), Some(&Action::DeleteWorkload));
        let waiting = step.status.expect("a status");
        assert_eq!(waiting.message.as_deref(), Some("retrying: Evicted"));

        // Gone: the second attempt.
        let step = decide(
            view("r", &spec, &waiting),
            &Workload::Absent,
            &[],
            t("2026-11-25T10:01:05Z"),
        );
        assert!(step.actions.contains(&Action::Apply));
        assert_eq!(step.status.map(|s| s.attempts), Some(2));

        // The last attempt lost as well: the run fails, saying why.
        let last = launched(3);
        let step = decide(
            view("r", &spec, &last),
            &lost,
            &[],
            t("2026-11-25T10:09:00Z"),
        );
        let failed = step.status.expect("a status");
        assert_eq!(failed.phase, Some(Phase::Failed));
        assert_eq!(
            failed.result.map(|r| r.summary).as_deref(),
            Some("Evicted, and all 3 attempts are used up")
        );
    }

    #[test]
    fn a_finished_run_is_kept_for_its_ttl_then_deleted() {
        // Created 2026-11-25T10:00:00Z; its replay guard (3 days and an hour) ends first.
        let spec = AgentRunSpec {
            limits: crate::agentrun::RunLimits {
                ttl_seconds_after_finished: 7 * 24 * 3600,
                ..spec(None, false).limits
            },
            ..spec(None, false)
        };
        let status = AgentRunStatus {
            phase: Some(Phase::Succeeded),
            finish_time: Some(Time(t("2026-11-25T10:00:00Z"))),
            ..AgentRunStatus::default()
        };
        let step = decide(
            view("r", &spec, &status),
            &Workload::Absent,
            &[],
            t("2026-12-01T10:00:00Z"),
        );
        assert!(step.actions.is_empty());
        assert_eq!(step.requeue, Some(Duration::from_secs(24 * 3600)));
        let step = decide(
            view("r", &spec, &status),
            &Workload::Absent,
            &[],
            t("2026-12-02T10:00:00Z"),
        );
        assert_eq!(step.actions, [Action::DeleteRun]);
    }

    /// A TTL shorter than the replay window does not collect the run a replay must find:
    /// it is kept until three days and an hour after its creation (issue 11, F7).
    #[test]
    fn a_finished_run_outlives_a_short_ttl_until_its_replay_guard_ends() {
        let spec = spec(None, false);
        assert_eq!(spec.limits.ttl_seconds_after_finished, 24 * 3600);
        let status = AgentRunStatus {
            phase: Some(Phase::Succeeded),
            finish_time: Some(Time(t("2026-11-25T10:05:00Z"))),
            ..AgentRunStatus::default()
        };
        let at = |when| decide(view("r", &spec, &status), &Workload::Absent, &[], t(when));
        let step = at("2026-11-26T10:06:00Z");
        assert!(step.actions.is_empty(), "collected at its TTL");
        assert_eq!(
            step.requeue,
            Some(Duration::from_secs(2 * 24 * 3600 + 3240))
        );
        assert!(at("2026-11-28T10:59:59Z").actions.is_empty());
        assert_eq!(at("2026-11-28T11:00:00Z").actions, [Action::DeleteRun]);
    }

    #[test]
    fn nothing_changes_means_no_status_write() {
        let spec = spec(None, false);
        let status = launched(1);
        let step = decide(
            view("r", &spec, &status),
            &Workload::Pending,
            &[],
            t("2026-11-25T10:01:00Z"),
        );
        assert_eq!(step.status, None);
        assert!(step.actions.is_empty());
        assert_eq!(step.requeue, Some(Duration::from_secs(9 * 60)));
    }

    fn held_in(repo: &str) -> Turn {
        Turn::Wait {
            ahead: 2,
            held: Held::Repository {
                limit: 1,
                repository: repo.into(),
            },
        }
    }

    #[test]
    fn a_run_that_supersedes_waiting_runs_does_not_count_them_ahead() {
        // Review 15f, G3: the run it superseded was counted ahead of it ("queued: 1 ahead"
        // with nothing ahead), and the check run kept the number.
        let mut spec = spec(Some("g"), true);
        spec.requested_at = Some(MicroTime(t("2026-11-25T10:00:05Z")));
        let status = AgentRunStatus::default();
        let held = held_in("o/r");
        let waiting = sibling("waiting", "2026-11-25T10:00:01Z");
        let running = Sibling {
            launched: true,
            ..sibling("running", "2026-11-25T10:00:02Z")
        };
        let step = decide(
            RunView {
                capacity: &held,
                ..view("newer", &spec, &status)
            },
            &Workload::Absent,
            &[waiting, running],
            t("2026-11-25T10:00:06Z"),
        );
        assert_eq!(
            step.actions.first(),
            Some(&Action::Cancel {
                runs: vec!["waiting".into(), "running".into()],
                reason: CancelReason::SupersededBy("newer".into())
            })
        );
        assert_eq!(
            step.status.expect("a status").message.as_deref(),
            Some("queued: 1 ahead (limit: 1 running in o/r)")
        );
    }

    #[test]
    fn a_run_a_limit_holds_waits_queued_saying_where_it_stands_and_why() {
        let spec = spec(None, false);
        let status = AgentRunStatus::default();
        let held = held_in("o/r");
        let step = decide(
            RunView {
                capacity: &held,
                ..view("r", &spec, &status)
            },
            &Workload::Absent,
            &[],
            t("2026-11-25T10:00:01Z"),
        );
        assert!(!step.actions.contains(&Action::Apply));
        assert!(matches!(
            step.actions.as_slice(),
            [Action::Event {
                reason: EventReason::Queued,
                ..
            }]
        ));
        let queued = step.status.expect("a status");
        assert_eq!(queued.phase, Some(Phase::Queued));
        assert_eq!(
            queued.message.as_deref(),
            Some("queued: 2 ahead (limit: 1 running in o/r)")
        );
        assert_eq!(step.requeue, Some(CAPACITY_RECHECK));

        // A place further up: nothing is written, no event (runs list works it out).
        let closer = Turn::Wait {
            ahead: 0,
            held: Held::Repository {
                limit: 1,
                repository: "o/r".into(),
            },
        };
        let step = decide(
            RunView {
                capacity: &closer,
                ..view("r", &spec, &queued)
            },
            &Workload::Absent,
            &[],
            t("2026-11-25T10:00:09Z"),
        );
        assert_eq!((step.status, step.actions), (None, vec![]));

        // Held by the other limit now: said once more, with no second event.
        let all = Turn::Wait {
            ahead: 4,
            held: Held::Running { limit: 20 },
        };
        let step = decide(
            RunView {
                capacity: &all,
                ..view("r", &spec, &queued)
            },
            &Workload::Absent,
            &[],
            t("2026-11-25T10:00:10Z"),
        );
        assert!(step.actions.is_empty());
        let moved = step.status.expect("a status");
        assert_eq!(
            moved.message.as_deref(),
            Some("queued: 4 ahead in this repository (limit: 20 running)")
        );
        assert_eq!(
            moved
                .conditions
                .iter()
                .filter(|c| c.type_ == QUEUED)
                .map(|c| c.reason.as_str())
                .collect::<Vec<_>>(),
            [queue::RUNNING_LIMIT]
        );

        // A place frees: it launches, and the Queued condition goes.
        let step = decide(
            view("r", &spec, &moved),
            &Workload::Absent,
            &[],
            t("2026-11-25T10:01:00Z"),
        );
        assert_eq!(step.actions.first(), Some(&Action::Apply));
        let launched = step.status.expect("a status");
        assert_eq!(launched.phase, Some(Phase::Pending));
        assert!(launched.conditions.iter().all(|c| c.type_ != QUEUED));
    }

    #[test]
    fn a_limit_never_holds_a_run_already_launched_or_one_asked_to_stop() {
        let held = held_in("o/r");
        let spec_ = spec(None, false);
        let status = launched(1);
        let step = decide(
            RunView {
                capacity: &held,
                ..view("r", &spec_, &status)
            },
            &Workload::Running { since: None },
            &[],
            t("2026-11-25T10:00:30Z"),
        );
        assert_eq!(
            step.status.and_then(|s| s.phase.clone()),
            Some(Phase::Running)
        );

        let mut stopping = spec(None, false);
        stopping.cancel = Some("stopped by @octocat".into());
        let queued = AgentRunStatus {
            phase: Some(Phase::Queued),
            ..AgentRunStatus::default()
        };
        let step = decide(
            RunView {
                capacity: &held,
                ..view("r", &stopping, &queued)
            },
            &Workload::Absent,
            &[],
            t("2026-11-25T10:00:30Z"),
        );
        assert_eq!(
            step.status.and_then(|s| s.phase.clone()),
            Some(Phase::Cancelled)
        );
    }

    #[test]
    fn a_superseding_run_a_limit_holds_still_cancels_the_older_runs_of_its_group() {
        let mut spec = spec(Some("g"), true);
        spec.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            t("2026-11-25T10:00:05Z"),
        ));
        let status = AgentRunStatus::default();
        let held = held_in("o/r");
        let older = [sibling("older", "2026-11-25T10:00:01Z")];
        let step = decide(
            RunView {
                capacity: &held,
                ..view("newer", &spec, &status)
            },
            &Workload::Absent,
            &older,
            t("2026-11-25T10:00:06Z"),
        );
        assert_eq!(
            step.actions.first(),
            Some(&Action::Cancel {
                runs: vec!["older".into()],
                reason: CancelReason::SupersededBy("newer".into())
            })
        );
        assert!(!step.actions.contains(&Action::Apply));
        assert_eq!(
            step.status.and_then(|s| s.phase.clone()),
            Some(Phase::Queued)
        );
    }

    #[test]
    fn a_run_its_group_holds_waits_for_the_group_whatever_the_limits_say() {
        let mut spec = spec(Some("g"), false);
        spec.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            t("2026-11-25T10:00:05Z"),
        ));
        let status = AgentRunStatus::default();
        let held = held_in("o/r");
        let older = [sibling("older", "2026-11-25T10:00:01Z")];
        let step = decide(
            RunView {
                capacity: &held,
                ..view("newer", &spec, &status)
            },
            &Workload::Absent,
            &older,
            t("2026-11-25T10:00:06Z"),
        );
        let queued = step.status.expect("a status");
        assert!(
            queued
                .message
                .is_some_and(|m| m.contains("concurrency group")),
        );
        assert_eq!(step.requeue, Some(QUEUED_RECHECK));

        // One a limit held before, held by its group now, no longer says a limit holds it.
        let mut was_held = AgentRunStatus::default();
        wait_for_capacity(
            &mut was_held,
            &mut Step::default(),
            0,
            &Held::Running { limit: 1 },
            t("2026-11-25T10:00:05Z"),
        );
        let step = decide(
            view("newer", &spec, &was_held),
            &Workload::Absent,
            &older,
            t("2026-11-25T10:00:06Z"),
        );
        let regrouped = step.status.expect("a status");
        assert!(regrouped.conditions.iter().all(|c| c.type_ != QUEUED));
    }

    /// One reconcile of a run, told as a story: the run (its spec and status), what its
    /// workload shows, the other runs of its group, what the limits say, and the time;
    /// what comes of it ([`told`]).
    struct Row {
        story: &'static str,
        spec: fn() -> AgentRunSpec,
        status: fn() -> AgentRunStatus,
        workload: fn() -> Workload,
        siblings: fn() -> Vec<Sibling>,
        capacity: fn() -> Turn,
        now: &'static str,
        expect: &'static str,
    }

    /// A new run (no group, no limits), looked at a second after its creation.
    fn row() -> Row {
        Row {
            story: "",
            spec: || spec(None, false),
            status: AgentRunStatus::default,
            workload: || Workload::Absent,
            siblings: Vec::new,
            capacity: || Turn::Start,
            now: "2026-11-25T10:00:01Z",
            expect: "",
        }
    }

    /// The step in a few words: its actions (an event by its reason), `=>` the phase it
    /// writes (`unchanged`: no status write), and when it looks again.
    fn told(step: &Step) -> String {
        let actions: Vec<String> = step
            .actions
            .iter()
            .map(|a| match a {
                Action::Cancel { runs, .. } => format!("Cancel {}", runs.join(" ")),
                Action::DeleteWorkload => "DeleteWorkload".into(),
                Action::Apply => "Apply".into(),
                Action::Event { reason, .. } => format!("event {reason}"),
                Action::DeleteRun => "DeleteRun".into(),
            })
            .collect();
        let phase = match &step.status {
            None => "unchanged".to_string(),
            Some(s) => s
                .phase
                .clone()
                .map_or("no phase".into(), |p| format!("{p:?}")),
        };
        let again = step
            .requeue
            .map(|d| format!(", again in {}s", d.as_secs()))
            .unwrap_or_default();
        let actions = if actions.is_empty() {
            String::new()
        } else {
            format!("{} ", actions.join(", "))
        };
        format!("{actions}=> {phase}{again}")
    }

    /// A run of group `g` requested at 10:00:05 (`cancel`: with cancel_in_progress).
    fn grouped(cancel: bool) -> AgentRunSpec {
        let mut spec = spec(Some("g"), cancel);
        spec.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            t("2026-11-25T10:00:05Z"),
        ));
        spec
    }

    fn finished_at(at: &str) -> AgentRunStatus {
        AgentRunStatus {
            phase: Some(Phase::Succeeded),
            finish_time: Some(Time(t(at))),
            ..AgentRunStatus::default()
        }
    }

    fn ended(succeeded: bool, conclusion: Conclusion) -> Workload {
        Workload::Ended(Ending {
            succeeded,
            result: RunResult {
                conclusion,
                summary: "done\nin detail".into(),
            },
            started: Some(t("2026-11-25T10:00:30Z")),
        })
    }

    fn running() -> AgentRunStatus {
        AgentRunStatus {
            phase: Some(Phase::Running),
            start_time: Some(Time(t("2026-11-25T10:00:30Z"))),
            message: Some("the agent is running".into()),
            ..launched(1)
        }
    }

    /// Every branch of `decide`: a finished run kept and collected, a run asked to stop,
    /// the first launch (its group, cancel_in_progress, the limits), and each state of a
    /// launched run's workload (terminating, gone, lost, pending, running, ended), with
    /// the attempts and the timeouts.
    #[test]
    fn every_reconcile_of_a_run_comes_to_one_step() {
        let rows = [
            Row {
                story: "a finished run is kept until its replay guard, 3 days and an hour",
                status: || finished_at("2026-11-25T10:00:00Z"),
                now: "2026-11-25T11:00:00Z",
                expect: "=> unchanged, again in 259200s",
                ..row()
            },
            Row {
                story: "a finished run with a long TTL is kept for its TTL",
                spec: || AgentRunSpec {
                    limits: RunLimits {
                        ttl_seconds_after_finished: 7 * 24 * 3600,
                        ..RunLimits::default()
                    },
                    ..spec(None, false)
                },
                status: || finished_at("2026-11-25T10:00:00Z"),
                now: "2026-12-01T10:00:00Z",
                expect: "=> unchanged, again in 86400s",
                ..row()
            },
            Row {
                story: "past both, a finished run is deleted",
                status: || finished_at("2026-11-25T10:00:00Z"),
                now: "2026-11-28T11:00:00Z",
                expect: "DeleteRun => unchanged",
                ..row()
            },
            Row {
                story: "a run asked to stop is cancelled, whatever pod it may have",
                spec: || AgentRunSpec {
                    cancel: Some("stopped by @octocat".into()),
                    ..spec(None, false)
                },
                expect: "DeleteWorkload, event Cancelled => Cancelled, again in 86400s",
                ..row()
            },
            Row {
                story: "a new run is launched",
                expect: "Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "a newer run of a group waits for the older one",
                spec: || grouped(false),
                siblings: || vec![sibling("older", "2026-11-25T10:00:01Z")],
                now: "2026-11-25T10:00:06Z",
                expect: "event Queued => Queued, again in 10s",
                ..row()
            },
            Row {
                story: "still waiting for it: nothing written, no second event",
                spec: || grouped(false),
                status: || AgentRunStatus {
                    phase: Some(Phase::Queued),
                    message: Some("waiting for older of concurrency group \"g\" to finish".into()),
                    ..AgentRunStatus::default()
                },
                siblings: || vec![sibling("older", "2026-11-25T10:00:01Z")],
                now: "2026-11-25T10:00:16Z",
                expect: "=> unchanged, again in 10s",
                ..row()
            },
            Row {
                story: "an older run that finished holds nothing",
                spec: || grouped(false),
                siblings: || {
                    vec![Sibling {
                        finished: true,
                        ..sibling("older", "2026-11-25T10:00:01Z")
                    }]
                },
                now: "2026-11-25T10:00:06Z",
                expect: "Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "a newer run never waits for a newer one still",
                spec: || grouped(false),
                siblings: || vec![sibling("newest", "2026-11-25T10:00:09Z")],
                now: "2026-11-25T10:00:06Z",
                expect: "Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "with cancel_in_progress, the newer run cancels the older and launches",
                spec: || grouped(true),
                siblings: || vec![sibling("older", "2026-11-25T10:00:01Z")],
                now: "2026-11-25T10:00:06Z",
                expect: "Cancel older, Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "with cancel_in_progress, a newer run in the group supersedes this one",
                spec: || grouped(true),
                siblings: || {
                    vec![
                        sibling("older", "2026-11-25T10:00:01Z"),
                        sibling("newest", "2026-11-25T10:00:09Z"),
                    ]
                },
                now: "2026-11-25T10:00:06Z",
                expect: "Cancel mid => unchanged, again in 10s",
                ..row()
            },
            Row {
                story: "an older run already asked to stop is not asked again",
                spec: || grouped(true),
                siblings: || {
                    vec![Sibling {
                        cancel_requested: true,
                        ..sibling("older", "2026-11-25T10:00:01Z")
                    }]
                },
                now: "2026-11-25T10:00:06Z",
                expect: "Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "a limit holds a new run: queued, saying where it stands",
                capacity: || Turn::Wait {
                    ahead: 2,
                    held: Held::Running { limit: 1 },
                },
                expect: "event Queued => Queued, again in 300s",
                ..row()
            },
            Row {
                story: "a run the limits leave to its group, and no older run: launched",
                capacity: || Turn::Group,
                expect: "Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "a pod being deleted is waited for",
                status: || launched(1),
                workload: || Workload::Terminating,
                expect: "=> unchanged, again in 2s",
                ..row()
            },
            Row {
                story: "a pod gone without an ending is replaced by the next attempt",
                status: || launched(1),
                expect: "event Retrying, Apply, event Launched => Pending, again in 600s",
                ..row()
            },
            Row {
                story: "gone at the last attempt: the run fails",
                status: || launched(3),
                expect: "event Failed => Failed",
                ..row()
            },
            Row {
                story: "a lost pod is deleted, to be replaced once it is gone",
                status: || launched(1),
                workload: || Workload::Lost {
                    reason: "Evicted".into(),
                },
                expect: "DeleteWorkload, event PodLost => Pending, again in 2s",
                ..row()
            },
            Row {
                story: "lost at the last attempt: the run fails",
                status: || launched(3),
                workload: || Workload::Lost {
                    reason: "Evicted".into(),
                },
                expect: "DeleteWorkload, event Failed => Failed",
                ..row()
            },
            Row {
                story: "a pending pod is looked at again when its pending timeout ends",
                status: || launched(1),
                workload: || Workload::Pending,
                now: "2026-11-25T10:01:00Z",
                expect: "=> unchanged, again in 540s",
                ..row()
            },
            Row {
                story: "a pod pending past its timeout is deleted and the run timed out",
                status: || launched(1),
                workload: || Workload::Pending,
                now: "2026-11-25T10:10:00Z",
                expect: "DeleteWorkload, event TimedOut => TimedOut",
                ..row()
            },
            Row {
                story: "a pod seen running for the first time: the run is running",
                status: || launched(1),
                workload: || Workload::Running {
                    since: Some(t("2026-11-25T10:00:30Z")),
                },
                now: "2026-11-25T10:01:00Z",
                expect: "event Started => Running, again in 3570s",
                ..row()
            },
            Row {
                story: "still running: looked at again when its timeout ends",
                status: running,
                workload: || Workload::Running { since: None },
                now: "2026-11-25T10:30:30Z",
                expect: "=> unchanged, again in 1800s",
                ..row()
            },
            Row {
                story: "running past its timeout: deleted, timed out",
                status: running,
                workload: || Workload::Running { since: None },
                now: "2026-11-25T11:00:30Z",
                expect: "DeleteWorkload, event TimedOut => TimedOut",
                ..row()
            },
            Row {
                story: "a pod that ended well: the run succeeded",
                status: running,
                workload: || ended(true, Conclusion::Success),
                now: "2026-11-25T10:20:00Z",
                expect: "event Succeeded => Succeeded, again in 86400s",
                ..row()
            },
            Row {
                story: "a pod that exited well but reported a failure: the run failed",
                status: running,
                workload: || ended(true, Conclusion::Failure),
                now: "2026-11-25T10:20:00Z",
                expect: "event Failed => Failed, again in 86400s",
                ..row()
            },
            Row {
                story: "a pod that failed: the run failed",
                status: || launched(1),
                workload: || ended(false, Conclusion::Neutral),
                now: "2026-11-25T10:20:00Z",
                expect: "event Failed => Failed, again in 86400s",
                ..row()
            },
        ];
        let mut wrong = Vec::new();
        for row in &rows {
            let (spec, status, workload) = ((row.spec)(), (row.status)(), (row.workload)());
            let (siblings, capacity) = ((row.siblings)(), (row.capacity)());
            let step = decide(
                RunView {
                    capacity: &capacity,
                    ..view("mid", &spec, &status)
                },
                &workload,
                &siblings,
                t(row.now),
            );
            let found = told(&step);
            if found != row.expect {
                wrong.push(format!(
                    "{}:\n  expected {}\n  got      {found}\n  {step:?}",
                    row.story, row.expect
                ));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }
}
