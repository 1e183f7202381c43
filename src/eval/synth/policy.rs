//! Policy simulation: what an active plan's final attainment would be if, from as_of on,
//! its manager followed a policy's recommendations, against the world going on alone.
//!
//! A recommender is judged by the outcomes of acting on it, which real data cannot show;
//! the synthetic world can. Every active plan is frozen at as_of exactly as the truth
//! freezes it ([`AsOf`]), the policy is asked at each decision date what to do that day,
//! and the plan's futures are evaluated with and without those actions by the same code
//! that computes the truth effects, so a one-action-at-as_of policy reproduces them.

use chrono::{Days, NaiveDate};

use super::sim::AsOf;
use super::{rng_for, simulate_partners, SynthError, SynthParams, STREAM_POLICY};
use crate::domain::Id;

/// A policy's actions of one plan: by date and kind name, and as `(kind index, plan day)`.
type Decisions = (Vec<(NaiveDate, String)>, Vec<(usize, u32)>);

/// One decision point of an active plan in the simulation.
#[derive(Debug, Clone, Copy)]
pub struct DecisionPoint<'a> {
    pub plan_id: &'a Id,
    pub partner_id: &'a Id,
    /// as_of, as_of + step, ... strictly before the plan's end.
    pub date: NaiveDate,
    /// What this policy already chose earlier in this plan's simulation.
    pub chosen: &'a [(NaiveDate, String)],
}

/// One active plan's result: mean final attainment over the futures with the policy's
/// actions (`expected_attainment`) and without them (`baseline_attainment`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRun {
    pub plan_id: Id,
    pub expected_attainment: f64,
    pub baseline_attainment: f64,
    pub actions: Vec<(NaiveDate, String)>,
}

/// How the policy is consulted and evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOptions {
    /// Days between two decision points of a plan (the kr_progress cadence by default).
    pub step_days: u32,
    /// Futures per plan; the same futures for every policy.
    pub draws: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            step_days: 14,
            draws: 32,
        }
    }
}

/// An active plan of the prepared world, as of the world's as_of.
#[derive(Debug, Clone)]
pub struct ActivePlan {
    pub plan_id: Id,
    pub partner_id: Id,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// The partner's index, which seeds the plan's futures.
    index: u64,
    pub(crate) state: AsOf,
}

/// A world regenerated once and frozen at as_of, so that several policies can be
/// simulated on it without regenerating it for each.
#[derive(Debug, Clone)]
pub struct PreparedWorld {
    params: SynthParams,
    /// The built-in kinds in catalog order: a policy's kind by its index in the model.
    pub(crate) kinds: Vec<String>,
    plans: Vec<ActivePlan>,
}

/// Regenerates the world of `params` (without its truth draws, which the simulation does
/// not need) and freezes its active plans at as_of.
pub fn prepare(params: &SynthParams) -> Result<PreparedWorld, SynthError> {
    let mut plans = Vec::new();
    simulate_partners(params, false, &mut |index, out| {
        if let (Some(partner), Some(active)) = (out.partner, out.active) {
            plans.push(ActivePlan {
                plan_id: active.plan_id,
                partner_id: partner.partner_id,
                start_date: active.start_date,
                end_date: active.end_date,
                index: index as u64,
                state: active.state,
            });
        }
    })?;
    let kinds = super::model::kind_models()
        .into_iter()
        .map(|k| k.kind)
        .collect();
    Ok(PreparedWorld {
        params: params.clone(),
        kinds,
        plans,
    })
}

/// [`prepare`] then [`PreparedWorld::simulate`], for a single policy.
pub fn simulate_policy(
    params: &SynthParams,
    options: &SimOptions,
    policy: &mut dyn FnMut(&DecisionPoint<'_>) -> Option<String>,
) -> Result<Vec<PolicyRun>, SynthError> {
    prepare(params)?.simulate(options, policy)
}

impl PreparedWorld {
    pub fn params(&self) -> &SynthParams {
        &self.params
    }

    /// The active plans, in partner order (the order of [`Self::simulate`]'s results).
    pub fn active_plans(&self) -> &[ActivePlan] {
        &self.plans
    }

    /// For every active plan, asks `policy` at each decision point which kind (a built-in
    /// catalog kind, or None) is done that day, one unit, then evaluates the plan's final
    /// attainment over `options.draws` futures with and without those actions.
    ///
    /// Decisions are open-loop: the policy sees what it chose before, never a drawn
    /// future, so it is asked once per decision point and the same actions meet every
    /// future. The world's own behaviour (planned activities, its policy, the noise) does
    /// not react to the policy's actions.
    pub fn simulate(
        &self,
        options: &SimOptions,
        policy: &mut dyn FnMut(&DecisionPoint<'_>) -> Option<String>,
    ) -> Result<Vec<PolicyRun>, SynthError> {
        self.simulate_on(STREAM_POLICY, options, policy)
    }

    /// [`Self::simulate`] with the futures drawn from `stream`: the truth stream makes the
    /// simulation reproduce the truth, which the tests check.
    pub(crate) fn simulate_on(
        &self,
        stream: u64,
        options: &SimOptions,
        policy: &mut dyn FnMut(&DecisionPoint<'_>) -> Option<String>,
    ) -> Result<Vec<PolicyRun>, SynthError> {
        if options.step_days == 0 {
            return Err(SynthError::InvalidParams("step_days must be at least 1"));
        }
        if options.draws == 0 {
            return Err(SynthError::InvalidParams("draws must be at least 1"));
        }
        let mut runs = Vec::with_capacity(self.plans.len());
        for plan in &self.plans {
            let (actions, extra) = self.decide(plan, options.step_days, policy)?;
            let state = &plan.state;
            let mut rng = rng_for(self.params.seed, plan.index, stream);
            let mut future = state.future();
            let (mut with, mut without) = (0.0, 0.0);
            for _ in 0..options.draws {
                state.draw(&mut rng, &mut future);
                without += state.evaluate(&mut future, &[]);
                with += state.evaluate(&mut future, &extra);
            }
            let n = options.draws as f64;
            runs.push(PolicyRun {
                plan_id: plan.plan_id.clone(),
                expected_attainment: with / n,
                baseline_attainment: without / n,
                actions,
            });
        }
        Ok(runs)
    }

    /// Asks the policy at as_of and every `step` days after while before the plan's end;
    /// returns the chosen actions in day order.
    fn decide(
        &self,
        plan: &ActivePlan,
        step: u32,
        policy: &mut dyn FnMut(&DecisionPoint<'_>) -> Option<String>,
    ) -> Result<Decisions, SynthError> {
        let (mut actions, mut extra) = (Vec::new(), Vec::new());
        let mut date = self.params.as_of;
        while date < plan.end_date {
            let point = DecisionPoint {
                plan_id: &plan.plan_id,
                partner_id: &plan.partner_id,
                date,
                chosen: &actions,
            };
            if let Some(kind) = policy(&point) {
                let index = self
                    .kinds
                    .iter()
                    .position(|k| *k == kind)
                    .ok_or_else(|| SynthError::UnknownKind(kind.clone()))?;
                let day = u32::try_from((date - plan.start_date).num_days()).unwrap_or(0);
                extra.push((index, day));
                actions.push((date, kind));
            }
            match date.checked_add_days(Days::new(u64::from(step))) {
                Some(next) => date = next,
                None => break,
            }
        }
        Ok((actions, extra))
    }
}
