//! A maintainer's approval of a fork pull request's head, as the planner sees it: who
//! approved which exact commit, and when. The edges fill [`Facts::approvals`] from the
//! service's own records (`crate::ports::approvals`: an `AgentApproval` object, or memory),
//! never from a comment; whether an approval stands for the head that would run is decided
//! here, by the pure planner.
//!
//! [`Facts::approvals`]: super::Facts::approvals

use k8s_openapi::jiff::Timestamp;

/// One approval the service recorded for a fork pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The commit approved, as recorded: a full 40-hex SHA (the intake records no less).
    pub sha: String,
    /// The approver's GitHub login.
    pub approved_by: String,
    /// When it was given: the service's record of it, or, for the approval a comment is
    /// giving now, when the comment was written (`None` if GitHub did not say).
    pub approved_at: Option<Timestamp>,
}

impl Approval {
    /// Whether this approval is of exactly `head`: the full commit, not a prefix of it and
    /// not an earlier head of the pull request. Case does not matter.
    pub fn stands_for(&self, head: &str) -> bool {
        names_exactly(&self.sha, head)
    }
}

/// Whether some approval among `approvals` stands for `head` (see [`Approval::stands_for`]).
pub(super) fn approves(approvals: &[Approval], head: &str) -> bool {
    approvals.iter().any(|a| a.stands_for(head))
}

/// Whether `recorded` names commit `head` exactly: both a full 40-character SHA, equal
/// but for case. The one rule for a recorded approval (the store's dedup uses it too).
pub fn names_exactly(recorded: &str, head: &str) -> bool {
    head.len() == 40 && recorded.eq_ignore_ascii_case(head)
}
