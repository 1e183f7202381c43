//! Recommend-and-log: a plan's next best actions as the API and the dashboard serve
//! them, computed on a blocking thread, logged through the batching writer, and kept in
//! the answer cache until the tenant's data or model changes; and the other engine
//! questions, each asked off the runtime's workers.

use std::sync::Arc;

use axum::body::Bytes;
use chrono::NaiveDate;

use super::{blocking, Service, ServiceError};
use crate::domain::{Id, Partner};
use crate::nba::peers::{Benchmark, Fit, SimilarPartner};
use crate::nba::{self, Engine, PlanContext, PlannedAction, Recommendations, WhatIf};
use crate::vector::Filter;

impl Service {
    /// A plan's next best actions in JSON: from the answer cache while it is fresh, else
    /// computed, logged and cached. Asked again before the tenant's data changes, the
    /// same answer (with the same recommendation ids) comes from memory.
    ///
    /// # Errors
    /// [`ServiceError::KOutOfRange`] for a `k` beyond the catalog (checked once the
    /// engine is at hand; the cache only ever holds answers to a valid `k`), unknown or
    /// closed plans, store errors, an engine that cannot load.
    pub async fn served_actions(
        &self,
        tenant: &str,
        id: &Id,
        as_of: NaiveDate,
        k: usize,
    ) -> Result<Bytes, ServiceError> {
        let cache = self.answers();
        if let Some(body) = cache.and_then(|c| c.get(tenant, id.as_str(), as_of, k)) {
            return Ok(body);
        }
        // The write sequence is read before the computation, so an answer computed across
        // a write to its partner is not stored.
        let slot = cache.map(|c| (c, c.stamp(tenant)));
        let engine = self.engine(tenant).await?;
        let k = check_k(k, &engine)?;
        let ctx = self
            .0
            .views
            .context(self.store(), tenant, id, as_of)
            .await?;
        let mut recs = recommend(engine, ctx, k).await?;
        let rows = nba::log_rows(tenant, std::slice::from_mut(&mut recs));
        self.reclog().push(tenant, rows).await;
        let body = Bytes::from(serde_json::to_vec(&recs).map_err(ServiceError::Serialise)?);
        if let Some((cache, stamp)) = slot {
            let partner = recs.partner_id.as_str();
            cache.put(tenant, id.as_str(), partner, as_of, k, stamp, body.clone());
        }
        Ok(body)
    }
}

/// `k` of a next-best-actions answer: up to every action the tenant's catalog holds (a
/// planning screen may want the whole ranking), never more, since a larger `k` could only
/// repeat the catalog.
///
/// # Errors
/// [`ServiceError::KOutOfRange`].
pub fn check_k(k: usize, engine: &Engine) -> Result<usize, ServiceError> {
    let catalog = engine.catalog().len();
    if (1..=catalog).contains(&k) {
        Ok(k)
    } else {
        Err(ServiceError::KOutOfRange { k, catalog })
    }
}

/// The engine's ranking of a plan: on a blocking thread when it searches similar
/// partners ([`Engine::searches_for`]), else here. Without a search it reads memory only
/// and takes tens of microseconds, less than the hand-off to the blocking pool and back
/// cost (two thread wake-ups, about 4% of the server's CPU at 1 write in 10 in `perf
/// record`); a panic is still answered, by the API's observe layer.
///
/// # Errors
/// [`ServiceError::Blocking`] if the engine panicked on the blocking thread.
pub async fn recommend(
    engine: Arc<Engine>,
    ctx: PlanContext,
    k: usize,
) -> Result<Recommendations, ServiceError> {
    if engine.searches_for(ctx.record.plan.partner_id.as_str()) {
        blocking("recommending", move || engine.recommend(&ctx, k)).await
    } else {
        Ok(engine.recommend(&ctx, k))
    }
}

/// The predicted outcome before and after planned activities, on a blocking thread.
///
/// # Errors
/// [`crate::nba::NbaError::InvalidWhatIf`] and the like, as [`Engine::what_if`].
pub async fn what_if(
    engine: Arc<Engine>,
    ctx: PlanContext,
    added: Vec<PlannedAction>,
) -> Result<WhatIf, ServiceError> {
    Ok(blocking("a what-if", move || engine.what_if(&ctx, &added)).await??)
}

/// The tenant's similar partners of `partner_id`, searched on a blocking thread.
///
/// # Errors
/// [`ServiceError::NoPeers`] without an index, and what the search meets.
pub async fn similar(
    engine: Arc<Engine>,
    partner_id: Id,
    k: usize,
    filter: Filter,
) -> Result<Vec<SimilarPartner>, ServiceError> {
    blocking("a similar-partner search", move || {
        let tenant = engine.tenant();
        let (peers, index) = engine
            .peers()
            .ok_or_else(|| ServiceError::NoPeers(tenant.to_owned()))?;
        Ok(peers.similar(index, tenant, partner_id.as_str(), k, &filter)?)
    })
    .await?
}

/// A partner against its peer group, on a blocking thread.
///
/// # Errors
/// As [`similar`].
pub async fn benchmark(engine: Arc<Engine>, partner_id: Id) -> Result<Benchmark, ServiceError> {
    blocking("a benchmark", move || {
        let tenant = engine.tenant();
        let (peers, index) = engine
            .peers()
            .ok_or_else(|| ServiceError::NoPeers(tenant.to_owned()))?;
        Ok(peers.benchmark(index, tenant, partner_id.as_str())?)
    })
    .await?
}

/// How a prospect's profile fits, from its most similar partners, on a blocking thread.
///
/// # Errors
/// As [`similar`].
pub async fn fit(engine: Arc<Engine>, prospect: Partner, k: usize) -> Result<Fit, ServiceError> {
    blocking("a prospect fit", move || {
        let tenant = engine.tenant();
        let (peers, index) = engine
            .peers()
            .ok_or_else(|| ServiceError::NoPeers(tenant.to_owned()))?;
        Ok(peers.fit(index, tenant, &prospect, k)?)
    })
    .await?
}
