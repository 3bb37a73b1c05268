//! The Kubernetes Events the controller publishes about a run: their reasons, one list
//! (review 12w, R41). Operators filter and alert on them (`kubectl get events
//! --field-selector reason=LeftForNewerVersion`), so each is spelled once, here, and
//! docs/operations.md ("Events") lists them all (`docs_sync` holds the two to each other).

use std::fmt;

/// Why the controller published an Event about a run: its `reason`, and with it whether
/// the Event is a `Warning` or `Normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReason {
    /// Queued: a concurrency group or a limit holds the run back (`Normal`).
    Queued,
    /// The run's objects are applied, for an attempt (`Normal`).
    Launched,
    /// The agent's pod is running (`Normal`).
    Started,
    /// The lost pod is gone and the run is attempted again (`Warning`).
    Retrying,
    /// The pod was lost (evicted, its node gone) with attempts left: it is deleted, and a
    /// `Retrying` follows (`Warning`).
    PodLost,
    /// The run is over its timeout (`Warning`).
    TimedOut,
    /// The run ended failed, or its pod was lost on its last attempt (`Warning`).
    Failed,
    /// The run ended succeeded (`Normal`).
    Succeeded,
    /// The run was cancelled (`spec.cancel`) (`Normal`).
    Cancelled,
    /// A field of the run's spec does not read; the run ends Failed (`Warning`).
    SpecUnreadable,
    /// The run's templates do not render from its stored source; the run ends Failed
    /// (`Warning`).
    RenderFailed,
    /// A newer agentpods recorded the run; it is left for the newer controller
    /// (`Warning`).
    LeftForNewerVersion,
}

impl EventReason {
    /// Every reason, in the order docs/operations.md lists them.
    pub const ALL: [EventReason; 12] = [
        EventReason::Queued,
        EventReason::Launched,
        EventReason::Started,
        EventReason::Retrying,
        EventReason::PodLost,
        EventReason::TimedOut,
        EventReason::Failed,
        EventReason::Succeeded,
        EventReason::Cancelled,
        EventReason::SpecUnreadable,
        EventReason::RenderFailed,
        EventReason::LeftForNewerVersion,
    ];

    /// The Event's `reason`, as published.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Queued => "Queued",
            EventReason::Launched => "Launched",
            EventReason::Started => "Started",
            EventReason::Retrying => "Retrying",
            EventReason::PodLost => "PodLost",
            EventReason::TimedOut => "TimedOut",
            EventReason::Failed => "Failed",
            EventReason::Succeeded => "Succeeded",
            EventReason::Cancelled => "Cancelled",
            EventReason::SpecUnreadable => "SpecUnreadable",
            EventReason::RenderFailed => "RenderFailed",
            EventReason::LeftForNewerVersion => "LeftForNewerVersion",
        }
    }

    /// Whether the Event is a `Warning` (else `Normal`): something went wrong with the run.
    pub fn is_warning(self) -> bool {
        match self {
            EventReason::Queued
            | EventReason::Launched
            | EventReason::Started
            | EventReason::Succeeded
            | EventReason::Cancelled => false,
            EventReason::Retrying
            | EventReason::PodLost
            | EventReason::TimedOut
            | EventReason::Failed
            | EventReason::SpecUnreadable
            | EventReason::RenderFailed
            | EventReason::LeftForNewerVersion => true,
        }
    }
}

impl fmt::Display for EventReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
