//! Pull requests: one read as our event type, and opening one (never two for a head).

use std::ops::ControlFlow;

use hyper::http::Method;

use super::http::Replay;
use super::{GithubClient, GithubError, query_value, wire};
use crate::github::event::{
    AuthorAssociation, CommitSha, PullRequest, PullRequestEnd, RepoFullName, User,
};
use crate::ids::IssueNumber;

/// A pull request that exists: the one we created, or the open one we found for our head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestCreated {
    pub number: IssueNumber,
    pub html_url: String,
}

/// One changed file of a pull request, as `GET /pulls/{n}/files` lists it.
#[derive(serde::Deserialize)]
struct ChangedFile {
    filename: String,
    /// The file's name before a rename.
    #[serde(default)]
    previous_filename: Option<String>,
}

/// GitHub lists at most 3,000 files of a pull request, 100 a page.
const MAX_FILE_PAGES: u32 = 30;

/// The paths a pull request changes, as far as they were read
/// ([`GithubClient::pull_request_files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedPaths {
    /// Each file's name, and its name before a rename, in GitHub's order.
    pub paths: Vec<String>,
    /// Whether these are all GitHub lists (at most 3,000 files), not only the first.
    pub all: bool,
}

impl GithubClient {
    /// The paths a pull request changes, as a `paths` filter reads them: each file's name,
    /// and its name before a rename too (GitHub lists at most 3,000). Read 100 files a
    /// request, until `enough` says the paths so far are enough (a `paths` filter needs
    /// only one that matches: a pull request of 3,000 files whose first page decides
    /// costs one request, not 30).
    pub async fn pull_request_files(
        &self,
        repo: &RepoFullName,
        number: IssueNumber,
        mut enough: impl FnMut(&[String]) -> bool,
    ) -> Result<ChangedPaths, GithubError> {
        let mut paths = Vec::new();
        let list = format!(
            "/repos/{}/{}/pulls/{number}/files",
            repo.owner(),
            repo.name()
        );
        let read = self
            .list_pages(repo, &list, MAX_FILE_PAGES, |batch: Vec<ChangedFile>| {
                for file in batch {
                    paths.extend(file.previous_filename);
                    paths.push(file.filename);
                }
                if enough(&paths) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await?;
        Ok(ChangedPaths {
            paths,
            all: read.is_continue(),
        })
    }

    /// A pull request as our event type (head SHA and branch, fork or not).
    pub async fn pull_request(
        &self,
        repo: &RepoFullName,
        number: IssueNumber,
    ) -> Result<PullRequest, GithubError> {
        let path = format!("/repos/{}/{}/pulls/{number}", repo.owner(), repo.name());
        let w: wire::PullRequest = self
            .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        let decode_err = |e: crate::github::event::ValueError| GithubError::Unreadable {
            what: format!("GET {path}"),
            source: e.into(),
        };
        let git_ref = |r: wire::PullRequestEnd| -> Result<PullRequestEnd, GithubError> {
            Ok(PullRequestEnd {
                ref_name: r.ref_name,
                sha: r.sha.parse::<CommitSha>().map_err(decode_err)?,
                clone_url: r.repo.as_ref().and_then(|x| x.clone_url.clone()),
                repo: match r.repo {
                    Some(x) => Some(x.full_name.parse::<RepoFullName>().map_err(decode_err)?),
                    None => None,
                },
            })
        };
        Ok(PullRequest {
            number: w.number,
            title: w.title,
            body: w.body.unwrap_or_default(),
            draft: w.draft.unwrap_or(false),
            state: w.state,
            merged: w.merged.unwrap_or(false),
            user: User {
                login: w.user.login.into(),
                id: w.user.id,
                kind: w.user.kind.as_str().into(),
            },
            author_association: AuthorAssociation::from(
                w.author_association.as_deref().unwrap_or("NONE"),
            ),
            labels: w.labels.into_iter().map(|l| l.name).collect(),
            head: git_ref(w.head)?,
            base: git_ref(w.base)?,
            html_url: w.html_url,
            // Asked for a comment's command: its closing is not what is decided.
            closed_at: None,
        })
    }

    /// Opens a pull request from `head_branch` (a branch of `repo` itself) onto
    /// `base_branch`. GitHub keeps one open pull request per head and base, and this never
    /// makes a second: after an ambiguous failure it looks for the open pull request of
    /// that head before posting again, and GitHub's 422 "A pull request already exists"
    /// is answered with the one that exists.
    pub async fn create_pull_request(
        &self,
        repo: &RepoFullName,
        head_branch: &str,
        base_branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequestCreated, GithubError> {
        let path = format!("/repos/{}/{}/pulls", repo.owner(), repo.name());
        let request = wire::PullRequestBody {
            title,
            head: head_branch,
            base: base_branch,
            body,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .call::<wire::PullRequestLink>(
                    repo,
                    Method::POST,
                    &path,
                    Some(&request),
                    Replay::Unsafe,
                )
                .await
            {
                Ok(created) => {
                    return Ok(PullRequestCreated {
                        number: IssueNumber(created.number),
                        html_url: created.html_url,
                    });
                }
                Err(e) if e.is_ambiguous() => {
                    tracing::info!(
                        attempts,
                        "opening a pull request failed ambiguously; looking for it"
                    );
                    if let Some(found) = self.find_open_pull_request(repo, head_branch).await? {
                        return Ok(found);
                    }
                    if attempts >= 3 {
                        return Err(e);
                    }
                }
                Err(e @ GithubError::Rejected { status: 422, .. }) => {
                    // "A pull request already exists for owner:branch": ours, from an
                    // earlier attempt. Any other 422 stands.
                    return match self.find_open_pull_request(repo, head_branch).await? {
                        Some(found) => Ok(found),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The open pull request whose head is `head_branch` of `repo`, if there is one.
    pub async fn find_open_pull_request(
        &self,
        repo: &RepoFullName,
        head_branch: &str,
    ) -> Result<Option<PullRequestCreated>, GithubError> {
        let path = format!(
            "/repos/{}/{}/pulls?head={}&state=open&per_page=100",
            repo.owner(),
            repo.name(),
            query_value(&format!("{}:{head_branch}", repo.owner()))
        );
        let list: Vec<wire::PullRequestLink> = self
            .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
            .await?;
        Ok(list.into_iter().next().map(|p| PullRequestCreated {
            number: IssueNumber(p.number),
            html_url: p.html_url,
        }))
    }
}
