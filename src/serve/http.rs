//! The HTTP surface of `agentpods serve` (axum): `POST /webhook`, `GET /healthz`,
//! `GET /readyz`, `GET /metrics`.
//!
//! A body is let in by the pre-authentication budget ([`super::preauth`]) and
//! reserves its buffer there as it arrives; past a bound (bytes in a lane, a peer's share,
//! open connections) the request is answered 503 with `Retry-After`, and a body not sent
//! within the body timeout 408.
//!
//! Handlers are thin: routes, limits, and answers. The webhook handler reads the body
//! (capped), checks its signature and delivery id ([`crate::github::webhook`]), answers a
//! repeated delivery as before ([`super::deliveries`]), and hands the rest of the delivery
//! to [`super::pipeline::deliver`] (parse, ask GitHub, plan, launch, tell), whose
//! [`Answer`] it turns into the HTTP response. Every log line of a request carries its
//! delivery id (the `delivery` span).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use super::deliveries::{Begin, DEFAULT_CAPACITY, DeliveryLog};
use super::intake::Answer;
use super::metrics::{self, EventLabel, Metrics, Outcome, PreauthRefusal, SignatureFailure};
use super::pipeline;
pub use super::preauth::BODY_TIMEOUT;
use super::preauth::{
    Activity, FIRST_BUFFER, PreAuth, PreauthLimits, Refused, Reservation, show_size,
};
use super::probe;
use super::reload::ConfigStore;
use crate::clock::{Clock, SystemClock};
use crate::github::webhook::{
    self, DELIVERY_HEADER, DeliveryId, EVENT_HEADER, MAX_BODY_BYTES, SHA1_SIGNATURE_HEADER,
    SIGNATURE_HEADER, WebhookError, WebhookSecrets,
};
use crate::github_client::GithubClient;
use crate::ports::approvals::{ApprovalStore, MemoryApprovals};
use crate::ports::launcher::Launcher;
use crate::ports::probe::Readiness;

/// Everything the handlers share.
pub struct AppState {
    pub secrets: WebhookSecrets,
    /// The config in force, shared with the controller and the reports (as their
    /// [`ConfigSource`](crate::ports::reload::ConfigSource)).
    pub config: Arc<ConfigStore>,
    pub launcher: Arc<dyn Launcher>,
    pub deliveries: DeliveryLog<Answer>,
    pub metrics: Metrics,
    /// Set once shutdown has begun: `/readyz` then answers 503.
    pub stopping: AtomicBool,
    /// Asks GitHub what the payload does not say and answers commands, when credentials
    /// are set (else the payload alone decides and replies are only logged).
    pub github: Option<Arc<GithubClient>>,
    /// Whether GitHub answered the last background check and took our credentials, when
    /// that is checked (see [`AppState::probing_github`]). Said by `/readyz`, never its
    /// status: a replica that cannot reach GitHub still takes deliveries.
    pub github_ready: Option<Readiness>,
    /// What is held before signatures are checked, and the bounds on it.
    pub preauth: PreAuth,
    /// `/metrics` is served on a port of its own ([`metrics_router`]), not beside `/webhook`.
    pub metrics_apart: bool,
    /// Where fork approvals and the pull request heads seen are recorded: only the service
    /// writes there (in memory unless [`AppState::with_approvals`] says otherwise).
    pub approvals: Arc<dyn ApprovalStore>,
    /// When heads are seen and approvals given.
    pub clock: Arc<dyn Clock>,
    /// Who was told lately, on which issue, that a command was refused.
    pub refusals: super::facts_and_replies::RefusalsTold,
    /// The changed files `serve --dry-run --changed-files` gives every pull request
    /// delivery, for agents with a `paths` filter (none known otherwise).
    pub changed_files: Option<Vec<String>>,
}

impl AppState {
    pub fn new(
        secrets: WebhookSecrets,
        config: ConfigStore,
        launcher: Arc<dyn Launcher>,
    ) -> AppState {
        let metrics = Metrics::new();
        AppState {
            secrets,
            config: Arc::new(config),
            launcher,
            deliveries: DeliveryLog::new(DEFAULT_CAPACITY),
            preauth: PreAuth::new(PreauthLimits::default(), &metrics),
            metrics,
            stopping: AtomicBool::new(false),
            github: None,
            github_ready: None,
            metrics_apart: false,
            approvals: Arc::new(MemoryApprovals::new()),
            clock: Arc::new(SystemClock),
            refusals: super::facts_and_replies::RefusalsTold::default(),
            changed_files: None,
        }
    }

    /// What of this state the delivery pipeline reads.
    pub(crate) fn pipeline(&self) -> pipeline::PipelineState<'_> {
        pipeline::PipelineState {
            config: &self.config,
            launcher: &self.launcher,
            github: &self.github,
            approvals: &self.approvals,
            clock: &self.clock,
            refusals: &self.refusals,
            metrics: &self.metrics,
            changed_files: &self.changed_files,
        }
    }

    /// The same, with `/metrics` left off the webhook's routes: it is served on a port of
    /// its own ([`metrics_router`]).
    pub fn with_metrics_apart(mut self) -> AppState {
        self.metrics_apart = true;
        self
    }

    /// The same, recording approvals in `store`.
    pub fn with_approvals(mut self, store: Arc<dyn ApprovalStore>) -> AppState {
        self.approvals = store;
        self
    }

    /// The same, taking `files` as the changed files of every pull request delivery (a
    /// dry run's stand-in for asking GitHub).
    pub fn with_changed_files(mut self, files: Option<Vec<String>>) -> AppState {
        self.changed_files = files;
        self
    }

    /// The same, telling the time by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> AppState {
        self.clock = clock;
        self
    }

    /// The same, with these pre-authentication bounds (see [`super::preauth`]).
    pub fn with_limits(mut self, limits: PreauthLimits) -> AppState {
        self.preauth = PreAuth::new(limits, &self.metrics);
        self
    }

    /// The same, asking and answering GitHub through `client`.
    pub fn with_github(mut self, client: Option<Arc<GithubClient>>) -> AppState {
        if let Some(client) = &client {
            self.metrics.count_github(client.metrics());
        }
        self.github = client;
        self
    }

    /// The same, asking GitHub now and every `every` in the background (a task of the
    /// current runtime, which ends with this state) whether it answers and takes our
    /// credentials: the metric `agentpods_github_up`, a log line when that changes, and a
    /// word in `/readyz`'s text. Without a GitHub client, unchanged.
    pub fn probing_github(mut self, every: Duration) -> AppState {
        let up = self.metrics.github_up_gauge();
        self.github_ready = self
            .github
            .as_ref()
            .map(|client| probe::github(client.clone(), every, up));
        self
    }
}

/// The service's routes: `/webhook`, `/healthz`, `/readyz`, and `/metrics` unless it is
/// served apart.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let routes = if state.metrics_apart {
        routes.route("/metrics", get(metrics_elsewhere))
    } else {
        routes.route("/metrics", get(metrics_text))
    };
    routes.with_state(state)
}

/// `/metrics` on the webhook port when it is served apart: a 404 that says where to look
/// (new-user review 13h, F17; it was a bare 404). Not the address itself: this port faces
/// the internet, and where the service counts is nobody's business there.
async fn metrics_elsewhere() -> Response {
    (
        StatusCode::NOT_FOUND,
        "metrics are served on the --metrics-listen address, not on the webhook port\n",
    )
        .into_response()
}

/// `/metrics`, and `/readyz` with its reasons, for a port of its own (`--metrics-listen`):
/// the webhook port faces the internet, and what the service counts, or why it is not
/// ready, is nobody's business there.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/readyz", get(readyz_detailed))
        .with_state(state)
}

/// How long a client may take to send a request's headers. A webhook sender writes them at
/// once; a connection that dribbles them (slowloris) is closed rather than held open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting, lets the
/// requests in flight finish, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, shutdown, HEADER_READ_TIMEOUT).await
}

/// [`serve`] with a given header read timeout. HTTP/1.1 only, as GitHub sends. axum's own
/// `serve` sets no timer, so hyper would wait for headers forever: this loop is axum's,
/// with hyper's header read timeout switched on.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_read_timeout: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let app = state.clone();
    let router = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    // A request's head is read into this buffer before anything else: bound it, since
    // hyper's default (about 400 KB) times the connection cap is a lot of memory held for
    // strangers. GitHub's headers take about 2 KB. The bound is also the most hyper reads
    // at once, so the size of the buffer each connection keeps and of the pieces a body
    // arrives in (second outside review, A8).
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let refusing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out at once rather than waiting on Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let Some(slot) = app.preauth.connect(peer.ip()) else {
            app.metrics.refused(PreauthRefusal::connections);
            refuse_connection(tcp, &refusing, app.preauth.limits().body_timeout);
            continue;
        };
        let activity = slot.activity();
        // How far each request has come tells which connection to close to make room at
        // the cap: a request reaches the router once its head is read; the webhook
        // handler tells of its body (`read_body`).
        let watching = activity.clone();
        let routes = router
            .clone()
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let watching = watching.clone();
                    async move {
                        watching.head_read();
                        let mut response = next.run(request).await;
                        watching.answered();
                        // A refused request ends its connection: GitHub never needs it
                        // again, and a stranger pipelining refused requests gets one
                        // answer per connection, not a queue of them to leave unread.
                        if response.status().is_client_error() {
                            response
                                .headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        }
                        response
                    }
                },
            ))
            .layer(Extension(Peer {
                ip: peer.ip(),
                activity: activity.clone(),
            }));
        let service = TowerToHyperService::new(routes);
        let io = Watched {
            tcp,
            activity: activity.clone(),
            write_timeout: app.preauth.limits().write_timeout,
            blocked: None,
        };
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                // Closed to make room for another at the connection cap: dropping the
                // connection drops its request, and the reservation its body held.
                () = activity.evicted() => {
                    tracing::debug!(peer = %peer.ip(), "closed a connection that made the least progress, to make room");
                }
            }
            drop(slot);
        });
    }
    app.stopping.store(true, Ordering::SeqCst);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// At most this much of a request's head (request line and headers) is buffered, and read
/// at once. 16 KiB: eight times GitHub's heads; 64 KiB cost some 9 MB more resident with
/// 200 connections sending 1 MB bodies (benches/load/preauth_memory.py).
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The TCP peer of a request's connection, and what its connection tells the bounds.
#[derive(Debug, Clone)]
struct Peer {
    ip: IpAddr,
    activity: Activity,
}

/// A connection's socket, telling the bounds how many bytes it has sent (at the cap, of
/// the requests within the grace, the one that has sent the fewest is closed first) and
/// when an answer waits for its peer to take it (such a connection is closed first). An
/// answer not taken within `write_timeout` fails the write: the connection is closed.
struct Watched {
    tcp: tokio::net::TcpStream,
    activity: Activity,
    write_timeout: Duration,
    /// When a write that would block gives up, while one does.
    blocked: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Watched {
    /// Tells the bounds what became of a write, and fails one blocked past the timeout.
    fn watch_write<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        polled: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::task::Poll;
        if polled.is_ready() {
            if self.blocked.take().is_some() {
                self.activity.wrote();
            }
            return polled;
        }
        self.activity.write_blocked();
        let timeout = self.write_timeout;
        let deadline = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer did not take its answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf);
        let read = match polled {
            std::task::Poll::Ready(Ok(())) => buf.filled().len().saturating_sub(before),
            _ => 0,
        };
        self.activity.read(read);
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.watch_write(cx, polled)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.watch_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.tcp).poll_flush(cx);
        self.watch_write(cx, polled)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// At most this many refused connections are being answered at once; past it, a refused
/// connection is closed without a word.
const MAX_REFUSING: usize = 64;

/// Answers a connection over the cap with a 503 of its own, without reading the request
/// (so it costs no parsing and at most a second), then closes it.
fn refuse_connection(
    tcp: tokio::net::TcpStream,
    refusing: &Arc<std::sync::atomic::AtomicUsize>,
    retry_after: Duration,
) {
    if refusing.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING {
        refusing.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let refusing = refusing.clone();
    tokio::spawn(async move {
        let body = r#"{"error":"too many open connections; try again later"}"#;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            retry_after.as_secs().max(1),
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let mut rest = answer.as_bytes();
            while !rest.is_empty() {
                if tcp.writable().await.is_err() {
                    return;
                }
                match tcp.try_write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
            // Say we are done, then read (and drop) what the client sends until it closes,
            // so that closing does not reset the connection before the answer is read.
            let Ok(tcp) = tcp.into_std().and_then(|std| {
                std.shutdown(std::net::Shutdown::Write)?;
                tokio::net::TcpStream::from_std(std)
            }) else {
                return;
            };
            let mut sink = [0u8; 4096];
            loop {
                if tcp.readable().await.is_err() {
                    return;
                }
                match tcp.try_read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        })
        .await;
        refusing.fetch_sub(1, Ordering::SeqCst);
    });
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz` on the webhook port, which faces the internet: 200 `ready` while runs can be
/// recorded, 503 `not ready` when not (or once shutdown has begun), and nothing more. Why
/// (a refused services.yaml with its file, line and key; GitHub's state) is the operator's
/// business, not a stranger's: the metrics port's `/readyz` says it ([`readyz_detailed`]),
/// and so does the log.
async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let (status, _) = readiness(&app);
    let word = if status == StatusCode::OK {
        "ready\n"
    } else {
        "not ready\n"
    };
    (status, word).into_response()
}

/// `/readyz` on the metrics port: the same status, with the reasons.
async fn readyz_detailed(State(app): State<Arc<AppState>>) -> Response {
    readiness(&app).into_response()
}

/// 200 while runs can be recorded, 503 with the reason when not: the replica can take
/// deliveries. GitHub's state is said, but never makes a replica unready: a GitHub outage
/// must not take every replica out of the Service, and so lose the deliveries GitHub sends
/// once it is back; what needs GitHub's answer waits for it (503 to that delivery alone).
/// Reads the background checks' last verdicts, so it never waits on the network.
fn readiness(app: &AppState) -> (StatusCode, String) {
    if app.stopping.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    let github = match app.github_ready.as_ref().map(Readiness::verdict) {
        Some(Err(why)) => format!("; GitHub: {why}"),
        _ => String::new(),
    };
    // A refused reload leaves the replica able to take deliveries (with the config in
    // force), so it is said, not made unready.
    let refused = match app.config.refused() {
        Some(why) => format!("; the last change to services.yaml was refused: {why}"),
        None => String::new(),
    };
    match app.launcher.ready() {
        Ok(()) => (
            StatusCode::OK,
            format!(
                "ready: config generation {}{github}{refused}\n",
                app.config.current().generation
            ),
        ),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}{github}\n"),
        ),
    }
}

async fn metrics_text(State(app): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.metrics.encode(),
    )
        .into_response()
}

fn header_bytes<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers.get(name).map(HeaderValue::as_bytes)
}

async fn webhook(
    State(app): State<Arc<AppState>>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let event = EventLabel::of(header_bytes(&headers, EVENT_HEADER));
    // The span shows the id only if it is well-formed: a sender cannot write into the log.
    let shown = match DeliveryId::parse(header_bytes(&headers, DELIVERY_HEADER)) {
        Ok(id) => id.to_string(),
        Err(WebhookError::MissingDelivery) => "-".into(),
        Err(_) => "(invalid)".into(),
    };
    let span = tracing::info_span!("delivery", id = %shown);
    let (peer, activity) = match peer {
        Some(Extension(Peer { ip, activity })) => (Some(ip), Some(activity)),
        None => (None, None),
    };
    let answer = match admit(&app, peer, &headers) {
        Ok(reservation) => {
            handle(&app, &headers, body, reservation, peer, activity.as_ref())
                .instrument(span.clone())
                .await
        }
        Err(answer) => answer,
    };
    let took = started.elapsed();
    app.metrics.delivery(event, answer.outcome, took);
    // One line closes every request, with why nothing was launched when that is the case.
    let micros = took.as_micros() as u64;
    span.in_scope(|| {
        if answer.notes.is_empty() {
            tracing::info!(status = answer.status, outcome = ?answer.outcome, micros, "answered");
        } else {
            tracing::info!(status = answer.status, outcome = ?answer.outcome, micros, notes = %answer.notes, "answered");
        }
    });
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body.to_string(),
    )
        .into_response();
    if answer.outcome == Outcome::busy {
        let after = app.preauth.limits().body_timeout.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after));
    }
    response
}

/// Reserves room for the body before any of it is read, or the answer that refuses it: 413
/// when it could never be held, 503 (with `Retry-After`) when a bound is reached now.
fn admit(app: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<Reservation, Answer> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(rejected(app, &WebhookError::TooLarge));
    }
    let refusal = match app.preauth.reserve(peer, declared) {
        Ok(reservation) => return Ok(reservation),
        Err(Refused::TooLarge { largest }) => {
            let message = format!(
                "the body is larger than this service reads before checking a signature ({})",
                show_size(largest)
            );
            tracing::warn!(status = 413, "refused: {message}");
            return Err(Answer {
                status: 413,
                body: json!({ "error": message }).to_string().into(),
                outcome: Outcome::too_large,
                notes: "".into(),
            });
        }
        Err(Refused::Busy(refusal)) => refusal,
    };
    Err(busy(app, refusal, peer, "refused before reading"))
}

/// The 503 (with `Retry-After`, added by the handler) for a body over a bound.
fn busy(app: &AppState, refusal: PreauthRefusal, peer: Option<IpAddr>, when: &str) -> Answer {
    app.metrics.refused(refusal);
    let why = match refusal {
        PreauthRefusal::ordinary_lane | PreauthRefusal::large_lane => {
            "too many bodies are being received; try again later"
        }
        PreauthRefusal::peer => "this address is sending too many bodies at once; try again later",
        PreauthRefusal::connections => "too many open connections; try again later",
    };
    tracing::warn!(status = 503, ?refusal, ?peer, "{when}: {why}");
    Answer {
        status: 503,
        body: json!({ "error": why }).to_string().into(),
        outcome: Outcome::busy,
        notes: "".into(),
    }
}

/// Why a body was not read whole.
enum Unread {
    Refused(WebhookError),
    /// Its next bytes did not fit a bound (503).
    Busy(PreauthRefusal),
    /// Not sent within the body timeout (408).
    TooSlow,
}

/// Reads the body, at most `reservation`'s limit of it, within `timeout`, as the parts it
/// arrives in (hyper's own buffers: no copy, and nothing allocated ahead of the bytes).
/// Bytes are reserved as they come, [`FIRST_BUFFER`] at a time: what is held is what has
/// been sent, never what was only declared. Its connection's `activity` is told how much
/// has come, and when all of it has.
async fn read_body(
    body: Body,
    reservation: &mut Reservation,
    timeout: Duration,
    activity: Option<&Activity>,
) -> Result<Vec<Bytes>, Unread> {
    let limit = usize::try_from(reservation.limit()).unwrap_or(MAX_BODY_BYTES);
    let step = usize::try_from(FIRST_BUFFER).unwrap_or(usize::MAX);
    let mut limited = Limited::new(body, limit);
    let collect = async {
        let mut parts: Vec<Bytes> = Vec::new();
        let mut len = 0usize;
        while let Some(frame) = limited.frame().await {
            let frame = frame.map_err(|e| {
                Unread::Refused(if e.is::<LengthLimitError>() {
                    WebhookError::TooLarge
                } else {
                    WebhookError::BodyUnreadable("the connection failed")
                })
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            len += data.len();
            if let Some(activity) = activity {
                activity.body_arrived(len as u64);
            }
            if len as u64 > reservation.bytes() {
                let rounded = len.div_ceil(step).saturating_mul(step);
                reservation.grow(rounded as u64).map_err(Unread::Busy)?;
            }
            if !data.is_empty() {
                parts.push(data);
            }
        }
        if let Some(activity) = activity {
            activity.body_read();
        }
        Ok::<_, Unread>(parts)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(parts)) => Ok(parts),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Unread::TooSlow),
    }
}

/// The parts of a body as one buffer (no copy when it came in one part).
fn joined(mut parts: Vec<Bytes>) -> Bytes {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut body = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
    for part in parts {
        body.extend_from_slice(&part);
    }
    Bytes::from(body)
}

fn rejected(app: &AppState, err: &WebhookError) -> Answer {
    let reason = match err {
        WebhookError::MissingSignature => Some(SignatureFailure::missing),
        WebhookError::Sha1Only => Some(SignatureFailure::sha1_only),
        WebhookError::MalformedSignature => Some(SignatureFailure::malformed),
        WebhookError::BadSignature => Some(SignatureFailure::mismatch),
        _ => None,
    };
    if let Some(reason) = reason {
        app.metrics.signature_failure(reason);
    }
    Answer::rejected(err)
}

/// The whole of one delivery, but for the HTTP response; `reservation` is given back once
/// the signature is checked (and on every way out before that).
async fn handle(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
    mut reservation: Reservation,
    peer: Option<IpAddr>,
    activity: Option<&Activity>,
) -> Answer {
    let timeout = app.preauth.limits().body_timeout;
    let body = match read_body(body, &mut reservation, timeout, activity).await {
        Ok(b) => b,
        Err(Unread::Refused(e)) => return rejected(app, &e),
        Err(Unread::Busy(refusal)) => return busy(app, refusal, peer, "refused while reading"),
        Err(Unread::TooSlow) => {
            let message = format!(
                "the body did not arrive within {} s; nothing was done",
                timeout.as_secs_f64()
            );
            tracing::warn!(status = 408, ?peer, "refused: {message}");
            return Answer {
                status: 408,
                body: json!({ "error": message }).to_string().into(),
                outcome: Outcome::bad_request,
                notes: "".into(),
            };
        }
    };
    let verified = webhook::verify_signature_of_parts(
        &app.secrets,
        header_bytes(headers, SIGNATURE_HEADER),
        headers.contains_key(SHA1_SIGNATURE_HEADER),
        &body,
    );
    // Signed by GitHub or refused: either way no longer a stranger's bytes.
    drop(reservation);
    let mac = match verified {
        Ok(mac) => mac,
        Err(e) => return rejected(app, &e),
    };
    if activity.is_some_and(Activity::is_evicted) {
        // Closed to make room while the signature was being checked: nobody hears an
        // answer, and nothing is done (GitHub sees the failure; catch-up redelivers).
        return busy(
            app,
            PreauthRefusal::connections,
            peer,
            "closed to make room",
        );
    }
    let (event_name, delivery) = match webhook::event_name(header_bytes(headers, EVENT_HEADER))
        .and_then(|e| {
            Ok((
                e,
                DeliveryId::parse(header_bytes(headers, DELIVERY_HEADER))?,
            ))
        }) {
        Ok(v) => v,
        Err(e) => return rejected(app, &e),
    };
    // The signature covers the body, not the id: a repeat is known by its body, whatever
    // id it comes under (GitHub's redelivery keeps both; a replay changes the id). Its
    // runs are named after its SHA-256, computed only if it launches something.
    let body = joined(body);
    let delivery = delivery.with_signed_body_hashed_when_asked(body.clone());
    // A repeat is answered as before, and leaves its connection a stranger's: anyone who
    // captured a delivery can send it again, on as many connections as it likes. Known
    // here by the MAC the signature check computed, which is as good as the SHA-256 within
    // this process (see `SignedBodyMac`).
    let ticket = match app.deliveries.begin(&mac.key()).await {
        Begin::Answered(answer) => return answer.repeated(&delivery),
        Begin::First(ticket) => ticket,
    };
    // GitHub's connection from now on: closed to make room for another only if it stops
    // reading its answers.
    if let Some(activity) = activity {
        activity.signed();
    }
    let content_type = header_bytes(headers, header::CONTENT_TYPE.as_str());
    let answer =
        pipeline::deliver(&app.pipeline(), content_type, &body, event_name, &delivery).await;
    let record = answer.is_final();
    ticket.finish(answer.clone(), record);
    answer
}
