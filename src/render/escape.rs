//! Auto-escaping for YAML templates: every value printed by `{{ … }}` becomes one YAML
//! scalar or flow collection whose strings are double-quoted with every character that
//! could end the scalar, break a line or be folded escaped. Nothing from GitHub can add a
//! key, start a document or change a type.

use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Error, Output, State, Value};

pub const YAML: &str = "yaml";

/// Which templates get YAML escaping: `.yaml` and `.yml` files.
pub fn auto_escape_for(name: &str) -> AutoEscape {
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        AutoEscape::Custom(YAML.into())
    } else {
        AutoEscape::None
    }
}

/// Whether the template being rendered is quoted for YAML.
pub fn is_yaml(state: &State) -> bool {
    matches!(state.auto_escape(), AutoEscape::Custom(name) if name == YAML)
}

pub fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    match state.auto_escape() {
        AutoEscape::Custom(name) if name == YAML && !value.is_safe() => {
            if super::shape::capture(value, out) {
                return Ok(());
            }
            let mut buf = String::new();
            write_yaml(&mut buf, value);
            out.write_str(&buf).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Writes a value as a YAML flow node.
pub fn write_yaml(buf: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => buf.push_str("null"),
        ValueKind::Bool => buf.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => match (i64::try_from(value.clone()), f64::try_from(value.clone())) {
            (Ok(i), _) => {
                let _ = write!(buf, "{i}");
            }
            (_, Ok(f)) if f.is_finite() => {
                let _ = write!(buf, "{f:?}");
            }
            _ => quote_into(buf, &value.to_string()),
        },
        ValueKind::String => quote_into(buf, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            buf.push('[');
            if let Ok(iter) = value.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        buf.push_str(", ");
                    }
                    write_yaml(buf, &item);
                }
            }
            buf.push(']');
        }
        ValueKind::Map => {
            buf.push('{');
            if let Ok(keys) = value.try_iter() {
                for (i, key) in keys.enumerate() {
                    if i > 0 {
                        buf.push_str(", ");
                    }
                    let item = value.get_item(&key).unwrap_or_default();
                    quote_into(buf, &key.to_string());
                    buf.push_str(": ");
                    write_yaml(buf, &item);
                }
            }
            buf.push('}');
        }
        _ => quote_into(buf, &value.to_string()),
    }
}

/// The value `write_yaml` prints, as YAML would read it back: the same rules, without the
/// text in between.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => J::Null,
        ValueKind::Bool => J::Bool(value.is_true()),
        ValueKind::Number => match (i64::try_from(value.clone()), f64::try_from(value.clone())) {
            (Ok(i), _) => J::from(i),
            (_, Ok(f)) if f.is_finite() => {
                serde_json::Number::from_f64(f).map_or(J::Null, J::Number)
            }
            _ => J::String(value.to_string()),
        },
        ValueKind::String => J::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => J::Array(
            value
                .try_iter()
                .map(|iter| iter.map(|item| value_to_json(&item)).collect())
                .unwrap_or_default(),
        ),
        ValueKind::Map => J::Object(
            value
                .try_iter()
                .map(|keys| {
                    keys.map(|key| {
                        let item = value.get_item(&key).unwrap_or_default();
                        (key.to_string(), value_to_json(&item))
                    })
                    .collect()
                })
                .unwrap_or_default(),
        ),
        _ => J::String(value.to_string()),
    }
}

/// `s` as a YAML double-quoted scalar that reads back as exactly `s`.
pub fn quote(s: &str) -> String {
    let mut buf = String::with_capacity(s.len() + 2);
    quote_into(&mut buf, s);
    buf
}

fn quote_into(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\t' => buf.push_str("\\t"),
            '\r' => buf.push_str("\\r"),
            // Controls, DEL, C1 controls (NEL among them), line/paragraph separators, the
            // byte-order mark and the non-characters YAML does not allow as they are.
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                let _ = write!(buf, "\\u{:04X}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_read_back_verbatim() {
        for s in [
            "plain",
            "a: b\n- c",
            "\"quoted\" \\ back",
            "\u{85}\u{2028}nel",
            "tab\there",
            "# not a comment",
            "---",
            "{{x}}",
            "\u{feff}bom",
            "\u{7f}",
        ] {
            let yaml = format!("k: {}\n", quote(s));
            let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(v["k"].as_str(), Some(s), "{yaml}");
        }
    }

    #[test]
    fn collections_are_flow_yaml() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, "x: y", true, null]}),
        ));
        let mut buf = String::new();
        write_yaml(&mut buf, &v);
        assert_eq!(buf, r#"{"a": [1, "x: y", true, null]}"#);
    }
}
