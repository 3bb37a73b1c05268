//! Where the intake (`serve`) meets what carries runs out (`cluster`, or the dry run): the
//! traits both sides name, and the state both read. Below `serve` and `cluster`, so that
//! neither needs the other for them.
//!
//! - [`launcher`]: the seam where a run is durably recorded ([`launcher::Launcher`]; the
//!   cluster's AgentRuns in `cluster::launch`, the dry run's manifests in
//!   `serve::dry_run`).
//! - [`approvals`]: fork approvals as records only the service writes (not comments)
//!   ([`approvals::ApprovalStore`]; in memory here, `AgentApproval` objects in
//!   `cluster::approvals`).
//! - [`reload`]: services.yaml in force ([`reload::LiveConfig`]), reloaded on SIGHUP and on
//!   file change.
//! - [`probe`]: the background checks behind `/readyz` (the cluster, GitHub).

pub mod approvals;
pub mod launcher;
pub(crate) mod probe;
pub mod reload;
