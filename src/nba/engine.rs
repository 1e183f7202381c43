//! The engine: for one plan, candidates → eligibility → effect estimate → arbitration →
//! explanation. It holds one tenant's read-only state (catalog, active model, similar
//! partners) and does no I/O but the vector search, so one engine serves many requests.

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use super::context::PlanContext;
use super::effect::{self, Component, Estimate, PeerComparison, Source, Z80};
use super::eligibility::{Facts, Ineligible};
use super::explain::{self, KrStanding};
use super::peers::Peers;
use super::NbaError;
use crate::domain::catalog::ActionSource;
use crate::domain::{ActionSpec, Activity, ActivityStatus, Catalog, Effort, Id, Responsible};
use crate::features::Snapshot;
use crate::model::outcome::{OutcomeModel, Prediction};
use crate::vector::{Filter, VectorIndex};

/// Knobs of arbitration and evidence; the defaults are the documented behaviour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineOptions {
    /// Similar partners whose closed plans are evidence.
    pub neighbours: usize,
    /// Attainment (1.0 = the whole target) one hour of effort costs: a 40-hour action
    /// must promise 0.4 points more than a half-hour one to rank above it. Small on
    /// purpose: on the synthetic world the heavy actions are the ones that move plans
    /// most, and a larger cost gave up measured uplift (see docs/BENCHMARKS.md).
    pub cost_per_hour: f64,
    /// Each pick already taken from a category multiplies the next one's score by this,
    /// so the top k is not five selling plays.
    pub diversity: f64,
    /// Days from as_of to the suggested due date, by effort (L, M, H).
    pub due_days: [u64; 3],
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            neighbours: 20,
            cost_per_hour: 0.0001,
            diversity: 0.85,
            due_days: [7, 14, 30],
        }
    }
}

/// One ranked action with its reasons.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendation {
    /// Set when the recommendation is logged; joins feedback and outcomes to it.
    #[schema(value_type = Option<String>)]
    pub recommendation_id: Option<Id>,
    pub rank: usize,
    pub kind: String,
    pub label: String,
    pub category: String,
    /// Who does it: vendor, partner or joint.
    #[schema(value_type = super::openapi::ResponsibleSchema)]
    pub responsible: &'static str,
    #[schema(value_type = super::openapi::EffortSchema)]
    pub effort: Effort,
    pub due_date: NaiveDate,
    /// Expected change of the plan's final attainment (0.05 = 5 points of target).
    pub expected_effect: f64,
    pub effect_low: f64,
    pub effect_high: f64,
    /// effect × relevance × urgency − effort cost: what the ranking sorts by.
    pub score: f64,
    /// The source that weighs most in the estimate.
    pub basis: Source,
    /// Where the kind's definition came from: `tenant` (its actions file), `built_in`,
    /// or `observed` (seen only in activities, undescribed: judged on its evidence
    /// alone, with a neutral prior and a wide interval, and the reasons say so).
    #[schema(value_type = super::openapi::ActionSourceSchema)]
    pub defined_by: ActionSource,
    pub explanation: Explanation,
}

/// The reasons behind one recommendation, as data and as sentences.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Explanation {
    pub why_now: String,
    pub serves: Option<KrStanding>,
    pub similar_partners: Option<PeerComparison>,
    pub effect: Estimate,
    pub relevance: f64,
    pub urgency: f64,
    pub effort_cost: f64,
    /// The sentences a manager reads, in order.
    pub reasons: Vec<String>,
}

/// A candidate that was filtered out, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Excluded {
    pub kind: String,
    #[serde(flatten)]
    pub why: Ineligible,
}

/// Everything the engine says about one plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendations {
    #[schema(value_type = String)]
    pub plan_id: Id,
    #[schema(value_type = String)]
    pub partner_id: Id,
    pub as_of: NaiveDate,
    pub model_version: Option<String>,
    /// True when no learned evidence exists (no active model, no similar partners'
    /// history): every estimate is the best-practice prior.
    pub cold_start: bool,
    /// True when the partner has no closed plan of its own: its estimates rest on the
    /// model and similar partners only, and the reasons say so.
    pub new_partner: bool,
    pub prediction: Option<Prediction>,
    /// Similar partners consulted for evidence.
    pub neighbours: usize,
    pub actions: Vec<Recommendation>,
    pub excluded: Vec<Excluded>,
}

/// An eligible candidate with its estimate, before ranking.
#[derive(Debug, Clone)]
pub struct Scored<'a> {
    pub spec: &'a ActionSpec,
    pub estimate: Estimate,
    pub peers: Option<PeerComparison>,
    pub served: Option<KrStanding>,
    pub relevance: f64,
    pub urgency: f64,
    pub cost: f64,
    pub score: f64,
}

/// Similar partners' evidence for one partner: how many neighbours had any, and their
/// contrasts pooled per kind (see [`effect::pool`]).
struct Pooled {
    neighbours: usize,
    by_kind: std::collections::HashMap<String, (PeerComparison, f64)>,
}

impl Pooled {
    fn of(contrasts: &[&[(String, effect::Contrast)]]) -> Self {
        Self {
            neighbours: contrasts.len(),
            by_kind: effect::pool(contrasts.iter().copied()),
        }
    }
}

/// One tenant's engine.
pub struct Engine {
    tenant: String,
    /// Shared with what validates writes against it (the stateless endpoints' `KnownIds`).
    catalog: Arc<Catalog>,
    model: Option<Arc<OutcomeModel>>,
    model_version: Option<String>,
    peers: Option<Arc<Peers>>,
    /// Each similar-partner candidate's contrasts, computed once when peers are set.
    contrasts: std::collections::HashMap<String, Vec<(String, effect::Contrast)>>,
    /// Each partner's nearest partners, most similar first, searched once per engine
    /// (see [`Engine::with_neighbours`]) rather than per request: the search was most of
    /// a recommendation's time.
    neighbours: std::collections::HashMap<String, Box<[Id]>>,
    /// Each served partner's neighbours' contrasts pooled per kind, kept from its first
    /// answer on: they change only with the neighbours, which are this engine's, and
    /// pooling them was a sixth of an answer's engine time. Only partners whose plans are
    /// asked for are held.
    pooled: std::sync::RwLock<std::collections::HashMap<String, Arc<Pooled>>>,
    /// Catalog kinds the model never saw in training: their counterfactual has no
    /// support, so they get no model component (see [`OutcomeModel::has_seen`]).
    unseen: std::collections::HashSet<String>,
    /// The prior of an unseen kind is multiplied by this (see
    /// [`effect::tenant_prior_scale`]); 1 without a model.
    unseen_prior_scale: f64,
    index: Option<Arc<dyn VectorIndex>>,
    options: EngineOptions,
}

/// Planned activities for a what-if question.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, ToSchema)]
pub struct PlannedAction {
    pub kind: String,
    /// Defaults to 1.
    #[serde(default = "one")]
    pub quantity: f64,
}

fn one() -> f64 {
    1.0
}

/// The predicted outcome before and after planned activities.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhatIf {
    #[schema(value_type = String)]
    pub plan_id: Id,
    pub model_version: Option<String>,
    pub before: Prediction,
    pub after: Prediction,
    pub delta_expected_attainment: f64,
    pub delta_p_hit: f64,
}

impl Engine {
    pub fn new(tenant: impl Into<String>, catalog: Catalog) -> Self {
        Self {
            tenant: tenant.into(),
            catalog: Arc::new(catalog),
            model: None,
            model_version: None,
            peers: None,
            contrasts: std::collections::HashMap::new(),
            neighbours: std::collections::HashMap::new(),
            pooled: std::sync::RwLock::default(),
            unseen: std::collections::HashSet::new(),
            unseen_prior_scale: 1.0,
            index: None,
            options: EngineOptions::default(),
        }
    }

    /// With the tenant's active outcome model (counterfactual estimates and predictions).
    pub fn with_model(mut self, model: Arc<OutcomeModel>, version: impl Into<String>) -> Self {
        self.unseen = self
            .catalog
            .iter()
            .filter(|s| !model.has_seen(&s.kind))
            .map(|s| s.kind.clone())
            .collect();
        let learned = model.effects.iter().flat_map(|e| {
            e.kinds
                .iter()
                .filter_map(|k| e.effect(k, None, 0.0, 1.0).map(|(mean, _)| mean))
        });
        self.unseen_prior_scale = effect::tenant_prior_scale(learned, &self.catalog);
        if !self.unseen.is_empty() {
            tracing::debug!(
                tenant = %self.tenant,
                kinds = self.unseen.len(),
                prior_scale = self.unseen_prior_scale,
                "catalog kinds the model never saw get no model evidence and a scaled prior"
            );
        }
        self.model = Some(model);
        self.model_version = Some(version.into());
        self
    }

    /// With similar partners' closed plans as evidence.
    pub fn with_peers(mut self, peers: Arc<Peers>, index: Arc<dyn VectorIndex>) -> Self {
        self.contrasts = peers
            .closed_by_partner()
            .map(|(id, plans)| (id.to_owned(), effect::partner_contrasts(plans)))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        self.peers = Some(peers);
        self.index = Some(index);
        self.forget_pooled();
        self
    }

    /// Pooled evidence rests on the contrasts and neighbours: either changing drops it.
    fn forget_pooled(&mut self) {
        if let Ok(pooled) = self.pooled.get_mut() {
            pooled.clear();
        }
    }

    /// Searches every known partner's neighbours once, so that a recommendation only
    /// looks them up. A partner whose profile vector is the one `previous` (the engine
    /// this one replaces, on the same index) searched with keeps its neighbours: a reload
    /// after writes searches again only for the partners the writes moved. The searches
    /// run on the rayon pool; call it off the async runtime. A failed search leaves the
    /// partner to be searched per request, as before.
    pub fn with_neighbours(mut self, previous: Option<&Engine>) -> Self {
        use rayon::prelude::*;
        let (Some(peers), Some(index)) = (&self.peers, &self.index) else {
            return self;
        };
        let previous = previous.and_then(|p| match (&p.peers, &p.index) {
            (Some(old), Some(old_index))
                if Arc::ptr_eq(old_index, index)
                    && p.options.neighbours == self.options.neighbours =>
            {
                Some((old.as_ref(), &p.neighbours))
            }
            _ => None,
        });
        let ids: Vec<&str> = peers.closed_by_partner().map(|(id, _)| id).collect();
        let started = std::time::Instant::now();
        let found: Vec<(String, Box<[Id]>, bool)> = ids
            .par_iter()
            .filter_map(|&id| {
                if let Some((old, kept)) = previous {
                    if let Some(hits) = kept.get(id) {
                        let same = old.vector(id) == peers.vector(id)
                            && hits.iter().all(|h| peers.partner(h.as_str()).is_some());
                        if same {
                            return Some((id.to_owned(), hits.clone(), true));
                        }
                    }
                }
                let hits = peers
                    .similar(
                        index.as_ref(),
                        &self.tenant,
                        id,
                        self.options.neighbours,
                        &Filter::default(),
                    )
                    .ok()?;
                let hits = hits.into_iter().map(|h| h.partner_id).collect();
                Some((id.to_owned(), hits, false))
            })
            .collect();
        let kept = found.iter().filter(|(_, _, kept)| *kept).count();
        tracing::info!(
            tenant = %self.tenant,
            partners = found.len(),
            kept,
            searched = found.len() - kept,
            ms = started.elapsed().as_millis() as u64,
            "neighbours found"
        );
        self.neighbours = found.into_iter().map(|(id, hits, _)| (id, hits)).collect();
        self.forget_pooled();
        self
    }

    pub fn with_options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// The tenant the engine was loaded for, so callers holding only the engine cannot mix
    /// tenants.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn model_version(&self) -> Option<&str> {
        self.model_version.as_deref()
    }

    /// The active outcome model, for predictions beside the recommendations.
    pub fn model(&self) -> Option<&Arc<OutcomeModel>> {
        self.model.as_ref()
    }

    /// Whether the active model saw `kind` in training; true without a model (then
    /// nothing rests on it anyway).
    pub fn model_has_seen(&self, kind: &str) -> bool {
        // Asked several times per candidate: a tenant whose data shows every kind skips
        // the hashing.
        self.unseen.is_empty() || !self.unseen.contains(kind)
    }

    /// Similar partners and the index they are searched in, when the engine has them.
    pub fn peers(&self) -> Option<(&Peers, &dyn VectorIndex)> {
        match (&self.peers, &self.index) {
            (Some(peers), Some(index)) => Some((peers.as_ref(), index.as_ref())),
            _ => None,
        }
    }

    /// Whether ranking a plan of `partner` searches the vector index: only for a partner
    /// whose neighbours were not found when the engine loaded. Such a ranking can wait on
    /// I/O (a Qdrant server) and must leave the runtime's workers; any other is
    /// computation over memory alone.
    pub fn searches_for(&self, partner: &str) -> bool {
        self.peers.is_some() && self.index.is_some() && !self.neighbours.contains_key(partner)
    }

    /// Eligible candidates with reasons for the others, in catalog order.
    pub fn eligibility<'a>(&'a self, facts: &Facts) -> (Vec<&'a ActionSpec>, Vec<Excluded>) {
        let mut eligible = Vec::new();
        let mut excluded = Vec::new();
        for spec in self.catalog.iter() {
            match facts.check(spec) {
                Ok(()) => eligible.push(spec),
                Err(why) => excluded.push(Excluded {
                    kind: spec.kind.clone(),
                    why,
                }),
            }
        }
        (eligible, excluded)
    }

    /// The precomputed contrasts of `partners`, one slice per partner with any. They are
    /// those of the plans closed when the engine loaded.
    fn contrasts_of<'p>(
        &self,
        partners: impl IntoIterator<Item = &'p str>,
    ) -> Vec<&[(String, effect::Contrast)]> {
        partners
            .into_iter()
            .filter_map(|p| self.contrasts.get(p))
            .map(Vec::as_slice)
            .collect()
    }

    /// Similar partners' contrasts ([`Self::contrasts_of`]), searched now: for a partner
    /// whose neighbours were not found when the engine loaded. A failed search is logged
    /// and treated as "no peer evidence": a recommendation from the model and prior beats
    /// an error.
    fn searched_contrasts(&self, ctx: &PlanContext) -> Vec<&[(String, effect::Contrast)]> {
        let (Some(peers), Some(index)) = (&self.peers, &self.index) else {
            return Vec::new();
        };
        let partner = ctx.record.plan.partner_id.as_str();
        match peers.similar(
            index.as_ref(),
            &self.tenant,
            partner,
            self.options.neighbours,
            &Filter::default(),
        ) {
            Ok(hits) => self.contrasts_of(hits.iter().map(|h| h.partner_id.as_str())),
            Err(error) => {
                tracing::warn!(partner, error = %crate::report::Report(&error), "similar-partner search failed; no peer evidence");
                Vec::new()
            }
        }
    }

    /// The partner's neighbours' evidence pooled per kind, with how many neighbours gave
    /// any: from the partner's first answer on, read from memory where its neighbours were
    /// found when the engine loaded; pooled afresh from a per-request search otherwise.
    fn peer_evidence(&self, ctx: &PlanContext) -> Arc<Pooled> {
        let partner = ctx.record.plan.partner_id.as_str();
        let Some(hits) = self.neighbours.get(partner) else {
            return Arc::new(Pooled::of(&self.searched_contrasts(ctx)));
        };
        if let Some(kept) = self
            .pooled
            .read()
            .ok()
            .and_then(|p| p.get(partner).cloned())
        {
            return kept;
        }
        let pooled = Arc::new(Pooled::of(&self.contrasts_of(hits.iter().map(Id::as_str))));
        if let Ok(mut held) = self.pooled.write() {
            held.insert(partner.to_owned(), Arc::clone(&pooled));
        }
        pooled
    }

    /// Scores every eligible candidate of a plan (unranked), with the plan's prediction.
    pub fn score<'a>(
        &'a self,
        ctx: &PlanContext,
        facts: &Facts,
        eligible: &[&'a ActionSpec],
    ) -> (Vec<Scored<'a>>, Option<Prediction>, usize) {
        let elapsed = ctx.record.plan.elapsed(ctx.as_of);
        let standings = explain::standings(&ctx.record, ctx.as_of);
        let evidence = self.peer_evidence(ctx);
        let neighbours = evidence.neighbours;
        let comparisons = &evidence.by_kind;
        let mut counterfactual = self
            .model
            .as_deref()
            .map(|model| Counterfactual::new(model, ctx));
        let prediction = counterfactual.as_ref().map(|c| c.base_prediction);
        let partner_type = ctx
            .partner
            .as_ref()
            .and_then(|p| p.partner_type)
            .map(|t| t.as_str());
        let scored = eligible
            .iter()
            .map(|&spec| {
                let done = facts.units_done(&spec.kind);
                let mut components: Vec<Component> = Vec::with_capacity(3);
                let learned = self
                    .model
                    .as_deref()
                    .and_then(|m| m.effects.as_ref())
                    .and_then(|effects| effects.effect(&spec.kind, partner_type, done, 1.0));
                match (learned, counterfactual.as_mut()) {
                    (Some((mean, se)), _) => {
                        components.push(effect::model(spec, mean, se, elapsed));
                    }
                    (None, Some(cf)) if self.model_has_seen(&spec.kind) => {
                        let mean = cf.effect(&spec.kind);
                        components.push(effect::model(spec, mean, 0.0, elapsed));
                    }
                    (None, _) => {}
                }
                let peers = comparisons.get(spec.kind.as_str()).cloned();
                if let Some((comparison, se)) = &peers {
                    components.push(effect::peers(spec, comparison, *se, done, elapsed));
                }
                let mut prior = effect::prior(spec, done, elapsed);
                if !self.model_has_seen(&spec.kind) {
                    prior.mean *= self.unseen_prior_scale;
                }
                components.push(prior);
                let estimate = effect::blend(components);
                let served = explain::served_kr(spec, &standings).cloned();
                let relevance = explain::relevance(spec, &standings);
                let urgency = if spec.is_described() {
                    explain::urgency(served.as_ref())
                } else {
                    explain::mean_urgency(&standings)
                };
                let cost = self.options.cost_per_hour * spec.effort_hours;
                let score = estimate.mean * relevance * urgency - cost;
                Scored {
                    spec,
                    estimate,
                    peers: peers.map(|(c, _)| c),
                    served,
                    relevance,
                    urgency,
                    cost,
                    score,
                }
            })
            .collect();
        (scored, prediction, neighbours)
    }

    /// The top `k` next best actions of a plan, with reasons; nothing is logged here
    /// (see `store::Store::log_recommendations`).
    pub fn recommend(&self, ctx: &PlanContext, k: usize) -> Recommendations {
        let facts = Facts::of(ctx);
        let (eligible, excluded) = self.eligibility(&facts);
        let (scored, prediction, neighbours) = self.score(ctx, &facts, &eligible);
        let cold_start =
            scored.iter().all(|s| s.estimate.basis() == Source::Prior) && self.model.is_none();
        let partner = ctx.record.plan.partner_id.as_str();
        let new_partner = match &self.peers {
            Some(peers) => peers.closed_plans(partner).is_empty(),
            None => ctx.history.is_empty(),
        };
        let picks = arbitrate(scored, k, self.options.diversity);
        let stage = facts.journey_stage.map(|s| s.as_str());
        let actions = picks
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut r = self.present(i + 1, s, ctx.as_of, stage);
                if new_partner && !cold_start {
                    r.explanation.reasons.push(
                        "new partner: no closed plan of its own yet, so this rests on the \
                         tenant's model and on similar partners"
                            .to_owned(),
                    );
                }
                r
            })
            .collect();
        Recommendations {
            plan_id: ctx.record.plan.plan_id.clone(),
            partner_id: ctx.record.plan.partner_id.clone(),
            as_of: ctx.as_of,
            model_version: self.model_version.clone(),
            cold_start,
            new_partner,
            prediction,
            neighbours,
            actions,
            excluded,
        }
    }

    fn present(
        &self,
        rank: usize,
        s: Scored<'_>,
        as_of: NaiveDate,
        stage: Option<&str>,
    ) -> Recommendation {
        let (low, high) = s.estimate.interval(Z80);
        let mut reasons = vec![explain::why_now(s.spec, s.served.as_ref(), stage)];
        if !s.spec.is_described() {
            reasons.push(explain::JUDGED_ON_EVIDENCE.to_owned());
        }
        if !self.model_has_seen(&s.spec.kind) {
            reasons.push(explain::unseen_sentence(s.spec, self.unseen_prior_scale));
        }
        if let Some(c) = &s.peers {
            reasons.push(explain::peers_sentence(c));
        }
        reasons.push(explain::effect_sentence(s.spec, &s.estimate));
        let effort = s.spec.effort();
        let due_days = match effort {
            Effort::L => self.options.due_days[0],
            Effort::M => self.options.due_days[1],
            Effort::H => self.options.due_days[2],
        };
        Recommendation {
            recommendation_id: None,
            rank,
            kind: s.spec.kind.clone(),
            label: s.spec.label.clone(),
            category: s.spec.category.clone(),
            responsible: s.spec.responsible.as_str(),
            effort,
            due_date: as_of.checked_add_days(Days::new(due_days)).unwrap_or(as_of),
            expected_effect: s.estimate.mean,
            effect_low: low,
            effect_high: high,
            score: s.score,
            basis: s.estimate.basis(),
            defined_by: s.spec.source,
            explanation: Explanation {
                why_now: reasons[0].clone(),
                serves: s.served,
                similar_partners: s.peers,
                effect: s.estimate,
                relevance: s.relevance,
                urgency: s.urgency,
                effort_cost: s.cost,
                reasons,
            },
        }
    }

    /// How the predicted outcome changes if `added` activities are done (counted as done
    /// now): the same model and features as every prediction.
    ///
    /// # Errors
    /// [`NbaError::InvalidWhatIf`] for input [`check_what_if`] refuses (checked first, so
    /// bad input is named whether or not a model exists); [`NbaError::NoModel`] without
    /// an active model.
    pub fn what_if(&self, ctx: &PlanContext, added: &[PlannedAction]) -> Result<WhatIf, NbaError> {
        check_what_if(added)?;
        let model = self
            .model
            .as_deref()
            .ok_or_else(|| NbaError::NoModel(self.tenant.clone()))?;
        // The same estimates as the recommendations: the effect model for the kinds it
        // knows (units in order, so returns diminish), the outcome model's
        // counterfactual for the rest, scaled by the time left to pay off.
        let facts = Facts::of(ctx);
        let elapsed = ctx.record.plan.elapsed(ctx.as_of);
        let partner_type = ctx
            .partner
            .as_ref()
            .and_then(|p| p.partner_type)
            .map(|t| t.as_str());
        let mut cf = Counterfactual::new(model, ctx);
        let before = cf.base_prediction;
        let mut done: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
        let mut delta = 0.0;
        for a in added {
            let n = *done
                .entry(a.kind.as_str())
                .or_insert_with(|| facts.units_done(&a.kind));
            let learned = model
                .effects
                .as_ref()
                .and_then(|e| e.effect(&a.kind, partner_type, n, a.quantity));
            delta += match learned {
                Some((mean, _)) => mean,
                None => {
                    cf.snapshot.record.activities.push(done_now(
                        &ctx.record.plan.plan_id,
                        &a.kind,
                        ctx.as_of,
                        a.quantity,
                    ));
                    let with = cf.raw();
                    let d = with - cf.base_raw;
                    cf.base_raw = with;
                    d
                }
            };
            done.insert(a.kind.as_str(), n + a.quantity);
        }
        let after = model.shifted(
            &before,
            cf.base_raw_at_start,
            delta * effect::time_left_factor(elapsed),
            cf.snapshot.fraction,
        );
        Ok(WhatIf {
            plan_id: ctx.record.plan.plan_id.clone(),
            model_version: self.model_version.clone(),
            before,
            after,
            delta_expected_attainment: after.expected_attainment - before.expected_attainment,
            delta_p_hit: after.p_hit - before.p_hit,
        })
    }
}

/// At most this many entries in one what-if question. Each entry not covered by the
/// effect model is one re-prediction; 20,000 of them cost 0.8 s of CPU per request (with
/// read scope, issue 15), and no plan adds a hundred different activities at once.
pub const MAX_WHAT_IF_ENTRIES: usize = 100;
/// At most this many units in one what-if question, all entries together: a quarter's
/// activity of a busy plan is a few dozen units.
pub const MAX_WHAT_IF_UNITS: f64 = 1000.0;

/// Checks a what-if question before any work: 1..=[`MAX_WHAT_IF_ENTRIES`] entries, each
/// a valid kind with a quantity in (0, [`MAX_WHAT_IF_UNITS`]], together at most
/// [`MAX_WHAT_IF_UNITS`] units.
///
/// # Errors
/// [`NbaError::InvalidWhatIf`] naming the first entry or the limit that fails.
pub fn check_what_if(added: &[PlannedAction]) -> Result<(), NbaError> {
    if added.is_empty() {
        return Err(NbaError::InvalidWhatIf(
            "add at least one activity".to_owned(),
        ));
    }
    if added.len() > MAX_WHAT_IF_ENTRIES {
        return Err(NbaError::InvalidWhatIf(format!(
            "add has {} entries; at most {MAX_WHAT_IF_ENTRIES} are allowed (give one entry \
             per kind with its quantity)",
            added.len()
        )));
    }
    let mut units = 0.0;
    for (i, a) in added.iter().enumerate() {
        if !a.quantity.is_finite() || a.quantity <= 0.0 || a.quantity > MAX_WHAT_IF_UNITS {
            return Err(NbaError::InvalidWhatIf(format!(
                "add[{i}]: quantity of `{}` must be a number in (0, {MAX_WHAT_IF_UNITS}], got {}",
                a.kind, a.quantity
            )));
        }
        if crate::domain::id::parse_category(&a.kind).is_err() {
            return Err(NbaError::InvalidWhatIf(format!(
                "add[{i}]: `{}` is not a valid activity kind",
                a.kind
            )));
        }
        units += a.quantity;
    }
    if units > MAX_WHAT_IF_UNITS {
        return Err(NbaError::InvalidWhatIf(format!(
            "add sums to {units} units; at most {MAX_WHAT_IF_UNITS} are allowed in one question"
        )));
    }
    Ok(())
}

/// A done activity of `kind` on `date`, for counterfactual rows.
fn done_now(plan_id: &Id, kind: &str, date: NaiveDate, quantity: f64) -> Activity {
    Activity {
        activity_id: Id::from_trusted(format!("counterfactual-{kind}")),
        plan_id: plan_id.clone(),
        kind: kind.to_owned(),
        date,
        quantity,
        status: ActivityStatus::Done,
        responsible: None,
        kr_id: None,
    }
}

/// The plan's serving snapshot and its prediction, re-predicted with one more activity
/// per candidate (pushed, predicted, popped: one snapshot for all candidates).
struct Counterfactual<'m> {
    model: &'m OutcomeModel,
    snapshot: Snapshot,
    partner: Option<&'m crate::domain::Partner>,
    base_raw: f64,
    base_raw_at_start: f64,
    base_prediction: Prediction,
    row: Vec<f64>,
    z: Vec<f64>,
}

impl<'m> Counterfactual<'m> {
    fn new(model: &'m OutcomeModel, ctx: &'m PlanContext) -> Self {
        let snapshot = Snapshot::serving(&ctx.record, ctx.as_of);
        let mut cf = Self {
            model,
            snapshot,
            partner: ctx.partner.as_ref(),
            base_raw: 0.0,
            base_raw_at_start: 0.0,
            base_prediction: Prediction {
                p_hit: 0.0,
                expected_attainment: 0.0,
                interval_low: 0.0,
                interval_high: 0.0,
            },
            row: Vec::with_capacity(model.schema.width()),
            z: Vec::with_capacity(model.scaler.width()),
        };
        // One row serves both: the raw score for differences and the full prediction.
        cf.base_raw = cf.raw();
        cf.base_raw_at_start = cf.base_raw;
        cf.base_prediction = model.predict(&cf.row, cf.snapshot.fraction);
        cf
    }

    fn fill_row(&mut self) {
        self.row.clear();
        self.model
            .schema
            .write_row(&self.snapshot, self.partner, &mut self.row);
    }

    /// The unclamped attainment score, so differences near 0 or 2 are not cut off.
    fn raw(&mut self) -> f64 {
        self.fill_row();
        self.z.clear();
        self.model.scaler.transform_into(&self.row, &mut self.z);
        self.model.attainment.score(&self.z)
    }

    /// Change in expected final attainment from one more unit of `kind` done now.
    fn effect(&mut self, kind: &str) -> f64 {
        let activity = done_now(
            &self.snapshot.record.plan.plan_id,
            kind,
            self.snapshot.as_of,
            1.0,
        );
        self.snapshot.record.activities.push(activity);
        let with = self.raw();
        self.snapshot.record.activities.pop();
        with - self.base_raw
    }
}

/// Greedy top-k by score with a category diversity discount, then a swap so that both
/// sides of a mutual plan have something to do: when the picks leave the vendor (or the
/// partner) with nothing and an eligible action for that side exists, the last pick
/// gives way to the best one. A joint action counts for both sides.
pub fn arbitrate(mut scored: Vec<Scored<'_>>, k: usize, diversity: f64) -> Vec<Scored<'_>> {
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.spec.kind.cmp(&b.spec.kind))
    });
    let mut picks: Vec<Scored<'_>> = Vec::with_capacity(k);
    while picks.len() < k && !scored.is_empty() {
        let adjusted = |s: &Scored<'_>| {
            let same = picks
                .iter()
                .filter(|p| p.spec.category == s.spec.category)
                .count();
            let discount = diversity.powi(same as i32);
            if s.score >= 0.0 {
                s.score * discount
            } else {
                s.score / discount
            }
        };
        let best = scored
            .iter()
            .enumerate()
            .max_by(|(ia, a), (ib, b)| adjusted(a).total_cmp(&adjusted(b)).then(ib.cmp(ia)))
            .map(|(i, _)| i);
        match best {
            Some(i) => picks.push(scored.remove(i)),
            None => break,
        }
    }
    for side in [Responsible::Vendor, Responsible::Partner] {
        let covers =
            |s: &Scored<'_>| s.spec.responsible == side || s.spec.responsible == Responsible::Joint;
        if picks.len() < 2 || picks.iter().any(covers) {
            continue;
        }
        if let Some(i) = scored.iter().position(covers) {
            let last = picks.len() - 1;
            // Keep the other side covered: never swap out the only pick that covers it.
            picks[last] = scored.remove(i);
        }
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excluded_action_names_its_missing_prerequisite_under_a_key_of_its_own() {
        let excluded = Excluded {
            kind: "jbp_validation".into(),
            why: Ineligible::MissingPrerequisite {
                prerequisite: "define_success_plan".into(),
            },
        };
        let text = serde_json::to_string(&excluded).unwrap();
        assert_eq!(text.matches("\"kind\"").count(), 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["kind"], "jbp_validation");
        assert_eq!(value["reason"], "missing_prerequisite");
        assert_eq!(value["prerequisite"], "define_success_plan");
    }

    fn add(kind: &str, quantity: f64) -> PlannedAction {
        PlannedAction {
            kind: kind.to_owned(),
            quantity,
        }
    }

    /// Issue 15, finding 9: 20,000 `add` entries cost 0.8 s of CPU per request.
    #[test]
    fn what_if_questions_are_bounded_in_entries_and_units() {
        let at_limit: Vec<_> = (0..MAX_WHAT_IF_ENTRIES).map(|_| add("qbr", 10.0)).collect();
        assert!(check_what_if(&at_limit).is_ok(), "100 entries, 1000 units");
        let cases = [
            (Vec::new(), "at least one"),
            (
                (0..=MAX_WHAT_IF_ENTRIES).map(|_| add("qbr", 1.0)).collect(),
                "at most 100",
            ),
            (vec![add("qbr", 600.0), add("pilot", 600.0)], "at most 1000"),
            (vec![add("qbr", 1.0), add("pilot", 0.0)], "add[1]"),
            (vec![add("qbr", f64::NAN)], "add[0]"),
            (vec![add(" ", 1.0)], "not a valid activity kind"),
        ];
        for (added, says) in cases {
            match check_what_if(&added) {
                Err(NbaError::InvalidWhatIf(why)) => assert!(why.contains(says), "{why}"),
                other => panic!("{} entries: {other:?}", added.len()),
            }
        }
    }
}
