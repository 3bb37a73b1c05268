//! Helpers shared by the integration tests. Each test binary uses only some of them.
#![allow(dead_code)]

pub mod cluster;
pub mod configs;
pub mod fake_github;
pub mod fake_kube;
pub mod fake_responses;
pub mod fixtures;
pub mod git_http;
pub mod hostile;
pub mod process;
pub mod server;
pub mod validate;
