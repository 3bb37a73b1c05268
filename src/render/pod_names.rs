//! The images and Secrets the pods of a run name (a Pod's, or a Job's pod template's), and
//! what `validate` asks of them (new-user review, N1 and N8):
//!
//! - the same in every delivery: an image or a Secret chosen by the event's text is chosen
//!   by whoever writes the event. `validate` renders each sample delivery again with every
//!   text and number of the event changed, and compares; and compares the samples with one
//!   another, as `agentpods admission-policy` does (which refuses it too, in these words);
//! - every image well formed and pinned, as services.yaml's `images` are: an init
//!   container's, a sidecar's and a Job's as much as the agent's.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;

use crate::config::{FileDiagnostic, ImageCheck};

use super::{Engine, K8sObject, RenderError, sample};

/// Why an image or a Secret's name must not depend on the event, and what to write
/// instead: `validate`'s words and `admission-policy`'s.
pub const CHOSEN_BY_THE_EVENT: &str = "it depends on the event: an image or a Secret chosen \
     by the event's text is chosen by whoever writes the event (a title, a branch, a \
     comment), and an admission policy, which allows fixed names only, would refuse the runs \
     it was not sampled with; name it in services.yaml's `images` or `secrets` and write \
     `{{ images.NAME }}` (or `{{ agent.image }}`) or `{{ secrets.NAME.name }}`";

/// The parts of a template's context that come from the delivery: what its writer chose.
const FROM_THE_EVENT: [&str; 9] = [
    "repo", "sender", "pr", "issue", "comment", "push", "release", "checkout", "task",
];

/// What a name in a pod spec is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Image,
    Secret,
}

/// An image or a Secret's name in a pod spec: where it is, in words (`the Pod's container
/// `agent` `image``) and as the object's field (`spec.containers[0].image`), and the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodName {
    pub kind: NameKind,
    pub place: String,
    pub field: String,
    pub value: String,
}

/// The pod spec of a workload (a Pod's, a Job's template's) and the path to it.
pub fn pod_spec(object: &K8sObject) -> Option<(&PodSpec, &'static str)> {
    match object {
        K8sObject::Pod(pod) => Some((pod.spec.as_ref()?, "spec")),
        K8sObject::Job(job) => Some((
            job.spec.as_ref()?.template.spec.as_ref()?,
            "spec.template.spec",
        )),
        _ => None,
    }
}

/// Each image and Secret name the pod spec of `object` uses, but the run's token Secret
/// (`token`: the policy admits it by its name).
pub fn pod_names(object: &K8sObject, token: Option<&str>) -> Vec<PodName> {
    let Some((spec, at)) = pod_spec(object) else {
        return Vec::new();
    };
    let kind = object.kind();
    let mut out = Vec::new();
    let mut secret = |place: String, field: String, name: &str| {
        if Some(name) != token {
            out.push(PodName {
                kind: NameKind::Secret,
                place,
                field,
                value: name.to_string(),
            });
        }
    };
    let lists = [
        ("initContainers", spec.init_containers.as_deref()),
        ("containers", Some(spec.containers.as_slice())),
    ];
    let mut images = Vec::new();
    for (list, containers) in lists {
        for (i, c) in containers.into_iter().flatten().enumerate() {
            let container = format!("the {kind}'s container `{}`", c.name);
            let field = format!("{at}.{list}[{i}]");
            if let Some(image) = &c.image {
                images.push(PodName {
                    kind: NameKind::Image,
                    place: format!("{container} `image`"),
                    field: format!("{field}.image"),
                    value: image.clone(),
                });
            }
            for (j, var) in c.env.iter().flatten().enumerate() {
                let r = var
                    .value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref());
                if let Some(r) = r {
                    secret(
                        format!("{container} env `{}` `secretKeyRef.name`", var.name),
                        format!("{field}.env[{j}].valueFrom.secretKeyRef.name"),
                        &r.name,
                    );
                }
            }
            for (j, from) in c.env_from.iter().flatten().enumerate() {
                if let Some(r) = &from.secret_ref {
                    secret(
                        format!("{container} envFrom `secretRef.name`"),
                        format!("{field}.envFrom[{j}].secretRef.name"),
                        &r.name,
                    );
                }
            }
        }
    }
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let place = format!("the {kind}'s volume `{}`", volume.name);
        let field = format!("{at}.volumes[{i}]");
        if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.as_ref()) {
            secret(
                format!("{place} `secretName`"),
                format!("{field}.secret.secretName"),
                name,
            );
        }
        let sources = volume.projected.as_ref().and_then(|p| p.sources.as_ref());
        for (j, source) in sources.into_iter().flatten().enumerate() {
            if let Some(s) = &source.secret {
                secret(
                    format!("{place} projected `secret.name`"),
                    format!("{field}.projected.sources[{j}].secret.name"),
                    &s.name,
                );
            }
        }
    }
    for (i, r) in spec.image_pull_secrets.iter().flatten().enumerate() {
        secret(
            format!("the {kind}'s `imagePullSecrets`"),
            format!("{at}.imagePullSecrets[{i}].name"),
            &r.name,
        );
    }
    images.extend(out);
    images
}

/// A template's objects and their pod names, by template: one render of an agent's
/// templates.
type Named = Vec<(String, Vec<(usize, PodName)>)>;

/// The pod names of each rendered template, with the 1-based document each is in.
fn named(rendered: &[(String, Vec<K8sObject>)]) -> Named {
    rendered
        .iter()
        .map(|(template, objects)| {
            let names = objects
                .iter()
                .enumerate()
                .flat_map(|(i, o)| pod_names(o, None).into_iter().map(move |n| (i + 1, n)))
                .collect();
            (template.clone(), names)
        })
        .collect()
}

/// Where a pod name was first seen among an agent's sample deliveries: its name there, and
/// the sample's trigger in words.
pub(super) type FirstSeen = BTreeMap<String, (String, String)>;

impl Engine {
    /// The images and Secret names of a sample run that depend on the event (they differ
    /// when its texts do, or from another sample's), and the images the kubelet refuses;
    /// each an object error at its field. `rendered` gets the text of each template with
    /// one, for placing it.
    pub(super) fn pod_name_problems(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
        first_seen: &mut FirstSeen,
        rendered: &mut sample::Rendered,
    ) -> Vec<RenderError> {
        let value = self.sample_value(agent, s);
        let Some(objects) = self.objects_for(agent, &value) else {
            return Vec::new();
        };
        let changed = self
            .changed_event_value(agent, s)
            .and_then(|v| self.objects_for(agent, &v))
            .map(|o| named(&o))
            .unwrap_or_default();
        let configured: Vec<&str> = self.config.images.values().map(|i| i.as_str()).collect();
        let mut errors = Vec::new();
        for (template, names) in named(&objects) {
            let shown = format!("{}/{template}", self.templates_dir);
            let before = errors.len();
            let error = |document: usize, field: &str, message: String| RenderError::Object {
                template: shown.clone(),
                document,
                field: field.to_string(),
                message,
            };
            let again: Vec<&PodName> = changed
                .iter()
                .filter(|(t, _)| *t == template)
                .flat_map(|(_, n)| n.iter().map(|(_, n)| n))
                .collect();
            for (document, name) in &names {
                let other = again
                    .iter()
                    .find(|n| n.place == name.place && n.value != name.value)
                    .map(|n| (n.value.clone(), "a delivery whose texts differ".to_string()))
                    .or_else(|| {
                        let (value, trigger) = first_seen
                            .entry(name.place.clone())
                            .or_insert_with(|| (name.value.clone(), s.trigger.clone()));
                        (*value != name.value).then(|| {
                            let trigger = super::fields::without_hint(trigger);
                            (value.clone(), format!("a {trigger}"))
                        })
                    });
                if let Some((other, which)) = other {
                    errors.push(error(
                        *document,
                        &name.field,
                        format!(
                            "{} is `{}` for this delivery and `{}` for {which}: \
                             {CHOSEN_BY_THE_EVENT}",
                            name.place,
                            crate::text::clip(&name.value, 60),
                            crate::text::clip(&other, 60),
                        ),
                    ));
                    continue;
                }
                if name.kind == NameKind::Image
                    && !configured.contains(&name.value.as_str())
                    && let ImageCheck::Refused(why) = crate::config::check_image(&name.value)
                {
                    errors.push(error(
                        *document,
                        &name.field,
                        format!("{}: {why}", name.place),
                    ));
                }
            }
            if errors.len() > before
                && let Ok(text) = self.render_value(&template, &value)
            {
                rendered.insert(template.clone(), text);
            }
        }
        errors
    }

    /// Images the templates write that services.yaml's `images` do not name, and that pull
    /// whatever their tag is then (none, or `latest`): a warning each, at its template's
    /// line, for each agent's first sample delivery.
    pub fn image_warnings(&self) -> Vec<FileDiagnostic> {
        let configured: Vec<&str> = self.config.images.values().map(|i| i.as_str()).collect();
        let mut found: Vec<FileDiagnostic> = Vec::new();
        for agent in &self.config.agents {
            let Some(s) = sample::first(agent) else {
                continue;
            };
            let value = self.sample_value(agent, &s);
            let Some(objects) = self.objects_for(agent, &value) else {
                continue;
            };
            let Some(texts) = objects
                .iter()
                .map(|(t, _)| {
                    self.render_value(t, &value)
                        .ok()
                        .map(|text| (t.clone(), text))
                })
                .collect::<Option<sample::Rendered>>()
            else {
                continue;
            };
            for (template, names) in named(&objects) {
                for (document, name) in names {
                    if name.kind != NameKind::Image || configured.contains(&name.value.as_str()) {
                        continue;
                    }
                    let ImageCheck::Unpinned(warning) = crate::config::check_image(&name.value)
                    else {
                        continue;
                    };
                    let e = RenderError::Object {
                        template: format!("{}/{template}", self.templates_dir),
                        document,
                        field: name.field.clone(),
                        message: String::new(),
                    };
                    let (file, pos, _) = self.locate(&e, None, &texts);
                    let message = format!(
                        "{}{}",
                        warning.replacen("warning: ", &format!("warning: {}: ", name.place), 1),
                        "; or name it in services.yaml's `images` and write `{{ images.NAME }}`"
                    );
                    let d = FileDiagnostic { file, pos, message };
                    if !found.contains(&d) {
                        found.push(d);
                    }
                }
            }
        }
        found
    }

    /// The context of sample `s` with every text and number that came from the delivery
    /// changed (`x` added to each text, 1 to each number; yes and no kept, so the same
    /// branches are taken): what a template makes of it that differs depends on the event.
    fn changed_event_value(
        &self,
        agent: &crate::config::Agent,
        s: &sample::Sample,
    ) -> Option<minijinja::Value> {
        let ctx = self.sample_context(agent, s)?;
        let mut json = serde_json::to_value(&ctx).ok()?;
        json["task"] = s.launch.task.clone().unwrap_or_default().into();
        for key in FROM_THE_EVENT {
            if let Some(part) = json.get_mut(key) {
                change(part);
            }
        }
        Some(minijinja::Value::from(minijinja::value::Serde(&json)))
    }
}

/// Every text and number in `value` changed, its shape kept.
fn change(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => s.push('x'),
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                *value = Value::from(i.wrapping_add(1));
            } else if let Some(i) = n.as_i64() {
                *value = Value::from(i.wrapping_add(1));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(change),
        Value::Object(map) => map.values_mut().for_each(change),
        Value::Null | Value::Bool(_) => {}
    }
}
