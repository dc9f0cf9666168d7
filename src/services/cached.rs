//! A read-through copy of rows that are read on every request and rarely
//! change, for the caches that are emptied whole when anything they hold
//! may have changed (and told to every process through the bus).
//!
//! A clear bumps a generation: a copy read from the database before a clear
//! is not stored after it, so a reader racing a writer never keeps the old
//! row. The time-to-live bounds how stale a copy can be if a clear is lost.
//! `moka` holds the entries (per-entry expiry and a size bound, not
//! hand-written here).

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

pub struct Cached<K, V> {
    generation: AtomicU64,
    /// `None` when the time-to-live is zero: nothing is cached.
    entries: Option<Cache<K, V>>,
}

impl<K, V> Cached<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// At most `capacity` entries, each living `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        let entries = (!ttl.is_zero()).then(|| Cache::builder().max_capacity(capacity).time_to_live(ttl).build());
        Self { generation: AtomicU64::new(0), entries }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.as_ref()?.get(key)
    }

    /// The generation to pass to [`Cached::keep`]: read it before reading
    /// the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Stores a copy read at `generation`, unless a clear came since (also
    /// one between the check and the insert).
    pub fn keep(&self, generation: u64, key: K, value: V) {
        let Some(c) = self.entries.as_ref().filter(|_| self.generation() == generation) else { return };
        c.insert(key.clone(), value);
        if self.generation() != generation {
            c.invalidate(&key);
        }
    }

    /// Forgets every entry, and every read still on its way in.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(c) = &self.entries {
            c.invalidate_all();
        }
    }
}
