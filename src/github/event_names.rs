//! The names GitHub gives its webhook events (`X-GitHub-Event`), as its webhook
//! documentation lists them, so that a misspelt name given by a person (`render --event`)
//! is caught instead of quietly starting nothing.

/// Every webhook event GitHub documents, sorted.
pub const GITHUB_EVENTS: &[&str] = &[
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "github_app_authorization",
    "gollum",
    "installation",
    "installation_repositories",
    "installation_target",
    "issue_comment",
    "issue_dependencies",
    "issues",
    "label",
    "marketplace_purchase",
    "member",
    "membership",
    "merge_group",
    "meta",
    "milestone",
    "org_block",
    "organization",
    "package",
    "page_build",
    "personal_access_token_request",
    "ping",
    "project",
    "project_card",
    "project_column",
    "projects_v2",
    "projects_v2_item",
    "projects_v2_status_update",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "secret_scanning_scan",
    "security_advisory",
    "security_and_analysis",
    "sponsorship",
    "star",
    "status",
    "sub_issues",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

/// Whether GitHub sends an event of this name.
pub fn is_github_event(name: &str) -> bool {
    GITHUB_EVENTS.binary_search(&name).is_ok()
}

/// The event a payload most likely is, from the keys at its top (`pull_request`, `issue`
/// and `comment`, `ref` and `commits`), for the events agentpods reads; none for a body
/// that is not a JSON object or whose keys say no such event. A hint for a person who gave
/// `render` the wrong `--event` (new-user review 13e, N8), never a decision.
pub fn likely_event(body: &[u8]) -> Option<&'static str> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let has = |key: &str| object.contains_key(key);
    Some(if has("zen") && has("hook_id") {
        "ping"
    } else if has("check_run") {
        "check_run"
    } else if has("check_suite") {
        "check_suite"
    } else if has("comment") && has("issue") {
        "issue_comment"
    } else if has("review") && has("pull_request") {
        "pull_request_review"
    } else if has("comment") && has("pull_request") {
        "pull_request_review_comment"
    } else if has("pull_request") {
        "pull_request"
    } else if has("issue") {
        "issues"
    } else if has("release") {
        "release"
    } else if has("ref") && has("commits") {
        "push"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_s_keys_name_its_event() {
        let guess = |json: &str| likely_event(json.as_bytes());
        assert_eq!(
            guess(r#"{"action":"opened","pull_request":{}}"#),
            Some("pull_request")
        );
        assert_eq!(guess(r#"{"issue":{},"comment":{}}"#), Some("issue_comment"));
        assert_eq!(guess(r#"{"issue":{}}"#), Some("issues"));
        assert_eq!(
            guess(r#"{"ref":"refs/heads/main","commits":[]}"#),
            Some("push")
        );
        assert_eq!(
            guess(r#"{"zen":"Keep it simple.","hook_id":1}"#),
            Some("ping")
        );
        assert_eq!(guess(r#"{"other":1}"#), None);
        assert_eq!(guess("[1]"), None);
        assert_eq!(guess("not json"), None);
    }

    #[test]
    fn the_list_is_sorted_and_holds_what_agentpods_reads() {
        assert!(GITHUB_EVENTS.windows(2).all(|w| w[0] < w[1]));
        for name in [
            "pull_request",
            "issues",
            "issue_comment",
            "push",
            "release",
            "ping",
        ] {
            assert!(is_github_event(name), "{name}");
        }
        assert!(!is_github_event("pull_requests"));
    }
}
