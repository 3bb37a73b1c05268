//! What the cluster shows of a run's pod or Job, reduced to what the controller decides on,
//! and the agent's result read from its termination message. Pure.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

use super::crd::RunResult;

/// The state of a run's workload (its Pod, or its Job and the Job's pods).
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// No pod and no Job carries the run's label.
    Absent,
    /// Being deleted; wait until it is gone.
    Terminating,
    /// Created, not running yet (unscheduled, pulling images).
    Pending,
    Running {
        since: Option<Timestamp>,
    },
    /// Ended by itself.
    Ended(Ending),
    /// Killed from outside: evicted, preempted, its node lost. Worth another attempt.
    Lost {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub succeeded: bool,
    pub result: RunResult,
    pub started: Option<Timestamp>,
}

/// Reasons a pod fails for which the agent is not to blame.
const LOST_REASONS: &[&str] = &[
    "Evicted",
    "Preempting",
    "NodeLost",
    "NodeShutdown",
    "Terminated",
    "UnexpectedAdmissionError",
];

/// The run's workload from the pods and Jobs that carry its label.
pub fn observe(pods: &[Pod], jobs: &[Job]) -> Workload {
    if let Some(job) = jobs.first() {
        return observe_job(job, pods);
    }
    // The newest pod speaks for the run (older ones are earlier attempts being removed).
    let Some(pod) = pods
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
    else {
        return Workload::Absent;
    };
    observe_pod(pod)
}

fn observe_pod(pod: &Pod) -> Workload {
    if pod.metadata.deletion_timestamp.is_some() {
        return Workload::Terminating;
    }
    let Some(status) = &pod.status else {
        return Workload::Pending;
    };
    let started = status.start_time.as_ref().map(|t| t.0);
    let reason = status.reason.clone().unwrap_or_default();
    match status.phase.as_deref() {
        Some("Running") => Workload::Running { since: started },
        Some("Succeeded") => Workload::Ended(Ending {
            succeeded: true,
            result: result_of(terminated(pod), true),
            started,
        }),
        Some("Failed") if LOST_REASONS.contains(&reason.as_str()) => Workload::Lost {
            reason: status
                .message
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or(reason),
        },
        Some("Failed") => Workload::Ended(Ending {
            succeeded: false,
            result: result_of(terminated(pod), false),
            started,
        }),
        _ => Workload::Pending,
    }
}

fn observe_job(job: &Job, pods: &[Pod]) -> Workload {
    if job.metadata.deletion_timestamp.is_some() {
        return Workload::Terminating;
    }
    let status = job.status.clone().unwrap_or_default();
    let condition = |kind: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    let started = status.start_time.as_ref().map(|t| t.0);
    // The result is the last pod's termination message, when a pod wrote one.
    let last_pod = pods
        .iter()
        .filter(|p| terminated(p).is_some())
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    if condition("Complete").is_some() {
        return Workload::Ended(Ending {
            succeeded: true,
            result: result_of(last_pod.and_then(terminated), true),
            started,
        });
    }
    if let Some(failed) = condition("Failed") {
        let mut result = result_of(last_pod.and_then(terminated), false);
        if last_pod.is_none() {
            result.summary = failed
                .message
                .clone()
                .unwrap_or_else(|| failed.reason.clone().unwrap_or_default());
        }
        return Workload::Ended(Ending {
            succeeded: false,
            result,
            started,
        });
    }
    if status.active.unwrap_or(0) > 0
        && pods
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    {
        return Workload::Running { since: started };
    }
    Workload::Pending
}

/// The first container's termination state (the agent's container comes first).
fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .as_ref()
}

/// What the agent writes to its termination message.
#[derive(Deserialize)]
struct Reported {
    conclusion: String,
    #[serde(default)]
    summary: String,
}

/// GitHub's check-run conclusions an agent may report.
const CONCLUSIONS: &[&str] = &[
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
];

/// At most this much of a message that is not a result is kept as the summary.
const MAX_RAW_SUMMARY: usize = 4096;

/// The run's result from a container's termination: the agent's JSON when it wrote one;
/// else, since `FallbackToLogsOnError` puts the log's tail there when a container fails,
/// that text as the summary and a conclusion from the exit.
pub fn result_of(terminated: Option<&ContainerStateTerminated>, succeeded: bool) -> RunResult {
    let fallback = if succeeded { "success" } else { "failure" };
    let Some(t) = terminated else {
        return RunResult {
            conclusion: fallback.into(),
            summary: String::new(),
        };
    };
    let message = t.message.as_deref().unwrap_or_default().trim();
    if let Ok(reported) = serde_json::from_str::<Reported>(message) {
        let conclusion = reported.conclusion.to_ascii_lowercase();
        // A pod that failed cannot have succeeded, whatever it says.
        let conclusion = if !succeeded && conclusion == "success" {
            "failure".to_string()
        } else if CONCLUSIONS.contains(&conclusion.as_str()) {
            conclusion
        } else {
            fallback.to_string()
        };
        return RunResult {
            conclusion,
            summary: reported.summary,
        };
    }
    let mut summary = if message.is_empty() {
        let reason = t.reason.as_deref().unwrap_or("Error");
        if succeeded {
            String::new()
        } else {
            format!("the agent exited with code {} ({reason})", t.exit_code)
        }
    } else {
        message.to_string()
    };
    if summary.len() > MAX_RAW_SUMMARY {
        let mut cut = summary.len() - MAX_RAW_SUMMARY;
        while !summary.is_char_boundary(cut) {
            cut += 1;
        }
        summary = format!("…{}", &summary[cut..]);
    }
    RunResult {
        conclusion: fallback.into(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-11-25T10:00:00Z"},
            "status": status,
        }))
        .expect("a pod")
    }

    fn ended(phase: &str, exit: i32, message: &str) -> Pod {
        pod(json!({
            "phase": phase,
            "startTime": "2026-11-25T10:00:05Z",
            "containerStatuses": [{
                "name": "agent", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit, "message": message, "reason": "Completed"}},
            }],
        }))
    }

    #[test]
    fn the_agents_json_is_the_result() {
        let w = observe(
            &[ended(
                "Succeeded",
                0,
                r#"{"conclusion":"neutral","summary":"nothing to change"}"#,
            )],
            &[],
        );
        let Workload::Ended(e) = w else {
            panic!("{w:?}")
        };
        assert!(e.succeeded);
        assert_eq!(e.result.conclusion, "neutral");
        assert_eq!(e.result.summary, "nothing to change");
    }

    #[test]
    fn a_failed_pod_never_reports_success() {
        let Workload::Ended(e) = observe(
            &[ended(
                "Failed",
                1,
                r#"{"conclusion":"success","summary":"ok"}"#,
            )],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, "failure");
    }

    #[test]
    fn a_log_tail_is_a_summary_not_a_result() {
        let Workload::Ended(e) = observe(&[ended("Failed", 2, "panic: boom\n")], &[]) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, "failure");
        assert_eq!(e.result.summary, "panic: boom");
        let Workload::Ended(e) = observe(&[ended("Failed", 137, "")], &[]) else {
            panic!()
        };
        assert!(e.result.summary.contains("137"), "{}", e.result.summary);
    }

    #[test]
    fn an_evicted_pod_is_lost_not_failed() {
        let w = observe(
            &[pod(
                json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}),
            )],
            &[],
        );
        assert_eq!(
            w,
            Workload::Lost {
                reason: "The node was low on memory.".into()
            }
        );
    }

    #[test]
    fn an_unknown_conclusion_falls_back_to_the_exit() {
        let Workload::Ended(e) = observe(
            &[ended(
                "Succeeded",
                0,
                r#"{"conclusion":"great","summary":"s"}"#,
            )],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, "success");
    }

    #[test]
    fn a_long_raw_message_keeps_its_tail_on_a_char_boundary() {
        let text = "é".repeat(5000);
        let Workload::Ended(e) = observe(&[ended("Failed", 1, &text)], &[]) else {
            panic!()
        };
        assert!(e.result.summary.len() <= MAX_RAW_SUMMARY + "…".len());
        assert!(e.result.summary.starts_with('…'));
    }

    #[test]
    fn no_pod_is_absent_and_a_deleting_pod_is_terminating() {
        assert_eq!(observe(&[], &[]), Workload::Absent);
        let mut p = pod(json!({"phase": "Running"}));
        p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
        assert_eq!(observe(&[p], &[]), Workload::Terminating);
    }
}
