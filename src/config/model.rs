//! The services.yaml model. Every struct denies unknown fields; the JSON Schema that
//! `agentpods schema` prints and that the loader checks files against is derived from
//! these types, so the two cannot drift apart.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::formats::{self, Format};
use super::token::GithubToken;
use crate::github::command::BuiltinVerb;
pub use crate::github::permission::Permission;

/// The root of services.yaml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The project's name: shown in comments and check runs, and set as a label on
    /// everything agentpods creates.
    pub project: DnsLabel,
    /// Folder of the minijinja templates, relative to services.yaml.
    #[serde(default = "default_templates_dir")]
    pub templates_dir: String,
    /// How agentpods talks to GitHub and who may start agents.
    #[serde(default)]
    pub github: GithubConfig,
    /// Where and how agent pods run.
    pub cluster: ClusterConfig,
    /// Named container images, referred to by name from agents and defaults, and from
    /// templates as `{{ images.NAME }}`. Every image a template writes (an init container's,
    /// a sidecar's, a Job's) is checked as these are, and must not depend on the event:
    /// `validate` refuses an image or a Secret's name written from the event's text (it
    /// would be chosen by whoever writes the event), and warns of an entry here or in
    /// `secrets` that no agent names and no template reads.
    #[serde(default)]
    pub images: BTreeMap<String, ImageRef>,
    /// Named references to existing Kubernetes Secrets. Values never appear here.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretRef>,
    /// The agents, and the events that start them.
    pub agents: Vec<Agent>,
    /// How many runs may be launched and not yet finished at once; runs beyond these wait
    /// Queued, and a place that frees goes to the repositories in turn (in the order they
    /// were asked for within one). No limit when absent. And how many may wait in each
    /// repository (50 when absent).
    #[serde(default, skip_serializing_if = "Limits::is_default")]
    pub limits: Limits,
    /// Lets each repository narrow, in a file of its own on its default branch, which of
    /// the agents this file gives it run there (never one more, nor anything else). Off
    /// when absent: then no repository's file is read. On, each delivery that would start
    /// an agent reads the file once from the repository's default branch (one GitHub
    /// request, then a conditional one that GitHub does not count while the file is
    /// unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_config: Option<RepositoryConfig>,
}

/// Where a repository's own say is read (see `repository_config`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// The file's path in the repository, read from its default branch only (never from a
    /// pull request's head): `.agentpods.yaml`, or a path such as `.github/agentpods.yaml`.
    #[serde(default = "default_repository_config_path")]
    pub path: String,
}

/// The file a repository says its own say in, by default.
pub const REPOSITORY_CONFIG_PATH: &str = ".agentpods.yaml";

fn default_repository_config_path() -> String {
    REPOSITORY_CONFIG_PATH.into()
}

/// Capacity: runs launched and not finished, at most, and runs waiting to be launched, at
/// most. A run waits Queued until its concurrency group and both running limits let it
/// start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Runs launched and not finished, in all, across every repository (at least 1; leave
    /// it out for no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<std::num::NonZeroU32>,
    /// Runs launched and not finished, in each repository (at least 1; leave it out for no
    /// limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_repository: Option<std::num::NonZeroU32>,
    /// Runs recorded and not launched yet (waiting for a place or their concurrency group,
    /// or not yet seen by the controller), in each repository, at most (at least 1). A
    /// run asked for beyond it is not recorded: whoever asked is told that the
    /// repository's queue is full (one reply for the comment, as other refusals are told),
    /// and asks again once some have started. Other repositories are not affected. A run
    /// asked for by someone below `github.authorization.min_permission` (let in by a
    /// trigger's own lower `min_permission`, or a fork's author by `fork_pull_requests:
    /// always`) is recorded only while fewer than half of it
    /// (at least 1) wait, so strangers cannot fill the queue and keep the maintainers' runs
    /// out (at 1 that is the whole queue: `validate` warns where strangers may start
    /// something). 50 by default: more than a team's busiest day leaves
    /// waiting, and few enough that one repository (a bot in a loop, or a writer who means
    /// harm) cannot spend alone the GitHub requests every repository of the installation
    /// shares (a run costs about 10 over its life: 50 runs are a tenth of an hour's 5,000).
    #[serde(default = "default_queued_per_repository")]
    pub queued_per_repository: std::num::NonZeroU32,
}

/// `limits.queued_per_repository` when services.yaml does not say.
pub const QUEUED_PER_REPOSITORY: u32 = 50;

fn default_queued_per_repository() -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(QUEUED_PER_REPOSITORY).unwrap_or(std::num::NonZeroU32::MIN)
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            running: None,
            per_repository: None,
            queued_per_repository: default_queued_per_repository(),
        }
    }
}

impl Limits {
    /// Neither running limit is set: no run ever waits for a place.
    pub fn is_unlimited(&self) -> bool {
        self.running.is_none() && self.per_repository.is_none()
    }

    /// Nothing is set but the defaults.
    pub fn is_default(&self) -> bool {
        *self == Limits::default()
    }
}

fn default_templates_dir() -> String {
    "templates".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// The word that starts a command in a comment, as in `/agent run fix the test`. It
    /// begins with a sign such as `/`, not a letter or digit: a plain word would be read in
    /// ordinary text.
    #[serde(default = "default_prefix")]
    #[schemars(regex(pattern = r"^[^\sA-Za-z0-9]\S*$"))]
    pub command_prefix: String,
    /// Who may start agents.
    #[serde(default)]
    pub authorization: Authorization,
    /// Where results are reported.
    #[serde(default)]
    pub report: Report,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            command_prefix: default_prefix(),
            authorization: Authorization::default(),
            report: Report::default(),
        }
    }
}

fn default_prefix() -> String {
    crate::github::command::DEFAULT_PREFIX.into()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The lowest repository permission (as GitHub's permission API answers) that may
    /// start an agent: by a command, or by any event a person causes (a pull request, an
    /// issue, a push, a release). A trigger of an agent may set its own `min_permission`
    /// instead (e.g. `admin` for a release).
    #[serde(default = "default_permission")]
    pub min_permission: Permission,
    /// GitHub accounts allowed whatever their permission up to `min_permission` (approving
    /// fork heads included), not a trigger's own `min_permission` above it:
    /// `login:id` (`octocat:583231`, the `id` that https://api.github.com/users/octocat
    /// gives), which matches that account whatever its login becomes, or a bare login,
    /// which matches whoever holds that login now (GitHub frees a login when its account
    /// is renamed, and anyone may then take it).
    #[serde(default)]
    pub allowed_users: Vec<AllowedUser>,
    /// Teams (`org/team-slug`) whose members are allowed whatever their permission up to
    /// `min_permission`, not a trigger's own `min_permission` above it.
    #[serde(default)]
    pub allowed_teams: Vec<TeamSlug>,
    /// Accounts and teams allowed as `allowed_users` and `allowed_teams` are, but only in
    /// the repositories each entry's `repositories` take in (`["team-a/*"]`): one
    /// installation serves several teams, and the people one team trusts start nothing in
    /// another's repositories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_in: Vec<AllowedIn>,
    /// Pull requests from forks: `never` run them, run them after a maintainer's
    /// `approve` for the exact head commit, or `always` run them (unsafe for public repos).
    #[serde(default)]
    pub fork_pull_requests: ForkPolicy,
}

/// People allowed in some repositories only (see `allowed_in`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowedIn {
    /// The repositories they are allowed in, as an agent's `repositories` are written
    /// (`owner/name` globs, `!` to leave some out).
    pub repositories: Vec<RepoGlob>,
    /// Accounts, written as in `allowed_users`.
    #[serde(default)]
    pub users: Vec<AllowedUser>,
    /// Teams (`org/team-slug`), as in `allowed_teams`.
    #[serde(default)]
    pub teams: Vec<TeamSlug>,
}

impl Default for Authorization {
    fn default() -> Self {
        Self {
            min_permission: default_permission(),
            allowed_users: Vec::new(),
            allowed_teams: Vec::new(),
            allowed_in: Vec::new(),
            fork_pull_requests: ForkPolicy::default(),
        }
    }
}

fn default_permission() -> Permission {
    Permission::Write
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForkPolicy {
    Never,
    #[default]
    Approve,
    Always,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// A check run per run with GitHub App auth; with a token, a commit status instead.
    #[serde(default = "yes")]
    pub check_run: bool,
    /// One comment per run, edited in place with the result.
    #[serde(default = "yes")]
    pub comment: bool,
    /// A commit status per run, with a token or an App (beside the check run).
    #[serde(default)]
    pub commit_status: bool,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            check_run: true,
            comment: true,
            commit_status: false,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The namespace agent pods run in. Give this or `namespace_template`.
    #[serde(default)]
    pub namespace: Option<DnsLabel>,
    /// A template for the namespace of each run, e.g. one per pull request or issue:
    /// `"{{ ('agents-' ~ repo.full_name ~ '-' ~ (pr.number if pr else issue.number if issue
    /// else 'other')) | dns_label }}"`. It is rendered for every trigger (a push or a release
    /// has neither `pr` nor `issue`), so each part a trigger may lack needs a default. Apply
    /// `dns_label` to the whole name, not to a part: GitHub allows owners of 39 characters
    /// and names of 100, so `agents-` before `repo.full_name | dns_label` (itself up to 63)
    /// makes more than the 63 a namespace may have; `validate` renders it for names that
    /// long and says so. Nothing
    /// in deploy/ creates these namespaces or grants the service rights in them: create
    /// them and bind the service's role there yourself. Nor does `agentpods
    /// admission-policy` write a policy for such a config (no policy can name namespaces
    /// made per run): give `namespace` where you want setup.md §5's admission policies.
    /// Names fold together: `dns_label`
    /// makes `.`, `_`, `/` and runs of `-` one `-`, so `acme/pay.ments`, `acme/pay_ments`
    /// and `acme-pay/ments` share `acme/pay-ments`' namespaces (and `repo.name` alone
    /// drops the owner too), and a name past 63 characters is cut and hashed (the hash is
    /// of the whole text, so two cut names stay apart). Whoever can
    /// create such a repository gets runs in that namespace, next to what you put there:
    /// keep per-repository Secrets and quotas out of templated namespaces.
    #[serde(default)]
    pub namespace_template: Option<TemplateText>,
    /// Further namespaces agents may run in, by name, each with the Pod Security level it
    /// enforces: an agent names one with its `namespace`. The runs of every namespace here
    /// and of `namespace` are watched; the service needs its rights in each (deploy/).
    /// A namespace not listed (`namespace` itself, unless listed) is taken as `restricted`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "namespaces_schema")]
    pub namespaces: BTreeMap<DnsLabel, NamespaceConfig>,
    /// The ServiceAccount agent pods run as.
    #[serde(default = "default_service_account")]
    pub service_account: DnsSubdomain,
    /// Defaults for every agent.
    #[serde(default)]
    pub defaults: Defaults,
}

impl ClusterConfig {
    /// The Pod Security level `namespace` enforces, as `namespaces` declares it.
    pub fn pod_security_of(&self, namespace: &str) -> PodSecurity {
        self.namespaces
            .iter()
            .find(|(name, _)| name.as_str() == namespace)
            .map_or(PodSecurity::Restricted, |(_, ns)| ns.pod_security)
    }

    /// Every namespace runs may live in, sorted: `namespace` and those of `namespaces`.
    /// `None` with a `namespace_template` (runs may be in any namespace).
    pub fn run_namespaces(&self) -> Option<Vec<String>> {
        let home = self.namespace.as_ref()?;
        let mut all: Vec<String> = std::iter::once(home)
            .chain(self.namespaces.keys())
            .map(ToString::to_string)
            .collect();
        all.sort();
        all.dedup();
        Some(all)
    }

    /// The namespace an agent's runs live in: its own, else `namespace` (`None` with a
    /// `namespace_template`, rendered per run).
    pub fn namespace_of<'a>(&'a self, agent: &'a Agent) -> Option<&'a DnsLabel> {
        agent.namespace.as_ref().or(self.namespace.as_ref())
    }
}

/// A map from namespace names to their settings; the names are checked too.
fn namespaces_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<BTreeMap<String, NamespaceConfig>>();
    let names = generator.subschema_for::<DnsLabel>();
    schema.insert("propertyNames".into(), names.to_value());
    schema
}

/// A namespace agents may run in.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    /// The Pod Security level the namespace enforces (its
    /// `pod-security.kubernetes.io/enforce` label). Only agents that opt in with the same
    /// `pod_security` may run pods below `restricted` here.
    #[serde(default)]
    pub pod_security: PodSecurity,
}

/// A Pod Security Standards level, loosest first: `privileged`, `baseline` or
/// `restricted`
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PodSecurity {
    /// Unrestricted: anything goes.
    Privileged,
    /// Prevents known privilege escalations: no host namespaces, hostPath, privileged
    /// containers or added capabilities beyond the default set; root is allowed.
    Baseline,
    /// Hardened: baseline, and non-root, no privilege escalation, every capability dropped,
    /// a seccomp profile, only ephemeral and projected volume types.
    #[default]
    Restricted,
}

impl PodSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurity::Privileged => "privileged",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Restricted => "restricted",
        }
    }

    /// Whether a namespace enforcing `self` admits pods that meet `pods`.
    pub fn admits(self, pods: PodSecurity) -> bool {
        pods >= self
    }
}

impl std::fmt::Display for PodSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_service_account() -> DnsSubdomain {
    DnsSubdomain("agent".into())
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The name of an entry in `images`.
    #[serde(default = "default_image")]
    pub image: String,
    /// The resources of an agent without its own `resources`.
    #[serde(default = "default_resources")]
    pub resources: Resources,
    /// Longest a run may take once its pod runs.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Longest a run may wait for its pod to start.
    #[serde(default = "default_pending_timeout")]
    pub pending_timeout: Duration,
    /// How long a finished run and its objects are kept.
    #[serde(default = "default_ttl")]
    pub ttl_after_finished: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            image: default_image(),
            resources: default_resources(),
            timeout: default_timeout(),
            pending_timeout: default_pending_timeout(),
            ttl_after_finished: default_ttl(),
        }
    }
}

fn default_image() -> String {
    "agent".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_pending_timeout() -> Duration {
    Duration::from_secs(10 * 60)
}
fn default_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_resources() -> Resources {
    let list = |cpu: &str, memory: &str| ResourceList {
        cpu: Some(Quantity(cpu.into())),
        memory: Some(Quantity(memory.into())),
        ephemeral_storage: None,
    };
    Resources {
        requests: list("500m", "1Gi"),
        limits: list("2", "4Gi"),
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// What the scheduler reserves for the agent's container on a node.
    #[serde(default)]
    pub requests: ResourceList,
    /// The most the container may use: above its CPU it is slowed, above its memory killed.
    #[serde(default)]
    pub limits: ResourceList,
}

/// A container's CPU, memory and local disk, as Kubernetes counts them. A GPU or another
/// extended resource (`nvidia.com/gpu`) is not one of these keys: write it in the pod
/// template's container `resources`, under `limits`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceList {
    /// CPU in cores, as text: `"2"` is two cores, `500m` half of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory in bytes, as text with a unit: `512Mi`, `4Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Local disk the container may fill (its writable layer, logs, `emptyDir`): `10Gi`.
    #[serde(
        default,
        rename = "ephemeral-storage",
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_storage: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The name of a Secret in the agents' namespace.
    pub name: DnsSubdomain,
    /// The key inside that Secret.
    pub key: SecretKey,
    /// The environment variable agents see it as; the entry's name upper-cased when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvName>,
    /// The repositories whose runs may use this secret, as an agent's `repositories`
    /// (every repository when absent). An agent that lists it must run for no repository
    /// beyond these, and templates of runs for other repositories do not see it in
    /// `secrets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "repositories_schema")]
    pub repositories: Option<Vec<RepoGlob>>,
}

impl SecretRef {
    /// The environment variable agents see this secret as, `entry` being its name in
    /// `secrets`: its `env`, else the name upper-cased with `-` and `.` as `_`.
    pub fn env_name(&self, entry: &str) -> String {
        self.env.as_ref().map_or_else(
            || entry.to_uppercase().replace(['-', '.'], "_"),
            |e| e.to_string(),
        )
    }
}

/// A list of repository globs; never `null` (an empty `repositories:` key would read as
/// "every repository", the opposite of what it looks like).
fn repositories_schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<Vec<RepoGlob>>()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Unique; part of run and pod names.
    pub name: AgentName,
    /// What the agent does, in a few words, as a noun phrase (`a fix of what a maintainer
    /// asks`): `/agent help` shows it after "starts" beside the agent's own verbs, and
    /// templates read it as `agent.description` (`none` without one).
    #[serde(default)]
    pub description: Option<String>,
    /// The repositories this agent runs for, as globs over `owner/name`: `acme/*` for every
    /// repository of `acme`, and a leading `!` to leave some out (`!acme/secret-repo`). A
    /// repository is in when it matches a glob without `!` and none with it; case is
    /// ignored, as GitHub ignores it. Every repository the App is installed on when absent.
    /// Elsewhere the agent starts for nothing, and its verbs are unknown there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "repositories_schema")]
    pub repositories: Option<Vec<RepoGlob>>,
    /// YAML templates (in `templates_dir`) rendered into the Kubernetes objects of a run.
    #[serde(default = "default_templates")]
    pub templates: Vec<String>,
    /// A text template (in `templates_dir`) rendered into the agent's task. Without one, a
    /// comment command's run gets the command's text as its task, and a run by any other
    /// trigger an empty task (enough for an agent that needs none, such as an image build).
    #[serde(default)]
    pub prompt: Option<String>,
    /// The name of an entry in `images`; `cluster.defaults.image` when absent.
    #[serde(default)]
    pub image: Option<String>,
    /// The agent command and its arguments, run without a shell; the task is given as a file.
    #[serde(default = "default_command")]
    pub command: Vec<String>,
    /// The events that start this agent.
    #[serde(default)]
    pub triggers: Triggers,
    /// Plain environment variables for the agent container. A name agentpods sets
    /// (`AGENTPODS_*`, `HOME`), a secret of the agent sets (its `env`) or the agent's
    /// template writes is refused: the container would have it twice.
    #[serde(default)]
    #[schemars(schema_with = "env_map_schema")]
    pub env: BTreeMap<EnvName, String>,
    /// Free values for this agent's templates (`agent.params.destination`, say).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Names of entries in `secrets` exposed to this agent as environment variables
    /// (named by the entry's `env`).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// ServiceAccount for this agent; `cluster.service_account` when absent.
    #[serde(default)]
    pub service_account: Option<DnsSubdomain>,
    /// The namespace this agent's runs live in: `cluster.namespace` or one of
    /// `cluster.namespaces`; `cluster.namespace` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<DnsLabel>,
    /// The Pod Security level this agent's pods must meet, checked when they are rendered.
    /// `restricted` unless the agent opts out by name (Kaniko runs as root: `baseline`), in
    /// a namespace that allows it (`cluster.namespaces`).
    #[serde(default)]
    pub pod_security: PodSecurity,
    /// Mount the ServiceAccount token into the pod (off unless asked).
    #[serde(default)]
    pub automount_service_account_token: bool,
    /// The GitHub token a run gets: `none`, or a map of GitHub App permissions to `read`
    /// or `write` (`{ contents: write, pull_requests: write }` to push and open pull
    /// requests). `{ contents: read }` when absent; a map replaces it, so keep `contents`
    /// in it for a private repository's checkout. The shipped pod gives the token only to
    /// agentpods' own steps, never to the agent's process: permissions beyond `contents`
    /// and `pull_requests` serve only a template of one's own (`validate` warns).
    #[serde(default)]
    pub github_token: GithubToken,
    /// Runs in the same group supersede one another.
    #[serde(default)]
    pub concurrency: Option<Concurrency>,
    /// Longest a run of this agent may take once its pod runs, instead of
    /// `cluster.defaults.timeout`.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Longest a run of this agent may wait for its pod to start, instead of
    /// `cluster.defaults.pending_timeout`.
    #[serde(default)]
    pub pending_timeout: Option<Duration>,
    /// How long a finished run of this agent and its objects are kept, instead of
    /// `cluster.defaults.ttl_after_finished`.
    #[serde(default)]
    pub ttl_after_finished: Option<Duration>,
    /// This agent's resources, in place of `cluster.defaults.resources` as a whole (a
    /// `limits` alone leaves `requests` empty, not the defaults').
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// A map from variable names to values; the names are checked too (schemars leaves a map's
/// key type out of the schema).
fn env_map_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<BTreeMap<String, String>>();
    let names = generator.subschema_for::<EnvName>();
    schema.insert("propertyNames".into(), names.to_value());
    schema
}

pub(crate) fn default_templates() -> Vec<String> {
    vec!["agent-pod.yaml".into()]
}
pub(crate) fn default_command() -> Vec<String> {
    vec![
        "codex".into(),
        "exec".into(),
        "--sandbox".into(),
        "workspace-write".into(),
    ]
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// A template naming the group, e.g. `"review-{{ repo.full_name }}-{{ pr.number }}"`.
    pub group: TemplateText,
    /// Cancel the older run when a new one starts in the same group. Older and newer are
    /// by the time GitHub gives the event (a push's, a comment's): a delivery that comes
    /// late, or again, is superseded by the run of a newer event, never the reverse; pushes
    /// within one second (GitHub's times are whole seconds) are ordered by the chain of
    /// their `before`s, and of two that nothing links yet, the one recorded second waits,
    /// `Queued`, until a push between them comes (or the other ends). A run asked for below the global `min_permission`
    /// (let in by a trigger's lower `min_permission`, or a fork's under
    /// `fork_pull_requests: always`) supersedes only the runs the same person asked for,
    /// and waits, `Queued`, for the others: a stranger's `/agent review` never cancels the
    /// maintainers' review.
    #[serde(default)]
    pub cancel_in_progress: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<IssuesTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<CommentTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseTrigger>,
}

impl Triggers {
    /// The `min_permission` each trigger sets for itself.
    pub fn min_permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        [
            self.pull_request.as_ref().and_then(|t| t.min_permission),
            self.issues.as_ref().and_then(|t| t.min_permission),
            self.comment.as_ref().and_then(|t| t.min_permission),
            self.push.as_ref().and_then(|t| t.min_permission),
            self.release.as_ref().and_then(|t| t.min_permission),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequestTrigger {
    #[serde(default = "default_pr_actions")]
    pub actions: Vec<PullRequestAction>,
    /// Globs on the base branch; any branch when empty.
    #[serde(default)]
    pub branches: Vec<Glob>,
    /// Globs on changed files; at least one must match when given.
    #[serde(default)]
    pub paths: Vec<Glob>,
    /// Globs on changed files that do not count.
    #[serde(default)]
    pub paths_ignore: Vec<Glob>,
    /// The pull request must carry at least one of these labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Also run on draft pull requests.
    #[serde(default)]
    pub draft: bool,
    /// The lowest repository permission that may start this agent by this trigger,
    /// instead of `github.authorization.min_permission` (e.g. `admin` for a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_permission: Option<Permission>,
}

pub(crate) fn default_pr_actions() -> Vec<PullRequestAction> {
    use PullRequestAction::*;
    vec![Opened, Synchronize, Reopened, ReadyForReview]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
// Spelled as GitHub spells the action, variant by variant: a renamed variant leaves
// services.yaml as it was (architecture review 12c, R5).
pub enum PullRequestAction {
    #[serde(rename = "opened")]
    Opened,
    #[serde(rename = "synchronize")]
    Synchronize,
    #[serde(rename = "reopened")]
    Reopened,
    #[serde(rename = "ready_for_review")]
    ReadyForReview,
    #[serde(rename = "labeled")]
    Labeled,
    #[serde(rename = "edited")]
    Edited,
    #[serde(rename = "closed")]
    Closed,
}

impl PullRequestAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Synchronize => "synchronize",
            Self::Reopened => "reopened",
            Self::ReadyForReview => "ready_for_review",
            Self::Labeled => "labeled",
            Self::Edited => "edited",
            Self::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuesTrigger {
    #[serde(default = "default_issue_actions")]
    pub actions: Vec<IssuesAction>,
    /// The issue must carry at least one of these labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The lowest repository permission that may start this agent by this trigger,
    /// instead of `github.authorization.min_permission` (e.g. `admin` for a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_permission: Option<Permission>,
}

pub(crate) fn default_issue_actions() -> Vec<IssuesAction> {
    vec![IssuesAction::Opened, IssuesAction::Labeled]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
// Spelled as GitHub spells the action, variant by variant: a renamed variant leaves
// services.yaml as it was (architecture review 12c, R5).
pub enum IssuesAction {
    #[serde(rename = "opened")]
    Opened,
    #[serde(rename = "labeled")]
    Labeled,
    #[serde(rename = "edited")]
    Edited,
    #[serde(rename = "reopened")]
    Reopened,
}

impl IssuesAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Labeled => "labeled",
            Self::Edited => "edited",
            Self::Reopened => "reopened",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentTrigger {
    /// Command verbs that start this agent: the built-in verbs that start agents (`run`,
    /// `review`), or verbs of your own; not the verbs the service carries out itself.
    /// The reference's text is [`comment_verbs_description`], made from the parser's list.
    #[schemars(description = comment_verbs_description())]
    pub verbs: Vec<Verb>,
    /// Where the comment may be: on pull requests, on issues, or both. (Not `on`, which
    /// YAML 1.1 tools read as `true`.)
    #[serde(default = "default_comment_targets")]
    pub targets: Vec<CommentTarget>,
    /// The lowest repository permission that may start this agent by this trigger,
    /// instead of `github.authorization.min_permission` (e.g. `admin` for a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_permission: Option<Permission>,
}

/// What the reference says of `comment.verbs`, from the parser's list of built-in verbs:
/// which of them start agents, and which an agent cannot take.
fn comment_verbs_description() -> String {
    let quoted = |verbs: &mut dyn Iterator<Item = BuiltinVerb>| {
        verbs
            .map(|verb| format!("`{verb}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "Command verbs that start this agent: {}, or verbs of your own. Not {}, which \
         agentpods carries out itself.",
        quoted(&mut BuiltinVerb::starting_agents()),
        quoted(&mut BuiltinVerb::reserved()),
    )
}

fn default_comment_targets() -> Vec<CommentTarget> {
    vec![CommentTarget::PullRequest, CommentTarget::Issue]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommentTarget {
    PullRequest,
    Issue,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushTrigger {
    /// Globs on branch names (without `refs/heads/`).
    #[serde(default)]
    pub branches: Vec<Glob>,
    /// Globs on tag names (without `refs/tags/`).
    #[serde(default)]
    pub tags: Vec<Glob>,
    /// The lowest repository permission that may start this agent by this trigger,
    /// instead of `github.authorization.min_permission` (e.g. `admin` for a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_permission: Option<Permission>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseTrigger {
    #[serde(default = "default_release_actions")]
    pub actions: Vec<ReleaseAction>,
    /// Also run for prereleases.
    #[serde(default)]
    pub prerelease: bool,
    /// The lowest repository permission that may start this agent by this trigger,
    /// instead of `github.authorization.min_permission` (e.g. `admin` for a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_permission: Option<Permission>,
}

pub(crate) fn default_release_actions() -> Vec<ReleaseAction> {
    vec![ReleaseAction::Published]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
// Spelled as GitHub spells the action, variant by variant: a renamed variant leaves
// services.yaml as it was (architecture review 12c, R5).
pub enum ReleaseAction {
    #[serde(rename = "published")]
    Published,
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "released")]
    Released,
    #[serde(rename = "prereleased")]
    Prereleased,
}

impl ReleaseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Created => "created",
            Self::Released => "released",
            Self::Prereleased => "prereleased",
        }
    }
}

/// String newtypes whose syntax is checked when the file is loaded (through the schema's
/// `format`, so every bad value is reported with its position) and again on deserialize.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $format:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $format.check(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $format.schema()
            }
        }
    };
}

checked_string!(
    /// A DNS-1123 label: lowercase letters, digits and `-`, at most 63 characters.
    DnsLabel,
    Format::DnsLabel
);

/// An agent's name, as services.yaml gives it: a DNS label, part of run and pod names.
/// The planner, render and what they hand on carry it as this type; the stored runs keep
/// it as a string (`AgentRunSpec.agent`, `spec.source`), read back through
/// [`AgentName::try_from`] at that seam.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentName(DnsLabel);

/// As the name's text, so a decision or reason reads as it did when the name was a string.
impl std::fmt::Debug for AgentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl AgentName {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for AgentName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DnsLabel::try_from(s).map(AgentName)
    }
}

impl std::str::FromStr for AgentName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AgentName::try_from(s.to_string())
    }
}

impl std::fmt::Display for AgentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq<str> for AgentName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AgentName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// services.yaml's schema says what it said before: a DNS label.
impl JsonSchema for AgentName {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "AgentName".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<DnsLabel>()
    }
}
checked_string!(
    /// A DNS-1123 subdomain, as Kubernetes object names are.
    DnsSubdomain,
    Format::DnsSubdomain
);
checked_string!(
    /// A Kubernetes quantity such as `500m`, `2`, `4Gi`.
    Quantity,
    Format::Quantity
);
checked_string!(
    /// A glob: `*` within a path segment, `**` across segments, `{a,b}` alternatives.
    Glob,
    Format::Glob
);
checked_string!(
    /// A repository glob: `owner/name`, where `*` matches within the owner or the name
    /// (`acme/*`), and a leading `!` leaves out what it matches (`!acme/secret-repo`).
    RepoGlob,
    Format::Repository
);
checked_string!(
    /// A minijinja template (checked for syntax when loaded).
    TemplateText,
    Format::Template
);
checked_string!(
    /// A container image reference, such as `ghcr.io/org/agent:1.2.3`.
    ImageRef,
    Format::Image
);
checked_string!(
    /// An environment variable name.
    EnvName,
    Format::EnvName
);
checked_string!(
    /// A key of a Kubernetes Secret.
    SecretKey,
    Format::SecretKey
);
checked_string!(
    /// A team as `org/team-slug`.
    TeamSlug,
    Format::Team
);
checked_string!(
    /// An `allowed_users` entry: a GitHub login, or `login:id` pinned to the account.
    AllowedUser,
    Format::User
);

impl AllowedUser {
    /// The login written (for `login:id`, the part before the colon).
    pub fn login(&self) -> &str {
        self.0
            .split_once(':')
            .map_or(self.as_str(), |(login, _)| login)
    }

    /// The account id the entry is pinned to, if it names one.
    pub fn id(&self) -> Option<u64> {
        self.0.split_once(':').and_then(|(_, id)| id.parse().ok())
    }

    /// Whether this entry is the account `login` with id `id` (`None` where the payload
    /// gives none): by the id alone when the entry names one (so a login freed by a rename
    /// and taken by someone else does not match, and the account keeps matching under its
    /// new login), else by the login, whatever its case.
    pub fn is(&self, login: &str, id: Option<u64>) -> bool {
        match self.id() {
            Some(pinned) => id == Some(pinned),
            None => self.login().eq_ignore_ascii_case(login),
        }
    }
}

checked_string!(
    /// A command verb: a lowercase word such as `run`, `review` or `docs`. The planner
    /// carries the verb a comment's agents answer as this (`plan::Trigger::Comment`), the
    /// stored run as text, read back through [`Verb::from_str`](std::str::FromStr).
    Verb,
    Format::Verb
);

impl std::str::FromStr for Verb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Verb::try_from(s.to_string())
    }
}

/// A duration written like `90s`, `30m`, `1h 30m`, `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl Serialize for Duration {
    /// In the units a services.yaml is written in (`1d`, `1h 30m`), not humantime's
    /// (`1day`, `1month`), which the reference's defaults showed (new-user review 13c, N8).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = self.0.as_secs();
        let parts: Vec<String> = [
            (secs / 86_400, "d"),
            (secs % 86_400 / 3_600, "h"),
            (secs % 3_600 / 60, "m"),
            (secs % 60, "s"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
        if parts.is_empty() {
            return s.serialize_str("0s");
        }
        s.serialize_str(&parts.join(" "))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        formats::parse_duration(&s)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Format::Duration.schema()
    }
}
