//! agentpods: GitHub events in, Kubernetes pods running a coding agent out.
#![forbid(unsafe_code)]

pub mod agent;
pub(crate) mod agent_pod;
pub mod agentrun;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod github;
pub mod github_client;
pub mod ids;
pub mod names;
pub mod plan;
pub mod ports;
pub mod render;
pub mod report;
pub mod serve;
pub(crate) mod suggest;
pub(crate) mod template;
pub(crate) mod text;
