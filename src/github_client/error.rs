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
    /// No answer: the connection failed, timed out, or broke while the answer was read.
    /// `root` is the API root asked (`GITHUB_API_URL`, `--api-url`): the one clue to a
    /// wrong one (new-user review 13h, F5).
    #[error("could not reach GitHub at {root} ({what})")]
    Transport {
        root: String,
        what: String,
        #[source]
        source: Cause,
    },
    #[error("unexpected answer from GitHub to {what}: {message}")]
    Decode { what: String, message: String },
    /// GitHub's answer does not read as what was asked for (not the JSON expected, a
    /// commit id or name that is not one).
    #[error("unexpected answer from GitHub to {what}")]
    Unreadable {
        what: String,
        #[source]
        source: Cause,
    },
    #[error("GitHub client configuration: {0}")]
    Config(String),
    /// The answer was longer than agentpods reads of one to this call: it was cut off
    /// unread past `limit` bytes, not buffered whole.
    #[error(
        "GitHub's answer to {what} is over {limit} bytes, more than agentpods reads of one; \
         it was left unread"
    )]
    TooLarge { what: String, limit: usize },
    /// The App's private key file named by `GITHUB_APP_PRIVATE_KEY_PATH` does not read.
    #[error(
        "GitHub client configuration: {path}: cannot read the App private key\n{KEY_WHAT_TO_DO}"
    )]
    KeyUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The App's private key (from `from`: the file `GITHUB_APP_PRIVATE_KEY_PATH` names,
    /// or `GITHUB_APP_PRIVATE_KEY`) is not an RSA key in PEM (new-user review 13h, F18).
    #[error(
        "GitHub client configuration: the App private key in {from} is not an RSA PEM key\n\
         {KEY_WHAT_TO_DO}"
    )]
    KeyInvalid { from: String },
    /// The HTTP client itself could not be built (its TLS setup).
    #[error("GitHub client configuration: building the HTTP client")]
    Client {
        #[source]
        source: Cause,
    },
}

/// What to do about an App private key that does not read or is not one.
const KEY_WHAT_TO_DO: &str = "what to do: set GITHUB_APP_PRIVATE_KEY_PATH to the App's \
    private key file, the .pem GitHub downloads from the App's settings (Private keys; it \
    begins `-----BEGIN RSA PRIVATE KEY-----`)";

/// What went wrong beneath a [`GithubError`], kept whole as its source: octocrab's error
/// (with hyper's and the socket's beneath it), or a test's own.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl GithubError {
    /// GitHub may or may not have carried the request out.
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            GithubError::Server { .. } | GithubError::Transport { .. }
        )
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
