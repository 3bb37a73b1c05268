//! A file of a repository at a ref, from the Contents API (a repository's own
//! `.agentpods.yaml`, read from its default branch).

use base64::Engine as _;
use hyper::http::Method;
use serde::Deserialize;

use super::http::Replay;
use super::{GithubClient, GithubError, path_segment, query_value};
use crate::config::{MAX_REPOSITORY_FILE_BYTES, RepositoryFile, parse_repository_file};
use crate::github::event::RepoFullName;

/// What a path of a repository holds at a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoFile {
    /// A file, and its bytes (when it has at most the bytes asked for).
    File(Vec<u8>),
    /// A file larger than the bytes asked for: its size, as GitHub says it (its bytes are
    /// not decoded); `None` when GitHub's answer was too long to read to the end.
    TooLarge { size: Option<u64> },
    /// Something else: a folder, a submodule, a symbolic link (GitHub follows one to a file
    /// of the same repository, and describes any other), as GitHub names its kind.
    NotAFile { kind: String },
}

/// GET /repos/{owner}/{repo}/contents/{path}: an object for a file, a symbolic link or a
/// submodule, a list for a folder.
#[derive(Deserialize)]
#[serde(untagged)]
enum Contents {
    // Only its shape, a list, is read.
    #[allow(dead_code)]
    Folder(Vec<serde::de::IgnoredAny>),
    Item(ContentItem),
}

#[derive(Deserialize)]
struct ContentItem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    size: u64,
    /// `base64`; `none` for a file over 1 MB, whose content GitHub leaves out.
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// How long a file a repository was found not to have is believed absent without asking
/// again: GitHub's 404 has no ETag, so each read of a file that is not there was a counted
/// request, on every delivery of a repository without one (outside review 15c, F4). A push
/// to the repository forgets it at once; this bounds the wait when the push's delivery is
/// lost.
pub const ABSENT_FILE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

impl GithubClient {
    /// What `path` holds on `branch`, with a file's bytes when it has at most `max_bytes`.
    /// `NotFound` when there is no such path (or branch). A read: asked again
    /// conditionally, so an unchanged file costs no counted request; a file found absent is
    /// believed absent for [`ABSENT_FILE_TTL`] or until a push to the repository. Asked by
    /// the branch's full ref (`refs/heads/main`), which no tag of the same name can shadow
    /// (outside review 15c, F12).
    pub async fn file_at(
        &self,
        repo: &RepoFullName,
        path: &str,
        branch: &str,
        max_bytes: usize,
    ) -> Result<RepoFile, GithubError> {
        let encoded: Vec<String> = path.split('/').map(path_segment).collect();
        let call = format!(
            "/repos/{}/{}/contents/{}?ref={}",
            repo.owner(),
            repo.name(),
            encoded.join("/"),
            query_value(&format!("refs/heads/{branch}"))
        );
        let key = (repo.key(), path.to_owned(), branch.to_owned());
        let now = self.now();
        if self
            .absent_files
            .lock()
            .expect("absent files lock")
            .get(&key)
            .is_some_and(|at| now.duration_since(*at).unwrap_or_default() < ABSENT_FILE_TTL)
        {
            return Err(GithubError::NotFound {
                what: format!(
                    "{call} (found absent within {})",
                    crate::text::duration(ABSENT_FILE_TTL)
                ),
            });
        }
        // An answer longer than a file asked for could be is cut off unread.
        let answer: Result<Contents, GithubError> = self
            .call(repo, Method::GET, &call, None::<&()>, Replay::Safe)
            .await;
        {
            let mut absent = self.absent_files.lock().expect("absent files lock");
            if matches!(answer, Err(GithubError::NotFound { .. })) {
                absent
                    .retain(|_, at| now.duration_since(*at).unwrap_or_default() < ABSENT_FILE_TTL);
                absent.insert(key, now);
            } else {
                absent.remove(&key);
            }
        }
        let answer = match answer {
            Err(GithubError::TooLarge { .. }) => return Ok(RepoFile::TooLarge { size: None }),
            answer => answer?,
        };
        let item = match answer {
            Contents::Folder(_) => {
                return Ok(RepoFile::NotAFile { kind: "dir".into() });
            }
            Contents::Item(item) => item,
        };
        if item.kind != "file" {
            return Ok(RepoFile::NotAFile { kind: item.kind });
        }
        if item.size > max_bytes as u64 {
            return Ok(RepoFile::TooLarge {
                size: Some(item.size),
            });
        }
        let decode_err = |message: String| GithubError::Decode {
            what: format!("GET {}", call.split('?').next().unwrap_or(&call)),
            message,
        };
        match item.encoding.as_deref() {
            Some("base64") => {}
            other => {
                return Err(decode_err(format!(
                    "a file's content encoded as {other:?}, not base64"
                )));
            }
        }
        let text: String = item
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        // GitHub's size is the file's; the content is at most a third longer than it.
        if text.len() > max_bytes.saturating_mul(4) / 3 + 4 {
            return Ok(RepoFile::TooLarge {
                size: Some((text.len() as u64) * 3 / 4),
            });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| decode_err(format!("a file's content is not base64: {e}")))?;
        if bytes.len() > max_bytes {
            return Ok(RepoFile::TooLarge {
                size: Some(bytes.len() as u64),
            });
        }
        Ok(RepoFile::File(bytes))
    }

    /// Forgets which files `repo` was found not to have: a push may have added one.
    pub fn forget_absent_files(&self, repo: &RepoFullName) {
        let key = repo.key();
        self.absent_files
            .lock()
            .expect("absent files lock")
            .retain(|(r, _, _), _| *r != key);
    }
}

/// The most of a repository file's problem a reply shows.
const PROBLEM_CHARS: usize = 300;

/// What was read of a repository's own file (services.yaml's `repository_config`), owned:
/// the planner's `RepositorySays` is read from it; the controller reads it again when a
/// run that waited gets its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryRead {
    NotAsked,
    Absent,
    Read(RepositoryFile),
    /// Its first problem, as `file:line:col: message`, or why it is no file.
    Broken(String),
    Unanswered,
}

impl RepositoryRead {
    /// What GitHub's answer for the file at `path` says: a missing file is services.yaml
    /// alone; a file that does not read, or is no file, or that the App may not read, fails
    /// closed; GitHub's failure waits (503, redelivered), as other unanswered questions do.
    /// The problem is shown as the file's words are: one line in a code span nothing of
    /// it closes, where no mention, link or HTML of it renders, and a character not shown
    /// as itself (a bidi control, a zero-width space) shows as its code point (attacker
    /// review 15b, A2).
    pub fn from_answer(path: &str, answer: Result<RepoFile, GithubError>) -> RepositoryRead {
        match Self::read(path, answer) {
            RepositoryRead::Broken(problem) => {
                RepositoryRead::Broken(crate::github::command::code_of(&problem, PROBLEM_CHARS))
            }
            read => read,
        }
    }

    fn read(path: &str, answer: Result<RepoFile, GithubError>) -> RepositoryRead {
        match answer {
            Ok(RepoFile::File(bytes)) => match parse_repository_file(&bytes, path) {
                Ok(file) => RepositoryRead::Read(file),
                Err(problems) => RepositoryRead::Broken(
                    problems
                        .first()
                        .map_or_else(|| format!("{path}: does not read"), ToString::to_string),
                ),
            },
            Ok(RepoFile::TooLarge { size: Some(size) }) => RepositoryRead::Broken(format!(
                "{path}:1:1: the file has {size} bytes; a repository's file may have at most \
                 {MAX_REPOSITORY_FILE_BYTES}"
            )),
            Ok(RepoFile::TooLarge { size: None }) => RepositoryRead::Broken(format!(
                "{path}:1:1: the file is larger than a repository's file may be (at most \
                 {MAX_REPOSITORY_FILE_BYTES} bytes): GitHub's answer for it was too long to read"
            )),
            Ok(RepoFile::NotAFile { kind }) => RepositoryRead::Broken(format!(
                "{path}:1:1: is a {}, not a file of this repository (a symbolic link is \
                 read only when it leads to a file of the repository)",
                crate::text::start(&kind, 40)
            )),
            Err(GithubError::NotFound { .. }) => RepositoryRead::Absent,
            Err(GithubError::Forbidden { .. }) => RepositoryRead::Broken(format!(
                "{path}:1:1: GitHub refused to let agentpods read the file (403); the App \
                 needs the `contents: read` permission to read it"
            )),
            Err(e) => {
                tracing::warn!(
                    path,
                    "the repository's own file is unknown: GitHub did not answer (a delivery waits for it; a waiting run starts as it was decided): {}",
                    crate::text::with_causes(&e)
                );
                RepositoryRead::Unanswered
            }
        }
    }
}

impl GithubClient {
    /// `repo`'s own file at `path` on `branch` (never a pull request's head), read as
    /// [`RepositoryRead::from_answer`] says.
    pub async fn own_file(&self, repo: &RepoFullName, path: &str, branch: &str) -> RepositoryRead {
        let answer = self
            .file_at(repo, path, branch, MAX_REPOSITORY_FILE_BYTES)
            .await;
        RepositoryRead::from_answer(path, answer)
    }
}
