//! Trigger filters that load but can never match what they seem to: a changed-file glob
//! written from `/` or `./`, and a branch or tag glob written as a regular expression.
//! Pure: each takes the glob and gives what to write instead (new-user review 13c, N9).

/// Why a `paths` / `paths_ignore` glob can never match, with what to write; `None` when
/// it can. Changed files are named from the repository's root (`src/main.rs`).
pub(super) fn idle_path_glob(glob: &str) -> Option<String> {
    let rest = glob.trim_start_matches("./").trim_start_matches('/');
    if rest.len() == glob.len() {
        return None;
    }
    let lead = &glob[..glob.len() - rest.len()];
    let rest = if rest.is_empty() { "**" } else { rest };
    Some(format!(
        "`{glob}` can never match: changed files are named from the repository's root, \
         like `src/main.rs`, with no leading `{lead}`; write `{rest}`"
    ))
}

/// The glob a branch or tag filter written as a regular expression means (`^v\d+\.\d+$`
/// gives `v[0-9]*.[0-9]*`); `None` when it does not look like one. Only signs that a glob
/// (and a git ref name) would not hold count: an anchor, a `\d`-like class, a repeat `+`
/// after a class, a group or `.`, and a group with `|`.
pub(super) fn regex_as_glob(glob: &str) -> Option<String> {
    if !looks_like_regex(glob) {
        return None;
    }
    let body = glob.strip_prefix('^').unwrap_or(glob);
    let body = body.strip_suffix('$').unwrap_or(body);
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('\\', Some('d')) => out.push_str("[0-9]"),
            ('\\', Some('w' | 's' | 'D' | 'W' | 'S')) => out.push('?'),
            ('\\', Some(other)) => out.push(other),
            ('.', Some('*')) => out.push('*'),
            ('.', Some('+')) => out.push_str("?*"),
            ('+', _) => out.push('*'),
            ('(', _) => out.push('{'),
            (')', _) => out.push('}'),
            ('|', _) => out.push(','),
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        i += match (c, next) {
            ('\\', Some(_)) | ('.', Some('*' | '+')) => 2,
            _ => 1,
        };
    }
    while out.contains("**") {
        out = out.replace("**", "*");
    }
    Some(out)
}

fn looks_like_regex(glob: &str) -> bool {
    let anchored = glob.starts_with('^') || (glob.ends_with('$') && !glob.ends_with("\\$"));
    let class = ["\\d", "\\w", "\\s", "\\D", "\\W", "\\S"]
        .iter()
        .any(|c| glob.contains(c));
    let repeat = ["]+", ")+", ".+", "*+"].iter().any(|r| glob.contains(r));
    let alternation = glob
        .find('(')
        .is_some_and(|open| glob[open..].contains('|') && glob[open..].contains(')'));
    anchored || class || repeat || alternation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_from_the_root_or_the_current_folder_is_written_without_its_lead() {
        assert!(idle_path_glob("src/**").is_none());
        assert!(idle_path_glob("**/*.rs").is_none());
        let slash = idle_path_glob("/src/**").unwrap();
        assert!(slash.ends_with("no leading `/`; write `src/**`"), "{slash}");
        let dot = idle_path_glob("./src/**").unwrap();
        assert!(dot.ends_with("no leading `./`; write `src/**`"), "{dot}");
        assert!(idle_path_glob("/").unwrap().ends_with("write `**`"));
    }

    #[test]
    fn a_regular_expression_is_given_back_as_the_glob_it_means() {
        for (regex, glob) in [
            ("v[0-9]+.*", "v[0-9]*"),
            ("^v\\d+\\.\\d+\\.\\d+$", "v[0-9]*.[0-9]*.[0-9]*"),
            ("^main$", "main"),
            ("release-(stable|lts)", "release-{stable,lts}"),
            ("release/.+", "release/?*"),
        ] {
            assert_eq!(regex_as_glob(regex).as_deref(), Some(glob), "{regex}");
        }
        for glob in [
            "v*",
            "release/*",
            "v[0-9]*",
            "c++",
            "feature-(x)",
            "v1.*",
            "{a,b}",
        ] {
            assert_eq!(regex_as_glob(glob), None, "{glob}");
        }
    }
}
