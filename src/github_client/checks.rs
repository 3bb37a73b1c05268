//! What a run shows on a commit: check runs (GitHub App auth; one per name and external id,
//! never a second) and commit statuses (token auth).

use std::time::SystemTime;

use hyper::http::Method;

use super::http::Replay;
use super::{GithubClient, GithubError, query_value, wire};
use crate::github::CheckConclusion;
use crate::github::event::{CommitSha, RepoFullName};
use crate::ids::CheckRunId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Queued => "queued",
            CheckStatus::InProgress => "in_progress",
            CheckStatus::Completed => "completed",
        }
    }
}

/// A check run as we write it. `conclusion` only with `Completed`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRunWrite {
    pub name: String,
    /// Our run's name, so a check run can be found again after a restart.
    pub external_id: String,
    pub status: CheckStatus,
    /// How it ended, one of GitHub's check run conclusions (`success`, `failure`, ...).
    pub conclusion: Option<CheckConclusion>,
    pub details_url: Option<String>,
    pub title: String,
    pub summary: String,
    pub started_at: Option<SystemTime>,
    pub completed_at: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    pub state: StatusState,
    pub context: String,
    /// At most 140 characters (longer is cut).
    pub description: String,
    pub target_url: Option<String>,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl GithubClient {
    fn check_body<'a>(c: &'a CheckRunWrite) -> wire::CheckRunBody<'a> {
        wire::CheckRunBody {
            name: Some(&c.name),
            head_sha: None,
            external_id: Some(&c.external_id),
            details_url: c.details_url.as_deref(),
            status: Some(c.status.as_str()),
            started_at: c.started_at.map(rfc3339),
            conclusion: c.conclusion.map(CheckConclusion::as_str),
            completed_at: c.completed_at.map(rfc3339),
            output: Some(wire::CheckRunOutput {
                title: &c.title,
                summary: &c.summary,
            }),
        }
    }

    /// Creates a check run on `sha`. A check run with the same name and external id on
    /// that commit is reused (edited) instead, so a retry or a restart makes no second one.
    pub async fn create_check_run(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        check: &CheckRunWrite,
    ) -> Result<CheckRunId, GithubError> {
        if let Some(id) = self.find_check_run(repo, sha, check).await? {
            self.update_check_run(repo, id, check).await?;
            return Ok(id);
        }
        self.post_check_run(repo, sha, check).await
    }

    /// Creates a check run on `sha` without looking for one first: for a caller that knows
    /// none was made (it keeps the ids of all it made). After an ambiguous failure it still
    /// looks before posting again.
    pub async fn post_check_run(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        check: &CheckRunWrite,
    ) -> Result<CheckRunId, GithubError> {
        let path = format!("/repos/{}/{}/check-runs", repo.owner(), repo.name());
        let mut body = Self::check_body(check);
        body.head_sha = Some(sha.as_str());
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .call::<wire::CheckRun>(repo, Method::POST, &path, Some(&body), Replay::Unsafe)
                .await
            {
                Ok(created) => return Ok(CheckRunId(created.id)),
                Err(e) if e.is_ambiguous() && attempts < 3 => {
                    if let Some(id) = self.find_check_run(repo, sha, check).await? {
                        self.update_check_run(repo, id, check).await?;
                        return Ok(id);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find_check_run(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        check: &CheckRunWrite,
    ) -> Result<Option<CheckRunId>, GithubError> {
        let path = format!(
            "/repos/{}/{}/commits/{}/check-runs?check_name={}&filter=all&per_page=100",
            repo.owner(),
            repo.name(),
            sha.as_str(),
            query_value(&check.name)
        );
        let list: wire::CheckRunList = self
            .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        Ok(list
            .check_runs
            .into_iter()
            .find(|c| c.name == check.name && c.external_id.as_deref() == Some(&check.external_id))
            .map(|c| CheckRunId(c.id)))
    }

    pub async fn update_check_run(
        &self,
        repo: &RepoFullName,
        id: CheckRunId,
        check: &CheckRunWrite,
    ) -> Result<(), GithubError> {
        let path = format!("/repos/{}/{}/check-runs/{id}", repo.owner(), repo.name());
        self.send_for(
            repo,
            Method::PATCH,
            &path,
            Some(&Self::check_body(check)),
            Replay::Safe,
        )
        .await?;
        Ok(())
    }

    /// Sets a commit status. The latest status of a context wins, so this may repeat.
    pub async fn create_status(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        status: &StatusWrite,
    ) -> Result<(), GithubError> {
        let path = format!(
            "/repos/{}/{}/statuses/{}",
            repo.owner(),
            repo.name(),
            sha.as_str()
        );
        let description = crate::text::start(&status.description, 140);
        let body = wire::StatusBody {
            state: status.state.as_str(),
            target_url: status.target_url.as_deref(),
            description,
            context: &status.context,
        };
        self.send_for(repo, Method::POST, &path, Some(&body), Replay::Safe)
            .await?;
        Ok(())
    }
}
