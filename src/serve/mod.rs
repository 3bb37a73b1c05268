//! `agentpods serve`: the webhook service, and `agentpods replay`, its test client.
//!
//! - [`crate::serve::http`]: the HTTP routes, the limits, and the webhook handler up to
//!   the signature check; it turns the pipeline's answer into the HTTP response.
//! - [`pipeline`]: one signed delivery with the service's state: parse, ask GitHub, decide,
//!   record approvals, launch, tell GitHub.
//! - [`intake`]: one verified delivery → parse, plan, render (pure) → launch → the answer.
//! - [`dry_run`]: `--dry-run`'s launcher: each run's manifests written or logged, nothing run.
//! - [`catch_up`]: asks GitHub to redeliver what failed on our side, with backoff.
//! - [`deliveries`]: repeated deliveries get the first answer and launch nothing new.
//! - [`metrics`]: the Prometheus metrics.
//! - [`log_writer`]: log lines on their way to stderr, written a burst at a time.
//! - [`preauth`]: what a stranger can make the service hold before a signature is checked.
//! - [`replay`]: signs a payload and POSTs it, as GitHub would.
//!
//! What serve shares with `cluster` (the launcher, approvals, the live config, the probes)
//! is in [`crate::ports`], re-exported here under its old paths for the files that still
//! name them so.

pub mod catch_up;
pub(crate) mod deliveries;
pub mod dry_run;
pub(crate) mod facts_and_replies;
pub mod http;
pub mod intake;
pub mod log_writer;
pub mod metrics;
pub(crate) mod pipeline;
pub mod preauth;
pub(crate) mod probe;
pub mod reload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::dry_run::DryRunLauncher;
use self::http::AppState;
use crate::clock::{Clock, SystemClock};
use crate::cluster::approvals::KubeApprovals;
use crate::cluster::controller::{self, ControllerOptions, CountSink};
use crate::cluster::launch::ClusterLauncher;
use crate::cluster::lease::{self, LeaseOptions};
use crate::cluster::report::{AppTokens, GithubReports, RunReports, TokenMinter};
use crate::github::webhook::{SecretsError, WebhookSecrets};
use crate::github_client::{
    ClientConfig, Credentials, GithubClient, api_url_from_env, own_login_from_env,
};
use crate::ports::approvals::ApprovalStore;
use crate::ports::probe::PROBE_EVERY;
use crate::ports::reload::ConfigSource;
use crate::render::GithubUrls;
use metrics::ReloadResult;
use reload::{ConfigStore, ReloadError, Reloaded, run_namespaces};

/// The environment variable holding the webhook secrets, comma-separated.
pub const SECRET_ENV: &str = "GITHUB_WEBHOOK_SECRET";
/// The environment variable holding the log filter (`info`, `agentpods=debug,warn`, ...).
pub const LOG_ENV: &str = "AGENTPODS_LOG";
/// How long requests in flight may take to finish once shutdown has begun.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, with the request's span (delivery id) in each.
    Json,
}

/// The options of `agentpods serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    /// The templates folder read instead of the config's own `templates_dir`
    /// (`--templates-dir`), at startup and at every reload.
    pub templates_dir: Option<PathBuf>,
    pub listen: String,
    pub dry_run: bool,
    pub manifests_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    pub webhook_secret_file: Option<PathBuf>,
    /// Run the controller too (leader-elected); off for intake-only replicas.
    pub controller: bool,
    /// Where `/metrics` is served, when not beside `/webhook`.
    pub metrics_listen: Option<String>,
    /// The namespace of the leader-election Lease (the service's own); when absent, the
    /// client's own (the pod's in a cluster, else the kubeconfig context's).
    pub lease_namespace: Option<String>,
    /// This replica's name (the pod's), for the Lease and Events.
    pub identity: String,
    /// What a stranger can make the service hold before a signature is checked.
    pub limits: preauth::PreauthLimits,
    /// With `dry_run`: the changed files every pull request delivery is taken to have, for
    /// agents with a `paths` filter (`--changed-files`).
    pub changed_files: Option<Vec<String>>,
}

/// Why the service did not start (or stopped badly).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Limits(#[from] preauth::PreauthLimitsError),
    /// kube could not make a client; the cause says why.
    #[error(
        "cannot reach Kubernetes\nwhat to do: set KUBECONFIG or run in a cluster, or start with --dry-run to launch nothing"
    )]
    Kubernetes(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The kubeconfig's problem, and what to do about it, in place of "set KUBECONFIG"
    /// (new-user review 13f, N2: that advice went to users whose KUBECONFIG was set).
    #[error("cannot use the kubeconfig: {}\n{}; or start with --dry-run to launch nothing", .0.problem, .0.what_to_do)]
    Kubeconfig(crate::cluster::kubeconfig::KubeconfigProblem),
    #[error(
        "{}: the config does not load{}",
        .path.display(),
        .what_to_do.as_ref().map(|line| format!("\n{line}")).unwrap_or_default()
    )]
    Config {
        path: PathBuf,
        #[source]
        source: Box<ReloadError>,
        /// When the file itself cannot be read: which flag to pass (new-user review 13g,
        /// G4: `validate` said it, `serve` did not).
        what_to_do: Option<String>,
    },
    #[error(transparent)]
    ManifestsDir(#[from] dry_run::ManifestsDirError),
    #[error(transparent)]
    Github(#[from] crate::github_client::GithubError),
    #[error(
        "cannot listen on {address} ({flag})\n{}",
        listen_what_to_do(flag, address, source)
    )]
    Listen {
        /// The flag that gave the address: `--listen` or `--metrics-listen`.
        flag: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// `18091` or Go's `:18091`: a port without a host, refused before the resolver is
    /// asked (new-user review 13h, F18: its `failed to lookup address information: Name
    /// or service not known` came before what to do).
    #[error(
        "cannot listen on {address} ({flag}): a port without a host\nwhat to do: give \
         {flag} a host too, as in {flag} 127.0.0.1:{port} (0.0.0.0:{port} for every \
         interface)"
    )]
    PortWithoutHost {
        flag: &'static str,
        address: String,
        port: u16,
    },
    #[error(
        "cannot listen on {address} (--metrics-listen): --listen takes that port\nwhat to do: \
         give --metrics-listen a port of its own (--listen takes {port}), as in \
         --metrics-listen 127.0.0.1:9090"
    )]
    MetricsOnListenPort { address: String, port: u16 },
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot handle signals")]
    Signals(#[source] std::io::Error),
    #[error("the server failed")]
    Server(#[source] std::io::Error),
}

/// The config read when no `--config` is given: services.yaml in the working folder.
pub const DEFAULT_CONFIG: &str = "services.yaml";

/// The line saying what to do when the config at `path` (given with `--config`, or the
/// default) cannot be read: there is none in this folder, the path names nothing, or it
/// names a folder (new-user review 13e, N8). Shared by every command that reads it.
pub fn config_what_to_do(path: &Path, e: &crate::config::ConfigError) -> Option<String> {
    let crate::config::ConfigError::Read { path: read, source } = e else {
        return None;
    };
    if Path::new(read) != path {
        return None;
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the working folder".into());
    // A name a letter or two off the file beside it (review 13i, F1).
    if source.kind() == std::io::ErrorKind::NotFound
        && let Some(near) = crate::suggest::near_entry(path, Path::is_file)
    {
        return Some(format!(
            "what to do: did you mean {0}? ({1} is not there; {0} is)",
            near.display(),
            path.display()
        ));
    }
    match source.kind() {
        std::io::ErrorKind::NotFound if path == Path::new(DEFAULT_CONFIG) => Some(format!(
            "what to do: there is no {DEFAULT_CONFIG} in this folder ({here}): give yours \
             with --config FILE, or run this from its folder"
        )),
        std::io::ErrorKind::NotFound if path.is_relative() => Some(format!(
            "what to do: give --config the path of your services.yaml ({} is not there; a \
             relative path is read from the folder this runs in, {here})",
            path.display()
        )),
        std::io::ErrorKind::NotFound => Some(format!(
            "what to do: give --config the path of your services.yaml ({} is not there)",
            path.display()
        )),
        // Only a file that is there (new-user review 13g, G6: `validate templates` was
        // told `templates/services.yaml`).
        std::io::ErrorKind::IsADirectory => {
            let inside = path.join(DEFAULT_CONFIG);
            Some(if inside.is_file() {
                format!(
                    "what to do: name the config file, not its folder: {}",
                    inside.display()
                )
            } else if let Some(below) = config_below(path) {
                // `validate deploy/base`: deploy/base/config/services.yaml (new-user
                // review 13h, F7).
                format!(
                    "what to do: name the config file, not a folder: {} holds no \
                     {DEFAULT_CONFIG}; {} is one",
                    path.display(),
                    below.display()
                )
            } else if Path::new(DEFAULT_CONFIG).is_file() {
                format!(
                    "what to do: name the config file, not a folder: {} holds no \
                     {DEFAULT_CONFIG} (the folder this runs in has one: {DEFAULT_CONFIG})",
                    path.display()
                )
            } else {
                format!(
                    "what to do: name the config file, not a folder ({} holds no \
                     {DEFAULT_CONFIG})",
                    path.display()
                )
            })
        }
        _ => None,
    }
}

/// The first services.yaml one or two folders below `dir` (by name; hidden folders
/// skipped, at most a few hundred folders looked in): the config the user most likely
/// meant when naming `dir`.
fn config_below(dir: &Path) -> Option<std::path::PathBuf> {
    const MAX_FOLDERS: usize = 256;
    let folders = |dir: &Path| -> Vec<std::path::PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut found: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .take(MAX_FOLDERS)
            .collect();
        found.sort();
        found
    };
    let one_below = folders(dir);
    let two_below: Vec<_> = one_below
        .iter()
        .flat_map(|d| folders(d))
        .take(MAX_FOLDERS)
        .collect();
    one_below
        .iter()
        .chain(&two_below)
        .map(|d| d.join(DEFAULT_CONFIG))
        .find(|p| p.is_file())
}

/// `address` unless it is a port without a host (`18091`, Go's `:18091`): said as such,
/// before the resolver is asked.
fn with_host<'a>(flag: &'static str, address: &'a str) -> Result<&'a str, ServeError> {
    match address.strip_prefix(':').unwrap_or(address).parse::<u16>() {
        Ok(port) => Err(ServeError::PortWithoutHost {
            flag,
            address: address.to_owned(),
            port,
        }),
        Err(_) => Ok(address),
    }
}

/// The line saying what to do when `address` (given with `flag`) cannot be listened on
/// (new-user review 13e, N8: `--listen localhost` and a busy port said only why).
fn listen_what_to_do(flag: &str, address: &str, source: &std::io::Error) -> String {
    use std::io::ErrorKind;
    // (A port without a host is said before: `with_host`.)
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (address, None),
    };
    let port = port.filter(|p| p.parse::<u16>().is_ok());
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    match source.kind() {
        _ if port.is_none() => format!(
            "what to do: give {flag} a host and a port, as in {flag} {host}:8080 \
             (0.0.0.0:8080 for every interface)"
        ),
        ErrorKind::AddrInUse => format!(
            "what to do: another process listens on {address} (`ss -ltnp` names it): stop \
             it, or give {flag} another port, as in {flag} {host}:8081"
        ),
        ErrorKind::PermissionDenied => format!(
            "what to do: a port below 1024 needs privileges this process lacks: give {flag} \
             a port of 1024 or above, as in {flag} {host}:8080"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "what to do: this machine has no address {host}: give {flag} one of its own, \
             as in {flag} 127.0.0.1:{}",
            port.unwrap_or("8080")
        ),
        _ => format!(
            "what to do: give {flag} an address of this machine as HOST:PORT, as in {flag} \
             127.0.0.1:8080"
        ),
    }
}

/// Sets up logging to stderr. The filter comes from `AGENTPODS_LOG` (default `info`).
///
/// Lines are written by a thread of their own ([`log_writer`]): a request's line is copied
/// into a buffer, which the thread writes with one `write` a burst, woken once a burst; a
/// request never waits on a slow reader of stderr until 16 MiB wait. No line is dropped.
/// Keep the guard until the end: dropping it writes what is left.
pub fn init_logging(format: LogFormat) -> log_writer::LogWriterGuard {
    let filter = std::env::var(LOG_ENV)
        .ok()
        .and_then(|f| f.parse::<Targets>().ok())
        // kube's client logs every failed request as a bare ERROR (`failed with error
        // client error (Connect)`), every few seconds while the API server is away; the
        // probe of the API server says instead what it tried and what to check, once per
        // change. `AGENTPODS_LOG=info,kube_client=trace,octocrab=trace` brings their lines back.
        .unwrap_or_else(|| {
            Targets::new()
                .with_default(tracing::Level::INFO)
                .with_target(
                    "kube_client::client::builder",
                    tracing::level_filters::LevelFilter::OFF,
                )
                // octocrab's twin of it, for every failed request to GitHub (new-user
                // review 13f, N3): the GitHub probe's WARN says it once, with the cause.
                .with_target("octocrab", tracing::level_filters::LevelFilter::OFF)
        });
    let (writer, guard) = log_writer::LogWriter::new(std::io::stderr(), "agentpods-log");
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    // A second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => registry.with(layer).try_init(),
        LogFormat::Json => registry
            .with(layer.json().with_current_span(true).with_span_list(false))
            .try_init(),
    };
    guard
}

/// The client of the cluster `KUBECONFIG` (or `~/.kube/config`) names, else of the one the
/// pod runs in, and in words which API server that is and where its address came from.
async fn kube_client() -> Result<(kube::Client, String), ServeError> {
    if let Some(missing) = crate::cluster::kubeconfig::missing_here() {
        return Err(ServeError::Kubeconfig(missing));
    }
    // Read once: the client is made from it, and the log line says which it was.
    let kubeconfig = crate::cluster::kubeconfig::read_here().map_err(kube_error)?;
    let origin = match &kubeconfig {
        Some(kubeconfig) => format!(
            "the kubeconfig {}{}",
            std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into()),
            kubeconfig
                .current_context
                .as_ref()
                .map(|c| format!(", context {c}"))
                .unwrap_or_default()
        ),
        None => "the pod's in-cluster config (KUBERNETES_SERVICE_HOST, its service account)".into(),
    };
    let config = crate::cluster::kubeconfig::config_from(kubeconfig, &Default::default())
        .await
        .map_err(kube_error)?;
    let described = format!("{} (from {origin})", config.cluster_url);
    let client = kube::Client::try_from(config).map_err(kube_error)?;
    Ok((client, described))
}

/// A client that cannot be made: the kubeconfig's problem in words when it is one.
fn kube_error(e: impl std::error::Error + Send + Sync + 'static) -> ServeError {
    match crate::cluster::kubeconfig::explain(&e) {
        Some(problem) => ServeError::Kubeconfig(problem),
        None => ServeError::Kubernetes(Box::new(e)),
    }
}

/// Builds the shared state: secrets, config, launcher. Checks everything that can be
/// checked before listening; with a cluster, also returns its client.
pub async fn build_state(
    options: &ServeOptions,
) -> Result<(Arc<AppState>, Option<kube::Client>), ServeError> {
    options.limits.check()?;
    // Bad GitHub credentials are refused before listening.
    let github = github_client()?.map(Arc::new);
    let from_env = std::env::var(SECRET_ENV).ok();
    if let Some(file) = &options.webhook_secret_file
        && from_env.as_deref().is_some_and(|v| !v.trim().is_empty())
    {
        // Two sources, one used: said, or a replay signed with the variable's secret is a
        // 401 nobody can explain (new-user review 13f, N5).
        tracing::warn!(
            "{SECRET_ENV} is set and not used: the webhook secrets are read from {} \
             (--webhook-secret-file); unset {SECRET_ENV} or leave out the flag",
            file.display()
        );
    }
    let secrets = WebhookSecrets::from_file_or_env(
        options.webhook_secret_file.as_deref(),
        from_env.as_deref(),
        |path| std::fs::read_to_string(path),
    )?;
    let config = ConfigStore::load_for(
        &options.config,
        options.templates_dir.as_deref(),
        github_urls_from_env(),
    )
    .map_err(|source| ServeError::Config {
        path: options.config.clone(),
        what_to_do: match &source {
            ReloadError::Config(e) => config_what_to_do(&options.config, e),
            _ => None,
        },
        source: Box::new(source),
    })?;
    if options.dry_run {
        let launcher = DryRunLauncher::new(options.manifests_dir.clone())?;
        return Ok((
            Arc::new(apart(
                options,
                AppState::new(secrets, config, Arc::new(launcher))
                    .with_limits(options.limits.clone())
                    .with_changed_files(options.changed_files.clone())
                    .with_github(github)
                    .probing_github(PROBE_EVERY),
            )),
            None,
        ));
    }
    let (client, api_server) = kube_client().await?;
    let config = config.pin_runs_namespace();
    let namespaces = run_namespaces(config.current().engine());
    // Approvals live in the service's own namespace, beside its Lease: no run can write there.
    let home = options
        .lease_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let approvals = Arc::new(KubeApprovals::new(client.clone(), &home));
    tracing::info!("fork approvals: {}", approvals.describe());
    // A fork's run done again is judged by the same records the intake writes.
    let launcher = ClusterLauncher::new(client.clone(), Arc::new(SystemClock))
        .in_namespaces(namespaces)
        .with_approvals(approvals.clone());
    tracing::info!("Kubernetes API server: {api_server}");
    launcher.spawn_probe(api_server);
    launcher.start_counting();
    Ok((
        Arc::new(apart(
            options,
            AppState::new(secrets, config, Arc::new(launcher))
                .with_approvals(approvals)
                .with_limits(options.limits.clone())
                .with_github(github)
                .probing_github(PROBE_EVERY),
        )),
        Some(client),
    ))
}

/// `state`, with `/metrics` left to its own port when `--metrics-listen` is given.
fn apart(options: &ServeOptions, state: AppState) -> AppState {
    if options.metrics_listen.is_some() {
        state.with_metrics_apart()
    } else {
        state
    }
}

/// `agentpods serve`.
pub fn run(options: ServeOptions) -> ExitCode {
    let _logging = init_logging(options.log_format);
    match start(&options) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in crate::text::with_causes(&e).lines() {
                tracing::error!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn start(options: &ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let result = runtime.block_on(async {
        let (state, client) = build_state(options).await?;
        serve_until_signalled(options, state, client).await
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

/// The GitHub client the environment's credentials make, if there are any (built once,
/// in [`build_state`]; bad credentials stop the service there). `AGENTPODS_GITHUB_LOGIN`
/// names the login it posts as, for a token whose user GitHub will not name.
/// The environment variable naming GitHub's web address when it is not the API root's
/// (GitHub Actions' name for it); unset, it is found from `GITHUB_API_URL`.
pub const SERVER_URL_ENV: &str = "GITHUB_SERVER_URL";

/// The GitHub the service talks to (`GITHUB_API_URL`, `GITHUB_SERVER_URL`), which
/// templates are told of so that the pods talk to it too.
pub fn github_urls_from_env() -> GithubUrls {
    let var = |name: &str| std::env::var(name).ok();
    GithubUrls::new(&api_url_from_env(var), var(SERVER_URL_ENV).as_deref())
}

pub fn github_client() -> Result<Option<GithubClient>, ServeError> {
    let credentials = Credentials::from_env(
        |name| std::env::var(name).ok(),
        |path| std::fs::read_to_string(path),
    )?;
    let Some(credentials) = credentials else {
        return Ok(None);
    };
    let mut config = ClientConfig::new(credentials);
    config.base_url = api_url_from_env(|name| std::env::var(name).ok());
    config.own_login = own_login_from_env(|name| std::env::var(name).ok());
    let client = GithubClient::new(config, Arc::new(SystemClock))?;
    Ok(Some(client))
}

/// Runs the controller while this replica leads, until `stopping` turns true.
fn spawn_controller(
    options: &ServeOptions,
    state: &Arc<AppState>,
    client: kube::Client,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let lease_namespace = options
        .lease_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let lease = LeaseOptions::new(&lease_namespace, &options.identity);
    let config: ConfigSource = state.config.clone();
    let namespaces = run_namespaces(state.config.current().engine());
    let leading = state.metrics.leader_gauge();
    let metrics = state.clone();
    let controller_options = ControllerOptions {
        namespaces,
        instance: Some(options.identity.clone()),
        counts: Some(CountSink(Arc::new(move |counts| {
            metrics.metrics.runs_by_phase(&counts.phases);
            metrics.metrics.runs_left_for_newer(counts.left_for_newer);
        }))),
        ..ControllerOptions::default()
    };
    // The client the intake uses: one token cache, one read of the App key.
    let github = state.github.clone();
    if github.is_none() {
        // Nobody's permission can be asked either (review 13i, F15: every command was then
        // refused, and start-up did not say so).
        let live = state.config.current();
        let auth = &live.engine().config().github.authorization;
        let listed =
            auth.allowed_users.len() + auth.allowed_in.iter().map(|a| a.users.len()).sum::<usize>();
        let listed = match listed {
            0 => "this config lists none, so no agent starts".to_string(),
            n => format!("this config lists {n}"),
        };
        tracing::warn!(
            "no GitHub credentials (GITHUB_APP_ID or GITHUB_TOKEN): runs are not reported to \
             GitHub, and nobody's permission on a repository can be asked, so only the users \
             in `allowed_users` (and `allowed_in`, in their repositories) may start agents \
             ({listed})"
        );
    }
    let reports = github
        .clone()
        .map(|github| Arc::new(GithubReports::new(github, config.clone())) as Arc<dyn RunReports>);
    // Per-run repository tokens and catch-up need the App; a plain token has neither.
    let app = github.filter(|g| g.is_app());
    let tokens = app
        .clone()
        .map(|github| Arc::new(AppTokens(github)) as Arc<dyn TokenMinter>);
    let work = {
        let (client, clock) = (client.clone(), clock.clone());
        move |mut stop: tokio::sync::watch::Receiver<bool>| {
            let ctx = controller::Context::with_github(
                client.clone(),
                config.clone(),
                clock.clone(),
                controller_options.clone(),
                reports.clone(),
                tokens.clone(),
            );
            let catch_up = app
                .clone()
                .map(|app| tokio::spawn(catch_up::run(app, clock.clone(), stop.clone())));
            async move {
                controller::run(ctx, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
                if let Some(task) = catch_up {
                    task.abort();
                }
            }
        }
    };
    tokio::spawn(async move {
        lease::lead(client, lease, clock, leading, work, async move {
            let _ = stopping.wait_for(|s| *s).await;
        })
        .await;
    })
}

async fn serve_until_signalled(
    options: &ServeOptions,
    state: Arc<AppState>,
    client: Option<kube::Client>,
) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = tokio::net::TcpListener::bind(with_host("--listen", &options.listen)?)
        .await
        .map_err(|source| ServeError::Listen {
            flag: "--listen",
            address: options.listen.clone(),
            source,
        })?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let hangup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
    let address = listener.local_addr().map_err(ServeError::Server)?;
    let metrics_listener = match &options.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(with_host("--metrics-listen", at)?)
                .await
                .map_err(|source| {
                    // Its own --listen holds the port, not another process (new-user review 13f,
                    // N14).
                    let port = at.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
                    if source.kind() == std::io::ErrorKind::AddrInUse
                        && port == Some(address.port())
                    {
                        ServeError::MetricsOnListenPort {
                            address: at.clone(),
                            port: address.port(),
                        }
                    } else {
                        ServeError::Listen {
                            flag: "--metrics-listen",
                            address: at.clone(),
                            source,
                        }
                    }
                })?,
        ),
        None => None,
    };
    tracing::info!(
        config = %state.config.path().display(),
        secrets = state.secrets.len(),
        launcher = %state.launcher.describe(),
        "listening on http://{address}"
    );
    tokio::spawn(watch_config(
        state.clone(),
        reload::POLL_INTERVAL,
        Some(hangup),
    ));
    let (signalled, mut draining) = tokio::sync::watch::channel(false);
    let controller = match client {
        Some(client) if options.controller => {
            Some(spawn_controller(options, &state, client, draining.clone()))
        }
        _ => None,
    };
    if let Some(metrics) = metrics_listener {
        let at = metrics.local_addr().map_err(ServeError::Server)?;
        tracing::info!("metrics on http://{at}/metrics");
        let router = http::metrics_router(state.clone());
        let mut stopped = draining.clone();
        tokio::spawn(async move {
            let serving = axum::serve(metrics, router).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|d| *d).await;
            });
            if let Err(e) = serving.await {
                tracing::warn!("the metrics port stopped: {}", crate::text::with_causes(&e));
            }
        });
    }
    let shutdown = async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!("{name} received");
        signalled.send_replace(true);
    };
    let server = http::serve(listener, state, shutdown);
    let result = tokio::select! {
        result = server => result.map_err(ServeError::Server),
        _ = async {
            let _ = draining.wait_for(|d| *d).await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!("requests still in flight after {} s; exiting anyway", DRAIN_TIMEOUT.as_secs());
            Ok(())
        }
    };
    // The controller finishes its reconciles in flight and gives up the Lease.
    if let Some(controller) = controller
        && tokio::time::timeout(DRAIN_TIMEOUT, controller)
            .await
            .is_err()
    {
        tracing::warn!(
            "the controller did not stop within {} s",
            DRAIN_TIMEOUT.as_secs()
        );
    }
    result
}

/// Reloads services.yaml now, off the async workers, and logs and counts the result. An
/// invalid config is refused with each of its errors logged; the old one stays in force.
pub async fn reload_now(state: &Arc<AppState>, why: &str) -> Result<Reloaded, ReloadError> {
    let worker = state.clone();
    let result = tokio::task::spawn_blocking(move || worker.config.reload())
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    match &result {
        Ok(Reloaded::Applied { generation }) => {
            state.metrics.reload(ReloadResult::applied);
            tracing::info!(generation, "services.yaml reloaded ({why})");
            if !state.launcher.runs_for_real() {
                // A dry run is a developer's loop: edit the config, replay the payload. The
                // replay is answered by the new config, not as a repeat of the old answer.
                state.deliveries.forget_answers();
            }
        }
        Err(e) => {
            state.metrics.reload(ReloadResult::rejected);
            let in_force = state.config.current().generation;
            tracing::error!(
                "services.yaml not reloaded ({why}): the config in force (generation \
                 {in_force}) stays; its problems follow"
            );
            for line in e.lines() {
                tracing::error!("{line}");
            }
        }
    }
    result
}

/// Reloads services.yaml whenever its files change (checked every `interval`) and on each
/// SIGHUP. Runs until the runtime stops.
pub async fn watch_config(
    state: Arc<AppState>,
    interval: Duration,
    mut hangup: Option<tokio::signal::unix::Signal>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    loop {
        let why = tokio::select! {
            _ = tick.tick() => {
                let probe = state.clone();
                let changed = tokio::task::spawn_blocking(move || probe.config.changed_on_disk())
                    .await
                    .unwrap_or(false);
                if !changed {
                    continue;
                }
                "the files changed"
            }
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => "SIGHUP",
        };
        let _ = reload_now(&state, why).await;
    }
}
