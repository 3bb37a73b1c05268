//! services.yaml inputs for the config tests: a small valid config, the templates it uses,
//! and helpers that load text the way `agentpods validate` does and return its messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agentpods::config::{self, LoadedConfig, TemplateSources};

/// The name config errors are reported under in the in-memory tests.
pub const FILE: &str = "services.yaml";

/// A pod template that renders, for configs that only need one to exist.
pub const POD_TEMPLATE: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: {{ run.name }}
spec:
  containers:
    - name: agent
      image: {{ agent.image }}
";

/// The templates folder of the in-memory tests.
pub fn templates() -> TemplateSources {
    [
        ("agent-pod.yaml", POD_TEMPLATE),
        ("prompts/task.md", "Do this: {{ comment.command.task }}\n"),
        (
            "prompts/review.md",
            "Review pull request #{{ pr.number }}.\n",
        ),
        (
            "comment.md",
            "{{ run.agent }}{% if result %}: {{ result.conclusion }}{% endif %}\n",
        ),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_string(), text.to_string()))
    .collect()
}

/// Loads `text` as services.yaml with [`templates`]; panics if it is valid.
pub fn errors(text: &str) -> Vec<String> {
    errors_with(text, templates())
}

/// Loads `text` as services.yaml with the given templates; panics if it is valid.
pub fn errors_with(text: &str, templates: TemplateSources) -> Vec<String> {
    match config::parse(text, FILE, templates) {
        Ok(_) => panic!("expected this config to be rejected, but it loaded:\n{text}"),
        Err(e) => e.to_string().lines().map(String::from).collect(),
    }
}

/// Loads `text` as services.yaml with [`templates`]; panics with the messages if invalid.
pub fn load(text: &str) -> LoadedConfig {
    config::parse(text, FILE, templates())
        .unwrap_or_else(|e| panic!("expected this config to load, but:\n{e}\n---\n{text}"))
}

/// The text at a 1-based line and column, for checking that a message points where it says.
pub fn text_at(text: &str, line: usize, col: usize) -> Option<&str> {
    let line_text = text.split('\n').nth(line.checked_sub(1)?)?;
    let (byte, _) = line_text.char_indices().nth(col.checked_sub(1)?)?;
    Some(&line_text[byte..])
}

/// A folder holding a services.yaml and a templates folder, for running the binary.
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    /// `services` as services.yaml, and [`templates`] under templates/.
    pub fn new(services: &[u8]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let this = ConfigDir { dir };
        this.write("services.yaml", services);
        for (name, text) in templates() {
            this.write(&format!("templates/{name}"), text.as_bytes());
        }
        this
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a folder");
        }
        std::fs::write(&path, bytes).expect("write a file");
    }
}

/// What `agentpods validate --config PATH` did.
pub struct Validated {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Validated {
    /// What validate said, less its note of the template files nothing uses: the
    /// [`templates`] folder holds some most configs of the tests do not use (that note is
    /// told in `config_errors`' test of the template count, from `stderr`).
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !(l.starts_with("note: in ") && l.contains(", not used by this config")))
            .collect()
    }
}

/// Runs the real binary: `agentpods validate --config PATH`.
pub fn validate(path: &Path) -> Validated {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .arg("validate")
        .arg("--config")
        .arg(path)
        .output()
        .expect("run agentpods");
    Validated {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
