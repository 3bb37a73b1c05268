//! GitHub's string enums: the `action` of each event and the author association, read
//! in GitHub's spelling, an unknown value kept as it came.

use std::fmt;
use std::marker::PhantomData;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parsing from GitHub's spelling, for the wire wrapper [`Spelled`].
pub(super) trait FromGithub: Sized {
    const EXPECTING: &'static str;
    fn from_github(s: &str) -> Self;
}

/// A string in GitHub's spelling read into a [`FromGithub`] enum without allocating
/// for known values.
pub(super) struct Spelled<T>(pub(super) T);

impl<'de, T: FromGithub> Deserialize<'de> for Spelled<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: FromGithub> de::Visitor<'_> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
                Ok(T::from_github(v))
            }
        }
        deserializer.deserialize_str(V(PhantomData)).map(Spelled)
    }
}

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident / $fallback:ident, $expecting:literal {
            $( $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
            /// A value this version does not know, kept verbatim (forward compatibility).
            $fallback(String),
        }

        impl $name {
            /// GitHub's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::$fallback(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            /// Reads GitHub's spelling; an unknown value becomes the fallback variant.
            fn from(s: &str) -> Self {
                <Self as FromGithub>::from_github(s)
            }
        }

        impl FromGithub for $name {
            const EXPECTING: &'static str = $expecting;
            fn from_github(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )+
                    other => Self::$fallback(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Spelled::<$name>::deserialize(deserializer).map(|s| s.0)
            }
        }
    };
}

string_enum! {
    /// How the author of an issue, pull request or comment is related to the repository.
    /// Serialized as GitHub spells it (`OWNER`, `FIRST_TIME_CONTRIBUTOR`, ...).
    AuthorAssociation / Unknown, "an author association such as \"OWNER\"" {
        Owner => "OWNER",
        Member => "MEMBER",
        Collaborator => "COLLABORATOR",
        Contributor => "CONTRIBUTOR",
        FirstTimeContributor => "FIRST_TIME_CONTRIBUTOR",
        FirstTimer => "FIRST_TIMER",
        Mannequin => "MANNEQUIN",
        None => "NONE",
    }
}

string_enum! {
    /// The `action` of a `pull_request` event.
    PullRequestAction / Other, "a pull_request action such as \"opened\"" {
        Opened => "opened",
        Synchronize => "synchronize",
        Reopened => "reopened",
        Closed => "closed",
        Edited => "edited",
        Labeled => "labeled",
        Unlabeled => "unlabeled",
        ReadyForReview => "ready_for_review",
        ConvertedToDraft => "converted_to_draft",
    }
}

string_enum! {
    /// The `action` of an `issue_comment` event.
    IssueCommentAction / Other, "an issue_comment action such as \"created\"" {
        Created => "created",
        Edited => "edited",
        Deleted => "deleted",
    }
}

string_enum! {
    /// The `action` of an `issues` event.
    IssuesAction / Other, "an issues action such as \"opened\"" {
        Opened => "opened",
        Edited => "edited",
        Deleted => "deleted",
        Closed => "closed",
        Reopened => "reopened",
        Labeled => "labeled",
        Unlabeled => "unlabeled",
        Assigned => "assigned",
        Unassigned => "unassigned",
    }
}

string_enum! {
    /// The `action` of a `release` event.
    ReleaseAction / Other, "a release action such as \"published\"" {
        Published => "published",
        Created => "created",
        Released => "released",
        Prereleased => "prereleased",
        Edited => "edited",
        Deleted => "deleted",
    }
}

string_enum! {
    /// The `action` of a `check_run` event; `rerequested` is someone pressing "Re-run".
    CheckRunAction / Other, "a check_run action such as \"rerequested\"" {
        Created => "created",
        Completed => "completed",
        Rerequested => "rerequested",
        RequestedAction => "requested_action",
    }
}

string_enum! {
    /// The `action` of a `check_suite` event; `rerequested` is someone pressing "Re-run
    /// all checks".
    CheckSuiteAction / Other, "a check_suite action such as \"rerequested\"" {
        Requested => "requested",
        Rerequested => "rerequested",
        Completed => "completed",
    }
}

string_enum! {
    /// What kind of account a [`User`](super::User) is: GitHub's `type`.
    AccountKind / Other, "an account type such as \"User\"" {
        User => "User",
        Bot => "Bot",
        Organization => "Organization",
    }
}
