//! AgentRun statuses as the controller writes them, frozen (architecture review 12d, R2).
//!
//! The status is stored too, and an upgrade reads what the old controller wrote: where the
//! run was reported (`status.report`: the check run, the comment, the commit status, the
//! phase GitHub was told), its phase, its result. Were a Rust field renamed and the stored
//! name with it, a new controller would read an in-flight run's report as none and post a
//! second check run and comment; a renamed phase would read as `Unknown` in an older
//! binary, which leaves the run alone for ever. So `tests/fixtures/agentruns/status/
//! v1alpha1/` keeps one status per stage, written once by [`write_stored_statuses`]
//! (ignored) and never again, and these tests hold every later version to them: each reads
//! and is written back byte for byte, and every field this version writes is in one of them.

use std::collections::BTreeSet;
use std::path::Path;

use agentpods::agentrun::{AgentRunStatus, Conclusion, Phase, ReportRefs, RunResult};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::Value;

/// Where the statuses are, one folder per version of the stored format.
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/agentruns/status/v1alpha1"
);

/// The phases as they are stored, in the order of the CRD's schema: frozen.
const STORED_PHASES: [&str; 7] = [
    "Pending",
    "Queued",
    "Running",
    "Succeeded",
    "Failed",
    "Cancelled",
    "TimedOut",
];

fn time(s: &str) -> Time {
    Time(s.parse().expect("a timestamp"))
}

fn condition(type_: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: "True".into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: time("2026-12-04T10:00:05Z"),
        observed_generation: None,
    }
}

/// A status with every field this version writes set, each struct spelled whole (no
/// `..`): a field added to the status does not compile here until it is thought of.
fn everything() -> AgentRunStatus {
    AgentRunStatus {
        phase: Some(Phase::Failed),
        conditions: vec![condition("PodLost", "Evicted", "attempt 1")],
        pod_name: Some("review-pr2-d58c95d3".into()),
        job_name: Some("image-v1-2-0-5a1b2c3d".into()),
        start_time: Some(time("2026-12-04T10:00:10Z")),
        finish_time: Some(time("2026-12-04T10:09:00Z")),
        result: Some(RunResult {
            conclusion: Conclusion::Failure,
            summary: "The tests fail.".into(),
        }),
        report: Some(ReportRefs {
            check_run_id: Some(4),
            comment_id: Some(1_000_001),
            status_context: Some("agentpods/review".into()),
            reported: Some(Phase::Failed),
        }),
        observed_generation: Some(1),
        attempts: 2,
        message: Some("the agent failed".into()),
    }
}

/// One status per stage, as this version's controller writes them (`cluster::decide` and
/// `cluster::report`): waiting for its pod, queued behind a limit, running and reported,
/// a Job finished, cancelled, timed out; and every field at once.
fn stages() -> Vec<(&'static str, AgentRunStatus)> {
    let report = |check: Option<u64>, comment: Option<u64>, reported: Phase| ReportRefs {
        check_run_id: check,
        comment_id: comment,
        status_context: None,
        reported: Some(reported),
    };
    vec![
        (
            "pending",
            AgentRunStatus {
                phase: Some(Phase::Pending),
                pod_name: Some("review-pr2-d58c95d3".into()),
                attempts: 1,
                observed_generation: Some(1),
                message: Some("waiting for the pod to start".into()),
                report: Some(report(Some(4), None, Phase::Pending)),
                ..AgentRunStatus::default()
            },
        ),
        (
            "queued",
            AgentRunStatus {
                phase: Some(Phase::Queued),
                conditions: vec![condition("Queued", "RepositoryLimit", "queued: 3 ahead")],
                observed_generation: Some(1),
                message: Some("queued: 3 ahead".into()),
                report: Some(report(Some(4), None, Phase::Queued)),
                ..AgentRunStatus::default()
            },
        ),
        // A run whose pod was lost and launched again: the controller reads the `Launched`
        // condition's time back for the new attempt's pending deadline and the queue's
        // order (review 12w, R37).
        (
            "relaunched",
            AgentRunStatus {
                phase: Some(Phase::Pending),
                pod_name: Some("review-pr2-d58c95d3".into()),
                attempts: 2,
                observed_generation: Some(1),
                message: Some("waiting for the pod to start".into()),
                conditions: vec![
                    condition("PodLost", "Evicted", "attempt 1"),
                    Condition {
                        last_transition_time: time("2026-12-04T10:05:00Z"),
                        ..condition("Launched", "ObjectsApplied", "attempt 2")
                    },
                ],
                report: Some(report(Some(4), None, Phase::Pending)),
                ..AgentRunStatus::default()
            },
        ),
        // Held by the running limit, not its repository's (read back by the queue and
        // `agentpods runs`).
        (
            "queued-running-limit",
            AgentRunStatus {
                phase: Some(Phase::Queued),
                conditions: vec![condition("Queued", "RunningLimit", "queued: 12 ahead")],
                observed_generation: Some(1),
                message: Some("queued: 12 ahead".into()),
                report: Some(report(Some(4), None, Phase::Queued)),
                ..AgentRunStatus::default()
            },
        ),
        (
            "running",
            AgentRunStatus {
                phase: Some(Phase::Running),
                pod_name: Some("review-pr2-d58c95d3".into()),
                start_time: Some(time("2026-12-04T10:00:10Z")),
                attempts: 1,
                observed_generation: Some(1),
                message: Some("the agent is working".into()),
                report: Some(report(Some(4), Some(1_000_001), Phase::Running)),
                ..AgentRunStatus::default()
            },
        ),
        (
            "succeeded-job",
            AgentRunStatus {
                phase: Some(Phase::Succeeded),
                job_name: Some("image-v1-2-0-5a1b2c3d".into()),
                start_time: Some(time("2026-12-04T10:00:10Z")),
                finish_time: Some(time("2026-12-04T10:04:00Z")),
                attempts: 1,
                observed_generation: Some(1),
                result: Some(RunResult {
                    conclusion: Conclusion::Success,
                    summary: "Built ghcr.io/acme/app:v1.2.0.".into(),
                }),
                report: Some(report(Some(5), Some(1_000_002), Phase::Succeeded)),
                ..AgentRunStatus::default()
            },
        ),
        // Every field at once (a pod's and a Job's name together never are): a pod
        // evicted once, then failed, reported by commit status.
        ("every-field", everything()),
        (
            "cancelled",
            AgentRunStatus {
                phase: Some(Phase::Cancelled),
                pod_name: Some("task-issue1-0a1b2c3d".into()),
                start_time: Some(time("2026-12-04T10:00:10Z")),
                finish_time: Some(time("2026-12-04T10:02:00Z")),
                attempts: 1,
                result: Some(RunResult {
                    conclusion: Conclusion::Cancelled,
                    summary: "stopped by @octocat".into(),
                }),
                report: Some(report(Some(6), Some(1_000_003), Phase::Cancelled)),
                ..AgentRunStatus::default()
            },
        ),
        (
            "timed-out",
            AgentRunStatus {
                phase: Some(Phase::TimedOut),
                pod_name: Some("review-pr2-d58c95d3".into()),
                start_time: Some(time("2026-12-04T10:00:10Z")),
                finish_time: Some(time("2026-12-04T11:00:10Z")),
                attempts: 1,
                result: Some(RunResult {
                    conclusion: Conclusion::TimedOut,
                    summary: "the run took longer than 1h".into(),
                }),
                report: Some(report(Some(4), Some(1_000_001), Phase::TimedOut)),
                ..AgentRunStatus::default()
            },
        ),
    ]
}

/// The stored statuses: file name and the status as JSON.
fn stored() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("{FIXTURES}: {e}"))
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{FIXTURES}: no stored status");
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            let value: Value =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (file_name(path), value)
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every key path in `value` (`report.checkRunId`; list items as `[]`).
fn paths(value: &Value, at: &str, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                into.insert(path.clone());
                paths(inner, &path, into);
            }
        }
        Value::Array(items) => {
            for item in items {
                paths(item, &format!("{at}[]"), into);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

#[test]
fn every_stored_status_reads_and_is_written_back_as_it_was() {
    for (file, value) in stored() {
        let status: AgentRunStatus = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{file}: does not read: {e}"));
        assert_eq!(
            serde_json::to_value(&status).expect("JSON"),
            value,
            "{file}: written back otherwise than it was stored: a field or a name of the \
             stored status changed (a renamed Rust field keeps its stored name with \
             #[serde(rename = \"…\")])"
        );
        if let Some(phase) = &status.phase {
            assert!(
                !matches!(phase, Phase::Unknown(_)),
                "{file}: its phase {phase} reads as one this version does not know"
            );
        }
    }
}

#[test]
fn every_field_this_version_writes_is_in_a_stored_status() {
    let mut stored_paths = BTreeSet::new();
    for (_, value) in stored() {
        paths(&value, "", &mut stored_paths);
    }
    let mut written = BTreeSet::new();
    paths(
        &serde_json::to_value(everything()).expect("JSON"),
        "",
        &mut written,
    );
    let missing: Vec<&String> = written.difference(&stored_paths).collect();
    assert!(
        missing.is_empty(),
        "this version writes {missing:?} in a status, which no stored status holds: a \
         renamed field changes what is stored (keep the old name with #[serde(rename = …)]); \
         a new field is recorded in a new stored status (write_stored_statuses)"
    );
}

#[test]
fn the_phases_are_stored_as_they_always_were() {
    let known: Vec<String> = Phase::KNOWN.iter().map(Phase::to_string).collect();
    assert_eq!(known, STORED_PHASES);
    for (phase, name) in Phase::KNOWN.iter().zip(STORED_PHASES) {
        assert_eq!(serde_json::to_value(phase).expect("JSON"), name);
    }
    let mut stored_phases = BTreeSet::new();
    for (_, value) in stored() {
        stored_phases.extend(value["phase"].as_str().map(String::from));
        stored_phases.extend(value["report"]["reported"].as_str().map(String::from));
    }
    let unheld: Vec<&str> = STORED_PHASES
        .iter()
        .copied()
        .filter(|p| !stored_phases.contains(*p))
        .collect();
    assert!(
        unheld.is_empty(),
        "no stored status holds the phases {unheld:?}"
    );
}

/// Writes [`stages`] into the fixtures folder, once: a file already there is never
/// rewritten (if this version writes it otherwise, the stored status changed).
#[test]
#[ignore = "records stored statuses: cargo test --test it stored_statuses::write -- --ignored"]
fn write_stored_statuses() {
    std::fs::create_dir_all(FIXTURES).expect("the fixtures folder");
    let mut differ = Vec::new();
    for (name, status) in stages() {
        let path = Path::new(FIXTURES).join(format!("{name}.yaml"));
        let yaml = serde_yaml::to_string(&status).expect("YAML");
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == yaml => {}
            Ok(_) => differ.push(file_name(&path)),
            Err(_) => std::fs::write(&path, yaml).expect("written"),
        }
    }
    assert!(
        differ.is_empty(),
        "this version writes these statuses otherwise: {differ:?}"
    );
}
