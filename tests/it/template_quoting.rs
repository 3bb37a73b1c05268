//! A YAML template cannot undo the quoting of values from GitHub. `agentpods validate` (and
//! so every config load and reload) refuses a template that prints a value unquoted or
//! puts one inside a quoted string, at the template's line and column and saying what to
//! write instead; and a rendered object that holds a key twice is refused, naming the key,
//! never "the last one wins".

use crate::support;

use agentpods::config::TemplateSources;
use agentpods::github::event;
use agentpods::plan::{Decision, Facts, Planner};
use agentpods::render::Engine;
use support::configs::{self, ConfigDir, text_at, validate};
use support::fixtures::{DELIVERY, fixture};

const SERVICES: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: review
    templates: [agent-pod.yaml]
    prompt: prompts/review.md
    triggers:
      pull_request: {}
";

/// The pod template with `line` added to the container (at line 8).
fn pod_with(line: &str) -> String {
    format!("{}{line}\n", configs::POD_TEMPLATE)
}

/// The 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let byte = text
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} in {text}"));
    let before = &text[..byte];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// What `agentpods validate` says of the config with this pod template, as
/// `(line, column, message)` in `templates/agent-pod.yaml`, after checking that each
/// position holds `{{` or `{%` or the filter named.
fn refused(template: &str) -> Vec<(usize, usize, String)> {
    let dir = ConfigDir::new(SERVICES.as_bytes());
    dir.write("templates/agent-pod.yaml", template.as_bytes());
    let out = validate(&dir.path("services.yaml"));
    assert_eq!(
        out.code,
        Some(1),
        "validate must refuse:\n{template}\n{}",
        out.stdout
    );
    let shown = dir.path("templates/agent-pod.yaml").display().to_string();
    out.stderr_lines()
        .iter()
        .filter_map(|line| {
            let rest = line.strip_prefix(&shown)?.strip_prefix(':')?;
            let mut parts = rest.splitn(3, ':');
            let l: usize = parts.next()?.parse().ok()?;
            let c: usize = parts.next()?.parse().ok()?;
            let message = parts.next()?.trim().to_string();
            let at = text_at(template, l, c).unwrap_or_default();
            assert!(
                [
                    "{{",
                    "{%",
                    "safe",
                    "e ",
                    "e}",
                    "escape",
                    "autoescape",
                    "macro",
                    "set",
                    "include"
                ]
                .iter()
                .any(|p| at.starts_with(p))
                    || at.starts_with("\"prompts"),
                "{line} points at {at:?}"
            );
            Some((l, c, message))
        })
        .collect()
}

#[test]
fn the_shipped_pod_template_passes_validate() {
    let dir = ConfigDir::new(SERVICES.as_bytes());
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/agent-pod.yaml");
    dir.write(
        "templates/agent-pod.yaml",
        &std::fs::read(shipped).expect("the shipped template"),
    );
    // A prompt is markdown, not YAML: `safe` and quotes there are its own business.
    dir.write(
        "templates/prompts/review.md",
        b"Review '{{ pr.title }}' and {{ pr.body | safe }}.\n",
    );
    let out = validate(&dir.path("services.yaml"));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn a_template_that_prints_github_text_unquoted_is_refused_at_load_with_what_to_write() {
    for (line, at, expect) in [
        (
            "      args: [{{ pr.title | safe }}]",
            "safe",
            "write `{{ value }}`",
        ),
        (
            "      args: [{{ pr.title|e }}]",
            "e }}]",
            "write `{{ value }}`",
        ),
        (
            "      args: [{{ pr.title | escape }}]",
            "escape",
            "write `{{ value }}`",
        ),
    ] {
        let template = pod_with(line);
        let found = refused(&template);
        assert_eq!(found.len(), 1, "{line}: {found:?}");
        assert_eq!(
            (found[0].0, found[0].1),
            position(&template, at),
            "{line}: {found:?}"
        );
        assert!(found[0].2.contains(expect), "{line}: {found:?}");
    }
    let found = refused(&format!(
        "{{% autoescape false %}}\n{}{{% endautoescape %}}\n",
        configs::POD_TEMPLATE
    ));
    assert_eq!((found[0].0, found[0].1), (1, 4), "{found:?}");
    assert!(found[0].2.contains("turn off the quoting"), "{found:?}");
    let template = pod_with(
        "{% set t %}{{ pr.title }}{% endset %}\n      args: [{{ t | replace('\\\\n', '\\n') }}]",
    );
    let found = refused(&template);
    assert_eq!(
        (found[0].0, found[0].1),
        position(&template, "set t"),
        "{found:?}"
    );
    assert!(found[0].2.contains("`{% set x = … %}`"), "{found:?}");
    let template = pod_with("{% include \"prompts/review.md\" %}");
    let found = refused(&template);
    assert_eq!(
        (found[0].0, found[0].1),
        position(&template, "\"prompts"),
        "{found:?}"
    );
    assert!(found[0].2.contains("not a YAML template"), "{found:?}");
}

#[test]
fn a_value_inside_a_quoted_string_or_a_block_scalar_is_refused_at_load() {
    for (line, at, place) in [
        (
            "      workingDir: '/work/{{ pr.head.ref }}'",
            "{{ pr.head",
            "single-quoted",
        ),
        (
            "      workingDir: \"/work/{{ pr.head.ref }}\"",
            "{{ pr.head",
            "double-quoted",
        ),
        (
            "      workingDir: /work/{{ pr.head.ref }}",
            "{{ pr.head",
            "longer plain value",
        ),
        (
            "      args: ['--title={{ pr.title }}']",
            "{{ pr.title",
            "single-quoted",
        ),
        (
            "      args:\n        - |\n          {{ pr.body }}",
            "{{ pr.body",
            "block scalar",
        ),
    ] {
        let template = pod_with(line);
        let found = refused(&template);
        assert_eq!(found.len(), 1, "{line}: {found:?}");
        assert_eq!(
            (found[0].0, found[0].1),
            position(&template, at),
            "{line}: {found:?}"
        );
        assert!(found[0].2.contains(place), "{line}: {found:?}");
        assert!(
            found[0].2.contains("{{ \"prefix-\" ~ value }}"),
            "says what to write instead: {found:?}"
        );
    }
}

/// Renders the opened pull request (base branch `master`) with `template` as the agent's
/// pod, through the shape cache and without it; both must fail alike.
fn render_error(template: &str) -> String {
    let mut templates: TemplateSources = configs::templates();
    templates.insert("agent-pod.yaml".into(), template.into());
    let loaded = agentpods::config::parse(SERVICES, configs::FILE, templates)
        .unwrap_or_else(|e| panic!("the config loads:\n{e}"));
    let body = fixture("pull_request/opened.json").body();
    let event = event::parse("pull_request", &body).expect("the fixture parses");
    let launch = Planner::new(&loaded.config)
        .plan(
            &event,
            Some(agentpods::plan::RunKey::new(DELIVERY)),
            &Facts::default(),
        )
        .into_iter()
        .find_map(|d| match d {
            Decision::Launch(l) => Some(l),
            _ => None,
        })
        .expect("the review agent launches");
    let errors: Vec<String> = [true, false]
        .into_iter()
        .map(|cache| {
            let engine = Engine::new(&loaded)
                .expect("templates compile")
                .with_shape_cache(cache);
            match engine.render_run(&event, DELIVERY, &launch, None) {
                Ok(run) => panic!("expected a render error, got {:#?}", run.objects),
                Err(e) => e.to_string(),
            }
        })
        .collect();
    assert_eq!(errors[0], errors[1], "cached and full render disagree");
    errors[0].clone()
}

/// A value may not stand where a key goes: a pull request's base branch (`master` here)
/// would repeat the template's own key, a title could make a merge key `<<`. Found by the
/// attacker review: `validate` said ok, and the repeat was a 500 at delivery.
#[test]
fn a_value_in_a_key_s_place_is_refused_when_the_template_is_loaded() {
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\ndata:\n  \
         master: from-the-template\n  {{ pr.base.ref }}: from-the-event\n";
    let mut templates: TemplateSources = configs::templates();
    templates.insert("agent-pod.yaml".into(), template.into());
    let Err(error) = agentpods::config::parse(SERVICES, configs::FILE, templates) else {
        panic!("a value in a key's place was accepted");
    };
    let error = error.to_string();
    let (line, col) = position(template, "{{ pr.base.ref");
    assert!(
        error.contains(&format!("agent-pod.yaml:{line}:{col}"))
            && error.contains("as a mapping key"),
        "{error}"
    );
}

/// A key written twice is refused naming it, never "the last one wins", anywhere in the
/// object (the template's own mistake here: values cannot make keys).
#[test]
fn a_key_written_twice_is_refused_naming_it_never_the_last_one_wins() {
    let error = render_error(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ run.name }}\ndata:\n  \
         master: from-the-template\n{% if pr %}\n  master: again\n{% endif %}\n",
    );
    assert!(
        error.contains("the key `master` appears twice")
            && error.contains("`data`")
            && error.contains("YAML would keep only the last one"),
        "{error}"
    );
    let error = render_error(&format!(
        "{}      command: [agentpods, agent]\n      master: x\n      master: y\n",
        configs::POD_TEMPLATE
    ));
    assert!(
        error.contains("the key `master` appears twice") && error.contains("`spec.containers[0]`"),
        "{error}"
    );
}

#[test]
fn engines_refuse_the_same_templates_the_loader_does() {
    // A config built in code, past the loader: the engine checks the templates itself.
    let mut loaded = configs::load(SERVICES);
    let template = pod_with("      workingDir: '/w/{{ pr.title }}'");
    let (line, col) = position(&template, "{{ pr.title");
    loaded.templates.insert("agent-pod.yaml".into(), template);
    let error = Engine::new(&loaded).err().expect("refused").to_string();
    assert!(
        error.contains("agent-pod.yaml") && error.contains(&format!("line {line} column {col}")),
        "{error}"
    );
}
