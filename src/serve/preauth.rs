//! What a stranger can make the service hold before a delivery's signature is checked.
//!
//! A body must be read whole before its `X-Hub-Signature-256` can be checked, so anyone who
//! can reach the port can make the service buffer bodies. Every byte buffered before that
//! check is reserved here first, as the body arrives, so what is held stays
//! within fixed bounds whatever the senders do, and a sender holds only what it has sent:
//!
//! - two lanes: bodies that declare up to [`PreauthLimits::ordinary_size`] (real deliveries: the
//!   examples in the repository are 2–26 KB) reserve from the ordinary lane, larger ones
//!   from the large lane, so uploads of GitHub's largest size cannot crowd out ordinary
//!   deliveries;
//! - a share per peer (the TCP peer's address; an IPv6 peer's /64) over both lanes, and
//!   of each lane ([`PreauthLimits::lane_share`]: an eighth of it by default, or the lane's
//!   largest body if that is more), so that filling the ordinary lane takes eight
//!   addresses sending at full speed, not two;
//! - a cap on open connections ([`PreAuth::connect`]), in all and per host (an IPv4
//!   address, an IPv6 /48); at the cap, a new connection takes the place of the one that
//!   has made the least progress ([`Rank`]), and never of one whose body is arriving
//!   briskly, is being checked or handled, or that carried a signed delivery: a GitHub
//!   delivery sends its whole head and its body at once, a stranger keeping a connection
//!   busy does not, so even more busy addresses than the cap cannot shut GitHub out;
//! - a deadline: the whole body within [`PreauthLimits::body_timeout`] (GitHub's own delivery
//!   timeout), or 408 and the connection closed.
//!
//! A declaration costs nothing until bytes come: a body that declares 1 MiB and sends
//! nothing holds no buffer, so stalled declarations cannot fill a lane (they once could:
//! the whole `Content-Length` was reserved up front). The price is that a body can be
//! refused halfway through, when the bytes it sends no longer fit; it is then answered 503
//! like one refused at once. A body without `Content-Length` (chunked, never sent by
//! GitHub) takes the ordinary lane and may not grow past the ordinary size.
//!
//! Past a bound the request is refused (503, `Retry-After`): GitHub records the failure
//! and the catch-up asks for the delivery again. A [`Reservation`] and a [`Connection`]
//! give back what they hold when dropped, on every path: the body read, refused, timed
//! out, or the client gone.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;

use crate::github::webhook::MAX_BODY_BYTES;
use crate::serve::metrics::{Lane, Metrics, PreauthRefusal};

const MIB: u64 = 1024 * 1024;

/// How long a sender may take to send a body: GitHub itself gives up on a delivery not
/// answered within 10 s, so a body still arriving after that is nobody's delivery.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A body reserves its bytes this many at a time as they come (and its lane and peer must
/// have room for this much, or its whole length if smaller, for it to be let in at all).
pub const FIRST_BUFFER: u64 = 16 * 1024;

/// How long a request has before its progress is judged at the connection cap: GitHub
/// sends a delivery's whole head at once, and its body at once too (a few KB) or at line
/// rate, so after this a head still unfinished, or a body below [`BODY_FLOOR`], is a
/// stranger's.
pub const GRACE: Duration = Duration::from_secs(1);

/// How long an answer may wait for its peer to take it: GitHub reads its answers at once
/// (a few hundred bytes), so a connection whose answer is still unsent after this is a
/// stranger's that does not read, and is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection that has sent nothing since it was accepted (or its last request was
/// answered) less than this long ago is closed to make room only after every other: its
/// head is on its way (a client writes it right after the handshake).
pub const FRESH: Duration = Duration::from_millis(100);

/// Bytes per second a body must average, once it has arrived for [`GRACE`], not to be
/// closed to make room at the connection cap. GitHub's own 10 s timeout asks 2.5 MiB/s of
/// its largest body; a body judged this fast holds at least this much of the budget, so
/// the budget bounds how many there can be (with the defaults, 256: half the cap).
pub const BODY_FLOOR: u64 = 512 * 1024;

/// The bounds on what unsigned requests may hold (not services.yaml's run `limits`,
/// `config::model::Limits`), set by `serve`'s flags. The defaults suit a 512 MiB replica: at most
/// 64 + 64 MiB of bodies held before their signatures are checked.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct PreauthLimits {
    /// Bodies up to this size take the ordinary lane (real deliveries are a few KB to some
    /// hundred KB); larger ones the large lane. Sizes take KiB, MiB or GiB.
    #[arg(long = "preauth-ordinary-size", value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub ordinary_size: u64,
    /// Bytes of ordinary-sized bodies held at once before their signatures are checked.
    #[arg(long = "preauth-ordinary-budget", value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub ordinary_budget: u64,
    /// Bytes of larger bodies (up to GitHub's 25 MiB) held at once before their
    /// signatures are checked.
    #[arg(long = "preauth-large-budget", value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub large_budget: u64,
    /// Bytes one peer address may have held at once, over both lanes. Behind a proxy every
    /// request comes from the proxy's address: raise it to the sum of the budgets there.
    #[arg(long = "preauth-per-peer", value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    pub per_peer: u64,
    /// One peer address may hold at most this fraction (1/N) of each lane, or the lane's
    /// largest body if that is more (so 8 MiB of the ordinary lane and 25 MiB of the large
    /// one by default): filling a lane takes N addresses. Behind a proxy every request
    /// comes from the proxy's address: set it to 1 there.
    #[arg(long = "preauth-lane-share", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub lane_share: u64,
    /// Open connections at most. Past it a new connection takes the place of the one that
    /// has made the least progress (a head unfinished after a second, oldest first; then a
    /// body arriving slower than 512 KiB/s, slowest first; then the newest requests), which
    /// is closed; a connection whose body arrives faster, is being checked or handled, or
    /// that carried a signed delivery is never closed for it. When only such are open, the
    /// new one is answered 503.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Open connections one peer address (an IPv6 peer's /48, which one host can hold
    /// whole) may have at most, so that one sender cannot take every connection (and the
    /// kubelet's probes with them). Behind a proxy every connection comes from the proxy:
    /// raise it to --max-connections.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_peer: u64,
    /// How long a sender may take to send a body (past it: 408, connection closed).
    #[arg(skip = BODY_TIMEOUT)]
    pub body_timeout: Duration,
    /// How long a request has before its progress is judged at the connection cap.
    #[arg(skip = GRACE)]
    pub grace: Duration,
    /// Bytes per second a body must average, after the grace, to be kept at the cap.
    #[arg(skip = BODY_FLOOR)]
    pub body_floor: u64,
    /// How long an answer may wait for its peer to take it (past it: connection closed).
    #[arg(skip = WRITE_TIMEOUT)]
    pub write_timeout: Duration,
}

impl Default for PreauthLimits {
    fn default() -> PreauthLimits {
        PreauthLimits {
            ordinary_size: MIB,
            ordinary_budget: 64 * MIB,
            large_budget: 64 * MIB,
            per_peer: 32 * MIB,
            lane_share: 8,
            max_connections: 512,
            max_connections_per_peer: 64,
            body_timeout: BODY_TIMEOUT,
            grace: GRACE,
            body_floor: BODY_FLOOR,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// Bounds that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PreauthLimitsError(String);

impl PreauthLimits {
    /// Refuses limits under which no ordinary delivery could ever be read.
    pub fn check(&self) -> Result<(), PreauthLimitsError> {
        let size = self.ordinary_size;
        if size == 0 {
            return Err(PreauthLimitsError(
                "--preauth-ordinary-size must be more than 0".into(),
            ));
        }
        for (flag, value) in [
            ("--preauth-ordinary-budget", self.ordinary_budget),
            ("--preauth-per-peer", self.per_peer),
        ] {
            if value < size {
                return Err(PreauthLimitsError(format!(
                    "{flag} ({}) is below --preauth-ordinary-size ({}): no delivery of that size could ever be read",
                    show_size(value),
                    show_size(size)
                )));
            }
        }
        Ok(())
    }

    /// The largest body that can ever be read: larger ones are refused for good (413).
    pub fn largest_body(&self) -> u64 {
        let large = self.large_budget.min(self.per_peer).max(self.ordinary_size);
        large.min(MAX_BODY_BYTES as u64)
    }

    /// The most of `lane` one peer may hold: its [`PreauthLimits::lane_share`], or the largest
    /// body of the lane if that is more (a body larger than its sender's share could
    /// never be read).
    pub fn peer_share(&self, lane: Lane) -> u64 {
        let (budget, largest) = match lane {
            Lane::ordinary => (self.ordinary_budget, self.ordinary_size),
            Lane::large => (self.large_budget, self.largest_body()),
        };
        (budget / self.lane_share.max(1)).max(largest).min(budget)
    }
}

/// `1048576`, `512KiB`, `1MiB`, `2GiB` (also `KB`/`MB`/`GB`/`K`/`M`/`G`, in powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a size: expected a number of bytes, or e.g. 512KiB, 64MiB")
    })?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; expected KiB, MiB or GiB"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A size as a person reads it.
pub fn show_size(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[derive(Debug, Default)]
struct Held {
    ordinary: u64,
    large: u64,
    peers: HashMap<IpAddr, PeerHeld>,
}

/// What one peer holds, in each lane.
#[derive(Debug, Default, Clone, Copy)]
struct PeerHeld {
    ordinary: u64,
    large: u64,
}

impl PeerHeld {
    fn total(&self) -> u64 {
        self.ordinary + self.large
    }

    fn lane(&mut self, lane: Lane) -> &mut u64 {
        match lane {
            Lane::ordinary => &mut self.ordinary,
            Lane::large => &mut self.large,
        }
    }
}

#[derive(Debug)]
struct Shared {
    limits: PreauthLimits,
    held: Mutex<Held>,
    open: Mutex<Open>,
    /// What time it is (injected: tests move it).
    clock: Clock,
    ordinary_gauge: Gauge,
    large_gauge: Gauge,
    connections_gauge: Gauge,
    evicted_counter: Counter,
}

/// Where the time comes from: [`Instant::now`] but in tests.
#[derive(Clone)]
struct Clock(Arc<dyn Fn() -> Instant + Send + Sync>);

impl Clock {
    fn now(&self) -> Instant {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The open connections.
#[derive(Debug, Default)]
struct Open {
    slots: HashMap<u64, Arc<Slot>>,
    /// Open connections by host (see [`host_key`]); hosts with none are not kept.
    by_host: HashMap<IpAddr, u64>,
    next: u64,
}

/// Where a connection is in its request, as far as making room at the cap goes. `from`:
/// how many bytes the connection had sent when the request began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestStage {
    /// Waiting for a request's head, or reading it, since then (opened, or its last
    /// request answered).
    Head { since: Instant, from: u64 },
    /// The head read; the body arriving since then, this many bytes of it so far.
    Body {
        since: Instant,
        bytes: u64,
        from: u64,
    },
    /// The body read whole: its signature is being checked, or the request handled.
    Handling,
    /// Carried a delivery whose signature holds: GitHub's, never closed to make room.
    Signed,
    /// Closed to make room: its task drops it.
    Evicted,
}

/// How little progress an open connection has made, least first: at the cap the least is
/// closed to make room. A connection that has no rank is never closed for that: a body
/// arriving at [`PreauthLimits::body_floor`] or faster after the grace, one read whole, one that
/// carried a signed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// An answer its peer does not take (the socket would block): whatever its request, a
    /// connection that does not read is nobody's delivery. The one blocked longest first.
    BlockedAnswer { waited: Reverse<Duration> },
    /// A head still unfinished after the grace (a stranger trickling header lines, or an
    /// idle connection): the one that began longest ago first.
    StalledHead { waited: Reverse<Duration> },
    /// A body below the floor after the grace: the slowest first.
    SlowBody {
        bytes_per_second: u64,
        waited: Reverse<Duration>,
    },
    /// A request within the grace, its head or its body: the one that has sent the fewest
    /// bytes first (GitHub sends its whole head at once, and a body of more than a few KB
    /// fills TCP's first window, some 14 KB), then the one that began longest ago.
    New {
        sent: u64,
        waited: Reverse<Duration>,
    },
    /// A request that has sent nothing yet, for less than [`FRESH`]: the one that began
    /// longest ago first.
    Fresh { waited: Reverse<Duration> },
}

impl RequestStage {
    /// Its rank at `now`, or `None` if it is never closed to make room.
    /// `sent`: the bytes the connection has sent in all.
    fn rank(&self, sent: u64, now: Instant, limits: &PreauthLimits) -> Option<Rank> {
        match *self {
            RequestStage::Head { since, from } => {
                let waited = now.saturating_duration_since(since);
                let sent = sent.saturating_sub(from);
                Some(if waited >= limits.grace {
                    Rank::StalledHead {
                        waited: Reverse(waited),
                    }
                } else if sent == 0 && waited < FRESH {
                    Rank::Fresh {
                        waited: Reverse(waited),
                    }
                } else {
                    Rank::New {
                        sent,
                        waited: Reverse(waited),
                    }
                })
            }
            RequestStage::Body { since, bytes, from } => {
                let waited = now.saturating_duration_since(since);
                if waited < limits.grace {
                    return Some(Rank::New {
                        sent: sent.saturating_sub(from),
                        waited: Reverse(waited),
                    });
                }
                let millis = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX).max(1);
                let bytes_per_second = bytes.saturating_mul(1000) / millis;
                (bytes_per_second < limits.body_floor).then_some(Rank::SlowBody {
                    bytes_per_second,
                    waited: Reverse(waited),
                })
            }
            RequestStage::Handling | RequestStage::Signed | RequestStage::Evicted => None,
        }
    }
}

/// What is known of one open connection.
#[derive(Debug)]
struct Slot {
    id: u64,
    host: IpAddr,
    stage: Mutex<RequestStage>,
    /// Bytes read from its socket in all.
    sent: AtomicU64,
    /// Since when an answer has been waiting for its peer to take it, if one is.
    blocked: Mutex<Option<Instant>>,
    evicted: Notify,
}

impl Slot {
    fn stage(&self) -> std::sync::MutexGuard<'_, RequestStage> {
        self.stage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its rank at `now` (see [`RequestStage::rank`]), first of all if an answer is blocked on a
    /// peer that does not read, even on a connection that carried a signed delivery.
    fn rank(&self, stage: RequestStage, now: Instant, limits: &PreauthLimits) -> Option<Rank> {
        if stage == RequestStage::Evicted {
            return None;
        }
        if let Some(since) = *self.blocked() {
            return Some(Rank::BlockedAnswer {
                waited: Reverse(now.saturating_duration_since(since)),
            });
        }
        stage.rank(self.sent(), now, limits)
    }

    /// Moves on to `next`, unless it carried a signed delivery or was closed to make room.
    fn advance(&self, next: impl FnOnce(RequestStage) -> RequestStage) {
        let mut stage = self.stage();
        if !matches!(*stage, RequestStage::Signed | RequestStage::Evicted) {
            *stage = next(*stage);
        }
    }
}

/// The bounds in force and what is held against them; cheap to clone (one shared state).
#[derive(Debug, Clone)]
pub struct PreAuth(Arc<Shared>);

/// Room for one body: what it holds now (grown as it arrives, see [`Reservation::grow`])
/// and the most it may have; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    shared: Arc<Shared>,
    lane: Lane,
    peer: Option<IpAddr>,
    bytes: u64,
    limit: u64,
}

/// One open connection, counted until dropped (or closed to make room).
#[derive(Debug)]
pub struct Connection {
    activity: Activity,
}

/// What a connection tells the bounds while it is open: how far its request has come,
/// that it carried a signed delivery; and what it is told: to close. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Activity {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
}

impl Open {
    /// Forgets `slot` if it is still counted; `true` if it was.
    fn release(&mut self, slot: &Slot, gauge: &Gauge) -> bool {
        if self.slots.remove(&slot.id).is_none() {
            return false;
        }
        if let Entry::Occupied(mut count) = self.by_host.entry(slot.host) {
            *count.get_mut() = count.get().saturating_sub(1);
            if *count.get() == 0 {
                count.remove();
            }
        }
        gauge.dec();
        true
    }

    /// Marks the connection with the least progress at `now` ([`Rank`]) closed to make
    /// room and returns it; `None` if every one has made progress enough to be kept.
    fn evict_one(&self, now: Instant, limits: &PreauthLimits) -> Option<Arc<Slot>> {
        // A stage may move on between ranking and marking (a body read whole, a signature
        // found good): the pick is marked only if its stage is still the one ranked.
        for _ in 0..=self.slots.len() {
            let (victim, ranked) = self
                .slots
                .values()
                .filter_map(|s| {
                    let stage = *s.stage();
                    Some((s, stage, s.rank(stage, now, limits)?))
                })
                .min_by_key(|(_, _, rank)| *rank)
                .map(|(s, stage, _)| (s.clone(), stage))?;
            let mut stage = victim.stage();
            if *stage == ranked {
                *stage = RequestStage::Evicted;
                drop(stage);
                return Some(victim);
            }
        }
        None
    }
}

/// Why a body may not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over a bound now: 503, come back later.
    Busy(PreauthRefusal),
    /// Larger than could ever be held (413).
    TooLarge { largest: u64 },
}

impl PreAuth {
    /// Bounds `limits`, reporting what is held in `metrics`' gauges.
    pub fn new(limits: PreauthLimits, metrics: &Metrics) -> PreAuth {
        PreAuth(Arc::new(Shared {
            ordinary_gauge: metrics.preauth_gauge(Lane::ordinary),
            large_gauge: metrics.preauth_gauge(Lane::large),
            connections_gauge: metrics.connections_gauge(),
            evicted_counter: metrics.evicted_counter(),
            limits,
            held: Mutex::new(Held::default()),
            open: Mutex::new(Open::default()),
            clock: Clock(Arc::new(Instant::now)),
        }))
    }

    /// The same bounds, telling the time by `clock` (tests).
    pub fn with_clock(
        limits: PreauthLimits,
        metrics: &Metrics,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> PreAuth {
        let PreAuth(shared) = PreAuth::new(limits, metrics);
        let mut shared = Arc::into_inner(shared).unwrap_or_else(|| unreachable!("just made"));
        shared.clock = Clock(Arc::new(clock));
        PreAuth(Arc::new(shared))
    }

    pub fn limits(&self) -> &PreauthLimits {
        &self.0.limits
    }

    /// Lets in a body that declares `declared` bytes (`None`: no `Content-Length`, so at
    /// most the ordinary size) from `peer` (`None`: unknown, e.g. a request made
    /// in-process). Nothing is held yet: the body reserves as it arrives
    /// ([`Reservation::grow`]); but a body is let in only while its lane and its peer have
    /// room for a first buffer ([`FIRST_BUFFER`]), so a full lane refuses at once.
    pub fn reserve(
        &self,
        peer: Option<IpAddr>,
        declared: Option<u64>,
    ) -> Result<Reservation, Refused> {
        let limits = &self.0.limits;
        let limit = declared.unwrap_or(limits.ordinary_size);
        if limit > limits.largest_body() {
            return Err(Refused::TooLarge {
                largest: limits.largest_body(),
            });
        }
        let lane = if limit <= limits.ordinary_size {
            Lane::ordinary
        } else {
            Lane::large
        };
        let peer = peer.map(peer_key);
        let held = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        self.0
            .room(&held, lane, peer, limit.min(FIRST_BUFFER))
            .map_err(Refused::Busy)?;
        Ok(Reservation {
            shared: self.0.clone(),
            lane,
            peer,
            bytes: 0,
            limit,
        })
    }

    /// Counts a new connection from `peer`, or `None` when its host ([`host_key`]) has
    /// [`PreauthLimits::max_connections_per_peer`] open, or [`PreauthLimits::max_connections`] are open
    /// and every one has made progress enough to be kept ([`Rank`]). At the cap, the one
    /// with the least progress is closed to make room: it is told through its
    /// [`Activity::evicted`].
    pub fn connect(&self, peer: IpAddr) -> Option<Connection> {
        let host = host_key(peer);
        let shared = &self.0;
        let now = shared.clock.now();
        let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.by_host.get(&host).copied().unwrap_or(0) >= shared.limits.max_connections_per_peer {
            return None;
        }
        let max = usize::try_from(shared.limits.max_connections).unwrap_or(usize::MAX);
        if open.slots.len() >= max {
            let victim = open.evict_one(now, &shared.limits)?;
            open.release(&victim, &shared.connections_gauge);
            victim.evicted.notify_one();
            shared.evicted_counter.inc();
        }
        let id = open.next;
        open.next += 1;
        let slot = Arc::new(Slot {
            id,
            host,
            stage: Mutex::new(RequestStage::Head {
                since: now,
                from: 0,
            }),
            sent: AtomicU64::new(0),
            blocked: Mutex::new(None),
            evicted: Notify::new(),
        });
        open.slots.insert(id, slot.clone());
        *open.by_host.entry(host).or_default() += 1;
        shared.connections_gauge.inc();
        Some(Connection {
            activity: Activity {
                shared: shared.clone(),
                slot,
            },
        })
    }

    /// Bytes held now in each lane (ordinary, large), and by how many peers.
    pub fn held(&self) -> (u64, u64, usize) {
        let held = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        (held.ordinary, held.large, held.peers.len())
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        let open = self.0.open.lock().unwrap_or_else(|e| e.into_inner());
        open.slots.len()
    }
}

impl Connection {
    /// The handle its I/O and its requests report through.
    pub fn activity(&self) -> Activity {
        self.activity.clone()
    }
}

impl Activity {
    /// The server read `bytes` from the connection's socket.
    pub fn read(&self, bytes: usize) {
        self.slot.sent.fetch_add(bytes as u64, Ordering::SeqCst);
    }

    /// A request's head has been read: its body (if any) is awaited from now.
    pub fn head_read(&self) {
        let now = self.shared.clock.now();
        self.slot.advance(|stage| {
            let from = match stage {
                RequestStage::Head { from, .. } | RequestStage::Body { from, .. } => from,
                _ => self.slot.sent(),
            };
            RequestStage::Body {
                since: now,
                bytes: 0,
                from,
            }
        });
    }

    /// `bytes` of the body have arrived in all.
    pub fn body_arrived(&self, bytes: u64) {
        self.slot.advance(|stage| match stage {
            RequestStage::Body { since, from, .. } => RequestStage::Body { since, bytes, from },
            other => other,
        });
    }

    /// The body has been read whole: its signature is checked, the request handled.
    pub fn body_read(&self) {
        self.slot.advance(|_| RequestStage::Handling);
    }

    /// The request has been answered: the next one's head is awaited from now.
    pub fn answered(&self) {
        let now = self.shared.clock.now();
        let from = self.slot.sent();
        self.slot
            .advance(|_| RequestStage::Head { since: now, from });
    }

    /// An answer is waiting for the peer to take it (its socket would block): the
    /// connection ranks first to be closed to make room until it is taken ([`Rank`]).
    pub fn write_blocked(&self) {
        let now = self.shared.clock.now();
        self.slot.blocked().get_or_insert(now);
    }

    /// The peer took what was written.
    pub fn wrote(&self) {
        *self.slot.blocked() = None;
    }

    /// Whether the connection has been closed to make room for another.
    pub fn is_evicted(&self) -> bool {
        *self.slot.stage() == RequestStage::Evicted
    }

    /// The connection carried a new delivery whose signature holds (not a repeat of one
    /// already answered, which anyone who captured it can send): it is never closed to
    /// make room but when it stops reading its answers. `false` when it was closed to
    /// make room already.
    pub fn signed(&self) -> bool {
        let mut stage = self.slot.stage();
        *stage != RequestStage::Evicted && {
            *stage = RequestStage::Signed;
            true
        }
    }

    /// Resolves once the connection has been closed to make room for another.
    pub async fn evicted(&self) {
        self.slot.evicted.notified().await;
    }
}

/// The address a peer's share of the budget is kept under: an IPv4 address (also one
/// mapped into IPv6) as it is; an IPv6 address by its /64, which one host usually has
/// whole. (A host with a /48 gets a share per /64 it uses: shares of bytes are bounded
/// by the lanes all the same, and eight shares fill the ordinary lane either way.)
pub fn peer_key(ip: IpAddr) -> IpAddr {
    prefix(ip, 4)
}

/// The address a host's connections are counted under: an IPv4 address (also one mapped
/// into IPv6) as it is; an IPv6 address by its /48, which one host can hold whole (a /64
/// would let it take every connection from 65,536 addresses).
pub fn host_key(ip: IpAddr) -> IpAddr {
    prefix(ip, 3)
}

/// An IPv4 address as it is; an IPv6 one cut to its first `segments` 16-bit groups.
fn prefix(ip: IpAddr, segments: usize) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut kept = v6.segments();
                kept[segments..].fill(0);
                IpAddr::V6(kept.into())
            }
        },
    }
}

impl Shared {
    /// Whether `bytes` more fit in `lane` and in `peer`'s share.
    fn room(
        &self,
        held: &Held,
        lane: Lane,
        peer: Option<IpAddr>,
        bytes: u64,
    ) -> Result<(), PreauthRefusal> {
        let limits = &self.limits;
        let (in_lane, budget, refusal) = match lane {
            Lane::ordinary => (
                held.ordinary,
                limits.ordinary_budget,
                PreauthRefusal::ordinary_lane,
            ),
            Lane::large => (held.large, limits.large_budget, PreauthRefusal::large_lane),
        };
        if in_lane + bytes > budget {
            return Err(refusal);
        }
        if let Some(peer) = peer {
            let mut of_peer = held.peers.get(&peer).copied().unwrap_or_default();
            if of_peer.total() + bytes > limits.per_peer
                || *of_peer.lane(lane) + bytes > limits.peer_share(lane)
            {
                return Err(PreauthRefusal::peer);
            }
        }
        Ok(())
    }

    fn publish(&self, held: &Held) {
        self.ordinary_gauge
            .set(i64::try_from(held.ordinary).unwrap_or(i64::MAX));
        self.large_gauge
            .set(i64::try_from(held.large).unwrap_or(i64::MAX));
    }
}

impl Reservation {
    /// The most bytes the body may have.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes held now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds `to` bytes in all (never more than [`Reservation::limit`]), or says which
    /// bound has no room for them; on refusal what was held stays held until dropped.
    pub fn grow(&mut self, to: u64) -> Result<(), PreauthRefusal> {
        let to = to.min(self.limit);
        if to <= self.bytes {
            return Ok(());
        }
        let more = to - self.bytes;
        let mut held = self.shared.held.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.room(&held, self.lane, self.peer, more)?;
        match self.lane {
            Lane::ordinary => held.ordinary += more,
            Lane::large => held.large += more,
        }
        if let Some(peer) = self.peer {
            *held.peers.entry(peer).or_default().lane(self.lane) += more;
        }
        self.bytes = to;
        self.shared.publish(&held);
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut held = self.shared.held.lock().unwrap_or_else(|e| e.into_inner());
        match self.lane {
            Lane::ordinary => held.ordinary -= self.bytes,
            Lane::large => held.large -= self.bytes,
        }
        if let Some(peer) = self.peer
            && let Some(of_peer) = held.peers.get_mut(&peer)
        {
            *of_peer.lane(self.lane) -= self.bytes;
            if of_peer.total() == 0 {
                held.peers.remove(&peer);
            }
        }
        self.shared.publish(&held);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let shared = &self.activity.shared;
        let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
        // Released already if it was closed to make room.
        open.release(&self.activity.slot, &shared.connections_gauge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PreauthLimits {
        PreauthLimits::default()
    }

    fn peer(n: u8) -> Option<IpAddr> {
        Some(ip(n))
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    /// A body of `bytes` let in and arrived whole.
    fn take(budget: &PreAuth, peer: Option<IpAddr>, bytes: u64) -> Result<Reservation, Refused> {
        let mut body = budget.reserve(peer, Some(bytes))?;
        body.grow(bytes).map_err(Refused::Busy)?;
        Ok(body)
    }

    #[test]
    fn a_declaration_holds_nothing_until_its_bytes_come() {
        let budget = PreAuth::new(limits(), &Metrics::new());
        // Stalled declarations of the ordinary size, far more than the lane holds.
        let stalled: Vec<Reservation> = (0..1000)
            .map(|n| {
                budget
                    .reserve(peer((n % 200) as u8), Some(MIB))
                    .expect("let in")
            })
            .collect();
        assert_eq!(budget.held(), (0, 0, 0));
        // A real delivery still gets its whole body.
        let mut real = budget.reserve(peer(250), Some(21_000)).expect("let in");
        real.grow(16 * 1024).expect("a first buffer");
        real.grow(32 * 1024)
            .expect("grown, but never past what it declared");
        assert_eq!((real.bytes(), real.limit()), (21_000, 21_000));
        assert_eq!(budget.held(), (21_000, 0, 1));
        drop((stalled, real));
        assert_eq!(budget.held(), (0, 0, 0));
    }

    #[test]
    fn a_body_that_grows_past_the_room_left_is_refused_and_gives_back_what_it_held() {
        let budget = PreAuth::new(
            PreauthLimits {
                ordinary_budget: 2 * MIB,
                ..limits()
            },
            &Metrics::new(),
        );
        let full = take(&budget, peer(1), MIB).expect("room");
        let mut half = budget.reserve(peer(2), Some(MIB)).expect("let in");
        half.grow(MIB / 2).expect("room for half");
        let mut late = budget
            .reserve(peer(3), Some(MIB))
            .expect("let in: room for a first buffer");
        late.grow(MIB / 2 - 1).expect("the rest of the lane");
        assert_eq!(half.grow(MIB), Err(PreauthRefusal::ordinary_lane));
        assert_eq!(half.bytes(), MIB / 2, "still holds what it had");
        assert_eq!(
            budget.reserve(peer(4), Some(MIB)).unwrap_err(),
            Refused::Busy(PreauthRefusal::ordinary_lane),
            "no room for a first buffer: refused at once"
        );
        drop(half);
        late.grow(MIB).expect("room again");
        drop((full, late));
        assert_eq!(budget.held(), (0, 0, 0));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1048576"), Ok(MIB));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("64MiB"), Ok(64 * MIB));
        assert_eq!(parse_size("64 mb"), Ok(64 * MIB));
        assert_eq!(parse_size("1G"), Ok(1024 * MIB));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            parse_size("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(show_size(64 * MIB), "64 MiB");
        assert_eq!(show_size(512 * 1024), "512 KiB");
        assert_eq!(show_size(1536), "1536 bytes");
    }

    #[test]
    fn limits_under_which_nothing_could_be_read_are_refused() {
        assert_eq!(limits().check(), Ok(()));
        let tiny_peer = PreauthLimits {
            per_peer: 1024,
            ..limits()
        };
        assert!(
            tiny_peer
                .check()
                .unwrap_err()
                .0
                .contains("--preauth-per-peer")
        );
        let zero = PreauthLimits {
            ordinary_size: 0,
            ..limits()
        };
        assert!(zero.check().is_err());
    }

    #[test]
    fn bodies_take_their_lane_until_it_is_full_and_give_it_back_when_dropped() {
        let metrics = Metrics::new();
        let budget = PreAuth::new(limits(), &metrics);
        let big = 25 * MIB;
        let a = take(&budget, peer(1), big).expect("room");
        let b = take(&budget, peer(2), big).expect("room");
        assert_eq!(
            take(&budget, peer(3), big).unwrap_err(),
            Refused::Busy(PreauthRefusal::large_lane)
        );
        // The large lane is full; ordinary deliveries still come in.
        let small = take(&budget, peer(3), 21_000).expect("its own lane");
        assert_eq!(budget.held(), (21_000, 2 * big, 3));
        drop(a);
        let c = take(&budget, peer(3), big).expect("room again");
        drop((b, c, small));
        assert_eq!(budget.held(), (0, 0, 0));
        assert!(
            metrics
                .encode()
                .contains(r#"agentpods_webhook_preauth_bytes{lane="large"} 0"#)
        );
    }

    #[test]
    fn one_peer_gets_its_share_of_each_lane_and_no_more() {
        let budget = PreAuth::new(limits(), &Metrics::new());
        // An eighth of the ordinary lane: 8 MiB.
        assert_eq!(limits().peer_share(Lane::ordinary), 8 * MIB);
        let held: Vec<Reservation> = (0..8)
            .map(|_| take(&budget, peer(9), MIB).expect("within the share"))
            .collect();
        assert_eq!(
            take(&budget, peer(9), 1).unwrap_err(),
            Refused::Busy(PreauthRefusal::peer)
        );
        // Of the large lane, the largest body (more than an eighth), and 32 MiB over both.
        assert_eq!(limits().peer_share(Lane::large), 25 * MIB);
        let large = take(&budget, peer(9), 24 * MIB).expect("its share of the large lane");
        assert_eq!(
            take(&budget, peer(9), 2 * MIB).unwrap_err(),
            Refused::Busy(PreauthRefusal::peer)
        );
        assert!(take(&budget, peer(8), MIB).is_ok());
        // An unknown peer (in-process) has no share of its own, only the lanes.
        assert!(take(&budget, None, MIB).is_ok());
        drop((held, large));
        assert!(take(&budget, peer(9), MIB).is_ok());
    }

    #[test]
    fn filling_the_ordinary_lane_takes_eight_addresses() {
        let budget = PreAuth::new(limits(), &Metrics::new());
        let mut held = Vec::new();
        for n in 0..8u8 {
            // Two addresses once held it all; now each holds its eighth.
            assert!(
                take(&budget, peer(100), MIB).is_ok(),
                "room for a real delivery with {n} addresses full"
            );
            for _ in 0..8 {
                held.push(take(&budget, peer(n), MIB).expect("within its share"));
            }
            let refusal = if n < 7 {
                PreauthRefusal::peer
            } else {
                PreauthRefusal::ordinary_lane
            };
            assert_eq!(
                take(&budget, peer(n), MIB).unwrap_err(),
                Refused::Busy(refusal)
            );
        }
        assert_eq!(budget.held().0, 64 * MIB);
        assert_eq!(
            take(&budget, peer(100), MIB).unwrap_err(),
            Refused::Busy(PreauthRefusal::ordinary_lane)
        );
        // Behind a proxy, one address may have the whole lane.
        let proxied = PreAuth::new(
            PreauthLimits {
                lane_share: 1,
                per_peer: 128 * MIB,
                ..limits()
            },
            &Metrics::new(),
        );
        let all: Vec<Reservation> = (0..64)
            .map(|_| take(&proxied, peer(1), MIB).expect("the whole lane"))
            .collect();
        assert_eq!(proxied.held().0, 64 * MIB);
        drop((held, all));
    }

    #[test]
    fn an_ipv6_host_shares_one_share_across_its_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("an address");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("an address");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("an address");
        assert_eq!(peer_key(mapped), IpAddr::from([192, 0, 2, 7]));
        let budget = PreAuth::new(limits(), &Metrics::new());
        let _held = take(&budget, Some(a), 25 * MIB).expect("room");
        assert_eq!(
            take(&budget, Some(b), 8 * MIB).unwrap_err(),
            Refused::Busy(PreauthRefusal::peer)
        );
        assert!(take(&budget, Some(other), 8 * MIB).is_ok());
    }

    #[test]
    fn a_body_without_length_may_have_the_ordinary_size_and_one_too_large_is_refused_for_good() {
        let budget = PreAuth::new(limits(), &Metrics::new());
        let chunked = budget.reserve(peer(1), None).expect("room");
        assert_eq!((chunked.bytes(), chunked.limit()), (0, MIB));
        assert_eq!(
            budget
                .reserve(peer(1), Some(MAX_BODY_BYTES as u64 + 1))
                .unwrap_err(),
            Refused::TooLarge {
                largest: MAX_BODY_BYTES as u64
            }
        );
        let small = PreAuth::new(
            PreauthLimits {
                large_budget: 4 * MIB,
                ..limits()
            },
            &Metrics::new(),
        );
        assert_eq!(
            take(&small, peer(1), 5 * MIB).unwrap_err(),
            Refused::TooLarge { largest: 4 * MIB }
        );
    }

    #[test]
    fn connections_are_counted_up_to_the_cap_and_given_back() {
        let budget = PreAuth::new(
            PreauthLimits {
                max_connections: 2,
                ..limits()
            },
            &Metrics::new(),
        );
        let a = budget.connect(ip(1)).expect("one");
        let b = budget.connect(ip(2)).expect("two");
        // Both carried signed deliveries: neither makes room.
        assert!(a.activity().signed() && b.activity().signed());
        assert!(budget.connect(ip(3)).is_none());
        drop(a);
        let c = budget.connect(ip(3)).expect("room again");
        assert_eq!(budget.open_connections(), 2);
        drop((b, c));
        assert_eq!(budget.open_connections(), 0);
    }

    /// A clock that moves only when told to.
    fn manual_clock() -> (
        Arc<Mutex<Instant>>,
        impl Fn() -> Instant + Send + Sync + 'static,
    ) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = now.clone();
        (now, move || *read.lock().expect("the clock"))
    }

    fn advance(clock: &Mutex<Instant>, by: Duration) {
        *clock.lock().expect("the clock") += by;
    }

    #[test]
    fn progress_ranks_a_stalled_head_first_and_a_brisk_body_never() {
        let limits = limits();
        let start = Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);
        let rank = |stage: RequestStage, now: u64| {
            let sent = match stage {
                RequestStage::Body { bytes, .. } => bytes,
                _ => 0,
            };
            stage.rank(sent, at(now), &limits)
        };
        let head = RequestStage::Head {
            since: start,
            from: 0,
        };
        let body = |bytes: u64| RequestStage::Body {
            since: start,
            bytes,
            from: 0,
        };
        // Within the grace, the fewest bytes sent go first (a head trickled line by line
        // before GitHub's first window), then the oldest.
        let sent = |n: u64, now: u64| head.rank(n, at(now), &limits);
        assert!(sent(300, 500) < sent(14 * 1024, 500));
        assert!(sent(300, 600) < sent(300, 500));
        // One just accepted that has sent nothing yet (its head is on its way) goes after
        // them; once it has waited 100 ms for nothing, first.
        assert!(sent(14 * 1024, 500) < sent(0, 50));
        assert!(sent(0, 150) < sent(300, 500));
        assert!(rank(body(1024), 500) < rank(body(14 * 1024), 500));
        // Past it, a stalled head goes before anything new, the oldest first...
        assert!(rank(head, 1500) < rank(head, 200));
        assert!(rank(head, 3000) < rank(head, 1500));
        // ...then a body below the floor (512 KiB/s), the slowest first...
        assert!(rank(head, 1500) < rank(body(80), 1500));
        assert!(rank(body(80), 2000) < rank(body(400 * 1024), 2000));
        assert!(rank(body(400 * 1024), 2000) < rank(head, 200));
        // ...and a body arriving at the floor or faster, one read whole, one signed, never.
        assert_eq!(rank(body(2 * MIB), 2000), None);
        assert_eq!(rank(body(MIB), 4000).map(|_| ()), Some(()), "slowed down");
        for kept in [
            RequestStage::Handling,
            RequestStage::Signed,
            RequestStage::Evicted,
        ] {
            assert_eq!(rank(kept, 5000), None);
        }
    }

    #[test]
    fn at_the_cap_a_new_connection_takes_the_place_of_the_least_progress() {
        let metrics = Metrics::new();
        let (clock, now) = manual_clock();
        let budget = PreAuth::with_clock(
            PreauthLimits {
                max_connections: 4,
                ..limits()
            },
            &metrics,
            now,
        );
        // A stranger trickling its head, and GitHub's delivery: head read, body arriving.
        let stalled = budget.connect(ip(1)).expect("room");
        stalled.activity().read(200);
        let github = budget.connect(ip(2)).expect("room");
        github.activity().read(14 * 1024);
        github.activity().head_read();
        github.activity().body_arrived(14 * 1024 - 1500);
        advance(&clock, Duration::from_millis(1500));
        // A stranger whose body arrives slowly, and one just come.
        let slow = budget.connect(ip(3)).expect("room");
        slow.activity().read(300);
        slow.activity().head_read();
        advance(&clock, Duration::from_millis(1100));
        slow.activity().body_arrived(100);
        github.activity().body_arrived(2 * MIB);
        let fresh = budget.connect(ip(4)).expect("room");
        advance(&clock, Duration::from_millis(200));

        // The stalled head goes first, though it came before GitHub's...
        let first = budget.connect(ip(5)).expect("room made");
        let told = stalled.activity();
        tokio_test_block_on(told.evicted());
        assert!(!told.signed(), "closed already");
        assert_eq!(budget.open_connections(), 4);
        // ...then the slow body, then the oldest new one; GitHub's brisk body is kept.
        let second = budget.connect(ip(6)).expect("room made");
        tokio_test_block_on(slow.activity().evicted());
        let third = budget.connect(ip(7)).expect("room made");
        tokio_test_block_on(fresh.activity().evicted());
        assert!(!fresh.activity().signed());
        assert_eq!(
            metrics
                .encode()
                .lines()
                .find(|l| l.starts_with("agentpods_http_connections_evicted_total")),
            Some("agentpods_http_connections_evicted_total 3")
        );
        // Read whole, then signed: never closed to make room.
        github.activity().body_read();
        for kept in [&first, &second, &third] {
            kept.activity().body_read();
        }
        assert!(budget.connect(ip(8)).is_none(), "nothing to close: 503");
        assert!(github.activity().signed());
        // Answered, a stranger's connection waits for its next head: it may be closed.
        first.activity().read(400);
        first.activity().answered();
        assert!(budget.connect(ip(8)).is_some(), "room made");
        drop((stalled, slow, fresh, github, first, second, third));
        assert_eq!(budget.open_connections(), 0);
    }

    #[test]
    fn a_connection_that_carried_a_signed_delivery_is_kept_whatever_its_next_request_does() {
        let (clock, now) = manual_clock();
        let budget = PreAuth::with_clock(
            PreauthLimits {
                max_connections: 1,
                ..limits()
            },
            &Metrics::new(),
            now,
        );
        let github = budget.connect(ip(1)).expect("room");
        assert!(github.activity().signed());
        github.activity().answered();
        advance(&clock, Duration::from_secs(5));
        assert!(budget.connect(ip(2)).is_none(), "idle, and kept");
        github.activity().head_read();
        advance(&clock, Duration::from_secs(5));
        assert!(budget.connect(ip(2)).is_none(), "a stalled body, and kept");
    }

    #[test]
    fn an_ipv6_host_counts_its_connections_per_48() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("an address");
        let b: IpAddr = "2001:db8:1:ffff::9".parse().expect("an address");
        let other: IpAddr = "2001:db8:2::1".parse().expect("an address");
        assert_eq!(host_key(a), host_key(b));
        assert_ne!(peer_key(a), peer_key(b), "but two shares of bytes");
        assert_ne!(host_key(a), host_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("an address");
        assert_eq!(host_key(mapped), IpAddr::from([192, 0, 2, 7]));
        let budget = PreAuth::new(
            PreauthLimits {
                max_connections_per_peer: 3,
                ..limits()
            },
            &Metrics::new(),
        );
        // One host using a /64 per connection still has three connections, not 65,536 × 3.
        let held: Vec<Connection> = (0..3u16)
            .map(|n| {
                let ip = IpAddr::from([0x2001, 0xdb8, 1, n, 0, 0, 0, 1]);
                budget.connect(ip).expect("within its share")
            })
            .collect();
        assert!(budget.connect(b).is_none(), "its /48 has its share");
        assert!(budget.connect(other).is_some(), "another /48 still gets in");
        drop(held);
    }

    /// Runs `future` to completion on a runtime of its own.
    fn tokio_test_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(5), future)
                    .await
                    .expect("resolved")
            })
    }

    #[test]
    fn one_peer_cannot_take_every_connection() {
        let budget = PreAuth::new(
            PreauthLimits {
                max_connections: 10,
                max_connections_per_peer: 3,
                ..limits()
            },
            &Metrics::new(),
        );
        let held: Vec<Connection> = (0..3)
            .map(|_| budget.connect(ip(1)).expect("within its share"))
            .collect();
        assert!(budget.connect(ip(1)).is_none(), "its share is used up");
        let other = budget.connect(ip(2)).expect("another peer still gets in");
        drop(held);
        assert!(budget.connect(ip(1)).is_some(), "given back when closed");
        drop(other);
    }

    #[test]
    fn a_peer_refused_by_the_global_cap_keeps_no_share() {
        let budget = PreAuth::new(
            PreauthLimits {
                max_connections: 1,
                max_connections_per_peer: 1,
                ..limits()
            },
            &Metrics::new(),
        );
        let first = budget.connect(ip(1)).expect("one");
        assert!(first.activity().signed());
        assert!(budget.connect(ip(2)).is_none(), "over the global cap");
        drop(first);
        assert!(
            budget.connect(ip(2)).is_some(),
            "its refused try left nothing held"
        );
    }
}
