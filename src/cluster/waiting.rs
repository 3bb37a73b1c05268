//! How many runs of each repository wait to be launched, for services.yaml's
//! `limits.queued_per_repository` (outside review 15b, B2): the intake's count, kept from a
//! watch of the AgentRuns, so a delivery costs no request to the API server for it.
//!
//! Every replica of the intake keeps its own (the controller's store is the leader's
//! alone). `serve` starts the watch as it starts ([`WaitingRuns::start`]), so the first
//! delivery after a restart does not wait for a list of every run, and what the count keeps
//! is in the service's resident size from the start; a count before the watch's first list
//! is in waits for it. The count comes from the runs themselves, so a restart (or another
//! replica) counts what is recorded. What it keeps is small: per run, its repository and whether it
//! waits ([`super::queue::waits`]); the runs themselves are not kept.
//!
//! A run this replica records counts at once, before its watch shows it, so one delivery
//! of ten runs counts each of the ten. Runs another replica records count once the watch
//! shows them (a few milliseconds): two replicas each at the last place at once may both
//! record a run, passing the limit by one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::agentrun::AgentRun;
use crate::github::event::RepoKey;

/// How long the first count waits for the watch's first list; past it, or at the watch's
/// first failure before it, the delivery is answered 503 (nothing recorded) and comes again.
pub const FIRST_LIST_WITHIN: Duration = Duration::from_secs(10);

/// A run by its namespace and name.
type Key = (String, String);

/// How long a place held for a run being recorded ([`WaitingRuns::hold`]) counts without
/// the run: far longer than recording one takes, so that a delivery dropped between the
/// count and the record gives its place back by then.
const PLACE_HELD_FOR: Duration = Duration::from_secs(30);

/// Where a run to record stands in its repository's queue ([`WaitingRuns::hold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A run of its name is recorded already.
    Recorded,
    /// A place is held for it: it counts as waiting until it is recorded, or its
    /// recording fails ([`WaitingRuns::release`]).
    Held,
    /// Its repository has this many runs waiting (places held included), the limit or more.
    Full(usize),
}

/// The runs of every repository that wait, as a watch shows them.
#[derive(Default)]
struct Counts {
    /// Each run seen: its repository, and whether it waits.
    runs: HashMap<Key, (RepoKey, bool)>,
    /// How many of each repository's runs wait.
    waiting: HashMap<RepoKey, usize>,
    /// The scopes (a namespace, or all) whose first list is in.
    listed: HashSet<Option<String>>,
    /// Why a watch whose first list is not in yet failed last.
    failed: Option<Arc<watcher::Error>>,
    /// The places this replica holds for runs it is recording, each with its repository and
    /// when it was taken (outside review 15c, F2: deliveries in flight at once each counted
    /// the same waiting runs, and together passed the limit many times over).
    held: HashMap<Key, (RepoKey, Instant)>,
}

impl Counts {
    /// Sets what is known of run `key` (`None`: it is gone), keeping the counts.
    fn set(&mut self, key: Key, seen: Option<(RepoKey, bool)>) {
        self.held.remove(&key);
        let old = match &seen {
            Some(seen) => self.runs.insert(key, seen.clone()),
            None => self.runs.remove(&key),
        };
        if let Some((repository, true)) = old
            && let Some(n) = self.waiting.get_mut(&repository)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.waiting.remove(&repository);
            }
        }
        if let Some((repository, true)) = seen {
            *self.waiting.entry(repository).or_default() += 1;
        }
    }

    /// How many runs of `repository` wait, the places held for runs being recorded included.
    fn waiting(&self, repository: &RepoKey) -> usize {
        let held = self
            .held
            .values()
            .filter(|(r, at)| r == repository && at.elapsed() < PLACE_HELD_FOR)
            .count();
        self.waiting.get(repository).copied().unwrap_or(0) + held
    }

    fn seen(run: &AgentRun) -> (Key, (RepoKey, bool)) {
        (
            (run.namespace().unwrap_or_default(), run.name_any()),
            (
                RepoKey::of_stored(&run.spec.repository),
                super::queue::waits(run),
            ),
        )
    }
}

/// Why runs could not be counted: the watch failed before its first list (the error), or
/// its first list took longer than [`FIRST_LIST_WITHIN`] (none).
#[derive(Debug)]
pub struct Uncounted(pub Option<Arc<watcher::Error>>);

/// The intake's count of waiting runs, per repository.
pub struct WaitingRuns {
    client: Client,
    /// The namespaces runs live in (`None`: all).
    namespaces: Option<Vec<String>>,
    counts: Arc<Mutex<Counts>>,
    /// Told each time a scope's first list is in.
    listed: Arc<tokio::sync::Notify>,
    /// The watches, once started; they stop when this is dropped.
    watches: OnceLock<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for WaitingRuns {
    fn drop(&mut self) {
        for task in self.watches.get().into_iter().flatten() {
            task.abort();
        }
    }
}

impl WaitingRuns {
    pub fn new(client: Client, namespaces: Option<Vec<String>>) -> WaitingRuns {
        WaitingRuns {
            client,
            namespaces,
            counts: Arc::default(),
            listed: Arc::default(),
            watches: OnceLock::new(),
        }
    }

    fn scopes(&self) -> Vec<Option<String>> {
        match &self.namespaces {
            Some(namespaces) => namespaces.iter().cloned().map(Some).collect(),
            None => vec![None],
        }
    }

    /// How many runs of `repository` wait (places held for runs being recorded included);
    /// [`Uncounted`] when the watch has not listed the runs (it failed first, or took longer
    /// than [`FIRST_LIST_WITHIN`]).
    pub async fn waiting_in(&self, repository: &RepoKey) -> Result<usize, Uncounted> {
        self.counted(|counts| counts.waiting(repository)).await
    }

    /// Holds a place in `repository`'s queue for run `name` of `namespace`, which is about
    /// to be recorded, unless `limit` runs wait there already or the run is recorded: in one
    /// step, so that deliveries in flight at once cannot each take the last place. The
    /// place counts until the run is recorded ([`WaitingRuns::recorded`], or the watch shows
    /// it), [`WaitingRuns::release`]d, or [`PLACE_HELD_FOR`] has passed. [`Uncounted`] as
    /// for [`WaitingRuns::waiting_in`].
    pub async fn hold(
        &self,
        repository: &RepoKey,
        namespace: &str,
        name: &str,
        limit: usize,
    ) -> Result<Place, Uncounted> {
        let key = (namespace.to_owned(), name.to_owned());
        self.counted(|counts| {
            if counts.runs.contains_key(&key) {
                return Place::Recorded;
            }
            counts.held.remove(&key);
            let waiting = counts.waiting(repository);
            if waiting >= limit {
                return Place::Full(waiting);
            }
            counts
                .held
                .retain(|_, (_, at)| at.elapsed() < PLACE_HELD_FOR);
            counts
                .held
                .insert(key.clone(), (repository.clone(), Instant::now()));
            Place::Held
        })
        .await
    }

    /// Gives back the place held for run `name` of `namespace`: it was not recorded (its
    /// recording failed, or a run of its name was there already).
    pub fn release(&self, namespace: &str, name: &str) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .held
            .remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// `read` of the counts, once the watch has listed the runs of every scope.
    async fn counted<T>(&self, read: impl Fn(&mut Counts) -> T) -> Result<T, Uncounted> {
        self.start();
        let scopes = self.scopes();
        let read = || {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            if !scopes.iter().all(|s| counts.listed.contains(s)) {
                return Err(counts.failed.clone());
            }
            Ok(read(&mut counts))
        };
        let wait = async {
            loop {
                let told = self.listed.notified();
                match read() {
                    Ok(count) => return Ok(count),
                    Err(Some(failed)) => return Err(Uncounted(Some(failed))),
                    Err(None) => told.await,
                }
            }
        };
        tokio::time::timeout(FIRST_LIST_WITHIN, wait)
            .await
            .unwrap_or(Err(Uncounted(None)))
    }

    /// Starts the watches, unless they run already.
    pub fn start(&self) {
        self.watches.get_or_init(|| self.watch());
    }

    /// `run`, just recorded by this replica: it counts at once (unless the watch showed it
    /// already).
    pub fn recorded(&self, run: &AgentRun) {
        let (key, seen) = Counts::seen(run);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if !counts.runs.contains_key(&key) {
            counts.set(key, Some(seen));
        }
    }

    /// A watch per scope, each keeping `counts`.
    fn watch(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.scopes()
            .into_iter()
            .map(|scope| {
                let api: Api<AgentRun> = match &scope {
                    Some(ns) => Api::namespaced(self.client.clone(), ns),
                    None => Api::all(self.client.clone()),
                };
                let (counts, listed) = (self.counts.clone(), self.listed.clone());
                tokio::spawn(keep(api, scope, counts, listed))
            })
            .collect()
    }
}

/// Why the watch of the runs failed, in words, and what to do: the API server's own
/// message for its answers (not kube's dump of its Status), the missing CRD for a 404.
fn watch_failure(e: &watcher::Error) -> String {
    match super::fault::watch_answer(e) {
        Some(status) if super::fault::no_agent_runs(status) => {
            "the API server serves no agentruns: the \
             AgentRun CRD is not installed; install it (`kubectl apply -k deploy/crd`)"
                .to_string()
        }
        Some(status) => format!(
            "the API server answered {} {}: {}; trying again. Check that the service may \
             list and watch agentruns",
            status.code, status.reason, status.message
        ),
        None => format!(
            "{}; trying again. Check that the service may list and watch agentruns",
            crate::text::with_causes(e)
        ),
    }
}

/// Keeps `counts` of the runs in `scope` as its watch shows them.
async fn keep(
    api: Api<AgentRun>,
    scope: Option<String>,
    counts: Arc<Mutex<Counts>>,
    listed: Arc<tokio::sync::Notify>,
) {
    let in_scope = |key: &Key| scope.as_deref().is_none_or(|ns| key.0 == ns);
    let mut listing: Option<HashMap<Key, (RepoKey, bool)>> = None;
    let mut failing = false;
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                let e = Arc::new(e);
                {
                    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
                    if !counts.listed.contains(&scope) {
                        counts.failed = Some(e.clone());
                    }
                }
                listed.notify_waiters();
                if !failing {
                    tracing::warn!(
                        "cannot watch the runs to count those waiting in each repository \
                         (limits.queued_per_repository): {}",
                        watch_failure(&e)
                    );
                }
                failing = true;
                continue;
            }
        };
        // The watcher says `Init` before each try at its list, the failed ones too: only
        // what it lists or sees ends a failure, or a failing list is said twice a second
        // (new-user review 13h, F15).
        if !matches!(event, watcher::Event::Init) {
            failing = false;
        }
        let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Init => listing = Some(HashMap::new()),
            watcher::Event::InitApply(run) => {
                let (key, seen) = Counts::seen(&run);
                listing.get_or_insert_default().insert(key, seen);
            }
            watcher::Event::InitDone => {
                let list = listing.take().unwrap_or_default();
                let gone: Vec<Key> = counts
                    .runs
                    .keys()
                    .filter(|key| in_scope(key) && !list.contains_key(*key))
                    .cloned()
                    .collect();
                for key in gone {
                    counts.set(key, None);
                }
                for (key, seen) in list {
                    counts.set(key, Some(seen));
                }
                counts.listed.insert(scope.clone());
                counts.failed = None;
                listed.notify_waiters();
            }
            watcher::Event::Apply(run) => {
                let (key, seen) = Counts::seen(&run);
                counts.set(key, Some(seen));
            }
            watcher::Event::Delete(run) => {
                let (key, _) = Counts::seen(&run);
                counts.set(key, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ("runs".into(), name.into())
    }

    #[test]
    fn counts_follow_each_run_as_it_waits_starts_and_goes() {
        let mut counts = Counts::default();
        let a = RepoKey::of_stored("org/a");
        counts.set(key("1"), Some((a.clone(), true)));
        counts.set(key("2"), Some((RepoKey::of_stored("ORG/A"), true)));
        counts.set(key("3"), Some((RepoKey::of_stored("org/b"), true)));
        assert_eq!(
            counts.waiting.get(&a),
            Some(&2),
            "one repository, case aside"
        );
        // Seen again, unchanged: counted once.
        counts.set(key("1"), Some((a.clone(), true)));
        assert_eq!(counts.waiting.get(&a), Some(&2));
        // Launched, then gone.
        counts.set(key("1"), Some((a.clone(), false)));
        assert_eq!(counts.waiting.get(&a), Some(&1));
        counts.set(key("1"), None);
        counts.set(key("2"), None);
        assert_eq!(counts.waiting.get(&a), None);
        assert_eq!(counts.waiting.get(&RepoKey::of_stored("org/b")), Some(&1));
    }
}
