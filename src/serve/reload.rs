//! Loading services.yaml and reloading it while the service runs, on SIGHUP or when the
//! file (or a template) changes. A new config that does not load, or whose templates do not
//! compile, is refused with its errors logged; the old one stays in force. The service's
//! own, with its file I/O (review 12v, R28): what the controller and the reports read, the
//! config in force, is `ports::reload` ([`LiveConfig`], through [`ConfigFor`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use crate::config::{self, ConfigError};
use crate::github::event::RepoFullName;
use crate::ports::reload::{ConfigFor, LiveConfig};
use crate::render::{Engine, GithubUrls, RenderError};

/// How often the files are checked for a change.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Why a config was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Templates(#[from] RenderError),
    #[error(
        "cluster.namespace, cluster.namespaces: changing where runs live from {} to {} \
         takes a restart: the controller watches, and the launcher looks for runs in, the \
         namespaces they started with",
        shown_namespaces(.from),
        shown_namespaces(.to)
    )]
    NamespaceFixed {
        from: Option<Vec<String>>,
        to: Option<Vec<String>>,
    },
}

fn shown_namespaces(namespaces: &Option<Vec<String>>) -> String {
    match namespaces {
        Some(n) => n
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "any namespace (a namespace_template)".into(),
    }
}

/// Every namespace runs may live in (`cluster.namespace` and `cluster.namespaces`), when the
/// config names them (with a `namespace_template` they may be anywhere).
pub fn run_namespaces(engine: &Engine) -> Option<Vec<String>> {
    engine.config().cluster.run_namespaces()
}

impl ReloadError {
    /// One line per problem, for the log.
    pub fn lines(&self) -> Vec<String> {
        crate::text::with_causes(self)
            .lines()
            .map(String::from)
            .collect()
    }
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The new config is in force, with this generation.
    Applied { generation: u64 },
}

/// What the files looked like: the length and modification time of services.yaml and of
/// every file in the templates folder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

impl Fingerprint {
    pub fn of(config: &Path, templates_dir: &Path) -> Fingerprint {
        let mut files = Vec::new();
        let mut note = |path: &Path| {
            let meta = std::fs::metadata(path).ok();
            files.push((
                path.to_path_buf(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            ));
        };
        note(config);
        let mut stack = vec![templates_dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => stack.push(path),
                    Ok(_) => note(&path),
                    Err(_) => {}
                }
            }
        }
        files.sort();
        Fingerprint(files)
    }
}

/// The config in force and where it comes from.
pub struct ConfigStore {
    path: PathBuf,
    /// The templates folder given on the command line (`--templates-dir`), read instead of
    /// the config's own `templates_dir` at every load and reload.
    templates_dir: Option<PathBuf>,
    current: RwLock<Arc<LiveConfig>>,
    /// The templates folder of the config in force, and the files' fingerprint when it, or
    /// the last config refused, was read (so a broken file is reported once, not every poll).
    watched: Mutex<(PathBuf, Fingerprint)>,
    /// With a cluster: the runs' namespaces the service started with, which a reload may
    /// not change ([`ConfigStore::pin_runs_namespace`]).
    pinned_namespace: Option<Option<Vec<String>>>,
    /// Why the last reload was refused, until one is applied: said by `/readyz`.
    refused: Mutex<Option<String>>,
    /// The GitHub the service talks to, told to every engine's templates.
    github: GithubUrls,
}

fn compile(
    path: &Path,
    templates_dir: Option<&Path>,
    github: &GithubUrls,
) -> Result<(Engine, PathBuf), ReloadError> {
    let loaded = config::load_with(path, templates_dir, config::Command::Serve)?;
    let engine = Engine::new(&loaded)?.with_github(github.clone());
    // What deliveries would meet (an undefined variable, an optional part used without a
    // default, an invalid object) refuses the config now rather than failing each delivery.
    let text = std::fs::read_to_string(path).ok();
    let problems = engine.sample_problems(text.as_deref());
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems).into());
    }
    Ok((engine, loaded.templates_dir))
}

impl ConfigStore {
    /// Loads the config at startup.
    pub fn load(path: &Path) -> Result<ConfigStore, ReloadError> {
        ConfigStore::load_with(path, None)
    }

    /// The same, reading the templates from `templates_dir` when given rather than from the
    /// config's own `templates_dir`, now and at every reload (`serve --templates-dir`).
    pub fn load_with(
        path: &Path,
        templates_dir: Option<&Path>,
    ) -> Result<ConfigStore, ReloadError> {
        ConfigStore::load_for(path, templates_dir, GithubUrls::default())
    }

    /// The same, for the GitHub at `github` (GitHub Enterprise Server): the templates'
    /// `github.web_url` and `github.api_url`.
    pub fn load_for(
        path: &Path,
        templates_dir: Option<&Path>,
        github: GithubUrls,
    ) -> Result<ConfigStore, ReloadError> {
        let given = templates_dir.map(Path::to_path_buf);
        let (engine, templates_dir) = compile(path, given.as_deref(), &github)?;
        // Taken after the read: a write racing startup is seen at the next change or SIGHUP.
        let fingerprint = Fingerprint::of(path, &templates_dir);
        Ok(ConfigStore {
            path: path.to_path_buf(),
            templates_dir: given,
            current: RwLock::new(Arc::new(LiveConfig::new(engine, 1))),
            watched: Mutex::new((templates_dir, fingerprint)),
            pinned_namespace: None,
            refused: Mutex::new(None),
            github,
        })
    }

    /// From now on a reload that changes where runs live (`cluster.namespace`, the names of
    /// `cluster.namespaces`) is refused: the controller watches, and the launcher looks for
    /// runs in, the namespaces they started with, and a run recorded anywhere else would
    /// wait there unseen.
    pub fn pin_runs_namespace(mut self) -> ConfigStore {
        self.pinned_namespace = Some(run_namespaces(self.current().engine()));
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The config in force; a request keeps using the one it started with.
    pub fn current(&self) -> Arc<LiveConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the config again; on success it is in force for every request that starts
    /// from now on. Blocking (file I/O): call it off the async workers.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        // Taken before reading, so a write during the read shows as a change next time.
        let before = Fingerprint::of(&self.path, &watched.0);
        let compiled = compile(&self.path, self.templates_dir.as_deref(), &self.github).and_then(
            |(engine, templates_dir)| match &self.pinned_namespace {
                Some(pinned) if run_namespaces(&engine) != *pinned => {
                    Err(ReloadError::NamespaceFixed {
                        from: pinned.clone(),
                        to: run_namespaces(&engine),
                    })
                }
                _ => Ok((engine, templates_dir)),
            },
        );
        match compiled {
            Ok((engine, templates_dir)) => {
                let fingerprint = if templates_dir == watched.0 {
                    before
                } else {
                    Fingerprint::of(&self.path, &templates_dir)
                };
                *watched = (templates_dir, fingerprint);
                let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
                let generation = current.generation + 1;
                *current = Arc::new(LiveConfig::new(engine, generation));
                *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(Reloaded::Applied { generation })
            }
            Err(e) => {
                watched.1 = before;
                let lines = e.lines();
                let first = lines.first().cloned().unwrap_or_else(|| e.to_string());
                let more = match lines.len() {
                    0 | 1 => String::new(),
                    n => format!(" (and {} more in the log)", n - 1),
                };
                *self.refused.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("{first}{more}"));
                Err(e)
            }
        }
    }

    /// Why the last reload was refused, while no later one has been applied: the config in
    /// force is then older than the files.
    pub fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the files differ from when they were last read.
    pub fn changed_on_disk(&self) -> bool {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        Fingerprint::of(&self.path, &watched.0) != watched.1
    }
}

impl ConfigFor for ConfigStore {
    fn config_for(&self, _repository: &RepoFullName) -> Arc<LiveConfig> {
        self.current()
    }

    fn in_force(&self) -> Arc<LiveConfig> {
        self.current()
    }
}
