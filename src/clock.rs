//! The clock, injected: what time it is and how to wait. The service runs on
//! [`SystemClock`]; tests hold a [`ManualClock`] that moves only when told to, so
//! timeouts, TTLs, token expiry and rate-limit waits happen when the test says.
//!
//! One clock for every side: the controller, the intake's launcher, the lease and the
//! GitHub client all take an `Arc<dyn Clock>`.
//!
//! Time is a jiff [`Timestamp`], the type Kubernetes objects carry; code that keeps
//! [`SystemTime`](std::time::SystemTime) (the GitHub client) converts with `.into()`,
//! which cannot fail (the other way round can).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What time it is, and waiting.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Waits (backoff, rate limits). A test clock may just move its time forward.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system's wall clock; sleeping is tokio's.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when told to (tests, simulations). Sleeping does not wait:
/// it moves the time forward at once and is recorded (see [`ManualClock::slept`]).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
    slept: Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        *now = now.saturating_add(by).unwrap_or(*now);
    }

    /// Every sleep asked of this clock, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.slept.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        self.advance(d);
        Box::pin(std::future::ready(()))
    }
}
