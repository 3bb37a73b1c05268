//! Kubernetes names and label values from arbitrary text.

use sha2::{Digest, Sha256};

const MAX: usize = 63;
const HASH_LEN: usize = 8;

/// A run's name (its AgentRun's), as `plan::run_name` makes them: a DNS label, so it is
/// safe as an object name, a label value and in a field selector. What names a run from
/// outside (a check run's `external_id`) is one only once it is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunName(String);

impl RunName {
    /// `name`, if it is a DNS label.
    pub fn parse(name: &str) -> Option<RunName> {
        crate::text::is_dns_label(name).then(|| RunName(name.to_owned()))
    }

    /// `<head>-<hash>`: `head` made a DNS label and cut so that the whole is at most 63
    /// characters, and the [`short_hash`] of `parts`. A label by construction.
    pub fn made(head: &str, parts: &[&str]) -> RunName {
        let hash = short_hash(parts);
        let mut head = dns_label(head);
        head.truncate(MAX - hash.len() - 1);
        let head = head.trim_end_matches('-');
        RunName(format!("{head}-{hash}"))
    }

    /// `text` if it is a run's name, else one [`RunName::made`] of it.
    pub fn or_made(text: &str) -> RunName {
        RunName::parse(text).unwrap_or_else(|| RunName::made(text, &[text]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text that is not a run's name (not a DNS label).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a run's name (a DNS label: lowercase letters, digits and `-`, at most 63 characters)"
)]
pub struct NotARunName(String);

impl std::str::FromStr for RunName {
    type Err = NotARunName;

    fn from_str(name: &str) -> Result<RunName, NotARunName> {
        RunName::parse(name).ok_or_else(|| NotARunName(name.to_owned()))
    }
}

impl std::fmt::Display for RunName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short, stable hex digest of `parts` (NUL-separated so `("ab","c")` ≠ `("a","bc")`).
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    digest
        .iter()
        .take(HASH_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A DNS-1123 label: lowercase `[a-z0-9-]`, starting and ending with a letter or digit,
/// at most 63 characters. Anything else becomes `-`; a value that had to be shortened gets
/// a stable hash suffix of the original so that two long names stay distinct.
pub fn dns_label(input: &str) -> String {
    let mut s = String::with_capacity(input.len().min(MAX + 1));
    for c in input.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (s.is_empty() || s.ends_with('-')) {
            continue;
        }
        s.push(c);
    }
    let s = s.trim_end_matches('-');
    if s.is_empty() {
        return format!("x-{}", short_hash(&[input]));
    }
    if s.len() <= MAX {
        return s.to_string();
    }
    let keep = s[..MAX - HASH_LEN - 1].trim_end_matches('-');
    format!("{keep}-{}", short_hash(&[input]))
}

/// A label value: `[A-Za-z0-9._-]`, starting and ending with a letter or digit, at most 63
/// characters (empty stays empty). `/` becomes `.` (so `owner/repo` reads `owner.repo`),
/// anything else invalid becomes `-`; shortened values get a hash suffix.
pub fn label_value(input: &str) -> String {
    let mapped: String = input
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            '/' => '.',
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.len() <= MAX && trimmed.len() == mapped.len() {
        return trimmed.to_string();
    }
    if trimmed.len() <= MAX && !trimmed.is_empty() {
        return trimmed.to_string();
    }
    if trimmed.is_empty() {
        return if input.is_empty() {
            String::new()
        } else {
            format!("x{}", short_hash(&[input]))
        };
    }
    let keep = trimmed[..MAX - HASH_LEN - 1].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{keep}-{}", short_hash(&[input]))
}

/// The label value of a repository's `owner/name` (the label `agentpods.dev/repo`),
/// one-to-one, so that a selector by it reaches the runs of exactly one repository (outside
/// review 15b, B5: `acme/x-`, `acme/x.` and `acme/x` were all `acme.x`).
///
/// `owner.name` as GitHub spells it, when that is a label value: a GitHub owner is letters,
/// digits and `-`, and a name adds `.` and `_`, so the owner is what comes before the first
/// `.`, and nothing is lost. Else (a name that ends in `.`, `-` or `_`, or too long a pair),
/// `owner_name-<hash>`: what fits of the name, and 16 hex digits of the SHA-256 of the
/// `owner/name` given. No value of the first form has a `_` before its first `.`, and every
/// value of the second does; two of the second form are equal only if 64 bits of their
/// hashes are.
pub fn repository_label(full_name: &str) -> String {
    let owner_ok = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let name_ok = |c: char| owner_ok(c) || c == '.' || c == '_';
    if let Some((owner, name)) = full_name.split_once('/')
        && !owner.is_empty()
        && !name.is_empty()
        && owner.chars().all(owner_ok)
        && name.chars().all(name_ok)
    {
        let value = format!("{owner}.{name}");
        let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if value.len() <= MAX && ends(value.chars().next()) && ends(value.chars().last()) {
            return value;
        }
    }
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
    let owner: String = owner
        .chars()
        .map(|c| if owner_ok(c) { c } else { '-' })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(39)
        .collect();
    let owner = if owner.is_empty() { "x".into() } else { owner };
    let digest = Sha256::digest(full_name.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    // `{owner}_` + `{name}` + `-{hash}`, at most MAX.
    let room = MAX - owner.len() - 1 - 1 - hash.len();
    let name: String = name
        .chars()
        .map(|c| if name_ok(c) { c } else { '-' })
        .take(room)
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        format!("{owner}_{hash}")
    } else {
        format!("{owner}_{name}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_label_is_one_to_one_and_a_label_value() {
        // GitHub's own spelling, when it is a label value already.
        for (name, kept) in [
            ("Codertocat/Hello-World", "Codertocat.Hello-World"),
            ("acme/.github", "acme..github"),
            ("acme/a_b.c", "acme.a_b.c"),
        ] {
            assert_eq!(repository_label(name), kept);
        }
        // Look-alikes that folded to one value before (review 15b, B5).
        let names = [
            "acme/x",
            "acme/x-",
            "acme/x.",
            "acme/x_",
            "acme/_x_",
            "acme/...",
            "acme/payments",
            "acme/payments_",
            "acme/payments-",
            "acme/payments.",
            "ACME/Payments",
            &format!("acme/{}", "a".repeat(100)),
            &format!("acme/{}b", "a".repeat(99)),
            &format!("{}/{}", "o".repeat(39), "n".repeat(23)),
            &format!("{}/{}", "o".repeat(39), "n".repeat(24)),
        ];
        let labels: Vec<String> = names.iter().map(|n| repository_label(n)).collect();
        for (name, label) in names.iter().zip(&labels) {
            assert!(
                label.len() <= MAX
                    && label.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && label.ends_with(|c: char| c.is_ascii_alphanumeric())
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{name}: {label}"
            );
        }
        let distinct: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(distinct.len(), labels.len(), "{labels:#?}");
        assert!(labels[1].starts_with("acme_x-"), "{}", labels[1]);
        // A real name cannot take the value a folded one was given: before its first `.`,
        // only the second form has a `_`.
        let crafted = format!("acme/{}", labels[1].trim_start_matches("acme_"));
        assert_ne!(repository_label(&crafted), labels[1]);
    }
    use crate::text::is_dns_label;

    #[test]
    fn a_run_name_is_a_dns_label_and_nothing_else() {
        let made = RunName::made("review-pr2", &["sha256:00", "review", ""]);
        assert_eq!(RunName::parse(made.as_str()), Some(made.clone()));
        let long = RunName::made(&"Long name! ".repeat(20), &["k"]);
        assert!(is_dns_label(long.as_str()), "{long}");
        // Nothing that could widen the field selector it is looked up by, nor a path.
        for bad in [
            "",
            "Review-pr2",
            "a,metadata.namespace=x",
            "a=b",
            "../x",
            "a.b",
            "-a",
        ] {
            assert_eq!(RunName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dns_labels_are_valid_and_stable() {
        assert_eq!(dns_label("Review"), "review");
        assert_eq!(dns_label("fix: the Flaky test!"), "fix-the-flaky-test");
        assert_eq!(dns_label("--a--b--"), "a-b");
        let long = "x".repeat(100);
        let a = dns_label(&long);
        assert_eq!(a.len(), 63);
        assert_eq!(a, dns_label(&long));
        assert_ne!(dns_label(&"x".repeat(101)), a);
        assert!(is_dns_label(&dns_label("日本語")));
        assert!(is_dns_label(&dns_label("")));
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(
            label_value("Codertocat/Hello-World"),
            "Codertocat.Hello-World"
        );
        assert_eq!(label_value("42"), "42");
        assert_eq!(label_value(""), "");
        assert_eq!(label_value("-x-"), "x");
        let v = label_value(&"a/".repeat(80));
        assert!(
            v.len() <= 63 && v.ends_with(|c: char| c.is_ascii_alphanumeric()),
            "{v}"
        );
    }
}
