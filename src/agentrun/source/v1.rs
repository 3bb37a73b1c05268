//! Version 1: `spec.source` as agentpods 0.1.0 wrote it, with no `version`: the webhook
//! event, the planner's launch and the fetched pull request serialized as the internal
//! model then was (snake_case fields, `kind` tags; `pullRequest` beside them). Read only,
//! and frozen: these types say what was written, whatever the internal model says today.
//! Fields 0.1.0 wrote that rendering never read (`installation_id`, a pull request
//! event's `label`, `before` and `after`, an issues event's `label`, a comment's
//! `created_at`) are not read; all are optional to 0.1.0, so it reads version 2 back. `tests/fixtures/agentruns/v1alpha1/` holds runs in this form.
//!
//! The event's parts ([`WebhookEvent`] and below) are the same in version 2, which reuses
//! them (so they derive `Serialize`: `record.rs`, the one writer, writes them).

use crate::ids::CommentId;
use serde::{Deserialize, Serialize};

use super::{RunSource, SourceError};
use crate::github::event as model;
use crate::plan;

/// A source that says no version is this one.
pub const VERSION: u64 = 1;

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub event: WebhookEvent,
    pub launch: Launch,
    #[serde(default)]
    pub pull_request: Option<PullRequest>,
}

/// One webhook delivery, as much of it as rendering reads.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The `X-GitHub-Event` header.
    pub name: String,
    pub event: Event,
    pub repository: Option<Repository>,
    pub sender: Option<User>,
}

/// The event-specific part, tagged with its `kind`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    PullRequest {
        action: String,
        /// The pull request's number (0.1.0 needs it to read a run back).
        number: u64,
        pull_request: PullRequest,
    },
    IssueComment {
        action: String,
        issue: Issue,
        comment: Comment,
    },
    Issues {
        action: String,
        issue: Issue,
    },
    Push {
        #[serde(rename = "ref")]
        git_ref: String,
        before: String,
        after: String,
        created: bool,
        deleted: bool,
        forced: bool,
        head_commit_message: Option<String>,
        pusher: String,
    },
    Release {
        action: String,
        release: Release,
    },
    /// An event no trigger reads (nothing records one; here for completeness).
    Other {
        name: String,
        action: Option<String>,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct User {
    pub login: String,
    pub id: u64,
    /// GitHub's `type`: `User`, `Bot` or `Organization`.
    pub kind: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Repository {
    pub full_name: String,
    pub owner: String,
    pub name: String,
    pub clone_url: String,
    pub html_url: String,
    pub default_branch: String,
    pub private: bool,
    pub fork: bool,
}

/// One end (head or base) of a pull request, as version 1 stores it
/// (`github::event::PullRequestEnd` in the model).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PullRequestEnd {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub sha: String,
    pub repo: Option<String>,
    pub clone_url: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub draft: bool,
    pub state: String,
    pub merged: bool,
    pub user: User,
    pub author_association: String,
    pub labels: Vec<String>,
    pub head: PullRequestEnd,
    pub base: PullRequestEnd,
    pub html_url: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub user: User,
    pub author_association: String,
    pub state: String,
    pub is_pull_request: bool,
    pub html_url: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub user: User,
    pub author_association: String,
    pub html_url: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Release {
    pub tag_name: String,
    pub name: String,
    pub body: String,
    pub draft: bool,
    pub prerelease: bool,
    pub html_url: String,
    pub target_commitish: String,
}

/// The planner's decision, as 0.1.0 wrote it.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct Launch {
    pub agent: String,
    pub run_name: String,
    pub trigger: Trigger,
    pub task: Option<String>,
    pub requested_by: String,
    pub subject: Subject,
}

/// What started the run; actions as GitHub spells them.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    PullRequest { action: String },
    Issues { action: String },
    Comment { verb: String, comment_id: u64 },
    Push,
    Release { action: String },
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    PullRequest {
        number: u64,
        head_sha: Option<String>,
    },
    Issue {
        number: u64,
    },
    Ref {
        git_ref: String,
        sha: String,
    },
    Release {
        tag: String,
    },
}

impl Source {
    pub fn into_model(self) -> Result<RunSource, SourceError> {
        Ok(RunSource {
            event: self.event.into_model(VERSION)?,
            launch: self.launch.into_model(VERSION)?,
            pull_request: self
                .pull_request
                .map(|pr| pr.into_model(VERSION))
                .transpose()?,
        })
    }
}

impl Launch {
    fn into_model(self, version: u64) -> Result<plan::Launch, SourceError> {
        Ok(plan::Launch {
            agent: value(version, "launch.agent", &self.agent)?,
            run_name: value(version, "launch.run_name", &self.run_name)?,
            trigger: match self.trigger {
                Trigger::PullRequest { action } => plan::Trigger::PullRequest {
                    action: action.as_str().into(),
                },
                Trigger::Issues { action } => plan::Trigger::Issues {
                    action: action.as_str().into(),
                },
                Trigger::Comment { verb, comment_id } => plan::Trigger::Comment {
                    verb: value(version, "launch.trigger.verb", &verb)?,
                    comment_id: CommentId(comment_id),
                },
                Trigger::Push => plan::Trigger::Push,
                Trigger::Release { action } => plan::Trigger::Release {
                    action: action.as_str().into(),
                },
            },
            task: self.task,
            requested_by: self.requested_by.into(),
            subject: match self.subject {
                Subject::PullRequest { number, head_sha } => plan::Subject::PullRequest {
                    number,
                    head_sha: some_value(version, "launch.subject.head_sha", head_sha)?,
                },
                Subject::Issue { number } => plan::Subject::Issue { number, sha: None },
                Subject::Ref { git_ref, sha } => plan::Subject::Ref {
                    git_ref,
                    sha: value(version, "launch.subject.sha", &sha)?,
                },
                Subject::Release { tag } => plan::Subject::Release { tag, sha: None },
            },
            // Never stored (see the field).
            by_outsider: false,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The event's parts into the internal model (version 2 reuses them; `record.rs` writes
// them).

pub(super) fn value<T: std::str::FromStr>(
    version: u64,
    field: &'static str,
    text: &str,
) -> Result<T, SourceError>
where
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    text.parse().map_err(|e: T::Err| SourceError::BadValue {
        version,
        field,
        source: std::sync::Arc::from(e.into()),
    })
}

/// [`value`] of a field that may be absent.
pub(super) fn some_value<T: std::str::FromStr>(
    version: u64,
    field: &'static str,
    text: Option<String>,
) -> Result<Option<T>, SourceError>
where
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    text.map(|text| value(version, field, &text)).transpose()
}

impl WebhookEvent {
    pub(super) fn into_model(self, version: u64) -> Result<model::WebhookEvent, SourceError> {
        let event = match self.event {
            Event::PullRequest {
                action,
                number,
                pull_request,
            } => model::Event::PullRequest(model::PullRequestEvent {
                action: action.as_str().into(),
                number,
                pull_request: pull_request.into_model(version)?,
                label: None,
                before: None,
                after: None,
            }),
            Event::IssueComment {
                action,
                issue,
                comment,
            } => model::Event::IssueComment(model::IssueCommentEvent {
                action: action.as_str().into(),
                issue: issue.into_model(),
                comment: model::Comment {
                    id: CommentId(comment.id),
                    body: comment.body,
                    user: comment.user.into_model(),
                    author_association: comment.author_association.as_str().into(),
                    html_url: comment.html_url,
                    created_at: None,
                },
            }),
            Event::Issues { action, issue } => model::Event::Issues(model::IssuesEvent {
                action: action.as_str().into(),
                issue: issue.into_model(),
                label: None,
            }),
            Event::Push {
                git_ref,
                before,
                after,
                created,
                deleted,
                forced,
                head_commit_message,
                pusher,
            } => model::Event::Push(model::PushEvent {
                git_ref,
                before: value(version, "event.event.before", &before)?,
                after: value(version, "event.event.after", &after)?,
                created,
                deleted,
                forced,
                head_commit_message,
                pusher,
            }),
            Event::Release { action, release } => model::Event::Release(model::ReleaseEvent {
                action: action.as_str().into(),
                release: model::Release {
                    tag_name: release.tag_name,
                    name: release.name,
                    body: release.body,
                    draft: release.draft,
                    prerelease: release.prerelease,
                    html_url: release.html_url,
                    target_commitish: release.target_commitish,
                },
            }),
            Event::Other { name, action } => model::Event::Other { name, action },
        };
        Ok(model::WebhookEvent {
            name: self.name,
            event,
            repository: match self.repository {
                Some(r) => Some(model::Repository {
                    full_name: value(version, "event.repository.full_name", &r.full_name)?,
                    owner: r.owner,
                    name: r.name,
                    clone_url: r.clone_url,
                    html_url: r.html_url,
                    default_branch: r.default_branch,
                    private: r.private,
                    fork: r.fork,
                }),
                None => None,
            },
            sender: self.sender.map(User::into_model),
            installation_id: None,
            signed_at: None,
        })
    }
}

impl User {
    fn into_model(self) -> model::User {
        model::User {
            login: self.login.into(),
            id: self.id,
            kind: self.kind.as_str().into(),
        }
    }
}

impl Issue {
    fn into_model(self) -> model::Issue {
        model::Issue {
            number: self.number,
            title: self.title,
            body: self.body,
            labels: self.labels,
            user: self.user.into_model(),
            author_association: self.author_association.as_str().into(),
            state: self.state,
            is_pull_request: self.is_pull_request,
            html_url: self.html_url,
        }
    }
}

impl PullRequestEnd {
    fn into_model(
        self,
        version: u64,
        side: &'static str,
    ) -> Result<model::PullRequestEnd, SourceError> {
        Ok(model::PullRequestEnd {
            ref_name: self.ref_name,
            sha: value(version, side, &self.sha)?,
            repo: match self.repo {
                Some(repo) => Some(value(version, side, &repo)?),
                None => None,
            },
            clone_url: self.clone_url,
        })
    }
}

impl PullRequest {
    pub(super) fn into_model(self, version: u64) -> Result<model::PullRequest, SourceError> {
        Ok(model::PullRequest {
            number: self.number,
            title: self.title,
            body: self.body,
            draft: self.draft,
            state: self.state,
            merged: self.merged,
            user: self.user.into_model(),
            author_association: self.author_association.as_str().into(),
            labels: self.labels,
            head: self.head.into_model(version, "pull request head")?,
            base: self.base.into_model(version, "pull request base")?,
            html_url: self.html_url,
            // What a run keeps of its pull request is what it was started on; when it
            // closed is an intake matter (which runs a close stops).
            closed_at: None,
        })
    }
}
