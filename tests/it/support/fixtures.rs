//! GitHub's published webhook examples (`examples/webhooks`), our own variants of them
//! (`examples/variants`), and the example services.yaml, run through parse → plan → render.

use std::path::{Path, PathBuf};

use agentpods::config::{self, LoadedConfig};
use agentpods::github::event::{self, WebhookEvent};
use agentpods::plan::{Decision, Facts, Launch, Planner};
use agentpods::render::{Engine, K8sObject, RenderedRun};

/// The `X-GitHub-Delivery` id every test uses, so run names and snapshots are stable.
pub const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

/// The real payloads, one folder per event: `<event>/<action>[.<n>].json`
/// (see examples/webhooks/README.md).
pub const WEBHOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webhooks");

/// Our variants of them (see examples/variants/README.md), laid out the same way.
pub const PAYLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/variants");

/// The example config at the root of the crate.
pub const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/services.yaml");

/// One payload file: the event it is (its folder's name) and where it is.
#[derive(Debug, Clone)]
pub struct Payload {
    pub event: String,
    /// `<event>/<file>`, as shown in messages and expectation tables.
    pub name: String,
    pub path: PathBuf,
}

impl Payload {
    /// The body as GitHub would send it today (see [`fresh`]).
    pub fn body(&self) -> Vec<u8> {
        fresh(&read(&self.path))
    }

    /// The body as GitHub recorded it, its times untouched (years old: stale to the service).
    pub fn as_recorded(&self) -> Vec<u8> {
        read(&self.path)
    }
}

/// Every `<event>/*.json` under `root`, sorted by name. Panics on an empty or unreadable
/// folder: a test over no payloads would prove nothing.
pub fn payloads_in(root: &str) -> Vec<Payload> {
    let mut out = Vec::new();
    let events = std::fs::read_dir(root).unwrap_or_else(|e| panic!("{root}: cannot read: {e}"));
    for folder in events.map(|e| e.expect("a readable folder entry").path()) {
        if !folder.is_dir() {
            continue;
        }
        let event = file_name(&folder);
        for file in std::fs::read_dir(&folder).expect("a readable event folder") {
            let path = file.expect("a readable file entry").path();
            if path.extension().is_some_and(|x| x == "json") {
                out.push(Payload {
                    name: format!("{event}/{}", file_name(&path)),
                    event: event.clone(),
                    path,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!out.is_empty(), "{root}: no <event>/*.json payloads found");
    out
}

/// The time payloads are brought to: when this test process first read one, to the
/// second. One per process, so a payload read twice is the same body (a repeat), and a
/// test's run is far shorter than the replay window.
pub fn payloads_now() -> k8s_openapi::jiff::Timestamp {
    static NOW: std::sync::OnceLock<k8s_openapi::jiff::Timestamp> = std::sync::OnceLock::new();
    *NOW.get_or_init(|| {
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        k8s_openapi::jiff::Timestamp::from_second(now).expect("now is a time")
    })
}

/// `body` as GitHub would send it now: every time in it (RFC 3339 text, and a push's
/// `pushed_at`/`created_at` in seconds) moved by one offset, so that the latest is
/// [`payloads_now`] and the order of the others is kept; nothing else changes, to the
/// byte. GitHub's examples were recorded in 2018–2021, and the service does nothing with
/// a delivery signed longer ago than its replay window (`plan::REPLAY_WINDOW`), as a
/// captured one sent again may be. A body with no time, or none in the past, is returned
/// as it is.
pub fn fresh(body: &[u8]) -> Vec<u8> {
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    let texts =
        regex::Regex::new(r#""(\w+)":\s*"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)""#).expect("a regex");
    let seconds =
        regex::Regex::new(r#""(pushed_at|created_at)":\s*(\d{9,11})\b"#).expect("a regex");
    // When the event happened: the latest `…_at` (not a milestone's `due_on`, say).
    let mut latest: Option<Timestamp> = None;
    for c in texts.captures_iter(text) {
        if c[1].ends_with("_at") {
            latest = latest.max(c[2].parse().ok());
        }
    }
    for c in seconds.captures_iter(text) {
        latest = latest.max(
            c[2].parse()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok()),
        );
    }
    let Some(latest) = latest else {
        return body.to_vec();
    };
    let offset: SignedDuration = payloads_now().duration_since(latest);
    if offset <= SignedDuration::ZERO {
        return body.to_vec();
    }
    let moved = texts.replace_all(text, |c: &regex::Captures<'_>| {
        match c[2].parse::<Timestamp>() {
            Ok(t) => format!(
                "\"{}\":\"{}\"",
                &c[1],
                (t + offset).strftime("%Y-%m-%dT%H:%M:%SZ")
            ),
            Err(_) => c[0].to_string(),
        }
    });
    let moved = seconds.replace_all(&moved, |c: &regex::Captures<'_>| {
        match c[2].parse::<i64>() {
            Ok(s) => format!("\"{}\":{}", &c[1], s + offset.as_secs()),
            Err(_) => c[0].to_string(),
        }
    });
    moved.into_owned().into_bytes()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()))
}

/// A real payload by `<event>/<file>`, e.g. `pull_request/opened.json`.
pub fn fixture(name: &str) -> Payload {
    named(WEBHOOKS, name)
}

/// One of our variants by `<event>/<file>`, e.g. `issue_comment/help.json`.
/// A real payload moved to `repository` (its name, owner and URLs), with the comment's
/// body `comment` if given.
pub fn moved(payload: &Payload, repository: &str, comment: Option<&str>) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(&payload.body()).expect("JSON");
    let (owner, name) = repository.split_once('/').expect("owner/name");
    json["repository"]["full_name"] = repository.into();
    json["repository"]["name"] = name.into();
    json["repository"]["owner"]["login"] = owner.into();
    json["repository"]["html_url"] = format!("https://github.com/{repository}").into();
    json["repository"]["clone_url"] = format!("https://github.com/{repository}.git").into();
    if let Some(body) = comment {
        json["comment"]["body"] = body.into();
    }
    serde_json::to_vec(&json).expect("JSON")
}

pub fn variant(name: &str) -> Payload {
    named(PAYLOADS, name)
}

fn named(root: &str, name: &str) -> Payload {
    let (event, _) = name
        .split_once('/')
        .unwrap_or_else(|| panic!("{name}: expected <event>/<file>"));
    Payload {
        event: event.to_string(),
        name: name.to_string(),
        path: Path::new(root).join(name),
    }
}

/// The example services.yaml with its templates, compiled.
pub struct Example {
    pub loaded: LoadedConfig,
    pub engine: Engine,
}

impl Example {
    pub fn load() -> Self {
        let loaded = config::load(Path::new(EXAMPLE_CONFIG))
            .unwrap_or_else(|e| panic!("the example services.yaml does not load:\n{e}"));
        let engine = Engine::new(&loaded)
            .unwrap_or_else(|e| panic!("the example templates do not compile: {e}"));
        Example { loaded, engine }
    }

    pub fn planner(&self) -> Planner {
        Planner::new(&self.loaded.config)
    }

    /// Parses, plans and renders a payload as delivery [`DELIVERY`], knowing nothing beyond it.
    pub fn deliver(&self, payload: &Payload) -> Outcome {
        self.deliver_with(payload, &Facts::default())
    }

    /// The same, with what the service would have learnt from GitHub's API.
    pub fn deliver_with(&self, payload: &Payload, facts: &Facts<'_>) -> Outcome {
        let event = event::parse(&payload.event, &payload.body())
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", payload.name));
        let decisions =
            self.planner()
                .plan(&event, Some(agentpods::plan::RunKey::new(DELIVERY)), facts);
        let runs = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Launch(launch) => Some(launch),
                _ => None,
            })
            .map(|launch| {
                self.engine
                    .render_run(&event, DELIVERY, launch, facts.pull_request)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{}: agent {} does not render: {e}",
                            payload.name, launch.agent
                        )
                    })
            })
            .collect();
        Outcome {
            name: payload.name.clone(),
            event,
            decisions,
            runs,
        }
    }
}

/// What one delivery came to.
#[derive(Debug)]
pub struct Outcome {
    /// The payload's `<event>/<file>`.
    pub name: String,
    pub event: WebhookEvent,
    pub decisions: Vec<Decision>,
    /// One per `Decision::Launch`, in the same order.
    pub runs: Vec<RenderedRun>,
}

impl Outcome {
    pub fn launches(&self) -> Vec<&Launch> {
        self.decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Launch(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    /// The only run; panics, showing every decision, unless exactly one agent launched.
    pub fn only_run(&self) -> &RenderedRun {
        match self.runs.as_slice() {
            [run] => run,
            _ => panic!(
                "{}: expected exactly one launch, got {}:\n{}",
                self.name,
                self.runs.len(),
                self.story()
            ),
        }
    }

    /// Why nothing (or not everything) was launched, as the operator would read it:
    /// the reasons of Skip, Ignore and Refuse decisions and the text of replies.
    pub fn reasons(&self, prefix: &str) -> Vec<String> {
        self.decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Skip { reason, .. } => Some(reason.to_string()),
                Decision::Ignore(reason) => Some(reason.to_string()),
                Decision::Refuse(refusal) => Some(refusal.message(prefix)),
                Decision::Reply(text) | Decision::Hint { text, .. } => Some(text.clone()),
                Decision::Defer(why) => Some(why.to_string()),
                Decision::Launch(_) | Decision::Control(_) => None,
            })
            .collect()
    }

    /// Every decision, one per line, for assertion messages.
    pub fn story(&self) -> String {
        self.decisions
            .iter()
            .map(|d| format!("  {d:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every rendered object as multi-document YAML, as `agentpods render` prints it.
    pub fn yaml(&self) -> String {
        let objects: Vec<&K8sObject> = self.runs.iter().flat_map(|r| &r.objects).collect();
        to_yaml(&objects)
    }

    pub fn object_count(&self) -> usize {
        self.runs.iter().map(|r| r.objects.len()).sum()
    }
}

/// Objects as multi-document YAML.
pub fn to_yaml(objects: &[&K8sObject]) -> String {
    let mut yaml = String::new();
    for object in objects {
        yaml.push_str("---\n");
        yaml.push_str(
            &serde_yaml::to_string(object)
                .unwrap_or_else(|e| panic!("cannot print {}: {e}", object.kind())),
        );
    }
    yaml
}

/// The kinds of a run's objects, in order.
pub fn kinds(run: &RenderedRun) -> Vec<&'static str> {
    run.objects.iter().map(K8sObject::kind).collect()
}

/// `body` as GitHub sends it for another event of the same kind: no two events GitHub sends
/// have the same body (ids, timestamps), and the service knows a repeat by its body, so a
/// body sent again under a new delivery id is a replay, not a new event. `stamp` (the
/// delivery id, say) is written into a field nothing reads (`delivery_stamp`, at the top),
/// so the same stamp gives the same body; the times GitHub signed are left as they are.
/// A body that is not a JSON object is returned as it is.
pub fn another_event(body: &[u8], stamp: &str) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut payload)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    payload.insert("delivery_stamp".into(), stamp.into());
    serde_json::to_vec(&payload).expect("JSON")
}
