//! Rendering: minijinja over the templates folder, with YAML auto-escaping, strict
//! undefined values, and the output parsed into typed Kubernetes objects.

pub(crate) mod comment;
mod context;
pub mod escape;
pub mod fields;
mod filled;
mod known_fields;
pub(crate) mod objects;
mod overrides;
pub(crate) mod pod_names;
pub(crate) mod pod_security;
pub(crate) mod sample;
mod shape;
pub(crate) mod token_reach;
mod validate;
pub use shape::ShapeStats;

use std::collections::BTreeMap;

use minijinja::value::Serde;
use minijinja::{Environment, State, UndefinedBehavior, Value};
use serde::Serialize;

use crate::config::{Agent, AgentName, Config, LoadedConfig, Resources};
use crate::github::event::{CommitSha, Event, PullRequest, WebhookEvent};
use crate::names;
use crate::plan::{Launch, Subject};
use crate::template::{quoting, syntax_config};
use context::{
    CommandContext, CommentContext, IssueContext, PullRequestContext, PushContext, ReleaseContext,
    RepoContext, UserContext,
};
pub use objects::K8sObject;
pub use sample::SampleError;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RenderError {
    #[error("{template}: {message}")]
    Template {
        template: String,
        message: String,
        /// Where in which template the error is, when minijinja knows (for `validate`).
        spot: Option<Box<Spot>>,
    },
    #[error("{template}: the output is not valid YAML: {message}")]
    Yaml { template: String, message: String },
    #[error("{template}: document {document}{}: {message}", if .field.is_empty() { String::new() } else { format!(", field `{}`", .field) })]
    Object {
        template: String,
        document: usize,
        field: String,
        message: String,
    },
    /// A name rendered from a template in services.yaml (the namespace) that is not a DNS
    /// label: `why` says what is wrong with it (its length and the limit, or a character).
    #[error(
        "{what} `{value}` rendered from `{template}` {why}, so it is not a valid DNS label; \
         apply `| dns_label` to the whole of it, e.g. `{{{{ (\"runs-\" ~ repo.full_name) | \
         dns_label }}}}` (it makes any text a DNS label, and cuts one past 63 characters \
         with a hash that keeps names apart)"
    )]
    BadName {
        what: String,
        value: String,
        template: String,
        why: String,
    },
    #[error("agent `{0}` is not in the config")]
    UnknownAgent(AgentName),
    /// The agent does not run for the run's repository: its `repositories` leave it out (the
    /// config changed since the run was asked for, or someone asks for it elsewhere).
    #[error("agent `{agent}` does not run for {repository}: its `repositories` leave it out")]
    NotForRepository { agent: String, repository: String },
    /// The agent lists a secret whose `repositories` leave the run's repository out.
    #[error(
        "agent `{agent}` lists secret `{secret}`, which is not for {repository}: the secret's \
         `repositories` leave it out"
    )]
    SecretNotForRepository {
        agent: String,
        secret: String,
        repository: String,
    },
    /// A rendered pod breaks its agent's Pod Security level.
    #[error("{template}: document {document}, field `{field}`: {message}")]
    PodSecurity {
        template: String,
        document: usize,
        field: String,
        message: String,
    },
}

/// Where a template error is: the template (by its name, which may be an included one)
/// and the bytes of its source at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub name: String,
    pub line: Option<usize>,
    pub range: Option<std::ops::Range<usize>>,
}

/// Label and annotation keys on everything a run creates.
pub mod keys {
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const RUN: &str = "agentpods.dev/run";
    pub const AGENT: &str = "agentpods.dev/agent";
    /// A label: the repository as a label value, one-to-one (`names::repository_label`:
    /// `owner.name` as GitHub spells it, or `owner_name-<hash>` where that would lose
    /// something), so an operator's selector by it reaches exactly one repository's
    /// objects. The full name as it is is the annotation [`REPOSITORY`].
    pub const REPO: &str = "agentpods.dev/repo";
    pub const PR: &str = "agentpods.dev/pr";
    pub const PROJECT: &str = "agentpods.dev/project";
    pub const DELIVERY: &str = "agentpods.dev/delivery";
    /// An annotation: the repository's `owner/name` exactly (the label [`REPO`] holds it
    /// made into a label value).
    pub const REPOSITORY: &str = "agentpods.dev/repository";
    pub const TRIGGER: &str = "agentpods.dev/trigger";
    /// A hash of a run's concurrency group (groups contain `/`, which label values may not).
    pub const CONCURRENCY: &str = "agentpods.dev/concurrency";
    /// On runs about an issue (runs about a pull request carry [`PR`]).
    pub const ISSUE: &str = "agentpods.dev/issue";
}

/// Registers our filters and settings on an environment.
fn configure(env: &mut Environment<'_>) {
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(escape::auto_escape_for);
    env.set_formatter(escape::formatter);
    env.set_syntax(syntax_config());
    // A YAML template may not print a value unquoted (templates that try are refused when
    // loaded, see `quoting`; this is the same rule at render). Elsewhere, minijinja's own.
    env.add_filter(
        "safe",
        |state: &State, value: String| -> Result<Value, minijinja::Error> {
            if escape::is_yaml(state) {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "`| safe` would print the value unquoted in a YAML template; write \
                     `{{ value }}`: it prints one complete, quoted YAML value",
                ));
            }
            Ok(Value::from_safe_string(value))
        },
    );
    env.add_filter("dns_label", |v: Value| {
        text_arg("dns_label", &v).map(|s| names::dns_label(&s))
    });
    env.add_filter("label_value", |v: Value| {
        text_arg("label_value", &v).map(|s| names::label_value(&s))
    });
    // In a YAML template `{{ x | yaml_quote }}` is the same as `{{ x }}` (the value, quoted
    // when printed), never text marked safe that a later filter could take apart; in a text
    // template it quotes.
    env.add_filter("yaml_quote", |state: &State, s: &str| {
        if escape::is_yaml(state) {
            Value::from(s)
        } else {
            Value::from_safe_string(escape::quote(s))
        }
    });
    env.add_filter("truncate_chars", |s: &str, n: usize| {
        crate::text::start(s, n).to_owned()
    });
}

/// The text a text-only filter is given, or an error saying how to give it a number or a
/// flag (minijinja's own says only "value is not a string").
fn text_arg(filter: &str, value: &Value) -> Result<String, minijinja::Error> {
    use minijinja::value::ValueKind;
    if let Some(s) = value.as_str() {
        return Ok(s.to_owned());
    }
    let how = match value.kind() {
        ValueKind::Number | ValueKind::Bool => format!(
            "is {} ({value}): make it text first: `| string | {filter}`",
            if value.kind() == ValueKind::Number {
                "a number"
            } else {
                "a boolean"
            }
        ),
        ValueKind::None | ValueKind::Undefined => format!(
            "is none (absent in this delivery): give it a default first: `(x or \"\") | {filter}`"
        ),
        kind => format!("is a {kind}: give it one piece of text"),
    };
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("`{filter}` takes text, and this value {how}"),
    ))
}

/// An environment with our settings and no templates.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    configure(&mut env);
    env
}

/// Everything one run of an agent becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRun {
    pub name: String,
    pub namespace: String,
    pub agent: AgentName,
    /// The concurrency group and whether a new run cancels an older one.
    pub concurrency: Option<(String, bool)>,
    /// The task text given to the agent (the rendered prompt).
    pub task: String,
    /// The agent's timeouts and TTL, with the config's defaults filled in.
    pub limits: AgentLimits,
    /// The labels every object of the run carries (managed-by, run, agent, repo, pr).
    pub labels: BTreeMap<String, String>,
    pub objects: Vec<K8sObject>,
}

/// The compiled templates of one config.
pub struct Engine {
    env: Environment<'static>,
    config: Config,
    templates_dir: String,
    shapes: shape::ShapeCache,
    use_shapes: bool,
    constants: BTreeMap<String, Constants>,
    /// For `validate`: the template sources, the folder they were read from and the path of
    /// services.yaml, as shown in messages.
    sources: crate::config::TemplateSources,
    shown_dir: String,
    config_path: String,
}

impl Engine {
    /// A run's comment: `templates/comment.md` with `context`.
    pub fn render_comment(&self, context: &comment::CommentContext) -> Result<String, RenderError> {
        self.render_named("comment.md", context)
    }

    pub fn new(loaded: &LoadedConfig) -> Result<Self, RenderError> {
        let mut env = environment();
        // The templates the config uses, which the config loader checked (new-user review
        // 13f, N8); the folder's other files are added only when they compile, for a
        // prompt that includes one by a name made at render time, and are never an error.
        let used = crate::config::used_templates(&loaded.config, &loaded.templates);
        for (name, source) in &loaded.templates {
            if !used.contains(name.as_str()) {
                if quoting::check(name, source).is_empty() {
                    let _unused = env.add_template_owned(name.clone(), source.clone());
                }
                continue;
            }
            // The config loader reports these with the file's path; checked here too, so
            // that no engine ever renders a template that could undo the quoting.
            if let Some(found) = quoting::check(name, source).first() {
                return Err(RenderError::Template {
                    template: format!("{}/{name}", loaded.config.templates_dir),
                    message: format!(
                        "line {} column {}: {}",
                        found.line, found.col, found.message
                    ),
                    spot: Some(Box::new(Spot {
                        name: name.clone(),
                        line: Some(found.line),
                        range: None,
                    })),
                });
            }
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| template_error(&loaded.config.templates_dir, name, &e))?;
        }
        // Templates written inside services.yaml, compiled once rather than per event.
        if let Some(ns) = &loaded.config.cluster.namespace_template {
            env.add_template_owned(NAMESPACE_TEMPLATE, ns.to_string())
                .map_err(|e| template_error("", NAMESPACE_TEMPLATE, &e))?;
        }
        for agent in &loaded.config.agents {
            if let Some(c) = &agent.concurrency {
                let name = concurrency_template(&loaded.config.agents, agent.name.as_str());
                env.add_template_owned(name.clone(), c.group.to_string())
                    .map_err(|e| template_error("", &name, &e))?;
            }
        }
        Ok(Engine {
            env,
            config: loaded.config.clone(),
            templates_dir: loaded.config.templates_dir.clone(),
            shapes: shape::ShapeCache::default(),
            use_shapes: true,
            constants: loaded
                .config
                .agents
                .iter()
                .map(|a| (a.name.to_string(), Constants::new(&loaded.config, a)))
                .collect(),
            sources: loaded.templates.clone(),
            shown_dir: loaded.templates_dir.display().to_string(),
            config_path: loaded.path.clone(),
        })
    }

    /// The GitHub templates are told of as `github.web_url` and `github.api_url` (github.com
    /// unless set): the one the service talks to, so that a pod sends the run's token to no
    /// other (GitHub Enterprise Server).
    pub fn with_github(mut self, github: GithubUrls) -> Self {
        let value = Value::from(Serde(&github));
        for constants in self.constants.values_mut() {
            constants.github = value.clone();
        }
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Turns the shape cache (see `shape`) on or off; off renders and parses every YAML
    /// template in full, the reference the cache is tested against.
    pub fn with_shape_cache(mut self, on: bool) -> Self {
        self.use_shapes = on;
        self
    }

    pub fn shape_stats(&self) -> ShapeStats {
        self.shapes.stats()
    }

    /// Renders a template by name with any serializable context (comment bodies use this).
    pub fn render_named<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, RenderError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| template_error(&self.templates_dir, name, &e))?;
        t.render(Serde(ctx))
            .map_err(|e| template_error(&self.templates_dir, name, &e))
    }

    /// The objects of one YAML template: through its cached shape when it has a usable
    /// one (see `shape`), else rendered and parsed in full.
    fn render_objects(
        &self,
        name: &str,
        shown: &str,
        ctx: &Value,
    ) -> Result<Vec<K8sObject>, RenderError> {
        if self.use_shapes {
            let (text, values) = shape::capturing(|| self.render_value(name, ctx))?;
            let cached = self.shapes.get_or_parse(text, values.len());
            if let shape::Cached::Refused(message) = &*cached {
                return Err(RenderError::Yaml {
                    template: shown.to_string(),
                    message: message.clone(),
                });
            }
            if let shape::Cached::Shape(shape) = &*cached
                && shape.values() == values.len()
            {
                self.shapes.count(true);
                let values: Vec<serde_json::Value> =
                    values.iter().map(escape::value_to_json).collect();
                let mut out = Vec::with_capacity(shape.documents().len());
                for (i, node) in shape.documents().iter().enumerate() {
                    let at = objects::Location {
                        template: shown,
                        document: i + 1,
                    };
                    let ignored = std::cell::Cell::new(0);
                    let read = || filled::Filled {
                        node,
                        values: &values,
                        ignored: &ignored,
                    };
                    out.extend(objects::from_document(node, &at, read, Some(&ignored))?);
                }
                return Ok(out);
            }
        }
        self.shapes.count(false);
        let text = self.render_value(name, ctx)?;
        objects::parse_documents(shown, &text)
    }

    fn render_value(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        // Templates written inside services.yaml are named by their key, not by a file.
        let in_config = name == NAMESPACE_TEMPLATE || name.starts_with("agents[");
        let dir = if in_config { "" } else { &self.templates_dir };
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(dir, name, &e))
    }

    /// Renders every object of one launch.
    pub fn render_run(
        &self,
        event: &WebhookEvent,
        delivery: &str,
        launch: &Launch,
        pr_facts: Option<&PullRequest>,
    ) -> Result<RenderedRun, RenderError> {
        self.render_run_with_token(event, delivery, launch, pr_facts, None)
    }

    /// The same, for a run whose short-lived GitHub token is in the Secret `token_secret`
    /// (templates mount it when `run.token_secret` is set).
    pub fn render_run_with_token(
        &self,
        event: &WebhookEvent,
        delivery: &str,
        launch: &Launch,
        pr_facts: Option<&PullRequest>,
        token_secret: Option<&str>,
    ) -> Result<RenderedRun, RenderError> {
        let agent = self
            .config
            .agents
            .iter()
            .find(|a| a.name == launch.agent)
            .ok_or_else(|| RenderError::UnknownAgent(launch.agent.clone()))?;
        let constants = self
            .constants
            .get(agent.name.as_str())
            .ok_or_else(|| RenderError::UnknownAgent(launch.agent.clone()))?;
        in_scope(&self.config, agent, event)?;
        // A run an approval started is shown as it was planned: a push of the approved
        // head of the pull request (its agents started by their `pull_request` trigger,
        // so their templates see a `pull_request` event), whatever the comment was.
        let approved;
        let event = match (&launch.trigger, pr_facts) {
            (crate::plan::Trigger::Approved(_), Some(pr)) => {
                approved = crate::plan::approved_event(event, pr);
                &approved
            }
            _ => event,
        };
        let mut ctx = TemplateContext::new(
            &self.config,
            agent,
            event,
            delivery,
            launch,
            pr_facts,
            constants,
        );
        ctx.run.token_secret = token_secret.map(String::from);
        let mut value = Value::from(Serde(&ctx));

        if self.config.cluster.namespace_template.is_some() {
            let ns = self.render_value(NAMESPACE_TEMPLATE, &value)?;
            let ns = ns.trim().to_string();
            if let Some(why) = objects::dns_label_problem(&ns) {
                return Err(RenderError::BadName {
                    what: "namespace".into(),
                    value: crate::config::formats::shorten(&ns),
                    template: NAMESPACE_TEMPLATE.into(),
                    why,
                });
            }
            ctx.run.namespace = ns;
            value = Value::from(Serde(&ctx));
        }
        let concurrency = match &agent.concurrency {
            Some(c) => {
                let group = self.render_value(
                    &concurrency_template(&self.config.agents, agent.name.as_str()),
                    &value,
                )?;
                Some((group.trim().to_string(), c.cancel_in_progress))
            }
            None => None,
        };
        ctx.task = match &agent.prompt {
            Some(prompt) => self.render_value(prompt, &value)?,
            None => launch.task.clone().unwrap_or_default(),
        };

        let value = minijinja::context! { task => ctx.task.as_str(), ..value };
        let mut objects = Vec::new();
        let annotations: BTreeMap<String, String> = [
            (keys::DELIVERY, delivery.to_string()),
            (keys::TRIGGER, launch.trigger.describe()),
            (
                keys::REPOSITORY,
                ctx.repo
                    .as_ref()
                    .map(|r| r.full_name.to_string())
                    .unwrap_or_default(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for name in &agent.templates {
            let shown = format!("{}/{name}", self.templates_dir);
            for (i, mut object) in self
                .render_objects(name, &shown, &value)?
                .into_iter()
                .enumerate()
            {
                let meta = object.metadata_mut();
                match &meta.namespace {
                    Some(ns) if ns != &ctx.run.namespace => {
                        return Err(RenderError::Object {
                            template: shown,
                            document: i + 1,
                            field: "metadata.namespace".into(),
                            message: format!(
                                "objects of a run belong in the run's namespace `{}`, not `{ns}`",
                                ctx.run.namespace
                            ),
                        });
                    }
                    _ => meta.namespace = Some(ctx.run.namespace.clone()),
                }
                meta.annotations
                    .get_or_insert_with(BTreeMap::new)
                    .extend(annotations.clone());
                refuse_dangerous_pod(&object, agent, &shown, i + 1)?;
                object.add_labels(&ctx.run.labels);
                object.declare_secrets();
                objects.push(object);
            }
        }
        Ok(RenderedRun {
            name: launch.run_name.to_string(),
            namespace: ctx.run.namespace.clone(),
            agent: agent.name.clone(),
            concurrency,
            task: ctx.task,
            limits: run_limits(&self.config, agent),
            labels: ctx.run.labels,
            objects,
        })
    }
}

/// Refuses a run whose agent, or a secret it lists, is not for the event's repository
/// (their `repositories`): every run is rendered here before it is recorded and again
/// before its pod is made, so a run retried or re-run after the config changed, or one
/// asked for in another repository, gets nothing. The planner already starts no agent
/// outside its repositories, and `validate` lets no agent list a secret narrower than it.
fn in_scope(config: &Config, agent: &Agent, event: &WebhookEvent) -> Result<(), RenderError> {
    let repository = event
        .repository
        .as_ref()
        .map_or("", |r| r.full_name.as_str());
    if !agent.scope().admits(repository) {
        return Err(RenderError::NotForRepository {
            agent: agent.name.to_string(),
            repository: repository.to_string(),
        });
    }
    for name in &agent.secrets {
        if let Some(secret) = config.secrets.get(name)
            && !secret.scope().admits(repository)
        {
            return Err(RenderError::SecretNotForRepository {
                agent: agent.name.to_string(),
                secret: name.clone(),
                repository: repository.to_string(),
            });
        }
    }
    Ok(())
}

/// Refuses a rendered Pod, or a Job's pod template, that breaks the Pod Security level of
/// its agent (`restricted` unless the agent opts out by name), whatever admission would say.
fn refuse_dangerous_pod(
    object: &K8sObject,
    agent: &Agent,
    template: &str,
    document: usize,
) -> Result<(), RenderError> {
    let (spec, at, annotations, annotations_at) = match object {
        K8sObject::Pod(pod) => (
            pod.spec.as_ref(),
            "spec",
            pod.metadata.annotations.as_ref(),
            "metadata.annotations",
        ),
        K8sObject::Job(job) => (
            job.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
            "spec.template.spec",
            job.spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.annotations.as_ref()),
            "spec.template.metadata.annotations",
        ),
        _ => return Ok(()),
    };
    let Some(spec) = spec else {
        return Ok(());
    };
    let level = agent.pod_security;
    let mut found = pod_security::check(spec, at, level);
    found.extend(pod_security::check_annotations(
        annotations,
        annotations_at,
        level,
    ));
    let Some(first) = found.first() else {
        return Ok(());
    };
    let more = match found.len() {
        1 => String::new(),
        n => format!(
            " (and {} more: {})",
            n - 1,
            found[1..]
                .iter()
                .map(|v| format!("`{}` {}", v.field, v.what))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    let loosest = found
        .iter()
        .map(|v| v.allowed_from)
        .min()
        .unwrap_or(first.allowed_from);
    Err(RenderError::PodSecurity {
        template: template.to_string(),
        document,
        field: first.field.clone(),
        message: format!(
            "agent `{}`: the {} {}, which Pod Security `{level}` forbids{more}; change the \
             template, or opt the agent in by name with `pod_security: {loosest}` and run it \
             in a namespace that allows it (`cluster.namespaces`)",
            agent.name,
            object.kind(),
            first.what,
        ),
    })
}

const NAMESPACE_TEMPLATE: &str = "cluster.namespace_template";

/// The name of agent `agent`'s `concurrency.group` template: its path in services.yaml, the
/// agent by its place in `agents` as every other message names it (`agents[0]`; before,
/// `agents[review]`: new-user review 13c, N14).
fn concurrency_template(agents: &[crate::config::Agent], agent: &str) -> String {
    match agents.iter().position(|a| a.name.as_str() == agent) {
        Some(i) => format!("agents[{i}].concurrency.group"),
        None => format!("agents[{agent}].concurrency.group"),
    }
}

fn template_error(dir: &str, name: &str, e: &minijinja::Error) -> RenderError {
    let mut message = e
        .detail()
        .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    if let Some(line) = e.line() {
        message = format!("line {line}: {message}");
    }
    let template = if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    let spot = Some(Box::new(Spot {
        name: e.name().unwrap_or(name).to_string(),
        line: e.line(),
        range: e.range(),
    }));
    RenderError::Template {
        template,
        message,
        spot,
    }
}

/// What templates see. Every key is always present (absent parts are `none`), so strict
/// undefined catches typos without tripping over events that lack a part. The parts of
/// the delivery are the template interface's own types (`context`), not the webhook
/// model's.
#[derive(Debug, Serialize)]
struct TemplateContext<'a> {
    event: &'a str,
    action: Option<&'a str>,
    delivery: &'a str,
    repo: Option<RepoContext<'a>>,
    sender: Option<UserContext<'a>>,
    pr: Option<PullRequestContext<'a>>,
    issue: Option<IssueContext<'a>>,
    comment: Option<CommentContext<'a>>,
    push: Option<PushContext<'a>>,
    release: Option<ReleaseContext<'a>>,
    checkout: Checkout,
    run: RunContext,
    agent: Value,
    project: &'a str,
    github: Value,
    images: Value,
    secrets: Value,
    task: String,
}

/// `github`: where the GitHub the service talks to is, for the pods to fetch from, push to
/// and call (github.com and its API unless the service is given another).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubUrls {
    /// Where repositories are fetched from: `https://github.com`, or the GHES server.
    pub web_url: String,
    /// The REST API root: `https://api.github.com`, or `https://HOST/api/v3`.
    pub api_url: String,
}

impl Default for GithubUrls {
    fn default() -> Self {
        GithubUrls {
            web_url: "https://github.com".into(),
            api_url: "https://api.github.com".into(),
        }
    }
}

impl GithubUrls {
    /// The URLs of the GitHub whose API root is `api_url`, its web address `web_url` when
    /// given, else found from the API root as GitHub lays them out: `https://HOST/api/v3`
    /// is `https://HOST`, `https://api.HOST` is `https://HOST`.
    pub fn new(api_url: &str, web_url: Option<&str>) -> Self {
        let api_url = api_url.trim().trim_end_matches('/').to_string();
        let web_url = match web_url.map(str::trim).filter(|w| !w.is_empty()) {
            Some(w) => w.trim_end_matches('/').to_string(),
            None => web_url_of(&api_url),
        };
        GithubUrls { web_url, api_url }
    }
}

fn web_url_of(api_url: &str) -> String {
    if let Some(web) = api_url.strip_suffix("/api/v3") {
        return web.to_string();
    }
    for scheme in ["https://", "http://"] {
        if let Some(host) = api_url
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("api."))
        {
            return format!("{scheme}{host}");
        }
    }
    api_url.to_string()
}

/// What the agent checks out: a ref, and the exact commit when known.
#[derive(Debug, Serialize)]
struct Checkout {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: Option<String>,
}

#[derive(Debug, Serialize)]
struct RunContext {
    name: String,
    namespace: String,
    trigger: String,
    requested_by: String,
    /// The number of the issue the run is about, when it is about one (not a pull
    /// request, a push or a release).
    issue: Option<u64>,
    labels: BTreeMap<String, String>,
    /// A per-run Secret with a short-lived repository token, when the launcher makes one.
    token_secret: Option<String>,
}

#[derive(Debug, Serialize)]
struct SecretContext<'a> {
    name: &'a str,
    key: &'a str,
    env: String,
}

#[derive(Debug, Serialize)]
struct AgentContext<'a> {
    name: &'a str,
    description: Option<&'a str>,
    image: &'a str,
    command: &'a [String],
    env: BTreeMap<&'a str, &'a str>,
    params: &'a BTreeMap<String, String>,
    secrets: Vec<SecretContext<'a>>,
    service_account: &'a str,
    automount_service_account_token: bool,
    timeout_seconds: u64,
    pending_timeout_seconds: u64,
    ttl_seconds: u64,
    resources: &'a Resources,
}

fn secret_context<'a>(entry: &'a str, s: &'a crate::config::SecretRef) -> SecretContext<'a> {
    SecretContext {
        name: s.name.as_str(),
        key: s.key.as_str(),
        env: s.env_name(entry),
    }
}

/// An agent's timeouts and TTL in seconds, with the config's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    /// From creation until its pod runs.
    pub pending_timeout_seconds: u64,
    /// From the pod's start until it ends.
    pub timeout_seconds: u64,
    /// A finished run is deleted this long after it ends.
    pub ttl_seconds_after_finished: u64,
}

/// An agent's timeouts and TTL, with the config's defaults filled in.
fn run_limits(config: &Config, agent: &Agent) -> AgentLimits {
    let defaults = &config.cluster.defaults;
    AgentLimits {
        pending_timeout_seconds: agent
            .pending_timeout
            .unwrap_or(defaults.pending_timeout)
            .as_secs(),
        timeout_seconds: agent.timeout.unwrap_or(defaults.timeout).as_secs(),
        ttl_seconds_after_finished: agent
            .ttl_after_finished
            .unwrap_or(defaults.ttl_after_finished)
            .as_secs(),
    }
}

/// What templates see of an agent: the same for every run, so built once per config.
fn agent_context<'a>(config: &'a Config, agent: &'a Agent) -> AgentContext<'a> {
    let defaults = &config.cluster.defaults;
    let limits = run_limits(config, agent);
    let image_name = agent.image.as_deref().unwrap_or(&defaults.image);
    let image = config
        .images
        .get(image_name)
        .map_or(image_name, |i| i.as_str());
    AgentContext {
        name: agent.name.as_str(),
        description: agent.description.as_deref(),
        image,
        command: &agent.command,
        env: agent
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        params: &agent.params,
        secrets: agent
            .secrets
            .iter()
            .filter_map(|name| config.secrets.get_key_value(name))
            .map(|(name, s)| secret_context(name, s))
            .collect(),
        service_account: agent
            .service_account
            .as_ref()
            .unwrap_or(&config.cluster.service_account)
            .as_str(),
        automount_service_account_token: agent.automount_service_account_token,
        timeout_seconds: limits.timeout_seconds,
        pending_timeout_seconds: limits.pending_timeout_seconds,
        ttl_seconds: limits.ttl_seconds_after_finished,
        resources: agent.resources.as_ref().unwrap_or(&defaults.resources),
    }
}

/// The parts of the context that only depend on the config, as template values.
#[derive(Debug, Clone)]
struct Constants {
    agent: Value,
    images: Value,
    /// `github`: the engine's [`GithubUrls`].
    github: Value,
    /// Every secret, when none is limited to some repositories (else chosen per run).
    secrets: Option<Value>,
}

/// The secrets templates see in a run for `repository`: those whose `repositories` take it
/// in (a run for another repository cannot name a secret limited to these).
fn secrets_for(config: &Config, repository: &str) -> Value {
    let secrets: BTreeMap<&str, SecretContext<'_>> = config
        .secrets
        .iter()
        .filter(|(_, v)| v.scope().admits(repository))
        .map(|(k, v)| (k.as_str(), secret_context(k, v)))
        .collect();
    Value::from(Serde(secrets))
}

impl Constants {
    fn new(config: &Config, agent: &Agent) -> Self {
        let images: BTreeMap<&str, &str> = config
            .images
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let scoped = config.secrets.values().any(|s| !s.scope().is_every());
        Constants {
            agent: Value::from(Serde(agent_context(config, agent))),
            images: Value::from(Serde(images)),
            github: Value::from(Serde(GithubUrls::default())),
            secrets: (!scoped).then(|| secrets_for(config, "")),
        }
    }
}

impl<'a> TemplateContext<'a> {
    fn new(
        config: &'a Config,
        agent: &'a Agent,
        event: &'a WebhookEvent,
        delivery: &'a str,
        launch: &'a Launch,
        pr_facts: Option<&'a PullRequest>,
        constants: &Constants,
    ) -> Self {
        let repo = event.repository.as_ref();

        let (mut pr, mut issue, mut comment, mut push, mut release) =
            (None, None, None, None, None);
        match &event.event {
            Event::PullRequest(e) => pr = Some((&e.pull_request).into()),
            Event::IssueComment(e) => {
                issue = Some((&e.issue).into());
                pr = pr_facts.map(PullRequestContext::from);
                comment = Some(CommentContext {
                    id: e.comment.id.get(),
                    body: &e.comment.body,
                    user: (&e.comment.user).into(),
                    author_association: e.comment.author_association.as_str(),
                    html_url: &e.comment.html_url,
                    command: CommandContext {
                        verb: match &launch.trigger {
                            crate::plan::Trigger::Comment { verb, .. } => verb.as_str(),
                            _ => "",
                        },
                        task: launch.task.as_deref(),
                    },
                });
            }
            Event::Issues(e) => issue = Some((&e.issue).into()),
            Event::Push(e) => {
                push = Some(PushContext {
                    git_ref: &e.git_ref,
                    branch: e.git_ref.strip_prefix("refs/heads/"),
                    tag: e.git_ref.strip_prefix("refs/tags/"),
                    before: e.before.to_string(),
                    after: e.after.to_string(),
                    forced: e.forced,
                    head_commit_message: e.head_commit_message.as_deref(),
                    pusher: &e.pusher,
                })
            }
            Event::Release(e) => release = Some((&e.release).into()),
            Event::Ping(_) | Event::CheckRun(_) | Event::CheckSuite(_) | Event::Other { .. } => {}
        }

        let checkout = Checkout {
            git_ref: launch.subject.git_ref(event),
            sha: launch.subject.sha().map(CommitSha::to_string),
        };

        let mut labels = BTreeMap::new();
        labels.insert(keys::MANAGED_BY.to_string(), "agentpods".to_string());
        labels.insert(keys::RUN.to_string(), launch.run_name.to_string());
        labels.insert(keys::AGENT.to_string(), agent.name.to_string());
        labels.insert(keys::PROJECT.to_string(), config.project.to_string());
        if let Some(r) = repo {
            labels.insert(
                keys::REPO.to_string(),
                names::repository_label(r.full_name.as_str()),
            );
        }
        if let Subject::PullRequest { number, .. } = &launch.subject {
            labels.insert(keys::PR.to_string(), number.to_string());
        }

        TemplateContext {
            event: &event.name,
            action: event.action(),
            delivery,
            repo: repo.map(RepoContext::from),
            sender: event.sender.as_ref().map(UserContext::from),
            pr,
            issue,
            comment,
            push,
            release,
            checkout,
            run: RunContext {
                name: launch.run_name.to_string(),
                namespace: config
                    .cluster
                    .namespace_of(agent)
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                trigger: launch.trigger.describe(),
                requested_by: launch.requested_by.to_string(),
                issue: match &launch.subject {
                    Subject::Issue { number, .. } => Some(*number),
                    _ => None,
                },
                labels,
                token_secret: None,
            },
            agent: constants.agent.clone(),
            project: config.project.as_str(),
            github: constants.github.clone(),
            images: constants.images.clone(),
            secrets: constants
                .secrets
                .clone()
                .unwrap_or_else(|| secrets_for(config, repo.map_or("", |r| r.full_name.as_str()))),
            task: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GithubUrls;

    /// Review 13d, N3: a GHES service's pods are told its server, found from its API root.
    #[test]
    fn the_web_address_is_found_from_the_api_root_as_github_lays_them_out() {
        let web = |api: &str| GithubUrls::new(api, None).web_url;
        assert_eq!(
            GithubUrls::new("https://api.github.com", None),
            GithubUrls::default()
        );
        assert_eq!(web("https://ghe.example/api/v3/"), "https://ghe.example");
        assert_eq!(web("https://api.acme.ghe.com"), "https://acme.ghe.com");
        assert_eq!(
            GithubUrls::new("https://ghe.example/api/v3", Some("https://git.example/")).web_url,
            "https://git.example"
        );
    }
}
