//! Who may start what, judged once for every trigger: the requester's permission against
//! each agent's threshold, and the fork policy for a fork's code.

use crate::config::{Agent, Config, ForkPolicy, Permission};
use crate::github::event::AuthorAssociation;

use super::{
    Authority, Decision, Deferral, Facts, Planner, Refusal, RefusalReason, TriggerKind, ending_with,
};

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

    /// Keeps the launches `login` may start, each judged by its agent's threshold for
    /// `kind`; the first refusal closes the decisions, and an undecided one defers them
    /// all (the delivery is decided again when GitHub answers).
    pub(super) fn gate(
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
    pub(super) fn fork_write_refusal(&self, agent: &Agent, requested_by: &str) -> Option<Decision> {
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

    pub(super) fn fork_gate(
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
