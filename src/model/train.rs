//! Training the outcome model, as a recipe: split by time, carve a calibration slice off
//! the latest training plans, standardise, fit every candidate family, choose on the
//! calibration slice, build conformal intervals there, and report every family on the
//! held-out test plans, which took no part in any choice.

use std::collections::BTreeMap;

use linfa::traits::Fit;
use linfa::Dataset;
use linfa_elasticnet::ElasticNet;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, ShapeBuilder};
use serde::Serialize;
use thiserror::Error;

use super::metrics;
use super::outcome::{
    logit, sigmoid, HitModel, Linear, OutcomeModel, Platt, Prediction, ResidualBucket, Standardizer,
};
use crate::features::{FeatureError, TrainingSet};

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("could not build the training set")]
    Features(#[from] FeatureError),
    #[error("fitting {family} failed: {reason}")]
    Fit { family: String, reason: String },
    #[error("the {which} slice has {have} snapshots; at least {needed} are needed")]
    TooFewRows {
        which: &'static str,
        have: usize,
        needed: usize,
    },
}

/// Training parameters; the defaults are what `nextbest train` uses.
#[derive(Debug, Clone, Serialize)]
pub struct TrainParams {
    /// Coverage the intervals are built for. Defaults to 0.8.
    pub level: f64,
    /// Share of the training side (its latest plans) held for calibration. Defaults to 0.25.
    pub calibration_share: f64,
    /// Elastic-net penalties tried for expected attainment. Defaults to 0.001 and 0.003.
    pub penalties: Vec<f64>,
    /// Elastic-net mix of L1 and L2. Defaults to 0.5.
    pub l1_ratio: f64,
    /// L2 weights tried for the logistic P(hit). Defaults to 1.
    pub logistic_alphas: Vec<f64>,
    /// Upper snapshot fractions of the residual buckets. Defaults to 0.375, 0.625, 1.
    pub buckets: Vec<f64>,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            level: 0.8,
            calibration_share: 0.25,
            penalties: vec![0.001, 0.003],
            l1_ratio: 0.5,
            logistic_alphas: vec![1.0],
            buckets: vec![0.375, 0.625, 1.0],
        }
    }
}

/// Held-out quality of one family (or of the kept model) on a set of snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    pub snapshots: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ece: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_width: Option<f64>,
}

/// One candidate: how it did on the calibration slice (where it was chosen) and on test.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    pub target: &'static str,
    pub family: String,
    pub fit_seconds: f64,
    pub calibration: Scores,
    pub test: Scores,
    pub kept: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub sizes: BTreeMap<&'static str, usize>,
    pub cutoff: String,
    pub calibration_cutoff: String,
    pub families: Vec<FamilyReport>,
    /// The kept model on the test plans, overall and per template / relationship stage.
    pub test: Scores,
    pub by_template: BTreeMap<String, Scores>,
    pub by_relationship_stage: BTreeMap<String, Scores>,
    pub params: TrainParams,
}

pub struct Trained {
    pub model: OutcomeModel,
    pub report: TrainReport,
}

/// Rows needed on each side for estimates worth reporting.
const MIN_ROWS: usize = 30;

fn matrix(
    set: &TrainingSet,
    scaler: &Standardizer,
    rows: &[usize],
) -> Result<Array2<f64>, ModelError> {
    let mut flat = Vec::with_capacity(rows.len() * scaler.width());
    for &r in rows {
        scaler.transform_into(set.row(r), &mut flat);
    }
    Array2::from_shape_vec((rows.len(), scaler.width()), flat).map_err(|e| ModelError::Fit {
        family: "standardised feature matrix".into(),
        reason: e.to_string(),
    })
}

fn log_loss(p: &[f64], y: &[bool]) -> Option<f64> {
    let n = p.len().min(y.len());
    (n > 0).then(|| {
        -p.iter()
            .zip(y)
            .map(|(p, &y)| {
                if y {
                    p.clamp(1e-9, 1.0).ln()
                } else {
                    (1.0 - p).clamp(1e-9, 1.0).ln()
                }
            })
            .sum::<f64>()
            / n as f64
    })
}

fn hit_scores(p: &[f64], y: &[bool]) -> Scores {
    Scores {
        snapshots: p.len(),
        auc: metrics::auc(p, y),
        brier: metrics::brier(p, y),
        ece: metrics::expected_calibration_error(p, y, 10),
        log_loss: log_loss(p, y),
        ..Scores::default()
    }
}

fn fit_elastic_net(
    x: &Array2<f64>,
    y: &Array1<f64>,
    penalty: f64,
    l1_ratio: f64,
) -> Result<Linear, ModelError> {
    // Coordinate descent walks the matrix a column at a time: hand it column-major data,
    // or every step strides across rows (measured: about 3x slower on 49k x 148).
    let mut columns = Array2::zeros(x.raw_dim().f());
    columns.assign(x);
    let data = Dataset::new(columns, y.clone());
    let fitted = ElasticNet::params()
        .penalty(penalty)
        .l1_ratio(l1_ratio)
        .max_iterations(500)
        .tolerance(1e-3)
        .fit(&data)
        .map_err(|e| ModelError::Fit {
            family: format!("elastic net (penalty {penalty})"),
            reason: e.to_string(),
        })?;
    Ok(Linear {
        weights: fitted.hyperplane().to_vec(),
        intercept: fitted.intercept(),
    })
}

fn fit_logistic(
    x: &Array2<f64>,
    y: &Array1<bool>,
    alpha: f64,
    family: &str,
) -> Result<Linear, ModelError> {
    let data = Dataset::new(x.clone(), y.clone());
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(100)
        .fit(&data)
        .map_err(|e| ModelError::Fit {
            family: family.to_owned(),
            reason: e.to_string(),
        })?;
    // linfa's positive class is the more frequent label, not `true`: with hits in the
    // minority its weights score misses, so turn them around to always score P(true).
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(Linear {
        weights: fitted.params().iter().map(|w| sign * w).collect(),
        intercept: sign * fitted.intercept(),
    })
}

fn fit_platt(raw: &[f64], y: &[bool]) -> Result<Platt, ModelError> {
    let x = Array2::from_shape_fn((raw.len(), 1), |(i, _)| logit(raw[i]));
    let fitted = fit_logistic(&x, &Array1::from_vec(y.to_vec()), 1e-3, "Platt scaling")?;
    Ok(Platt {
        a: fitted.weights.first().copied().unwrap_or(1.0),
        b: fitted.intercept,
    })
}

/// A fitted candidate: its hyper-parameter, weights and fit time in seconds.
type Fitted = (f64, Linear, f64);

/// Fits every elastic net of the penalty path and every logistic regression, each on its
/// own thread; returns them in the order of `params`.
fn fit_candidates(
    x: &Array2<f64>,
    y: &Array1<f64>,
    hit: &Array1<bool>,
    params: &TrainParams,
) -> Result<(Vec<Fitted>, Vec<Fitted>), ModelError> {
    fn timed(
        value: f64,
        fit: impl FnOnce() -> Result<Linear, ModelError>,
    ) -> Result<Fitted, ModelError> {
        let started = std::time::Instant::now();
        Ok((value, fit()?, started.elapsed().as_secs_f64()))
    }
    fn joined(
        handle: std::thread::ScopedJoinHandle<'_, Result<Fitted, ModelError>>,
        family: &str,
    ) -> Result<Fitted, ModelError> {
        handle.join().unwrap_or_else(|_| {
            Err(ModelError::Fit {
                family: family.to_owned(),
                reason: "the fitting thread panicked".into(),
            })
        })
    }
    std::thread::scope(|s| {
        let nets: Vec<_> = params
            .penalties
            .iter()
            .map(|&penalty| {
                s.spawn(move || timed(penalty, || fit_elastic_net(x, y, penalty, params.l1_ratio)))
            })
            .collect();
        let logistics: Vec<_> = params
            .logistic_alphas
            .iter()
            .map(|&alpha| {
                s.spawn(move || {
                    timed(alpha, || {
                        fit_logistic(
                            x,
                            hit,
                            alpha,
                            &format!("logistic regression (alpha {alpha})"),
                        )
                    })
                })
            })
            .collect();
        let nets = nets
            .into_iter()
            .map(|h| joined(h, "elastic net"))
            .collect::<Result<Vec<_>, _>>()?;
        let logistics = logistics
            .into_iter()
            .map(|h| joined(h, "logistic regression"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((nets, logistics))
    })
}

/// Trains the outcome model on `set` and reports every family tried.
pub fn train(
    set: &TrainingSet,
    params: &TrainParams,
    progress: &mut dyn FnMut(&str),
) -> Result<Trained, ModelError> {
    let split = set.split.clone();
    let slice = set.calibration_slice(&split, params.calibration_share);
    for (which, rows) in [
        ("fit", &slice.fit),
        ("calibration", &slice.calibration),
        ("test", &split.test),
    ] {
        if rows.len() < MIN_ROWS {
            return Err(ModelError::TooFewRows {
                which,
                have: rows.len(),
                needed: MIN_ROWS,
            });
        }
    }
    let scaler = Standardizer::fit(&set.x, set.n_features, &slice.fit);
    let x_fit = matrix(set, &scaler, &slice.fit)?;
    let x_cal = matrix(set, &scaler, &slice.calibration)?;
    let x_test = matrix(set, &scaler, &split.test)?;
    let pick = |rows: &[usize], v: &[f64]| rows.iter().map(|&r| v[r]).collect::<Vec<f64>>();
    let pick_hit = |rows: &[usize]| rows.iter().map(|&r| set.hit[r]).collect::<Vec<bool>>();
    let (y_fit, y_cal, y_test) = (
        pick(&slice.fit, &set.attainment),
        pick(&slice.calibration, &set.attainment),
        pick(&split.test, &set.attainment),
    );
    let (h_fit, h_cal, h_test) = (
        pick_hit(&slice.fit),
        pick_hit(&slice.calibration),
        pick_hit(&split.test),
    );
    let score_rows = |linear: &Linear, x: &Array2<f64>| {
        x.rows()
            .into_iter()
            .map(|r| {
                linear.intercept
                    + r.iter()
                        .zip(&linear.weights)
                        .map(|(v, w)| v * w)
                        .sum::<f64>()
            })
            .collect::<Vec<f64>>()
    };
    let mut families = Vec::new();

    // Every candidate fit is independent of the others: fit them all at once, one thread
    // each, so that training takes as long as the slowest fit rather than their sum.
    let y_fit_arr = Array1::from_vec(y_fit.clone());
    let h_fit_arr = Array1::from_vec(h_fit);
    progress(&format!(
        "fitting {} elastic nets and {} logistic regressions in parallel",
        params.penalties.len(),
        params.logistic_alphas.len()
    ));
    let (attainment_fits, hit_fits) = fit_candidates(&x_fit, &y_fit_arr, &h_fit_arr, params)?;

    // Expected attainment: elastic net over a small penalty path, chosen by calibration MAE.
    let mut best: Option<(f64, Linear)> = None;
    for (penalty, linear, fit_seconds) in attainment_fits {
        let clamp = |v: Vec<f64>| {
            v.into_iter()
                .map(|p| p.clamp(0.0, 2.0))
                .collect::<Vec<f64>>()
        };
        let cal_mae = metrics::mean_absolute_error(&clamp(score_rows(&linear, &x_cal)), &y_cal)
            .unwrap_or(f64::INFINITY);
        let test_mae = metrics::mean_absolute_error(&clamp(score_rows(&linear, &x_test)), &y_test);
        families.push(FamilyReport {
            target: "attainment",
            family: format!(
                "elastic net (penalty {penalty}, l1_ratio {})",
                params.l1_ratio
            ),
            fit_seconds,
            calibration: Scores {
                snapshots: y_cal.len(),
                mae: Some(cal_mae),
                ..Scores::default()
            },
            test: Scores {
                snapshots: y_test.len(),
                mae: test_mae,
                ..Scores::default()
            },
            kept: false,
        });
        if best.as_ref().is_none_or(|(mae, _)| cal_mae < *mae) {
            best = Some((cal_mae, linear));
        }
    }
    let Some((best_mae, attainment)) = best else {
        return Err(ModelError::Fit {
            family: "elastic net".into(),
            reason: "no penalty to try".into(),
        });
    };
    if let Some(f) = families
        .iter_mut()
        .find(|f| f.target == "attainment" && f.calibration.mae == Some(best_mae))
    {
        f.kept = true;
    }
    let mean_y = y_fit.iter().sum::<f64>() / y_fit.len() as f64;
    families.push(FamilyReport {
        target: "attainment",
        family: "baseline: training mean".into(),
        fit_seconds: 0.0,
        calibration: Scores {
            snapshots: y_cal.len(),
            mae: metrics::mean_absolute_error(&vec![mean_y; y_cal.len()], &y_cal),
            ..Scores::default()
        },
        test: Scores {
            snapshots: y_test.len(),
            mae: metrics::mean_absolute_error(&vec![mean_y; y_test.len()], &y_test),
            ..Scores::default()
        },
        kept: false,
    });

    // Conformal buckets from calibration residuals, by how far through its period a plan is.
    progress("calibrating intervals");
    let raw_cal = score_rows(&attainment, &x_cal);
    let fractions_cal: Vec<f64> = slice
        .calibration
        .iter()
        .map(|&r| set.fractions[r])
        .collect();
    let mut buckets = Vec::new();
    let mut lower = f64::NEG_INFINITY;
    for &upper in &params.buckets {
        let mut residuals: Vec<f64> = raw_cal
            .iter()
            .zip(&y_cal)
            .zip(&fractions_cal)
            .filter(|(_, f)| **f > lower && **f <= upper)
            .map(|((p, y), _)| y - p)
            .collect();
        residuals.sort_by(f64::total_cmp);
        let abs: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
        let half_width =
            metrics::conformal_quantile(&abs, params.level).ok_or(ModelError::TooFewRows {
                which: "calibration bucket",
                have: abs.len(),
                needed: (1.0 / (1.0 - params.level)).ceil() as usize,
            })?;
        buckets.push(ResidualBucket {
            up_to_fraction: upper,
            residuals,
            half_width,
        });
        lower = upper;
    }

    // P(hit): a Platt-scaled logistic regression per alpha, and the residual distribution
    // of the attainment model; chosen by calibration log loss.
    let mut candidates: Vec<(String, HitModel, f64)> = vec![(
        "from attainment residuals".into(),
        HitModel::FromAttainment,
        0.0,
    )];
    for (alpha, linear, fit_seconds) in hit_fits {
        let family = format!("logistic regression (alpha {alpha}), Platt-scaled");
        let started = std::time::Instant::now();
        let raw: Vec<f64> = score_rows(&linear, &x_cal)
            .into_iter()
            .map(sigmoid)
            .collect();
        let platt = fit_platt(&raw, &h_cal)?;
        candidates.push((
            family,
            HitModel::Logistic { linear, platt },
            fit_seconds + started.elapsed().as_secs_f64(),
        ));
    }
    let mut model = OutcomeModel {
        schema: set.schema.clone(),
        scaler,
        attainment,
        hit: HitModel::FromAttainment,
        level: params.level,
        buckets,
        effects: None,
        profile: None, // fitted on the partners by pipeline::train_tenant
    };
    let mut chosen: Option<(f64, usize)> = None;
    for (i, (family, hit, fit_seconds)) in candidates.iter().enumerate() {
        model.hit = hit.clone();
        let p_cal: Vec<f64> = slice
            .calibration
            .iter()
            .map(|&r| model.predict(set.row(r), set.fractions[r]).p_hit)
            .collect();
        let p_test: Vec<f64> = split
            .test
            .iter()
            .map(|&r| model.predict(set.row(r), set.fractions[r]).p_hit)
            .collect();
        let calibration = hit_scores(&p_cal, &h_cal);
        let loss = calibration.log_loss.unwrap_or(f64::INFINITY);
        if chosen.is_none_or(|(l, _)| loss < l) {
            chosen = Some((loss, i));
        }
        families.push(FamilyReport {
            target: "p_hit",
            family: family.clone(),
            fit_seconds: *fit_seconds,
            calibration,
            test: hit_scores(&p_test, &h_test),
            kept: false,
        });
    }
    let chosen = chosen.map_or(0, |(_, i)| i);
    model.hit = candidates[chosen].1.clone();
    let kept_name = candidates[chosen].0.clone();
    if let Some(f) = families
        .iter_mut()
        .find(|f| f.target == "p_hit" && f.family == kept_name)
    {
        f.kept = true;
    }

    progress("scoring the held-out plans");
    let predictions: Vec<(usize, Prediction)> = split
        .test
        .iter()
        .map(|&r| (r, model.predict(set.row(r), set.fractions[r])))
        .collect();
    let test = held_out(set, &predictions);
    let mut by_template: BTreeMap<String, Vec<(usize, Prediction)>> = BTreeMap::new();
    let mut by_stage: BTreeMap<String, Vec<(usize, Prediction)>> = BTreeMap::new();
    for &(r, p) in &predictions {
        by_template
            .entry(set.templates[r].clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .push((r, p));
        by_stage
            .entry(set.relationship_stages[r].map_or("(none)".into(), |s| s.as_str().to_owned()))
            .or_default()
            .push((r, p));
    }
    let sizes = BTreeMap::from([
        ("snapshots", set.len()),
        ("features", set.n_features),
        ("features_used", model.scaler.width()),
        ("fit_snapshots", slice.fit.len()),
        ("calibration_snapshots", slice.calibration.len()),
        ("test_snapshots", split.test.len()),
        ("skipped_plans", set.skipped.len()),
    ]);
    let report = TrainReport {
        sizes,
        cutoff: split.cutoff.to_string(),
        calibration_cutoff: slice.cutoff.to_string(),
        families,
        test,
        by_template: by_template
            .into_iter()
            .map(|(k, v)| (k, held_out(set, &v)))
            .collect(),
        by_relationship_stage: by_stage
            .into_iter()
            .map(|(k, v)| (k, held_out(set, &v)))
            .collect(),
        params: params.clone(),
    };
    Ok(Trained { model, report })
}

fn held_out(set: &TrainingSet, predictions: &[(usize, Prediction)]) -> Scores {
    let actual: Vec<f64> = predictions
        .iter()
        .map(|(r, _)| set.attainment[*r])
        .collect();
    let predicted: Vec<Prediction> = predictions.iter().map(|(_, p)| *p).collect();
    Scores::of(&predicted, &actual)
}

impl Scores {
    /// Every metric of `predictions` against the actual final attainments (a hit is
    /// attainment >= 1, as in DATA_FORMAT.md): the one scoring of training and evaluation.
    pub fn of(predictions: &[Prediction], actual: &[f64]) -> Scores {
        let p: Vec<f64> = predictions.iter().map(|p| p.p_hit).collect();
        let hit: Vec<bool> = actual.iter().map(|a| *a >= 1.0).collect();
        let expected: Vec<f64> = predictions.iter().map(|p| p.expected_attainment).collect();
        let low: Vec<f64> = predictions.iter().map(|p| p.interval_low).collect();
        let high: Vec<f64> = predictions.iter().map(|p| p.interval_high).collect();
        let coverage = metrics::interval_coverage(&low, &high, actual);
        Scores {
            mae: metrics::mean_absolute_error(&expected, actual),
            coverage: coverage.map(|c| c.0),
            interval_width: coverage.map(|c| c.1),
            ..hit_scores(&p, &hit)
        }
    }
}
