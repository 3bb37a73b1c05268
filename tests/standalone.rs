//! The repository stands alone: a plain `git clone` with nothing beside it builds, runs
//! the README's quickstart and passes its tests. So no file in it may reach for the folder
//! of shared material that sits beside the development checkout; only `.ci/run` may (CI
//! compares the example payloads in `examples/webhooks` with it when it is there).

use std::path::{Path, PathBuf};
use std::process::Command;

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
