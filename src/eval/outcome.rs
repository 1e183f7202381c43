//! Evaluation of the active model: on the held-out plans it was not trained on (those
//! ending after the card's cutoff), and, for synthetic data, against the generator's
//! true outcomes of the active plans. Written as JSON (for notebooks) and markdown.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::features::{snapshot, DEFAULT_FRACTIONS};
use crate::model::metrics::{self, CalibrationBin};
use crate::model::outcome::{OutcomeModel, Prediction};
use crate::model::pipeline::{partners_by_id, predict_active, PipelineError};
use crate::model::registry::ModelCard;
use crate::model::train::Scores;
use crate::store::Store;

/// The generator's truth per active plan: `plan_id → (realised, expected)` final attainment.
pub type Truth = HashMap<String, (f64, f64)>;

/// The evaluation report of one model version.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub version: String,
    pub cutoff: String,
    /// Held-out closed plans, every snapshot fraction together.
    pub held_out: Scores,
    pub by_fraction: BTreeMap<String, Scores>,
    pub by_template: BTreeMap<String, Scores>,
    pub by_relationship_stage: BTreeMap<String, Scores>,
    pub calibration_curve: Vec<CalibrationBin>,
    /// Predicted against actual attainment of every held-out snapshot, for plots.
    pub predicted_vs_actual: Vec<(f64, f64)>,
    /// Active plans against the generator's truth, when a truth file was given.
    pub truth: Option<TruthScores>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TruthScores {
    pub as_of: String,
    pub plans: usize,
    /// Against each plan's realised final attainment (what intervals must cover).
    pub realised: Scores,
    /// Mean absolute error against the true expected final attainment.
    pub mae_vs_expected: Option<f64>,
    /// Mean of predicted minus realised attainment.
    pub bias: Option<f64>,
}

struct Scored {
    prediction: Prediction,
    actual: f64,
}

fn scores(rows: &[&Scored]) -> Scores {
    let predictions: Vec<Prediction> = rows.iter().map(|r| r.prediction).collect();
    let actual: Vec<f64> = rows.iter().map(|r| r.actual).collect();
    Scores::of(&predictions, &actual)
}

fn grouped<'a>(rows: &'a [Scored], keys: &[String]) -> BTreeMap<String, Scores> {
    let mut groups: BTreeMap<String, Vec<&'a Scored>> = BTreeMap::new();
    for (row, key) in rows.iter().zip(keys) {
        groups.entry(key.clone()).or_default().push(row);
    }
    groups.into_iter().map(|(k, v)| (k, scores(&v))).collect()
}

/// Evaluates `model` (described by `card`) on the tenant's closed plans that ended after
/// the card's training cutoff, and against `truth` (`plan_id → (realised, expected)`) for
/// the active plans as of `as_of`, when given.
pub async fn evaluate(
    store: &Store,
    tenant: &str,
    model: &OutcomeModel,
    card: &ModelCard,
    truth: Option<(&Truth, NaiveDate)>,
) -> Result<Evaluation, PipelineError> {
    let cutoff = card
        .notes
        .get("cutoff")
        .and_then(|c| c.as_str())
        .and_then(|c| NaiveDate::parse_from_str(c, "%Y-%m-%d").ok());
    let partners = partners_by_id(store, tenant).await?;
    let mut rows = Vec::new();
    let (mut fractions, mut templates, mut stages) = (Vec::new(), Vec::new(), Vec::new());
    for record in store.closed_plans(tenant).await? {
        if cutoff.is_some_and(|c| record.plan.end_date <= c) {
            continue;
        }
        let Some(actual) = record.attainment() else {
            continue;
        };
        let partner = partners.get(record.plan.partner_id.as_str());
        for &fraction in &DEFAULT_FRACTIONS {
            let snap = snapshot(&record, fraction);
            let prediction = model.predict(&model.schema.row(&snap, partner), snap.fraction);
            rows.push(Scored { prediction, actual });
            fractions.push(format!("{:.0}%", fraction * 100.0));
            templates.push(
                record
                    .plan
                    .template
                    .clone()
                    .unwrap_or_else(|| "(none)".into()),
            );
            stages.push(
                partner
                    .and_then(|p| p.relationship_stage)
                    .map_or_else(|| "(none)".into(), |s| s.as_str().to_owned()),
            );
        }
    }
    let all: Vec<&Scored> = rows.iter().collect();
    let p: Vec<f64> = rows.iter().map(|r| r.prediction.p_hit).collect();
    let hit: Vec<bool> = rows.iter().map(|r| r.actual >= 1.0).collect();
    let truth = match truth {
        Some((truth, as_of)) => Some(truth_scores(store, tenant, model, truth, as_of).await?),
        None => None,
    };
    Ok(Evaluation {
        version: card.version.clone(),
        cutoff: cutoff.map(|c| c.to_string()).unwrap_or_default(),
        held_out: scores(&all),
        by_fraction: grouped(&rows, &fractions),
        by_template: grouped(&rows, &templates),
        by_relationship_stage: grouped(&rows, &stages),
        calibration_curve: metrics::calibration_curve(&p, &hit, 10),
        predicted_vs_actual: rows
            .iter()
            .map(|r| (r.prediction.expected_attainment, r.actual))
            .collect(),
        truth,
    })
}

async fn truth_scores(
    store: &Store,
    tenant: &str,
    model: &OutcomeModel,
    truth: &Truth,
    as_of: NaiveDate,
) -> Result<TruthScores, PipelineError> {
    let predictions = predict_active(store, model, tenant, as_of, None).await?;
    let (mut rows, mut expected_errors, mut bias) = (Vec::new(), Vec::new(), Vec::new());
    for (id, prediction) in predictions {
        if let Some(&(realised, expected)) = truth.get(id.as_str()) {
            expected_errors.push((prediction.expected_attainment - expected).abs());
            bias.push(prediction.expected_attainment - realised);
            rows.push(Scored {
                prediction,
                actual: realised,
            });
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Ok(TruthScores {
        as_of: as_of.to_string(),
        plans: rows.len(),
        realised: scores(&rows.iter().collect::<Vec<_>>()),
        mae_vs_expected: mean(&expected_errors),
        bias: mean(&bias),
    })
}

/// Reads the generator's `truth_outcomes.csv`: plan_id → (realised, expected) attainment.
pub fn read_truth(path: &Path) -> Result<Truth, csv::Error> {
    #[derive(serde::Deserialize)]
    struct Row {
        plan_id: String,
        true_attainment: f64,
        true_expected_attainment: f64,
    }
    let mut reader = csv::Reader::from_path(path)?;
    reader
        .deserialize::<Row>()
        .map(|row| row.map(|r| (r.plan_id, (r.true_attainment, r.true_expected_attainment))))
        .collect()
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.3}"))
}

fn table(out: &mut String, title: &str, groups: &BTreeMap<String, Scores>) {
    out.push_str(&format!("\n## {title}\n\n| group | snapshots | AUC | Brier | ECE | MAE | coverage | width |\n|---|---|---|---|---|---|---|---|\n"));
    for (name, s) in groups {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.snapshots,
            cell(s.auc),
            cell(s.brier),
            cell(s.ece),
            cell(s.mae),
            cell(s.coverage),
            cell(s.interval_width)
        ));
    }
}

/// The report as markdown, for people.
pub fn markdown(e: &Evaluation) -> String {
    let mut out = format!(
        "# Evaluation of model {}\n\nHeld-out: closed plans that ended after {}.\n",
        e.version, e.cutoff
    );
    table(
        &mut out,
        "Held-out, all snapshots",
        &BTreeMap::from([("all".to_owned(), e.held_out.clone())]),
    );
    table(&mut out, "By share of the period elapsed", &e.by_fraction);
    table(&mut out, "By template", &e.by_template);
    table(&mut out, "By relationship stage", &e.by_relationship_stage);
    out.push_str("\n## Calibration of P(hit)\n\n| predicted | snapshots | mean predicted | observed hit rate |\n|---|---|---|---|\n");
    for b in &e.calibration_curve {
        out.push_str(&format!(
            "| {:.1}–{:.1} | {} | {:.3} | {:.3} |\n",
            b.lower, b.upper, b.count, b.mean_predicted, b.observed_rate
        ));
    }
    if let Some(t) = &e.truth {
        out.push_str(&format!(
            "\n## Active plans against the generator's truth (as of {})\n\n{} plans: AUC {}, Brier {}, MAE {} against the realised outcome, {} against the true expectation, bias {}, interval coverage {} (width {}).\n",
            t.as_of, t.plans, cell(t.realised.auc), cell(t.realised.brier), cell(t.realised.mae), cell(t.mae_vs_expected), cell(t.bias), cell(t.realised.coverage), cell(t.realised.interval_width)
        ));
    }
    out
}
