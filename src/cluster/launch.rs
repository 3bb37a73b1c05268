//! The intake's side of the cluster: a decided run becomes an AgentRun, created before the
//! delivery is acknowledged. Runs are named after their delivery and agent, so HTTP 409
//! AlreadyExists is a repeated delivery, which is success.

use std::num::NonZeroU32;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, ResourceExt};

use super::runs::{CancelState, RunFilter, cancel_state, list, request_cancel};
use super::waiting::{FIRST_LIST_WITHIN, Place, Uncounted, WaitingRuns};
use crate::agentrun::{AgentRun, AgentRunSpec, SourceError};
use crate::clock::Clock;
use crate::github::event::{Login, RepoFullName};
use crate::github::webhook::DeliveryId;
use crate::ids::IssueNumber;
use crate::names::short_hash;
use crate::plan::{AgainBy, RunKey};
use crate::ports::approvals::{ApprovalStore, PullRequestKey};
use crate::ports::launcher::RunLine;
use crate::ports::launcher::{
    CancelFuture, CancelRuns, ClusterFault, LaunchError, LaunchFuture, Launched, Launcher, Queued,
    QueuedFuture, RerunRun, RetryFuture, RetryRun, RunAgain, RunToLaunch, RunsFuture,
};
use crate::ports::probe::{PROBE_EVERY, PROBE_TIMEOUT, Readiness};
use crate::render::keys;

/// The label value of a concurrency group.
pub fn concurrency_label(group: &str) -> String {
    short_hash(&[group])
}

/// The AgentRun recording `run`, requested at `now`, its source in the current stored form.
pub fn agent_run(run: &RunToLaunch, now: Timestamp) -> Result<AgentRun, SourceError> {
    let spec = AgentRunSpec::record(&run.source, &run.rendered, &run.delivery, now)?;
    let mut labels = run.rendered.labels.clone();
    if let Some(number) = spec.issue {
        labels.insert(keys::ISSUE.into(), number.to_string());
    }
    if let Some((group, _)) = &run.rendered.concurrency {
        labels.insert(keys::CONCURRENCY.into(), concurrency_label(group));
    }
    Ok(AgentRun {
        metadata: ObjectMeta {
            name: Some(run.rendered.name.clone()),
            namespace: Some(run.rendered.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// A new run doing again what `old` did, for `/agent retry`: the same agent, event and
/// task, named after the retrying delivery, its source recorded in the current form. A
/// source this version cannot read, or cannot record again, is the error: nothing is
/// copied as it is.
pub fn retried(old: &AgentRun, retry: &RetryRun, now: Timestamp) -> Result<AgentRun, SourceError> {
    again(
        old,
        &retry.delivery,
        &retry.requested_by,
        AgainBy::Retry,
        now,
    )
}

/// A new run doing again what `old` did, for GitHub's "Re-run" on its check run: the same
/// agent, event, task and exact commit, named after the re-running delivery (an error as
/// for [`retried`]).
pub fn rerun(old: &AgentRun, rerun: &RerunRun, now: Timestamp) -> Result<AgentRun, SourceError> {
    again(
        old,
        &rerun.delivery,
        &rerun.requested_by,
        AgainBy::Rerun,
        now,
    )
}

/// Whether `old` may run again for whoever `may` describes, under the config in force:
/// its agent by the trigger that first started it, at its code (a fork's or not; a fork's
/// at a head `approvals`, the records of its pull request, approve). `Err`: what the one
/// who asked is answered, a refusal, or a source this version cannot read.
fn may_run_again(
    old: &AgentRun,
    may: &crate::plan::Again,
    approvals: &[crate::plan::HeadApproval],
) -> Result<(), RunAgain> {
    let source = old
        .spec
        .source
        .read()
        .map_err(|source| unrepeatable(old, source))?;
    may.judge(
        &source.launch.agent,
        &source.launch.trigger,
        source.runs_fork_code().then(|| {
            crate::plan::ForkRun::new(
                source.launch.subject.sha(),
                source.pull_request_about(),
                approvals,
            )
        }),
    )
    .map_err(|withheld| match withheld {
        crate::plan::Withheld::Refused(refusal) => RunAgain::Refused(refusal),
        crate::plan::Withheld::Waits(why) => RunAgain::Waits(why),
    })
}

/// `old` cannot be done again by this version, for this reason.
fn unrepeatable(old: &AgentRun, source: SourceError) -> RunAgain {
    RunAgain::Unrepeatable {
        run: old.name_any(),
        source,
    }
}

fn again(
    old: &AgentRun,
    delivery: &DeliveryId,
    requested_by: &Login,
    by: AgainBy,
    now: Timestamp,
) -> Result<AgentRun, SourceError> {
    let mut source = old.spec.source.read()?;
    let name = by.run_name(&source.launch, RunKey::of(delivery));
    source.launch.run_name = name.clone();
    source.launch.requested_by = requested_by.clone();
    let spec = old.spec.again(&source, delivery, requested_by, by, now)?;
    let mut labels = old.metadata.labels.clone().unwrap_or_default();
    labels.insert(keys::RUN.into(), name.to_string());
    // As this version writes it (one recorded before may have folded look-alikes together).
    labels.insert(
        keys::REPO.into(),
        crate::names::repository_label(&old.spec.repository),
    );
    Ok(AgentRun {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: old.metadata.namespace.clone(),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// Records runs as AgentRuns through the Kubernetes API.
pub struct ClusterLauncher {
    client: Client,
    clock: Arc<dyn Clock>,
    /// Where runs live, when the config names their namespaces (else all are searched).
    namespaces: Option<Vec<String>>,
    /// The last probe's verdict, for `/readyz`.
    reachable: Readiness,
    /// The fork approvals the intake records, which a fork's run done again is judged by
    /// under `approve` (none: no head of a fork is approved).
    approvals: Option<Arc<dyn ApprovalStore>>,
    /// The runs waiting in each repository, for `limits.queued_per_repository`.
    waiting: WaitingRuns,
}

impl ClusterLauncher {
    pub fn new(client: Client, clock: Arc<dyn Clock>) -> ClusterLauncher {
        ClusterLauncher {
            clock,
            namespaces: None,
            reachable: Readiness::not_yet("the API server was not asked yet"),
            approvals: None,
            waiting: WaitingRuns::new(client.clone(), None),
            client,
        }
    }

    /// The same, judging a fork's run done again by the approvals in `store` (the store
    /// the intake records them in).
    pub fn with_approvals(mut self, store: Arc<dyn ApprovalStore>) -> ClusterLauncher {
        self.approvals = Some(store);
        self
    }

    /// The approvals recorded for the pull request `old` is about, when `may` judges by
    /// them (`fork_pull_requests: approve`); none for a run about no pull request.
    async fn approvals_of(
        &self,
        old: &AgentRun,
        may: &crate::plan::Again,
    ) -> Result<Vec<crate::plan::HeadApproval>, LaunchError> {
        let (Some(store), Some(pr)) = (&self.approvals, &old.spec.pull_request) else {
            return Ok(Vec::new());
        };
        if !may.reads_approvals() {
            return Ok(Vec::new());
        }
        let key = PullRequestKey::of_stored(&old.spec.repository, IssueNumber(pr.number));
        let record = store.get(&key).await?;
        Ok(record
            .approvals
            .iter()
            .map(crate::plan::HeadApproval::from)
            .collect())
    }

    /// The runs about a pull request or issue of `repository` (by label, then by spec,
    /// its repository case aside: `RepoKey`), newest first.
    async fn runs_about(
        &self,
        repository: &RepoFullName,
        number: IssueNumber,
    ) -> Result<Vec<AgentRun>, LaunchError> {
        let mut runs = Vec::new();
        // RunFilter matches the stored spec's bare numbers.
        let n = number.get();
        for (pull_request, issue) in [(Some(n), None), (None, Some(n))] {
            let filter = RunFilter {
                repository: Some(repository.to_string()),
                pull_request,
                issue,
            };
            match &self.namespaces {
                Some(namespaces) => {
                    for ns in namespaces {
                        runs.extend(
                            list(&self.client, Some(ns), &filter)
                                .await
                                .map_err(|e| self.failed(repository, number, e))?
                                .into_runs(),
                        );
                    }
                }
                None => runs.extend(
                    list(&self.client, None, &filter)
                        .await
                        .map_err(|e| self.failed(repository, number, e))?
                        .into_runs(),
                ),
            }
        }
        crate::cluster::runs::sort_newest_first(&mut runs);
        Ok(runs)
    }

    /// Creates `again` (a run done again, in its old run's namespace); its name. Named after
    /// the delivery that asked, so AlreadyExists is that delivery come again: success.
    async fn record_again(&self, again: AgentRun) -> Result<String, kube::Error> {
        let name = again.metadata.name.clone().unwrap_or_default();
        let ns = again.metadata.namespace.clone().unwrap_or_default();
        let api: Api<AgentRun> = Api::namespaced(self.client.clone(), &ns);
        match api.create(&PostParams::default(), &again).await {
            Ok(_) => {
                self.waiting.recorded(&again);
                Ok(name)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(name),
            Err(e) => Err(e),
        }
    }

    /// The run named `name`, in the namespaces runs live in.
    async fn run_named(&self, name: &str) -> Result<Option<AgentRun>, kube::Error> {
        match &self.namespaces {
            Some(namespaces) => {
                for ns in namespaces {
                    let api: Api<AgentRun> = Api::namespaced(self.client.clone(), ns);
                    if let Some(run) = api.get_opt(name).await? {
                        return Ok(Some(run));
                    }
                }
                Ok(None)
            }
            None => {
                let api: Api<AgentRun> = Api::all(self.client.clone());
                let params =
                    kube::api::ListParams::default().fields(&format!("metadata.name={name}"));
                Ok(api.list(&params).await?.items.into_iter().next())
            }
        }
    }

    /// [`RunAgain::QueueFull`] when `limit` runs of `repository` wait already, so `old`
    /// is not done again.
    async fn queue_full(
        &self,
        old: &AgentRun,
        repository: &RepoFullName,
        limit: std::num::NonZeroU32,
    ) -> Result<Option<RunAgain>, LaunchError> {
        let waiting = self
            .waiting
            .waiting_in(&repository.key())
            .await
            .map_err(|why| self.uncounted(repository, why))?;
        Ok(
            (waiting >= limit.get() as usize).then(|| RunAgain::QueueFull {
                agent: old.spec.agent.clone(),
                waiting,
            }),
        )
    }

    /// The runs waiting in `repository` could not be counted.
    fn uncounted(&self, repository: &RepoFullName, why: Uncounted) -> LaunchError {
        LaunchError::Uncounted {
            repository: repository.clone(),
            namespace: self.namespaces_shown(),
            within: crate::text::duration(FIRST_LIST_WITHIN),
            fault: super::fault::of_watch(why.0.as_deref()),
            source: why
                .0
                .map(|e| e as std::sync::Arc<dyn std::error::Error + Send + Sync>),
        }
    }

    /// The namespaces runs are looked for in, in words.
    fn namespaces_shown(&self) -> String {
        self.namespaces
            .as_ref()
            .map_or_else(|| "(all)".into(), |n| n.join(", "))
    }

    fn failed(
        &self,
        repository: &RepoFullName,
        number: IssueNumber,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> LaunchError {
        let source: crate::ports::launcher::BoxError = Box::new(source);
        LaunchError::Runs {
            repository: repository.clone(),
            number,
            namespace: self.namespaces_shown(),
            fault: source
                .downcast_ref::<kube::Error>()
                .map_or(ClusterFault::Answered, super::fault::of_runs),
            source,
        }
    }

    /// Looks for runs (to cancel, list or retry) in these namespaces only (the config's
    /// `cluster.namespace` and `cluster.namespaces`), which needs no cluster-wide rights.
    pub fn in_namespaces(mut self, namespaces: Option<Vec<String>>) -> ClusterLauncher {
        self.waiting = WaitingRuns::new(self.client.clone(), namespaces.clone());
        self.namespaces = namespaces;
        self
    }

    /// Starts counting the runs that wait in each repository now, rather than at the first
    /// delivery that launches one (which would wait for the first list of every run).
    pub fn start_counting(&self) {
        self.waiting.start();
    }

    /// The same for one namespace.
    pub fn in_namespace(self, namespace: Option<String>) -> ClusterLauncher {
        self.in_namespaces(namespace.map(|n| vec![n]))
    }

    /// Asks the API server for its version now and every few seconds after, for `/readyz`.
    /// `api_server` says which it is and where its address came from (`kube_client`); the
    /// log says when it stops answering (what was tried, what to check) and when it answers
    /// again, once per change, not at every probe. Stops when the launcher is dropped.
    pub fn spawn_probe(&self, api_server: String) -> tokio::task::JoinHandle<()> {
        let client = self.client.clone();
        let last: std::sync::Mutex<Option<bool>> = std::sync::Mutex::new(None);
        let described = api_server.clone();
        self.reachable.spawn_observed(
            PROBE_EVERY,
            PROBE_TIMEOUT,
            "the Kubernetes API server",
            move || {
                let client = client.clone();
                async move {
                    if let Err(e) = client.apiserver_version().await {
                        return Err(format!(
                            "the Kubernetes API server does not answer: {}",
                            unreachable_why(&e)
                        )
                        .into());
                    }
                    // It answers, but without the AgentRun CRD it answers 404 to every run
                    // recorded (new-user review 13h, F15: ready, and every delivery a 503).
                    let group_version = <AgentRun as kube::Resource>::api_version(&());
                    let served = client
                        .list_api_group_resources(&group_version)
                        .await
                        .map(|list| list.resources.iter().any(|r| r.name == AGENT_RUNS));
                    match served {
                        Ok(true) => Ok(()),
                        Ok(false) | Err(kube::Error::Api(_)) => Err(format!(
                            "{CRD_MISSING}: the API server serves no {AGENT_RUNS} in {group_version}; \
                             install it (`kubectl apply -k deploy/crd`); no delivery can \
                             record a run until it is there"
                        )
                        .into()),
                        Err(e) => Err(format!(
                            "the Kubernetes API server does not answer: {}",
                            unreachable_why(&e)
                        )
                        .into()),
                    }
                }
            },
            move |verdict| {
                let now = verdict.is_ok();
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if *last == Some(now) {
                    return;
                }
                match verdict {
                    Ok(()) if last.is_some() => {
                        tracing::info!("the Kubernetes API server {described} answers again");
                    }
                    Ok(()) => tracing::info!("the Kubernetes API server {described} answers"),
                    Err(why) if why.to_string().starts_with(CRD_MISSING) => {
                        tracing::warn!(
                            "the Kubernetes API server {described}: {why}; /readyz fails until \
                             it is (said again when it is)"
                        );
                    }
                    Err(why) => tracing::warn!(
                        "cannot reach the Kubernetes API server {described}: {why}. Check that \
                         the cluster is up and this address is reachable from here, that \
                         KUBECONFIG names the cluster you mean (`kubectl cluster-info`), or run \
                         without a cluster with --dry-run; /readyz fails until it answers \
                         (said again when it does)"
                    ),
                }
                *last = Some(now);
            },
        )
    }
}

/// The plural the AgentRun CRD serves.
const AGENT_RUNS: &str = "agentruns";

/// How the probe's verdict begins when the API server answers without the AgentRun CRD.
const CRD_MISSING: &str = "the AgentRun CRD is not installed";

/// Why a request to the API server failed, in words, with the cause kube's error wraps
/// (`client error (Connect)` alone says nothing of what refused).
pub fn unreachable_why(e: &kube::Error) -> String {
    crate::text::with_causes(e)
}

impl Launcher for ClusterLauncher {
    fn launch<'a>(&'a self, run: &'a RunToLaunch) -> LaunchFuture<'a> {
        Box::pin(async move {
            let object =
                agent_run(run, self.clock.now()).map_err(|source| LaunchError::Unrecordable {
                    name: run.rendered.name.clone(),
                    source,
                })?;
            let api: Api<AgentRun> = Api::namespaced(self.client.clone(), &run.rendered.namespace);
            match api.create(&PostParams::default(), &object).await {
                Ok(_) => {
                    self.waiting.recorded(&object);
                    Ok(Launched::Created)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    self.waiting
                        .release(&run.rendered.namespace, &run.rendered.name);
                    Ok(Launched::AlreadyExists)
                }
                Err(source) => {
                    self.waiting
                        .release(&run.rendered.namespace, &run.rendered.name);
                    Err(LaunchError::Cluster {
                        name: run.rendered.name.clone(),
                        namespace: run.rendered.namespace.clone(),
                        fault: super::fault::of_request(&source),
                        source: Box::new(source),
                    })
                }
            }
        })
    }

    fn queued<'a>(&'a self, run: &'a RunToLaunch, limit: NonZeroU32) -> QueuedFuture<'a> {
        Box::pin(async move {
            let Some(repository) = run.repository() else {
                return Ok(Queued::Placed);
            };
            let (rendered, key) = (&run.rendered, repository.key());
            let limit = usize::try_from(limit.get()).unwrap_or(usize::MAX);
            match self
                .waiting
                .hold(&key, &rendered.namespace, &rendered.name, limit)
                .await
            {
                Ok(Place::Recorded) => Ok(Queued::Recorded),
                Ok(Place::Held) => Ok(Queued::Placed),
                Ok(Place::Full(waiting)) => Ok(Queued::Full(waiting)),
                Err(why) => Err(self.uncounted(repository, why)),
            }
        })
    }

    fn cancel<'a>(&'a self, target: &'a CancelRuns) -> CancelFuture<'a> {
        Box::pin(async move {
            let mut asked = 0;
            for run in self.runs_about(&target.repository, target.number).await? {
                if cancel_state(&run) != CancelState::Active
                    || !target.reaches(run.metadata.creation_timestamp.as_ref().map(|t| t.0))
                {
                    continue;
                }
                let ns = run.namespace().unwrap_or_default();
                let api: Api<AgentRun> = Api::namespaced(self.client.clone(), &ns);
                if request_cancel(&api, &run.name_any(), &target.reason)
                    .await
                    .map_err(|e| self.failed(&target.repository, target.number, e))?
                {
                    asked += 1;
                }
            }
            Ok(asked)
        })
    }

    fn runs_of<'a>(&'a self, repository: &'a RepoFullName, number: IssueNumber) -> RunsFuture<'a> {
        Box::pin(async move {
            let runs = self.runs_about(repository, number).await?;
            Ok(runs
                .into_iter()
                .map(|run| RunLine {
                    name: run.name_any(),
                    agent: run.spec.agent.clone(),
                    phase: run.status.as_ref().and_then(|s| s.phase.clone()),
                    url: None,
                })
                .collect())
        })
    }

    fn retry<'a>(&'a self, retry: &'a RetryRun) -> RetryFuture<'a> {
        Box::pin(async move {
            let runs = self.runs_about(&retry.repository, retry.number).await?;
            if let Some(seen) = runs
                .iter()
                .find(|r| r.spec.delivery == retry.delivery.as_str())
            {
                // This delivery was seen before: it retried once already.
                return Ok(seen
                    .metadata
                    .name
                    .clone()
                    .map_or(RunAgain::NoRun, RunAgain::Recorded));
            }
            // By when the intake recorded it (to the microsecond), else its creation (whole
            // seconds: two runs of one second tied, and the older could be retried; review
            // 15g, H5).
            let at = |r: &AgentRun| {
                r.spec.requested_at.as_ref().map(|t| t.0).or(r
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0))
            };
            let newest = runs.into_iter().max_by_key(at);
            let Some(old) = newest else {
                return Ok(RunAgain::NoRun);
            };
            let approvals = self.approvals_of(&old, &retry.may).await?;
            if let Err(answer) = may_run_again(&old, &retry.may, &approvals) {
                return Ok(answer);
            }
            if let Some(full) = self
                .queue_full(&old, &retry.repository, retry.queued_per_repository)
                .await?
            {
                return Ok(full);
            }
            let again = match retried(&old, retry, self.clock.now()) {
                Ok(again) => again,
                Err(source) => return Ok(unrepeatable(&old, source)),
            };
            self.record_again(again)
                .await
                .map(RunAgain::Recorded)
                .map_err(|e| self.failed(&retry.repository, retry.number, e))
        })
    }

    fn rerun<'a>(&'a self, asked: &'a RerunRun) -> RetryFuture<'a> {
        Box::pin(async move {
            let failed = |source: kube::Error| LaunchError::Cluster {
                name: asked.run.to_string(),
                namespace: self.namespaces_shown(),
                fault: super::fault::of_request(&source),
                source: Box::new(source),
            };
            let Some(old) = self.run_named(asked.run.as_str()).await.map_err(failed)? else {
                return Ok(RunAgain::NoRun);
            };
            // A check run names a run of its own repository only.
            if !asked.repository.key().is(&old.spec.repository) {
                return Ok(RunAgain::NoRun);
            }
            let approvals = self.approvals_of(&old, &asked.may).await?;
            if let Err(answer) = may_run_again(&old, &asked.may, &approvals) {
                return Ok(answer);
            }
            if let Some(full) = self
                .queue_full(&old, &asked.repository, asked.queued_per_repository)
                .await?
            {
                return Ok(full);
            }
            let again = match rerun(&old, asked, self.clock.now()) {
                Ok(again) => again,
                Err(source) => return Ok(unrepeatable(&old, source)),
            };
            self.record_again(again)
                .await
                .map(RunAgain::Recorded)
                .map_err(failed)
        })
    }

    fn ready(&self) -> Result<(), crate::ports::probe::NotReady> {
        self.reachable.verdict()
    }

    fn describe(&self) -> String {
        "AgentRuns created through the Kubernetes API".into()
    }
}
