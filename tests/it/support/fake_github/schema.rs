//! Request checks against GitHub's REST description: the operations agentpods calls, their
//! query parameters and body schemas, vendored in `openapi/operations.json` from npm
//! `@octokit/openapi` by `openapi/extract.mjs`.
//!
//! A small JSON Schema subset, strict where GitHub is loose: a property the schema does not
//! name is an error even without `additionalProperties: false` (GitHub ignores unknown
//! fields silently, which is how a misspelt field goes unnoticed).

use std::collections::HashMap;

use serde_json::Value;

pub struct Operations {
    pub package: String,
    ops: Vec<Operation>,
}

struct Operation {
    method: String,
    segments: Vec<String>,
    body: Option<Value>,
    body_required: bool,
    query: HashMap<String, Value>,
}

impl Operations {
    pub fn load() -> Operations {
        let text = include_str!("openapi/operations.json");
        let doc: Value = serde_json::from_str(text).expect("operations.json is JSON");
        let mut ops = Vec::new();
        for (key, op) in doc["operations"].as_object().expect("operations") {
            let (method, path) = key.split_once(' ').expect("METHOD /path");
            ops.push(Operation {
                method: method.to_owned(),
                segments: path.split('/').map(str::to_owned).collect(),
                body: op.get("body").filter(|b| !b.is_null()).cloned(),
                body_required: op["requestBodyRequired"].as_bool().unwrap_or(false),
                query: op["query"]
                    .as_array()
                    .expect("query")
                    .iter()
                    .map(|q| {
                        (
                            q["name"].as_str().expect("name").to_owned(),
                            q["schema"].clone(),
                        )
                    })
                    .collect(),
            });
        }
        Operations {
            package: doc["package"].as_str().unwrap_or_default().to_owned(),
            ops,
        }
    }

    /// The operation `method path` is, as GitHub's description names it (`POST
    /// /app/installations/{installation_id}/access_tokens`), if it is one.
    pub fn template(&self, method: &str, path: &str) -> Option<String> {
        self.find(method, path)
            .map(|op| format!("{} {}", op.method, op.segments.join("/")))
    }

    fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').collect();
        self.ops.iter().find(|op| {
            op.method == method
                && op.segments.len() == segments.len()
                && op
                    .segments
                    .iter()
                    .zip(&segments)
                    .all(|(want, got)| want.starts_with('{') || want == got)
        })
    }

    /// Every way `method path?query body` departs from the description; empty when none.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
    ) -> Vec<String> {
        let Some(op) = self.find(method, path) else {
            return vec![format!(
                "{method} {path}: not an operation agentpods is known to call"
            )];
        };
        let mut errors = Vec::new();
        for (name, value) in query {
            match op.query.get(name) {
                None => errors.push(format!("{method} {path}: unknown query parameter {name}")),
                Some(schema) => {
                    let v = match schema["type"].as_str() {
                        Some("integer") => value
                            .parse::<i64>()
                            .map(Value::from)
                            .unwrap_or(Value::String(value.clone())),
                        _ => Value::String(value.clone()),
                    };
                    validate(schema, &v, &format!("?{name}"), &mut errors);
                }
            }
        }
        match (&op.body, body.is_empty()) {
            (None, false) => errors.push(format!("{method} {path}: takes no body")),
            (Some(_), true) if op.body_required => {
                errors.push(format!("{method} {path}: needs a body"))
            }
            (Some(schema), false) => match serde_json::from_slice::<Value>(body) {
                Ok(v) => validate(schema, &v, "body", &mut errors),
                Err(e) => errors.push(format!("{method} {path}: body is not JSON: {e}")),
            },
            _ => {}
        }
        errors
            .into_iter()
            .map(|e| {
                if e.starts_with(method) {
                    e
                } else {
                    format!("{method} {path}: {e}")
                }
            })
            .collect()
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Checks `v` against `schema`, pushing one message per violation at `at`.
pub fn validate(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if v.is_null() && schema["nullable"].as_bool() == Some(true) {
        return;
    }
    if let Some(any) = schema["anyOf"].as_array() {
        let ok = any.iter().any(|s| {
            let mut e = Vec::new();
            validate(s, v, at, &mut e);
            e.is_empty()
        });
        if !ok {
            errors.push(format!("{at}: matches none of anyOf"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
        errors.push(format!("{at}: {v} is not of type {}", types.join(" or ")));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        errors.push(format!(
            "{at}: {v} is not one of {}",
            Value::from(allowed.clone())
        ));
    }
    if let (Some(max), Some(s)) = (schema["maxLength"].as_u64(), v.as_str())
        && s.chars().count() as u64 > max
    {
        errors.push(format!("{at}: longer than {max} characters"));
    }
    if let Some(items) = v.as_array() {
        if let Some(max) = schema["maxItems"].as_u64()
            && items.len() as u64 > max
        {
            errors.push(format!("{at}: more than {max} items"));
        }
        if schema["items"].is_object() {
            for (i, item) in items.iter().enumerate() {
                validate(&schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = name.as_str()
                && !obj.contains_key(name)
            {
                errors.push(format!("{at}: missing required {name}"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, value) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, value, &format!("{at}.{k}"), errors),
                None => match &schema["additionalProperties"] {
                    s @ Value::Object(_) => validate(s, value, &format!("{at}.{k}"), errors),
                    Value::Bool(true) => {}
                    _ if props.is_none() && schema["anyOf"].is_array() => {}
                    _ => errors.push(format!("{at}: unknown field {k}")),
                },
            }
        }
    }
}
