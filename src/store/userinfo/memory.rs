//! User-info answers in this process: bounded in entries, each dropped once past its own expiry
//! (checked on read, as the verified-token cache does), so a token's answer never outlives the token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use super::{Answer, TokenKey};

/// Entries kept at most: the active users of one replica, a few hundred bytes each.
const MAX_ENTRIES: usize = 10_000;

/// The in-process cache.
pub(super) struct Memory {
    entries: Cache<TokenKey, Entry>,
}

#[derive(Clone)]
struct Entry {
    answer: Arc<Answer>,
    expires: Instant,
}

impl Memory {
    pub(super) fn new() -> Self {
        Self {
            entries: Cache::new(MAX_ENTRIES),
        }
    }

    /// The answer kept for `key`, unless it has expired (it is then dropped).
    pub(super) fn get(&self, key: &TokenKey) -> Option<Answer> {
        let entry = self.entries.get(key)?;
        if Instant::now() < entry.expires {
            return Some((*entry.answer).clone());
        }
        // Only the expired entry: one stored meanwhile by another request stays.
        self.entries
            .remove_if(key, |entry| Instant::now() >= entry.expires);
        None
    }

    /// Keeps `answer` for `ttl`. A `ttl` too long for the clock to represent keeps nothing: no
    /// real token lives that long, and an answer never cached is never served stale.
    pub(super) fn put(&self, key: TokenKey, answer: &Answer, ttl: Duration) {
        // `Instant + Duration` panics on overflow.
        let Some(expires) = Instant::now().checked_add(ttl) else {
            return;
        };
        let entry = Entry {
            answer: Arc::new(answer.clone()),
            expires,
        };
        self.entries.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_not_served_past_its_ttl() {
        let memory = Memory::new();
        let answer = Answer::from_iter([("sub".to_owned(), "a".into())]);
        memory.put([1; 32], &answer, Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(memory.get(&[1; 32]), None);
        assert_eq!(memory.entries.len(), 0, "the expired entry is dropped");
    }

    #[test]
    fn a_ttl_past_the_clocks_range_keeps_nothing_and_does_not_panic() {
        let memory = Memory::new();
        let answer = Answer::from_iter([("sub".to_owned(), "a".into())]);
        memory.put([1; 32], &answer, Duration::MAX);
        assert_eq!(memory.get(&[1; 32]), None);
    }
}
