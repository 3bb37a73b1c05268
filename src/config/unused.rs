//! Entries of `images` and `secrets` that nothing uses: no agent names them (`image`,
//! `cluster.defaults.image` for an agent without one, `secrets`) and no template reads them
//! by name (`{{ images.kaniko }}`, `{{ secrets.registry.name }}`). A warning each, at the
//! entry (new-user review, N1): a leftover, or a name written where another was meant.

use std::collections::BTreeSet;

use minijinja::machinery::{Token, tokenize};

use super::problems::Problems;
use super::yaml::{Node, NodeKind};
use super::{Config, Diagnostic, TemplateSources};

/// The warnings, at each entry no agent and no template uses.
pub(super) fn unused_entries(
    config: &Config,
    tree: &Node,
    templates: &TemplateSources,
) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    // What services.yaml's own templates read, and the templates folder's.
    let in_config = config
        .cluster
        .namespace_template
        .iter()
        .map(|t| t.as_str())
        .chain(
            config
                .agents
                .iter()
                .filter_map(|a| a.concurrency.as_ref().map(|c| c.group.as_str())),
        );
    let texts: Vec<&str> = templates
        .values()
        .map(String::as_str)
        .chain(in_config)
        .collect();
    let named_images = config.agents.iter().map(|a| {
        a.image
            .as_deref()
            .unwrap_or(config.cluster.defaults.image.as_str())
    });
    let named_secrets = config.agents.iter().flat_map(|a| a.secrets.iter());
    let maps = [
        (
            "images",
            config.images.keys().collect::<Vec<_>>(),
            named_images.map(String::from).collect::<BTreeSet<_>>(),
            "an agent's `image` (or `cluster.defaults.image`)",
        ),
        (
            "secrets",
            config.secrets.keys().collect(),
            named_secrets.cloned().collect(),
            "an agent's `secrets`",
        ),
    ];
    for (map, entries, named, where_named) in maps {
        let Some(read) = entries_read(&texts, map) else {
            continue;
        };
        for entry in entries {
            if named.contains(entry) || read.contains(entry) {
                continue;
            }
            problems.at(
                &[map, entry],
                format!(
                    "warning: `{map}.{entry}` is used by no agent: neither {where_named} names \
                     it nor a template reads `{map}.{entry}`; remove it, or name it where it \
                     was meant"
                ),
            );
        }
    }
    problems.diagnostics()
}

/// The templates of the folder the config uses: each agent's `templates` and `prompt`,
/// `comment.md` when runs comment, and what those name in their text (`{% include
/// "parts/env.yaml" %}`, taken generously: any quoted name of a template in the folder).
pub fn used_templates<'t>(config: &Config, templates: &'t TemplateSources) -> BTreeSet<&'t str> {
    let named: BTreeSet<&str> = config
        .agents
        .iter()
        .flat_map(|a| a.templates.iter().chain(a.prompt.iter()))
        .map(String::as_str)
        .chain(super::posts_comments(config).then_some(super::COMMENT_TEMPLATE))
        .collect();
    reached(&named, templates)
}

/// The templates of the folder that services.yaml's tree may use, read before (and
/// whether or not) it reads as a config, for the syntax check: any string of the file
/// that is the name of one (an agent's `templates` and `prompt`, wherever an anchor put
/// them), the default `templates`, `comment.md` unless `github.report.comment` is `false`, and what those name.
/// Never fewer than [`used_templates`] of the config the tree reads as, so that every
/// template the engine compiles was checked (new-user review 13f, N8: the files nothing
/// uses, notes or an editor's backup, are not).
pub(super) fn used_by_tree<'t>(tree: &Node, templates: &'t TemplateSources) -> BTreeSet<&'t str> {
    fn strings<'n>(node: &'n Node, out: &mut BTreeSet<&'n str>) {
        match &node.kind {
            NodeKind::Str(s) => {
                out.insert(s);
            }
            NodeKind::Seq(items) => items.iter().for_each(|n| strings(n, out)),
            NodeKind::Map(entries) => entries.iter().for_each(|(_, n)| strings(n, out)),
            _ => {}
        }
    }
    let mut named = BTreeSet::new();
    strings(tree, &mut named);
    // An agent without `templates` has the default's.
    let defaults = super::model::default_templates();
    named.extend(defaults.iter().map(String::as_str));
    let comments_off = tree
        .get_path(&["github", "report", "comment"])
        .is_some_and(|n| n.kind == NodeKind::Bool(false));
    if !comments_off {
        named.insert(super::COMMENT_TEMPLATE);
    }
    reached(&named, templates)
}

/// The templates of `templates` that `named` names, and what those name in their text,
/// on and on.
fn reached<'t>(named: &BTreeSet<&str>, templates: &'t TemplateSources) -> BTreeSet<&'t str> {
    let mut used: BTreeSet<&str> = templates
        .keys()
        .map(String::as_str)
        .filter(|name| named.contains(name))
        .collect();
    let mut reading: Vec<&str> = used.iter().copied().collect();
    while let Some(name) = reading.pop() {
        let Some(text) = templates.get(name) else {
            continue;
        };
        for other in templates.keys() {
            let quoted = [format!("\"{other}\""), format!("'{other}'")];
            if !used.contains(other.as_str()) && quoted.iter().any(|q| text.contains(q.as_str())) {
                used.insert(other);
                reading.push(other);
            }
        }
    }
    used
}

/// The files of the templates folder that the config does not use (new-user reviews 13e,
/// N12, and 13h, F13): `comment.md` is left out (it is the runs' comment by its name, and
/// `github.report.comment: false` turns it off), and so is a file that is not text (a
/// picture, a PDF), which is no template. `validate` prints them; a load does not carry them
/// (a folder shared by several configs holds others' templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedTemplates {
    /// A warning at each file whose name is close to one the config looks for and does
    /// not find (`comments.md` for `comment.md`): a template meant for an agent, misnamed.
    pub misnamed: Vec<super::FileDiagnostic>,
    /// The others, by name in the folder: notes, a leftover, the templates of another
    /// config sharing the folder. Ignored, which is all there is to say of them.
    pub ignored: Vec<String>,
    templates_dir: std::path::PathBuf,
}

/// How many of the ignored files [`UnusedTemplates::note`] names.
const IGNORED_NAMED: usize = 8;

impl UnusedTemplates {
    /// One line naming the ignored files, when there are some.
    pub fn note(&self) -> Option<String> {
        let (first, rest) = self.ignored.split_at(self.ignored.len().min(IGNORED_NAMED));
        let names = first.join(", ");
        let more = match rest.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        (!first.is_empty()).then(|| {
            format!(
                "note: in {}, not used by this config (ignored): {names}{more}",
                self.templates_dir.display()
            )
        })
    }
}

/// The files of the templates folder that `loaded`'s config does not use (see
/// [`UnusedTemplates`]), but those `no_template` says are none (what only the folder can
/// say, which `load` reads: a file that is not text, services.yaml itself).
pub(super) fn unused_templates(
    loaded: &super::LoadedConfig,
    no_template: impl Fn(&std::path::Path) -> bool,
) -> UnusedTemplates {
    let used = used_templates(&loaded.config, &loaded.templates);
    let present =
        |name: &str| loaded.templates.contains_key(name) || loaded.unread_templates.contains(name);
    // What the config looks for by name and the folder does not hold.
    let missing: Vec<&str> = loaded
        .config
        .agents
        .iter()
        .flat_map(|a| a.templates.iter().chain(a.prompt.iter()))
        .map(String::as_str)
        .chain(super::posts_comments(&loaded.config).then_some(super::COMMENT_TEMPLATE))
        .filter(|name| !present(name))
        .collect();
    let mut unused = UnusedTemplates {
        misnamed: Vec::new(),
        ignored: Vec::new(),
        templates_dir: loaded.templates_dir.clone(),
    };
    let names = loaded
        .templates
        .keys()
        .chain(&loaded.unread_templates)
        .filter(|name| !used.contains(name.as_str()) && name.as_str() != super::COMMENT_TEMPLATE)
        .collect::<BTreeSet<_>>();
    for name in names {
        let path = loaded.templates_dir.join(name);
        if no_template(&path) {
            continue;
        }
        match crate::suggest::did_you_mean(name, missing.iter().copied()) {
            Some(meant) => unused.misnamed.push(super::FileDiagnostic {
                file: path.display().to_string(),
                pos: super::Pos { line: 1, col: 1 },
                message: format!(
                    "warning: no agent uses template `{name}`, and the config looks for \
                     `{meant}`, which the folder does not hold: if this is it, rename it \
                     `{meant}`"
                ),
            }),
            None => unused.ignored.push(name.clone()),
        }
    }
    unused
}

/// The entries of the template context's map `map` (`images`, `secrets`) that `texts` read
/// by name (`images.kaniko`, `images["kaniko"]`); `None` when one reads the map otherwise
/// (`images[name]`, `images | items`), which may be any entry. A text that does not
/// tokenize is left out (its syntax error is reported).
fn entries_read(texts: &[&str], map: &str) -> Option<BTreeSet<String>> {
    let mut read = BTreeSet::new();
    for text in texts {
        let Ok(tokens) = tokenize(text, false, crate::template::syntax_config())
            .map(|t| t.map(|(token, _)| token))
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        for (i, token) in tokens.iter().enumerate() {
            // `agent.secrets` is the agent's list, not the map.
            let after_dot = i > 0 && matches!(tokens[i - 1], Token::Dot);
            if !matches!(token, Token::Ident(name) if *name == map) || after_dot {
                continue;
            }
            let name = match &tokens[i + 1..] {
                [Token::Dot, Token::Ident(name), ..]
                | [
                    Token::BracketOpen,
                    Token::Str(name),
                    Token::BracketClose,
                    ..,
                ] => name.to_string(),
                [
                    Token::BracketOpen,
                    Token::String(name),
                    Token::BracketClose,
                    ..,
                ] => name.to_string(),
                _ => return None,
            };
            read.insert(name);
        }
    }
    Some(read)
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_are_read_by_name_or_the_whole_map_is() {
        let read = |texts: &[&str]| super::entries_read(texts, "images");
        let names = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect());
        assert_eq!(read(&["{{ images.kaniko }}"]), names(&["kaniko"]));
        assert_eq!(
            read(&["{{ images['a'] ~ images[\"b\"] }}"]),
            names(&["a", "b"])
        );
        assert_eq!(read(&["{{ agent.images }} {{ agent.image }}"]), names(&[]));
        assert_eq!(read(&["{{ images[agent.name] }}"]), None);
        assert_eq!(
            read(&["{% for k, v in images | items %}{% endfor %}"]),
            None
        );
        assert_eq!(
            read(&["{{ images.a }}", "{{ images.b }}"]),
            names(&["a", "b"])
        );
    }
}
