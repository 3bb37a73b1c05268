//! Whether GitHub answers, checked in the background (review 12v, R28: the service's, as
//! it asks through the GitHub client; the probes' machinery, [`Readiness`], is
//! `ports::probe`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;

use crate::github_client::{GithubClient, GithubError};
use crate::ports::probe::{NotReady, PROBE_TIMEOUT, Readiness};

/// Whether GitHub answers: asks through `client` now and every `every` whether it
/// answers and takes our credentials ([`GithubClient::ping`]). This is not readiness: a
/// replica that cannot reach GitHub still takes deliveries (what needs GitHub's answer
/// waits for it), so GitHub's health is the gauge `up` (1 or 0) and a log line when it
/// changes: a WARN with the reason when GitHub stops answering, an INFO when it is back.
pub fn github(client: Arc<GithubClient>, every: Duration, up: Gauge) -> Readiness {
    let readiness = Readiness::not_yet("GitHub was not asked yet");
    let last: Mutex<Option<bool>> = Mutex::new(None);
    readiness.spawn_observed(
        every,
        PROBE_TIMEOUT,
        "GitHub",
        move || {
            let client = client.clone();
            async move { github_verdict(client.ping().await) }
        },
        move |verdict| {
            let now = verdict.is_ok();
            up.set(i64::from(now));
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if *last != Some(now) {
                match verdict {
                    Ok(()) if last.is_some() => tracing::info!("GitHub answers again"),
                    Ok(()) => tracing::info!("GitHub answers and takes our credentials"),
                    Err(why) => tracing::warn!(
                        "{why}; deliveries are still taken, and those that need GitHub's answer wait for it"
                    ),
                }
                *last = Some(now);
            }
        },
    );
    readiness
}

/// What `/readyz` says of one answer to [`GithubClient::ping`]. Errors name the call and
/// GitHub's message, never a credential.
pub fn github_verdict(answer: Result<(), GithubError>) -> Result<(), NotReady> {
    let why = match answer {
        Ok(()) => return Ok(()),
        Err(GithubError::Unauthorized { what }) => {
            format!("GitHub refused our credentials (401 to {what})")
        }
        Err(GithubError::Forbidden { what, message }) => {
            format!("GitHub refused our credentials (403 to {what}: {message})")
        }
        Err(
            e @ (GithubError::Config(_)
            | GithubError::KeyUnreadable { .. }
            | GithubError::KeyInvalid { .. }
            | GithubError::Client { .. }),
        ) => format!("cannot ask GitHub: {}", crate::text::with_causes(&e)),
        Err(e) => format!("GitHub unreachable: {}", crate::text::with_causes(&e)),
    };
    Err(NotReady::from(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_names_the_refusal_or_the_fault() {
        let refused = github_verdict(Err(GithubError::Unauthorized {
            what: "GET /app".into(),
        }));
        assert_eq!(
            refused,
            Err("GitHub refused our credentials (401 to GET /app)".into())
        );
        let down = github_verdict(Err(GithubError::Server {
            status: 502,
            what: "GET /rate_limit".into(),
        }));
        assert_eq!(
            down,
            Err("GitHub unreachable: GitHub failed GET /rate_limit (502)".into())
        );
        let far = github_verdict(Err(GithubError::Transport {
            root: "https://ghe.example/api/v3".into(),
            what: "GET /rate_limit".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
        }));
        assert_eq!(
            far,
            Err(
                "GitHub unreachable: could not reach GitHub at https://ghe.example/api/v3 (GET \
                 /rate_limit): connection refused"
                    .into()
            )
        );
        assert_eq!(github_verdict(Ok(())), Ok(()));
    }
}
