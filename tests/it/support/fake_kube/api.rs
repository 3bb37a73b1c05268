//! The HTTP face of the fake: discovery, CRUD, watch, tables for `kubectl get`, OpenAPI.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::Shared;
use super::rbac::Attributes;
use super::status::ApiError;
use super::store::{Change, Filter, Gvr, Part, PatchKind, Resource, Store};

/// The version `/version` reports; the kubectl dispatcher picks its binary by it.
const MINOR: &str = "33";

pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.log.lock().expect("fake kube log").push(format!(
        "{} {} {}",
        request.method(),
        request.uri(),
        request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    ));
    let latency = shared.faults.latency_ms.load(Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(fault) = shared.faults.roll() {
        return fault.into_response();
    }
    let (parts, body) = request.into_parts();
    let user = match authenticate(&shared, &parts.headers) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let body = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(body) => body,
        Err(e) => return ApiError::bad_request(&format!("reading the body: {e}")).into_response(),
    };
    let query = parse_query(parts.uri.query().unwrap_or_default());
    let request = Req {
        method: &parts.method,
        path: parts.uri.path(),
        query: &query,
        headers: &parts.headers,
        body: &body,
        user: user.as_deref(),
    };
    route(&shared, &request).unwrap_or_else(IntoResponse::into_response)
}

struct Req<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    /// Who asks: `None` for the test itself (an administrator, never checked).
    user: Option<&'a str>,
}

/// The user a bearer token was issued to (`None` without one); an unknown token is 401.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match shared.tokens.lock().expect("fake kube tokens").get(token) {
        Some(user) => Ok(Some(user.clone())),
        None => Err(ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: None,
        }),
    }
}

/// Checks a resource request of a user against the RBAC rules, when rules are loaded.
fn authorize(
    shared: &Shared,
    req: &Req,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<(), ApiError> {
    let Some(user) = req.user else {
        return Ok(());
    };
    let mut rbac = shared.rbac.lock().expect("fake kube rbac");
    let Some(rbac) = rbac.as_mut() else {
        return Ok(());
    };
    rbac.authorize(Attributes {
        user: user.to_owned(),
        verb: verb.to_owned(),
        group: group.to_owned(),
        resource: resource.to_owned(),
        namespace: namespace.unwrap_or_default().to_owned(),
        name: name.unwrap_or_default().to_owned(),
    })
}

/// The verb a request is authorised as.
fn verb_of(req: &Req, name: Option<&str>) -> &'static str {
    let watching = matches!(
        req.query.get("watch").map(String::as_str),
        Some("true" | "1")
    );
    match (req.method.clone(), name) {
        (Method::GET, None) if watching => "watch",
        (Method::GET, None) => "list",
        (Method::GET, Some(_)) => "get",
        (Method::POST, _) => "create",
        (Method::PUT, _) => "update",
        (Method::PATCH, _) => "patch",
        (Method::DELETE, None) => "deletecollection",
        (Method::DELETE, Some(_)) => "delete",
        _ => "unknown",
    }
}

impl Req<'_> {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn wants_table(&self) -> bool {
        self.header(header::ACCEPT).contains("as=Table")
    }
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn ok(value: &Value) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, value))
}

fn route(shared: &Shared, req: &Req) -> Result<Response, ApiError> {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let get = req.method == Method::GET;
    let store = || shared.store.lock().expect("fake kube store");
    match segments.as_slice() {
        ["version"] if get => ok(&json!({
            "major": "1",
            "minor": MINOR,
            "gitVersion": format!("v1.{MINOR}.0-fake"),
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-04-23T00:00:00Z",
            "goVersion": "go1.24.2",
            "compiler": "gc",
            "platform": "linux/amd64",
        })),
        ["api"] if get => ok(&json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}],
        })),
        ["apis"] if get => ok(&group_list(&store())),
        ["apis", group] if get => {
            let list = group_list(&store());
            let found = list["groups"]
                .as_array()
                .and_then(|groups| groups.iter().find(|g| g["name"] == *group).cloned());
            match found {
                Some(mut g) => {
                    g["kind"] = json!("APIGroup");
                    g["apiVersion"] = json!("v1");
                    ok(&g)
                }
                None => Err(ApiError::no_route(req.path)),
            }
        }
        ["api", "v1"] if get => resource_list(&store(), "", "v1", req.path),
        ["apis", group, version] if get => resource_list(&store(), group, version, req.path),
        ["openapi", "v3"] if get => ok(&openapi_index(&store())),
        ["openapi", "v3", "api", "v1"] if get => {
            openapi_group_version(&store(), "", "v1", req.path)
        }
        ["openapi", "v3", "apis", group, version] if get => {
            openapi_group_version(&store(), group, version, req.path)
        }
        ["openapi", ..] => Err(ApiError::no_route(req.path)),
        ["api", "v1", rest @ ..] if !rest.is_empty() => {
            resource_request(shared, req, "", "v1", rest)
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            resource_request(shared, req, group, version, rest)
        }
        _ => Err(ApiError::no_route(req.path)),
    }
}

fn group_list(store: &Store) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for r in store.resources.iter().filter(|r| !r.gvr.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == r.gvr.group) {
            Some((_, versions)) if !versions.contains(&r.gvr.version) => {
                versions.push(r.gvr.version.clone())
            }
            Some(_) => {}
            None => groups.push((r.gvr.group.clone(), vec![r.gvr.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                .collect();
            json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(
    store: &Store,
    group: &str,
    version: &str,
    path: &str,
) -> Result<Response, ApiError> {
    let mut resources = Vec::new();
    for r in store
        .resources
        .iter()
        .filter(|r| r.gvr.group == group && r.gvr.version == version)
    {
        let mut entry = json!({
            "name": r.gvr.resource,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        if r.gvr.group.is_empty() && r.gvr.resource == "pods" {
            resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
        if r.status {
            resources.push(json!({
                "name": format!("{}/status", r.gvr.resource),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return Err(ApiError::no_route(path));
    }
    let group_version = Gvr::new(group, version, "").api_version();
    ok(
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// `/openapi/v3`: one document per group-version.
fn openapi_index(store: &Store) -> Value {
    let mut paths = serde_json::Map::new();
    for r in &store.resources {
        let path = if r.gvr.group.is_empty() {
            format!("api/{}", r.gvr.version)
        } else {
            format!("apis/{}/{}", r.gvr.group, r.gvr.version)
        };
        let url = format!("/openapi/v3/{path}?hash={}", store.rv);
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// Just enough OpenAPI for kubectl: each resource's PATCH operation, tagged with its kind and
/// declaring the `fieldValidation` parameter, so that kubectl leaves validation to the server
/// (which the fake does not do) instead of downloading schemas. No schemas.
fn openapi_group_version(
    store: &Store,
    group: &str,
    version: &str,
    path: &str,
) -> Result<Response, ApiError> {
    let mut paths = serde_json::Map::new();
    for r in store
        .resources
        .iter()
        .filter(|r| r.gvr.group == group && r.gvr.version == version)
    {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let scope = if r.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let operation = json!({
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(
            format!("{prefix}{scope}/{}/{{name}}", r.gvr.resource),
            json!({"patch": operation}),
        );
    }
    if paths.is_empty() {
        return Err(ApiError::no_route(path));
    }
    ok(&json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{MINOR}.0")},
        "paths": paths,
        "components": {},
    }))
}

fn resource_request(
    shared: &Shared,
    req: &Req,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let (namespace, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(*ns), *plural, tail)
        }
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Err(ApiError::no_route(req.path)),
    };
    let (name, part) = match tail {
        [name, "log"] if group.is_empty() && plural == "pods" && req.method == Method::GET => {
            authorize(shared, req, "get", group, "pods/log", namespace, Some(name))?;
            return logs(
                shared,
                req,
                namespace.ok_or_else(|| ApiError::no_route(req.path))?,
                name,
            );
        }
        [] => (None, Part::Main),
        [name] => (Some(*name), Part::Main),
        [name, "status"] => (Some(*name), Part::Status),
        _ => return Err(ApiError::no_route(req.path)),
    };
    let verb = verb_of(req, name);
    let resource = match part {
        Part::Status => format!("{plural}/status"),
        Part::Main => plural.to_owned(),
    };
    authorize(shared, req, verb, group, &resource, namespace, name)?;
    let mut store = shared.store.lock().expect("fake kube store");
    let res = store
        .resource(group, version, plural)
        .ok_or_else(|| ApiError::no_route(req.path))?;
    if namespace.is_some() && !res.namespaced {
        return Err(ApiError::no_route(req.path));
    }
    let ns = namespace.unwrap_or_default();
    let needs_namespace = || {
        if res.namespaced && namespace.is_none() {
            Err(ApiError::no_route(req.path))
        } else {
            Ok(())
        }
    };
    let method = req.method.clone();
    match (method, name) {
        (Method::GET, None) => {
            let filter = Filter::parse(
                req.query.get("labelSelector").map(String::as_str),
                req.query.get("fieldSelector").map(String::as_str),
            )?;
            if matches!(
                req.query.get("watch").map(String::as_str),
                Some("true" | "1")
            ) {
                return watch(shared, &mut store, req, res, namespace, filter);
            }
            let items = store.list(&res, namespace, &filter);
            let page = Page::of(req, store.rv)?;
            let rv = page.version.to_string();
            let (items, next) = page.cut(items);
            if req.wants_table() {
                return ok(&table(&res, items, &rv));
            }
            let mut metadata = json!({"resourceVersion": rv});
            if let Some((token, remaining)) = next {
                metadata["continue"] = json!(token);
                metadata["remainingItemCount"] = json!(remaining);
            }
            ok(&json!({
                "kind": format!("{}List", res.kind),
                "apiVersion": res.gvr.api_version(),
                "metadata": metadata,
                "items": items,
            }))
        }
        (Method::GET, Some(name)) => {
            needs_namespace()?;
            let object = store.get(&res, ns, name)?;
            if req.wants_table() {
                let rv = store.rv.to_string();
                return ok(&table(&res, vec![object], &rv));
            }
            ok(&object)
        }
        (Method::POST, None) => {
            needs_namespace()?;
            if shared
                .missing_namespaces
                .lock()
                .expect("fake kube namespaces")
                .iter()
                .any(|n| n == ns)
            {
                return Err(ApiError::namespace_not_found(ns));
            }
            let created = store.create(&res, ns, parse_json(req.body)?)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (Method::PUT, Some(name)) => {
            needs_namespace()?;
            ok(&store.replace(&res, ns, name, parse_json(req.body)?, part)?)
        }
        (Method::PATCH, Some(name)) => {
            needs_namespace()?;
            let content_type = req.header(header::CONTENT_TYPE);
            let (kind, patch) = if content_type.starts_with("application/apply-patch") {
                let patch = serde_yaml::from_slice::<Value>(req.body).map_err(|e| {
                    ApiError::bad_request(&format!("the apply patch is not YAML: {e}"))
                })?;
                let manager = req.query.get("fieldManager").map(String::as_str);
                (PatchKind::Apply(manager), patch)
            } else if content_type.starts_with("application/merge-patch+json") {
                (PatchKind::Merge, parse_json(req.body)?)
            } else if content_type.starts_with("application/strategic-merge-patch+json") {
                (PatchKind::Strategic, parse_json(req.body)?)
            } else {
                return Err(ApiError {
                    code: 415,
                    reason: "UnsupportedMediaType",
                    message: format!("the fake does not accept the patch type {content_type:?}"),
                    details: None,
                });
            };
            let existed = store.get(&res, ns, name).is_ok();
            if !existed && matches!(kind, PatchKind::Apply(_)) && part == Part::Main {
                // An apply that creates is a create too (the patch handler's
                // `withAuthorization`).
                authorize(shared, req, "create", group, plural, namespace, Some(name))?;
                within_quota(shared, &store, &res, ns, name)?;
            }
            let object = store.patch(&res, ns, name, kind, patch, part)?;
            let code = if existed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok(json_response(code, &object))
        }
        (Method::DELETE, Some(name)) => {
            needs_namespace()?;
            ok(&store.delete(&res, ns, name)?)
        }
        (method, _) => Err(ApiError::not_allowed(method.as_str())),
    }
}

/// A pod `name` made in `ns` fits the namespace's pod quota ([`super::Faults::pod_quota`]),
/// or the 403 Kubernetes' quota admission answers, in its words.
fn within_quota(
    shared: &Shared,
    store: &Store,
    res: &Resource,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let limit = shared.faults.pod_quota.load(Relaxed);
    if limit == 0 || !res.gvr.group.is_empty() || res.gvr.resource != "pods" {
        return Ok(());
    }
    let used = store
        .objects
        .iter()
        .filter(|((gvr, namespace, _), pod)| {
            *gvr == res.gvr
                && namespace == ns
                && !matches!(
                    pod["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                )
        })
        .count() as u64;
    if used < limit {
        return Ok(());
    }
    Err(ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "pods \"{name}\" is forbidden: exceeded quota: runs-quota, requested: pods=1, \
             used: pods={used}, limited: pods={limit}"
        ),
        details: None,
    })
}

/// `GET .../pods/NAME/log`: what the kubelet's script logged (`tailLines` honoured; no
/// `follow`, the whole log is there at once).
fn logs(shared: &Shared, req: &Req, ns: &str, name: &str) -> Result<Response, ApiError> {
    let pod = {
        let store = shared.store.lock().expect("fake kube store");
        let res = store.resource("", "v1", "pods").expect("pods are built in");
        store.get(&res, ns, name)?
    };
    let Some(text) = shared
        .logs
        .lock()
        .expect("fake kube logs")
        .get(&(ns.to_owned(), name.to_owned()))
        .cloned()
    else {
        let container = pod
            .pointer("/spec/containers/0/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(ApiError::bad_request(&format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        )));
    };
    let text = match req
        .query
        .get("tailLines")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut tail = lines[lines.len().saturating_sub(n)..].join("\n");
            if !tail.is_empty() {
                tail.push('\n');
            }
            tail
        }
        None => text,
    };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(&format!("the body is not JSON: {e}")))
}

/// `?watch=true`: newline-delimited events after `resourceVersion`, every current object as
/// ADDED when it is absent or `0`, an ERROR event with `410 Expired` when it is too old.
fn watch(
    shared: &Shared,
    store: &mut Store,
    req: &Req,
    res: Resource,
    namespace: Option<&str>,
    filter: Filter,
) -> Result<Response, ApiError> {
    let wanted = |change: &Change| {
        change.gvr == res.gvr
            && namespace.is_none_or(|ns| ns == change.namespace)
            && filter.matches(&change.object)
    };
    let mut backlog = VecDeque::new();
    match req.query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => {
            for object in store.list(&res, namespace, &filter) {
                backlog.push_back(event_line("ADDED", &object));
            }
        }
        Some(rv) => {
            let rv: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad_request(&format!("invalid resourceVersion {rv:?}")))?;
            if rv < store.floor {
                let gone = ApiError::gone(rv, store.floor);
                let line = event_line("ERROR", &gone.to_status());
                return Ok(stream_response(futures_util::stream::iter([line])));
            }
            for change in store.history.iter().filter(|c| c.rv > rv && wanted(c)) {
                backlog.push_back(event_line(change.kind, &change.object));
            }
        }
    }
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800);
    let state = WatchState {
        backlog,
        rx: store.changes.subscribe(),
        gvr: res.gvr.clone(),
        namespace: namespace.map(str::to_owned),
        filter,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
        left: match shared.faults.drop_watch_after.load(Relaxed) {
            0 => u64::MAX,
            n => n,
        },
    };
    Ok(stream_response(futures_util::stream::unfold(
        state, next_event,
    )))
}

struct WatchState {
    backlog: VecDeque<Bytes>,
    rx: broadcast::Receiver<Arc<Change>>,
    gvr: Gvr,
    namespace: Option<String>,
    filter: Filter,
    deadline: tokio::time::Instant,
    /// Events still to send before the watch is dropped (fault injection).
    left: u64,
}

async fn next_event(mut state: WatchState) -> Option<(Bytes, WatchState)> {
    if state.left == 0 {
        return None;
    }
    state.left -= 1;
    if let Some(line) = state.backlog.pop_front() {
        return Some((line, state));
    }
    loop {
        let change = tokio::select! {
            change = state.rx.recv() => change.ok()?,
            () = tokio::time::sleep_until(state.deadline) => return None,
        };
        if change.gvr == state.gvr
            && state
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == change.namespace)
            && state.filter.matches(&change.object)
        {
            return Some((event_line(change.kind, &change.object), state));
        }
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn stream_response(stream: impl futures_util::Stream<Item = Bytes> + Send + 'static) -> Response {
    use futures_util::StreamExt;
    let body = Body::from_stream(stream.map(Ok::<_, Infallible>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A `meta.k8s.io/v1` Table, which `kubectl get` asks for: the name, a CRD's printer
/// columns, and the age.
fn table(res: &Resource, items: Vec<Value>, rv: &str) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}),
    ];
    for c in &res.columns {
        columns.push(json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": 0}));
    }
    let has_age = res
        .columns
        .iter()
        .any(|c| c.json_path == ".metadata.creationTimestamp");
    if !has_age {
        columns.push(json!({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}));
    }
    let rows: Vec<Value> = items
        .into_iter()
        .map(|object| {
            let mut cells = vec![object["metadata"]["name"].clone()];
            for c in &res.columns {
                let value = lookup(&object, &c.json_path);
                cells.push(match (c.type_.as_str(), value) {
                    ("date", Some(Value::String(t))) => json!(age(t)),
                    (_, Some(v)) => v.clone(),
                    (_, None) => Value::Null,
                });
            }
            if !has_age {
                cells.push(json!(age(object["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default())));
            }
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// A simple JSONPath: `.a.b.c`.
fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(object, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// `5s`, `3m`, `2h`, `4d`, like kubectl.
fn age(timestamp: &str) -> String {
    let Ok(then) = timestamp.parse::<k8s_openapi::jiff::Timestamp>() else {
        return "<unknown>".to_owned();
    };
    let secs = k8s_openapi::jiff::Timestamp::now()
        .duration_since(then)
        .as_secs()
        .max(0);
    match secs {
        0..120 => format!("{secs}s"),
        120..7_200 => format!("{}m", secs / 60),
        7_200..172_800 => format!("{}h", secs / 3_600),
        _ => format!("{}d", secs / 86_400),
    }
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len() => {
                match u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or_default(), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One page of a list (`limit`, `continue`), as the API server pages: every page of a list
/// carries the first page's resourceVersion, so a watch started after the last page sees
/// every change made while the pages were read (some twice, which watchers tolerate). The
/// continue token is the first page's version and the last name served, in hex.
struct Page {
    version: u64,
    limit: Option<usize>,
    after: Option<String>,
}

impl Page {
    fn of(req: &Req<'_>, current: u64) -> Result<Page, ApiError> {
        let limit = req
            .query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let Some(token) = req.query.get("continue").filter(|t| !t.is_empty()) else {
            return Ok(Page {
                version: current,
                limit,
                after: None,
            });
        };
        let expired = ApiError::expired_continue;
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(expired)?;
        let text = String::from_utf8(bytes).map_err(|_| expired())?;
        let (version, after) = text.split_once('|').ok_or_else(expired)?;
        Ok(Page {
            version: version.parse().map_err(|_| expired())?,
            limit,
            after: Some(after.to_owned()),
        })
    }

    /// The items of this page, and the token and count of what is left.
    fn cut(&self, items: Vec<Value>) -> (Vec<Value>, Option<(String, usize)>) {
        let key = |o: &Value| {
            format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        };
        let mut items: Vec<(String, Value)> = items.into_iter().map(|o| (key(&o), o)).collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(after) = &self.after {
            items.retain(|(k, _)| k > after);
        }
        let Some(limit) = self.limit.filter(|l| *l < items.len()) else {
            return (items.into_iter().map(|(_, o)| o).collect(), None);
        };
        let remaining = items.len() - limit;
        items.truncate(limit);
        let last = items.last().map(|(k, _)| k.clone()).unwrap_or_default();
        let token: String = format!("{}|{last}", self.version)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        (
            items.into_iter().map(|(_, o)| o).collect(),
            Some((token, remaining)),
        )
    }
}
