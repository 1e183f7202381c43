//! One partner's history: profile, consecutive plans with key results, activities and
//! progress up to as_of, and the ground truth of its active plan.

use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::model::{
    capability_modifier, type_modifier, KindModel, Metric, BELOW_RELATIONSHIP_FIT, OFF_STAGE_FIT,
    POLICY_BELOW_RELATIONSHIP, POLICY_OFF_STAGE, POLICY_Q, POLICY_Q_BUSYWORK, POLICY_SCALE,
    QUARTER_DAYS,
};
use super::partner::{draw_partner, normal, pick, Manager, Traits};
use super::sim::{AsOf, Ev, KrSpec, PlanSim, Tally, PLANNED_HORIZON_DAYS, SIGMA_KR, SIGMA_PLAN};
use super::{
    rng_for, SynthError, SynthParams, TruthEffect, TruthOutcome, STREAM_TRUTH, STREAM_WORLD,
};
use crate::domain::{
    key_result::weighted_attainment, Activity, ActivityStatus, Id, JourneyStage, KeyResult,
    KrProgress, Partner, PartnerType, Plan, PlanStatus, Tier,
};

/// Days between two kr_progress points.
pub(crate) const PROGRESS_STEP_DAYS: u32 = 14;
/// Share of finished plans that were cancelled part-way.
const CANCEL_RATE: f64 = 0.02;
/// Share of done-looking policy draws recorded as cancelled activities (no effect).
const ACTIVITY_CANCEL_RATE: f64 = 0.02;
/// Share of partners with a draft plan for the next period.
const DRAFT_RATE: f64 = 0.12;
/// Share of key result targets left undefined.
const UNDEFINED_TARGET_RATE: f64 = 0.15;

/// Everything shared by all partners of a world.
pub(crate) struct Ctx<'a> {
    pub params: &'a SynthParams,
    pub kinds: Arc<[KindModel]>,
    pub managers: &'a [Manager],
    pub window_start: NaiveDate,
    /// Whether to compute the truth draws; a policy simulation draws its own futures and
    /// skips them (they come from their own stream, so the world is the same either way).
    pub truth: bool,
}

/// One partner's rows.
#[derive(Debug, Default)]
pub(crate) struct PartnerOut {
    pub partner: Option<Partner>,
    pub plans: Vec<Plan>,
    pub key_results: Vec<KeyResult>,
    pub kr_progress: Vec<KrProgress>,
    pub activities: Vec<Activity>,
    pub truth_effects: Vec<TruthEffect>,
    pub truth_outcomes: Vec<TruthOutcome>,
    pub active: Option<ActiveOut>,
}

/// The partner's active plan, frozen at as_of for the policy simulation.
#[derive(Debug)]
pub(crate) struct ActiveOut {
    pub plan_id: Id,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub state: AsOf,
}

fn add_days(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_days(Days::new(u64::from(n))).unwrap_or(d)
}

fn sub_days(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_sub_days(Days::new(u64::from(n))).unwrap_or(d)
}

fn days_between(a: NaiveDate, b: NaiveDate) -> u32 {
    u32::try_from((b - a).num_days().max(0)).unwrap_or(0)
}

/// The plan template for a journey stage.
fn template_for(rng: &mut ChaCha8Rng, stage: JourneyStage, t: PartnerType) -> &'static str {
    match stage {
        JourneyStage::Prospect | JourneyStage::Onboard => {
            if matches!(t, PartnerType::Isv | PartnerType::SystemIntegrator)
                && rng.random::<f64>() < 0.5
            {
                "tech_onboarding"
            } else {
                "onboarding"
            }
        }
        JourneyStage::Develop => "joint_business",
        JourneyStage::Win => {
            if rng.random::<f64>() < 0.6 {
                "joint_business"
            } else {
                "growth"
            }
        }
        JourneyStage::Deliver => "service",
        JourneyStage::Expand => "growth",
        JourneyStage::Retain => {
            if rng.random::<f64>() < 0.5 {
                "service"
            } else {
                "joint_business"
            }
        }
    }
}

fn template_label(template: &str) -> &'static str {
    match template {
        "onboarding" => "Onboarding plan",
        "tech_onboarding" => "Tech onboarding plan",
        "joint_business" => "Joint business plan",
        "growth" => "Growth plan",
        _ => "Service plan",
    }
}

/// Baseline shift of a template: growth plans carry stretch targets, service plans soft ones.
fn template_term(template: &str) -> f64 {
    match template {
        "onboarding" => 0.02,
        "tech_onboarding" => -0.03,
        "growth" => -0.05,
        "service" => 0.04,
        _ => 0.0,
    }
}

/// Baseline shift of a partner type.
fn type_term(t: PartnerType) -> f64 {
    match t {
        PartnerType::Msp => 0.03,
        PartnerType::Distributor => 0.02,
        PartnerType::Referral => -0.05,
        PartnerType::Marketplace => -0.03,
        _ => 0.0,
    }
}

fn metrics_for(template: &str) -> [Metric; 4] {
    use Metric::*;
    match template {
        "onboarding" => [Certifications, TrainedReps, Pipeline, DealsWon],
        "tech_onboarding" => [Certifications, Pipeline, Revenue, TrainedReps],
        "growth" => [Revenue, Pipeline, DealsWon, Nps],
        "service" => [Nps, Revenue, Certifications, TrainedReps],
        _ => [Revenue, Pipeline, DealsWon, Certifications],
    }
}

/// Next journey stage after a finished plan; better relationships move on faster.
fn next_stage(rng: &mut ChaCha8Rng, stage: JourneyStage, q: f64) -> JourneyStage {
    use JourneyStage::*;
    let (p, next) = match stage {
        Prospect => (1.0, Onboard),
        Onboard => (1.0, Develop),
        Develop => (0.5, Win),
        Win => (0.45, Deliver),
        Deliver => (0.45, Expand),
        Expand => (0.35, Retain),
        Retain => (0.3, Expand),
    };
    let p = if p >= 1.0 {
        1.0
    } else {
        (p + 0.08 * q).clamp(0.1, 0.9)
    };
    if rng.random::<f64>() < p {
        next
    } else {
        stage
    }
}

fn tier_factor(tier: Tier) -> f64 {
    [0.6, 0.8, 1.0, 1.3, 1.7][tier.index().min(4)]
}

/// Key result specs of a plan: 1-4 metrics from the template, targets scaled to the
/// partner and period, 15% undefined (at least one defined unless a draft).
fn draw_krs(
    rng: &mut ChaCha8Rng,
    template: &str,
    days: u32,
    tr: &Traits,
    plan_base: f64,
    draft: bool,
) -> Vec<KrSpec> {
    let mut metrics = metrics_for(template);
    metrics[1..].shuffle(rng);
    let n = 1 + pick(rng, &[0.25, 0.4, 0.25, 0.1]);
    let size = (tr.employees as f64 / 80.0).powf(0.4) * tier_factor(tr.tier);
    let period = f64::from(days) / QUARTER_DAYS;
    let mut krs: Vec<KrSpec> = metrics[..n]
        .iter()
        .map(|&metric| {
            let noise = (0.3 * normal(rng)).exp();
            let nominal = match metric {
                Metric::Revenue => {
                    ((25_000.0 * size * period * noise) / 1000.0)
                        .round()
                        .max(1.0)
                        * 1000.0
                }
                Metric::Pipeline => {
                    ((75_000.0 * size * period * noise) / 5000.0)
                        .round()
                        .max(1.0)
                        * 5000.0
                }
                Metric::DealsWon => (4.0 * size * period * noise).round().max(1.0),
                Metric::Certifications => (3.0 * size.sqrt() * period * noise).round().max(1.0),
                Metric::TrainedReps => (5.0 * size.sqrt() * period * noise).round().max(1.0),
                Metric::Nps => f64::from(rng.random_range(30..=60u32)),
            };
            let weight = [1.0, 2.0, 3.0][pick(rng, &[0.65, 0.25, 0.10])];
            let defined = rng.random::<f64>() >= UNDEFINED_TARGET_RATE;
            let base = plan_base + metric.offset() + 0.04 * normal(rng);
            KrSpec {
                metric,
                nominal,
                defined,
                weight,
                base,
            }
        })
        .collect();
    if !draft && !krs.iter().any(|k| k.defined) {
        krs[0].defined = true;
    }
    krs
}

/// Builds a plan's structural model: effect coefficients (`beta_k` times metric affinity)
/// and the policy's rates.
fn plan_sim(
    ctx: &Ctx<'_>,
    tr: &Traits,
    stage: JourneyStage,
    days: u32,
    krs: Vec<KrSpec>,
    plan_responsiveness: f64,
) -> PlanSim {
    let kinds = &ctx.kinds;
    let diligence = ctx.managers.get(tr.manager).map_or(0.0, |m| m.diligence);
    let mut coef = vec![0.0; krs.len() * kinds.len()];
    let mut rate_cum = Vec::with_capacity(kinds.len());
    let mut total = 0.0;
    // A longer plan has proportionally larger targets, so one action moves its ratio less.
    let period_scale = (QUARTER_DAYS / f64::from(days.max(1))).sqrt();
    for (k, km) in kinds.iter().enumerate() {
        let fits = km.fits_stage(stage);
        let below = tr.relationship < km.min_relationship;
        let beta = km.base_effect
            * if fits { 1.0 } else { OFF_STAGE_FIT }
            * if below { BELOW_RELATIONSHIP_FIT } else { 1.0 }
            * type_modifier(&km.kind, tr.partner_type)
            * capability_modifier(km.cap_class, tr.cap)
            * tr.responsiveness
            * plan_responsiveness
            * period_scale;
        for (j, kr) in krs.iter().enumerate() {
            coef[j * kinds.len() + k] = beta * kr.metric.affinity(&km.category);
        }
        // Without confounding the policy ignores q and diligence: q still drives the
        // baseline, but no longer who does what.
        let confounder = if ctx.params.confounding {
            let q_slope = if km.busywork {
                POLICY_Q_BUSYWORK
            } else {
                POLICY_Q
            };
            (q_slope * tr.q + diligence).exp()
        } else {
            1.0
        };
        let rate = km.quarter_rate / QUARTER_DAYS
            * POLICY_SCALE
            * if fits { 1.0 } else { POLICY_OFF_STAGE }
            * if below {
                POLICY_BELOW_RELATIONSHIP
            } else {
                1.0
            }
            * confounder;
        total += rate;
        rate_cum.push(total);
    }
    PlanSim {
        kinds: Arc::clone(kinds),
        days,
        krs,
        coef,
        rate_cum,
        rate_total: total,
    }
}

/// Ids of one plan's rows.
struct PlanIds {
    plan: Id,
    krs: Vec<Id>,
}

impl PlanIds {
    fn new(partner: &Id, n: usize, krs: usize) -> Result<Self, SynthError> {
        let plan = Id::parse(&format!("{partner}.{n}"))?;
        let krs = (1..=krs)
            .map(|j| Id::parse(&format!("{plan}.k{j}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { plan, krs })
    }
}

/// Simulates one partner. Its world draws come from its own RNG stream and its truth
/// draws from another, so neither depends on other partners or on `truth_draws`.
pub(crate) fn simulate_partner(ctx: &Ctx<'_>, index: usize) -> Result<PartnerOut, SynthError> {
    let params = ctx.params;
    let mut rng = rng_for(params.seed, index as u64, STREAM_WORLD);
    let mut truth_rng = rng_for(params.seed, index as u64, STREAM_TRUTH);
    let window_days = params.years.saturating_mul(365);

    // 75% of partners joined before the history window, the rest during it.
    let is_new = rng.random::<f64>() >= 0.75;
    let since = if is_new {
        add_days(
            ctx.window_start,
            rng.random_range(0..window_days.saturating_sub(5).max(1)),
        )
    } else {
        sub_days(ctx.window_start, rng.random_range(30..2500))
    };
    let (mut partner, tr) = draw_partner(&mut rng, index, ctx.managers, since)?;
    let owner = ctx.managers.get(tr.manager).map(|m| m.id.clone());
    let manager_effect = ctx.managers.get(tr.manager).map_or(0.0, |m| m.effect);

    let mut out = PartnerOut::default();
    let (mut start, mut stage) = if is_new {
        (since, JourneyStage::Onboard)
    } else {
        let stages = [
            JourneyStage::Develop,
            JourneyStage::Win,
            JourneyStage::Deliver,
            JourneyStage::Expand,
            JourneyStage::Retain,
        ];
        let s = stages[pick(&mut rng, &[0.2, 0.25, 0.15, 0.25, 0.15])];
        (
            sub_days(ctx.window_start, rng.random_range(0..60)).max(since),
            s,
        )
    };
    let mut prev_done = vec![false; ctx.kinds.len()];
    let mut plan_no = 0usize;
    let as_of = params.as_of;

    while start <= as_of {
        plan_no += 1;
        let template = template_for(&mut rng, stage, tr.partner_type);
        let days = if template.ends_with("onboarding") {
            rng.random_range(90..=120)
        } else if rng.random::<f64>() < 0.15 {
            91
        } else {
            182
        };
        let end = add_days(start, days);
        let active = end >= as_of;
        let cancelled = !active && rng.random::<f64>() < CANCEL_RATE;
        let plan_base = 0.71
            + 0.2 * tr.q
            + 0.03 * (tr.tier.index() as f64 - 2.0)
            + template_term(template)
            + type_term(tr.partner_type)
            + manager_effect
            + 0.05 * normal(&mut rng);
        let krs = draw_krs(&mut rng, template, days, &tr, plan_base, false);
        let plan_responsiveness = (0.15 * normal(&mut rng)).exp();
        let sim = plan_sim(ctx, &tr, stage, days, krs, plan_responsiveness);
        let ids = PlanIds::new(&partner.partner_id, plan_no, sim.krs.len())?;
        let status = if active {
            PlanStatus::Active
        } else if cancelled {
            PlanStatus::Cancelled
        } else {
            PlanStatus::Closed
        };
        out.plans.push(Plan {
            plan_id: ids.plan.clone(),
            partner_id: partner.partner_id.clone(),
            start_date: start,
            end_date: end,
            name: Some(format!(
                "{} {}-{:02}",
                template_label(template),
                start.year(),
                start.month()
            )),
            template: Some(template.to_owned()),
            status,
            owner_id: owner.clone(),
        });

        // The last day observed: the end, the cancellation day, or as_of.
        let last_day = if active {
            days_between(start, as_of).min(days)
        } else if cancelled {
            (f64::from(days) * rng.random_range(0.2..0.7)) as u32
        } else {
            days
        };
        let mut events = Vec::new();
        sim.draw_events(
            &mut rng,
            0,
            last_day.min(days.saturating_sub(1)),
            &mut events,
        );
        events.sort_by_key(|e| e.day);

        let mut tally = Tally::new(&prev_done);
        let mut gains: Vec<(u32, usize, f64)> = Vec::with_capacity(events.len());
        let mut act_no = 0usize;
        for ev in &events {
            let status = if rng.random::<f64>() < ACTIVITY_CANCEL_RATE {
                ActivityStatus::Cancelled
            } else {
                gains.push((ev.day, ev.kind, sim.gain(&mut tally, ev.kind, ev.qty)));
                ActivityStatus::Done
            };
            act_no += 1;
            push_activity(
                &mut out, ctx, &sim, &ids, act_no, start, ev, status, &mut rng,
            )?;
        }

        // Key result paths: Brownian noise at two-weekly checkpoints up to the last day.
        let mut checkpoints: Vec<u32> = (1..)
            .map(|i| i * PROGRESS_STEP_DAYS)
            .take_while(|d| *d < last_day)
            .collect();
        if last_day > 0 {
            checkpoints.push(last_day);
        }
        let (mut wp, mut wj) = (0.0, vec![0.0; sim.krs.len()]);
        let mut prev_tau = 0.0;
        let mut realized_now = vec![0.0; sim.krs.len()];
        for &cp in &checkpoints {
            let tau = sim.tau(cp);
            let dt = (tau - prev_tau).max(0.0).sqrt();
            prev_tau = tau;
            wp += SIGMA_PLAN * dt * normal(&mut rng);
            for (j, w) in wj.iter_mut().enumerate() {
                *w += SIGMA_KR * dt * normal(&mut rng);
                let kr = &sim.krs[j];
                let a = sim.level(j, tau, &gains) + wp + *w;
                let value = kr.metric.round(kr.nominal * a.max(0.0));
                realized_now[j] = value;
                // Platforms track progress only where a target was set (pace needs one).
                if kr.defined {
                    out.kr_progress.push(KrProgress {
                        kr_id: ids.krs[j].clone(),
                        as_of: add_days(start, cp),
                        realized: value,
                    });
                }
            }
        }
        for (j, kr) in sim.krs.iter().enumerate() {
            out.key_results.push(KeyResult {
                kr_id: ids.krs[j].clone(),
                plan_id: ids.plan.clone(),
                metric: Some(kr.metric.as_str().to_owned()),
                target: kr.defined.then_some(kr.nominal),
                realized: Some(realized_now[j]),
                objective: Some(kr.metric.objective().to_owned()),
                unit: Some(kr.metric.unit().to_owned()),
                weight: kr.weight,
                due_date: None,
            });
        }

        if active {
            partner.journey_stage = Some(stage);
            // Planned activities: the policy's next three weeks.
            let mut planned = Vec::new();
            let hi = (last_day + PLANNED_HORIZON_DAYS).min(days.saturating_sub(1));
            sim.draw_events(&mut rng, last_day + 1, hi, &mut planned);
            planned.sort_by_key(|e| e.day);
            for ev in &planned {
                act_no += 1;
                push_activity(
                    &mut out,
                    ctx,
                    &sim,
                    &ids,
                    act_no,
                    start,
                    ev,
                    ActivityStatus::Planned,
                    &mut rng,
                )?;
            }
            // Fixed at as_of: baseline, the eventual contribution of what was done, noise so far.
            let fixed: Vec<f64> = (0..sim.krs.len())
                .map(|j| sim.level(j, 1.0, &gains) + wp + wj[j])
                .collect();
            let state = AsOf {
                sim,
                fixed,
                tally,
                day: last_day,
                planned,
            };
            truth(ctx, &state, &ids, &mut truth_rng, &mut rng, &mut out);
            out.active = Some(ActiveOut {
                plan_id: ids.plan.clone(),
                start_date: start,
                end_date: end,
                state,
            });

            if rng.random::<f64>() < DRAFT_RATE {
                plan_no += 1;
                let next_start = add_days(end, 1);
                let template = template_for(&mut rng, stage, tr.partner_type);
                let days = if rng.random::<f64>() < 0.3 { 91 } else { 182 };
                let krs = draw_krs(&mut rng, template, days, &tr, 0.0, true);
                let ids = PlanIds::new(&partner.partner_id, plan_no, krs.len())?;
                out.plans.push(Plan {
                    plan_id: ids.plan.clone(),
                    partner_id: partner.partner_id.clone(),
                    start_date: next_start,
                    end_date: add_days(next_start, days),
                    name: Some(format!(
                        "{} {}-{:02}",
                        template_label(template),
                        next_start.year(),
                        next_start.month()
                    )),
                    template: Some(template.to_owned()),
                    status: PlanStatus::Draft,
                    owner_id: owner.clone(),
                });
                for (j, kr) in krs.iter().enumerate() {
                    out.key_results.push(KeyResult {
                        kr_id: ids.krs[j].clone(),
                        plan_id: ids.plan.clone(),
                        metric: Some(kr.metric.as_str().to_owned()),
                        target: kr.defined.then_some(kr.nominal),
                        realized: None,
                        objective: Some(kr.metric.objective().to_owned()),
                        unit: Some(kr.metric.unit().to_owned()),
                        weight: kr.weight,
                        due_date: None,
                    });
                }
            }
            break;
        }
        prev_done = tally.done;
        if !cancelled {
            stage = next_stage(&mut rng, stage, tr.q);
        }
        start = add_days(end, 1);
    }
    if partner.journey_stage.is_none() {
        partner.journey_stage = Some(stage);
    }
    out.partner = Some(partner);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn push_activity(
    out: &mut PartnerOut,
    ctx: &Ctx<'_>,
    sim: &PlanSim,
    ids: &PlanIds,
    n: usize,
    start: NaiveDate,
    ev: &Ev,
    status: ActivityStatus,
    rng: &mut ChaCha8Rng,
) -> Result<(), SynthError> {
    let km = &ctx.kinds[ev.kind];
    // One activity in ten names the key result it serves: the one it moves most.
    let kr_id = if rng.random::<f64>() < 0.1 {
        let best = (0..sim.krs.len())
            .max_by(|a, b| sim.coef(*a, ev.kind).total_cmp(&sim.coef(*b, ev.kind)))
            .unwrap_or(0);
        ids.krs.get(best).cloned()
    } else {
        None
    };
    out.activities.push(Activity {
        activity_id: Id::parse(&format!("{}.a{n}", ids.plan))?,
        plan_id: ids.plan.clone(),
        kind: km.kind.clone(),
        date: add_days(start, ev.day),
        quantity: ev.qty,
        status,
        responsible: Some(km.responsible),
        kr_id,
    });
    Ok(())
}

/// The ground truth of an active plan (see `data/README.md`): `truth_draws` futures with
/// common random numbers, each evaluated without and with one extra unit of every kind
/// done at as_of; and the world's own future, drawn from the world RNG. The world's future
/// is drawn even when `ctx.truth` is off, since the world RNG goes on to later rows.
fn truth(
    ctx: &Ctx<'_>,
    state: &AsOf,
    ids: &PlanIds,
    truth_rng: &mut ChaCha8Rng,
    world_rng: &mut ChaCha8Rng,
    out: &mut PartnerOut,
) {
    let mut future = state.future();
    let draws = ctx.params.truth_draws.max(1);
    let drawn = ctx.truth.then(|| {
        let mut effects = vec![0.0; ctx.kinds.len()];
        let mut expected = 0.0;
        for _ in 0..draws {
            state.draw(truth_rng, &mut future);
            let without = state.evaluate(&mut future, &[]);
            expected += without;
            for (kind, e) in effects.iter_mut().enumerate() {
                *e += state.evaluate(&mut future, &[(kind, state.day)]) - without;
            }
        }
        (effects, expected)
    });

    // The world's realised future, reported as the data would report it (rounded values).
    state.draw(world_rng, &mut future);
    state.evaluate(&mut future, &[]);
    let Some((effects, expected)) = drawn else {
        return;
    };
    let n = draws as f64;
    for (km, e) in ctx.kinds.iter().zip(&effects) {
        out.truth_effects.push(TruthEffect {
            plan_id: ids.plan.clone(),
            kind: km.kind.clone(),
            true_effect: e / n,
        });
    }
    let sim = &state.sim;
    let true_attainment = weighted_attainment(sim.krs.iter().zip(&future.acc).map(|(kr, a)| {
        (
            kr.defined.then_some(kr.nominal),
            Some(kr.metric.round(kr.nominal * a.max(0.0))),
            kr.weight,
        )
    }))
    .unwrap_or(0.0);
    out.truth_outcomes.push(TruthOutcome {
        plan_id: ids.plan.clone(),
        true_attainment,
        true_expected_attainment: expected / n,
    });
}
