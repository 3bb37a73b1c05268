//! The writes carried out through the client: reactions, replies, refused commits' check
//! runs, and a run's check run or status and comment, edited rather than posted again.

use crate::github::CheckConclusion;
use crate::github::event::{CommitSha, Login};
use crate::github_client::{CheckRunWrite, CheckStatus, GithubClient, Reaction};
use crate::ids::{CommentId, IssueNumber};

use super::comment::CommentTemplate;
use super::neutralise::cut;
use super::writes::writes;
use crate::github::CHECK_NAME;

use super::{Posted, ReportError, RunInfo, SUMMARY_LIMIT, Stage, marker};
use crate::github::event::RepoFullName;

/// Carries the writes out; one per service, shared.
pub struct Reporter<'a> {
    pub client: &'a GithubClient,
    pub template: &'a (dyn CommentTemplate + Sync),
}

impl Reporter<'_> {
    /// A command was accepted: eyes on it.
    pub async fn accepted(
        &self,
        repo: &RepoFullName,
        comment_id: CommentId,
    ) -> Result<(), ReportError> {
        self.client
            .react_to_comment(repo, comment_id, Reaction::Eyes)
            .await?;
        Ok(())
    }

    /// A reply (refusal, help, status) posted at most once per `key` (e.g. the delivery
    /// id), even when the same delivery arrives twice or the service restarts.
    pub async fn reply_once(
        &self,
        repo: &RepoFullName,
        number: IssueNumber,
        key: &str,
        body: &str,
    ) -> Result<CommentId, ReportError> {
        let marker = format!("<!-- agentpods:reply={key} -->");
        let body = format!("{}\n\n{marker}", cut(body, SUMMARY_LIMIT));
        Ok(self
            .client
            .create_comment_once(repo, number, &marker, &body)
            .await?)
    }

    /// A refused push or release, told on its commit: one completed check run named
    /// `agentpods`, conclusion `neutral` (a refusal is not the commit's failure, and a
    /// neutral check fails no branch protection), titled with who was refused, the reason
    /// and what to do as its summary. At most one per `key` (the commit and the person
    /// refused): a check run with that external id on the commit is edited, not made
    /// again. Only an App can
    /// make check runs; with a plain token the refusal is only logged.
    pub async fn refused(
        &self,
        repo: &RepoFullName,
        sha: &CommitSha,
        key: &str,
        login: &Login,
        reason: &str,
    ) -> Result<(), ReportError> {
        if !self.client.is_app() {
            tracing::info!(
                sha = %sha,
                "a refused push or release is told with a check run, which only an App can make; logged only"
            );
            return Ok(());
        }
        let who = if login.as_str().is_empty() {
            "nobody known".to_string()
        } else {
            format!("@{login}")
        };
        let check = CheckRunWrite {
            name: CHECK_NAME.to_string(),
            external_id: key.to_string(),
            status: CheckStatus::Completed,
            conclusion: Some(CheckConclusion::Neutral),
            details_url: None,
            title: cut(&format!("No agent started: {who} was refused"), 200),
            summary: cut(reason, SUMMARY_LIMIT),
            started_at: None,
            completed_at: None,
        };
        self.client.create_check_run(repo, sha, &check).await?;
        Ok(())
    }

    /// Shows `run` at `stage` on GitHub, updating `refs` (to be stored in the AgentRun's
    /// status) with what was created.
    pub async fn report(
        &self,
        run: &RunInfo,
        stage: &Stage,
        refs: &mut Posted,
    ) -> Result<(), ReportError> {
        let w = writes(run, stage, self.client.is_app(), self.template)?;
        if let Some(why) = &w.comment_error {
            tracing::warn!(
                run = %run.name,
                "comment.md did not render, so the run's comment is the plain one: {why}"
            );
        }
        if let (Some(check), Some(sha)) = (&w.check, &run.head_sha) {
            match refs.check_run_id {
                Some(id) => self.client.update_check_run(&run.repo, id, check).await?,
                None if refs.fresh => {
                    refs.check_run_id =
                        Some(self.client.post_check_run(&run.repo, sha, check).await?);
                }
                None => {
                    refs.check_run_id =
                        Some(self.client.create_check_run(&run.repo, sha, check).await?);
                }
            }
        }
        if let (Some(status), Some(sha)) = (&w.status, &run.head_sha) {
            self.client.create_status(&run.repo, sha, status).await?;
            refs.status_context = Some(status.context.clone());
        }
        if let (Some(body), Some(number)) = (&w.comment, run.number) {
            match refs.comment_id {
                Some(id) => self.client.update_comment(&run.repo, id, body).await?,
                None if refs.fresh => {
                    let marker = marker(&run.name);
                    refs.comment_id = Some(
                        self.client
                            .post_comment_once(&run.repo, number, &marker, body)
                            .await?,
                    );
                }
                None => {
                    let marker = marker(&run.name);
                    let id = match self.client.find_comment(&run.repo, number, &marker).await? {
                        Some(found) => {
                            if found.body != *body {
                                self.client
                                    .update_comment(&run.repo, found.id, body)
                                    .await?;
                            }
                            found.id
                        }
                        None => {
                            self.client
                                .post_comment_once(&run.repo, number, &marker, body)
                                .await?
                        }
                    };
                    refs.comment_id = Some(id);
                }
            }
        }
        Ok(())
    }
}
