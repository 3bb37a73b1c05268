//! The run's result: what the agent said and what the entrypoint decided. The JSON that
//! goes to the termination message (at most the kubelet's 4 KiB, always valid JSON) is
//! the pod's result format, `agent_pod::result`, shared with the controller that reads it.

use serde::{Deserialize, Serialize};

// Re-exported (docs/architecture.md, Layers, names it as the second exception):
// `agent_pod` is the crate's own, and `agent::execute` hands these to the binary and the
// tests.
pub use crate::agent_pod::result::{CUT_MARKER, PodConclusion, TERMINATION_MESSAGE_LIMIT};

/// The result of a run, as the agent writes it to the termination message: the pod's
/// result format, `agent_pod::result`, which the controller reads.
pub type PodResult = crate::agent_pod::result::PodResult;

/// A result the agent wrote itself, either to its result file or as the last line of its
/// output: `{"conclusion": "...", "summary": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReport {
    pub conclusion: PodConclusion,
    #[serde(default)]
    pub summary: String,
}

impl AgentReport {
    /// Reads a report from JSON text; the error says what is wrong without echoing the text.
    pub fn parse(text: &str) -> Result<AgentReport, ReportUnreadable> {
        serde_json::from_str(text.trim()).map_err(|e| ReportUnreadable {
            line: e.line(),
            column: e.column(),
        })
    }

    /// The report on the last non-empty line of the agent's output, if that line is one.
    pub fn from_last_line(output: &str) -> Option<AgentReport> {
        let last = output.lines().rev().find(|l| !l.trim().is_empty())?;
        let last = last.trim();
        if !last.starts_with('{') {
            return None;
        }
        AgentReport::parse(last).ok()
    }
}

/// A report that is not `{"conclusion": …, "summary": …}`: where it stops reading, and
/// nothing of its text (serde's message would echo what the agent wrote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected {{\"conclusion\": \"success\"|\"failure\"|\"neutral\", \"summary\": \"...\"}} \
     (line {line} column {column})"
)]
pub struct ReportUnreadable {
    line: usize,
    column: usize,
}

/// What the agent process did, as far as the result is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentExit {
    /// The exit code, or `None` when it was ended by a signal.
    pub code: Option<i32>,
    /// Its own report (result file, else the last line of its output), if it gave one.
    pub report: Option<AgentReport>,
    /// The end of what it wrote to stderr.
    pub stderr_tail: String,
}

/// How many trailing lines of the agent's stderr a failure's summary quotes.
const STDERR_LINES: usize = 40;

/// The conclusion of a run from what the agent did and whether the working tree changed,
/// before anything is pushed: a non-zero exit is a failure quoting the end of stderr; else
/// the agent's own report; else success with changes and neutral without.
pub fn decide(exit: &AgentExit, changed: bool) -> PodResult {
    if exit.code != Some(0) {
        let status = match exit.code {
            Some(code) => format!("exited with status {code}"),
            None => "was ended by a signal".to_string(),
        };
        let mut summary = format!("The agent {status}.");
        if let Some(report) = exit
            .report
            .as_ref()
            .filter(|r| !r.summary.trim().is_empty())
        {
            summary.push_str("\n\n");
            summary.push_str(report.summary.trim());
        }
        let tail = last_lines(&exit.stderr_tail, STDERR_LINES);
        if !tail.trim().is_empty() {
            summary.push_str("\n\n```\n");
            summary.push_str(&tail.replace("```", "'''"));
            summary.push_str("\n```");
        }
        return PodResult::new(PodConclusion::Failure, summary);
    }
    match &exit.report {
        Some(report) => PodResult::new(report.conclusion, report.summary.trim()),
        None if changed => {
            PodResult::new(PodConclusion::Success, "The agent changed the repository.")
        }
        None => PodResult::new(PodConclusion::Neutral, "The agent made no changes."),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub use super::redact::Redactor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_result_is_written_whole() {
        let r = PodResult::new(PodConclusion::Neutral, "nothing to do");
        assert_eq!(
            r.termination_message(),
            r#"{"conclusion":"neutral","summary":"nothing to do"}"#
        );
    }

    #[test]
    fn a_long_summary_is_cut_on_a_char_boundary_with_a_marker() {
        let r = PodResult::new(PodConclusion::Success, "é\"\n".repeat(3000));
        let json = r.termination_message();
        assert!(json.len() <= TERMINATION_MESSAGE_LIMIT, "{}", json.len());
        assert!(json.len() > TERMINATION_MESSAGE_LIMIT - 8, "{}", json.len());
        let back: PodResult = serde_json::from_str(&json).unwrap();
        assert!(back.summary.ends_with(CUT_MARKER));
        assert!(
            r.summary
                .starts_with(back.summary.trim_end_matches(CUT_MARKER))
        );
    }

    #[test]
    fn a_tiny_limit_still_gives_valid_json() {
        let mut r = PodResult::new(PodConclusion::Failure, "x".repeat(100));
        r.branch = Some("agentpods/run".into());
        let json = r.to_json_within(10);
        let back: PodResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back.summary, "");
        assert_eq!(back.branch, None);
    }

    #[test]
    fn the_last_line_of_output_may_be_the_report() {
        let out = "thinking…\n{\"conclusion\": \"success\", \"summary\": \"done\"}\n\n";
        assert_eq!(
            AgentReport::from_last_line(out),
            Some(AgentReport {
                conclusion: PodConclusion::Success,
                summary: "done".into()
            })
        );
        assert_eq!(
            AgentReport::from_last_line("{\"conclusion\": \"maybe\"}"),
            None
        );
        assert_eq!(AgentReport::from_last_line("all good"), None);
    }

    #[test]
    fn a_failure_quotes_the_end_of_stderr_and_no_exit_is_success_without_changes() {
        let exit = AgentExit {
            code: Some(3),
            report: None,
            stderr_tail: (1..=100).map(|i| format!("line {i}\n")).collect(),
        };
        let r = decide(&exit, true);
        assert_eq!(r.conclusion, PodConclusion::Failure);
        assert!(r.summary.starts_with("The agent exited with status 3."));
        assert!(r.summary.contains("line 100") && !r.summary.contains("line 60\n"));

        let ok = AgentExit {
            code: Some(0),
            report: None,
            stderr_tail: String::new(),
        };
        assert_eq!(decide(&ok, false).conclusion, PodConclusion::Neutral);
        assert_eq!(decide(&ok, true).conclusion, PodConclusion::Success);
    }
}
