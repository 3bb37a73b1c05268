//! The intake's GitHub edge: what the planner needs to know beyond the payload (the
//! commenter's permission from the API, the pull request a comment is on, team
//! membership), and what GitHub hears back at once (eyes on an accepted command, one
//! reply to a refused or mistyped one). Posted at most once per delivery.

use std::time::Duration;

use crate::config::{Config, ForkPolicy, Permission};
use crate::github::client::{GithubClient, GithubError};
use crate::github::event::{Event, PullRequest, RepoFullName, WebhookEvent};
use crate::github::report::Reporter;
use crate::plan::{Decision, Facts, Trigger};
use crate::render::Engine;

/// How long the intake waits for GitHub before it decides with what it has (the payload's
/// author_association), so that the delivery is still answered within GitHub's 10 s.
const FACTS_DEADLINE: Duration = Duration::from_secs(4);
/// How long replies may take before the delivery is answered anyway.
const REPLY_DEADLINE: Duration = Duration::from_secs(4);

/// What the API said, owned; [`Gathered::facts`] lends it to the planner.
#[derive(Debug, Default)]
pub struct Gathered {
    pub permission: Option<Permission>,
    pub teams: Vec<String>,
    pub pull_request: Option<PullRequest>,
    /// The fork pull request's head, when a maintainer approved exactly that commit.
    pub approved_sha: Option<String>,
    /// The service cannot tell its own comments from others', so approvals are neither
    /// believed nor given.
    pub approvals_unverifiable: bool,
}

impl Gathered {
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            permission: self.permission,
            teams: &self.teams,
            pull_request: self.pull_request.as_ref(),
            approved_sha: self.approved_sha.as_deref(),
            approvals_unverifiable: self.approvals_unverifiable,
            ..Facts::default()
        }
    }
}

/// The hidden line of the service's reply that records a maintainer's approval of a fork
/// pull request at one commit. Only the service's own comments count, so an approval
/// cannot be forged by quoting it (and when the service does not know its own login, no
/// approval counts); a new push has a new head, which no approval names.
pub fn approval_marker(sha: &str) -> String {
    format!("<!-- agentpods:approved sha={sha} -->")
}

/// What the approvals of a fork pull request say about its current head.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Approval {
    /// A reply of ours approves this head.
    At(String),
    /// None does (or GitHub could not be asked).
    Missing,
    /// Ours cannot be told from forgeries: none is believed.
    Unverifiable,
}

/// Whether a maintainer approved `pr` at its current head (a reply of ours says so).
async fn approved_head(client: &GithubClient, repo: &RepoFullName, pr: &PullRequest) -> Approval {
    let head = pr.head.sha.as_str();
    match client
        .find_trusted_comment(repo, pr.number, &approval_marker(head))
        .await
    {
        Ok(Some(_)) => Approval::At(head.to_string()),
        Ok(None) => Approval::Missing,
        Err(e @ GithubError::OwnLoginUnknown) => {
            tracing::warn!(
                number = pr.number,
                "fork pull request approvals are not believed: {e}"
            );
            Approval::Unverifiable
        }
        Err(e) => {
            tracing::warn!(number = pr.number, "cannot read the approvals: {e}");
            Approval::Missing
        }
    }
}

impl Gathered {
    fn note(&mut self, approval: Approval) {
        match approval {
            Approval::At(sha) => self.approved_sha = Some(sha),
            Approval::Missing => {}
            Approval::Unverifiable => self.approvals_unverifiable = true,
        }
    }
}

/// A GitHub write the intake owes for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Eyes on the comment whose command started something.
    Eyes { comment_id: u64 },
    /// One comment on the issue or pull request.
    Reply { number: u64, body: String },
}

/// The writes a delivery's decisions call for. Pure.
pub fn responses(event: &WebhookEvent, decisions: &[Decision], prefix: &str) -> Vec<Response> {
    let e = match &event.event {
        Event::IssueComment(e) => e,
        // A fork pull request waiting for approval is told so once, on the pull request.
        Event::PullRequest(pr) => {
            return decisions
                .iter()
                .filter_map(|d| match d {
                    Decision::Refuse(refusal) => Some(Response::Reply {
                        number: pr.number,
                        body: refusal.message(prefix),
                    }),
                    _ => None,
                })
                .take(1)
                .collect();
        }
        _ => return Vec::new(),
    };
    let number = e.issue.number;
    let mut out = Vec::new();
    for decision in decisions {
        let response = match decision {
            Decision::Launch(launch) => match &launch.trigger {
                Trigger::Comment { comment_id, .. } => Response::Eyes {
                    comment_id: *comment_id,
                },
                _ => continue,
            },
            Decision::Control(_) => Response::Eyes {
                comment_id: e.comment.id,
            },
            Decision::Refuse(refusal) => Response::Reply {
                number,
                body: refusal.message(prefix),
            },
            Decision::Reply(text) => Response::Reply {
                number,
                body: text.clone(),
            },
            Decision::Skip { .. } | Decision::Ignore(_) => continue,
        };
        if !out.contains(&response) {
            out.push(response);
        }
    }
    out
}

/// Asks GitHub what the planner needs for a comment that holds a command; for anything
/// else, nothing. A question GitHub does not answer in time is left to the payload.
pub async fn gather(client: &GithubClient, config: &Config, event: &WebhookEvent) -> Gathered {
    let mut gathered = Gathered::default();
    let approvals = config.github.authorization.fork_pull_requests == ForkPolicy::Approve;
    if let (Event::PullRequest(e), Some(repo)) = (&event.event, &event.repository) {
        if approvals && e.pull_request.is_fork() {
            let look = approved_head(client, &repo.full_name, &e.pull_request);
            if let Ok(approval) = tokio::time::timeout(FACTS_DEADLINE, look).await {
                gathered.note(approval);
            }
        }
        return gathered;
    }
    let (Event::IssueComment(e), Some(repo)) = (&event.event, &event.repository) else {
        return gathered;
    };
    if !e
        .comment
        .body
        .contains(config.github.command_prefix.as_str())
    {
        return gathered;
    }
    let repo = &repo.full_name;
    let login = e.comment.user.login.as_str();
    let ask = async {
        match client.collaborator_permission(repo, login).await {
            Ok(p) => gathered.permission = Some(p),
            Err(e) => tracing::warn!(
                user = login,
                "permission unknown, the payload's author_association decides: {e}"
            ),
        }
        for team in &config.github.authorization.allowed_teams {
            let Some((org, slug)) = team.as_str().split_once('/') else {
                continue;
            };
            match client.is_team_member(repo, org, slug, login).await {
                Ok(true) => gathered.teams.push(team.as_str().to_string()),
                Ok(false) => {}
                Err(e) => tracing::warn!(team = team.as_str(), "team membership unknown: {e}"),
            }
        }
        if e.issue.is_pull_request {
            match client.pull_request(repo, e.issue.number).await {
                Ok(pr) => {
                    if approvals && pr.is_fork() {
                        let approval = approved_head(client, repo, &pr).await;
                        gathered.note(approval);
                    }
                    gathered.pull_request = Some(pr);
                }
                Err(err) => tracing::warn!(number = e.issue.number, "pull request unknown: {err}"),
            }
        }
    };
    if tokio::time::timeout(FACTS_DEADLINE, ask).await.is_err() {
        tracing::warn!(
            "GitHub did not answer within {FACTS_DEADLINE:?}; deciding with what it said"
        );
    }
    gathered
}

/// Posts what the intake owes GitHub, each reply at most once per delivery (even when the
/// delivery comes again). Failures are logged: the runs are recorded either way.
pub async fn respond(
    client: &GithubClient,
    engine: &Engine,
    event: &WebhookEvent,
    delivery: &str,
    responses: &[Response],
) {
    let Some(repo) = event.repository.as_ref().map(|r| &r.full_name) else {
        return;
    };
    let reporter = Reporter {
        client,
        template: engine,
    };
    let post = async {
        for (i, response) in responses.iter().enumerate() {
            let result = match response {
                Response::Eyes { comment_id } => reporter.accepted(repo, *comment_id).await,
                Response::Reply { number, body } => reporter
                    .reply_once(repo, *number, &format!("{delivery}-{i}"), body)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = result {
                tracing::warn!("cannot answer on GitHub: {e}");
            }
        }
    };
    if tokio::time::timeout(REPLY_DEADLINE, post).await.is_err() {
        tracing::warn!(
            "GitHub replies took longer than {REPLY_DEADLINE:?}; answering the delivery"
        );
    }
}
