//! GitHub: webhook verification and decoding, webhook events as our own types, and the
//! comment command grammar.

pub mod command;
pub mod event;
pub(crate) mod event_names;
pub(crate) mod permission;
pub mod refname;
pub mod webhook;

/// The check run's name and the commit status's context prefix: agentpods' runs show on
/// GitHub as `agentpods/<agent>`, and a check run of that name is one of ours.
pub const CHECK_NAME: &str = "agentpods";

/// GitHub's check run conclusions, as a finished run's report carries them (the stored run
/// reads them into `agentrun::Conclusion`, which holds to this list).
pub const CONCLUSIONS: [&str; 7] = [
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
];
