//! What a run costs in API requests, per trigger, from the webhook to the final report
//! (issue 15): one installation has 5,000 GitHub requests an hour, so each request a run
//! makes is a run fewer. Each story delivers one signed webhook to the real intake, the
//! controller takes the run to success against the fake API server, and the story checks
//! every GitHub request (as the REST description's operation, no ids) and every Kubernetes
//! write (Events included) against an explicit list. A change that adds or removes a
//! request fails here and prints the new list.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use agentpods::agentrun::Phase;
use agentpods::clock::Clock;
use agentpods::cluster::launch::ClusterLauncher;
use agentpods::cluster::report::{AppTokens, GithubReports};
use agentpods::github::webhook::WebhookSecrets;
use agentpods::serve::http::AppState;
use agentpods::serve::reload::{ConfigStore, run_namespaces};
use support::cluster::Cluster;
use support::fake_github::{Content, FakeGithub, manual_clock};
use support::fake_kube::PodScript;
use support::fixtures::{EXAMPLE_CONFIG, fixture, variant};
use support::server::{Post, SECRET, TestService, Workdir, within};

const REPO: &str = "Codertocat/Hello-World";
const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const RESULT: &str = r#"{"conclusion":"success","summary":"Looks good: two nits inline."}"#;

/// A request count for one run: what GitHub was asked, what Kubernetes was told.
struct Bill {
    github: Vec<String>,
    kube: Vec<String>,
    /// The service's `/metrics` at the end, and how many requests the fake GitHub had in all.
    metrics: String,
    github_total: usize,
}

/// The service as `serve` makes it against both fakes: one GitHub client (one token cache)
/// for the intake, the controller's reports and the runs' tokens; the launcher and the
/// controller as the service's ServiceAccount. Delivers `post`, waits until the run has
/// succeeded and both fakes have fallen quiet, and returns the bill.
async fn bill(post: Post) -> Bill {
    bills(vec![post], Duration::ZERO)
        .await
        .pop()
        .expect("a bill")
}

/// The same for each post in turn, on one service, the clock moved on by `between` after
/// each run: a bill per run.
async fn bills(posts: Vec<Post>, between: Duration) -> Vec<Bill> {
    bills_in(posts, between, None).await
}

/// [`bills`], with services.yaml's `repository_config` on and `own_file` as the
/// repository's `.agentpods.yaml` on its default branch, when given.
async fn bills_in(posts: Vec<Post>, between: Duration, own_file: Option<&str>) -> Vec<Bill> {
    let clock = manual_clock();
    let github = FakeGithub::start(clock.clone()).await;
    github.install(REPO, 77);
    github.set_role(REPO, "Codertocat", "admin");
    github.add_pull(REPO, 1, HEAD, REPO);
    github.add_pull(REPO, 2, HEAD, REPO);
    github.set_branch(REPO, "master", HEAD);
    github.set_tag(REPO, "0.0.1", HEAD);
    github.set_tag(REPO, "simple-tag", HEAD);
    let client = github.app_client(clock.clone());

    let mut cluster = Cluster::with_config(std::path::Path::new(EXAMPLE_CONFIG)).await;
    cluster.reports = Some(Arc::new(GithubReports::new(
        client.clone(),
        cluster.config_source(),
    )));
    cluster.tokens = Some(Arc::new(AppTokens(client.clone())));
    cluster.fake.run_kubelet(|_| PodScript::stays_running());
    cluster.start_controller();

    let work = Workdir::new();
    if let Some(text) = own_file {
        work.edit_config("\nagents:\n", "\nrepository_config: {}\nagents:\n");
        github.put_content(
            REPO,
            "master",
            ".agentpods.yaml",
            Content::File(text.as_bytes().to_vec()),
        );
    }
    let config = ConfigStore::load(&work.config()).expect("the example config");
    let launcher = ClusterLauncher::new(
        cluster.service.clone(),
        cluster.clock.clone() as Arc<dyn Clock>,
    )
    .in_namespaces(run_namespaces(config.current().engine()));
    let state = AppState::new(
        WebhookSecrets::parse_list(SECRET).expect("the secret"),
        config,
        Arc::new(launcher),
    )
    .with_github(Some(client));
    let service = TestService {
        work,
        state: Arc::new(state),
    };

    let mut out = Vec::new();
    let mut seen = Vec::new();
    for post in posts {
        let kube_before = cluster.fake.request_count();
        let github_before = github.requests().len();
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 202, "{}", reply.text());

        let (namespace, name) = {
            let runs: kube::Api<agentpods::agentrun::AgentRun> =
                kube::Api::all(cluster.client.clone());
            let listed: Vec<_> = runs
                .list(&Default::default())
                .await
                .expect("list the runs")
                .items
                .into_iter()
                .filter(|r| !seen.contains(&kube::ResourceExt::name_any(r)))
                .collect();
            assert_eq!(listed.len(), 1, "one run");
            (
                kube::ResourceExt::namespace(&listed[0]).expect("a namespace"),
                kube::ResourceExt::name_any(&listed[0]),
            )
        };
        seen.push(name.clone());
        // The agent works a while: GitHub hears it started.
        cluster
            .wait_for(&name, "GitHub to hear it started", |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    == Some(Phase::Running)
            })
            .await;
        quiet(&cluster, &github).await;
        // Then it finishes, and GitHub hears how.
        let pod = cluster
            .fake
            .job_pod(&namespace, &name)
            .unwrap_or_else(|| name.clone());
        assert!(
            cluster
                .fake
                .finish_pod(&namespace, &pod, &PodScript::succeeds(RESULT)),
            "the pod {pod} finishes"
        );
        cluster.wait_phase(&name, Phase::Succeeded).await;
        quiet(&cluster, &github).await;
        assert_eq!(github.violations(), Vec::<String>::new());
        let metrics = service.oneshot(&Post::get("/metrics")).await.text();
        out.push(Bill {
            github: github.operations().split_off(github_before),
            kube: cluster.fake.writes_since(kube_before),
            metrics,
            github_total: github.requests().len(),
        });
        clock.advance(between);
    }
    out
}

/// Waits until neither fake has had a request for half a second: the run's last report,
/// its token's revocation and its last Event are in.
async fn quiet(cluster: &Cluster, github: &FakeGithub) {
    let mut last = (0, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let writes = cluster.fake.writes_since(0).len();
        let now = (writes, github.requests().len());
        if now == last {
            return;
        }
        last = now;
    }
}

/// Checks the bill against the lists expected, printing both lists as they now are when
/// either differs.
fn check(bill: &Bill, github: &[&str], kube: &[&str]) {
    if bill.github != github || bill.kube != kube {
        let listed =
            |got: &[String]| -> String { got.iter().map(|r| format!("    {r:?},\n")).collect() };
        panic!(
            "GitHub: {} requests ({} expected), Kubernetes: {} writes ({} expected); now:\n\
             GitHub:\n[\n{}]\nKubernetes:\n[\n{}]",
            bill.github.len(),
            github.len(),
            bill.kube.len(),
            kube.len(),
            listed(&bill.github),
            listed(&bill.kube)
        );
    }
}

/// The value of the series `series` (name and labels, as written) in a scrape.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Another `/agent run` on pull request 2: a comment of its own, in a delivery of its own.
fn another_comment(id: &str, comment: u64) -> Post {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&comment_on_pr(id).body).expect("JSON");
    payload["comment"]["id"] = comment.into();
    payload["comment"]["updated_at"] = "2026-12-02T11:00:00Z".into();
    Post::delivery(
        "issue_comment",
        id,
        serde_json::to_vec(&payload).expect("JSON"),
    )
}

fn comment_on_pr(id: &str) -> Post {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&variant("issue_comment/run-on-pull-request.json").body())
            .expect("JSON");
    payload["issue"]["number"] = 2.into();
    Post::delivery(
        "issue_comment",
        id,
        serde_json::to_vec(&payload).expect("JSON"),
    )
}

/// What a pull request opened costs GitHub, with the example services.yaml.
const OPENED: [&str; 11] = [
    "GET /app -> 200",
    "GET /repos/{owner}/{repo}/installation -> 200",
    "POST /app/installations/{installation_id}/access_tokens -> 201",
    "GET /repos/{owner}/{repo}/collaborators/{username}/permission -> 200",
    "POST /app/installations/{installation_id}/access_tokens -> 201",
    "POST /repos/{owner}/{repo}/check-runs -> 201",
    "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/comments -> 201",
    "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
    "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} -> 200",
    "DELETE /installation/token -> 204",
];

#[tokio::test]
async fn a_pull_request_opened_costs_its_review() {
    within(120, async {
        let bill = bill(Post::delivery(
            "pull_request",
            "d-opened",
            fixture("pull_request/opened.json").body(),
        ))
        .await;
        check(
            &bill,
            &OPENED,
            &[
                "POST /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns",
                "POST /api/v1/namespaces/{namespace}/secrets",
                "PATCH /api/v1/namespaces/{namespace}/configmaps/{name} apply",
                "PATCH /api/v1/namespaces/{namespace}/pods/{name} apply",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
            ],
        );
    })
    .await;
}

#[tokio::test]
async fn an_agent_run_comment_on_a_pull_request_costs_its_run() {
    within(120, async {
        let bill = bill(comment_on_pr("d-comment")).await;
        check(
            &bill,
            &[
                "GET /app -> 200",
                "GET /repos/{owner}/{repo}/installation -> 200",
                "POST /app/installations/{installation_id}/access_tokens -> 201",
                "GET /repos/{owner}/{repo}/collaborators/{username}/permission -> 200",
                "GET /repos/{owner}/{repo}/pulls/{pull_number} -> 200",
                "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions -> 201",
                "POST /app/installations/{installation_id}/access_tokens -> 201",
                "POST /repos/{owner}/{repo}/check-runs -> 201",
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
                "POST /repos/{owner}/{repo}/issues/{issue_number}/comments -> 201",
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
                "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} -> 200",
                "DELETE /installation/token -> 204",
            ],
            &[
                "POST /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns",
                "POST /api/v1/namespaces/{namespace}/secrets",
                "PATCH /api/v1/namespaces/{namespace}/configmaps/{name} apply",
                "PATCH /api/v1/namespaces/{namespace}/pods/{name} apply",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
            ],
        );

        // The service counts what it asked, by endpoint template, and what GitHub says is
        // left of the hour's requests.
        let total: f64 = bill
            .metrics
            .lines()
            .filter(|l| l.starts_with("agentpods_github_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(total as usize, bill.github_total, "{}", bill.metrics);
        assert_eq!(
            sample(
                &bill.metrics,
                r#"agentpods_github_requests_total{endpoint="POST /repos/{owner}/{repo}/check-runs",outcome="ok"}"#
            ),
            Some(1.0),
            "{}",
            bill.metrics
        );
        assert!(
            !bill.metrics.contains("Codertocat") && !bill.metrics.contains("Hello-World"),
            "no owner or repository in a label: {}",
            bill.metrics
        );
        // What GitHub last said of each budget: the installation's and the App's own (the
        // fake keeps one window for all, so the installation's is what was left after its
        // last request, at most a few before the end).
        let limit = support::fake_github::RATE_LIMIT as f64;
        let left = sample(
            &bill.metrics,
            r#"agentpods_github_rate_limit_remaining{budget="installation/77"}"#,
        )
        .unwrap_or_else(|| panic!("the installation's budget: {}", bill.metrics));
        assert!(
            left >= limit - bill.github_total as f64 && left < limit,
            "{left}: {}",
            bill.metrics
        );
        assert!(
            sample(
                &bill.metrics,
                r#"agentpods_github_rate_limit_remaining{budget="app"}"#
            )
            .is_some(),
            "the App's own budget: {}",
            bill.metrics
        );
    })
    .await;
}

#[tokio::test]
async fn a_pushed_tag_costs_its_image_build() {
    within(120, async {
        let bill = bill(Post::delivery(
            "push",
            "d-tag",
            fixture("push/0.json").body(),
        ))
        .await;
        check(
            &bill,
            &[
                "GET /app -> 200",
                "GET /repos/{owner}/{repo}/installation -> 200",
                "POST /app/installations/{installation_id}/access_tokens -> 201",
                "GET /repos/{owner}/{repo}/collaborators/{username}/permission -> 200",
                "POST /app/installations/{installation_id}/access_tokens -> 201",
                "POST /repos/{owner}/{repo}/check-runs -> 201",
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
                "DELETE /installation/token -> 204",
            ],
            &[
                "POST /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns",
                "POST /api/v1/namespaces/{namespace}/secrets",
                "PATCH /apis/batch/v1/namespaces/{namespace}/jobs/{name} apply",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
            ],
        );
    })
    .await;
}

#[tokio::test]
async fn a_published_release_costs_its_task() {
    within(120, async {
        let bill = bill(Post::delivery(
            "release",
            "d-release",
            fixture("release/published.json").body(),
        ))
        .await;
        check(
            &bill,
            &[
                "GET /app -> 200",
                "GET /repos/{owner}/{repo}/installation -> 200",
                "POST /app/installations/{installation_id}/access_tokens -> 201",
                "GET /repos/{owner}/{repo}/git/ref/{ref} -> 200",
                "GET /repos/{owner}/{repo}/collaborators/{username}/permission -> 200",
                "POST /app/installations/{installation_id}/access_tokens -> 201",
                "POST /repos/{owner}/{repo}/check-runs -> 201",
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
                "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} -> 200",
                "DELETE /installation/token -> 204",
            ],
            &[
                "POST /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns",
                "POST /api/v1/namespaces/{namespace}/secrets",
                "PATCH /api/v1/namespaces/{namespace}/configmaps/{name} apply",
                "PATCH /api/v1/namespaces/{namespace}/pods/{name} apply",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
                "PUT /apis/agentpods.dev/v1alpha1/namespaces/{namespace}/agentruns/{name}/status",
                "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
            ],
        );
    })
    .await;
}

/// A second command on the same pull request asks again (a permission is never
/// remembered), conditionally: GitHub answers 304 for the permission and the pull
/// request, unchanged, and does not count those against the limit.
#[tokio::test]
async fn a_second_command_on_the_same_pull_request_reads_again_with_etags() {
    within(120, async {
        let mut runs = bills(
            vec![comment_on_pr("d-first"), another_comment("d-second", 492700401)],
            Duration::from_secs(120),
        )
        .await;
        let second = runs.pop().expect("the second run");
        let reads: Vec<&String> = second
            .github
            .iter()
            .filter(|r| r.starts_with("GET "))
            .collect();
        assert_eq!(
            reads,
            [
                "GET /repos/{owner}/{repo}/collaborators/{username}/permission -> 304",
                "GET /repos/{owner}/{repo}/pulls/{pull_number} -> 304",
            ],
            "{:#?}",
            second.github
        );
        assert_eq!(
            sample(
                &second.metrics,
                r#"agentpods_github_requests_total{endpoint="GET /repos/{owner}/{repo}/pulls/{id}",outcome="not_modified"}"#
            ),
            Some(1.0),
            "{}",
            second.metrics
        );
    })
    .await;
}

/// With `repository_config` on, a pull request opened costs one request more: the
/// repository's `.agentpods.yaml`, read from its default branch; the next delivery reads
/// it again conditionally, and GitHub answers 304 (not counted) while it is unchanged.
#[tokio::test]
async fn a_repository_s_own_file_costs_one_read_then_none_while_unchanged() {
    within(120, async {
        let mut runs = bills_in(
            vec![
                Post::delivery(
                    "pull_request",
                    "d-opened",
                    fixture("pull_request/opened.json").body(),
                ),
                comment_on_pr("d-comment"),
            ],
            Duration::from_secs(120),
            Some("agents: [review, task]\n"),
        )
        .await;
        let second = runs.pop().expect("the comment's run");
        let first = runs.pop().expect("the review's run");
        // The example's rows, and the file read before the permission.
        let mut expected = OPENED.to_vec();
        expected.insert(3, "GET /repos/{owner}/{repo}/contents/{path} -> 200");
        let kube: Vec<&str> = first.kube.iter().map(String::as_str).collect();
        check(&first, &expected, &kube);
        let reads: Vec<&String> = second
            .github
            .iter()
            .filter(|r| r.contains("/contents/"))
            .collect();
        assert_eq!(
            reads,
            ["GET /repos/{owner}/{repo}/contents/{path} -> 304"],
            "{:#?}",
            second.github
        );
    })
    .await;
}
