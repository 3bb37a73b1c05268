//! Version 3: `version: 3`, version 2's form with one trigger kind more, `approved`: a run
//! a maintainer's `/agent approve` of a fork pull request's head started records who
//! approved which head in which comment, and the comment's own delivery as its event (the
//! `issue_comment`, with the pull request the intake fetched), where version 2 recorded a
//! `pull_request.synchronize` the intake made up, a delivery GitHub never sent (issue 12,
//! R5). Every other part is version 2's types, unchanged. The reader of this version,
//! frozen once released like every version's: a change of form is a version 4 beside it.
//! What the intake writes today (this version's form) is `record.rs`'s, the one writer.
//! `tests/fixtures/agentruns/v1alpha1-source-v3/` holds runs in this form, and a test
//! checks the intake still writes exactly them.

use crate::ids::CommentId;
use serde::{Deserialize, Serialize};

use super::v1::{PullRequest, WebhookEvent, value};
use super::v2::{self, IssuesAction, PullRequestAction, ReleaseAction, Subject};
use super::{RunSource, SourceError};
use crate::plan;

pub const VERSION: u64 = 3;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Always [`VERSION`].
    pub version: u64,
    /// The delivery that started the run (an approval's: the comment's).
    pub event: WebhookEvent,
    pub launch: Launch,
    /// The pull request a comment is on, when the intake fetched it (always, for an
    /// approval: the pull request it approved, at that head).
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

/// What started the run: version 2's kinds, and `approved`.
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
    /// Approved by `approved_by` in comment `comment_id` at head `head_sha` (in full) of
    /// the pull request the subject names: its agents planned as a push of that head would
    /// be (by their `pull_request` trigger).
    Approved {
        approved_by: String,
        comment_id: u64,
        head_sha: String,
    },
}

impl Source {
    pub fn into_model(self) -> Result<RunSource, SourceError> {
        let Launch {
            agent,
            run_name,
            trigger,
            task,
            requested_by,
            subject,
        } = self.launch;
        // Every part but an approval is version 2's, and read by version 2's reader (its
        // errors said as this version's).
        let (earlier, approved) = match trigger {
            Trigger::PullRequest { action } => (v2::Trigger::PullRequest { action }, None),
            Trigger::Issues { action } => (v2::Trigger::Issues { action }, None),
            Trigger::Comment { verb, comment_id } => {
                (v2::Trigger::Comment { verb, comment_id }, None)
            }
            Trigger::Push => (v2::Trigger::Push, None),
            Trigger::Release { action } => (v2::Trigger::Release { action }, None),
            // A stand-in, replaced below.
            Trigger::Approved {
                approved_by,
                comment_id,
                head_sha,
            } => (v2::Trigger::Push, Some((approved_by, comment_id, head_sha))),
        };
        let earlier = v2::Source {
            version: v2::VERSION,
            event: self.event,
            launch: v2::Launch {
                agent,
                run_name,
                trigger: earlier,
                task,
                requested_by,
                subject,
            },
            pull_request: self.pull_request,
        };
        let mut source = earlier
            .into_model()
            .map_err(|e| e.said_as_version(VERSION))?;
        if let Some((approved_by, comment_id, head_sha)) = approved {
            let head_sha = value(VERSION, "launch.trigger.head_sha", &head_sha)?;
            // The run checks out, and is rendered from, the pull request it approved.
            let at_head = matches!(
                &source.launch.subject,
                plan::Subject::PullRequest { head_sha: Some(at), .. } if *at == head_sha
            );
            if !at_head || source.pull_request.is_none() {
                return Err(SourceError::BadValue {
                    version: VERSION,
                    field: "launch.trigger",
                    source: std::sync::Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                        "an approved run holds the pull request it approved, its subject at \
                         the head approved",
                    )),
                });
            }
            source.launch.trigger = plan::Trigger::Approved(plan::ApprovedHead {
                approved_by: approved_by.into(),
                comment_id: CommentId(comment_id),
                head_sha,
            });
        }
        Ok(source)
    }
}
