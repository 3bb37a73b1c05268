//! What the cluster shows of a run's pod or Job, reduced to what the controller decides on,
//! and the agent's result read from its termination message. Pure.
//!
//! No text a container printed reaches the AgentRun's status (and from there GitHub): its
//! log may hold the secrets it was given, and only `agentpods agent` redacts them. So a
//! termination message is read only from a container that runs `agentpods agent`, and only
//! when it is the result JSON that it writes; anything else (a log tail that
//! `FallbackToLogsOnError` put there, what another image wrote) is reported as its exit
//! code and reason, pointing at `agentpods runs logs RUN`.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

use super::crd::{Conclusion, RunResult};
use crate::agent_pod::runs_entrypoint;
use crate::render::keys;

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

/// How the agent's container (the pod's first) ended.
#[derive(Debug, Clone, Copy)]
pub struct Terminated<'a> {
    pub state: &'a ContainerStateTerminated,
    pub container: &'a str,
    /// Whether the container runs `agentpods agent`, whose result may be believed.
    pub entrypoint: bool,
    /// The run, to name in `agentpods runs logs RUN`.
    pub run: &'a str,
}

/// The first container's termination (the agent's container comes first).
fn terminated(pod: &Pod) -> Option<Terminated<'_>> {
    let first = pod.spec.as_ref().and_then(|s| s.containers.first());
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let status = first
        .and_then(|c| statuses.iter().find(|s| s.name == c.name))
        .or_else(|| statuses.first())?;
    let run = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(keys::RUN))
        .or(pod.metadata.name.as_ref())
        .map_or("RUN", String::as_str);
    Some(Terminated {
        state: status.state.as_ref()?.terminated.as_ref()?,
        container: &status.name,
        entrypoint: first.is_some_and(runs_entrypoint),
        run,
    })
}

/// What the agent writes to its termination message.
#[derive(Deserialize)]
struct Reported {
    conclusion: String,
    #[serde(default)]
    summary: String,
}

/// The run's result from its container's termination: the result JSON when `agentpods
/// agent` wrote one and exited 0; else a conclusion from the exit and a summary that says no more than
/// the exit code and the reason (no text of the container's).
pub fn result_of(terminated: Option<Terminated<'_>>, succeeded: bool) -> RunResult {
    let fallback = if succeeded {
        Conclusion::Success
    } else {
        Conclusion::Failure
    };
    let Some(t) = terminated else {
        return RunResult {
            conclusion: fallback,
            summary: String::new(),
        };
    };
    let message = t.state.message.as_deref().unwrap_or_default().trim();
    // `agentpods agent` exits 0 exactly when it wrote the result. A container that it did
    // not finish (killed at the deadline, out of memory) holds whatever the agent, which
    // can write the file too, left there.
    if t.entrypoint
        && t.state.exit_code == 0
        && let Ok(reported) = serde_json::from_str::<Reported>(message)
    {
        // One of GitHub's check-run conclusions, in any case; else the exit's.
        let conclusion =
            Conclusion::from_github(&reported.conclusion.to_ascii_lowercase()).unwrap_or(fallback);
        // A pod that failed cannot have succeeded, whatever it says.
        let conclusion = if !succeeded && conclusion == Conclusion::Success {
            Conclusion::Failure
        } else {
            conclusion
        };
        return RunResult {
            conclusion,
            summary: reported.summary,
        };
    }
    let summary = if succeeded {
        String::new()
    } else {
        let reason = t.state.reason.as_deref().unwrap_or("Error");
        format!(
            "the container {:?} exited with code {} ({reason}). Its log is not shown here, since it may hold secrets: `agentpods runs logs {}`.",
            t.container, t.state.exit_code, t.run
        )
    };
    RunResult {
        conclusion: fallback,
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

    /// A pod whose first container runs `command` and ended so.
    fn ended_running(command: &[&str], phase: &str, exit: i32, message: &str) -> Pod {
        let mut p = pod(json!({
            "phase": phase,
            "startTime": "2026-11-25T10:00:05Z",
            "containerStatuses": [
                {
                    "name": "sidecar", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "message": "{\"conclusion\":\"success\"}"}},
                },
                {
                    "name": "agent", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": exit, "message": message, "reason": "Completed"}},
                },
            ],
        }));
        p.spec = Some(
            serde_json::from_value(json!({"containers": [
                {"name": "agent", "command": command},
                {"name": "sidecar"},
            ]}))
            .expect("a pod spec"),
        );
        p.metadata.labels = Some([(keys::RUN.to_string(), "review-1".to_string())].into());
        p
    }

    /// A pod of `agentpods agent` that ended so.
    fn ended(phase: &str, exit: i32, message: &str) -> Pod {
        ended_running(&["agentpods", "agent"], phase, exit, message)
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
        assert_eq!(e.result.conclusion, Conclusion::Neutral);
        assert_eq!(e.result.summary, "nothing to change");
    }

    #[test]
    fn a_failed_pod_never_reports_success() {
        let Workload::Ended(e) = observe(
            &[ended(
                "Failed",
                0,
                r#"{"conclusion":"success","summary":"ok"}"#,
            )],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, Conclusion::Failure);
        assert_eq!(e.result.summary, "ok");
    }

    #[test]
    fn a_result_the_entrypoint_did_not_finish_is_not_believed() {
        // The agent wrote a result of its own, then outlived the pod's deadline: the
        // kubelet killed the entrypoint before it could write the real one.
        let Workload::Ended(e) = observe(
            &[ended(
                "Failed",
                137,
                r#"{"conclusion":"failure","summary":"key sk-live-0123456789"}"#,
            )],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, Conclusion::Failure);
        assert!(
            !e.result.summary.contains("sk-live"),
            "{}",
            e.result.summary
        );
        assert!(
            e.result.summary.contains("code 137"),
            "{}",
            e.result.summary
        );
    }

    #[test]
    fn a_log_tail_is_never_shown_only_the_exit_and_where_the_log_is() {
        // What FallbackToLogsOnError puts in the termination message is the log's tail.
        let Workload::Ended(e) = observe(
            &[ended("Failed", 2, "OPENAI_API_KEY=sk-live-0123456789\n")],
            &[],
        ) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, Conclusion::Failure);
        assert_eq!(
            e.result.summary,
            "the container \"agent\" exited with code 2 (Completed). Its log is not shown here, \
             since it may hold secrets: `agentpods runs logs review-1`."
        );
        let Workload::Ended(e) = observe(&[ended("Failed", 137, "")], &[]) else {
            panic!()
        };
        assert!(
            e.result.summary.contains("code 137"),
            "{}",
            e.result.summary
        );
    }

    #[test]
    fn only_agentpods_agent_is_believed_to_write_a_result() {
        // An image build's RUN step can write the termination message too.
        let kaniko = ended_running(
            &["/kaniko/executor"],
            "Failed",
            1,
            r#"{"conclusion":"failure","summary":"registry password hunter2hunter2"}"#,
        );
        let Workload::Ended(e) = observe(&[kaniko], &[]) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, Conclusion::Failure);
        assert!(
            !e.result.summary.contains("hunter2"),
            "{}",
            e.result.summary
        );
        assert!(e.result.summary.contains("exited with code 1"));
    }

    #[test]
    fn a_failed_job_shows_its_pods_exit_not_its_log() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "image-1"},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
        }))
        .unwrap();
        let pod = ended_running(&[], "Failed", 1, "error pushing: auth ZG9ja2VyOnNlY3JldA==");
        let Workload::Ended(e) = observe(&[pod], &[job]) else {
            panic!()
        };
        assert!(
            !e.result.summary.contains("ZG9ja2Vy"),
            "{}",
            e.result.summary
        );
        assert!(
            e.result.summary.contains("`agentpods runs logs review-1`"),
            "{}",
            e.result.summary
        );
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
        assert_eq!(e.result.conclusion, Conclusion::Success);
    }

    #[test]
    fn no_pod_is_absent_and_a_deleting_pod_is_terminating() {
        assert_eq!(observe(&[], &[]), Workload::Absent);
        let mut p = pod(json!({"phase": "Running"}));
        p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
        assert_eq!(observe(&[p], &[]), Workload::Terminating);
    }
}
