//! A file that is not a services.yaml at all, given where one is expected (`validate
//! templates/agent-pod.yaml`, a kustomization, a payload, a repository's `.agentpods.yaml`):
//! said first and once, with what it looks like and what to give instead, rather than as a
//! templates folder the file never named, a YAML error and a line a key (new-user review
//! 13f, N6).

use super::yaml::{Node, NodeKind};
use crate::suggest::did_you_mean;

/// How every message here begins (so the loader leaves out its templates folder check).
pub(super) const NOT_A_CONFIG: &str = "this is not a services.yaml";

/// The message for a file that has none of services.yaml's `required` keys (or only
/// `agents`, as a repository's own file), saying what it looks like; `None` for a file that
/// may be a services.yaml, with mistakes (or an empty one, said elsewhere). `tree` is the
/// file read as YAML, `None` when it does not read (then its lines are read for keys);
/// `known` are services.yaml's top-level keys.
pub(super) fn not_a_config(
    text: &str,
    tree: Option<&Node>,
    required: &[&str],
    known: &[&str],
) -> Option<String> {
    let keys: Option<Vec<&str>> = match tree.map(|t| &t.kind) {
        Some(NodeKind::Null) => return None,
        Some(NodeKind::Map(entries)) => {
            Some(entries.iter().map(|(k, _)| k.name.as_str()).collect())
        }
        Some(_) => Some(Vec::new()),
        None => None,
    };
    let has = |key: &str| match &keys {
        Some(keys) => keys.contains(&key),
        None => text.lines().any(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        }),
    };
    // A list or a plain value: "expected a mapping" says it, unless more is known.
    let not_a_mapping = tree.is_some_and(|t| !matches!(t.kind, NodeKind::Map(_)));
    let tree = tree.filter(|t| matches!(t.kind, NodeKind::Map(_)));
    let text_at = |key: &str| match tree?.get_path(&[key]).map(|n| &n.kind) {
        Some(NodeKind::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    if required.iter().any(|k| has(k)) {
        if keys.as_deref() == Some(&["agents"]) && tree.is_some_and(names_agents_only) {
            let missing: Vec<&str> = required.iter().copied().filter(|k| !has(k)).collect();
            return Some(format!(
                "{NOT_A_CONFIG} (it has no {}); it looks like a repository's own \
                 `.agentpods.yaml`: give your services.yaml, and this file with \
                 `--repository-config FILE --repository OWNER/NAME`",
                listed(&missing, "or")
            ));
        }
        return None;
    }
    let looks_like = if has("sender") || (has("repository") && has("action")) {
        Some(
            "a GitHub webhook payload, which `render --payload` and `replay --payload` take"
                .to_string(),
        )
    } else if ["{{", "{%", "{#"].iter().any(|m| text.contains(m)) {
        Some(
            "a template (`{{ … }}`, `{% … %}`), which is checked through the services.yaml \
             that names it: give that services.yaml"
                .to_string(),
        )
    } else if has("hook_attributes") || has("default_permissions") || has("default_events") {
        // deploy/github-app.json (new-user review 13h, F8).
        Some(
            "a GitHub App manifest, from which `agentpods github-app create` makes the App"
                .to_string(),
        )
    } else if text_at("kind") == Some("Kustomization") {
        Some("a kustomization (`kind: Kustomization`)".to_string())
    } else if has("apiVersion") && has("kind") {
        Some(match text_at("kind") {
            Some(kind) => format!("a Kubernetes manifest (`kind: {kind}`)"),
            None => "Kubernetes manifests".to_string(),
        })
    } else {
        None
    };
    let none_of = format!(
        "{NOT_A_CONFIG} (it has none of {})",
        listed(required, "and")
    );
    // Nothing else it looks like: a services.yaml whose keys are all misspelt (`projct:`)
    // gets its did-you-means instead.
    let near_a_key = || match &keys {
        Some(keys) => keys
            .iter()
            .any(|k| did_you_mean(k, known.iter().copied()).is_some()),
        None => known.iter().any(|k| has(k)),
    };
    if looks_like.is_none() && (not_a_mapping || near_a_key()) {
        return None;
    }
    Some(match looks_like {
        Some(what) if what.ends_with("services.yaml") => format!("{none_of}; it looks like {what}"),
        Some(what) => format!("{none_of}; it looks like {what}: give your services.yaml"),
        None => format!("{none_of}: give your services.yaml"),
    })
}

/// Whether `agents` lists names only (`- review`, `- name: fix` with `events`), as a
/// repository's own file does, not agents with their templates and triggers.
fn names_agents_only(tree: &Node) -> bool {
    let Some(NodeKind::Seq(items)) = tree.get_path(&["agents"]).map(|n| &n.kind) else {
        return false;
    };
    items.iter().all(|item| match &item.kind {
        NodeKind::Str(_) => true,
        NodeKind::Map(entries) => entries
            .iter()
            .all(|(k, _)| k.name == "name" || k.name == "events"),
        _ => false,
    })
}

/// `a`, `a and b`, `a, b and c` (with `word` for "and"), each in backticks.
pub(super) fn listed(keys: &[&str], word: &str) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {word} {last}", rest.join(", ")),
        None => "a mapping".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml;

    fn said(text: &str) -> Option<String> {
        let known = ["project", "cluster", "agents", "images", "github"];
        let tree = yaml::parse(text).ok();
        super::not_a_config(text, tree.as_ref(), &known[..3], &known)
    }

    /// A services.yaml with mistakes is one still: its keys get their did-you-means.
    #[test]
    fn a_services_yaml_with_misspelt_keys_or_no_mapping_is_one_with_mistakes() {
        assert_eq!(said("projct: x\nclustr: {}\nagnets: []\n"), None);
        assert_eq!(said("images: {}\n"), None);
        assert_eq!(said("- project: demo\n"), None);
        assert_eq!(said(""), None);
        assert_eq!(said("project: demo\n"), None);
    }

    #[test]
    fn another_file_is_said_to_be_one_with_what_it_looks_like() {
        let said = |text: &str| said(text).unwrap_or_default();
        assert!(said("apiVersion: v1\nkind: Pod\n").contains("(`kind: Pod`)"));
        assert!(said("apiVersion: v1\nkind: Pod\n---\nkind: Service\n").contains("manifests"));
        assert!(said("Notes: {{ x }}\n").contains("a template"));
        assert!(said("{\"zen\": \"x\", \"sender\": {}}").contains("webhook payload"));
        assert!(said("foo: 1\n").ends_with(": give your services.yaml"));
    }
}
