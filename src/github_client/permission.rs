//! Who may run what: a user's permission on a repository (asked for each event; only
//! `none` is remembered for a while) and team membership.

use std::time::Duration;

use hyper::http::Method;

use super::http::Replay;
use super::{GithubClient, GithubError, path_segment, wire};
use crate::github::event::{LoginKey, RepoFullName};
use crate::github::permission::Permission;

fn permission_from(role_name: Option<&str>, permission: &str) -> Permission {
    let parse = |s: &str| match s {
        "admin" => Some(Permission::Admin),
        "maintain" => Some(Permission::Maintain),
        "write" | "push" => Some(Permission::Write),
        "triage" => Some(Permission::Triage),
        "read" | "pull" => Some(Permission::Read),
        "none" => Some(Permission::None),
        _ => None,
    };
    role_name
        .and_then(parse)
        .or_else(|| parse(permission))
        .unwrap_or(Permission::None)
}

impl GithubClient {
    /// The user's permission on `repo` from the collaborator-permission API, asked for
    /// each event: an answer that grants something is never reused, so access removed on
    /// GitHub counts from the next event on (the read is conditional, with the last
    /// answer's ETag, so while it is unchanged GitHub answers 304, which its rate limit
    /// does not count). Only `none` (someone GitHub does not know as a collaborator: 404,
    /// which has no ETag) is believed for `permission_ttl`, so that a stranger's refused
    /// commands each cost one request, not two.
    pub async fn collaborator_permission(
        &self,
        repo: &RepoFullName,
        user: &str,
    ) -> Result<Permission, GithubError> {
        let key = (repo.key(), LoginKey::of(user));
        // Comments at once by one person: the first asks, the others then ask with its
        // ETag (not counted) or find its `none` (review 15c, F10).
        let _turn = self.permission_lookups.take(key.clone()).await;
        let now = self.now();
        if let Some((p @ Permission::None, at)) =
            self.permissions.lock().expect("permissions lock").get(&key)
            && now.duration_since(*at).unwrap_or(Duration::MAX) < self.permission_ttl
        {
            return Ok(*p);
        }
        let path = format!(
            "/repos/{}/{}/collaborators/{}/permission",
            repo.owner(),
            repo.name(),
            path_segment(user)
        );
        let permission = match self
            .call::<wire::CollaboratorPermission>(
                repo,
                Method::GET,
                &path,
                None::<&()>,
                Replay::Safe,
            )
            .await
        {
            Ok(p) => permission_from(p.role_name.as_deref(), &p.permission),
            Err(GithubError::NotFound { .. }) => Permission::None,
            Err(e) => return Err(e),
        };
        let mut remembered = self.permissions.lock().expect("permissions lock");
        if permission == Permission::None {
            remembered.insert(key, (permission, now));
        } else {
            remembered.remove(&key);
        }
        Ok(permission)
    }

    /// Whether `user` is an active member of `org/team_slug`. The App's installation
    /// on `repo` (in that organization) answers.
    pub async fn is_team_member(
        &self,
        repo: &RepoFullName,
        org: &str,
        team_slug: &str,
        user: &str,
    ) -> Result<bool, GithubError> {
        let path = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            path_segment(org),
            path_segment(team_slug),
            path_segment(user)
        );
        match self
            .call::<wire::Membership>(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await
        {
            Ok(m) => Ok(m.state == "active"),
            Err(GithubError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
