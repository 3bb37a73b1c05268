//! Version 2: `version: 2`, then the event, the launch and the pull request with version
//! 1's names and meaning (the event's parts are version 1's types), but only what rendering
//! reads, and the trigger typed: a pull request's, an issue's or a release's action is one
//! of those a trigger in services.yaml can name. Issue and release subjects may carry the
//! exact commit (`sha`). The reader of this version, frozen once released like every
//! version's: a change of form is a version 3 beside it. What the intake writes today
//! (this version's form) is `record.rs`'s, the one writer.
//! `tests/fixtures/agentruns/v1alpha1-source-v2/` holds runs in this form, and a test
//! checks the intake still writes exactly them.

use crate::ids::CommentId;
use serde::{Deserialize, Serialize};

use super::v1::{PullRequest, WebhookEvent, some_value, value};
use super::{RunSource, SourceError};
use crate::plan;

pub const VERSION: u64 = 2;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Always [`VERSION`].
    pub version: u64,
    pub event: WebhookEvent,
    pub launch: Launch,
    /// The pull request a comment is on, when the intake fetched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
}

/// The planner's decision.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Launch {
    pub agent: String,
    pub run_name: String,
    pub trigger: Trigger,
    /// The task a maintainer wrote (`/agent run …`), or the focus of `/agent review …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    pub requested_by: String,
    pub subject: Subject,
}

/// What started the run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    PullRequest {
        action: PullRequestAction,
    },
    Issues {
        action: IssuesAction,
    },
    /// A command in a comment: its verb (`run`, `review`, or one services.yaml defines).
    Comment {
        verb: String,
        comment_id: u64,
    },
    Push,
    Release {
        action: ReleaseAction,
    },
}

/// What the run is about.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    PullRequest {
        number: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head_sha: Option<String>,
    },
    Issue {
        number: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
    },
    Ref {
        git_ref: String,
        sha: String,
    },
    Release {
        tag: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
    },
}

/// An action as GitHub spells it, one of a closed list.
macro_rules! action {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every action of the list.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

action!(
    /// The `pull_request` actions a trigger can name.
    PullRequestAction {
        Opened => "opened",
        Synchronize => "synchronize",
        Reopened => "reopened",
        ReadyForReview => "ready_for_review",
        Labeled => "labeled",
        Edited => "edited",
        Closed => "closed",
    }
);

action!(
    /// The `issues` actions a trigger can name.
    IssuesAction {
        Opened => "opened",
        Labeled => "labeled",
        Edited => "edited",
        Reopened => "reopened",
    }
);

action!(
    /// The `release` actions a trigger can name.
    ReleaseAction {
        Published => "published",
        Created => "created",
        Released => "released",
        Prereleased => "prereleased",
    }
);

impl Source {
    pub fn into_model(self) -> Result<RunSource, SourceError> {
        let launch = self.launch;
        Ok(RunSource {
            event: self.event.into_model(VERSION)?,
            launch: plan::Launch {
                agent: value(VERSION, "launch.agent", &launch.agent)?,
                run_name: value(VERSION, "launch.run_name", &launch.run_name)?,
                trigger: match launch.trigger {
                    Trigger::PullRequest { action } => plan::Trigger::PullRequest {
                        action: action.as_str().into(),
                    },
                    Trigger::Issues { action } => plan::Trigger::Issues {
                        action: action.as_str().into(),
                    },
                    Trigger::Comment { verb, comment_id } => plan::Trigger::Comment {
                        verb: value(VERSION, "launch.trigger.verb", &verb)?,
                        comment_id: CommentId(comment_id),
                    },
                    Trigger::Push => plan::Trigger::Push,
                    Trigger::Release { action } => plan::Trigger::Release {
                        action: action.as_str().into(),
                    },
                },
                task: launch.task,
                requested_by: launch.requested_by.into(),
                subject: match launch.subject {
                    Subject::PullRequest { number, head_sha } => plan::Subject::PullRequest {
                        number,
                        head_sha: some_value(VERSION, "launch.subject.head_sha", head_sha)?,
                    },
                    Subject::Issue { number, sha } => plan::Subject::Issue {
                        number,
                        sha: some_value(VERSION, "launch.subject.sha", sha)?,
                    },
                    Subject::Ref { git_ref, sha } => plan::Subject::Ref {
                        git_ref,
                        sha: value(VERSION, "launch.subject.sha", &sha)?,
                    },
                    Subject::Release { tag, sha } => plan::Subject::Release {
                        tag,
                        sha: some_value(VERSION, "launch.subject.sha", sha)?,
                    },
                },
                // Never stored (see the field).
                by_outsider: false,
            },
            pull_request: self
                .pull_request
                .map(|pr| pr.into_model(VERSION))
                .transpose()?,
        })
    }
}
