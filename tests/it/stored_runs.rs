//! AgentRuns as earlier versions of agentpods stored them run to their end under this one.
//!
//! An AgentRun outlives the binary that wrote it: an upgrade replaces agentpods while runs
//! are queued or running, and the new controller must carry each of them out from what the
//! old intake stored (`spec.source`: the event, the planner's launch, the pull request). So
//! `tests/fixtures/agentruns/<version>/` keeps, frozen, one AgentRun per trigger as a
//! version stored it (see its README). Each story here puts one into the fake API server
//! as if that version had written it, starts today's controller against it, with the
//! operator's services.yaml of that time and GitHub wired in, and follows it: its pod or
//! Job is rendered from the stored source, succeeds, the run ends Succeeded and GitHub is
//! told once. A run stored mid-flight (Running, its pod there) is followed, not relaunched.
//!
//! The fixtures are written once, by [`write_stored_runs`] (ignored), and never again. The
//! newest folder is also what today's intake must store, field for field
//! ([`the_intake_stores_runs_as_the_newest_fixtures_hold_them`]): a renamed field of the
//! stored format fails there before it strands anything.

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentpods::agentrun::source::CURRENT;
use agentpods::agentrun::{Conclusion, Phase};
use agentpods::clock::{Clock, ManualClock};
use agentpods::cluster::controller::{ControllerOptions, CountSink};
use agentpods::cluster::launch::ClusterLauncher;
use agentpods::cluster::report::{AppTokens, GithubReports};
use agentpods::github::webhook::WebhookSecrets;
use agentpods::serve::http::AppState;
use agentpods::serve::metrics::Metrics;
use agentpods::serve::reload::ConfigStore;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};
use support::cluster::{Cluster, RUNS};
use support::fake_github::{FakeGithub, manual_clock};
use support::fake_kube::PodScript;
use support::fixtures::{Payload, fixture, variant};
use support::server::{Post, SECRET, TestService, Workdir, json};

/// Where the stored runs are, one folder per version of the stored format.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agentruns");

/// The folder of the runs as today's intake stores them (`spec.source` version 3,
/// `spec.eventAt`, and `spec.pullRequest.beforeSha`).
const NEWEST: &str = "v1alpha1-source-v3-before-sha";

/// When the fixtures were recorded (every stored time is this one).
const RECORDED_AT: &str = "2026-11-25T10:00:00Z";

/// A day after GitHub sent the example payloads the recordings are made of: what the
/// intake's clock reads while recording, so that they are not stale to it.
const PAYLOADS_SENT: &str = "2019-05-16T10:00:00Z";

/// What the agent in each pod says when it ends.
const RESULT: &str = r#"{"conclusion":"success","summary":"Done: nothing to add."}"#;

const REPO: &str = "Codertocat/Hello-World";

/// The head of pull request #1 as the fake GitHub reports it to the intake.
const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/// A pull request from a fork, and its head, for `/agent approve`.
const FORK_PR: u64 = 2;
const FORK_HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

/// The label every object of a run carries (part of the stored contract).
const RUN_LABEL: &str = "agentpods.dev/run";

/// The folders of stored runs, one per form of the stored format, oldest first; each holds
/// a `<kind>.yaml` for every kind in [`STORED`] and `running-pull_request-opened.yaml`.
const VERSIONS: &[&str] = &[
    "v1alpha1",
    "v1alpha1-source-v2",
    "v1alpha1-source-v3",
    "v1alpha1-source-v3-event-at",
    NEWEST,
];

/// The folder of runs as a newer agentpods would store them, made by hand: this version
/// must leave them alone and go on with every other run
/// ([`a_run_in_a_phase_a_newer_agentpods_wrote_is_left_alone_and_the_others_run`]).
const NEWER: &str = "newer";

/// What one kind of stored run must come to under today's controller, whichever version
/// stored it (the pointers in `shows` name the same values in every version so far; a
/// version that moves one gets entries of its own).
struct Stored {
    /// `<kind>.yaml` in each folder of [`VERSIONS`].
    kind: &'static str,
    /// `Pod` or `Job`.
    workload: &'static str,
    /// Values in the stored AgentRun (JSON pointers into the fixture, read as plain data)
    /// that the run's rendered objects must show: proof they were rendered from what was
    /// stored, and that no stored field was dropped on the way in (an optional field
    /// renamed in the Rust types would be read as absent, not fail).
    shows: &'static [&'static str],
    /// Check runs and comments GitHub gets for it: one each at most, whatever happens.
    check_runs: usize,
    comments: usize,
}

const STORED: &[Stored] = &[
    Stored {
        kind: "pull_request-opened",
        workload: "Pod",
        shows: &[
            "/spec/source/event/event/pull_request/title",
            "/spec/source/event/event/pull_request/head/ref",
            "/spec/source/event/repository/full_name",
            "/spec/source/launch/subject/head_sha",
            "/spec/source/launch/requested_by",
        ],
        check_runs: 1,
        comments: 1,
    },
    Stored {
        kind: "pull_request-synchronize",
        workload: "Pod",
        shows: &[
            "/spec/source/event/event/pull_request/title",
            "/spec/source/event/event/pull_request/head/ref",
            "/spec/source/launch/subject/head_sha",
        ],
        check_runs: 1,
        comments: 1,
    },
    Stored {
        kind: "comment-run-on-pull-request",
        workload: "Pod",
        shows: &[
            "/spec/source/event/event/issue/title",
            "/spec/source/event/event/comment/user/login",
            "/spec/source/launch/task",
            "/spec/source/launch/subject/head_sha",
        ],
        check_runs: 1,
        comments: 1,
    },
    Stored {
        kind: "comment-review-on-pull-request",
        workload: "Pod",
        shows: &[
            // The pull request the intake fetched: only the stored copy says these.
            "/spec/source/pullRequest/title",
            "/spec/source/pullRequest/head/ref",
            "/spec/source/pullRequest/head/sha",
            "/spec/source/launch/task",
        ],
        check_runs: 1,
        comments: 1,
    },
    Stored {
        kind: "comment-approve-fork-pull-request",
        workload: "Pod",
        shows: &[
            // The pull request the intake fetched, at the approved head (up to version 2
            // also in the `pull_request` event it made up of it; from version 3 the run is
            // rendered from this one as that event was).
            "/spec/source/pullRequest/title",
            "/spec/source/pullRequest/head/ref",
            "/spec/source/pullRequest/head/sha",
            "/spec/source/launch/subject/head_sha",
            // What the templates see as `run.trigger`: `pull_request.synchronize` up to
            // version 2, `comment:approve` from version 3.
            "/spec/trigger",
        ],
        check_runs: 1,
        comments: 1,
    },
    Stored {
        kind: "comment-run-on-issue",
        workload: "Pod",
        shows: &[
            "/spec/source/event/event/issue/title",
            "/spec/source/event/event/comment/user/login",
            "/spec/source/launch/task",
        ],
        check_runs: 0,
        comments: 1,
    },
    Stored {
        kind: "push-tag",
        workload: "Job",
        shows: &[
            "/spec/source/event/event/ref",
            "/spec/source/event/event/after",
            "/spec/source/launch/subject/sha",
        ],
        check_runs: 1,
        comments: 0,
    },
    Stored {
        kind: "release-published",
        workload: "Pod",
        shows: &[
            "/spec/source/event/event/release/tag_name",
            "/spec/source/event/repository/full_name",
        ],
        check_runs: 0,
        comments: 0,
    },
    Stored {
        kind: "issues-opened",
        workload: "Pod",
        shows: &[
            "/spec/source/event/event/issue/title",
            "/spec/source/event/event/issue/user/login",
        ],
        check_runs: 0,
        comments: 1,
    },
];

fn stored(file: &str) -> &'static Stored {
    let kind = file
        .rsplit_once('/')
        .and_then(|(_, name)| name.strip_suffix(".yaml"))
        .unwrap_or(file);
    STORED
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("{file}: not in STORED"))
}

// ---------------------------------------------------------------------------------------
// The stories.

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the story finished within a minute")
}

/// The fake GitHub the runs' repository is on, with the App installed.
async fn fake_github() -> (FakeGithub, Arc<ManualClock>) {
    let clock = manual_clock();
    let github = FakeGithub::start(clock.clone()).await;
    github.install(REPO, 77);
    github.set_role(REPO, "Codertocat", "admin");
    github.add_pull(REPO, 1, HEAD, REPO);
    // What an issue's run (the default branch) and a release's (its tag) check out.
    github.set_branch(REPO, "master", HEAD);
    github.set_tag(REPO, "0.0.1", HEAD);
    (github, clock)
}

/// The stored objects of one fixture file, as plain JSON.
fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(FIXTURES).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{file}: not YAML: {e}"))
        })
        .collect()
}

/// Where objects of `document`'s kind are served.
fn api_for(client: &kube::Client, document: &Value) -> Api<DynamicObject> {
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = document["kind"].as_str().unwrap_or_default();
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let namespace = document
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(RUNS);
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Writes the objects of `file` through the API as the version that recorded them did: the
/// run first, its status through the status subresource, then what it owns (their owner
/// references pointing at the run's new uid). Plain JSON all the way: today's Rust types
/// play no part in the writing. Returns the run's name.
async fn put_stored(cluster: &Cluster, file: &str) -> String {
    let mut run_uid = None;
    let mut run_name = None;
    for mut document in documents(file) {
        let status = document.as_object_mut().and_then(|o| o.remove("status"));
        if document["kind"] == "AgentRun" {
            run_name = document
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from);
        } else if let Some(owners) = document
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            for owner in owners.iter_mut().filter(|o| o["kind"] == "AgentRun") {
                owner["uid"] = json!(run_uid.clone().expect("the run comes first"));
            }
        }
        let api = api_for(&cluster.client, &document);
        let object: DynamicObject = serde_json::from_value(document.clone())
            .unwrap_or_else(|e| panic!("{file}: not an object: {e}"));
        let created = api
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{file}: store {}: {e}", object.name_any()));
        if document["kind"] == "AgentRun" {
            run_uid = created.uid();
        }
        if let Some(status) = status {
            api.patch_status(
                &created.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap_or_else(|e| panic!("{file}: store the status of {}: {e}", created.name_any()));
        }
    }
    run_name.unwrap_or_else(|| panic!("{file}: no AgentRun in it"))
}

/// The fixtures' config as an operator upgrading from 0.1 leaves it, following
/// docs/operations.md ("From 0.1"): the image build, which runs as root, opts in to
/// `baseline` where it already ran. In a temporary folder, with the templates.
fn upgraded_config() -> Workdir {
    let work = Workdir::new();
    let frozen = Path::new(FIXTURES).join("config");
    std::fs::copy(frozen.join("services.yaml"), work.config()).expect("copy the config");
    let templates = work.dir.path().join("templates");
    std::fs::remove_dir_all(&templates).expect("clear the example templates");
    support::server::copy_dir(&frozen.join("templates"), &templates);
    work.edit_config(
        "  namespace: agentpods-runs\n",
        "  namespace: agentpods-runs\n  namespaces:\n    agentpods-runs: { pod_security: baseline }\n",
    );
    work.edit_config(
        "    image: kaniko\n",
        "    image: kaniko\n    pod_security: baseline\n",
    );
    work
}

/// A cluster on the fixtures' config (upgraded as the operations guide says), its clock
/// at the recording time, reporting to a fake GitHub as the App; no controller yet.
async fn upgraded_cluster() -> (Cluster, FakeGithub, Workdir) {
    let (github, clock) = fake_github().await;
    let client = github.app_client(clock);
    let config = upgraded_config();
    let mut cluster = Cluster::on(&config.config(), RECORDED_AT.parse().expect("a time")).await;
    cluster.reports = Some(Arc::new(GithubReports::new(
        client.clone(),
        cluster.config_source(),
    )));
    cluster.tokens = Some(Arc::new(AppTokens(client)));
    (cluster, github, config)
}

/// Today's code reads the stored run, or the story stops here with why.
async fn readable(cluster: &Cluster, file: &str, name: &str) {
    if let Err(e) = cluster.runs().get(name).await {
        panic!(
            "{file}: this version cannot read an AgentRun an earlier one stored: {e}\n\
             A field of the stored format was renamed, removed or retyped; after an upgrade \
             every run stored like this would be stranded. Keep reading the old form (see \
             tests/fixtures/agentruns/README.md)."
        );
    }
}

/// What the run's pods, Jobs and ConfigMaps were rendered to (their `spec` and `data`), as
/// JSON text.
async fn rendered(cluster: &Cluster, name: &str) -> String {
    let mut text = String::new();
    for (api_version, kind) in [("v1", "Pod"), ("batch/v1", "Job"), ("v1", "ConfigMap")] {
        let api = api_for(
            &cluster.client,
            &json!({"apiVersion": api_version, "kind": kind}),
        );
        let list = api
            .list(&ListParams::default().labels(&format!("{RUN_LABEL}={name}")))
            .await
            .expect("list the run's objects");
        for object in list.items {
            let object = serde_json::to_value(&object).expect("JSON");
            for part in ["spec", "data"] {
                if let Some(part) = object.get(part) {
                    text.push_str(&serde_json::to_string(part).expect("JSON"));
                    text.push('\n');
                }
            }
        }
    }
    text
}

/// The stored values the rendered objects must show.
fn expect_shown(file: &str, run: &Value, shows: &[&str], rendered: &str) {
    for pointer in shows {
        let value = run
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{file}: nothing stored at {pointer}"));
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // As JSON text, the way it sits in the rendered objects' JSON.
        let escaped = serde_json::to_string(&value).expect("JSON");
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(
            rendered.contains(escaped),
            "{file}: the stored {pointer} ({value:?}) is not in what the run rendered:\n{rendered}"
        );
    }
}

/// Stores the run of `file`, starts today's controller, and follows the run to its end.
async fn runs_to_its_end(file: &str) {
    let expect = stored(file);
    let (mut cluster, github, _config) = upgraded_cluster().await;
    cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
    let name = put_stored(&cluster, file).await;
    readable(&cluster, file, &name).await;
    cluster.start_controller();

    let run = cluster
        .wait_for(&name, "its end", |r| {
            r.and_then(Cluster::phase_of)
                .as_ref()
                .is_some_and(Phase::is_finished)
        })
        .await
        .expect("the run exists");
    let status = run.status.clone().expect("a status");
    assert_eq!(
        status.phase,
        Some(Phase::Succeeded),
        "{file}: the run ended {:?}: {}",
        status.phase,
        status.message.as_deref().unwrap_or_default()
    );
    assert_eq!(status.attempts, 1, "{file}");
    let result = status.result.expect("a result");
    // Only `agentpods agent` is believed to write a result; an image build's container
    // (Kaniko) is reported by its exit alone.
    let summary = match expect.workload {
        "Job" => "",
        _ => "Done: nothing to add.",
    };
    assert_eq!(
        (result.conclusion, result.summary.as_str()),
        (Conclusion::Success, summary),
        "{file}"
    );

    // Its workload, rendered from the stored source.
    let workload = match expect.workload {
        "Job" => {
            assert_eq!(status.job_name.as_deref(), Some(name.as_str()), "{file}");
            "batch/v1"
        }
        _ => {
            assert_eq!(status.pod_name.as_deref(), Some(name.as_str()), "{file}");
            "v1"
        }
    };
    let api = api_for(
        &cluster.client,
        &json!({"apiVersion": workload, "kind": expect.workload}),
    );
    let object = api
        .get(&name)
        .await
        .unwrap_or_else(|e| panic!("{file}: no {} {name}: {e}", expect.workload));
    assert_eq!(object.owner_references()[0].name, name, "{file}");
    let stored_run = &documents(file)[0];
    expect_shown(
        file,
        stored_run,
        expect.shows,
        &rendered(&cluster, &name).await,
    );

    // GitHub hears of it once.
    if expect.check_runs + expect.comments > 0 || stored_run.pointer("/spec/sha").is_some() {
        cluster
            .wait_for(&name, "GitHub to hear it finished", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Succeeded)
            })
            .await;
    }
    // A run stored with its exact commit (`spec.sha`) is reported on it: a release's run
    // is, since the intake learns its tag's commit (source v2).
    let check_runs = expect
        .check_runs
        .max(usize::from(stored_run.pointer("/spec/sha").is_some()));
    let checks = github.check_runs();
    assert_eq!(checks.len(), check_runs, "{file}: {checks:#?}");
    for check in &checks {
        assert_eq!(check.conclusion.as_deref(), Some("success"), "{file}");
        assert_eq!(check.external_id.as_deref(), Some(name.as_str()), "{file}");
    }
    let comments = github.comments();
    assert_eq!(comments.len(), expect.comments, "{file}: {comments:#?}");
    for comment in &comments {
        assert!(
            comment.body.contains("Done: nothing to add."),
            "{file}: {}",
            comment.body
        );
    }
    assert_eq!(github.count("POST", "/check-runs"), check_runs, "{file}");
    assert_eq!(github.violations(), Vec::<String>::new(), "{file}");
}

macro_rules! stories {
    ($($test:ident: $file:literal;)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                timed(runs_to_its_end($file)).await;
            }
        )*

        /// The files the stories above follow.
        const STORIES: &[&str] = &[$($file),*];
    };
}

stories! {
    a_v1alpha1_review_of_an_opened_pull_request_runs_to_its_end: "v1alpha1/pull_request-opened.yaml";
    a_v1alpha1_review_of_a_push_to_a_pull_request_runs_to_its_end: "v1alpha1/pull_request-synchronize.yaml";
    a_v1alpha1_agent_run_on_a_pull_request_runs_to_its_end: "v1alpha1/comment-run-on-pull-request.yaml";
    a_v1alpha1_agent_review_with_a_focus_runs_to_its_end: "v1alpha1/comment-review-on-pull-request.yaml";
    a_v1alpha1_review_of_an_approved_fork_pull_request_runs_to_its_end: "v1alpha1/comment-approve-fork-pull-request.yaml";
    a_v1alpha1_agent_run_on_an_issue_runs_to_its_end: "v1alpha1/comment-run-on-issue.yaml";
    a_v1alpha1_image_build_of_a_version_tag_runs_to_its_end: "v1alpha1/push-tag.yaml";
    a_v1alpha1_release_notes_run_runs_to_its_end: "v1alpha1/release-published.yaml";
    a_v1alpha1_triage_of_an_opened_issue_runs_to_its_end: "v1alpha1/issues-opened.yaml";
    a_source_v2_review_of_an_opened_pull_request_runs_to_its_end: "v1alpha1-source-v2/pull_request-opened.yaml";
    a_source_v2_review_of_a_push_to_a_pull_request_runs_to_its_end: "v1alpha1-source-v2/pull_request-synchronize.yaml";
    a_source_v2_agent_run_on_a_pull_request_runs_to_its_end: "v1alpha1-source-v2/comment-run-on-pull-request.yaml";
    a_source_v2_agent_review_with_a_focus_runs_to_its_end: "v1alpha1-source-v2/comment-review-on-pull-request.yaml";
    a_source_v2_review_of_an_approved_fork_pull_request_runs_to_its_end: "v1alpha1-source-v2/comment-approve-fork-pull-request.yaml";
    a_source_v2_agent_run_on_an_issue_runs_to_its_end: "v1alpha1-source-v2/comment-run-on-issue.yaml";
    a_source_v2_image_build_of_a_version_tag_runs_to_its_end: "v1alpha1-source-v2/push-tag.yaml";
    a_source_v2_release_notes_run_runs_to_its_end: "v1alpha1-source-v2/release-published.yaml";
    a_source_v2_triage_of_an_opened_issue_runs_to_its_end: "v1alpha1-source-v2/issues-opened.yaml";
    a_source_v3_review_of_an_opened_pull_request_runs_to_its_end: "v1alpha1-source-v3/pull_request-opened.yaml";
    a_source_v3_review_of_a_push_to_a_pull_request_runs_to_its_end: "v1alpha1-source-v3/pull_request-synchronize.yaml";
    a_source_v3_agent_run_on_a_pull_request_runs_to_its_end: "v1alpha1-source-v3/comment-run-on-pull-request.yaml";
    a_source_v3_agent_review_with_a_focus_runs_to_its_end: "v1alpha1-source-v3/comment-review-on-pull-request.yaml";
    a_source_v3_review_an_approval_of_a_fork_pull_request_started_runs_to_its_end: "v1alpha1-source-v3/comment-approve-fork-pull-request.yaml";
    a_source_v3_agent_run_on_an_issue_runs_to_its_end: "v1alpha1-source-v3/comment-run-on-issue.yaml";
    a_source_v3_image_build_of_a_version_tag_runs_to_its_end: "v1alpha1-source-v3/push-tag.yaml";
    a_source_v3_release_notes_run_runs_to_its_end: "v1alpha1-source-v3/release-published.yaml";
    a_source_v3_triage_of_an_opened_issue_runs_to_its_end: "v1alpha1-source-v3/issues-opened.yaml";
    an_event_at_review_of_an_opened_pull_request_runs_to_its_end: "v1alpha1-source-v3-event-at/pull_request-opened.yaml";
    an_event_at_review_of_a_push_to_a_pull_request_runs_to_its_end: "v1alpha1-source-v3-event-at/pull_request-synchronize.yaml";
    an_event_at_agent_run_on_a_pull_request_runs_to_its_end: "v1alpha1-source-v3-event-at/comment-run-on-pull-request.yaml";
    an_event_at_agent_review_with_a_focus_runs_to_its_end: "v1alpha1-source-v3-event-at/comment-review-on-pull-request.yaml";
    an_event_at_review_an_approval_of_a_fork_pull_request_started_runs_to_its_end: "v1alpha1-source-v3-event-at/comment-approve-fork-pull-request.yaml";
    an_event_at_agent_run_on_an_issue_runs_to_its_end: "v1alpha1-source-v3-event-at/comment-run-on-issue.yaml";
    an_event_at_image_build_of_a_version_tag_runs_to_its_end: "v1alpha1-source-v3-event-at/push-tag.yaml";
    an_event_at_release_notes_run_runs_to_its_end: "v1alpha1-source-v3-event-at/release-published.yaml";
    an_event_at_triage_of_an_opened_issue_runs_to_its_end: "v1alpha1-source-v3-event-at/issues-opened.yaml";
    a_before_sha_review_of_an_opened_pull_request_runs_to_its_end: "v1alpha1-source-v3-before-sha/pull_request-opened.yaml";
    a_before_sha_review_of_a_push_to_a_pull_request_runs_to_its_end: "v1alpha1-source-v3-before-sha/pull_request-synchronize.yaml";
    a_before_sha_agent_run_on_a_pull_request_runs_to_its_end: "v1alpha1-source-v3-before-sha/comment-run-on-pull-request.yaml";
    a_before_sha_agent_review_with_a_focus_runs_to_its_end: "v1alpha1-source-v3-before-sha/comment-review-on-pull-request.yaml";
    a_before_sha_review_an_approval_of_a_fork_pull_request_started_runs_to_its_end: "v1alpha1-source-v3-before-sha/comment-approve-fork-pull-request.yaml";
    a_before_sha_agent_run_on_an_issue_runs_to_its_end: "v1alpha1-source-v3-before-sha/comment-run-on-issue.yaml";
    a_before_sha_image_build_of_a_version_tag_runs_to_its_end: "v1alpha1-source-v3-before-sha/push-tag.yaml";
    a_before_sha_release_notes_run_runs_to_its_end: "v1alpha1-source-v3-before-sha/release-published.yaml";
    a_before_sha_triage_of_an_opened_issue_runs_to_its_end: "v1alpha1-source-v3-before-sha/issues-opened.yaml";
}

/// A run stored while its pod was running is picked up where it was: the same pod, one
/// attempt, its end recorded and reported.
#[tokio::test]
async fn a_v1alpha1_run_stored_mid_flight_is_followed_to_its_end_not_relaunched() {
    timed(followed_not_relaunched(
        "v1alpha1/running-pull_request-opened.yaml",
    ))
    .await;
}

#[tokio::test]
async fn a_source_v2_run_stored_mid_flight_is_followed_to_its_end_not_relaunched() {
    timed(followed_not_relaunched(
        "v1alpha1-source-v2/running-pull_request-opened.yaml",
    ))
    .await;
}

#[tokio::test]
async fn a_source_v3_run_stored_mid_flight_is_followed_to_its_end_not_relaunched() {
    timed(followed_not_relaunched(
        "v1alpha1-source-v3/running-pull_request-opened.yaml",
    ))
    .await;
}

#[tokio::test]
async fn an_event_at_run_stored_mid_flight_is_followed_to_its_end_not_relaunched() {
    timed(followed_not_relaunched(
        "v1alpha1-source-v3-event-at/running-pull_request-opened.yaml",
    ))
    .await;
}

#[tokio::test]
async fn a_before_sha_run_stored_mid_flight_is_followed_to_its_end_not_relaunched() {
    timed(followed_not_relaunched(
        "v1alpha1-source-v3-before-sha/running-pull_request-opened.yaml",
    ))
    .await;
}

async fn followed_not_relaunched(file: &str) {
    {
        let (mut cluster, github, _config) = upgraded_cluster().await;
        let name = put_stored(&cluster, file).await;
        readable(&cluster, file, &name).await;
        let pod = cluster.pods().get(&name).await.expect("the stored pod");
        let run = cluster.run(&name).await.expect("the stored run");
        assert_eq!(Cluster::phase_of(&run), Some(Phase::Running));
        let before = cluster.fake.request_count();
        cluster.start_controller();

        cluster
            .wait_for(&name, "GitHub to hear it runs", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Running)
            })
            .await;
        assert!(
            cluster
                .fake
                .finish_pod(RUNS, &name, &PodScript::succeeds(RESULT))
        );
        let run = cluster.wait_phase(&name, Phase::Succeeded).await;
        let status = run.status.expect("a status");
        assert_eq!(status.attempts, 1, "not launched again");
        assert_eq!(
            status.result.map(|r| r.summary).as_deref(),
            Some("Done: nothing to add.")
        );
        let pods = cluster.pods_of(&name).await;
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].uid(), pod.uid(), "the stored pod, not a new one");
        let relaunch: Vec<String> = cluster.fake.requests()[before..]
            .iter()
            .filter(|r| r.starts_with("POST") || r.starts_with("PATCH"))
            .filter(|r| {
                ["/pods", "/configmaps", "/secrets"]
                    .iter()
                    .any(|k| r.contains(k))
            })
            .cloned()
            .collect();
        assert_eq!(
            relaunch,
            Vec::<String>::new(),
            "nothing of the run written again"
        );
        cluster
            .wait_for(&name, "GitHub to hear it finished", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Succeeded)
            })
            .await;
        assert_eq!(github.check_runs().len(), 1);
        assert_eq!(github.comments().len(), 1);
        assert_eq!(github.violations(), Vec::<String>::new());
        cluster.stop_controller().await;
    }
}

/// A fork's pull request under `fork_pull_requests: approve`: the owner approves its head
/// by `/agent approve <sha>`, and the run that starts records what happened, the approval
/// (by whom, of which head, in which comment) under the comment's own delivery, not a
/// `pull_request.synchronize` GitHub never sent (issue 12, R5: before, `spec.trigger` was
/// `pull_request.synchronize` and the stored event a `pull_request` the intake made up).
/// It runs from that record, and a retry and a Re-run of it run again at the approved head,
/// still recording the approval, after the author pushed a head nobody approved.
#[tokio::test]
async fn a_run_an_approval_started_records_who_approved_which_head_and_runs_again_at_it() {
    use crate::scenario::{OWNER, PullRequest, Scenario};
    const PUSHED: &str = "89abcdef0123456789abcdef0123456789abcdef";
    timed(async {
        let s = Scenario::new().in_cluster().start().await;
        s.gh.set_role(OWNER, "admin");
        s.gh.set_role("forker", "read");
        let (pr, opened) =
            s.gh.open_pull_request(PullRequest::new(6).in_fork("forker").at(FORK_HEAD))
                .await;
        assert!(opened.runs().is_empty(), "{}", opened.json());

        let approved =
            s.gh.comment(pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        let review = approved.expect_status(202).run();
        let run = s.cluster.get().run(&review).await.expect("the run");
        let source = &run.spec.source.0;
        let comment_id = source["event"]["event"]["comment"]["id"].clone();
        assert_eq!(
            source["launch"]["trigger"],
            json!({
                "kind": "approved",
                "approved_by": OWNER,
                "comment_id": comment_id,
                "head_sha": FORK_HEAD,
            }),
            "{source:#}"
        );
        assert_eq!(
            source["event"]["event"]["comment"]["body"],
            json!(format!("/agent approve {FORK_HEAD}"))
        );
        assert_eq!(source["event"]["name"], "issue_comment");
        assert_eq!(source["pullRequest"]["head"]["sha"], FORK_HEAD);
        assert_eq!(
            source["launch"]["subject"],
            json!({"kind": "pull_request", "number": 6, "head_sha": FORK_HEAD})
        );
        assert_eq!(
            (run.spec.event.as_str(), run.spec.trigger.as_str()),
            ("issue_comment", "comment:approve")
        );
        assert!(
            !serde_json::to_string(&run.spec)
                .expect("JSON")
                .contains("synchronize"),
            "no delivery that never happened: {:#}",
            serde_json::to_value(&run.spec).expect("JSON")
        );

        // Its pod runs from the record (the controller read it back), and fails.
        s.cluster.pod_fails(&review, 1).await;
        s.cluster.expect_reported(&review, Phase::Failed).await;

        // The author pushes a head nobody approved: nothing runs there.
        let pushed = s.gh.push(pr, PUSHED).await;
        assert!(pushed.runs().is_empty(), "{}", pushed.json());

        // The owner's retry and Re-run run the review again, at the head approved.
        let cluster = s.cluster.get();
        let again = |name: String| async move {
            let run = cluster.run(&name).await.expect("the run again");
            assert_eq!(run.spec.sha.as_deref(), Some(FORK_HEAD), "{name}");
            assert_eq!(
                run.spec.source.0["launch"]["trigger"]["kind"], "approved",
                "{name}"
            );
            run
        };
        let retried = s.gh.comment(pr, "/agent retry").await;
        assert_eq!(retried.expect_status(202).json()["runs"][0]["retry_of"], 6);
        let retry = again(retried.run()).await;
        assert_eq!(retry.spec.trigger, "comment:retry");
        let check =
            s.gh.fake
                .check_runs()
                .into_iter()
                .find(|c| c.external_id.as_deref() == Some(review.as_str()))
                .expect("the review's check run");
        assert_eq!(check.head_sha, FORK_HEAD);
        let rerun = s.gh.rerun_check(OWNER, check.id).await;
        let rerun = again(rerun.expect_status(202).run()).await;
        assert_eq!(rerun.spec.trigger, "check_run:rerequested");
        assert_eq!(s.cluster.runs().await.len(), 3);
        s.end();
    })
    .await;
}

/// A run an approval started is rendered from its record as it was planned, a push of the
/// approved head: its templates see a `pull_request` `synchronize` with the pull request at
/// that head, not the comment (a template written for the agent's `pull_request` trigger
/// sees what it always saw), and `run.trigger` says `comment:approve`.
#[test]
fn a_stored_approval_s_run_is_shown_to_its_templates_as_the_push_it_was_planned_as() {
    use agentpods::agentrun::StoredSource;
    use agentpods::render::Engine;
    let config = "project: demo\ncluster: {namespace: runs}\nimages: {agent: ghcr.io/example/agent:1}\nagents:\n  - name: review\n    templates: [t.yaml]\n    triggers: {pull_request: {}}\n";
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\ndata:\n  event: {{ event }}\n  action: {{ action }}\n  head: {{ pr.head.sha }}\n  trigger: {{ run.trigger }}\n  comment: {{ \"none\" if comment is none else \"some\" }}\n  issue: {{ \"none\" if issue is none else \"some\" }}\n";
    let loaded = agentpods::config::parse(
        config,
        "services.yaml",
        [("t.yaml".to_string(), template.to_string())].into(),
    )
    .unwrap_or_else(|e| panic!("the config must load:\n{e}"));
    let stored = documents(&format!("{NEWEST}/comment-approve-fork-pull-request.yaml")).remove(0);
    let source = StoredSource(stored["spec"]["source"].clone())
        .read()
        .expect("the stored source reads");
    assert_eq!(source.event.name, "issue_comment");
    let run = Engine::new(&loaded)
        .expect("compiles")
        .render_run(
            &source.event,
            "d-approve",
            &source.launch,
            source.pull_request.as_ref(),
        )
        .expect("renders");
    let object = serde_json::to_value(&run.objects[0]).expect("JSON");
    assert_eq!(
        object["data"],
        json!({
            "event": "pull_request",
            "action": "synchronize",
            "head": FORK_HEAD,
            "trigger": "comment:approve",
            "comment": "none",
            "issue": "none",
        })
    );
}

/// The newest stored run, its `spec.source` saying `version`, written into the fake API
/// server; its name.
async fn put_with_source_version(cluster: &Cluster, version: Value) -> String {
    put_changed(cluster, &format!("version {version}"), |run| {
        run["spec"]["source"]["version"] = version.clone();
    })
    .await
}

/// The newest stored run as `change` leaves it (`what` says how), written into the fake
/// API server; its name.
async fn put_changed(cluster: &Cluster, what: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut run = documents(&format!("{NEWEST}/pull_request-opened.yaml")).remove(0);
    change(&mut run);
    let name = run["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_string();
    let object: DynamicObject = serde_json::from_value(run).expect("an object");
    api_for(
        &cluster.client,
        &serde_json::to_value(&object).expect("JSON"),
    )
    .create(&PostParams::default(), &object)
    .await
    .expect("store the run");
    readable(cluster, what, &name).await;
    name
}

/// A rolling upgrade: the new replica's intake records a run in a source version this
/// agentpods does not know yet (99, say), while this replica still leads. The run is not
/// this binary's: it is left exactly as it was stored (no status, no pod, nothing told to
/// GitHub, not Failed), the controller says once why, the run waits for the newer
/// controller, and the metrics count it among the runs left for a newer version.
#[tokio::test]
async fn a_run_a_newer_agentpods_recorded_is_left_untouched_for_it() {
    timed(async {
        let (mut cluster, github, _config) = upgraded_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let name = put_with_source_version(&cluster, json!(99)).await;
        let stored = cluster.run(&name).await.expect("the run");
        let metrics = Arc::new(Metrics::new());
        let counted = metrics.clone();
        let controller = cluster.start_controller_with(ControllerOptions {
            counts: Some(CountSink(Arc::new(move |counts| {
                counted.runs_by_phase(&counts.phases);
                counted.runs_left_for_newer(counts.left_for_newer);
            }))),
            ..cluster.controller_options()
        });

        let said = format!("{RUNS}/{name}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !controller.left_for_newer().contains(&said) {
            assert!(
                std::time::Instant::now() < deadline,
                "the controller never said it leaves {said} for a newer one"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Reconciled again and again (requeued every 100 ms here), still untouched.
        let before = controller.reconciles();
        while controller.reconciles() < before + 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the controller stopped reconciling"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let run = cluster.run(&name).await.expect("the run is still there");
        assert_eq!(
            run.status, None,
            "no status written: not Failed, not Pending"
        );
        assert_eq!(run.resource_version(), stored.resource_version());
        assert_eq!(cluster.pods_of(&name).await.len(), 0, "nothing rendered");
        assert_eq!(github.check_runs().len(), 0, "GitHub is told nothing");
        assert_eq!(github.comments().len(), 0, "GitHub is told nothing");
        assert_eq!(controller.left_for_newer(), vec![said]);

        // Counted every few seconds, as the runs by phase are: not yet seen by a controller.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !metrics
            .encode()
            .lines()
            .any(|l| l == "agentpods_runs_left_for_newer_version 1")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the run is not counted as left for a newer version:\n{}",
                metrics.encode()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            metrics
                .encode()
                .lines()
                .any(|l| l == r#"agentpods_runs{phase="none"} 1"#),
            "{}",
            metrics.encode()
        );
        cluster.stop_controller().await;
    })
    .await;
}

/// A rolling upgrade, or a rollback: a newer controller carried a run on into a phase this
/// version does not know (`Paused`), with a conclusion it does not know either, and told
/// GitHub so. This version's controller still sees every other run (before, the typed
/// watch could not read the list and saw none: outside review 12b, R1): the ordinary run
/// beside it runs to its end, and the newer one is left exactly as it was stored, said
/// once, nothing told to GitHub about it; written out, it reads as it was stored.
#[tokio::test]
async fn a_run_in_a_phase_a_newer_agentpods_wrote_is_left_alone_and_the_others_run() {
    timed(async {
        let (mut cluster, github, _config) = upgraded_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let newer = put_stored(
            &cluster,
            &format!("{NEWER}/paused-pull_request-opened.yaml"),
        )
        .await;
        let stored = cluster.run(&newer).await.expect("the newer run reads");
        let status = stored.status.clone().expect("its status");
        assert_eq!(status.phase, Some(Phase::Unknown("Paused".into())));
        assert_eq!(
            status.result.map(|r| r.conclusion),
            Some(Conclusion::Unknown("superseded".into()))
        );
        let ordinary = put_stored(&cluster, &format!("{NEWEST}/issues-opened.yaml")).await;
        let controller = cluster.start_controller_with(cluster.controller_options());

        cluster.wait_phase(&ordinary, Phase::Succeeded).await;
        let said = format!("{RUNS}/{newer}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !controller.left_for_newer().contains(&said) {
            assert!(
                std::time::Instant::now() < deadline,
                "the controller never said it leaves {said} for a newer one"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let run = cluster.run(&newer).await.expect("the run is still there");
        assert_eq!(
            run.resource_version(),
            stored.resource_version(),
            "untouched"
        );
        assert_eq!(cluster.pods_of(&newer).await.len(), 0, "nothing rendered");
        assert_eq!(
            github.check_runs().len(),
            0,
            "GitHub is told nothing of either"
        );
        assert_eq!(
            github.comments().len(),
            1,
            "the ordinary run's comment only"
        );
        assert_eq!(controller.left_for_newer(), vec![said]);

        let yaml = serde_yaml::to_string(&run).expect("YAML");
        assert!(
            yaml.contains("phase: Paused"),
            "written back as stored:\n{yaml}"
        );
        assert!(yaml.contains("conclusion: superseded"), "{yaml}");
        cluster.stop_controller().await;
    })
    .await;
}

/// A source whose version is not a number is malformed, not newer: the run ends Failed
/// on its own, saying why, and renders nothing; GitHub hears it failed. The AgentRun
/// itself still reads, so the other runs carry on.
#[tokio::test]
async fn a_run_whose_source_version_is_malformed_fails_with_the_reason() {
    timed(async {
        let (mut cluster, github, _config) = upgraded_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let name = put_with_source_version(&cluster, json!("two")).await;
        let controller = cluster.start_controller_with(cluster.controller_options());

        let run = cluster.wait_phase(&name, Phase::Failed).await;
        let status = run.status.expect("a status");
        assert_eq!(
            status.message.as_deref(),
            Some(
                "agent review: cannot render the run: its spec.source is version \"two\", \
                 which this agentpods does not read (it reads versions 1 to 3): a newer \
                 agentpods recorded it"
            )
        );
        let result = status.result.expect("a result");
        assert_eq!(result.conclusion, Conclusion::Failure);
        assert_eq!(status.pod_name, None, "no pod was started");
        assert_eq!(cluster.pods_of(&name).await.len(), 0, "nothing rendered");
        assert_eq!(controller.left_for_newer(), Vec::<String>::new());
        cluster
            .wait_for(&name, "GitHub to hear it failed", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Failed)
            })
            .await;
        let checks = github.check_runs();
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
        assert_eq!(github.violations(), Vec::<String>::new());
        cluster.stop_controller().await;
    })
    .await;
}

/// A run whose spec's own fields do not read (its repository is not an `owner/name`, as
/// no agentpods writes it) ends Failed on its own, its status naming the field and saying
/// what to do, and renders nothing; the AgentRun still reads. Before, the spec was read as
/// text where each use needed it: the token could not be minted and the run was retried
/// for ever without a word on it, and a report to a repository that did not parse was
/// silently skipped (architecture review 12d, R4).
#[tokio::test]
async fn a_run_whose_spec_does_not_read_fails_naming_the_field() {
    timed(async {
        let (mut cluster, github, _config) = upgraded_cluster().await;
        cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
        let name = put_changed(&cluster, "spec.repository spoiled", |run| {
            run["spec"]["repository"] = json!("Codertocat");
        })
        .await;
        cluster.start_controller_with(cluster.controller_options());

        let run = cluster.wait_phase(&name, Phase::Failed).await;
        let status = run.status.expect("a status");
        assert_eq!(
            status.message.as_deref(),
            Some(
                "agent review: its spec.repository does not read: invalid repository name \
                 \"Codertocat\": expected owner/name made of A-Za-z0-9._-\nthe run can be \
                 neither carried out nor reported: delete this AgentRun and ask for the run \
                 again on GitHub"
            )
        );
        assert_eq!(
            status.result.map(|r| r.conclusion),
            Some(Conclusion::Failure)
        );
        assert_eq!(status.pod_name, None, "no pod was started");
        assert_eq!(cluster.pods_of(&name).await.len(), 0, "nothing rendered");
        assert_eq!(github.check_runs().len(), 0, "no repository to report to");
        assert_eq!(github.violations(), Vec::<String>::new());
        cluster.stop_controller().await;
    })
    .await;
}

/// A run this version cannot do again as it was stored is not retried nor re-run: the one
/// who asked is told why, and no run is recorded. Before, the new run kept the old source,
/// with the old run's name and requester (outside review 12, R10). Two such runs: one
/// 0.1.0 stored for an `issues` action no trigger names today, which reads but does not
/// record in today's form, and one whose source a newer agentpods wrote.
#[tokio::test]
async fn a_run_this_version_cannot_record_again_is_not_retried_and_says_why() {
    use agentpods::config::Permission;
    use agentpods::ports::launcher::{Launcher, RerunRun, RetryRun, RunAgain};
    timed(async {
        let (cluster, _github, _config) = upgraded_cluster().await;
        let may = || {
            cluster
                .config_source()
                .in_force()
                .planner()
                .again_as("Codertocat", Permission::Admin)
        };
        let mut closed = documents("v1alpha1/issues-opened.yaml").remove(0);
        closed["spec"]["source"]["launch"]["trigger"]["action"] = json!("closed");
        let mut newer = documents(&format!("{NEWEST}/pull_request-opened.yaml")).remove(0);
        newer["spec"]["source"]["version"] = json!(99);
        let store = |run: Value| async {
            let object: DynamicObject = serde_json::from_value(run).expect("an object");
            let api = api_for(
                &cluster.client,
                &serde_json::to_value(&object).expect("JSON"),
            );
            api.create(&PostParams::default(), &object)
                .await
                .expect("store the run");
            object.name_any()
        };
        // The issue's run is the only run about #1 when it is retried.
        let names = [store(closed).await];

        let retried = cluster
            .launcher
            .retry(&RetryRun {
                repository: REPO.parse().expect("a repository"),
                number: agentpods::ids::IssueNumber(1),
                delivery: agentpods::github::webhook::DeliveryId::parse(Some(b"d-retry"))
                    .expect("a delivery id"),
                requested_by: "Codertocat".into(),
                may: may(),
                queued_per_repository: agentpods::config::Limits::default().queued_per_repository,
            })
            .await
            .expect("answered");
        assert!(
            matches!(
                &retried,
                RunAgain::Unrepeatable {
                    run,
                    source: agentpods::agentrun::SourceError::ActionNotStored {
                        event: "issues",
                        action,
                    },
                } if *run == names[0] && action == "closed"
            ),
            "{retried:?}"
        );
        let names = [names[0].clone(), store(newer).await];
        let rerun = cluster
            .launcher
            .rerun(&RerunRun {
                repository: REPO.parse().expect("a repository"),
                run: agentpods::names::RunName::parse(&names[1]).expect("a run name"),
                delivery: agentpods::github::webhook::DeliveryId::parse(Some(b"d-rerun"))
                    .expect("a delivery id"),
                requested_by: "Codertocat".into(),
                may: may(),
                queued_per_repository: agentpods::config::Limits::default().queued_per_repository,
            })
            .await
            .expect("answered");
        let RunAgain::Unrepeatable { run, source } = rerun else {
            panic!("not done again: {rerun:?}");
        };
        assert_eq!(run, names[1]);
        assert_eq!(
            source.to_string(),
            "its spec.source is version 99, which this agentpods does not read (it reads \
             versions 1 to 3): a newer agentpods recorded it"
        );
        let stored = cluster
            .runs()
            .list(&Default::default())
            .await
            .expect("the runs");
        assert_eq!(stored.items.len(), 2, "nothing recorded");
    })
    .await;
}

/// Every stored run has a story, so a fixture cannot be added and forgotten.
#[test]
fn every_stored_run_has_a_story() {
    let mut files = Vec::new();
    for version in std::fs::read_dir(FIXTURES).expect("the fixtures folder") {
        let version = version.expect("an entry").path();
        if !version.is_dir() || version.ends_with("config") || version.ends_with(NEWER) {
            continue;
        }
        for file in std::fs::read_dir(&version).expect("a version folder") {
            let path = file.expect("an entry").path();
            if path.extension().is_some_and(|x| x == "yaml") {
                let relative = path.strip_prefix(FIXTURES).expect("under the fixtures");
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 8, "only {files:?}");
    let mut told: Vec<String> = Vec::new();
    for version in VERSIONS {
        told.extend(STORED.iter().map(|s| format!("{version}/{}.yaml", s.kind)));
        told.push(format!("{version}/running-pull_request-opened.yaml"));
    }
    told.sort();
    assert_eq!(
        files, told,
        "each folder of stored runs needs its place in VERSIONS, and each kind of run an \
         entry in STORED"
    );
    let mut stories: Vec<String> = STORIES.iter().map(|s| s.to_string()).collect();
    stories.sort();
    let single: Vec<String> = files
        .into_iter()
        .filter(|f| !f.ends_with("/running-pull_request-opened.yaml"))
        .collect();
    assert_eq!(stories, single, "each stored run needs a story");
}

// ---------------------------------------------------------------------------------------
// The recorder: how the fixtures were made. Never part of a normal run.

/// The runs recorded, by the name of their file: the event and the payload that made them.
fn recordings() -> Vec<(&'static str, Payload, Option<Value>)> {
    let tag_push = {
        let mut push: Value =
            serde_json::from_slice(&fixture("push/0.json").as_recorded()).expect("JSON");
        push["ref"] = json!("refs/tags/v1.2.0");
        push["compare"] = json!("https://github.com/Codertocat/Hello-World/compare/v1.2.0");
        push
    };
    let approve = {
        let mut comment: Value = serde_json::from_slice(
            &variant("issue_comment/run-on-pull-request.json").as_recorded(),
        )
        .expect("JSON");
        // 0.1.0 took a bare `/agent approve`; an approval names the head it approves now.
        comment["comment"]["body"] = json!(format!("/agent approve {FORK_HEAD}"));
        comment["issue"]["number"] = json!(FORK_PR);
        comment
    };
    vec![
        (
            "pull_request-opened",
            fixture("pull_request/opened.json"),
            None,
        ),
        (
            "pull_request-synchronize",
            fixture("pull_request/synchronize.json"),
            None,
        ),
        (
            "comment-run-on-pull-request",
            variant("issue_comment/run-on-pull-request.json"),
            None,
        ),
        (
            "comment-review-on-pull-request",
            variant("issue_comment/review-with-focus.json"),
            None,
        ),
        (
            "comment-run-on-issue",
            variant("issue_comment/run-on-issue.json"),
            None,
        ),
        ("push-tag", fixture("push/0.json"), Some(tag_push)),
        ("release-published", fixture("release/published.json"), None),
        ("issues-opened", fixture("issues/opened.json"), None),
        // Planned at the head the API reports, as if that head had been pushed: up to
        // source version 2 the stored event is a `pull_request` the intake made up, under
        // an `issue_comment` delivery; from version 3, the comment and the approval.
        (
            "comment-approve-fork-pull-request",
            variant("issue_comment/run-on-pull-request.json"),
            Some(approve),
        ),
    ]
}

/// The intake of `agentpods serve`: the webhook route, asking GitHub what a payload does
/// not say, recording runs through the Kubernetes API at a fixed time. (0.1.0 recorded
/// `v1alpha1/` under the frozen config as it was; today's code records under it as an
/// operator upgrading leaves it, [`upgraded_config`].)
struct Recorder {
    cluster: Cluster,
    service: TestService,
    _github: FakeGithub,
}

impl Recorder {
    async fn start() -> Recorder {
        let (github, clock) = fake_github().await;
        github.add_pull(REPO, FORK_PR, FORK_HEAD, "forker/Hello-World");
        github.set_role(REPO, "forker", "read");
        // The fixtures' config as the operator of this version has it (0.1's, upgraded).
        let work = upgraded_config();
        let cluster = Cluster::on(&work.config(), RECORDED_AT.parse().expect("a time")).await;
        let launcher = ClusterLauncher::new(
            cluster.client.clone(),
            cluster.clock.clone() as Arc<dyn Clock>,
        );
        let state = AppState::new(
            WebhookSecrets::parse_list(SECRET).expect("the secret"),
            ConfigStore::load(&work.config()).expect("the fixtures' config"),
            Arc::new(launcher),
        )
        .with_github(Some(github.app_client(clock)))
        // The payloads as GitHub recorded them (the run names are their hashes), taken on
        // the day they were sent: older ones are stale to the intake (issue 11, F7).
        .with_clock(Arc::new(ManualClock::new(
            PAYLOADS_SENT.parse().expect("a time"),
        )));
        let service = TestService {
            work,
            state: Arc::new(state),
        };
        Recorder {
            cluster,
            service,
            _github: github,
        }
    }

    /// Delivers a payload; returns the name of the one run it recorded.
    async fn deliver(&self, payload: &Payload, body: Vec<u8>, delivery: &str) -> String {
        let reply = self
            .service
            .oneshot(&Post::delivery(&payload.event, delivery, body))
            .await;
        assert_eq!(reply.status, 202, "{}: {}", payload.name, reply.text());
        let reply = json(&reply);
        let runs = reply["runs"].as_array().cloned().unwrap_or_default();
        assert_eq!(runs.len(), 1, "{}: {reply}", payload.name);
        runs[0]["name"].as_str().expect("a run name").to_string()
    }

    /// The object as the API server stored it, as JSON.
    fn stored(&self, api_version: &str, plural: &str, name: &str) -> Value {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.cluster
            .fake
            .object(group, version, plural, RUNS, name)
            .unwrap_or_else(|| panic!("no {plural} {name}"))
    }
}

/// What the API server adds or changes on its own, and what the kubelet stamps with the
/// wall clock, taken out (or pinned to [`RECORDED_AT`]) so a recording is reproducible;
/// writing the objects through the API adds the server's fields again.
fn frozen(mut object: Value) -> Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
        ] {
            meta.remove(field);
        }
        if let Some(owners) = meta
            .get_mut("ownerReferences")
            .and_then(Value::as_array_mut)
        {
            for owner in owners {
                if let Some(owner) = owner.as_object_mut() {
                    owner.remove("uid");
                }
            }
        }
    }
    fn pin_times(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let is_time = matches!(
                        key.as_str(),
                        "startTime"
                            | "finishTime"
                            | "lastTransitionTime"
                            | "startedAt"
                            | "finishedAt"
                    );
                    if is_time && value.is_string() {
                        *value = json!(RECORDED_AT);
                    } else {
                        pin_times(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(pin_times),
            _ => {}
        }
    }
    if let Some(status) = object.get_mut("status") {
        pin_times(status);
    }
    object
}

/// The text of the fixture file holding `documents`. Its header says who wrote it: the
/// crate's version and the commit the tree was at (review 12v, R24: the crate's version
/// alone said "0.1.0" of runs that no released 0.1.0 ever stored).
fn fixture_text(what: &str, documents: &[Value]) -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mut text = format!(
        "# {what}, as the intake of agentpods {} at commit {commit} (with any uncommitted change) stored it (spec.source version {CURRENT}).\n# Frozen: never edit or regenerate (tests/fixtures/agentruns/README.md).\n",
        env!("CARGO_PKG_VERSION")
    );
    for document in documents {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(document).expect("YAML"));
    }
    text
}

/// Writes `documents` as `<dir>/<kind>.yaml`, unless that file holds something else:
/// returns the file's name then, for the refusal.
fn record(dir: &Path, kind: &str, what: &str, documents: &[Value]) -> Option<String> {
    let text = fixture_text(what, documents);
    let path = dir.join(format!("{kind}.yaml"));
    match std::fs::read_to_string(&path) {
        Ok(old) if old == text => None,
        Ok(_) => Some(path.display().to_string()),
        Err(_) => {
            std::fs::write(&path, text).expect("write a fixture");
            None
        }
    }
}

/// One recorded fixture: its file's name (no extension), what it is, its objects.
struct Recorded {
    kind: &'static str,
    what: String,
    documents: Vec<Value>,
}

/// What today's intake (and, for the run stopped mid-flight, controller) stores for each
/// recording, as the fixtures keep it.
async fn recorded_runs() -> Vec<Recorded> {
    let mut out = Vec::new();

    // Each run as the intake recorded it, before any controller saw it.
    let recorder = Recorder::start().await;
    for (i, (kind, payload, edited)) in recordings().into_iter().enumerate() {
        let body = match &edited {
            Some(edited) => serde_json::to_vec(edited).expect("JSON"),
            None => payload.as_recorded(),
        };
        let delivery = format!("5a1e5a1e-0000-4000-8000-{:012}", i + 1);
        let name = recorder.deliver(&payload, body, &delivery).await;
        let run = recorder.stored("agentpods.dev/v1alpha1", "agentruns", &name);
        let what = format!(
            "The AgentRun the intake recorded for {}{}",
            payload.name,
            if edited.is_some() {
                " (edited, see recordings())"
            } else {
                ""
            }
        );
        out.push(Recorded {
            kind,
            what,
            documents: vec![frozen(run)],
        });
    }

    // A review running when the service stopped: the run, its pod and its task ConfigMap.
    let mut recorder = Recorder::start().await;
    recorder
        .cluster
        .fake
        .run_kubelet(|_| PodScript::stays_running());
    recorder.cluster.start_controller();
    let payload = fixture("pull_request/opened.json");
    let name = recorder
        .deliver(
            &payload,
            payload.as_recorded(),
            "5a1e5a1e-0000-4000-8000-000000000100",
        )
        .await;
    recorder.cluster.wait_phase(&name, Phase::Running).await;
    recorder.cluster.stop_controller().await;
    out.push(Recorded {
        kind: "running-pull_request-opened",
        what: "A review of pull_request/opened.json running when the service stopped: the AgentRun, its task ConfigMap and its pod".into(),
        documents: vec![
            frozen(recorder.stored("agentpods.dev/v1alpha1", "agentruns", &name)),
            frozen(recorder.stored("v1", "configmaps", &format!("{name}-task"))),
            frozen(recorder.stored("v1", "pods", &name)),
        ],
    });
    out
}

/// Today's intake stores each run exactly as the newest folder holds it: every field of
/// the AgentRun by the same name, with the same value (the stored format is pinned, so a
/// field renamed in its types fails here; one renamed in the webhook model or the planner
/// does not reach it). The pod and ConfigMap of the run stopped mid-flight are rendered by
/// the templates and are not the stored format: only its AgentRun is compared.
#[tokio::test]
async fn the_intake_stores_runs_as_the_newest_fixtures_hold_them() {
    timed(async {
        let mut differ = Vec::new();
        for recorded in recorded_runs().await {
            let file = format!("{NEWEST}/{}.yaml", recorded.kind);
            let committed = documents(&file);
            if committed.first() != recorded.documents.first() {
                differ.push(format!(
                    "{file}: today's intake stores\n{}",
                    serde_yaml::to_string(&recorded.documents[0]).expect("YAML")
                ));
            }
        }
        assert!(
            differ.is_empty(),
            "the stored format changed: what today's intake stores is not what {NEWEST}/ \
             holds. A field of the stored run was renamed, removed, retyped or added. Keep \
             the stored types as they are, or make the change a new spec.source version (see \
             docs/architecture.md, \"The stored run\").\n{}",
            differ.join("\n")
        );
    })
    .await;
}

/// Records the runs this version stores, one per trigger, into
/// `tests/fixtures/agentruns/$AGENTPODS_WRITE_STORED_RUNS/`. A file already there is
/// never rewritten: if this version stores it differently, the stored format changed,
/// and the new form belongs in a new folder beside the old one (see the README).
#[tokio::test]
#[ignore = "records stored-run fixtures: AGENTPODS_WRITE_STORED_RUNS=<folder> cargo test --test it stored_runs:: -- --ignored"]
async fn write_stored_runs() {
    let folder = std::env::var("AGENTPODS_WRITE_STORED_RUNS").unwrap_or_else(|_| {
        panic!(
            "set AGENTPODS_WRITE_STORED_RUNS to the folder to record into, e.g. v1alpha1-source-v4"
        )
    });
    let dir = Path::new(FIXTURES).join(&folder);
    std::fs::create_dir_all(&dir).expect("the fixtures folder");
    let mut differ = Vec::new();
    for recorded in recorded_runs().await {
        differ.extend(record(
            &dir,
            recorded.kind,
            &recorded.what,
            &recorded.documents,
        ));
    }
    assert!(
        differ.is_empty(),
        "this version stores these runs differently from what {folder}/ holds:\n  {}\n\
         The stored format changed: record the new form into a new folder \
         (AGENTPODS_WRITE_STORED_RUNS=<new folder>) and keep reading the old one.",
        differ.join("\n  ")
    );
}
