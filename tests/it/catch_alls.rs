//! Matches that must decide for every kind, with no catch-all: a new event kind, or a new
//! comment verb, is a compile error at each of them until it decides there, instead of
//! quietly taking the catch-all's answer (outside review 12b: a new trigger with no replay
//! window, R4; a new verb parsed as `help`, R5).
//!
//! The compiler holds each match once it has no catch-all; this keeps one from coming
//! back, as `_ =>` or as anything else that matches every value: a lone binding
//! (`other =>`, `_name =>`), a guarded one (`_ if …`) or an alternative (`X::A | _`).

use std::path::Path;

/// `(file, the function's signature as it starts)`: each function's body must have no
/// catch-all arm.
const EXHAUSTIVE: &[(&str, &str)] = &[
    // R4: the replay window of each trigger kind, and what the intake tells of each kind.
    ("src/plan/replay.rs", "pub fn stale("),
    (
        "src/serve/facts_and_replies.rs",
        "pub fn of(event: &WebhookEvent, commit: Option<&CommitSha>)",
    ),
    ("src/serve/facts_and_replies.rs", "pub fn responses("),
    ("src/serve/facts_and_replies.rs", "fn written_at("),
    // R5: each built-in verb parses as itself, none as `help`.
    ("src/github/command.rs", "fn parse_command("),
    // 12d R12: the pull request a run is about, one place for every event kind.
    ("src/github/event/mod.rs", "pub fn pull_request_about<'a>("),
    // R8: which pull request actions show a head an approval can bind to.
    ("src/serve/pipeline.rs", "async fn record_head("),
];

/// The body of the function starting `signature` in `text`: from its line to the first
/// line after it that closes at the signature's indentation.
fn body<'a>(text: &'a str, signature: &str) -> Option<&'a str> {
    let start = text.find(signature)?;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..start];
    let close = format!("\n{indent}}}\n");
    let end = text[start..].find(&close)? + start + close.len();
    Some(&text[start..end])
}

#[test]
fn the_matches_over_every_event_kind_and_verb_have_no_catch_all() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for (file, signature) in EXHAUSTIVE {
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{file}: cannot read: {e}"));
        let body = body(&text, signature)
            .unwrap_or_else(|| panic!("{file}: no `{signature}` (renamed? update EXHAUSTIVE)"));
        for line in catch_alls(body) {
            found.push(format!("{file}: `{signature}…`: {line}"));
        }
    }
    assert!(
        found.is_empty(),
        "a catch-all where every kind must decide (name each one in its arm):\n  {}",
        found.join("\n  ")
    );
}

/// The lines of `body` with an arm that catches every value (outside review 12c, R4):
/// an alternative that is `_` or a lone binding (`_name`, `other`, `ref x`, `x @ _`),
/// guarded or not (`_ if …`), alone or beside others (`X::A | _`).
fn catch_alls(body: &str) -> Vec<&str> {
    body.lines()
        .filter(|line| {
            let Some((pattern, _)) = line.split_once("=>") else {
                return false;
            };
            let pattern = pattern.split(" if ").next().unwrap_or(pattern);
            pattern
                .split('|')
                .any(|alternative| catches_all(alternative.trim()))
        })
        .map(str::trim)
        .collect()
}

/// Whether one alternative of a pattern matches any value: `_`, or a binding whose name
/// starts lower case or with `_` (a unit variant or a constant starts upper case).
fn catches_all(alternative: &str) -> bool {
    let alternative = alternative
        .strip_suffix("@ _")
        .map(str::trim)
        .unwrap_or(alternative);
    let name = ["ref mut ", "ref ", "mut "]
        .iter()
        .find_map(|p| alternative.strip_prefix(p))
        .unwrap_or(alternative)
        .trim();
    let lone = name
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_lowercase())
        && name.chars().all(|c| c == '_' || c.is_alphanumeric());
    lone && !matches!(name, "true" | "false")
}

/// The catch-alls review 12c wrote in `plan::replay::stale` and named beside it (R4), and
/// the plain `_ =>` before them, are each seen; an arm naming its kinds is not.
#[test]
fn a_catch_all_written_as_a_binding_a_guard_or_an_alternative_is_seen() {
    for arm in [
        "_ => None,",
        "_starts_nothing => {",
        "other => return None,",
        "_x if now > at => None,",
        "Trigger::Push { .. } | _ => None,",
        "| _ => None,",
        "kind @ _ => Some(kind),",
        "ref other => None,",
    ] {
        let body = format!("fn f(x: X) {{\n    match x {{\n        {arm}\n    }}\n}}\n");
        assert_eq!(catch_alls(&body), [arm], "{arm}");
    }
    for arm in [
        "Trigger::Push { .. } => None,",
        "None => None,",
        "Some(x) => Some(x),",
        "Kind::A | Kind::B if ready => Some(1),",
        "true => 1,",
        "let x = |a| a + 1; // no arm",
    ] {
        let body = format!("fn f(x: X) {{\n    match x {{\n        {arm}\n    }}\n}}\n");
        assert_eq!(catch_alls(&body), Vec::<&str>::new(), "{arm}");
    }
}

#[test]
fn a_catch_all_is_seen() {
    let text = "fn f(x: X) -> u8 {\n    match x {\n        X::A => 1,\n        _ => 0,\n    }\n}\nfn g() {}\n";
    let body = body(text, "fn f(").expect("the body");
    assert!(body.contains("_ => 0"), "{body}");
    assert!(!body.contains("fn g"), "{body}");
}
