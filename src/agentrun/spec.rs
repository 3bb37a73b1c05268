//! The spec's own fields (all but `spec.source`), built in one place and read back typed.
//!
//! They are stored as text and numbers, as they always were (`kubectl get` shows them, and
//! `tests/it/stored_runs.rs` holds their names and form): the intake writes them through
//! [`AgentRunSpec::record`] from the planned launch's typed parts, a run done again through
//! [`AgentRunSpec::again`], and the controller and the reports read them once, at the edge,
//! through [`AgentRunSpec::read`]: a [`StoredRun`] of the crate's own types, or a
//! [`SpecError`] naming the field that does not read, which ends that run Failed with it
//! as its message instead of silently skipping what the field was for.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

use super::source::{RunSource, SourceError, StoredSource};
use super::{AgentRunSpec, PullRequestRef};
use crate::config::AgentName;
use crate::github::event::{CommitSha, Event, Login, PullRequestAction, RepoFullName, ValueError};
use crate::github::webhook::{DeliveryId, WebhookError};
use crate::plan::{AgainBy, Subject, Trigger};
use crate::render::RenderedRun;

/// A run's spec as the controller and the reports use it: its stored text read into the
/// crate's types.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    /// The agent's name in services.yaml.
    pub agent: AgentName,
    pub repository: RepoFullName,
    /// The delivery that started the run (the retry's or Re-run's for a run done again).
    pub delivery: DeliveryId,
    /// What the run is about.
    pub about: About,
    /// The exact commit, when known: a pull request's head, a push's or tag's commit.
    pub sha: Option<CommitSha>,
    /// The GitHub login that asked (stored as text, read back as a `Login`).
    pub requested_by: Login,
}

/// What a run is about, as its spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    PullRequest {
        number: u64,
        head_sha: Option<CommitSha>,
    },
    Issue(u64),
    /// A push or a release: a ref, no pull request or issue.
    Ref,
}

impl StoredRun {
    /// The pull request or issue the run is about.
    pub fn number(&self) -> Option<u64> {
        match self.about {
            About::PullRequest { number, .. } | About::Issue(number) => Some(number),
            About::Ref => None,
        }
    }

    /// The commit the run's check run or status goes on: a pull request's head, else the
    /// exact commit.
    pub fn commit(&self) -> Option<&CommitSha> {
        match &self.about {
            About::PullRequest {
                head_sha: Some(sha),
                ..
            } => Some(sha),
            _ => self.sha.as_ref(),
        }
    }
}

/// Which field of a run's spec does not read, and why. The run can be neither carried out
/// nor reported: it ends Failed with this as its message.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "its spec.{field} does not read\nthe run can be neither carried out nor reported: \
     delete this AgentRun and ask for the run again on GitHub"
)]
pub struct SpecError {
    /// The field, as stored: `repository`, `pullRequest.headSha`.
    pub field: &'static str,
    #[source]
    pub source: FieldError,
}

/// Why a field of the spec does not read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FieldError {
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error(transparent)]
    Delivery(#[from] WebhookError),
    /// services.yaml's rule for an agent's name, in its words.
    #[error("invalid agent name {name:?}: {rule}")]
    Agent { name: String, rule: String },
}

fn field<T>(field: &'static str, read: Result<T, impl Into<FieldError>>) -> Result<T, SpecError> {
    read.map_err(|e| SpecError {
        field,
        source: e.into(),
    })
}

impl AgentRunSpec {
    /// The spec recording `rendered`, the run `source` plans, for `delivery` of the GitHub
    /// event `event`, requested at `now`; its source in the current stored form.
    pub fn record(
        source: &RunSource,
        rendered: &RenderedRun,
        delivery: &DeliveryId,
        now: Timestamp,
    ) -> Result<AgentRunSpec, SourceError> {
        let launch = &source.launch;
        let subject = &launch.subject;
        let head_ref = source
            .pull_request_about()
            .map(|pr| pr.head.ref_name.clone());
        // An issue's run has no ref or commit of its own in the spec (it checks out the
        // default branch, at the commit `spec.source` holds), as it always had.
        let (git_ref, sha) = match subject {
            Subject::Issue { .. } => (None, None),
            _ => (
                Some(subject.git_ref(&source.event)),
                subject.sha().map(CommitSha::to_string),
            ),
        };
        Ok(AgentRunSpec {
            agent: rendered.agent.to_string(),
            repository: source
                .event
                .repository
                .as_ref()
                .map(|r| r.full_name.to_string())
                .unwrap_or_default(),
            event: source.event.name.clone(),
            delivery: delivery.as_str().to_string(),
            trigger: launch.trigger.describe(),
            pull_request: match subject {
                Subject::PullRequest { number, head_sha } => Some(PullRequestRef {
                    number: *number,
                    head_sha: head_sha.as_ref().map(CommitSha::to_string),
                    head_ref,
                    // The push's own `before`, for a run of that push (not an approval's).
                    before_sha: match (&source.event.event, &launch.trigger) {
                        (
                            Event::PullRequest(e),
                            Trigger::PullRequest {
                                action: PullRequestAction::Synchronize,
                            },
                        ) => e.before.as_ref().map(CommitSha::to_string),
                        _ => None,
                    },
                }),
                _ => None,
            },
            issue: match subject {
                Subject::Issue { number, .. } => Some(*number),
                _ => None,
            },
            git_ref,
            sha,
            task: launch.task.clone(),
            requested_by: launch.requested_by.to_string(),
            concurrency_group: rendered.concurrency.as_ref().map(|(g, _)| g.clone()),
            cancel_in_progress: rendered.concurrency.as_ref().is_some_and(|(_, c)| *c),
            requested_at: Some(MicroTime(now)),
            event_at: source.event.signed_at.map(MicroTime),
            outsider: launch.by_outsider,
            limits: rendered.limits.into(),
            cancel: None,
            source: StoredSource::record(source)?,
        })
    }

    /// This run's spec done again (`/agent retry`, GitHub's "Re-run", `by`): the same
    /// agent, event, task and exact commit, for `delivery`, asked by `requested_by` at
    /// `now`, its `trigger` in `by`'s words, with `source` (this run's, read back and
    /// renamed) recorded in the current form. Never an outsider's: whoever runs a run again
    /// meets the global `min_permission` (`plan::Again::judge` holds them to it), whoever
    /// asked for it first.
    pub fn again(
        &self,
        source: &RunSource,
        delivery: &DeliveryId,
        requested_by: &Login,
        by: AgainBy,
        now: Timestamp,
    ) -> Result<AgentRunSpec, SourceError> {
        Ok(AgentRunSpec {
            delivery: delivery.as_str().to_string(),
            trigger: by.describe().to_string(),
            requested_by: requested_by.to_string(),
            outsider: false,
            requested_at: Some(MicroTime(now)),
            cancel: None,
            source: StoredSource::record(source)?,
            ..self.clone()
        })
    }

    /// The spec's fields in the crate's types, or the first that does not read.
    pub fn read(&self) -> Result<StoredRun, SpecError> {
        let sha = |name, text: Option<&String>| {
            text.map(|text| field(name, text.parse::<CommitSha>()))
                .transpose()
        };
        let about = match (&self.pull_request, self.issue) {
            (Some(pr), _) => About::PullRequest {
                number: pr.number,
                head_sha: sha("pullRequest.headSha", pr.head_sha.as_ref())?,
            },
            (None, Some(issue)) => About::Issue(issue),
            (None, None) => About::Ref,
        };
        Ok(StoredRun {
            agent: field(
                "agent",
                self.agent
                    .parse::<AgentName>()
                    .map_err(|rule| FieldError::Agent {
                        name: crate::text::clip(&self.agent, 64),
                        rule,
                    }),
            )?,
            repository: field("repository", self.repository.parse::<RepoFullName>())?,
            delivery: field(
                "delivery",
                DeliveryId::parse(Some(self.delivery.as_bytes())),
            )?,
            about,
            sha: sha("sha", self.sha.as_ref())?,
            requested_by: self.requested_by.as_str().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AgentRunSpec {
        serde_json::from_value(serde_json::json!({
            "agent": "review",
            "repository": "Codertocat/Hello-World",
            "event": "pull_request",
            "delivery": "5a1e5a1e-0000-4000-8000-000000000001",
            "trigger": "pull_request.opened",
            "pullRequest": {
                "number": 2,
                "headSha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                "headRef": "changes",
            },
            "gitRef": "refs/pull/2/head",
            "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
            "requestedBy": "Codertocat",
            "source": {},
        }))
        .expect("a spec")
    }

    #[test]
    fn a_stored_spec_reads_into_the_crates_types() {
        let run = spec().read().expect("reads");
        assert_eq!(run.agent.as_str(), "review");
        assert_eq!(run.repository.as_str(), "Codertocat/Hello-World");
        assert_eq!(
            run.delivery.as_str(),
            "5a1e5a1e-0000-4000-8000-000000000001"
        );
        assert_eq!(run.number(), Some(2));
        assert_eq!(
            run.commit().map(CommitSha::as_str),
            Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        );
        let mut issue = spec();
        issue.pull_request = None;
        issue.issue = Some(7);
        issue.sha = None;
        let run = issue.read().expect("reads");
        assert_eq!((run.number(), run.commit()), (Some(7), None));
    }

    /// Each field that does not read is named, with what to do: before, the reports
    /// skipped a repository or commit that did not parse, and said nothing.
    #[test]
    fn a_field_that_does_not_read_is_named() {
        type Spoil = fn(&mut AgentRunSpec);
        let cases: [(&str, Spoil); 5] = [
            ("agent", |s| s.agent = "Review Bot".into()),
            ("repository", |s| s.repository = "Codertocat".into()),
            ("delivery", |s| s.delivery = "a b".into()),
            ("sha", |s| s.sha = Some("abc".into())),
            ("pullRequest.headSha", |s| {
                if let Some(pr) = s.pull_request.as_mut() {
                    pr.head_sha = Some("HEAD".into());
                }
            }),
        ];
        for (name, spoil) in cases {
            let mut spec = spec();
            spoil(&mut spec);
            let error = spec.read().expect_err(name);
            assert_eq!(error.field, name);
            let said = crate::text::with_causes(&error);
            assert!(
                said.starts_with(&format!("its spec.{name} does not read: "))
                    && said.ends_with("delete this AgentRun and ask for the run again on GitHub"),
                "{said}"
            );
        }
        let error = {
            let mut spec = spec();
            spec.repository = "Codertocat".into();
            spec.read().expect_err("not owner/name")
        };
        assert_eq!(
            crate::text::with_causes(&error),
            "its spec.repository does not read: invalid repository name \"Codertocat\": \
             expected owner/name made of A-Za-z0-9._-\nthe run can be neither carried out \
             nor reported: delete this AgentRun and ask for the run again on GitHub"
        );
    }
}
