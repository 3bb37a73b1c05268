//! Checks rendered manifests against the Kubernetes OpenAPI schemas with
//! `kubernetes-validate --strict` (PyPI `kubernetes-validate==1.37.0`, offline).
//!
//! The executable is `$KUBERNETES_VALIDATE`, else `.venv/bin/kubernetes-validate` under the
//! crate root, else `kubernetes-validate` on PATH. When none exists, a CI run (`$CI` set)
//! fails with how to install it; a local run prints a loud note and skips the check.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Kubernetes version the manifests must be valid for.
pub const KUBERNETES_VERSION: &str = "1.32.0";

const EXE: &str = "kubernetes-validate";

const INSTALL: &str = "install it with `python3 -m venv .venv && \
    .venv/bin/pip install kubernetes-validate==1.37.0` in the crate root, or point \
    $KUBERNETES_VALIDATE at the executable";

/// Where kubernetes-validate is, if anywhere. Panics when `$KUBERNETES_VALIDATE` names a
/// file that does not exist: a wrong explicit setting must not turn into a skipped check.
pub fn locate() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("KUBERNETES_VALIDATE").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        assert!(
            path.is_file(),
            "KUBERNETES_VALIDATE={} does not exist; {INSTALL}",
            path.display()
        );
        return Some(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(EXE);
    if venv.is_file() {
        return Some(venv);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(EXE))
        .find(|p| p.is_file())
}

/// The validator, or `None` (after a loud note) when it is missing outside CI.
pub fn validator() -> Option<PathBuf> {
    if let Some(path) = locate() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{EXE} is not installed, and CI must validate every manifest: {INSTALL}");
    }
    // Written to the real stderr, not through `eprintln!`, which the test harness
    // captures and hides for passing tests: a skipped check must never go unnoticed.
    static NOTE: std::sync::Once = std::sync::Once::new();
    NOTE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n************************************************************************\n\
             NOTE: {EXE} not found, so the Kubernetes schema checks are SKIPPED.\n\
             To run them, {INSTALL}.\n\
             ************************************************************************\n"
        );
    });
    None
}

/// What kubernetes-validate said about a stream of documents.
#[derive(Debug)]
pub struct Verdict {
    pub exit_ok: bool,
    /// stdout then stderr.
    pub output: String,
    /// How many documents it reported as `passed`.
    pub passed: usize,
}

impl Verdict {
    /// Whether every one of `expected` documents passed and nothing was left unchecked: the
    /// tool exits 0 on a kind it has no schema for (it only warns), so a `WARN` or `ERROR`
    /// line, or a document it did not report, also fails.
    pub fn all_passed(&self, expected: usize) -> bool {
        self.exit_ok
            && self.passed == expected
            && !self
                .output
                .lines()
                .any(|l| l.starts_with("ERROR") || l.starts_with("WARN"))
    }
}

/// Runs `exe --strict -k KUBERNETES_VERSION -` on a multi-document YAML stream.
pub fn run(exe: &Path, yaml: &str) -> Verdict {
    let mut child = Command::new(exe)
        .args(["--strict", "-k", KUBERNETES_VERSION, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from another thread so that a full stdout pipe cannot stall us both.
    let input = yaml.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{} did not finish: {e}", exe.display()));
    writer
        .join()
        .expect("the stdin writer")
        .unwrap_or_else(|e| panic!("cannot feed {}: {e}", exe.display()));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Verdict {
        exit_ok: out.status.success(),
        passed: output
            .lines()
            .filter(|l| l.contains("passed for resource"))
            .count(),
        output,
    }
}

/// Asserts that all `expected` documents of `yaml` are valid Kubernetes objects. Returns
/// false when the check was skipped (the validator is missing outside CI).
pub fn assert_valid(what: &str, yaml: &str, expected: usize) -> bool {
    let Some(exe) = validator() else {
        return false;
    };
    let verdict = run(&exe, yaml);
    assert!(
        verdict.all_passed(expected),
        "{what}: {expected} documents should pass `{EXE} --strict -k {KUBERNETES_VERSION}`, \
         {} did (exit ok: {}):\n{}\n--- the YAML ---\n{yaml}",
        verdict.passed,
        verdict.exit_ok,
        verdict.output
    );
    true
}
