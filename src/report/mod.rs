//! Reports: a run's lifecycle turned into GitHub writes.
//!
//! The core is pure: [`writes`] says, for a run at a stage, which check run or commit
//! status and which comment body GitHub should show. [`Reporter`] carries the writes out
//! with the client and keeps what it [`Posted`] (stored in the AgentRun's status) so that a
//! restarted service edits what exists instead of posting again; without refs it finds its
//! comment by the hidden marker `<!-- agentpods:run=NAME -->` and its check run by the
//! run's name as external id.
//!
//! What the agent writes is untrusted: [`neutralise`] keeps it from pinging people,
//! injecting HTML (or a forged marker) or overflowing GitHub's limits.
//!
//! By what it does: `writes.rs` (the pure core: a stage's check run or commit status and
//! its conclusion), `comment.rs` (the run's comment, rendered or plain, and the `/agent
//! status` answer), `neutralise.rs` (untrusted text made safe), `reporter.rs` (the writes
//! carried out: check runs, comments, reactions).

use std::time::SystemTime;

use crate::github::event::{CommitSha, RepoFullName};
use crate::github_client::GithubError;
use crate::ids::{CheckRunId, CommentId, IssueNumber};

mod comment;
mod neutralise;
mod reporter;
mod writes;

pub use comment::{CommentTemplate, status_body};
pub use neutralise::{neutralise, quoted};
pub use reporter::Reporter;
pub use writes::{Writes, writes};

/// What a run's reports created on GitHub, so that the next report edits them instead of
/// posting again (the controller keeps it in the run's status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Posted {
    pub check_run_id: Option<CheckRunId>,
    pub comment_id: Option<CommentId>,
    /// The commit status's context, when one was set.
    pub status_context: Option<String>,
    /// Nothing was posted for this run that these ids do not name (the caller kept every
    /// id it got, and no one else reported the run): create without looking first. False,
    /// the default, looks for a check run or comment of the run before creating one.
    pub fresh: bool,
}

/// GitHub refuses a comment body longer than this (characters).
pub const COMMENT_LIMIT: usize = 65536;

/// What an agent's summary may take of it; the template and the marker need the rest.
pub const SUMMARY_LIMIT: usize = 60000;

/// The hidden line that identifies the comment of a run.
pub fn marker(run_name: &str) -> String {
    format!("<!-- agentpods:run={run_name} -->")
}

/// The run, as reports need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub repo: RepoFullName,
    /// The run's name (the AgentRun's).
    pub name: String,
    pub agent: String,
    /// The pull request or issue the comment goes on, if any.
    pub number: Option<IssueNumber>,
    /// The commit the check run or status goes on, if any.
    pub head_sha: Option<CommitSha>,
    /// A check run on `head_sha` (`github.report.check_run`), or, with a token (no GitHub
    /// App, no check runs), a commit status.
    pub check_run: bool,
    /// A commit status on `head_sha` whatever the auth (`github.report.commit_status`).
    pub commit_status: bool,
    pub requested_by: Option<String>,
    /// A page about the run (status page, logs).
    pub details_url: Option<String>,
    /// The command prefix shown in hints, e.g. `/agent`.
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Queued,
    /// Queued while a capacity limit holds it: `why` says where it stands and which limit,
    /// `3 ahead (limit: 3 running in my-org/api)`. Told once, when it begins to wait.
    Waiting {
        why: String,
    },
    Started {
        at: SystemTime,
    },
    Finished {
        started_at: Option<SystemTime>,
        at: SystemTime,
        /// The run's conclusion, one of GitHub's check conclusions.
        conclusion: crate::agentrun::Conclusion,
        /// The agent's own words: untrusted.
        summary: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Github(#[from] GithubError),
}
