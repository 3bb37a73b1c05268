//! What a config may say but had better not: each a warning (`warning: …`) at the key it
//! is about, which `validate` prints and a load keeps in [`LoadedConfig::warnings`](super::LoadedConfig). Pure.

use super::images::unpinned_image;
use super::problems::{Problems, p};
use super::yaml::Node;
use super::{
    COMMENT_TEMPLATE, CommentTarget, Config, Diagnostic, ForkPolicy, TemplateSources,
    default_command, formats, posts_comments, token,
};

/// A config that posts comments (runs on pull requests or issues, `github.report.comment`
/// on) from a templates folder without `comment.md`: each comment is then agentpods' plain
/// one, which may not be what a folder of one's own meant.
pub(super) fn comment_template_missing(
    config: &Config,
    tree: &Node,
    templates: &TemplateSources,
) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    if posts_comments(config) && !templates.contains_key(COMMENT_TEMPLATE) {
        problems.at(
            &["templates_dir"],
            format!(
                "warning: template `{COMMENT_TEMPLATE}` is not in the templates folder, so each \
                 run's comment on a pull request or an issue will be agentpods' plain one; \
                 copy the shipped templates/{COMMENT_TEMPLATE} to change it, or set \
                 `github.report.comment: false` for none"
            ),
        );
    }
    problems.diagnostics()
}

/// `allowed_users` entries that name a login without its account's id: GitHub frees a
/// login when its account is renamed, and whoever registers it then holds the entry
/// (outside review A4).
pub(super) fn unpinned_users(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    let users = &config.github.authorization.allowed_users;
    for (i, user) in users.iter().enumerate().filter(|(_, u)| u.id().is_none()) {
        let login = user.login();
        problems.at(
            &["github", "authorization", "allowed_users", &i.to_string()],
            format!(
                "warning: allowed_users entry `{login}` is a login, not pinned to an account: \
                 GitHub frees a login when its account is renamed, and whoever registers it \
                 then may start every agent and approve fork heads; write `{login}:<id>` with \
                 the `id` that https://api.github.com/users/{login} gives"
            ),
        );
    }
    for (i, allowed) in config.github.authorization.allowed_in.iter().enumerate() {
        for (k, user) in allowed
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.id().is_none())
        {
            let login = user.login();
            problems.at(
                &[
                    "github",
                    "authorization",
                    "allowed_in",
                    &i.to_string(),
                    "users",
                    &k.to_string(),
                ],
                format!(
                    "warning: allowed_in[{i}] user `{login}` is a login, not pinned to an \
                     account: GitHub frees a login when its account is renamed, and whoever \
                     registers it then may start agents in those repositories; write \
                     `{login}:<id>` with the `id` that https://api.github.com/users/{login} gives"
                ),
            );
        }
    }
    problems.diagnostics()
}

/// Whether a `repositories` entry takes in repositories by a pattern over their names
/// (`acme/payments-*`, `*/docs`) rather than by name or as a whole owner (`acme/*`).
fn name_pattern(glob: &str) -> bool {
    if glob.starts_with('!') {
        return false;
    }
    glob.split_once('/')
        .is_some_and(|(owner, name)| owner.contains('*') || (name.contains('*') && name != "*"))
}

/// Secrets, and agents that carry secrets, scoped by a pattern over repository names:
/// whoever can create a repository, or rename one, into the pattern (in an organisation,
/// any member by default) gets the secret in that repository's runs (outside review 11c,
/// A4).
pub(super) fn secrets_scoped_by_name_patterns(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    let advice = "a repository anyone creates or renames to match it (in an organisation, \
                  any member by default) gets";
    let what_to_do = "list exact names instead, install the App on selected repositories \
                      only, and restrict who may create repositories (docs/security.md)";
    for (name, secret) in &config.secrets {
        for (j, glob) in secret.repositories.iter().flatten().enumerate() {
            if name_pattern(glob.as_str()) {
                problems.at(
                    &["secrets", name, "repositories", &j.to_string()],
                    format!(
                        "warning: secret `{name}` is for `{}`, a pattern over names: {advice} \
                         the secret in its runs; {what_to_do}",
                        formats::shorten(glob.as_str())
                    ),
                );
            }
        }
    }
    for (i, agent) in config.agents.iter().enumerate() {
        if agent.secrets.is_empty() {
            continue;
        }
        for (j, glob) in agent.repositories.iter().flatten().enumerate() {
            if name_pattern(glob.as_str()) {
                problems.at(
                    &["agents", &i.to_string(), "repositories", &j.to_string()],
                    format!(
                        "warning: agent `{}` carries secrets ({}) and runs for `{}`, a pattern \
                         over names: {advice} this agent and its secrets; {what_to_do}",
                        agent.name,
                        agent.secrets.join(", "),
                        formats::shorten(glob.as_str())
                    ),
                );
            }
        }
    }
    problems.diagnostics()
}

/// Namespaces runs should not be put in: the one deploy/ runs the service in (its Secret
/// holds the GitHub App's private key) and Kubernetes' own.
const NOT_FOR_RUNS: [&str; 5] = [
    "agentpods",
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
];

/// A verb two agents answer on the same kind of thread, in repositories they may share:
/// one comment starts both (new-user review 13b, N16). Meant at times (two reviewers), so
/// a warning, at the second agent's verb.
pub(super) fn shared_verbs(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    let prefix = &config.github.command_prefix;
    for (j, second) in config.agents.iter().enumerate() {
        let Some(theirs) = &second.triggers.comment else {
            continue;
        };
        for (k, verb) in theirs.verbs.iter().enumerate() {
            let verb = verb.as_str();
            let first = config.agents[..j].iter().find(|first| {
                first.triggers.comment.as_ref().is_some_and(|ours| {
                    ours.verbs.iter().any(|v| v.as_str() == verb)
                        && ours.targets.iter().any(|t| theirs.targets.contains(t))
                        && first.scope().may_share(second.scope())
                })
            });
            if let Some(first) = first {
                problems.at(
                    &[
                        "agents",
                        &j.to_string(),
                        "triggers",
                        "comment",
                        "verbs",
                        &k.to_string(),
                    ],
                    format!(
                        "warning: agent `{}` answers `{prefix} {verb}` as agent `{}` does, so \
                         one such comment starts both; if that is not meant, give one of them \
                         another verb",
                        second.name, first.name
                    ),
                );
            }
        }
    }
    problems.diagnostics()
}

/// Warnings about values a newcomer writes that load but do not do what they seem to: an
/// agent's program written with its arguments as one string (it runs without a shell), an
/// image without a tag, runs in the service's own namespace or Kubernetes'.
pub(super) fn newcomer_slips(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    for (i, agent) in config.agents.iter().enumerate() {
        if let Some(program) = agent.command.first()
            && program.trim().contains(' ')
        {
            let words: Vec<&str> = agent
                .command
                .iter()
                .flat_map(|c| c.split_whitespace())
                .collect();
            problems.at(
                &["agents", &i.to_string(), "command", "0"],
                format!(
                    "warning: agent `{}`: `{program}` holds a space, but the command runs \
                     without a shell, so this names one program called `{program}`; give \
                     each word its own item: `[{}]`",
                    agent.name,
                    words.join(", ")
                ),
            );
        }
        // A key in plain sight: `env` goes into the pod spec, readable by whoever may read
        // pods (new-user review 13c, N12). The value is never repeated.
        for name in agent.env.keys() {
            // By whole words, so that `MAX_TOKENS` is not one.
            let upper = name.as_str().to_ascii_uppercase();
            let words: Vec<&str> = upper.split('_').collect();
            let secret_like = upper.contains("API_KEY")
                || words
                    .iter()
                    .any(|w| ["TOKEN", "SECRET", "PASSWORD", "PASSWD"].contains(w));
            if secret_like {
                problems.at(
                    &["agents", &i.to_string(), "env", name.as_str()],
                    format!(
                        "warning: agent `{}`: `env.{name}` looks like a credential, and `env` \
                         is written into the pod spec in plain text; put it in a Kubernetes \
                         Secret and name it in `secrets` (`{{ name, key, env: {name} }}`) and \
                         in the agent's `secrets`",
                        agent.name
                    ),
                );
            }
        }
        // The coding agent with nothing to do: only a comment command gives a task of its
        // own (new-user review 13c, N8; configuration.md's payments-review had none).
        let t = &agent.triggers;
        let taskless = [
            ("pull_request", t.pull_request.is_some()),
            ("issues", t.issues.is_some()),
            ("push", t.push.is_some()),
            ("release", t.release.is_some()),
        ]
        .into_iter()
        .find_map(|(trigger, given)| given.then_some(trigger));
        if let Some(trigger) = taskless
            && agent.prompt.is_none()
            && agent.command == default_command()
            && agent.templates.iter().any(|t| t == "agent-pod.yaml")
        {
            problems.at(
                &["agents", &i.to_string(), "triggers", trigger],
                format!(
                    "warning: agent `{}` has no `prompt`, so each run its `{trigger}` trigger \
                     starts gives `{}` an empty task (only a comment command brings a task \
                     of its own); give it a `prompt`, a text template in the templates \
                     folder such as `prompts/review.md`",
                    agent.name,
                    agent.command[..2.min(agent.command.len())].join(" ")
                ),
            );
        }
    }
    for (name, image) in &config.images {
        if let Some(warning) = unpinned_image(image.as_str()) {
            problems.at(&["images", name], warning);
        }
    }
    let mut namespaces: Vec<(Vec<String>, &str)> = Vec::new();
    if let Some(ns) = &config.cluster.namespace {
        namespaces.push((p(&["cluster", "namespace"]), ns.as_str()));
    }
    for ns in config.cluster.namespaces.keys() {
        namespaces.push((p(&["cluster", "namespaces", ns.as_str()]), ns.as_str()));
    }
    for (i, agent) in config.agents.iter().enumerate() {
        if let Some(ns) = &agent.namespace {
            namespaces.push((p(&["agents", &i.to_string(), "namespace"]), ns.as_str()));
        }
    }
    for (path, ns) in namespaces {
        if NOT_FOR_RUNS.contains(&ns) {
            let whose = if ns == "agentpods" {
                "the namespace deploy/ runs the service in, beside the Secret with the GitHub \
                 App's private key, and where deploy/ gives runs no role"
            } else {
                "one of Kubernetes' own"
            };
            problems.at(
                &path,
                format!(
                    "warning: runs in namespace `{ns}`, {whose}; runs belong in a namespace of \
                     their own, such as `agentpods-runs` (docs/setup.md)"
                ),
            );
        }
    }
    problems.diagnostics()
}

/// Agents whose `params` ask the entrypoint to push (`push: "true"`) or open a pull
/// request (`open_pr: "true"`) with a token that cannot: the run would do its work and
/// fail at the end.
pub(super) fn params_without_permission(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    for (i, agent) in config.agents.iter().enumerate() {
        let writes = agent.github_token.writes();
        for (param, permission) in [("push", "contents"), ("open_pr", "pull_requests")] {
            if agent.params.get(param).map(String::as_str) == Some("true")
                && !writes.contains(&permission)
            {
                problems.at(
                    &["agents", &i.to_string(), "params", param],
                    format!(
                        "warning: agent `{}` has `params.{param}: \"true\"`, but its \
                         `github_token` does not give `{permission}: write`, so the run will \
                         fail when it gets there; add `{permission}: write` to its \
                         `github_token`",
                        agent.name
                    ),
                );
            }
        }
    }
    problems.diagnostics()
}

/// Agents that run code from a fork (a pull_request trigger, or a comment trigger on pull
/// requests, with `fork_pull_requests: always`) and get a token that can write: whatever
/// the fork's code makes the agent do, it can do with that token. (With `approve` the
/// planner refuses them on forks.)
pub(super) fn fork_code_with_write_tokens(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    // With `approve`, an agent whose token can write is refused on a fork's code (the
    // planner says so to whoever asks); only `always` lets a fork's code have the token.
    let policy = config.github.authorization.fork_pull_requests;
    if policy != ForkPolicy::Always {
        return problems.diagnostics();
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
    problems.diagnostics()
}

/// Agents whose `github_token` asks for more than an App made by `agentpods github-app
/// create` has (new-user review 13b, N8): a token can have no more than its App, so every
/// run of such an agent fails when its token is minted, whatever the fork policy (new-user
/// review 13c, N1).
pub(super) fn tokens_beyond_the_app(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    let app = token::shipped_app_permissions();
    for (i, agent) in config.agents.iter().enumerate() {
        let beyond: Vec<String> = agent
            .github_token
            .permissions()
            .into_iter()
            .flatten()
            .filter(|(name, access)| app.get(*name).is_none_or(|has| has < *access))
            .map(|(name, access)| format!("{name}: {}", access.as_str()))
            .collect();
        if beyond.is_empty() {
            continue;
        }
        problems.at(
            &["agents", &i.to_string(), "github_token"],
            format!(
                "warning: agent `{}` asks for {}, which an App made by `agentpods github-app \
                 create` (deploy/github-app.json) does not have: a run's token can have no \
                 more than its App, so every run of this agent would fail to get one; give \
                 your App that permission on its settings page (the installations must \
                 accept it), or ask for less",
                agent.name,
                beyond.join(", ")
            ),
        );
    }
    problems.diagnostics()
}

/// `limits.queued_per_repository: 1` where strangers may start something (a trigger's
/// `min_permission` below the global one, or `fork_pull_requests: always`): their runs wait
/// only while fewer than half the limit do, but at least one may, so here one stranger's
/// waiting run takes the only place and every maintainer's run is refused while it waits
/// (review 15e, E6).
pub(super) fn strangers_hold_the_only_place(config: &Config, tree: &Node) -> Vec<Diagnostic> {
    let mut problems = Problems::new(tree);
    if config.limits.queued_per_repository.get() > 1 {
        return problems.diagnostics();
    }
    let global = config.github.authorization.min_permission;
    let lower = config.agents.iter().find_map(|agent| {
        let t = &agent.triggers;
        [
            (
                "pull_request",
                t.pull_request.as_ref().and_then(|x| x.min_permission),
            ),
            ("issues", t.issues.as_ref().and_then(|x| x.min_permission)),
            ("comment", t.comment.as_ref().and_then(|x| x.min_permission)),
            ("push", t.push.as_ref().and_then(|x| x.min_permission)),
            ("release", t.release.as_ref().and_then(|x| x.min_permission)),
        ]
        .into_iter()
        .find(|(_, p)| p.is_some_and(|p| p < global))
        .map(|(trigger, _)| format!("agent `{}`'s `{trigger}` trigger lets them in", agent.name))
    });
    let forks = (config.github.authorization.fork_pull_requests == ForkPolicy::Always
        && config
            .agents
            .iter()
            .any(|a| a.triggers.pull_request.is_some()))
    .then(|| "`fork_pull_requests: always` runs their forks".to_string());
    if let Some(who) = lower.or(forks) {
        problems.at(
            &["limits", "queued_per_repository"],
            format!(
                "warning: `queued_per_repository: 1` gives strangers the only place: a run \
                 asked for below github.authorization.min_permission ({who}) may wait there, \
                 and while it does every maintainer's run in that repository is refused; set \
                 it to 2 or more, so that strangers' runs hold at most half"
            ),
        );
    }
    problems.diagnostics()
}
