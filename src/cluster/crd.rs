//! The AgentRun resource, where the cluster's code and the tests have always found it: its
//! types are the stored run format and live in [`crate::agentrun`].

pub use crate::agentrun::{
    AgentRun, AgentRunSpec, AgentRunStatus, Conclusion, Phase, PullRequestRef, ReportRefs,
    RunLimits, RunResult, RunSource, SourceError, StoredSource, crd_yaml,
};
