//! 1,000 AgentRuns created at once against the fake API server; the controller (the
//! service's, with its production options) in the same process. Reports how long until
//! every run is Running, then, once every pod is ended, until every run is Succeeded: runs/s,
//! reconciles/s and API requests per run. Each round starts from an empty fake.
//!
//! `cargo bench --bench controller_scale` (`RUNS=…`, `ROUNDS=…` to change the defaults).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use agentpods::agentrun::AgentRun;
use agentpods::cluster::controller::ControllerOptions;
use support::cluster::{
    AGENT_RUNS, Cluster, RUNS, benchmarking, create_copies, in_phase, knob, sample_run,
};
use support::fake_kube::{FakeKube, PodScript};

// The allocator the service binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives up on a round after this long.
const PATIENCE: Duration = Duration::from_secs(300);

/// One phase of a round: how long, and what the controller and the API server did meanwhile.
#[derive(Debug, Clone, Copy)]
struct Leg {
    seconds: f64,
    reconciles: u64,
    requests: usize,
}

/// Waits until `runs` AgentRuns are in `phase`.
async fn until_all(fake: &FakeKube, runs: usize, phase: &str) {
    let deadline = Instant::now() + PATIENCE;
    while fake.count(AGENT_RUNS, |r| in_phase(r, phase)) < runs {
        assert!(
            Instant::now() < deadline,
            "after {PATIENCE:?} only {} of {runs} runs are {phase}",
            fake.count(AGENT_RUNS, |r| in_phase(r, phase))
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn round(template: &AgentRun, runs: usize) -> (Leg, Leg) {
    let mut cluster = Cluster::without_controller().await;
    cluster.fake.run_kubelet(|_| PodScript {
        stay_running: true,
        ..PodScript::succeeds("")
    });
    let ctx = cluster.start_controller_with(ControllerOptions {
        namespaces: Some(vec![RUNS.to_owned()]),
        ..ControllerOptions::default()
    });
    let fake = &cluster.fake;
    let (requests, reconciles) = (fake.request_count(), ctx.reconciles());
    let start = Instant::now();
    create_copies(&cluster.client, RUNS, template, "bench", runs, 64).await;
    until_all(fake, runs, "Running").await;
    let running = Leg {
        seconds: start.elapsed().as_secs_f64(),
        reconciles: ctx.reconciles() - reconciles,
        requests: fake.request_count() - requests,
    };

    let (requests, reconciles) = (fake.request_count(), ctx.reconciles());
    let start = Instant::now();
    let done = PodScript::succeeds(r#"{"conclusion":"success","summary":"done"}"#);
    for i in 0..runs {
        assert!(fake.finish_pod(RUNS, &format!("bench-{i:05}"), &done));
    }
    until_all(fake, runs, "Succeeded").await;
    let succeeded = Leg {
        seconds: start.elapsed().as_secs_f64(),
        reconciles: ctx.reconciles() - reconciles,
        requests: fake.request_count() - requests,
    };
    cluster.stop_controller().await;
    (running, succeeded)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(what: &str, runs: usize, legs: &[Leg]) {
    for (i, leg) in legs.iter().enumerate() {
        println!(
            "  round {}: {what} in {:.2} s: {:.0} runs/s, {} reconciles ({:.0}/s, {:.1} per run), {:.1} API requests per run",
            i + 1,
            leg.seconds,
            runs as f64 / leg.seconds,
            leg.reconciles,
            leg.reconciles as f64 / leg.seconds,
            leg.reconciles as f64 / runs as f64,
            leg.requests as f64 / runs as f64,
        );
    }
    let seconds = median(legs.iter().map(|l| l.seconds).collect());
    let rate = median(
        legs.iter()
            .map(|l| l.reconciles as f64 / l.seconds)
            .collect(),
    );
    println!(
        "{runs} runs {what}: median {seconds:.2} s, {:.0} runs/s, {rate:.0} reconciles/s",
        runs as f64 / seconds
    );
}

fn main() {
    // Under `cargo test` a smoke run: one round of 50.
    let full = benchmarking();
    let runs = knob("RUNS", if full { 1000 } else { 50 });
    let rounds = knob("ROUNDS", if full { 3usize } else { 1 }).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let template = sample_run("pull_request/opened.json");
    let mut running = Vec::new();
    let mut succeeded = Vec::new();
    for _ in 0..rounds {
        let (r, s) = runtime.block_on(round(&template, runs));
        running.push(r);
        succeeded.push(s);
    }
    report("created at once → all Running", runs, &running);
    report("pods ended → all Succeeded", runs, &succeeded);
}
