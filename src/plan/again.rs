//! A run done again (`/agent retry`, GitHub's "Re-run"), and a recorded run about to get
//! its pod: held, with the config in force, to what starting its agent afresh would need.
//!
//! Which run a retry or a Re-run repeats is known only once the launcher has found it, so
//! the planner hands the launcher an [`Again`]: who asks, what they may start, and the
//! config in force; the launcher asks it about the run it found ([`Again::judge`]). The
//! controller asks [`Planner::fork_code_refusal`] about every run before it mints a token
//! or renders it.

use std::sync::Arc;

use crate::config::{Config, ForkPolicy, Permission};
use crate::github::event::AuthorAssociation;

use super::authority::{Verdict, needs_in, write_token_refusal};
use super::{Facts, Planner, Refusal, RefusalReason, Trigger, TriggerKind};

/// Who asks for a run again, and what they may start, under the config in force when
/// they asked (outside review 11c, A2 and A3).
#[derive(Clone)]
pub struct Again {
    config: Arc<Config>,
    login: String,
    /// The highest permission they may start agents with (`admin` for those
    /// `allowed_users` or `allowed_teams` let in).
    has: Permission,
    /// `has` was judged by the payload's association (a preview).
    inferred: bool,
}

impl std::fmt::Debug for Again {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Again")
            .field("login", &self.login)
            .field("has", &self.has)
            .field("inferred", &self.inferred)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Again {
    fn eq(&self, other: &Again) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
            && self.login == other.login
            && self.has == other.has
            && self.inferred == other.inferred
    }
}

impl Eq for Again {}

impl Again {
    /// Whether the run of `agent`, started by `trigger`, may run again for them: they
    /// need what its trigger needs (the higher of its own `min_permission` and the global
    /// one), and a fork's code (`fork`) meets the fork policy in force: never with
    /// `fork_pull_requests: never`, and never with a token that can write unless it is
    /// `always`. `Err` says why not, to them.
    pub fn judge(&self, agent: &str, trigger: &Trigger, fork: bool) -> Result<(), Refusal> {
        let refused = |reason| {
            Err(Refusal {
                login: self.login.clone(),
                reason,
            })
        };
        let global = self.config.github.authorization.min_permission;
        let needs = needs_in(&self.config, agent, kind_of(trigger)).max(global);
        if self.has < needs {
            return refused(RefusalReason::NotAuthorized {
                has: self.has,
                needs,
                inferred: self.inferred,
            });
        }
        match fork_refusal(&self.config, agent) {
            Some(reason) if fork => refused(reason),
            _ => Ok(()),
        }
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
            .take_while(|p| self.authorization(who, association, facts, *p) == Verdict::Allowed)
            .last()
            .unwrap_or(Permission::None);
        Again {
            config: self.config.clone(),
            login: who.login.to_string(),
            has,
            inferred: facts.authority == super::Authority::Preview,
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
    pub fn fork_code_refusal(&self, agent: &str, requested_by: &str) -> Option<Refusal> {
        fork_refusal(&self.config, agent).map(|reason| Refusal {
            login: requested_by.to_string(),
            reason,
        })
    }
}

/// The fork policy and the write-token rule of the config in force, for `agent`.
fn fork_refusal(config: &Config, agent: &str) -> Option<RefusalReason> {
    if config.github.authorization.fork_pull_requests == ForkPolicy::Never {
        return Some(RefusalReason::ForksNeverRun);
    }
    let agent = config.agents.iter().find(|a| a.name.as_str() == agent)?;
    write_token_refusal(config, agent)
}

/// Which trigger of its agent a run's trigger is.
fn kind_of(trigger: &Trigger) -> TriggerKind {
    match trigger {
        Trigger::PullRequest { .. } => TriggerKind::PullRequest,
        Trigger::Issues { .. } => TriggerKind::Issues,
        Trigger::Comment { .. } => TriggerKind::Comment,
        Trigger::Push => TriggerKind::Push,
        Trigger::Release { .. } => TriggerKind::Release,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::{self, Admin, Read, Write};
    use crate::plan::{Planner, Trigger};

    /// A row: `github.authorization`, `agents`, what the one asking has, and the run asked
    /// for again (its agent, the trigger that started it, whether its code is a fork's).
    struct Row {
        story: &'static str,
        authorization: &'static str,
        agents: &'static str,
        has: Permission,
        agent: &'static str,
        trigger: Trigger,
        fork: bool,
        expect: &'static str,
    }

    fn comment(verb: &str) -> Trigger {
        Trigger::Comment {
            verb: verb.into(),
            comment_id: 1,
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
                fork: false,
                expect: "refuse @someone: NotAuthorized { has: Write, needs: Admin, inferred: false }",
            },
            Row {
                story: "an admin's retry of it runs",
                authorization: "{}",
                agents: DEPLOY,
                has: Admin,
                agent: "deploy",
                trigger: comment("deploy"),
                fork: false,
                expect: "again",
            },
            Row {
                story: "a trigger below the global minimum does not lower it",
                authorization: "{min_permission: admin}",
                agents: "[{name: open, triggers: {comment: {verbs: [open], min_permission: read}}}]",
                has: Write,
                agent: "open",
                trigger: comment("open"),
                fork: false,
                expect: "refuse @someone: NotAuthorized { has: Write, needs: Admin, inferred: false }",
            },
            Row {
                story: "the trigger that started the run decides, not another of its agent",
                authorization: "{}",
                agents: "[{name: deep, triggers: {pull_request: {min_permission: admin}, comment: {verbs: [deep]}}}]",
                has: Write,
                agent: "deep",
                trigger: comment("deep"),
                fork: false,
                expect: "again",
            },
            Row {
                story: "... so the run its pull request trigger started needs admin",
                authorization: "{}",
                agents: "[{name: deep, triggers: {pull_request: {min_permission: admin}, comment: {verbs: [deep]}}}]",
                has: Write,
                agent: "deep",
                trigger: opened(),
                fork: false,
                expect: "refuse @someone: NotAuthorized { has: Write, needs: Admin, inferred: false }",
            },
            Row {
                story: "with fork_pull_requests: never a fork's code does not run again, whoever asks",
                authorization: "{fork_pull_requests: never}",
                agents: REVIEW,
                has: Admin,
                agent: "review",
                trigger: comment("review"),
                fork: true,
                expect: "refuse @someone: ForksNeverRun",
            },
            Row {
                story: "a fork's code does not run again with a token that can write",
                authorization: "{}",
                agents: FIXER,
                has: Admin,
                agent: "fixer",
                trigger: comment("fix"),
                fork: true,
                expect: "refuse @someone: ForkWithWriteToken { agent: \"fixer\", writes: \"contents\" }",
            },
            Row {
                story: "unless the operator trusts every fork",
                authorization: "{fork_pull_requests: always}",
                agents: FIXER,
                has: Write,
                agent: "fixer",
                trigger: comment("fix"),
                fork: true,
                expect: "again",
            },
            Row {
                story: "a fork's code, approved, runs again with a token that only reads",
                authorization: "{}",
                agents: REVIEW,
                has: Write,
                agent: "review",
                trigger: opened(),
                fork: true,
                expect: "again",
            },
            Row {
                story: "the repository's own code meets no fork policy",
                authorization: "{fork_pull_requests: never}",
                agents: FIXER,
                has: Write,
                agent: "fixer",
                trigger: comment("fix"),
                fork: false,
                expect: "again",
            },
            Row {
                story: "a reader may run nothing again",
                authorization: "{}",
                agents: REVIEW,
                has: Read,
                agent: "review",
                trigger: opened(),
                fork: false,
                expect: "refuse @someone: NotAuthorized { has: Read, needs: Write, inferred: false }",
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
            let found =
                match planner
                    .again_as("someone", row.has)
                    .judge(row.agent, &row.trigger, row.fork)
                {
                    Ok(()) => "again".to_string(),
                    Err(r) => format!("refuse @{}: {:?}", r.login, r.reason),
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
