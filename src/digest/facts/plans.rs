//! One plan as every digest states it: objectives with their key results, the
//! pace-aware status, the predicted outcome. Shared by the three audiences so a plan
//! reads the same in a partner's update and in its manager's.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{one_decimal, percent};
use crate::domain::{attainment, kr_pace, plan_pace, KeyResult, Pace, PlanRecord};
use crate::model::outcome::Prediction;

/// A predicted plan outcome, in whole percent of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionFacts {
    /// Probability the plan reaches its target.
    pub p_hit_percent: i64,
    pub expected_percent: i64,
    pub low_percent: i64,
    pub high_percent: i64,
}

impl PredictionFacts {
    /// None when any number is not finite, so a digest never prints NaN.
    pub fn of(p: &Prediction) -> Option<Self> {
        Some(Self {
            p_hit_percent: percent(p.p_hit)?,
            expected_percent: percent(p.expected_attainment)?,
            low_percent: percent(p.interval_low)?,
            high_percent: percent(p.interval_high)?,
        })
    }
}

/// One key result: target, realized, the share of target and the share due now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KrLine {
    pub kr_id: String,
    pub metric: Option<String>,
    pub unit: Option<String>,
    pub target: Option<f64>,
    pub realized: Option<f64>,
    /// Realized as share of target, whole percent (None without a target).
    pub percent: Option<i64>,
    /// The share of target due by now at an even pace, whole percent.
    pub due_percent: i64,
    pub status: Pace,
    pub due_date: NaiveDate,
}

/// An objective: its key results, summed when they share one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveLine {
    /// The objective's name; None for key results filed under no objective.
    pub objective: Option<String>,
    /// The unit of every key result with a target, when they share one.
    pub unit: Option<String>,
    /// Sums over the key results with a target, when they share a unit.
    pub realized: Option<f64>,
    pub target: Option<f64>,
    /// Realized share of target (sums when one unit, else weighted attainment), whole
    /// percent; None when no key result has a target.
    pub percent: Option<i64>,
    pub status: Pace,
    pub key_results: Vec<KrLine>,
}

/// One active plan as of a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFacts {
    pub plan_id: String,
    pub partner_id: String,
    pub name: Option<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub days_left: i64,
    /// Share of the plan period elapsed, whole percent.
    pub elapsed_percent: i64,
    pub status: Pace,
    /// Attainment to date (DATA_FORMAT.md), whole percent; None without any target.
    pub attainment_percent: Option<i64>,
    pub prediction: Option<PredictionFacts>,
    pub objectives: Vec<ObjectiveLine>,
    /// Key results without a target.
    pub undefined_targets: usize,
    /// Whether any key result has a realized value.
    pub has_progress: bool,
}

/// How many plans (or key results) stand where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub complete: usize,
    pub on_track: usize,
    pub behind: usize,
    pub at_risk: usize,
    pub not_complete: usize,
    pub not_defined: usize,
}

impl StatusCounts {
    pub fn add(&mut self, pace: Pace) {
        match pace {
            Pace::Complete => self.complete += 1,
            Pace::OnTrack => self.on_track += 1,
            Pace::Behind => self.behind += 1,
            Pace::AtRisk => self.at_risk += 1,
            Pace::NotComplete => self.not_complete += 1,
            Pace::NotDefined => self.not_defined += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.complete
            + self.on_track
            + self.behind
            + self.at_risk
            + self.not_complete
            + self.not_defined
    }
}

/// A plan predicted to miss, with what weighs on it most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtRiskPlan {
    pub plan_id: String,
    pub plan_name: Option<String>,
    pub partner_id: String,
    pub partner_name: Option<String>,
    pub prediction: PredictionFacts,
    pub status: Pace,
    /// The key result furthest behind its pace, if one is.
    pub main_reason: Option<KrLine>,
}

/// The plan's key results with their pace at `as_of` (`record` already cut to `as_of`).
pub fn kr_line(kr: &KeyResult, record: &PlanRecord, as_of: NaiveDate) -> KrLine {
    let due = kr.due_date.unwrap_or(record.plan.end_date);
    let target = kr.target.filter(|t| *t > 0.0 && t.is_finite());
    let realized = kr.realized.filter(|r| r.is_finite());
    let elapsed = crate::domain::pace::elapsed_fraction(record.plan.start_date, due, as_of);
    KrLine {
        kr_id: kr.kr_id.to_string(),
        metric: kr.metric.clone(),
        unit: kr.unit.clone(),
        target: target.and_then(one_decimal),
        realized: realized.and_then(one_decimal),
        percent: target.and_then(|t| percent(realized.unwrap_or(0.0) / t)),
        due_percent: percent(elapsed).unwrap_or(0),
        status: kr_pace(target, realized, record.plan.start_date, due, as_of),
        due_date: due,
    }
}

/// The plan as of `as_of`, with its prediction when there is one.
pub fn plan_facts(
    record: &PlanRecord,
    as_of: NaiveDate,
    prediction: Option<&Prediction>,
) -> PlanFacts {
    let now = record.as_of(as_of);
    let plan = &now.plan;
    let mut groups: BTreeMap<Option<String>, Vec<&KeyResult>> = BTreeMap::new();
    for kr in &now.key_results {
        groups.entry(kr.objective.clone()).or_default().push(kr);
    }
    let objectives = groups
        .into_iter()
        .map(|(objective, krs)| objective_line(objective, &krs, &now, as_of))
        .collect();
    PlanFacts {
        plan_id: plan.plan_id.to_string(),
        partner_id: plan.partner_id.to_string(),
        name: plan.name.clone(),
        start_date: plan.start_date,
        end_date: plan.end_date,
        days_left: (plan.end_date - as_of).num_days().max(0),
        elapsed_percent: percent(plan.elapsed(as_of)).unwrap_or(0),
        status: pace_of(&now, as_of),
        attainment_percent: attainment(&now.key_results).and_then(percent),
        prediction: prediction.and_then(PredictionFacts::of),
        objectives,
        undefined_targets: now
            .key_results
            .iter()
            .filter(|kr| !kr.target.is_some_and(|t| t > 0.0))
            .count(),
        has_progress: now.key_results.iter().any(|kr| kr.realized.is_some()),
    }
}

/// The plan's pace-aware status (`record` already cut to `as_of`).
pub fn pace_of(record: &PlanRecord, as_of: NaiveDate) -> Pace {
    plan_pace(
        record
            .key_results
            .iter()
            .map(|kr| (kr.target, kr.realized, kr.weight, kr.due_date)),
        record.plan.start_date,
        record.plan.end_date,
        as_of,
    )
}

fn objective_line(
    objective: Option<String>,
    krs: &[&KeyResult],
    record: &PlanRecord,
    as_of: NaiveDate,
) -> ObjectiveLine {
    let key_results: Vec<KrLine> = krs.iter().map(|kr| kr_line(kr, record, as_of)).collect();
    let with_target: Vec<&KrLine> = key_results.iter().filter(|l| l.target.is_some()).collect();
    let first_unit = with_target.first().map(|l| l.unit.clone());
    let one_unit = first_unit
        .clone()
        .filter(|u| with_target.iter().all(|l| &l.unit == u))
        .flatten();
    let (realized, target, share) = match &one_unit {
        Some(_) => {
            let target: f64 = with_target.iter().filter_map(|l| l.target).sum();
            let realized: f64 = with_target.iter().filter_map(|l| l.realized).sum();
            (
                one_decimal(realized),
                one_decimal(target),
                (target > 0.0).then(|| realized / target),
            )
        }
        None => (None, None, attainment(krs.iter().copied())),
    };
    let status = plan_pace(
        krs.iter()
            .map(|kr| (kr.target, kr.realized, kr.weight, kr.due_date)),
        record.plan.start_date,
        record.plan.end_date,
        as_of,
    );
    ObjectiveLine {
        objective,
        unit: one_unit,
        realized,
        target,
        percent: share.and_then(percent),
        status,
        key_results,
    }
}

/// The key result furthest behind its pace (largest due − realized share), if any is
/// behind or at risk.
pub fn furthest_behind(plan: &PlanFacts) -> Option<&KrLine> {
    plan.objectives
        .iter()
        .flat_map(|o| &o.key_results)
        .filter(|kr| matches!(kr.status, Pace::Behind | Pace::AtRisk | Pace::NotComplete))
        .max_by_key(|kr| kr.due_percent - kr.percent.unwrap_or(0))
}
