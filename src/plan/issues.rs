//! `issues` events: an issue opened, edited, labeled...

use crate::config::Agent;
use crate::github::event::{IssuesAction, IssuesEvent, WebhookEvent};

use super::RunKey;
use super::{
    Decision, Hears, IgnoreReason, Planned, Planner, SkipReason, Subject, Trigger, TriggerKind,
    acting, action_not_listed, login,
};

impl Planner {
    pub(super) fn plan_issues<'e>(
        &self,
        event: &'e WebhookEvent,
        e: &'e IssuesEvent,
        delivery: Option<RunKey<'_>>,
    ) -> Planned<'e> {
        let issue = &e.issue;
        let sender = login(event.sender.as_ref(), &issue.user);
        let repository = event.repository.as_ref().map(|r| r.full_name.as_str());
        let heard = self.hear(repository, |agent, _| verdict(agent, e));
        if !heard.listening {
            return Planned::decided(vec![Decision::ignore(IgnoreReason::NobodyListens {
                event: "issues",
            })]);
        }
        let mut out = heard.skips();
        let matched = heard.matched();
        if matched.is_empty() {
            return Planned::decided(out);
        }
        // Whoever acted (opened, edited, labeled...) is the requester, for every action.
        let association = (&issue.user.login == sender).then_some(&issue.author_association);
        for agent in matched {
            out.push(self.launch(
                agent,
                delivery,
                "",
                Trigger::Issues {
                    action: e.action.clone(),
                },
                Subject::Issue {
                    number: issue.number,
                    sha: None,
                },
                sender,
                None,
            ));
        }
        let who = acting(event.sender.as_ref(), &issue.user);
        Planned::asked_by(out, who, association, TriggerKind::Issues)
    }
}

/// What `agent`'s `issues` trigger says of `e`.
fn verdict(agent: &Agent, e: &IssuesEvent) -> Hears {
    let Some(t) = &agent.triggers.issues else {
        return Hears::NotListening;
    };
    if let Some(reason) = action_not_listed("issues", &e.action, &t.actions) {
        return Hears::Skip(reason);
    }
    if !t.labels.is_empty() {
        // For `labeled`, the label just added must be one of ours.
        let hit = match (&e.label, &e.action) {
            (Some(label), IssuesAction::Labeled) => t.labels.contains(label),
            _ => e.issue.labels.iter().any(|l| t.labels.contains(l)),
        };
        if !hit {
            return Hears::Skip(SkipReason::NoLabel {
                is_issue: true,
                labels: t.labels.clone(),
            });
        }
    }
    Hears::Start
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::Read;
    use crate::plan::RefCommit;
    use crate::plan::table::{Given, Row, check, row};

    const OPENED: &str = "webhooks/issues/opened.json";
    const LABELED: &str = "webhooks/issues/labeled.json";
    const TRIAGE: &str = "[{name: triage, triggers: {issues: {}}}]";
    const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

    /// Every way an issue event starts an agent or does not: its action, its labels (the
    /// label just added, for `labeled`), who acted, and the commit the run checks out.
    #[test]
    fn an_issue_starts_its_agents_or_says_why_not() {
        check(&[
            Row {
                story: "an opened issue starts triage; a preview shows it at the branch",
                agents: TRIAGE,
                payload: OPENED,
                expect: "launch triage unpinned",
                ..row()
            },
            Row {
                story: "it runs at the default branch's commit GitHub named",
                agents: TRIAGE,
                payload: OPENED,
                given: || Given {
                    commit: RefCommit::Known(super::super::table::sha(HEAD)),
                    ..Given::preview()
                },
                expect: "launch triage at 0123456",
                ..row()
            },
            Row {
                story: "until GitHub names that commit, the delivery waits",
                agents: TRIAGE,
                payload: OPENED,
                given: || Given {
                    commit: RefCommit::Unanswered,
                    ..Given::preview()
                },
                expect: "defer: CommitUnknown",
                ..row()
            },
            Row {
                story: "a repository without the branch starts nothing, and says so",
                agents: TRIAGE,
                payload: OPENED,
                given: || Given {
                    commit: RefCommit::Missing,
                    ..Given::preview()
                },
                expect: "refuse @Codertocat: RefMissing",
                ..row()
            },
            Row {
                story: "an action the trigger does not list is skipped",
                agents: "[{name: triage, triggers: {issues: {actions: [edited]}}}]",
                payload: OPENED,
                expect: "skip triage: ActionNotListed",
                ..row()
            },
            Row {
                story: "an issue without one of the labels is skipped",
                agents: "[{name: triage, triggers: {issues: {labels: [agent]}}}]",
                payload: OPENED,
                expect: "skip triage: NoLabel",
                ..row()
            },
            Row {
                story: "an issue with one of the labels runs",
                agents: "[{name: triage, triggers: {issues: {labels: [bug]}}}]",
                payload: OPENED,
                expect: "launch triage unpinned",
                ..row()
            },
            Row {
                story: "labeled with one of ours runs",
                agents: "[{name: triage, triggers: {issues: {labels: [bug]}}}]",
                payload: LABELED,
                expect: "launch triage unpinned",
                ..row()
            },
            Row {
                story: "labeled with another label is skipped, whatever labels it had",
                agents: "[{name: triage, triggers: {issues: {labels: [agent]}}}]",
                payload: LABELED,
                edit: |p| {
                    p["issue"]["labels"] = serde_json::json!([{"name": "agent"}, {"name": "bug"}])
                },
                expect: "skip triage: NoLabel",
                ..row()
            },
            Row {
                story: "no agent listens to issues",
                agents: "[{name: task, triggers: {comment: {verbs: [run]}}}]",
                payload: OPENED,
                expect: "ignore: NobodyListens",
                ..row()
            },
            Row {
                story: "whoever acted is the requester, and a reader is refused",
                agents: TRIAGE,
                payload: LABELED,
                edit: |p| p["sender"]["login"] = "passer-by".into(),
                given: || Given::known(Read),
                expect: "refuse @passer-by: NotAuthorized",
                ..row()
            },
        ]);
    }
}
