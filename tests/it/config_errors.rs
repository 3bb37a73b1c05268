//! What an operator sees for a broken services.yaml: every problem at once, each as
//! `FILE:LINE:COL: message`, pointing at the key or value at fault, in words that say what
//! to write instead.
//!
//! Each case gives the input, the exact lines expected, and the text each line points at;
//! the table checks that the text really is at that line and column, so a wrong position in
//! an expectation cannot slip in by hand.

use crate::support;

use support::configs::{self, ConfigDir, errors, errors_with, templates, text_at};

struct Case {
    what: &'static str,
    yaml: &'static str,
    /// The expected messages, each with the text found at its line and column.
    expect: &'static [(&'static str, &'static str)],
}

/// Checks every case and reports all mismatches together.
fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        for (points_at, line) in case.expect {
            let position = position_in(line, configs::FILE);
            let found = position.and_then(|(l, c)| text_at(case.yaml, l, c));
            assert!(
                found.is_some_and(|f| f.starts_with(points_at)),
                "the table is wrong for `{}`: `{line}` should point at `{points_at}`, \
                 but that position holds {found:?}",
                case.what,
            );
        }
        let actual = errors(case.yaml);
        let expected: Vec<&str> = case.expect.iter().map(|(_, line)| *line).collect();
        if actual != expected {
            failures.push(format!(
                "{}:\n--- input\n{}--- expected\n{}\n--- actual\n{}\n",
                case.what,
                case.yaml,
                expected.join("\n"),
                actual.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `(line, column)` of a `FILE:LINE:COL: message` line for the given file.
fn position_in(line: &str, file: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix(file)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[test]
fn a_valid_config_loads_so_the_broken_ones_below_fail_for_their_own_reason() {
    let loaded = configs::load(
        "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  openai: {name: openai-api-key, key: api-key}
agents:
  - name: task
    prompt: prompts/task.md
    secrets: [openai]
    env: {LOG_LEVEL: debug}
    triggers:
      comment:
        verbs: [run]
      push:
        branches: [main]
",
    );
    assert_eq!(loaded.config.agents[0].name.as_str(), "task");
}

/// An agent may list a built-in verb that starts agents (`run`, `review`: it is whom the
/// verb starts), never one the service carries out itself; the list is the parser's own,
/// so a verb made built-in in a release is refused by name in every services.yaml that gave
/// it to an agent, and a verb that starts agents keeps starting the agents listing it.
#[test]
fn an_agent_may_list_the_built_in_verbs_that_start_agents_and_no_other() {
    use agentpods::github::command::BuiltinVerb;
    for verb in BuiltinVerb::ALL {
        let yaml = format!(
            "project: demo\ncluster:\n  namespace: runs\nimages:\n  agent: ghcr.io/acme/agent:1.0\n\
             agents:\n  - name: task\n    triggers:\n      comment:\n        verbs: [{verb}]\n"
        );
        if verb.starts_agents() {
            configs::load(&yaml);
        } else {
            let found = errors(&yaml);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(
                found[0].starts_with(&format!(
                    "services.yaml:10:17: `{verb}` is a built-in command of agentpods and \
                     cannot start an agent"
                )),
                "{found:?}"
            );
        }
    }
}

#[test]
fn yaml_syntax_errors_point_at_the_character_at_fault() {
    check(&[
        Case {
            what: "an unclosed flow sequence",
            yaml: "\
project: demo
cluster:
  namespace: runs
agents: [task, review
",
            expect: &[(
                "[task",
                "services.yaml:4:9: invalid YAML: this `[` is never closed (expected `,` or `]` at line 5 column 1)",
            )],
        },
        Case {
            // New-user review 13h, F3: before, "invalid indentation" two lines below.
            what: "an unclosed flow sequence inside a nested mapping",
            yaml: "\
project: demo
cluster: { namespace: runs }
agents:
  - name: review
    env: { A: \"1\" }
    triggers:
      comment:
        verbs: [review
    concurrency:
      group: \"review-{{ pr.number }}\"
",
            expect: &[(
                "[review",
                "services.yaml:8:16: invalid YAML: this `[` is never closed (expected `,` or `]` at line 10 column 7)",
            )],
        },
        Case {
            // New-user review 13h, F3: before, "while parsing a node, did not find
            // expected node content".
            what: "an unclosed flow sequence as the last line",
            yaml: "\
project: demo
cluster:
  namespace: runs
agents: [
",
            expect: &[(
                "[",
                "services.yaml:4:9: invalid YAML: this `[` is never closed (expected `,` or `]` at line 5 column 1)",
            )],
        },
        Case {
            // New-user review 13e, N6: before, "a mapping key must be a plain string".
            what: "a template written unquoted, which YAML reads as its own map",
            yaml: "\
project: demo
cluster:
  namespace_template: {{ repo.name }}
agents: []
",
            expect: &[(
                "{{ repo",
                "services.yaml:3:23: a value that starts with `{{` is read as YAML's own `{ … }` (a map), not as a template: quote the whole value, `\"{{ … }}\"`",
            )],
        },
        Case {
            // New-user review 13f, N10: before, "invalid indentation in quoted scalar".
            what: "an unclosed quote",
            yaml: "\
project: demo
cluster:
  namespace: runs
agents:
  - name: review
    concurrency:
      group: \"review-{{ pr.number }}
    triggers:
      pull_request: {}
",
            expect: &[(
                "\"review",
                "services.yaml:7:14: invalid YAML: this `\"` is never closed on its line: end the value with `\"`",
            )],
        },
        Case {
            // New-user review 13f, N10: before, "while parsing a block mapping, did not
            // find expected key" at the line's start.
            what: "a template written unquoted, with text after it",
            yaml: "\
project: demo
cluster:
  namespace_template: {{ repo.name }} runs
agents: []
",
            expect: &[(
                "{{ repo",
                "services.yaml:3:23: a value that starts with `{{` is read as YAML's own `{ … }` (a map), not as a template: quote the whole value, `\"{{ … }}\"`",
            )],
        },
        Case {
            what: "an unclosed flow mapping",
            yaml: "\
project: demo
cluster: {namespace: runs
agents: []
",
            expect: &[(
                "{namespace",
                "services.yaml:2:10: invalid YAML: this `{` is never closed (expected `,` or `}` at line 3 column 7)",
            )],
        },
        Case {
            what: "a key without its `:`, keys below it (new-user review 13b, N10)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    timeout 45m
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "timeout 45m",
                "services.yaml:8:5: invalid YAML: `timeout 45m` is a key without its `:`; write \
                 `timeout: 45m` (a key, then `:` and a space, then its value)",
            )],
        },
        Case {
            what: "the one key of a mapping without its `:` (new-user review 13b, N10)",
            yaml: "\
project: demo
cluster:
  namespace runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "namespace runs",
                "services.yaml:3:3: cluster: expected a mapping, found a string: write \
                 `namespace: runs`",
            )],
        },
        Case {
            what: "a key indented deeper than its neighbours",
            yaml: "\
project: demo
cluster:
  namespace: runs
   service_account: agent
",
            expect: &[(
                "service_account",
                "services.yaml:4:4: invalid YAML: this line is indented to column 4, but a key \
                 must start where one above it does: column 3 (as `namespace`, line 3) or column 1 \
                 (as `cluster`, line 2); or, if this line holds a value with `: `, quote it",
            )],
        },
        Case {
            what: "a value holding `: ` on a line indented like its neighbours",
            yaml: "\
project: demo
cluster:
  namespace: runs
  service_account: agent: one
",
            expect: &[(
                "service_account",
                "services.yaml:4:3: invalid YAML: mapping values are not allowed in this context \
                 (is this line indented like its neighbours? a value holding `: ` must be quoted)",
            )],
        },
        Case {
            what: "a key indented less than its neighbours",
            yaml: "\
project: demo
cluster:
    namespace: runs
  service_account: agent
",
            expect: &[(
                "service_account",
                "services.yaml:4:3: invalid YAML: this line is indented to column 3, but a key \
                 must start where one above it does: column 5 (as `namespace`, line 3) or column 1 \
                 (as `cluster`, line 2); or, if this line holds a value with `: `, quote it",
            )],
        },
        Case {
            what: "a key of a list item indented less than the item's other keys",
            yaml: "\
project: demo
agents:
  - name: review
   templates: [pod.yaml]
",
            expect: &[(
                "templates",
                "services.yaml:4:4: invalid YAML: this line is indented to column 4, but a key \
                 must start where one above it does: column 5 (as `name`, line 3) or column 1 \
                 (as `agents`, line 2); or, to start a new item of the list at line 3, begin it \
                 with `- ` at column 3; or, if this line holds a value with `: `, quote it",
            )],
        },
        Case {
            what: "a list item indented less than the one above it",
            yaml: "\
project: demo
agents:
  - name: review
    templates:
      - pod.yaml
     - task.yaml
",
            expect: &[(
                "- task",
                "services.yaml:6:6: invalid YAML: this list item is indented to column 6, but the \
                 item above it (line 5) starts at column 7; the items of one list start in the \
                 same column",
            )],
        },
        Case {
            what: "a tab as indentation",
            yaml: "project: demo\ncluster:\n\tnamespace: runs\n",
            expect: &[(
                "\tnamespace",
                "services.yaml:3:1: invalid YAML: a tab indents this line; YAML is indented with spaces only",
            )],
        },
        Case {
            what: "duplicate keys, all of them",
            yaml: "\
project: demo
cluster:
  namespace: runs
  namespace: other
project: again
",
            expect: &[
                (
                    "namespace: other",
                    "services.yaml:4:3: duplicate key `namespace` (first defined at line 3)",
                ),
                (
                    "project: again",
                    "services.yaml:5:1: duplicate key `project` (first defined at line 1)",
                ),
            ],
        },
        Case {
            // Attacker review 15b, A3: before, nothing after the first document was read.
            what: "a second document after `---`, junk or not",
            yaml: "project: demo\ncluster:\n  namespace: runs\n---\n}junk{ [\n",
            expect: &[(
                "---",
                "services.yaml:4:1: a second YAML document starts here; the file holds one: \
                 delete from here on, or move what it says into the first document",
            )],
        },
        Case {
            what: "a list where the config's mapping belongs",
            yaml: "- project: demo\n",
            expect: &[(
                "- project",
                "services.yaml:1:1: expected a mapping, found a list",
            )],
        },
    ]);
}

#[test]
fn values_of_the_wrong_type_say_what_was_expected() {
    check(&[
        Case {
            what: "a string where a list is expected",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: run
",
            expect: &[(
                "run",
                "services.yaml:10:16: agents[0].triggers.comment.verbs: expected a list, found a string: write `verbs: [run]`",
            )],
        },
        Case {
            what: "an integer for a duration",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    timeout: 30
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "30",
                "services.yaml:8:14: agents[0].timeout: expected a duration such as 30m, found an integer",
            )],
        },
        Case {
            what: "a mapping for a boolean",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    automount_service_account_token: {enabled: true}
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "{enabled",
                "services.yaml:8:38: agents[0].automount_service_account_token: expected a boolean (true or false), found a mapping",
            )],
        },
        Case {
            what: "a number where a quantity string is expected",
            yaml: "\
project: demo
cluster:
  namespace: runs
  defaults:
    resources:
      limits: {cpu: 2.5}
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "2.5",
                "services.yaml:6:21: cluster.defaults.resources.limits.cpu: expected a quantity such as 500m or 4Gi, as a string, found a number: write `cpu: \"2.5\"`",
            )],
        },
    ]);
}

#[test]
fn unknown_keys_are_reported_at_every_depth_with_a_suggestion_when_one_is_close() {
    check(&[
        Case {
            what: "a misspelt top-level key (and no separate complaint that `agents` is missing)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agnets:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "agnets",
                "services.yaml:6:1: unknown key `agnets`, did you mean `agents`?",
            )],
        },
        Case {
            what: "a misspelt key one level down",
            yaml: "\
project: demo
cluster:
  namspace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "namspace",
                "services.yaml:3:3: cluster: unknown key `namspace`, did you mean `namespace`?",
            )],
        },
        Case {
            what: "a GPU in an agent's resources: not a misspelt `cpu` (new-user review 13b, N13)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    resources: {limits: {gpu: \"1\", nvidia.com/gpu: \"1\"}}
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "gpu",
                    "services.yaml:8:26: agents[0].resources.limits: unknown key `gpu`: a resource \
                     list here takes cpu, ephemeral-storage, memory only; a GPU or another extended \
                     resource (`nvidia.com/gpu`) goes in the pod template's container `resources`, \
                     under `limits` (`limits: { nvidia.com/gpu: 1 }`)",
                ),
                (
                    "nvidia.com/gpu",
                    "services.yaml:8:36: agents[0].resources.limits: unknown key `nvidia.com/gpu`: \
                     a resource list here takes cpu, ephemeral-storage, memory only; a GPU or \
                     another extended resource (`nvidia.com/gpu`) goes in the pod template's \
                     container `resources`, under `limits` (`limits: { nvidia.com/gpu: 1 }`)",
                ),
            ],
        },
        Case {
            what: "a misspelt key four levels down, inside a list item",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verb: [run]
",
            expect: &[(
                "verb:",
                "services.yaml:10:9: agents[0].triggers.comment: unknown key `verb`, did you mean `verbs`?",
            )],
        },
        Case {
            what: "an unknown key with nothing close lists the keys allowed there",
            yaml: "\
project: demo
github:
  xyzzy: true
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "xyzzy",
                "services.yaml:3:3: github: unknown key `xyzzy` (expected one of: authorization, command_prefix, report)",
            )],
        },
        Case {
            what: "an unknown trigger",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      schedule: daily
",
            expect: &[(
                "schedule",
                "services.yaml:9:7: agents[0].triggers: unknown key `schedule` (expected one of: comment, issues, pull_request, push, release)",
            )],
        },
    ]);
}

#[test]
fn a_key_dedented_out_of_its_block_says_where_it_belongs_and_how_far_to_indent_it() {
    check(&[
        Case {
            what: "a trigger's key dedented to the agent",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
    targets: [issue]
",
            expect: &[(
                "targets",
                "services.yaml:11:5: agents[0]: unknown key `targets` here; it is a key of \
                 `agents[0].triggers.comment` above it: indent it to column 9, in line with `verbs`",
            )],
        },
        // Review 13i, F3: before, "unknown key `verbs` (expected one of: comment, issues,
        // …)", as if `verbs` were meant for a trigger.
        Case {
            what: "the only key of a trigger dedented, leaving it empty",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
      verbs: [run]
",
            expect: &[(
                "verbs",
                "services.yaml:10:7: agents[0].triggers: unknown key `verbs` here; it is a key \
                 of `agents[0].triggers.comment` above it: `comment` is empty without it: \
                 indent it under `comment:`",
            )],
        },
        Case {
            what: "a cluster key dedented to the top level",
            yaml: "\
project: demo
cluster:
  namespace: runs
  service_account: agent
defaults:
  timeout: 10m
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "defaults",
                "services.yaml:5:1: unknown key `defaults` here; it is a key of `cluster` above \
                 it: indent it to column 3, in line with `namespace`",
            )],
        },
        Case {
            what: "an agent's key dedented into the list of agents' parent",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
timeout: 10m
",
            expect: &[(
                "timeout",
                "services.yaml:11:1: unknown key `timeout` here; it is a key of `agents[0]` above \
                 it: indent it to column 5, in line with `name`",
            )],
        },
    ]);
}

#[test]
fn values_outside_an_enum_are_named_with_the_allowed_ones() {
    check(&[
        Case {
            what: "a fork policy that does not exist",
            yaml: "\
project: demo
github:
  authorization:
    fork_pull_requests: sometimes
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "sometimes",
                "services.yaml:4:25: github.authorization.fork_pull_requests: unknown value `sometimes` (expected one of: never, approve, always)",
            )],
        },
        Case {
            what: "a misspelt permission",
            yaml: "\
project: demo
github:
  authorization:
    min_permission: writ
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "writ",
                "services.yaml:4:21: github.authorization.min_permission: unknown value `writ`, did you mean `write`?",
            )],
        },
        Case {
            what: "release actions GitHub has but a trigger does not take (outside review 11c)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      release: { actions: [published, edited, removed] }
",
            expect: &[
                (
                    "edited",
                    "services.yaml:9:39: agents[0].triggers.release.actions[1]: unknown value `edited` (expected one of: published, created, released, prereleased)",
                ),
                (
                    "removed",
                    "services.yaml:9:47: agents[0].triggers.release.actions[2]: unknown value `removed` (expected one of: published, created, released, prereleased)",
                ),
            ],
        },
    ]);
}

#[test]
fn values_in_a_bad_format_say_what_the_format_is() {
    check(&[
        Case {
            what: "a duration in words",
            yaml: "\
project: demo
cluster:
  namespace: runs
  defaults:
    timeout: soon
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "soon",
                "services.yaml:5:14: cluster.defaults.timeout: `soon` is not a duration: write a number and a unit, like 90s, 30m, 1.5h, 1h 30m or 2d",
            )],
        },
        Case {
            what: "a glob that does not compile",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      push:
        branches: [\"[\"]
",
            expect: &[(
                "\"[\"",
                "services.yaml:10:20: agents[0].triggers.push.branches[0]: invalid glob `[`: unclosed character class; missing ']'",
            )],
        },
        Case {
            what: "a quantity with a unit Kubernetes does not know",
            yaml: "\
project: demo
cluster:
  namespace: runs
  defaults:
    resources:
      limits: {memory: 4gb}
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "4gb",
                "services.yaml:6:24: cluster.defaults.resources.limits.memory: `4gb` is not a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi",
            )],
        },
        Case {
            what: "an agent name that cannot be part of a pod name",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: Review_Bot
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "Review_Bot",
                "services.yaml:7:11: agents[0].name: `Review_Bot` is not a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            )],
        },
        Case {
            what: "an environment variable name starting with a digit (a key, not a value)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    env:
      1X: one
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "1X",
                "services.yaml:9:7: agents[0].env.1X: `1X` is not an environment variable name: letters, digits and '_', not starting with a digit",
            )],
        },
    ]);
}

#[test]
fn missing_required_keys_point_at_the_mapping_that_lacks_them() {
    check(&[
        Case {
            what: "no project",
            yaml: "\
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "cluster",
                "services.yaml:1:1: missing required key `project`",
            )],
        },
        Case {
            what: "an agent without a name",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "triggers",
                "services.yaml:7:5: agents[0]: missing required key `name`",
            )],
        },
    ]);
}

/// New-user review 13e, N10: an agent's `env` name that agentpods, a secret of the agent or
/// its template sets too was taken silently, and the container had it twice (one value
/// lost). Each is refused at its value, saying who else sets it.
#[test]
fn an_env_name_someone_else_sets_is_refused_saying_who() {
    let yaml = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  openai: {name: openai-api-key, key: api-key, env: OPENAI_API_KEY}
agents:
  - name: task
    prompt: prompts/task.md
    secrets: [openai]
    env:
      HOME: /tmp
      AGENTPODS_RUN: mine
      OPENAI_API_KEY: sk-test
      GITHUB_API_URL: https://ghe.example/api/v3
      LOG_LEVEL: debug
    triggers:
      comment:
        verbs: [run]
";
    let mut with_env = templates();
    with_env.insert(
        "agent-pod.yaml".into(),
        format!(
            "{}      env:\n        - name: GITHUB_API_URL\n          value: {{{{ github.api_url }}}}\n",
            configs::POD_TEMPLATE
        ),
    );
    assert_eq!(
        errors_with(yaml, with_env),
        [
            "services.yaml:13:13: agent `task`: `env.HOME` is set by agentpods' pod (the agent's home folder): the container would have it twice, and one value would be lost; give it another name",
            "services.yaml:14:22: agent `task`: `env.AGENTPODS_RUN` is agentpods' own (`AGENTPODS_*` names tell its steps the run, the task and the checkout): the container would have it twice, and one value would be lost; give it another name",
            "services.yaml:15:23: agent `task`: `env.OPENAI_API_KEY` is also the variable of secret `openai`, which the agent is given (or give the secret another `env`): the container would have it twice, and one value would be lost; give it another name",
            "services.yaml:16:23: agent `task`: `env.GITHUB_API_URL` is set by its template `agent-pod.yaml` too (line 10): the container would have it twice, and one value would be lost; give it another name",
        ]
    );
}

#[test]
fn names_that_refer_to_nothing_are_reported_with_what_exists() {
    check(&[
        Case {
            what: "a misspelt image and secret",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  openai: {name: openai-api-key, key: api-key}
agents:
  - name: task
    image: agnt
    secrets: [opnai]
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "agnt",
                    "services.yaml:10:12: unknown image `agnt`, did you mean `agent`?",
                ),
                (
                    "opnai",
                    "services.yaml:11:15: unknown secret `opnai`, did you mean `openai`?",
                ),
            ],
        },
        Case {
            what: "an image with nothing close, and a secret where none are defined",
            yaml: "\
project: demo
cluster:
  namespace: runs
  defaults:
    image: builder
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    secrets: [openai]
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "builder",
                    "services.yaml:5:12: unknown image `builder` (defined in `images`: agent)",
                ),
                (
                    "openai",
                    "services.yaml:10:15: unknown secret `openai`: `secrets` defines none",
                ),
            ],
        },
        Case {
            what: "template files that are not in the templates folder",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    templates: [agent-pd.yaml, build.yaml, prompts/task.md]
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "agent-pd.yaml",
                    "services.yaml:8:17: template `agent-pd.yaml` not found in the templates folder `templates`, did you mean `agent-pod.yaml`?",
                ),
                (
                    "build.yaml",
                    "services.yaml:8:32: template `build.yaml` not found in the templates folder `templates`: add the file there, or name one it has (`agent-pod.yaml`, `comment.md`, `prompts/review.md`, `prompts/task.md`)",
                ),
                (
                    "prompts/task.md",
                    "services.yaml:8:44: template `prompts/task.md` renders Kubernetes objects, so it must be a .yaml or .yml file",
                ),
            ],
        },
        Case {
            what: "a prompt named from above the templates folder (new-user review 13c, N12)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    prompt: templates/prompts/task.md
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "templates/prompts",
                "services.yaml:8:13: template `templates/prompts/task.md` not found in the templates folder `templates`: names are relative to the templates folder, so write `prompts/task.md`",
            )],
        },
        Case {
            what: "a secret's value where its reference goes (new-user review 13c, N12)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  anthropic: sk-ant-not-a-real-key
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "sk-ant",
                "services.yaml:7:14: secrets.anthropic: expected a mapping, found a string: an entry of `secrets` names a Kubernetes Secret, never holds its value: write `{ name: SECRET, key: KEY, env: VARIABLE }`, and create the Secret with kubectl (docs/setup.md)",
            )],
        },
        Case {
            what: "a prompt that is not in the templates folder",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    prompt: prompts/tsk.md
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "prompts/tsk.md",
                "services.yaml:8:13: template `prompts/tsk.md` not found in the templates folder `templates`, did you mean `prompts/task.md`?",
            )],
        },
    ]);
}

#[test]
fn rules_the_schema_cannot_express_are_checked_after_it() {
    check(&[
        Case {
            what: "branch and tag globs that can never match",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: build
    triggers:
      pull_request: {branches: [refs/heads/main]}
      push:
        branches: [\"\", main, main]
        tags: [refs/tags/v*, refs/heads/release]
",
            expect: &[
                (
                    "refs/heads/main]",
                    "services.yaml:9:33: agents[0].triggers.pull_request.branches: `refs/heads/main` can never match: branch names are matched without `refs/heads/`; write `main`",
                ),
                (
                    "\"\"",
                    "services.yaml:11:20: agents[0].triggers.push.branches: an empty glob matches no branch; write one such as `main`, or leave it out",
                ),
                (
                    "main]",
                    "services.yaml:11:30: agents[0].triggers.push.branches: `main` is already in this list; leave one out",
                ),
                (
                    "refs/tags/v*",
                    "services.yaml:12:16: agents[0].triggers.push.tags: `refs/tags/v*` can never match: tag names are matched without `refs/tags/`; write `v*`",
                ),
                (
                    "refs/heads/release",
                    "services.yaml:12:30: agents[0].triggers.push.tags: `refs/heads/release` can never match: it names a branch by its full ref, and this list holds tag names; put `release` in `branches`",
                ),
            ],
        },
        Case {
            what: "filters that can never match: a path from the root, a regular expression, no actions",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: build
    triggers:
      pull_request: {paths: [/src/**, ./lib/**], actions: []}
      push:
        tags: [\"v[0-9]+.*\", \"^release-(stable|lts)$\"]
      release: {actions: []}
",
            expect: &[
                (
                    "/src/**",
                    "services.yaml:9:30: agents[0].triggers.pull_request.paths: `/src/**` can never match: changed files are named from the repository's root, like `src/main.rs`, with no leading `/`; write `src/**`",
                ),
                (
                    "./lib/**",
                    "services.yaml:9:39: agents[0].triggers.pull_request.paths: `./lib/**` can never match: changed files are named from the repository's root, like `src/main.rs`, with no leading `./`; write `lib/**`",
                ),
                (
                    "[]}",
                    "services.yaml:9:59: agents[0].triggers.pull_request.actions: an empty list matches no delivery; give at least one action, or leave `actions` out for the default (opened, synchronize, reopened, ready_for_review)",
                ),
                (
                    "\"v[0-9]",
                    "services.yaml:11:16: agents[0].triggers.push.tags: `v[0-9]+.*` looks like a regular expression, but tags are matched with globs (`*` for any text, `?` for one character, `[0-9]` for one of a set); write `v[0-9]*`",
                ),
                (
                    "\"^release",
                    "services.yaml:11:29: agents[0].triggers.push.tags: `^release-(stable|lts)$` looks like a regular expression, but tags are matched with globs (`*` for any text, `?` for one character, `[0-9]` for one of a set); write `release-{stable,lts}`",
                ),
                (
                    "[]}",
                    "services.yaml:12:26: agents[0].triggers.release.actions: an empty list matches no delivery; give at least one action, or leave `actions` out for the default (published)",
                ),
            ],
        },
        Case {
            what: "a duration with a unit twice, and a YAML template as a prompt (new-user review 13c, N13)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    prompt: agent-pod.yaml
    timeout: 15m 15m
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "agent-pod.yaml",
                    "services.yaml:8:13: template `agent-pod.yaml` is a YAML template, but a prompt is a text template, rendered into the agent's task: name a Markdown or text file, like `prompts/task.md` (YAML templates go in `templates`)",
                ),
                (
                    "15m 15m",
                    "services.yaml:9:14: agents[0].timeout: duration `15m 15m` gives `m` more than once; give each unit once, like 1h 30m (`30m` if you mean their sum)",
                ),
            ],
        },
        Case {
            what: "both a namespace and a namespace template",
            yaml: "\
project: demo
cluster:
  namespace: runs
  namespace_template: \"runs-{{ pr.number }}\"
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "\"runs-",
                "services.yaml:4:23: cluster: give `namespace` or `namespace_template`, not both",
            )],
        },
        Case {
            what: "neither a namespace nor a namespace template",
            yaml: "\
project: demo
cluster:
  service_account: agent
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "service_account",
                "services.yaml:3:3: cluster: give `namespace` (one namespace for every run) or `namespace_template`",
            )],
        },
        Case {
            what: "two agents with one name",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
  - name: task
    triggers:
      comment:
        verbs: [fix]
",
            expect: &[(
                "task",
                "services.yaml:11:11: agents[1]: agent name `task` is already used by agents[0]",
            )],
        },
        Case {
            what: "a verb that agentpods itself answers",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run, stop]
",
            expect: &[(
                "stop",
                "services.yaml:10:22: `stop` is a built-in command of agentpods and cannot start an agent (reserved: retry, stop, status, approve, help)",
            )],
        },
        Case {
            what: "an agent with no triggers",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: idle
",
            expect: &[(
                "idle",
                "services.yaml:7:11: agent `idle` has no triggers, so it can never run",
            )],
        },
        Case {
            what: "a push trigger with neither branches nor tags",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: build
    triggers:
      push: {}
",
            expect: &[(
                "{}",
                "services.yaml:9:13: a push trigger needs `branches` or `tags` globs",
            )],
        },
    ]);
}

#[test]
fn a_template_syntax_error_points_into_the_template_file() {
    let mut broken = templates();
    broken.insert(
        "agent-pod.yaml".into(),
        configs::POD_TEMPLATE.replace("{{ run.name }}", "{{ run.name }"),
    );
    let yaml = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
";
    assert_eq!(
        errors_with(yaml, broken.clone()),
        [
            "templates/agent-pod.yaml:4:9: template syntax error: this `{{` is never closed with `}}`"
        ]
    );
    assert_eq!(
        text_at(&broken["agent-pod.yaml"], 4, 9),
        Some("{{ run.name }"),
        "the position is the `{{{{` never closed on line 4"
    );
}

#[test]
fn every_schema_problem_of_a_file_is_reported_at_once_in_file_order() {
    // The missing `name` of agents[0] is found after the keys inside it, and still comes
    // first: messages are sorted by position.
    let yaml = "\
project: Demo
github:
  authorization:
    min_permission: writ
cluster:
  namspace: runs
  defaults:
    timeout: soon
agents:
  - timeout: 30
    triggers:
      comment:
        verbs: run
      schedule: daily
";
    assert_eq!(
        errors(yaml),
        [
            "services.yaml:1:10: project: `Demo` is not a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
            "services.yaml:4:21: github.authorization.min_permission: unknown value `writ`, did you mean `write`?",
            "services.yaml:6:3: cluster: unknown key `namspace`, did you mean `namespace`?",
            "services.yaml:8:14: cluster.defaults.timeout: `soon` is not a duration: write a number and a unit, like 90s, 30m, 1.5h, 1h 30m or 2d",
            "services.yaml:10:5: agents[0]: missing required key `name`",
            "services.yaml:10:14: agents[0].timeout: expected a duration such as 30m, found an integer",
            "services.yaml:13:16: agents[0].triggers.comment.verbs: expected a list, found a string: write `verbs: [run]`",
            "services.yaml:14:7: agents[0].triggers: unknown key `schedule` (expected one of: comment, issues, pull_request, push, release)",
        ]
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once_with_the_template_errors_after() {
    let mut broken = templates();
    broken.insert(
        "agent-pod.yaml".into(),
        configs::POD_TEMPLATE.replace("{{ run.name }}", "{{ run.name }"),
    );
    let yaml = "\
project: demo
cluster:
  namespace: runs
  namespace_template: \"runs-{{ pr.number }}\"
  defaults:
    image: builder
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    prompt: prompts/tsk.md
    secrets: [openai]
    triggers:
      comment:
        verbs: [run, stop]
  - name: task
  - name: pusher
    triggers:
      push: {}
";
    assert_eq!(
        errors_with(yaml, broken),
        [
            "services.yaml:4:23: cluster: give `namespace` or `namespace_template`, not both",
            "services.yaml:6:12: unknown image `builder` (defined in `images`: agent)",
            "services.yaml:11:13: template `prompts/tsk.md` not found in the templates folder `templates`, did you mean `prompts/task.md`?",
            "services.yaml:12:15: unknown secret `openai`: `secrets` defines none",
            "services.yaml:15:22: `stop` is a built-in command of agentpods and cannot start an agent (reserved: retry, stop, status, approve, help)",
            "services.yaml:16:11: agents[1]: agent name `task` is already used by agents[0]",
            "services.yaml:16:11: agent `task` has no triggers, so it can never run",
            "services.yaml:19:13: a push trigger needs `branches` or `tags` globs",
            "templates/agent-pod.yaml:4:9: template syntax error: this `{{` is never closed with `}}`",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Through the binary, as an operator or CI runs it.

const BROKEN: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    image: agnt
    triggers:
      comment:
        verbs: [run]
";

/// [`BROKEN`], with a template whose `{{ run.name }` is never closed.
fn broken_with_a_template_error() -> ConfigDir {
    let dir = ConfigDir::new(BROKEN.as_bytes());
    dir.write(
        "templates/agent-pod.yaml",
        configs::POD_TEMPLATE
            .replace("{{ run.name }}", "{{ run.name }")
            .as_bytes(),
    );
    dir
}

#[test]
fn validate_prints_every_problem_as_path_line_col_and_exits_1() {
    let dir = broken_with_a_template_error();
    let config = dir.path("services.yaml");
    let template = dir.path("templates/agent-pod.yaml");

    let run = configs::validate(&config);

    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    assert_eq!(
        run.stderr_lines(),
        [
            format!(
                "{}:8:12: unknown image `agnt`, did you mean `agent`?",
                config.display()
            ),
            format!(
                "{}:4:9: template syntax error: this `{{{{` is never closed with `}}}}`",
                template.display()
            ),
            "2 problems found".to_string(),
        ],
        "the template's path must open from where validate ran, like the config's"
    );
    assert_eq!(run.stdout, "", "problems go to stderr only");
}

/// A new user's first config, with one mistake of each stage: a bad value, a misspelt key,
/// a secret that is not defined, a field that does not exist in a template, a template
/// that does not compile. Before, `validate` stopped at the first stage with problems:
/// the user fixed the keys, ran it again and only then met the secret, then the templates.
const ONE_OF_EACH: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  openai: {name: openai-api-key, key: api-key}
agents:
  - name: review
    prompt: prompts/review.md
    timeout: soon
    triggers:
      pull_request: {}
  - name: task
    promt: prompts/task.md
    triggers:
      comment:
        verbs: [run]
  - name: notes
    templates: [notes.yaml]
    secrets: [anthropic]
    triggers:
      release: {}
";

#[test]
fn validate_reports_the_keys_the_references_and_the_templates_of_a_file_in_one_run() {
    let dir = ConfigDir::new(ONE_OF_EACH.as_bytes());
    dir.write(
        "templates/agent-pod.yaml",
        configs::POD_TEMPLATE
            .replace("{{ agent.image }}", "{{ agent.imag }}")
            .as_bytes(),
    );
    dir.write("templates/notes.yaml", b"kind: {{ run.name }\n");
    let config = dir.path("services.yaml").display().to_string();
    let folder = dir.path("templates").display().to_string();

    let run = configs::validate(std::path::Path::new(&config));

    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    assert_eq!(
        run.stderr_lines(),
        [
            format!(
                "{config}:11:14: agents[0].timeout: `soon` is not a duration: write a number and a unit, like 90s, 30m, 1.5h, 1h 30m or 2d"
            ),
            format!("{config}:15:5: agents[1]: unknown key `promt`, did you mean `prompt`?"),
            format!("{config}:21:15: unknown secret `anthropic` (defined in `secrets`: openai)"),
            format!(
                "{folder}/agent-pod.yaml:8:17: agent `review`: `agent.imag`: `imag` is not a field of `agent`; did you mean `agent.image`? (the fields of each trigger: docs/templates.md)"
            ),
            format!(
                "{folder}/notes.yaml:1:7: template syntax error: this `{{{{` is never closed with `}}}}`"
            ),
            "5 problems found".to_string(),
        ],
        "every independent problem in one run, in file order, then the count"
    );
}

#[test]
fn what_follows_from_a_value_left_out_is_not_reported_as_a_problem_of_its_own() {
    // The misspelt `namspace` leaves the cluster without a namespace, the bad image
    // reference leaves `agent` undefined, the triggers that are not a mapping leave the
    // agent without any: each is the one mistake already reported.
    assert_eq!(
        errors(
            "\
project: demo
cluster:
  namspace: runs
images:
  agent: 42
agents:
  - name: task
    triggers: [comment]
"
        ),
        [
            "services.yaml:3:3: cluster: unknown key `namspace`, did you mean `namespace`?",
            "services.yaml:5:10: images.agent: expected a string, found an integer",
            "services.yaml:8:15: agents[0].triggers: expected a mapping, found a list",
        ]
    );
}

#[test]
fn push_and_open_pr_params_are_the_words_the_agent_entrypoint_takes() {
    // `agentpods agent --push yes` exits 2 before doing anything: a pod that fails at once.
    assert_eq!(
        errors(
            "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    params: {push: \"yes\", open_pr: \"True\", other: \"yes\"}
    github_token: {contents: write, pull_requests: write}
    triggers:
      comment:
        verbs: [run]
"
        ),
        [
            "services.yaml:8:20: agent `task`: `params.push` is `yes`, but the agent pod passes it to `agentpods agent --push`, which takes \"true\" or \"false\" only",
            "services.yaml:8:36: agent `task`: `params.open_pr` is `True`, but the agent pod passes it to `agentpods agent --open-pr`, which takes \"true\" or \"false\" only",
        ]
    );
    // A push with a token that cannot push is allowed, and said.
    let loaded = configs::load(
        "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    params: {push: \"true\"}
    github_token: {contents: read}
    triggers:
      comment:
        verbs: [run]
",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:8:20: warning: agent `task` has `params.push: \"true\"`, but its `github_token` does not give `contents: write`, so the run will fail when it gets there; add `contents: write` to its `github_token`"
        ]
    );
}

/// `repositories:` matches names, so a pattern over names (`acme/payments-*`) takes in
/// whatever repository a member creates or renames into it, with its secrets: loaded, and
/// warned about where a secret rides on it (outside review 11c, A4). An exact name, a whole
/// owner, and an agent without secrets are not.
#[test]
fn a_secret_scoped_by_a_pattern_over_repository_names_is_warned_about() {
    let loaded = configs::load(
        "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  payments: {name: payments-key, key: k, repositories: [\"acme/payments-*\"]}
  exact: {name: exact-key, key: k, repositories: [\"acme/payments-api\", \"acme/*\"]}
agents:
  - name: pay
    repositories: [\"acme/payments-*\", \"!acme/payments-old\"]
    secrets: [payments]
    triggers:
      comment: {verbs: [pay]}
  - name: plain
    repositories: [\"acme/web-*\"]
    triggers:
      comment: {verbs: [run]}
",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:7:57: warning: secret `payments` is for `acme/payments-*`, a pattern over names: a repository anyone creates or renames to match it (in an organisation, any member by default) gets the secret in its runs; list exact names instead, install the App on selected repositories only, and restrict who may create repositories (docs/security.md)",
            // Listed by no agent (see an_image_or_a_secret_nothing_uses_is_warned_of).
            "services.yaml:8:10: warning: `secrets.exact` is used by no agent: neither an agent's `secrets` names it nor a template reads `secrets.exact`; remove it, or name it where it was meant",
            "services.yaml:11:20: warning: agent `pay` carries secrets (payments) and runs for `acme/payments-*`, a pattern over names: a repository anyone creates or renames to match it (in an organisation, any member by default) gets this agent and its secrets; list exact names instead, install the App on selected repositories only, and restrict who may create repositories (docs/security.md)",
        ]
    );
}

#[test]
fn values_a_newcomer_writes_that_cannot_work_are_refused_or_warned_with_what_to_write() {
    // An upper-case repository path: the kubelet refuses it.
    assert_eq!(
        errors(
            "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/Lumen-Labs/agent:2.1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
"
        ),
        [
            "services.yaml:5:10: image `ghcr.io/Lumen-Labs/agent:2.1.0`: a repository path is lower case, and the kubelet refuses this one (InvalidImageName); write `ghcr.io/lumen-labs/agent:2.1.0`"
        ]
    );
    // A program and its arguments as one string, an image without a tag, runs in the
    // service's own namespace: they load, with a warning each.
    let loaded = configs::load(
        "\
project: demo
cluster:
  namespace: agentpods
images:
  agent: ghcr.io/acme/agent
agents:
  - name: task
    command: [\"claude -p\", --verbose]
    triggers:
      comment:
        verbs: [run]
",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:3:14: warning: runs in namespace `agentpods`, the namespace deploy/ runs the service in, beside the Secret with the GitHub App's private key, and where deploy/ gives runs no role; runs belong in a namespace of their own, such as `agentpods-runs` (docs/setup.md)",
            "services.yaml:5:10: warning: image `ghcr.io/acme/agent` has no tag, so every pod pulls whatever `latest` is then; pin a version (`ghcr.io/acme/agent:1.2.3`) or a digest",
            "services.yaml:8:15: warning: agent `task`: `claude -p` holds a space, but the command runs without a shell, so this names one program called `claude -p`; give each word its own item: `[claude, -p, --verbose]`",
        ]
    );
}

/// configuration.md's payments-review had no prompt: each pull request gave Codex an empty
/// task, and validate said ok (new-user review 13c, N8). A comment command brings its own.
#[test]
fn the_coding_agent_on_an_event_trigger_without_a_prompt_is_warned_of() {
    let loaded = configs::load(
        "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: review
    triggers:
      pull_request: {}
      comment: { verbs: [review] }
  - name: task
    triggers:
      comment: { verbs: [run] }
",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:9:21: warning: agent `review` has no `prompt`, so each run its `pull_request` trigger starts gives `codex exec` an empty task (only a comment command brings a task of its own); give it a `prompt`, a text template in the templates folder such as `prompts/review.md`",
        ]
    );
}

/// A credential in `env` is in the pod spec in plain text: it belongs in `secrets`
/// (new-user review 13c, N12). The value is never repeated.
#[test]
fn a_credential_in_env_is_warned_of_without_its_value() {
    let loaded = configs::load(
        "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    env: { ANTHROPIC_API_KEY: sk-ant-not-real, LOG_LEVEL: debug }
    triggers:
      comment: { verbs: [run] }
",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:8:31: warning: agent `task`: `env.ANTHROPIC_API_KEY` looks like a credential, and `env` is written into the pod spec in plain text; put it in a Kubernetes Secret and name it in `secrets` (`{ name, key, env: ANTHROPIC_API_KEY }`) and in the agent's `secrets`",
        ]
    );
}

/// Image references made of the right characters that the kubelet refuses all the same
/// (InvalidImageName at pull) are refused with the form to write; an explicit `:latest`
/// is warned of as a missing tag is (new-user review 13c, N5).
#[test]
fn image_references_the_kubelet_refuses_are_refused_with_the_form_to_write() {
    let config = |image: &str| {
        format!(
            "\
project: demo
cluster:
  namespace: runs
images:
  agent: \"{image}\"
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
"
        )
    };
    let said = |image: &str, what: &str, write: &str| {
        format!(
            "services.yaml:5:10: images.agent: image `{image}`: {what}, which the kubelet \
             refuses (InvalidImageName); write `{write}`"
        )
    };
    let cases = [
        (
            "https://registry.example/tools/smoke:2.0.1",
            said(
                "https://registry.example/tools/smoke:2.0.1",
                "an image reference has no scheme (`https://`)",
                "registry.example/tools/smoke:2.0.1",
            ),
        ),
        (
            "registry.example//tools/smoke:2.0.1",
            said(
                "registry.example//tools/smoke:2.0.1",
                "a path segment is empty",
                "registry.example/tools/smoke:2.0.1",
            ),
        ),
        (
            "registry.example/tools/smoke:",
            said(
                "registry.example/tools/smoke:",
                "the tag after `:` is empty",
                "registry.example/tools/smoke:1.2.3",
            ),
        ),
        (
            "registry.example/tools/smoke:2.0.1:extra",
            said(
                "registry.example/tools/smoke:2.0.1:extra",
                "an image has one tag, and this one has two",
                "registry.example/tools/smoke:2.0.1",
            ),
        ),
        (
            "registry.example/agents/agent@sha256:abc",
            said(
                "registry.example/agents/agent@sha256:abc",
                "a digest is `sha256:` and 64 hex digits",
                "registry.example/agents/agent@sha256:<64 hex digits>",
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (image, expected) in &cases {
        let found = errors(&config(image));
        if found != [expected.as_str()] {
            failures.push(format!(
                "{image}:\n  expected {expected}\n  found    {found:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // What the kubelet takes still loads: a registry's port, a tag, a digest, both.
    let digest = format!("sha256:{}", "0a".repeat(32));
    for image in [
        "localhost:5000/agent:1.0".to_string(),
        "registry.example:443/a/b/c:v1.2.3-rc.1_x".to_string(),
        format!("ghcr.io/acme/agent@{digest}"),
        format!("ghcr.io/acme/agent:1.0@{digest}"),
        format!("ghcr.io/acme/agent:latest@{digest}"),
    ] {
        let loaded = configs::load(&config(&image));
        assert!(loaded.warnings.is_empty(), "{image}: {:?}", loaded.warnings);
    }
    let warnings: Vec<String> = configs::load(&config("ghcr.io/acme/agent:latest"))
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:5:10: warning: image `ghcr.io/acme/agent:latest` names the tag \
          `latest`, which moves, so every pod pulls whatever `latest` is then; pin a version \
          (`ghcr.io/acme/agent:1.2.3`) or a digest"
        ]
    );
}

#[test]
fn a_yaml_merge_key_is_named_as_such_and_nothing_that_follows_from_it() {
    // Editors merge `<<` before checking against the schema, so it shows green there; the
    // binary does not merge, and says so, rather than "unknown key `<<`" and then "no
    // triggers" for the keys the merge would have brought.
    assert_eq!(
        errors(
            "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
x-common: &common
  triggers:
    comment:
      verbs: [run]
agents:
  - name: task
    <<: *common
"
        ),
        [
            "services.yaml:6:1: unknown key `x-common` (expected one of: agents, cluster, github, images, limits, project, repository_config, secrets, templates_dir)",
            "services.yaml:12:5: agents[0]: YAML merge keys (`<<: *name`) are not supported: write the keys out here (a whole value can still be an alias, `key: *name`)",
        ]
    );
}

/// Templates mounted from a ConfigMap, as the kubelet lays them out: each key a symbolic
/// link into `..data`, itself a link to a hidden folder of the files (with `items` giving
/// `prompts/task.md` its subfolder). Before, every link was skipped (neither a file nor a
/// folder to `DirEntry::file_type`), so a config with its own templates mounted that way
/// failed with "template `agent-pod.yaml` not found in the templates folder".
#[test]
fn templates_mounted_from_a_config_map_volume_are_read_through_its_links() {
    use std::os::unix::fs::symlink;
    let dir = ConfigDir::new(
        b"\
project: demo
templates_dir: mounted
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
",
    );
    // The shipped templates, as a ConfigMap of them would hold them.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let stamp = "..2026_12_03_11_00_00.000000001";
    for name in [
        "agent-pod.yaml",
        "comment.md",
        "kaniko-job.yaml",
        "prompts/review.md",
        "prompts/task.md",
        "prompts/release-notes.md",
    ] {
        let text = std::fs::read(shipped.join(name)).expect("a shipped template");
        dir.write(&format!("mounted/{stamp}/{name}"), &text);
    }
    let mounted = dir.path("mounted");
    symlink(stamp, mounted.join("..data")).expect("link ..data");
    for file in ["agent-pod.yaml", "comment.md", "kaniko-job.yaml"] {
        symlink(format!("..data/{file}"), mounted.join(file)).expect("link a file");
    }
    symlink("..data/prompts", mounted.join("prompts")).expect("link a folder");
    // A link back up is read once, not forever.
    symlink("../..", mounted.join(format!("{stamp}/prompts/up"))).expect("link up");

    let run = configs::validate(&dir.path("services.yaml"));

    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(
        run.stderr_lines(),
        [format!(
            "{}: ok (1 agent, 3 templates)",
            dir.path("services.yaml").display()
        )]
    );
}

#[test]
fn validate_accepts_the_example_config() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("services.yaml");
    let run = configs::validate(&example);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    // No warning: the task agent's token can write, and with `fork_pull_requests: approve`
    // it is refused on a fork's code (the planner says so), so no fork's code gets it.
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    let summary = lines[0];
    assert!(
        summary.starts_with(&format!("{}: ok (4 agents, ", example.display()))
            && summary.ends_with(" templates)"),
        "one line saying the config is fine, got:\n{summary}"
    );
}

/// New-user review 13f, N6: `validate` given another file than a services.yaml (a
/// template, a kustomization, a payload, a repository's `.agentpods.yaml`) began with a
/// templates folder the file never named, told the user to validate the same file again,
/// then gave a YAML error or a line a key. It says, first and once, that the file is not a
/// services.yaml, what it looks like, and what to give instead.
#[test]
fn validate_of_another_kind_of_file_says_what_it_looks_like_and_what_validate_expects() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let repository_file = dir.path().join(".agentpods.yaml");
    std::fs::write(
        &repository_file,
        "agents:\n  - review\n  - name: task\n    events: false\n",
    )
    .unwrap();
    let not_a_config = "this is not a services.yaml (it has none of `project`, `cluster` and \
                        `agents`)";
    for (file, looks_like) in [
        (
            root.join("templates/agent-pod.yaml"),
            "; it looks like a template (`{{ … }}`, `{% … %}`), which is checked through the \
             services.yaml that names it: give that services.yaml",
        ),
        (
            root.join("templates/prompts/task.md"),
            "; it looks like a template (`{{ … }}`, `{% … %}`), which is checked through the \
             services.yaml that names it: give that services.yaml",
        ),
        (
            root.join("deploy/overlays/example/kustomization.yaml"),
            "; it looks like a kustomization (`kind: Kustomization`): give your services.yaml",
        ),
        (
            root.join("examples/webhooks/ping/0.json"),
            "; it looks like a GitHub webhook payload, which `render --payload` and `replay \
             --payload` take: give your services.yaml",
        ),
        (repository_file.clone(), ""),
    ] {
        let run = configs::validate(&file);
        let expected = if file == repository_file {
            format!(
                "{}:1:1: this is not a services.yaml (it has no `project` or `cluster`); it \
                 looks like a repository's own `.agentpods.yaml`: give your services.yaml, \
                 and this file with `--repository-config FILE --repository OWNER/NAME`",
                file.display()
            )
        } else {
            format!("{}:1:1: {not_a_config}{looks_like}", file.display())
        };
        assert_eq!(
            (run.code, run.stderr.lines().collect::<Vec<_>>()),
            (Some(1), vec![expected.as_str(), "1 problem found"]),
            "{}",
            file.display()
        );
    }
}

/// New-user review 13f, N6: without `templates_dir` in the file, the missing folder is the
/// default's, not presented as if the file had named it.
#[test]
fn validate_says_a_missing_templates_folder_is_the_default_s_when_the_file_names_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("services.yaml");
    std::fs::write(
        &config,
        "project: demo\ncluster:\n  namespace: runs\nagents:\n  - name: a\n    triggers:\n      \
         pull_request: {}\n",
    )
    .unwrap();
    let run = configs::validate(&config);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "{}:1:1: the templates folder `{}` does not exist (the default `templates_dir`: \
             `templates` beside this file); ",
            config.display(),
            dir.path().join("templates").display()
        )),
        "{}",
        run.stderr
    );
}

/// New-user review 13h, F12: the overlay's `templates_dir: /usr/share/agentpods/templates`
/// (the image's), read from a checkout by the command the overlay documents. The example
/// of `--templates-dir` is that command, not `agentpods validate …`, which was named
/// whatever the command run.
#[test]
fn a_missing_templates_folder_s_example_is_the_command_that_was_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("services.yaml"),
        "project: demo\ntemplates_dir: /usr/share/agentpods/no-such-templates\ncluster:\n  \
         namespace: runs\nagents:\n  - name: a\n    triggers:\n      pull_request: {}\n",
    )
    .unwrap();
    for (command, example) in [
        (
            &["admission-policy", "services.yaml"][..],
            "`agentpods admission-policy --templates-dir templates services.yaml`",
        ),
        (
            &["validate", "services.yaml"][..],
            "`agentpods validate --templates-dir templates services.yaml`",
        ),
        (
            &[
                "render",
                "services.yaml",
                "--event",
                "push",
                "--payload",
                "push.json",
            ][..],
            "`agentpods render --templates-dir templates services.yaml --event … --payload …`",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(command)
            .current_dir(dir.path())
            .output()
            .expect("run agentpods");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.contains(example) && stderr.matches("agentpods ").count() == 1,
            "{command:?}: {stderr}"
        );
    }
}

/// New-user review 13f, N7: a templates folder one level off (`--templates-dir
/// templates/prompts`, or `.`) got a line a template, each telling the user to edit a
/// correct services.yaml (`write `review.md``); a misspelt one (`template`) got no
/// did-you-mean. One line names the folder it looked in and the one that holds the
/// templates services.yaml names.
#[test]
fn a_templates_folder_one_level_off_or_misspelt_is_named_with_the_one_meant() {
    let validate = |work: &support::server::Workdir, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .current_dir(work.dir.path())
            .arg("validate")
            .args(args)
            .output()
            .expect("run agentpods");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let work = support::server::Workdir::new();
    // A checkout's build output, which `.` holds (new-user review 13h, F2: it was read,
    // and refused as a template too large, rather than the folder being named).
    std::fs::create_dir_all(work.dir.path().join("target/debug")).expect("mkdir");
    std::fs::write(
        work.dir.path().join("target/debug/agentpods"),
        [0x7f, b'E', b'L', b'F', 0xff].repeat(300_000),
    )
    .expect("write");
    for (args, said) in [
        (
            &["--templates-dir", "templates/prompts"][..],
            "services.yaml:1:1: the templates folder `templates/prompts` (from --templates-dir) \
             does not hold the templates services.yaml names; `templates` does: give \
             --templates-dir templates",
        ),
        (
            &["--templates-dir", "."][..],
            "services.yaml:1:1: the templates folder `.` (from --templates-dir) does not hold \
             the templates services.yaml names; `./templates` does: give --templates-dir \
             ./templates",
        ),
        (
            &["--templates-dir", "template"][..],
            "services.yaml:1:1: the templates folder `template` (from --templates-dir) does \
             not exist, did you mean `templates`?",
        ),
    ] {
        assert_eq!(
            validate(&work, args),
            (Some(1), format!("{said}\n1 problem found\n")),
            "{args:?}"
        );
    }
    // The same, written in services.yaml.
    let text = std::fs::read_to_string(work.config()).expect("services.yaml");
    for (dir, said) in [
        (
            "templates/prompts",
            "the templates folder `templates/prompts` (`templates_dir: templates/prompts`) \
             does not hold the templates services.yaml names; `templates` does: write \
             `templates_dir: templates`",
        ),
        (
            "template",
            "the templates folder `template` does not exist (`templates_dir: template`, \
             relative to this file), did you mean `templates_dir: templates`?",
        ),
    ] {
        std::fs::write(work.config(), format!("templates_dir: {dir}\n{text}")).expect("write");
        assert_eq!(
            validate(&work, &["services.yaml"]),
            (
                Some(1),
                format!("services.yaml:1:1: {said}\n1 problem found\n")
            ),
            "{dir}"
        );
    }
}

/// Review 13i, F7: a file given as the templates folder (`--templates-dir README.md`) was
/// said not to exist, which sends the user looking for a path that is right there.
#[test]
fn a_file_given_as_the_templates_folder_is_said_to_be_a_file() {
    let work = support::server::Workdir::new();
    std::fs::write(work.dir.path().join("README.md"), "# notes\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .current_dir(work.dir.path())
        .args(["validate", "--templates-dir", "README.md", "services.yaml"])
        .output()
        .expect("run agentpods");
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (
            Some(1),
            "services.yaml:1:1: the templates folder `README.md` (from --templates-dir) is a \
             file, not a folder\n1 problem found\n"
                .to_owned()
        )
    );
}

/// New-user review 13f, N10: the example's `actions: [opened, …, ready_for_review` left
/// unclosed was "invalid indentation in flow construct", two lines below, saying nothing
/// of the `[`.
#[test]
fn an_unclosed_list_in_the_example_is_named_at_its_bracket() {
    let work = support::server::Workdir::new();
    work.edit_config("ready_for_review]", "ready_for_review");
    let text = std::fs::read_to_string(work.config()).expect("services.yaml");
    let (line, col) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| Some((i + 1, l.find("[opened")? + 1)))
        .expect("the actions line");
    let run = configs::validate(&work.config());
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.starts_with(&format!(
            "{}:{line}:{col}: invalid YAML: this `[` is never closed (expected `,` or `]` at \
             line {}",
            work.config().display(),
            line + 2
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn validate_names_a_path_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.yaml");
    let run = configs::validate(&missing);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "{0}: cannot read: no such file or folder\nwhat to do: give \
             --config the path of your services.yaml ({0} is not there)",
            missing.display()
        )
    );
}

/// A folder of a `task` agent on comments, with the shipped pod and `prompt` as its
/// prompt (`prompts/task.md`).
fn task_agent_with_prompt(prompt: &[u8]) -> ConfigDir {
    let dir = ConfigDir::new(
        b"\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    templates: [agent-pod.yaml]
    prompt: prompts/task.md
    triggers:
      comment:
        verbs: [run]
",
    );
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    dir.write(
        "templates/agent-pod.yaml",
        &std::fs::read(shipped.join("agent-pod.yaml")).expect("the shipped pod"),
    );
    dir.write("templates/prompts/task.md", prompt);
    dir
}

/// What `validate` said of `dir`'s services.yaml, its lines with the folder's path left
/// out; it must have passed.
fn validated_lines(dir: &ConfigDir) -> Vec<String> {
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let folder = format!("{}/", dir.dir.path().display());
    run.stderr.lines().map(|l| l.replace(&folder, "")).collect()
}

/// `validate`'s note of the template files no agent uses.
fn ignored(names: &[&str]) -> String {
    format!(
        "note: in templates, not used by this config (ignored): {}",
        names.join(", ")
    )
}

/// New-user review 13e, N12: validate's "N templates" counted every file of the folder; it
/// counts what the config uses: the agents' templates and prompts, comment.md when runs
/// comment, and what those include.
#[test]
fn validate_counts_the_templates_the_config_uses_not_the_files_of_the_folder() {
    // The shipped pod, a part the prompt includes, and two files nothing names.
    let dir = task_agent_with_prompt(
        b"{% include \"prompts/rules.md\" %}\nDo this: {{ comment.command.task }}\n",
    );
    dir.write("templates/prompts/rules.md", b"Keep the change small.\n");
    dir.write("templates/prompts/old.md", b"An old prompt.\n");
    // agent-pod.yaml, prompts/task.md, prompts/rules.md and comment.md; not
    // prompts/review.md or prompts/old.md, which are warned of (not refused).
    assert_eq!(
        validated_lines(&dir),
        [
            ignored(&["prompts/old.md", "prompts/review.md"]),
            "services.yaml: ok (1 agent, 4 templates)".to_string(),
        ]
    );
}

/// New-user review 13f, N8: every file of the templates folder was compiled on every load,
/// so notes with a `{{` or an editor's backup (`agent-pod.yaml~`) with an unfinished
/// `{% if %}` failed `validate` and blocked every load and reload of `serve`. Only the
/// templates the config uses are compiled; a notes file is at most warned of, as unused,
/// and an editor's backup is not read at all, like a hidden file.
#[test]
fn files_of_the_templates_folder_the_config_does_not_use_block_nothing() {
    let dir = task_agent_with_prompt(b"Do this: {{ comment.command.task }}\n");
    dir.write(
        "templates/NOTES.md",
        b"Notes: use {{ like this } in templates\n",
    );
    dir.write("templates/agent-pod.yaml~", b"{% if pr %}\nkind: Pod\n");
    assert_eq!(
        validated_lines(&dir),
        [
            ignored(&["NOTES.md", "prompts/review.md"]),
            "services.yaml: ok (1 agent, 3 templates)".to_string(),
        ]
    );
    // `serve` loads it too, and its engine compiles.
    let loaded = agentpods::config::load(&dir.path("services.yaml")).expect("the config loads");
    agentpods::render::Engine::new(&loaded).expect("its templates compile");
}

/// Review 13i, F14: with services.yaml in the templates folder (`--templates-dir .`, run
/// where both are), the note of unused templates named services.yaml itself, the file being
/// checked.
#[test]
fn the_config_checked_is_not_noted_as_an_unused_template_of_its_own_folder() {
    let dir = task_agent_with_prompt(b"Do this: {{ comment.command.task }}\n");
    dir.write(
        "templates/services.yaml",
        &std::fs::read(dir.path("services.yaml")).expect("services.yaml"),
    );
    dir.write("templates/NOTES.md", b"Which agent uses what.\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args(["validate", "--templates-dir", ".", "services.yaml"])
        .current_dir(dir.path("templates"))
        .output()
        .expect("run agentpods");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("not used by this config"))
            .collect::<Vec<_>>(),
        ["note: in ., not used by this config (ignored): NOTES.md, prompts/review.md"]
    );
}

/// New-user review 13h, F13 and F18: every file of the templates folder no agent used was
/// a warning to "give it to an agent, or delete it" — three of them on setup.md §5's own
/// check of the overlay against the checkout's shipped templates, and one for a NOTES.md —
/// which trains users to ignore warnings. They are named once, as ignored; a picture is no
/// template and not named at all; a warning stays for a file that looks like one the config
/// looks for under a name a letter off.
#[test]
fn template_files_no_agent_uses_are_noted_once_as_ignored_and_a_misnamed_one_is_warned_of() {
    // setup.md §5: the overlay's services.yaml against the checkout's templates.
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .args([
            "validate",
            "--templates-dir",
            "templates",
            "deploy/overlays/example/services.yaml",
        ])
        .current_dir(checkout)
        .output()
        .expect("run agentpods");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("not used by this config"))
            .collect::<Vec<_>>(),
        [
            "note: in templates, not used by this config (ignored): kaniko-job.yaml, \
          prompts/release-notes.md, prompts/review.md"
        ]
    );

    // Notes and a picture beside the templates, and the runs' comment misnamed.
    let dir = task_agent_with_prompt(b"Do this: {{ comment.command.task }}\n");
    dir.write("templates/NOTES.md", b"Which agent uses what.\n");
    dir.write(
        "templates/diagram.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff",
    );
    std::fs::remove_file(dir.path("templates/comment.md")).expect("no comment.md");
    dir.write(
        "templates/comments.md",
        b"{{ run.name }}: {{ run.outcome }}\n",
    );
    assert_eq!(
        validated_lines(&dir),
        [
            "services.yaml:1:1: warning: template `comment.md` is not in the templates folder, so \
             each run's comment on a pull request or an issue will be agentpods' plain one; \
             copy the shipped templates/comment.md to change it, or set \
             `github.report.comment: false` for none"
                .to_string(),
            "templates/comments.md:1:1: warning: no agent uses template `comments.md`, and \
             the config looks for `comment.md`, which the folder does not hold: if this is it, \
             rename it `comment.md`"
                .to_string(),
            ignored(&["NOTES.md", "prompts/review.md"]),
            "services.yaml: ok (1 agent, 2 templates)".to_string(),
        ]
    );
}

/// Run in a folder without services.yaml, and without --config, `validate` and `render`
/// say how to name the config rather than only that there is none (issue 13, N14), and
/// which folder they looked in: `--config services.yaml` given in another folder is the
/// same mistake (new-user review 13f, N14).
#[test]
fn without_a_services_yaml_here_the_commands_say_to_pass_config() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["validate"][..],
        &["render", "--event", "push", "--payload", "push.json"][..],
        &["admission-policy"][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(command)
            .current_dir(dir.path())
            .output()
            .expect("run agentpods");
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            format!(
                "services.yaml: cannot read: no such file or folder\nwhat to \
                 do: there is no services.yaml in this folder ({}): give yours with --config \
                 FILE, or run this from its folder",
                dir.path().display()
            ),
            "{command:?}"
        );
    }
}

/// New-user review 13c, N14: `validate` took services.yaml as a plain argument, the others
/// only with --config ("error: unexpected argument 'm-iss.yaml' found").
#[test]
fn every_command_that_reads_services_yaml_takes_it_as_a_plain_argument_too() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["validate", "other.yaml"][..],
        &[
            "render",
            "--event",
            "push",
            "--payload",
            "push.json",
            "other.yaml",
        ][..],
        &["admission-policy", "other.yaml"][..],
        &[
            "serve",
            "--dry-run",
            "--listen",
            "127.0.0.1:0",
            "other.yaml",
        ][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentpods"))
            .args(command)
            .env("GITHUB_WEBHOOK_SECRET", "not-used")
            .current_dir(dir.path())
            .output()
            .expect("run agentpods");
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("other.yaml: cannot read: no such file or folder"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn validate_reports_a_file_that_is_not_utf8_at_its_first_bad_byte() {
    let dir = ConfigDir::new(b"project: demo\ncluster: \xff\xfe\n");
    let config = dir.path("services.yaml");
    let run = configs::validate(&config);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr_lines(),
        [
            format!(
                "{}:2:10: the file is not UTF-8 text (byte 0xff)",
                config.display()
            ),
            "1 problem found".to_string(),
        ]
    );
}

#[test]
fn validate_names_the_template_that_is_not_utf8() {
    // An agent's prompt: the files no agent uses are not read (see
    // `a_picture_or_a_large_file_beside_the_templates_blocks_nothing`).
    let dir = task_agent_with_prompt(b"caf\xe9\n");
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr_lines(),
        [
            format!(
                "{}:1:4: the file is not UTF-8 text (byte 0xe9)",
                dir.path("templates/prompts/task.md").display()
            ),
            "1 problem found".to_string(),
        ]
    );
}

#[test]
fn validate_says_an_empty_file_is_empty() {
    for (what, text) in [
        ("empty", ""),
        ("only a comment", "# to do\n"),
        ("only blank lines", "\n\n  \n"),
    ] {
        let dir = ConfigDir::new(text.as_bytes());
        let config = dir.path("services.yaml");
        let run = configs::validate(&config);
        assert_eq!(run.code, Some(1), "{what}: {}", run.stderr);
        assert_eq!(
            run.stderr_lines(),
            [
                format!(
                    "{}:1:1: the file is empty; a config needs at least `project`, `cluster` and `agents`",
                    config.display()
                ),
                "1 problem found".to_string(),
            ],
            "{what}"
        );
    }
}

#[test]
fn a_template_too_large_to_read_is_named_not_skipped() {
    let dir = task_agent_with_prompt(&vec![b'x'; (1 << 20) + 1]);
    let error =
        agentpods::config::load(&dir.path("services.yaml")).expect_err("a huge prompt is refused");
    // The message and its causes, as the CLI prints them.
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(
        message.contains("prompts/task.md") && message.contains("at most 1048576 bytes"),
        "{message}"
    );
}

/// New-user review 13h, F1: every file of the templates folder was read, used or not, so a
/// picture beside the templates (`diagram.png`, not UTF-8) or a large notes file failed
/// `validate` and every load of `serve`. The files no agent uses are not read: each is at
/// most named as ignored (a picture, not text, is not).
#[test]
fn a_picture_or_a_large_file_beside_the_templates_blocks_nothing() {
    let dir = task_agent_with_prompt(b"Do this: {{ comment.command.task }}\n");
    dir.write("templates/diagram.png", b"\x89PNG\r\n\x1a\n\xa1\xff\xfe");
    dir.write("templates/notes-big.txt", &vec![b'x'; 2_000_000]);
    assert_eq!(
        validated_lines(&dir),
        [
            ignored(&["notes-big.txt", "prompts/review.md"]),
            "services.yaml: ok (1 agent, 3 templates)".to_string(),
        ]
    );
    // `serve` loads it too, and its engine compiles.
    let loaded = agentpods::config::load(&dir.path("services.yaml")).expect("the config loads");
    agentpods::render::Engine::new(&loaded).expect("its templates compile");
}

#[test]
fn an_agent_runs_only_in_a_namespace_the_config_names_and_below_restricted_only_where_allowed() {
    check(&[
        Case {
            what: "a misspelt namespace, and root asked for where runs are restricted",
            yaml: "\
project: demo
cluster:
  namespace: runs
  namespaces:
    builds: {pod_security: baseline}
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: image
    namespace: bulds
    triggers:
      push: {tags: [\"v*\"]}
  - name: root
    pod_security: baseline
    triggers:
      push: {tags: [\"v*\"]}
",
            expect: &[
                (
                    "bulds",
                    "services.yaml:10:16: agent `image`: namespace `bulds` is neither `cluster.namespace` nor one of `cluster.namespaces`, did you mean `builds`?",
                ),
                (
                    "baseline",
                    "services.yaml:14:19: agent `root` asks for Pod Security `baseline`, but its namespace `runs` enforces `restricted`: give the agent `namespace:` `builds`",
                ),
            ],
        },
        Case {
            what: "namespaces of their own with a namespace_template, and no namespace allows root",
            yaml: "\
project: demo
cluster:
  namespace_template: \"agents-{{ repo.name | dns_label }}\"
  namespaces:
    builds: {pod_security: baseline}
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: image
    namespace: builds
    triggers:
      push: {tags: [\"v*\"]}
  - name: root
    pod_security: privileged
    triggers:
      push: {tags: [\"v*\"]}
",
            expect: &[
                (
                    "builds",
                    "services.yaml:5:5: cluster.namespaces needs `cluster.namespace`: with `namespace_template` every run's namespace comes from the template",
                ),
                (
                    "builds",
                    "services.yaml:10:16: agent `image`: an agent's own `namespace` needs `cluster.namespace`; with `namespace_template` every run's namespace comes from the template",
                ),
                (
                    "privileged",
                    "services.yaml:14:19: agent `root` asks for Pod Security `privileged`, but its namespace `(from namespace_template)` enforces `restricted`: declare one under `cluster.namespaces` with `pod_security: privileged` and give the agent `namespace:` it",
                ),
            ],
        },
    ]);
}

#[test]
fn github_token_permissions_are_checked_by_name_and_level() {
    check(&[
        Case {
            what: "a misspelt GitHub permission",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    github_token: { contnets: write }
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "contnets",
                "services.yaml:8:21: agents[0].github_token: unknown key `contnets`, did you mean `contents`?",
            )],
        },
        Case {
            what: "a level GitHub does not grant for that permission",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    github_token: { workflows: read, contents: wirte }
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "read",
                    "services.yaml:8:32: agents[0].github_token.workflows: unknown value `read` (expected one of: write)",
                ),
                (
                    "wirte",
                    "services.yaml:8:48: agents[0].github_token.contents: unknown value `wirte`, did you mean `write`?",
                ),
            ],
        },
        Case {
            what: "a word other than none",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    github_token: nome
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "nome",
                "services.yaml:8:19: agents[0].github_token: unknown value `nome`, did you mean `none`?",
            )],
        },
        Case {
            what: "a level where the permissions go (new-user review 13c, N1)",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    github_token: write
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "write",
                "services.yaml:8:19: agents[0].github_token: unknown value `write`: write a mapping such as `{ contents: write }`, or `none`",
            )],
        },
    ]);
}

/// The names services.yaml takes are those GitHub's REST description gives for the
/// permissions of an installation access token (and the levels of each that are `read` or
/// `write`): a name GitHub adds or drops shows here when the description is updated.
#[test]
fn the_github_permissions_are_those_of_github_s_rest_description() {
    use agentpods::config::token::TOKEN_PERMISSIONS;
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("support/fake_github/openapi/operations.json"))
            .expect("the vendored description");
    let described = doc["operations"]["POST /app/installations/{installation_id}/access_tokens"]
        ["body"]["properties"]["permissions"]["properties"]
        .as_object()
        .expect("the permissions of the access token request");
    let mut theirs: Vec<(String, Vec<String>)> = described
        .iter()
        .map(|(name, schema)| {
            let levels = schema["enum"]
                .as_array()
                .expect("levels")
                .iter()
                .filter_map(|l| l.as_str())
                .filter(|l| ["read", "write"].contains(l))
                .map(String::from)
                .collect();
            (name.clone(), levels)
        })
        .collect();
    let mut ours: Vec<(String, Vec<String>)> = TOKEN_PERMISSIONS
        .iter()
        .map(|(name, levels)| {
            (
                name.to_string(),
                levels.iter().map(|l| l.as_str().to_string()).collect(),
            )
        })
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
}

/// A permission the App made by `agentpods github-app create` lacks fails every mint of
/// the agent's token, whatever the fork policy: warned of under each (new-user review 13c,
/// N1; it was said only under `always`).
#[test]
fn validate_warns_of_a_permission_the_shipped_app_lacks_under_every_fork_policy() {
    let config = "\
project: demo
github: { authorization: { fork_pull_requests: POLICY } }
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: ci
    github_token: { contents: write, workflows: write }
    triggers:
      comment:
        verbs: [run]
        targets: [issue]
";
    for policy in ["approve", "never", "always"] {
        let text = config.replace("POLICY", policy);
        let warnings: Vec<String> = configs::load(&text)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            warnings,
            [
                "services.yaml:9:19: warning: agent `ci` asks for workflows: write, which an App \
              made by `agentpods github-app create` (deploy/github-app.json) does not have: a \
              run's token can have no more than its App, so every run of this agent would fail \
              to get one; give your App that permission on its settings page (the \
              installations must accept it), or ask for less"
            ],
            "fork_pull_requests: {policy}"
        );
        assert_eq!(
            text_at(&text, 9, 19),
            Some("{ contents: write, workflows: write }")
        );
    }
}

const FORK_CODE_WITH_A_WRITE_TOKEN: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: review
    github_token: { contents: read, pull_requests: write }
    triggers:
      pull_request: {}
    prompt: prompts/review.md
  - name: docs
    github_token: { contents: write }
    triggers:
      issues: {}
    command: [write-docs]
  - name: reader
    triggers:
      comment:
        verbs: [explain]
";

/// An agent that may run a fork's code (a pull_request trigger, or a comment trigger on
/// pull requests, with fork_pull_requests other than never) and gets a token that can
/// write is allowed, with a warning that names it and where its token is declared.
#[test]
fn validate_warns_when_an_agent_that_runs_fork_code_gets_a_write_token() {
    let warning = "services.yaml:9:19: warning: agent `review` runs code from fork pull \
        requests unapproved (fork_pull_requests: always) and its token can write \
        (pull_requests: write): code from a fork could use it; give this agent read \
        permissions, or set fork_pull_requests: approve (agents with a write token are then \
        refused on forks)";
    // With `approve` (the default) the planner refuses such an agent on a fork's code:
    // nothing to warn of.
    assert!(
        configs::load(FORK_CODE_WITH_A_WRITE_TOKEN)
            .warnings
            .is_empty()
    );
    let always = FORK_CODE_WITH_A_WRITE_TOKEN.replace(
        "project: demo\n",
        "project: demo\ngithub: { authorization: { fork_pull_requests: always } }\n",
    );
    let loaded = configs::load(&always);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [warning],
        "only `review`: `docs` runs no fork code"
    );
    assert_eq!(
        text_at(&always, 9, 19),
        Some("{ contents: read, pull_requests: write }")
    );

    let never = FORK_CODE_WITH_A_WRITE_TOKEN.replace(
        "project: demo\n",
        "project: demo\ngithub:\n  authorization:\n    fork_pull_requests: never\n",
    );
    assert!(configs::load(&never).warnings.is_empty());

    let dir = ConfigDir::new(always.as_bytes());
    // The shipped pod template, which meets Pod Security `restricted`.
    dir.write(
        "templates/agent-pod.yaml",
        include_bytes!("../../templates/agent-pod.yaml"),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(
        run.code,
        Some(0),
        "a warning, not an error:\n{}",
        run.stderr
    );
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert_eq!(
        lines[0],
        format!(
            "{}:9:19: {}",
            dir.path("services.yaml").display(),
            warning.strip_prefix("services.yaml:9:19: ").unwrap()
        )
    );
    assert!(lines[1].contains(": ok (3 agents"), "{}", run.stderr);
}

#[test]
fn repository_globs_that_match_nothing_and_agents_beyond_their_secrets_are_refused() {
    check(&[
        Case {
            what: "repository globs no repository could match",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    repositories: [acme, \"acme/**\", \"acme.corp/*\", \"acme/{a,b}\", \"/a\", \"!acme/a\"]
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "acme,",
                    "services.yaml:8:20: agents[0].repositories[0]: `acme` has no `/`: a repository glob is `owner/name`; write `acme/*` for every repository of `acme`",
                ),
                (
                    "\"acme/**\"",
                    "services.yaml:8:26: agents[0].repositories[1]: `acme/**` holds `**`: a repository is only `owner/name` deep, and `*` already matches a whole owner or name; write `acme/*`",
                ),
                (
                    "\"acme.corp/*\"",
                    "services.yaml:8:37: agents[0].repositories[2]: `acme.corp/*` holds `.` in its owner, which GitHub never allows there (letters, digits and `-`)",
                ),
                (
                    "\"acme/{a,b}\"",
                    "services.yaml:8:52: agents[0].repositories[3]: `acme/{a,b}` holds `{` in its name, which GitHub never allows in a repository name (letters, digits, `-`, `_` and `.`); only `*` is a wildcard here: list each repository as an entry of its own",
                ),
                (
                    "\"/a\"",
                    "services.yaml:8:66: agents[0].repositories[4]: `/a` has no owner before the `/`: write `owner/a`, or `*/a` for that name under any owner",
                ),
            ],
        },
        Case {
            what: "lists that match no repository",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  key: {name: key, key: k, repositories: []}
  typo: {name: typo, key: k, repositories: [\"acme/*\", \"!acme-corp/secret\"]}
  gone: {name: gone, key: k, repositories: [\"acme/x\", \"!Acme/*\"]}
agents:
  - name: task
    repositories: [\"!acme/secret\"]
    triggers:
      comment:
        verbs: [run]
  - name: none
    repositories: [\"acme/*\", \"!acme/*\"]
    triggers:
      comment:
        verbs: [fix]
",
            expect: &[
                (
                    "[]",
                    "services.yaml:7:42: secret `key`: its `repositories` list is empty, so it matches no repository; leave `repositories` out for every repository",
                ),
                (
                    "\"!acme-corp/secret\"",
                    "services.yaml:8:55: secret `typo`: `!acme-corp/secret` leaves out nothing: no glob of this list without `!` takes in a repository it matches (check its owner and name)",
                ),
                (
                    "[\"acme/x\", \"!Acme/*\"]",
                    "services.yaml:9:44: secret `gone`: its `repositories` list matches no repository: `!Acme/*` leaves out every repository its other globs take in; narrow the `!` glob, or leave `repositories` out",
                ),
                (
                    "[\"!acme/secret\"]",
                    "services.yaml:12:19: agent `task`: its `repositories` list only leaves repositories out (`!`): a repository is in when it matches a glob without `!`, so this list matches none; put `owner/*` before them",
                ),
                (
                    "[\"acme/*\", \"!acme/*\"]",
                    "services.yaml:17:19: agent `none`: its `repositories` list matches no repository: `!acme/*` leaves out every repository its other globs take in; narrow the `!` glob, or leave `repositories` out",
                ),
            ],
        },
        Case {
            what: "people allowed in repositories a list of which matches none",
            yaml: "\
project: demo
github:
  authorization:
    allowed_in:
      - repositories: [\"acme/*\", \"!acme/*\"]
        users: [helper]
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "[\"acme/*\", \"!acme/*\"]",
                "services.yaml:5:23: allowed_in[0]: its `repositories` list matches no repository: `!acme/*` leaves out every repository its other globs take in; narrow the `!` glob, or leave `repositories` out",
            )],
        },
        Case {
            what: "allowed_in entries that allow nobody",
            yaml: "\
project: demo
github:
  authorization:
    allowed_in:
      - repositories: []
        users: [\"helper:1\"]
      - repositories: [\"acme/*\"]
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[
                (
                    "[]",
                    "services.yaml:5:23: allowed_in[0]: its `repositories` list is empty, so it allows nobody anywhere; name the repositories (`owner/*`), or list these people in `allowed_users` / `allowed_teams` for every repository",
                ),
                (
                    "repositories: [\"acme/*\"]",
                    "services.yaml:7:9: allowed_in[1]: names no `users` and no `teams`, so it allows nobody; list who it allows, or remove the entry",
                ),
            ],
        },
        Case {
            what: "one login pinned to two accounts",
            yaml: "\
project: demo
github:
  authorization:
    allowed_users: [\"octocat:583231\"]
    allowed_in:
      - repositories: [\"acme/*\"]
        users: [\"Octocat:999\"]
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
            expect: &[(
                "\"Octocat:999\"",
                "services.yaml:7:17: `Octocat:999` pins login `Octocat` to account 999, and another entry pins it to account 583231: one login is one account; keep the `id` that https://api.github.com/users/Octocat gives",
            )],
        },
        Case {
            what: "agents that run beyond the repositories of a secret they list",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
secrets:
  team-a: {name: team-a, key: k, repositories: [\"acme/a\"]}
  acme: {name: acme, key: k, repositories: [\"acme/*\", \"!acme/secret\"]}
agents:
  - name: everywhere
    secrets: [team-a]
    triggers:
      comment:
        verbs: [run]
  - name: all-of-acme
    repositories: [\"acme/*\"]
    secrets: [team-a, acme]
    triggers:
      comment:
        verbs: [fix]
  - name: within
    repositories: [\"acme/a\"]
    secrets: [team-a, acme]
    triggers:
      comment:
        verbs: [docs]
",
            expect: &[
                (
                    "team-a]",
                    "services.yaml:11:15: agent `everywhere` lists secret `team-a`, which is only for `acme/a`, but it runs for every repository (it has no `repositories`); give it `repositories` within the secret's",
                ),
                (
                    "team-a,",
                    "services.yaml:17:15: agent `all-of-acme` lists secret `team-a`, which is only for `acme/a`, but its `acme/*` reaches beyond them; narrow it, or widen the secret's `repositories`",
                ),
                (
                    "acme]",
                    "services.yaml:17:23: agent `all-of-acme` lists secret `acme`, which is only for `acme/*`, `!acme/secret`, but its `acme/*` takes in repositories the secret leaves out with `!acme/secret`; leave them out of the agent too (add `!acme/secret` to its `repositories`)",
                ),
            ],
        },
    ]);
}

/// The run's comment is a template too: a misspelt field in it, or no `comment.md` in a
/// folder of one's own, is found by `validate`, not by the first run that reports (before,
/// both were `ok`, and the report of every run on a pull request or issue failed, check
/// run included).
#[test]
fn the_comment_template_is_checked_as_the_reports_render_it() {
    let services = b"\
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
";
    let dir = ConfigDir::new(services);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/comment.md");
    let text = std::fs::read_to_string(shipped).expect("the shipped comment.md");
    dir.write(
        "templates/comment.md",
        text.replace("result.summary", "result.sumary").as_bytes(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    let line = text
        .lines()
        .position(|l| l.contains("result.summary"))
        .expect("the shipped comment shows the summary")
        + 1;
    assert!(
        run.stderr.contains(&format!(
            "templates/comment.md:{line}:4: the run's comment, ended `success`: undefined value"
        )),
        "stderr:\n{}",
        run.stderr
    );

    // Without one, each comment is agentpods' plain one, which is said.
    std::fs::remove_file(dir.path("templates/comment.md")).expect("remove comment.md");
    let text = std::str::from_utf8(services).expect("text");
    let mut without = configs::templates();
    without.remove("comment.md");
    let loaded = agentpods::config::parse(text, configs::FILE, without.clone()).expect("loads");
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:1:1: warning: template `comment.md` is not in the templates folder, so each run's comment on a pull request or an issue will be agentpods' plain one; copy the shipped templates/comment.md to change it, or set `github.report.comment: false` for none"
        ]
    );
    // Without comments, none is needed.
    let loaded = agentpods::config::parse(
        &format!("{text}github:\n  report:\n    comment: false\n"),
        configs::FILE,
        without,
    )
    .expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// An `allowed_users` entry is a login pinned to its account (`octocat:583231`), or a bare
/// login, which `validate` warns about: GitHub frees a login when its account is renamed,
/// and whoever takes it holds the entry (outside review A4). A mention (`@octocat`) never
/// matches a login: it is an error saying what to write (new-user review N9; before, it
/// was accepted without a word).
#[test]
fn an_allowed_user_written_as_a_mention_is_an_error_and_a_bare_login_a_warning() {
    check(&[Case {
        what: "a mention, and an id that is not a number",
        yaml: "\
project: demo
github:
  authorization:
    allowed_users: [\"@octocat\", \"hubot:#1\"]
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
        expect: &[
            (
                "\"@octocat\"",
                "services.yaml:4:21: github.authorization.allowed_users[0]: `@octocat`: write the login without @ (`octocat`): a login with @ never matches",
            ),
            (
                "\"hubot:#1\"",
                "services.yaml:4:33: github.authorization.allowed_users[1]: `hubot:#1`: the account id after the colon is a number, as GitHub's API gives it (https://api.github.com/users/hubot says `id`), like octocat:583231",
            ),
        ],
    }]);
    let loaded = configs::load(
        "\
project: demo
github:
  authorization:
    allowed_users: [octocat:583231, hubot]
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:4:37: warning: allowed_users entry `hubot` is a login, not pinned to an account: GitHub frees a login when its account is renamed, and whoever registers it then may start every agent and approve fork heads; write `hubot:<id>` with the `id` that https://api.github.com/users/hubot gives"
        ]
    );
    let users = &loaded.config.github.authorization.allowed_users;
    assert_eq!(users[0].login(), "octocat");
    assert_eq!(users[0].id(), Some(583_231));
}

/// Review 15e, E6: strangers' runs wait only while fewer than half of
/// `queued_per_repository` do, at least one; with a limit of 1 that one is the whole queue,
/// and `validate` says so where strangers can start something (and only there).
#[test]
fn a_queue_of_one_place_that_strangers_may_take_is_warned_of() {
    let config = |limits: &str, trigger: &str| {
        format!(
            "project: demo\nlimits: {{ queued_per_repository: {limits} }}\ncluster:\n  namespace: runs\nimages:\n  agent: ghcr.io/acme/agent:1.0\nagents:\n  - name: task\n    triggers:\n      comment:\n        verbs: [run]\n{trigger}"
        )
    };
    let warnings = |yaml: &str| -> Vec<String> {
        configs::load(yaml)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        warnings(&config("1", "        min_permission: none\n")),
        [
            "services.yaml:2:34: warning: `queued_per_repository: 1` gives strangers the only place: a run asked for below github.authorization.min_permission (agent `task`'s `comment` trigger lets them in) may wait there, and while it does every maintainer's run in that repository is refused; set it to 2 or more, so that strangers' runs hold at most half"
        ]
    );
    assert_eq!(
        warnings(&config("2", "        min_permission: none\n")),
        Vec::<String>::new()
    );
    assert_eq!(warnings(&config("1", "")), Vec::<String>::new());
}

/// New-user review 13b, N15: a command prefix that is a plain word (`bot`) would be read in
/// ordinary text ("bot is down"), so it is refused with the sign to put before it; before,
/// it was accepted without a word.
#[test]
fn a_command_prefix_that_is_a_plain_word_is_refused_with_the_sign_to_begin_it_with() {
    check(&[Case {
        what: "a prefix without its `/`",
        yaml: "\
project: demo
github:
  command_prefix: bot
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      comment:
        verbs: [run]
",
        expect: &[(
            "bot",
            "services.yaml:3:19: command prefix `bot` begins with a letter or digit, so every \
             comment line that begins with the word `bot` would be read as a command; begin it \
             with a sign, as in `/bot`",
        )],
    }]);
    for prefix in ["/bot", "!agent", "@acme-bot"] {
        configs::load(&format!(
            "project: demo\ngithub: {{ command_prefix: \"{prefix}\" }}\ncluster: {{ namespace: runs }}\n\
             images: {{ agent: ghcr.io/acme/agent:1.0 }}\n\
             agents: [{{ name: task, triggers: {{ comment: {{ verbs: [run] }} }} }}]\n"
        ));
    }
}

/// New-user review 13b, N16: a value of the wrong type is answered with the form to write
/// where that is plain: a number quoted where text goes, a string's words as a list's items.
#[test]
fn a_value_of_the_wrong_type_is_answered_with_the_form_to_write() {
    check(&[Case {
        what: "a command as one string, a number of params and of cpu",
        yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    command: claude -p --max-turns 30
    params: { retries: 3, verbose: true }
    resources: { limits: { cpu: 4 } }
    triggers:
      comment:
        verbs: [run]
",
        expect: &[
            (
                "claude",
                "services.yaml:8:14: agents[0].command: expected a list, found a string: write \
                 `command: [claude, -p, --max-turns, \"30\"]`",
            ),
            (
                "3",
                "services.yaml:9:24: agents[0].params.retries: expected a string, found an \
                 integer: write `retries: \"3\"`",
            ),
            (
                "true",
                "services.yaml:9:36: agents[0].params.verbose: expected a string, found a \
                 boolean: write `verbose: \"true\"`",
            ),
            (
                "4",
                "services.yaml:10:33: agents[0].resources.limits.cpu: expected a quantity such \
                 as 500m or 4Gi, as a string, found an integer: write `cpu: \"4\"`",
            ),
        ],
    }]);
}

/// New-user review 13b, N10: a request above its limit written in services.yaml is refused
/// where it is written (before: at the template line that prints `agent.resources`).
#[test]
fn a_request_above_its_limit_is_refused_where_services_yaml_writes_it() {
    check(&[Case {
        what: "an agent's cpu and memory requests above their limits",
        yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    resources: { requests: { cpu: \"4\", memory: 8Gi }, limits: { cpu: \"1\", memory: 1Gi } }
    triggers:
      comment:
        verbs: [run]
",
        expect: &[
            (
                "\"4\"",
                "services.yaml:8:35: the cpu request `4` is above its limit `1`, which the API \
                 server refuses; lower the request or raise the limit",
            ),
            (
                "8Gi",
                "services.yaml:8:48: the memory request `8Gi` is above its limit `1Gi`, which \
                 the API server refuses; lower the request or raise the limit",
            ),
        ],
    }]);
}

/// A one-container pod, as templates were before the agent's process lost the token: the
/// token is mounted where `agentpods agent` runs the agent's command.
const ONE_CONTAINER_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: {{ run.name }}
spec:
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: agent
      image: {{ agent.image }}
      command: [agentpods, agent]
      args:
        - --repository
        - {{ repo.full_name }}
        - --
{% for arg in agent.command %}
        - {{ arg }}
{% endfor %}
      env:
        - name: TASK
          value: {{ task }}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
{% if run.token_secret %}
      volumeMounts:
        - name: github-token
          mountPath: /var/run/agentpods/github
  volumes:
    - name: github-token
      secret:
        secretName: {{ run.token_secret }}
{% endif %}
";

const WRITES_ON_COMMAND: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/example/agent:1
agents:
  - name: task
    templates: [agent-pod.yaml]
    github_token: { contents: write, pull_requests: write }
    triggers:
      comment: { verbs: [run] }
  - name: review
    templates: [agent-pod.yaml]
    prompt: prompts/review.md
    triggers:
      pull_request: {}
";

/// A template that gives a token that may write to the container that runs the agent's
/// command hands a hijacked agent the App's hand: `validate` warns, at the container's
/// line, naming the agent and what its token may write. The shipped template, which runs
/// the agent in a container without the token, draws no warning; nor does an agent whose
/// token only reads (`review`). Before, `validate` said nothing of either.
#[test]
fn validate_warns_when_a_template_gives_a_write_token_to_the_agent_s_own_container() {
    let dir = ConfigDir::new(WRITES_ON_COMMAND.as_bytes());
    dir.write("templates/agent-pod.yaml", ONE_CONTAINER_POD.as_bytes());
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(
        run.code,
        Some(0),
        "a warning, not an error:\n{}",
        run.stderr
    );
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "{}:11:5: warning: agent `task`'s token may write (contents, pull_requests), and \
             its template gives it to container `agent`, which runs the agent's command",
            dir.path("templates/agent-pod.yaml").display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        lines[0].contains("(docs/agent.md, The three steps)"),
        "{}",
        lines[0]
    );

    dir.write(
        "templates/agent-pod.yaml",
        include_bytes!("../../templates/agent-pod.yaml"),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        !run.stderr_lines().iter().any(|l| l.contains("warning")),
        "{}",
        run.stderr
    );
}

/// A three-container template of one's own from before the publish step took the agent's
/// commits as a bundle (its `publish` has no `--changes-dir`) still commits and pushes
/// from the agent's checkout with the token at hand: `validate` warns of it at the
/// container's line, and of nothing once the step is given the bundle.
#[test]
fn validate_warns_when_the_publish_step_would_push_from_the_agent_s_checkout() {
    let shipped = include_str!("../../templates/agent-pod.yaml");
    let older = shipped.replace(
        "        - --changes-dir\n        - /var/run/agentpods/changes\n        - --publish-dir",
        "        - --publish-dir",
    );
    assert_ne!(older, shipped, "the shipped publish step has --changes-dir");
    let dir = ConfigDir::new(WRITES_ON_COMMAND.as_bytes());
    dir.write("templates/agent-pod.yaml", older.as_bytes());
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(
        run.code,
        Some(0),
        "a warning, not an error:\n{}",
        run.stderr
    );
    let line = older
        .lines()
        .position(|l| l.trim() == "- name: publish")
        .expect("a publish container")
        + 1;
    let lines = run.stderr_lines();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "{}:{line}:5: warning: agent `task`'s token may write (contents, pull_requests), \
             and container `publish` (`--phase publish`) holds it without `--changes-dir`",
            dir.path("templates/agent-pod.yaml").display()
        ))),
        "{}",
        run.stderr
    );

    dir.write("templates/agent-pod.yaml", shipped.as_bytes());
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        !run.stderr_lines().iter().any(|l| l.contains("warning")),
        "{}",
        run.stderr
    );
}

/// A file saved with a UTF-8 byte-order mark (Windows editors, PowerShell 5's `Out-File`)
/// reads as the same file without it: services.yaml's first key is `project`, not
/// `\u{feff}project`, and a YAML template's output is YAML (new-user review 13c, N6).
#[test]
fn a_byte_order_mark_at_the_start_of_a_file_is_not_part_of_its_text() {
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let services = "\
# yaml-language-server: $schema=services.schema.json
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
";
    let dir = ConfigDir::new(&[BOM, services.as_bytes()].concat());
    // The shipped pod template, which meets Pod Security `restricted`.
    let pod = include_bytes!("../../templates/agent-pod.yaml");
    dir.write("templates/agent-pod.yaml", &[BOM, pod.as_slice()].concat());
    dir.write(
        "templates/prompts/task.md",
        &[BOM, b"Do this: {{ comment.command.task }}\n"].concat(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let loaded = agentpods::config::load(&dir.path("services.yaml")).expect("loads");
    assert_eq!(loaded.config.project.as_str(), "demo");
    assert_eq!(
        loaded.templates["prompts/task.md"],
        "Do this: {{ comment.command.task }}\n"
    );
}

/// A trigger written as the event's name (`issue_comment`, which `render --event` takes) or
/// as the ref it is about (`tags`) says which trigger that is (new-user review 13c, N12).
#[test]
fn a_trigger_named_as_its_event_or_its_ref_says_which_trigger_it_is() {
    check(&[
        Case {
            what: "the issue_comment event",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      issue_comment: { verbs: [run] }
",
            expect: &[(
                "issue_comment",
                "services.yaml:9:7: agents[0].triggers: unknown key `issue_comment`: the `issue_comment` event is the `comment` trigger: `comment: { verbs: [run] }`",
            )],
        },
        Case {
            what: "tags",
            yaml: "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    triggers:
      tags: [\"v*\"]
",
            expect: &[(
                "tags",
                "services.yaml:9:7: agents[0].triggers: unknown key `tags`: tags are a `push` trigger's: `push: { tags: [\"v*\"] }`",
            )],
        },
    ]);
}

/// A prompt written in services.yaml as its text, in the style of GitHub Actions, is told
/// that a template is named by its file (new-user review 13d, N12).
#[test]
fn a_prompt_written_as_its_text_is_told_to_name_a_file() {
    let dir = ConfigDir::new(
        b"project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
agents:
  - name: task
    prompt: \"Fix what {{ comment.user.login }} asked: do it now\"
    triggers:
      comment:
        verbs: [run]
",
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "a template is named by its file in the templates folder (`prompts/task.md`), not \
             written here"
        ),
        "{}",
        run.stderr
    );
}

/// Names a newcomer brings from GitHub's payload or other tools get the variable templates
/// are given: `repository` → `repo`, `params` → `agent.params` (new-user review 13d, N6).
#[test]
fn github_s_and_other_tools_names_get_the_variable_meant() {
    let dir = ConfigDir::new(WRITES_ON_COMMAND.as_bytes());
    dir.write(
        "templates/prompts/review.md",
        b"Review {{ repository.full_name }} with {{ params.suite }}.\n",
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for meant in [
        "`repository` is not a variable templates are given; did you mean `repo`?",
        "`params` is not a variable templates are given; did you mean `agent.params`?",
    ] {
        assert!(run.stderr.contains(meant), "{meant}\n{}", run.stderr);
    }
}

/// A config whose `task` agent runs on comments on issues and pull requests, with an image
/// and a Secret of its own for a sidecar, for the pod-name tables below.
const SIDECAR_CONFIG: &str = "\
project: demo
cluster:
  namespace: runs
images:
  agent: ghcr.io/acme/agent:1.0
  helper: ghcr.io/acme/helper:2.0
secrets:
  openai: {name: openai-api-key, key: api-key}
agents:
  - name: task
    prompt: prompts/task.md
    secrets: [openai]
    triggers:
      comment:
        verbs: [run]
        targets: [issue, pull_request]
";

/// A pod Pod Security `restricted` admits, its sidecar's lines in place of `SIDECAR`.
const SIDECAR_POD: &str = "\
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
      args: [{{ task }}]
      env:
        - name: OPENAI_API_KEY
          valueFrom: {secretKeyRef: {name: {{ secrets.openai.name }}, key: api-key}}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
    - name: helper
SIDECAR
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
  restartPolicy: Never
";

/// What `validate` prints for SIDECAR_CONFIG with the sidecar's lines `sidecar`: its exit
/// code and its lines, the folder left out.
fn validate_sidecar(sidecar: &str) -> (Option<i32>, Vec<String>) {
    let dir = ConfigDir::new(SIDECAR_CONFIG.as_bytes());
    dir.write(
        "templates/agent-pod.yaml",
        SIDECAR_POD.replace("SIDECAR", sidecar).as_bytes(),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    let folder = format!("{}/", dir.dir.path().display());
    let lines = run
        .stderr_lines()
        .iter()
        .map(|l| l.replace(&folder, ""))
        .collect();
    (run.code, lines)
}

/// Review N1: an image or a Secret's name written from the event's text (a title, a branch,
/// a comment, the repository's name) is chosen by whoever writes the event. `validate`
/// refuses it where the template writes it, in the words `admission-policy` refuses it
/// with; one chosen from services.yaml's `images` and `secrets` passes.
#[test]
fn validate_refuses_an_image_or_a_secret_chosen_by_the_event_s_text() {
    let reason = "it depends on the event: an image or a Secret chosen by the event's text is \
                  chosen by whoever writes the event (a title, a branch, a comment), and an \
                  admission policy, which allows fixed names only, would refuse the runs it \
                  was not sampled with; name it in services.yaml's `images` or `secrets` and \
                  write `{{ images.NAME }}` (or `{{ agent.image }}`) or `{{ secrets.NAME.name }}`";
    let cases: &[(&str, &str, String)] = &[
        (
            "an image tagged with the issue's title",
            "      image: {{ images.helper ~ \"-\" ~ (issue.title | label_value) }}",
            format!(
                "templates/agent-pod.yaml:20:7: agent `task`, comment `run` on an issue: \
                 document 1, field `spec.containers[1].image`: the Pod's container `helper` \
                 `image` is `ghcr.io/acme/helper:2.0-A-bug` for this delivery and \
                 `ghcr.io/acme/helper:2.0-A-bugx` for a delivery whose texts differ: {reason}"
            ),
        ),
        (
            "a Secret named after the repository",
            "      image: {{ images.helper }}\n      envFrom:\n        - secretRef: {name: {{ (\"keys-\" ~ repo.name) | dns_label }}}",
            format!(
                "templates/agent-pod.yaml:22:11: agent `task`, comment `run` on an issue: \
                 document 1, field `spec.containers[1].envFrom[0].secretRef.name`: the Pod's \
                 container `helper` envFrom `secretRef.name` is \
                 `keys-long-repository-name-long-repository-name-long-re-c3976…` for this \
                 delivery and `keys-long-repository-name-long-repository-name-long-re-70166…` \
                 for a delivery whose texts differ: {reason}"
            ),
        ),
        (
            "an image that differs between an issue and a pull request",
            "      image: {{ images.helper if pr else images.agent }}",
            format!(
                "templates/agent-pod.yaml:20:7: agent `task`, comment `run` on a pull request: \
                 document 1, field `spec.containers[1].image`: the Pod's container `helper` \
                 `image` is `ghcr.io/acme/helper:2.0` for this delivery and \
                 `ghcr.io/acme/agent:1.0` for a comment `run` on an issue: {reason}"
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (what, sidecar, expected) in cases {
        let (code, lines) = validate_sidecar(sidecar);
        let expected = [expected.clone(), "1 problem found".to_string()];
        if code != Some(1) || lines != expected {
            failures.push(format!(
                "{what}: exit {code:?}\n--- expected\n{}\n--- actual\n{}",
                expected.join("\n"),
                lines.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let (code, lines) = validate_sidecar("      image: {{ images.helper }}");
    assert_eq!(code, Some(0), "{lines:?}");
    // agent-pod.yaml, prompts/task.md and comment.md: not prompts/review.md, which the
    // folder holds and nothing uses.
    assert_eq!(lines, ["services.yaml: ok (1 agent, 3 templates)"]);
}

/// Review N8: every container's image is checked as services.yaml's `images` are, not
/// only the agent's: one the kubelet refuses is an error at its line, one that moves a
/// warning there.
#[test]
fn every_container_s_image_is_checked_as_the_images_of_services_yaml_are() {
    // The sidecar writes its image itself, so `images.helper` is used by nothing (a
    // warning of its own, an_image_or_a_secret_nothing_uses_is_warned_of).
    let validate_sidecar = |sidecar: &str| {
        let (code, mut lines) = validate_sidecar(sidecar);
        lines.retain(|l| !l.contains("`images.helper` is used by no agent"));
        (code, lines)
    };
    let (code, lines) = validate_sidecar("      image: ghcr.io/Acme/Helper:2.0");
    assert_eq!(
        (code, lines),
        (
            Some(1),
            vec![
                "templates/agent-pod.yaml:20:7: agent `task`, comment `run` on an issue: \
                 document 1, field `spec.containers[1].image`: the Pod's container `helper` \
                 `image`: image `ghcr.io/Acme/Helper:2.0`: a repository path is lower case, and \
                 the kubelet refuses this one (InvalidImageName); write `ghcr.io/acme/helper:2.0`"
                    .to_string(),
                "1 problem found".to_string(),
            ]
        )
    );
    let (code, lines) = validate_sidecar("      image: https://ghcr.io/acme/helper:2.0");
    assert_eq!(code, Some(1), "{lines:?}");
    assert!(
        lines[0].ends_with(
            "`image`: image `https://ghcr.io/acme/helper:2.0`: an image reference has no scheme \
             (`https://`), which the kubelet refuses (InvalidImageName); write \
             `ghcr.io/acme/helper:2.0`"
        ),
        "{lines:?}"
    );
    for (image, warning) in [
        (
            "busybox",
            "templates/agent-pod.yaml:20:7: warning: the Pod's container `helper` `image`: image \
             `busybox` has no tag, so every pod pulls whatever `latest` is then; pin a version \
             (`busybox:1.2.3`) or a digest; or name it in services.yaml's `images` and write \
             `{{ images.NAME }}`",
        ),
        (
            "busybox:latest",
            "templates/agent-pod.yaml:20:7: warning: the Pod's container `helper` `image`: image \
             `busybox:latest` names the tag `latest`, which moves, so every pod pulls whatever \
             `latest` is then; pin a version (`busybox:1.2.3`) or a digest; or name it in \
             services.yaml's `images` and write `{{ images.NAME }}`",
        ),
    ] {
        let (code, lines) = validate_sidecar(&format!("      image: {image}"));
        assert_eq!(code, Some(0), "{image}: {lines:?}");
        assert_eq!(
            lines,
            [warning, "services.yaml: ok (1 agent, 3 templates)"],
            "{image}"
        );
    }
}

/// Review N1: an entry of `images` or `secrets` that no agent names and no template reads
/// is warned of at the entry; one a template reads by name is used.
#[test]
fn an_image_or_a_secret_nothing_uses_is_warned_of() {
    let yaml = SIDECAR_CONFIG
        .replace(
            "  helper: ghcr.io/acme/helper:2.0\n",
            "  helper: ghcr.io/acme/helper:2.0\n  old: ghcr.io/acme/old:0.9\n",
        )
        .replace(
            "  openai: {name: openai-api-key, key: api-key}\n",
            "  openai: {name: openai-api-key, key: api-key}\n  stale: {name: stale-key, key: k}\n",
        );
    let templates = || {
        let mut t = configs::templates();
        t.insert(
            "agent-pod.yaml".into(),
            SIDECAR_POD.replace("SIDECAR", "      image: {{ images.helper }}"),
        );
        t
    };
    let loaded = agentpods::config::parse(&yaml, configs::FILE, templates())
        .unwrap_or_else(|e| panic!("the config loads:\n{e}"));
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "services.yaml:7:8: warning: `images.old` is used by no agent: neither an agent's \
             `image` (or `cluster.defaults.image`) names it nor a template reads `images.old`; \
             remove it, or name it where it was meant",
            "services.yaml:10:10: warning: `secrets.stale` is used by no agent: neither an \
             agent's `secrets` names it nor a template reads `secrets.stale`; remove it, or \
             name it where it was meant",
        ]
    );
    for (line, points_at) in [(7, "ghcr.io/acme/old"), (10, "{name: stale")] {
        let col = if line == 7 { 8 } else { 10 };
        assert!(
            text_at(&yaml, line, col).is_some_and(|t| t.starts_with(points_at)),
            "{line}:{col}"
        );
    }
}

/// A token that asks for what no step of the shipped pod uses (the agent's own process
/// never holds it), or that leaves out `contents` (a map replaces the default `contents:
/// read`, which a private repository's checkout needs), is warned of at the agent's
/// `github_token`. Before (new-user review 13e, N4), `github_token: { issues: write }` on a
/// triage agent was taken without a word. A template that gives the agent's own container
/// the token draws the write-token warning instead, and none of this one.
#[test]
fn validate_warns_of_a_token_permission_no_step_uses_or_a_checkout_without_contents() {
    let config = WRITES_ON_COMMAND.replace(
        "github_token: { contents: write, pull_requests: write }",
        "github_token: { issues: write }",
    );
    let dir = ConfigDir::new(config.as_bytes());
    dir.write(
        "templates/agent-pod.yaml",
        include_bytes!("../../templates/agent-pod.yaml"),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert_eq!(
        run.code,
        Some(0),
        "a warning, not an error:\n{}",
        run.stderr
    );
    let lines = run.stderr_lines();
    let warning = lines
        .iter()
        .find(|l| l.contains("token asks for"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(
        warning.starts_with(&format!(
            "{}:9:19: warning: agent `task`'s token asks for `issues: write`, which no step \
             of its pod uses",
            dir.path("services.yaml").display()
        )),
        "{warning}"
    );
    assert!(
        warning.ends_with(
            "and it has no `contents` permission, which a map of permissions replaces the \
             default `contents: read` with: the checkout of a private repository fails \
             without it; add `contents: read`"
        ),
        "{warning}"
    );
    assert_eq!(text_at(&config, 9, 19), Some("{ issues: write }"));
    // What the steps use draws nothing.
    let dir = ConfigDir::new(WRITES_ON_COMMAND.as_bytes());
    dir.write(
        "templates/agent-pod.yaml",
        include_bytes!("../../templates/agent-pod.yaml"),
    );
    let run = configs::validate(&dir.path("services.yaml"));
    assert!(
        !run.stderr_lines().iter().any(|l| l.contains("warning")),
        "{}",
        run.stderr
    );
}

/// New-user review 13h, F14: `agentpods validate services.yaml 2>&1 | head -1` on a config
/// with problems. `head` goes away after the first line; `validate` then exits 1 as it
/// would with the reader still there, not 101. Before, the next `eprintln!` panicked on
/// the closed pipe ("failed printing to stderr: Broken pipe") and the exit code was Rust's
/// panic code, which a CI script checking for 1 takes for a crash.
#[test]
fn validate_whose_reader_goes_away_early_still_exits_1() {
    use std::process::{Command, Stdio};
    let dir = broken_with_a_template_error();
    // stdout and stderr into one pipe whose read end is closed before validate writes.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_agentpods"))
        .arg("validate")
        .arg(dir.path("services.yaml"))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone().expect("the pipe again")))
        .stderr(Stdio::from(writer))
        .status()
        .expect("run agentpods");
    assert_eq!(
        out.code(),
        Some(1),
        "validate with problems, its reader gone"
    );
}
