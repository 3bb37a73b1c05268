//! The fair queue: which runs waiting for their first launch may start now, under
//! services.yaml's `limits`, and how many wait ahead of each one that may not. Pure: the
//! controller gathers the runs from its store (the `runs list` command from a listing).
//!
//! A place that frees goes to the repositories in turn (see [`verdicts`]): the one with the
//! fewest runs holding places, then the one served longest ago (one not served counts as
//! served when its first waiting run was asked for), then the one whose first waiting run
//! was asked for first. Within a repository runs are taken in request order
//! (`spec.requestedAt`, else the creation time, then the name). All of it is read from the
//! runs (their launch times included), so a restarted controller keeps the order. A run
//! its concurrency group holds back takes no place and blocks no one; a run held by its
//! repository's limit does not hold back other repositories' runs, and a repository with a
//! backlog takes one place in turn, not every place that frees (review 15b, B3).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::num::NonZeroU32;

use k8s_openapi::jiff::Timestamp;

use crate::agentrun::{AgentRun, AgentRunStatus, Phase};
use crate::config::Limits;
use crate::github::event::RepoKey;

/// A run, as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry<'a> {
    pub repository: &'a str,
    /// `spec.requestedAt`, else the creation time.
    pub requested: Timestamp,
    /// Its name (with its namespace first, so that names of several namespaces order too).
    pub name: (&'a str, &'a str),
    pub state: State,
    /// When it was last launched (its `Launched` condition), finished or not: when its
    /// repository was last served.
    pub launched: Option<Timestamp>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Launched and not finished (or being launched): it holds a place.
    Holding,
    /// Not launched yet; `group_blocked` when an older run of its concurrency group must
    /// end first.
    Waiting { group_blocked: bool },
    /// Finished, or asked to stop before it launched: out of the queue.
    Out,
}

/// The limit a waiting run is held by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// `limits.per_repository` runs of its repository hold their places.
    Repository { limit: u32, repository: String },
    /// `limits.running` runs in all hold theirs.
    Running { limit: u32 },
}

impl Held {
    /// `limit: 3 running in my-org/api`, `limit: 20 running`.
    pub fn note(&self) -> String {
        match self {
            Held::Repository { limit, repository } => {
                format!("limit: {limit} running in {repository}")
            }
            Held::Running { limit } => format!("limit: {limit} running"),
        }
    }

    /// Which limit it is.
    pub fn by(&self) -> HeldBy {
        match self {
            Held::Repository { .. } => HeldBy::Repository,
            Held::Running { .. } => HeldBy::Running,
        }
    }

    /// The reason of the run's `Queued` condition.
    pub fn reason(&self) -> &'static str {
        self.by().reason()
    }
}

/// Which limit holds a run, as its `Queued` condition's reason says: written by
/// [`HeldBy::reason`], read back once by [`HeldBy::from_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBy {
    /// Its repository's ([`REPOSITORY_LIMIT`]).
    Repository,
    /// The running limit ([`RUNNING_LIMIT`]).
    Running,
}

impl HeldBy {
    /// The condition's reason.
    pub fn reason(self) -> &'static str {
        match self {
            HeldBy::Repository => REPOSITORY_LIMIT,
            HeldBy::Running => RUNNING_LIMIT,
        }
    }

    /// The limit a condition's `reason` names; `None` for any other reason (one written by
    /// hand, or by a newer agentpods).
    pub fn from_reason(reason: &str) -> Option<HeldBy> {
        [HeldBy::Repository, HeldBy::Running]
            .into_iter()
            .find(|by| by.reason() == reason)
    }
}

/// The condition whose transition time says when the current attempt's objects were applied.
pub const LAUNCHED: &str = "Launched";

/// The reason of a run's `Launched` condition.
pub const OBJECTS_APPLIED: &str = "ObjectsApplied";

/// The condition a run waiting for capacity carries: its reason says which limit holds it
/// ([`REPOSITORY_LIMIT`], [`RUNNING_LIMIT`]), its message the limit.
pub const QUEUED: &str = "Queued";

/// The reasons of a run's `Queued` condition, which `runs list` reads back.
pub const REPOSITORY_LIMIT: &str = "RepositoryLimit";
pub const RUNNING_LIMIT: &str = "RunningLimit";

/// What the queue says about a waiting run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Capacity allows it (its concurrency group may still hold it back).
    Start,
    /// Its concurrency group holds it back.
    Group,
    /// A limit holds it, with `ahead` runs of its repository waiting before it: those the
    /// queue starts before it (it serves repositories in turn, so other repositories' runs
    /// may start first too, and are not counted: see [`message`]).
    Wait { ahead: usize, held: Held },
}

/// Where a run a limit holds stands: its repository's runs waiting ahead of it, and the
/// limit that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub ahead: usize,
    pub by: HeldBy,
}

/// How a run's status message begins while a limit holds it.
const WAITING: &str = "queued: ";

/// `queued: 3 ahead (limit: 3 running in my-org/api)`, `queued: 0 ahead in this repository
/// (limit: 20 running)`: the status message of a run a limit holds, at `place`; `limit` is
/// what its `Queued` condition says ([`Held::note`]). Only the run's own repository's runs
/// are counted, whichever limit holds it: the message reaches the check runs of public
/// repositories, and must not tell how busy other repositories are (review 15b, B6). The
/// one place that spells it: the controller writes it, `runs list` writes it again with the
/// place worked out afresh, and [`place`] reads it back.
pub fn message(place: Place, limit: &str) -> String {
    let Place { ahead, by } = place;
    match by {
        HeldBy::Repository => format!("{WAITING}{ahead} ahead ({limit})"),
        HeldBy::Running => format!("{WAITING}{ahead} ahead in this repository ({limit})"),
    }
}

/// Where a run a limit holds stands, as words for its check run, from the status message
/// [`message`] wrote: `3 ahead (limit: 3 running in my-org/api)`; a message written
/// otherwise, whole.
pub fn place(message: &str) -> &str {
    message.strip_prefix(WAITING).unwrap_or(message)
}

/// The verdict on every waiting run, by its index in `entries`, in request order.
///
/// Places free to runs of the repositories in turn: the next goes to the repository with
/// the fewest runs holding places, then to the one served longest ago (its last launch,
/// from its runs, finished ones included; one never served, or no longer remembered, as if
/// served when its first waiting run was asked for, so that it does not overtake a
/// repository that asked before it), then to the one whose first waiting run was asked for
/// first; within a repository, in request order. A
/// repository with a backlog thus takes one place in turn, not every place that frees.
pub fn verdicts(limits: Limits, entries: &[Entry<'_>]) -> Vec<(usize, Turn)> {
    /// A repository's share of the queue.
    #[derive(Default)]
    struct Repository {
        /// Its runs holding places.
        holding: u32,
        /// Its last launch (see [`Entry::launched`]).
        served: Option<Timestamp>,
        /// Its waiting runs (not held back by their group), in request order.
        waiting: Vec<usize>,
        /// How many of them start.
        starting: usize,
    }
    let over = |n: u32, limit: Option<NonZeroU32>| limit.is_some_and(|l| n >= l.get());
    let mut running = 0u32;
    let mut out = Vec::new();
    // One repository, whatever the case its runs' names were stored in (`RepoKey`).
    let mut index: HashMap<RepoKey, usize> = HashMap::new();
    let mut repositories: Vec<Repository> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = *index
            .entry(RepoKey::of_stored(e.repository))
            .or_insert_with(|| {
                repositories.push(Repository::default());
                repositories.len() - 1
            });
        let repository = &mut repositories[at];
        // A place held with no launch time yet (a launch claimed) was taken just now.
        let served = match e.state {
            State::Holding => Some(e.launched.unwrap_or(Timestamp::MAX)),
            _ => e.launched,
        };
        repository.served = repository.served.max(served);
        match e.state {
            State::Holding => {
                running += 1;
                repository.holding += 1;
            }
            State::Waiting {
                group_blocked: true,
            } => out.push((i, Turn::Group)),
            State::Waiting { .. } => repository.waiting.push(i),
            State::Out => {}
        }
    }
    let order = |i: usize| (entries[i].requested, entries[i].name);
    // The repositories that may start their next run, by whose turn it is.
    // A repository not served (or no longer remembered) counts as served when its first
    // waiting run was asked for: a late newcomer does not overtake a repository that asked
    // before it (review 15c, F3).
    let turn = |r: &Repository, at: usize| {
        let next = *r.waiting.get(r.starting)?;
        let served = r.served.unwrap_or(entries[*r.waiting.first()?].requested);
        (!over(r.holding, limits.per_repository))
            .then(|| Reverse((r.holding, served, order(next), at)))
    };
    let mut turns = BinaryHeap::new();
    for (at, repository) in repositories.iter_mut().enumerate() {
        repository.waiting.sort_by_key(|&i| order(i));
        turns.extend(turn(repository, at));
    }
    while !over(running, limits.running)
        && let Some(Reverse((_, _, _, at))) = turns.pop()
    {
        let repository = &mut repositories[at];
        out.push((repository.waiting[repository.starting], Turn::Start));
        repository.starting += 1;
        repository.holding += 1;
        repository.served = Some(Timestamp::MAX);
        running += 1;
        turns.extend(turn(repository, at));
    }
    // The others wait, behind their repository's runs before them: for the running limit
    // while their repository has room for them, for their repository's limit behind that.
    for repository in &repositories {
        let room = limits.per_repository.map_or(usize::MAX, |l| {
            l.get().saturating_sub(repository.holding) as usize
        });
        for (ahead, &i) in repository.waiting[repository.starting..].iter().enumerate() {
            let held = if ahead < room {
                Held::Running {
                    limit: limits.running.map_or(0, NonZeroU32::get),
                }
            } else {
                Held::Repository {
                    limit: limits.per_repository.map_or(0, NonZeroU32::get),
                    repository: entries[i].repository.to_string(),
                }
            };
            out.push((i, Turn::Wait { ahead, held }));
        }
    }
    out.sort_by_key(|&(i, _)| order(i));
    out
}

/// The verdict on the waiting run at `index` of `entries` (`Start` for a run not waiting).
pub fn verdict_of(limits: Limits, entries: &[Entry<'_>], index: usize) -> Turn {
    verdicts(limits, entries)
        .into_iter()
        .find(|(i, _)| *i == index)
        .map_or(Turn::Start, |(_, v)| v)
}

/// The queue's verdicts on a whole set of runs, worked out once and asked about run by run:
/// what every reconcile of a waiting run shares until the runs change (working the queue
/// out for each one is quadratic in the runs waiting).
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// By (namespace, name): the run as the queue saw it, and its verdict (`None`: not
    /// waiting).
    runs: HashMap<(String, String), (Seen, Option<Turn>)>,
    /// The runs that may start, in request order.
    start: Vec<(String, String)>,
}

/// What the queue saw of a run.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    repository: String,
    requested: Timestamp,
    state: State,
    launched: Option<Timestamp>,
}

impl Table {
    /// The verdicts on `entries` under `limits`.
    pub fn of(limits: Limits, entries: &[Entry<'_>]) -> Table {
        let key = |e: &Entry<'_>| (e.name.0.to_owned(), e.name.1.to_owned());
        let mut on: Vec<Option<Turn>> = vec![None; entries.len()];
        let mut start = Vec::new();
        for (i, verdict) in verdicts(limits, entries) {
            if verdict == Turn::Start {
                start.push(key(&entries[i]));
            }
            on[i] = Some(verdict);
        }
        let runs = entries
            .iter()
            .zip(on)
            .map(|(e, verdict)| {
                let seen = Seen {
                    repository: e.repository.to_owned(),
                    requested: e.requested,
                    state: e.state,
                    launched: e.launched,
                };
                (key(e), (seen, verdict))
            })
            .collect();
        Table { runs, start }
    }

    /// The verdict on `entry`, a run the table holds as it was then, were the run held back
    /// by no concurrency group: what [`verdict_of`] says of it among the table's runs, its
    /// group (if any) taken out. `None` when the table does not hold the run as `entry` says
    /// it is, or holds it held back by its group: it must be worked out anew.
    pub fn verdict(&self, entry: &Entry<'_>) -> Option<Turn> {
        // A run's group holds back only runs asked for after it, which do not change
        // what the queue says of it: taking it out changes none of the verdicts before it.
        if entry.state
            == (State::Waiting {
                group_blocked: true,
            })
        {
            return None;
        }
        let (seen, verdict) = self
            .runs
            .get(&(entry.name.0.to_owned(), entry.name.1.to_owned()))?;
        let same = seen.repository == entry.repository
            && seen.requested == entry.requested
            && seen.state == entry.state
            && seen.launched == entry.launched;
        if !same {
            return None;
        }
        Some(verdict.clone().unwrap_or(Turn::Start))
    }

    /// The waiting runs the table lets start (their namespace and name), in request order.
    pub fn starting(&self) -> impl Iterator<Item = (&str, &str)> {
        self.start
            .iter()
            .map(|(ns, name)| (ns.as_str(), name.as_str()))
    }
}

/// Which waiting runs are held back by their concurrency group: those with an unfinished
/// run of the same group (in the same namespace) asked for before them, unless they
/// cancel it (`cancel_in_progress`). `groups[i]`: the run's namespace and group, whether it
/// cancels in progress, and whether it is unfinished.
pub fn group_blocked(entries: &[Entry<'_>], groups: &[Option<(&str, &str, bool)>]) -> Vec<bool> {
    // A run's place in the order: when it was asked for, then its namespace and name.
    type Place<'a> = (Timestamp, (&'a str, &'a str));
    let mut first: HashMap<(&str, &str), Place<'_>> = HashMap::new();
    for (e, g) in entries.iter().zip(groups) {
        if let Some((ns, group, _)) = g
            && e.state != State::Out
        {
            let key = (e.requested, e.name);
            first
                .entry((ns, group))
                .and_modify(|k| *k = (*k).min(key))
                .or_insert(key);
        }
    }
    entries
        .iter()
        .zip(groups)
        .map(|(e, g)| match g {
            Some((ns, group, false)) => first
                .get(&(*ns, *group))
                .is_some_and(|k| *k < (e.requested, e.name)),
            _ => false,
        })
        .collect()
}

/// When a run was asked for: `spec.requestedAt`, else its creation time.
pub fn requested(run: &AgentRun) -> Timestamp {
    run.spec
        .requested_at
        .as_ref()
        .map(|t| t.0)
        .or(run.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_default()
}

fn launched(run: &AgentRun) -> bool {
    run.status
        .as_ref()
        .is_some_and(|s| s.pod_name.is_some() || s.job_name.is_some())
}

/// When the current attempt's objects were applied (the queue orders running runs by it;
/// `decide` records it).
pub fn launched_at(status: &AgentRunStatus) -> Option<Timestamp> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == LAUNCHED)
        .map(|c| c.last_transition_time.0)
}

fn run_launched_at(run: &AgentRun) -> Option<Timestamp> {
    run.status.as_ref().and_then(launched_at)
}

fn phase(run: &AgentRun) -> Option<Phase> {
    run.status.as_ref().and_then(|s| s.phase.clone())
}

/// Where `run` stands, its concurrency group aside; `claimed`: it is being launched though its
/// status does not say so yet. A run left for a newer agentpods is out, as if not there:
/// this controller will not start it, so it must take no turn, no place and no room in its
/// repository's queue (review 15c, F6: first in line, it stopped every run from starting).
fn state(run: &AgentRun, claimed: bool) -> State {
    if phase(run).as_ref().is_some_and(Phase::is_finished)
        || super::newer::left_for_newer(run).is_some()
    {
        State::Out
    } else if launched(run) || claimed {
        State::Holding
    } else if run.spec.cancel.is_some() {
        State::Out
    } else {
        State::Waiting {
            group_blocked: false,
        }
    }
}

/// Whether `run` is recorded and not launched yet, and not finished nor asked to stop nor
/// left for a newer agentpods: it waits for a place or its concurrency group, or for the
/// controller to see it. What
/// `limits.queued_per_repository` counts (`cluster::waiting`).
pub fn waits(run: &AgentRun) -> bool {
    matches!(state(run, false), State::Waiting { .. })
}

/// What the queue reads of a run: two copies of a run with the same facts make the same
/// queue (a waiting run's status written Queued, say, changes nothing).
#[derive(Debug, PartialEq)]
pub struct QueuedRun<'a> {
    repository: &'a str,
    requested: Timestamp,
    group: Option<&'a str>,
    cancel_in_progress: bool,
    state: State,
    launched: Option<Timestamp>,
}

/// The facts of `run` the queue reads (claims aside).
pub fn facts(run: &AgentRun) -> QueuedRun<'_> {
    QueuedRun {
        repository: &run.spec.repository,
        requested: requested(run),
        group: run.spec.concurrency_group.as_deref(),
        cancel_in_progress: run.spec.cancel_in_progress,
        state: state(run, false),
        launched: run_launched_at(run),
    }
}

/// The queue's entries for `runs`; `claimed` says which runs are being launched though
/// their status does not say so yet (they hold a place).
pub fn entries<'a>(runs: &[&'a AgentRun], claimed: impl Fn(&AgentRun) -> bool) -> Vec<Entry<'a>> {
    let mut entries: Vec<Entry<'a>> = runs
        .iter()
        .map(|run| Entry {
            repository: &run.spec.repository,
            requested: requested(run),
            name: (
                run.metadata.namespace.as_deref().unwrap_or_default(),
                run.metadata.name.as_deref().unwrap_or_default(),
            ),
            state: state(run, claimed(run)),
            launched: run_launched_at(run),
        })
        .collect();
    let groups: Vec<Option<(&str, &str, bool)>> = runs
        .iter()
        .map(|run| {
            run.spec.concurrency_group.as_deref().map(|g| {
                (
                    run.metadata.namespace.as_deref().unwrap_or_default(),
                    g,
                    run.spec.cancel_in_progress,
                )
            })
        })
        .collect();
    let blocked = group_blocked(&entries, &groups);
    for (entry, blocked) in entries.iter_mut().zip(blocked) {
        if blocked && matches!(entry.state, State::Waiting { .. }) {
            entry.state = State::Waiting {
                group_blocked: true,
            };
        }
    }
    entries
}

/// Where each run of `runs` that a limit holds stands (`None` for the others), worked out
/// from the runs alone, without the limits: the runs of its repository a limit holds too,
/// asked for before it (as [`verdicts`] counts them). What `runs list` shows: the stored
/// message gives the place when the run began to wait.
pub fn places(runs: &[&AgentRun]) -> Vec<Option<Place>> {
    let held = |run: &AgentRun| -> Option<HeldBy> {
        if phase(run) != Some(Phase::Queued) || !waits(run) {
            return None;
        }
        let status = run.status.as_ref()?;
        let condition = status.conditions.iter().find(|c| c.type_ == QUEUED)?;
        HeldBy::from_reason(&condition.reason)
    };
    let order = |run: &AgentRun| (requested(run), run.metadata.name.clone());
    runs.iter()
        .map(|run| {
            let by = held(run)?;
            let me = order(run);
            let repository = RepoKey::of_stored(&run.spec.repository);
            let ahead = runs
                .iter()
                .filter(|other| held(other).is_some() && order(other) < me)
                .filter(|other| repository.is(&other.spec.repository))
                .count();
            Some(Place { ahead, by })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conditions the controller reads back, as runs stored them (the frozen statuses
    /// of tests/it/stored_statuses.rs; review 12w, R37): renaming `Launched` or a limit's
    /// reason fails here, where before it passed every test and, after an upgrade, a
    /// re-attempted pod's pending deadline would have run from the run's creation.
    #[test]
    fn the_conditions_read_back_are_read_from_statuses_stored_before() {
        // Read when the test runs, not at compile time: the image's build copies no tests/.
        let read = |file: &str| -> AgentRunStatus {
            let path = format!(
                "{}/tests/fixtures/agentruns/status/v1alpha1/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).expect("a stored status");
            serde_yaml::from_str(&text).expect("a stored status")
        };
        assert_eq!(
            launched_at(&read("relaunched.yaml")),
            Some("2026-12-04T10:05:00Z".parse().expect("a time"))
        );
        for (file, by) in [
            ("queued.yaml", HeldBy::Repository),
            ("queued-running-limit.yaml", HeldBy::Running),
        ] {
            let held: Vec<_> = read(file)
                .conditions
                .iter()
                .filter(|c| c.type_ == QUEUED)
                .map(|c| HeldBy::from_reason(&c.reason))
                .collect();
            assert_eq!(held, [Some(by)], "{file}");
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    fn limits(running: u32, per_repository: u32) -> Limits {
        Limits {
            running: NonZeroU32::new(running),
            per_repository: NonZeroU32::new(per_repository),
            ..Limits::default()
        }
    }

    /// Runs `name@repo` at second `at`, in `state`.
    fn e<'a>(name: &'a str, repo: &'a str, at: u32, state: State) -> Entry<'a> {
        Entry {
            repository: repo,
            requested: t(&format!("2026-12-03T10:00:{at:02}Z")),
            name: ("ns", name),
            state,
            launched: None,
        }
    }

    const HOLD: State = State::Holding;
    const WAIT: State = State::Waiting {
        group_blocked: false,
    };

    fn named(entries: &[Entry<'_>], l: Limits) -> Vec<(String, Turn)> {
        verdicts(l, entries)
            .into_iter()
            .map(|(i, v)| (entries[i].name.1.to_string(), v))
            .collect()
    }

    fn repo_wait(ahead: usize, limit: u32, repo: &str) -> Turn {
        Turn::Wait {
            ahead,
            held: Held::Repository {
                limit,
                repository: repo.into(),
            },
        }
    }

    #[test]
    fn a_limit_is_read_back_from_the_reason_it_wrote_and_from_nothing_else() {
        for by in [HeldBy::Repository, HeldBy::Running] {
            assert_eq!(HeldBy::from_reason(by.reason()), Some(by));
        }
        for other in ["", "runninglimit", "RunningLimit ", "Queued", "HeldByHand"] {
            assert_eq!(HeldBy::from_reason(other), None, "{other:?}");
        }
    }

    #[test]
    fn without_limits_every_waiting_run_starts() {
        let runs = [
            e("a", "o/a", 1, HOLD),
            e("b", "o/a", 2, WAIT),
            e("c", "o/a", 3, WAIT),
        ];
        assert_eq!(
            named(&runs, Limits::default()),
            [("b".into(), Turn::Start), ("c".into(), Turn::Start)]
        );
    }

    #[test]
    fn per_repository_holds_only_that_repository_in_request_order() {
        // Listed out of order: the queue sorts by request time.
        let runs = [
            e("a3", "o/a", 5, WAIT),
            e("a1", "o/a", 1, HOLD),
            e("b1", "o/b", 6, WAIT),
            e("a2", "o/a", 3, WAIT),
            e("c1", "o/c", 7, WAIT),
        ];
        assert_eq!(
            named(&runs, limits(0, 1)),
            [
                ("a2".into(), repo_wait(0, 1, "o/a")),
                ("a3".into(), repo_wait(1, 1, "o/a")),
                ("b1".into(), Turn::Start),
                ("c1".into(), Turn::Start),
            ]
        );
    }

    #[test]
    fn a_repositorys_runs_are_counted_together_whatever_case_its_name_is_written_in() {
        // GitHub's names ignore case: a run recorded as `Acme/X` (before a rename, say)
        // holds a place of `acme/x`'s limit (before review 12d, R3, they were counted apart
        // and both started).
        let runs = [
            e("x1", "Acme/X", 1, HOLD),
            e("x2", "acme/x", 2, WAIT),
            e("x3", "ACME/x", 3, WAIT),
        ];
        assert_eq!(
            named(&runs, limits(0, 1)),
            [
                ("x2".into(), repo_wait(0, 1, "acme/x")),
                ("x3".into(), repo_wait(1, 1, "ACME/x")),
            ]
        );
    }

    #[test]
    fn the_running_limit_counts_places_across_repositories_and_each_run_its_own_repositorys_ahead()
    {
        let runs = [
            e("a1", "o/a", 1, HOLD),
            e("b1", "o/b", 2, WAIT),
            e("c1", "o/c", 3, WAIT),
            e("a2", "o/a", 4, WAIT),
            e("a3", "o/a", 5, WAIT),
        ];
        let running = |ahead| Turn::Wait {
            ahead,
            held: Held::Running { limit: 2 },
        };
        // a2 waits behind c1 too, but it is told only of its own repository's runs ahead
        // (none; a3 has a2): review 15b, B6.
        assert_eq!(
            named(&runs, limits(2, 0)),
            [
                ("b1".into(), Turn::Start),
                ("c1".into(), running(0)),
                ("a2".into(), running(0)),
                ("a3".into(), running(1)),
            ]
        );
    }

    #[test]
    fn a_run_held_by_its_repository_does_not_hold_back_the_next_repository() {
        // Two places in all; o/a has its one. a2 waits for o/a, b1 takes the free place.
        let runs = [
            e("a1", "o/a", 1, HOLD),
            e("a2", "o/a", 2, WAIT),
            e("b1", "o/b", 3, WAIT),
            e("b2", "o/b", 4, WAIT),
        ];
        assert_eq!(
            named(&runs, limits(2, 1)),
            [
                ("a2".into(), repo_wait(0, 1, "o/a")),
                ("b1".into(), Turn::Start),
                ("b2".into(), repo_wait(0, 1, "o/b")),
            ]
        );
    }

    /// `entry` launched at second `at` (it has been served then).
    fn served<'a>(entry: Entry<'a>, at: u32) -> Entry<'a> {
        Entry {
            launched: Some(t(&format!("2026-12-03T11:00:{at:02}Z"))),
            ..entry
        }
    }

    #[test]
    fn a_freed_place_goes_to_a_repository_not_served_yet_before_a_backlog_asked_for_earlier() {
        // Review 15b, B3: limits 2/1; o/x1 and o/x2 each keep a backlog of five, asked for
        // before the victim's run. x1's running run has just ended. Before, the place went
        // to x1's next run (first come, first served across repositories), and the victim
        // waited for both backlogs.
        let names: Vec<(String, String)> = (1..=5)
            .map(|i| (format!("x1-{i}"), format!("x2-{i}")))
            .collect();
        let mut runs = vec![
            served(e("x1-0", "o/x1", 0, State::Out), 1),
            served(e("x2-0", "o/x2", 0, HOLD), 2),
        ];
        for (i, (x1, x2)) in names.iter().enumerate() {
            let at = 1 + 2 * i as u32;
            runs.push(e(x1, "o/x1", at, WAIT));
            runs.push(e(x2, "o/x2", at + 1, WAIT));
        }
        runs.push(e("victim", "o/victim", 30, WAIT));
        let verdicts = named(&runs, limits(2, 1));
        let starting: Vec<&str> = verdicts
            .iter()
            .filter(|(_, v)| *v == Turn::Start)
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(starting, ["victim"]);
        // x1 has room for one run: it waits for the running limit; the rest of each backlog
        // for its repository's.
        assert!(matches!(
            verdicts[0],
            (ref n, Turn::Wait { held: Held::Running { limit: 2 }, .. }) if n == "x1-1"
        ));
        assert_eq!(verdicts[1], ("x2-1".into(), repo_wait(0, 1, "o/x2")));
        assert_eq!(verdicts[2], ("x1-2".into(), repo_wait(1, 1, "o/x1")));
    }

    #[test]
    fn repositories_with_backlogs_take_places_in_turn_as_they_free() {
        // One place; o/a and o/b each asked for five runs before o/v asked for one. Each
        // time the running run ends, the queue is worked out again from the runs.
        let mut runs: Vec<Entry<'_>> = Vec::new();
        let names: Vec<String> = (0..5)
            .flat_map(|i| [format!("a{i}"), format!("b{i}")])
            .collect();
        for (i, name) in names.iter().enumerate() {
            let repo = if name.starts_with('a') { "o/a" } else { "o/b" };
            runs.push(e(name, repo, i as u32, WAIT));
        }
        runs.push(e("v0", "o/v", 30, WAIT));
        let mut started = Vec::new();
        for second in 0..11 {
            for run in runs.iter_mut().filter(|r| r.state == HOLD) {
                run.state = State::Out;
            }
            let (i, _) = verdicts(limits(1, 0), &runs)
                .into_iter()
                .find(|(_, v)| *v == Turn::Start)
                .expect("one run starts");
            runs[i] = served(
                Entry {
                    state: HOLD,
                    ..runs[i]
                },
                second,
            );
            started.push(runs[i].name.1);
        }
        assert_eq!(
            started,
            [
                "a0", "b0", "v0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"
            ]
        );
    }

    #[test]
    fn a_repository_holding_fewer_places_goes_first_whoever_was_served_last() {
        // Three places; o/a holds two, o/b one that it was given last. o/b goes next.
        let runs = [
            served(e("a1", "o/a", 1, HOLD), 1),
            served(e("a2", "o/a", 2, HOLD), 2),
            served(e("b1", "o/b", 3, HOLD), 3),
            e("a3", "o/a", 4, WAIT),
            e("b2", "o/b", 5, WAIT),
        ];
        let l = limits(4, 0);
        assert_eq!(
            named(&runs, l),
            [
                (
                    "a3".into(),
                    Turn::Wait {
                        ahead: 0,
                        held: Held::Running { limit: 4 }
                    }
                ),
                ("b2".into(), Turn::Start),
            ]
        );
    }

    #[test]
    fn equal_request_times_order_by_name_and_finished_or_cancelled_runs_are_out() {
        let runs = [
            e("x", "o/a", 1, State::Out),
            e("b", "o/a", 2, WAIT),
            e("a", "o/a", 2, WAIT),
            e("gone", "o/a", 0, State::Out),
        ];
        assert_eq!(
            named(&runs, limits(1, 0)),
            [
                ("a".into(), Turn::Start),
                (
                    "b".into(),
                    Turn::Wait {
                        ahead: 0,
                        held: Held::Running { limit: 1 }
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_run_its_group_holds_back_takes_no_place() {
        let runs = [
            e(
                "g1",
                "o/a",
                1,
                State::Waiting {
                    group_blocked: true,
                },
            ),
            e("b1", "o/a", 2, WAIT),
        ];
        assert_eq!(
            named(&runs, limits(1, 1)),
            [("g1".into(), Turn::Group), ("b1".into(), Turn::Start)]
        );
        assert_eq!(verdict_of(limits(1, 1), &runs, 1), Turn::Start);
        assert_eq!(verdict_of(limits(1, 1), &runs, 7), Turn::Start);
    }

    #[test]
    fn groups_hold_back_all_but_their_oldest_unfinished_run_unless_it_cancels() {
        let runs = [
            e("old", "o/a", 1, State::Out),
            e("mid", "o/a", 2, HOLD),
            e("new", "o/a", 3, WAIT),
            e("newest", "o/a", 4, WAIT),
            e("other", "o/a", 5, WAIT),
        ];
        let groups = [
            Some(("ns", "g", false)),
            Some(("ns", "g", false)),
            Some(("ns", "g", false)),
            Some(("ns", "g", true)),
            None,
        ];
        assert_eq!(
            group_blocked(&runs, &groups),
            [false, false, true, false, false]
        );
    }

    #[test]
    fn the_message_says_where_the_run_stands_and_why() {
        let held = Held::Repository {
            limit: 3,
            repository: "my-org/api".into(),
        };
        let at = |ahead, by| Place { ahead, by };
        let written = message(at(3, HeldBy::Repository), &held.note());
        assert_eq!(written, "queued: 3 ahead (limit: 3 running in my-org/api)");
        assert_eq!(place(&written), "3 ahead (limit: 3 running in my-org/api)");
        // Held by the running limit, it counts only its own repository's runs ahead, and
        // says so (review 15b, B6: the words reach public repositories' check runs).
        let written = message(at(0, HeldBy::Running), &Held::Running { limit: 20 }.note());
        assert_eq!(
            written,
            "queued: 0 ahead in this repository (limit: 20 running)"
        );
        assert_eq!(
            place(&written),
            "0 ahead in this repository (limit: 20 running)"
        );
        assert_eq!(place("held by hand"), "held by hand");
    }

    #[test]
    fn the_table_says_what_the_queue_says_of_each_run_as_the_table_saw_it() {
        let runs = [
            e("a1", "o/a", 1, HOLD),
            e("a2", "o/a", 2, WAIT),
            e(
                "g1",
                "o/b",
                3,
                State::Waiting {
                    group_blocked: true,
                },
            ),
            e("b1", "o/b", 4, WAIT),
            e("c1", "o/c", 5, WAIT),
            e("x", "o/c", 6, State::Out),
        ];
        let l = limits(2, 1);
        let table = Table::of(l, &runs);
        // a2 waits for o/a, b1 takes the free place, c1 waits for it; a1 holds its place and
        // x is out: neither waits, so nothing holds them (as `verdict_of` says).
        for i in [0, 1, 3, 4, 5] {
            assert_eq!(
                table.verdict(&runs[i]),
                Some(verdict_of(l, &runs, i)),
                "{}",
                runs[i].name.1
            );
        }
        assert_eq!(table.starting().collect::<Vec<_>>(), [("ns", "b1")]);
        // A run its group holds back, a run the table does not hold, and a run that has
        // changed since are worked out anew.
        assert_eq!(table.verdict(&runs[2]), None);
        assert_eq!(table.verdict(&e("new", "o/a", 7, WAIT)), None);
        assert_eq!(table.verdict(&e("a2", "o/a", 2, HOLD)), None);
        assert_eq!(table.verdict(&e("c1", "o/d", 5, WAIT)), None);
        assert_eq!(table.verdict(&e("c1", "o/c", 0, WAIT)), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Whatever the runs and the limits, the table agrees with `verdict_of` on every run
        /// not held back by its group.
        #[test]
        fn the_table_agrees_with_the_queue_worked_out_for_each_run(
            runs in proptest::collection::vec((0u8..4, 0u32..30, 0u8..4, 0u32..4), 0..40),
            running in 0u32..6,
            per_repository in 0u32..4,
        ) {
            const REPOS: [&str; 4] = ["o/a", "o/b", "o/c", "o/d"];
            let names: Vec<String> = (0..runs.len()).map(|i| format!("r{i}")).collect();
            let entries: Vec<Entry<'_>> = runs
                .iter()
                .zip(&names)
                .map(|(&(repo, at, state, launched), name)| {
                    let state = match state {
                        0 => HOLD,
                        1 => State::Out,
                        2 => State::Waiting { group_blocked: true },
                        _ => WAIT,
                    };
                    let entry = e(name, REPOS[usize::from(repo)], at % 60, state);
                    // Never launched, or at one of three seconds.
                    if launched == 0 { entry } else { served(entry, launched) }
                })
                .collect();
            let l = limits(running, per_repository);
            let table = Table::of(l, &entries);
            for (i, entry) in entries.iter().enumerate() {
                let expected = (entry.state != State::Waiting { group_blocked: true })
                    .then(|| verdict_of(l, &entries, i));
                proptest::prop_assert_eq!(table.verdict(entry), expected);
            }
        }
    }

    fn run(name: &str, repo: &str, at: u32, reason: Option<&str>) -> AgentRun {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
        let mut spec = crate::cluster::decide::tests::spec(None, false);
        spec.repository = repo.into();
        spec.requested_at = Some(MicroTime(t(&format!("2026-12-03T10:00:{at:02}Z"))));
        let mut run = AgentRun::new(name, spec);
        run.metadata.namespace = Some("ns".into());
        run.status = Some(crate::agentrun::AgentRunStatus {
            phase: Some(if reason.is_some() {
                Phase::Queued
            } else {
                Phase::Running
            }),
            conditions: reason
                .map(|r| Condition {
                    type_: QUEUED.into(),
                    status: "True".into(),
                    reason: r.into(),
                    message: "limit".into(),
                    last_transition_time: Time(t("2026-12-03T10:00:00Z")),
                    observed_generation: None,
                })
                .into_iter()
                .collect(),
            ..Default::default()
        });
        run
    }

    #[test]
    fn places_are_worked_out_from_the_runs_listed_without_the_limits() {
        let runs = [
            run("a1", "o/a", 1, None),
            run("a3", "o/a", 5, Some(REPOSITORY_LIMIT)),
            run("a2", "o/a", 3, Some(RUNNING_LIMIT)),
            run("b1", "o/b", 4, Some(RUNNING_LIMIT)),
            run("b2", "o/b", 6, Some(REPOSITORY_LIMIT)),
        ];
        let listed: Vec<&AgentRun> = runs.iter().collect();
        let at = |ahead, by| Some(Place { ahead, by });
        // Only a run's own repository's runs count, whichever limit holds it: a3 waits
        // behind a2, b2 behind b1; a2 and b1 behind none of theirs (before review 15b, B6,
        // b1 counted a2, of another repository, ahead of it).
        assert_eq!(
            places(&listed),
            [
                None,
                at(1, HeldBy::Repository),
                at(0, HeldBy::Running),
                at(0, HeldBy::Running),
                at(1, HeldBy::Repository)
            ]
        );

        // One repository, whatever the case its runs were recorded in: b2 waits behind b1.
        let runs = [
            run("b1", "o/b", 4, Some(REPOSITORY_LIMIT)),
            run("b2", "O/B", 6, Some(REPOSITORY_LIMIT)),
        ];
        let listed: Vec<&AgentRun> = runs.iter().collect();
        assert_eq!(
            places(&listed),
            [at(0, HeldBy::Repository), at(1, HeldBy::Repository)]
        );

        // A run cancelled while it waits is out: a3 moves up.
        let mut cancelled = run("a2", "o/a", 3, Some(RUNNING_LIMIT));
        cancelled.spec.cancel = Some("stopped".into());
        let runs = [
            run("a1", "o/a", 1, None),
            run("a3", "o/a", 5, Some(REPOSITORY_LIMIT)),
            cancelled,
        ];
        let listed: Vec<&AgentRun> = runs.iter().collect();
        assert_eq!(places(&listed), [None, at(0, HeldBy::Repository), None]);
    }

    #[test]
    fn a_run_left_for_a_newer_version_is_out_of_the_queue_and_its_count() {
        // Review 15c, F6: this controller will not start it; first in line, it stopped
        // every other run from starting, and it filled its repository's queue.
        let mut newer = run("n1", "o/a", 1, Some(RUNNING_LIMIT));
        newer.spec.source.0["version"] = serde_json::json!(99);
        assert!(!waits(&newer));
        let runs = [newer, run("a2", "o/a", 3, Some(RUNNING_LIMIT))];
        let listed: Vec<&AgentRun> = runs.iter().collect();
        assert_eq!(
            places(&listed),
            [
                None,
                Some(Place {
                    ahead: 0,
                    by: HeldBy::Running
                })
            ]
        );
        let entries = entries(&listed, |_| false);
        assert_eq!(entries[0].state, State::Out);
        assert_eq!(verdict_of(limits(1, 0), &entries, 1), Turn::Start);
    }

    #[test]
    fn a_repository_served_before_goes_before_newcomers_that_asked_after_it() {
        // Review 15c, F3: limits 2/1. o/vic was served, then asked again; o/new1..4, never
        // served, asked after it. Before, every repository never served came first,
        // whenever it asked: the freed place went to new1, and vic waited behind every
        // repository created after it asked.
        let at = |second: u32| Some(t(&format!("2026-12-03T10:00:{second:02}Z")));
        let runs = [
            Entry {
                launched: at(2),
                ..e("vic1", "o/vic", 1, State::Out)
            },
            Entry {
                launched: at(4),
                ..e("att0", "o/att0", 3, State::Out)
            },
            Entry {
                launched: at(4),
                ..e("att00", "o/att00", 3, HOLD)
            },
            e("vic2", "o/vic", 5, WAIT),
            e("new1", "o/new1", 6, WAIT),
            e("new2", "o/new2", 7, WAIT),
            e("new3", "o/new3", 8, WAIT),
            e("new4", "o/new4", 9, WAIT),
        ];
        let starting = |runs: &[Entry<'_>]| -> Vec<String> {
            named(runs, limits(2, 1))
                .into_iter()
                .filter(|(_, v)| *v == Turn::Start)
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(starting(&runs), ["vic2"]);
        // A newcomer that asked before vic was served goes first, as before.
        let mut early = runs;
        early[4] = e("new1", "o/new1", 0, WAIT);
        assert_eq!(starting(&early), ["new1"]);
    }
}
