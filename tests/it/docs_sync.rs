//! docs/configuration.md is generated from the JSON Schema of services.yaml, so the
//! reference cannot fall behind the code. Regenerate it with
//!
//!     AGENTPODS_BLESS=1 cargo test --test it docs_sync::

use std::path::Path;

use agentpods::config::{json_schema, reference};

const REFERENCE: &str = "docs/configuration.md";

/// Where the generated reference ends in docs/configuration.md: what follows this line is
/// written by hand (guides to parts of the config), and regenerating keeps it.
const HAND_WRITTEN: &str =
    "<!-- End of the generated reference. What follows is written by hand. -->\n";

fn generated() -> String {
    format!("{}\n", reference::markdown(json_schema()))
}

#[test]
fn the_configuration_reference_is_what_the_schema_generates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    let generated = generated();
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    let (committed, by_hand) = match file.split_once(HAND_WRITTEN) {
        Some((generated_part, by_hand)) => (generated_part.to_string(), Some(by_hand)),
        None => (file.clone(), None),
    };
    if std::env::var_os("AGENTPODS_BLESS").is_some() {
        let mut text = generated.clone();
        if let Some(by_hand) = by_hand {
            text.push_str(HAND_WRITTEN);
            text.push_str(by_hand);
        }
        std::fs::write(&path, text).expect("write the reference");
        return;
    }
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
         AGENTPODS_BLESS=1 cargo test --test it docs_sync::\n\n\
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

/// Whether `word` appears only inside the guide's fenced examples (which name template
/// files such as `comment.md` in a ConfigMap, not guides).
fn in_fenced_example(text: &str, word: &str) -> bool {
    let mut fenced = false;
    let mut in_prose = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.contains(word) {
            in_prose = true;
        }
    }
    !in_prose
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
        "docs/benchmarks.md",
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
            if word.ends_with(".md")
                && !word.contains('/')
                && !word.contains("://")
                && !in_fenced_example(&text, word)
                && !root.join("templates").join(word).exists()
            {
                assert!(
                    root.join("docs").join(word).exists(),
                    "{guide} links to {word}, which does not exist"
                );
            }
        }
    }
}

/// docs/configuration.md's "Comment commands" table has a row for every built-in verb, as
/// the help shows it (`/agent review [focus]`), and no row for a verb that is not one: a
/// verb added to the parser's list and not documented fails here (outside review 12, R2).
#[test]
fn the_command_table_lists_every_built_in_verb() {
    use agentpods::github::command::BuiltinVerb;
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE))
        .expect(REFERENCE);
    let (_, section) = text
        .split_once("\n## Comment commands\n")
        .expect("docs/configuration.md has a section `## Comment commands`");
    let section = section.split("\n## ").next().unwrap_or(section);
    let rows: Vec<&str> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `/agent "))
        .filter_map(|line| line.split_once('`').map(|(usage, _)| usage))
        .collect();
    for verb in BuiltinVerb::ALL {
        assert!(
            rows.contains(&verb.usage()),
            "{REFERENCE}'s `## Comment commands` table has no row `/agent {}`: document the \
             built-in verb `{verb}` there",
            verb.usage()
        );
    }
    for usage in rows {
        let known = BuiltinVerb::ALL.iter().any(|verb| verb.usage() == usage);
        assert!(
            known || usage == "<verb> [args]",
            "{REFERENCE}'s `## Comment commands` table has a row `/agent {usage}`, which is no \
             built-in verb's usage"
        );
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

/// Every flag and argument of every command says in `--help` what it is for (issue 13,
/// N14): a bare `--config <CONFIG>` or `--log-format` leaves a new user guessing.
#[test]
fn every_flag_of_every_command_has_a_description() {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} --{}", arg.get_long().unwrap_or(id)));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&agentpods::cli::Cli::command(), "agentpods", &mut missing);
    assert!(
        missing.is_empty(),
        "flags without a description in --help:\n{}",
        missing.join("\n")
    );
}

/// The README's command table names every flag each command takes (and docs/agent.md
/// every flag of the pod's entrypoint), so the table cannot lag `--help`.
#[test]
fn the_readme_command_table_names_every_flag() {
    use std::process::Command;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let agent_doc = std::fs::read_to_string(root.join("docs/agent.md")).expect("docs/agent.md");
    // Each long flag, with its one-letter form when it has one (either may be shown).
    let flags = |command: &[&str]| -> Vec<(String, Option<String>)> {
        let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(command)
            .arg("--help")
            .output()
            .expect("run agentpods");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let l = l.trim_start();
                let (short, l) = match l.split_once(", ") {
                    Some((short, long)) if short.len() == 2 && short.starts_with('-') => {
                        (Some(short.to_string()), long)
                    }
                    _ => (None, l),
                };
                let flag = l.split([' ', '=']).next()?;
                (flag.starts_with("--") && flag != "--help" && flag != "--version")
                    .then(|| (flag.to_string(), short))
            })
            .collect()
    };
    let shows = |cell: &str, (long, short): &(String, Option<String>)| {
        cell.contains(long.as_str())
            || short.as_ref().is_some_and(|short| {
                cell.match_indices(short.as_str()).any(|(i, _)| {
                    let before = cell[..i].chars().last();
                    let after = cell[i + short.len()..].chars().next();
                    matches!(before, Some(' ' | '[' | '('))
                        && matches!(after, Some(' ' | ']' | ')' | '\\'))
                })
            })
    };
    // Each command, and the README row that documents it (found by its first words).
    let commands: &[(&[&str], &str)] = &[
        (&["validate"], "| `agentpods validate"),
        (&["render"], "| `agentpods render"),
        (&["schema"], "| `agentpods schema"),
        (&["crd"], "| `agentpods crd"),
        (&["serve"], "| `agentpods serve"),
        (&["replay"], "| `agentpods replay"),
        (&["runs", "list"], "| `agentpods runs list"),
        (&["runs", "logs"], "| `agentpods runs list"),
        (&["runs", "cancel"], "| `agentpods runs list"),
        (&["github-app", "create"], "| `agentpods github-app create"),
    ];
    let mut missing = Vec::new();
    for (command, row) in commands {
        let Some(line) = readme.lines().find(|l| l.starts_with(row)) else {
            missing.push(format!("README.md has no row starting {row}"));
            continue;
        };
        // The command column only: the first cell.
        let cell = line.split(" | ").next().unwrap_or(line);
        for flag in flags(command) {
            if !shows(cell, &flag) {
                missing.push(format!("agentpods {}: {}", command.join(" "), flag.0));
            }
        }
    }
    for flag in flags(&["agent"]) {
        if !shows(&agent_doc, &flag) {
            missing.push(format!("docs/agent.md: agentpods agent {}", flag.0));
        }
    }
    assert!(
        missing.is_empty(),
        "the README's command table (or docs/agent.md) lags --help:\n{}",
        missing.join("\n")
    );
}

/// docs/setup.md read top to bottom, as a new user does: its steps are numbered in order,
/// each command uses only what an earlier step made (the binary before any `agentpods`
/// command, the overlay chosen before anything is applied, the namespaces before their
/// Secrets), it says the images must be built, and both installs it offers exist.
#[test]
fn the_setup_guide_runs_top_to_bottom() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/setup.md")).expect("docs/setup.md");
    let headings: Vec<(usize, &str)> = text
        .match_indices("\n## ")
        .map(|(at, _)| (at, text[at + 4..].lines().next().unwrap_or_default()))
        .collect();
    for (i, (_, heading)) in headings.iter().enumerate() {
        assert!(
            heading.starts_with(&format!("{}. ", i + 1)),
            "step {} is {heading:?}",
            i + 1
        );
    }
    let step = |n: usize| headings[n - 1].0;
    let section_of = |at: usize| headings.iter().rposition(|(h, _)| *h < at).map(|i| i + 1);
    // The lines of the shell blocks, with where each starts.
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block;
        } else if in_block {
            commands.push((at, trimmed));
        }
        at += line.len();
    }
    let first = |what: &str| {
        commands
            .iter()
            .find(|(_, c)| c.starts_with(what) || c.contains(&format!("| {what}")))
            .map(|(at, c)| (*at, *c))
            .unwrap_or_else(|| panic!("docs/setup.md runs no `{what}`"))
    };
    let binary = headings
        .iter()
        .position(|(_, h)| h.contains("binary"))
        .expect("a step that gets the binary")
        + 1;
    let (at, c) = first("agentpods ");
    assert!(
        at > step(binary),
        "`{c}` (step {:?}) before the binary",
        section_of(at)
    );
    let overlay = headings
        .iter()
        .position(|(_, h)| h.contains("overlay"))
        .expect("a step that makes the overlay")
        + 1;
    let (at, c) = first("kubectl apply -k");
    assert!(
        at > step(overlay),
        "`{c}` (step {:?}) before the overlay",
        section_of(at)
    );
    let (namespaces, _) = first("kubectl apply -f deploy/base/namespaces.yaml");
    let (secret, c) = first("kubectl -n ");
    assert!(secret > namespaces, "`{c}` before its namespace exists");
    let (apply, _) = first("kubectl apply -k");
    assert!(apply > secret, "the install is applied before its Secrets");
    assert!(
        text.contains("**No image is published**"),
        "docs/setup.md must say that the images are built, not pulled"
    );
    for overlay in ["deploy/overlays/example", "deploy/overlays/token"] {
        assert!(
            text.contains(overlay),
            "docs/setup.md does not name {overlay}"
        );
    }
}

/// docs/templates.md, the fields a template can use for each trigger, is generated from
/// the context the code renders templates with. Regenerate it with
/// `AGENTPODS_BLESS=1 cargo test --test it docs_sync::`.
#[test]
fn the_template_field_reference_is_what_the_code_renders_with() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/templates.md");
    let generated = agentpods::render::fields::reference_markdown().expect("the reference");
    if std::env::var_os("AGENTPODS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/templates.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/templates.md is out of date with the template context. Regenerate it with\n\n    \
         AGENTPODS_BLESS=1 cargo test --test it docs_sync::"
    );
}

/// The fields of docs/templates.md's reference as `trigger field type` lines (`every` for
/// the fields every trigger gives).
fn template_fields(reference: &str) -> Vec<String> {
    let mut section = None;
    let mut fields = Vec::new();
    for line in reference.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = if heading.starts_with("Every trigger") {
                Some("every")
            } else {
                heading
                    .strip_prefix('`')
                    .and_then(|rest| rest.split('`').next())
            };
            continue;
        }
        let (Some(section), Some(row)) = (section, line.strip_prefix("| `")) else {
            continue;
        };
        let mut cells = row.split(" | ");
        if let (Some(field), Some(kind)) = (cells.next(), cells.next()) {
            fields.push(format!(
                "{section} {} {}",
                field.trim_end_matches('`'),
                kind.trim()
            ));
        }
    }
    fields
}

/// The template interface is pinned: every field operators' templates could read, as
/// released (tests/fixtures/template_fields.txt, frozen), is still in the context with its
/// type, whatever docs/templates.md was regenerated to. Renaming a field of the webhook
/// model does not reach templates (render's context has types of its own, built by
/// explicit conversions, `render/context.rs`); renaming or retyping one of those fails
/// here. A new field is added to the frozen list when it is released.
#[test]
fn no_field_a_template_could_read_is_renamed_removed_or_retyped() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template_fields.txt");
    let frozen = std::fs::read_to_string(&path).expect("tests/fixtures/template_fields.txt");
    let generated = agentpods::render::fields::reference_markdown().expect("the reference");
    let now = template_fields(&generated);
    assert!(now.len() > 100, "the reference reads as fields: {now:#?}");
    let gone: Vec<&str> = frozen
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| !now.iter().any(|n| n == l))
        .collect();
    assert!(
        gone.is_empty(),
        "templates written for an earlier agentpods read these fields, which the template \
         context no longer gives (as `trigger field type`):\n{}\n\nKeep them in \
         src/render/context.rs (map a renamed field of the webhook model to its old name \
         there); tests/fixtures/template_fields.txt is frozen.",
        gone.join("\n")
    );
}

/// Every `namespace_template` the docs show names the repository: one that reads only the
/// pull request's or issue's number puts `acme/a`'s PR #2 and `acme/b`'s in one namespace,
/// and whoever copies it from the README gets that (new-user review 13f, N13).
#[test]
fn every_namespace_template_example_names_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut seen = 0;
    let mut without = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read the page");
        for (n, line) in text.lines().enumerate() {
            let Some((_, after)) = line.split_once("namespace_template") else {
                continue;
            };
            // The example is the template text after the key: `{{ … }}` up to its end.
            let Some(start) = after.find("{{") else {
                continue;
            };
            let Some(end) = after[start..].find("}}") else {
                continue;
            };
            seen += 1;
            let example = &after[start..start + end + 2];
            if !example.contains("repo.") {
                without.push(format!("{}:{}: {example}", page.display(), n + 1));
            }
        }
    }
    assert!(
        seen >= 2,
        "only {seen} namespace_template examples found: is the scan blind?"
    );
    assert!(
        without.is_empty(),
        "namespace_template examples that do not name the repository (every repository's \
         PR #2 would share a namespace):\n{}",
        without.join("\n")
    );
}

/// docs/operations.md's `## Events` table lists every reason the controller gives an
/// Event, with its type, and no other (review 12w, R41): operators filter and alert on
/// them.
#[test]
fn the_operations_guide_lists_every_event_reason() {
    use agentpods::cluster::events::EventReason;
    const GUIDE: &str = "docs/operations.md";
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(GUIDE)).expect(GUIDE);
    let (_, section) = text
        .split_once("\n## Events\n")
        .expect("docs/operations.md has a section `## Events`");
    let section = section.split("\n## ").next().unwrap_or(section);
    let rows: Vec<(String, String)> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| {
            let (reason, rest) = line.split_once('`')?;
            let kind = rest.split('|').nth(1)?.trim();
            Some((reason.to_string(), kind.to_string()))
        })
        .collect();
    let reasons: Vec<(String, String)> = EventReason::ALL
        .iter()
        .map(|reason| {
            let kind = if reason.is_warning() {
                "Warning"
            } else {
                "Normal"
            };
            (reason.to_string(), kind.to_string())
        })
        .collect();
    assert_eq!(
        rows, reasons,
        "{GUIDE}'s `## Events` table and cluster::events::EventReason::ALL differ (reason, \
         type): a row a reason, in the order of ALL"
    );
}
