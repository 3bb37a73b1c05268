//! What `templates/comment.md` sees: the run and, once it has ended, its result. The
//! reports (`crate::report`) fill it in; `validate` renders it with samples.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentContext {
    pub run: CommentRun,
    pub result: Option<CommentResult>,
    pub prefix: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentRun {
    pub agent: String,
    pub name: String,
    pub requested_by: Option<String>,
    pub duration: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentResult {
    pub conclusion: String,
    /// Already neutralised.
    pub summary: String,
}

/// The contexts `comment.md` is rendered with, each named: while a run runs (asked for by
/// someone, or started by an event) and after it ends with each of GitHub's conclusions
/// (having run, or before it started). `validate` renders the template with each, and
/// docs/templates.md lists their fields.
pub fn samples(prefix: &str) -> Vec<(String, CommentContext)> {
    let run = |requested_by: Option<&str>, duration: Option<&str>, url: bool| CommentRun {
        agent: "review".into(),
        name: "review-pr1-0a1b2c3d".into(),
        requested_by: requested_by.map(str::to_string),
        duration: duration.map(str::to_string),
        url: url.then(|| "https://agentpods.example/runs/review-pr1-0a1b2c3d".into()),
    };
    let prefix = prefix.to_string();
    let mut cases: Vec<(String, CommentContext)> = vec![
        (
            "while it runs, asked for by someone".into(),
            CommentContext {
                run: run(Some("octocat"), None, true),
                result: None,
                prefix: prefix.clone(),
            },
        ),
        (
            "while it runs, started by an event".into(),
            CommentContext {
                run: run(None, None, false),
                result: None,
                prefix: prefix.clone(),
            },
        ),
    ];
    // Ended, asked for by someone or started by an event (`run.requested_by` none then:
    // new-user review 13c, N4).
    for conclusion in crate::github::CONCLUSIONS {
        for (duration, requested_by) in [
            (Some("3m 10s"), Some("octocat")),
            (None, Some("octocat")),
            (Some("3m 10s"), None),
        ] {
            cases.push((
                format!(
                    "ended `{conclusion}`{}{}",
                    if duration.is_some() {
                        ""
                    } else {
                        " before it started"
                    },
                    if requested_by.is_some() {
                        ""
                    } else {
                        ", started by an event"
                    }
                ),
                CommentContext {
                    run: run(requested_by, duration, duration.is_some()),
                    result: Some(CommentResult {
                        conclusion: conclusion.into(),
                        summary: "The agent's summary.".into(),
                    }),
                    prefix: prefix.clone(),
                },
            ));
        }
    }
    cases
}
