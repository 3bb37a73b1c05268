//! Checks a spanned YAML tree against the JSON Schema derived from the model, reporting
//! every problem with its position: unknown keys (with a did-you-mean), wrong types,
//! values outside an enum, bad formats, missing keys.

use serde_json::Value;

use super::Diagnostic;
use super::formats::Format;
use super::yaml::{Node, NodeKind};
use crate::suggest::did_you_mean;

pub struct SchemaChecker<'s> {
    root: &'s Value,
}

impl<'s> SchemaChecker<'s> {
    pub fn new(root: &'s Value) -> Self {
        Self { root }
    }

    pub fn check(&self, node: &Node) -> Vec<Found> {
        let mut out = Vec::new();
        self.check_node(node, self.root, &mut Vec::new(), &mut out);
        out
    }

    fn resolve(&self, schema: &'s Value) -> &'s Value {
        let mut schema = schema;
        // Follow `$ref`s into `$defs` (bounded, in case of a cycle).
        for _ in 0..16 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(target) = reference
                .strip_prefix("#/$defs/")
                .and_then(|name| self.root.get("$defs")?.get(name))
            else {
                break;
            };
            schema = target;
        }
        schema
    }

    fn check_node(
        &self,
        node: &Node,
        schema: &'s Value,
        path: &mut Vec<String>,
        out: &mut Vec<Found>,
    ) {
        let schema = self.resolve(schema);
        let Some(obj) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                out.push(diag(node, path, "no value is allowed here".into()));
            }
            return;
        };

        if let Some(branches) = obj
            .get("anyOf")
            .or_else(|| obj.get("oneOf"))
            .and_then(Value::as_array)
        {
            self.check_alternatives(node, branches, path, out);
            return;
        }

        if let Some(types) = obj.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.is_empty() && !allowed.iter().any(|t| type_matches(node, t)) {
                let expected: Vec<String> = allowed.iter().map(|t| describe_type(t, obj)).collect();
                // Quoting suits plain text and a quantity, not a value of another format (a
                // duration's number has no unit to guess).
                let format = obj
                    .get("format")
                    .and_then(Value::as_str)
                    .and_then(Format::from_name);
                let quotable = matches!(format, None | Some(Format::Quantity));
                // A mapping's own keys, when it has a closed set of them.
                let keys: Option<Vec<&str>> = obj
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect());
                // `secrets: { anthropic: sk-ant-… }`: the value itself, never echoed
                // (new-user review 13c, N12).
                let secret_value = matches!(path.as_slice(), [secrets, _] if secrets == "secrets")
                    && matches!(node.kind, NodeKind::Str(_));
                let write = if secret_value {
                    ": an entry of `secrets` names a Kubernetes Secret, never holds its value: \
                     write `{ name: SECRET, key: KEY, env: VARIABLE }`, and create the Secret \
                     with kubectl (docs/setup.md)"
                        .to_string()
                } else {
                    form_to_write(node, &allowed, quotable, keys.as_deref(), path)
                        .map(|form| format!(": write `{form}`"))
                        .unwrap_or_default()
                };
                out.push(diag(
                    node,
                    path,
                    format!(
                        "expected {}, found {}{write}",
                        expected.join(" or "),
                        node.type_name()
                    ),
                ));
                return;
            }
        }

        if let Some(choices) = obj.get("enum").and_then(Value::as_array) {
            self.check_enum(node, choices, path, out);
            return;
        }
        if let Some(constant) = obj.get("const") {
            self.check_enum(node, std::slice::from_ref(constant), path, out);
            return;
        }

        match &node.kind {
            NodeKind::Str(s) => {
                if let Some(format) = obj
                    .get("format")
                    .and_then(Value::as_str)
                    .and_then(Format::from_name)
                    && let Err(message) = format.check(s)
                {
                    out.push(diag(node, path, message));
                }
            }
            NodeKind::Int(i) => {
                if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
                    && (*i as f64) < min
                {
                    out.push(diag(node, path, format!("must be at least {min}")));
                }
                if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
                    && (*i as f64) > max
                {
                    out.push(diag(node, path, format!("must be at most {max}")));
                }
            }
            NodeKind::Seq(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        self.check_node(item, item_schema, path, out);
                        path.pop();
                    }
                }
            }
            NodeKind::Map(entries) => self.check_map(node, entries, obj, path, out),
            NodeKind::Null | NodeKind::Bool(_) | NodeKind::Float(_) => {}
        }
    }

    fn check_map(
        &self,
        node: &Node,
        entries: &[(super::yaml::Key, Node)],
        obj: &'s serde_json::Map<String, Value>,
        path: &mut Vec<String>,
        out: &mut Vec<Found>,
    ) {
        let properties = obj.get("properties").and_then(Value::as_object);
        let additional = obj.get("additionalProperties");
        let key_schema = obj.get("propertyNames");
        // A misspelt key is one mistake: its did-you-mean stands in for "missing key".
        let mut suggested: Vec<&str> = Vec::new();
        for (i, (key, value)) in entries.iter().enumerate() {
            path.push(key.name.clone());
            if let Some(prop) = properties.and_then(|p| p.get(&key.name)) {
                self.check_node(value, prop, path, out);
            } else {
                match additional {
                    Some(Value::Bool(false)) => {
                        let known =
                            properties.map(|p| p.keys().map(String::as_str).collect::<Vec<_>>());
                        let known = known.unwrap_or_default();
                        let parent = &path[..path.len() - 1];
                        let home = self.home_above(&entries[..i], obj, &key.name);
                        let message = match home {
                            // Editors' YAML parsers merge these before checking, ours does not.
                            _ if key.name == "<<" => "YAML merge keys (`<<: *name`) are not \
                                supported: write the keys out here (a whole value can still be \
                                an alias, `key: *name`)"
                                .to_string(),
                            Some((below, col, first)) => {
                                let mut home = parent.to_vec();
                                home.extend(below);
                                let indent = match first {
                                    Some(first) => {
                                        format!("indent it to column {col}, in line with `{first}`")
                                    }
                                    // Its only key dedented (review 13i, F3).
                                    None => format!(
                                        "`{}` is empty without it: indent it under `{}:`",
                                        home.last().map_or("", String::as_str),
                                        home.last().map_or("", String::as_str),
                                    ),
                                };
                                format!(
                                    "unknown key `{}` here; it is a key of `{}` above it: \
                                     {indent}",
                                    key.name,
                                    dotted(&home),
                                )
                            }
                            // `gpu` is not a misspelt `cpu` (new-user review 13b, N13).
                            None if extended_resource(parent, &key.name) => format!(
                                "unknown key `{}`: a resource list here takes {} only; a GPU or \
                                 another extended resource (`nvidia.com/gpu`) goes in the pod \
                                 template's container `resources`, under `limits` \
                                 (`limits: {{ nvidia.com/gpu: 1 }}`)",
                                key.name,
                                known.join(", ")
                            ),
                            // An event's name for its trigger (new-user review 13c, N12).
                            None if trigger_alias(parent, &key.name).is_some() => format!(
                                "unknown key `{}`: {}",
                                key.name,
                                trigger_alias(parent, &key.name).unwrap_or_default()
                            ),
                            None => match did_you_mean(&key.name, known.iter().copied()) {
                                Some(s) => {
                                    suggested.push(s);
                                    format!("unknown key `{}`, did you mean `{s}`?", key.name)
                                }
                                None if known.is_empty() => format!("unknown key `{}`", key.name),
                                None => format!(
                                    "unknown key `{}` (expected one of: {})",
                                    key.name,
                                    known.join(", ")
                                ),
                            },
                        };
                        out.push(Found {
                            path: path.clone(),
                            missing: false,
                            diagnostic: Diagnostic {
                                pos: key.pos,
                                message: format!("{}{message}", prefix(&path[..path.len() - 1])),
                            },
                        });
                    }
                    Some(schema @ Value::Object(_)) => {
                        if let Some(key_schema) = key_schema {
                            let key_node = Node {
                                kind: NodeKind::Str(key.name.clone()),
                                pos: key.pos,
                            };
                            self.check_node(&key_node, key_schema, path, out);
                        }
                        self.check_node(value, schema, path, out);
                    }
                    _ => {}
                }
            }
            path.pop();
        }
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !entries.iter().any(|(k, _)| k.name == name) && !suggested.contains(&name) {
                    let mut missing = diag(node, path, format!("missing required key `{name}`"));
                    missing.missing = true;
                    out.push(missing);
                }
            }
        }
    }

    /// Where a key that is unknown in this mapping belongs, when it is a key of a mapping
    /// nested in the entry just above it (a line dedented too far: it left the block it was
    /// written in). Returns the path from this mapping down to that one, the column its
    /// keys start at, and its first key; none when the entry above is empty, its only key
    /// the one dedented (`comment:` above `verbs: [run]`).
    fn home_above(
        &self,
        above: &[(super::yaml::Key, Node)],
        obj: &'s serde_json::Map<String, Value>,
        name: &str,
    ) -> Option<(Vec<String>, usize, Option<String>)> {
        let (key, value) = above.last()?;
        let schema = obj
            .get("properties")
            .and_then(|p| p.get(&key.name))
            .or_else(|| obj.get("additionalProperties").filter(|a| a.is_object()))?;
        let mut below = vec![key.name.clone()];
        let mut node = value;
        let mut schema = self.object_schema(schema)?;
        let known = |s: &serde_json::Map<String, Value>| {
            s.get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key(name))
        };
        if matches!(node.kind, NodeKind::Null) && known(schema) {
            return Some((below, key.pos.col + 2, None));
        }
        // At most a few levels: a dedent moves a key out of a block or two.
        for _ in 0..8 {
            match &node.kind {
                NodeKind::Seq(items) => {
                    let item = items.last()?;
                    below.push((items.len() - 1).to_string());
                    schema = self.object_schema(schema.get("items")?)?;
                    node = item;
                }
                NodeKind::Map(entries) => {
                    let (first, _) = entries.first()?;
                    if known(schema) {
                        return Some((below, first.pos.col, Some(first.name.clone())));
                    }
                    let (last, value) = entries.last()?;
                    let next = schema
                        .get("properties")
                        .and_then(|p| p.get(&last.name))
                        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))?;
                    schema = self.object_schema(next)?;
                    below.push(last.name.clone());
                    node = value;
                }
                _ => return None,
            }
        }
        None
    }

    /// A schema as an object, through `$ref`s and into the branch of an `anyOf` / `oneOf`
    /// that is not `null` (how an optional field is written).
    fn object_schema(&self, schema: &'s Value) -> Option<&'s serde_json::Map<String, Value>> {
        let mut schema = self.resolve(schema);
        for _ in 0..4 {
            let branches = schema
                .get("anyOf")
                .or_else(|| schema.get("oneOf"))
                .and_then(Value::as_array);
            let Some(branches) = branches else { break };
            schema = self.resolve(
                branches
                    .iter()
                    .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))?,
            );
        }
        schema.as_object()
    }

    fn check_enum(&self, node: &Node, choices: &[Value], path: &[String], out: &mut Vec<Found>) {
        let value = node.to_json();
        if choices.contains(&value) {
            return;
        }
        let names: Vec<&str> = choices.iter().filter_map(Value::as_str).collect();
        let shown = match &value {
            Value::String(s) => super::formats::shorten(s),
            other => other.to_string(),
        };
        let suggestion = value
            .as_str()
            .and_then(|s| did_you_mean(s, names.iter().copied()));
        let message = match suggestion {
            Some(s) => format!("unknown value `{shown}`, did you mean `{s}`?"),
            None => format!(
                "unknown value `{shown}` (expected one of: {})",
                names.join(", ")
            ),
        };
        out.push(diag(node, path, message));
    }

    fn check_alternatives(
        &self,
        node: &Node,
        branches: &'s [Value],
        path: &mut Vec<String>,
        out: &mut Vec<Found>,
    ) {
        // A set of constants (an enum with documented variants) is one enum check.
        let constants: Option<Vec<Value>> = branches
            .iter()
            .map(|b| {
                let b = self.resolve(b);
                b.get("const")
                    .cloned()
                    .or_else(|| match b.get("enum")?.as_array()?.as_slice() {
                        [one] => Some(one.clone()),
                        _ => None,
                    })
            })
            .collect();
        if let Some(constants) = constants {
            self.check_enum(node, &constants, path, out);
            return;
        }
        let mut best: Option<(bool, Vec<Found>)> = None;
        for branch in branches {
            let resolved = self.resolve(branch);
            let mut errors = Vec::new();
            self.check_node(node, branch, path, &mut errors);
            if errors.is_empty() {
                return;
            }
            // Prefer the branch whose type matches the node: its errors are the useful ones.
            let type_fits = resolved
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| type_matches(node, t));
            // A branch of another type never wins over one that fits, however few its
            // errors: `expected null, found a mapping` says nothing of a bad value inside.
            let better = match &best {
                None => true,
                Some((fits, b)) => type_fits || (!fits && errors.len() < b.len()),
            };
            if better {
                best = Some((type_fits, errors));
            }
        }
        if let Some(message) = self.word_or_mapping(node, branches) {
            out.push(diag(node, path, message));
            return;
        }
        out.extend(best.map(|(_, errors)| errors).unwrap_or_default());
    }

    /// A word where a value is a word or a mapping with an example (`github_token: write`):
    /// what to write, both ways (new-user review 13c, N1); a word near one of the words
    /// keeps its did-you-mean.
    fn word_or_mapping(&self, node: &Node, branches: &'s [Value]) -> Option<String> {
        let NodeKind::Str(text) = &node.kind else {
            return None;
        };
        let example = branches
            .iter()
            .map(|b| self.resolve(b))
            .find(|b| b.get("type").and_then(Value::as_str) == Some("object"))?
            .get("examples")?
            .get(0)?
            .as_object()?;
        let words: Vec<&str> = branches
            .iter()
            .filter_map(|b| self.resolve(b).get("const")?.as_str())
            .collect();
        if words.is_empty() || did_you_mean(text, words.iter().copied()).is_some() {
            return None;
        }
        let entries: Vec<String> = example
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect();
        Some(format!(
            "unknown value `{}`: write a mapping such as `{{ {} }}`, or {}",
            super::formats::shorten(text),
            entries.join(", "),
            words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    }
}

/// The value of the wrong type written as one of the `allowed` types, when that is plain
/// (new-user review 13b, N16): a number or boolean where text goes, quoted (`retries: "3"`,
/// `cpu: "4"`); text where a list goes, its words as the items (`command: [claude, -p]`).
/// A key without its `:` reads as text where a mapping goes (`namespace runs`): the
/// mapping's key (one of `keys`, when it has a closed set) and its value.
fn form_to_write(
    node: &Node,
    allowed: &[&str],
    quotable: bool,
    keys: Option<&[&str]>,
    path: &[String],
) -> Option<String> {
    let quoted = quotable && allowed.contains(&"string");
    if let NodeKind::Str(line) = &node.kind
        && allowed.contains(&"object")
        && let Some((key, value)) = line.split_once(' ')
        && !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && keys.is_none_or(|keys| keys.contains(&key))
    {
        return Some(format!("{key}: {}", value.trim()));
    }
    let value = match &node.kind {
        NodeKind::Int(i) if quoted => format!("\"{i}\""),
        NodeKind::Float(f) if quoted => format!("\"{f}\""),
        NodeKind::Bool(b) if quoted => format!("\"{b}\""),
        NodeKind::Str(text) if allowed.contains(&"array") => {
            let items: Vec<String> = text.split_whitespace().map(flow_item).collect();
            format!("[{}]", items.join(", "))
        }
        _ => return None,
    };
    Some(match path.last() {
        Some(key) if key.parse::<usize>().is_err() => format!("{key}: {value}"),
        _ => value,
    })
}

/// `word` as an item of a YAML flow list: as it is when YAML reads it as that text, else
/// quoted (`"1"`, `"true"`, `"a:b"`).
fn flow_item(word: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=');
    let starts_as_text = match word.chars().next() {
        Some(c) if c.is_ascii_alphabetic() || c == '/' => true,
        Some('-') => word[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '-'),
        _ => false,
    };
    let keyword = matches!(
        word.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    if starts_as_text && !keyword && word.chars().all(allowed) {
        word.to_string()
    } else {
        serde_json::to_string(word).unwrap_or_else(|_| word.to_string())
    }
}

fn type_matches(node: &Node, t: &str) -> bool {
    matches!(
        (t, &node.kind),
        ("null", NodeKind::Null)
            | ("boolean", NodeKind::Bool(_))
            | ("integer", NodeKind::Int(_))
            | ("number", NodeKind::Int(_) | NodeKind::Float(_))
            | ("string", NodeKind::Str(_))
            | ("array", NodeKind::Seq(_))
            | ("object", NodeKind::Map(_))
    )
}

fn describe_type(t: &str, schema: &serde_json::Map<String, Value>) -> String {
    let base = match t {
        "null" => "null",
        "boolean" => "a boolean (true or false)",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        other => other,
    };
    match (
        t,
        schema
            .get("format")
            .and_then(Value::as_str)
            .and_then(Format::from_name),
    ) {
        ("string", Some(Format::Duration)) => "a duration such as 30m".into(),
        ("string", Some(Format::Quantity)) => "a quantity such as 500m or 4Gi, as a string".into(),
        _ => base.into(),
    }
}

/// `agents[0].triggers: ` for a path, or nothing at the root.
pub fn prefix(path: &[String]) -> String {
    if path.is_empty() {
        return String::new();
    }
    format!("{}: ", dotted(path))
}

pub fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for part in path {
        if part.parse::<usize>().is_ok() {
            s.push_str(&format!("[{part}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(part);
        }
    }
    s
}

/// What a key of an agent's `triggers` that names an event or a ref, rather than a
/// trigger, is written as: `issue_comment` (the event `render --event` takes) is the
/// `comment` trigger; tags are a `push` trigger's.
fn trigger_alias(parent: &[String], key: &str) -> Option<&'static str> {
    if !matches!(parent, [agents, _, triggers] if agents == "agents" && triggers == "triggers") {
        return None;
    }
    match key {
        "issue_comment" | "issue_comments" | "comments" => {
            Some("the `issue_comment` event is the `comment` trigger: `comment: { verbs: [run] }`")
        }
        "tag" | "tags" => Some("tags are a `push` trigger's: `push: { tags: [\"v*\"] }`"),
        _ => None,
    }
}

/// Whether `key`, in the map at `parent`, is a resource list's key that names a GPU or
/// another extended resource (`gpu`, `nvidia.com/gpu`): services.yaml's `resources` take
/// none of them.
fn extended_resource(parent: &[String], key: &str) -> bool {
    let list = matches!(
        parent,
        [.., resources, list] if resources == "resources" && (list == "requests" || list == "limits")
    );
    list && (key.contains('/') || key.to_ascii_lowercase().contains("gpu"))
}

/// A problem the schema finds, with the path of the value at fault (for an unknown key,
/// the key), so that the rest of the file can be checked without it.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: Vec<String>,
    /// A required key is missing (no value to leave out: the file cannot be read without it).
    pub missing: bool,
    pub diagnostic: Diagnostic,
}

fn diag(node: &Node, path: &[String], message: String) -> Found {
    Found {
        path: path.to_vec(),
        missing: false,
        diagnostic: Diagnostic {
            pos: node.pos,
            message: format!("{}{message}", prefix(path)),
        },
    }
}
