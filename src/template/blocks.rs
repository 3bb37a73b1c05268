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

#[cfg(test)]
mod tests {
    use super::*;

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
