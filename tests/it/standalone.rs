//! The repository stands alone: a plain `git clone` with nothing beside it builds, runs
//! the README's quickstart and passes its tests. So no file in it may reach for the folder
//! of shared material that sits beside the development checkout; only `.ci/run` may (CI
//! compares the example payloads in `examples/webhooks` with it when it is there). And what
//! the README's quickstart says the service answers and writes is what it does.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::server::{Post, TestService, json, within};

/// The one file allowed to name the folder beside the checkout.
const ALLOWED: &[&str] = &[".ci/run"];

/// Ways a file can name that folder, spelt in pieces so this file does not name it.
fn needles() -> Vec<String> {
    let shared = "shared";
    vec![
        // the relative path, also as the tail of a longer one (../../..)
        format!("../{shared}"),
        // the same path joined from its parts, in Python and in Rust
        format!("\"..\", \"{shared}\""),
        format!("join(\"..\").join(\"{shared}\")"),
        // the development machine's absolute path to it
        format!("/work/{shared}"),
    ]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's files, relative to its root: what git tracks plus new files not yet
/// added (a file about to be committed counts), or, outside a git checkout (an unpacked
/// crate, an export), every file under the root except build output and the venv.
fn repository_files(root: &Path) -> Vec<String> {
    let git = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output();
    let in_git_checkout = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && Path::new(String::from_utf8_lossy(&o.stdout).trim())
                    .canonicalize()
                    .ok()
                    == root.canonicalize().ok()
        });
    match git {
        Ok(out) if in_git_checkout && out.status.success() => out
            .stdout
            .split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            // Listed but deleted in the working tree: nothing there to read.
            .filter(|name| root.join(name).is_file())
            .collect(),
        _ => {
            let mut files = Vec::new();
            walk(root, root, &mut files);
            files
        }
    }
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: cannot read: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable folder entry").path();
        let name = path.file_name().expect("a file name").to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".venv" | ".git") {
                walk(root, &path, files);
            }
        } else if path.is_file() {
            let relative = path.strip_prefix(root).expect("under the root");
            files.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Every `file:line: text` where one of `needles` occurs, in the files other than `ALLOWED`.
fn references(root: &Path, files: &[String], needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !ALLOWED.contains(&f.as_str())) {
        let bytes =
            std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("{file}: cannot read: {e}"));
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle.as_str())) {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn nothing_but_ci_names_the_folder_beside_the_checkout() {
    let root = root();
    let files = repository_files(&root);
    assert!(
        files.iter().any(|f| f == "Cargo.toml") && files.iter().any(|f| f == "README.md"),
        "the file list of {} misses Cargo.toml or README.md: {files:?}",
        root.display()
    );
    let found = references(&root, &files, &needles());
    assert!(
        found.is_empty(),
        "these files reach outside the repository, which a plain `git clone` does not have \
         (use examples/webhooks and examples/variants; only .ci/run may):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_check_sees_each_way_of_naming_it() {
    let dir = std::env::temp_dir().join(format!("agentpods-standalone-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("benches")).expect("temp folder");
    std::fs::create_dir_all(dir.join(".ci")).expect("temp folder");
    let shared = "shared";
    let lines = [
        ("README.md", format!("see ../{shared}/ARCHITECTURE.md")),
        (
            "benches/peer.py",
            format!("os.path.join(ROOT, \"..\", \"{shared}\", \"fixtures\")"),
        ),
        (
            "benches/a.rs",
            format!("root.join(\"..\").join(\"{shared}\")"),
        ),
        ("notes.txt", format!("cp /work/{shared}/fixtures .")),
        (
            ".ci/run",
            format!("diff -r ../{shared}/fixtures/webhooks x"),
        ),
        ("clean.md", "a shared cache; shared/ on its own".to_string()),
    ];
    for (file, line) in &lines {
        std::fs::write(dir.join(file), format!("first\n{line}\n")).expect("write");
    }
    let mut files = Vec::new();
    walk(&dir, &dir, &mut files);
    let mut found = references(&dir, &files, &needles());
    found.sort();
    std::fs::remove_dir_all(&dir).expect("clean up");
    let named: Vec<&str> = found
        .iter()
        .map(|f| f.split(':').next().expect("file"))
        .collect();
    assert_eq!(
        named,
        ["README.md", "benches/a.rs", "benches/peer.py", "notes.txt"],
        "{found:#?}"
    );
    assert!(found[0].starts_with("README.md:2: see ../"), "{found:#?}");
}

/// The README's section `## {title}`, up to the next `## `.
fn readme_section(title: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let heading = format!("\n## {title}\n");
    let start = readme
        .find(&heading)
        .unwrap_or_else(|| panic!("README.md has no section `## {title}`"));
    let body = &readme[start + heading.len()..];
    body[..body.find("\n## ").unwrap_or(body.len())].to_string()
}

/// The fenced code blocks of a piece of Markdown: (language, lines).
fn code_blocks(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in markdown.lines() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(language), None) => open = Some((language.trim().to_string(), Vec::new())),
            (Some(_), Some(block)) => blocks.push(block),
            (None, Some((language, mut lines))) => {
                lines.push(line.to_string());
                open = Some((language, lines));
            }
            (None, None) => {}
        }
    }
    blocks
}

/// One `replay` the README runs.
#[derive(Debug)]
struct Replay {
    event: String,
    payload: String,
    delivery: String,
}

fn replays(commands: &[String]) -> Vec<Replay> {
    let joined = commands.join("\n").replace("\\\n", " ");
    joined
        .lines()
        .filter(|line| line.contains(" replay "))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let value = |flag: &str| {
                let at = words
                    .iter()
                    .position(|w| *w == flag)
                    .unwrap_or_else(|| panic!("README.md: `{line}` has no {flag}"));
                words[at + 1].to_string()
            };
            Replay {
                event: value("--event"),
                payload: value("--payload"),
                delivery: value("--delivery"),
            }
        })
        .collect()
}

/// Whether `shown` (leaving out `…` lines) is `lines` with some lines left out.
fn is_trimmed_from(shown: &[String], lines: &[&str]) -> Result<(), String> {
    let mut rest = lines.iter();
    for line in shown.iter().filter(|l| l.trim() != "…") {
        if !rest.any(|l| l == line) {
            return Err(line.clone());
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_readmes_loop_without_a_cluster_is_what_the_service_answers_and_writes() {
    within(60, async {
        let section = readme_section("The whole loop without a cluster");
        let blocks = code_blocks(&section);
        let block = |language: &str, containing: &str| {
            blocks
                .iter()
                .find(|(l, lines)| l == language && lines.iter().any(|x| x.contains(containing)))
                .map(|(_, lines)| lines.clone())
                .unwrap_or_else(|| {
                    panic!("README.md: no ```{language} block with `{containing}` in the section")
                })
        };
        let replays = replays(&block("sh", " replay "));
        assert!(
            !replays.is_empty(),
            "README.md: the section replays nothing"
        );
        let answers = block("text", "HTTP ");
        let manifest = block("yaml", "# agentpods dry-run: run ");

        let service = TestService::start();
        for replay in &replays {
            let body = std::fs::read(root().join(&replay.payload))
                .unwrap_or_else(|e| panic!("README.md replays {}: {e}", replay.payload));
            let reply = service
                .oneshot(&Post::delivery(&replay.event, &replay.delivery, body))
                .await;
            let shown = format!("HTTP {} (delivery {})", reply.status, replay.delivery);
            let at = answers.iter().position(|l| *l == shown).unwrap_or_else(|| {
                panic!(
                    "README.md does not show `{shown}` for {}; the service answered:\n{}",
                    replay.payload,
                    reply.text()
                )
            });
            let readme_json: serde_json::Value = serde_json::from_str(&answers[at + 1])
                .unwrap_or_else(|e| panic!("README.md: the line after `{shown}`: {e}"));
            assert_eq!(
                readme_json,
                json(&reply),
                "README.md shows another answer for {} than the service gives; paste what \
                 `replay` prints",
                replay.payload
            );
        }

        let run = manifest[0]
            .strip_prefix("# agentpods dry-run: run ")
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the run's name");
        assert!(
            section.contains(&format!("/tmp/agentpods-runs/{run}.yaml")),
            "README.md: the section does not say where {run}.yaml is written"
        );
        let file = format!("{run}.yaml");
        assert_eq!(service.work.manifests(), std::slice::from_ref(&file));
        let written = std::fs::read_to_string(service.work.manifests_dir().join(&file))
            .expect("the run's manifests");
        let written: Vec<&str> = written.lines().collect();
        if let Err(line) = is_trimmed_from(&manifest, &written) {
            panic!(
                "README.md shows a line of {file} that the service does not write, or not in \
                 that order:\n  {line}\nit writes:\n{}",
                written.join("\n")
            );
        }
    })
    .await;
}

#[test]
fn a_trimmed_excerpt_keeps_its_order() {
    let lines = ["a", "b", "c", "d"];
    let shown = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(is_trimmed_from(&shown(&["a", "…", "c"]), &lines), Ok(()));
    assert_eq!(
        is_trimmed_from(&shown(&["c", "a"]), &lines),
        Err("a".to_string())
    );
    assert_eq!(
        is_trimmed_from(&shown(&["a", "x"]), &lines),
        Err("x".to_string())
    );
}
