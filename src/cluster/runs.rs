//! The operator's view of runs, for `agentpods runs`: find and list AgentRuns, read the
//! agent's log, ask the controller to stop a run. The intake's and the controller's cancels
//! go through [`request_cancel`] too.
//!
//! Runs are found through the labels the launcher puts on them, then checked against their
//! spec: a label value is a copy made to fit (`owner/name` becomes `owner.name`, in the case
//! it was recorded in; and runs recorded by earlier versions folded look-alike names together), the
//! spec is the name itself.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::config::KubeConfigOptions;

use super::kubeconfig::{self, KubeconfigProblem};
use kube::{Api, Client, ResourceExt};

use crate::agentrun::{AgentRun, CancelReason, Phase};
use crate::github::event::RepoKey;
use crate::render::keys;

/// The annotation naming a pod's default container, as `kubectl logs` reads it.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// kube could not make a client of the kubeconfig or the pod's service account; the
    /// cause says why (its text is the cause's, shown by `text::with_causes`).
    #[error("cannot configure the Kubernetes client")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("{}", .0.problem)]
    Kubeconfig(KubeconfigProblem),
    #[error("your kubeconfig has no context named {context:?} (it has: {})", .known.join(", "))]
    NoContext { context: String, known: Vec<String> },
    #[error("{0:?} is not a run name (lowercase letters, digits, '-' and '.')")]
    BadName(String),
    #[error("--repo {0:?}: expected owner/name")]
    BadRepo(String),
    #[error("run {name} not found in namespace {namespace}{}", hint_text(hint))]
    NotFound {
        name: String,
        namespace: String,
        hint: Option<String>,
    },
    #[error(
        "run {name} in namespace {namespace} already ended {phase}; there is nothing to cancel{}",
        result_text(result)
    )]
    AlreadyEnded {
        name: String,
        namespace: String,
        phase: Phase,
        result: Option<String>,
    },
    #[error("run {name} in namespace {namespace} has no pod yet ({state})")]
    NoPodYet {
        name: String,
        namespace: String,
        state: String,
    },
    #[error(
        "the pod of run {name} in namespace {namespace} is gone ({state}){}",
        result_text(result)
    )]
    PodGone {
        name: String,
        namespace: String,
        state: String,
        result: Option<String>,
    },
    #[error("pod {pod} of run {name} in namespace {namespace} has no log yet: {message}")]
    NoLogYet {
        name: String,
        namespace: String,
        pod: String,
        message: String,
    },
    /// What the API server said (its message, not kube's debug form), or why it did not
    /// answer, with the causes (its address, `Connection refused`): shown once, in the
    /// text, so the error is not also its `source`.
    #[error(
        "Kubernetes API, {doing} in namespace {namespace}: {}",
        api_said(error)
    )]
    Api {
        doing: String,
        namespace: String,
        error: kube::Error,
    },
}

impl RunsError {
    /// One line saying what to do about this error, where there is something to do.
    pub fn what_to_do(&self) -> Option<String> {
        match self {
            RunsError::NoContext { .. } => Some(
                "what to do: give --context one of the names above (`kubectl config \
                 get-contexts` lists them), or leave it out for the current context"
                    .into(),
            ),
            RunsError::Config(_) => Some(
                "what to do: point KUBECONFIG at your cluster's kubeconfig (as for kubectl), \
                 or run this inside the cluster"
                    .into(),
            ),
            RunsError::Kubeconfig(problem) => Some(problem.what_to_do.clone()),
            RunsError::Api {
                namespace, error, ..
            } => match error {
                kube::Error::Api(e) if e.code == 404 => Some(format!(
                    "what to do: install the AgentRun CRD (`kubectl apply -k deploy/crd`), \
                     or check the namespace ({namespace}) and the kubeconfig context"
                )),
                kube::Error::Api(e) if e.code == 401 => Some(
                    "what to do: your kubeconfig's credentials were refused; log in to the \
                     cluster again (`kubectl get agentruns` shows the same)"
                        .into(),
                ),
                kube::Error::Api(e) if e.code == 403 => Some(format!(
                    "what to do: your user may not do this with agentruns.agentpods.dev in \
                     namespace {namespace}; ask for the rights, or pick the namespace with -n"
                )),
                kube::Error::Api(_) => None,
                // The cluster answered (review 13i, F11): with a run of another form.
                kube::Error::SerdeError(_) => Some(format!(
                    "what to do: the cluster answered with an AgentRun this agentpods does not \
                     read (written by another version, or by hand): use the agentpods of the \
                     service's version, or read it with `kubectl get agentruns {} -o yaml`",
                    if namespace == "(all)" {
                        "-A".to_string()
                    } else {
                        format!("-n {namespace}")
                    }
                )),
                _ => Some(
                    "what to do: check that the cluster is reachable from here \
                     (`kubectl cluster-info` with the same KUBECONFIG and --context)"
                        .into(),
                ),
            },
            _ => None,
        }
    }
}

fn hint_text(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default()
}

fn result_text(result: &Option<String>) -> String {
    result
        .as_ref()
        .map(|r| format!("; its result: {r}"))
        .unwrap_or_default()
}

fn api_error(doing: impl Into<String>, namespace: &str) -> impl FnOnce(kube::Error) -> RunsError {
    let doing = doing.into();
    let namespace = namespace.to_string();
    move |error| RunsError::Api {
        doing,
        namespace,
        error,
    }
}

/// The API server's message and code, or why there was no answer, with its causes.
fn api_said(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => crate::text::with_causes(other),
    }
}

/// A client that cannot be configured: the kubeconfig's problem in words when it is one.
fn config_error(e: impl std::error::Error + Send + Sync + 'static) -> RunsError {
    match kubeconfig::explain(&e) {
        Some(problem) => RunsError::Kubeconfig(problem),
        None => RunsError::Config(Box::new(e)),
    }
}

/// A client and the namespace a bare name is looked up in.
pub struct Connection {
    pub client: Client,
    /// The kubeconfig context's namespace (the pod's own in a cluster), as kubectl uses it.
    pub default_namespace: String,
}

/// A client from the usual places: `KUBECONFIG` or `~/.kube/config` (its current context,
/// or `context`), else the in-cluster service account.
pub async fn connect(context: Option<&str>) -> Result<Connection, RunsError> {
    if let Some(missing) = kubeconfig::missing_here() {
        return Err(RunsError::Kubeconfig(missing));
    }
    let read = kubeconfig::read_here().map_err(config_error)?;
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    if let Some(context) = context {
        let known: Vec<String> = read
            .iter()
            .flat_map(|k| k.contexts.iter().map(|c| c.name.clone()))
            .collect();
        if !known.iter().any(|name| name == context) {
            return Err(RunsError::NoContext {
                context: context.to_string(),
                known,
            });
        }
    }
    let config = kubeconfig::config_from(read, &options)
        .await
        .map_err(config_error)?;
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(config_error)?;
    Ok(Connection {
        client,
        default_namespace,
    })
}

/// Which runs to list. Each set field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// `owner/name`, in any case: GitHub's names ignore it, and so does the filter
    /// (`RepoKey`).
    pub repository: Option<String>,
    pub pull_request: Option<u64>,
    pub issue: Option<u64>,
}

impl RunFilter {
    /// The label selector that narrows the list on the server: by pull request or issue.
    /// Not by repository: its label keeps the name's case as the run was recorded, and a
    /// label selector compares exactly, so `acme/x` would not find the runs of `Acme/X`
    /// (one repository to GitHub); [`RunFilter::matches`] picks the repository from the
    /// spec (review 12d, R3).
    pub fn label_selector(&self) -> Result<String, RunsError> {
        let mut terms = Vec::new();
        if let Some(repo) = &self.repository {
            let valid = repo.split_once('/').is_some_and(|(owner, name)| {
                !owner.is_empty() && !name.is_empty() && !name.contains('/')
            });
            if !valid {
                return Err(RunsError::BadRepo(repo.clone()));
            }
        }
        if let Some(number) = self.pull_request {
            terms.push(format!("{}={number}", keys::PR));
        }
        if let Some(number) = self.issue {
            terms.push(format!("{}={number}", keys::ISSUE));
        }
        Ok(terms.join(","))
    }

    /// Whether the run's spec says what the filter asks (labels only suggest it); its
    /// repository as GitHub tells them apart, case aside.
    pub fn matches(&self, run: &AgentRun) -> bool {
        let spec = &run.spec;
        self.repository
            .as_ref()
            .is_none_or(|repo| RepoKey::of_stored(repo).is(&spec.repository))
            && self
                .pull_request
                .is_none_or(|n| spec.pull_request.as_ref().map(|p| p.number) == Some(n))
            && self.issue.is_none_or(|n| spec.issue == Some(n))
    }

    /// In words, for "No runs found for …"; empty when the filter is empty.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(repo) = &self.repository {
            parts.push(repo.clone());
        }
        if let Some(n) = self.pull_request {
            parts.push(format!("pull request #{n}"));
        }
        if let Some(n) = self.issue {
            parts.push(format!("issue #{n}"));
        }
        parts.join(" ")
    }
}

/// The runs a list found: those this binary reads, newest first, and those it does not.
#[derive(Debug, Default)]
pub struct Listed {
    pub runs: Vec<AgentRun>,
    pub unreadable: Vec<Unreadable>,
}

impl Listed {
    /// The runs, each unreadable one logged as a warning (the service's reading: a run of
    /// another version leaves out only itself).
    pub fn into_runs(self) -> Vec<AgentRun> {
        for unreadable in &self.unreadable {
            tracing::warn!(
                run = %unreadable.name,
                namespace = %unreadable.namespace,
                why = %unreadable.why,
                "an AgentRun not in the form this agentpods reads is left out"
            );
        }
        self.runs
    }
}

/// An AgentRun the API server gave that is not in the form this binary reads (written by
/// another version of agentpods, or by hand): named, and left out of the list (review
/// 13i, F11: before, one such run failed the whole list as "check that the cluster is
/// reachable").
#[derive(Debug)]
pub struct Unreadable {
    pub namespace: String,
    pub name: String,
    /// What does not fit, and where (`spec: missing field `event``).
    pub why: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "warning: run {} in namespace {} is not in the form this agentpods reads ({}), so \
             it is not listed; it was written by another version of agentpods or by hand",
            self.name, self.namespace, self.why
        )
    }
}

impl Unreadable {
    /// One line saying what to do about it.
    pub fn what_to_do(&self) -> String {
        format!(
            "what to do: list it with the agentpods of the service's version, or read it with \
             `kubectl get agentrun {} -n {} -o yaml`",
            self.name, self.namespace
        )
    }
}

/// The runs matching `filter` in `namespace` (every namespace when `None`), newest first;
/// each run read on its own, so that one this binary cannot read leaves out only itself.
pub async fn list(
    client: &Client,
    namespace: Option<&str>,
    filter: &RunFilter,
) -> Result<Listed, RunsError> {
    let selector = filter.label_selector()?;
    let resource = ApiResource::erase::<AgentRun>(&());
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let items = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(api_error("listing runs", namespace.unwrap_or("(all)")))?
        .items;
    let mut listed = Listed::default();
    for item in items {
        let (name, in_namespace) = (item.name_any(), item.namespace().unwrap_or_default());
        let read = serde_json::to_value(&item)
            .map_err(|e| e.to_string())
            .and_then(|value| {
                serde_path_to_error::deserialize::<_, AgentRun>(value).map_err(|e| {
                    match e.path().to_string() {
                        path if path == "." => e.inner().to_string(),
                        path => format!("{path}: {}", e.inner()),
                    }
                })
            });
        match read {
            Ok(run) if filter.matches(&run) => listed.runs.push(run),
            Ok(_) => {}
            Err(why) => listed.unreadable.push(Unreadable {
                namespace: in_namespace,
                name,
                why: crate::text::serde_words(&why),
            }),
        }
    }
    sort_newest_first(&mut listed.runs);
    Ok(listed)
}

/// Newest first: by the time the intake recorded the run (to the microsecond), else its
/// creation; then by name, so the order is stable.
pub fn sort_newest_first(runs: &mut [AgentRun]) {
    let when = |run: &AgentRun| {
        run.spec.requested_at.as_ref().map(|t| t.0).or(run
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0))
    };
    runs.sort_by(|a, b| {
        when(b)
            .cmp(&when(a))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
}

/// Whether `name` can name an AgentRun (a DNS subdomain), checked before it goes in a URL.
pub fn check_name(name: &str) -> Result<(), RunsError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(RunsError::BadName(name.to_string()))
    }
}

/// The run `name` in `namespace`; when there is none, the error says where it is instead
/// (another namespace) or which name was likely meant.
pub async fn get(client: &Client, namespace: &str, name: &str) -> Result<AgentRun, RunsError> {
    check_name(name)?;
    let api: Api<AgentRun> = Api::namespaced(client.clone(), namespace);
    let found = api
        .get_opt(name)
        .await
        .map_err(api_error(format!("reading run {name}"), namespace))?;
    match found {
        Some(run) => Ok(run),
        None => Err(RunsError::NotFound {
            name: name.to_string(),
            namespace: namespace.to_string(),
            hint: not_found_hint(client, namespace, name).await,
        }),
    }
}

/// Where a run missing from `namespace` is, from a list of every run. A courtesy: when the
/// list fails (RBAC may allow one namespace only), there is no hint.
async fn not_found_hint(client: &Client, namespace: &str, name: &str) -> Option<String> {
    let all: Api<AgentRun> = Api::all(client.clone());
    let runs = all.list(&ListParams::default()).await.ok()?.items;
    let elsewhere: Vec<String> = runs
        .iter()
        .filter(|r| r.name_any() == name)
        .filter_map(|r| r.namespace())
        .collect();
    if let [other] = elsewhere.as_slice() {
        return Some(format!("it is in namespace {other}: add -n {other}"));
    }
    if !elsewhere.is_empty() {
        return Some(format!(
            "runs of that name are in namespaces {}: choose one with -n",
            elsewhere.join(", ")
        ));
    }
    let names: Vec<String> = runs
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace))
        .map(|r| r.name_any())
        .collect();
    crate::suggest::did_you_mean(name, names.iter().map(String::as_str))
        .map(|m| format!("did you mean {m}?"))
}

/// Whether a run can still be stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelState {
    /// Not finished, and nobody asked yet.
    Active,
    /// Not finished; `spec.cancel` says who asked and why.
    Requested(String),
    /// Finished in this phase.
    Ended(Phase),
}

pub fn cancel_state(run: &AgentRun) -> CancelState {
    match run.status.as_ref().and_then(|s| s.phase.clone()) {
        Some(phase) if phase.is_finished() => CancelState::Ended(phase),
        _ => match &run.spec.cancel {
            Some(reason) => CancelState::Requested(reason.clone()),
            None => CancelState::Active,
        },
    }
}

/// Sets `spec.cancel` on the run `name`; the controller deletes its pod and ends it
/// Cancelled. False when there is no such run.
pub async fn request_cancel(
    runs: &Api<AgentRun>,
    name: &str,
    reason: &CancelReason,
) -> Result<bool, kube::Error> {
    let patch = serde_json::json!({ "spec": { "cancel": reason.to_string() } });
    match runs
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// What `cancel` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// The cancel is recorded on the run; the controller stops it.
    Requested,
    /// Someone asked before (this reason); nothing changed.
    AlreadyRequested(String),
    /// The run had already ended Cancelled; nothing changed.
    Already(Option<String>),
}

/// Asks the controller to stop the run. Asking twice is harmless; a run that ended any other
/// way than Cancelled is refused.
pub async fn cancel(
    client: &Client,
    namespace: &str,
    name: &str,
    reason: &CancelReason,
) -> Result<Cancelled, RunsError> {
    let run = get(client, namespace, name).await?;
    match cancel_state(&run) {
        CancelState::Ended(Phase::Cancelled) => {
            Ok(Cancelled::Already(run.status.and_then(|s| s.message)))
        }
        CancelState::Ended(phase) => Err(RunsError::AlreadyEnded {
            name: name.to_string(),
            namespace: namespace.to_string(),
            phase,
            result: result_line(&run),
        }),
        CancelState::Requested(reason) => Ok(Cancelled::AlreadyRequested(reason)),
        CancelState::Active => {
            let api: Api<AgentRun> = Api::namespaced(client.clone(), namespace);
            let found = request_cancel(&api, name, reason)
                .await
                .map_err(api_error(format!("cancelling run {name}"), namespace))?;
            if found {
                Ok(Cancelled::Requested)
            } else {
                Err(RunsError::NotFound {
                    name: name.to_string(),
                    namespace: namespace.to_string(),
                    hint: Some("it was deleted meanwhile".into()),
                })
            }
        }
    }
}

/// `conclusion: summary` of a finished run.
pub fn result_line(run: &AgentRun) -> Option<String> {
    let result = run.status.as_ref()?.result.as_ref()?;
    Some(format!("{}: {}", result.conclusion, result.summary))
}

/// The run's phase in words, with its status message when there is one.
fn state_of(run: &AgentRun) -> String {
    let status = run.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone()).map_or_else(
        || "not seen by the controller yet".to_string(),
        |p| p.to_string(),
    );
    match status.and_then(|s| s.message.as_deref()) {
        Some(message) => format!("{phase}: {message}"),
        None => phase,
    }
}

/// The agent's log: the run's pod (for a Job, its newest pod), its default container.
pub async fn logs(
    client: &Client,
    namespace: &str,
    name: &str,
    tail_lines: Option<i64>,
) -> Result<String, RunsError> {
    let run = get(client, namespace, name).await?;
    let status = run.status.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let gone = || RunsError::PodGone {
        name: name.to_string(),
        namespace: namespace.to_string(),
        state: state_of(&run),
        result: result_line(&run),
    };
    let pod = if status.job_name.is_some() {
        let selector = format!("{}={name}", keys::RUN);
        let mut candidates = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(api_error(
                format!("listing the pods of run {name}"),
                namespace,
            ))?
            .items;
        candidates.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        candidates.pop().ok_or_else(gone)?
    } else if let Some(pod) = &status.pod_name {
        pods.get_opt(pod)
            .await
            .map_err(api_error(
                format!("reading pod {pod} of run {name}"),
                namespace,
            ))?
            .ok_or_else(gone)?
    } else if status.phase.as_ref().is_some_and(Phase::is_finished) {
        return Err(gone());
    } else {
        return Err(RunsError::NoPodYet {
            name: name.to_string(),
            namespace: namespace.to_string(),
            state: state_of(&run),
        });
    };
    let pod_name = pod.name_any();
    let params = LogParams {
        container: default_container(&pod),
        tail_lines,
        ..LogParams::default()
    };
    match pods.logs(&pod_name, &params).await {
        Ok(text) => Ok(text),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(gone()),
        Err(kube::Error::Api(e)) if e.code == 400 => Err(RunsError::NoLogYet {
            name: name.to_string(),
            namespace: namespace.to_string(),
            pod: pod_name,
            message: e.message,
        }),
        Err(e) => Err(api_error(
            format!("reading the log of pod {pod_name} of run {name}"),
            namespace,
        )(e)),
    }
}

/// The container `kubectl logs` would pick: the annotated default, else the first.
fn default_container(pod: &Pod) -> Option<String> {
    pod.annotations()
        .get(DEFAULT_CONTAINER)
        .cloned()
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agentrun::{AgentRunSpec, AgentRunStatus, Conclusion, PullRequestRef, RunResult};

    fn run(repository: &str, pr: Option<u64>, issue: Option<u64>) -> AgentRun {
        let spec = AgentRunSpec {
            repository: repository.into(),
            pull_request: pr.map(|number| PullRequestRef {
                number,
                head_sha: None,
                head_ref: None,
                before_sha: None,
            }),
            issue,
            ..crate::cluster::decide::tests::spec(None, false)
        };
        AgentRun::new("r", spec)
    }

    #[test]
    fn a_filter_selects_by_labels_and_then_by_the_spec() {
        let filter = RunFilter {
            repository: Some("Codertocat/Hello.World".into()),
            pull_request: Some(2),
            issue: None,
        };
        assert_eq!(
            filter.label_selector().ok().as_deref(),
            Some("agentpods.dev/pr=2")
        );
        assert!(filter.matches(&run("Codertocat/Hello.World", Some(2), None)));
        // GitHub's names ignore case, and so does the filter: by the spec, and not by the
        // label, which keeps the case the run was recorded in (before review 12d, R3, the
        // selector asked for `repo=Codertocat.Hello.World` and these were never listed).
        assert!(filter.matches(&run("codertocat/hello.world", Some(2), None)));
        assert!(filter.matches(&run("CODERTOCAT/Hello.World", Some(2), None)));
        // The same label value, another repository.
        assert!(!filter.matches(&run("Codertocat.Hello/World", Some(2), None)));
        assert!(!filter.matches(&run("Codertocat/Hello.World", Some(3), None)));
        assert!(!filter.matches(&run("Codertocat/Hello.World", None, Some(2))));
        assert!(RunFilter::default().matches(&run("a/b", None, None)));
        assert_eq!(
            RunFilter::default().label_selector().ok().as_deref(),
            Some("")
        );
    }

    #[test]
    fn a_repository_must_be_owner_slash_name() {
        for bad in ["hello", "/x", "x/", "a/b/c", ""] {
            let filter = RunFilter {
                repository: Some(bad.into()),
                ..RunFilter::default()
            };
            assert!(
                matches!(filter.label_selector(), Err(RunsError::BadRepo(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_that_cannot_be_runs_are_refused_before_any_request() {
        for good in ["review-hello-world-2-abc", "a", "a.b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Review", "a/b", "../x", "-a", "a-", "a b", "ä"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let long = "a".repeat(254);
        assert!(check_name(&long).is_err());
    }

    #[test]
    fn only_unfinished_runs_can_be_cancelled() {
        let mut r = run("a/b", Some(1), None);
        assert_eq!(cancel_state(&r), CancelState::Active);
        r.spec.cancel = Some("by me".into());
        assert_eq!(cancel_state(&r), CancelState::Requested("by me".into()));
        r.status = Some(AgentRunStatus {
            phase: Some(Phase::Succeeded),
            result: Some(RunResult {
                conclusion: Conclusion::Success,
                summary: "done".into(),
            }),
            ..AgentRunStatus::default()
        });
        assert_eq!(cancel_state(&r), CancelState::Ended(Phase::Succeeded));
        assert_eq!(result_line(&r).as_deref(), Some("success: done"));
    }
}
