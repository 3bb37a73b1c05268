//! Reading services.yaml and its templates folder from files: the one place `config` does
//! I/O (review 12w, R40; `module_cycles::config_reads_files_only_in_load` holds it). What
//! is read is checked by the pure [`check_with_folder`](super::check_with_folder); the
//! templates are listed without being read, and only those the config may use are read.

mod templates_folder;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::rules::NOT_IN_FOLDER;
use super::unused::{self, UnusedTemplates};
use super::yaml::{self, Pos};
use super::{
    Checked, ConfigError, FileDiagnostic, LoadedConfig, TemplateSources, check_with_folder, utf8,
    wrong_file,
};

const MAX_TEMPLATE_FILES: usize = 500;
/// How many entries of the templates folder and its folders are looked at, at most.
const MAX_LISTED_ENTRIES: usize = 5000;
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

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

/// The files of the templates folder that `loaded`'s config does not use (see
/// [`UnusedTemplates`]): a file that is not text, or that is services.yaml itself (`--templates-dir
/// .`, review 13i, F14), is no template left over.
pub fn unused_templates(loaded: &LoadedConfig) -> UnusedTemplates {
    let config_file = std::fs::canonicalize(&loaded.path).ok();
    unused::unused_templates(loaded, |path| {
        !looks_like_text(path)
            || config_file.is_some() && std::fs::canonicalize(path).ok() == config_file
    })
}

/// Whether the file at `path` reads as text: its first few KiB are UTF-8 (a character cut
/// at their end aside) without a NUL byte. A file that cannot be read is taken as text, to
/// be listed.
fn looks_like_text(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    if read.is_err() {
        return true;
    }
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(&head) {
        Ok(_) => true,
        // Cut short at the end of what was read, not invalid.
        Err(e) => e.error_len().is_none(),
    }
}
