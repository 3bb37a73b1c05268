//! AgentApprovals as agentpods stored them are read by this one.
//!
//! An AgentApproval (a fork pull request's heads seen and the maintainers' approvals of
//! them) outlives the binary that wrote it, as an AgentRun does: after an upgrade, a record
//! the new binary cannot read stops every command and event on that pull request
//! (`ApprovalsUnknown`) until someone deletes it. So `tests/fixtures/agentapprovals/`
//! keeps, frozen, records as a version stored them; today's `KubeApprovals` must read each
//! and write it on (outside review 12b, R3). Before, a renamed field failed only a
//! regenerate-the-CRD test and one key in `intake_github`.

use std::path::Path;

use agentpods::cluster::approvals::{KubeApprovals, object_name};
use agentpods::ports::approvals::{ApprovalEntry, ApprovalStore, PullRequestKey, SeenHead};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde::Deserialize;
use serde_json::Value;

use crate::support::cluster::Cluster;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agentapprovals");

/// Where the service keeps its records in these stories.
const HOME: &str = "agentpods";

/// Every frozen record, by its folder (one per form of the stored format, oldest first).
const STORED: &[&str] = &["v1alpha1/fork-pull-request.yaml"];

const APPROVED: &str = "0123456789abcdef0123456789abcdef01234567";
const PUSHED: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn key() -> PullRequestKey {
    PullRequestKey::new(
        &"Codertocat/Hello-World".parse().expect("a repository"),
        agentpods::ids::IssueNumber(2),
    )
}

/// The frozen record in `file`, its name the one today's store gives its pull request.
fn frozen(file: &str) -> Value {
    let path = Path::new(FIXTURES).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    let mut object = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{file}: not YAML: {e}")))
        .next()
        .unwrap_or_else(|| panic!("{file}: empty"));
    object["metadata"]["name"] = Value::String(object_name(&key()));
    object
}

fn time(text: &str) -> k8s_openapi::jiff::Timestamp {
    text.parse().expect("a time")
}

/// Puts `object` into the fake API server as plain JSON: today's types play no part.
async fn put(cluster: &Cluster, object: &Value) {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "agentpods.dev",
        "v1alpha1",
        "AgentApproval",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(cluster.service.clone(), HOME, &resource);
    let object: DynamicObject = serde_json::from_value(object.clone()).expect("an object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("store the record");
}

/// A maintainer approved a fork's head before the upgrade, and a later head was seen. After
/// it, today's store reads both as they were, and records the next approval beside them.
#[tokio::test]
async fn every_stored_approval_record_reads_and_takes_the_next_approval() {
    for file in STORED {
        let cluster = Cluster::without_controller().await;
        put(&cluster, &frozen(file)).await;
        let store = KubeApprovals::new(cluster.service.clone(), HOME);

        let record = store.get(&key()).await.unwrap_or_else(|e| {
            panic!(
                "{file}: this version cannot read an AgentApproval an earlier one stored: {e}\n\
                 A field of the stored record was renamed, removed or retyped; after an \
                 upgrade every fork pull request with a record would be stuck. Keep reading \
                 the old form; never edit the fixture."
            )
        });
        assert_eq!(
            record.heads,
            vec![
                SeenHead {
                    sha: APPROVED.parse().expect("a commit"),
                    seen_at: time("2026-11-25T10:00:00Z"),
                },
                SeenHead {
                    sha: PUSHED.parse().expect("a commit"),
                    seen_at: time("2026-11-25T10:02:00Z"),
                },
            ],
            "{file}"
        );
        assert_eq!(
            record.approvals,
            vec![ApprovalEntry {
                sha: APPROVED.parse().expect("a commit"),
                approved_by: "Codertocat".into(),
                approved_at: time("2026-11-25T10:01:00Z"),
                comment_id: agentpods::ids::CommentId(491),
            }],
            "{file}"
        );

        let next = ApprovalEntry {
            sha: PUSHED.parse().expect("a commit"),
            approved_by: "Codertocat".into(),
            approved_at: time("2026-11-25T10:03:00Z"),
            comment_id: agentpods::ids::CommentId(492),
        };
        let change = |r: &mut agentpods::ports::approvals::PullRequestRecord| {
            r.approvals.push(next.clone());
            true
        };
        store
            .update(&key(), &change)
            .await
            .unwrap_or_else(|e| panic!("{file}: the next approval is not recorded: {e}"));
        let after = store.get(&key()).await.expect("reads again");
        assert_eq!(after.heads, record.heads, "{file}");
        assert_eq!(after.approvals.len(), 2, "{file}");
        assert_eq!(after.approvals[1], next, "{file}");
    }
}

/// The newest frozen record is what today's store writes, field for field: a field renamed
/// in the stored types fails here, before it strands any record.
#[tokio::test]
async fn today_s_store_writes_an_approval_as_the_frozen_record_holds_it() {
    let newest = STORED.last().expect("a frozen record");
    let cluster = Cluster::without_controller().await;
    let store = KubeApprovals::new(cluster.service.clone(), HOME);
    let change = |r: &mut agentpods::ports::approvals::PullRequestRecord| {
        r.heads.push(SeenHead {
            sha: APPROVED.parse().expect("a commit"),
            seen_at: time("2026-11-25T10:00:00Z"),
        });
        r.approvals.push(ApprovalEntry {
            sha: APPROVED.parse().expect("a commit"),
            approved_by: "Codertocat".into(),
            approved_at: time("2026-11-25T10:01:00Z"),
            comment_id: agentpods::ids::CommentId(491),
        });
        r.heads.push(SeenHead {
            sha: PUSHED.parse().expect("a commit"),
            seen_at: time("2026-11-25T10:02:00Z"),
        });
        true
    };
    store.update(&key(), &change).await.expect("recorded");
    let written = cluster
        .fake
        .object(
            "agentpods.dev",
            "v1alpha1",
            "agentapprovals",
            HOME,
            &object_name(&key()),
        )
        .expect("the AgentApproval");
    let expected = frozen(newest);
    assert_eq!(
        written["spec"], expected["spec"],
        "today's store writes a record differently from {newest}: a stored field was \
         renamed, removed or retyped. Keep the stored form (or add a version the old \
         records still read under); never edit the fixture."
    );
    assert_eq!(
        written["metadata"]["labels"], expected["metadata"]["labels"],
        "{newest}"
    );
}
