//! The replay window: how old, by the time GitHub signed, a delivery may be and still act,
//! and how long the controller keeps a run so that a replay of its delivery finds it.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::github::event::{Event, WebhookEvent};

/// How old, by its signed time, a delivery may be and still act. A delivery is known by
/// its signed body, and the signature is GitHub's: whoever captured one (a proxy's log)
/// can send it again, under a new delivery id, at any time. Within this window the run it
/// started is still there to find (the controller keeps every AgentRun at least
/// [`REPLAY_GUARD`] after its creation, whatever its TTL), so the replay finds it and
/// launches nothing; past it, the delivery is stale and does nothing at all. Three days:
/// GitHub redelivers nothing older (catch-up looks back as far), so no genuine delivery
/// is older than that when it reaches us.
pub const REPLAY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// How far GitHub's clock (which writes the signed times) and the cluster's (which writes
/// an AgentRun's creation time) may disagree without opening a gap between the two
/// guards.
pub const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long the controller keeps a finished AgentRun after its creation, at least: the
/// replay window and the clocks' skew. A delivery is launched only within the window of
/// its signed time, so its run outlives the window, and a replay finds it.
pub const REPLAY_GUARD: std::time::Duration =
    std::time::Duration::from_secs(REPLAY_WINDOW.as_secs() + CLOCK_SKEW.as_secs());

/// Why a delivery is too old to act on: it may be a captured body sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The field the time was read from (`comment.created_at`, …).
    pub field: &'static str,
    /// What it says, when it says anything.
    pub signed_at: Option<Timestamp>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // In words, as docs/operations.md gives it (`3 days`, not humantime's `3days`).
        let days = REPLAY_WINDOW.as_secs() / (24 * 3600);
        match self.signed_at {
            Some(at) => write!(
                f,
                "stale: its {} ({at}) is older than the replay window of {days} days; a \
                 delivery that old may be a captured one sent again, so nothing is done",
                self.field
            ),
            None => write!(
                f,
                "stale: it carries no readable {}, so its age cannot be told; nothing is done",
                self.field
            ),
        }
    }
}

/// Whether `event` is too old to act on at `now` (see [`REPLAY_WINDOW`]). Every event
/// that can start a run carries a time GitHub signed: a comment's `created_at`, a pull
/// request's or issue's `updated_at`, a release's `published_at` or `created_at`, a push's
/// `repository.pushed_at` (see [`WebhookEvent::signed_at`]). Other events start nothing of
/// their own and are never stale (a `check_run` "Re-run" is named after its signed body and
/// needs the run it re-runs, which is collected no later than the re-run). A time ahead of
/// `now` is GitHub's clock, not an attacker's, and is taken. Pure.
///
/// One arm an event kind, no catch-all: a new kind is a compile error here until it is
/// given its replay window (its signed field), or said to start nothing of its own.
pub fn stale(event: &WebhookEvent, now: Timestamp) -> Option<Stale> {
    let field = match &event.event {
        Event::IssueComment(_) => "comment.created_at",
        Event::PullRequest(_) => "pull_request.updated_at",
        Event::Issues(_) => "issue.updated_at",
        Event::Release(_) => "release.published_at",
        Event::Push(_) => "repository.pushed_at",
        Event::CheckRun(_) | Event::CheckSuite(_) | Event::Ping(_) | Event::Other { .. } => {
            return None;
        }
    };
    let window = SignedDuration::try_from(REPLAY_WINDOW).unwrap_or(SignedDuration::MAX);
    match event.signed_at {
        Some(at) if now.duration_since(at) <= window => None,
        Some(at) => Some(Stale {
            field,
            signed_at: Some(at),
        }),
        None => Some(Stale {
            field,
            signed_at: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::stale;
    use crate::plan::table::event;

    /// A delivery older than the replay window is stale; one inside it, or from the
    /// future (GitHub's clock ahead of ours), is not; one that should carry a signed time
    /// and does not is stale; one that starts nothing of its own never is (issue 11, F7).
    #[test]
    fn a_delivery_older_than_the_replay_window_is_stale() {
        use k8s_openapi::jiff::Timestamp;
        let mut comment = event("webhooks/issue_comment/created.json", "o/r", None);
        let written: Timestamp = "2019-05-15T15:20:21Z".parse().expect("a time");
        assert_eq!(comment.signed_at, Some(written));
        let at = |s: &str| s.parse::<Timestamp>().expect("a time");
        assert_eq!(stale(&comment, at("2019-05-18T15:20:21Z")), None);
        assert_eq!(stale(&comment, at("2019-05-10T00:00:00Z")), None);
        let old = stale(&comment, at("2019-05-18T15:20:22Z")).expect("stale");
        assert_eq!(old.field, "comment.created_at");
        assert!(
            old.to_string()
                .contains("older than the replay window of 3 days; a delivery"),
            "{old}"
        );
        comment.signed_at = None;
        let unknown = stale(&comment, at("2019-05-15T15:20:22Z")).expect("stale");
        assert!(
            unknown
                .to_string()
                .contains("no readable comment.created_at"),
            "{unknown}"
        );
        let ping = event("webhooks/ping/0.json", "o/r", None);
        assert_eq!(stale(&ping, at("2030-01-01T00:00:00Z")), None);
    }
}
