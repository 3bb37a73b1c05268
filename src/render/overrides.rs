//! What a template writes that agentpods or services.yaml decides instead, silently: a
//! label of agentpods' own (replaced on every object of a run), and a pod's
//! ServiceAccount or token mount written other than services.yaml's `service_account` /
//! `automount_service_account_token` (the template's wins, and `admission-policy` widens
//! itself to match). Warnings, at the template line that writes it (new-user review 13c,
//! N11).

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config::FileDiagnostic;
use crate::config::yaml::Pos;

use super::{Engine, K8sObject, keys, sample};

/// The labels agentpods puts on every object of a run, replacing a template's.
const OURS: [&str; 11] = [
    keys::MANAGED_BY,
    keys::RUN,
    keys::AGENT,
    keys::REPO,
    keys::PR,
    keys::PROJECT,
    keys::DELIVERY,
    keys::REPOSITORY,
    keys::TRIGGER,
    keys::CONCURRENCY,
    keys::ISSUE,
];

impl Engine {
    /// The warnings of this module's header, for each agent's first sample delivery.
    pub fn override_warnings(&self) -> Vec<FileDiagnostic> {
        // By place and what is said there: the agents whose runs it is said of.
        let mut found: Vec<(String, Pos, String, Vec<&str>)> = Vec::new();
        for agent in &self.config.agents {
            let Some(s) = sample::first(agent) else {
                continue;
            };
            let Some(rendered) = self.sample_objects(agent, &s) else {
                continue;
            };
            let account = agent
                .service_account
                .as_ref()
                .unwrap_or(&self.config.cluster.service_account)
                .as_str();
            let automount = agent.automount_service_account_token;
            for (template, objects) in rendered {
                let mut warn = |key: &str, message: String| {
                    let (file, pos) = (self.file_of(&template), self.line_writing(&template, key));
                    let name = agent.name.as_str();
                    match found
                        .iter_mut()
                        .find(|(f, p, m, _)| (f, p, m) == (&file, &pos, &message))
                    {
                        Some((.., agents)) if !agents.contains(&name) => agents.push(name),
                        Some(_) => {}
                        None => found.push((file, pos, message, vec![name])),
                    }
                };
                for object in &objects {
                    let (metas, spec) = parts(object);
                    for meta in metas {
                        for key in meta.labels.iter().flat_map(|l| l.keys()) {
                            if OURS.contains(&key.as_str()) {
                                warn(
                                    key,
                                    format!(
                                        "the template sets label `{key}`, which agentpods sets \
                                         on every object of a run, replacing the template's \
                                         value; leave it out, or use a label of your own"
                                    ),
                                );
                            }
                        }
                    }
                    let Some(spec) = spec else { continue };
                    // Only what the template writes: one that leaves these out (the tests'
                    // small pods) gets Kubernetes' defaults, a matter for the admission
                    // policy.
                    if let Some(written) = spec.service_account_name.as_deref()
                        && written != account
                    {
                        warn(
                            "serviceAccountName",
                            format!(
                                "the template's pod runs as ServiceAccount `{}`, not \
                                 services.yaml's `{account}` (`service_account`), and the \
                                 template's wins; write `serviceAccountName: {{{{ \
                                 agent.service_account }}}}`",
                                written
                            ),
                        );
                    }
                    if spec
                        .automount_service_account_token
                        .is_some_and(|mounts| mounts != automount)
                    {
                        warn(
                            "automountServiceAccountToken",
                            format!(
                                "the template's pod {} the ServiceAccount token, but \
                                 services.yaml's `automount_service_account_token` is \
                                 {automount}, and the template's wins; write \
                                 `automountServiceAccountToken: {{{{ \
                                 agent.automount_service_account_token }}}}`",
                                if automount {
                                    "does not mount"
                                } else {
                                    "mounts"
                                }
                            ),
                        );
                    }
                }
            }
        }
        found.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        found
            .into_iter()
            .map(|(file, pos, message, agents)| {
                let named: Vec<String> = agents.iter().map(|a| format!("`{a}`")).collect();
                let who = match named.len() {
                    1 => format!("agent {}", named[0]),
                    _ => format!("agents {}", named.join(", ")),
                };
                FileDiagnostic {
                    file,
                    pos,
                    message: format!("warning: {who}: {message}"),
                }
            })
            .collect()
    }

    /// The first line of template file `template` that writes `key` (`key:`), else its
    /// first line.
    fn line_writing(&self, template: &str, key: &str) -> Pos {
        let found = self.sources.get(template).and_then(|source| {
            source.lines().enumerate().find_map(|(i, line)| {
                let at = line
                    .find(&format!("{key}:"))
                    .or_else(|| line.find(&format!("\"{key}\":")))?;
                Some(Pos {
                    line: i + 1,
                    col: at + 1,
                })
            })
        });
        found.unwrap_or(Pos { line: 1, col: 1 })
    }
}

/// An object's metadata (a Job's, and its pod template's) and its pod spec, if it runs one.
fn parts(object: &K8sObject) -> (Vec<&ObjectMeta>, Option<&PodSpec>) {
    match object {
        K8sObject::Pod(pod) => (vec![&pod.metadata], pod.spec.as_ref()),
        K8sObject::Job(job) => {
            let template = job.spec.as_ref().map(|s| &s.template);
            let mut metas = vec![&job.metadata];
            metas.extend(template.and_then(|t| t.metadata.as_ref()));
            (metas, template.and_then(|t| t.spec.as_ref()))
        }
        other => (vec![other.metadata()], None),
    }
}
