//! Comments: the run's one comment (`templates/comment.md`, or a plain one when it does
//! not render) and the answer to `/agent status`.

use crate::ports::launcher::RunLine;
use crate::render::comment::CommentContext;
use crate::render::{Engine, RenderError};

use super::neutralise::cut;
use super::{COMMENT_LIMIT, marker};

/// Renders comment bodies (`templates/comment.md`): the render engine (below), or a test's.
pub trait CommentTemplate {
    fn render_comment(&self, context: &CommentContext) -> Result<String, RenderError>;
}

impl CommentTemplate for Engine {
    fn render_comment(&self, context: &CommentContext) -> Result<String, RenderError> {
        Engine::render_comment(self, context)
    }
}

/// The run's comment when `comment.md` does not render: what the shipped template says,
/// in fixed words.
pub(super) fn plain_comment(context: &CommentContext) -> String {
    let run = &context.run;
    let head = match &context.result {
        Some(result) => format!(
            "**{}** finished: `{}`{}.\n\n{}",
            run.agent,
            result.conclusion,
            run.duration
                .as_ref()
                .map(|d| format!(" in {d}"))
                .unwrap_or_default(),
            result.summary
        ),
        None => format!(
            "**{}** is running{}.",
            run.agent,
            run.requested_by
                .as_ref()
                .map(|who| format!(" for @{who}"))
                .unwrap_or_default()
        ),
    };
    format!(
        "{head}\n\n<sub>run `{}`{} · `{} help` lists the commands · the comment template \
         did not render, so this is agentpods' plain comment (the service's log says why)</sub>",
        run.name,
        run.url
            .as_ref()
            .map(|u| format!(" · [details]({u})"))
            .unwrap_or_default(),
        context.prefix
    )
}

pub(super) fn with_marker(body: &str, run_name: &str) -> String {
    let marker = marker(run_name);
    let room = COMMENT_LIMIT - marker.chars().count() - 2;
    format!("{}\n\n{marker}", cut(body, room))
}

/// The answer to `/agent status`: the runs of a pull request or issue, newest first.
pub fn status_body(number: u64, runs: &[RunLine]) -> String {
    if runs.is_empty() {
        return format!("No agent runs for #{number}.");
    }
    let mut out = format!("Agent runs for #{number}:\n\n| run | agent | phase |\n|---|---|---|\n");
    for r in runs {
        let name = match &r.url {
            Some(u) => format!("[`{}`]({u})", r.name),
            None => format!("`{}`", r.name),
        };
        out.push_str(&format!("| {name} | {} | {} |\n", r.agent, r.phase_shown()));
    }
    out
}
