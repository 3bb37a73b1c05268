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
    assert_eq!(e.action, CheckRunAction::Rerequested);
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
    assert_eq!(
        (&e.action, e.app_id),
        (&CheckSuiteAction::Rerequested, Some(2))
    );

    // An action GitHub adds later is kept, word for word.
    let mut later = fixture_json("check_run/rerequested.json");
    later["action"] = json!("pondered");
    let ev = parse("check_run", later.to_string().as_bytes()).expect("a check run");
    let Event::CheckRun(e) = &ev.event else {
        panic!("{ev:?}")
    };
    assert_eq!(e.action, CheckRunAction::Other("pondered".into()));
    assert_eq!(e.action.to_string(), "pondered");
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
            let ev = parse(event_name, &body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
            if let Event::PullRequest(_) | Event::IssueComment(_) | Event::Issues(_) = &ev.event {
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
    assert_eq!(p.user.kind, AccountKind::User);
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
    assert_eq!(e.comment.id, crate::ids::CommentId(492700400));
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
    assert_eq!(ev.sender.map(|s| s.kind), Some(AccountKind::Bot));
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

/// What the model used to be serialized to (its friendly names) read from the model's
/// fields: the model is not serialized any more (the stored run has types of its own).
#[test]
fn reads_githubs_names_into_the_models_fields() {
    let ev = parse_fixture("pull_request/labeled.json");
    assert_eq!(ev.name, "pull_request");
    let Event::PullRequest(e) = &ev.event else {
        panic!("a pull_request event: {ev:?}");
    };
    assert_eq!(e.action, PullRequestAction::Labeled);
    assert_eq!(e.label.as_deref(), Some("bug"));
    assert_eq!(e.pull_request.head.ref_name, "changes");
    assert_eq!(e.pull_request.head.sha.as_str(), HEAD);
    assert_eq!(
        e.pull_request.head.repo.as_ref().map(RepoFullName::as_str),
        Some("Codertocat/Hello-World")
    );
    assert_eq!(e.pull_request.author_association, AuthorAssociation::Owner);
    assert_eq!(e.pull_request.labels, ["bug"]);
    assert_eq!(e.pull_request.user.kind, AccountKind::User);
    assert_eq!(
        ev.repository.as_ref().map(|r| r.full_name.as_str()),
        Some("Codertocat/Hello-World")
    );
    assert_eq!(ev.installation_id, Some(1));

    let Event::Push(push) = parse_fixture("push/0.json").event else {
        panic!("a push event");
    };
    assert_eq!(push.git_ref, "refs/tags/simple-tag");
    assert_eq!(
        parse_fixture("create/0.json").event,
        Event::Other {
            name: "create".into(),
            action: None
        }
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
        "webhook body is not a valid `pull_request` event: the `pull_request` field is missing"
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
                        "webhook body is not a valid `{event}` event: the `{field}` field is missing"
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

/// The time GitHub signed for each event that can start a run (issue 11, F7): what a
/// replayed body's age is told by.
#[test]
fn each_event_that_can_start_a_run_carries_the_time_github_signed() {
    let at = |rel: &str| parse_fixture(rel).signed_at.map(|t| t.to_string());
    assert_eq!(
        at("issue_comment/created.json").as_deref(),
        Some("2019-05-15T15:20:21Z")
    );
    assert_eq!(
        at("pull_request/opened.json").as_deref(),
        Some("2019-05-15T15:20:33Z")
    );
    assert_eq!(
        at("issues/opened.json").as_deref(),
        Some("2019-05-15T15:20:18Z")
    );
    // A release: published_at, later than its created_at.
    assert_eq!(
        at("release/published.json").as_deref(),
        Some("2019-05-15T15:20:53Z")
    );
    // A push: repository.pushed_at, in seconds since the epoch in push payloads.
    assert_eq!(at("push/0.json").as_deref(), Some("2019-05-15T15:20:57Z"));
    assert_eq!(at("ping/0.json"), None);
}

/// Read leniently: a time that is no time reads as absent (the delivery is then stale to
/// the service), never as a refused body.
#[test]
fn a_signed_time_that_is_no_time_reads_as_absent() {
    for bad in [
        json!("yesterday"),
        json!(1.5),
        json!(true),
        json!([1]),
        json!({"a": 1}),
        Value::Null,
    ] {
        let mut push = fixture_json("push/0.json");
        push["repository"]["pushed_at"] = bad.clone();
        let event = parse_value("push", &push).unwrap_or_else(|e| panic!("{bad}: {e}"));
        assert_eq!(event.signed_at, None, "{bad}");
        let mut comment = fixture_json("issue_comment/created.json");
        comment["comment"]["created_at"] = bad.clone();
        if bad.is_string() || bad.is_null() {
            let event = parse_value("issue_comment", &comment).expect("parses");
            assert_eq!(event.signed_at, None, "{bad}");
        }
    }
}
