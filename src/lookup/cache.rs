//! The bounded, expiring cache of one lookup's rows by key.

use super::{KeyValue, LookupRow};
use std::sync::Arc;
use std::time::Duration;

/// Rows of one lookup by key, at most `capacity` keys, each for `ttl` after it was fetched.
///
/// A key known to have no row is cached as `None`, so missing keys do not hit the cluster on
/// every event. When full, the least recently used key is evicted. Backed by `moka`'s
/// concurrent cache: eviction is amortised over later operations, so between them the cache
/// may briefly hold a few keys more than `capacity` ([`LookupCache::len`] settles that first).
#[derive(Clone)]
pub struct LookupCache {
    inner: moka::sync::Cache<KeyValue, Option<Arc<LookupRow>>>,
}

impl std::fmt::Debug for LookupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupCache")
            .field("capacity", &self.inner.policy().max_capacity())
            .field("ttl", &self.inner.policy().time_to_live())
            .finish()
    }
}

impl LookupCache {
    /// A cache of at most `capacity` keys (at least 1), each kept for `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            inner: moka::sync::Cache::builder()
                .max_capacity(capacity.max(1))
                .time_to_live(ttl)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
        }
    }

    /// The cached answer for `key`: `Some(Some(row))`, `Some(None)` for a key without a row,
    /// `None` when the key is not cached (or its entry expired).
    pub fn get(&self, key: &KeyValue) -> Option<Option<Arc<LookupRow>>> {
        self.inner.get(key)
    }

    /// Caches the answer for `key`.
    pub fn insert(&self, key: KeyValue, row: Option<Arc<LookupRow>>) {
        self.inner.insert(key, row);
    }

    /// The number of keys cached, after pending evictions and expirations have run.
    pub fn len(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }

    /// Whether no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
