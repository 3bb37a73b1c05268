//! A repository's own say (services.yaml's `repository_config`): the launches a trigger's
//! file planned, narrowed to the agents the repository's file on its default branch names.
//! It only ever takes launches away: an agent it leaves out, or keeps to its comment verbs,
//! does not start by an event; a file that does not read starts nothing (it fails closed:
//! a maintainer who wrote it to turn an agent off expects it off); a name it gives that
//! services.yaml does not give the repository starts nothing and is said so. A run done
//! again (`/agent retry`, GitHub's "Re-run") is held to it too: the file is read for it,
//! and the launcher's judgement of the run it finds asks it ([`super::Again`]).

use crate::config::{RepositoryFile, Say};
use crate::github::event::WebhookEvent;

use super::again::OwnFile;
use super::{Control, Decision, Deferral, Planner, SkipReason, Trigger};

/// What the repository's own file says, as the edge read it from the default branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepositorySays<'a> {
    /// Nothing to read: services.yaml does not ask for the file, or there is no GitHub to
    /// ask (`render`, `serve --dry-run`): services.yaml alone decides.
    #[default]
    Unread,
    /// Not read yet: a delivery that would start an agent waits for it
    /// ([`Deferral::RepositoryFileUnknown`]).
    NotAsked,
    /// The default branch has no such file: services.yaml alone decides.
    Absent,
    /// What it says.
    Read(&'a RepositoryFile),
    /// It does not read, or is no file (a folder, a submodule, a link out of the
    /// repository): nothing starts by an event, and a command is told this, its first
    /// problem as `file:line:col: message`.
    Broken(&'a str),
    /// GitHub did not answer: a delivery that would start an agent waits (503).
    Unanswered,
}

impl Planner {
    /// `decisions` narrowed to what `event`'s repository's file says (see the module).
    pub(super) fn narrow(
        &self,
        event: &WebhookEvent,
        decisions: Vec<Decision>,
        says: RepositorySays<'_>,
    ) -> Vec<Decision> {
        let Some(wanted) = &self.config.repository_config else {
            return decisions;
        };
        let Some(repository) = event.repository.as_ref() else {
            return decisions;
        };
        let path = wanted.path.as_str();
        let branch = repository.default_branch.as_str();
        let launches = decisions.iter().any(|d| matches!(d, Decision::Launch(_)));
        let again = decisions.iter().any(|d| {
            matches!(
                d,
                Decision::Control(Control::Retry { .. } | Control::Rerun { .. })
            )
        });
        if !launches && !again {
            return decisions;
        }
        let file = match says {
            RepositorySays::Unread | RepositorySays::Absent => return decisions,
            RepositorySays::NotAsked | RepositorySays::Unanswered => {
                return vec![Decision::Defer(Deferral::RepositoryFileUnknown {
                    path: path.to_string(),
                })];
            }
            RepositorySays::Broken(problem) => Err(problem),
            RepositorySays::Read(file) => Ok(file),
        };
        let prefix = &self.config.github.command_prefix;
        let mut out = Vec::new();
        let own_file = match file {
            Ok(file) => OwnFile::Read {
                file: file.clone(),
                path: path.to_string(),
                branch: branch.to_string(),
            },
            Err(problem) => OwnFile::Broken {
                problem: problem.to_string(),
                path: path.to_string(),
                branch: branch.to_string(),
            },
        };
        if let Ok(file) = file
            && launches
        {
            for named in file.beyond(&self.config, repository.full_name.as_str()) {
                out.push(Decision::Skip {
                    agent: named.name.clone(),
                    reason: SkipReason::NotGivenToRepository {
                        path: path.to_string(),
                        line: named.pos.line,
                    },
                });
            }
        }
        for mut decision in decisions {
            // Which run it repeats is known only to the launcher, which asks `may`.
            if let Decision::Control(Control::Retry { may, .. } | Control::Rerun { may, .. }) =
                &mut decision
            {
                may.hold_to(own_file.clone());
            }
            let Decision::Launch(launch) = decision else {
                out.push(decision);
                continue;
            };
            let command = match &launch.trigger {
                Trigger::Comment { verb, .. } => Some(verb.as_str()),
                Trigger::PullRequest { .. }
                | Trigger::Issues { .. }
                | Trigger::Push
                | Trigger::Release { .. }
                | Trigger::Approved(_) => None,
            };
            let reason = match file {
                Err(problem) => SkipReason::RepositoryFileBroken {
                    path: path.to_string(),
                    problem: problem.to_string(),
                },
                Ok(file) => match (file.say(&launch.agent), command) {
                    (Say::Runs, _) | (Say::CommandsOnly, Some(_)) => {
                        out.push(Decision::Launch(launch));
                        continue;
                    }
                    (Say::CommandsOnly, None) => SkipReason::CommandsOnlyInRepository {
                        path: path.to_string(),
                    },
                    (Say::Off, _) => SkipReason::OffInRepository {
                        path: path.to_string(),
                    },
                },
            };
            // A command is answered with why it starts nothing; an event is only logged.
            if let Some(verb) = command {
                let what = match &reason {
                    SkipReason::RepositoryFileBroken { .. } => "starts nothing here".to_string(),
                    _ => format!("does not start agent `{}` here", launch.agent),
                };
                let reply = Decision::Reply(format!(
                    "`{prefix} {verb}` {what}: {reason} {}",
                    super::reasons::where_it_counts(branch)
                ));
                if !out.contains(&reply) {
                    out.push(reply);
                }
            }
            out.push(Decision::Skip {
                agent: launch.agent,
                reason,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::RepositorySays;
    use crate::config::parse_repository_file;
    use crate::plan::table::{SCOPED, event, outcome};
    use crate::plan::{Authority, Control, Decision, Facts, Planner, Trigger};

    /// The table's services.yaml, with `repository_config` on.
    fn opted_in() -> crate::config::LoadedConfig {
        let config = format!("{SCOPED}repository_config: {{}}\n");
        crate::config::parse(
            &config,
            "services.yaml",
            [(
                "agent-pod.yaml".to_string(),
                "kind: ConfigMap\n".to_string(),
            )]
            .into(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A repository's file narrows what services.yaml gives it, and nothing more: by event
    /// and by command, read or not, broken or not.
    #[test]
    fn a_repository_s_file_only_ever_narrows() {
        let loaded = opted_in();
        let planner = Planner::new(&loaded.config);
        let pr = "webhooks/pull_request/opened.json";
        let comment = "variants/issue_comment/run-on-pull-request.json";
        let issue = "webhooks/issues/opened.json";
        let file = |text: &str| parse_repository_file(text.as_bytes(), ".agentpods.yaml");
        let none = file("agents: []").expect("reads");
        let review = file("agents: [a-review]").expect("reads");
        let commands = file("agents: [{name: a-review, events: false}]").expect("reads");
        let beyond = file("agents: [everyone, a-review]").expect("reads");
        let broken = ".agentpods.yaml:1:1: the file is empty";
        let table: &[(&str, Option<&str>, &str, RepositorySays<'_>, &str)] = &[
            (pr, None, "acme/a", RepositorySays::Unread, "a-review"),
            (pr, None, "acme/a", RepositorySays::Absent, "a-review"),
            (pr, None, "acme/a", RepositorySays::NotAsked, "wait"),
            (pr, None, "acme/a", RepositorySays::Unanswered, "wait"),
            (
                pr,
                None,
                "acme/a",
                RepositorySays::Read(&review),
                "a-review",
            ),
            (pr, None, "acme/a", RepositorySays::Read(&none), "nothing"),
            (
                pr,
                None,
                "acme/a",
                RepositorySays::Read(&commands),
                "nothing",
            ),
            (
                pr,
                None,
                "acme/a",
                RepositorySays::Broken(broken),
                "nothing",
            ),
            // Nothing to narrow: no agent of acme/b listens, so nothing is read.
            (pr, None, "acme/b", RepositorySays::NotAsked, "nothing"),
            (
                comment,
                Some("/agent review"),
                "acme/a",
                RepositorySays::Read(&commands),
                "a-review",
            ),
            (
                comment,
                Some("/agent review"),
                "acme/a",
                RepositorySays::Read(&none),
                "reply: `/agent review` does not start agent `a-review` here: this repository's `.agentpods.yaml` does not name it, so it does not run here (the file on `master`, the repository's default branch, counts: a change to it counts once merged there)",
            ),
            (
                comment,
                Some("/agent run x"),
                "acme/a",
                RepositorySays::Broken(broken),
                "reply: `/agent run` starts nothing here: this repository's `.agentpods.yaml` does not read, so no agent starts here until it is fixed: .agentpods.yaml:1:1: the file is empty (the file on `master`, the repository's default branch, counts: a change to it counts once merged there)",
            ),
            // A name services.yaml does not give the repository adds nothing.
            (pr, None, "acme/b", RepositorySays::Read(&beyond), "nothing"),
            (
                comment,
                Some("/agent review"),
                "acme/b",
                RepositorySays::Read(&beyond),
                "reply: No agent answers `/agent review` on pull requests. `/agent help` lists the commands.",
            ),
            (
                comment,
                Some("/agent run x"),
                "acme/b",
                RepositorySays::Read(&beyond),
                "everyone",
            ),
            (
                issue,
                None,
                "acme/a",
                RepositorySays::Read(&review),
                "nothing",
            ),
            (
                issue,
                None,
                "acme/a",
                RepositorySays::Read(&beyond),
                "nothing",
            ),
        ];
        let mut wrong = Vec::new();
        for (payload, body, repository, says, expected) in table {
            let facts = Facts {
                authority: Authority::Preview,
                repository: *says,
                ..Facts::default()
            };
            let decisions = planner.plan(
                &event(payload, repository, *body),
                Some(crate::plan::RunKey::new("d-1")),
                &facts,
            );
            let found = if decisions.iter().any(|d| matches!(d, Decision::Defer(_))) {
                "wait".to_string()
            } else {
                outcome(&decisions)
            };
            if found != *expected {
                wrong.push(format!(
                    "{payload} {body:?} on {repository} with {says:?}: expected {expected}, got {found}\n  {decisions:?}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));

        // `help` lists what runs here: not an agent the file turns off; nothing but the
        // service's own verbs, and why, when the file does not read; and it waits for the
        // file when it is not read yet.
        let help = |says: RepositorySays<'_>| -> String {
            let facts = Facts {
                authority: Authority::Preview,
                repository: says,
                ..Facts::default()
            };
            let decisions = planner.plan(
                &event(comment, "acme/a", Some("/agent help")),
                Some(crate::plan::RunKey::new("d-1")),
                &facts,
            );
            match decisions.as_slice() {
                [Decision::Reply(text)] => text.clone(),
                [Decision::Defer(_)] => "wait".into(),
                other => format!("{other:?}"),
            }
        };
        assert!(help(RepositorySays::Absent).contains("/agent review"));
        assert!(help(RepositorySays::Read(&commands)).contains("/agent review"));
        let off = help(RepositorySays::Read(&none));
        assert!(
            !off.contains("/agent review") && off.contains("/agent status"),
            "{off}"
        );
        let broken_help = help(RepositorySays::Broken(broken));
        assert!(
            !broken_help.contains("/agent run")
                && broken_help.contains("`.agentpods.yaml` does not read, so no agent starts here"),
            "{broken_help}"
        );
        assert_eq!(help(RepositorySays::NotAsked), "wait");
    }

    /// A run done again is held to the file as a new launch is (attacker review 15b, A5):
    /// the retry waits for the file, and the launcher's judgement of the run it finds
    /// refuses an agent the file does not name, or any when it does not read, in the words
    /// a new command is told.
    #[test]
    fn a_retry_is_judged_by_the_repository_s_file() {
        let loaded = opted_in();
        let planner = Planner::new(&loaded.config);
        let file = |text: &str| parse_repository_file(text.as_bytes(), ".agentpods.yaml");
        let none = file("agents: []").expect("reads");
        let commands = file("agents: [{name: a-review, events: false}]").expect("reads");
        let retry = |says: RepositorySays<'_>| -> Result<(), String> {
            let facts = Facts {
                authority: Authority::Preview,
                repository: says,
                ..Facts::default()
            };
            let ev = event(
                "variants/issue_comment/run-on-pull-request.json",
                "acme/a",
                Some("/agent retry"),
            );
            match planner
                .plan(&ev, Some(crate::plan::RunKey::new("d-1")), &facts)
                .as_slice()
            {
                [Decision::Control(Control::Retry { may, .. })] => may
                    .judge(&"a-review".parse().expect("an agent"), &Trigger::Push, None)
                    .map_err(|withheld| match withheld {
                        crate::plan::Withheld::Refused(refusal) => refusal.message("/agent"),
                        crate::plan::Withheld::Waits(why) => why.to_string(),
                    }),
                [Decision::Defer(_)] => Err("wait".into()),
                other => Err(format!("{other:?}")),
            }
        };
        assert_eq!(retry(RepositorySays::NotAsked), Err("wait".into()));
        assert_eq!(retry(RepositorySays::Unanswered), Err("wait".into()));
        assert_eq!(retry(RepositorySays::Absent), Ok(()));
        assert_eq!(retry(RepositorySays::Read(&commands)), Ok(()));
        assert_eq!(
            retry(RepositorySays::Read(&none)),
            Err(
                "Running it again does not start agent `a-review` here: this repository's \
                 `.agentpods.yaml` does not name it, so it does not run here (the file on \
                 `master`, the repository's default branch, counts: a change to it counts \
                 once merged there)"
                    .into()
            )
        );
        let broken = retry(RepositorySays::Broken(
            "`.agentpods.yaml:1:1: the file is empty`",
        ));
        assert!(
            broken.as_ref().is_err_and(|b| b.contains(
                "does not read, so no agent starts here until it is fixed: \
                 `.agentpods.yaml:1:1: the file is empty`"
            )),
            "{broken:?}"
        );
    }

    /// The default branch's name is the repository's admin's to choose, and git allows
    /// `` ` ``, `<`, `>` and `@` in it: the reply shows it in a code span no character of it
    /// closes, so no mention, link or HTML of it renders. Before (attacker review 15a, A1),
    /// it went between single backticks, and a branch named with a backtick broke out.
    #[test]
    fn a_default_branch_s_name_cannot_break_out_of_its_code_span() {
        let loaded = opted_in();
        let planner = Planner::new(&loaded.config);
        let none = parse_repository_file(b"agents: []", ".agentpods.yaml").expect("reads");
        let mut ev = event(
            "variants/issue_comment/run-on-pull-request.json",
            "acme/a",
            Some("/agent review"),
        );
        let hostile = "x`<b>bold</b> @octocat\u{202E}`";
        if let Some(repository) = ev.repository.as_mut() {
            repository.default_branch = hostile.into();
        }
        let facts = Facts {
            authority: Authority::Preview,
            repository: RepositorySays::Read(&none),
            ..Facts::default()
        };
        let decisions = planner.plan(&ev, Some(crate::plan::RunKey::new("d-1")), &facts);
        let reply = decisions
            .iter()
            .find_map(|d| match d {
                Decision::Reply(text) => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("a reply: {decisions:?}"));
        assert!(
            reply.contains("(the file on `` x`<b>bold</b> @octocat[U+202E]` ``, the repository's"),
            "{reply}"
        );
    }
}
