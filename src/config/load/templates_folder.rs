//! A templates folder one level off, or misspelt (new-user review 13f, N7): where the
//! templates services.yaml names are, when the folder given does not hold them
//! (`--templates-dir templates/prompts`, or `.`), and the folder near a name that does not
//! exist (`--templates-dir template`). Reads folders: the loader's side of `config`.

use std::path::{Path, PathBuf};

use crate::config::yaml::{Node, NodeKind};

/// The templates services.yaml's agents name (`templates`, the default's when an agent
/// has none, and `prompt`), as the file reads leniently.
pub(super) fn named(tree: &Node) -> Vec<String> {
    let Some(NodeKind::Seq(agents)) = tree.get_path(&["agents"]).map(|n| &n.kind) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for agent in agents {
        match agent.get_path(&["templates"]).map(|n| &n.kind) {
            Some(NodeKind::Seq(items)) => names.extend(items.iter().filter_map(text)),
            _ => names.extend(crate::config::model::default_templates()),
        }
        names.extend(agent.get_path(&["prompt"]).and_then(text));
    }
    names.sort();
    names.dedup();
    names
}

fn text(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// The folder next to `dir` (its parent, or one of its own folders) that holds every one
/// of `named`, when `dir` does not; as a path written like `dir` (`templates` for
/// `templates/prompts`, `./templates` for `.`).
pub(super) fn holding(dir: &Path, named: &[String]) -> Option<PathBuf> {
    let holds = |folder: &Path| !named.is_empty() && named.iter().all(|n| folder.join(n).is_file());
    if holds(dir) {
        return None;
    }
    // The parent of `templates` is `.`, of `.` or `..` none that reads well.
    let parent = match dir.parent() {
        _ if dir.ends_with(".") || dir.ends_with("..") || dir == Path::new(".") => None,
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        Some(p) => Some(p.to_path_buf()),
        None => None,
    };
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    children.sort();
    parent.into_iter().chain(children).find(|f| holds(f))
}

/// The name of the folder beside `dir` whose name is near `dir`'s, when `dir` does not
/// exist (`templates` for `template`).
pub(super) fn near(dir: &Path) -> Option<String> {
    let near = crate::suggest::near_entry(dir, Path::is_dir)?;
    near.file_name()?.to_str().map(String::from)
}
