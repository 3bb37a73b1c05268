//! The integration tests, one binary (issue 12): each file beside this one was a test
//! binary of its own, linking the whole crate and the fakes again; as modules of one they
//! link once. `support` holds the fakes and helpers they share, and `scenario` the small
//! language stories about the service are told in.
//!
//! Run one file's tests by its module path: `cargo test --test it server::`, or one test
//! by its name. None of them sets anything process-wide (an environment variable, the
//! working folder, a global subscriber), so they share a process; a test that must is
//! its own binary beside this folder, saying why.

mod scenario;
mod support;

mod admission;
mod agent_entrypoint;
mod api_budget;
mod capacity;
mod catch_alls;
mod catch_up;
mod changed_files;
mod config_errors;
mod config_in_force;
mod controller;
mod deploy;
mod dockerfiles;
mod docs_sync;
mod error_sources;
mod exact_commits;
mod fake_kube;
mod fork_approvals;
mod github_app;
mod github_client;
mod github_reports;
mod hostile_refs;
mod images;
mod intake_github;
mod module_cycles;
mod pod_security;
mod preauth;
mod properties;
mod rbac;
mod render_errors;
mod render_fixtures;
mod replay_window;
mod repo_label;
mod repository_file;
mod repository_scope;
mod rerun;
mod run_tokens;
mod runs_cli;
mod schema_sync;
mod server;
mod snapshots;
mod standalone;
mod stored_approvals;
mod stored_runs;
mod stored_statuses;
mod supersede;
mod template_quoting;
mod webhook_signature;
mod what_to_do;

/// Cargo compiles only what this file names: a story file beside it that no `mod` names
/// would never be built or run, silently (review 12v, R29). Every `.rs` file here, and
/// every folder with a `mod.rs`, is a module of this binary.
#[test]
fn every_file_here_is_a_module_of_this_binary() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let text = std::fs::read_to_string(here.join("main.rs")).expect("main.rs");
    let named: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&here).expect("tests/it") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let module = if path.is_dir() {
            path.join("mod.rs").is_file()
        } else {
            path.extension().is_some_and(|x| x == "rs") && name != "main"
        };
        if module && !named.contains(name.as_str()) {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "tests/it/ files no `mod` in tests/it/main.rs names (never compiled nor run): \
         {missing:?}; add `mod NAME;` for each"
    );
}
