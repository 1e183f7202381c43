//! Similar partners and peer benchmarks: "partners like you", what they achieved, and
//! where you stand among them ("you 7, your target 8, peers 6").
//!
//! [`Peers`] is a read-only view of one tenant, loaded once from the store: partners, their
//! closed plans with outcomes, and each partner's profile vector from the active model's
//! [`ProfileSchema`]. Searches go to the vector index (filled by [`reindex`]) but always
//! with the vector computed here, so a partner added since the last reindex is still
//! searchable; it is only missing from other partners' results until the next reindex.
//!
//! [`Peers::fit`] answers the same question for a prospect that is not stored yet: how
//! close it is to partners who succeeded.
//!
//! Everything but [`Peers::load`] and [`reindex`] is synchronous: the vector index blocks,
//! so async callers run [`Peers::similar`], [`Peers::benchmark`] and [`Peers::fit`] in
//! `spawn_blocking`.

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
use crate::vector::{Filter, IndexError, Point, VectorIndex};

/// The peer group of a benchmark: the most similar partners, this many. Fifty gives
/// quartiles that move little when one peer changes, while staying "partners like you"
/// in a tenant of a few hundred.
pub const PEER_GROUP: usize = 50;

/// Fewer successful peers than this and their median is too noisy to be a target; the
/// peers' 75th percentile stands in.
pub const MIN_SUCCESSFUL_PEERS: usize = 5;

/// The most results one search asks the index for, whatever `k` is: it bounds the work
/// of a request and the retries that skip stale points.
pub const MAX_SEARCH: usize = 10_000;

/// Pseudo-plans of the tenant's base rate in a [`Fit::fit_score`]: the neighbours' plans
/// outweigh the base rate once they hold more than this many (similarity-weighted) closed
/// plans. Five is about what two or three peers with a couple of plans each bring, so a
/// prospect judged on one lucky neighbour stays near the tenant's average.
pub const FIT_PRIOR_PLANS: f64 = 5.0;

/// The prior of a fit score when the tenant has no closed plan with an outcome yet:
/// nothing is known, so even odds.
pub const NO_BASE_RATE: f64 = 0.5;

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

/// A partner found similar to another, with how its plans ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarPartner {
    pub partner_id: Id,
    /// Cosine similarity of the profile vectors, -1..=1, higher is more alike.
    pub score: f32,
    pub partner_type: Option<String>,
    pub region: Option<String>,
    pub tier: Option<String>,
    pub relationship_stage: Option<String>,
    pub closed_plans: usize,
    /// Mean over the closed plans with a defined attainment.
    pub mean_attainment: Option<f64>,
    /// Share of hits over the closed plans with a defined attainment.
    pub hit_rate: Option<f64>,
    /// Attainment of the latest-ending closed plan with a defined attainment.
    pub last_attainment: Option<f64>,
}

/// How a prospect fits the tenant's partners who succeeded ("AI partner profile fit").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    pub prospect_id: Id,
    /// The date the neighbours' outcomes and tenure are taken at (the peers' as_of).
    pub as_of: NaiveDate,
    /// The most similar partners, most similar first (at most the `k` asked for).
    pub neighbours: Vec<SimilarPartner>,
    /// Neighbours with at least one closed plan whose outcome is defined.
    pub with_closed_plans: usize,
    /// Mean over those neighbours of their mean attainment (each neighbour counts once).
    pub mean_attainment: Option<f64>,
    /// Mean over those neighbours of their hit rate (each neighbour counts once).
    pub hit_rate: Option<f64>,
    /// Mean cosine similarity of the neighbours to the prospect.
    pub mean_score: Option<f64>,
    /// The tenant's hit rate over all closed plans: what `fit_score` shrinks towards.
    pub base_rate: Option<f64>,
    /// The neighbours' closed plans with an outcome, each weighted by its partner's
    /// similarity: how much evidence `fit_score` stands on, against
    /// [`FIT_PRIOR_PLANS`] for the base rate.
    pub evidence_plans: f64,
    /// 0..=1: the chance that a plan of a partner like this one hits, estimated as the
    /// similarity-weighted hit rate of the neighbours' closed plans, shrunk towards the
    /// tenant's base rate: `(Σ wᵢ·hitsᵢ + m·base) / (Σ wᵢ·plansᵢ + m)` with `wᵢ` the
    /// neighbour's cosine similarity clipped to 0..=1 and `m` = [`FIT_PRIOR_PLANS`] (a
    /// beta prior worth `m` plans at the base rate; [`NO_BASE_RATE`] without one). Above
    /// the base rate, partners like the prospect succeed more often than the average.
    pub fit_score: f64,
}

/// How `your_target` of a benchmark row was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetBasis {
    /// The median among peers whose last closed plan hit: what successful partners like
    /// you have.
    SuccessfulPeers,
    /// Too few successful peers knew this value: the peers' 75th percentile instead.
    PeersP75,
}

/// One dimension of a benchmark. Every dimension is one where more is better, so a target
/// above the peers' median reads as an aim. Unknown values are `None`, never NaN, and
/// the counts include known values only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkRow {
    pub dimension: String,
    pub you: Option<f64>,
    pub your_target: Option<f64>,
    pub target_basis: TargetBasis,
    pub peers_p25: Option<f64>,
    pub peers_median: Option<f64>,
    pub peers_p75: Option<f64>,
    /// Share of peers below you (ties count half), 0..=1.
    pub your_percentile: Option<f64>,
    /// Peers with a known value.
    pub peers_n: usize,
    /// Successful peers with a known value (the median of `your_target` needs
    /// [`MIN_SUCCESSFUL_PEERS`]).
    pub successful_n: usize,
}

/// A partner against its peer group: the [`PEER_GROUP`] most similar partners.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benchmark {
    pub partner_id: Id,
    pub as_of: NaiveDate,
    /// Size of the peer group (fewer than [`PEER_GROUP`] in a small tenant).
    pub peers: usize,
    /// Peers whose last closed plan hit.
    pub successful_peers: usize,
    /// Similarity of the least similar peer, to judge how alike the group is.
    pub min_score: Option<f32>,
    pub rows: Vec<BenchmarkRow>,
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

type Extract = fn(&Entry) -> Option<f64>;

/// The benchmark dimensions, in report order.
const DIMENSIONS: [(&str, Extract); 11] = [
    ("score_contribution", |e| e.partner.score_contribution),
    ("score_capability", |e| e.partner.score_capability),
    ("score_coverage", |e| e.partner.score_coverage),
    ("score_commitment", |e| e.partner.score_commitment),
    ("score_consumption", |e| e.partner.score_consumption),
    ("score_credibility", |e| e.partner.score_credibility),
    ("nps", |e| e.partner.nps),
    ("trust", |e| e.partner.trust()),
    ("mean_attainment", |e| outcomes(&e.closed).mean_attainment),
    ("activities_per_closed_plan", |e| {
        let n = e.closed.len();
        (n > 0).then(|| e.closed.iter().flat_map(|c| c.kinds.values()).sum::<f64>() / n as f64)
    }),
    ("certified_reps", |e| {
        e.partner.certified_reps.map(|r| r as f64)
    }),
];

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

    /// The `k` partners most similar to `partner_id` that match `filter`, most similar
    /// first, never the partner itself. Indexed partners that these peers do not know
    /// (removed from the store since the last reindex) are skipped, asking the index
    /// for more until `k` are found or the tenant is exhausted.
    pub fn similar(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        partner_id: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<SimilarPartner>, PeersError> {
        self.check(index, tenant)?;
        let me = self.known(partner_id)?;
        self.nearest(index, tenant, &me.vector, Some(partner_id), k, filter)
    }

    /// The `k` known partners nearest to `vector` that match `filter`, most similar
    /// first, never `exclude`. Indexed partners that these peers do not know (removed
    /// from the store since the last reindex) are skipped, asking the index for more
    /// until `k` are found or the tenant is exhausted. The caller has run `check`.
    fn nearest(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        vector: &[f32],
        exclude: Option<&str>,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<SimilarPartner>, PeersError> {
        let k = k.min(MAX_SEARCH - 1);
        if k == 0 {
            return Ok(Vec::new());
        }
        // One more than asked, for the excluded partner when it is indexed.
        let mut ask = k + usize::from(exclude.is_some());
        loop {
            let hits = index.search(tenant, vector, ask, filter)?;
            let exhausted = hits.len() < ask;
            let mut found = Vec::with_capacity(k);
            let mut stale = 0_usize;
            for hit in hits {
                if Some(hit.partner_id.as_str()) == exclude {
                    continue;
                }
                match self.entry(hit.partner_id.as_str()) {
                    Some(entry) => found.push(similar_partner(entry, hit.score)),
                    None => stale += 1,
                }
                if found.len() == k {
                    break;
                }
            }
            if found.len() == k || exhausted || ask >= MAX_SEARCH {
                if stale > 0 {
                    tracing::debug!(
                        tenant,
                        stale,
                        "indexed partners unknown to the store were skipped; reindex"
                    );
                }
                return Ok(found);
            }
            ask = ask.saturating_mul(2).min(MAX_SEARCH);
        }
    }

    /// How well a prospect (a partner that is not stored: no plans, no activity) fits
    /// the tenant's partners who succeeded: its `k` most similar partners and what their
    /// closed plans say, summarised in [`Fit::fit_score`].
    ///
    /// The prospect's vector is [`ProfileSchema::prospect_vector`]: its profile as given
    /// (unknown fields at the tenant's mean), with an average activity mix, since what a
    /// prospect will do is unknown rather than nothing. A stored partner with the
    /// prospect's id is left out of the neighbours, as [`Self::similar`] leaves out the
    /// partner itself.
    ///
    /// # Errors
    /// [`PeersError::WrongTenant`] and [`PeersError::DimensionMismatch`] as for
    /// [`Self::similar`], and [`PeersError::Index`] when the search fails.
    pub fn fit(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        prospect: &Partner,
        k: usize,
    ) -> Result<Fit, PeersError> {
        self.check(index, tenant)?;
        let vector = self.profile.prospect_vector(prospect, self.as_of);
        let exclude = Some(prospect.partner_id.as_str());
        let neighbours = self.nearest(index, tenant, &vector, exclude, k, &Filter::default())?;
        let fit = self.summarise_fit(prospect, neighbours);
        tracing::debug!(
            tenant,
            neighbours = fit.neighbours.len(),
            fit_score = fit.fit_score,
            "prospect fit"
        );
        Ok(fit)
    }

    fn summarise_fit(&self, prospect: &Partner, neighbours: Vec<SimilarPartner>) -> Fit {
        // Neighbours with at least one closed plan whose outcome is defined.
        let known: Vec<(&SimilarPartner, &Entry)> = neighbours
            .iter()
            .filter_map(|s| self.entry(s.partner_id.as_str()).map(|e| (s, e)))
            .filter(|(s, _)| s.hit_rate.is_some())
            .collect();
        let mean = |values: &mut dyn Iterator<Item = f64>| {
            let (sum, n) = values.fold((0.0, 0_usize), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| sum / n as f64)
        };
        let (mut hits, mut plans) = (0.0, 0.0);
        for (s, e) in &known {
            let w = f64::from(s.score).clamp(0.0, 1.0);
            let defined: Vec<bool> = e.closed.iter().filter_map(|c| c.hit).collect();
            hits += w * defined.iter().filter(|h| **h).count() as f64;
            plans += w * defined.len() as f64;
        }
        let fit_score = shrunk_hit_rate(hits, plans, self.base_rate.unwrap_or(NO_BASE_RATE));
        Fit {
            prospect_id: prospect.partner_id.clone(),
            as_of: self.as_of,
            with_closed_plans: known.len(),
            mean_attainment: mean(&mut known.iter().filter_map(|(s, _)| s.mean_attainment)),
            hit_rate: mean(&mut known.iter().filter_map(|(s, _)| s.hit_rate)),
            mean_score: mean(&mut neighbours.iter().map(|s| f64::from(s.score))),
            base_rate: self.base_rate,
            evidence_plans: plans,
            fit_score,
            neighbours,
        }
    }

    /// The partner against its [`PEER_GROUP`] most similar partners, on the 6Cs scores,
    /// NPS, trust, mean attainment, activities per closed plan and certified reps.
    pub fn benchmark(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        partner_id: &str,
    ) -> Result<Benchmark, PeersError> {
        let me = self.known(partner_id)?;
        let similar = self.similar(index, tenant, partner_id, PEER_GROUP, &Filter::default())?;
        let peers: Vec<(&Entry, bool)> = similar
            .iter()
            .filter_map(|s| self.entry(s.partner_id.as_str()))
            .map(|e| (e, outcomes(&e.closed).last_hit == Some(true)))
            .collect();
        let rows = DIMENSIONS
            .iter()
            .map(|(name, value)| benchmark_row(name, *value, me, &peers))
            .collect();
        Ok(Benchmark {
            partner_id: me.partner.partner_id.clone(),
            as_of: self.as_of,
            peers: peers.len(),
            successful_peers: peers.iter().filter(|(_, ok)| *ok).count(),
            min_score: similar.iter().map(|s| s.score).reduce(f32::min),
            rows,
        })
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

/// `hits` of `plans` (both possibly weighted), shrunk towards `prior` with
/// [`FIT_PRIOR_PLANS`] pseudo-plans: a beta-binomial posterior mean, in 0..=1 whenever
/// `prior` is and `0 <= hits <= plans`, and exactly `prior` without evidence.
fn shrunk_hit_rate(hits: f64, plans: f64, prior: f64) -> f64 {
    ((hits + FIT_PRIOR_PLANS * prior) / (plans + FIT_PRIOR_PLANS)).clamp(0.0, 1.0)
}

fn similar_partner(entry: &Entry, score: f32) -> SimilarPartner {
    let p = &entry.partner;
    let o = outcomes(&entry.closed);
    SimilarPartner {
        partner_id: p.partner_id.clone(),
        score,
        partner_type: p.partner_type.map(|v| v.as_str().to_owned()),
        region: p.region.clone(),
        tier: p.tier.map(|v| v.as_str().to_owned()),
        relationship_stage: p.relationship_stage.map(|v| v.as_str().to_owned()),
        closed_plans: entry.closed.len(),
        mean_attainment: o.mean_attainment,
        hit_rate: o.hit_rate,
        last_attainment: o.last_attainment,
    }
}

fn benchmark_row(name: &str, value: Extract, me: &Entry, peers: &[(&Entry, bool)]) -> BenchmarkRow {
    let known = |e: &Entry| value(e).filter(|v| v.is_finite());
    let mut all: Vec<f64> = peers.iter().filter_map(|(e, _)| known(e)).collect();
    let mut successful: Vec<f64> = peers
        .iter()
        .filter(|(_, ok)| *ok)
        .filter_map(|(e, _)| known(e))
        .collect();
    all.sort_by(f64::total_cmp);
    successful.sort_by(f64::total_cmp);
    let you = known(me);
    let p75 = quantile(&all, 0.75);
    let (your_target, target_basis) = if successful.len() >= MIN_SUCCESSFUL_PEERS {
        (quantile(&successful, 0.5), TargetBasis::SuccessfulPeers)
    } else {
        (p75, TargetBasis::PeersP75)
    };
    BenchmarkRow {
        dimension: name.to_owned(),
        you,
        your_target,
        target_basis,
        peers_p25: quantile(&all, 0.25),
        peers_median: quantile(&all, 0.5),
        peers_p75: p75,
        your_percentile: you.and_then(|y| percentile_rank(&all, y)),
        peers_n: all.len(),
        successful_n: successful.len(),
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

/// Share of sorted `values` below `you`, ties counting half: 0 below everyone, 1 above
/// everyone, 0.5 in the middle. `None` for no values.
fn percentile_rank(sorted: &[f64], you: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let below = sorted.partition_point(|v| *v < you);
    let not_above = sorted.partition_point(|v| *v <= you);
    let ties = not_above - below;
    Some((below as f64 + 0.5 * ties as f64) / sorted.len() as f64)
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

    #[test]
    fn a_fit_score_is_the_base_rate_without_evidence_and_follows_the_evidence() {
        assert_eq!(shrunk_hit_rate(0.0, 0.0, 0.3), 0.3);
        // Little evidence moves it a little, a lot of evidence nearly all the way.
        let little = shrunk_hit_rate(1.0, 1.0, 0.3);
        let lots = shrunk_hit_rate(900.0, 1000.0, 0.3);
        assert!(0.3 < little && little < 0.5, "{little}");
        assert!((lots - 0.9).abs() < 0.01, "{lots}");
        for (hits, plans) in [(0.0, 50.0), (50.0, 50.0), (0.4, 0.4)] {
            let s = shrunk_hit_rate(hits, plans, 0.5);
            assert!((0.0..=1.0).contains(&s), "{s}");
        }
    }

    #[test]
    fn percentile_ranks_count_ties_half() {
        let v = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(percentile_rank(&v, 0.0), Some(0.0));
        assert_eq!(percentile_rank(&v, 9.0), Some(1.0));
        assert_eq!(percentile_rank(&v, 2.0), Some(0.5));
        assert_eq!(percentile_rank(&[], 2.0), None);
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
