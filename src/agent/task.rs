//! The inputs of a run, checked before anything runs: where to clone from, which commit,
//! which branch to push. Pure; every value that reaches git's argv passes through here, so
//! none can be read as an option (`--upload-pack=...`) or carry a credential.

use std::fmt;

use thiserror::Error;

use crate::github::event::CommitSha;

/// A mistake in the entrypoint's options. The messages never quote a URL's credentials.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TaskError {
    #[error("--repository: expected OWNER/NAME or an https://, http:// or file:// URL, got {0:?}")]
    Repository(String),
    #[error("--repository: the URL carries credentials; give the token with --token-file instead")]
    CredentialsInUrl,
    #[error("--sha: expected a full commit id (40 or 64 hex digits), got {0:?}")]
    Sha(String),
    #[error("--ref: not a git ref name: {0:?}")]
    Ref(String),
    #[error("--run-name: expected lowercase letters, digits, '-' and '.', got {0:?}")]
    RunName(String),
    #[error("--branch: not a branch name: {0:?}")]
    Branch(String),
}

/// The URL git fetches from and pushes to. Never holds credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl(String);

impl RemoteUrl {
    /// `OWNER/NAME` (resolved against `base`, e.g. `https://github.com`) or a URL.
    pub fn resolve(repository: &str, base: &str) -> Result<RemoteUrl, TaskError> {
        let repository = repository.trim();
        if let Some((scheme, rest)) = repository.split_once("://") {
            if !matches!(scheme, "https" | "http" | "file") || rest.is_empty() {
                return Err(TaskError::Repository(scheme_only(repository)));
            }
            let authority = rest.split('/').next().unwrap_or_default();
            if authority.contains('@') {
                return Err(TaskError::CredentialsInUrl);
            }
            if repository
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(TaskError::Repository(scheme_only(repository)));
            }
            return Ok(RemoteUrl(repository.to_string()));
        }
        let valid_part = |p: &str| {
            !p.is_empty()
                && !p.starts_with(['-', '.'])
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match repository.split_once('/') {
            Some((owner, name)) if valid_part(owner) && valid_part(name) => {
                let base = RemoteUrl::resolve(base, "")?;
                Ok(RemoteUrl(format!(
                    "{}/{owner}/{name}.git",
                    base.0.trim_end_matches('/')
                )))
            }
            _ => Err(TaskError::Repository(repository.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an error may show of a URL it rejects: the scheme, not what follows.
fn scheme_only(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…"),
        None => url.to_string(),
    }
}

/// A full commit id as the entrypoint takes one (`--sha`, `--base-sha`, what git prints):
/// around spaces and upper-case hexadecimal allowed, as the service's own [`CommitSha`].
pub fn commit_sha(s: &str) -> Result<CommitSha, TaskError> {
    let s = s.trim();
    s.to_ascii_lowercase()
        .parse()
        .map_err(|_| TaskError::Sha(s.to_string()))
}

/// Whether `name` is acceptable to `git check-ref-format` (the rules that matter here), and
/// cannot be read as an option.
fn is_ref_name(name: &str) -> bool {
    // The service's own rule (what git accepts, no hidden character, no leading `-`), so
    // that the entrypoint takes no name the service would refuse (architecture review
    // 12c, R7: it took `main\u{200B}` and `refs/heads/a.lock/b`).
    crate::github::refname::check(name).is_ok()
}

/// A ref to fetch: `refs/heads/main`, `refs/pull/7/head`, `refs/tags/v1`, or a branch name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef(String);

impl GitRef {
    pub fn parse(s: &str) -> Result<GitRef, TaskError> {
        if is_ref_name(s) {
            Ok(GitRef(s.to_string()))
        } else {
            Err(TaskError::Ref(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The run's name as its pod is told it, which names the pushed branch: the AgentRun
/// object's name, a DNS *subdomain* as Kubernetes allows for any object (one applied by
/// hand too), wider than the DNS label the planner makes, `names::RunName`. Apart from it
/// for that reason: the agent takes any name its AgentRun has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRunName(String);

impl AgentRunName {
    pub fn parse(s: &str) -> Result<AgentRunName, TaskError> {
        if crate::text::is_dns_subdomain(s) {
            Ok(AgentRunName(s.to_string()))
        } else {
            Err(TaskError::RunName(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The branch the changes are pushed to: `agentpods/<run-name>` unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch(String);

impl Branch {
    pub fn parse(s: &str) -> Result<Branch, TaskError> {
        let s = s.strip_prefix("refs/heads/").unwrap_or(s);
        if is_ref_name(s) && !s.starts_with("refs/") {
            Ok(Branch(s.to_string()))
        } else {
            Err(TaskError::Branch(s.to_string()))
        }
    }

    pub fn for_run(run: &AgentRunName) -> Branch {
        Branch(format!("agentpods/{}", run.as_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_is_a_name_on_the_git_host_or_a_url_without_credentials() {
        let github = "https://github.com";
        assert_eq!(
            RemoteUrl::resolve("octo/hello.rs", github)
                .unwrap()
                .as_str(),
            "https://github.com/octo/hello.rs.git"
        );
        assert_eq!(
            RemoteUrl::resolve("file:///tmp/x.git", github)
                .unwrap()
                .as_str(),
            "file:///tmp/x.git"
        );
        assert_eq!(
            RemoteUrl::resolve("https://x-access-token:ghs_abc@github.com/o/n", github),
            Err(TaskError::CredentialsInUrl)
        );
        let err = RemoteUrl::resolve("ext::sh -c evil", github).unwrap_err();
        assert!(matches!(err, TaskError::Repository(_)));
        assert!(RemoteUrl::resolve("--upload-pack=evil/x", github).is_err());
        assert!(RemoteUrl::resolve("o/n/extra", github).is_err());
        let err = RemoteUrl::resolve("ssh://user:pw@host/x", github).unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    /// The entrypoint takes no ref the service would refuse (architecture review 12c, R7).
    #[test]
    fn refs_hiding_characters_or_a_lock_component_are_refused() {
        for name in ["main\u{200B}", "feature\u{202E}", "refs/heads/a.lock/b"] {
            assert!(GitRef::parse(name).is_err(), "{name:?}");
            assert!(Branch::parse(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn refs_and_branches_cannot_be_options() {
        assert!(GitRef::parse("refs/pull/7/head").is_ok());
        assert!(GitRef::parse("-oops").is_err());
        assert!(GitRef::parse("refs/heads/a..b").is_err());
        assert!(GitRef::parse("main:evil").is_err());
        assert_eq!(
            Branch::parse("refs/heads/agentpods/x").unwrap().as_str(),
            "agentpods/x"
        );
        assert!(Branch::parse("--force").is_err());
        assert!(commit_sha("abc").is_err());
        assert_eq!(commit_sha(&"A".repeat(40)).unwrap().short(), "aaaaaaa");
        assert_eq!(
            commit_sha(&format!(" {}\n", "b".repeat(64)))
                .unwrap()
                .as_str(),
            "b".repeat(64)
        );
        assert!(AgentRunName::parse("review-abc123").is_ok());
        assert!(AgentRunName::parse("Bad_Name").is_err());
        // Kubernetes' rule, `text::is_dns_subdomain` (review 12b R9: both were taken).
        assert!(AgentRunName::parse("a..b").is_err());
        assert!(AgentRunName::parse("a-").is_err());
    }
}
