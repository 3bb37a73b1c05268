//! A small language for stories about the service, in the style of rust-lang/bors's tests:
//! people act on the fake GitHub, GitHub delivers what they did as a signed webhook to the
//! real service, pods run on the fake API server, and the story reads what came back.
//!
//! ```ignore
//! let s = Scenario::new().in_cluster().start().await;
//! s.gh.set_role("Codertocat", "admin");
//! let pr = s.gh.open_pull_request(PullRequest::new(2)).await;
//! s.gh.comment(pr, "/agent run fix it").await.expect_status(202);
//! s.cluster.pod_succeeds(&run, RESULT).await;
//! s.gh.expect_comment(pr, contains("fix it"));
//! ```
//!
//! Each payload is made from GitHub's own example of its event (`examples/webhooks`), with
//! the repository, number, head, comment, author and times of the story filled in, and
//! signed: a story needs no payload file of its own. The fakes underneath are those of
//! `support`; a story that needs one directly reaches it through `s.gh.fake` or
//! `s.cluster`.

// A language: not every story says every word of it.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentpods::agentrun::{AgentRun, Phase};
use agentpods::cli::replay::HttpAnswer;
use agentpods::clock::{Clock, ManualClock};
use agentpods::cluster::approvals::KubeApprovals;
use agentpods::cluster::launch::ClusterLauncher;
use agentpods::cluster::report::{AppTokens, GithubReports};
use agentpods::github::webhook::WebhookSecrets;
use agentpods::serve::http::AppState;
use agentpods::serve::reload::{ConfigStore, run_namespaces};
use serde_json::{Value, json};

use crate::support::cluster::{Cluster, PATIENCE, RUNS};
use crate::support::fake_github::{APP_ID, Comment, Content, FakeGithub, manual_clock};
use crate::support::fake_kube::PodScript;
use crate::support::fixtures::{another_event, fixture, fresh};
use crate::support::server::{Post, SECRET, TestService, Workdir};

/// The repository of every story: the one GitHub's examples are about.
pub const REPO: &str = "Codertocat/Hello-World";

/// Its owner, who writes GitHub's example comment and opens its example pull request.
pub const OWNER: &str = "Codertocat";

/// The head of a pull request unless a story says otherwise (GitHub's example's).
pub const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/// The App's installation on [`REPO`].
const INSTALLATION: u64 = 77;

/// A story's setting, before it starts: the example services.yaml (as a story edits it)
/// and where runs go.
pub struct Scenario {
    edits: Vec<(String, String)>,
    in_cluster: bool,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario::new()
    }
}

impl Scenario {
    /// The example services.yaml, runs written as manifests to a folder (`serve --dry-run`),
    /// GitHub asked and answered as the App.
    pub fn new() -> Scenario {
        Scenario {
            edits: Vec::new(),
            in_cluster: false,
        }
    }

    /// services.yaml with `from` (which must be there) replaced by `to`.
    pub fn config(mut self, from: &str, to: &str) -> Scenario {
        self.edits.push((from.to_owned(), to.to_owned()));
        self
    }

    /// Runs recorded as AgentRuns on the fake API server, and the controller running them
    /// and reporting to the fake GitHub as the App, as `serve` does in a cluster. Pods keep
    /// running until the story ends them (`s.cluster.pod_succeeds`, `pod_fails`).
    pub fn in_cluster(mut self) -> Scenario {
        self.in_cluster = true;
        self
    }

    /// The fake GitHub (the App installed on [`REPO`], its branch `master` at [`HEAD`]), the
    /// service, and, [`Scenario::in_cluster`], the cluster.
    pub async fn start(self) -> Story {
        let clock = manual_clock();
        let fake = FakeGithub::start(clock.clone()).await;
        fake.install(REPO, INSTALLATION);
        fake.set_branch(REPO, "master", HEAD);
        // The service's client: the App, retrying quickly with a fixed jitter.
        let client = fake.app_client(clock.clone());
        let edit = |work: &Workdir| {
            for (from, to) in &self.edits {
                work.edit_config(from, to);
            }
        };
        let (service, cluster) = if self.in_cluster {
            let work = Workdir::new();
            edit(&work);
            let mut cluster = Cluster::with_config(&work.config()).await;
            cluster.reports = Some(Arc::new(GithubReports::new(
                client.clone(),
                cluster.config_source(),
            )));
            cluster.tokens = Some(Arc::new(AppTokens(client.clone())));
            cluster.fake.run_kubelet(|_| PodScript::stays_running());
            cluster.start_controller();
            let config = ConfigStore::load(&work.config()).expect("the story's services.yaml");
            // Approvals recorded as the service records them, in its own namespace; the
            // launcher judges a fork's run done again by the same records.
            let approvals = Arc::new(KubeApprovals::new(cluster.service.clone(), "agentpods"));
            let launcher = ClusterLauncher::new(
                cluster.service.clone(),
                cluster.clock.clone() as Arc<dyn Clock>,
            )
            .in_namespaces(run_namespaces(config.current().engine()))
            .with_approvals(approvals.clone());
            let secrets = WebhookSecrets::parse_list(SECRET).expect("the secret");
            let state = AppState::new(secrets, config, Arc::new(launcher))
                .with_github(Some(client))
                .with_approvals(approvals);
            let service = TestService {
                work,
                state: Arc::new(state),
            };
            (service, Some(cluster))
        } else {
            let client = Arc::try_unwrap(client).unwrap_or_else(|_| panic!("a client of its own"));
            (TestService::with_github_on(client, edit), None)
        };
        let service = Arc::new(service);
        let service_clock = cluster.as_ref().map(|c| c.clock.clone());
        Story {
            gh: Gh {
                fake,
                clock,
                service_clock,
                service: service.clone(),
                deliveries: AtomicU64::new(0),
                associations: Mutex::new(HashMap::from([(OWNER.to_owned(), "OWNER".to_owned())])),
                accounts: Mutex::new(HashMap::new()),
                pulls: Mutex::new(HashMap::new()),
                written: Mutex::new(HashSet::new()),
            },
            cluster: Kube { cluster },
            service,
        }
    }
}

/// A story under way.
pub struct Story {
    /// GitHub, where people act.
    pub gh: Gh,
    /// The cluster ([`Scenario::in_cluster`]).
    pub cluster: Kube,
    /// The service the deliveries go to.
    pub service: Arc<TestService>,
}

impl Story {
    /// The manifests a dry-run service wrote, one text per run, in the order of their
    /// files' names.
    pub fn manifests(&self) -> Vec<String> {
        let work = &self.service.work;
        work.manifests()
            .iter()
            .map(|m| std::fs::read_to_string(work.manifests_dir().join(m)).expect("manifests"))
            .collect()
    }

    /// The operator edits services.yaml while the story runs (`from`, which must be there,
    /// becomes `to`), and the service, and the controller [`Scenario::in_cluster`], reload it.
    pub fn reconfigure(&self, from: &str, to: &str) {
        self.service.work.edit_config(from, to);
        self.service
            .state
            .config
            .reload()
            .expect("the service reloads services.yaml");
        if let Some(cluster) = &self.cluster.cluster {
            cluster
                .config
                .reload()
                .expect("the controller reloads services.yaml");
        }
    }

    /// The story's end: every request the service made to GitHub was one GitHub's REST
    /// description allows.
    pub fn end(self) {
        assert_eq!(
            self.gh.fake.violations(),
            Vec::<String>::new(),
            "{:#?}",
            self.gh.fake.requests()
        );
    }
}

/// A pull request of [`REPO`], as a story opens it.
#[derive(Debug, Clone)]
pub struct PullRequest {
    pub number: u64,
    pub author: String,
    pub association: String,
    pub head: String,
    /// `owner/name` of the repository its head is in.
    pub head_repo: String,
    /// The paths it changes, as GitHub lists them.
    pub files: Vec<String>,
    /// The files it renames, from and to.
    pub renames: Vec<(String, String)>,
}

impl PullRequest {
    /// Pull request `number`, by the repository's owner, from a branch of the repository
    /// itself, at [`HEAD`].
    pub fn new(number: u64) -> PullRequest {
        PullRequest {
            number,
            author: OWNER.to_owned(),
            association: "OWNER".to_owned(),
            head: HEAD.to_owned(),
            head_repo: REPO.to_owned(),
            files: Vec::new(),
            renames: Vec::new(),
        }
    }

    /// Renaming `from` to `to` (GitHub lists the new name, and the old one as
    /// `previous_filename`).
    pub fn changing_by_rename(mut self, from: &str, to: &str) -> PullRequest {
        self.renames.push((from.to_owned(), to.to_owned()));
        self
    }

    /// Changing `files` (what a `paths` filter reads).
    pub fn changing(mut self, files: &[&str]) -> PullRequest {
        self.files = files.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// From `owner`'s fork (`owner/Hello-World`), by `owner`, a contributor by the payload.
    pub fn in_fork(mut self, owner: &str) -> PullRequest {
        self.author = owner.to_owned();
        self.association = "CONTRIBUTOR".to_owned();
        self.head_repo = format!("{owner}/Hello-World");
        self
    }

    /// Its head at `sha`.
    pub fn at(mut self, sha: &str) -> PullRequest {
        self.head = sha.to_owned();
        self
    }

    /// What the payload calls its author (`MEMBER`, `OWNER`, ...): words the service
    /// does not believe.
    pub fn association(mut self, association: &str) -> PullRequest {
        self.association = association.to_owned();
        self
    }
}

/// A pull request (or an issue) of the story, by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pr(pub u64);

/// GitHub as the people of a story meet it.
pub struct Gh {
    /// The fake underneath, for what the language does not say.
    pub fake: FakeGithub,
    /// The fake's clock (installation tokens expire by it).
    pub clock: Arc<ManualClock>,
    /// The service's clock in a cluster story: each delivery is sent a millisecond after
    /// the one before by it, so that runs are recorded in the order they are asked for, as
    /// in production (review 15f, G4: frozen, every run had the same `requestedAt`, and
    /// ties of order went by the runs' names).
    service_clock: Option<Arc<ManualClock>>,
    service: Arc<TestService>,
    deliveries: AtomicU64,
    /// What payloads call each person (`author_association`); `NONE` if not here.
    associations: Mutex<HashMap<String, String>>,
    /// Each person's account id, where the story says it (else the example's).
    accounts: Mutex<HashMap<String, u64>>,
    pulls: Mutex<HashMap<u64, PullRequest>>,
    /// The ids of the comments people of the story wrote (the rest are the service's).
    written: Mutex<HashSet<u64>>,
}

impl Gh {
    /// `login`'s role on the repository, as GitHub's permission API answers it
    /// (`admin`, `maintain`, `write`, `read`).
    pub fn set_role(&self, login: &str, role: &str) {
        self.fake.set_role(REPO, login, role);
    }

    /// What payloads call `login` (`MEMBER`, `NONE`, ...).
    pub fn set_association(&self, login: &str, association: &str) {
        self.associations
            .lock()
            .expect("associations")
            .insert(login.to_owned(), association.to_owned());
    }

    /// `login` is the account `id` (GitHub's numeric id, which stays when a login is
    /// renamed, and which a login freed by a rename and taken again does not have).
    pub fn set_account(&self, login: &str, id: u64) {
        self.accounts
            .lock()
            .expect("accounts")
            .insert(login.to_owned(), id);
    }

    /// `login` and, where the story says it, their account id, in a payload's user object.
    fn fill_user(&self, user: &mut Value, login: &str) {
        user["login"] = login.into();
        if let Some(id) = self.accounts.lock().expect("accounts").get(login) {
            user["id"] = (*id).into();
        }
    }

    fn association(&self, login: &str) -> String {
        self.associations
            .lock()
            .expect("associations")
            .get(login)
            .cloned()
            .unwrap_or_else(|| "NONE".to_owned())
    }

    /// A maintainer merges `text` as the file `path` into the default branch (`master`):
    /// what the Contents API reads there from then on.
    pub fn merge_file(&self, path: &str, text: &str) {
        self.fake.put_content(
            REPO,
            "master",
            path,
            Content::File(text.as_bytes().to_vec()),
        );
    }

    /// The pull request's author writes `text` as the file `path` on its branch
    /// (`changes`, GitHub's example's) and at its head commit.
    pub fn change_file(&self, pr: Pr, path: &str, text: &str) {
        let head = self.pulls.lock().expect("pulls")[&pr.0].head.clone();
        for at in ["changes", head.as_str()] {
            self.fake
                .put_content(REPO, at, path, Content::File(text.as_bytes().to_vec()));
        }
    }

    /// A pull request that was open before the story began: GitHub knows it, and no event
    /// says so.
    pub fn pull_request(&self, pr: PullRequest) -> Pr {
        self.fake.add_pull(REPO, pr.number, &pr.head, &pr.head_repo);
        let files: Vec<&str> = pr.files.iter().map(String::as_str).collect();
        self.fake.set_pull_files(REPO, pr.number, &files);
        for (from, to) in &pr.renames {
            self.fake.rename_in_pull(REPO, pr.number, from, to);
        }
        let number = pr.number;
        self.pulls.lock().expect("pulls").insert(number, pr);
        Pr(number)
    }

    /// The pull request is opened: GitHub knows it, and delivers `pull_request.opened`.
    pub async fn open_pull_request(&self, pr: PullRequest) -> (Pr, Delivered) {
        let handle = self.pull_request(pr);
        let delivered = self.pull_request_event(handle, "opened").await;
        (handle, delivered)
    }

    /// Its author pushes `sha`: GitHub delivers `pull_request.synchronize`.
    pub async fn push(&self, pr: Pr, sha: &str) -> Delivered {
        let pushed = self.pushes_within_one_second(pr, &[sha]).remove(0);
        self.send(&pushed).await
    }

    /// Its author pushes each of `shas` in turn, all within one second (GitHub's times are
    /// whole seconds): the `synchronize` deliveries, not sent yet, each naming the head
    /// before it (`before`), for the story to send in whatever order it likes.
    pub fn pushes_within_one_second(&self, pr: Pr, shas: &[&str]) -> Vec<Unsent> {
        let at = now();
        shas.iter()
            .map(|sha| {
                let (before, head_repo) = {
                    let mut pulls = self.pulls.lock().expect("pulls");
                    let pull = pulls.get_mut(&pr.0).expect("a pull request of the story");
                    let before = std::mem::replace(&mut pull.head, (*sha).to_owned());
                    (before, pull.head_repo.clone())
                };
                self.fake.add_pull(REPO, pr.0, sha, &head_repo);
                let mut payload = self.pull_request_payload(pr, "synchronize", &at);
                payload["before"] = before.into();
                payload["after"] = (*sha).into();
                self.unsent("pull_request", &payload)
            })
            .collect()
    }

    /// GitHub sends a delivery made before ([`Gh::pushes_within_one_second`]).
    pub async fn send(&self, unsent: &Unsent) -> Delivered {
        if let Some(clock) = &self.service_clock {
            clock.advance(std::time::Duration::from_millis(1));
        }
        let reply = self.service.oneshot(&unsent.0).await;
        Delivered {
            post: unsent.0.clone(),
            reply,
        }
    }

    /// Its author closes and reopens it: GitHub delivers `pull_request.reopened`, at the
    /// head it had.
    pub async fn reopen(&self, pr: Pr) -> Delivered {
        self.pull_request_event(pr, "reopened").await
    }

    /// Its author marks it ready for review: GitHub delivers
    /// `pull_request.ready_for_review`, at the head it had.
    pub async fn ready_for_review(&self, pr: Pr) -> Delivered {
        self.pull_request_event(pr, "ready_for_review").await
    }

    async fn pull_request_event(&self, pr: Pr, action: &str) -> Delivered {
        let payload = self.pull_request_payload(pr, action, &now());
        self.deliver("pull_request", payload).await
    }

    /// A `pull_request` event's payload, GitHub saying it happened `at`.
    fn pull_request_payload(&self, pr: Pr, action: &str, at: &str) -> Value {
        let pull = self.pulls.lock().expect("pulls")[&pr.0].clone();
        let mut payload = example("pull_request/opened.json");
        payload["action"] = action.into();
        payload["number"] = pr.0.into();
        let p = &mut payload["pull_request"];
        p["number"] = pr.0.into();
        p["url"] = format!("https://api.github.com/repos/{REPO}/pulls/{}", pr.0).into();
        p["html_url"] = format!("https://github.com/{REPO}/pull/{}", pr.0).into();
        self.fill_user(&mut p["user"], &pull.author);
        p["author_association"] = pull.association.as_str().into();
        p["updated_at"] = at.into();
        let head = &mut p["head"];
        let (owner, _) = pull.head_repo.split_once('/').expect("owner/name");
        head["sha"] = pull.head.as_str().into();
        head["label"] = format!("{owner}:changes").into();
        head["user"]["login"] = owner.into();
        head["repo"]["full_name"] = pull.head_repo.as_str().into();
        head["repo"]["owner"]["login"] = owner.into();
        head["repo"]["fork"] = (pull.head_repo != REPO).into();
        head["repo"]["clone_url"] = format!("https://github.com/{}.git", pull.head_repo).into();
        self.fill_user(&mut payload["sender"], &pull.author);
        payload
    }

    /// The repository's owner comments `body` on the pull request (or issue).
    pub async fn comment(&self, pr: Pr, body: &str) -> Delivered {
        self.comment_as(OWNER, pr, body).await
    }

    /// `login` comments `body` on the pull request (or issue): GitHub keeps the comment and
    /// delivers `issue_comment.created`.
    pub async fn comment_as(&self, login: &str, pr: Pr, body: &str) -> Delivered {
        self.comment_in(REPO, login, pr, body).await
    }

    /// Another repository of the owner, `Codertocat/<name>`, where the App is installed
    /// too, its branch `master` at [`HEAD`]; its `owner/name`.
    pub fn another_repository(&self, name: &str) -> String {
        let repo = format!("{OWNER}/{name}");
        self.fake.install(&repo, INSTALLATION);
        self.fake.set_branch(&repo, "master", HEAD);
        repo
    }

    /// [`Gh::comment_as`] in repository `repo` (`REPO`, or one of
    /// [`Gh::another_repository`], where `pr` is an issue).
    pub async fn comment_in(&self, repo: &str, login: &str, pr: Pr, body: &str) -> Delivered {
        let id = self.fake.add_comment(repo, pr.0, login, body);
        self.written.lock().expect("written").insert(id);
        let is_pull_request = repo == REPO && self.pulls.lock().expect("pulls").contains_key(&pr.0);
        let written = now();
        let mut payload = example("issue_comment/created.json");
        if repo != REPO {
            let (_, name) = repo.split_once('/').expect("owner/name");
            let (_, example_name) = REPO.split_once('/').expect("owner/name");
            let text = payload["repository"]
                .to_string()
                .replace(example_name, name);
            payload["repository"] = serde_json::from_str(&text).expect("a repository");
        }
        let issue = &mut payload["issue"];
        issue["number"] = pr.0.into();
        issue["url"] = format!("https://api.github.com/repos/{repo}/issues/{}", pr.0).into();
        issue["html_url"] = format!("https://github.com/{repo}/issues/{}", pr.0).into();
        if is_pull_request {
            issue["pull_request"] = json!({
                "url": format!("https://api.github.com/repos/{REPO}/pulls/{}", pr.0),
                "html_url": format!("https://github.com/{REPO}/pull/{}", pr.0),
                "diff_url": format!("https://github.com/{REPO}/pull/{}.diff", pr.0),
                "patch_url": format!("https://github.com/{REPO}/pull/{}.patch", pr.0),
            });
        }
        let comment = &mut payload["comment"];
        comment["id"] = id.into();
        comment["body"] = body.into();
        self.fill_user(&mut comment["user"], login);
        comment["author_association"] = self.association(login).into();
        comment["created_at"] = written.as_str().into();
        comment["updated_at"] = written.as_str().into();
        self.fill_user(&mut payload["sender"], login);
        self.deliver("issue_comment", payload).await
    }

    /// `login` presses "Re-run" on check run `id` (ours, by the App): GitHub delivers
    /// `check_run.rerequested`.
    pub async fn rerun_check(&self, login: &str, id: u64) -> Delivered {
        let check = self
            .fake
            .check_runs()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check run {id}: {:#?}", self.fake.check_runs()));
        let mut payload = example("check_run/rerequested.json");
        let run = &mut payload["check_run"];
        run["id"] = id.into();
        run["name"] = check.name.into();
        run["head_sha"] = check.head_sha.into();
        run["external_id"] = check.external_id.unwrap_or_default().into();
        run["app"]["id"] = APP_ID.into();
        // The example is about another repository (and an organisation): this story's.
        let repository = example("pull_request/opened.json")["repository"].clone();
        payload["repository"] = repository;
        payload["sender"]["login"] = login.into();
        payload["installation"] = json!({ "id": INSTALLATION });
        self.deliver("check_run", payload).await
    }

    /// Signs `payload` as event `event` under a new delivery id and sends it to the service.
    async fn deliver(&self, event: &str, payload: Value) -> Delivered {
        let unsent = self.unsent(event, &payload);
        self.send(&unsent).await
    }

    /// A delivery of `payload`, with its own id, not sent yet.
    fn unsent(&self, event: &str, payload: &Value) -> Unsent {
        let n = self.deliveries.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("d-{event}-{n}");
        // No two events GitHub sends have the same body; the service knows a repeat by it.
        let body = another_event(&serde_json::to_vec(payload).expect("JSON"), &id);
        Unsent(Post::delivery(event, &id, body))
    }

    /// GitHub delivers it again (the same id, the same body).
    pub async fn redeliver(&self, delivered: &Delivered) -> Delivered {
        if let Some(clock) = &self.service_clock {
            clock.advance(std::time::Duration::from_millis(1));
        }
        let reply = self.service.oneshot(&delivered.post).await;
        Delivered {
            post: delivered.post.clone(),
            reply,
        }
    }

    /// What the service wrote on the pull request (or issue), oldest first.
    pub fn replies(&self, pr: Pr) -> Vec<Comment> {
        let written = self.written.lock().expect("written").clone();
        self.fake
            .comments()
            .into_iter()
            .filter(|c| c.repo == REPO && c.issue == pr.0 && !written.contains(&c.id))
            .collect()
    }

    /// The service's comment on the pull request that `expected` describes; fails showing
    /// every reply there is otherwise.
    pub fn expect_comment(&self, pr: Pr, expected: Expect) -> Comment {
        let replies = self.replies(pr);
        replies
            .iter()
            .find(|c| expected.matches(&c.body))
            .cloned()
            .unwrap_or_else(|| panic!("no reply on #{} {expected:?}: {replies:#?}", pr.0))
    }

    /// How many comments the service wrote on the pull request.
    pub fn expect_replies(&self, pr: Pr, count: usize) {
        let replies = self.replies(pr);
        assert_eq!(replies.len(), count, "replies on #{}: {replies:#?}", pr.0);
    }

    /// How many reactions the service put on comments (eyes on an accepted command).
    pub fn reactions(&self) -> usize {
        self.fake.with(|m| m.reactions.len())
    }
}

/// What a reply should say.
#[derive(Debug, Clone)]
pub enum Expect {
    Contains(String),
    StartsWith(String),
}

impl Expect {
    fn matches(&self, body: &str) -> bool {
        match self {
            Expect::Contains(text) => body.contains(text.as_str()),
            Expect::StartsWith(text) => body.starts_with(text.as_str()),
        }
    }
}

/// A reply that says `text` somewhere.
pub fn contains(text: impl Into<String>) -> Expect {
    Expect::Contains(text.into())
}

/// A reply that begins with `text`.
pub fn starts_with(text: impl Into<String>) -> Expect {
    Expect::StartsWith(text.into())
}

/// A delivery GitHub made and has not sent yet.
pub struct Unsent(Post);

/// One delivery and the service's answer to it.
pub struct Delivered {
    pub post: Post,
    pub reply: HttpAnswer,
}

impl Delivered {
    /// Fails, showing the answer, unless the service answered `status`.
    pub fn expect_status(&self, status: u16) -> &Delivered {
        assert_eq!(
            self.reply.status,
            status,
            "delivery {}: {}",
            self.id(),
            self.reply.text()
        );
        self
    }

    /// Its `X-GitHub-Delivery`.
    pub fn id(&self) -> &str {
        self.post
            .headers
            .iter()
            .find(|(name, _)| name == "x-github-delivery")
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
    }

    /// The answer's JSON.
    pub fn json(&self) -> Value {
        crate::support::server::json(&self.reply)
    }

    /// The names of the runs the delivery started (or found already started).
    pub fn runs(&self) -> Vec<String> {
        self.json()["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// The one run the delivery started; fails showing the answer otherwise.
    pub fn run(&self) -> String {
        match self.runs().as_slice() {
            [one] => one.clone(),
            _ => panic!("expected one run: {}", self.reply.text()),
        }
    }
}

/// The cluster of a story [`Scenario::in_cluster`].
pub struct Kube {
    cluster: Option<Cluster>,
}

/// A pod has started when it runs, or when it is still Pending while one of its init
/// containers runs (the default template's agent is an init container).
fn has_started(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    match status.phase.as_deref() {
        Some("Running") => true,
        Some("Pending") => status
            .init_container_statuses
            .iter()
            .flatten()
            .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some())),
        _ => false,
    }
}

impl Kube {
    /// The fake API server and the controller, for what the language does not say.
    pub fn get(&self) -> &Cluster {
        self.cluster
            .as_ref()
            .expect("the story runs in a cluster: start it with Scenario::new().in_cluster()")
    }

    /// The run's pod exits 0, its result `result` (the agent's JSON).
    pub async fn pod_succeeds(&self, run: &str, result: &str) {
        self.pod_ends(run, &PodScript::succeeds(result)).await;
    }

    /// The run's pod exits `code`.
    pub async fn pod_fails(&self, run: &str, code: i32) {
        let script = PodScript {
            exit_code: code,
            ..PodScript::succeeds("")
        };
        self.pod_ends(run, &script).await;
    }

    /// Waits until the run's pod runs, then ends it as `script` says.
    async fn pod_ends(&self, run: &str, script: &PodScript) {
        let cluster = self.get();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let pod = cluster.pods().get_opt(run).await.expect("get the pod");
            let started = pod.as_ref().is_some_and(has_started);
            let phase = pod.and_then(|p| p.status?.phase);
            if started && cluster.fake.finish_pod(RUNS, run, script) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run}: its pod was not running within {PATIENCE:?} (it is {phase:?})"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the run is in `phase`.
    pub async fn expect_phase(&self, run: &str, phase: Phase) -> AgentRun {
        self.get().wait_phase(run, phase).await
    }

    /// Waits until GitHub has been told the run is in `phase`.
    pub async fn expect_reported(&self, run: &str, phase: Phase) -> AgentRun {
        self.get()
            .wait_for(run, &format!("GitHub to hear {phase:?}"), |r| {
                r.and_then(|r| r.status.as_ref()?.report.as_ref()?.reported.clone())
                    .as_ref()
                    == Some(&phase)
            })
            .await
            .expect("the run")
    }

    /// Every AgentRun in the runs' namespace.
    pub async fn runs(&self) -> Vec<AgentRun> {
        self.get()
            .runs()
            .list(&Default::default())
            .await
            .expect("list the runs")
            .items
    }
}

/// GitHub's example payload `<event>/<file>`, its times brought to now.
fn example(name: &str) -> Value {
    serde_json::from_slice(&fresh(&fixture(name).as_recorded())).expect("a JSON example")
}

/// Now, as GitHub writes times in payloads.
fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
