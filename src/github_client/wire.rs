//! GitHub's JSON as it comes and goes, private to the client: only the fields we use, and
//! request bodies with only the fields GitHub's REST description allows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The App itself (`GET /app`): its slug names its bot account, `<slug>[bot]`.
#[derive(Deserialize)]
pub struct App {
    #[serde(default)]
    pub slug: Option<String>,
}

/// The token's own user (`GET /user`): its login is the author of what the token posts.
#[derive(Deserialize)]
pub struct AuthenticatedUser {
    pub login: String,
}

#[derive(Deserialize)]
pub struct Installation {
    pub id: u64,
}

#[derive(Serialize)]
pub struct AccessTokenRequest<'a> {
    pub repositories: Vec<&'a str>,
    pub permissions: &'a BTreeMap<String, crate::github::permission::Access>,
}

#[derive(Deserialize)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: String,
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    #[serde(default)]
    pub repositories: Vec<NamedRepo>,
}

#[derive(Deserialize)]
pub struct NamedRepo {
    pub full_name: String,
}

#[derive(Deserialize)]
pub struct CollaboratorPermission {
    pub permission: String,
    #[serde(default)]
    pub role_name: Option<String>,
}

#[derive(Deserialize)]
pub struct Membership {
    pub state: String,
}

#[derive(Deserialize)]
pub struct User {
    pub login: String,
    #[serde(default)]
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Deserialize)]
pub struct RepoRef {
    pub full_name: String,
    #[serde(default)]
    pub clone_url: Option<String>,
}

/// One end (head or base) of a pull request, as the REST API sends it
/// (`github::event::PullRequestEnd` in the model).
#[derive(Deserialize)]
pub struct PullRequestEnd {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub sha: String,
    pub repo: Option<RepoRef>,
}

#[derive(Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub draft: Option<bool>,
    pub state: String,
    #[serde(default)]
    pub merged: Option<bool>,
    pub user: User,
    #[serde(default)]
    pub author_association: Option<String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub head: PullRequestEnd,
    pub base: PullRequestEnd,
    pub html_url: String,
}

#[derive(Serialize)]
pub struct Reaction<'a> {
    pub content: &'a str,
}

#[derive(Serialize)]
pub struct CheckRunOutput<'a> {
    pub title: &'a str,
    pub summary: &'a str,
}

#[derive(Serialize, Default)]
pub struct CheckRunBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckRunOutput<'a>>,
}

#[derive(Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Deserialize)]
pub struct CheckRunList {
    pub check_runs: Vec<CheckRun>,
}

#[derive(Serialize)]
pub struct StatusBody<'a> {
    pub state: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_url: Option<&'a str>,
    pub description: &'a str,
    pub context: &'a str,
}

#[derive(Serialize)]
pub struct CommentBody<'a> {
    pub body: &'a str,
}

#[derive(Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: User,
}

#[derive(Deserialize)]
pub struct HookDelivery {
    pub id: u64,
    pub guid: String,
    pub delivered_at: String,
    pub redelivery: bool,
    pub status_code: u16,
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Serialize)]
pub struct PullRequestBody<'a> {
    pub title: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub body: &'a str,
}

/// A pull request as created or listed: only what identifies it, its number and web address.
#[derive(Deserialize)]
pub struct PullRequestLink {
    pub number: u64,
    pub html_url: String,
}

/// A git ref (`GET /repos/{o}/{r}/git/ref/{ref}`) or an annotated tag
/// (`GET /repos/{o}/{r}/git/tags/{sha}`): what it points to.
#[derive(Deserialize)]
pub struct GitObjectRef {
    pub object: GitObject,
}

#[derive(Deserialize)]
pub struct GitObject {
    /// `commit`, `tag` (an annotated tag), `tree` or `blob`.
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
}
