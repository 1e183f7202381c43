//! Next best actions: for an active plan, which actions the vendor and the partner should
//! take next, in what order, and why.
//!
//! candidates (the tenant's catalog) → [`eligibility`] (stage, relationship,
//! prerequisites, cool-down, already planned, dismissed) → [`effect`] (the outcome
//! model's counterfactual, similar partners' closed plans and a best-practice prior,
//! blended by precision) → arbitration (effect × relevance × urgency − effort cost, with
//! category diversity and both sides of the plan covered) → [`explain`] (why now, which
//! key result it serves, what similar partners did, the expected effect with an interval).
//!
//! [`engine::Engine`] holds one tenant's read-only state; [`context`] loads what one plan
//! needs from the store; [`peers`] finds similar partners and peer benchmarks.
//!
//! Beside the per-plan engine: [`portfolio`] rolls predicted outcomes up for leadership
//! (by region, tier, partner type, manager or template), and [`attention`] lists which of
//! a manager's partners need attention now, and why.

pub mod attention;
pub mod context;
pub mod effect;
pub mod eligibility;
pub mod engine;
pub mod explain;
pub mod openapi;
pub mod peers;
pub mod portfolio;

use chrono::Utc;
use thiserror::Error;

pub use context::PlanContext;
pub use engine::{Engine, EngineOptions, PlannedAction, Recommendation, Recommendations, WhatIf};

use crate::domain::id::fnv1a64;
use crate::domain::Id;
use crate::model::pipeline::PipelineError;
use crate::store::{LoggedRecommendation, Store, StoreError};

#[derive(Debug, Error)]
pub enum NbaError {
    #[error("plan `{0}` does not exist")]
    UnknownPlan(String),
    #[error("plan `{plan}` is {status}; next best actions are for active and draft plans")]
    PlanNotOpen { plan: String, status: &'static str },
    #[error("tenant `{0}` has no active model: run `nextbest train` first")]
    NoModel(String),
    #[error("invalid what-if: {0}")]
    InvalidWhatIf(String),
    #[error(
        "cannot group a forecast by `{0}`: use region, tier, partner_type, manager or template"
    )]
    UnknownGroupBy(String),
    #[error("could not read or write the tenant's data")]
    Store(#[from] StoreError),
    #[error("could not load the tenant's model")]
    Pipeline(#[from] PipelineError),
    #[error("could not load similar partners")]
    Peers(#[from] peers::PeersError),
}

/// Gives each action an id and returns the log rows, without writing them: a server
/// hands them to a batching writer so a served recommendation costs no fsync of its own.
/// Ids come from [`recommendation_id`].
pub fn log_rows(tenant: &str, batch: &mut [Recommendations]) -> Vec<LoggedRecommendation> {
    let now = Utc::now();
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let mut rows = Vec::new();
    for recs in batch.iter_mut() {
        for action in &mut recs.actions {
            let id = recommendation_id(tenant, &recs.plan_id, &action.kind, action.rank, nanos);
            rows.push(LoggedRecommendation {
                recommendation_id: id.clone(),
                plan_id: recs.plan_id.clone(),
                kind: action.kind.clone(),
                rank: action.rank as i64,
                score: action.score,
                expected_effect: action.expected_effect,
                effect_low: action.effect_low,
                effect_high: action.effect_high,
                basis: action.basis.as_str().to_owned(),
                responsible: action.responsible.to_owned(),
                as_of: recs.as_of,
                model_version: recs.model_version.clone(),
                created_at: now,
            });
            action.recommendation_id = Some(id);
        }
    }
    rows
}

/// A logged action's id: the instant (16 hex digits, so ids sort by time) and a hash of
/// the tenant, plan, kind and rank, so two requests never share one. Sorting by time, a
/// log row lands at the end of the log's key index, where a hashed id fell on a page of
/// its own (a page rewritten into the WAL for each row).
fn recommendation_id(tenant: &str, plan: &Id, kind: &str, rank: usize, nanos: i64) -> Id {
    let hash = fnv1a64(
        tenant
            .bytes()
            .chain([0])
            .chain(plan.as_str().bytes())
            .chain([0])
            .chain(kind.bytes())
            .chain((rank as u64).to_le_bytes())
            .chain(nanos.to_le_bytes()),
    );
    let folded = (hash ^ (hash >> 32)) as u32;
    Id::from_trusted(format!("rec-{nanos:016x}{folded:08x}"))
}

/// Gives each action an id and logs it with its score, so feedback and the plan's later
/// outcome can be joined to what was recommended.
pub async fn log(
    store: &Store,
    tenant: &str,
    batch: &mut [Recommendations],
) -> Result<(), NbaError> {
    let rows = log_rows(tenant, batch);
    store.log_recommendations(tenant, &rows).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendation_ids_sort_by_instant_and_differ_within_one() {
        let plan = Id::parse("p1").unwrap();
        let now = Utc::now().timestamp_nanos_opt().unwrap();
        let first = recommendation_id("t", &plan, "qbr", 1, now);
        let second = recommendation_id("t", &plan, "webinar", 2, now);
        let later = recommendation_id("t", &plan, "qbr", 1, now + 1);
        let much_later = recommendation_id("t", &plan, "qbr", 1, now + (1 << 40));
        assert_ne!(first, second);
        assert!(first.as_str() < later.as_str() && second.as_str() < later.as_str());
        assert!(later.as_str() < much_later.as_str());
        assert_eq!(first.as_str().len(), much_later.as_str().len());
        assert_eq!(first, recommendation_id("t", &plan, "qbr", 1, now));
    }
}
