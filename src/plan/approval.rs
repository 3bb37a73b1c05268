//! A maintainer's approval of a fork pull request's head, as the planner sees it: who
//! approved which exact commit, and when. The edges fill [`Facts::approvals`] from the
//! service's own records (`crate::ports::approvals`: an `AgentApproval` object, or memory),
//! never from a comment; whether an approval stands for the head that would run is decided
//! here, by the pure planner.
//!
//! [`Facts::approvals`]: super::Facts::approvals

use k8s_openapi::jiff::Timestamp;

use crate::github::event::{CommitSha, Event, Login, WebhookEvent};
use crate::ids::CommentId;

use super::RunKey;
use super::reasons::{Answer, MIN_APPROVAL_SHA};
use super::{Control, Decision, Deferral, Facts, IgnoreReason, Planner};

/// One approval the service recorded for a fork pull request, as the planner reads it (not
/// the stored AgentApproval's own `cluster::approvals::Approval`, which the edges read it from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadApproval {
    /// The commit approved, in full (the intake records no less).
    pub sha: CommitSha,
    /// The approver's GitHub login.
    pub approved_by: Login,
    /// When it was given: the service's record of it, or, for the approval a comment is
    /// giving now, when the comment was written (`None` if GitHub did not say).
    pub approved_at: Option<Timestamp>,
    /// The comment that gave it (`None` where nobody said).
    pub comment_id: Option<CommentId>,
}

impl HeadApproval {
    /// Whether this approval is of exactly `head`: the full commit, not a prefix of it and
    /// not an earlier head of the pull request.
    pub fn stands_for(&self, head: &CommitSha) -> bool {
        self.sha == *head
    }
}

/// Who approved exactly `head`, each once (logins ignore case), in the order of the
/// records.
pub(super) fn approvers_of<'a>(approvals: &'a [HeadApproval], head: &CommitSha) -> Vec<&'a Login> {
    let mut logins: Vec<&Login> = Vec::new();
    for approval in approvals.iter().filter(|a| a.stands_for(head)) {
        let login = &approval.approved_by;
        if !logins.iter().any(|l| l.key() == login.key()) {
            logins.push(login);
        }
    }
    logins
}

/// What GitHub says, now, of someone who approved the head that would run: an approval
/// lets a fork's code run only as far as its approver's permission reaches when it is
/// relied on, not as it was when they approved (outside review 11d, A1). The intake asks
/// it when the planner is about to rely on the approval
/// ([`super::Deferral::ApproverPermissionUnanswered`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverAuthority {
    /// The approver's login, as recorded with the approval.
    pub login: Login,
    /// Their repository permission now (or that GitHub did not answer).
    pub authority: super::Authority,
}

impl ApproverAuthority {
    /// What `known` says of `login` now (`NotAsked` when it says nothing).
    pub(super) fn known(known: &[ApproverAuthority], login: &Login) -> super::Authority {
        known
            .iter()
            .find(|a| a.login.key() == login.key())
            .map_or(super::Authority::NotAsked, |a| a.authority)
    }
}

/// What a delivery came to once each `approve` in it was judged (see [`Planner::decide`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    /// The planner's decisions, each `approve` replaced by what it came to.
    pub decisions: Vec<Decision>,
    /// The approvals to record in the service's own store before anything runs.
    pub approvals: Vec<GivenApproval>,
}

/// What an `approve` came to (see [`Planner::approve_head`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Approved {
    /// The reply, and the pull request's runs at the approved head; or only a reply or a
    /// deferral saying why nothing was approved.
    pub decisions: Vec<Decision>,
    /// The approval to record in the service's own store before anything runs.
    pub approval: Option<GivenApproval>,
}

/// What started a run a maintainer's `approve` of a fork pull request's head started
/// ([`super::Trigger::Approved`]): who approved which head (in full) of the pull request
/// the run is about, in which comment. Its agents were planned at that head as a push of it
/// would be (by their `pull_request` trigger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedHead {
    pub approved_by: Login,
    pub comment_id: CommentId,
    pub head_sha: CommitSha,
}

/// An approval an `approve` comment gives, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenApproval {
    /// The pull request.
    pub number: u64,
    /// The comment that carried `approve`.
    pub comment_id: CommentId,
    /// Who approved which head (in full, lowercase), when.
    pub approval: HeadApproval,
}

/// Whether `given` names the commit `head`: all of it, or at least its first
/// [`MIN_APPROVAL_SHA`] characters.
fn names_commit(given: &str, head: &str) -> bool {
    given.len() >= MIN_APPROVAL_SHA
        && given.len() <= head.len()
        && head
            .get(..given.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(given))
}

impl Planner {
    /// Decides a delivery in full, the one place that judges an `approve`: what
    /// [`Planner::plan`] decides, with each [`Control::Approve`] it gives judged in its
    /// place ([`Planner::approve_head`]) and the approvals to record beside. The edges
    /// gather the facts a delivery needs over this too: what an approval's planning lacks
    /// comes back as a [`Deferral`] like any other fact, and what they carry out is what
    /// this decides.
    ///
    /// [`Control::Approve`]: super::Control::Approve
    pub fn decide(
        &self,
        event: &WebhookEvent,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> Judged {
        let mut judged = Judged::default();
        for decision in self.plan(event, delivery, facts) {
            match decision {
                Decision::Control(Control::Approve {
                    number,
                    sha,
                    approved_by,
                }) => {
                    let done = self.approve_head(
                        event,
                        delivery,
                        facts,
                        number,
                        sha.as_deref(),
                        &approved_by,
                    );
                    judged.decisions.extend(done.decisions);
                    judged.approvals.extend(done.approval);
                }
                other => judged.decisions.push(other),
            }
        }
        judged
    }

    /// A maintainer's `approve` of fork pull request `number` (a [`Control::Approve`] the
    /// plan gave): the approval to record in the service's own store, a reply saying what
    /// was approved, and the pull request's agents planned at that head, as for a push to
    /// it ([`Planner::plan_approved`]). Without a SHA it approves the head only if that is
    /// the head the service had seen when the comment was written
    /// (`facts.head_at_comment`); a SHA must name the current head, in full or by at
    /// least [`MIN_APPROVAL_SHA`] characters, and the head in full is what is recorded.
    /// Otherwise only a reply saying why, naming the head and how to approve it.
    /// `facts.pull_request` is the pull request as the API has it now (a preview, which
    /// does not ask, approves nothing and says so); `delivery` names the runs (the comment
    /// delivery's run key).
    ///
    /// [`Control::Approve`]: super::Control::Approve
    pub(super) fn approve_head(
        &self,
        event: &WebhookEvent,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
        number: u64,
        sha: Option<&str>,
        approved_by: &Login,
    ) -> Approved {
        let none = |decisions| Approved {
            decisions,
            approval: None,
        };
        let Some(pr) = facts.pull_request else {
            return none(vec![Decision::ignore(IgnoreReason::ApprovalInPreview {
                number,
            })]);
        };
        let approved_by = approved_by.as_str();
        let head_sha = &pr.head.sha;
        let head = head_sha.as_str();
        let prefix = &self.config().github.command_prefix;
        let number = pr.number;
        match sha {
            Some(given) if !names_commit(given, head) => {
                let answer = Answer::ApprovalNamesAnotherCommit {
                    approved_by,
                    given,
                    number,
                    head,
                };
                return none(vec![answer.reply(prefix)]);
            }
            // The records of the approvals given before are read first: what they start
            // already, this one does not start again (review 15f, G2).
            Some(_) if !facts.head_at_comment_read && !facts.approvals_unreadable => {
                return none(vec![Decision::Defer(Deferral::HeadAtCommentUnknown {
                    number,
                })]);
            }
            Some(_) => {}
            None if facts.approvals_unreadable => {
                return none(vec![Decision::Defer(Deferral::ApprovalsUnknown { number })]);
            }
            None if facts.head_at_comment.is_none() && !facts.head_at_comment_read => {
                return none(vec![Decision::Defer(Deferral::HeadAtCommentUnknown {
                    number,
                })]);
            }
            None if facts.head_at_comment == Some(head_sha) => {}
            None => {
                let answer = Answer::ApprovalHeadMoved {
                    approved_by,
                    number,
                    head,
                };
                return none(vec![answer.reply(prefix)]);
            }
        }
        let Event::IssueComment(comment) = &event.event else {
            return none(Vec::new());
        };
        let approval = HeadApproval {
            sha: head_sha.clone(),
            approved_by: Login::from(approved_by),
            approved_at: comment.comment.created_at,
            comment_id: Some(comment.comment.id),
        };
        let runs = self.plan_approved(event, pr, &approval, delivery, facts);
        // The agents the approver may not start (their trigger needs more) are named, with
        // what they need, in the same reply (third outside review, A1), and so are those
        // whose token can write, which a fork's code never gets (outside review 11d, A9).
        let not_started: Vec<(&str, &super::SkipReason)> = runs
            .decisions
            .iter()
            .filter_map(|decision| match decision {
                Decision::Skip {
                    agent,
                    reason:
                        reason @ (super::SkipReason::ApproverNeeds { .. }
                        | super::SkipReason::ApprovedBefore
                        | super::SkipReason::ForkWithWriteToken { .. }),
                } => Some((agent.as_str(), reason)),
                _ => None,
            })
            .collect();
        let reply = Answer::Approved {
            approved_by,
            head,
            not_started: &not_started,
        }
        .reply(prefix);
        let mut decisions = vec![reply];
        // Each run says what started it: this approval, of this head, in this comment (not
        // the push of it that it was planned as: GitHub sent none).
        decisions.extend(runs.decisions.into_iter().map(|decision| match decision {
            Decision::Launch(launch) => Decision::Launch(super::Launch {
                trigger: super::Trigger::Approved(ApprovedHead {
                    approved_by: approval.approved_by.clone(),
                    comment_id: comment.comment.id,
                    head_sha: approval.sha.clone(),
                }),
                ..launch
            }),
            other => other,
        }));
        Approved {
            decisions,
            approval: Some(GivenApproval {
                number,
                comment_id: comment.comment.id,
                approval,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::table::{event, pull_request, told};
    use crate::plan::{Authority, Facts};

    const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
    const OTHER: &str = "89abcdef0123456789abcdef0123456789abcdef";

    /// One `approve` on a fork's pull request at [`HEAD`]: what is given with it, what
    /// the service had seen, and what comes of it (the decisions told, and the commit
    /// recorded as approved).
    #[derive(Default)]
    struct Case {
        story: &'static str,
        sha: Option<&'static str>,
        head_at_comment: Option<&'static str>,
        unreadable: bool,
        /// The records were not yet asked for the head the comment saw.
        unasked: bool,
        expect: &'static str,
        recorded: Option<&'static str>,
    }

    #[test]
    fn an_approve_records_exactly_the_head_it_names_or_says_why_not() {
        let loaded = crate::config::parse(
            "project: demo\ncluster: {namespace: runs}\nimages: {agent: ghcr.io/acme/agent:1.0}\nagents: [{name: review, triggers: {pull_request: {}}}]\n",
            "services.yaml",
            [("agent-pod.yaml".to_string(), "kind: ConfigMap\n".to_string())].into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let planner = Planner::new(&loaded.config);
        let comment = event(
            "variants/issue_comment/run-on-pull-request.json",
            "o/r",
            Some("/agent approve"),
        );
        let pr = pull_request(1, HEAD, true);
        let cases = [
            Case {
                story: "the head in full is approved, and its runs start",
                sha: Some(HEAD),
                expect: "reply: Approved by @Codertocat: agents may, launch review",
                recorded: Some(HEAD),
                ..Case::default()
            },
            Case {
                story: "twelve characters of the head, in capitals, approve the head in full",
                sha: Some("0123456789ABCDEF"),
                expect: "reply: Approved by @Codertocat: agents may, launch review",
                recorded: Some(HEAD),
                ..Case::default()
            },
            Case {
                story: "a prefix shorter than twelve characters approves nothing",
                sha: Some("0123456789a"),
                expect: "reply: @Codertocat: `0123456789a` does not name",
                ..Case::default()
            },
            Case {
                story: "another commit (the head before a push) approves nothing",
                sha: Some(OTHER),
                expect: "reply: @Codertocat: `89abcdef0123456789abcdef0123456789abcdef` does not name",
                ..Case::default()
            },
            Case {
                story: "without a SHA, the head the service had seen when it was written",
                head_at_comment: Some(HEAD),
                expect: "reply: Approved by @Codertocat: agents may, launch review",
                recorded: Some(HEAD),
                ..Case::default()
            },
            Case {
                story: "without a SHA, after a push the comment did not see, nothing",
                head_at_comment: Some(OTHER),
                expect: "reply: @Codertocat: nothing was approved. The",
                ..Case::default()
            },
            Case {
                story: "without a SHA, while the records cannot be read, it waits",
                unreadable: true,
                expect: "defer: ApprovalsUnknown",
                ..Case::default()
            },
            Case {
                story: "without a SHA, before the records were asked which head it saw, it asks",
                unasked: true,
                expect: "defer: HeadAtCommentUnknown",
                ..Case::default()
            },
            Case {
                story: "without a SHA, when the records hold no head from before it, nothing",
                expect: "reply: @Codertocat: nothing was approved. The",
                ..Case::default()
            },
            Case {
                story: "with a SHA too, the records are read first, for the approvals given before (review 15f, G2)",
                sha: Some(HEAD),
                unasked: true,
                expect: "defer: HeadAtCommentUnknown",
                recorded: None,
                ..Case::default()
            },
            Case {
                story: "... and when they cannot be read, it approves without them",
                sha: Some(HEAD),
                unasked: true,
                unreadable: true,
                expect: "reply: Approved by @Codertocat: agents may, launch review",
                recorded: Some(HEAD),
                ..Case::default()
            },
        ];
        let mut wrong = Vec::new();
        for case in cases {
            let seen: Option<CommitSha> =
                case.head_at_comment.map(|s| s.parse().expect("a commit"));
            let facts = Facts {
                authority: Authority::Known(crate::config::Permission::Write),
                pull_request: Some(&pr),
                head_at_comment: seen.as_ref(),
                approvals_unreadable: case.unreadable,
                head_at_comment_read: !case.unasked,
                ..Facts::default()
            };
            let approved = planner.approve_head(
                &comment,
                Some(crate::plan::RunKey::new("key")),
                &facts,
                1,
                case.sha,
                &"Codertocat".into(),
            );
            let found = told(&approved.decisions);
            let recorded = approved.approval.as_ref().map(|a| a.approval.sha.as_str());
            if found != case.expect || recorded != case.recorded {
                wrong.push(format!(
                    "{}:\n  expected {} (recorded {:?})\n  got      {found} (recorded {recorded:?})",
                    case.story, case.expect, case.recorded
                ));
            }
            if let Some(given) = &approved.approval {
                assert_eq!(given.number, 1);
                assert_eq!(given.approval.approved_by, "Codertocat");
                assert!(given.approval.approved_at.is_some(), "the comment's time");
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }
}
