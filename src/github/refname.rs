//! Git ref names from webhook payloads, checked before they go anywhere.
//!
//! A push's `ref`, a release's `tag_name`, a pull request's head and base branches and a
//! repository's default branch end up in manifests, environment variables, labels, git
//! commands and log lines. GitHub only sends names git accepts, but a payload is text from
//! the network: anything git refuses (`git check-ref-format`), and any control character,
//! line or paragraph separator or bidirectional-text control, is refused here, so the event
//! is refused (400) naming the field, and no such name is ever used.

/// What git itself accepts as a ref or branch name (`git check-ref-format`, with the
/// `--allow-onelevel` of branch and tag names), and besides that no control character
/// (C0, DEL, C1), no line or paragraph separator and no bidirectional-text control, no
/// leading `-` (an option to a git command; `--branch` refuses it too), and no component
/// longer than 255 bytes (a file name, which every loose ref is). `Err` says why, without
/// quoting the name.
pub fn check(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name == "@" {
        return Err("`@` alone is not a ref name");
    }
    if name.starts_with('-') {
        // `git check-ref-format --branch` refuses it, and a git command would read it as
        // an option.
        return Err("it starts with `-`");
    }
    if let Some(c) = name.chars().find(|&c| is_refused_char(c)) {
        return Err(if c.is_control() {
            "it holds a control character (a newline, say)"
        } else if matches!(c, '\u{2028}' | '\u{2029}') {
            "it holds a line or paragraph separator"
        } else if is_bidi_control(c) {
            "it holds a bidirectional-text control"
        } else if c == ' ' {
            "it holds a space"
        } else {
            "it holds one of ~ ^ : ? * [ \\ which git refuses"
        });
    }
    if name.contains("..") {
        return Err("it holds `..`");
    }
    if name.contains("@{") {
        return Err("it holds `@{`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("it starts or ends with `/`, or holds `//`");
    }
    if name.ends_with('.') {
        return Err("it ends with `.`");
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Err("a part of it starts with `.`");
        }
        if component.ends_with(".lock") {
            return Err("a part of it ends with `.lock`");
        }
        if component.len() > 255 {
            return Err("a part of it is longer than 255 bytes");
        }
    }
    Ok(())
}

fn is_refused_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '\u{2028}' | '\u{2029}'
        )
        || is_bidi_control(c)
}

/// Characters that reorder the text shown around them (a log line, a comment).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
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
}
