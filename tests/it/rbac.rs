//! The service's Kubernetes rights are exactly what its code uses. Every scenario runs the
//! launcher and the controller as the service's ServiceAccount on the fake API server, which
//! authorises each request against deploy/base/rbac.yaml as the API server's RBAC authorizer
//! does: a verb the code needs and the rules lack fails the scenario (the request gets 403,
//! and the fake records it), and a grant no scenario uses fails
//! `the_rules_grant_nothing_the_scenarios_do_not_use`.
//!
//! The internet-facing service is the one most likely to be taken over; whoever holds its
//! token must not read the model's API key, or any Secret, in the runs' namespaces.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use agentpods::agentrun::CancelReason;
use agentpods::agentrun::Phase;
use agentpods::cluster::approvals::KubeApprovals;
use agentpods::cluster::lease::{LeaseOptions, release, try_acquire};
use agentpods::config::Permission;
use agentpods::github::event::CommitSha;
use agentpods::ports::approvals::{
    ApprovalEntry, ApprovalStore, PullRequestKey, PullRequestRecord,
};
use agentpods::ports::launcher::{CancelRuns, Launcher, RetryRun, RunAgain};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::cluster::{BUILDS, Cluster, RBAC, RUNS, SERVICE_USER};
use support::fake_kube::PodScript;
use support::fake_kube::rbac::Grant;
use support::fixtures::{fixture, variant};

const RESULT: &str = r#"{"conclusion":"success","summary":"done"}"#;

/// Where the service works: the runs' namespaces (the agents', the image builds') and its own.
const NAMESPACES: &[&str] = &[RUNS, BUILDS, "agentpods"];

async fn timed<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the scenario finished within a minute")
}

/// Ends the scenario: nothing the service asked was refused; what it used.
fn used(cluster: &Cluster) -> BTreeSet<Grant> {
    let refused = cluster.fake.refused();
    assert!(
        refused.is_empty(),
        "the service was refused what its code needs: {refused:#?}"
    );
    cluster.fake.used_grants(SERVICE_USER)
}

/// A review on an opened pull request, superseded by a push, the second run to success.
async fn a_review_superseded_by_a_push() -> BTreeSet<Grant> {
    let cluster = Cluster::start().await;
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    let first = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-opened")
        .await;
    cluster.wait_phase(&first, Phase::Running).await;
    cluster.clock.advance(Duration::from_secs(60));
    let second = cluster
        .deliver_one(&fixture("pull_request/synchronize.json"), "d-sync")
        .await;
    cluster.wait_phase(&first, Phase::Cancelled).await;
    cluster.wait_phase(&second, Phase::Running).await;
    assert!(
        cluster
            .fake
            .finish_pod(RUNS, &second, &PodScript::succeeds(RESULT))
    );
    cluster.wait_phase(&second, Phase::Succeeded).await;
    used(&cluster)
}

/// `/agent run` on an issue: the task agent to success, then `/agent retry` runs it again.
async fn a_comment_run_and_its_retry() -> BTreeSet<Grant> {
    let cluster = Cluster::start().await;
    cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
    let name = cluster
        .deliver_one(&variant("issue_comment/run-on-issue.json"), "d-run")
        .await;
    let run = cluster.wait_phase(&name, Phase::Succeeded).await;
    assert_eq!(run.spec.agent, "task");
    let again = cluster
        .launcher
        .retry(&RetryRun {
            repository: run.spec.repository.parse().expect("a repository"),
            number: agentpods::ids::IssueNumber(run.spec.issue.expect("about an issue")),
            delivery: agentpods::github::webhook::DeliveryId::parse(Some(b"d-retry"))
                .expect("a delivery id"),
            requested_by: "Codertocat".into(),
            may: cluster
                .config_source()
                .in_force()
                .planner()
                .again_as("Codertocat", Permission::Admin),
            queued_per_repository: agentpods::config::Limits::default().queued_per_repository,
        })
        .await
        .expect("the retry is recorded");
    let RunAgain::Recorded(again) = again else {
        panic!("a run to retry: {again:?}");
    };
    cluster.wait_phase(&again, Phase::Succeeded).await;
    used(&cluster)
}

/// `/agent stop` on a pull request: the running review is cancelled and its pod deleted.
async fn a_stop_command() -> BTreeSet<Grant> {
    let cluster = Cluster::start().await;
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-stop")
        .await;
    let run = cluster.wait_phase(&name, Phase::Running).await;
    let asked = cluster
        .launcher
        .cancel(&CancelRuns {
            repository: run.spec.repository.parse().expect("a repository"),
            number: agentpods::ids::IssueNumber(2),
            reason: CancelReason::StoppedBy("Codertocat".into()),
            asked_at: None,
        })
        .await
        .expect("the cancel is recorded");
    assert_eq!(asked, 1);
    cluster.wait_phase(&name, Phase::Cancelled).await;
    assert!(cluster.pods_of(&name).await.is_empty());
    used(&cluster)
}

/// A pushed tag builds its image in a Job, to success; a second build is cancelled by an
/// operator, which deletes its Job.
async fn image_builds() -> BTreeSet<Grant> {
    let cluster = Cluster::start().await;
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    let built = cluster.deliver_one(&fixture("push/0.json"), "d-tag").await;
    let run = cluster.wait_phase(&built, Phase::Running).await;
    let ns = run.namespace().unwrap_or_default();
    // The Job's pod ends, and with it the Job.
    assert!(cluster.fake.finish_pod(
        &ns,
        &cluster.fake.job_pod(&ns, &built).expect("the Job's pod"),
        &PodScript::succeeds(RESULT)
    ));
    let run = cluster.wait_phase(&built, Phase::Succeeded).await;
    assert_eq!(run.spec.agent, "image");
    assert_eq!(ns, BUILDS, "image builds run apart");
    assert!(run.status.and_then(|s| s.job_name).is_some());

    let stays = cluster
        .deliver_one(&fixture("push/0.json"), "d-tag-stays")
        .await;
    cluster.wait_phase(&stays, Phase::Running).await;
    let patch = json!({"spec": {"cancel": "stopped by an operator"}});
    Api::<agentpods::agentrun::AgentRun>::namespaced(cluster.client.clone(), &ns)
        .patch(&stays, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("cancel the build");
    cluster.wait_phase(&stays, Phase::Cancelled).await;
    used(&cluster)
}

/// A finished run is deleted after its TTL (and its replay guard, 3 days and an hour).
async fn a_run_deleted_after_its_ttl() -> BTreeSet<Grant> {
    let cluster = Cluster::start().await;
    cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-ttl")
        .await;
    cluster.wait_phase(&name, Phase::Succeeded).await;
    cluster
        .clock
        .advance(Duration::from_secs(3 * 24 * 3600 + 2 * 3600));
    cluster
        .wait_for(&name, "deletion after its TTL", |r| r.is_none())
        .await;
    used(&cluster)
}

/// With the GitHub App: each run gets its token in a Secret the controller creates (and
/// never reads), and GitHub hears how the run went (recorded in the run's status).
async fn a_run_with_its_token_reported_to_github() -> BTreeSet<Grant> {
    use agentpods::cluster::report::{AppTokens, GithubReports};
    use agentpods::github_client::{ClientConfig, Credentials, GithubClient, RetryPolicy};
    use support::fake_github::{APP_ID, APP_KEY_PEM, FakeGithub, manual_clock};
    let clock = manual_clock();
    let github = FakeGithub::start(clock.clone()).await;
    github.install("Codertocat/Hello-World", 77);
    let mut config = ClientConfig::new(Credentials::App {
        app_id: APP_ID,
        private_key_pem: agentpods::github_client::Secret::new(APP_KEY_PEM),
    });
    config.base_url = github.url();
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        jitter_seed: Some(7),
        ..RetryPolicy::default()
    };
    let client = Arc::new(GithubClient::new(config, clock).expect("a GitHub client"));
    let mut cluster = Cluster::without_controller().await;
    cluster.reports = Some(Arc::new(GithubReports::new(
        client.clone(),
        cluster.config_source(),
    )));
    cluster.tokens = Some(Arc::new(AppTokens(client)));
    cluster.start_controller();
    cluster.fake.run_kubelet(|_| PodScript::succeeds(RESULT));
    let name = cluster
        .deliver_one(&fixture("pull_request/opened.json"), "d-token")
        .await;
    cluster
        .wait_for(&name, "GitHub to hear it finished", |r| {
            r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                == Some(Phase::Succeeded)
        })
        .await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), RUNS);
    let secret = secrets
        .get(&format!("{name}-github-token-1"))
        .await
        .expect("the run's token Secret");
    assert_eq!(secret.owner_references()[0].name, name);
    assert_eq!(secret.immutable, Some(true));
    used(&cluster)
}

/// Two replicas share the Lease at home: taken, renewed by its holder, given up.
async fn leader_election() -> BTreeSet<Grant> {
    let cluster = Cluster::without_controller().await;
    let leases: Api<Lease> = Api::namespaced(cluster.service.clone(), "agentpods");
    let a = LeaseOptions::new("agentpods", "replica-a");
    let now = k8s_openapi::jiff::Timestamp::now();
    try_acquire(&leases, &a, now).await.expect("take the Lease");
    try_acquire(&leases, &a, now)
        .await
        .expect("renew the Lease");
    release(&leases, &a).await.expect("give the Lease up");
    used(&cluster)
}

/// Fork approvals at home: two replicas record heads and approvals of one pull request at
/// once (each write carries the resourceVersion it read; a 409 reads again), and none is
/// lost.
async fn approvals_at_home() -> BTreeSet<Grant> {
    let cluster = Cluster::without_controller().await;
    let replicas = [
        KubeApprovals::new(cluster.service.clone(), "agentpods"),
        KubeApprovals::new(cluster.service.clone(), "agentpods"),
    ];
    let key = PullRequestKey::new(
        &"Codertocat/Hello-World".parse().expect("a repository"),
        agentpods::ids::IssueNumber(2),
    );
    let start = k8s_openapi::jiff::Timestamp::now();
    let writes = replicas.iter().enumerate().map(|(replica, store)| {
        let key = &key;
        async move {
            for i in 0..5u64 {
                let sha: CommitSha = format!("{:040x}", replica as u64 * 100 + i)
                    .parse()
                    .expect("a commit");
                let at = start + k8s_openapi::jiff::SignedDuration::from_secs(i as i64);
                let entry = ApprovalEntry {
                    sha: sha.clone(),
                    approved_by: "Codertocat".into(),
                    approved_at: at,
                    comment_id: agentpods::ids::CommentId(i),
                };
                let change = move |r: &mut PullRequestRecord| {
                    let seen = r.see(&sha, at);
                    r.approve(entry.clone()) || seen
                };
                store.update(key, &change).await.expect("recorded");
            }
        }
    });
    futures_util::future::join_all(writes).await;
    let record = replicas[0].get(&key).await.expect("read back");
    assert_eq!(record.heads.len(), 10, "{record:#?}");
    assert_eq!(record.approvals.len(), 10, "{record:#?}");
    let writes = cluster
        .fake
        .requests()
        .iter()
        .filter(|r| (r.starts_with("PUT") || r.starts_with("POST")) && r.contains("agentapprovals"))
        .count();
    eprintln!("10 changes took {writes} writes (the rest were 409s, read again and reapplied)");
    used(&cluster)
}

#[tokio::test]
async fn approvals_need_no_more_than_the_rules() {
    timed(approvals_at_home()).await;
}

/// A run's pod (any ServiceAccount of the runs' namespaces) cannot write an approval: the
/// service's own namespace grants it nothing.
#[tokio::test]
async fn a_run_cannot_write_an_approval() {
    timed(async {
        let cluster = Cluster::without_controller().await;
        let run = cluster.fake.client_as(RUNS, "default");
        let store = KubeApprovals::new(run, "agentpods");
        let key = PullRequestKey::new(
            &"Codertocat/Hello-World".parse().expect("a repository"),
            agentpods::ids::IssueNumber(2),
        );
        let sha: CommitSha = format!("{:040x}", 7).parse().expect("a commit");
        let now = k8s_openapi::jiff::Timestamp::now();
        let change = move |r: &mut PullRequestRecord| {
            r.approve(ApprovalEntry {
                sha: sha.clone(),
                approved_by: "Codertocat".into(),
                approved_at: now,
                comment_id: agentpods::ids::CommentId(1),
            })
        };
        let err = store.update(&key, &change).await.expect_err("refused");
        // The error and its causes, as the service prints them (`text::with_causes`).
        let said: Vec<String> =
            std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect();
        let said = said.join(": ");
        assert!(said.contains("403") || said.contains("forbidden"), "{said}");
        assert!(
            cluster
                .fake
                .count(("agentpods.dev", "v1alpha1", "agentapprovals"), |_| true)
                == 0,
            "nothing was written"
        );
    })
    .await;
}

#[tokio::test]
async fn a_review_superseded_by_a_push_needs_no_more_than_the_rules() {
    timed(a_review_superseded_by_a_push()).await;
}

#[tokio::test]
async fn a_comment_run_and_its_retry_need_no_more_than_the_rules() {
    timed(a_comment_run_and_its_retry()).await;
}

#[tokio::test]
async fn a_stop_command_needs_no_more_than_the_rules() {
    timed(a_stop_command()).await;
}

#[tokio::test]
async fn image_builds_need_no_more_than_the_rules() {
    timed(image_builds()).await;
}

#[tokio::test]
async fn a_run_deleted_after_its_ttl_needs_no_more_than_the_rules() {
    timed(a_run_deleted_after_its_ttl()).await;
}

#[tokio::test]
async fn a_run_token_and_github_reports_need_no_more_than_the_rules() {
    timed(a_run_with_its_token_reported_to_github()).await;
}

#[tokio::test]
async fn leader_election_needs_no_more_than_the_rules() {
    timed(leader_election()).await;
}

/// A grant, with the runs' namespaces taken as one: they share one set of rules (what
/// running any run takes, whether its template renders a Pod or a Job), so a grant is used
/// when a scenario uses it in any of them.
fn in_any_runs_namespace(grant: Grant) -> Grant {
    if [RUNS, BUILDS].contains(&grant.namespace.as_str()) {
        Grant {
            namespace: "each runs' namespace".into(),
            ..grant
        }
    } else {
        grant
    }
}

/// The rules are exactly what the code uses: every grant is used by some scenario.
#[tokio::test]
async fn the_rules_grant_nothing_the_scenarios_do_not_use() {
    timed(async {
        let mut used = BTreeSet::new();
        used.extend(a_review_superseded_by_a_push().await);
        used.extend(a_comment_run_and_its_retry().await);
        used.extend(a_stop_command().await);
        used.extend(image_builds().await);
        used.extend(a_run_deleted_after_its_ttl().await);
        used.extend(a_run_with_its_token_reported_to_github().await);
        used.extend(leader_election().await);
        used.extend(approvals_at_home().await);

        let fake = support::fake_kube::FakeKube::start().await;
        fake.enforce_rbac(&std::fs::read_to_string(RBAC).expect("read deploy/base/rbac.yaml"));
        let granted: BTreeSet<Grant> = fake
            .granted(SERVICE_USER, NAMESPACES)
            .into_iter()
            .map(in_any_runs_namespace)
            .collect();
        let used: BTreeSet<Grant> = used.into_iter().map(in_any_runs_namespace).collect();
        let unused: Vec<String> = granted.difference(&used).map(ToString::to_string).collect();
        assert!(
            unused.is_empty(),
            "deploy/base/rbac.yaml grants what no scenario uses:\n  {}",
            unused.join("\n  ")
        );
        let beyond: Vec<String> = used.difference(&granted).map(ToString::to_string).collect();
        assert!(beyond.is_empty(), "used beyond the rules: {beyond:?}");
    })
    .await;
}

/// Finding 9 of issue 11: whoever takes over the internet-facing service (its token is in
/// its pod) reads no Secret where runs live: not the model's API key, not the registry's
/// push Secret of the builds' namespace, not a run's GitHub token; not by get, list, watch,
/// nor by a patch or delete that answers with the object. With the rules before this change
/// (get, list, watch, create, patch and delete on secrets) it read the key.
#[tokio::test]
async fn the_service_cannot_read_the_secrets_of_the_runs_namespaces() {
    timed(async {
        let cluster = Cluster::without_controller().await;
        for (ns, name, key) in [
            (RUNS, "openai-api-key", "api-key"),
            (BUILDS, "registry-push", ".dockerconfigjson"),
        ] {
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                string_data: Some([(key.to_string(), "sk-live-0123456789".to_string())].into()),
                ..Secret::default()
            };
            Api::<Secret>::namespaced(cluster.client.clone(), ns)
                .create(&PostParams::default(), &secret)
                .await
                .expect("the operator creates the Secret");
            cannot_read(&cluster, ns, name).await;
            // Creating is all it may do (each run's token).
            let mut token = secret.clone();
            token.metadata.name = Some("r-github-token-1".into());
            Api::<Secret>::namespaced(cluster.service.clone(), ns)
                .create(&PostParams::default(), &token)
                .await
                .expect("the service creates a run's token Secret");
        }
    })
    .await;
}

/// Every way the service might read Secret `name` in `ns` is refused with the API server's
/// 403.
async fn cannot_read(cluster: &Cluster, ns: &str, name: &str) {
    let stolen: Api<Secret> = Api::namespaced(cluster.service.clone(), ns);
    let forbidden = |result: Result<String, kube::Error>, how: &str| match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{how}: {status:?}");
            assert_eq!(status.reason, "Forbidden", "{how}");
            assert!(
                status.message.contains(&format!(
                    "User \"{SERVICE_USER}\" cannot {how} resource \"secrets\" in API group \"\" in the namespace \"{ns}\""
                )),
                "{how}: {}",
                status.message
            );
        }
        Ok(seen) => panic!("{how} in {ns}: the service read the Secret: {seen}"),
        Err(e) => panic!("{how}: {e}"),
    };
    let show = |s: Secret| format!("{:?}", s.data);
    forbidden(stolen.get(name).await.map(show), "get");
    forbidden(
        stolen
            .list(&ListParams::default())
            .await
            .map(|l| format!("{} secrets", l.items.len())),
        "list",
    );
    forbidden(
        stolen
            .patch(name, &PatchParams::default(), &Patch::Merge(&json!({})))
            .await
            .map(show),
        "patch",
    );
    let watch = {
        use futures_util::StreamExt;
        match stolen.watch(&kube::api::WatchParams::default(), "0").await {
            Ok(stream) => match Box::pin(stream).next().await {
                Some(Ok(kube::api::WatchEvent::Error(e))) => Err(kube::Error::Api(e)),
                Some(Err(e)) => Err(e),
                other => Ok(format!("{other:?}")),
            },
            Err(e) => Err(e),
        }
    };
    forbidden(watch, "watch");
    forbidden(
        stolen
            .delete(name, &Default::default())
            .await
            .map(|_| "deleted".to_string()),
        "delete",
    );
}

/// A template that renders what the service may not make (a Secret it would have to apply,
/// so patch: the rules grant create alone) fails its run at once, saying so, instead of
/// retrying forever against 403.
#[tokio::test]
async fn a_template_asking_for_what_the_rules_do_not_grant_fails_its_run_with_the_reason() {
    timed(async {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("services.yaml"))
            .expect("read services.yaml")
            .replacen(
                "templates: [agent-pod.yaml]",
                "templates: [agent-pod.yaml, extra-secret.yaml]",
                1,
            );
        std::fs::write(dir.path().join("services.yaml"), text).expect("write services.yaml");
        let templates = dir.path().join("templates");
        std::fs::create_dir_all(templates.join("prompts")).expect("mkdir");
        for sub in ["", "prompts"] {
            for entry in std::fs::read_dir(root.join("templates").join(sub))
                .expect("the templates")
                .flatten()
                .filter(|e| e.path().is_file())
            {
                std::fs::copy(entry.path(), templates.join(sub).join(entry.file_name()))
                    .expect("copy a template");
            }
        }
        std::fs::write(
            templates.join("extra-secret.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ run.name ~ \"-extra\" }}\nstringData:\n  note: hello\n",
        )
        .expect("write the template");

        let mut cluster = Cluster::with_config(&dir.path().join("services.yaml")).await;
        cluster.start_controller();
        let name = cluster
            .deliver_one(&fixture("pull_request/opened.json"), "d-extra")
            .await;
        let run = cluster.wait_phase(&name, Phase::Failed).await;
        let message = run.status.and_then(|s| s.message).unwrap_or_default();
        assert!(
            message.starts_with(&format!(
                "agent review: the service may not apply the Secret {name}-extra in namespace {RUNS} (its rules, deploy/base/rbac.yaml, do not grant it): secrets \"{name}-extra\" is forbidden: User \"{SERVICE_USER}\" cannot patch resource \"secrets\""
            )),
            "{message}"
        );
    })
    .await;
}
