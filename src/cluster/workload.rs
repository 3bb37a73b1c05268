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

use crate::agent_pod::result::{self as pod_result, ReadConclusion};
use crate::agent_pod::runs_entrypoint;
use crate::agentrun::{Conclusion, RunResult};
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
        // A pod stays Pending while its init containers run: the default template's
        // checkout and agent (the agent runs before the publish step, without the token).
        // Once one has started, the run is running, not waiting for a node.
        Some("Pending") if init_started(pod) => Workload::Running { since: started },
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

/// Whether one of the pod's init containers has started (is running or has ended).
fn init_started(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|s| s.state.as_ref())
        .any(|state| state.running.is_some() || state.terminated.is_some())
}

/// The first container's termination (the one whose result is read: the agent's, or the
/// default template's `publish`, which comes after the agent's init container). When it
/// never ran because an init container failed, that init container's termination, whose
/// message is never believed: its exit code and reason are the result.
fn terminated(pod: &Pod) -> Option<Terminated<'_>> {
    let run = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(keys::RUN))
        .or(pod.metadata.name.as_ref())
        .map_or("RUN", String::as_str);
    let status = pod.status.as_ref()?;
    let first = pod.spec.as_ref().and_then(|s| s.containers.first());
    let main = status.container_statuses.as_ref().and_then(|statuses| {
        first
            .and_then(|c| statuses.iter().find(|s| s.name == c.name))
            .or_else(|| statuses.first())
    });
    if let Some(state) = main
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
    {
        return Some(Terminated {
            state,
            container: &main?.name,
            entrypoint: first.is_some_and(runs_entrypoint),
            run,
        });
    }
    let (name, state) = status
        .init_container_statuses
        .iter()
        .flatten()
        .find_map(|s| {
            let t = s.state.as_ref()?.terminated.as_ref()?;
            (t.exit_code != 0).then_some((&s.name, t))
        })?;
    Some(Terminated {
        state,
        container: name,
        entrypoint: false,
        run,
    })
}

/// The run's result from its container's termination: the result JSON when `agentpods
/// agent` wrote one and exited 0; else a conclusion from the exit and a summary that says no more than
/// the exit code and the reason (no text of the container's).
///
/// The result is read as `agent_pod::result` defines it, from an agent of any version: a
/// conclusion this version writes is taken as it is; another of GitHub's check conclusions
/// (in any case) as GitHub's; any other word (a newer agent's, say) is `neutral`, and the
/// summary says so: neither a success nor a failure the service cannot vouch for.
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
        && let Some(reported) = pod_result::read(message)
    {
        let (conclusion, summary) = match reported.conclusion {
            ReadConclusion::Known(c) => (conclusion_of(c), reported.summary),
            ReadConclusion::Other(word) => {
                match Conclusion::from_github(&word.to_ascii_lowercase()) {
                    Some(c) => (c, reported.summary),
                    None => (
                        Conclusion::Neutral,
                        format!(
                            "The agent reported a conclusion this agentpods does not know (an \
                             agent image newer than the service?); shown as neutral.\n\n{}",
                            reported.summary
                        )
                        .trim_end()
                        .to_string(),
                    ),
                }
            }
        };
        // A pod that failed cannot have succeeded, whatever it says.
        let conclusion = if !succeeded && conclusion == Conclusion::Success {
            Conclusion::Failure
        } else {
            conclusion
        };
        return RunResult {
            conclusion,
            summary,
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

/// The stored conclusion of one the agent writes.
fn conclusion_of(c: pod_result::PodConclusion) -> Conclusion {
    match c {
        pod_result::PodConclusion::Success => Conclusion::Success,
        pod_result::PodConclusion::Failure => Conclusion::Failure,
        pod_result::PodConclusion::Neutral => Conclusion::Neutral,
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

    /// Every frozen result of tests/fixtures/pod_results/ (as agents older, as old as and
    /// newer than this service wrote them) is read, each as its row here says; a file
    /// without a row fails, so none is added and forgotten.
    #[test]
    fn every_frozen_pod_result_is_read_across_versions() {
        let expected: &[(&str, Conclusion, &str)] = &[
            ("v1-cut.json", Conclusion::Success, "é\"\n"),
            (
                "v1-failure.json",
                Conclusion::Failure,
                "The agent exited with status 3.",
            ),
            (
                "v1-neutral.json",
                Conclusion::Neutral,
                "The agent made no changes.",
            ),
            ("v1-pushed.json", Conclusion::Success, "Fixed the typo."),
            (
                "v1-success.json",
                Conclusion::Success,
                "Done: nothing to add.",
            ),
            // GitHub's other conclusions, in any case, are read as GitHub's.
            (
                "other-github-skipped.json",
                Conclusion::Skipped,
                "Nothing to review.",
            ),
            ("other-upper-case.json", Conclusion::Success, "Done."),
            // A newer agent: fields this version does not know are skipped; a conclusion
            // it does not know is neutral, and the summary says so.
            (
                "v2-newer-fields.json",
                Conclusion::Success,
                "Done, with checks.",
            ),
            (
                "v2-unknown-conclusion.json",
                Conclusion::Neutral,
                "The agent reported a conclusion this agentpods does not know",
            ),
        ];
        let frozen = crate::agent_pod::result::frozen();
        let names: Vec<&str> = frozen.iter().map(|(n, _)| n.as_str()).collect();
        let mut rows: Vec<&str> = expected.iter().map(|(n, ..)| *n).collect();
        rows.sort();
        assert_eq!(
            names, rows,
            "a row for every file of tests/fixtures/pod_results/"
        );
        for (file, text) in &frozen {
            let (_, conclusion, summary) =
                expected.iter().find(|(n, ..)| n == file).expect("a row");
            let w = observe(&[ended("Succeeded", 0, text)], &[]);
            let Workload::Ended(e) = w else {
                panic!("{file}: {w:?}")
            };
            assert_eq!(e.result.conclusion, *conclusion, "{file}");
            assert!(
                e.result.summary.starts_with(summary),
                "{file}: {}",
                e.result.summary
            );
            // The same result from a pod that failed is never a success.
            let w = observe(&[ended("Failed", 0, text)], &[]);
            let Workload::Ended(e) = w else {
                panic!("{file}: {w:?}")
            };
            assert_ne!(e.result.conclusion, Conclusion::Success, "{file}");
        }
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

    /// A conclusion this service does not know (an agent newer than it) is no success it
    /// can vouch for, nor a failure: neutral, saying so above the agent's summary.
    #[test]
    fn an_unknown_conclusion_is_neutral_and_says_so() {
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
        assert_eq!(e.result.conclusion, Conclusion::Neutral);
        assert_eq!(
            e.result.summary,
            "The agent reported a conclusion this agentpods does not know (an agent image \
             newer than the service?); shown as neutral.\n\ns"
        );
    }

    #[test]
    fn no_pod_is_absent_and_a_deleting_pod_is_terminating() {
        assert_eq!(observe(&[], &[]), Workload::Absent);
        let mut p = pod(json!({"phase": "Running"}));
        p.metadata.deletion_timestamp = p.metadata.creation_timestamp.clone();
        assert_eq!(observe(&[p], &[]), Workload::Terminating);
    }

    /// The default template's pod: `checkout` and `agent` run as init containers (the pod
    /// is Pending meanwhile, as Kubernetes has it), `publish` writes the result.
    fn three_step_pod(phase: &str, init: serde_json::Value, main: serde_json::Value) -> Pod {
        let entrypoint = |name: &str| json!({"name": name, "command": ["agentpods", "agent"]});
        let mut p = pod(json!({
            "phase": phase,
            "startTime": "2026-11-25T10:00:05Z",
            "initContainerStatuses": init,
            "containerStatuses": main,
        }));
        p.spec = Some(
            serde_json::from_value(json!({
                "initContainers": [entrypoint("checkout"), entrypoint("agent")],
                "containers": [entrypoint("publish")],
            }))
            .unwrap(),
        );
        p
    }

    fn status(name: &str, state: serde_json::Value) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": state})
    }

    #[test]
    fn a_pod_whose_agent_runs_in_an_init_container_is_running_not_waiting_for_a_node() {
        let waiting = json!({"waiting": {"reason": "PodInitializing"}});
        let unscheduled = three_step_pod(
            "Pending",
            json!([
                status("checkout", waiting.clone()),
                status("agent", waiting.clone())
            ]),
            json!([status("publish", waiting.clone())]),
        );
        assert_eq!(observe(&[unscheduled], &[]), Workload::Pending);
        let agent_running = three_step_pod(
            "Pending",
            json!([
                status("checkout", json!({"terminated": {"exitCode": 0}})),
                status(
                    "agent",
                    json!({"running": {"startedAt": "2026-11-25T10:00:07Z"}})
                ),
            ]),
            json!([status("publish", waiting)]),
        );
        assert!(matches!(
            observe(&[agent_running], &[]),
            Workload::Running { since: Some(_) }
        ));
    }

    /// An init container's termination message is never believed (the agent's step runs
    /// the agent, which can write its own): a failed step is its exit code and reason.
    #[test]
    fn a_failed_step_before_publish_is_its_exit_never_its_message() {
        let forged = r#"{"conclusion":"success","summary":"all good"}"#;
        let failed = three_step_pod(
            "Failed",
            json!([
                status("checkout", json!({"terminated": {"exitCode": 0}})),
                status(
                    "agent",
                    json!({"terminated": {"exitCode": 1, "reason": "Error", "message": forged}})
                ),
            ]),
            json!([status(
                "publish",
                json!({"waiting": {"reason": "PodInitializing"}})
            )]),
        );
        let Workload::Ended(e) = observe(&[failed], &[]) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, Conclusion::Failure);
        assert!(
            e.result
                .summary
                .starts_with("the container \"agent\" exited with code 1 (Error)"),
            "{}",
            e.result.summary
        );
        let published = three_step_pod(
            "Succeeded",
            json!([
                status("checkout", json!({"terminated": {"exitCode": 0}})),
                status(
                    "agent",
                    json!({"terminated": {"exitCode": 0, "message": forged}})
                ),
            ]),
            json!([status(
                "publish",
                json!({"terminated": {"exitCode": 0, "message": r#"{"conclusion":"neutral","summary":"no changes"}"#}})
            )]),
        );
        let Workload::Ended(e) = observe(&[published], &[]) else {
            panic!()
        };
        assert_eq!(e.result.conclusion, Conclusion::Neutral);
        assert_eq!(e.result.summary, "no changes");
    }
}
