//! A sample event for each kind of trigger, so `agentpods validate` can render every agent's
//! templates without a real delivery and check what they would make (their Pod Security).
//! The values are made up but well formed: a repository, a pull request from the same
//! repository, an issue, a comment, a pushed tag, a published release. Lists come both
//! full and empty (labels, which real deliveries carry: a template that reads
//! `pr.labels[0]` fails on the empty one here, not at delivery), and one pull request has
//! a long, non-ASCII branch name as GitHub allows (a template that puts it in a label
//! value unchanged fails here, not at the API server). The repository's owner and name are
//! as long as GitHub allows (39 and 100 characters), with upper case, `_` and `.`, where the
//! agent's `repositories` leave them open: a namespace or a label made of a part of them
//! overflows here, not at delivery.
//!
//! The samples are Rust values of the webhook model, so a renamed or retyped field of the
//! model is the compiler's to report here, not a services.yaml refused at load.

use crate::config::Agent;
use crate::github::command::BuiltinVerb;
use crate::github::event::{
    AccountKind, AuthorAssociation, Comment, CommitSha, Event, Issue, IssueCommentAction,
    IssueCommentEvent, IssuesEvent, PullRequest, PullRequestEnd, PullRequestEvent, PushEvent,
    Release, ReleaseEvent, RepoFullName, Repository, User, ValueError, WebhookEvent,
};
use crate::plan::{Launch, Subject, Trigger};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// [`SHA`], typed.
fn sample_sha() -> CommitSha {
    CommitSha::try_from(SHA.to_string())
        .unwrap_or_else(|e| unreachable!("{SHA} is a commit id: {e}"))
}

/// A push's `before` when the ref was created.
fn zero_sha() -> CommitSha {
    CommitSha::try_from("0".repeat(40))
        .unwrap_or_else(|e| unreachable!("zeros are a commit id: {e}"))
}

/// The labels of the samples that have some: as templates see them, their names.
const LABELS: [&str; 2] = ["bug", "needs review: größer als 63 Zeichen? ✓"];

fn labels() -> Vec<String> {
    LABELS.map(String::from).to_vec()
}

/// A branch name as long and odd as git and GitHub allow (not a valid label value).
fn odd_branch() -> String {
    format!("feature/ünïcode-{}", "long-".repeat(40))
}

fn user() -> User {
    User {
        login: "octocat".into(),
        id: 1,
        kind: AccountKind::User,
    }
}

/// A bot, as GitHub names one (`dependabot[bot]`: not a valid label value), for the odd
/// samples: bots open many pull requests (new-user review 13e, N2: a label of the sender's
/// login passed validate, then failed every Dependabot delivery with a 500).
fn bot() -> User {
    User {
        login: "dependabot[bot]".into(),
        id: 49_699_333,
        kind: AccountKind::Bot,
    }
}

/// The repository the samples are written for when an agent's `repositories` name none;
/// otherwise each agent's are written for a repository its `repositories` take in.
const PLACEHOLDER: &str = "example/repository";

fn repository(full_name: &RepoFullName) -> Repository {
    Repository {
        full_name: full_name.clone(),
        owner: full_name.owner().into(),
        name: full_name.name().into(),
        clone_url: format!("https://github.com/{full_name}.git"),
        html_url: format!("https://github.com/{full_name}"),
        default_branch: "main".into(),
        private: false,
        fork: false,
    }
}

fn pull_request(repo: &RepoFullName) -> PullRequest {
    let side = |r: &str| PullRequestEnd {
        ref_name: r.into(),
        sha: sample_sha(),
        repo: Some(repo.clone()),
        clone_url: Some(format!("https://github.com/{repo}.git")),
    };
    PullRequest {
        number: 1,
        title: "A change".into(),
        body: "What it does.".into(),
        draft: false,
        state: "open".into(),
        merged: false,
        user: user(),
        author_association: AuthorAssociation::Owner,
        labels: labels(),
        head: side("change"),
        base: side("main"),
        html_url: format!("https://github.com/{repo}/pull/1"),
        closed_at: None,
    }
}

fn issue(repo: &RepoFullName) -> Issue {
    Issue {
        number: 1,
        title: "A bug".into(),
        body: "What goes wrong.".into(),
        labels: labels(),
        user: user(),
        author_association: AuthorAssociation::Owner,
        state: "open".into(),
        is_pull_request: false,
        html_url: format!("https://github.com/{repo}/issues/1"),
    }
}

/// A sample that cannot be built: the repository an agent's `repositories` yield is not
/// a name GitHub gives. `validate` would otherwise check fewer samples than there are
/// triggers, silently.
#[derive(Debug, thiserror::Error)]
#[error("the sample delivery for {trigger} cannot be built")]
pub struct SampleError {
    pub trigger: String,
    #[source]
    pub source: ValueError,
}

/// A sample's event, for the repository it is written for.
type EventOf = Box<dyn FnOnce(&RepoFullName) -> Event>;

/// A sample's pull request facts, for the repository it is written for.
type PullRequestOf = fn(&RepoFullName) -> PullRequest;

/// Who sends a sample.
type SenderOf = fn() -> User;

/// One sample from its parts, or why it cannot be built.
fn build(
    trigger: String,
    name: &str,
    event: EventOf,
    launch: Launch,
    pr: Option<PullRequestOf>,
    sender: SenderOf,
    full_name: &str,
) -> Result<Sample, SampleError> {
    let repo = full_name
        .parse::<RepoFullName>()
        .map_err(|source| SampleError {
            trigger: trigger.clone(),
            source,
        })?;
    Ok(Sample {
        trigger,
        event: WebhookEvent {
            name: name.into(),
            event: event(&repo),
            repository: Some(repository(&repo)),
            sender: Some(sender()),
            installation_id: None,
            signed_at: None,
        },
        launch,
        pr: pr.map(|pr| pr(&repo)),
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
        run_name: crate::names::RunName::or_made(&format!("{}-sample", agent.name)),
        trigger,
        task: task.map(String::from),
        requested_by: "octocat".into(),
        subject,
        by_outsider: false,
    };
    let t = &agent.triggers;
    // A repository the agent runs for (`validate` refuses a list that takes in none), with
    // an owner and a name as long as GitHub allows where its `repositories` leave room.
    let full_name = agent
        .scope()
        .longest_example()
        .unwrap_or_else(|| PLACEHOLDER.into());
    let mut out = Vec::new();
    let mut add = |trigger: String,
                   name: &str,
                   e: EventOf,
                   l: Launch,
                   pr: Option<PullRequestOf>,
                   sender: SenderOf| {
        out.push(build(trigger, name, e, l, pr, sender, &full_name));
    };
    if let Some(p) = &t.pull_request {
        let action = p
            .actions
            .first()
            .map_or("opened", |a| a.as_str())
            .to_string();
        // The same repository's pull request, and a bot's whose fork was deleted: no head
        // repository, no description, no labels, an odd branch name, a bot's login.
        let from_gone_fork = |repo: &RepoFullName| {
            let mut pr = pull_request(repo);
            pr.user = bot();
            pr.head.repo = None;
            pr.head.clone_url = None;
            pr.head.ref_name = odd_branch();
            pr.body = String::new();
            pr.labels = Vec::new();
            pr
        };
        let shapes: [(&str, PullRequestOf, SenderOf); 2] = [
            ("", pull_request, user),
            (" by a bot from a deleted fork", from_gone_fork, bot),
        ];
        for (what, pr, sender) in shapes {
            let a = action.clone();
            let e: EventOf = Box::new(move |repo| {
                Event::PullRequest(PullRequestEvent {
                    action: a.as_str().into(),
                    number: 1,
                    pull_request: pr(repo),
                    label: None,
                    before: None,
                    after: None,
                })
            });
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
                sender,
            );
        }
    }
    if let Some(comment) = &t.comment {
        for listed in &comment.verbs {
            let verb = listed.as_str().to_lowercase();
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
                        let body = match task {
                            Some(task) => format!("/agent {verb} {task}"),
                            None => format!("/agent {verb}"),
                        };
                        let e: EventOf = Box::new(move |repo| {
                            let mut issue = issue(repo);
                            issue.is_pull_request = on_pr;
                            if !with_facts {
                                issue.labels = Vec::new();
                            }
                            Event::IssueComment(IssueCommentEvent {
                                action: IssueCommentAction::Created,
                                comment: Comment {
                                    id: crate::ids::CommentId(1),
                                    body,
                                    user: user(),
                                    author_association: AuthorAssociation::Owner,
                                    html_url: format!("{}#issuecomment-1", issue.html_url),
                                    created_at: None,
                                },
                                issue,
                            })
                        });
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
                                verb: listed.clone(),
                                comment_id: crate::ids::CommentId(1),
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
                        let pr: Option<PullRequestOf> =
                            (on_pr && with_facts).then_some(pull_request);
                        add(
                            format!("comment `{verb}`{task} {place}"),
                            "issue_comment",
                            e,
                            l,
                            pr,
                            user,
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
        for (what, labelled) in [("", true), (" with no labels", false)] {
            let a = action.clone();
            let e: EventOf = Box::new(move |repo| {
                let mut issue = issue(repo);
                if !labelled {
                    issue.labels = Vec::new();
                }
                Event::Issues(IssuesEvent {
                    action: a.as_str().into(),
                    issue,
                    label: None,
                })
            });
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
            add(
                format!("issues `{action}`{what}"),
                "issues",
                e,
                l,
                None,
                user,
            );
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
            let e: EventOf = Box::new(move |_| {
                Event::Push(PushEvent {
                    git_ref: git_ref.into(),
                    before: zero_sha(),
                    after: sample_sha(),
                    created: true,
                    deleted: false,
                    forced: false,
                    head_commit_message: message.map(String::from),
                    pusher: "octocat".into(),
                })
            });
            let l = launch(
                Trigger::Push,
                Subject::Ref {
                    git_ref: git_ref.into(),
                    sha: sample_sha(),
                },
                None,
            );
            add(format!("push of `{git_ref}`"), "push", e, l, None, user);
        }
    }
    if let Some(r) = &t.release {
        let action = r
            .actions
            .first()
            .map_or("published", |a| a.as_str())
            .to_string();
        let a = action.clone();
        let e: EventOf = Box::new(move |repo| {
            Event::Release(ReleaseEvent {
                action: a.as_str().into(),
                release: Release {
                    tag_name: "v1.0.0".into(),
                    name: String::new(),
                    body: String::new(),
                    draft: false,
                    prerelease: false,
                    html_url: format!("https://github.com/{repo}/releases/tag/v1.0.0"),
                    target_commitish: "main".into(),
                },
            })
        });
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
        add(format!("release `{action}`"), "release", e, l, None, user);
    }
    out.into_iter().collect()
}

/// The first sample delivery of `agent`, for the checks that look at one; `None` when its
/// samples cannot be built (`validate`'s `sample_problems` reports why).
pub fn first(agent: &Agent) -> Option<Sample> {
    samples(agent).ok().and_then(|s| s.into_iter().next())
}

/// What a sample run's templates rendered to, by template name (kept for those that failed).
pub(super) type Rendered = std::collections::HashMap<String, String>;

#[cfg(test)]
mod tests {
    /// An agent with every kind of trigger, for `repositories` (YAML; empty for none).
    fn every_trigger(repositories: &str) -> crate::config::Agent {
        let yaml = format!(
            "name: all\n{repositories}\ntriggers:\n  pull_request: {{}}\n  comment: {{verbs: [run]}}\n  \
             issues: {{}}\n  push: {{tags: [\"v*\"]}}\n  release: {{}}\n"
        );
        serde_yaml::from_str(&yaml).expect("an agent")
    }

    #[test]
    fn every_kind_of_trigger_has_a_sample_that_parses() {
        let agent = every_trigger("");
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

    /// The samples are written for the repository the agent runs for: every URL and
    /// repository they carry names it, none the placeholder.
    #[test]
    fn the_samples_are_written_for_a_repository_the_agent_runs_for() {
        let agent = every_trigger(r#"repositories: ["acme/api"]"#);
        for s in super::samples(&agent).expect("the samples") {
            let seen = format!("{:?} {:?}", s.event, s.pr);
            assert!(seen.contains("acme/api"), "{}: {seen}", s.trigger);
            assert!(!seen.contains(super::PLACEHOLDER), "{}: {seen}", s.trigger);
        }
    }

    /// A repository that is not a name GitHub gives is an error naming the sample, not a
    /// sample left out.
    #[test]
    fn a_sample_that_cannot_be_built_is_an_error_not_left_out() {
        let launch = crate::plan::Launch {
            agent: "all".parse().expect("an agent name"),
            run_name: crate::names::RunName::or_made("all-sample"),
            trigger: crate::plan::Trigger::Push,
            task: None,
            requested_by: "octocat".into(),
            subject: crate::plan::Subject::Ref {
                git_ref: "refs/heads/main".into(),
                sha: super::sample_sha(),
            },
            by_outsider: false,
        };
        let error = super::build(
            "push of `refs/heads/main`".into(),
            "push",
            Box::new(|_| unreachable!("no event without a repository")),
            launch,
            None,
            super::user,
            "acme/a?i",
        )
        .err()
        .expect("an error");
        assert!(
            crate::text::with_causes(&error)
                .starts_with("the sample delivery for push of `refs/heads/main` cannot be built: "),
            "{error}"
        );
        assert!(
            crate::text::with_causes(&error).contains("acme/a?i"),
            "{error}"
        );
    }
}
