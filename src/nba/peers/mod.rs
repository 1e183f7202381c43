//! Similar partners and peer benchmarks: "partners like you", what they achieved, and
//! where you stand among them ("you 7, your target 8, peers 6").
//!
//! [`Peers`] is a read-only view of one tenant, loaded once from the store: partners, their
//! closed plans with outcomes, and each partner's profile vector from the active model's
//! [`ProfileSchema`]. Searches go to the vector index (filled by [`reindex`]) but always
//! with the vector computed here, so a partner added since the last reindex is still
//! searchable; it is only missing from other partners' results until the next reindex.
//!
//! This file holds what every question shares (the view, its loading, the outcome of a
//! partner's closed plans); each question has its file: `search` (similar partners),
//! `benchmark` (a partner against its peer group) and `fit` (a prospect that is not
//! stored yet: how close it is to partners who succeeded). Their types are re-exported
//! here, so callers name them `nba::peers::X` whichever file they live in.
//!
//! Everything but [`Peers::load`] and [`reindex`] is synchronous: the vector index blocks,
//! so async callers run [`Peers::similar`], [`Peers::benchmark`] and [`Peers::fit`] in
//! `spawn_blocking`.

mod benchmark;
mod fit;
mod search;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::domain::{attainment, ActivityStatus, Catalog, Id, Partner, PlanRecord, PlanStatus};
use crate::features::{profile_as_of, FeatureError, ProfileSchema, RecentMix};
use crate::model::pipeline::{self, PipelineError};
use crate::model::Registry;
use crate::store::{PlanFilter, Store, StoreError};
use crate::vector::{IndexError, Point, VectorIndex};

pub use benchmark::{Benchmark, BenchmarkRow, TargetBasis, MIN_SUCCESSFUL_PEERS, PEER_GROUP};
pub use fit::{Fit, FIT_PRIOR_PLANS, NO_BASE_RATE};
pub use search::{SimilarPartner, MAX_SEARCH};

#[derive(Debug, Error)]
pub enum PeersError {
    #[error(
        "partner `{partner}` is not a partner of tenant `{tenant}` (or was added after \
         the peers were loaded)"
    )]
    UnknownPartner { tenant: String, partner: String },
    #[error("these peers were loaded for tenant `{loaded}`, not for `{asked}`")]
    WrongTenant { loaded: String, asked: String },
    #[error("could not read the tenant's data")]
    Store(#[from] StoreError),
    #[error("the vector index failed")]
    Index(#[from] IndexError),
    #[error(
        "the vector index holds {index}-dimensional vectors, but the active model's profile \
         vectors have {profile}: open the index with the profile's dimension and run \
         `nextbest reindex`"
    )]
    DimensionMismatch { index: usize, profile: usize },
    #[error("tenant `{0}` has no active model: run `nextbest train` first")]
    NoActiveModel(String),
    #[error(
        "the active model of tenant `{tenant}` (version {version}) has no profile schema, \
         since it was trained before profile vectors existed: run `nextbest train`"
    )]
    NoProfileSchema { tenant: String, version: String },
    #[error("could not load the active model")]
    Model(#[source] PipelineError),
    #[error("the profile schema cannot be used")]
    Profile(#[from] FeatureError),
}

/// A closed plan of a partner, reduced to its outcome and what was done.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClosedPlan {
    pub plan_id: Id,
    pub end_date: NaiveDate,
    /// Final attainment; `None` when no key result had a defined target.
    pub attainment: Option<f64>,
    /// `attainment >= 1`; `None` with it.
    pub hit: Option<bool>,
    pub template: Option<String>,
    /// Done quantity per activity kind.
    pub kinds: BTreeMap<String, f64>,
}

impl ClosedPlan {
    fn of(record: &PlanRecord) -> Self {
        let attainment = attainment(&record.key_results).filter(|a| a.is_finite());
        let mut kinds: BTreeMap<String, f64> = BTreeMap::new();
        for a in &record.activities {
            if a.status == ActivityStatus::Done && a.quantity.is_finite() {
                *kinds.entry(a.kind.clone()).or_default() += a.quantity.max(0.0);
            }
        }
        Self {
            plan_id: record.plan.plan_id.clone(),
            end_date: record.plan.end_date,
            attainment,
            hit: attainment.map(|a| a >= 1.0),
            template: record.plan.template.clone(),
            kinds,
        }
    }
}

/// What [`reindex`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReindexReport {
    pub tenant: String,
    /// The model version whose profile schema made the vectors.
    pub model_version: String,
    /// The date tenure and activity mix were computed at.
    pub as_of: NaiveDate,
    pub points: usize,
    pub dimension: usize,
    pub seconds: f64,
}

/// One partner with everything a search or benchmark reads about it.
#[derive(Debug, Clone)]
struct Entry {
    partner: Partner,
    vector: Vec<f32>,
    /// Sorted by end date.
    closed: Vec<ClosedPlan>,
}

/// A read-only view of a tenant's partners for similarity search and benchmarks.
#[derive(Debug, Clone)]
pub struct Peers {
    tenant: String,
    as_of: NaiveDate,
    profile: ProfileSchema,
    /// Sorted by partner id, so points and results do not depend on hash order.
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    /// Share of hits over every closed plan with a defined outcome; `None` without any.
    base_rate: Option<f64>,
}

impl Peers {
    /// Reads the tenant's partners and plans and computes every partner's vector with
    /// `profile` as of `as_of`. Closed plans ending after `as_of` are left out: on that
    /// date their outcome was not known yet.
    pub async fn load(
        store: &Store,
        tenant: &str,
        profile: &ProfileSchema,
        as_of: NaiveDate,
    ) -> Result<Self, PeersError> {
        profile.check_version()?;
        let started = Instant::now();
        let partners = store.partners(tenant).await?;
        let records = store.plans(tenant, PlanFilter::default()).await?;
        let catalog = store.catalog(tenant).await?;
        let peers = Self::from_records(tenant, partners, &records, &catalog, profile, as_of);
        tracing::info!(
            tenant,
            partners = peers.entries.len(),
            plans = records.len(),
            %as_of,
            ms = started.elapsed().as_millis() as u64,
            "peers loaded"
        );
        Ok(peers)
    }

    fn from_records(
        tenant: &str,
        partners: Vec<Partner>,
        records: &[PlanRecord],
        catalog: &Catalog,
        profile: &ProfileSchema,
        as_of: NaiveDate,
    ) -> Self {
        let mixes = RecentMix::of_partners(records, catalog, as_of);
        let mut closed: HashMap<&str, Vec<ClosedPlan>> = HashMap::new();
        for record in records {
            let plan = &record.plan;
            if plan.status == PlanStatus::Closed && plan.end_date <= as_of {
                closed
                    .entry(plan.partner_id.as_str())
                    .or_default()
                    .push(ClosedPlan::of(record));
            }
        }
        let empty = RecentMix::empty(as_of);
        let mut entries: Vec<Entry> = partners
            .into_iter()
            .map(|partner| {
                let id = partner.partner_id.as_str();
                let vector = profile.vector(&partner, mixes.get(id).unwrap_or(&empty));
                let mut closed = closed.remove(id).unwrap_or_default();
                closed.sort_by(|a, b| a.end_date.cmp(&b.end_date).then(a.plan_id.cmp(&b.plan_id)));
                Entry {
                    partner,
                    vector,
                    closed,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.partner.partner_id.cmp(&b.partner.partner_id));
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.partner.partner_id.to_string(), i))
            .collect();
        let outcomes: Vec<bool> = entries
            .iter()
            .flat_map(|e| e.closed.iter().filter_map(|c| c.hit))
            .collect();
        let base_rate = (!outcomes.is_empty())
            .then(|| outcomes.iter().filter(|h| **h).count() as f64 / outcomes.len() as f64);
        Self {
            tenant: tenant.to_owned(),
            as_of,
            profile: profile.clone(),
            entries,
            by_id,
            base_rate,
        }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    pub fn profile(&self) -> &ProfileSchema {
        &self.profile
    }

    /// The tenant's hit rate over every closed plan with a defined outcome (as of
    /// [`Self::as_of`]); `None` when no plan has one.
    pub fn base_rate(&self) -> Option<f64> {
        self.base_rate
    }

    /// Number of partners.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every partner's id with its closed plans, in id order: for evidence the engine
    /// precomputes once per load.
    pub fn closed_by_partner(&self) -> impl Iterator<Item = (&str, &[ClosedPlan])> {
        self.entries
            .iter()
            .map(|e| (e.partner.partner_id.as_str(), e.closed.as_slice()))
    }

    fn entry(&self, partner_id: &str) -> Option<&Entry> {
        self.by_id
            .get(partner_id)
            .and_then(|&i| self.entries.get(i))
    }

    fn known(&self, partner_id: &str) -> Result<&Entry, PeersError> {
        self.entry(partner_id)
            .ok_or_else(|| PeersError::UnknownPartner {
                tenant: self.tenant.clone(),
                partner: partner_id.to_owned(),
            })
    }

    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.entry(id).map(|e| &e.partner)
    }

    /// The partner's closed plans, oldest end first; empty for an unknown partner.
    pub fn closed_plans(&self, partner_id: &str) -> &[ClosedPlan] {
        self.entry(partner_id).map_or(&[], |e| &e.closed)
    }

    pub fn vector(&self, partner_id: &str) -> Option<&[f32]> {
        self.entry(partner_id).map(|e| e.vector.as_slice())
    }

    /// Every partner's point, for [`VectorIndex::rebuild_tenant`].
    pub fn points(&self, tenant: &str) -> Vec<Point> {
        self.entries
            .iter()
            .map(|e| Point {
                tenant: tenant.to_owned(),
                partner_id: e.partner.partner_id.clone(),
                vector: e.vector.clone(),
                partner_type: e.partner.partner_type.map(|v| v.as_str().to_owned()),
                region: e.partner.region.clone(),
                tier: e.partner.tier.map(|v| v.as_str().to_owned()),
            })
            .collect()
    }

    fn check(&self, index: &dyn VectorIndex, tenant: &str) -> Result<(), PeersError> {
        if tenant != self.tenant {
            return Err(PeersError::WrongTenant {
                loaded: self.tenant.clone(),
                asked: tenant.to_owned(),
            });
        }
        check_dimension(index, &self.profile)
    }
}

fn check_dimension(index: &dyn VectorIndex, profile: &ProfileSchema) -> Result<(), PeersError> {
    if index.dimension() == profile.dimension() {
        Ok(())
    } else {
        Err(PeersError::DimensionMismatch {
            index: index.dimension(),
            profile: profile.dimension(),
        })
    }
}

/// What a partner's closed plans say about its outcomes.
struct Outcomes {
    mean_attainment: Option<f64>,
    hit_rate: Option<f64>,
    last_attainment: Option<f64>,
    last_hit: Option<bool>,
}

/// Plans without a defined attainment ("not defined" targets) are neither hits nor
/// misses: they are left out of every figure, including which plan is the last one.
fn outcomes(closed: &[ClosedPlan]) -> Outcomes {
    let known: Vec<f64> = closed.iter().filter_map(|c| c.attainment).collect();
    let n = known.len() as f64;
    let last = closed.iter().rev().find(|c| c.attainment.is_some());
    Outcomes {
        mean_attainment: (!known.is_empty()).then(|| known.iter().sum::<f64>() / n),
        hit_rate: (!known.is_empty())
            .then(|| known.iter().filter(|a| **a >= 1.0).count() as f64 / n),
        last_attainment: last.and_then(|c| c.attainment),
        last_hit: last.and_then(|c| c.hit),
    }
}

/// The `q` quantile of sorted finite values, interpolating between order statistics (the
/// usual "type 7" definition, as numpy and R's default); `None` for no values.
pub(super) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q.clamp(0.0, 1.0) * last as f64;
    let low = h.floor() as usize;
    let high = (low + 1).min(last);
    let (a, b) = (sorted[low], sorted[high]);
    Some(a + (h - low as f64) * (b - a))
}

/// Rebuilds the tenant's points in `index` from the store, with the active model's
/// profile schema, as of the newest done activity (or today). Blocks the calling thread
/// for the index writes: it is a command (`nextbest reindex`), not a request.
///
/// # Errors
/// [`PeersError::NoActiveModel`] or [`PeersError::NoProfileSchema`] when there is nothing
/// to compute vectors with (both say to run `nextbest train`), and
/// [`PeersError::DimensionMismatch`] when the index was opened for another dimension.
pub async fn reindex(
    store: &Store,
    registry: &Registry,
    index: &dyn VectorIndex,
    tenant: &str,
) -> Result<ReindexReport, PeersError> {
    let started = Instant::now();
    let (model, card) = pipeline::active_model(registry, tenant).map_err(|e| match e {
        PipelineError::NoActiveModel(tenant) => PeersError::NoActiveModel(tenant),
        other => PeersError::Model(other),
    })?;
    let profile = model.profile.ok_or_else(|| PeersError::NoProfileSchema {
        tenant: tenant.to_owned(),
        version: card.version.clone(),
    })?;
    profile.check_version()?;
    check_dimension(index, &profile)?;

    let partners = store.partners(tenant).await?;
    let records = store.plans(tenant, PlanFilter::default()).await?;
    let catalog = store.catalog(tenant).await?;
    let as_of = profile_as_of(&records, Utc::now().date_naive());
    let peers = Peers::from_records(tenant, partners, &records, &catalog, &profile, as_of);
    let points = peers.points(tenant);
    index.rebuild_tenant(tenant, &points)?;
    let report = ReindexReport {
        tenant: tenant.to_owned(),
        model_version: card.version,
        as_of,
        points: points.len(),
        dimension: profile.dimension(),
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(
        tenant,
        model_version = %report.model_version,
        points = report.points,
        dimension = report.dimension,
        seconds = report.seconds,
        "tenant reindexed"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_and_know_nothing_of_nothing() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.25), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0], 0.75), Some(1.75));
        assert_eq!(quantile(&[7.0], 0.25), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    fn plan(end: &str, attainment: Option<f64>) -> ClosedPlan {
        ClosedPlan {
            plan_id: Id::parse(&format!("p-{end}")).unwrap(),
            end_date: NaiveDate::parse_from_str(end, "%Y-%m-%d").unwrap(),
            attainment,
            hit: attainment.map(|a| a >= 1.0),
            template: None,
            kinds: BTreeMap::new(),
        }
    }

    #[test]
    fn plans_without_a_defined_outcome_are_left_out_of_outcomes() {
        let closed = [
            plan("2025-01-31", Some(1.2)),
            plan("2025-06-30", Some(0.6)),
            plan("2025-12-31", None),
        ];
        let o = outcomes(&closed);
        assert!((o.mean_attainment.unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(o.hit_rate, Some(0.5));
        assert_eq!(
            o.last_attainment,
            Some(0.6),
            "the undefined last plan is skipped"
        );
        assert_eq!(o.last_hit, Some(false));
        let none = outcomes(&[]);
        assert_eq!(
            (none.mean_attainment, none.hit_rate, none.last_hit),
            (None, None, None)
        );
    }
}
