//! GitHub: webhook verification and decoding, webhook events as our own types, and the
//! comment command grammar.

pub mod command;
pub mod event;
pub(crate) mod event_names;
pub mod permission;
pub mod refname;
pub mod webhook;

/// The check run's name and the commit status's context prefix: agentpods' runs show on
/// GitHub as `agentpods/<agent>`, and a check run of that name is one of ours.
pub const CHECK_NAME: &str = "agentpods";

/// A check run's conclusion, as the GitHub client writes one: GitHub's own list, no other
/// word. (The stored run's `agentrun::Conclusion` also reads a word a newer agentpods
/// wrote; `report` maps it to this at the edge that has both.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    Skipped,
    TimedOut,
    ActionRequired,
}

impl CheckConclusion {
    /// Every conclusion, in GitHub's order.
    pub const ALL: [CheckConclusion; 7] = [
        CheckConclusion::Success,
        CheckConclusion::Failure,
        CheckConclusion::Neutral,
        CheckConclusion::Cancelled,
        CheckConclusion::Skipped,
        CheckConclusion::TimedOut,
        CheckConclusion::ActionRequired,
    ];

    /// GitHub's spelling: `success`, `timed_out`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckConclusion::Success => "success",
            CheckConclusion::Failure => "failure",
            CheckConclusion::Neutral => "neutral",
            CheckConclusion::Cancelled => "cancelled",
            CheckConclusion::Skipped => "skipped",
            CheckConclusion::TimedOut => "timed_out",
            CheckConclusion::ActionRequired => "action_required",
        }
    }
}

impl std::fmt::Display for CheckConclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GitHub's check run conclusions in its spelling, [`CheckConclusion::ALL`] as words, as a
/// finished run's report carries them (the stored run reads them into
/// `agentrun::Conclusion`, which holds to this list).
pub const CONCLUSIONS: [&str; 7] = {
    let mut words = [""; 7];
    let mut i = 0;
    while i < words.len() {
        words[i] = CheckConclusion::ALL[i].as_str();
        i += 1;
    }
    words
};
