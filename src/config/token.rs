//! An agent's `github_token`: the GitHub App permissions of the token its run gets, or
//! `none`. Least by default: `{ contents: read }`, enough to clone a private repository.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::github::permission::Access;

const RW: &[Access] = &[Access::Read, Access::Write];
const R: &[Access] = &[Access::Read];
const W: &[Access] = &[Access::Write];

/// Every permission an installation access token may be asked for
/// (`POST /app/installations/{installation_id}/access_tokens`, `permissions`, in GitHub's
/// REST description of tests/it/support/fake_github/openapi), with the levels of it that are
/// `read` or `write`. tests/it/config_errors.rs checks this list against the description.
pub const TOKEN_PERMISSIONS: &[(&str, &[Access])] = &[
    ("actions", RW),
    ("administration", RW),
    ("artifact_metadata", RW),
    ("attestations", RW),
    ("checks", RW),
    ("code_quality", RW),
    ("codespaces", RW),
    ("contents", RW),
    ("dependabot_secrets", RW),
    ("deployments", RW),
    ("discussions", RW),
    ("environments", RW),
    ("issues", RW),
    ("merge_queues", RW),
    ("metadata", RW),
    ("packages", RW),
    ("pages", RW),
    ("pull_requests", RW),
    ("repository_custom_properties", RW),
    ("repository_hooks", RW),
    ("repository_projects", RW),
    ("secret_scanning_alerts", RW),
    ("secrets", RW),
    ("security_events", RW),
    ("single_file", RW),
    ("statuses", RW),
    ("vulnerability_alerts", RW),
    ("workflows", W),
    ("custom_properties_for_organizations", RW),
    ("members", RW),
    ("organization_administration", RW),
    ("organization_custom_roles", RW),
    ("organization_custom_org_roles", RW),
    ("organization_custom_properties", RW),
    ("organization_copilot_seat_management", RW),
    ("organization_copilot_agent_settings", RW),
    ("organization_announcement_banners", RW),
    ("organization_events", R),
    ("organization_hooks", RW),
    ("organization_personal_access_tokens", RW),
    ("organization_personal_access_token_requests", RW),
    ("organization_plan", R),
    ("organization_projects", RW),
    ("organization_packages", RW),
    ("organization_secrets", RW),
    ("organization_self_hosted_runners", RW),
    ("organization_user_blocking", RW),
    ("email_addresses", RW),
    ("followers", RW),
    ("git_ssh_keys", RW),
    ("gpg_keys", RW),
    ("interaction_limits", RW),
    ("profile", W),
    ("starring", RW),
    ("enterprise_custom_properties_for_organizations", RW),
];

/// The GitHub App manifest agentpods ships (`deploy/github-app.json`), from which
/// `agentpods github-app create` makes the App.
pub const SHIPPED_APP_MANIFEST: &str = include_str!("../../deploy/github-app.json");

/// The permissions the shipped App manifest gives the App (its `default_permissions`): a
/// run's token can have no more than its App, so a permission above these fails every mint
/// on an App made from it.
pub fn shipped_app_permissions() -> BTreeMap<String, Access> {
    serde_json::from_str::<Value>(SHIPPED_APP_MANIFEST)
        .ok()
        .and_then(|m| m.get("default_permissions").cloned())
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default()
}

/// The token a run of an agent gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubToken {
    /// No token: no Secret, nothing minted, nothing mounted.
    None,
    /// A token for the run's one repository with exactly these permissions.
    Permissions(BTreeMap<String, Access>),
}

impl Default for GithubToken {
    /// `{ contents: read }`: enough to clone a private repository, nothing more.
    fn default() -> Self {
        GithubToken::Permissions([("contents".to_string(), Access::Read)].into())
    }
}

impl GithubToken {
    /// The permissions asked for, `None` when the agent gets no token.
    pub fn permissions(&self) -> Option<&BTreeMap<String, Access>> {
        match self {
            GithubToken::None => None,
            GithubToken::Permissions(p) => Some(p),
        }
    }

    /// The permissions given `write`, in order.
    pub fn writes(&self) -> Vec<&str> {
        self.permissions()
            .into_iter()
            .flatten()
            .filter(|(_, a)| **a == Access::Write)
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Why a permission is not one GitHub grants.
fn check_permission(name: &str, access: Access) -> Result<(), String> {
    match TOKEN_PERMISSIONS.iter().find(|(n, _)| *n == name) {
        None => {
            let names = TOKEN_PERMISSIONS.iter().map(|(n, _)| *n);
            Err(match crate::suggest::did_you_mean(name, names) {
                Some(s) => format!("unknown GitHub permission `{name}`, did you mean `{s}`?"),
                None => format!("unknown GitHub permission `{name}`"),
            })
        }
        Some((_, levels)) if !levels.contains(&access) => Err(format!(
            "GitHub grants `{name}` only as {}",
            levels
                .iter()
                .map(|l| format!("`{}`", l.as_str()))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
        Some(_) => Ok(()),
    }
}

impl Serialize for GithubToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GithubToken::None => s.serialize_str("none"),
            GithubToken::Permissions(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for GithubToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Map(BTreeMap<String, Access>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "none" => Ok(GithubToken::None),
            Raw::Word(w) => Err(D::Error::custom(format!(
                "expected `none` or a mapping of GitHub permissions, found `{w}`"
            ))),
            Raw::Map(map) => {
                for (name, access) in &map {
                    check_permission(name, *access).map_err(D::Error::custom)?;
                }
                Ok(GithubToken::Permissions(map))
            }
        }
    }
}

impl JsonSchema for GithubToken {
    fn schema_name() -> Cow<'static, str> {
        "GithubToken".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let permissions = generator.subschema_for::<PermissionMap>();
        let schema = json!({
            "description": "the GitHub token a run gets: `none`, or a mapping of GitHub App \
                permissions to `read` or `write` for a token scoped to the run's one \
                repository (see TokenPermissions)",
            "anyOf": [
                { "type": "string", "const": "none" },
                permissions,
            ],
        });
        Schema::try_from(schema).unwrap_or_default()
    }
}

/// The mapping form of [`GithubToken`], for its schema: every permission GitHub names.
struct PermissionMap;

impl JsonSchema for PermissionMap {
    fn schema_name() -> Cow<'static, str> {
        "TokenPermissions".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let properties: serde_json::Map<String, Value> = TOKEN_PERMISSIONS
            .iter()
            .map(|(name, levels)| {
                let shown: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
                let what = match shown.as_slice() {
                    [only] => format!("GitHub grants it only as `{only}`."),
                    _ => String::new(),
                };
                (
                    (*name).to_string(),
                    json!({ "type": "string", "enum": shown, "description": what }),
                )
            })
            .collect();
        let schema = json!({
            "description": "The GitHub App permissions of a run's token, each `read` or \
                `write` (the names of GitHub's installation access token request). Only \
                those given are granted: `issues: write` never unless it is here.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            "examples": [{ "contents": "write" }],
        });
        Schema::try_from(schema).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<GithubToken, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn none_a_map_or_the_default_of_contents_read() {
        assert_eq!(parse("none").unwrap(), GithubToken::None);
        let token = parse("{ contents: write, pull_requests: write }").unwrap();
        assert_eq!(token.writes(), vec!["contents", "pull_requests"]);
        assert_eq!(
            GithubToken::default().permissions().unwrap(),
            &BTreeMap::from([("contents".to_string(), Access::Read)])
        );
        assert!(GithubToken::default().writes().is_empty());
    }

    #[test]
    fn unknown_names_and_levels_github_does_not_grant_are_refused() {
        let e = parse("{ contnets: read }").unwrap_err();
        assert!(e.contains("did you mean `contents`"), "{e}");
        let e = parse("{ workflows: read }").unwrap_err();
        assert!(e.contains("only as `write`"), "{e}");
        assert!(parse("all").is_err());
    }
}
