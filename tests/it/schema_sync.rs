//! The generated artifacts we commit — the JSON Schema of services.yaml (for editors and
//! other tools) and the AgentRun CRD (installed into clusters) — are exactly what the code
//! generates, so a change to the Rust types cannot ship with a stale copy.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMA: &str = "schema/services.schema.json";
const CRD: &str = "deploy/crd/agentruns.agentpods.dev.yaml";
const APPROVAL_CRD: &str = "deploy/crd/agentapprovals.agentpods.dev.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| {
        panic!("{path}: {e}; generate it (see the regenerate command in this test)")
    })
}

/// Where two texts first differ, as the line of each.
fn first_difference(committed: &str, generated: &str) -> String {
    let mut a = committed.lines();
    let mut b = generated.lines();
    for number in 1.. {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) if x == y => continue,
            (x, y) => {
                return format!(
                    "first difference at line {number}:\n  committed: {}\n  generated: {}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                );
            }
        }
    }
    "the texts differ only in line endings or the final newline".into()
}

fn assert_in_sync(path: &str, generated: &str, regenerate: &str) {
    let committed = committed(path);
    assert!(
        committed == generated,
        "{path} is out of date with the code. Regenerate it with\n\n    {regenerate}\n\n{}",
        first_difference(&committed, generated)
    );
}

#[test]
fn the_committed_json_schema_is_what_agentpods_schema_prints() {
    // `agentpods schema` prints the schema and a newline.
    let printed = format!("{}\n", agentpods::cli::schema_json());
    assert_in_sync(
        SCHEMA,
        &printed,
        "cargo run -q -- schema > schema/services.schema.json",
    );
}

#[test]
fn the_committed_crd_is_what_agentpods_crd_prints() {
    assert_in_sync(
        CRD,
        &agentpods::agentrun::crd_yaml(),
        "cargo run -q -- crd > deploy/crd/agentruns.agentpods.dev.yaml",
    );
}

#[test]
fn the_committed_approval_crd_is_what_agentpods_crd_approvals_prints() {
    assert_in_sync(
        APPROVAL_CRD,
        &agentpods::cluster::approvals::crd_yaml(),
        "cargo run -q -- crd --approvals > deploy/crd/agentapprovals.agentpods.dev.yaml",
    );
}

#[test]
fn the_committed_schema_is_a_draft_2020_12_schema_that_closes_every_mapping() {
    let schema: serde_json::Value =
        serde_json::from_str(&committed(SCHEMA)).expect("the schema is JSON");
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "editors pick the dialect from `$schema`"
    );
    let mut open = Vec::new();
    let defs = schema["$defs"].as_object().expect("the schema has $defs");
    for (name, def) in
        std::iter::once(("<root>", &schema)).chain(defs.iter().map(|(k, v)| (k.as_str(), v)))
    {
        if def.get("properties").is_some() && def["additionalProperties"] != false {
            open.push(name);
        }
    }
    assert!(
        open.is_empty(),
        "these mappings accept unknown keys, which the loader rejects: {open:?}"
    );
}

// ---------------------------------------------------------------------------------------
// An independent check: Python's `jsonschema` (a dependency of kubernetes-validate, in the
// crate's .venv) reads the committed schema and the example config.

// PyYAML reads YAML 1.1, where `on`, `yes` and `no` are booleans; services.yaml is YAML
// 1.2 (the trigger key `comment.on` is a string there), so only true/false are booleans.
const VALIDATE_PY: &str = r#"
import json, re, sys, yaml
from jsonschema import Draft202012Validator
class Yaml12(yaml.SafeLoader):
    pass
Yaml12.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
config = yaml.load(sys.stdin, Loader=Yaml12)
errors = sorted(Draft202012Validator(schema).iter_errors(config), key=str)
for e in errors:
    print("/".join(map(str, e.absolute_path)) or "<root>", "->", e.message)
sys.exit(1 if errors else 0)
"#;

/// A Python that has `jsonschema` and `yaml`: `$AGENTPODS_PYTHON`, else the crate's .venv.
/// Missing, a CI run (`$CI` set) fails and a local run skips with a note.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("AGENTPODS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let works = Command::new(&candidate)
        .args(["-c", "import jsonschema, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(candidate);
    }
    let how = "python3 -m venv .venv && .venv/bin/pip install kubernetes-validate==1.37.0 \
               (which brings jsonschema and PyYAML), or set $AGENTPODS_PYTHON";
    assert!(
        std::env::var_os("CI").is_none(),
        "{} cannot import jsonschema and yaml; {how}",
        candidate.display()
    );
    eprintln!(
        "NOTE: skipping the independent JSON Schema check: {} cannot import jsonschema and yaml; {how}",
        candidate.display()
    );
    None
}

/// Validates YAML text against the committed schema: the exit status and what was printed.
fn validate_with_jsonschema(python: &Path, yaml: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(VALIDATE_PY)
        .arg(root().join(SCHEMA))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write the config");
    let out = child.wait_with_output().expect("python finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_example_config_passes_an_independent_validator_and_a_broken_one_does_not() {
    let Some(python) = python() else { return };
    let example = std::fs::read_to_string(root().join("services.yaml")).expect("services.yaml");

    let (ok, output) = validate_with_jsonschema(&python, &example);
    assert!(
        ok,
        "jsonschema rejects the example services.yaml:\n{output}"
    );

    let broken = example
        .replacen(
            "fork_pull_requests: approve",
            "fork_pull_requests: sometimes",
            1,
        )
        .replacen("\nagents:\n", "\nagnets: []\nagents:\n", 1)
        .replacen("timeout: 30m", "timeout: soon", 1);
    assert_ne!(broken, example, "the edits apply to the example");
    let (ok, output) = validate_with_jsonschema(&python, &broken);
    assert!(!ok, "jsonschema accepted a broken config:\n{broken}");
    assert!(
        output.contains("github/authorization/fork_pull_requests -> 'sometimes'")
            && output.contains("'agnets' was unexpected")
            && output.contains("cluster/defaults/timeout -> 'soon' does not match"),
        "jsonschema should name all three mistakes:\n{output}"
    );
}

/// What an editor shows (the schema, through an independent validator) is what the binary
/// says: each edit of the example is accepted by both or refused by both. Before, `1.5h`
/// was red in an editor and accepted by the binary, and `0s` or a command prefix with a
/// space were green in an editor and refused by the binary.
#[test]
fn the_schema_and_the_binary_accept_the_same_edge_values() {
    let Some(python) = python() else { return };
    let example = std::fs::read_to_string(root().join("services.yaml")).expect("services.yaml");
    let cases: &[(&str, &str, &str, bool)] = &[
        ("a decimal duration", "timeout: 30m", "timeout: 1.5h", true),
        (
            "a duration in two parts",
            "timeout: 30m",
            "timeout: 1h 30m",
            true,
        ),
        ("a zero duration", "timeout: 30m", "timeout: 0s", false),
        (
            "a zero duration in two parts",
            "timeout: 30m",
            "timeout: 0m 0s",
            false,
        ),
        (
            "a duration without a unit",
            "timeout: 30m",
            "timeout: \"90\"",
            false,
        ),
        ("a negative duration", "timeout: 30m", "timeout: -5m", false),
        (
            "a command prefix with a space",
            "command_prefix: /agent",
            "command_prefix: /my bot",
            false,
        ),
        (
            "an empty command prefix",
            "command_prefix: /agent",
            "command_prefix: \"\"",
            false,
        ),
        (
            "a command prefix that is a plain word",
            "command_prefix: /agent",
            "command_prefix: bot",
            false,
        ),
        (
            "another command prefix",
            "command_prefix: /agent",
            "command_prefix: /bot",
            true,
        ),
        // New-user review 13e, N7: the schema took these three, which the binary refuses.
        (
            "a duration below a second",
            "timeout: 30m",
            "timeout: 500ms",
            false,
        ),
        (
            "a duration in microseconds",
            "timeout: 30m",
            "timeout: 90 usec",
            false,
        ),
        // New-user review 13e: the schema took a duration over a year, which the binary
        // refuses.
        (
            "a duration over a year",
            "timeout: 30m",
            "timeout: 400d",
            false,
        ),
        ("a year in hours", "timeout: 30m", "timeout: 8784h", true),
        (
            "one of the service's own verbs",
            "verbs: [run]",
            "verbs: [retry]",
            false,
        ),
    ];
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut differ = Vec::new();
    for (what, from, to, accepted) in cases {
        assert!(
            example.contains(from),
            "{what}: the example holds no {from:?}"
        );
        let edited = example.replacen(from, to, 1);
        let (schema_ok, output) = validate_with_jsonschema(&python, &edited);
        let path = dir.path().join("services.yaml");
        std::fs::write(&path, &edited).expect("write the config");
        let binary = agentpods::config::load_with(
            &path,
            Some(&root().join("templates")),
            agentpods::config::Command::Validate,
        );
        let binary_ok = binary.is_ok();
        if schema_ok != *accepted || binary_ok != *accepted {
            differ.push(format!(
                "{what} ({to}): expected {}, the schema {}, the binary {}\n{output}{}",
                if *accepted { "accepted" } else { "refused" },
                if schema_ok { "accepts" } else { "refuses" },
                if binary_ok { "accepts" } else { "refuses" },
                binary.err().map(|e| e.to_string()).unwrap_or_default()
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}

/// Every services.yaml the repository ships tells an editor where its schema is, and the
/// path leads to the committed schema, whose `$id` is where it is published. The example
/// overlay's, which docs/setup.md tells operators to copy out of the checkout, names the
/// published schema itself, so the line still works in the copy.
#[test]
fn each_shipped_services_yaml_names_the_schema_for_editors() {
    let example = committed("deploy/overlays/example/services.yaml");
    assert_eq!(
        example.lines().next(),
        Some(
            format!(
                "# yaml-language-server: $schema={}",
                agentpods::config::SCHEMA_ID
            )
            .as_str()
        ),
        "deploy/overlays/example/services.yaml is copied elsewhere: its modeline must not be relative"
    );
    for config in ["services.yaml", "deploy/base/config/services.yaml"] {
        let text = committed(config);
        let first = text.lines().next().unwrap_or_default();
        let target = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{config}: the first line is not the modeline: {first:?}"));
        let schema = root().join(config).parent().unwrap().join(target);
        assert_eq!(
            schema.canonicalize().ok(),
            root().join(SCHEMA).canonicalize().ok(),
            "{config}: {target} is not {SCHEMA}"
        );
    }
    let schema: serde_json::Value = serde_json::from_str(&committed(SCHEMA)).expect("JSON");
    assert_eq!(schema["$id"], agentpods::config::SCHEMA_ID);
    assert!(agentpods::config::SCHEMA_ID.ends_with(SCHEMA), "{}", SCHEMA);
}

/// New-user review 13b, N6: `agentpods schema | head`, or a `kubectl apply -f -` that fails
/// before it reads, closes the pipe early; the commands that print a generated file then
/// exit 1 without a word, as `render` does. Before, each panicked ("failed printing to
/// stdout: Broken pipe") and exited 101, with a backtrace under RUST_BACKTRACE=1.
#[test]
fn a_reader_that_goes_away_early_gets_no_panic() {
    use std::process::Stdio;
    for args in [
        &["schema"][..],
        &["crd"],
        &["crd", "--approvals"],
        &["admission-policy", "--templates-dir", "templates"],
    ] {
        // A pipe whose read end is closed before the command writes.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .current_dir(root())
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("run agentpods");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "agentpods {args:?}: {stderr}");
        assert!(stderr.is_empty(), "agentpods {args:?} said: {stderr}");
    }
}
