//! Every template the config may use compiles, and keeps the quoting rules of a YAML
//! template; each error at its line and column in the template's file.

use std::path::Path;

use super::FileDiagnostic;
use super::TemplateSources;
use super::yaml::Pos;

/// Every template file the config may use (`used`) must compile; errors point into the
/// template file, named by a path in `folder`, the folder they were read from, as usable
/// as the one given for services.yaml. Also the names of the templates that do not.
pub(super) fn template_syntax(
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
