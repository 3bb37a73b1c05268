//! What `agentpods validate` (and `serve`, when it loads or reloads its config) finds by
//! rendering every template of every agent for every trigger it has, with the sample events
//! of `sample`: an undefined variable, a filter misused, an optional part of an event used
//! without a default, an output that is not a valid object, a pod its Pod Security level
//! forbids. Each problem is reported at `FILE:LINE:COL` with the agent and the trigger, so
//! none of them waits for a delivery to become a 500.

use crate::config::FileDiagnostic;
use crate::config::formats::quantity_value;
use crate::config::yaml::Pos;

use super::pod_names::pod_spec;
use super::sample::Rendered;
use super::{Engine, K8sObject, NAMESPACE_TEMPLATE, RenderError, Spot, sample, token_reach};

/// Longest source text quoted in a message.
const MAX_QUOTED: usize = 80;

/// Filter names a misspelt one is compared with (those the engine has: minijinja's, with
/// the features built in, and ours).
const FILTER_NAMES: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "dns_label",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "label_value",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "truncate_chars",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
    "yaml_quote",
    "zip",
];

impl Engine {
    /// Agents whose token may write and whose templates give it to a container that runs
    /// the agent's command (anything but `agentpods agent --phase checkout|publish`): a
    /// warning each, at the line that names the container. The default template gives
    /// the token to agentpods' own steps only (docs/agent.md, The three steps).
    pub fn token_warnings(&self) -> Vec<FileDiagnostic> {
        const SAMPLE_SECRET: &str = "validate-run-github-token";
        let mut found = Vec::new();
        for agent in &self.config.agents {
            let writes = agent.github_token.writes();
            if writes.is_empty() {
                continue;
            }
            let Ok(samples) = sample::samples(agent) else {
                continue;
            };
            let mut holding: Vec<String> = Vec::new();
            let mut publishing: Vec<String> = Vec::new();
            for s in &samples {
                self.each_pod_with_token(s, SAMPLE_SECRET, &mut |spec| {
                    for (found, names) in [
                        (
                            &mut holding,
                            token_reach::agent_containers_holding(spec, SAMPLE_SECRET),
                        ),
                        (
                            &mut publishing,
                            token_reach::publishing_from_the_checkout(spec, SAMPLE_SECRET),
                        ),
                    ] {
                        for name in names {
                            if !found.contains(&name) {
                                found.push(name);
                            }
                        }
                    }
                });
            }
            for container in holding {
                let (file, pos) = self.container_line(&agent.templates, &container);
                found.push(FileDiagnostic {
                    file,
                    pos,
                    message: format!(
                        "warning: agent `{}`'s token may write ({}), and its template gives it to \
                         container `{container}`, which runs the agent's command: an agent talked \
                         into it by a title, a comment or the repository could push, merge, \
                         approve or comment as the App with it. Give the token only to \
                         `agentpods agent --phase checkout` and `--phase publish`, and run the \
                         agent in a container without it, as templates/agent-pod.yaml does \
                         (docs/agent.md, The three steps)",
                        agent.name,
                        writes.join(", ")
                    ),
                });
            }
            for container in publishing {
                let (file, pos) = self.container_line(&agent.templates, &container);
                found.push(FileDiagnostic {
                    file,
                    pos,
                    message: format!(
                        "warning: agent `{}`'s token may write ({}), and container \
                         `{container}` (`--phase publish`) holds it without `--changes-dir`: it \
                         commits and pushes from the agent's checkout, running git on files \
                         the agent wrote (a filter, a hook, a nested repository can run a \
                         program there) while the token is readable. Give it `--objects-dir`, \
                         `--changes-dir` and `--publish-dir`, the checkout step \
                         `--objects-dir` and the agent's step `--changes-dir`, and do not mount \
                         the checkout in it, as templates/agent-pod.yaml does (docs/agent.md, \
                         The three steps)",
                        agent.name,
                        writes.join(", ")
                    ),
                });
            }
        }
        found
    }

    /// Agents whose token asks for what no step of their pod uses, or lacks what the
    /// checkout needs, when their templates give it only to agentpods' own steps (as the
    /// shipped one does): the checkout clones with `contents`, the publish step pushes
    /// with `contents: write` and opens a pull request with `pull_requests: write`, and
    /// the agent's process never holds it. A warning each, at the agent's `github_token`
    /// in services.yaml (`config_text`; its first line without it). New-user review 13e,
    /// N4: `github_token: { issues: write }` for a triage agent was taken without a word,
    /// minted for nothing the agent could reach, and dropped the default `contents: read`.
    pub fn token_scope_warnings(&self, config_text: Option<&str>) -> Vec<FileDiagnostic> {
        const SAMPLE_SECRET: &str = "validate-run-github-token";
        const USED: [&str; 3] = ["contents", "pull_requests", "metadata"];
        let tree = config_text.and_then(|t| crate::config::yaml::parse(t).ok());
        let mut found = Vec::new();
        for (i, agent) in self.config.agents.iter().enumerate() {
            let Some(permissions) = agent.github_token.permissions() else {
                continue;
            };
            let unused: Vec<String> = permissions
                .iter()
                .filter(|(name, _)| !USED.contains(&name.as_str()))
                .map(|(name, access)| format!("`{name}: {}`", access.as_str()))
                .collect();
            let no_contents = !permissions.contains_key("contents");
            if unused.is_empty() && !no_contents {
                continue;
            }
            let Ok(samples) = sample::samples(agent) else {
                continue;
            };
            // Only where the agent's own process never holds the token: a template of
            // one's own that gives it the token may need more (and is warned of apart).
            let mut rendered_any = false;
            let mut agent_holds = false;
            for s in &samples {
                rendered_any |= self.each_pod_with_token(s, SAMPLE_SECRET, &mut |spec| {
                    agent_holds |=
                        !token_reach::agent_containers_holding(spec, SAMPLE_SECRET).is_empty();
                });
            }
            if !rendered_any || agent_holds {
                continue;
            }
            let path = ["agents".to_string(), i.to_string(), "github_token".into()];
            let pos = tree
                .as_ref()
                .map_or(Pos { line: 1, col: 1 }, |t| t.pos_of(&path));
            let mut said = Vec::new();
            if !unused.is_empty() {
                said.push(format!(
                    "asks for {}, which no step of its pod uses: its templates give the token \
                     only to agentpods' own steps (the checkout clones with `contents`, the \
                     publish step pushes with `contents: write` and opens a pull request with \
                     `pull_requests: write`), never to the agent's process (docs/agent.md, The \
                     three steps); leave {} out",
                    unused.join(", "),
                    if unused.len() == 1 { "it" } else { "them" }
                ));
            }
            if no_contents {
                said.push(
                    "has no `contents` permission, which a map of permissions replaces the \
                     default `contents: read` with: the checkout of a private repository fails \
                     without it; add `contents: read`"
                        .to_string(),
                );
            }
            found.push(FileDiagnostic {
                file: self.config_path.clone(),
                pos,
                message: format!(
                    "warning: agent `{}`'s token {}",
                    agent.name,
                    said.join("; and it ")
                ),
            });
        }
        found
    }

    /// Renders sample `s` with its token in the Secret `secret` and shows `each` the spec of
    /// every pod and Job's pod it makes; false when it does not render.
    fn each_pod_with_token(
        &self,
        s: &sample::Sample,
        secret: &str,
        each: &mut dyn FnMut(&k8s_openapi::api::core::v1::PodSpec),
    ) -> bool {
        let Ok(run) = self.render_run_with_token(
            &s.event,
            "validate",
            &s.launch,
            s.pr.as_ref(),
            Some(secret),
        ) else {
            return false;
        };
        for object in &run.objects {
            let spec = match object {
                K8sObject::Pod(p) => p.spec.as_ref(),
                K8sObject::Job(j) => j.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
                _ => None,
            };
            if let Some(spec) = spec {
                each(spec);
            }
        }
        true
    }

    /// Where one of `templates` names the container `name` (`- name: NAME`), else the
    /// first template's first line.
    fn container_line(&self, templates: &[String], name: &str) -> (String, Pos) {
        for template in templates {
            let Some(source) = self.sources.get(template) else {
                continue;
            };
            for (i, line) in source.lines().enumerate() {
                let trimmed = line.trim_start();
                let value = trimmed
                    .strip_prefix("- name:")
                    .or_else(|| trimmed.strip_prefix("name:"))
                    .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\''));
                if value == Some(name) {
                    let col = line.len() - trimmed.len() + 1;
                    return (self.file_of(template), Pos { line: i + 1, col });
                }
            }
        }
        let first = templates.first().map(String::as_str).unwrap_or_default();
        (self.file_of(first), Pos { line: 1, col: 1 })
    }

    /// Every problem the sample deliveries meet, each once (at its first trigger), sorted.
    /// `config_text` is services.yaml's text, to point into templates written inside it
    /// (`cluster.namespace_template`, `concurrency.group`); without it they point at its
    /// first line.
    pub fn sample_problems(&self, config_text: Option<&str>) -> Vec<FileDiagnostic> {
        // Every misspelt field at once, each where it is written (a render stops at the
        // first); the render's own "undefined value" on those lines says nothing more.
        let mut found: Vec<FileDiagnostic> = self.field_problems(config_text);
        found.extend(self.description_problems());
        let nones = self.none_printed_problems(config_text);
        let none_files: Vec<String> = nones.iter().map(|d| d.file.clone()).collect();
        found.extend(nones);
        let fields: Vec<(String, usize)> =
            found.iter().map(|d| (d.file.clone(), d.pos.line)).collect();
        // Every unknown filter at once too; the render's own error on those lines likewise.
        let filters = self.filter_problems();
        let filter_lines: Vec<(String, usize)> = filters
            .iter()
            .map(|d| (d.file.clone(), d.pos.line))
            .collect();
        found.extend(filters);
        let mut seen: Vec<(String, Pos)> = Vec::new();
        // The namespace as the samples render it fails where this says more (which name of
        // a repository makes it fail, and how): said once, by this.
        let namespace = self.namespace_problem(config_text);
        if let Some(d) = &namespace {
            seen.push((d.file.clone(), d.pos));
        }
        for agent in &self.config.agents {
            let samples = match sample::samples(agent) {
                Ok(samples) => samples,
                Err(e) => {
                    // Not a sample fewer: the agent's templates are not checked at all.
                    found.push(FileDiagnostic {
                        file: self.config_path.clone(),
                        pos: Pos { line: 1, col: 1 },
                        message: format!(
                            "agent `{}`: {e}; its templates cannot be checked (a fault of \
                             agentpods, not of the config: please report it)",
                            agent.name
                        ),
                    });
                    continue;
                }
            };
            // Where each image and Secret name of the agent's pods was first seen.
            let mut names = super::pod_names::FirstSeen::new();
            for s in samples {
                // The run as a delivery makes it (which stops at its first error), then each
                // template on its own, so that one broken template hides no other.
                let mut errors: Vec<RenderError> = self
                    .render_run(&s.event, "validate", &s.launch, s.pr.as_ref())
                    .err()
                    .into_iter()
                    .collect();
                let mut rendered = Rendered::new();
                errors.extend(self.render_each(agent, &s, &mut rendered));
                if errors.is_empty() {
                    errors.extend(self.lifecycle_problems(agent, &s, &mut rendered));
                    errors.extend(self.pod_name_problems(agent, &s, &mut names, &mut rendered));
                }
                for e in &errors {
                    let (file, pos, what) = self.locate(e, config_text, &rendered);
                    let what = plain_conversion(what);
                    // One line per place: the same mistake seen by another agent or trigger
                    // (with its own names in the message) is the same mistake.
                    let key = (file.clone(), pos);
                    // On a misspelt field's line, what the render met next of it (it is
                    // undefined, or a filter was given none for it) follows from the
                    // misspelling: "give it a default" would hide a name that is not there.
                    if seen.contains(&key)
                        || ((what.contains("undefined value: ") || what.contains("is none"))
                            && fields.contains(&(file.clone(), pos.line)))
                        || (what.starts_with("unknown filter")
                            && filter_lines.contains(&(file.clone(), pos.line)))
                        // A field printed as `none` is reported where it is written; what a
                        // YAML template's `null` then fails (a string `args` item) follows.
                        || (what.contains("invalid type: null") && none_files.contains(&file))
                    {
                        continue;
                    }
                    seen.push(key);
                    // The sample's hint about an absent part is for an undefined value only.
                    let (trigger, never) = if what.contains("undefined value") {
                        let never = self
                            .never_there(agent, &s, &what)
                            .or_else(|| self.map_loop_hint(&file, &what));
                        (s.trigger.as_str(), never)
                    } else {
                        (
                            super::fields::without_hint(&s.trigger),
                            argument_hint(&what),
                        )
                    };
                    found.push(FileDiagnostic {
                        file,
                        pos,
                        message: format!(
                            "agent `{}`, {trigger}: {what}{}",
                            agent.name,
                            never.unwrap_or_default()
                        ),
                    });
                }
            }
        }
        found.extend(namespace);
        for e in self.comment_problems() {
            let (file, pos, what) = self.locate(&e.1, config_text, &Rendered::new());
            let key = (file.clone(), pos);
            if seen.contains(&key)
                || (what.contains("undefined value: ")
                    && fields.contains(&(file.clone(), pos.line)))
            {
                continue;
            }
            seen.push(key);
            found.push(FileDiagnostic {
                file,
                pos,
                message: format!("the run's comment, {}: {what}", e.0),
            });
        }
        found.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        found
    }

    /// `comment.md` rendered as the reports render it: while a run runs (asked for by
    /// someone or not, with a details page or not) and when it has ended with each of
    /// GitHub's conclusions (its duration known or not). Nothing when the config posts no
    /// comments or the folder has no `comment.md` (the config check says so).
    fn comment_problems(&self) -> Vec<(String, RenderError)> {
        let name = crate::config::COMMENT_TEMPLATE;
        if !self.config.github.report.comment || !self.sources.contains_key(name) {
            return Vec::new();
        }
        let cases = super::comment::samples(&self.config.github.command_prefix);
        cases
            .into_iter()
            .filter_map(|(case, context)| {
                self.render_named(name, &context).err().map(|e| (case, e))
            })
            .collect()
    }

    /// Every filter a template names that does not exist (`| uppercase`), at each place
    /// it is written, with the nearest one that does: read from the templates' tokens, as a
    /// render stops at its first error and meets only the filters of the branches it takes.
    fn filter_problems(&self) -> Vec<FileDiagnostic> {
        use minijinja::machinery::{Token, tokenize};
        let mut out = Vec::new();
        let known = self.known_filters();
        for (name, source) in &self.sources {
            let Ok(tokens) = tokenize(source, false, crate::template::syntax_config())
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            for pair in tokens.windows(2) {
                let (Token::Pipe | Token::Ident("filter"), _) = &pair[0] else {
                    continue;
                };
                let (Token::Ident(filter), span) = &pair[1] else {
                    continue;
                };
                if self.has_filter(filter) {
                    continue;
                }
                let hint = filter_hint(filter, &known);
                out.push(FileDiagnostic {
                    file: self.file_of(name),
                    pos: Pos {
                        line: usize::from(span.start_line),
                        col: usize::from(span.start_col) + 1,
                    },
                    message: format!("unknown filter `{filter}`{hint}"),
                });
            }
        }
        out
    }

    /// The filters this engine has, of the names of [`FILTER_NAMES`].
    fn known_filters(&self) -> Vec<&'static str> {
        FILTER_NAMES
            .iter()
            .copied()
            .filter(|f| self.has_filter(f))
            .collect()
    }

    /// Whether the engine has a filter of this name (an identifier).
    fn has_filter(&self, name: &str) -> bool {
        let probe = format!("{{{{ \"\" | {name} }}}}");
        match self.env.render_str(&probe, ()) {
            Ok(_) => true,
            Err(e) => e.kind() != minijinja::ErrorKind::UnknownFilter,
        }
    }

    /// What to say of an undefined value whose first name a sample of this kind never has
    /// (`pr` on an issue, `comment` on a `pull_request` event): the usual mistake once a
    /// second trigger is given to an agent whose template was written for the first
    /// (new-user review 13e, N5: before, a bare "undefined value"). None where the sample
    /// says already that the part is absent only then, or the name is there.
    fn never_there(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
        what: &str,
    ) -> Option<String> {
        if super::fields::without_hint(&s.trigger) != s.trigger {
            return None;
        }
        let (expr, root) = undefined_expression(what)?;
        // minijinja names the part it stopped at and, after it, the whole path relative to
        // the first name (`comment.user` is undefined (in `.user.login`)).
        let whole = what
            .split_once("(in `.")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(path, _)| format!("{root}.{path}"));
        let expr = whole.as_deref().unwrap_or(expr);
        let context = serde_json::to_value(self.sample_context(agent, s)?).ok()?;
        // A name no trigger has is the template's own (a loop's, a `set`'s): not absent.
        context
            .get(root)
            .is_some_and(serde_json::Value::is_null)
            .then(|| {
                format!(
                    " (`{root}` is never there for {}: write `{expr} if {root} else …`, or give \
                 this trigger an agent of its own with its own template)",
                    s.trigger
                )
            })
    }

    /// What to say of an undefined value read from the variable of a loop over a map
    /// services.yaml fills (`{% for s in secrets %}` then `s.name`): such a loop gives the
    /// map's keys, not its entries (new-user review 13e, N8: before, the hint said `s` was
    /// never there for the trigger).
    fn map_loop_hint(&self, file: &str, what: &str) -> Option<String> {
        let (expr, root) = undefined_expression(what)?;
        let (_, source) = self.sources.iter().find(|(n, _)| self.file_of(n) == file)?;
        let map = ["secrets", "images", "agent.params", "agent.env"]
            .into_iter()
            .find(|map| {
                source.match_indices("for ").any(|(at, _)| {
                    let mut words = source[at + 4..].split_whitespace();
                    words.next() == Some(root)
                        && words.next() == Some("in")
                        && words
                            .next()
                            .is_some_and(|m| m.trim_end_matches(['%', '-']) == *map)
                })
            })?;
        let instead = match map {
            "secrets" => format!(
                ": for the agent's own secrets with their fields, write `{{% for {root} in \
                 agent.secrets %}}` (`{root}.name`, `{root}.key`, `{root}.env`)"
            ),
            _ => String::new(),
        };
        Some(format!(
            " (`{{% for {root} in {map} %}}` gives the keys of `{map}`, a map, so `{root}` is a \
             key, not an entry{instead}; or write `{{% for key, {root} in {map} | items %}}` \
             and `{expr}`)"
        ))
    }

    /// The context a sample delivery gives `agent`'s templates (none for an agent the
    /// engine has no constants of).
    pub(super) fn sample_context<'a>(
        &'a self,
        agent: &'a crate::config::Agent,
        s: &'a sample::Sample,
    ) -> Option<super::TemplateContext<'a>> {
        let constants = self.constants.get(agent.name.as_str())?;
        Some(super::TemplateContext::new(
            &self.config,
            agent,
            &s.event,
            "validate",
            &s.launch,
            s.pr.as_ref(),
            constants,
        ))
    }

    /// The errors of each part of a sample run rendered on its own: the concurrency group,
    /// the prompt, and each YAML template (with the sample task when the prompt fails).
    fn render_each(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
        rendered: &mut Rendered,
    ) -> Vec<RenderError> {
        let Some(mut ctx) = self.sample_context(agent, s) else {
            return Vec::new();
        };
        let value = minijinja::Value::from(minijinja::value::Serde(&ctx));
        let mut errors = Vec::new();
        if agent.concurrency.is_some()
            && let Err(e) = self.render_value(
                &super::concurrency_template(&self.config.agents, agent.name.as_str()),
                &value,
            )
        {
            errors.push(e);
        }
        ctx.task = match &agent.prompt {
            Some(prompt) => self.render_value(prompt, &value).unwrap_or_else(|e| {
                errors.push(e);
                s.launch.task.clone().unwrap_or_default()
            }),
            None => s.launch.task.clone().unwrap_or_default(),
        };
        let value = minijinja::context! { task => ctx.task.as_str(), ..value };
        for name in &agent.templates {
            let shown = format!("{}/{name}", self.templates_dir);
            if let Err(e) = self.render_objects(name, &shown, &value) {
                if let Ok(text) = self.render_value(name, &value) {
                    rendered.insert(name.clone(), text);
                }
                errors.push(e);
            }
        }
        errors
    }

    /// `cluster.namespace_template` rendered for repositories named as GitHub allows and a
    /// DNS label does not: upper case, `_`, `.` (a template that prints `repo.name` or
    /// `repo.owner` as they are works for a plain name and fails on every delivery from
    /// such a repository), then an owner and a name as long as GitHub allows (a template
    /// that puts words around `repo.full_name | dns_label`, or applies it to a part, makes
    /// a namespace past 63 characters). Once, for the first agent whose `repositories` take
    /// one in. The samples' own renders of it are this check's to report (see
    /// `sample_problems`).
    fn namespace_problem(&self, config_text: Option<&str>) -> Option<FileDiagnostic> {
        use crate::github::event::{MAX_OWNER_LEN, MAX_REPO_NAME_LEN};
        let template = self.config.cluster.namespace_template.as_ref()?;
        for agent in &self.config.agents {
            let Some(example) = agent.scope().example() else {
                continue;
            };
            let Some((owner, name)) = example.split_once('/') else {
                continue;
            };
            let odd = [
                "Example-Org/My_Repo.JS".to_string(),
                format!("{owner}/My_Repo.JS"),
                format!("Example-Org/{name}"),
            ]
            .into_iter()
            .find(|r| agent.scope().admits(r));
            let long = agent.scope().longest_example();
            // A sample that cannot be built is `sample_problems`' to report.
            let Some(first) = sample::first(agent) else {
                continue;
            };
            let candidates = [(odd, false), (long, true)];
            for (repository, long) in candidates {
                let Some(repository) = repository else {
                    continue;
                };
                let Some(namespace) = self.namespace_for(agent, &first, &repository) else {
                    continue;
                };
                let Some(why) = super::objects::dns_label_problem(&namespace) else {
                    continue;
                };
                let source = template.to_string();
                let pos = config_text
                    .and_then(|text| Some(Pos::at_byte(text, text.find(source.as_str())?)))
                    .unwrap_or(Pos { line: 1, col: 1 });
                let (o, n) = repository.split_once('/')?;
                let (repository, allows, fix) = if long {
                    (
                        format!(
                            "`{}/{}`",
                            crate::text::clip(o, 11),
                            crate::text::clip(n, 16)
                        ),
                        format!(
                            " (an owner of {} characters and a name of {}; GitHub allows up to \
                             {MAX_OWNER_LEN} and {MAX_REPO_NAME_LEN})",
                            o.chars().count(),
                            n.chars().count()
                        ),
                        "apply `| dns_label` to the whole name, not to a part of it: it cuts a \
                         name past 63 characters and keeps it apart from others with a hash, \
                         e.g. `{{ (\"runs-\" ~ repo.full_name ~ \"-\" ~ (pr.number if pr else \
                         issue.number if issue else \"other\")) | dns_label }}`",
                    )
                } else {
                    (
                        format!("`{repository}`"),
                        " (GitHub allows upper case, `_` and `.` in names)".to_string(),
                        "make it one with `| dns_label`, e.g. `{{ (\"runs-\" ~ repo.name) | \
                         dns_label }}`",
                    )
                };
                return Some(FileDiagnostic {
                    file: self.config_path.clone(),
                    pos,
                    message: format!(
                        "{NAMESPACE_TEMPLATE}: for a repository {repository}{allows} it renders \
                         `{}`, which {why}, so it is not a valid DNS label and every delivery \
                         from such a repository would fail; {fix}",
                        crate::config::formats::shorten(&namespace)
                    ),
                });
            }
        }
        None
    }

    /// The namespace `cluster.namespace_template` renders for sample `s` of `agent` with its
    /// repository renamed `repository`; `None` when it does not render (the samples' own
    /// renders report why) or the name is not one GitHub gives.
    fn namespace_for(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
        repository: &str,
    ) -> Option<String> {
        let mut s = sample::Sample {
            trigger: s.trigger.clone(),
            event: s.event.clone(),
            launch: s.launch.clone(),
            pr: s.pr.clone(),
        };
        let full_name: crate::github::event::RepoFullName = repository.parse().ok()?;
        let r = s.event.repository.as_mut()?;
        r.owner = full_name.owner().to_string();
        r.name = full_name.name().to_string();
        r.full_name = full_name;
        let ctx = self.sample_context(agent, &s)?;
        let value = minijinja::Value::from(minijinja::value::Serde(&ctx));
        let namespace = self.render_value(NAMESPACE_TEMPLATE, &value).ok()?;
        Some(namespace.trim().to_string())
    }

    /// What a sample run that renders would meet after it is recorded: its templates as two
    /// runs (the sample's run name and another), checked for what the API server refuses
    /// (a `restartPolicy` a Pod or Job may not have, a request above its limit) and what
    /// breaks a run's lifecycle (no Pod or Job to follow, or more than one; a Pod that
    /// restarts instead of ending; a name that does not change with the run, which a second
    /// run would collide with). Each is an object error, placed at its field.
    fn lifecycle_problems(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
        rendered: &mut Rendered,
    ) -> Vec<RenderError> {
        let other = sample::Sample {
            trigger: s.trigger.clone(),
            event: s.event.clone(),
            launch: crate::plan::Launch {
                run_name: crate::names::RunName::or_made(&format!("{}-other", s.launch.run_name)),
                ..s.launch.clone()
            },
            pr: s.pr.clone(),
        };
        let (Some(first), Some(second)) = (
            self.sample_objects(agent, s),
            self.sample_objects(agent, &other),
        ) else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        let mut workloads: Vec<(&str, usize, &'static str)> = Vec::new();
        for ((name, objects), (_, again)) in first.iter().zip(&second) {
            let shown = format!("{}/{name}", self.templates_dir);
            let error = |document: usize, field: String, message: String| RenderError::Object {
                template: shown.clone(),
                document,
                field,
                message,
            };
            let before = errors.len();
            for (i, object) in objects.iter().enumerate() {
                let document = i + 1;
                let fixed = object.metadata().name.as_deref().filter(|n| {
                    again
                        .get(i)
                        .is_some_and(|o| o.metadata().name.as_deref() == Some(*n))
                });
                if let Some(fixed) = fixed {
                    errors.push(error(
                        document,
                        "metadata.name".into(),
                        format!(
                            "the {} is named `{fixed}` in every run, so a second run would \
                             collide with the first (AlreadyExists); name it from the run: \
                             `{{{{ run.name }}}}`, or `{{{{ run.name ~ \"-suffix\" }}}}`",
                            object.kind()
                        ),
                    ));
                }
                let Some((spec, at)) = pod_spec(object) else {
                    continue;
                };
                workloads.push((name.as_str(), document, object.kind()));
                if let Some((field, message)) = restart_policy_problem(object.kind(), spec, at) {
                    errors.push(error(document, field, message));
                }
                for (field, message) in requests_above_limits(spec, at) {
                    errors.push(error(document, field, message));
                }
            }
            if errors.len() > before
                && let Ok(text) = self.render_value(name, &self.sample_value(agent, s))
            {
                rendered.insert(name.clone(), text);
            }
        }
        let listed = || {
            agent
                .templates
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match workloads.as_slice() {
            [] => {
                if let Some(first) = agent.templates.first() {
                    errors.push(RenderError::Object {
                        template: format!("{}/{first}", self.templates_dir),
                        document: 0,
                        field: String::new(),
                        message: format!(
                            "the run's templates ({}) render no Pod and no Job, so nothing \
                             would run and the run would wait out its `pending_timeout`; a \
                             run's templates make one Pod or one Job (check the `{{% if %}}`s \
                             around it)",
                            listed()
                        ),
                    });
                }
            }
            [_] => {}
            [(first_name, first_doc, first_kind), rest @ ..] => {
                let (name, document, kind) = rest[0];
                errors.push(RenderError::Object {
                    template: format!("{}/{name}", self.templates_dir),
                    document,
                    field: String::new(),
                    message: format!(
                        "a second workload: this {kind}, after the {first_kind} of \
                         `{first_name}` (document {first_doc}); the controller follows one Pod \
                         or one Job a run, so make the run's templates render only one"
                    ),
                });
            }
        }
        errors
    }

    /// The objects each YAML template of `agent` renders for a sample delivery (with the
    /// sample task), by template name; `None` when one fails (that is reported already).
    pub(super) fn sample_objects(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
    ) -> Option<Vec<(String, Vec<super::K8sObject>)>> {
        self.objects_for(agent, &self.sample_value(agent, s))
    }

    /// The objects each YAML template of `agent` renders with the context `value`, by
    /// template name; `None` when one fails.
    pub(super) fn objects_for(
        &self,
        agent: &crate::config::Agent,
        value: &minijinja::Value,
    ) -> Option<Vec<(String, Vec<super::K8sObject>)>> {
        agent
            .templates
            .iter()
            .map(|name| {
                let shown = format!("{}/{name}", self.templates_dir);
                let objects = self.render_objects(name, &shown, value).ok()?;
                Some((name.clone(), objects))
            })
            .collect()
    }

    /// The context a sample delivery gives `agent`'s YAML templates, with the sample task.
    pub(super) fn sample_value(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
    ) -> minijinja::Value {
        let Some(ctx) = self.sample_context(agent, s) else {
            return minijinja::Value::UNDEFINED;
        };
        let value = minijinja::Value::from(minijinja::value::Serde(&ctx));
        let task = s.launch.task.clone().unwrap_or_default();
        minijinja::context! { task => task, ..value }
    }

    /// The file, position and description (without the file) of a render error.
    pub(super) fn locate(
        &self,
        e: &RenderError,
        config_text: Option<&str>,
        rendered: &Rendered,
    ) -> (String, Pos, String) {
        let start = Pos { line: 1, col: 1 };
        match e {
            RenderError::Template {
                template,
                message,
                spot,
            } => {
                let what = strip_line(message);
                let Some(Spot { name, line, range }) = spot.as_deref() else {
                    return (template.clone(), start, what);
                };
                if let Some(source) = self.sources.get(name) {
                    let pos = match (range, line) {
                        (Some(r), _) => Pos::at_byte(source, r.start),
                        (None, Some(l)) => Pos { line: *l, col: 1 },
                        (None, None) => start,
                    };
                    let what = with_quote(what, source, range.as_ref());
                    return (self.file_of(name), pos, what);
                }
                // A template written inside services.yaml, named by its key.
                let source = self.config_template(name);
                let pos = config_text
                    .zip(source.as_ref())
                    .and_then(|(text, source)| {
                        let at = text.find(source.as_str())?;
                        Some(Pos::at_byte(
                            text,
                            at + range.as_ref().map_or(0, |r| r.start),
                        ))
                    })
                    .unwrap_or(start);
                // minijinja's "unknown filter: filter x is unknown", with the one likely
                // meant, as in a template file (new-user review 13c, N13).
                let what = match what
                    .strip_prefix("unknown filter: filter ")
                    .and_then(|rest| rest.strip_suffix(" is unknown"))
                {
                    Some(filter) => format!(
                        "unknown filter `{filter}`{}",
                        filter_hint(filter, &self.known_filters())
                    ),
                    None => what,
                };
                let what = match &source {
                    Some(source) => with_quote(what, source, range.as_ref()),
                    None => what,
                };
                (self.config_path.clone(), pos, format!("{name}: {what}"))
            }
            RenderError::Object {
                template,
                document,
                field,
                message,
            }
            | RenderError::PodSecurity {
                template,
                document,
                field,
                message,
            } => {
                let name = self.name_of(template);
                let pos = self.sources.get(name).map_or(start, |source| {
                    rendered
                        .get(name)
                        .and_then(|text| field_pos_rendered(source, text, *document, field))
                        .unwrap_or_else(|| field_pos(source, *document, field))
                });
                let what = if *document == 0 {
                    // About the run as a whole, not one of its documents.
                    message.clone()
                } else if field.is_empty() {
                    format!("document {document}: {message}")
                } else {
                    format!("document {document}, field `{field}`: {message}")
                };
                (self.file_of(name), pos, what)
            }
            RenderError::Yaml { template, message } => {
                let name = self.name_of(template);
                let found = self
                    .sources
                    .get(name)
                    .zip(rendered.get(name))
                    .and_then(|(source, text)| yaml_fault(source, text, message));
                match found {
                    Some((pos, what)) => (
                        self.file_of(name),
                        pos,
                        format!("the output is not valid YAML: {what}"),
                    ),
                    None => (
                        self.file_of(name),
                        start,
                        format!("the output is not valid YAML: {message}"),
                    ),
                }
            }
            RenderError::BadName { template, .. } => {
                let pos = config_text
                    .zip(self.config_template(template))
                    .and_then(|(text, source)| text.find(source.as_str()))
                    .zip(config_text)
                    .map_or(start, |(at, text)| Pos::at_byte(text, at));
                (self.config_path.clone(), pos, e.to_string())
            }
            RenderError::UnknownAgent(_)
            | RenderError::NotForRepository { .. }
            | RenderError::SecretNotForRepository { .. } => {
                (self.config_path.clone(), start, e.to_string())
            }
        }
    }

    /// A template's path as the user can open it: in the folder it was read from.
    pub(super) fn file_of(&self, name: &str) -> String {
        format!("{}/{name}", self.shown_dir)
    }

    /// The template name in a render error's `templates_dir/name`.
    fn name_of<'t>(&self, shown: &'t str) -> &'t str {
        shown
            .strip_prefix(&self.templates_dir)
            .and_then(|s| s.strip_prefix('/'))
            .unwrap_or(shown)
    }

    /// The source of a template written inside services.yaml.
    pub(super) fn config_template(&self, name: &str) -> Option<String> {
        if name == NAMESPACE_TEMPLATE {
            return self
                .config
                .cluster
                .namespace_template
                .as_ref()
                .map(|t| t.to_string());
        }
        self.config
            .agents
            .iter()
            .find(|a| super::concurrency_template(&self.config.agents, a.name.as_str()) == name)
            .and_then(|a| a.concurrency.as_ref())
            .map(|c| c.group.to_string())
    }
}

/// What is wrong with a workload's `restartPolicy`: a Pod's must be `Never` (else the agent
/// is restarted when it ends, and the run only ends at its timeout); a Job's pod template's
/// `Never` or `OnFailure` (the API server refuses any other, and its default `Always`).
fn restart_policy_problem(
    kind: &str,
    spec: &k8s_openapi::api::core::v1::PodSpec,
    at: &str,
) -> Option<(String, String)> {
    const KNOWN: [&str; 3] = ["Always", "OnFailure", "Never"];
    let field = format!("{at}.restartPolicy");
    let policy = spec.restart_policy.as_deref();
    let message = match (kind, policy) {
        ("Pod", Some("Never")) | ("Job", Some("Never" | "OnFailure")) => return None,
        (_, Some(other)) if !KNOWN.contains(&other) => format!(
            "the API server refuses `restartPolicy: {other}`: it is one of Always, OnFailure or \
             Never{}; a run's {kind} needs `restartPolicy: Never`{}",
            crate::suggest::did_you_mean(other, KNOWN)
                .map(|m| format!(" (did you mean `{m}`?)"))
                .unwrap_or_default(),
            if kind == "Job" {
                " (or `OnFailure`)"
            } else {
                ""
            }
        ),
        ("Pod", None) => "a Pod's `restartPolicy` defaults to `Always`, which starts the agent \
             again each time it ends, so the run never ends before its timeout; write \
             `restartPolicy: Never`"
            .into(),
        ("Pod", Some("Always")) => "`restartPolicy: Always` starts the agent again each time it \
             ends, so the run never ends before its timeout; write `restartPolicy: Never`"
            .into(),
        ("Pod", Some(_)) => "`restartPolicy: OnFailure` starts a failed agent again in place \
             until the run's timeout, so the run is never reported as failed; write \
             `restartPolicy: Never` (a Job with a `backoffLimit` retries a failed pod)"
            .into(),
        (_, None) => "the API server refuses a Job whose pod template has no `restartPolicy` \
             (the default, `Always`, is not allowed in a Job); write `restartPolicy: Never`"
            .into(),
        (_, Some(p)) => format!(
            "the API server refuses a Job whose pod template has `restartPolicy: {p}`; write \
             `restartPolicy: Never` (or `OnFailure`)"
        ),
    };
    Some((field, message))
}

/// Each resource a container requests more of than its limit, which the API server refuses.
fn requests_above_limits(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    at: &str,
) -> Vec<(String, String)> {
    let lists = [
        ("containers", Some(&spec.containers)),
        ("initContainers", spec.init_containers.as_ref()),
    ];
    let mut found = Vec::new();
    for (list, containers) in lists {
        for (i, container) in containers.into_iter().flatten().enumerate() {
            let Some(resources) = &container.resources else {
                continue;
            };
            let (Some(requests), Some(limits)) = (&resources.requests, &resources.limits) else {
                continue;
            };
            for (name, request) in requests {
                let Some(limit) = limits.get(name) else {
                    continue;
                };
                if let (Some(r), Some(l)) = (quantity_value(&request.0), quantity_value(&limit.0))
                    && r > l
                {
                    found.push((
                        format!("{at}.{list}[{i}].resources.requests.{name}"),
                        format!(
                            "the {name} request `{}` is above its limit `{}`, which the API \
                             server refuses; lower the request or raise the limit (an agent's \
                             `resources`, or `cluster.defaults.resources`)",
                            request.0, limit.0
                        ),
                    ));
                }
            }
        }
    }
    found
}

/// A template error's message without the `line N: ` the position now says.
/// The expression an "undefined value" message names, and its first name.
fn undefined_expression(what: &str) -> Option<(&str, &str)> {
    let after = &what[what.find("undefined value: ")? + "undefined value: ".len()..];
    let expr = match after.strip_prefix('`') {
        Some(quoted) => &quoted[..quoted.find('`')?],
        None => &after[..after.find(" is undefined")?],
    };
    let root = expr.split(['.', '[']).next().filter(|r| !r.is_empty())?;
    Some((expr, root))
}

/// How [`plain_conversion`] says that an argument is not the number it must be.
const NOT_A_NUMBER: &str = "invalid argument: ";

/// The engine's "cannot convert string to usize" in words, without Rust's type names
/// (new-user review 13h, F4: `| truncate_chars("x")`); other messages as they are.
fn plain_conversion(what: String) -> String {
    const INTEGERS: [&str; 8] = ["usize", "isize", "u64", "i64", "u32", "i32", "u16", "u8"];
    let Some(rest) = what.strip_prefix("invalid operation: cannot convert ") else {
        return what;
    };
    let Some((from, tail)) = rest.split_once(" to ") else {
        return what;
    };
    let (to, after) = tail.split_once(' ').unwrap_or((tail, ""));
    if !INTEGERS.contains(&to) {
        return what;
    }
    let after = if after.is_empty() {
        String::new()
    } else {
        format!(" {after}")
    };
    format!("{NOT_A_NUMBER}a {from} where a whole number belongs{after}")
}

/// What to write when a filter was given no argument it needs (`| truncate_chars`), or
/// one that is not the number it takes (`truncate_chars("x")`): its argument, as in an
/// example (new-user review 13e, N8: before, a bare "missing argument").
fn argument_hint(what: &str) -> Option<String> {
    let not_a_number = what.starts_with(NOT_A_NUMBER);
    if !what.starts_with("missing argument") && !not_a_number {
        return None;
    }
    // As written: `truncate_chars`, or with some of its arguments, `replace("a")` (new-user
    // review 13g, G7: before, "as in `| replace(\"a\")(…)`").
    let written = what.split_once("(in `")?.1.split_once('`')?.0;
    let filter = written.split('(').next().unwrap_or(written).trim();
    Some(match filter {
        "truncate_chars" => ": it takes how many characters to keep, as in \
                             `| truncate_chars(200)`"
            .to_string(),
        "indent" => ": it takes how many spaces to indent, as in `| indent(4)`".to_string(),
        "replace" => {
            ": it takes what to replace and with what, as in `| replace(\"a\", \"b\")`".to_string()
        }
        _ if not_a_number => format!(": `{filter}` takes a number there"),
        _ if written.contains('(') => {
            format!(": `{filter}` takes more arguments than `{written}` gives it")
        }
        _ => format!(": give `{filter}` its argument in parentheses, as in `| {filter}(…)`"),
    })
}

fn strip_line(message: &str) -> String {
    match message.strip_prefix("line ") {
        Some(rest) => rest
            .split_once(": ")
            .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
            .map_or(message, |(_, m)| m)
            .to_string(),
        None => message.to_string(),
    }
}

/// What follows "unknown filter `x`": the filter likely meant, or where the filters are
/// listed. `known`: the filters there are.
fn filter_hint(filter: &str, known: &[&str]) -> String {
    // Names other template languages give filters that exist here (Liquid's `upcase`).
    const OTHER_NAMES: [(&str, &str); 8] = [
        ("upcase", "upper"),
        ("downcase", "lower"),
        ("strip", "trim"),
        ("size", "length"),
        ("json", "tojson"),
        ("to_json", "tojson"),
        ("slugify", "dns_label"),
        ("escape_once", "escape"),
    ];
    let renamed = || {
        OTHER_NAMES
            .iter()
            .find(|(other, _)| *other == filter)
            .map(|(_, ours)| *ours)
            .filter(|ours| known.contains(ours))
    };
    // `uppercase` means `upper`: a known name inside it is as likely as a near one.
    let inside = || {
        known
            .iter()
            .copied()
            .filter(|k| k.len() >= 4 && filter.contains(k))
            .max_by_key(|k| k.len())
    };
    // `truncate` means `truncate_chars`: a known name that begins with it, too.
    let begun = || {
        known
            .iter()
            .copied()
            .filter(|k| filter.len() >= 4 && k.starts_with(filter))
            .min_by_key(|k| k.len())
    };
    match renamed()
        .or_else(|| crate::suggest::did_you_mean(filter, known.iter().copied()))
        .or_else(inside)
        .or_else(begun)
    {
        Some(s) => format!(", did you mean `{s}`?"),
        None => " (the filters: docs/templates.md and minijinja's)".to_string(),
    }
}

/// The message, with the source text at fault quoted when it is short and on one line.
fn with_quote(what: String, source: &str, range: Option<&std::ops::Range<usize>>) -> String {
    let quoted = range
        .and_then(|r| source.get(r.clone()))
        .map(str::trim)
        .filter(|q| !q.is_empty() && !q.contains('\n') && q.chars().count() <= MAX_QUOTED)
        .filter(|q| !what.contains(q));
    match quoted {
        Some(q) => format!("{what} (in `{q}`)"),
        None => what,
    }
}

/// Where in its template a YAML error of a template's output is, and what it is in words:
/// the rendered document read again by the config's YAML reader (which says what it
/// expected, as for services.yaml: how a line is indented against the keys above it, a
/// tab), and the output line it names found in the template. `None` when the line cannot
/// be found there.
fn yaml_fault(source: &str, rendered: &str, message: &str) -> Option<(Pos, String)> {
    // serde_yaml's position, in the whole output: `line L column C: …`.
    let (line, col) = message.strip_prefix("line ").and_then(|rest| {
        let (line, rest) = rest.split_once(" column ")?;
        let (col, _) = rest.split_once(':')?;
        Some((line.parse::<usize>().ok()?, col.parse::<usize>().ok()?))
    })?;
    let lines: Vec<&str> = rendered.split('\n').collect();
    // The document holding that line, read on its own.
    let first = lines[..line.min(lines.len())]
        .iter()
        .rposition(|l| l.trim_end() == "---")
        .map_or(0, |i| i + 1);
    let last = lines[first..]
        .iter()
        .position(|l| l.trim_end() == "---")
        .map_or(lines.len(), |n| first + n);
    let (at, what) = match crate::config::yaml::parse(&lines[first..last].join("\n")) {
        Err(issues) => {
            let issue = issues.first()?;
            let what = issue
                .message
                .strip_prefix("invalid YAML: ")
                .unwrap_or(&issue.message)
                .to_string();
            (
                Pos {
                    line: first + issue.pos.line,
                    col: issue.pos.col,
                },
                what,
            )
        }
        Ok(_) => (Pos { line, col }, strip_line(message)),
    };
    let source_lines: Vec<&str> = source.split('\n').collect();
    let at_template = |line: usize| template_line(&source_lines, &lines, line);
    let i = at_template(at.line)?;
    let out = lines[at.line - 1];
    let indent = |l: &str| l.chars().count() - l.trim_start_matches([' ', '\t']).chars().count();
    let col = (at.col + indent(source_lines[i]))
        .saturating_sub(indent(out))
        .max(1);
    // The lines the message names (keys above, in the document) as template lines too.
    let mut said = String::new();
    let mut rest = what.as_str();
    while let Some(k) = rest.find("line ") {
        let (before, after) = rest.split_at(k + "line ".len());
        said.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let named = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| at_template(first + n));
        match named {
            Some(t) => said.push_str(&(t + 1).to_string()),
            None => said.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    said.push_str(rest);
    Some((Pos { line: i + 1, col }, said))
}

/// The index of the template line that wrote output line `line` (1-based): one with the same
/// text, else the same key, the nearest to it (a template's control lines only shift it).
/// When the template has as many lines of that text as the output, the output's n-th is
/// the template's n-th: the nearest may be another (a comment of some lines above two
/// equal keys put the first nearer to the second's output line; new-user review 13e, N9).
fn template_line(source: &[&str], output: &[&str], line: usize) -> Option<usize> {
    if let Some(i) = same_text_by_rank(source, output, line) {
        return Some(i);
    }
    let out = output.get(line.checked_sub(1)?)?;
    let body = out.trim_start_matches([' ', '\t']);
    if body.is_empty() {
        return None;
    }
    let key = body
        .trim_start_matches("- ")
        .split_once(':')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty());
    let same = |l: &str| l.trim_start_matches([' ', '\t']) == body;
    let same_key = |l: &str| {
        let b = l.trim_start_matches([' ', '\t']).trim_start_matches("- ");
        key.is_some_and(|k| b.split_once(':').is_some_and(|(x, _)| x.trim() == k))
    };
    let nearest = |test: &dyn Fn(&str) -> bool| {
        source
            .iter()
            .enumerate()
            .filter(|(_, l)| test(l))
            .min_by_key(|(i, _)| (*i + 1).abs_diff(line))
            .map(|(i, _)| i)
    };
    let shaped = |l: &str| printed_as(l.trim_start_matches([' ', '\t']), body);
    nearest(&same)
        .or_else(|| nearest(&same_key))
        .or_else(|| nearest(&shaped))
}

/// The template line of output line `line`'s text by their order: the n-th such line of
/// the output is the n-th of the template, when both have the same number (none else).
fn same_text_by_rank(source: &[&str], output: &[&str], line: usize) -> Option<usize> {
    let out = output.get(line.checked_sub(1)?)?;
    let body = out.trim_start_matches([' ', '\t']);
    if body.is_empty() {
        return None;
    }
    let same = |l: &str| l.trim_start_matches([' ', '\t']) == body;
    let in_source: Vec<usize> = (0..source.len()).filter(|i| same(source[*i])).collect();
    let in_output = output.iter().filter(|l| same(l)).count();
    let rank = output[..line - 1].iter().filter(|l| same(l)).count();
    (in_source.len() == in_output)
        .then(|| in_source.get(rank).copied())
        .flatten()
}

/// Whether template line `template` (its indent left out), which prints values, could
/// have written output line `out`: its text around each `{{ … }}` is in `out`, in order,
/// from its start to its end (`-{{ repo.full_name }}` wrote `-"acme/app"`).
fn printed_as(template: &str, out: &str) -> bool {
    if !template.contains("{{") {
        return false;
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once("{{") {
        pieces.push(before);
        rest = after.split_once("}}").map_or("", |(_, after)| after);
    }
    pieces.push(rest);
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    let Some(mut out) = out.strip_prefix(first) else {
        return false;
    };
    for piece in &pieces[1..pieces.len() - 1] {
        match out.find(piece) {
            Some(i) => out = &out[i + piece.len()..],
            None => return false,
        }
    }
    out.ends_with(last)
}

/// The lines of document `document` (1-based) of a text whose documents are separated by
/// `---` lines, and the index of its first line.
fn document_lines(text: &str, document: usize) -> (usize, Vec<&str>) {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut first = 0;
    let mut seen = 1;
    while seen < document && first < lines.len() {
        if lines[first].trim_end() == "---" {
            seen += 1;
        }
        first += 1;
    }
    let last = lines[first..]
        .iter()
        .position(|l| l.trim_end() == "---")
        .map_or(lines.len(), |n| first + n);
    (first, lines[first..last].to_vec())
}

/// Where a field of a rendered document is written in its template, found through what the
/// template rendered: the field is looked up in the rendered document (list indices
/// included), and the rendered line of each step of its path (`- name: HOME`, `value: 1`)
/// is looked for in the template, in order, below the one before; a step whose line the
/// template writes with a value (`value: {{ … }}`) is looked for by its key. So the fourth
/// item of a list is found at the template line that wrote it, not at the first item.
/// `None` when the rendered document cannot be read or nothing of the path is found.
fn field_pos_rendered(source: &str, rendered: &str, document: usize, field: &str) -> Option<Pos> {
    use crate::config::yaml::{NodeKind, parse};
    let (_, out) = document_lines(rendered, document);
    let root = parse(&out.join("\n")).ok()?;
    // The rendered line of each step of the path, and the key it is written with.
    let mut steps: Vec<(String, Option<String>)> = Vec::new();
    let mut node = &root;
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            let NodeKind::Map(entries) = &node.kind else {
                break;
            };
            let Some((k, value)) = entries.iter().find(|(k, _)| k.name == key) else {
                break;
            };
            steps.push((
                out.get(k.pos.line - 1)?.trim().to_string(),
                Some(key.to_string()),
            ));
            node = value;
        }
        let mut complete = true;
        for index in indices.split(']').filter_map(|i| i.strip_prefix('[')) {
            let (NodeKind::Seq(items), Ok(index)) = (&node.kind, index.parse::<usize>()) else {
                complete = false;
                break;
            };
            let Some(item) = items.get(index) else {
                complete = false;
                break;
            };
            steps.push((out.get(item.pos.line - 1)?.trim().to_string(), None));
            node = item;
        }
        if !complete {
            break;
        }
    }
    let (first, lines) = document_lines(source, document);
    let mut from = 0;
    let mut found = None;
    for (line, key) in &steps {
        let literal = (from..lines.len()).find(|&i| lines[i].trim() == line.as_str());
        let by_key = || {
            let key = key.as_deref()?;
            (from..lines.len()).find(|&i| {
                let body = lines[i].trim_start();
                let body = body.strip_prefix("- ").unwrap_or(body);
                body.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with(':'))
            })
        };
        let Some(i) = literal.or_else(by_key) else {
            continue;
        };
        let l = lines[i];
        let mut body = l.trim_start();
        if key.is_some() {
            body = body.strip_prefix("- ").unwrap_or(body);
        }
        found = Some(Pos {
            line: first + i + 1,
            col: l.chars().count() - body.chars().count() + 1,
        });
        from = i + 1;
    }
    found
}

/// Where a field of a rendered document is written in its template: each key of the
/// field's path looked for in turn, below the one before, in that document's lines; the
/// deepest one found (a missing field is shown where its parent is). Else the document's
/// first line that is not a template comment.
fn field_pos(source: &str, document: usize, field: &str) -> Pos {
    let (first, lines) = document_lines(source, document);
    let last = lines.len();
    let mut found = None;
    let mut from = 0;
    for key in field.split('.') {
        let key = key.split('[').next().unwrap_or(key);
        if key.is_empty() {
            continue;
        }
        let at = (from..last).find_map(|i| {
            let line = lines[i];
            let body = line.trim_start();
            let body = body.strip_prefix("- ").unwrap_or(body);
            body.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
                .then(|| (i, line.chars().count() - body.chars().count() + 1))
        });
        let Some((i, col)) = at else { break };
        found = Some(Pos {
            line: first + i + 1,
            col,
        });
        from = i + 1;
    }
    if let Some(pos) = found {
        return pos;
    }
    // The document's first line outside a `{# … #}` comment.
    let mut in_comment = false;
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start();
        if in_comment {
            in_comment = !line.contains("#}");
            continue;
        }
        if l.starts_with("{#") {
            in_comment = !line.contains("#}");
            continue;
        }
        if !l.is_empty() && !l.starts_with('#') {
            return Pos {
                line: first + i + 1,
                col: 1,
            };
        }
    }
    Pos {
        line: first + 1,
        col: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_found_at_its_key_in_its_document() {
        let source = "a: 1\n---\nkind: Pod\nspec:\n  containers:\n    - name: x\n      imagePullPolicyy: Always\n";
        assert_eq!(
            field_pos(source, 2, "spec.containers[0].imagePullPolicyy"),
            Pos { line: 7, col: 7 }
        );
        assert_eq!(
            field_pos(source, 2, "spec.containers[0].name"),
            Pos { line: 6, col: 7 }
        );
        assert_eq!(field_pos(source, 2, ""), Pos { line: 3, col: 1 });
        // A missing field is shown where its deepest parent is.
        assert_eq!(
            field_pos(source, 2, "spec.containers[0].securityContext.capabilities"),
            Pos { line: 5, col: 3 }
        );
        let commented = "{#- a comment\n  on two lines -#}\nkind: Pod\n";
        assert_eq!(field_pos(commented, 1, "spec"), Pos { line: 3, col: 1 });
        assert_eq!(field_pos(source, 1, "a"), Pos { line: 1, col: 1 });
    }

    #[test]
    fn a_list_item_is_found_where_the_template_wrote_it() {
        let source = [
            "kind: Pod",
            "spec:",
            "  env:",
            "    - name: A",
            "      value: {{ a }}",
            "{% if b %}",
            "    - name: B",
            "      value: {{ b }}",
            "{% endif %}",
            "    - name: HOME",
            "      value: {{ t }}",
        ]
        .join("\n");
        let source = source.as_str();
        let rendered = "kind: Pod\nspec:\n  env:\n    - name: A\n      value: a\n\
                        \n    - name: HOME\n      value: 1200\n";
        assert_eq!(
            field_pos_rendered(source, rendered, 1, "spec.env[1].value"),
            Some(Pos { line: 11, col: 7 })
        );
        assert_eq!(
            field_pos_rendered(source, rendered, 1, "spec.env[0].value"),
            Some(Pos { line: 5, col: 7 })
        );
        // Without the rendered text, the first `value:` below `env:` is all there is.
        assert_eq!(
            field_pos(source, 1, "spec.env[1].value"),
            Pos { line: 5, col: 7 }
        );
    }

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(quantity_value("500m"), Some(0.5));
        assert_eq!(quantity_value("2"), Some(2.0));
        assert_eq!(quantity_value("1Gi"), Some(1024f64.powi(3)));
        assert_eq!(quantity_value("1e3"), Some(1000.0));
        assert!(quantity_value("8Gi") > quantity_value("1Gi"));
        assert!(quantity_value("1G") < quantity_value("1Gi"));
        assert_eq!(quantity_value("lots"), None);
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(Pos::at_byte("é\nab", 4), Pos { line: 2, col: 2 });
        assert_eq!(Pos::at_byte("éa", 2), Pos { line: 1, col: 2 });
        assert_eq!(strip_line("line 12: undefined value"), "undefined value");
        assert_eq!(strip_line("linear"), "linear");
    }
}
