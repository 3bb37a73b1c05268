//! A whole cluster side on the fake API server: the AgentRun CRD registered, the intake's
//! launcher, and the controller running with a manual clock. Scenarios deliver webhook
//! payloads and watch runs move through their phases.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentpods::agentrun::{AgentRun, Phase, StoredSource};
use agentpods::clock::{Clock, ManualClock};
use agentpods::cluster::controller::{self, ControllerOptions};
use agentpods::cluster::launch::ClusterLauncher;
use agentpods::cluster::report::{RunReports, TokenMinter};
use agentpods::github::webhook::DeliveryId;
use agentpods::ports::launcher::{LaunchError, Launched, Launcher};
use agentpods::ports::reload::ConfigSource;
use agentpods::render::keys;
use agentpods::serve::intake;
use agentpods::serve::reload::{ConfigStore, run_namespaces};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, PostParams};
use kube::{Api, CustomResourceExt};
use tokio::sync::oneshot;

use super::fake_kube::FakeKube;
use super::fixtures::{EXAMPLE_CONFIG, Payload};

/// The namespace of the example config's runs.
pub const RUNS: &str = "agentpods-runs";

/// The namespace of the example config's image builds.
pub const BUILDS: &str = "agentpods-builds";

/// The service's identity (namespace, name), as deploy/ installs it.
pub const SERVICE_ACCOUNT: (&str, &str) = ("agentpods", "agentpods");

/// The user the API server sees the service as.
pub const SERVICE_USER: &str = "system:serviceaccount:agentpods:agentpods";

/// The service's rights, as deploy/ installs them.
pub const RBAC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/base/rbac.yaml");

/// How long a scenario waits for something to happen before failing. Generous: on two
/// busy cores the 30%-faults scenario once took over 20 s; a passing test waits no longer.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub fake: FakeKube,
    /// The test's own client: an administrator, as `kubectl` is in the hands of an operator.
    pub client: kube::Client,
    /// The service's client (the launcher's and the controller's): its ServiceAccount,
    /// held to the rules of deploy/base/rbac.yaml.
    pub service: kube::Client,
    pub clock: Arc<ManualClock>,
    pub config: Arc<ConfigStore>,
    pub launcher: ClusterLauncher,
    controller: Option<(tokio::task::JoinHandle<()>, oneshot::Sender<()>)>,
    /// How the controller reports to GitHub, if it does.
    pub reports: Option<Arc<dyn RunReports>>,
    /// How it mints each run's repository token, if it does.
    pub tokens: Option<Arc<dyn TokenMinter>>,
}

impl Cluster {
    /// The fake API server with the AgentRun CRD, and the controller running.
    pub async fn start() -> Cluster {
        let mut cluster = Cluster::without_controller().await;
        cluster.start_controller();
        cluster
    }

    /// The same with no controller yet (start it with [`Cluster::start_controller`]).
    /// The service is held to the rules of deploy/base/rbac.yaml.
    pub async fn without_controller() -> Cluster {
        Cluster::on(Path::new(EXAMPLE_CONFIG), Timestamp::now()).await
    }

    /// No controller yet, the services.yaml at `config`, the clock reading `start`, and the
    /// rules of deploy/base/rbac.yaml.
    pub async fn on(config: &Path, start: Timestamp) -> Cluster {
        let rules = std::fs::read_to_string(RBAC).expect("read deploy/base/rbac.yaml");
        Cluster::with(&rules, config, start).await
    }

    /// The same, the service held to the RBAC rules in `rules` (a manifest).
    pub async fn with_rbac(rules: &str) -> Cluster {
        Cluster::with(rules, Path::new(EXAMPLE_CONFIG), Timestamp::now()).await
    }

    /// The same, with the services.yaml at `config` and the rules of deploy/base/rbac.yaml.
    pub async fn with_config(config: &Path) -> Cluster {
        Cluster::on(config, Timestamp::now()).await
    }

    async fn with(rules: &str, config: &Path, start: Timestamp) -> Cluster {
        let fake = FakeKube::start().await;
        fake.enforce_rbac(rules);
        let client = fake.client();
        let service = fake.client_as(SERVICE_ACCOUNT.0, SERVICE_ACCOUNT.1);
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &AgentRun::crd())
            .await
            .expect("register the AgentRun CRD");
        crds.create(
            &PostParams::default(),
            &agentpods::cluster::approvals::AgentApproval::crd(),
        )
        .await
        .expect("register the AgentApproval CRD");
        let clock = Arc::new(ManualClock::new(start));
        let config = Arc::new(
            ConfigStore::load(config).unwrap_or_else(|e| panic!("{}: {e:?}", config.display())),
        );
        // As `serve` makes it: it looks for runs in the config's namespaces only.
        let launcher = ClusterLauncher::new(service.clone(), clock.clone() as Arc<dyn Clock>)
            .in_namespaces(run_namespaces(config.current().engine()));
        Cluster {
            fake,
            client,
            service,
            clock,
            config,
            launcher,
            controller: None,
            reports: None,
            tokens: None,
        }
    }

    /// The config source the controller reads, for reporters built by a test.
    pub fn config_source(&self) -> ConfigSource {
        self.config.clone()
    }

    /// Starts a controller (a fresh one, as after a restart of the service).
    pub fn start_controller(&mut self) {
        self.start_controller_with(self.controller_options());
    }

    /// The options `serve` gives the controller for the config in force (it watches the
    /// config's namespaces), and a short requeue.
    pub fn controller_options(&self) -> ControllerOptions {
        ControllerOptions {
            max_requeue: Duration::from_millis(100),
            namespaces: run_namespaces(self.config.current().engine()),
            ..ControllerOptions::default()
        }
    }

    /// The same with these options; returns its context (which counts its reconciles).
    pub fn start_controller_with(
        &mut self,
        options: ControllerOptions,
    ) -> Arc<controller::Context> {
        let config: ConfigSource = self.config.clone();
        let ctx = controller::Context::with_github(
            self.service.clone(),
            config,
            self.clock.clone(),
            options,
            self.reports.clone(),
            self.tokens.clone(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(controller::run(ctx.clone(), async move {
            let _ = stopped.await;
        }));
        self.controller = Some((task, stop));
        ctx
    }

    /// Stops the controller, letting reconciles in flight finish.
    pub async fn stop_controller(&mut self) {
        if let Some((task, stop)) = self.controller.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }

    /// What the intake does with a verified delivery: decide, then record each run.
    pub async fn deliver(&self, payload: &Payload, delivery: &str) -> Vec<(String, Launched)> {
        self.try_deliver(payload, delivery)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", payload.name))
    }

    /// The same, returning the launcher's error (an API server fault) instead of failing.
    pub async fn try_deliver(
        &self,
        payload: &Payload,
        delivery: &str,
    ) -> Result<Vec<(String, Launched)>, LaunchError> {
        let live = self.config.current();
        let id = DeliveryId::parse(Some(delivery.as_bytes())).expect("a delivery id");
        let decided = intake::decide(&live, &payload.event, &id, &payload.body())
            .unwrap_or_else(|e| panic!("{}: {e}", payload.name));
        let mut out = Vec::new();
        for run in &decided.work.runs {
            let launched = self.launcher.launch(run).await?;
            out.push((run.name().to_string(), launched));
        }
        Ok(out)
    }

    /// Delivers and expects exactly one new run; returns its name.
    pub async fn deliver_one(&self, payload: &Payload, delivery: &str) -> String {
        let runs = self.deliver(payload, delivery).await;
        assert_eq!(
            runs.len(),
            1,
            "{}: expected one run, got {runs:?}",
            payload.name
        );
        runs.into_iter().next().map(|(n, _)| n).unwrap_or_default()
    }

    pub fn runs(&self) -> Api<AgentRun> {
        Api::namespaced(self.client.clone(), RUNS)
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), RUNS)
    }

    /// The run `name`, in whichever namespace it lives (an image build's is not the
    /// agents').
    pub async fn run(&self, name: &str) -> Option<AgentRun> {
        self.find_run(name).await.expect("get the run")
    }

    async fn find_run(&self, name: &str) -> Result<Option<AgentRun>, kube::Error> {
        let all: Api<AgentRun> = Api::all(self.client.clone());
        let found = all
            .list(&ListParams::default().fields(&format!("metadata.name={name}")))
            .await?;
        Ok(found.items.into_iter().next())
    }

    pub fn phase_of(run: &AgentRun) -> Option<Phase> {
        run.status.as_ref().and_then(|s| s.phase.clone())
    }

    /// Waits until the run satisfies `done`, failing with `what` and the run's last state.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(Option<&AgentRun>) -> bool,
    ) -> Option<AgentRun> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let run = self.find_run(name).await.ok().flatten();
            if done(run.as_ref()) {
                return run;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "run {name}: waited {PATIENCE:?} for {what}; it is {:#?}",
                    run.map(|r| r.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the run is in `phase`.
    pub async fn wait_phase(&self, name: &str, phase: Phase) -> AgentRun {
        self.wait_for(name, &format!("phase {phase:?}"), |r| {
            r.and_then(Cluster::phase_of).as_ref() == Some(&phase)
        })
        .await
        .expect("the run exists")
    }

    /// The pods carrying the run's label.
    pub async fn pods_of(&self, name: &str) -> Vec<Pod> {
        self.pods()
            .list(&ListParams::default().labels(&format!("agentpods.dev/run={name}")))
            .await
            .expect("list pods")
            .items
    }
}

/// A controller that reports to a fake GitHub as the App, through faults on the way.
pub async fn reporting_cluster() -> (Cluster, super::fake_github::FakeGithub) {
    let (mut cluster, github) = reporting_cluster_on(Path::new(EXAMPLE_CONFIG)).await;
    cluster.start_controller();
    (cluster, github)
}

/// The same with the services.yaml at `config`, and no controller yet (start it with
/// [`Cluster::start_controller`]): it reports to the fake GitHub and mints each run's token
/// there as the App.
pub async fn reporting_cluster_on(config: &Path) -> (Cluster, super::fake_github::FakeGithub) {
    use super::fake_github::{FakeGithub, manual_clock};
    use agentpods::cluster::report::GithubReports;
    let clock = manual_clock();
    let github = FakeGithub::start(clock.clone()).await;
    github.install("Codertocat/Hello-World", 77);
    let client = github.app_client(clock);
    let mut cluster = Cluster::with_config(config).await;
    cluster.reports = Some(std::sync::Arc::new(GithubReports::new(
        client.clone(),
        cluster.config_source(),
    )));
    cluster.tokens = Some(std::sync::Arc::new(agentpods::cluster::report::AppTokens(
        client,
    )));
    (cluster, github)
}

/// The AgentRun the intake records for a real payload (by `<event>/<file>`), as delivery
/// `d-sample`, at a fixed time.
pub fn sample_run(payload: &str) -> AgentRun {
    let store = ConfigStore::load(Path::new(EXAMPLE_CONFIG))
        .unwrap_or_else(|e| panic!("the example config: {e:?}"));
    let payload = super::fixtures::fixture(payload);
    let id = DeliveryId::parse(Some(b"d-sample")).expect("a delivery id");
    let decided = intake::decide(&store.current(), &payload.event, &id, &payload.body())
        .unwrap_or_else(|e| panic!("{}: {e}", payload.name));
    let run = decided
        .work
        .runs
        .first()
        .expect("the payload launches a run");
    agentpods::cluster::launch::agent_run(run, "2026-11-25T10:00:00Z".parse().expect("a time"))
        .unwrap_or_else(|e| panic!("{}: {e}", payload.name))
}

/// A copy of `template` named `name`, with no concurrency group: copies never supersede one
/// another, so a load test's runs all go to Running side by side.
pub fn renamed_run(template: &AgentRun, name: &str) -> AgentRun {
    let mut run = template.clone();
    run.metadata.name = Some(name.to_owned());
    let labels = run.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(keys::RUN.to_owned(), name.to_owned());
    labels.remove(keys::CONCURRENCY);
    run.spec.concurrency_group = None;
    let mut source = run.spec.source.read().expect("a source this version reads");
    source.launch.run_name = agentpods::names::RunName::parse(name).expect("a run's name");
    run.spec.source = StoredSource::record(&source).expect("recordable");
    run
}

/// Creates `count` copies of `template` (`{prefix}-00000`, ...) in `namespace`, `at_once`
/// requests in flight.
pub async fn create_copies(
    client: &kube::Client,
    namespace: &str,
    template: &AgentRun,
    prefix: &str,
    count: usize,
    at_once: usize,
) {
    let api: Api<AgentRun> = Api::namespaced(client.clone(), namespace);
    futures_util::stream::iter(0..count)
        .map(|i| {
            let run = renamed_run(template, &format!("{prefix}-{i:05}"));
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &run)
                    .await
                    .unwrap_or_else(|e| panic!("create run {i}: {e}"))
            }
        })
        .buffer_unordered(at_once)
        .for_each(|_| async {})
        .await;
}

/// Whether a stored AgentRun (the fake's JSON) is in `phase`.
pub fn in_phase(run: &serde_json::Value, phase: &str) -> bool {
    run.pointer("/status/phase")
        .and_then(serde_json::Value::as_str)
        == Some(phase)
}

/// The fake's AgentRuns, for [`FakeKube::count`].
pub const AGENT_RUNS: (&str, &str, &str) = ("agentpods.dev", "v1alpha1", "agentruns");

/// A load test's knob: the environment variable `name` as a number, else `default`.
/// Whether a `harness = false` bench runs for real (`cargo bench` passes `--bench`) or as a
/// smoke test under `cargo test --all-targets`, where it should be small and quick.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
