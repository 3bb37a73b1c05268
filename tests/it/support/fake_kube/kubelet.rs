//! A simulated kubelet: every new pod moves Pending → Running → Succeeded or Failed (a pod
//! with init containers stays Pending while they run, its last one running), as one
//! status write per phase (so watchers see each), with the script's termination message and
//! logs. No timers: a pod moves as soon as the kubelet sees it.
//!
//! It also plays the Job controller for Jobs that run one pod (`completions` and
//! `parallelism` 1): a new Job gets a pod from its template, and the Job ends Complete or
//! Failed with it.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::store::{Part, Resource, Store, now};

/// What one pod does, decided by the test's script from the pod as created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodScript {
    pub exit_code: i32,
    /// Written to the first container's `state.terminated.message`.
    pub message: String,
    /// What `GET .../pods/NAME/log` (and `kubectl logs`) answers once the pod runs.
    pub logs: String,
    /// Stop at Running; `FakeKube::finish_pod` ends it.
    pub stay_running: bool,
}

impl PodScript {
    /// Exits 0 with this termination message.
    pub fn succeeds(message: &str) -> PodScript {
        PodScript {
            exit_code: 0,
            message: message.to_owned(),
            logs: String::new(),
            stay_running: false,
        }
    }

    /// Starts and keeps running until the pod is deleted.
    pub fn stays_running() -> PodScript {
        PodScript {
            stay_running: true,
            ..PodScript::succeeds("")
        }
    }
}

pub type Script = Arc<dyn Fn(&Value) -> PodScript + Send + Sync>;

fn pods(store: &Store) -> Resource {
    store.resource("", "v1", "pods").expect("pods are built in")
}

pub async fn run(shared: Arc<Shared>, script: Script) {
    let (mut changes, waiting, jobs) = {
        let store = shared.store.lock().expect("fake kube store");
        (
            store.changes.subscribe(),
            unstarted(&store),
            unstarted_jobs(&store),
        )
    };
    for (ns, name) in jobs {
        start_job(&shared, &ns, &name);
    }
    for (ns, name) in waiting {
        start(&shared, &script, &ns, &name);
    }
    loop {
        match changes.recv().await {
            Ok(change)
                if change.kind == "ADDED"
                    && change.gvr.group == "batch"
                    && change.gvr.resource == "jobs" =>
            {
                let name = change.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default();
                start_job(&shared, &change.namespace, name);
            }
            Ok(change)
                if change.kind == "ADDED"
                    && change.gvr.group.is_empty()
                    && change.gvr.resource == "pods" =>
            {
                let name = change.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default();
                start(&shared, &script, &change.namespace, name);
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                let (waiting, jobs) = {
                    let store = shared.store.lock().expect("fake kube store");
                    (unstarted(&store), unstarted_jobs(&store))
                };
                for (ns, name) in jobs {
                    start_job(&shared, &ns, &name);
                }
                for (ns, name) in waiting {
                    start(&shared, &script, &ns, &name);
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Pods the kubelet has not touched yet.
fn unstarted(store: &Store) -> Vec<(String, String)> {
    let res = pods(store);
    store
        .objects
        .iter()
        .filter(|((gvr, _, _), pod)| *gvr == res.gvr && pod.pointer("/status/phase").is_none())
        .map(|((_, ns, name), _)| (ns.clone(), name.clone()))
        .collect()
}

fn jobs(store: &Store) -> Resource {
    store
        .resource("batch", "v1", "jobs")
        .expect("jobs are built in")
}

/// Jobs the Job controller has not started yet.
fn unstarted_jobs(store: &Store) -> Vec<(String, String)> {
    let res = jobs(store);
    store
        .objects
        .iter()
        .filter(|((gvr, _, _), job)| *gvr == res.gvr && job.get("status").is_none())
        .map(|((_, ns, name), _)| (ns.clone(), name.clone()))
        .collect()
}

/// The Job controller's first step: the Job's one pod, from its template, owned by it and
/// labelled as Kubernetes labels a Job's pods; the Job active.
fn start_job(shared: &Shared, ns: &str, name: &str) {
    let mut store = shared.store.lock().expect("fake kube store");
    let res = jobs(&store);
    let Ok(mut job) = store.get(&res, ns, name) else {
        return;
    };
    if job.get("status").is_some() {
        return;
    }
    let uid = job["metadata"]["uid"].clone();
    let template = job.pointer("/spec/template").cloned().unwrap_or_default();
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["job-name"] = json!(name);
    labels["batch.kubernetes.io/controller-uid"] = uid.clone();
    labels["controller-uid"] = uid.clone();
    let pod = json!({
        "metadata": {
            "generateName": format!("{name}-"),
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    let pods = pods(&store);
    if store.create(&pods, ns, pod).is_err() {
        return;
    }
    job["status"] = json!({"active": 1, "ready": 0, "startTime": now()});
    let _ = store.replace(&res, ns, name, job, Part::Status);
}

/// The Job controller's last step: a Job whose pod ended ends with it (no retries: the
/// Job's pod either completes it or fails it).
fn end_job_of(store: &mut Store, ns: &str, pod: &Value) {
    let succeeded = match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => true,
        Some("Failed") => false,
        _ => return,
    };
    let Some(owner) = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|owners| owners.iter().find(|o| o["kind"] == "Job"))
    else {
        return;
    };
    let res = jobs(store);
    let name = owner["name"].as_str().unwrap_or_default();
    let Ok(mut job) = store.get(&res, ns, name) else {
        return;
    };
    let finished = now();
    let started = job
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or_else(|| json!(finished));
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastProbeTime": finished, "lastTransitionTime": finished})
    };
    job["status"] = if succeeded {
        json!({
            "active": 0, "ready": 0, "succeeded": 1, "startTime": started,
            "completionTime": finished,
            "conditions": [
                condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ],
        })
    } else {
        json!({
            "active": 0, "ready": 0, "failed": 1, "startTime": started,
            "conditions": [
                condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
            ],
        })
    };
    let _ = store.replace(&res, ns, name, job, Part::Status);
}

fn start(shared: &Shared, script: &Script, ns: &str, name: &str) {
    let Some(pod) = current(shared, ns, name) else {
        return;
    };
    if pod.pointer("/status/phase").is_some() {
        return;
    }
    let plan = script(&pod);
    let started = now();
    let scheduled =
        json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": started}]);
    let waiting = statuses(
        &pod,
        |_| json!({"waiting": {"reason": "ContainerCreating"}}),
        false,
    );
    set_status(
        shared,
        ns,
        name,
        json!({"phase": "Pending", "conditions": scheduled, "containerStatuses": waiting}),
    );
    shared
        .logs
        .lock()
        .expect("fake kube logs")
        .insert((ns.to_owned(), name.to_owned()), plan.logs.clone());
    // As the kubelet does: init containers one after the other while the pod is Pending
    // (the default template's checkout, then its agent, which a script that stays running
    // keeps working), then the containers.
    if has_init_containers(&pod) {
        let count = init_count(&pod);
        let init = init_statuses(&pod, |i| {
            if i + 1 < count {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}})
            } else {
                json!({"running": {"startedAt": started}})
            }
        });
        let waiting = statuses(
            &pod,
            |_| json!({"waiting": {"reason": "PodInitializing"}}),
            false,
        );
        set_status(
            shared,
            ns,
            name,
            json!({
                "phase": "Pending",
                "startTime": started,
                "hostIP": "10.0.0.1",
                "podIP": "10.1.0.2",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                    {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized", "lastTransitionTime": started},
                ],
                "initContainerStatuses": init,
                "containerStatuses": waiting,
            }),
        );
        if !plan.stay_running {
            finish(shared, ns, name, &plan);
        }
        return;
    }
    let running = statuses(&pod, |_| json!({"running": {"startedAt": started}}), true);
    set_status(
        shared,
        ns,
        name,
        json!({
            "phase": "Running",
            "startTime": started,
            "hostIP": "10.0.0.1",
            "podIP": "10.1.0.2",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "True", "lastTransitionTime": started},
            ],
            "containerStatuses": running,
        }),
    );
    if !plan.stay_running {
        finish(shared, ns, name, &plan);
    }
}

/// Terminates every container of a running pod as the script says.
pub fn finish(shared: &Shared, ns: &str, name: &str, plan: &PodScript) -> bool {
    let Some(pod) = current(shared, ns, name) else {
        return false;
    };
    let started = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or_else(|| json!(now()));
    let finished = now();
    let reason = if plan.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    // What the pod logged by its end (a script given at the end may say more).
    let logs = {
        let mut logs = shared.logs.lock().expect("fake kube logs");
        let key = (ns.to_owned(), name.to_owned());
        if !plan.logs.is_empty() {
            logs.insert(key.clone(), plan.logs.clone());
        }
        logs.get(&key).cloned().unwrap_or_default()
    };
    // As the kubelet does: a container that failed with an empty termination message and
    // `FallbackToLogsOnError` gets the end of its log instead.
    let fallback = pod.pointer("/spec/containers/0/terminationMessagePolicy")
        == Some(&json!("FallbackToLogsOnError"))
        && plan.exit_code != 0;
    let message = if plan.message.is_empty() && fallback {
        log_tail(&logs)
    } else {
        plan.message.clone()
    };
    let terminated = statuses(
        &pod,
        |first| {
            let mut state = json!({"terminated": {
                "exitCode": plan.exit_code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": finished,
            }});
            if first && !message.is_empty() {
                state["terminated"]["message"] = json!(message);
            }
            state
        },
        false,
    );
    let phase = if plan.exit_code == 0 {
        "Succeeded"
    } else {
        "Failed"
    };
    let mut status = json!({
        "phase": phase,
        "startTime": started,
        "hostIP": "10.0.0.1",
        "podIP": "10.1.0.2",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
        ],
        "containerStatuses": terminated,
    });
    if has_init_containers(&pod) {
        status["initContainerStatuses"] = init_statuses(
            &pod,
            |_| json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": finished}}),
        );
    }
    set_status(shared, ns, name, status);
    true
}

fn has_init_containers(pod: &Value) -> bool {
    init_count(pod) > 0
}

fn init_count(pod: &Value) -> usize {
    pod.pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn init_statuses(pod: &Value, state: impl Fn(usize) -> Value) -> Value {
    let containers = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "containerID": format!("fake://{}", c["name"].as_str().unwrap_or_default()),
                "ready": false,
                "started": false,
                "restartCount": 0,
                "state": state(i),
            })
        })
        .collect()
}

/// The kubelet's fallback message: the last 80 lines of the log, at most 2048 bytes.
fn log_tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    let tail = lines[lines.len().saturating_sub(80)..].join("\n");
    let mut cut = tail.len().saturating_sub(2048);
    while !tail.is_char_boundary(cut) {
        cut += 1;
    }
    tail[cut..].to_string()
}

fn current(shared: &Shared, ns: &str, name: &str) -> Option<Value> {
    let store = shared.store.lock().expect("fake kube store");
    store.get(&pods(&store), ns, name).ok()
}

fn statuses(pod: &Value, state: impl Fn(bool) -> Value, ready: bool) -> Value {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "containerID": format!("fake://{}", c["name"].as_str().unwrap_or_default()),
                "ready": ready,
                "started": ready,
                "restartCount": 0,
                "state": state(i == 0),
            })
        })
        .collect()
}

fn set_status(shared: &Shared, ns: &str, name: &str, status: Value) {
    let mut store = shared.store.lock().expect("fake kube store");
    let res = pods(&store);
    let Ok(mut pod) = store.get(&res, ns, name) else {
        return;
    };
    pod["status"] = status;
    // The pod may have been deleted meanwhile; then there is nothing to move.
    if let Ok(pod) = store.replace(&res, ns, name, pod, Part::Status) {
        end_job_of(&mut store, ns, &pod);
    }
}
