//! The training set: every usable closed plan seen at several points of its period,
//! labelled with how it ended, split by time so no plan is on both sides.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use super::schema::FitOptions;
use super::snapshot::snapshot;
use super::{FeatureError, FeatureSchema, Snapshot};
use crate::domain::{Catalog, Partner, PlanRecord, PlanStatus, RelationshipStage};

/// Where closed plans are seen by default: from a tenth to nine tenths through, because
/// serving sees plans at any point (with 25/50/75% only, plans under 12.5% elapsed got 66%
/// coverage from 80% intervals on the 3000-partner world; with these, 74%).
pub const DEFAULT_FRACTIONS: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];
/// The fewest usable closed plans a model is trained on: below this a held-out test side
/// of a fifth has a handful of plans and every metric is noise.
pub const MIN_PLANS: usize = 50;
/// Share of plans (the latest-ending ones) held out for testing by default.
pub const DEFAULT_TEST_SHARE: f64 = 0.2;

/// How a training set is built.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    /// Points of each plan's period where it is seen, each in 0..=1.
    pub fractions: Vec<f64>,
    /// Share of plans held out as the test side; the schema is fitted on the rest only.
    pub test_share: f64,
    /// Fewest usable closed plans accepted.
    pub min_plans: usize,
    pub fit: FitOptions,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            fractions: DEFAULT_FRACTIONS.to_vec(),
            test_share: DEFAULT_TEST_SHARE,
            min_plans: MIN_PLANS,
            fit: FitOptions::default(),
        }
    }
}

/// Why a closed plan gave no training rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its status is not `closed`: its outcome is not final.
    NotClosed,
    /// Its end date is not after its start date, so "25% through" means nothing.
    EmptyPeriod,
    /// No key result has a defined target: attainment is undefined (DATA_FORMAT.md).
    NoDefinedTarget,
}

/// A closed plan left out of the training set, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SkippedPlan {
    pub plan_id: String,
    pub reason: SkipReason,
}

/// Row indices of a time split: plans ending on or before `cutoff` train, later ones test.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    pub cutoff: NaiveDate,
}

/// The training side of a split cut once more by time: the latest-ending plans form the
/// calibration slice (for split-conformal intervals), the rest fit the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub fit: Vec<usize>,
    pub calibration: Vec<usize>,
    /// Training plans ending on or before it fit; later ones calibrate.
    pub cutoff: NaiveDate,
}

/// Labelled rows of plan snapshots.
///
/// Rows are stored flat and row-major: row `i` is `x[i * n_features..(i + 1) * n_features]`
/// (see [`TrainingSet::row`]); this is `Array2::from_shape_vec((len, n_features), x)` for
/// the model layer. All per-row vectors (`attainment`, `hit`, `plan_ids`, ...) have
/// `len()` entries. The schema was fitted on the rows of `split.train` only.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    pub schema: FeatureSchema,
    pub n_features: usize,
    pub x: Vec<f64>,
    /// Final attainment of the plan (its full record), the regression label.
    pub attainment: Vec<f64>,
    /// `attainment >= 1`, the classification label.
    pub hit: Vec<bool>,
    pub plan_ids: Vec<String>,
    pub end_dates: Vec<NaiveDate>,
    /// Requested share of the period at which the row's snapshot was taken.
    pub fractions: Vec<f64>,
    /// Plan template and partner relationship stage, for per-group evaluation.
    pub templates: Vec<Option<String>>,
    pub relationship_stages: Vec<Option<RelationshipStage>>,
    /// The split the schema was fitted with (`test_share` of the plans held out).
    pub split: Split,
    pub test_share: f64,
    /// Closed plans that gave no rows.
    pub skipped: Vec<SkippedPlan>,
}

impl TrainingSet {
    /// Builds the set with default options except `fractions` (e.g. [`DEFAULT_FRACTIONS`]).
    ///
    /// Errors: [`FeatureError::NoDefinedTargets`] when closed plans exist but none has a
    /// defined target; [`FeatureError::TooFewPlans`] below [`MIN_PLANS`] usable plans;
    /// [`FeatureError::InvalidFraction`] for a fraction outside 0..=1.
    pub fn build(
        closed: &[PlanRecord],
        partners: &HashMap<String, Partner>,
        catalog: &Catalog,
        fractions: &[f64],
    ) -> Result<TrainingSet, FeatureError> {
        let options = BuildOptions {
            fractions: fractions.to_vec(),
            ..BuildOptions::default()
        };
        Self::build_with(closed, partners, catalog, &options)
    }

    /// Builds the set: keeps usable closed plans, finds the time cutoff that holds out
    /// `test_share` of them, fits the schema on the snapshots of the training plans only,
    /// and encodes every snapshot (train and test) with that one schema. Empty
    /// `fractions` means [`DEFAULT_FRACTIONS`].
    pub fn build_with(
        closed: &[PlanRecord],
        partners: &HashMap<String, Partner>,
        catalog: &Catalog,
        options: &BuildOptions,
    ) -> Result<TrainingSet, FeatureError> {
        let fractions: &[f64] = if options.fractions.is_empty() {
            &DEFAULT_FRACTIONS
        } else {
            &options.fractions
        };
        if let Some(bad) = fractions.iter().find(|f| !(0.0..=1.0).contains(*f)) {
            return Err(FeatureError::InvalidFraction(*bad));
        }

        let mut skipped = Vec::new();
        let mut usable: Vec<(&PlanRecord, f64)> = Vec::with_capacity(closed.len());
        for record in closed {
            let plan = &record.plan;
            let reason = if plan.status != PlanStatus::Closed {
                Some(SkipReason::NotClosed)
            } else if plan.end_date <= plan.start_date {
                Some(SkipReason::EmptyPeriod)
            } else {
                match record.attainment() {
                    Some(a) if a.is_finite() => {
                        usable.push((record, a));
                        None
                    }
                    _ => Some(SkipReason::NoDefinedTarget),
                }
            };
            if let Some(reason) = reason {
                skipped.push(SkippedPlan {
                    plan_id: plan.plan_id.to_string(),
                    reason,
                });
            }
        }
        let without_target = skipped
            .iter()
            .filter(|s| s.reason == SkipReason::NoDefinedTarget)
            .count();
        if usable.is_empty() && without_target > 0 {
            return Err(FeatureError::NoDefinedTargets {
                plans: without_target,
                needed: options.min_plans,
            });
        }
        if usable.len() < options.min_plans.max(1) {
            return Err(FeatureError::TooFewPlans {
                needed: options.min_plans.max(1),
                have: usable.len(),
                without_target,
            });
        }

        let ends: Vec<NaiveDate> = usable.iter().map(|(r, _)| r.plan.end_date).collect();
        let cutoff = cutoff_for(ends, options.test_share).unwrap_or(NaiveDate::MIN);
        let (train_plans, test_plans): (Vec<_>, Vec<_>) = usable
            .into_iter()
            .partition(|(r, _)| r.plan.end_date <= cutoff);

        // Fit on training snapshots only, then encode train and test with that schema.
        let train_snaps: Vec<(Snapshot, f64)> = train_plans
            .iter()
            .flat_map(|(r, a)| fractions.iter().map(move |f| (snapshot(r, *f), *a)))
            .collect();
        let refs: Vec<&Snapshot> = train_snaps.iter().map(|(s, _)| s).collect();
        let schema = FeatureSchema::fit_refs(&refs, partners, catalog, &options.fit)?;
        drop(refs);

        let n_rows = (train_plans.len() + test_plans.len()) * fractions.len();
        let mut set = TrainingSet {
            n_features: schema.width(),
            x: Vec::with_capacity(n_rows * schema.width()),
            schema,
            attainment: Vec::with_capacity(n_rows),
            hit: Vec::with_capacity(n_rows),
            plan_ids: Vec::with_capacity(n_rows),
            end_dates: Vec::with_capacity(n_rows),
            fractions: Vec::with_capacity(n_rows),
            templates: Vec::with_capacity(n_rows),
            relationship_stages: Vec::with_capacity(n_rows),
            split: Split {
                train: Vec::new(),
                test: Vec::new(),
                cutoff,
            },
            test_share: options.test_share,
            skipped,
        };
        for (snap, attainment) in &train_snaps {
            set.push(snap, *attainment, partners);
        }
        drop(train_snaps);
        let n_train = set.len();
        for (record, attainment) in &test_plans {
            for f in fractions {
                set.push(&snapshot(record, *f), *attainment, partners);
            }
        }
        set.split.train = (0..n_train).collect();
        set.split.test = (n_train..set.len()).collect();
        Ok(set)
    }

    fn push(&mut self, snap: &Snapshot, attainment: f64, partners: &HashMap<String, Partner>) {
        let plan = &snap.record.plan;
        let partner = partners.get(plan.partner_id.as_str());
        self.schema.write_row(snap, partner, &mut self.x);
        self.attainment.push(attainment);
        self.hit.push(attainment >= 1.0);
        self.plan_ids.push(plan.plan_id.to_string());
        self.end_dates.push(plan.end_date);
        self.fractions.push(snap.fraction);
        self.templates.push(plan.template.clone());
        self.relationship_stages
            .push(partner.and_then(|p| p.relationship_stage));
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.attainment.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attainment.is_empty()
    }

    /// Row `i` (panics when out of range, like slice indexing).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The rows of `indices`, flat and row-major (for one side of a split).
    pub fn select(&self, indices: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(indices.len() * self.n_features);
        for &i in indices {
            out.extend_from_slice(self.row(i));
        }
        out
    }

    /// Columns that hold one value on every row of `indices` (e.g. a missing indicator
    /// when nothing was missing in training). They carry no information for a model
    /// fitted on those rows, and standardising them divides by a zero spread; the model
    /// layer should drop them or guard the scale. Kept in the schema so that a serving
    /// row that does differ there is still encoded the same way.
    pub fn constant_columns(&self, indices: &[usize]) -> Vec<usize> {
        let Some(&first) = indices.first() else {
            return (0..self.n_features).collect();
        };
        let reference = self.row(first);
        let mut varies = vec![false; self.n_features];
        for &i in indices {
            for (v, (a, b)) in varies.iter_mut().zip(self.row(i).iter().zip(reference)) {
                *v |= a != b;
            }
        }
        (0..self.n_features).filter(|&j| !varies[j]).collect()
    }

    /// How many closed plans were skipped for `reason`.
    pub fn skipped_count(&self, reason: SkipReason) -> usize {
        self.skipped.iter().filter(|s| s.reason == reason).count()
    }

    /// A time split holding out about `test_share` of the plans, the latest-ending ones;
    /// all snapshots of a plan fall on the side of its end date, plans ending exactly on
    /// the cutoff train. Use `self.split` (the share the schema was fitted with) for
    /// honest evaluation: a larger share than `self.test_share` puts plans the schema was
    /// fitted on into the test side.
    pub fn split_by_time(&self, test_share: f64) -> Split {
        let cutoff = cutoff_for(self.end_dates.clone(), test_share).unwrap_or(NaiveDate::MIN);
        let (train, test) = (0..self.len()).partition(|&i| self.end_dates[i] <= cutoff);
        Split {
            train,
            test,
            cutoff,
        }
    }

    /// Carves a calibration slice off the end of `split`'s training side: about `share`
    /// of its plans, the latest-ending ones, so calibration residuals come from plans
    /// closer in time to the test side and never from the plans the model is fitted on.
    pub fn calibration_slice(&self, split: &Split, share: f64) -> Calibration {
        let ends: Vec<NaiveDate> = split.train.iter().map(|&i| self.end_dates[i]).collect();
        let cutoff = cutoff_for(ends, share).unwrap_or(NaiveDate::MIN);
        let (fit, calibration) = split
            .train
            .iter()
            .partition(|&&i| self.end_dates[i] <= cutoff);
        Calibration {
            fit,
            calibration,
            cutoff,
        }
    }
}

/// The end date such that plans ending on or before it are about `1 - test_share` of
/// `ends`. Ties stay together (on the training side), so the held-out share can come out
/// smaller than asked; at least one plan always trains. `None` for no dates.
fn cutoff_for(mut ends: Vec<NaiveDate>, test_share: f64) -> Option<NaiveDate> {
    if ends.is_empty() {
        return None;
    }
    ends.sort_unstable();
    let share = if test_share.is_finite() {
        test_share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let n = ends.len();
    let k = ((n as f64) * (1.0 - share)).round() as usize;
    ends.get(k.clamp(1, n) - 1).copied()
}

/// Writes the set as CSV for the scikit-learn peer comparison: the feature columns
/// (`schema.names()`), then `plan_id, end_date, fraction, split, attainment, hit`, where
/// `split` is `train` or `test` per `set.split` and `hit` is 0/1.
pub fn write_csv(path: &Path, set: &TrainingSet) -> Result<(), FeatureError> {
    let mut writer = csv::Writer::from_path(path)?;
    let meta = [
        "plan_id",
        "end_date",
        "fraction",
        "split",
        "attainment",
        "hit",
    ];
    writer.write_record(
        set.schema
            .names()
            .iter()
            .map(String::as_str)
            .chain(meta.iter().copied()),
    )?;
    let mut is_test = vec![false; set.len()];
    for &i in &set.split.test {
        if let Some(t) = is_test.get_mut(i) {
            *t = true;
        }
    }
    let mut record: Vec<String> = Vec::with_capacity(set.n_features + meta.len());
    for (i, test) in is_test.iter().enumerate() {
        record.clear();
        record.extend(set.row(i).iter().map(|v| v.to_string()));
        record.push(set.plan_ids[i].clone());
        record.push(set.end_dates[i].to_string());
        record.push(set.fractions[i].to_string());
        record.push(if *test { "test" } else { "train" }.to_owned());
        record.push(set.attainment[i].to_string());
        record.push(if set.hit[i] { "1" } else { "0" }.to_owned());
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}
