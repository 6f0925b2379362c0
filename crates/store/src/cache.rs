//! A read-through cache of the catalog: the rows operators create and seldom change (zones, pods,
//! clusters, hosts, offerings, templates, networks, extensions, resource mappings, accounts,
//! domains), which every instance operation looks up several times.
//!
//! Correctness rests on one epoch counter. A lookup notes the epoch *before* reading the
//! database and files the row under that epoch; an entry is served only while the epoch is
//! unchanged. Every store method that writes a catalog table bumps the epoch *after* its write is
//! committed. So a row read before a change can never be served after it: either it was filed
//! under the old epoch (and is ignored), or it was read after the commit (and is current).
//!
//! The cache is on only where this process is the database's only writer (SQLite). With
//! PostgreSQL, other servers write the same tables and nothing would tell this one, so every
//! lookup goes to the database.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Store, StoreResult};

/// Entries beyond this are dropped wholesale (the catalog of a large cloud still fits).
const MAX_ENTRIES: usize = 50_000;

type Entry = (u64, Arc<dyn Any + Send + Sync>);

#[derive(Default)]
pub(crate) struct Catalog {
    enabled: bool,
    epoch: AtomicU64,
    entries: Mutex<HashMap<(&'static str, String), Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Catalog {
    pub(crate) fn new(enabled: bool) -> Catalog {
        Catalog {
            enabled,
            ..Default::default()
        }
    }
}

/// Cache counters, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl Store {
    /// Look `key` up in the cache of `kind`, else run `load` and file a found row.
    /// Absent rows are not cached (a create must be visible at once).
    pub(crate) async fn cached<T, F, Fut>(
        &self,
        kind: &'static str,
        key: String,
        load: F,
    ) -> StoreResult<Option<T>>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<Option<T>>>,
    {
        let c = &self.catalog;
        if !c.enabled {
            return load().await;
        }
        let epoch = c.epoch.load(Ordering::Acquire);
        if let Ok(map) = c.entries.lock() {
            if let Some((e, v)) = map.get(&(kind, key.clone())) {
                if *e == epoch {
                    if let Some(v) = v.downcast_ref::<T>() {
                        c.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(Some(v.clone()));
                    }
                }
            }
        }
        c.misses.fetch_add(1, Ordering::Relaxed);
        let found = load().await?;
        if let Some(v) = &found {
            if let Ok(mut map) = c.entries.lock() {
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
                map.insert((kind, key), (epoch, Arc::new(v.clone())));
            }
        }
        Ok(found)
    }

    /// A catalog table was written: forget everything cached before now. Call after the write
    /// (or its transaction) committed.
    pub(crate) fn catalog_changed(&self) {
        let c = &self.catalog;
        if !c.enabled {
            return;
        }
        c.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut map) = c.entries.lock() {
            map.clear();
        }
    }

    /// Is this process the database's only writer (SQLite)? Then caches of its own may trust
    /// that every change passes through it.
    pub fn is_sole_writer(&self) -> bool {
        self.catalog.enabled
    }

    /// Hit and miss counts of the catalog cache since start.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.catalog.hits.load(Ordering::Relaxed),
            misses: self.catalog.misses.load(Ordering::Relaxed),
        }
    }
}
