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

/// A DNS subdomain (RFC 1123), as a Kubernetes object name: at most 253 characters, DNS
/// labels ([`is_dns_label`]) joined by `.`, none empty. The one check of it: services.yaml's
/// `dns-subdomain` values, the names render gives objects, and a run's name. Each label
/// is at most 63 characters as RFC 1123 says (the API server does not ask that of a
/// label, so this is the stricter; the schema's pattern says the same).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// `text` cut to at most `max` characters, with `…` after it when something was cut.
/// The ways of cutting text kept here: [`clip`] (`…` after `max` characters),
/// [`clip_within`] (`max` characters in all, the note that says so among them),
/// [`clip_middle`] (the start and the end, in bytes); [`start`] is what they keep.
pub fn clip(text: &str, max: usize) -> String {
    let kept = start(text, max);
    if kept.len() == text.len() {
        text.to_owned()
    } else {
        format!("{kept}…")
    }
}

/// The first `max` characters of `text` (all of it when it is shorter).
pub fn start(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// `text` in at most `max` characters in all: itself when it fits, else its start and then
/// `note` (`\n\n… (cut)`), the note counted in `max`.
pub fn clip_within(text: &str, max: usize, note: &str) -> String {
    if start(text, max).len() == text.len() {
        return text.to_owned();
    }
    let keep = max.saturating_sub(note.chars().count());
    format!("{}{note}", start(text, keep))
}

/// `text` shortened to about `head + tail` bytes, keeping its start and its end (cut on
/// character boundaries) around `…`: for a value quoted in an error, where its end tells
/// as much as its start.
pub fn clip_middle(text: &str, head: usize, tail: usize) -> String {
    if text.len() <= head + tail + 3 {
        return text.to_owned();
    }
    let mut h = head;
    while !text.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = text.len() - tail;
    while !text.is_char_boundary(t) {
        t += 1;
    }
    format!("{}…{}", &text[..h], &text[t..])
}

/// A duration for a person to read, in whole seconds: `9s`, `4m 12s`, `1h 3m 20s`, `2days 1h`.
/// (`agentpods runs` prints ages as kubectl does instead: `cli::runs::human_duration`.)
pub fn duration(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
}

/// An error in words with the causes it wraps, each once: `client error (Connect)` alone
/// says nothing of what refused, its causes do (`connection refused`).
///
/// The crate's one printer of errors (docs/architecture.md, "Errors"): every message a
/// person reads of an error, on stderr or in a log line, is this. An error's `Display`
/// says what failed at its own layer and keeps its cause as `#[source]` without its text;
/// this adds the causes after the first line, so a `Display` whose next lines say what to
/// do (`cannot listen on …\nwhat to do: …`) keeps them last; a cause of several lines
/// starts on a line of its own. A cause whose text the message already holds is not
/// repeated. The libraries' words are put in a person's ([`in_words`]): no `(os error
/// N)`, no kube dump of the API server's `Status { … }`, no HTTP client's frames.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    // An HTTP client's frame on top says nothing: its causes begin the message.
    let message = in_words(e).unwrap_or_default();
    let (first, rest) = match message.split_once('\n') {
        Some((first, rest)) => (first, Some(rest)),
        None => (message.as_str(), None),
    };
    let mut why = first.to_owned();
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(text) = in_words(s)
            && !text.is_empty()
            && !message.contains(&text)
            && !why.contains(&text)
        {
            // A cause of several lines (a config's problems, one a line) starts on its own.
            if !why.is_empty() {
                why.push_str(if text.contains('\n') { ":\n" } else { ": " });
            }
            why.push_str(&text);
        }
        source = s.source();
    }
    if why.is_empty() {
        why = e.to_string();
    }
    if let Some(rest) = rest {
        why.push('\n');
        why.push_str(rest);
    }
    why
}

/// How the HTTP clients' own frames begin (kube's, octocrab's, hyper's): an error that
/// only wraps its cause in them says nothing the cause does not (new-user review 13h, F5,
/// F6: `ServiceError: client error (Connect): tcp connect error: Connection refused`).
const LIBRARY_FRAMES: &[&str] = &[
    "ServiceError: ",
    "Service Error: ",
    "HyperError: ",
    "Hyper Error: ",
    "HTTP Error: ",
    "client error (",
    "tcp connect error",
    "error trying to connect",
];

/// One error's own words, for a person: an I/O error's without `(os error N)`, the API
/// server's answer as its code, reason and message (kube prints its `Status` as a Rust
/// dump), a cause's text it repeats put in words too; `None` for an HTTP client's frame
/// that only wraps its cause ([`LIBRARY_FRAMES`]).
fn in_words(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return Some(io_words(io));
    }
    if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>() {
        return Some(api_answer(status));
    }
    // kube's `Api` gives its `Box<Status>` as its source.
    if let Some(status) = e.downcast_ref::<Box<kube::core::Status>>() {
        return Some(api_answer(status));
    }
    if let Some(status) = e.downcast_ref::<kube::core::Status>() {
        return Some(api_answer(status));
    }
    let text = e.to_string();
    let Some(inner) = e.source() else {
        return Some(text);
    };
    if LIBRARY_FRAMES.iter().any(|frame| text.starts_with(frame)) {
        return None;
    }
    // A library's error that says its cause's text (`failed to perform initial object
    // list: ApiError: …`): that text in words, or cut with the `: ` before it when the
    // cause is a frame.
    let raw = inner.to_string();
    match text.find(&raw) {
        Some(at) if !raw.is_empty() => {
            let said = in_words(inner).unwrap_or_default();
            let before = &text[..at];
            let before = if said.is_empty() {
                before.trim_end_matches([' ', ':'])
            } else {
                before
            };
            Some(format!("{before}{said}{}", &text[at + raw.len()..]))
        }
        _ => Some(text),
    }
}

/// An I/O error in words: the operating system's without its number, the common ones said
/// as a person would (`validate deploy` meets a folder, `replay` a service not started).
pub fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let said = match e.kind() {
        K::NotFound => "no such file or folder",
        K::IsADirectory => "it is a folder, not a file",
        K::NotADirectory => "a part of the path is a file, not a folder",
        K::PermissionDenied => "permission denied",
        K::ConnectionRefused => "connection refused (nothing listens there)",
        K::AddrInUse => "the address is in use (another process listens on it)",
        K::AddrNotAvailable => "the address is not one of this machine's",
        K::TimedOut => "timed out",
        K::ConnectionReset => "the connection was reset",
        K::HostUnreachable => "the host cannot be reached",
        K::NetworkUnreachable => "the network cannot be reached",
        _ => {
            let text = e.to_string();
            let text = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            let mut chars = text.chars();
            return match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => text.to_owned(),
            };
        }
    };
    said.to_owned()
}

/// The API server's answer in words: `the API server answered 404 NotFound: the server
/// could not find the requested resource`.
fn api_answer(status: &kube::core::Status) -> String {
    let mut said = format!("the API server answered {}", status.code);
    if !status.reason.is_empty() {
        said.push(' ');
        said.push_str(&status.reason);
    }
    if !status.message.is_empty() {
        said.push_str(": ");
        said.push_str(&status.message);
    }
    said
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

/// serde's message with Rust's number types said in words (`expected u64` → `expected a
/// whole number of 0 or more`): a 400's body and `validate` speak of the JSON or the YAML
/// the user wrote, never of our types (review 13i, F12). Other words are kept.
pub fn serde_words(message: &str) -> String {
    const WORDS: [(&str, &str); 12] = [
        ("u8", "a whole number of 0 or more"),
        ("u16", "a whole number of 0 or more"),
        ("u32", "a whole number of 0 or more"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("isize", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("expected ") {
        let after = &rest[at + "expected ".len()..];
        let word_end = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        out.push_str(&rest[..at + "expected ".len()]);
        match WORDS.iter().find(|(rust, _)| *rust == &after[..word_end]) {
            Some((_, said)) => out.push_str(said),
            None => out.push_str(&after[..word_end]),
        }
        rest = &after[word_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    /// The one DNS-subdomain check, on the inputs review 12b found its three copies
    /// disagreeing on (config refused `a..b` and `a-`, render took `a..b`, `RunName` both).
    #[test]
    fn a_dns_subdomain_is_kubernetes_rule() {
        for (input, ok) in [
            ("a..b", false),
            ("a-", false),
            ("-a", false),
            ("a-.b", false),
            ("a.-b", false),
            (".a", false),
            ("a.", false),
            ("", false),
            ("A.b", false),
            ("a_b", false),
            ("a", true),
            ("a-b.c0", true),
            ("my-run-1.example", true),
        ] {
            assert_eq!(super::is_dns_subdomain(input), ok, "{input:?}");
        }
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(super::is_dns_subdomain(&long[..253]));
        assert!(!super::is_dns_subdomain(&long));
        assert!(!super::is_dns_subdomain(&format!("{}.b", "a".repeat(64))));
    }

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

    #[test]
    fn clipping_within_counts_the_note() {
        assert_eq!(clip_within("héllo", 5, "…"), "héllo");
        assert_eq!(clip_within("héllo", 4, "…"), "hél…");
        assert_eq!(clip_within("héllo world", 8, " (cut)"), "hé (cut)");
        assert_eq!(clip_within("héllo", 2, " (cut)"), " (cut)");
    }

    #[test]
    fn clipping_in_the_middle_keeps_both_ends_on_character_boundaries() {
        assert_eq!(clip_middle("abcdef", 2, 1), "abcdef");
        assert_eq!(clip_middle("abcdefghij", 2, 2), "ab…ij");
        assert_eq!(clip_middle("aébcdefghij", 2, 2), "a…ij");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Failed {
        message: &'static str,
        #[source]
        source: Option<Box<Failed>>,
    }

    fn failed(message: &'static str, source: Option<Failed>) -> Failed {
        Failed {
            message,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn an_error_is_printed_with_each_cause_once_before_what_to_do() {
        let refused = failed(
            "tcp connect error",
            Some(failed("Connection refused", None)),
        );
        let client = failed("cannot reach Kubernetes", Some(refused));
        assert_eq!(
            with_causes(&client),
            "cannot reach Kubernetes: Connection refused"
        );
        // What to do stays last, after the causes of the first line.
        let listen = failed(
            "cannot listen on :80 (--listen)\nwhat to do: give --listen a port of 1024 or above",
            Some(failed("Permission denied (os error 13)", None)),
        );
        assert_eq!(
            with_causes(&listen),
            "cannot listen on :80 (--listen): Permission denied (os error 13)\n\
             what to do: give --listen a port of 1024 or above"
        );
        // A message that already says its cause does not say it twice.
        let said = failed("cannot read: gone", Some(failed("gone", None)));
        assert_eq!(with_causes(&said), "cannot read: gone");
        // A cause of several lines starts on its own line.
        let config = failed(
            "services.yaml: the config does not load",
            Some(failed("a.yaml:1:1: one\na.yaml:2:1: two", None)),
        );
        assert_eq!(
            with_causes(&config),
            "services.yaml: the config does not load:\na.yaml:1:1: one\na.yaml:2:1: two"
        );
    }

    /// New-user review 13h, F5, F6, F15: what a person reads of an error holds no Rust or
    /// library wording: no `(os error N)`, no kube dump of the API server's answer, no
    /// HTTP client's frames around a refused connection.
    #[test]
    fn the_libraries_words_are_put_in_a_persons() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            with_causes(&Error::from_raw_os_error(2)),
            "no such file or folder"
        );
        assert_eq!(
            with_causes(&Error::from_raw_os_error(21)),
            "it is a folder, not a file"
        );
        let refused = Error::from(ErrorKind::ConnectionRefused);
        assert_eq!(with_causes(&refused), "connection refused");
        // An OS error of no common kind keeps the system's words, without the number.
        let said = with_causes(&Error::from_raw_os_error(36));
        assert!(!said.contains("os error"), "{said}");

        // kube's frames around a refused connection, as hyper-util's client makes them.
        let connect = Frame::new("tcp connect error", Error::from_raw_os_error(111));
        let client = Frame::new("client error (Connect)", connect);
        let kube = kube::Error::Service(Box::new(client));
        assert_eq!(
            with_causes(&kube),
            "connection refused (nothing listens there)"
        );

        // The API server's answer, not kube's `Status { … }`, whoever wraps it.
        let status = kube::core::Status::failure(
            "the server could not find the requested resource",
            "NotFound",
        )
        .with_code(404);
        let listed =
            kube::runtime::watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status)));
        let said = with_causes(&listed);
        assert_eq!(
            said,
            "failed to perform initial object list: the API server answered 404 NotFound: \
             the server could not find the requested resource"
        );
    }

    /// An error with a message and a source, as the libraries make them.
    #[derive(Debug)]
    struct Frame {
        message: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    }

    impl Frame {
        fn new(
            message: &'static str,
            source: impl std::error::Error + Send + Sync + 'static,
        ) -> Frame {
            Frame {
                message,
                source: Box::new(source),
            }
        }
    }

    impl std::fmt::Display for Frame {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for Frame {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.source.as_ref())
        }
    }

    #[test]
    fn serde_number_types_are_said_in_words() {
        assert_eq!(
            serde_words(r#"invalid type: string "1", expected u64"#),
            r#"invalid type: string "1", expected a whole number of 0 or more"#
        );
        assert_eq!(
            serde_words("invalid type: string \"x\", expected i64"),
            "invalid type: string \"x\", expected a whole number"
        );
        assert_eq!(serde_words("expected f64"), "expected a number");
        assert_eq!(
            serde_words("invalid type: null, expected a string"),
            "invalid type: null, expected a string"
        );
        assert_eq!(serde_words("expected u64x"), "expected u64x");
    }
}
