//! The dry run's launcher (`agentpods serve --dry-run`): runs are written as manifests, or
//! only logged, never launched. It implements the intake's [`Launcher`] as the cluster's
//! does; the service builds one where dry runs are made, here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::github::event::RepoFullName;
use crate::ids::IssueNumber;
use crate::ports::launcher::{
    CancelFuture, CancelRuns, LaunchError, LaunchFuture, Launched, Launcher, RetryFuture, RetryRun,
    RunAgain, RunToLaunch, RunsFuture,
};
use crate::text::is_dns_label;

/// Why `--manifests-dir` cannot be written to, in words, with what to do (new-user review
/// 13g, G8: a file given there was `File exists (os error 17)`).
#[derive(Debug, thiserror::Error)]
pub enum ManifestsDirError {
    #[error(
        "{}: a file, not a folder (--manifests-dir)\n{MANIFESTS_DIR_WHAT_TO_DO}",
        .path.display()
    )]
    NotAFolder { path: PathBuf },
    #[error(
        "{}: cannot make the folder (--manifests-dir)\n{MANIFESTS_DIR_WHAT_TO_DO}",
        .path.display()
    )]
    Unmade {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

const MANIFESTS_DIR_WHAT_TO_DO: &str = "what to do: give --manifests-dir a folder (it is made \
                                        when missing), as in --manifests-dir /tmp/agentpods-runs";

/// Launches nothing: writes each run's objects as multi-document YAML to
/// `<dir>/<run-name>.yaml`, atomically and never over an existing file; with no folder,
/// only logs them.
#[derive(Debug)]
pub struct DryRunLauncher {
    dir: Option<PathBuf>,
}

impl DryRunLauncher {
    /// A launcher writing into `dir` (created if missing), or only logging with `None`.
    pub fn new(dir: Option<PathBuf>) -> Result<Self, ManifestsDirError> {
        if let Some(dir) = &dir {
            if dir.exists() && !dir.is_dir() {
                return Err(ManifestsDirError::NotAFolder { path: dir.clone() });
            }
            std::fs::create_dir_all(dir).map_err(|source| ManifestsDirError::Unmade {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(DryRunLauncher { dir })
    }

    /// Where a run's manifests go.
    pub fn path_of(&self, run_name: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{run_name}.yaml")))
    }
}

/// The file's text: a comment naming the delivery, then every object.
pub fn manifests_yaml(run: &RunToLaunch) -> Result<String, LaunchError> {
    let mut text = format!(
        "# agentpods dry-run: run {} of agent {} in namespace {}, delivery {} ({}, {})\n",
        run.rendered.name,
        run.rendered.agent,
        run.rendered.namespace,
        run.delivery,
        run.source.event.name,
        run.launch().trigger.describe(),
    );
    for object in &run.rendered.objects {
        let yaml = serde_yaml::to_string(object).map_err(|e| LaunchError::Yaml {
            kind: object.kind(),
            name: object.name().to_string(),
            source: e,
        })?;
        text.push_str("---\n");
        text.push_str(&yaml);
    }
    Ok(text)
}

/// A run's objects in a log line: `ConfigMap/x, Pod/y`.
fn objects_summary(run: &RunToLaunch) -> String {
    run.rendered
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.kind(), o.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Launcher for DryRunLauncher {
    fn launch<'a>(&'a self, run: &'a RunToLaunch) -> LaunchFuture<'a> {
        Box::pin(async move {
            let name = run.name();
            if !is_dns_label(name) {
                return Err(LaunchError::BadName(name.to_string()));
            }
            let text = manifests_yaml(run)?;
            let objects = objects_summary(run);
            let Some(path) = self.path_of(name) else {
                tracing::info!(
                    run = name,
                    agent = %run.rendered.agent,
                    namespace = %run.rendered.namespace,
                    %objects,
                    "dry-run: would launch (not written: give --manifests-dir DIR to keep each run's manifests)"
                );
                tracing::debug!(run = name, manifests = %text, "dry-run: the manifests");
                return Ok(Launched::Created);
            };
            let shown = path.display().to_string();
            let launched = tokio::task::spawn_blocking(move || write_new(&path, text.as_bytes()))
                .await
                .map_err(|_| LaunchError::Interrupted)??;
            match launched {
                Launched::Created => {
                    tracing::info!(run = name, path = %shown, %objects, "dry-run: wrote the manifests");
                }
                _ => {
                    tracing::info!(run = name, path = %shown, "dry-run: the manifests were written before (a redelivery)");
                }
            }
            Ok(launched)
        })
    }

    fn cancel<'a>(&'a self, runs: &'a CancelRuns) -> CancelFuture<'a> {
        Box::pin(async move {
            tracing::info!(repository = %runs.repository, number = runs.number.get(), reason = %runs.reason, "dry-run: would cancel the runs");
            Ok(0)
        })
    }

    fn runs_of<'a>(
        &'a self,
        _repository: &'a RepoFullName,
        _number: IssueNumber,
    ) -> RunsFuture<'a> {
        // Dry-run records no runs it could list.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn retry<'a>(&'a self, _retry: &'a RetryRun) -> RetryFuture<'a> {
        // Nor any it could retry.
        Box::pin(async { Ok(RunAgain::NoRun) })
    }

    fn ready(&self) -> Result<(), crate::ports::probe::NotReady> {
        match &self.dir {
            Some(dir) if !dir.is_dir() => Err(format!("{}: not a folder", dir.display()).into()),
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        match &self.dir {
            Some(dir) => format!("dry-run, manifests written to {}", dir.display()),
            None => {
                "dry-run, manifests not written (no --manifests-dir): each run's objects are logged"
                    .into()
            }
        }
    }

    fn runs_for_real(&self) -> bool {
        false
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` unless it exists, atomically: into a temporary file beside it,
/// flushed to disk, then hard-linked into place (which fails if the name is taken, unlike a
/// rename) and the temporary name removed. Readers see the whole file or none.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<Launched, LaunchError> {
    let failed = |p: &Path| {
        let path = p.display().to_string();
        move |source| LaunchError::Write { path, source }
    };
    if path.exists() {
        return Ok(Launched::AlreadyExists);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create_new(&temp).map_err(failed(&temp))?;
        file.write_all(bytes).map_err(failed(&temp))?;
        file.sync_all().map_err(failed(&temp))?;
        match std::fs::hard_link(&temp, path) {
            Ok(()) => {
                // Make the new name itself durable.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(Launched::Created)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Launched::AlreadyExists),
            Err(e) => Err(failed(path)(e)),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_once_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.yaml");
        assert_eq!(
            write_new(&path, b"first").expect("write"),
            Launched::Created
        );
        assert_eq!(
            write_new(&path, b"second").expect("write"),
            Launched::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["run.yaml"], "no temporary file is left behind");
    }

    #[test]
    fn concurrent_writers_create_one_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.yaml");
        let created: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || write_new(path, format!("writer {i}").as_bytes()))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("write"))
                .filter(|l| *l == Launched::Created)
                .count()
        });
        assert_eq!(created, 1);
    }

    #[test]
    fn run_names_must_be_dns_labels() {
        assert!(is_dns_label("review-pr1-0a1b2c3d"));
        for bad in ["", "-a", "a-", "A", "a/b", "../x", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
    }
}
