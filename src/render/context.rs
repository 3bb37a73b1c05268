//! What templates see of a delivery: the operator's template interface, in serde types of
//! its own, field by field the names docs/templates.md documents (`repo.full_name`,
//! `pr.head.ref`, `issue.labels`, …), built from the webhook model by the explicit
//! conversions below.
//!
//! Operators' templates, and every run stored before an upgrade (rendered again by the
//! new controller), read these names, so they must not change when the webhook model
//! does: renaming a field of `github::event` fails to compile here, and renaming one of
//! these fails `tests/it/docs_sync.rs` (docs/templates.md, and the frozen list of the
//! fields templates could read, `tests/fixtures/template_fields.txt`).

use serde::Serialize;

use crate::github::event::{Issue, PullRequest, PullRequestEnd, Release, Repository, User};

/// `repo`.
#[derive(Debug, Serialize)]
pub(super) struct RepoContext<'a> {
    pub full_name: &'a str,
    pub owner: &'a str,
    pub name: &'a str,
    pub clone_url: &'a str,
    pub html_url: &'a str,
    pub default_branch: &'a str,
    pub private: bool,
    pub fork: bool,
}

impl<'a> From<&'a Repository> for RepoContext<'a> {
    fn from(r: &'a Repository) -> Self {
        RepoContext {
            full_name: r.full_name.as_str(),
            owner: &r.owner,
            name: &r.name,
            clone_url: &r.clone_url,
            html_url: &r.html_url,
            default_branch: &r.default_branch,
            private: r.private,
            fork: r.fork,
        }
    }
}

/// `sender`, `pr.user`, `issue.user`, `comment.user`.
#[derive(Debug, Serialize)]
pub(super) struct UserContext<'a> {
    pub login: &'a str,
    pub id: u64,
    pub kind: &'a str,
}

impl<'a> From<&'a User> for UserContext<'a> {
    fn from(u: &'a User) -> Self {
        UserContext {
            login: u.login.as_str(),
            id: u.id,
            kind: u.kind.as_str(),
        }
    }
}

/// `pr.head`, `pr.base`.
#[derive(Debug, Serialize)]
pub(super) struct RefContext<'a> {
    #[serde(rename = "ref")]
    pub git_ref: &'a str,
    pub sha: &'a str,
    pub repo: Option<&'a str>,
    pub clone_url: Option<&'a str>,
}

impl<'a> From<&'a PullRequestEnd> for RefContext<'a> {
    fn from(r: &'a PullRequestEnd) -> Self {
        RefContext {
            git_ref: &r.ref_name,
            sha: r.sha.as_str(),
            repo: r.repo.as_ref().map(|r| r.as_str()),
            clone_url: r.clone_url.as_deref(),
        }
    }
}

/// `pr`.
#[derive(Debug, Serialize)]
pub(super) struct PullRequestContext<'a> {
    pub number: u64,
    pub title: &'a str,
    pub body: &'a str,
    pub draft: bool,
    pub state: &'a str,
    pub merged: bool,
    pub user: UserContext<'a>,
    pub author_association: &'a str,
    pub labels: &'a [String],
    pub head: RefContext<'a>,
    pub base: RefContext<'a>,
    pub html_url: &'a str,
}

impl<'a> From<&'a PullRequest> for PullRequestContext<'a> {
    fn from(p: &'a PullRequest) -> Self {
        PullRequestContext {
            number: p.number,
            title: &p.title,
            body: &p.body,
            draft: p.draft,
            state: &p.state,
            merged: p.merged,
            user: (&p.user).into(),
            author_association: p.author_association.as_str(),
            labels: &p.labels,
            head: (&p.head).into(),
            base: (&p.base).into(),
            html_url: &p.html_url,
        }
    }
}

/// `issue`.
#[derive(Debug, Serialize)]
pub(super) struct IssueContext<'a> {
    pub number: u64,
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [String],
    pub user: UserContext<'a>,
    pub author_association: &'a str,
    pub state: &'a str,
    pub is_pull_request: bool,
    pub html_url: &'a str,
}

impl<'a> From<&'a Issue> for IssueContext<'a> {
    fn from(i: &'a Issue) -> Self {
        IssueContext {
            number: i.number,
            title: &i.title,
            body: &i.body,
            labels: &i.labels,
            user: (&i.user).into(),
            author_association: i.author_association.as_str(),
            state: &i.state,
            is_pull_request: i.is_pull_request,
            html_url: &i.html_url,
        }
    }
}

/// `release`.
#[derive(Debug, Serialize)]
pub(super) struct ReleaseContext<'a> {
    pub tag_name: &'a str,
    pub name: &'a str,
    pub body: &'a str,
    pub draft: bool,
    pub prerelease: bool,
    pub html_url: &'a str,
    pub target_commitish: &'a str,
}

impl<'a> From<&'a Release> for ReleaseContext<'a> {
    fn from(r: &'a Release) -> Self {
        ReleaseContext {
            tag_name: &r.tag_name,
            name: &r.name,
            body: &r.body,
            draft: r.draft,
            prerelease: r.prerelease,
            html_url: &r.html_url,
            target_commitish: &r.target_commitish,
        }
    }
}

/// `comment`: the comment a command came in.
#[derive(Debug, Serialize)]
pub(super) struct CommentContext<'a> {
    pub id: u64,
    pub body: &'a str,
    pub user: UserContext<'a>,
    pub author_association: &'a str,
    pub html_url: &'a str,
    pub command: CommandContext<'a>,
}

/// `comment.command`.
#[derive(Debug, Serialize)]
pub(super) struct CommandContext<'a> {
    pub verb: &'a str,
    pub task: Option<&'a str>,
}

/// `push`.
#[derive(Debug, Serialize)]
pub(super) struct PushContext<'a> {
    #[serde(rename = "ref")]
    pub git_ref: &'a str,
    pub branch: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub before: String,
    pub after: String,
    pub forced: bool,
    pub head_commit_message: Option<&'a str>,
    pub pusher: &'a str,
}
