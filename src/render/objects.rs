//! Rendered YAML → typed Kubernetes objects. An unknown field or a wrong type is an error
//! that names the template, the document and the field.

use std::cell::Cell;
use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RenderError;
use super::known_fields::{self, Step};

/// The kinds a run's templates may create.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum K8sObject {
    Pod(Box<Pod>),
    Job(Box<Job>),
    ConfigMap(ConfigMap),
    Secret(Secret),
    ServiceAccount(ServiceAccount),
}

pub const SUPPORTED: &str = "v1 Pod, batch/v1 Job, v1 ConfigMap, v1 Secret, v1 ServiceAccount";

impl K8sObject {
    pub fn kind(&self) -> &'static str {
        match self {
            K8sObject::Pod(_) => "Pod",
            K8sObject::Job(_) => "Job",
            K8sObject::ConfigMap(_) => "ConfigMap",
            K8sObject::Secret(_) => "Secret",
            K8sObject::ServiceAccount(_) => "ServiceAccount",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            K8sObject::Pod(o) => &o.metadata,
            K8sObject::Job(o) => &o.metadata,
            K8sObject::ConfigMap(o) => &o.metadata,
            K8sObject::Secret(o) => &o.metadata,
            K8sObject::ServiceAccount(o) => &o.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            K8sObject::Pod(o) => &mut o.metadata,
            K8sObject::Job(o) => &mut o.metadata,
            K8sObject::ConfigMap(o) => &mut o.metadata,
            K8sObject::Secret(o) => &mut o.metadata,
            K8sObject::ServiceAccount(o) => &mut o.metadata,
        }
    }

    /// Tells the containers that run `agentpods agent` which of their variables and files
    /// are secrets, so that it can redact them (see `crate::agent_pod::declare`).
    pub fn declare_secrets(&mut self) {
        let spec = match self {
            K8sObject::Pod(pod) => pod.spec.as_mut(),
            K8sObject::Job(job) => job.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
            _ => None,
        };
        if let Some(spec) = spec {
            crate::agent_pod::declare(spec);
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// Adds labels (ours win over a template's) and, for Pods and Jobs, to the pod template.
    pub fn add_labels(&mut self, labels: &BTreeMap<String, String>) {
        let extend = |meta: &mut ObjectMeta| {
            meta.labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        };
        extend(self.metadata_mut());
        if let K8sObject::Job(job) = self
            && let Some(spec) = job.spec.as_mut()
        {
            extend(
                spec.template
                    .metadata
                    .get_or_insert_with(ObjectMeta::default),
            );
        }
    }
}

/// Parses every document of a rendered template.
pub fn parse_documents(template: &str, text: &str) -> Result<Vec<K8sObject>, RenderError> {
    let mut out = Vec::new();
    for (index, document) in yaml_documents(template, text)?.into_iter().enumerate() {
        let at = Location {
            template,
            document: index + 1,
        };
        if let Some(object) = from_json(&document, &at)? {
            out.push(object);
        }
    }
    Ok(out)
}

/// The documents of a YAML text as JSON values (Kubernetes objects are JSON).
pub(crate) fn yaml_documents(
    template: &str,
    text: &str,
) -> Result<Vec<serde_json::Value>, RenderError> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            serde_path_to_error::deserialize::<_, Unique>(document)
                .map(|unique| unique.0)
                .map_err(|e| RenderError::Yaml {
                    template: template.to_string(),
                    message: match e.inner().to_string() {
                        m if m.contains(DUPLICATE) => {
                            // serde_yaml's message is `PATH: MESSAGE at line L column C`.
                            let m = &m[m.find(DUPLICATE).unwrap_or(0)..];
                            let m = m.split(" at line ").next().unwrap_or(m);
                            let at = e
                                .inner()
                                .location()
                                .map(|l| format!("line {} column {}: ", l.line(), l.column()))
                                .unwrap_or_default();
                            let path = e.path().to_string();
                            let within = if path == "." {
                                "the document".to_string()
                            } else {
                                format!("`{path}`")
                            };
                            format!(
                                "{at}{m} in the mapping at {within}: YAML would keep only the last \
                                 one, so this is refused (a value from the event may have ended \
                                 a quoted string; print values as `key: {{{{ value }}}}`)"
                            )
                        }
                        _ => yaml_message(e.inner(), text),
                    },
                })
        })
        .collect()
}

const DUPLICATE: &str = "the key `";

/// A document as JSON, refusing a mapping that holds a key twice: YAML parsers keep the
/// last one silently, so a value that ended a string early could replace an earlier key
/// (a container's `command`, say). Otherwise the same value `serde_json::Value` reads.
struct Unique(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|Unique(v)| v)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "{DUPLICATE}{}` appears twice",
                    crate::config::formats::shorten(&key).escape_debug()
                )));
            }
            let Unique(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(serde_json::Value::Object(out))
    }
}

/// A typed object from one document; `None` for an empty document.
pub(crate) fn from_json(
    value: &serde_json::Value,
    at: &Location<'_>,
) -> Result<Option<K8sObject>, RenderError> {
    from_document(value, at, || value, None)
}

/// A typed object from a document read through `read` (a deserializer over `head`, or over
/// `head` with values filled in); `head` gives its apiVersion and kind. When the reader
/// counts ignored fields in `ignored`, a clean first read is taken as it is; otherwise,
/// or when it finds a problem, the careful read names the field.
pub(crate) fn from_document<'de, D>(
    head: &serde_json::Value,
    at: &Location<'_>,
    read: impl Fn() -> D,
    ignored: Option<&Cell<u32>>,
) -> Result<Option<K8sObject>, RenderError>
where
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    let value = head;
    if value.is_null() {
        return Ok(None);
    }
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    let object = match (field("apiVersion"), field("kind")) {
        (Some("v1"), Some("Pod")) => K8sObject::Pod(Box::new(typed(&read, ignored, at)?)),
        (Some("batch/v1"), Some("Job")) => K8sObject::Job(Box::new(typed(&read, ignored, at)?)),
        (Some("v1"), Some("ConfigMap")) => K8sObject::ConfigMap(typed(&read, ignored, at)?),
        (Some("v1"), Some("Secret")) => K8sObject::Secret(typed(&read, ignored, at)?),
        (Some("v1"), Some("ServiceAccount")) => {
            K8sObject::ServiceAccount(typed(&read, ignored, at)?)
        }
        (api_version, kind) => {
            return Err(at.error(
                "",
                format!(
                    "unsupported object {} {} (supported: {SUPPORTED})",
                    api_version.unwrap_or("<no apiVersion>"),
                    kind.unwrap_or("<no kind>")
                ),
            ));
        }
    };
    if object.name().is_empty() {
        return Err(at.error("metadata.name", "every object needs a name".into()));
    }
    let mut metas = vec![("metadata", object.metadata())];
    if let K8sObject::Job(job) = &object
        && let Some(meta) = job.spec.as_ref().and_then(|s| s.template.metadata.as_ref())
    {
        metas.push(("spec.template.metadata", meta));
    }
    for (at_field, meta) in metas {
        if let Some((field, message)) = metadata_problem(at_field, meta) {
            return Err(at.error(&field, message));
        }
    }
    Ok(Some(object))
}

/// Most bytes the annotations of one object may hold, keys and values (the API server's
/// limit).
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// What the API server would refuse in an object's metadata: a name that is not a DNS
/// subdomain, a label or annotation key that is not a qualified name, a label value that
/// is not one (at most 63 characters of `[A-Za-z0-9._-]`), annotations over 256 KiB. So
/// a template that puts a branch name into a label fails at render (and at `validate`,
/// whose samples have such a branch), not at the API server after the delivery was taken.
fn metadata_problem(at: &str, meta: &ObjectMeta) -> Option<(String, String)> {
    if let Some(name) = meta.name.as_deref()
        && let Some(why) = subdomain_problem(name)
    {
        return Some((
            format!("{at}.name"),
            format!(
                "the name `{}` {why}, which the API server refuses; make it one with \
                 `| dns_label`",
                crate::text::clip(name, 60)
            ),
        ));
    }
    for (key, value) in meta.labels.iter().flatten() {
        if let Some(why) = qualified_name_problem(key) {
            return Some((
                format!("{at}.labels.{key}"),
                format!("the label key `{}` {why}", crate::text::clip(key, 60)),
            ));
        }
        if let Some(why) = (!value.is_empty())
            .then(|| name_part_problem(value))
            .flatten()
        {
            return Some((
                format!("{at}.labels.{key}"),
                format!(
                    "the label value `{}` {why}, which the API server refuses (a label value \
                     is at most 63 letters, digits, `-`, `_` and `.`, beginning and ending \
                     with a letter or digit); make it one with `| label_value` over the whole \
                     value (`{{{{ (\"team-\" ~ repo.name) | label_value }}}}`: it cuts one past \
                     63 characters, with a hash that keeps values apart)",
                    crate::text::clip(value, 60)
                ),
            ));
        }
    }
    let mut bytes = 0;
    for (key, value) in meta.annotations.iter().flatten() {
        if let Some(why) = qualified_name_problem(key) {
            return Some((
                format!("{at}.annotations.{key}"),
                format!("the annotation key `{}` {why}", crate::text::clip(key, 60)),
            ));
        }
        bytes += key.len() + value.len();
    }
    if bytes > MAX_ANNOTATION_BYTES {
        return Some((
            format!("{at}.annotations"),
            format!(
                "the annotations hold {bytes} bytes; the API server takes at most \
                 {MAX_ANNOTATION_BYTES}"
            ),
        ));
    }
    None
}

/// Why `s` is not a name part of a label key, or a label value (when not empty).
fn name_part_problem(s: &str) -> Option<String> {
    short_name_problem(
        s,
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        "",
    )
}

/// Why `s` is not a DNS label ([`crate::text::is_dns_label`]: lowercase letters, digits and
/// `-`, beginning and ending with a letter or digit, at most 63 characters), as a namespace
/// must be; `None` when it is one.
pub(super) fn dns_label_problem(s: &str) -> Option<String> {
    short_name_problem(
        s,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        " (a DNS label is lowercase letters, digits and `-`)",
    )
}

/// Why `s` is not at most 63 characters that `allowed` takes, beginning and ending with a
/// letter or digit; `alphabet` says in words which it takes, after a character it refuses.
fn short_name_problem(s: &str, allowed: fn(char) -> bool, alphabet: &str) -> Option<String> {
    let chars = s.chars().count();
    if chars > 63 {
        return Some(format!("has {chars} characters (at most 63)"));
    }
    if s.is_empty() {
        return Some("is empty".into());
    }
    if let Some(c) = s.chars().find(|&c| !allowed(c)) {
        return Some(format!("holds {c:?}{alphabet}"));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(s.chars().next()) || !alnum(s.chars().last()) {
        return Some("does not begin and end with a letter or digit".into());
    }
    None
}

/// Why `s` is not a DNS subdomain ([`crate::text::is_dns_subdomain`]: lowercase letters, digits, `-` and `.`, beginning and
/// ending with a letter or digit, at most 253 characters).
fn subdomain_problem(s: &str) -> Option<String> {
    let chars = s.chars().count();
    if chars > 253 {
        return Some(format!("has {chars} characters (at most 253)"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
    {
        return Some(format!(
            "holds {c:?} (a name is lowercase letters, digits, `-` and `.`)"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(s.chars().next()) || !alnum(s.chars().last()) {
        return Some("does not begin and end with a letter or digit".into());
    }
    if !crate::text::is_dns_subdomain(s) {
        return Some(
            "has a part between dots that is empty, longer than 63 characters, or does not begin \
             and end with a letter or digit"
                .into(),
        );
    }
    None
}

/// Why `key` is not a label or annotation key: an optional DNS subdomain prefix and `/`,
/// then a name part.
fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(why) = prefix.and_then(|p| {
        if p.is_empty() {
            Some("is empty".to_string())
        } else {
            subdomain_problem(p)
        }
    }) {
        return Some(format!("has a prefix that {why}"));
    }
    name_part_problem(name).map(|why| format!("has a name that {why}"))
}

pub(crate) struct Location<'a> {
    pub template: &'a str,
    pub document: usize,
}

impl Location<'_> {
    fn error(&self, field: &str, message: String) -> RenderError {
        RenderError::Object {
            template: self.template.to_string(),
            document: self.document,
            field: field.to_string(),
            // serde's `expected i64` in words (review 13i, F12).
            message: crate::text::serde_words(&message),
        }
    }
}

/// Deserializes into a k8s-openapi type. Those ignore unknown fields, so serde_ignored
/// reports them, each with the nearest field the type has there (`known_fields`); the
/// field path of a type error is found by a second, slower pass.
fn typed<'de, T, D>(
    read: &impl Fn() -> D,
    ignored: Option<&Cell<u32>>,
    at: &Location<'_>,
) -> Result<T, RenderError>
where
    T: DeserializeOwned + JsonSchema,
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    if let Some(ignored) = ignored {
        ignored.set(0);
        if let Ok(object) = T::deserialize(read())
            && ignored.get() == 0
        {
            return Ok(object);
        }
    }
    let mut unknown: Vec<(String, Vec<Step>)> = Vec::new();
    let result = {
        let mut record = |path: serde_ignored::Path<'_>| {
            let mut steps = Vec::new();
            field_steps(&path, &mut steps);
            unknown.push((known_fields::shown(&steps), steps));
        };
        T::deserialize(serde_ignored::Deserializer::new(read(), &mut record))
    };
    let object = match result {
        Ok(object) => object,
        Err(plain) => {
            return Err(match serde_path_to_error::deserialize::<_, T>(read()) {
                Err(e) => {
                    let path = e.path().to_string();
                    at.error(if path == "." { "" } else { &path }, e.inner().to_string())
                }
                Ok(_) => at.error("", plain.to_string()),
            });
        }
    };
    if let Some((first, steps)) = unknown.first() {
        let near = known_fields::nearest::<T>;
        let mut message = "unknown field".to_string();
        if let Some(near) = near(steps) {
            message.push_str(&format!(", did you mean `{near}`?"));
        }
        if unknown.len() > 1 {
            let more: Vec<String> = unknown[1..]
                .iter()
                .map(|(path, steps)| match near(steps) {
                    Some(near) => format!("{path} (did you mean `{near}`?)"),
                    None => path.clone(),
                })
                .collect();
            message.push_str(&format!(" (and {} more: {})", more.len(), more.join(", ")));
        }
        return Err(at.error(first, message));
    }
    Ok(object)
}

/// The steps of a path serde_ignored reports, root first.
fn field_steps(path: &serde_ignored::Path<'_>, steps: &mut Vec<Step>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            field_steps(parent, steps);
            steps.push(Step::Item(*index));
        }
        Path::Map { parent, key } => {
            field_steps(parent, steps);
            steps.push(Step::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_steps(parent, steps),
    }
}

/// serde_yaml's message at its line and column, with the hint about `{{ … }}` put inside
/// quotes only where the output near it shows one (two quotes together): elsewhere it is
/// unrelated (new-user review 13c, N7).
fn yaml_message(e: &serde_yaml::Error, text: &str) -> String {
    let Some(l) = e.location() else {
        return e.to_string();
    };
    let quoted = text
        .lines()
        .skip(l.line().saturating_sub(2))
        .take(2)
        .any(|line| {
            ["\"\"", "''", "\"'", "'\""]
                .iter()
                .any(|q| line.contains(q))
        });
    let hint = if quoted {
        "; note that `{{ … }}` in a YAML template prints a complete quoted value, so do not put it inside quotes"
    } else {
        ""
    };
    format!("line {} column {}: {e}{hint}", l.line(), l.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> String {
        match yaml_documents("t.yaml", text) {
            Err(RenderError::Yaml { message, .. }) => message,
            other => panic!("{text:?} parsed: {other:?}"),
        }
    }

    /// The reason is given exactly when the text is not a DNS label, and names the length
    /// and the limit when it is too long.
    #[test]
    fn a_dns_label_problem_is_said_exactly_when_it_is_not_one() {
        let long = "a".repeat(64);
        for s in [
            "runs",
            "runs-1",
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "ü",
            &long,
            &long[1..],
        ] {
            assert_eq!(
                dns_label_problem(s).is_none(),
                crate::text::is_dns_label(s),
                "{s:?}: {:?}",
                dns_label_problem(s)
            );
        }
        assert_eq!(
            dns_label_problem(&long).as_deref(),
            Some("has 64 characters (at most 63)")
        );
    }

    #[test]
    fn the_quote_hint_comes_only_where_the_output_shows_quotes_together() {
        let unrelated = message("a:\n  - x\n  -\"y\"\n  - z\n");
        assert!(!unrelated.contains("inside quotes"), "{unrelated}");
        let quoted = message("a: \"\"y\"\"\n");
        assert!(quoted.contains("do not put it inside quotes"), "{quoted}");
    }
}
