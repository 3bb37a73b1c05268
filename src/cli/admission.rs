//! `agentpods admission-policy`: the ValidatingAdmissionPolicies (and their bindings) that
//! hold the pods and Jobs the service creates to what services.yaml gives its agents.
//!
//! The service may create pods in the runs' namespaces, and Kubernetes lets any pod mount
//! any Secret of its namespace: whoever takes over the service could otherwise start a pod
//! of its own that reads the model's key or the registry's push Secret. One policy per
//! namespace runs live in, matched only for the service's ServiceAccount (other tenants are
//! untouched), admits a pod or Job (created or updated) only when
//! - every container runs an image an agent of that namespace runs,
//! - every Secret it references (volume, projected volume, `secretKeyRef`, `envFrom`,
//!   `imagePullSecrets`) is one its agents' runs reference, or the run's own token Secret
//!   (`<pod or Job>-github-token-<attempt>`, which the service makes itself),
//! - its volumes are configMap, emptyDir, secret, projected or downwardAPI (no hostPath, no
//!   persistent or CSI volume), with no ServiceAccount token unless an agent there asks,
//! - it runs as a ServiceAccount its agents run as,
//! - it shares no host namespace and no container is privileged; and where the namespace
//!   enforces `restricted`, no container may run as root or gain privileges;
//! - it runs where and as its templates place it (outside review A7): their runtime class,
//!   no nodeName, toleration, priority class, hostAliases, dnsConfig or dnsPolicy but
//!   theirs, and no process namespace shared among its containers unless they share one.
//!   What the API server adds itself before admission is admitted too: dnsPolicy
//!   `ClusterFirst` where a template leaves it unset, the not-ready and unreachable
//!   tolerations (DefaultTolerationSeconds), the cluster's default priority class where a
//!   template names none if it is named (`--default-priority-class`; any other class is
//!   refused, outside review 11d A3), and the node the scheduler binds a pod to. No
//!   container adds or drops capabilities but as its templates say.
//!
//! A second policy per namespace holds the Secrets the service creates to the types its
//! runs make (`Opaque`, the run's token): never a ServiceAccount token Secret, which the
//! token controller would fill with a token a pod of the service's could then mount.
//!
//! A third holds everyone but the service (outside review A9): an AgentRun is a full
//! authorization (the controller runs the agent it names on the repository it names, with
//! a write token), so only the service records one, and anyone else may change one only as
//! `agentpods runs cancel` does, by setting `spec.cancel`; nor may anyone else write a
//! run's status (`agentruns/status`), whose phase and outcome the service reports to GitHub
//! as the run's.
//!
//! And one in the service's own namespace (`agentpods-agentapprovals.<namespace>`): only
//! the service records or changes an AgentApproval, which lets a fork pull request's code
//! run at the head it names.
//!
//! What the agents use is read from services.yaml and from their templates, rendered for
//! every trigger they have with the sample events `validate` uses: so every pod a delivery
//! renders is admitted, and a pod the service was made to create otherwise is not. Pure:
//! the config in, YAML out.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PodSpec;
use serde_json::{Value, json};

use crate::config::{Config, PodSecurity};
use crate::render::{Engine, K8sObject, sample};

/// The ServiceAccount of the service in deploy/ (namespace `agentpods`, name `agentpods`).
pub const DEFAULT_SERVICE_USER: &str = "system:serviceaccount:agentpods:agentpods";

/// The prefix of the user name a ServiceAccount acts as.
const SERVICE_ACCOUNT_USER: &str = "system:serviceaccount:";

/// A `--service-user` that names no user the service could be (new-user review 13e, N3:
/// `agentpods`, the ServiceAccount's bare name, was taken, and the policies then held
/// nothing the service made and refused every run it recorded).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServiceUserError {
    #[error("the service's user is empty: write system:serviceaccount:<namespace>:<name>")]
    Empty,
    #[error(
        "`{0}` is a ServiceAccount's name, not the user it acts as: the API server names the \
         ServiceAccount <name> of namespace <namespace> system:serviceaccount:<namespace>:<name> \
         (for deploy/'s: {DEFAULT_SERVICE_USER}); write --service-user \
         system:serviceaccount:<its namespace>:{0}"
    )]
    BareName(String),
    #[error(
        "`{0}` is not a ServiceAccount's user: write system:serviceaccount:<namespace>:<name>, \
         a namespace that is a DNS label and a name that is a DNS subdomain (for deploy/'s: \
         {DEFAULT_SERVICE_USER})"
    )]
    NotAServiceAccount(String),
}

/// `--service-user`, checked: a ServiceAccount's user (`system:serviceaccount:NS:NAME`, both
/// names valid), or a user of another kind that is not a bare name (an OIDC user, say,
/// which [`service_user_warning`] warns of).
pub fn parse_service_user(user: &str) -> Result<String, ServiceUserError> {
    if user.trim().is_empty() {
        return Err(ServiceUserError::Empty);
    }
    match user.strip_prefix(SERVICE_ACCOUNT_USER) {
        Some(rest) => match rest.split_once(':') {
            Some((namespace, name))
                if crate::text::is_dns_label(namespace) && crate::text::is_dns_subdomain(name) =>
            {
                Ok(user.to_string())
            }
            _ => Err(ServiceUserError::NotAServiceAccount(user.to_string())),
        },
        None if crate::text::is_dns_subdomain(user) => {
            Err(ServiceUserError::BareName(user.to_string()))
        }
        None if user.chars().any(char::is_whitespace) => {
            Err(ServiceUserError::NotAServiceAccount(user.to_string()))
        }
        None => Ok(user.to_string()),
    }
}

/// What to say of a `--service-user` that is no ServiceAccount (none for one that is).
pub fn service_user_warning(user: &str) -> Option<String> {
    service_account_namespace(user).is_none().then(|| {
        format!(
            "warning: --service-user {user} is not a ServiceAccount \
             (system:serviceaccount:<namespace>:<name>): the policies hold what that user \
             creates, and the AgentApprovals' policy applies in every namespace, since no \
             ServiceAccount's namespace says where the service keeps them"
        )
    })
}

/// A `--default-priority-class` that names no PriorityClass.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a PriorityClass's name (lowercase letters, digits, `-` and `.`): write it as \
     `kubectl get priorityclasses` shows it"
)]
pub struct PriorityClassError(String);

/// `--default-priority-class`, checked: a PriorityClass's name is a DNS subdomain.
pub fn parse_priority_class(name: &str) -> Result<String, PriorityClassError> {
    if crate::text::is_dns_subdomain(name) {
        Ok(name.to_string())
    } else {
        Err(PriorityClassError(name.to_string()))
    }
}

/// What the service may create in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowed {
    pub namespace: String,
    pub pod_security: Option<PodSecurity>,
    pub images: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
    pub service_accounts: BTreeSet<String>,
    /// Whether a pod may carry a ServiceAccount token (an agent asks for one, or a template
    /// leaves it to the ServiceAccount).
    pub service_account_token: bool,
    /// The types of the Secrets its runs make: the token Secret's `Opaque`, and those its
    /// templates render. Never a ServiceAccount token, unless a template makes one.
    pub secret_types: BTreeSet<String>,
    /// Where and how its pods run, as its templates render them.
    pub placement: Placement,
    /// The kinds (`Pod`, `Job`) its templates render that take the run's token Secret: a
    /// Pod and a Job may share a name, so a token is known by its workload's name and kind
    /// (outside review A8).
    pub token_kinds: BTreeSet<String>,
}

/// The fields of a pod spec that say where and how it runs, each the set of values the
/// templates of a namespace render (`None`: some template leaves it unset). Structured
/// values are kept as JSON, which is also their CEL literal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    pub runtime_classes: BTreeSet<Option<String>>,
    pub node_names: BTreeSet<Option<String>>,
    /// Each toleration, as JSON.
    pub tolerations: BTreeSet<String>,
    pub priority_classes: BTreeSet<Option<String>>,
    /// Whether a template shares one process namespace among a pod's containers.
    pub share_process_namespace: bool,
    /// Unset is the API server's `ClusterFirst`.
    pub dns_policies: BTreeSet<String>,
    /// The whole list, as JSON.
    pub host_aliases: BTreeSet<Option<String>>,
    /// The whole object, as JSON.
    pub dns_configs: BTreeSet<Option<String>>,
    /// Each whole map, as JSON.
    pub node_selectors: BTreeSet<Option<String>>,
    /// The whole object, as JSON.
    pub affinities: BTreeSet<Option<String>>,
    /// The whole list, as JSON.
    pub topology_spreads: BTreeSet<Option<String>>,
    /// Unset is the API server's `default-scheduler`.
    pub scheduler_names: BTreeSet<String>,
    /// Each container's `securityContext.capabilities` (what it adds and drops), as JSON.
    pub capabilities: BTreeSet<Option<String>>,
}

/// The taints the API server's DefaultTolerationSeconds plugin has every pod tolerate for a
/// while (`operator: Exists`, `NoExecute`, 300 seconds unless the cluster says otherwise),
/// before any policy sees it.
const DEFAULT_TOLERATIONS_FOR: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Why no policy can be made.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "cluster.namespace_template makes a namespace per run, so no policy can name them; \
         give cluster.namespace (and cluster.namespaces)"
    )]
    NoFixedNamespaces,
    #[error(
        "agent `{agent}`, {trigger}: cannot render\nwhat to do: run `agentpods validate` on \
         the same config, which shows why at FILE:LINE:COL"
    )]
    Render {
        agent: String,
        trigger: String,
        #[source]
        source: Box<crate::render::RenderError>,
    },
    #[error(
        "agent `{agent}`: the {object} mounts the run's token Secret but is not named \
         `{{{{ run.name }}}}`; the policy knows a run's token Secret by the name of the pod \
         or Job that uses it"
    )]
    TokenName { agent: String, object: String },
    #[error("agent `{agent}` renders into namespace `{namespace}`, which the config does not name")]
    UnknownNamespace { agent: String, namespace: String },
    /// An image or a Secret's name built from the event: no fixed list can allow it.
    #[error(
        "agent `{agent}`: {place} is {values} in different sample deliveries: {}",
        crate::render::pod_names::CHOSEN_BY_THE_EVENT
    )]
    Varies {
        agent: String,
        place: String,
        values: String,
    },
    /// A sample delivery cannot be built, so the agent's objects cannot be known.
    #[error("agent `{agent}`")]
    Sample {
        agent: String,
        #[source]
        source: crate::render::SampleError,
    },
}

/// What the agents of each namespace use, namespace by namespace (sorted).
pub fn allowed(engine: &Engine) -> Result<Vec<Allowed>, PolicyError> {
    let config = engine.config();
    let namespaces = config
        .cluster
        .run_namespaces()
        .ok_or(PolicyError::NoFixedNamespaces)?;
    let mut all: Vec<Allowed> = namespaces
        .iter()
        .map(|ns| Allowed {
            namespace: ns.clone(),
            pod_security: Some(config.cluster.pod_security_of(ns)),
            secret_types: BTreeSet::from(["Opaque".to_string()]),
            ..Allowed::default()
        })
        .collect();
    for agent in &config.agents {
        let home = config
            .cluster
            .namespace_of(agent)
            .map(ToString::to_string)
            .ok_or(PolicyError::NoFixedNamespaces)?;
        let slot = slot_of(&mut all, &home, agent.name.as_str())?;
        configured(config, agent, slot);
        let samples = sample::samples(agent).map_err(|source| PolicyError::Sample {
            agent: agent.name.to_string(),
            source,
        })?;
        let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in samples {
            let token =
                crate::cluster::controller::token_secret_name(s.launch.run_name.as_str(), 1);
            let run = engine
                .render_run_with_token(
                    &s.event,
                    "admission-policy",
                    &s.launch,
                    s.pr.as_ref(),
                    Some(&token),
                )
                .map_err(|source| PolicyError::Render {
                    agent: agent.name.to_string(),
                    trigger: s.trigger.clone(),
                    source: Box::new(source),
                })?;
            let slot = slot_of(&mut all, &run.namespace, agent.name.as_str())?;
            for object in &run.objects {
                if let K8sObject::Secret(s) = object {
                    slot.secret_types
                        .insert(s.type_.clone().unwrap_or_else(|| "Opaque".into()));
                }
                let (name, spec) = match object {
                    K8sObject::Pod(p) => (p.metadata.name.as_deref(), p.spec.as_ref()),
                    K8sObject::Job(j) => (
                        j.metadata.name.as_deref(),
                        j.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
                    ),
                    _ => continue,
                };
                let Some(spec) = spec else { continue };
                for n in crate::render::pod_names::pod_names(object, Some(&token)) {
                    seen.entry(n.place).or_default().insert(n.value);
                }
                // The policy knows a run's token Secret by the name of the pod or Job that
                // mounts it: the run's name, as the shipped templates name them.
                let named = name.is_some_and(|n| token.starts_with(&format!("{n}-github-token-")));
                placed(spec, &mut slot.placement);
                if !used(spec, &token, slot) {
                    if !named {
                        return Err(PolicyError::TokenName {
                            agent: agent.name.to_string(),
                            object: format!("{} {}", object.kind(), name.unwrap_or_default()),
                        });
                    }
                    slot.token_kinds.insert(object.kind().to_string());
                }
            }
        }
        if let Some((place, values)) = seen.into_iter().find(|(_, v)| v.len() > 1) {
            return Err(PolicyError::Varies {
                agent: agent.name.to_string(),
                place,
                values: values
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        }
    }
    Ok(all)
}

fn slot_of<'a>(
    all: &'a mut [Allowed],
    namespace: &str,
    agent: &str,
) -> Result<&'a mut Allowed, PolicyError> {
    all.iter_mut()
        .find(|a| a.namespace == namespace)
        .ok_or_else(|| PolicyError::UnknownNamespace {
            agent: agent.into(),
            namespace: namespace.into(),
        })
}

/// What services.yaml itself gives an agent: its image, its secrets, its ServiceAccount.
fn configured(config: &Config, agent: &crate::config::Agent, slot: &mut Allowed) {
    let image = agent
        .image
        .as_deref()
        .unwrap_or(&config.cluster.defaults.image);
    slot.images.insert(
        config
            .images
            .get(image)
            .map_or(image, |i| i.as_str())
            .to_string(),
    );
    for name in &agent.secrets {
        if let Some(secret) = config.secrets.get(name) {
            slot.secrets.insert(secret.name.to_string());
        }
    }
    slot.service_accounts.insert(
        agent
            .service_account
            .as_ref()
            .unwrap_or(&config.cluster.service_account)
            .to_string(),
    );
    slot.service_account_token |= agent.automount_service_account_token;
}

/// What a rendered pod spec uses; the run's own token Secret is not counted (the policy
/// admits it by its name). Whether the spec leaves the token Secret alone.
fn used(spec: &PodSpec, token: &str, slot: &mut Allowed) -> bool {
    let mut no_token = true;
    let mut secret = |name: Option<&str>| match name {
        Some(name) if name == token => no_token = false,
        Some(name) => {
            slot.secrets.insert(name.to_string());
        }
        None => {}
    };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        for var in c.env.iter().flatten() {
            let r = var
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref());
            secret(r.map(|r| r.name.as_str()));
        }
        for from in c.env_from.iter().flatten() {
            secret(from.secret_ref.as_ref().map(|r| r.name.as_str()));
        }
    }
    for volume in spec.volumes.iter().flatten() {
        secret(
            volume
                .secret
                .as_ref()
                .and_then(|s| s.secret_name.as_deref()),
        );
        let sources = volume.projected.as_ref().and_then(|p| p.sources.as_ref());
        for source in sources.into_iter().flatten() {
            secret(source.secret.as_ref().map(|s| s.name.as_str()));
        }
    }
    for r in spec.image_pull_secrets.iter().flatten() {
        secret(Some(r.name.as_str()));
    }
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        if let Some(image) = &c.image {
            slot.images.insert(image.clone());
        }
    }
    slot.service_accounts.insert(
        spec.service_account_name
            .clone()
            .unwrap_or_else(|| "default".into()),
    );
    slot.service_account_token |= spec.automount_service_account_token != Some(false);
    no_token
}

/// Where and how a rendered pod spec runs.
fn placed(spec: &PodSpec, placement: &mut Placement) {
    placement
        .runtime_classes
        .insert(spec.runtime_class_name.clone());
    placement.node_names.insert(spec.node_name.clone());
    for t in spec.tolerations.iter().flatten() {
        placement.tolerations.insert(json_of(t));
    }
    placement
        .priority_classes
        .insert(spec.priority_class_name.clone());
    placement.share_process_namespace |= spec.share_process_namespace == Some(true);
    placement.dns_policies.insert(
        spec.dns_policy
            .clone()
            .unwrap_or_else(|| "ClusterFirst".into()),
    );
    placement
        .host_aliases
        .insert(spec.host_aliases.as_ref().map(json_of));
    placement
        .dns_configs
        .insert(spec.dns_config.as_ref().map(json_of));
    placement
        .node_selectors
        .insert(spec.node_selector.as_ref().map(json_of));
    placement
        .affinities
        .insert(spec.affinity.as_ref().map(json_of));
    placement
        .topology_spreads
        .insert(spec.topology_spread_constraints.as_ref().map(json_of));
    placement.scheduler_names.insert(
        spec.scheduler_name
            .clone()
            .unwrap_or_else(|| "default-scheduler".into()),
    );
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let capabilities = c
            .security_context
            .as_ref()
            .and_then(|s| s.capabilities.as_ref());
        placement.capabilities.insert(capabilities.map(json_of));
    }
}

/// A value as JSON, which is also its CEL literal.
fn json_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A CEL string literal (JSON's escapes are CEL's).
fn cel_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn cel_list(items: &BTreeSet<String>) -> String {
    let items: Vec<String> = items.iter().map(|s| cel_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Whether the Secret named by the CEL expression `name` is one the pod may reference.
fn allowed_secret(name: &str) -> String {
    format!(
        "({name} in variables.secrets || ({name}.startsWith(variables.token) && \
         {name}.matches('-github-token-[0-9]+$')))"
    )
}

/// A field of `x` (a CEL path) that is set and true.
fn set_true(x: &str, field: &str) -> String {
    format!("(has({x}.{field}) && {x}.{field})")
}

/// `variables.spec.<field>` is one of `literals` (CEL) when set, and may be unset only if
/// `unset`.
fn pinned(field: &str, literals: &[String], unset: bool) -> String {
    let x = format!("variables.spec.{field}");
    let among = format!("{x} in [{}]", literals.join(", "));
    match (literals.is_empty(), unset) {
        (true, true) => format!("!has({x})"),
        (true, false) => "false".to_string(),
        (false, true) => format!("(!has({x}) || {among})"),
        (false, false) => format!("(has({x}) && {among})"),
    }
}

/// The validations that hold a pod to where and how its templates run it.
fn placement_validations(p: &Placement, ns: &str) -> Vec<Value> {
    let literals = |values: &BTreeSet<Option<String>>, quote: bool| -> Vec<String> {
        let lit = |v: &String| if quote { cel_string(v) } else { v.clone() };
        values.iter().flatten().map(lit).collect()
    };
    let shown = |values: &BTreeSet<Option<String>>, unset: &str| -> String {
        let mut shown: Vec<String> = values.iter().flatten().cloned().collect();
        if values.contains(&None) {
            shown.push(unset.to_string());
        }
        if shown.is_empty() {
            "no template renders a pod there".to_string()
        } else {
            shown.join(", ")
        }
    };
    let pod = format!("a pod the agentpods service creates in {ns}");
    let mut out = Vec::new();
    out.push(json!({
        "expression": pinned(
            "runtimeClassName",
            &literals(&p.runtime_classes, true),
            p.runtime_classes.contains(&None),
        ),
        "message": format!(
            "{pod} runs in the runtime class its templates there render ({})",
            shown(&p.runtime_classes, "none: the cluster's default")
        ),
        "reason": "Forbidden",
    }));
    // The scheduler binds a pod to its node (a binding, not the service's write); a pod's
    // update cannot change its nodeName, so an update of a pod may carry the bound one.
    let named_nodes: Vec<String> = p.node_names.iter().flatten().cloned().collect();
    out.push(json!({
        "expression": format!(
            "(request.operation == 'UPDATE' && object.kind == 'Pod') ||\n  {}",
            pinned("nodeName", &literals(&p.node_names, true), p.node_names.contains(&None))
        ),
        "message": if named_nodes.is_empty() {
            format!("{pod} is placed by the scheduler: no template there sets nodeName")
        } else {
            format!(
                "{pod} is placed by the scheduler, or on the nodes its templates there name ({})",
                named_nodes.join(", ")
            )
        },
        "reason": "Forbidden",
    }));
    let rendered: Vec<String> = p.tolerations.iter().cloned().collect();
    out.push(json!({
        "expression": format!(
            "!has(variables.spec.tolerations) || variables.spec.tolerations.all(t,\n  \
             t in [{}] ||\n  \
             (has(t.key) && t.key in {} &&\n    \
             has(t.operator) && t.operator == 'Exists' && has(t.effect) && t.effect == 'NoExecute' &&\n    \
             has(t.tolerationSeconds)))",
            rendered.join(", "),
            cel_list(&DEFAULT_TOLERATIONS_FOR.iter().map(ToString::to_string).collect()),
        ),
        "message": format!(
            "{pod} tolerates only the taints its templates there tolerate ({}) and, for a \
             while, the node conditions the API server adds ({} NoExecute)",
            if rendered.is_empty() { "none".to_string() } else { rendered.join(", ") },
            DEFAULT_TOLERATIONS_FOR.join(" and "),
        ),
        "reason": "Forbidden",
    }));
    // Exactly the classes the templates render, and none where one renders none (outside
    // review 11d, A3): the API server's Priority plugin fills in a cluster's `globalDefault`
    // class before this policy sees a pod, so a cluster with one names it with
    // `--default-priority-class`, which is then admitted too.
    out.push(json!({
        "expression": pinned(
            "priorityClassName",
            &literals(&p.priority_classes, true),
            p.priority_classes.contains(&None),
        ),
        "message": format!(
            "{pod} has the priority class its templates there render ({})",
            shown(&p.priority_classes, "none")
        ),
        "reason": "Forbidden",
    }));
    // What a container may do as root is its template's: Kaniko's drops NET_RAW, which a
    // pod of the service's own may not add back (outside review 11d, A3).
    let capabilities = literals(&p.capabilities, false);
    out.push(json!({
        "expression": format!(
            "variables.containers.all(c,\n  \
             (!has(c.securityContext) || !has(c.securityContext.capabilities)) ? {} :\n    \
             c.securityContext.capabilities in [{}])",
            p.capabilities.contains(&None),
            capabilities.join(", "),
        ),
        "message": format!(
            "{pod} adds and drops the capabilities its templates there say ({})",
            shown(&p.capabilities, "none set")
        ),
        "reason": "Forbidden",
    }));
    if !p.share_process_namespace {
        out.push(json!({
            "expression": format!("!{}", set_true("variables.spec", "shareProcessNamespace")),
            "message": format!(
                "{pod} shares no process namespace among its containers \
                 (shareProcessNamespace)"
            ),
            "reason": "Forbidden",
        }));
    }
    let structured = |values: &BTreeSet<Option<String>>| {
        if values.iter().all(Option::is_none) {
            "none"
        } else {
            "only as they render it"
        }
    };
    out.push(json!({
        "expression": format!(
            "(has(variables.spec.dnsPolicy) ? variables.spec.dnsPolicy : 'ClusterFirst') in {} &&\n  \
             {} &&\n  {}",
            cel_list(&p.dns_policies),
            pinned("hostAliases", &literals(&p.host_aliases, false), p.host_aliases.contains(&None)),
            pinned("dnsConfig", &literals(&p.dns_configs, false), p.dns_configs.contains(&None)),
        ),
        "message": format!(
            "{pod} resolves names as its templates there say: dnsPolicy {}; hostAliases {}; \
             dnsConfig {}",
            if p.dns_policies.is_empty() {
                "none".to_string()
            } else {
                p.dns_policies.iter().cloned().collect::<Vec<_>>().join(", ")
            },
            structured(&p.host_aliases),
            structured(&p.dns_configs),
        ),
        "reason": "Forbidden",
    }));
    // Whose neighbour a pod is: a node selector, an affinity to another tenant's pods, a
    // spread or a scheduler of its own would let it pick them (outside review A8).
    out.push(json!({
        "expression": format!(
            "(has(variables.spec.schedulerName) ? variables.spec.schedulerName : 'default-scheduler') in {} &&\n  \
             {} &&\n  {} &&\n  {}",
            cel_list(&p.scheduler_names),
            pinned("nodeSelector", &literals(&p.node_selectors, false), p.node_selectors.contains(&None)),
            pinned("affinity", &literals(&p.affinities, false), p.affinities.contains(&None)),
            pinned(
                "topologySpreadConstraints",
                &literals(&p.topology_spreads, false),
                p.topology_spreads.contains(&None),
            ),
        ),
        "message": format!(
            "{pod} is scheduled as its templates there say: schedulerName {}; nodeSelector {}; \
             affinity {}; topologySpreadConstraints {}",
            if p.scheduler_names.is_empty() {
                "none".to_string()
            } else {
                p.scheduler_names.iter().cloned().collect::<Vec<_>>().join(", ")
            },
            structured(&p.node_selectors),
            structured(&p.affinities),
            structured(&p.topology_spreads),
        ),
        "reason": "Forbidden",
    }));
    out
}

/// The policies and their bindings for one namespace, as JSON objects: the pods' and Jobs'
/// (`agentpods.<namespace>`), and the Secrets' (`agentpods-secrets.<namespace>`).
pub fn policy_objects(allowed: &Allowed, service_user: &str) -> [Value; 4] {
    let ns = &allowed.namespace;
    let name = format!("agentpods.{ns}");
    let list = |items: &BTreeSet<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let mut validations = vec![
        json!({
            "expression": "variables.containers.all(c, has(c.image) && c.image in variables.images)",
            "message": format!(
                "the agentpods service may run only the images its agents in {ns} run: {}",
                list(&allowed.images)
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": format!(
                "!has(variables.spec.volumes) || variables.spec.volumes.all(v,\n  \
                 (!has(v.secret) || (has(v.secret.secretName) && {})) &&\n  \
                 (!has(v.projected) || !has(v.projected.sources) || v.projected.sources.all(p,\n    \
                 !has(p.secret) || (has(p.secret.name) && {}))))",
                allowed_secret("v.secret.secretName"),
                allowed_secret("p.secret.name"),
            ),
            "message": format!(
                "a volume of a pod the agentpods service creates in {ns} may mount only the \
                 Secrets its agents there use ({}) or the run's own token Secret \
                 (<name>-github-token-<attempt>)",
                list(&allowed.secrets)
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": format!(
                "variables.containers.all(c,\n  \
                 (!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef) ||\n    \
                 {})) &&\n  \
                 (!has(c.envFrom) || c.envFrom.all(e, !has(e.secretRef) || {})))",
                allowed_secret("e.valueFrom.secretKeyRef.name"),
                allowed_secret("e.secretRef.name"),
            ),
            "message": format!(
                "a container the agentpods service creates in {ns} may read from its \
                 environment only the Secrets its agents there use ({}) or the run's own token \
                 Secret (<name>-github-token-<attempt>)",
                list(&allowed.secrets)
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": format!(
                "!has(variables.spec.imagePullSecrets) || variables.spec.imagePullSecrets.all(r,\n  \
                 has(r.name) && {})",
                allowed_secret("r.name")
            ),
            "message": format!(
                "a pod the agentpods service creates in {ns} may pull images only with the \
                 Secrets its agents there use ({})",
                list(&allowed.secrets)
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": format!(
                "!has(variables.spec.volumes) || variables.spec.volumes.all(v,\n  \
                 (has(v.configMap) || has(v.emptyDir) || has(v.secret) || has(v.projected) || has(v.downwardAPI)){})",
                if allowed.service_account_token {
                    String::new()
                } else {
                    " &&\n  (!has(v.projected) || !has(v.projected.sources) || \
                     v.projected.sources.all(p, !has(p.serviceAccountToken)))"
                        .to_string()
                }
            ),
            "message": format!(
                "a pod the agentpods service creates in {ns} may have only configMap, emptyDir, \
                 secret, projected and downwardAPI volumes (no hostPath, no persistent or CSI \
                 volume){}",
                if allowed.service_account_token { "" } else { ", and no ServiceAccount token" }
            ),
            "reason": "Forbidden",
        }),
        json!({
            "expression": format!(
                "(has(variables.spec.serviceAccountName) ? variables.spec.serviceAccountName : 'default')\n  \
                 in {}{}",
                cel_list(&allowed.service_accounts),
                if allowed.service_account_token {
                    ""
                } else {
                    " &&\n  has(variables.spec.automountServiceAccountToken) && \
                     !variables.spec.automountServiceAccountToken"
                }
            ),
            "message": format!(
                "a pod the agentpods service creates in {ns} runs as the ServiceAccount its \
                 agents there run as ({}){}",
                list(&allowed.service_accounts),
                if allowed.service_account_token {
                    ""
                } else {
                    ", with automountServiceAccountToken: false"
                }
            ),
            "reason": "Forbidden",
        }),
    ];
    let level = allowed.pod_security.unwrap_or_default();
    if level != PodSecurity::Privileged {
        validations.push(json!({
            "expression": format!(
                "!{} && !{} && !{} &&\n  \
                 variables.containers.all(c, !has(c.securityContext) || !{})",
                set_true("variables.spec", "hostNetwork"),
                set_true("variables.spec", "hostPID"),
                set_true("variables.spec", "hostIPC"),
                set_true("c.securityContext", "privileged"),
            ),
            "message": format!(
                "a pod the agentpods service creates in {ns} shares no host namespace \
                 (hostNetwork, hostPID, hostIPC) and has no privileged container"
            ),
            "reason": "Forbidden",
        }));
    }
    if level == PodSecurity::Restricted {
        validations.push(json!({
            "expression": "variables.containers.all(c,\n  \
                (has(c.securityContext) && has(c.securityContext.runAsNonRoot)\n    \
                ? c.securityContext.runAsNonRoot\n    \
                : (has(variables.spec.securityContext) && has(variables.spec.securityContext.runAsNonRoot) &&\n      \
                variables.spec.securityContext.runAsNonRoot)) &&\n  \
                !(has(c.securityContext) && has(c.securityContext.runAsUser) && c.securityContext.runAsUser == 0) &&\n  \
                has(c.securityContext) && has(c.securityContext.allowPrivilegeEscalation) &&\n  \
                !c.securityContext.allowPrivilegeEscalation) &&\n\
                !(has(variables.spec.securityContext) && has(variables.spec.securityContext.runAsUser) &&\n  \
                variables.spec.securityContext.runAsUser == 0)",
            "message": format!(
                "{ns} is restricted: every container of a pod the agentpods service creates \
                 there runs as non-root (runAsNonRoot: true, runAsUser not 0) with \
                 allowPrivilegeEscalation: false"
            ),
            "reason": "Forbidden",
        }));
    }
    validations.extend(placement_validations(&allowed.placement, ns));
    let rule = |group: &str, resource: &str| {
        json!({
            "apiGroups": [group],
            "apiVersions": ["v1"],
            "resources": [resource],
            "operations": ["CREATE", "UPDATE"],
        })
    };
    let the_service = json!({
        "name": "the-agentpods-service",
        "expression": format!("request.userInfo.username == {}", cel_string(service_user)),
    });
    let [mut policy, binding] = bound_policy(
        &name,
        Some(ns),
        json!([rule("", "pods"), rule("batch", "jobs")]),
        the_service.clone(),
        json!(validations),
    );
    policy["spec"]["variables"] = json!([
        {
            "name": "spec",
            "expression": "object.kind == 'Job' ? object.spec.template.spec : object.spec",
        },
        {
            "name": "containers",
            "expression": "variables.spec.containers +\n  \
                (has(variables.spec.initContainers) ? variables.spec.initContainers : [])",
        },
        {"name": "images", "expression": cel_list(&allowed.images)},
        {"name": "secrets", "expression": cel_list(&allowed.secrets)},
        {
            // The run's token Secret goes with the name of a workload of a kind that takes
            // one there; any other kind gets a prefix no Secret's name has.
            "name": "token",
            "expression": format!(
                "object.kind in {} ? object.metadata.name + '-github-token-' : '/'",
                cel_list(&allowed.token_kinds)
            ),
        },
    ]);
    let [secrets, secrets_binding] = bound_policy(
        &format!("agentpods-secrets.{ns}"),
        Some(ns),
        json!([rule("", "secrets")]),
        the_service,
        json!([{
            "expression": format!(
                "(has(object.type) ? object.type : 'Opaque') in {}",
                cel_list(&allowed.secret_types)
            ),
            "message": format!(
                "a Secret the agentpods service creates in {ns} is of a type its runs make \
                 ({}): a ServiceAccount token Secret, which Kubernetes would fill with a \
                 token, is not",
                list(&allowed.secret_types)
            ),
            "reason": "Forbidden",
        }]),
    );
    [policy, binding, secrets, secrets_binding]
}

/// The AgentRuns' policy and its binding for one namespace (`agentpods-agentruns.<namespace>`),
/// matched for everyone but the service: an AgentRun has the controller run the agent it
/// names on the repository it names, with a write token, so no one else records one; and
/// anyone else may change a run only as `agentpods runs cancel` does (a merge patch of
/// `spec.cancel`), or in metadata the service neither sets nor reads (its own labels and
/// annotations), never the rest of its spec, an owner reference or finalizer added, the
/// service's `agentpods.dev/` and managed-by labels and annotations, nor its status
/// (`agentruns/status`: the phase and outcome the service reports to GitHub).
pub fn agent_run_policy_objects(namespace: &str, service_user: &str) -> [Value; 2] {
    bound_policy(
        &format!("agentpods-agentruns.{namespace}"),
        Some(namespace),
        json!([{
            "apiGroups": ["agentpods.dev"],
            "apiVersions": ["*"],
            "resources": ["agentruns", "agentruns/status"],
            "operations": ["CREATE", "UPDATE"],
        }]),
        json!({
            "name": "not-the-agentpods-service",
            "expression": format!("request.userInfo.username != {}", cel_string(service_user)),
        }),
        json!([
            {
                "expression": "request.operation != 'CREATE'",
                "message": format!(
                    "only the agentpods service records AgentRuns in {namespace}: an \
                     AgentRun has the controller run the agent it names on the repository \
                     it names, with a token that may write to it"
                ),
                "reason": "Forbidden",
            },
            {
                "expression": "request.operation != 'UPDATE' ||\n  \
                    object.spec.all(k, k == 'cancel' || (k in oldObject.spec && object.spec[k] == oldObject.spec[k])) &&\n  \
                    oldObject.spec.all(k, k == 'cancel' || k in object.spec)",
                "message": format!(
                    "an AgentRun in {namespace} is the agentpods service's record of a run: \
                     anyone else may change only spec.cancel (as `agentpods runs cancel` \
                     does)"
                ),
                "reason": "Forbidden",
            },
            {
                // What the service sets and reads (outside review 11d, A8): an owner
                // reference to an absent object has the garbage collector delete the run
                // (and its pod), a finalizer nobody removes keeps it forever, and the
                // service finds runs by their labels. A finalizer or owner may still be
                // taken away (the garbage collector does, after a delete), never added.
                "expression": format!(
                    "request.operation != 'UPDATE' ||\n  \
                     (!has(object.metadata.ownerReferences) || object.metadata.ownerReferences.all(o,\n    \
                     has(oldObject.metadata.ownerReferences) && o in oldObject.metadata.ownerReferences)) &&\n  \
                     (!has(object.metadata.finalizers) || object.metadata.finalizers.all(f,\n    \
                     has(oldObject.metadata.finalizers) && f in oldObject.metadata.finalizers)) &&\n  \
                     {} &&\n  {}",
                    held_metadata("labels"),
                    held_metadata("annotations"),
                ),
                "message": format!(
                    "an AgentRun in {namespace} is the agentpods service's record of a run: \
                     anyone else may add no owner reference or finalizer to it (an owner that \
                     does not exist has it deleted, a finalizer keeps it forever), nor add, \
                     change or remove its {HELD_PREFIX}* or {MANAGED_BY} labels and \
                     annotations, which the service sets and finds runs by"
                ),
                "reason": "Forbidden",
            },
            {
                "expression": "request.subResource != 'status'",
                "message": format!(
                    "only the agentpods service writes the status of an AgentRun in \
                     {namespace}: its phase and outcome are what the service reports to \
                     GitHub as the run's"
                ),
                "reason": "Forbidden",
            },
        ]),
    )
}

/// The prefix of the labels and annotations the service sets on what it records and reads.
const HELD_PREFIX: &str = "agentpods.dev/";
const MANAGED_BY: &str = crate::render::keys::MANAGED_BY;

/// A CEL condition: the service's own keys of an AgentRun's `metadata.<field>` (labels or
/// annotations) are as they were, none added, changed or taken away.
fn held_metadata(field: &str) -> String {
    let held = |m: &str| {
        format!(
            "(!has({m}.metadata.{field}) || {m}.metadata.{field}.all(k,\n    \
             !(k.startsWith({prefix}) || k == {managed}) ||\n    \
             (has({o}.metadata.{field}) && k in {o}.metadata.{field} && {o}.metadata.{field}[k] == {m}.metadata.{field}[k])))",
            o = if m == "object" { "oldObject" } else { "object" },
            prefix = cel_string(HELD_PREFIX),
            managed = cel_string(MANAGED_BY),
        )
    };
    format!("{} &&\n  {}", held("object"), held("oldObject"))
}

/// The namespace of a ServiceAccount's user name (`system:serviceaccount:<ns>:<name>`).
pub fn service_account_namespace(user: &str) -> Option<&str> {
    let (namespace, name) = user
        .strip_prefix("system:serviceaccount:")?
        .split_once(':')?;
    (!namespace.is_empty() && !name.is_empty()).then_some(namespace)
}

/// The AgentApprovals' policy and its binding (`agentpods-agentapprovals.<namespace>`), in
/// the service's own namespace, where it keeps them (every namespace when `service_user`
/// is no ServiceAccount, whose namespace would say where): an approval lets a fork pull
/// request's code run at the head it names, so only the service records or changes one.
pub fn approval_policy_objects(service_user: &str) -> [Value; 2] {
    let home = service_account_namespace(service_user);
    let (name, where_) = match home {
        Some(ns) => (format!("agentpods-agentapprovals.{ns}"), format!("in {ns}")),
        None => ("agentpods-agentapprovals".to_string(), "here".to_string()),
    };
    bound_policy(
        &name,
        home,
        json!([{
            "apiGroups": ["agentpods.dev"],
            "apiVersions": ["*"],
            "resources": ["agentapprovals"],
            "operations": ["CREATE", "UPDATE"],
        }]),
        json!({
            "name": "not-the-agentpods-service",
            "expression": format!("request.userInfo.username != {}", cel_string(service_user)),
        }),
        json!([{
            "expression": "false",
            "message": format!(
                "only the agentpods service records fork approvals {where_}: an \
                 AgentApproval lets a fork pull request's code run at the head it names"
            ),
            "reason": "Forbidden",
        }]),
    )
}

/// The name of the policy that keeps the service's pods, Jobs and Secrets in its runs'
/// namespaces.
pub const NAMESPACES_POLICY: &str = "agentpods-namespaces";

/// The policy and its binding (`agentpods-namespaces`, in every namespace) that let the
/// service create or change pods, Jobs and Secrets only in `namespaces`, those its agents
/// run in: a namespace where it was given rights (base's `agentpods-builds`, say, under a
/// services.yaml that builds no image) but that services.yaml does not name holds no
/// policy of its own, and would otherwise admit anything (new-user review 13b, N2).
pub fn namespaces_policy_objects(namespaces: &BTreeSet<String>, service_user: &str) -> [Value; 2] {
    let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    bound_policy(
        NAMESPACES_POLICY,
        None,
        json!([
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods", "secrets"],
             "operations": ["CREATE", "UPDATE"]},
            {"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs"],
             "operations": ["CREATE", "UPDATE"]},
        ]),
        json!({
            "name": "the-agentpods-service",
            "expression": format!("request.userInfo.username == {}", cel_string(service_user)),
        }),
        json!([{
            "expression": format!("request.namespace in {}", cel_list(namespaces)),
            "message": format!(
                "the agentpods service creates pods, Jobs and Secrets only in the namespaces \
                 its services.yaml runs agents in: {}",
                names.join(", ")
            ),
            "reason": "Forbidden",
        }]),
    )
}

/// A policy named `name` of `validations` on the requests in `namespace` (`None`: in
/// every namespace) that `rules` describe and `condition` matches (failing closed), and
/// its binding with `Deny`.
fn bound_policy(
    name: &str,
    namespace: Option<&str>,
    rules: Value,
    condition: Value,
    validations: Value,
) -> [Value; 2] {
    let mut constraints = json!({"resourceRules": rules});
    if let Some(namespace) = namespace {
        constraints["namespaceSelector"] =
            json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}});
    }
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": constraints,
            "matchConditions": [condition],
            "validations": validations,
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
        },
    });
    [policy, binding]
}

/// The whole output of `agentpods admission-policy`: a comment, then every namespace's
/// policies and bindings.
pub fn policy_yaml(
    engine: &Engine,
    config_shown: &str,
    service_user: &str,
    default_priority_class: Option<&str>,
) -> Result<String, PolicyError> {
    let mut out = format!(
        "# Generated by `agentpods admission-policy` from {config_shown}; do not edit:\n\
         # make it again after each change to services.yaml. It holds the pods and Jobs that\n\
         # {service_user} (the agentpods service) creates\n\
         # to the images, Secrets, security and placement its agents' runs use, and lets\n\
         # no one else record an AgentRun, change one but to cancel it, write its status,\n\
         # or record a fork approval; the service's pods, Jobs and Secrets stay in the\n\
         # namespaces its agents run in (docs/security.md). Kubernetes 1.30 or later.\n"
    );
    let allowed = allowed(engine)?;
    let namespaces: BTreeSet<String> = allowed.iter().map(|a| a.namespace.clone()).collect();
    for mut allowed in allowed {
        // The API server names the cluster's default class in a pod that names none.
        let classes = &mut allowed.placement.priority_classes;
        if let Some(default) = default_priority_class.filter(|_| classes.contains(&None)) {
            classes.insert(Some(default.to_string()));
        }
        let runs = agent_run_policy_objects(&allowed.namespace, service_user);
        for object in policy_objects(&allowed, service_user)
            .into_iter()
            .chain(runs)
        {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&object).unwrap_or_default());
        }
    }
    for object in namespaces_policy_objects(&namespaces, service_user)
        .into_iter()
        .chain(approval_policy_objects(service_user))
    {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&object).unwrap_or_default());
    }
    Ok(out)
}
