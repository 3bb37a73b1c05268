//! Plan + render one pull_request event into the default agent Pod (and its task
//! ConfigMap), as the service does for every delivery. Run on one core:
//! `taskset -c 0 cargo bench --bench plan_render`.

use std::hint::black_box;
use std::path::Path;

use agentpods::config;
use agentpods::github::event;
use agentpods::plan::{Decision, Facts, Planner};
use agentpods::render::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// The allocator the service binary uses (src/main.rs), so the figure is the service's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fixture() -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/webhooks/pull_request/opened.json");
    std::fs::read(path).expect("the pull_request fixture")
}

fn plan_and_render(planner: &Planner, engine: &Engine, event: &event::WebhookEvent) -> usize {
    let mut objects = 0;
    for decision in planner.plan(
        event,
        Some(agentpods::plan::RunKey::new(
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        )),
        &Facts::default(),
    ) {
        if let Decision::Launch(launch) = decision {
            let run = engine
                .render_run(event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", &launch, None)
                .expect("renders");
            objects += run.objects.len();
        }
    }
    objects
}

fn bench(c: &mut Criterion) {
    let loaded = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("services.yaml"))
        .expect("example config");
    let engine = Engine::new(&loaded).expect("templates compile");
    let planner = Planner::new(&loaded.config);
    let body = fixture();
    let event = event::parse("pull_request", &body).expect("fixture parses");
    assert_eq!(
        plan_and_render(&planner, &engine, &event),
        2,
        "review agent: ConfigMap + Pod"
    );

    let mut group = c.benchmark_group("pull_request.opened");
    group.throughput(Throughput::Elements(1));
    group.bench_function("plan+render", |b| {
        b.iter(|| plan_and_render(&planner, &engine, black_box(&event)))
    });
    group.bench_function("parse+plan+render", |b| {
        b.iter(|| {
            let event = event::parse("pull_request", black_box(&body)).expect("parses");
            plan_and_render(&planner, &engine, &event)
        })
    });
    group.bench_function("plan", |b| {
        b.iter(|| {
            planner
                .plan(
                    black_box(&event),
                    Some(agentpods::plan::RunKey::new("72d3162e")),
                    &Facts::default(),
                )
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
