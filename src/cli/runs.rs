//! `agentpods runs list|logs|cancel`: the operator's view of AgentRuns, shaped like kubectl
//! (`-n`, `-A`, `--context`, `-o wide|json|yaml`, a table with an AGE column). The cluster
//! side is [`crate::cluster::runs`]; this module parses, prints and picks the exit code.
//!
//! The namespace is kubectl's: `-n`, else the kubeconfig context's namespace (the pod's own
//! inside a cluster), so `agentpods runs list` and `kubectl get agentruns` show the same
//! runs; `-A` lists every namespace. When a name is not found, the error says which
//! namespace it is in.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::agentrun::{AgentRun, CancelReason};
use crate::clock::{Clock, SystemClock};
use crate::cluster::queue::Place;
use crate::cluster::runs::{self as cluster_runs, Cancelled, Connection, RunFilter, RunsError};

#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    /// List runs, newest first, as a table (or -o wide|json|yaml).
    List(ListArgs),
    /// Print the agent's log: the run's pod, or the newest pod of its Job.
    ///
    /// There is no --follow yet: to follow a live log, `kubectl logs -f` the pod that
    /// `runs list -o wide` names.
    ///
    /// The agent writes this log, so control characters other than newline and tab are
    /// printed escaped (ESC as `\u{1b}`), to a terminal and to a pipe or file alike: a
    /// hijacked agent cannot set the clipboard, the title or the screen of whoever reads
    /// it, even through `| less -R`. `kubectl logs` the pod for the raw bytes.
    Logs(LogsArgs),
    /// Ask the controller to stop a run; it deletes the run's pod and ends it Cancelled.
    ///
    /// Asking again is harmless; a run that already ended otherwise is refused.
    Cancel(CancelArgs),
}

/// Where the runs are.
#[derive(Debug, Args)]
pub struct Target {
    /// The namespace (default: the kubeconfig context's, as with kubectl).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// The kubeconfig context to use (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: Target,
    /// List the runs of every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Only the runs of this repository, `owner/name` as GitHub spells it.
    #[arg(long)]
    pub repo: Option<String>,
    /// Only the runs about this pull request.
    #[arg(long, conflicts_with = "issue")]
    pub pr: Option<u64>,
    /// Only the runs about this issue.
    #[arg(long)]
    pub issue: Option<u64>,
    /// How to print the runs: a table (without the flag), a wider table, JSON or YAML.
    #[arg(short, long, value_enum)]
    pub output: Option<Output>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// More columns (trigger, requester, pod, attempts) and whole messages.
    Wide,
    /// The AgentRuns as a JSON List, as kubectl prints one.
    Json,
    /// The AgentRuns as a YAML List, as kubectl prints one.
    Yaml,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: Target,
    /// The run's name (as `runs list` shows it).
    pub name: String,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<i64>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub target: Target,
    /// The run's name (as `runs list` shows it).
    pub name: String,
    /// Why, recorded on the run and in its result (default: who cancelled it, and how).
    #[arg(long)]
    pub reason: Option<String>,
}

/// Runs one `runs` command; errors go to stderr with exit code 1.
pub fn main(cmd: RunsCmd) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let done = match runtime {
        Ok(runtime) => runtime.block_on(execute(cmd, &SystemClock)),
        Err(e) => Err(RunsError::Runtime(e)),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may carry what the agent wrote (its result, its pod's message).
            say!("{}", clean(&crate::text::with_causes(&e)));
            if let Some(what) = e.what_to_do() {
                say!("{what}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn execute(cmd: RunsCmd, clock: &dyn Clock) -> Result<(), RunsError> {
    let context = match &cmd {
        RunsCmd::List(a) => &a.target,
        RunsCmd::Logs(a) => &a.target,
        RunsCmd::Cancel(a) => &a.target,
    }
    .context
    .clone();
    let Connection {
        client,
        default_namespace,
    } = cluster_runs::connect(context.as_deref()).await?;
    let namespace_of = |target: &Target| {
        target
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.clone())
    };
    match cmd {
        RunsCmd::List(args) => {
            let namespace = (!args.all_namespaces).then(|| namespace_of(&args.target));
            let filter = RunFilter {
                repository: args.repo,
                pull_request: args.pr,
                issue: args.issue,
            };
            let listed = cluster_runs::list(&client, namespace.as_deref(), &filter).await?;
            for unreadable in &listed.unreadable {
                say!("{}", clean(&unreadable.to_string()));
                say!("{}", clean(&unreadable.what_to_do()));
            }
            let runs = listed.runs;
            // None here: where there are some, when the user may list every namespace
            // (new-user review 13e, N8: `-n nope` said only that there were none).
            let elsewhere = if runs.is_empty() && namespace.is_some() {
                cluster_runs::list(&client, None, &filter)
                    .await
                    .ok()
                    .map(|all| {
                        let mut namespaces: Vec<String> =
                            all.runs.iter().filter_map(|r| r.namespace()).collect();
                        namespaces.sort();
                        namespaces.dedup();
                        namespaces
                    })
            } else {
                None
            };
            print_list(
                &runs,
                Where {
                    namespace: namespace.as_deref(),
                    elsewhere: elsewhere.as_deref(),
                },
                &filter,
                args.output,
                clock.now(),
            )
        }
        RunsCmd::Logs(args) => {
            let namespace = namespace_of(&args.target);
            let text = cluster_runs::logs(&client, &namespace, &args.name, args.tail).await?;
            print_out(&clean(&text));
            Ok(())
        }
        RunsCmd::Cancel(args) => {
            let namespace = namespace_of(&args.target);
            let reason = CancelReason::of_cli(args.reason, std::env::var("USER").ok().as_deref());
            let name = args.name;
            let said = match cluster_runs::cancel(&client, &namespace, &name, &reason).await? {
                Cancelled::Requested => format!(
                    "run {name} in namespace {namespace}: cancel requested ({reason}); the controller deletes its pod and ends it Cancelled"
                ),
                Cancelled::AlreadyRequested(earlier) => format!(
                    "run {name} in namespace {namespace}: a cancel was already requested ({earlier}); the controller is stopping it"
                ),
                Cancelled::Already(message) => format!(
                    "run {name} in namespace {namespace} was already cancelled{}",
                    message.map(|m| format!(" ({m})")).unwrap_or_default()
                ),
            };
            print_out(&format!("{}\n", clean(&said)));
            Ok(())
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`agentpods runs logs X | head`).
fn print_out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Where `list` looked: the namespace (none with -A) and, when it found nothing there,
/// the namespaces that have runs matching the filter (none when they could not be listed).
#[derive(Debug, Clone, Copy, Default)]
pub struct Where<'a> {
    pub namespace: Option<&'a str>,
    pub elsewhere: Option<&'a [String]>,
}

fn print_list(
    runs: &[AgentRun],
    looked: Where<'_>,
    filter: &RunFilter,
    output: Option<Output>,
    now: Timestamp,
) -> Result<(), RunsError> {
    let list = || {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": runs,
        })
    };
    match output {
        Some(Output::Json) => {
            let text = serde_json::to_string_pretty(&list()).unwrap_or_default();
            print_out(&format!("{}\n", json_clean(&text)));
        }
        Some(Output::Yaml) => print_out(&serde_yaml::to_string(&list()).unwrap_or_default()),
        None | Some(Output::Wide) if runs.is_empty() => {
            say!("{}", nothing_found(looked, filter));
        }
        None | Some(Output::Wide) => {
            let layout = Layout {
                namespaces: looked.namespace.is_none(),
                wide: output == Some(Output::Wide),
            };
            print_out(&table(runs, layout, now));
        }
    }
    Ok(())
}

/// What `list` says on stderr when no run matches, like kubectl's "No resources found",
/// and, looking in one namespace, a last line saying what to do: the namespaces that have
/// such runs, or what else to check.
pub fn nothing_found(looked: Where<'_>, filter: &RunFilter) -> String {
    let about = filter.describe();
    let about = if about.is_empty() {
        String::new()
    } else {
        format!(" for {about}")
    };
    let Some(ns) = looked.namespace else {
        return format!("No runs found{about}.");
    };
    match looked.elsewhere {
        Some([]) => format!(
            "No runs found{about} in namespace {ns}, nor in any other.\nwhat to do: {}",
            if about.is_empty() {
                "a run is made when a delivery starts an agent (the service's log says why \
                 one did not); --context picks another cluster"
            } else {
                "check --repo, --pr and --issue (`agentpods runs list -A` lists every run)"
            }
        ),
        Some(namespaces) => format!(
            "No runs found{about} in namespace {ns}; there are some in namespace{} {}.\n\
             what to do: add -n {}, or -A to list every namespace",
            if namespaces.len() == 1 { "" } else { "s" },
            namespaces.join(", "),
            namespaces[0]
        ),
        None => format!(
            "No runs found{about} in namespace {ns}.\nwhat to do: check the namespace (-n) and \
             the kubeconfig context, or list every namespace with -A"
        ),
    }
}

/// Which columns a table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// A NAMESPACE column first (with -A).
    pub namespaces: bool,
    /// TRIGGER, REQUESTED-BY, POD and ATTEMPTS too, and messages unclipped.
    pub wide: bool,
}

/// How much of a message a narrow table shows.
const MESSAGE_WIDTH: usize = 60;

/// The runs as a kubectl-style table: a header, columns three spaces apart.
pub fn table(runs: &[AgentRun], layout: Layout, now: Timestamp) -> String {
    let mut header = vec!["NAME", "AGENT", "REPO", "PR/ISSUE", "PHASE", "AGE"];
    if layout.namespaces {
        header.insert(0, "NAMESPACE");
    }
    if layout.wide {
        header.extend(["TRIGGER", "REQUESTED-BY", "POD", "ATTEMPTS"]);
    }
    header.push("MESSAGE");
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    // Where each run a limit holds stands now, among the runs listed.
    let listed: Vec<&AgentRun> = runs.iter().collect();
    let places = crate::cluster::queue::places(&listed);
    rows.extend(
        runs.iter()
            .zip(places)
            .map(|(run, place)| row(run, place, layout, now)),
    );
    align(&rows)
}

fn row(run: &AgentRun, place: Option<Place>, layout: Layout, now: Timestamp) -> Vec<String> {
    let spec = &run.spec;
    let status = run.status.clone().unwrap_or_default();
    let age = run
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(|| "<unknown>".to_string(), |t| age(t.0, now));
    let mut cells = vec![
        run.name_any(),
        spec.agent.clone(),
        spec.repository.clone(),
        subject(run),
        status
            .phase
            .map_or_else(|| "<none>".to_string(), |p| p.to_string()),
        age,
    ];
    if layout.namespaces {
        cells.insert(0, run.namespace().unwrap_or_default());
    }
    if layout.wide {
        cells.extend([
            spec.trigger.clone(),
            spec.requested_by.clone(),
            status
                .job_name
                .clone()
                .or(status.pod_name.clone())
                .unwrap_or_else(|| "<none>".into()),
            status.attempts.to_string(),
        ]);
    }
    let width = (!layout.wide).then_some(MESSAGE_WIDTH);
    // Escaped before it is clipped, so the message keeps its width.
    cells.push(one_line(&clean(&message(run, place)), width));
    cells
        .iter()
        .map(|c| clean(c).replace(['\n', '\t'], " "))
        .collect()
}

/// `pr/2`, `issue/1`, or the git ref of a push or release (`tags/v1.0.0`).
fn subject(run: &AgentRun) -> String {
    let spec = &run.spec;
    if let Some(pr) = &spec.pull_request {
        format!("pr/{}", pr.number)
    } else if let Some(issue) = spec.issue {
        format!("issue/{issue}")
    } else if let Some(git_ref) = &spec.git_ref {
        git_ref.trim_start_matches("refs/").to_string()
    } else {
        "<none>".into()
    }
}

/// The result of a finished run (`success: summary`), a pending cancel, where a run a
/// limit holds stands (`place`: how many of its repository's runs wait ahead of it now), or
/// the status message.
fn message(run: &AgentRun, place: Option<Place>) -> String {
    let status = run.status.as_ref();
    let finished = status
        .and_then(|s| s.phase.clone())
        .as_ref()
        .is_some_and(crate::agentrun::Phase::is_finished);
    if finished && let Some(result) = cluster_runs::result_line(run) {
        return result;
    }
    if !finished && let Some(reason) = &run.spec.cancel {
        return format!("cancel requested: {reason}");
    }
    let limit = status.and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == crate::cluster::queue::QUEUED)
    });
    if let (Some(place), Some(limit)) = (place, limit) {
        return crate::cluster::queue::message(place, &limit.message);
    }
    status.and_then(|s| s.message.clone()).unwrap_or_default()
}

/// The first line of `text`, at most `width` characters, `…` where anything was left out
/// (the other lines too; unlike [`crate::text::clip_within`], the space before `…` goes).
pub fn one_line(text: &str, width: Option<usize>) -> String {
    let text = text.trim();
    let first = text.lines().next().unwrap_or_default().trim_end();
    let mut clipped = first.len() < text.len();
    let mut out: String = match width {
        Some(w) if first.chars().count() > w => {
            clipped = true;
            crate::text::start(first, w.saturating_sub(1)).to_owned()
        }
        _ => first.to_string(),
    };
    if clipped {
        out = out.trim_end().to_string();
        out.push('…');
    }
    out
}

/// Control characters (C0, DEL and C1) other than newline and tab, and the characters shown
/// as nothing (default-ignorable: bidi controls, zero-width ones), as an escape anyone can
/// read (`\u{1b}`, `\r`, `\u{202e}`), so that what an agent wrote (its log, its summary)
/// cannot drive the operator's terminal: no clipboard write (OSC 52), no title, no clearing
/// the screen, no line rewritten after a carriage return, no text reordered by a bidi
/// control (outside review 11d, A7).
pub fn clean(text: &str) -> String {
    escape_controls(text, |c, out| {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.extend(c.escape_unicode());
        }
    })
}

/// JSON as serde_json writes it, with the controls it leaves raw in strings (DEL and C1,
/// such as U+009B, a terminal's CSI) written as `\u009b` too: the same JSON.
fn json_clean(json: &str) -> String {
    escape_controls(json, |c, out| {
        out.push_str(&format!("\\u{:04x}", u32::from(c)))
    })
}

/// `text` with each control character but newline and tab, and each default-ignorable
/// one, written by `escape`.
fn escape_controls(text: &str, escape: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\n' && c != '\t') || crate::text::is_default_ignorable(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    out
}

/// Pads every column but the last to its widest cell, three spaces apart, as kubectl does.
fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago `then` was, as kubectl prints an AGE (apimachinery's `HumanDuration`).
pub fn age(then: Timestamp, now: Timestamp) -> String {
    human_duration((now.as_millisecond() - then.as_millisecond()) / 1000)
}

/// kubectl's short duration: `45s`, `3m20s`, `15m`, `5h7m`, `20h`, `3d4h`, `40d`, `2y10d`.
/// A clock up to a second behind reads `0s`; further behind, `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_rest(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_rest(n: i64, unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{n}{unit}")
    } else {
        format!("{n}{unit}{rest}{rest_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agentrun::{AgentRunStatus, Conclusion, Phase, PullRequestRef, RunResult};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    const NOW: &str = "2026-11-25T12:00:00Z";

    fn run(name: &str, created: &str, phase: Option<Phase>) -> AgentRun {
        let mut spec = crate::cluster::decide::tests::spec(None, false);
        spec.repository = "Codertocat/Hello-World".into();
        spec.pull_request = Some(PullRequestRef {
            number: 2,
            head_sha: None,
            head_ref: None,
            before_sha: None,
        });
        let mut run = AgentRun::new(name, spec);
        run.metadata.namespace = Some("agentpods-runs".into());
        run.metadata.creation_timestamp = Some(Time(t(created)));
        run.status = phase.map(|phase| AgentRunStatus {
            phase: Some(phase),
            pod_name: Some(name.into()),
            attempts: 1,
            ..AgentRunStatus::default()
        });
        run
    }

    #[test]
    fn ages_read_like_kubectls() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 7 * 60 + 5, "3h7m"),
            (8 * 3600, "8h"),
            (48 * 3600 - 1, "47h"),
            (48 * 3600, "2d"),
            (49 * 3600, "2d1h"),
            (8 * 86_400, "8d"),
            (729 * 86_400, "729d"),
            (730 * 86_400, "2y"),
            (731 * 86_400, "2y1d"),
            (8 * 365 * 86_400, "8y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
        // Whole seconds that have passed, as Go truncates them.
        assert_eq!(
            age(t("2026-11-25T11:59:00.600Z"), t("2026-11-25T12:00:00.500Z")),
            "59s"
        );
        assert_eq!(
            age(t("2026-11-25T12:00:01Z"), t(NOW)),
            "0s",
            "a skewed clock"
        );
    }

    #[test]
    fn a_table_shows_each_run_with_its_phase_age_and_result() {
        let mut done = run(
            "review-hello-world-2-aaa",
            "2026-11-25T10:00:00Z",
            Some(Phase::Succeeded),
        );
        if let Some(status) = done.status.as_mut() {
            status.result = Some(RunResult {
                conclusion: Conclusion::Success,
                summary: "Looks good: two nits inline.\nThe details follow.".into(),
            });
        }
        let mut running = run(
            "review-hello-world-2-bbb",
            "2026-11-25T11:59:30Z",
            Some(Phase::Running),
        );
        running.spec.cancel = Some("stopped by @octocat".into());
        let fresh = run("task-hello-world-1-ccc", "2026-11-25T11:59:58Z", None);
        let runs = [fresh, running, done];

        assert_eq!(
            table(&runs, Layout::default(), t(NOW)),
            "\
NAME                       AGENT    REPO                     PR/ISSUE   PHASE       AGE    MESSAGE
task-hello-world-1-ccc     review   Codertocat/Hello-World   pr/2       <none>      2s
review-hello-world-2-bbb   review   Codertocat/Hello-World   pr/2       Running     30s    cancel requested: stopped by @octocat
review-hello-world-2-aaa   review   Codertocat/Hello-World   pr/2       Succeeded   120m   success: Looks good: two nits inline.…
"
        );

        let wide = table(
            &runs[2..],
            Layout {
                namespaces: true,
                wide: true,
            },
            t(NOW),
        );
        assert_eq!(
            wide,
            "\
NAMESPACE        NAME                       AGENT    REPO                     PR/ISSUE   PHASE       AGE    TRIGGER               REQUESTED-BY   POD                        ATTEMPTS   MESSAGE
agentpods-runs   review-hello-world-2-aaa   review   Codertocat/Hello-World   pr/2       Succeeded   120m   pull_request.opened   octocat        review-hello-world-2-aaa   1          success: Looks good: two nits inline.…
"
        );
    }

    #[test]
    fn a_run_in_a_phase_a_newer_agentpods_wrote_shows_that_phase() {
        let mut paused = run(
            "review-hello-world-2-ddd",
            "2026-11-25T11:58:00Z",
            Some(Phase::Unknown("Paused".into())),
        );
        if let Some(status) = paused.status.as_mut() {
            status.message = Some("paused by a maintainer".into());
        }
        assert_eq!(
            table(&[paused], Layout::default(), t(NOW)),
            "\
NAME                       AGENT    REPO                     PR/ISSUE   PHASE    AGE   MESSAGE
review-hello-world-2-ddd   review   Codertocat/Hello-World   pr/2       Paused   2m    paused by a maintainer
"
        );
    }

    #[test]
    fn messages_are_one_clipped_line_without_control_characters() {
        let mut r = run("r", NOW, Some(Phase::Failed));
        if let Some(status) = r.status.as_mut() {
            status.result = Some(RunResult {
                conclusion: Conclusion::Failure,
                summary: format!("\u{1b}[31mred\u{1b}[0m {}", "x".repeat(100)),
            });
        }
        let text = table(&[r], Layout::default(), t(NOW));
        let line = text.lines().nth(1).expect("a row");
        assert!(!line.contains('\u{1b}'), "{line:?}");
        let message = line.split(" 0s ").nth(1).expect("the message").trim_start();
        assert_eq!(message.chars().count(), MESSAGE_WIDTH, "{message}");
        assert!(
            message.starts_with("failure: \\u{1b}[31mred\\u{1b}[0m xxx") && message.ends_with('…'),
            "{message}"
        );

        assert_eq!(one_line("  short  ", Some(10)), "short");
        assert_eq!(one_line("first\nsecond", None), "first…");
        assert_eq!(one_line("abcdefghij", Some(5)), "abcd…");
        assert_eq!(one_line("", Some(5)), "");
    }

    #[test]
    fn controls_but_newline_and_tab_are_shown_escaped() {
        assert_eq!(
            clean("a\u{1b}]52;c;eA==\u{7}\tb\r\nc\u{9b}2J\u{7f}\0 é"),
            "a\\u{1b}]52;c;eA==\\u{7}\tb\\r\nc\\u{9b}2J\\u{7f}\\0 é"
        );
    }

    /// The fourth review's A7: a bidi control reorders what the operator reads ("Trojan
    /// Source"), a zero-width one hides; each is shown escaped. Before, printed raw.
    #[test]
    fn bidi_controls_and_invisible_characters_are_shown_escaped() {
        assert_eq!(
            clean("sum \u{202e}live\u{202c} done\u{200b}\u{2066}x\u{2069}\u{61c}\u{200f}"),
            "sum \\u{202e}live\\u{202c} done\\u{200b}\\u{2066}x\\u{2069}\\u{61c}\\u{200f}"
        );
        let value = serde_json::json!({"summary": "a\u{202e}b\u{feff}"});
        let text = json_clean(&serde_json::to_string(&value).unwrap());
        assert!(!text.contains(['\u{202e}', '\u{feff}']), "{text:?}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
        assert_eq!(clean("é ü 日本"), "é ü 日本");
    }

    #[test]
    fn json_keeps_no_raw_control_and_means_the_same() {
        let value = serde_json::json!({"summary": "a\u{1b}[2J b\u{9b}31m c\u{7f}\n"});
        let text = json_clean(&serde_json::to_string_pretty(&value).unwrap());
        assert!(!text.contains(['\u{1b}', '\u{9b}', '\u{7f}']), "{text:?}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
    }

    #[test]
    fn other_subjects_and_empty_lists_read_plainly() {
        let mut r = run("image-v1", NOW, None);
        r.spec.pull_request = None;
        r.spec.git_ref = Some("refs/tags/v1.0.0".into());
        assert_eq!(subject(&r), "tags/v1.0.0");
        r.spec.git_ref = None;
        r.spec.issue = Some(7);
        assert_eq!(subject(&r), "issue/7");

        let filter = RunFilter {
            repository: Some("o/r".into()),
            pull_request: Some(2),
            issue: None,
        };
        let looked = |elsewhere| Where {
            namespace: Some("default"),
            elsewhere,
        };
        assert_eq!(
            nothing_found(looked(None), &filter),
            "No runs found for o/r pull request #2 in namespace default.\n\
             what to do: check the namespace (-n) and the kubeconfig context, or list every \
             namespace with -A"
        );
        let there = ["agentpods-runs".to_string(), "other".to_string()];
        assert_eq!(
            nothing_found(looked(Some(&there)), &filter),
            "No runs found for o/r pull request #2 in namespace default; there are some in \
             namespaces agentpods-runs, other.\n\
             what to do: add -n agentpods-runs, or -A to list every namespace"
        );
        assert_eq!(
            nothing_found(Where::default(), &RunFilter::default()),
            "No runs found."
        );
    }
}
