//! Runs the agent command: directly (no shell), with the prompt on stdin, as an argument or
//! as a file path; its output is passed through to ours and the end of it kept.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

use thiserror::Error;

use super::result::Redactor;

/// How much of each of the agent's output streams is kept for the result.
const TAIL_BYTES: usize = 64 * 1024;

/// How the agent receives its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PromptVia {
    /// The task text on the agent's stdin (what `codex exec` reads without a prompt argument).
    Stdin,
    /// The task text as the last argument.
    Arg,
    /// The task file's path as the last argument.
    File,
}

#[derive(Debug, Error)]
pub enum ProcessError {
    #[error("no agent command was given (put it after `--`)")]
    NoCommand,
    #[error("cannot start the agent command {program:?}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("lost the agent command: {0}")]
    Wait(std::io::Error),
}

/// What to run, and with what.
#[derive(Debug)]
pub struct AgentCommand<'a> {
    pub argv: &'a [String],
    pub dir: &'a Path,
    pub prompt_via: PromptVia,
    pub task_file: &'a Path,
    pub task: &'a str,
    /// Variables to set for the agent.
    pub env: Vec<(&'static str, OsString)>,
    /// Variables to take out of the agent's environment.
    pub env_remove: &'a [&'a str],
    /// Secrets to take out of the agent's output before it is logged or kept.
    pub redactor: &'a Redactor,
}

/// How the agent ended, with the last bytes of its stdout and stderr.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

pub fn run(agent: &AgentCommand<'_>) -> Result<Finished, ProcessError> {
    let (program, args) = agent.argv.split_first().ok_or(ProcessError::NoCommand)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(agent.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so that what it leaves running can be ended with it.
        .process_group(0);
    match agent.prompt_via {
        PromptVia::Stdin => cmd.stdin(Stdio::piped()),
        PromptVia::Arg => cmd.arg(agent.task).stdin(Stdio::null()),
        PromptVia::File => cmd.arg(agent.task_file).stdin(Stdio::null()),
    };
    for name in agent.env_remove {
        cmd.env_remove(name);
    }
    for (name, value) in &agent.env {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        source,
    })?;
    let feeder = child.stdin.take().map(|mut stdin| {
        let task = agent.task.to_string();
        // An agent that does not read its stdin closes it: not our failure.
        thread::spawn(move || drop(stdin.write_all(task.as_bytes())))
    });
    let stdout = child.stdout.take().map(|s| {
        let redactor = agent.redactor.clone();
        thread::spawn(move || tee(s, std::io::stdout(), &redactor))
    });
    let stderr = child.stderr.take().map(|s| {
        let redactor = agent.redactor.clone();
        thread::spawn(move || tee(s, std::io::stderr(), &redactor))
    });
    let pid = child.id();
    let status = child.wait().map_err(ProcessError::Wait)?;
    end_leftovers(pid);
    let joined =
        |h: Option<thread::JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Ok(Finished {
        code: status.code(),
        stdout_tail: joined(stdout),
        stderr_tail: joined(stderr),
    })
}

/// Ends whatever the agent left running: its process group, and, when the entrypoint is
/// the container's first process, every other process of the container (a process can
/// leave its group). Nothing the agent started outlives it, so nothing can write the
/// termination message after the result, nor keep the output pipes open.
fn end_leftovers(pid: u32) {
    use rustix::process::{Pid, Signal, getpid, kill_process_group};
    if let Some(group) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(group, Signal::KILL);
    }
    if getpid() == Pid::INIT {
        // kill(-1): every process this one may signal, except itself.
        let _ = kill_process_group(Pid::INIT, Signal::KILL);
    }
}

/// The longest piece of a line passed on before its end; a longer line is broken.
const LINE_LIMIT: usize = 16 * 1024;

/// What starts each line the entrypoint itself writes to the pod log.
pub const OWN_PREFIX: &str = "agentpods agent:";

/// What the entrypoint puts before a line of the agent's that reads as one of its own.
pub const FORGED_MARK: &str = "(from the agent) ";

/// Whole lines of the agent's output as the pod log shows them: a line that starts (after
/// blanks, control or invisible characters) with the entrypoint's own prefix is marked as
/// the agent's (outside review 11d, A7), so that `agentpods agent: pushed ...` in the log
/// is the entrypoint's word, never an agent's forgery.
pub fn marked(lines: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    // A carriage return starts the line again on a terminal: each piece after one too.
    let forged = |line: &[u8]| {
        String::from_utf8_lossy(line).split('\r').any(|piece| {
            let start = piece.trim_start_matches(|c: char| {
                c.is_whitespace() || c.is_control() || crate::text::is_default_ignorable(c)
            });
            start
                .get(..OWN_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(OWN_PREFIX))
        })
    };
    if !lines.split_inclusive(|b| *b == b'\n').any(forged) {
        return std::borrow::Cow::Borrowed(lines);
    }
    let mut out = Vec::with_capacity(lines.len() + FORGED_MARK.len());
    for line in lines.split_inclusive(|b| *b == b'\n') {
        if forged(line) {
            out.extend_from_slice(FORGED_MARK.as_bytes());
        }
        out.extend_from_slice(line);
    }
    std::borrow::Cow::Owned(out)
}

/// Copies `from` to `to` with the secrets taken out, and returns the last [`TAIL_BYTES`]
/// of what it wrote.
///
/// A secret cut across two reads is still found (the redactor holds back what could be
/// the start of one). Only whole lines are written, each in one write, and output that
/// does not end with a newline gets one: so a secret printed in halves, one on stdout and
/// one on stderr, never meets itself in the pod log.
fn tee(mut from: impl Read, mut to: impl Write, redactor: &Redactor) -> String {
    let mut stream = redactor.stream();
    let mut tail: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    let mut emit = |bytes: &[u8], tail: &mut Vec<u8>| {
        let _ = to.write_all(&marked(bytes));
        let _ = to.flush();
        tail.extend_from_slice(bytes);
        if tail.len() > 2 * TAIL_BYTES {
            tail.drain(..tail.len() - TAIL_BYTES);
        }
    };
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        line.extend(stream.push(&buf[..n]));
        if let Some(last) = line.iter().rposition(|b| *b == b'\n') {
            let rest = line.split_off(last + 1);
            emit(&line, &mut tail);
            line = rest;
        } else if line.len() >= LINE_LIMIT {
            line.push(b'\n');
            emit(&line, &mut tail);
            line.clear();
        }
    }
    line.extend(stream.finish());
    if !line.is_empty() {
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        emit(&line, &mut tail);
    }
    if tail.len() > TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its text a few bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    const KEY: &str = "sk-test-0123456789abcdef";

    /// The fourth review's A7: an agent that prints the entrypoint's own lines (after a
    /// newline, a carriage return, blanks or a zero-width character) has them marked as its
    /// own in the pod log. Before, they read as the entrypoint's.
    #[test]
    fn an_agent_line_that_reads_as_the_entrypoint_s_is_marked_as_the_agent_s() {
        let text = "working\nagentpods agent: pushed agentpods/task-1\n\r  Agentpods Agent: success\n\
                    \u{200b}agentpods agent: opened pull request #2\nsaid agentpods agent: x\n\
                    done\ragentpods agent: success\n";
        let mut out = Vec::new();
        let tail = tee(Trickle(text.as_bytes(), 5), &mut out, &Redactor::new([KEY]));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "working\n(from the agent) agentpods agent: pushed agentpods/task-1\n\
             (from the agent) \r  Agentpods Agent: success\n\
             (from the agent) \u{200b}agentpods agent: opened pull request #2\n\
             said agentpods agent: x\n\
             (from the agent) done\ragentpods agent: success\n"
        );
        assert_eq!(tail, text, "the result quotes the agent as it wrote");
    }

    #[test]
    fn a_secret_cut_across_reads_in_a_long_line_without_a_newline_is_caught() {
        let redactor = Redactor::new([KEY]);
        let text = format!(
            "{}{KEY}{}{KEY}",
            "x".repeat(3 * LINE_LIMIT + 5),
            "y".repeat(100)
        );
        for step in [1, 7, 8192] {
            let mut out = Vec::new();
            let tail = tee(Trickle(text.as_bytes(), step), &mut out, &redactor);
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains(KEY), "step {step}");
            assert_eq!(out.matches("***").count(), 2, "step {step}");
            assert!(out.ends_with("***\n"), "step {step}");
            assert!(tail.ends_with("***\n"));
        }
    }
}
