//! A simulated kubelet: every new pod moves Pending → Running → Succeeded or Failed, as one
//! status write per phase (so watchers see each), with the script's termination message and
//! logs. No timers: a pod moves as soon as the kubelet sees it.
//!
//! It plays the Job controller too, for Jobs with `backoffLimit: 0`: a new Job gets one pod
//! from its template (owned by the Job, labelled `job-name`), and the Job's status follows
//! it: `active` while it runs, then `succeeded` and `Complete`, or `failed` and `Failed`.

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
}

pub type Script = Arc<dyn Fn(&Value) -> PodScript + Send + Sync>;

fn pods(store: &Store) -> Resource {
    store.resource("", "v1", "pods").expect("pods are built in")
}

pub async fn run(shared: Arc<Shared>, script: Script) {
    let (mut changes, waiting) = {
        let store = shared.store.lock().expect("fake kube store");
        (store.changes.subscribe(), unstarted(&store))
    };
    for (ns, name) in waiting {
        start(&shared, &script, &ns, &name);
    }
    for (ns, name) in jobs_without_pods(&shared) {
        start_job(&shared, &ns, &name);
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
                if change.kind == "MODIFIED"
                    && change.gvr.group.is_empty()
                    && change.gvr.resource == "pods" =>
            {
                job_follows(&shared, &change.namespace, &change.object);
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
                let waiting = unstarted(&shared.store.lock().expect("fake kube store"));
                for (ns, name) in waiting {
                    start(&shared, &script, &ns, &name);
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn jobs(store: &Store) -> Resource {
    store
        .resource("batch", "v1", "jobs")
        .expect("jobs are built in")
}

/// Jobs with no status yet: the Job controller has not made their pod.
fn jobs_without_pods(shared: &Shared) -> Vec<(String, String)> {
    let store = shared.store.lock().expect("fake kube store");
    let res = jobs(&store);
    store
        .objects
        .iter()
        .filter(|((gvr, _, _), job)| {
            *gvr == res.gvr && job.get("status").is_none_or(Value::is_null)
        })
        .map(|((_, ns, name), _)| (ns.clone(), name.clone()))
        .collect()
}

/// The Job controller's part: the Job's one pod, and the Job's status marked active.
fn start_job(shared: &Shared, ns: &str, name: &str) {
    let mut store = shared.store.lock().expect("fake kube store");
    let res = jobs(&store);
    let Ok(mut job) = store.get(&res, ns, name) else {
        return;
    };
    if job
        .get("status")
        .is_some_and(|s| !s.is_null() && s != &json!({}))
    {
        return;
    }
    let template = job.pointer("/spec/template").cloned().unwrap_or_default();
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels["job-name"] = json!(name);
    labels["batch.kubernetes.io/job-name"] = json!(name);
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{name}-0"),
            "namespace": ns,
            "labels": labels,
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": name,
                "uid": job["metadata"]["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    let started = now();
    job["status"] = json!({"active": 1, "startTime": started});
    let _ = store.replace(&res, ns, name, job, Part::Status);
    let pods = pods(&store);
    let _ = store.create(&pods, ns, pod);
}

/// The Job's status once its pod has ended.
fn job_follows(shared: &Shared, ns: &str, pod: &Value) {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    let (count, condition) = match phase {
        Some("Succeeded") => ("succeeded", "Complete"),
        Some("Failed") => ("failed", "Failed"),
        _ => return,
    };
    let owner = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|owners| owners.iter().find(|o| o["kind"] == "Job"))
        .and_then(|o| o["name"].as_str());
    let Some(job_name) = owner else {
        return;
    };
    let mut store = shared.store.lock().expect("fake kube store");
    let res = jobs(&store);
    let Ok(mut job) = store.get(&res, ns, job_name) else {
        return;
    };
    let finished = now();
    let status = &mut job["status"];
    status["active"] = json!(0);
    status[count] = json!(1);
    status["completionTime"] = json!(finished);
    status["conditions"] = json!([{
        "type": condition,
        "status": "True",
        "lastProbeTime": finished,
        "lastTransitionTime": finished,
    }]);
    let _ = store.replace(&res, ns, job_name, job, Part::Status);
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
    let terminated = statuses(
        &pod,
        |first| {
            let mut state = json!({"terminated": {
                "exitCode": plan.exit_code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": finished,
            }});
            if first && !plan.message.is_empty() {
                state["terminated"]["message"] = json!(plan.message);
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
    set_status(
        shared,
        ns,
        name,
        json!({
            "phase": phase,
            "startTime": started,
            "hostIP": "10.0.0.1",
            "podIP": "10.1.0.2",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
            ],
            "containerStatuses": terminated,
        }),
    );
    true
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
    let _ = store.replace(&res, ns, name, pod, Part::Status);
}
