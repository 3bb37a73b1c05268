//! The fake's state: the served resources (built-in and registered by CRDs), the objects,
//! a global resourceVersion counter and the history that watches replay.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::status::ApiError;

/// How many changes a watch can be resumed from; older resourceVersions get `410 Gone`.
const HISTORY: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl Gvr {
    pub fn new(group: &str, version: &str, resource: &str) -> Gvr {
        Gvr {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// A printer column of a CRD (`additionalPrinterColumns`), for `kubectl get`.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub json_path: String,
}

/// One served resource, as discovery describes it.
#[derive(Clone, Debug)]
pub struct Resource {
    pub gvr: Gvr,
    pub kind: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `/status` subresource: the main endpoint leaves status alone.
    pub status: bool,
    pub columns: Vec<Column>,
}

fn builtin(
    group: &str,
    version: &str,
    resource: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
) -> Resource {
    Resource {
        gvr: Gvr::new(group, version, resource),
        kind: kind.to_owned(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        categories: Vec::new(),
        status,
        columns: Vec::new(),
    }
}

fn builtins() -> Vec<Resource> {
    vec![
        builtin("", "v1", "pods", "Pod", true, &["po"], true),
        builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"], false),
        builtin("", "v1", "secrets", "Secret", true, &[], false),
        builtin(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &["sa"],
            false,
        ),
        builtin("", "v1", "events", "Event", true, &["ev"], false),
        builtin("events.k8s.io", "v1", "events", "Event", true, &[], false),
        builtin("", "v1", "namespaces", "Namespace", false, &["ns"], true),
        builtin("batch", "v1", "jobs", "Job", true, &[], true),
        builtin(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            &[],
            false,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            true,
        ),
    ]
}

/// One change, as a watch reports it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub gvr: Gvr,
    pub namespace: String,
    pub kind: &'static str,
    pub object: Value,
}

pub type Key = (Gvr, String, String);

pub struct Store {
    pub rv: u64,
    pub resources: Vec<Resource>,
    pub objects: BTreeMap<Key, Value>,
    pub history: VecDeque<Arc<Change>>,
    /// Watches from a resourceVersion below this one get `410 Gone`.
    pub floor: u64,
    pub changes: broadcast::Sender<Arc<Change>>,
    uids: u64,
}

/// How a PATCH body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind<'a> {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`, approximately: lists of objects merge by
    /// `name` (or `mountPath`, `containerPort`), `$patch: delete` removes an element, other
    /// `$` directives are dropped, and every other list is replaced.
    Strategic,
    /// `application/apply-patch+yaml`: merged into the object, which is created if absent,
    /// and the field manager (the `fieldManager` parameter, required) recorded in
    /// `managedFields` (without the fields it owns).
    Apply(Option<&'a str>),
}

/// Which part of the object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

impl Store {
    pub fn new() -> Store {
        Store {
            rv: 1,
            resources: builtins(),
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            floor: 0,
            changes: broadcast::channel(4096).0,
            uids: 0,
        }
    }

    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Resource> {
        self.resources
            .iter()
            .find(|r| r.gvr.group == group && r.gvr.version == version && r.gvr.resource == plural)
            .cloned()
    }

    /// Forgets the watch history: resuming from any earlier resourceVersion gets 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    fn commit(
        &mut self,
        res: &Resource,
        namespace: &str,
        kind: &'static str,
        mut object: Value,
    ) -> Value {
        self.rv += 1;
        let name = name_of(&object).to_owned();
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if res.gvr.group.is_empty() && res.gvr.resource == "secrets" {
            fold_string_data(&mut object);
        }
        let key = (res.gvr.clone(), namespace.to_owned(), name);
        if kind == "DELETED" {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, object.clone());
        }
        let change = Arc::new(Change {
            rv: self.rv,
            gvr: res.gvr.clone(),
            namespace: namespace.to_owned(),
            kind,
            object: object.clone(),
        });
        self.history.push_back(change.clone());
        if self.history.len() > HISTORY
            && let Some(old) = self.history.pop_front()
        {
            self.floor = old.rv;
        }
        // No receiver is fine: nobody is watching.
        let _ = self.changes.send(change);
        if res.gvr.resource == "customresourcedefinitions" && kind != "DELETED" {
            self.register_crd(&object);
        }
        object
    }

    pub fn get(&self, res: &Resource, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&(res.gvr.clone(), namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    pub fn list(&self, res: &Resource, namespace: Option<&str>, filter: &Filter) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((gvr, ns, _), object)| {
                *gvr == res.gvr && namespace.is_none_or(|n| n == ns) && filter.matches(object)
            })
            .map(|(_, object)| object.clone())
            .collect()
    }

    pub fn create(
        &mut self,
        res: &Resource,
        namespace: &str,
        mut body: Value,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        let meta = body
            .as_object_mut()
            .expect("object")
            .entry("metadata")
            .or_insert_with(|| json!({}));
        if !meta.is_object() {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
        if meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) => {
                    self.uids += 1;
                    meta["name"] = json!(format!("{prefix}{:05x}", self.uids));
                }
                None => {
                    return Err(ApiError::invalid(
                        res,
                        "",
                        "metadata.name",
                        "name or generateName is required",
                    ));
                }
            }
        }
        let name = meta["name"].as_str().unwrap_or_default().to_owned();
        if !is_dns_subdomain(&name) {
            return Err(ApiError::invalid(
                res,
                &name,
                "metadata.name",
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            ));
        }
        if res.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(ns) if ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta["namespace"] = json!(namespace),
            }
        }
        let key = (res.gvr.clone(), namespace.to_owned(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        self.uids += 1;
        meta["uid"] = json!(format!("6f1d0c1e-0000-4000-8000-{:012x}", self.uids));
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        body["apiVersion"] = json!(res.gvr.api_version());
        body["kind"] = json!(res.kind);
        if res.gvr.resource == "customresourcedefinitions" {
            body["status"] = crd_status(&body);
        }
        Ok(self.commit(res, namespace, "ADDED", body))
    }

    /// PUT: replaces the object, refusing a stale resourceVersion.
    pub fn replace(
        &mut self,
        res: &Resource,
        namespace: &str,
        name: &str,
        body: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let old = self.get(res, namespace, name)?;
        if body.is_null() || !body.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        if let Some(given) = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|given| *given != name)
        {
            return Err(ApiError::bad_request(&format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        check_version(res, name, &old, &body)?;
        self.update(res, namespace, old, body, part)
    }

    pub fn patch(
        &mut self,
        res: &Resource,
        namespace: &str,
        name: &str,
        kind: PatchKind,
        patch: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let manager = match kind {
            PatchKind::Apply(None) => {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
                ));
            }
            PatchKind::Apply(manager) => manager,
            PatchKind::Merge | PatchKind::Strategic => None,
        };
        let old = match self.get(res, namespace, name) {
            Ok(old) => old,
            Err(_) if manager.is_some() && part == Part::Main => {
                let mut body = json!({});
                merge(&mut body, &patch);
                body["metadata"]["name"] = json!(name);
                if let Some(manager) = manager {
                    record_manager(&mut body, manager, &res.gvr.api_version(), "");
                }
                return self.create(res, namespace, body);
            }
            Err(e) => return Err(e),
        };
        check_version(res, name, &old, &patch)?;
        let mut new = old.clone();
        match kind {
            PatchKind::Strategic => merge_strategic(&mut new, &patch),
            PatchKind::Merge | PatchKind::Apply(_) => merge(&mut new, &patch),
        }
        if let Some(manager) = manager {
            let sub = if part == Part::Status { "status" } else { "" };
            record_manager(&mut new, manager, &res.gvr.api_version(), sub);
        }
        self.update(res, namespace, old, new, part)
    }

    fn update(
        &mut self,
        res: &Resource,
        namespace: &str,
        old: Value,
        mut new: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        match part {
            Part::Status => {
                let status = new.get("status").cloned();
                new = old.clone();
                match status {
                    Some(status) => new["status"] = status,
                    None => {
                        new.as_object_mut().expect("object").remove("status");
                    }
                }
            }
            Part::Main if res.status => match old.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    new.as_object_mut().expect("object").remove("status");
                }
            },
            Part::Main => {}
        }
        // What the server owns is kept.
        for field in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "generation",
        ] {
            match old["metadata"].get(field) {
                Some(value) => new["metadata"][field] = value.clone(),
                None => {
                    if let Some(meta) = new["metadata"].as_object_mut() {
                        meta.remove(field);
                    }
                }
            }
        }
        if new["metadata"].get("managedFields").is_none()
            && let Some(fields) = old["metadata"].get("managedFields")
        {
            new["metadata"]["managedFields"] = fields.clone();
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        new["apiVersion"] = json!(res.gvr.api_version());
        new["kind"] = json!(res.kind);
        if new == old {
            return Ok(old);
        }
        if spec_of(&new) != spec_of(&old) {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        Ok(self.commit(res, namespace, "MODIFIED", new))
    }

    /// Deletes the object and, transitively, every object naming it in `ownerReferences`.
    pub fn delete(
        &mut self,
        res: &Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let object = self.get(res, namespace, name)?;
        let deleted = self.commit(res, namespace, "DELETED", object);
        if res.gvr.resource == "customresourcedefinitions" {
            self.unregister_crd(&deleted);
        }
        let mut orphans = vec![
            deleted["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ];
        while let Some(uid) = orphans.pop() {
            let owned: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, object)| owned_by(object, &uid))
                .map(|(key, _)| key.clone())
                .collect();
            for (gvr, ns, name) in owned {
                let Some(dependent) = self.resource(&gvr.group, &gvr.version, &gvr.resource) else {
                    continue;
                };
                let object = self.objects[&(gvr, ns.clone(), name)].clone();
                orphans.push(
                    object["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                self.commit(&dependent, &ns, "DELETED", object);
            }
        }
        Ok(deleted)
    }

    fn register_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let names = &spec["names"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let plural = names["plural"].as_str().unwrap_or_default();
        let kind = names["kind"].as_str().unwrap_or_default();
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        self.resources
            .retain(|r| !(r.gvr.group == group && r.gvr.resource == plural));
        for version in versions
            .iter()
            .filter(|v| v["served"].as_bool().unwrap_or(true))
        {
            let columns = version["additionalPrinterColumns"]
                .as_array()
                .map(|columns| {
                    columns
                        .iter()
                        .map(|c| Column {
                            name: c["name"].as_str().unwrap_or_default().to_owned(),
                            type_: c["type"].as_str().unwrap_or("string").to_owned(),
                            json_path: c["jsonPath"].as_str().unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.resources.push(Resource {
                gvr: Gvr::new(group, version["name"].as_str().unwrap_or_default(), plural),
                kind: kind.to_owned(),
                singular: names["singular"]
                    .as_str()
                    .map_or_else(|| kind.to_lowercase(), str::to_owned),
                namespaced: spec["scope"].as_str() != Some("Cluster"),
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                status: version.pointer("/subresources/status").is_some(),
                columns,
            });
        }
    }

    fn unregister_crd(&mut self, crd: &Value) {
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        self.resources
            .retain(|r| !(r.gvr.group == group && r.gvr.resource == plural));
    }
}

fn crd_status(crd: &Value) -> Value {
    let time = now();
    json!({
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": crd["spec"]["versions"].as_array().map(|vs| {
            vs.iter().filter(|v| v["storage"].as_bool() == Some(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()
        }),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": time},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": time},
        ],
    })
}

fn check_version(res: &Resource, name: &str, old: &Value, body: &Value) -> Result<(), ApiError> {
    match body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(given) if Some(given) != old["metadata"]["resourceVersion"].as_str() => {
            Err(ApiError::conflict(res, name))
        }
        _ => Ok(()),
    }
}

fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid)))
}

/// Everything but metadata and status: a change here bumps `metadata.generation`.
fn spec_of(object: &Value) -> Map<String, Value> {
    let mut map = object.as_object().cloned().unwrap_or_default();
    map.remove("metadata");
    map.remove("status");
    map
}

pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let target = target.as_object_mut().expect("object");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Upserts the Apply entry of `manager` in `metadata.managedFields`.
fn record_manager(object: &mut Value, manager: &str, api_version: &str, subresource: &str) {
    let mut entries: Vec<Value> = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| {
        !(e["manager"] == manager
            && e["operation"] == "Apply"
            && e["subresource"].as_str().unwrap_or_default() == subresource)
    });
    let mut entry = json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    });
    if !subresource.is_empty() {
        entry["subresource"] = json!(subresource);
    }
    entries.push(entry);
    object["metadata"]["managedFields"] = json!(entries);
}

/// See [`PatchKind::Strategic`].
fn merge_strategic(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let target = target.as_object_mut().expect("object");
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        let slot = target.entry(key.clone()).or_insert(Value::Null);
        let merge_key = value.as_array().and_then(|items| merge_key(items));
        match (slot, merge_key) {
            (Value::Array(old), Some(merge_key)) => {
                merge_list(old, value.as_array().expect("array"), merge_key);
            }
            (slot, _) => merge_strategic(slot, value),
        }
    }
}

fn merge_key(items: &[Value]) -> Option<&'static str> {
    ["name", "mountPath", "containerPort"]
        .into_iter()
        .find(|k| !items.is_empty() && items.iter().all(|i| i.get(k).is_some()))
}

fn merge_list(old: &mut Vec<Value>, patch: &[Value], key: &str) {
    for item in patch {
        let position = old.iter().position(|o| o.get(key) == item.get(key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(p), true) => {
                old.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => merge_strategic(&mut old[p], item),
            (None, false) => {
                let mut added = Value::Null;
                merge_strategic(&mut added, item);
                old.push(added);
            }
        }
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    name.len() <= 253
        && edge(name.chars().next())
        && edge(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

pub fn now() -> String {
    jiff_now()
}

fn jiff_now() -> String {
    // k8s-openapi's Time serializes as RFC 3339 with second precision, like the API server.
    serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ))
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

/// `labelSelector` (equality, inequality, existence) and `fieldSelector` (metadata.name and
/// metadata.namespace) from a list or watch request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    labels: Vec<Requirement>,
    fields: Vec<(String, String, bool)>,
}

#[derive(Clone, Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

impl Filter {
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Filter, ApiError> {
        let mut filter = Filter::default();
        for term in labels
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let requirement = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::Absent(k.trim().to_owned())
            } else if term.contains(' ') || term.contains('(') {
                return Err(ApiError::bad_request(&format!(
                    "unable to parse requirement: set-based selectors are not supported by the fake: {term}"
                )));
            } else {
                Requirement::Exists(term.to_owned())
            };
            filter.labels.push(requirement);
        }
        for term in fields
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let (field, value, equal) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, v, true)
            } else {
                return Err(ApiError::bad_request(&format!(
                    "invalid field selector: {term}"
                )));
            };
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(ApiError::bad_request(&format!(
                    "field label not supported: {field}"
                )));
            }
            filter
                .fields
                .push((field.to_owned(), value.to_owned(), equal));
        }
        Ok(filter)
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |k: &str| labels.get(k).and_then(Value::as_str);
        self.labels.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v),
            Requirement::NotEquals(k, v) => label(k) != Some(v),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::Absent(k) => label(k).is_none(),
        }) && self.fields.iter().all(|(field, value, equal)| {
            let actual = match field.as_str() {
                "metadata.name" => object["metadata"]["name"].as_str(),
                _ => object["metadata"]["namespace"].as_str(),
            };
            (actual.unwrap_or_default() == value) == *equal
        })
    }
}

/// As the API server does: a Secret's `stringData` is written into `data` (base64) and is
/// never stored or returned.
fn fold_string_data(secret: &mut Value) {
    use base64::Engine as _;
    let Some(strings) = secret.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    let Value::Object(strings) = strings else {
        return;
    };
    let data = secret
        .as_object_mut()
        .expect("a Secret is an object")
        .entry("data")
        .or_insert_with(|| json!({}));
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        data[key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}
