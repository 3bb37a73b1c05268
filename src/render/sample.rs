//! A sample event for each kind of trigger, so `agentpods validate` can render every agent's
//! templates without a real delivery and check what they would make (their Pod Security).
//! The values are made up but well formed: a repository, a pull request from the same
//! repository, an issue, a comment, a pushed tag, a published release. Lists come both
//! full and empty (labels, which real deliveries carry: a template that reads
//! `pr.labels[0]` fails on the empty one here, not at delivery), and one pull request has
//! a long, non-ASCII branch name as GitHub allows (a template that puts it in a label
//! value unchanged fails here, not at the API server).

use serde_json::{Value, json};

use crate::config::Agent;
use crate::github::command::BuiltinVerb;
use crate::github::event::{CommitSha, PullRequest, WebhookEvent};
use crate::plan::{Launch, Subject, Trigger};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// [`SHA`], typed.
fn sample_sha() -> CommitSha {
    CommitSha::try_from(SHA.to_string())
        .unwrap_or_else(|e| unreachable!("{SHA} is a commit id: {e}"))
}

/// The labels of the samples that have some: as templates see them, their names.
const LABELS: [&str; 2] = ["bug", "needs review: größer als 63 Zeichen? ✓"];

/// A branch name as long and odd as git and GitHub allow (not a valid label value).
fn odd_branch() -> String {
    format!("feature/ünïcode-{}", "long-".repeat(40))
}

fn user() -> Value {
    json!({"login": "octocat", "id": 1, "kind": "User"})
}

/// The repository the samples are written for; each agent's are moved to a repository
/// its `repositories` take in.
const PLACEHOLDER: &str = "example/repository";

fn repository(full_name: &str) -> Value {
    let (owner, name) = full_name
        .split_once('/')
        .unwrap_or(("example", "repository"));
    json!({
        "full_name": full_name,
        "owner": owner,
        "name": name,
        "clone_url": format!("https://github.com/{full_name}.git"),
        "html_url": format!("https://github.com/{full_name}"),
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
        "labels": LABELS, "head": side("change"), "base": side("main"),
        "html_url": "https://github.com/example/repository/pull/1",
    })
}

fn issue() -> Value {
    json!({
        "number": 1, "title": "A bug", "body": "What goes wrong.", "labels": LABELS,
        "user": user(), "author_association": "OWNER", "state": "open",
        "is_pull_request": false, "html_url": "https://github.com/example/repository/issues/1",
    })
}

/// A sample that cannot be built: the webhook model no longer reads what the samples
/// write (a field renamed, say). `validate` would otherwise check fewer samples than
/// there are triggers, silently.
#[derive(Debug, thiserror::Error)]
#[error("the sample delivery for {trigger} cannot be built: {source}")]
pub struct SampleError {
    pub trigger: String,
    #[source]
    pub source: serde_json::Error,
}

/// A sample part moved from [`PLACEHOLDER`] to `full_name` (a checked `owner/name`, so
/// nothing in it needs escaping in JSON text).
fn moved(value: Value, full_name: &str) -> Result<Value, serde_json::Error> {
    if full_name == PLACEHOLDER {
        return Ok(value);
    }
    let text = value.to_string().replace(PLACEHOLDER, full_name);
    serde_json::from_str(&text)
}

fn event(name: &str, event: Value, full_name: &str) -> Result<WebhookEvent, serde_json::Error> {
    serde_json::from_value(json!({
        "name": name, "event": moved(event, full_name)?, "repository": repository(full_name),
        "sender": user(), "installation_id": null,
    }))
}

/// One sample from its parts, or why it cannot be built.
fn build(
    trigger: String,
    name: &str,
    e: Value,
    launch: Launch,
    pr: Option<Value>,
    full_name: &str,
) -> Result<Sample, SampleError> {
    let built = || -> Result<Sample, serde_json::Error> {
        let pr = match pr {
            Some(p) => Some(serde_json::from_value::<PullRequest>(moved(p, full_name)?)?),
            None => None,
        };
        Ok(Sample {
            trigger: trigger.clone(),
            event: event(name, e, full_name)?,
            launch,
            pr,
        })
    };
    built().map_err(|source| SampleError {
        trigger: trigger.clone(),
        source,
    })
}

/// One sample delivery: what it stands for (for messages), the event, the launch the
/// planner would make of it, and the pull request's facts.
pub struct Sample {
    /// The trigger in words, e.g. `comment \`run\` on an issue`.
    pub trigger: String,
    pub event: WebhookEvent,
    pub launch: Launch,
    pub pr: Option<PullRequest>,
}

/// Sample deliveries for every kind of trigger `agent` has, one for each shape its event
/// can take: every optional part absent in one of them (a comment on an issue has no pull
/// request; a comment on a pull request whose facts GitHub did not give has none either; a
/// branch push has no tag, a tag push no branch; a `review` may come without a focus; a
/// fork's head repository may be gone), so a template that uses an optional part without
/// a default fails here rather than at delivery. A sample that cannot be built is an error,
/// never left out.
pub fn samples(agent: &Agent) -> Result<Vec<Sample>, SampleError> {
    let launch = |trigger: Trigger, subject: Subject, task: Option<&str>| Launch {
        agent: agent.name.clone(),
        run_name: format!("{}-sample", agent.name),
        trigger,
        task: task.map(String::from),
        requested_by: "octocat".into(),
        subject,
    };
    let t = &agent.triggers;
    // A repository the agent runs for (`validate` refuses a list that takes in none).
    let full_name = agent
        .scope()
        .example()
        .unwrap_or_else(|| PLACEHOLDER.into());
    let mut out = Vec::new();
    let mut add = |trigger: String, name: &str, e: Value, l: Launch, pr: Option<Value>| {
        out.push(build(trigger, name, e, l, pr, &full_name));
    };
    if let Some(p) = &t.pull_request {
        let action = p
            .actions
            .first()
            .map_or("opened", |a| a.as_str())
            .to_string();
        let mut from_gone_fork = pull_request();
        from_gone_fork["head"]["repo"] = Value::Null;
        from_gone_fork["head"]["clone_url"] = Value::Null;
        from_gone_fork["body"] = json!("");
        from_gone_fork["labels"] = json!([]);
        from_gone_fork["head"]["ref"] = json!(odd_branch());
        for (what, pr) in [
            ("", pull_request()),
            (" from a deleted fork", from_gone_fork),
        ] {
            let e = json!({"kind": "pull_request", "action": action, "number": 1,
                           "pull_request": pr, "label": null, "before": null, "after": null});
            let l = launch(
                Trigger::PullRequest {
                    action: action.as_str().into(),
                },
                Subject::PullRequest {
                    number: 1,
                    head_sha: Some(sample_sha()),
                },
                None,
            );
            add(
                format!("pull_request `{action}`{what}"),
                "pull_request",
                e,
                l,
                None,
            );
        }
    }
    if let Some(comment) = &t.comment {
        for verb in &comment.verbs {
            let verb = verb.as_str().to_lowercase();
            // `run` always has a task (several lines of it); other verbs may have none.
            let tasks: &[Option<&str>] = if BuiltinVerb::from_name(&verb) == Some(BuiltinVerb::Run)
            {
                &[Some("the task\n\nin more words")]
            } else {
                &[Some("the focus"), None]
            };
            for target in &comment.targets {
                let on_pr = matches!(target, crate::config::CommentTarget::PullRequest);
                // On a pull request: with its facts from GitHub, and without them (a preview).
                // On an issue: at the default branch's commit, and unpinned (a preview).
                let facts: &[bool] = &[true, false];
                for &with_facts in facts {
                    for task in tasks {
                        let mut issue = issue();
                        issue["is_pull_request"] = json!(on_pr);
                        if !with_facts {
                            issue["labels"] = json!([]);
                        }
                        let body = match task {
                            Some(task) => format!("/agent {verb} {task}"),
                            None => format!("/agent {verb}"),
                        };
                        let e = json!({"kind": "issue_comment", "action": "created", "issue": issue,
                            "comment": {"id": 1, "body": body, "user": user(),
                                "author_association": "OWNER",
                                "html_url": "https://github.com/example/repository/issues/1#issuecomment-1"}});
                        let subject = match (on_pr, with_facts) {
                            (false, with) => Subject::Issue {
                                number: 1,
                                sha: with.then(sample_sha),
                            },
                            (true, with) => Subject::PullRequest {
                                number: 1,
                                head_sha: with.then(sample_sha),
                            },
                        };
                        let l = launch(
                            Trigger::Comment {
                                verb: verb.clone(),
                                comment_id: 1,
                            },
                            subject,
                            *task,
                        );
                        let place = match (on_pr, with_facts) {
                            (false, true) => "on an issue",
                            (false, false) => "on an issue, unpinned (a preview)",
                            (true, true) => "on a pull request",
                            (true, false) => {
                                "on a pull request, previewed without its details (`pr` is absent then: write \
                                 `pr.x if pr else …`)"
                            }
                        };
                        let task = if task.is_some() { "" } else { " with no text" };
                        add(
                            format!("comment `{verb}`{task} {place}"),
                            "issue_comment",
                            e,
                            l,
                            (on_pr && with_facts).then(pull_request),
                        );
                    }
                }
            }
        }
    }
    if let Some(i) = &t.issues {
        let action = i
            .actions
            .first()
            .map_or("opened", |a| a.as_str())
            .to_string();
        let mut unlabelled = issue();
        unlabelled["labels"] = json!([]);
        for (what, issue) in [("", issue()), (" with no labels", unlabelled)] {
            let e = json!({"kind": "issues", "action": action, "issue": issue, "label": null});
            let l = launch(
                Trigger::Issues {
                    action: action.as_str().into(),
                },
                Subject::Issue {
                    number: 1,
                    sha: Some(sample_sha()),
                },
                None,
            );
            add(format!("issues `{action}`{what}"), "issues", e, l, None);
        }
    }
    if let Some(push) = &t.push {
        let mut refs = Vec::new();
        if !push.branches.is_empty() {
            refs.push(("refs/heads/main", Some("A change")));
        }
        if !push.tags.is_empty() {
            refs.push(("refs/tags/v1.0.0", None));
        }
        for (git_ref, message) in refs {
            let e = json!({"kind": "push", "ref": git_ref, "before": "0".repeat(40), "after": SHA,
                "created": true, "deleted": false, "forced": false,
                "head_commit_message": message, "pusher": "octocat"});
            let l = launch(
                Trigger::Push,
                Subject::Ref {
                    git_ref: git_ref.into(),
                    sha: sample_sha(),
                },
                None,
            );
            add(format!("push of `{git_ref}`"), "push", e, l, None);
        }
    }
    if let Some(r) = &t.release {
        let action = r
            .actions
            .first()
            .map_or("published", |a| a.as_str())
            .to_string();
        let e = json!({"kind": "release", "action": action, "release": {
            "tag_name": "v1.0.0", "name": "", "body": "", "draft": false,
            "prerelease": false, "html_url": "https://github.com/example/repository/releases/tag/v1.0.0",
            "target_commitish": "main"}});
        let l = launch(
            Trigger::Release {
                action: action.as_str().into(),
            },
            Subject::Release {
                tag: "v1.0.0".into(),
                sha: Some(sample_sha()),
            },
            None,
        );
        add(format!("release `{action}`"), "release", e, l, None);
    }
    out.into_iter().collect()
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
        let mut kinds: Vec<String> = super::samples(&agent)
            .expect("the samples")
            .into_iter()
            .map(|s| s.event.name)
            .collect();
        kinds.dedup();
        assert_eq!(
            kinds,
            ["pull_request", "issue_comment", "issues", "push", "release"]
        );
    }

    /// A sample the webhook model does not read (as after a rename of one of its fields)
    /// is an error naming the sample, not a sample left out.
    #[test]
    fn a_sample_that_cannot_be_built_is_an_error_not_left_out() {
        let launch = crate::plan::Launch {
            agent: "all".parse().expect("an agent name"),
            run_name: "all-sample".into(),
            trigger: crate::plan::Trigger::Push,
            task: None,
            requested_by: "octocat".into(),
            subject: crate::plan::Subject::Ref {
                git_ref: "refs/heads/main".into(),
                sha: super::sample_sha(),
            },
        };
        // A push without its `after`: what the samples write once the model renames it.
        let e = serde_json::json!({"kind": "push", "ref": "refs/heads/main",
            "before": "0".repeat(40), "created": true, "deleted": false, "forced": false,
            "head_commit_message": null, "pusher": "octocat"});
        let error = super::build(
            "push of `refs/heads/main`".into(),
            "push",
            e,
            launch.clone(),
            None,
            "acme/api",
        )
        .err()
        .expect("an error");
        assert!(
            error
                .to_string()
                .starts_with("the sample delivery for push of `refs/heads/main` cannot be built: "),
            "{error}"
        );
        assert!(error.to_string().contains("after"), "{error}");
        // Its pull request's facts too.
        let e = serde_json::json!({"kind": "push", "ref": "refs/heads/main",
            "before": "0".repeat(40), "after": super::SHA, "created": true, "deleted": false,
            "forced": false, "head_commit_message": null, "pusher": "octocat"});
        let mut pr = super::pull_request();
        pr.as_object_mut().expect("an object").remove("title");
        let error = super::build(
            "a pull request".into(),
            "push",
            e,
            launch,
            Some(pr),
            "acme/api",
        )
        .err()
        .expect("an error");
        assert!(error.to_string().contains("title"), "{error}");
    }
}
