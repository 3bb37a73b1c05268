//! The real `agentpods serve` as a process of its own, for the benchmarks that run it
//! against the fake API server (`serve_memory`, `serve_queue`): started with a config and a
//! kubeconfig, stopped when dropped, and read from `/proc` (memory, CPU time).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The service, stopped (SIGKILL) when dropped.
pub struct Service(Child);

impl Service {
    /// `agentpods serve` (the bench profile's binary, or the one `AGENTPODS_BIN` names: an
    /// older build, to compare) with the services.yaml at `config`, talking to the API
    /// server of `kubeconfig`, its log to `log`.
    pub fn start(config: &Path, kubeconfig: &Path, log: File) -> Service {
        let binary = std::env::var_os("AGENTPODS_BIN")
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_agentpods").into());
        Service(
            Command::new(binary)
                .arg("serve")
                .arg("--config")
                .arg(config)
                .args(["--listen", "127.0.0.1:0"])
                .args(["--lease-namespace", "agentpods", "--identity", "bench"])
                .env("KUBECONFIG", kubeconfig)
                .env("GITHUB_WEBHOOK_SECRET", "bench-secret")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start agentpods serve"),
        )
    }

    /// A `kB` line of its `/proc/PID/status` (`VmHWM`, `VmRSS`), in MiB.
    pub fn status_mib(&self, field: &str) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// The CPU time it has used so far (user and system), in seconds: `utime` and `stime`
    /// of `/proc/PID/stat`, in clock ticks of 1/100 s (Linux's USER_HZ).
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap_or_default();
        // After the command name (in parentheses, which may hold spaces): field 3 on.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        // utime and stime are fields 14 and 15: 11 and 12 after the state (field 3).
        (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
