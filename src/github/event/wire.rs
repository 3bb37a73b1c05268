//! GitHub's JSON shape of a delivery, private to `event`: read straight from the body
//! (unknown fields skipped, never buffered), then moved into the public model.

use crate::ids::CommentId;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};

use super::actions::Spelled;
use super::error::clip_value;
use super::{
    AccountKind, AuthorAssociation, CheckRunAction, CheckSuiteAction, Comment, CommitSha, Issue,
    IssueCommentAction, IssuesAction, PullRequest, PullRequestAction, PullRequestEnd, Release,
    ReleaseAction, RepoFullName, Repository, User,
};
use k8s_openapi::jiff::Timestamp;

/// A validated [`CommitSha`] read from a JSON string.
pub(super) struct WireSha(pub(super) CommitSha);

impl<'de> Deserialize<'de> for WireSha {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = CommitSha;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a commit SHA (40 or 64 lowercase hexadecimal characters)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommitSha, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V).map(WireSha)
    }
}

/// A validated [`RepoFullName`] read from a JSON string.
pub(super) struct WireFullName(pub(super) RepoFullName);

impl<'de> Deserialize<'de> for WireFullName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = RepoFullName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a repository full name \"owner/name\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RepoFullName, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V).map(WireFullName)
    }
}

/// A git ref or branch name that git would take, with no control character (see
/// [`crate::github::refname`]), read from a JSON string.
pub(super) struct WireRefName(pub(super) String);

impl<'de> Deserialize<'de> for WireRefName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a git ref name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                match crate::github::refname::check(v) {
                    Ok(()) => Ok(v.to_owned()),
                    Err(why) => Err(E::custom(format!(
                        "invalid git ref name {:?}: {why}",
                        clip_value(v)
                    ))),
                }
            }
        }
        deserializer.deserialize_str(V).map(WireRefName)
    }
}

/// A time GitHub wrote: RFC 3339 text, or (in `push` payloads' repository) seconds since
/// the epoch. Read leniently: any other value, or text that is no time, reads as absent,
/// so a field nobody else reads never refuses a delivery.
pub(super) struct WireTime(pub(super) Option<Timestamp>);

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Option<Timestamp>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(v.parse().ok())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Timestamp::from_second(v).ok())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v)
                    .ok()
                    .and_then(|v| Timestamp::from_second(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        deserializer.deserialize_any(V).map(WireTime)
    }
}

/// The time of an optional [`WireTime`] field.
pub(super) fn time(t: &Option<WireTime>) -> Option<Timestamp> {
    t.as_ref().and_then(|t| t.0)
}

#[derive(Deserialize)]
pub(super) struct WireUser {
    pub(super) login: String,
    pub(super) id: u64,
    #[serde(rename = "type")]
    pub(super) kind: Spelled<AccountKind>,
}

impl From<WireUser> for User {
    fn from(w: WireUser) -> Self {
        User {
            login: w.login.into(),
            id: w.id,
            kind: w.kind.0,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireOwner {
    pub(super) login: String,
}

#[derive(Deserialize)]
pub(super) struct WireRepository {
    pub(super) full_name: WireFullName,
    pub(super) owner: WireOwner,
    pub(super) name: String,
    pub(super) clone_url: String,
    pub(super) html_url: String,
    pub(super) default_branch: WireRefName,
    pub(super) private: bool,
    pub(super) fork: bool,
    /// When the repository was last pushed to: a `push` event's signed time.
    #[serde(default)]
    pub(super) pushed_at: Option<WireTime>,
}

impl From<WireRepository> for Repository {
    fn from(w: WireRepository) -> Self {
        Repository {
            full_name: w.full_name.0,
            owner: w.owner.login,
            name: w.name,
            clone_url: w.clone_url,
            html_url: w.html_url,
            default_branch: w.default_branch.0,
            private: w.private,
            fork: w.fork,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireInstallation {
    pub(super) id: u64,
}

#[derive(Deserialize)]
pub(super) struct WireLabel {
    pub(super) name: String,
}

pub(super) fn label_names(labels: Option<Vec<WireLabel>>) -> Vec<String> {
    labels
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

#[derive(Deserialize)]
pub(super) struct WireRepoRef {
    pub(super) full_name: WireFullName,
    pub(super) clone_url: String,
}

#[derive(Deserialize)]
pub(super) struct WirePullRequestEnd {
    #[serde(rename = "ref")]
    pub(super) ref_name: WireRefName,
    pub(super) sha: WireSha,
    pub(super) repo: Option<WireRepoRef>,
}

impl From<WirePullRequestEnd> for PullRequestEnd {
    fn from(w: WirePullRequestEnd) -> Self {
        let (repo, clone_url) = match w.repo {
            Some(r) => (Some(r.full_name.0), Some(r.clone_url)),
            None => (None, None),
        };
        PullRequestEnd {
            ref_name: w.ref_name.0,
            sha: w.sha.0,
            repo,
            clone_url,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WirePullRequest {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) draft: Option<bool>,
    pub(super) state: String,
    pub(super) merged: Option<bool>,
    pub(super) user: WireUser,
    pub(super) author_association: Spelled<AuthorAssociation>,
    pub(super) labels: Option<Vec<WireLabel>>,
    pub(super) head: WirePullRequestEnd,
    pub(super) base: WirePullRequestEnd,
    pub(super) html_url: String,
    #[serde(default)]
    pub(super) closed_at: Option<String>,
    #[serde(default)]
    pub(super) updated_at: Option<WireTime>,
}

impl From<WirePullRequest> for PullRequest {
    fn from(w: WirePullRequest) -> Self {
        PullRequest {
            number: w.number,
            title: w.title,
            body: w.body.unwrap_or_default(),
            draft: w.draft.unwrap_or(false),
            state: w.state,
            merged: w.merged.unwrap_or(false),
            user: w.user.into(),
            author_association: w.author_association.0,
            labels: label_names(w.labels),
            head: w.head.into(),
            base: w.base.into(),
            html_url: w.html_url,
            closed_at: w.closed_at.and_then(|t| t.parse().ok()),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireIssue {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) labels: Option<Vec<WireLabel>>,
    pub(super) user: WireUser,
    pub(super) author_association: Spelled<AuthorAssociation>,
    pub(super) state: String,
    pub(super) pull_request: Option<IgnoredAny>,
    pub(super) html_url: String,
    #[serde(default)]
    pub(super) updated_at: Option<WireTime>,
}

impl From<WireIssue> for Issue {
    fn from(w: WireIssue) -> Self {
        Issue {
            number: w.number,
            title: w.title,
            body: w.body.unwrap_or_default(),
            labels: label_names(w.labels),
            user: w.user.into(),
            author_association: w.author_association.0,
            state: w.state,
            is_pull_request: w.pull_request.is_some(),
            html_url: w.html_url,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireComment {
    pub(super) id: u64,
    pub(super) body: Option<String>,
    pub(super) user: WireUser,
    pub(super) author_association: Spelled<AuthorAssociation>,
    pub(super) html_url: String,
    #[serde(default)]
    pub(super) created_at: Option<String>,
}

impl From<WireComment> for Comment {
    fn from(w: WireComment) -> Self {
        Comment {
            id: CommentId(w.id),
            body: w.body.unwrap_or_default(),
            user: w.user.into(),
            author_association: w.author_association.0,
            html_url: w.html_url,
            created_at: w.created_at.and_then(|t| t.parse().ok()),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireRelease {
    pub(super) tag_name: WireRefName,
    pub(super) name: Option<String>,
    pub(super) body: Option<String>,
    pub(super) draft: bool,
    pub(super) prerelease: bool,
    pub(super) html_url: String,
    pub(super) target_commitish: WireRefName,
    #[serde(default)]
    pub(super) created_at: Option<WireTime>,
    #[serde(default)]
    pub(super) published_at: Option<WireTime>,
}

impl From<WireRelease> for Release {
    fn from(w: WireRelease) -> Self {
        Release {
            tag_name: w.tag_name.0,
            name: w.name.unwrap_or_default(),
            body: w.body.unwrap_or_default(),
            draft: w.draft,
            prerelease: w.prerelease,
            html_url: w.html_url,
            target_commitish: w.target_commitish.0,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WireHeadCommit {
    pub(super) message: String,
}

#[derive(Deserialize)]
pub(super) struct WirePusher {
    pub(super) name: String,
}

/// Per-event top-level wire structs. Each repeats the delivery envelope fields
/// (`repository`, `sender`, `installation`) instead of using `#[serde(flatten)]`,
/// which would buffer the whole body. The field that identifies the event comes
/// first: serde reports the first missing field in declaration order, so a payload of
/// the wrong event is reported as missing that field (e.g. `pull_request`).
macro_rules! wire_event {
    ($name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        #[derive(Deserialize)]
        pub(super) struct $name {
            $( $(#[$fmeta])* pub(super) $field: $ty, )*
            pub(super) repository: Option<WireRepository>,
            pub(super) sender: Option<WireUser>,
            pub(super) installation: Option<WireInstallation>,
        }
    };
}

wire_event!(WirePullRequestEvent {
    pull_request: WirePullRequest,
    action: Spelled<PullRequestAction>,
    number: u64,
    label: Option<WireLabel>,
    before: Option<WireSha>,
    after: Option<WireSha>,
});

wire_event!(WireIssueCommentEvent {
    comment: WireComment,
    issue: WireIssue,
    action: Spelled<IssueCommentAction>,
});

wire_event!(WireIssuesEvent {
    issue: WireIssue,
    action: Spelled<IssuesAction>,
    label: Option<WireLabel>,
});

wire_event!(WirePushEvent {
    #[serde(rename = "ref")]
    git_ref: WireRefName,
    before: WireSha,
    after: WireSha,
    created: bool,
    deleted: bool,
    forced: bool,
    head_commit: Option<WireHeadCommit>,
    pusher: WirePusher,
});

wire_event!(WireReleaseEvent {
    release: WireRelease,
    action: Spelled<ReleaseAction>,
});

wire_event!(WirePingEvent {
    hook_id: u64,
    zen: String,
});

#[derive(Deserialize)]
pub(super) struct WireApp {
    pub(super) id: u64,
}

#[derive(Deserialize)]
pub(super) struct WireCheckRun {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) head_sha: WireSha,
    pub(super) external_id: Option<String>,
    pub(super) app: Option<WireApp>,
}

#[derive(Deserialize)]
pub(super) struct WireCheckSuite {
    pub(super) id: u64,
    pub(super) head_sha: WireSha,
    pub(super) app: Option<WireApp>,
}

wire_event!(WireCheckRunEvent {
    check_run: WireCheckRun,
    action: Spelled<CheckRunAction>,
});

wire_event!(WireCheckSuiteEvent {
    check_suite: WireCheckSuite,
    action: Spelled<CheckSuiteAction>,
});

wire_event!(WireOtherEvent {
    action: Option<String>,
});

/// Second, lenient reading of an unmodelled event whose envelope fields did not have
/// the usual shape: each one is kept only if it reads correctly on its own.
#[derive(Deserialize)]
pub(super) struct WireOtherLenient {
    pub(super) action: Option<serde_json::Value>,
    pub(super) repository: Option<serde_json::Value>,
    pub(super) sender: Option<serde_json::Value>,
    pub(super) installation: Option<serde_json::Value>,
}

pub(super) fn lenient<T: de::DeserializeOwned>(value: Option<serde_json::Value>) -> Option<T> {
    value.and_then(|v| T::deserialize(v).ok())
}
