//! Catch-up: GitHub never retries a failed webhook delivery, so the leader asks it to
//! deliver again those that failed on our side, a bounded number of times, with backoff.
//!
//! What to ask for again is read from GitHub's own record of the App's deliveries
//! (`GET /app/hook/deliveries`): every attempt is listed, a redelivery as a new attempt
//! with the delivery's `guid` and the status our endpoint answered. So a delivery's
//! history (how often it was tried, when last, how it was answered) survives any restart
//! of ours without storage of our own. A new leader reads the last three days (as far
//! back as GitHub redelivers) and learns every delivery's history; later passes read back
//! to the previous pass and add what is new to what this process has learnt. Per
//! delivery ([`verdict`]):
//!
//! - any attempt answered 2xx: delivered, nothing to do;
//! - the latest attempt answered 4xx (but 408 and 429): we refused it (a bad signature, a
//!   malformed body, too large) and would again: never asked for again;
//! - otherwise (5xx, or no answer: status 0) it is asked for again once the latest attempt
//!   is [`Backoff::gap`] old (5, 10, 20, 40, 80 minutes), at most
//!   [`Backoff::max_redeliveries`] (5) times, counting every redelivery GitHub lists
//!   (ours, an earlier leader's, or one made by hand);
//! - a delivery whose first attempt was not read (older than what was read: a pass cut
//!   short, or a redelivery of something older) cannot be counted and is left alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::github_client::{GithubClient, GithubError, HookDelivery};

/// How often the leader runs a pass.
pub const EVERY: Duration = Duration::from_secs(10 * 60);
/// How far back a catch-up looks at most, and on a new leader's first pass: GitHub
/// redelivers nothing older than three days.
pub const WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);
/// A later pass looks back to the start of the last one that went through, and this much
/// further (deliveries GitHub lists a little late).
pub const OVERLAP: Duration = Duration::from_secs(5 * 60);
/// At most this many pages of 100 deliveries are read per pass.
pub const MAX_PAGES: u32 = 30;

/// How often, and how far apart, a delivery that failed on our side is asked for again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub max_redeliveries: u32,
    /// The gap after the first attempt; each later one doubles it.
    pub first_gap: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            max_redeliveries: 5,
            first_gap: Duration::from_secs(5 * 60),
        }
    }
}

impl Backoff {
    /// How long after the latest attempt the next redelivery is due, `redeliveries` having
    /// been made.
    pub fn gap(&self, redeliveries: u32) -> Duration {
        self.first_gap
            .saturating_mul(1u32.checked_shl(redeliveries).unwrap_or(u32::MAX))
    }
}

/// Whether a status our endpoint answered means it would answer the same again.
pub fn refused_for_good(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// One attempt of a delivery, as GitHub lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempt {
    at: SystemTime,
    redelivery: bool,
    status: u16,
}

/// What is known of one delivery: its attempts by id, and when this process asked for it
/// again (GitHub may list the new attempt a little later).
#[derive(Debug, Clone, Default)]
struct History {
    attempts: BTreeMap<u64, Attempt>,
    asked: Vec<SystemTime>,
    /// Whether giving up on it was logged.
    reported: bool,
}

/// What to do about one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// An attempt was answered 2xx.
    Delivered,
    /// We answered its latest attempt with this 4xx: never asked for again.
    Refused(u16),
    /// Its first attempt was not read: how often it was tried is unknown.
    Unknown,
    /// Asked for again as often as allowed.
    GaveUp { redeliveries: u32 },
    /// Due again at this time.
    Waiting { until: SystemTime },
    /// Due now: ask for this attempt again.
    Redeliver { attempt: u64 },
}

fn verdict(history: &History, now: SystemTime, backoff: &Backoff) -> DeliveryState {
    let attempts = &history.attempts;
    if attempts.values().any(|a| (200..300).contains(&a.status)) {
        return DeliveryState::Delivered;
    }
    let Some((&latest_id, latest)) = attempts.iter().max_by_key(|(id, a)| (a.at, **id)) else {
        return DeliveryState::Unknown;
    };
    if refused_for_good(latest.status) {
        return DeliveryState::Refused(latest.status);
    }
    if !attempts.values().any(|a| !a.redelivery) {
        return DeliveryState::Unknown;
    }
    let listed = attempts.values().filter(|a| a.redelivery).count();
    let redeliveries = u32::try_from(listed.max(history.asked.len())).unwrap_or(u32::MAX);
    if redeliveries >= backoff.max_redeliveries {
        return DeliveryState::GaveUp { redeliveries };
    }
    let last = history
        .asked
        .iter()
        .copied()
        .chain([latest.at])
        .max()
        .unwrap_or(latest.at);
    let until = last + backoff.gap(redeliveries);
    if now >= until {
        DeliveryState::Redeliver { attempt: latest_id }
    } else {
        DeliveryState::Waiting { until }
    }
}

/// How far back a catch-up pass starting `now` looks, the last one that went through
/// having started at `last` (none yet: the whole window).
pub fn window(last: Option<SystemTime>, now: SystemTime) -> Duration {
    last.and_then(|t| now.duration_since(t).ok())
        .map(|since| since + OVERLAP)
        .unwrap_or(WINDOW)
        .min(WINDOW)
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Ids of the attempts asked for again.
    pub redelivered: Vec<u64>,
    /// Deliveries we refused (4xx), left alone.
    pub refused: usize,
    /// Deliveries asked for again as often as allowed.
    pub gave_up: usize,
    /// Deliveries waiting for their next redelivery.
    pub waiting: usize,
}

/// The catch-up of one leader: the deliveries it has read and what it asked for.
#[derive(Debug, Default)]
pub struct CatchUp {
    backoff: Backoff,
    histories: HashMap<String, History>,
    last: Option<SystemTime>,
}

impl CatchUp {
    pub fn new(backoff: Backoff) -> CatchUp {
        CatchUp {
            backoff,
            ..CatchUp::default()
        }
    }

    /// Adds what GitHub listed, and forgets what GitHub no longer redelivers. Only
    /// deliveries that failed somewhere are remembered.
    fn learn(&mut self, deliveries: &[HookDelivery], now: SystemTime) {
        let failed: HashSet<&str> = deliveries
            .iter()
            .filter(|d| !(200..300).contains(&d.status_code))
            .map(|d| d.guid.as_str())
            .collect();
        for d in deliveries {
            if !failed.contains(d.guid.as_str()) && !self.histories.contains_key(&d.guid) {
                continue;
            }
            self.histories
                .entry(d.guid.clone())
                .or_default()
                .attempts
                .insert(
                    d.id,
                    Attempt {
                        at: d.delivered_at,
                        redelivery: d.redelivery,
                        status: d.status_code,
                    },
                );
        }
        let horizon = now.checked_sub(WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
        self.histories.retain(|_, h| {
            h.attempts
                .values()
                .map(|a| a.at)
                .chain(h.asked.iter().copied())
                .max()
                .is_some_and(|t| t >= horizon)
        });
    }

    /// One pass at `now`: reads GitHub's list back to the previous pass (the first: three
    /// days), then asks again for each delivery that is due.
    pub async fn pass(
        &mut self,
        github: &GithubClient,
        now: SystemTime,
    ) -> Result<Pass, GithubError> {
        let since = now
            .checked_sub(window(self.last, now))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let read = github.hook_deliveries(since, MAX_PAGES).await?;
        if read.cut_short {
            tracing::warn!(
                pages = MAX_PAGES,
                "catch-up: more deliveries than {MAX_PAGES} pages hold within the window; older failed ones are not redelivered"
            );
        }
        self.learn(&read.deliveries, now);
        let mut pass = Pass::default();
        let mut guids: Vec<String> = self.histories.keys().cloned().collect();
        guids.sort();
        let mut due = Vec::new();
        for guid in guids {
            let Some(history) = self.histories.get_mut(&guid) else {
                continue;
            };
            match verdict(history, now, &self.backoff) {
                DeliveryState::Redeliver { attempt } => due.push((guid, attempt)),
                DeliveryState::Refused(_) => pass.refused += 1,
                DeliveryState::GaveUp { redeliveries } => {
                    pass.gave_up += 1;
                    if !history.reported {
                        history.reported = true;
                        tracing::warn!(%guid, redeliveries, "catch-up: a delivery still fails on our side after {redeliveries} redeliveries; no more are asked for (see the log for that delivery id, then redeliver it by hand)");
                    }
                }
                DeliveryState::Waiting { .. } => pass.waiting += 1,
                DeliveryState::Delivered | DeliveryState::Unknown => {}
            }
        }
        for (guid, attempt) in due {
            match github.redeliver(attempt).await {
                Ok(()) => {
                    if let Some(history) = self.histories.get_mut(&guid) {
                        history.asked.push(now);
                    }
                    tracing::info!(%guid, "asked GitHub to redeliver a delivery that failed on our side");
                    pass.redelivered.push(attempt);
                }
                Err(e) => {
                    tracing::warn!(%guid, "catch-up: cannot ask GitHub to redeliver: {}", crate::text::with_causes(&e))
                }
            }
        }
        self.last = Some(now);
        Ok(pass)
    }
}

/// Runs a pass on start and every [`EVERY`] until `stop` turns true.
pub async fn run(
    github: Arc<GithubClient>,
    clock: Arc<dyn crate::clock::Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut catch_up = CatchUp::new(Backoff::default());
    loop {
        match catch_up.pass(&github, SystemTime::from(clock.now())).await {
            Ok(pass) => {
                if pass.redelivered.is_empty() {
                    tracing::debug!(?pass, "catch-up: nothing to redeliver");
                } else {
                    tracing::info!(
                        count = pass.redelivered.len(),
                        refused = pass.refused,
                        gave_up = pass.gave_up,
                        waiting = pass.waiting,
                        "catch-up: failed deliveries redelivered"
                    );
                }
            }
            Err(e) => tracing::warn!(
                "catch-up: cannot list failed deliveries: {}",
                crate::text::with_causes(&e)
            ),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catch-up redelivers nothing the intake would then refuse as stale: the replay
    /// window reaches at least as far back as catch-up does (issue 11, F7).
    #[test]
    fn the_replay_window_covers_what_catch_up_redelivers() {
        assert!(crate::plan::REPLAY_WINDOW >= WINDOW);
    }

    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + minutes * 60)
    }

    fn history(attempts: &[(u64, bool, u16)]) -> History {
        History {
            attempts: attempts
                .iter()
                .enumerate()
                .map(|(i, &(minute, redelivery, status))| {
                    (
                        i as u64 + 1,
                        Attempt {
                            at: at(minute),
                            redelivery,
                            status,
                        },
                    )
                })
                .collect(),
            asked: Vec::new(),
            reported: false,
        }
    }

    #[test]
    fn what_we_refused_is_never_asked_again_and_what_failed_on_our_side_is() {
        let b = Backoff::default();
        for status in [400, 401, 404, 413, 422] {
            assert_eq!(
                verdict(&history(&[(0, false, status)]), at(600), &b),
                DeliveryState::Refused(status)
            );
        }
        for status in [0, 500, 502, 503, 408, 429] {
            assert_eq!(
                verdict(&history(&[(0, false, status)]), at(5), &b),
                DeliveryState::Redeliver { attempt: 1 },
                "{status}"
            );
        }
        // Answered at last: settled, whatever came before or after.
        assert_eq!(
            verdict(
                &history(&[(0, false, 500), (10, true, 202), (20, true, 500)]),
                at(600),
                &b
            ),
            DeliveryState::Delivered
        );
    }

    #[test]
    fn the_gaps_double_and_the_count_is_bounded() {
        let b = Backoff::default();
        assert_eq!(
            (0..5).map(|n| b.gap(n).as_secs() / 60).collect::<Vec<_>>(),
            [5, 10, 20, 40, 80]
        );
        assert_eq!(
            b.gap(64),
            Duration::from_secs(5 * 60).saturating_mul(u32::MAX)
        );
        let twice = history(&[(0, false, 500), (5, true, 500), (15, true, 503)]);
        assert_eq!(
            verdict(&twice, at(34), &b),
            DeliveryState::Waiting { until: at(35) }
        );
        assert_eq!(
            verdict(&twice, at(35), &b),
            DeliveryState::Redeliver { attempt: 3 }
        );
        let spent = history(&[
            (0, false, 500),
            (5, true, 500),
            (15, true, 500),
            (35, true, 0),
            (75, true, 500),
            (155, true, 500),
        ]);
        assert_eq!(
            verdict(&spent, at(10_000), &b),
            DeliveryState::GaveUp { redeliveries: 5 }
        );
    }

    #[test]
    fn a_delivery_whose_first_attempt_was_not_read_is_left_alone() {
        let b = Backoff::default();
        assert_eq!(
            verdict(&history(&[(0, true, 500)]), at(600), &b),
            DeliveryState::Unknown
        );
    }

    #[test]
    fn an_ask_not_yet_listed_by_github_counts() {
        let b = Backoff::default();
        let mut asked = history(&[(0, false, 500)]);
        asked.asked.push(at(5));
        assert_eq!(
            verdict(&asked, at(10), &b),
            DeliveryState::Waiting { until: at(15) }
        );
    }

    #[test]
    fn a_catch_up_looks_back_to_the_last_pass_that_went_through_and_never_past_three_days() {
        let now = at(0);
        assert_eq!(window(None, now), WINDOW);
        assert_eq!(window(Some(now - EVERY), now), EVERY + OVERLAP);
        // Passes that failed for a day: the next one covers that day.
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(window(Some(now - day), now), day + OVERLAP);
        assert_eq!(
            window(Some(now - 4 * day), now),
            WINDOW,
            "GitHub redelivers nothing older"
        );
        // A clock that went back: the whole window.
        assert_eq!(window(Some(now + EVERY), now), WINDOW);
    }
}
