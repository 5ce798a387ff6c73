//! Aggregate reads cached per data generation.
//!
//! Every committed write of invocations (an import batch, a poll, a reprice) bumps a counter
//! in the database (`data_generation`) right after its commit. A read first asks for the counter (one row) and answers from the cache when the
//! same query ran at the same generation, so a dashboard viewed again and again costs one
//! tiny read until new data lands, on every replica sharing the database. A bump that never
//! happens (a crash between commit and bump) is bounded by [`MAX_AGE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::any::Any;

use super::query::BuiltQuery;

/// Longest time a cached result is served, whatever the generation says.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Most results kept; past it the cache starts over (pages ask a few dozen distinct queries).
const MAX_ENTRIES: usize = 2_000;

/// A cached result, of whatever type its query returns.
type Cached = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
struct Entries {
    generation: i64,
    results: HashMap<BuiltQuery, (Instant, Cached)>,
}

/// The cache of one store (shared by its clones).
#[derive(Default)]
pub(super) struct ReadCache {
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.lock();
        f.debug_struct("ReadCache")
            .field("generation", &entries.generation)
            .field("results", &entries.results.len())
            .finish()
    }
}

impl ReadCache {
    /// The result of `query` at `generation`, if cached, fresh and of type `T`.
    pub(super) fn get<T: Any + Send + Sync>(
        &self,
        generation: i64,
        query: &BuiltQuery,
    ) -> Option<Arc<T>> {
        let entries = self.lock();
        if entries.generation != generation {
            return None;
        }
        let (at, cached) = entries.results.get(query)?;
        if at.elapsed() >= MAX_AGE {
            return None;
        }
        Arc::clone(cached).downcast::<T>().ok()
    }

    /// Keeps a result computed at `generation` (older generations are dropped).
    pub(super) fn put<T: Any + Send + Sync>(&self, generation: i64, query: BuiltQuery, result: T) {
        let result: Cached = Arc::new(result);
        let mut entries = self.lock();
        if generation < entries.generation {
            return; // computed before newer data landed: don't keep it
        }
        if generation > entries.generation || entries.results.len() >= MAX_ENTRIES {
            entries.results.clear();
            entries.generation = generation;
        }
        entries.results.insert(query, (Instant::now(), result));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether reads go through the cache.
#[derive(Debug, Clone)]
pub(super) struct CachePolicy {
    pub enabled: bool,
    pub cache: Arc<ReadCache>,
}

impl Default for CachePolicy {
    fn default() -> CachePolicy {
        CachePolicy {
            enabled: true,
            cache: Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query::Param;

    fn query(sql: &str) -> BuiltQuery {
        BuiltQuery {
            sql: sql.into(),
            params: vec![Param::Int(1)],
        }
    }

    fn rows(n: usize) -> Vec<u8> {
        vec![0; n]
    }

    fn len(cached: Option<Arc<Vec<u8>>>) -> Option<usize> {
        cached.map(|rows| rows.len())
    }

    #[test]
    fn results_hold_for_their_generation_only() {
        let cache = ReadCache::default();
        cache.put(3, query("a"), rows(2));
        assert_eq!(len(cache.get(3, &query("a"))), Some(2));
        assert!(
            cache.get::<String>(3, &query("a")).is_none(),
            "another type is a miss"
        );
        assert_eq!(len(cache.get(3, &query("b"))), None);
        assert_eq!(len(cache.get(4, &query("a"))), None, "new data: recompute");
        cache.put(4, query("a"), rows(5));
        assert_eq!(len(cache.get(4, &query("a"))), Some(5));
        // A slow reader that started before generation 4 doesn't overwrite newer results.
        cache.put(3, query("a"), rows(1));
        assert_eq!(len(cache.get(4, &query("a"))), Some(5));
        assert_eq!(len(cache.get(3, &query("a"))), None);
    }
}
