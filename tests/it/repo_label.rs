//! The `agentpods.dev/repo` label on everything a run creates names one repository and
//! only one, so an operator's selector by it (`kubectl delete pods -l …`, a NetworkPolicy,
//! a quota) never reaches a look-alike's objects (outside review 15b, B5).

use std::collections::BTreeSet;

use crate::scenario::{OWNER, Pr, Scenario};

/// The values of `agentpods.dev/repo` in a run's manifests.
fn repo_labels(manifests: &str) -> BTreeSet<String> {
    manifests
        .lines()
        .filter_map(|l| l.trim().strip_prefix("agentpods.dev/repo:"))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
        .collect()
}

#[tokio::test]
async fn look_alike_repositories_get_labels_of_their_own() {
    // Before, `x-`, `x.` and `x_` all folded to `Codertocat.x`, the label of `x` itself: a
    // member who creates `acme/payments-` shared `acme/payments`'s label.
    let s = Scenario::new().start().await;
    let mut seen = Vec::new();
    for name in ["x", "x-", "x.", "x_"] {
        let repo = s.gh.another_repository(name);
        s.gh.fake.set_role(&repo, OWNER, "admin");
        let before: BTreeSet<String> = s.manifests().into_iter().collect();
        s.gh.comment_in(&repo, OWNER, Pr(1), "/agent run fix it")
            .await
            .expect_status(202);
        let new: Vec<String> = s
            .manifests()
            .into_iter()
            .filter(|m| !before.contains(m))
            .collect();
        let [run] = new.as_slice() else {
            panic!("{repo}: one run's manifests: {new:#?}");
        };
        let labels = repo_labels(run);
        assert_eq!(labels.len(), 1, "{repo}: {run}");
        seen.push(labels.into_iter().next().expect("a label"));
    }
    assert_eq!(
        seen[0], "Codertocat.x",
        "a name that is a label value stays as it is"
    );
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "{seen:#?}");
    s.end();
}
