//! [`GithubError`]: what a call to GitHub can end in.

use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub has no such thing: {what}")]
    NotFound { what: String },
    #[error("GitHub refused {what}: {message}")]
    Forbidden { what: String, message: String },
    #[error("GitHub did not accept our credentials for {what}")]
    Unauthorized { what: String },
    #[error("GitHub rate limit; try again after {}", humantime::format_rfc3339_seconds(*retry_at))]
    RateLimited { retry_at: SystemTime },
    #[error("GitHub rejected {what} ({status}): {message}")]
    Rejected {
        status: u16,
        what: String,
        message: String,
    },
    #[error("GitHub failed {what} ({status})")]
    Server { status: u16, what: String },
    #[error("could not reach GitHub: {0}")]
    Transport(String),
    #[error("unexpected answer from GitHub to {what}: {message}")]
    Decode { what: String, message: String },
    #[error("GitHub client configuration: {0}")]
    Config(String),
    /// The answer was longer than agentpods reads of one to this call: it was cut off
    /// unread past `limit` bytes, not buffered whole.
    #[error(
        "GitHub's answer to {what} is over {limit} bytes, more than agentpods reads of one; \
         it was left unread"
    )]
    TooLarge { what: String, limit: usize },
}

impl GithubError {
    /// GitHub may or may not have carried the request out.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, GithubError::Server { .. } | GithubError::Transport(_))
    }

    pub(super) fn from_status(status: u16, what: String, body: &[u8]) -> GithubError {
        #[derive(serde::Deserialize)]
        struct Message {
            message: String,
        }
        // GitHub's error message says what is wrong; cap it, it is shown in logs.
        let message = serde_json::from_slice::<Message>(body)
            .map(|m| crate::text::start(&m.message, 200).to_owned())
            .unwrap_or_default();
        match status {
            401 => GithubError::Unauthorized { what },
            403 => GithubError::Forbidden { what, message },
            404 => GithubError::NotFound { what },
            _ => GithubError::Rejected {
                status,
                what,
                message,
            },
        }
    }
}
