//! AgentApproval: the record of a fork pull request's heads and approvals, one object per
//! pull request in the service's own namespace (where its Lease lives, and where agent
//! pods have no API rights). `agentpods crd --approvals` prints the definition.
//!
//! A CRD rather than labelled ConfigMaps: the service's Role can then name exactly this
//! resource, where a ConfigMap write in its own namespace would also reach the ConfigMap
//! holding services.yaml; and the API server checks the record's schema.
//!
//! Several replicas may write the same record: every write carries the resourceVersion
//! it read (a create, none), and a 409 reads again and reapplies the change, so no
//! replica's write is lost.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, CustomResource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::github::event::{CommitSha, Login};
use crate::ids::CommentId;
use crate::names::{dns_label, short_hash};
use crate::ports::approvals::{
    ApprovalEntry, ApprovalError, ApprovalStore, Change, PullRequestKey, PullRequestRecord,
    SeenHead, StoreFuture,
};

/// How many times a write is tried against other replicas' writes.
const ATTEMPTS: u32 = 16;

// kube's derive takes one `printcolumn(...)` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "agentpods.dev",
    version = "v1alpha1",
    kind = "AgentApproval",
    plural = "agentapprovals",
    category = "agentpods",
    namespaced,
    doc = "The heads of one pull request the service has seen, and the maintainers' approvals of them. Written by the service alone.",
    printcolumn(name = "Repo", type_ = "string", json_path = ".spec.repository"),
    printcolumn(name = "PR", type_ = "integer", json_path = ".spec.number"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalSpec {
    /// `owner/name`, lowercase.
    pub repository: String,
    /// The pull request's number.
    pub number: u64,
    /// Head commits seen in pull_request events, oldest first (bounded).
    #[serde(default)]
    pub heads: Vec<HeadSeen>,
    /// Approvals, oldest first (bounded).
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadSeen {
    /// The full commit SHA.
    pub sha: String,
    /// When the service saw it.
    pub seen_at: Time,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The full 40-hex commit SHA approved.
    pub sha: String,
    /// The approver's GitHub login.
    pub approved_by: String,
    /// When the service recorded the approval.
    pub approved_at: Time,
    /// The id of the comment that carried `approve`.
    pub comment_id: u64,
}

/// A commit the record holds that is not one: the record is not as the service wrote it.
#[derive(Debug, thiserror::Error)]
#[error("its {field} {index} is not a full commit id")]
pub struct NotACommit {
    field: &'static str,
    index: usize,
    #[source]
    source: crate::github::event::ValueError,
}

/// A commit as the record holds it: the service writes it in full and lowercase; case is
/// forgiven, nothing else (a prefix or junk names no commit).
fn commit(sha: &str, field: &'static str, index: usize) -> Result<CommitSha, NotACommit> {
    sha.to_ascii_lowercase()
        .parse()
        .map_err(|source| NotACommit {
            field,
            index,
            source,
        })
}

impl AgentApprovalSpec {
    fn record(&self) -> Result<PullRequestRecord, NotACommit> {
        Ok(PullRequestRecord {
            heads: self
                .heads
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    Ok(SeenHead {
                        sha: commit(&h.sha, "head", i)?,
                        seen_at: h.seen_at.0,
                    })
                })
                .collect::<Result<_, NotACommit>>()?,
            approvals: self
                .approvals
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    Ok(ApprovalEntry {
                        sha: commit(&a.sha, "approval", i)?,
                        approved_by: Login::from(a.approved_by.as_str()),
                        approved_at: a.approved_at.0,
                        comment_id: CommentId(a.comment_id),
                    })
                })
                .collect::<Result<_, NotACommit>>()?,
        })
    }

    fn new(key: &PullRequestKey, record: &PullRequestRecord) -> AgentApprovalSpec {
        AgentApprovalSpec {
            repository: key.repository.to_string(),
            number: key.number.get(),
            heads: record
                .heads
                .iter()
                .map(|h| HeadSeen {
                    sha: h.sha.to_string(),
                    seen_at: Time(h.seen_at),
                })
                .collect(),
            approvals: record
                .approvals
                .iter()
                .map(|a| Approval {
                    sha: a.sha.to_string(),
                    approved_by: a.approved_by.to_string(),
                    approved_at: Time(a.approved_at),
                    comment_id: a.comment_id.get(),
                })
                .collect(),
        }
    }
}

/// The object's name: readable, and unique per repository and number.
pub fn object_name(key: &PullRequestKey) -> String {
    let hash = short_hash(&[key.repository.as_str(), &key.number.to_string()]);
    let suffix = format!("-pr{}-{hash}", key.number);
    let mut head = dns_label(&key.repository.as_str().replace('/', "-"));
    head.truncate(63usize.saturating_sub(suffix.len()));
    format!("{}{suffix}", head.trim_end_matches('-'))
}

/// The CustomResourceDefinition as YAML.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&AgentApproval::crd()).unwrap_or_default()
}

/// Approval records as AgentApproval objects in one namespace.
#[derive(Clone)]
pub struct KubeApprovals {
    api: Api<AgentApproval>,
    namespace: String,
}

impl KubeApprovals {
    pub fn new(client: Client, namespace: &str) -> KubeApprovals {
        KubeApprovals {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
        }
    }

    async fn read(&self, key: &PullRequestKey) -> Result<Option<AgentApproval>, ApprovalError> {
        self.api
            .get_opt(&object_name(key))
            .await
            .map_err(|e| ApprovalError::Read {
                key: key.clone(),
                source: Box::new(e),
            })
    }

    /// The record an object holds (an empty one for none). One that is not as the service
    /// writes it cannot be read: nothing is approved from it, and nothing written over it.
    fn record(
        key: &PullRequestKey,
        object: Option<&AgentApproval>,
    ) -> Result<PullRequestRecord, ApprovalError> {
        object
            .map(|o| o.spec.record())
            .transpose()
            .map(Option::unwrap_or_default)
            .map_err(|e| ApprovalError::Read {
                key: key.clone(),
                source: Box::new(e),
            })
    }
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 409)
}

impl ApprovalStore for KubeApprovals {
    fn get<'a>(&'a self, key: &'a PullRequestKey) -> StoreFuture<'a, PullRequestRecord> {
        Box::pin(async move { Self::record(key, self.read(key).await?.as_ref()) })
    }

    fn update<'a>(&'a self, key: &'a PullRequestKey, change: Change<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = object_name(key);
            for _ in 0..ATTEMPTS {
                let current = self.read(key).await?;
                let mut record = Self::record(key, current.as_ref())?;
                if !change(&mut record) {
                    return Ok(());
                }
                let spec = AgentApprovalSpec::new(key, &record);
                let result = match current {
                    // The resourceVersion read is carried: a write in between is a 409.
                    Some(mut object) => {
                        object.spec = spec;
                        self.api
                            .replace(&name, &PostParams::default(), &object)
                            .await
                            .map(drop)
                    }
                    None => {
                        let object = AgentApproval {
                            metadata: ObjectMeta {
                                name: Some(name.clone()),
                                labels: Some(
                                    [(
                                        crate::render::keys::MANAGED_BY.to_string(),
                                        "agentpods".to_string(),
                                    )]
                                    .into(),
                                ),
                                ..ObjectMeta::default()
                            },
                            spec,
                        };
                        self.api
                            .create(&PostParams::default(), &object)
                            .await
                            .map(drop)
                    }
                };
                match result {
                    Ok(()) => return Ok(()),
                    Err(e) if conflict(&e) => continue,
                    Err(e) => {
                        return Err(ApprovalError::Write {
                            key: key.clone(),
                            source: Box::new(e),
                        });
                    }
                }
            }
            Err(ApprovalError::Contended {
                key: key.clone(),
                attempts: ATTEMPTS,
            })
        })
    }

    fn describe(&self) -> String {
        format!("AgentApproval objects in namespace {}", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(heads: &[&str], approvals: &[&str]) -> AgentApprovalSpec {
        let at = Time("2026-01-01T00:00:00Z".parse().expect("a timestamp"));
        AgentApprovalSpec {
            repository: "o/r".into(),
            number: 1,
            heads: heads
                .iter()
                .map(|sha| HeadSeen {
                    sha: sha.to_string(),
                    seen_at: at.clone(),
                })
                .collect(),
            approvals: approvals
                .iter()
                .map(|sha| Approval {
                    sha: sha.to_string(),
                    approved_by: "m".into(),
                    approved_at: at.clone(),
                    comment_id: 1,
                })
                .collect(),
        }
    }

    const A: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_stored_record_names_full_commits_or_is_not_read() {
        let record = spec(&[A], &[&A.to_uppercase()])
            .record()
            .expect("case is forgiven");
        let a: CommitSha = A.parse().expect("a commit");
        assert!(record.approves(&a));
        assert_eq!(record.heads[0].sha, a);
        // What the service never writes: a prefix, junk. Before, such an entry was kept
        // as text and compared at every use.
        for (heads, approvals, said) in [
            (
                &[][..],
                &[&A[..12]][..],
                "its approval 0 is not a full commit id",
            ),
            (
                &[A, "main"][..],
                &[][..],
                "its head 1 is not a full commit id",
            ),
        ] {
            let error = spec(heads, approvals).record().expect_err("not a commit");
            assert!(error.to_string().starts_with(said), "{error}");
        }
    }

    #[test]
    fn names_are_dns_labels_unique_per_pull_request() {
        let a = object_name(&PullRequestKey::new(
            &"Codertocat/Hello-World".parse().expect("a repository"),
            crate::ids::IssueNumber(2),
        ));
        let b = object_name(&PullRequestKey::new(
            &"codertocat/hello-world".parse().expect("a repository"),
            crate::ids::IssueNumber(2),
        ));
        let c = object_name(&PullRequestKey::new(
            &"Codertocat/Hello-World".parse().expect("a repository"),
            crate::ids::IssueNumber(3),
        ));
        assert_eq!(a, b, "GitHub's names are case-insensitive");
        assert_ne!(a, c);
        assert!(a.starts_with("codertocat-hello-world-pr2-"), "{a}");
        let long = object_name(&PullRequestKey::of_stored(
            &"x".repeat(200),
            crate::ids::IssueNumber(123_456),
        ));
        assert!(long.len() <= 63, "{long}");
        assert!(long.contains("-pr123456-"), "{long}");
    }
}
