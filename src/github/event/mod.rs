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

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest event name accepted by [`parse`]; GitHub's longest is about 30 characters.
const MAX_EVENT_NAME_LEN: usize = 64;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a webhook delivery could not be parsed.
///
/// Every message is short (roughly 100 characters at most of text taken from the
/// request), whatever the size of the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON at all, or its top-level value is not an object.
    #[error("webhook body is not a JSON object (line {line}, column {column}): {message}")]
    NotJson {
        /// 1-based line of the problem.
        line: usize,
        /// Column of the problem on that line.
        column: usize,
        /// What is wrong, without the position.
        message: String,
    },
    /// The body is JSON but not the named event: a field is missing, has the wrong
    /// type, or holds an invalid value.
    #[error("webhook body is not a valid `{event}` event: {message} at `{path}`")]
    Shape {
        /// The event name given to [`parse`].
        event: String,
        /// Dotted path of the offending field, e.g. `pull_request.head.sha`
        /// (`.` for the top-level object itself).
        path: String,
        /// What is wrong with it, e.g. `missing field`.
        message: String,
    },
    /// The event name (the `X-GitHub-Event` header) is empty, too long, or not made
    /// of lowercase ASCII letters and underscores.
    #[error(
        "invalid webhook event name {name:?}: expected 1 to 64 lowercase letters or underscores"
    )]
    InvalidEventName {
        /// The name as given, shortened when long.
        name: String,
    },
}

/// A string that is not a valid [`RepoFullName`] or [`CommitSha`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not `owner/name` with exactly one `/` and only `A-Z a-z 0-9 . _ -`.
    #[error("invalid repository name {0:?}: expected owner/name made of A-Za-z0-9._-")]
    RepoFullName(String),
    /// Not 40 or 64 lowercase hexadecimal characters.
    #[error("invalid commit SHA {0:?}: expected 40 or 64 lowercase hexadecimal characters")]
    CommitSha(String),
}

/// Shortens `s` to at most about `head + tail` bytes, keeping its start and its end
/// (cut on character boundaries) around an ellipsis.
fn clip_middle(s: &str, head: usize, tail: usize) -> String {
    if s.len() <= head + tail + 3 {
        return s.to_owned();
    }
    let mut h = head;
    while !s.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = s.len() - tail;
    while !s.is_char_boundary(t) {
        t += 1;
    }
    format!("{}…{}", &s[..h], &s[t..])
}

/// A value quoted inside an error message.
fn clip_value(s: &str) -> String {
    clip_middle(s, 24, 8)
}

/// A message or path taken from serde / serde_json, which may quote the body.
fn clip_message(s: &str) -> String {
    clip_middle(s, 72, 40)
}

/// serde_json's message without its " at line L column C" suffix.
fn json_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let message = if err.line() == 0 {
        full.as_str()
    } else {
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        full.strip_suffix(suffix.as_str()).unwrap_or(full.as_str())
    };
    clip_message(message)
}

fn not_json(err: &serde_json::Error) -> EventError {
    EventError::NotJson {
        line: err.line(),
        column: err.column(),
        message: json_message(err),
    }
}

fn map_error(event: &str, path: String, inner: &serde_json::Error) -> EventError {
    if inner.classify() != serde_json::error::Category::Data {
        return not_json(inner);
    }
    let message = json_message(inner);
    // serde reports a missing field at its parent; name the field itself instead.
    let field_problem = ["missing field", "duplicate field"]
        .into_iter()
        .find_map(|kind| {
            let field = message
                .strip_prefix(kind)?
                .strip_prefix(" `")?
                .strip_suffix('`')?;
            Some((kind, field))
        });
    let (path, message) = match field_problem {
        Some((kind, field)) => {
            let path = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            (path, kind.to_owned())
        }
        None => (path, message),
    };
    EventError::Shape {
        event: event.to_owned(),
        path: clip_message(&path),
        message,
    }
}

// ---------------------------------------------------------------------------
// Domain newtypes
// ---------------------------------------------------------------------------

/// A repository's `owner/name`, validated: exactly one `/`, both parts non-empty,
/// neither `.` nor `..`, and only the characters GitHub allows (`A-Z a-z 0-9 . _ -`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoFullName(String);

impl RepoFullName {
    fn validate(s: &str) -> Result<(), ValueError> {
        let allowed = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
        let part_ok = |p: &str| !p.is_empty() && p != "." && p != ".." && p.bytes().all(allowed);
        match s.split_once('/') {
            Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
            _ => Err(ValueError::RepoFullName(clip_value(s))),
        }
    }

    /// The whole `owner/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `/`.
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(owner, _)| owner)
    }

    /// The part after the `/`.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, name)| name)
    }
}

impl FromStr for RepoFullName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::validate(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for RepoFullName {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::validate(&s)?;
        Ok(Self(s))
    }
}

impl fmt::Display for RepoFullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoFullName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for RepoFullName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoFullName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .try_into()
            .map_err(de::Error::custom)
    }
}

/// A git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hexadecimal characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitSha(String);

impl CommitSha {
    fn validate(s: &str) -> Result<(), ValueError> {
        let hex = |c: u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
        if matches!(s.len(), 40 | 64) && s.bytes().all(hex) {
            Ok(())
        } else {
            Err(ValueError::CommitSha(clip_value(s)))
        }
    }

    /// The full hexadecimal id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 7 characters, as git abbreviates.
    pub fn short(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }

    /// True for the all-zero id GitHub uses for "no commit" (a push that creates or
    /// deletes a ref).
    pub fn is_zero(&self) -> bool {
        self.0.bytes().all(|c| c == b'0')
    }
}

impl FromStr for CommitSha {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::validate(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for CommitSha {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::validate(&s)?;
        Ok(Self(s))
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CommitSha {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for CommitSha {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CommitSha {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .try_into()
            .map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// String enums (actions, author association)
// ---------------------------------------------------------------------------

/// Parsing from GitHub's spelling, for the private wire wrapper [`Spelled`].
trait FromGithub: Sized {
    const EXPECTING: &'static str;
    fn from_github(s: &str) -> Self;
}

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident / $fallback:ident, $expecting:literal {
            $( $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
            /// A value this version does not know, kept verbatim (forward compatibility).
            $fallback(String),
        }

        impl $name {
            /// GitHub's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::$fallback(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            /// Reads GitHub's spelling; an unknown value becomes the fallback variant.
            fn from(s: &str) -> Self {
                <Self as FromGithub>::from_github(s)
            }
        }

        impl FromGithub for $name {
            const EXPECTING: &'static str = $expecting;
            fn from_github(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )+
                    other => Self::$fallback(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Spelled::<$name>::deserialize(deserializer).map(|s| s.0)
            }
        }
    };
}

string_enum! {
    /// How the author of an issue, pull request or comment is related to the repository.
    /// Serialized as GitHub spells it (`OWNER`, `FIRST_TIME_CONTRIBUTOR`, ...).
    AuthorAssociation / Unknown, "an author association such as \"OWNER\"" {
        Owner => "OWNER",
        Member => "MEMBER",
        Collaborator => "COLLABORATOR",
        Contributor => "CONTRIBUTOR",
        FirstTimeContributor => "FIRST_TIME_CONTRIBUTOR",
        FirstTimer => "FIRST_TIMER",
        Mannequin => "MANNEQUIN",
        None => "NONE",
    }
}

string_enum! {
    /// The `action` of a `pull_request` event.
    PullRequestAction / Other, "a pull_request action such as \"opened\"" {
        Opened => "opened",
        Synchronize => "synchronize",
        Reopened => "reopened",
        Closed => "closed",
        Edited => "edited",
        Labeled => "labeled",
        Unlabeled => "unlabeled",
        ReadyForReview => "ready_for_review",
        ConvertedToDraft => "converted_to_draft",
    }
}

string_enum! {
    /// The `action` of an `issue_comment` event.
    IssueCommentAction / Other, "an issue_comment action such as \"created\"" {
        Created => "created",
        Edited => "edited",
        Deleted => "deleted",
    }
}

string_enum! {
    /// The `action` of an `issues` event.
    IssuesAction / Other, "an issues action such as \"opened\"" {
        Opened => "opened",
        Edited => "edited",
        Deleted => "deleted",
        Closed => "closed",
        Reopened => "reopened",
        Labeled => "labeled",
        Unlabeled => "unlabeled",
        Assigned => "assigned",
        Unassigned => "unassigned",
    }
}

string_enum! {
    /// The `action` of a `release` event.
    ReleaseAction / Other, "a release action such as \"published\"" {
        Published => "published",
        Created => "created",
        Released => "released",
        Prereleased => "prereleased",
        Edited => "edited",
        Deleted => "deleted",
    }
}

// ---------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------

/// A GitHub account: a person, a bot or an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name, e.g. `octocat` or `dependabot[bot]`.
    pub login: String,
    /// Numeric account id (stable across renames).
    pub id: u64,
    /// GitHub's `type`: `User`, `Bot` or `Organization`.
    pub kind: String,
}

/// The repository an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// Branch name (no `refs/heads/` prefix).
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// The commit this end points at.
    pub sha: CommitSha,
    /// The repository holding the branch; `None` when it has been deleted.
    pub repo: Option<RepoFullName>,
    /// That repository's HTTPS clone URL; `None` when it has been deleted.
    pub clone_url: Option<String>,
}

/// A pull request as carried by a `pull_request` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub head: GitRef,
    pub base: GitRef,
    pub html_url: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    /// Text; empty when GitHub sends `null`.
    pub body: String,
    pub user: User,
    pub author_association: AuthorAssociation,
    pub html_url: String,
    /// When GitHub says it was written (its signed payload's `created_at`); `None` when
    /// absent or unreadable. An `approve` without a SHA binds to the head as it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<k8s_openapi::jiff::Timestamp>,
}

/// A release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCommentEvent {
    pub action: IssueCommentAction,
    pub issue: Issue,
    pub comment: Comment,
}

/// `issues` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuesEvent {
    pub action: IssuesAction,
    pub issue: Issue,
    /// The label added or removed (`labeled` / `unlabeled`).
    pub label: Option<String>,
}

/// `push` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEvent {
    /// Full ref, e.g. `refs/heads/main` or `refs/tags/v1`.
    #[serde(rename = "ref")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEvent {
    pub action: ReleaseAction,
    pub release: Release,
}

/// `ping` event, sent when a webhook is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingEvent {
    pub zen: String,
    pub hook_id: u64,
}

/// A check run, as a `check_run` event names it: only what says whose it is and which
/// run of ours it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunEvent {
    pub action: String,
    pub check_run: CheckRun,
}

/// `check_suite` event; `rerequested` is someone pressing "Re-run all checks".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSuiteEvent {
    pub action: String,
    pub id: u64,
    pub head_sha: CommitSha,
    /// The App whose suite it is.
    pub app_id: Option<u64>,
}

/// The event-specific part of a delivery. Serialized with a `kind` tag in snake_case
/// (`pull_request`, `issue_comment`, `issues`, `push`, `release`, `ping`, `check_run`,
/// `check_suite`, `other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The `X-GitHub-Event` header.
    pub name: String,
    pub event: Event,
    pub repository: Option<Repository>,
    pub sender: Option<User>,
    /// The GitHub App installation the delivery is for.
    pub installation_id: Option<u64>,
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
}

// ---------------------------------------------------------------------------
// Wire structs (GitHub's JSON shape; private)
// ---------------------------------------------------------------------------

/// A string in GitHub's spelling read into a [`FromGithub`] enum without allocating
/// for known values.
struct Spelled<T>(T);

impl<'de, T: FromGithub> Deserialize<'de> for Spelled<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: FromGithub> de::Visitor<'_> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
                Ok(T::from_github(v))
            }
        }
        deserializer.deserialize_str(V(PhantomData)).map(Spelled)
    }
}

/// A validated [`CommitSha`] read from a JSON string.
struct WireSha(CommitSha);

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
struct WireFullName(RepoFullName);

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
/// [`super::refname`]), read from a JSON string.
struct WireRefName(String);

impl<'de> Deserialize<'de> for WireRefName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a git ref name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                match super::refname::check(v) {
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

#[derive(Deserialize)]
struct WireUser {
    login: String,
    id: u64,
    #[serde(rename = "type")]
    kind: String,
}

impl From<WireUser> for User {
    fn from(w: WireUser) -> Self {
        User {
            login: w.login,
            id: w.id,
            kind: w.kind,
        }
    }
}

#[derive(Deserialize)]
struct WireOwner {
    login: String,
}

#[derive(Deserialize)]
struct WireRepository {
    full_name: WireFullName,
    owner: WireOwner,
    name: String,
    clone_url: String,
    html_url: String,
    default_branch: WireRefName,
    private: bool,
    fork: bool,
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
struct WireInstallation {
    id: u64,
}

#[derive(Deserialize)]
struct WireLabel {
    name: String,
}

fn label_names(labels: Option<Vec<WireLabel>>) -> Vec<String> {
    labels
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

#[derive(Deserialize)]
struct WireRepoRef {
    full_name: WireFullName,
    clone_url: String,
}

#[derive(Deserialize)]
struct WireGitRef {
    #[serde(rename = "ref")]
    ref_name: WireRefName,
    sha: WireSha,
    repo: Option<WireRepoRef>,
}

impl From<WireGitRef> for GitRef {
    fn from(w: WireGitRef) -> Self {
        let (repo, clone_url) = match w.repo {
            Some(r) => (Some(r.full_name.0), Some(r.clone_url)),
            None => (None, None),
        };
        GitRef {
            ref_name: w.ref_name.0,
            sha: w.sha.0,
            repo,
            clone_url,
        }
    }
}

#[derive(Deserialize)]
struct WirePullRequest {
    number: u64,
    title: String,
    body: Option<String>,
    draft: Option<bool>,
    state: String,
    merged: Option<bool>,
    user: WireUser,
    author_association: Spelled<AuthorAssociation>,
    labels: Option<Vec<WireLabel>>,
    head: WireGitRef,
    base: WireGitRef,
    html_url: String,
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
        }
    }
}

#[derive(Deserialize)]
struct WireIssue {
    number: u64,
    title: String,
    body: Option<String>,
    labels: Option<Vec<WireLabel>>,
    user: WireUser,
    author_association: Spelled<AuthorAssociation>,
    state: String,
    pull_request: Option<IgnoredAny>,
    html_url: String,
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
struct WireComment {
    id: u64,
    body: Option<String>,
    user: WireUser,
    author_association: Spelled<AuthorAssociation>,
    html_url: String,
    #[serde(default)]
    created_at: Option<String>,
}

impl From<WireComment> for Comment {
    fn from(w: WireComment) -> Self {
        Comment {
            id: w.id,
            body: w.body.unwrap_or_default(),
            user: w.user.into(),
            author_association: w.author_association.0,
            html_url: w.html_url,
            created_at: w.created_at.and_then(|t| t.parse().ok()),
        }
    }
}

#[derive(Deserialize)]
struct WireRelease {
    tag_name: WireRefName,
    name: Option<String>,
    body: Option<String>,
    draft: bool,
    prerelease: bool,
    html_url: String,
    target_commitish: WireRefName,
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
struct WireHeadCommit {
    message: String,
}

#[derive(Deserialize)]
struct WirePusher {
    name: String,
}

/// Per-event top-level wire structs. Each repeats the delivery envelope fields
/// (`repository`, `sender`, `installation`) instead of using `#[serde(flatten)]`,
/// which would buffer the whole body. The field that identifies the event comes
/// first: serde reports the first missing field in declaration order, so a payload of
/// the wrong event is reported as missing that field (e.g. `pull_request`).
macro_rules! wire_event {
    ($name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        #[derive(Deserialize)]
        struct $name {
            $( $(#[$fmeta])* $field: $ty, )*
            repository: Option<WireRepository>,
            sender: Option<WireUser>,
            installation: Option<WireInstallation>,
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
struct WireApp {
    id: u64,
}

#[derive(Deserialize)]
struct WireCheckRun {
    id: u64,
    name: String,
    head_sha: WireSha,
    external_id: Option<String>,
    app: Option<WireApp>,
}

#[derive(Deserialize)]
struct WireCheckSuite {
    id: u64,
    head_sha: WireSha,
    app: Option<WireApp>,
}

wire_event!(WireCheckRunEvent {
    check_run: WireCheckRun,
    action: String,
});

wire_event!(WireCheckSuiteEvent {
    check_suite: WireCheckSuite,
    action: String,
});

wire_event!(WireOtherEvent {
    action: Option<String>,
});

/// Second, lenient reading of an unmodelled event whose envelope fields did not have
/// the usual shape: each one is kept only if it reads correctly on its own.
#[derive(Deserialize)]
struct WireOtherLenient {
    action: Option<serde_json::Value>,
    repository: Option<serde_json::Value>,
    sender: Option<serde_json::Value>,
    installation: Option<serde_json::Value>,
}

fn lenient<T: de::DeserializeOwned>(value: Option<serde_json::Value>) -> Option<T> {
    value.and_then(|v| T::deserialize(v).ok())
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

fn check_event_name(name: &str) -> Result<(), EventError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_EVENT_NAME_LEN
        && name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(EventError::InvalidEventName {
            name: clip_value(name),
        })
    }
}

/// Fails with [`EventError::NotJson`] unless the body's first significant byte opens
/// an object. Only the failure path does any real work.
fn check_object(body: &[u8]) -> Result<(), EventError> {
    let (mut line, mut column) = (1, 0);
    let mut first = None;
    for &b in body {
        match b {
            b'\n' => {
                line += 1;
                column = 0;
            }
            b' ' | b'\t' | b'\r' => column += 1,
            _ => {
                column += 1;
                first = Some(b);
                break;
            }
        }
    }
    if first == Some(b'{') {
        return Ok(());
    }
    // Not an object: report serde_json's own syntax error if it is not JSON at all.
    if let Err(err) = serde_json::from_slice::<IgnoredAny>(body) {
        return Err(not_json(&err));
    }
    let found = match first {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    Err(EventError::NotJson {
        line,
        column,
        message: format!("expected a JSON object, found {found}"),
    })
}

/// Reads the body into a wire struct in one streaming pass. Only when that fails on
/// the shape of the data is the body read again through `serde_path_to_error`, which
/// names the offending field but costs an allocation per object key, too much for
/// the path every delivery takes.
///
/// A body that is valid UTF-8 as a whole (every delivery GitHub sends) is checked so once,
/// which is fast over 20 KB, and then read as text: serde_json then need not check each
/// string and object key again (about 15 % of the instructions of reading a pull_request
/// delivery, on ~350 keys of 5 to 30 bytes). Any other body is read as bytes, as before,
/// so what is accepted or refused, and every error message, are unchanged.
fn read<'a, T: Deserialize<'a>>(event: &str, body: &'a [u8]) -> Result<T, EventError> {
    let read = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    match read {
        Ok(value) => Ok(value),
        Err(err) if err.classify() == serde_json::error::Category::Data => {
            let mut de = serde_json::Deserializer::from_slice(body);
            Err(match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(located) => map_error(event, located.path().to_string(), located.inner()),
                // Unreachable in practice (same input, same deserializer); keep the
                // first error, without a path.
                Ok(_) => map_error(event, "?".to_owned(), &err),
            })
        }
        Err(err) => Err(not_json(&err)),
    }
}

fn finish(
    name: &str,
    event: Event,
    repository: Option<WireRepository>,
    sender: Option<WireUser>,
    installation: Option<WireInstallation>,
) -> WebhookEvent {
    WebhookEvent {
        name: name.to_owned(),
        event,
        repository: repository.map(Repository::from),
        sender: sender.map(User::from),
        installation_id: installation.map(|i| i.id),
    }
}

/// Parses one webhook delivery from its `X-GitHub-Event` header value and raw body.
///
/// Known event names parse strictly into their [`Event`] variant; any other
/// (well-formed) name gives [`Event::Other`]. Unknown JSON fields are ignored.
pub fn parse(event_name: &str, body: &[u8]) -> Result<WebhookEvent, EventError> {
    let parsed = parse_body(event_name, body)?;
    required_envelope(&parsed)?;
    Ok(parsed)
}

/// The events that start agents carry, by GitHub's own webhook schema, the repository and
/// the sender: without them a delivery is not the event it says (400), rather than a
/// template meeting an undefined value at render time (500).
fn required_envelope(parsed: &WebhookEvent) -> Result<(), EventError> {
    let starts_agents = matches!(
        parsed.event,
        Event::PullRequest(_)
            | Event::IssueComment(_)
            | Event::Issues(_)
            | Event::Push(_)
            | Event::Release(_)
            | Event::CheckRun(_)
            | Event::CheckSuite(_)
    );
    let missing = if !starts_agents {
        None
    } else if parsed.repository.is_none() {
        Some("repository")
    } else if parsed.sender.is_none() {
        Some("sender")
    } else {
        None
    };
    match missing {
        Some(field) => Err(EventError::Shape {
            event: parsed.name.clone(),
            path: field.to_owned(),
            message: "missing field".to_owned(),
        }),
        None => Ok(()),
    }
}

fn parse_body(event_name: &str, body: &[u8]) -> Result<WebhookEvent, EventError> {
    check_event_name(event_name)?;
    check_object(body)?;
    let name = event_name;
    Ok(match name {
        "pull_request" => {
            let w: WirePullRequestEvent = read(name, body)?;
            let event = Event::PullRequest(PullRequestEvent {
                action: w.action.0,
                number: w.number,
                pull_request: w.pull_request.into(),
                label: w.label.map(|l| l.name),
                before: w.before.map(|s| s.0),
                after: w.after.map(|s| s.0),
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "issue_comment" => {
            let w: WireIssueCommentEvent = read(name, body)?;
            let event = Event::IssueComment(IssueCommentEvent {
                action: w.action.0,
                issue: w.issue.into(),
                comment: w.comment.into(),
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "issues" => {
            let w: WireIssuesEvent = read(name, body)?;
            let event = Event::Issues(IssuesEvent {
                action: w.action.0,
                issue: w.issue.into(),
                label: w.label.map(|l| l.name),
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "push" => {
            let w: WirePushEvent = read(name, body)?;
            let event = Event::Push(PushEvent {
                git_ref: w.git_ref.0,
                before: w.before.0,
                after: w.after.0,
                created: w.created,
                deleted: w.deleted,
                forced: w.forced,
                head_commit_message: w.head_commit.map(|c| c.message),
                pusher: w.pusher.name,
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "release" => {
            let w: WireReleaseEvent = read(name, body)?;
            let event = Event::Release(ReleaseEvent {
                action: w.action.0,
                release: w.release.into(),
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "ping" => {
            let w: WirePingEvent = read(name, body)?;
            let event = Event::Ping(PingEvent {
                zen: w.zen,
                hook_id: w.hook_id,
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "check_run" => {
            let w: WireCheckRunEvent = read(name, body)?;
            let c = w.check_run;
            let event = Event::CheckRun(CheckRunEvent {
                action: w.action,
                check_run: CheckRun {
                    id: c.id,
                    name: c.name,
                    head_sha: c.head_sha.0,
                    external_id: c.external_id.filter(|x| !x.is_empty()),
                    app_id: c.app.map(|a| a.id),
                },
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        "check_suite" => {
            let w: WireCheckSuiteEvent = read(name, body)?;
            let c = w.check_suite;
            let event = Event::CheckSuite(CheckSuiteEvent {
                action: w.action,
                id: c.id,
                head_sha: c.head_sha.0,
                app_id: c.app.map(|a| a.id),
            });
            finish(name, event, w.repository, w.sender, w.installation)
        }
        _ => parse_other(name, body)?,
    })
}

/// An unmodelled event: the envelope is read strictly in one streaming pass and, only
/// if that fails on the shape of a field, again leniently.
fn parse_other(name: &str, body: &[u8]) -> Result<WebhookEvent, EventError> {
    let other = |action| Event::Other {
        name: name.to_owned(),
        action,
    };
    match read::<WireOtherEvent>(name, body) {
        Ok(w) => Ok(finish(
            name,
            other(w.action),
            w.repository,
            w.sender,
            w.installation,
        )),
        Err(EventError::Shape { .. }) => {
            let w: WireOtherLenient = read(name, body)?;
            let action = match w.action {
                Some(serde_json::Value::String(s)) => Some(s),
                _ => None,
            };
            Ok(finish(
                name,
                other(action),
                lenient(w.repository),
                lenient(w.sender),
                lenient(w.installation),
            ))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::path::PathBuf;

    fn fixtures_dir() -> PathBuf {
        std::env::var_os("AGENTPODS_FIXTURES").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webhooks")),
            PathBuf::from,
        )
    }

    fn fixture(rel: &str) -> Vec<u8> {
        let path = fixtures_dir().join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    fn fixture_json(rel: &str) -> Value {
        serde_json::from_slice(&fixture(rel)).expect("fixture is JSON")
    }

    fn parse_fixture(rel: &str) -> WebhookEvent {
        let event = rel.split('/').next().expect("event folder");
        parse(event, &fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn parse_value(event: &str, value: &Value) -> Result<WebhookEvent, EventError> {
        parse(event, &serde_json::to_vec(value).expect("serializable"))
    }

    fn pr(ev: &WebhookEvent) -> &PullRequestEvent {
        match &ev.event {
            Event::PullRequest(e) => e,
            other => panic!("not a pull_request event: {other:?}"),
        }
    }

    fn shape(err: EventError) -> (String, String) {
        match err {
            EventError::Shape { path, message, .. } => (path, message),
            other => panic!("expected a Shape error, got {other:?}"),
        }
    }

    fn sha(s: &str) -> CommitSha {
        s.parse().expect("valid sha")
    }

    const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
    const BASE: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";

    #[test]
    fn a_rerequested_check_run_names_its_app_and_the_run_it_reports() {
        let ev = parse_fixture("check_run/rerequested.json");
        let Event::CheckRun(e) = &ev.event else {
            panic!("{ev:?}")
        };
        assert_eq!(e.action, "rerequested");
        assert_eq!(e.check_run.id, 4);
        assert_eq!(e.check_run.name, "randscape");
        assert_eq!(e.check_run.app_id, Some(2));
        // GitHub's example has an empty external_id: no run is named.
        assert_eq!(e.check_run.external_id, None);
        assert_eq!(
            e.check_run.head_sha.as_str(),
            "d6fde92930d4715a2b49857d24b940956b26d2d3"
        );
        assert!(ev.sender.is_some() && ev.repository.is_some());

        let mut suite = fixture_json("check_run/rerequested.json");
        let suite = json!({
            "action": "rerequested",
            "check_suite": suite["check_run"]["check_suite"].take(),
            "repository": suite["repository"].take(),
            "sender": suite["sender"].take(),
        });
        let ev = parse("check_suite", suite.to_string().as_bytes()).expect("a check suite");
        let Event::CheckSuite(e) = &ev.event else {
            panic!("{ev:?}")
        };
        assert_eq!((e.action.as_str(), e.app_id), ("rerequested", Some(2)));
    }

    #[test]
    fn every_fixture_parses_as_its_folder_event() {
        let mut count = 0;
        let mut dirs: Vec<_> = std::fs::read_dir(fixtures_dir())
            .expect("fixtures folder (set AGENTPODS_FIXTURES)")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let event_name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name");
            for file in std::fs::read_dir(&dir).expect("event folder") {
                let path = file.expect("file entry").path();
                if path.extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let body = std::fs::read(&path).expect("fixture");
                let ev =
                    parse(event_name, &body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(ev.name, event_name);
                let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
                let action = stem.split('.').next().expect("action part");
                let has_action = !action.chars().all(|c| c.is_ascii_digit());
                assert_eq!(
                    ev.action(),
                    has_action.then_some(action),
                    "{}",
                    path.display()
                );
                let kind_ok = match (event_name, &ev.event) {
                    ("pull_request", Event::PullRequest(_))
                    | ("issue_comment", Event::IssueComment(_))
                    | ("issues", Event::Issues(_))
                    | ("push", Event::Push(_))
                    | ("release", Event::Release(_))
                    | ("ping", Event::Ping(_))
                    | ("check_run", Event::CheckRun(_))
                    | ("check_suite", Event::CheckSuite(_)) => true,
                    (n, Event::Other { name, .. }) => name == n,
                    _ => false,
                };
                assert!(kind_ok, "{}: {:?}", path.display(), ev.event);
                if let Event::PullRequest(_) | Event::IssueComment(_) | Event::Issues(_) = &ev.event
                {
                    assert!(ev.repository.is_some() && ev.sender.is_some());
                }
                count += 1;
            }
        }
        assert!(count >= 22, "only {count} fixtures found");
    }

    #[test]
    fn pull_request_opened_values() {
        let ev = parse_fixture("pull_request/opened.json");
        let e = pr(&ev);
        assert_eq!(e.action, PullRequestAction::Opened);
        assert_eq!(e.number, 2);
        let p = &e.pull_request;
        assert_eq!(p.number, 2);
        assert_eq!(p.title, "Update the README with new information.");
        assert!(p.body.starts_with("This is a pretty simple change"));
        assert_eq!(p.state, "open");
        assert!(!p.draft && !p.merged);
        assert_eq!(p.author_association, AuthorAssociation::Owner);
        assert!(p.labels.is_empty());
        assert_eq!(p.user.login, "Codertocat");
        assert_eq!(p.user.kind, "User");
        assert_eq!(p.head.ref_name, "changes");
        assert_eq!(p.head.sha, sha(HEAD));
        assert_eq!(p.head.sha.short(), "ec26c3e");
        assert_eq!(p.base.ref_name, "master");
        assert_eq!(p.base.sha, sha(BASE));
        assert_eq!(
            p.head.clone_url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World.git")
        );
        assert_eq!(
            p.html_url,
            "https://github.com/Codertocat/Hello-World/pull/2"
        );
        assert!(!p.is_fork());
        assert_eq!(
            (e.label.as_ref(), e.before.as_ref(), e.after.as_ref()),
            (None, None, None)
        );
        let repo = ev.repository.as_ref().expect("repository");
        assert_eq!(repo.full_name.as_str(), "Codertocat/Hello-World");
        assert_eq!(repo.full_name.owner(), "Codertocat");
        assert_eq!(repo.full_name.name(), "Hello-World");
        assert_eq!(
            (repo.owner.as_str(), repo.name.as_str()),
            ("Codertocat", "Hello-World")
        );
        assert_eq!(repo.default_branch, "master");
        assert!(!repo.private && !repo.fork);
        assert_eq!(ev.sender.as_ref().map(|s| s.id), Some(21031067));
        assert_eq!(ev.installation_id, None);
    }

    #[test]
    fn pull_request_other_actions() {
        let ev = parse_fixture("pull_request/labeled.json");
        let e = pr(&ev);
        assert_eq!(e.action, PullRequestAction::Labeled);
        assert_eq!(e.label.as_deref(), Some("bug"));
        assert_eq!(e.pull_request.labels, vec!["bug".to_owned()]);
        assert_eq!(ev.installation_id, Some(1));

        let ev = parse_fixture("pull_request/synchronize.json");
        let e = pr(&ev);
        assert_eq!(e.action, PullRequestAction::Synchronize);
        assert_eq!(e.before, Some(sha(BASE)));
        assert_eq!(e.after, Some(sha(HEAD)));

        let ev = parse_fixture("pull_request/closed.json");
        assert_eq!(pr(&ev).action, PullRequestAction::Closed);
        assert_eq!(pr(&ev).pull_request.state, "closed");
        assert!(!pr(&ev).pull_request.merged);

        let ev = parse_fixture("pull_request/converted_to_draft.json");
        assert_eq!(pr(&ev).action, PullRequestAction::ConvertedToDraft);
        assert!(pr(&ev).pull_request.draft);
        let ev = parse_fixture("pull_request/ready_for_review.json");
        assert_eq!(pr(&ev).action, PullRequestAction::ReadyForReview);
        assert!(!pr(&ev).pull_request.draft);
        let ev = parse_fixture("pull_request/reopened.json");
        assert_eq!(pr(&ev).action, PullRequestAction::Reopened);
    }

    #[test]
    fn fork_detection() {
        let mut v = fixture_json("pull_request/opened.json");
        v["pull_request"]["head"]["repo"]["full_name"] = json!("someone-else/Hello-World");
        v["pull_request"]["head"]["repo"]["clone_url"] =
            json!("https://github.com/someone-else/Hello-World.git");
        let ev = parse_value("pull_request", &v).expect("fork variant parses");
        let p = &pr(&ev).pull_request;
        assert!(p.is_fork());
        assert_eq!(
            p.head.repo.as_ref().map(|r| r.owner()),
            Some("someone-else")
        );

        // Head repository deleted: still a fork, and no clone URL.
        v["pull_request"]["head"]["repo"] = Value::Null;
        let ev = parse_value("pull_request", &v).expect("deleted-fork variant parses");
        let p = &pr(&ev).pull_request;
        assert!(p.is_fork());
        assert_eq!(
            (p.head.repo.as_ref(), p.head.clone_url.as_ref()),
            (None, None)
        );

        // Same repository in another letter case is not a fork.
        v["pull_request"]["head"]["repo"] = v["pull_request"]["base"]["repo"].clone();
        v["pull_request"]["head"]["repo"]["full_name"] = json!("codertocat/hello-world");
        let ev = parse_value("pull_request", &v).expect("parses");
        assert!(!pr(&ev).pull_request.is_fork());
    }

    #[test]
    fn issue_comment_values() {
        let ev = parse_fixture("issue_comment/created.json");
        let Event::IssueComment(e) = &ev.event else {
            panic!("not issue_comment: {:?}", ev.event)
        };
        assert_eq!(e.action, IssueCommentAction::Created);
        assert_eq!(e.issue.number, 1);
        assert_eq!(e.issue.labels, vec!["bug".to_owned()]);
        assert!(!e.issue.is_pull_request);
        assert_eq!(e.issue.state, "open");
        assert_eq!(e.comment.id, 492700400);
        assert!(e.comment.body.starts_with("You are totally right!"));
        assert_eq!(e.comment.author_association, AuthorAssociation::Owner);
        assert!(e.comment.html_url.ends_with("#issuecomment-492700400"));

        let ev = parse_fixture("issue_comment/created.2.json");
        let Event::IssueComment(e) = &ev.event else {
            panic!("not issue_comment")
        };
        assert_eq!(e.issue.body, "");
        for (file, action) in [
            ("issue_comment/edited.json", IssueCommentAction::Edited),
            ("issue_comment/deleted.json", IssueCommentAction::Deleted),
        ] {
            let ev = parse_fixture(file);
            let Event::IssueComment(e) = &ev.event else {
                panic!("not issue_comment")
            };
            assert_eq!(e.action, action);
        }
    }

    #[test]
    fn issue_comment_on_a_pull_request() {
        let mut v = fixture_json("issue_comment/created.json");
        v["issue"]["pull_request"] = json!({"url": "https://api.github.com/repos/o/r/pulls/1"});
        v["issue"]["body"] = Value::Null;
        let ev = parse_value("issue_comment", &v).expect("parses");
        let Event::IssueComment(e) = &ev.event else {
            panic!("not issue_comment")
        };
        assert!(e.issue.is_pull_request);
        assert_eq!(e.issue.body, "");
    }

    #[test]
    fn issues_values() {
        let ev = parse_fixture("issues/labeled.json");
        let Event::Issues(e) = &ev.event else {
            panic!("not issues")
        };
        assert_eq!(e.action, IssuesAction::Labeled);
        assert_eq!(e.label.as_deref(), Some("bug"));
        assert_eq!(e.issue.title, "Spelling error in the README file");
        let ev = parse_fixture("issues/opened.json");
        let Event::Issues(e) = &ev.event else {
            panic!("not issues")
        };
        assert_eq!(
            (e.action.clone(), e.label.clone()),
            (IssuesAction::Opened, None)
        );
    }

    #[test]
    fn push_values() {
        let ev = parse_fixture("push/0.json");
        let Event::Push(e) = &ev.event else {
            panic!("not push")
        };
        assert_eq!(e.git_ref, "refs/tags/simple-tag");
        assert!(e.before.is_zero() && !e.after.is_zero());
        assert_eq!(e.after, sha("6113728f27ae82c7b1a177c8d03f9e96e0adf246"));
        assert!(e.created && !e.deleted && !e.forced);
        assert_eq!(
            e.head_commit_message.as_deref(),
            Some("Adding a .gitignore file")
        );
        assert_eq!(e.pusher, "Codertocat");
        assert_eq!(ev.action(), None);

        let ev = parse_fixture("push/1.json");
        let Event::Push(e) = &ev.event else {
            panic!("not push")
        };
        assert!(e.deleted && e.after.is_zero());
        assert_eq!(e.head_commit_message, None);
    }

    #[test]
    fn release_values() {
        let ev = parse_fixture("release/published.json");
        let Event::Release(e) = &ev.event else {
            panic!("not release")
        };
        assert_eq!(e.action, ReleaseAction::Published);
        assert_eq!(e.release.tag_name, "0.0.1");
        assert_eq!((e.release.name.as_str(), e.release.body.as_str()), ("", ""));
        assert_eq!(e.release.target_commitish, "master");
        assert!(!e.release.draft && !e.release.prerelease);
        let ev = parse_fixture("release/created.json");
        assert_eq!(ev.action(), Some("created"));
    }

    #[test]
    fn ping_and_other_events() {
        let ev = parse_fixture("ping/0.json");
        let Event::Ping(e) = &ev.event else {
            panic!("not ping")
        };
        assert_eq!(e.hook_id, 109948940);
        assert_eq!(e.zen, "Anything added dilutes everything else.");
        assert!(ev.repository.as_ref().is_some_and(|r| r.fork));

        let ev = parse_fixture("installation/created.json");
        assert_eq!(
            ev.event,
            Event::Other {
                name: "installation".into(),
                action: Some("created".into())
            }
        );
        assert_eq!(ev.installation_id, Some(957387));
        assert_eq!(ev.repository, None);
        assert_eq!(
            ev.sender.as_ref().map(|s| s.login.as_str()),
            Some("Codertocat")
        );

        let ev = parse_fixture("create/0.json");
        assert_eq!(ev.action(), None);
        assert!(ev.repository.is_some());
        let ev = parse_fixture("check_run/rerequested.json");
        assert_eq!(ev.action(), Some("rerequested"));
        assert_eq!(
            ev.repository.map(|r| r.full_name.to_string()),
            Some("github/hello-world".to_owned())
        );
    }

    #[test]
    fn other_event_with_odd_envelope_is_lenient() {
        let v = json!({
            "action": 7,
            "repository": {"full_name": "not a repo name"},
            "sender": {"login": "x", "id": 1, "type": "Bot"},
            "installation": {"id": "nope"},
        });
        let ev = parse_value("some_future_event", &v).expect("lenient");
        assert_eq!(ev.action(), None);
        assert_eq!(ev.repository, None);
        assert_eq!(ev.installation_id, None);
        assert_eq!(ev.sender.map(|s| s.kind), Some("Bot".to_owned()));
        let ev = parse("some_future_event", b"{}").expect("empty object");
        assert_eq!(ev.action(), None);
        assert!(matches!(parse("x", b"[]"), Err(EventError::NotJson { .. })));
    }

    #[test]
    fn unknown_values_are_kept() {
        let mut v = fixture_json("pull_request/opened.json");
        v["action"] = json!("auto_merge_enabled");
        v["pull_request"]["author_association"] = json!("SOMETHING_NEW");
        v["pull_request"]["brand_new_field"] = json!({"deep": [1, 2, 3]});
        let ev = parse_value("pull_request", &v).expect("parses");
        let e = pr(&ev);
        assert_eq!(
            e.action,
            PullRequestAction::Other("auto_merge_enabled".into())
        );
        assert_eq!(ev.action(), Some("auto_merge_enabled"));
        assert_eq!(
            e.pull_request.author_association,
            AuthorAssociation::Unknown("SOMETHING_NEW".into())
        );
        assert_eq!(e.pull_request.author_association.as_str(), "SOMETHING_NEW");
        assert_eq!(
            AuthorAssociation::from("FIRST_TIME_CONTRIBUTOR"),
            AuthorAssociation::FirstTimeContributor
        );
        assert_eq!(ReleaseAction::from("prereleased").as_str(), "prereleased");
        assert_eq!(
            PullRequestAction::ReadyForReview.to_string(),
            "ready_for_review"
        );
    }

    #[test]
    fn serializes_with_friendly_names() {
        let ev = parse_fixture("pull_request/labeled.json");
        let v = serde_json::to_value(&ev).expect("serializable");
        assert_eq!(v["name"], "pull_request");
        assert_eq!(v["event"]["kind"], "pull_request");
        assert_eq!(v["event"]["action"], "labeled");
        assert_eq!(v["event"]["label"], "bug");
        assert_eq!(v["event"]["pull_request"]["head"]["ref"], "changes");
        assert_eq!(v["event"]["pull_request"]["head"]["sha"], HEAD);
        assert_eq!(
            v["event"]["pull_request"]["head"]["repo"],
            "Codertocat/Hello-World"
        );
        assert_eq!(v["event"]["pull_request"]["author_association"], "OWNER");
        assert_eq!(v["event"]["pull_request"]["labels"], json!(["bug"]));
        assert_eq!(v["event"]["pull_request"]["user"]["kind"], "User");
        assert_eq!(v["repository"]["full_name"], "Codertocat/Hello-World");
        assert_eq!(v["installation_id"], 1);

        let v = serde_json::to_value(parse_fixture("push/0.json")).expect("serializable");
        assert_eq!(v["event"]["kind"], "push");
        assert_eq!(v["event"]["ref"], "refs/tags/simple-tag");
        let v = serde_json::to_value(parse_fixture("create/0.json")).expect("serializable");
        assert_eq!(
            v["event"],
            json!({"kind": "other", "name": "create", "action": null})
        );
    }

    /// Nesting a million deep never overflows the stack: where we read, it is refused
    /// (the wrong type, or serde_json's 128-level limit); where we skip, serde_json skips
    /// without recursing, so a real event with such an extra field still reads.
    #[test]
    fn a_deeply_nested_body_is_refused_or_skipped_not_a_crash() {
        let nested = |depth: usize, innermost: &str| {
            let mut v = "[".repeat(depth);
            v.push_str(innermost);
            v.push_str(&"]".repeat(depth));
            v
        };
        let with_field = |rel: &str, key: &str, value: &str| {
            let mut body = fixture(rel);
            let close = body.iter().rposition(|&b| b == b'}').expect("an object");
            body.truncate(close);
            body.extend(format!(",\"{key}\":{value}}}").into_bytes());
            body
        };
        let deep = nested(1_000_000, "");
        let ev = parse(
            "pull_request",
            &with_field("pull_request/opened.json", "extra", &deep),
        )
        .expect("an unmodelled field is skipped");
        assert_eq!(pr(&ev).action, PullRequestAction::Opened);
        parse(
            "pull_request",
            format!("{{\"pull_request\":{deep}}}").as_bytes(),
        )
        .expect_err("not a pull request");
        // Inside a modelled field that takes any JSON (a label's name must be a string;
        // the `other` events keep `action` as any value).
        let err = parse(
            "deployment",
            format!("{{\"action\":{}}}", nested(10_000, "1")).as_bytes(),
        )
        .expect_err("too deep");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }

    #[test]
    fn not_json_reports_line_and_column() {
        let err = parse("push", b"not json").expect_err("garbage");
        let EventError::NotJson { line, column, .. } = err else {
            panic!("expected NotJson, got {err:?}")
        };
        assert_eq!((line, column), (1, 2));

        let err = parse("push", b"{\n  \"ref\": \"x\",\n  oops\n}").expect_err("bad");
        assert!(
            matches!(err, EventError::NotJson { line: 3, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("at line"), "{err}");

        for body in [&b""[..], b"   ", b"[1, 2]", b"\"a string\"", b"42", b"null"] {
            let err = parse("pull_request", body).expect_err("not an object");
            assert!(
                matches!(err, EventError::NotJson { .. }),
                "{body:?}: {err:?}"
            );
        }
        let err = parse("pull_request", b"\n  [1]").expect_err("array");
        assert_eq!(
            err,
            EventError::NotJson {
                line: 2,
                column: 3,
                message: "expected a JSON object, found an array".into()
            }
        );
        // Trailing garbage after a valid payload: not JSON.
        let mut body = fixture("push/0.json");
        body.extend_from_slice(b"\n}");
        let err = parse("push", &body).expect_err("trailing");
        assert!(
            matches!(err, EventError::NotJson { line: 2, .. }),
            "{err:?}"
        );
        let err = parse("unknown_thing", b"{} x").expect_err("trailing");
        assert!(matches!(err, EventError::NotJson { .. }), "{err:?}");
        // Truncated body: not JSON.
        let body = fixture("pull_request/opened.json");
        let err = parse("pull_request", &body[..body.len() / 2]).expect_err("truncated");
        assert!(matches!(err, EventError::NotJson { .. }), "{err:?}");
    }

    #[test]
    fn wrong_event_payload_names_the_missing_field() {
        let err = parse("pull_request", &fixture("issues/opened.json")).expect_err("wrong");
        assert_eq!(
            err,
            EventError::Shape {
                event: "pull_request".into(),
                path: "pull_request".into(),
                message: "missing field".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "webhook body is not a valid `pull_request` event: missing field at `pull_request`"
        );
        let (path, _) = shape(parse("push", &fixture("ping/0.json")).expect_err("wrong"));
        assert_eq!(path, "ref");
    }

    #[test]
    fn an_event_that_starts_agents_needs_its_repository_and_sender() {
        for (event, file) in [
            ("pull_request", "pull_request/opened.json"),
            ("issue_comment", "issue_comment/created.json"),
            ("issues", "issues/opened.json"),
            ("push", "push/0.json"),
            ("release", "release/published.json"),
        ] {
            for field in ["repository", "sender"] {
                for absent in [None, Some(Value::Null)] {
                    let mut v = fixture_json(file);
                    match &absent {
                        None => {
                            v.as_object_mut().map(|o| o.remove(field));
                        }
                        Some(null) => v[field] = null.clone(),
                    }
                    let err = parse_value(event, &v).expect_err("refused");
                    assert_eq!(
                        err.to_string(),
                        format!(
                            "webhook body is not a valid `{event}` event: missing field at `{field}`"
                        )
                    );
                }
            }
        }
        // Events that start nothing may come without them (an installation has no repository).
        let mut ping = fixture_json("ping/0.json");
        ping.as_object_mut().map(|o| o.remove("repository"));
        parse_value("ping", &ping).expect("a ping without a repository");
    }

    #[test]
    fn bad_values_name_their_path() {
        let mut v = fixture_json("pull_request/opened.json");
        v["pull_request"]["head"]["sha"] = json!("not-a-sha-at-all-zzzzzzzzzzzzzzzzzzzzzzz");
        let (path, message) = shape(parse_value("pull_request", &v).expect_err("bad sha"));
        assert_eq!(path, "pull_request.head.sha");
        assert!(message.contains("invalid commit SHA"), "{message}");

        let mut v = fixture_json("pull_request/opened.json");
        v["pull_request"]["head"]["sha"] = json!(HEAD.to_uppercase());
        let (path, _) = shape(parse_value("pull_request", &v).expect_err("uppercase sha"));
        assert_eq!(path, "pull_request.head.sha");

        let mut v = fixture_json("pull_request/opened.json");
        v["pull_request"]["head"]
            .as_object_mut()
            .expect("object")
            .remove("sha");
        let (path, message) = shape(parse_value("pull_request", &v).expect_err("no sha"));
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("pull_request.head.sha", "missing field")
        );

        let mut v = fixture_json("pull_request/opened.json");
        v["repository"]["full_name"] = json!("../../etc");
        let (path, _) = shape(parse_value("pull_request", &v).expect_err("bad repo"));
        assert_eq!(path, "repository.full_name");

        let mut v = fixture_json("pull_request/opened.json");
        v["number"] = json!("2");
        let (path, message) = shape(parse_value("pull_request", &v).expect_err("bad number"));
        assert_eq!(path, "number");
        assert!(message.starts_with("invalid type: string"), "{message}");

        let mut v = fixture_json("issues/labeled.json");
        v["issue"]["labels"][0]["name"] = json!(5);
        let (path, _) = shape(parse_value("issues", &v).expect_err("bad label"));
        assert_eq!(path, "issue.labels[0].name");

        let mut v = fixture_json("push/0.json");
        v["after"] = json!(null);
        let (path, _) = shape(parse_value("push", &v).expect_err("null after"));
        assert_eq!(path, "after");
    }

    #[test]
    fn hostile_bodies_give_short_messages() {
        let mb = 1 << 20;
        // Pseudo-random bytes (xorshift), starting with '{' so the parser goes in.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut garbage = vec![b'{'];
        garbage.extend((0..mb).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        }));
        let long = "A".repeat(mb);
        let bodies: Vec<Vec<u8>> = vec![
            garbage.clone(),
            garbage[1..].to_vec(),
            vec![b'x'; mb],
            format!("{{\"action\":\"opened\",\"number\":\"{long}\"}}").into_bytes(),
            format!("{{\"pull_request\":{{\"head\":{{\"sha\":\"{long}\"}}}}}}").into_bytes(),
            format!("{{\"{long}\":1,\"action\":{long}}}").into_bytes(),
            format!(
                "{{\"action\":\"opened\",\"number\":1,\"pull_request\":{}",
                "[".repeat(mb)
            )
            .into_bytes(),
            format!("{{\"a\":{}", "{\"b\":".repeat(mb / 5)).into_bytes(),
            format!("{{\"a\":\"{long}").into_bytes(),
        ];
        for (i, body) in bodies.iter().enumerate() {
            for event in ["pull_request", "push", "unknown_thing"] {
                let err = match parse(event, body) {
                    Err(err) => err,
                    // Some of these are valid for an unmodelled event.
                    Ok(_) if event == "unknown_thing" => continue,
                    Ok(ev) => panic!("body {i} parsed as {event}: {ev:?}"),
                };
                let text = err.to_string();
                assert!(
                    text.len() < 260,
                    "body {i}, {event}: {} chars: {text}",
                    text.len()
                );
                assert!(!text.contains(&"A".repeat(81)), "body {i} leaks: {text}");
            }
        }
        let err = parse(&"a".repeat(10_000), b"{}").expect_err("long name");
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn event_names_are_validated() {
        for bad in [
            "",
            "Pull_Request",
            "pull-request",
            "pull request",
            "ping\n",
            "é",
        ] {
            assert!(
                matches!(parse(bad, b"{}"), Err(EventError::InvalidEventName { .. })),
                "{bad:?}"
            );
        }
        assert!(parse(&"a".repeat(65), b"{}").is_err());
        assert!(parse(&"a".repeat(64), b"{}").is_ok());
    }

    #[test]
    fn newtypes_validate() {
        for good in ["o/r", "Code-r_tocat/Hello.World", "a1/.github", "x/..."] {
            let n: RepoFullName = good.parse().unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(n.to_string(), good);
        }
        for bad in [
            "", "/", "o/", "/r", "o/r/x", "o r/x", "o/r!", "./r", "o/..", "ö/r", "o\\r",
        ] {
            assert!(bad.parse::<RepoFullName>().is_err(), "{bad:?}");
        }
        let n = RepoFullName::try_from("octo/cat".to_owned()).expect("valid");
        assert_eq!((n.owner(), n.name()), ("octo", "cat"));
        assert_eq!(serde_json::to_value(&n).expect("ser"), json!("octo/cat"));

        let s256 = "a".repeat(64);
        assert!(s256.parse::<CommitSha>().is_ok());
        for bad in [
            "",
            "abc",
            &HEAD.to_uppercase(),
            &format!("{HEAD}0"),
            &"g".repeat(40),
        ] {
            assert!(bad.parse::<CommitSha>().is_err(), "{bad:?}");
        }
        let s = sha(HEAD);
        assert_eq!((s.short(), s.to_string().as_str()), ("ec26c3e", HEAD));
        assert_eq!(serde_json::to_value(&s).expect("ser"), json!(HEAD));
        let err = "z".repeat(100_000).parse::<CommitSha>().expect_err("bad");
        assert!(err.to_string().len() < 150, "{err}");
    }

    #[test]
    fn mutated_fixtures_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for rel in [
            "pull_request/synchronize.json",
            "issue_comment/created.json",
            "push/0.json",
        ] {
            let body = fixture(rel);
            let event = rel.split('/').next().expect("folder");
            for _ in 0..300 {
                let mut b = body.clone();
                let cut = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b.truncate(cut),
                    1 => b[cut] = next().to_le_bytes()[0],
                    _ => {
                        b.remove(cut);
                    }
                }
                for name in [event, "pull_request", "other"] {
                    // Must return, Ok or Err, without panicking.
                    let _ = parse(name, &b);
                }
            }
        }
    }
}
