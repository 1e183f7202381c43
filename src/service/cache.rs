//! Served recommendations, kept until the tenant's data or model changes. A plan's next
//! best actions depend only on the tenant's data, its model and the date, so a repeated
//! request (a plan page opened again, a dashboard refresh) is answered from memory with
//! the very answer computed before: the same ranking and the same recommendation ids,
//! logged once, when computed. Any write of the tenant, a new model or a reloaded engine
//! moves the tenant's generation and with it every entry out of date.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::NaiveDate;

use axum::body::Bytes;

/// Entries beyond this are dropped all at once (simple, and rare: one per active plan,
/// date and k).
const MAX_ENTRIES: usize = 200_000;

/// One tenant's answers: by plan, the answers for each date and k (nearly always one).
/// Keyed by plan id alone so a lookup borrows the request's `&str` instead of building an
/// owned key: this is the hottest path of the API.
#[derive(Default)]
struct TenantAnswers {
    generation: u64,
    plans: HashMap<String, Vec<Answer>>,
}

/// Every answer kept was computed at its tenant's current generation: older ones are
/// dropped when the generation moves, and late ones are never stored.
struct Answer {
    as_of: NaiveDate,
    k: usize,
    body: Bytes,
}

/// The cache: each tenant's generation and answers under one lock, read-mostly.
#[derive(Default)]
pub struct RecommendationCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<String, TenantAnswers>,
    /// Answers stored, over all tenants.
    stored: usize,
}

impl RecommendationCache {
    /// The tenant's generation now: read before computing, stored with the result.
    pub fn generation(&self, tenant: &str) -> u64 {
        self.inner
            .read()
            .ok()
            .and_then(|i| i.tenants.get(tenant).map(|t| t.generation))
            .unwrap_or(0)
    }

    /// Something the tenant's recommendations depend on changed.
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut inner) = self.inner.write() {
            let answers = inner.tenants.entry(tenant.to_owned()).or_default();
            answers.generation += 1;
            // Nothing stored before can be served again.
            let dropped: usize = answers.plans.drain().map(|(_, kept)| kept.len()).sum();
            inner.stored = inner.stored.saturating_sub(dropped);
        }
    }

    pub fn get(&self, tenant: &str, plan: &str, as_of: NaiveDate, k: usize) -> Option<Bytes> {
        let inner = self.inner.read().ok()?;
        let answers = inner.tenants.get(tenant)?;
        answers
            .plans
            .get(plan)?
            .iter()
            .find(|a| a.as_of == as_of && a.k == k)
            .map(|a| a.body.clone())
    }

    /// Stores the JSON answer computed at `generation`; an answer computed before a write
    /// that raced with it is not stored, as it would never be served.
    pub fn put(
        &self,
        tenant: &str,
        plan: &str,
        as_of: NaiveDate,
        k: usize,
        generation: u64,
        body: Bytes,
    ) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        let inner = &mut *guard;
        if inner.stored >= MAX_ENTRIES {
            inner.tenants.values_mut().for_each(|t| t.plans.clear());
            inner.stored = 0;
        }
        let answers = inner.tenants.entry(tenant.to_owned()).or_default();
        if answers.generation != generation {
            return;
        }
        let kept = answers.plans.entry(plan.to_owned()).or_default();
        let before = kept.len();
        kept.retain(|a| !(a.as_of == as_of && a.k == k));
        inner.stored = inner.stored + 1 - (before - kept.len());
        kept.push(Answer { as_of, k, body });
    }
}
