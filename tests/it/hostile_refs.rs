//! A signed delivery whose ref, tag or branch name git would refuse (a newline, another
//! control character, `..`, a bidirectional-text control…) is refused with 400 naming the
//! field, and nothing is planned: no such name reaches a manifest, an env var, a label, a
//! git command or a log line.

use crate::support;

use serde_json::Value;

use support::fixtures::fixture;
use support::server::{Post, TestService, json, within};

/// Every place a payload carries a ref name we use, in a real delivery that plans runs
/// with the example config (a push of a `simple-*` tag starts the image build; a published
/// release, release notes; an opened pull request, a review).
const PLACES: &[(&str, &str)] = &[
    ("push/0.json", "/ref"),
    ("release/published.json", "/release/tag_name"),
    ("release/published.json", "/release/target_commitish"),
    ("pull_request/opened.json", "/pull_request/head/ref"),
    ("pull_request/opened.json", "/pull_request/base/ref"),
    ("pull_request/opened.json", "/repository/default_branch"),
    ("issues/opened.json", "/repository/default_branch"),
];

/// Names git refuses, each kept close to the real one so that a lax glob would still match.
fn hostile(real: &str) -> Vec<String> {
    vec![
        format!("{real}\nkind: Pod"),
        format!("{real}\r"),
        format!("{real}\u{85}x"),
        format!("{real}\u{2028}x"),
        format!("{real}\u{202E}exe.txt"),
        format!("{real}\u{1b}[2J"),
        format!("{real}/../../etc"),
        format!("{real}:evil"),
        format!("{real} --upload-pack=touch"),
        format!("{real}.lock"),
        format!("-{real}@{{1}}"),
    ]
}

fn with(body: &[u8], pointer: &str, value: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).expect("a JSON fixture");
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the fixture")) = Value::from(value);
    serde_json::to_vec(&v).expect("JSON")
}

#[tokio::test]
async fn a_signed_delivery_with_a_ref_git_refuses_is_refused_naming_the_field_and_plans_nothing() {
    within(120, async {
        let service = TestService::start();
        let mut n = 0;
        for (name, pointer) in PLACES {
            let payload = fixture(name);
            let body = payload.body();
            let field = pointer.trim_start_matches('/').replace('/', ".");
            let original: Value = serde_json::from_slice(&body).expect("JSON");
            let real = original
                .pointer(pointer)
                .and_then(Value::as_str)
                .expect("a string there")
                .to_string();

            // The delivery as GitHub sent it is taken (and plans runs).
            n += 1;
            let reply = service
                .oneshot(&Post::delivery(
                    &payload.event,
                    &format!("real-{n}"),
                    body.clone(),
                ))
                .await;
            assert!(
                (200..300).contains(&reply.status),
                "{name} as sent: {} {}",
                reply.status,
                reply.text()
            );
            let planned = service.work.manifests().len();

            for value in hostile(&real) {
                n += 1;
                let post = Post::delivery(
                    &payload.event,
                    &format!("hostile-{n}"),
                    with(&body, pointer, &value),
                );
                let reply = service.oneshot(&post).await;
                assert_eq!(
                    reply.status,
                    400,
                    "{name} with {field} = {value:?}: {}",
                    reply.text()
                );
                let error = json(&reply)["error"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert!(
                    error.contains(&format!("`{field}`")) && error.contains("git ref name"),
                    "{name}: the answer names the field: {error}"
                );
                assert!(
                    !error.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{202E}', '\u{1b}']),
                    "the answer quotes no raw control character: {error:?}"
                );
                assert_eq!(
                    service.work.manifests().len(),
                    planned,
                    "{name} with {field} = {value:?} planned a run"
                );
            }
        }
    })
    .await;
}

/// Names git takes that read as another name: an invisible or formatting character makes
/// `main\u{200B}` look like `main` in a prompt, a comment or a log line.
fn lookalikes(real: &str) -> Vec<(String, &'static str)> {
    let (head, tail) = real.split_at(real.len() / 2);
    vec![
        (format!("{real}\u{200B}"), "U+200B"),
        (format!("\u{FEFF}{real}"), "U+FEFF"),
        (format!("{head}\u{2060}{tail}"), "U+2060"),
        (format!("{head}\u{200D}{tail}"), "U+200D"),
        (format!("{real}\u{00AD}"), "U+00AD"),
        (format!("{real}\u{E0041}"), "U+E0041"),
        (format!("{real}\u{00A0}"), "U+00A0"),
        (format!("{real}\u{2066}"), "U+2066"),
    ]
}

#[tokio::test]
async fn a_ref_with_an_invisible_character_is_refused_naming_the_code_point_and_plans_nothing() {
    within(120, async {
        let service = TestService::start();
        let mut n = 0;
        for (name, pointer) in PLACES {
            let payload = fixture(name);
            let body = payload.body();
            let field = pointer.trim_start_matches('/').replace('/', ".");
            let original: Value = serde_json::from_slice(&body).expect("JSON");
            let real = original
                .pointer(pointer)
                .and_then(Value::as_str)
                .expect("a string there")
                .to_string();
            let planned = service.work.manifests().len();
            for (value, code_point) in lookalikes(&real) {
                n += 1;
                let post = Post::delivery(
                    &payload.event,
                    &format!("lookalike-{n}"),
                    with(&body, pointer, &value),
                );
                let reply = service.oneshot(&post).await;
                assert_eq!(
                    reply.status,
                    400,
                    "{name} with {field} = {value:?} (git takes it, but it reads as {real:?}): {}",
                    reply.text()
                );
                let error = json(&reply)["error"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert!(
                    error.contains(&format!("`{field}`")) && error.contains(code_point),
                    "{name}: the answer names the field and {code_point}: {error}"
                );
                assert!(
                    !error.contains(|c: char| agentpods::github::refname::hidden_kind(c).is_some()),
                    "the answer quotes no invisible character: {error:?}"
                );
                assert_eq!(
                    service.work.manifests().len(),
                    planned,
                    "{name} with {field} = {value:?} planned a run"
                );
            }
        }
    })
    .await;
}
