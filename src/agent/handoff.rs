//! What the entrypoint's steps hand each other when the pod runs them as three containers
//! (`--phase checkout`, `run`, `publish`), so that the agent's own process never holds the
//! run's token:
//!
//! - the checkout writes [`CheckedOut`] (the commit it checked out and the git
//!   configuration it wrote) into the hand-off folder, which only the checkout can write:
//!   the agent's container mounts it read-only, so what the publish step trusts is what the
//!   checkout wrote, not what the agent would have it be;
//! - the agent's step writes [`AgentRecord`] (how the agent exited and what it reported)
//!   into a folder the agent's container can write. The agent runs there too, so the
//!   publish step reads it as the agent's own word: bounded, strictly parsed, redacted,
//!   never a reason to push what it would not push anyway.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::result::{AgentExit, AgentReport};
use crate::github::event::CommitSha;

/// The file the checkout writes in the hand-off folder.
const CHECKED_OUT: &str = "checkout.json";
/// The checkout's `.git/config`, as it wrote it, beside [`CHECKED_OUT`].
const GIT_CONFIG: &str = "git-config";
/// The most of the agent's record the publish step reads: a record is a few KiB (its
/// stderr's tail is at most 64 KiB); anything larger is not one.
const RECORD_LIMIT: u64 = 256 * 1024;

/// What the checkout left for the steps after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckedOut {
    /// HEAD is `base`, checked out and verified.
    Ready { base: CommitSha },
    /// The checkout failed, saying why (secrets taken out); no agent runs.
    Failed { message: String },
}

/// What the agent's step left for the publish step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentRecord {
    /// The agent ran and exited.
    Exited {
        /// `None` when a signal ended it.
        code: Option<i32>,
        report: Option<AgentReport>,
        stderr_tail: String,
    },
    /// The step could not run the agent, or read what it reported, saying why.
    Failed { message: String },
    /// The checkout had failed; the agent did not run.
    Skipped,
}

impl AgentRecord {
    pub fn exited(exit: AgentExit) -> AgentRecord {
        AgentRecord::Exited {
            code: exit.code,
            report: exit.report,
            stderr_tail: exit.stderr_tail,
        }
    }
}

#[derive(Debug, Error)]
pub enum HandoffError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the checkout left nothing in {path} (did the pod's checkout step run, with the same --handoff-dir?)"
    )]
    NoCheckout {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not what the checkout writes: {reason}")]
    BadCheckout { path: PathBuf, reason: String },
    #[error(
        "the agent's step left no record in {path} (was it killed, or is --agent-record not the same in both steps?)"
    )]
    NoRecord { path: PathBuf },
    #[error("the agent's record {path} cannot be read: {reason}")]
    BadRecord { path: PathBuf, reason: String },
}

/// Writes the checkout's outcome, and for a ready checkout its git configuration.
pub fn write_checkout(
    dir: &Path,
    outcome: &CheckedOut,
    git_config: Option<&[u8]>,
) -> Result<(), HandoffError> {
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|source| HandoffError::Write { path, source })
    };
    if let Some(config) = git_config {
        write(dir.join(GIT_CONFIG), config)?;
    }
    let json = serde_json::to_vec(outcome).expect("a hand-off serialises");
    write(dir.join(CHECKED_OUT), &json)
}

/// Reads the checkout's outcome, and for a ready one its git configuration.
pub fn read_checkout(dir: &Path) -> Result<(CheckedOut, Vec<u8>), HandoffError> {
    let path = dir.join(CHECKED_OUT);
    let text = std::fs::read(&path).map_err(|source| HandoffError::NoCheckout {
        path: path.clone(),
        source,
    })?;
    let outcome: CheckedOut =
        serde_json::from_slice(&text).map_err(|e| HandoffError::BadCheckout {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let config = match outcome {
        CheckedOut::Ready { .. } => {
            let path = dir.join(GIT_CONFIG);
            std::fs::read(&path).map_err(|source| HandoffError::NoCheckout { path, source })?
        }
        CheckedOut::Failed { .. } => Vec::new(),
    };
    Ok((outcome, config))
}

/// Writes the agent's record, replacing any the agent wrote there first.
pub fn write_record(path: &Path, record: &AgentRecord) -> Result<(), HandoffError> {
    let fail = |source| HandoffError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    // Not through a link or a folder the agent may have left in its place.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(fail)?,
        Ok(_) => std::fs::remove_file(path).map_err(fail)?,
        Err(_) => {}
    }
    let json = serde_json::to_vec(record).expect("a record serialises");
    std::fs::write(path, json).map_err(fail)
}

/// Reads the agent's record, at most [`RECORD_LIMIT`] bytes of it, as the agent's word.
pub fn read_record(path: &Path) -> Result<AgentRecord, HandoffError> {
    let bad = |reason: String| HandoffError::BadRecord {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(bad("it is not a plain file".into())),
        Err(_) => {
            return Err(HandoffError::NoRecord {
                path: path.to_path_buf(),
            });
        }
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(RECORD_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > RECORD_LIMIT {
        return Err(bad(format!("it is larger than {RECORD_LIMIT} bytes")));
    }
    // The error names where, never echoes what (the text is the agent's).
    serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "not a record (line {} column {})",
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::result::PodConclusion;

    #[test]
    fn a_checkout_and_a_record_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let ready = CheckedOut::Ready {
            base: "a".repeat(40).parse().unwrap(),
        };
        write_checkout(dir.path(), &ready, Some(b"[core]\n")).unwrap();
        assert_eq!(
            read_checkout(dir.path()).unwrap(),
            (ready, b"[core]\n".to_vec())
        );
        let record = AgentRecord::Exited {
            code: Some(0),
            report: Some(AgentReport {
                conclusion: PodConclusion::Success,
                summary: "done".into(),
            }),
            stderr_tail: String::new(),
        };
        let path = dir.path().join("exit/agent.json");
        write_record(&path, &record).unwrap();
        assert_eq!(read_record(&path).unwrap(), record);
    }

    #[test]
    fn a_record_the_agent_forged_or_bloated_is_an_error_that_echoes_none_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.json");
        assert!(matches!(
            read_record(&path),
            Err(HandoffError::NoRecord { .. })
        ));
        std::fs::write(
            &path,
            "{\"outcome\": \"exited\", \"code\": 0, \"token\": \"ghs_x\"}",
        )
        .unwrap();
        let e = read_record(&path).unwrap_err().to_string();
        assert!(e.contains("not a record") && !e.contains("ghs_x"), "{e}");
        std::fs::write(&path, vec![b' '; (RECORD_LIMIT + 10) as usize]).unwrap();
        assert!(
            read_record(&path)
                .unwrap_err()
                .to_string()
                .contains("larger")
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(
            read_record(&path)
                .unwrap_err()
                .to_string()
                .contains("not a plain file")
        );
        // The step's own write replaces whatever the agent left in its place.
        write_record(&path, &AgentRecord::Skipped).unwrap();
        assert_eq!(read_record(&path).unwrap(), AgentRecord::Skipped);
    }
}
