//! Untrusted text (an agent's summary) made safe to show on GitHub.

/// Words someone other than the run wrote and the bot must not say as its own (a cancel's
/// reason: anyone who may patch the AgentRun sets it): one line, in a code span, where no
/// link, image, mention or HTML renders; at most [`QUOTED_LIMIT`] characters.
pub fn quoted(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    match line.trim() {
        "" => "(no reason given)".to_string(),
        line => format!("`{}`", crate::text::clip(line, QUOTED_LIMIT)),
    }
}

/// The most of someone's words [`quoted`] shows.
pub const QUOTED_LIMIT: usize = 300;

/// Makes untrusted text (an agent's summary) safe to show in a comment: no @mentions (a
/// zero-width joiner after the `@`); no references that GitHub links and records on the
/// issue they name — `#123`, `owner/repo#123`, `GH-123`, an issue's, pull request's or
/// discussion's URL (a zero-width joiner before the number, so they read the same but
/// name nothing); no raw HTML or HTML comments (`<` escaped); no character references
/// that would spell any of these (`&#35;123`: the `&` escaped); no images that load from
/// elsewhere (`![` escaped); no bidi control, which would reorder what a reader sees around
/// it ("Trojan Source"): each shows as its code point (`[U+202E]`, outside review 11d A7);
/// at most `limit` characters.
pub fn neutralise(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len().min(limit) + 16);
    // The end of the text as GitHub shows it, where a reference would be: Markdown's
    // backslash escapes show only the character they escape, so `\#1` is `#1` too.
    let mut shown = Shown::default();
    // NULs go first, so that none can stand between the parts of a mention or reference.
    let mut chars = text.chars().filter(|c| *c != '\u{0}').peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(char::is_ascii_punctuation) {
            out.push('\\');
            continue;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' if is_character_reference(chars.clone()) => out.push_str("&amp;"),
            '@' => {
                out.push('@');
                if chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || *n == '-' || *n == '_')
                {
                    out.push('\u{200D}');
                }
            }
            '!' if chars.peek() == Some(&'[') => out.push_str("!\\"),
            c if crate::text::is_bidi_control(c) => {
                out.push_str(&format!("[U+{:04X}]", u32::from(c)));
            }
            c if c.is_numeric() && shown.ends_a_reference_prefix() => {
                out.push('\u{200D}');
                out.push(c);
            }
            c => out.push(c),
        }
        shown.push(c);
    }
    cut(&out, limit)
}

/// The last few characters of the text as shown, lower-cased.
#[derive(Default)]
struct Shown {
    tail: std::collections::VecDeque<char>,
}

impl Shown {
    const KEEP: usize = 16;

    fn push(&mut self, c: char) {
        if self.tail.len() == Self::KEEP {
            self.tail.pop_front();
        }
        self.tail.extend(c.to_lowercase().take(1));
    }

    /// Whether a number starting here would complete a reference GitHub links: after `#`
    /// (`#1`, `owner/repo#1`), `GH-` or an issue's, pull request's or discussion's path.
    fn ends_a_reference_prefix(&self) -> bool {
        const PREFIXES: [&str; 6] = ["#", "gh-", "/issues/", "/pull/", "/pulls/", "/discussions/"];
        PREFIXES.iter().any(|p| {
            let n = p.chars().count();
            self.tail.len() >= n
                && self
                    .tail
                    .iter()
                    .skip(self.tail.len() - n)
                    .copied()
                    .eq(p.chars())
        })
    }
}

/// Whether the text after a `&` makes it a character reference (`&#35;`, `&#x23;`,
/// `&num;`), which GitHub shows as the character it names.
fn is_character_reference(rest: impl Iterator<Item = char>) -> bool {
    let mut body = String::new();
    for c in rest.take(33) {
        if c == ';' {
            return match body.strip_prefix('#') {
                Some(n) => match n.strip_prefix(['x', 'X']) {
                    Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
                    None => !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
                },
                None => {
                    body.starts_with(|c: char| c.is_ascii_alphabetic())
                        && body.chars().all(|c| c.is_ascii_alphanumeric())
                }
            };
        }
        body.push(c);
    }
    false
}

/// At most `limit` characters, with a note when something was cut.
pub(super) fn cut(text: &str, limit: usize) -> String {
    crate::text::clip_within(text, limit, "\n\n… (cut)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SUMMARY_LIMIT;

    const ZWJ: char = '\u{200D}';

    fn safe(s: &str) -> String {
        neutralise(s, SUMMARY_LIMIT)
    }

    #[test]
    fn references_to_issues_read_the_same_but_name_nothing() {
        for (given, made) in [
            ("Fixes #123.", "Fixes #\u{200D}123."),
            ("see octo/other#7", "see octo/other#\u{200D}7"),
            ("(#1)", "(#\u{200D}1)"),
            ("GH-42 and gh-9", "GH-\u{200D}42 and gh-\u{200D}9"),
            (
                "https://github.com/octo/demo/issues/12#issuecomment-3",
                "https://github.com/octo/demo/issues/\u{200D}12#issuecomment-3",
            ),
            (
                "[the fix](https://github.com/octo/demo/pull/5/files)",
                "[the fix](https://github.com/octo/demo/pull/\u{200D}5/files)",
            ),
            (
                "github.com/octo/demo/discussions/8 github.com/o/r/pulls/2",
                "github.com/octo/demo/discussions/\u{200D}8 github.com/o/r/pulls/\u{200D}2",
            ),
            ("ISSUES: /Issues/3", "ISSUES: /Issues/\u{200D}3"),
        ] {
            assert_eq!(safe(given), made, "{given}");
        }
    }

    #[test]
    fn markdown_escapes_and_character_references_cannot_spell_a_reference() {
        for (given, made) in [
            // `\#1` shows as `#1`.
            ("\\#1", "\\#\u{200D}1"),
            ("GH\\-2", "GH\\-\u{200D}2"),
            ("/issues\\/3", "/issues\\/\u{200D}3"),
            // `&#35;1` shows as `#1`, `&commat;x` as `@x`: the `&` shows as itself instead.
            ("&#35;1", "&amp;#\u{200D}35;1"),
            ("&#x23;1", "&amp;#x23;1"),
            ("&num;1", "&amp;num;1"),
            ("&commat;octocat", "&amp;commat;octocat"),
            ("&#49;", "&amp;#\u{200D}49;"),
        ] {
            assert_eq!(safe(given), made, "{given}");
        }
    }

    #[test]
    fn text_that_references_nothing_is_left_alone() {
        for text in [
            "Issue 12 is fixed",
            "C# and F#, x#y, 1#",
            "#hashtag ## heading",
            "R&D, a && b, &c, &amp without a semicolon",
            "version 1.2.3, 100%, 3-4",
            "https://example.com/docs/v2/page",
        ] {
            assert_eq!(safe(text), text);
            assert!(!safe(text).contains(ZWJ));
        }
    }

    /// The fourth review's A7: a bidi control reaches GitHub as a mark anyone can read, not
    /// as a reordering of the text around it. Before, each passed through as it was.
    #[test]
    fn bidi_controls_show_as_their_code_points() {
        assert_eq!(
            safe("sum \u{202E}live\u{202C} done"),
            "sum [U+202E]live[U+202C] done"
        );
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202D}', '\u{2066}', '\u{2069}',
        ] {
            assert!(!safe(&format!("a{c}b")).contains(c), "{c:?}");
        }
        assert_eq!(safe("שלום, world"), "שלום, world");
    }

    #[test]
    fn a_dropped_nul_cannot_join_a_reference_or_a_mention() {
        assert_eq!(safe("#\u{0}1"), "#\u{200D}1");
        assert_eq!(safe("@\u{0}octocat"), "@\u{200D}octocat");
    }
}
