//! Where the service's log lines go on their way to stderr: a buffer in memory, which a
//! thread of its own writes out with one `write` a burst.
//!
//! A request's line costs a lock and a copy, and never a system call: the thread is woken
//! by the first line into an empty buffer, lets the burst gather for [`GATHER`] (or until
//! [`WRITE_AT`] bytes wait), and writes it. Under load that is one wake-up and one `write`
//! per [`GATHER`], not one per line. (A channel to a logging thread, as before, woke it
//! for every line that found it idle, which under load on one core could be each line.)
//!
//! No line is dropped: past [`MAX_HELD`] bytes waiting, a line waits for the thread to take
//! the buffer (a reader of stderr that does not keep up holds the service back, as it did
//! before), and once the guard is dropped (the service stops) what is left is written and
//! later lines go straight to the output.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the first line of a burst waits for the others before they are written.
pub const GATHER: Duration = Duration::from_millis(20);
/// A burst this large is written at once.
pub const WRITE_AT: usize = 256 * 1024;
/// At most this much waits to be written; a line past it waits for room.
pub const MAX_HELD: usize = 16 * 1024 * 1024;

/// The buffer and the thread that writes it out (see the module).
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is left and stops the thread when dropped; later lines go straight out.
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// The writing thread waits here for lines, or for the end of a burst.
    lines: Condvar,
    /// A line waits here for room below [`MAX_HELD`].
    room: Condvar,
    output: Mutex<Box<dyn Write + Send>>,
}

struct State {
    held: Vec<u8>,
    stopped: bool,
}

impl LogWriter {
    /// A buffer written out to `output` by a thread named `name` (if no thread can be
    /// started, lines are written straight out).
    pub fn new(output: impl Write + Send + 'static, name: &str) -> (LogWriter, LogWriterGuard) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                held: Vec::with_capacity(WRITE_AT),
                stopped: false,
            }),
            lines: Condvar::new(),
            room: Condvar::new(),
            output: Mutex::new(Box::new(output)),
        });
        let writing = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || writing.write_out());
        if thread.is_err() {
            // No thread to write them: lines go straight out, as once stopped.
            shared.state().stopped = true;
        }
        (
            LogWriter {
                shared: shared.clone(),
            },
            LogWriterGuard {
                shared,
                thread: thread.ok(),
            },
        )
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every change to the state is one call that cannot panic midway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn output(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.output.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, bytes: &[u8]) {
        write_to(&mut self.output(), bytes);
    }

    /// Adds a line, or writes it at once once stopped.
    fn add(&self, line: &[u8]) {
        let mut state = self.state();
        while state.held.len() >= MAX_HELD && !state.stopped {
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.stopped {
            drop(state);
            self.write(line);
            return;
        }
        let first = state.held.is_empty();
        let before = state.held.len();
        state.held.extend_from_slice(line);
        let large = before < WRITE_AT && state.held.len() >= WRITE_AT;
        drop(state);
        // Only these wake the thread: the first line of a burst, and a burst grown large.
        if first || large {
            self.lines.notify_one();
        }
    }

    /// The writing thread: waits for a line, lets the burst gather, writes it; until
    /// stopped, then writes what is left.
    fn write_out(&self) {
        let mut spare = Vec::with_capacity(WRITE_AT);
        let mut state = self.state();
        loop {
            while state.held.is_empty() && !state.stopped {
                state = self.lines.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            let until = Instant::now() + GATHER;
            while state.held.len() < WRITE_AT && !state.stopped {
                let Some(left) = until.checked_duration_since(Instant::now()) else {
                    break;
                };
                state = self
                    .lines
                    .wait_timeout(state, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut state.held, &mut spare);
            let stopped = state.stopped;
            // Taken before the state is let go, so that a line written straight out once
            // stopped comes after this burst.
            let mut output = self.output();
            drop(state);
            self.room.notify_all();
            write_to(&mut output, &spare);
            drop(output);
            spare.clear();
            if stopped {
                return;
            }
            state = self.state();
        }
    }
}

fn write_to(output: &mut Box<dyn Write + Send>, bytes: &[u8]) {
    // Nowhere to say that stderr failed; the next burst tries again.
    let _ = output.write_all(bytes).and_then(|()| output.flush());
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        self.shared.state().stopped = true;
        self.shared.lines.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Lines added between the thread's last look and `stopped`: none are lost.
        let left = std::mem::take(&mut self.shared.state().held);
        if !left.is_empty() {
            self.shared.write(&left);
        }
    }
}

/// One log line's writer: the line goes into the buffer.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.add(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<u8>>>);

    impl Write for Seen {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seen {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("text")
        }
    }

    fn line(writer: &LogWriter, text: &str) {
        use tracing_subscriber::fmt::MakeWriter;
        writer
            .make_writer()
            .write_all(text.as_bytes())
            .expect("written");
    }

    #[test]
    fn lines_are_written_in_order_within_a_burst_and_all_of_them_when_stopped() {
        let seen = Seen::default();
        let (writer, guard) = LogWriter::new(seen.clone(), "test-log");
        line(&writer, "one\n");
        line(&writer, "two\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.text() != "one\ntwo\n" {
            assert!(Instant::now() < deadline, "written: {:?}", seen.text());
            std::thread::sleep(Duration::from_millis(5));
        }
        for n in 0..1000 {
            line(&writer, &format!("{n}\n"));
        }
        drop(guard);
        let expected: String = (0..1000).map(|n| format!("{n}\n")).collect();
        assert_eq!(seen.text(), format!("one\ntwo\n{expected}"));
        // Once stopped, a line goes straight out.
        line(&writer, "late\n");
        assert!(seen.text().ends_with("999\nlate\n"));
    }

    #[test]
    fn many_threads_lose_no_line_past_the_bound() {
        let seen = Seen::default();
        let (writer, guard) = LogWriter::new(seen.clone(), "test-log");
        let writer = Arc::new(writer);
        let big = "x".repeat(64 * 1024);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                let big = big.clone();
                std::thread::spawn(move || {
                    for n in 0..150 {
                        line(&writer, &format!("{t}:{n}:{big}\n"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("joined");
        }
        drop(guard);
        let text = seen.text();
        assert_eq!(text.lines().count(), 600);
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t}:")))
                .map(|l| l.split(':').next().expect("n").parse().expect("a number"))
                .collect();
            assert_eq!(
                mine,
                (0..150).collect::<Vec<_>>(),
                "thread {t}'s lines in order"
            );
        }
    }
}
