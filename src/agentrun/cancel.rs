//! Why a run is asked to stop: the one vocabulary of `spec.cancel`, which each run records
//! as text and `agentpods runs`, the run's status and GitHub show. Whoever cancels (the
//! intake's `/agent stop` and a closed pull request, the controller's supersede,
//! `agentpods runs cancel`) says it in these words, through [`CancelReason`]'s `Display`.

use crate::github::event::Login;
use crate::ids::IssueNumber;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// `/agent stop`, written by this login.
    StoppedBy(Login),
    /// The pull request of this number was closed.
    PullRequestClosed(IssueNumber),
    /// A newer run of its concurrency group, with `cancel_in_progress`, named so. The
    /// AgentRun's object name as the cluster has it: a run made by hand may have any
    /// Kubernetes name, not only the DNS label `names::RunName` the planner makes.
    SupersededBy(String),
    /// `agentpods runs cancel`, run by this user of the machine (`$USER`), if known.
    Cancelled { by: Option<String> },
    /// `agentpods runs cancel --reason`: the operator's own words, recorded as they are.
    Given(String),
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelReason::StoppedBy(login) => write!(f, "stopped by @{login}"),
            CancelReason::PullRequestClosed(number) => {
                write!(f, "pull request #{number} was closed")
            }
            CancelReason::SupersededBy(run) => write!(f, "superseded by {run}"),
            CancelReason::Cancelled { by: Some(user) } => {
                write!(f, "cancelled with `agentpods runs cancel` by {user}")
            }
            CancelReason::Cancelled { by: None } => {
                f.write_str("cancelled with `agentpods runs cancel`")
            }
            CancelReason::Given(words) => f.write_str(words),
        }
    }
}

impl CancelReason {
    /// Who or what asked, for a note that nothing was stopped: "`stop` by @login".
    pub fn asked(&self) -> String {
        match self {
            CancelReason::StoppedBy(login) => format!("`stop` by @{login}"),
            CancelReason::PullRequestClosed(_)
            | CancelReason::SupersededBy(_)
            | CancelReason::Cancelled { .. }
            | CancelReason::Given(_) => self.to_string(),
        }
    }

    /// `agentpods runs cancel`'s reason: the words given, else who ran it (`user`, blank
    /// taken as unknown).
    pub fn of_cli(given: Option<String>, user: Option<&str>) -> CancelReason {
        match given {
            Some(words) => CancelReason::Given(words),
            None => CancelReason::Cancelled {
                by: user
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CancelReason;

    /// Every cancel's words, as runs have always recorded them in `spec.cancel`.
    #[test]
    fn each_reason_says_what_runs_have_always_recorded() {
        let said = [
            (
                CancelReason::StoppedBy("octocat".into()),
                "stopped by @octocat",
            ),
            (
                CancelReason::PullRequestClosed(crate::ids::IssueNumber(2)),
                "pull request #2 was closed",
            ),
            (
                CancelReason::SupersededBy("review-pr2-0a1b2c3d".into()),
                "superseded by review-pr2-0a1b2c3d",
            ),
            (
                CancelReason::of_cli(None, Some("alice")),
                "cancelled with `agentpods runs cancel` by alice",
            ),
            (
                CancelReason::of_cli(None, Some(" ")),
                "cancelled with `agentpods runs cancel`",
            ),
            (
                CancelReason::of_cli(None, None),
                "cancelled with `agentpods runs cancel`",
            ),
            (
                CancelReason::of_cli(Some("flaky".into()), Some("alice")),
                "flaky",
            ),
        ];
        for (reason, words) in said {
            assert_eq!(reason.to_string(), words, "{reason:?}");
        }
    }
}
