//! One request at a time for each key, where the first one's answer makes the others
//! cheap: deliveries at once for a repository not seen yet looked its installation up once
//! each, and asked a person's permission each without an ETag, every one counted (review
//! 15c, F10). The others wait for the first, then find its answer kept (the installation
//! cached, the permission's ETag, which GitHub answers 304 and does not count).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// The turns being taken, by key; a key is forgotten when nobody holds or waits for it.
pub(super) struct Turns<K> {
    slots: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

/// A turn held: the others with the key wait until it is dropped.
pub(super) struct Turn<'a, K: Hash + Eq + Clone> {
    turns: &'a Turns<K>,
    key: K,
    slot: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<K: Hash + Eq + Clone> Turns<K> {
    pub fn new() -> Turns<K> {
        Turns {
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `key`'s turn.
    pub async fn take(&self, key: K) -> Turn<'_, K> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = slot.clone().lock_owned().await;
        Turn {
            turns: self,
            key,
            slot,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl<K: Hash + Eq + Clone> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        self.guard.take();
        let mut slots = self.turns.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody else holds or waits for it: the map's and this one are the only handles.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn callers_of_one_key_take_turns_and_the_key_is_then_forgotten() {
        let turns = Arc::new(Turns::<String>::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (turns, inside, most) = (turns.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = turns.take("octo/demo".to_owned()).await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("a task");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
        assert_eq!(turns.len(), 0, "forgotten");
        // Another key is not held back by a turn taken.
        let _one = turns.take("a".to_owned()).await;
        let _other = turns.take("b".to_owned()).await;
    }
}
