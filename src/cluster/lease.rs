//! Leader election through a coordination.k8s.io Lease, so several replicas can run: all
//! of them take webhooks, one of them runs the controller.
//!
//! The leader renews the Lease every `renew_every`; another replica takes it over once it
//! has not been renewed for `duration`. Every write carries the resourceVersion it read,
//! so two replicas racing for an expired Lease cannot both win.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

use crate::clock::Clock;

#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Where the Lease lives (the service's own namespace).
    pub namespace: String,
    pub name: String,
    /// This replica (its pod name).
    pub identity: String,
    /// How long a Lease not renewed still holds.
    pub duration: Duration,
    /// How often the leader renews, and others look.
    pub renew_every: Duration,
}

impl LeaseOptions {
    pub fn new(namespace: &str, identity: &str) -> LeaseOptions {
        LeaseOptions {
            namespace: namespace.into(),
            name: "agentpods-controller".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }
}

/// What one look at the Lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    ByUs,
    By(String),
}

/// Takes or renews the Lease if it is ours to take; says who holds it.
pub async fn try_acquire(
    api: &Api<Lease>,
    options: &LeaseOptions,
    now: Timestamp,
) -> Result<Held, kube::Error> {
    let duration_secs = i32::try_from(options.duration.as_secs()).unwrap_or(i32::MAX);
    let ours = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(options.identity.clone()),
        lease_duration_seconds: Some(duration_secs),
        acquire_time: acquired.or(Some(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    let Some(mut lease) = api.get_opt(&options.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(options.name.clone()),
                namespace: Some(options.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(ours(0, None)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Held::ByUs),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Held::By("another replica".into())),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let transitions = spec.lease_transitions.unwrap_or(0);
    let next = if holder == options.identity {
        ours(transitions, spec.acquire_time.clone())
    } else {
        let held_for = SignedDuration::from_secs(i64::from(
            spec.lease_duration_seconds.unwrap_or(duration_secs),
        ));
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let expired = renewed
            .and_then(|t| t.checked_add(held_for).ok())
            .is_none_or(|until| now >= until);
        if !holder.is_empty() && !expired {
            return Ok(Held::By(holder));
        }
        ours(transitions + 1, None)
    };
    lease.spec = Some(next);
    match api
        .replace(&options.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(Held::ByUs),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Held::By("another replica".into())),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up (on shutdown), so another replica need not wait for it to expire.
pub async fn release(api: &Api<Lease>, options: &LeaseOptions) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&options.name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(options.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    api.replace(&options.name, &PostParams::default(), &lease)
        .await
        .map(|_| ())
}

/// Runs `work` while this replica holds the Lease: started when it is won, stopped (its
/// stop signal completes) when it is lost, and the Lease released once `shutdown`
/// completes. Returns after shutdown.
pub async fn lead<W, F>(
    client: Client,
    options: LeaseOptions,
    clock: Arc<dyn Clock>,
    leading: Gauge,
    work: W,
    shutdown: impl Future<Output = ()> + Send,
) where
    W: Fn(watch::Receiver<bool>) -> F + Send,
    F: Future<Output = ()> + Send + 'static,
{
    let api: Api<Lease> = Api::namespaced(client, &options.namespace);
    let mut running: Option<(tokio::task::JoinHandle<()>, watch::Sender<bool>)> = None;
    let mut renewed = Timestamp::MIN;
    let held_for = SignedDuration::try_from(options.duration).unwrap_or(SignedDuration::MAX);
    let mut cannot = Unheard::default();
    leading.set(0);
    tokio::pin!(shutdown);
    loop {
        let now = clock.now();
        let held = try_acquire(&api, &options, now).await;
        if matches!(held, Ok(Held::ByUs)) {
            renewed = now;
        }
        match (&held, running.is_some()) {
            (Ok(Held::ByUs), false) => {
                cannot.heard();
                tracing::info!(identity = %options.identity, lease = %options.name, "leading: the controller starts");
                let (stop, stopped) = watch::channel(false);
                running = Some((tokio::spawn(work(stopped)), stop));
                leading.set(1);
            }
            (Ok(Held::By(other)), true) => {
                tracing::warn!(holder = %other, "leadership lost: the controller stops");
                stop(running.take()).await;
                leading.set(0);
            }
            (Ok(Held::By(_)), false) => cannot.heard(),
            (Err(e), true) => {
                // Unable to renew: keep leading until the Lease expires for the others,
                // then stop, so that two controllers never run at once.
                tracing::warn!("cannot renew the Lease: {}", crate::text::with_causes(e));
                if renewed
                    .checked_add(held_for)
                    .is_ok_and(|until| now >= until)
                {
                    tracing::warn!("the Lease has expired unrenewed: the controller stops");
                    stop(running.take()).await;
                    leading.set(0);
                }
            }
            (Err(e), false) => cannot.failed(&options, e, now),
            _ => {}
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(options.renew_every) => {}
        }
    }
    if running.is_some() {
        stop(running.take()).await;
        leading.set(0);
        if let Err(e) = release(&api, &options).await {
            tracing::debug!("cannot release the Lease: {}", crate::text::with_causes(&e));
        }
    }
}

/// How often the same reason a replica cannot take the Lease is said again.
const SAY_AGAIN_EVERY: SignedDuration = SignedDuration::from_mins(5);

/// What was last said about failing to take the Lease, so that it is said loudly at once,
/// again when the reason changes, and every few minutes while it lasts; not every renewal.
#[derive(Default)]
struct Unheard {
    said: Option<(String, Timestamp)>,
}

impl Unheard {
    fn failed(&mut self, options: &LeaseOptions, error: &kube::Error, now: Timestamp) {
        let why = cannot_take(options, error);
        let again = match &self.said {
            Some((said, at)) => {
                *said != why || at.checked_add(SAY_AGAIN_EVERY).is_ok_and(|due| now >= due)
            }
            None => true,
        };
        if again {
            tracing::warn!("{why}");
            self.said = Some((why, now));
        }
    }

    /// The Lease answered: say so if a failure was said.
    fn heard(&mut self) {
        if self.said.take().is_some() {
            tracing::info!("the Lease answers again");
        }
    }
}

/// Why this replica cannot take the Lease, and what to do, in words an operator acts on.
fn cannot_take(options: &LeaseOptions, error: &kube::Error) -> String {
    let ns = &options.namespace;
    let reason = match error {
        kube::Error::Api(e) if e.code == 404 => {
            format!("the namespace {ns} does not exist ({})", e.message)
        }
        kube::Error::Api(e) if e.code == 403 => format!(
            "the service may not use Leases in namespace {ns} (its Role, deploy/base/rbac.yaml, grants them in its own namespace): {}",
            e.message
        ),
        // Not an answer from the API server: the namespace is not to blame. The probe of
        // the API server says what was tried and what to check.
        e @ (kube::Error::Service(_) | kube::Error::HyperError(_)) => {
            return format!(
                "cannot take the Lease {name} in namespace {ns} yet: the Kubernetes API server \
                 does not answer ({}); this replica will lead when it does",
                crate::cluster::launch::unreachable_why(e),
                name = options.name
            );
        }
        e => e.to_string(),
    };
    format!(
        "cannot take the Lease {name} in namespace {ns}, so this replica will not run the controller \
         (AgentRuns are recorded, but none is started until some replica leads): {reason}. \
         Set --lease-namespace (or POD_NAMESPACE) to the service's own namespace",
        name = options.name
    )
}

async fn stop(running: Option<(tokio::task::JoinHandle<()>, watch::Sender<bool>)>) {
    if let Some((task, stop)) = running {
        let _ = stop.send(true);
        let _ = task.await;
    }
}
