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
    pub fn body(&self) -> Vec<u8> {
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
        let decisions = self.planner().plan(&event, DELIVERY, facts);
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
                Decision::Skip { reason, .. } | Decision::Ignore(reason) => Some(reason.clone()),
                Decision::Refuse(refusal) => Some(refusal.message(prefix)),
                Decision::Reply(text) => Some(text.clone()),
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
/// delivery id, say) sets the `updated_at` of the pull request, issue and comment the body
/// holds (a field nothing reads), so the same stamp gives the same body. A body that is
/// not a JSON object is returned as it is.
pub fn another_event(body: &[u8], stamp: &str) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut payload)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    // Not a timestamp GitHub would write, but one of its own for each stamp.
    let when = format!("2026-12-02T10:00:00Z {stamp}");
    let mut touched = false;
    for key in ["pull_request", "issue", "comment"] {
        if let Some(serde_json::Value::Object(object)) = payload.get_mut(key) {
            object.insert("updated_at".into(), when.clone().into());
            touched = true;
        }
    }
    if !touched {
        payload.insert("updated_at".into(), when.into());
    }
    serde_json::to_vec(&payload).expect("JSON")
}
