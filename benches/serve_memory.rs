//! The memory of the real `agentpods serve` tracking 10,000 runs. The fake API server runs in
//! this process (with a kubelet that keeps every pod Running); 10,000 AgentRuns are
//! recorded first, then the release binary starts against it (KUBECONFIG), takes the Lease,
//! launches a pod for each run and follows it to Running. Reported from the service's
//! `/proc/PID/status`: peak resident memory (VmHWM) when every run is Running, and the
//! resident memory (VmRSS) after it has sat a while with all of them.
//!
//! `cargo bench --bench serve_memory` (`RUNS=…`, `SETTLE_SECONDS=…` to change the defaults).

mod service;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::cluster::{
    AGENT_RUNS, Cluster, RUNS, benchmarking, create_copies, in_phase, knob, sample_run,
};
use support::fake_kube::PodScript;
use support::fixtures::EXAMPLE_CONFIG;

use service::Service;

/// Gives up after this long.
const PATIENCE: Duration = Duration::from_secs(600);

async fn measure(runs: usize, settle: Duration) {
    let cluster = Cluster::without_controller().await;
    let fake = &cluster.fake;
    fake.run_kubelet(|_| PodScript {
        stay_running: true,
        ..PodScript::succeeds("")
    });
    let template = sample_run("pull_request/opened.json");
    let start = Instant::now();
    create_copies(&cluster.client, RUNS, &template, "mem", runs, 64).await;
    let one = fake
        .object(AGENT_RUNS.0, AGENT_RUNS.1, AGENT_RUNS.2, RUNS, "mem-00000")
        .map_or(0, |run| run.to_string().len());
    println!(
        "{runs} AgentRuns ({one} bytes of JSON each) recorded in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let work = tempfile::tempdir().expect("a work folder");
    let kubeconfig = fake.kubeconfig(work.path());
    let log = std::fs::File::create(work.path().join("serve.log")).expect("a log file");
    let start = Instant::now();
    let service = Service::start(Path::new(EXAMPLE_CONFIG), &kubeconfig, log);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let running = fake.count(AGENT_RUNS, |r| in_phase(r, "Running"));
        if running >= runs {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {PATIENCE:?} only {running} of {runs} runs are Running; see {}",
            work.path().join("serve.log").display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = start.elapsed().as_secs_f64();
    let peak = service.status_mib("VmHWM");
    println!(
        "agentpods serve: {runs} runs Running {took:.1} s after it started ({:.0} runs/s)",
        runs as f64 / took
    );
    println!(
        "  peak resident (VmHWM): {peak:.1} MiB; resident now (VmRSS): {:.1} MiB",
        service.status_mib("VmRSS")
    );
    let collections = |resource: &str| {
        let requests = fake.requests();
        let of = |watch: bool| {
            requests
                .iter()
                .filter(|r| r.starts_with("GET ") && r.contains(&format!("/{resource}?")))
                .filter(|r| r.contains("watch=true") == watch)
                .count()
        };
        format!("{resource}: {} lists, {} watches", of(false), of(true))
    };
    println!(
        "  its requests: {}; {}",
        collections("agentruns"),
        collections("pods")
    );
    tokio::time::sleep(settle).await;
    println!("  CPU time so far: {:.1} s", service.cpu_seconds());
    println!(
        "  after {} s more tracking them: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        settle.as_secs(),
        service.status_mib("VmRSS"),
        service.status_mib("VmHWM"),
    );
    drop(service);
}

fn main() {
    // Under `cargo test` a smoke run: the whole path, 50 runs, no settling.
    let full = benchmarking();
    let runs = knob("RUNS", if full { 10_000 } else { 50 });
    let settle = Duration::from_secs(knob("SETTLE_SECONDS", if full { 10 } else { 0 }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(measure(runs, settle));
}
