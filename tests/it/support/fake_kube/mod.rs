//! A fake Kubernetes API server over real HTTP, for the real `kube` client and the real
//! `kubectl`: discovery (with CRDs registered at runtime), CRUD with metav1.Status errors,
//! the status subresource, merge and apply patches, ownerReference cascade, list and watch
//! with resourceVersions, and fault injection.
//!
//! Not yet: OpenAPI schemas (the documents only let kubectl hand validation to the server,
//! which does not validate), managedFields and apply conflicts, strategic merge (read as a
//! JSON merge patch), deleteCollection,
//! set-based label selectors, finalizers and graceful deletion, log streaming (`follow`).
//! Lists are paged (`limit`, `continue`) as the API server pages them.

mod api;
mod kubelet;
pub mod rbac;
mod status;
mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use kubelet::PodScript;
use rbac::{Attributes, Grant, Rbac};
pub use status::ApiError;
use store::Store;

/// Switches a test flips to make the API server misbehave. All off by default.
#[derive(Debug)]
pub struct Faults {
    /// Percentage (0..=100) of requests answered with `error_code` instead.
    pub error_percent: AtomicU32,
    /// 500 (InternalError) or 503 (ServiceUnavailable, which the kube client retries).
    pub error_code: AtomicU16,
    /// Added to every request.
    pub latency_ms: AtomicU64,
    /// A watch ends after sending this many events (0: never).
    pub drop_watch_after: AtomicU64,
    /// A ResourceQuota of this many pods in every namespace (0: none): a pod made past it
    /// is refused 403 `exceeded quota`, as Kubernetes' quota admission refuses it. Pods
    /// that succeeded or failed do not count, as they do not for a quota.
    pub pod_quota: AtomicU64,
    /// How many requests got an injected error.
    pub injected: AtomicU64,
    requests: AtomicU64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            error_percent: AtomicU32::new(0),
            error_code: AtomicU16::new(500),
            latency_ms: AtomicU64::new(0),
            drop_watch_after: AtomicU64::new(0),
            pod_quota: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }
}

impl Faults {
    /// Whether this request fails: each one with probability `error_percent`, drawn from a
    /// fixed pseudo-random sequence (so a run is reproducible, and failures come in runs
    /// and gaps as they do in life rather than in a strict stripe).
    fn roll(&self) -> Option<ApiError> {
        let percent = u64::from(self.error_percent.load(Relaxed).min(100));
        if percent == 0 {
            return None;
        }
        let n = self.requests.fetch_add(1, Relaxed);
        if splitmix64(n) % 100 < percent {
            self.injected.fetch_add(1, Relaxed);
            Some(ApiError::injected(self.error_code.load(Relaxed)))
        } else {
            None
        }
    }
}

/// SplitMix64: a well-mixed 64-bit hash of a counter.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Shared {
    store: Mutex<Store>,
    faults: Arc<Faults>,
    addr: SocketAddr,
    /// `METHOD URI CONTENT-TYPE` of every request, in order.
    log: Mutex<Vec<String>>,
    /// What each started pod logs, by (namespace, name).
    logs: Mutex<HashMap<(String, String), String>>,
    /// The user each bearer token authenticates as.
    tokens: Mutex<HashMap<String, String>>,
    /// The RBAC rules users are held to, once loaded.
    rbac: Mutex<Option<Rbac>>,
    /// Namespaces that do not exist: nothing can be created in them.
    missing_namespaces: Mutex<Vec<String>>,
}

/// A running fake; stops accepting connections when dropped.
pub struct FakeKube {
    pub addr: SocketAddr,
    pub faults: Arc<Faults>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    kubelet: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FakeKube {
    /// Starts the fake on `127.0.0.1`, on a free port.
    pub async fn start() -> FakeKube {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server");
        let addr = listener.local_addr().expect("local address");
        let faults = Arc::new(Faults::default());
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            faults: faults.clone(),
            addr,
            log: Mutex::new(Vec::new()),
            logs: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            rbac: Mutex::new(None),
            missing_namespaces: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(api::handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the fake API server");
        });
        FakeKube {
            addr,
            faults,
            shared,
            server,
            kubelet: Mutex::new(None),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A real kube client talking to the fake over TCP, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url().parse().expect("the fake's URL"));
        kube::Client::try_from(config).expect("a kube client")
    }

    /// A token that authenticates as the ServiceAccount `namespace/name`.
    pub fn token_for(&self, namespace: &str, name: &str) -> String {
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let token = format!("fake-token-{namespace}-{name}");
        self.shared
            .tokens
            .lock()
            .expect("fake kube tokens")
            .insert(token.clone(), user);
        token
    }

    /// A real kube client that authenticates as the ServiceAccount `namespace/name`, and so
    /// is held to its RBAC rules once [`FakeKube::enforce_rbac`] loads them.
    pub fn client_as(&self, namespace: &str, name: &str) -> kube::Client {
        let mut config = kube::Config::new(self.url().parse().expect("the fake's URL"));
        config.auth_info.token = Some(self.token_for(namespace, name).into());
        kube::Client::try_from(config).expect("a kube client")
    }

    /// From now on every request with a token is authorised by the RBAC objects in `yaml`
    /// (a manifest such as deploy/base/rbac.yaml), as the API server's RBAC authorizer does.
    pub fn enforce_rbac(&self, yaml: &str) {
        *self.shared.rbac.lock().expect("fake kube rbac") = Some(Rbac::from_yaml(yaml));
    }

    /// The requests of users RBAC refused so far.
    pub fn refused(&self) -> Vec<Attributes> {
        let rbac = self.shared.rbac.lock().expect("fake kube rbac");
        rbac.as_ref().map(|r| r.refused.clone()).unwrap_or_default()
    }

    /// The grants `user`'s requests used so far.
    pub fn used_grants(&self, user: &str) -> std::collections::BTreeSet<Grant> {
        let rbac = self.shared.rbac.lock().expect("fake kube rbac");
        rbac.iter()
            .flat_map(|r| r.allowed.iter())
            .filter(|a| a.user == user)
            .map(Attributes::grant)
            .collect()
    }

    /// Every grant the loaded rules give `user` in `namespaces`.
    pub fn granted(&self, user: &str, namespaces: &[&str]) -> std::collections::BTreeSet<Grant> {
        let rbac = self.shared.rbac.lock().expect("fake kube rbac");
        rbac.as_ref()
            .map(|r| r.grants_of(user, namespaces))
            .unwrap_or_default()
    }

    /// From now on `namespace` does not exist: creating anything in it is answered as the
    /// API server answers, 404 `namespaces "NAME" not found`. (Every other namespace
    /// exists.)
    pub fn without_namespace(&self, namespace: &str) {
        self.shared
            .missing_namespaces
            .lock()
            .expect("fake kube namespaces")
            .push(namespace.to_owned());
    }

    /// Writes a kubeconfig pointing at the fake into `dir`, returning its path.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// The stored object, as JSON (`group` is empty for the core API).
    pub fn object(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let store = self.shared.store.lock().expect("fake kube store");
        let res = store.resource(group, version, resource)?;
        store.get(&res, namespace, name).ok()
    }

    /// How many stored objects of a resource satisfy `which`, without copying any (cheap
    /// enough to poll while thousands of objects change).
    pub fn count(
        &self,
        (group, version, resource): (&str, &str, &str),
        which: impl Fn(&Value) -> bool,
    ) -> usize {
        let store = self.shared.store.lock().expect("fake kube store");
        let Some(res) = store.resource(group, version, resource) else {
            return 0;
        };
        store
            .objects
            .iter()
            .filter(|((gvr, _, _), object)| *gvr == res.gvr && which(object))
            .count()
    }

    /// How many requests it has answered so far.
    pub fn request_count(&self) -> usize {
        self.shared.log.lock().expect("fake kube log").len()
    }

    /// Every request so far, as `METHOD URI CONTENT-TYPE` (`-` when there is none).
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().expect("fake kube log").clone()
    }

    /// The writes among the requests since the `from`th (creates, replaces, patches,
    /// deletes), as `METHOD /path/{namespace}/{name} KIND`: namespace and object names
    /// templated, the query dropped, a patch's kind (`apply`, `merge`, `json`,
    /// `strategic`) named.
    pub fn writes_since(&self, from: usize) -> Vec<String> {
        self.requests()
            .iter()
            .skip(from)
            .filter(|r| !r.starts_with("GET ") && !r.starts_with("HEAD "))
            .map(|r| {
                let mut parts = r.splitn(3, ' ');
                let method = parts.next().unwrap_or_default();
                let uri = parts.next().unwrap_or_default();
                let content_type = parts.next().unwrap_or("-");
                let path = uri.split('?').next().unwrap_or(uri);
                let mut segments: Vec<String> = path.split('/').map(str::to_owned).collect();
                if let Some(i) = segments.iter().position(|s| s == "namespaces") {
                    if let Some(ns) = segments.get_mut(i + 1) {
                        *ns = "{namespace}".into();
                    }
                    if let Some(name) = segments.get_mut(i + 3) {
                        *name = "{name}".into();
                    }
                }
                let kind = match content_type {
                    "application/apply-patch+yaml" => " apply",
                    "application/merge-patch+json" => " merge",
                    "application/json-patch+json" => " json",
                    "application/strategic-merge-patch+json" => " strategic",
                    _ => "",
                };
                format!("{method} {}{kind}", segments.join("/"))
            })
            .collect()
    }

    /// Starts the simulated kubelet: from now on every pod (and every pod not yet started)
    /// moves Pending → Running → Succeeded/Failed as `script` decides from the pod, and
    /// every Job runs one pod from its template and ends with it.
    pub fn run_kubelet(&self, script: impl Fn(&Value) -> PodScript + Send + Sync + 'static) {
        let task = tokio::spawn(kubelet::run(self.shared.clone(), Arc::new(script)));
        if let Some(old) = self.kubelet.lock().expect("kubelet").replace(task) {
            old.abort();
        }
    }

    /// The name of the pod the Job controller made for Job `job` (its name is generated, as
    /// Kubernetes generates it), once there is one.
    pub fn job_pod(&self, namespace: &str, job: &str) -> Option<String> {
        let store = self.shared.store.lock().expect("fake kube store");
        let res = store.resource("", "v1", "pods")?;
        store
            .objects
            .iter()
            .find(|((gvr, ns, _), pod)| {
                *gvr == res.gvr
                    && ns == namespace
                    && pod.pointer("/metadata/labels/batch.kubernetes.io~1job-name")
                        == Some(&Value::from(job))
            })
            .map(|((_, _, name), _)| name.clone())
    }

    /// Ends a pod the script kept running; false when there is no such pod.
    pub fn finish_pod(&self, namespace: &str, name: &str, outcome: &PodScript) -> bool {
        kubelet::finish(&self.shared, namespace, name, outcome)
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().expect("fake kube store").rv
    }

    /// Forgets the watch history, as etcd compaction does: a watch resuming from an earlier
    /// resourceVersion gets `410 Gone`.
    pub fn compact(&self) {
        self.shared.store.lock().expect("fake kube store").compact();
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(kubelet) = self.kubelet.lock().expect("kubelet").take() {
            kubelet.abort();
        }
    }
}
