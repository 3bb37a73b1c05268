//! Why a delivery could not be parsed, in messages that never quote much of the body.

use crate::text::clip_middle;

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
    #[error("webhook body is not a valid `{event}` event: {}", shape_problem(.path, .message))]
    Shape {
        /// The event name given to [`parse`](super::parse).
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

/// What is wrong at `path`, in words: "the `pull_request` field is missing", not serde's
/// "missing field at `pull_request`", which reads as if something were missing inside it
/// (new-user review 13h, F10).
fn shape_problem(path: &str, message: &str) -> String {
    match message {
        MISSING_FIELD => format!("the `{path}` field is missing"),
        DUPLICATE_FIELD => format!("the `{path}` field is given twice"),
        _ => format!("{message} at `{path}`"),
    }
}

/// serde's words for a field that is not there, and for one given twice.
const MISSING_FIELD: &str = "missing field";
const DUPLICATE_FIELD: &str = "duplicate field";

/// A string that is not a valid [`RepoFullName`](super::RepoFullName) or [`CommitSha`](super::CommitSha).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not `owner/name` with exactly one `/` and only `A-Z a-z 0-9 . _ -`.
    #[error("invalid repository name {0:?}: expected owner/name made of A-Za-z0-9._-")]
    RepoFullName(String),
    /// Not 40 or 64 lowercase hexadecimal characters.
    #[error("invalid commit SHA {0:?}: expected 40 or 64 lowercase hexadecimal characters")]
    CommitSha(String),
}

/// A value quoted inside an error message.
pub(super) fn clip_value(s: &str) -> String {
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

pub(super) fn not_json(err: &serde_json::Error) -> EventError {
    EventError::NotJson {
        line: err.line(),
        column: err.column(),
        message: json_message(err),
    }
}

/// serde's message without the name of our own type it expected (`expected struct
/// WireInstallation with 1 element`): a 400's body says what GitHub's JSON should hold,
/// never a Rust type (new-user review 13g, G8).
fn without_type_names(message: String) -> String {
    let Some(at) = message.find("expected struct ") else {
        return message;
    };
    // An array where an object belongs reads as a struct's fields by position: serde
    // counts them (`invalid length 0`).
    let found = if message.starts_with("invalid length ") {
        "invalid type: array, "
    } else {
        &message[..at]
    };
    format!("{found}expected an object")
}

pub(super) fn map_error(event: &str, path: String, inner: &serde_json::Error) -> EventError {
    if inner.classify() != serde_json::error::Category::Data {
        return not_json(inner);
    }
    let message = json_message(inner);
    // serde reports a missing field at its parent; name the field itself instead.
    let field_problem = [MISSING_FIELD, DUPLICATE_FIELD]
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
        None => (path, crate::text::serde_words(&without_type_names(message))),
    };
    EventError::Shape {
        event: event.to_owned(),
        path: clip_message(&path),
        message,
    }
}
