use clap::Parser;

// mimalloc: rendering is allocation-heavy (typed Kubernetes objects, JSON values); with
// glibc malloc a third of a render went to the allocator (benches/plan_render.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    allocator::tune();
    agentpods::cli::run(agentpods::cli::Cli::parse())
}

/// mimalloc's options for a service that holds every run it watches (issue 15, item 5).
///
/// By default mimalloc commits each arena it reserves at once and gives freed pages back to
/// the system only a second after they empty: for `serve` with 10,000 runs in its watch that
/// kept 40–50 MiB more resident than glibc's malloc (`benches/serve_queue.rs`, see
/// docs/operations.md). Committing on demand and giving pages back 10 ms after they empty
/// keeps the allocator's speed for rendering and leaves the resident size close to what is
/// live. Not at once: under a stream of deliveries the pages a request frees are the next
/// one's, and giving them back at once cost the intake 9 % of its CPU per delivery in page
/// faults and TLB flushes (`benches/load/run.sh`; 10 ms: the same peak at 10,000 runs
/// within 4 MiB). An operator's own `MIMALLOC_ARENA_EAGER_COMMIT` / `MIMALLOC_PURGE_DELAY` wins.
mod allocator {
    use libmimalloc_sys::{mi_option_set, mi_option_t};

    /// `mi_option_arena_eager_commit` and `mi_option_purge_delay` in mimalloc.h (v3, as
    /// libmimalloc-sys 0.1.49 builds it); the Rust bindings name neither. The test below
    /// checks the numbers by the options' defaults in its options.c.
    pub const ARENA_EAGER_COMMIT: mi_option_t = 4;
    pub const PURGE_DELAY: mi_option_t = 15;

    pub fn tune() {
        for (option, env, value) in [
            (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
            (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 10),
        ] {
            if std::env::var_os(env).is_none() {
                // SAFETY: sets an option's value, which mimalloc reads as it allocates.
                unsafe { mi_option_set(option, value) };
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use libmimalloc_sys::mi_option_get;

        /// The numbers name the options meant: each reads its documented default
        /// (an upgrade of libmimalloc-sys that renumbers them fails here).
        #[test]
        fn the_option_numbers_name_the_options_meant() {
            // SAFETY: reads an option's value.
            let (eager, delay) = unsafe {
                (
                    mi_option_get(ARENA_EAGER_COMMIT),
                    mi_option_get(PURGE_DELAY),
                )
            };
            assert_eq!(
                (eager, delay),
                (2, 1000),
                "arena_eager_commit defaults to 2, purge_delay to 1000 ms"
            );
        }
    }
}
