//! Which block a template leaves open. minijinja reports an `{% if %}` without its
//! `{% endif %}` where the template ends ("unexpected end of input, expected end of
//! block"), which says nothing of the `if`: the block tags read here, in order, name the
//! tag that opened it. Raw blocks and comments are skipped by minijinja's own tokenizer.

use minijinja::machinery::{Token, tokenize};

/// The tags that open a block closed by `end<tag>`. `set` opens one only without `=`
/// (`{% set x %}…{% endset %}`, not `{% set x = 1 %}`).
const OPENERS: &[&str] = &[
    "if",
    "for",
    "macro",
    "call",
    "filter",
    "block",
    "with",
    "autoescape",
    "set",
];

/// A block tag left open: its keyword (`if`), and where its `{%` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclosed {
    pub keyword: String,
    pub line: usize,
    pub col: usize,
}

/// The innermost block `source` opens and never closes, read up to the end or to the
/// first text the tokenizer cannot read.
pub fn unclosed_block(source: &str) -> Option<Unclosed> {
    let mut open: Vec<Unclosed> = Vec::new();
    let mut tokens = tokenize(source, false, super::syntax_config()).map_while(Result::ok);
    while let Some((token, span)) = tokens.next() {
        if !matches!(token, Token::BlockStart) {
            continue;
        }
        let Some((Token::Ident(keyword), _)) = tokens.next() else {
            continue;
        };
        // The rest of the tag: whether it assigns (`set x = …`).
        let mut assigns = false;
        for (token, _) in tokens.by_ref() {
            match token {
                Token::BlockEnd => break,
                Token::Assign => assigns = true,
                _ => {}
            }
        }
        if let Some(closed) = keyword.strip_prefix("end") {
            if open.last().is_some_and(|o| o.keyword == closed) {
                open.pop();
            }
        } else if OPENERS.contains(&keyword) && !(keyword == "set" && assigns) {
            open.push(Unclosed {
                keyword: keyword.to_string(),
                line: usize::from(span.start_line),
                col: usize::from(span.start_col) + 1,
            });
        }
    }
    open.pop()
}

/// A tag whose `{%` (or `{{`) is never closed: the next tag opens inside it, or the
/// template ends in it (`{% if pr %` for `{% if pr %}`). minijinja reads on into the next
/// lines and reports what it meets there, lines below (new-user review 13h, F4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnclosedTag {
    /// `{%` or `{{`.
    pub opener: &'static str,
    /// `%}` or `}}`.
    pub closer: &'static str,
    pub line: usize,
    pub col: usize,
}

/// The first tag of `source` never closed (see [`UnclosedTag`]).
pub fn unclosed_tag(source: &str) -> Option<UnclosedTag> {
    let mut inside: Option<UnclosedTag> = None;
    for (token, span) in tokenize(source, false, super::syntax_config()).map_while(Result::ok) {
        let tag = |opener, closer| UnclosedTag {
            opener,
            closer,
            line: usize::from(span.start_line),
            col: usize::from(span.start_col) + 1,
        };
        match token {
            Token::BlockStart => inside = Some(tag("{%", "%}")),
            Token::VariableStart => inside = Some(tag("{{", "}}")),
            Token::BlockEnd | Token::VariableEnd => inside = None,
            _ if inside.is_some() => {
                let rest = source.get(span.start_offset as usize..).unwrap_or_default();
                if rest.starts_with("{{") || rest.starts_with("{%") {
                    return inside;
                }
            }
            _ => {}
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_the_next_tag_opens_inside_or_the_end_finds_open_is_named() {
        let at = |source: &str| unclosed_tag(source).map(|t| (t.opener, t.line, t.col));
        assert_eq!(
            at("a\n{% if pr %\nb {{ pr.x }}\n{% endif %}"),
            Some(("{%", 2, 1))
        );
        assert_eq!(at("x {{ a }\ny {{ b }}"), Some(("{{", 1, 3)));
        assert_eq!(at("{% if a %}x{% endif %}\n{{ b"), Some(("{{", 2, 1)));
        for fine in [
            "{% if a %}{{ {'k': {'j': 1}} }}{% endif %}",
            "{{ \"{{\" }}",
            "{% raw %}{% if {% endraw %}",
            "{# {% if #}",
        ] {
            assert_eq!(at(fine), None, "{fine}");
        }
    }

    fn at(source: &str) -> Option<(String, usize, usize)> {
        unclosed_block(source).map(|u| (u.keyword, u.line, u.col))
    }

    #[test]
    fn the_innermost_block_left_open_is_named_where_it_opens() {
        assert_eq!(at("a\n  {% if x %}\nb\n"), Some(("if".into(), 2, 3)));
        assert_eq!(
            at("{% for l in ls %}\n{% if l %}x{% endif %}\n{%- if y -%}\n{% endfor %}"),
            Some(("if".into(), 3, 1))
        );
        assert_eq!(
            at("{% if a %}{% for l in ls %}{% endfor %}"),
            Some(("if".into(), 1, 1))
        );
        assert_eq!(at("{% set x %}y"), Some(("set".into(), 1, 1)));
    }

    #[test]
    fn closed_blocks_assignments_raw_blocks_and_comments_leave_nothing_open() {
        for source in [
            "{% if a %}{% elif b %}{% else %}{% endif %}",
            "{% set x = 1 %}{{ x }}",
            "{% set x %}y{% endset %}",
            "{% raw %}{% if a %}{% endraw %}",
            "{# {% if a %} #}",
            "{{ a if b else c }}",
            "{% macro m() %}{% endmacro %}{% with a = 1 %}{% endwith %}",
        ] {
            assert_eq!(at(source), None, "{source}");
        }
    }
}
