//! services.yaml: the model, loading with `file:line:column` errors (all of them at once),
//! and the template files the config refers to.

mod check;
pub(crate) mod formats;
pub(crate) mod model;
pub mod reference;
pub(crate) mod repository_file;
pub(crate) mod scope;
mod templates_folder;
pub mod token;
mod trigger_globs;
mod unused;
mod wrong_file;
pub(crate) mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

pub use model::*;
pub use repository_file::{
    MAX_REPOSITORY_FILE_BYTES, RepositoryAgent, RepositoryFile, Say, check_for, names_beyond,
    parse_repository_file,
};
pub use token::GithubToken;
pub use unused::{UnusedTemplates, unused_templates, used_templates};
use yaml::{Node, Pos};

use crate::github::command::BuiltinVerb;
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

/// The names of the service's own command verbs, which an agent cannot take: the
/// built-in verbs that start no agent (`github::command::BuiltinVerb::reserved`).
fn reserved_verbs() -> impl Iterator<Item = &'static str> {
    BuiltinVerb::reserved().map(BuiltinVerb::name)
}

const MAX_TEMPLATE_FILES: usize = 500;
/// How many entries of the templates folder and its folders are looked at, at most.
const MAX_LISTED_ENTRIES: usize = 5000;
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

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

/// The command that reads services.yaml, for the examples its messages give: a missing
/// templates folder's names the command run (new-user review 13h, F12: `admission-policy`
/// was shown `agentpods validate --templates-dir templates …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Validate,
    Render,
    Serve,
    AdmissionPolicy,
}

impl Command {
    /// The command again, reading the templates of `templates`, for the config `shown`.
    fn with_templates_dir(self, shown: &str) -> String {
        let name = match self {
            Command::Validate => "validate",
            Command::Render => "render",
            Command::Serve => "serve",
            Command::AdmissionPolicy => "admission-policy",
        };
        let rest = match self {
            Command::Render => " --event … --payload …",
            _ => "",
        };
        format!("agentpods {name} --templates-dir templates {shown}{rest}")
    }
}

/// Reads services.yaml and its templates folder, and checks both.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    load_with(path, None, Command::Validate)
}

/// The same, reading the templates from `templates_dir` when given rather than from the
/// config's own `templates_dir` (for checking an installed config from a checkout), for
/// `command`.
pub fn load_with(
    path: &Path,
    templates_dir: Option<&Path>,
    command: Command,
) -> Result<LoadedConfig, ConfigError> {
    check_file(path, templates_dir, command)?.into_result()
}

/// Reads services.yaml and its templates folder, and checks both: every problem found (not
/// only the first stage's), and the config as far as it reads (see [`Checked`]). An error
/// only when a file cannot be read. `command` is the one that reads it, for the examples.
pub fn check_file(
    path: &Path,
    templates_dir: Option<&Path>,
    command: Command,
) -> Result<Checked, ConfigError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = utf8(&bytes, &shown)?;
    let base = path.parent().unwrap_or(Path::new("."));
    // The templates folder is named inside the file: read it leniently first.
    // (With the spanned reader, whose alias and depth bounds hold for this read too.)
    let lenient = yaml::parse(text).ok();
    let written =
        lenient.as_ref().and_then(
            |tree| match tree.get_path(&["templates_dir"])?.kind.clone() {
                yaml::NodeKind::Str(dir) => Some(dir),
                _ => None,
            },
        );
    let dir_name = written.clone().unwrap_or_else(|| "templates".into());
    let templates_dir_override = templates_dir.is_some();
    let templates_dir = match templates_dir {
        Some(dir) => dir.to_path_buf(),
        None => base.join(&dir_name),
    };
    let listed = list_templates(&templates_dir)?;
    let (templates, unread) = read_used(&listed, lenient.as_ref())?;
    let missing = !templates_dir.is_dir();
    let given = templates_dir_override.then_some(templates_dir.as_path());
    let mut checked = check_with_folder(text, &shown, templates, given);
    let not_a_config = checked
        .diagnostics
        .iter()
        .any(|d| d.message.starts_with(wrong_file::NOT_A_CONFIG));
    if missing && !checked.diagnostics.is_empty() && !not_a_config {
        // Every template is missing when the folder is: say which folder, once.
        checked
            .diagnostics
            .retain(|d| !d.message.contains(NOT_IN_FOLDER));
        checked.config = None;
        let given = templates_dir.display();
        // A name near one of the folders beside it (new-user review 13f, N7).
        let near = templates_folder::near(&templates_dir);
        // A file given as the folder is said to be one (review 13i, F7).
        let gone = if templates_dir.is_file() {
            "is a file, not a folder"
        } else {
            "does not exist"
        };
        let (pos, message) = if templates_dir_given(templates_dir.as_path(), base, &dir_name) {
            // Not written: a default is not the file's say (new-user review 13f, N6).
            let said = match &written {
                None => "the default `templates_dir`: `templates` beside this file".to_string(),
                Some(dir) if Path::new(dir).is_absolute() => format!("`templates_dir: {dir}`"),
                Some(dir) => format!("`templates_dir: {dir}`, relative to this file"),
            };
            let message = match &near {
                Some(near) => format!(
                    "the templates folder `{given}` {gone} ({said}), did you mean \
                     `templates_dir: {}`?",
                    Path::new(&dir_name).with_file_name(near).display()
                ),
                None => format!(
                    "the templates folder `{given}` {gone} ({said}); to check this \
                     config with other templates, such as a checkout's, give their folder \
                     with --templates-dir (as in `{}`, in a checkout)",
                    command.with_templates_dir(&shown)
                ),
            };
            (templates_dir_line(text), message)
        } else {
            (
                Pos { line: 1, col: 1 },
                format!(
                    "the templates folder `{given}` (from --templates-dir) {gone}{}",
                    near.map_or(String::new(), |near| format!(
                        ", did you mean `{}`?",
                        templates_dir.with_file_name(near).display()
                    ))
                ),
            )
        };
        checked.diagnostics.insert(
            0,
            FileDiagnostic {
                file: shown.clone(),
                pos,
                message,
            },
        );
    }
    // The folder holds none of what services.yaml names, and the one above or below it
    // does: one line naming it, not one a template (new-user review 13f, N7).
    let elsewhere = lenient
        .as_ref()
        .filter(|_| {
            checked
                .diagnostics
                .iter()
                .any(|d| d.message.contains(NOT_IN_FOLDER))
        })
        .and_then(|tree| templates_folder::holding(&templates_dir, &templates_folder::named(tree)));
    if let Some(holding) = elsewhere {
        checked
            .diagnostics
            .retain(|d| !d.message.contains(NOT_IN_FOLDER));
        checked.config = None;
        let shown_dir = templates_dir.display();
        let (pos, message) = if templates_dir_given(templates_dir.as_path(), base, &dir_name) {
            let write = holding.strip_prefix(base).unwrap_or(&holding);
            let write = if write.as_os_str().is_empty() {
                Path::new(".")
            } else {
                write
            };
            (
                templates_dir_line(text),
                format!(
                    "the templates folder `{shown_dir}` (`templates_dir: {dir_name}`) does not \
                     hold the templates services.yaml names; `{}` does: write `templates_dir: \
                     {}`",
                    holding.display(),
                    write.display()
                ),
            )
        } else {
            (
                Pos { line: 1, col: 1 },
                format!(
                    "the templates folder `{shown_dir}` (from --templates-dir) does not hold \
                     the templates services.yaml names; `{}` does: give --templates-dir {}",
                    holding.display(),
                    holding.display()
                ),
            )
        };
        checked.diagnostics.insert(
            0,
            FileDiagnostic {
                file: shown.clone(),
                pos,
                message,
            },
        );
    }
    if let Some(loaded) = &mut checked.config {
        loaded.templates_dir = templates_dir;
        loaded.templates.retain(|name, _| !unread.contains(name));
        loaded.unread_templates = unread;
    }
    Ok(checked)
}

/// Where services.yaml writes `templates_dir` (its first line when it does not).
fn templates_dir_line(text: &str) -> Pos {
    let line = text
        .lines()
        .position(|l| l.starts_with("templates_dir:"))
        .map_or(1, |i| i + 1);
    Pos { line, col: 1 }
}

/// Whether the templates folder is the one services.yaml names (not an override).
fn templates_dir_given(dir: &Path, base: &Path, dir_name: &str) -> bool {
    dir == base.join(dir_name)
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

/// The template files of `dir` by their name relative to it, listed without being read
/// (new-user review 13h, F1, F2): a bounded walk, past hidden files and folders and an
/// editor's backup (`agent-pod.yaml~`), so that a folder given one level off (`.` in a
/// checkout, with its `target/`) lists quickly. Only the folder itself must be readable.
fn list_templates(dir: &Path) -> Result<BTreeMap<String, PathBuf>, ConfigError> {
    let mut out = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let failed = |source| ConfigError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut stack = vec![dir.to_path_buf()];
    // Folders listed, by their real path: a symbolic link back up is listed once.
    let mut seen = std::collections::BTreeSet::new();
    let mut visited = 0usize;
    while let Some(folder) = stack.pop() {
        let Ok(real) = std::fs::canonicalize(&folder) else {
            continue;
        };
        if !seen.insert(real) {
            continue;
        }
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(source) if folder == dir => return Err(failed(source)),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            visited += 1;
            if visited > MAX_LISTED_ENTRIES || out.len() >= MAX_TEMPLATE_FILES {
                return Ok(out);
            }
            let path = entry.path();
            let name = entry.file_name();
            // Hidden files, and an editor's backup (`agent-pod.yaml~`), are not templates.
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.ends_with('~') {
                continue;
            }
            // Through symbolic links: a ConfigMap volume holds nothing else (each key is a
            // link into `..data`), so templates mounted from one are listed, not skipped.
            let Ok(kind) = std::fs::metadata(&path).map(|m| m.file_type()) else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(key, path);
            }
        }
    }
    Ok(out)
}

/// The templates of `listed` that services.yaml's `tree` may use (see
/// [`unused::used_by_tree`]), read, and what they name, read in turn; the others are in the
/// sources by their name only, empty, and returned as unread: a picture or a large file
/// next to the templates is no template, and never read (new-user review 13h, F1).
fn read_used(
    listed: &BTreeMap<String, PathBuf>,
    tree: Option<&yaml::Node>,
) -> Result<(TemplateSources, BTreeSet<String>), ConfigError> {
    let mut sources: TemplateSources = listed.keys().map(|k| (k.clone(), String::new())).collect();
    let mut unread: BTreeSet<String> = listed.keys().cloned().collect();
    let Some(tree) = tree else {
        return Ok((sources, unread));
    };
    loop {
        let next: Vec<String> = unused::used_by_tree(tree, &sources)
            .into_iter()
            .filter(|name| unread.contains(*name))
            .map(String::from)
            .collect();
        if next.is_empty() {
            return Ok((sources, unread));
        }
        for name in next {
            let text = read_template(&listed[&name])?;
            unread.remove(&name);
            sources.insert(name, text);
        }
    }
}

/// The text of one template file, at most [`MAX_TEMPLATE_BYTES`] of UTF-8.
fn read_template(path: &Path) -> Result<String, ConfigError> {
    let failed = |source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(failed)?.len();
    if size > MAX_TEMPLATE_BYTES {
        return Err(failed(std::io::Error::other(format!(
            "a template may be at most {MAX_TEMPLATE_BYTES} bytes; this one has {size}"
        ))));
    }
    let bytes = std::fs::read(path).map_err(failed)?;
    Ok(utf8(&bytes, &path.display().to_string())?.to_string())
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

/// A config that posts comments (runs on pull requests or issues, `github.report.comment`
/// on) from a templates folder without `comment.md`: each comment is then agentpods' plain
/// one, which may not be what a folder of one's own meant.
/// Who else sets the environment variable `name` that `agent`'s `env` gives (new-user
/// review 13e, N10: it was taken silently, and the pod had it twice): agentpods itself
/// (`AGENTPODS_*`, `HOME`), a secret the agent is given, or a template of the agent that
/// writes it by name (`- name: GITHUB_API_URL` followed by its `value`).
fn env_set_elsewhere(
    config: &Config,
    agent: &Agent,
    name: &str,
    templates: &TemplateSources,
) -> Option<String> {
    if name.starts_with("AGENTPODS_") {
        return Some(
            "agentpods' own (`AGENTPODS_*` names tell its steps the run, the task and the \
             checkout)"
                .into(),
        );
    }
    if name == "HOME" {
        return Some("set by agentpods' pod (the agent's home folder)".into());
    }
    for entry in &agent.secrets {
        let Some(secret) = config.secrets.get(entry) else {
            continue;
        };
        if secret.env_name(entry) == name {
            return Some(format!(
                "also the variable of secret `{entry}`, which the agent is given (or give the \
                 secret another `env`)"
            ));
        }
    }
    for template in &agent.templates {
        let Some(source) = templates.get(template) else {
            continue;
        };
        let lines: Vec<&str> = source.lines().collect();
        let written = lines.windows(2).position(|pair| {
            let item = pair[0].trim().strip_prefix("- name:").map(str::trim);
            let value = pair[1].trim();
            item == Some(name) && (value.starts_with("value:") || value.starts_with("valueFrom:"))
        });
        if let Some(i) = written {
            return Some(format!(
                "set by its template `{template}` too (line {})",
                i + 1
            ));
        }
    }
    None
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

fn comment_template_missing(
    config: &Config,
    tree: &Node,
    templates: &TemplateSources,
) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    if posts_comments(config) && !templates.contains_key(COMMENT_TEMPLATE) {
        problems.at(
            &["templates_dir"],
            format!(
                "warning: template `{COMMENT_TEMPLATE}` is not in the templates folder, so each \
                 run's comment on a pull request or an issue will be agentpods' plain one; \
                 copy the shipped templates/{COMMENT_TEMPLATE} to change it, or set \
                 `github.report.comment: false` for none"
            ),
        );
    }
    problems.diagnostics()
}

/// `allowed_users` entries that name a login without its account's id: GitHub frees a
/// login when its account is renamed, and whoever registers it then holds the entry
/// (outside review A4).
fn unpinned_users(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    let users = &config.github.authorization.allowed_users;
    for (i, user) in users.iter().enumerate().filter(|(_, u)| u.id().is_none()) {
        let login = user.login();
        problems.at(
            &["github", "authorization", "allowed_users", &i.to_string()],
            format!(
                "warning: allowed_users entry `{login}` is a login, not pinned to an account: \
                 GitHub frees a login when its account is renamed, and whoever registers it \
                 then may start every agent and approve fork heads; write `{login}:<id>` with \
                 the `id` that https://api.github.com/users/{login} gives"
            ),
        );
    }
    problems.diagnostics()
}

/// Whether a `repositories` entry takes in repositories by a pattern over their names
/// (`acme/payments-*`, `*/docs`) rather than by name or as a whole owner (`acme/*`).
fn name_pattern(glob: &str) -> bool {
    if glob.starts_with('!') {
        return false;
    }
    glob.split_once('/')
        .is_some_and(|(owner, name)| owner.contains('*') || (name.contains('*') && name != "*"))
}

/// Secrets, and agents that carry secrets, scoped by a pattern over repository names:
/// whoever can create a repository, or rename one, into the pattern (in an organisation,
/// any member by default) gets the secret in that repository's runs (outside review 11c,
/// A4).
fn secrets_scoped_by_name_patterns(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    let advice = "a repository anyone creates or renames to match it (in an organisation, \
                  any member by default) gets";
    let what_to_do = "list exact names instead, install the App on selected repositories \
                      only, and restrict who may create repositories (docs/security.md)";
    for (name, secret) in &config.secrets {
        for (j, glob) in secret.repositories.iter().flatten().enumerate() {
            if name_pattern(glob.as_str()) {
                problems.at(
                    &["secrets", name, "repositories", &j.to_string()],
                    format!(
                        "warning: secret `{name}` is for `{}`, a pattern over names: {advice} \
                         the secret in its runs; {what_to_do}",
                        formats::shorten(glob.as_str())
                    ),
                );
            }
        }
    }
    for (i, agent) in config.agents.iter().enumerate() {
        if agent.secrets.is_empty() {
            continue;
        }
        for (j, glob) in agent.repositories.iter().flatten().enumerate() {
            if name_pattern(glob.as_str()) {
                problems.at(
                    &["agents", &i.to_string(), "repositories", &j.to_string()],
                    format!(
                        "warning: agent `{}` carries secrets ({}) and runs for `{}`, a pattern \
                         over names: {advice} this agent and its secrets; {what_to_do}",
                        agent.name,
                        agent.secrets.join(", "),
                        formats::shorten(glob.as_str())
                    ),
                );
            }
        }
    }
    problems.diagnostics()
}

/// What `validate` says of an image reference, wherever it is written: in services.yaml's
/// `images`, or in a container of a template (an init container, a sidecar, a Job's), so
/// that an image no entry names is held to the same rules (new-user review, N8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageCheck {
    /// Well formed, and pinned to a version or a digest.
    Fine,
    /// What the kubelet refuses (InvalidImageName), and what to write.
    Refused(String),
    /// A warning (it starts `warning: `): no tag, or the tag `latest`, which moves.
    Unpinned(String),
}

/// Checks `image` as the kubelet reads it, then whether it is pinned.
pub fn check_image(image: &str) -> ImageCheck {
    if let Err(why) = formats::Format::Image.check(image) {
        return ImageCheck::Refused(why);
    }
    if let Some(lower) = lower_case_image(image) {
        return ImageCheck::Refused(lower_case_refusal(image, &lower));
    }
    match unpinned_image(image) {
        Some(warning) => ImageCheck::Unpinned(warning),
        None => ImageCheck::Fine,
    }
}

fn lower_case_refusal(image: &str, lower: &str) -> String {
    format!(
        "image `{image}`: a repository path is lower case, and the kubelet refuses this one \
         (InvalidImageName); write `{lower}`"
    )
}

/// The warning for an image that pulls whatever its tag is then: none (`latest`), or
/// `latest` written out, which moves all the same (new-user review 13c, N5; 13b, N16).
fn unpinned_image(image: &str) -> Option<String> {
    let last = image.rsplit('/').next().unwrap_or_default();
    if !last.contains([':', '@']) {
        return Some(format!(
            "warning: image `{image}` has no tag, so every pod pulls whatever `latest` is \
             then; pin a version (`{image}:1.2.3`) or a digest"
        ));
    }
    let named = image.strip_suffix(":latest")?;
    (!named.ends_with('/') && !last.contains('@')).then(|| {
        format!(
            "warning: image `{image}` names the tag `latest`, which moves, so every pod pulls \
             whatever `latest` is then; pin a version (`{named}:1.2.3`) or a digest"
        )
    })
}

/// An image reference with its repository path in lower case, when it is not (the
/// registry host and the tag may hold upper case; the path may not).
fn lower_case_image(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    // A tag follows the last `:` after the last `/` (a `:` before it is a registry's port).
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (name, None),
    };
    let (host, repository) = match path.split_once('/') {
        Some((h, r)) if h.contains(['.', ':']) || h == "localhost" => (Some(h), r),
        _ => (None, path),
    };
    if !repository.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = host.map(|h| format!("{h}/")).unwrap_or_default();
    out.push_str(&repository.to_ascii_lowercase());
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    }
    Some(out)
}

/// Namespaces runs should not be put in: the one deploy/ runs the service in (its Secret
/// holds the GitHub App's private key) and Kubernetes' own.
const NOT_FOR_RUNS: [&str; 5] = [
    "agentpods",
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
];

/// Warnings about values a newcomer writes that load but do not do what they seem to: an
/// agent's program written with its arguments as one string (it runs without a shell), an
/// image without a tag, runs in the service's own namespace or Kubernetes'.
/// A verb two agents answer on the same kind of thread, in repositories they may share:
/// one comment starts both (new-user review 13b, N16). Meant at times (two reviewers), so
/// a warning, at the second agent's verb.
fn shared_verbs(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    let prefix = &config.github.command_prefix;
    for (j, second) in config.agents.iter().enumerate() {
        let Some(theirs) = &second.triggers.comment else {
            continue;
        };
        for (k, verb) in theirs.verbs.iter().enumerate() {
            let verb = verb.as_str();
            let first = config.agents[..j].iter().find(|first| {
                first.triggers.comment.as_ref().is_some_and(|ours| {
                    ours.verbs.iter().any(|v| v.as_str() == verb)
                        && ours.targets.iter().any(|t| theirs.targets.contains(t))
                        && first.scope().may_share(second.scope())
                })
            });
            if let Some(first) = first {
                problems.at(
                    &[
                        "agents",
                        &j.to_string(),
                        "triggers",
                        "comment",
                        "verbs",
                        &k.to_string(),
                    ],
                    format!(
                        "warning: agent `{}` answers `{prefix} {verb}` as agent `{}` does, so \
                         one such comment starts both; if that is not meant, give one of them \
                         another verb",
                        second.name, first.name
                    ),
                );
            }
        }
    }
    problems.diagnostics()
}

fn newcomer_slips(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    for (i, agent) in config.agents.iter().enumerate() {
        if let Some(program) = agent.command.first()
            && program.trim().contains(' ')
        {
            let words: Vec<&str> = agent
                .command
                .iter()
                .flat_map(|c| c.split_whitespace())
                .collect();
            problems.at(
                &["agents", &i.to_string(), "command", "0"],
                format!(
                    "warning: agent `{}`: `{program}` holds a space, but the command runs \
                     without a shell, so this names one program called `{program}`; give \
                     each word its own item: `[{}]`",
                    agent.name,
                    words.join(", ")
                ),
            );
        }
        // A key in plain sight: `env` goes into the pod spec, readable by whoever may read
        // pods (new-user review 13c, N12). The value is never repeated.
        for name in agent.env.keys() {
            // By whole words, so that `MAX_TOKENS` is not one.
            let upper = name.as_str().to_ascii_uppercase();
            let words: Vec<&str> = upper.split('_').collect();
            let secret_like = upper.contains("API_KEY")
                || words
                    .iter()
                    .any(|w| ["TOKEN", "SECRET", "PASSWORD", "PASSWD"].contains(w));
            if secret_like {
                problems.at(
                    &["agents", &i.to_string(), "env", name.as_str()],
                    format!(
                        "warning: agent `{}`: `env.{name}` looks like a credential, and `env` \
                         is written into the pod spec in plain text; put it in a Kubernetes \
                         Secret and name it in `secrets` (`{{ name, key, env: {name} }}`) and \
                         in the agent's `secrets`",
                        agent.name
                    ),
                );
            }
        }
        // The coding agent with nothing to do: only a comment command gives a task of its
        // own (new-user review 13c, N8; configuration.md's payments-review had none).
        let t = &agent.triggers;
        let taskless = [
            ("pull_request", t.pull_request.is_some()),
            ("issues", t.issues.is_some()),
            ("push", t.push.is_some()),
            ("release", t.release.is_some()),
        ]
        .into_iter()
        .find_map(|(trigger, given)| given.then_some(trigger));
        if let Some(trigger) = taskless
            && agent.prompt.is_none()
            && agent.command == default_command()
            && agent.templates.iter().any(|t| t == "agent-pod.yaml")
        {
            problems.at(
                &["agents", &i.to_string(), "triggers", trigger],
                format!(
                    "warning: agent `{}` has no `prompt`, so each run its `{trigger}` trigger \
                     starts gives `{}` an empty task (only a comment command brings a task \
                     of its own); give it a `prompt`, a text template in the templates \
                     folder such as `prompts/review.md`",
                    agent.name,
                    agent.command[..2.min(agent.command.len())].join(" ")
                ),
            );
        }
    }
    for (name, image) in &config.images {
        if let Some(warning) = unpinned_image(image.as_str()) {
            problems.at(&["images", name], warning);
        }
    }
    let mut namespaces: Vec<(Vec<String>, &str)> = Vec::new();
    if let Some(ns) = &config.cluster.namespace {
        namespaces.push((p(&["cluster", "namespace"]), ns.as_str()));
    }
    for ns in config.cluster.namespaces.keys() {
        namespaces.push((p(&["cluster", "namespaces", ns.as_str()]), ns.as_str()));
    }
    for (i, agent) in config.agents.iter().enumerate() {
        if let Some(ns) = &agent.namespace {
            namespaces.push((p(&["agents", &i.to_string(), "namespace"]), ns.as_str()));
        }
    }
    for (path, ns) in namespaces {
        if NOT_FOR_RUNS.contains(&ns) {
            let whose = if ns == "agentpods" {
                "the namespace deploy/ runs the service in, beside the Secret with the GitHub \
                 App's private key, and where deploy/ gives runs no role"
            } else {
                "one of Kubernetes' own"
            };
            problems.at(
                &path,
                format!(
                    "warning: runs in namespace `{ns}`, {whose}; runs belong in a namespace of \
                     their own, such as `agentpods-runs` (docs/setup.md)"
                ),
            );
        }
    }
    problems.diagnostics()
}

/// Agents whose `params` ask the entrypoint to push (`push: "true"`) or open a pull
/// request (`open_pr: "true"`) with a token that cannot: the run would do its work and
/// fail at the end.
fn params_without_permission(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    for (i, agent) in config.agents.iter().enumerate() {
        let writes = agent.github_token.writes();
        for (param, permission) in [("push", "contents"), ("open_pr", "pull_requests")] {
            if agent.params.get(param).map(String::as_str) == Some("true")
                && !writes.contains(&permission)
            {
                problems.at(
                    &["agents", &i.to_string(), "params", param],
                    format!(
                        "warning: agent `{}` has `params.{param}: \"true\"`, but its \
                         `github_token` does not give `{permission}: write`, so the run will \
                         fail when it gets there; add `{permission}: write` to its \
                         `github_token`",
                        agent.name
                    ),
                );
            }
        }
    }
    problems.diagnostics()
}

/// Agents that run code from a fork (a pull_request trigger, or a comment trigger on pull
/// requests, with `fork_pull_requests: always`) and get a token that can write: whatever
/// the fork's code makes the agent do, it can do with that token. (With `approve` the
/// planner refuses them on forks.)
fn fork_code_with_write_tokens(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    // With `approve`, an agent whose token can write is refused on a fork's code (the
    // planner says so to whoever asks); only `always` lets a fork's code have the token.
    let policy = config.github.authorization.fork_pull_requests;
    if policy != ForkPolicy::Always {
        return problems.diagnostics();
    }
    for (i, agent) in config.agents.iter().enumerate() {
        let writes = agent.github_token.writes();
        if writes.is_empty() {
            continue;
        }
        let t = &agent.triggers;
        let on_pull_requests = t.pull_request.is_some()
            || t.comment
                .as_ref()
                .is_some_and(|c| c.targets.contains(&CommentTarget::PullRequest));
        if !on_pull_requests {
            continue;
        }
        problems.at(
            &["agents", &i.to_string(), "github_token"],
            format!(
                "warning: agent `{}` runs code from fork pull requests unapproved \
                 (fork_pull_requests: always) and its token can write ({}): code from a \
                 fork could use it; give this agent read permissions, or set \
                 fork_pull_requests: approve (agents with a write token are then refused \
                 on forks)",
                agent.name,
                writes
                    .iter()
                    .map(|w| format!("{w}: write"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    problems.diagnostics()
}

/// Agents whose `github_token` asks for more than an App made by `agentpods github-app
/// create` has (new-user review 13b, N8): a token can have no more than its App, so every
/// run of such an agent fails when its token is minted, whatever the fork policy (new-user
/// review 13c, N1).
fn tokens_beyond_the_app(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    let app = token::shipped_app_permissions();
    for (i, agent) in config.agents.iter().enumerate() {
        let beyond: Vec<String> = agent
            .github_token
            .permissions()
            .into_iter()
            .flatten()
            .filter(|(name, access)| app.get(*name).is_none_or(|has| has < *access))
            .map(|(name, access)| format!("{name}: {}", access.as_str()))
            .collect();
        if beyond.is_empty() {
            continue;
        }
        problems.at(
            &["agents", &i.to_string(), "github_token"],
            format!(
                "warning: agent `{}` asks for {}, which an App made by `agentpods github-app \
                 create` (deploy/github-app.json) does not have: a run's token can have no \
                 more than its App, so every run of this agent would fail to get one; give \
                 your App that permission on its settings page (the installations must \
                 accept it), or ask for less",
                agent.name,
                beyond.join(", ")
            ),
        );
    }
    problems.diagnostics()
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

/// Cross-references and rules the schema cannot express.
fn semantic_checks(
    config: &Config,
    tree: &Node,
    templates: &TemplateSources,
    folder: &Path,
) -> Vec<Flagged> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };

    let prefix = &config.github.command_prefix;
    if prefix.is_empty() || prefix.chars().any(char::is_whitespace) {
        problems.at(
            &["github", "command_prefix"],
            format!("command prefix `{prefix}` must be one word with no spaces, such as /agent"),
        );
    } else if prefix.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        // A word would be read in ordinary text: every comment line beginning "bot, ..."
        // or "Bot is down" would be a command, and answered (new-user review 13b, N15).
        problems.at(
            &["github", "command_prefix"],
            format!(
                "command prefix `{prefix}` begins with a letter or digit, so every comment line \
                 that begins with the word `{prefix}` would be read as a command; begin it with \
                 a sign, as in `/{prefix}`"
            ),
        );
    }
    if let Some(wanted) = &config.repository_config
        && let Err(why) = repository_file::check_path(&wanted.path)
    {
        problems.at(
            &["repository_config", "path"],
            format!("repository_config.path {why}"),
        );
    }
    // A request above its limit: the API server refuses the pod. Said here, where it is
    // written, not at the template line that prints `agent.resources` (new-user review
    // 13b, N10).
    let mut resources: Vec<(Vec<String>, &model::Resources)> = vec![(
        p(&["cluster", "defaults", "resources"]),
        &config.cluster.defaults.resources,
    )];
    for (i, agent) in config.agents.iter().enumerate() {
        if let Some(own) = &agent.resources {
            resources.push((p(&["agents", &i.to_string(), "resources"]), own));
        }
    }
    for (at, list) in resources {
        let pairs = [
            ("cpu", &list.requests.cpu, &list.limits.cpu),
            ("memory", &list.requests.memory, &list.limits.memory),
            (
                "ephemeral-storage",
                &list.requests.ephemeral_storage,
                &list.limits.ephemeral_storage,
            ),
        ];
        for (name, request, limit) in pairs {
            let (Some(request), Some(limit)) = (request, limit) else {
                continue;
            };
            if let (Some(r), Some(l)) = (
                formats::quantity_value(request.as_str()),
                formats::quantity_value(limit.as_str()),
            ) && r > l
            {
                let mut path: Vec<&str> = at.iter().map(String::as_str).collect();
                path.extend(["requests", name]);
                problems.at(
                    &path,
                    format!(
                        "the {name} request `{}` is above its limit `{}`, which the API server \
                         refuses; lower the request or raise the limit",
                        request.as_str(),
                        limit.as_str()
                    ),
                );
            }
        }
    }
    for (name, image) in &config.images {
        if let Some(lower) = lower_case_image(image.as_str()) {
            problems.at(
                &["images", name],
                lower_case_refusal(image.as_str(), &lower),
            );
        }
    }

    match (
        &config.cluster.namespace,
        &config.cluster.namespace_template,
    ) {
        (None, None) => problems.reading(
            &["cluster"],
            &[
                p(&["cluster", "namespace"]),
                p(&["cluster", "namespace_template"]),
            ],
            "cluster: give `namespace` (one namespace for every run) or `namespace_template`"
                .into(),
        ),
        (Some(_), Some(_)) => problems.at(
            &["cluster", "namespace_template"],
            "cluster: give `namespace` or `namespace_template`, not both".into(),
        ),
        _ => {}
    }
    if config.cluster.namespace_template.is_some() && !config.cluster.namespaces.is_empty() {
        problems.at(
            &["cluster", "namespaces"],
            "cluster.namespaces needs `cluster.namespace`: with `namespace_template` every \
             run's namespace comes from the template"
                .into(),
        );
    }
    let namespace_names: Vec<&str> = config
        .cluster
        .namespace
        .iter()
        .chain(config.cluster.namespaces.keys())
        .map(DnsLabel::as_str)
        .collect();

    let image_names: Vec<&str> = config.images.keys().map(String::as_str).collect();
    let secret_names: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
    let template_names: Vec<&str> = templates.keys().map(String::as_str).collect();
    let image = config.cluster.defaults.image.as_str();
    if !config.images.contains_key(image) {
        problems.reading(
            &["cluster", "defaults", "image"],
            &[p(&["images"])],
            unknown_ref("image", image, &image_names, "images"),
        );
    }

    for (name, secret) in &config.secrets {
        if let Some(why) = secret.scope().matches_nothing() {
            problems.at(
                &["secrets", name.as_str(), "repositories"],
                format!("secret `{name}`: its `repositories` list {why}"),
            );
        }
        for (k, glob) in secret.scope().idle_negations() {
            problems.at(
                &["secrets", name.as_str(), "repositories", &k.to_string()],
                format!("secret `{name}`: {}", idle_negation(glob)),
            );
        }
    }

    let mut seen_agents: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, agent) in config.agents.iter().enumerate() {
        // The path of a key of this agent, for its position.
        let key = |rest: &[&str]| -> Vec<String> {
            ["agents".to_string(), i.to_string()]
                .into_iter()
                .chain(rest.iter().map(|s| s.to_string()))
                .collect()
        };
        if let Some(first) = seen_agents.insert(agent.name.as_str(), i) {
            problems.at(
                &key(&["name"]),
                format!(
                    "agents[{i}]: agent name `{}` is already used by agents[{first}]",
                    agent.name
                ),
            );
        }
        if let Some(image) = &agent.image
            && !config.images.contains_key(image)
        {
            problems.reading(
                &key(&["image"]),
                &[p(&["images"])],
                unknown_ref("image", image, &image_names, "images"),
            );
        }
        if let Some(why) = agent.scope().matches_nothing() {
            problems.at(
                &key(&["repositories"]),
                format!("agent `{}`: its `repositories` list {why}", agent.name),
            );
        }
        for (k, glob) in agent.scope().idle_negations() {
            problems.at(
                &key(&["repositories", &k.to_string()]),
                format!("agent `{}`: {}", agent.name, idle_negation(glob)),
            );
        }
        for (j, secret) in agent.secrets.iter().enumerate() {
            match config.secrets.get(secret) {
                None => problems.reading(
                    &key(&["secrets", &j.to_string()]),
                    &[p(&["secrets"])],
                    unknown_ref("secret", secret, &secret_names, "secrets"),
                ),
                Some(found) => {
                    if let Some(message) = reaches_beyond(agent, secret, found) {
                        problems.reading(
                            &key(&["secrets", &j.to_string()]),
                            &[p(&["secrets"]), key(&["repositories"])],
                            message,
                        );
                    }
                }
            }
        }
        for name in agent.env.keys() {
            if let Some(why) = env_set_elsewhere(config, agent, name.as_str(), templates) {
                problems.at(
                    &key(&["env", name.as_str()]),
                    format!(
                        "agent `{}`: `env.{name}` is {why}: the container would have it twice, \
                         and one value would be lost; give it another name",
                        agent.name
                    ),
                );
            }
        }
        if agent.templates.is_empty() {
            problems.at(
                &key(&["templates"]),
                "an agent needs at least one template".into(),
            );
        }
        for (j, name) in agent.templates.iter().enumerate() {
            let at = key(&["templates", &j.to_string()]);
            if !templates.contains_key(name) {
                problems.at(&at, unknown_template(name, &template_names, folder));
            } else if !is_yaml_template(name) {
                problems.at(
                    &at,
                    format!("template `{name}` renders Kubernetes objects, so it must be a .yaml or .yml file"),
                );
            }
        }
        if let Some(prompt) = &agent.prompt {
            if !templates.contains_key(prompt) {
                problems.at(
                    &key(&["prompt"]),
                    unknown_template(prompt, &template_names, folder),
                );
            } else if is_yaml_template(prompt) {
                // A YAML template prints each value as a quoted YAML value, and is checked
                // as Kubernetes objects (new-user review 13c, N13; 13 N8).
                problems.at(
                    &key(&["prompt"]),
                    format!(
                        "template `{prompt}` is a YAML template, but a prompt is a text \
                         template, rendered into the agent's task: name a Markdown or text \
                         file, like `prompts/task.md` (YAML templates go in `templates`)"
                    ),
                );
            }
        }
        // The shipped pod templates give these to `agentpods agent` as `--push` and
        // `--open-pr`, which take `true` or `false` only: anything else would start a pod
        // that exits at once.
        for param in ["push", "open_pr"] {
            if let Some(value) = agent.params.get(param)
                && value != "true"
                && value != "false"
            {
                let flag = param.replace('_', "-");
                problems.at(
                    &key(&["params", param]),
                    format!(
                        "agent `{}`: `params.{param}` is `{}`, but the agent pod passes it to \
                         `agentpods agent --{flag}`, which takes \"true\" or \"false\" only",
                        agent.name,
                        formats::shorten(value)
                    ),
                );
            }
        }
        check_agent_namespace(config, agent, &namespace_names, &mut problems, &key);
        if agent.command.is_empty() {
            problems.at(
                &key(&["command"]),
                "the agent command cannot be empty".into(),
            );
        }
        let t = &agent.triggers;
        if t.pull_request.is_none()
            && t.issues.is_none()
            && t.comment.is_none()
            && t.push.is_none()
            && t.release.is_none()
        {
            problems.reading(
                &key(&["name"]),
                &[key(&["triggers"])],
                format!(
                    "agent `{}` has no triggers, so it can never run",
                    agent.name
                ),
            );
        }
        if let Some(comment) = &t.comment {
            if comment.verbs.is_empty() {
                problems.at(
                    &key(&["triggers", "comment", "verbs"]),
                    "give at least one command verb".into(),
                );
            }
            for (j, verb) in comment.verbs.iter().enumerate() {
                if reserved_verbs().any(|reserved| reserved == verb.as_str()) {
                    problems.at(
                        &key(&["triggers", "comment", "verbs", &j.to_string()]),
                        format!(
                            "`{verb}` is a built-in command of agentpods and cannot start an agent (reserved: {})",
                            reserved_verbs().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(push) = &t.push
            && push.branches.is_empty()
            && push.tags.is_empty()
        {
            problems.at(
                &key(&["triggers", "push"]),
                "a push trigger needs `branches` or `tags` globs".into(),
            );
        }
        let ref_globs: [(&str, &str, &[Glob], RefKind); 3] = [
            (
                "pull_request",
                "branches",
                t.pull_request.as_ref().map_or(&[], |p| &p.branches[..]),
                RefKind::Branch,
            ),
            (
                "push",
                "branches",
                t.push.as_ref().map_or(&[], |p| &p.branches[..]),
                RefKind::Branch,
            ),
            (
                "push",
                "tags",
                t.push.as_ref().map_or(&[], |p| &p.tags[..]),
                RefKind::Tag,
            ),
        ];
        for (trigger, list, globs, kind) in ref_globs {
            for (j, glob) in globs.iter().enumerate() {
                let earlier = globs[..j].contains(glob);
                let message = idle_ref_glob(glob.as_str(), kind, earlier).or_else(|| {
                    trigger_globs::regex_as_glob(glob.as_str()).map(|written| {
                        format!(
                            "`{glob}` looks like a regular expression, but {list} are matched \
                             with globs (`*` for any text, `?` for one character, `[0-9]` for \
                             one of a set); write `{written}`"
                        )
                    })
                });
                if let Some(message) = message {
                    problems.at(
                        &key(&["triggers", trigger, list, &j.to_string()]),
                        format!("agents[{i}].triggers.{trigger}.{list}: {message}"),
                    );
                }
            }
        }
        if let Some(pr) = &t.pull_request {
            for (list, globs) in [("paths", &pr.paths), ("paths_ignore", &pr.paths_ignore)] {
                for (j, glob) in globs.iter().enumerate() {
                    if let Some(message) = trigger_globs::idle_path_glob(glob.as_str()) {
                        problems.at(
                            &key(&["triggers", "pull_request", list, &j.to_string()]),
                            format!("agents[{i}].triggers.pull_request.{list}: {message}"),
                        );
                    }
                }
            }
        }
        let named = |actions: Vec<&str>| actions.join(", ");
        let no_actions = [
            (
                "pull_request",
                t.pull_request
                    .as_ref()
                    .is_some_and(|p| p.actions.is_empty()),
                named(default_pr_actions().iter().map(|a| a.as_str()).collect()),
            ),
            (
                "issues",
                t.issues.as_ref().is_some_and(|i| i.actions.is_empty()),
                named(default_issue_actions().iter().map(|a| a.as_str()).collect()),
            ),
            (
                "release",
                t.release.as_ref().is_some_and(|r| r.actions.is_empty()),
                named(
                    default_release_actions()
                        .iter()
                        .map(|a| a.as_str())
                        .collect(),
                ),
            ),
        ];
        for (trigger, empty, defaults) in no_actions {
            if empty {
                problems.at(
                    &key(&["triggers", trigger, "actions"]),
                    format!(
                        "agents[{i}].triggers.{trigger}.actions: an empty list matches no delivery; give at least \
                         one action, or leave `actions` out for the default ({defaults})"
                    ),
                );
            }
        }
    }
    problems.found
}

/// What a trigger's glob is matched with: a branch name or a tag name.
#[derive(Clone, Copy, PartialEq)]
enum RefKind {
    Branch,
    Tag,
}

/// Why a branch or tag glob can never match (or adds nothing), with what to write instead;
/// `None` when it can. `earlier`: the same glob is earlier in its list.
fn idle_ref_glob(glob: &str, kind: RefKind, earlier: bool) -> Option<String> {
    let (what, own, other, other_list) = match kind {
        RefKind::Branch => ("branch", "refs/heads/", "refs/tags/", "tags"),
        RefKind::Tag => ("tag", "refs/tags/", "refs/heads/", "branches"),
    };
    if glob.trim().is_empty() {
        return Some(format!(
            "an empty glob matches no {what}; write one such as `{}`, or leave it out",
            if kind == RefKind::Tag { "v*" } else { "main" }
        ));
    }
    if let Some(rest) = glob.strip_prefix(own) {
        return Some(format!(
            "`{glob}` can never match: {what} names are matched without `{own}`; write `{rest}`"
        ));
    }
    if let Some(rest) = glob.strip_prefix(other) {
        return Some(format!(
            "`{glob}` can never match: it names a {} by its full ref, and this list holds \
             {what} names; put `{rest}` in `{other_list}`",
            if kind == RefKind::Tag {
                "branch"
            } else {
                "tag"
            }
        ));
    }
    if glob.starts_with("refs/") {
        return Some(format!(
            "`{glob}` can never match: {what} names are matched without their `refs/…` prefix"
        ));
    }
    earlier.then(|| format!("`{glob}` is already in this list; leave one out"))
}

fn idle_negation(glob: &RepoGlob) -> String {
    format!(
        "`{glob}` leaves out nothing: no glob of this list without `!` takes in a repository \
         it matches (check its owner and name)"
    )
}

/// Why `agent` may not list secret `name`: it runs for repositories the secret is not
/// for (which, and what to write); `None` when it stays within the secret's.
fn reaches_beyond(agent: &Agent, name: &str, secret: &SecretRef) -> Option<String> {
    let beyond = agent.scope().beyond(secret.scope());
    if beyond.is_empty() {
        return None;
    }
    let secret_is_for = secret.scope().describe();
    let parts: Vec<String> = beyond
        .iter()
        .map(|b| match b {
            scope::Beyond::Everywhere => "it runs for every repository (it has no \
                 `repositories`); give it `repositories` within the secret's"
                .to_string(),
            scope::Beyond::Glob(glob) => format!(
                "its `{glob}` reaches beyond them; narrow it, or widen the secret's \
                 `repositories`"
            ),
            scope::Beyond::Excluded { glob, excluded } => format!(
                "its `{glob}` takes in repositories the secret leaves out with `{excluded}`; \
                 leave them out of the agent too (add `{excluded}` to its `repositories`)"
            ),
        })
        .collect();
    Some(format!(
        "agent `{}` lists secret `{name}`, which is only for {secret_is_for}, but {}",
        agent.name,
        parts.join("; and ")
    ))
}

/// An agent's `namespace` is one the config names, and its `pod_security` one its
/// namespace admits.
fn check_agent_namespace(
    config: &Config,
    agent: &Agent,
    namespace_names: &[&str],
    problems: &mut Problems<'_>,
    key: &dyn Fn(&[&str]) -> Vec<String>,
) {
    let reads = [p(&["cluster"]), key(&["namespace"]), key(&["pod_security"])];
    if let Some(ns) = &agent.namespace {
        if config.cluster.namespace_template.is_some() {
            problems.reading(
                &key(&["namespace"]),
                &reads,
                format!(
                    "agent `{}`: an agent's own `namespace` needs `cluster.namespace`; with \
                     `namespace_template` every run's namespace comes from the template",
                    agent.name
                ),
            );
            return;
        }
        if !namespace_names.contains(&ns.as_str()) {
            let known = match did_you_mean(ns.as_str(), namespace_names.iter().copied()) {
                Some(s) => format!(", did you mean `{s}`?"),
                None => format!(" (known: {})", namespace_names.join(", ")),
            };
            problems.reading(
                &key(&["namespace"]),
                &reads,
                format!(
                    "agent `{}`: namespace `{ns}` is neither `cluster.namespace` nor one of \
                     `cluster.namespaces`{known}",
                    agent.name
                ),
            );
            return;
        }
    }
    let namespace = config
        .cluster
        .namespace_of(agent)
        .map(DnsLabel::as_str)
        .unwrap_or("(from namespace_template)");
    let enforced = config.cluster.pod_security_of(namespace);
    if !enforced.admits(agent.pod_security) {
        let allowing: Vec<String> = config
            .cluster
            .namespaces
            .iter()
            .filter(|(_, n)| n.pod_security.admits(agent.pod_security))
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        let hint = if allowing.is_empty() {
            format!(
                "declare one under `cluster.namespaces` with `pod_security: {}` and give the \
                 agent `namespace:` it",
                agent.pod_security
            )
        } else {
            format!("give the agent `namespace:` {}", allowing.join(" or "))
        };
        problems.reading(
            &key(&["pod_security"]),
            &reads,
            format!(
                "agent `{}` asks for Pod Security `{}`, but its namespace `{namespace}` \
                 enforces `{enforced}`: {hint}",
                agent.name, agent.pod_security
            ),
        );
    }
}

/// Problems found in services.yaml, each at the position of the key it is about.
struct Problems<'t> {
    tree: &'t Node,
    found: Vec<Flagged>,
}

/// A problem with the key it is about and the parts of the file it follows from.
struct Flagged {
    path: Vec<String>,
    /// What the check read: when one of them (or a value inside one) was left out of the
    /// file for a problem of its own, this one follows from that and is not reported.
    reads: Vec<Vec<String>>,
    diagnostic: Diagnostic,
}

impl Problems<'_> {
    fn at<S: AsRef<str>>(&mut self, path: &[S], message: String) {
        self.reading(path, &[], message);
    }

    /// A problem at `path` that also follows from what is at `reads`.
    fn reading<S: AsRef<str>>(&mut self, path: &[S], reads: &[Vec<String>], message: String) {
        let path: Vec<String> = path.iter().map(|p| p.as_ref().to_string()).collect();
        let mut all = vec![path.clone()];
        all.extend(reads.iter().cloned());
        self.found.push(Flagged {
            diagnostic: Diagnostic {
                pos: self.tree.pos_of(&path),
                message,
            },
            path,
            reads: all,
        });
    }

    fn diagnostics(self) -> Vec<Diagnostic> {
        self.found.into_iter().map(|f| f.diagnostic).collect()
    }
}

/// A path written as words: `p(&["agents", "0"])`.
fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn is_yaml_template(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn unknown_ref(what: &str, name: &str, known: &[&str], section: &str) -> String {
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => format!("unknown {what} `{name}`, did you mean `{s}`?"),
        None if known.is_empty() => format!("unknown {what} `{name}`: `{section}` defines none"),
        None => format!(
            "unknown {what} `{name}` (defined in `{section}`: {})",
            known.join(", ")
        ),
    }
}

const NOT_IN_FOLDER: &str = "not found in the templates folder";

/// The template of each run's comment on GitHub.
pub const COMMENT_TEMPLATE: &str = "comment.md";

/// Why `name` is not a template of `folder` (as shown: the config's `templates_dir` beside
/// it, or --templates-dir), and what to write: the folder is named, as the new-user review
/// (13e, N8) asked, since an installed config's is not the checkout's.
fn unknown_template(name: &str, known: &[&str], folder: &Path) -> String {
    let folder = folder.display();
    // The prompt's text itself, in the style of GitHub Actions (new-user review 13d, N12).
    if name.contains("{{")
        || name.contains('\n')
        || name.trim().contains("  ")
        || name.split(' ').count() > 3
    {
        return format!(
            "template `{}` {NOT_IN_FOLDER} `{folder}`: a template is named by its file in the \
             templates folder (`prompts/task.md`), not written here; put the text in such a file",
            crate::text::clip(name.lines().next().unwrap_or(name), 40)
        );
    }
    // `templates/prompts/task.md`: the folder named again (new-user review 13c, N12).
    let within = name
        .split_once('/')
        .map(|(_, rest)| rest)
        .filter(|rest| known.contains(rest));
    if let Some(rest) = within {
        return format!(
            "template `{name}` {NOT_IN_FOLDER} `{folder}`: names are relative to the templates \
             folder, so write `{rest}`"
        );
    }
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => {
            format!("template `{name}` {NOT_IN_FOLDER} `{folder}`, did you mean `{s}`?")
        }
        None => format!(
            "template `{name}` {NOT_IN_FOLDER} `{folder}`: add the file there, or name one it \
             has{}",
            if known.is_empty() {
                " (it has none: give the folder of your templates with `templates_dir`, or \
                 --templates-dir)"
                    .to_string()
            } else {
                format!(
                    " ({})",
                    known
                        .iter()
                        .take(8)
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                        + if known.len() > 8 { ", …" } else { "" }
                )
            }
        ),
    }
}

/// Every template file the config may use (`used`) must compile; errors point into the
/// template file, named by a path in `folder`, the folder they were read from, as usable
/// as the one given for services.yaml. Also the names of the templates that do not.
fn template_syntax(
    folder: &Path,
    templates: &TemplateSources,
    used: &std::collections::BTreeSet<&str>,
) -> (Vec<FileDiagnostic>, std::collections::BTreeSet<String>) {
    let env = crate::template::syntax_environment();
    let mut out = Vec::new();
    let mut broken = std::collections::BTreeSet::new();
    // Only what the config may use: a file nothing uses (notes, an editor's backup) is at
    // most warned of, as unused (new-user review 13f, N8).
    for (name, source) in templates.iter().filter(|(n, _)| used.contains(n.as_str())) {
        let before = out.len();
        out.extend(
            crate::template::quoting::check(name, source)
                .into_iter()
                .map(|found| FileDiagnostic {
                    file: folder.join(name).display().to_string(),
                    pos: Pos {
                        line: found.line,
                        col: found.col,
                    },
                    message: found.message,
                }),
        );
        if let Err(e) = env.template_from_named_str(name, source) {
            let mut pos = Pos {
                line: e.line().unwrap_or(1),
                col: e.range().map_or(1, |r| Pos::at_byte(source, r.start).col),
            };
            let mut message = format!(
                "template syntax error: {}",
                e.detail().unwrap_or("invalid template")
            );
            // A `{%` never closed: minijinja reads on and reports what it meets lines
            // below; name the `{%` (new-user review 13h, F4).
            let unclosed_tag = crate::template::blocks::unclosed_tag(source)
                .filter(|tag| (tag.line, tag.col) <= (pos.line, pos.col));
            if let Some(tag) = unclosed_tag {
                message = format!(
                    "template syntax error: this `{}` is never closed with `{}`",
                    tag.opener, tag.closer
                );
                pos = Pos {
                    line: tag.line,
                    col: tag.col,
                };
            // The end of the file is where minijinja notices a block left open: name the
            // tag that opened it, where it is.
            } else if e
                .detail()
                .is_some_and(|d| d.contains("unexpected end of input"))
                && let Some(open) = crate::template::blocks::unclosed_block(source)
            {
                message = format!(
                    "template syntax error: this `{{% {} %}}` is never closed: the template \
                     ends before its `{{% end{} %}}`",
                    open.keyword, open.keyword
                );
                pos = Pos {
                    line: open.line,
                    col: open.col,
                };
            } else if let Some(word) = e
                .detail()
                .and_then(|d| d.strip_prefix("unknown statement "))
                .filter(|w| w.starts_with("end"))
                && let Some(open) = e
                    .range()
                    .and_then(|r| source.get(..r.start))
                    .and_then(crate::template::blocks::unclosed_block)
            {
                // `{% end %}` for `{% endif %}` (new-user review 13h, F4): the block it is
                // in says which end it needs.
                message = format!(
                    "template syntax error: unknown statement `{word}`: did you mean \
                     `end{}`? (it closes the `{{% {} %}}` at line {})",
                    open.keyword, open.keyword, open.line
                );
            }
            out.push(FileDiagnostic {
                file: folder.join(name).display().to_string(),
                pos,
                message,
            });
        }
        if out.len() > before {
            broken.insert(name.clone());
        }
    }
    (out, broken)
}
