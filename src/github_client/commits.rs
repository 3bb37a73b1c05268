//! The commit a git ref names now, annotated tags followed.

use hyper::http::Method;

use super::http::Replay;
use super::{GithubClient, GithubError, path_segment, wire};
use crate::github::event::{CommitSha, RepoFullName};

impl GithubClient {
    /// The commit `git_ref` (`refs/heads/main`, `refs/tags/v1.0`) names now, from the git
    /// refs API: one request for a branch or a lightweight tag, one more per level of an
    /// annotated tag. `NotFound` when the ref does not exist (a draft release's tag).
    pub async fn commit_of(
        &self,
        repo: &RepoFullName,
        git_ref: &str,
    ) -> Result<CommitSha, GithubError> {
        /// Tags of tags of tags… end somewhere; past this, it is not worth following.
        const MAX_TAG_DEPTH: usize = 4;
        let short = git_ref.strip_prefix("refs/").unwrap_or(git_ref);
        let mut path = format!(
            "/repos/{}/{}/git/ref/{}",
            repo.owner(),
            repo.name(),
            path_segment(short)
        );
        for _ in 0..=MAX_TAG_DEPTH {
            let found: wire::GitObjectRef = self
                .call(repo, Method::GET, &path, None::<&()>, Replay::Safe)
                .await?;
            let decode_err = |message: String| GithubError::Decode {
                what: format!("GET {path}"),
                message,
            };
            let unreadable = |source: super::error::Cause| GithubError::Unreadable {
                what: format!("GET {path}"),
                source,
            };
            match found.object.kind.as_str() {
                "commit" => {
                    return found
                        .object
                        .sha
                        .parse::<CommitSha>()
                        .map_err(|e| unreadable(e.into()));
                }
                "tag" => {
                    let tag: CommitSha = found
                        .object
                        .sha
                        .parse()
                        .map_err(|e: crate::github::event::ValueError| unreadable(e.into()))?;
                    path = format!(
                        "/repos/{}/{}/git/tags/{}",
                        repo.owner(),
                        repo.name(),
                        tag.as_str()
                    );
                }
                other => {
                    return Err(decode_err(format!(
                        "`{git_ref}` names a {other}, not a commit"
                    )));
                }
            }
        }
        Err(GithubError::Decode {
            what: format!("GET {path}"),
            message: format!("`{git_ref}` is a tag of a tag more than {MAX_TAG_DEPTH} deep"),
        })
    }
}
