//! What the unit-test tables of the planner share: a config, real payloads moved where a
//! row needs them, and a decision told in a few words.

use super::{Decision, Planner};

/// Three teams' agents on one installation: one for `acme/a` only, one for every
/// repository of `acme` but `acme/b`, one for every repository.
pub(super) const SCOPED: &str = r#"
project: demo
cluster: {namespace: runs}
images: {agent: ghcr.io/acme/agent:1.0}
agents:
  - name: a-review
    repositories: ["acme/a"]
    triggers:
      pull_request: {}
      comment: {verbs: [review]}
  - name: acme-docs
    repositories: ["ACME/*", "!acme/b"]
    triggers:
      comment: {verbs: [docs]}
      issues: {}
      push: {tags: ["simple-*"]}
      release: {}
  - name: everyone
    triggers:
      comment: {verbs: [run]}
"#;

pub(super) fn scoped_planner() -> Planner {
    let templates = [(
        "agent-pod.yaml".to_string(),
        "kind: ConfigMap\n".to_string(),
    )]
    .into();
    let loaded =
        crate::config::parse(SCOPED, "services.yaml", templates).unwrap_or_else(|e| panic!("{e}"));
    Planner::new(&loaded.config)
}

/// A real payload (`examples/…/<event>/<file>`) moved to `repository`, with the
/// comment's body `comment` if given.
pub(super) fn event(
    file: &str,
    repository: &str,
    comment: Option<&str>,
) -> crate::github::event::WebhookEvent {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json: serde_json::Value = serde_json::from_slice(&text).expect("JSON");
    let (owner, name) = repository.split_once('/').expect("owner/name");
    json["repository"]["full_name"] = repository.into();
    json["repository"]["name"] = name.into();
    json["repository"]["owner"]["login"] = owner.into();
    if let Some(body) = comment {
        json["comment"]["body"] = body.into();
    }
    let event_name = file.split('/').nth(1).expect("an event folder");
    crate::github::event::parse(event_name, &serde_json::to_vec(&json).expect("JSON"))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// What a delivery came to, in short: the agents launched, else the replies' first
/// words, else `nothing`.
pub(super) fn outcome(decisions: &[Decision]) -> String {
    let launched: Vec<&str> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Launch(l) => Some(l.agent.as_str()),
            _ => None,
        })
        .collect();
    if !launched.is_empty() {
        return launched.join(" ");
    }
    let replies: Vec<String> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Reply(text) => Some(text.lines().next().unwrap_or("").to_string()),
            _ => None,
        })
        .collect();
    if replies.is_empty() {
        "nothing".into()
    } else {
        format!("reply: {}", replies.join(" | "))
    }
}

/// One row of a planner table: a story, the config (its `github.authorization` and its
/// `agents`, in YAML's flow style), the delivery (a payload of `examples/`, edited), what
/// is known beyond it, and what comes of it ([`told`]).
pub(super) struct Row {
    pub story: &'static str,
    /// `github.authorization`, e.g. `{fork_pull_requests: never}` (`{}`: the defaults).
    pub authorization: &'static str,
    /// `agents`, e.g. `[{name: review, triggers: {pull_request: {}}}]`.
    pub agents: &'static str,
    /// `<folder>/<event>/<file>` under `examples/`.
    pub payload: &'static str,
    /// What the row changes in the payload.
    pub edit: fn(&mut serde_json::Value),
    /// What GitHub said beyond the payload.
    pub given: fn() -> Given,
    pub expect: &'static str,
}

/// The payload as it is.
pub(super) fn as_is(_: &mut serde_json::Value) {}

/// What is known beyond the payload, owned by the row (see [`Given::facts`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Given {
    pub authority: super::Authority,
    pub teams_unanswered: bool,
    pub own_login: Option<&'static str>,
    pub own_app_id: Option<u64>,
    pub changed_files: Option<Vec<String>>,
    /// `changed_files` are only the first of them ([`super::ChangedFiles::Some`]).
    pub changed_files_partly: bool,
    /// The pull request as the API has it: the payload's issue number, at this head,
    /// from a fork or not.
    pub pull_request: Option<(&'static str, bool)>,
    /// The commit of an approval the service recorded (by `maintainer`), if any: the head,
    /// another head, a prefix (the planner judges whether it stands).
    pub approved_sha: Option<&'static str>,
    /// What GitHub says `maintainer` (who gave that approval) has now: `admin` unless the
    /// row says otherwise.
    pub approver: Option<super::Authority>,
    pub approvals_unreadable: bool,
    pub commit: super::RefCommit<'static>,
}

impl Given {
    /// A preview: the payload's association stands in for GitHub.
    pub fn preview() -> Given {
        Given::default()
    }

    /// GitHub's permission API says `permission`.
    pub fn known(permission: crate::config::Permission) -> Given {
        Given {
            authority: super::Authority::Known(permission),
            ..Given::default()
        }
    }

    /// A writer, on a pull request GitHub says is at `head` (`fork`: a fork's).
    pub fn on_pull_request(head: &'static str, fork: bool) -> Given {
        Given {
            pull_request: Some((head, fork)),
            ..Given::known(crate::config::Permission::Write)
        }
    }
}

/// The pull request GitHub would describe for a comment's issue, at `head`.
pub(super) fn pull_request(
    number: u64,
    head: &str,
    fork: bool,
) -> crate::github::event::PullRequest {
    let payload = event("variants/pull_request/fork-opened.json", "o/r", None);
    let crate::github::event::Event::PullRequest(e) = payload.event else {
        panic!("a pull request event");
    };
    let mut pr = e.pull_request;
    pr.number = number;
    pr.head.sha = head.parse().expect("a commit");
    if !fork {
        pr.head.repo = pr.base.repo.clone();
    }
    pr
}

/// A planner for a config of `github.authorization` and `agents`, each in YAML's flow
/// style, as a row gives them.
pub(super) fn planner_of(authorization: &str, agents: &str) -> Result<Planner, String> {
    let yaml = format!(
        "project: demo\ncluster: {{namespace: runs}}\nimages: {{agent: ghcr.io/acme/agent:1.0}}\ngithub: {{authorization: {authorization}}}\nagents: {agents}\n"
    );
    let templates = [(
        "agent-pod.yaml".to_string(),
        "kind: ConfigMap\n".to_string(),
    )]
    .into();
    crate::config::parse(&yaml, "services.yaml", templates)
        .map(|loaded| Planner::new(&loaded.config))
        .map_err(|e| e.to_string())
}

/// Runs every row through the planner and fails, listing every row that came to
/// something else than it expects.
pub(super) fn check(rows: &[Row]) {
    let mut wrong = Vec::new();
    for row in rows {
        let planner = match planner_of(row.authorization, row.agents) {
            Ok(planner) => planner,
            Err(e) => {
                wrong.push(format!("{}: the config does not load: {e}", row.story));
                continue;
            }
        };
        let path = format!("{}/examples/{}", env!("CARGO_MANIFEST_DIR"), row.payload);
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut json: serde_json::Value = serde_json::from_slice(&text).expect("JSON");
        (row.edit)(&mut json);
        let name = row.payload.split('/').nth(1).expect("an event folder");
        let delivery = crate::github::event::parse(name, &serde_json::to_vec(&json).expect("JSON"))
            .unwrap_or_else(|e| panic!("{}: {e}", row.story));
        let given = (row.given)();
        let number = json["issue"]["number"].as_u64().unwrap_or(1);
        let pr = given
            .pull_request
            .map(|(head, fork)| pull_request(number, head, fork));
        let approvals: Vec<super::HeadApproval> = given
            .approved_sha
            .map(|sha| super::HeadApproval {
                sha: sha.parse().expect("a commit"),
                approved_by: "maintainer".into(),
                approved_at: None,
                comment_id: None,
            })
            .into_iter()
            .collect();
        let approvers = [super::ApproverAuthority {
            login: "maintainer".into(),
            authority: given
                .approver
                .unwrap_or(super::Authority::Known(crate::config::Permission::Admin)),
        }];
        let facts = super::Facts {
            repository_name: delivery.repository.as_ref().map(|r| &r.full_name),
            authority: given.authority,
            teams: &[],
            teams_unanswered: given.teams_unanswered,
            own_login: given.own_login,
            own_app_id: given.own_app_id,
            changed_files: match given.changed_files.as_deref() {
                Some(files) if given.changed_files_partly => super::ChangedFiles::Some(files),
                files => super::ChangedFiles::all_or_unknown(files),
            },
            pull_request: pr.as_ref(),
            approvals: &approvals,
            head_at_comment: None,
            head_at_comment_read: false,
            approvals_unreadable: given.approvals_unreadable,
            approvers: &approvers,
            commit: given.commit,
            repository: super::RepositorySays::Unread,
        };
        let decisions = planner.plan(&delivery, Some(crate::plan::RunKey::new("d-1")), &facts);
        let found = told(&decisions);
        if found != row.expect {
            wrong.push(format!(
                "{}:\n  expected {}\n  got      {found}\n  {decisions:?}",
                row.story, row.expect
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The decisions in a few words each, `, `-separated: `launch review`, `launch notes at
/// 0123456` (a run this planner pinned), `skip review: Draft`, `refuse @forker:
/// ForkNeedsApproval`, `defer: CommitUnknown`, `control: Stop`, `reply: No agent answers
/// …` (its first five words), `ignore: NoCommand`.
pub(super) fn told(decisions: &[Decision]) -> String {
    fn variant(debug: String) -> String {
        debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_string()
    }
    decisions
        .iter()
        .map(|d| match d {
            Decision::Launch(l) => match &l.subject {
                super::Subject::Issue { sha, .. } | super::Subject::Release { sha, .. } => {
                    match sha {
                        Some(sha) => format!("launch {} at {}", l.agent, sha.short()),
                        None => format!("launch {} unpinned", l.agent),
                    }
                }
                _ => format!("launch {}", l.agent),
            },
            Decision::Skip { agent, reason } => {
                format!("skip {agent}: {}", variant(format!("{reason:?}")))
            }
            Decision::Refuse(r) => format!(
                "refuse @{}: {}",
                r.login,
                variant(format!("{:?}", r.reason))
            ),
            Decision::Defer(why) => format!("defer: {}", variant(format!("{why:?}"))),
            Decision::Control(c) => format!("control: {}", variant(format!("{c:?}"))),
            Decision::Reply(text) => format!(
                "reply: {}",
                text.split_whitespace()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Decision::Ignore(why) => format!("ignore: {}", variant(format!("{why:?}"))),
            Decision::Hint { to, text } => format!("hint @{to}: {text}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row's defaults: the default authorization, the payload as it is, a preview.
/// `text` as a commit id that lives as long as the tests.
pub(super) fn sha(text: &str) -> &'static crate::github::event::CommitSha {
    Box::leak(Box::new(text.parse().expect("a commit id")))
}

pub(super) fn row() -> Row {
    Row {
        story: "",
        authorization: "{}",
        agents: "[]",
        payload: "",
        edit: as_is,
        given: Given::preview,
        expect: "",
    }
}
