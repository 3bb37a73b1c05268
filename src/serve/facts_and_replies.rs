//! The intake's GitHub edge: what the planner needs to know beyond the payload (the
//! commenter's permission from the API, the pull request a comment is on, team
//! membership), and what GitHub hears back at once (eyes on an accepted command, one
//! reply to a refused or mistyped one). Posted at most once per delivery.

use std::time::Duration;

use crate::config::{Config, ForkPolicy};
use crate::github::event::{
    CommitSha, Event, Login, LoginKey, PullRequest, RepoFullName, RepoKey, WebhookEvent,
};
use crate::github_client::{ChangedPaths, GithubClient, GithubError, Reaction, RepositoryRead};
use crate::ids::{CommentId, IssueNumber};
use crate::plan::{
    ApproverAuthority, Authority, ChangedFiles, Control, Decision, Deferral, Facts, HeadApproval,
    Planner, RefCommit, Refusal, RefusalReason, RepositorySays, SkipReason, Trigger,
};
use crate::ports::approvals::{ApprovalStore, PullRequestKey, PullRequestRecord};
use crate::render::Engine;
use crate::report::Reporter;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// How long the intake waits for GitHub's answers; what is still unanswered then makes
/// the delivery wait (503, so that it comes again), still within GitHub's 10 s.
const FACTS_DEADLINE: Duration = Duration::from_secs(4);
/// How long replies may take before the delivery is answered anyway.
const REPLY_DEADLINE: Duration = Duration::from_secs(4);

/// What the API said, owned; [`Gathered::facts`] lends it to the planner.
#[derive(Debug)]
pub struct Gathered {
    /// The repository the event is about.
    pub repository_name: Option<RepoFullName>,
    pub authority: Authority,
    pub teams: Vec<String>,
    pub teams_unanswered: bool,
    /// The login the service acts as, when GitHub named it.
    pub own_login: Option<String>,
    /// The GitHub App the service is, when it is one.
    pub own_app_id: Option<u64>,
    pub pull_request: Option<PullRequest>,
    /// The approvals the service's records hold for the fork pull request (the planner
    /// judges whether one is of its head).
    pub approvals: Vec<HeadApproval>,
    /// The head the service had seen when the comment was written (for `approve`).
    pub head_at_comment: Option<CommitSha>,
    /// The approval records were asked for `head_at_comment`.
    pub head_at_comment_read: bool,
    /// The approval records could not be read.
    pub approvals_unreadable: bool,
    /// What GitHub says now of the approvers of the head whose approval the planner is
    /// about to rely on.
    pub approvers: Vec<ApproverAuthority>,
    /// What GitHub said of the ref a run about an issue or a release checks out.
    pub commit: Pinned,
    /// The paths the pull request changes, asked when an agent's `paths` filter needs
    /// them: read until every such filter was decided.
    pub changed_files: Option<ChangedPaths>,
    /// What the repository's own file on its default branch says (services.yaml's
    /// `repository_config`), asked when a launch waits for it.
    pub repository: RepositoryRead,
}

/// What the planner reads of it.
impl RepositoryRead {
    fn says(&self) -> RepositorySays<'_> {
        match self {
            RepositoryRead::NotAsked => RepositorySays::NotAsked,
            RepositoryRead::Absent => RepositorySays::Absent,
            RepositoryRead::Read(file) => RepositorySays::Read(file),
            RepositoryRead::Broken(problem) => RepositorySays::Broken(problem),
            RepositoryRead::Unanswered => RepositorySays::Unanswered,
        }
    }
}

/// What GitHub said of the ref an issue's or a release's run checks out, owned (see
/// [`RefCommit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinned {
    NotAsked,
    Known(CommitSha),
    Missing,
    Unanswered,
}

impl Default for Gathered {
    /// Nothing asked yet: a decision that needs the requester's permission waits.
    fn default() -> Self {
        Gathered {
            repository_name: None,
            authority: Authority::NotAsked,
            teams: Vec::new(),
            teams_unanswered: false,
            own_login: None,
            own_app_id: None,
            pull_request: None,
            approvals: Vec::new(),
            head_at_comment: None,
            head_at_comment_read: false,
            approvals_unreadable: false,
            approvers: Vec::new(),
            commit: Pinned::NotAsked,
            changed_files: None,
            repository: RepositoryRead::NotAsked,
        }
    }
}

impl Gathered {
    /// The pull request `event` is about: the event's own, or the one a comment is on
    /// once it was fetched.
    fn pull_request_of<'a>(&'a self, event: &'a WebhookEvent) -> Option<&'a PullRequest> {
        event.pull_request_about(self.pull_request.as_ref())
    }

    pub fn facts(&self) -> Facts<'_> {
        Facts {
            repository_name: self.repository_name.as_ref(),
            authority: self.authority,
            teams: &self.teams,
            teams_unanswered: self.teams_unanswered,
            own_login: self.own_login.as_deref(),
            own_app_id: self.own_app_id,
            pull_request: self.pull_request.as_ref(),
            approvals: &self.approvals,
            head_at_comment: self.head_at_comment.as_ref(),
            head_at_comment_read: self.head_at_comment_read,
            approvals_unreadable: self.approvals_unreadable,
            approvers: &self.approvers,
            changed_files: match &self.changed_files {
                None => ChangedFiles::Unknown,
                Some(read) if read.all => ChangedFiles::All(&read.paths),
                Some(read) => ChangedFiles::Some(&read.paths),
            },
            commit: match &self.commit {
                Pinned::NotAsked => RefCommit::NotAsked,
                Pinned::Known(sha) => RefCommit::Known(sha),
                Pinned::Missing => RefCommit::Missing,
                Pinned::Unanswered => RefCommit::Unanswered,
            },
            repository: self.repository.says(),
        }
    }
}

/// The repository's own file at `path`, read from the default branch `event` names:
/// never a pull request's head, so a change to the file counts once it is merged there.
async fn read_own_file(
    client: &GithubClient,
    repo: &RepoFullName,
    event: &WebhookEvent,
    path: &str,
) -> RepositoryRead {
    let Some(branch) = event.repository.as_ref().map(|r| r.default_branch.as_str()) else {
        return RepositoryRead::Absent;
    };
    client.own_file(repo, path, branch).await
}

/// The record of `pr` in the service's own approval store: nothing a comment says counts.
impl Gathered {
    /// Reads the approval records of pull request `number` once for the delivery: the
    /// approvals given (for a fork's head, and for an `approve`, which does not start again
    /// what they start) and the head the service had seen when the comment was written
    /// (`written_at`), which an `approve` without a SHA approves.
    async fn read_approvals(
        &mut self,
        approvals: &dyn ApprovalStore,
        repo: &RepoFullName,
        number: u64,
        written_at: Option<k8s_openapi::jiff::Timestamp>,
    ) {
        self.head_at_comment_read = true;
        match record_of(approvals, repo, number).await {
            Some(record) => {
                self.head_at_comment = written_at.and_then(|at| record.head_at(at)).cloned();
                self.approvals = record.approvals.iter().map(HeadApproval::from).collect();
            }
            None => self.approvals_unreadable = true,
        }
    }
}

async fn record_of(
    approvals: &dyn ApprovalStore,
    repo: &RepoFullName,
    number: u64,
) -> Option<PullRequestRecord> {
    match approvals
        .get(&PullRequestKey::new(repo, IssueNumber(number)))
        .await
    {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!(
                number,
                "the approval records cannot be read: {}",
                crate::text::with_causes(&e)
            );
            None
        }
    }
}

impl Gathered {
    /// What GitHub says `login` may do on `repo`: their permission, and the allowed
    /// teams they are in when the permission alone does not suffice. An unanswered
    /// question stays unanswered: nothing is guessed.
    async fn ask_permission(
        &mut self,
        client: &GithubClient,
        config: &Config,
        repo: &RepoFullName,
        login: &str,
    ) {
        self.authority = match client.collaborator_permission(repo, login).await {
            Ok(p) => Authority::Known(p),
            Err(e) => {
                tracing::warn!(
                    user = login,
                    "permission unknown; the delivery waits for GitHub's answer: {}",
                    crate::text::with_causes(&e)
                );
                Authority::Unanswered
            }
        };
        let auth = &config.github.authorization;
        // Teams matter only to someone below some threshold an agent sets.
        let highest = config
            .agents
            .iter()
            .flat_map(|a| a.triggers.min_permissions())
            .fold(auth.min_permission, std::cmp::max);
        if matches!(self.authority, Authority::Known(p) if p >= highest) {
            return;
        }
        for team in auth.teams_in(Some(repo.as_str())) {
            let Some((org, slug)) = team.as_str().split_once('/') else {
                continue;
            };
            match client.is_team_member(repo, org, slug, login).await {
                Ok(true) => self.teams.push(team.as_str().to_string()),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(
                        team = team.as_str(),
                        "team membership unknown: {}",
                        crate::text::with_causes(&e)
                    );
                    self.teams_unanswered = true;
                }
            }
        }
    }
}

/// A GitHub write the intake owes for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Eyes on the comment whose command started something.
    Eyes { comment_id: CommentId },
    /// One comment on the issue or pull request.
    Reply { number: u64, body: String },
    /// A refused command, told to the person who wrote it: a reply, unless they were
    /// told on this issue or pull request within [`REFUSAL_QUIET`]; then a reaction on
    /// their comment (see [`RefusalsTold`]).
    Refusal {
        number: u64,
        login: Login,
        comment_id: CommentId,
        body: String,
    },
    /// A refused pull request or issue event (a fork's code waiting for an approval,
    /// someone who may not start agents), told to `login` on it: a reply, unless they
    /// were told there within [`REFUSAL_QUIET`]; then nothing (no comment of theirs to
    /// react to), so a fork author pushing in a loop, or an outsider editing an issue
    /// over and over, gets the bot to write once an hour (outside review A5).
    Notice {
        number: u64,
        login: Login,
        body: String,
    },
    /// A refused push or release, told where GitHub shows it on the commit: one
    /// completed, neutral check run on `sha`.
    Refused {
        sha: CommitSha,
        login: Login,
        body: String,
    },
}

/// Where a retry or a Re-run refused once its run is found (only then is it known whose
/// code it would run, and at which head), or a run refused because its repository's queue
/// is full (`limits.queued_per_repository`, known only when it is about to be recorded), is
/// told to whoever asked: `/agent retry` as other
/// refused commands are (a reply on the thread, then a reaction for an hour, per person and
/// thread), and a "Re-run" where it was pressed, as a Re-run refused before its run is
/// looked up is: a neutral check run beside the one pressed, on its commit (the person who
/// pressed it wrote no comment to reply to, and only people who may write to the repository
/// can press it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TellAgain {
    /// The comment that asked for `/agent retry`, on pull request or issue `number`.
    Thread { number: u64, comment_id: CommentId },
    /// The commit of the check run whose "Re-run" was pressed, or of the push or release
    /// whose run was refused.
    Commit { sha: CommitSha },
    /// The pull request or issue whose event's run was refused: told as a refused event is
    /// ([`Response::Notice`], once an hour per person and thread).
    Notice { number: u64 },
}

impl TellAgain {
    /// Where a refused run-again of `event`, or a run of it refused when recorded, is told
    /// (`commit`: a release's tag commit, when GitHub said it); `None` for an event that
    /// starts nothing. One arm an event kind, no catch-all: a new kind decides here.
    pub fn of(event: &WebhookEvent, commit: Option<&CommitSha>) -> Option<TellAgain> {
        match &event.event {
            Event::IssueComment(e) => Some(TellAgain::Thread {
                number: e.issue.number,
                comment_id: e.comment.id,
            }),
            Event::CheckRun(e) => Some(TellAgain::Commit {
                sha: e.check_run.head_sha.clone(),
            }),
            Event::PullRequest(e) => Some(TellAgain::Notice { number: e.number }),
            Event::Issues(e) => Some(TellAgain::Notice {
                number: e.issue.number,
            }),
            Event::Push(e) => Some(TellAgain::Commit {
                sha: e.after.clone(),
            }),
            Event::Release(_) => commit.map(|sha| TellAgain::Commit { sha: sha.clone() }),
            Event::Ping(_) | Event::CheckSuite(_) | Event::Other { .. } => None,
        }
    }

    /// The write telling `refusal` there.
    pub fn response(&self, refusal: &Refusal, prefix: &str) -> Response {
        self.tell(&refusal.login, refusal.message(prefix))
    }

    /// The write telling `login` there that what they asked for was refused, in `body`.
    pub fn tell(&self, login: &Login, body: String) -> Response {
        match self {
            TellAgain::Thread { number, comment_id } => Response::Refusal {
                number: *number,
                login: login.clone(),
                comment_id: *comment_id,
                body,
            },
            TellAgain::Commit { sha } => Response::Refused {
                sha: sha.clone(),
                login: login.clone(),
                body,
            },
            TellAgain::Notice { number } => Response::Notice {
                number: *number,
                login: login.clone(),
                body,
            },
        }
    }
}

/// The writes a delivery's decisions call for; `commit` is the release's tag commit, when
/// GitHub said it. One arm an event kind, no catch-all: a new kind decides here where a
/// refusal of it is told. Pure.
pub fn responses(
    event: &WebhookEvent,
    decisions: &[Decision],
    prefix: &str,
    commit: Option<&CommitSha>,
) -> Vec<Response> {
    let e = match &event.event {
        Event::IssueComment(e) => e,
        // A refusal of an event (a fork pull request waiting for approval, someone who may
        // not start agents) is told once, on the pull request or issue.
        Event::PullRequest(e) => return refusal_reply(decisions, e.number, prefix),
        Event::Issues(e) => return refusal_reply(decisions, e.issue.number, prefix),
        // A push or a release has no thread to reply in: its commit is told.
        Event::Push(e) => return refusal_check(decisions, Some(&e.after), prefix),
        Event::Release(_) => return refusal_check(decisions, commit, prefix),
        // A refused Re-run is told where it was pressed: beside that check run, on its
        // commit (the failed run's own check keeps what it said).
        Event::CheckRun(e) => {
            return refusal_check(decisions, Some(&e.check_run.head_sha), prefix);
        }
        // These start nothing, so nothing of theirs is refused.
        Event::Ping(_) | Event::CheckSuite(_) | Event::Other { .. } => return Vec::new(),
    };
    let number = e.issue.number;
    let mut out = Vec::new();
    for decision in decisions {
        let response = match decision {
            Decision::Launch(launch) => match &launch.trigger {
                Trigger::Comment { comment_id, .. } => Response::Eyes {
                    comment_id: *comment_id,
                },
                // A comment launches only comment triggers, and an approval's runs, whose
                // `approve` got its reaction as a command; nothing to react to otherwise.
                Trigger::PullRequest { .. }
                | Trigger::Issues { .. }
                | Trigger::Push
                | Trigger::Release { .. }
                | Trigger::Approved(_) => continue,
            },
            Decision::Control(_) => Response::Eyes {
                comment_id: e.comment.id,
            },
            // Someone who may not start agents, told once an hour per thread; a refusal
            // about the run (a fork's code, a token that can write) is told each time.
            Decision::Refuse(refusal)
                if matches!(refusal.reason, RefusalReason::NotAuthorized { .. }) =>
            {
                Response::Refusal {
                    number,
                    login: refusal.login.clone(),
                    comment_id: e.comment.id,
                    body: refusal.message(prefix),
                }
            }
            Decision::Refuse(refusal) => Response::Reply {
                number,
                body: refusal.message(prefix),
            },
            Decision::Reply(text) => Response::Reply {
                number,
                body: text.clone(),
            },
            // Told as a refused event is: once an hour per person and thread.
            Decision::Hint { to, text } => Response::Notice {
                number,
                login: to.clone(),
                body: text.clone(),
            },
            Decision::Skip { .. } | Decision::Ignore(_) | Decision::Defer(_) => continue,
        };
        if !out.contains(&response) {
            out.push(response);
        }
    }
    one_reply(out)
}

/// The replies to one comment as one, where the first of them was: a comment of ten
/// unknown `/agent …` lines got eleven of the bot's comments, each a read of the thread
/// and a post (outside review 15b, B2). Each answer keeps its own paragraph.
fn one_reply(responses: Vec<Response>) -> Vec<Response> {
    let mut out: Vec<Response> = Vec::with_capacity(responses.len());
    let mut first_reply = None;
    for response in responses {
        match (response, first_reply) {
            (Response::Reply { body, .. }, Some(at)) => {
                if let Some(Response::Reply { body: kept, .. }) = out.get_mut(at) {
                    kept.push_str("\n\n");
                    kept.push_str(&body);
                }
            }
            (response @ Response::Reply { .. }, None) => {
                first_reply = Some(out.len());
                out.push(response);
            }
            (response, _) => out.push(response),
        }
    }
    out
}

/// When the comment `event` carries was written (a bare `/agent approve` binds to the head
/// seen then); none for the other kinds. One arm an event kind, no catch-all.
fn written_at(event: &WebhookEvent) -> Option<k8s_openapi::jiff::Timestamp> {
    match &event.event {
        Event::IssueComment(e) => e.comment.created_at,
        Event::PullRequest(_)
        | Event::Issues(_)
        | Event::Push(_)
        | Event::Release(_)
        | Event::Ping(_)
        | Event::CheckRun(_)
        | Event::CheckSuite(_)
        | Event::Other { .. } => None,
    }
}

/// The notice of the first refusal among `decisions`, on pull request or issue `number`.
fn refusal_reply(decisions: &[Decision], number: u64, prefix: &str) -> Vec<Response> {
    decisions
        .iter()
        .find_map(|d| match d {
            Decision::Refuse(refusal) => Some(Response::Notice {
                number,
                login: refusal.login.clone(),
                body: refusal.message(prefix),
            }),
            _ => None,
        })
        .into_iter()
        .collect()
}

/// The check run telling the first refusal among `decisions`, on commit `sha`.
fn refusal_check(decisions: &[Decision], sha: Option<&CommitSha>, prefix: &str) -> Vec<Response> {
    let Some(sha) = sha else {
        return Vec::new();
    };
    decisions
        .iter()
        .find_map(|d| match d {
            Decision::Refuse(refusal) => Some(Response::Refused {
                sha: sha.clone(),
                login: refusal.login.clone(),
                body: refusal.message(prefix),
            }),
            _ => None,
        })
        .into_iter()
        .collect()
}

/// Asks GitHub what the planner needs, and only that: the planner is asked first with
/// what is known, and each thing it says it lacks (whose permission, which pull request,
/// whether its head is approved) is asked once, until it lacks nothing GitHub can say or
/// GitHub stops answering. Whatever is still unknown then makes the delivery wait.
pub async fn gather(
    client: &GithubClient,
    approvals: &dyn ApprovalStore,
    planner: &Planner,
    event: &WebhookEvent,
) -> Gathered {
    let mut gathered = Gathered {
        own_app_id: client.app_id(),
        ..Gathered::default()
    };
    let Some(repo) = event.repository.as_ref().map(|r| r.full_name.clone()) else {
        return gathered;
    };
    gathered.repository_name = Some(repo.clone());
    let config = planner.config();
    let approving = config.github.authorization.fork_pull_requests == ForkPolicy::Approve;
    let written_at = written_at(event);
    let ask = async {
        match client.own_login().await {
            Ok(Some(login)) => gathered.own_login = Some(login.to_string()),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "cannot learn our own login: {}",
                crate::text::with_causes(&e)
            ),
        }
        let (mut permission, mut pull, mut pinning, mut files) = (false, false, false, false);
        let mut own_file = false;
        loop {
            let mut asked = false;
            // Decided in full, an `approve` judged in its place (`Planner::decide`): what the
            // approval's own planning lacks (the head the comment saw, the approver's
            // permission, the repository's own file, the changed files) is asked as
            // every other fact is.
            let decisions = planner.decide(event, None, &gathered.facts()).decisions;
            for decision in decisions {
                match decision {
                    Decision::Defer(Deferral::PermissionUnanswered { login }) if !permission => {
                        permission = true;
                        gathered
                            .ask_permission(client, config, &repo, login.as_str())
                            .await;
                    }
                    // An approval is relied on only as far as its approver's permission
                    // reaches now: asked once per approver, when the planner is about
                    // to rely on their approval (outside review 11d, A1).
                    Decision::Defer(Deferral::ApproverPermissionUnanswered { login })
                        if !gathered
                            .approvers
                            .iter()
                            .any(|a| a.login.key() == login.key()) =>
                    {
                        let approver = approver_now(client, &repo, login).await;
                        gathered.approvers.push(approver);
                    }
                    Decision::Defer(Deferral::CommitUnknown { git_ref }) if !pinning => {
                        pinning = true;
                        gathered.commit = match client.commit_of(&repo, &git_ref).await {
                            Ok(sha) => Pinned::Known(sha),
                            // No such ref (a draft release's tag), or an empty repository.
                            Err(
                                GithubError::NotFound { .. }
                                | GithubError::Rejected { status: 409, .. },
                            ) => Pinned::Missing,
                            Err(e) => {
                                tracing::warn!(
                                    git_ref,
                                    "commit unknown; the delivery waits for GitHub's answer: {}",
                                    crate::text::with_causes(&e)
                                );
                                Pinned::Unanswered
                            }
                        };
                    }
                    // The repository's own file, from its default branch as the event
                    // names it: never a pull request's head, so a change to the file
                    // counts once it is merged there.
                    Decision::Defer(Deferral::RepositoryFileUnknown { path }) if !own_file => {
                        own_file = true;
                        gathered.repository = read_own_file(client, &repo, event, &path).await;
                    }
                    Decision::Defer(Deferral::PullRequestUnknown { number }) if !pull => {
                        pull = true;
                        match client.pull_request(&repo, IssueNumber(number)).await {
                            Ok(pr) => gathered.pull_request = Some(pr),
                            Err(e) => tracing::warn!(
                                number,
                                "pull request unknown: {}",
                                crate::text::with_causes(&e)
                            ),
                        }
                    }
                    // An agent's `paths` filter reads the pull request's changed files.
                    Decision::Skip {
                        reason: SkipReason::ChangedFilesUnknown,
                        ..
                    } if !files => {
                        files = true;
                        let Some(number) = gathered.pull_request_of(event).map(|pr| pr.number)
                        else {
                            continue;
                        };
                        // Read until every agent's filter is decided: one file that
                        // matches decides it, so a large pull request is not read to
                        // its end for an agent that matched on its first page.
                        let decided = |read: &[String]| {
                            let facts = Facts {
                                changed_files: ChangedFiles::Some(read),
                                ..gathered.facts()
                            };
                            !planner
                                .decide(event, None, &facts)
                                .decisions
                                .iter()
                                .any(|d| {
                                    matches!(
                                        d,
                                        Decision::Skip {
                                            reason: SkipReason::ChangedFilesUnknown,
                                            ..
                                        }
                                    )
                                })
                        };
                        match client
                            .pull_request_files(&repo, IssueNumber(number), decided)
                            .await
                        {
                            Ok(changed) => gathered.changed_files = Some(changed),
                            Err(e) => tracing::warn!(
                                number,
                                "the pull request's changed files are unknown, so agents with a `paths` filter do not start: {}",
                                crate::text::with_causes(&e)
                            ),
                        }
                    }
                    Decision::Refuse(Refusal {
                        reason: RefusalReason::ForkNeedsApproval { .. },
                        ..
                    }) if approving && !gathered.head_at_comment_read => {
                        match gathered.pull_request_of(event).map(|pr| pr.number) {
                            Some(number) => {
                                gathered
                                    .read_approvals(approvals, &repo, number, written_at)
                                    .await;
                            }
                            None => gathered.head_at_comment_read = true,
                        }
                    }
                    // Whoever runs again is held, for each agent, to what its trigger
                    // needs, which may be more than the global minimum an `allowed_users`
                    // entry or team stands in for: their permission is asked even when the
                    // command itself needed none of it. (An approver's is asked by the
                    // approval's planning, `Deferral::PermissionUnanswered`.)
                    Decision::Control(
                        Control::Retry {
                            requested_by: login,
                            ..
                        }
                        | Control::Rerun {
                            requested_by: login,
                            ..
                        },
                    ) if !permission && gathered.authority == Authority::NotAsked => {
                        permission = true;
                        gathered
                            .ask_permission(client, config, &repo, login.as_str())
                            .await;
                    }
                    // The head the service had seen when an `approve` without a SHA was
                    // written (the one it approves, if it is still the head), and the
                    // approvals given before. Read once: `head_at_comment_read` says it was.
                    Decision::Defer(Deferral::HeadAtCommentUnknown { number })
                        if !gathered.head_at_comment_read =>
                    {
                        gathered
                            .read_approvals(approvals, &repo, number, written_at)
                            .await;
                    }
                    _ => continue,
                }
                asked = true;
            }
            if !asked {
                break;
            }
        }
    };
    let asked_at = std::time::Instant::now();
    if tokio::time::timeout(FACTS_DEADLINE, ask).await.is_err() {
        // Why, when a request failed meanwhile (a refused connection is retried until the
        // deadline; new-user review 13g, G9).
        let cause = client
            .failed_since(asked_at)
            .map(|failure| format!(" (it was retried after: {failure})"))
            .unwrap_or_default();
        tracing::warn!(
            "GitHub did not answer within {FACTS_DEADLINE:?}{cause}; what needs its answer \
             is left undecided, as the delivery's answer says"
        );
    }
    gathered
}

/// How long after a person was told, on an issue or pull request, why their command was
/// refused, their next refused commands there get a reaction (😕, one request) instead
/// of a reply (a look for it and a post): a stranger's comments cost little and fill no
/// thread with the bot's replies.
pub const REFUSAL_QUIET: Duration = Duration::from_secs(3600);

/// At most this many (repository, issue, person) are remembered; the oldest go first.
const REFUSALS_REMEMBERED: usize = 10_000;

/// At most this many replies to refused people in one repository within [`REFUSAL_QUIET`];
/// past them, a refused command gets the reaction and a refused event nothing. The hourly
/// quiet is per person and thread, so a stranger going from thread to thread (or a few
/// throwaway accounts) would otherwise cost a thread's read and a post each time, of the
/// requests and the content-creation limit every repository of the installation shares
/// (outside review 15b, B4).
pub const REFUSAL_REPLIES_PER_REPOSITORY: usize = 20;

/// At most this many replies to refused people in all the installation's repositories
/// within [`REFUSAL_QUIET`]: the cap per repository alone let a stranger going from one
/// public repository to the next be told 20 times an hour in each, which over 25
/// repositories is GitHub's hourly limit on content the whole installation may create
/// (outside review 15c, F13). Past it, as past the repository's, a refused command gets
/// the reaction only.
pub const REFUSAL_REPLIES_IN_ALL: usize = 60;

/// Who was told on which issue or pull request that a command was refused, and when: in
/// memory, per replica. A restart (or another replica) forgets, so a person may be told
/// once more after it.
#[derive(Debug, Default)]
pub struct RefusalsTold {
    told: std::sync::Mutex<std::collections::HashMap<(RepoKey, u64, LoginKey), Timestamp>>,
}

impl RefusalsTold {
    /// Whether to reply to `login` on `repo`#`number` now: yes (and remembered as told
    /// now) unless they were told there within [`REFUSAL_QUIET`], or `repo` had
    /// [`REFUSAL_REPLIES_PER_REPOSITORY`] such replies within it, or all the repositories
    /// [`REFUSAL_REPLIES_IN_ALL`].
    pub fn claim(&self, repo: &str, number: u64, login: &str, now: Timestamp) -> bool {
        let quiet = SignedDuration::try_from(REFUSAL_QUIET).unwrap_or(SignedDuration::MAX);
        let key = (RepoKey::of_stored(repo), number, LoginKey::of(login));
        let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
        if told
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < quiet)
        {
            return false;
        }
        let (mut in_repository, mut in_all) = (0, 0);
        for ((r, _, _), at) in told.iter() {
            if now.duration_since(*at) < quiet {
                in_all += 1;
                in_repository += usize::from(*r == key.0);
            }
        }
        if in_repository >= REFUSAL_REPLIES_PER_REPOSITORY || in_all >= REFUSAL_REPLIES_IN_ALL {
            return false;
        }
        if told.len() >= REFUSALS_REMEMBERED {
            told.retain(|_, at| now.duration_since(*at) < quiet);
            if told.len() >= REFUSALS_REMEMBERED
                && let Some(oldest) = told
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                told.remove(&oldest);
            }
        }
        told.insert(key, now);
        true
    }

    /// Forgets a claim whose reply GitHub did not take: the next one tells.
    pub fn forget(&self, repo: &str, number: u64, login: &str) {
        let key = (RepoKey::of_stored(repo), number, LoginKey::of(login));
        self.told
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

/// Posts what the intake owes GitHub, each reply at most once per delivery (even when the
/// delivery comes again), and a refusal at most once per person and issue within
/// [`REFUSAL_QUIET`] (`refusals`, at `now`). Failures are logged: the runs are recorded either
/// way.
pub async fn respond(
    client: &GithubClient,
    engine: &Engine,
    event: &WebhookEvent,
    delivery: &str,
    responses: &[Response],
    refusals: &RefusalsTold,
    now: Timestamp,
) -> bool {
    let Some(repo) = event.repository.as_ref().map(|r| &r.full_name) else {
        return true;
    };
    let reporter = Reporter {
        client,
        template: engine,
    };
    let post = async {
        let mut told = true;
        for (i, response) in responses.iter().enumerate() {
            let result = match response {
                Response::Eyes { comment_id } => reporter.accepted(repo, *comment_id).await,
                Response::Reply { number, body } => reporter
                    .reply_once(repo, IssueNumber(*number), &format!("{delivery}-{i}"), body)
                    .await
                    .map(|_| ()),
                Response::Refusal {
                    number,
                    login,
                    body,
                    ..
                }
                | Response::Notice {
                    number,
                    login,
                    body,
                } if refusals.claim(repo.as_str(), *number, login.as_str(), now) => {
                    let posted = reporter
                        .reply_once(repo, IssueNumber(*number), &format!("{delivery}-{i}"), body)
                        .await
                        .map(|_| ());
                    if posted.is_err() {
                        refusals.forget(repo.as_str(), *number, login.as_str());
                    }
                    posted
                }
                Response::Refusal {
                    number, comment_id, ..
                } => {
                    tracing::info!(
                        number,
                        "refused again: told within {} (or the repository's {} replies to refused people within it are used), so reacted instead of replying",
                        crate::text::duration(REFUSAL_QUIET),
                        REFUSAL_REPLIES_PER_REPOSITORY
                    );
                    // They were told; the reaction is a courtesy.
                    if let Err(e) = client
                        .react_to_comment(repo, *comment_id, Reaction::Confused)
                        .await
                    {
                        tracing::warn!("cannot react on GitHub: {}", crate::text::with_causes(&e));
                    }
                    Ok(())
                }
                Response::Notice { number, .. } => {
                    tracing::info!(
                        number,
                        "refused again: told within {} (or the repository's {} replies to refused people within it are used), so not told again",
                        crate::text::duration(REFUSAL_QUIET),
                        REFUSAL_REPLIES_PER_REPOSITORY
                    );
                    Ok(())
                }
                // One check run per commit and person, edited when they are refused there
                // again (review 15d, D7: each "Re-run" pressed while the queue was full
                // made a new one); a repeated delivery edits it too.
                Response::Refused { sha, login, body } => {
                    reporter
                        .refused(
                            repo,
                            sha,
                            &format!("refused-{sha}-{}", login.key()),
                            login,
                            body,
                        )
                        .await
                }
            };
            if let Err(e) = result {
                tracing::warn!("cannot answer on GitHub: {}", crate::text::with_causes(&e));
                // Eyes are a courtesy; a reply or a refusal is what the person is told.
                told &= matches!(response, Response::Eyes { .. });
            }
        }
        told
    };
    match tokio::time::timeout(REPLY_DEADLINE, post).await {
        Ok(told) => told,
        Err(_) => {
            tracing::warn!(
                "GitHub replies took longer than {REPLY_DEADLINE:?}; answering the delivery"
            );
            false
        }
    }
}

/// What GitHub says `login`, who approved a fork's head, has on `repo` now, asked when an
/// approval is about to be relied on: by a delivery's planning, or by a retry or Re-run of
/// a fork's run (outside review 11d, A1; review 15e, E1). Unanswered, whatever relies on
/// it waits.
pub(super) async fn approver_now(
    client: &GithubClient,
    repo: &RepoFullName,
    login: Login,
) -> ApproverAuthority {
    let authority = match client.collaborator_permission(repo, login.as_str()).await {
        Ok(p) => Authority::Known(p),
        Err(e) => {
            tracing::warn!(
                user = %login,
                "an approver's permission is unknown; the delivery waits for GitHub's answer: {}",
                crate::text::with_causes(&e)
            );
            Authority::Unanswered
        }
    };
    ApproverAuthority { login, authority }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stranger going from one public repository to the next: 20 replies an hour in each
    /// repository, and 60 in all, then reactions only (outside review 15c, F13: 20 in each of
    /// any number of repositories, with nothing bounding the sum).
    #[test]
    fn replies_to_refused_people_are_bounded_in_each_repository_and_in_all() {
        let told = RefusalsTold::default();
        let now = Timestamp::from_second(1_800_000_000).expect("a time");
        let claimed: Vec<usize> = (0..5)
            .map(|repo| {
                (0..25)
                    .filter(|n| told.claim(&format!("acme/public-{repo}"), *n, "drifter", now))
                    .count()
            })
            .collect();
        assert_eq!(claimed, [20, 20, 20, 0, 0]);
        // An hour later, they may be told again.
        let later = now + SignedDuration::from_secs(3601);
        assert!(told.claim("acme/public-4", 0, "drifter", later));
    }
}
