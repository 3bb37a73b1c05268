//! `issue_comment` events: the `/agent …` commands of a new comment, each carried out by
//! its verb's handler ([`Planner::command`]).
//!
//! A new verb is a row of `builtin_verbs!` and a `Command` variant (with its parsing, in
//! `github::command`) and its arm in `Planner::command` here; whether it needs
//! `min_permission` (`service_command`) follows from the row's `starts_agents`. The
//! compiler asks for each arm (docs/architecture.md, "Where to add").

use crate::config::{Agent, CommentTarget, Permission, Verb};
use crate::github::command::{BuiltinVerb, Command, CommandParser};
use crate::github::event::{
    Comment, IssueCommentAction, IssueCommentEvent, Login, PullRequest, WebhookEvent,
};

use super::RunKey;
use super::authority::MayStart;
use super::reasons::Answer;
use super::{
    Authority, Control, Decision, Deferral, Facts, ForkCode, Hears, IgnoreReason, Planned, Planner,
    RepositorySays, Requester, Subject, Trigger, TriggerKind,
};

/// What every command of one comment is carried out with.
struct Asked<'c> {
    event: &'c WebhookEvent,
    comment: &'c Comment,
    /// The issue's or pull request's number.
    number: u64,
    is_pull_request: bool,
    /// The commenter.
    login: &'c str,
    /// The pull request a command on one needs to know of (its exact head, whether it is a
    /// fork's): `None` on an issue, or in a preview without it; `Err` when GitHub did not
    /// say.
    pull_request: Option<Result<&'c PullRequest, Deferral>>,
    delivery: Option<RunKey<'c>>,
    facts: &'c Facts<'c>,
}

impl Planner {
    pub(super) fn plan_comment<'e>(
        &self,
        event: &'e WebhookEvent,
        e: &'e IssueCommentEvent,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> Planned<'e> {
        let ignore = |why: IgnoreReason| Planned::decided(vec![Decision::ignore(why)]);
        if e.action != IssueCommentAction::Created {
            return ignore(IgnoreReason::CommentNotNew {
                action: e.action.clone(),
            });
        }
        let comment = &e.comment;
        if comment.user.is_bot() {
            return ignore(IgnoreReason::CommentByBot {
                login: comment.user.login.clone(),
            });
        }
        let custom_verbs = self.custom_verbs(event);
        let parser = CommandParser::new(&self.config.github.command_prefix, &custom_verbs);
        let parsed = parser.parse(&comment.body);
        let login = comment.user.login.as_str();
        let association = Some(&comment.author_association);
        // Someone below every threshold a command could meet is refused at once; the
        // service's own commands need `min_permission`, an agent's its trigger's.
        let global = self.config.github.authorization.min_permission;
        let lowest = self
            .agents_for(event)
            .filter_map(|(a, _)| a.triggers.comment.as_ref().and_then(|c| c.min_permission))
            .fold(global, Permission::min);
        let who = Requester::from(&comment.user);
        if parsed.commands.is_empty() {
            let Some(mistyped) = parser.mistyped_prefix(&comment.body) else {
                return ignore(IgnoreReason::NoCommand);
            };
            // A hint only for someone who may use some command (never a stranger); the
            // permission is asked for it, but a delivery never waits on GitHub for a hint.
            return match self.authorization(who, association, facts, lowest) {
                MayStart::Allowed => Planned::decided(vec![Decision::Hint {
                    to: login.into(),
                    text: mistyped.hint(&self.config.github.command_prefix),
                }]),
                MayStart::Undecided if facts.authority == Authority::NotAsked => {
                    Planned::decided(vec![Decision::Defer(Deferral::PermissionUnanswered {
                        login: login.into(),
                    })])
                }
                MayStart::Undecided | MayStart::Refused(_) => ignore(IgnoreReason::NoCommand),
            };
        }
        let verdict = self.authorization(who, association, facts, lowest);
        if let Some(denied) = self.unless_allowed(verdict, login) {
            return Planned::decided(vec![denied]);
        }
        let control_denied =
            || self.unless_allowed(self.authorization(who, association, facts, global), login);
        // What a command on a pull request needs to know of it: its exact head, and
        // whether that is a fork's. Without the API (a preview) the payload's number is
        // all there is.
        let pull_request = match (e.issue.is_pull_request, facts.pull_request) {
            (false, _) => None,
            (true, Some(pr)) => Some(Ok(pr)),
            (true, None) if facts.authority == Authority::Preview => None,
            (true, None) => Some(Err(Deferral::PullRequestUnknown {
                number: e.issue.number,
            })),
        };
        let asked = Asked {
            event,
            comment,
            number: e.issue.number,
            is_pull_request: e.issue.is_pull_request,
            login,
            pull_request,
            delivery,
            facts,
        };
        let prefix = &self.config.github.command_prefix;
        let mut out = Vec::new();
        for command in parsed.commands {
            let command = match command.result {
                Ok(c) => c,
                Err(err) => {
                    out.push(Decision::Reply(err.reply(prefix)));
                    continue;
                }
            };
            if service_command(&command) {
                match control_denied() {
                    None => {}
                    Some(defer @ Decision::Defer(_)) => return Planned::decided(vec![defer]),
                    Some(refused) => {
                        out.push(refused);
                        continue;
                    }
                }
            }
            if let Err(waits) = self.command(&asked, command, &mut out) {
                return Planned::decided(vec![Decision::Defer(waits)]);
            }
        }
        if parsed.truncated {
            out.push(Answer::TooManyCommands.reply(prefix));
        }
        let planned = Planned::asked_by(out, who, association, TriggerKind::Comment);
        match asked.pull_request {
            // A fork's code: one fork policy for events and commands alike, whoever asks.
            Some(Ok(pr)) if pr.is_fork() => planned.running(ForkCode {
                number: asked.number,
                head: pr.head.sha.clone(),
                told: login,
                author: None,
                owner: None,
            }),
            _ => planned,
        }
    }

    /// Carries out one command: its verb's handler adds its decisions to `out`; `Err`
    /// when the whole delivery must wait for GitHub.
    fn command(
        &self,
        asked: &Asked<'_>,
        command: Command,
        out: &mut Vec<Decision>,
    ) -> Result<(), Deferral> {
        let number = asked.number;
        let requested_by = Login::from(asked.login);
        match command {
            Command::Help => {
                let target = if asked.is_pull_request {
                    CommentTarget::PullRequest
                } else {
                    CommentTarget::Issue
                };
                // The agents listed are those the repository's own file lets run there.
                if let Some(wanted) = &self.config.repository_config
                    && asked.facts.repository == RepositorySays::NotAsked
                {
                    return Err(Deferral::RepositoryFileUnknown {
                        path: wanted.path.clone(),
                    });
                }
                out.push(Decision::Reply(self.help_here(
                    asked.event,
                    target,
                    asked.facts.repository,
                )))
            }
            Command::Status => out.push(Decision::Control(Control::Status { number })),
            Command::Stop => out.push(Decision::Control(Control::Stop {
                number,
                requested_by,
                asked_at: asked.comment.created_at,
            })),
            Command::Retry => out.push(Decision::Control(Control::Retry {
                number,
                may: self.again(
                    Requester::from(&asked.comment.user),
                    Some(&asked.comment.author_association),
                    asked.facts,
                ),
                requested_by,
            })),
            Command::Approve { sha } => self.approve(asked, sha, out)?,
            Command::Run { task } => self.start(asked, BuiltinVerb::Run.name(), Some(task), out)?,
            Command::Review { focus } => {
                self.start(asked, BuiltinVerb::Review.name(), focus, out)?
            }
            Command::Custom { verb, text } => {
                let task = Some(text).filter(|t| !t.is_empty());
                self.start(asked, &verb.to_lowercase(), task, out)?;
            }
        }
        Ok(())
    }

    /// `approve [sha]`: the service records the approval of a fork pull request's head
    /// (and then starts its agents: see [`Planner::plan_approved`]).
    fn approve(
        &self,
        asked: &Asked<'_>,
        sha: Option<String>,
        out: &mut Vec<Decision>,
    ) -> Result<(), Deferral> {
        if let Some(Err(unknown)) = &asked.pull_request {
            return Err(unknown.clone());
        }
        if asked.is_pull_request {
            out.push(Decision::Control(Control::Approve {
                number: asked.number,
                sha,
                approved_by: asked.login.into(),
            }));
        } else {
            out.push(Answer::ApproveOnIssue.reply(&self.config.github.command_prefix));
        }
        Ok(())
    }

    /// `run`, `review` and the verbs of services.yaml: the agents that answer `verb` here
    /// start, with `task`, under the fork policy when the code is a fork's.
    fn start(
        &self,
        asked: &Asked<'_>,
        verb: &str,
        task: Option<String>,
        out: &mut Vec<Decision>,
    ) -> Result<(), Deferral> {
        let number = asked.number;
        let target = if asked.is_pull_request {
            CommentTarget::PullRequest
        } else {
            CommentTarget::Issue
        };
        let repository = asked
            .event
            .repository
            .as_ref()
            .map(|r| r.full_name.as_str());
        let agents = self
            .hear(repository, |agent, _| verdict(agent, target, verb))
            .matched();
        if agents.is_empty() {
            out.push(
                Answer::NoAgentAnswers {
                    verb,
                    on_pull_request: asked.is_pull_request,
                }
                .reply(&self.config.github.command_prefix),
            );
            return Ok(());
        }
        let subject = match &asked.pull_request {
            Some(Err(unknown)) => return Err(unknown.clone()),
            // On a fork's pull request, the fork policy judges the launches, whoever asks
            // (`Planner::fork_policy`, for events and commands alike).
            Some(Ok(pr)) => Subject::PullRequest {
                number,
                head_sha: Some(pr.head.sha.clone()),
            },
            None if asked.is_pull_request => Subject::PullRequest {
                number,
                head_sha: None,
            },
            None => Subject::Issue { number, sha: None },
        };
        let discriminator = format!("{}:{}", asked.comment.id, out.len());
        for agent in agents {
            // The verb as the agent lists it (every agent that answers lists it).
            let Some(verb) = listed_verb(agent, verb) else {
                continue;
            };
            out.push(self.launch(
                agent,
                asked.delivery,
                &discriminator,
                Trigger::Comment {
                    verb: verb.clone(),
                    comment_id: asked.comment.id,
                },
                subject.clone(),
                &asked.comment.user.login,
                task.clone(),
            ));
        }
        Ok(())
    }
}

/// Whether a command is one the service carries out itself, which needs
/// `github.authorization.min_permission` (the commands that start agents need their
/// trigger's, judged with the launches): a built-in verb that starts no agent
/// ([`BuiltinVerb::starts_agents`]), but `help`, which anyone may ask for.
fn service_command(command: &Command) -> bool {
    command
        .builtin()
        .is_some_and(|verb| !verb.starts_agents() && verb != BuiltinVerb::Help)
}

/// Whether `agent` answers `verb` on a `target` (a pull request or an issue).
pub(super) fn verdict(agent: &Agent, target: CommentTarget, verb: &str) -> Hears {
    match &agent.triggers.comment {
        Some(c) if c.targets.contains(&target) && listed_verb(agent, verb).is_some() => {
            Hears::Start
        }
        _ => Hears::NotListening,
    }
}

/// `verb` as `agent` lists it among its comment verbs, if it does.
fn listed_verb<'a>(agent: &'a Agent, verb: &str) -> Option<&'a Verb> {
    let comment = agent.triggers.comment.as_ref()?;
    comment.verbs.iter().find(|v| v.as_str() == verb)
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::{Read, Write};
    use crate::plan::RefCommit;
    use crate::plan::table::{Given, Row, check, row};

    const ON_PR: &str = "variants/issue_comment/run-on-pull-request.json";
    const ON_ISSUE: &str = "variants/issue_comment/run-on-issue.json";
    const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
    const TASK: &str = "[{name: task, triggers: {comment: {verbs: [run]}}}]";
    const READERS: &str =
        "[{name: task, triggers: {comment: {verbs: [run], min_permission: read}}}]";

    /// A comment's body, set on the payload.
    macro_rules! body {
        ($text:expr) => {
            |p: &mut serde_json::Value| p["comment"]["body"] = $text.into()
        };
    }

    /// Every way a comment's commands start agents, are carried out by the service, are
    /// answered or refused: each verb, who may use it, and the fork policy.
    #[test]
    fn a_comments_commands_are_carried_out_or_answered() {
        check(&[
            Row {
                story: "`run` on an issue starts the task at the default branch",
                agents: TASK,
                payload: ON_ISSUE,
                given: || Given {
                    commit: RefCommit::Known(super::super::table::sha(HEAD)),
                    ..Given::known(Write)
                },
                expect: "launch task at 0123456",
                ..row()
            },
            Row {
                story: "`run` on a pull request in a preview starts the task at its head ref",
                agents: TASK,
                payload: ON_PR,
                expect: "launch task",
                ..row()
            },
            Row {
                story: "`run` on a pull request GitHub described starts the task at its head",
                agents: TASK,
                payload: ON_PR,
                given: || Given::on_pull_request(HEAD, false),
                expect: "launch task",
                ..row()
            },
            Row {
                story: "`run` on a pull request GitHub did not describe waits",
                agents: TASK,
                payload: ON_PR,
                given: || Given::known(Write),
                expect: "defer: PullRequestUnknown",
                ..row()
            },
            Row {
                story: "`run` on a fork's pull request waits for an approval",
                agents: TASK,
                payload: ON_PR,
                given: || Given::on_pull_request(HEAD, true),
                expect: "refuse @Codertocat: ForkNeedsApproval",
                ..row()
            },
            Row {
                story: "two commands on a fork's pull request, unapproved: one refusal, the help still answered",
                agents: "[{name: task, triggers: {comment: {verbs: [run, review]}}}]",
                payload: ON_PR,
                edit: body!("/agent run x\n/agent help\n/agent review"),
                given: || Given::on_pull_request(HEAD, true),
                expect: "refuse @Codertocat: ForkNeedsApproval, reply: - `/agent run <task>`: start",
                ..row()
            },
            Row {
                story: "`run` on a fork's pull request runs at the approved head",
                agents: "[{name: review, triggers: {comment: {verbs: [run]}}}]",
                payload: ON_PR,
                given: || Given {
                    approved_sha: Some(HEAD),
                    ..Given::on_pull_request(HEAD, true)
                },
                expect: "launch review",
                ..row()
            },
            Row {
                story: "`run` on a fork's pull request waits while the approvals cannot be read",
                agents: TASK,
                payload: ON_PR,
                given: || Given {
                    approvals_unreadable: true,
                    ..Given::on_pull_request(HEAD, true)
                },
                expect: "defer: ApprovalsUnknown",
                ..row()
            },
            Row {
                story: "`run` on a fork's pull request where forks never run",
                authorization: "{fork_pull_requests: never}",
                agents: TASK,
                payload: ON_PR,
                given: || Given::on_pull_request(HEAD, true),
                expect: "refuse @Codertocat: ForksNeverRun",
                ..row()
            },
            Row {
                story: "an agent whose token can write never runs a fork's code",
                agents: "[{name: task, github_token: {contents: write}, triggers: {comment: {verbs: [run]}}}]",
                payload: ON_PR,
                given: || Given {
                    approved_sha: Some(HEAD),
                    ..Given::on_pull_request(HEAD, true)
                },
                expect: "refuse @Codertocat: ForkWithWriteToken",
                ..row()
            },
            Row {
                story: "a verb no agent answers here is answered so",
                agents: TASK,
                payload: ON_PR,
                edit: body!("/agent review"),
                expect: "reply: No agent answers `/agent review`",
                ..row()
            },
            Row {
                story: "an agent for pull requests only does not answer on an issue",
                agents: "[{name: review, triggers: {comment: {verbs: [review], targets: [pull_request]}}}]",
                payload: ON_ISSUE,
                edit: body!("/agent review"),
                expect: "reply: No agent answers `/agent review`",
                ..row()
            },
            Row {
                story: "a verb of services.yaml starts its agent, with no text as no task",
                agents: "[{name: docs, triggers: {comment: {verbs: [docs]}}}]",
                payload: ON_ISSUE,
                edit: body!("/agent docs"),
                expect: "launch docs unpinned",
                ..row()
            },
            Row {
                story: "a mistyped verb is answered with the error",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/agent frobnicate"),
                expect: "reply: unknown command `frobnicate`; `/agent help`",
                ..row()
            },
            Row {
                story: "`help` lists the commands",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/agent help"),
                expect: "reply: - `/agent run <task>`: start",
                ..row()
            },
            Row {
                story: "`stop`, `status` and `retry` are the service's to carry out",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/agent stop\n/agent status\n/agent retry"),
                given: || Given::known(Write),
                expect: "control: Stop, control: Status, control: Retry",
                ..row()
            },
            Row {
                story: "`approve` on a pull request GitHub described is the service's",
                agents: TASK,
                payload: ON_PR,
                edit: body!("/agent approve"),
                given: || Given::on_pull_request(HEAD, true),
                expect: "control: Approve",
                ..row()
            },
            Row {
                story: "`approve` by someone who may not write is refused: no approval is recorded",
                agents: TASK,
                payload: ON_PR,
                edit: body!("/agent approve"),
                given: || Given {
                    authority: crate::plan::Authority::Known(Read),
                    ..Given::on_pull_request(HEAD, true)
                },
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "`approve` on a pull request GitHub did not describe waits",
                agents: TASK,
                payload: ON_PR,
                edit: body!("/agent approve"),
                given: || Given::known(Write),
                expect: "defer: PullRequestUnknown",
                ..row()
            },
            Row {
                story: "`approve` on an issue is answered: it is for pull requests",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/agent approve"),
                given: || Given::known(Write),
                expect: "reply: `/agent approve` is for pull",
                ..row()
            },
            Row {
                story: "someone below every threshold is refused once, whatever they asked",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/agent run x\n/agent stop"),
                given: || Given::known(Read),
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "a reader may start what lets readers, not stop runs",
                agents: READERS,
                payload: ON_ISSUE,
                edit: body!("/agent stop\n/agent run x"),
                given: || Given::known(Read),
                expect: "refuse @Codertocat: NotAuthorized, launch task unpinned",
                ..row()
            },
            Row {
                story: "a reader a team might allow waits before a service command",
                agents: READERS,
                payload: ON_ISSUE,
                edit: body!("/agent stop"),
                given: || Given {
                    teams_unanswered: true,
                    ..Given::known(Read)
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "a commenter whose permission is not known yet waits",
                agents: TASK,
                payload: ON_ISSUE,
                given: || Given {
                    authority: crate::plan::Authority::NotAsked,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "an agent's own threshold holds for its launches",
                agents: "[{name: task, triggers: {comment: {verbs: [run], min_permission: admin}}}]",
                payload: ON_ISSUE,
                given: || Given::known(Write),
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "a comment edited carries no command",
                agents: TASK,
                payload: "webhooks/issue_comment/edited.json",
                expect: "ignore: CommentNotNew",
                ..row()
            },
            Row {
                story: "a bot's comment starts nothing",
                agents: TASK,
                payload: "variants/issue_comment/by-bot.json",
                expect: "ignore: CommentByBot",
                ..row()
            },
            Row {
                story: "a command prefix in capitals gets a hint, to someone who may use a command",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/Agent run fix the flaky test"),
                given: || Given::known(Write),
                expect: "hint @Codertocat: `/Agent` is not read as a command: commands start with `/agent`, in lower case: `/agent run fix the flaky test`",
                ..row()
            },
            Row {
                story: "`/AGENTS` gets the hint too, told both its case and its `s`, and a verb in capitals is written in lower case",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("Please:\n/AGENTS RUN"),
                given: || Given::known(Write),
                expect: "hint @Codertocat: `/AGENTS` is not read as a command: commands start with `/agent`, in lower case, without an `s`: `/agent run`",
                ..row()
            },
            Row {
                story: "a stranger who writes a command prefix in capitals gets nothing",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/Agent run x"),
                given: || Given::known(Read),
                expect: "ignore: NoCommand",
                ..row()
            },
            Row {
                story: "the hint waits for the commenter's permission, but not for GitHub's answer",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/Agent run x"),
                given: || Given {
                    authority: crate::plan::Authority::NotAsked,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "no hint when GitHub did not say what the commenter may do",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/Agent run x"),
                given: || Given {
                    authority: crate::plan::Authority::Unanswered,
                    ..Given::preview()
                },
                expect: "ignore: NoCommand",
                ..row()
            },
            Row {
                story: "a prefix in capitals in code or a quote is no hint",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("```\n/Agent run x\n```\n> /Agent run y"),
                given: || Given::known(Write),
                expect: "ignore: NoCommand",
                ..row()
            },
            Row {
                story: "a comment without a command is ignored",
                agents: TASK,
                payload: "webhooks/issue_comment/created.json",
                expect: "ignore: NoCommand",
                ..row()
            },
            Row {
                story: "only the first ten commands are read, and the commenter is told",
                agents: TASK,
                payload: ON_ISSUE,
                edit: body!("/agent status\n".repeat(11)),
                given: || Given::known(Write),
                expect: "control: Status, control: Status, control: Status, control: Status, control: Status, control: Status, control: Status, control: Status, control: Status, control: Status, reply: Only the first 10 commands",
                ..row()
            },
        ]);
    }
}
