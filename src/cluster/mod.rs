//! The cluster side: the intake's launcher that creates AgentRuns (their types, the stored
//! run format, are [`crate::agentrun`]'s alone), and the controller that runs them.
//!
//! - [`approvals`]: AgentApproval, where fork approvals are recorded (the service's own).
//! - [`launch`]: a decided run → an AgentRun, created before the delivery is acknowledged.
//! - [`decide`]: the controller's pure core (one run, its workload, the time → actions).
//! - [`queue`]: the fair queue of services.yaml's `limits` (pure: which waiting runs start).
//! - [`workload`]: a run's Pod or Job reduced to what `decide` needs; the agent's result.
//! - [`controller`]: kube-runtime wiring that carries the actions out.
//! - [`events`]: the reasons of the Kubernetes Events it publishes about a run.
//! - [`newer`]: the runs a newer agentpods recorded, which this one leaves alone.
//! - [`lease`]: leader election, so several replicas can run.
//! - [`report`]: which stage of a run GitHub should see, and the seam that tells it.
//! - [`runs`]: the operator's view: list runs, read a run's log, ask for a cancel.
//! - [`waiting`]: the intake's count of each repository's runs not launched yet.
//! - [`fault`]: the API server's errors read into what the intake answers GitHub by.

pub mod approvals;
pub mod controller;
pub(crate) mod decide;
pub mod events;
pub(crate) mod fault;
pub(crate) mod kubeconfig;
pub mod launch;
pub mod lease;
pub(crate) mod newer;
pub(crate) mod queue;
pub mod report;
pub(crate) mod runs;
pub(crate) mod waiting;
pub(crate) mod workload;
