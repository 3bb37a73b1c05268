//! The fields a template can use, read from the context every trigger's sample delivery
//! gives it (`sample`): the reference in docs/templates.md is generated from them
//! (`field_reference`), and `validate` checks every `a.b.c` a template reads against them
//! all at once (`field_problems`), so that each misspelt field is reported at its own
//! `FILE:LINE:COL`, with the nearest real field, not only the first one a render meets.
//! An agent without a description gets its `agent.description` printed as `none` where a
//! template shows it without a default (`description_problems`).
//! It also warns (`template_warnings`) when an agent's templates drop what the agent is
//! given: the task of a comment trigger, the Secrets it names.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::config::yaml::Pos;
use crate::config::{Agent, FileDiagnostic, LoadedConfig};

use super::{Engine, sample};

/// Maps whose keys come from services.yaml (or from the run), not from the event: the
/// reference shows them as maps, and a key missing there is not a misspelt field name.
const OPEN_MAPS: &[&str] = &[
    "images",
    "secrets",
    "agent.params",
    "agent.env",
    "run.labels",
];

/// At most this many fields are listed when no single one is the likely meaning.
const MAX_LISTED: usize = 12;

/// What a dotted path finds in one sample context.
enum Lookup {
    /// A value (or a part the static walk cannot follow: a list's item).
    Found,
    /// `none` on the way: an optional part absent in this sample (the render check's job).
    Absent,
    /// The segment at `depth` is not a key of the object `keys` came from.
    Missing { depth: usize, keys: Vec<String> },
    /// A field read on a string, number or `true`/`false`, which has none
    /// (`pr.head.repo.full_name`: review 13i, F13).
    Scalar(OnScalar),
}

/// A field read on a scalar in a sample.
struct OnScalar {
    /// Where in the path: the segment read from the scalar.
    depth: usize,
    value: Json,
    /// The object holding the scalar has a key of that name (`repo.owner` for
    /// `repo.full_name.owner`).
    beside: bool,
}

fn lookup(context: &Json, path: &[&str]) -> Lookup {
    let mut here = context;
    let mut holder: Option<&serde_json::Map<String, Json>> = None;
    for (depth, segment) in path.iter().enumerate() {
        match here {
            Json::Object(map) => match map.get(*segment) {
                Some(next) => {
                    holder = Some(map);
                    here = next;
                }
                None => {
                    return Lookup::Missing {
                        depth,
                        keys: map.keys().cloned().collect(),
                    };
                }
            },
            Json::Null => return Lookup::Absent,
            Json::Array(_) => return Lookup::Found,
            scalar => {
                return Lookup::Scalar(OnScalar {
                    depth,
                    value: scalar.clone(),
                    beside: holder.is_some_and(|m| m.contains_key(*segment)),
                });
            }
        }
    }
    Lookup::Found
}

/// The byte offset of every place `path` is written in `source` (`repo.full_name`, also
/// with blanks around the dots); none when it is written another way (`repo["full_name"]`).
fn offsets(source: &str, path: &str) -> Vec<usize> {
    spans(source, path).into_iter().map(|(at, _)| at).collect()
}

/// The start and end (byte offsets) of every place `path` is written in `source`.
fn spans(source: &str, path: &str) -> Vec<(usize, usize)> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let segments: Vec<&str> = path.split('.').collect();
    // The end of `path` written from `at` on, when it is.
    let written_at = |at: usize| -> Option<usize> {
        let mut rest = &source[at..];
        for (i, segment) in segments.iter().enumerate() {
            if i > 0 {
                rest = rest.trim_start_matches([' ', '\t']).strip_prefix('.')?;
                rest = rest.trim_start_matches([' ', '\t']);
            }
            rest = rest.strip_prefix(segment)?;
        }
        (!rest.starts_with(is_word)).then_some(source.len() - rest.len())
    };
    source
        .match_indices(segments[0])
        .map(|(at, _)| at)
        .filter(|&at| !source[..at].ends_with(|c: char| is_word(c) || c == '.'))
        .filter_map(|at| Some((at, written_at(at)?)))
        .collect()
}

/// The start of every place `path` is written in `source`, as line and column; the first
/// line when it is written another way.
fn positions(source: &str, path: &str) -> Vec<Pos> {
    let found: Vec<Pos> = offsets(source, path)
        .into_iter()
        .map(|at| Pos::at_byte(source, at))
        .collect();
    if found.is_empty() {
        vec![Pos { line: 1, col: 1 }]
    } else {
        found
    }
}

/// How many times a `none` shows in a template's output: `None` / `none` / `NONE` in
/// text, `null` in YAML.
fn nones(text: &str) -> usize {
    ["None", "none", "NONE", "null"]
        .iter()
        .map(|w| text.matches(w).count())
        .sum()
}

/// A sample's trigger in words without the hint some carry for another field (`pr` is
/// absent then: …), which would mislead about the one at hand.
pub(super) fn without_hint(trigger: &str) -> &str {
    trigger.split(" (`").next().unwrap_or(trigger)
}

/// Problems by file and place, the first message said of a place kept (the same mistake
/// seen by another agent or trigger is the same mistake).
#[derive(Default)]
struct ByPlace(BTreeMap<(String, Pos), String>);

impl ByPlace {
    fn add(&mut self, file: String, places: Vec<Pos>, message: &str) {
        for pos in places {
            self.0
                .entry((file.clone(), pos))
                .or_insert_with(|| message.to_string());
        }
    }

    fn into_diagnostics(self) -> Vec<FileDiagnostic> {
        self.0
            .into_iter()
            .map(|((file, pos), message)| FileDiagnostic { file, pos, message })
            .collect()
    }
}

impl Engine {
    /// The context each sample delivery of `agent` gives its templates, as JSON, with the
    /// trigger in words; none when its samples cannot be built, which `sample_problems`
    /// (and `reference_markdown`) report.
    fn sample_contexts(&self, agent: &Agent) -> Vec<(String, Json)> {
        sample::samples(agent)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                let ctx = self.sample_context(agent, s)?;
                Some((s.trigger.clone(), serde_json::to_value(&ctx).ok()?))
            })
            .collect()
    }

    /// The dotted paths a template reads from its context (`repo.full_name`, `task`),
    /// less what it sets itself and the environment's own functions.
    fn paths_read(&self, name: &str) -> BTreeSet<String> {
        let Ok(template) = self.env.get_template(name) else {
            return BTreeSet::new();
        };
        let globals: BTreeSet<&str> = self.env.globals().map(|(k, _)| k).collect();
        template
            .undeclared_variables(true)
            .into_iter()
            .filter(|p| !globals.contains(p.split('.').next().unwrap_or_default()))
            .collect()
    }

    /// The templates an agent renders: its files, then those written inside services.yaml
    /// (`concurrency.group`, `cluster.namespace_template`).
    fn all_templates(&self, agent: &Agent) -> Vec<String> {
        let mut names: Vec<String> = Self::agent_templates(agent)
            .into_iter()
            .map(String::from)
            .collect();
        if agent.concurrency.is_some() {
            names.push(super::concurrency_template(
                &self.config.agents,
                agent.name.as_str(),
            ));
        }
        if self.config.cluster.namespace_template.is_some() {
            names.push(super::NAMESPACE_TEMPLATE.to_string());
        }
        names
    }

    /// The templates an agent renders: its prompt, then its object templates.
    fn agent_templates(agent: &Agent) -> Vec<&str> {
        agent
            .prompt
            .iter()
            .chain(&agent.templates)
            .map(String::as_str)
            .collect()
    }

    /// Where a template's mistakes are shown: its file and the places `path` is written in
    /// it; for a template written inside services.yaml (`concurrency.group`,
    /// `cluster.namespace_template`), services.yaml at the places in its text
    /// (`config_text`; its first line without it), and the key to say before the message.
    fn places(
        &self,
        name: &str,
        path: &str,
        config_text: Option<&str>,
    ) -> Option<(String, Vec<Pos>, String)> {
        if let Some(source) = self.sources.get(name) {
            return Some((self.file_of(name), positions(source, path), String::new()));
        }
        let source = self.config_template(name)?;
        let start = Pos { line: 1, col: 1 };
        let places = config_text
            .and_then(|text| {
                let at = text.find(source.as_str())?;
                let found: Vec<Pos> = offsets(&source, path)
                    .into_iter()
                    .map(|b| Pos::at_byte(text, at + b))
                    .collect();
                (!found.is_empty()).then_some(found)
            })
            .unwrap_or_else(|| vec![start]);
        Some((self.config_path.clone(), places, format!("{name}: ")))
    }

    /// Every field a template reads that no sample of its agent's triggers has, at each
    /// place it is written, with the nearest field that exists (or the fields there are):
    /// in its template files and in the templates written inside services.yaml alike
    /// (new-user review 13b, N9), pointed at in `config_text`.
    pub fn field_problems(&self, config_text: Option<&str>) -> Vec<FileDiagnostic> {
        let mut found = ByPlace::default();
        for agent in &self.config.agents {
            let contexts = self.sample_contexts(agent);
            if contexts.is_empty() {
                continue;
            }
            let names = self.all_templates(agent);
            for name in &names {
                let name = name.as_str();
                for path in self.paths_read(name) {
                    let Some((file, places, key)) = self.places(name, &path, config_text) else {
                        continue;
                    };
                    let segments: Vec<&str> = path.split('.').collect();
                    if let Some(message) = self.secret_out_of_reach(agent, &segments) {
                        found.add(file, places, &format!("{key}{message}"));
                        continue;
                    }
                    let mut missing: Option<(usize, BTreeSet<String>)> = None;
                    let mut scalar: Option<OnScalar> = None;
                    let mut resolves = false;
                    for (_, context) in &contexts {
                        match lookup(context, &segments) {
                            Lookup::Found => resolves = true,
                            Lookup::Absent => {}
                            Lookup::Missing { depth, keys } => {
                                let entry = missing.get_or_insert((depth, BTreeSet::new()));
                                if entry.0 == depth {
                                    entry.1.extend(keys);
                                }
                            }
                            Lookup::Scalar(on) => keep_shortest(&mut scalar, on),
                        }
                    }
                    if resolves {
                        continue;
                    }
                    let whose = format!("agent `{}`", agent.name);
                    if let Some(on) = scalar {
                        let message = scalar_field(&segments, &on, &whose, "each trigger");
                        found.add(file, places, &format!("{key}{message}"));
                        continue;
                    }
                    let Some((depth, keys)) = missing else {
                        continue;
                    };
                    // A key of a map services.yaml fills may be tested for (`is defined`,
                    // `| default`): the render check says when it is used unguarded.
                    // But a key one letter or two from one the map has is a misspelling
                    // (`agent.params.focuss` beside `focus`: new-user review 13b, N16).
                    let map = segments[..depth].join(".");
                    if OPEN_MAPS.contains(&map.as_str()) {
                        if let Some(message) = open_map_typo(&segments, depth, &keys, agent) {
                            found.add(file, places, &format!("{key}{message}"));
                        }
                        continue;
                    }
                    let message = unknown_field(&segments, depth, &keys, &whose, "each trigger");
                    found.add(file, places, &format!("{key}{message}"));
                }
            }
        }
        self.comment_field_problems(&mut found);
        found.into_diagnostics()
    }

    /// Every field `comment.md` reads that none of the reports' samples has (its fields
    /// are `run`, `result` and `prefix`, not a delivery's), with the nearest one or the
    /// fields there are (new-user review 13c, N13; before: "undefined value" alone).
    fn comment_field_problems(&self, found: &mut ByPlace) {
        let name = crate::config::COMMENT_TEMPLATE;
        let Some(source) = self.sources.get(name) else {
            return;
        };
        if !self.config.github.report.comment {
            return;
        }
        let contexts: Vec<Json> = super::comment::samples(&self.config.github.command_prefix)
            .into_iter()
            .filter_map(|(_, c)| serde_json::to_value(c).ok())
            .collect();
        for path in self.paths_read(name) {
            let segments: Vec<&str> = path.split('.').collect();
            let mut missing: Option<(usize, BTreeSet<String>)> = None;
            let mut scalar: Option<OnScalar> = None;
            for context in &contexts {
                match lookup(context, &segments) {
                    Lookup::Found | Lookup::Absent => {
                        (missing, scalar) = (None, None);
                        break;
                    }
                    Lookup::Missing { depth, keys } => {
                        let entry = missing.get_or_insert((depth, BTreeSet::new()));
                        if entry.0 == depth {
                            entry.1.extend(keys);
                        }
                    }
                    Lookup::Scalar(on) => keep_shortest(&mut scalar, on),
                }
            }
            let whose = "the run's comment";
            let message = match (scalar, missing) {
                (Some(on), _) => scalar_field(&segments, &on, whose, "comment.md"),
                (None, Some((depth, keys))) => {
                    unknown_field(&segments, depth, &keys, whose, "comment.md")
                }
                (None, None) => continue,
            };
            found.add(self.file_of(name), positions(source, &path), &message);
        }
    }

    /// Where a template prints a field that is `none` in some sample of its agent's
    /// triggers (`checkout.sha` on an unpinned issue, `comment.command.task` of a bare
    /// command, `push.head_commit_message` of a tag): it would show `None` in text and
    /// `null` in YAML (new-user review 13c, N4). Each such field is rendered `none` and
    /// empty: a template whose output differs by a `none` shown is refused at each place
    /// the field is written, with the default to write (`x or ""` renders alike both
    /// ways, as does a guard `{% if x %}`). `agent.description` has its own message
    /// (`description_problems`).
    pub fn none_printed_problems(&self, config_text: Option<&str>) -> Vec<FileDiagnostic> {
        let mut found = ByPlace::default();
        for agent in &self.config.agents {
            let contexts = self.sample_contexts(agent);
            let names = self.all_templates(agent);
            for name in &names {
                for path in self.paths_read(name) {
                    if path == "agent.description" {
                        continue;
                    }
                    let Some((trigger, context)) = contexts
                        .iter()
                        .find(|(_, context)| self.prints_none(name, context, &path))
                    else {
                        continue;
                    };
                    let Some((file, mut places, key)) = self.places(name, &path, config_text)
                    else {
                        continue;
                    };
                    if let Some(printing) = self.places_printing_none(name, context, &path) {
                        places = printing;
                    }
                    let message = format!(
                        "{key}agent `{}`, {}: `{path}` is none then, and this template prints \
                         it (`None` in text, `null` in YAML): write `{path} or \"\"` (or a \
                         default of your own), or leave it out with `{{% if {path} %}}`",
                        agent.name,
                        without_hint(trigger),
                    );
                    found.add(file, places, &message);
                }
            }
        }
        // The run's comment, with the samples the reports fill it in with.
        let name = crate::config::COMMENT_TEMPLATE;
        if self.config.github.report.comment && self.sources.contains_key(name) {
            let cases: Vec<(String, Json)> =
                super::comment::samples(&self.config.github.command_prefix)
                    .into_iter()
                    .filter_map(|(case, c)| Some((case, serde_json::to_value(c).ok()?)))
                    .collect();
            for path in self.paths_read(name) {
                let Some((case, context)) = cases
                    .iter()
                    .find(|(_, context)| self.prints_none(name, context, &path))
                else {
                    continue;
                };
                let source = self.sources.get(name).map(String::as_str).unwrap_or("");
                let places = self
                    .places_printing_none(name, context, &path)
                    .unwrap_or_else(|| positions(source, &path));
                let message = format!(
                    "the run's comment, {case}: `{path}` is none then, and this template \
                     prints it (`None` in the comment): write `{path} or \"\"` (or a default \
                     of your own), or leave it out with `{{% if {path} %}}`"
                );
                found.add(self.file_of(name), places, &message);
            }
        }
        found.into_diagnostics()
    }

    /// Of the places template file `name` writes `path`, those that print its `none` in
    /// `context`: where writing `(path or "")` instead shows fewer. None when the template
    /// is not a file, or no one place does (then every place is shown).
    fn places_printing_none(&self, name: &str, context: &Json, path: &str) -> Option<Vec<Pos>> {
        let source = self.sources.get(name)?;
        let before = nones(&self.render_named(name, context).ok()?);
        let places: Vec<Pos> = spans(source, path)
            .into_iter()
            .filter(|&(at, end)| {
                let changed = format!("{}({path} or \"\"){}", &source[..at], &source[end..]);
                self.env
                    .render_named_str(name, &changed, minijinja::value::Serde(context))
                    .is_ok_and(|text| nones(&text) < before)
            })
            .map(|(at, _)| Pos::at_byte(source, at))
            .collect();
        (!places.is_empty()).then_some(places)
    }

    /// Whether template `name`, given `context` in which `path` is `none`, shows it: its
    /// output with the field `none` holds more `None` / `none` / `NONE` / `null` than with
    /// the field empty. False when `path` is not `none` there, or either render fails (the
    /// render check reports that).
    fn prints_none(&self, name: &str, context: &Json, path: &str) -> bool {
        let pointer = format!("/{}", path.replace('.', "/"));
        if !context.pointer(&pointer).is_some_and(Json::is_null) {
            return false;
        }
        let mut empty = context.clone();
        if let Some(value) = empty.pointer_mut(&pointer) {
            *value = Json::from("");
        }
        match (
            self.render_named(name, context),
            self.render_named(name, &empty),
        ) {
            (Ok(absent), Ok(empty)) => nones(&absent) > nones(&empty),
            _ => false,
        }
    }

    /// Where a template of an agent without a `description` prints `agent.description`,
    /// which is `none` then (`none` in text, `NONE` through `| upper`, `null` in YAML):
    /// each template is rendered with it `none` and with it empty, and a template whose
    /// output differs shows it rather than a default (`agent.description or ""` does not).
    pub fn description_problems(&self) -> Vec<FileDiagnostic> {
        let mut found = ByPlace::default();
        for agent in self
            .config
            .agents
            .iter()
            .filter(|a| a.description.is_none())
        {
            let contexts = self.sample_contexts(agent);
            for name in Self::agent_templates(agent) {
                let Some(source) = self.sources.get(name) else {
                    continue;
                };
                if !self.paths_read(name).contains("agent.description") {
                    continue;
                }
                let shows_none = contexts.iter().any(|(_, context)| {
                    let mut described = context.clone();
                    described["agent"]["description"] = Json::from("");
                    match (
                        self.render_named(name, context),
                        self.render_named(name, &described),
                    ) {
                        (Ok(absent), Ok(empty)) => absent != empty,
                        _ => false,
                    }
                });
                if !shows_none {
                    continue;
                }
                let message = format!(
                    "agent `{}` has no `description`, so `agent.description` is none, and this \
                     template prints it (`none` in text, `NONE` through `| upper`, `null` in \
                     YAML): write `agent.description or \"…\"`, or give the agent a description",
                    agent.name
                );
                found.add(
                    self.file_of(name),
                    positions(source, "agent.description"),
                    &message,
                );
            }
        }
        found.into_diagnostics()
    }

    /// Why `agent`'s templates may not read `secrets.<name>` (`segments`): the agent runs
    /// for repositories the secret's `repositories` leave out, whose runs do not see it
    /// (their render would fail). `secrets["a-b"]` is not followed.
    fn secret_out_of_reach(&self, agent: &Agent, segments: &[&str]) -> Option<String> {
        let ["secrets", name, ..] = segments else {
            return None;
        };
        let secret = self.config.secrets.get(*name)?;
        if agent.scope().beyond(secret.scope()).is_empty() {
            return None;
        }
        Some(format!(
            "agent `{}` runs for {}, but secret `{name}` is only for {}: its runs elsewhere \
             do not see `secrets.{name}`; limit the agent's `repositories` to the secret's",
            agent.name,
            agent.scope().describe(),
            secret.scope().describe()
        ))
    }

    /// Warnings about what an agent is given and its templates drop: the text of a
    /// comment command (`task`, `comment.command.task`, in its templates or its prompt)
    /// when the agent has a comment trigger, and the Secrets it names (`agent.secrets`).
    /// Each names the template.
    pub fn template_warnings(&self) -> Vec<FileDiagnostic> {
        let mut found = Vec::new();
        // A template that includes or imports another may read these through it: it is
        // given the benefit of the doubt.
        let composes = |name: &str| {
            self.sources.get(name).is_some_and(|s| {
                ["include", "import", "extends"]
                    .iter()
                    .any(|w| s.contains(&format!("{{% {w}")) || s.contains(&format!("{{%- {w}")))
            })
        };
        for agent in &self.config.agents {
            let reads: BTreeMap<&str, BTreeSet<String>> = agent
                .templates
                .iter()
                .map(|name| (name.as_str(), self.paths_read(name)))
                .collect();
            if reads.keys().any(|name| composes(name)) {
                continue;
            }
            let any =
                |test: &dyn Fn(&str) -> bool| reads.values().flatten().any(|p| test(p.as_str()));
            let listed = || {
                agent
                    .templates
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let first = agent.templates.first().map(String::as_str);
            if agent.triggers.comment.is_some()
                && !any(&|p| p == "task" || p.starts_with("comment.command.task"))
                && let Some(first) = first
            {
                found.push(FileDiagnostic {
                    file: self.file_of(first),
                    pos: Pos { line: 1, col: 1 },
                    message: format!(
                        "warning: agent `{}` has a comment trigger, but its templates ({}) \
                         never use `task` (the rendered prompt) or `comment.command.task`: \
                         what a maintainer writes after the command reaches no pod",
                        agent.name,
                        listed()
                    ),
                });
            }
            // The pod prints the rendered prompt, and the prompt drops the command's text
            // (new-user review 13f, N9).
            let reads_the_command = |p: &str| {
                p == "comment" || p == "comment.command" || p.starts_with("comment.command.task")
            };
            if agent.triggers.comment.is_some()
                && any(&|p| p == "task")
                && !any(&reads_the_command)
                && let Some(prompt) = &agent.prompt
                && !composes(prompt)
                && !self.paths_read(prompt).iter().any(|p| reads_the_command(p))
            {
                found.push(FileDiagnostic {
                    file: self.file_of(prompt),
                    pos: Pos { line: 1, col: 1 },
                    message: format!(
                        "warning: agent `{}` has a comment trigger, but its prompt `{prompt}` \
                         never uses `comment.command.task`: what a maintainer writes after the \
                         command reaches no pod (its templates print `task`, the rendered \
                         prompt); print it with `{{{{ comment.command.task or \"\" }}}}`",
                        agent.name
                    ),
                });
            }
            if !agent.secrets.is_empty()
                && !any(&|p| p.starts_with("agent.secrets") || p.starts_with("secrets"))
                && let Some(first) = first
            {
                found.push(FileDiagnostic {
                    file: self.file_of(first),
                    pos: Pos { line: 1, col: 1 },
                    message: format!(
                        "warning: agent `{}` names the secrets {}, but its templates ({}) \
                         never use `agent.secrets`: its pods would run without them (mount \
                         them as templates/agent-pod.yaml does: `{{% for secret in \
                         agent.secrets %}}`)",
                        agent.name,
                        agent
                            .secrets
                            .iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        listed()
                    ),
                });
            }
        }
        found.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        found
    }

    /// docs/templates.md: the fields every trigger gives, then for each kind of trigger
    /// the fields of its own, with their type and whether some deliveries lack them.
    pub fn field_reference(&self) -> String {
        // Per trigger: path -> its row (type, in every delivery), and the parts absent.
        let mut triggers: Vec<TriggerFields> = Vec::new();
        for agent in &self.config.agents {
            let contexts = self.sample_contexts(agent);
            // Each also as an agent without a description has it: `agent.description` is
            // `none` then.
            let undescribed = contexts.iter().map(|(trigger, context)| {
                let mut context = context.clone();
                context["agent"]["description"] = Json::Null;
                (trigger.clone(), context)
            });
            let all: Vec<(String, Json)> = contexts.iter().cloned().chain(undescribed).collect();
            let mut fields: BTreeMap<String, (BTreeSet<&'static str>, usize)> = BTreeMap::new();
            for (_, context) in &all {
                collect(context, "", &mut fields);
            }
            let mut rows = BTreeMap::new();
            let mut absent = Vec::new();
            for (path, (types, seen)) in &fields {
                let shown: Vec<&str> = types.iter().copied().filter(|t| *t != "none").collect();
                if shown.is_empty() {
                    absent.push(format!("`{path}`"));
                    continue;
                }
                let always = if path.ends_with("[]") && *seen < all.len() {
                    "no: the list is empty in some"
                } else if types.contains("none") || *seen < all.len() {
                    "no: `none` in some"
                } else {
                    "yes"
                };
                rows.insert(path.clone(), format!("{} | {always}", shown.join(" or ")));
            }
            let samples = contexts
                .iter()
                .map(|(t, _)| t.split(" (").next().unwrap_or(t).to_string())
                .collect::<Vec<_>>()
                .join("; ");
            let description = agent.description.as_deref().unwrap_or_default().to_string();
            triggers.push((description, samples, rows, absent));
        }
        let common: BTreeMap<String, String> = triggers
            .first()
            .map(|(_, _, rows, _)| {
                rows.iter()
                    .filter(|(path, row)| {
                        triggers
                            .iter()
                            .all(|(_, _, r, _)| r.get(*path) == Some(*row))
                    })
                    .map(|(p, r)| (p.clone(), r.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let table = |rows: &mut dyn Iterator<Item = (&String, &String)>| {
            let mut t = String::from("| Field | Type | In every delivery |\n|---|---|---|\n");
            for (path, row) in rows {
                t.push_str(&format!("| `{path}` | {row} |\n"));
            }
            t
        };
        let mut out = String::from(REFERENCE_HEAD);
        out.push_str("\n## Every trigger\n\n");
        out.push_str(&table(&mut common.iter()));
        for (description, samples, rows, absent) in &triggers {
            out.push_str(&format!("\n## {description}\n\nSamples: {samples}.\n\n"));
            out.push_str(&table(
                &mut rows.iter().filter(|(path, _)| !common.contains_key(*path)),
            ));
            if !absent.is_empty() {
                out.push_str(&format!("\nAlways `none` here: {}.\n", absent.join(", ")));
            }
        }
        out.push_str(&comment_reference(&self.config.github.command_prefix));
        out
    }
}

/// docs/templates.md's part for `comment.md`, the run's one comment: the fields of the
/// contexts the reports render it with (`render::comment::samples`), which are not a
/// delivery's (new-user review 13b, N12).
fn comment_reference(prefix: &str) -> String {
    let samples = super::comment::samples(prefix);
    let mut fields: BTreeMap<String, (BTreeSet<&'static str>, usize)> = BTreeMap::new();
    for (_, context) in &samples {
        let json = serde_json::to_value(context).unwrap_or_default();
        collect(&json, "", &mut fields);
    }
    let mut out = String::from(
        "\n## `comment.md`: the run's comment\n\n\
         The one comment a run gets on its pull request or issue (`github.report.comment`), \
         rendered when the run starts and again with its result. It sees these fields, not \
         a delivery's; `result` is `none` while the run runs. `validate` renders it while a \
         run runs and after it ends with each of GitHub's conclusions (`success`, \
         `failure`, `neutral`, `cancelled`, `skipped`, `timed_out`, `action_required`), each \
         asked for by someone and started by an event (`run.requested_by` is `none` then), \
         and refuses it where it prints a field that is `none` in one of them.\n\n\
         | Field | Type | In every comment |\n|---|---|---|\n",
    );
    for (path, (types, seen)) in &fields {
        let shown: Vec<&str> = types.iter().copied().filter(|t| *t != "none").collect();
        if shown.is_empty() {
            continue;
        }
        let always = if types.contains("none") || *seen < samples.len() {
            "no: `none` in some"
        } else {
            "yes"
        };
        out.push_str(&format!(
            "| `{path}` | {} | {always} |\n",
            shown.join(" or ")
        ));
    }
    out
}

/// One trigger's part of docs/templates.md: its heading, its samples, path -> its row
/// (type, in every delivery), and the parts always absent.
type TriggerFields = (String, String, BTreeMap<String, String>, Vec<String>);

/// The message for a key of a map services.yaml fills (`agent.params`) that is not there
/// but is close to one that is; none when no key is close (it may be tested for).
fn open_map_typo(
    segments: &[&str],
    depth: usize,
    keys: &BTreeSet<String>,
    agent: &Agent,
) -> Option<String> {
    let wrong = segments[depth];
    let near = crate::suggest::did_you_mean(wrong, keys.iter().map(String::as_str))?;
    let map = segments[..depth].join(".");
    let whence = match map.as_str() {
        "agent.params" => " (the agent's `params` in services.yaml)",
        "agent.env" => " (the agent's `env` in services.yaml)",
        "images" => " (`images` in services.yaml)",
        "secrets" => " (`secrets` in services.yaml)",
        _ => "",
    };
    Some(format!(
        "agent `{}`: `{}`: `{wrong}` is not a key of `{map}`{whence}; did you mean `{map}.{near}`?",
        agent.name,
        segments.join(".")
    ))
}

/// Keeps the value of the samples' that is shortest written out, to show in a message.
fn keep_shortest(kept: &mut Option<OnScalar>, seen: OnScalar) {
    let length = |v: &Json| v.to_string().len();
    if kept
        .as_ref()
        .is_none_or(|k| length(&seen.value) < length(&k.value))
    {
        *kept = Some(seen);
    }
}

/// The message for a path whose segment at `depth` is read from `value`, a string, number
/// or `true`/`false` in the samples, which has no fields (review 13i, F13: before, the
/// render's bare "undefined value"). GitHub's payload has `head.repo.full_name` where
/// templates are given `pr.head.repo`, already the `owner/name`.
fn scalar_field(segments: &[&str], on: &OnScalar, whose: &str, fields_of: &str) -> String {
    let depth = on.depth;
    let path = segments.join(".");
    let parent = segments[..depth].join(".");
    let what = match &on.value {
        // A repository's name in the samples is of the longest a glob admits: its form
        // says more than its letters.
        Json::String(s) if s.split('/').count() == 2 && !s.contains(char::is_whitespace) => {
            "a string (`owner/name`)".to_string()
        }
        Json::String(s) if s.chars().count() <= 40 && !s.contains('`') => {
            format!("a string (`{s}` in a sample)")
        }
        Json::String(_) => "a string".to_string(),
        Json::Number(n) => format!("a number (`{n}` in a sample)"),
        _ => "`true` or `false`".to_string(),
    };
    let hint = if on.beside {
        let mut fixed = segments[..=depth].to_vec();
        fixed.remove(depth - 1);
        format!("did you mean `{}`?", fixed.join("."))
    } else {
        format!("write `{parent}` for the value itself")
    };
    format!(
        "{whose}: `{path}`: `{parent}` is {what}, which has no fields: {hint} (the fields of \
         {fields_of}: docs/templates.md)"
    )
}

/// The message for a path whose segment at `depth` is not there.
fn unknown_field(
    segments: &[&str],
    depth: usize,
    keys: &BTreeSet<String>,
    whose: &str,
    fields_of: &str,
) -> String {
    let path = segments.join(".");
    let parent = segments[..depth].join(".");
    let wrong = segments[depth];
    let in_what = if parent.is_empty() && fields_of == "comment.md" {
        "a variable comment.md is given".to_string()
    } else if parent.is_empty() {
        "a variable templates are given".to_string()
    } else {
        format!("a field of `{parent}`")
    };
    // Names a newcomer brings from GitHub's payload or from other tools (new-user review
    // 13d, N6): the variable they mean, when templates are given it.
    let meant = match (parent.as_str(), wrong) {
        ("", "repository") => Some("repo"),
        ("", "pull_request") => Some("pr"),
        ("", "params") => Some("agent.params"),
        ("", "env") => Some("agent.env"),
        _ => None,
    }
    .filter(|m| keys.contains(m.split('.').next().unwrap_or(m)));
    let nearest =
        meant.or_else(|| crate::suggest::did_you_mean(wrong, keys.iter().map(String::as_str)));
    let hint = match nearest {
        // An object empty for this agent (`agent.resources.requests` of an agent that sets
        // only limits): before, an empty list `()` (new-user review 13b, N13).
        None if keys.is_empty() => {
            format!("; `{parent}` has no fields for this agent: services.yaml sets none there")
        }
        Some(near) => {
            let mut fixed: Vec<&str> = segments.to_vec();
            fixed[depth] = near;
            format!("; did you mean `{}`?", fixed[..=depth].join("."))
        }
        None => {
            let listed: Vec<String> = keys
                .iter()
                .take(MAX_LISTED)
                .map(|k| format!("`{k}`"))
                .collect();
            let more = if keys.len() > MAX_LISTED { ", …" } else { "" };
            format!(" ({}{more})", listed.join(", "))
        }
    };
    let what = if parent.is_empty() {
        "variable"
    } else {
        "field"
    };
    format!(
        "{whose}: `{path}`: `{wrong}` is not {in_what}{hint} (the {what}s of {fields_of}: \
         docs/templates.md)"
    )
}

/// Every dotted path in `value`, with its JSON types; lists show their items' fields as
/// `path[]`, maps whose keys come from services.yaml stop at the map.
fn collect(
    value: &Json,
    path: &str,
    fields: &mut BTreeMap<String, (BTreeSet<&'static str>, usize)>,
) {
    let kind = match value {
        Json::Null => "none",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "list",
        Json::Object(_) => "map",
    };
    if !path.is_empty() {
        let entry = fields.entry(path.to_string()).or_default();
        entry.0.insert(kind);
        entry.1 += 1;
    }
    if OPEN_MAPS.contains(&path) {
        return;
    }
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                collect(v, &child, fields);
            }
        }
        Json::Array(items) => {
            // Items as their first one shows them (a label is its name: `pr.labels[]` is a
            // string).
            if let Some(first) = items.first()
                && !first.is_array()
            {
                collect(first, &format!("{path}[]"), fields);
            }
        }
        _ => {}
    }
}

const REFERENCE_HEAD: &str = "# Template fields

<!-- Generated from the code: AGENTPODS_BLESS=1 cargo test --test it docs_sync:: -->

What a template (a prompt, a pod or Job template, `concurrency.group`) can use, for each
kind of trigger, read from the context agentpods renders it with. `agentpods validate`
checks every field a template reads against these and names the nearest one when a name
is misspelt (`repo.fullname`: did you mean `repo.full_name`?).

- A field that is not in every delivery of a trigger (\"no\" below) is `none` where it is
  absent: use it with a default (`pr.number if pr else issue.number`, `push.tag or \"\"`),
  or `validate` refuses the template. That holds both for reading into an absent part
  (`pr.title` when `pr` is none) and for printing a field that is itself none
  (`{{ checkout.sha }}` on an unpinned run, `{{ comment.command.task }}` of a command
  given no text, `{{ run.requested_by }}` in comment.md for a run an event started),
  which would show `None` in text and `null` in YAML: `validate` renders each template
  with every sample delivery and says at `FILE:LINE:COL` which field to give a default
  (`x or \"\"`) or to guard with `{% if x %}`. Every trigger has every top-level name;
  those of other triggers are always `none`.
- `task` is the agent's rendered prompt (in its object templates; empty in the prompt
  itself); `comment.command.task` is the text after a comment's command: the rest of its
  line and the lines below it, up to the next command, as written (`none` when there is
  none).
- `images`, `secrets`, `agent.params`, `agent.env` and `run.labels` are maps whose keys
  come from services.yaml (and the run): `images.agent`, `agent.params.push`.
- A list of maps shows its items' fields as `list[].field`: `{% for s in agent.secrets %}`
  then `s.name`; a list of text shows its items as `list[]`. `pr.labels` and
  `issue.labels` are the labels' names (text, not maps), and may be empty: `validate`
  renders with and without labels, so `pr.labels[0]` alone fails there; write
  `pr.labels[0] if pr.labels else \"none\"`, or test `\"bug\" in pr.labels`.
- Branch names may be long and hold any character git allows (`pr.head.ref`): before one
  goes into a label value, make it one with `| label_value`. Repository names are up to
  100 characters, owners up to 39 (`repo.name`, `repo.full_name`), and `validate`'s
  samples are that long: apply `| dns_label` or `| label_value` to the whole of what goes
  into a namespace, a name or a label, not to a part (`\"runs-\" ~ repo.name | dns_label`
  is `runs-` and 63 more).
- `run.token_secret` (the run's GitHub token Secret) is set only when the service makes
  one (with a GitHub App); `agent.description` is `none` for an agent without one (write
  `agent.description or \"…\"`: `validate` refuses a template that prints it as `none`).
- `github.web_url` and `github.api_url` are the GitHub the service talks to
  (`https://github.com` and `https://api.github.com` unless it is given `GITHUB_API_URL`,
  GitHub Enterprise Server): a container that holds the run's token fetches, pushes and
  calls there (`AGENTPODS_GIT_BASE_URL`, `GITHUB_API_URL`), never at github.com.
- Filters beyond minijinja's own: `dns_label`, `label_value` (text to a DNS label or a label
  value), `yaml_quote`, `truncate_chars(n)`.
- Templates are minijinja's (Jinja's syntax) with these settings: `trim_blocks` (the newline
  right after a `{% … %}` tag is dropped, so a line ending in `{% endif %}` runs into the
  next: `bug? {% if x %}yes{% else %}no{% endif %}` then `Title` on the next line gives
  `bug? noTitle`; end such a tag with `+%}`, as `{% endif +%}`, to keep its newline),
  `lstrip_blocks` (spaces before a tag alone on its line are dropped), the template's last
  newline kept, and a strict undefined (a name or field that is not there is an error, not
  empty text).
";

/// The config docs/templates.md is generated with: one agent per kind of trigger, each
/// with a Secret, a param and an env entry so that their shapes show.
const REFERENCE_CONFIG: &str = r#"
project: reference
templates_dir: templates
cluster:
  namespace: agentpods-runs
  service_account: agent
  defaults: { image: agent }
images:
  agent: registry.example.org/agent:1
secrets:
  openai: { name: openai-api-key, key: api-key, env: OPENAI_API_KEY }
agents:
  - name: on-pull-request
    description: "`pull_request`: a pull request opened, pushed to, …"
    templates: [pod.yaml]
    prompt: prompt.md
    secrets: [openai]
    env: { MODE: review }
    params: { push: "false" }
    triggers:
      pull_request: { actions: [opened] }
  - name: on-comment
    description: "`comment`: a command in a comment on an issue or a pull request"
    templates: [pod.yaml]
    prompt: prompt.md
    secrets: [openai]
    env: { MODE: task }
    params: { push: "true" }
    triggers:
      comment: { verbs: [run, review], targets: [issue, pull_request] }
  - name: on-issue
    description: "`issues`: an issue opened, labelled, …"
    templates: [pod.yaml]
    prompt: prompt.md
    secrets: [openai]
    env: { MODE: triage }
    params: { push: "false" }
    triggers:
      issues: { actions: [opened] }
  - name: on-push
    description: "`push`: a branch or a tag pushed"
    templates: [pod.yaml]
    prompt: prompt.md
    secrets: [openai]
    env: { MODE: build }
    params: { push: "false" }
    triggers:
      push: { branches: [main], tags: ["v*"] }
  - name: on-release
    description: "`release`: a release published, …"
    templates: [pod.yaml]
    prompt: prompt.md
    secrets: [openai]
    env: { MODE: notes }
    params: { push: "false" }
    triggers:
      release: { actions: [published] }
"#;

/// Why docs/templates.md cannot be generated: the reference config or the crate's own
/// templates do not load (a change to them broke them).
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("the reference config does not load")]
    Config(#[source] crate::config::ConfigError),
    #[error("the crate's own templates do not load")]
    Templates(#[source] super::RenderError),
    #[error("agent `{agent}`")]
    Sample {
        agent: String,
        #[source]
        source: sample::SampleError,
    },
}

/// docs/templates.md, generated with the crate's own agent pod template.
pub fn reference_markdown() -> Result<String, ReferenceError> {
    let mut templates = crate::config::TemplateSources::new();
    templates.insert(
        "pod.yaml".into(),
        include_str!("../../templates/agent-pod.yaml").into(),
    );
    templates.insert("prompt.md".into(), "{{ repo.full_name }}\n".into());
    templates.insert(
        crate::config::COMMENT_TEMPLATE.into(),
        include_str!("../../templates/comment.md").into(),
    );
    let loaded: LoadedConfig = crate::config::parse(REFERENCE_CONFIG, "reference.yaml", templates)
        .map_err(ReferenceError::Config)?;
    let engine = Engine::new(&loaded).map_err(ReferenceError::Templates)?;
    for agent in &loaded.config.agents {
        sample::samples(agent).map_err(|source| ReferenceError::Sample {
            agent: agent.name.to_string(),
            source,
        })?;
    }
    Ok(engine.field_reference())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template that reads a secret by name, in an agent that runs beyond the secret's
    /// repositories, is refused where it reads it: runs of the other repositories would
    /// not find it.
    #[test]
    fn a_template_reading_a_secret_beyond_its_repositories_is_refused_where_it_reads_it() {
        let config = |agent_repositories: &str| {
            format!(
                "project: demo
cluster: {{namespace: runs}}
images: {{agent: ghcr.io/acme/agent:1}}
secrets:
  team: {{name: team-key, key: k, repositories: [\"acme/a\"]}}
agents:
  - name: job
    templates: [job.yaml]
    {agent_repositories}
    triggers:
      push: {{tags: [\"v*\"]}}
"
            )
        };
        // A ConfigMap that reads the secret's name, beside the run's pod.
        let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\ndata:\n  key: {{ secrets.team.name }}\n---\n\
            apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ run.name }}\nspec:\n  restartPolicy: Never\n\
            \x20 securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n\
            \x20 containers:\n    - name: a\n      image: {{ agent.image }}\n\
            \x20     securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";
        let problems = |agent_repositories: &str| {
            let templates = [("job.yaml".to_string(), template.to_string())].into();
            let loaded =
                crate::config::parse(&config(agent_repositories), "services.yaml", templates)
                    .unwrap_or_else(|e| panic!("{e}"));
            let engine = Engine::new(&loaded).unwrap_or_else(|e| panic!("{e}"));
            engine
                .sample_problems(None)
                .into_iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(problems("repositories: [\"acme/a\"]"), Vec::<String>::new());
        let found = problems("repositories: [\"acme/a\", \"acme/b\"]");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("templates/job.yaml:6:")
                && found[0].contains("secret `team` is only for `acme/a`"),
            "{found:#?}"
        );
        assert_eq!(problems("").len(), 1, "an agent for every repository");
    }

    #[test]
    fn a_path_is_found_wherever_it_is_written() {
        let source = "a: {{ repo.fullname }}\nb: {{ x.repo.fullname }} {{repo . fullname|upper}}\n";
        assert_eq!(
            positions(source, "repo.fullname"),
            vec![Pos { line: 1, col: 7 }, Pos { line: 2, col: 28 }]
        );
        assert_eq!(
            positions("{{ repo['x'] }}", "repo.x"),
            vec![Pos { line: 1, col: 1 }]
        );
    }

    #[test]
    fn the_reference_generates() {
        let text = reference_markdown().expect("the reference");
        assert!(
            text.contains("| `repo.full_name` | string | yes |"),
            "{text}"
        );
        assert!(text.contains("| `comment.command.task` |"), "{text}");
        assert!(
            text.contains("| `agent.description` | string | no: `none` in some |"),
            "an agent may have no description: {text}"
        );
        assert!(
            text.contains("| `agent.secrets[].name` | string |"),
            "{text}"
        );
    }
}
