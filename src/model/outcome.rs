//! The outcome model as served: P(hit), expected attainment and a conformal interval for
//! a plan snapshot. Plain numbers (weights, intercepts, residuals) so it serialises into
//! the registry, loads without linfa, and predicts with a dot product.

use serde::{Deserialize, Serialize};

use crate::features::{FeatureSchema, ProfileSchema};

/// Centres and scales the columns that vary in training; constant columns are dropped,
/// since they carry nothing and make the solvers' problems ill-posed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Standardizer {
    pub columns: Vec<usize>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Fitted on `rows` of a flat row-major matrix with `width` columns.
    pub fn fit(x: &[f64], width: usize, rows: &[usize]) -> Self {
        let n = rows.len().max(1) as f64;
        let (mut columns, mut mean, mut scale) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..width {
            let m = rows.iter().map(|&r| x[r * width + c]).sum::<f64>() / n;
            let var = rows
                .iter()
                .map(|&r| (x[r * width + c] - m).powi(2))
                .sum::<f64>()
                / n;
            if var > 1e-12 {
                columns.push(c);
                mean.push(m);
                scale.push(var.sqrt());
            }
        }
        Self {
            columns,
            mean,
            scale,
        }
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The standardised values of one raw feature row, appended to `out`.
    pub fn transform_into(&self, row: &[f64], out: &mut Vec<f64>) {
        out.extend(
            self.columns
                .iter()
                .zip(self.mean.iter().zip(&self.scale))
                .map(|(&c, (m, s))| (row.get(c).copied().unwrap_or(*m) - m) / s),
        );
    }
}

/// `intercept + weights · z` over standardised features.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Linear {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl Linear {
    pub fn score(&self, z: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(z).map(|(w, v)| w * v).sum::<f64>()
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Platt scaling: `sigmoid(a * logit(p) + b)`, fitted on the calibration slice.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    pub fn apply(&self, p: f64) -> f64 {
        sigmoid(self.a * logit(p) + self.b)
    }
}

/// Calibration residuals (actual − predicted attainment) of snapshots taken up to a
/// share of their period, sorted. Uncertainty shrinks as a plan runs, so intervals and
/// the residual-based P(hit) are conditional on how far the plan is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResidualBucket {
    pub up_to_fraction: f64,
    pub residuals: Vec<f64>,
    /// Split-conformal half-width at the model's level.
    pub half_width: f64,
}

/// How P(hit) is computed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum HitModel {
    /// A logistic regression on the features, Platt-scaled.
    Logistic { linear: Linear, platt: Platt },
    /// The share of calibration residuals that would lift the expected attainment to 1:
    /// P(expected + residual >= 1), from the attainment model.
    FromAttainment,
}

/// One plan's predicted outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Prediction {
    pub p_hit: f64,
    pub expected_attainment: f64,
    pub interval_low: f64,
    pub interval_high: f64,
}

/// Everything needed to predict from a feature row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeModel {
    pub schema: FeatureSchema,
    pub scaler: Standardizer,
    pub attainment: Linear,
    pub hit: HitModel,
    /// The coverage the intervals are built for, e.g. 0.8.
    pub level: f64,
    /// Ordered by `up_to_fraction`; the last one covers everything.
    pub buckets: Vec<ResidualBucket>,
    /// Action effects for recommendations; absent in models trained before it existed
    /// or on too little data.
    #[serde(default)]
    pub effects: Option<super::effects::EffectModel>,
    /// How partners become profile vectors for similar-partner search, fitted on the
    /// tenant's partners when the model was trained, so the index and the queries agree.
    /// `None` for models saved before profile vectors existed (they still predict).
    #[serde(default)]
    pub profile: Option<ProfileSchema>,
}

/// Attainment is capped at 2 by definition and cannot be negative.
const ATTAINMENT_RANGE: (f64, f64) = (0.0, 2.0);

impl OutcomeModel {
    fn bucket(&self, fraction: f64) -> Option<&ResidualBucket> {
        self.buckets
            .iter()
            .find(|b| fraction <= b.up_to_fraction)
            .or(self.buckets.last())
    }

    /// Predicts from a raw feature row (`schema.row`) of a plan `fraction` through its period.
    pub fn predict(&self, row: &[f64], fraction: f64) -> Prediction {
        let mut z = Vec::with_capacity(self.scaler.width());
        self.scaler.transform_into(row, &mut z);
        let raw = self.attainment.score(&z);
        let expected = raw.clamp(ATTAINMENT_RANGE.0, ATTAINMENT_RANGE.1);
        let bucket = self.bucket(fraction);
        let half = bucket.map_or(0.0, |b| b.half_width);
        let p_hit = match &self.hit {
            HitModel::Logistic { linear, platt } => platt.apply(sigmoid(linear.score(&z))),
            HitModel::FromAttainment => {
                bucket.map_or(0.5, |b| share_at_least(&b.residuals, 1.0 - raw))
            }
        };
        Prediction {
            p_hit,
            expected_attainment: expected,
            interval_low: (raw - half).clamp(ATTAINMENT_RANGE.0, ATTAINMENT_RANGE.1),
            interval_high: (raw + half).clamp(ATTAINMENT_RANGE.0, ATTAINMENT_RANGE.1),
        }
    }
}

impl OutcomeModel {
    /// Whether the training data showed any of `kind`: it has a learned effect, or its
    /// count column varied in the snapshots the model was fitted on (the standardiser
    /// drops constant columns). A counterfactual for a kind never seen moves only the
    /// shared columns (totals, category counts, governance recency), so it says how the
    /// model extrapolates, not what the kind does: it has no support.
    pub fn has_seen(&self, kind: &str) -> bool {
        if self
            .effects
            .as_ref()
            .is_some_and(|e| e.kinds.iter().any(|k| k == kind))
        {
            return true;
        }
        self.schema
            .position(&format!("kind:{kind}"))
            .is_some_and(|column| self.scaler.columns.contains(&column))
    }

    /// The prediction `before` (whose unclamped attainment score was `raw`) moved by
    /// `delta` attainment: the expectation and interval shift with it, and P(hit) moves
    /// by what the calibration residuals say such a shift changes, so a what-if answer
    /// and the prediction it starts from come from one model.
    pub fn shifted(&self, before: &Prediction, raw: f64, delta: f64, fraction: f64) -> Prediction {
        let (lo, hi) = ATTAINMENT_RANGE;
        let half = self.bucket(fraction).map_or(0.0, |b| b.half_width);
        let p_hit = match self.bucket(fraction) {
            Some(b) => {
                let change = share_at_least(&b.residuals, 1.0 - raw - delta)
                    - share_at_least(&b.residuals, 1.0 - raw);
                (before.p_hit + change).clamp(1e-6, 1.0 - 1e-6)
            }
            None => before.p_hit,
        };
        Prediction {
            p_hit,
            expected_attainment: (raw + delta).clamp(lo, hi),
            interval_low: (raw + delta - half).clamp(lo, hi),
            interval_high: (raw + delta + half).clamp(lo, hi),
        }
    }
}

/// Share of the sorted `values` at or above `threshold`, kept strictly inside (0, 1) with
/// one pseudo-count each side so no plan is ever "certain".
pub fn share_at_least(sorted: &[f64], threshold: f64) -> f64 {
    let below = sorted.partition_point(|v| *v < threshold);
    let n = sorted.len() as f64;
    ((n - below as f64) + 1.0) / (n + 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standardizer_drops_constant_columns_and_centres_the_rest() {
        // Two columns, three rows: the second is constant.
        let x = [1.0, 5.0, 2.0, 5.0, 3.0, 5.0];
        let s = Standardizer::fit(&x, 2, &[0, 1, 2]);
        assert_eq!(s.columns, vec![0]);
        let mut z = Vec::new();
        s.transform_into(&[2.0, 9.0], &mut z);
        assert_eq!(z, vec![0.0]);
    }

    #[test]
    fn share_at_least_counts_with_pseudo_counts() {
        let r = [-0.3, -0.1, 0.0, 0.2];
        assert_eq!(share_at_least(&r, 0.0), 3.0 / 6.0);
        assert_eq!(share_at_least(&r, 1.0), 1.0 / 6.0);
        assert_eq!(share_at_least(&r, -1.0), 5.0 / 6.0);
    }

    #[test]
    fn platt_identity_leaves_probabilities_alone() {
        let identity = Platt { a: 1.0, b: 0.0 };
        assert!((identity.apply(0.3) - 0.3).abs() < 1e-9);
    }
}
