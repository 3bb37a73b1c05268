//! The pod's result: the JSON `agentpods agent` writes to its container's termination
//! message, and the controller reads back. One format for both sides
//! (`agent::result` writes it, `cluster::workload` reads it), and read across versions:
//! the agent image and the service are upgraded separately, so a result may come from
//! an agent older or newer than the service.
//!
//! Version 1, the only one yet, has no `version` field:
//! `{"conclusion": "success", "summary": "…", "branch": "…", "pull_request": 12}`
//! (`branch` and `pull_request` only when there are some). A later version may add
//! fields (a reader skips those it does not know) and says `"version": N`; it keeps
//! `conclusion` and `summary` as they are, so every reader reads those. The frozen files
//! of tests/fixtures/pod_results/ are results as agents wrote them; every one must still
//! be read.

use serde::{Deserialize, Serialize};

/// The kubelet keeps at most this many bytes of a container's termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// What replaces the end of a summary that did not fit.
pub const CUT_MARKER: &str = "… (cut)";

/// The conclusions `agentpods agent` writes (a subset of GitHub's check conclusions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodConclusion {
    Success,
    Failure,
    Neutral,
}

impl std::fmt::Display for PodConclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PodConclusion::Success => "success",
            PodConclusion::Failure => "failure",
            PodConclusion::Neutral => "neutral",
        })
    }
}

/// A conclusion as the controller reads it: one this version writes, or any other text
/// (an agent of another version, or in another case): the reader decides what that is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReadConclusion {
    Known(PodConclusion),
    Other(String),
}

/// The result of a run: `C` is [`PodConclusion`] as the agent writes it, [`ReadConclusion`]
/// as the controller reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodResult<C = PodConclusion> {
    /// The format's version when above 1 (version 1 says none; see the module's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    pub conclusion: C,
    #[serde(default)]
    pub summary: String,
    /// The branch the changes were pushed to, when they were (for opening a pull request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The number of the pull request opened from `branch`, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
}

/// What the controller reads.
pub type ReadResult = PodResult<ReadConclusion>;

/// Reads a termination message as a result, of whichever version: `None` when it is not
/// one (not JSON, no `conclusion` text, a field of the wrong type).
pub fn read(message: &str) -> Option<ReadResult> {
    serde_json::from_str(message.trim()).ok()
}

impl PodResult {
    pub fn new(conclusion: PodConclusion, summary: impl Into<String>) -> Self {
        PodResult {
            version: None,
            conclusion,
            summary: summary.into(),
            branch: None,
            pull_request: None,
        }
    }

    /// The result as JSON of at most `limit` bytes: the summary is cut on a character
    /// boundary and ends with [`CUT_MARKER`] when the whole would not fit. Should even the
    /// empty summary not fit (a limit far below 4 KiB), the branch and pull request are
    /// left out too.
    pub fn to_json_within(&self, limit: usize) -> String {
        let whole = to_json(self);
        if whole.len() <= limit {
            return whole;
        }
        let shortened = |end: usize| PodResult {
            summary: format!("{}{CUT_MARKER}", &self.summary[..end]),
            ..self.clone()
        };
        // The longest prefix (ending on a char boundary) whose JSON fits: JSON escaping
        // makes the size grow with the prefix, so a binary search over the boundaries works.
        let boundaries: Vec<usize> = self
            .summary
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(self.summary.len()))
            .collect();
        let fits = |end: usize| to_json(&shortened(end)).len() <= limit;
        let count = boundaries.partition_point(|&end| fits(end));
        match count.checked_sub(1) {
            Some(i) => to_json(&shortened(boundaries[i])),
            None => {
                let bare = PodResult {
                    summary: String::new(),
                    branch: None,
                    pull_request: None,
                    ..self.clone()
                };
                to_json(&bare)
            }
        }
    }

    /// The JSON for the termination message.
    pub fn termination_message(&self) -> String {
        self.to_json_within(TERMINATION_MESSAGE_LIMIT)
    }
}

fn to_json(result: &PodResult) -> String {
    // Serializing a struct of strings, numbers and an enum cannot fail.
    serde_json::to_string(result).unwrap_or_default()
}

/// tests/fixtures/pod_results/: results as agents of each version wrote them, frozen
/// (file name, text), sorted by name.
#[cfg(test)]
pub(crate) fn frozen() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pod_results");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            (name, text)
        })
        .filter(|(name, _)| name.ends_with(".json"))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What today's agent writes, one result for each frozen `v1-*.json`.
    fn written_today() -> Vec<(&'static str, String)> {
        let mut pushed = PodResult::new(PodConclusion::Success, "Fixed the typo.");
        pushed.branch = Some("agentpods/fix-pr2-0a1b2c3d".into());
        pushed.pull_request = Some(12);
        vec![
            (
                "v1-success.json",
                PodResult::new(PodConclusion::Success, "Done: nothing to add.")
                    .termination_message(),
            ),
            (
                "v1-failure.json",
                PodResult::new(
                    PodConclusion::Failure,
                    "The agent exited with status 3.\n\n```\nerror: tests fail\n```",
                )
                .termination_message(),
            ),
            (
                "v1-neutral.json",
                PodResult::new(PodConclusion::Neutral, "The agent made no changes.")
                    .termination_message(),
            ),
            ("v1-pushed.json", pushed.termination_message()),
            (
                "v1-cut.json",
                PodResult::new(PodConclusion::Success, "é\"\n".repeat(1500)).termination_message(),
            ),
        ]
    }

    /// The agent writes results exactly as the frozen version-1 files hold them: a change
    /// of what it writes is a new version (and new files beside the old ones), never an
    /// edit of these. Set AGENTPODS_WRITE_POD_RESULTS=1 to write files for new cases.
    #[test]
    fn the_agent_writes_results_as_the_frozen_files_hold_them() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pod_results");
        let frozen = frozen();
        for (file, text) in written_today() {
            let path = dir.join(file);
            if std::env::var_os("AGENTPODS_WRITE_POD_RESULTS").is_some() && !path.exists() {
                std::fs::write(&path, format!("{text}\n")).expect("write the fixture");
                continue;
            }
            let found = frozen.iter().find(|(name, _)| name == file);
            let (_, stored) = found.unwrap_or_else(|| panic!("{file} is not in {}", dir.display()));
            assert_eq!(&text, stored.trim_end(), "{file}");
        }
    }

    /// Every frozen result, of any version, is read as a result: its conclusion and
    /// summary (what each version keeps).
    #[test]
    fn every_frozen_result_is_read() {
        let frozen = frozen();
        assert!(frozen.len() >= 5, "{frozen:?}");
        for (file, text) in frozen {
            let read = read(&text).unwrap_or_else(|| panic!("{file} is not read as a result"));
            let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(
                serde_json::to_value(&read.conclusion).expect("JSON"),
                value["conclusion"],
                "{file}"
            );
            assert_eq!(
                read.summary,
                value["summary"].as_str().unwrap_or_default(),
                "{file}"
            );
        }
    }

    #[test]
    fn a_message_that_is_not_a_result_is_not_read_as_one() {
        for message in [
            "",
            "oops",
            "{}",
            r#"{"summary":"x"}"#,
            r#"{"conclusion":3}"#,
        ] {
            assert_eq!(read(message), None, "{message}");
        }
    }
}
