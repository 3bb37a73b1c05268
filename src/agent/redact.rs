//! Keeping the pod's secrets out of everything the entrypoint writes: the pod log (the
//! agent's output as passed through), the entrypoint's own messages and the result.
//!
//! An agent reads text written by strangers and can be talked into printing whatever it
//! can read. So each secret is looked for in the forms an agent is likely to print it in,
//! not only as it is:
//!
//! - as it is, and each of its lines (a key file printed line by line), and each string
//!   of it when it is JSON (a registry `config.json`, a cloud key file), and what it holds
//!   when it is base64 (`user:password`, and the password alone);
//! - base64, standard and URL-safe, at each of the three byte offsets a secret can have
//!   inside a longer text that was encoded (padded or not: the characters that also carry
//!   bits of the text around it are left, at most 12 bits of the secret at each end);
//! - base64 of the whole value, alone or with the newline `echo` adds (`echo $KEY |
//!   base64`), padded or not: then nothing of it is left, not even its last characters;
//! - hex, in either case;
//! - UTF-16 and UTF-32, either byte order, with or without a byte order mark (the value's
//!   characters with NULs between them: what Windows PowerShell 5 writes by default), and
//!   those forms in hex or in standard base64, at each offset as above (what PowerShell's
//!   `-EncodedCommand` takes and `[Convert]::ToBase64String([Text.Encoding]::Unicode
//!   .GetBytes(...))` prints), the UTF-16LE value encoded alone leaving nothing of it;
//! - upper-cased, lower-cased or in any mix of cases (ASCII letters), when it is at least
//!   [`MIN_FOLDED_LEN`] bytes long: a value that long is no word an ordinary log holds in
//!   another case (a shorter one is matched in its own case only);
//! - any of these URL-encoded (`%XX` in either case, `+` for a space), or URL-encoded
//!   twice (`%25XX`), in part or whole;
//! - any of these split over lines: up to two `\r`/`\n` between any two of its characters
//!   (`base64` wraps its output at 76 columns).
//!
//! A value shorter than [`MIN_SECRET_LEN`] bytes is not looked for: it would turn half of
//! an ordinary log into `***`. The entrypoint says so in the log, naming the variable or
//! file, never the value.
//!
//! Left out, on purpose (see docs/security.md): transformations an agent has to be asked
//! for by name (reversed, ROT13, XOR, one character per line, gzip), and JSON or shell
//! escapes inside a secret. Redaction keeps a secret out of our reports when an agent
//! prints it; it is no defence against an agent that wants to send it elsewhere.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

/// Values shorter than this many bytes (after trimming) are not redacted.
pub const MIN_SECRET_LEN: usize = 8;

/// Values at least this many bytes long (after trimming) are also found in any case.
pub const MIN_FOLDED_LEN: usize = 16;

/// What a secret is replaced with.
pub const REPLACEMENT: &str = "***";

/// How many `\r`/`\n` bytes may stand between two characters of a secret in the text.
const MAX_BREAK: usize = 2;

/// A form of a secret to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    bytes: Vec<u8>,
    /// Hex, and a value of [`MIN_FOLDED_LEN`] bytes or more, are matched in any case.
    any_case: bool,
}

#[derive(Debug, Default)]
struct Index {
    patterns: Vec<Pattern>,
    /// The patterns by the first byte they can start with.
    by_first: Vec<Vec<u32>>,
}

/// Replaces every form of each secret with `***`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    index: Arc<Index>,
}

/// How a text compares with a pattern at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compared {
    /// The pattern is there, taking this many bytes of the text.
    Found(usize),
    Absent,
    /// The text ends before it can tell.
    NeedMore,
}

impl Redactor {
    /// A redactor for these secret values (each given as it is; its other forms are
    /// derived). Values shorter than [`MIN_SECRET_LEN`] are left out.
    pub fn new<S: AsRef<[u8]>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut patterns: Vec<Pattern> = Vec::new();
        for secret in secrets {
            for fragment in fragments(secret.as_ref()) {
                for pattern in encodings(&fragment) {
                    if !patterns.contains(&pattern) {
                        patterns.push(pattern);
                    }
                }
            }
        }
        Redactor::from_patterns(patterns)
    }

    fn from_patterns(patterns: Vec<Pattern>) -> Redactor {
        let mut by_first = vec![Vec::new(); 256];
        for (i, p) in patterns.iter().enumerate() {
            for first in first_bytes(p) {
                by_first[usize::from(first)].push(i as u32);
            }
        }
        Redactor {
            index: Arc::new(Index { patterns, by_first }),
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.index.patterns.is_empty()
    }

    /// How many forms of the secrets are looked for.
    pub fn forms(&self) -> usize {
        self.index.patterns.len()
    }

    /// A redactor for the secrets of both.
    pub fn merged(&self, other: &Redactor) -> Redactor {
        let mut patterns = self.index.patterns.clone();
        for p in &other.index.patterns {
            if !patterns.contains(p) {
                patterns.push(p.clone());
            }
        }
        Redactor::from_patterns(patterns)
    }

    /// The same, for output that need not be UTF-8.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.scan(bytes, true).0
    }

    pub fn redact(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        match String::from_utf8(self.redact_bytes(text.as_bytes())) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The same for text GitHub shows as Markdown (the run's summary, which becomes the
    /// pull request's title and body, the bot's comment and the check run): a secret is
    /// also found as it shows there, where a default-ignorable character (U+200B, U+2060,
    /// U+00AD, U+FEFF...) shows as nothing and a backslash escape (`\-`) as the character
    /// it escapes (outside review 11d, A6). Text with a secret found only so is given as it
    /// shows, redacted: its escapes and invisible characters are lost with the secret.
    pub fn redact_published(&self, text: &str) -> String {
        let redacted = self.redact(text);
        let shown = shown_as_markdown(&redacted);
        let unformatted = without_formatting(&shown);
        for form in [shown, unformatted] {
            if form != redacted && self.finds(form.as_bytes()) {
                return self.redact(&form);
            }
        }
        redacted
    }

    /// Whether any form of a secret is in `bytes` (what [`Redactor::redact_bytes`] would
    /// replace).
    pub fn finds(&self, bytes: &[u8]) -> bool {
        !self.is_empty()
            && (0..bytes.len())
                .any(|i| matches!(self.longest_at(bytes, i, true), Compared::Found(_)))
    }

    /// A redactor for a stream: see [`RedactingStream`].
    pub fn stream(&self) -> RedactingStream {
        RedactingStream {
            redactor: self.clone(),
            pending: Vec::new(),
        }
    }

    /// Redacts `text` up to where a secret could still begin and be cut by its end (all of
    /// it when `end`); returns the redacted text and how many bytes of `text` it covers.
    fn scan(&self, text: &[u8], end: bool) -> (Vec<u8>, usize) {
        if self.is_empty() {
            return (text.to_vec(), text.len());
        }
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            match self.longest_at(text, i, end) {
                Compared::Found(n) => {
                    out.extend_from_slice(REPLACEMENT.as_bytes());
                    i += n;
                }
                Compared::Absent => {
                    out.push(text[i]);
                    i += 1;
                }
                Compared::NeedMore => break,
            }
        }
        (out, i)
    }

    /// The longest form of a secret that starts at `at`.
    fn longest_at(&self, text: &[u8], at: usize, end: bool) -> Compared {
        let index = &self.index;
        let mut longest = 0;
        let mut need_more = false;
        let mut try_bucket = |first: u8| {
            for &p in &index.by_first[usize::from(first)] {
                match compare(&index.patterns[p as usize], text, at, end) {
                    Compared::Found(n) => longest = longest.max(n),
                    Compared::NeedMore => need_more = true,
                    Compared::Absent => {}
                }
            }
        };
        let b = text[at];
        try_bucket(b);
        let mut too_short = false;
        match b {
            b'%' => {
                for decoded in [percent_decoded(text, at), twice_percent_decoded(text, at)] {
                    match decoded {
                        Some(Some(decoded)) => try_bucket(decoded),
                        Some(None) => {}
                        None => too_short = !end,
                    }
                }
            }
            b'+' => try_bucket(b' '),
            _ => {}
        }
        if need_more || too_short {
            Compared::NeedMore
        } else if longest > 0 {
            Compared::Found(longest)
        } else {
            Compared::Absent
        }
    }
}

fn first_bytes(p: &Pattern) -> Vec<u8> {
    let first = p.bytes[0];
    if p.any_case && first.is_ascii_alphabetic() {
        vec![first.to_ascii_lowercase(), first.to_ascii_uppercase()]
    } else {
        vec![first]
    }
}

/// Text as Markdown shows it, near enough to find a secret in: default-ignorable characters
/// left out, and each backslash escape (a `\` before ASCII punctuation) the character it
/// escapes.
fn shown_as_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text
        .chars()
        .filter(|c| !crate::text::is_default_ignorable(*c))
        .peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(next) if c == '\\' && next.is_ascii_punctuation() => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}

/// Text as Markdown shows it with its inline formatting taken out, as a reader reads (and
/// copies) it: emphasis and strikethrough marks (`*`, `~`), code span marks (`` ` ``) and
/// a link's or an image's brackets and address (`[text](url)` reads `text`). `_` stays: in
/// GitHub's Markdown it makes no emphasis inside a word.
fn without_formatting(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            // `[label](address)`, with no bracket or parenthesis inside either part.
            let link = rest[1..].find(']').and_then(|close| {
                let label = &rest[1..1 + close];
                let after = &rest[2 + close..];
                let address = after.strip_prefix('(')?;
                let end = address.find(')')?;
                (!label.contains('[') && !address[..end].contains('('))
                    .then(|| (label, 2 + close + 1 + end + 1))
            });
            if let Some((label, len)) = link {
                out.extend(label.chars().filter(|c| !matches!(c, '*' | '~' | '`')));
                rest = &rest[len..];
                continue;
            }
        }
        let image_mark = c == '!' && rest[1..].starts_with('[');
        if !matches!(c, '*' | '~' | '`') && !image_mark {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `%XX` at `at`: `Some(Some(byte))`, `Some(None)` when it is not one, `None` when the
/// text ends too soon to tell.
fn percent_decoded(text: &[u8], at: usize) -> Option<Option<u8>> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let hi = text.get(at + 1)?;
    let Some(hi) = hex(*hi) else {
        return Some(None);
    };
    let lo = text.get(at + 2)?;
    Some(hex(*lo).map(|lo| (hi * 16 + lo) as u8))
}

/// `%25XX` at `at` (a `%XX` URL-encoded again): `Some(Some(byte))`, `Some(None)` when it is
/// not one, `None` when the text ends too soon to tell.
fn twice_percent_decoded(text: &[u8], at: usize) -> Option<Option<u8>> {
    match percent_decoded(text, at)? {
        // The decoded `%` ends at `at + 2`: its two hex digits are the next two bytes.
        Some(b'%') => percent_decoded(text, at + 2),
        _ => Some(None),
    }
}

/// Whether `pattern` is in `text` at `at`, allowing URL-encoding (once or twice) of any of its bytes and
/// line breaks between them.
fn compare(pattern: &Pattern, text: &[u8], at: usize, end: bool) -> Compared {
    match compare_from(pattern, 0, text, at, end) {
        Compared::Found(to) => Compared::Found(to - at),
        other => other,
    }
}

/// The same from the pattern's `k`th byte at `j`; `Found` holds where the match ends.
fn compare_from(pattern: &Pattern, mut k: usize, text: &[u8], mut j: usize, end: bool) -> Compared {
    let more = if end {
        Compared::Absent
    } else {
        Compared::NeedMore
    };
    let same = |a: u8, b: u8| {
        if pattern.any_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while let Some(&want) = pattern.bytes.get(k) {
        if k > 0 {
            let mut skipped = 0;
            while skipped < MAX_BREAK && matches!(text.get(j), Some(b'\r' | b'\n')) {
                j += 1;
                skipped += 1;
            }
        }
        let Some(&got) = text.get(j) else {
            return more;
        };
        if got == b'%' {
            let decoded = match percent_decoded(text, j) {
                Some(Some(decoded)) if same(decoded, want) => Some(j + 3),
                Some(_) => None,
                // The text ends too soon to tell whether this is `%XX`.
                None if end => None,
                None => return Compared::NeedMore,
            };
            // `%25XX`: `%XX` URL-encoded again (it reads as `%` then `XX` too, below).
            let twice = match twice_percent_decoded(text, j) {
                Some(Some(decoded)) if same(decoded, want) => Some(j + 5),
                Some(_) => None,
                None if end => None,
                None => return Compared::NeedMore,
            };
            if let Some(next) = twice {
                match compare_from(pattern, k + 1, text, next, end) {
                    Compared::Absent => {}
                    other => return other,
                }
            }
            match (same(got, want), decoded) {
                // `%25` where the secret has a `%`: either a `%` and `25`, or `%` encoded.
                (true, Some(next)) => {
                    return match compare_from(pattern, k + 1, text, j + 1, end) {
                        Compared::Absent => compare_from(pattern, k + 1, text, next, end),
                        other => other,
                    };
                }
                (true, None) => j += 1,
                (false, Some(next)) => j = next,
                (false, None) => return Compared::Absent,
            }
        } else if same(got, want) || (want == b' ' && got == b'+') {
            j += 1;
        } else {
            return Compared::Absent;
        }
        k += 1;
    }
    Compared::Found(j)
}

/// Redacts a stream that arrives in pieces: a secret cut across two pieces is still
/// found. What could be the start of a secret is held back until the next piece (or
/// [`RedactingStream::finish`]) says whether it is one.
#[derive(Debug)]
pub struct RedactingStream {
    redactor: Redactor,
    pending: Vec<u8>,
}

impl RedactingStream {
    /// The redacted text that is certain so far.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(piece);
        let (out, used) = self.redactor.scan(&self.pending, false);
        self.pending.drain(..used);
        out
    }

    /// The rest, once the stream has ended.
    pub fn finish(&mut self) -> Vec<u8> {
        let (out, _) = self.redactor.scan(&self.pending, true);
        self.pending.clear();
        out
    }
}

/// The parts of a secret that are secrets themselves.
fn fragments(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let add = |f: &[u8], out: &mut Vec<Vec<u8>>| {
        let f: Vec<u8> = f
            .trim_ascii()
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\r' | b'\n'))
            .collect();
        if f.len() >= MIN_SECRET_LEN && !out.contains(&f) {
            out.push(f);
        }
    };
    add(value, &mut out);
    for line in value.split(|b| *b == b'\n') {
        add(line, &mut out);
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(value) {
        let mut strings = Vec::new();
        json_strings(&json, &mut strings);
        for s in strings {
            add(s.as_bytes(), &mut out);
        }
    }
    // What a base64 value holds: `user:password` (registry auth), and the password.
    for f in out.clone() {
        if let Some(decoded) = base64_text(&f) {
            add(decoded.as_bytes(), &mut out);
            if let Some((_, password)) = decoded.split_once(':') {
                add(password.as_bytes(), &mut out);
            }
        }
    }
    out
}

fn json_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, INDIFFERENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, INDIFFERENT);

/// The text a base64 value encodes, when it is printable text.
fn base64_text(value: &[u8]) -> Option<String> {
    let decoded = STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE.decode(value))
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.chars()
        .all(|c| !c.is_control() || c == '\n')
        .then_some(text)
}

/// The forms one fragment is looked for in.
fn encodings(fragment: &[u8]) -> Vec<Pattern> {
    let mut out = vec![Pattern {
        bytes: fragment.to_vec(),
        any_case: fragment.len() >= MIN_FOLDED_LEN && fragment.iter().any(u8::is_ascii_alphabetic),
    }];
    let hex: String = fragment.iter().map(|b| format!("{b:02x}")).collect();
    out.push(Pattern {
        bytes: hex.into_bytes(),
        any_case: true,
    });
    // The value encoded alone, as `echo -n $KEY | base64` and `echo $KEY | base64` print
    // it: all of it, the last characters and padding included.
    let with_newline = [fragment, b"\n"].concat();
    for whole in [fragment, with_newline.as_slice()] {
        for engine in [
            general_purpose::STANDARD,
            general_purpose::STANDARD_NO_PAD,
            general_purpose::URL_SAFE,
            general_purpose::URL_SAFE_NO_PAD,
        ] {
            let p = Pattern {
                bytes: engine.encode(whole).into_bytes(),
                any_case: false,
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    // UTF-16 and UTF-32 (what Windows PowerShell 5 writes by default): the value's
    // characters with NULs between them.
    for bytes in wide(fragment) {
        let p = Pattern {
            bytes,
            any_case: out[0].any_case,
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    // Those forms in hex and in base64 (outside review 11d, A5). A form with its end NULs
    // left off lies inside the text so encoded whatever its byte order, so its hex, and
    // the base64 characters that depend on it alone at each offset, are found there.
    for form in wide(fragment) {
        let hex: String = form.iter().map(|b| format!("{b:02x}")).collect();
        let mut forms = vec![Pattern {
            bytes: hex.into_bytes(),
            any_case: true,
        }];
        for offset in 0..3 {
            forms.push(Pattern {
                bytes: base64_core(&general_purpose::STANDARD_NO_PAD, &form, offset).into_bytes(),
                any_case: false,
            });
        }
        for p in forms {
            if p.bytes.len() >= MIN_SECRET_LEN && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    // The UTF-16LE value encoded alone, as PowerShell prints it: all of it.
    if let Ok(text) = std::str::from_utf8(fragment) {
        let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        for engine in [general_purpose::STANDARD, general_purpose::STANDARD_NO_PAD] {
            let p = Pattern {
                bytes: engine.encode(&utf16le).into_bytes(),
                any_case: false,
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    for engine in [
        general_purpose::STANDARD_NO_PAD,
        general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 0..3 {
            let core = base64_core(&engine, fragment, offset);
            if core.len() >= MIN_SECRET_LEN {
                let p = Pattern {
                    bytes: core.into_bytes(),
                    any_case: false,
                };
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// A text's UTF-16 and UTF-32 forms, little- and big-endian, with the NULs at either end
/// left off: so one form of an ASCII value matches it in either byte order, with or
/// without a byte order mark. Nothing when the text is not UTF-8.
fn wide(fragment: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(fragment) else {
        return Vec::new();
    };
    let utf16: Vec<u16> = text.encode_utf16().collect();
    let utf32: Vec<u32> = text.chars().map(u32::from).collect();
    let forms = [
        utf16
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect::<Vec<u8>>(),
        utf16.iter().flat_map(|u| u.to_be_bytes()).collect(),
        utf32.iter().flat_map(|u| u.to_le_bytes()).collect(),
        utf32.iter().flat_map(|u| u.to_be_bytes()).collect(),
    ];
    let mut out: Vec<Vec<u8>> = Vec::new();
    for form in forms {
        let start = form.iter().position(|b| *b != 0).unwrap_or(form.len());
        let end = form.iter().rposition(|b| *b != 0).map_or(start, |i| i + 1);
        let trimmed = form[start..end.max(start)].to_vec();
        if trimmed.len() > fragment.len() && !out.contains(&trimmed) {
            out.push(trimmed);
        }
    }
    out
}

/// The characters of the base64 of a text that depend on `fragment` alone, when
/// `fragment` starts `offset` bytes into a 3-byte group of that text.
fn base64_core(engine: &GeneralPurpose, fragment: &[u8], offset: usize) -> String {
    let mut bytes = vec![0u8; offset];
    bytes.extend_from_slice(fragment);
    let encoded = engine.encode(&bytes);
    // Character j carries bits 6j..6j+6; it is the fragment's alone when those bits all
    // lie within the fragment's bits, [8 * offset, 8 * (offset + len)).
    let first = (8 * offset).div_ceil(6);
    let last = 8 * (offset + fragment.len()) / 6;
    encoded.get(first..last).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "sk-proj-Q2xhdWRlIGlzIG5pY2U_xyz";

    fn b64(engine: &GeneralPurpose, text: &[u8]) -> String {
        engine.encode(text)
    }

    fn url_encode(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn a_secret_is_replaced_as_it_is_and_a_short_one_is_not_looked_for() {
        let r = Redactor::new(["ghs_secret_token", "", "abc"]);
        assert_eq!(r.redact("a ghs_secret_token b"), "a *** b");
        assert_eq!(r.redact("abc is too short"), "abc is too short");
        assert_eq!(
            r.redact_bytes(b"ghs_secret_token\xff ghs_secret_toke"),
            b"***\xff ghs_secret_toke"
        );
    }

    #[test]
    fn a_secret_written_as_utf16_or_utf32_is_found_in_either_byte_order() {
        let r = Redactor::new([KEY, "pässwörd-ünïcode"]);
        let line = format!("key: {KEY}\n");
        let utf16: Vec<u16> = line.encode_utf16().collect();
        let le: Vec<u8> = utf16.iter().flat_map(|u| u.to_le_bytes()).collect();
        let be: Vec<u8> = utf16.iter().flat_map(|u| u.to_be_bytes()).collect();
        let with_bom = [&[0xff, 0xfe][..], &le].concat();
        let utf32le: Vec<u8> = line
            .chars()
            .flat_map(|c| u32::from(c).to_le_bytes())
            .collect();
        let utf32be: Vec<u8> = line
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        for text in [&le, &be, &with_bom, &utf32le, &utf32be] {
            assert!(r.finds(text), "{text:?}");
            let out = r.redact_bytes(text);
            // What a terminal shows of it, the NULs dropped.
            let shown: Vec<u8> = out.iter().copied().filter(|b| *b != 0).collect();
            let shown = String::from_utf8_lossy(&shown);
            assert!(!shown.contains("sk-proj"), "{shown:?}");
            assert!(shown.contains("***"), "{shown:?}");
        }
        let other: Vec<u8> = "pässwörd-ünïcode"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(r.redact_bytes(&other), b"\0***");
        // The same NUL-spaced letters of another word are left alone.
        let word: Vec<u8> = "sk-proj-other".bytes().flat_map(|b| [b, 0]).collect();
        assert_eq!(r.redact_bytes(&word), word);
    }

    #[test]
    fn base64_of_a_secret_is_found_at_every_offset_padded_or_not() {
        let r = Redactor::new([KEY]);
        for engine in [
            &general_purpose::STANDARD,
            &general_purpose::URL_SAFE_NO_PAD,
        ] {
            for prefix in ["", "k", "ke", "key=", "OPENAI_API_KEY="] {
                let encoded = b64(engine, format!("{prefix}{KEY}\n").as_bytes());
                let out = r.redact(&format!("output: {encoded} end"));
                assert!(out.contains("***"), "{prefix:?}: {out}");
                // What is left: the prefix's characters, and at most four at the end
                // (the newline's bits and the padding).
                let left = out.replace("***", "");
                let prefix_chars = (8 * prefix.len()).div_ceil(6);
                assert!(
                    left.len() <= "output:  end".len() + prefix_chars + 4,
                    "{prefix:?}: too much is left of {encoded}: {out}"
                );
            }
        }
    }

    /// The fourth review's A5: PowerShell's `-EncodedCommand` is base64 of UTF-16LE, and
    /// hex of a UTF-16 string is what a hex dump of one shows. Before, neither was found.
    #[test]
    fn base64_and_hex_of_a_secret_in_utf16_or_utf32_are_found() {
        let r = Redactor::new([KEY]);
        let utf16le =
            |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let utf16be =
            |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_be_bytes).collect() };
        let utf32le =
            |s: &str| -> Vec<u8> { s.chars().flat_map(|c| u32::from(c).to_le_bytes()).collect() };
        let hex = |b: &[u8]| -> String { b.iter().map(|b| format!("{b:02x}")).collect() };
        // `[Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($key))`: nothing left.
        let whole = b64(&general_purpose::STANDARD, &utf16le(KEY));
        assert_eq!(r.redact(&format!("[{whole}]")), "[***]", "{whole}");
        for prefix in ["", "$", "$k", "$k=", "Write-Output '"] {
            let command = format!("{prefix}{KEY}'");
            for (form, bytes) in [
                ("UTF-16LE", utf16le(&command)),
                ("UTF-16BE", utf16be(&command)),
                ("UTF-32LE", utf32le(&command)),
            ] {
                let encoded = b64(&general_purpose::STANDARD, &bytes);
                let text = format!("powershell -EncodedCommand {encoded}");
                assert!(r.finds(text.as_bytes()), "{form} {prefix:?}: {encoded}");
                let out = r.redact(&text);
                // What is left: the characters of the prefix and the closing quote, and a
                // few at either end that carry bits of both.
                let width = bytes.len() / command.len();
                let left = out.replace("***", "").len() - "powershell -EncodedCommand ".len();
                assert!(
                    left <= (8 * width * (prefix.len() + 1)).div_ceil(6) + 8,
                    "{form} {prefix:?}: too much is left of {encoded}: {out}"
                );
                for shown in [hex(&bytes), hex(&bytes).to_uppercase()] {
                    assert!(r.finds(shown.as_bytes()), "{form} {prefix:?}: {shown}");
                    let out = r.redact(&shown);
                    assert!(
                        out.len() <= 2 * width * (prefix.len() + 2) + 3,
                        "{form} {prefix:?}: too much is left of {shown}: {out}"
                    );
                }
            }
        }
        // The same encoding of other text is left alone.
        let other = b64(
            &general_purpose::STANDARD,
            &utf16le("Write-Output 'hello, world'"),
        );
        assert_eq!(r.redact(&other), other);
    }

    /// The fourth review's A6: forms that GitHub shows as the secret itself. Before, each
    /// was published as it was.
    #[test]
    fn a_secret_that_shows_as_itself_in_markdown_is_found_in_published_text() {
        let r = Redactor::new([KEY]);
        let escaped = KEY.replace('-', "\\-").replace('_', "\\_");
        let spaced = |gap: char| -> String {
            KEY.chars()
                .flat_map(|c| [c, gap])
                .collect::<String>()
                .trim_end_matches(gap)
                .to_string()
        };
        for (form, text) in [
            ("Markdown escapes", escaped.clone()),
            ("zero-width spaces", spaced('\u{200B}')),
            ("word joiners", spaced('\u{2060}')),
            ("soft hyphens", spaced('\u{00AD}')),
            ("byte order marks", spaced('\u{FEFF}')),
            ("a bidi mark", spaced('\u{200E}')),
            ("a tag character", spaced('\u{E0020}')),
        ] {
            let published = r.redact_published(&format!("Done. *key*: {text} \\*end\\*"));
            assert!(
                !shown_as_markdown(&published).contains(KEY),
                "{form}: {published:?}"
            );
            assert!(published.contains("***"), "{form}: {published:?}");
        }
        // The fifth review's A2: inline formatting inside the key, which GitHub shows as the
        // key's characters in a row. Before, each was published as it was.
        let (head, tail) = KEY.split_at(6);
        let (middle, tail) = tail.split_at(4);
        for (form, text) in [
            ("bold", format!("{head}**{middle}**{tail}")),
            ("italic", format!("{head}*{middle}*{tail}")),
            ("a code span", format!("{head}`{middle}`{tail}")),
            (
                "a link",
                format!("{head}[{middle}](https://x.example){tail}"),
            ),
            (
                "an image",
                format!("{head}![{middle}](https://x.example/i.png){tail}"),
            ),
            ("strikethrough", format!("{head}~~{middle}~~{tail}")),
        ] {
            let published = r.redact_published(&format!("Done: {text}."));
            assert!(
                !without_formatting(&shown_as_markdown(&published)).contains(KEY),
                "{form}: {published:?}"
            );
            assert!(published.contains("***"), "{form}: {published:?}");
        }
        // Text without a secret keeps its escapes, formatting and invisible characters.
        let text = "**bold**, `code`, [a link](https://x.example) and ~~struck~~";
        assert_eq!(r.redact_published(text), text);
        // Text without a secret keeps its escapes and invisible characters.
        let text = "a \\*literal\\* star, 👨\u{200D}👩\u{200D}👧 and ❤\u{FE0F}";
        assert_eq!(r.redact_published(text), text);
    }

    #[test]
    fn url_encoded_hex_and_broken_lines_are_found() {
        let r = Redactor::new(["50%25-off%coupon"]);
        assert_eq!(r.redact("a 50%25-off%coupon b"), "a *** b");
        assert_eq!(r.redact("a 50%2525-off%25coupon b"), "a *** b");
        let r = Redactor::new(["pa ss/wo+rd=1234"]);
        assert_eq!(r.redact("x=pa+ss%2Fwo%2brd%3D1234&y"), "x=***&y");
        assert_eq!(r.redact(&url_encode("pa ss/wo+rd=1234")), "***");
        let hex: String = "pa ss/wo+rd=1234"
            .bytes()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(r.redact(&format!("[{hex}]")), "[***]");
        assert_eq!(r.redact("pa ss/wo\r\n+rd=1234"), "***");
        let wrapped = b64(
            &general_purpose::STANDARD,
            "pa ss/wo+rd=1234".repeat(8).as_bytes(),
        );
        let wrapped: Vec<String> = wrapped
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let out = r.redact(&wrapped.join("\n"));
        assert!(out.len() < 40, "{out}");
    }

    #[test]
    fn a_long_secret_is_found_in_any_case_and_a_short_one_only_in_its_own() {
        let r = Redactor::new([KEY]);
        assert!(KEY.len() >= MIN_FOLDED_LEN);
        assert_eq!(r.redact(&format!("[{}]", KEY.to_uppercase())), "[***]");
        assert_eq!(r.redact(&format!("[{}]", KEY.to_lowercase())), "[***]");
        assert_eq!(r.redact(&url_encode(&KEY.to_uppercase())), "***");
        // Shorter than MIN_FOLDED_LEN: a word in another case is left alone.
        let r = Redactor::new(["Production1"]);
        assert_eq!(r.redact("Production1 PRODUCTION1"), "*** PRODUCTION1");
    }

    #[test]
    fn a_secret_url_encoded_twice_is_found() {
        let r = Redactor::new([KEY]);
        let twice = url_encode(&url_encode(KEY));
        assert!(twice.contains("%25"), "{twice}");
        assert_eq!(r.redact(&format!("u={twice}&v")), "u=***&v");
        assert_eq!(r.redact(&twice.to_lowercase()), "***");
        // Partly encoded twice, partly once, partly not.
        assert_eq!(r.redact("sk%252Dproj%2DQ2xhdWRlIGlzIG5pY2U%255Fxyz"), "***");
    }

    #[test]
    fn echo_key_into_base64_leaves_nothing_of_the_key() {
        let r = Redactor::new([KEY]);
        for engine in [&general_purpose::STANDARD, &general_purpose::URL_SAFE] {
            for printed in [format!("{KEY}\n"), KEY.to_string()] {
                let encoded = b64(engine, printed.as_bytes());
                assert_eq!(r.redact(&format!("{encoded}\n")), "***\n", "{encoded}");
                let unpadded = encoded.trim_end_matches('=');
                assert_eq!(r.redact(&format!("({unpadded})")), "(***)", "{unpadded}");
            }
        }
        // Wrapped at 76 columns, as `base64` prints a longer value.
        let long = KEY.repeat(4);
        let r = Redactor::new([long.as_str()]);
        let encoded = b64(&general_purpose::STANDARD, format!("{long}\n").as_bytes());
        let wrapped: Vec<String> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(r.redact(&format!("{}\n", wrapped.join("\n"))), "***\n");
    }

    #[test]
    fn the_parts_of_a_structured_secret_are_secrets_too() {
        let auth = b64(&general_purpose::STANDARD, b"robot:registry-password");
        let config = format!(r#"{{"auths":{{"registry.example.com":{{"auth":"{auth}"}}}}}}"#);
        let r = Redactor::new([config.as_str()]);
        assert_eq!(r.redact(&format!("auth is {auth}")), "auth is ***");
        assert_eq!(r.redact("password registry-password"), "password ***");
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----\n";
        let r = Redactor::new([pem]);
        assert_eq!(
            r.redact("line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            "line ***"
        );
    }

    #[test]
    fn a_stream_cut_anywhere_is_redacted_as_a_whole() {
        let r = Redactor::new([KEY]);
        let text = format!("before {KEY} middle {} after", url_encode(KEY));
        let whole = r.redact(&text);
        for cut in 0..text.len() {
            let mut s = r.stream();
            let mut out = s.push(&text.as_bytes()[..cut]);
            out.extend(s.push(&text.as_bytes()[cut..]));
            out.extend(s.finish());
            assert_eq!(String::from_utf8(out).unwrap(), whole, "cut at {cut}");
        }
        assert_eq!(whole, "before *** middle *** after");
    }

    #[test]
    fn a_stream_holds_back_only_what_could_start_a_secret() {
        let r = Redactor::new([KEY]);
        let mut s = r.stream();
        assert_eq!(s.push(b"plain text\n"), b"plain text\n");
        assert_eq!(s.push(b"then sk-pr"), b"then ");
        assert_eq!(s.push(b"oj-Q2 no"), b"sk-proj-Q2 no");
        assert_eq!(s.push(b" 50%"), b" 50");
        assert_eq!(s.finish(), b"%");
    }

    /// A secret as an agent may print it: the form (plain, base64 of a longer text, hex)
    /// and the text printed (that form, or its URL-encoding).
    fn printed(secret: &[u8], how: u8, prefix: &[u8], cut: usize) -> (Vec<u8>, Vec<u8>) {
        let mut whole = prefix.to_vec();
        whole.extend_from_slice(secret);
        whole.extend_from_slice(b"!tail");
        let percent = |form: &[u8]| -> Vec<u8> {
            form.iter()
                .flat_map(|b| format!("%{b:02x}").into_bytes())
                .collect()
        };
        let form = match how {
            0 | 4 | 7 | 8 => secret.to_vec(),
            9 => general_purpose::STANDARD
                .encode([secret, b"\n"].concat())
                .into_bytes(),
            10 => secret.iter().flat_map(|b| [*b, 0]).collect(),
            11 => secret.iter().flat_map(|b| [0, *b]).collect(),
            12 => secret.iter().flat_map(|b| [*b, 0, 0, 0]).collect(),
            1 | 6 => general_purpose::STANDARD.encode(&whole).into_bytes(),
            2 => general_purpose::STANDARD_NO_PAD.encode(&whole).into_bytes(),
            3 => general_purpose::URL_SAFE.encode(&whole).into_bytes(),
            _ => secret
                .iter()
                .flat_map(|b| format!("{b:02X}").into_bytes())
                .collect(),
        };
        let shown = match how {
            4 => percent(&form),
            6 => url_encode(&String::from_utf8_lossy(&form)).into_bytes(),
            8 => url_encode(&url_encode(&String::from_utf8_lossy(&form))).into_bytes(),
            7 => {
                let at = cut % (form.len() - 1) + 1;
                [&form[..at], b"\r\n", &form[at..]].concat()
            }
            _ => form.clone(),
        };
        (form, shown)
    }

    fn percent_decode(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            match percent_decoded(text, i) {
                Some(Some(b)) if text[i] == b'%' => {
                    out.push(b);
                    i += 3;
                }
                _ => {
                    out.push(text[i]);
                    i += 1;
                }
            }
        }
        out
    }

    /// Whether 12 characters in a row of the middle of `form` are still in `out`, once
    /// URL-decoded (and in either case). The ends of a base64 form carry the bits of the
    /// text around the secret, and may stay.
    fn survives(out: &[u8], form: &[u8], ends: usize) -> bool {
        let once = percent_decode(out);
        let twice = percent_decode(&once);
        survives_in(&once, form, ends) || survives_in(&twice, form, ends)
    }

    fn survives_in(out: &[u8], form: &[u8], ends: usize) -> bool {
        let out = out.to_ascii_lowercase();
        let form = form.to_ascii_lowercase();
        let inner = &form[ends.min(form.len())..form.len().saturating_sub(ends)];
        let width = 12.min(inner.len());
        width > 0
            && inner
                .windows(width)
                .any(|w| out.windows(w.len()).any(|o| o == w))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn a_secret_in_any_covered_form_never_survives(
            secret in "[A-Za-z0-9_+/=%-][A-Za-z0-9_+/=% -]{6,46}[A-Za-z0-9_+/=%-]",
            how in 0u8..13,
            prefix in proptest::collection::vec(any::<u8>(), 0..5),
            before in proptest::collection::vec(any::<u8>(), 0..200),
            after in proptest::collection::vec(any::<u8>(), 0..200),
            cut in any::<prop::sample::Index>(),
        ) {
            let r = Redactor::new([secret.as_str()]);
            let (form, shown) = printed(secret.as_bytes(), how, &prefix, cut.index(1000));
            let mut text = before.clone();
            text.extend_from_slice(&shown);
            text.extend_from_slice(&after);
            let whole = r.redact_bytes(&text);
            let ends = if matches!(how, 1 | 2 | 3 | 6) { 4 } else { 0 };
            prop_assert!(
                !survives(&whole, &form, ends),
                "{:?} in {:?}",
                String::from_utf8_lossy(&form),
                String::from_utf8_lossy(&whole)
            );
            // And the same when the text arrives in two pieces.
            let at = cut.index(text.len() + 1);
            let mut s = r.stream();
            let mut streamed = s.push(&text[..at]);
            streamed.extend(s.push(&text[at..]));
            streamed.extend(s.finish());
            prop_assert_eq!(streamed, whole);
        }

        #[test]
        fn redaction_never_panics_and_text_without_secrets_is_unchanged(
            secrets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
            text in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let r = Redactor::new(&secrets);
            let out = r.redact_bytes(&text);
            let mut s = r.stream();
            let mut streamed = Vec::new();
            for piece in text.chunks(7) {
                streamed.extend(s.push(piece));
            }
            streamed.extend(s.finish());
            prop_assert_eq!(&streamed, &out);
            if !out.windows(3).any(|w| w == b"***") {
                prop_assert_eq!(out, text);
            }
        }
    }
}
