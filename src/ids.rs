//! GitHub's numbers, each its own type: a pull request's or issue's number, a comment's
//! id, a check run's id. They are all `u64` on the wire and at rest (serde transparent,
//! `Display` the bare number), and apart everywhere between, so a comment id cannot be
//! passed where an issue number is meant.

use serde::{Deserialize, Serialize};

macro_rules! github_number {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            fn from(n: u64) -> $name {
                $name(n)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

github_number!(
    /// A pull request's or an issue's number in its repository (`#42`): GitHub's pull
    /// requests and issues share one number space.
    IssueNumber
);

github_number!(
    /// A comment's id (an issue or pull request comment), as GitHub's API names it.
    CommentId
);

github_number!(
    /// A check run's id, as GitHub's API names it.
    CheckRunId
);
