//! GitHub: webhook events as our own types, and the comment command grammar.

pub mod command;
pub mod event;
