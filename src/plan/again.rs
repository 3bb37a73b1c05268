//! A run done again (`/agent retry`, GitHub's "Re-run"), and a recorded run about to get
//! its pod: held, with the config in force, to what starting its agent afresh would need.
//!
//! Which run a retry or a Re-run repeats is known only once the launcher has found it, so
//! the planner hands the launcher an [`Again`]: who asks, what they may start, and the
//! config in force; the launcher asks it about the run it found ([`Again::judge`]), with
//! the approvals the service's records hold for a fork's pull request ([`ForkRun`]), and
//! what the repository's own file says now ([`OwnFile`]). The controller asks
//! [`Planner::fork_code_refusal`] about every run before it mints a token or renders it.

use std::sync::Arc;

use crate::config::{AgentName, Config, ForkPolicy, Permission, RepositoryFile, Say};
use crate::github::event::{AuthorAssociation, CommitSha, Login, PullRequest, RepoFullName};

use super::approval::{ApproverAuthority, HeadApproval};
use super::authority::{HeadVouched, MayStart, approval_of, needs_in, write_token_refusal};
use super::{Deferral, Facts, Planner, Refusal, RefusalReason, SkipReason, Trigger, TriggerKind};

/// A fork's code that a run done again would run: the exact head it is recorded at, whose
/// fork it is, and the approvals the service's records hold for its pull request (read by
/// the launcher, never from a comment; see [`Again::reads_approvals`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkRun<'a> {
    /// The head commit the run is recorded at (`None`: it names no exact commit).
    pub head: Option<&'a CommitSha>,
    /// The pull request's author, when the fork is theirs: the code is theirs alone.
    pub author: Option<&'a str>,
    /// The approvals recorded for the pull request.
    pub approvals: &'a [HeadApproval],
}

impl<'a> ForkRun<'a> {
    /// The fork's code of a run at `head` about `pr` (the pull request its source holds,
    /// when it holds one), with `approvals`.
    pub fn new(
        head: Option<&'a CommitSha>,
        pr: Option<&'a PullRequest>,
        approvals: &'a [HeadApproval],
    ) -> ForkRun<'a> {
        let author = pr
            .filter(|pr| {
                pr.head
                    .repo
                    .as_ref()
                    .is_some_and(|r| pr.user.login.is(r.owner()))
            })
            .map(|pr| pr.user.login.as_str());
        ForkRun {
            head,
            author,
            approvals,
        }
    }
}

/// Who asks for a run again, and what they may start, under the config in force when
/// they asked (outside review 11c, A2 and A3).
#[derive(Clone)]
pub struct Again {
    config: Arc<Config>,
    login: Login,
    /// The highest permission they may start agents with (`admin` for those
    /// `allowed_users` or `allowed_teams` let in).
    has: Permission,
    /// `has` was judged by the payload's association (a preview).
    inferred: bool,
    /// What GitHub says they have, when it was asked (`has` is more for someone
    /// github.authorization's lists let in).
    github_has: Option<Permission>,
    /// What the repository's own file on its default branch says, read for this asking.
    own_file: OwnFile,
    /// The repository asked in (an `allowed_in` entry lets an approver in there only).
    repository: Option<RepoFullName>,
    /// What GitHub says now of the approvers of a fork's head, as far as asked (see
    /// [`Again::knowing`]).
    approvers: Vec<ApproverAuthority>,
}

/// Why a run may not be done again: not at all, or not until GitHub says more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withheld {
    /// The one who asked is told this.
    Refused(Refusal),
    /// What GitHub says now of someone who approved the fork's head is not known: the
    /// edges ask it (once; [`Again::knowing`]) and judge again.
    Waits(Deferral),
}

/// What the repository's own file (services.yaml's `repository_config`) says of a run done
/// again, as the planner read it from the default branch for the delivery that asks
/// (attacker review 15b, A5: before, a retry or a Re-run was not judged by it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum OwnFile {
    /// Not asked for, or no such file: services.yaml alone decides.
    #[default]
    Unread,
    /// The file at `path`, on the default branch `branch`.
    Read {
        file: RepositoryFile,
        path: String,
        branch: String,
    },
    /// It does not read, or is no file: nothing runs again (it fails closed).
    Broken {
        problem: String,
        path: String,
        branch: String,
    },
}

impl std::fmt::Debug for Again {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Again")
            .field("login", &self.login)
            .field("has", &self.has)
            .field("inferred", &self.inferred)
            .field("github_has", &self.github_has)
            .field("own_file", &self.own_file)
            .field("repository", &self.repository)
            .field("approvers", &self.approvers)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Again {
    fn eq(&self, other: &Again) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
            && self.login == other.login
            && self.has == other.has
            && self.inferred == other.inferred
            && self.github_has == other.github_has
            && self.own_file == other.own_file
            && self.repository == other.repository
            && self.approvers == other.approvers
    }
}

impl Eq for Again {}

impl Again {
    /// Whether the run of `agent`, started by `trigger`, may run again for them: they
    /// need what its trigger needs (the higher of its own `min_permission` and the global
    /// one), and a fork's code (`fork`) meets the fork policy in force, as a fresh event
    /// would: never with `fork_pull_requests: never`, never with a token that can write
    /// unless it is `always`, and with `approve` only at a head the records say a
    /// maintainer approved (or asked again by the fork's own author, whom the repository
    /// trusts with the agent, as their push would run it), and only as far as its
    /// approver may start the agent now, as for every event at that head (review 15e, E1:
    /// before, an approver who had since lost their access still vouched for a retry and
    /// a Re-run); and the repository's own file names it, and reads. `Err` says why not,
    /// to them, or what GitHub is to be asked first.
    pub fn judge(
        &self,
        agent: &AgentName,
        trigger: &Trigger,
        fork: Option<ForkRun<'_>>,
    ) -> Result<(), Withheld> {
        let refused = |reason| {
            Err(Withheld::Refused(Refusal {
                login: self.login.clone(),
                reason,
            }))
        };
        if let Some(reason) = self.own_file_refusal(agent) {
            return refused(reason);
        }
        let global = self.config.github.authorization.min_permission;
        let needs = needs_in(&self.config, agent.as_str(), kind_of(trigger)).max(global);
        if self.has < needs {
            // Told what GitHub says they have, and what the lists let them in as
            // (review 15e, E8).
            let (has, allowed_as) = match self.github_has {
                Some(github) if github < self.has => (github, Some(self.has)),
                _ => (self.has, None),
            };
            return refused(RefusalReason::NotAuthorized {
                has,
                needs,
                inferred: self.inferred,
                allowed_as,
            });
        }
        let Some(fork) = fork else {
            return Ok(());
        };
        if let Some(reason) = fork_refusal(&self.config, agent) {
            return refused(reason);
        }
        if !self.reads_approvals() {
            return Ok(());
        }
        // As `Planner::vouch` holds an author and an approver: to the agent's `pull_request`
        // trigger, at least the global minimum.
        let vouches = needs_in(&self.config, agent.as_str(), TriggerKind::PullRequest).max(global);
        // As `Planner::fork_policy` trusts an author the repository trusts with the agent,
        // on their own fork (a preview's guess trusts nobody here).
        let trusted_author = !self.inferred
            && fork.author.is_some_and(|author| self.login.is(author))
            && self.has >= needs_in(&self.config, agent.as_str(), TriggerKind::PullRequest);
        let head = match fork.head {
            _ if trusted_author => return Ok(()),
            Some(head) => head,
            None => return refused(RefusalReason::ForkHeadUnknown),
        };
        match approval_of(
            &self.config,
            self.repository.as_ref(),
            fork.approvals,
            &self.approvers,
            head,
            vouches,
        ) {
            HeadVouched::Stands => Ok(()),
            HeadVouched::Unapproved => refused(RefusalReason::ForkNeedsApproval {
                head_sha: head.clone(),
            }),
            HeadVouched::Ask(login) => {
                Err(Withheld::Waits(Deferral::ApproverPermissionUnanswered {
                    login,
                }))
            }
            HeadVouched::Short { approver, has } => refused(RefusalReason::ForkApproverNeeds {
                head_sha: head.clone(),
                agent: agent.clone(),
                approver,
                needs: vouches,
                has,
            }),
        }
    }

    /// What GitHub says now of someone who approved a fork's head (asked for
    /// [`Withheld::Waits`]), for the next [`Again::judge`].
    pub fn knowing(&mut self, approver: ApproverAuthority) {
        self.approvers
            .retain(|a| a.login.key() != approver.login.key());
        self.approvers.push(approver);
    }

    /// Whether GitHub was asked already what `login`, an approver, has now.
    pub fn asked_of(&self, login: &Login) -> bool {
        self.approvers.iter().any(|a| a.login.key() == login.key())
    }

    /// Holds it to what the repository's own file says (see [`OwnFile`]).
    pub(super) fn hold_to(&mut self, own_file: OwnFile) {
        self.own_file = own_file;
    }

    /// Why the repository's own file keeps `agent` from running again, as it keeps a new
    /// event's launch of it: the file does not name it (one that keeps it to its comment
    /// verbs lets it: asking again is a command), or does not read.
    fn own_file_refusal(&self, agent: &AgentName) -> Option<RefusalReason> {
        let (reason, branch) = match &self.own_file {
            OwnFile::Unread => return None,
            OwnFile::Read { file, path, branch } => {
                let says = file.say(agent);
                if says != Say::Off {
                    return None;
                }
                (SkipReason::OffInRepository { path: path.clone() }, branch)
            }
            OwnFile::Broken {
                problem,
                path,
                branch,
            } => (
                SkipReason::RepositoryFileBroken {
                    path: path.clone(),
                    problem: problem.clone(),
                },
                branch,
            ),
        };
        Some(RefusalReason::OwnFile {
            agent: agent.clone(),
            reason: Box::new(reason),
            branch: branch.clone(),
        })
    }

    /// Whether [`Again::judge`] needs the approval records of a fork's pull request: the
    /// policy in force is `approve`.
    pub fn reads_approvals(&self) -> bool {
        self.config.github.authorization.fork_pull_requests == ForkPolicy::Approve
    }
}

impl Planner {
    /// What `login` (of whom the payload says `association`, when it says anything) may
    /// run again: judged as for every start, at each permission in turn.
    pub(super) fn again(
        &self,
        who: super::Requester<'_>,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
    ) -> Again {
        let levels = [
            Permission::Read,
            Permission::Triage,
            Permission::Write,
            Permission::Maintain,
            Permission::Admin,
        ];
        let has = levels
            .into_iter()
            .take_while(|p| self.authorization(who, association, facts, *p) == MayStart::Allowed)
            .last()
            .unwrap_or(Permission::None);
        Again {
            config: self.config.clone(),
            login: who.login.into(),
            has,
            inferred: facts.authority == super::Authority::Preview,
            github_has: match facts.authority {
                super::Authority::Known(has) => Some(has),
                _ => None,
            },
            own_file: OwnFile::Unread,
            repository: facts.repository_name.cloned(),
            approvers: Vec::new(),
        }
    }

    /// What `login`, whom GitHub says has `has` on the repository, may run again (for a
    /// caller that knows it already; the planner judges it for every retry and Re-run).
    pub fn again_as(&self, login: &str, has: Permission) -> Again {
        self.again(
            super::Requester { login, id: None },
            None,
            &Facts {
                authority: super::Authority::Known(has),
                ..Facts::default()
            },
        )
    }

    /// Why a fork's code may not run `agent` under the config in force, whoever asked:
    /// `fork_pull_requests: never`, or a token that can write without `always`. `None`:
    /// it may (with `approve`, at a head a maintainer approved: a recorded run was).
    pub fn fork_code_refusal(&self, agent: &AgentName, requested_by: &Login) -> Option<Refusal> {
        fork_refusal(&self.config, agent).map(|reason| Refusal {
            login: requested_by.clone(),
            reason,
        })
    }
}

/// The fork policy and the write-token rule of the config in force, for `agent`.
fn fork_refusal(config: &Config, agent: &AgentName) -> Option<RefusalReason> {
    if config.github.authorization.fork_pull_requests == ForkPolicy::Never {
        return Some(RefusalReason::ForksNeverRun);
    }
    let agent = config.agents.iter().find(|a| &a.name == agent)?;
    write_token_refusal(config, agent)
}

/// Which trigger of its agent a run's trigger is.
fn kind_of(trigger: &Trigger) -> TriggerKind {
    match trigger {
        // An approval starts an agent by its `pull_request` trigger.
        Trigger::PullRequest { .. } | Trigger::Approved(_) => TriggerKind::PullRequest,
        Trigger::Issues { .. } => TriggerKind::Issues,
        Trigger::Comment { .. } => TriggerKind::Comment,
        Trigger::Push => TriggerKind::Push,
        Trigger::Release { .. } => TriggerKind::Release,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::{self, Admin, Read, Write};
    use crate::plan::{ForkRun, HeadApproval, Planner, Trigger, Withheld};

    /// A row: `github.authorization`, `agents`, what the one asking has, and the run asked
    /// for again (its agent, the trigger that started it, and, when its code is a fork's,
    /// that fork's run).
    struct Row {
        story: &'static str,
        authorization: &'static str,
        agents: &'static str,
        has: Permission,
        agent: &'static str,
        trigger: Trigger,
        fork: Option<Fork>,
        expect: &'static str,
    }

    /// A fork's run, as the launcher finds it: the head it is recorded at, whether its
    /// author (when the fork is theirs) is the one asking, and the heads the records say
    /// were approved.
    #[derive(Clone, Copy)]
    struct Fork {
        head: Option<&'static str>,
        by_its_author: bool,
        approved: &'static [&'static str],
        /// What GitHub says the approver (`maintainer`) has now; `None`: not asked yet.
        approver_has: Option<Permission>,
    }

    const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
    const EARLIER: &str = "89abcdef0123456789abcdef0123456789abcdef";

    /// A fork's run at [`HEAD`], with no approval recorded.
    const FORK: Fork = Fork {
        head: Some(HEAD),
        by_its_author: false,
        approved: &[],
        approver_has: Some(Write),
    };

    /// The same, [`HEAD`] approved.
    const APPROVED: Fork = Fork {
        approved: &[HEAD],
        ..FORK
    };

    fn comment(verb: &str) -> Trigger {
        Trigger::Comment {
            verb: verb.parse().expect("a verb"),
            comment_id: crate::ids::CommentId(1),
        }
    }

    fn opened() -> Trigger {
        Trigger::PullRequest {
            action: crate::github::event::PullRequestAction::Opened,
        }
    }

    const DEPLOY: &str =
        "[{name: deploy, triggers: {comment: {verbs: [deploy], min_permission: admin}}}]";
    const FIXER: &str =
        "[{name: fixer, github_token: {contents: write}, triggers: {comment: {verbs: [fix]}}}]";
    const REVIEW: &str =
        "[{name: review, triggers: {pull_request: {}, comment: {verbs: [review]}}}]";

    /// A retry or Re-run needs what the run's own trigger needs, and a fork's code meets
    /// the fork policy in force (outside review 11c, A2 and A3; before, every row was let
    /// through: the launcher copied the run whoever asked).
    #[test]
    fn a_run_again_needs_what_its_trigger_needs_and_meets_the_fork_policy_in_force() {
        let rows = [
            Row {
                story: "a writer's retry of a deploy only admins may start is refused",
                authorization: "{}",
                agents: DEPLOY,
                has: Write,
                agent: "deploy",
                trigger: comment("deploy"),
                fork: None,
                expect: "refuse @someone: NotAuthorized { has: Write, needs: Admin, inferred: false, allowed_as: None }",
            },
            Row {
                story: "an admin's retry of it runs",
                authorization: "{}",
                agents: DEPLOY,
                has: Admin,
                agent: "deploy",
                trigger: comment("deploy"),
                fork: None,
                expect: "again",
            },
            Row {
                story: "a trigger below the global minimum does not lower it",
                authorization: "{min_permission: admin}",
                agents: "[{name: open, triggers: {comment: {verbs: [open], min_permission: read}}}]",
                has: Write,
                agent: "open",
                trigger: comment("open"),
                fork: None,
                expect: "refuse @someone: NotAuthorized { has: Write, needs: Admin, inferred: false, allowed_as: None }",
            },
            Row {
                story: "the trigger that started the run decides, not another of its agent",
                authorization: "{}",
                agents: "[{name: deep, triggers: {pull_request: {min_permission: admin}, comment: {verbs: [deep]}}}]",
                has: Write,
                agent: "deep",
                trigger: comment("deep"),
                fork: None,
                expect: "again",
            },
            Row {
                story: "... so the run its pull request trigger started needs admin",
                authorization: "{}",
                agents: "[{name: deep, triggers: {pull_request: {min_permission: admin}, comment: {verbs: [deep]}}}]",
                has: Write,
                agent: "deep",
                trigger: opened(),
                fork: None,
                expect: "refuse @someone: NotAuthorized { has: Write, needs: Admin, inferred: false, allowed_as: None }",
            },
            Row {
                story: "with fork_pull_requests: never a fork's code does not run again, whoever asks",
                authorization: "{fork_pull_requests: never}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: comment("review"),
                fork: Some(APPROVED),
                expect: "refuse @someone: ForksNeverRun",
            },
            Row {
                story: "a fork's code does not run again with a token that can write",
                authorization: "{}",
                agents: FIXER,
                has: Admin,
                agent: "fixer",
                trigger: comment("fix"),
                fork: Some(APPROVED),
                expect: "refuse @someone: ForkWithWriteToken { agent: \"fixer\", writes: TokenWrites([\"contents\"]) }",
            },
            Row {
                story: "unless the operator trusts every fork",
                authorization: "{fork_pull_requests: always}",
                agents: FIXER,
                has: Write,
                agent: "fixer",
                trigger: comment("fix"),
                fork: Some(APPROVED),
                expect: "again",
            },
            Row {
                story: "a fork's code, approved at its head, runs again with a token that only reads",
                authorization: "{}",
                agents: REVIEW,
                has: Write,
                agent: "review",
                trigger: opened(),
                fork: Some(APPROVED),
                expect: "again",
            },
            Row {
                story: "with `approve`, a fork's run whose head no record approves needs an approval (before: ran again)",
                authorization: "{fork_pull_requests: approve}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: opened(),
                fork: Some(FORK),
                expect: "refuse @someone: ForkNeedsApproval { head_sha: CommitSha(\"0123456789abcdef0123456789abcdef01234567\") }",
            },
            Row {
                story: "... an approval of an earlier head does not stand for it",
                authorization: "{}",
                agents: REVIEW,
                has: Write,
                agent: "review",
                trigger: comment("review"),
                fork: Some(Fork {
                    approved: &[EARLIER],
                    ..FORK
                }),
                expect: "refuse @someone: ForkNeedsApproval { head_sha: CommitSha(\"0123456789abcdef0123456789abcdef01234567\") }",
            },
            // An approval of a prefix of the head, or in capitals, is no record's: a
            // record holds full commits (`HeadApproval::sha` is a `CommitSha`; the stored
            // record's read: `cluster::approvals`, `a_stored_record_names_full_commits_or_is_not_read`).
            Row {
                story: "an approval stands only as far as its approver may start the agent now (review 15e, E1; before: ran again)",
                authorization: "{}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: opened(),
                fork: Some(Fork {
                    approver_has: Some(Read),
                    ..APPROVED
                }),
                expect: "refuse @someone: ForkApproverNeeds { head_sha: CommitSha(\"0123456789abcdef0123456789abcdef01234567\"), agent: \"review\", approver: Login(\"maintainer\"), needs: Write, has: Read }",
            },
            Row {
                story: "... and as far as its pull request trigger asks, whichever trigger started the run",
                authorization: "{}",
                agents: "[{name: deep, triggers: {pull_request: {min_permission: admin}, comment: {verbs: [deep]}}}]",
                has: Admin,
                agent: "deep",
                trigger: comment("deep"),
                fork: Some(APPROVED),
                expect: "refuse @someone: ForkApproverNeeds { head_sha: CommitSha(\"0123456789abcdef0123456789abcdef01234567\"), agent: \"deep\", approver: Login(\"maintainer\"), needs: Admin, has: Write }",
            },
            Row {
                story: "an approver GitHub was not asked about yet is asked",
                authorization: "{}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: opened(),
                fork: Some(Fork {
                    approver_has: None,
                    ..APPROVED
                }),
                expect: "ask: ApproverPermissionUnanswered { login: Login(\"maintainer\") }",
            },
            Row {
                story: "an approver the installation's allowed_users lets in stands, whatever GitHub says",
                authorization: "{allowed_users: [maintainer]}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: opened(),
                fork: Some(Fork {
                    approver_has: Some(Read),
                    ..APPROVED
                }),
                expect: "again",
            },
            Row {
                story: "a fork's run that names no exact commit can have no approval",
                authorization: "{}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: opened(),
                fork: Some(Fork {
                    head: None,
                    approved: &[HEAD],
                    ..FORK
                }),
                expect: "refuse @someone: ForkHeadUnknown",
            },
            Row {
                story: "the fork's own author, trusted with the agent, runs it again as their push would",
                authorization: "{}",
                agents: REVIEW,
                has: Write,
                agent: "review",
                trigger: opened(),
                fork: Some(Fork {
                    by_its_author: true,
                    ..FORK
                }),
                expect: "again",
            },
            Row {
                story: "... but not an agent whose pull request trigger needs more than they have",
                authorization: "{}",
                agents: "[{name: deep, triggers: {pull_request: {min_permission: admin}, comment: {verbs: [deep]}}}]",
                has: Write,
                agent: "deep",
                trigger: comment("deep"),
                fork: Some(Fork {
                    by_its_author: true,
                    ..FORK
                }),
                expect: "refuse @someone: ForkNeedsApproval { head_sha: CommitSha(\"0123456789abcdef0123456789abcdef01234567\") }",
            },
            Row {
                story: "with `always`, no approval is asked for",
                authorization: "{fork_pull_requests: always}",
                agents: REVIEW,
                has: Write,
                agent: "review",
                trigger: opened(),
                fork: Some(FORK),
                expect: "again",
            },
            Row {
                story: "the repository's own code meets no fork policy",
                authorization: "{fork_pull_requests: never}",
                agents: FIXER,
                has: Write,
                agent: "fixer",
                trigger: comment("fix"),
                fork: None,
                expect: "again",
            },
            Row {
                story: "a reader may run nothing again",
                authorization: "{}",
                agents: REVIEW,
                has: Read,
                agent: "review",
                trigger: opened(),
                fork: None,
                expect: "refuse @someone: NotAuthorized { has: Read, needs: Write, inferred: false, allowed_as: None }",
            },
        ];
        let mut wrong = Vec::new();
        for row in &rows {
            let yaml = format!(
                "project: demo\ncluster: {{namespace: runs}}\nimages: {{agent: ghcr.io/acme/agent:1.0}}\ngithub: {{authorization: {}}}\nagents: {}\n",
                row.authorization, row.agents
            );
            let templates = [(
                "agent-pod.yaml".to_string(),
                "kind: ConfigMap\n".to_string(),
            )]
            .into();
            let loaded = crate::config::parse(&yaml, "services.yaml", templates)
                .unwrap_or_else(|e| panic!("{}: {e}", row.story));
            let planner = Planner::new(&loaded.config);
            let approvals: Vec<HeadApproval> = row
                .fork
                .map_or(&[][..], |f| f.approved)
                .iter()
                .map(|sha| HeadApproval {
                    sha: sha.parse().expect("a commit"),
                    approved_by: "maintainer".into(),
                    approved_at: None,
                    comment_id: None,
                })
                .collect();
            let head: Option<crate::github::event::CommitSha> = row
                .fork
                .and_then(|f| f.head)
                .map(|h| h.parse().expect("a commit"));
            let fork = row.fork.map(|f| ForkRun {
                head: head.as_ref(),
                author: f.by_its_author.then_some("someone"),
                approvals: &approvals,
            });
            let mut again = planner.again_as("someone", row.has);
            if let Some(has) = row.fork.and_then(|f| f.approver_has) {
                again.knowing(crate::plan::ApproverAuthority {
                    login: "maintainer".into(),
                    authority: crate::plan::Authority::Known(has),
                });
            }
            let found = match again.judge(&row.agent.parse().expect("an agent"), &row.trigger, fork)
            {
                Ok(()) => "again".to_string(),
                Err(Withheld::Refused(r)) => format!("refuse @{}: {:?}", r.login, r.reason),
                Err(Withheld::Waits(why)) => format!("ask: {why:?}"),
            };
            if found != row.expect {
                wrong.push(format!(
                    "{}:\n  expected {}\n  got      {found}",
                    row.story, row.expect
                ));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }
}
