//! New-user review 13e, N8: the errors a new user meets in the first hour each end with one
//! line saying what to do (the flag to pass, the form to write, the command to run), not
//! only what went wrong. One row a mistake, each run as a user types it: the real binary,
//! on a copy of the example services.yaml and its templates.
//!
//! For `validate`, whose last line counts the problems, the line that says what to do is
//! the problem's own `FILE:LINE:COL` line, the one before the count.

use crate::support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::fixtures::fixture;
use support::process::output_within;
use support::server::{SECRET, TestService, Workdir, within};

/// A mistake: what the user runs, in a folder of their own, and what the line that says
/// what to do must hold.
struct Row {
    what: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Environment variables the command runs without.
    unset: Vec<&'static str>,
    /// Texts stderr must not hold anywhere (Rust's words, advice that does not apply).
    never: Vec<&'static str>,
    /// Rewrites the user's folder before the command runs.
    setup: fn(&Workdir),
    says: String,
}

impl Row {
    fn new(what: &'static str, args: &[&str], says: impl Into<String>) -> Row {
        Row {
            what,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            unset: Vec::new(),
            never: Vec::new(),
            setup: |_| {},
            says: says.into(),
        }
    }

    fn env(mut self, name: &'static str, value: impl Into<String>) -> Row {
        self.env.push((name, value.into()));
        self
    }

    fn without(mut self, name: &'static str) -> Row {
        self.unset.push(name);
        self
    }

    fn never(mut self, text: &'static str) -> Row {
        self.never.push(text);
        self
    }

    fn setup(mut self, setup: fn(&Workdir)) -> Row {
        self.setup = setup;
        self
    }
}

/// What no row's stderr says: Rust's and the libraries' words, not a person's (new-user
/// review 13h, F6, F11, F18: `(os error 2)`, `client error (Connect)`, the resolver's
/// `failed to lookup address information`, a YAML parser's caret drawing).
const LIBRARY_WORDS: &[&str] = &[
    "(os error",
    "client error (",
    "ServiceError",
    "Service Error",
    "tcp connect error",
    "failed to lookup address information",
    "Status {",
    "    ^",
];

/// Runs `agentpods ARGS` in `dir` to its end (at most 30 s), with `env` set (`{dir}` in a
/// value is `dir`) and `unset` unset; its exit code and stderr.
fn agentpods(
    dir: &Path,
    args: &[String],
    env: &[(&'static str, String)],
    unset: &[&'static str],
) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentpods"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .env_remove("AGENTPODS_LOG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .envs(
            env.iter()
                .map(|(k, v)| (*k, v.replace("{dir}", &dir.display().to_string()))),
        );
    for name in unset {
        command.env_remove(name);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start agentpods");
    let out = output_within(child, 30, &format!("agentpods {args:?}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line that says what to do: the last one, or for `validate` the one before its count
/// of problems.
fn last_line(stderr: &str) -> &str {
    let mut lines = stderr.lines().rev().filter(|l| !l.trim().is_empty());
    let last = lines.next().unwrap_or_default();
    if last.ends_with(" problem found") || last.ends_with(" problems found") {
        lines.next().unwrap_or_default()
    } else {
        last
    }
}

/// Appends `line` to the task prompt of the example's `task` agent.
fn prompt_with(work: &Workdir, line: &str) {
    let prompt = work.dir.path().join("templates/prompts/task.md");
    let mut text = std::fs::read_to_string(&prompt).expect("read the prompt");
    text.push_str(line);
    text.push('\n');
    std::fs::write(&prompt, text).expect("write the prompt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_of_the_first_hour_ends_with_what_to_do() {
    within(180, async {
        // A port someone else holds, one nobody listens on, and a service that takes
        // another secret than the user's.
        let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let busy_port = busy.local_addr().expect("its address").port();
        let free_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let service = TestService::start();
        let server = service.listen().await;
        let pull_request = fixture("pull_request/opened.json").path;
        let ping = fixture("ping/0.json").path;
        let app_manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/github-app.json");

        let secret = ("GITHUB_WEBHOOK_SECRET", SECRET.to_string());
        let mut rows = vec![
            Row::new(
                "serve --listen without a port",
                &["serve", "--dry-run", "--listen", "localhost"],
                "what to do: give --listen a host and a port, as in --listen localhost:8080",
            )
            .env(secret.0, secret.1.clone()),
            Row::new(
                "serve on a port another process holds",
                &["serve", "--dry-run", "--listen", &format!("127.0.0.1:{busy_port}")],
                format!(
                    "what to do: another process listens on 127.0.0.1:{busy_port} (`ss -ltnp` \
                     names it): stop it, or give --listen another port"
                ),
            )
            .env(secret.0, secret.1.clone()),
            Row::new(
                "a webhook secret file that is not there",
                &["serve", "--dry-run", "--webhook-secret-file", "/nope"],
                "what to do: give --webhook-secret-file the path of a file that holds the secret",
            )
            // Rust's name of the error kind, where every other message says it in words
            // (new-user review 13g, G8).
            .never("entity not found"),
            Row::new(
                "serve without --dry-run on a machine with no kubeconfig at all",
                &["serve", "--listen", "127.0.0.1:0"],
                "what to do: point KUBECONFIG at your cluster's kubeconfig (as for kubectl), or \
                 run this inside the cluster; or start with --dry-run to launch nothing",
            )
            .env(secret.0, secret.1.clone())
            .env("HOME", "{dir}")
            .without("KUBECONFIG")
            // KUBECONFIG is not set: nothing to unset (new-user review 13g, G2).
            .never("unset it"),
            Row::new(
                "serve in a folder without services.yaml",
                &["serve", "--dry-run", "--listen", "127.0.0.1:0"],
                "what to do: there is no services.yaml in this folder (",
            )
            .env(secret.0, secret.1.clone())
            .setup(|work| std::fs::remove_file(work.config()).expect("remove services.yaml")),
            Row::new(
                "serve --config naming a file that is not there",
                &["serve", "--dry-run", "--listen", "127.0.0.1:0", "--config", "nope.yaml"],
                "what to do: give --config the path of your services.yaml (nope.yaml is not \
                 there; a relative path is read from the folder this runs in, ",
            )
            .env(secret.0, secret.1.clone()),
            // Review 13i, F1: the file beside it, one letter off, was not named.
            Row::new(
                "validate given a name one letter off the services.yaml beside it",
                &["validate", "services.yml"],
                "what to do: did you mean services.yaml? (services.yml is not there; \
                 services.yaml is)",
            ),
            Row::new(
                "serve --config given a name one letter off",
                &["serve", "--dry-run", "--listen", "127.0.0.1:0", "--config", "service.yaml"],
                "what to do: did you mean services.yaml? (service.yaml is not there; \
                 services.yaml is)",
            )
            .env(secret.0, secret.1.clone()),
            // Review 13i, F8: before, "cannot read: no such file or folder" and nothing more.
            Row::new(
                "render --payload given a name two letters off the payload beside it",
                &[
                    "render",
                    "--event",
                    "pull_request",
                    "--payload",
                    &pull_request.with_file_name("open.json").display().to_string(),
                ],
                format!("what to do: did you mean {}?", pull_request.display()),
            ),
            Row::new(
                "replay --payload given a name two letters off the payload beside it",
                &[
                    "replay",
                    "--url",
                    &server.url("/webhook"),
                    "--event",
                    "pull_request",
                    "--payload",
                    &pull_request.with_file_name("open.json").display().to_string(),
                ],
                format!("what to do: did you mean {}?", pull_request.display()),
            )
            .env(secret.0, secret.1.clone()),
            Row::new(
                "render --payload given a file nothing is near",
                &["render", "--event", "pull_request", "--payload", "nope.json"],
                "what to do: give --payload a webhook payload's JSON file (a relative path is \
                 read from the folder this runs in, ",
            ),
            Row::new(
                "serve --manifests-dir naming a file",
                &["serve", "--dry-run", "--manifests-dir", "services.yaml"],
                "what to do: give --manifests-dir a folder (it is made when missing), as in \
                 --manifests-dir /tmp/agentpods-runs",
            )
            .env(secret.0, secret.1.clone())
            .never("os error 17"),
            Row::new(
                "validate given a folder",
                &["validate", "."],
                "what to do: name the config file, not its folder: ./services.yaml",
            ),
            // New-user review 13g, G6: before, `templates/services.yaml`, not there.
            Row::new(
                "validate given a folder without a services.yaml",
                &["validate", "templates"],
                "what to do: name the config file, not a folder: templates holds no \
                 services.yaml (the folder this runs in has one: services.yaml)",
            ),
            // New-user review 13h, F7: the config deploy/ installs is a folder below the
            // one named; before, only "this folder's is services.yaml".
            Row::new(
                "validate given a folder whose services.yaml is two folders below",
                &["validate", "deploy/base"],
                "what to do: name the config file, not a folder: deploy/base holds no \
                 services.yaml; deploy/base/config/services.yaml is one",
            )
            .setup(|work| {
                let config = work.dir.path().join("deploy/base/config");
                std::fs::create_dir_all(&config).expect("deploy/base/config");
                std::fs::copy(work.config(), config.join("services.yaml")).expect("a copy");
            }),
            // New-user review 13h, F8: before, only "it has none of …".
            Row::new(
                "validate given the GitHub App manifest",
                &["validate", &app_manifest.display().to_string()],
                "this is not a services.yaml (it has none of `project`, `cluster` and \
                 `agents`); it looks like a GitHub App manifest, from which `agentpods \
                 github-app create` makes the App: give your services.yaml",
            ),
            Row::new(
                "--changed-files that is not there",
                &["serve", "--dry-run", "--changed-files", "/nope"],
                "what to do: give --changed-files a file that lists the changed paths",
            )
            .env(secret.0, secret.1.clone()),
            Row::new(
                "render --event issues given a pull_request payload",
                &[
                    "render",
                    "--event",
                    "issues",
                    "--payload",
                    &pull_request.display().to_string(),
                ],
                "what to do: this payload looks like a `pull_request` delivery: pass --event \
                 pull_request",
            ),
            Row::new(
                "replay to a service that is not running",
                &[
                    "replay",
                    "--url",
                    &format!("http://127.0.0.1:{free_port}/webhook"),
                    "--event",
                    "ping",
                    "--payload",
                    &ping.display().to_string(),
                ],
                "what to do: start the service first",
            )
            .env(secret.0, secret.1.clone()),
            Row::new(
                "replay signed with another secret than the service's",
                &[
                    "replay",
                    "--url",
                    &server.url("/webhook"),
                    "--event",
                    "ping",
                    "--payload",
                    &ping.display().to_string(),
                ],
                "what to do: sign with the service's own secret",
            )
            .env("GITHUB_WEBHOOK_SECRET", "not-the-service-s"),
            Row::new(
                "github-app create with a webhook URL without its scheme",
                &[
                    "github-app",
                    "create",
                    "--org",
                    "acme",
                    "--webhook-url",
                    "example.com/hook",
                ],
                "what to do: write it whole, with its scheme: --webhook-url https://example.com/hook",
            ),
            Row::new(
                "a template the templates folder does not have",
                &["validate"],
                "template `agent-pd.yaml` not found in the templates folder `templates`, did \
                 you mean `agent-pod.yaml`?",
            )
            .setup(|work| {
                work.edit_config(
                    "templates: [kaniko-job.yaml]",
                    "templates: [agent-pd.yaml]",
                )
            }),
            Row::new(
                "a template nothing near",
                &["validate"],
                "template `build.yaml` not found in the templates folder `templates`: add \
                 the file there, or name one it has (`agent-pod.yaml`, ",
            )
            .setup(|work| {
                work.edit_config("templates: [kaniko-job.yaml]", "templates: [build.yaml]")
            }),
            Row::new(
                "truncate_chars without its argument",
                &["validate"],
                "missing argument (in `truncate_chars`): it takes how many characters to keep, \
                 as in `| truncate_chars(200)`",
            )
            .setup(|work| prompt_with(work, "{{ issue.title | truncate_chars }}")),
            // New-user review 13g, G7: before, "give `replace(\"a\")` its argument in
            // parentheses, as in `| replace(\"a\")(…)`".
            Row::new(
                "replace with one argument of two",
                &["validate"],
                "missing argument (in `replace(\"a\")`): it takes what to replace and with \
                 what, as in `| replace(\"a\", \"b\")`",
            )
            .setup(|work| prompt_with(work, "{{ issue.title | replace(\"a\") }}")),
            // New-user review 13h, F4: before, "cannot convert string to usize".
            Row::new(
                "truncate_chars given a text",
                &["validate"],
                "invalid argument: a string where a whole number belongs (in \
                 `truncate_chars(\"x\")`): it takes how many characters to keep, as in \
                 `| truncate_chars(200)`",
            )
            .setup(|work| prompt_with(work, "{{ issue.title | truncate_chars(\"x\") }}")),
            // New-user review 13h, F4: before, "unexpected `}`, expected `:`" two lines
            // below, where minijinja stopped reading the tag.
            Row::new(
                "a `{%` never closed",
                &["validate"],
                "templates/prompts/task.md:18:1: template syntax error: this `{%` is never \
                 closed with `%}`",
            )
            .setup(|work| prompt_with(work, "{% if issue %\n{{ issue.title }}\n{% endif %}")),
            // New-user review 13h, F4: before, "unknown statement end".
            Row::new(
                "`{% end %}` for `{% endif %}`",
                &["validate"],
                "template syntax error: unknown statement `end`: did you mean `endif`? (it \
                 closes the `{% if %}` at line 18)",
            )
            .setup(|work| prompt_with(work, "{% if issue %}\n{{ issue.title }}\n{% end %}")),
            Row::new(
                "a verb with a capital",
                &["validate"],
                "`Fix` is not a lowercase word: letters, digits and '-', starting with a \
                 letter, at most 32 characters: write `fix` (a comment's command is matched in \
                 any case)",
            )
            .setup(|work| work.edit_config("verbs: [run]", "verbs: [Fix]")),
            Row::new(
                "a loop over secrets that reads an entry's field",
                &["validate"],
                "(`{% for s in secrets %}` gives the keys of `secrets`, a map, so `s` is a key, \
                 not an entry: for the agent's own secrets with their fields, write `{% for s \
                 in agent.secrets %}` (`s.name`, `s.key`, `s.env`); or write `{% for key, s in \
                 secrets | items %}` and `s.name`)",
            )
            .setup(|work| prompt_with(work, "{% for s in secrets %}{{ s.name }}{% endfor %}")),
        ];
        // --metrics-listen on the port --listen takes (new-user review 13f, N14: it said
        // only `Address already in use`).
        let both = format!("127.0.0.1:{free_port}");
        rows.push(
            Row::new(
                "serve --metrics-listen on --listen's own port",
                &["serve", "--dry-run", "--listen", &both, "--metrics-listen", &both],
                format!(
                    "what to do: give --metrics-listen a port of its own (--listen takes \
                     {free_port}), as in --metrics-listen 127.0.0.1:9090"
                ),
            )
            .env(secret.0, secret.1.clone()),
        );
        // A port without a host, plain or in Go's form: the port is not a host (new-user
        // review 13g, G3).
        for (what, listen) in [
            ("serve --listen with a port and no host", "18091"),
            ("serve --listen with Go's form of every interface", ":18091"),
        ] {
            rows.push(
                Row::new(
                    what,
                    &["serve", "--dry-run", "--listen", listen],
                    "what to do: give --listen a host too, as in --listen 127.0.0.1:18091 \
                     (0.0.0.0:18091 for every interface)",
                )
                .env(secret.0, secret.1.clone())
                .never("18091:8080"),
            );
        }

        let mut differ = Vec::new();
        for row in rows {
            let work = Workdir::new();
            (row.setup)(&work);
            let dir = work.dir.path().to_path_buf();
            let (args, env, unset) = (row.args.clone(), row.env.clone(), row.unset.clone());
            let (code, stderr) =
                tokio::task::spawn_blocking(move || agentpods(&dir, &args, &env, &unset))
                    .await
                    .expect("agentpods ran");
            let line = last_line(&stderr);
            let said = row
                .never
                .iter()
                .chain(LIBRARY_WORDS)
                .find(|text| stderr.contains(**text));
            if code != Some(1)
                || !line.contains(&row.says)
                || stderr.contains("panicked")
                || said.is_some()
            {
                differ.push(format!(
                    "{} (agentpods {}): exit {code:?}; the line that says what to do should \
                     hold\n  {}\nbut it is\n  {line}\n{}all of stderr:\n{stderr}",
                    row.what,
                    row.args.join(" "),
                    row.says,
                    said.map(|t| format!("and stderr should not say {t:?}\n"))
                        .unwrap_or_default()
                ));
            }
        }
        drop(busy);
        server.stop().await;
        assert!(
            differ.is_empty(),
            "{} rows differ:\n\n{}",
            differ.len(),
            differ.join("\n\n")
        );
    })
    .await;
}

/// New-user review 13h, F11: a kubeconfig that is not YAML is named, by the file
/// KUBECONFIG gives, in one line, then what to do; not the parser's caret drawing over
/// five lines (five ERROR lines of `serve`'s log), with no file named.
#[test]
fn a_kubeconfig_that_does_not_parse_is_named_in_one_line() {
    let work = Workdir::new();
    let dir = work.dir.path();
    let broken = dir.join("bad.yaml");
    std::fs::write(&broken, "foo: [\n").expect("write the kubeconfig");
    let env = [("KUBECONFIG", broken.display().to_string())];
    let (code, stderr) = agentpods(dir, &["runs".into(), "list".into()], &env, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "the kubeconfig {} (KUBECONFIG) is not valid YAML: line 1 column 6: unclosed \
                 bracket '['",
                broken.display()
            )
            .as_str(),
            "what to do: `kubectl config view` reads the same file and shows where it is broken",
        ]
    );
    let serve = ["serve".to_string(), "--listen".into(), "127.0.0.1:0".into()];
    let env = [env[0].clone(), ("GITHUB_WEBHOOK_SECRET", "s".to_string())];
    let (code, stderr) = agentpods(dir, &serve, &env, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        said.len() == 2
            && said[0].contains(&format!("the kubeconfig {} (KUBECONFIG)", broken.display())),
        "{stderr}"
    );
}

/// A usage error's `Usage:` line shows the config as optional, given as --config or as a
/// plain argument, not `--config <CONFIG> [CONFIG]` as if both were wanted (new-user review
/// 13f, N14: clap's line lists the flags used, so --config looked required).
#[test]
fn a_usage_error_shows_the_config_as_one_optional_choice() {
    let dir = tempfile::tempdir().expect("a folder");
    for (command, usage) in [
        (
            &["render", "--config", "x.yaml", "--event", "push"][..],
            "Usage: agentpods render [--config FILE | FILE] --event EVENT --payload PAYLOAD",
        ),
        (
            &["serve", "--config", "x.yaml", "--bogus"][..],
            "Usage: agentpods serve [--config FILE | FILE] [OPTIONS]",
        ),
        (
            &["admission-policy", "--config", "x.yaml", "--bogus"][..],
            "Usage: agentpods admission-policy [--config FILE | FILE] [OPTIONS]",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(command)
            .current_dir(dir.path())
            .output()
            .expect("run agentpods");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.lines().any(|l| l.starts_with(usage)) && !stderr.contains("[CONFIG]"),
            "{command:?}: the usage line should start {usage:?}:\n{stderr}"
        );
    }
}

/// `serve --port 8080` got clap's "tip: to pass '--port' as a value, use '-- --port'",
/// wrong for anyone who wants the service on port 8080 (new-user review 13h, F9); `--host`
/// the same. Both are told `--listen HOST:PORT`.
#[test]
fn serve_with_port_or_host_is_told_to_give_listen() {
    let dir = tempfile::tempdir().expect("a folder");
    for (args, says) in [
        (
            &["--port", "8080"][..],
            "error: there is no --port: give --listen 127.0.0.1:8080 (the address and the \
             port together)",
        ),
        (
            &["--host", "0.0.0.0"][..],
            "error: there is no --host: give --listen 0.0.0.0:8080 (the address and the port \
             together)",
        ),
        (
            &["--host", "localhost", "--port", "9000"][..],
            "error: there is no --host or --port: give --listen localhost:9000 (the address \
             and the port together)",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(["serve", "--dry-run"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run agentpods serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            (out.status.code(), stderr.trim_end()),
            (Some(2), says),
            "{args:?}"
        );
    }
}

/// `render` of a comment by someone who may not start agents says how to preview it as
/// someone who may (new-user review 13f, N14: it said only `refused: @drive-by you need
/// write …`).
#[test]
fn render_of_a_refused_comment_says_how_to_preview_it_as_a_maintainer() {
    let work = Workdir::new();
    let payload = support::fixtures::variant("issue_comment/by-outsider.json").path;
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(["render", "--event", "issue_comment", "--payload"])
        .arg(&payload)
        .current_dir(work.dir.path())
        .output()
        .expect("run agentpods render");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused: @drive-by you need `write` permission")
            && stderr.contains("(to preview it as someone who may: --permission write)"),
        "{stderr}"
    );
}
