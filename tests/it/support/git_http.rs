//! Git repositories served over smart HTTP on loopback, as a forge serves them: `git
//! http-backend` (the CGI program git ships) behind a small axum server. Like GitHub with a
//! private repository, it answers 401 to a request without the token as HTTP basic auth
//! (`x-access-token:TOKEN`). Each request's method and path is kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// One request the server answered: method, path and query, and whether it carried the
/// token.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorized: bool,
}

struct Shared {
    root: PathBuf,
    basic: String,
    seen: Mutex<Vec<Seen>>,
}

pub struct GitHttp {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _root: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Octo Cat")
        .env("GIT_AUTHOR_EMAIL", "octocat@example.org")
        .env("GIT_COMMITTER_NAME", "Octo Cat")
        .env("GIT_COMMITTER_EMAIL", "octocat@example.org")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl GitHttp {
    /// Starts the server on a free port of 127.0.0.1 with no repositories, taking `token`.
    pub async fn start(token: &str) -> GitHttp {
        use base64::Engine as _;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        let root = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the git server");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            root: root.path().to_path_buf(),
            basic: format!("Basic {basic}"),
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the git server");
        });
        GitHttp {
            addr,
            shared,
            _root: root,
        }
    }

    /// Where `OWNER/NAME` lives: `http://127.0.0.1:PORT` (clones are `BASE/OWNER/NAME.git`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates `OWNER/NAME.git` holding one commit on `main` with `files`; returns its SHA.
    pub fn create(&self, full_name: &str, files: &[(&str, &str)]) -> String {
        let bare = self.bare(full_name);
        std::fs::create_dir_all(&bare).expect("create the repository folder");
        git(
            &bare,
            &["init", "--quiet", "--bare", "--initial-branch=main"],
        );
        git(&bare, &["config", "http.receivepack", "true"]);
        let seed = tempfile::tempdir().expect("tempdir");
        git(seed.path(), &["init", "--quiet", "--initial-branch=main"]);
        for (name, content) in files {
            std::fs::write(seed.path().join(name), content).expect("write a seed file");
        }
        git(seed.path(), &["add", "."]);
        git(
            seed.path(),
            &["commit", "--quiet", "-m", "the first commit"],
        );
        let bare_url = bare.to_string_lossy().into_owned();
        git(seed.path(), &["push", "--quiet", &bare_url, "main"]);
        git(seed.path(), &["rev-parse", "HEAD"])
    }

    /// The tip of `branch`, if the repository has it.
    pub fn tip(&self, full_name: &str, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.bare(full_name))
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .output()
            .expect("run git");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `git show REV:PATH` (or any `git show` argument) in the bare repository.
    pub fn show(&self, full_name: &str, rev: &str) -> String {
        git(&self.bare(full_name), &["show", rev])
    }

    /// The requests answered so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("seen").clone()
    }

    fn bare(&self, full_name: &str) -> PathBuf {
        self.shared.root.join(format!("{full_name}.git"))
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
    };
    let authorized = parts
        .headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == shared.basic.as_bytes());
    shared.seen.lock().expect("seen").push(Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorized,
    });
    if !authorized {
        let mut response = plain(StatusCode::UNAUTHORIZED, "a token is needed\n".into());
        response.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"git\""),
        );
        return response;
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cgi.spawn()?;
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&body));
        let output = child.wait_with_output()?;
        let _ = writer.join();
        Ok::<_, std::io::Error>(output)
    })
    .await;
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("git: {e}")),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("git: {e}")),
    };
    cgi_response(&output.stdout).unwrap_or_else(|| {
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "git http-backend answered no CGI headers: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    })
}

/// A CGI answer (headers, a blank line, the body) as an HTTP response.
fn cgi_response(out: &[u8]) -> Option<Response> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4));
    let split = split.or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|at| (at, 2)));
    let (at, gap) = split?;
    let head = std::str::from_utf8(&out[..at]).ok()?;
    let mut response = Response::new(Body::from(out[at + gap..].to_vec()));
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse().ok()?;
            *response.status_mut() = StatusCode::from_u16(code).ok()?;
        } else {
            response.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            );
        }
    }
    Some(response)
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}
