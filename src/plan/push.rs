//! `push` events: a branch or a tag pushed.

use crate::config::Agent;
use crate::github::event::{Login, PushEvent, WebhookEvent};

use super::RunKey;
use super::{
    AgentFilters, Decision, Hears, IgnoreReason, Planned, Planner, SkipReason, Subject, Trigger,
    TriggerKind, sender_of,
};

impl Planner {
    pub(super) fn plan_push<'e>(
        &self,
        event: &'e WebhookEvent,
        e: &'e PushEvent,
        delivery: Option<RunKey<'_>>,
    ) -> Planned<'e> {
        if e.deleted {
            return Planned::decided(vec![Decision::ignore(IgnoreReason::PushDeleted {
                git_ref: e.git_ref.clone(),
            })]);
        }
        let pushed = match (
            e.git_ref.strip_prefix("refs/heads/"),
            e.git_ref.strip_prefix("refs/tags/"),
        ) {
            (Some(branch), _) => Pushed::Branch(branch),
            (_, Some(tag)) => Pushed::Tag(tag),
            _ => {
                return Planned::decided(vec![Decision::ignore(
                    IgnoreReason::PushNotBranchOrTag {
                        git_ref: e.git_ref.clone(),
                    },
                )]);
            }
        };
        let repository = event.repository.as_ref().map(|r| r.full_name.as_str());
        let heard = self.hear(repository, |agent, filters| verdict(agent, filters, pushed));
        let mut out = heard.in_order(|agent| {
            self.launch(
                agent,
                delivery,
                "",
                Trigger::Push,
                Subject::Ref {
                    git_ref: e.git_ref.clone(),
                    sha: e.after.clone(),
                },
                &Login::from(e.pusher.as_str()),
                None,
            )
        });
        if !heard.listening {
            out.push(Decision::ignore(IgnoreReason::NobodyListens {
                event: "push",
            }));
        }
        // The payload says nothing of the pusher's association.
        Planned::asked_by(out, sender_of(event), None, TriggerKind::Push)
    }
}

/// What was pushed: a branch or a tag, by its short name.
#[derive(Debug, Clone, Copy)]
enum Pushed<'e> {
    Branch(&'e str),
    Tag(&'e str),
}

/// What `agent`'s `push` trigger says of `pushed`.
fn verdict(agent: &Agent, filters: &AgentFilters, pushed: Pushed<'_>) -> Hears {
    if agent.triggers.push.is_none() {
        return Hears::NotListening;
    }
    let (globs, name, tag) = match pushed {
        Pushed::Branch(name) => (&filters.push_branches, name, false),
        Pushed::Tag(name) => (&filters.push_tags, name, true),
    };
    if globs.iter().any(|g| g.is_match(name)) {
        Hears::Start
    } else {
        Hears::Skip(SkipReason::PushRef {
            tag,
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::Read;
    use crate::plan::table::{Given, Row, check, row};

    const TAG: &str = "webhooks/push/0.json";

    /// Every way a push starts an agent or does not: a tag or a branch its globs match or
    /// not, a deleted ref, a ref of neither kind, a `#` in the ref, and who pushed.
    #[test]
    fn a_push_starts_its_agents_or_says_why_not() {
        check(&[
            Row {
                story: "a tag the tags globs match starts the build",
                agents: "[{name: build, triggers: {push: {tags: ['simple-*']}}}]",
                payload: TAG,
                expect: "launch build",
                ..row()
            },
            Row {
                story: "each agent in the config's order: one skipped, one started",
                agents: "[{name: release, triggers: {push: {tags: ['v*']}}}, {name: build, triggers: {push: {tags: ['simple-*']}}}]",
                payload: TAG,
                expect: "skip release: PushRef, launch build",
                ..row()
            },
            Row {
                story: "a branch the branches globs match starts the build",
                agents: "[{name: build, triggers: {push: {branches: [main]}}}]",
                payload: TAG,
                edit: |p| p["ref"] = "refs/heads/main".into(),
                expect: "launch build",
                ..row()
            },
            Row {
                story: "a branch where only tags are watched is skipped",
                agents: "[{name: build, triggers: {push: {tags: ['*']}}}]",
                payload: TAG,
                edit: |p| p["ref"] = "refs/heads/main".into(),
                expect: "skip build: PushRef",
                ..row()
            },
            Row {
                story: "a deleted tag builds nothing",
                agents: "[{name: build, triggers: {push: {tags: ['*']}}}]",
                payload: "webhooks/push/1.json",
                expect: "ignore: PushDeleted",
                ..row()
            },
            Row {
                story: "a ref that is neither a branch nor a tag starts nothing",
                agents: "[{name: build, triggers: {push: {tags: ['*']}}}]",
                payload: TAG,
                edit: |p| p["ref"] = "refs/notes/commits".into(),
                expect: "ignore: PushNotBranchOrTag",
                ..row()
            },
            Row {
                story: "no agent listens to pushes",
                agents: "[{name: task, triggers: {comment: {verbs: [run]}}}]",
                payload: TAG,
                expect: "ignore: NobodyListens",
                ..row()
            },
            Row {
                story: "a tag holding # builds nothing: a build context would read it as a separator",
                agents: "[{name: build, triggers: {push: {tags: ['simple*']}}}]",
                payload: TAG,
                edit: |p| p["ref"] = "refs/tags/simple#main".into(),
                expect: "refuse @Codertocat: HashInRef",
                ..row()
            },
            Row {
                story: "a pusher who may only read is refused",
                agents: "[{name: build, triggers: {push: {tags: ['simple-*']}}}]",
                payload: TAG,
                given: || Given::known(Read),
                expect: "refuse @Codertocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "a trigger that lets readers push-build lets them",
                agents: "[{name: build, triggers: {push: {tags: ['simple-*'], min_permission: read}}}]",
                payload: TAG,
                given: || Given::known(Read),
                expect: "launch build",
                ..row()
            },
        ]);
    }
}
