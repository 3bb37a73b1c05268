//! The validated names GitHub gives: a repository's `owner/name` and a commit id.

use std::fmt;
use std::str::FromStr;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{ValueError, clip_value};

/// The longest owner (a user's or an organisation's login) GitHub allows, in characters.
pub const MAX_OWNER_LEN: usize = 39;

/// The longest repository name GitHub allows, in characters.
pub const MAX_REPO_NAME_LEN: usize = 100;

/// A repository's `owner/name`, validated: exactly one `/`, both parts non-empty,
/// neither `.` nor `..`, and only the characters GitHub allows (`A-Z a-z 0-9 . _ -`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoFullName(String);

impl RepoFullName {
    fn validate(s: &str) -> Result<(), ValueError> {
        let allowed = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
        let part_ok = |p: &str| !p.is_empty() && p != "." && p != ".." && p.bytes().all(allowed);
        match s.split_once('/') {
            Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
            _ => Err(ValueError::RepoFullName(clip_value(s))),
        }
    }

    /// The whole `owner/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `/`.
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(owner, _)| owner)
    }

    /// The part after the `/`.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, name)| name)
    }

    /// Which repository it is, as GitHub tells them apart (case aside): see [`RepoKey`].
    pub fn key(&self) -> RepoKey {
        RepoKey::of_stored(&self.0)
    }
}

/// A GitHub account's login (`octocat`, `dependabot[bot]`), as GitHub sent it: who sent
/// an event, wrote a comment, asked for a run or approved a head. Not validated (GitHub's
/// word, not user input); compared as written, as GitHub's answers give it back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Login(String);

impl Login {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this login, case aside (GitHub's logins ignore case).
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    /// Which account it is, as GitHub tells them apart (case aside): see [`LoginKey`].
    pub fn key(&self) -> LoginKey {
        LoginKey::of(&self.0)
    }
}

/// Which account a login means, as GitHub tells accounts apart: ignoring ASCII case
/// (`Octocat` and `octocat` are one account). The one rule every place that keeps or
/// matches people by login (who was told, whose permission is known, who approved) keeps;
/// it compares, hashes and shows the login in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoginKey(String);

impl LoginKey {
    /// The key of a login given as text.
    pub fn of(login: &str) -> LoginKey {
        LoginKey(login.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Login {
    fn from(login: String) -> Login {
        Login(login)
    }
}

impl From<&str> for Login {
    fn from(login: &str) -> Login {
        Login(login.to_owned())
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Login {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Login {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Which repository a name means, as GitHub tells repositories apart: by `owner/name`
/// ignoring ASCII case (`Acme/X` and `acme/x` are one repository). The one rule every
/// place that matches runs, records or limits by repository keeps: it compares, hashes and
/// shows the name in lowercase. Made from a validated [`RepoFullName`]
/// ([`RepoFullName::key`]), or from a name stored as text ([`RepoKey::of_stored`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoKey(String);

impl RepoKey {
    /// The key of a repository name stored as text (an AgentRun's `spec.repository`),
    /// whether or not it is a valid `owner/name`: two names are the same repository when
    /// their keys are equal.
    pub fn of_stored(name: &str) -> RepoKey {
        RepoKey(name.to_ascii_lowercase())
    }

    /// Whether `name`, stored as text, names this repository.
    pub fn is(&self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name)
    }

    /// The name in lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RepoFullName {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::validate(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for RepoFullName {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::validate(&s)?;
        Ok(Self(s))
    }
}

impl fmt::Display for RepoFullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoFullName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for RepoFullName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoFullName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .try_into()
            .map_err(de::Error::custom)
    }
}

/// A git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hexadecimal characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitSha(String);

impl CommitSha {
    fn validate(s: &str) -> Result<(), ValueError> {
        let hex = |c: u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
        if matches!(s.len(), 40 | 64) && s.bytes().all(hex) {
            Ok(())
        } else {
            Err(ValueError::CommitSha(clip_value(s)))
        }
    }

    /// The full hexadecimal id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 7 characters, as git abbreviates.
    pub fn short(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }

    /// True for the all-zero id GitHub uses for "no commit" (a push that creates or
    /// deletes a ref).
    pub fn is_zero(&self) -> bool {
        self.0.bytes().all(|c| c == b'0')
    }
}

impl FromStr for CommitSha {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::validate(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for CommitSha {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::validate(&s)?;
        Ok(Self(s))
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CommitSha {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for CommitSha {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CommitSha {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .try_into()
            .map_err(de::Error::custom)
    }
}
