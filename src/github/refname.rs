//! Git ref names from webhook payloads, checked before they go anywhere.
//!
//! A push's `ref`, a release's `tag_name`, a pull request's head and base branches and a
//! repository's default branch end up in manifests, environment variables, labels, git
//! commands, log lines and the prompts agents read. GitHub only sends names git accepts,
//! but a payload is text from the network: anything git refuses (`git check-ref-format`),
//! and any character that is not shown as itself — a control character, a line or
//! paragraph separator, a bidirectional-text control, a format or otherwise invisible
//! character (U+200B ZERO WIDTH SPACE, U+FEFF, …), a space other than U+0020 — is refused
//! here, so the event is refused (400) naming the field and the code point, and no such
//! name is ever used. Without that, `main\u{200B}` would read as `main` in a prompt or a
//! comment while naming another branch.

use crate::text::is_bidi_control;
use std::borrow::Cow;

/// Why a name is refused: a sentence that never quotes the name (only, for a character
/// that is not shown as itself, its code point).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(Cow<'static, str>);

impl Refused {
    fn says(why: &'static str) -> Refused {
        Refused(Cow::Borrowed(why))
    }
}

/// What git itself accepts as a ref or branch name (`git check-ref-format`, with the
/// `--allow-onelevel` of branch and tag names), and besides that no character that is not
/// shown as itself ([`hidden_kind`]), no leading `-` (an option to a git command;
/// `--branch` refuses it too), and no component longer than 255 bytes (a file name, which
/// every loose ref is). `Err` says why, without quoting the name.
pub fn check(name: &str) -> Result<(), Refused> {
    if name.is_empty() {
        return Err(Refused::says("it is empty"));
    }
    if name == "@" {
        return Err(Refused::says("`@` alone is not a ref name"));
    }
    if name.starts_with('-') {
        // `git check-ref-format --branch` refuses it, and a git command would read it as
        // an option.
        return Err(Refused::says("it starts with `-`"));
    }
    for c in name.chars() {
        if let Some(kind) = hidden_kind(c) {
            return Err(Refused(Cow::Owned(format!(
                "it holds U+{:04X}, {kind}",
                u32::from(c)
            ))));
        }
        if c == ' ' {
            return Err(Refused::says("it holds a space"));
        }
        if matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\') {
            return Err(Refused::says(
                "it holds one of ~ ^ : ? * [ \\ which git refuses",
            ));
        }
    }
    if name.contains("..") {
        return Err(Refused::says("it holds `..`"));
    }
    if name.contains("@{") {
        return Err(Refused::says("it holds `@{`"));
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err(Refused::says("it starts or ends with `/`, or holds `//`"));
    }
    if name.ends_with('.') {
        return Err(Refused::says("it ends with `.`"));
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Err(Refused::says("a part of it starts with `.`"));
        }
        if component.ends_with(".lock") {
            return Err(Refused::says("a part of it ends with `.lock`"));
        }
        if component.len() > 255 {
            return Err(Refused::says("a part of it is longer than 255 bytes"));
        }
    }
    Ok(())
}

/// What `c` is when it is not shown as itself: a control character (Unicode `Cc`), a line
/// or paragraph separator (`Zl`, `Zp`), a bidirectional-text control, another format
/// character (`Cf`, as of Unicode 16), a default-ignorable code point (shown as nothing:
/// variation selectors, Hangul fillers, tags, U+2065…) or a space other than U+0020 (`Zs`:
/// no-break, en, em, ideographic…), or a printable character shown as a blank (the
/// Braille blank U+2800, the object replacement U+FFFC).
pub fn hidden_kind(c: char) -> Option<&'static str> {
    if c.is_control() {
        Some("a control character")
    } else if matches!(c, '\u{2028}' | '\u{2029}') {
        Some("a line or paragraph separator")
    } else if is_bidi_control(c) {
        Some("a bidirectional-text control")
    } else if is_format(c) || is_default_ignorable(c) {
        Some("an invisible or formatting character")
    } else if is_other_space(c) {
        Some("a space other than U+0020")
    } else if matches!(c, '\u{2800}' | '\u{FFFC}') {
        // Printable, but shown as a blank (Braille blank) or a box standing for nothing.
        Some("a character shown as a blank")
    } else {
        None
    }
}

/// Unicode's general category `Cf` (format), as of Unicode 16.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Unicode's `Default_Ignorable_Code_Point` beyond `Cf`: shown as nothing at all. A subset
/// of [`crate::text::is_default_ignorable`] by design: the rest of that list is `Cf`, which
/// [`is_format`] holds whole (more than the ignorable part of it: `U+0600`, `U+FFF9`, …),
/// and is told here as such, before this list is asked.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2065}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Unicode's `Zs` (space separators) but U+0020, which git refuses on its own account.
fn is_other_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_git_takes_are_taken() {
        for name in [
            "main",
            "refs/heads/main",
            "refs/tags/v1.2.3",
            "feature/ünïcode-✓",
            "a.b",
            "release-2026.12",
            "dependabot/npm_and_yarn/lodash-4.17.21",
            "x@y",
            "refs/heads/{braces}",
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_git_refuses_are_refused() {
        for name in [
            "",
            "@",
            "refs/heads/a\nb",
            "a\rb",
            "tab\there",
            "nul\0",
            "del\u{7f}",
            "nel\u{85}",
            "ls\u{2028}",
            "bidi\u{202E}gpj.exe",
            "with space",
            "a..b",
            "a@{1}",
            "/lead",
            "trail/",
            "a//b",
            "end.",
            ".hidden",
            "refs/heads/.x",
            "x.lock",
            "refs/x.lock/y",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "--upload-pack=touch",
        ] {
            assert!(check(name).is_err(), "{name:?}");
        }
        assert!(check(&"x".repeat(256)).is_err());
        assert_eq!(check(&"x".repeat(255)), Ok(()));
    }

    #[test]
    fn a_character_not_shown_as_itself_is_refused_by_its_code_point() {
        for (c, says) in [
            ('\u{200B}', "U+200B, an invisible or formatting character"),
            ('\u{200D}', "U+200D, an invisible or formatting character"),
            ('\u{2060}', "U+2060, an invisible or formatting character"),
            ('\u{2065}', "U+2065, an invisible or formatting character"),
            ('\u{206F}', "U+206F, an invisible or formatting character"),
            ('\u{FEFF}', "U+FEFF, an invisible or formatting character"),
            ('\u{00AD}', "U+00AD, an invisible or formatting character"),
            ('\u{FE0F}', "U+FE0F, an invisible or formatting character"),
            ('\u{3164}', "U+3164, an invisible or formatting character"),
            ('\u{E0041}', "U+E0041, an invisible or formatting character"),
            ('\u{202E}', "U+202E, a bidirectional-text control"),
            ('\u{200F}', "U+200F, a bidirectional-text control"),
            ('\u{2028}', "U+2028, a line or paragraph separator"),
            ('\u{0085}', "U+0085, a control character"),
            ('\u{0007}', "U+0007, a control character"),
            ('\u{00A0}', "U+00A0, a space other than U+0020"),
            ('\u{3000}', "U+3000, a space other than U+0020"),
            ('\u{2800}', "U+2800, a character shown as a blank"),
            ('\u{FFFC}', "U+FFFC, a character shown as a blank"),
        ] {
            let name = format!("main{c}");
            assert_eq!(
                check(&name).map_err(|e| e.to_string()),
                Err(format!("it holds {says}")),
                "{name:?}"
            );
        }
        // Letters and marks of every script are still names git takes.
        for name in [
            "caf\u{e9}",
            "cafe\u{301}",
            "\u{65e5}\u{672c}",
            "\u{5d0}\u{5d1}",
            "emoji-\u{1f600}",
        ] {
            assert_eq!(check(name), Ok(()), "{name:?}");
        }
    }
}
