//! `agentpods github-app create`: GitHub's App manifest flow in one command.
//!
//! 1. A small HTTP server on loopback serves a page that POSTs the shipped manifest
//!    (`deploy/github-app.json`, with the name, webhook URL and our `/callback` filled in)
//!    to GitHub's "new App" form, with a random `state`.
//! 2. GitHub sends the browser back to `/callback?code=…&state=…`; a wrong or missing state
//!    is refused (the page says why) and the command keeps waiting. The first right one is
//!    exchanged with `POST /app-manifests/{code}/conversions`.
//! 3. The Kubernetes Secret `agentpods-github` (app-id, private-key.pem, webhook-secret)
//!    goes to stdout, ready for `kubectl apply -f -`; stderr says what was created and
//!    where to install it, and never shows the key or the secret.
//!
//! The server answers only requests addressed to it by its loopback address (a `Host`
//! header naming anything else is refused): a web page that rebinds a name of its own to
//! 127.0.0.1 must not read the state and hand us an App of its choosing.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::clock::SystemClock;
use crate::github_client::manifest::{self, ConversionError, CreatedApp};

/// The App manifest agentpods ships (`deploy/github-app.json`).
pub const SHIPPED_MANIFEST: &str = crate::config::token::SHIPPED_APP_MANIFEST;

/// The App's name in the shipped manifest, and what an organization's App is named after
/// (`ORG-agentpods`) when `--name` is not given.
const DEFAULT_APP_NAME: &str = "agentpods";

/// The most characters GitHub takes in an App's name.
const MAX_APP_NAME: usize = 34;

/// The Secret's name and keys, as `deploy/base/deployment.yaml` reads them.
pub const SECRET_NAME: &str = "agentpods-github";

#[derive(Debug, Subcommand)]
pub enum GithubAppCmd {
    /// Create agentpods' GitHub App from its manifest, in the browser, and print the
    /// Kubernetes Secret holding its credentials (for `kubectl apply -f -`).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("owner").required(true).args(["org", "user"])))]
pub struct CreateArgs {
    /// Create the App in this organization.
    #[arg(long)]
    pub org: Option<String>,
    /// Create the App in your personal account.
    #[arg(long)]
    pub user: bool,
    /// The App's name (default: ORG-agentpods with --org, the manifest's `agentpods`,
    /// likely taken, with --user; GitHub's page lets you change it; names are unique on
    /// GitHub).
    #[arg(long)]
    pub name: Option<String>,
    /// Where GitHub sends webhooks, e.g. https://agentpods.example.org/webhook. Without
    /// it the App's webhook is created inactive: set its URL in the App's settings later.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// The loopback address of the local page GitHub sends the browser back to. On a
    /// remote machine, fix the port (127.0.0.1:8765) and tunnel it to the machine your
    /// browser runs on (`ssh -L 8765:127.0.0.1:8765 HOST`): the page answers only as
    /// 127.0.0.1:PORT or localhost:PORT, which the tunnel keeps.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The namespace of the Secret.
    #[arg(long, default_value = "agentpods")]
    pub namespace: String,
    /// GitHub's web address (GitHub Enterprise Server: your server's).
    #[arg(long, default_value = "https://github.com")]
    pub github_url: String,
    /// GitHub's API root (default: https://api.github.com for github.com, else
    /// GITHUB_URL/api/v3).
    #[arg(long, env = "GITHUB_API_URL")]
    pub api_url: Option<String>,
    /// How long to wait for GitHub to send the browser back, written as in services.yaml
    /// (90s, 30m, 1h 30m).
    #[arg(long, default_value = "10m", value_parser = crate::config::formats::parse_duration)]
    pub timeout: Duration,
}

/// Why the Secret may not go to this stdout, if it may not: on a terminal the App's
/// private key (its only copy) would sit in the scrollback, so the command stops before
/// the browser step and asks for a redirect, while nothing has been made on GitHub yet.
fn stdout_refusal(stdout_is_terminal: bool) -> Option<&'static str> {
    stdout_is_terminal.then_some(
        "stdout is a terminal, and the Secret printed there holds the App's private key (its only copy): \
         nothing was created; run the command again with stdout redirected, as in \
         `> agentpods-github.yaml` or `| kubectl apply -f -`",
    )
}

pub fn main(cmd: GithubAppCmd) -> ExitCode {
    let GithubAppCmd::Create(args) = cmd;
    if let Some(refusal) = stdout_refusal(std::io::stdout().is_terminal()) {
        say!("error: {refusal}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            say!(
                "cannot start the async runtime: {}",
                crate::text::io_words(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(create(&args)) {
        Ok(yaml) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(yaml.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                say!("cannot write the Secret to stdout");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            say!("error: {}", crate::text::with_causes(&e));
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "GitHub did not send the browser back within {}; run the command again",
        crate::text::duration(*.0)
    )]
    Timeout(Duration),
    #[error("cannot read random bytes from /dev/urandom")]
    Random(#[source] std::io::Error),
    #[error(
        "the App's credentials could not be fetched\nThe App may exist on GitHub already, without its key in hand: delete it at {apps_page} (or generate a private key and a webhook secret there and create the Secret by hand, docs/setup.md section 3, the manual way), then run this command again"
    )]
    Conversion {
        #[source]
        source: ConversionError,
        apps_page: String,
    },
}

/// What the command was asked for, checked.
#[derive(Debug, Clone)]
struct Plan {
    github_url: String,
    api_url: String,
    /// `{github}/settings/apps/new` or `{github}/organizations/{org}/settings/apps/new`.
    new_app_url: String,
    /// Where the Apps of the account are listed.
    apps_page: String,
    name: Option<String>,
    webhook_url: Option<String>,
    namespace: String,
    /// What the operator should know before the browser opens (a webhook path that needs
    /// a rewrite), printed to stderr first.
    warnings: Vec<String>,
}

fn plan(args: &CreateArgs) -> Result<Plan, CreateError> {
    let usage = |m: String| CreateError::Usage(m);
    let github_url = args.github_url.trim_end_matches('/').to_owned();
    if !is_http_url(&github_url) {
        return Err(usage(not_http_url("--github-url", &github_url)));
    }
    let api_url = match &args.api_url {
        Some(u) if !u.is_empty() => u.trim_end_matches('/').to_owned(),
        _ if github_url == "https://github.com" => "https://api.github.com".to_owned(),
        _ => format!("{github_url}/api/v3"),
    };
    if !is_http_url(&api_url) {
        return Err(usage(not_http_url("--api-url", &api_url)));
    }
    let (new_app_url, apps_page) = match &args.org {
        Some(org) => {
            if !is_github_login(org) {
                return Err(usage(format!(
                    "--org {org:?} is not a GitHub organization name (letters, digits and single hyphens)"
                )));
            }
            (
                format!("{github_url}/organizations/{org}/settings/apps/new"),
                format!("{github_url}/organizations/{org}/settings/apps"),
            )
        }
        None => (
            format!("{github_url}/settings/apps/new"),
            format!("{github_url}/settings/apps"),
        ),
    };
    if let Some(name) = &args.name
        && (name.trim().is_empty() || name.chars().count() > MAX_APP_NAME)
    {
        return Err(usage(format!(
            "--name {name:?}: GitHub App names have 1 to 34 characters"
        )));
    }
    let mut warnings = Vec::new();
    // Left to their defaults, the name and the webhook are said, after any warning
    // (new-user review 13f, N12): the manifest's `agentpods` is likely taken on GitHub,
    // whose page then refuses it, and an App without a webhook URL gets no deliveries.
    let mut notes = Vec::new();
    let name = args.name.clone().or_else(|| {
        let named = args
            .org
            .as_ref()
            .map(|org| format!("{org}-{DEFAULT_APP_NAME}"))
            .filter(|n| n.chars().count() <= MAX_APP_NAME);
        notes.push(match &named {
            Some(named) => format!(
                "note: the App is named {named:?} (--name picks another; App names are unique \
                 on GitHub, and GitHub's page lets you change it)"
            ),
            None => format!(
                "note: the App is named {DEFAULT_APP_NAME:?}, which is likely taken on \
                 GitHub (App names are unique there), and GitHub's page will refuse it: pass \
                 --name YOURS-{DEFAULT_APP_NAME}, or change it on that page"
            ),
        });
        named
    });
    if args.webhook_url.is_none() {
        notes.push(
            "note: no --webhook-url: the App's webhook is created inactive, so GitHub sends \
             no deliveries until you set its URL and activate it in the App's settings; or \
             pass --webhook-url https://HOST/webhook (the address GitHub reaches the service \
             at)"
            .to_owned(),
        );
    }
    if let Some(url) = &args.webhook_url {
        if !is_http_url(url) {
            return Err(usage(not_http_url("--webhook-url", url)));
        }
        if url.starts_with("http://") {
            warnings.push(format!(
                "warning: --webhook-url {url:?} is plain http: every delivery, and the comments \
                 and code it carries, would cross the network unencrypted; expose the service \
                 over https (docs/setup.md)"
            ));
        }
        match webhook_path(url) {
            WebhookPath::Service => {}
            WebhookPath::Root => {
                return Err(usage(format!(
                    "--webhook-url {url:?} has no path: GitHub would POST its deliveries to /, where the service answers 404. The service takes them at /webhook: --webhook-url {}/webhook",
                    url.trim_end_matches('/')
                )));
            }
            WebhookPath::Other(path) => warnings.push(format!(
                "warning: --webhook-url {url:?}: GitHub will POST to {path}, but the service takes deliveries at /webhook; that works only if your Ingress or Gateway rewrites {path} to /webhook (else every delivery is a 404: see Recent Deliveries in the App's settings)"
            )),
        }
    }
    if !is_dns_label(&args.namespace) {
        return Err(usage(format!(
            "--namespace {:?} is not a Kubernetes namespace name (lowercase letters, digits, '-', at most 63)",
            args.namespace
        )));
    }
    if !args.listen.ip().is_loopback() {
        return Err(usage(format!(
            "--listen {}: the page must listen on loopback (127.0.0.1 or [::1]); the code GitHub sends back is worth the App's key",
            args.listen
        )));
    }
    warnings.extend(notes);
    Ok(Plan {
        github_url,
        api_url,
        new_app_url,
        apps_page,
        name,
        webhook_url: args.webhook_url.clone(),
        namespace: args.namespace.clone(),
        warnings,
    })
}

/// Where a webhook URL's path leads, seen from the service (`POST /webhook`).
#[derive(Debug, PartialEq)]
enum WebhookPath {
    /// `/webhook`, or a prefix a proxy may strip before it (`/agentpods/webhook`).
    Service,
    /// No path, or `/`: nothing the service takes deliveries at.
    Root,
    /// Any other path: only a rewrite in front of the service makes it reach `/webhook`.
    Other(String),
}

fn webhook_path(url: &str) -> WebhookPath {
    let path = url
        .parse::<hyper::Uri>()
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    if path.is_empty() || path == "/" {
        WebhookPath::Root
    } else if path.trim_end_matches('/').ends_with("/webhook") {
        WebhookPath::Service
    } else {
        WebhookPath::Other(path)
    }
}

/// Why `url`, given with `flag`, is refused, and the URL to write (new-user review 13e,
/// N8: `--webhook-url example.com/hook` said only that it was not one).
fn not_http_url(flag: &str, url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let written = format!("https://{}", rest.trim_start_matches('/'));
    let write = if is_http_url(&written) {
        format!("write it whole, with its scheme: {flag} {written}")
    } else {
        format!("write it whole, with its scheme and host: {flag} https://HOST/PATH")
    };
    format!("{flag} {url:?} is not an http(s) URL\nwhat to do: {write}")
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.parse::<hyper::Uri>().is_ok_and(|u| u.host().is_some())
}

fn is_github_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

use crate::text::is_dns_label;

/// The shipped manifest with this run's name, webhook and callback.
fn manifest(plan: &Plan, callback: &str) -> Value {
    let mut m: Value = serde_json::from_str(SHIPPED_MANIFEST).expect("deploy/github-app.json");
    if let Some(name) = &plan.name {
        m["name"] = Value::from(name.as_str());
    }
    match &plan.webhook_url {
        Some(url) => {
            m["hook_attributes"] = serde_json::json!({"url": url, "active": true});
        }
        // GitHub wants a URL; one that can never resolve, on a hook that is off, sends
        // nothing anywhere until the operator sets the real one.
        None => {
            m["hook_attributes"] =
                serde_json::json!({"url": "https://agentpods.invalid/webhook", "active": false});
        }
    }
    m["redirect_url"] = Value::from(callback);
    m
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn start_page(action: &str, manifest: &Value) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>agentpods: create the GitHub App</title></head>\n\
         <body onload=\"document.forms[0].submit()\">\n\
         <form action=\"{}\" method=\"post\">\n\
         <input type=\"hidden\" name=\"manifest\" value=\"{}\">\n\
         <p>Sending agentpods' App manifest to GitHub…</p>\n\
         <button type=\"submit\">Create the GitHub App</button>\n\
         </form>\n</body></html>\n",
        html_escape(action),
        html_escape(&manifest.to_string()),
    )
}

fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>agentpods: {t}</title></head>\n\
         <body><h1>{t}</h1><p>{x}</p></body></html>\n",
        t = html_escape(title),
        x = html_escape(text),
    );
    (status, Html(body)).into_response()
}

/// 16 random bytes as hex, from the operating system.
fn random_state() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

struct Local {
    plan: Plan,
    state: String,
    /// The `Host` values this server answers to.
    hosts: Vec<String>,
    form_action: String,
    manifest: Value,
    /// Set once a right callback was taken: the code is exchanged only once.
    taken: AtomicBool,
    done: Mutex<Option<tokio::sync::oneshot::Sender<Result<CreatedApp, ConversionError>>>>,
}

impl Local {
    fn host_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
    }
}

fn wrong_host() -> Response {
    message_page(
        StatusCode::MISDIRECTED_REQUEST,
        "Wrong address",
        "Open this page by the address `agentpods github-app create` printed.",
    )
}

async fn start(State(local): State<Arc<Local>>, headers: HeaderMap) -> Response {
    if !local.host_ok(&headers) {
        return wrong_host();
    }
    let mut r = Html(start_page(&local.form_action, &local.manifest)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("a header"));
    r
}

async fn callback(State(local): State<Arc<Local>>, headers: HeaderMap, uri: Uri) -> Response {
    if !local.host_ok(&headers) {
        return wrong_host();
    }
    // Raw values: the state and a code are plain hex and letters, so an encoded one is
    // simply not a match.
    let query: BTreeMap<&str, &str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let state_ok = query.get("state").is_some_and(|s| same(s, &local.state));
    if !state_ok {
        say!("refused a callback with a wrong or missing state; still waiting");
        return message_page(
            StatusCode::BAD_REQUEST,
            "Wrong state",
            "This answer does not carry the state of this run of `agentpods github-app create` (an old tab, or a page that did not come from it). Nothing was done; the command is still waiting: open the address it printed.",
        );
    }
    let Some(code) = query.get("code").filter(|c| manifest::is_plausible_code(c)) else {
        say!("refused a callback without a usable code; still waiting");
        return message_page(
            StatusCode::BAD_REQUEST,
            "No code",
            "GitHub's answer carries no usable code. Nothing was done; the command is still waiting.",
        );
    };
    if local.taken.swap(true, Ordering::SeqCst) {
        return message_page(
            StatusCode::CONFLICT,
            "Already done",
            "This run of `agentpods github-app create` has already taken GitHub's answer; see the terminal.",
        );
    }
    let result = manifest::convert(&local.plan.api_url, code, Arc::new(SystemClock)).await;
    let page = match &result {
        Ok(app) => message_page(
            StatusCode::OK,
            "GitHub App created",
            &format!(
                "The App {} was created. Go back to the terminal: it printed the Secret holding its credentials. Then install the App: {}",
                app.slug,
                install_url(&local.plan, &app.slug)
            ),
        ),
        Err(e) => message_page(
            StatusCode::BAD_GATEWAY,
            "The App's credentials could not be fetched",
            &format!("{e}. See the terminal for what to do."),
        ),
    };
    if let Some(done) = local.done.lock().expect("done").take() {
        let _ = done.send(result);
    }
    page
}

fn install_url(plan: &Plan, slug: &str) -> String {
    format!("{}/apps/{slug}/installations/new", plan.github_url)
}

async fn create(args: &CreateArgs) -> Result<String, CreateError> {
    let plan = plan(args)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| CreateError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| CreateError::Listen {
            addr: args.listen,
            source,
        })?;
    let state = random_state().map_err(CreateError::Random)?;
    let base = format!("http://{addr}");
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{}", addr.port()));
    }
    let manifest = manifest(&plan, &format!("{base}/callback"));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let local = Arc::new(Local {
        form_action: format!("{}?state={state}", plan.new_app_url),
        plan: plan.clone(),
        state,
        hosts,
        manifest,
        taken: AtomicBool::new(false),
        done: Mutex::new(Some(done_tx)),
    });
    let app = axum::Router::new()
        .route("/", axum::routing::get(start))
        .route("/callback", axum::routing::get(callback))
        .with_state(local);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });
    for warning in &plan.warnings {
        say!("{warning}");
    }
    say!(
        "Open {base}/ in your browser: it sends agentpods' App manifest to GitHub ({}).\n\
         Waiting up to {} for GitHub to send the browser back…",
        plan.new_app_url,
        crate::text::duration(args.timeout)
    );
    let outcome = tokio::time::timeout(args.timeout, done_rx).await;
    // Let the callback's page reach the browser before the server goes.
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let app = match outcome {
        Err(_) | Ok(Err(_)) => return Err(CreateError::Timeout(args.timeout)),
        Ok(Ok(Err(source))) => {
            return Err(CreateError::Conversion {
                source,
                apps_page: plan.apps_page.clone(),
            });
        }
        Ok(Ok(Ok(app))) => app,
    };
    let yaml = secret_yaml(&app, &plan.namespace);
    say!(
        "Created the GitHub App {} (id {}{}).\n\
         Install it on the repositories agents may work on: {}\n\
         The Secret {SECRET_NAME} (namespace {}) is on stdout: pipe it to `kubectl apply -f -`; it is the only copy of the App's private key.",
        app.slug,
        app.id,
        app.owner
            .as_deref()
            .map(|o| format!(", owned by {o}"))
            .unwrap_or_default(),
        install_url(&plan, &app.slug),
        plan.namespace,
    );
    if plan.webhook_url.is_none() {
        say!(
            "The App's webhook is inactive: set its URL (https://…/webhook) and activate it in the App's settings ({}/{}).",
            plan.apps_page,
            app.slug
        );
    }
    if app.webhook_secret.is_none() {
        say!(
            "GitHub gave no webhook secret: set one in the App's settings and add it to the Secret as `webhook-secret`."
        );
    }
    Ok(yaml)
}

/// The Secret `agentpods-github` as YAML, with the keys the Deployment reads.
pub fn secret_yaml(app: &CreatedApp, namespace: &str) -> String {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let mut data = BTreeMap::new();
    data.insert("app-id".to_owned(), app.id.to_string());
    data.insert("private-key.pem".to_owned(), app.pem.expose().to_owned());
    if let Some(secret) = &app.webhook_secret {
        data.insert("webhook-secret".to_owned(), secret.expose().to_owned());
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_owned(),
                "agentpods".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        string_data: Some(data),
        ..Secret::default()
    };
    let body = serde_yaml::to_string(&secret).expect("a Secret serializes");
    format!(
        "# The GitHub App {} (id {}), from `agentpods github-app create`.\n{body}",
        app.slug, app.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github_client::Secret as Hidden;

    fn args(org: Option<&str>) -> CreateArgs {
        CreateArgs {
            org: org.map(str::to_owned),
            user: org.is_none(),
            name: None,
            webhook_url: None,
            listen: "127.0.0.1:0".parse().expect("an address"),
            namespace: "agentpods".into(),
            github_url: "https://github.com".into(),
            api_url: None,
            timeout: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_terminal_is_refused_the_secret_before_anything_is_made() {
        let refusal = stdout_refusal(true).expect("a terminal is refused");
        assert!(refusal.contains("stdout is a terminal"), "{refusal}");
        assert!(refusal.contains("nothing was created"), "{refusal}");
        assert!(refusal.contains("> agentpods-github.yaml"), "{refusal}");
        assert!(refusal.contains("| kubectl apply -f -"), "{refusal}");
        assert_eq!(
            stdout_refusal(false),
            None,
            "a pipe or a file gets the Secret"
        );
    }

    #[test]
    fn the_timeout_is_written_as_durations_in_services_yaml_are() {
        use clap::Parser;
        let parse = |timeout: &str| {
            crate::cli::Cli::try_parse_from([
                "agentpods",
                "github-app",
                "create",
                "--user",
                "--timeout",
                timeout,
            ])
        };
        assert!(parse("1h 30m").is_ok());
        // Before, humantime's "time unit needed, for example 2sec or 2ms".
        let e = parse("2").expect_err("no unit").to_string();
        assert!(
            e.contains("write a number and a unit, like 90s, 30m"),
            "{e}"
        );
    }

    #[test]
    fn the_form_goes_to_the_account_asked_for() {
        let p = plan(&args(Some("my-org"))).expect("a plan");
        assert_eq!(
            p.new_app_url,
            "https://github.com/organizations/my-org/settings/apps/new"
        );
        assert_eq!(p.api_url, "https://api.github.com");
        let p = plan(&args(None)).expect("a plan");
        assert_eq!(p.new_app_url, "https://github.com/settings/apps/new");
        let mut ghes = args(None);
        ghes.github_url = "https://ghe.example.org/".into();
        assert_eq!(
            plan(&ghes).expect("a plan").api_url,
            "https://ghe.example.org/api/v3"
        );
    }

    /// A webhook over plain http is allowed (a test setup may want it) but warned of
    /// (issue 13, N16); https is not.
    #[test]
    fn a_plain_http_webhook_url_is_warned_of() {
        let mut plain = args(None);
        plain.name = Some("agentpods-mine".into());
        plain.webhook_url = Some("http://agentpods.example.org/webhook".into());
        let warnings = plan(&plain).expect("a plan").warnings;
        assert!(
            warnings.len() == 1 && warnings[0].contains("is plain http"),
            "{warnings:?}"
        );
        plain.webhook_url = Some("https://agentpods.example.org/webhook".into());
        assert_eq!(plan(&plain).expect("a plan").warnings, Vec::<String>::new());
    }

    #[test]
    fn what_would_leave_loopback_or_break_a_path_is_refused() {
        for org in ["../x", "a/b", "a?b", "-a", ""] {
            assert!(plan(&args(Some(org))).is_err(), "{org:?}");
        }
        let mut open = args(None);
        open.listen = "0.0.0.0:0".parse().expect("an address");
        assert!(plan(&open).is_err());
        let mut ns = args(None);
        ns.namespace = "Agent_Pods".into();
        assert!(plan(&ns).is_err());
    }

    #[test]
    fn a_webhook_path_is_judged_by_whether_it_reaches_post_webhook() {
        for (url, want) in [
            ("https://a.example.org/webhook", WebhookPath::Service),
            (
                "https://a.example.org/agentpods/webhook/",
                WebhookPath::Service,
            ),
            ("https://a.example.org", WebhookPath::Root),
            ("https://a.example.org/", WebhookPath::Root),
            ("https://a.example.org:8443/?x=1", WebhookPath::Root),
            (
                "https://a.example.org/hooks/github",
                WebhookPath::Other("/hooks/github".into()),
            ),
            (
                "https://a.example.org/webhooks",
                WebhookPath::Other("/webhooks".into()),
            ),
        ] {
            assert_eq!(webhook_path(url), want, "{url}");
        }
    }

    #[test]
    fn the_page_escapes_the_manifest() {
        let m = serde_json::json!({"name": "a\"><script>x</script>&'"});
        let page = start_page("https://github.com/settings/apps/new?state=1&x", &m);
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&quot;&gt;&lt;script&gt;"));
        assert!(page.contains("?state=1&amp;x"));
    }

    #[test]
    fn the_secret_has_the_keys_the_deployment_reads() {
        let app = CreatedApp {
            id: 7,
            slug: "agentpods-x".into(),
            name: "agentpods x".into(),
            html_url: String::new(),
            owner: None,
            pem: Hidden::new(
                "-----BEGIN RSA PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\n",
            ),
            webhook_secret: Some(Hidden::new("s3cret")),
        };
        let yaml = secret_yaml(&app, "ns1");
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("YAML");
        assert_eq!(v["metadata"]["name"], "agentpods-github");
        assert_eq!(v["metadata"]["namespace"], "ns1");
        assert_eq!(v["stringData"]["app-id"], "7");
        assert_eq!(v["stringData"]["webhook-secret"], "s3cret");
        assert_eq!(v["stringData"]["private-key.pem"], app.pem.expose());
    }
}
