//! Authentication and RBAC, as the API server does them, for tests that hold the service to
//! the rights deploy/ gives it.
//!
//! A request with `Authorization: Bearer <token>` is the user the token was issued to
//! ([`FakeKube::token_for`](super::FakeKube::token_for)); a request without one is the test
//! itself, an administrator (`system:masters`), never checked. Once rules are loaded
//! ([`Rbac::from_yaml`]: the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings of a
//! manifest such as deploy/base/rbac.yaml), every request of a user is authorised as the RBAC
//! authorizer does: the request's verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
//! `delete`), API group, resource (with its subresource, `pods/log`) and namespace against
//! the rules bound to the user in that namespace (RoleBindings) or everywhere
//! (ClusterRoleBindings); `resourceNames` narrow a rule to names. What is refused gets
//! `403 Forbidden` with the real Status body. A server-side apply that creates its object
//! also needs `create`, as the API server's patch handler checks. Discovery and `/version`
//! are open to every authenticated user (`system:discovery`, `system:public-info-viewer`).
//!
//! Every decision is recorded, so a test can say which grants were used and which refused.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::status::ApiError;

/// What one request asks to do, as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attributes {
    pub user: String,
    pub verb: String,
    pub group: String,
    /// The resource, with `/subresource` when there is one (`agentruns/status`).
    pub resource: String,
    /// Empty for a cluster-scoped request (or a list across every namespace).
    pub namespace: String,
    pub name: String,
}

impl Attributes {
    /// The grant this request used: (namespace, group, resource, verb).
    pub fn grant(&self) -> Grant {
        Grant {
            namespace: self.namespace.clone(),
            group: self.group.clone(),
            resource: self.resource.clone(),
            verb: self.verb.clone(),
        }
    }
}

/// One right in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub namespace: String,
    pub group: String,
    pub resource: String,
    pub verb: String,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        let ns = if self.namespace.is_empty() {
            "(cluster)"
        } else {
            &self.namespace
        };
        write!(f, "{} {group}/{} in {ns}", self.verb, self.resource)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

impl Rule {
    fn allows(&self, a: &Attributes) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        any(&self.verbs, &a.verb)
            && any(&self.api_groups, &a.group)
            && any(&self.resources, &a.resource)
            && (self.resource_names.is_empty()
                || (!a.name.is_empty() && self.resource_names.contains(&a.name)))
    }
}

/// A Role or ClusterRole: its rules by (namespace, name); a ClusterRole has no namespace.
#[derive(Debug, Clone)]
struct Role {
    namespace: String,
    name: String,
    rules: Vec<Rule>,
}

/// A RoleBinding (namespaced) or ClusterRoleBinding.
#[derive(Debug, Clone)]
struct Binding {
    /// Empty for a ClusterRoleBinding.
    namespace: String,
    role_kind: String,
    role_name: String,
    users: Vec<String>,
}

/// The RBAC rules the fake enforces, and what it decided.
#[derive(Debug, Default)]
pub struct Rbac {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
    /// Every request of a user the rules allowed.
    pub allowed: BTreeSet<Attributes>,
    /// Every request of a user the rules refused.
    pub refused: Vec<Attributes>,
}

/// The user a subject of a binding is.
fn subject_user(subject: &Value, binding_namespace: &str) -> Option<String> {
    let name = subject["name"].as_str()?;
    match subject["kind"].as_str()? {
        "ServiceAccount" => {
            let ns = subject["namespace"].as_str().unwrap_or(binding_namespace);
            Some(format!("system:serviceaccount:{ns}:{name}"))
        }
        "User" => Some(name.to_owned()),
        _ => None,
    }
}

impl Rbac {
    /// The rules of every RBAC object in a YAML stream (other kinds are skipped).
    pub fn from_yaml(yaml: &str) -> Rbac {
        let mut rbac = Rbac::default();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let doc = Value::deserialize(doc).expect("an RBAC manifest is YAML");
            let namespace = doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match doc["kind"].as_str() {
                Some(kind @ ("Role" | "ClusterRole")) => {
                    let rules: Vec<Rule> =
                        serde_json::from_value(doc["rules"].clone()).expect("the rules of a role");
                    rbac.roles.push(Role {
                        namespace: if kind == "Role" {
                            namespace
                        } else {
                            String::new()
                        },
                        name,
                        rules,
                    });
                }
                Some(kind @ ("RoleBinding" | "ClusterRoleBinding")) => {
                    let bound_in = if kind == "RoleBinding" {
                        namespace
                    } else {
                        String::new()
                    };
                    let users = doc["subjects"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| subject_user(s, &bound_in))
                        .collect();
                    rbac.bindings.push(Binding {
                        role_kind: doc["roleRef"]["kind"].as_str().unwrap_or_default().into(),
                        role_name: doc["roleRef"]["name"].as_str().unwrap_or_default().into(),
                        namespace: bound_in,
                        users,
                    });
                }
                _ => {}
            }
        }
        rbac
    }

    /// The rules in force for `user` in `namespace` (empty: cluster scope).
    fn rules_for<'a>(&'a self, user: &str, namespace: &str) -> impl Iterator<Item = &'a Rule> {
        self.bindings
            .iter()
            .filter(move |b| {
                b.users.iter().any(|u| u == user)
                    && (b.namespace.is_empty() || (b.namespace == namespace))
            })
            .flat_map(move |b| {
                let role_namespace = if b.role_kind == "Role" {
                    b.namespace.clone()
                } else {
                    String::new()
                };
                self.roles
                    .iter()
                    .filter(move |r| r.name == b.role_name && r.namespace == role_namespace)
                    .flat_map(|r| r.rules.iter())
            })
    }

    /// Decides a request; a refusal is the API server's 403.
    pub fn authorize(&mut self, a: Attributes) -> Result<(), ApiError> {
        if self.rules_for(&a.user, &a.namespace).any(|r| r.allows(&a)) {
            self.allowed.insert(a);
            Ok(())
        } else {
            let error = forbidden(&a);
            self.refused.push(a);
            Err(error)
        }
    }

    /// Every grant a user's bindings give, one per (namespace, group, resource, verb), in
    /// the namespaces named (the ClusterRoleBindings' rules would apply everywhere).
    pub fn grants_of(&self, user: &str, namespaces: &[&str]) -> BTreeSet<Grant> {
        let mut out = BTreeSet::new();
        for ns in namespaces {
            for rule in self.rules_for(user, ns) {
                for group in &rule.api_groups {
                    for resource in &rule.resources {
                        for verb in &rule.verbs {
                            out.insert(Grant {
                                namespace: (*ns).to_owned(),
                                group: group.clone(),
                                resource: resource.clone(),
                                verb: verb.clone(),
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

/// The API server's answer to a refused request (`responsewriters.Forbidden`).
pub fn forbidden(a: &Attributes) -> ApiError {
    let resource = a.resource.split('/').next().unwrap_or_default();
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    let why = format!(
        "User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        a.user, a.verb, a.resource, a.group
    );
    let qualified = if a.group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{}", a.group)
    };
    let message = if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {why}", a.name)
    };
    let mut details = json!({"kind": resource});
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.group.is_empty() {
        details["group"] = json!(a.group);
    }
    ApiError {
        code: 403,
        reason: "Forbidden",
        message,
        details: Some(details),
    }
}
