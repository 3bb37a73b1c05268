//! An error's `Display` says what failed at its own layer and does not repeat its source's
//! text (docs/architecture.md, "Errors"; review 12v, R22): `text::with_causes` prints each
//! cause once, but `tracing`'s `%e` beside an `Error::source()` walker, or any other
//! printer of the chain, would print it twice. So an `#[error(…)]` that prints a field
//! thiserror takes as the source (marked `#[source]` or `#[from]`, or named `source`)
//! fails here; write what failed, and let the printer add the cause.

use std::path::{Path, PathBuf};

#[test]
fn no_error_s_display_repeats_its_source() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    let mut seen = 0;
    for file in files {
        let relative = file
            .strip_prefix(src.parent().expect("the crate"))
            .expect("under the crate")
            .display()
            .to_string();
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{relative}: cannot read: {e}"));
        for (line, message) in repeats(&text) {
            found.push(format!("{relative}:{line}: {message}"));
        }
        seen += text.matches("#[error(").count();
    }
    assert!(
        seen > 100,
        "only {seen} #[error(…)] found: is the scan blind?"
    );
    assert!(
        found.is_empty(),
        "an error's Display repeats its source (say what failed; `text::with_causes` prints \
         the cause):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn a_display_that_prints_its_source_is_found_and_one_that_does_not_is_not() {
    let text = r#"
#[derive(Debug, thiserror::Error)]
pub enum E {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot parse: {0}")]
    Parse(#[from] std::num::ParseIntError),
    #[error("cannot listen on {address} ({flag})")]
    Listen { address: String, flag: &'static str, #[source] cause: std::io::Error },
    #[error("bad {0:?}: {1}")]
    Bad(String, #[source] std::fmt::Error),
    #[error("{0}")]
    Text(String),
    #[error(transparent)]
    Other(#[from] std::fmt::Error),
    #[error("{}: {}", what, cause)]
    Args { what: String, #[source] cause: std::io::Error },
}
"#;
    let lines: Vec<usize> = repeats(text).into_iter().map(|(line, _)| line).collect();
    assert_eq!(lines, [4, 6, 10, 16]);
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Each `#[error(…)]` of `text` that prints a field thiserror takes as the source: its line
/// and the attribute.
fn repeats(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[error(") {
        let start = from + at;
        let open = start + "#[error".len();
        let Some(close) = closing(text, open) else {
            break;
        };
        from = close + 1;
        let attribute = &text[open + 1..close];
        if attribute.trim() == "transparent" {
            continue;
        }
        let sources = source_fields(&text[close + 1..]);
        if sources
            .iter()
            .any(|field| prints(attribute, field, field.parse::<usize>().is_ok()))
        {
            let line = text[..start].matches('\n').count() + 1;
            out.push((line, format!("#[error({attribute})]")));
        }
    }
    out
}

/// Whether the attribute's format string or its arguments print `field` (`{source}`,
/// `{0}`, `{source:?}`, or `source`/`.0` as an argument).
fn prints(attribute: &str, field: &str, positional: bool) -> bool {
    let (format, arguments) = split_format(attribute);
    let in_format = format.match_indices('{').any(|(i, _)| {
        let rest = &format[i + 1..];
        rest.strip_prefix(field)
            .is_some_and(|after| after.starts_with('}') || after.starts_with(':'))
    });
    // An argument that is the field itself (`source`, `.0`): one that only reads it
    // (`what_to_do(source)`) may choose words by it.
    let in_arguments = arguments.split(',').map(str::trim).any(|argument| {
        if positional {
            argument == format!(".{field}")
        } else {
            [
                field.to_string(),
                format!(".{field}"),
                format!("self.{field}"),
            ]
            .contains(&argument.to_string())
        }
    });
    in_format || in_arguments
}

/// The attribute's format string (its first string literal) and what follows it.
fn split_format(attribute: &str) -> (&str, &str) {
    let Some(begin) = attribute.find('"') else {
        return ("", attribute);
    };
    let bytes = attribute.as_bytes();
    let mut i = begin + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return (&attribute[begin + 1..i], &attribute[i + 1..]),
            _ => i += 1,
        }
    }
    (&attribute[begin + 1..], "")
}

/// The index of the `)` that closes the `(` at `open`, past string literals.
fn closing(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// The fields of the variant or struct that follows an `#[error(…)]` (`after` starts
/// just past it) that thiserror takes as the source: each by name, or by index in a tuple.
fn source_fields(after: &str) -> Vec<String> {
    // The fields open at the first `{` or `(` before the item ends (`,` or `;`), past
    // further attributes and doc comments.
    let mut i = 0;
    let bytes = after.as_bytes();
    let open = loop {
        let Some(&b) = bytes.get(i) else {
            return Vec::new();
        };
        match b {
            b'#' if bytes.get(i + 1) == Some(&b'[') => {
                i = closing(after, i + 1).map_or(bytes.len(), |c| c + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = after[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'{' | b'(' => break i,
            b',' | b';' => return Vec::new(),
            _ => {}
        }
        i += 1;
    };
    let Some(close) = closing(after, open) else {
        return Vec::new();
    };
    let tuple = bytes[open] == b'(';
    let body = &after[open + 1..close];
    let mut fields = Vec::new();
    let mut depth = 0i32;
    let mut begin = 0;
    for (j, c) in body.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(&body[begin..j]);
                begin = j + 1;
            }
            _ => {}
        }
    }
    if !body[begin..].trim().is_empty() {
        fields.push(&body[begin..]);
    }
    fields
        .iter()
        .enumerate()
        .filter_map(|(index, field)| {
            let code = field
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("//"))
                .collect::<Vec<_>>()
                .join(" ");
            let marked = code.contains("#[source]") || code.contains("#[from]");
            if tuple {
                return marked.then(|| index.to_string());
            }
            let declaration = code.rsplit(']').next().unwrap_or(&code).trim();
            let name = declaration
                .split(':')
                .next()?
                .split_whitespace()
                .last()?
                .to_string();
            (marked || name == "source").then_some(name)
        })
        .collect()
}
