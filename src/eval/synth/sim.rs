//! The outcome model of one plan: how its activities and noise turn into key result
//! values over the period, and how its future is re-drawn for the ground truth.
//!
//! Time inside a plan is `tau = day / days` in 0..=1. Key result `j` at `tau` has the
//! attainment ratio
//!
//! `a_j(tau) = b_j * tau^1.2 + sum_i g_i * c_{j,k_i} * ramp(tau - tau_i) + W_p(tau) + W_j(tau)`
//!
//! where `g_i` is the (diminishing, prerequisite-aware) gain of activity `i`, `c_{j,k}` is
//! the plan's effect coefficient of kind `k` on key result `j`, `ramp(x) = clamp(x / 0.3,
//! 0, 1)` and `W_p`, `W_j` are plan- and key-result-level Brownian motions. Realized is
//! `target * max(0, a_j)`.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use super::model::{KindModel, Metric, MISSING_PREREQUISITE_FIT, RAMP};
use super::partner::normal;

/// Standard deviation of the plan-level noise over a whole period (in attainment units).
pub(crate) const SIGMA_PLAN: f64 = 0.14;
/// Standard deviation of each key result's own noise over a whole period.
pub(crate) const SIGMA_KR: f64 = 0.10;
/// The baseline accrues as `tau^BASELINE_SHAPE`: mildly back-loaded, as deals close late.
pub(crate) const BASELINE_SHAPE: f64 = 1.2;
/// Days ahead that an active plan's planned activities cover.
pub(crate) const PLANNED_HORIZON_DAYS: u32 = 21;
/// Probability that a planned activity actually happens.
pub(crate) const PLANNED_KEEP: f64 = 0.85;

/// One unit (or a few units) of an action kind on a day of the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ev {
    pub kind: usize,
    pub day: u32,
    pub qty: f64,
}

/// A key result as the simulation sees it.
#[derive(Debug, Clone)]
pub(crate) struct KrSpec {
    pub metric: Metric,
    /// The target; exported only when `defined`, but realized values always use it.
    pub nominal: f64,
    pub defined: bool,
    pub weight: f64,
    /// Baseline attainment ratio `b_j` reached with no activity and no noise.
    pub base: f64,
}

/// What has been done so far in a plan: units per kind (for diminishing returns) and
/// kinds done in this or any earlier plan of the partner (for prerequisites).
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub counts: Vec<f64>,
    pub done: Vec<bool>,
}

impl Tally {
    pub(crate) fn new(prev_done: &[bool]) -> Self {
        Self {
            counts: vec![0.0; prev_done.len()],
            done: prev_done.to_vec(),
        }
    }

    fn copy_from(&mut self, other: &Tally) {
        self.counts.clone_from(&other.counts);
        self.done.clone_from(&other.done);
    }
}

pub(crate) fn ramp(x: f64) -> f64 {
    (x / RAMP).clamp(0.0, 1.0)
}

/// One plan's structural model: effect coefficients, key results, policy rates. The kinds
/// are shared rather than borrowed so that a prepared world can keep its active plans.
#[derive(Debug, Clone)]
pub(crate) struct PlanSim {
    pub kinds: Arc<[KindModel]>,
    pub days: u32,
    pub krs: Vec<KrSpec>,
    /// `krs.len() x kinds.len()`, row-major: effect coefficient of kind k on key result j.
    pub coef: Vec<f64>,
    /// Cumulative policy rates per day, for drawing which kind an activity is.
    pub rate_cum: Vec<f64>,
    pub rate_total: f64,
}

impl PlanSim {
    pub(crate) fn tau(&self, day: u32) -> f64 {
        f64::from(day) / f64::from(self.days.max(1))
    }

    /// Draws the policy's activities on days `lo..=hi`: a Poisson number of events with
    /// uniform days, the kind of each in proportion to its rate (the same law as one
    /// Poisson process per kind, with fewer draws). Depends only on the plan's profile,
    /// never on outcomes, so paired futures stay paired.
    pub(crate) fn draw_events(&self, rng: &mut ChaCha8Rng, lo: u32, hi: u32, out: &mut Vec<Ev>) {
        if hi < lo || self.rate_total <= 0.0 || self.kinds.is_empty() {
            return;
        }
        let lambda = self.rate_total * f64::from(hi - lo + 1);
        let n = Poisson::new(lambda).map_or(0.0, |p| p.sample(rng)) as usize;
        for _ in 0..n {
            let day = rng.random_range(lo..=hi);
            let u = rng.random::<f64>() * self.rate_total;
            let kind = self
                .rate_cum
                .partition_point(|c| *c <= u)
                .min(self.kinds.len() - 1);
            let qty = if self.kinds[kind].multi_unit {
                match rng.random::<f64>() {
                    v if v < 0.2 => 2.0,
                    v if v < 0.27 => 3.0,
                    _ => 1.0,
                }
            } else {
                1.0
            };
            out.push(Ev { kind, day, qty });
        }
    }

    /// The gain of `qty` more units of `kind` given the tally, which it then updates:
    /// `ln(n + qty + 1) - ln(n + 1)` (the n-th unit adds `ln(2+n) - ln(1+n)`), times
    /// [`MISSING_PREREQUISITE_FIT`] when a prerequisite has not been done.
    pub(crate) fn gain(&self, tally: &mut Tally, kind: usize, qty: f64) -> f64 {
        let n = tally.counts[kind];
        let diminishing = (n + qty + 1.0).ln() - (n + 1.0).ln();
        let prereq_ok = self.kinds[kind]
            .prerequisites
            .iter()
            .all(|p| tally.done[*p]);
        tally.counts[kind] += qty;
        tally.done[kind] = true;
        diminishing
            * if prereq_ok {
                1.0
            } else {
                MISSING_PREREQUISITE_FIT
            }
    }

    pub(crate) fn coef(&self, j: usize, kind: usize) -> f64 {
        self.coef[j * self.kinds.len() + kind]
    }

    fn add(&self, acc: &mut [f64], kind: usize, x: f64) {
        let k = self.kinds.len();
        for (j, a) in acc.iter_mut().enumerate() {
            *a += x * self.coef[j * k + kind];
        }
    }

    /// Attainment ratio of key result `j` at `tau` before noise, given the gains of the
    /// activities done so far as `(day, kind, gain)`.
    pub(crate) fn level(&self, j: usize, tau: f64, done: &[(u32, usize, f64)]) -> f64 {
        let mut v = self.krs[j].base * tau.max(0.0).powf(BASELINE_SHAPE);
        for &(day, kind, g) in done {
            v += g * self.coef(j, kind) * ramp(tau - self.tau(day));
        }
        v
    }

    /// The DATA_FORMAT attainment of final ratios `a` (before rounding): weighted mean of
    /// `min(max(a_j, 0), 2)` over key results with a defined target.
    pub(crate) fn attainment(&self, a: &[f64]) -> f64 {
        let (mut sum, mut w) = (0.0, 0.0);
        for (kr, v) in self.krs.iter().zip(a) {
            if kr.defined {
                sum += kr.weight * v.clamp(0.0, crate::domain::key_result::RATIO_CAP);
                w += kr.weight;
            }
        }
        if w > 0.0 {
            sum / w
        } else {
            0.0
        }
    }

    /// Draws one future of an active plan from `from_day` (as_of): planned activities kept
    /// with [`PLANNED_KEEP`], the policy after the planned horizon, and the noise
    /// increments to the end. Returns the future activities (sorted) in `future` and the
    /// per-key-result noise increments in `noise`.
    pub(crate) fn draw_future(
        &self,
        rng: &mut ChaCha8Rng,
        from_day: u32,
        planned: &[Ev],
        future: &mut Vec<Ev>,
        noise: &mut Vec<f64>,
    ) {
        future.clear();
        for ev in planned {
            if rng.random::<f64>() < PLANNED_KEEP {
                future.push(*ev);
            }
        }
        let lo = from_day + PLANNED_HORIZON_DAYS + 1;
        if self.days >= 1 {
            self.draw_events(rng, lo, self.days - 1, future);
        }
        future.sort_by_key(|e| e.day);
        let left = (1.0 - self.tau(from_day)).max(0.0).sqrt();
        let plan_noise = SIGMA_PLAN * left * normal(rng);
        noise.clear();
        for _ in &self.krs {
            noise.push(plan_noise + SIGMA_KR * left * normal(rng));
        }
    }

    /// Final attainment of a drawn future. `start` holds, per key result, everything fixed
    /// at as_of plus the future noise; `extra` holds interventions `(kind, day)` of one unit
    /// each, sorted by day, merged in day order with the future activities (an intervention
    /// goes first on a tie) so that diminishing returns and prerequisites see them in the
    /// order they happen.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn final_attainment(
        &self,
        start: &[f64],
        tally0: &Tally,
        future: &[Ev],
        extra: &[(usize, u32)],
        scratch: &mut Tally,
        acc: &mut Vec<f64>,
    ) -> f64 {
        scratch.copy_from(tally0);
        acc.clear();
        acc.extend_from_slice(start);
        let mut extra = extra.iter().peekable();
        for ev in future {
            while let Some((kind, day)) = extra.next_if(|(_, day)| *day <= ev.day) {
                let g = self.gain(scratch, *kind, 1.0);
                self.add(acc, *kind, g * ramp(1.0 - self.tau(*day)));
            }
            let g = self.gain(scratch, ev.kind, ev.qty);
            self.add(acc, ev.kind, g * ramp(1.0 - self.tau(ev.day)));
        }
        for (kind, day) in extra {
            let g = self.gain(scratch, *kind, 1.0);
            self.add(acc, *kind, g * ramp(1.0 - self.tau(*day)));
        }
        self.attainment(acc)
    }
}

/// An active plan frozen at as_of: what every future of it starts from. The truth and the
/// policy simulation both evaluate futures through it, so they cannot drift apart.
#[derive(Debug, Clone)]
pub(crate) struct AsOf {
    pub sim: PlanSim,
    /// Per key result: the baseline at the end, the eventual contribution of what was
    /// done, and the noise so far.
    pub fixed: Vec<f64>,
    /// Units and prerequisites done up to as_of.
    pub tally: Tally,
    /// as_of as a day of the plan.
    pub day: u32,
    /// The planned activities (after as_of, within the planned horizon).
    pub planned: Vec<Ev>,
}

/// One drawn future of an active plan, with the buffers its evaluations reuse.
#[derive(Debug, Clone)]
pub(crate) struct Future {
    pub events: Vec<Ev>,
    noise: Vec<f64>,
    start: Vec<f64>,
    scratch: Tally,
    /// Final attainment ratios per key result of the last evaluation.
    pub acc: Vec<f64>,
}

impl AsOf {
    pub(crate) fn future(&self) -> Future {
        Future {
            events: Vec::new(),
            noise: Vec::new(),
            start: Vec::new(),
            scratch: self.tally.clone(),
            acc: Vec::new(),
        }
    }

    /// Draws the world's own future from as_of into `f` (see [`PlanSim::draw_future`]).
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng, f: &mut Future) {
        self.sim
            .draw_future(rng, self.day, &self.planned, &mut f.events, &mut f.noise);
        f.start.clear();
        f.start
            .extend(self.fixed.iter().zip(&f.noise).map(|(a, n)| a + n));
    }

    /// Final attainment of the drawn future `f` with the interventions `extra` (see
    /// [`PlanSim::final_attainment`]); the final ratios are left in `f.acc`.
    pub(crate) fn evaluate(&self, f: &mut Future, extra: &[(usize, u32)]) -> f64 {
        self.sim.final_attainment(
            &f.start,
            &self.tally,
            &f.events,
            extra,
            &mut f.scratch,
            &mut f.acc,
        )
    }
}
