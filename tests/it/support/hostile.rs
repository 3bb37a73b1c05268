//! Strings an attacker could put in a pull request title, a branch name, a comment, a label
//! or a login, as proptest strategies: YAML and template syntax, line breaks of every kind,
//! control characters, and very long text.

use proptest::prelude::*;
use proptest::sample::select;

/// Pieces that mean something to YAML, to minijinja, to Markdown or to a terminal.
#[rustfmt::skip]
pub const PIECES: &[&str] = &[
    // YAML indicators and scalars that resolve to other types
    ":", ": ", " :", "#", " #", "-", "- ", "--- ", "---", "...", "? ", ",", "{", "}", "[", "]",
    "|", "|-", ">", ">+", "&a", "*a", "!", "!!str", "!!binary", "%", "%YAML 1.1", "@", "`",
    "\"", "'", "\\", "\\n", "\\\"", "~", "null", "true", "no", "0x1F", "1e3", ".inf",
    // line breaks and blanks of every kind, controls, odd code points
    "\n", "\r", "\r\n", "\n\n", "\t", " ", "   ", "\u{85}", "\u{2028}", "\u{2029}", "\0",
    "\u{1}", "\u{1b}[31m", "\u{7f}", "\u{9f}", "\u{a0}", "\u{feff}", "\u{fffe}", "\u{ffff}",
    "\u{1f600}", "日本",
    // template syntax, Markdown, commands, whole YAML documents
    "{{", "}}", "{{ run.name }}", "{%", "%}", "{% raw %}", "{#", "#}", "<!--", "-->",
    "/agent stop", "```", "key: value", "\nkind: Secret\n", "\n---\n", "metadata:\n  name: x",
    "[bot]",
];

/// One piece: a meaningful snippet, any character at all, or a plain word.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(PIECES).prop_map(String::from),
        2 => any::<char>().prop_map(String::from),
        1 => "[a-zA-Z0-9]{1,8}",
    ]
}

/// A hostile string: short mixes of [`PIECES`], arbitrary Unicode, and now and then a very
/// long repetition.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(piece(), 0..24).prop_map(|p| p.concat()),
        2 => any::<String>(),
        1 => (piece(), 2_000..20_000usize).prop_map(|(p, n)| p.repeat(n / p.len().max(1))),
    ]
}

/// A hostile string for a place that needs some text (a login, a label name).
pub fn non_empty() -> impl Strategy<Value = String> {
    string().prop_filter("not empty", |s| !s.is_empty())
}
