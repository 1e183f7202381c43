//! Served recommendations, kept until the tenant's data or model changes. A plan's next
//! best actions depend only on the tenant's data, its model and the date, so a repeated
//! request (a plan page opened again, a dashboard refresh) is answered from memory; any
//! write of the tenant, a new model or a reloaded engine moves the tenant's generation
//! and with it every entry out of date. Each answer still gets fresh recommendation ids
//! and is logged, since each one is an exposure of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use crate::nba::Recommendations;

/// Entries beyond this are dropped all at once (simple, and rare: one per active plan,
/// date and k).
const MAX_ENTRIES: usize = 200_000;

type Key = (String, String, NaiveDate, usize);

/// The cache and each tenant's data generation.
#[derive(Default)]
pub struct RecommendationCache {
    entries: Mutex<HashMap<Key, (u64, Arc<Recommendations>)>>,
    generations: Mutex<HashMap<String, u64>>,
}

impl RecommendationCache {
    /// The tenant's generation now: read before computing, stored with the result.
    pub fn generation(&self, tenant: &str) -> u64 {
        self.generations
            .lock()
            .ok()
            .and_then(|g| g.get(tenant).copied())
            .unwrap_or(0)
    }

    /// Something the tenant's recommendations depend on changed.
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut generations) = self.generations.lock() {
            *generations.entry(tenant.to_owned()).or_insert(0) += 1;
        }
    }

    pub fn get(
        &self,
        tenant: &str,
        plan: &str,
        as_of: NaiveDate,
        k: usize,
    ) -> Option<Arc<Recommendations>> {
        let generation = self.generation(tenant);
        let entries = self.entries.lock().ok()?;
        let (stored, recs) = entries.get(&(tenant.to_owned(), plan.to_owned(), as_of, k))?;
        (*stored == generation).then(|| Arc::clone(recs))
    }

    /// Stores what was computed at `generation`; an entry computed before a write that
    /// raced with it is stored under the old generation and never served.
    pub fn put(
        &self,
        tenant: &str,
        plan: &str,
        as_of: NaiveDate,
        k: usize,
        generation: u64,
        recs: Arc<Recommendations>,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                (tenant.to_owned(), plan.to_owned(), as_of, k),
                (generation, recs),
            );
        }
    }
}
