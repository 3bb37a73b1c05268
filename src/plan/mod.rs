//! The planner: a GitHub event and services.yaml in, decisions out. Pure: no I/O, no clock.
//!
//! Which agents fire, for whom and with what task; what is refused and why; what the bot
//! says back; which commands the service itself must carry out (stop, status, ...).
//!
//! One place decides for every trigger. [`Planner::plan`] hands the event to its trigger's
//! file (`pull_request.rs`, `comment.rs`, `issues.rs`, `push.rs`, `release.rs`,
//! `check_run.rs`); each asks the one loop over agents ([`Planner::hear`]) with its own
//! verdict per agent (start, skip and why, or not listening), makes the launches, and says
//! whose permission they need. The shared checks then run once, here: who may start what
//! (`authority.rs`, the fork policy included) and the exact commit each run checks out
//! (`pin.rs`). The English of every outcome is in `reasons.rs`; the replay window in
//! `replay.rs`.

use globset::{GlobMatcher, GlobSet, GlobSetBuilder};

use crate::config::{Agent, AgentName, CommentTarget, Config, Verb};
use crate::github::command::{BuiltinVerb, help_text};
use crate::github::event::{
    AuthorAssociation, CommitSha, Event, IssuesAction, Login, PullRequest, PullRequestAction,
    ReleaseAction, User, WebhookEvent,
};
use crate::github::webhook::DeliveryId;
use crate::ids::CommentId;
use crate::names::RunName;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

mod again;
mod approval;
mod authority;
mod check_run;
mod comment;
mod issues;
mod pin;
mod pull_request;
mod push;
mod reasons;
mod release;
mod replay;
mod repository;
#[cfg(test)]
mod table;

pub use again::{Again, ForkRun, Withheld};
pub use approval::{
    Approved, ApprovedHead, ApproverAuthority, GivenApproval, HeadApproval, Judged,
};
use authority::Requester;
pub use authority::permission_from_association;
pub use pull_request::{ApprovedRuns, approved_event};
pub use reasons::{Deferral, IgnoreReason, Refusal, RefusalReason, SkipReason};
pub use replay::{CLOCK_SKEW, REPLAY_GUARD, REPLAY_WINDOW, Stale, stale};
pub use repository::RepositorySays;

/// What is known of the requester's permission on the repository. The payload's
/// `author_association` never grants anything where runs are real: it may only refuse
/// early someone who cannot be a collaborator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authority {
    /// GitHub's permission API answered (or `render --permission` says what it would).
    Known(crate::config::Permission),
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
    /// The repository the event is about, as the edge read it: whose `allowed_in` entries
    /// count (none when it is not known).
    pub repository_name: Option<&'a crate::github::event::RepoFullName>,
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
    /// The pull request's changed files, as far as they were read (needed by `paths`
    /// filters).
    pub changed_files: ChangedFiles<'a>,
    /// The pull request a comment is on, when fetched (comments carry only its number).
    pub pull_request: Option<&'a PullRequest>,
    /// The approvals the service recorded for this fork pull request (its own records,
    /// never a comment), when they were read; whether one stands for the head that would
    /// run is the planner's to judge (`approval.rs`).
    pub approvals: &'a [HeadApproval],
    /// The pull request's head as the service had seen it when the comment was written
    /// (the last head recorded before its `created_at`): what an `approve` without a SHA
    /// approves, if it is still the head.
    pub head_at_comment: Option<&'a CommitSha>,
    /// The approval records were read, for `head_at_comment` (it is `None` then when they
    /// hold no head from before the comment) and `approvals`: until they are, an `approve`
    /// waits ([`Deferral::HeadAtCommentUnknown`]).
    pub head_at_comment_read: bool,
    /// The approval records could not be read: a decision that needs them waits.
    pub approvals_unreadable: bool,
    /// The permission, asked now, of the people who approved the head that would run:
    /// an approval stands for an agent only if its approver may start that agent now.
    pub approvers: &'a [ApproverAuthority],
    /// The commit of the ref a run about an issue or a release checks out (the default
    /// branch's head, the tag's commit), as GitHub said it when the delivery came.
    pub commit: RefCommit<'a>,
    /// What the repository's own file (services.yaml's `repository_config`) on its default
    /// branch says: which of its agents run there.
    pub repository: RepositorySays<'a>,
}

/// A pull request's changed paths (each file's name, and its name before a rename), as
/// far as they were read: GitHub lists them 100 a page, and a `paths` filter needs only
/// one that matches, so the edge may stop reading once every filter has found one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChangedFiles<'a> {
    /// Not read (or not readable).
    #[default]
    Unknown,
    /// The first of them; more follow. A filter none of these match is not decided.
    Some(&'a [String]),
    /// All of them (GitHub lists at most 3,000).
    All(&'a [String]),
}

impl<'a> ChangedFiles<'a> {
    /// All the changed files when `files` are known, else unknown.
    pub fn all_or_unknown(files: Option<&'a [String]>) -> ChangedFiles<'a> {
        files.map_or(ChangedFiles::Unknown, ChangedFiles::All)
    }
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
    /// The commit.
    Known(&'a CommitSha),
    /// GitHub says the ref does not exist (a draft release's tag, an empty repository).
    Missing,
    /// GitHub was asked and did not answer: the delivery waits (503), nothing is guessed.
    Unanswered,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start this agent.
    Launch(Launch),
    /// An agent listens to this event but its filters did not match (logged, not replied).
    Skip {
        agent: AgentName,
        reason: SkipReason,
    },
    /// Someone asked for something they may not have: one reply with the reason.
    Refuse(Refusal),
    /// A command the service carries out itself.
    Control(Control),
    /// A reply to post (help text, a mistyped command).
    Reply(String),
    /// A word to `to`, whose comment asked for nothing as written but looks meant to (a
    /// command's prefix in capitals: `/Agent run x`): told at most once an hour per person
    /// and thread, and only to someone who may use some command.
    Hint { to: Login, text: String },
    /// Nothing to do for this delivery, and why (logged and counted).
    Ignore(IgnoreReason),
    /// Not decidable until GitHub answers: nothing is done, and the delivery is answered
    /// so that it comes again (503); it is decided then.
    Defer(Deferral),
}

impl Decision {
    /// `agent` does not start: its filters say why.
    fn skip(agent: &Agent, reason: SkipReason) -> Decision {
        Decision::Skip {
            agent: agent.name.clone(),
            reason,
        }
    }

    /// Nothing to do for this delivery.
    fn ignore(reason: IgnoreReason) -> Decision {
        Decision::Ignore(reason)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub agent: AgentName,
    /// The run's name: stable for a delivery and agent, so a repeated delivery is a no-op.
    pub run_name: RunName,
    pub trigger: Trigger,
    /// The task a maintainer wrote (`/agent run …`), or the focus of `/agent review …`.
    pub task: Option<String>,
    /// Who asked: the commenter, the pull request's sender, the pusher.
    pub requested_by: Login,
    /// What the run is about.
    pub subject: Subject,
    /// Asked for by someone below `github.authorization.min_permission`, let in by the
    /// trigger's own lower `min_permission` (`none` on a pull request's review, say): such
    /// runs may fill only part of their repository's queue
    /// (`limits.queued_per_repository`), so strangers cannot keep the maintainers' runs
    /// out (review 15c, F5). Judged at intake and never stored: a run read back is not one.
    pub by_outsider: bool,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    PullRequest {
        action: PullRequestAction,
    },
    Issues {
        action: IssuesAction,
    },
    /// A comment's command: the verb its agents answer, as services.yaml lists it.
    Comment {
        verb: Verb,
        comment_id: CommentId,
    },
    Push,
    Release {
        action: ReleaseAction,
    },
    Approved(ApprovedHead),
}

impl Trigger {
    pub fn describe(&self) -> String {
        match self {
            Trigger::PullRequest { action } => format!("pull_request.{action}"),
            Trigger::Issues { action } => format!("issues.{action}"),
            Trigger::Comment { verb, .. } => format!("comment:{verb}"),
            Trigger::Push => "push".into(),
            Trigger::Release { action } => format!("release.{action}"),
            Trigger::Approved(_) => "comment:approve".into(),
        }
    }
}

/// What asked for a recorded run to run again: a new run, of the same agent, event, task
/// and exact commit, named and described by the plan's words as every other run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgainBy {
    /// `/agent retry` on the run's pull request or issue.
    Retry,
    /// GitHub's "Re-run" on the run's check run.
    Rerun,
}

impl AgainBy {
    /// Why the new run exists, as its `spec.trigger` says it (`comment:retry`,
    /// `check_run:rerequested`), beside [`Trigger::describe`]'s words.
    pub fn describe(self) -> &'static str {
        match self {
            AgainBy::Retry => "comment:retry",
            AgainBy::Rerun => "check_run:rerequested",
        }
    }

    /// The new run's name: the first run's agent and subject, hashed with the delivery that
    /// asked again and this (so a retry and a Re-run of one delivery are two runs).
    pub fn run_name(self, launch: &Launch, key: RunKey<'_>) -> RunName {
        let discriminator = match self {
            AgainBy::Retry => "retry",
            AgainBy::Rerun => "rerun",
        };
        run_name(&launch.agent, &launch.subject, Some(key), discriminator)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    PullRequest {
        number: u64,
        /// The head the run checks out; `None` when the pull request was not read (a
        /// comment's, with no GitHub to ask).
        head_sha: Option<CommitSha>,
    },
    Issue {
        number: u64,
        /// The default branch's head commit when the delivery came, which the run checks
        /// out. `None` in a preview (and in runs stored before it was recorded): the
        /// default branch itself.
        sha: Option<CommitSha>,
    },
    Ref {
        git_ref: String,
        sha: CommitSha,
    },
    Release {
        tag: String,
        /// The commit the tag points to (an annotated tag dereferenced), which the run
        /// checks out. `None` in a preview (and in runs stored before it was recorded).
        sha: Option<CommitSha>,
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
    pub fn sha(&self) -> Option<&CommitSha> {
        match self {
            Subject::PullRequest { head_sha: sha, .. }
            | Subject::Issue { sha, .. }
            | Subject::Release { sha, .. } => sha.as_ref(),
            Subject::Ref { sha, .. } => Some(sha),
        }
    }

    /// A short slug for names: `pr42`, `issue7`, `main`, `v1.2.0` (a run's name makes it a
    /// DNS label: `v1-2-0`).
    pub fn slug(&self) -> String {
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
/// Commands the service carries out itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Cancel the runs of this issue or pull request (`stop`) recorded before
    /// `asked_at` (when the comment was written) and [`STOP_REACH`].
    Stop {
        number: u64,
        requested_by: Login,
        asked_at: Option<Timestamp>,
    },
    /// Run the last run of this pull request or issue again, if `may` lets it.
    Retry {
        number: u64,
        requested_by: Login,
        may: Again,
    },
    /// Run the run a check run of ours reports again (GitHub's "Re-run" button): `run`
    /// is the check run's `external_id`, the name of the run; if `may` lets it.
    Rerun {
        run: RunName,
        requested_by: Login,
        may: Again,
    },
    /// Answer with the runs of this pull request or issue.
    Status { number: u64 },
    /// Approve a fork pull request at a head commit (given, or the current head).
    Approve {
        number: u64,
        sha: Option<String>,
        approved_by: Login,
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
                ..
            } => {
                write!(
                    f,
                    "run the last run of #{number} again (asked by @{requested_by})"
                )
            }
            Control::Rerun {
                run, requested_by, ..
            } => {
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
pub(super) struct AgentFilters {
    pub(super) pr_branches: Option<GlobSet>,
    pub(super) pr_paths: Option<GlobSet>,
    pub(super) pr_paths_ignore: Option<GlobSet>,
    pub(super) push_branches: Vec<GlobMatcher>,
    pub(super) push_tags: Vec<GlobMatcher>,
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
        self.agents_in(event.repository.as_ref().map(|r| r.full_name.as_str()))
    }

    /// [`Self::agents_for`] a repository (`None`: an event without one).
    fn agents_in<'p>(
        &'p self,
        repository: Option<&'p str>,
    ) -> impl Iterator<Item = (&'p Agent, &'p AgentFilters)> + 'p {
        self.config
            .agents
            .iter()
            .zip(&self.filters)
            .filter(move |(agent, _)| match repository {
                Some(repository) => agent.scope().admits(repository),
                None => agent.scope().is_every(),
            })
    }

    /// The one loop over agents, for every trigger: each agent of `repository` is asked
    /// `verdict` (the trigger file's filters), in the config's order.
    fn hear<'p>(
        &'p self,
        repository: Option<&'p str>,
        mut verdict: impl FnMut(&'p Agent, &'p AgentFilters) -> Hears,
    ) -> Heard<'p> {
        let mut heard = Heard {
            listening: false,
            verdicts: Vec::new(),
        };
        for (agent, filters) in self.agents_in(repository) {
            match verdict(agent, filters) {
                Hears::NotListening => continue,
                Hears::Skip(reason) => heard.verdicts.push((agent, Err(reason))),
                Hears::Start => heard.verdicts.push((agent, Ok(()))),
            }
            heard.listening = true;
        }
        heard
    }

    /// The verbs of their own (not a built-in one such as `run` or `review`) that the agents
    /// of `event`'s repository answer to, sorted.
    fn custom_verbs(&self, event: &WebhookEvent) -> Vec<String> {
        let mut verbs: Vec<String> = self
            .agents_for(event)
            .filter_map(|(a, _)| a.triggers.comment.as_ref())
            .flat_map(|c| c.verbs.iter().map(|v| v.as_str().to_string()))
            .filter(|v| BuiltinVerb::from_name(v).is_none())
            .collect();
        verbs.sort();
        verbs.dedup();
        verbs
    }

    /// The help text for `event`'s repository, asked on a `target` (a pull request or an
    /// issue): the verbs that work there. A verb that starts agents is listed when one of
    /// the repository's agents answers it on that target, `approve` on a pull request only;
    /// the service's own verbs always (new-user review 13b, N15: before, `review` and
    /// `approve` were listed on an issue, where they are answered "no agent answers"). A
    /// last line names the verbs that work only on the other kind of thread ("On a pull
    /// request, also: `/agent approve [sha]`"), so that the help asked on an issue says
    /// which need a pull request (13c, N15).
    pub fn help(&self, event: &WebhookEvent, target: CommentTarget) -> String {
        self.help_here(event, target, RepositorySays::Unread)
    }

    /// [`Self::help`], with what the repository's own file `says`: the agents it turns off
    /// are not listed, and a file that does not read is named (no agent starts there).
    fn help_here(
        &self,
        event: &WebhookEvent,
        target: CommentTarget,
        says: RepositorySays<'_>,
    ) -> String {
        let prefix = &self.config.github.command_prefix;
        let (builtin, custom) = self.verbs_at(event, target, says);
        let mut help = help_text(prefix, &builtin, &custom);
        let other = match target {
            CommentTarget::Issue => CommentTarget::PullRequest,
            CommentTarget::PullRequest => CommentTarget::Issue,
        };
        let (their_builtin, their_custom) = self.verbs_at(event, other, says);
        let only_there: Vec<String> = their_builtin
            .iter()
            .filter(|v| !builtin.contains(v))
            .map(|v| v.usage().to_string())
            .chain(
                their_custom
                    .iter()
                    .filter(|(v, _)| !custom.iter().any(|(here, _)| here == v))
                    .map(|(v, _)| format!("{v} [args]")),
            )
            .map(|usage| format!("`{prefix} {usage}`"))
            .collect();
        if !only_there.is_empty() {
            let there = match other {
                CommentTarget::PullRequest => "On a pull request",
                CommentTarget::Issue => "On an issue",
            };
            help.push_str(&format!("\n{there}, also: {}.\n", only_there.join(", ")));
        }
        match (says, &self.config.repository_config) {
            (RepositorySays::Broken(problem), Some(wanted)) => format!(
                "{help}\n\n{}",
                SkipReason::RepositoryFileBroken {
                    path: wanted.path.clone(),
                    problem: problem.to_string(),
                }
            ),
            _ => help,
        }
    }

    /// The built-in verbs (in the help's order) and the verbs of services.yaml (with what
    /// they start) that work on a `target` of `event`'s repository, as far as its own file
    /// `says`.
    fn verbs_at(
        &self,
        event: &WebhookEvent,
        target: CommentTarget,
        says: RepositorySays<'_>,
    ) -> (Vec<BuiltinVerb>, Vec<(String, String)>) {
        let here = |a: &Agent| match says {
            RepositorySays::Read(file) => file.say(&a.name) != crate::config::Say::Off,
            RepositorySays::Broken(_) => false,
            RepositorySays::Unread
            | RepositorySays::NotAsked
            | RepositorySays::Absent
            | RepositorySays::Unanswered => true,
        };
        let answered = |verb: &str| -> Vec<&Agent> {
            self.agents_for(event)
                .map(|(a, _)| a)
                .filter(|a| here(a))
                .filter(|a| matches!(comment::verdict(a, target, verb), Hears::Start))
                .collect()
        };
        let builtin: Vec<BuiltinVerb> = BuiltinVerb::ALL
            .into_iter()
            .filter(|verb| match verb {
                BuiltinVerb::Approve => target == CommentTarget::PullRequest,
                verb if verb.starts_agents() => !answered(verb.name()).is_empty(),
                _ => true,
            })
            .collect();
        let custom: Vec<(String, String)> = self
            .custom_verbs(event)
            .into_iter()
            .filter_map(|verb| {
                let agents: Vec<&str> = answered(&verb)
                    .into_iter()
                    .map(|a| a.description.as_deref().unwrap_or(a.name.as_str()))
                    .collect();
                let starts = format!("starts {}", agents.join(", "));
                (!agents.is_empty()).then_some((verb, starts))
            })
            .collect();
        (builtin, custom)
    }

    /// Decides what one delivery asks for: the trigger's file decides, then who may start
    /// what and the exact commits are judged once, for every trigger.
    pub fn plan(
        &self,
        event: &WebhookEvent,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        if let Some(own) = self.own_sender(event.sender.as_ref(), facts) {
            return vec![Decision::ignore(own)];
        }
        let planned = match &event.event {
            Event::Ping(_) => Planned::decided(vec![Decision::ignore(IgnoreReason::Ping)]),
            Event::PullRequest(e) => self.plan_pull_request(event, e, delivery, facts),
            Event::IssueComment(e) => self.plan_comment(event, e, delivery, facts),
            Event::Issues(e) => self.plan_issues(event, e, delivery),
            Event::Push(e) => self.plan_push(event, e, delivery),
            Event::Release(e) => self.plan_release(event, e, delivery, facts),
            Event::CheckRun(e) => self.plan_check_run(event, e, facts),
            Event::CheckSuite(e) => Self::plan_check_suite(e),
            Event::Other { name, action } => {
                Planned::decided(vec![Decision::ignore(IgnoreReason::StartsNothing {
                    name: name.clone(),
                    action: action.clone(),
                })])
            }
        };
        self.judge(event, planned, facts)
    }

    /// The checks every trigger shares, once: a fork's code runs only as the fork policy
    /// lets it; the launches stand only if whoever asked may start them; each at an exact
    /// commit.
    fn judge(
        &self,
        event: &WebhookEvent,
        planned: Planned<'_>,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let planned = Planned {
            decisions: self.narrow(event, planned.decisions, facts.repository),
            ..planned
        };
        let decisions = match &planned.fork {
            Some(fork) => self.fork_policy(planned.decisions, fork, facts),
            None => planned.decisions,
        };
        let out = match planned.asked_by {
            Some(asked) => self.gate(decisions, asked.who, asked.association, facts, asked.kind),
            None => decisions,
        };
        pin::pin(event, out, facts)
    }

    /// Why nothing is done when the sender is the service itself: what it or its runs'
    /// tokens cause starts nothing.
    fn own_sender(&self, sender: Option<&User>, facts: &Facts<'_>) -> Option<IgnoreReason> {
        match (facts.own_login, sender) {
            (Some(own), Some(sender)) if sender.login.is(own) => {
                Some(IgnoreReason::OwnSender { own: own.into() })
            }
            _ => None,
        }
    }

    // One constructor for every kind of launch; the arguments are each a different fact.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        agent: &Agent,
        delivery: Option<RunKey<'_>>,
        discriminator: &str,
        trigger: Trigger,
        subject: Subject,
        requested_by: &Login,
        task: Option<String>,
    ) -> Decision {
        Decision::Launch(Launch {
            agent: agent.name.clone(),
            run_name: run_name(&agent.name, &subject, delivery, discriminator),
            trigger,
            task,
            requested_by: requested_by.clone(),
            subject,
            by_outsider: false,
        })
    }
}

/// What a trigger's file says of one agent for one event.
pub(super) enum Hears {
    /// The agent has no trigger for this (or does not answer this verb): not asked.
    NotListening,
    /// It listens, and its filters say why it does not start.
    Skip(SkipReason),
    /// It listens, and its filters match.
    Start,
}

/// What the agents of an event's repository said, in the config's order.
pub(super) struct Heard<'p> {
    /// Some agent listens to the event.
    listening: bool,
    /// Each listening agent: `Ok` when it starts, else why not.
    verdicts: Vec<(&'p Agent, Result<(), SkipReason>)>,
}

impl<'p> Heard<'p> {
    /// The agents that start.
    fn matched(&self) -> Vec<&'p Agent> {
        self.verdicts
            .iter()
            .filter(|(_, v)| v.is_ok())
            .map(|(agent, _)| *agent)
            .collect()
    }

    /// A skip for each agent that does not start.
    fn skips(&self) -> Vec<Decision> {
        self.verdicts
            .iter()
            .filter_map(|(agent, v)| v.as_ref().err().map(|r| Decision::skip(agent, r.clone())))
            .collect()
    }

    /// Each listening agent in the config's order: its launch (`launch`), or its skip.
    fn in_order(&self, mut launch: impl FnMut(&'p Agent) -> Decision) -> Vec<Decision> {
        self.verdicts
            .iter()
            .map(|(agent, v)| match v {
                Ok(()) => launch(agent),
                Err(reason) => Decision::skip(agent, reason.clone()),
            })
            .collect()
    }
}

/// A trigger file's decisions, and whose permission the launches among them need: judged
/// once, for every trigger, in [`Planner::plan`].
pub(super) struct Planned<'e> {
    decisions: Vec<Decision>,
    /// `None`: no permission to judge: no launch, or a fork's code, which the fork policy
    /// judges.
    asked_by: Option<AskedBy<'e>>,
    /// The launches would run a fork pull request's code: the fork policy judges them.
    fork: Option<ForkCode<'e>>,
}

impl<'e> Planned<'e> {
    /// Decided already: nothing to judge.
    fn decided(decisions: Vec<Decision>) -> Self {
        Planned {
            decisions,
            asked_by: None,
            fork: None,
        }
    }

    /// The same launches, which would run `fork`'s code.
    fn running(mut self, fork: ForkCode<'e>) -> Self {
        self.fork = Some(fork);
        self
    }

    /// Launches that stand only if `who` may start them by `kind`.
    fn asked_by(
        decisions: Vec<Decision>,
        who: Requester<'e>,
        association: Option<&'e AuthorAssociation>,
        kind: TriggerKind,
    ) -> Self {
        Planned {
            decisions,
            asked_by: Some(AskedBy {
                who,
                association,
                kind,
            }),
            fork: None,
        }
    }
}

/// A fork pull request's code, which a delivery's launches would run (see
/// `Planner::fork_policy`).
pub(super) struct ForkCode<'e> {
    number: u64,
    /// The head commit that would run (a comment's pull request is the facts', not the
    /// event's: owned).
    head: CommitSha,
    /// Who is told when it may not.
    told: &'e str,
    /// The pull request's author, when the code is theirs alone (their own fork, and they
    /// caused the event): an author the repository trusts for every agent needs no
    /// approval. `None`: it meets the fork policy whoever asked.
    author: Option<(Requester<'e>, &'e AuthorAssociation)>,
    /// Whose permission a trigger's own `min_permission` above the global one holds to
    /// under `fork_pull_requests: always` (which waives the global one for a fork): the
    /// pull request's author on a `pull_request` event, the approver on an approval.
    /// `None` on a command, whose commenter the command's own trigger holds.
    owner: Option<(Requester<'e>, &'e AuthorAssociation)>,
}

/// Who asked for the launches of a delivery: their login, what the payload says of them
/// (when it says anything), and by which trigger.
pub(super) struct AskedBy<'e> {
    who: Requester<'e>,
    association: Option<&'e AuthorAssociation>,
    kind: TriggerKind,
}

/// Which trigger of an agent a launch comes from (each may set its own `min_permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TriggerKind {
    PullRequest,
    Issues,
    Comment,
    Push,
    Release,
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

/// Why an event's `action` starts no agent whose trigger lists `wanted` (services.yaml's
/// actions, each naming one of GitHub's), if it starts none.
fn action_not_listed<A, W>(event: &'static str, action: &A, wanted: &[W]) -> Option<SkipReason>
where
    A: GithubAction,
    W: Copy + Into<A> + Into<&'static str>,
{
    if wanted.iter().any(|&w| Into::<A>::into(w) == *action) {
        return None;
    }
    Some(SkipReason::ActionNotListed {
        event,
        action: action.as_str().to_owned(),
        wanted: wanted
            .iter()
            .map(|&w| Into::<&'static str>::into(w).to_owned())
            .collect(),
    })
}

/// An event's action as GitHub sends it (`github::event`'s), which services.yaml's name.
trait GithubAction: PartialEq {
    fn as_str(&self) -> &str;
}

/// Each action services.yaml may list (`config`'s) is GitHub's of that name: one match
/// each, no catch-all, so an action added to services.yaml's lists names one of GitHub's
/// or does not compile; the planner compares them as these types, not as their spelling.
macro_rules! config_actions_are_githubs {
    ($($action:ident { $($variant:ident),* $(,)? })*) => {$(
        impl GithubAction for $action {
            fn as_str(&self) -> &str {
                $action::as_str(self)
            }
        }
        impl From<crate::config::$action> for $action {
            fn from(named: crate::config::$action) -> $action {
                match named {
                    $(crate::config::$action::$variant => $action::$variant,)*
                }
            }
        }
        impl From<crate::config::$action> for &'static str {
            fn from(named: crate::config::$action) -> &'static str {
                named.as_str()
            }
        }
    )*};
}

config_actions_are_githubs! {
    PullRequestAction {
        Opened,
        Synchronize,
        Reopened,
        ReadyForReview,
        Labeled,
        Edited,
        Closed,
    }
    IssuesAction { Opened, Labeled, Edited, Reopened }
    ReleaseAction { Published, Created, Released, Prereleased }
}

/// The decisions so far, closed by a refusal; a deferral replaces them all (the whole
/// delivery is decided again when it comes back).
fn ending_with(mut out: Vec<Decision>, last: Decision) -> Vec<Decision> {
    if matches!(last, Decision::Defer(_)) {
        return vec![last];
    }
    out.push(last);
    out
}

fn login<'a>(sender: Option<&'a User>, fallback: &'a User) -> &'a Login {
    &sender.unwrap_or(fallback).login
}

/// The sender, or `fallback` where the payload names none.
fn acting<'a>(sender: Option<&'a User>, fallback: &'a User) -> Requester<'a> {
    Requester::from(sender.unwrap_or(fallback))
}

/// The sender, where the payload names one (else nobody: an empty login, no id).
fn sender_of(event: &WebhookEvent) -> Requester<'_> {
    event.sender.as_ref().map_or(
        Requester {
            login: "",
            id: None,
        },
        Requester::from,
    )
}

/// A run's name: `<agent>-<subject>-<hash>`, a DNS label of at most 63 characters. The hash
/// covers the delivery (the service passes its signed body's SHA-256,
/// `DeliveryId::run_key`, so a replay under a new id is the same delivery), the agent and
/// what tells two commands of one comment apart, so the same delivery always yields the
/// same name.
pub fn run_name(
    agent: &AgentName,
    subject: &Subject,
    key: Option<RunKey<'_>>,
    discriminator: &str,
) -> RunName {
    let agent = agent.as_str();
    RunName::made(
        &format!("{agent}-{}", subject.slug()),
        &[key.map_or("", |key| key.0), agent, discriminator],
    )
}

/// What a delivery's runs are named after: its signed body's SHA-256
/// (`DeliveryId::run_key`), so a replay under a new id names the same runs. The planner
/// puts it into run names only; a plan made without one (`None`: to learn what the
/// delivery asks, before the body is hashed or when nothing will be launched) decides the
/// same, its launches' names standing for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunKey<'a>(&'a str);

impl<'a> RunKey<'a> {
    pub const fn new(key: &'a str) -> RunKey<'a> {
        RunKey(key)
    }

    /// `delivery`'s, its body hashed now if it was not yet.
    pub fn of(delivery: &'a DeliveryId) -> RunKey<'a> {
        RunKey(delivery.run_key())
    }

    /// `delivery`'s if it is had without hashing the body.
    pub fn if_hashed(delivery: &'a DeliveryId) -> Option<RunKey<'a>> {
        delivery.run_key_if_hashed().map(RunKey)
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Facts;
    use super::table::{event, outcome, scoped_planner};

    /// A run done again is named and described in the plan's words, as every run is: its
    /// subject's slug (a tag's run is `image-v1-2-0-…`, not `image-run-…`), hashed with the
    /// delivery that asked and whether it was a retry or a Re-run.
    #[test]
    fn a_run_done_again_is_named_by_its_subject_and_described_by_what_asked() {
        use super::{AgainBy, Launch, RunKey, Subject, Trigger};
        let launch = |subject| Launch {
            agent: "image".parse().expect("an agent"),
            run_name: crate::names::RunName::or_made("first"),
            trigger: Trigger::Push,
            task: None,
            requested_by: "octocat".into(),
            subject,
            by_outsider: false,
        };
        let tag = launch(Subject::Release {
            tag: "v1.2.0".into(),
            sha: None,
        });
        let pr = launch(Subject::PullRequest {
            number: 2,
            head_sha: None,
        });
        let key = RunKey::new("sha256:again");
        let rerun = AgainBy::Rerun.run_name(&tag, key);
        assert!(rerun.as_str().starts_with("image-v1-2-0-"), "{rerun}");
        let retry = AgainBy::Retry.run_name(&pr, key);
        assert!(retry.as_str().starts_with("image-pr2-"), "{retry}");
        assert_ne!(AgainBy::Retry.run_name(&tag, key), rerun);
        assert_eq!(AgainBy::Rerun.run_name(&tag, key), rerun, "stable");
        assert_eq!(AgainBy::Retry.describe(), "comment:retry");
        assert_eq!(AgainBy::Rerun.describe(), "check_run:rerequested");
    }

    /// An agent limited to some repositories starts, by every trigger, only for them; a
    /// command naming it elsewhere is answered as for a verb nobody there answers to.
    #[test]
    fn agents_start_only_for_the_repositories_they_are_for() {
        let planner = scoped_planner();
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
                "reply: unknown command `docs`; `/agent help` lists the commands",
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
            let decisions = planner.plan(
                &event(file, repository, *body),
                Some(crate::plan::RunKey::new("d-1")),
                &Facts::default(),
            );
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
        let planner = scoped_planner();
        let comment = "variants/issue_comment/run-on-pull-request.json";
        let help = |repository: &str| {
            planner.help(
                &event(comment, repository, Some("/agent help")),
                crate::config::CommentTarget::PullRequest,
            )
        };
        let (a, b) = (help("acme/a"), help("acme/b"));
        assert!(a.contains("docs"), "{a}");
        assert!(!b.contains("docs"), "{b}");
        assert!(!b.contains("acme-docs"), "{b}");
    }

    /// Every built-in verb is one row of `builtin_verbs!` (review 12v, R25): its usage
    /// line, with a word for each argument it needs and none for an optional one, parses
    /// as that verb, and `/agent help` on a pull request whose agents answer `run` and
    /// `review` lists it by that usage line.
    #[test]
    fn every_built_in_verb_parses_from_its_usage_line_and_is_in_help() {
        use crate::github::command::{BuiltinVerb, CommandParser};
        let planner = scoped_planner();
        let help = planner.help(
            &event(
                "variants/issue_comment/run-on-pull-request.json",
                "acme/a",
                Some("/agent help"),
            ),
            crate::config::CommentTarget::PullRequest,
        );
        for verb in BuiltinVerb::ALL {
            let line: Vec<&str> = verb
                .usage()
                .split(' ')
                .filter(|word| !word.starts_with('['))
                .map(|word| if word.starts_with('<') { "word" } else { word })
                .collect();
            let line = format!("/agent {}", line.join(" "));
            let parsed = CommandParser::new("/agent", &[]).parse(&line);
            let command = match parsed.commands.as_slice() {
                [one] => one.result.clone(),
                other => panic!("{line}: {other:?}"),
            };
            assert_eq!(
                command.as_ref().ok().and_then(|c| c.builtin()),
                Some(verb),
                "{line}: {command:?}"
            );
            let listed = format!("`/agent {}`", verb.usage());
            assert!(help.contains(&listed), "{listed} not in help:\n{help}");
        }
    }

    /// What `plan` itself decides for events no trigger's file takes: GitHub's ping, the
    /// events that start nothing, and whatever agentpods itself sends.
    #[test]
    fn events_no_trigger_takes_start_nothing() {
        use super::table::{Given, Row, check, row};
        const ANY: &str = "[{name: review, triggers: {pull_request: {}}}]";
        check(&[
            Row {
                story: "GitHub's ping says the webhook is set up",
                agents: ANY,
                payload: "webhooks/ping/0.json",
                expect: "ignore: Ping",
                ..row()
            },
            Row {
                story: "an event no agent can listen to starts nothing",
                agents: ANY,
                payload: "webhooks/create/0.json",
                expect: "ignore: StartsNothing",
                ..row()
            },
            Row {
                story: "what agentpods itself sends starts nothing",
                agents: ANY,
                payload: "webhooks/pull_request/opened.json",
                given: || Given {
                    own_login: Some("Codertocat"),
                    ..Given::preview()
                },
                expect: "ignore: OwnSender",
                ..row()
            },
        ]);
    }
}
