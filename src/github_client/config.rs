//! What a client is made from: the API root, the credentials (a token or a GitHub App,
//! from the environment), the retry policy and our own login; [`Secret`] for what must not
//! be printed.

use std::fmt;
use std::time::Duration;

use super::GithubError;

/// The default API root; [`API_URL_ENV`] overrides it where a client is built from the
/// environment (GitHub Enterprise Server, tests).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// A secret string (token, private key): shown as `***` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone)]
pub enum Credentials {
    /// A personal access token or any token GitHub takes as `Bearer`.
    Token(Secret),
    /// A GitHub App: its id and its PEM private key (PKCS#1 or PKCS#8).
    App {
        app_id: u64,
        private_key_pem: Secret,
    },
}

impl Credentials {
    /// The credentials the environment names: a GitHub App (`GITHUB_APP_ID` with
    /// `GITHUB_APP_PRIVATE_KEY_PATH` or `GITHUB_APP_PRIVATE_KEY`) before a plain
    /// `GITHUB_TOKEN`; `None` when there are none. `read` reads the key file. Errors name
    /// the variable or the file, never the secret.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Option<Credentials>, GithubError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(id) = var("GITHUB_APP_ID") {
            let app_id = id.trim().parse().map_err(|_| {
                GithubError::Config("GITHUB_APP_ID is not a number (the App's id)".into())
            })?;
            let pem = match (
                var("GITHUB_APP_PRIVATE_KEY_PATH"),
                var("GITHUB_APP_PRIVATE_KEY"),
            ) {
                (Some(path), _) => {
                    let pem = read(&path).map_err(|source| GithubError::KeyUnreadable {
                        path: path.clone(),
                        source,
                    })?;
                    is_rsa_pem(&pem, &path)?;
                    pem
                }
                (None, Some(pem)) => {
                    is_rsa_pem(&pem, "GITHUB_APP_PRIVATE_KEY")?;
                    pem
                }
                (None, None) => {
                    return Err(GithubError::Config(
                        "GITHUB_APP_ID is set but neither GITHUB_APP_PRIVATE_KEY_PATH nor GITHUB_APP_PRIVATE_KEY".into(),
                    ));
                }
            };
            return Ok(Some(Credentials::App {
                app_id,
                private_key_pem: Secret::new(pem),
            }));
        }
        Ok(var("GITHUB_TOKEN").map(|t| Credentials::Token(Secret::new(t.trim()))))
    }
}

/// Whether `pem` is an RSA key in PEM, as GitHub gives an App's: said with where it came
/// from, `from`, at start, not later without it.
fn is_rsa_pem(pem: &str, from: &str) -> Result<(), GithubError> {
    octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map(|_| ())
        .map_err(|_| GithubError::KeyInvalid { from: from.into() })
}

/// How hard the client tries before it gives up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, counting the first (faults and rate limits alike).
    pub max_attempts: u32,
    /// The first backoff step; each retry doubles it, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A rate limit that lasts longer than this is returned as `RateLimited`, not waited.
    pub max_rate_limit_wait: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Seeds the jitter (the same waits for each call, for tests); `None`: a random seed.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            jitter_seed: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub credentials: Credentials,
    pub retry: RetryPolicy,
    /// How long an answer of `none` to a permission question is believed (one that grants
    /// something is asked again for each event).
    pub permission_ttl: Duration,
    /// The login our comments are posted as ([`OWN_LOGIN_ENV`]). Unset, it is learnt once:
    /// with App auth the App's bot, `<slug>[bot]`, from `GET /app`; with a plain token the
    /// token's user, from `GET /user`. A token that has no user (an installation token,
    /// Actions' `GITHUB_TOKEN`) cannot learn it: then no marker that grants something
    /// (a fork pull request's approval) is believed.
    pub own_login: Option<String>,
}

/// Names the login agentpods posts as, for a token GitHub will not name (`GET /user`).
pub const OWN_LOGIN_ENV: &str = "AGENTPODS_GITHUB_LOGIN";

/// The login [`OWN_LOGIN_ENV`] names, trimmed (and without a leading `@`); `None` when
/// unset or blank.
pub fn own_login_from_env(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    var(OWN_LOGIN_ENV)
        .map(|v| v.trim().trim_start_matches('@').to_owned())
        .filter(|v| !v.is_empty())
}

impl ClientConfig {
    /// The public API (or [`ClientConfig::base_url`] as set), with the default policy. The
    /// environment is read at the edges that build a client ([`api_url_from_env`]), never
    /// here: a developer's shell variable must not redirect a client built in a test.
    pub fn new(credentials: Credentials) -> ClientConfig {
        ClientConfig {
            base_url: DEFAULT_API_URL.to_owned(),
            credentials,
            retry: RetryPolicy::default(),
            permission_ttl: Duration::from_secs(60),
            own_login: None,
        }
    }
}

/// Names the API root (GitHub Enterprise Server, tests).
pub const API_URL_ENV: &str = "GITHUB_API_URL";

/// The API root [`API_URL_ENV`] names, or the public API when unset or blank.
pub fn api_url_from_env(var: impl Fn(&str) -> Option<String>) -> String {
    var(API_URL_ENV)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outside review 12, R5: the environment is an input of the edges, not of the type. A
    /// client built in a test talks to the API root it is given, whatever the shell holds.
    #[test]
    fn the_api_root_comes_from_the_environment_only_where_an_edge_asks_for_it() {
        let config = ClientConfig::new(Credentials::Token(Secret::new("t")));
        assert_eq!(config.base_url, DEFAULT_API_URL);
        let env = |name: &str| (name == API_URL_ENV).then(|| " https://ghe.example/api/v3 ".into());
        assert_eq!(api_url_from_env(env), "https://ghe.example/api/v3");
        assert_eq!(api_url_from_env(|_| Some("  ".into())), DEFAULT_API_URL);
        assert_eq!(api_url_from_env(|_| None), DEFAULT_API_URL);
    }
}
