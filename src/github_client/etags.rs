//! The answers kept for conditional reads: the last answer with an ETag of each path read,
//! sent back as `If-None-Match` so that GitHub answers 304, which its rate limit does not
//! count. Kept by size, the least recently used dropped first: one installation's
//! hundreds of repositories each keep their permission, head and file answers (review
//! 15d, D3: a count of 128, all dropped when full, held about 40 repositories' answers,
//! and past that every read was counted).

use std::collections::HashMap;

use hyper::body::Bytes;
use hyper::http::{HeaderMap, HeaderValue};

/// A read's last answer, to ask again with `If-None-Match`.
#[derive(Clone)]
pub(super) struct Cached {
    pub etag: HeaderValue,
    pub body: Bytes,
    pub headers: HeaderMap,
}

impl Cached {
    /// What keeping it costs, about: its body, headers and path.
    fn size(&self, path: &str) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        self.body.len() + headers + path.len() + 64
    }
}

/// The most the kept answers take, in bytes: thousands of small answers (a permission, a
/// head, a file), some hundreds of large ones.
pub(super) const BUDGET: usize = 16 << 20;

struct Entry {
    cached: Cached,
    size: usize,
    /// When it was last kept or read, by [`Answers::tick`].
    used: u64,
}

/// The kept answers, by path (`GET`, query included).
pub(super) struct Answers {
    entries: HashMap<String, Entry>,
    bytes: usize,
    tick: u64,
    budget: usize,
}

impl Answers {
    pub fn new(budget: usize) -> Answers {
        Answers {
            entries: HashMap::new(),
            bytes: 0,
            tick: 0,
            budget,
        }
    }

    /// The answer kept for `path`, now the most recently used.
    pub fn get(&mut self, path: &str) -> Option<Cached> {
        self.tick += 1;
        let entry = self.entries.get_mut(path)?;
        entry.used = self.tick;
        Some(entry.cached.clone())
    }

    /// Keeps `cached` for `path`; when the kept answers pass the budget, the least
    /// recently used are dropped until a quarter of it is free (so that dropping, a sort of
    /// them all, is rare). An answer larger than the budget alone is not kept.
    pub fn insert(&mut self, path: &str, cached: Cached) {
        self.remove(path);
        let size = cached.size(path);
        if size > self.budget {
            return;
        }
        self.tick += 1;
        self.bytes += size;
        self.entries.insert(
            path.to_owned(),
            Entry {
                cached,
                size,
                used: self.tick,
            },
        );
        if self.bytes > self.budget {
            let mut by_use: Vec<(u64, String)> = self
                .entries
                .iter()
                .map(|(path, e)| (e.used, path.clone()))
                .collect();
            by_use.sort_unstable();
            for (_, path) in by_use {
                if self.bytes <= self.budget / 4 * 3 {
                    break;
                }
                self.remove(&path);
            }
        }
    }

    /// Drops what was kept of `path`.
    pub fn remove(&mut self, path: &str) {
        if let Some(e) = self.entries.remove(path) {
            self.bytes -= e.size;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> Cached {
        Cached {
            etag: HeaderValue::from_static("\"e\""),
            body: Bytes::from(vec![b'x'; n]),
            headers: HeaderMap::new(),
        }
    }

    #[test]
    fn hundreds_of_repositories_small_answers_are_all_kept() {
        let mut answers = Answers::new(BUDGET);
        // 500 repositories, each a permission (2 KB), a head (25 KB) and a file (1 KB).
        for r in 0..500 {
            answers.insert(
                &format!("/repos/o/r{r}/collaborators/u/permission"),
                answer(2_000),
            );
            answers.insert(&format!("/repos/o/r{r}/pulls/1"), answer(25_000));
            answers.insert(
                &format!("/repos/o/r{r}/contents/.agentpods.yaml"),
                answer(1_000),
            );
        }
        assert_eq!(answers.len(), 1_500);
        assert!(answers.get("/repos/o/r0/pulls/1").is_some());
    }

    #[test]
    fn past_the_budget_the_least_recently_used_go_first() {
        let mut answers = Answers::new(10_000);
        for n in 0..8 {
            answers.insert(&format!("/p{n}"), answer(1_000));
        }
        // /p0 is read again: now the most recently used.
        assert!(answers.get("/p0").is_some());
        for n in 8..12 {
            answers.insert(&format!("/p{n}"), answer(1_000));
        }
        assert!(answers.bytes <= 10_000, "{}", answers.bytes);
        assert!(answers.get("/p0").is_some(), "kept: used lately");
        assert!(
            answers.get("/p1").is_none(),
            "dropped: the least recently used"
        );
        assert!(answers.get("/p11").is_some(), "the last kept");
    }

    #[test]
    fn an_answer_kept_again_replaces_the_old_one_and_its_size() {
        let mut answers = Answers::new(1 << 20);
        answers.insert("/p", answer(5_000));
        answers.insert("/p", answer(100));
        assert_eq!(answers.len(), 1);
        assert!(answers.bytes < 1_000, "{}", answers.bytes);
        answers.remove("/p");
        assert_eq!(answers.bytes, 0);
        answers.insert("/huge", answer(2 << 20));
        assert_eq!(answers.len(), 0, "larger than the budget alone");
    }
}
