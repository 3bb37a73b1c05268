//! What a stranger can make the service hold before a delivery's signature is checked.
//!
//! A body must be read whole before its `X-Hub-Signature-256` can be checked, so anyone who
//! can reach the port can make the service buffer bodies. Every byte buffered before that
//! check is reserved here first, as the body arrives, so what is held stays
//! within fixed bounds whatever the senders do, and a sender holds only what it has sent:
//!
//! - two lanes: bodies that declare up to [`Limits::ordinary_size`] (real deliveries: the
//!   examples in the repository are 2–26 KB) reserve from the ordinary lane, larger ones
//!   from the large lane, so uploads of GitHub's largest size cannot crowd out ordinary
//!   deliveries;
//! - a share per peer (the TCP peer's address; an IPv6 peer's /64) over both lanes;
//! - a cap on open connections ([`PreAuth::connect`]), in all and per peer;
//! - a deadline: the whole body within [`Limits::body_timeout`] (GitHub's own delivery
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

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;

use crate::github::webhook::MAX_BODY_BYTES;
use crate::serve::metrics::{Lane, Metrics, Refusal};

const MIB: u64 = 1024 * 1024;

/// How long a sender may take to send a body: GitHub itself gives up on a delivery not
/// answered within 10 s, so a body still arriving after that is nobody's delivery.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A body reserves its bytes this many at a time as they come (and its lane and peer must
/// have room for this much, or its whole length if smaller, for it to be let in at all).
pub const FIRST_BUFFER: u64 = 16 * 1024;

/// The bounds, set by `serve`'s flags. The defaults suit a 512 MiB replica: at most
/// 64 + 64 MiB of bodies held before their signatures are checked.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Limits {
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
    /// Open connections at most; past it a connection is answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Open connections one peer address (an IPv6 peer's /64) may have at most, so that
    /// one sender cannot take every connection (and the kubelet's probes with them).
    /// Behind a proxy every connection comes from the proxy: raise it to --max-connections.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_peer: u64,
    /// How long a sender may take to send a body (past it: 408, connection closed).
    #[arg(skip = BODY_TIMEOUT)]
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            ordinary_size: MIB,
            ordinary_budget: 64 * MIB,
            large_budget: 64 * MIB,
            per_peer: 32 * MIB,
            max_connections: 512,
            max_connections_per_peer: 64,
            body_timeout: BODY_TIMEOUT,
        }
    }
}

/// Limits that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitsError(String);

impl Limits {
    /// Refuses limits under which no ordinary delivery could ever be read.
    pub fn check(&self) -> Result<(), LimitsError> {
        let size = self.ordinary_size;
        if size == 0 {
            return Err(LimitsError(
                "--preauth-ordinary-size must be more than 0".into(),
            ));
        }
        for (flag, value) in [
            ("--preauth-ordinary-budget", self.ordinary_budget),
            ("--preauth-per-peer", self.per_peer),
        ] {
            if value < size {
                return Err(LimitsError(format!(
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
    peers: HashMap<IpAddr, u64>,
}

#[derive(Debug)]
struct Shared {
    limits: Limits,
    held: Mutex<Held>,
    connections: AtomicUsize,
    /// Open connections by peer (see [`peer_key`]); peers with none are not kept.
    peer_connections: Mutex<HashMap<IpAddr, u64>>,
    ordinary_gauge: Gauge,
    large_gauge: Gauge,
    connections_gauge: Gauge,
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

/// One open connection, counted until dropped.
#[derive(Debug)]
pub struct Connection {
    shared: Arc<Shared>,
    peer: IpAddr,
}

impl Shared {
    fn forget_peer_connection(&self, peer: IpAddr) {
        let mut open = self
            .peer_connections
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&peer);
            }
        }
    }
}

/// Why a body may not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over a bound now: 503, come back later.
    Busy(Refusal),
    /// Larger than could ever be held (413).
    TooLarge { largest: u64 },
}

impl PreAuth {
    /// Bounds `limits`, reporting what is held in `metrics`' gauges.
    pub fn new(limits: Limits, metrics: &Metrics) -> PreAuth {
        PreAuth(Arc::new(Shared {
            ordinary_gauge: metrics.preauth_gauge(Lane::ordinary),
            large_gauge: metrics.preauth_gauge(Lane::large),
            connections_gauge: metrics.connections_gauge(),
            limits,
            held: Mutex::new(Held::default()),
            connections: AtomicUsize::new(0),
            peer_connections: Mutex::new(HashMap::new()),
        }))
    }

    pub fn limits(&self) -> &Limits {
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

    /// Counts a new connection, or `None` when [`Limits::max_connections`] are open.
    pub fn connect(&self, peer: IpAddr) -> Option<Connection> {
        let peer = peer_key(peer);
        {
            let mut open = self
                .0
                .peer_connections
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let count = open.entry(peer).or_default();
            if *count >= self.0.limits.max_connections_per_peer {
                return None;
            }
            *count += 1;
        }
        let max = usize::try_from(self.0.limits.max_connections).unwrap_or(usize::MAX);
        let admitted = self
            .0
            .connections
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            self.0.forget_peer_connection(peer);
            return None;
        }
        self.0.connections_gauge.inc();
        Some(Connection {
            shared: self.0.clone(),
            peer,
        })
    }

    /// Bytes held now in each lane (ordinary, large), and by how many peers.
    pub fn held(&self) -> (u64, u64, usize) {
        let held = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        (held.ordinary, held.large, held.peers.len())
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.0.connections.load(Ordering::SeqCst)
    }
}

/// The address a peer's share is kept under: an IPv4 address (also one mapped into IPv6)
/// as it is; an IPv6 address by its /64, which one host usually has whole.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
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
    ) -> Result<(), Refusal> {
        let limits = &self.limits;
        let (in_lane, budget, refusal) = match lane {
            Lane::ordinary => (
                held.ordinary,
                limits.ordinary_budget,
                Refusal::ordinary_lane,
            ),
            Lane::large => (held.large, limits.large_budget, Refusal::large_lane),
        };
        if in_lane + bytes > budget {
            return Err(refusal);
        }
        if let Some(peer) = peer {
            let of_peer = held.peers.get(&peer).copied().unwrap_or(0);
            if of_peer + bytes > limits.per_peer {
                return Err(Refusal::peer);
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
    pub fn grow(&mut self, to: u64) -> Result<(), Refusal> {
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
            *held.peers.entry(peer).or_insert(0) += more;
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
            *of_peer -= self.bytes;
            if *of_peer == 0 {
                held.peers.remove(&peer);
            }
        }
        self.shared.publish(&held);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.forget_peer_connection(self.peer);
        self.shared.connections.fetch_sub(1, Ordering::SeqCst);
        self.shared.connections_gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
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
            Limits {
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
        assert_eq!(half.grow(MIB), Err(Refusal::ordinary_lane));
        assert_eq!(half.bytes(), MIB / 2, "still holds what it had");
        assert_eq!(
            budget.reserve(peer(4), Some(MIB)).unwrap_err(),
            Refused::Busy(Refusal::ordinary_lane),
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
        let tiny_peer = Limits {
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
        let zero = Limits {
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
            Refused::Busy(Refusal::large_lane)
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
    fn one_peer_gets_its_share_and_no_more() {
        let budget = PreAuth::new(limits(), &Metrics::new());
        let held: Vec<Reservation> = (0..32)
            .map(|_| take(&budget, peer(9), MIB).expect("within the share"))
            .collect();
        assert_eq!(
            take(&budget, peer(9), 1).unwrap_err(),
            Refused::Busy(Refusal::peer)
        );
        assert!(take(&budget, peer(8), MIB).is_ok());
        // An unknown peer (in-process) has no share of its own, only the lanes.
        assert!(take(&budget, None, MIB).is_ok());
        drop(held);
        assert!(take(&budget, peer(9), MIB).is_ok());
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
            Refused::Busy(Refusal::peer)
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
            Limits {
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
            Limits {
                max_connections: 2,
                ..limits()
            },
            &Metrics::new(),
        );
        let a = budget.connect(ip(1)).expect("one");
        let b = budget.connect(ip(2)).expect("two");
        assert!(budget.connect(ip(3)).is_none());
        drop(a);
        let c = budget.connect(ip(3)).expect("room again");
        assert_eq!(budget.open_connections(), 2);
        drop((b, c));
        assert_eq!(budget.open_connections(), 0);
    }

    #[test]
    fn one_peer_cannot_take_every_connection() {
        let budget = PreAuth::new(
            Limits {
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
            Limits {
                max_connections: 1,
                max_connections_per_peer: 1,
                ..limits()
            },
            &Metrics::new(),
        );
        let first = budget.connect(ip(1)).expect("one");
        assert!(budget.connect(ip(2)).is_none(), "over the global cap");
        drop(first);
        assert!(
            budget.connect(ip(2)).is_some(),
            "its refused try left nothing held"
        );
    }
}
