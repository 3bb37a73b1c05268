//! The field names a Kubernetes type has at a place in an object, read from the JSON
//! Schema k8s-openapi gives each type: k8s-openapi's types skip an unknown field without
//! naming the ones they know, so the "did you mean …?" of a misspelt Pod field
//! (`restartPolcy`) comes from here (review 13i, F2).

use schemars::JsonSchema;
use serde_json::Value as Json;

/// One step of a field's path in an object: a key of a mapping or an item of a list.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Key(String),
    Item(usize),
}

/// `spec.containers[0].image` for the steps of a path.
pub(super) fn shown(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Item(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// At most this many steps are followed (a Pod's deepest fields are about a dozen in).
const MAX_DEPTH: usize = 32;

/// At most this many `$ref`s are followed in one step (a reference to a reference).
const MAX_REFS: usize = 8;

/// The field of `T` nearest to the last key of `path`, where `path` leads to a field `T`
/// does not have there: `restartPolicy` for `spec.restartPolcy` of a Pod. None when the
/// place is not an object of known fields or no field is near enough.
pub(super) fn nearest<T: JsonSchema>(path: &[Step]) -> Option<String> {
    let (Step::Key(wrong), parent) = path.split_last()? else {
        return None;
    };
    let root = root_schema::<T>();
    let known = fields_at(&root, parent)?;
    crate::suggest::did_you_mean(wrong, known.iter().map(String::as_str))
        .filter(|near| near != wrong)
        .map(str::to_string)
}

/// `T`'s schema with the schemas it refers to under `$defs`, as JSON.
fn root_schema<T: JsonSchema>() -> Json {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    serde_json::to_value(schema).unwrap_or_default()
}

/// The field names of the object `path` leads to from the root of `root`.
fn fields_at(root: &Json, path: &[Step]) -> Option<Vec<String>> {
    if path.len() > MAX_DEPTH {
        return None;
    }
    let mut here = resolve(root, root)?;
    for step in path {
        let next = match step {
            Step::Key(key) => here
                .get("properties")
                .and_then(|p| p.get(key))
                .or_else(|| here.get("additionalProperties").filter(|a| a.is_object())),
            Step::Item(_) => here.get("items"),
        }?;
        here = resolve(root, next)?;
    }
    let properties = here.get("properties")?.as_object()?;
    Some(properties.keys().cloned().collect())
}

/// `schema`, or the schema its `$ref` names (in `root`), followed a few times at most.
fn resolve<'a>(root: &'a Json, schema: &'a Json) -> Option<&'a Json> {
    let mut here = schema;
    for _ in 0..MAX_REFS {
        match here.get("$ref").and_then(Json::as_str) {
            Some(reference) => here = root.pointer(reference.strip_prefix('#')?)?,
            None => return Some(here),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};

    fn path(text: &str) -> Vec<Step> {
        text.split('.')
            .flat_map(|part| match part.strip_suffix("[]") {
                Some(key) => vec![Step::Key(key.into()), Step::Item(0)],
                None => vec![Step::Key(part.into())],
            })
            .collect()
    }

    #[test]
    fn a_misspelt_field_is_matched_with_the_field_of_its_type_at_that_place() {
        let near = |p: &str| nearest::<Pod>(&path(p));
        assert_eq!(near("spec.restartPolcy").as_deref(), Some("restartPolicy"));
        assert_eq!(
            near("spec.containers[].imagePullPolicyy").as_deref(),
            Some("imagePullPolicy")
        );
        assert_eq!(
            near("spec.containers[].securityContext.runAsNonroot").as_deref(),
            Some("runAsNonRoot")
        );
        assert_eq!(near("metadata.nmae").as_deref(), Some("name"));
        assert_eq!(near("spce").as_deref(), Some("spec"));
        assert_eq!(
            nearest::<Job>(&path("spec.template.spec.restartPolcy")).as_deref(),
            Some("restartPolicy")
        );
        assert_eq!(nearest::<ConfigMap>(&path("dtaa")).as_deref(), Some("data"));
    }

    #[test]
    fn nothing_is_suggested_far_from_every_field_or_where_no_fields_are_known() {
        let near = |p: &str| nearest::<Pod>(&path(p));
        assert_eq!(near("spec.zzzzzzzz"), None);
        // Labels are a map: any key is one, and a key below a label value is no field.
        assert_eq!(near("metadata.labels.app.nmae"), None);
        assert_eq!(near("spec.nosuch.restartPolcy"), None);
        assert_eq!(nearest::<Pod>(&[]), None);
        assert_eq!(nearest::<Pod>(&[Step::Item(0)]), None);
    }
}
