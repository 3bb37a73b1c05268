//! Who may start what, judged once for every trigger: the requester's permission against
//! each agent's threshold, and the fork policy for a fork's code.

use crate::config::{Agent, Config, ForkPolicy, Permission};
use crate::github::event::{AuthorAssociation, User};

use super::{
    Authority, Decision, Deferral, Facts, ForkCode, Planner, Refusal, RefusalReason, TriggerKind,
    ending_with,
};

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
            login: &user.login,
            id: Some(user.id),
        }
    }
}

/// Whether a person may start agents, as far as can be told now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
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
    ) -> Verdict {
        let auth = &self.config.github.authorization;
        // An entry pinned to another account than the one holding its login now (a login
        // freed by a rename and taken) grants nothing: they are judged as anyone is, and
        // told what anyone is, never the id the entry names.
        if auth.allowed_users.iter().any(|u| u.is(who.login, who.id)) {
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
    pub(super) fn unless_allowed(&self, verdict: Verdict, login: &str) -> Option<Decision> {
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
        for decision in out {
            let Decision::Launch(launch) = &decision else {
                kept.push(decision);
                continue;
            };
            let needs = self.needs(&launch.agent, kind);
            match self.unless_allowed(
                self.authorization(who, association, facts, needs),
                who.login,
            ) {
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

    /// The fork policy, judged once for every trigger whose launches would run a fork's
    /// code (`fork`): unless the code is an author's the repository trusts for every agent
    /// launched, it runs only at a head a maintainer approved (else one refusal stands
    /// where the launches were, or the delivery waits); and never with a token that can
    /// write (each such launch is refused).
    pub(super) fn fork_policy(
        &self,
        decisions: Vec<Decision>,
        fork: &ForkCode<'_>,
        facts: &Facts<'_>,
    ) -> Vec<Decision> {
        let launched = |d: &Decision| match d {
            Decision::Launch(launch) => Some(launch.agent.clone()),
            _ => None,
        };
        let agents: Vec<String> = decisions.iter().filter_map(launched).collect();
        if agents.is_empty() {
            return decisions;
        }
        let mut trusted = fork.author.is_some();
        if let Some((author, association)) = fork.author {
            for agent in &agents {
                let needs = self.needs(agent, TriggerKind::PullRequest);
                match self.authorization(author, Some(association), facts, needs) {
                    Verdict::Allowed => {}
                    Verdict::Undecided => {
                        return vec![Decision::Defer(Deferral::PermissionUnanswered {
                            login: author.login.to_string(),
                        })];
                    }
                    Verdict::Refused(_) => trusted = false,
                }
            }
        }
        if !trusted && let Some(refused) = self.fork_gate(fork.number, &fork.head, fork.told, facts)
        {
            if matches!(refused, Decision::Defer(_)) {
                return vec![refused];
            }
            let mut refused = Some(refused);
            let mut out = Vec::with_capacity(decisions.len());
            for decision in decisions {
                match decision {
                    Decision::Launch(_) => out.extend(refused.take()),
                    other => out.push(other),
                }
            }
            return out;
        }
        decisions
            .into_iter()
            .map(|decision| match decision {
                Decision::Launch(launch) => {
                    let agent = self
                        .config
                        .agents
                        .iter()
                        .find(|a| a.name.as_str() == launch.agent);
                    match agent.and_then(|a| self.fork_write_refusal(a, &launch.requested_by)) {
                        Some(refused) => refused,
                        None => Decision::Launch(launch),
                    }
                }
                other => other,
            })
            .collect()
    }

    /// Whether a fork pull request's code may run at `head` for someone the repository
    /// does not trust: `None` when it may, else why not (`requested_by` is told).
    /// A fork's code never runs with a token that can write: whatever the code makes the
    /// agent do, it could do with the token (push, open pull requests, comment as the
    /// App). Unless the operator trusts every fork outright (`fork_pull_requests: always`).
    fn fork_write_refusal(&self, agent: &Agent, requested_by: &str) -> Option<Decision> {
        write_token_refusal(&self.config, agent).map(|reason| {
            Decision::Refuse(Refusal {
                login: requested_by.to_string(),
                reason,
            })
        })
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
            ForkPolicy::Approve if super::approval::approves(facts.approvals, head) => return None,
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
/// [`Planner::needs`] under `config`.
/// Why a fork's code may not run `agent` under `config`: its token could write, and only
/// `fork_pull_requests: always` trusts a fork with that. `None`: it may.
pub(super) fn write_token_refusal(config: &Config, agent: &Agent) -> Option<RefusalReason> {
    if config.github.authorization.fork_pull_requests == ForkPolicy::Always {
        return None;
    }
    let writes = agent.github_token.writes();
    (!writes.is_empty()).then(|| RefusalReason::ForkWithWriteToken {
        agent: agent.name.to_string(),
        writes: writes.join(", "),
    })
}

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
