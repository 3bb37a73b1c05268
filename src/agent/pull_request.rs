//! Opening the pull request of a run: its title and body, made from untrusted text (the
//! agent's summary, the task) that must not ping anyone, and the opener that asks GitHub
//! with the run's own token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::github::event::RepoFullName;
use crate::github_client::{
    ClientConfig, Credentials, GithubClient, PullRequestCreated, RetryPolicy, Secret,
    api_url_from_env,
};
use crate::report::neutralise;

use super::task::{Branch, GitRef};
use super::{OpenPullRequestError, PullRequestOpener};

/// GitHub allows 256; a title longer than a line reads badly anyway.
pub const TITLE_LIMIT: usize = 80;
/// What the summary may take of the body (GitHub allows 65536 characters).
pub const BODY_LIMIT: usize = 60000;

/// A pull request to open: from `head` onto `base`, both branches of `repository`.
#[derive(Debug)]
pub struct PullRequestDraft<'a> {
    /// As given to --repository (OWNER/NAME, or a URL).
    pub repository: &'a str,
    pub head: &'a Branch,
    pub base: String,
    pub title: String,
    pub body: String,
}

/// Who asked for the run and where, for the body's last line; each only when known.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestedBy<'a> {
    pub login: Option<&'a str>,
    pub number: Option<u64>,
}

/// The branch a pull request goes onto: the branch the run checked out. A pull request's
/// head (`refs/pull/N/head`) or a tag is no branch to merge into.
pub fn base_branch(checked_out: &GitRef) -> Option<String> {
    let name = checked_out.as_str();
    if let Some(branch) = name.strip_prefix("refs/heads/") {
        return Some(branch.to_owned());
    }
    (!name.starts_with("refs/")).then(|| name.to_owned())
}

/// The title: the first line of the agent's own summary, else of the task; neutralised
/// and cut to [`TITLE_LIMIT`] characters.
pub fn title(agent_summary: Option<&str>, task: &str, fallback: &str) -> String {
    let first_line = |text: &str| {
        text.lines()
            .map(|l| l.trim().trim_start_matches('#').trim())
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    };
    let line = agent_summary
        .and_then(first_line)
        .or_else(|| first_line(task))
        .unwrap_or_else(|| fallback.to_owned());
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    crate::text::clip_within(&neutralise(&line, usize::MAX), TITLE_LIMIT, "…")
}

/// The body: the run's summary (neutralised), then who asked for it, when known.
pub fn body(summary: &str, requested: RequestedBy<'_>) -> String {
    let mut body = neutralise(summary, BODY_LIMIT);
    let login = requested.login.filter(|l| is_login(l));
    let line = match (login, requested.number) {
        (Some(login), Some(n)) => Some(format!("Requested by @{login} in #{n}.")),
        (Some(login), None) => Some(format!("Requested by @{login}.")),
        (None, Some(n)) => Some(format!("Requested in #{n}.")),
        (None, None) => None,
    };
    if let Some(line) = line {
        body.push_str("\n\n");
        body.push_str(&line);
    }
    body
}

/// A GitHub login (`octocat`, `dependabot[bot]`): anything else is not mentioned.
fn is_login(s: &str) -> bool {
    let name = s.strip_suffix("[bot]").unwrap_or(s);
    !name.is_empty()
        && name.len() <= 39
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The repository's OWNER/NAME: as given, or the last two segments of a URL's path.
pub fn repository_name(repository: &str) -> Option<RepoFullName> {
    let path = match repository.split_once("://") {
        Some((_, rest)) => rest,
        None => return repository.parse().ok(),
    };
    let mut segments = path
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit('/');
    let name = segments.next()?;
    let owner = segments.next()?;
    format!("{owner}/{name}").parse().ok()
}

/// Opens pull requests with the GitHub client, authenticated by the run's token (the
/// file of --token-file) at `GITHUB_API_URL` (the public API when unset), and revokes that
/// token as the entrypoint exits.
#[derive(Debug)]
pub struct GithubPullRequests {
    token_file: Option<PathBuf>,
}

impl GithubPullRequests {
    pub fn new(token_file: Option<PathBuf>) -> GithubPullRequests {
        GithubPullRequests { token_file }
    }

    /// The opener of `agentpods agent` with these options.
    pub fn for_args(args: &super::AgentArgs) -> GithubPullRequests {
        GithubPullRequests::new(args.token_file.clone())
    }
}

impl PullRequestOpener for GithubPullRequests {
    fn open(
        &self,
        draft: &PullRequestDraft<'_>,
    ) -> Result<PullRequestCreated, OpenPullRequestError> {
        let Some((token, _)) = super::read_token(self.token_file.as_deref())
            .map_err(|e| OpenPullRequestError::Token(Box::new(e)))?
        else {
            return Err(OpenPullRequestError::NoToken);
        };
        let repo = repository_name(draft.repository)
            .ok_or_else(|| OpenPullRequestError::NotARepository(draft.repository.to_string()))?;
        let mut config = ClientConfig::new(Credentials::Token(Secret::new(token)));
        config.base_url = api_url_from_env(|name| std::env::var(name).ok());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(OpenPullRequestError::Runtime)?;
        // octocrab's HTTP stack is built inside the runtime it runs on.
        runtime
            .block_on(async {
                let client = GithubClient::new(config, Arc::new(SystemClock))?;
                client
                    .create_pull_request(
                        &repo,
                        draft.head.as_str(),
                        &draft.base,
                        &draft.title,
                        &draft.body,
                    )
                    .await
            })
            .map_err(OpenPullRequestError::from)
    }
}

/// How long the entrypoint gives GitHub to revoke the run's token, all in all.
const REVOKE_WITHIN: Duration = Duration::from_secs(10);

impl super::TokenRevoker for GithubPullRequests {
    fn revoke(&self, token: &str) -> Result<(), super::GithubCallError> {
        use super::GithubCallError;
        let mut config = ClientConfig::new(Credentials::Token(Secret::new(token)));
        config.base_url = api_url_from_env(|name| std::env::var(name).ok());
        config.retry = RetryPolicy {
            max_attempts: 1,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(GithubCallError::Runtime)?;
        runtime.block_on(async {
            let client = GithubClient::new(config, Arc::new(SystemClock))?;
            let secret = Secret::new(token);
            match tokio::time::timeout(REVOKE_WITHIN, client.revoke_token(&secret)).await {
                Ok(answer) => answer.map_err(GithubCallError::from),
                Err(_) => Err(GithubCallError::NoAnswer(REVOKE_WITHIN)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_the_first_line_of_what_the_agent_said_made_safe_and_short() {
        assert_eq!(
            title(Some("\n## Fix the greeting\n\nDetails"), "task", "x"),
            "Fix the greeting"
        );
        assert_eq!(
            title(Some("  "), "Fix it, @octocat\n", "x"),
            "Fix it, @\u{200D}octocat"
        );
        assert_eq!(title(None, "", "agentpods: run-1"), "agentpods: run-1");
        let long = title(Some(&"é".repeat(300)), "", "x");
        assert_eq!(long.chars().count(), TITLE_LIMIT);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_body_pings_the_requester_and_nobody_the_agent_names() {
        let b = body(
            "Done, @admin. <!-- x -->",
            RequestedBy {
                login: Some("octocat"),
                number: Some(7),
            },
        );
        assert_eq!(
            b,
            "Done, @\u{200D}admin. &lt;!-- x --&gt;\n\nRequested by @octocat in #7."
        );
        let b = body(
            "Done.",
            RequestedBy {
                login: Some("evil @x"),
                number: None,
            },
        );
        assert_eq!(b, "Done.");
    }

    #[test]
    fn the_base_is_a_branch_and_the_repository_a_name() {
        let r = |s: &str| GitRef::parse(s).unwrap();
        assert_eq!(base_branch(&r("refs/heads/main")).as_deref(), Some("main"));
        assert_eq!(base_branch(&r("dev")).as_deref(), Some("dev"));
        assert_eq!(base_branch(&r("refs/pull/7/head")), None);
        assert_eq!(base_branch(&r("refs/tags/v1")), None);
        let n = |s: &str| repository_name(s).map(|r| r.as_str().to_owned());
        assert_eq!(n("octo/demo").as_deref(), Some("octo/demo"));
        assert_eq!(
            n("https://ghe.example.com/octo/demo.git").as_deref(),
            Some("octo/demo")
        );
        assert_eq!(n("file:///"), None);
    }
}
