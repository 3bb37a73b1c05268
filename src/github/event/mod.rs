//! Our own typed model of GitHub webhook deliveries.
//!
//! [`parse`] turns the `X-GitHub-Event` header value and the raw request body into a
//! [`WebhookEvent`]. GitHub's JSON shape stays inside this module: the body is
//! deserialized straight from the byte slice into private wire structs (unknown
//! fields skipped, never buffered), which are then moved into the public types.
//!
//! Known events (`pull_request`, `issue_comment`, `issues`, `push`, `release`,
//! `ping`) are parsed strictly: a missing required field, a value of the wrong type,
//! a malformed commit SHA or repository name is an [`EventError::Shape`] naming the
//! offending field (for example `pull_request.head.sha`). Any other event name gives
//! [`Event::Other`], for which only `action`, `repository`, `sender` and
//! `installation.id` are read, leniently (a malformed one reads as absent).
//!
//! Error messages never quote more than a few dozen characters of the body, so a
//! hostile payload cannot flood the logs, and no input makes this module panic.
//!
//! The model is here; the rest by what it holds: `parse` (the entry point and the
//! envelope rules), `wire` (GitHub's JSON shape, private), `ids` (`RepoFullName`,
//! `CommitSha`), `actions` (the string enums: actions, author association) and `error`.

mod actions;
mod error;
mod ids;
mod parse;
#[cfg(test)]
mod tests;
mod wire;

pub use actions::{
    AccountKind, AuthorAssociation, CheckRunAction, CheckSuiteAction, IssueCommentAction,
    IssuesAction, PullRequestAction, ReleaseAction,
};
pub use error::{EventError, ValueError};
pub use ids::{
    CommitSha, Login, LoginKey, MAX_OWNER_LEN, MAX_REPO_NAME_LEN, RepoFullName, RepoKey,
};
pub use parse::parse;

use crate::ids::CommentId;

/// A GitHub account: a person, a bot or an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name, e.g. `octocat` or `dependabot[bot]`.
    pub login: Login,
    /// Numeric account id (stable across renames).
    pub id: u64,
    /// GitHub's `type`: `User`, `Bot` or `Organization`.
    pub kind: AccountKind,
}

impl User {
    /// Whether the account is a bot: GitHub's `type` says so (`Bot`), or its login is an
    /// App's (`name[bot]`).
    pub fn is_bot(&self) -> bool {
        self.kind == AccountKind::Bot || self.login.as_str().ends_with("[bot]")
    }
}

/// The repository an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// `owner/name`.
    pub full_name: RepoFullName,
    /// The owner's login.
    pub owner: String,
    /// The repository name.
    pub name: String,
    /// HTTPS clone URL.
    pub clone_url: String,
    /// Web page.
    pub html_url: String,
    /// Default branch, e.g. `main`.
    pub default_branch: String,
    /// Private (or internal) repository.
    pub private: bool,
    /// This repository is itself a fork.
    pub fork: bool,
}

/// One end (head or base) of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEnd {
    /// Branch name (no `refs/heads/` prefix).
    pub ref_name: String,
    /// The commit this end points at.
    pub sha: CommitSha,
    /// The repository holding the branch; `None` when it has been deleted.
    pub repo: Option<RepoFullName>,
    /// That repository's HTTPS clone URL; `None` when it has been deleted.
    pub clone_url: Option<String>,
}

/// A pull request as carried by a `pull_request` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    /// Description; empty when GitHub sends `null`.
    pub body: String,
    pub draft: bool,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub user: User,
    pub author_association: AuthorAssociation,
    /// Label names.
    pub labels: Vec<String>,
    pub head: PullRequestEnd,
    pub base: PullRequestEnd,
    pub html_url: String,
    /// When it was closed, if it is (the signed payload's `closed_at`): a closed pull
    /// request stops the runs recorded until then, not those of a later reopening.
    pub closed_at: Option<k8s_openapi::jiff::Timestamp>,
}

impl PullRequest {
    /// True when the head branch lives in another repository than the base branch
    /// (compared case-insensitively), or when the head repository is gone. Code from
    /// such a pull request must be treated as untrusted.
    pub fn is_fork(&self) -> bool {
        match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => !head.as_str().eq_ignore_ascii_case(base.as_str()),
            _ => true,
        }
    }
}

/// An issue (or, in `issue_comment` events, possibly a pull request seen as an issue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    /// Description; empty when GitHub sends `null`.
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    pub user: User,
    pub author_association: AuthorAssociation,
    /// `open` or `closed`.
    pub state: String,
    /// The issue is a pull request (GitHub's issue carries a `pull_request` object).
    pub is_pull_request: bool,
    pub html_url: String,
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: CommentId,
    /// Text; empty when GitHub sends `null`.
    pub body: String,
    pub user: User,
    pub author_association: AuthorAssociation,
    pub html_url: String,
    /// When GitHub says it was written (its signed payload's `created_at`); `None` when
    /// absent or unreadable. An `approve` without a SHA binds to the head as it was then.
    pub created_at: Option<k8s_openapi::jiff::Timestamp>,
}

/// A release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub tag_name: String,
    /// Title; empty when GitHub sends `null`.
    pub name: String,
    /// Notes; empty when GitHub sends `null`.
    pub body: String,
    pub draft: bool,
    pub prerelease: bool,
    pub html_url: String,
    /// Branch or commit the tag is created from.
    pub target_commitish: String,
}

/// `pull_request` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub number: u64,
    pub pull_request: PullRequest,
    /// The label added or removed (`labeled` / `unlabeled`).
    pub label: Option<String>,
    /// Head before the push (`synchronize`).
    pub before: Option<CommitSha>,
    /// Head after the push (`synchronize`).
    pub after: Option<CommitSha>,
}

/// `issue_comment` event (comments on issues and on pull requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCommentEvent {
    pub action: IssueCommentAction,
    pub issue: Issue,
    pub comment: Comment,
}

/// `issues` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuesEvent {
    pub action: IssuesAction,
    pub issue: Issue,
    /// The label added or removed (`labeled` / `unlabeled`).
    pub label: Option<String>,
}

/// `push` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Full ref, e.g. `refs/heads/main` or `refs/tags/v1`.
    pub git_ref: String,
    /// All zeros when the ref was created.
    pub before: CommitSha,
    /// All zeros when the ref was deleted.
    pub after: CommitSha,
    pub created: bool,
    pub deleted: bool,
    pub forced: bool,
    /// `None` when there is no head commit (e.g. the ref was deleted).
    pub head_commit_message: Option<String>,
    /// Name of the account that pushed.
    pub pusher: String,
}

/// `release` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseEvent {
    pub action: ReleaseAction,
    pub release: Release,
}

/// `ping` event, sent when a webhook is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingEvent {
    pub zen: String,
    pub hook_id: u64,
}

/// A check run, as a `check_run` event names it: only what says whose it is and which
/// run of ours it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: CommitSha,
    /// What its App put there: agentpods puts the name of the run it reports.
    pub external_id: Option<String>,
    /// The App that created it (`None` when GitHub names none).
    pub app_id: Option<u64>,
}

/// `check_run` event; `rerequested` is someone pressing "Re-run" on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunEvent {
    pub action: CheckRunAction,
    pub check_run: CheckRun,
}

/// `check_suite` event; `rerequested` is someone pressing "Re-run all checks".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSuiteEvent {
    pub action: CheckSuiteAction,
    pub id: u64,
    pub head_sha: CommitSha,
    /// The App whose suite it is.
    pub app_id: Option<u64>,
}

/// The event-specific part of a delivery. The model has no serde derives: GitHub's shape
/// is read by the private `wire` types, and what a run stores has types of its own
/// (`agentrun::source`), so a rename here is the compiler's to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PullRequest(PullRequestEvent),
    IssueComment(IssueCommentEvent),
    Issues(IssuesEvent),
    Push(PushEvent),
    Release(ReleaseEvent),
    Ping(PingEvent),
    CheckRun(CheckRunEvent),
    CheckSuite(CheckSuiteEvent),
    /// Any event this module does not model.
    Other {
        /// The event name.
        name: String,
        /// Its `action`, when it has one.
        action: Option<String>,
    },
}

/// One webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The `X-GitHub-Event` header.
    pub name: String,
    pub event: Event,
    pub repository: Option<Repository>,
    pub sender: Option<User>,
    /// The GitHub App installation the delivery is for.
    pub installation_id: Option<u64>,
    /// When GitHub says the event happened, from its signed body: a comment's
    /// `created_at`; a pull request's or issue's `updated_at`; a release's `published_at`
    /// or `created_at` (the later); a push's `repository.pushed_at`. `None` for other
    /// events, or when the field is absent or unreadable. A delivery is known by its body,
    /// so this is how old a replayed body is (see `plan::stale`).
    pub signed_at: Option<k8s_openapi::jiff::Timestamp>,
}

impl WebhookEvent {
    /// The event's `action` in GitHub's spelling (`None` for `push` and `ping`).
    pub fn action(&self) -> Option<&str> {
        match &self.event {
            Event::PullRequest(e) => Some(e.action.as_str()),
            Event::IssueComment(e) => Some(e.action.as_str()),
            Event::Issues(e) => Some(e.action.as_str()),
            Event::Release(e) => Some(e.action.as_str()),
            Event::CheckRun(e) => Some(e.action.as_str()),
            Event::CheckSuite(e) => Some(e.action.as_str()),
            Event::Push(_) | Event::Ping(_) => None,
            Event::Other { action, .. } => action.as_deref(),
        }
    }

    /// The pull request the event is about: a `pull_request` event's own, else `fetched`,
    /// the one a comment is on as the intake fetched it (the payload of a comment holds
    /// only its number). The one place that says so: the intake's facts, the stored run's
    /// source and its record all ask here. One arm an event kind, no catch-all: a new kind
    /// that carries a pull request of its own says so here.
    pub fn pull_request_about<'a>(
        &'a self,
        fetched: Option<&'a PullRequest>,
    ) -> Option<&'a PullRequest> {
        match &self.event {
            Event::PullRequest(e) => Some(&e.pull_request),
            Event::IssueComment(_)
            | Event::Issues(_)
            | Event::Push(_)
            | Event::Release(_)
            | Event::Ping(_)
            | Event::CheckRun(_)
            | Event::CheckSuite(_)
            | Event::Other { .. } => fetched,
        }
    }
}
