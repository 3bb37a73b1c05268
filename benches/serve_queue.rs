//! The real `agentpods serve` with an organisation's queue (issue 15, item 5): services.yaml
//! sets `limits: { running: 20, per_repository: 3 }`, 10,000 AgentRuns of 200 repositories
//! are recorded first, then the bench-profile binary starts against the fake API server
//! (over HTTP, KUBECONFIG) and takes the Lease. The fake kubelet keeps every pod Running
//! until the bench ends it.
//!
//! Reported: how long until the first 20 runs have their pods, and until every other run
//! is Queued (the settle, with the service's CPU time meanwhile); its peak resident memory
//! (VmHWM); then, for each of `FREES` pods ended one at a time, the delay until the next
//! queued run's pod is made (median, p95, max) and until the freed run is Succeeded; and the
//! API requests of each stage per run, reads and writes apart.
//!
//! `cargo bench --bench serve_queue` (`RUNS=…`, `REPOS=…`, `RUNNING=…`, `PER_REPOSITORY=…`,
//! `FREES=…`, `PATIENCE_SECONDS=…`; `RUNS=500` is a quick smoke check).

mod service;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use serde_json::Value;
use support::cluster::{
    AGENT_RUNS, Cluster, RUNS, benchmarking, in_phase, knob, renamed_run, sample_run,
};
use support::fake_kube::{FakeKube, PodScript};
use support::fixtures::EXAMPLE_CONFIG;

use service::Service;

/// The fake's pods, for [`FakeKube::count`].
const PODS: (&str, &str, &str) = ("", "v1", "pods");

/// How often the bench looks at the fake while it waits.
const POLL: Duration = Duration::from_millis(2);

const RESULT: &str = r#"{"conclusion":"success","summary":"done"}"#;

/// What the bench is asked to do.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    runs: usize,
    repos: usize,
    running: usize,
    per_repository: usize,
    frees: usize,
    patience: Duration,
}

/// The example services.yaml with these limits, in `dir`.
fn config_with(dir: &Path, knobs: &Knobs) -> PathBuf {
    let example = std::fs::read_to_string(EXAMPLE_CONFIG).expect("the example config");
    let templates = Path::new(EXAMPLE_CONFIG)
        .parent()
        .expect("the repository")
        .join("templates");
    let text = format!(
        "{example}\ntemplates_dir: {}\nlimits: {{ running: {}, per_repository: {} }}\n",
        templates.display(),
        knobs.running,
        knobs.per_repository
    );
    let path = dir.join("services.yaml");
    std::fs::write(&path, text).expect("write services.yaml");
    path
}

/// Records `runs` AgentRuns (`q-00000`, …), round robin over `repos` repositories, each
/// asked for a millisecond after the one before.
async fn record(client: &kube::Client, runs: usize, repos: usize) {
    let template = sample_run("pull_request/opened.json");
    let first: Timestamp = "2026-12-03T10:00:00Z".parse().expect("a time");
    let api: Api<agentpods::agentrun::AgentRun> = Api::namespaced(client.clone(), RUNS);
    futures_util::stream::iter(0..runs)
        .map(|i| {
            let mut run = renamed_run(&template, &format!("q-{i:05}"));
            run.spec.repository = format!("org/repo-{:03}", i % repos);
            let at = first + SignedDuration::from_millis(i as i64);
            run.spec.requested_at = Some(MicroTime(at));
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &run)
                    .await
                    .unwrap_or_else(|e| panic!("record run {i}: {e}"))
            }
        })
        .buffer_unordered(64)
        .for_each(|_| async {})
        .await;
}

/// A pod not ended yet (Pending or Running).
fn active(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// The names of the pods now Running.
fn running_pods(fake: &FakeKube) -> Vec<String> {
    let names = RefCell::new(Vec::new());
    fake.count(PODS, |pod| {
        // Running, or Pending while an init container runs (the default template's agent
        // is one), as the kubelet shows a pod at work.
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        let init_running = pod
            .pointer("/status/initContainerStatuses")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|c| c.pointer("/state/running").is_some()));
        if phase == Some("Running") || (phase == Some("Pending") && init_running) {
            let name = pod.pointer("/metadata/name").and_then(Value::as_str);
            names.borrow_mut().extend(name.map(str::to_owned));
        }
        false
    });
    names.into_inner()
}

/// Waits until `done`, failing after the patience with `what`.
async fn until(knobs: &Knobs, what: &str, log: &Path, done: impl Fn() -> bool) {
    let deadline = Instant::now() + knobs.patience;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "after {:?}, still not {what}; see {}",
            knobs.patience,
            log.display()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// API requests since the `from`th, per `per`: reads (GET, watches included) and writes.
fn requests_per(fake: &FakeKube, from: usize, per: usize) -> (f64, f64) {
    let requests = fake.requests();
    let new = &requests[from.min(requests.len())..];
    let reads = new.iter().filter(|r| r.starts_with("GET ")).count();
    let per = per.max(1) as f64;
    (reads as f64 / per, (new.len() - reads) as f64 / per)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(knobs: Knobs) {
    let work = tempfile::tempdir().expect("a work folder");
    let config = config_with(work.path(), &knobs);
    let cluster = Cluster::on(&config, Timestamp::now()).await;
    let fake = &cluster.fake;
    fake.run_kubelet(|_| PodScript::stays_running());
    let start = Instant::now();
    record(&cluster.client, knobs.runs, knobs.repos).await;
    println!(
        "{} AgentRuns across {} repositories recorded in {:.1} s; limits: {{ running: {}, per_repository: {} }}",
        knobs.runs,
        knobs.repos,
        start.elapsed().as_secs_f64(),
        knobs.running,
        knobs.per_repository
    );

    let kubeconfig = fake.kubeconfig(work.path());
    let log_path = work.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let before = fake.request_count();
    let start = Instant::now();
    let service = Service::start(&config, &kubeconfig, log);
    let places = knobs.running.min(knobs.runs);
    until(&knobs, "the first runs started", &log_path, || {
        fake.count(PODS, |_| true) >= places
    })
    .await;
    let first = start.elapsed().as_secs_f64();
    let waiting = knobs.runs - places;
    until(&knobs, "settled", &log_path, || {
        fake.count(AGENT_RUNS, |r| in_phase(r, "Queued")) >= waiting
            && fake.count(AGENT_RUNS, |r| in_phase(r, "Running")) >= places
    })
    .await;
    let settled = start.elapsed().as_secs_f64();
    let settle_cpu = service.cpu_seconds();
    let peak_settled = service.status_mib("VmHWM");
    let (settle_reads, settle_writes) = requests_per(fake, before, knobs.runs);

    // Ends one running pod at a time; the next queued run takes its place.
    let frees = knobs.frees.min(waiting);
    let before = fake.request_count();
    let cpu_before = service.cpu_seconds();
    let mut started = Vec::with_capacity(frees);
    let mut succeeded = Vec::with_capacity(frees);
    for _ in 0..frees {
        let pods = running_pods(fake);
        let Some(pod) = pods.first() else {
            panic!("no pod is Running; see {}", log_path.display());
        };
        let freed = Instant::now();
        assert!(fake.finish_pod(RUNS, pod, &PodScript::succeeds(RESULT)));
        let mut ended = None;
        let deadline = freed + knobs.patience;
        loop {
            if ended.is_none()
                && fake
                    .object(AGENT_RUNS.0, AGENT_RUNS.1, AGENT_RUNS.2, RUNS, pod)
                    .is_some_and(|r| in_phase(&r, "Succeeded"))
            {
                ended = Some(freed.elapsed());
            }
            if fake.count(PODS, active) >= places {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no run started after {pod} ended; see {}",
                log_path.display()
            );
            tokio::time::sleep(POLL).await;
        }
        started.push(freed.elapsed().as_secs_f64() * 1000.0);
        succeeded.push(ended.unwrap_or_else(|| freed.elapsed()).as_secs_f64() * 1000.0);
    }
    let frees_cpu = service.cpu_seconds() - cpu_before;
    let (free_reads, free_writes) = requests_per(fake, before, frees);
    started.sort_by(f64::total_cmp);
    succeeded.sort_by(f64::total_cmp);

    println!(
        "agentpods serve, {} runs ({} waiting):",
        knobs.runs, waiting
    );
    println!("  first {places} pods made      {first:>8.2} s after it started");
    println!(
        "  settled (all the rest Queued) {settled:>8.2} s; CPU {settle_cpu:.1} s; {settle_reads:.2} reads, {settle_writes:.2} writes per run"
    );
    println!(
        "  peak resident (VmHWM)     {peak_settled:>8.1} MiB settled, {:.1} MiB at the end; VmRSS {:.1} MiB",
        service.status_mib("VmHWM"),
        service.status_mib("VmRSS")
    );
    println!(
        "  {frees} pods ended one at a time: next queued pod made after median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        percentile(&started, 0.5),
        percentile(&started, 0.95),
        percentile(&started, 1.0),
    );
    println!(
        "    (the ended run Succeeded after median {:.0} ms, p95 {:.0} ms); CPU {frees_cpu:.2} s; {free_reads:.1} reads, {free_writes:.1} writes per free",
        percentile(&succeeded, 0.5),
        percentile(&succeeded, 0.95),
    );
    drop(service);
}

fn main() {
    // Under `cargo test` a smoke run: 60 runs over 10 repositories, 5 frees.
    let full = benchmarking();
    let knobs = Knobs {
        runs: knob("RUNS", if full { 10_000 } else { 60 }),
        repos: knob("REPOS", if full { 200 } else { 10 }).max(1),
        running: knob("RUNNING", 20usize).max(1),
        per_repository: knob("PER_REPOSITORY", 3usize).max(1),
        frees: knob("FREES", if full { 50 } else { 5 }),
        patience: Duration::from_secs(knob("PATIENCE_SECONDS", 1800)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(measure(knobs));
}
