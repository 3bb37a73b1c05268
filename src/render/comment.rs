//! What `templates/comment.md` sees: the run and, once it has ended, its result. The
//! reports (`crate::report`) fill it in; `validate` renders it with samples.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentContext {
    pub run: CommentRun,
    pub result: Option<CommentResult>,
    pub prefix: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentRun {
    pub agent: String,
    pub name: String,
    pub requested_by: Option<String>,
    pub duration: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommentResult {
    pub conclusion: String,
    /// Already neutralised.
    pub summary: String,
}
