//! The effect model: what one more unit of an action, done now, does to a plan's final
//! attainment, estimated so that "good partners do more of everything" is not read as
//! an effect.
//!
//! Design (partialling out, as in Robinson's double regression): every training
//! snapshot at share `f` of a closed plan is a decision point. The "treatment" is what
//! the plan did in the next stretch, `t_k = ln(1 + n_k(f + h)) − ln(1 + n_k(f))` per
//! kind (the diminishing-returns scale, so one more unit after `n` is `ln(n + 2) −
//! ln(n + 1)` of it). Everything known at the snapshot (profile, relationship, trust,
//! 6Cs, progress against pace, what was done so far) is partialled out of both sides:
//! the outcome model's prediction is taken from the final attainment, and a ridge
//! regression on the standardised snapshot features is taken from each `t_k`. The
//! effects are the ridge regression of the one residual on the other, with a per
//! partner-type deviation shrunk towards the kind's main effect. What remains confounded
//! is only what the snapshot does not show and that also drives the next stretch's
//! activity, which on the synthetic world is small (measured in `nextbest evaluate`).

use std::collections::HashMap;

use linfa_linalg::cholesky::{InverseC, SolveC};
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

/// Share of the period after a snapshot whose activities count as "done now".
pub const WINDOW: f64 = 0.2;
/// Snapshot shares used as decision points (the window must fit in the period).
pub const DECISION_FRACTIONS: [f64; 4] = [0.1, 0.25, 0.5, 0.75];
/// A kind needs this many decision points with some of it in the window to get an
/// effect of its own.
pub const MIN_TREATED: usize = 30;
/// Ridge penalty, relative to the number of rows, on the main effects (barely any) and
/// on the per-type deviations (enough that a type seen a few dozen times stays close to
/// the kind's main effect).
const RIDGE_MAIN: f64 = 1e-4;
const RIDGE_TYPE: f64 = 2e-3;
/// Ridge penalty (relative) of the nuisance regressions of treatments on features.
const RIDGE_NUISANCE: f64 = 1e-3;

/// One decision point: the standardised snapshot features (plus the partner's mean
/// attainment in its other closed plans), the outcome model's prediction, the realised
/// final attainment, the treatments and the partner type.
pub struct DecisionRow {
    pub z: Vec<f64>,
    pub predicted: f64,
    pub attainment: f64,
    /// Per kind in [`EffectModel::kinds`] order.
    pub treatment: Vec<f64>,
    pub partner_type: Option<String>,
    /// Rows of the same plan share this; for the clustered standard errors.
    pub plan: usize,
}

/// Fitted effects, serialised with the outcome model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectModel {
    pub kinds: Vec<String>,
    /// Partner types with a deviation of their own (others use the main effect).
    pub types: Vec<String>,
    /// Effect of one full step on the `ln(1 + n)` scale (0 → 1 unit is `ln 2` of it).
    pub main: Vec<f64>,
    /// `[kind][type]` deviation from `main`.
    pub by_type: Vec<Vec<f64>>,
    /// `[kind][type + 1]` standard error of the effect: index 0 is the main effect,
    /// `1 + t` the effect for type `t` (main + deviation).
    pub se: Vec<Vec<f64>>,
    /// Decision points the effects were fitted on, and treated ones per kind.
    pub rows: usize,
    pub treated: Vec<usize>,
    pub residual_sd: f64,
}

/// Why the effect model could not be fitted (training goes on without it).
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error("too few decision points ({0}) for the effect model")]
    TooFewRows(usize),
    #[error("no action kind varies enough in the training plans")]
    NoTreatments,
    #[error("the effect model's normal equations are singular: {0}")]
    Singular(String),
}

impl EffectModel {
    /// Fits the model on decision rows; `kinds` names the treatment columns.
    pub fn fit(rows: &[DecisionRow], kinds: &[String]) -> Result<Self, EffectError> {
        let n = rows.len();
        if n < 200 {
            return Err(EffectError::TooFewRows(n));
        }
        let treated: Vec<usize> = (0..kinds.len())
            .map(|k| rows.iter().filter(|r| r.treatment[k] > 0.0).count())
            .collect();
        let keep: Vec<usize> = (0..kinds.len())
            .filter(|&k| treated[k] >= MIN_TREATED)
            .collect();
        if keep.is_empty() {
            return Err(EffectError::NoTreatments);
        }
        let width = rows[0].z.len();

        // Nuisance: E[t | z] by ridge on the centred features.
        let z = centred(Array2::from_shape_fn((n, width), |(i, j)| rows[i].z[j]));
        let t = centred(Array2::from_shape_fn((n, keep.len()), |(i, k)| {
            rows[i].treatment[keep[k]]
        }));
        // The outcome's residual is partialled on the same features too: the outcome
        // model saw most of them, but not the partner's record in its other plans.
        let y0: Array1<f64> = rows.iter().map(|r| r.attainment - r.predicted).collect();
        let y0 = &y0 - y0.mean().unwrap_or(0.0);
        let mut targets = t.clone();
        targets
            .push_column(y0.view())
            .map_err(|e| EffectError::Singular(e.to_string()))?;
        let mut gram = z.t().dot(&z);
        add_ridge(&mut gram, RIDGE_NUISANCE * n as f64, 0..width);
        let coef = gram
            .solvec(&z.t().dot(&targets))
            .map_err(|e| EffectError::Singular(e.to_string()))?;
        let residuals = &targets - &z.dot(&coef);
        drop(z);
        let t_res = residuals.slice(ndarray::s![.., ..keep.len()]).to_owned();
        let y_res = residuals.column(keep.len()).to_owned();

        // Types with enough rows get a deviation.
        let mut type_counts: HashMap<&str, usize> = HashMap::new();
        for r in rows {
            if let Some(t) = r.partner_type.as_deref() {
                *type_counts.entry(t).or_default() += 1;
            }
        }
        let mut types: Vec<String> = type_counts
            .into_iter()
            .filter(|(_, c)| *c >= 200)
            .map(|(t, _)| t.to_owned())
            .collect();
        types.sort();
        let type_of: Vec<Option<usize>> = rows
            .iter()
            .map(|r| {
                r.partner_type
                    .as_deref()
                    .and_then(|t| types.iter().position(|x| x == t))
            })
            .collect();

        // Design: [t_res (K), t_res ⊙ type (K × L)].
        let (kk, ll) = (keep.len(), types.len());
        let cols = kk * (1 + ll);
        let design = Array2::from_shape_fn((n, cols), |(i, c)| {
            if c < kk {
                t_res[[i, c]]
            } else {
                let (k, l) = ((c - kk) / ll, (c - kk) % ll);
                if type_of[i] == Some(l) {
                    t_res[[i, k]]
                } else {
                    0.0
                }
            }
        });
        let mut gram = design.t().dot(&design);
        add_ridge(&mut gram, RIDGE_MAIN * n as f64, 0..kk);
        add_ridge(&mut gram, RIDGE_TYPE * n as f64, kk..cols);
        // `solvec` factors its matrix in place, so the inverse (needed for the standard
        // errors anyway) is taken once and used for both.
        let bread = gram
            .invc()
            .map_err(|e| EffectError::Singular(e.to_string()))?;
        let theta = bread.dot(&design.t().dot(&y_res));
        let resid = &y_res - &design.dot(&theta);
        let residual_sd = (resid.mapv(|v| v * v).sum() / n as f64).sqrt();

        // Cluster-robust (by plan) sandwich: bread⁻¹ · meat · bread⁻¹, so the several
        // decision points of one plan do not count as independent evidence.
        let mut scores: HashMap<usize, Array1<f64>> = HashMap::new();
        for (i, row) in design.rows().into_iter().enumerate() {
            let s = scores
                .entry(rows[i].plan)
                .or_insert_with(|| Array1::zeros(cols));
            s.scaled_add(resid[i], &row);
        }
        let mut meat = Array2::<f64>::zeros((cols, cols));
        for s in scores.values() {
            let col = s.view().insert_axis(Axis(1));
            meat = meat + col.dot(&col.t());
        }
        let cov = bread.dot(&meat).dot(&bread);

        let mut model = EffectModel {
            kinds: keep.iter().map(|&k| kinds[k].clone()).collect(),
            types,
            main: theta.iter().take(kk).copied().collect(),
            by_type: (0..kk)
                .map(|k| (0..ll).map(|l| theta[kk + k * ll + l]).collect())
                .collect(),
            se: Vec::with_capacity(kk),
            rows: n,
            treated: keep.iter().map(|&k| treated[k]).collect(),
            residual_sd,
        };
        for k in 0..kk {
            let mut row = vec![cov[[k, k]].max(0.0).sqrt()];
            for l in 0..ll {
                let d = kk + k * ll + l;
                let var = cov[[k, k]] + cov[[d, d]] + 2.0 * cov[[k, d]];
                row.push(var.max(0.0).sqrt());
            }
            model.se.push(row);
        }
        Ok(model)
    }

    /// Effect (and its standard error) of `quantity` more units of `kind`, done now, by
    /// a partner of `partner_type` that did `done` units in the plan so far; `None` for
    /// a kind the model has no effect for.
    pub fn effect(
        &self,
        kind: &str,
        partner_type: Option<&str>,
        done: f64,
        quantity: f64,
    ) -> Option<(f64, f64)> {
        let k = self.kinds.iter().position(|x| x == kind)?;
        let n = done.max(0.0);
        let step = (n + quantity.max(0.0) + 1.0).ln() - (n + 1.0).ln();
        let t = partner_type.and_then(|t| self.types.iter().position(|x| x == t));
        let (theta, se) = match t {
            Some(l) => (
                self.main[k] + self.by_type[k][l],
                self.se[k].get(l + 1).copied().unwrap_or(self.se[k][0]),
            ),
            None => (self.main[k], self.se[k][0]),
        };
        Some((theta * step, se * step))
    }
}

fn centred(mut m: Array2<f64>) -> Array2<f64> {
    if let Some(mean) = m.mean_axis(Axis(0)) {
        m -= &mean;
    }
    m
}

fn add_ridge(gram: &mut Array2<f64>, lambda: f64, range: std::ops::Range<usize>) {
    for i in range {
        gram[[i, i]] += lambda;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A confounded toy world: a latent `q` raises both the baseline and how much of
    /// every kind is done; kind 0 works (effect 0.3 on the ln scale, 0.6 for type "b"),
    /// kind 1 is busywork. The snapshot feature sees `q` with noise, and the outcome
    /// "model" predicts from it. The fit must find kind 0's effect and no effect for
    /// kind 1, where a naive regression would credit both.
    #[test]
    fn partialling_out_separates_an_effect_from_busywork() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut rows = Vec::new();
        for i in 0..4000 {
            let q: f64 = rng.random::<f64>() * 2.0 - 1.0;
            let seen = q + 0.1 * (rng.random::<f64>() - 0.5);
            let typ = if i % 2 == 0 { "a" } else { "b" };
            let rate = (0.8 * q).exp();
            let t0 = (1.0 + (rate * rng.random::<f64>() * 3.0).floor()).ln();
            let t1 = (1.0 + (rate * rng.random::<f64>() * 3.0).floor()).ln();
            let beta = if typ == "b" { 0.6 } else { 0.3 };
            let noise = 0.1 * (rng.random::<f64>() - 0.5);
            let attainment = 0.8 + 0.3 * q + beta * t0 + noise;
            // The nuisance the outcome model learned: E[attainment | seen].
            let predicted = 0.8 + 0.3 * seen + 0.45 * (1.0 + rate).ln();
            rows.push(DecisionRow {
                z: vec![seen, seen * seen, (1.0 + (0.8 * seen).exp()).ln()],
                predicted,
                attainment,
                treatment: vec![t0, t1],
                partner_type: Some(typ.to_owned()),
                plan: i,
            });
        }
        let kinds = vec!["works".to_owned(), "busywork".to_owned()];
        let m = EffectModel::fit(&rows, &kinds).unwrap();
        let ln2 = std::f64::consts::LN_2;
        let (a, _) = m.effect("works", Some("a"), 0.0, 1.0).unwrap();
        let (b, _) = m.effect("works", Some("b"), 0.0, 1.0).unwrap();
        let (busy, se) = m.effect("busywork", Some("a"), 0.0, 1.0).unwrap();
        assert!((a - 0.3 * ln2).abs() < 0.03, "type a: {a}");
        assert!((b - 0.6 * ln2).abs() < 0.03, "type b: {b}");
        assert!(busy.abs() < 0.03, "busywork: {busy} (se {se})");
        assert!(m.effect("unknown", None, 0.0, 1.0).is_none());
        let (later, _) = m.effect("works", Some("a"), 3.0, 1.0).unwrap();
        assert!(later < a, "diminishing returns");
    }
}
