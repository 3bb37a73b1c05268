//! What a YAML template may do with values, checked when a template is loaded.
//!
//! In a YAML template every `{{ value }}` prints one complete YAML value, quoted by
//! [`crate::render::escape`], so nothing from GitHub can end a string or add a key. That only holds
//! if the template leaves the quoting alone, so a YAML template may not:
//!
//! - print text unquoted: the `safe` filter, `escape`/`e` (whose quoted output is then
//!   treated as template text), `{% autoescape %}`;
//! - make template text out of rendered output: `{% macro %}`, `{% call %}`, a block
//!   `{% set %}…{% endset %}`, `{% filter %}`, `{% block %}`/`{% extends %}`,
//!   `{% import %}`/`{% from %}` and recursive loops. Their output is marked as template
//!   text (it holds values already quoted), and a filter or slice applied to it (`replace`,
//!   `split`, `[1:-1]`) could undo the quoting of a value inside;
//! - include a template that is not YAML (it is not quoted at all), or one named by a value;
//! - put `{{ … }}` in a mapping key's place (`{{ title }}: x`): text from GitHub would name
//!   a key, repeat one or make a merge key `<<`;
//! - put `{{ … }}` inside a quoted YAML string (`'prefix-{{ x }}'`), a block scalar
//!   (`|`, `>`), a longer plain value (`run-{{ x }}`), an anchor or a tag: the quoted value
//!   it prints would not be a value of its own there, and a `'` or a newline in the text
//!   could end the string.
//!
//! The statements a YAML template may use are listed ([`ALLOWED_STATEMENTS`]); every other
//! one is refused, so a statement added to minijinja later is refused until it is looked at.
//! Templates are read with minijinja's own tokenizer (the same syntax settings as the
//! engine), and the YAML with every `{{ … }}` stood in by a plain marker is read with
//! yaml-rust2's scanner, so positions are exact. Control flow is not followed: a template
//! is checked as if every `{% … %}` tag were removed, which for this check is enough (a
//! tag never ends or starts a YAML string). At render, a duplicate key is refused too
//! (see `objects::yaml_documents`): whatever a value does, it cannot replace a key.

use minijinja::machinery::{Span, Token, tokenize};
use yaml_rust2::scanner::{Scanner, TScalarStyle, TokenType};

/// One problem in a template, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The statements a YAML template may use; everything else is refused.
pub const ALLOWED_STATEMENTS: &[&str] = &[
    "if", "elif", "else", "endif", "for", "endfor", "set", "with", "endwith", "include", "break",
    "continue",
];

/// Filters that print a value unquoted in a YAML template.
const UNQUOTING_FILTERS: &[&str] = &["safe", "escape", "e"];

/// The markers standing in for a `{{ … }}` while the YAML is scanned (private-use
/// characters, the same the shape cache uses; a template may not hold them).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Whether `name` is a YAML template (`.yaml`, `.yml`).
pub fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Every problem found in the template `name` (none for a template that is not YAML, or
/// whose syntax minijinja refuses: that error is reported on its own).
pub fn check(name: &str, source: &str) -> Vec<Finding> {
    if !is_yaml(name) {
        return Vec::new();
    }
    let Ok(tokens) = tokenize(source, false, super::syntax_config())
        .collect::<Result<Vec<(Token<'_>, Span)>, _>>()
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    // The YAML text with every `{{ … }}` replaced by a marker, and where each was.
    let mut yaml = String::with_capacity(source.len());
    let mut printed: Vec<Span> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (token, span) = &tokens[i];
        match token {
            Token::TemplateData(text) => {
                if text.contains([OPEN, CLOSE]) {
                    found.push(at(
                        span,
                        "a YAML template may not hold the private-use characters U+E000 and \
                         U+E001 (they mark values while rendering)"
                            .into(),
                    ));
                }
                yaml.push_str(text);
                i += 1;
            }
            Token::VariableStart | Token::BlockStart => {
                let end = tokens[i..]
                    .iter()
                    .position(|(t, _)| matches!(t, Token::VariableEnd | Token::BlockEnd))
                    .map_or(tokens.len(), |n| i + n);
                let inner = &tokens[i + 1..end.min(tokens.len())];
                check_filters(inner, &mut found);
                if matches!(token, Token::VariableStart) {
                    yaml.push(OPEN);
                    yaml.push_str(&printed.len().to_string());
                    yaml.push(CLOSE);
                    printed.push(*span);
                } else {
                    check_statement(inner, &mut found);
                }
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    check_placements(&yaml, &printed, &mut found);
    found.sort_by_key(|f| (f.line, f.col));
    found.dedup();
    found
}

fn at(span: &Span, message: String) -> Finding {
    Finding {
        line: usize::from(span.start_line),
        col: usize::from(span.start_col) + 1,
        message,
    }
}

fn check_filters(inner: &[(Token<'_>, Span)], found: &mut Vec<Finding>) {
    for pair in inner.windows(2) {
        if let [(Token::Pipe, _), (Token::Ident(name), span)] = pair
            && UNQUOTING_FILTERS.contains(name)
        {
            found.push(at(
                span,
                format!(
                    "`| {name}` would print the value unquoted in a YAML template, so text from \
                     GitHub could end a string or add a key; write `{{{{ value }}}}`: it prints \
                     one complete, quoted YAML value"
                ),
            ));
        }
    }
}

fn check_statement(inner: &[(Token<'_>, Span)], found: &mut Vec<Finding>) {
    let Some((Token::Ident(keyword), span)) = inner.first() else {
        return;
    };
    let span = *span;
    let keyword = *keyword;
    let refuse = |why: &str| {
        at(
            &span,
            format!("`{{% {keyword} %}}` is not allowed in a YAML template: {why}"),
        )
    };
    if keyword.starts_with("end") && !ALLOWED_STATEMENTS.contains(&keyword) {
        // The end of a statement refused where it begins.
        return;
    }
    if keyword == "autoescape" {
        found.push(refuse(
            "it would turn off the quoting of values; remove it (every `{{ value }}` is quoted \
             for YAML already)",
        ));
    } else if !ALLOWED_STATEMENTS.contains(&keyword) {
        found.push(refuse(&format!(
            "its output is treated as template text, so a filter or slice applied to it could \
             undo the quoting of the values inside; repeat the YAML, loop with `{{% for %}}`, \
             set values with `{{% set x = … %}}`, or `{{% include \"part.yaml\" %}}` (allowed: {})",
            ALLOWED_STATEMENTS.join(", ")
        )));
    } else if keyword == "set" && !inner.iter().any(|(t, _)| matches!(t, Token::Assign)) {
        found.push(at(
            &span,
            "a block `{% set x %}…{% endset %}` is not allowed in a YAML template: its output is \
             treated as template text, so a filter or slice applied to it could undo the quoting \
             of the values inside; set a value with `{% set x = … %}` instead"
                .into(),
        ));
    } else if keyword == "for"
        && inner
            .iter()
            .any(|(t, _)| matches!(t, Token::Ident("recursive")))
    {
        found.push(refuse(
            "a recursive loop's output is treated as template text, so a filter applied to it \
             could undo the quoting of the values inside; nest the loops instead",
        ));
    } else if keyword == "include" {
        for (token, span) in &inner[1..] {
            let problem = match token {
                Token::Str(name) if !is_yaml(name) => Some(format!(
                    "`{name}` is not a YAML template, and would be printed unquoted; include only \
                     `.yaml`/`.yml` templates"
                )),
                Token::String(name) if !is_yaml(name) => Some(format!(
                    "`{name}` is not a YAML template, and would be printed unquoted; include only \
                     `.yaml`/`.yml` templates"
                )),
                Token::Ident("ignore" | "missing") | Token::Str(_) | Token::String(_) => None,
                Token::Comma | Token::BracketOpen | Token::BracketClose => None,
                _ => Some(
                    "include a template by its literal name (`{% include \"part.yaml\" %}`), \
                     never by a value"
                        .into(),
                ),
            };
            if let Some(problem) = problem {
                found.push(at(span, format!("`{{% include %}}`: {problem}")));
                break;
            }
        }
    }
}

/// Scans the YAML (with markers) and refuses every `{{ … }}` that is not a whole value.
fn check_placements(yaml: &str, printed: &[Span], found: &mut Vec<Finding>) {
    let mut scanner = Scanner::new(yaml.chars());
    let mut key_next = false;
    for yaml_rust2::scanner::Token(mark, token) in scanner.by_ref() {
        let is_key = std::mem::replace(&mut key_next, matches!(token, TokenType::Key));
        if is_key
            && let TokenType::Scalar(_, text) = &token
            && let Some(span) = first_marker(text).and_then(|n| printed.get(n))
        {
            found.push(at(
                span,
                "`{{ … }}` as a mapping key: text from GitHub would name a key (or repeat \
                 one, or make a merge key `<<`); keys are the template's own, values go after \
                 the colon (`key: {{ value }}`)"
                    .into(),
            ));
            continue;
        }
        let (text, place) = match &token {
            TokenType::Scalar(style, text) => (
                text,
                match style {
                    TScalarStyle::SingleQuoted => Some(
                        "inside a single-quoted YAML string: it prints a complete quoted value, \
                         and a `'` in the text would end the string",
                    ),
                    TScalarStyle::DoubleQuoted => Some(
                        "inside a double-quoted YAML string: it prints a complete quoted value, \
                         and its own quotes end the string",
                    ),
                    TScalarStyle::Literal | TScalarStyle::Folded => Some(
                        "inside a block scalar (`|` or `>`): it prints a complete quoted value, \
                         not text; a quoted value keeps its newlines",
                    ),
                    _ => None,
                },
            ),
            TokenType::Anchor(text) | TokenType::Alias(text) => {
                (text, Some("inside an anchor or alias"))
            }
            TokenType::Tag(handle, suffix) => {
                if (handle.contains(OPEN) || suffix.contains(OPEN))
                    && let Some(span) = first_marker(handle)
                        .or(first_marker(suffix))
                        .and_then(|n| printed.get(n))
                {
                    found.push(at(
                        span,
                        "`{{ … }}` inside a YAML tag: write a plain `key: {{ value }}`".into(),
                    ));
                }
                continue;
            }
            _ => continue,
        };
        if !text.contains(OPEN) {
            continue;
        }
        let whole = text
            .strip_prefix(OPEN)
            .and_then(|t| t.strip_suffix(CLOSE))
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
        let why = match place {
            Some(why) => why,
            None if whole => continue,
            None if mark.line() > 0 && continued_from(yaml, text, mark.line(), printed, found) => {
                continue;
            }
            None => {
                "part of a longer plain value (`run-{{ x }}`): it prints a complete quoted value, \
                 so the result would hold the quotes"
            }
        };
        for n in markers(text) {
            if let Some(span) = printed.get(n) {
                found.push(at(
                    span,
                    format!(
                        "`{{{{ … }}}}` {why}; print the whole value on its own, unquoted \
                         (`key: {{{{ value }}}}`), and join text in the expression: \
                         `{{{{ \"prefix-\" ~ value }}}}`"
                    ),
                ));
            }
        }
    }
}

/// A plain value that holds a `{{ … }}` on a line below its first: the first line is
/// neither a list item nor a key (its `- ` or `:` left out), so YAML reads the lines below
/// it as more of its text. Reported once, at that line (new-user review 13c, N7; before:
/// a "longer plain value" error at every `{{ … }}` below it). `start`: the value's first
/// line in `yaml` (1-based).
fn continued_from(
    yaml: &str,
    text: &str,
    start: usize,
    printed: &[Span],
    found: &mut Vec<Finding>,
) -> bool {
    let Some(n) = first_marker(text) else {
        return false;
    };
    let Some((span, at)) = printed.get(n).zip(yaml.find(&format!("{OPEN}{n}{CLOSE}"))) else {
        return false;
    };
    let marker_line = yaml[..at].matches('\n').count() + 1;
    let Some(begun) = yaml.lines().nth(start - 1) else {
        return false;
    };
    if marker_line <= start || begun.contains(OPEN) {
        return false;
    }
    let line = usize::from(span.start_line) - (marker_line - start);
    let content = begun.trim_start();
    found.push(Finding {
        line,
        col: begun.len() - content.len() + 1,
        message: format!(
            "`{}` is neither a list item nor a key, so YAML reads it and the lines below it \
             as one plain text (the `{{{{ … }}}}` at line {} among them); begin it with `- ` \
             if it is an item of the list, or end its key with `:`",
            content.trim_end(),
            span.start_line
        ),
    });
    true
}

/// The indexes of the markers in `text`.
fn markers(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split(OPEN)
        .skip(1)
        .filter_map(|rest| rest.split(CLOSE).next()?.parse().ok())
}

fn first_marker(text: &str) -> Option<usize> {
    markers(text).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> Vec<(usize, usize, String)> {
        check("t.yaml", source)
            .into_iter()
            .map(|f| (f.line, f.col, f.message))
            .collect()
    }

    fn positions(source: &str) -> Vec<(usize, usize)> {
        found(source).into_iter().map(|(l, c, _)| (l, c)).collect()
    }

    #[test]
    fn whole_values_are_fine() {
        let ok = "a: {{ x }}\nb:\n  - {{ y }}\n  - [{{ z }}, {{ w }}]\n\
                  c: {{ \"run-\" ~ x }} # {{ note }}\n{% if x %}\nd: {{ x | dns_label }}\n{% endif %}\n\
                  list:\n{% for a in b %}\n  - {{ a }}\n{% endfor %}\n{% set n = x ~ \"y\" %}\ne: {{ n }}\n\
                  {% include \"part.yaml\" %}\n{% raw %}f: '{{ not a value }}'{% endraw %}\n";
        assert_eq!(found(ok), vec![]);
        assert_eq!(check("prompt.md", "{{ x | safe }} '{{ y }}'"), vec![]);
    }

    #[test]
    fn interpolation_inside_strings_and_scalars_is_refused_where_it_is() {
        assert_eq!(positions("a: 'prefix-{{ x }}'\n"), vec![(1, 12)]);
        assert_eq!(positions("a: \"prefix-{{ x }}\"\n"), vec![(1, 12)]);
        assert_eq!(positions("a: |\n  hello {{ x }}\n"), vec![(2, 9)]);
        assert_eq!(positions("a: >-\n  {{ x }}\n"), vec![(2, 3)]);
        assert_eq!(positions("name: run-{{ x }}\n"), vec![(1, 11)]);
        assert_eq!(positions("a: {{ x }}{{ y }}\n"), vec![(1, 4), (1, 11)]);
        assert_eq!(positions("k-{{ x }}: v\n"), vec![(1, 3)]);
        assert_eq!(positions("a: &{{ x }} b\n"), vec![(1, 5)]);
        let multi = "a:\n  - x\n  - 'one {% if y %}two{% endif %} {{ x }}'\n";
        assert_eq!(positions(multi), vec![(3, 35)]);
        assert!(found("a: '{{ x }}'\n")[0].2.contains("single-quoted"));
    }

    /// Found by an attacker review: a value in key position let a pull request's title
    /// name a key, repeat one (a 500 at delivery), or make a merge key `<<`.
    #[test]
    fn a_value_as_a_mapping_key_is_refused() {
        for source in [
            "data:\n  {{ pr.title }}: \"x\"\n  z: \"1\"\n",
            "data: { {{ pr.title }}: x }\n",
            "- {{ pr.title }}: x\n",
        ] {
            let found = found(source);
            assert_eq!(found.len(), 1, "{source:?}: {found:?}");
            assert!(found[0].2.contains("as a mapping key"), "{found:?}");
        }
        assert_eq!(found("data:\n  title: {{ pr.title }}\n"), vec![]);
    }

    #[test]
    fn unquoting_filters_and_statements_are_refused() {
        assert_eq!(positions("a: {{ x | safe }}\n"), vec![(1, 11)]);
        assert_eq!(positions("a: {{ x|e }}\n"), vec![(1, 9)]);
        assert_eq!(positions("a: {{ x | escape | upper }}\n"), vec![(1, 11)]);
        assert_eq!(
            positions("{% set y = x|safe %}\na: {{ y }}\n"),
            vec![(1, 14)]
        );
        assert_eq!(
            positions("{% autoescape false %}\na: {{ x }}\n{% endautoescape %}\n"),
            vec![(1, 4)]
        );
        assert_eq!(
            positions("{% macro m(v) %}{{ v }}{% endmacro %}\na: {{ m(x) | replace('a', 'b') }}\n")
                [0],
            (1, 4)
        );
        assert_eq!(positions("{% set y %}{{ x }}{% endset %}\n"), vec![(1, 4)]);
        assert_eq!(
            positions("{% filter upper %}a: {{ x }}{% endfilter %}\n"),
            vec![(1, 4)]
        );
        assert_eq!(positions("{% include \"prompt.md\" %}\n"), vec![(1, 12)]);
        assert_eq!(positions("{% include name %}\n"), vec![(1, 12)]);
        assert_eq!(
            positions("{% for a in b recursive %}{{ loop(a.c) }}{% endfor %}\n"),
            vec![(1, 4)]
        );
        assert!(
            found("a: {{ x | safe }}\n")[0]
                .2
                .contains("write `{{ value }}`")
        );
        // A filter called `safe` is refused wherever it is: in a test or a string it is not one.
        assert_eq!(found("a: {{ x is defined and 'safe' }}\n"), vec![]);
    }

    #[test]
    fn marker_characters_in_a_template_are_refused() {
        assert_eq!(positions("a: \u{E000}0\u{E001}\n").len(), 1);
    }
}
