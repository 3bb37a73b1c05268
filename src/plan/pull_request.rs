//! `pull_request` events, and a fork pull request's head a maintainer approved: which
//! agents start, and the fork policy for a fork's code.

use crate::config::{Agent, AgentName};
use crate::github::event::{
    Event, PullRequest, PullRequestAction, PullRequestEvent, User, WebhookEvent,
};

use super::RunKey;
use super::{
    AgentFilters, ApproverAuthority, Authority, ChangedFiles, Control, Decision, Facts, ForkCode,
    HeadApproval, Hears, IgnoreReason, Planned, Planner, Refusal, RefusalReason, Requester,
    SkipReason, Subject, Trigger, TriggerKind, acting, action_not_listed, login,
};

/// The parts of a pull request event the planner reads: a delivery's, or those of an
/// approved head (see [`Planner::plan_approved`]).
struct PullRequestAt<'e> {
    /// The repository's `owner/name`, when the event names one.
    repository: Option<&'e str>,
    sender: Option<&'e User>,
    pr: &'e PullRequest,
    action: &'e PullRequestAction,
}

/// What a maintainer's approval of a fork pull request's head starts.
#[derive(Debug, Clone)]
pub struct ApprovedRuns {
    /// The launches, and the agents skipped, as for a push of that head.
    pub decisions: Vec<Decision>,
    /// The pull request event the runs were planned as ([`approved_event`]: the approved
    /// head as a push of it), which is also what their templates see; their stored source
    /// holds the comment that approved it (`plan::Trigger::Approved`).
    pub event: WebhookEvent,
}

impl Planner {
    pub(super) fn plan_pull_request<'e>(
        &self,
        event: &'e WebhookEvent,
        e: &'e PullRequestEvent,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> Planned<'e> {
        let at = PullRequestAt {
            repository: event.repository.as_ref().map(|r| r.full_name.as_str()),
            sender: event.sender.as_ref(),
            pr: &e.pull_request,
            action: &e.action,
        };
        self.pull_request_at(&at, delivery, facts)
    }

    /// The agents of pull request `pr` at its head, which a maintainer approved by the
    /// `approve` in `comment` (an `issue_comment` event): planned as a push of that head
    /// (`pull_request.synchronize`) is, with `approval` the one approval (an approval of
    /// another commit lets nothing run), and its approver's permission now as what
    /// vouches for each agent. Only the launches and the skips (an agent whose token can
    /// write among them): the comment's own delivery says the rest. `delivery` names the
    /// runs (the comment delivery's run key).
    pub fn plan_approved(
        &self,
        comment: &WebhookEvent,
        pr: &PullRequest,
        approval: &HeadApproval,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> ApprovedRuns {
        let event = approved_event(comment, pr);
        if self.own_sender(comment.sender.as_ref(), facts).is_some() {
            return ApprovedRuns {
                decisions: Vec::new(),
                event,
            };
        }
        let (approver, association) = match &comment.event {
            Event::IssueComment(c) => (
                Requester::from(&c.comment.user),
                &c.comment.author_association,
            ),
            _ => (
                acting(comment.sender.as_ref(), &pr.user),
                &pr.author_association,
            ),
        };
        // The approver stands in for an author who has too little, so each agent stands
        // only if the approver may start it by its `pull_request` trigger (the higher of
        // its `min_permission` and the global one; outside review 11c, A1): judged by the
        // fork policy, with this approval alone and what the approver may do now.
        let has = match self.standing(approver, Some(association), facts) {
            Ok(has) => has,
            Err(waits) => {
                return ApprovedRuns {
                    decisions: vec![Decision::Defer(waits)],
                    event,
                };
            }
        };
        let approvals = [approval.clone()];
        let approvers = [ApproverAuthority {
            login: approval.approved_by.clone(),
            authority: Authority::Known(has),
        }];
        let approved = Facts {
            approvals: &approvals,
            approvers: &approvers,
            ..facts.clone()
        };
        let at = PullRequestAt {
            repository: comment.repository.as_ref().map(|r| r.full_name.as_str()),
            sender: comment.sender.as_ref(),
            pr,
            action: &PullRequestAction::Synchronize,
        };
        let mut planned = self.pull_request_at(&at, delivery, &approved);
        if let Some(fork) = &mut planned.fork {
            // Under `always`, a trigger's own `min_permission` holds for the approver.
            fork.owner = Some((approver, association));
        }
        let decisions: Vec<Decision> = self
            .judge(&event, planned, &approved)
            .into_iter()
            .filter_map(|d| match d {
                // An agent refused because its token can write is named in the reply
                // (outside review 11d, A9: before, it was left out in silence).
                Decision::Refuse(Refusal {
                    reason: RefusalReason::ForkWithWriteToken { agent, writes },
                    ..
                }) => Some(Decision::Skip {
                    agent,
                    reason: SkipReason::ForkWithWriteToken { writes },
                }),
                d @ (Decision::Launch(_) | Decision::Skip { .. } | Decision::Defer(_)) => Some(d),
                _ => None,
            })
            .collect();
        let decisions = match decisions.iter().find(|d| matches!(d, Decision::Defer(_))) {
            Some(waits) => vec![waits.clone()],
            None => decisions,
        };
        // What the approvals of this head given before (by others) start already is not
        // started again: before, a second approval superseded the run of the first and
        // started it over (review 15f, G2). Judged as a push of the head would be now, so
        // an earlier approver who lost their access starts nothing, and this approval does.
        let earlier: Vec<HeadApproval> = facts
            .approvals
            .iter()
            // Not this comment's own, recorded by an earlier try of this delivery.
            .filter(|a| {
                a.stands_for(&approval.sha)
                    && (a.comment_id.is_none() || a.comment_id != approval.comment_id)
            })
            .cloned()
            .collect();
        let decisions = match earlier.first() {
            Some(_) if decisions.iter().any(|d| matches!(d, Decision::Launch(_))) => {
                let before = Facts {
                    approvals: &earlier,
                    ..facts.clone()
                };
                let planned = self.pull_request_at(&at, delivery, &before);
                let vouched = self.judge(&event, planned, &before);
                if let Some(waits) = vouched.iter().find(|d| matches!(d, Decision::Defer(_))) {
                    return ApprovedRuns {
                        decisions: vec![waits.clone()],
                        event,
                    };
                }
                let started: Vec<&AgentName> = vouched
                    .iter()
                    .filter_map(|d| match d {
                        Decision::Launch(launch) => Some(&launch.agent),
                        _ => None,
                    })
                    .collect();
                decisions
                    .into_iter()
                    .map(|d| match d {
                        Decision::Launch(launch) if started.contains(&&launch.agent) => {
                            Decision::Skip {
                                agent: launch.agent,
                                reason: SkipReason::ApprovedBefore,
                            }
                        }
                        d => d,
                    })
                    .collect()
            }
            _ => decisions,
        };
        // The approver is told what GitHub says they have, and what the lists of
        // github.authorization let them in as, not the one for the other (review 15e, E8).
        let decisions = match facts.authority {
            Authority::Known(github) if github < has => decisions
                .into_iter()
                .map(|d| match d {
                    Decision::Skip {
                        agent,
                        reason:
                            SkipReason::ApproverNeeds {
                                approver,
                                needs,
                                has: _,
                                allowed_as: _,
                            },
                    } => Decision::Skip {
                        agent,
                        reason: SkipReason::ApproverNeeds {
                            approver,
                            needs,
                            has: github,
                            allowed_as: Some(has),
                        },
                    },
                    d => d,
                })
                .collect(),
            _ => decisions,
        };
        ApprovedRuns { decisions, event }
    }

    fn pull_request_at<'e>(
        &self,
        at: &PullRequestAt<'e>,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> Planned<'e> {
        let pr = at.pr;
        let sender = login(at.sender, &pr.user);
        let mut out = Vec::new();
        if *at.action == PullRequestAction::Closed {
            out.push(Decision::Control(Control::CancelPullRequest {
                number: pr.number,
                asked_at: pr.closed_at,
            }));
        }
        let heard = self.hear(at.repository, |agent, filters| {
            verdict(agent, filters, pr, at.action, facts)
        });
        if !heard.listening {
            out.push(Decision::ignore(IgnoreReason::NobodyListens {
                event: "pull_request",
            }));
            return Planned::decided(out);
        }
        out.extend(heard.skips());
        let matched = heard.matched();
        // A fork's agents waiting for the changed files meet the fork policy first, so
        // that the files are read only at a head that may run (see `fork_policy`).
        let files_wait = pr.is_fork()
            && out.iter().any(|d| {
                matches!(
                    d,
                    Decision::Skip {
                        reason: SkipReason::ChangedFilesUnknown,
                        ..
                    }
                )
            });
        if matched.is_empty() && !files_wait {
            return Planned::decided(out);
        }
        for agent in matched {
            out.push(self.launch(
                agent,
                delivery,
                "",
                Trigger::PullRequest {
                    action: at.action.clone(),
                },
                Subject::PullRequest {
                    number: pr.number,
                    head_sha: Some(pr.head.sha.clone()),
                },
                sender,
                None,
            ));
        }
        let author = pr.user.login.as_str();
        if pr.is_fork() {
            // Whose code would run: the fork's owner's, and whoever it lets push. It is the
            // author's own only when the fork is the author's and the author caused this
            // event; then an author the repository does not trust (for any of the agents)
            // meets the fork policy. Someone else's push to it, a pull request a maintainer
            // opened from another's fork (outside review A1), or a fork that is gone (no
            // owner to tell) meet it whoever the author is. The fork policy decides whose
            // code may run, not the sender's permission (`Planner::fork_policy`).
            let sent_by_author = sender.is(author);
            let authors_fork = pr
                .head
                .repo
                .as_ref()
                .is_some_and(|r| r.owner().eq_ignore_ascii_case(author));
            return Planned::decided(out).running(ForkCode {
                number: pr.number,
                head: pr.head.sha.clone(),
                told: if sent_by_author {
                    author
                } else {
                    sender.as_str()
                },
                author: (sent_by_author && authors_fork)
                    .then_some((Requester::from(&pr.user), &pr.author_association)),
                owner: Some((Requester::from(&pr.user), &pr.author_association)),
            });
        }
        let association = (sender == author).then_some(&pr.author_association);
        let who = acting(at.sender, &pr.user);
        Planned::asked_by(out, who, association, TriggerKind::PullRequest)
    }
}

/// What `agent`'s `pull_request` trigger says of `pr` and `action`.
fn verdict(
    agent: &Agent,
    filters: &AgentFilters,
    pr: &PullRequest,
    action: &PullRequestAction,
    facts: &Facts<'_>,
) -> Hears {
    let Some(t) = &agent.triggers.pull_request else {
        return Hears::NotListening;
    };
    if let Some(reason) = action_not_listed("pull_request", action, &t.actions) {
        return Hears::Skip(reason);
    }
    if pr.draft && !t.draft {
        return Hears::Skip(SkipReason::Draft);
    }
    if let Some(branches) = &filters.pr_branches
        && !branches.is_match(&pr.base.ref_name)
    {
        return Hears::Skip(SkipReason::BaseBranch {
            branch: pr.base.ref_name.to_string(),
        });
    }
    if !t.labels.is_empty() && !pr.labels.iter().any(|l| t.labels.contains(l)) {
        return Hears::Skip(SkipReason::NoLabel {
            is_issue: false,
            labels: t.labels.clone(),
        });
    }
    if filters.pr_paths.is_some() || filters.pr_paths_ignore.is_some() {
        let (files, all) = match facts.changed_files {
            ChangedFiles::Unknown => return Hears::Skip(SkipReason::ChangedFilesUnknown),
            ChangedFiles::Some(files) => (files, false),
            ChangedFiles::All(files) => (files, true),
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
            // None of the files read so far: the rest may hold one.
            return Hears::Skip(if all {
                SkipReason::NoPathMatches
            } else {
                SkipReason::ChangedFilesUnknown
            });
        }
    }
    Hears::Start
}

/// How an approval's runs are planned and rendered: as a push of the approved head of `pr`
/// would be (`pull_request.synchronize`), in `comment`'s repository, sent by its sender, at
/// its signed time. A view made from the approving comment and the pull request, never
/// stored as the run's event: a run records the comment and a `Trigger::Approved`, and
/// `render` makes this view of it again (GitHub sent no such delivery).
pub fn approved_event(comment: &WebhookEvent, pr: &PullRequest) -> WebhookEvent {
    WebhookEvent {
        name: "pull_request".into(),
        event: Event::PullRequest(PullRequestEvent {
            action: PullRequestAction::Synchronize,
            number: pr.number,
            pull_request: pr.clone(),
            label: None,
            before: None,
            after: Some(pr.head.sha.clone()),
        }),
        repository: comment.repository.clone(),
        sender: comment.sender.clone(),
        installation_id: comment.installation_id,
        signed_at: comment.signed_at,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::{Admin, Read, Write};
    use crate::plan::table::{Given, Row, check, row};

    const OPENED: &str = "webhooks/pull_request/opened.json";
    const FORK: &str = "variants/pull_request/fork-opened.json";
    const FORK_HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
    const REVIEW: &str = "[{name: review, triggers: {pull_request: {}}}]";
    /// The review, and `deep`, which only admins may start by a pull request.
    const DEEP: &str = "[{name: review, triggers: {pull_request: {actions: [opened, reopened, labeled]}}}, {name: deep, triggers: {pull_request: {min_permission: admin, actions: [opened, reopened, labeled]}}}]";

    fn changed(files: &[&str]) -> Given {
        Given {
            changed_files: Some(files.iter().map(|f| f.to_string()).collect()),
            ..Given::preview()
        }
    }

    /// The first of the changed files: more follow, unread.
    fn changed_first(files: &[&str]) -> Given {
        Given {
            changed_files_partly: true,
            ..changed(files)
        }
    }

    /// Every way a pull request event starts an agent or does not: each skip reason,
    /// who may start it, and the fork policy (never, approve, always; a write token).
    #[test]
    fn a_pull_request_starts_its_agents_or_says_why_not() {
        check(&[
            Row {
                story: "a pull request opened by its owner starts the review",
                agents: REVIEW,
                payload: OPENED,
                expect: "launch review",
                ..row()
            },
            Row {
                story: "an action the trigger does not list skips it; a close cancels the runs",
                agents: REVIEW,
                payload: "webhooks/pull_request/closed.json",
                expect: "control: CancelPullRequest, skip review: ActionNotListed",
                ..row()
            },
            Row {
                story: "a close cancels the runs even when no agent listens to pull requests",
                agents: "[{name: task, triggers: {comment: {verbs: [run]}}}]",
                payload: "webhooks/pull_request/closed.json",
                expect: "control: CancelPullRequest, ignore: NobodyListens",
                ..row()
            },
            Row {
                story: "a draft is skipped",
                agents: REVIEW,
                payload: "variants/pull_request/draft-opened.json",
                expect: "skip review: Draft",
                ..row()
            },
            Row {
                story: "a draft runs when the trigger sets draft",
                agents: "[{name: review, triggers: {pull_request: {draft: true}}}]",
                payload: "variants/pull_request/draft-opened.json",
                expect: "launch review",
                ..row()
            },
            Row {
                story: "a base branch none of the branches globs match is skipped",
                agents: "[{name: review, triggers: {pull_request: {branches: [main]}}}]",
                payload: OPENED,
                expect: "skip review: BaseBranch",
                ..row()
            },
            Row {
                story: "a base branch a glob matches runs",
                agents: "[{name: review, triggers: {pull_request: {branches: ['mas*']}}}]",
                payload: OPENED,
                expect: "launch review",
                ..row()
            },
            Row {
                story: "a pull request without one of the labels is skipped",
                agents: "[{name: review, triggers: {pull_request: {labels: [agent]}}}]",
                payload: OPENED,
                expect: "skip review: NoLabel",
                ..row()
            },
            Row {
                story: "a pull request with one of the labels runs",
                agents: "[{name: review, triggers: {pull_request: {labels: [agent]}}}]",
                payload: OPENED,
                edit: |p| p["pull_request"]["labels"] = serde_json::json!([{"name": "agent"}]),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "a paths filter without the changed files is skipped",
                agents: "[{name: review, triggers: {pull_request: {paths: ['src/**']}}}]",
                payload: OPENED,
                expect: "skip review: ChangedFilesUnknown",
                ..row()
            },
            Row {
                story: "a paths filter no changed file matches is skipped",
                agents: "[{name: review, triggers: {pull_request: {paths: ['src/**']}}}]",
                payload: OPENED,
                given: || changed(&["docs/a.md"]),
                expect: "skip review: NoPathMatches",
                ..row()
            },
            Row {
                story: "a paths filter a changed file matches runs",
                agents: "[{name: review, triggers: {pull_request: {paths: ['src/**']}}}]",
                payload: OPENED,
                given: || changed(&["docs/a.md", "src/a.rs"]),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "the first changed files read, one of them matching: runs, whatever the rest are",
                agents: "[{name: review, triggers: {pull_request: {paths: ['src/**']}}}]",
                payload: OPENED,
                given: || changed_first(&["docs/a.md", "src/a.rs"]),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "the first changed files read, none of them matching: not decided until the rest are read",
                agents: "[{name: review, triggers: {pull_request: {paths: ['src/**']}}}]",
                payload: OPENED,
                given: || changed_first(&["docs/a.md"]),
                expect: "skip review: ChangedFilesUnknown",
                ..row()
            },
            Row {
                story: "only ignored files changed: skipped",
                agents: "[{name: review, triggers: {pull_request: {paths_ignore: ['docs/**']}}}]",
                payload: OPENED,
                given: || changed(&["docs/a.md"]),
                expect: "skip review: NoPathMatches",
                ..row()
            },
            Row {
                story: "a file besides the ignored ones changed: runs",
                agents: "[{name: review, triggers: {pull_request: {paths_ignore: ['docs/**']}}}]",
                payload: OPENED,
                given: || changed(&["docs/a.md", "Cargo.toml"]),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "a sender GitHub says may only read is refused",
                agents: REVIEW,
                payload: OPENED,
                given: || Given::known(Read),
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "a writer starts the review",
                agents: REVIEW,
                payload: OPENED,
                given: || Given::known(Write),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "each agent by its own threshold: a writer starts one, not the admin's",
                agents: "[{name: review, triggers: {pull_request: {}}}, {name: deep, triggers: {pull_request: {min_permission: admin}}}]",
                payload: OPENED,
                given: || Given::known(Write),
                expect: "launch review, refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "in a preview, a sender with no association is refused by it",
                agents: REVIEW,
                payload: OPENED,
                edit: |p| p["pull_request"]["author_association"] = "NONE".into(),
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "permission not asked yet: the delivery waits",
                agents: REVIEW,
                payload: OPENED,
                given: || Given {
                    authority: crate::plan::Authority::NotAsked,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "GitHub did not answer: an owner waits",
                agents: REVIEW,
                payload: OPENED,
                given: || Given {
                    authority: crate::plan::Authority::Unanswered,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "GitHub did not answer: someone with no association is refused at once",
                agents: REVIEW,
                payload: OPENED,
                edit: |p| p["pull_request"]["author_association"] = "NONE".into(),
                given: || Given {
                    authority: crate::plan::Authority::Unanswered,
                    ..Given::preview()
                },
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "a reader GitHub might still allow by a team waits for the teams",
                agents: REVIEW,
                payload: OPENED,
                given: || Given {
                    teams_unanswered: true,
                    ..Given::known(Read)
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "no GitHub to ask and runs are real: only allowed_users start agents",
                agents: REVIEW,
                payload: OPENED,
                given: || Given {
                    authority: crate::plan::Authority::Unavailable,
                    ..Given::preview()
                },
                expect: "refuse @Codertocat: PermissionUnavailable",
                ..row()
            },
            Row {
                story: "an allowed user starts agents whatever GitHub says",
                authorization: "{allowed_users: [codertocat]}",
                agents: REVIEW,
                payload: OPENED,
                given: || Given::known(Read),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "what agentpods itself sends starts nothing",
                agents: REVIEW,
                payload: OPENED,
                given: || Given {
                    own_login: Some("codertocat"),
                    ..Given::preview()
                },
                expect: "ignore: OwnSender",
                ..row()
            },
            Row {
                story: "a fork's pull request waits for a maintainer's approval",
                agents: REVIEW,
                payload: FORK,
                expect: "refuse @forker: ForkNeedsApproval",
                ..row()
            },
            Row {
                story: "a fork's pull request runs at the approved head",
                agents: REVIEW,
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    ..Given::known(Read)
                },
                expect: "launch review",
                ..row()
            },
            Row {
                story: "an approval of the pull request's previous head does not run the new one",
                agents: REVIEW,
                payload: FORK,
                given: || Given {
                    approved_sha: Some("89abcdef0123456789abcdef0123456789abcdef"),
                    ..Given::known(Read)
                },
                expect: "refuse @forker: ForkNeedsApproval",
                ..row()
            },
            // An approval recorded of a prefix of the head, or in capitals, is no record's:
            // a record holds full commits (`HeadApproval::sha` is a `CommitSha`; the stored
            // record's read: `cluster::approvals`, `a_stored_record_names_full_commits_or_is_not_read`).
            Row {
                story: "a fork's pull request waits while the approvals cannot be read",
                agents: REVIEW,
                payload: FORK,
                given: || Given {
                    approvals_unreadable: true,
                    ..Given::preview()
                },
                expect: "defer: ApprovalsUnknown",
                ..row()
            },
            Row {
                story: "forks never run where the policy says never",
                authorization: "{fork_pull_requests: never}",
                agents: REVIEW,
                payload: FORK,
                expect: "refuse @forker: ForksNeverRun",
                ..row()
            },
            // Outside review 15b, B1: a fork's changed files are read only at a head that
            // may run; an outsider's 3,000-file pull request cost 30 requests a push.
            Row {
                story: "a paths filter at a fork's head that may not run: its files are not read",
                authorization: "{fork_pull_requests: never}",
                agents: "[{name: review, triggers: {pull_request: {paths: ['docs/**']}}}]",
                payload: FORK,
                expect: "refuse @forker: ForksNeverRun, skip review: ForkFilesUnread",
                ..row()
            },
            Row {
                story: "a paths filter at a fork's head nobody approved: its files are not read",
                agents: "[{name: review, triggers: {pull_request: {paths: ['docs/**']}}}]",
                payload: FORK,
                expect: "refuse @forker: ForkNeedsApproval, skip review: ForkFilesUnread",
                ..row()
            },
            Row {
                story: "a paths filter at a fork's approved head: its files are read",
                agents: "[{name: review, triggers: {pull_request: {paths: ['docs/**']}}}]",
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    ..Given::known(Read)
                },
                expect: "skip review: ChangedFilesUnknown",
                ..row()
            },
            Row {
                story: "a paths filter at the head of a fork's author the repository trusts: its files are read",
                agents: "[{name: review, triggers: {pull_request: {paths: ['docs/**']}}}]",
                payload: FORK,
                given: || Given::known(Admin),
                expect: "skip review: ChangedFilesUnknown",
                ..row()
            },
            Row {
                story: "a paths filter at a fork's head whose author's permission is not known yet: the delivery waits",
                agents: "[{name: review, triggers: {pull_request: {paths: ['docs/**']}}}]",
                payload: FORK,
                given: || Given {
                    authority: crate::plan::Authority::NotAsked,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "forks always run where the policy says always",
                authorization: "{fork_pull_requests: always}",
                agents: REVIEW,
                payload: FORK,
                expect: "launch review",
                ..row()
            },
            Row {
                story: "a fork's author the repository trusts needs no approval",
                agents: REVIEW,
                payload: FORK,
                given: || Given::known(Admin),
                expect: "launch review",
                ..row()
            },
            Row {
                story: "a fork's author whose permission is not known yet: the delivery waits",
                agents: REVIEW,
                payload: FORK,
                given: || Given {
                    authority: crate::plan::Authority::NotAsked,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "a maintainer's pull request from someone else's fork meets the fork \
                        policy: the code is the fork owner's (outside review A1)",
                agents: REVIEW,
                payload: FORK,
                edit: |p| {
                    p["pull_request"]["user"]["login"] = "maintainer".into();
                    p["sender"]["login"] = "maintainer".into();
                },
                given: || Given::known(Admin),
                expect: "refuse @maintainer: ForkNeedsApproval",
                ..row()
            },
            Row {
                story: "a pull request from a fork whose repository is gone meets the fork \
                        policy, whoever opened it",
                agents: REVIEW,
                payload: FORK,
                edit: |p| p["pull_request"]["head"]["repo"] = serde_json::Value::Null,
                given: || Given::known(Admin),
                expect: "refuse @forker: ForkNeedsApproval",
                ..row()
            },
            Row {
                story: "someone else's push to a fork meets the fork policy, and is told",
                agents: REVIEW,
                payload: FORK,
                edit: |p| p["sender"]["login"] = "pusher".into(),
                given: || Given::known(Admin),
                expect: "refuse @pusher: ForkNeedsApproval",
                ..row()
            },
            Row {
                story: "an agent whose token can write never runs a fork's code",
                agents: "[{name: fixer, github_token: {contents: write}, triggers: {pull_request: {}}}, {name: review, triggers: {pull_request: {}}}]",
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    ..Given::preview()
                },
                expect: "refuse @forker: ForkWithWriteToken, launch review",
                ..row()
            },
            Row {
                story: "unless the operator trusts every fork",
                authorization: "{fork_pull_requests: always}",
                agents: "[{name: fixer, github_token: {contents: write}, triggers: {pull_request: {}}}]",
                payload: FORK,
                expect: "launch fixer",
                ..row()
            },
            // An approval stands, per agent, only as far as its approver's permission
            // reaches now (outside review 11d, A1: before, any approval of the head let
            // every agent run on every later event there, whoever had approved it and
            // whatever they had become since).
            Row {
                story: "at a head a writer approved, the fork author's next event starts the \
                        review, not `deep`, which needs admin (before: both launched)",
                agents: DEEP,
                payload: FORK,
                edit: |p| p["action"] = "reopened".into(),
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    approver: Some(crate::plan::Authority::Known(Write)),
                    ..Given::known(Read)
                },
                expect: "launch review, skip deep: ApproverNeeds",
                ..row()
            },
            Row {
                story: "at a head an admin approved, both start",
                agents: DEEP,
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    ..Given::known(Read)
                },
                expect: "launch review, launch deep",
                ..row()
            },
            Row {
                story: "a writer labelling a fork's pull request at a head a writer approved \
                        does not start `deep` either (before: launched)",
                agents: DEEP,
                payload: FORK,
                edit: |p| {
                    p["action"] = "labeled".into();
                    p["sender"]["login"] = "writer1".into();
                },
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    approver: Some(crate::plan::Authority::Known(Write)),
                    ..Given::known(Read)
                },
                expect: "launch review, skip deep: ApproverNeeds",
                ..row()
            },
            Row {
                story: "an approver GitHub now says may only read vouches for nothing, and \
                        the author is told a new approval is needed (before: both launched)",
                agents: DEEP,
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    approver: Some(crate::plan::Authority::Known(Read)),
                    ..Given::known(Read)
                },
                expect: "skip review: ApproverNeeds, skip deep: ApproverNeeds, refuse @forker: ForkApproverNeeds",
                ..row()
            },
            Row {
                story: "until GitHub says what the approver has now, the delivery waits",
                agents: DEEP,
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    approver: Some(crate::plan::Authority::NotAsked),
                    ..Given::known(Read)
                },
                expect: "defer: ApproverPermissionUnanswered",
                ..row()
            },
            Row {
                story: "and while GitHub does not answer, it still waits",
                agents: DEEP,
                payload: FORK,
                given: || Given {
                    approved_sha: Some(FORK_HEAD),
                    approver: Some(crate::plan::Authority::Unanswered),
                    ..Given::known(Read)
                },
                expect: "defer: ApproverPermissionUnanswered",
                ..row()
            },
            Row {
                story: "a fork author who writes vouches for the review themself; `deep` \
                        waits for an admin's approval (before: neither ran unapproved)",
                agents: DEEP,
                payload: FORK,
                given: || Given::known(Write),
                expect: "launch review, refuse @forker: ForkNeedsApproval",
                ..row()
            },
            Row {
                story: "under `always`, a read-only fork author does not start `deep`, whose \
                        trigger needs admin (before: launched)",
                authorization: "{fork_pull_requests: always}",
                agents: DEEP,
                payload: FORK,
                given: || Given::known(Read),
                expect: "launch review, refuse @forker: NotAuthorized",
                ..row()
            },
            Row {
                story: "under `always`, an admin fork author starts both",
                authorization: "{fork_pull_requests: always}",
                agents: DEEP,
                payload: FORK,
                given: || Given::known(Admin),
                expect: "launch review, launch deep",
                ..row()
            },
            Row {
                story: "under `always`, a writer's label on a read-only author's pull request \
                        does not start `deep`: the code is the author's (before: launched)",
                authorization: "{fork_pull_requests: always}",
                agents: DEEP,
                payload: FORK,
                edit: |p| {
                    p["action"] = "labeled".into();
                    p["sender"]["login"] = "writer1".into();
                },
                given: || Given::known(Read),
                expect: "launch review, refuse @forker: NotAuthorized",
            },
            Row {
                story: "an allowed user stands in for the global minimum, not for a trigger's \
                        `admin` (outside review 11d, A4; before: `deep` launched)",
                authorization: "{allowed_users: [codertocat]}",
                agents: DEEP,
                payload: OPENED,
                given: || Given::known(Read),
                expect: "launch review, refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "an allowed user who is an admin starts `deep` as any admin does",
                authorization: "{allowed_users: [codertocat]}",
                agents: DEEP,
                payload: OPENED,
                given: || Given::known(Admin),
                expect: "launch review, launch deep",
                ..row()
            },
        ]);
    }

    /// A maintainer's approval starts the pull request's agents at the approved head, as
    /// a push of it would: the runs are about a `pull_request.synchronize`.
    #[test]
    fn an_approval_starts_the_agents_of_the_fork_pull_request_at_its_head() {
        use crate::github::event::Event;
        use crate::plan::table::{event, told};
        let loaded = crate::config::parse(
            "project: demo\ncluster: {namespace: runs}\nimages: {agent: ghcr.io/acme/agent:1.0}\nagents: [{name: review, triggers: {pull_request: {}}}, {name: drafts, triggers: {pull_request: {actions: [opened]}}}]\n",
            "services.yaml",
            [("agent-pod.yaml".to_string(), "kind: ConfigMap\n".to_string())].into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let planner = crate::plan::Planner::new(&loaded.config);
        let comment = event(
            "variants/issue_comment/run-on-pull-request.json",
            "o/r",
            Some("/agent approve"),
        );
        let Event::PullRequest(fork) = event(FORK, "o/r", None).event else {
            panic!("a pull request event");
        };
        let pr = fork.pull_request;
        let approval = |sha: &str| crate::plan::HeadApproval {
            sha: sha.parse().expect("a commit"),
            approved_by: "maintainer".into(),
            approved_at: None,
            comment_id: None,
        };
        let head = approval(pr.head.sha.as_str());
        let none = crate::plan::Facts::default();
        let key = Some(crate::plan::RunKey::new("key"));
        let approved = planner.plan_approved(&comment, &pr, &head, key, &none);
        assert_eq!(
            told(&approved.decisions),
            "skip drafts: ActionNotListed, launch review"
        );
        // An approval of another commit (the head before a push) lets nothing run.
        let earlier = approval("89abcdef0123456789abcdef0123456789abcdef");
        let refused = planner.plan_approved(&comment, &pr, &earlier, key, &none);
        assert_eq!(told(&refused.decisions), "skip drafts: ActionNotListed");
        assert_eq!(approved.event.name, "pull_request");
        assert_eq!(approved.event.action(), Some("synchronize"));
        assert_eq!(approved.event.repository, comment.repository);

        let own = crate::plan::Facts {
            own_login: Some("codertocat"),
            ..crate::plan::Facts::default()
        };
        let approved = planner.plan_approved(&comment, &pr, &head, key, &own);
        assert_eq!(told(&approved.decisions), "");
    }

    /// An approval plans the pull request's agents again, and each stands only if the
    /// approver may start it by its `pull_request` trigger: the higher of the trigger's
    /// `min_permission` and the global one (outside review 11c, A1; before, a writer's
    /// approval launched `deep`, whose trigger needs admin, and every row launched all).
    #[test]
    fn an_approval_starts_only_the_agents_the_approver_may_start() {
        use crate::plan::Authority::{Known, NotAsked};
        use crate::plan::table::{event, told};
        const AGENTS: &str = "[{name: review, triggers: {pull_request: {}}}, {name: deep, triggers: {pull_request: {min_permission: admin}}}, {name: open, triggers: {pull_request: {min_permission: read}}}]";
        let rows: &[(&str, &str, crate::plan::Authority, &str)] = &[
            (
                "a writer's approval starts what a writer may, and says what `deep` needs",
                "{}",
                Known(Write),
                "launch review, skip deep: ApproverNeeds, launch open",
            ),
            (
                "an admin's approval starts them all",
                "{}",
                Known(Admin),
                "launch review, launch deep, launch open",
            ),
            (
                "a trigger below the global minimum does not lower it for the approver",
                "{min_permission: admin}",
                Known(Write),
                "skip review: ApproverNeeds, skip deep: ApproverNeeds, skip open: ApproverNeeds",
            ),
            (
                "an approver in allowed_users stands in for the global minimum, not for \
                 `deep`'s admin (outside review 11d, A4; before: `deep` launched too)",
                "{allowed_users: [codertocat]}",
                Known(Read),
                "launch review, skip deep: ApproverNeeds, launch open",
            ),
            (
                "until GitHub says what the approver has, the delivery waits",
                "{}",
                NotAsked,
                "defer: PermissionUnanswered",
            ),
        ];
        let crate::github::event::Event::PullRequest(fork) = event(FORK, "o/r", None).event else {
            panic!("a pull request event");
        };
        let comment = event(
            "variants/issue_comment/run-on-pull-request.json",
            "o/r",
            Some("/agent approve"),
        );
        let approval = crate::plan::HeadApproval {
            sha: fork.pull_request.head.sha.clone(),
            approved_by: "codertocat".into(),
            approved_at: None,
            comment_id: None,
        };
        let mut wrong = Vec::new();
        for (story, authorization, authority, expect) in rows {
            let planner = crate::plan::table::planner_of(authorization, AGENTS)
                .unwrap_or_else(|e| panic!("{story}: {e}"));
            let facts = crate::plan::Facts {
                authority: *authority,
                ..crate::plan::Facts::default()
            };
            let found = told(
                &planner
                    .plan_approved(
                        &comment,
                        &fork.pull_request,
                        &approval,
                        Some(crate::plan::RunKey::new("key")),
                        &facts,
                    )
                    .decisions,
            );
            if found != *expect {
                wrong.push(format!("{story}:\n  expected {expect}\n  got      {found}"));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }
}
