//! The pure core: which check run or commit status, and which comment, a run at a stage
//! becomes.

use crate::agentrun::Conclusion;
use crate::github_client::{CheckRunWrite, CheckStatus, StatusState, StatusWrite};
use crate::render::RenderError;

use crate::github::{CHECK_NAME, CheckConclusion};
use crate::render::comment::{CommentContext, CommentResult, CommentRun};

use super::comment::{CommentTemplate, plain_comment, with_marker};
use super::neutralise::neutralise;
use super::{ReportError, RunInfo, SUMMARY_LIMIT, Stage};

/// What GitHub should show for a run at a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Writes {
    /// With App auth.
    pub check: Option<CheckRunWrite>,
    /// With token auth.
    pub status: Option<StatusWrite>,
    /// The run's one comment, marker included.
    pub comment: Option<String>,
    /// Why `comment.md` did not render, when it did not (`comment` is then the plain one).
    pub comment_error: Option<RenderError>,
}

/// The check run conclusion GitHub is told of a run's stored one, one arm each. A
/// conclusion a newer agentpods stored is never reported by this one (the controller
/// leaves such a run alone); were it, it would be `neutral`: a result this version cannot
/// vouch for is neither a success nor a failure.
fn check_conclusion(stored: &Conclusion) -> CheckConclusion {
    match stored {
        Conclusion::Success => CheckConclusion::Success,
        Conclusion::Failure => CheckConclusion::Failure,
        Conclusion::Neutral | Conclusion::Unknown(_) => CheckConclusion::Neutral,
        Conclusion::Cancelled => CheckConclusion::Cancelled,
        Conclusion::Skipped => CheckConclusion::Skipped,
        Conclusion::TimedOut => CheckConclusion::TimedOut,
        Conclusion::ActionRequired => CheckConclusion::ActionRequired,
    }
}

/// The pure core: the writes for `run` at `stage`, for App auth (check runs) or not
/// (commit statuses).
pub fn writes(
    run: &RunInfo,
    stage: &Stage,
    app: bool,
    template: &dyn CommentTemplate,
) -> Result<Writes, ReportError> {
    let (status, conclusion, started_at, completed_at, summary) = match stage {
        Stage::Queued | Stage::Waiting { .. } => (CheckStatus::Queued, None, None, None, None),
        Stage::Started { at } => (CheckStatus::InProgress, None, Some(*at), None, None),
        Stage::Finished {
            started_at,
            at,
            conclusion,
            summary,
        } => (
            CheckStatus::Completed,
            Some(conclusion),
            *started_at,
            Some(*at),
            Some(neutralise(summary, SUMMARY_LIMIT)),
        ),
    };
    let duration = match (started_at, completed_at) {
        (Some(s), Some(e)) => Some(crate::text::duration(
            e.duration_since(s).unwrap_or_default(),
        )),
        _ => None,
    };
    // One arm a stage, no catch-all: a new `Stage` is a compile error here until it has
    // its title.
    let title = match stage {
        Stage::Queued => format!("{} is queued", run.agent),
        Stage::Waiting { why } => format!("{} is queued: {}", run.agent, neutralise(why, 200)),
        Stage::Started { .. } => format!("{} is running", run.agent),
        Stage::Finished { conclusion, .. } => format!("{} finished: {conclusion}", run.agent),
    };
    let check = (app && run.check_run && run.head_sha.is_some()).then(|| CheckRunWrite {
        name: format!("{CHECK_NAME}/{}", run.agent),
        external_id: run.name.clone(),
        status,
        conclusion: conclusion.map(check_conclusion),
        details_url: run.details_url.clone(),
        title: title.clone(),
        summary: summary.clone().unwrap_or_else(|| title.clone()),
        started_at,
        completed_at,
    });
    let wants_status = (run.check_run && !app) || run.commit_status;
    let status_write = (wants_status && run.head_sha.is_some()).then(|| StatusWrite {
        state: match conclusion {
            None => StatusState::Pending,
            Some(Conclusion::Success | Conclusion::Neutral | Conclusion::Skipped) => {
                StatusState::Success
            }
            Some(Conclusion::Failure) => StatusState::Failure,
            Some(
                Conclusion::Cancelled
                | Conclusion::TimedOut
                | Conclusion::ActionRequired
                | Conclusion::Unknown(_),
            ) => StatusState::Error,
        },
        context: format!("{CHECK_NAME}/{}", run.agent),
        description: title,
        target_url: run.details_url.clone(),
    });
    let mut comment_error = None;
    let comment = match (run.number, stage) {
        (None, _) | (_, Stage::Queued | Stage::Waiting { .. }) => None,
        (Some(_), Stage::Started { .. } | Stage::Finished { .. }) => {
            let context = CommentContext {
                run: CommentRun {
                    agent: run.agent.clone(),
                    name: run.name.clone(),
                    requested_by: run.requested_by.clone(),
                    duration,
                    url: run.details_url.clone(),
                },
                result: conclusion.map(|conclusion| CommentResult {
                    conclusion: conclusion.to_string(),
                    summary: summary.unwrap_or_default(),
                }),
                prefix: run.prefix.clone(),
            };
            // A comment template that fails (one changed since `validate`, a value no
            // sample had) costs the comment its looks, never the report: the check run,
            // the status and a plain comment still go out, and the reason is logged.
            let body = template.render_comment(&context).unwrap_or_else(|e| {
                comment_error = Some(e);
                plain_comment(&context)
            });
            Some(with_marker(body.trim_end(), &run.name))
        }
    };
    Ok(Writes {
        check,
        status: status_write,
        comment,
        comment_error,
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::report::marker;

    /// A `comment.md` that no longer renders (changed after `validate`, or given a value no
    /// sample had).
    struct Broken;

    impl CommentTemplate for Broken {
        fn render_comment(&self, _: &CommentContext) -> Result<String, RenderError> {
            Err(RenderError::Template {
                template: "comment.md".into(),
                message: "undefined value: `result.sumary` is undefined".into(),
                spot: None,
            })
        }
    }

    #[test]
    fn a_stored_conclusion_is_told_to_github_as_the_same_word() {
        for stored in Conclusion::ALL {
            assert_eq!(check_conclusion(&stored).as_str(), stored.as_str());
        }
        assert_eq!(
            check_conclusion(&Conclusion::Unknown("superseded".into())),
            CheckConclusion::Neutral
        );
    }

    #[test]
    fn a_comment_template_that_fails_costs_the_comment_its_looks_not_the_report() {
        let run = RunInfo {
            repo: "octo/demo".parse().expect("a repository"),
            name: "review-pr7-0a1b2c3d".into(),
            agent: "review".into(),
            number: Some(crate::ids::IssueNumber(7)),
            head_sha: Some(
                "0123456789abcdef0123456789abcdef01234567"
                    .parse()
                    .expect("a SHA"),
            ),
            check_run: true,
            commit_status: false,
            requested_by: Some("octocat".into()),
            details_url: None,
            prefix: "/agent".into(),
        };
        let finished = Stage::Finished {
            started_at: None,
            at: SystemTime::UNIX_EPOCH,
            conclusion: Conclusion::Failure,
            summary: "Tests fail: @someone see #12".into(),
        };
        let w = writes(&run, &finished, true, &Broken).expect("the writes");
        let check = w.check.expect("the check run still goes out");
        assert_eq!(check.conclusion, Some(CheckConclusion::Failure));
        let body = w.comment.expect("a plain comment");
        assert!(
            body.starts_with(
                "**review** finished: `failure`.\n\nTests fail: @\u{200D}someone see #\u{200D}12"
            ),
            "{body}"
        );
        assert!(
            body.contains("the comment template did not render"),
            "{body}"
        );
        assert!(body.ends_with(&marker(&run.name)), "{body}");
        assert_eq!(
            w.comment_error.map(|e| e.to_string()).as_deref(),
            Some("comment.md: undefined value: `result.sumary` is undefined")
        );

        let running = Stage::Started {
            at: SystemTime::UNIX_EPOCH,
        };
        let w = writes(&run, &running, true, &Broken).expect("the writes");
        assert!(w.check.is_some());
        let body = w.comment.expect("a plain comment");
        assert!(
            body.starts_with("**review** is running for @octocat."),
            "{body}"
        );
    }
}
