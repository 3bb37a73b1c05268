//! A sample event for each kind of trigger, so `agentpods validate` can render every agent's
//! templates without a real delivery and check what they would make (their Pod Security).
//! The values are made up but well formed: a repository, a pull request from the same
//! repository, an issue, a comment, a pushed tag, a published release.

use serde_json::{Value, json};

use crate::config::Agent;
use crate::github::event::{PullRequest, WebhookEvent};
use crate::plan::{Launch, Subject, Trigger};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn user() -> Value {
    json!({"login": "octocat", "id": 1, "kind": "User"})
}

fn repository() -> Value {
    json!({
        "full_name": "example/repository",
        "owner": "example",
        "name": "repository",
        "clone_url": "https://github.com/example/repository.git",
        "html_url": "https://github.com/example/repository",
        "default_branch": "main",
        "private": false,
        "fork": false,
    })
}

fn pull_request() -> Value {
    let side = |r: &str| {
        json!({"ref": r, "sha": SHA, "repo": "example/repository",
               "clone_url": "https://github.com/example/repository.git"})
    };
    json!({
        "number": 1, "title": "A change", "body": "What it does.", "draft": false,
        "state": "open", "merged": false, "user": user(), "author_association": "OWNER",
        "labels": [], "head": side("change"), "base": side("main"),
        "html_url": "https://github.com/example/repository/pull/1",
    })
}

fn issue() -> Value {
    json!({
        "number": 1, "title": "A bug", "body": "What goes wrong.", "labels": [],
        "user": user(), "author_association": "OWNER", "state": "open",
        "is_pull_request": false, "html_url": "https://github.com/example/repository/issues/1",
    })
}

fn event(name: &str, event: Value) -> Option<WebhookEvent> {
    serde_json::from_value(json!({
        "name": name, "event": event, "repository": repository(), "sender": user(),
        "installation_id": null,
    }))
    .ok()
}

/// One sample delivery per kind of trigger `agent` has: the event, the launch the planner
/// would make of it, and the pull request's facts.
pub fn launches(agent: &Agent) -> Vec<(WebhookEvent, Launch, Option<PullRequest>)> {
    let launch = |trigger: Trigger, subject: Subject, task: Option<&str>| Launch {
        agent: agent.name.to_string(),
        run_name: format!("{}-sample", agent.name),
        trigger,
        task: task.map(String::from),
        requested_by: "octocat".into(),
        subject,
    };
    let t = &agent.triggers;
    let mut out = Vec::new();
    if t.pull_request.is_some() {
        let e = json!({"kind": "pull_request", "action": "opened", "number": 1,
                       "pull_request": pull_request(), "label": null, "before": null, "after": null});
        out.extend(event("pull_request", e).map(|e| {
            let l = launch(
                Trigger::PullRequest {
                    action: "opened".into(),
                },
                Subject::PullRequest {
                    number: 1,
                    head_sha: Some(SHA.into()),
                },
                None,
            );
            (e, l, None)
        }));
    }
    if let Some(comment) = &t.comment {
        let verb = comment
            .verbs
            .first()
            .map_or("run", |v| v.as_str())
            .to_string();
        let e = json!({"kind": "issue_comment", "action": "created", "issue": issue(),
            "comment": {"id": 1, "body": format!("/agent {verb} the task"), "user": user(),
                        "author_association": "OWNER",
                        "html_url": "https://github.com/example/repository/issues/1#issuecomment-1"}});
        out.extend(event("issue_comment", e).map(|e| {
            let l = launch(
                Trigger::Comment {
                    verb,
                    comment_id: 1,
                },
                Subject::Issue { number: 1 },
                Some("the task"),
            );
            (e, l, None)
        }));
    }
    if t.issues.is_some() {
        let e = json!({"kind": "issues", "action": "opened", "issue": issue(), "label": null});
        out.extend(event("issues", e).map(|e| {
            let l = launch(
                Trigger::Issues {
                    action: "opened".into(),
                },
                Subject::Issue { number: 1 },
                None,
            );
            (e, l, None)
        }));
    }
    if let Some(push) = &t.push {
        let git_ref = if push.tags.is_empty() {
            "refs/heads/main"
        } else {
            "refs/tags/v1.0.0"
        };
        let e = json!({"kind": "push", "ref": git_ref, "before": "0".repeat(40), "after": SHA,
            "created": true, "deleted": false, "forced": false,
            "head_commit_message": "A change", "pusher": "octocat"});
        out.extend(event("push", e).map(|e| {
            let l = launch(
                Trigger::Push,
                Subject::Ref {
                    git_ref: git_ref.into(),
                    sha: SHA.into(),
                },
                None,
            );
            (e, l, None)
        }));
    }
    if t.release.is_some() {
        let e = json!({"kind": "release", "action": "published", "release": {
            "tag_name": "v1.0.0", "name": "v1.0.0", "body": "What is new.", "draft": false,
            "prerelease": false, "html_url": "https://github.com/example/repository/releases/tag/v1.0.0",
            "target_commitish": "main"}});
        out.extend(event("release", e).map(|e| {
            let l = launch(
                Trigger::Release {
                    action: "published".into(),
                },
                Subject::Release {
                    tag: "v1.0.0".into(),
                },
                None,
            );
            (e, l, None)
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_of_trigger_has_a_sample_that_parses() {
        let yaml = r#"
name: all
triggers:
  pull_request: {}
  comment: {verbs: [run]}
  issues: {}
  push: {tags: ["v*"]}
  release: {}
"#;
        let agent: crate::config::Agent = serde_yaml::from_str(yaml).expect("an agent");
        let kinds: Vec<String> = super::launches(&agent)
            .into_iter()
            .map(|(e, _, _)| e.name)
            .collect();
        assert_eq!(
            kinds,
            ["pull_request", "issue_comment", "issues", "push", "release"]
        );
    }
}
