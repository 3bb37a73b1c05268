//! The service's Prometheus metrics, served at `GET /metrics` in the OpenMetrics text
//! format. Every label takes a value from a short fixed list, so no sender can grow the
//! number of series.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::agentrun::Phase;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The event of a delivery, as a label: the events the planner models, `other` for the rest,
/// `none` when the header was missing.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EventLabel {
    pull_request,
    issue_comment,
    issues,
    push,
    release,
    ping,
    other,
    none,
}

impl EventLabel {
    pub fn of(header: Option<&[u8]>) -> EventLabel {
        match header {
            None => EventLabel::none,
            Some(b"pull_request") => EventLabel::pull_request,
            Some(b"issue_comment") => EventLabel::issue_comment,
            Some(b"issues") => EventLabel::issues,
            Some(b"push") => EventLabel::push,
            Some(b"release") => EventLabel::release,
            Some(b"ping") => EventLabel::ping,
            Some(_) => EventLabel::other,
        }
    }
}

/// How a delivery was answered.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// At least one run was launched (202).
    launched,
    /// Verified and parsed, but nothing to launch (200).
    ignored,
    /// A `ping` (200).
    ping,
    /// A repeated delivery, answered as the first time without doing anything.
    duplicate,
    /// Missing or wrong signature (401).
    unauthorized,
    /// Missing header or malformed body (400).
    bad_request,
    /// Body over the cap (413).
    too_large,
    /// Our own failure: a template that does not render, a launch that failed (500).
    error,
    /// Not decidable until GitHub answers (who may run, a pull request's head): nothing
    /// done, 503 so that it comes again.
    deferred,
    /// Refused before its body was read: over a pre-authentication bound (503).
    busy,
    /// Signed longer ago than the replay window: perhaps a captured body sent again;
    /// nothing done (200).
    stale,
}

/// Why a request was refused before its body was read (see [`crate::serve::preauth`]).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PreauthRefusal {
    /// The ordinary lane's budget is spent.
    ordinary_lane,
    /// The large lane's budget is spent.
    large_lane,
    /// The sender's address holds its share.
    peer,
    /// As many connections are open as allowed.
    connections,
}

/// A lane of the pre-authentication budget.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Lane {
    ordinary,
    large,
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SignatureFailure {
    missing,
    sha1_only,
    malformed,
    mismatch,
}

/// What became of one run the planner asked for.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum LaunchOutcome {
    created,
    already_exists,
    failed,
    /// Not recorded: its repository had `limits.queued_per_repository` runs waiting.
    queue_full,
}

/// The outcome of a services.yaml reload.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReloadResult {
    applied,
    rejected,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: EventLabel,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: SignatureFailure,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: PreauthRefusal,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabels {
    lane: Lane,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    result: LaunchOutcome,
}

/// An AgentRun's phase, as a label (`none` before the controller has seen it).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PhaseLabel {
    none,
    pending,
    queued,
    running,
    succeeded,
    failed,
    cancelled,
    timed_out,
    /// A phase a newer agentpods wrote.
    unknown,
}

impl From<Option<&Phase>> for PhaseLabel {
    fn from(phase: Option<&Phase>) -> PhaseLabel {
        match phase {
            None => PhaseLabel::none,
            Some(Phase::Pending) => PhaseLabel::pending,
            Some(Phase::Queued) => PhaseLabel::queued,
            Some(Phase::Running) => PhaseLabel::running,
            Some(Phase::Succeeded) => PhaseLabel::succeeded,
            Some(Phase::Failed) => PhaseLabel::failed,
            Some(Phase::Cancelled) => PhaseLabel::cancelled,
            Some(Phase::TimedOut) => PhaseLabel::timed_out,
            Some(Phase::Unknown(_)) => PhaseLabel::unknown,
        }
    }
}

const PHASES: [PhaseLabel; 9] = [
    PhaseLabel::none,
    PhaseLabel::pending,
    PhaseLabel::queued,
    PhaseLabel::running,
    PhaseLabel::succeeded,
    PhaseLabel::failed,
    PhaseLabel::cancelled,
    PhaseLabel::timed_out,
    PhaseLabel::unknown,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: PhaseLabel,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: ReloadResult,
}

/// Every metric of the service, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    signature_failures: Family<ReasonLabels, Counter>,
    handling: Histogram,
    runs: Family<RunLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    phases: Family<PhaseLabels, Gauge>,
    left_for_newer: Gauge,
    refusals: Family<RefusalLabels, Counter>,
    preauth_bytes: Family<LaneLabels, Gauge>,
    connections: Gauge,
    evicted: Counter,
    github_up: Gauge,
    leader: Gauge,
    /// Whether a GitHub client's requests are registered (once).
    github_requests: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agentpods");
        let deliveries = Family::default();
        let signature_failures = Family::default();
        // 100 µs to about 3.3 s, doubling.
        let handling = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let runs = Family::default();
        let reloads = Family::default();
        let phases = Family::default();
        let left_for_newer = Gauge::default();
        let refusals = Family::default();
        let preauth_bytes = Family::<LaneLabels, Gauge>::default();
        let connections = Gauge::default();
        let evicted = Counter::default();
        let github_up = Gauge::default();
        let leader = Gauge::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by event and by how they were answered",
            deliveries.clone(),
        );
        registry.register(
            "webhook_signature_failures",
            "Deliveries refused for their X-Hub-Signature-256, by reason",
            signature_failures.clone(),
        );
        registry.register(
            "webhook_handling_seconds",
            "Time from a delivery's first byte to its answer",
            handling.clone(),
        );
        registry.register(
            "runs_launched",
            "Runs the planner asked for, by what launching them came to",
            runs.clone(),
        );
        registry.register(
            "config_reloads",
            "Reloads of services.yaml, applied or rejected",
            reloads.clone(),
        );
        registry.register(
            "runs",
            "AgentRuns by phase, as the leading replica's controller sees them",
            phases.clone(),
        );
        registry.register(
            "runs_left_for_newer_version",
            "AgentRuns a newer agentpods recorded (their spec.source in a version this one does \
             not read), left untouched for the newer controller, as the leading replica's \
             controller sees them",
            left_for_newer.clone(),
        );
        registry.register(
            "webhook_preauth_refusals",
            "Requests refused before their body was read, by the bound they met (503)",
            refusals.clone(),
        );
        registry.register(
            "webhook_preauth_bytes",
            "Bytes reserved now for bodies whose signatures are not checked yet, by lane",
            preauth_bytes.clone(),
        );
        registry.register(
            "http_connections",
            "HTTP connections open now",
            connections.clone(),
        );
        registry.register(
            "http_connections_evicted",
            "Connections closed at the connection cap, before they carried a signed delivery, \
             to make room for a new one",
            evicted.clone(),
        );
        registry.register(
            "github_up",
            "1 while GitHub answers the background check and takes our credentials; 0 while it \
             does not, and when the service has no GitHub credentials",
            github_up.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease and runs the controller, else 0",
            leader.clone(),
        );
        // Both lanes show from the start, at 0.
        for lane in [Lane::ordinary, Lane::large] {
            let _ = preauth_bytes.get_or_create(&LaneLabels { lane });
        }
        Metrics {
            registry,
            deliveries,
            signature_failures,
            handling,
            runs,
            reloads,
            phases,
            left_for_newer,
            refusals,
            preauth_bytes,
            connections,
            evicted,
            github_up,
            leader,
            github_requests: false,
        }
    }

    /// Counts the requests of the service's GitHub client (one client serves the intake
    /// and the controller): `agentpods_github_requests_total{endpoint,outcome}`, the
    /// endpoint a path template from a fixed list, and `agentpods_github_rate_limit_remaining`.
    pub fn count_github(&mut self, client: crate::github_client::RequestMetrics) {
        if self.github_requests {
            return;
        }
        self.github_requests = true;
        self.registry.register(
            "github_requests",
            "Requests sent to GitHub (each attempt), by endpoint (method and path template) \
             and by how GitHub answered (ok, not_modified, client_error, rate_limited, \
             server_error, no_answer)",
            client.requests,
        );
        self.registry.register(
            "github_rate_limit_remaining",
            "The requests GitHub last said the credentials have left in this hour's window \
             (X-RateLimit-Remaining); absent until GitHub has said",
            client.rate_limit_remaining,
        );
    }

    /// The counter of connections closed to make room (shared).
    pub fn evicted_counter(&self) -> Counter {
        self.evicted.clone()
    }

    /// The gauge of whether this replica leads (shared).
    pub fn leader_gauge(&self) -> Gauge {
        self.leader.clone()
    }

    /// The gauge of whether GitHub answers (shared: setting it sets the metric).
    pub fn github_up_gauge(&self) -> Gauge {
        self.github_up.clone()
    }

    pub fn delivery(&self, event: EventLabel, outcome: Outcome, took: Duration) {
        self.deliveries
            .get_or_create(&DeliveryLabels { event, outcome })
            .inc();
        self.handling.observe(took.as_secs_f64());
    }

    pub fn signature_failure(&self, reason: SignatureFailure) {
        self.signature_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn refused(&self, reason: PreauthRefusal) {
        self.refusals.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// How many requests were refused for `reason`.
    pub fn refusals(&self, reason: PreauthRefusal) -> u64 {
        self.refusals
            .get(&RefusalLabels { reason })
            .map_or(0, |c| c.get())
    }

    /// The gauge of bytes reserved in `lane` (shared: setting it sets the metric).
    pub fn preauth_gauge(&self, lane: Lane) -> Gauge {
        self.preauth_bytes
            .get_or_create(&LaneLabels { lane })
            .clone()
    }

    /// The gauge of open connections (shared).
    pub fn connections_gauge(&self) -> Gauge {
        self.connections.clone()
    }

    pub fn run(&self, result: LaunchOutcome) {
        self.runs.get_or_create(&RunLabels { result }).inc();
    }

    /// Sets the count of runs in each phase (phases not given count zero).
    pub fn runs_by_phase(&self, counts: &[(Option<Phase>, u64)]) {
        for label in PHASES {
            let n: u64 = counts
                .iter()
                .filter(|(p, _)| PhaseLabel::from(p.as_ref()) == label)
                .map(|(_, n)| n)
                .sum();
            self.phases
                .get_or_create(&PhaseLabels { phase: label })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets the count of runs left for a newer agentpods.
    pub fn runs_left_for_newer(&self, n: u64) {
        self.left_for_newer
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn reload(&self, result: ReloadResult) {
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// How many deliveries were answered with this outcome, over all events (for tests and
    /// logs).
    pub fn deliveries_with(&self, outcome: Outcome) -> u64 {
        [
            EventLabel::pull_request,
            EventLabel::issue_comment,
            EventLabel::issues,
            EventLabel::push,
            EventLabel::release,
            EventLabel::ping,
            EventLabel::other,
            EventLabel::none,
        ]
        .into_iter()
        .filter_map(|event| {
            self.deliveries
                .get(&DeliveryLabels { event, outcome })
                .map(|c| c.get())
        })
        .sum()
    }

    /// How many runs came to `result`.
    pub fn runs_with(&self, result: LaunchOutcome) -> u64 {
        self.runs.get(&RunLabels { result }).map_or(0, |c| c.get())
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_family_with_fixed_labels() {
        let m = Metrics::new();
        m.delivery(
            EventLabel::of(Some(b"pull_request")),
            Outcome::launched,
            Duration::from_micros(300),
        );
        m.delivery(
            EventLabel::of(Some(b"made_up_by_a_sender")),
            Outcome::unauthorized,
            Duration::from_micros(50),
        );
        m.signature_failure(SignatureFailure::mismatch);
        m.run(LaunchOutcome::created);
        m.runs_left_for_newer(2);
        let text = m.encode();
        for line in [
            r#"agentpods_webhook_deliveries_total{event="pull_request",outcome="launched"} 1"#,
            r#"agentpods_webhook_deliveries_total{event="other",outcome="unauthorized"} 1"#,
            r#"agentpods_webhook_signature_failures_total{reason="mismatch"} 1"#,
            "agentpods_webhook_handling_seconds_count 2",
            r#"agentpods_runs_launched_total{result="created"} 1"#,
            "agentpods_runs_left_for_newer_version 2",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
        assert_eq!(m.deliveries_with(Outcome::launched), 1);
        assert_eq!(m.runs_with(LaunchOutcome::created), 1);
    }
}
