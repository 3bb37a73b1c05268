//! Repeated deliveries: GitHub sends a delivery again (same `X-GitHub-Delivery`, same body)
//! when someone presses "Redeliver" or catch-up asks, and a proxy may retry; and whoever
//! captured a signed delivery can send it again under any id (the signature covers the
//! body, not the id). A repeat gets the answer the first one got and launches nothing new.
//!
//! [`DeliveryLog`] remembers, in memory and up to a bound, the answer to each delivery,
//! kept by its key (the server uses the signed body's MAC under the first webhook secret,
//! [`crate::github::webhook::SignedBodyMac`], which the signature check computed and which
//! within the process tells bodies apart as their SHA-256 does), and makes concurrent
//! requests with one key wait for the first. It is a fast path, not the source of truth:
//! runs are named after the body's SHA-256 ([`crate::github::webhook::DeliveryId::run_key`]),
//! so a repeat that this log has forgotten (evicted, answered by another replica, or before
//! a restart) still launches nothing new, because the launcher finds the run already exists.
//!
//! Hand-written, not a cache crate (issue 12 asked to say why): none is in the tree (no
//! `lru`, no `moka`), and what it does is small and not an LRU: a bounded first-in
//! first-out log, whose in-flight entries make a repeat wait for the first answer.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::watch;

/// How many answered deliveries are remembered by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

enum Entry<A> {
    /// Being handled; the receiver yields the answer once there is one.
    InFlight(watch::Receiver<Option<A>>),
    /// Answered and recorded.
    Done(A),
}

struct Inner<A> {
    entries: HashMap<String, Entry<A>>,
    /// Recorded ids, oldest first, for eviction.
    order: VecDeque<String>,
}

/// A bounded map of delivery id → recorded answer.
pub struct DeliveryLog<A> {
    inner: Mutex<Inner<A>>,
    capacity: usize,
}

/// What [`DeliveryLog::begin`] found.
pub enum Begin<'l, A: Clone> {
    /// This delivery was answered before (or concurrently, by another request): answer the same.
    Answered(A),
    /// This is the first request with this id: handle it, then [`Ticket::finish`].
    First(Ticket<'l, A>),
}

/// The right and duty to answer a delivery. Dropped without [`Ticket::finish`] (the request
/// was cancelled), it forgets the delivery, and a request waiting for it handles it itself.
pub struct Ticket<'l, A: Clone> {
    log: &'l DeliveryLog<A>,
    id: String,
    sender: Option<watch::Sender<Option<A>>>,
}

impl<A: Clone> DeliveryLog<A> {
    pub fn new(capacity: usize) -> Self {
        DeliveryLog {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<A>> {
        // A panic while holding the lock leaves the map consistent (every change is one call).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorded answer to `id`, waiting for it if a request with this id is in flight;
    /// or a ticket to handle it.
    pub async fn begin(&self, id: &str) -> Begin<'_, A> {
        loop {
            let mut waiting = {
                let mut inner = self.lock();
                match inner.entries.get(id) {
                    Some(Entry::Done(answer)) => return Begin::Answered(answer.clone()),
                    Some(Entry::InFlight(receiver)) => receiver.clone(),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        inner
                            .entries
                            .insert(id.to_string(), Entry::InFlight(receiver));
                        return Begin::First(Ticket {
                            log: self,
                            id: id.to_string(),
                            sender: Some(sender),
                        });
                    }
                }
            };
            if let Ok(answer) = waiting.wait_for(Option::is_some).await
                && let Some(answer) = answer.as_ref()
            {
                return Begin::Answered(answer.clone());
            }
            // The first request was cancelled before it answered: try again.
        }
    }

    /// Forgets every recorded answer (those in flight still reach their waiters). For
    /// `serve --dry-run` when its config is reloaded: a developer replaying one payload
    /// after each edit wants the new config's decision, not the first one's.
    pub fn forget_answers(&self) {
        let mut inner = self.lock();
        let Inner { entries, order } = &mut *inner;
        for id in order.drain(..) {
            if matches!(entries.get(&id), Some(Entry::Done(_))) {
                entries.remove(&id);
            }
        }
    }

    /// How many answers are recorded.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<A: Clone> Ticket<'_, A> {
    /// Hands `answer` to every request waiting on this delivery; if `record`, also to every
    /// later one (until evicted). An answer that is not recorded (a failure) leaves the next
    /// repeat free to try again.
    pub fn finish(mut self, answer: A, record: bool) {
        let mut inner = self.log.lock();
        if record {
            inner
                .entries
                .insert(self.id.clone(), Entry::Done(answer.clone()));
            inner.order.push_back(self.id.clone());
            while inner.order.len() > self.log.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.entries.remove(&old);
                }
            }
        } else {
            inner.entries.remove(&self.id);
        }
        drop(inner);
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(answer));
        }
    }
}

impl<A: Clone> Drop for Ticket<'_, A> {
    fn drop(&mut self) {
        if self.sender.is_some() {
            let mut inner = self.log.lock();
            if matches!(inner.entries.get(&self.id), Some(Entry::InFlight(_))) {
                inner.entries.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first<'l>(begin: Begin<'l, u32>) -> Ticket<'l, u32> {
        match begin {
            Begin::First(t) => t,
            Begin::Answered(a) => panic!("expected a first request, got answer {a}"),
        }
    }

    fn answered(begin: Begin<'_, u32>) -> u32 {
        match begin {
            Begin::Answered(a) => a,
            Begin::First(_) => panic!("expected a recorded answer"),
        }
    }

    #[tokio::test]
    async fn a_repeat_gets_the_recorded_answer() {
        let log = DeliveryLog::new(10);
        first(log.begin("a").await).finish(202, true);
        assert_eq!(answered(log.begin("a").await), 202);
        assert_eq!(answered(log.begin("a").await), 202);
        assert_eq!(log.len(), 1);
    }

    #[tokio::test]
    async fn an_unrecorded_answer_lets_the_next_repeat_try_again() {
        let log = DeliveryLog::new(10);
        first(log.begin("a").await).finish(500, false);
        first(log.begin("a").await).finish(202, true);
        assert_eq!(answered(log.begin("a").await), 202);
    }

    #[tokio::test]
    async fn concurrent_repeats_wait_for_the_first() {
        let log = DeliveryLog::new(10);
        let ticket = first(log.begin("a").await);
        let (waiter, ()) = tokio::join!(log.begin("a"), async move {
            tokio::task::yield_now().await;
            ticket.finish(202, true);
        });
        assert_eq!(answered(waiter), 202);
    }

    #[tokio::test]
    async fn a_cancelled_first_request_hands_over_to_a_waiter() {
        let log = DeliveryLog::new(10);
        let ticket = first(log.begin("a").await);
        let (waiter, ()) = tokio::join!(log.begin("a"), async move {
            tokio::task::yield_now().await;
            drop(ticket);
        });
        first(waiter).finish(202, true);
        assert_eq!(answered(log.begin("a").await), 202);
    }

    #[tokio::test]
    async fn forgotten_answers_are_decided_again() {
        let log = DeliveryLog::new(10);
        first(log.begin("a").await).finish(200, true);
        log.forget_answers();
        assert!(log.is_empty());
        first(log.begin("a").await).finish(202, true);
        assert_eq!(answered(log.begin("a").await), 202);
    }

    #[tokio::test]
    async fn the_oldest_answers_are_forgotten_past_the_bound() {
        let log = DeliveryLog::new(2);
        for id in ["a", "b", "c"] {
            first(log.begin(id).await).finish(200, true);
        }
        assert_eq!(log.len(), 2);
        first(log.begin("a").await).finish(200, true);
        assert_eq!(answered(log.begin("c").await), 200);
    }
}
