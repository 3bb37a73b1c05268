//! Comments on issues and pull requests: posting, editing, listing, finding ours by a
//! marker (never posted twice), and reactions.

use std::ops::ControlFlow;

use hyper::http::Method;

use super::http::Replay;
use super::{GithubClient, GithubError, wire};
use crate::github::event::RepoFullName;
use crate::ids::{CommentId, IssueNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Eyes,
    PlusOne,
    Confused,
    Rocket,
}

impl Reaction {
    fn as_str(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::Confused => "confused",
            Reaction::Rocket => "rocket",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: CommentId,
    pub body: String,
    pub author: String,
}

/// How many pages of comments are read when looking for ours.
const MAX_COMMENT_PAGES: u32 = 30;

/// How many pages (of 100) a reply looks through for itself before it is posted
/// ([`GithubClient::create_comment_once`]): it finds itself only when an earlier attempt
/// at the same delivery posted it, so the look is mostly in vain, and on a long thread
/// each refusal cost 31 requests (outside review A5). Past 300 comments a delivery that
/// comes again after its reply was posted may post it once more.
const REPLY_LOOKUP_PAGES: u32 = 3;

/// Whether `c` is ours: written by `own` when we know who we are (a token whose user
/// GitHub will not name does not know, and takes any author).
fn is_ours(c: &IssueComment, own: Option<&str>) -> bool {
    own.is_none_or(|login| c.author.eq_ignore_ascii_case(login))
}

impl GithubClient {
    /// Reacts to an issue or pull request comment. GitHub keeps one reaction of a kind
    /// per user, so repeating it changes nothing.
    pub async fn react_to_comment(
        &self,
        repo: &RepoFullName,
        comment_id: CommentId,
        reaction: Reaction,
    ) -> Result<(), GithubError> {
        let path = format!(
            "/repos/{}/{}/issues/comments/{comment_id}/reactions",
            repo.owner(),
            repo.name()
        );
        let body = wire::Reaction {
            content: reaction.as_str(),
        };
        self.send_for(repo, Method::POST, &path, Some(&body), Replay::Safe)
            .await?;
        Ok(())
    }

    /// Posts a comment. Not retried after an ambiguous failure: see
    /// [`GithubClient::create_comment_once`].
    pub async fn create_comment(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
        body: &str,
    ) -> Result<CommentId, GithubError> {
        let path = format!(
            "/repos/{}/{}/issues/{issue}/comments",
            repo.owner(),
            repo.name()
        );
        let created: wire::Comment = self
            .call(
                repo,
                Method::POST,
                &path,
                Some(&wire::CommentBody { body }),
                Replay::Unsafe,
            )
            .await?;
        Ok(CommentId(created.id))
    }

    pub async fn update_comment(
        &self,
        repo: &RepoFullName,
        comment_id: CommentId,
        body: &str,
    ) -> Result<(), GithubError> {
        let path = format!(
            "/repos/{}/{}/issues/comments/{comment_id}",
            repo.owner(),
            repo.name()
        );
        self.send_for(
            repo,
            Method::PATCH,
            &path,
            Some(&wire::CommentBody { body }),
            Replay::Safe,
        )
        .await?;
        Ok(())
    }

    /// The comments of an issue or pull request, oldest first.
    pub async fn list_comments(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
    ) -> Result<Vec<IssueComment>, GithubError> {
        self.list_comment_pages(repo, issue, MAX_COMMENT_PAGES)
            .await
    }

    /// The first `pages` pages (of 100) of an issue's or pull request's comments.
    async fn list_comment_pages(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
        pages: u32,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let mut out = Vec::new();
        let list = format!(
            "/repos/{}/{}/issues/{issue}/comments",
            repo.owner(),
            repo.name()
        );
        // Every page up to `pages` is wanted: nothing stops early.
        let _all = self
            .list_pages(repo, &list, pages, |batch: Vec<wire::Comment>| {
                out.extend(batch.into_iter().map(|c| IssueComment {
                    id: CommentId(c.id),
                    body: c.body.unwrap_or_default(),
                    author: c.user.login,
                }));
                ControlFlow::Continue(())
            })
            .await?;
        Ok(out)
    }

    /// Our comment carrying `marker`, if there is one, to edit it or not post it twice.
    /// Comments by others never count, even when they quote the marker, nor those of other
    /// bots — except with a token whose user GitHub will not name, where any comment with
    /// the marker is taken (the worst a forgery does then is keep a reply from being
    /// posted). When our login cannot be asked for now, this fails. No marker grants
    /// anything: approvals are the service's own records (`ports::approvals`).
    pub async fn find_comment(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
        marker: &str,
    ) -> Result<Option<IssueComment>, GithubError> {
        self.find_comment_within(repo, issue, marker, MAX_COMMENT_PAGES)
            .await
    }

    /// [`GithubClient::find_comment`] in the first `pages` pages of the thread.
    async fn find_comment_within(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
        marker: &str,
        pages: u32,
    ) -> Result<Option<IssueComment>, GithubError> {
        let own = self.own_login().await?;
        Ok(self
            .list_comment_pages(repo, issue, pages)
            .await?
            .into_iter()
            .find(|c| c.body.contains(marker) && is_ours(c, own)))
    }

    /// Posts `body` (which must contain `marker`) unless our comment with that marker is
    /// already there (in the thread's first [`REPLY_LOOKUP_PAGES`] pages); after an
    /// ambiguous failure it looks again before posting again. The comment's id either way.
    pub async fn create_comment_once(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
        marker: &str,
        body: &str,
    ) -> Result<CommentId, GithubError> {
        debug_assert!(body.contains(marker));
        let found = self
            .find_comment_within(repo, issue, marker, REPLY_LOOKUP_PAGES)
            .await?;
        if let Some(found) = found {
            return Ok(found.id);
        }
        self.post_comment_once(repo, issue, marker, body).await
    }

    /// Posts `body` (which must contain `marker`) without looking for it first: for a
    /// caller that knows it was not posted (it keeps the ids of all it posted). After an
    /// ambiguous failure it looks before posting again.
    pub async fn post_comment_once(
        &self,
        repo: &RepoFullName,
        issue: IssueNumber,
        marker: &str,
        body: &str,
    ) -> Result<CommentId, GithubError> {
        debug_assert!(body.contains(marker));
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.create_comment(repo, issue, body).await {
                Ok(id) => return Ok(id),
                Err(e) if e.is_ambiguous() && attempts < 3 => {
                    tracing::info!(
                        issue = issue.get(),
                        "posting a comment failed ambiguously; looking for it before posting again"
                    );
                    if let Some(found) = self.find_comment(repo, issue, marker).await? {
                        return Ok(found.id);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
