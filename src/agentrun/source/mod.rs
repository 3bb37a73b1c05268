//! `spec.source`: what a run is rendered from, in a versioned form of its own.
//!
//! The intake records [`RunSource`] (the webhook event, the planner's launch and the pull
//! request it fetched, in the internal model) as the current version; the controller reads
//! back every version ever written. One reader file per version, each frozen once
//! released, and one writer:
//!
//! - [`v1`]: the unversioned form agentpods 0.1.0 wrote (the internal model serialized as
//!   it was).
//! - [`v2`]: `version: 2`: the same names and meaning, only what rendering reads, the
//!   trigger typed.
//! - [`v3`]: `version: 3`: version 2's form, and a run an `/agent approve` started
//!   records the approval (who, which head, which comment) and the comment's delivery,
//!   not a `pull_request.synchronize` GitHub never sent.
//! - [`record`]: the one writer, the internal model in the current version's form (today
//!   version 3's). A new version is a new reader file and this writer pointed at it.
//!
//! The spec holds the source as plain JSON ([`StoredSource`]) so that a source this
//! version cannot read never stops the AgentRun itself from being read: that one run ends
//! Failed with the reason ([`SourceError`]), the others carry on.

pub(crate) mod record;
pub(crate) mod v1;
pub(crate) mod v2;
pub(crate) mod v3;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::github::event::{PullRequest, WebhookEvent};
use crate::plan::{Launch, Subject};

/// The version [`StoredSource::record`] writes.
pub const CURRENT: u64 = record::VERSION;

/// The inputs of a run's render, in the internal model, so any replica, after any restart
/// and any upgrade, renders the same objects.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSource {
    pub event: WebhookEvent,
    pub launch: Launch,
    /// The pull request a comment is on, when it was fetched.
    pub pull_request: Option<PullRequest>,
}

impl RunSource {
    /// Whether the code the run checks out is a fork's: it is about a pull request whose
    /// head is in another repository, or in one that is gone. Every version ever stored
    /// holds the pull request's head repository (the event's pull request, or the one a
    /// comment is on). A run about a pull request whose source holds no pull request at
    /// all (a preview's, which is never recorded) is taken to be a fork's: the safe
    /// choice, under which the fork policy in force holds for it.
    pub fn runs_fork_code(&self) -> bool {
        if !matches!(self.launch.subject, Subject::PullRequest { .. }) {
            return false;
        }
        self.pull_request_about().is_none_or(PullRequest::is_fork)
    }

    /// The pull request the run is about, as its source holds it: the one a comment is
    /// on, else the event's own.
    pub fn pull_request_about(&self) -> Option<&PullRequest> {
        self.event.pull_request_about(self.pull_request.as_ref())
    }
}

/// `spec.source` as the API server holds it: read with [`StoredSource::read`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(transparent)]
pub struct StoredSource(pub Value);

impl Default for StoredSource {
    /// An empty object, which no version reads.
    fn default() -> Self {
        StoredSource(Value::Object(serde_json::Map::new()))
    }
}

/// Why a stored source cannot be read or written: the run it belongs to cannot be rendered.
#[derive(Debug, thiserror::Error, Clone)]
pub enum SourceError {
    #[error(
        "its spec.source is version {found}, which this agentpods does not read (it reads \
         versions 1 to {CURRENT}): a newer agentpods recorded it"
    )]
    UnknownVersion {
        /// The `version` as stored: a number this code does not read, or not a number.
        found: Value,
    },
    #[error("its spec.source (version {version}) is not as that version wrote it")]
    Malformed {
        version: u64,
        #[source]
        source: JsonError,
    },
    #[error("its spec.source (version {version}): {field}")]
    BadValue {
        version: u64,
        field: &'static str,
        /// Why the field does not read: the parse's own error (shared, as the error is
        /// cloned), or the reader's words.
        #[source]
        source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The current version stores no such action: one a trigger cannot name.
    #[error("cannot record the run: the {event} action `{action}` is not one a trigger names")]
    ActionNotStored { event: &'static str, action: String },
    #[error("cannot record the run")]
    Unrecordable(#[source] JsonError),
}

/// serde_json's error, shared, so that a [`SourceError`] is cloned as the runs it belongs
/// to are.
#[derive(Debug, Clone)]
pub struct JsonError(std::sync::Arc<serde_json::Error>);

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> JsonError {
        JsonError(std::sync::Arc::new(e))
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl StoredSource {
    /// `source` in the current version's form.
    pub fn record(source: &RunSource) -> Result<StoredSource, SourceError> {
        let stored = record::source(source)?;
        serde_json::to_value(&stored)
            .map(StoredSource)
            .map_err(|e| SourceError::Unrecordable(e.into()))
    }

    /// The version this source says it is (1: none said).
    pub fn version(&self) -> Result<u64, SourceError> {
        match self.0.get("version") {
            None => Ok(v1::VERSION),
            Some(version) => version.as_u64().ok_or_else(|| SourceError::UnknownVersion {
                found: version.clone(),
            }),
        }
    }

    /// The source in the internal model, whichever version wrote it.
    pub fn read(&self) -> Result<RunSource, SourceError> {
        match self.version()? {
            v1::VERSION => parse::<v1::Source>(v1::VERSION, &self.0)?.into_model(),
            v2::VERSION => parse::<v2::Source>(v2::VERSION, &self.0)?.into_model(),
            v3::VERSION => parse::<v3::Source>(v3::VERSION, &self.0)?.into_model(),
            other => Err(SourceError::UnknownVersion {
                found: other.into(),
            }),
        }
    }
}

impl SourceError {
    /// The same error, said of `version`: a later version's reader that reads its parts
    /// through an earlier one's (as version 3 reads version 2's) names its own version.
    pub(super) fn said_as_version(self, version: u64) -> SourceError {
        match self {
            SourceError::Malformed { source, .. } => SourceError::Malformed { version, source },
            SourceError::BadValue { field, source, .. } => SourceError::BadValue {
                version,
                field,
                source,
            },
            other => other,
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(version: u64, value: &Value) -> Result<T, SourceError> {
    T::deserialize(value).map_err(|e| SourceError::Malformed {
        version,
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_this_code_does_not_know_is_a_clear_error() {
        let stored = StoredSource(json!({"version": 4, "event": {}}));
        let error = stored.read().expect_err("version 4 is unknown");
        assert_eq!(
            error.to_string(),
            "its spec.source is version 4, which this agentpods does not read (it reads \
             versions 1 to 3): a newer agentpods recorded it"
        );
        let stored = StoredSource(json!({"version": "two"}));
        assert!(matches!(
            stored.read(),
            Err(SourceError::UnknownVersion { found }) if found == json!("two")
        ));
    }

    /// The source of the frozen run an `/agent approve` started (version 3).
    fn approved_source() -> Value {
        let run: Value = serde_yaml::from_str(include_str!(
            "../../../tests/fixtures/agentruns/v1alpha1-source-v3/comment-approve-fork-pull-request.yaml"
        ))
        .expect("the fixture");
        run["spec"]["source"].clone()
    }

    /// A run an approval started reads as what happened: approved by whom, of which head,
    /// in which comment, under the comment's delivery; and it records back the same.
    #[test]
    fn an_approved_source_reads_as_the_approval_and_records_back_the_same() {
        let stored = StoredSource(approved_source());
        let source = stored.read().expect("reads");
        let head: crate::github::event::CommitSha = "0123456789abcdef0123456789abcdef01234567"
            .parse()
            .expect("a commit");
        assert_eq!(
            source.launch.trigger,
            crate::plan::Trigger::Approved(crate::plan::ApprovedHead {
                approved_by: "Codertocat".into(),
                comment_id: crate::ids::CommentId(492700400),
                head_sha: head.clone(),
            })
        );
        assert_eq!(source.event.name, "issue_comment");
        assert_eq!(
            source.pull_request_about().map(|pr| &pr.head.sha),
            Some(&head)
        );
        assert!(source.runs_fork_code());
        assert_eq!(StoredSource::record(&source).expect("records"), stored);
    }

    /// An approval that does not hold the pull request it approved at that head does not
    /// read, and an error in version 2's parts of a version 3 source names version 3.
    #[test]
    fn an_approved_source_not_at_the_head_approved_is_a_clear_error() {
        let mut moved = approved_source();
        moved["launch"]["trigger"]["head_sha"] = json!("89abcdef0123456789abcdef0123456789abcdef");
        let error = StoredSource(moved).read().expect_err("another head");
        assert_eq!(
            crate::text::with_causes(&error),
            "its spec.source (version 3): launch.trigger: an approved run holds the pull \
             request it approved, its subject at the head approved"
        );
        let mut unfetched = approved_source();
        unfetched.as_object_mut().map(|o| o.remove("pullRequest"));
        assert!(matches!(
            StoredSource(unfetched).read(),
            Err(SourceError::BadValue {
                version: 3,
                field: "launch.trigger",
                ..
            })
        ));
        let mut spoiled = approved_source();
        spoiled["launch"]["subject"]["head_sha"] = json!("HEAD");
        assert!(matches!(
            StoredSource(spoiled).read(),
            Err(SourceError::BadValue {
                version: 3,
                field: "launch.subject.head_sha",
                ..
            })
        ));
    }

    #[test]
    fn a_source_missing_what_its_version_wrote_is_a_clear_error() {
        let stored = StoredSource(json!({"version": 2, "event": {"name": "push"}}));
        let error = stored.read().expect_err("incomplete");
        assert!(
            crate::text::with_causes(&error)
                .starts_with("its spec.source (version 2) is not as that version wrote it: "),
            "{error}"
        );
        // The unversioned form too.
        assert!(matches!(
            StoredSource(json!({})).read(),
            Err(SourceError::Malformed { version: 1, .. })
        ));
    }
}
