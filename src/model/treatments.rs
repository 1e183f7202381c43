//! The decision rows the effect model learns from: each training snapshot at a decision
//! point, what the plan did in the next part of its period (the treatments), and what
//! the outcome model expected of it then. Apart from `effects` so that the outcome model
//! may hold an effect model without the effect model's inputs reaching back into it.

use std::collections::HashMap;

use super::effects::{DecisionRow, DECISION_FRACTIONS, WINDOW};
use super::outcome::OutcomeModel;

/// The decision rows of a training set: its training-side snapshots at
/// [`DECISION_FRACTIONS`], with the treatments read from each plan's full record.
pub fn decision_rows(
    set: &crate::features::TrainingSet,
    model: &OutcomeModel,
    closed: &[crate::domain::PlanRecord],
    partners: &HashMap<String, crate::domain::Partner>,
    kinds: &[String],
) -> Vec<DecisionRow> {
    use crate::domain::ActivityStatus;
    use crate::features::date_at;
    let by_id: HashMap<&str, (usize, &crate::domain::PlanRecord)> = closed
        .iter()
        .enumerate()
        .map(|(i, r)| (r.plan.plan_id.as_str(), (i, r)))
        .collect();
    let kind_index: HashMap<&str, usize> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    // The partner's record in its other closed plans (leave this one out): what the
    // snapshot's profile fields only approximate, the partner's own level.
    let mut by_partner: HashMap<&str, (f64, usize)> = HashMap::new();
    for r in closed {
        if let Some(a) = r.attainment() {
            let e = by_partner.entry(r.plan.partner_id.as_str()).or_default();
            e.0 += a;
            e.1 += 1;
        }
    }
    let mut out = Vec::new();
    let (mut before, mut after) = (vec![0.0; kinds.len()], vec![0.0; kinds.len()]);
    for &i in &set.split.train {
        let fraction = set.fractions[i];
        if !DECISION_FRACTIONS
            .iter()
            .any(|f| (f - fraction).abs() < 1e-9)
        {
            continue;
        }
        let Some(&(plan, record)) = by_id.get(set.plan_ids[i].as_str()) else {
            continue;
        };
        let (from, to) = (
            date_at(record, fraction),
            date_at(record, (fraction + WINDOW).min(1.0)),
        );
        before.iter_mut().for_each(|v| *v = 0.0);
        after.iter_mut().for_each(|v| *v = 0.0);
        for a in &record.activities {
            if a.status != ActivityStatus::Done || a.date > to {
                continue;
            }
            if let Some(&k) = kind_index.get(a.kind.as_str()) {
                after[k] += a.quantity.max(0.0);
                if a.date <= from {
                    before[k] += a.quantity.max(0.0);
                }
            }
        }
        let mut z = Vec::with_capacity(model.scaler.width() + 2);
        model.scaler.transform_into(set.row(i), &mut z);
        let predicted = model.attainment.score(&z);
        let own = record.attainment();
        let (sum, count) = by_partner
            .get(record.plan.partner_id.as_str())
            .copied()
            .unwrap_or_default();
        let (sum, count) = match own {
            Some(a) if count > 0 => (sum - a, count - 1),
            _ => (sum, count),
        };
        match count {
            0 => z.extend([0.0, 1.0]),
            c => z.extend([sum / c as f64 - 1.0, 0.0]),
        }
        out.push(DecisionRow {
            z,
            predicted,
            attainment: set.attainment[i],
            treatment: before
                .iter()
                .zip(&after)
                .map(|(b, a)| a.ln_1p() - b.ln_1p())
                .collect(),
            partner_type: partners
                .get(record.plan.partner_id.as_str())
                .and_then(|p| p.partner_type)
                .map(|t| t.as_str().to_owned()),
            plan,
        });
    }
    out
}
