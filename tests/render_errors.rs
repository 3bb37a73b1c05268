//! A template that would make a wrong object is stopped at render time with a message that
//! names the template, the document and the field: the same message whether the template's
//! shape was cached or not.

mod support;

use agentpods::config::{self, LoadedConfig, TemplateSources};
use agentpods::github::event;
use agentpods::plan::{Decision, Facts, Planner};
use agentpods::render::Engine;
use support::fixtures::{DELIVERY, fixture};

const CONFIG: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/example/agent:1
agents:
  - name: review
    templates: [t.yaml]
    triggers:
      pull_request: {}
    params:
      imagePullPolicyy: Always
";

fn loaded(template: &str) -> LoadedConfig {
    let templates: TemplateSources = [("t.yaml".to_string(), template.to_string())].into();
    config::parse(CONFIG, "services.yaml", templates)
        .unwrap_or_else(|e| panic!("the config must load:\n{e}"))
}

/// Renders the opened pull request with `template`, through the shape cache (twice, so the
/// second render fills a cached shape) and without it; all three must give one error.
fn render_error(template: &str) -> String {
    let loaded = loaded(template);
    let body = fixture("pull_request/opened.json").body();
    let event = event::parse("pull_request", &body).expect("the fixture parses");
    let planner = Planner::new(&loaded.config);
    let launch = planner
        .plan(&event, DELIVERY, &Facts::default())
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("the review agent launches");
    let cached = Engine::new(&loaded).expect("templates compile");
    let full = Engine::new(&loaded)
        .expect("templates compile")
        .with_shape_cache(false);
    let errors: Vec<String> = [&cached, &cached, &full]
        .iter()
        .map(
            |engine| match engine.render_run(&event, DELIVERY, &launch, None) {
                Ok(run) => panic!("expected a render error, got {:#?}", run.objects),
                Err(e) => e.to_string(),
            },
        )
        .collect();
    assert_eq!(errors[0], errors[1], "first and cached render disagree");
    assert_eq!(errors[0], errors[2], "cached and full render disagree");
    errors[0].clone()
}

const POD_HEAD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: {{ run.name }}
spec:
";

fn pod(spec: &str) -> String {
    format!("{POD_HEAD}{spec}")
}

#[test]
fn a_misspelt_field_is_named_with_its_path() {
    let error = render_error(&pod(
        "  containers:\n    - name: a\n      image: {{ agent.image }}\n      imagePullPolicyy: Always\n",
    ));
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `spec.containers[0].imagePullPolicyy`: unknown field"
    );
}

#[test]
fn an_unknown_field_brought_in_by_a_value_is_caught_too() {
    // `agent.params` is a mapping from services.yaml, printed as one flow mapping.
    let error = render_error(&pod(
        "  containers:\n    - name: a\n      image: {{ agent.image }}\n  securityContext: {{ agent.params }}\n",
    ));
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `spec.securityContext.imagePullPolicyy`: unknown field"
    );
}

#[test]
fn a_wrong_type_is_named_with_its_path() {
    let error = render_error(&pod("  activeDeadlineSeconds: soon\n  containers: []\n"));
    assert!(
        error.starts_with("templates/t.yaml: document 1, field `spec.activeDeadlineSeconds`: invalid type: string \"soon\""),
        "{error}"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named_with_its_path() {
    let error = render_error(&pod(
        "  activeDeadlineSeconds: {{ repo.full_name }}\n  containers: []\n",
    ));
    assert!(
        error.starts_with("templates/t.yaml: document 1, field `spec.activeDeadlineSeconds`: invalid type: string \"Codertocat/Hello-World\""),
        "{error}"
    );
}

#[test]
fn a_value_put_inside_quotes_is_refused_before_anything_renders() {
    // Once a render error (the output was not YAML); now the config does not load, at the
    // place in the template (tests/template_quoting.rs has the rest of these rules).
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"{{ run.name }}-task\"\n";
    let templates: TemplateSources = [("t.yaml".to_string(), template.to_string())].into();
    let error = config::parse(CONFIG, "services.yaml", templates)
        .expect_err("refused")
        .to_string();
    assert!(
        error.starts_with("templates/t.yaml:4:10: `{{ … }}` inside a double-quoted YAML string"),
        "{error}"
    );
}

#[test]
fn an_unsupported_kind_lists_the_supported_ones() {
    let error =
        render_error("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ run.name }}\n");
    assert_eq!(
        error,
        "templates/t.yaml: document 1: unsupported object apps/v1 Deployment (supported: v1 Pod, batch/v1 Job, v1 ConfigMap, v1 Secret, v1 ServiceAccount)"
    );
}

#[test]
fn an_object_without_a_name_is_refused() {
    let error = render_error("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n");
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `metadata.name`: every object needs a name"
    );
}

#[test]
fn a_misspelt_variable_is_an_error_not_an_empty_string() {
    let error = render_error(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\ndata:\n  title: {{ pr.titel }}\n",
    );
    assert!(
        error.starts_with("templates/t.yaml: line 6: undefined value"),
        "{error}"
    );
}

#[test]
fn an_object_in_another_namespace_is_refused() {
    let error = render_error(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\n  namespace: kube-system\n",
    );
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `metadata.namespace`: objects of a run belong in the run's namespace `runs`, not `kube-system`"
    );
}

#[test]
fn a_wrong_type_deep_in_a_list_is_named_with_its_path() {
    let error = render_error(&pod(
        "  containers:\n    - name: a\n      image: {{ agent.image }}\n      ports:\n        - containerPort: eighty\n",
    ));
    assert!(
        error.starts_with("templates/t.yaml: document 1, field `spec.containers[0].ports[0].containerPort`: invalid type"),
        "{error}"
    );
}

#[test]
fn yaml_quote_in_a_yaml_template_is_the_plain_value() {
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\ndata:\n  a: {{ pr.title }}\n  b: {{ pr.title | yaml_quote }}\n";
    let loaded = loaded(template);
    let body = fixture("pull_request/opened.json").body();
    let event = event::parse("pull_request", &body).expect("the fixture parses");
    let launch = Planner::new(&loaded.config)
        .plan(&event, DELIVERY, &Facts::default())
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("a launch");
    let run = Engine::new(&loaded)
        .expect("compiles")
        .render_run(&event, DELIVERY, &launch, None)
        .expect("renders");
    let object = serde_json::to_value(&run.objects[0]).expect("json");
    assert_eq!(
        object["data"]["a"],
        "Update the README with new information."
    );
    assert_eq!(object["data"]["a"], object["data"]["b"]);
}
