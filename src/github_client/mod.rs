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
//!
//! Here: the client and how it sends (as the App, or for a repository with the right
//! token). By what they hold: `config` (credentials, retry policy), `error`, `auth` (our
//! login, installations and their tokens, scoped tokens), `permission` (who may run what),
//! `pull_requests`, `commits` (the commit a ref names), `comments` (and reactions),
//! `checks` (check runs and commit statuses), `deliveries` (catch-up); `http` is the one
//! transport, `wire` GitHub's JSON, `manifest` the App manifest flow.

mod auth;
mod checks;
mod comments;
mod commits;
mod config;
mod contents;
mod deliveries;
mod error;
mod etags;
mod http;
pub mod manifest;
mod permission;
mod pull_requests;
mod turns;
mod wire;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::http::{HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::github::event::{LoginKey, RepoFullName, RepoKey};
use crate::github::permission::Permission;
use http::{Budget, Http, Replay};

pub use auth::{ScopedToken, TOKEN_REFRESH_MARGIN, TokenPermissions};
pub use checks::{CheckRunWrite, CheckStatus, StatusState, StatusWrite};
pub use comments::{IssueComment, Reaction};
pub use config::{
    API_URL_ENV, ClientConfig, Credentials, DEFAULT_API_URL, OWN_LOGIN_ENV, RetryPolicy, Secret,
    api_url_from_env, own_login_from_env,
};
pub use contents::{RepoFile, RepositoryRead};
pub use deliveries::{DeliveriesRead, HookDelivery};
pub use error::GithubError;
pub use http::{RequestLabels, RequestMetrics};
pub use pull_requests::{ChangedPaths, PullRequestCreated};

struct CachedToken {
    token: Secret,
    expires_at: SystemTime,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

struct App {
    app_id: u64,
    key: octocrab::jsonwebtoken::EncodingKey,
    installations: Mutex<HashMap<String, u64>>,
    /// One look-up of a repository's installation at a time.
    lookups: turns::Turns<String>,
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
    permissions: Mutex<HashMap<(RepoKey, LoginKey), (Permission, SystemTime)>>,
    /// One look-up of a person's permission on a repository at a time: the others then ask
    /// with its ETag.
    permission_lookups: turns::Turns<(RepoKey, LoginKey)>,
    /// Files a repository was found not to have ([`GithubClient::file_at`]), by repository,
    /// path and branch, with when: believed for [`contents::ABSENT_FILE_TTL`], or until a
    /// push to the repository ([`GithubClient::forget_absent_files`]).
    absent_files: Mutex<HashMap<(RepoKey, String, String), SystemTime>>,
    /// Configured, or learnt once from GitHub: the App's bot or the token's user; `None`
    /// when GitHub will not say (a token without a user).
    own_login: tokio::sync::OnceCell<Option<String>>,
}

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
                lookups: turns::Turns::new(),
                tokens: Mutex::new(HashMap::new()),
            }),
        };
        Ok(GithubClient {
            http: Http::new(&config.base_url, clock.clone(), config.retry)?,
            auth,
            clock,
            permission_ttl: config.permission_ttl,
            permissions: Mutex::new(HashMap::new()),
            permission_lookups: turns::Turns::new(),
            absent_files: Mutex::new(HashMap::new()),
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

    /// The last failure a request was retried after (its call and cause), if it came
    /// after `since`: why a caller that stopped waiting had no answer.
    pub fn failed_since(&self, since: std::time::Instant) -> Option<String> {
        self.http.failed_since(since)
    }

    /// The App's id, when the client is a GitHub App: whose check runs are its own.
    pub fn app_id(&self) -> Option<u64> {
        match &self.auth {
            Auth::App(app) => Some(app.app_id),
            Auth::Token(_) => None,
        }
    }

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
    ) -> Result<http::GithubAnswer, GithubError> {
        self.http
            .send(method, path, (&|| self.jwt(), Budget::App), body, replay)
            .await
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
        let send = |token: Secret, budget: Budget| {
            let method = method.clone();
            async move {
                self.http
                    .send(
                        method,
                        path,
                        (&|| bearer(token.expose()), budget),
                        body,
                        replay,
                    )
                    .await
                    .map(|reply| reply.body)
            }
        };
        let token = match &self.auth {
            Auth::Token(t) => return send(t.clone(), Budget::Token).await,
            Auth::App(_) => self.installation_token(repo).await?,
        };
        // Looked up with the token: no request.
        let budget = Budget::Installation(self.installation_id(repo).await?);
        match send(token.clone(), budget).await {
            Err(GithubError::Unauthorized { .. }) => {
                tracing::info!(
                    call = %format!("{method} {}", path.split('?').next().unwrap_or(path)),
                    "GitHub refused the installation token; asking for a new one"
                );
                self.forget_installation_token(repo, &token).await?;
                send(self.installation_token(repo).await?, budget).await
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

    /// A list GitHub gives in pages of 100 (`list`: its path, without a query): page 1,
    /// 2, … each handed to `each`, until a page shorter than 100 (the last), `max_pages`
    /// pages, or `each` says it has enough (`ControlFlow::Break`, returned then: more
    /// pages followed, unread).
    async fn list_pages<T: DeserializeOwned>(
        &self,
        repo: &RepoFullName,
        list: &str,
        max_pages: u32,
        mut each: impl FnMut(Vec<T>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, GithubError> {
        for page in 1..=max_pages {
            let path = format!("{list}?per_page={PAGE_SIZE}&page={page}");
            let batch: Vec<T> = self
                .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
                .await?;
            let last = batch.len() < PAGE_SIZE;
            let flow = each(batch);
            if last {
                break;
            }
            if flow.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// How many items a page of a list holds ([`GithubClient::list_pages`]): GitHub's most.
const PAGE_SIZE: usize = 100;

fn bearer(token: &str) -> Result<HeaderValue, GithubError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| GithubError::Config("a token has characters a header cannot carry".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

fn decode<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, GithubError> {
    serde_json::from_slice(body).map_err(|e| GithubError::Unreadable {
        what: format!("{method} {}", path.split('?').next().unwrap_or(path)),
        source: e.into(),
    })
}

fn parse_time(s: &str, what: &str) -> Result<SystemTime, GithubError> {
    humantime::parse_rfc3339_weak(s).map_err(|e| GithubError::Unreadable {
        what: what.to_owned(),
        source: e.into(),
    })
}

/// A login, org or slug as one path segment: GitHub's names are `[A-Za-z0-9-_.]`; anything
/// else is percent-encoded so it cannot change the path.
fn path_segment(s: &str) -> String {
    query_value(s)
}

/// Every byte but `A-Z a-z 0-9 - _ .` is percent-encoded.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

fn query_value(s: &str) -> String {
    utf8_percent_encode(s, ENCODED).to_string()
}
