//! GitHub's App manifest flow, the one call of it that agentpods makes: exchanging the
//! `code` GitHub hands back for the new App's credentials
//! (`POST /app-manifests/{code}/conversions`, taken without authentication).
//!
//! The code is as good as the App's private key for an hour: it never appears in an error
//! (GitHub's paths name it; they are shown with `…` in its place).

use std::sync::Arc;

use hyper::http::Method;

use super::http::Http;
use super::{GithubError, RetryPolicy, Secret};
use crate::clock::Clock;

/// The App GitHub created from the manifest, with its credentials.
#[derive(Debug)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// The App's page, e.g. `https://github.com/apps/agentpods`.
    pub html_url: String,
    /// The account that owns it.
    pub owner: Option<String>,
    pub pem: Secret,
    /// GitHub may leave it out (an App without a webhook).
    pub webhook_secret: Option<Secret>,
}

/// Why the code could not be exchanged.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// GitHub answered, and said no (404: unknown, used or expired code; 422).
    #[error("GitHub refused the App manifest code ({status}){}", message_suffix(.message))]
    Refused { status: u16, message: String },
    /// No answer, or a 5xx: GitHub may or may not have used the code.
    #[error("could not exchange the App manifest code with GitHub: {0}")]
    Unreachable(String),
    #[error("GitHub's answer to the App manifest conversion is not what was expected: {0}")]
    Decode(String),
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Whether `code` can be put in a path as it is: GitHub's codes are short and
/// alphanumeric; anything else is refused before a request is made.
pub fn is_plausible_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(serde::Deserialize)]
struct Wire {
    id: u64,
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    owner: Option<WireOwner>,
    pem: String,
    #[serde(default)]
    webhook_secret: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireOwner {
    login: Option<String>,
}

/// Exchanges `code` at `api_url` (once: a code works once, so a failure is not retried).
pub async fn convert(
    api_url: &str,
    code: &str,
    clock: Arc<dyn Clock>,
) -> Result<CreatedApp, ConversionError> {
    if !is_plausible_code(code) {
        return Err(ConversionError::Refused {
            status: 0,
            message: "not a code GitHub issues".into(),
        });
    }
    let hide = |s: String| s.replace(code, "…");
    let http = Http::new(api_url, clock, RetryPolicy::default())
        .map_err(|e| ConversionError::Unreachable(hide(crate::text::with_causes(&e))))?;
    let path = format!("/app-manifests/{code}/conversions");
    let reply = match http.send_once_anonymous(Method::POST, &path).await {
        Ok(reply) => reply,
        Err(GithubError::NotFound { .. }) => {
            return Err(ConversionError::Refused {
                status: 404,
                message: "no such code (wrong, already used, or older than an hour)".into(),
            });
        }
        Err(GithubError::Rejected {
            status, message, ..
        }) => {
            return Err(ConversionError::Refused {
                status,
                message: hide(message),
            });
        }
        Err(GithubError::Forbidden { message, .. }) => {
            return Err(ConversionError::Refused {
                status: 403,
                message: hide(message),
            });
        }
        Err(GithubError::Unauthorized { .. }) => {
            return Err(ConversionError::Refused {
                status: 401,
                message: String::new(),
            });
        }
        Err(e) => {
            return Err(ConversionError::Unreachable(hide(
                crate::text::with_causes(&e),
            )));
        }
    };
    let wire: Wire = serde_json::from_slice(&reply.body)
        .map_err(|e| ConversionError::Decode(hide(crate::text::with_causes(&e))))?;
    if !wire.pem.contains("PRIVATE KEY-----") {
        return Err(ConversionError::Decode(
            "`pem` is not a PEM private key".into(),
        ));
    }
    Ok(CreatedApp {
        id: wire.id,
        slug: wire.slug,
        name: wire.name,
        html_url: wire.html_url,
        owner: wire.owner.and_then(|o| o.login),
        pem: Secret::new(wire.pem),
        webhook_secret: wire
            .webhook_secret
            .filter(|s| !s.is_empty())
            .map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_codes_go_into_a_path() {
        assert!(is_plausible_code("a1b2c3d4e5f6"));
        for bad in ["", "../app", "a/b", "a?b", "a%2Fb", &"x".repeat(129)] {
            assert!(!is_plausible_code(bad), "{bad:?}");
        }
    }
}
