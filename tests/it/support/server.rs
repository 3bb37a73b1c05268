//! A webhook service for tests: the example services.yaml copied into a temporary folder
//! (so a test may break it), a dry-run launcher writing manifests there, and signed
//! deliveries sent either in-process (tower `oneshot`) or over real TCP.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentpods::cli::replay::{self, HttpAnswer};
use agentpods::github::webhook::WebhookSecrets;
use agentpods::serve::dry_run::DryRunLauncher;
use agentpods::serve::http::{self, AppState};
use agentpods::serve::reload::ConfigStore;
use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::fixtures::EXAMPLE_CONFIG;

/// The secret deliveries are signed with unless a test says otherwise.
pub const SECRET: &str = "It's a Secret to Everybody";

/// Runs `test`, failing it if it takes longer than `secs` seconds.
pub async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .unwrap_or_else(|_| panic!("the test took longer than {secs} s"))
}

/// Copies a folder, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A temporary folder holding a copy of the example services.yaml and its templates, and a
/// `runs/` folder for manifests.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().expect("tempdir");
        let example = Path::new(EXAMPLE_CONFIG);
        std::fs::copy(example, dir.path().join("services.yaml")).expect("copy services.yaml");
        copy_dir(
            &example.parent().expect("crate folder").join("templates"),
            &dir.path().join("templates"),
        );
        Workdir { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("services.yaml")
    }

    pub fn manifests_dir(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    /// The file names in the manifests folder, sorted (temporary files included, so a test
    /// sees any left behind).
    pub fn manifests(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.manifests_dir()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Rewrites services.yaml, replacing `from` (which must be there) with `to`.
    pub fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.config()).expect("read services.yaml");
        assert!(text.contains(from), "services.yaml has no {from:?}");
        std::fs::write(self.config(), text.replacen(from, to, 1)).expect("write services.yaml");
    }
}

/// A service in this process, on the example config in a [`Workdir`].
pub struct TestService {
    pub work: Workdir,
    pub state: Arc<AppState>,
}

impl TestService {
    /// Accepting deliveries signed with [`SECRET`].
    pub fn start() -> TestService {
        TestService::with_secrets(SECRET)
    }

    /// Accepting deliveries signed with any of a comma-separated list of secrets.
    pub fn with_secrets(secrets: &str) -> TestService {
        TestService::in_workdir(Workdir::new(), secrets)
    }

    /// Accepting deliveries signed with [`SECRET`], asking and answering GitHub through
    /// `client`, on the example config as `edit` leaves it.
    pub fn with_github_on(
        client: agentpods::github_client::GithubClient,
        edit: impl FnOnce(&Workdir),
    ) -> TestService {
        let work = Workdir::new();
        edit(&work);
        let service = TestService::in_workdir(work, SECRET);
        let state = Arc::try_unwrap(service.state).unwrap_or_else(|_| panic!("a fresh state"));
        TestService {
            work: service.work,
            state: Arc::new(state.with_github(Some(Arc::new(client)))),
        }
    }

    /// The same service, its state as `change` leaves it (a clock, an approval store).
    pub fn with_state(self, change: impl FnOnce(AppState) -> AppState) -> TestService {
        let state = Arc::try_unwrap(self.state).unwrap_or_else(|_| panic!("a fresh state"));
        TestService {
            work: self.work,
            state: Arc::new(change(state)),
        }
    }

    fn in_workdir(work: Workdir, secrets: &str) -> TestService {
        let secrets = WebhookSecrets::parse_list(secrets).expect("secrets");
        let config = ConfigStore::load(&work.config()).expect("the example config loads");
        let launcher = DryRunLauncher::new(Some(work.manifests_dir())).expect("launcher");
        let state = Arc::new(AppState::new(secrets, config, Arc::new(launcher)));
        TestService { work, state }
    }

    /// Accepting deliveries signed with [`SECRET`], asking and answering GitHub through
    /// `client`.
    pub fn with_github(client: agentpods::github_client::GithubClient) -> TestService {
        TestService::with_github_on(client, |_| {})
    }

    /// Like [`TestService::with_github`], with `/readyz` asking GitHub every `every` in
    /// the background, as `agentpods serve` does every 10 s.
    pub fn probing_github(
        client: agentpods::github_client::GithubClient,
        every: Duration,
    ) -> TestService {
        let mut service = TestService::with_github(client);
        let state = Arc::try_unwrap(service.state).unwrap_or_else(|_| panic!("a fresh state"));
        service.state = Arc::new(state.probing_github(every));
        service
    }

    /// Sends one request in-process, through the router, as tower's `oneshot`.
    pub async fn oneshot(&self, post: &Post) -> HttpAnswer {
        self.oneshot_on(http::router(self.state.clone()), post)
            .await
    }

    /// The same, through the metrics port's routes (`/metrics`, and `/readyz` with its
    /// reasons), which `--metrics-listen` serves apart from the webhook's.
    pub async fn oneshot_metrics(&self, post: &Post) -> HttpAnswer {
        self.oneshot_on(http::metrics_router(self.state.clone()), post)
            .await
    }

    async fn oneshot_on(&self, router: axum::Router, post: &Post) -> HttpAnswer {
        let mut request = axum::http::Request::builder()
            .method(if post.get { "GET" } else { "POST" })
            .uri(&post.path);
        for (name, value) in &post.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Body::from(post.body.clone()))
            .expect("a request");
        let response = router.oneshot(request).await.expect("the router answers");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes()
            .to_vec();
        HttpAnswer { status, body }
    }

    /// Serves over TCP on 127.0.0.1 (a free port) until the returned server is stopped.
    pub async fn listen(&self) -> TcpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, self.state.clone(), async move {
            let _ = stopped.await;
        }));
        TcpServer {
            address,
            stop: Some(stop),
            task,
        }
    }

    /// Serves the metrics port's routes over TCP on 127.0.0.1 (a free port), as
    /// `--metrics-listen` does.
    pub async fn listen_metrics(&self) -> TcpServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = http::metrics_router(self.state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        TcpServer {
            address,
            stop: Some(stop),
            task,
        }
    }

    /// Sends one request the way the test asks.
    pub async fn send(&self, via: &Via, post: &Post) -> HttpAnswer {
        match via {
            Via::InProcess => self.oneshot(post).await,
            Via::Tcp(address) => post.send_to(*address).await,
        }
    }
}

/// How a request reaches the service.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    InProcess,
    Tcp(SocketAddr),
}

/// A service listening on a port.
pub struct TcpServer {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TcpServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops accepting, waits for requests in flight, and checks the server ended cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("the server task")
            .expect("the server ends cleanly");
    }
}

/// One HTTP request to the service, by default a delivery signed with [`SECRET`].
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub get: bool,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Post {
    /// A delivery as GitHub sends it: JSON, with event, delivery id and signature headers.
    pub fn delivery(event: &str, delivery: &str, body: Vec<u8>) -> Post {
        Post {
            path: "/webhook".into(),
            get: false,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-github-event".into(), event.into()),
                ("x-github-delivery".into(), delivery.into()),
            ],
            body,
        }
        .signed_with(SECRET)
    }

    /// A plain GET.
    pub fn get(path: &str) -> Post {
        Post {
            path: path.into(),
            get: true,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Sets a header, replacing any of that name.
    pub fn with(mut self, name: &str, value: &str) -> Post {
        self = self.without(name);
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Removes a header.
    pub fn without(mut self, name: &str) -> Post {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Signs the body as it is now with `secret`.
    pub fn signed_with(self, secret: &str) -> Post {
        let secrets = WebhookSecrets::parse_list(secret).expect("a secret");
        let signature = secrets.first().sign(&self.body);
        self.with("x-hub-signature-256", &signature)
    }

    /// Replaces the body, keeping the headers (and so the old signature).
    pub fn body(mut self, body: Vec<u8>) -> Post {
        self.body = body;
        self
    }

    /// Sends it to a service listening at `address`.
    pub async fn send_to(&self, address: SocketAddr) -> HttpAnswer {
        let url = format!("http://{address}{}", self.path);
        let headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        let body = (!self.get).then(|| self.body.clone());
        replay::send(&url, &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }
}

/// The body of a reply as JSON.
pub fn json(reply: &HttpAnswer) -> serde_json::Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

/// Polls `check` every 10 ms until it holds (the caller's [`within`] bounds the wait).
pub async fn eventually(mut check: impl FnMut() -> bool) {
    while !check() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
