//! The controller: kube-runtime watches AgentRuns (and the Pods and Jobs they own), and
//! each reconcile reads the run's workload, asks [`decide`] what to do, and does it.
//!
//! Every object of a run is applied with server-side apply (field manager `agentpods`) and
//! an ownerReference to the run, so deleting the run deletes everything. The status is
//! written with the run's resourceVersion: a reconcile working from a stale copy gets 409
//! and is retried from the fresh one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action as Requeue, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::utils::{Backoff, ResetTimerBackoff};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::decide::{Action, RunView, Sibling, Step, decide, unreadable};
use super::events::EventReason;
use super::launch::concurrency_label;
use super::newer::left_for_newer;
use super::queue::{self, Turn};
use super::report::{
    OwnFileSays, RunReports, TokenError, TokenMinter, nothing_posted_unrecorded, pending_report,
};
use super::runs::request_cancel;
use super::workload::{Workload, observe};
use crate::agentrun::source;
use crate::agentrun::{
    AgentRun, AgentRunStatus, Conclusion, Phase, ReportRefs, RunResult, StoredRun, StoredSource,
};
use crate::clock::Clock;
use crate::config::AgentName;
use crate::config::Limits;
use crate::github::event::RepoFullName;
use crate::github_client::{Secret as Token, TokenPermissions};
use crate::ports::reload::ConfigSource;
use crate::render::K8sObject;
use crate::render::keys;
use crate::report::{ReportError, Stage};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "agentpods";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Watch AgentRuns (and their pods and Jobs) in these namespaces only, one watch each
    /// (all namespaces, one watch, when `None`).
    pub namespaces: Option<Vec<String>>,
    /// Look at every run at least this often, whatever its deadlines say.
    pub max_requeue: Duration,
    /// Reconciles at once.
    pub concurrency: u16,
    /// This replica's name in Events (the pod name).
    pub instance: Option<String>,
    /// Told every few seconds how many runs are in each phase and how many are left for a
    /// newer agentpods (the `runs` and `runs_left_for_newer_version` metrics).
    pub counts: Option<CountSink>,
    /// The longest wait before watching again after a watch fails. kube-runtime's default
    /// (client-go's) grows to 30 s and only shrinks after 2 minutes without an error, so a
    /// flaky API server would delay new runs by half a minute.
    pub max_watch_backoff: Duration,
    /// How soon a report GitHub did not take is tried again; doubled for each failure in a
    /// row, up to 32 times it (10 s, then up to about 5 minutes).
    pub report_retry: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            namespaces: None,
            max_requeue: Duration::from_secs(300),
            concurrency: 16,
            instance: None,
            max_watch_backoff: Duration::from_secs(5),
            counts: None,
            report_retry: Duration::from_secs(10),
        }
    }
}

/// What the controller counts of the runs it watches, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// How many runs are in each phase (`None`: not yet seen by a controller).
    pub phases: Vec<(Option<Phase>, u64)>,
    /// How many runs a newer agentpods recorded, which this controller leaves untouched
    /// for the newer controller (see `cluster::newer`).
    pub left_for_newer: u64,
}

/// Receives what the controller counts of its runs.
#[derive(Clone)]
pub struct CountSink(pub Arc<dyn Fn(&RunCounts) + Send + Sync>);

impl std::fmt::Debug for CountSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountSink")
    }
}

/// How often the runs are counted.
const COUNT_EVERY: Duration = Duration::from_secs(5);

/// The number of runs in each phase, and of runs left for a newer agentpods.
pub fn count_runs<'a>(runs: impl IntoIterator<Item = &'a AgentRun>) -> RunCounts {
    let mut counts = RunCounts::default();
    for run in runs {
        let phase = run.status.as_ref().and_then(|s| s.phase.clone());
        match counts.phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, n)) => *n += 1,
            None => counts.phases.push((phase, 1)),
        }
        if left_for_newer(run).is_some() {
            counts.left_for_newer += 1;
        }
    }
    counts
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("Kubernetes API")]
    Kube(#[from] kube::Error),
    #[error("run {0} has no namespace")]
    NoNamespace(String),
    #[error("cannot mint the run's GitHub token")]
    Token(#[source] TokenError),
}

/// Why GitHub was not told of a run's stage, or what it was told is not recorded.
#[derive(Debug, thiserror::Error)]
enum ReportFailure {
    #[error(transparent)]
    Told(#[from] ReportError),
    /// What GitHub created is not recorded in the run's status: looked for at the next try.
    #[error("cannot record the report")]
    NotRecorded(#[source] ControllerError),
}

/// What every reconcile shares.
pub struct Context {
    client: Client,
    config: ConfigSource,
    clock: Arc<dyn Clock>,
    options: ControllerOptions,
    /// Consecutive failures per run, for exponential backoff.
    failures: Mutex<HashMap<RunRef, u32>>,
    /// Consecutive reports GitHub did not take, per run, for their backoff: a repository
    /// deleted or an App without `checks: write` there fails every report, and was asked
    /// every 10 seconds for as long as the run was kept (outside review 15a).
    report_failures: Mutex<HashMap<RunRef, u32>>,
    /// The resourceVersions each run had when this replica last wrote over them (its status,
    /// then its report refs). The watch can hand such a copy, now stale, to the next
    /// reconcile; acting on it again would re-apply objects or re-report.
    acted_on: Mutex<HashMap<RunRef, Vec<String>>>,
    /// Tells GitHub how runs go, when a GitHub client is configured.
    reports: Option<Arc<dyn RunReports>>,
    /// Mints each run's repository token (GitHub App auth only).
    tokens: Option<Arc<dyn TokenMinter>>,
    /// The tokens this replica minted for each run and has not revoked yet: revoked when
    /// the run ends, its pod is deleted, or its launch turns out not to need them. Only
    /// here, never stored, logged or put in a status: after a restart they are gone, and
    /// GitHub's one-hour expiry ends them.
    held: Mutex<HashMap<RunRef, Vec<Token>>>,
    /// The attempt whose token Secret this replica made (or found made) for each run, so
    /// that a launch tried again (the namespace's quota full, the API server failing) uses
    /// it instead of minting a token to revoke at once (review 15c, F14: two GitHub
    /// requests each try, a hundred an hour for a run waiting on a full quota). Dropped
    /// with the run's held tokens.
    secret_made: Mutex<HashMap<RunRef, u32>>,
    /// Reconciles started, for benchmarks and metrics.
    reconciles: AtomicU64,
    /// Runs born while this replica watched (first seen after the lists, with no status:
    /// no one reported them before), or listed still waiting with all that was posted for
    /// them named in their status (`report::nothing_posted_unrecorded`), and whose every
    /// report since kept its ids in the status:
    /// their reports create without looking for a check run or comment first. Dropped
    /// after any failed report or refs write, and when the run is finished and told.
    fresh: Mutex<HashSet<RunRef>>,
    /// The watch's store of every run, for the queue of services.yaml's `limits` (set when
    /// the controller starts).
    store: OnceLock<reflector::Store<AgentRun>>,
    /// Runs this replica decided to launch whose launch the store may not show yet: they
    /// hold their place, so that two reconciles at once do not both take the last one.
    /// Dropped once the store shows the run launched, finished or gone. The lock is held
    /// from reading the queue to deciding (no I/O in between).
    claimed: Mutex<HashSet<RunRef>>,
    /// Claims made or dropped so far: each one changes the queue.
    claims_made: AtomicU64,
    /// Runs whose `spec.source` a newer agentpods recorded (a version above the one this
    /// binary reads), left alone for the newer controller: during a rolling upgrade a new
    /// replica's intake records them while this one may still lead. Each is logged and
    /// given a warning Event once; dropped when the run is gone.
    newer: Mutex<HashSet<RunRef>>,
    /// Changes of the store the queue reads (see [`queue::facts`]): a run new, gone,
    /// launched, finished, cancelled or moved in the order; not a waiting run's status
    /// written again. Counted once the store has taken the change in.
    queue_changes: AtomicU64,
    /// The queue's verdicts on the store's runs, shared by every reconcile and wake-up until
    /// the store changes as the queue reads it, a launch is claimed or the limits change:
    /// worked out for each look instead, 10,000 runs waiting would cost 10,000 times
    /// 10,000 at startup.
    queue: Mutex<Option<(QueueKey, Arc<queue::Table>)>>,
}

/// What a [`queue::Table`] was worked out from: the store's queue changes, the claims made
/// and the limits then.
type QueueKey = (u64, u64, Limits);

/// Drops the launch claims the store has caught up with: their runs have a pod or a Job,
/// have finished, or are gone. A claim dropped changes what the queue reads: the count of
/// claim changes moves on, so no table worked out with the claim is read again (review
/// 15d, D5: a run cancelled while its launch was retried kept its place in the shared
/// table, the store's copy of the run having changed nothing else the queue reads).
fn caught_up(
    claimed: &mut HashSet<RunRef>,
    store: &reflector::Store<AgentRun>,
    claims_changed: &AtomicU64,
) {
    let before = claimed.len();
    claimed.retain(|key| {
        store.get(&object_ref(&key.0, &key.1)).is_some_and(|r| {
            let status = r.status.as_ref();
            !status.is_some_and(|s| {
                s.pod_name.is_some()
                    || s.job_name.is_some()
                    || s.phase.as_ref().is_some_and(Phase::is_finished)
            })
        })
    });
    if claimed.len() != before {
        claims_changed.fetch_add(1, Ordering::AcqRel);
    }
}

/// A run, by namespace and name (runs of one name may live in several namespaces when a
/// `namespace_template` spreads them out); not `plan::RunKey`, the delivery's key that
/// names runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RunRef(String, String);

impl RunRef {
    fn of(run: &AgentRun) -> RunRef {
        RunRef(run.namespace().unwrap_or_default(), run.name_any())
    }
}

impl Context {
    pub fn new(
        client: Client,
        config: ConfigSource,
        clock: Arc<dyn Clock>,
        options: ControllerOptions,
    ) -> Arc<Context> {
        Arc::new(Context::build(client, config, clock, options))
    }

    fn build(
        client: Client,
        config: ConfigSource,
        clock: Arc<dyn Clock>,
        options: ControllerOptions,
    ) -> Context {
        Context {
            client,
            config,
            clock,
            options,
            failures: Mutex::new(HashMap::new()),
            report_failures: Mutex::new(HashMap::new()),
            acted_on: Mutex::new(HashMap::new()),
            reports: None,
            tokens: None,
            held: Mutex::new(HashMap::new()),
            secret_made: Mutex::new(HashMap::new()),
            reconciles: AtomicU64::new(0),
            fresh: Mutex::new(HashSet::new()),
            store: OnceLock::new(),
            claimed: Mutex::new(HashSet::new()),
            claims_made: AtomicU64::new(0),
            newer: Mutex::new(HashSet::new()),
            queue_changes: AtomicU64::new(0),
            queue: Mutex::new(None),
        }
    }

    /// The same, reporting how runs go to GitHub through `reports`, and giving each run a
    /// repository token from `tokens` (with GitHub App auth).
    pub fn with_github(
        client: Client,
        config: ConfigSource,
        clock: Arc<dyn Clock>,
        options: ControllerOptions,
        reports: Option<Arc<dyn RunReports>>,
        tokens: Option<Arc<dyn TokenMinter>>,
    ) -> Arc<Context> {
        let mut ctx = Context::build(client, config, clock, options);
        ctx.reports = reports;
        ctx.tokens = tokens;
        Arc::new(ctx)
    }

    fn acted_on(&self, run: &AgentRun, version: Option<String>) {
        let mut acted = self.acted_on.lock().unwrap_or_else(|e| e.into_inner());
        let versions = acted.entry(RunRef::of(run)).or_default();
        versions.extend(version);
        if versions.len() > 4 {
            versions.remove(0);
        }
    }

    fn is_stale(&self, run: &AgentRun, version: &str) -> bool {
        self.acted_on
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&RunRef::of(run))
            .is_some_and(|v| v.iter().any(|seen| seen == version))
    }

    /// Forgets what this replica keeps about each run (its failures, the versions it wrote)
    /// for runs `gone` says are gone: a run deleted by hand, or while the watch was down.
    fn forget(&self, gone: impl Fn(&RunRef) -> bool) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| !gone(name));
        self.report_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| !gone(name));
        self.acted_on
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| !gone(name));
        self.fresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name| !gone(name));
        {
            let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
            let before = claimed.len();
            claimed.retain(|name| !gone(name));
            if claimed.len() != before {
                self.claims_made.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.newer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name| !gone(name));
    }

    /// The runs this controller leaves alone because a newer agentpods recorded their
    /// source (`namespace/name`, sorted): they wait, untouched, for the newer controller.
    pub fn left_for_newer(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .newer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|RunRef(ns, name)| format!("{ns}/{name}"))
            .collect();
        names.sort();
        names
    }

    /// Notes that `run` is left for a newer controller; true the first time.
    fn leave_for_newer(&self, run: &AgentRun) -> bool {
        self.newer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(RunRef::of(run))
    }

    /// services.yaml's `limits`, as the config in force says.
    fn limits(&self) -> Limits {
        self.config.in_force().engine().config().limits
    }

    /// The runs the queue lets start now that have waited Queued: a run has ended, been
    /// cancelled or deleted, so a place (or a concurrency group) may have freed. Only those
    /// are woken; the others keep waiting without a reconcile.
    fn may_start(&self, store: &reflector::Store<AgentRun>) -> Vec<reflector::ObjectRef<AgentRun>> {
        let runs = store.state();
        let queued =
            |r: &AgentRun| r.status.as_ref().and_then(|s| s.phase.clone()) == Some(Phase::Queued);
        if !runs.iter().any(|r| queued(r)) {
            return Vec::new();
        }
        // A run that ended or was cancelled before its pod was made (its launch failing,
        // say) held a claim: its place is free now, so it is dropped here too, not only at
        // the next reconcile of a waiting run (outside review 15c, F15: nobody was woken).
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        caught_up(&mut claimed, store, &self.claims_made);
        let table = self.queue_table(store, &claimed, self.limits());
        table
            .starting()
            .map(|(ns, name)| object_ref(ns, name))
            .filter(|at| store.get(at).is_some_and(|r| queued(&r)))
            .collect()
    }

    /// The queue's verdicts on the store's runs, `claimed` holding their places: the
    /// shared table when nothing the queue reads has changed since it was worked out, else
    /// a new one (the caller holds the claims' lock).
    fn queue_table(
        &self,
        store: &reflector::Store<AgentRun>,
        claimed: &HashSet<RunRef>,
        limits: Limits,
    ) -> Arc<queue::Table> {
        // Read before the store: a change taken in meanwhile makes the next look work the
        // table out again, never keeps a table older than its key.
        let key = (
            self.queue_changes.load(Ordering::Acquire),
            self.claims_made.load(Ordering::Acquire),
            limits,
        );
        let mut shared = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, table)) = shared.as_ref()
            && *at == key
        {
            return table.clone();
        }
        let runs = store.state();
        let runs: Vec<&AgentRun> = runs.iter().map(AsRef::as_ref).collect();
        let entries = queue::entries(&runs, |r| {
            !claimed.is_empty() && claimed.contains(&RunRef::of(r))
        });
        let table = Arc::new(queue::Table::of(limits, &entries));
        *shared = Some((key, table.clone()));
        table
    }

    /// The store has taken in a change the queue reads.
    fn queue_changed(&self) {
        self.queue_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Decides one reconcile of `run`, with the queue's verdict on it when it waits for its
    /// first launch; a launch decided holds its place until the store shows it.
    fn decide_in_queue(
        &self,
        run: &AgentRun,
        view: RunView<'_>,
        workload: &Workload,
        siblings: &[Sibling],
        now: k8s_openapi::jiff::Timestamp,
    ) -> Step {
        let limits = self.limits();
        let waiting = view.status.pod_name.is_none()
            && view.status.job_name.is_none()
            && !view.status.phase.as_ref().is_some_and(Phase::is_finished)
            && run.spec.cancel.is_none();
        let (Some(store), true, false) = (self.store.get(), waiting, limits.is_unlimited()) else {
            return decide(view, workload, siblings, now);
        };
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        caught_up(&mut claimed, store, &self.claims_made);
        let me = RunRef::of(run);
        // As this reconcile sees it (the store's copy may be older); its own group is
        // `decide`'s to judge, from the siblings it was given.
        let mut mine = run.clone();
        mine.spec.concurrency_group = None;
        let claimed_me = claimed.contains(&me);
        let shared = self.queue_table(store, &claimed, limits);
        // The shared table's word when it saw the run as this reconcile does; else worked
        // out anew.
        let verdict = queue::entries(&[&mine], |_| claimed_me)
            .first()
            .and_then(|entry| shared.verdict(entry));
        let verdict = verdict.unwrap_or_else(|| {
            let runs = store.state();
            let mut all: Vec<&AgentRun> = runs
                .iter()
                .map(AsRef::as_ref)
                .filter(|r| RunRef::of(r) != me)
                .collect();
            all.push(&mine);
            let entries = queue::entries(&all, |r| claimed.contains(&RunRef::of(r)));
            match queue::verdict_of(limits, &entries, all.len() - 1) {
                Turn::Group => Turn::Start,
                v => v,
            }
        });
        let step = decide(
            RunView {
                capacity: &verdict,
                ..view
            },
            workload,
            siblings,
            now,
        );
        if step.actions.contains(&Action::Apply) && claimed.insert(me) {
            self.claims_made.fetch_add(1, Ordering::AcqRel);
        }
        step
    }

    fn is_fresh(&self, run: &RunRef) -> bool {
        self.fresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(run)
    }

    /// `run` is fresh (`true`) or no longer (`false`).
    fn set_fresh(&self, run: RunRef, fresh: bool) {
        let mut set = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        if fresh {
            set.insert(run);
        } else {
            set.remove(&run);
        }
    }

    /// Keeps a token just minted for `run` until the run has no more use for it.
    fn hold(&self, run: &RunRef, token: Token) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(run.clone())
            .or_default()
            .push(token);
    }

    /// Revokes every token held for `run`, in the background: a GitHub that is slow or
    /// down must not hold up the reconcile, and a revoke that fails is ended by the
    /// token's expiry.
    fn revoke_held(&self, run: &RunRef) {
        self.secret_made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run);
        let tokens = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run)
            .unwrap_or_default();
        self.revoke(&run.1, tokens);
    }

    fn revoke(&self, run: &str, tokens: Vec<Token>) {
        let Some(minter) = self.tokens.clone() else {
            return;
        };
        if tokens.is_empty() {
            return;
        }
        let run = run.to_string();
        tokio::spawn(async move {
            for token in tokens {
                match minter.revoke(&token).await {
                    Ok(()) => tracing::debug!(run = %run, "revoked a token of the run"),
                    Err(e) => tracing::warn!(
                        run = %run,
                        "cannot revoke a token of the run (it expires within the hour): {}", crate::text::with_causes(&e)
                    ),
                }
            }
        });
    }

    /// How many runs this replica holds unrevoked tokens for.
    pub fn holding_tokens(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// How many runs this replica keeps something about (failures, versions it wrote).
    pub fn remembered(&self) -> usize {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let acted = self.acted_on.lock().unwrap_or_else(|e| e.into_inner());
        acted.len() + failures.keys().filter(|n| !acted.contains_key(*n)).count()
    }

    /// One more failed reconcile of `run`; how many in a row now.
    /// Counts a report of `run` GitHub did not take; how soon to try again:
    /// `report_retry`, doubled for each failure in a row before it, up to 32 times it.
    fn report_failed(&self, run: &AgentRun) -> Duration {
        let mut failures = self
            .report_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(RunRef::of(run)).or_insert(0);
        *n = n.saturating_add(1);
        self.options
            .report_retry
            .saturating_mul(1 << (*n - 1).min(5))
    }

    fn failed(&self, run: &AgentRun) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(RunRef::of(run)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Reconciles started so far.
    pub fn reconciles(&self) -> u64 {
        self.reconciles.load(Ordering::Relaxed)
    }
}

/// Runs the controller until `shutdown` completes; reconciles in flight are finished.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scopes: Vec<Option<String>> = match &ctx.options.namespaces {
        Some(namespaces) => namespaces.iter().cloned().map(Some).collect(),
        None => vec![None],
    };
    let client = ctx.client.clone();
    fn api<K>(client: &Client, scope: &Option<String>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let ours = watcher::Config::default().labels(&format!("{}=agentpods", keys::MANAGED_BY));
    // The watch keeps every run in memory, slimmed (see `slim`).
    let (store, writer) = reflector::store();
    let _ = ctx.store.set(store.clone());
    // Runs that may start now that a place freed, woken at once (not at their next look).
    let (wake, woken) = tokio::sync::mpsc::unbounded_channel();
    let woken = futures_util::stream::unfold(woken, |mut rx| async move {
        rx.recv().await.map(|run| (run, rx))
    });
    let waking = store.clone();
    let forgetting = ctx.clone();
    let watches = scopes
        .iter()
        .map(|scope| (scope.clone(), api::<AgentRun>(&client, scope)))
        .collect();
    // Whether the event on its way into the store changes what the queue reads, told
    // before the store takes it in (its copy then is the run before), counted after.
    let before = store.clone();
    let changes_queue = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let changing = changes_queue.clone();
    let trigger = merged_watches(watches, store.clone(), ctx.clone())
        .inspect(move |event| {
            let changes = match event {
                Ok(watcher::Event::Apply(run)) => before
                    .get(&reflector::ObjectRef::from_obj(run))
                    .is_none_or(|old| queue::facts(&old) != queue::facts(run)),
                Err(_) => false,
                Ok(_) => true,
            };
            changing.store(changes, Ordering::Release);
        })
        .reflect(writer)
        .inspect(move |event| {
            // The store has taken the event in already (`reflect`).
            if changes_queue.swap(false, Ordering::AcqRel) {
                forgetting.queue_changed();
            }
            if let Ok(watcher::Event::Delete(run)) = event {
                let gone = RunRef::of(run);
                forgetting.forget(|key| *key == gone);
                forgetting.revoke_held(&gone);
            }
            let freed = match event {
                Ok(watcher::Event::Delete(_)) => true,
                Ok(watcher::Event::Apply(run)) => {
                    run.spec.cancel.is_some()
                        || run
                            .status
                            .as_ref()
                            .and_then(|s| s.phase.clone())
                            .as_ref()
                            .is_some_and(Phase::is_finished)
                }
                _ => false,
            };
            if freed {
                for run in forgetting.may_start(&waking) {
                    let _ = wake.send(run);
                }
            }
        })
        .applied_objects();
    let owned_pods = futures_util::stream::select_all(scopes.iter().map(|scope| {
        watcher(api::<PartialObjectMeta<Pod>>(&client, scope), ours.clone())
            .touched_objects()
            .boxed()
    }));
    let owned_jobs = futures_util::stream::select_all(scopes.iter().map(|scope| {
        watcher(api::<PartialObjectMeta<Job>>(&client, scope), ours.clone())
            .touched_objects()
            .boxed()
    }));
    let counting = ctx.options.counts.clone().map(|sink| {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(COUNT_EVERY).await;
                let runs = store.state();
                (sink.0)(&count_runs(runs.iter().map(|r| r.as_ref())));
            }
        })
    });
    Controller::for_stream(trigger, store)
        .owns_stream(owned_pods)
        .owns_stream(owned_jobs)
        .reconcile_on(woken)
        .with_config(ControllerConfig::default().concurrency(ctx.options.concurrency))
        .trigger_backoff(ResetTimerBackoff::new(
            WatchBackoff::new(ctx.options.max_watch_backoff),
            Duration::from_secs(10),
        ))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("reconcile: {}", crate::text::with_causes(&e));
            }
        })
        .await;
    if let Some(task) = counting {
        task.abort();
    }
}

/// The runs of every scope (a namespace, or all of them), one watch each, merged into one
/// stream for one store.
///
/// Each watch (re)lists its namespace between `Init` and `InitDone`, and a store given those
/// replaces everything it holds with the list: with several watches, one namespace's list
/// would wipe the others'. So the lists are passed on as `Apply` events, and at each
/// `InitDone` the runs of that namespace the store holds but the list did not name (deleted
/// while the watch was down) are passed on as `Delete` events. The store is marked ready at
/// once (an empty `Init`, `InitDone`): a reconcile is only ever asked for a run already in it.
///
/// A run first seen in an event after the lists, with no status yet, was born while this
/// replica watched: nothing can have reported it, so it is marked fresh (see
/// [`Context::fresh`]). A run in a list may have been reported by a replica before; it is
/// marked fresh only when its status names all that can have been posted for it
/// ([`nothing_posted_unrecorded`]: still waiting, never launched, its queued stage told).
fn merged_watches(
    watches: Vec<(Option<String>, Api<AgentRun>)>,
    store: reflector::Store<AgentRun>,
    ctx: Arc<Context>,
) -> impl futures_util::Stream<Item = Result<watcher::Event<AgentRun>, watcher::Error>> + Send {
    use std::collections::HashSet;
    let streams = watches.into_iter().map(|(scope, api)| {
        watcher(api, watcher::Config::default())
            .modify(slim)
            .map(move |event| (scope.clone(), event))
            .boxed()
    });
    let mut listing: HashMap<Option<String>, HashSet<RunRef>> = HashMap::new();
    let merged = futures_util::stream::select_all(streams).flat_map(move |(scope, event)| {
        let out: Vec<Result<watcher::Event<AgentRun>, watcher::Error>> = match event {
            Err(e) => vec![Err(e)],
            Ok(watcher::Event::Init) => {
                listing.insert(scope, HashSet::new());
                Vec::new()
            }
            Ok(watcher::Event::InitApply(run)) => {
                listing.entry(scope).or_default().insert(RunRef::of(&run));
                if ctx.reports.is_some() && nothing_posted_unrecorded(&run) {
                    ctx.set_fresh(RunRef::of(&run), true);
                }
                vec![Ok(watcher::Event::Apply(run))]
            }
            Ok(watcher::Event::InitDone) => {
                let listed = listing.remove(&scope).unwrap_or_default();
                store
                    .state()
                    .into_iter()
                    .filter(|run| scope.is_none() || run.namespace().as_deref() == scope.as_deref())
                    .filter(|run| !listed.contains(&RunRef::of(run)))
                    .map(|run| Ok(watcher::Event::Delete(run.as_ref().clone())))
                    .collect()
            }
            Ok(watcher::Event::Apply(run)) => {
                if ctx.reports.is_some()
                    && run.status.is_none()
                    && store.get(&reflector::ObjectRef::from_obj(&run)).is_none()
                {
                    ctx.set_fresh(RunRef::of(&run), true);
                }
                vec![Ok(watcher::Event::Apply(run))]
            }
            Ok(event) => vec![Ok(event)],
        };
        futures_util::stream::iter(out)
    });
    futures_util::stream::iter([Ok(watcher::Event::Init), Ok(watcher::Event::InitDone)])
        .chain(merged)
}

/// What the controller keeps of a run between reconciles: all but its render inputs
/// (`spec.source`, with the webhook event, the pull request and the task text: most of a
/// run's size, and unbounded, as a pull request's description is) and `managedFields`. Only a
/// launch reads them, and [`apply`] reads the whole run again for that (one GET per launch).
/// `benches/serve_memory.rs`: 10,000 runs of a small pull request, 8 MB less resident; a
/// long description or a real API server's managedFields save more.
///
/// The status write sends the slimmed copy to the status subresource, which ignores
/// everything but status, and keeps the managedFields it is not sent.
fn slim(run: &mut AgentRun) {
    run.metadata.managed_fields = None;
    // Only its version stays: a source a newer agentpods recorded is left alone (see
    // `super::newer`) without reading the whole run.
    let version = run.spec.source.0.get("version").cloned();
    run.spec.source = StoredSource::default();
    if let (Some(version), serde_json::Value::Object(map)) = (version, &mut run.spec.source.0) {
        map.insert("version".into(), version);
    }
}

/// Doubles from 100 ms up to a ceiling.
struct WatchBackoff {
    next: Duration,
    max: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(100);

    fn new(max: Duration) -> WatchBackoff {
        WatchBackoff {
            next: WatchBackoff::FIRST.min(max),
            max,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(wait)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = WatchBackoff::FIRST.min(self.max);
    }
}

/// The store's reference to the run `name` of namespace `ns` (`""`: none).
fn object_ref(ns: &str, name: &str) -> reflector::ObjectRef<AgentRun> {
    let at = reflector::ObjectRef::new(name);
    if ns.is_empty() { at } else { at.within(ns) }
}

fn run_selector(name: &str) -> ListParams {
    ListParams::default().labels(&format!("{}={name}", keys::RUN))
}

/// One reconcile of one run.
pub async fn reconcile(run: Arc<AgentRun>, ctx: Arc<Context>) -> Result<Requeue, ControllerError> {
    ctx.reconciles.fetch_add(1, Ordering::Relaxed);
    let name = run.name_any();
    let ns = run
        .namespace()
        .ok_or_else(|| ControllerError::NoNamespace(name.clone()))?;
    let version = run.resource_version().unwrap_or_default();
    if ctx.is_stale(&run, &version) {
        // Our own status write is on its way through the watch.
        return Ok(Requeue::requeue(Duration::from_millis(200)));
    }
    if let Some(why) = left_for_newer(&run) {
        // A newer agentpods recorded it or carried it on (a rolling upgrade: its intake
        // runs while this replica still leads): not this binary's to render, fail or
        // report. Left as it is, for the newer controller, which takes the lease once this
        // one stops.
        if ctx.leave_for_newer(&run) {
            tracing::warn!(run = %name, "not reconciled: {why}");
            let event = event(EventReason::LeftForNewerVersion, &why, "Reconcile");
            if let Err(e) = publish(&ctx, &event, &run.object_ref(&())).await {
                tracing::debug!(run = %name, "cannot publish an event: {}", crate::text::with_causes(&e));
            }
        }
        return Ok(Requeue::requeue(ctx.options.max_requeue));
    }
    let status = run.status.clone().unwrap_or_default();
    let finished = status.phase.as_ref().is_some_and(Phase::is_finished);
    // The spec read once, here: what it is for (the render, the token, the reports) takes
    // it typed. One that does not read ends the run Failed, saying which field.
    let stored = run.spec.read();
    if let Err(e) = &stored
        && !finished
    {
        let why = format!("agent {}: {}", run.spec.agent, crate::text::with_causes(e));
        tracing::warn!(run = %name, "{why}");
        let step = unreadable(&status, why, ctx.clock.now());
        execute(&ctx, &run, None, &ns, step).await?;
        return Ok(Requeue::requeue(Duration::from_secs(
            run.spec.limits.ttl_seconds_after_finished,
        )));
    }
    let stored = stored.ok();

    let workload = if finished {
        Workload::Absent
    } else {
        observe_run(&ctx, &ns, &name, &status).await?
    };

    let launched = status.pod_name.is_some() || status.job_name.is_some();
    let siblings = match &run.spec.concurrency_group {
        Some(group) if !launched && !finished => siblings(&ctx, &ns, &name, group).await?,
        _ => Vec::new(),
    };

    let created = run
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(|| ctx.clock.now(), |t| t.0);
    let now = ctx.clock.now();
    let view = RunView {
        name: &name,
        spec: &run.spec,
        status: &status,
        created,
        capacity: &Turn::Start,
    };
    let step = ctx.decide_in_queue(&run, view, &workload, &siblings, now);
    if step.status.is_some() || !step.actions.is_empty() {
        tracing::debug!(run = %name, ?step.actions, phase = ?step.status.as_ref().and_then(|s| s.phase.clone()), "reconcile");
    }
    let (written, told) = execute(&ctx, &run, stored.as_ref(), &ns, step.clone()).await?;

    ctx.failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&RunRef::of(&run));
    let mut wait = step
        .requeue
        .unwrap_or(ctx.options.max_requeue)
        .min(ctx.options.max_requeue)
        .max(Duration::from_millis(50));
    let current = written.as_ref().unwrap_or(&run);
    // Whether GitHub took this reconcile's report, if it made one (why not, if not).
    let reported = match told {
        Some(told) => Some(told.map_err(|e| crate::text::with_causes(&e))),
        None => match (&ctx.reports, &stored) {
            (Some(reports), Some(stored)) => {
                match pending_report(current, SystemTime::from(ctx.clock.now())) {
                    Some(stage) => Some(
                        report(&ctx, reports.as_ref(), current, stored, &stage)
                            .await
                            .map_err(|e| crate::text::with_causes(&e)),
                    ),
                    None => None,
                }
            }
            _ => None,
        },
    };
    match reported {
        // The run goes on; GitHub hears of it at the next try.
        Some(Err(e)) => {
            let retry = ctx.report_failed(&run);
            tracing::warn!(run = %name, "cannot report to GitHub, retrying in {retry:?}: {e}");
            wait = wait.min(retry);
        }
        Some(Ok(())) => {
            ctx.report_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&RunRef::of(&run));
        }
        None => {}
    }
    Ok(Requeue::requeue(wait))
}

/// Tells GitHub about `run` at `stage` and records what it created in `status.report`,
/// so that a retry or another replica edits instead of posting again.
async fn report(
    ctx: &Context,
    reports: &dyn RunReports,
    run: &AgentRun,
    stored: &StoredRun,
    stage: &Stage,
) -> Result<(), ReportFailure> {
    let before = run
        .status
        .as_ref()
        .and_then(|s| s.report.clone())
        .unwrap_or_default();
    let key = RunRef::of(run);
    let (refs, result) = tell(ctx, reports, run, stored, stage).await;
    if refs != before {
        // A status write like any other (with the resourceVersion: a stale copy is refused
        // and told again at the next try), so the service needs no `patch` on the status.
        let api: Api<AgentRun> =
            Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
        let mut status = run.status.clone().unwrap_or_default();
        status.report = Some(refs);
        write_status(&api, run, status).await.map_err(|e| {
            ctx.set_fresh(key, false);
            ReportFailure::NotRecorded(e)
        })?;
        ctx.acted_on(run, run.resource_version());
    }
    Ok(result?)
}

/// Tells GitHub about `run` (as its status now reads) at `stage`: the refs to record, with
/// the phase told when GitHub took it, and how it went.
async fn tell(
    ctx: &Context,
    reports: &dyn RunReports,
    run: &AgentRun,
    stored: &StoredRun,
    stage: &Stage,
) -> (ReportRefs, Result<(), ReportError>) {
    let status = run.status.clone().unwrap_or_default();
    let mut refs = status.report.clone().unwrap_or_default();
    let key = RunRef::of(run);
    let fresh = ctx.is_fresh(&key);
    let result = reports.report(run, stored, stage, &mut refs, fresh).await;
    if result.is_ok() {
        refs.reported = status.phase.clone();
    }
    // After a failure something may have been posted that `refs` does not name; once the
    // run is finished and told, no report follows.
    if result.is_err() || status.phase.as_ref().is_some_and(Phase::is_finished) {
        ctx.set_fresh(key, false);
    }
    (refs, result)
}

/// The run's pod or Job, read by the names its status recorded (nothing is read before the
/// first launch).
async fn observe_run(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &AgentRunStatus,
) -> Result<Workload, ControllerError> {
    if let Some(job) = &status.job_name {
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
        let Some(job) = jobs.get_opt(job).await? else {
            return Ok(Workload::Absent);
        };
        // The Job's pods say whether it runs and hold the result.
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        let pods = pods.list(&run_selector(name)).await?.items;
        return Ok(observe(&pods, &[job]));
    }
    if let Some(pod) = &status.pod_name {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        return Ok(match pods.get_opt(pod).await? {
            Some(pod) => observe(&[pod], &[]),
            None => Workload::Absent,
        });
    }
    Ok(Workload::Absent)
}

async fn siblings(
    ctx: &Context,
    ns: &str,
    name: &str,
    group: &str,
) -> Result<Vec<Sibling>, ControllerError> {
    let api: Api<AgentRun> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("{}={}", keys::CONCURRENCY, concurrency_label(group));
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|r| r.name_any() != name && r.spec.concurrency_group.as_deref() == Some(group))
        .map(|r| Sibling {
            requested: r
                .spec
                .requested_at
                .as_ref()
                .map(|t| t.0)
                .or(r.metadata.creation_timestamp.as_ref().map(|t| t.0))
                .unwrap_or_default(),
            event_at: r.spec.event_at.as_ref().map(|t| t.0),
            head_sha: r
                .spec
                .pull_request
                .as_ref()
                .and_then(|p| p.head_sha.clone()),
            before_sha: r
                .spec
                .pull_request
                .as_ref()
                .and_then(|p| p.before_sha.clone()),
            requested_by: r.spec.requested_by.clone(),
            outsider: r.spec.outsider,
            launched: r
                .status
                .as_ref()
                .is_some_and(|s| s.pod_name.is_some() || s.job_name.is_some()),
            finished: r
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .as_ref()
                .is_some_and(Phase::is_finished),
            cancel_requested: r.spec.cancel.is_some(),
            name: r.name_any(),
        })
        .collect())
}

/// Carries out a step for `run` (`stored`: its spec, read; `None`: it does not read, and
/// nothing is applied or told); returns the run as its status write left it, if there was
/// one, and how telling GitHub went when the write carried a report (a phase change is one
/// write: GitHub is told first, and what it created goes into the same status write).
async fn execute(
    ctx: &Context,
    run: &AgentRun,
    stored: Option<&StoredRun>,
    ns: &str,
    step: Step,
) -> Result<(Option<AgentRun>, Option<Result<(), ReportError>>), ControllerError> {
    let name = run.name_any();
    let runs: Api<AgentRun> = Api::namespaced(ctx.client.clone(), ns);
    let mut status = step.status;
    let mut events = Vec::new();
    let mut delete_run = false;
    // The launch waits (`Applied::Waiting`): its `Launched` event is not sent, and a status
    // that says nothing new is not written again.
    let mut not_launched = false;
    let mut unchanged = false;
    for action in step.actions {
        match action {
            Action::Cancel {
                runs: older,
                reason,
            } => {
                for other in older {
                    // A run already gone needs no cancel.
                    request_cancel(&runs, &other, &reason).await?;
                }
            }
            Action::DeleteWorkload => {
                delete_workload(ctx, ns, &name).await?;
                // Its pod is gone (cancelled, timed out, lost): so is the use of its token.
                ctx.revoke_held(&RunRef::of(run));
            }
            Action::Apply => {
                let status = status.get_or_insert_with(|| run.status.clone().unwrap_or_default());
                let Some(stored) = stored else {
                    // Never asked for: a run whose spec does not read is failed before.
                    continue;
                };
                match apply(ctx, run, stored, ns, status.attempts).await? {
                    Applied::Waiting(why) => {
                        // As it was, saying why it waits (`Queued`: it has its turn and
                        // holds its place, and GitHub's check run says queued).
                        let before = run.status.clone().unwrap_or_default();
                        let mut waiting = before.clone();
                        waiting.phase = Some(waiting.phase.unwrap_or(Phase::Queued));
                        waiting.message = Some(why.clone());
                        not_launched = true;
                        unchanged = waiting == before;
                        if !unchanged {
                            events.push(event(EventReason::Queued, &why, "Launch"));
                        }
                        *status = waiting;
                    }
                    Applied::Objects { pod, job } => {
                        status.pod_name = pod;
                        status.job_name = job;
                    }
                    Applied::Refused(unrunnable) => {
                        // The config in force cannot run this agent any more: a user's
                        // problem, reported on the run; retrying would not help.
                        let live = ctx.config.config_for(&stored.repository);
                        let why = unrunnable.said(&live.engine().config().github.command_prefix);
                        status.phase = Some(Phase::Failed);
                        status.finish_time = Some(
                            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ctx.clock.now()),
                        );
                        status.message = Some(why.clone());
                        status.result = Some(RunResult {
                            conclusion: Conclusion::Failure,
                            summary: why.clone(),
                        });
                        events.push(match unrunnable {
                            Unrunnable::Token { .. } => event(EventReason::Failed, &why, "Launch"),
                            _ => event(EventReason::RenderFailed, &why, "Render"),
                        });
                    }
                }
            }
            Action::Event { reason, note } => {
                if !(not_launched && reason == EventReason::Launched) {
                    events.push(event(reason, &note, "Reconcile"));
                }
            }
            Action::DeleteRun => delete_run = true,
        }
    }
    let mut written = None;
    let mut told = None;
    if unchanged {
        status = None;
    }
    if let Some(mut status) = status.take() {
        status.observed_generation = run.metadata.generation;
        let finished = status.phase.as_ref().is_some_and(Phase::is_finished);
        if let (Some(reports), Some(stored)) = (&ctx.reports, stored) {
            let mut next = run.clone();
            next.status = Some(status.clone());
            if let Some(stage) = pending_report(&next, SystemTime::from(ctx.clock.now())) {
                let (refs, result) = tell(ctx, reports.as_ref(), &next, stored, &stage).await;
                status.report = Some(refs);
                told = Some(result);
            }
        }
        written = Some(match write_status(&runs, run, status).await {
            Ok(written) => written,
            Err(e) => {
                // What GitHub was just told to create is not recorded: look for it next time.
                ctx.set_fresh(RunRef::of(run), false);
                return Err(e);
            }
        });
        ctx.acted_on(run, run.resource_version());
        if finished {
            // The run has ended, however it ended: no token of it is needed any more.
            ctx.revoke_held(&RunRef::of(run));
        }
    }
    let reference = run.object_ref(&());
    for event in events {
        // Events are a courtesy: losing one must not fail the reconcile.
        if let Err(e) = publish(ctx, &event, &reference).await {
            tracing::debug!(run = %name, "cannot publish an event: {}", crate::text::with_causes(&e));
        }
    }
    if delete_run {
        ctx.acted_on
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&RunRef::of(run));
        match runs.delete(&name, &DeleteParams::background()).await {
            Ok(_) => tracing::info!(run = %name, "deleted after its TTL"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        return Ok((None, told));
    }
    Ok((written, told))
}

/// The Event of `reason` about a run, its note clipped to what an Event keeps; a `Warning`
/// or `Normal` as the reason says (`EventReason::is_warning`).
fn event(reason: EventReason, note: &str, action: &str) -> Event {
    Event {
        type_: if reason.is_warning() {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(clip(note)),
        action: action.into(),
        secondary: None,
    }
}

/// Publishes an events.k8s.io/v1 Event about a run. kube-runtime's Recorder keeps every
/// Event it sent for 6 minutes to count repeats, and scans that cache on each publish:
/// about 50 MB and a growing cost with 10,000 runs (`benches/serve_memory.rs`). The
/// controller reports each phase change once, so it needs no counting.
async fn publish(
    ctx: &Context,
    event: &Event,
    regarding: &k8s_openapi::api::core::v1::ObjectReference,
) -> Result<(), kube::Error> {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let now = ctx.clock.now();
    let ns = regarding.namespace.clone().unwrap_or_default();
    // Unique without the injected clock, which tests hold still.
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "{}.{:x}{:04x}",
        regarding.name.as_deref().unwrap_or(FIELD_MANAGER),
        k8s_openapi::jiff::Timestamp::now().as_nanosecond(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0xffff
    );
    let object = K8sEvent {
        metadata: kube::api::ObjectMeta {
            name: Some(name),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        note: event.note.clone(),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(format!("agentpods.dev/{FIELD_MANAGER}")),
        reporting_instance: Some(
            ctx.options
                .instance
                .clone()
                .unwrap_or_else(|| FIELD_MANAGER.into()),
        ),
        type_: Some(match event.type_ {
            EventType::Normal => "Normal".into(),
            EventType::Warning => "Warning".into(),
        }),
        ..K8sEvent::default()
    };
    let api: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &ns);
    api.create(&PostParams::default(), &object)
        .await
        .map(|_| ())
}

/// The longest note kept in a Kubernetes Event.
const MAX_EVENT_NOTE_CHARS: usize = 900;

fn clip(note: &str) -> String {
    crate::text::clip(note, MAX_EVENT_NOTE_CHARS)
}

async fn write_status(
    runs: &Api<AgentRun>,
    run: &AgentRun,
    status: AgentRunStatus,
) -> Result<AgentRun, ControllerError> {
    let phase = status.phase.clone();
    let mut next = run.clone();
    next.status = Some(status);
    // Keep the resourceVersion: a stale copy is refused (409) and reconciled again.
    let written = runs
        .replace_status(&run.name_any(), &PostParams::default(), &next)
        .await?;
    if phase != run.status.as_ref().and_then(|s| s.phase.clone()) {
        tracing::info!(run = %run.name_any(), phase = ?phase, "phase");
    }
    Ok(written)
}

async fn delete_workload(ctx: &Context, ns: &str, name: &str) -> Result<(), ControllerError> {
    let selector = run_selector(name);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    for job in jobs.list(&selector).await?.items {
        delete_ignoring_missing(&jobs, &job.name_any()).await?;
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for pod in pods.list(&selector).await?.items {
        delete_ignoring_missing(&pods, &pod.name_any()).await?;
    }
    Ok(())
}

async fn delete_ignoring_missing<K>(api: &Api<K>, name: &str) -> Result<(), ControllerError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

enum Applied {
    Objects {
        pod: Option<String>,
        job: Option<String>,
    },
    Refused(Unrunnable),
    /// Nothing was made, for a while: why it waits.
    Waiting(String),
}

/// Why the config in force cannot run a recorded run: the run ends Failed with this as
/// its message.
#[derive(Debug, thiserror::Error)]
enum Unrunnable {
    #[error("agent {agent}: cannot render the run")]
    Unreadable {
        agent: String,
        #[source]
        source: source::SourceError,
    },
    /// Said with the command prefix in force, where the status is written
    /// ([`Unrunnable::said`]); the `Display` names the reason without it.
    #[error("agent {agent}: not run with the config in force (a fork's code, asked by @{})", refusal.login)]
    ForkPolicy {
        agent: AgentName,
        refusal: crate::plan::Refusal,
    },
    #[error("agent {agent}: cannot render")]
    Render {
        agent: String,
        #[source]
        source: crate::render::RenderError,
    },
    #[error("the agent's objects now belong in namespace {wanted}, not the run's {ns}")]
    Namespace { wanted: String, ns: String },
    /// Its repository's own file turned the agent off while the run waited.
    #[error("agent {agent}: not started: {why}")]
    TurnedOff { agent: String, why: String },
    /// GitHub refuses the run's token for good (its repository renamed, deleted or taken
    /// out of the App's installation, or a permission the installation does not grant).
    #[error(
        "agent {agent}: GitHub will not give the run a token for {repository} (the App's \
         installation no longer has it, or does not grant the permissions the agent asks \
         for)"
    )]
    Token {
        agent: String,
        repository: RepoFullName,
        #[source]
        source: TokenError,
    },
    #[error(
        "agent {agent}: the service may not apply the {kind} {name} in namespace {ns} (its \
         rules, deploy/base/rbac.yaml, do not grant it): {message}"
    )]
    Forbidden {
        agent: String,
        kind: &'static str,
        name: String,
        ns: String,
        message: String,
    },
}

impl Unrunnable {
    /// What the run's status says: a fork policy's refusal in its words to the one who
    /// asked, with the command `prefix` in force; the rest as their `Display`.
    fn said(&self, prefix: &str) -> String {
        match self {
            Unrunnable::ForkPolicy { agent, refusal } => format!(
                "agent {agent}: not run with the config in force: {}",
                refusal.message(prefix)
            ),
            Unrunnable::Token { repository, .. } => format!(
                "{}; to run it, install the App on {repository} with those permissions and ask \
                 again",
                crate::text::with_causes(self)
            ),
            other => crate::text::with_causes(other),
        }
    }
}

/// Renders the run (`stored`: its spec, read) with the config in force and applies every
/// object, owned by the run; `attempt` names this launch's token Secret.
async fn apply(
    ctx: &Context,
    run: &AgentRun,
    stored: &StoredRun,
    ns: &str,
    attempt: u32,
) -> Result<Applied, ControllerError> {
    let live = ctx.config.config_for(&stored.repository);
    // The watch's copy is slimmed (see `slim`): the render inputs are read afresh.
    let runs: Api<AgentRun> = Api::namespaced(ctx.client.clone(), ns);
    let whole = runs.get(&run.name_any()).await?;
    let source = match whole.spec.source.read() {
        Ok(source) => source,
        Err(source) => {
            return Ok(Applied::Refused(Unrunnable::Unreadable {
                agent: run.spec.agent.clone(),
                source,
            }));
        }
    };
    // A fork's code runs only as the fork policy in force lets it, however the run came to
    // be recorded (under an older policy, a retry): checked before a token is minted.
    if source.runs_fork_code()
        && let Some(refused) = live
            .planner()
            .fork_code_refusal(&source.launch.agent, &stored.requested_by)
    {
        return Ok(Applied::Refused(Unrunnable::ForkPolicy {
            agent: source.launch.agent.clone(),
            refusal: refused,
        }));
    }
    // A run that waited starts only if its repository's own file still lets its agent
    // run (review 15d, D9: the maintainers turned an agent off, and the runs already
    // waiting started one by one all the same). When GitHub does not say, it starts as it
    // was decided.
    if run.status.as_ref().and_then(|s| s.phase.as_ref()) == Some(&Phase::Queued)
        && let Some(reports) = &ctx.reports
        && let Some(branch) = source.event.repository.as_ref().map(|r| &r.default_branch)
    {
        let path = live
            .engine()
            .config()
            .repository_config
            .as_ref()
            .map_or_else(String::new, |c| c.path.clone());
        let by_command = matches!(source.launch.trigger, crate::plan::Trigger::Comment { .. });
        let why = match reports
            .own_file_says(&stored.repository, branch, &source.launch.agent)
            .await
        {
            OwnFileSays::Off => Some(format!(
                "{repository}'s {path} no longer names it",
                repository = stored.repository
            )),
            OwnFileSays::CommandsOnly if !by_command => Some(format!(
                "{repository}'s {path} now lets it start by its comment commands only",
                repository = stored.repository
            )),
            OwnFileSays::Broken(problem) => Some(format!(
                "{repository}'s {path} does not read: {problem}",
                repository = stored.repository
            )),
            OwnFileSays::Runs | OwnFileSays::CommandsOnly | OwnFileSays::Unknown => None,
        };
        if let Some(why) = why {
            return Ok(Applied::Refused(Unrunnable::TurnedOff {
                agent: run.spec.agent.clone(),
                why,
            }));
        }
    }
    let owner = owner_reference(run);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    // The permissions the run's agent declares, in the config in force (`None`: no token).
    let permissions = live
        .engine()
        .config()
        .agents
        .iter()
        .find(|a| a.name == stored.agent)
        .and_then(|a| a.github_token.permissions())
        .map(TokenPermissions::of);
    let token_secret = match (&ctx.tokens, permissions) {
        (Some(tokens), Some(permissions)) => {
            let at = Launch {
                run,
                stored,
                ns,
                attempt,
                owner: &owner,
            };
            match token_secret(ctx, tokens.as_ref(), &permissions, &at).await {
                Ok(name) => Some(name),
                // GitHub will not mint this run's token, however often it is asked: the
                // run ends, and its place goes to the next (review 15c, F7).
                Err(ControllerError::Token(source)) if source.is_final() => {
                    return Ok(Applied::Refused(Unrunnable::Token {
                        agent: run.spec.agent.clone(),
                        repository: stored.repository.clone(),
                        source,
                    }));
                }
                // The App's rate limit holds every mint back for a while: the run says so
                // and waits, its place kept (review 15f, G6: it waited with no phase,
                // message or check run, for up to an hour).
                Err(ControllerError::Token(source)) if source.rate_limited_until().is_some() => {
                    let until = source.rate_limited_until().map_or_else(String::new, |at| {
                        humantime::format_rfc3339_seconds(at).to_string()
                    });
                    return Ok(Applied::Waiting(format!(
                        "waiting for GitHub's rate limit to mint its token, until {until}"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        _ => None,
    };
    let rendered = match live.engine().render_run_with_token(
        &source.event,
        stored.delivery.as_str(),
        &source.launch,
        source.pull_request.as_ref(),
        token_secret.as_deref(),
    ) {
        Ok(r) => r,
        Err(source) => {
            return Ok(Applied::Refused(Unrunnable::Render {
                agent: run.spec.agent.clone(),
                source,
            }));
        }
    };
    if rendered.namespace != ns {
        return Ok(Applied::Refused(Unrunnable::Namespace {
            wanted: rendered.namespace,
            ns: ns.to_owned(),
        }));
    }
    let (mut pod, mut job) = (None, None);
    for mut object in rendered.objects {
        object.metadata_mut().owner_references = Some(vec![owner.clone()]);
        let name = object.name().to_string();
        let client = ctx.client.clone();
        let applied = match &object {
            K8sObject::Pod(o) => {
                pod = Some(name.clone());
                apply_one::<Pod>(client, ns, &name, o.as_ref(), &params).await
            }
            K8sObject::Job(o) => {
                job = Some(name.clone());
                apply_one::<Job>(client, ns, &name, o.as_ref(), &params).await
            }
            K8sObject::ConfigMap(o) => apply_one(client, ns, &name, o, &params).await,
            K8sObject::Secret(o) => apply_one(client, ns, &name, o, &params).await,
            K8sObject::ServiceAccount(o) => apply_one(client, ns, &name, o, &params).await,
        };
        match applied {
            Ok(()) => {}
            // The namespace's ResourceQuota has no room for it now: capacity, not a
            // refusal. Retried as any answer of the moment (its figures stay in the log,
            // never on GitHub), and made once a pod ends (outside review 15c, F17: the run
            // ended Failed, blamed on the service's rules, with the quota in its comment).
            Err(ControllerError::Kube(kube::Error::Api(e)))
                if e.code == 403 && e.message.contains("exceeded quota") =>
            {
                tracing::warn!(
                    run = %run.name_any(),
                    kind = object.kind(),
                    namespace = ns,
                    "the namespace's ResourceQuota has no room for it now; tried again later: {}",
                    e.message
                );
                return Err(ControllerError::Kube(kube::Error::Api(e)));
            }
            // The service's rules do not let it make this object: the template asks for
            // what the install does not grant. No retry makes it right.
            Err(ControllerError::Kube(kube::Error::Api(e))) if e.code == 403 => {
                return Ok(Applied::Refused(Unrunnable::Forbidden {
                    agent: run.spec.agent.clone(),
                    kind: object.kind(),
                    name,
                    ns: ns.to_owned(),
                    message: e.message,
                }));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Applied::Objects { pod, job })
}

async fn apply_one<K>(
    client: Client,
    ns: &str,
    name: &str,
    object: &K,
    params: &PatchParams,
) -> Result<(), ControllerError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client, ns);
    api.patch(name, params, &Patch::Apply(object)).await?;
    Ok(())
}

/// Mints the run's repository token and keeps it in a Secret the run owns; its name.
/// Each launch (a retry too) gets a fresh token, in a Secret of its own
/// (`<run>-github-token-<attempt>`); the same launch tried again uses the Secret this
/// replica made for it.
///
/// The Secret is created, never applied or read: the service may create Secrets in the runs'
/// namespaces and nothing more (a patch, even an empty one, answers with the whole Secret,
/// so it would read any Secret it can name, the model's API key among them). A Secret of
/// this name already there (409) was created by an earlier try of this same launch, which
/// failed before recording it: the pod uses that one, and the token just minted is revoked
/// at once. They all go with the run (ownerReference), by the garbage collector; the
/// tokens are revoked when the run ends ([`Context::revoke_held`]).
async fn token_secret(
    ctx: &Context,
    tokens: &dyn TokenMinter,
    permissions: &TokenPermissions,
    at: &Launch<'_>,
) -> Result<String, ControllerError> {
    let Launch {
        run,
        stored,
        ns,
        attempt,
        owner,
    } = *at;
    let name = token_secret_name(&run.name_any(), attempt);
    let key = RunRef::of(run);
    let made = |ctx: &Context| {
        ctx.secret_made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), attempt);
    };
    if ctx
        .secret_made
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        == Some(&attempt)
    {
        return Ok(name);
    }
    let token = tokens
        .mint(&stored.repository, permissions)
        .await
        .map_err(ControllerError::Token)?;
    // Held before the Secret is made: whatever happens next, it is revoked with the run.
    ctx.hold(&key, token.clone());
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.to_string()),
            labels: run.metadata.labels.clone(),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        string_data: Some([("token".to_string(), token.expose().to_string())].into()),
        type_: Some("Opaque".into()),
        // Nobody rewrites a run's token in place, this service included.
        immutable: Some(true),
        ..Secret::default()
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            made(ctx);
            Ok(name)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            made(ctx);
            // The pod gets the token in the Secret already there: this one is of no use.
            let unused = {
                let mut held = ctx.held.lock().unwrap_or_else(|e| e.into_inner());
                let mine = held.get_mut(&key).and_then(|tokens| {
                    let i = tokens.iter().position(|t| *t == token)?;
                    Some(tokens.remove(i))
                });
                if held.get(&key).is_some_and(Vec::is_empty) {
                    held.remove(&key);
                }
                mine
            };
            ctx.revoke(&key.1, unused.into_iter().collect());
            Ok(name)
        }
        Err(e) => Err(e.into()),
    }
}

/// One launch of a run: the run, its spec read, its namespace, which attempt, and the
/// ownerReference its objects get.
#[derive(Clone, Copy)]
struct Launch<'a> {
    run: &'a AgentRun,
    stored: &'a StoredRun,
    ns: &'a str,
    attempt: u32,
    owner: &'a OwnerReference,
}

/// The Secret holding the repository token of a run's `attempt`.
pub fn token_secret_name(run: &str, attempt: u32) -> String {
    format!("{run}-github-token-{}", attempt.max(1))
}

fn owner_reference(run: &AgentRun) -> OwnerReference {
    OwnerReference {
        api_version: AgentRun::api_version(&()).into_owned(),
        kind: AgentRun::kind(&()).into_owned(),
        name: run.name_any(),
        uid: run.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// After a failed reconcile: try again later, doubling the wait each time (with jitter),
/// up to `max_requeue`.
pub fn error_policy(run: Arc<AgentRun>, error: &ControllerError, ctx: Arc<Context>) -> Requeue {
    let name = run.name_any();
    let n = ctx.failed(&run);
    let base = Duration::from_millis(250).saturating_mul(1 << n.min(12));
    // Up to a quarter more, from the clock's nanoseconds: enough to spread retries.
    let jitter =
        base.mul_f64(f64::from(ctx.clock.now().subsec_nanosecond().unsigned_abs() % 250) / 1000.0);
    let wait = (base + jitter).min(ctx.options.max_requeue);
    tracing::warn!(
        run = %name,
        attempt = n,
        "reconcile failed, retrying in {wait:?}: {}",
        crate::text::with_causes(error)
    );
    Requeue::requeue(wait)
}
