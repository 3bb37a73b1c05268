//! The API server's errors read into what the intake needs to know of them
//! ([`ClusterFault`]), so that `ports` and `serve` name no Kubernetes type (review 12w, R34).

use kube::core::Status;
use kube::runtime::watcher;

use crate::ports::launcher::ClusterFault;

/// What a request's failure was: no answer, the CRD missing, or another answer.
pub fn of_request(e: &kube::Error) -> ClusterFault {
    match e {
        kube::Error::Api(status) => of_answer(status),
        _ => ClusterFault::Unanswered,
    }
}

/// What a watch's failure was; `None`: it did not list in time, which is no answer.
pub fn of_watch(e: Option<&watcher::Error>) -> ClusterFault {
    e.and_then(watch_answer)
        .map_or(ClusterFault::Unanswered, of_answer)
}

/// What an error from listing or changing runs was: the CRD missing when the API server
/// said so; otherwise an answer (as a failed list or change was always taken).
pub fn of_runs(e: &kube::Error) -> ClusterFault {
    match e {
        kube::Error::Api(status) => of_answer(status),
        _ => ClusterFault::Answered,
    }
}

fn of_answer(status: &Status) -> ClusterFault {
    if no_agent_runs(status) {
        ClusterFault::CrdMissing
    } else {
        ClusterFault::Answered
    }
}

/// The API server's answer a watch failed with, when it answered.
pub fn watch_answer(e: &watcher::Error) -> Option<&Status> {
    use watcher::Error as W;
    match e {
        W::InitialListFailed(kube::Error::Api(status))
        | W::WatchStartFailed(kube::Error::Api(status))
        | W::WatchFailed(kube::Error::Api(status))
        | W::WatchError(status) => Some(status),
        _ => None,
    }
}

/// Whether `status` is the API server's 404 for a resource it does not serve: agentruns,
/// without the CRD. A run recorded in a namespace that does not exist is a 404 too, about
/// the namespace (its details name `namespaces`).
pub fn no_agent_runs(status: &Status) -> bool {
    status.code == 404
        && status
            .details
            .as_ref()
            .is_none_or(|details| details.kind != "namespaces")
}
