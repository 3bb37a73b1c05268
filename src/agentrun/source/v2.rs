//! Version 2, written today: `version: 2`, then the event, the launch and the pull request
//! with version 1's names and meaning (the event's parts are version 1's types), but only
//! what rendering reads, and the trigger typed: a pull request's, an issue's or a
//! release's action is one of those a trigger in services.yaml can name. Issue and release
//! subjects may carry the exact commit (`sha`). Frozen once released, like every version:
//! a change of form is a version 3 beside it. `tests/fixtures/agentruns/v1alpha1-source-v2/`
//! holds runs in this form, and a test checks the intake still writes exactly them.

use serde::{Deserialize, Serialize};

use super::v1::{PullRequest, WebhookEvent, some_value, value};
use super::{RunSource, SourceError};
use crate::config;
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
    ($(#[$meta:meta])* $name:ident / $event:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every action of the list.
            #[cfg(test)]
            const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            fn parse(text: &str) -> Result<$name, SourceError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(SourceError::ActionNotStored {
                        event: $event,
                        action: other.to_owned(),
                    }),
                }
            }
        }
    };
}

action!(
    /// The `pull_request` actions a trigger can name.
    PullRequestAction / "pull_request" {
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
    IssuesAction / "issues" {
        Opened => "opened",
        Labeled => "labeled",
        Edited => "edited",
        Reopened => "reopened",
    }
);

action!(
    /// The `release` actions a trigger can name.
    ReleaseAction / "release" {
        Published => "published",
        Created => "created",
        Released => "released",
        Prereleased => "prereleased",
    }
);

/// The actions a trigger in services.yaml names are exactly those this version stores: each
/// list converts to the other by a match with no catch-all, so an action added to
/// `config`'s list (`closed` to `IssuesAction`) does not compile until a version can store
/// it (a version 3: this one is frozen), nor one added here until `config` names it
/// (outside review 12, R8: nothing tied them, and a launch on an action this version could
/// not store failed at every delivery). The spellings are held equal by a test.
macro_rules! same_actions {
    ($config:ident <=> $stored:ident { $($variant:ident),+ $(,)? }) => {
        impl From<config::$config> for $stored {
            fn from(action: config::$config) -> $stored {
                match action {
                    $(config::$config::$variant => $stored::$variant,)+
                }
            }
        }

        impl From<$stored> for config::$config {
            fn from(action: $stored) -> config::$config {
                match action {
                    $($stored::$variant => config::$config::$variant,)+
                }
            }
        }
    };
}

same_actions!(PullRequestAction <=> PullRequestAction {
    Opened,
    Synchronize,
    Reopened,
    ReadyForReview,
    Labeled,
    Edited,
    Closed,
});
same_actions!(IssuesAction <=> IssuesAction {
    Opened,
    Labeled,
    Edited,
    Reopened,
});
same_actions!(ReleaseAction <=> ReleaseAction {
    Published,
    Created,
    Released,
    Prereleased,
});

impl Source {
    /// The internal model in this version's form. Fails only on a trigger action no trigger
    /// in services.yaml can name (the planner never launches on one).
    pub fn from_model(source: &RunSource) -> Result<Source, SourceError> {
        let launch = &source.launch;
        Ok(Source {
            version: VERSION,
            event: WebhookEvent::from_model(&source.event),
            launch: Launch {
                agent: launch.agent.to_string(),
                run_name: launch.run_name.clone(),
                trigger: match &launch.trigger {
                    plan::Trigger::PullRequest { action } => Trigger::PullRequest {
                        action: PullRequestAction::parse(action.as_str())?,
                    },
                    plan::Trigger::Issues { action } => Trigger::Issues {
                        action: IssuesAction::parse(action.as_str())?,
                    },
                    plan::Trigger::Comment { verb, comment_id } => Trigger::Comment {
                        verb: verb.clone(),
                        comment_id: *comment_id,
                    },
                    plan::Trigger::Push => Trigger::Push,
                    plan::Trigger::Release { action } => Trigger::Release {
                        action: ReleaseAction::parse(action.as_str())?,
                    },
                },
                task: launch.task.clone(),
                requested_by: launch.requested_by.clone(),
                subject: match &launch.subject {
                    plan::Subject::PullRequest { number, head_sha } => Subject::PullRequest {
                        number: *number,
                        head_sha: head_sha.as_ref().map(|s| s.to_string()),
                    },
                    plan::Subject::Issue { number, sha } => Subject::Issue {
                        number: *number,
                        sha: sha.as_ref().map(|s| s.to_string()),
                    },
                    plan::Subject::Ref { git_ref, sha } => Subject::Ref {
                        git_ref: git_ref.clone(),
                        sha: sha.to_string(),
                    },
                    plan::Subject::Release { tag, sha } => Subject::Release {
                        tag: tag.clone(),
                        sha: sha.as_ref().map(|s| s.to_string()),
                    },
                },
            },
            pull_request: source.pull_request.as_ref().map(PullRequest::from_model),
        })
    }

    pub fn into_model(self) -> Result<RunSource, SourceError> {
        let launch = self.launch;
        Ok(RunSource {
            event: self.event.into_model(VERSION)?,
            launch: plan::Launch {
                agent: value(VERSION, "launch.agent", &launch.agent)?,
                run_name: launch.run_name,
                trigger: match launch.trigger {
                    Trigger::PullRequest { action } => plan::Trigger::PullRequest {
                        action: action.as_str().into(),
                    },
                    Trigger::Issues { action } => plan::Trigger::Issues {
                        action: action.as_str().into(),
                    },
                    Trigger::Comment { verb, comment_id } => {
                        plan::Trigger::Comment { verb, comment_id }
                    }
                    Trigger::Push => plan::Trigger::Push,
                    Trigger::Release { action } => plan::Trigger::Release {
                        action: action.as_str().into(),
                    },
                },
                task: launch.task,
                requested_by: launch.requested_by,
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
            },
            pull_request: self
                .pull_request
                .map(|pr| pr.into_model(VERSION))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_stored_as_github_spells_them_and_only_those_a_trigger_names() {
        assert!(matches!(
            PullRequestAction::parse("ready_for_review"),
            Ok(PullRequestAction::ReadyForReview)
        ));
        assert_eq!(
            serde_json::to_value(PullRequestAction::ReadyForReview).expect("JSON"),
            "ready_for_review"
        );
        assert_eq!(
            IssuesAction::parse("closed").map_err(|e| e.to_string()),
            Err(
                "cannot record the run: the issues action `closed` is not one a trigger names"
                    .to_string()
            )
        );
        assert!(matches!(
            ReleaseAction::parse("published"),
            Ok(ReleaseAction::Published)
        ));
    }

    /// An action converts to services.yaml's of the same spelling and back (the lists are
    /// the same by the conversions, which have no catch-all; this holds their spellings).
    #[test]
    fn the_stored_actions_are_those_services_yaml_names_spelled_alike() {
        for &stored in PullRequestAction::ALL {
            let named = config::PullRequestAction::from(stored);
            assert_eq!(named.as_str(), stored.as_str());
            assert_eq!(PullRequestAction::from(named), stored);
        }
        for &stored in IssuesAction::ALL {
            let named = config::IssuesAction::from(stored);
            assert_eq!(named.as_str(), stored.as_str());
            assert_eq!(IssuesAction::from(named), stored);
        }
        for &stored in ReleaseAction::ALL {
            let named = config::ReleaseAction::from(stored);
            assert_eq!(named.as_str(), stored.as_str());
            assert_eq!(ReleaseAction::from(named), stored);
        }
    }
}
