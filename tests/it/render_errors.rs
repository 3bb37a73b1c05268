//! A template that would make a wrong object is stopped at render time with a message that
//! names the template, the document and the field: the same message whether the template's
//! shape was cached or not.

use crate::support;

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

/// The first run `event` launches under `loaded`, knowing nothing beyond the payload.
fn first_launch(loaded: &LoadedConfig, event: &event::WebhookEvent) -> agentpods::plan::Launch {
    Planner::new(&loaded.config)
        .plan(
            event,
            Some(agentpods::plan::RunKey::new(DELIVERY)),
            &Facts::default(),
        )
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("an agent launches")
}

/// Renders the opened pull request with `template`, through the shape cache (twice, so the
/// second render fills a cached shape) and without it; all three must give one error.
fn render_error(template: &str) -> String {
    let loaded = loaded(template);
    let body = fixture("pull_request/opened.json").body();
    let event = event::parse("pull_request", &body).expect("the fixture parses");
    let launch = first_launch(&loaded, &event);
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
        "templates/t.yaml: document 1, field `spec.containers[0].imagePullPolicyy`: unknown field, did you mean `imagePullPolicy`?"
    );
}

#[test]
fn every_misspelt_field_of_a_document_gets_the_one_its_type_has_there() {
    // Review 13i, F2: each unknown field is matched with the fields of its own type at
    // its own place (a container's, the pod's), not with one list for the object.
    let error = render_error(&pod(
        "  restartPolcy: Never\n  containers:\n    - name: a\n      image: {{ agent.image }}\n      imagePullPolicyy: Always\n      workinDir: /w\n",
    ));
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `spec.containers[0].imagePullPolicyy`: unknown \
         field, did you mean `imagePullPolicy`? (and 2 more: spec.containers[0].workinDir (did \
         you mean `workingDir`?), spec.restartPolcy (did you mean `restartPolicy`?))"
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
fn a_label_the_api_server_would_refuse_is_refused_at_render() {
    // `owner/name` is not a label value: the API server would refuse the Pod after the
    // delivery was taken; the render refuses it, naming the field and the fix.
    let error = render_error(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ run.name }}\n  labels:\n    repo: {{ repo.full_name }}\nspec:\n  containers: []\n",
    );
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `metadata.labels.repo`: the label value `Codertocat/Hello-World` holds '/', which the API server refuses (a label value is at most 63 letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit); make it one with `| label_value` over the whole value (`{{ (\"team-\" ~ repo.name) | label_value }}`: it cuts one past 63 characters, with a hash that keeps values apart)"
    );
    let error = render_error(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ run.name }}\n  annotations:\n    \"acme.com/ticket id\": x\nspec:\n  containers: []\n",
    );
    assert_eq!(
        error,
        "templates/t.yaml: document 1, field `metadata.annotations.acme.com/ticket id`: the annotation key `acme.com/ticket id` has a name that holds ' '"
    );
    let error = render_error(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ run.name ~ \"_\" ~ pr.number }}\nspec:\n  containers: []\n",
    );
    assert!(
        error.starts_with("templates/t.yaml: document 1, field `metadata.name`: the name `review-"),
        "{error}"
    );
    assert!(
        error.ends_with("_2` holds '_' (a name is lowercase letters, digits, `-` and `.`), which the API server refuses; make it one with `| dns_label`"),
        "{error}"
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
    // place in the template (tests/it/template_quoting.rs has the rest of these rules).
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
    let launch = first_launch(&loaded, &event);
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

// ---------------------------------------------------------------------------------------
// `agentpods validate` renders every template of every agent for every trigger it has, with
// sample events: what would fail at delivery fails there, at FILE:LINE:COL.

/// The config of the validate table: a task agent on `/agent run` (on issues and pull
/// requests), and a review agent on pull requests and on `/agent review` (on issues too).
const AGENTS: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    prompt: prompts/task.md
    triggers:
      comment:
        verbs: [run]
  - name: review
    prompt: prompts/review.md
    triggers:
      pull_request: {}
      comment:
        verbs: [review]
    concurrency:
      group: \"review-{{ pr.number if pr else issue.number }}\"
";

/// A pod that Pod Security `restricted` admits, so that each mistake is the only problem.
const RESTRICTED_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: {{ run.name }}
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: agent
      image: {{ agent.image }}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
  restartPolicy: Never
";

struct Mistake {
    what: &'static str,
    /// The file changed (`services.yaml` or one under `templates/`), and from what to what.
    file: &'static str,
    from: &'static str,
    to: &'static str,
    /// The one problem validate reports, as `FILE:LINE:COL: message` with FILE relative
    /// to the config's folder, and the text found at that line and column.
    expect: &'static str,
    points_at: &'static str,
}

#[rustfmt::skip]
const MISTAKES: &[Mistake] = &[
    Mistake {
        what: "a misspelt variable in a YAML template",
        file: "templates/agent-pod.yaml", from: "image: {{ agent.image }}", to: "image: {{ agent.imgae }}",
        expect: "templates/agent-pod.yaml:11:17: agent `task`: `agent.imgae`: `imgae` is not a field of `agent`; did you mean `agent.image`? (the fields of each trigger: docs/templates.md)",
        points_at: "agent.imgae",
    },
    Mistake {
        what: "a misspelt variable in a prompt",
        file: "templates/prompts/task.md", from: "{{ comment.command.task }}", to: "{{ comment.command.tsak }}",
        expect: "templates/prompts/task.md:1:13: agent `task`: `comment.command.tsak`: `tsak` is not a field of `comment.command`; did you mean `comment.command.task`? (the fields of each trigger: docs/templates.md)",
        points_at: "comment.command.tsak",
    },
    Mistake {
        // Review 13i, F13: before, the render's bare "undefined value".
        what: "a field of GitHub's payload read on a string agentpods gives",
        file: "templates/prompts/review.md", from: "{{ pr.number }}{% endif %}", to: "{{ pr.head.repo.full_name }}{% endif %}",
        expect: "templates/prompts/review.md:1:64: agent `review`: `pr.head.repo.full_name`: `pr.head.repo` is a string (`owner/name`), which has no fields: write `pr.head.repo` for the value itself (the fields of each trigger: docs/templates.md)",
        points_at: "pr.head.repo.full_name",
    },
    Mistake {
        what: "a field read on a string beside a field of that name",
        file: "templates/agent-pod.yaml", from: "image: {{ agent.image }}", to: "image: {{ repo.full_name.owner }}",
        expect: "templates/agent-pod.yaml:11:17: agent `task`: `repo.full_name.owner`: `repo.full_name` is a string (`owner/name`), which has no fields: did you mean `repo.owner`? (the fields of each trigger: docs/templates.md)",
        points_at: "repo.full_name.owner",
    },
    Mistake {
        what: "an `{% if %}` never closed (issue 13, N8)",
        file: "templates/prompts/review.md", from: "{% endif %}", to: "",
        expect: "templates/prompts/review.md:1:49: template syntax error: this `{% if %}` is never closed: the template ends before its `{% endif %}`",
        points_at: "{% if pr %}",
    },
    Mistake {
        what: "the description of an agent without one, printed (issue 13, N11)",
        file: "templates/prompts/review.md", from: "Review #", to: "{{ agent.description | upper }}: review #",
        expect: "templates/prompts/review.md:1:4: agent `review` has no `description`, so `agent.description` is none, and this template prints it (`none` in text, `NONE` through `| upper`, `null` in YAML): write `agent.description or \"…\"`, or give the agent a description",
        points_at: "agent.description",
    },
    Mistake {
        what: "a field none in a bare command, printed (new-user review 13c, N4)",
        file: "templates/prompts/review.md", from: "Review #", to: "Focus: {{ comment.command.task if comment else \"everything\" }}. Review #",
        expect: "templates/prompts/review.md:1:11: agent `review`, comment `review` with no text on a pull request: `comment.command.task` is none then, and this template prints it (`None` in text, `null` in YAML): write `comment.command.task or \"\"` (or a default of your own), or leave it out with `{% if comment.command.task %}`",
        points_at: "comment.command.task",
    },
    Mistake {
        what: "the commit of an unpinned run, printed in a prompt (new-user review 13c, N4)",
        file: "templates/prompts/task.md", from: "Do this:", to: "At {{ checkout.sha }}, do this:",
        expect: "templates/prompts/task.md:1:7: agent `task`, comment `run` on a pull request, previewed without its details: `checkout.sha` is none then, and this template prints it (`None` in text, `null` in YAML): write `checkout.sha or \"\"` (or a default of your own), or leave it out with `{% if checkout.sha %}`",
        points_at: "checkout.sha",
    },
    Mistake {
        what: "a field none in some run, printed as YAML's null in an `args` item (new-user review 13c, N4)",
        file: "templates/agent-pod.yaml", from: "      image: {{ agent.image }}\n", to: "      image: {{ agent.image }}\n      args: [--sha, {{ checkout.sha }}]\n",
        expect: "templates/agent-pod.yaml:12:24: agent `task`, comment `run` on a pull request, previewed without its details: `checkout.sha` is none then, and this template prints it (`None` in text, `null` in YAML): write `checkout.sha or \"\"` (or a default of your own), or leave it out with `{% if checkout.sha %}`",
        points_at: "checkout.sha",
    },
    Mistake {
        what: "who asked for a run, printed in its comment (new-user review 13c, N4)",
        file: "templates/comment.md", from: "{{ result.conclusion }}", to: "{{ result.conclusion }} by {{ run.requested_by }}",
        expect: "templates/comment.md:1:63: the run's comment, ended `success`, started by an event: `run.requested_by` is none then, and this template prints it (`None` in the comment): write `run.requested_by or \"\"` (or a default of your own), or leave it out with `{% if run.requested_by %}`",
        points_at: "run.requested_by",
    },
    Mistake {
        what: "a list item's dash glued to its value (new-user review 13c, N7)",
        file: "templates/agent-pod.yaml", from: "      image: {{ agent.image }}\n", to: "      image: {{ agent.image }}\n      args:\n        - --name\n        -{{ run.name }}\n        - --verbose\n",
        expect: "templates/agent-pod.yaml:14:9: agent `task`, comment `run` on a pull request: the output is not valid YAML: `-\"task-sample\"` has no space after its `-`, so YAML reads it as text, not as an item of the list; write `- \"task-sample\"`",
        points_at: "-{{ run.name }}",
    },
    Mistake {
        what: "a key glued to its value (new-user review 13c, N7)",
        file: "templates/agent-pod.yaml", from: "runAsNonRoot: true", to: "runAsNonRoot:true",
        expect: "templates/agent-pod.yaml:7:5: agent `task`, comment `run` on a pull request: the output is not valid YAML: `runAsNonRoot:true` has no space after its `:`, so YAML reads it as text, not as a key; write `runAsNonRoot: true`",
        points_at: "runAsNonRoot:true",
    },
    Mistake {
        what: "a list item's `- ` left out, above a printed value (new-user review 13c, N7)",
        file: "templates/agent-pod.yaml", from: "      image: {{ agent.image }}\n", to: "      image: {{ agent.image }}\n      args:\n        --name\n        - {{ run.name }}\n",
        expect: "templates/agent-pod.yaml:13:9: `--name` is neither a list item nor a key, so YAML reads it and the lines below it as one plain text (the `{{ … }}` at line 14 among them); begin it with `- ` if it is an item of the list, or end its key with `:`",
        points_at: "--name",
    },
    Mistake {
        what: "Liquid's `upcase`, which is `upper` here (new-user review 13c, N13)",
        file: "templates/agent-pod.yaml", from: "{{ run.name }}", to: "{{ run.name | upcase }}",
        expect: "templates/agent-pod.yaml:4:23: unknown filter `upcase`, did you mean `upper`?",
        points_at: "upcase",
    },
    Mistake {
        what: "a misspelt filter in a template inside services.yaml (new-user review 13c, N13)",
        file: "services.yaml", from: "issue.number }}", to: "issue.number | dnslabel }}",
        expect: "services.yaml:19:61: agent `review`, comment `review` on a pull request, previewed without its details: agents[1].concurrency.group: unknown filter `dnslabel`, did you mean `dns_label`?",
        points_at: "dnslabel",
    },
    Mistake {
        what: "a delivery's field in the run's comment, whose fields are its own (new-user review 13c, N13)",
        file: "templates/comment.md", from: "{{ result.conclusion }}", to: "{{ result.conclusion }} in {{ repo.full_name }}",
        expect: "templates/comment.md:1:63: the run's comment: `repo.full_name`: `repo` is not a variable comment.md is given (`prefix`, `result`, `run`) (the variables of comment.md: docs/templates.md)",
        points_at: "repo.full_name",
    },
    Mistake {
        what: "a filter that does not exist",
        file: "templates/agent-pod.yaml", from: "{{ run.name }}", to: "{{ run.name | dns_lable }}",
        expect: "templates/agent-pod.yaml:4:23: unknown filter `dns_lable`, did you mean `dns_label`?",
        points_at: "dns_lable",
    },
    Mistake {
        what: "Jinja's `truncate`, which is `truncate_chars` here (issue 13, N8)",
        file: "templates/agent-pod.yaml", from: "{{ run.name }}", to: "{{ run.name | truncate(20) }}",
        expect: "templates/agent-pod.yaml:4:23: unknown filter `truncate`, did you mean `truncate_chars`?",
        points_at: "truncate(20)",
    },
    Mistake {
        what: "a filter given an argument of the wrong type",
        file: "templates/agent-pod.yaml", from: "{{ run.name }}", to: "{{ run.name | truncate_chars(\"ten\") }}",
        expect: "templates/agent-pod.yaml:4:23: agent `task`, comment `run` on a pull request: invalid argument: a string where a whole number belongs (in `truncate_chars(\"ten\")`): it takes how many characters to keep, as in `| truncate_chars(200)`",
        points_at: "truncate_chars",
    },
    Mistake {
        what: "a number given to a filter that takes text",
        file: "templates/agent-pod.yaml", from: "{{ run.name }}", to: "{{ run.name }}\n  labels:\n    timeout: {{ agent.timeout_seconds | label_value }}",
        expect: "templates/agent-pod.yaml:6:41: agent `task`, comment `run` on a pull request: invalid operation: `label_value` takes text, and this value is a number (1800): make it text first: `| string | label_value`",
        points_at: "label_value",
    },
    Mistake {
        what: "a part of the event that a trigger may lack, used without a default",
        file: "templates/prompts/review.md", from: ".{% if pr %}", to: ": {{ pr.title }}.{% if pr %}",
        expect: "templates/prompts/review.md:1:53: agent `review`, comment `review` on a pull request, previewed without its details (`pr` is absent then: write `pr.x if pr else …`): undefined value: `pr.title` is undefined",
        points_at: "pr.title",
    },
    Mistake {
        // New-user review 13e, N9: below a comment of some lines, the output's lines are
        // fewer than the template's, and the nearest line of the same text to the second
        // key was the first: both were named at line 12.
        what: "a key written twice below a comment of several lines",
        file: "templates/agent-pod.yaml", from: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ run.name }}\nspec:\n", to: "{# The agent's pod:\n   one container,\n   restricted,\n   without the token,\n   without a shell,\n   and nothing more. #}\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ run.name }}\nspec:\n  enableServiceLinks: false\n  enableServiceLinks: false\n",
        expect: "templates/agent-pod.yaml:13:3: agent `task`, comment `run` on a pull request: the output is not valid YAML: duplicate key `enableServiceLinks` (first defined at line 12)",
        points_at: "enableServiceLinks",
    },
    Mistake {
        what: "an output that is not a valid object",
        file: "templates/agent-pod.yaml", from: "      image:", to: "      imagePullPolicyy: Always\n      image:",
        expect: "templates/agent-pod.yaml:11:7: agent `task`, comment `run` on a pull request: document 1, field `spec.containers[0].imagePullPolicyy`: unknown field, did you mean `imagePullPolicy`?",
        points_at: "imagePullPolicyy",
    },
    Mistake {
        // Review 13i, F2: a misspelt Kubernetes field got no did-you-mean, where a
        // misspelt key of services.yaml or a template field gets one.
        what: "a misspelt field of the Pod's spec",
        file: "templates/agent-pod.yaml", from: "spec:\n", to: "spec:\n  restartPolcy: Never\n",
        expect: "templates/agent-pod.yaml:6:3: agent `task`, comment `run` on a pull request: document 1, field `spec.restartPolcy`: unknown field, did you mean `restartPolicy`?",
        points_at: "restartPolcy",
    },
    Mistake {
        what: "a value of the wrong type for its field",
        file: "templates/agent-pod.yaml", from: "spec:\n", to: "spec:\n  activeDeadlineSeconds: {{ run.name }}\n",
        expect: "templates/agent-pod.yaml:6:3: agent `task`, comment `run` on a pull request: document 1, field `spec.activeDeadlineSeconds`: invalid type: string \"task-sample\", expected a whole number",
        points_at: "activeDeadlineSeconds",
    },
    Mistake {
        what: "a value of the wrong type in a later item of a list",
        file: "templates/agent-pod.yaml", from: "      image: {{ agent.image }}\n", to: "      image: {{ agent.image }}\n      env:\n        - name: A\n          value: a\n        - name: B\n          value: {{ agent.timeout_seconds }}\n",
        expect: "templates/agent-pod.yaml:16:11: agent `task`, comment `run` on a pull request: document 1, field `spec.containers[0].env[1].value`: invalid type: integer `1800`, expected a string",
        points_at: "value: {{ agent.timeout_seconds }}",
    },
    Mistake {
        what: "a pod its Pod Security level forbids",
        file: "templates/agent-pod.yaml", from: "spec:\n", to: "spec:\n  hostNetwork: true\n",
        expect: "templates/agent-pod.yaml:6:3: agent `task`, comment `run` on a pull request: document 1, field `spec.hostNetwork`: agent `task`: the Pod shares the host's network (hostNetwork), which Pod Security `restricted` forbids; change the template, or opt the agent in by name with `pod_security: privileged` and run it in a namespace that allows it (`cluster.namespaces`)",
        points_at: "hostNetwork",
    },
    Mistake {
        what: "the first label, read as if every pull request had one",
        file: "templates/prompts/review.md", from: ".{% if pr %}", to: ".{% if pr %} Label: {{ pr.labels[0] }}",
        expect: "templates/prompts/review.md:1:71: agent `review`, pull_request `opened` by a bot from a deleted fork: undefined value: `pr.labels[0]` is undefined",
        points_at: "pr.labels[0]",
    },
    Mistake {
        what: "a label read as a map, where it is its name",
        file: "templates/prompts/review.md", from: ".{% if pr %}", to: ".{% if pr %} Label: {{ pr.labels[0].name if pr.labels else \"none\" }}",
        expect: "templates/prompts/review.md:1:71: agent `review`, pull_request `opened`: undefined value: `pr.labels[0].name` is undefined (in `pr.labels[0].name if pr.labels else \"none\"`)",
        points_at: "pr.labels[0].name",
    },
    Mistake {
        what: "a branch name put in a label value as it is",
        file: "templates/agent-pod.yaml", from: "  name: {{ run.name }}\n", to: "  name: {{ run.name }}\n  labels:\n    branch: {{ pr.head.ref if pr else \"none\" }}\n",
        expect: "templates/agent-pod.yaml:6:5: agent `review`, pull_request `opened` by a bot from a deleted fork: document 1, field `metadata.labels.branch`: the label value `feature/ünïcode-long-long-long-long-long-long-long-long-long…` has 216 characters (at most 63), which the API server refuses (a label value is at most 63 letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit); make it one with `| label_value` over the whole value (`{{ (\"team-\" ~ repo.name) | label_value }}`: it cuts one past 63 characters, with a hash that keeps values apart)",
        points_at: "branch:",
    },
    Mistake {
        what: "a part a trigger never has, once a second trigger is given to the agent (new-user review 13e, N5)",
        file: "templates/prompts/review.md", from: ".{% if pr %}", to: ". Asked by {{ comment.user.login }}.{% if pr %}",
        expect: "templates/prompts/review.md:1:69: agent `review`, pull_request `opened`: undefined value: `comment.user` is undefined (in `.user.login`) (`comment` is never there for pull_request `opened`: write `comment.user.login if comment else …`, or give this trigger an agent of its own with its own template)",
        points_at: ".user.login",
    },
    Mistake {
        what: "a label of the sender's login, which a bot's is not (new-user review 13e, N2)",
        file: "templates/agent-pod.yaml", from: "  name: {{ run.name }}\n", to: "  name: {{ run.name }}\n  labels:\n    who: {{ sender.login }}\n",
        expect: "templates/agent-pod.yaml:6:5: agent `review`, pull_request `opened` by a bot from a deleted fork: document 1, field `metadata.labels.who`: the label value `dependabot[bot]` holds '[', which the API server refuses (a label value is at most 63 letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit); make it one with `| label_value` over the whole value (`{{ (\"team-\" ~ repo.name) | label_value }}`: it cuts one past 63 characters, with a hash that keeps values apart)",
        points_at: "who:",
    },
    Mistake {
        what: "a concurrency group that uses a part of the event a trigger may lack",
        file: "services.yaml", from: "pr.number if pr else issue.number", to: "pr.number",
        expect: "services.yaml:19:25: agent `review`, comment `review` on a pull request, previewed without its details (`pr` is absent then: write `pr.x if pr else …`): agents[1].concurrency.group: undefined value: `pr.number` is undefined",
        points_at: "pr.number",
    },
    Mistake {
        what: "a pod that would start its agent again each time it ends",
        file: "templates/agent-pod.yaml", from: "restartPolicy: Never", to: "restartPolicy: Always",
        expect: "templates/agent-pod.yaml:15:3: agent `task`, comment `run` on a pull request: document 1, field `spec.restartPolicy`: `restartPolicy: Always` starts the agent again each time it ends, so the run never ends before its timeout; write `restartPolicy: Never`",
        points_at: "restartPolicy",
    },
    Mistake {
        what: "a restartPolicy the API server does not know",
        file: "templates/agent-pod.yaml", from: "restartPolicy: Never", to: "restartPolicy: Nevr",
        expect: "templates/agent-pod.yaml:15:3: agent `task`, comment `run` on a pull request: document 1, field `spec.restartPolicy`: the API server refuses `restartPolicy: Nevr`: it is one of Always, OnFailure or Never (did you mean `Never`?); a run's Pod needs `restartPolicy: Never`",
        points_at: "restartPolicy",
    },
    Mistake {
        what: "a request above its limit",
        file: "templates/agent-pod.yaml", from: "      securityContext:\n        allow", to: "      resources: {requests: {cpu: \"4\", memory: 8Gi}, limits: {cpu: 1, memory: 1Gi}}\n      securityContext:\n        allow",
        expect: "templates/agent-pod.yaml:12:7: agent `task`, comment `run` on a pull request: document 1, field `spec.containers[0].resources.requests.cpu`: the cpu request `4` is above its limit `1`, which the API server refuses; lower the request or raise the limit (an agent's `resources`, or `cluster.defaults.resources`)",
        points_at: "resources",
    },
    Mistake {
        what: "a name that is the same in every run",
        file: "templates/agent-pod.yaml", from: "name: {{ run.name }}", to: "name: agent-run",
        expect: "templates/agent-pod.yaml:4:3: agent `task`, comment `run` on a pull request: document 1, field `metadata.name`: the Pod is named `agent-run` in every run, so a second run would collide with the first (AlreadyExists); name it from the run: `{{ run.name }}`, or `{{ run.name ~ \"-suffix\" }}`",
        points_at: "name",
    },
    Mistake {
        what: "a namespace template that prints a repository name as it is",
        file: "services.yaml", from: "  namespace: runs", to: "  namespace_template: \"runs-{{ repo.name }}\"",
        expect: "services.yaml:3:24: cluster.namespace_template: for a repository `Example-Org/My_Repo.JS` (GitHub allows upper case, `_` and `.` in names) it renders `runs-My_Repo.JS`, which holds 'M' (a DNS label is lowercase letters, digits and `-`), so it is not a valid DNS label and every delivery from such a repository would fail; make it one with `| dns_label`, e.g. `{{ (\"runs-\" ~ repo.name) | dns_label }}`",
        points_at: "runs-{{",
    },
    Mistake {
        what: "a namespace template that puts words around a name made a DNS label, which a long repository name overflows (issue 13, N2)",
        file: "services.yaml", from: "  namespace: runs", to: "  namespace_template: \"runs-{{ repo.full_name | dns_label }}-{{ pr.number if pr else issue.number }}\"",
        expect: "services.yaml:3:24: cluster.namespace_template: for a repository `Long-Owner-…/Long_Repository.…` (an owner of 39 characters and a name of 100; GitHub allows up to 39 and 100) it renders `runs-long-owner-long-owner-long-owner-long-o-long-repositor-…`, which has 70 characters (at most 63), so it is not a valid DNS label and every delivery from such a repository would fail; apply `| dns_label` to the whole name, not to a part of it: it cuts a name past 63 characters and keeps it apart from others with a hash, e.g. `{{ (\"runs-\" ~ repo.full_name ~ \"-\" ~ (pr.number if pr else issue.number if issue else \"other\")) | dns_label }}`",
        points_at: "runs-{{",
    },
    Mistake {
        what: "a label made of the repository's name as it is, which a long one overflows (issue 13, N2)",
        file: "templates/agent-pod.yaml", from: "  name: {{ run.name }}\n", to: "  name: {{ run.name }}\n  labels:\n    repository: {{ repo.name }}\n",
        expect: "templates/agent-pod.yaml:6:5: agent `task`, comment `run` on a pull request: document 1, field `metadata.labels.repository`: the label value `Long_Repository.Name-Long_Repository.Name-Long_Repository.Na…` has 100 characters (at most 63), which the API server refuses (a label value is at most 63 letters, digits, `-`, `_` and `.`, beginning and ending with a letter or digit); make it one with `| label_value` over the whole value (`{{ (\"team-\" ~ repo.name) | label_value }}`: it cuts one past 63 characters, with a hash that keeps values apart)",
        points_at: "repository:",
    },
    Mistake {
        what: "a key of a YAML template indented one space too far",
        file: "templates/agent-pod.yaml", from: "  containers:", to: "   containers:",
        expect: "templates/agent-pod.yaml:9:4: agent `task`, comment `run` on a pull request: the output is not valid YAML: this line is indented to column 4, but a key must start where one above it does: column 5 (as `seccompProfile`, line 8) or column 3 (as `securityContext`, line 6) or column 1 (as `spec`, line 5); or, if this line holds a value with `: `, quote it",
        points_at: "containers",
    },
    Mistake {
        what: "a tab indenting a line of a YAML template",
        file: "templates/agent-pod.yaml", from: "      image:", to: "\t    image:",
        expect: "templates/agent-pod.yaml:11:1: agent `task`, comment `run` on a pull request: the output is not valid YAML: a tab indents this line; YAML is indented with spaces only",
        points_at: "\t",
    },
];

#[test]
fn validate_names_every_unknown_filter_at_once_even_in_branches_the_samples_do_not_take() {
    use support::configs::{self, ConfigDir};

    let dir = ConfigDir::new(AGENTS.as_bytes());
    dir.write("templates/agent-pod.yaml", RESTRICTED_POD.as_bytes());
    dir.write(
        "templates/prompts/review.md",
        b"Review #{{ pr.number if pr else issue.number }}.\n\
{% if pr %}{{ pr.title | uppercase }}{% else %}{{ issue.title | lowr }}{% endif %}\n\
{% if false %}{{ repo.full_name | frobnicate }}{% endif %}\n",
    );

    let run = configs::validate(&dir.path("services.yaml"));

    let folder = format!("{}/", dir.dir.path().display());
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .filter(|l| !l.contains(": warning: agent `"))
        .collect();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(
        lines,
        [
            "templates/prompts/review.md:2:26: unknown filter `uppercase`, did you mean `upper`?",
            "templates/prompts/review.md:2:65: unknown filter `lowr`, did you mean `lower`?",
            "templates/prompts/review.md:3:35: unknown filter `frobnicate` (the filters: docs/templates.md and minijinja's)",
            "3 problems found",
        ]
    );
}

#[test]
fn validate_reports_each_template_mistake_at_its_file_line_and_column_and_exits_1() {
    use support::configs::{self, ConfigDir, text_at};

    let mut failures = Vec::new();
    for mistake in MISTAKES {
        let dir = ConfigDir::new(AGENTS.as_bytes());
        dir.write("templates/agent-pod.yaml", RESTRICTED_POD.as_bytes());
        // The review agent's prompt, which must work on a comment on an issue too.
        dir.write(
            "templates/prompts/review.md",
            b"Review #{{ pr.number if pr else issue.number }}.{% if pr %} {{ pr.number }}{% endif %}\n",
        );
        let path = dir.path(mistake.file);
        let text = std::fs::read_to_string(&path).expect("the file to change");
        assert!(
            text.contains(mistake.from),
            "{}: {} holds no {:?}",
            mistake.what,
            mistake.file,
            mistake.from
        );
        let changed = text.replacen(mistake.from, mistake.to, 1);
        dir.write(mistake.file, changed.as_bytes());

        let run = configs::validate(&dir.path("services.yaml"));
        let folder = format!("{}/", dir.dir.path().display());
        // The pod here drops the task (a warning, not the mistake under test).
        let lines: Vec<String> = run
            .stderr_lines()
            .iter()
            .map(|l| l.replace(&folder, ""))
            .filter(|l| !l.contains(": warning: agent `"))
            .collect();
        let expected = [mistake.expect.to_string(), "1 problem found".to_string()];
        if run.code != Some(1) || lines != expected {
            failures.push(format!(
                "{}: exit {:?}\n--- expected\n{}\n--- actual\n{}\n",
                mistake.what,
                run.code,
                expected.join("\n"),
                lines.join("\n")
            ));
            continue;
        }
        // The position holds the text the table says.
        let mut parts = mistake.expect.splitn(4, ':');
        let (file, line, col) = (
            parts.next().unwrap_or_default(),
            parts.next().and_then(|l| l.parse().ok()).unwrap_or(0),
            parts.next().and_then(|c| c.parse().ok()).unwrap_or(0),
        );
        assert_eq!(
            file, mistake.file,
            "{}: the table names another file",
            mistake.what
        );
        let found = text_at(&changed, line, col);
        assert!(
            found.is_some_and(|f| f.starts_with(mistake.points_at)),
            "{}: {file}:{line}:{col} holds {found:?}, not {:?}",
            mistake.what,
            mistake.points_at
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} mistakes differ:\n\n{}",
        failures.len(),
        MISTAKES.len(),
        failures.join("\n")
    );
}

#[test]
fn validate_of_the_installed_config_names_the_templates_folder_and_takes_another() {
    use std::process::Command;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let validate = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .current_dir(root)
            .arg("validate")
            .args(args)
            .output()
            .expect("run agentpods")
    };
    let installed = "deploy/base/config/services.yaml";
    let out = validate(&[installed]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = std::fs::read_to_string(root.join(installed))
        .expect("the installed config")
        .lines()
        .position(|l| l.starts_with("templates_dir:"))
        .expect("a templates_dir line")
        + 1;
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!("deploy/base/config/services.yaml:{line}:1: the templates folder `/usr/share/agentpods/templates` \
             does not exist (`templates_dir: /usr/share/agentpods/templates`); to check this config \
             with other templates, such as a checkout's, give their folder with --templates-dir (as in \
             `agentpods validate --templates-dir templates deploy/base/config/services.yaml`, \
             in a checkout)").as_str(),
            "1 problem found",
        ]
    );
    let out = validate(&["--templates-dir", "templates", installed]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // (After the warning that its `task` agent may push from fork pull requests.)
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(&format!("{installed}: ok ("))),
        "{stderr}"
    );
    // New-user review 13b, N1: a syntax or quoting mistake in the folder given is named in
    // that folder, not in the one services.yaml names (before:
    // `/usr/share/agentpods/templates/agent-pod.yaml:...`, a file not on this machine).
    let broken = tempfile::tempdir().expect("a folder");
    for entry in std::fs::read_dir(root.join("templates")).expect("the templates") {
        let entry = entry.expect("an entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), broken.path().join(entry.file_name())).expect("copy");
        }
    }
    let copy = |from: &str, to: &str| {
        std::fs::create_dir_all(broken.path().join(to).parent().unwrap()).unwrap();
        std::fs::copy(root.join(from), broken.path().join(to)).expect("copy");
    };
    for prompt in std::fs::read_dir(root.join("templates/prompts")).expect("prompts") {
        let name = prompt.expect("a prompt").file_name();
        let name = name.to_string_lossy();
        copy(
            &format!("templates/prompts/{name}"),
            &format!("prompts/{name}"),
        );
    }
    let pod = broken.path().join("agent-pod.yaml");
    let text = std::fs::read_to_string(&pod).expect("agent-pod.yaml");
    assert!(text.contains("{{ run.name }}"), "the pod names its run");
    std::fs::write(&pod, text.replacen("{{ run.name }}", "{{ run.name }", 1)).expect("write");
    let folder = broken.path().display().to_string();
    let out = validate(&["--templates-dir", &folder, installed]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{folder}/agent-pod.yaml:")) && stderr.contains("syntax error"),
        "{stderr}"
    );
    // New-user review 13b, N11: the installed config is previewed with a checkout's
    // templates as it is checked (before: `render` had no --templates-dir).
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .current_dir(root)
        .args([
            "render",
            "--config",
            installed,
            "--templates-dir",
            "templates",
        ])
        .args(["--event", "issue_comment", "--payload"])
        .arg("examples/variants/issue_comment/run-on-issue.json")
        .output()
        .expect("run agentpods");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: Pod"));
    let out = validate(&["--templates-dir", "no-such-folder", installed]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{installed}:1:1: the templates folder `no-such-folder` (from --templates-dir) does not exist"
        )),
        "{stderr}"
    );
}

#[test]
fn render_of_a_misspelt_event_name_says_so_instead_of_starting_nothing() {
    use std::process::Command;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let render = |event: &str| {
        Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .current_dir(root)
            .args(["render", "--event", event, "--payload"])
            .arg("examples/webhooks/pull_request/opened.json")
            .output()
            .expect("run agentpods")
    };
    let out = render("pull_requests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with(
            "--event `pull_requests`: GitHub sends no event of this name; did you mean `pull_request`?"
        ),
        "{stderr}"
    );
    // `replay` holds the name to the same list, before it signs or sends anything.
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .current_dir(root)
        .args([
            "replay",
            "--url",
            "http://127.0.0.1:9/webhook",
            "--event",
            "issue_coment",
        ])
        .args(["--payload", "examples/webhooks/pull_request/opened.json"])
        .env("GITHUB_WEBHOOK_SECRET", "s")
        .output()
        .expect("run agentpods");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did you mean `issue_comment`?"), "{stderr}");
    // An event GitHub does send, that no agent listens to, is not a mistake.
    let out = render("workflow_run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("nothing to do"), "{stderr}");
}

/// A template with several misspelt fields: `validate` names each one at once, where it is
/// written, with the field it most likely meant (a render would stop at the first).
#[test]
fn validate_names_every_misspelt_field_at_once_with_the_one_it_likely_meant() {
    use support::configs::{self, ConfigDir};

    let dir = ConfigDir::new(AGENTS.as_bytes());
    dir.write(
        "templates/agent-pod.yaml",
        RESTRICTED_POD
            .replace(
                "metadata:\n",
                "metadata:\n  annotations:\n    task: {{ task }}\n",
            )
            .as_bytes(),
    );
    dir.write(
        "templates/prompts/task.md",
        b"In {{ repo.fullname }}, {{ sender.logn }} asks:\n{{ comment.command.task }}\n\n\
          Run {{ run.nmae }} ({{ reop.name }}); {{ issue.titel }}\n",
    );
    dir.write(
        "templates/prompts/review.md",
        format!("Review #{{{{ pr.number if pr else issue.number }}}}.\n{FOCUS}").as_bytes(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .collect();
    let hint = "(the fields of each trigger: docs/templates.md)";
    assert_eq!(
        lines,
        [
            format!("templates/prompts/task.md:1:7: agent `task`: `repo.fullname`: `fullname` is not a field of `repo`; did you mean `repo.full_name`? {hint}"),
            format!("templates/prompts/task.md:1:28: agent `task`: `sender.logn`: `logn` is not a field of `sender`; did you mean `sender.login`? {hint}"),
            format!("templates/prompts/task.md:4:8: agent `task`: `run.nmae`: `nmae` is not a field of `run`; did you mean `run.name`? {hint}"),
            "templates/prompts/task.md:4:24: agent `task`: `reop.name`: `reop` is not a variable templates are given; did you mean `repo`? (the variables of each trigger: docs/templates.md)".to_string(),
            format!("templates/prompts/task.md:4:42: agent `task`: `issue.titel`: `titel` is not a field of `issue`; did you mean `issue.title`? {hint}"),
            "5 problems found".to_string(),
        ],
        "exit {:?}",
        run.code
    );
    assert_eq!(run.code, Some(1));
}

/// New-user review 13b, N9: the templates written inside services.yaml (`concurrency.group`,
/// `cluster.namespace_template`) get the field check template files get, with the field
/// likely meant, at the place in services.yaml; and a misspelt field put through a filter is
/// not also told to "give it a default" (it is not an absent part, it is not there at all).
#[test]
fn fields_misspelt_inside_services_yaml_get_the_field_likely_meant() {
    use support::configs::{self, ConfigDir};

    let config = AGENTS
        .replace(
            "  namespace: runs\n",
            "  namespace_template: \"runs-{{ repo.nam | dns_label }}\"\n",
        )
        .replace(
            "group: \"review-{{ pr.number if pr else issue.number }}\"",
            "group: \"review-{{ repo.fullname }}\"",
        );
    let dir = ConfigDir::new(config.as_bytes());
    dir.write("templates/agent-pod.yaml", pod_with_task().as_bytes());
    dir.write("templates/prompts/task.md", b"{{ comment.command.task }}\n");
    dir.write(
        "templates/prompts/review.md",
        format!("Review {{{{ repo.nam | label_value }}}}.\n{FOCUS}").as_bytes(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .collect();
    let hint = "(the fields of each trigger: docs/templates.md)";
    assert_eq!(
        lines,
        [
            format!(
                "services.yaml:3:32: cluster.namespace_template: agent `task`: `repo.nam`: `nam` is not a field of `repo`; did you mean `repo.name`? {hint}"
            ),
            format!(
                "services.yaml:19:25: agents[1].concurrency.group: agent `review`: `repo.fullname`: `fullname` is not a field of `repo`; did you mean `repo.full_name`? {hint}"
            ),
            format!(
                "templates/prompts/review.md:1:11: agent `review`: `repo.nam`: `nam` is not a field of `repo`; did you mean `repo.name`? {hint}"
            ),
            "3 problems found".to_string(),
        ],
        "exit {:?}",
        run.code
    );
}

/// New-user review 13b, N13: a field of an object empty for this agent
/// (`agent.resources.requests` of an agent that sets only limits) says so, instead of
/// listing its fields as `()`.
#[test]
fn a_field_of_an_object_empty_for_the_agent_says_it_is_empty() {
    use support::configs::{self, ConfigDir};

    let config = AGENTS.replace(
        "    prompt: prompts/task.md\n",
        "    prompt: prompts/task.md\n    resources: { limits: { cpu: \"1\" } }\n",
    );
    let dir = ConfigDir::new(config.as_bytes());
    dir.write("templates/agent-pod.yaml", pod_with_task().as_bytes());
    dir.write(
        "templates/prompts/task.md",
        b"{{ comment.command.task }} with {{ agent.resources.requests.cpu }} cores\n",
    );
    dir.write(
        "templates/prompts/review.md",
        format!("Review.\n{FOCUS}").as_bytes(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .collect();
    assert_eq!(
        lines,
        [
            "templates/prompts/task.md:1:36: agent `task`: `agent.resources.requests.cpu`: `cpu` is not a field of `agent.resources.requests`; `agent.resources.requests` has no fields for this agent: services.yaml sets none there (the fields of each trigger: docs/templates.md)",
            "1 problem found",
        ],
        "exit {:?}",
        run.code
    );
}

/// A review prompt's line that prints the focus a `/agent review` comment gives, so that
/// no prompt drops it (`validate` warns of one that does).
const FOCUS: &str = "{% if comment %}{{ comment.command.task or \"\" }}{% endif %}\n";

/// [`RESTRICTED_POD`] carrying the task, so that no agent's templates drop it.
fn pod_with_task() -> String {
    RESTRICTED_POD.replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    task: {{ task }}\n",
    )
}

/// New-user review 13b, N16: a misspelt key of a map services.yaml fills
/// (`agent.params.focuss` beside `params: { focus: … }`) gets the key it likely meant, as a
/// misspelt field does (before: only "undefined value"); and two agents answering the same
/// verb are warned about, since one comment starts both (before: nothing said).
#[test]
fn validate_names_a_misspelt_param_and_warns_of_a_verb_two_agents_answer() {
    use support::configs::{self, ConfigDir};

    let config = AGENTS.replace(
        "    prompt: prompts/review.md\n",
        "    prompt: prompts/review.md\n    params: { focus: tests }\n",
    );
    let dir = ConfigDir::new(config.as_bytes());
    dir.write("templates/agent-pod.yaml", pod_with_task().as_bytes());
    dir.write("templates/prompts/task.md", b"{{ comment.command.task }}\n");
    dir.write(
        "templates/prompts/review.md",
        format!("Review, with a focus on {{{{ agent.params.focuss }}}}.\n{FOCUS}").as_bytes(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .collect();
    assert_eq!(
        lines,
        [
            "templates/prompts/review.md:1:28: agent `review`: `agent.params.focuss`: `focuss` is not a key of `agent.params` (the agent's `params` in services.yaml); did you mean `agent.params.focus`?",
            "1 problem found",
        ],
        "exit {:?}",
        run.code
    );

    // The same verb on both agents: a warning at the second one's.
    let shared = AGENTS.replace("        verbs: [review]\n", "        verbs: [run]\n");
    let dir = ConfigDir::new(shared.as_bytes());
    dir.write("templates/agent-pod.yaml", pod_with_task().as_bytes());
    dir.write("templates/prompts/task.md", b"{{ comment.command.task }}\n");
    dir.write(
        "templates/prompts/review.md",
        b"{{ comment.command.task if comment else \"\" }}\n",
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let lines = run.stderr_lines();
    assert_eq!(
        lines.first().copied(),
        Some(
            format!(
                "{}:17:17: warning: agent `review` answers `/agent run` as agent `task` does, so \
                 one such comment starts both; if that is not meant, give one of them another verb",
                dir.path("services.yaml").display()
            )
            .as_str()
        ),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// What an agent is given and its templates drop is a warning naming the template: the
/// text of a comment command (no `task`), the Secrets it names (no `agent.secrets`).
#[test]
fn validate_warns_when_an_agent_s_templates_drop_its_task_or_its_secrets() {
    use support::configs::{self, ConfigDir};

    let config = AGENTS
        .replace(
            "images:\n",
            "secrets:\n  openai: { name: openai-api-key, key: api-key }\nimages:\n",
        )
        .replace(
            "    prompt: prompts/task.md\n",
            "    prompt: prompts/task.md\n    secrets: [openai]\n",
        );
    let dir = ConfigDir::new(config.as_bytes());
    dir.write("templates/agent-pod.yaml", RESTRICTED_POD.as_bytes());
    dir.write("templates/prompts/task.md", b"{{ comment.command.task }}\n");
    dir.write(
        "templates/prompts/review.md",
        b"Review #{{ pr.number if pr else issue.number }}.\n",
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .collect();
    assert_eq!(
        lines,
        [
            "templates/agent-pod.yaml:1:1: warning: agent `task` has a comment trigger, but its templates (`agent-pod.yaml`) never use `task` (the rendered prompt) or `comment.command.task`: what a maintainer writes after the command reaches no pod",
            "templates/agent-pod.yaml:1:1: warning: agent `task` names the secrets `openai`, but its templates (`agent-pod.yaml`) never use `agent.secrets`: its pods would run without them (mount them as templates/agent-pod.yaml does: `{% for secret in agent.secrets %}`)",
            "templates/agent-pod.yaml:1:1: warning: agent `review` has a comment trigger, but its templates (`agent-pod.yaml`) never use `task` (the rendered prompt) or `comment.command.task`: what a maintainer writes after the command reaches no pod",
            "services.yaml: ok (2 agents, 4 templates)",
        ]
    );
    assert_eq!(run.code, Some(0), "warnings, not errors");
}

/// New-user review 13f, N9: a task prompt that drops `comment.command.task` passed
/// `validate` without a word, since the pod still prints `task` (the rendered prompt): every
/// `/agent run fix X` then ran without its task. It is warned of, at the prompt.
#[test]
fn validate_warns_when_an_agent_s_prompt_drops_the_command_s_text() {
    let work = support::server::Workdir::new();
    std::fs::write(
        work.dir.path().join("templates/prompts/task.md"),
        "A maintainer asked for a fix on #{{ issue.number }}.\n",
    )
    .expect("write the prompt");
    let run = support::configs::validate(&work.config());
    let folder = format!("{}/", work.dir.path().display());
    assert_eq!(
        run.stderr_lines()
            .iter()
            .map(|l| l.replace(&folder, ""))
            .collect::<Vec<_>>()
            .first()
            .map(String::as_str),
        Some(
            "templates/prompts/task.md:1:1: warning: agent `task` has a comment trigger, but \
             its prompt `prompts/task.md` never uses `comment.command.task`: what a maintainer \
             writes after the command reaches no pod (its templates print `task`, the \
             rendered prompt); print it with `{{ comment.command.task or \"\" }}`"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, Some(0), "a warning, not an error");
}

/// An image build: a Job (with a ConfigMap beside it) on a pushed version tag.
const BUILD: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: build
    templates: [job.yaml, extra.yaml]
    triggers:
      push: {tags: [\"v*\"]}
";

const JOB: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ run.name }}
spec:
  template:
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: build
          image: {{ agent.image }}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
";

const CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ run.name ~ \"-settings\" }}
data: {}
";

/// `validate` of the build agent with these two templates: its problems.
fn build_problems(job: &str, extra: &str) -> Vec<String> {
    use support::configs::{self, ConfigDir};

    let dir = ConfigDir::new(BUILD.as_bytes());
    dir.write("templates/job.yaml", job.as_bytes());
    dir.write("templates/extra.yaml", extra.as_bytes());
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    run.stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .filter(|l| !l.contains(": warning: "))
        .collect()
}

#[test]
fn validate_refuses_a_run_the_api_server_would_refuse_or_the_controller_could_not_follow() {
    let with_policy = JOB.replace(
        "      containers:",
        "      restartPolicy: Never\n      containers:",
    );
    assert_eq!(
        build_problems(&with_policy, CONFIG_MAP),
        // job.yaml and extra.yaml: the folder's other four are not the build agent's.
        ["services.yaml: ok (1 agent, 2 templates)"]
    );
    // A Job's pod template without a restartPolicy gets `Always`, which a Job may not have.
    assert_eq!(
        build_problems(JOB, CONFIG_MAP),
        [
            "templates/job.yaml:7:5: agent `build`, push of `refs/tags/v1.0.0`: document 1, field `spec.template.spec.restartPolicy`: the API server refuses a Job whose pod template has no `restartPolicy` (the default, `Always`, is not allowed in a Job); write `restartPolicy: Never`",
            "1 problem found",
        ]
    );
    // A run whose templates make nothing to run would wait out its pending_timeout.
    let never = format!("{{% if false %}}\n{with_policy}{{% endif %}}\n");
    assert_eq!(
        build_problems(&never, CONFIG_MAP),
        [
            "templates/job.yaml:1:1: agent `build`, push of `refs/tags/v1.0.0`: the run's templates (`job.yaml`, `extra.yaml`) render no Pod and no Job, so nothing would run and the run would wait out its `pending_timeout`; a run's templates make one Pod or one Job (check the `{% if %}`s around it)",
            "1 problem found",
        ]
    );
    // The controller follows one workload a run.
    let pod = RESTRICTED_POD.replace("name: {{ run.name }}", "name: {{ run.name ~ \"-pod\" }}");
    assert_eq!(
        build_problems(&with_policy, &pod),
        [
            "templates/extra.yaml:1:1: agent `build`, push of `refs/tags/v1.0.0`: document 1: a second workload: this Pod, after the Job of `job.yaml` (document 1); the controller follows one Pod or one Job a run, so make the run's templates render only one",
            "1 problem found",
        ]
    );
}

/// A template that writes what agentpods or services.yaml decides is warned of, at its
/// line: a label agentpods replaces on every object of a run, and a pod's ServiceAccount
/// or token mount other than services.yaml's (the template's wins). Before, nothing was
/// said (new-user review 13c, N11).
#[test]
fn validate_warns_when_a_template_writes_what_agentpods_or_services_yaml_decides() {
    use support::configs::{self, ConfigDir};

    let dir = ConfigDir::new(AGENTS.as_bytes());
    let pod = RESTRICTED_POD
        .replace(
            "  name: {{ run.name }}\n",
            "  name: {{ run.name }}\n  labels:\n    app.kubernetes.io/managed-by: team\n",
        )
        .replace(
            "  restartPolicy: Never\n",
            "  restartPolicy: Never\n  serviceAccountName: default\n  automountServiceAccountToken: true\n",
        );
    dir.write("templates/agent-pod.yaml", pod.as_bytes());
    dir.write(
        "templates/prompts/review.md",
        b"Review #{{ pr.number if pr else issue.number }}.\n",
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    // Not the warning that this pod drops the task: another matter.
    let lines: Vec<String> = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .filter(|l| !l.contains("never use `task`"))
        .collect();
    assert_eq!(
        lines,
        [
            "templates/agent-pod.yaml:6:5: warning: agents `task`, `review`: the template sets label `app.kubernetes.io/managed-by`, which agentpods sets on every object of a run, replacing the template's value; leave it out, or use a label of your own",
            "templates/agent-pod.yaml:18:3: warning: agents `task`, `review`: the template's pod runs as ServiceAccount `default`, not services.yaml's `agent` (`service_account`), and the template's wins; write `serviceAccountName: {{ agent.service_account }}`",
            "templates/agent-pod.yaml:19:3: warning: agents `task`, `review`: the template's pod mounts the ServiceAccount token, but services.yaml's `automount_service_account_token` is false, and the template's wins; write `automountServiceAccountToken: {{ agent.automount_service_account_token }}`",
            "services.yaml: ok (2 agents, 4 templates)",
        ],
        "{}",
        run.stderr
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// docs/configuration.md's `namespace_template` example passes `validate` and makes a
/// namespace for a repository whose owner and name are as long as GitHub allows (39 and 100
/// characters): `dns_label` is applied to the whole name, not to a part of it (issue 13,
/// N2; `"agents-{{ repo.full_name | dns_label }}-…"` made 72 characters).
#[test]
fn the_reference_s_namespace_template_example_works_for_the_longest_repository_names() {
    use support::configs::{self, ConfigDir};

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference =
        std::fs::read_to_string(root.join("docs/configuration.md")).expect("the reference");
    let row = reference
        .lines()
        .find(|l| l.starts_with("| `namespace_template` |"))
        .expect("the reference has a namespace_template row");
    let example = row
        .split_once("`\"")
        .and_then(|(_, rest)| rest.split_once("\"`"))
        .map(|(example, _)| example.replace("\\|", "|"))
        .expect("the row gives an example as `\"…\"`");
    let yaml = AGENTS.replace(
        "  namespace: runs",
        &format!("  namespace_template: \"{example}\""),
    );

    const REVIEW: &str = "Review #{{ pr.number if pr else issue.number }}.\n";
    let dir = ConfigDir::new(yaml.as_bytes());
    dir.write("templates/agent-pod.yaml", RESTRICTED_POD.as_bytes());
    dir.write("templates/prompts/review.md", REVIEW.as_bytes());
    let run = configs::validate(&dir.path("services.yaml"));
    let problems: Vec<&str> = run
        .stderr_lines()
        .into_iter()
        .filter(|l| !l.contains(": warning: "))
        .collect();
    assert_eq!(run.code, Some(0), "{example}:\n{}", run.stderr);
    assert!(
        problems
            .iter()
            .all(|l| l.ends_with(": ok (2 agents, 4 templates)")),
        "{problems:?}"
    );

    let templates: TemplateSources = configs::templates()
        .into_iter()
        .chain([
            ("agent-pod.yaml".to_string(), RESTRICTED_POD.to_string()),
            ("prompts/review.md".to_string(), REVIEW.to_string()),
        ])
        .collect();
    let loaded = config::parse(&yaml, "services.yaml", templates).expect("the config loads");
    let engine = Engine::new(&loaded).expect("the templates compile");
    let (owner, name) = ("o".repeat(39), format!("{}.Name_Z", "n".repeat(93)));
    let mut json: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request/opened.json").body()).expect("JSON");
    json["repository"]["full_name"] = format!("{owner}/{name}").into();
    json["repository"]["name"] = name.clone().into();
    json["repository"]["owner"]["login"] = owner.clone().into();
    let body = serde_json::to_vec(&json).expect("JSON");
    let event = event::parse("pull_request", &body).expect("the long-named payload parses");
    let launch = first_launch(&loaded, &event);
    let run = engine
        .render_run(&event, DELIVERY, &launch, None)
        .unwrap_or_else(|e| panic!("{example} for {owner}/{name}: {e}"));
    let ns = &run.namespace;
    assert!(
        ns.len() <= 63
            && ns.starts_with("agents-")
            && !ns.ends_with('-')
            && ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{ns}"
    );
}

/// `render` previews a command as the payload's repository would judge it: an
/// `allowed_in` entry for that repository lets a reader start the agent, one for another
/// repository does not.
#[test]
fn render_judges_allowed_in_by_the_payload_s_repository() {
    use std::process::Command;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("services.yaml")).expect("the example");
    let dir = tempfile::tempdir().expect("a folder");
    let render = |glob: &str| {
        let config = dir.path().join("services.yaml");
        let text = example.replacen(
            "    allowed_users: []\n",
            &format!(
                "    allowed_users: []\n    allowed_in:\n      - repositories: [\"{glob}\"]\n        users: [\"Codertocat:21031067\"]\n"
            ),
            1,
        );
        let text = format!(
            "templates_dir: {}\n{text}",
            root.join("templates").display()
        );
        std::fs::write(&config, text).expect("write the config");
        Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .current_dir(root)
            .arg("render")
            .arg(&config)
            .args([
                "--event",
                "issue_comment",
                "--permission",
                "read",
                "--payload",
            ])
            .arg("examples/variants/issue_comment/run-on-issue.json")
            .output()
            .expect("run agentpods")
    };
    let here = render("Codertocat/*");
    let stdout = String::from_utf8_lossy(&here.stdout);
    assert!(
        stdout.contains("kind: Pod"),
        "{stdout}{}",
        String::from_utf8_lossy(&here.stderr)
    );
    let elsewhere = render("other/*");
    let said = String::from_utf8_lossy(&elsewhere.stderr);
    assert!(!String::from_utf8_lossy(&elsewhere.stdout).contains("kind: Pod"));
    assert!(said.contains("you need `write` permission"), "{said}");
}
