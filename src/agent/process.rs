//! Runs the agent command: directly (no shell), with the prompt on stdin, as an argument or
//! as a file path; its output is passed through to ours and the end of it kept.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
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
    #[error("cannot start the agent command {program:?}: {source}")]
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
        .stderr(Stdio::piped());
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
    let status = child.wait().map_err(ProcessError::Wait)?;
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

/// Copies `from` to `to` line by line with the secrets taken out, and returns the last
/// [`TAIL_BYTES`] of it (redacted too).
fn tee(from: impl Read, mut to: impl Write, redactor: &Redactor) -> String {
    let mut from = BufReader::new(from);
    let mut tail: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        // A line longer than the tail is passed on in pieces.
        match (&mut from)
            .take(TAIL_BYTES as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let clean = redactor.redact_bytes(&line);
                let _ = to.write_all(&clean);
                let _ = to.flush();
                tail.extend_from_slice(&clean);
                if tail.len() > 2 * TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
            }
        }
    }
    if tail.len() > TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
    String::from_utf8_lossy(&tail).into_owned()
}
