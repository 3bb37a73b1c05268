//! The one writer of `spec.source`: the internal model ([`RunSource`]) in the current
//! version's form. Every version's own file (`v1.rs`, `v2.rs`, …) is a frozen reader of
//! what that version wrote, never edited once released; what is written today, and how the
//! internal model maps onto it, is here and nowhere else. A new version is a new reader file
//! beside the others and this writer pointed at it (docs/architecture.md, "The stored
//! run"). `tests/it/stored_runs.rs` checks that the intake writes exactly what the newest
//! fixtures hold.

use super::v1::{
    Comment, Event, Issue, PullRequest, PullRequestEnd, Release, Repository, User, WebhookEvent,
};
use super::v2::{IssuesAction, PullRequestAction, ReleaseAction, Subject};
use super::v3::{self, Launch, Trigger};
use super::{RunSource, SourceError};
use crate::config;
use crate::github::event as model;
use crate::plan;

/// The version this writer writes.
pub const VERSION: u64 = v3::VERSION;

/// `source` in the current version's form. Fails only on a trigger action no trigger in
/// services.yaml can name (the planner never launches on one).
pub(super) fn source(source: &RunSource) -> Result<v3::Source, SourceError> {
    let launch = &source.launch;
    Ok(v3::Source {
        version: VERSION,
        event: event(&source.event),
        launch: Launch {
            agent: launch.agent.to_string(),
            run_name: launch.run_name.to_string(),
            trigger: match &launch.trigger {
                plan::Trigger::PullRequest { action } => Trigger::PullRequest {
                    action: stored(
                        PullRequestAction::ALL,
                        PullRequestAction::as_str,
                        "pull_request",
                        action.as_str(),
                    )?,
                },
                plan::Trigger::Issues { action } => Trigger::Issues {
                    action: stored(
                        IssuesAction::ALL,
                        IssuesAction::as_str,
                        "issues",
                        action.as_str(),
                    )?,
                },
                plan::Trigger::Comment { verb, comment_id } => Trigger::Comment {
                    verb: verb.to_string(),
                    comment_id: comment_id.get(),
                },
                plan::Trigger::Push => Trigger::Push,
                plan::Trigger::Release { action } => Trigger::Release {
                    action: stored(
                        ReleaseAction::ALL,
                        ReleaseAction::as_str,
                        "release",
                        action.as_str(),
                    )?,
                },
                plan::Trigger::Approved(approved) => Trigger::Approved {
                    approved_by: approved.approved_by.to_string(),
                    comment_id: approved.comment_id.get(),
                    head_sha: approved.head_sha.to_string(),
                },
            },
            task: launch.task.clone(),
            requested_by: launch.requested_by.to_string(),
            subject: match &launch.subject {
                plan::Subject::PullRequest { number, head_sha } => Subject::PullRequest {
                    number: *number,
                    head_sha: head_sha.as_ref().map(|s| s.to_string()),
                },
                plan::Subject::Issue { number, sha } => Subject::Issue {
                    number: *number,
                    sha: sha.as_ref().map(|s| s.to_string()),
                },
                plan::Subject::Ref { git_ref, sha } => Subject::Ref {
                    git_ref: git_ref.clone(),
                    sha: sha.to_string(),
                },
                plan::Subject::Release { tag, sha } => Subject::Release {
                    tag: tag.clone(),
                    sha: sha.as_ref().map(|s| s.to_string()),
                },
            },
        },
        pull_request: source.pull_request.as_ref().map(pull_request),
    })
}

/// The stored action GitHub spells `text`, one of `all` (those the current version
/// stores), else why the run cannot be recorded.
fn stored<A: Copy>(
    all: &[A],
    spelled: fn(A) -> &'static str,
    event: &'static str,
    text: &str,
) -> Result<A, SourceError> {
    all.iter()
        .copied()
        .find(|&a| spelled(a) == text)
        .ok_or_else(|| SourceError::ActionNotStored {
            event,
            action: text.to_owned(),
        })
}

/// The actions a trigger in services.yaml names are exactly those the current version
/// stores: each list converts to the other by a match with no catch-all, so an action
/// added to `config`'s list (`closed` to `IssuesAction`) does not compile until a version
/// can store it (a new version: a released one is frozen), nor one added to the stored
/// list until `config` names it (outside review 12, R8: nothing tied them, and a launch on
/// an action the version could not store failed at every delivery). The spellings are held
/// equal by a test. A new version ties its own lists here instead.
macro_rules! same_actions {
    ($config:ident <=> $stored:ident { $($variant:ident),+ $(,)? }) => {
        impl From<config::$config> for $stored {
            fn from(action: config::$config) -> $stored {
                match action {
                    $(config::$config::$variant => $stored::$variant,)+
                }
            }
        }

        impl From<$stored> for config::$config {
            fn from(action: $stored) -> config::$config {
                match action {
                    $($stored::$variant => config::$config::$variant,)+
                }
            }
        }
    };
}

same_actions!(PullRequestAction <=> PullRequestAction {
    Opened,
    Synchronize,
    Reopened,
    ReadyForReview,
    Labeled,
    Edited,
    Closed,
});
same_actions!(IssuesAction <=> IssuesAction {
    Opened,
    Labeled,
    Edited,
    Reopened,
});
same_actions!(ReleaseAction <=> ReleaseAction {
    Published,
    Created,
    Released,
    Prereleased,
});

// ---------------------------------------------------------------------------------------
// The event's parts, in version 1's types (which the current version reuses).

fn event(event: &model::WebhookEvent) -> WebhookEvent {
    WebhookEvent {
        name: event.name.clone(),
        event: match &event.event {
            model::Event::PullRequest(e) => Event::PullRequest {
                action: e.action.to_string(),
                number: e.number,
                pull_request: pull_request(&e.pull_request),
            },
            model::Event::IssueComment(e) => Event::IssueComment {
                action: e.action.to_string(),
                issue: issue(&e.issue),
                comment: Comment {
                    id: e.comment.id.get(),
                    body: e.comment.body.clone(),
                    user: user(&e.comment.user),
                    author_association: e.comment.author_association.to_string(),
                    html_url: e.comment.html_url.clone(),
                },
            },
            model::Event::Issues(e) => Event::Issues {
                action: e.action.to_string(),
                issue: issue(&e.issue),
            },
            model::Event::Push(e) => Event::Push {
                git_ref: e.git_ref.clone(),
                before: e.before.to_string(),
                after: e.after.to_string(),
                created: e.created,
                deleted: e.deleted,
                forced: e.forced,
                head_commit_message: e.head_commit_message.clone(),
                pusher: e.pusher.clone(),
            },
            model::Event::Release(e) => Event::Release {
                action: e.action.to_string(),
                release: Release {
                    tag_name: e.release.tag_name.clone(),
                    name: e.release.name.clone(),
                    body: e.release.body.clone(),
                    draft: e.release.draft,
                    prerelease: e.release.prerelease,
                    html_url: e.release.html_url.clone(),
                    target_commitish: e.release.target_commitish.clone(),
                },
            },
            model::Event::Ping(_) => Event::Other {
                name: "ping".into(),
                action: None,
            },
            // No run of this version was ever about a check (0.1 read none).
            model::Event::CheckRun(e) => Event::Other {
                name: "check_run".into(),
                action: Some(e.action.as_str().to_string()),
            },
            model::Event::CheckSuite(e) => Event::Other {
                name: "check_suite".into(),
                action: Some(e.action.as_str().to_string()),
            },
            model::Event::Other { name, action } => Event::Other {
                name: name.clone(),
                action: action.clone(),
            },
        },
        repository: event.repository.as_ref().map(|r| Repository {
            full_name: r.full_name.to_string(),
            owner: r.owner.clone(),
            name: r.name.clone(),
            clone_url: r.clone_url.clone(),
            html_url: r.html_url.clone(),
            default_branch: r.default_branch.clone(),
            private: r.private,
            fork: r.fork,
        }),
        sender: event.sender.as_ref().map(user),
    }
}

fn user(user: &model::User) -> User {
    User {
        login: user.login.as_str().to_owned(),
        id: user.id,
        kind: user.kind.to_string(),
    }
}

fn issue(issue: &model::Issue) -> Issue {
    Issue {
        number: issue.number,
        title: issue.title.clone(),
        body: issue.body.clone(),
        labels: issue.labels.clone(),
        user: user(&issue.user),
        author_association: issue.author_association.to_string(),
        state: issue.state.clone(),
        is_pull_request: issue.is_pull_request,
        html_url: issue.html_url.clone(),
    }
}

fn pull_request_end(git_ref: &model::PullRequestEnd) -> PullRequestEnd {
    PullRequestEnd {
        ref_name: git_ref.ref_name.clone(),
        sha: git_ref.sha.to_string(),
        repo: git_ref.repo.as_ref().map(|r| r.to_string()),
        clone_url: git_ref.clone_url.clone(),
    }
}

fn pull_request(pr: &model::PullRequest) -> PullRequest {
    PullRequest {
        number: pr.number,
        title: pr.title.clone(),
        body: pr.body.clone(),
        draft: pr.draft,
        state: pr.state.clone(),
        merged: pr.merged,
        user: user(&pr.user),
        author_association: pr.author_association.to_string(),
        labels: pr.labels.clone(),
        head: pull_request_end(&pr.head),
        base: pull_request_end(&pr.base),
        html_url: pr.html_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_stored_as_github_spells_them_and_only_those_a_trigger_names() {
        assert!(matches!(
            stored(
                PullRequestAction::ALL,
                PullRequestAction::as_str,
                "pull_request",
                "ready_for_review"
            ),
            Ok(PullRequestAction::ReadyForReview)
        ));
        assert_eq!(
            serde_json::to_value(PullRequestAction::ReadyForReview).expect("JSON"),
            "ready_for_review"
        );
        assert_eq!(
            stored(IssuesAction::ALL, IssuesAction::as_str, "issues", "closed")
                .map_err(|e| e.to_string()),
            Err(
                "cannot record the run: the issues action `closed` is not one a trigger names"
                    .to_string()
            )
        );
        assert!(matches!(
            stored(
                ReleaseAction::ALL,
                ReleaseAction::as_str,
                "release",
                "published"
            ),
            Ok(ReleaseAction::Published)
        ));
    }

    /// An action converts to services.yaml's of the same spelling and back (the lists are
    /// the same by the conversions, which have no catch-all; this holds their spellings).
    #[test]
    fn the_stored_actions_are_those_services_yaml_names_spelled_alike() {
        for &stored in PullRequestAction::ALL {
            let named = config::PullRequestAction::from(stored);
            assert_eq!(named.as_str(), stored.as_str());
            assert_eq!(PullRequestAction::from(named), stored);
        }
        for &stored in IssuesAction::ALL {
            let named = config::IssuesAction::from(stored);
            assert_eq!(named.as_str(), stored.as_str());
            assert_eq!(IssuesAction::from(named), stored);
        }
        for &stored in ReleaseAction::ALL {
            let named = config::ReleaseAction::from(stored);
            assert_eq!(named.as_str(), stored.as_str());
            assert_eq!(ReleaseAction::from(named), stored);
        }
    }
}
