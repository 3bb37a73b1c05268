//! The planner: a GitHub event and services.yaml in, decisions out. Pure: no I/O, no clock.
//!
//! Which agents fire, for whom and with what task; what is refused and why; what the bot
//! says back; which commands the service itself must carry out (stop, status, ...).

use globset::{GlobMatcher, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::config::{Agent, Config, ForkPolicy, Permission};
use crate::github::command::{Command, CommandError, CommandParser, help_text};
use crate::github::event::{
    AuthorAssociation, Event, PullRequest, PullRequestAction, User, WebhookEvent,
};
use crate::names::{dns_label, short_hash};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What is known of the requester's permission on the repository. The payload's
/// `author_association` never grants anything where runs are real: it may only refuse
/// early someone who cannot be a collaborator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authority {
    /// GitHub's permission API answered (or `render --permission` says what it would).
    Known(Permission),
    /// Not asked yet: a decision that needs it says whose permission to ask.
    NotAsked,
    /// The API was asked and gave no answer (down, slow, rate-limited): the decision waits
    /// until it answers; nothing is guessed.
    Unanswered,
    /// No API to ask, and nothing decided here runs for real (`render`, `serve --dry-run`
    /// without credentials): the payload stands in, as a preview of what GitHub would say.
    #[default]
    Preview,
    /// No API to ask, and runs are real: only `allowed_users` may start agents.
    Unavailable,
}

/// What the service knows beyond the payload, fetched at the edges (GitHub API) or absent.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// The requester's repository permission (see [`requester`]).
    pub authority: Authority,
    /// Teams (`org/slug`) the requester belongs to, when known.
    pub teams: &'a [String],
    /// Some team lookup went unanswered: a requester not allowed otherwise must wait.
    pub teams_unanswered: bool,
    /// The login the service posts and acts as (its App's bot, or its token's user), when
    /// known: what it or its runs' tokens cause starts nothing.
    pub own_login: Option<&'a str>,
    /// The GitHub App the service is, when it is one: only check runs it created can be
    /// re-run from GitHub's "Re-run" button.
    pub own_app_id: Option<u64>,
    /// The pull request's changed files, when known (needed by `paths` filters).
    pub changed_files: Option<&'a [String]>,
    /// The pull request a comment is on, when fetched (comments carry only its number).
    pub pull_request: Option<&'a PullRequest>,
    /// The head SHA a maintainer approved for this fork pull request, if any (from the
    /// service's own approval records, never from a comment).
    pub approved_sha: Option<&'a str>,
    /// The pull request's head as the service had seen it when the comment was written
    /// (the last head recorded before its `created_at`): what an `approve` without a SHA
    /// approves, if it is still the head.
    pub head_at_comment: Option<&'a str>,
    /// The approval records could not be read: a decision that needs them waits.
    pub approvals_unreadable: bool,
    /// The commit of the ref a run about an issue or a release checks out (the default
    /// branch's head, the tag's commit), as GitHub said it when the delivery came.
    pub commit: RefCommit<'a>,
}

/// How long after `/agent stop` was written (or a pull request closed) a run it stops may
/// have been recorded: a run the maintainer started just before, whose delivery came a
/// little after. Runs recorded later were not meant, so a replay of the stop, or of the
/// close after the pull request was reopened, stops none of them.
pub const STOP_REACH: SignedDuration = SignedDuration::from_mins(10);

/// What GitHub said of the ref a run about an issue or a release checks out: no run starts
/// at a moving ref, so it runs at the commit the ref named when the delivery came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefCommit<'a> {
    /// There is no GitHub to ask (`render`, `serve --dry-run` without credentials, a
    /// cluster without them): the run is shown, or runs, at the ref itself, unpinned.
    #[default]
    Unpinned,
    /// Not asked yet: a launch that needs it says which ref to ask about.
    NotAsked,
    /// The commit, 40 hexadecimal characters.
    Known(&'a str),
    /// GitHub says the ref does not exist (a draft release's tag, an empty repository).
    Missing,
    /// GitHub was asked and did not answer: the delivery waits (503), nothing is guessed.
    Unanswered,
}

/// Why an agent that listens to an event does not start for it: its filters did not match.
/// The English is here only ([`Decision::Skip`] carries it as text, as logs and the
/// `render` notes show it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The event's action is not one of the trigger's `actions`.
    ActionNotListed {
        event: &'static str,
        action: String,
        wanted: Vec<String>,
    },
    /// A draft pull request, and the trigger does not set `draft: true`.
    Draft,
    /// The pull request's base branch matches none of the trigger's `branches`.
    BaseBranch { branch: String },
    /// The pull request (`is_issue`: the issue) carries none of the trigger's `labels`.
    NoLabel { is_issue: bool, labels: Vec<String> },
    /// The trigger has a `paths` filter and the changed files are not known.
    ChangedFilesUnknown,
    /// No changed file (less `paths_ignore`) matches the `paths` filter.
    NoPathMatches,
    /// A pushed branch (`tag`: a tag) matches none of the trigger's globs for it.
    PushRef { tag: bool, name: String },
    /// A prerelease, and the trigger does not set `prerelease: true`.
    Prerelease,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::ActionNotListed {
                event,
                action,
                wanted,
            } => write!(
                f,
                "{event} action `{action}` is not one of [{}]",
                wanted.join(", ")
            ),
            SkipReason::Draft => {
                f.write_str("the pull request is a draft (set `draft: true` to run on drafts)")
            }
            SkipReason::BaseBranch { branch } => {
                write!(
                    f,
                    "base branch `{branch}` matches none of the `branches` globs"
                )
            }
            SkipReason::NoLabel { is_issue, labels } => write!(
                f,
                "the {} has none of the labels [{}]",
                if *is_issue { "issue" } else { "pull request" },
                labels.join(", ")
            ),
            SkipReason::ChangedFilesUnknown => f.write_str(
                "its `paths` filter needs the pull request's changed files, which are not known",
            ),
            SkipReason::NoPathMatches => f.write_str("no changed file matches its `paths` filter"),
            SkipReason::PushRef { tag, name } => {
                // Both words plural, as it has always read.
                let globs = if *tag { "tags" } else { "branches" };
                write!(
                    f,
                    "{globs} `{name}` matches none of its push `{globs}` globs"
                )
            }
            SkipReason::Prerelease => {
                f.write_str("the release is a prerelease (set `prerelease: true` to run on them)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start this agent.
    Launch(Launch),
    /// An agent listens to this event but its filters did not match (logged, not replied).
    Skip { agent: String, reason: String },
    /// Someone asked for something they may not have: one reply with the reason.
    Refuse(Refusal),
    /// A command the service carries out itself.
    Control(Control),
    /// A reply to post (help text, a mistyped command).
    Reply(String),
    /// Nothing to do for this delivery, and why (logged and counted).
    Ignore(String),
    /// Not decidable until GitHub answers: nothing is done, and the delivery is answered
    /// so that it comes again (503); it is decided then.
    Defer(Deferral),
}

/// Why a delivery waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferral {
    /// GitHub did not say what permission this person has.
    PermissionUnanswered { login: String },
    /// GitHub did not say what the pull request's head is (or whether it is a fork), so
    /// there is no exact commit to run and no fork policy to apply.
    PullRequestUnknown { number: u64 },
    /// The service's approval records could not be read, so whether this fork pull
    /// request's head is approved is unknown.
    ApprovalsUnknown { number: u64 },
    /// GitHub did not say which commit `git_ref` (`refs/heads/main`, `refs/tags/v1`) is,
    /// so there is no exact commit to run at.
    CommitUnknown { git_ref: String },
}

impl std::fmt::Display for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Deferral::PermissionUnanswered { login } => write!(
                f,
                "GitHub did not answer what permission @{login} has; decided when it does"
            ),
            Deferral::PullRequestUnknown { number } => write!(
                f,
                "GitHub did not answer what the head of pull request #{number} is; decided when it does"
            ),
            Deferral::ApprovalsUnknown { number } => write!(
                f,
                "the approval records of pull request #{number} cannot be read; decided when they can"
            ),
            Deferral::CommitUnknown { git_ref } => write!(
                f,
                "GitHub did not answer which commit `{git_ref}` is; decided when it does"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    pub agent: String,
    /// The run's name: stable for a delivery and agent, so a repeated delivery is a no-op.
    pub run_name: String,
    pub trigger: Trigger,
    /// The task a maintainer wrote (`/agent run …`), or the focus of `/agent review …`.
    pub task: Option<String>,
    /// Who asked: the commenter, the pull request's sender, the pusher.
    pub requested_by: String,
    /// What the run is about.
    pub subject: Subject,
}

impl Launch {
    /// Says so when the run is not pinned to a commit (a preview, or no GitHub to ask):
    /// it would check out a moving ref.
    pub fn unpinned(&self, event: &WebhookEvent) -> Option<String> {
        if self.subject.sha().is_some() {
            return None;
        }
        let git_ref = self.subject.git_ref(event);
        Some(format!(
            "run {}: NOT PINNED: checks out `{git_ref}` as it is when the pod starts, not an exact commit (without GitHub credentials, nobody asks GitHub which commit it is)",
            self.run_name
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    PullRequest { action: PullRequestAction },
    Issues { action: String },
    Comment { verb: String, comment_id: u64 },
    Push,
    Release { action: String },
}

impl Trigger {
    pub fn describe(&self) -> String {
        match self {
            Trigger::PullRequest { action } => format!("pull_request.{action}"),
            Trigger::Issues { action } => format!("issues.{action}"),
            Trigger::Comment { verb, .. } => format!("comment:{verb}"),
            Trigger::Push => "push".into(),
            Trigger::Release { action } => format!("release.{action}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    PullRequest {
        number: u64,
        head_sha: Option<String>,
    },
    Issue {
        number: u64,
        /// The default branch's head commit when the delivery came, which the run checks
        /// out. `None` in a preview (and in runs stored before it was recorded): the
        /// default branch itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
    },
    Ref {
        git_ref: String,
        sha: String,
    },
    Release {
        tag: String,
        /// The commit the tag points to (an annotated tag dereferenced), which the run
        /// checks out. `None` in a preview (and in runs stored before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
    },
}

impl Subject {
    /// The git ref the run is about (`refs/pull/42/head`, `refs/heads/<default branch>`,
    /// `refs/tags/v1.0.0`): what it checks out when no exact commit is known.
    pub fn git_ref(&self, event: &WebhookEvent) -> String {
        match self {
            Subject::PullRequest { number, .. } => format!("refs/pull/{number}/head"),
            Subject::Issue { .. } => format!(
                "refs/heads/{}",
                event
                    .repository
                    .as_ref()
                    .map_or("main", |r| r.default_branch.as_str())
            ),
            Subject::Ref { git_ref, .. } => git_ref.clone(),
            Subject::Release { tag, .. } => format!("refs/tags/{tag}"),
        }
    }

    /// The exact commit the run checks out, when it is known.
    pub fn sha(&self) -> Option<&str> {
        match self {
            Subject::PullRequest { head_sha: sha, .. }
            | Subject::Issue { sha, .. }
            | Subject::Release { sha, .. } => sha.as_deref(),
            Subject::Ref { sha, .. } => Some(sha),
        }
    }

    /// A short slug for names: `pr42`, `issue7`, `v1-2-0`.
    fn slug(&self) -> String {
        match self {
            Subject::PullRequest { number, .. } => format!("pr{number}"),
            Subject::Issue { number, .. } => format!("issue{number}"),
            Subject::Ref { git_ref, .. } => short_ref(git_ref).to_string(),
            Subject::Release { tag, .. } => tag.clone(),
        }
    }
}

fn short_ref(r: &str) -> &str {
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub login: String,
    pub reason: RefusalReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// The requester's permission is below the configured minimum.
    NotAuthorized {
        has: Permission,
        needs: Permission,
        inferred: bool,
    },
    /// A fork pull request that needs a maintainer's `approve` for this head commit.
    ForkNeedsApproval { head_sha: String },
    /// Fork pull requests never run.
    ForksNeverRun,
    /// The agent's token can write (these permissions), and the code would be a fork's.
    ForkWithWriteToken { agent: String, writes: String },
    /// The service has no GitHub credentials to ask anyone's permission with, and runs are
    /// real: only `allowed_users` may start agents.
    PermissionUnavailable,
    /// The ref a run would check out does not exist on GitHub (a draft release's tag, a
    /// repository without commits): there is no commit to run at.
    RefMissing { git_ref: String },
    /// The ref holds `#`, which git allows but git build contexts
    /// (`repository#ref#commit`) read as a separator: it could name another commit.
    HashInRef { git_ref: String },
}

impl Refusal {
    /// The reply posted to GitHub.
    pub fn message(&self, prefix: &str) -> String {
        match &self.reason {
            RefusalReason::NotAuthorized { has, needs, inferred } => format!(
                "@{} you need `{}` permission on this repository to start agents (you have `{}`{}).",
                self.login,
                needs.as_str(),
                has.as_str(),
                if *inferred { ", judging by your association with the repository" } else { "" }
            ),
            RefusalReason::ForkNeedsApproval { head_sha } => format!(
                "This pull request comes from a fork, so agents run on it only at a commit a maintainer has approved. To run them at the current head, a maintainer comments `{prefix} approve {head_sha}`."
            ),
            RefusalReason::ForkWithWriteToken { agent, writes } => format!(
                "Agent `{agent}` was not started for @{}: its token can write ({writes}), and this pull request's code comes from a fork, which could use that token. Agents whose token can write do not run on forks (unless the operator trusts every fork: `fork_pull_requests: always`).",
                self.login
            ),
            RefusalReason::ForksNeverRun => {
                "This pull request comes from a fork, and this repository does not run agents on forks.".into()
            }
            RefusalReason::RefMissing { git_ref } => format!(
                "Nothing was started for @{}: `{git_ref}` does not exist on GitHub, so there is no commit to run at (a draft release's tag is made when it is published). Agents run when it exists.",
                self.login
            ),
            RefusalReason::HashInRef { git_ref } => format!(
                "Nothing was started for @{}: `{git_ref}` holds `#`, which a git build context (`repository#ref#commit`) reads as a separator, so the name could steer which commit is built. Name the tag or branch without `#`.",
                self.login
            ),
            RefusalReason::PermissionUnavailable => format!(
                "@{} agentpods cannot ask GitHub about your permission on this repository (it has no GitHub credentials), so only the users its operator lists in `allowed_users` may start agents.",
                self.login
            ),
        }
    }
}

/// Commands the service carries out itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Cancel the runs of this issue or pull request (`stop`) recorded before
    /// `asked_at` (when the comment was written) and [`STOP_REACH`].
    Stop {
        number: u64,
        requested_by: String,
        asked_at: Option<Timestamp>,
    },
    /// Run the last run of this pull request or issue again.
    Retry { number: u64, requested_by: String },
    /// Run the run a check run of ours reports again (GitHub's "Re-run" button): `run`
    /// is the check run's `external_id`, the name of the run.
    Rerun { run: String, requested_by: String },
    /// Answer with the runs of this pull request or issue.
    Status { number: u64 },
    /// Approve a fork pull request at a head commit (given, or the current head).
    Approve {
        number: u64,
        sha: Option<String>,
        approved_by: String,
    },
    /// A pull request was closed (at `asked_at`): cancel its runs recorded before then and
    /// [`STOP_REACH`].
    CancelPullRequest {
        number: u64,
        asked_at: Option<Timestamp>,
    },
}

impl std::fmt::Display for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Stop {
                number,
                requested_by,
                ..
            } => {
                write!(f, "stop the runs of #{number} (asked by @{requested_by})")
            }
            Control::Retry {
                number,
                requested_by,
            } => {
                write!(
                    f,
                    "run the last run of #{number} again (asked by @{requested_by})"
                )
            }
            Control::Rerun { run, requested_by } => {
                write!(f, "run {run} again (asked by @{requested_by})")
            }
            Control::Status { number } => write!(f, "answer with the runs of #{number}"),
            Control::Approve {
                number,
                sha,
                approved_by,
            } => match sha {
                Some(sha) => write!(
                    f,
                    "approve fork pull request #{number} at {sha} (by @{approved_by})"
                ),
                None => write!(
                    f,
                    "approve fork pull request #{number} at its head (by @{approved_by})"
                ),
            },
            Control::CancelPullRequest { number, .. } => {
                write!(
                    f,
                    "cancel the runs of pull request #{number}, which was closed"
                )
            }
        }
    }
}

/// Compiled trigger filters, built once per config.
struct AgentFilters {
    pr_branches: Option<GlobSet>,
    pr_paths: Option<GlobSet>,
    pr_paths_ignore: Option<GlobSet>,
    push_branches: Vec<GlobMatcher>,
    push_tags: Vec<GlobMatcher>,
}

pub struct Planner {
    config: std::sync::Arc<Config>,
    filters: Vec<AgentFilters>,
}

fn glob_set(globs: &[crate::config::Glob]) -> Option<GlobSet> {
    if globs.is_empty() {
        return None;
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        // Checked when the config was loaded; a glob that still fails matches nothing.
        if let Ok(g) = globset::Glob::new(g.as_str()) {
            b.add(g);
        }
    }
    b.build().ok()
}

fn matchers(globs: &[crate::config::Glob]) -> Vec<GlobMatcher> {
    globs
        .iter()
        .filter_map(|g| globset::Glob::new(g.as_str()).ok())
        .map(|g| g.compile_matcher())
        .collect()
}

impl Planner {
    /// Compiles the trigger filters of a config (the planner keeps its own copy of it).
    pub fn new(config: &Config) -> Self {
        let filters = config
            .agents
            .iter()
            .map(|a| {
                let pr = a.triggers.pull_request.as_ref();
                let push = a.triggers.push.as_ref();
                AgentFilters {
                    pr_branches: pr.and_then(|p| glob_set(&p.branches)),
                    pr_paths: pr.and_then(|p| glob_set(&p.paths)),
                    pr_paths_ignore: pr.and_then(|p| glob_set(&p.paths_ignore)),
                    push_branches: push.map(|p| matchers(&p.branches)).unwrap_or_default(),
                    push_tags: push.map(|p| matchers(&p.tags)).unwrap_or_default(),
                }
            })
            .collect();
        Planner {
            config: std::sync::Arc::new(config.clone()),
            filters,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The agents that run for the repository `event` is about, each with its compiled
    /// filters: those whose `repositories` take it in (every agent without that list).
    /// Every trigger, command and help text goes through here, so an agent limited to
    /// other repositories starts for nothing here and is unknown here. An event without a
    /// repository gets the agents without a list only.
    fn agents_for<'p>(
        &'p self,
        event: &'p WebhookEvent,
    ) -> impl Iterator<Item = (&'p Agent, &'p AgentFilters)> + 'p {
        let repository = event.repository.as_ref().map(|r| r.full_name.as_str());
        self.config
            .agents
            .iter()
            .zip(&self.filters)
            .filter(move |(agent, _)| match repository {
                Some(repository) => agent.scope().admits(repository),
                None => agent.scope().is_every(),
            })
    }

    /// The verbs of their own (not `run` or `review`) that the agents of `event`'s
    /// repository answer to, sorted.
    fn custom_verbs(&self, event: &WebhookEvent) -> Vec<String> {
        let mut verbs: Vec<String> = self
            .agents_for(event)
            .filter_map(|(a, _)| a.triggers.comment.as_ref())
            .flat_map(|c| c.verbs.iter().map(|v| v.as_str().to_string()))
            .filter(|v| !matches!(v.as_str(), "run" | "review"))
            .collect();
        verbs.sort();
        verbs.dedup();
        verbs
    }

    /// The help text for `event`'s repository, listing the built-in verbs and the ones its
    /// agents answer to.
    pub fn help(&self, event: &WebhookEvent) -> String {
        let custom: Vec<(String, String)> = self
            .custom_verbs(event)
            .into_iter()
            .map(|verb| {
                let agents: Vec<&str> = self
                    .agents_for(event)
                    .map(|(a, _)| a)
                    .filter(|a| {
                        a.triggers
                            .comment
                            .as_ref()
                            .is_some_and(|c| c.verbs.iter().any(|v| v.as_str() == verb))
                    })
                    .map(|a| a.description.as_deref().unwrap_or(a.name.as_str()))
                    .collect();
                let starts = format!("starts {}", agents.join(", "));
                (verb, starts)
            })
            .collect();
        help_text(&self.config.github.command_prefix, &custom)
    }

    /// Decides what one delivery asks for.
    pub fn plan(&self, event: &WebhookEvent, delivery: &str, facts: &Facts<'_>) -> Vec<Decision> {
        if let (Some(own), Some(sender)) = (facts.own_login, &event.sender)
            && sender.login.eq_ignore_ascii_case(own)
        {
            return vec![Decision::Ignore(format!(
                "sent by agentpods itself (@{own}): nothing it or its runs do starts an agent"
            ))];
        }
        let out = match &event.event {
            Event::Ping(_) => vec![Decision::Ignore("ping: the webhook is set up".into())],
            Event::PullRequest(e) => self.plan_pull_request(event, e, delivery, facts),
            Event::IssueComment(e) => self.plan_comment(event, e, delivery, facts),
            Event::Issues(e) => self.plan_issues(event, e, delivery, facts),
            Event::Push(e) => self.plan_push(event, e, delivery, facts),
            Event::Release(e) => self.plan_release(event, e, delivery, facts),
            Event::CheckRun(e) => self.plan_check_run(event, e, facts),
            Event::CheckSuite(e) => vec![Decision::Ignore(match e.action.as_str() {
                "rerequested" => "`check_suite.rerequested` (\"Re-run all checks\") starts nothing: press \"Re-run\" on the check run of the run to repeat".into(),
                a => format!("`check_suite.{a}` events start nothing"),
            })],
            Event::Other { name, action } => vec![Decision::Ignore(match action {
                Some(a) => format!("`{name}.{a}` events start nothing"),
                None => format!("`{name}` events start nothing"),
            })],
        };
        pin(event, out, facts)
    }

    // One constructor for every kind of launch; the arguments are each a different fact.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        agent: &Agent,
        delivery: &str,
        discriminator: &str,
        trigger: Trigger,
        subject: Subject,
        requested_by: &str,
        task: Option<String>,
    ) -> Decision {
        Decision::Launch(Launch {
            agent: agent.name.to_string(),
            run_name: run_name(
                agent.name.as_str(),
                &subject.slug(),
                delivery,
                discriminator,
            ),
            trigger,
            task,
            requested_by: requested_by.to_string(),
            subject,
        })
    }

    fn plan_pull_request(
        &self,
        event: &WebhookEvent,
        e: &crate::github::event::PullRequestEvent,
        delivery: &str,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let pr = &e.pull_request;
        let action = e.action.as_str();
        let sender = login(event.sender.as_ref(), &pr.user);
        let mut out = Vec::new();
        if e.action == PullRequestAction::Closed {
            out.push(Decision::Control(Control::CancelPullRequest {
                number: pr.number,
                asked_at: pr.closed_at,
            }));
        }
        let mut listening = false;
        let mut matched = Vec::new();
        for (agent, filters) in self.agents_for(event) {
            let Some(t) = &agent.triggers.pull_request else {
                continue;
            };
            listening = true;
            let skip = |reason: SkipReason| Decision::Skip {
                agent: agent.name.to_string(),
                reason: reason.to_string(),
            };
            if let Some(reason) =
                action_not_listed("pull_request", action, t.actions.iter().map(|a| a.as_str()))
            {
                out.push(skip(reason));
                continue;
            }
            if pr.draft && !t.draft {
                out.push(skip(SkipReason::Draft));
                continue;
            }
            if let Some(branches) = &filters.pr_branches
                && !branches.is_match(&pr.base.ref_name)
            {
                out.push(skip(SkipReason::BaseBranch {
                    branch: pr.base.ref_name.to_string(),
                }));
                continue;
            }
            if !t.labels.is_empty() && !pr.labels.iter().any(|l| t.labels.contains(l)) {
                out.push(skip(SkipReason::NoLabel {
                    is_issue: false,
                    labels: t.labels.clone(),
                }));
                continue;
            }
            if filters.pr_paths.is_some() || filters.pr_paths_ignore.is_some() {
                let Some(files) = facts.changed_files else {
                    out.push(skip(SkipReason::ChangedFilesUnknown));
                    continue;
                };
                let counted: Vec<&String> = files
                    .iter()
                    .filter(|f| {
                        filters
                            .pr_paths_ignore
                            .as_ref()
                            .is_none_or(|ig| !ig.is_match(f.as_str()))
                    })
                    .collect();
                let hit = match &filters.pr_paths {
                    Some(paths) => counted.iter().any(|f| paths.is_match(f.as_str())),
                    None => !counted.is_empty(),
                };
                if !hit {
                    out.push(skip(SkipReason::NoPathMatches));
                    continue;
                }
            }
            matched.push(agent);
        }
        if !listening {
            out.push(Decision::Ignore(
                "no agent listens to pull_request events".into(),
            ));
            return out;
        }
        if matched.is_empty() {
            return out;
        }
        let author = pr.user.login.as_str();
        if pr.is_fork() {
            // Whose code would run: the fork's author's, unless someone else caused this
            // event (pushed to the fork: whoever its owner lets push, who may only read
            // here); then it is theirs too, and meets the fork policy whoever the author
            // is. Otherwise an author the repository does not trust (for any of the
            // agents) meets it.
            let by_another = !sender.eq_ignore_ascii_case(author);
            let mut trusted = !by_another;
            for agent in matched.iter().filter(|_| !by_another) {
                let needs = self.needs(agent.name.as_str(), TriggerKind::PullRequest);
                match self.authorization(author, Some(&pr.author_association), facts, needs) {
                    Verdict::Allowed => {}
                    Verdict::Undecided => {
                        return vec![Decision::Defer(Deferral::PermissionUnanswered {
                            login: author.to_string(),
                        })];
                    }
                    Verdict::Refused(_) => trusted = false,
                }
            }
            let told = if by_another { sender } else { author };
            if !trusted
                && let Some(refused) = self.fork_gate(pr.number, pr.head.sha.as_str(), told, facts)
            {
                return ending_with(out, refused);
            }
        }
        for agent in matched {
            if pr.is_fork()
                && let Some(refused) = self.fork_write_refusal(agent, sender)
            {
                out.push(refused);
                continue;
            }
            out.push(self.launch(
                agent,
                delivery,
                "",
                Trigger::PullRequest {
                    action: e.action.clone(),
                },
                Subject::PullRequest {
                    number: pr.number,
                    head_sha: Some(pr.head.sha.to_string()),
                },
                sender,
                None,
            ));
        }
        if pr.is_fork() {
            return out;
        }
        let association = (sender == author).then_some(&pr.author_association);
        self.gate(out, sender, association, facts, TriggerKind::PullRequest)
    }

    fn plan_comment(
        &self,
        event: &WebhookEvent,
        e: &crate::github::event::IssueCommentEvent,
        delivery: &str,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        if e.action.as_str() != "created" {
            return vec![Decision::Ignore(format!(
                "comment {}: only new comments carry commands",
                e.action
            ))];
        }
        let comment = &e.comment;
        if comment.user.kind == "Bot" || comment.user.login.ends_with("[bot]") {
            return vec![Decision::Ignore(format!(
                "comment by the bot {}: bots cannot start agents",
                comment.user.login
            ))];
        }
        let custom_verbs = self.custom_verbs(event);
        let parsed = CommandParser::new(&self.config.github.command_prefix, &custom_verbs)
            .parse(&comment.body);
        if parsed.commands.is_empty() {
            return vec![Decision::Ignore("the comment holds no command".into())];
        }
        let login = comment.user.login.as_str();
        let association = Some(&comment.author_association);
        // Someone below every threshold a command could meet is refused at once; the
        // service's own commands need `min_permission`, an agent's its trigger's.
        let global = self.config.github.authorization.min_permission;
        let lowest = self
            .agents_for(event)
            .filter_map(|(a, _)| a.triggers.comment.as_ref().and_then(|c| c.min_permission))
            .fold(global, Permission::min);
        let verdict = self.authorization(login, association, facts, lowest);
        if let Some(denied) = self.unless_allowed(verdict, login) {
            return vec![denied];
        }
        let control_denied =
            || self.unless_allowed(self.authorization(login, association, facts, global), login);
        // What a command on a pull request needs to know of it: its exact head, and
        // whether that is a fork's. Without the API (a preview) the payload's number is
        // all there is.
        let pull_request = match (issue_is_pr(e), facts.pull_request) {
            (false, _) => None,
            (true, Some(pr)) => Some(Ok(pr)),
            (true, None) if facts.authority == Authority::Preview => None,
            (true, None) => Some(Err(Deferral::PullRequestUnknown {
                number: e.issue.number,
            })),
        };
        let issue = &e.issue;
        let number = issue.number;
        let prefix = &self.config.github.command_prefix;
        let mut out = Vec::new();
        for command in parsed.commands {
            let command = match command.result {
                Ok(c) => c,
                Err(err) => {
                    out.push(Decision::Reply(command_error_reply(&err, prefix)));
                    continue;
                }
            };
            if !matches!(
                command,
                Command::Help
                    | Command::Run { .. }
                    | Command::Review { .. }
                    | Command::Custom { .. }
            ) {
                match control_denied() {
                    None => {}
                    Some(defer @ Decision::Defer(_)) => return vec![defer],
                    Some(refused) => {
                        out.push(refused);
                        continue;
                    }
                }
            }
            let (verb, task) = match command {
                Command::Help => {
                    out.push(Decision::Reply(self.help(event)));
                    continue;
                }
                Command::Status => {
                    out.push(Decision::Control(Control::Status { number }));
                    continue;
                }
                Command::Stop => {
                    out.push(Decision::Control(Control::Stop {
                        number,
                        requested_by: login.into(),
                        asked_at: comment.created_at,
                    }));
                    continue;
                }
                Command::Retry => {
                    out.push(Decision::Control(Control::Retry {
                        number,
                        requested_by: login.into(),
                    }));
                    continue;
                }
                Command::Approve { sha } => {
                    if let Some(Err(unknown)) = &pull_request {
                        return vec![Decision::Defer(unknown.clone())];
                    }
                    if issue.is_pull_request {
                        out.push(Decision::Control(Control::Approve {
                            number,
                            sha,
                            approved_by: login.into(),
                        }));
                    } else {
                        out.push(Decision::Reply(format!(
                            "`{prefix} approve` is for pull requests from forks; this is an issue."
                        )));
                    }
                    continue;
                }
                Command::Run { task } => ("run".to_string(), Some(task)),
                Command::Review { focus } => ("review".to_string(), focus),
                Command::Custom { verb, text, .. } => {
                    (verb.to_lowercase(), Some(text).filter(|t| !t.is_empty()))
                }
            };
            let target = if issue.is_pull_request {
                crate::config::CommentTarget::PullRequest
            } else {
                crate::config::CommentTarget::Issue
            };
            let agents: Vec<&Agent> = self
                .agents_for(event)
                .map(|(a, _)| a)
                .filter(|a| {
                    a.triggers.comment.as_ref().is_some_and(|c| {
                        c.targets.contains(&target) && c.verbs.iter().any(|v| v.as_str() == verb)
                    })
                })
                .collect();
            if agents.is_empty() {
                let place = if issue.is_pull_request {
                    "pull requests"
                } else {
                    "issues"
                };
                out.push(Decision::Reply(format!("No agent answers `{prefix} {verb}` on {place}. `{prefix} help` lists the commands.")));
                continue;
            }
            let subject = match &pull_request {
                Some(Err(unknown)) => return vec![Decision::Defer(unknown.clone())],
                // One fork policy for events and commands alike: a fork's code runs at
                // an approved head only, whoever asks.
                Some(Ok(pr)) if pr.is_fork() => {
                    if let Some(refused) =
                        self.fork_gate(number, pr.head.sha.as_str(), login, facts)
                    {
                        if matches!(refused, Decision::Defer(_)) {
                            return vec![refused];
                        }
                        out.push(refused);
                        continue;
                    }
                    Subject::PullRequest {
                        number,
                        head_sha: Some(pr.head.sha.to_string()),
                    }
                }
                Some(Ok(pr)) => Subject::PullRequest {
                    number,
                    head_sha: Some(pr.head.sha.to_string()),
                },
                None if issue.is_pull_request => Subject::PullRequest {
                    number,
                    head_sha: None,
                },
                None => Subject::Issue { number, sha: None },
            };
            let discriminator = format!("{}:{}", comment.id, out.len());
            let on_fork = matches!(&pull_request, Some(Ok(pr)) if pr.is_fork());
            for agent in agents {
                if on_fork && let Some(refused) = self.fork_write_refusal(agent, login) {
                    out.push(refused);
                    continue;
                }
                out.push(self.launch(
                    agent,
                    delivery,
                    &discriminator,
                    Trigger::Comment {
                        verb: verb.clone(),
                        comment_id: comment.id,
                    },
                    subject.clone(),
                    login,
                    task.clone(),
                ));
            }
        }
        if parsed.truncated {
            out.push(Decision::Reply(format!(
                "Only the first {} commands of a comment are read.",
                crate::github::command::MAX_COMMANDS_PER_COMMENT
            )));
        }
        self.gate(out, login, association, facts, TriggerKind::Comment)
    }

    fn plan_issues(
        &self,
        event: &WebhookEvent,
        e: &crate::github::event::IssuesEvent,
        delivery: &str,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let action = e.action.as_str();
        let issue = &e.issue;
        let sender = login(event.sender.as_ref(), &issue.user);
        let mut out = Vec::new();
        let mut matched = Vec::new();
        let mut listening = false;
        for (agent, _) in self.agents_for(event) {
            let Some(t) = &agent.triggers.issues else {
                continue;
            };
            listening = true;
            let skip = |reason: SkipReason| Decision::Skip {
                agent: agent.name.to_string(),
                reason: reason.to_string(),
            };
            if let Some(reason) =
                action_not_listed("issues", action, t.actions.iter().map(|a| a.as_str()))
            {
                out.push(skip(reason));
                continue;
            }
            if !t.labels.is_empty() {
                // For `labeled`, the label just added must be one of ours.
                let hit = match (&e.label, action) {
                    (Some(label), "labeled") => t.labels.contains(label),
                    _ => issue.labels.iter().any(|l| t.labels.contains(l)),
                };
                if !hit {
                    out.push(skip(SkipReason::NoLabel {
                        is_issue: true,
                        labels: t.labels.clone(),
                    }));
                    continue;
                }
            }
            matched.push(agent);
        }
        if !listening {
            out.push(Decision::Ignore("no agent listens to issues events".into()));
            return out;
        }
        if matched.is_empty() {
            return out;
        }
        // Whoever acted (opened, edited, labeled...) is the requester, for every action.
        let association = (sender == issue.user.login).then_some(&issue.author_association);
        for agent in matched {
            out.push(self.launch(
                agent,
                delivery,
                "",
                Trigger::Issues {
                    action: action.into(),
                },
                Subject::Issue {
                    number: issue.number,
                    sha: None,
                },
                sender,
                None,
            ));
        }
        self.gate(out, sender, association, facts, TriggerKind::Issues)
    }

    fn plan_push(
        &self,
        event: &WebhookEvent,
        e: &crate::github::event::PushEvent,
        delivery: &str,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        if e.deleted {
            return vec![Decision::Ignore(format!("push deleted `{}`", e.git_ref))];
        }
        let (kind, name) = match (
            e.git_ref.strip_prefix("refs/heads/"),
            e.git_ref.strip_prefix("refs/tags/"),
        ) {
            (Some(branch), _) => ("branch", branch),
            (_, Some(tag)) => ("tag", tag),
            _ => {
                return vec![Decision::Ignore(format!(
                    "push to `{}`, which is neither a branch nor a tag",
                    e.git_ref
                ))];
            }
        };
        let mut out = Vec::new();
        let mut listening = false;
        for (agent, filters) in self.agents_for(event) {
            if agent.triggers.push.is_none() {
                continue;
            }
            listening = true;
            let globs = if kind == "branch" {
                &filters.push_branches
            } else {
                &filters.push_tags
            };
            if globs.iter().any(|g| g.is_match(name)) {
                out.push(self.launch(
                    agent,
                    delivery,
                    "",
                    Trigger::Push,
                    Subject::Ref {
                        git_ref: e.git_ref.clone(),
                        sha: e.after.to_string(),
                    },
                    &e.pusher,
                    None,
                ));
            } else {
                out.push(Decision::Skip {
                    agent: agent.name.to_string(),
                    reason: SkipReason::PushRef {
                        tag: kind == "tag",
                        name: name.to_string(),
                    }
                    .to_string(),
                });
            }
        }
        if !listening {
            out.push(Decision::Ignore("no agent listens to push events".into()));
        }
        self.authorized_launches(out, event.sender.as_ref(), facts, TriggerKind::Push)
    }

    /// Launches stand only if whoever acted may start agents (a push, a release: the
    /// payload says nothing of their association).
    fn authorized_launches(
        &self,
        out: Vec<Decision>,
        sender: Option<&User>,
        facts: &Facts<'_>,
        kind: TriggerKind,
    ) -> Vec<Decision> {
        let login = sender.map_or("", |u| u.login.as_str());
        self.gate(out, login, None, facts, kind)
    }

    fn plan_release(
        &self,
        event: &WebhookEvent,
        e: &crate::github::event::ReleaseEvent,
        delivery: &str,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let action = e.action.as_str();
        let sender = event.sender.as_ref().map_or("", |u| u.login.as_str());
        let mut out = Vec::new();
        let mut listening = false;
        for (agent, _) in self.agents_for(event) {
            let Some(t) = &agent.triggers.release else {
                continue;
            };
            listening = true;
            let skip = |reason: SkipReason| Decision::Skip {
                agent: agent.name.to_string(),
                reason: reason.to_string(),
            };
            if let Some(reason) =
                action_not_listed("release", action, t.actions.iter().map(|a| a.as_str()))
            {
                out.push(skip(reason));
            } else if e.release.prerelease && !t.prerelease {
                out.push(skip(SkipReason::Prerelease));
            } else {
                out.push(self.launch(
                    agent,
                    delivery,
                    "",
                    Trigger::Release {
                        action: action.into(),
                    },
                    Subject::Release {
                        tag: e.release.tag_name.clone(),
                        sha: None,
                    },
                    sender,
                    None,
                ));
            }
        }
        if !listening {
            out.push(Decision::Ignore(
                "no agent listens to release events".into(),
            ));
        }
        // The tag's commit is asked before who may run: a refusal is told on that commit.
        if out.iter().any(|d| matches!(d, Decision::Launch(_)))
            && matches!(facts.commit, RefCommit::NotAsked | RefCommit::Unanswered)
        {
            return vec![Decision::Defer(Deferral::CommitUnknown {
                git_ref: format!("refs/tags/{}", e.release.tag_name),
            })];
        }
        self.authorized_launches(out, event.sender.as_ref(), facts, TriggerKind::Release)
    }

    /// GitHub's "Re-run" on a check run: a run of ours again, if this App created the
    /// check run and the sender may do what `retry` needs (`min_permission`, asked of
    /// GitHub's permission API, never the payload's association).
    fn plan_check_run(
        &self,
        event: &WebhookEvent,
        e: &crate::github::event::CheckRunEvent,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let ignore = |why: String| vec![Decision::Ignore(why)];
        if e.action != "rerequested" {
            return ignore(format!("`check_run.{}` events start nothing", e.action));
        }
        let check = &e.check_run;
        let Some(own) = facts.own_app_id else {
            return ignore(format!(
                "check run {} ({}): only check runs of agentpods' own GitHub App can be re-run, and it has no App credentials here",
                check.id, check.name
            ));
        };
        if check.app_id != Some(own) {
            return ignore(format!(
                "check run {} ({}) was not created by this GitHub App: its Re-run is not ours to answer",
                check.id, check.name
            ));
        }
        let Some(run) = check
            .external_id
            .as_deref()
            .filter(|id| reports_a_run(&check.name) && dns_label_ok(id))
        else {
            return ignore(format!(
                "check run {} ({}) reports no run of agentpods (no run name in its external_id)",
                check.id, check.name
            ));
        };
        let Some(sender) = event.sender.as_ref().map(|u| u.login.as_str()) else {
            return ignore("a Re-run nobody pressed".into());
        };
        let global = self.config.github.authorization.min_permission;
        if let Some(denied) =
            self.unless_allowed(self.authorization(sender, None, facts, global), sender)
        {
            return vec![denied];
        }
        vec![Decision::Control(Control::Rerun {
            run: run.to_string(),
            requested_by: sender.to_string(),
        })]
    }

    /// May this person start agents, as far as can be told now? `association` is what
    /// the payload says of them, when it says anything.
    fn authorization(
        &self,
        login: &str,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
        needs: Permission,
    ) -> Verdict {
        let auth = &self.config.github.authorization;
        if auth
            .allowed_users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(login))
        {
            return Verdict::Allowed;
        }
        if facts.teams.iter().any(|t| {
            auth.allowed_teams
                .iter()
                .any(|a| a.as_str().eq_ignore_ascii_case(t))
        }) {
            return Verdict::Allowed;
        }
        let refused = |has: Permission, inferred: bool| {
            Verdict::Refused(RefusalReason::NotAuthorized {
                has,
                needs,
                inferred,
            })
        };
        match facts.authority {
            Authority::Known(has) if has >= needs => Verdict::Allowed,
            // A team might still allow them.
            Authority::Known(_) if facts.teams_unanswered => Verdict::Undecided,
            Authority::Known(has) => refused(has, false),
            Authority::Preview => match association {
                Some(a) if permission_from_association(a) < needs => {
                    refused(permission_from_association(a), true)
                }
                _ => Verdict::Allowed,
            },
            // GitHub was asked and did not answer. Someone who is no collaborator or member
            // can at most read: refused at once. Anyone else waits for GitHub's answer; the
            // association never grants.
            Authority::Unanswered => match association {
                Some(a) if !may_be_collaborator(a) && Permission::Read < needs => {
                    refused(Permission::Read, true)
                }
                _ => Verdict::Undecided,
            },
            Authority::NotAsked => Verdict::Undecided,
            Authority::Unavailable => Verdict::Refused(RefusalReason::PermissionUnavailable),
        }
    }

    /// The verdict as decisions: `None` when allowed; else a refusal of `login`, or the
    /// delivery deferred until GitHub says what `login` may do.
    fn unless_allowed(&self, verdict: Verdict, login: &str) -> Option<Decision> {
        match verdict {
            Verdict::Allowed => None,
            Verdict::Refused(reason) => Some(Decision::Refuse(Refusal {
                login: login.to_string(),
                reason,
            })),
            Verdict::Undecided => Some(Decision::Defer(Deferral::PermissionUnanswered {
                login: login.to_string(),
            })),
        }
    }

    /// The lowest permission that may start `agent` by `kind`: the trigger's own
    /// `min_permission`, else `github.authorization.min_permission`.
    fn needs(&self, agent: &str, kind: TriggerKind) -> Permission {
        let t = self
            .config
            .agents
            .iter()
            .find(|a| a.name.as_str() == agent)
            .map(|a| &a.triggers);
        let own = t.and_then(|t| match kind {
            TriggerKind::PullRequest => t.pull_request.as_ref().and_then(|x| x.min_permission),
            TriggerKind::Issues => t.issues.as_ref().and_then(|x| x.min_permission),
            TriggerKind::Comment => t.comment.as_ref().and_then(|x| x.min_permission),
            TriggerKind::Push => t.push.as_ref().and_then(|x| x.min_permission),
            TriggerKind::Release => t.release.as_ref().and_then(|x| x.min_permission),
        });
        own.unwrap_or(self.config.github.authorization.min_permission)
    }

    /// Keeps the launches `login` may start, each judged by its agent's threshold for
    /// `kind`; the first refusal closes the decisions, and an undecided one defers them
    /// all (the delivery is decided again when GitHub answers).
    fn gate(
        &self,
        out: Vec<Decision>,
        login: &str,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
        kind: TriggerKind,
    ) -> Vec<Decision> {
        let mut kept = Vec::with_capacity(out.len());
        let mut denied = None;
        for decision in out {
            let Decision::Launch(launch) = &decision else {
                kept.push(decision);
                continue;
            };
            let needs = self.needs(&launch.agent, kind);
            match self.unless_allowed(self.authorization(login, association, facts, needs), login) {
                None => kept.push(decision),
                Some(defer @ Decision::Defer(_)) => return vec![defer],
                Some(refused) => {
                    denied.get_or_insert(refused);
                }
            }
        }
        match denied {
            Some(denied) => ending_with(kept, denied),
            None => kept,
        }
    }

    /// Whether a fork pull request's code may run at `head` for someone the repository
    /// does not trust: `None` when it may, else why not (`requested_by` is told).
    /// A fork's code never runs with a token that can write: whatever the code makes the
    /// agent do, it could do with the token (push, open pull requests, comment as the
    /// App). Unless the operator trusts every fork outright (`fork_pull_requests: always`).
    fn fork_write_refusal(&self, agent: &Agent, requested_by: &str) -> Option<Decision> {
        if self.config.github.authorization.fork_pull_requests == ForkPolicy::Always {
            return None;
        }
        let writes = agent.github_token.writes();
        if writes.is_empty() {
            return None;
        }
        Some(Decision::Refuse(Refusal {
            login: requested_by.to_string(),
            reason: RefusalReason::ForkWithWriteToken {
                agent: agent.name.to_string(),
                writes: writes.join(", "),
            },
        }))
    }

    fn fork_gate(
        &self,
        number: u64,
        head: &str,
        requested_by: &str,
        facts: &Facts<'_>,
    ) -> Option<Decision> {
        let reason = match self.config.github.authorization.fork_pull_requests {
            ForkPolicy::Always => return None,
            ForkPolicy::Never => RefusalReason::ForksNeverRun,
            ForkPolicy::Approve if facts.approved_sha == Some(head) => return None,
            ForkPolicy::Approve if facts.approvals_unreadable => {
                return Some(Decision::Defer(Deferral::ApprovalsUnknown { number }));
            }
            ForkPolicy::Approve => RefusalReason::ForkNeedsApproval {
                head_sha: head.to_string(),
            },
        };
        Some(Decision::Refuse(Refusal {
            login: requested_by.to_string(),
            reason,
        }))
    }
}

/// Every run at an exact commit. A launch about an issue or a release gets the commit its
/// ref named when the delivery came (`facts.commit`: the default branch's head, the tag's
/// commit); until GitHub has said it, the delivery waits. A ref GitHub does not have, or
/// a pushed or released ref holding `#` (which git build contexts read as a separator),
/// starts nothing, and the requester is told. Without GitHub to ask (a preview) the run
/// is shown at the ref itself.
fn pin(event: &WebhookEvent, out: Vec<Decision>, facts: &Facts<'_>) -> Vec<Decision> {
    let mut kept = Vec::with_capacity(out.len());
    let mut refused = None;
    let refuse = |launch: &Launch, reason: RefusalReason| {
        Decision::Refuse(Refusal {
            login: launch.requested_by.clone(),
            reason,
        })
    };
    for decision in out {
        let Decision::Launch(mut launch) = decision else {
            kept.push(decision);
            continue;
        };
        let git_ref = launch.subject.git_ref(event);
        let pushed_or_released = matches!(
            launch.subject,
            Subject::Ref { .. } | Subject::Release { .. }
        );
        if pushed_or_released && git_ref.contains('#') {
            refused.get_or_insert(refuse(&launch, RefusalReason::HashInRef { git_ref }));
            continue;
        }
        // Pull requests and pushes name their commit already; issues and releases are
        // pinned here.
        let pinned_here = matches!(
            launch.subject,
            Subject::Issue { .. } | Subject::Release { .. }
        );
        if !pinned_here || launch.subject.sha().is_some() {
            kept.push(Decision::Launch(launch));
            continue;
        }
        let pinned = match facts.commit {
            RefCommit::Unpinned => None,
            RefCommit::Known(commit) => Some(commit.to_ascii_lowercase()),
            RefCommit::NotAsked | RefCommit::Unanswered => {
                return vec![Decision::Defer(Deferral::CommitUnknown { git_ref })];
            }
            RefCommit::Missing => {
                refused.get_or_insert(refuse(&launch, RefusalReason::RefMissing { git_ref }));
                continue;
            }
        };
        if let Subject::Issue { sha, .. } | Subject::Release { sha, .. } = &mut launch.subject {
            *sha = pinned;
        }
        kept.push(Decision::Launch(launch));
    }
    match refused {
        Some(refused) => ending_with(kept, refused),
        None => kept,
    }
}

/// Which trigger of an agent a launch comes from (each may set its own `min_permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TriggerKind {
    PullRequest,
    Issues,
    Comment,
    Push,
    Release,
}

/// Whether a person may start agents, as far as can be told now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Refused(RefusalReason),
    /// GitHub has not said (yet).
    Undecided,
}

/// How old, by its signed time, a delivery may be and still act. A delivery is known by
/// its signed body, and the signature is GitHub's: whoever captured one (a proxy's log)
/// can send it again, under a new delivery id, at any time. Within this window the run it
/// started is still there to find (the controller keeps every AgentRun at least
/// [`REPLAY_GUARD`] after its creation, whatever its TTL), so the replay finds it and
/// launches nothing; past it, the delivery is stale and does nothing at all. Three days:
/// GitHub redelivers nothing older (catch-up looks back as far), so no genuine delivery
/// is older than that when it reaches us.
pub const REPLAY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// How far GitHub's clock (which writes the signed times) and the cluster's (which writes
/// an AgentRun's creation time) may disagree without opening a gap between the two
/// guards.
pub const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long the controller keeps a finished AgentRun after its creation, at least: the
/// replay window and the clocks' skew. A delivery is launched only within the window of
/// its signed time, so its run outlives the window, and a replay finds it.
pub const REPLAY_GUARD: std::time::Duration =
    std::time::Duration::from_secs(REPLAY_WINDOW.as_secs() + CLOCK_SKEW.as_secs());

/// Why a delivery is too old to act on: it may be a captured body sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The field the time was read from (`comment.created_at`, …).
    pub field: &'static str,
    /// What it says, when it says anything.
    pub signed_at: Option<Timestamp>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window = crate::text::duration(REPLAY_WINDOW);
        match self.signed_at {
            Some(at) => write!(
                f,
                "stale: its {} ({at}) is older than the replay window ({window}); a \
                 delivery that old may be a captured one sent again, so nothing is done",
                self.field
            ),
            None => write!(
                f,
                "stale: it carries no readable {}, so its age cannot be told; nothing is done",
                self.field
            ),
        }
    }
}

/// Whether `event` is too old to act on at `now` (see [`REPLAY_WINDOW`]). Every event
/// that can start a run carries a time GitHub signed: a comment's `created_at`, a pull
/// request's or issue's `updated_at`, a release's `published_at` or `created_at`, a push's
/// `repository.pushed_at` (see [`WebhookEvent::signed_at`]). Other events start nothing of
/// their own and are never stale (a `check_run` "Re-run" is named after its signed body and
/// needs the run it re-runs, which is collected no later than the re-run). A time ahead of
/// `now` is GitHub's clock, not an attacker's, and is taken. Pure.
pub fn stale(event: &WebhookEvent, now: Timestamp) -> Option<Stale> {
    let field = match &event.event {
        Event::IssueComment(_) => "comment.created_at",
        Event::PullRequest(_) => "pull_request.updated_at",
        Event::Issues(_) => "issue.updated_at",
        Event::Release(_) => "release.published_at",
        Event::Push(_) => "repository.pushed_at",
        _ => return None,
    };
    let window = SignedDuration::try_from(REPLAY_WINDOW).unwrap_or(SignedDuration::MAX);
    match event.signed_at {
        Some(at) if now.duration_since(at) <= window => None,
        signed_at => Some(Stale { field, signed_at }),
    }
}

/// Whose permission decides `event`: the commenter; a fork pull request's author (it is
/// their code that would run); whoever else acted (opened, pushed, labeled, published).
/// GitHub's permission API is asked about this login, and no other.
pub fn requester(event: &WebhookEvent) -> Option<&str> {
    let sender = event.sender.as_ref().map(|u| u.login.as_str());
    match &event.event {
        Event::IssueComment(e) => Some(e.comment.user.login.as_str()),
        Event::PullRequest(e) if e.pull_request.is_fork() => {
            Some(e.pull_request.user.login.as_str())
        }
        Event::PullRequest(e) => Some(sender.unwrap_or(e.pull_request.user.login.as_str())),
        Event::Issues(e) => Some(sender.unwrap_or(e.issue.user.login.as_str())),
        Event::Push(_) | Event::Release(_) | Event::CheckRun(_) => sender,
        Event::Ping(_) | Event::CheckSuite(_) | Event::Other { .. } => None,
    }
}

/// Whether a check run of this name reports a run (`agentpods/<agent>`), not a refusal.
fn reports_a_run(check_name: &str) -> bool {
    check_name
        .strip_prefix(crate::github::report::CHECK_NAME)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `name` could be a run's name (a DNS label): an external_id that is not cannot
/// name a run, and is never looked up.
fn dns_label_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether someone with this association can have more than read access: owners,
/// members and collaborators (and associations this version does not know).
fn may_be_collaborator(a: &AuthorAssociation) -> bool {
    matches!(
        a,
        AuthorAssociation::Owner
            | AuthorAssociation::Member
            | AuthorAssociation::Collaborator
            | AuthorAssociation::Unknown(_)
    )
}

/// What an author_association says about permission, conservatively: an owner administers;
/// members and collaborators are taken to write (the collaborator-permission API, when
/// available, replaces this guess); everyone else reads.
pub fn permission_from_association(a: &AuthorAssociation) -> Permission {
    match a {
        AuthorAssociation::Owner => Permission::Admin,
        AuthorAssociation::Member | AuthorAssociation::Collaborator => Permission::Write,
        _ => Permission::Read,
    }
}

/// Why an event's action starts no agent whose trigger lists `wanted`, if it starts none.
fn action_not_listed<'a>(
    event: &'static str,
    action: &str,
    wanted: impl Iterator<Item = &'a str> + Clone,
) -> Option<SkipReason> {
    if wanted.clone().any(|a| a == action) {
        return None;
    }
    Some(SkipReason::ActionNotListed {
        event,
        action: action.to_owned(),
        wanted: wanted.map(str::to_owned).collect(),
    })
}

/// The decisions so far, closed by a refusal; a deferral replaces them all (the whole
/// delivery is decided again when it comes back).
fn issue_is_pr(e: &crate::github::event::IssueCommentEvent) -> bool {
    e.issue.is_pull_request
}

fn ending_with(mut out: Vec<Decision>, last: Decision) -> Vec<Decision> {
    if matches!(last, Decision::Defer(_)) {
        return vec![last];
    }
    out.push(last);
    out
}

fn login<'a>(sender: Option<&'a User>, fallback: &'a User) -> &'a str {
    sender.map_or(fallback.login.as_str(), |u| u.login.as_str())
}

fn command_error_reply(err: &CommandError, prefix: &str) -> String {
    format!("{err} (`{prefix} help` lists the commands)")
}

/// A run's name: `<agent>-<subject>-<hash>`, a DNS label of at most 63 characters. The hash
/// covers the delivery (the service passes its signed body's SHA-256,
/// `DeliveryId::run_key`, so a replay under a new id is the same delivery), the agent and
/// what tells two commands of one comment apart, so the same delivery always yields the
/// same name.
pub fn run_name(agent: &str, subject: &str, delivery: &str, discriminator: &str) -> String {
    let hash = short_hash(&[delivery, agent, discriminator]);
    let mut head = dns_label(&format!("{agent}-{subject}"));
    head.truncate(63 - hash.len() - 1);
    let head = head.trim_end_matches('-');
    format!("{head}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::{Decision, Facts, Planner, SkipReason};

    /// Three teams' agents on one installation: one for `acme/a` only, one for every
    /// repository of `acme` but `acme/b`, one for every repository.
    const SCOPED: &str = r#"
project: demo
cluster: {namespace: runs}
images: {agent: ghcr.io/acme/agent:1.0}
agents:
  - name: a-review
    repositories: ["acme/a"]
    triggers:
      pull_request: {}
      comment: {verbs: [review]}
  - name: acme-docs
    repositories: ["ACME/*", "!acme/b"]
    triggers:
      comment: {verbs: [docs]}
      issues: {}
      push: {tags: ["simple-*"]}
      release: {}
  - name: everyone
    triggers:
      comment: {verbs: [run]}
"#;

    fn planner() -> Planner {
        let templates = [(
            "agent-pod.yaml".to_string(),
            "kind: ConfigMap\n".to_string(),
        )]
        .into();
        let loaded = crate::config::parse(SCOPED, "services.yaml", templates)
            .unwrap_or_else(|e| panic!("{e}"));
        Planner::new(&loaded.config)
    }

    /// A real payload (`examples/…/<event>/<file>`) moved to `repository`, with the
    /// comment's body `comment` if given.
    fn event(
        file: &str,
        repository: &str,
        comment: Option<&str>,
    ) -> crate::github::event::WebhookEvent {
        let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut json: serde_json::Value = serde_json::from_slice(&text).expect("JSON");
        let (owner, name) = repository.split_once('/').expect("owner/name");
        json["repository"]["full_name"] = repository.into();
        json["repository"]["name"] = name.into();
        json["repository"]["owner"]["login"] = owner.into();
        if let Some(body) = comment {
            json["comment"]["body"] = body.into();
        }
        let event_name = file.split('/').nth(1).expect("an event folder");
        crate::github::event::parse(event_name, &serde_json::to_vec(&json).expect("JSON"))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// What a delivery came to, in short: the agents launched, else the replies' first
    /// words, else `nothing`.
    fn outcome(decisions: &[Decision]) -> String {
        let launched: Vec<&str> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Launch(l) => Some(l.agent.as_str()),
                _ => None,
            })
            .collect();
        if !launched.is_empty() {
            return launched.join(" ");
        }
        let replies: Vec<String> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Reply(text) => Some(text.lines().next().unwrap_or("").to_string()),
                _ => None,
            })
            .collect();
        if replies.is_empty() {
            "nothing".into()
        } else {
            format!("reply: {}", replies.join(" | "))
        }
    }

    /// An agent limited to some repositories starts, by every trigger, only for them; a
    /// command naming it elsewhere is answered as for a verb nobody there answers to.
    /// A delivery older than the replay window is stale; one inside it, or from the
    /// future (GitHub's clock ahead of ours), is not; one that should carry a signed time
    /// and does not is stale; one that starts nothing of its own never is (issue 11, F7).
    #[test]
    fn a_delivery_older_than_the_replay_window_is_stale() {
        use k8s_openapi::jiff::Timestamp;
        let mut comment = event("webhooks/issue_comment/created.json", "o/r", None);
        let written: Timestamp = "2019-05-15T15:20:21Z".parse().expect("a time");
        assert_eq!(comment.signed_at, Some(written));
        let at = |s: &str| s.parse::<Timestamp>().expect("a time");
        assert_eq!(super::stale(&comment, at("2019-05-18T15:20:21Z")), None);
        assert_eq!(super::stale(&comment, at("2019-05-10T00:00:00Z")), None);
        let old = super::stale(&comment, at("2019-05-18T15:20:22Z")).expect("stale");
        assert_eq!(old.field, "comment.created_at");
        assert!(
            old.to_string()
                .contains("older than the replay window (3days)"),
            "{old}"
        );
        comment.signed_at = None;
        let unknown = super::stale(&comment, at("2019-05-15T15:20:22Z")).expect("stale");
        assert!(
            unknown
                .to_string()
                .contains("no readable comment.created_at"),
            "{unknown}"
        );
        let ping = event("webhooks/ping/0.json", "o/r", None);
        assert_eq!(super::stale(&ping, at("2030-01-01T00:00:00Z")), None);
    }

    #[test]
    fn agents_start_only_for_the_repositories_they_are_for() {
        let planner = planner();
        let pr = "webhooks/pull_request/opened.json";
        let comment = "variants/issue_comment/run-on-pull-request.json";
        let table: &[(&str, Option<&str>, &str, &str)] = &[
            (pr, None, "acme/a", "a-review"),
            (pr, None, "Acme/A", "a-review"),
            (pr, None, "acme/b", "nothing"),
            (pr, None, "other/c", "nothing"),
            (comment, Some("/agent review"), "acme/a", "a-review"),
            (
                comment,
                Some("/agent review"),
                "acme/b",
                "reply: No agent answers `/agent review` on pull requests. `/agent help` lists the commands.",
            ),
            (comment, Some("/agent docs"), "acme/a", "acme-docs"),
            (comment, Some("/agent docs"), "acme/c", "acme-docs"),
            (
                comment,
                Some("/agent docs"),
                "acme/b",
                "reply: unknown command `docs`; `help` lists the commands (`/agent help` lists the commands)",
            ),
            (comment, Some("/agent run x"), "acme/b", "everyone"),
            (comment, Some("/agent run x"), "other/c", "everyone"),
            ("webhooks/issues/opened.json", None, "acme/a", "acme-docs"),
            ("webhooks/issues/opened.json", None, "acme/b", "nothing"),
            ("webhooks/push/0.json", None, "acme/c", "acme-docs"),
            ("webhooks/push/0.json", None, "acme/b", "nothing"),
            ("webhooks/push/0.json", None, "other/c", "nothing"),
            (
                "webhooks/release/published.json",
                None,
                "acme/a",
                "acme-docs",
            ),
            (
                "webhooks/release/published.json",
                None,
                "other/c",
                "nothing",
            ),
        ];
        let mut wrong = Vec::new();
        for (file, body, repository, expected) in table {
            let decisions = planner.plan(&event(file, repository, *body), "d-1", &Facts::default());
            let found = outcome(&decisions);
            if found != *expected {
                wrong.push(format!(
                    "{file} {body:?} on {repository}: expected {expected}, got {found}\n  {decisions:?}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// `help` lists the verbs of the repository it is asked in, and no other's.
    #[test]
    fn help_lists_only_the_agents_of_the_repository() {
        let planner = planner();
        let comment = "variants/issue_comment/run-on-pull-request.json";
        let help =
            |repository: &str| planner.help(&event(comment, repository, Some("/agent help")));
        let (a, b) = (help("acme/a"), help("acme/b"));
        assert!(a.contains("docs"), "{a}");
        assert!(!b.contains("docs"), "{b}");
        assert!(!b.contains("acme-docs"), "{b}");
    }

    /// Every skip reason, in the words logs, `render` notes and tests have always read.
    #[test]
    fn every_skip_reason_reads_as_it_always_has() {
        let table = [
            (
                SkipReason::ActionNotListed {
                    event: "pull_request",
                    action: "closed".into(),
                    wanted: vec!["opened".into(), "synchronize".into()],
                },
                "pull_request action `closed` is not one of [opened, synchronize]",
            ),
            (
                SkipReason::Draft,
                "the pull request is a draft (set `draft: true` to run on drafts)",
            ),
            (
                SkipReason::BaseBranch {
                    branch: "dev".into(),
                },
                "base branch `dev` matches none of the `branches` globs",
            ),
            (
                SkipReason::NoLabel {
                    is_issue: false,
                    labels: vec!["agent".into(), "bot".into()],
                },
                "the pull request has none of the labels [agent, bot]",
            ),
            (
                SkipReason::NoLabel {
                    is_issue: true,
                    labels: vec!["agent".into()],
                },
                "the issue has none of the labels [agent]",
            ),
            (
                SkipReason::ChangedFilesUnknown,
                "its `paths` filter needs the pull request's changed files, which are not known",
            ),
            (
                SkipReason::NoPathMatches,
                "no changed file matches its `paths` filter",
            ),
            (
                SkipReason::PushRef {
                    tag: false,
                    name: "feature/x".into(),
                },
                "branches `feature/x` matches none of its push `branches` globs",
            ),
            (
                SkipReason::PushRef {
                    tag: true,
                    name: "v1.0".into(),
                },
                "tags `v1.0` matches none of its push `tags` globs",
            ),
            (
                SkipReason::Prerelease,
                "the release is a prerelease (set `prerelease: true` to run on them)",
            ),
        ];
        for (reason, words) in &table {
            assert_eq!(reason.to_string(), *words, "{reason:?}");
        }
        // A new variant fails to compile here: add it to this match and to the table.
        for (reason, _) in &table {
            match reason {
                SkipReason::ActionNotListed { .. }
                | SkipReason::Draft
                | SkipReason::BaseBranch { .. }
                | SkipReason::NoLabel { .. }
                | SkipReason::ChangedFilesUnknown
                | SkipReason::NoPathMatches
                | SkipReason::PushRef { .. }
                | SkipReason::Prerelease => {}
            }
        }
    }
}
