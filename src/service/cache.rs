//! Served recommendations, kept until something they depend on changes. A plan's next
//! best actions depend on its own record, its partner's record (the partner's other
//! plans: prerequisites done, past attainment), the tenant's engine and the date; so a
//! repeated request (a plan page opened again, a dashboard refresh, a platform polling)
//! is answered from memory with the very answer computed before: the same ranking and
//! the same recommendation ids, logged once, when computed.
//!
//! A write drops only the answers it can change: those of the partners it touched
//! ([`RecommendationCache::invalidate_partners`]), or only those of the plans it touched
//! where nothing of it reaches the partner's other plans (progress, key results,
//! feedback, an activity not done: [`RecommendationCache::invalidate_plans`]). A new model, a reloaded engine or a
//! catalog change drops the tenant's ([`RecommendationCache::invalidate`]). An answer
//! computed across a write that touched its partner is never stored: each computation
//! takes the tenant's write sequence when it starts ([`RecommendationCache::stamp`]),
//! and the cache remembers which partners the recent writes touched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::RwLock;

use axum::body::Bytes;
use chrono::NaiveDate;

/// Entries beyond this are dropped all at once (simple, and rare: one per active plan,
/// date and k).
const MAX_ENTRIES: usize = 200_000;

/// How many recent invalidations a tenant remembers. A computation that started before
/// the oldest of them is not stored (it cannot be told safe): far more than the writes
/// that land while one answer is computed, which takes milliseconds.
const REMEMBERED: usize = 1024;

/// What an invalidation covered.
#[derive(Debug)]
enum Touched {
    Tenant,
    Partners(HashSet<String>),
    Plans(HashSet<String>),
}

/// One tenant's answers: by plan (keyed by plan id alone so a lookup borrows the
/// request's `&str`; this is the hottest path of the API), the plans of each partner
/// that have answers, and the recent invalidations.
#[derive(Default)]
struct TenantAnswers {
    /// Invalidations so far.
    sequence: u64,
    /// The latest invalidations, oldest first, each with its sequence number.
    recent: VecDeque<(u64, Touched)>,
    plans: HashMap<String, Vec<Answer>>,
    by_partner: HashMap<String, HashSet<String>>,
}

impl TenantAnswers {
    /// Whether an answer for `plan` of `partner` computed from `stamp` on is still
    /// current.
    fn current(&self, stamp: u64, partner: &str, plan: &str) -> bool {
        if stamp == self.sequence {
            return true;
        }
        // The invalidations after `stamp` must all be remembered, and none may cover it.
        let oldest = self.recent.front().map_or(self.sequence + 1, |(s, _)| *s);
        if stamp + 1 < oldest {
            return false;
        }
        self.recent
            .iter()
            .filter(|(s, _)| *s > stamp)
            .all(|(_, touched)| match touched {
                Touched::Tenant => false,
                Touched::Partners(partners) => !partners.contains(partner),
                Touched::Plans(plans) => !plans.contains(plan),
            })
    }

    /// Drops every answer, remembering a tenant-wide invalidation; how many went.
    fn forget(&mut self) -> usize {
        self.remember(Touched::Tenant);
        self.by_partner.clear();
        self.plans.drain().map(|(_, kept)| kept.len()).sum()
    }

    fn remember(&mut self, touched: Touched) {
        self.sequence += 1;
        self.recent.push_back((self.sequence, touched));
        while self.recent.len() > REMEMBERED {
            self.recent.pop_front();
        }
    }
}

/// Every answer kept was current when stored, and is dropped when a write touches it.
struct Answer {
    as_of: NaiveDate,
    k: usize,
    body: Bytes,
}

/// The cache: each tenant's answers and their bookkeeping under one lock, read-mostly.
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

impl Inner {
    fn drop_plans(&mut self, tenant: &str, partners: &HashSet<String>) {
        let Some(answers) = self.tenants.get_mut(tenant) else {
            return;
        };
        let mut dropped = 0;
        for partner in partners {
            for plan in answers.by_partner.remove(partner).unwrap_or_default() {
                dropped += answers.plans.remove(&plan).map_or(0, |kept| kept.len());
            }
        }
        self.stored = self.stored.saturating_sub(dropped);
    }
}

impl RecommendationCache {
    /// The tenant's write sequence now: taken before computing an answer, handed to
    /// [`Self::put`] with it.
    pub fn stamp(&self, tenant: &str) -> u64 {
        self.inner
            .read()
            .ok()
            .and_then(|i| i.tenants.get(tenant).map(|t| t.sequence))
            .unwrap_or(0)
    }

    /// Something every answer of the tenant depends on changed (its model, its engine,
    /// its catalog).
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut inner) = self.inner.write() {
            let dropped = inner.tenants.entry(tenant.to_owned()).or_default().forget();
            inner.stored = inner.stored.saturating_sub(dropped);
        }
    }

    /// Something every answer may depend on changed unseen (a replica missed the others'
    /// notices): every tenant's answers go.
    pub fn invalidate_all(&self) {
        if let Ok(mut inner) = self.inner.write() {
            inner.tenants.values_mut().for_each(|answers| {
                answers.forget();
            });
            inner.stored = 0;
        }
    }

    /// A write touched these partners' records (a plan, its key results, progress,
    /// activities or feedback, or the partner itself): their plans' answers go, every
    /// other answer stays.
    pub fn invalidate_partners<S: AsRef<str>>(&self, tenant: &str, partners: &[S]) {
        let partners: HashSet<String> = partners.iter().map(|p| p.as_ref().to_owned()).collect();
        if partners.is_empty() {
            return;
        }
        if let Ok(mut inner) = self.inner.write() {
            inner.drop_plans(tenant, &partners);
            let answers = inner.tenants.entry(tenant.to_owned()).or_default();
            answers.remember(Touched::Partners(partners));
        }
    }

    /// A write touched only these plans' own rows: their answers go, and their
    /// partners' other plans keep theirs.
    pub fn invalidate_plans<S: AsRef<str>>(&self, tenant: &str, plans: &[S]) {
        let plans: HashSet<String> = plans.iter().map(|p| p.as_ref().to_owned()).collect();
        if plans.is_empty() {
            return;
        }
        if let Ok(mut guard) = self.inner.write() {
            let inner = &mut *guard;
            let answers = inner.tenants.entry(tenant.to_owned()).or_default();
            let dropped: usize = plans
                .iter()
                .filter_map(|plan| answers.plans.remove(plan))
                .map(|kept| kept.len())
                .sum();
            // `by_partner` may still name a plan without answers: dropping it costs nothing.
            answers.remember(Touched::Plans(plans));
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

    /// Stores the JSON answer for `plan` of `partner`, computed from `stamp` on; an
    /// answer that a write to its partner (or the tenant) overtook is not stored, as it
    /// would never be served.
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &self,
        tenant: &str,
        plan: &str,
        partner: &str,
        as_of: NaiveDate,
        k: usize,
        stamp: u64,
        body: Bytes,
    ) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        let inner = &mut *guard;
        if inner.stored >= MAX_ENTRIES {
            inner.tenants.values_mut().for_each(|t| {
                t.plans.clear();
                t.by_partner.clear();
            });
            inner.stored = 0;
        }
        let answers = inner.tenants.entry(tenant.to_owned()).or_default();
        if !answers.current(stamp, partner, plan) {
            return;
        }
        answers
            .by_partner
            .entry(partner.to_owned())
            .or_default()
            .insert(plan.to_owned());
        let kept = answers.plans.entry(plan.to_owned()).or_default();
        let before = kept.len();
        kept.retain(|a| !(a.as_of == as_of && a.k == k));
        inner.stored = inner.stored + 1 - (before - kept.len());
        kept.push(Answer { as_of, k, body });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
    }

    fn body(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn a_write_drops_its_partners_answers_and_keeps_the_others() {
        let cache = RecommendationCache::default();
        let stamp = cache.stamp("t");
        cache.put("t", "p1.1", "p1", day(), 5, stamp, body("a"));
        cache.put("t", "p1.2", "p1", day(), 5, stamp, body("b"));
        cache.put("t", "p2.1", "p2", day(), 5, stamp, body("c"));
        cache.invalidate_partners("t", &["p1"]);
        assert_eq!(cache.get("t", "p1.1", day(), 5), None);
        assert_eq!(cache.get("t", "p1.2", day(), 5), None);
        assert_eq!(cache.get("t", "p2.1", day(), 5), Some(body("c")));
        cache.invalidate("t");
        assert_eq!(cache.get("t", "p2.1", day(), 5), None);
    }

    #[test]
    fn an_answer_overtaken_by_a_write_to_its_partner_is_not_stored() {
        let cache = RecommendationCache::default();
        let stamp = cache.stamp("t");
        // A write to p1 lands while p1's and p2's answers are being computed.
        cache.invalidate_partners("t", &["p1"]);
        cache.put("t", "p1.1", "p1", day(), 5, stamp, body("stale"));
        cache.put("t", "p2.1", "p2", day(), 5, stamp, body("fine"));
        assert_eq!(cache.get("t", "p1.1", day(), 5), None);
        assert_eq!(cache.get("t", "p2.1", day(), 5), Some(body("fine")));
        // Overtaken by a tenant-wide change, nothing is stored.
        let stamp = cache.stamp("t");
        cache.invalidate("t");
        cache.put("t", "p2.2", "p2", day(), 5, stamp, body("stale"));
        assert_eq!(cache.get("t", "p2.2", day(), 5), None);
    }

    #[test]
    fn a_write_to_a_plans_own_rows_drops_that_plans_answers_only() {
        let cache = RecommendationCache::default();
        let stamp = cache.stamp("t");
        cache.put("t", "p1.1", "p1", day(), 5, stamp, body("a"));
        cache.put("t", "p1.2", "p1", day(), 5, stamp, body("b"));
        cache.invalidate_plans("t", &["p1.1"]);
        assert_eq!(cache.get("t", "p1.1", day(), 5), None);
        assert_eq!(cache.get("t", "p1.2", day(), 5), Some(body("b")));
        // An answer of that plan computed across the write is not stored; its sibling's is.
        cache.put("t", "p1.1", "p1", day(), 5, stamp, body("stale"));
        cache.put("t", "p1.2", "p1", day(), 3, stamp, body("fine"));
        assert_eq!(cache.get("t", "p1.1", day(), 5), None);
        assert_eq!(cache.get("t", "p1.2", day(), 3), Some(body("fine")));
        // The partner's invalidation still reaches it.
        let stamp = cache.stamp("t");
        cache.put("t", "p1.1", "p1", day(), 5, stamp, body("c"));
        cache.invalidate_partners("t", &["p1"]);
        assert_eq!(cache.get("t", "p1.1", day(), 5), None);
    }

    #[test]
    fn a_computation_older_than_the_remembered_writes_is_not_stored() {
        let cache = RecommendationCache::default();
        let stamp = cache.stamp("t");
        for i in 0..=REMEMBERED {
            cache.invalidate_partners("t", &[format!("other{i}")]);
        }
        cache.put("t", "p2.1", "p2", day(), 5, stamp, body("unknown"));
        assert_eq!(cache.get("t", "p2.1", day(), 5), None);
        let stamp = cache.stamp("t");
        cache.put("t", "p2.1", "p2", day(), 5, stamp, body("now"));
        assert_eq!(cache.get("t", "p2.1", day(), 5), Some(body("now")));
    }
}
