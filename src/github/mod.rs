//! GitHub: webhook verification and decoding, webhook events as our own types, and the
//! comment command grammar.

pub mod client;
pub mod command;
pub mod event;
pub(crate) mod event_names;
pub(crate) mod permission;
pub mod refname;
pub mod webhook;
