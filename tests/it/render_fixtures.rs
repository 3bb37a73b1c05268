//! Real GitHub payloads, and our variants of them, through parse → plan → render with the
//! example services.yaml: each one either launches an agent whose objects are valid
//! Kubernetes, or is turned down with a reason someone can read.

use crate::support;

use std::process::{Command, Output};

use agentpods::config::Permission;
use agentpods::github::command::BuiltinVerb;
use agentpods::plan::{
    ApproverAuthority, Authority, Control, Decision, Facts, HeadApproval, IgnoreReason, Refusal,
    RefusalReason, SkipReason, Trigger,
};
use agentpods::render::{GithubUrls, K8sObject, RenderedRun};
use serde_json::Value;
use support::fixtures::{
    Example, Outcome, PAYLOADS, Payload, WEBHOOKS, fixture, kinds, payloads_in, variant,
};
use support::validate;

const PREFIX: &str = "/agent";
const NAMESPACE: &str = "agentpods-runs";
const POD_AND_TASK: &[&str] = &["ConfigMap", "Pod"];

/// What a payload should come to with the example config.
#[derive(Debug)]
enum Expect {
    /// This agent, and only it, launches, rendering these kinds of object in this order.
    Launches {
        agent: &'static str,
        kinds: &'static [&'static str],
    },
    /// Nothing launches, and one of the stated reasons contains this text.
    NotLaunched { because: &'static str },
    /// This agent launches this many times (one comment, several commands), each run with
    /// these kinds of object.
    LaunchesEach {
        agent: &'static str,
        runs: usize,
        kinds: &'static [&'static str],
    },
}
use Expect::{Launches, LaunchesEach, NotLaunched};

#[rustfmt::skip]
const REAL_PAYLOADS: &[(&str, Expect)] = &[
    ("check_run/rerequested.json", NotLaunched { because: "only check runs of agentpods' own GitHub App can be re-run" }),
    ("create/0.json", NotLaunched { because: "`create` events start nothing" }),
    ("installation/created.json", NotLaunched { because: "`installation.created` events start nothing" }),
    ("installation/deleted.json", NotLaunched { because: "`installation.deleted` events start nothing" }),
    ("issue_comment/created.2.json", NotLaunched { because: "the comment holds no command" }),
    ("issue_comment/created.json", NotLaunched { because: "the comment holds no command" }),
    ("issue_comment/deleted.json", NotLaunched { because: "only new comments carry commands" }),
    ("issue_comment/edited.json", NotLaunched { because: "only new comments carry commands" }),
    ("issues/labeled.json", NotLaunched { because: "no agent listens to issues events" }),
    ("issues/opened.json", NotLaunched { because: "no agent listens to issues events" }),
    ("ping/0.json", NotLaunched { because: "the webhook is set up" }),
    ("pull_request/closed.json", NotLaunched { because: "action `closed` is not one of" }),
    ("pull_request/converted_to_draft.json", NotLaunched { because: "action `converted_to_draft` is not one of" }),
    ("pull_request/labeled.json", NotLaunched { because: "action `labeled` is not one of" }),
    ("pull_request/opened.json", Launches { agent: "review", kinds: POD_AND_TASK }),
    ("pull_request/ready_for_review.json", Launches { agent: "review", kinds: POD_AND_TASK }),
    ("pull_request/reopened.json", Launches { agent: "review", kinds: POD_AND_TASK }),
    ("pull_request/synchronize.json", Launches { agent: "review", kinds: POD_AND_TASK }),
    ("push/0.json", Launches { agent: "image", kinds: &["Job"] }),
    ("push/1.json", NotLaunched { because: "push deleted `refs/tags/simple-tag`" }),
    ("release/created.json", NotLaunched { because: "release action `created` is not one of [published]" }),
    ("release/published.json", Launches { agent: "release-notes", kinds: POD_AND_TASK }),
];

#[rustfmt::skip]
const OUR_VARIANTS: &[(&str, Expect)] = &[
    ("issue_comment/by-bot.json", NotLaunched { because: "bots cannot start agents" }),
    ("issue_comment/by-outsider.json", NotLaunched { because: "you need `write` permission" }),
    ("issue_comment/help.json", NotLaunched { because: "`/agent run <task>`" }),
    ("issue_comment/review-with-focus.json", Launches { agent: "review", kinds: POD_AND_TASK }),
    ("issue_comment/run-on-issue.json", Launches { agent: "task", kinds: POD_AND_TASK }),
    ("issue_comment/run-on-pull-request.json", Launches { agent: "task", kinds: POD_AND_TASK }),
    ("issue_comment/run-with-detail.json", Launches { agent: "task", kinds: POD_AND_TASK }),
    ("issue_comment/two-runs.json", LaunchesEach { agent: "task", runs: 2, kinds: POD_AND_TASK }),
    ("issue_comment/typo-revew.json", NotLaunched { because: "did you mean `review`?" }),
    ("pull_request/draft-opened.json", NotLaunched { because: "the pull request is a draft" }),
    ("pull_request/fork-opened.json", NotLaunched { because: "comes from a fork" }),
];

/// Every payload under `root` meets its expectation, and every payload has one.
fn check_all(root: &str, table: &[(&str, Expect)]) {
    let example = Example::load();
    let payloads = payloads_in(root);
    let found: Vec<&str> = payloads.iter().map(|p| p.name.as_str()).collect();
    let listed: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        found, listed,
        "{root}: the payloads on disk and the expectation table differ; give every payload an expectation"
    );
    let failures: Vec<String> = payloads
        .iter()
        .zip(table)
        .filter_map(|(payload, (_, expect))| {
            check(&example.deliver(payload), expect)
                .err()
                .map(|why| format!("{}: {why}", payload.name))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

fn check(outcome: &Outcome, expect: &Expect) -> Result<(), String> {
    let story = outcome.story();
    let reasons = outcome.reasons(PREFIX);
    if let Some(empty) = outcome.decisions.iter().find(|d| match d {
        Decision::Skip { reason, .. } => reason.to_string().trim().is_empty(),
        Decision::Ignore(reason) => reason.to_string().trim().is_empty(),
        Decision::Reply(reason) | Decision::Hint { text: reason, .. } => reason.trim().is_empty(),
        Decision::Refuse(r) => r.message(PREFIX).trim().is_empty(),
        Decision::Defer(why) => why.to_string().trim().is_empty(),
        Decision::Launch(_) | Decision::Control(_) => false,
    }) {
        return Err(format!("a decision gives no reason: {empty:?}\n{story}"));
    }
    match expect {
        Launches { agent, kinds: want } => {
            let run = match outcome.runs.as_slice() {
                [run] => run,
                runs => return Err(format!("expected one launch, got {}:\n{story}", runs.len())),
            };
            if run.agent != *agent || kinds(run) != *want {
                return Err(format!(
                    "expected agent {agent} with {want:?}, got agent {} with {:?}",
                    run.agent,
                    kinds(run)
                ));
            }
            belongs_to_run(run)
        }
        LaunchesEach {
            agent,
            runs,
            kinds: want,
        } => {
            if outcome.runs.len() != *runs {
                return Err(format!(
                    "expected {runs} launches, got {}:\n{story}",
                    outcome.runs.len()
                ));
            }
            for run in &outcome.runs {
                if run.agent != *agent || kinds(run) != *want {
                    return Err(format!(
                        "expected agent {agent} with {want:?}, got agent {} with {:?}",
                        run.agent,
                        kinds(run)
                    ));
                }
                belongs_to_run(run)?;
            }
            Ok(())
        }
        NotLaunched { because } => {
            if !outcome.runs.is_empty() {
                return Err(format!("expected no launch, got:\n{story}"));
            }
            if reasons.iter().any(|r| r.contains(because)) {
                Ok(())
            } else {
                Err(format!("no stated reason contains {because:?}:\n{story}"))
            }
        }
    }
}

/// Every object of a run is in the run's namespace (the image build's own, apart from the
/// agents') and labelled with the run's name.
fn belongs_to_run(run: &RenderedRun) -> Result<(), String> {
    let expected = if run.agent == "image" {
        "agentpods-builds"
    } else {
        NAMESPACE
    };
    if run.namespace != expected {
        return Err(format!(
            "{}: expected namespace {expected}, got {}",
            run.name, run.namespace
        ));
    }
    for object in &run.objects {
        let meta = object.metadata();
        let label = meta
            .labels
            .as_ref()
            .and_then(|l| l.get("agentpods.dev/run"));
        if meta.namespace.as_deref() != Some(expected) || label != Some(&run.name) {
            return Err(format!(
                "{} {}: expected namespace {expected} and label agentpods.dev/run={}, got {:?} and {label:?}",
                object.kind(),
                object.name(),
                run.name,
                meta.namespace
            ));
        }
    }
    Ok(())
}

fn json(object: &K8sObject) -> Value {
    serde_json::to_value(object).expect("objects serialize")
}

fn object<'r>(run: &'r RenderedRun, kind: &str) -> &'r K8sObject {
    run.objects
        .iter()
        .find(|o| o.kind() == kind)
        .unwrap_or_else(|| panic!("run {} has no {kind}: {:?}", run.name, kinds(run)))
}

/// The first container's args, of a Pod or of a Job's pod template.
fn args(object: &K8sObject) -> Vec<String> {
    let v = json(object);
    let spec = if object.kind() == "Job" {
        &v["spec"]["template"]["spec"]
    } else {
        &v["spec"]
    };
    serde_json::from_value(spec["containers"][0]["args"].clone()).expect("args are strings")
}

/// Whether `flag` is followed by `value` in `args`.
fn passes(args: &[String], flag: &str, value: &str) -> bool {
    args.windows(2).any(|w| w[0] == flag && w[1] == value)
}

fn task_text(run: &RenderedRun) -> String {
    json(object(run, "ConfigMap"))["data"]["task.md"]
        .as_str()
        .expect("the ConfigMap holds task.md")
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Every payload

#[test]
fn every_real_payload_launches_an_agent_or_says_why_not() {
    check_all(WEBHOOKS, REAL_PAYLOADS);
}

#[test]
fn every_variant_payload_launches_an_agent_or_says_why_not() {
    check_all(PAYLOADS, OUR_VARIANTS);
}

#[test]
fn every_rendered_manifest_is_valid_kubernetes() {
    let example = Example::load();
    let mut outcomes: Vec<Outcome> = payloads_in(WEBHOOKS)
        .iter()
        .chain(&payloads_in(PAYLOADS))
        .map(|p| example.deliver(p))
        .collect();
    let fork = variant("pull_request/fork-opened.json");
    outcomes.push(example.deliver_with(&fork, &approved(&approval_of(FORK_HEAD))));
    let yaml: String = outcomes.iter().map(Outcome::yaml).collect();
    let objects: usize = outcomes.iter().map(Outcome::object_count).sum();
    let launched: Vec<&str> = outcomes
        .iter()
        .flat_map(|o| &o.runs)
        .map(|r| r.agent.as_str())
        .collect();
    for agent in ["review", "task", "release-notes", "image"] {
        assert!(
            launched.contains(&agent),
            "the payloads should launch every example agent; {agent} never ran (ran: {launched:?})"
        );
    }
    validate::assert_valid("every launch", &yaml, objects);
}

#[test]
fn the_agentrun_crd_is_valid_kubernetes() {
    let out = agentpods_cli(&["crd"]);
    assert!(
        out.status.success(),
        "agentpods crd failed: {}",
        stderr(&out)
    );
    let yaml = stdout(&out);
    assert!(
        yaml.contains("kind: CustomResourceDefinition")
            && yaml.contains("name: agentruns.agentpods.dev"),
        "agentpods crd should print the AgentRun CRD, printed:\n{yaml}"
    );
    validate::assert_valid("agentpods crd", &yaml, 1);
}

#[test]
fn the_kubernetes_check_rejects_a_pod_with_an_unknown_field() {
    let Some(exe) = validate::validator() else {
        return;
    };
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\nspec:\n  containers:\n    \
               - name: agent\n      image: agent\n      comand: [sh]\n";
    let verdict = validate::run(&exe, pod);
    assert!(
        !verdict.exit_ok && !verdict.all_passed(1) && verdict.output.contains("comand"),
        "a Pod with the unknown field `comand` must fail the check, got: {verdict:?}"
    );
}

#[test]
fn the_kubernetes_check_rejects_a_kind_it_has_no_schema_for() {
    // kubernetes-validate only warns (and exits 0) here; our check must not pass it.
    let Some(exe) = validate::validator() else {
        return;
    };
    let verdict = validate::run(
        &exe,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    assert!(
        !verdict.all_passed(1),
        "an object nobody checked must not count as valid: {verdict:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The real payloads, one story each

#[test]
fn an_opened_pull_request_starts_a_review_pod_that_reads_its_task_from_a_config_map() {
    let outcome = Example::load().deliver(&fixture("pull_request/opened.json"));
    let run = outcome.only_run();
    assert_eq!(run.agent, "review");
    assert_eq!(kinds(run), ["ConfigMap", "Pod"]);
    let (config_map, pod) = (json(&run.objects[0]), json(&run.objects[1]));
    assert_eq!(config_map["metadata"]["name"], format!("{}-task", run.name));
    assert_eq!(
        pod["spec"]["volumes"][0]["configMap"]["name"], config_map["metadata"]["name"],
        "the pod mounts the task ConfigMap"
    );
    assert!(
        task_text(run).contains("You are reviewing pull request #2 in Codertocat/Hello-World."),
        "the review prompt names the pull request:\n{}",
        task_text(run)
    );
    let args = args(&run.objects[1]);
    assert!(
        passes(&args, "--ref", "refs/pull/2/head")
            && passes(&args, "--sha", "ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
        "the pod checks out the pull request's head commit: {args:?}"
    );
    assert_eq!(pod["metadata"]["labels"]["agentpods.dev/pr"], "2");
    assert_eq!(
        pod["spec"]["activeDeadlineSeconds"],
        20 * 60,
        "review's timeout is 20m"
    );
    assert_eq!(
        run.concurrency,
        Some(("review-Codertocat/Hello-World-2".to_string(), true)),
        "a new push to the pull request cancels the review in progress"
    );
}

#[test]
fn a_pushed_tag_builds_and_pushes_its_image_with_kaniko() {
    let outcome = Example::load().deliver(&fixture("push/0.json"));
    let run = outcome.only_run();
    assert_eq!((run.agent.as_str(), kinds(run)), ("image", vec!["Job"]));
    let job = json(&run.objects[0]);
    let args = args(&run.objects[0]);
    for wanted in [
        "--context=git://github.com/Codertocat/Hello-World.git#refs/tags/simple-tag#6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "--destination=ghcr.io/agentpods/demo:simple-tag",
    ] {
        assert!(
            args.iter().any(|a| a == wanted),
            "Kaniko should get {wanted}: {args:?}"
        );
    }
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "gcr.io/kaniko-project/executor:v1.23.2"
    );
    assert_eq!(
        job["spec"]["activeDeadlineSeconds"], 3600,
        "image's timeout is 1h"
    );
    assert_eq!(
        job["spec"]["ttlSecondsAfterFinished"],
        24 * 3600,
        "the default TTL is 24h"
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["agentpods.dev/run"], run.name,
        "the Job's pods carry the run label too"
    );
}

/// Review 13d, N3: on GitHub Enterprise Server the run's token would have gone to
/// github.com, where the shipped templates fetched, pushed, opened pull requests and
/// revoked the token. Told the service's GitHub, no pod or Job names github.com, and the
/// two containers that hold the token are given the server and its API.
#[test]
fn on_github_enterprise_server_no_pod_talks_to_github_com() {
    let Example { loaded, engine } = Example::load();
    let ghes = GithubUrls::new("https://ghe.example.com/api/v3", None);
    let example = Example {
        loaded,
        engine: engine.with_github(ghes),
    };
    let runs = [
        example.deliver(&fixture("pull_request/opened.json")),
        example.deliver(&variant("issue_comment/run-on-issue.json")),
        example.deliver(&fixture("push/0.json")),
    ];
    for outcome in &runs {
        let run = outcome.only_run();
        for object in run.objects.iter().filter(|o| o.kind() != "ConfigMap") {
            let v = json(object);
            let spec = if object.kind() == "Job" {
                &v["spec"]["template"]["spec"]
            } else {
                &v["spec"]
            };
            let containers = [&spec["initContainers"], &spec["containers"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten();
            for c in containers {
                let said = format!("{} {}", c["args"], c["env"]);
                assert!(
                    !said.contains("github.com"),
                    "{}: container {} names github.com: {said}",
                    outcome.name,
                    c["name"]
                );
                if c["name"] == "checkout" || c["name"] == "publish" {
                    for (name, value) in [
                        ("AGENTPODS_GIT_BASE_URL", "https://ghe.example.com"),
                        ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
                    ] {
                        assert!(
                            c["env"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|e| e["name"] == name && e["value"] == value),
                            "{}: {} should have {name}={value}: {}",
                            outcome.name,
                            c["name"],
                            c["env"]
                        );
                    }
                }
            }
        }
    }
    let kaniko = args(&runs[2].only_run().objects[0]);
    assert!(
        kaniko
            .iter()
            .any(|a| a.starts_with("--context=git://ghe.example.com/Codertocat/Hello-World.git#")),
        "Kaniko builds from the server: {kaniko:?}"
    );
}

#[test]
fn deleting_a_tag_builds_nothing() {
    let outcome = Example::load().deliver(&fixture("push/1.json"));
    assert_eq!(
        outcome.decisions,
        [Decision::Ignore(IgnoreReason::PushDeleted {
            git_ref: "refs/tags/simple-tag".into()
        })]
    );
}

#[test]
fn a_published_release_drafts_release_notes_for_its_tag() {
    let outcome = Example::load().deliver(&fixture("release/published.json"));
    let run = outcome.only_run();
    assert_eq!(run.agent, "release-notes");
    assert!(
        task_text(run).starts_with("Draft release notes for Codertocat/Hello-World 0.0.1"),
        "{}",
        task_text(run)
    );
    let args = args(object(run, "Pod"));
    assert!(passes(&args, "--ref", "refs/tags/0.0.1"), "{args:?}");
}

#[test]
fn closing_a_pull_request_cancels_its_runs_and_starts_nothing() {
    let payload = fixture("pull_request/closed.json");
    let outcome = Example::load().deliver(&payload);
    assert!(outcome.runs.is_empty(), "{}", outcome.story());
    // The payload's closed_at (GitHub's 2019-05-15T15:21:18Z, moved to the present as
    // every payload's times are: see `fixtures::fresh`).
    let body: serde_json::Value = serde_json::from_slice(&payload.body()).expect("JSON");
    let closed_at = body["pull_request"]["closed_at"]
        .as_str()
        .expect("closed_at")
        .parse()
        .expect("a time");
    assert!(
        outcome
            .decisions
            .contains(&Decision::Control(Control::CancelPullRequest {
                number: 2,
                // The runs recorded until it closed, not those of a later reopening.
                asked_at: Some(closed_at),
            })),
        "closing #2 should cancel its runs:\n{}",
        outcome.story()
    );
}

#[test]
fn a_comment_without_a_command_is_ignored() {
    let outcome = Example::load().deliver(&fixture("issue_comment/created.json"));
    assert_eq!(
        outcome.decisions,
        [Decision::Ignore(IgnoreReason::NoCommand)]
    );
}

// ---------------------------------------------------------------------------------------
// Our variants

#[test]
fn an_owners_run_command_on_an_issue_starts_the_task_agent_on_the_default_branch() {
    let outcome = Example::load().deliver(&variant("issue_comment/run-on-issue.json"));
    let launch = outcome.launches()[0].clone();
    assert_eq!(
        (
            launch.agent.as_str(),
            launch.task.as_deref(),
            launch.requested_by.as_str()
        ),
        ("task", Some("fix the flaky test"), "Codertocat")
    );
    assert!(matches!(launch.trigger, Trigger::Comment { ref verb, .. } if verb.as_str() == "run"));
    let run = outcome.only_run();
    let task = task_text(run);
    assert!(
        task.contains("on\nissue #1 (\"Spelling error in the README file\")")
            && task.contains("\nfix the flaky test\n"),
        "the task names the issue and carries the request:\n{task}"
    );
    let pod = json(object(run, "Pod"));
    let args = args(object(run, "Pod"));
    assert!(passes(&args, "--ref", "refs/heads/master"), "{args:?}");
    assert!(
        !args.iter().any(|a| a == "--sha"),
        "an issue has no commit to pin: {args:?}"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["resources"],
        serde_json::json!({"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}),
        "the task agent's own resources replace the defaults"
    );
    assert_eq!(pod["spec"]["activeDeadlineSeconds"], 45 * 60);
}

/// The one run of `outcome`, whose launch's task is `detail` and whose prompt shows it
/// whole.
fn launched_with_the_whole_task<'o>(outcome: &'o Outcome, detail: &str) -> &'o RenderedRun {
    assert_eq!(outcome.launches()[0].task.as_deref(), Some(detail));
    let run = outcome.only_run();
    assert!(
        run.task.contains(&format!("\n{detail}\n")),
        "the prompt shows the whole task:\n{}",
        run.task
    );
    run
}

#[test]
fn the_lines_after_a_run_command_reach_the_prompt_and_the_config_map_verbatim() {
    let outcome = Example::load().deliver(&variant("issue_comment/run-with-detail.json"));
    let detail = "fix the flaky test\n\
                  It fails one run in ten on CI:\n\
                  \n\
                  - `tests/net.rs` times out\n\
                  - only on ARM: \"connection reset\"\n\
                  \n\
                  ```\n\
                  key: value\n\
                  ```";
    let run = launched_with_the_whole_task(&outcome, detail);
    assert!(
        !run.task.contains("Thanks for the report"),
        "the text before the command is not part of the task:\n{}",
        run.task
    );
    // The ConfigMap holds the prompt as one string: the task's lines (`key: value` among
    // them) are text in it, not keys.
    assert_eq!(task_text(run), run.task);
    let config_map = json(object(run, "ConfigMap"));
    assert_eq!(
        config_map["data"].as_object().map(|d| d.len()),
        Some(1),
        "{config_map}"
    );
}

/// New-user review 13g, G5: with the example's `task` agent given a verb of its own
/// (`verbs: [go]`), the shipped task prompt was refused (it printed `comment.command.task`,
/// which a bare `/agent go` leaves none), and `/agent go …` kept only its line, while the
/// README says the lines below a command, up to the next, are part of the task. Now they
/// are, for a verb of your own as for `run`, verbatim; and a bare `go` renders too.
#[test]
fn a_verb_of_your_own_takes_the_lines_below_it_as_run_does_and_the_shipped_prompt_works() {
    let work = support::server::Workdir::new();
    work.edit_config("verbs: [run]", "verbs: [go]");
    let loaded = agentpods::config::load(&work.config()).expect("the config loads");
    let engine = agentpods::render::Engine::new(&loaded).expect("its templates compile");
    assert_eq!(
        engine
            .sample_problems(None)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "the shipped templates work with a verb of one's own"
    );
    let example = Example { loaded, engine };
    let with_body = |name: &str, body: &str| {
        let detail = variant("issue_comment/run-with-detail.json");
        let mut json: Value = serde_json::from_slice(&detail.as_recorded()).expect("JSON");
        json["comment"]["body"] = body.into();
        let path = work.dir.path().join(name);
        std::fs::write(&path, json.to_string()).expect("write the payload");
        Payload {
            event: detail.event,
            name: format!("issue_comment/{name}"),
            path,
        }
    };
    let detail = "fix the flaky test\n\
                  It fails one run in ten on CI:\n\
                  \n\
                  - `tests/net.rs` times out\n\
                  \n\
                  ```\n\
                  key: value\n\
                  ```";
    let outcome = example.deliver(&with_body(
        "go-with-detail.json",
        &format!(
            "Thanks!\r\n\r\n/agent go {}\n/agent status",
            detail.replace('\n', "\r\n")
        ),
    ));
    let run = launched_with_the_whole_task(&outcome, detail);
    assert_eq!(task_text(run), run.task);

    let bare = example.deliver(&with_body("go.json", "/agent go"));
    assert_eq!(bare.launches()[0].task, None);
    assert!(
        bare.only_run().task.contains("wrote no task after"),
        "the prompt says there is no task:\n{}",
        bare.only_run().task
    );
}

#[test]
fn two_run_commands_in_one_comment_each_keep_their_own_lines() {
    let outcome = Example::load().deliver(&variant("issue_comment/two-runs.json"));
    let tasks: Vec<Option<&str>> = outcome
        .launches()
        .iter()
        .map(|l| l.task.as_deref())
        .collect();
    assert_eq!(
        tasks,
        [
            Some("fix the flaky test\nin tests/net.rs"),
            Some("update the changelog\nfor 1.2")
        ]
    );
    let prompts: Vec<&str> = outcome.runs.iter().map(|r| r.task.as_str()).collect();
    assert_eq!(prompts.len(), 2, "{}", outcome.story());
    assert!(prompts[0].contains("\nfix the flaky test\nin tests/net.rs\n"));
    assert!(!prompts[0].contains("changelog"), "{}", prompts[0]);
    assert!(prompts[1].contains("\nupdate the changelog\nfor 1.2\n"));
    assert!(!prompts[1].contains("flaky"), "{}", prompts[1]);
}

#[test]
fn an_owners_run_command_on_a_pull_request_works_on_the_pull_request() {
    let outcome = Example::load().deliver(&variant("issue_comment/run-on-pull-request.json"));
    let run = outcome.only_run();
    assert_eq!(run.agent, "task");
    assert!(
        task_text(run).contains("on\npull request #1"),
        "{}",
        task_text(run)
    );
    let pod = object(run, "Pod");
    assert!(
        passes(&args(pod), "--ref", "refs/pull/1/head"),
        "{:?}",
        args(pod)
    );
    assert_eq!(json(pod)["metadata"]["labels"]["agentpods.dev/pr"], "1");
}

#[test]
fn a_review_command_hands_its_focus_to_the_review_agent() {
    let outcome = Example::load().deliver(&variant("issue_comment/review-with-focus.json"));
    let run = outcome.only_run();
    assert_eq!(run.agent, "review");
    assert_eq!(
        outcome.launches()[0].task.as_deref(),
        Some("focus on error handling")
    );
    assert!(
        task_text(run).contains("A maintainer (Codertocat) added: focus on error handling"),
        "{}",
        task_text(run)
    );
}

#[test]
fn an_outsiders_command_is_refused_with_the_reason() {
    let outcome = Example::load().deliver(&variant("issue_comment/by-outsider.json"));
    let refusal = Refusal {
        login: "drive-by".into(),
        reason: RefusalReason::NotAuthorized {
            has: Permission::Read,
            needs: Permission::Write,
            inferred: true,
            allowed_as: None,
        },
    };
    assert_eq!(outcome.decisions, [Decision::Refuse(refusal.clone())]);
    assert_eq!(
        refusal.message(PREFIX),
        "@drive-by you need `write` permission on this repository to start agents \
         (you have `read`, judging by your association with the repository)."
    );
}

#[test]
fn a_bots_command_is_ignored_without_a_reply() {
    let outcome = Example::load().deliver(&variant("issue_comment/by-bot.json"));
    assert_eq!(
        outcome.decisions,
        [Decision::Ignore(IgnoreReason::CommentByBot {
            login: "renovate[bot]".into()
        })]
    );
}

const FORK_HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the service's records say: a maintainer approved `sha`.
fn approval_of(sha: &str) -> [HeadApproval; 1] {
    [HeadApproval {
        sha: sha.parse().expect("a commit"),
        approved_by: "maintainer".into(),
        approved_at: None,
        comment_id: None,
    }]
}

/// The facts of a delivery with those records, whose approver (`maintainer`) GitHub says
/// administers the repository now.
fn approved(approvals: &[HeadApproval]) -> Facts<'_> {
    let approvers = Box::leak(Box::new([ApproverAuthority {
        login: "maintainer".into(),
        authority: Authority::Known(Permission::Admin),
    }]));
    Facts {
        approvals,
        approvers,
        ..Facts::default()
    }
}

#[test]
fn a_fork_pull_request_waits_for_a_maintainers_approval() {
    let outcome = Example::load().deliver(&variant("pull_request/fork-opened.json"));
    let refusal = Refusal {
        login: "forker".into(),
        reason: RefusalReason::ForkNeedsApproval {
            head_sha: FORK_HEAD.parse().expect("a commit id"),
        },
    };
    assert_eq!(outcome.decisions, [Decision::Refuse(refusal.clone())]);
    let message = refusal.message(PREFIX);
    assert!(
        message.contains(&format!("`/agent approve {FORK_HEAD}`")),
        "the reply says what to do, naming the whole commit: {message}"
    );
}

#[test]
fn a_fork_pull_request_runs_once_its_head_commit_is_approved() {
    let example = Example::load();
    let fork = variant("pull_request/fork-opened.json");
    let outcome = example.deliver_with(&fork, &approved(&approval_of(FORK_HEAD)));
    let run = outcome.only_run();
    assert_eq!(run.agent, "review");
    assert!(
        passes(&args(object(run, "Pod")), "--sha", FORK_HEAD),
        "the pod runs exactly the approved commit"
    );
}

#[test]
fn an_approval_of_an_older_commit_does_not_let_a_fork_run() {
    let example = Example::load();
    let fork = variant("pull_request/fork-opened.json");
    let older = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
    let outcome = example.deliver_with(&fork, &approved(&approval_of(older)));
    assert!(outcome.runs.is_empty(), "{}", outcome.story());
    assert!(
        matches!(
            outcome.decisions.as_slice(),
            [Decision::Refuse(Refusal { reason: RefusalReason::ForkNeedsApproval { head_sha }, .. })]
                if head_sha.as_str() == FORK_HEAD
        ),
        "{}",
        outcome.story()
    );
}

#[test]
fn a_draft_pull_request_is_skipped() {
    let outcome = Example::load().deliver(&variant("pull_request/draft-opened.json"));
    assert_eq!(
        outcome.decisions,
        [Decision::Skip {
            agent: "review".parse().expect("an agent name"),
            reason: SkipReason::Draft
        }]
    );
}

#[test]
fn a_mistyped_command_is_answered_with_a_did_you_mean() {
    let outcome = Example::load().deliver(&variant("issue_comment/typo-revew.json"));
    assert_eq!(
        outcome.decisions,
        [Decision::Reply(
            "unknown command `revew`; did you mean `review`? `/agent help` lists the commands"
                .into()
        )]
    );
}

/// `/agent help` lists the commands that work where it is asked (new-user review 13b, N15):
/// on an issue, not `review` (the example's review agent answers it on pull requests only)
/// nor `approve` (a fork pull request's); on a pull request, every one. Before, an issue's
/// help listed both, and `/agent review` there was answered "No agent answers". The help
/// on an issue names them last, as what works on a pull request (13c, N15: it named
/// neither before).
#[test]
fn help_lists_the_commands_that_work_where_it_is_asked() {
    let helped = |payload: &Payload| {
        let outcome = Example::load().deliver(payload);
        let [Decision::Reply(help)] = outcome.decisions.as_slice() else {
            panic!("help should be one reply:\n{}", outcome.story());
        };
        help.clone()
    };
    let listed =
        |help: &str, verb: BuiltinVerb| help.contains(&format!("- `{PREFIX} {}`: ", verb.usage()));

    let on_issue = helped(&variant("issue_comment/help.json"));
    for verb in BuiltinVerb::ALL {
        let expected = !matches!(verb, BuiltinVerb::Review | BuiltinVerb::Approve);
        assert_eq!(
            listed(&on_issue, verb),
            expected,
            "{verb} on an issue:\n{on_issue}"
        );
    }
    // And it says which need a pull request (review 13c, N15), in their order.
    assert!(
        on_issue.ends_with(&format!(
            "\nOn a pull request, also: `{PREFIX} review [focus]`, `{PREFIX} approve [sha]`.\n"
        )),
        "{on_issue}"
    );
    // The same words asked on a pull request.
    let mut body: serde_json::Value =
        serde_json::from_slice(&variant("issue_comment/run-on-pull-request.json").as_recorded())
            .expect("JSON");
    body["comment"]["body"] = format!("{PREFIX} help").into();
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("help-on-pull-request.json");
    std::fs::write(&path, body.to_string()).expect("write the payload");
    let on_pull_request = helped(&Payload {
        event: "issue_comment".into(),
        name: "issue_comment/help-on-pull-request.json".into(),
        path,
    });
    for verb in BuiltinVerb::ALL {
        assert!(
            listed(&on_pull_request, verb),
            "{verb} on a pull request:\n{on_pull_request}"
        );
    }
    // Every verb of an issue works on a pull request too: nothing more to say.
    assert!(!on_pull_request.contains(", also: "), "{on_pull_request}");
}

// ---------------------------------------------------------------------------------------
// The command line

fn agentpods_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the agentpods binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

fn render_cli(event: &str, payload: &str) -> Output {
    agentpods_cli(&[
        "render",
        "--config",
        support::fixtures::EXAMPLE_CONFIG,
        "--event",
        event,
        "--payload",
        payload,
    ])
}

#[test]
fn rendering_a_folder_prints_the_yaml_and_explains_every_payload() {
    let folder = format!("{WEBHOOKS}/pull_request");
    let out = render_cli("pull_request", &folder);
    let (yaml, notes) = (stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "render failed ({}):\n{notes}",
        out.status
    );

    let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("stdout is YAML"))
        .collect();
    let kinds: Vec<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().expect("every document has a kind"))
        .collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "Pod"].repeat(4),
        "opened, ready_for_review, reopened and synchronize each launch a review"
    );

    let payloads: Vec<Payload> = payloads_in(WEBHOOKS)
        .into_iter()
        .filter(|p| p.event == "pull_request")
        .collect();
    for payload in &payloads {
        assert!(
            notes
                .lines()
                .any(|l| l.starts_with(&format!("{}: ", payload.path.display()))),
            "stderr should say what became of {}:\n{notes}",
            payload.name
        );
    }
    assert_eq!(
        notes.matches("agent review: launch review-pr2-").count(),
        4,
        "{notes}"
    );
    assert!(
        notes.contains("closed.json: agent review: not started: pull_request action `closed`"),
        "{notes}"
    );
    validate::assert_valid("agentpods render output", &yaml, documents.len());
}

#[test]
fn rendering_a_payload_that_is_not_json_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "<html>502 Bad Gateway</html>").expect("writable");
    let out = render_cli("pull_request", path.to_str().expect("a UTF-8 path"));
    let notes = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{notes}");
    assert!(
        stdout(&out).is_empty(),
        "nothing is rendered: {}",
        stdout(&out)
    );
    assert!(
        notes.starts_with(&format!(
            "{}: webhook body is not a JSON object",
            path.display()
        )),
        "stderr names the file and the problem:\n{notes}"
    );
    assert!(!notes.contains("panicked"), "{notes}");
}

#[test]
fn rendering_a_payload_of_another_event_fails_with_a_clear_message() {
    let push = format!("{WEBHOOKS}/push/0.json");
    let out = render_cli("pull_request", &push);
    let notes = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{notes}");
    assert!(
        stdout(&out).is_empty(),
        "nothing is rendered: {}",
        stdout(&out)
    );
    assert_eq!(
        notes.trim_end(),
        format!(
            "{push}: webhook body is not a valid `pull_request` event: the `pull_request` field is missing\n\
             what to do: this payload looks like a `push` delivery: pass --event push (--event is \
             the X-GitHub-Event header GitHub sent with it)"
        )
    );
}

/// `render --payload examples/webhooks`, a folder of one folder per event: "no .json
/// payloads in this folder", and nothing of the folder beside it that holds them (new-user
/// review 13h, F18). It names the one of --event.
#[test]
fn rendering_a_folder_of_event_folders_points_at_the_one_of_the_event() {
    let out = render_cli("push", WEBHOOKS);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "{WEBHOOKS}: no .json payloads in this folder\nwhat to do: its folder of this \
             event's payloads is {WEBHOOKS}/push: give --payload {WEBHOOKS}/push"
        )
    );
}

#[test]
fn with_a_cluster_and_no_github_credentials_only_allowed_users_start_agents() {
    use agentpods::plan::Authority;
    let example = Example::load();
    let unavailable = Facts {
        authority: Authority::Unavailable,
        ..Facts::default()
    };
    // The payload says OWNER; with nobody to ask, that grants nothing.
    let outcome = example.deliver_with(&variant("issue_comment/run-on-issue.json"), &unavailable);
    assert!(outcome.runs.is_empty(), "{}", outcome.story());
    assert!(
        matches!(
            outcome.decisions.as_slice(),
            [Decision::Refuse(Refusal {
                reason: RefusalReason::PermissionUnavailable,
                ..
            })]
        ),
        "{}",
        outcome.story()
    );
    assert!(
        outcome.reasons(PREFIX)[0].contains("allowed_users"),
        "the reply says who may: {:?}",
        outcome.reasons(PREFIX)
    );
}

#[test]
fn while_github_has_not_answered_the_payloads_association_grants_nothing() {
    use agentpods::plan::{Authority, Deferral};
    let example = Example::load();
    let unanswered = Facts {
        authority: Authority::Unanswered,
        ..Facts::default()
    };
    // An OWNER by the payload waits for GitHub...
    let outcome = example.deliver_with(&variant("issue_comment/run-on-issue.json"), &unanswered);
    assert_eq!(
        outcome.decisions,
        [Decision::Defer(Deferral::PermissionUnanswered {
            login: "Codertocat".into()
        })],
        "{}",
        outcome.story()
    );
    // ... and someone who is no collaborator is refused at once.
    let outcome = example.deliver_with(&variant("issue_comment/by-outsider.json"), &unanswered);
    assert!(
        matches!(
            outcome.decisions.as_slice(),
            [Decision::Refuse(Refusal {
                reason: RefusalReason::NotAuthorized { inferred: true, .. },
                ..
            })]
        ),
        "{}",
        outcome.story()
    );
}

/// The shipped config's image build runs for the one repository whose image it pushes: a
/// writer of another repository the App is installed on who pushes a `v*` tag gets no
/// Kaniko Job, so neither the push credential (a Dockerfile's `RUN` sees it) nor a push over
/// that image (outside review A2: before, the build ran for every repository).
#[test]
fn a_tag_pushed_to_another_repository_builds_no_image_with_the_push_credential() {
    let example = Example::load();
    let dir = tempfile::tempdir().expect("a folder");
    let tag_push = |repository: Option<(&str, &str)>| {
        let mut push: Value =
            serde_json::from_slice(&fixture("push/0.json").as_recorded()).expect("JSON");
        push["ref"] = "refs/tags/v1.0.0".into();
        if let Some((owner, name)) = repository {
            push["repository"]["full_name"] = format!("{owner}/{name}").into();
            push["repository"]["name"] = name.into();
            push["repository"]["owner"]["login"] = owner.into();
            push["repository"]["owner"]["name"] = owner.into();
        }
        let path = dir
            .path()
            .join(format!("{}.json", repository.map_or("own", |r| r.1)));
        std::fs::write(&path, serde_json::to_vec(&push).expect("JSON")).expect("write");
        example.deliver(&support::fixtures::Payload {
            event: "push".into(),
            name: "push/v1.0.0".into(),
            path,
        })
    };
    // Its own repository builds, with the credential.
    let own = tag_push(None);
    let run = own.only_run();
    assert_eq!((run.agent.as_str(), kinds(run)), ("image", vec!["Job"]));
    assert!(
        own.yaml().contains("secretName: registry-push"),
        "{}",
        own.yaml()
    );

    let other = tag_push(Some(("someone-else", "other-repo")));
    assert!(other.runs.is_empty(), "{}", other.story());
}
