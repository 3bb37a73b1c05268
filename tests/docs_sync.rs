//! docs/configuration.md is generated from the JSON Schema of services.yaml, so the
//! reference cannot fall behind the code. Regenerate it with
//!
//!     AGENTPODS_BLESS=1 cargo test --test docs_sync

use std::path::Path;

use agentpods::config::{json_schema, reference};

const REFERENCE: &str = "docs/configuration.md";

fn generated() -> String {
    format!("{}\n", reference::markdown(json_schema()))
}

#[test]
fn the_configuration_reference_is_what_the_schema_generates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    let generated = generated();
    if std::env::var_os("AGENTPODS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the reference");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    let (number, (old, new)) = committed
        .lines()
        .chain(std::iter::repeat("<end of file>"))
        .zip(generated.lines().chain(std::iter::repeat("<end of file>")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((0, ("", "")));
    panic!(
        "{REFERENCE} is out of date with the schema. Regenerate it with\n\n    \
         AGENTPODS_BLESS=1 cargo test --test docs_sync\n\n\
         first difference at line {}:\n  committed: {old}\n  generated: {new}",
        number + 1
    );
}

#[test]
fn every_key_of_the_schema_is_in_the_reference() {
    let text = generated();
    let schema = json_schema();
    let mut keys = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(props) = map.get("properties").and_then(|p| p.as_object()) {
                    keys.extend(props.keys().cloned());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(keys.len() > 30, "the walk found the keys: {keys:?}");
    for key in keys {
        assert!(
            text.contains(&format!("| `{key}` |")),
            "`{key}` is not in the reference"
        );
    }
}

/// The guides name files a reader will look for: each `deploy/…` or `docs/…` path in them
/// exists, and each relative link points at a file.
#[test]
fn the_guides_name_only_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for guide in [
        "docs/setup.md",
        "docs/security.md",
        "docs/operations.md",
        "docs/agent.md",
    ] {
        let text = std::fs::read_to_string(root.join(guide)).expect(guide);
        let words = text.split(|c: char| c.is_whitespace() || "`()[],".contains(c));
        for word in words {
            let word = word.trim_end_matches(['.', ':', ';']);
            let is_repo_path =
                (word.starts_with("deploy/") || word.starts_with("docs/")) && !word.contains('<');
            if is_repo_path {
                assert!(
                    root.join(word).exists(),
                    "{guide} names {word}, which does not exist"
                );
            }
            if word.ends_with(".md") && !word.contains('/') && !word.contains("://") {
                assert!(
                    root.join("docs").join(word).exists(),
                    "{guide} links to {word}, which does not exist"
                );
            }
        }
    }
}

/// docs/agent.md's table lists every option of `agentpods agent`.
#[test]
fn the_agent_page_lists_every_option_of_the_entrypoint() {
    use clap::CommandFactory;
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent.md"))
        .expect("docs/agent.md");
    let cli = agentpods::cli::Cli::command();
    let agent = cli.find_subcommand("agent").expect("the agent subcommand");
    for arg in agent.get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                text.contains(&format!("`--{long}`")),
                "docs/agent.md lacks --{long}"
            );
        }
    }
}
