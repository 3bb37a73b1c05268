//! services.yaml: the model, loading with `file:line:column` errors (all of them at once),
//! and the template files the config refers to.

mod check;
pub mod formats;
pub mod model;
pub mod reference;
pub mod scope;
pub mod token;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

pub use model::*;
pub use token::{Access, GithubToken};
use yaml::{Node, Pos};

use crate::suggest::did_you_mean;

/// One problem in a file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
}

/// A diagnostic with the file it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiagnostic {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for FileDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<FileDiagnostic>),
}

impl ConfigError {
    pub fn diagnostics(&self) -> &[FileDiagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render_diagnostics(diagnostics: &[FileDiagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Template files by their name relative to the templates folder (`prompts/review.md`).
pub type TemplateSources = BTreeMap<String, String>;

/// A checked services.yaml and the templates it uses.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The path given for services.yaml, as shown in messages.
    pub path: String,
    pub templates_dir: PathBuf,
    pub templates: TemplateSources,
    /// What is allowed but unwise (an agent that runs fork code with a write token), each
    /// at its key; `validate` prints them.
    pub warnings: Vec<FileDiagnostic>,
}

/// The names of the service's own command verbs, which an agent cannot take.
pub const RESERVED_VERBS: [&str; 5] = ["retry", "stop", "status", "help", "approve"];

const MAX_TEMPLATE_FILES: usize = 500;
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// Where the committed schema is published: its `$id`, and what a services.yaml's
/// `yaml-language-server` modeline may point at.
pub const SCHEMA_ID: &str =
    "https://raw.githubusercontent.com/agentpods/agentpods/main/schema/services.schema.json";

/// The JSON Schema of services.yaml, derived from the model.
pub fn json_schema() -> &'static serde_json::Value {
    static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
        let mut schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<Config>();
        schema.insert("$id".into(), SCHEMA_ID.into());
        serde_json::to_value(schema).unwrap_or_default()
    });
    &SCHEMA
}

/// Reads services.yaml and its templates folder, and checks both.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    load_with(path, None)
}

/// The same, reading the templates from `templates_dir` when given rather than from the
/// config's own `templates_dir` (for checking an installed config from a checkout).
pub fn load_with(path: &Path, templates_dir: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = utf8(&bytes, &shown)?;
    let base = path.parent().unwrap_or(Path::new("."));
    // The templates folder is named inside the file: read it leniently first.
    let dir_name = serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("templates_dir")
                .and_then(|d| d.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| "templates".into());
    let templates_dir = match templates_dir {
        Some(dir) => dir.to_path_buf(),
        None => base.join(&dir_name),
    };
    let templates = read_templates(&templates_dir)?;
    let missing = !templates_dir.is_dir();
    let mut loaded = match parse(text, &shown, templates) {
        Ok(loaded) => loaded,
        // Every template is missing when the folder is: say which folder, once.
        Err(ConfigError::Invalid(mut found)) if missing => {
            found.retain(|d| !d.message.contains(NOT_IN_FOLDER));
            let given = templates_dir.display();
            let (pos, message) = if templates_dir_given(templates_dir.as_path(), base, &dir_name) {
                let line = text
                    .lines()
                    .position(|l| l.starts_with("templates_dir:"))
                    .map_or(1, |i| i + 1);
                (
                    Pos { line, col: 1 },
                    format!(
                        "the templates folder `{given}` does not exist (`templates_dir: \
                         {dir_name}`{}); to check this config with other templates, such as a \
                         checkout's, give their folder: `agentpods validate --templates-dir \
                         templates {shown}`",
                        if Path::new(&dir_name).is_absolute() {
                            ""
                        } else {
                            ", relative to this file"
                        }
                    ),
                )
            } else {
                (
                    Pos { line: 1, col: 1 },
                    format!("the templates folder `{given}` (from --templates-dir) does not exist"),
                )
            };
            found.insert(
                0,
                FileDiagnostic {
                    file: shown.clone(),
                    pos,
                    message,
                },
            );
            return Err(ConfigError::Invalid(found));
        }
        Err(e) => return Err(e),
    };
    loaded.templates_dir = templates_dir;
    Ok(loaded)
}

/// Whether the templates folder is the one services.yaml names (not an override).
fn templates_dir_given(dir: &Path, base: &Path, dir_name: &str) -> bool {
    dir == base.join(dir_name)
}

/// The text of a file, or where its first byte that is not UTF-8 is.
fn utf8<'b>(bytes: &'b [u8], shown: &str) -> Result<&'b str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        ConfigError::Invalid(vec![FileDiagnostic {
            file: shown.to_string(),
            pos: Pos::at_byte(&good, good.len()),
            message: format!(
                "the file is not UTF-8 text (byte 0x{:02x})",
                bytes[e.valid_up_to()]
            ),
        }])
    })
}

fn read_templates(dir: &Path) -> Result<TemplateSources, ConfigError> {
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| ConfigError::Read { path, source }
    };
    let mut out = TemplateSources::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).map_err(failed(&folder))? {
            let entry = entry.map_err(failed(&folder))?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(failed(&path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let too_big = |message: String| ConfigError::Read {
                    path: path.display().to_string(),
                    source: std::io::Error::other(message),
                };
                let size = entry.metadata().map_err(failed(&path))?.len();
                if size > MAX_TEMPLATE_BYTES {
                    return Err(too_big(format!(
                        "a template may be at most {MAX_TEMPLATE_BYTES} bytes; this one has {size}"
                    )));
                }
                if out.len() >= MAX_TEMPLATE_FILES {
                    return Err(too_big(format!(
                        "the templates folder may hold at most {MAX_TEMPLATE_FILES} files"
                    )));
                }
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let bytes = std::fs::read(&path).map_err(failed(&path))?;
                let text = utf8(&bytes, &path.display().to_string())?;
                out.insert(key, text.to_string());
            }
        }
    }
    Ok(out)
}

/// Checks services.yaml text (named `file` in messages) with the given templates.
/// Pure: no I/O.
pub fn parse(
    text: &str,
    file: &str,
    templates: TemplateSources,
) -> Result<LoadedConfig, ConfigError> {
    let at = |d: Diagnostic| FileDiagnostic {
        file: file.to_string(),
        pos: d.pos,
        message: d.message,
    };
    let tree = yaml::parse(text).map_err(|issues| {
        ConfigError::Invalid(
            issues
                .into_iter()
                .map(|i| {
                    at(Diagnostic {
                        pos: i.pos,
                        message: i.message,
                    })
                })
                .collect(),
        )
    })?;
    if tree.kind == yaml::NodeKind::Null {
        let required: Vec<String> = json_schema()["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| Some(format!("`{}`", k.as_str()?)))
            .collect();
        let listed = match required.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => "a mapping".into(),
        };
        return Err(ConfigError::Invalid(vec![at(Diagnostic {
            pos: tree.pos,
            message: format!("the file is empty; a config needs at least {listed}"),
        })]));
    }
    let mut diagnostics = check::SchemaChecker::new(json_schema()).check(&tree);
    if !diagnostics.is_empty() {
        return Err(ConfigError::Invalid(sorted(
            diagnostics.into_iter().map(at).collect(),
        )));
    }
    let config: Config = match serde_path_to_error::deserialize(tree.to_json()) {
        Ok(c) => c,
        Err(e) => {
            let path: Vec<String> = e.path().iter().map(segment).collect();
            let message = format!("{}{}", check::prefix(&path), e.inner());
            return Err(ConfigError::Invalid(vec![at(Diagnostic {
                pos: tree.pos_of(&path),
                message,
            })]));
        }
    };
    let mut all: Vec<FileDiagnostic> = Vec::new();
    diagnostics.extend(semantic_checks(&config, &tree, &templates));
    all.extend(diagnostics.into_iter().map(at));
    all.extend(template_syntax(file, &config, &templates));
    if !all.is_empty() {
        return Err(ConfigError::Invalid(sorted(all)));
    }
    let warnings = sorted(
        fork_code_with_write_tokens(&config, &tree)
            .into_iter()
            .map(at)
            .collect(),
    );
    Ok(LoadedConfig {
        config,
        path: file.to_string(),
        templates_dir: PathBuf::from("templates"),
        templates,
        warnings,
    })
}

/// Agents that run code from a fork (a pull_request trigger, or a comment trigger on pull
/// requests, with `fork_pull_requests: always`) and get a token that can write: whatever
/// the fork's code makes the agent do, it can do with that token. (With `approve` the
/// planner refuses them on forks.)
fn fork_code_with_write_tokens(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };
    // With `approve`, an agent whose token can write is refused on a fork's code (the
    // planner says so to whoever asks); only `always` lets a fork's code have the token.
    let policy = config.github.authorization.fork_pull_requests;
    if policy != ForkPolicy::Always {
        return problems.found;
    }
    for (i, agent) in config.agents.iter().enumerate() {
        let writes = agent.github_token.writes();
        if writes.is_empty() {
            continue;
        }
        let t = &agent.triggers;
        let on_pull_requests = t.pull_request.is_some()
            || t.comment
                .as_ref()
                .is_some_and(|c| c.targets.contains(&CommentTarget::PullRequest));
        if !on_pull_requests {
            continue;
        }
        problems.at(
            &["agents", &i.to_string(), "github_token"],
            format!(
                "warning: agent `{}` runs code from fork pull requests unapproved \
                 (fork_pull_requests: always) and its token can write ({}): code from a \
                 fork could use it; give this agent read permissions, or set \
                 fork_pull_requests: approve (agents with a write token are then refused \
                 on forks)",
                agent.name,
                writes
                    .iter()
                    .map(|w| format!("{w}: write"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    problems.found
}

fn segment(s: &serde_path_to_error::Segment) -> String {
    use serde_path_to_error::Segment;
    match s {
        Segment::Seq { index } => index.to_string(),
        Segment::Map { key } => key.clone(),
        Segment::Enum { variant } => variant.clone(),
        Segment::Unknown => "?".into(),
    }
}

fn sorted(mut d: Vec<FileDiagnostic>) -> Vec<FileDiagnostic> {
    d.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    d.dedup();
    d
}

/// Cross-references and rules the schema cannot express.
fn semantic_checks(config: &Config, tree: &Node, templates: &TemplateSources) -> Vec<Diagnostic> {
    let mut problems = Problems {
        tree,
        found: Vec::new(),
    };

    let prefix = &config.github.command_prefix;
    if prefix.is_empty() || prefix.chars().any(char::is_whitespace) {
        problems.at(
            &["github", "command_prefix"],
            format!("command prefix `{prefix}` must be one word with no spaces, such as /agent"),
        );
    }

    match (
        &config.cluster.namespace,
        &config.cluster.namespace_template,
    ) {
        (None, None) => problems.at(
            &["cluster"],
            "cluster: give `namespace` (one namespace for every run) or `namespace_template`"
                .into(),
        ),
        (Some(_), Some(_)) => problems.at(
            &["cluster", "namespace_template"],
            "cluster: give `namespace` or `namespace_template`, not both".into(),
        ),
        _ => {}
    }
    if config.cluster.namespace_template.is_some() && !config.cluster.namespaces.is_empty() {
        problems.at(
            &["cluster", "namespaces"],
            "cluster.namespaces needs `cluster.namespace`: with `namespace_template` every \
             run's namespace comes from the template"
                .into(),
        );
    }
    let namespace_names: Vec<&str> = config
        .cluster
        .namespace
        .iter()
        .chain(config.cluster.namespaces.keys())
        .map(DnsLabel::as_str)
        .collect();

    let image_names: Vec<&str> = config.images.keys().map(String::as_str).collect();
    let secret_names: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
    let template_names: Vec<&str> = templates.keys().map(String::as_str).collect();
    let image = config.cluster.defaults.image.as_str();
    if !config.images.contains_key(image) {
        problems.at(
            &["cluster", "defaults", "image"],
            unknown_ref("image", image, &image_names, "images"),
        );
    }

    for (name, secret) in &config.secrets {
        if let Some(why) = secret.scope().matches_nothing() {
            problems.at(
                &["secrets", name.as_str(), "repositories"],
                format!("secret `{name}`: its `repositories` list {why}"),
            );
        }
        for (k, glob) in secret.scope().idle_negations() {
            problems.at(
                &["secrets", name.as_str(), "repositories", &k.to_string()],
                format!("secret `{name}`: {}", idle_negation(glob)),
            );
        }
    }

    let mut seen_agents: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, agent) in config.agents.iter().enumerate() {
        // The path of a key of this agent, for its position.
        let key = |rest: &[&str]| -> Vec<String> {
            ["agents".to_string(), i.to_string()]
                .into_iter()
                .chain(rest.iter().map(|s| s.to_string()))
                .collect()
        };
        if let Some(first) = seen_agents.insert(agent.name.as_str(), i) {
            problems.at(
                &key(&["name"]),
                format!(
                    "agents[{i}]: agent name `{}` is already used by agents[{first}]",
                    agent.name
                ),
            );
        }
        if let Some(image) = &agent.image
            && !config.images.contains_key(image)
        {
            problems.at(
                &key(&["image"]),
                unknown_ref("image", image, &image_names, "images"),
            );
        }
        if let Some(why) = agent.scope().matches_nothing() {
            problems.at(
                &key(&["repositories"]),
                format!("agent `{}`: its `repositories` list {why}", agent.name),
            );
        }
        for (k, glob) in agent.scope().idle_negations() {
            problems.at(
                &key(&["repositories", &k.to_string()]),
                format!("agent `{}`: {}", agent.name, idle_negation(glob)),
            );
        }
        for (j, secret) in agent.secrets.iter().enumerate() {
            match config.secrets.get(secret) {
                None => problems.at(
                    &key(&["secrets", &j.to_string()]),
                    unknown_ref("secret", secret, &secret_names, "secrets"),
                ),
                Some(found) => {
                    if let Some(message) = reaches_beyond(agent, secret, found) {
                        problems.at(&key(&["secrets", &j.to_string()]), message);
                    }
                }
            }
        }
        if agent.templates.is_empty() {
            problems.at(
                &key(&["templates"]),
                "an agent needs at least one template".into(),
            );
        }
        for (j, name) in agent.templates.iter().enumerate() {
            let at = key(&["templates", &j.to_string()]);
            if !templates.contains_key(name) {
                problems.at(&at, unknown_template(name, &template_names));
            } else if !is_yaml_template(name) {
                problems.at(
                    &at,
                    format!("template `{name}` renders Kubernetes objects, so it must be a .yaml or .yml file"),
                );
            }
        }
        if let Some(prompt) = &agent.prompt
            && !templates.contains_key(prompt)
        {
            problems.at(&key(&["prompt"]), unknown_template(prompt, &template_names));
        }
        check_agent_namespace(config, agent, &namespace_names, &mut problems, &key);
        if agent.command.is_empty() {
            problems.at(
                &key(&["command"]),
                "the agent command cannot be empty".into(),
            );
        }
        let t = &agent.triggers;
        if t.pull_request.is_none()
            && t.issues.is_none()
            && t.comment.is_none()
            && t.push.is_none()
            && t.release.is_none()
        {
            problems.at(
                &key(&["name"]),
                format!(
                    "agent `{}` has no triggers, so it can never run",
                    agent.name
                ),
            );
        }
        if let Some(comment) = &t.comment {
            if comment.verbs.is_empty() {
                problems.at(
                    &key(&["triggers", "comment", "verbs"]),
                    "give at least one command verb".into(),
                );
            }
            for (j, verb) in comment.verbs.iter().enumerate() {
                if RESERVED_VERBS.contains(&verb.as_str()) {
                    problems.at(
                        &key(&["triggers", "comment", "verbs", &j.to_string()]),
                        format!(
                            "`{verb}` is a built-in command of agentpods and cannot start an agent (reserved: {})",
                            RESERVED_VERBS.join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(push) = &t.push
            && push.branches.is_empty()
            && push.tags.is_empty()
        {
            problems.at(
                &key(&["triggers", "push"]),
                "a push trigger needs `branches` or `tags` globs".into(),
            );
        }
    }
    problems.found
}

fn idle_negation(glob: &RepoGlob) -> String {
    format!(
        "`{glob}` leaves out nothing: no glob of this list without `!` takes in a repository \
         it matches (check its owner and name)"
    )
}

/// Why `agent` may not list secret `name`: it runs for repositories the secret is not
/// for (which, and what to write); `None` when it stays within the secret's.
fn reaches_beyond(agent: &Agent, name: &str, secret: &SecretRef) -> Option<String> {
    let beyond = agent.scope().beyond(secret.scope());
    if beyond.is_empty() {
        return None;
    }
    let secret_is_for = secret.scope().describe();
    let parts: Vec<String> = beyond
        .iter()
        .map(|b| match b {
            scope::Beyond::Everywhere => "it runs for every repository (it has no \
                 `repositories`); give it `repositories` within the secret's"
                .to_string(),
            scope::Beyond::Glob(glob) => format!(
                "its `{glob}` reaches beyond them; narrow it, or widen the secret's \
                 `repositories`"
            ),
            scope::Beyond::Excluded { glob, excluded } => format!(
                "its `{glob}` takes in repositories the secret leaves out with `{excluded}`; \
                 leave them out of the agent too (add `{excluded}` to its `repositories`)"
            ),
        })
        .collect();
    Some(format!(
        "agent `{}` lists secret `{name}`, which is only for {secret_is_for}, but {}",
        agent.name,
        parts.join("; and ")
    ))
}

/// An agent's `namespace` is one the config names, and its `pod_security` one its
/// namespace admits.
fn check_agent_namespace(
    config: &Config,
    agent: &Agent,
    namespace_names: &[&str],
    problems: &mut Problems<'_>,
    key: &dyn Fn(&[&str]) -> Vec<String>,
) {
    if let Some(ns) = &agent.namespace {
        if config.cluster.namespace_template.is_some() {
            problems.at(
                &key(&["namespace"]),
                format!(
                    "agent `{}`: an agent's own `namespace` needs `cluster.namespace`; with \
                     `namespace_template` every run's namespace comes from the template",
                    agent.name
                ),
            );
            return;
        }
        if !namespace_names.contains(&ns.as_str()) {
            let known = match did_you_mean(ns.as_str(), namespace_names.iter().copied()) {
                Some(s) => format!(", did you mean `{s}`?"),
                None => format!(" (known: {})", namespace_names.join(", ")),
            };
            problems.at(
                &key(&["namespace"]),
                format!(
                    "agent `{}`: namespace `{ns}` is neither `cluster.namespace` nor one of \
                     `cluster.namespaces`{known}",
                    agent.name
                ),
            );
            return;
        }
    }
    let namespace = config
        .cluster
        .namespace_of(agent)
        .map(DnsLabel::as_str)
        .unwrap_or("(from namespace_template)");
    let enforced = config.cluster.pod_security_of(namespace);
    if !enforced.admits(agent.pod_security) {
        let allowing: Vec<String> = config
            .cluster
            .namespaces
            .iter()
            .filter(|(_, n)| n.pod_security.admits(agent.pod_security))
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        let hint = if allowing.is_empty() {
            format!(
                "declare one under `cluster.namespaces` with `pod_security: {}` and give the \
                 agent `namespace:` it",
                agent.pod_security
            )
        } else {
            format!("give the agent `namespace:` {}", allowing.join(" or "))
        };
        problems.at(
            &key(&["pod_security"]),
            format!(
                "agent `{}` asks for Pod Security `{}`, but its namespace `{namespace}` \
                 enforces `{enforced}`: {hint}",
                agent.name, agent.pod_security
            ),
        );
    }
}

/// Problems found in services.yaml, each at the position of the key it is about.
struct Problems<'t> {
    tree: &'t Node,
    found: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn at<S: AsRef<str>>(&mut self, path: &[S], message: String) {
        self.found.push(Diagnostic {
            pos: self.tree.pos_of(path),
            message,
        });
    }
}

fn is_yaml_template(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn unknown_ref(what: &str, name: &str, known: &[&str], section: &str) -> String {
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => format!("unknown {what} `{name}`, did you mean `{s}`?"),
        None if known.is_empty() => format!("unknown {what} `{name}`: `{section}` defines none"),
        None => format!(
            "unknown {what} `{name}` (defined in `{section}`: {})",
            known.join(", ")
        ),
    }
}

const NOT_IN_FOLDER: &str = "not found in the templates folder";

fn unknown_template(name: &str, known: &[&str]) -> String {
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => {
            format!("template `{name}` {NOT_IN_FOLDER}, did you mean `{s}`?")
        }
        None => format!("template `{name}` {NOT_IN_FOLDER}"),
    }
}

/// Every template file must compile; errors point into the template file, named by a path
/// as usable as the one given for services.yaml (the templates folder is beside it).
fn template_syntax(
    file: &str,
    config: &Config,
    templates: &TemplateSources,
) -> Vec<FileDiagnostic> {
    let env = crate::template::syntax_environment();
    let folder = Path::new(file)
        .parent()
        .unwrap_or(Path::new(""))
        .join(&config.templates_dir);
    let mut out = Vec::new();
    for (name, source) in templates {
        out.extend(
            crate::template::quoting::check(name, source)
                .into_iter()
                .map(|found| FileDiagnostic {
                    file: folder.join(name).display().to_string(),
                    pos: Pos {
                        line: found.line,
                        col: found.col,
                    },
                    message: found.message,
                }),
        );
        if let Err(e) = env.template_from_named_str(name, source) {
            out.push(FileDiagnostic {
                file: folder.join(name).display().to_string(),
                pos: Pos {
                    line: e.line().unwrap_or(1),
                    col: e.range().map_or(1, |r| Pos::at_byte(source, r.start).col),
                },
                message: format!(
                    "template syntax error: {}",
                    e.detail().unwrap_or("invalid template")
                ),
            });
        }
    }
    out
}
