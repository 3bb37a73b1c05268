//! `release` events: a release published, created, edited...

use crate::config::Agent;
use crate::github::event::{Login, ReleaseEvent, WebhookEvent};

use super::RunKey;
use super::{
    Decision, Deferral, Facts, Hears, IgnoreReason, Planned, Planner, RefCommit, SkipReason,
    Subject, Trigger, TriggerKind, action_not_listed, sender_of,
};

impl Planner {
    pub(super) fn plan_release<'e>(
        &self,
        event: &'e WebhookEvent,
        e: &'e ReleaseEvent,
        delivery: Option<RunKey<'_>>,
        facts: &Facts<'_>,
    ) -> Planned<'e> {
        let sender = event
            .sender
            .as_ref()
            .map_or_else(Login::default, |u| u.login.clone());
        let repository = event.repository.as_ref().map(|r| r.full_name.as_str());
        let heard = self.hear(repository, |agent, _| verdict(agent, e));
        let mut out = heard.in_order(|agent| {
            self.launch(
                agent,
                delivery,
                "",
                Trigger::Release {
                    action: e.action.clone(),
                },
                Subject::Release {
                    tag: e.release.tag_name.clone(),
                    sha: None,
                },
                &sender,
                None,
            )
        });
        if !heard.listening {
            out.push(Decision::ignore(IgnoreReason::NobodyListens {
                event: "release",
            }));
        }
        // The tag's commit is asked before who may run: a refusal is told on that commit.
        if out.iter().any(|d| matches!(d, Decision::Launch(_)))
            && matches!(facts.commit, RefCommit::NotAsked | RefCommit::Unanswered)
        {
            return Planned::decided(vec![Decision::Defer(Deferral::CommitUnknown {
                git_ref: format!("refs/tags/{}", e.release.tag_name),
            })]);
        }
        // The payload says nothing of the publisher's association.
        Planned::asked_by(out, sender_of(event), None, TriggerKind::Release)
    }
}

/// What `agent`'s `release` trigger says of `e`.
fn verdict(agent: &Agent, e: &ReleaseEvent) -> Hears {
    let Some(t) = &agent.triggers.release else {
        return Hears::NotListening;
    };
    if let Some(reason) = action_not_listed("release", &e.action, &t.actions) {
        Hears::Skip(reason)
    } else if e.release.prerelease && !t.prerelease {
        Hears::Skip(SkipReason::Prerelease)
    } else {
        Hears::Start
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::{Read, Write};
    use crate::plan::RefCommit;
    use crate::plan::table::{Given, Row, check, row};

    const PUBLISHED: &str = "webhooks/release/published.json";
    const NOTES: &str = "[{name: notes, triggers: {release: {}}}]";
    const TAG_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

    /// Every way a release starts an agent or does not: its action, a prerelease, the
    /// tag's commit (asked before who may run), a `#` in the tag, and who published it.
    #[test]
    fn a_release_starts_its_agents_or_says_why_not() {
        check(&[
            Row {
                story: "a published release starts the notes; a preview shows it at the tag",
                agents: NOTES,
                payload: PUBLISHED,
                expect: "launch notes unpinned",
                ..row()
            },
            Row {
                story: "it runs at the tag's commit GitHub named",
                agents: NOTES,
                payload: PUBLISHED,
                given: || Given {
                    commit: RefCommit::Known(super::super::table::sha(TAG_COMMIT)),
                    ..Given::known(Write)
                },
                expect: "launch notes at 89abcde",
                ..row()
            },
            Row {
                story: "the tag's commit is asked before who may run: a reader waits for it",
                agents: NOTES,
                payload: PUBLISHED,
                given: || Given {
                    commit: RefCommit::NotAsked,
                    ..Given::known(Read)
                },
                expect: "defer: CommitUnknown",
                ..row()
            },
            Row {
                story: "GitHub did not say the tag's commit: the delivery waits",
                agents: NOTES,
                payload: PUBLISHED,
                given: || Given {
                    commit: RefCommit::Unanswered,
                    ..Given::known(Write)
                },
                expect: "defer: CommitUnknown",
                ..row()
            },
            Row {
                story: "then a reader is refused, on that commit",
                agents: NOTES,
                payload: PUBLISHED,
                given: || Given {
                    commit: RefCommit::Known(super::super::table::sha(TAG_COMMIT)),
                    ..Given::known(Read)
                },
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "a tag GitHub does not have starts nothing, and says so",
                agents: NOTES,
                payload: PUBLISHED,
                given: || Given {
                    commit: RefCommit::Missing,
                    ..Given::known(Write)
                },
                expect: "refuse @Codertocat: RefMissing",
                ..row()
            },
            Row {
                story: "a tag holding # starts nothing",
                agents: NOTES,
                payload: PUBLISHED,
                edit: |p| p["release"]["tag_name"] = "v1#main".into(),
                expect: "refuse @Codertocat: HashInRef",
                ..row()
            },
            Row {
                story: "an action the trigger does not list is skipped, and nothing is asked",
                agents: "[{name: notes, triggers: {release: {actions: [created]}}}]",
                payload: PUBLISHED,
                given: || Given {
                    commit: RefCommit::NotAsked,
                    ..Given::preview()
                },
                expect: "skip notes: ActionNotListed",
                ..row()
            },
            Row {
                story: "a prerelease is skipped",
                agents: NOTES,
                payload: PUBLISHED,
                edit: |p| p["release"]["prerelease"] = true.into(),
                expect: "skip notes: Prerelease",
                ..row()
            },
            Row {
                story: "a prerelease runs when the trigger sets prerelease",
                agents: "[{name: notes, triggers: {release: {prerelease: true}}}]",
                payload: PUBLISHED,
                edit: |p| p["release"]["prerelease"] = true.into(),
                expect: "launch notes unpinned",
                ..row()
            },
            Row {
                story: "no agent listens to releases",
                agents: "[{name: task, triggers: {comment: {verbs: [run]}}}]",
                payload: PUBLISHED,
                expect: "ignore: NobodyListens",
                ..row()
            },
        ]);
    }
}
