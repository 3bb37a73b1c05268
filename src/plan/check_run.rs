//! `check_run` events: GitHub's "Re-run" on the check run of a run of ours; and
//! `check_suite` events, which start nothing.

use crate::github::event::{
    CheckRunAction, CheckRunEvent, CheckSuiteAction, CheckSuiteEvent, WebhookEvent,
};

use super::{Control, Decision, Facts, IgnoreReason, Planned, Planner};

impl Planner {
    /// A `check_suite` event starts nothing: GitHub's "Re-run all checks" is ignored,
    /// saying so (a run is done again from its own check run's "Re-run").
    pub(super) fn plan_check_suite<'e>(e: &CheckSuiteEvent) -> Planned<'e> {
        Planned::decided(vec![Decision::ignore(match &e.action {
            CheckSuiteAction::Rerequested => IgnoreReason::CheckSuiteRerequested,
            a => IgnoreReason::StartsNothing {
                name: "check_suite".into(),
                action: Some(a.to_string()),
            },
        })])
    }

    /// GitHub's "Re-run" on a check run: a run of ours again, if this App created the
    /// check run and the sender may do what `retry` needs (`min_permission`, asked of
    /// GitHub's permission API, never the payload's association).
    pub(super) fn plan_check_run<'e>(
        &self,
        event: &'e WebhookEvent,
        e: &'e CheckRunEvent,
        facts: &Facts<'_>,
    ) -> Planned<'e> {
        let ignore = |why: IgnoreReason| Planned::decided(vec![Decision::ignore(why)]);
        if e.action != CheckRunAction::Rerequested {
            return ignore(IgnoreReason::StartsNothing {
                name: "check_run".into(),
                action: Some(e.action.to_string()),
            });
        }
        let check = &e.check_run;
        let (check_run, name) = (check.id, check.name.clone());
        let Some(own) = facts.own_app_id else {
            return ignore(IgnoreReason::RerunWithoutApp { check_run, name });
        };
        if check.app_id != Some(own) {
            return ignore(IgnoreReason::RerunOfAnotherApp { check_run, name });
        }
        // A run's name is a DNS label: an external_id that is not one cannot name a run,
        // and is never looked up.
        let Some(run) = check
            .external_id
            .as_deref()
            .filter(|_| reports_a_run(&check.name))
            .and_then(crate::names::RunName::parse)
        else {
            return ignore(IgnoreReason::RerunOfNoRun { check_run, name });
        };
        let Some(user) = event.sender.as_ref() else {
            return ignore(IgnoreReason::RerunByNobody);
        };
        let sender = user.login.as_str();
        let global = self.config.github.authorization.min_permission;
        if let Some(denied) =
            self.unless_allowed(self.authorization(user.into(), None, facts, global), sender)
        {
            return Planned::decided(vec![denied]);
        }
        Planned::decided(vec![Decision::Control(Control::Rerun {
            run,
            requested_by: sender.into(),
            may: self.again(user.into(), None, facts),
        })])
    }
}

/// Whether a check run of this name reports a run (`agentpods/<agent>`), not a refusal.
fn reports_a_run(check_name: &str) -> bool {
    check_name
        .strip_prefix(crate::github::CHECK_NAME)
        .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use crate::config::Permission::{Read, Write};
    use crate::plan::table::{Given, Row, check, row};

    const RERUN: &str = "webhooks/check_run/rerequested.json";
    const ANY: &str = "[{name: review, triggers: {pull_request: {}}}]";

    /// "Re-run" on a check run of ours, with this App's id (GitHub's example's is 2).
    fn ours(p: &mut serde_json::Value) {
        p["check_run"]["name"] = "agentpods/review".into();
        p["check_run"]["external_id"] = "review-pr2-0123abcd".into();
    }

    fn app(permission: crate::config::Permission) -> Given {
        Given {
            own_app_id: Some(2),
            ..Given::known(permission)
        }
    }

    /// Every way GitHub's "Re-run" on a check run runs a run again or does not.
    #[test]
    fn a_re_run_runs_our_run_again_or_says_why_not() {
        check(&[
            Row {
                story: "a writer's Re-run of our check run runs its run again",
                agents: ANY,
                payload: RERUN,
                edit: ours,
                given: || app(Write),
                expect: "control: Rerun",
                ..row()
            },
            Row {
                story: "a reader's Re-run is refused",
                agents: ANY,
                payload: RERUN,
                edit: ours,
                given: || app(Read),
                expect: "refuse @octocat: NotAuthorized",
                ..row()
            },
            Row {
                story: "until GitHub says who pressed it may, the delivery waits",
                agents: ANY,
                payload: RERUN,
                edit: ours,
                given: || Given {
                    own_app_id: Some(2),
                    authority: crate::plan::Authority::NotAsked,
                    ..Given::preview()
                },
                expect: "defer: PermissionUnanswered",
                ..row()
            },
            Row {
                story: "without App credentials no Re-run is ours",
                agents: ANY,
                payload: RERUN,
                edit: ours,
                given: || Given::known(Write),
                expect: "ignore: RerunWithoutApp",
                ..row()
            },
            Row {
                story: "another App's check run is not ours to re-run",
                agents: ANY,
                payload: RERUN,
                edit: ours,
                given: || Given {
                    own_app_id: Some(3),
                    ..Given::known(Write)
                },
                expect: "ignore: RerunOfAnotherApp",
                ..row()
            },
            Row {
                story: "a check run of ours that reports no run (GitHub's example) is ignored",
                agents: ANY,
                payload: RERUN,
                given: || app(Write),
                expect: "ignore: RerunOfNoRun",
                ..row()
            },
            Row {
                story: "an external_id that cannot be a run's name is never looked up",
                agents: ANY,
                payload: RERUN,
                edit: |p| {
                    ours(p);
                    p["check_run"]["external_id"] = "Review_PR".into();
                },
                given: || app(Write),
                expect: "ignore: RerunOfNoRun",
                ..row()
            },
            Row {
                story: "other check run actions start nothing",
                agents: ANY,
                payload: RERUN,
                edit: |p| p["action"] = "completed".into(),
                given: || app(Write),
                expect: "ignore: StartsNothing",
                ..row()
            },
        ]);
    }

    /// GitHub names who pressed "Re-run" (the parser requires it); an event without a
    /// sender, should one come, starts nothing.
    #[test]
    fn a_re_run_nobody_pressed_starts_nothing() {
        let path = format!("{}/examples/{RERUN}", env!("CARGO_MANIFEST_DIR"));
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect(RERUN)).expect("JSON");
        ours(&mut json);
        let mut event =
            crate::github::event::parse("check_run", &serde_json::to_vec(&json).expect("JSON"))
                .expect("a check_run event");
        event.sender = None;
        let planner = crate::plan::table::scoped_planner();
        let facts = crate::plan::Facts {
            own_app_id: Some(2),
            ..crate::plan::Facts::default()
        };
        let decisions = planner.plan(&event, Some(crate::plan::RunKey::new("d-1")), &facts);
        assert_eq!(
            crate::plan::table::told(&decisions),
            "ignore: RerunByNobody"
        );
    }
}
