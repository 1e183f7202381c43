//! Decision evaluation against a synthetic world's ground truth: does the top pick move
//! plans more than the alternatives a partner team would otherwise use?
//!
//! Per active plan, with the true effect of one unit of every built-in kind done at
//! as_of (`truth_effects.csv`): the top pick's regret (best true effect − the pick's),
//! the share of the best possible uplift captured ((pick − mean) / (best − mean), the
//! mean over all kinds, so a random kind scores 0 and the best scores 1), and NDCG@5 of
//! the ranking with true effects as gains. The same numbers for the baselines: status
//! quo (do nothing extra), a random eligible action (in expectation), the most popular
//! eligible action, and a fixed stage playbook. Also: how the estimates themselves track
//! the truth, busywork included, beside the naive "plans that did it did better"
//! difference that confounding inflates.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use super::baselines::{baseline_ranking, Baseline};
use super::simulate::{self, SimulatedPolicy};
use crate::domain::{ActionSpec, ActivityStatus, PlanRecord};
use crate::nba::eligibility::Facts;
use crate::nba::{Engine, PlanContext};

/// `plan_id → kind → true effect`.
pub type TruthEffects = HashMap<String, HashMap<String, f64>>;

/// Reads the generator's `truth_effects.csv` (`plan_id,kind,true_effect`).
pub fn read_truth_effects(path: &Path) -> Result<TruthEffects, csv::Error> {
    #[derive(serde::Deserialize)]
    struct Row {
        plan_id: String,
        kind: String,
        true_effect: f64,
    }
    let mut out: TruthEffects = HashMap::new();
    for row in csv::Reader::from_path(path)?.deserialize::<Row>() {
        let row = row?;
        out.entry(row.plan_id)
            .or_default()
            .insert(row.kind, row.true_effect);
    }
    Ok(out)
}

/// One policy's decision metrics over the evaluated plans.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyScores {
    pub policy: String,
    pub plans: usize,
    /// Mean true effect of the top pick (0 when the policy picks nothing).
    pub mean_true_effect: f64,
    /// Mean of (best true effect − the pick's).
    pub mean_regret: f64,
    /// Mean over plans of the share of the best possible uplift captured.
    pub capture: f64,
    /// Σ(pick − mean) / Σ(best − mean): the same share, weighting plans by their stakes.
    pub capture_pooled: f64,
    /// NDCG@5 with true effects (floored at 0) as gains; `None` for policies that do not rank.
    pub ndcg5: Option<f64>,
}

/// How well the effect estimates track the true effects over (plan, eligible kind) pairs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EstimateQuality {
    pub pairs: usize,
    /// Pearson correlation of estimated and true effects.
    pub correlation: Option<f64>,
    pub mean_abs_error: f64,
    /// Mean estimate and mean truth of the busywork kinds (true effect exactly 0).
    pub busywork_mean_estimate: f64,
    pub busywork_mean_truth: f64,
    /// The same for every other kind.
    pub useful_mean_estimate: f64,
    pub useful_mean_truth: f64,
    /// The naive estimate confounding inflates: mean attainment of the tenant's closed
    /// plans that did a busywork kind minus those that did not (mean over busywork kinds).
    pub busywork_naive_difference: Option<f64>,
    pub useful_naive_difference: Option<f64>,
}

/// The decision report.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionReport {
    pub plans: usize,
    pub plans_without_truth: usize,
    /// nextbest first, then the baselines.
    pub policies: Vec<PolicyScores>,
    pub estimates: EstimateQuality,
    /// Top picks that break an eligibility rule, re-checked from the raw activities.
    pub ineligible_top_picks: usize,
    /// Which source weighs most in the top pick's estimate: model, peers, prior.
    pub top_pick_basis: BTreeMap<String, usize>,
    /// Simulation of following each policy for the rest of the period, when run.
    pub simulation: Option<Vec<SimulatedPolicy>>,
}

#[derive(Default)]
struct Acc {
    plans: usize,
    effect: f64,
    regret: f64,
    capture: f64,
    captured_plans: usize,
    pooled_num: f64,
    pooled_den: f64,
    ndcg: f64,
    ndcg_plans: usize,
}

impl Acc {
    fn add(&mut self, truth: &PlanTruth, pick: f64, ndcg: Option<f64>) {
        self.plans += 1;
        self.effect += pick;
        self.regret += truth.best - pick;
        let spread = truth.best - truth.mean;
        if spread > 1e-9 {
            self.capture += (pick - truth.mean) / spread;
            self.captured_plans += 1;
        }
        self.pooled_num += pick - truth.mean;
        self.pooled_den += spread;
        if let Some(n) = ndcg {
            self.ndcg += n;
            self.ndcg_plans += 1;
        }
    }

    fn finish(&self, policy: &str) -> PolicyScores {
        let per = |x: f64, n: usize| if n == 0 { 0.0 } else { x / n as f64 };
        PolicyScores {
            policy: policy.to_owned(),
            plans: self.plans,
            mean_true_effect: per(self.effect, self.plans),
            mean_regret: per(self.regret, self.plans),
            capture: per(self.capture, self.captured_plans),
            capture_pooled: if self.pooled_den > 0.0 {
                self.pooled_num / self.pooled_den
            } else {
                0.0
            },
            ndcg5: (self.ndcg_plans > 0).then(|| per(self.ndcg, self.ndcg_plans)),
        }
    }
}

/// The truth of one plan, summarised.
struct PlanTruth<'a> {
    effects: &'a HashMap<String, f64>,
    best: f64,
    mean: f64,
}

impl<'a> PlanTruth<'a> {
    fn new(effects: &'a HashMap<String, f64>) -> Option<Self> {
        if effects.is_empty() {
            return None;
        }
        let best = effects.values().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = effects.values().sum::<f64>() / effects.len() as f64;
        Some(Self {
            effects,
            best,
            mean,
        })
    }

    fn of(&self, kind: &str) -> f64 {
        self.effects.get(kind).copied().unwrap_or(0.0)
    }

    /// NDCG@5 of `ranking` with gains max(true effect, 0).
    fn ndcg5(&self, ranking: &[&str]) -> f64 {
        let gain = |e: f64| e.max(0.0);
        let dcg: f64 = ranking
            .iter()
            .take(5)
            .enumerate()
            .map(|(i, k)| gain(self.of(k)) / ((i + 2) as f64).log2())
            .sum();
        let mut ideal: Vec<f64> = self.effects.values().map(|e| gain(*e)).collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg: f64 = ideal
            .iter()
            .take(5)
            .enumerate()
            .map(|(i, g)| g / ((i + 2) as f64).log2())
            .sum();
        if idcg > 0.0 {
            dcg / idcg
        } else {
            1.0
        }
    }
}

/// Re-checks a pick against the raw facts, independently of [`Facts::check`]'s code path
/// order: stage, relationship, prerequisites, cool-down, already planned.
fn breaks_a_rule(spec: &ActionSpec, ctx: &PlanContext) -> bool {
    let partner = ctx.partner.as_ref();
    if let Some(stage) = partner.and_then(|p| p.journey_stage) {
        if !spec.stages.is_empty() && !spec.stages.contains(&stage) {
            return true;
        }
    }
    let relationship = partner
        .and_then(|p| p.relationship_stage)
        .unwrap_or(crate::domain::RelationshipStage::Transactional);
    if relationship < spec.min_relationship {
        return true;
    }
    let done: Vec<_> = ctx.done_until_now().collect();
    if spec
        .prerequisites
        .iter()
        .any(|p| !done.iter().any(|a| &a.kind == p))
    {
        return true;
    }
    let cooling = done.iter().any(|a| {
        a.kind == spec.kind && (ctx.as_of - a.date).num_days() < i64::from(spec.cooldown_days)
    });
    let planned =
        ctx.record.activities.iter().any(|a| {
            a.kind == spec.kind && a.status == ActivityStatus::Planned && a.date >= ctx.as_of
        });
    cooling || planned
}

/// Scores nextbest and the baselines on every active plan that has truth rows.
pub fn evaluate(
    engine: &Engine,
    contexts: &[PlanContext],
    truth: &TruthEffects,
    popularity: &HashMap<String, f64>,
    closed: &[PlanRecord],
    busywork: &[&str],
) -> DecisionReport {
    let mut nextbest = Acc::default();
    let mut baselines: Vec<Acc> = Baseline::ALL.iter().map(|_| Acc::default()).collect();
    let mut pairs: Vec<Pair> = Vec::new();
    let mut ineligible = 0;
    let mut basis: BTreeMap<String, usize> = BTreeMap::new();
    let mut without_truth = 0;
    for ctx in contexts {
        let Some(plan_truth) = truth
            .get(ctx.record.plan.plan_id.as_str())
            .and_then(PlanTruth::new)
        else {
            without_truth += 1;
            continue;
        };
        let facts = Facts::of(ctx);
        let (eligible, _) = engine.eligibility(&facts);
        let recs = engine.recommend(ctx, 5);
        let ranking: Vec<&str> = recs.actions.iter().map(|a| a.kind.as_str()).collect();
        let pick = ranking.first().map_or(0.0, |k| plan_truth.of(k));
        nextbest.add(&plan_truth, pick, Some(plan_truth.ndcg5(&ranking)));
        if let Some(top) = recs.actions.first() {
            *basis.entry(top.basis.as_str().to_owned()).or_default() += 1;
            if let Some(spec) = engine.catalog().get(&top.kind) {
                if breaks_a_rule(spec, ctx) {
                    ineligible += 1;
                }
            }
        }
        let (scored, _, _) = engine.score(ctx, &facts, &eligible);
        for s in &scored {
            if plan_truth.effects.contains_key(&s.spec.kind) {
                pairs.push(Pair {
                    estimate: s.estimate.mean,
                    truth: plan_truth.of(&s.spec.kind),
                    busywork: busywork.contains(&s.spec.kind.as_str()),
                });
            }
        }
        for (baseline, acc) in Baseline::ALL.iter().zip(baselines.iter_mut()) {
            let ranked = baseline_ranking(*baseline, &eligible, &facts, popularity);
            match baseline {
                Baseline::StatusQuo => acc.add(&plan_truth, 0.0, None),
                Baseline::RandomEligible => {
                    let expected = if ranked.is_empty() {
                        0.0
                    } else {
                        ranked.iter().map(|s| plan_truth.of(&s.kind)).sum::<f64>()
                            / ranked.len() as f64
                    };
                    acc.add(&plan_truth, expected, None);
                }
                _ => {
                    let kinds: Vec<&str> = ranked.iter().map(|s| s.kind.as_str()).collect();
                    let pick = kinds.first().map_or(0.0, |k| plan_truth.of(k));
                    acc.add(&plan_truth, pick, Some(plan_truth.ndcg5(&kinds)));
                }
            }
        }
    }
    let mut policies = vec![nextbest.finish("nextbest")];
    policies.extend(
        Baseline::ALL
            .iter()
            .zip(&baselines)
            .map(|(b, acc)| acc.finish(b.as_str())),
    );
    DecisionReport {
        plans: nextbest.plans,
        plans_without_truth: without_truth,
        policies,
        estimates: estimate_quality(&pairs, closed, busywork),
        ineligible_top_picks: ineligible,
        top_pick_basis: basis,
        simulation: None,
    }
}

/// One (plan, eligible kind) pair: the engine's estimate and the truth.
struct Pair {
    estimate: f64,
    truth: f64,
    busywork: bool,
}

fn mean_of(pairs: &[Pair], f: impl Fn(&Pair) -> Option<f64>) -> f64 {
    let (sum, n) = pairs
        .iter()
        .filter_map(f)
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn estimate_quality(pairs: &[Pair], closed: &[PlanRecord], busywork: &[&str]) -> EstimateQuality {
    let n = pairs.len();
    if n == 0 {
        return EstimateQuality::default();
    }
    let me = mean_of(pairs, |p| Some(p.estimate));
    let mt = mean_of(pairs, |p| Some(p.truth));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for p in pairs {
        sxy += (p.estimate - me) * (p.truth - mt);
        sxx += (p.estimate - me).powi(2);
        syy += (p.truth - mt).powi(2);
    }
    let correlation = (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt());
    let kinds: HashSet<&str> = closed
        .iter()
        .flat_map(|r| r.activities.iter().map(|a| a.kind.as_str()))
        .collect();
    let naive = |want_busywork: bool| {
        let diffs: Vec<f64> = kinds
            .iter()
            .filter(|k| busywork.contains(k) == want_busywork)
            .filter_map(|k| naive_difference(closed, k))
            .collect();
        (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64)
    };
    EstimateQuality {
        pairs: n,
        correlation,
        mean_abs_error: mean_of(pairs, |p| Some((p.estimate - p.truth).abs())),
        busywork_mean_estimate: mean_of(pairs, |p| p.busywork.then_some(p.estimate)),
        busywork_mean_truth: mean_of(pairs, |p| p.busywork.then_some(p.truth)),
        useful_mean_estimate: mean_of(pairs, |p| (!p.busywork).then_some(p.estimate)),
        useful_mean_truth: mean_of(pairs, |p| (!p.busywork).then_some(p.truth)),
        busywork_naive_difference: naive(true),
        useful_naive_difference: naive(false),
    }
}

/// Mean attainment of closed plans that did `kind` minus those that did not.
fn naive_difference(closed: &[PlanRecord], kind: &str) -> Option<f64> {
    let (mut with, mut without) = ((0.0, 0usize), (0.0, 0usize));
    for record in closed {
        let Some(a) = record.attainment() else {
            continue;
        };
        let did = record
            .activities
            .iter()
            .any(|x| x.kind == kind && x.status == ActivityStatus::Done);
        let side = if did { &mut with } else { &mut without };
        side.0 += a;
        side.1 += 1;
    }
    (with.1 > 0 && without.1 > 0).then(|| with.0 / with.1 as f64 - without.0 / without.1 as f64)
}

/// The report as markdown.
pub fn markdown(r: &DecisionReport) -> String {
    let mut out = format!(
        "\n## Decisions against the generator's true effects\n\n{} active plans ({} without truth rows). Top pick: one unit of the action done at as_of. Capture = (true effect of pick − mean over all kinds) / (best − mean).\n\n| policy | mean true effect of top pick | mean regret | capture (mean of plans) | capture (pooled) | NDCG@5 |\n|---|---|---|---|---|---|\n",
        r.plans, r.plans_without_truth
    );
    for p in &r.policies {
        out.push_str(&format!(
            "| {} | {:+.4} | {:.4} | {:.3} | {:.3} | {} |\n",
            p.policy,
            p.mean_true_effect,
            p.mean_regret,
            p.capture,
            p.capture_pooled,
            p.ndcg5
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
        ));
    }
    let e = &r.estimates;
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:+.4}"));
    out.push_str(&format!(
        "\nEffect estimates over {} (plan, eligible kind) pairs: correlation with the truth {}, mean absolute error {:.4}. Busywork kinds (true effect 0): mean estimate {:+.4} (truth {:+.4}); naive with/without difference over closed plans {}. Other kinds: mean estimate {:+.4} (truth {:+.4}); naive difference {}.\n\nTop picks breaking an eligibility rule: {}. Basis of the top pick: {}.\n",
        e.pairs,
        e.correlation.map_or_else(|| "–".to_owned(), |c| format!("{c:.3}")),
        e.mean_abs_error,
        e.busywork_mean_estimate,
        e.busywork_mean_truth,
        opt(e.busywork_naive_difference),
        e.useful_mean_estimate,
        e.useful_mean_truth,
        opt(e.useful_naive_difference),
        r.ineligible_top_picks,
        r.top_pick_basis
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Some(sim) = &r.simulation {
        out.push_str(&simulate::markdown(sim));
    }
    out
}
