//! Who may start what, judged once for every trigger: the requester's permission against
//! each agent's threshold, and the fork policy for a fork's code.

use crate::config::{Agent, Config, ForkPolicy, Permission};
use crate::github::event::{AuthorAssociation, Login, RepoFullName, User};

use super::{
    ApproverAuthority, Authority, Decision, Deferral, Facts, ForkCode, Planner, Refusal,
    RefusalReason, SkipReason, Trigger, TriggerKind, ending_with,
};

/// Whether a launch that would run a fork's code stands (see [`Planner::vouch`]).
enum Vouch {
    Stands,
    /// Not until GitHub (or the approval records) answer.
    Waits(Deferral),
    /// Nobody vouches for the head: this refusal.
    Refused(Refusal),
    /// The head was approved, but by nobody who may start the agent now: the best of the
    /// approvers, what the agent needs and what they have.
    Short {
        approver: Login,
        needs: Permission,
        has: Permission,
    },
}

/// Whom a verdict is about: their login, and their account id where the payload gives
/// one (an `allowed_users` entry pinned to an id matches by it alone).
#[derive(Debug, Clone, Copy)]
pub(super) struct Requester<'a> {
    pub login: &'a str,
    pub id: Option<u64>,
}

impl<'a> From<&'a User> for Requester<'a> {
    fn from(user: &'a User) -> Self {
        Requester {
            login: user.login.as_str(),
            id: Some(user.id),
        }
    }
}

/// Whether a person may start agents, as far as can be told now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MayStart {
    Allowed,
    Refused(RefusalReason),
    /// GitHub has not said (yet).
    Undecided,
}

impl Planner {
    /// May this person start agents, as far as can be told now? `association` is what
    /// the payload says of them, when it says anything.
    pub(super) fn authorization(
        &self,
        who: Requester<'_>,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
        needs: Permission,
    ) -> MayStart {
        may_start(&self.config, who, association, facts, needs)
    }

    /// The verdict as decisions: `None` when allowed; else a refusal of `login`, or the
    /// delivery deferred until GitHub says what `login` may do.
    pub(super) fn unless_allowed(&self, verdict: MayStart, login: &str) -> Option<Decision> {
        match verdict {
            MayStart::Allowed => None,
            MayStart::Refused(reason) => Some(Decision::Refuse(Refusal {
                login: login.into(),
                reason,
            })),
            MayStart::Undecided => Some(Decision::Defer(Deferral::PermissionUnanswered {
                login: login.into(),
            })),
        }
    }

    /// The lowest permission that may start `agent` by `kind`: the trigger's own
    /// `min_permission`, else `github.authorization.min_permission`.
    pub(super) fn needs(&self, agent: &str, kind: TriggerKind) -> Permission {
        needs_in(&self.config, agent, kind)
    }

    /// Keeps the launches `who` may start, each judged by its agent's threshold for
    /// `kind`; the first refusal closes the decisions, and an undecided one defers them
    /// all (the delivery is decided again when GitHub answers).
    pub(super) fn gate(
        &self,
        out: Vec<Decision>,
        who: Requester<'_>,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
        kind: TriggerKind,
    ) -> Vec<Decision> {
        let mut kept = Vec::with_capacity(out.len());
        let mut denied = None;
        let global = self.config.github.authorization.min_permission;
        for decision in out {
            let Decision::Launch(mut launch) = decision else {
                kept.push(decision);
                continue;
            };
            let needs = self.needs(launch.agent.as_str(), kind);
            match self.unless_allowed(
                self.authorization(who, association, facts, needs),
                who.login,
            ) {
                None if needs < global => {
                    // Let in below the global minimum: a stranger, unless they meet it
                    // (review 15c, F5).
                    match self.below_global(who, association, facts) {
                        Ok(outsider) => launch.by_outsider = outsider,
                        Err(why) => return vec![Decision::Defer(why)],
                    }
                    kept.push(Decision::Launch(launch));
                }
                None => kept.push(Decision::Launch(launch)),
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

    /// The fork policy, judged once for every trigger whose launches would run a fork's
    /// code (`fork`), for each launch on its own: it stands only if someone who may start
    /// its agent vouches for the head ([`Planner::vouch`]), and never with a token that
    /// can write (each such launch is refused). The launches nobody vouches for give way to
    /// one refusal (where the first of them was), or to skips naming what the approver
    /// lacks, and then, if nothing runs, to one refusal saying so; an unknown makes the
    /// delivery wait.
    pub(super) fn fork_policy(
        &self,
        decisions: Vec<Decision>,
        fork: &ForkCode<'_>,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let mut out = Vec::with_capacity(decisions.len());
        // The one refusal of the launches nobody vouches for, and where it goes.
        let mut refused: Option<(usize, Refusal)> = None;
        // What the first approver who falls short lacks, told if nothing runs.
        let mut short: Option<RefusalReason> = None;
        let mut stands = false;
        for decision in decisions {
            let (agent, by_command, launch) = match decision {
                Decision::Launch(launch) => (
                    launch.agent.clone(),
                    !matches!(launch.trigger, Trigger::PullRequest { .. }),
                    Some(launch),
                ),
                // An agent whose `paths` filter waits for the changed files is judged as
                // its launch would be, before they are read: a fork's head nobody vouches
                // for has its files read for nothing (outside review 15b, B1: an
                // outsider's fork pull request of 3,000 files cost 30 requests a push
                // under `never`), and its refusal tells why nothing runs.
                Decision::Skip {
                    agent,
                    reason: SkipReason::ChangedFilesUnknown,
                } => (agent, false, None),
                other => {
                    out.push(other);
                    continue;
                }
            };
            match self.vouch(agent.as_str(), by_command, fork, facts) {
                Vouch::Stands => match launch {
                    Some(mut launch) => {
                        if !by_command {
                            match self.fork_outsider(fork, facts) {
                                Ok(outsider) => launch.by_outsider = outsider,
                                Err(why) => return vec![Decision::Defer(why)],
                            }
                        }
                        stands = true;
                        let agent = self.config.agents.iter().find(|a| a.name == launch.agent);
                        let write = agent
                            .and_then(|a| self.fork_write_refusal(a, launch.requested_by.as_str()));
                        out.push(write.unwrap_or(Decision::Launch(launch)));
                    }
                    None => out.push(Decision::Skip {
                        agent,
                        reason: SkipReason::ChangedFilesUnknown,
                    }),
                },
                Vouch::Waits(why) => return vec![Decision::Defer(why)],
                Vouch::Refused(refusal) => {
                    refused.get_or_insert((out.len(), refusal));
                    if launch.is_none() {
                        out.push(Decision::Skip {
                            agent,
                            reason: SkipReason::ForkFilesUnread,
                        });
                    }
                }
                Vouch::Short {
                    approver,
                    needs,
                    has,
                } => {
                    short.get_or_insert_with(|| RefusalReason::ForkApproverNeeds {
                        head_sha: fork.head.clone(),
                        agent: agent.clone(),
                        approver: approver.clone(),
                        needs,
                        has,
                    });
                    out.push(Decision::Skip {
                        agent,
                        reason: SkipReason::ApproverNeeds {
                            approver,
                            needs,
                            has,
                            allowed_as: None,
                        },
                    });
                }
            }
        }
        match (refused, short) {
            (Some((at, refusal)), _) => out.insert(at, Decision::Refuse(refusal)),
            (None, Some(reason)) if !stands => out.push(Decision::Refuse(Refusal {
                login: fork.told.into(),
                reason,
            })),
            _ => {}
        }
        out
    }

    /// Whether a fork's pull request event's launch that stands was let in below
    /// `github.authorization.min_permission`: under `always`, by the policy in place of the
    /// author's permission, unless the author meets it (review 15d, D2: strangers' fork
    /// pull requests filled the whole queue). Their permission is asked when it was not;
    /// when GitHub does not say, or nobody is named, they are taken for a stranger. Under
    /// `approve` and `never` someone who meets the minimum vouched for the head: not.
    fn fork_outsider(&self, fork: &ForkCode<'_>, facts: &Facts<'_>) -> Result<bool, Deferral> {
        let auth = &self.config.github.authorization;
        if auth.fork_pull_requests != ForkPolicy::Always {
            return Ok(false);
        }
        let Some((who, association)) = fork.owner else {
            return Ok(true);
        };
        self.below_global(who, Some(association), facts)
    }

    /// Whether `who` is below `github.authorization.min_permission` (a stranger for the
    /// queue's half, `Launch::by_outsider`). Their permission is asked when it was not, as
    /// for any command (`Err`: the delivery waits for it); when GitHub does not say, they
    /// are taken for one.
    fn below_global(
        &self,
        who: Requester<'_>,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
    ) -> Result<bool, Deferral> {
        let global = self.config.github.authorization.min_permission;
        match self.authorization(who, association, facts, global) {
            MayStart::Allowed => Ok(false),
            MayStart::Undecided if facts.authority == Authority::NotAsked => {
                Err(Deferral::PermissionUnanswered {
                    login: who.login.into(),
                })
            }
            MayStart::Undecided | MayStart::Refused(_) => Ok(true),
        }
    }

    /// Whether `launch`, which would run a fork's code at `fork.head`, stands: someone
    /// who may start its agent (the higher of its `pull_request` trigger's
    /// `min_permission` and the global one) vouches for the head. That is the author, on
    /// an event they caused from their own fork; else, under `approve`, someone who
    /// approved exactly that head and whose permission, asked now, meets it (outside
    /// review 11d, A1: before, any approval of the head, or an author who met the global
    /// minimum, let every agent run). Under `always` the policy vouches for every fork in
    /// place of the global minimum, but a `pull_request` trigger's own `min_permission`
    /// above it still holds for the author (the approver, on an approval); a command's
    /// launch is held to its commenter by the command's trigger instead.
    fn vouch(
        &self,
        agent: &str,
        by_command: bool,
        fork: &ForkCode<'_>,
        facts: &Facts<'_>,
    ) -> Vouch {
        let auth = &self.config.github.authorization;
        let needs = self
            .needs(agent, TriggerKind::PullRequest)
            .max(auth.min_permission);
        let person = |who: Requester<'_>, association, needs| match self.authorization(
            who,
            Some(association),
            facts,
            needs,
        ) {
            MayStart::Allowed => Vouch::Stands,
            MayStart::Undecided => Vouch::Waits(Deferral::PermissionUnanswered {
                login: who.login.into(),
            }),
            MayStart::Refused(reason) => Vouch::Refused(Refusal {
                login: who.login.into(),
                reason,
            }),
        };
        if auth.fork_pull_requests == ForkPolicy::Always {
            if by_command || needs <= auth.min_permission {
                return Vouch::Stands;
            }
            return match fork.owner {
                Some((who, association)) => person(who, association, needs),
                None => Vouch::Stands,
            };
        }
        if let Some((author, association)) = fork.author {
            match person(author, association, needs) {
                Vouch::Refused(_) => {}
                vouched => return vouched,
            }
        }
        let refused = |reason| {
            Vouch::Refused(Refusal {
                login: fork.told.into(),
                reason,
            })
        };
        if auth.fork_pull_requests == ForkPolicy::Never {
            return refused(RefusalReason::ForksNeverRun);
        }
        match approval_of(
            &self.config,
            facts.repository_name,
            facts.approvals,
            facts.approvers,
            &fork.head,
            needs,
        ) {
            HeadVouched::Unapproved if facts.approvals_unreadable => {
                Vouch::Waits(Deferral::ApprovalsUnknown {
                    number: fork.number,
                })
            }
            HeadVouched::Unapproved => refused(RefusalReason::ForkNeedsApproval {
                head_sha: fork.head.clone(),
            }),
            HeadVouched::Stands => Vouch::Stands,
            HeadVouched::Ask(login) => {
                Vouch::Waits(Deferral::ApproverPermissionUnanswered { login })
            }
            HeadVouched::Short { approver, has } => Vouch::Short {
                approver,
                needs,
                has,
            },
        }
    }

    /// The highest permission `who` may start agents with, as far as can be told now
    /// (what [`Planner::authorization`] allows, `allowed_users` and teams included), for
    /// a caller that judges it against several thresholds at once (an approval, which
    /// stands for each agent only as far as this reaches); `Err` while GitHub has not
    /// said.
    pub(super) fn standing(
        &self,
        who: Requester<'_>,
        association: Option<&AuthorAssociation>,
        facts: &Facts<'_>,
    ) -> Result<Permission, Deferral> {
        let mut has = Permission::None;
        for level in [
            Permission::Read,
            Permission::Triage,
            Permission::Write,
            Permission::Maintain,
            Permission::Admin,
        ] {
            match self.authorization(who, association, facts, level) {
                MayStart::Allowed => has = level,
                MayStart::Refused(_) => break,
                MayStart::Undecided => {
                    return Err(Deferral::PermissionUnanswered {
                        login: who.login.into(),
                    });
                }
            }
        }
        Ok(has)
    }

    /// Whether a fork pull request's code may run at `head` for someone the repository
    /// does not trust: `None` when it may, else why not (`requested_by` is told).
    /// A fork's code never runs with a token that can write: whatever the code makes the
    /// agent do, it could do with the token (push, open pull requests, comment as the
    /// App). Unless the operator trusts every fork outright (`fork_pull_requests: always`).
    fn fork_write_refusal(&self, agent: &Agent, requested_by: &str) -> Option<Decision> {
        write_token_refusal(&self.config, agent).map(|reason| {
            Decision::Refuse(Refusal {
                login: requested_by.into(),
                reason,
            })
        })
    }
}

/// Why a fork's code may not run `agent` under `config`: its token could write, and only
/// `fork_pull_requests: always` trusts a fork with that. `None`: it may.
pub(super) fn write_token_refusal(config: &Config, agent: &Agent) -> Option<RefusalReason> {
    if config.github.authorization.fork_pull_requests == ForkPolicy::Always {
        return None;
    }
    let writes = agent.github_token.writes();
    (!writes.is_empty()).then(|| RefusalReason::ForkWithWriteToken {
        agent: agent.name.clone(),
        writes: super::reasons::TokenWrites(writes.into_iter().map(str::to_owned).collect()),
    })
}

/// [`Planner::needs`] under `config`.
pub(super) fn needs_in(config: &Config, agent: &str, kind: TriggerKind) -> Permission {
    let t = config
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
    own.unwrap_or(config.github.authorization.min_permission)
}

/// How the approvals of a fork's `head` stand for an agent that needs `needs` (see
/// [`approval_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeadVouched {
    /// Nobody approved exactly that head.
    Unapproved,
    /// Someone who approved it may start the agent now.
    Stands,
    /// What GitHub says of this approver now is not known yet, and the approvals judged
    /// before them do not do: ask it (or, asked and unanswered, wait for it).
    Ask(Login),
    /// It was approved, but by nobody who may start the agent now: the best of the
    /// approvers, and what they have.
    Short { approver: Login, has: Permission },
}

/// Whether an approval of `head` among `approvals` lets a fork's code run an agent that
/// needs `needs`: an approval counts only as far as its approver may start the agent now
/// (outside review 11d, A1), judged as anyone is in `repository` under `config` (an
/// `allowed_users` entry, or an `allowed_in` entry that takes the repository in; teams are
/// not asked of an approver), by what GitHub says of them now (`known`). Every event at
/// the head and every run done again there (review 15e, E1) is held to it.
pub(super) fn approval_of(
    config: &Config,
    repository: Option<&RepoFullName>,
    approvals: &[super::HeadApproval],
    known: &[ApproverAuthority],
    head: &crate::github::event::CommitSha,
    needs: Permission,
) -> HeadVouched {
    let approvers = super::approval::approvers_of(approvals, head);
    if approvers.is_empty() {
        return HeadVouched::Unapproved;
    }
    let mut best: Option<(&Login, Permission)> = None;
    for login in approvers {
        let facts = Facts {
            authority: ApproverAuthority::known(known, login),
            repository_name: repository,
            ..Facts::default()
        };
        match may_start(
            config,
            Requester {
                login: login.as_str(),
                id: None,
            },
            None,
            &facts,
            needs,
        ) {
            MayStart::Allowed => return HeadVouched::Stands,
            // Asked only when the approvals already known do not do.
            MayStart::Undecided => return HeadVouched::Ask(login.clone()),
            MayStart::Refused(reason) => {
                let has = match reason {
                    RefusalReason::NotAuthorized { has, .. } => has,
                    _ => Permission::None,
                };
                if best.is_none_or(|(_, best)| has > best) {
                    best = Some((login, has));
                }
            }
        }
    }
    let (approver, has) = best.map_or((Login::default(), Permission::None), |(l, has)| {
        (l.clone(), has)
    });
    HeadVouched::Short { approver, has }
}

/// [`Planner::authorization`] under `config`: for a caller that holds the config but not
/// the planner (a run done again, judged by the launcher: `again.rs`).
pub(super) fn may_start(
    config: &Config,
    who: Requester<'_>,
    association: Option<&AuthorAssociation>,
    facts: &Facts<'_>,
    needs: Permission,
) -> MayStart {
    let auth = &config.github.authorization;
    // `allowed_users` and `allowed_teams` stand in for the global `min_permission`, not
    // for a trigger's own above it: `min_permission: admin` on a trigger means admins,
    // whoever is listed (outside review 11d, A4; before, a listed reader started an
    // admin-only agent). Above it, they are judged by their permission as anyone is.
    let listed = needs <= auth.min_permission;
    // The installation's lists, and the `allowed_in` entries of the event's repository.
    let here = facts.repository_name.map(RepoFullName::as_str);
    // An entry pinned to another account than the one holding its login now (a login
    // freed by a rename and taken) grants nothing: they are judged as anyone is, and
    // told what anyone is, never the id the entry names.
    let in_lists = auth.users_in(here).any(|u| u.is(who.login, who.id))
        || facts.teams.iter().any(|t| {
            auth.teams_in(here)
                .any(|a| a.as_str().eq_ignore_ascii_case(t))
        });
    if listed && in_lists {
        return MayStart::Allowed;
    }
    // Refused above what the lists stand in for: told what GitHub says they have, and what
    // the lists let them in as (review 15e, E8; 15f, G5).
    let refused = |has: Permission, inferred: bool| {
        MayStart::Refused(RefusalReason::NotAuthorized {
            has,
            needs,
            inferred,
            allowed_as: (in_lists && auth.min_permission > has).then_some(auth.min_permission),
        })
    };
    match facts.authority {
        Authority::Known(has) if has >= needs => MayStart::Allowed,
        // A team might still allow them.
        Authority::Known(_) if facts.teams_unanswered && listed => MayStart::Undecided,
        Authority::Known(has) => refused(has, false),
        Authority::Preview => match association {
            Some(a) if permission_from_association(a) < needs => {
                refused(permission_from_association(a), true)
            }
            _ => MayStart::Allowed,
        },
        // GitHub was asked and did not answer. Someone who is no collaborator or member
        // can at most read: refused at once. Anyone else waits for GitHub's answer; the
        // association never grants.
        Authority::Unanswered => match association {
            Some(a) if !may_be_collaborator(a) && Permission::Read < needs => {
                refused(Permission::Read, true)
            }
            _ => MayStart::Undecided,
        },
        Authority::NotAsked => MayStart::Undecided,
        Authority::Unavailable => MayStart::Refused(RefusalReason::PermissionUnavailable),
    }
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
