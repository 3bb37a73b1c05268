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
//! - [`reload`]: services.yaml in force ([`reload::LiveConfig`]) and the port it is read
//!   through ([`reload::ConfigFor`]); `serve::reload` loads and reloads it.
//! - [`probe`]: the machinery of the background checks behind `/readyz` (the cluster's
//!   in `cluster::launch`; GitHub's, a metric, in `serve::probe`).

pub mod approvals;
pub mod launcher;
pub(crate) mod probe;
pub mod reload;
