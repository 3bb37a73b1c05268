//! Matches that must decide for every kind, with no catch-all: a new event kind, or a new
//! comment verb, is a compile error at each of them until it decides there, instead of
//! quietly taking the catch-all's answer (outside review 12b: a new trigger with no replay
//! window, R4; a new verb parsed as `help`, R5).
//!
//! The compiler holds each match once it has no `_ =>`; this keeps the `_ =>` from coming
//! back.

use std::path::Path;

/// `(file, the function's signature as it starts)`: each function's body must have no
/// catch-all arm.
const EXHAUSTIVE: &[(&str, &str)] = &[
    // R4: the replay window of each trigger kind, and what the intake tells of each kind.
    ("src/plan/replay.rs", "pub fn stale("),
    (
        "src/serve/facts_and_replies.rs",
        "pub fn of(event: &WebhookEvent)",
    ),
    ("src/serve/facts_and_replies.rs", "pub fn responses("),
    ("src/serve/facts_and_replies.rs", "fn written_at("),
    // R5: each built-in verb parses as itself, none as `help`.
    ("src/github/command.rs", "fn parse_command("),
    // R8: which pull request actions show a head an approval can bind to.
    ("src/serve/http.rs", "async fn record_head("),
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
        for line in body.lines() {
            if line.trim_start().starts_with("_ =>") {
                found.push(format!("{file}: `{signature}…`: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a catch-all where every kind must decide (name each one in its arm):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn a_catch_all_is_seen() {
    let text = "fn f(x: X) -> u8 {\n    match x {\n        X::A => 1,\n        _ => 0,\n    }\n}\nfn g() {}\n";
    let body = body(text, "fn f(").expect("the body");
    assert!(body.contains("_ => 0"), "{body}");
    assert!(!body.contains("fn g"), "{body}");
}
