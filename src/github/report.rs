//! Reports: a run's lifecycle turned into GitHub writes.
//!
//! The core is pure: [`writes`] says, for a run at a stage, which check run or commit
//! status and which comment body GitHub should show. [`Reporter`] carries the writes out
//! with the client and keeps what it [`Posted`] (stored in the AgentRun's status) so that a
//! restarted service edits what exists instead of posting again; without refs it finds its
//! comment by the hidden marker `<!-- agentpods:run=NAME -->` and its check run by the
//! run's name as external id.
//!
//! What the agent writes is untrusted: [`neutralise`] keeps it from pinging people,
//! injecting HTML (or a forged marker) or overflowing GitHub's limits.

use std::time::SystemTime;

use serde::Serialize;

use crate::github::client::{
    CheckRunWrite, CheckStatus, GithubClient, GithubError, Reaction, StatusState, StatusWrite,
};
use crate::github::event::{CommitSha, RepoFullName};

/// What a run's reports created on GitHub, so that the next report edits them instead of
/// posting again (the controller keeps it in the run's status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Posted {
    pub check_run_id: Option<u64>,
    pub comment_id: Option<u64>,
    /// The commit status's context, when one was set.
    pub status_context: Option<String>,
    /// Nothing was posted for this run that these ids do not name (the caller kept every
    /// id it got, and no one else reported the run): create without looking first. False,
    /// the default, looks for a check run or comment of the run before creating one.
    pub fresh: bool,
}

/// GitHub refuses a comment body longer than this (characters).
pub const COMMENT_LIMIT: usize = 65536;

/// GitHub's check run conclusions, as a finished run's report carries them (the stored run
/// reads them into `agentrun::Conclusion`, which holds to this list).
pub const CONCLUSIONS: [&str; 7] = [
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
];
/// What an agent's summary may take of it; the template and the marker need the rest.
pub const SUMMARY_LIMIT: usize = 60000;
/// The check run's name and the commit status's context prefix.
pub const CHECK_NAME: &str = "agentpods";

/// The hidden line that identifies the comment of a run.
pub fn marker(run_name: &str) -> String {
    format!("<!-- agentpods:run={run_name} -->")
}

/// The run, as reports need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub repo: RepoFullName,
    /// The run's name (the AgentRun's).
    pub name: String,
    pub agent: String,
    /// The pull request or issue the comment goes on, if any.
    pub number: Option<u64>,
    /// The commit the check run or status goes on, if any.
    pub head_sha: Option<CommitSha>,
    pub requested_by: Option<String>,
    /// A page about the run (status page, logs).
    pub details_url: Option<String>,
    /// The command prefix shown in hints, e.g. `/agent`.
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Queued,
    /// Queued while a capacity limit holds it: `why` says where it stands and which limit,
    /// `3 ahead (limit: 3 running in my-org/api)`. Told once, when it begins to wait.
    Waiting {
        why: String,
    },
    Started {
        at: SystemTime,
    },
    Finished {
        started_at: Option<SystemTime>,
        at: SystemTime,
        /// GitHub's check conclusion: success, failure, neutral, cancelled, timed_out.
        conclusion: String,
        /// The agent's own words: untrusted.
        summary: String,
    },
}

/// Renders comment bodies (`templates/comment.md`); the render engine is one (the impl is
/// in `render`, which sits above `github`).
pub trait CommentTemplate {
    fn render_comment(&self, context: &CommentContext) -> Result<String, String>;
}

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
    pub comment_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Github(#[from] GithubError),
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
            Some(conclusion.clone()),
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
    let title = match (&conclusion, status) {
        (Some(c), _) => format!("{} finished: {c}", run.agent),
        (None, CheckStatus::InProgress) => format!("{} is running", run.agent),
        _ => match stage {
            Stage::Waiting { why } => format!("{} is queued: {}", run.agent, neutralise(why, 200)),
            _ => format!("{} is queued", run.agent),
        },
    };
    let check = (app && run.head_sha.is_some()).then(|| CheckRunWrite {
        name: format!("{CHECK_NAME}/{}", run.agent),
        external_id: run.name.clone(),
        status,
        conclusion: conclusion.clone(),
        details_url: run.details_url.clone(),
        title: title.clone(),
        summary: summary.clone().unwrap_or_else(|| title.clone()),
        started_at,
        completed_at,
    });
    let status_write = (!app && run.head_sha.is_some()).then(|| StatusWrite {
        state: match conclusion.as_deref() {
            None => StatusState::Pending,
            Some("success") | Some("neutral") | Some("skipped") => StatusState::Success,
            Some("failure") => StatusState::Failure,
            Some(_) => StatusState::Error,
        },
        context: format!("{CHECK_NAME}/{}", run.agent),
        description: title,
        target_url: run.details_url.clone(),
    });
    let mut comment_error = None;
    let comment = match (run.number, stage) {
        (None, _) | (_, Stage::Queued | Stage::Waiting { .. }) => None,
        (Some(_), _) => {
            let context = CommentContext {
                run: CommentRun {
                    agent: run.agent.clone(),
                    name: run.name.clone(),
                    requested_by: run.requested_by.clone(),
                    duration,
                    url: run.details_url.clone(),
                },
                result: conclusion.map(|conclusion| CommentResult {
                    conclusion,
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

/// The run's comment when `comment.md` does not render: what the shipped template says,
/// in fixed words.
fn plain_comment(context: &CommentContext) -> String {
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

fn with_marker(body: &str, run_name: &str) -> String {
    let marker = marker(run_name);
    let room = COMMENT_LIMIT - marker.chars().count() - 2;
    format!("{}\n\n{marker}", cut(body, room))
}

/// Makes untrusted text (an agent's summary) safe to show in a comment: no @mentions (a
/// zero-width joiner after the `@`); no references that GitHub links and records on the
/// issue they name — `#123`, `owner/repo#123`, `GH-123`, an issue's, pull request's or
/// discussion's URL (a zero-width joiner before the number, so they read the same but
/// name nothing); no raw HTML or HTML comments (`<` escaped); no character references
/// that would spell any of these (`&#35;123`: the `&` escaped); no images that load from
/// elsewhere (`![` escaped); at most `limit` characters.
pub fn neutralise(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len().min(limit) + 16);
    // The end of the text as GitHub shows it, where a reference would be: Markdown's
    // backslash escapes show only the character they escape, so `\#1` is `#1` too.
    let mut shown = Shown::default();
    // NULs go first, so that none can stand between the parts of a mention or reference.
    let mut chars = text.chars().filter(|c| *c != '\u{0}').peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(char::is_ascii_punctuation) {
            out.push('\\');
            continue;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' if is_character_reference(chars.clone()) => out.push_str("&amp;"),
            '@' => {
                out.push('@');
                if chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || *n == '-' || *n == '_')
                {
                    out.push('\u{200D}');
                }
            }
            '!' if chars.peek() == Some(&'[') => out.push_str("!\\"),
            c if c.is_numeric() && shown.ends_a_reference_prefix() => {
                out.push('\u{200D}');
                out.push(c);
            }
            c => out.push(c),
        }
        shown.push(c);
    }
    cut(&out, limit)
}

/// The last few characters of the text as shown, lower-cased.
#[derive(Default)]
struct Shown {
    tail: std::collections::VecDeque<char>,
}

impl Shown {
    const KEEP: usize = 16;

    fn push(&mut self, c: char) {
        if self.tail.len() == Self::KEEP {
            self.tail.pop_front();
        }
        self.tail.extend(c.to_lowercase().take(1));
    }

    /// Whether a number starting here would complete a reference GitHub links: after `#`
    /// (`#1`, `owner/repo#1`), `GH-` or an issue's, pull request's or discussion's path.
    fn ends_a_reference_prefix(&self) -> bool {
        const PREFIXES: [&str; 6] = ["#", "gh-", "/issues/", "/pull/", "/pulls/", "/discussions/"];
        PREFIXES.iter().any(|p| {
            let n = p.chars().count();
            self.tail.len() >= n
                && self
                    .tail
                    .iter()
                    .skip(self.tail.len() - n)
                    .copied()
                    .eq(p.chars())
        })
    }
}

/// Whether the text after a `&` makes it a character reference (`&#35;`, `&#x23;`,
/// `&num;`), which GitHub shows as the character it names.
fn is_character_reference(rest: impl Iterator<Item = char>) -> bool {
    let mut body = String::new();
    for c in rest.take(33) {
        if c == ';' {
            return match body.strip_prefix('#') {
                Some(n) => match n.strip_prefix(['x', 'X']) {
                    Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
                    None => !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
                },
                None => {
                    body.starts_with(|c: char| c.is_ascii_alphabetic())
                        && body.chars().all(|c| c.is_ascii_alphanumeric())
                }
            };
        }
        body.push(c);
    }
    false
}

/// At most `limit` characters, with a note when something was cut.
fn cut(text: &str, limit: usize) -> String {
    const NOTE: &str = "\n\n… (cut)";
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let keep = limit.saturating_sub(NOTE.chars().count());
    let mut s: String = text.chars().take(keep).collect();
    s.push_str(NOTE);
    s
}

/// One line of a `/agent status` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLine {
    pub name: String,
    pub agent: String,
    /// `Running`, `Succeeded`, ...
    pub phase: String,
    pub url: Option<String>,
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
        out.push_str(&format!("| {name} | {} | {} |\n", r.agent, r.phase));
    }
    out
}

/// Carries the writes out; one per service, shared.
pub struct Reporter<'a> {
    pub client: &'a GithubClient,
    pub template: &'a (dyn CommentTemplate + Sync),
}

impl Reporter<'_> {
    /// A command was accepted: eyes on it.
    pub async fn accepted(&self, repo: &RepoFullName, comment_id: u64) -> Result<(), ReportError> {
        self.client
            .react_to_comment(repo, comment_id, Reaction::Eyes)
            .await?;
        Ok(())
    }

    /// A reply (refusal, help, status) posted at most once per `key` (e.g. the delivery
    /// id), even when the same delivery arrives twice or the service restarts.
    pub async fn reply_once(
        &self,
        repo: &RepoFullName,
        number: u64,
        key: &str,
        body: &str,
    ) -> Result<u64, ReportError> {
        let marker = format!("<!-- agentpods:reply={key} -->");
        let body = format!("{}\n\n{marker}", cut(body, SUMMARY_LIMIT));
        Ok(self
            .client
            .create_comment_once(repo, number, &marker, &body)
            .await?)
    }

    /// A refused push or release, told on its commit: one completed check run named
    /// `agentpods`, conclusion `neutral` (a refusal is not the commit's failure, and a
    /// neutral check fails no branch protection), titled with who was refused, the reason
    /// and what to do as its summary. At most one per `key` (the delivery): a check run
    /// with that external id on the commit is edited, not made again. Only an App can
    /// make check runs; with a plain token the refusal is only logged.
    pub async fn refused(
        &self,
        repo: &RepoFullName,
        sha: &str,
        key: &str,
        login: &str,
        reason: &str,
    ) -> Result<(), ReportError> {
        if !self.client.is_app() {
            tracing::info!(
                sha,
                "a refused push or release is told with a check run, which only an App can make; logged only"
            );
            return Ok(());
        }
        let sha: CommitSha =
            sha.parse()
                .map_err(|e: crate::github::event::ValueError| GithubError::Decode {
                    what: "the refused commit".into(),
                    message: e.to_string(),
                })?;
        let who = if login.is_empty() {
            "nobody known".to_string()
        } else {
            format!("@{login}")
        };
        let check = CheckRunWrite {
            name: CHECK_NAME.to_string(),
            external_id: key.to_string(),
            status: CheckStatus::Completed,
            conclusion: Some("neutral".into()),
            details_url: None,
            title: cut(&format!("No agent started: {who} was refused"), 200),
            summary: cut(reason, SUMMARY_LIMIT),
            started_at: None,
            completed_at: None,
        };
        self.client.create_check_run(repo, &sha, &check).await?;
        Ok(())
    }

    /// Shows `run` at `stage` on GitHub, updating `refs` (to be stored in the AgentRun's
    /// status) with what was created.
    pub async fn report(
        &self,
        run: &RunInfo,
        stage: &Stage,
        refs: &mut Posted,
    ) -> Result<(), ReportError> {
        let w = writes(run, stage, self.client.is_app(), self.template)?;
        if let Some(why) = &w.comment_error {
            tracing::warn!(
                run = %run.name,
                "comment.md did not render, so the run's comment is the plain one: {why}"
            );
        }
        if let (Some(check), Some(sha)) = (&w.check, &run.head_sha) {
            match refs.check_run_id {
                Some(id) => self.client.update_check_run(&run.repo, id, check).await?,
                None if refs.fresh => {
                    refs.check_run_id =
                        Some(self.client.post_check_run(&run.repo, sha, check).await?);
                }
                None => {
                    refs.check_run_id =
                        Some(self.client.create_check_run(&run.repo, sha, check).await?);
                }
            }
        }
        if let (Some(status), Some(sha)) = (&w.status, &run.head_sha) {
            self.client.create_status(&run.repo, sha, status).await?;
            refs.status_context = Some(status.context.clone());
        }
        if let (Some(body), Some(number)) = (&w.comment, run.number) {
            match refs.comment_id {
                Some(id) => self.client.update_comment(&run.repo, id, body).await?,
                None if refs.fresh => {
                    let marker = marker(&run.name);
                    refs.comment_id = Some(
                        self.client
                            .post_comment_once(&run.repo, number, &marker, body)
                            .await?,
                    );
                }
                None => {
                    let marker = marker(&run.name);
                    let id = match self.client.find_comment(&run.repo, number, &marker).await? {
                        Some(found) => {
                            if found.body != *body {
                                self.client
                                    .update_comment(&run.repo, found.id, body)
                                    .await?;
                            }
                            found.id
                        }
                        None => {
                            self.client
                                .post_comment_once(&run.repo, number, &marker, body)
                                .await?
                        }
                    };
                    refs.comment_id = Some(id);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `comment.md` that no longer renders (changed after `validate`, or given a value no
    /// sample had).
    struct Broken;

    impl CommentTemplate for Broken {
        fn render_comment(&self, _: &CommentContext) -> Result<String, String> {
            Err("undefined value: `result.sumary` is undefined".into())
        }
    }

    #[test]
    fn a_comment_template_that_fails_costs_the_comment_its_looks_not_the_report() {
        let run = RunInfo {
            repo: "octo/demo".parse().expect("a repository"),
            name: "review-pr7-0a1b2c3d".into(),
            agent: "review".into(),
            number: Some(7),
            head_sha: Some(
                "0123456789abcdef0123456789abcdef01234567"
                    .parse()
                    .expect("a SHA"),
            ),
            requested_by: Some("octocat".into()),
            details_url: None,
            prefix: "/agent".into(),
        };
        let finished = Stage::Finished {
            started_at: None,
            at: SystemTime::UNIX_EPOCH,
            conclusion: "failure".into(),
            summary: "Tests fail: @someone see #12".into(),
        };
        let w = writes(&run, &finished, true, &Broken).expect("the writes");
        let check = w.check.expect("the check run still goes out");
        assert_eq!(check.conclusion.as_deref(), Some("failure"));
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
            w.comment_error.as_deref(),
            Some("undefined value: `result.sumary` is undefined")
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

    const ZWJ: char = '\u{200D}';

    fn safe(s: &str) -> String {
        neutralise(s, SUMMARY_LIMIT)
    }

    #[test]
    fn references_to_issues_read_the_same_but_name_nothing() {
        for (given, made) in [
            ("Fixes #123.", "Fixes #\u{200D}123."),
            ("see octo/other#7", "see octo/other#\u{200D}7"),
            ("(#1)", "(#\u{200D}1)"),
            ("GH-42 and gh-9", "GH-\u{200D}42 and gh-\u{200D}9"),
            (
                "https://github.com/octo/demo/issues/12#issuecomment-3",
                "https://github.com/octo/demo/issues/\u{200D}12#issuecomment-3",
            ),
            (
                "[the fix](https://github.com/octo/demo/pull/5/files)",
                "[the fix](https://github.com/octo/demo/pull/\u{200D}5/files)",
            ),
            (
                "github.com/octo/demo/discussions/8 github.com/o/r/pulls/2",
                "github.com/octo/demo/discussions/\u{200D}8 github.com/o/r/pulls/\u{200D}2",
            ),
            ("ISSUES: /Issues/3", "ISSUES: /Issues/\u{200D}3"),
        ] {
            assert_eq!(safe(given), made, "{given}");
        }
    }

    #[test]
    fn markdown_escapes_and_character_references_cannot_spell_a_reference() {
        for (given, made) in [
            // `\#1` shows as `#1`.
            ("\\#1", "\\#\u{200D}1"),
            ("GH\\-2", "GH\\-\u{200D}2"),
            ("/issues\\/3", "/issues\\/\u{200D}3"),
            // `&#35;1` shows as `#1`, `&commat;x` as `@x`: the `&` shows as itself instead.
            ("&#35;1", "&amp;#\u{200D}35;1"),
            ("&#x23;1", "&amp;#x23;1"),
            ("&num;1", "&amp;num;1"),
            ("&commat;octocat", "&amp;commat;octocat"),
            ("&#49;", "&amp;#\u{200D}49;"),
        ] {
            assert_eq!(safe(given), made, "{given}");
        }
    }

    #[test]
    fn text_that_references_nothing_is_left_alone() {
        for text in [
            "Issue 12 is fixed",
            "C# and F#, x#y, 1#",
            "#hashtag ## heading",
            "R&D, a && b, &c, &amp without a semicolon",
            "version 1.2.3, 100%, 3-4",
            "https://example.com/docs/v2/page",
        ] {
            assert_eq!(safe(text), text);
            assert!(!safe(text).contains(ZWJ));
        }
    }

    #[test]
    fn a_dropped_nul_cannot_join_a_reference_or_a_mention() {
        assert_eq!(safe("#\u{0}1"), "#\u{200D}1");
        assert_eq!(safe("@\u{0}octocat"), "@\u{200D}octocat");
    }
}
