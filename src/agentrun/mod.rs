//! AgentRun: the durable record of one run of one agent, like Prow's ProwJob or Tekton's
//! PipelineRun. Derived from these types; `agentpods crd` prints the definition.
//!
//! This is the stored run format: what the intake writes into the API server and every
//! later version of the controller reads back, perhaps after an upgrade. Its types are its
//! own, not the webhook model's or the planner's, so renaming a field of those changes
//! nothing on disk. `spec.source` (what a run is rendered from) is versioned, one file per
//! version in [`source`]; the spec's other fields are built and read back typed in
//! [`spec`]. See docs/architecture.md, "The stored run".

mod cancel;
pub mod source;
pub mod spec;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cancel::CancelReason;
pub use source::{RunSource, SourceError, StoredSource};
pub use spec::{SpecError, StoredRun};

// kube's derive takes one `printcolumn(...)` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "agentpods.dev",
    version = "v1alpha1",
    kind = "AgentRun",
    plural = "agentruns",
    shortname = "ar",
    category = "agentpods",
    namespaced,
    status = "AgentRunStatus",
    doc = "One run of one agent for one GitHub event.",
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.agent"),
    printcolumn(name = "Repo", type_ = "string", json_path = ".spec.repository"),
    printcolumn(name = "PR", type_ = "integer", json_path = ".spec.pullRequest.number"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentRunSpec {
    /// The agent's name in services.yaml.
    pub agent: String,
    /// `owner/name`.
    pub repository: String,
    /// The GitHub event name, e.g. `pull_request`.
    pub event: String,
    /// The `X-GitHub-Delivery` id that started the run.
    pub delivery: String,
    /// What started it, e.g. `pull_request.opened` or `comment:run`.
    pub trigger: String,
    /// The pull request the run is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestRef>,
    /// The issue the run is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<u64>,
    /// The git ref checked out (`refs/pull/42/head`, `refs/tags/v1.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The exact commit, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// The task a maintainer asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The GitHub login that asked.
    pub requested_by: String,
    /// Runs in the same group supersede one another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_group: Option<String>,
    /// A new run in the group cancels the older ones (else it waits for them, Queued).
    #[serde(default)]
    pub cancel_in_progress: bool,
    /// When the intake recorded the run, to the microsecond: orders the runs of a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<MicroTime>,
    /// When GitHub says the event happened, from its signed payload (a pull request's
    /// `updated_at`, a comment's `created_at`, a push's `pushed_at`): which of a group's
    /// runs supersedes which under `cancel_in_progress`, so that a delivery that comes late
    /// (redelivered, caught up) does not supersede the run of a newer event. Runs recorded
    /// without it are ordered by `requested_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_at: Option<MicroTime>,
    /// Asked for by someone below `github.authorization.min_permission`, let in by a
    /// trigger's lower `min_permission` or by `fork_pull_requests: always`: under
    /// `cancel_in_progress` such a run supersedes only the runs the same person asked for,
    /// and waits for the others of its group (review 15e, E5: a stranger's command cancelled
    /// the maintainers' review, again and again). Absent (false) in runs recorded before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outsider: bool,
    /// Timeouts, TTL and retries, from the agent's config when the run was recorded.
    #[serde(default)]
    pub limits: RunLimits,
    /// Set to stop the run, saying why (`/agent stop` by someone, superseded by a newer
    /// run, the pull request closed). The controller deletes its pod and ends it Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
    /// What the agent's templates are rendered from: the parts of the webhook event that
    /// agentpods reads and the planner's decision, with the `version` of its form. Written
    /// by the intake, read by the controller (every version ever written), which renders
    /// only agents its own services.yaml defines.
    #[schemars(schema_with = "preserved_object")]
    pub source: StoredSource,
}

/// How long a run may wait and work, how long it is kept, how often it is retried.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLimits {
    /// From creation until its pod runs.
    pub pending_timeout_seconds: u64,
    /// From the pod's start until it ends.
    pub timeout_seconds: u64,
    /// A finished run (and everything it owns) is deleted this long after it ends.
    pub ttl_seconds_after_finished: u64,
    /// Attempts in all when a pod is evicted or its node is lost.
    pub max_attempts: u32,
}

impl From<crate::render::AgentLimits> for RunLimits {
    /// An agent's limits from the config, attempts as many as the default.
    fn from(limits: crate::render::AgentLimits) -> Self {
        RunLimits {
            pending_timeout_seconds: limits.pending_timeout_seconds,
            timeout_seconds: limits.timeout_seconds,
            ttl_seconds_after_finished: limits.ttl_seconds_after_finished,
            ..RunLimits::default()
        }
    }
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            pending_timeout_seconds: 600,
            timeout_seconds: 3600,
            ttl_seconds_after_finished: 86_400,
            max_attempts: 3,
        }
    }
}

fn preserved_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestRef {
    pub number: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_ref: Option<String>,
    /// The head before the push that started the run (a `synchronize`'s `before`): of two
    /// pushes GitHub stamps with the same second, the one whose `before` is the other's head
    /// is the newer, under `cancel_in_progress` (review 15e, E7). Absent for other events,
    /// and in runs recorded before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_sha: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
// Every field's stored name is spelled out: a Rust rename does not change what is
// stored (tests/it/stored_statuses.rs holds the names).
pub struct AgentRunStatus {
    #[serde(rename = "phase", default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(rename = "conditions", default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(rename = "podName", default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(rename = "jobName", default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(
        rename = "finishTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_time: Option<Time>,
    #[serde(rename = "result", default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    #[serde(rename = "report", default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportRefs>,
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
    /// Pods started so far (more than one after an eviction or a lost node).
    #[serde(rename = "attempts", default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Why the run is in its phase, in a sentence.
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a run stands. A phase a newer agentpods wrote reads as [`Phase::Unknown`] (its
/// name kept, and written back as it was): the AgentRun still reads, so a typed watch
/// does not fail over it and stop seeing every other run, and the controller leaves that
/// run alone for the newer controller (`cluster::newer::left_for_newer`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    #[serde(rename = "Pending")]
    Pending,
    #[serde(rename = "Queued")]
    Queued,
    #[serde(rename = "Running")]
    Running,
    #[serde(rename = "Succeeded")]
    Succeeded,
    #[serde(rename = "Failed")]
    Failed,
    #[serde(rename = "Cancelled")]
    Cancelled,
    #[serde(rename = "TimedOut")]
    TimedOut,
    /// A phase this version does not know, as it was stored. Not in the CRD's schema: only
    /// a newer CRD lets the API server store one.
    #[serde(untagged)]
    Unknown(String),
}

impl Phase {
    /// Every phase this version knows: the CRD's schema.
    pub const KNOWN: [Phase; 7] = [
        Phase::Pending,
        Phase::Queued,
        Phase::Running,
        Phase::Succeeded,
        Phase::Failed,
        Phase::Cancelled,
        Phase::TimedOut,
    ];

    /// Whether the run has ended. An unknown phase has not, as far as this version can
    /// tell.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Failed | Phase::Cancelled | Phase::TimedOut
        )
    }
}

/// The phase as stored: `Running`, or the name a newer agentpods wrote.
impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Pending => "Pending",
            Phase::Queued => "Queued",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Cancelled => "Cancelled",
            Phase::TimedOut => "TimedOut",
            Phase::Unknown(name) => name,
        })
    }
}

/// What the agent reported in its termination message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
// Every field's stored name is spelled out: a Rust rename does not change what is
// stored (tests/it/stored_statuses.rs holds the names).
pub struct RunResult {
    #[serde(rename = "conclusion")]
    pub conclusion: Conclusion,
    #[serde(rename = "summary")]
    pub summary: String,
}

/// How a run ended, in GitHub's spelling of a check run's conclusion. One a newer
/// agentpods wrote reads as [`Conclusion::Unknown`], as [`Phase::Unknown`] does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Conclusion {
    #[serde(rename = "success")]
    Success,
    #[serde(rename = "failure")]
    Failure,
    #[serde(rename = "neutral")]
    Neutral,
    #[serde(rename = "cancelled")]
    Cancelled,
    #[serde(rename = "skipped")]
    Skipped,
    #[serde(rename = "timed_out")]
    TimedOut,
    #[serde(rename = "action_required")]
    ActionRequired,
    /// A conclusion this version does not know, as it was stored. Not in the CRD's schema.
    #[serde(untagged)]
    Unknown(String),
}

/// The CRD's schema of a phase: the phases this version knows, as a derive without
/// [`Phase::Unknown`] would write it (the stored format is unchanged by that arm).
impl JsonSchema for Phase {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Phase".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known: Vec<String> = Phase::KNOWN.iter().map(Phase::to_string).collect();
        schemars::json_schema!({ "type": "string", "enum": known })
    }
}

/// The CRD's schema of a conclusion: GitHub's, as a derive without
/// [`Conclusion::Unknown`] would write it.
impl JsonSchema for Conclusion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Conclusion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known: Vec<&str> = Conclusion::ALL.iter().map(Conclusion::as_str).collect();
        schemars::json_schema!({
            "description": "How a run ended, in GitHub's spelling of a check run's conclusion.",
            "type": "string",
            "enum": known,
        })
    }
}

impl Conclusion {
    /// Every conclusion, for parsing what an agent reports.
    pub const ALL: [Conclusion; 7] = [
        Conclusion::Success,
        Conclusion::Failure,
        Conclusion::Neutral,
        Conclusion::Cancelled,
        Conclusion::Skipped,
        Conclusion::TimedOut,
        Conclusion::ActionRequired,
    ];

    /// GitHub's spelling, as stored: `success`, `timed_out` (an unknown one as it was
    /// stored).
    pub fn as_str(&self) -> &str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Skipped => "skipped",
            Conclusion::TimedOut => "timed_out",
            Conclusion::ActionRequired => "action_required",
            Conclusion::Unknown(text) => text,
        }
    }

    /// The conclusion GitHub spells `text` (exactly), if it is one.
    pub fn from_github(text: &str) -> Option<Conclusion> {
        Conclusion::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Conclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the run was reported on GitHub, so a restart edits instead of posting again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
// Every field's stored name is spelled out: a Rust rename does not change what is
// stored (tests/it/stored_statuses.rs holds the names).
pub struct ReportRefs {
    #[serde(
        rename = "checkRunId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub check_run_id: Option<u64>,
    #[serde(rename = "commentId", default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<u64>,
    #[serde(
        rename = "statusContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_context: Option<String>,
    /// The phase GitHub was last told about.
    #[serde(rename = "reported", default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Phase>,
}

/// The CustomResourceDefinition as YAML.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&AgentRun::crd()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_or_conclusion_a_newer_agentpods_wrote_reads_and_is_written_back_as_it_was() {
        let stored = serde_json::json!({
            "phase": "Paused",
            "result": {"conclusion": "superseded", "summary": "s"},
            "report": {"reported": "Paused"},
        });
        let status: AgentRunStatus = serde_json::from_value(stored.clone()).expect("reads");
        assert_eq!(status.phase, Some(Phase::Unknown("Paused".into())));
        assert_eq!(
            status.result.as_ref().map(|r| &r.conclusion),
            Some(&Conclusion::Unknown("superseded".into()))
        );
        assert_eq!(serde_json::to_value(&status).expect("JSON"), stored);
        assert!(!Phase::Unknown("Paused".into()).is_finished());
        assert_eq!(Phase::Unknown("Paused".into()).to_string(), "Paused");
        assert_eq!(Phase::TimedOut.to_string(), "TimedOut");
        // The known ones still read as themselves.
        let known: Phase = serde_json::from_value(serde_json::json!("Running")).expect("reads");
        assert_eq!(known, Phase::Running);
        assert_eq!(Conclusion::from_github("superseded"), None);
    }

    #[test]
    fn the_conclusions_are_those_the_reports_know() {
        let ours: Vec<&str> = Conclusion::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ours, crate::github::CONCLUSIONS);
    }

    #[test]
    fn a_conclusion_is_stored_in_githubs_spelling_as_it_always_was() {
        for conclusion in Conclusion::ALL {
            let json = serde_json::to_value(&conclusion).expect("JSON");
            assert_eq!(json, conclusion.as_str());
            assert_eq!(
                serde_json::from_value::<Conclusion>(json).expect("reads back"),
                conclusion
            );
            assert_eq!(
                Conclusion::from_github(conclusion.as_str()),
                Some(conclusion)
            );
        }
        // What the controller wrote before the enum.
        let stored: RunResult =
            serde_json::from_str(r#"{"conclusion":"timed_out","summary":"too slow"}"#)
                .expect("an old result");
        assert_eq!(stored.conclusion, Conclusion::TimedOut);
        assert_eq!(Conclusion::from_github("great"), None);
    }
}
