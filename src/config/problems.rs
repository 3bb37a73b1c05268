//! How a rule of services.yaml says what it found: each problem at the position of the key
//! it is about, with what it read, so that one that follows from a value already at fault
//! is not said again.

use super::Diagnostic;
use super::yaml::Node;

/// Problems found in services.yaml, each at the position of the key it is about.
pub(super) struct Problems<'t> {
    pub(super) tree: &'t Node,
    pub(super) found: Vec<Flagged>,
}

impl<'t> Problems<'t> {
    /// None found yet, in the file read as `tree`.
    pub(super) fn new(tree: &'t Node) -> Problems<'t> {
        Problems {
            tree,
            found: Vec::new(),
        }
    }
}

/// A problem with the key it is about and the parts of the file it follows from.
pub(super) struct Flagged {
    pub(super) path: Vec<String>,
    /// What the check read: when one of them (or a value inside one) was left out of the
    /// file for a problem of its own, this one follows from that and is not reported.
    pub(super) reads: Vec<Vec<String>>,
    pub(super) diagnostic: Diagnostic,
}

impl Problems<'_> {
    pub(super) fn at<S: AsRef<str>>(&mut self, path: &[S], message: String) {
        self.reading(path, &[], message);
    }

    /// A problem at `path` that also follows from what is at `reads`.
    pub(super) fn reading<S: AsRef<str>>(
        &mut self,
        path: &[S],
        reads: &[Vec<String>],
        message: String,
    ) {
        let path: Vec<String> = path.iter().map(|p| p.as_ref().to_string()).collect();
        let mut all = vec![path.clone()];
        all.extend(reads.iter().cloned());
        self.found.push(Flagged {
            diagnostic: Diagnostic {
                pos: self.tree.pos_of(&path),
                message,
            },
            path,
            reads: all,
        });
    }

    pub(super) fn diagnostics(self) -> Vec<Diagnostic> {
        self.found.into_iter().map(|f| f.diagnostic).collect()
    }
}

/// A path written as words: `p(&["agents", "0"])`.
pub(super) fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}
