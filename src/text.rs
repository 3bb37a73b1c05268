//! Small text rules used across the crate, kept in one place: a leaf module that depends
//! on nothing of ours.

/// A Kubernetes DNS label (RFC 1123): 1–63 lowercase letters, digits and `-`, starting and
/// ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `text` cut to at most `max` characters, with `…` after it when something was cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A duration for a person to read, in whole seconds: `9s`, `4m 12s`, `1h 3m 20s`, `2days 1h`.
/// (`agentpods runs` prints ages as kubectl does instead: `cli::runs::human_duration`.)
pub fn duration(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "a-1", "0", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn durations_in_whole_seconds() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_millis(9_999)), "9s");
        assert_eq!(duration(Duration::from_secs(252)), "4m 12s");
        assert_eq!(duration(Duration::from_secs(3800)), "1h 3m 20s");
        assert_eq!(duration(Duration::ZERO), "0s");
    }

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("a", 0), "…");
    }
}
