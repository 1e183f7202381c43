//! The policy simulation: every active plan of a synthetic world follows one policy's
//! top action every `step` days for the rest of its period, on top of what its team
//! would do anyway, and the world's structural model says how the plan ends (the mean
//! over common random futures, so policies are compared on the same luck).
//!
//! A policy decides from what it knows: the plan as stored at as_of plus the actions it
//! chose itself; it never sees the drawn futures (see [`PreparedWorld::simulate`]).

use std::collections::HashMap;
use std::sync::Arc;

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::baselines::{baseline_ranking, Baseline};
use super::synth::{DecisionPoint, PreparedWorld, SimOptions, SynthError};
use crate::domain::{Activity, ActivityStatus, Id};
use crate::nba::eligibility::Facts;
use crate::nba::{Engine, PlanContext};

/// One policy's simulated outcome over all active plans.
#[derive(Debug, Clone, Serialize)]
pub struct SimulatedPolicy {
    pub policy: String,
    pub plans: usize,
    /// Mean expected final attainment when the policy is followed.
    pub mean_attainment: f64,
    /// Mean of (attainment with the policy − without it), in attainment units.
    pub uplift: f64,
    /// Share of plans whose expected attainment reaches 1.
    pub expected_hit_share: f64,
    /// Actions the policy added per plan, on average.
    pub actions_per_plan: f64,
}

/// The plan's context at a decision point: as stored, plus the actions the policy chose.
fn context_at(base: &PlanContext, point: &DecisionPoint<'_>) -> PlanContext {
    let mut ctx = base.clone();
    ctx.as_of = point.date;
    let record = Arc::make_mut(&mut ctx.record);
    for (i, (date, kind)) in point.chosen.iter().enumerate() {
        record.activities.push(Activity {
            activity_id: Id::from_trusted(format!("sim-{i}")),
            plan_id: base.record.plan.plan_id.clone(),
            kind: kind.clone(),
            date: *date,
            quantity: 1.0,
            status: ActivityStatus::Done,
            responsible: None,
            kr_id: None,
        });
    }
    record.activities.sort_by_key(|a| a.date);
    ctx
}

/// Which policy chooses.
#[derive(Debug, Clone, Copy)]
pub enum Chooser {
    Nextbest,
    Baseline(Baseline),
}

impl Chooser {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nextbest => "nextbest",
            Self::Baseline(b) => b.as_str(),
        }
    }
}

/// Simulates each chooser on the prepared world. `contexts` are the active plans as
/// loaded from the store at the world's as_of; a plan without one follows nothing.
pub fn run(
    world: &PreparedWorld,
    options: &SimOptions,
    engine: &Engine,
    contexts: &[PlanContext],
    popularity: &HashMap<String, f64>,
    choosers: &[Chooser],
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<SimulatedPolicy>, SynthError> {
    let by_plan: HashMap<&str, &PlanContext> = contexts
        .iter()
        .map(|c| (c.record.plan.plan_id.as_str(), c))
        .collect();
    let mut out = Vec::with_capacity(choosers.len());
    for &chooser in choosers {
        progress(chooser.name());
        let mut rng = ChaCha8Rng::seed_from_u64(world.params().seed ^ 0x5151);
        let mut policy = |point: &DecisionPoint<'_>| -> Option<String> {
            let base = by_plan.get(point.plan_id.as_str())?;
            let ctx = context_at(base, point);
            match chooser {
                Chooser::Nextbest => engine
                    .recommend(&ctx, 1)
                    .actions
                    .into_iter()
                    .next()
                    .map(|a| a.kind),
                Chooser::Baseline(baseline) => {
                    let facts = Facts::of(&ctx);
                    let (eligible, _) = engine.eligibility(&facts);
                    let ranked = baseline_ranking(baseline, &eligible, &facts, popularity);
                    match baseline {
                        Baseline::StatusQuo => None,
                        Baseline::RandomEligible => ranked.choose(&mut rng).map(|s| s.kind.clone()),
                        _ => ranked.first().map(|s| s.kind.clone()),
                    }
                }
            }
        };
        let runs = world.simulate(options, &mut policy)?;
        let n = runs.len().max(1) as f64;
        out.push(SimulatedPolicy {
            policy: chooser.name().to_owned(),
            plans: runs.len(),
            mean_attainment: runs.iter().map(|r| r.expected_attainment).sum::<f64>() / n,
            uplift: runs
                .iter()
                .map(|r| r.expected_attainment - r.baseline_attainment)
                .sum::<f64>()
                / n,
            expected_hit_share: runs.iter().filter(|r| r.expected_attainment >= 1.0).count() as f64
                / n,
            actions_per_plan: runs.iter().map(|r| r.actions.len()).sum::<usize>() as f64 / n,
        });
    }
    Ok(out)
}

/// Every chooser: nextbest first, then the baselines.
pub fn all_choosers() -> Vec<Chooser> {
    std::iter::once(Chooser::Nextbest)
        .chain(Baseline::ALL.iter().map(|b| Chooser::Baseline(*b)))
        .collect()
}

/// The simulation table as markdown.
pub fn markdown(sim: &[SimulatedPolicy]) -> String {
    let mut out = String::from(
        "\n### Simulation: every active plan follows the policy's top action for the rest of its period\n\n| policy | plans | mean expected attainment | uplift vs no extra action | plans expected to hit | actions per plan |\n|---|---|---|---|---|---|\n",
    );
    for p in sim {
        out.push_str(&format!(
            "| {} | {} | {:.4} | {:+.4} | {:.3} | {:.1} |\n",
            p.policy,
            p.plans,
            p.mean_attainment,
            p.uplift,
            p.expected_hit_share,
            p.actions_per_plan
        ));
    }
    out
}
