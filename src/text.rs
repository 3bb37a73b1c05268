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

/// Whether `c` is a bidirectional control (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069):
/// it reorders what a reader sees around it ("Trojan Source"), unseen itself.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is a default-ignorable code point (Unicode's `Default_Ignorable_Code_Point`,
/// DerivedCoreProperties.txt): shown as nothing, so `s\u{200B}k` reads as `sk`. The bidi
/// controls are among them.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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
