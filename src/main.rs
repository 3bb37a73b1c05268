use clap::Parser;

// mimalloc: rendering is allocation-heavy (typed Kubernetes objects, JSON values); with
// glibc malloc a third of a render went to the allocator (benches/plan_render.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    agentpods::cli::run(agentpods::cli::Cli::parse())
}
