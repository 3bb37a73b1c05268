//! Webhook intake, before any JSON is read: the `X-Hub-Signature-256` check, the body's
//! encoding, and the headers GitHub sends with every delivery.
//!
//! Everything here is a pure function of bytes and header values, so the HTTP layer
//! (`crate::serve::http`) stays thin and every rejection can be unit-tested. Each rejection is
//! a [`WebhookError`] that knows its HTTP status ([`WebhookError::status`]) and whose
//! message is safe to send back and to log: it never quotes a secret or a signature, and
//! quotes at most a few dozen characters of anything the sender chose.

use std::fmt;
use std::sync::{Arc, OnceLock};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::event::EventError;

type HmacSha256 = Hmac<Sha256>;

/// GitHub's payload cap (25 MB); bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The header carrying `sha256=<hex HMAC of the body>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The legacy SHA-1 signature header, which is never accepted on its own.
pub const SHA1_SIGNATURE_HEADER: &str = "x-hub-signature";
/// The event name, e.g. `pull_request`.
pub const EVENT_HEADER: &str = "x-github-event";
/// The delivery's GUID; GitHub sends the same one again when a delivery is redelivered.
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// Longest delivery id accepted (GitHub's are 36-character GUIDs).
pub const MAX_DELIVERY_LEN: usize = 64;

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/// One webhook secret. Its `Debug` shows no byte of it, and it has no `Display`.
#[derive(Clone)]
pub struct WebhookSecret(Box<[u8]>);

impl WebhookSecret {
    /// A secret from its text; `None` for an empty one.
    pub fn new(text: &str) -> Option<WebhookSecret> {
        (!text.is_empty()).then(|| WebhookSecret(text.as_bytes().into()))
    }

    /// The HMAC-SHA256 of `body` under this secret.
    fn mac(&self, body: &[u8]) -> HmacSha256 {
        self.mac_of_parts(&[body])
    }

    /// The HMAC-SHA256 of the body made of `parts`, in order.
    fn mac_of_parts<B: AsRef<[u8]>>(&self, parts: &[B]) -> HmacSha256 {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        for part in parts {
            mac.update(part.as_ref());
        }
        mac
    }

    /// The `X-Hub-Signature-256` value GitHub would send for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        let tag = self.mac(body).finalize().into_bytes();
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256=");
        push_hex(&mut out, &tag);
        out
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `bytes` in lower-case hex, after `out`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// Every secret a delivery may be signed with: more than one while a secret is rotated
/// (add the new one, change it on GitHub, then remove the old one).
#[derive(Clone)]
pub struct WebhookSecrets(Vec<WebhookSecret>);

/// Why no secret could be had; the service refuses to start rather than accept unsigned
/// deliveries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "no webhook secret: set GITHUB_WEBHOOK_SECRET (comma-separated for rotation) or pass --webhook-secret-file; unsigned webhooks are never accepted"
    )]
    Missing,
    #[error(
        "{path}: cannot read the webhook secret file: {}\n{}",
        unreadable_because(*kind),
        secret_file_what_to_do(*kind)
    )]
    Unreadable {
        path: String,
        kind: std::io::ErrorKind,
    },
    #[error(
        "{path}: the webhook secret file holds no secret (it is empty or blank); write the \
         secret in it (several: one a line, or comma-separated)"
    )]
    EmptyFile { path: String },
}

/// Why a file cannot be read, in words: Rust's names of the kinds (`entity not found`) are
/// not what a user reads anywhere else (new-user review 13g, G8).
fn unreadable_because(kind: std::io::ErrorKind) -> String {
    match kind {
        std::io::ErrorKind::NotFound => "there is no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a folder, not a file".into(),
        std::io::ErrorKind::InvalidData => "it is not text (UTF-8)".into(),
        kind => std::io::Error::from(kind).to_string(),
    }
}

/// The line saying what to do about a webhook secret file that cannot be read (new-user
/// review 13e, N8).
fn secret_file_what_to_do(kind: std::io::ErrorKind) -> &'static str {
    match kind {
        std::io::ErrorKind::NotFound => {
            "what to do: give --webhook-secret-file the path of a file that holds the secret \
             (in a pod: the Secret volume's mountPath and key), or set GITHUB_WEBHOOK_SECRET \
             instead"
        }
        std::io::ErrorKind::PermissionDenied => {
            "what to do: make the file readable by the user this runs as (in a pod: the \
             Secret volume's defaultMode, or the pod's fsGroup)"
        }
        std::io::ErrorKind::IsADirectory => {
            "what to do: give --webhook-secret-file the file in that folder that holds the \
             secret, not the folder"
        }
        _ => {
            "what to do: give --webhook-secret-file a readable file that holds the secret, or \
             set GITHUB_WEBHOOK_SECRET instead"
        }
    }
}

impl WebhookSecrets {
    /// Secrets from a comma- or newline-separated list (the form of `GITHUB_WEBHOOK_SECRET`
    /// and of a secret file). Blanks around each entry are trimmed, empty entries dropped.
    pub fn parse_list(text: &str) -> Result<WebhookSecrets, SecretsError> {
        let secrets: Vec<WebhookSecret> = text
            .split([',', '\n'])
            .map(str::trim)
            .filter_map(WebhookSecret::new)
            .collect();
        if secrets.is_empty() {
            Err(SecretsError::Missing)
        } else {
            Ok(WebhookSecrets(secrets))
        }
    }

    /// The secrets from a file if one is named (read with `read`: the caller's file system),
    /// else from the environment variable's value.
    pub fn from_file_or_env(
        file: Option<&std::path::Path>,
        env: Option<&str>,
        read: impl Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<WebhookSecrets, SecretsError> {
        match file {
            Some(path) => {
                let text = read(path).map_err(|e| SecretsError::Unreadable {
                    path: path.display().to_string(),
                    kind: e.kind(),
                })?;
                Self::parse_list(&text).map_err(|_| SecretsError::EmptyFile {
                    path: path.display().to_string(),
                })
            }
            None => Self::parse_list(env.unwrap_or_default()),
        }
    }

    /// The secret new signatures are made with (`agentpods replay`).
    pub fn first(&self) -> &WebhookSecret {
        &self.0[0]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets(<{} redacted>)", self.0.len())
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a delivery is refused before it reaches the planner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the body could not be read: {0}")]
    BodyUnreadable(&'static str),
    #[error("missing X-Hub-Signature-256 header")]
    MissingSignature,
    #[error(
        "only an X-Hub-Signature (SHA-1) header was sent; SHA-1 signatures are not accepted, X-Hub-Signature-256 is required"
    )]
    Sha1Only,
    #[error("malformed X-Hub-Signature-256 header: expected sha256= and 64 hexadecimal digits")]
    MalformedSignature,
    #[error("the X-Hub-Signature-256 signature does not match the body under any webhook secret")]
    BadSignature,
    #[error("missing X-GitHub-Event header")]
    MissingEvent,
    #[error("the X-GitHub-Event header is not text")]
    EventNotText,
    #[error("missing X-GitHub-Delivery header")]
    MissingDelivery,
    #[error(
        "invalid X-GitHub-Delivery header: expected 1 to {MAX_DELIVERY_LEN} characters of A-Z a-z 0-9 . _ -"
    )]
    InvalidDelivery,
    #[error(
        "unsupported Content-Type {0:?}: expected application/json or application/x-www-form-urlencoded"
    )]
    UnsupportedContentType(String),
    #[error("the form-encoded body has no `payload` field")]
    MissingPayloadField,
    #[error("the form-encoded body is malformed: {0}")]
    MalformedForm(&'static str),
    /// The body does not parse as the named event: the parser's error, said as it is
    /// (its words are the 400's; transparent, so a printout of the chain says them once).
    #[error(transparent)]
    MalformedBody(EventError),
}

/// What a rejection is, in words fit for a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    TooLarge,
    Unauthorized,
    BadRequest,
}

impl WebhookError {
    pub fn kind(&self) -> Rejection {
        match self {
            WebhookError::TooLarge => Rejection::TooLarge,
            WebhookError::MissingSignature
            | WebhookError::Sha1Only
            | WebhookError::MalformedSignature
            | WebhookError::BadSignature => Rejection::Unauthorized,
            WebhookError::BodyUnreadable(_)
            | WebhookError::MissingEvent
            | WebhookError::EventNotText
            | WebhookError::MissingDelivery
            | WebhookError::InvalidDelivery
            | WebhookError::UnsupportedContentType(_)
            | WebhookError::MissingPayloadField
            | WebhookError::MalformedForm(_)
            | WebhookError::MalformedBody(_) => Rejection::BadRequest,
        }
    }

    /// The HTTP status the delivery is answered with: 413, 401 or 400.
    pub fn status(&self) -> u16 {
        match self.kind() {
            Rejection::TooLarge => 413,
            Rejection::Unauthorized => 401,
            Rejection::BadRequest => 400,
        }
    }
}

// ---------------------------------------------------------------------------
// Signature
// ---------------------------------------------------------------------------

/// Checks `X-Hub-Signature-256` (and, when it is absent, whether only the SHA-1 header was
/// sent) against every secret. The comparison is constant-time ([`Mac::verify_slice`]).
pub fn verify_signature(
    secrets: &WebhookSecrets,
    signature: Option<&[u8]>,
    sha1_signature_present: bool,
    body: &[u8],
) -> Result<(), WebhookError> {
    verify_signature_of_parts(secrets, signature, sha1_signature_present, &[body]).map(|_| ())
}

/// [`verify_signature`] of a body held as the parts it arrived in (so that it need not be
/// copied into one buffer before it is known to be GitHub's); what it gives is the body's
/// [`SignedBodyMac`], which knows a repeat of the body without hashing it again.
pub fn verify_signature_of_parts<B: AsRef<[u8]>>(
    secrets: &WebhookSecrets,
    signature: Option<&[u8]>,
    sha1_signature_present: bool,
    parts: &[B],
) -> Result<SignedBodyMac, WebhookError> {
    let Some(header) = signature else {
        return Err(if sha1_signature_present {
            WebhookError::Sha1Only
        } else {
            WebhookError::MissingSignature
        });
    };
    let tag = decode_signature(header).ok_or(WebhookError::MalformedSignature)?;
    // The first secret's MAC is computed whichever secret signed the body: it is the
    // body's key in this process. Compared in constant time (`CtOutput`'s `==`).
    let (first, others) = secrets.0.split_first().ok_or(WebhookError::BadSignature)?;
    let mac = first.mac_of_parts(parts).finalize();
    let signed = mac == hmac::digest::CtOutput::new(tag.into())
        || others
            .iter()
            .any(|secret| secret.mac_of_parts(parts).verify_slice(&tag).is_ok());
    if signed {
        Ok(SignedBodyMac(mac.into_bytes().into()))
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// The HMAC-SHA256 of a signed body under the first webhook secret, whichever secret
/// signed it: within one process (whose secrets do not change) the same for the same
/// body and different for different ones, as the body's SHA-256 is, and already computed
/// by the signature check. The service's log of answered deliveries is kept by it
/// ([`SignedBodyMac::key`]); runs, which outlive the process and its secrets, are named
/// after the SHA-256 ([`DeliveryId::run_key`]). It says nothing of the secret that GitHub's
/// own `X-Hub-Signature-256` does not, and its `Debug` shows none of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedBodyMac([u8; 32]);

impl SignedBodyMac {
    /// `hmac-sha256:` and the MAC in hexadecimal.
    pub fn key(&self) -> String {
        let mut text = String::with_capacity(12 + 64);
        text.push_str("hmac-sha256:");
        push_hex(&mut text, &self.0);
        text
    }
}

impl fmt::Debug for SignedBodyMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedBodyMac(<redacted>)")
    }
}

/// `sha256=` and 64 hexadecimal digits (either case) to the 32 bytes they spell.
fn decode_signature(header: &[u8]) -> Option<[u8; 32]> {
    let hex = header.trim_ascii().strip_prefix(b"sha256=")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

/// A checked `X-GitHub-Delivery` id: 1 to 64 of `A-Z a-z 0-9 . _ -`, so it is safe in logs,
/// file names and Kubernetes label values; and, once its signature is checked, the body it
/// came with, whose SHA-256 names its runs ([`DeliveryId::with_signed_body`]).
///
/// The signature covers the body, not the id: anyone who captured a signed delivery can
/// send it again under an id of their choosing. So a repeat is recognised by its body
/// ([`DeliveryId::run_key`]): runs are named after it. (The service's log of answered
/// deliveries is kept by the body's [`SignedBodyMac`], which the signature check computed.)
///
/// Two ids are equal when their ids and run keys are.
#[derive(Clone)]
pub struct DeliveryId {
    id: String,
    /// The signed body, once known.
    signed_body: Option<Arc<SignedBody>>,
}

/// A signed body, and `sha256:` with its hex SHA-256 once computed. Hashing a 21 KB body
/// costs as much as checking its signature, and a delivery that launches nothing never
/// names a run, so the body given by [`DeliveryId::with_signed_body_hashed_when_asked`] is
/// hashed only when [`DeliveryId::run_key`] is first asked for.
struct SignedBody {
    /// The body, when it is still to be hashed.
    body: Option<Box<dyn AsRef<[u8]> + Send + Sync>>,
    key: OnceLock<String>,
}

impl SignedBody {
    fn key(&self) -> &str {
        self.key.get_or_init(|| {
            let body = self.body.as_ref().map_or(&[][..], |b| (**b).as_ref());
            sha256_key(&[body])
        })
    }
}

/// `sha256:` and the hex SHA-256 of the body made of `parts`.
fn sha256_key<B: AsRef<[u8]>>(parts: &[B]) -> String {
    use sha2::Digest as _;
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_ref());
    }
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    push_hex(&mut text, &hash.finalize());
    text
}

impl DeliveryId {
    pub fn parse(header: Option<&[u8]>) -> Result<DeliveryId, WebhookError> {
        let raw = header.ok_or(WebhookError::MissingDelivery)?;
        let ok = !raw.is_empty()
            && raw.len() <= MAX_DELIVERY_LEN
            && raw
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
        if !ok {
            return Err(WebhookError::InvalidDelivery);
        }
        // Only ASCII passed the check above.
        Ok(DeliveryId {
            id: String::from_utf8_lossy(raw).into_owned(),
            signed_body: None,
        })
    }

    /// The same delivery, whose body (given as the parts it arrived in) was signed.
    pub fn with_signed_body<B: AsRef<[u8]>>(mut self, parts: &[B]) -> DeliveryId {
        self.signed_body = Some(Arc::new(SignedBody {
            body: None,
            key: OnceLock::from(sha256_key(parts)),
        }));
        self
    }

    /// [`DeliveryId::with_signed_body`], the body kept (not copied) and hashed only when
    /// [`DeliveryId::run_key`] is first asked for.
    pub fn with_signed_body_hashed_when_asked(
        mut self,
        body: impl AsRef<[u8]> + Send + Sync + 'static,
    ) -> DeliveryId {
        self.signed_body = Some(Arc::new(SignedBody {
            body: Some(Box::new(body)),
            key: OnceLock::new(),
        }));
        self
    }

    /// The id, as GitHub sent it.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// What is the same for every delivery of the same event, and differs between events:
    /// the signed body's SHA-256 when known (a redelivery by GitHub and a replay under a
    /// new id alike have the same body), else the id (`agentpods render`, which has no
    /// signature to check). Hashes the body if that was left until now.
    pub fn run_key(&self) -> &str {
        match &self.signed_body {
            Some(signed) => signed.key(),
            None => &self.id,
        }
    }

    /// [`DeliveryId::run_key`] if it is had without hashing the body, else `None`.
    pub fn run_key_if_hashed(&self) -> Option<&str> {
        match &self.signed_body {
            Some(signed) => signed.key.get().map(String::as_str),
            None => Some(&self.id),
        }
    }
}

impl PartialEq for DeliveryId {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.signed_body.is_some() == other.signed_body.is_some()
            && self.run_key() == other.run_key()
    }
}

impl Eq for DeliveryId {}

impl fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed_body = self
            .signed_body
            .as_ref()
            .map(|signed| match signed.key.get() {
                Some(key) => key.as_str(),
                None => "(not hashed yet)",
            });
        f.debug_struct("DeliveryId")
            .field("id", &self.id)
            .field("signed_body", &signed_body)
            .finish()
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// The `X-GitHub-Event` value; its form is checked by the event parser.
pub fn event_name(header: Option<&[u8]>) -> Result<&str, WebhookError> {
    let raw = header.ok_or(WebhookError::MissingEvent)?;
    let name = std::str::from_utf8(raw).map_err(|_| WebhookError::EventNotText)?;
    if name.trim().is_empty() {
        return Err(WebhookError::MissingEvent);
    }
    Ok(name)
}

// ---------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------

/// The JSON document of a delivery, from its body and `Content-Type`: the body itself for
/// `application/json` (or no Content-Type), the percent-decoded `payload` field for
/// `application/x-www-form-urlencoded`.
pub fn json_payload<'b>(
    content_type: Option<&[u8]>,
    body: &'b [u8],
) -> Result<std::borrow::Cow<'b, [u8]>, WebhookError> {
    let essence = content_type
        .map(|ct| {
            let end = ct.iter().position(|&c| c == b';').unwrap_or(ct.len());
            ct[..end].trim_ascii().to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_slice() {
        b"" | b"application/json" => Ok(std::borrow::Cow::Borrowed(body)),
        b"application/x-www-form-urlencoded" => form_payload(body).map(std::borrow::Cow::Owned),
        other => Err(WebhookError::UnsupportedContentType(
            String::from_utf8_lossy(&other[..other.len().min(48)]).into_owned(),
        )),
    }
}

/// The decoded value of the first `payload=` field of a form-encoded body.
fn form_payload(body: &[u8]) -> Result<Vec<u8>, WebhookError> {
    for pair in body.split(|&c| c == b'&') {
        let (key, value) = match pair.iter().position(|&c| c == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        if percent_decode(key)? == b"payload" {
            return percent_decode(value);
        }
    }
    Err(WebhookError::MissingPayloadField)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte. Strict, unlike
/// the `percent-encoding` and `form_urlencoded` crates (which keep a bad escape as it is,
/// and give text, not bytes): a `%` without two hexadecimal digits is refused.
fn percent_decode(input: &[u8]) -> Result<Vec<u8>, WebhookError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = input
                    .get(i + 1..i + 3)
                    .and_then(|h| Some((hex_digit(h[0])? << 4) | hex_digit(h[1])?))
                    .ok_or(WebhookError::MalformedForm(
                        "a % is not followed by two hexadecimal digits",
                    ))?;
                out.push(byte);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented test vector.
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secrets(list: &str) -> WebhookSecrets {
        WebhookSecrets::parse_list(list).expect("secrets")
    }

    #[test]
    fn githubs_test_vector_signs_and_verifies() {
        let s = secrets(SECRET);
        assert_eq!(s.first().sign(BODY), SIGNATURE);
        assert_eq!(
            verify_signature(&s, Some(SIGNATURE.as_bytes()), false, BODY),
            Ok(())
        );
        let upper = SIGNATURE.replace("757107ea", "757107EA");
        assert_eq!(
            verify_signature(&s, Some(upper.as_bytes()), false, BODY),
            Ok(())
        );
    }

    #[test]
    fn signatures_are_refused_for_each_reason() {
        let s = secrets(SECRET);
        let verify = |header: Option<&str>, sha1: bool, body: &[u8]| {
            verify_signature(&s, header.map(str::as_bytes), sha1, body)
        };
        assert_eq!(
            verify(None, false, BODY),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(verify(None, true, BODY), Err(WebhookError::Sha1Only));
        assert_eq!(
            verify(Some(SIGNATURE), false, b"Hello, World?"),
            Err(WebhookError::BadSignature)
        );
        for malformed in [
            "",
            "sha256=",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
            &SIGNATURE[..SIGNATURE.len() - 1],
            &format!("{SIGNATURE}0"),
            &SIGNATURE.replace('7', "g"),
            &SIGNATURE.replace("sha256=", "SHA256="),
        ] {
            assert_eq!(
                verify(Some(malformed), false, BODY),
                Err(WebhookError::MalformedSignature),
                "{malformed:?}"
            );
        }
        let other = secrets("another secret");
        assert_eq!(
            verify_signature(&other, Some(SIGNATURE.as_bytes()), false, BODY),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn any_secret_of_a_rotation_verifies() {
        let s = secrets(" new secret ,It's a Secret to Everybody,,");
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.first().sign(BODY),
            secrets("new secret").first().sign(BODY)
        );
        assert_eq!(
            verify_signature(&s, Some(SIGNATURE.as_bytes()), false, BODY),
            Ok(())
        );
        let by_new = s.first().sign(BODY);
        assert_eq!(
            verify_signature(&s, Some(by_new.as_bytes()), false, BODY),
            Ok(())
        );
    }

    /// The log of answered deliveries is kept by the first secret's MAC: one body has one
    /// key whichever secret of a rotation signed it, and two bodies two keys.
    #[test]
    fn a_signed_body_has_one_key_whichever_secret_signed_it() {
        let s = secrets("new secret,It's a Secret to Everybody");
        let key = |signature: &str, body: &[u8]| {
            verify_signature_of_parts(&s, Some(signature.as_bytes()), false, &[body])
                .expect("signed")
                .key()
        };
        let by_new = s.first().sign(BODY);
        assert_eq!(key(SIGNATURE, BODY), key(&by_new, BODY));
        let other = b"Hello, World?";
        assert_ne!(key(&s.first().sign(other), other), key(&by_new, BODY));
        assert!(format!("{:?}", key(SIGNATURE, BODY)).starts_with("\"hmac-sha256:"));
    }

    /// A body kept to be hashed when asked names its runs as one hashed at once does.
    #[test]
    fn a_body_hashed_when_asked_has_the_run_key_of_one_hashed_at_once() {
        let id = || DeliveryId::parse(Some(b"d-1")).expect("an id");
        let at_once = id().with_signed_body(&[&BODY[..5], &BODY[5..]]);
        let later = id().with_signed_body_hashed_when_asked(BODY.to_vec());
        assert_eq!(later.run_key_if_hashed(), None);
        assert!(format!("{later:?}").contains("not hashed yet"), "{later:?}");
        assert_eq!(later, at_once);
        assert_eq!(later.run_key(), at_once.run_key());
        assert_eq!(later.run_key_if_hashed(), Some(at_once.run_key()));
        assert!(at_once.run_key().starts_with("sha256:"));
        assert_eq!(id().run_key_if_hashed(), Some("d-1"));
        assert_ne!(id(), at_once);
    }

    #[test]
    fn no_secret_is_an_error_that_says_why() {
        for empty in ["", " , ,\n", "\n"] {
            let err = WebhookSecrets::parse_list(empty).expect_err("no secret");
            assert!(err.to_string().contains("GITHUB_WEBHOOK_SECRET"), "{err}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = secrets("hunter2,correct horse");
        let shown = format!("{s:?} {:?} {:#?}", s.first(), s);
        assert!(
            !shown.contains("hunter2") && !shown.contains("horse"),
            "{shown}"
        );
        let err = WebhookSecrets::from_file_or_env(
            Some(std::path::Path::new("/nonexistent/secret")),
            Some("hunter2"),
            |_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .expect_err("unreadable");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn error_messages_never_quote_a_signature() {
        let s = secrets(SECRET);
        let err = verify_signature(&s, Some(SIGNATURE.as_bytes()), false, b"x").expect_err("bad");
        assert!(!err.to_string().contains("757107"), "{err}");
    }

    #[test]
    fn json_bodies_pass_through_and_forms_are_decoded() {
        let json = br#"{"a":1}"#;
        for ct in [
            None,
            Some(&b"application/json"[..]),
            Some(b"Application/JSON; charset=utf-8"),
        ] {
            assert_eq!(json_payload(ct, json).expect("json").as_ref(), json);
        }
        let form = b"other=1&payload=%7B%22title%22%3A%22a+b%2Bc%22%7D&payload=ignored";
        assert_eq!(
            json_payload(Some(b"application/x-www-form-urlencoded"), form)
                .expect("form")
                .as_ref(),
            br#"{"title":"a b+c"}"#
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_400() {
        let form = Some(&b"application/x-www-form-urlencoded"[..]);
        for (ct, body, want) in [
            (form, &b"other=1"[..], WebhookError::MissingPayloadField),
            (form, b"", WebhookError::MissingPayloadField),
            (
                form,
                b"payload=%7",
                WebhookError::MalformedForm("a % is not followed by two hexadecimal digits"),
            ),
            (
                Some(b"text/plain"),
                b"{}",
                WebhookError::UnsupportedContentType("text/plain".into()),
            ),
        ] {
            let got = json_payload(ct, body).expect_err("refused");
            assert_eq!(got, want);
            assert_eq!(got.status(), 400);
        }
    }

    #[test]
    fn delivery_ids_are_checked() {
        let ok = DeliveryId::parse(Some(b"72d3162e-cc78-11e3-81ab-4c9367dc0958")).expect("guid");
        assert_eq!(ok.as_str(), "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(DeliveryId::parse(None), Err(WebhookError::MissingDelivery));
        for bad in [&b""[..], b"a b", b"../etc", "é".as_bytes(), &[b'a'; 65]] {
            assert_eq!(
                DeliveryId::parse(Some(bad)),
                Err(WebhookError::InvalidDelivery)
            );
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(WebhookError::TooLarge.status(), 413);
        assert_eq!(WebhookError::Sha1Only.status(), 401);
        assert_eq!(WebhookError::MissingEvent.status(), 400);
        assert_eq!(event_name(None), Err(WebhookError::MissingEvent));
        assert_eq!(event_name(Some(b" ")), Err(WebhookError::MissingEvent));
        assert_eq!(event_name(Some(b"\xff")), Err(WebhookError::EventNotText));
        assert_eq!(WebhookError::EventNotText.status(), 400);
    }

    /// A body that is not its event is refused with the parser's own words, once: the
    /// parser's error is kept whole, not turned into text.
    #[test]
    fn a_malformed_body_keeps_the_parsers_error() {
        let parsed = crate::github::event::parse("ping", b"[1]").expect_err("not an object");
        let refused = WebhookError::MalformedBody(parsed.clone());
        assert_eq!(refused.to_string(), parsed.to_string());
        assert_eq!(refused.status(), 400);
        assert!(matches!(refused, WebhookError::MalformedBody(e) if e == parsed));
    }
}
