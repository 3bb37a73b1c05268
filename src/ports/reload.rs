//! services.yaml while the service runs: the config in force ([`LiveConfig`]) and the port
//! the controller and the reports read it through ([`ConfigFor`]). Loading it, and
//! reloading it on SIGHUP or when the file (or a template) changes, is the service's
//! (`serve::reload::ConfigStore`, which implements [`ConfigFor`]).

use std::sync::Arc;

use crate::github::event::RepoFullName;
use crate::plan::Planner;
use crate::render::Engine;

/// One loaded config: compiled, ready to plan and render with.
pub struct LiveConfig {
    engine: Engine,
    /// Built once per config rather than once per delivery (its globs compile to regexes).
    planner: Planner,
    /// 1 for the config loaded at startup, then one more for each reload applied.
    pub generation: u64,
}

impl LiveConfig {
    pub fn new(engine: Engine, generation: u64) -> LiveConfig {
        LiveConfig {
            planner: Planner::new(engine.config()),
            engine,
            generation,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn planner(&self) -> &Planner {
        &self.planner
    }
}

/// The config in force for one repository's runs, asked for at each use (a reload may
/// change it at any time): the port through which the controller (its render, the fork
/// policy in force, the token's permissions) and the reports read services.yaml, each for
/// the repository of the run at hand. Today one services.yaml serves every repository, so
/// `serve::reload::ConfigStore`, its one implementation, answers the config in force whatever the
/// repository; a config that differs by repository comes in here, not in
/// each reader.
pub trait ConfigFor: Send + Sync {
    /// The config the runs of `repository` are carried out and reported with.
    fn config_for(&self, repository: &RepoFullName) -> Arc<LiveConfig>;

    /// The config in force as a whole, for what is no one repository's (the queue's
    /// `limits`).
    fn in_force(&self) -> Arc<LiveConfig>;
}

/// The config in force, asked for at each render, for the run's repository (it may be
/// reloaded at any time): what the controller and the reports hold (the service's
/// `serve::reload::ConfigStore`).
pub type ConfigSource = Arc<dyn ConfigFor>;
