//! Who we are to GitHub: the reachability probe, our own login, the App's installations
//! and their tokens (cached, renewed, dropped when refused), the scoped token of one run
//! and its revocation.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use hyper::http::Method;

use super::http::{Budget, Replay};
use super::{
    Auth, CachedToken, GithubClient, GithubError, OWN_LOGIN_ENV, Secret, bearer, decode,
    parse_time, wire,
};
use crate::github::event::RepoFullName;
use crate::github::permission::Access;

/// An installation token is renewed this long before GitHub says it expires.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A token for one agent run: one repository, the permissions asked for.
#[derive(Debug, Clone)]
pub struct ScopedToken {
    pub token: Secret,
    pub expires_at: SystemTime,
    pub repositories: Vec<String>,
    pub permissions: BTreeMap<String, String>,
}

/// The permissions an agent's token gets, e.g. `contents: write`: made only from what an
/// agent declares, so every level is one GitHub knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPermissions(BTreeMap<String, Access>);

impl TokenPermissions {
    /// The permissions an agent declares (`github_token` in services.yaml).
    pub fn of(declared: &BTreeMap<String, Access>) -> TokenPermissions {
        TokenPermissions(declared.clone())
    }
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

impl GithubClient {
    /// Whether GitHub answers and takes our credentials, asked with one cheap request:
    /// `GET /rate_limit` with a token (it costs no rate limit), `GET /app` with the App's
    /// JWT. Sent once, never retried or waited out (a probe asks again soon); a
    /// rate-limited answer is an answer, so it counts as `Ok`.
    pub async fn ping(&self) -> Result<(), GithubError> {
        let sent = match &self.auth {
            Auth::Token(t) => {
                self.http
                    .send_once(
                        Method::GET,
                        "/rate_limit",
                        (&|| bearer(t.expose()), Budget::Token),
                    )
                    .await
            }
            Auth::App(_) => {
                let sent = self
                    .http
                    .send_once(Method::GET, "/app", (&|| self.jwt(), Budget::App))
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
            .send(
                Method::GET,
                "/user",
                (&auth, Budget::Token),
                None::<&()>,
                Replay::Safe,
            )
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
        // Deliveries at once for a repository not seen yet: the first looks it up, the
        // others find it cached (review 15c, F10).
        let _turn = app.lookups.take(repo.as_str().to_owned()).await;
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
    pub(super) async fn installation_token(
        &self,
        repo: &RepoFullName,
    ) -> Result<Secret, GithubError> {
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
    pub(super) async fn forget_installation_token(
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
            .send_once(
                Method::DELETE,
                "/installation/token",
                (&|| bearer(token.expose()), Budget::RunToken),
            )
            .await
        {
            Ok(_) | Err(GithubError::Unauthorized { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
