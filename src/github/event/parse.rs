//! Parsing a delivery: the event name and the body in, a [`WebhookEvent`] or an
//! [`EventError`] out.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::error::{clip_value, map_error, not_json};
use super::wire::*;
use super::{
    CheckRun, CheckRunEvent, CheckSuiteEvent, Comment, Event, EventError, IssueCommentEvent,
    IssuesEvent, PingEvent, PullRequestEvent, PushEvent, ReleaseEvent, Repository, User,
    WebhookEvent,
};

/// Longest event name accepted by [`parse`]; GitHub's longest is about 30 characters.
const MAX_EVENT_NAME_LEN: usize = 64;

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
        signed_at: None,
    }
}

/// `event`, with the time GitHub signed for it.
fn signed(mut event: WebhookEvent, at: Option<k8s_openapi::jiff::Timestamp>) -> WebhookEvent {
    event.signed_at = at;
    event
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
            let at = time(&w.pull_request.updated_at);
            let event = Event::PullRequest(PullRequestEvent {
                action: w.action.0,
                number: w.number,
                pull_request: w.pull_request.into(),
                label: w.label.map(|l| l.name),
                before: w.before.map(|s| s.0),
                after: w.after.map(|s| s.0),
            });
            signed(
                finish(name, event, w.repository, w.sender, w.installation),
                at,
            )
        }
        "issue_comment" => {
            let w: WireIssueCommentEvent = read(name, body)?;
            let comment: Comment = w.comment.into();
            let at = comment.created_at;
            let event = Event::IssueComment(IssueCommentEvent {
                action: w.action.0,
                issue: w.issue.into(),
                comment,
            });
            signed(
                finish(name, event, w.repository, w.sender, w.installation),
                at,
            )
        }
        "issues" => {
            let w: WireIssuesEvent = read(name, body)?;
            let at = time(&w.issue.updated_at);
            let event = Event::Issues(IssuesEvent {
                action: w.action.0,
                issue: w.issue.into(),
                label: w.label.map(|l| l.name),
            });
            signed(
                finish(name, event, w.repository, w.sender, w.installation),
                at,
            )
        }
        "push" => {
            let w: WirePushEvent = read(name, body)?;
            let at = w.repository.as_ref().and_then(|r| time(&r.pushed_at));
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
            signed(
                finish(name, event, w.repository, w.sender, w.installation),
                at,
            )
        }
        "release" => {
            let w: WireReleaseEvent = read(name, body)?;
            // The later of the two: a draft created long ago and published now is new.
            let at = time(&w.release.published_at).max(time(&w.release.created_at));
            let event = Event::Release(ReleaseEvent {
                action: w.action.0,
                release: w.release.into(),
            });
            signed(
                finish(name, event, w.repository, w.sender, w.installation),
                at,
            )
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
                action: w.action.0,
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
                action: w.action.0,
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
