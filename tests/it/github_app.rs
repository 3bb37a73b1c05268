//! `agentpods github-app create`, end to end: the real binary, a test acting as the browser,
//! and the fake GitHub exchanging the manifest's code for the App's credentials.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentpods::github_client::{ClientConfig, Credentials, GithubClient, Secret};
use serde_json::Value;
use support::fake_github::{self, APP_ID, APP_KEY_PEM, FakeGithub};

const SHIPPED: &str = include_str!("../../deploy/github-app.json");
const WEBHOOK: &str = "https://agentpods.example.org/webhook";

/// A running `agentpods github-app create`.
struct Create {
    child: Child,
    /// The local page's address, as the command printed it: `http://127.0.0.1:PORT`.
    base: String,
    stderr: Arc<Mutex<String>>,
    stdout: std::thread::JoinHandle<String>,
}

struct Ended {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Create {
    /// Starts the command against the API at `api_url` and waits for it to print the
    /// address to open.
    fn start(api_url: &str, extra: &[&str]) -> Create {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(["github-app", "create", "--api-url", api_url])
            .args(extra)
            .env_remove("GITHUB_API_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start agentpods");
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (url_tx, url_rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        let all = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Open http://") {
                    let addr = rest.split('/').next().unwrap_or_default();
                    let _ = url_tx.send(format!("http://{addr}"));
                }
                all.lock().expect("stderr").push_str(&format!("{line}\n"));
            }
        });
        let base = url_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "the command printed no address to open; stderr:\n{}",
                    stderr.lock().expect("stderr")
                )
            });
        Create {
            child,
            base,
            stderr,
            stdout,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Waits (up to 30 s) for the command to exit.
    async fn ended(mut self) -> Ended {
        tokio::task::spawn_blocking(move || {
            for _ in 0..300 {
                if let Some(status) = self.child.try_wait().expect("wait") {
                    let stdout = self.stdout.join().expect("stdout reader");
                    // Let the stderr reader take the last lines.
                    std::thread::sleep(Duration::from_millis(50));
                    let stderr = self.stderr.lock().expect("stderr").clone();
                    return Ended {
                        status,
                        stdout,
                        stderr,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            panic!("the command did not exit; stderr:\n{}", self.stderr());
        })
        .await
        .expect("the waiter")
    }
}

/// What the browser gets for `GET url`.
async fn browse(url: &str) -> (u16, String) {
    let reply = agentpods::cli::replay::send(url, &[], None)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (reply.status, reply.text())
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of the first `name="…"` attribute in `html`.
fn attribute(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name}= in the page:\n{html}"))
        + name.len()
        + 2;
    let len = html[start..].find('"').expect("a closing quote");
    html_unescape(&html[start..start + len])
}

/// The form the start page submits: where it goes, the state in it, the manifest.
struct Form {
    action: String,
    state: String,
    manifest: Value,
}

async fn open_start_page(create: &Create) -> Form {
    let (status, page) = browse(&format!("{}/", create.base)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("document.forms[0].submit()"),
        "the page submits itself: {page}"
    );
    assert!(page.contains("method=\"post\""), "{page}");
    let action = attribute(&page, "action");
    let state = action
        .split_once("?state=")
        .map(|(_, s)| s.to_owned())
        .unwrap_or_else(|| panic!("no state in the form's action {action}"));
    assert!(state.len() >= 32, "a random state: {state}");
    assert!(page.contains("name=\"manifest\""), "{page}");
    let manifest = serde_json::from_str(&attribute(&page, "value")).expect("the manifest is JSON");
    Form {
        action,
        state,
        manifest,
    }
}

fn api(fake: &FakeGithub) -> String {
    fake.url()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_is_created_in_the_browser_and_its_secret_comes_out_ready_to_apply() {
    let fake = FakeGithub::start(fake_github::manual_clock()).await;
    let create = Create::start(
        &api(&fake),
        &[
            "--org",
            "my-org",
            "--webhook-url",
            WEBHOOK,
            "--namespace",
            "agentpods",
        ],
    );

    // The operator opens the address; the page posts the shipped manifest to the org's
    // "new App" form, with our callback for GitHub to come back to.
    let form = open_start_page(&create).await;
    assert_eq!(
        form.action,
        format!(
            "https://github.com/organizations/my-org/settings/apps/new?state={}",
            form.state
        )
    );
    let mut expected: Value = serde_json::from_str(SHIPPED).expect("the shipped manifest");
    // Named after the organization: the manifest's `agentpods` is likely taken on GitHub.
    expected["name"] = "my-org-agentpods".into();
    expected["hook_attributes"]["url"] = WEBHOOK.into();
    expected["redirect_url"] = format!("{}/callback", create.base).into();
    assert_eq!(form.manifest, expected);

    // GitHub creates the App and sends the browser back with a code.
    let app = fake.create_app_from_manifest(&form.manifest);
    let code = fake.manifest_code(&app);
    let (status, page) = browse(&format!(
        "{}/callback?code={code}&state={}",
        create.base, form.state
    ))
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("GitHub App created"), "{page}");

    let ended = create.ended().await;
    assert!(ended.status.success(), "{}", ended.stderr);
    let secret: serde_yaml::Value = serde_yaml::from_str(&ended.stdout).expect("YAML");
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["metadata"]["name"], "agentpods-github");
    assert_eq!(secret["metadata"]["namespace"], "agentpods");
    let data = &secret["stringData"];
    assert_eq!(data["app-id"], APP_ID.to_string().as_str());
    assert_eq!(
        data["private-key.pem"], APP_KEY_PEM,
        "the key the fake issued"
    );
    assert_eq!(data["webhook-secret"], app.webhook_secret.as_str());

    // The Secret's credentials are the App's: they sign in to GitHub as it.
    let pem = data["private-key.pem"].as_str().expect("a PEM");
    let mut config = ClientConfig::new(Credentials::App {
        app_id: data["app-id"]
            .as_str()
            .expect("an id")
            .parse()
            .expect("a number"),
        private_key_pem: Secret::new(pem),
    });
    config.base_url = fake.url();
    let client = GithubClient::new(config, fake_github::manual_clock()).expect("a client");
    client.ping().await.expect("GitHub takes the App's key");

    // stderr says what was made and where to install it, and shows no credential.
    assert!(ended.stderr.contains(&app.slug), "{}", ended.stderr);
    assert!(
        ended.stderr.contains(&format!(
            "https://github.com/apps/{}/installations/new",
            app.slug
        )),
        "{}",
        ended.stderr
    );
    assert!(!ended.stderr.contains(&app.webhook_secret));
    assert!(!ended.stderr.contains("PRIVATE KEY"));
    assert!(
        !ended.stderr.contains(&code),
        "the code is as good as the key"
    );
    assert_eq!(fake.count("POST", "/app-manifests/"), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    support::validate::assert_valid("the App's Secret", &ended.stdout, 1);
}

/// Left to its defaults, the command says before the browser opens what they lead to and
/// how to set them: an App name GitHub likely refuses as taken, a webhook that sends
/// nothing (new-user review 13f, N12: only docs/setup.md said so).
#[tokio::test(flavor = "multi_thread")]
async fn the_defaults_are_said_before_the_browser_opens() {
    let fake = FakeGithub::start(fake_github::manual_clock()).await;
    // An organization's App is named after it; without a webhook URL, its hook is off.
    let mut create = Create::start(&api(&fake), &["--org", "my-org"]);
    let form = open_start_page(&create).await;
    assert_eq!(form.manifest["name"], "my-org-agentpods");
    assert_eq!(form.manifest["hook_attributes"]["active"], false);
    let said = create.stderr();
    assert!(
        said.contains("note: the App is named \"my-org-agentpods\" (--name picks another"),
        "{said}"
    );
    assert!(
        said.contains("note: no --webhook-url: the App's webhook is created inactive")
            && said.contains("pass --webhook-url https://HOST/webhook"),
        "{said}"
    );
    let _ = create.child.kill();
    let _ = create.child.wait();

    // In a personal account, the manifest's name stands, and is likely taken.
    let mut create = Create::start(&api(&fake), &["--user", "--webhook-url", WEBHOOK]);
    let said = create.stderr();
    assert!(
        said.contains("note: the App is named \"agentpods\", which is likely taken")
            && said.contains("pass --name YOURS-agentpods"),
        "{said}"
    );
    assert!(!said.contains("no --webhook-url"), "{said}");
    let _ = create.child.kill();
    let _ = create.child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_state_is_refused_and_the_right_one_still_works() {
    let fake = FakeGithub::start(fake_github::manual_clock()).await;
    let create = Create::start(&api(&fake), &["--user", "--name", "agentpods-mine"]);
    let form = open_start_page(&create).await;
    assert_eq!(
        form.action,
        format!("https://github.com/settings/apps/new?state={}", form.state)
    );
    assert_eq!(form.manifest["name"], "agentpods-mine");
    // No --webhook-url: the hook is created off, pointing nowhere.
    assert_eq!(form.manifest["hook_attributes"]["active"], false);
    let app = fake.create_app_from_manifest(&form.manifest);
    let code = fake.manifest_code(&app);

    // Someone else's page sends the browser here with their own state, or none.
    let forged = "0".repeat(form.state.len());
    for query in [
        format!("code={code}&state={forged}"),
        format!("code={code}"),
        format!("code={code}&state="),
    ] {
        let (status, page) = browse(&format!("{}/callback?{query}", create.base)).await;
        assert_eq!(status, 400, "{query}: {page}");
        assert!(page.contains("Wrong state"), "{page}");
    }
    assert_eq!(
        fake.count("POST", "/app-manifests/"),
        0,
        "no code was exchanged"
    );

    // The real redirect still works.
    let (status, page) = browse(&format!(
        "{}/callback?code={code}&state={}",
        create.base, form.state
    ))
    .await;
    assert_eq!(status, 200, "{page}");
    let ended = create.ended().await;
    assert!(ended.status.success(), "{}", ended.stderr);
    assert!(
        ended
            .stderr
            .contains("refused a callback with a wrong or missing state"),
        "{}",
        ended.stderr
    );
    assert!(
        ended.stderr.contains("webhook is inactive"),
        "{}",
        ended.stderr
    );
    let secret: serde_yaml::Value = serde_yaml::from_str(&ended.stdout).expect("YAML");
    assert_eq!(secret["stringData"]["app-id"], APP_ID.to_string().as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_github_refuses_exits_1_saying_what_to_do() {
    let fake = FakeGithub::start(fake_github::manual_clock()).await;
    let create = Create::start(&api(&fake), &["--org", "my-org", "--webhook-url", WEBHOOK]);
    let form = open_start_page(&create).await;
    let app = fake.create_app_from_manifest(&form.manifest);
    let code = fake.manifest_code(&app);
    // The code is spent already (a code works once), so GitHub answers 404.
    agentpods::github_client::manifest::convert(&fake.url(), &code, fake_github::manual_clock())
        .await
        .expect("the first exchange");

    let (status, page) = browse(&format!(
        "{}/callback?code={code}&state={}",
        create.base, form.state
    ))
    .await;
    assert_eq!(status, 502, "{page}");
    let ended = create.ended().await;
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    assert_eq!(ended.stdout, "", "nothing on stdout");
    assert!(
        ended
            .stderr
            .contains("GitHub refused the App manifest code (404)"),
        "{}",
        ended.stderr
    );
    assert!(
        ended
            .stderr
            .contains("delete it at https://github.com/organizations/my-org/settings/apps"),
        "{}",
        ended.stderr
    );
    assert!(!ended.stderr.contains(&code), "{}", ended.stderr);
    assert_eq!(fake.count("POST", "/app-manifests/"), 2);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn github_unreachable_exits_1_naming_the_exchange() {
    // A port with nothing listening on it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let create = Create::start(&api, &["--user", "--webhook-url", WEBHOOK]);
    let form = open_start_page(&create).await;
    let (status, _) = browse(&format!(
        "{}/callback?code=abc123&state={}",
        create.base, form.state
    ))
    .await;
    assert_eq!(status, 502);
    let ended = create.ended().await;
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    assert_eq!(ended.stdout, "");
    assert!(
        ended
            .stderr
            .contains("could not exchange the App manifest code with GitHub"),
        "{}",
        ended.stderr
    );
    assert!(
        ended
            .stderr
            .contains("delete it at https://github.com/settings/apps"),
        "{}",
        ended.stderr
    );
    // The API root asked (the one clue to a wrong --api-url), the call with the code as
    // words, and the cause in a person's words (new-user review 13h, F5: `could not reach
    // GitHub: POST /app-manifests/{code}/conversions: Service Error: client error
    // (Connect): tcp connect error: Connection refused (os error 111)`).
    assert!(
        ended.stderr.contains(&format!(
            "could not reach GitHub at {api} (POST /app-manifests/…/conversions): connection \
             refused (nothing listens there)"
        )),
        "{}",
        ended.stderr
    );
    for library in [
        "{code}",
        "abc123",
        "os error",
        "Service Error",
        "client error",
        "tcp connect",
    ] {
        assert!(
            !ended.stderr.contains(library),
            "{library}: {}",
            ended.stderr
        );
    }
}

/// `GET path` with the `Host` header `host`, raw: the status code.
fn get_with_host(base: &str, path: &str, host: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_reached_by_another_name_is_refused_and_no_answer_times_out() {
    let fake = FakeGithub::start(fake_github::manual_clock()).await;
    let create = Create::start(&api(&fake), &["--user", "--timeout", "3s"]);
    let base = create.base.clone();
    let port = base.rsplit(':').next().expect("a port").to_owned();
    // A web page that rebinds its own name to 127.0.0.1 reaches the server with its
    // name in `Host`: it gets neither the state nor the callback.
    let (start, callback) = tokio::task::spawn_blocking(move || {
        (
            get_with_host(&base, "/", &format!("attacker.example:{port}")),
            get_with_host(&base, "/callback?code=abc&state=x", "attacker.example"),
        )
    })
    .await
    .expect("the requests");
    assert_eq!((start, callback), (421, 421));
    let (status, _) = browse(&format!("{}/", create.base)).await;
    assert_eq!(status, 200, "by its own address it answers");

    let ended = create.ended().await;
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    assert_eq!(ended.stdout, "");
    assert!(
        ended
            .stderr
            .contains("GitHub did not send the browser back within 3s"),
        "{}",
        ended.stderr
    );
    assert_eq!(fake.count("POST", "/app-manifests/"), 0);
}

#[test]
fn the_page_listens_on_loopback_only() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(["github-app", "create", "--user", "--listen", "0.0.0.0:0"])
        // Were it to listen, it would give up soon rather than hang the test.
        .args(["--timeout", "1s"])
        .output()
        .expect("run agentpods");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must listen on loopback"), "{stderr}");
}

/// A webhook URL without a path would send every delivery to `/`, where the service
/// answers 404: the command refuses it before GitHub sees it, and says what to write.
#[test]
fn a_webhook_url_without_the_webhook_path_is_refused_with_the_url_to_use() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(["github-app", "create", "--user", "--timeout", "1s"])
        .args(["--webhook-url", "https://agentpods.example.org/"])
        .output()
        .expect("run agentpods");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --webhook-url \"https://agentpods.example.org/\" has no path: GitHub would POST \
         its deliveries to /, where the service answers 404. The service takes them at \
         /webhook: --webhook-url https://agentpods.example.org/webhook\n"
    );
}

/// Another path reaches the service only through a rewrite: the command says so before
/// the browser opens, and goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_url_with_another_path_is_a_warning_naming_the_rewrite_it_needs() {
    let fake = FakeGithub::start(fake_github::manual_clock()).await;
    let create = Create::start(
        &api(&fake),
        &[
            "--user",
            "--timeout",
            "1s",
            "--webhook-url",
            "https://agentpods.example.org/hooks/github",
        ],
    );
    let ended = create.ended().await;
    assert_eq!(ended.status.code(), Some(1), "it waited, then timed out");
    let first = ended.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "warning: --webhook-url \"https://agentpods.example.org/hooks/github\": GitHub will \
         POST to /hooks/github, but the service takes deliveries at /webhook; that works only \
         if your Ingress or Gateway rewrites /hooks/github to /webhook (else every delivery is \
         a 404: see Recent Deliveries in the App's settings)"
    );
}
