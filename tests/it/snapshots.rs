//! What the default templates produce, as a reviewer would read it: the manifests of each
//! example agent and the bot's result comment. Every run uses the same delivery id, so
//! names and annotations are stable. Review changes with `cargo insta review`.

use crate::support;

use serde_json::json;
use support::fixtures::{Example, Outcome, fixture, variant};

fn manifests(outcome: &Outcome) -> String {
    assert!(
        !outcome.runs.is_empty(),
        "nothing launched:\n{}",
        outcome.story()
    );
    outcome.yaml()
}

#[test]
fn review_pod_and_task_for_an_opened_pull_request() {
    let outcome = Example::load().deliver(&fixture("pull_request/opened.json"));
    insta::assert_snapshot!(manifests(&outcome));
}

#[test]
fn task_pod_for_a_run_command_on_an_issue() {
    let outcome = Example::load().deliver(&variant("issue_comment/run-on-issue.json"));
    insta::assert_snapshot!(manifests(&outcome));
}

#[test]
fn release_notes_pod_for_a_published_release() {
    let outcome = Example::load().deliver(&fixture("release/published.json"));
    insta::assert_snapshot!(manifests(&outcome));
}

#[test]
fn kaniko_job_for_a_pushed_tag() {
    let outcome = Example::load().deliver(&fixture("push/0.json"));
    insta::assert_snapshot!(manifests(&outcome));
}

fn comment(context: serde_json::Value) -> String {
    Example::load()
        .engine
        .render_named("comment.md", context)
        .unwrap_or_else(|e| panic!("comment.md does not render: {e}"))
}

#[test]
fn result_comment_while_the_run_is_going() {
    let text = comment(json!({
        "run": {
            "agent": "task",
            "name": "task-issue1-1eeb8987",
            "requested_by": "Codertocat",
            "duration": null,
            "url": "https://agentpods.example.com/runs/agentpods-runs/task-issue1-1eeb8987",
        },
        "result": null,
        "prefix": "/agent",
    }));
    insta::assert_snapshot!(text);
}

#[test]
fn result_comment_once_the_run_has_finished() {
    let text = comment(json!({
        "run": {
            "agent": "review",
            "name": "review-pr2-d58c95d3",
            "requested_by": "Codertocat",
            "duration": "4m 12s",
            "url": null,
        },
        "result": {
            "conclusion": "failure",
            "summary": "Two problems:\n\n- `README.md:3`: the link is broken.\n- No test covers the new section.",
        },
        "prefix": "/agent",
    }));
    insta::assert_snapshot!(text);
}

/// A run that failed before it started (at render) or was cancelled unstarted has no
/// duration: the comment says none, rather than `in None`.
#[test]
fn a_run_without_a_duration_finishes_without_one() {
    let text = comment(json!({
        "run": {"agent": "deploy", "name": "deploy-v1-d58c95d3", "requested_by": "Codertocat",
                "duration": null, "url": null},
        "result": {"conclusion": "failure", "summary": "The template did not render."},
        "prefix": "/agent",
    }));
    assert!(
        text.starts_with("❌ **deploy** finished: `failure`.\n"),
        "{text}"
    );
}

#[test]
fn a_conclusion_the_comment_does_not_know_gets_a_question_mark() {
    let text = comment(json!({
        "run": {"agent": "review", "name": "review-pr2-d58c95d3", "requested_by": "Codertocat",
                "duration": "1s", "url": null},
        "result": {"conclusion": "action_required", "summary": "Look at this."},
        "prefix": "/agent",
    }));
    assert!(
        text.starts_with("❔ **review** finished: `action_required` in 1s."),
        "{text}"
    );
}
