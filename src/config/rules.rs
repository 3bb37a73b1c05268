//! What a config means beyond what the schema says: the cross-references (an agent's
//! image, secrets, templates, namespace) and the rules a schema cannot express, each a
//! problem that refuses the config, at the key it is about. Pure.

use std::collections::BTreeMap;
use std::path::Path;

use super::images::{lower_case_image, lower_case_refusal};
use super::problems::{Flagged, Problems, p};
use super::yaml::Node;
use super::{
    Agent, Config, DnsLabel, Glob, RepoGlob, SecretRef, TemplateSources, default_issue_actions,
    default_pr_actions, default_release_actions, formats, model, repository_file, scope,
    trigger_globs,
};
use crate::github::command::BuiltinVerb;
use crate::suggest::did_you_mean;

/// The names of the service's own command verbs, which an agent cannot take: the
/// built-in verbs that start no agent (`github::command::BuiltinVerb::reserved`).
fn reserved_verbs() -> impl Iterator<Item = &'static str> {
    BuiltinVerb::reserved().map(BuiltinVerb::name)
}

/// Who else sets the environment variable `name` that `agent`'s `env` gives (new-user
/// review 13e, N10: it was taken silently, and the pod had it twice): agentpods itself
/// (`AGENTPODS_*`, `HOME`), a secret the agent is given, or a template of the agent that
/// writes it by name (`- name: GITHUB_API_URL` followed by its `value`).
fn env_set_elsewhere(
    config: &Config,
    agent: &Agent,
    name: &str,
    templates: &TemplateSources,
) -> Option<String> {
    if name.starts_with("AGENTPODS_") {
        return Some(
            "agentpods' own (`AGENTPODS_*` names tell its steps the run, the task and the \
             checkout)"
                .into(),
        );
    }
    if name == "HOME" {
        return Some("set by agentpods' pod (the agent's home folder)".into());
    }
    for entry in &agent.secrets {
        let Some(secret) = config.secrets.get(entry) else {
            continue;
        };
        if secret.env_name(entry) == name {
            return Some(format!(
                "also the variable of secret `{entry}`, which the agent is given (or give the \
                 secret another `env`)"
            ));
        }
    }
    for template in &agent.templates {
        let Some(source) = templates.get(template) else {
            continue;
        };
        let lines: Vec<&str> = source.lines().collect();
        let written = lines.windows(2).position(|pair| {
            let item = pair[0].trim().strip_prefix("- name:").map(str::trim);
            let value = pair[1].trim();
            item == Some(name) && (value.starts_with("value:") || value.starts_with("valueFrom:"))
        });
        if let Some(i) = written {
            return Some(format!(
                "set by its template `{template}` too (line {})",
                i + 1
            ));
        }
    }
    None
}

/// Cross-references and rules the schema cannot express.
pub(super) fn semantic_checks(
    config: &Config,
    tree: &Node,
    templates: &TemplateSources,
    folder: &Path,
) -> Vec<Flagged> {
    let mut problems = Problems::new(tree);

    let prefix = &config.github.command_prefix;
    if prefix.is_empty() || prefix.chars().any(char::is_whitespace) {
        problems.at(
            &["github", "command_prefix"],
            format!("command prefix `{prefix}` must be one word with no spaces, such as /agent"),
        );
    } else if prefix.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        // A word would be read in ordinary text: every comment line beginning "bot, ..."
        // or "Bot is down" would be a command, and answered (new-user review 13b, N15).
        problems.at(
            &["github", "command_prefix"],
            format!(
                "command prefix `{prefix}` begins with a letter or digit, so every comment line \
                 that begins with the word `{prefix}` would be read as a command; begin it with \
                 a sign, as in `/{prefix}`"
            ),
        );
    }
    if let Some(wanted) = &config.repository_config
        && let Err(why) = repository_file::check_path(&wanted.path)
    {
        problems.at(
            &["repository_config", "path"],
            format!("repository_config.path {why}"),
        );
    }
    // A request above its limit: the API server refuses the pod. Said here, where it is
    // written, not at the template line that prints `agent.resources` (new-user review
    // 13b, N10).
    let mut resources: Vec<(Vec<String>, &model::Resources)> = vec![(
        p(&["cluster", "defaults", "resources"]),
        &config.cluster.defaults.resources,
    )];
    for (i, agent) in config.agents.iter().enumerate() {
        if let Some(own) = &agent.resources {
            resources.push((p(&["agents", &i.to_string(), "resources"]), own));
        }
    }
    for (at, list) in resources {
        let pairs = [
            ("cpu", &list.requests.cpu, &list.limits.cpu),
            ("memory", &list.requests.memory, &list.limits.memory),
            (
                "ephemeral-storage",
                &list.requests.ephemeral_storage,
                &list.limits.ephemeral_storage,
            ),
        ];
        for (name, request, limit) in pairs {
            let (Some(request), Some(limit)) = (request, limit) else {
                continue;
            };
            if let (Some(r), Some(l)) = (
                formats::quantity_value(request.as_str()),
                formats::quantity_value(limit.as_str()),
            ) && r > l
            {
                let mut path: Vec<&str> = at.iter().map(String::as_str).collect();
                path.extend(["requests", name]);
                problems.at(
                    &path,
                    format!(
                        "the {name} request `{}` is above its limit `{}`, which the API server \
                         refuses; lower the request or raise the limit",
                        request.as_str(),
                        limit.as_str()
                    ),
                );
            }
        }
    }
    for (name, image) in &config.images {
        if let Some(lower) = lower_case_image(image.as_str()) {
            problems.at(
                &["images", name],
                lower_case_refusal(image.as_str(), &lower),
            );
        }
    }

    match (
        &config.cluster.namespace,
        &config.cluster.namespace_template,
    ) {
        (None, None) => problems.reading(
            &["cluster"],
            &[
                p(&["cluster", "namespace"]),
                p(&["cluster", "namespace_template"]),
            ],
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
        problems.reading(
            &["cluster", "defaults", "image"],
            &[p(&["images"])],
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

    // One login pinned to two accounts (review 15e, E3): one of the ids is not the
    // account that holds the login, a typo or a stale entry that trusts someone else.
    let auth = &config.github.authorization;
    let mut pinned: BTreeMap<String, u64> = BTreeMap::new();
    let everyone = auth
        .allowed_users
        .iter()
        .enumerate()
        .map(|(k, u)| (vec!["allowed_users".to_string(), k.to_string()], u))
        .chain(auth.allowed_in.iter().enumerate().flat_map(|(i, a)| {
            a.users.iter().enumerate().map(move |(k, u)| {
                (
                    vec![
                        "allowed_in".to_string(),
                        i.to_string(),
                        "users".to_string(),
                        k.to_string(),
                    ],
                    u,
                )
            })
        }));
    for (path, user) in everyone {
        let Some(id) = user.id() else { continue };
        let login = user.login().to_ascii_lowercase();
        match pinned.get(&login) {
            Some(first) if *first != id => {
                let mut at = vec!["github", "authorization"];
                at.extend(path.iter().map(String::as_str));
                problems.at(
                    &at,
                    format!(
                        "`{user}` pins login `{}` to account {id}, and another entry pins it to \
                         account {first}: one login is one account; keep the `id` that \
                         https://api.github.com/users/{} gives",
                        user.login(),
                        user.login()
                    ),
                );
            }
            Some(_) => {}
            None => {
                pinned.insert(login, id);
            }
        }
    }

    for (i, allowed) in config.github.authorization.allowed_in.iter().enumerate() {
        let at = ["github", "authorization", "allowed_in"];
        let index = i.to_string();
        if allowed.repositories.is_empty() {
            // Required here: an entry for every repository is `allowed_users` or
            // `allowed_teams` (review 15e, E2: the advice was to leave it out).
            problems.at(
                &[at[0], at[1], at[2], &index, "repositories"],
                format!(
                    "allowed_in[{i}]: its `repositories` list is empty, so it allows nobody \
                     anywhere; name the repositories (`owner/*`), or list these people in \
                     `allowed_users` / `allowed_teams` for every repository"
                ),
            );
        } else if let Some(why) = allowed.scope().matches_nothing() {
            problems.at(
                &[at[0], at[1], at[2], &index, "repositories"],
                format!("allowed_in[{i}]: its `repositories` list {why}"),
            );
        }
        if allowed.users.is_empty() && allowed.teams.is_empty() {
            problems.at(
                &[at[0], at[1], at[2], &index],
                format!(
                    "allowed_in[{i}]: names no `users` and no `teams`, so it allows nobody; \
                     list who it allows, or remove the entry"
                ),
            );
        }
        for (k, glob) in allowed.scope().idle_negations() {
            problems.at(
                &[at[0], at[1], at[2], &index, "repositories", &k.to_string()],
                format!("allowed_in[{i}]: {}", idle_negation(glob)),
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
            problems.reading(
                &key(&["image"]),
                &[p(&["images"])],
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
                None => problems.reading(
                    &key(&["secrets", &j.to_string()]),
                    &[p(&["secrets"])],
                    unknown_ref("secret", secret, &secret_names, "secrets"),
                ),
                Some(found) => {
                    if let Some(message) = reaches_beyond(agent, secret, found) {
                        problems.reading(
                            &key(&["secrets", &j.to_string()]),
                            &[p(&["secrets"]), key(&["repositories"])],
                            message,
                        );
                    }
                }
            }
        }
        for name in agent.env.keys() {
            if let Some(why) = env_set_elsewhere(config, agent, name.as_str(), templates) {
                problems.at(
                    &key(&["env", name.as_str()]),
                    format!(
                        "agent `{}`: `env.{name}` is {why}: the container would have it twice, \
                         and one value would be lost; give it another name",
                        agent.name
                    ),
                );
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
                problems.at(&at, unknown_template(name, &template_names, folder));
            } else if !is_yaml_template(name) {
                problems.at(
                    &at,
                    format!("template `{name}` renders Kubernetes objects, so it must be a .yaml or .yml file"),
                );
            }
        }
        if let Some(prompt) = &agent.prompt {
            if !templates.contains_key(prompt) {
                problems.at(
                    &key(&["prompt"]),
                    unknown_template(prompt, &template_names, folder),
                );
            } else if is_yaml_template(prompt) {
                // A YAML template prints each value as a quoted YAML value, and is checked
                // as Kubernetes objects (new-user review 13c, N13; 13 N8).
                problems.at(
                    &key(&["prompt"]),
                    format!(
                        "template `{prompt}` is a YAML template, but a prompt is a text \
                         template, rendered into the agent's task: name a Markdown or text \
                         file, like `prompts/task.md` (YAML templates go in `templates`)"
                    ),
                );
            }
        }
        // The shipped pod templates give these to `agentpods agent` as `--push` and
        // `--open-pr`, which take `true` or `false` only: anything else would start a pod
        // that exits at once.
        for param in ["push", "open_pr"] {
            if let Some(value) = agent.params.get(param)
                && value != "true"
                && value != "false"
            {
                let flag = param.replace('_', "-");
                problems.at(
                    &key(&["params", param]),
                    format!(
                        "agent `{}`: `params.{param}` is `{}`, but the agent pod passes it to \
                         `agentpods agent --{flag}`, which takes \"true\" or \"false\" only",
                        agent.name,
                        formats::shorten(value)
                    ),
                );
            }
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
            problems.reading(
                &key(&["name"]),
                &[key(&["triggers"])],
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
                if reserved_verbs().any(|reserved| reserved == verb.as_str()) {
                    problems.at(
                        &key(&["triggers", "comment", "verbs", &j.to_string()]),
                        format!(
                            "`{verb}` is a built-in command of agentpods and cannot start an agent (reserved: {})",
                            reserved_verbs().collect::<Vec<_>>().join(", ")
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
        let ref_globs: [(&str, &str, &[Glob], RefKind); 3] = [
            (
                "pull_request",
                "branches",
                t.pull_request.as_ref().map_or(&[], |p| &p.branches[..]),
                RefKind::Branch,
            ),
            (
                "push",
                "branches",
                t.push.as_ref().map_or(&[], |p| &p.branches[..]),
                RefKind::Branch,
            ),
            (
                "push",
                "tags",
                t.push.as_ref().map_or(&[], |p| &p.tags[..]),
                RefKind::Tag,
            ),
        ];
        for (trigger, list, globs, kind) in ref_globs {
            for (j, glob) in globs.iter().enumerate() {
                let earlier = globs[..j].contains(glob);
                let message = idle_ref_glob(glob.as_str(), kind, earlier).or_else(|| {
                    trigger_globs::regex_as_glob(glob.as_str()).map(|written| {
                        format!(
                            "`{glob}` looks like a regular expression, but {list} are matched \
                             with globs (`*` for any text, `?` for one character, `[0-9]` for \
                             one of a set); write `{written}`"
                        )
                    })
                });
                if let Some(message) = message {
                    problems.at(
                        &key(&["triggers", trigger, list, &j.to_string()]),
                        format!("agents[{i}].triggers.{trigger}.{list}: {message}"),
                    );
                }
            }
        }
        if let Some(pr) = &t.pull_request {
            for (list, globs) in [("paths", &pr.paths), ("paths_ignore", &pr.paths_ignore)] {
                for (j, glob) in globs.iter().enumerate() {
                    if let Some(message) = trigger_globs::idle_path_glob(glob.as_str()) {
                        problems.at(
                            &key(&["triggers", "pull_request", list, &j.to_string()]),
                            format!("agents[{i}].triggers.pull_request.{list}: {message}"),
                        );
                    }
                }
            }
        }
        let named = |actions: Vec<&str>| actions.join(", ");
        let no_actions = [
            (
                "pull_request",
                t.pull_request
                    .as_ref()
                    .is_some_and(|p| p.actions.is_empty()),
                named(default_pr_actions().iter().map(|a| a.as_str()).collect()),
            ),
            (
                "issues",
                t.issues.as_ref().is_some_and(|i| i.actions.is_empty()),
                named(default_issue_actions().iter().map(|a| a.as_str()).collect()),
            ),
            (
                "release",
                t.release.as_ref().is_some_and(|r| r.actions.is_empty()),
                named(
                    default_release_actions()
                        .iter()
                        .map(|a| a.as_str())
                        .collect(),
                ),
            ),
        ];
        for (trigger, empty, defaults) in no_actions {
            if empty {
                problems.at(
                    &key(&["triggers", trigger, "actions"]),
                    format!(
                        "agents[{i}].triggers.{trigger}.actions: an empty list matches no delivery; give at least \
                         one action, or leave `actions` out for the default ({defaults})"
                    ),
                );
            }
        }
    }
    problems.found
}

/// What a trigger's glob is matched with: a branch name or a tag name.
#[derive(Clone, Copy, PartialEq)]
enum RefKind {
    Branch,
    Tag,
}

/// Why a branch or tag glob can never match (or adds nothing), with what to write instead;
/// `None` when it can. `earlier`: the same glob is earlier in its list.
fn idle_ref_glob(glob: &str, kind: RefKind, earlier: bool) -> Option<String> {
    let (what, own, other, other_list) = match kind {
        RefKind::Branch => ("branch", "refs/heads/", "refs/tags/", "tags"),
        RefKind::Tag => ("tag", "refs/tags/", "refs/heads/", "branches"),
    };
    if glob.trim().is_empty() {
        return Some(format!(
            "an empty glob matches no {what}; write one such as `{}`, or leave it out",
            if kind == RefKind::Tag { "v*" } else { "main" }
        ));
    }
    if let Some(rest) = glob.strip_prefix(own) {
        return Some(format!(
            "`{glob}` can never match: {what} names are matched without `{own}`; write `{rest}`"
        ));
    }
    if let Some(rest) = glob.strip_prefix(other) {
        return Some(format!(
            "`{glob}` can never match: it names a {} by its full ref, and this list holds \
             {what} names; put `{rest}` in `{other_list}`",
            if kind == RefKind::Tag {
                "branch"
            } else {
                "tag"
            }
        ));
    }
    if glob.starts_with("refs/") {
        return Some(format!(
            "`{glob}` can never match: {what} names are matched without their `refs/…` prefix"
        ));
    }
    earlier.then(|| format!("`{glob}` is already in this list; leave one out"))
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
    let reads = [p(&["cluster"]), key(&["namespace"]), key(&["pod_security"])];
    if let Some(ns) = &agent.namespace {
        if config.cluster.namespace_template.is_some() {
            problems.reading(
                &key(&["namespace"]),
                &reads,
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
            problems.reading(
                &key(&["namespace"]),
                &reads,
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
        problems.reading(
            &key(&["pod_security"]),
            &reads,
            format!(
                "agent `{}` asks for Pod Security `{}`, but its namespace `{namespace}` \
                 enforces `{enforced}`: {hint}",
                agent.name, agent.pod_security
            ),
        );
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

pub(super) const NOT_IN_FOLDER: &str = "not found in the templates folder";

/// Why `name` is not a template of `folder` (as shown: the config's `templates_dir` beside
/// it, or --templates-dir), and what to write: the folder is named, as the new-user review
/// (13e, N8) asked, since an installed config's is not the checkout's.
fn unknown_template(name: &str, known: &[&str], folder: &Path) -> String {
    let folder = folder.display();
    // The prompt's text itself, in the style of GitHub Actions (new-user review 13d, N12).
    if name.contains("{{")
        || name.contains('\n')
        || name.trim().contains("  ")
        || name.split(' ').count() > 3
    {
        return format!(
            "template `{}` {NOT_IN_FOLDER} `{folder}`: a template is named by its file in the \
             templates folder (`prompts/task.md`), not written here; put the text in such a file",
            crate::text::clip(name.lines().next().unwrap_or(name), 40)
        );
    }
    // `templates/prompts/task.md`: the folder named again (new-user review 13c, N12).
    let within = name
        .split_once('/')
        .map(|(_, rest)| rest)
        .filter(|rest| known.contains(rest));
    if let Some(rest) = within {
        return format!(
            "template `{name}` {NOT_IN_FOLDER} `{folder}`: names are relative to the templates \
             folder, so write `{rest}`"
        );
    }
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => {
            format!("template `{name}` {NOT_IN_FOLDER} `{folder}`, did you mean `{s}`?")
        }
        None => format!(
            "template `{name}` {NOT_IN_FOLDER} `{folder}`: add the file there, or name one it \
             has{}",
            if known.is_empty() {
                " (it has none: give the folder of your templates with `templates_dir`, or \
                 --templates-dir)"
                    .to_string()
            } else {
                format!(
                    " ({})",
                    known
                        .iter()
                        .take(8)
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                        + if known.len() > 8 { ", …" } else { "" }
                )
            }
        ),
    }
}
