//! The catch-up of failed webhook deliveries against the fake GitHub, whose delivery list
//! records every attempt as GitHub's does (a redelivery is a new attempt with the same
//! guid and the status our endpoint answered): what we refused is never asked for again,
//! what failed on our side is asked for a bounded number of times with growing gaps, also
//! across a restart, and what then succeeds is left alone.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentpods::clock::{Clock, ManualClock};
use agentpods::github_client::{ClientConfig, Credentials, GithubClient, Secret};
use agentpods::serve::catch_up::{Backoff, CatchUp};
use support::fake_github::{APP_ID, APP_KEY_PEM, FakeGithub, manual_clock};
use support::server::within;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// How often the leader runs a pass.
const EVERY: Duration = Duration::from_secs(10 * 60);

fn app_client(fake: &FakeGithub, clock: &Arc<ManualClock>) -> GithubClient {
    let mut config = ClientConfig::new(Credentials::App {
        app_id: APP_ID,
        private_key_pem: Secret::new(APP_KEY_PEM),
    });
    config.base_url = fake.url();
    GithubClient::new(config, clock.clone()).expect("an App client")
}

fn now(clock: &Arc<ManualClock>) -> SystemTime {
    clock.now().into()
}

/// One process of the service: its GitHub client and what its catch-up remembers.
struct Leader {
    client: GithubClient,
    catch_up: CatchUp,
}

impl Leader {
    fn start(fake: &FakeGithub, clock: &Arc<ManualClock>) -> Leader {
        Leader {
            client: app_client(fake, clock),
            catch_up: CatchUp::new(Backoff::default()),
        }
    }

    /// One catch-up pass, now.
    async fn pass(&mut self, clock: &Arc<ManualClock>) {
        self.catch_up
            .pass(&self.client, now(clock))
            .await
            .expect("a catch-up pass");
    }

    /// Passes every ten minutes for `how_long`, the clock moving on between them.
    async fn passes_for(&mut self, clock: &Arc<ManualClock>, how_long: Duration) {
        let mut passed = Duration::ZERO;
        while passed < how_long {
            self.pass(clock).await;
            clock.advance(EVERY);
            passed += EVERY;
        }
    }
}

/// The gaps between consecutive times.
fn gaps(times: &[SystemTime]) -> Vec<Duration> {
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).expect("in order"))
        .collect()
}

#[tokio::test]
async fn a_delivery_we_refused_with_a_4xx_is_never_asked_for_again() {
    within(60, async {
        let clock = manual_clock();
        let fake = FakeGithub::start(clock.clone()).await;
        fake.add_delivery("malformed", "issues", 400, MINUTE);
        fake.add_delivery("forged", "pull_request", 401, 2 * MINUTE);
        fake.add_delivery("too-large", "push", 413, 3 * MINUTE);
        let mut leader = Leader::start(&fake, &clock);
        leader.passes_for(&clock, HOUR).await;
        // A restart reads GitHub's record afresh: still nothing.
        let mut next = Leader::start(&fake, &clock);
        next.passes_for(&clock, HOUR / 2).await;
        assert_eq!(fake.with(|m| m.redelivered.clone()), Vec::<u64>::new());
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_on_our_side_is_asked_for_a_bounded_number_of_times_with_growing_gaps_across_a_restart()
 {
    within(120, async {
        let clock = manual_clock();
        let fake = FakeGithub::start(clock.clone()).await;
        // One we answered 500 every time (a deterministic failure), one GitHub never got
        // an answer for (status 0), and 503 when it was busy.
        fake.add_delivery("broken", "pull_request", 500, MINUTE);
        fake.answer_redeliveries("broken", &[500]);
        fake.add_delivery("unreachable", "issue_comment", 0, MINUTE);
        fake.answer_redeliveries("unreachable", &[0, 503]);

        // An hour of passes, a restart (a new process: nothing kept but what GitHub
        // lists), then five hours more: past the last redelivery due (2 h 40 min after
        // the first attempt).
        assert_eq!(Backoff::default().max_redeliveries, 5);
        let mut leader = Leader::start(&fake, &clock);
        leader.passes_for(&clock, HOUR).await;
        let before_restart = fake.redeliveries_of("broken").len();
        assert!(before_restart >= 1, "asked for again before the restart");
        drop(leader);
        let mut next = Leader::start(&fake, &clock);
        next.passes_for(&clock, 5 * HOUR).await;

        for guid in ["broken", "unreachable"] {
            let times = fake.redeliveries_of(guid);
            assert_eq!(
                times.len(),
                5,
                "{guid}: asked for again {} times",
                times.len()
            );
            let gaps = gaps(&times);
            assert!(
                gaps.windows(2).all(|g| g[1] > g[0]),
                "{guid}: the gaps do not grow: {gaps:?}"
            );
        }
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_delivery_that_succeeds_when_asked_again_is_left_alone() {
    within(60, async {
        let clock = manual_clock();
        let fake = FakeGithub::start(clock.clone()).await;
        fake.add_delivery("flaky", "pull_request", 502, MINUTE);
        fake.answer_redeliveries("flaky", &[503, 202]);
        let mut leader = Leader::start(&fake, &clock);
        leader.passes_for(&clock, 2 * HOUR).await;
        let mut next = Leader::start(&fake, &clock);
        next.passes_for(&clock, HOUR / 2).await;
        assert_eq!(fake.redeliveries_of("flaky").len(), 2);
        assert_eq!(fake.violations(), Vec::<String>::new());
    })
    .await;
}
