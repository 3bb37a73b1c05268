//! Background checks of the service's dependencies. Each (the Kubernetes API server,
//! GitHub) is asked at startup and every few seconds after, and the last verdict kept, so
//! nothing that reads it waits on the network. `/readyz` reads the API server's; GitHub's
//! is a metric and a log line (`serve::probe::github`).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the background checks ask.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);

/// How long a check waits for an answer before it calls the dependency unreachable (the
/// clients' own timeouts are longer, made for calls that must go through: kube's reads
/// wait up to 295 s, and a hung API server must not leave the last "ready" standing).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a dependency is not ready, in words for `/readyz` and the log. Words, not the
/// error that caused it: a verdict is kept and shared between the check and every reader
/// (`Clone`, which kube's and the GitHub client's errors are not), and says what was
/// tried with the causes already in it (`unreachable_why`, [`github_verdict`], which
/// leaves out anything secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(String);

impl From<String> for NotReady {
    fn from(why: String) -> NotReady {
        NotReady(why)
    }
}

impl From<&str> for NotReady {
    fn from(why: &str) -> NotReady {
        NotReady(why.to_owned())
    }
}

/// The last verdict of a background check: ready, or why not. Clones share it; the check
/// stops once every clone is gone.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<Mutex<Result<(), NotReady>>>);

impl Readiness {
    /// Not ready, for `why`, until a check says otherwise.
    pub fn not_yet(why: impl Into<NotReady>) -> Readiness {
        Readiness(Arc::new(Mutex::new(Err(why.into()))))
    }

    /// The last verdict.
    pub fn verdict(&self) -> Result<(), NotReady> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs `check` now and then every `every`, keeping each verdict, until every clone of
    /// this readiness is dropped. A check that takes longer than `within` counts as
    /// "`unanswered` did not answer within …".
    pub fn spawn<C, F>(
        &self,
        every: Duration,
        within: Duration,
        unanswered: &'static str,
        check: C,
    ) -> tokio::task::JoinHandle<()>
    where
        C: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), NotReady>> + Send + 'static,
    {
        self.spawn_observed(every, within, unanswered, check, |_| {})
    }

    /// The same, showing each verdict to `observe` as it is kept.
    pub fn spawn_observed<C, F, O>(
        &self,
        every: Duration,
        within: Duration,
        unanswered: &'static str,
        check: C,
        observe: O,
    ) -> tokio::task::JoinHandle<()>
    where
        C: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), NotReady>> + Send + 'static,
        O: Fn(&Result<(), NotReady>) + Send + 'static,
    {
        let verdict = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                let answer = tokio::time::timeout(within, check())
                    .await
                    .unwrap_or_else(|_| {
                        Err(NotReady(format!(
                            "{unanswered} did not answer within {} s",
                            within.as_secs_f64()
                        )))
                    });
                let Some(verdict) = verdict.upgrade() else {
                    return;
                };
                observe(&answer);
                *verdict.lock().unwrap_or_else(|e| e.into_inner()) = answer;
                drop(verdict);
                tokio::time::sleep(every).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (in real time, briefly) until `readiness` says `want`.
    async fn until(readiness: &Readiness, want: Result<(), NotReady>) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while readiness.verdict() != want {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {want:?}; last {:?}", readiness.verdict()));
    }

    /// A dependency that hangs is not ready: the last "ready" does not stand while the
    /// check waits.
    #[tokio::test]
    async fn a_check_that_hangs_is_a_failure_after_its_time() {
        let hang = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readiness = Readiness::not_yet("not asked");
        let hangs = hang.clone();
        let _task = readiness.spawn(
            Duration::from_millis(5),
            Duration::from_millis(50),
            "the API server",
            move || {
                let hanging = hangs.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if hanging {
                        std::future::pending::<()>().await;
                    }
                    Ok(())
                }
            },
        );
        until(&readiness, Ok(())).await;
        hang.store(true, std::sync::atomic::Ordering::SeqCst);
        until(
            &readiness,
            Err("the API server did not answer within 0.05 s".into()),
        )
        .await;
    }

    #[tokio::test]
    async fn a_check_runs_at_once_then_again_and_stops_with_its_readiness() {
        let answer = Arc::new(Mutex::new(Ok(())));
        let readiness = Readiness::not_yet("not asked");
        assert_eq!(readiness.verdict(), Err("not asked".into()));
        let says = answer.clone();
        let task = readiness.spawn(
            Duration::from_millis(5),
            Duration::from_secs(10),
            "the test",
            move || {
                let said = says.lock().expect("answer").clone();
                async move { said }
            },
        );
        until(&readiness, Ok(())).await;
        *answer.lock().expect("answer") = Err("down".into());
        until(&readiness, Err("down".into())).await;
        *answer.lock().expect("answer") = Ok(());
        until(&readiness, Ok(())).await;
        drop(readiness);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the check stops once its readiness is gone")
            .expect("the check's task");
    }
}
