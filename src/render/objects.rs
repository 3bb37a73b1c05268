//! Rendered YAML → typed Kubernetes objects. An unknown field or a wrong type is an error
//! that names the template, the document and the field.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RenderError;

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
    use serde::Deserialize;
    let mut out = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| RenderError::Yaml {
            template: template.to_string(),
            message: yaml_message(&e),
        })?;
        if value.is_null() {
            continue;
        }
        let at = Location {
            template,
            document: index + 1,
        };
        let field = |name: &str| {
            value
                .get(name)
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_string)
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        let object = match (api_version.as_deref(), kind.as_deref()) {
            (Some("v1"), Some("Pod")) => K8sObject::Pod(Box::new(typed(value, &at)?)),
            (Some("batch/v1"), Some("Job")) => K8sObject::Job(Box::new(typed(value, &at)?)),
            (Some("v1"), Some("ConfigMap")) => K8sObject::ConfigMap(typed(value, &at)?),
            (Some("v1"), Some("Secret")) => K8sObject::Secret(typed(value, &at)?),
            (Some("v1"), Some("ServiceAccount")) => K8sObject::ServiceAccount(typed(value, &at)?),
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
        out.push(object);
    }
    Ok(out)
}

struct Location<'a> {
    template: &'a str,
    document: usize,
}

impl Location<'_> {
    fn error(&self, field: &str, message: String) -> RenderError {
        RenderError::Object {
            template: self.template.to_string(),
            document: self.document,
            field: field.to_string(),
            message,
        }
    }
}

fn typed<T: DeserializeOwned>(
    value: serde_yaml::Value,
    at: &Location<'_>,
) -> Result<T, RenderError> {
    let mut unknown: Vec<String> = Vec::new();
    let result = {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize::<_, T>(de)
    };
    let object = result.map_err(|e| {
        let path = e.path().to_string();
        at.error(if path == "." { "" } else { &path }, e.inner().to_string())
    })?;
    if let Some(first) = unknown.first() {
        let message = if unknown.len() == 1 {
            "unknown field".to_string()
        } else {
            format!(
                "unknown field (and {} more: {})",
                unknown.len() - 1,
                unknown[1..].join(", ")
            )
        };
        return Err(at.error(first, message));
    }
    Ok(object)
}

fn yaml_message(e: &serde_yaml::Error) -> String {
    let hint = "; note that `{{ … }}` in a YAML template prints a complete quoted value, so do not put it inside quotes";
    match e.location() {
        Some(l) => format!("line {} column {}: {e}{hint}", l.line(), l.column()),
        None => format!("{e}{hint}"),
    }
}
