//! The pieces of one webhook delivery as `benches/load/run.sh` sends it (the signed 21 KB
//! draft pull_request that starts nothing), on one core, without the network:
//! `taskset -c 0 cargo bench --bench intake`.
//!
//! - `verify`: the HMAC-SHA256 of the body, checked against the signature header;
//! - `parse`: the body read into our event types;
//! - `decide`: parse + plan (+ render, when something launches);
//! - `router`: the whole request through the axum router in process (tower `oneshot`):
//!   body, signature, headers, repeated-delivery log, decide, answer, metrics, and the log
//!   line written by the service's subscriber (to a sink), with a fresh delivery id each time.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use agentpods::github::event;
use agentpods::github::webhook::{self, DeliveryId, WebhookSecrets};
use agentpods::serve::dry_run::DryRunLauncher;
use agentpods::serve::http::{self, AppState};
use agentpods::serve::intake;
use agentpods::serve::log_writer::LogWriter;
use agentpods::serve::reload::ConfigStore;
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tower::ServiceExt;

// The allocator the service binary uses (src/main.rs), so the figure is the service's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "load-test-secret";

fn payload() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/variants/pull_request/draft-opened.json");
    std::fs::read(path).expect("the load test's payload")
}

fn bench(c: &mut Criterion) {
    let body = payload();
    let secrets = WebhookSecrets::parse_list(SECRET).expect("secret");
    let signature = secrets.first().sign(&body);
    let config = ConfigStore::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("services.yaml"))
        .expect("example config");
    let live = config.current();
    let delivery = DeliveryId::parse(Some(b"72d3162e-cc78-11e3-81ab-4c9367dc0958")).expect("id");

    let mut group = c.benchmark_group("delivery.draft_pull_request");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify", |b| {
        b.iter(|| {
            webhook::verify_signature(
                &secrets,
                Some(signature.as_bytes()),
                false,
                black_box(&body),
            )
            .expect("verifies")
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| event::parse("pull_request", black_box(&body)).expect("parses"))
    });
    group.bench_function("decide", |b| {
        b.iter(|| {
            let decided =
                intake::decide(&live, "pull_request", &delivery, black_box(&body)).expect("ok");
            assert!(decided.work.runs.is_empty());
            decided
        })
    });

    // The service's log subscriber as `init_logging` builds it (text, default level
    // `info`, its buffer and writing thread), writing to a sink instead of stderr.
    let (writer, _logging) = LogWriter::new(std::io::sink(), "bench-log");
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_target(false),
            )
            .init();
    }
    let state = Arc::new(AppState::new(
        secrets.clone(),
        config,
        Arc::new(DryRunLauncher::new(None).expect("dry run")),
    ));
    let router = http::router(state);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let body = axum::body::Bytes::from(body);
    let mut n = 0u64;
    group.bench_function("router", |b| {
        b.iter(|| {
            n += 1;
            let request = Request::post("/webhook")
                .header("content-type", "application/json")
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", format!("bench-{n}"))
                .header("x-hub-signature-256", &signature)
                .header("user-agent", "GitHub-Hookshot/bench")
                .body(Body::from(body.clone()))
                .expect("request");
            let response = runtime
                .block_on(router.clone().oneshot(request))
                .expect("infallible");
            assert_eq!(response.status(), 200);
            response
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
