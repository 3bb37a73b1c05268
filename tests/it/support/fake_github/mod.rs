//! A fake GitHub over real HTTP for the real client (octocrab underneath), the way
//! rust-lang/bors tests: a stateful model of the parts agentpods uses, App auth checked for
//! real (RS256 JWTs against the test key in this folder, made once with
//! `openssl genrsa -traditional 2048`), installation tokens that expire by the test's
//! clock, every request checked against GitHub's REST description (`schema`), failure
//! switches and a request log.

mod schema;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentpods::clock::{Clock, ManualClock};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use octocrab::jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};

pub use schema::Operations;

pub const APP_ID: u64 = 4242;
/// The App's slug: GitHub posts its comments as `<slug>[bot]`.
pub const APP_SLUG: &str = "agentpods";
pub const APP_KEY_PEM: &str = include_str!("test-app-key.pem");
const APP_PUBLIC_PEM: &str = include_str!("test-app-key.pub.pem");
/// The plain token the fake accepts.
pub const PAT: &str = "ghp_faketoken0123456789";
/// The App's bot account, `APP_SLUG[bot]`: the author of what the App posts.
pub const BOT_LOGIN: &str = "agentpods[bot]";
pub const PAT_LOGIN: &str = "agentpods-bot";
/// How long an installation token lives.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// What a fault does to a request it catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 502 without acting.
    BadGateway,
    /// Carries the request out, then answers 502: the client cannot tell it happened.
    BadGatewayAfterActing,
    /// 403 with `retry-after: secs` (secondary rate limit).
    SecondaryLimit { retry_after: u64 },
    /// 403 with `x-ratelimit-remaining: 0` and a reset `secs` from now.
    PrimaryLimit { reset_in: u64 },
    /// 401 `Bad credentials`, whatever the credentials.
    BadCredentials,
}

struct Fault {
    /// `METHOD` and a substring of the path; `None` catches any request.
    matcher: Option<(String, String)>,
    kind: FaultKind,
    remaining: u32,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub repo: String,
    pub issue: u64,
    pub body: String,
    pub login: String,
    pub kind: String,
    /// How many times it was edited.
    pub edits: u32,
}

#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub repo: String,
    pub head_sha: String,
    pub name: String,
    pub external_id: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub summary: Option<String>,
    /// Every status it went through, in order.
    pub history: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: u64,
    pub guid: String,
    pub delivered_at: SystemTime,
    pub redelivery: bool,
    pub status_code: u16,
    pub event: String,
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub installation: u64,
    pub expires_at: SystemTime,
    /// `None`: every repository of the installation.
    pub repositories: Option<Vec<String>>,
    pub permissions: BTreeMap<String, String>,
    /// Revoked before it expired: refused with 401 from then on.
    pub revoked: bool,
}

/// What a path of a repository holds on a branch, as the Contents API describes it.
#[derive(Debug, Clone)]
pub enum Content {
    File(Vec<u8>),
    /// A symbolic link whose target is no file of the repository (GitHub follows one that
    /// is, and answers with that file).
    Symlink(String),
    Submodule(String),
    Dir,
    /// Not content: GitHub refuses the read (403), as it does an App without
    /// `contents: read`.
    Refused,
    /// Not GitHub's answer: `bytes` bytes of JSON, streamed, a file (of 10 bytes, it says)
    /// whose content runs on to the end, as a broken or hostile server could send; `sent`
    /// counts the bytes handed to the connection.
    Endless {
        bytes: usize,
        sent: Arc<std::sync::atomic::AtomicUsize>,
    },
}

/// Marks an answer streamed as it is sent: not read whole for an ETag.
#[derive(Clone)]
struct Streamed;

#[derive(Default)]
pub struct Model {
    pub installations: HashMap<String, u64>,
    pub grants: HashMap<String, Grant>,
    /// (repo, login) → role name (`admin`, `write`, `read`, ...).
    pub roles: HashMap<(String, String), String>,
    /// `org/slug` → active members.
    pub teams: HashMap<String, Vec<String>>,
    pub pulls: HashMap<(String, u64), Value>,
    /// The paths each pull request changes (`GET /pulls/{n}/files`).
    pub pull_files: HashMap<(String, u64), Vec<String>>,
    /// The files each pull request renames: new name, old name.
    pub pull_renames: HashMap<(String, u64), Vec<(String, String)>>,
    /// (repo, `heads/main` or `tags/v1`) → (object type, sha): what `git/ref` answers.
    pub refs: HashMap<(String, String), (String, String)>,
    /// (repo, annotated tag object's sha) → the commit it tags.
    pub tag_objects: HashMap<(String, String), String>,
    /// (repo, branch, path) → what the path holds on that branch (`GET /contents/{path}`).
    pub contents: HashMap<(String, String, String), Content>,
    pub comments: Vec<Comment>,
    /// (repo, comment id, content, by).
    pub reactions: Vec<(String, u64, String, String)>,
    pub check_runs: Vec<CheckRun>,
    /// (repo, sha, body).
    pub statuses: Vec<(String, String, Value)>,
    pub deliveries: Vec<Delivery>,
    /// Ids of the delivery attempts asked for again.
    pub redelivered: Vec<u64>,
    /// What our endpoint answers the next redeliveries of a delivery (by guid), in turn;
    /// the last one stays. None scripted: 202.
    pub endpoint_answers: HashMap<String, VecDeque<u16>>,
    /// Apps made from a manifest, by the code not yet exchanged for their credentials
    /// (`POST /app-manifests/{code}/conversions` takes a code once).
    pub manifest_codes: HashMap<String, ManifestApp>,
    next_id: u64,
}

/// An App a browser created from a manifest (GitHub's "Create GitHub App" button).
#[derive(Debug, Clone)]
pub struct ManifestApp {
    pub id: u64,
    pub slug: String,
    /// The manifest the browser posted.
    pub manifest: Value,
    /// Its private key: the fake's App key, so that the App can sign in here.
    pub pem: String,
    pub webhook_secret: String,
}

impl Model {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }
}

/// The clock the fake's tests start with: 2026-01-01T00:00:00Z, moved by hand.
pub fn manual_clock() -> Arc<ManualClock> {
    let start = "2026-01-01T00:00:00Z".parse().expect("a timestamp");
    Arc::new(ManualClock::new(start))
}

struct Shared {
    model: Mutex<Model>,
    faults: Mutex<VecDeque<Fault>>,
    log: Mutex<Vec<String>>,
    /// The requests that carried an `If-None-Match`, as the log shows them (without status).
    conditional: Mutex<Vec<String>>,
    violations: Mutex<Vec<String>>,
    ops: Operations,
    clock: Arc<dyn Clock>,
    key: DecodingKey,
    /// `http://host:port`, for the links to further pages.
    base: String,
}

impl Shared {
    /// The clock's time, as the fake keeps it.
    fn now(&self) -> SystemTime {
        self.clock.now().into()
    }
}

pub struct FakeGithub {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeGithub {
    /// Starts the fake on `127.0.0.1`, on a free port, telling time by `clock`.
    pub async fn start(clock: Arc<dyn Clock>) -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake GitHub");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            model: Mutex::new(Model::default()),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            conditional: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            ops: Operations::load(),
            clock,
            key: DecodingKey::from_rsa_pem(APP_PUBLIC_PEM.as_bytes()).expect("the test key"),
            base: format!("http://{addr}"),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the fake GitHub");
        });
        FakeGithub {
            addr,
            shared,
            server,
        }
    }

    /// A GitHub client as the service's App on this fake, retrying quickly with a fixed
    /// jitter, on `clock`.
    pub fn app_client(
        &self,
        clock: Arc<ManualClock>,
    ) -> Arc<agentpods::github_client::GithubClient> {
        use agentpods::github_client::{
            ClientConfig, Credentials, GithubClient, RetryPolicy, Secret,
        };
        let mut config = ClientConfig::new(Credentials::App {
            app_id: APP_ID,
            private_key_pem: Secret::new(APP_KEY_PEM),
        });
        config.base_url = self.url();
        config.retry = RetryPolicy {
            base_delay: Duration::from_millis(5),
            jitter_seed: Some(7),
            ..RetryPolicy::default()
        };
        Arc::new(GithubClient::new(config, clock).expect("a GitHub client"))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reads or changes the model.
    pub fn with<T>(&self, f: impl FnOnce(&mut Model) -> T) -> T {
        f(&mut self.shared.model.lock().expect("model"))
    }

    pub fn install(&self, repo: &str, installation: u64) {
        self.with(|m| m.installations.insert(repo.to_owned(), installation));
    }

    pub fn set_role(&self, repo: &str, login: &str, role: &str) {
        self.with(|m| {
            m.roles
                .insert((repo.to_owned(), login.to_lowercase()), role.to_owned())
        });
    }

    pub fn add_pull(&self, repo: &str, number: u64, head_sha: &str, head_repo: &str) {
        let pull = json!({
            "number": number, "title": "Fix the README", "body": null, "draft": false,
            "state": "open", "merged": false, "html_url": format!("https://github.com/{repo}/pull/{number}"),
            "user": {"login": "contributor", "id": 7, "type": "User"},
            "author_association": "CONTRIBUTOR", "labels": [{"name": "docs"}],
            "head": {"ref": "fix-readme", "sha": head_sha,
                     "repo": {"full_name": head_repo, "clone_url": format!("https://github.com/{head_repo}.git")}},
            "base": {"ref": "main", "sha": "0".repeat(40),
                     "repo": {"full_name": repo, "clone_url": format!("https://github.com/{repo}.git")}},
        });
        self.with(|m| m.pulls.insert((repo.to_owned(), number), pull));
    }

    /// The paths pull request `number` of `repo` changes, as `GET /pulls/{n}/files` lists them.
    pub fn set_pull_files(&self, repo: &str, number: u64, files: &[&str]) {
        let files = files.iter().map(|f| (*f).to_owned()).collect();
        self.with(|m| m.pull_files.insert((repo.to_owned(), number), files));
    }

    /// Pull request `number` of `repo` renames `from` to `to`.
    pub fn rename_in_pull(&self, repo: &str, number: u64, from: &str, to: &str) {
        self.with(|m| {
            m.pull_renames
                .entry((repo.to_owned(), number))
                .or_default()
                .push((to.to_owned(), from.to_owned()))
        });
    }

    /// Someone else's comment (not ours).
    /// Points branch `branch` of `repo` at `sha` (a push, as GitHub sees it after).
    pub fn set_branch(&self, repo: &str, branch: &str, sha: &str) {
        self.with(|m| {
            m.refs.insert(
                (repo.into(), format!("heads/{branch}")),
                ("commit".into(), sha.into()),
            )
        });
    }

    /// A lightweight tag: the ref names the commit itself.
    /// Puts `content` at `path` on `branch` of `repo` (a commit there, as far as the
    /// Contents API can tell).
    pub fn put_content(&self, repo: &str, branch: &str, path: &str, content: Content) {
        self.with(|m| {
            m.contents
                .insert((repo.into(), branch.into(), path.into()), content)
        });
    }

    pub fn set_tag(&self, repo: &str, tag: &str, sha: &str) {
        self.with(|m| {
            m.refs.insert(
                (repo.into(), format!("tags/{tag}")),
                ("commit".into(), sha.into()),
            )
        });
    }

    /// An annotated tag: the ref names a tag object (`object`), which names the commit.
    pub fn set_annotated_tag(&self, repo: &str, tag: &str, object: &str, commit: &str) {
        self.with(|m| {
            m.refs.insert(
                (repo.into(), format!("tags/{tag}")),
                ("tag".into(), object.into()),
            );
            m.tag_objects
                .insert((repo.into(), object.into()), commit.into());
        });
    }

    pub fn add_comment(&self, repo: &str, issue: u64, login: &str, body: &str) -> u64 {
        self.with(|m| {
            let id = m.id();
            m.comments.push(Comment {
                id,
                repo: repo.to_owned(),
                issue,
                body: body.to_owned(),
                login: login.to_owned(),
                kind: "User".into(),
                edits: 0,
            });
            id
        })
    }

    /// A comment by another bot account (another App), not ours.
    pub fn add_bot_comment(&self, repo: &str, issue: u64, login: &str, body: &str) -> u64 {
        let id = self.add_comment(repo, issue, login, body);
        self.with(|m| {
            if let Some(c) = m.comments.iter_mut().find(|c| c.id == id) {
                c.kind = "Bot".into();
            }
        });
        id
    }

    pub fn add_delivery(&self, guid: &str, event: &str, status_code: u16, age: Duration) -> u64 {
        let now = self.shared.now();
        self.with(|m| {
            let id = m.id();
            m.deliveries.push(Delivery {
                id,
                guid: guid.to_owned(),
                delivered_at: now - age,
                redelivery: false,
                status_code,
                event: event.to_owned(),
            });
            id
        })
    }

    /// Our endpoint answers the redeliveries of `guid` with `statuses`, in turn (the last
    /// one from then on; 0: no answer, as GitHub records a timeout).
    pub fn answer_redeliveries(&self, guid: &str, statuses: &[u16]) {
        self.with(|m| {
            m.endpoint_answers
                .insert(guid.to_owned(), statuses.iter().copied().collect())
        });
    }

    /// The times at which `guid` was delivered again, oldest first.
    pub fn redeliveries_of(&self, guid: &str) -> Vec<SystemTime> {
        self.with(|m| {
            let mut times: Vec<SystemTime> = m
                .deliveries
                .iter()
                .filter(|d| d.guid == guid && d.redelivery)
                .map(|d| d.delivered_at)
                .collect();
            times.sort();
            times
        })
    }

    /// The next `count` requests (matching `METHOD` and a path substring, when given) get
    /// `kind` instead.
    pub fn fail_next(&self, count: u32, matcher: Option<(&str, &str)>, kind: FaultKind) {
        self.shared.faults.lock().expect("faults").push_back(Fault {
            matcher: matcher.map(|(m, p)| (m.to_owned(), p.to_owned())),
            kind,
            remaining: count,
        });
    }

    /// An installation token for `repo`'s installation, as a plain token would be handed to
    /// agentpods (Actions' `GITHUB_TOKEN` is one): what it posts is by the App's bot, and
    /// it has no user for `GET /user`.
    pub fn installation_token(&self, repo: &str) -> String {
        let now = self.shared.now();
        self.with(|m| {
            let installation = *m.installations.get(repo).expect("the App is installed");
            let token = format!("ghs_fake{}", m.id());
            m.grants.insert(
                token.clone(),
                Grant {
                    installation,
                    expires_at: now + TOKEN_LIFETIME,
                    repositories: None,
                    permissions: BTreeMap::new(),
                    revoked: false,
                },
            );
            token
        })
    }

    /// The tokens minted for one repository with `POST /app/installations/{id}/access_tokens`
    /// and a `repositories` list (a run's token; the service's own has none), oldest first,
    /// with what each was granted and whether it was revoked.
    pub fn scoped_tokens(&self) -> Vec<(String, Grant)> {
        let mut tokens: Vec<(String, Grant)> = self.with(|m| {
            m.grants
                .iter()
                .filter(|(_, g)| g.repositories.is_some())
                .map(|(t, g)| (t.clone(), g.clone()))
                .collect()
        });
        // `ghs_fake<n>`, n growing: by number, not by text.
        tokens.sort_by_key(|(t, _)| {
            t.trim_start_matches("ghs_fake")
                .parse::<u64>()
                .unwrap_or(u64::MAX)
        });
        tokens
    }

    /// Revokes every installation token issued so far (as `DELETE /installation/token`, an
    /// uninstall or a suspension would): GitHub answers 401 to each from now on, long
    /// before it expires. Tokens issued later are good.
    pub fn revoke_installation_tokens(&self) {
        self.with(|m| m.grants.values_mut().for_each(|g| g.revoked = true));
    }

    /// The account's owner uninstalls the App and installs it again: the repositories of
    /// `installation` now belong to the installation `new_id`, GitHub answers 404 for the
    /// old id, and the old installation's tokens are revoked (401), as on github.com.
    pub fn reinstall(&self, installation: u64, new_id: u64) {
        self.with(|m| {
            m.installations
                .values_mut()
                .filter(|i| **i == installation)
                .for_each(|i| *i = new_id);
            m.grants
                .values_mut()
                .filter(|g| g.installation == installation)
                .for_each(|g| g.revoked = true);
        });
    }

    /// The account's owner uninstalls the App: GitHub answers 404 for the installation and
    /// for the repositories' installation, and revokes its tokens.
    pub fn uninstall(&self, installation: u64) {
        self.with(|m| {
            m.installations.retain(|_, i| *i != installation);
            m.grants
                .values_mut()
                .filter(|g| g.installation == installation)
                .for_each(|g| g.revoked = true);
        });
    }

    /// What GitHub does when the user submits `manifest` and presses "Create GitHub App":
    /// the App exists (as the fake's own App, id `APP_ID`, key `APP_KEY_PEM`, named and
    /// slugged from the manifest) and the code GitHub puts in the redirect is returned.
    pub fn create_app_from_manifest(&self, manifest: &Value) -> ManifestApp {
        self.with(|m| {
            let n = m.id();
            let name = manifest["name"].as_str().unwrap_or("app");
            let slug: String = name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let app = ManifestApp {
                id: APP_ID,
                slug,
                manifest: manifest.clone(),
                pem: APP_KEY_PEM.to_owned(),
                webhook_secret: format!("whsec-fake-{n:x}-0f3c9a"),
            };
            m.manifest_codes.insert(format!("c0de{n:x}"), app.clone());
            app
        })
    }

    /// The code of an App made by [`FakeGithub::create_app_from_manifest`] and not yet
    /// exchanged.
    pub fn manifest_code(&self, app: &ManifestApp) -> String {
        self.with(|m| {
            m.manifest_codes
                .iter()
                .find(|(_, a)| a.webhook_secret == app.webhook_secret)
                .map(|(code, _)| code.clone())
                .expect("the code is not spent")
        })
    }

    /// Forgets every fault not yet spent (those set to catch requests for ever, too).
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("faults").clear();
    }

    /// `METHOD /path?query -> status`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().expect("log").clone()
    }

    /// The requests sent with an `If-None-Match` (an ETag of an answer kept), in order:
    /// `METHOD /path?query`.
    pub fn conditional_requests(&self) -> Vec<String> {
        self.shared.conditional.lock().expect("log").clone()
    }

    /// The requests as the operations they are, in order: `METHOD /path/{template} ->
    /// status`, the path as GitHub's REST description writes it (no ids, no names), or the
    /// raw path where it names none.
    pub fn operations(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|line| {
                let (request, status) = line.rsplit_once(" -> ").unwrap_or((line, "?"));
                let (method, target) = request.split_once(' ').unwrap_or((request, ""));
                let path = target.split('?').next().unwrap_or(target);
                let op = self
                    .shared
                    .ops
                    .template(method, path)
                    .unwrap_or_else(|| format!("{method} {path}"));
                format!("{op} -> {status}")
            })
            .collect()
    }

    pub fn count(&self, method: &str, path_part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with(&format!("{method} ")) && r.contains(path_part))
            .count()
    }

    /// Requests that departed from GitHub's REST description or hit no route.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().expect("violations").clone()
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.with(|m| m.comments.clone())
    }

    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.with(|m| m.check_runs.clone())
    }

    /// The pull requests of `repo`, lowest number first.
    pub fn pulls(&self, repo: &str) -> Vec<Value> {
        let mut pulls: Vec<(u64, Value)> = self.with(|m| {
            m.pulls
                .iter()
                .filter(|((r, _), _)| r == repo)
                .map(|((_, n), p)| (*n, p.clone()))
                .collect()
        });
        pulls.sort_by_key(|(n, _)| *n);
        pulls.into_iter().map(|(_, p)| p).collect()
    }

    pub fn statuses(&self) -> Vec<(String, String, Value)> {
        self.with(|m| m.statuses.clone())
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

enum Caller {
    App,
    /// An installation token, and what it was granted.
    Installation(String, Grant),
    Pat,
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({"message": message}))
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let if_none_match = parts.headers.get("if-none-match").cloned();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), percent_decode(v))
        })
        .collect();
    let shown = match parts.uri.query() {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    };
    if if_none_match.is_some() {
        shared.conditional.lock().expect("log").push(shown.clone());
    }
    let fault = take_fault(&shared, &method, &path);
    let response = match fault {
        Some(FaultKind::BadGateway) => error(StatusCode::BAD_GATEWAY, "Server Error"),
        Some(FaultKind::SecondaryLimit { retry_after }) => {
            let mut r = error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit.",
            );
            r.headers_mut().insert("retry-after", retry_after.into());
            r
        }
        Some(FaultKind::BadCredentials) => error(StatusCode::UNAUTHORIZED, "Bad credentials"),
        Some(FaultKind::PrimaryLimit { reset_in }) => {
            let reset = shared.now() + Duration::from_secs(reset_in);
            let mut r = error(StatusCode::FORBIDDEN, "API rate limit exceeded.");
            r.headers_mut()
                .insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            r.headers_mut()
                .insert("x-ratelimit-reset", epoch(reset).into());
            r
        }
        Some(FaultKind::BadGatewayAfterActing) | None => {
            let violations = shared.ops.check(&method, &path, &query, &body);
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let response = if !violations.is_empty() {
                shared
                    .violations
                    .lock()
                    .expect("violations")
                    .extend(violations.iter().cloned());
                error(StatusCode::UNPROCESSABLE_ENTITY, &violations.join("; "))
            } else if let ("POST", ["app-manifests", code, "conversions"]) =
                (method.as_str(), segments.as_slice())
            {
                // Taken from anyone: the code is the credential.
                convert_manifest(&shared, code)
            } else {
                let caller = authenticate(&shared, parts.headers.get("authorization"));
                match caller {
                    Ok(caller) => route(&shared, &caller, &method, &path, &query, &body),
                    Err(()) => error(StatusCode::UNAUTHORIZED, "Bad credentials"),
                }
            };
            if fault.is_some() {
                error(StatusCode::BAD_GATEWAY, "Server Error")
            } else {
                response
            }
        }
    };
    // As GitHub does: a read's answer carries an ETag; asked again with it in
    // If-None-Match while unchanged, the answer is 304 with no body.
    let mut response = if method == "GET"
        && response.status() == StatusCode::OK
        && response.extensions().get::<Streamed>().is_none()
    {
        let (mut head, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let etag = format!("\"{:016x}\"", fnv1a(&bytes));
        let etag = HeaderValue::from_str(&etag).expect("an ETag header");
        head.headers.insert("etag", etag.clone());
        if if_none_match.as_ref() == Some(&etag) {
            head.status = StatusCode::NOT_MODIFIED;
            head.headers.remove("content-type");
            head.headers.remove("content-length");
            Response::from_parts(head, axum::body::Body::empty())
        } else {
            Response::from_parts(head, axum::body::Body::from(bytes))
        }
    } else {
        response
    };
    let status = response.status().as_u16();
    let answered = {
        let mut log = shared.log.lock().expect("log");
        log.push(format!("{shown} -> {status}"));
        // GitHub does not count a 304 against the limit.
        log.iter().filter(|l| !l.ends_with(" -> 304")).count()
    };
    // As GitHub says on every answer: the hour's limit and what is left of it (here one
    // window for everyone), unless a fault said otherwise.
    if !response.headers().contains_key("x-ratelimit-remaining") {
        // Never 0 on a success: a test with more requests than that must not wait an hour.
        let left = RATE_LIMIT.saturating_sub(answered as u64).max(1);
        response
            .headers_mut()
            .insert("x-ratelimit-limit", RATE_LIMIT.into());
        response
            .headers_mut()
            .insert("x-ratelimit-remaining", left.into());
    }
    response
}

/// [`Content::Endless`]'s answer: `bytes` bytes, a 64 KiB piece at a time as the
/// connection takes them.
fn endless(bytes: usize, sent: Arc<std::sync::atomic::AtomicUsize>) -> Response {
    const PIECE: usize = 64 * 1024;
    let head = br#"{"type": "file", "size": 10, "encoding": "base64", "content": ""#;
    let pieces = std::iter::once(head.to_vec())
        .chain((0..bytes.saturating_sub(head.len() + 2).div_ceil(PIECE)).map(|_| vec![b'Q'; PIECE]))
        .chain(std::iter::once(br#""}"#.to_vec()))
        .map(move |piece| {
            sent.fetch_add(piece.len(), std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(piece)
        });
    let mut response = Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
        pieces,
    )));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response.extensions_mut().insert(Streamed);
    response
}

/// FNV-1a: a stable hash of an answer, for its ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The requests an hour GitHub gives an installation, as the fake counts them.
pub const RATE_LIMIT: u64 = 5000;

/// `POST /app-manifests/{code}/conversions`: the App's credentials, once per code.
fn convert_manifest(shared: &Shared, code: &str) -> Response {
    let Some(app) = shared
        .model
        .lock()
        .expect("model")
        .manifest_codes
        .remove(code)
    else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let name = app.manifest["name"].as_str().unwrap_or_default();
    json_response(
        StatusCode::CREATED,
        json!({
            "id": app.id, "slug": app.slug, "node_id": "MDExOkludGVncmF0aW9uNDI0Mg==",
            "client_id": "Iv1.fake0123456789ab", "client_secret": "fake-client-secret-0123",
            "webhook_secret": app.webhook_secret, "pem": app.pem,
            "owner": {"login": "agentpods-org", "id": 9, "type": "Organization", "site_admin": false},
            "name": name, "description": app.manifest["description"],
            "external_url": app.manifest["url"],
            "html_url": format!("https://github.com/apps/{}", app.slug),
            "created_at": rfc3339(shared.now()), "updated_at": rfc3339(shared.now()),
            "permissions": app.manifest["default_permissions"],
            "events": app.manifest["default_events"],
        }),
    )
}

fn take_fault(shared: &Shared, method: &str, path: &str) -> Option<FaultKind> {
    let mut faults = shared.faults.lock().expect("faults");
    let i = faults.iter().position(|f| match &f.matcher {
        None => true,
        Some((m, p)) => m == method && path.contains(p.as_str()),
    })?;
    let kind = faults[i].kind;
    faults[i].remaining -= 1;
    if faults[i].remaining == 0 {
        faults.remove(i);
    }
    Some(kind)
}

/// Who is calling; `Err` answers 401.
fn authenticate(shared: &Shared, header: Option<&HeaderValue>) -> Result<Caller, ()> {
    let unauthorized = || ();
    let token = header
        .and_then(|h| h.to_str().ok())
        // GitHub takes `Bearer TOKEN` and the older `token TOKEN` (what gh sends).
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("token "))
        })
        .ok_or_else(unauthorized)?;
    if token.matches('.').count() == 2 {
        #[derive(serde::Deserialize)]
        struct Claims {
            iss: Value,
            iat: u64,
            exp: u64,
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp"]);
        let claims = decode::<Claims>(token, &shared.key, &validation)
            .map_err(|e| {
                eprintln!("fake GitHub: a JWT that does not verify: {e}");
                unauthorized()
            })?
            .claims;
        // GitHub: `iss` is the App id (number or string), a JWT lives at most 10 minutes.
        let iss_ok = claims.iss == json!(APP_ID) || claims.iss == json!(APP_ID.to_string());
        if !iss_ok || claims.exp.saturating_sub(claims.iat) > 600 {
            return Err(());
        }
        return Ok(Caller::App);
    }
    if token == PAT {
        return Ok(Caller::Pat);
    }
    let model = shared.model.lock().expect("model");
    match model.grants.get(token) {
        Some(g) if g.expires_at > shared.now() && !g.revoked => {
            Ok(Caller::Installation(token.to_owned(), g.clone()))
        }
        _ => Err(()),
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        v.to_string(),
    )
        .into_response()
}

fn route(
    shared: &Shared,
    caller: &Caller,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let now = shared.now();
    let mut model = shared.model.lock().expect("model");
    let m = &mut *model;
    let app_only = matches!(
        seg.as_slice(),
        ["app", ..] | ["repos", _, _, "installation"]
    );
    if app_only != matches!(caller, Caller::App) {
        return error(
            StatusCode::UNAUTHORIZED,
            if app_only {
                "A JSON web token could not be decoded"
            } else {
                "This endpoint needs an installation or user token"
            },
        );
    }
    if let (["repos", owner, name, ..], Caller::Installation(_, g)) = (seg.as_slice(), caller) {
        let repo = format!("{owner}/{name}");
        let installed = m.installations.get(&repo) == Some(&g.installation);
        let in_scope = g
            .repositories
            .as_ref()
            .is_none_or(|rs| rs.iter().any(|r| r == name));
        if !installed || !in_scope {
            return error(StatusCode::NOT_FOUND, "Not Found");
        }
    }
    let (login, kind) = match caller {
        Caller::Pat => (PAT_LOGIN, "User"),
        _ => (BOT_LOGIN, "Bot"),
    };
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match (method, seg.as_slice()) {
        // Only an installation token may revoke itself; GitHub refuses it from then on.
        ("DELETE", ["installation", "token"]) => match caller {
            Caller::Installation(token, _) => {
                if let Some(g) = m.grants.get_mut(token) {
                    g.revoked = true;
                }
                StatusCode::NO_CONTENT.into_response()
            }
            _ => error(
                StatusCode::FORBIDDEN,
                "Resource not accessible by this kind of token",
            ),
        },
        ("GET", ["repos", o, r, "installation"]) => {
            match m.installations.get(&format!("{o}/{r}")) {
                Some(id) => json_response(StatusCode::OK, json!({"id": id, "app_id": APP_ID})),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            let Ok(installation) = id.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if !m.installations.values().any(|i| *i == installation) {
                return error(StatusCode::NOT_FOUND, "Not Found");
            }
            let token = format!("ghs_fake{}", m.id());
            let repositories: Option<Vec<String>> = body["repositories"].as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
            let permissions: BTreeMap<String, String> = body["permissions"]
                .as_object()
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_else(|| {
                    [
                        ("contents", "write"),
                        ("checks", "write"),
                        ("issues", "write"),
                        ("pull_requests", "write"),
                        ("statuses", "write"),
                        ("metadata", "read"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
                });
            let expires_at = now + TOKEN_LIFETIME;
            let owners: Vec<String> = m
                .installations
                .iter()
                .filter(|(_, i)| **i == installation)
                .map(|(r, _)| r.clone())
                .collect();
            // GitHub's answer for a name the installation does not have (renamed, deleted,
            // or taken out of it).
            if let Some(names) = &repositories
                && names
                    .iter()
                    .any(|n| !owners.iter().any(|r| r.ends_with(&format!("/{n}"))))
            {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "There is at least one repository that does not exist or is not \
                     accessible to the parent installation.",
                );
            }
            let repos_json: Vec<Value> = match &repositories {
                Some(names) => names
                    .iter()
                    .filter_map(|n| owners.iter().find(|r| r.ends_with(&format!("/{n}"))))
                    .map(|r| json!({"full_name": r}))
                    .collect(),
                None => vec![],
            };
            m.grants.insert(
                token.clone(),
                Grant {
                    installation,
                    expires_at,
                    repositories,
                    permissions: permissions.clone(),
                    revoked: false,
                },
            );
            json_response(
                StatusCode::CREATED,
                json!({"token": token, "expires_at": rfc3339(expires_at),
                       "permissions": permissions, "repository_selection": "selected",
                       "repositories": repos_json}),
            )
        }
        ("GET", ["repos", o, r, "collaborators", user, "permission"]) => {
            match m.roles.get(&(format!("{o}/{r}"), user.to_lowercase())) {
                Some(role) => {
                    let permission = match role.as_str() {
                        "maintain" => "write",
                        "triage" => "read",
                        other => other,
                    };
                    json_response(
                        StatusCode::OK,
                        json!({"permission": permission, "role_name": role,
                               "user": {"login": user, "id": 1, "type": "User"}}),
                    )
                }
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ("GET", ["orgs", org, "teams", slug, "memberships", user]) => {
            let member = m
                .teams
                .get(&format!("{org}/{slug}"))
                .is_some_and(|ms| ms.iter().any(|u| u.eq_ignore_ascii_case(user)));
            if member {
                json_response(StatusCode::OK, json!({"state": "active", "role": "member"}))
            } else {
                error(StatusCode::NOT_FOUND, "Not Found")
            }
        }
        ("GET", ["repos", o, r, "pulls", n, "files"]) => {
            let key = (format!("{o}/{r}"), n.parse().unwrap_or(0));
            if !m.pulls.contains_key(&key) {
                return error(StatusCode::NOT_FOUND, "Not Found");
            }
            let per_page: usize = q("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
            let page: usize = q("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let changed = m.pull_files.get(&key).into_iter().flatten().map(|f| {
                json!({"sha": "0".repeat(40), "filename": f, "status": "modified",
                       "additions": 1, "deletions": 0, "changes": 1,
                       "blob_url": "", "raw_url": "", "contents_url": ""})
            });
            let renamed = m
                .pull_renames
                .get(&key)
                .into_iter()
                .flatten()
                .map(|(to, from)| {
                    json!({"sha": "0".repeat(40), "filename": to, "previous_filename": from,
                       "status": "renamed", "additions": 0, "deletions": 0, "changes": 0,
                       "blob_url": "", "raw_url": "", "contents_url": ""})
                });
            let files: Vec<Value> = changed
                .chain(renamed)
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            json_response(StatusCode::OK, Value::Array(files))
        }
        ("GET", ["repos", o, r, "pulls", n]) => {
            let key = (format!("{o}/{r}"), n.parse().unwrap_or(0));
            match m.pulls.get(&key) {
                Some(p) => json_response(StatusCode::OK, p.clone()),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        // One ref, named in full after `refs/` (`heads/main`, `tags/v1`), as one
        // percent-encoded path segment (the way Octokit sends `{ref}`).
        ("GET", ["repos", o, r, "git", "ref", reference]) => {
            let repo = format!("{o}/{r}");
            let reference = percent_decode(reference);
            match m.refs.get(&(repo.clone(), reference.clone())) {
                Some((kind, sha)) => json_response(
                    StatusCode::OK,
                    json!({"ref": format!("refs/{reference}"), "node_id": "REF_kwDOfake",
                           "url": format!("https://api.github.com/repos/{repo}/git/refs/{reference}"),
                           "object": {"type": kind, "sha": sha,
                                      "url": format!("https://api.github.com/repos/{repo}/git/{kind}s/{sha}")}}),
                ),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        // A file, link, submodule or folder at a ref, as GitHub's default JSON describes
        // it (`application/vnd.github+json`; the shapes of the REST description's
        // `content-file`, `content-symlink`, `content-submodule` and `content-directory`).
        // Without `ref`, the default branch is meant: the fake has none, so nothing is
        // found.
        ("GET", ["repos", o, r, "contents", rest @ ..]) => {
            let repo = format!("{o}/{r}");
            let path = rest
                .iter()
                .map(|s| percent_decode(s))
                .collect::<Vec<_>>()
                .join("/");
            let Some(branch) = q("ref") else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            // GitHub takes a branch's full ref as well as its name.
            let branch = branch.strip_prefix("refs/heads/").unwrap_or(branch);
            let name = path.rsplit('/').next().unwrap_or_default().to_owned();
            let links = |kind: &str| {
                let url =
                    format!("https://api.github.com/repos/{repo}/contents/{path}?ref={branch}");
                json!({"type": kind, "name": name, "path": path, "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
                       "url": url, "git_url": format!("https://api.github.com/repos/{repo}/git/blobs/3d21ec53a331a6f037a91c368710b99387d012c1"),
                       "html_url": format!("https://github.com/{repo}/blob/{branch}/{path}"),
                       "download_url": format!("https://raw.githubusercontent.com/{repo}/{branch}/{path}"),
                       "_links": {"self": url, "git": null, "html": null}})
            };
            match m
                .contents
                .get(&(repo.clone(), branch.to_owned(), path.clone()))
            {
                None => error(StatusCode::NOT_FOUND, "Not Found"),
                Some(Content::File(bytes)) => {
                    let mut v = links("file");
                    // GitHub leaves a file over 1 MB out of this answer.
                    let (encoding, content) = if bytes.len() > 1 << 20 {
                        ("none", String::new())
                    } else {
                        use base64::Engine as _;
                        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                        // As GitHub does: a line break every 60 characters.
                        let lines: Vec<String> = encoded
                            .as_bytes()
                            .chunks(60)
                            .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
                            .collect();
                        ("base64", lines.concat())
                    };
                    v["size"] = bytes.len().into();
                    v["encoding"] = encoding.into();
                    v["content"] = content.into();
                    json_response(StatusCode::OK, v)
                }
                Some(Content::Symlink(target)) => {
                    let mut v = links("symlink");
                    v["size"] = target.len().into();
                    v["target"] = target.clone().into();
                    json_response(StatusCode::OK, v)
                }
                Some(Content::Submodule(url)) => {
                    let mut v = links("submodule");
                    v["size"] = 0.into();
                    v["submodule_git_url"] = url.clone().into();
                    json_response(StatusCode::OK, v)
                }
                Some(Content::Refused) => error(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                ),
                Some(Content::Endless { bytes, sent }) => endless(*bytes, sent.clone()),
                Some(Content::Dir) => {
                    let mut v = links("file");
                    v["path"] = format!("{path}/README.md").into();
                    v["size"] = 0.into();
                    json_response(StatusCode::OK, json!([v]))
                }
            }
        }
        ("GET", ["repos", o, r, "git", "tags", sha]) => {
            let repo = format!("{o}/{r}");
            match m.tag_objects.get(&(repo.clone(), (*sha).to_owned())) {
                Some(commit) => json_response(
                    StatusCode::OK,
                    json!({"node_id": "TAG_kwDOfake", "sha": sha, "tag": "annotated",
                           "message": "a release\n",
                           "url": format!("https://api.github.com/repos/{repo}/git/tags/{sha}"),
                           "tagger": {"name": "Monalisa Octocat", "email": "octocat@github.com",
                                      "date": "2025-01-01T00:00:00Z"},
                           "object": {"type": "commit", "sha": commit,
                                      "url": format!("https://api.github.com/repos/{repo}/git/commits/{commit}")},
                           "verification": {"verified": false, "reason": "unsigned",
                                            "signature": null, "payload": null, "verified_at": null}}),
                ),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ("POST", ["repos", o, r, "pulls"]) => {
            let repo = format!("{o}/{r}");
            let head = body["head"].as_str().unwrap_or_default();
            // `branch` or `owner:branch`; only same-repository heads are modelled.
            let (head_owner, head_ref) = head.split_once(':').unwrap_or((o, head));
            let base = body["base"].as_str().unwrap_or_default();
            if head_owner != *o || head_ref.is_empty() || base.is_empty() {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            }
            let exists = m.pulls.iter().any(|((pr_repo, _), p)| {
                *pr_repo == repo
                    && p["state"] == "open"
                    && p["head"]["ref"] == head_ref
                    && p["base"]["ref"] == base
            });
            if exists {
                return json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed",
                           "errors": [{"resource": "PullRequest", "code": "custom",
                                       "message": format!("A pull request already exists for {o}:{head_ref}.")}]}),
                );
            }
            let number = m.id();
            let pull = json!({
                "number": number, "title": body["title"], "body": body["body"],
                "draft": body["draft"].as_bool().unwrap_or(false),
                "state": "open", "merged": false,
                "html_url": format!("https://github.com/{repo}/pull/{number}"),
                "user": {"login": login, "id": 1, "type": kind},
                "author_association": "NONE", "labels": [],
                "head": {"ref": head_ref, "label": format!("{o}:{head_ref}"), "sha": "0".repeat(40),
                         "repo": {"full_name": repo, "clone_url": format!("https://github.com/{repo}.git")}},
                "base": {"ref": base, "label": format!("{o}:{base}"), "sha": "0".repeat(40),
                         "repo": {"full_name": repo, "clone_url": format!("https://github.com/{repo}.git")}},
            });
            m.pulls.insert((repo, number), pull.clone());
            json_response(StatusCode::CREATED, pull)
        }
        ("GET", ["repos", o, r, "pulls"]) => {
            let repo = format!("{o}/{r}");
            let state = q("state").unwrap_or("open");
            let head = q("head").map(|h| h.split_once(':').unwrap_or((o, h)));
            let mut list: Vec<(u64, Value)> = m
                .pulls
                .iter()
                .filter(|((pr_repo, _), _)| *pr_repo == repo)
                .filter(|(_, p)| state == "all" || p["state"] == state)
                .filter(|(_, p)| {
                    head.is_none_or(|(owner, branch)| {
                        p["head"]["ref"] == branch
                            && p["head"]["repo"]["full_name"]
                                .as_str()
                                .is_some_and(|f| f.split('/').next() == Some(owner))
                    })
                })
                .map(|((_, n), p)| (*n, p.clone()))
                .collect();
            list.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
            json_response(
                StatusCode::OK,
                Value::Array(list.into_iter().map(|(_, p)| p).collect()),
            )
        }
        ("POST", ["repos", o, r, "issues", "comments", id, "reactions"]) => {
            let repo = format!("{o}/{r}");
            let id: u64 = id.parse().unwrap_or(0);
            let content = body["content"].as_str().unwrap_or_default().to_owned();
            let exists = m
                .reactions
                .iter()
                .any(|x| x.0 == repo && x.1 == id && x.2 == content && x.3 == login);
            if !exists {
                m.reactions
                    .push((repo, id, content.clone(), login.to_owned()));
            }
            let status = if exists {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            json_response(status, json!({"id": id, "content": content}))
        }
        ("POST", ["repos", o, r, "check-runs"]) => {
            if matches!(caller, Caller::Pat) {
                return error(
                    StatusCode::FORBIDDEN,
                    "You must authenticate via a GitHub App.",
                );
            }
            let status = body["status"].as_str().unwrap_or("queued").to_owned();
            if status == "completed" && body["conclusion"].is_null() {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "conclusion is required");
            }
            let id = m.id();
            let run = CheckRun {
                id,
                repo: format!("{o}/{r}"),
                head_sha: body["head_sha"].as_str().unwrap_or_default().to_owned(),
                name: body["name"].as_str().unwrap_or_default().to_owned(),
                external_id: body["external_id"].as_str().map(str::to_owned),
                status: status.clone(),
                conclusion: body["conclusion"].as_str().map(str::to_owned),
                details_url: body["details_url"].as_str().map(str::to_owned),
                summary: body["output"]["summary"].as_str().map(str::to_owned),
                history: vec![status],
            };
            let out = check_json(&run);
            m.check_runs.push(run);
            json_response(StatusCode::CREATED, out)
        }
        ("PATCH", ["repos", o, r, "check-runs", id]) => {
            let repo = format!("{o}/{r}");
            let id: u64 = id.parse().unwrap_or(0);
            let Some(run) = m
                .check_runs
                .iter_mut()
                .find(|c| c.id == id && c.repo == repo)
            else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if body["status"] == "completed" && body["conclusion"].is_null() {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "conclusion is required");
            }
            if let Some(s) = body["status"].as_str() {
                run.status = s.to_owned();
            }
            if let Some(c) = body["conclusion"].as_str() {
                run.conclusion = Some(c.to_owned());
                run.status = "completed".into();
            }
            if let Some(u) = body["details_url"].as_str() {
                run.details_url = Some(u.to_owned());
            }
            if let Some(s) = body["output"]["summary"].as_str() {
                run.summary = Some(s.to_owned());
            }
            if run.history.last() != Some(&run.status) {
                run.history.push(run.status.clone());
            }
            json_response(StatusCode::OK, check_json(run))
        }
        ("GET", ["repos", o, r, "commits", sha, "check-runs"]) => {
            let repo = format!("{o}/{r}");
            let runs: Vec<Value> = m
                .check_runs
                .iter()
                .filter(|c| c.repo == repo && c.head_sha == *sha)
                .filter(|c| q("check_name").is_none_or(|n| n == c.name))
                .map(check_json)
                .collect();
            json_response(
                StatusCode::OK,
                json!({"total_count": runs.len(), "check_runs": runs}),
            )
        }
        ("POST", ["repos", o, r, "statuses", sha]) => {
            m.statuses
                .push((format!("{o}/{r}"), (*sha).to_owned(), body.clone()));
            let id = m.id();
            json_response(
                StatusCode::CREATED,
                json!({"id": id, "state": body["state"]}),
            )
        }
        ("POST", ["repos", o, r, "issues", n, "comments"]) => {
            let id = m.id();
            let comment = Comment {
                id,
                repo: format!("{o}/{r}"),
                issue: n.parse().unwrap_or(0),
                body: body["body"].as_str().unwrap_or_default().to_owned(),
                login: login.to_owned(),
                kind: kind.to_owned(),
                edits: 0,
            };
            let out = comment_json(&comment);
            m.comments.push(comment);
            json_response(StatusCode::CREATED, out)
        }
        ("PATCH", ["repos", o, r, "issues", "comments", id]) => {
            let repo = format!("{o}/{r}");
            let id: u64 = id.parse().unwrap_or(0);
            let Some(c) = m.comments.iter_mut().find(|c| c.id == id && c.repo == repo) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if c.login != login {
                return error(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                );
            }
            c.body = body["body"].as_str().unwrap_or_default().to_owned();
            c.edits += 1;
            json_response(StatusCode::OK, comment_json(c))
        }
        ("GET", ["repos", o, r, "issues", n, "comments"]) => {
            let repo = format!("{o}/{r}");
            let issue: u64 = n.parse().unwrap_or(0);
            let per_page: usize = q("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
            let page: usize = q("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let all: Vec<Value> = m
                .comments
                .iter()
                .filter(|c| c.repo == repo && c.issue == issue)
                .map(comment_json)
                .collect();
            let page: Vec<Value> = all
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            json_response(StatusCode::OK, Value::Array(page))
        }
        // Every limit as GitHub counts it; asking costs none of them.
        ("GET", ["rate_limit"]) => {
            let reset = epoch(now + Duration::from_secs(3600));
            let limit =
                |limit: u64| json!({"limit": limit, "used": 0, "remaining": limit, "reset": reset});
            json_response(
                StatusCode::OK,
                json!({"resources": {"core": limit(5000), "search": limit(30),
                                     "graphql": limit(5000), "integration_manifest": limit(5000),
                                     "code_search": limit(10)},
                       "rate": limit(5000)}),
            )
        }
        // The token's user. An installation token has none: GitHub refuses it with 403.
        ("GET", ["user"]) => match caller {
            Caller::Pat => json_response(
                StatusCode::OK,
                json!({"login": PAT_LOGIN, "id": 5, "node_id": "MDQ6VXNlcjU=", "type": "User",
                       "site_admin": false, "name": "agentpods bot",
                       "html_url": format!("https://github.com/{PAT_LOGIN}")}),
            ),
            _ => error(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            ),
        },
        // The App the JWT is signed for.
        ("GET", ["app"]) => json_response(
            StatusCode::OK,
            json!({"id": APP_ID, "slug": APP_SLUG, "client_id": "Iv1.fake0123456789ab",
                   "node_id": "MDExOkludGVncmF0aW9uNDI0Mg==",
                   "owner": {"login": "agentpods-org", "id": 9, "type": "Organization",
                             "site_admin": false},
                   "name": "agentpods", "description": "Runs coding agents on GitHub events",
                   "external_url": "https://agentpods.dev",
                   "html_url": format!("https://github.com/apps/{APP_SLUG}"),
                   "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
                   "permissions": {"checks": "write", "contents": "write", "issues": "write",
                                   "metadata": "read", "pull_requests": "write",
                                   "statuses": "write"},
                   "events": ["issue_comment", "pull_request"],
                   "installations_count": m.installations.values().collect::<std::collections::BTreeSet<_>>().len()}),
        ),
        // Newest first, in pages that a cursor continues, as GitHub pages this list: the
        // `Link` header's `rel="next"` carries the cursor of the next page while there is
        // one (no page numbers, no `last`).
        ("GET", ["app", "hook", "deliveries"]) => {
            let mut list = m.deliveries.clone();
            list.sort_by_key(|d| std::cmp::Reverse((d.delivered_at, d.id)));
            let per_page: usize = q("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
                .clamp(1, 100);
            let start = match q("cursor") {
                None => 0,
                Some(c) => match c
                    .strip_prefix("v1_")
                    .and_then(|id| id.parse::<u64>().ok())
                    .and_then(|id| list.iter().position(|d| d.id == id))
                {
                    Some(i) => i + 1,
                    None => {
                        return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
                    }
                },
            };
            let page: Vec<&Delivery> = list.iter().skip(start).take(per_page).collect();
            let out: Vec<Value> = page
                .iter()
                .map(|d| {
                    json!({"id": d.id, "guid": d.guid, "delivered_at": rfc3339(d.delivered_at),
                           "redelivery": d.redelivery, "duration": 0.1,
                           "status": match d.status_code {
                               0 => "timed out".to_owned(),
                               200..=299 => "OK".to_owned(),
                               code => format!("Invalid HTTP Response: {code}"),
                           },
                           "status_code": d.status_code, "event": d.event, "action": null,
                           "installation_id": null, "repository_id": null})
                })
                .collect();
            let mut response = json_response(StatusCode::OK, Value::Array(out));
            if start + page.len() < list.len()
                && let Some(last) = page.last()
            {
                let link = format!(
                    "<{}/app/hook/deliveries?per_page={per_page}&cursor=v1_{}>; rel=\"next\"",
                    shared.base, last.id
                );
                response
                    .headers_mut()
                    .insert("link", HeaderValue::from_str(&link).expect("a header"));
            }
            response
        }
        ("POST", ["app", "hook", "deliveries", id, "attempts"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(d) = m.deliveries.iter().find(|d| d.id == id).cloned() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            m.redelivered.push(id);
            // GitHub delivers again, as a new attempt with the same guid, and records what
            // our endpoint answers.
            let status_code = match m.endpoint_answers.get_mut(&d.guid) {
                Some(script) if script.len() > 1 => script.pop_front().unwrap_or(202),
                Some(script) => script.front().copied().unwrap_or(202),
                None => 202,
            };
            let new_id = m.id();
            m.deliveries.push(Delivery {
                id: new_id,
                guid: d.guid,
                delivered_at: now,
                redelivery: true,
                status_code,
                event: d.event,
            });
            json_response(StatusCode::ACCEPTED, json!({}))
        }
        _ => {
            shared
                .violations
                .lock()
                .expect("violations")
                .push(format!("{method} {path}: no route in the fake"));
            error(StatusCode::NOT_FOUND, "Not Found")
        }
    }
}

fn check_json(c: &CheckRun) -> Value {
    json!({"id": c.id, "name": c.name, "head_sha": c.head_sha, "external_id": c.external_id,
           "status": c.status, "conclusion": c.conclusion, "details_url": c.details_url})
}

fn comment_json(c: &Comment) -> Value {
    json!({"id": c.id, "body": c.body, "user": {"login": c.login, "id": 1, "type": c.kind},
           "html_url": format!("https://github.com/{}/issues/{}#issuecomment-{}", c.repo, c.issue, c.id)})
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
