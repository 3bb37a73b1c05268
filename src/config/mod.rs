//! services.yaml: the model, checked with `file:line:column` errors (all of them at once),
//! and the template files the config refers to. Where each part is:
//!
//! - this file: the checked config's types ([`LoadedConfig`], [`Checked`], the
//!   diagnostics and [`ConfigError`]), the schema, and the check of services.yaml's text
//!   stage by stage ([`check_with_folder`]): the schema (`check.rs`), then, with the values
//!   at fault left out, the rules and the warnings, and every template's syntax. Pure.
//! - `model.rs`: what a config is (its serde types, from which the schema is derived);
//!   `formats.rs`, the formats of its values; `yaml.rs`, the reader that keeps each
//!   node's line and column.
//! - `load/`: services.yaml and its templates folder read from files, the one place
//!   `config` does I/O (`module_cycles::config_reads_files_only_in_load` holds it).
//! - `rules.rs`: what a config means beyond the schema, the problems that refuse it;
//!   `warnings.rs`: what is allowed but unwise; `images.rs`: an image reference's rules;
//!   `unused.rs`: the templates and entries nothing uses; `problems.rs`: how a rule says
//!   where its problem is; `template_syntax.rs`: every template the config uses compiles.
//! - `repository_file.rs`: a repository's own `.agentpods.yaml`.

mod check;
pub(crate) mod formats;
mod images;
mod load;
pub(crate) mod model;
mod problems;
pub mod reference;
pub(crate) mod repository_file;
mod rules;
pub(crate) mod scope;
mod template_syntax;
pub mod token;
mod trigger_globs;
mod unused;
mod warnings;
mod wrong_file;
pub(crate) mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

pub use images::{ImageCheck, check_image};
pub use load::{Command, check_file, load, load_with, unused_templates};
pub use model::*;
use problems::Flagged;
pub use repository_file::{
    MAX_REPOSITORY_FILE_BYTES, RepositoryAgent, RepositoryFile, Say, check_for, names_beyond,
    parse_repository_file,
};
use rules::semantic_checks;
use template_syntax::template_syntax;
pub use token::GithubToken;
pub use unused::{UnusedTemplates, used_templates};
use warnings::{
    comment_template_missing, fork_code_with_write_tokens, newcomer_slips,
    params_without_permission, secrets_scoped_by_name_patterns, shared_verbs,
    strangers_hold_the_only_place, tokens_beyond_the_app, unpinned_users,
};
use yaml::Pos;

use crate::suggest::did_you_mean;

/// One problem in a file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
}

/// A diagnostic with the file it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiagnostic {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for FileDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<FileDiagnostic>),
}

impl ConfigError {
    pub fn diagnostics(&self) -> &[FileDiagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render_diagnostics(diagnostics: &[FileDiagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Template files by their name relative to the templates folder (`prompts/review.md`).
pub type TemplateSources = BTreeMap<String, String>;

/// A checked services.yaml and the templates it uses.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The path given for services.yaml, as shown in messages.
    pub path: String,
    pub templates_dir: PathBuf,
    pub templates: TemplateSources,
    /// The other files of the templates folder, by name: no agent uses them, and they are
    /// not read (a picture, notes, a leftover; new-user review 13h, F1).
    pub unread_templates: BTreeSet<String>,
    /// What is allowed but unwise (an agent that runs fork code with a write token), each
    /// at its key; `validate` prints them.
    pub warnings: Vec<FileDiagnostic>,
}

/// Where the committed schema is published: its `$id`, and what a services.yaml's
/// `yaml-language-server` modeline may point at.
pub const SCHEMA_ID: &str =
    "https://raw.githubusercontent.com/agentpods/agentpods/main/schema/services.schema.json";

/// The JSON Schema of services.yaml, derived from the model.
pub fn json_schema() -> &'static serde_json::Value {
    static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
        let mut schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<Config>();
        schema.insert("$id".into(), SCHEMA_ID.into());
        serde_json::to_value(schema).unwrap_or_default()
    });
    &SCHEMA
}

/// The text of a file, or where its first byte that is not UTF-8 is. A leading byte-order
/// mark, which Windows editors and PowerShell 5's `Out-File` write, is not part of the text
/// (new-user review 13c, N6: it made the first key `\u{feff}project`, and a YAML template's
/// output invalid).
fn utf8<'b>(bytes: &'b [u8], shown: &str) -> Result<&'b str, ConfigError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        ConfigError::Invalid(vec![FileDiagnostic {
            file: shown.to_string(),
            pos: Pos::at_byte(&good, good.len()),
            message: format!(
                "the file is not UTF-8 text (byte 0x{:02x})",
                bytes[e.valid_up_to()]
            ),
        }])
    })
}

/// What checking services.yaml and its templates found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every problem, sorted by file, line and column.
    pub diagnostics: Vec<FileDiagnostic>,
    /// Without problems, the config. With some, the config as it reads with the values at
    /// fault left out (their defaults instead), keeping only the agents whose templates
    /// render as they would once the problems are fixed (an agent with a problem of its
    /// own, or one in what its templates read, is left out), and only the templates that
    /// compile: so `validate` can render what can be rendered and report the template
    /// problems in the same run. `None` when the file does not read as a config without
    /// the values at fault (a required key missing, a YAML syntax error).
    pub config: Option<LoadedConfig>,
}

impl Checked {
    /// The config, or every problem found.
    pub fn into_result(self) -> Result<LoadedConfig, ConfigError> {
        match self.config {
            Some(loaded) if self.diagnostics.is_empty() => Ok(loaded),
            _ => Err(ConfigError::Invalid(self.diagnostics)),
        }
    }
}

/// Checks services.yaml text (named `file` in messages) with the given templates.
/// Pure: no I/O.
pub fn parse(
    text: &str,
    file: &str,
    templates: TemplateSources,
) -> Result<LoadedConfig, ConfigError> {
    check(text, file, templates).into_result()
}

/// Checks services.yaml text (named `file` in messages) with the given templates, finding
/// every problem it can in one pass: the keys and values the schema refuses, then (with
/// those values left out) the references and rules it cannot express, and every
/// template's syntax. Pure: no I/O.
pub fn check(text: &str, file: &str, templates: TemplateSources) -> Checked {
    check_with_folder(text, file, templates, None)
}

/// [`check`], with the templates read from `folder` (as shown in messages) rather than
/// from the folder `templates_dir` names beside `file` (`--templates-dir`).
pub fn check_with_folder(
    text: &str,
    file: &str,
    templates: TemplateSources,
    folder: Option<&Path>,
) -> Checked {
    let at = |d: Diagnostic| FileDiagnostic {
        file: file.to_string(),
        pos: d.pos,
        message: d.message,
    };
    let only = |diagnostics: Vec<FileDiagnostic>| Checked {
        diagnostics: sorted(diagnostics),
        config: None,
    };
    let required: Vec<&str> = json_schema()["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str())
        .collect();
    let known: Vec<&str> = json_schema()["properties"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.keys().map(String::as_str))
        .collect();
    let parsed = yaml::parse(text);
    // Another kind of file (a template, a kustomization, a payload): said first, and only.
    if let Some(message) = wrong_file::not_a_config(text, parsed.as_ref().ok(), &required, &known) {
        return only(vec![at(Diagnostic {
            pos: Pos { line: 1, col: 1 },
            message,
        })]);
    }
    let tree = match parsed {
        Ok(tree) => tree,
        Err(issues) => {
            return only(
                issues
                    .into_iter()
                    .map(|i| {
                        at(Diagnostic {
                            pos: i.pos,
                            message: i.message,
                        })
                    })
                    .collect(),
            );
        }
    };
    if tree.kind == yaml::NodeKind::Null {
        return only(vec![at(Diagnostic {
            pos: tree.pos,
            message: format!(
                "the file is empty; a config needs at least {}",
                wrong_file::listed(&required, "and")
            ),
        })]);
    }
    let found = check::SchemaChecker::new(json_schema()).check(&tree);
    let mut all: Vec<FileDiagnostic> = found.iter().map(|f| at(f.diagnostic.clone())).collect();
    // The templates compile or not whatever the config says.
    let dir_name = match tree.get_path(&["templates_dir"]).map(|n| &n.kind) {
        Some(yaml::NodeKind::Str(dir)) => dir.clone(),
        _ => "templates".to_string(),
    };
    let folder = match folder {
        Some(folder) => folder.to_path_buf(),
        None => Path::new(file)
            .parent()
            .unwrap_or(Path::new(""))
            .join(&dir_name),
    };
    let used = unused::used_by_tree(&tree, &templates);
    let (syntax, broken) = template_syntax(&folder, &templates, &used);
    all.extend(syntax);
    // The rest of the file is read without the values at fault, as if they were not
    // written: what follows from them is not reported (see `Flagged::reads`).
    let mut faults: Vec<Vec<String>> = found.iter().map(|f| fault_path(&f.path)).collect();
    let mut pruned = tree.clone();
    for fault in &faults {
        pruned.remove(fault);
    }
    // A merge key (`<<: *name`) stood for keys of its mapping: all of it is in doubt.
    let merged: Vec<Vec<String>> = faults
        .iter()
        .filter(|f| f.last().is_some_and(|k| k == "<<"))
        .map(|f| f[..f.len() - 1].to_vec())
        .collect();
    faults.extend(merged);
    let deserialized = if found.iter().any(|f| f.missing) {
        None
    } else {
        match serde_path_to_error::deserialize::<_, Config>(pruned.to_json()) {
            Ok(config) => Some(config),
            Err(e) => {
                if found.is_empty() {
                    let path: Vec<String> = e.path().iter().map(segment).collect();
                    let message = format!("{}{}", check::prefix(&path), e.inner());
                    all.push(at(Diagnostic {
                        pos: tree.pos_of(&path),
                        message,
                    }));
                }
                None
            }
        }
    };
    let Some(mut config) = deserialized else {
        return only(all);
    };
    let semantic = semantic_checks(&config, &pruned, &templates, &folder);
    let semantic: Vec<Flagged> = semantic
        .into_iter()
        .filter(|s| {
            !faults
                .iter()
                .any(|f| s.reads.iter().any(|r| f.starts_with(r) || r.starts_with(f)))
        })
        .collect();
    if found.is_empty() && semantic.is_empty() && all.is_empty() {
        let warnings = sorted(
            fork_code_with_write_tokens(&config, &tree)
                .into_iter()
                .chain(tokens_beyond_the_app(&config, &tree))
                .chain(params_without_permission(&config, &tree))
                .chain(comment_template_missing(&config, &tree, &templates))
                .chain(unpinned_users(&config, &tree))
                .chain(strangers_hold_the_only_place(&config, &tree))
                .chain(newcomer_slips(&config, &tree))
                .chain(shared_verbs(&config, &tree))
                .chain(secrets_scoped_by_name_patterns(&config, &tree))
                .chain(unused::unused_entries(&config, &tree, &templates))
                .map(at)
                .collect(),
        );
        return Checked {
            diagnostics: Vec::new(),
            config: Some(LoadedConfig {
                config,
                path: file.to_string(),
                templates_dir: PathBuf::from("templates"),
                templates,
                unread_templates: BTreeSet::new(),
                warnings,
            }),
        };
    }
    // What can still be rendered: the agents that nothing found is about.
    let mut unrenderable: Vec<usize> = Vec::new();
    let mut none_renders = false;
    for path in faults.iter().filter(|f| !renders_as_fixed(f)).chain(
        semantic
            .iter()
            .filter(|s| !s.path.starts_with(&["github".to_string()]))
            .map(|s| &s.path),
    ) {
        match (
            path.first().map(String::as_str),
            path.get(1).and_then(|i| i.parse().ok()),
        ) {
            (Some("agents"), Some(i)) => unrenderable.push(i),
            _ => none_renders = true,
        }
    }
    let kept: Vec<Agent> = config
        .agents
        .iter()
        .enumerate()
        .filter(|(i, agent)| {
            !none_renders
                && !unrenderable.contains(i)
                && !agent
                    .prompt
                    .iter()
                    .chain(&agent.templates)
                    .any(|t| broken.contains(t))
        })
        .map(|(_, agent)| agent.clone())
        .collect();
    config.agents = kept;
    all.extend(semantic.into_iter().map(|s| at(s.diagnostic)));
    let mut templates = templates;
    templates.retain(|name, _| !broken.contains(name));
    Checked {
        diagnostics: sorted(all),
        config: Some(LoadedConfig {
            config,
            path: file.to_string(),
            templates_dir: PathBuf::from("templates"),
            templates,
            unread_templates: BTreeSet::new(),
            warnings: Vec::new(),
        }),
    }
}

/// What is left out of the file for a problem at `path`: the value, or for an item of a
/// list the whole list (so that the indexes of the items left stay those of the file).
fn fault_path(path: &[String]) -> Vec<String> {
    let mut path = path.to_vec();
    while path.last().is_some_and(|p| p.parse::<usize>().is_ok()) {
        path.pop();
    }
    path
}

/// Keys of an agent whose default, when the value written is left out, renders its
/// templates as the fixed value would, or fails no template the fixed value passes.
const SAFE_AGENT_KEYS: [&str; 10] = [
    "description",
    "repositories",
    "prompt",
    "command",
    "triggers",
    "concurrency",
    "timeout",
    "pending_timeout",
    "ttl_after_finished",
    "resources",
];

/// Keys of an agent that templates read, so that their defaults could fail a template the
/// fixed value passes (or pass one it fails).
const READ_AGENT_KEYS: [&str; 11] = [
    "name",
    "templates",
    "image",
    "env",
    "params",
    "secrets",
    "service_account",
    "namespace",
    "pod_security",
    "automount_service_account_token",
    "github_token",
];

/// Whether the templates render as they would once the problem at `path` (left out of the
/// file) is fixed: a misspelt or invalid key that no template reads.
fn renders_as_fixed(path: &[String]) -> bool {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["github", ..] => true,
        ["cluster", "defaults", key, ..] => [
            "timeout",
            "pending_timeout",
            "ttl_after_finished",
            "resources",
        ]
        .contains(key),
        ["agents", _, key, ..] => {
            SAFE_AGENT_KEYS.contains(key)
                || (!READ_AGENT_KEYS.contains(key)
                    && did_you_mean(key, READ_AGENT_KEYS.iter().copied()).is_none())
        }
        _ => false,
    }
}

/// Whether runs comment on their pull request or issue (with `comment.md`, when the folder
/// has it).
fn posts_comments(config: &Config) -> bool {
    config.github.report.comment
        && config.agents.iter().any(|a| {
            a.triggers.pull_request.is_some()
                || a.triggers.issues.is_some()
                || a.triggers.comment.is_some()
        })
}

fn segment(s: &serde_path_to_error::Segment) -> String {
    use serde_path_to_error::Segment;
    match s {
        Segment::Seq { index } => index.to_string(),
        Segment::Map { key } => key.clone(),
        Segment::Enum { variant } => variant.clone(),
        Segment::Unknown => "?".into(),
    }
}

fn sorted(mut d: Vec<FileDiagnostic>) -> Vec<FileDiagnostic> {
    d.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    d.dedup();
    d
}

/// The template of each run's comment on GitHub.
pub const COMMENT_TEMPLATE: &str = "comment.md";
