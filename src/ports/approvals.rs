//! Fork pull request approvals, as records only the service writes.
//!
//! A comment is only the human interface: every run's installation token posts as the
//! service's own login, so nothing posted or edited on GitHub is believed as an approval.
//! What is believed is a [`PullRequestRecord`] in an [`ApprovalStore`]: in a cluster an
//! `AgentApproval` object in the service's own namespace (where agent pods have no API
//! rights; see `crate::cluster::approvals`), without one ([`MemoryApprovals`]: `serve
//! --dry-run`, `render`) a map in memory that a restart forgets.
//!
//! One record per pull request holds the heads the service has seen (from `pull_request`
//! events, with when it saw them) and the approvals given (a full 40-hex head, who, when,
//! on which comment). An approval without a SHA binds to the head as it was when the
//! maintainer wrote the comment: [`PullRequestRecord::head_at`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use k8s_openapi::jiff::Timestamp;

use crate::github::event::{CommitSha, Login, RepoFullName, RepoKey};
use crate::ids::{CommentId, IssueNumber};

/// At most this many heads are kept per pull request (the oldest go first).
pub const MAX_HEADS: usize = 50;
/// At most this many approvals are kept per pull request (the oldest go first).
pub const MAX_APPROVALS: usize = 20;

/// A head commit the service saw in a `pull_request` event, and when it first saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenHead {
    pub sha: CommitSha,
    pub seen_at: Timestamp,
}

/// A maintainer's approval of one head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEntry {
    /// The commit, in full.
    pub sha: CommitSha,
    /// The approver's GitHub login.
    pub approved_by: Login,
    /// When the service recorded it.
    pub approved_at: Timestamp,
    /// The comment that carried `approve`.
    pub comment_id: CommentId,
}

impl From<&ApprovalEntry> for crate::plan::HeadApproval {
    /// The planner's record of it: who approved which commit, and when.
    fn from(entry: &ApprovalEntry) -> Self {
        crate::plan::HeadApproval {
            sha: entry.sha.clone(),
            approved_by: entry.approved_by.clone(),
            approved_at: Some(entry.approved_at),
            comment_id: Some(entry.comment_id),
        }
    }
}

/// What the service knows of one pull request's heads and approvals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullRequestRecord {
    /// Oldest first.
    pub heads: Vec<SeenHead>,
    /// Oldest first.
    pub approvals: Vec<ApprovalEntry>,
}

impl PullRequestRecord {
    /// Records `sha` as the head seen `at`; false when it changes nothing (the same head
    /// seen again last). A head seen again after another keeps both sightings' order: it
    /// moves to the end, with its first time kept only if nothing came between.
    pub fn see(&mut self, sha: &CommitSha, at: Timestamp) -> bool {
        if self.heads.last().is_some_and(|h| h.sha == *sha) {
            return false;
        }
        self.heads.push(SeenHead {
            sha: sha.clone(),
            seen_at: at,
        });
        if self.heads.len() > MAX_HEADS {
            let extra = self.heads.len() - MAX_HEADS;
            self.heads.drain(..extra);
        }
        true
    }

    /// The head as the service knew it at `at`: the last one seen strictly before it.
    pub fn head_at(&self, at: Timestamp) -> Option<&CommitSha> {
        self.heads
            .iter()
            .filter(|h| h.seen_at < at)
            .max_by_key(|h| h.seen_at)
            .map(|h| &h.sha)
    }

    /// Records an approval; false when the same person approved that commit already. A
    /// second approver of a commit is recorded too: each agent stands on any approver of
    /// the head whose permission reaches it (an admin's approval after a writer's starts
    /// the admin-only agents at later events as well).
    pub fn approve(&mut self, entry: ApprovalEntry) -> bool {
        let again = self
            .approvals
            .iter()
            .any(|a| a.sha == entry.sha && a.approved_by.key() == entry.approved_by.key());
        if again {
            return false;
        }
        self.approvals.push(entry);
        if self.approvals.len() > MAX_APPROVALS {
            let extra = self.approvals.len() - MAX_APPROVALS;
            self.approvals.drain(..extra);
        }
        true
    }

    /// Whether commit `sha` was approved.
    pub fn approves(&self, sha: &CommitSha) -> bool {
        self.approvals.iter().any(|a| a.sha == *sha)
    }
}

/// Which pull request a record is about: its repository as GitHub tells them apart (case
/// aside, [`RepoKey`]), and its number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PullRequestKey {
    pub repository: RepoKey,
    pub number: IssueNumber,
}

impl PullRequestKey {
    pub fn new(repository: &RepoFullName, number: IssueNumber) -> PullRequestKey {
        PullRequestKey {
            repository: repository.key(),
            number,
        }
    }

    /// The key of a pull request whose repository is stored as text (a run's
    /// `spec.repository`).
    pub fn of_stored(repository: &str, number: IssueNumber) -> PullRequestKey {
        PullRequestKey {
            repository: RepoKey::of_stored(repository),
            number,
        }
    }
}

impl std::fmt::Display for PullRequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.repository, self.number)
    }
}

/// An approval decided by the intake, to record before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalToRecord {
    pub key: PullRequestKey,
    /// The head commit, in full.
    pub sha: CommitSha,
    pub approved_by: Login,
    /// The comment that carried `approve`.
    pub comment_id: CommentId,
}

impl ApprovalToRecord {
    /// The entry, as recorded `at`.
    pub fn entry(&self, at: Timestamp) -> ApprovalEntry {
        ApprovalEntry {
            sha: self.sha.clone(),
            approved_by: self.approved_by.clone(),
            approved_at: at,
            comment_id: self.comment_id,
        }
    }
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("the approval record of {key} cannot be read")]
    Read {
        key: PullRequestKey,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the approval record of {key} cannot be written")]
    Write {
        key: PullRequestKey,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the approval record of {key} was changed by another replica {attempts} times in a row; not written"
    )]
    Contended { key: PullRequestKey, attempts: u32 },
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApprovalError>> + Send + 'a>>;

/// A change to a record: returns whether it changed anything (nothing is written if not).
pub type Change<'a> = &'a (dyn Fn(&mut PullRequestRecord) -> bool + Send + Sync);

/// Where approval records live. Only the service writes them; every write goes through
/// [`ApprovalStore::update`], which must not lose a concurrent one (another replica's).
pub trait ApprovalStore: Send + Sync + 'static {
    /// The record of `key` (empty when there is none).
    fn get<'a>(&'a self, key: &'a PullRequestKey) -> StoreFuture<'a, PullRequestRecord>;
    /// Applies `change` to the record of `key` as it is now, and writes it if it changed.
    fn update<'a>(&'a self, key: &'a PullRequestKey, change: Change<'a>) -> StoreFuture<'a, ()>;
    /// For the log: where records live.
    fn describe(&self) -> String;
}

/// Records in memory: without a cluster (`serve --dry-run`). A restart forgets them, and
/// replicas do not share them.
#[derive(Debug, Default)]
pub struct MemoryApprovals {
    records: Mutex<HashMap<PullRequestKey, PullRequestRecord>>,
}

impl MemoryApprovals {
    pub fn new() -> MemoryApprovals {
        MemoryApprovals::default()
    }
}

impl ApprovalStore for MemoryApprovals {
    fn get<'a>(&'a self, key: &'a PullRequestKey) -> StoreFuture<'a, PullRequestRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let record = records.get(key).cloned().unwrap_or_default();
        Box::pin(async move { Ok(record) })
    }

    fn update<'a>(&'a self, key: &'a PullRequestKey, change: Change<'a>) -> StoreFuture<'a, ()> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut record = records.get(key).cloned().unwrap_or_default();
        if change(&mut record) {
            records.insert(key.clone(), record);
        }
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "in memory (forgotten on restart)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(s: &str) -> CommitSha {
        s.parse().expect("a commit")
    }

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    #[test]
    fn the_head_at_a_time_is_the_last_seen_strictly_before_it() {
        let (a, b) = (sha(A), sha(B));
        let mut r = PullRequestRecord::default();
        assert!(r.see(&a, at("2026-01-01T10:00:00Z")));
        assert!(
            !r.see(&a, at("2026-01-01T10:00:30Z")),
            "the same head again"
        );
        assert!(r.see(&b, at("2026-01-01T10:01:00Z")));
        assert_eq!(r.head_at(at("2026-01-01T09:59:59Z")), None);
        assert_eq!(r.head_at(at("2026-01-01T10:00:00Z")), None);
        assert_eq!(r.head_at(at("2026-01-01T10:00:59Z")), Some(&a));
        assert_eq!(r.head_at(at("2026-01-01T10:01:01Z")), Some(&b));
        // Pushed back to A: A again is the head from then on, B between.
        assert!(r.see(&a, at("2026-01-01T10:02:00Z")));
        assert_eq!(r.head_at(at("2026-01-01T10:01:30Z")), Some(&b));
        assert_eq!(r.head_at(at("2026-01-01T10:03:00Z")), Some(&a));
    }

    #[test]
    fn heads_and_approvals_are_bounded_and_the_newest_kept() {
        let mut r = PullRequestRecord::default();
        let start = at("2026-01-01T00:00:00Z");
        for i in 0..(MAX_HEADS as i64 + 10) {
            let sha = sha(&format!("{i:040x}"));
            r.see(
                &sha,
                start + k8s_openapi::jiff::SignedDuration::from_secs(i),
            );
            r.approve(ApprovalEntry {
                sha,
                approved_by: "m".into(),
                approved_at: start,
                comment_id: CommentId(i as u64),
            });
        }
        assert_eq!(r.heads.len(), MAX_HEADS);
        assert_eq!(r.approvals.len(), MAX_APPROVALS);
        let last = sha(&format!("{:040x}", MAX_HEADS as i64 + 9));
        assert_eq!(r.heads.last().map(|h| &h.sha), Some(&last));
        assert!(r.approves(&last));
        assert!(!r.approves(&sha(&format!("{:040x}", 0))));
    }
}
