//! The typed core of a plan's outcome: why an agent is skipped, why a delivery is ignored,
//! why it waits, why a request is refused. Each English sentence is written once, in its
//! type's `Display` (or [`Refusal::message`]): logs, `render` notes, replies and tests read
//! them from here.

use crate::config::{AgentName, Permission};
use crate::github::event::{CommitSha, IssueCommentAction, Login};

/// What the bot answers a comment's command with, when it starts nothing and is no refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer<'a> {
    /// More command lines than are read.
    TooManyCommands,
    /// `approve` on an issue.
    ApproveOnIssue,
    /// No agent of the repository answers `verb` on this kind of thread.
    NoAgentAnswers {
        verb: &'a str,
        on_pull_request: bool,
    },
    /// `approve <sha>` whose SHA does not name the pull request's head.
    ApprovalNamesAnotherCommit {
        approved_by: &'a str,
        given: &'a str,
        number: u64,
        head: &'a str,
    },
    /// `approve` without a SHA, and the head is not the one seen when it was written.
    ApprovalHeadMoved {
        approved_by: &'a str,
        number: u64,
        head: &'a str,
    },
    /// An approval recorded; `not_started` names the agents it starts none of, and why.
    Approved {
        approved_by: &'a str,
        head: &'a str,
        not_started: &'a [(&'a str, &'a SkipReason)],
    },
}

impl Answer<'_> {
    /// The answer as a reply, with the commands written with `prefix`.
    pub(super) fn reply(self, prefix: &str) -> super::Decision {
        super::Decision::Reply(match self {
            Answer::TooManyCommands => format!(
                "Only the first {} commands of a comment are read.",
                crate::github::command::MAX_COMMANDS_PER_COMMENT
            ),
            Answer::ApproveOnIssue => {
                format!("`{prefix} approve` is for pull requests from forks; this is an issue.")
            }
            Answer::NoAgentAnswers {
                verb,
                on_pull_request,
            } => {
                let place = if on_pull_request {
                    "pull requests"
                } else {
                    "issues"
                };
                format!(
                    "No agent answers `{prefix} {verb}` on {place}. `{prefix} help` lists the commands."
                )
            }
            Answer::ApprovalNamesAnotherCommit {
                approved_by,
                given,
                number,
                head,
            } => format!(
                "@{approved_by}: `{given}` does not name the head of #{number}. An approval names the commit that would run, in full or by at least its first {} characters; the head is `{head}`: comment `{prefix} approve {head}` to approve it.",
                MIN_APPROVAL_SHA
            ),
            Answer::ApprovalHeadMoved {
                approved_by,
                number,
                head,
            } => format!(
                "@{approved_by}: nothing was approved. The head of #{number} is now `{head}`, which is not the head agentpods had seen when you wrote that comment (a push may have come in between), so an approval without a commit cannot name it. To approve it, comment `{prefix} approve {head}`.",
            ),
            Answer::Approved {
                approved_by,
                head,
                not_started,
            } => {
                let mut reply = format!(
                    "Approved by @{approved_by}: agents may run on this pull request at `{head}`. A new push needs a new approval."
                );
                for (agent, reason) in not_started {
                    reply.push_str(&format!(" Agent `{agent}` was not started: {reason}."));
                }
                reply
            }
        })
    }
}

/// Why an agent that listens to an event does not start for it: its filters did not match.
/// The English is here only (as logs and the `render` notes show it).
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
    /// The trigger has a `paths` filter, and the pull request's head is a fork's that may
    /// not run (the fork policy's refusal says why): its changed files are not read.
    ForkFilesUnread,
    /// A pushed branch (`tag`: a tag) matches none of the trigger's globs for it.
    PushRef { tag: bool, name: String },
    /// A prerelease, and the trigger does not set `prerelease: true`.
    Prerelease,
    /// A maintainer's `approve` of a fork pull request plans its agents again, and the
    /// approver has less than this agent's trigger needs (`min_permission`, the trigger's
    /// or the global one, whichever is higher): the approver stands in for the author, so
    /// they must meet what the author would have needed (outside review 11c, A1).
    ApproverNeeds {
        approver: Login,
        needs: Permission,
        /// What GitHub says they have.
        has: Permission,
        /// What github.authorization's lists let them start agents as, when more than
        /// `has` (review 15e, E8: before, this was told as what they have).
        allowed_as: Option<Permission>,
    },
    /// A maintainer's `approve` of a fork pull request's head approved before, by someone
    /// whose approval starts this agent already (they may start it now): it is not started
    /// again (review 15f, G2: the running run was superseded and started over).
    ApprovedBefore,
    /// A maintainer's `approve` of a fork pull request plans its agents again, and this
    /// agent's token can write (these permissions): a fork's code never gets such a token
    /// unless the operator trusts every fork (`fork_pull_requests: always`). Named in the
    /// approval's reply (outside review 11d, A9).
    ForkWithWriteToken { writes: TokenWrites },
    /// The repository's own file (`path`, services.yaml's `repository_config`) does not
    /// name the agent: it does not run there.
    OffInRepository { path: String },
    /// The repository's own file keeps the agent to its comment verbs (`events: false`).
    CommandsOnlyInRepository { path: String },
    /// The repository's own file does not read: nothing starts there (fails closed).
    RepositoryFileBroken { path: String, problem: String },
    /// The repository's own file names the agent (at `line`), and services.yaml does not
    /// give it to the repository: the name adds nothing.
    NotGivenToRepository { path: String, line: usize },
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
                "its `paths` filter needs the pull request's changed files, which are not known \
                 (preview it with `--changed-files FILE`, the files one a line, given to \
                 `render` or `serve --dry-run`)",
            ),
            SkipReason::NoPathMatches => f.write_str("no changed file matches its `paths` filter"),
            SkipReason::ForkFilesUnread => f.write_str(
                "a fork's code that may not run at this head: its `paths` filter is not \
                 judged, and the changed files are not read",
            ),
            SkipReason::PushRef { tag, name } => {
                let (what, globs) = if *tag {
                    ("tag", "tags")
                } else {
                    ("branch", "branches")
                };
                write!(
                    f,
                    "{what} `{name}` matches none of its push `{globs}` globs"
                )
            }
            SkipReason::Prerelease => {
                f.write_str("the release is a prerelease (set `prerelease: true` to run on them)")
            }
            SkipReason::ApproverNeeds {
                approver,
                needs,
                has,
                allowed_as,
            } => write!(
                f,
                "@{approver} needs `{}` permission on this repository to start it (has `{}`{})",
                needs.as_str(),
                has.as_str(),
                allowed_as.map_or(String::new(), |a| format!(
                    "; github.authorization lets them in as `{}`",
                    a.as_str()
                ))
            ),
            SkipReason::ApprovedBefore => f.write_str(
                "an approval of this head given before starts it already (to run it again: `retry`)",
            ),
            SkipReason::ForkWithWriteToken { writes } => write!(
                f,
                "its token can write ({writes}), and a fork's code could use it (agents whose token can write do not run on forks unless the operator trusts every fork: `fork_pull_requests: always`)"
            ),
            SkipReason::OffInRepository { path } => write!(
                f,
                "this repository's `{path}` does not name it, so it does not run here"
            ),
            SkipReason::CommandsOnlyInRepository { path } => write!(
                f,
                "this repository's `{path}` keeps it to its comment verbs (`events: false`)"
            ),
            SkipReason::RepositoryFileBroken { path, problem } => write!(
                f,
                "this repository's `{path}` does not read, so no agent starts here until it is fixed: {problem}"
            ),
            SkipReason::NotGivenToRepository { path, line } => write!(
                f,
                "this repository's `{path}` names it (line {line}), but services.yaml does not give it to this repository, so the name adds nothing"
            ),
        }
    }
}
/// Why a delivery starts nothing of its own before any agent is asked, or because none
/// listens: logged and counted, never replied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The sender is the service itself (its App's bot, or its token's user).
    OwnSender { own: Login },
    /// GitHub's `ping`, sent when the webhook is created.
    Ping,
    /// "Re-run all checks" on a check suite.
    CheckSuiteRerequested,
    /// An event (`name`, with its action when it has one) that never starts anything.
    StartsNothing {
        name: String,
        action: Option<String>,
    },
    /// No agent of the repository has a trigger for this kind of event.
    NobodyListens { event: &'static str },
    /// A comment edited or deleted: only new comments carry commands.
    CommentNotNew { action: IssueCommentAction },
    /// A comment by a bot.
    CommentByBot { login: Login },
    /// A comment with no `/agent` line.
    NoCommand,
    /// A push that deleted its ref.
    PushDeleted { git_ref: String },
    /// A push to a ref that is neither a branch nor a tag.
    PushNotBranchOrTag { git_ref: String },
    /// A check run's "Re-run", and the service is no GitHub App.
    RerunWithoutApp { check_run: u64, name: String },
    /// A check run's "Re-run", of a check run another App created.
    RerunOfAnotherApp { check_run: u64, name: String },
    /// A check run's "Re-run", of a check run that reports no run of ours.
    RerunOfNoRun { check_run: u64, name: String },
    /// A check run's "Re-run" with no sender.
    RerunByNobody,
    /// An `approve` of pull request `number` in a preview, which does not ask GitHub for
    /// the head an approval is judged against.
    ApprovalInPreview { number: u64 },
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::OwnSender { own } => write!(
                f,
                "sent by agentpods itself (@{own}): nothing it or its runs do starts an agent"
            ),
            IgnoreReason::Ping => f.write_str("ping: the webhook is set up"),
            IgnoreReason::CheckSuiteRerequested => f.write_str(
                "`check_suite.rerequested` (\"Re-run all checks\") starts nothing: press \"Re-run\" on the check run of the run to repeat",
            ),
            IgnoreReason::StartsNothing { name, action } => match action {
                Some(a) => write!(f, "`{name}.{a}` events start nothing"),
                None => write!(f, "`{name}` events start nothing"),
            },
            IgnoreReason::NobodyListens { event } => {
                write!(f, "no agent listens to {event} events")
            }
            IgnoreReason::CommentNotNew { action } => {
                write!(f, "comment {action}: only new comments carry commands")
            }
            IgnoreReason::CommentByBot { login } => {
                write!(f, "comment by the bot {login}: bots cannot start agents")
            }
            IgnoreReason::NoCommand => f.write_str("the comment holds no command"),
            IgnoreReason::PushDeleted { git_ref } => write!(f, "push deleted `{git_ref}`"),
            IgnoreReason::PushNotBranchOrTag { git_ref } => write!(
                f,
                "push to `{git_ref}`, which is neither a branch nor a tag"
            ),
            IgnoreReason::RerunWithoutApp { check_run, name } => write!(
                f,
                "check run {check_run} ({name}): only check runs of agentpods' own GitHub App can be re-run, and it has no App credentials here"
            ),
            IgnoreReason::RerunOfAnotherApp { check_run, name } => write!(
                f,
                "check run {check_run} ({name}) was not created by this GitHub App: its Re-run is not ours to answer"
            ),
            IgnoreReason::RerunOfNoRun { check_run, name } => write!(
                f,
                "check run {check_run} ({name}) reports no run of agentpods (no run name in its external_id)"
            ),
            IgnoreReason::RerunByNobody => f.write_str("a Re-run nobody pressed"),
            IgnoreReason::ApprovalInPreview { number } => write!(
                f,
                "`approve` of #{number} is judged against the pull request's head as GitHub has it now, which a preview does not ask: nothing is approved here; approve on the running service"
            ),
        }
    }
}

/// Why a delivery waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferral {
    /// GitHub did not say what permission this person has.
    PermissionUnanswered { login: Login },
    /// GitHub did not say what the pull request's head is (or whether it is a fork), so
    /// there is no exact commit to run and no fork policy to apply.
    PullRequestUnknown { number: u64 },
    /// The service's approval records could not be read, so whether this fork pull
    /// request's head is approved is unknown.
    ApprovalsUnknown { number: u64 },
    /// GitHub did not say which commit `git_ref` (`refs/heads/main`, `refs/tags/v1`) is,
    /// so there is no exact commit to run at.
    CommitUnknown { git_ref: String },
    /// GitHub did not say what permission this person, who approved the fork pull
    /// request's head, has now: their approval is relied on only as far as their
    /// permission now reaches (outside review 11d, A1).
    ApproverPermissionUnanswered { login: Login },
    /// GitHub did not say what the repository's own file (`path`, on its default branch)
    /// says, so which of its agents run there is unknown.
    RepositoryFileUnknown { path: String },
    /// The approval records of pull request `number` were not yet read: which head the
    /// service had seen when an `approve` without a SHA was written (the head it approves),
    /// and the approvals given before (what they start already, an `approve` does not).
    HeadAtCommentUnknown { number: u64 },
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
            Deferral::ApproverPermissionUnanswered { login } => write!(
                f,
                "GitHub did not answer what permission @{login}, who approved this pull request's head, has now; decided when it does"
            ),
            Deferral::RepositoryFileUnknown { path } => write!(
                f,
                "GitHub did not answer what this repository's `{path}` on its default branch says; decided when it does"
            ),
            Deferral::HeadAtCommentUnknown { number } => write!(
                f,
                "the approval records of pull request #{number} (the approvals given before, and which head the approval saw) are not yet read; decided when they are"
            ),
        }
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub login: Login,
    pub reason: RefusalReason,
}

/// The permissions an agent's token is given `write` of (`contents`, `pull_requests`), in
/// services.yaml's order: why a fork's code may not have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenWrites(pub Vec<String>);

impl std::fmt::Display for TokenWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// The requester's permission is below the configured minimum.
    NotAuthorized {
        /// What GitHub says they have (or the payload's association does: `inferred`).
        has: Permission,
        needs: Permission,
        inferred: bool,
        /// What github.authorization's lists let them start agents as, when more than
        /// `has` (review 15e, E8).
        allowed_as: Option<Permission>,
    },
    /// A fork pull request that needs a maintainer's `approve` for this head commit.
    ForkNeedsApproval { head_sha: CommitSha },
    /// A fork pull request whose head was approved, but by nobody who has, now, what
    /// `agent` needs (the higher of its `pull_request` trigger's `min_permission` and the
    /// global one): `approver` is the best of them, with what they have now (outside
    /// review 11d, A1). Told when no agent runs.
    ForkApproverNeeds {
        head_sha: CommitSha,
        agent: AgentName,
        approver: Login,
        needs: Permission,
        has: Permission,
    },
    /// Fork pull requests never run.
    ForksNeverRun,
    /// A fork's run done again names no exact commit, so no approval can stand for it.
    ForkHeadUnknown,
    /// The agent's token can write (these permissions), and the code would be a fork's.
    ForkWithWriteToken {
        agent: AgentName,
        writes: TokenWrites,
    },
    /// The service has no GitHub credentials to ask anyone's permission with, and runs are
    /// real: only `allowed_users` may start agents.
    PermissionUnavailable,
    /// The ref a run would check out does not exist on GitHub (a draft release's tag, a
    /// repository without commits): there is no commit to run at.
    RefMissing { git_ref: String },
    /// The ref holds `#`, which git allows but git build contexts
    /// (`repository#ref#commit`) read as a separator: it could name another commit.
    HashInRef { git_ref: String },
    /// A run of `agent` done again, which the repository's own file on its default branch
    /// `branch` keeps from running (`reason`: it does not name it, or does not read), as it
    /// keeps a new event's launch.
    OwnFile {
        agent: AgentName,
        /// Boxed: a refusal stays small.
        reason: Box<SkipReason>,
        branch: String,
    },
}

impl Refusal {
    /// The reply posted to GitHub.
    pub fn message(&self, prefix: &str) -> String {
        match &self.reason {
            RefusalReason::NotAuthorized {
                has,
                needs,
                inferred,
                allowed_as,
            } => format!(
                "@{} you need `{}` permission on this repository to start agents (you have `{}`{}{}).",
                self.login,
                needs.as_str(),
                has.as_str(),
                if *inferred { ", judging by your association with the repository" } else { "" },
                allowed_as.map_or(String::new(), |a| format!(
                    "; github.authorization lets you in as `{}`",
                    a.as_str()
                ))
            ),
            RefusalReason::ForkNeedsApproval { head_sha } => format!(
                "This pull request comes from a fork, so agents run on it only at a commit a maintainer has approved. To run them at the current head, a maintainer comments `{prefix} approve {head_sha}`."
            ),
            RefusalReason::ForkApproverNeeds {
                head_sha,
                agent,
                approver,
                needs,
                has,
            } => format!(
                "This pull request comes from a fork, so agents run on it only at a commit approved by someone who may start them. @{approver} approved `{head_sha}` and has `{}` permission now; agent `{agent}` needs `{}`. To run it, someone with `{}` permission comments `{prefix} approve {head_sha}`.",
                has.as_str(),
                needs.as_str(),
                needs.as_str()
            ),
            RefusalReason::ForkWithWriteToken { agent, writes } => format!(
                "Agent `{agent}` was not started for @{}: its token can write ({writes}), and this pull request's code comes from a fork, which could use that token. Agents whose token can write do not run on forks (unless the operator trusts every fork: `fork_pull_requests: always`).",
                self.login
            ),
            RefusalReason::ForkHeadUnknown => format!(
                "Nothing was run again for @{}: this run of a fork's code names no exact commit, so no approval can stand for it. A maintainer approves the pull request's head (`{prefix} approve <sha>`), which starts its agents there.",
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
            RefusalReason::OwnFile {
                agent,
                reason,
                branch,
            } => format!(
                "Running it again does not start agent `{agent}` here: {reason} {}",
                where_it_counts(branch)
            ),
            RefusalReason::PermissionUnavailable => format!(
                "@{} agentpods cannot ask GitHub about your permission on this repository (it has no GitHub credentials), so only the users its operator lists in `allowed_users` may start agents.",
                self.login
            ),
        }
    }
}

/// The fewest leading hex characters of a commit SHA that an approval may give: short
/// prefixes are too easy to collide with on purpose. `approval.rs` holds an approval to it;
/// the reply to a shorter one says it.
pub(super) const MIN_APPROVAL_SHA: usize = 12;

/// Which file counts, for a reply: the one on the default branch `branch`. The branch's
/// name is the repository admin's words (attacker review 15a, A1): in a code span nothing
/// of it closes.
pub(super) fn where_it_counts(branch: &str) -> String {
    format!(
        "(the file on {}, the repository's default branch, counts: a change to it counts once \
         merged there)",
        crate::github::command::code(branch)
    )
}

#[cfg(test)]
mod tests {
    use super::{IgnoreReason, IssueCommentAction, SkipReason};
    use crate::config::Permission;

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
                "its `paths` filter needs the pull request's changed files, which are not known \
                 (preview it with `--changed-files FILE`, the files one a line, given to \
                 `render` or `serve --dry-run`)",
            ),
            (
                SkipReason::NoPathMatches,
                "no changed file matches its `paths` filter",
            ),
            (
                SkipReason::ForkFilesUnread,
                "a fork's code that may not run at this head: its `paths` filter is not \
                 judged, and the changed files are not read",
            ),
            (
                SkipReason::PushRef {
                    tag: false,
                    name: "feature/x".into(),
                },
                "branch `feature/x` matches none of its push `branches` globs",
            ),
            (
                SkipReason::PushRef {
                    tag: true,
                    name: "v1.0".into(),
                },
                "tag `v1.0` matches none of its push `tags` globs",
            ),
            (
                SkipReason::Prerelease,
                "the release is a prerelease (set `prerelease: true` to run on them)",
            ),
            (
                SkipReason::ApproverNeeds {
                    approver: "writer1".into(),
                    needs: Permission::Admin,
                    has: Permission::Write,
                    allowed_as: None,
                },
                "@writer1 needs `admin` permission on this repository to start it (has `write`)",
            ),
            (
                SkipReason::ForkWithWriteToken {
                    writes: super::TokenWrites(vec!["workflows".into()]),
                },
                "its token can write (workflows), and a fork's code could use it (agents whose token can write do not run on forks unless the operator trusts every fork: `fork_pull_requests: always`)",
            ),
            (
                SkipReason::OffInRepository {
                    path: ".agentpods.yaml".into(),
                },
                "this repository's `.agentpods.yaml` does not name it, so it does not run here",
            ),
            (
                SkipReason::CommandsOnlyInRepository {
                    path: ".agentpods.yaml".into(),
                },
                "this repository's `.agentpods.yaml` keeps it to its comment verbs (`events: false`)",
            ),
            (
                SkipReason::RepositoryFileBroken {
                    path: ".agentpods.yaml".into(),
                    problem: ".agentpods.yaml:1:1: the file is empty".into(),
                },
                "this repository's `.agentpods.yaml` does not read, so no agent starts here until it is fixed: .agentpods.yaml:1:1: the file is empty",
            ),
            (
                SkipReason::ApprovedBefore,
                "an approval of this head given before starts it already (to run it again: `retry`)",
            ),
            (
                SkipReason::NotGivenToRepository {
                    path: ".agentpods.yaml".into(),
                    line: 2,
                },
                "this repository's `.agentpods.yaml` names it (line 2), but services.yaml does not give it to this repository, so the name adds nothing",
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
                | SkipReason::ForkFilesUnread
                | SkipReason::PushRef { .. }
                | SkipReason::Prerelease
                | SkipReason::ApproverNeeds { .. }
                | SkipReason::ApprovedBefore
                | SkipReason::ForkWithWriteToken { .. }
                | SkipReason::OffInRepository { .. }
                | SkipReason::CommandsOnlyInRepository { .. }
                | SkipReason::RepositoryFileBroken { .. }
                | SkipReason::NotGivenToRepository { .. } => {}
            }
        }
    }

    /// Every reason to ignore a delivery, in the words logs and answers have always read.
    #[test]
    fn every_ignore_reason_reads_as_it_always_has() {
        let rerun = |name: &str| (4, name.to_string());
        let table = [
            (
                IgnoreReason::OwnSender {
                    own: "agentpods[bot]".into(),
                },
                "sent by agentpods itself (@agentpods[bot]): nothing it or its runs do starts an agent",
            ),
            (IgnoreReason::Ping, "ping: the webhook is set up"),
            (
                IgnoreReason::CheckSuiteRerequested,
                "`check_suite.rerequested` (\"Re-run all checks\") starts nothing: press \"Re-run\" on the check run of the run to repeat",
            ),
            (
                IgnoreReason::StartsNothing {
                    name: "check_run".into(),
                    action: Some("completed".into()),
                },
                "`check_run.completed` events start nothing",
            ),
            (
                IgnoreReason::StartsNothing {
                    name: "create".into(),
                    action: None,
                },
                "`create` events start nothing",
            ),
            (
                IgnoreReason::NobodyListens {
                    event: "pull_request",
                },
                "no agent listens to pull_request events",
            ),
            (
                IgnoreReason::CommentNotNew {
                    action: IssueCommentAction::Edited,
                },
                "comment edited: only new comments carry commands",
            ),
            (
                IgnoreReason::CommentByBot {
                    login: "renovate[bot]".into(),
                },
                "comment by the bot renovate[bot]: bots cannot start agents",
            ),
            (IgnoreReason::NoCommand, "the comment holds no command"),
            (
                IgnoreReason::PushDeleted {
                    git_ref: "refs/tags/v1".into(),
                },
                "push deleted `refs/tags/v1`",
            ),
            (
                IgnoreReason::PushNotBranchOrTag {
                    git_ref: "refs/notes/x".into(),
                },
                "push to `refs/notes/x`, which is neither a branch nor a tag",
            ),
            (
                {
                    let (check_run, name) = rerun("randscape");
                    IgnoreReason::RerunWithoutApp { check_run, name }
                },
                "check run 4 (randscape): only check runs of agentpods' own GitHub App can be re-run, and it has no App credentials here",
            ),
            (
                {
                    let (check_run, name) = rerun("randscape");
                    IgnoreReason::RerunOfAnotherApp { check_run, name }
                },
                "check run 4 (randscape) was not created by this GitHub App: its Re-run is not ours to answer",
            ),
            (
                {
                    let (check_run, name) = rerun("randscape");
                    IgnoreReason::RerunOfNoRun { check_run, name }
                },
                "check run 4 (randscape) reports no run of agentpods (no run name in its external_id)",
            ),
            (IgnoreReason::RerunByNobody, "a Re-run nobody pressed"),
            (
                IgnoreReason::ApprovalInPreview { number: 1 },
                "`approve` of #1 is judged against the pull request's head as GitHub has it now, which a preview does not ask: nothing is approved here; approve on the running service",
            ),
        ];
        for (reason, words) in &table {
            assert_eq!(reason.to_string(), *words, "{reason:?}");
        }
        // A new variant fails to compile here: add it to this match and to the table.
        for (reason, _) in &table {
            match reason {
                IgnoreReason::OwnSender { .. }
                | IgnoreReason::Ping
                | IgnoreReason::CheckSuiteRerequested
                | IgnoreReason::StartsNothing { .. }
                | IgnoreReason::NobodyListens { .. }
                | IgnoreReason::CommentNotNew { .. }
                | IgnoreReason::CommentByBot { .. }
                | IgnoreReason::NoCommand
                | IgnoreReason::PushDeleted { .. }
                | IgnoreReason::PushNotBranchOrTag { .. }
                | IgnoreReason::RerunWithoutApp { .. }
                | IgnoreReason::RerunOfAnotherApp { .. }
                | IgnoreReason::RerunOfNoRun { .. }
                | IgnoreReason::RerunByNobody
                | IgnoreReason::ApprovalInPreview { .. } => {}
            }
        }
    }
}
