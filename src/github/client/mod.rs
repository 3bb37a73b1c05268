//! The GitHub REST client: octocrab underneath, our own types on top.
//!
//! Auth is a plain token or a GitHub App (a JWT signed with the App's key → the
//! installation for a repository → an installation token, cached until five minutes
//! before it expires and refreshed by one caller while the others wait; one that GitHub
//! refuses before then, revoked, is dropped and the call sent once more; an installation
//! that GitHub no longer knows, a reinstalled App's old id, is looked up again). Every
//! call goes through one transport (`http`) that waits out rate limits and retries faults;
//! calls that create things are never sent twice blindly (see
//! [`GithubClient::create_comment_once`]).
//! Tokens and the key never appear in logs or errors: [`Secret`] prints as `***`.

mod http;
pub mod manifest;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::http::{HeaderValue, Method};
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::github::event::{AuthorAssociation, CommitSha, GitRef, PullRequest, RepoFullName, User};
use crate::github::permission::{Access, Permission};
use http::{Http, Replay};
pub use http::{RequestLabels, RequestMetrics};

/// The default API root; `GITHUB_API_URL` overrides it (GitHub Enterprise Server, tests).
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// An installation token is renewed this long before GitHub says it expires.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

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
                (Some(path), _) => read(&path).map_err(|e| {
                    GithubError::Config(format!("{path}: cannot read the App private key: {e}"))
                })?,
                (None, Some(pem)) => pem,
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
    /// Seeds the jitter; `None` seeds it from the clock.
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
    /// How long a collaborator permission is believed.
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
    /// `GITHUB_API_URL` or the public API, with the default policy.
    pub fn new(credentials: Credentials) -> ClientConfig {
        ClientConfig {
            base_url: std::env::var("GITHUB_API_URL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
            credentials,
            retry: RetryPolicy::default(),
            permission_ttl: Duration::from_secs(60),
            own_login: None,
        }
    }
}

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
}

impl GithubError {
    /// GitHub may or may not have carried the request out.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, GithubError::Server { .. } | GithubError::Transport(_))
    }

    fn from_status(status: u16, what: String, body: &[u8]) -> GithubError {
        #[derive(serde::Deserialize)]
        struct Message {
            message: String,
        }
        // GitHub's error message says what is wrong; cap it, it is shown in logs.
        let message = serde_json::from_slice::<Message>(body)
            .map(|m| m.message.chars().take(200).collect())
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

/// A token for one agent run: one repository, the permissions asked for.
#[derive(Debug, Clone)]
pub struct ScopedToken {
    pub token: Secret,
    pub expires_at: SystemTime,
    pub repositories: Vec<String>,
    pub permissions: BTreeMap<String, String>,
}

/// The permissions an agent's token gets, e.g. `contents: write`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPermissions(pub BTreeMap<String, String>);

impl TokenPermissions {
    /// The permissions an agent declares (`github_token` in services.yaml).
    pub fn of(declared: &BTreeMap<String, Access>) -> TokenPermissions {
        TokenPermissions(
            declared
                .iter()
                .map(|(name, access)| (name.clone(), access.as_str().to_owned()))
                .collect(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Eyes,
    PlusOne,
    Confused,
    Rocket,
}

impl Reaction {
    fn as_str(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::Confused => "confused",
            Reaction::Rocket => "rocket",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Queued => "queued",
            CheckStatus::InProgress => "in_progress",
            CheckStatus::Completed => "completed",
        }
    }
}

/// A check run as we write it. `conclusion` only with `Completed`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRunWrite {
    pub name: String,
    /// Our run's name, so a check run can be found again after a restart.
    pub external_id: String,
    pub status: CheckStatus,
    /// GitHub's conclusions: success, failure, neutral, cancelled, timed_out, ...
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub title: String,
    pub summary: String,
    pub started_at: Option<SystemTime>,
    pub completed_at: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    pub state: StatusState,
    pub context: String,
    /// At most 140 characters (longer is cut).
    pub description: String,
    pub target_url: Option<String>,
}

/// A pull request that exists: the one we created, or the open one we found for our head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestCreated {
    pub number: u64,
    pub html_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
    pub author: String,
    pub author_is_bot: bool,
}

/// One delivery attempt of the App's webhook, as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    pub id: u64,
    /// The delivery's `X-GitHub-Delivery`, shared by its redeliveries.
    pub guid: String,
    pub delivered_at: SystemTime,
    pub redelivery: bool,
    /// The HTTP status our endpoint answered (0: no answer).
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
}

/// The deliveries of a time window, as far as they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveriesRead {
    /// Newest first.
    pub deliveries: Vec<HookDelivery>,
    /// The page limit was reached before the start of the window: older ones are unread.
    pub cut_short: bool,
}

impl HookDelivery {
    pub fn failed(&self) -> bool {
        !(200..300).contains(&self.status_code)
    }
}

struct CachedToken {
    token: Secret,
    expires_at: SystemTime,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

struct App {
    app_id: u64,
    key: octocrab::jsonwebtoken::EncodingKey,
    installations: Mutex<HashMap<String, u64>>,
    tokens: Mutex<HashMap<u64, TokenSlot>>,
}

enum Auth {
    Token(Secret),
    App(App),
}

/// The client. Cheap to share behind an `Arc`; caches live inside.
pub struct GithubClient {
    http: Http,
    auth: Auth,
    clock: Arc<dyn Clock>,
    permission_ttl: Duration,
    permissions: Mutex<HashMap<(String, String), (Permission, SystemTime)>>,
    /// Configured, or learnt once from GitHub: the App's bot or the token's user; `None`
    /// when GitHub will not say (a token without a user).
    own_login: tokio::sync::OnceCell<Option<String>>,
}

/// How many pages of comments are read when looking for ours.
const MAX_COMMENT_PAGES: u32 = 30;

impl GithubClient {
    pub fn new(config: ClientConfig, clock: Arc<dyn Clock>) -> Result<GithubClient, GithubError> {
        let auth = match config.credentials {
            Credentials::Token(t) => Auth::Token(t),
            Credentials::App {
                app_id,
                private_key_pem,
            } => Auth::App(App {
                app_id,
                key: octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(
                    private_key_pem.expose().as_bytes(),
                )
                .map_err(|_| {
                    GithubError::Config("the App private key is not an RSA PEM key".into())
                })?,
                installations: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
        };
        Ok(GithubClient {
            http: Http::new(&config.base_url, clock.clone(), config.retry)?,
            auth,
            clock,
            permission_ttl: config.permission_ttl,
            permissions: Mutex::new(HashMap::new()),
            own_login: tokio::sync::OnceCell::new_with(config.own_login.map(Some)),
        })
    }

    /// The clock's time, as the GitHub side keeps it.
    fn now(&self) -> SystemTime {
        self.clock.now().into()
    }

    /// The requests this client sent and the rate limit GitHub last reported, as handles a
    /// metrics registry can share.
    pub fn metrics(&self) -> RequestMetrics {
        self.http.metrics.clone()
    }

    /// App auth: check runs are available. Token auth reports with commit statuses.
    pub fn is_app(&self) -> bool {
        matches!(self.auth, Auth::App(_))
    }

    /// The App's id, when the client is a GitHub App: whose check runs are its own.
    pub fn app_id(&self) -> Option<u64> {
        match &self.auth {
            Auth::App(app) => Some(app.app_id),
            Auth::Token(_) => None,
        }
    }

    // ---- auth ----

    fn jwt(&self) -> Result<HeaderValue, GithubError> {
        let Auth::App(app) = &self.auth else {
            return Err(GithubError::Config(
                "this call needs GitHub App credentials".into(),
            ));
        };
        let jwt = octocrab::auth::create_jwt(app.app_id.into(), &app.key)
            .map_err(|_| GithubError::Config("could not sign the App JWT".into()))?;
        bearer(&jwt)
    }

    async fn send_as_app<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
        replay: Replay,
    ) -> Result<T, GithubError> {
        let reply = self.app_reply(method.clone(), path, body, replay).await?;
        decode(&method, path, &reply.body)
    }

    /// The same, the reply as it came (for its headers, or when its body does not matter).
    async fn app_reply(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
        replay: Replay,
    ) -> Result<http::Reply, GithubError> {
        self.http
            .send(method, path, &|| self.jwt(), body, replay)
            .await
    }

    /// Whether GitHub answers and takes our credentials, asked with one cheap request:
    /// `GET /rate_limit` with a token (it costs no rate limit), `GET /app` with the App's
    /// JWT. Sent once, never retried or waited out (a probe asks again soon); a
    /// rate-limited answer is an answer, so it counts as `Ok`.
    pub async fn ping(&self) -> Result<(), GithubError> {
        let sent = match &self.auth {
            Auth::Token(t) => {
                self.http
                    .send_once(Method::GET, "/rate_limit", &|| bearer(t.expose()))
                    .await
            }
            Auth::App(_) => {
                let sent = self
                    .http
                    .send_once(Method::GET, "/app", &|| self.jwt())
                    .await;
                // The App's slug names our bot: learnt here at no cost when still unknown.
                if let Ok(reply) = &sent
                    && !self.own_login.initialized()
                    && let Ok(login) = bot_login(decode(&Method::GET, "/app", &reply.body))
                {
                    self.learnt_login(login);
                }
                sent
            }
        };
        match sent {
            Ok(_) | Err(GithubError::RateLimited { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The login our comments are posted as: configured, or asked of GitHub once — with
    /// App auth the App's bot, `<slug>[bot]` (`GET /app`), with a plain token the token's
    /// user (`GET /user`). `None` when GitHub refuses to name the token's user (an
    /// installation token has none: 403), which is kept like a login. When GitHub cannot
    /// be asked (down, rate-limited), the error, and the next call asks again.
    pub async fn own_login(&self) -> Result<Option<&str>, GithubError> {
        let login = self
            .own_login
            .get_or_try_init(|| async {
                match &self.auth {
                    Auth::App(_) => {
                        let login = bot_login(
                            self.send_as_app(Method::GET, "/app", None::<&()>, Replay::Safe)
                                .await,
                        )?;
                        tracing::info!(login = %login, "our comments are those of the App's bot");
                        Ok(Some(login))
                    }
                    Auth::Token(t) => self.token_login(t).await,
                }
            })
            .await?;
        Ok(login.as_deref())
    }

    /// The token's user, from `GET /user`; `None` when GitHub refuses to name one (an
    /// installation token has no user: 403 "Resource not accessible by integration").
    async fn token_login(&self, token: &Secret) -> Result<Option<String>, GithubError> {
        let auth = || bearer(token.expose());
        match self
            .http
            .send(Method::GET, "/user", &auth, None::<&()>, Replay::Safe)
            .await
        {
            Ok(reply) => {
                let user: wire::AuthenticatedUser = decode(&Method::GET, "/user", &reply.body)?;
                tracing::info!(login = %user.login, "our comments are those of the token's user");
                Ok(Some(user.login))
            }
            Err(e @ (GithubError::Forbidden { .. } | GithubError::NotFound { .. })) => {
                tracing::warn!(
                    "agentpods does not know the GitHub login it posts as (GitHub does not name the user of this token: an installation token has none), so it cannot tell its own events and comments from others'; set {OWN_LOGIN_ENV} to that login: {e}"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn learnt_login(&self, login: String) {
        if self.own_login.set(Some(login.clone())).is_ok() {
            tracing::info!(login = %login, "our comments are those of the App's bot");
        }
    }

    /// The installation of the App on `repo`, looked up once (and again when GitHub no
    /// longer knows it: see [`GithubClient::with_installation`]).
    pub async fn installation_id(&self, repo: &RepoFullName) -> Result<u64, GithubError> {
        let Auth::App(app) = &self.auth else {
            return Err(GithubError::Config(
                "installations need GitHub App credentials".into(),
            ));
        };
        if let Some(id) = self.cached_installation_id(repo) {
            return Ok(id);
        }
        let path = format!("/repos/{}/{}/installation", repo.owner(), repo.name());
        let found: wire::Installation = self
            .send_as_app(Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        app.installations
            .lock()
            .expect("installations lock")
            .insert(repo.as_str().to_owned(), found.id);
        Ok(found.id)
    }

    /// Forgets `installation`, which GitHub no longer knows (the App was uninstalled, or
    /// reinstalled under a new id): every repository cached with it, and its token.
    fn forget_installation(&self, installation: u64) {
        let Auth::App(app) = &self.auth else {
            return;
        };
        app.installations
            .lock()
            .expect("installations lock")
            .retain(|_, id| *id != installation);
        app.tokens
            .lock()
            .expect("tokens lock")
            .remove(&installation);
    }

    /// Calls `f` with the installation of the App on `repo`. When GitHub answers 404 for
    /// a cached installation (an App reinstalled has a new id), the id is dropped, looked
    /// up again and `f` called once more with what GitHub says now; a second 404, or one
    /// for an installation just looked up, is the answer (as is the lookup's own 404 when
    /// the App is no longer installed on `repo`).
    async fn with_installation<T, F, Fut>(
        &self,
        repo: &RepoFullName,
        f: F,
    ) -> Result<T, GithubError>
    where
        F: Fn(u64) -> Fut,
        Fut: Future<Output = Result<T, GithubError>>,
    {
        let cached = self.cached_installation_id(repo);
        let installation = self.installation_id(repo).await?;
        match f(installation).await {
            Err(GithubError::NotFound { .. }) if cached.is_some() => {
                tracing::info!(
                    installation,
                    repo = %repo,
                    "GitHub no longer knows the App's installation; looking it up again"
                );
                self.forget_installation(installation);
                f(self.installation_id(repo).await?).await
            }
            answer => answer,
        }
    }

    fn cached_installation_id(&self, repo: &RepoFullName) -> Option<u64> {
        let Auth::App(app) = &self.auth else {
            return None;
        };
        app.installations
            .lock()
            .expect("installations lock")
            .get(repo.as_str())
            .copied()
    }

    /// The installation token for `repo`, from the cache while it has more than
    /// [`TOKEN_REFRESH_MARGIN`] left; one caller renews it while the others wait.
    async fn installation_token(&self, repo: &RepoFullName) -> Result<Secret, GithubError> {
        self.with_installation(repo, |installation| {
            self.installation_token_of(installation)
        })
        .await
    }

    async fn installation_token_of(&self, installation: u64) -> Result<Secret, GithubError> {
        let Auth::App(app) = &self.auth else {
            unreachable!("installation_token is called with App auth only")
        };
        let slot = app
            .tokens
            .lock()
            .expect("tokens lock")
            .entry(installation)
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some(t) = &*cached
            && self.now() + TOKEN_REFRESH_MARGIN < t.expires_at
        {
            return Ok(t.token.clone());
        }
        let path = format!("/app/installations/{installation}/access_tokens");
        let fresh: wire::AccessToken = self
            .send_as_app(
                Method::POST,
                &path,
                None::<&()>,
                // A second token is harmless: the request may be repeated.
                Replay::Safe,
            )
            .await?;
        let expires_at = parse_time(&fresh.expires_at, "the token's expires_at")?;
        let token = Secret::new(fresh.token);
        *cached = Some(CachedToken {
            token: token.clone(),
            expires_at,
        });
        tracing::debug!(installation, "renewed the installation token");
        Ok(token)
    }

    /// Drops the cached installation token for `repo` if it is still `refused` (another
    /// caller may have renewed it already), so that the next call asks for a new one.
    async fn forget_installation_token(
        &self,
        repo: &RepoFullName,
        refused: &Secret,
    ) -> Result<(), GithubError> {
        let Auth::App(app) = &self.auth else {
            return Ok(());
        };
        let installation = self.installation_id(repo).await?;
        let slot = app
            .tokens
            .lock()
            .expect("tokens lock")
            .get(&installation)
            .cloned();
        if let Some(slot) = slot {
            let mut cached = slot.lock().await;
            if cached.as_ref().is_some_and(|t| t.token == *refused) {
                *cached = None;
            }
        }
        Ok(())
    }

    /// A token for one agent run: only `repo`, only `permissions`. Not cached.
    pub async fn scoped_token(
        &self,
        repo: &RepoFullName,
        permissions: &TokenPermissions,
    ) -> Result<ScopedToken, GithubError> {
        let body = wire::AccessTokenRequest {
            repositories: vec![repo.name()],
            permissions: &permissions.0,
        };
        let t: wire::AccessToken = self
            .with_installation(repo, |installation| {
                let path = format!("/app/installations/{installation}/access_tokens");
                let body = &body;
                async move {
                    self.send_as_app(Method::POST, &path, Some(body), Replay::Safe)
                        .await
                }
            })
            .await?;
        Ok(ScopedToken {
            expires_at: parse_time(&t.expires_at, "the token's expires_at")?,
            token: Secret::new(t.token),
            repositories: t.repositories.into_iter().map(|r| r.full_name).collect(),
            permissions: t.permissions,
        })
    }

    /// Revokes an installation token (`DELETE /installation/token`, authenticated with the
    /// token itself): GitHub refuses it from then on. A token GitHub refuses already (401:
    /// revoked before, or expired) is as good as revoked. Sent once: a revoke is cheap to
    /// lose (the token expires within the hour) and must not hold up whoever asks.
    pub async fn revoke_token(&self, token: &Secret) -> Result<(), GithubError> {
        match self
            .http
            .send_once(Method::DELETE, "/installation/token", &|| {
                bearer(token.expose())
            })
            .await
        {
            Ok(_) | Err(GithubError::Unauthorized { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends a call about `repo` with the right credentials. A cached installation token
    /// that GitHub refuses (401: revoked, or expired before its time) is dropped and the
    /// call sent once more with a new one; GitHub acted on none of a refused request, so
    /// this holds for calls that create things too. A second 401 is the answer.
    async fn send_for(
        &self,
        repo: &RepoFullName,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
        replay: Replay,
    ) -> Result<hyper::body::Bytes, GithubError> {
        let send = |token: Secret| {
            let method = method.clone();
            async move {
                self.http
                    .send(method, path, &|| bearer(token.expose()), body, replay)
                    .await
                    .map(|reply| reply.body)
            }
        };
        let token = match &self.auth {
            Auth::Token(t) => return send(t.clone()).await,
            Auth::App(_) => self.installation_token(repo).await?,
        };
        match send(token.clone()).await {
            Err(GithubError::Unauthorized { .. }) => {
                tracing::info!(
                    call = %format!("{method} {}", path.split('?').next().unwrap_or(path)),
                    "GitHub refused the installation token; asking for a new one"
                );
                self.forget_installation_token(repo, &token).await?;
                send(self.installation_token(repo).await?).await
            }
            answer => answer,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        repo: &RepoFullName,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
        replay: Replay,
    ) -> Result<T, GithubError> {
        let bytes = self
            .send_for(repo, method.clone(), path, body, replay)
            .await?;
        decode(&method, path, &bytes)
    }

    // ---- who may run what ----

    /// The user's permission on `repo` from the collaborator-permission API, believed
    /// for `permission_ttl`. Someone GitHub does not know as a collaborator has `none`.
    pub async fn collaborator_permission(
        &self,
        repo: &RepoFullName,
        user: &str,
    ) -> Result<Permission, GithubError> {
        let key = (
            repo.as_str().to_ascii_lowercase(),
            user.to_ascii_lowercase(),
        );
        let now = self.now();
        if let Some((p, at)) = self.permissions.lock().expect("permissions lock").get(&key)
            && now.duration_since(*at).unwrap_or(Duration::MAX) < self.permission_ttl
        {
            return Ok(*p);
        }
        let path = format!(
            "/repos/{}/{}/collaborators/{}/permission",
            repo.owner(),
            repo.name(),
            path_segment(user)
        );
        let permission = match self
            .call::<wire::CollaboratorPermission>(
                repo,
                Method::GET,
                &path,
                None::<&()>,
                Replay::Safe,
            )
            .await
        {
            Ok(p) => permission_from(p.role_name.as_deref(), &p.permission),
            Err(GithubError::NotFound { .. }) => Permission::None,
            Err(e) => return Err(e),
        };
        self.permissions
            .lock()
            .expect("permissions lock")
            .insert(key, (permission, now));
        Ok(permission)
    }

    /// Whether `user` is an active member of `org/team_slug`. The App's installation
    /// on `repo` (in that organization) answers.
    pub async fn is_team_member(
        &self,
        repo: &RepoFullName,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GithubError> {
        let path = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            path_segment(org),
            path_segment(team_slug),
            path_segment(user)
        );
        match self
            .call::<wire::Membership>(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await
        {
            Ok(m) => Ok(m.state == "active"),
            Err(GithubError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A pull request as our event type (head SHA and branch, fork or not).
    pub async fn pull_request(
        &self,
        repo: &RepoFullName,
        number: u64,
    ) -> Result<PullRequest, GithubError> {
        let path = format!("/repos/{}/{}/pulls/{number}", repo.owner(), repo.name());
        let w: wire::PullRequest = self
            .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        let decode_err = |message: String| GithubError::Decode {
            what: format!("GET {path}"),
            message,
        };
        let git_ref = |r: wire::GitRef| -> Result<GitRef, GithubError> {
            Ok(GitRef {
                ref_name: r.ref_name,
                sha: r
                    .sha
                    .parse::<CommitSha>()
                    .map_err(|e| decode_err(e.to_string()))?,
                clone_url: r.repo.as_ref().and_then(|x| x.clone_url.clone()),
                repo: match r.repo {
                    Some(x) => Some(
                        x.full_name
                            .parse::<RepoFullName>()
                            .map_err(|e| decode_err(e.to_string()))?,
                    ),
                    None => None,
                },
            })
        };
        Ok(PullRequest {
            number: w.number,
            title: w.title,
            body: w.body.unwrap_or_default(),
            draft: w.draft.unwrap_or(false),
            state: w.state,
            merged: w.merged.unwrap_or(false),
            user: User {
                login: w.user.login,
                id: w.user.id,
                kind: w.user.kind,
            },
            author_association: AuthorAssociation::from(
                w.author_association.as_deref().unwrap_or("NONE"),
            ),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
            head: git_ref(w.head)?,
            base: git_ref(w.base)?,
            html_url: w.html_url,
            // Asked for a comment's command: its closing is not what is decided.
            closed_at: None,
        })
    }

    /// The commit `git_ref` (`refs/heads/main`, `refs/tags/v1.0`) names now, from the git
    /// refs API: one request for a branch or a lightweight tag, one more per level of an
    /// annotated tag. `NotFound` when the ref does not exist (a draft release's tag).
    pub async fn commit_of(
        &self,
        repo: &RepoFullName,
        git_ref: &str,
    ) -> Result<CommitSha, GithubError> {
        /// Tags of tags of tags… end somewhere; past this, it is not worth following.
        const MAX_TAG_DEPTH: usize = 4;
        let short = git_ref.strip_prefix("refs/").unwrap_or(git_ref);
        let mut path = format!(
            "/repos/{}/{}/git/ref/{}",
            repo.owner(),
            repo.name(),
            path_segment(short)
        );
        for _ in 0..=MAX_TAG_DEPTH {
            let found: wire::GitObjectRef = self
                .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
                .await?;
            let decode_err = |message: String| GithubError::Decode {
                what: format!("GET {path}"),
                message,
            };
            match found.object.kind.as_str() {
                "commit" => {
                    return found
                        .object
                        .sha
                        .parse::<CommitSha>()
                        .map_err(|e| decode_err(e.to_string()));
                }
                "tag" => {
                    let tag: CommitSha =
                        found.object.sha.parse().map_err(
                            |e: crate::github::event::ValueError| decode_err(e.to_string()),
                        )?;
                    path = format!(
                        "/repos/{}/{}/git/tags/{}",
                        repo.owner(),
                        repo.name(),
                        tag.as_str()
                    );
                }
                other => {
                    return Err(decode_err(format!(
                        "`{git_ref}` names a {other}, not a commit"
                    )));
                }
            }
        }
        Err(GithubError::Decode {
            what: format!("GET {path}"),
            message: format!("`{git_ref}` is a tag of a tag more than {MAX_TAG_DEPTH} deep"),
        })
    }

    // ---- reports ----

    /// Reacts to an issue or pull request comment. GitHub keeps one reaction of a kind
    /// per user, so repeating it changes nothing.
    pub async fn react_to_comment(
        &self,
        repo: &RepoFullName,
        comment_id: u64,
        reaction: Reaction,
    ) -> Result<(), GithubError> {
        let path = format!(
            "/repos/{}/{}/issues/comments/{comment_id}/reactions",
            repo.owner(),
            repo.name()
        );
        let body = wire::Reaction {
            content: reaction.as_str(),
        };
        self.send_for(repo, Method::POST, &path, Some(&body), Replay::Safe)
            .await?;
        Ok(())
    }

    fn check_body<'a>(c: &'a CheckRunWrite) -> wire::CheckRunBody<'a> {
        wire::CheckRunBody {
            name: Some(&c.name),
            head_sha: None,
            external_id: Some(&c.external_id),
            details_url: c.details_url.as_deref(),
            status: Some(c.status.as_str()),
            started_at: c.started_at.map(rfc3339),
            conclusion: c.conclusion.as_deref(),
            completed_at: c.completed_at.map(rfc3339),
            output: Some(wire::CheckRunOutput {
                title: &c.title,
                summary: &c.summary,
            }),
        }
    }

    /// Creates a check run on `sha`. A check run with the same name and external id on
    /// that commit is reused (edited) instead, so a retry or a restart makes no second one.
    pub async fn create_check_run(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        check: &CheckRunWrite,
    ) -> Result<u64, GithubError> {
        if let Some(id) = self.find_check_run(repo, sha, check).await? {
            self.update_check_run(repo, id, check).await?;
            return Ok(id);
        }
        self.post_check_run(repo, sha, check).await
    }

    /// Creates a check run on `sha` without looking for one first: for a caller that knows
    /// none was made (it keeps the ids of all it made). After an ambiguous failure it still
    /// looks before posting again.
    pub async fn post_check_run(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        check: &CheckRunWrite,
    ) -> Result<u64, GithubError> {
        let path = format!("/repos/{}/{}/check-runs", repo.owner(), repo.name());
        let mut body = Self::check_body(check);
        body.head_sha = Some(sha.as_str());
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .call::<wire::CheckRun>(repo, Method::POST, &path, Some(&body), Replay::Unsafe)
                .await
            {
                Ok(created) => return Ok(created.id),
                Err(e) if e.is_ambiguous() && attempts < 3 => {
                    if let Some(id) = self.find_check_run(repo, sha, check).await? {
                        self.update_check_run(repo, id, check).await?;
                        return Ok(id);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find_check_run(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        check: &CheckRunWrite,
    ) -> Result<Option<u64>, GithubError> {
        let path = format!(
            "/repos/{}/{}/commits/{}/check-runs?check_name={}&filter=all&per_page=100",
            repo.owner(),
            repo.name(),
            sha.as_str(),
            query_value(&check.name)
        );
        let list: wire::CheckRunList = self
            .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        Ok(list
            .check_runs
            .into_iter()
            .find(|c| c.name == check.name && c.external_id.as_deref() == Some(&check.external_id))
            .map(|c| c.id))
    }

    pub async fn update_check_run(
        &self,
        repo: &RepoFullName,
        id: u64,
        check: &CheckRunWrite,
    ) -> Result<(), GithubError> {
        let path = format!("/repos/{}/{}/check-runs/{id}", repo.owner(), repo.name());
        self.send_for(
            repo,
            Method::PATCH,
            &path,
            Some(&Self::check_body(check)),
            Replay::Safe,
        )
        .await?;
        Ok(())
    }

    /// Sets a commit status. The latest status of a context wins, so this may repeat.
    pub async fn create_status(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        status: &StatusWrite,
    ) -> Result<(), GithubError> {
        let path = format!(
            "/repos/{}/{}/statuses/{}",
            repo.owner(),
            repo.name(),
            sha.as_str()
        );
        let description: String = status.description.chars().take(140).collect();
        let body = wire::StatusBody {
            state: status.state.as_str(),
            target_url: status.target_url.as_deref(),
            description: &description,
            context: &status.context,
        };
        self.send_for(repo, Method::POST, &path, Some(&body), Replay::Safe)
            .await?;
        Ok(())
    }

    /// Posts a comment. Not retried after an ambiguous failure: see
    /// [`GithubClient::create_comment_once`].
    pub async fn create_comment(
        &self,
        repo: &RepoFullName,
        issue: u64,
        body: &str,
    ) -> Result<u64, GithubError> {
        let path = format!(
            "/repos/{}/{}/issues/{issue}/comments",
            repo.owner(),
            repo.name()
        );
        let created: wire::Comment = self
            .call(
                repo,
                Method::POST,
                &path,
                Some(&wire::CommentBody { body }),
                Replay::Unsafe,
            )
            .await?;
        Ok(created.id)
    }

    pub async fn update_comment(
        &self,
        repo: &RepoFullName,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GithubError> {
        let path = format!(
            "/repos/{}/{}/issues/comments/{comment_id}",
            repo.owner(),
            repo.name()
        );
        self.send_for(
            repo,
            Method::PATCH,
            &path,
            Some(&wire::CommentBody { body }),
            Replay::Safe,
        )
        .await?;
        Ok(())
    }

    /// The comments of an issue or pull request, oldest first.
    pub async fn list_comments(
        &self,
        repo: &RepoFullName,
        issue: u64,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let mut out = Vec::new();
        for page in 1..=MAX_COMMENT_PAGES {
            let path = format!(
                "/repos/{}/{}/issues/{issue}/comments?per_page=100&page={page}",
                repo.owner(),
                repo.name()
            );
            let batch: Vec<wire::Comment> = self
                .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
                .await?;
            let done = batch.len() < 100;
            out.extend(batch.into_iter().map(|c| IssueComment {
                id: c.id,
                body: c.body.unwrap_or_default(),
                author_is_bot: c.user.kind == "Bot",
                author: c.user.login,
            }));
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Our comment carrying `marker`, if there is one, to edit it or not post it twice.
    /// Comments by others never count, even when they quote the marker, nor those of other
    /// bots — except with a token whose user GitHub will not name, where any comment with
    /// the marker is taken (the worst a forgery does then is keep a reply from being
    /// posted). When our login cannot be asked for now, this fails. No marker grants
    /// anything: approvals are the service's own records (`ports::approvals`).
    pub async fn find_comment(
        &self,
        repo: &RepoFullName,
        issue: u64,
        marker: &str,
    ) -> Result<Option<IssueComment>, GithubError> {
        let own = self.own_login().await?;
        Ok(self
            .list_comments(repo, issue)
            .await?
            .into_iter()
            .find(|c| c.body.contains(marker) && is_ours(c, own)))
    }

    /// Posts `body` (which must contain `marker`) unless our comment with that marker is
    /// already there; after an ambiguous failure it looks again before posting again. The
    /// comment's id either way.
    pub async fn create_comment_once(
        &self,
        repo: &RepoFullName,
        issue: u64,
        marker: &str,
        body: &str,
    ) -> Result<u64, GithubError> {
        debug_assert!(body.contains(marker));
        if let Some(found) = self.find_comment(repo, issue, marker).await? {
            return Ok(found.id);
        }
        self.post_comment_once(repo, issue, marker, body).await
    }

    /// Posts `body` (which must contain `marker`) without looking for it first: for a
    /// caller that knows it was not posted (it keeps the ids of all it posted). After an
    /// ambiguous failure it looks before posting again.
    pub async fn post_comment_once(
        &self,
        repo: &RepoFullName,
        issue: u64,
        marker: &str,
        body: &str,
    ) -> Result<u64, GithubError> {
        debug_assert!(body.contains(marker));
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.create_comment(repo, issue, body).await {
                Ok(id) => return Ok(id),
                Err(e) if e.is_ambiguous() && attempts < 3 => {
                    tracing::info!(
                        issue,
                        "posting a comment failed ambiguously; looking for it before posting again"
                    );
                    if let Some(found) = self.find_comment(repo, issue, marker).await? {
                        return Ok(found.id);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    // ---- pull requests ----

    /// Opens a pull request from `head_branch` (a branch of `repo` itself) onto
    /// `base_branch`. GitHub keeps one open pull request per head and base, and this never
    /// makes a second: after an ambiguous failure it looks for the open pull request of
    /// that head before posting again, and GitHub's 422 "A pull request already exists"
    /// is answered with the one that exists.
    pub async fn create_pull_request(
        &self,
        repo: &RepoFullName,
        head_branch: &str,
        base_branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequestCreated, GithubError> {
        let path = format!("/repos/{}/{}/pulls", repo.owner(), repo.name());
        let request = wire::PullRequestBody {
            title,
            head: head_branch,
            base: base_branch,
            body,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .call::<wire::PullRequestRef>(
                    repo,
                    Method::POST,
                    &path,
                    Some(&request),
                    Replay::Unsafe,
                )
                .await
            {
                Ok(created) => {
                    return Ok(PullRequestCreated {
                        number: created.number,
                        html_url: created.html_url,
                    });
                }
                Err(e) if e.is_ambiguous() => {
                    tracing::info!(
                        attempts,
                        "opening a pull request failed ambiguously; looking for it"
                    );
                    if let Some(found) = self.find_open_pull_request(repo, head_branch).await? {
                        return Ok(found);
                    }
                    if attempts >= 3 {
                        return Err(e);
                    }
                }
                Err(e @ GithubError::Rejected { status: 422, .. }) => {
                    // "A pull request already exists for owner:branch": ours, from an
                    // earlier attempt. Any other 422 stands.
                    return match self.find_open_pull_request(repo, head_branch).await? {
                        Some(found) => Ok(found),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The open pull request whose head is `head_branch` of `repo`, if there is one.
    pub async fn find_open_pull_request(
        &self,
        repo: &RepoFullName,
        head_branch: &str,
    ) -> Result<Option<PullRequestCreated>, GithubError> {
        let path = format!(
            "/repos/{}/{}/pulls?head={}&state=open&per_page=100",
            repo.owner(),
            repo.name(),
            query_value(&format!("{}:{head_branch}", repo.owner()))
        );
        let list: Vec<wire::PullRequestRef> = self
            .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        Ok(list.into_iter().next().map(|p| PullRequestCreated {
            number: p.number,
            html_url: p.html_url,
        }))
    }

    // ---- catch-up ----

    /// The App's webhook deliveries from `since` on, newest first: page after page
    /// (GitHub's `cursor`, from the `Link` header's `rel="next"`) until one reaches back
    /// past `since`, the last page, or `max_pages` pages.
    pub async fn hook_deliveries(
        &self,
        since: SystemTime,
        max_pages: u32,
    ) -> Result<DeliveriesRead, GithubError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..max_pages {
            let path = match &cursor {
                None => "/app/hook/deliveries?per_page=100".to_owned(),
                Some(c) => format!(
                    "/app/hook/deliveries?per_page=100&cursor={}",
                    query_value(c)
                ),
            };
            let reply = self
                .app_reply(Method::GET, &path, None::<&()>, Replay::Safe)
                .await?;
            let page: Vec<wire::HookDelivery> = decode(&Method::GET, &path, &reply.body)?;
            let mut reached_since = false;
            for d in page {
                let delivered_at = parse_time(&d.delivered_at, "delivered_at")?;
                if delivered_at < since {
                    reached_since = true;
                    continue;
                }
                out.push(HookDelivery {
                    id: d.id,
                    guid: d.guid,
                    delivered_at,
                    redelivery: d.redelivery,
                    status_code: d.status_code,
                    event: d.event,
                    action: d.action,
                });
            }
            cursor = next_cursor(&reply.headers);
            if reached_since || cursor.is_none() {
                return Ok(DeliveriesRead {
                    deliveries: out,
                    cut_short: false,
                });
            }
        }
        Ok(DeliveriesRead {
            deliveries: out,
            cut_short: true,
        })
    }

    /// Asks GitHub to deliver one delivery again. Not retried after an ambiguous
    /// failure: the next catch-up sees whether it went out.
    pub async fn redeliver(&self, delivery_id: u64) -> Result<(), GithubError> {
        let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
        self.app_reply(Method::POST, &path, None::<&()>, Replay::Unsafe)
            .await?;
        Ok(())
    }
}

/// The `cursor` of the page after this one, from the `Link` header's `rel="next"` URL.
/// Only the cursor is taken: the next request goes to our own API root, never to a URL
/// the answer names.
fn next_cursor(headers: &hyper::http::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (url, params) = link.trim().split_once(';')?;
            let next = params
                .split(';')
                .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            let (_, query) = url.split_once('?')?;
            next.then(|| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("cursor="))
                    .map(percent_decode)
            })
            .flatten()
            .filter(|c| !c.is_empty())
        })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `c` is ours: written by `own` when we know who we are (a token whose user
/// GitHub will not name does not know, and takes any author).
fn is_ours(c: &IssueComment, own: Option<&str>) -> bool {
    own.is_none_or(|login| c.author.eq_ignore_ascii_case(login))
}

/// The App's bot account, from the App as `GET /app` answers it.
fn bot_login(app: Result<wire::App, GithubError>) -> Result<String, GithubError> {
    match app?.slug {
        Some(slug) if !slug.is_empty() => Ok(format!("{slug}[bot]")),
        _ => Err(GithubError::Decode {
            what: "GET /app".into(),
            message: "the App has no slug".into(),
        }),
    }
}

fn bearer(token: &str) -> Result<HeaderValue, GithubError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| GithubError::Config("a token has characters a header cannot carry".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

fn decode<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, GithubError> {
    serde_json::from_slice(body).map_err(|e| GithubError::Decode {
        what: format!("{method} {}", path.split('?').next().unwrap_or(path)),
        message: e.to_string(),
    })
}

fn parse_time(s: &str, what: &str) -> Result<SystemTime, GithubError> {
    humantime::parse_rfc3339_weak(s).map_err(|e| GithubError::Decode {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn permission_from(role_name: Option<&str>, permission: &str) -> Permission {
    let parse = |s: &str| match s {
        "admin" => Some(Permission::Admin),
        "maintain" => Some(Permission::Maintain),
        "write" | "push" => Some(Permission::Write),
        "triage" => Some(Permission::Triage),
        "read" | "pull" => Some(Permission::Read),
        "none" => Some(Permission::None),
        _ => None,
    };
    role_name
        .and_then(parse)
        .or_else(|| parse(permission))
        .unwrap_or(Permission::None)
}

/// A login, org or slug as one path segment: GitHub's names are `[A-Za-z0-9-_.]`; anything
/// else is percent-encoded so it cannot change the path.
fn path_segment(s: &str) -> String {
    query_value(s)
}

fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> hyper::http::HeaderMap {
        let mut headers = hyper::http::HeaderMap::new();
        headers.insert(
            hyper::http::header::LINK,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn the_next_page_is_the_cursor_of_the_link_whose_rel_is_next() {
        let base = "https://api.github.com/app/hook/deliveries";
        assert_eq!(
            next_cursor(&link(&format!(
                "<{base}?per_page=100&cursor=v1_12077215967>; rel=\"next\""
            ))),
            Some("v1_12077215967".into())
        );
        assert_eq!(
            next_cursor(&link(&format!(
                "<{base}?cursor=v1_1&per_page=2>; rel=\"prev\", <{base}?per_page=2&cursor=v1%2B9>; rel=\"next\""
            ))),
            Some("v1+9".into())
        );
        assert_eq!(
            next_cursor(&link(&format!("<{base}?cursor=v1_1>; rel=\"prev\""))),
            None
        );
        assert_eq!(
            next_cursor(&link(&format!("<{base}?page=2>; rel=\"next\""))),
            None
        );
        assert_eq!(next_cursor(&hyper::http::HeaderMap::new()), None);
    }
}
