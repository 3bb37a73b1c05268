//! The one place requests go out: octocrab as the HTTP stack (base URL, rustls, timeouts),
//! our own headers, and GitHub's rate limits and faults handled the same way for every call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::BackoffBuilder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::http::{self, HeaderMap, HeaderValue, Method, StatusCode};
use octocrab::Octocrab;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;

use super::error::Cause;
use super::etags::{Answers, Cached};
use super::{GithubError, RetryPolicy};
use crate::clock::Clock;

/// Whether a request may be sent again after a failure that leaves it unknown whether
/// GitHub acted on it (a 5xx, a dropped connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads, edits and other requests whose repetition changes nothing.
    Safe,
    /// Requests that create something: sent again only after a refusal that says GitHub
    /// did nothing (a rate limit); otherwise the caller looks before it posts again.
    Unsafe,
}

/// What GitHub answered a request with: the body, and the headers.
pub(crate) struct GithubAnswer {
    pub body: hyper::body::Bytes,
    /// What pages follow (`Link`), for lists that come in pages.
    pub headers: HeaderMap,
}

/// A request's labels: the operation (`GET /repos/{owner}/{repo}/pulls/{id}`, never an id
/// or a name) and how GitHub answered, each from a bounded set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub outcome: String,
}

/// Whose hourly budget a request spends: GitHub counts the App's own requests (its JWT),
/// each installation's and a token's apart, so one running dry holds back no other
/// (review 15d, D10: one gauge and one wait for all, so an App installed in several
/// organisations showed whichever answered last, and waited for all when one was spent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Budget {
    /// The App's JWT: its installations and tokens looked up, minted.
    App,
    /// An installation's tokens.
    Installation(u64),
    /// A personal access token (or Actions' `GITHUB_TOKEN`) the service runs with.
    Token,
    /// A run's own token, revoked: GitHub counts it against its installation, which the
    /// call does not know; neither waited for nor shown.
    RunToken,
}

impl Budget {
    /// Its label in `agentpods_github_rate_limit_remaining` (an installation's id: as many
    /// as the App has installations, never an attacker's choice).
    fn label(self) -> Option<String> {
        match self {
            Budget::App => Some("app".into()),
            Budget::Installation(id) => Some(format!("installation/{id}")),
            Budget::Token => Some("token".into()),
            Budget::RunToken => None,
        }
    }
}

/// A request's `Authorization` value (made when it is sent, so a JWT is fresh) and the
/// budget it spends.
pub(crate) type Credential<'a> = (
    &'a (dyn Fn() -> Result<HeaderValue, GithubError> + Sync),
    Budget,
);

/// What the client counts, as handles the service's registry shares: every request sent
/// (each attempt), and the requests GitHub says the credentials have left this hour.
#[derive(Debug, Clone, Default)]
pub struct RequestMetrics {
    pub requests: Family<RequestLabels, Counter>,
    /// No series until GitHub has said (`X-RateLimit-Remaining`): 0 would read as spent.
    /// One for each budget (`budget="app"`, `"installation/<id>"`, `"token"`).
    pub rate_limit_remaining: Family<Vec<(String, String)>, Gauge>,
}

/// The path segments kept as they are in an endpoint label; any other becomes `{id}` (all
/// digits) or `{name}`, so no id, name or ref reaches a label.
const LITERAL_SEGMENTS: &[&str] = &[
    "repos",
    "issues",
    "comments",
    "reactions",
    "pulls",
    "check-runs",
    "commits",
    "collaborators",
    "permission",
    "installation",
    "installations",
    "access_tokens",
    "app",
    "hook",
    "deliveries",
    "attempts",
    "git",
    "ref",
    "refs",
    "tags",
    "statuses",
    "orgs",
    "teams",
    "memberships",
    "app-manifests",
    "conversions",
    "user",
    "token",
    "rate_limit",
    "members",
    "contents",
];

/// `method path` as a label: the path without its query, host, owner, repository, ids and
/// names (`POST /repos/{owner}/{repo}/issues/{id}/comments`).
pub fn endpoint(method: &Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    let segments: Vec<&str> = path.split('/').collect();
    let is_repo = segments.get(1) == Some(&"repos");
    let templated: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, seg)| match (i, seg) {
            (0, _) => "",
            (2, _) if is_repo => "{owner}",
            (3, _) if is_repo => "{repo}",
            (_, seg) if LITERAL_SEGMENTS.contains(seg) => seg,
            (_, seg) if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) => "{id}",
            _ => "{name}",
        })
        .collect();
    format!("{method} {}", templated.join("/"))
}

/// How GitHub answered, as a label.
fn outcome(status: StatusCode, headers: &HeaderMap) -> &'static str {
    let limited = header_u64(headers, "retry-after").is_some()
        || header_u64(headers, "x-ratelimit-remaining") == Some(0);
    match status.as_u16() {
        200..=299 => "ok",
        304 => "not_modified",
        403 | 429 if limited => "rate_limited",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

/// The largest answer kept for a conditional read.
const MAX_CACHED_BYTES: usize = 64 * 1024;

/// The most of an answer read (attacker review 15b, A4: a 133 MB answer to a file's read
/// was buffered whole). A file of a repository (the Contents API) is read when it has at
/// most 16 KiB, about 22 KB of base64 in a few hundred bytes of JSON: its answer is read
/// to [`MAX_CACHED_BYTES`], so every one read can be kept. A page of a pull request's
/// files holds up to 100 patches, each of which may be large. Any other answer is one item
/// or a page of at most 100, whose texts GitHub caps at 65,536 characters (26 MB at 4
/// bytes a character, 39 MB were each a control character escaped as `\u0001`).
fn answer_limit(method: &Method, path: &str) -> usize {
    const MIB: usize = 1 << 20;
    let endpoint = endpoint(method, path);
    if endpoint.starts_with("GET /repos/{owner}/{repo}/contents/") {
        MAX_CACHED_BYTES
    } else if endpoint == "GET /repos/{owner}/{repo}/pulls/{id}/{name}"
        && path
            .split('?')
            .next()
            .is_some_and(|p| p.ends_with("/files"))
    {
        128 * MIB
    } else {
        64 * MIB
    }
}

pub(crate) struct Http {
    octo: Octocrab,
    /// The API root asked, for errors (`https://api.github.com`).
    root: String,
    /// The last answer with an ETag of each path read (`GET`, query included).
    cached: Mutex<Answers>,
    /// Requests sent and the rate limit GitHub last reported.
    pub metrics: RequestMetrics,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    /// Each budget whose primary rate limit is used up, until when
    /// (`x-ratelimit-remaining: 0`).
    blocked_until: Mutex<std::collections::HashMap<Budget, SystemTime>>,
    /// The last failure a request was retried after, and when: what a caller that stopped
    /// waiting can name as the cause (new-user review 13g, G9).
    last_failure: Mutex<Option<(std::time::Instant, String)>>,
}

impl Http {
    pub fn new(
        base_url: &str,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Result<Http, GithubError> {
        let octo = Octocrab::builder()
            .base_uri(base_url)
            .map_err(|_| GithubError::Config(format!("not a URL: {base_url:?}")))?
            .set_connect_timeout(Some(policy.connect_timeout))
            .set_read_timeout(Some(policy.read_timeout))
            .build()
            .map_err(|e| GithubError::Client { source: e.into() })?;
        Ok(Http {
            octo,
            root: base_url.trim_end_matches('/').to_owned(),
            clock,
            policy,
            blocked_until: Mutex::new(std::collections::HashMap::new()),
            last_failure: Mutex::new(None),
            metrics: RequestMetrics::default(),
            cached: Mutex::new(Answers::new(super::etags::BUDGET)),
        })
    }

    /// Sends one request, waiting out rate limits and retrying faults within the policy.
    /// `auth` is the whole `Authorization` value; `what` names the call in errors (never
    /// a token: paths and methods only).
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        (auth, budget): Credential<'_>,
        body: Option<&B>,
        replay: Replay,
    ) -> Result<GithubAnswer, GithubError> {
        let what = || call_name(&method, path);
        let mut delays = delays(&self.policy);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.max_attempts;
            self.wait_for_primary_limit(budget, &what).await?;
            // The answer kept from the last read, taken now: a 304 is answered with it.
            let kept = (method == Method::GET)
                .then(|| self.cached.lock().expect("cache lock").get(path))
                .flatten();
            let answer = self
                .exchange(
                    &method,
                    path,
                    Some((auth, budget)),
                    body,
                    kept.as_ref().map(|c| &c.etag),
                )
                .await
                .inspect_err(|_| self.forget(path))?;
            let (status, headers, body) = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    if replay == Replay::Safe && !last {
                        self.note_failure(format!(
                            "{}: {}",
                            what(),
                            crate::text::with_causes(e.as_ref())
                        ));
                        tracing::debug!(call = %what(), attempt, "GitHub request failed; retrying");
                        self.backoff(&mut delays).await;
                        continue;
                    }
                    return Err(GithubError::Transport {
                        root: self.root.clone(),
                        what: what(),
                        source: e,
                    });
                }
            };
            self.note_primary_limit(budget, &headers);
            if status == StatusCode::NOT_MODIFIED
                && let Some(kept) = kept
            {
                return Ok(GithubAnswer {
                    body: kept.body,
                    headers: kept.headers,
                });
            }
            if status.is_success() {
                if method == Method::GET {
                    self.keep(path, &headers, &body);
                }
                return Ok(GithubAnswer { body, headers });
            }
            // Rate limits: GitHub did nothing, so any request may be sent again.
            if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
                if let Some(secs) = header_u64(&headers, "retry-after") {
                    let retry_at = self.now() + Duration::from_secs(secs);
                    if last || Duration::from_secs(secs) > self.policy.max_rate_limit_wait {
                        return Err(GithubError::RateLimited { retry_at });
                    }
                    tracing::info!(call = %what(), secs, "secondary rate limit; waiting");
                    self.clock.sleep(Duration::from_secs(secs)).await;
                    continue;
                }
                if header_u64(&headers, "x-ratelimit-remaining") == Some(0) {
                    let retry_at = self.reset_time(&headers);
                    if last || self.wait_needed(retry_at) > self.policy.max_rate_limit_wait {
                        return Err(GithubError::RateLimited { retry_at });
                    }
                    // The next turn waits until the reset.
                    continue;
                }
            }
            if status.is_server_error() {
                if replay == Replay::Safe && !last {
                    self.note_failure(format!("{}: HTTP {}", what(), status.as_u16()));
                    tracing::debug!(call = %what(), status = status.as_u16(), attempt, "GitHub failed; retrying");
                    self.backoff(&mut delays).await;
                    continue;
                }
                return Err(GithubError::Server {
                    status: status.as_u16(),
                    what: what(),
                });
            }
            return Err(GithubError::from_status(status.as_u16(), what(), &body));
        }
    }

    fn note_failure(&self, failure: String) {
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), failure));
    }

    /// The last failure a request was retried after, if it came after `since`: the call
    /// and its cause (`GET /user: … Connection refused (os error 111)`).
    pub fn failed_since(&self, since: std::time::Instant) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(at, _)| *at >= since)
            .map(|(_, failure)| failure.clone())
    }

    /// Sends one request once, for a probe: no retry, no wait for a rate limit, and no
    /// note of one (a probe's answer leaves the other calls' pacing alone). A rate-limited
    /// answer comes back as `RateLimited`, which says that GitHub answered.
    pub async fn send_once(
        &self,
        method: Method,
        path: &str,
        auth: Credential<'_>,
    ) -> Result<GithubAnswer, GithubError> {
        self.once(method, path, Some(auth)).await
    }

    /// Sends one request once without an `Authorization` header (the few calls GitHub
    /// takes from anyone, such as an App manifest's conversion), with no retry.
    pub async fn send_once_anonymous(
        &self,
        method: Method,
        path: &str,
    ) -> Result<GithubAnswer, GithubError> {
        self.once(method, path, None).await
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        auth: Option<Credential<'_>>,
    ) -> Result<GithubAnswer, GithubError> {
        let what = call_name(&method, path);
        let (status, headers, body) = self
            .exchange(&method, path, auth, None::<&()>, None)
            .await?
            .map_err(|e| GithubError::Transport {
                root: self.root.clone(),
                what: what.clone(),
                source: e,
            })?;
        if status.is_success() {
            return Ok(GithubAnswer { body, headers });
        }
        if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
            if let Some(secs) = header_u64(&headers, "retry-after") {
                return Err(GithubError::RateLimited {
                    retry_at: self.now() + Duration::from_secs(secs),
                });
            }
            if header_u64(&headers, "x-ratelimit-remaining") == Some(0) {
                return Err(GithubError::RateLimited {
                    retry_at: self.reset_time(&headers),
                });
            }
        }
        if status.is_server_error() {
            return Err(GithubError::Server {
                status: status.as_u16(),
                what,
            });
        }
        Err(GithubError::from_status(status.as_u16(), what, &body))
    }

    /// One request and its whole answer. `Err` when the request cannot be built; `Ok(Err)`
    /// when it got no answer (the connection failed), which may be worth another try.
    async fn exchange<B: Serialize + ?Sized>(
        &self,
        method: &Method,
        path: &str,
        auth: Option<Credential<'_>>,
        body: Option<&B>,
        if_none_match: Option<&HeaderValue>,
    ) -> Result<Result<(StatusCode, HeaderMap, hyper::body::Bytes), Cause>, GithubError> {
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(http::header::USER_AGENT, "agentpods");
        let builder = match if_none_match {
            Some(etag) => builder.header(http::header::IF_NONE_MATCH, etag),
            None => builder,
        };
        let budget = auth.and_then(|(_, budget)| budget.label());
        let builder = match auth {
            Some((auth, _)) => {
                let mut value = auth()?;
                value.set_sensitive(true);
                builder.header(http::header::AUTHORIZATION, value)
            }
            None => builder,
        };
        let request = self
            .octo
            .build_request(builder, body)
            .map_err(|e| GithubError::Decode {
                what: call_name(method, path),
                message: format!("encoding the request: {e}"),
            })?;
        let counted = |outcome: &str| {
            self.metrics
                .requests
                .get_or_create(&RequestLabels {
                    endpoint: endpoint(method, path),
                    outcome: outcome.to_owned(),
                })
                .inc();
        };
        let response = match self.octo.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                counted("no_answer");
                return Ok(Err(e.into()));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        counted(outcome(status, &headers));
        if let Some(left) = header_u64(&headers, "x-ratelimit-remaining")
            && let Some(budget) = budget
        {
            self.metrics
                .rate_limit_remaining
                .get_or_create(&vec![("budget".to_owned(), budget)])
                .set(i64::try_from(left).unwrap_or(i64::MAX));
        }
        // Read up to the bound, and no further: a longer answer is dropped unread (its
        // connection with it), one said to be longer before a byte of it.
        let limit = answer_limit(method, path);
        let too_large = || GithubError::TooLarge {
            what: call_name(method, path),
            limit,
        };
        if header_u64(&headers, "content-length").is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        Ok(
            match Limited::new(response.into_body(), limit).collect().await {
                Ok(b) => Ok((status, headers, b.to_bytes())),
                Err(e) if e.is::<LengthLimitError>() => return Err(too_large()),
                Err(e) => Err(e),
            },
        )
    }

    /// Keeps a read's answer, when it has an ETag, to ask for it conditionally next time;
    /// forgets what was kept of the path when it is not kept (its ETag is stale now).
    fn keep(&self, path: &str, headers: &HeaderMap, body: &hyper::body::Bytes) {
        let Some(etag) = headers
            .get(http::header::ETAG)
            .filter(|_| body.len() <= MAX_CACHED_BYTES)
        else {
            self.forget(path);
            return;
        };
        self.cached.lock().expect("cache lock").insert(
            path,
            Cached {
                etag: etag.clone(),
                body: body.clone(),
                headers: headers.clone(),
            },
        );
    }

    /// Drops what was kept of a read's answer: no ETag of it is sent again.
    fn forget(&self, path: &str) {
        self.cached.lock().expect("cache lock").remove(path);
    }

    async fn wait_for_primary_limit(
        &self,
        budget: Budget,
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<(), GithubError> {
        let until = self
            .blocked_until
            .lock()
            .expect("rate limit lock")
            .get(&budget)
            .copied();
        if let Some(until) = until {
            let wait = self.wait_needed(until);
            if wait > self.policy.max_rate_limit_wait {
                return Err(GithubError::RateLimited { retry_at: until });
            }
            if !wait.is_zero() {
                tracing::info!(call = %what(), secs = wait.as_secs(), "rate limit used up; waiting for its reset");
                self.clock.sleep(wait).await;
            }
            let mut blocked = self.blocked_until.lock().expect("rate limit lock");
            if blocked.get(&budget) == Some(&until) {
                blocked.remove(&budget);
            }
        }
        Ok(())
    }

    fn note_primary_limit(&self, budget: Budget, headers: &HeaderMap) {
        if header_u64(headers, "x-ratelimit-remaining") == Some(0) && budget.label().is_some() {
            self.blocked_until
                .lock()
                .expect("rate limit lock")
                .insert(budget, self.reset_time(headers));
        }
    }

    /// The clock's time, as the GitHub side keeps it.
    fn now(&self) -> SystemTime {
        self.clock.now().into()
    }

    fn reset_time(&self, headers: &HeaderMap) -> SystemTime {
        header_u64(headers, "x-ratelimit-reset")
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap_or_else(|| self.now() + Duration::from_secs(60))
    }

    fn wait_needed(&self, until: SystemTime) -> Duration {
        until.duration_since(self.now()).unwrap_or(Duration::ZERO)
    }

    /// Waits the next of `delays`, on the client's clock.
    async fn backoff(&self, delays: &mut backon::ExponentialBackoff) {
        if let Some(wait) = delays.next() {
            self.clock.sleep(wait).await;
        }
    }
}

/// The waits between one call's retries after faults (backon's): exponential, the step
/// doubling from `base_delay` up to `max_delay`, each wait half the step plus up to the
/// other half at random. backon's jitter adds up to the whole delay again, so it is given
/// half of each step.
fn delays(policy: &RetryPolicy) -> backon::ExponentialBackoff {
    let max = policy.max_delay;
    let delays = backon::ExponentialBuilder::default()
        .with_min_delay(policy.base_delay.min(max) / 2)
        .with_max_delay(max / 2)
        .with_jitter()
        .without_max_times();
    match policy.jitter_seed {
        Some(seed) => delays.with_jitter_seed(seed),
        None => delays,
    }
    .build()
}

/// A call as errors and logs name it: the method and the path without its query.
fn call_name(method: &Method, path: &str) -> String {
    format!("{method} {}", path.split('?').next().unwrap_or(path))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each wait is half its step plus up to the other half, the step doubling from the
    /// first to the ceiling, whatever the seed (as the hand-written backoff before backon).
    #[test]
    fn retry_waits_double_up_to_the_ceiling_with_half_of_each_at_random() {
        let within = |wait: Duration, step: Duration| {
            // backon reckons in f32 seconds: a microsecond either way.
            let slack = Duration::from_micros(1);
            wait + slack >= step / 2 && wait <= step + slack
        };
        for seed in 0..500 {
            let policy = RetryPolicy {
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
                jitter_seed: Some(seed),
                ..RetryPolicy::default()
            };
            let mut step = policy.base_delay;
            for (n, wait) in delays(&policy).take(8).enumerate() {
                assert!(
                    within(wait, step),
                    "seed {seed}, wait {n}: {wait:?} for {step:?}"
                );
                step = (step * 2).min(policy.max_delay);
            }
        }
        // A first step above the ceiling is the ceiling.
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let first = delays(&policy).next().expect("a wait");
        assert!(within(first, policy.max_delay), "{first:?}");
    }

    #[test]
    fn an_answer_is_read_up_to_its_endpoint_s_bound() {
        let cases = [
            (
                "/repos/o/r/contents/.github/agentpods.yaml?ref=main",
                MAX_CACHED_BYTES,
            ),
            ("/repos/o/r/pulls/3/files?per_page=100&page=2", 128 << 20),
            ("/repos/o/r/pulls/3", 64 << 20),
            // A repository named `contents` is not the Contents API.
            ("/repos/o/contents/issues/3/comments", 64 << 20),
        ];
        for (path, limit) in cases {
            assert_eq!(answer_limit(&Method::GET, path), limit, "{path}");
        }
    }

    #[test]
    fn an_endpoint_names_no_owner_repository_id_or_ref() {
        let cases = [
            (
                Method::POST,
                "/app/installations/77/access_tokens",
                "POST /app/installations/{id}/access_tokens",
            ),
            (
                Method::GET,
                "/repos/octo/secret-repo/pulls/12",
                "GET /repos/{owner}/{repo}/pulls/{id}",
            ),
            (
                Method::GET,
                "/repos/o/r/collaborators/someone/permission",
                "GET /repos/{owner}/{repo}/collaborators/{name}/permission",
            ),
            (
                Method::GET,
                "/repos/o/r/issues/3/comments?per_page=100&page=2",
                "GET /repos/{owner}/{repo}/issues/{id}/comments",
            ),
            (
                Method::GET,
                "/repos/o/r/git/ref/heads%2Fmain",
                "GET /repos/{owner}/{repo}/git/ref/{name}",
            ),
            (
                Method::DELETE,
                "/installation/token",
                "DELETE /installation/token",
            ),
            (
                Method::GET,
                "https://api.github.com/app/hook/deliveries?cursor=x",
                "GET /app/hook/deliveries",
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(endpoint(&method, path), want, "{path}");
        }
    }
}
