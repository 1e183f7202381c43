//! Served recommendations, kept until the tenant's data or model changes. A plan's next
//! best actions depend only on the tenant's data, its model and the date, so a repeated
//! request (a plan page opened again, a dashboard refresh) is answered from memory with
//! the very answer computed before: the same ranking and the same recommendation ids,
//! logged once, when computed. Any write of the tenant, a new model or a reloaded engine
//! moves the tenant's generation and with it every entry out of date.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::NaiveDate;

use axum::body::Bytes;

/// Entries beyond this are dropped all at once (simple, and rare: one per active plan,
/// date and k).
const MAX_ENTRIES: usize = 200_000;

type Key = (String, String, NaiveDate, usize);

/// The cache and each tenant's data generation.
#[derive(Default)]
pub struct RecommendationCache {
    entries: Mutex<HashMap<Key, (u64, Bytes)>>,
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

    pub fn get(&self, tenant: &str, plan: &str, as_of: NaiveDate, k: usize) -> Option<Bytes> {
        let generation = self.generation(tenant);
        let entries = self.entries.lock().ok()?;
        let (stored, recs) = entries.get(&(tenant.to_owned(), plan.to_owned(), as_of, k))?;
        (*stored == generation).then(|| recs.clone())
    }

    /// Stores the JSON answer computed at `generation`; an entry computed before a write that
    /// raced with it is stored under the old generation and never served.
    pub fn put(
        &self,
        tenant: &str,
        plan: &str,
        as_of: NaiveDate,
        k: usize,
        generation: u64,
        body: Bytes,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                (tenant.to_owned(), plan.to_owned(), as_of, k),
                (generation, body),
            );
        }
    }
}
