//! The cluster side: the AgentRun resource (and, later, the controller that runs it).

pub mod crd;
