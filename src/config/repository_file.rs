//! A repository's own say (services.yaml's `repository_config`, `.agentpods.yaml` on the
//! repository's default branch): which of the agents services.yaml gives that repository
//! run there. Pure: the file's bytes in, what it says or every problem (`file:line:col`)
//! out.
//!
//! It can only narrow. It names agents; an agent it does not name does not run in the
//! repository, and one it names with `events: false` answers its comment verbs only. A name
//! services.yaml does not give the repository adds nothing ([`RepositoryFile::beyond`]
//! says which, and the planner says so). No key of it reaches an image, a secret, a
//! template, a permission or an approver: there is no such key.
//!
//! ```yaml
//! agents:
//!   - review                # runs as services.yaml says
//!   - name: fix
//!     events: false         # only `/agent fix …`; its event triggers are off here
//! ```

use super::formats::shorten;
use super::yaml::{self, Node, NodeKind, Pos};
use super::{AgentName, Config, FileDiagnostic};
use crate::suggest::did_you_mean;

/// The largest file read: a list of agent names is a few hundred bytes.
pub const MAX_REPOSITORY_FILE_BYTES: usize = 16 * 1024;

/// The most agents a file may name.
const MAX_AGENTS: usize = 200;

/// What a repository's file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFile {
    /// The agents named, in the file's order.
    pub agents: Vec<RepositoryAgent>,
}

/// One agent a repository's file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryAgent {
    pub name: AgentName,
    /// Its event triggers (`pull_request`, `issues`, `push`, `release`) start it here;
    /// `false`: only its comment verbs do.
    pub events: bool,
    /// Where the file names it.
    pub pos: Pos,
}

/// What a repository's file says of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// It runs as services.yaml says.
    Runs,
    /// Only its comment verbs start it here.
    CommandsOnly,
    /// The file does not name it: it does not run here.
    Off,
}

impl RepositoryFile {
    /// What the file says of `agent`.
    pub fn say(&self, agent: &AgentName) -> Say {
        match self.agents.iter().find(|a| &a.name == agent) {
            None => Say::Off,
            Some(a) if a.events => Say::Runs,
            Some(_) => Say::CommandsOnly,
        }
    }

    /// The agents the file names that `config` does not give `repository` (an agent it
    /// does not have, or one whose `repositories` leave the repository out): they add
    /// nothing, and are said so.
    pub fn beyond<'f>(&'f self, config: &Config, repository: &str) -> Vec<&'f RepositoryAgent> {
        self.agents
            .iter()
            .filter(|named| {
                !config
                    .agents
                    .iter()
                    .any(|a| a.name == named.name && a.scope().admits(repository))
            })
            .collect()
    }
}

/// Checks services.yaml's `repository_config.path`: `Err` says why it names no file of a
/// repository (GitHub's Contents API takes a path inside the repository, `/`-separated).
pub fn check_path(path: &str) -> Result<(), String> {
    let shown = shown(path);
    if path.is_empty() {
        return Err("is empty: name the file, such as `.agentpods.yaml`".into());
    }
    if path.len() > 200 {
        return Err("is longer than 200 characters".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "`{shown}` begins with `/`: the path is inside the repository, such as \
             `.agentpods.yaml` or `.github/agentpods.yaml`"
        ));
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "`{shown}` has an empty, `.` or `..` part: the path is a file inside the \
                 repository, such as `.github/agentpods.yaml`"
            ));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "`{shown}` holds `{}`: a path here is letters, digits, `-`, `_`, `.` and `/`",
                c.escape_debug()
            ));
        }
    }
    Ok(())
}

/// What a repository's file (at `file`, as shown) comes to for `repository` under
/// `config`: a line per agent services.yaml gives the repository (whether it runs there,
/// by commands only, or not), and a problem for each name the file gives that services.yaml
/// does not (it would add nothing: a maintainer checking the file before merging wants to
/// know). Pure.
pub fn check_for(
    said: &RepositoryFile,
    config: &Config,
    repository: &str,
    file: &str,
) -> (Vec<String>, Vec<FileDiagnostic>) {
    let summary = config
        .agents
        .iter()
        .filter(|a| a.scope().admits(repository))
        .map(|a| {
            let says = match said.say(&a.name) {
                Say::Runs => "runs",
                Say::CommandsOnly => "runs by its comment verbs only (`events: false`)",
                Say::Off => "does not run (not named)",
            };
            format!("{}: {says}", a.name)
        })
        .collect();
    (summary, beyond(said, config, repository, file))
}

/// A problem for each name the file gives that services.yaml does not give `repository`:
/// it adds nothing. A name near one it gives is a misspelling, with a did-you-mean and
/// its cost when the file does not name that agent otherwise: it does not run there
/// (new-user review 13f, N11).
fn beyond(
    said: &RepositoryFile,
    config: &Config,
    repository: &str,
    file: &str,
) -> Vec<FileDiagnostic> {
    let names: Vec<&str> = config
        .agents
        .iter()
        .filter(|a| a.scope().admits(repository))
        .map(|a| a.name.as_str())
        .collect();
    said.beyond(config, repository)
        .into_iter()
        .map(|named| {
            let meant = did_you_mean(named.name.as_str(), names.iter().copied());
            let cost = match meant {
                Some(meant) if !said.agents.iter().any(|a| a.name.as_str() == meant) => format!(
                    ", did you mean `{meant}`? Naming it adds nothing, and `{meant}`, which \
                     the file does not name, does not run there"
                ),
                Some(meant) => format!(", did you mean `{meant}`? Naming it adds nothing"),
                None => ": naming it adds nothing".to_string(),
            };
            FileDiagnostic {
                file: file.to_string(),
                pos: named.pos,
                message: format!(
                    "agent `{}` is not one services.yaml gives {repository} ({}){cost}",
                    named.name,
                    given(config, repository)
                ),
            }
        })
        .collect()
}

/// [`check_for`] of a file that does not read: the names it gives that services.yaml does
/// not give `repository`, among what reads of it, so that they come with its other
/// problems (new-user review 13f, N11).
pub fn names_beyond(
    bytes: &[u8],
    config: &Config,
    repository: &str,
    file: &str,
) -> Vec<FileDiagnostic> {
    match read(bytes, file) {
        (Some(said), _) => beyond(&said, config, repository, file),
        (None, _) => Vec::new(),
    }
}

/// The agents `config` gives `repository`, for a message.
fn given(config: &Config, repository: &str) -> String {
    let names: Vec<String> = config
        .agents
        .iter()
        .filter(|a| a.scope().admits(repository))
        .map(|a| format!("`{}`", a.name))
        .collect();
    if names.is_empty() {
        "it gives none".into()
    } else {
        format!("it gives {}", names.join(", "))
    }
}

/// A name or key from the file as a message shows it: cut, and with no backtick to end the
/// code span it is shown in.
fn shown(s: &str) -> String {
    shorten(s).replace('`', "'")
}

/// Reads a repository's file (`file` in messages): what it says, or every problem found.
pub fn parse_repository_file(
    bytes: &[u8],
    file: &str,
) -> Result<RepositoryFile, Vec<FileDiagnostic>> {
    match read(bytes, file) {
        (Some(said), problems) if problems.is_empty() => Ok(said),
        (_, problems) => Err(problems),
    }
}

/// What reads of a repository's file (the agents of its entries that read, when it is a
/// mapping with `agents`), and every problem found.
type Read = (Option<RepositoryFile>, Vec<FileDiagnostic>);

fn read(bytes: &[u8], file: &str) -> Read {
    match read_all(bytes, file) {
        Ok(read) => read,
        Err(problems) => (None, problems),
    }
}

/// [`read`], or the problems that leave nothing to read (the file's size, bytes or YAML).
fn read_all(bytes: &[u8], file: &str) -> Result<Read, Vec<FileDiagnostic>> {
    let at = |pos: Pos, message: String| FileDiagnostic {
        file: file.to_string(),
        pos,
        message,
    };
    let start = Pos { line: 1, col: 1 };
    if bytes.len() > MAX_REPOSITORY_FILE_BYTES {
        return Err(vec![at(
            start,
            format!(
                "the file has {} bytes; a repository's file may have at most \
                 {MAX_REPOSITORY_FILE_BYTES}",
                bytes.len()
            ),
        )]);
    }
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        let good = String::from_utf8_lossy(&bytes[..i]);
        return Err(vec![at(
            Pos::at_byte(&good, good.len()),
            "the file is not text (it holds a NUL byte)".into(),
        )]);
    }
    let text = super::utf8(bytes, file).map_err(|e| e.diagnostics().to_vec())?;
    let tree = yaml::parse(text).map_err(|issues| {
        issues
            .into_iter()
            .map(|i| at(i.pos, i.message))
            .collect::<Vec<_>>()
    })?;
    let mut problems = Vec::new();
    let agents = match &tree.kind {
        NodeKind::Map(entries) => {
            let mut agents = None;
            for (key, value) in entries {
                if key.name == "agents" {
                    agents = Some(value);
                } else {
                    problems.push(at(
                        key.pos,
                        unknown_key(&key.name, &["agents"], "a repository's file"),
                    ));
                }
            }
            match agents {
                Some(list) => Some(list),
                None => {
                    problems.push(at(
                        tree.pos,
                        "`agents` is missing: list the agents that run in this repository \
                         (`agents: [review]`; `agents: []` for none)"
                            .into(),
                    ));
                    None
                }
            }
        }
        NodeKind::Null => {
            problems.push(at(
                tree.pos,
                "the file is empty: list the agents that run in this repository \
                 (`agents: [review]`; `agents: []` for none)"
                    .into(),
            ));
            None
        }
        _ => {
            problems.push(at(
                tree.pos,
                format!(
                    "the file is {}; it must be a mapping with `agents:`, the agents that \
                     run in this repository",
                    tree.type_name()
                ),
            ));
            None
        }
    };
    let mut named = Vec::new();
    if let Some(list) = agents {
        match &list.kind {
            NodeKind::Seq(items) if items.len() > MAX_AGENTS => problems.push(at(
                list.pos,
                format!(
                    "`agents` lists {} agents; at most {MAX_AGENTS}",
                    items.len()
                ),
            )),
            NodeKind::Seq(items) => {
                for item in items {
                    match entry(item) {
                        Ok(agent) => {
                            if named.iter().any(|a: &RepositoryAgent| a.name == agent.name) {
                                problems.push(at(
                                    item.pos,
                                    format!(
                                        "agent `{}` is listed twice; list each agent once",
                                        agent.name
                                    ),
                                ));
                            } else {
                                named.push(agent);
                            }
                        }
                        Err((pos, message)) => problems.push(at(pos, message)),
                    }
                }
            }
            _ => problems.push(at(
                list.pos,
                format!(
                    "`agents` is {}; it must be a list of agent names (`[review, fix]`)",
                    list.type_name()
                ),
            )),
        }
    }
    problems.sort_by_key(|d| d.pos);
    Ok((
        agents.is_some().then_some(RepositoryFile { agents: named }),
        problems,
    ))
}

/// Why a key is not one of `known`, the keys of `whose`, with a did-you-mean.
fn unknown_key(key: &str, known: &[&str], whose: &str) -> String {
    let hint = did_you_mean(key, known.iter().copied())
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "unknown key `{}`: {whose} may say only {}{hint}",
        shown(key),
        known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// One item of `agents`: a name, or `{name, events}`.
fn entry(item: &Node) -> Result<RepositoryAgent, (Pos, String)> {
    let name = |node: &Node| -> Result<AgentName, (Pos, String)> {
        match &node.kind {
            NodeKind::Str(s) => s.parse::<AgentName>().map_err(|_| {
                (
                    node.pos,
                    format!(
                        "`{}` is not an agent's name (lowercase letters, digits and `-`)",
                        shown(s)
                    ),
                )
            }),
            _ => Err((
                node.pos,
                format!("an agent's name is a string, not {}", node.type_name()),
            )),
        }
    };
    match &item.kind {
        NodeKind::Map(entries) => {
            let mut found = None;
            let mut events = true;
            for (key, value) in entries {
                match key.name.as_str() {
                    "name" => found = Some(name(value)?),
                    "events" => match value.kind {
                        NodeKind::Bool(b) => events = b,
                        _ => {
                            return Err((
                                value.pos,
                                format!(
                                    "`events` is true or false (false: only the agent's comment \
                                     verbs start it here), not {}",
                                    value.type_name()
                                ),
                            ));
                        }
                    },
                    other => {
                        return Err((
                            key.pos,
                            unknown_key(other, &["name", "events"], "an agent's entry"),
                        ));
                    }
                }
            }
            match found {
                Some(name) => Ok(RepositoryAgent {
                    name,
                    events,
                    pos: item.pos,
                }),
                None => Err((
                    item.pos,
                    "this entry has no `name`: write `- name: review` (or just `- review`)".into(),
                )),
            }
        }
        _ => Ok(RepositoryAgent {
            name: name(item)?,
            events: true,
            pos: item.pos,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = ".agentpods.yaml";

    fn problems(text: &[u8]) -> String {
        match parse_repository_file(text, FILE) {
            Ok(said) => panic!("{:?} read as {said:?}", String::from_utf8_lossy(text)),
            Err(d) => d
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn a_file_names_agents_and_may_keep_one_to_its_comment_verbs() {
        let said = parse_repository_file(
            b"agents:\n  - review\n  - name: fix\n    events: false\n  - {name: docs}\n",
            FILE,
        )
        .expect("reads");
        let name = |s: &str| s.parse::<AgentName>().expect("a name");
        assert_eq!(said.say(&name("review")), Say::Runs);
        assert_eq!(said.say(&name("fix")), Say::CommandsOnly);
        assert_eq!(said.say(&name("docs")), Say::Runs);
        assert_eq!(said.say(&name("triage")), Say::Off);
        assert_eq!(said.agents[1].pos, Pos { line: 3, col: 5 });
        let none = parse_repository_file(b"agents: []\n", FILE).expect("reads");
        assert_eq!(none.say(&name("review")), Say::Off);
        // One document, its markers and comments around it.
        for text in [
            "---\nagents: [fix]\n",
            "agents: [fix]\n...\n",
            "agents: [fix]\n...\n# the end\n",
        ] {
            parse_repository_file(text.as_bytes(), FILE)
                .unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        }
    }

    /// Each broken file is refused at its line and column with what to write: nothing in
    /// it is guessed, so the planner fails closed on it.
    #[test]
    fn a_broken_file_is_refused_where_it_breaks() {
        let table: &[(&[u8], &str)] = &[
            (b"", ".agentpods.yaml:1:1: the file is empty"),
            (b"# nothing\n", "the file is empty"),
            (
                b"agent: [review]\n",
                "1:1: unknown key `agent`: a repository's file may say only `agents`; did you mean `agents`?",
            ),
            (b"agent: [review]\n", "`agents` is missing"),
            (
                b"agents: review\n",
                "1:9: `agents` is a string; it must be a list",
            ),
            (b"- review\n", "the file is a list; it must be a mapping"),
            (
                b"agents: [Review]\n",
                "1:10: `Review` is not an agent's name",
            ),
            (
                b"agents: [review, review]\n",
                "1:18: agent `review` is listed twice",
            ),
            (
                b"agents: [{name: fix, events: no}]\n",
                "1:30: `events` is true or false",
            ),
            (
                b"agents: [{name: fix, image: evil}]\n",
                "1:22: unknown key `image`: an agent's entry may say only `name`, `events`",
            ),
            (b"agents: [{events: false}]\n", "this entry has no `name`"),
            (
                b"agents: [[review]]\n",
                "an agent's name is a string, not a list",
            ),
            (b"agents: [review\n", ".agentpods.yaml:"),
            (b"secrets: {key: x}\nagents: []\n", "unknown key `secrets`"),
            (b"agents: [`x]\n", ".agentpods.yaml:1:"),
            (
                b"\xff\xfeagents: []\n",
                "1:1: the file is not UTF-8 text (byte 0xff)",
            ),
            (
                b"agents: [review]\n\x00\x01\x02",
                "2:1: the file is not text (it holds a NUL byte)",
            ),
            // Nothing after the first document is ignored (attacker review 15b, A3): not a
            // second document, nor junk after `---` or `...`.
            (
                b"agents: [fix]\n---\nagents: [review]\n",
                ".agentpods.yaml:2:1: a second YAML document starts here; the file holds one",
            ),
            (
                b"agents: [fix]\n---\n}junk{ [\n",
                ".agentpods.yaml:2:1: a second YAML document starts here",
            ),
            (
                b"agents: [fix]\n...\nagents: [review]\n",
                ".agentpods.yaml:3:1: a second YAML document starts here",
            ),
            (
                b"agents: [fix]\n---\n",
                ".agentpods.yaml:2:1: a second YAML document",
            ),
        ];
        for (text, says) in table {
            let found = problems(text);
            assert!(
                found.contains(says),
                "{:?}: expected {says:?} in\n{found}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// What an attacker's file can cost is bounded: size, depth, aliases, length.
    #[test]
    fn a_hostile_file_is_refused_in_bounded_time() {
        let huge = format!("agents: [{}]\n", "a, ".repeat(MAX_REPOSITORY_FILE_BYTES));
        assert!(problems(huge.as_bytes()).contains("a repository's file may have at most"));
        let deep = format!("agents: {}{}\n", "[".repeat(5000), "]".repeat(5000));
        assert!(problems(deep.as_bytes()).starts_with(".agentpods.yaml:"));
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let (prev, next) = ((b'a' + i) as char, (b'a' + i + 1) as char);
            laughs.push_str(&format!(
                "{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        laughs.push_str("agents: *j\n");
        let started = std::time::Instant::now();
        let found = problems(laughs.as_bytes());
        assert!(found.starts_with(".agentpods.yaml:"), "{found}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let many = format!(
            "agents: [{}]\n",
            (0..=MAX_AGENTS)
                .map(|i| format!("a{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(problems(many.as_bytes()).contains("at most 200"));
    }
}
