//! The binary as a child process, for the tests that run it as a user types it.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

/// Waits for `child` to end, at most `secs` seconds (then kills it and panics, naming it
/// `shown`), and returns what it wrote.
pub fn output_within(mut child: Child, secs: u64, shown: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{shown}: still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the child's output")
}
