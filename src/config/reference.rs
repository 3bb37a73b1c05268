//! The configuration reference (docs/configuration.md), generated from the JSON Schema of
//! services.yaml so the two cannot drift apart. Pure: schema in, Markdown out.

use serde_json::{Map, Value};

/// Markdown describing every key of services.yaml: one table for the top level, one for
/// each kind of mapping (with the paths it is found at), then the value types.
pub fn markdown(schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema["$defs"].as_object().unwrap_or(&empty);
    let mut out = String::new();
    out.push_str("# services.yaml reference\n\n");
    out.push_str(
        "<!-- Generated from the JSON Schema (schema/services.schema.json, `agentpods schema`)\n     \
         by src/config/reference.rs; do not edit. tests/it/docs_sync.rs says how to regenerate. -->\n\n",
    );
    if let Some(d) = schema["description"].as_str() {
        out.push_str(&format!("{}\n\n", one_line(d)));
    }
    out.push_str(
        "Unknown keys are errors, and every error names its file, line and column \
         (`agentpods validate`). A key marked *required* has no default.\n\n",
    );

    // The mappings, in the order a reader meets them, each with the paths that lead there.
    let mut order: Vec<String> = Vec::new();
    let mut paths: Vec<Vec<String>> = Vec::new();
    collect(schema, "", defs, &mut order, &mut paths);

    out.push_str("## Top level\n\n");
    table(&mut out, schema, defs);
    for (name, at) in order.iter().zip(&paths) {
        let def = &defs[name.as_str()];
        out.push_str(&format!("## {name}\n\n"));
        let at: Vec<String> = at.iter().map(|p| format!("`{p}`")).collect();
        out.push_str(&format!("At {}.", at.join(", ")));
        if let Some(d) = def["description"].as_str() {
            out.push_str(&format!(" {}", one_line(d)));
        }
        out.push_str("\n\n");
        table(&mut out, def, defs);
    }

    out.push_str("## Value types\n\n");
    for (name, def) in defs {
        if def.get("properties").is_some() || def.get("enum").is_some() {
            continue;
        }
        let what = def["description"].as_str().map_or_else(
            || type_of(def, defs),
            |d| {
                let d = one_line(d);
                let mut chars = d.chars();
                chars.next().map_or(String::new(), |c| {
                    c.to_uppercase().collect::<String>() + chars.as_str()
                })
            },
        );
        out.push_str(&format!("### {name}\n\n{what}.\n\n"));
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The definition a `$ref` names.
fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"].as_str()?.strip_prefix("#/$defs/")
}

/// The schemas a value may take, without `null`.
fn variants(schema: &Value) -> Vec<&Value> {
    match schema["anyOf"].as_array() {
        Some(any) => any.iter().filter(|v| v["type"] != "null").collect(),
        None => vec![schema],
    }
}

/// Finds the mapping definitions below `schema`, depth first, with the paths to them.
fn collect(
    schema: &Value,
    path: &str,
    defs: &Map<String, Value>,
    order: &mut Vec<String>,
    paths: &mut Vec<Vec<String>>,
) {
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    for (key, property) in properties {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        for variant in variants(property) {
            let (inner, at) = if variant["type"] == "array" {
                (&variant["items"], format!("{here}[]"))
            } else if variant["additionalProperties"].is_object() {
                (&variant["additionalProperties"], format!("{here}.<name>"))
            } else {
                (variant, here.clone())
            };
            let Some(name) = ref_name(inner) else {
                continue;
            };
            // A value that is a word or a mapping (`none`, or permissions): its mapping.
            let name = if defs[name].get("properties").is_some() {
                name
            } else {
                match variants(&defs[name])
                    .into_iter()
                    .filter_map(ref_name)
                    .find(|n| defs[*n].get("properties").is_some())
                {
                    Some(n) => n,
                    None => continue,
                }
            };
            let def = &defs[name];
            match order.iter().position(|n| n == name) {
                Some(i) => paths[i].push(at.clone()),
                None => {
                    order.push(name.to_string());
                    paths.push(vec![at.clone()]);
                }
            }
            // Every path to a mapping is listed; a schema that nests itself stops here.
            if at.matches('.').count() < 12 {
                collect(def, &at, defs, order, paths);
            }
        }
    }
}

/// A JSON value as a YAML flow value, as services.yaml would write it:
/// `{ requests: { cpu: 500m } }`.
fn yaml_flow(value: &Value) -> String {
    match value {
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k}: {}", yaml_flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(yaml_flow).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) if s.parse::<f64>().is_ok() => format!("\"{s}\""),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One row a key: name, type, default (or *required*), description.
fn table(out: &mut String, schema: &Value, defs: &Map<String, Value>) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| Key | Type | Default | Description |\n|---|---|---|---|\n");
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        let default = if required.contains(&key.as_str()) {
            "*required*".to_string()
        } else {
            match property.get("default") {
                None | Some(Value::Null) => "—".to_string(),
                // A mapping's default is that of each of its keys, in its own table; unless
                // it sets keys to something else (`cluster.defaults.resources`), written out.
                Some(Value::Object(m))
                    if !m.is_empty()
                        && ref_name(property).is_some_and(|n| {
                            defs[n].get("properties").is_some_and(|keys| {
                                m.iter().all(|(k, v)| {
                                    keys.get(k).and_then(|p| p.get("default")) == Some(v)
                                })
                            })
                        }) =>
                {
                    "its keys' defaults".to_string()
                }
                Some(Value::Object(m))
                    if !m.is_empty()
                        && ref_name(property)
                            .is_some_and(|n| defs[n].get("properties").is_some()) =>
                {
                    format!("`{}`", yaml_flow(&Value::Object(m.clone())))
                }
                Some(v) => format!("`{v}`"),
            }
        };
        let description = property["description"]
            .as_str()
            .or_else(|| ref_name(property).and_then(|n| defs[n]["description"].as_str()))
            .map(one_line)
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{key}` | {} | {} | {} |\n",
            cell(&type_of(property, defs)),
            cell(&default),
            cell(&description)
        ));
    }
    out.push('\n');
}

/// A type as a reader says it: `string`, `list of [Verb](#verb)`, `one of …`.
fn type_of(schema: &Value, defs: &Map<String, Value>) -> String {
    if let Some(name) = ref_name(schema) {
        let def = &defs[name];
        if def.get("enum").is_some() {
            return type_of(def, defs);
        }
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(any) = schema["anyOf"].as_array() {
        let shown: Vec<String> = any
            .iter()
            .filter(|v| v["type"] != "null")
            .map(|v| type_of(v, defs))
            .collect();
        return shown.join(" or ");
    }
    if let Some(values) = schema["enum"].as_array() {
        let shown: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| {
                format!(
                    "`{}`",
                    v.as_str().map_or_else(|| v.to_string(), String::from)
                )
            })
            .collect();
        return format!("one of {}", shown.join(", "));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    match types.as_slice() {
        ["array"] => format!("list of {}", type_of(&schema["items"], defs)),
        ["object"] if schema["additionalProperties"].is_object() => {
            let key = if schema["propertyNames"].is_object() {
                type_of(&schema["propertyNames"], defs)
            } else {
                "name".to_string()
            };
            format!(
                "map of {key} to {}",
                type_of(&schema["additionalProperties"], defs)
            )
        }
        [] => "any".to_string(),
        ts => ts.join(" or "),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text that is safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mapping_default_that_sets_its_keys_is_written_out() {
        let reference = markdown(crate::config::json_schema());
        assert!(
            reference.contains(
                "| `resources` | [Resources](#resources) | `{ limits: { cpu: \"2\", memory: 4Gi }, requests: { cpu: 500m, memory: 1Gi } }` |"
            ),
            "{reference}"
        );
    }

    #[test]
    fn a_small_schema_reads_as_tables_with_paths_types_and_defaults() {
        let schema = json!({
            "description": "The root.",
            "required": ["name"],
            "properties": {
                "name": {"$ref": "#/$defs/Label", "description": "Its name."},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "default": []},
            },
            "$defs": {
                "Label": {"type": "string", "description": "a label"},
                "Mode": {"enum": ["a", "b"], "type": "string"},
                "Item": {
                    "description": "One item.",
                    "properties": {
                        "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}], "default": null},
                        "tags": {"type": "object", "additionalProperties": {"type": "string"}, "description": "a | b"}
                    }
                }
            }
        });
        let md = markdown(&schema);
        assert!(
            md.contains("| `name` | [Label](#label) | *required* | Its name. |"),
            "{md}"
        );
        assert!(
            md.contains("| `items` | list of [Item](#item) | `[]` |"),
            "{md}"
        );
        assert!(md.contains("## Item\n\nAt `items[]`. One item."), "{md}");
        assert!(md.contains("| `mode` | one of `a`, `b` | — |"), "{md}");
        assert!(
            md.contains("| `tags` | map of name to string | — | a \\| b |"),
            "{md}"
        );
        assert!(md.contains("### Label\n\nA label."), "{md}");
        assert!(!md.contains("### Mode"), "enums are spelled out where used");
    }
}
