//! Leadership roll-ups: "what are the predicted plan outcomes this period, by region /
//! tier / partner type / manager?" and "plan vs realized across the portfolio".
//!
//! [`forecast`] predicts every active plan with the outcome model (the same numbers as
//! `GET /v1/plans/{id}/prediction`, through [`pipeline::predict_record`]) and rolls the
//! predictions up by a [`GroupBy`] key, with a `total` over all plans. The roll-up itself,
//! [`roll_up`], is a pure function of records and predictions, so it is tested without a
//! store or a model.
//!
//! # Intervals of sums and means
//! A plan's interval is `expected ± h` at the model's level (80% by default), from
//! split-conformal residuals. Reading it as a normal interval, the plan's standard
//! deviation is `h / z` (z = 1.2816 at 80%). **Assumption: the errors of different plans
//! are independent**, so the standard deviation of a sum is `sqrt(Σ sdᵢ²)`, and that of a
//! mean of `n` plans is `sqrt(Σ sdᵢ²) / n`. Converted back at the same level, z cancels:
//! the half-width of a group's mean is `sqrt(Σ hᵢ²) / n`, and that of an expected realized
//! value is `sqrt(Σ (Tᵢ·hᵢ)²)` for plan targets `Tᵢ`. Plans of one quarter, region or
//! manager share shocks (a market downturn, a reorganisation), so real errors are
//! positively correlated and these group intervals are **too narrow** (optimistic) for
//! large groups; they are the honest interval of the model's own uncertainty, not of
//! shocks it cannot see. Within one plan the key results share the plan's attainment, so
//! their errors are taken as fully correlated (targets add before the half-width is taken).
//!
//! `h` is recovered from the clamped interval as `max(high − expected, expected − low)`:
//! intervals are clamped to attainment 0..=2, and the unclamped side keeps the full
//! half-width.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::NbaError;
use crate::domain::{plan_pace, Pace, Partner, PlanRecord};
use crate::model::outcome::{OutcomeModel, Prediction};
use crate::model::pipeline;
use crate::store::Store;

/// A plan whose P(hit) is below this is "at risk" in a roll-up: a miss is more likely
/// than a hit. Pace, the other reading of "at risk", is counted apart as `behind_pace`.
pub const AT_RISK_P_HIT: f64 = 0.5;

/// The group key of a missing value (no region, no template, no manager...), and the
/// unit of key results without one.
pub const NONE_KEY: &str = "(none)";

/// The key of the total row.
pub const TOTAL_KEY: &str = "(total)";

/// Attainment is 0..=2 by definition (ratios are capped at 2), so are its intervals.
const ATTAINMENT_MAX: f64 = 2.0;

/// What a forecast is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The partner's region.
    Region,
    /// The partner's tier.
    Tier,
    /// The partner's type.
    PartnerType,
    /// The plan's owner, else the partner's manager.
    Manager,
    /// The plan's template.
    Template,
}

impl GroupBy {
    pub const ALL: [GroupBy; 5] = [
        Self::Region,
        Self::Tier,
        Self::PartnerType,
        Self::Manager,
        Self::Template,
    ];

    /// Parses the wire name (`region`, `tier`, `partner_type`, `manager`, `template`).
    ///
    /// # Errors
    /// [`NbaError::UnknownGroupBy`] for anything else, naming the accepted values.
    pub fn parse(raw: &str) -> Result<Self, NbaError> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == raw)
            .ok_or_else(|| NbaError::UnknownGroupBy(raw.to_owned()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Region => "region",
            Self::Tier => "tier",
            Self::PartnerType => "partner_type",
            Self::Manager => "manager",
            Self::Template => "template",
        }
    }

    /// The group of a plan; [`NONE_KEY`] when the value (or the partner) is missing.
    pub fn key(self, record: &PlanRecord, partner: Option<&Partner>) -> String {
        let plan = &record.plan;
        let value: Option<String> = match self {
            Self::Region => partner.and_then(|p| p.region.clone()),
            Self::Tier => partner.and_then(|p| p.tier).map(|t| t.as_str().to_owned()),
            Self::PartnerType => partner
                .and_then(|p| p.partner_type)
                .map(|t| t.as_str().to_owned()),
            Self::Manager => plan
                .owner_id
                .as_ref()
                .or_else(|| partner.and_then(|p| p.manager_id.as_ref()))
                .map(|id| id.to_string()),
            Self::Template => plan.template.clone(),
        };
        or_none(value.as_deref())
    }
}

impl std::fmt::Display for GroupBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trimmed value, or [`NONE_KEY`] when it is missing or blank.
fn or_none(value: Option<&str>) -> String {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(NONE_KEY)
        .to_owned()
}

/// Target value of one unit (EUR, #, ...) in a group: plan vs realized vs expected.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnitTarget {
    /// The key results' unit; [`NONE_KEY`] for key results without one.
    pub unit: String,
    /// Key results with a defined target (> 0) in this unit.
    pub key_results: usize,
    /// Sum of their targets.
    pub target: f64,
    /// Sum of their realized values as of the forecast date (unknown counts as 0).
    pub realized_to_date: f64,
    /// Σ target × the plan's expected attainment: where the targets are predicted to end.
    pub expected_realized: f64,
    /// The interval of `expected_realized` at the forecast's level (see the module docs),
    /// clamped to 0..=2 × target like attainment.
    pub expected_low: f64,
    pub expected_high: f64,
}

/// One row of a forecast: a group of active plans (or all of them).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ForecastGroup {
    pub key: String,
    pub plans: usize,
    /// Distinct partners of those plans.
    pub partners: usize,
    /// Mean expected attainment of the plans.
    pub expected_attainment: f64,
    /// The interval of that mean at the forecast's level (see the module docs).
    pub attainment_low: f64,
    pub attainment_high: f64,
    /// Mean P(hit).
    pub mean_p_hit: f64,
    /// Σ P(hit): the number of plans expected to hit.
    pub expected_hits: f64,
    /// Plans with P(hit) below [`AT_RISK_P_HIT`].
    pub at_risk: usize,
    /// Plans whose pace-aware status is behind, at risk or not complete (key results
    /// against the share of their period elapsed; see `domain::pace`).
    pub behind_pace: usize,
    /// Per unit, sorted by unit.
    pub targets: Vec<UnitTarget>,
}

/// Predicted outcomes of a tenant's active plans, rolled up.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Forecast {
    pub tenant: String,
    pub as_of: NaiveDate,
    pub group_by: GroupBy,
    /// Coverage of every interval: the model's level (0.8 by default).
    pub level: f64,
    /// The P(hit) below which a plan counts as at risk.
    pub at_risk_below: f64,
    /// Sorted by key, [`NONE_KEY`] last. Only groups with plans exist.
    pub groups: Vec<ForecastGroup>,
    /// Every plan of the groups together.
    pub total: ForecastGroup,
    /// Active plans left out because their prediction was not a finite number (never
    /// expected; counted so a gap in the totals is visible rather than silent).
    pub unpredictable: usize,
}

/// Predicts every active plan of `tenant` as of `as_of` and rolls the predictions up by
/// `group_by`. A tenant without active plans gets no groups and a total of zeros.
///
/// # Errors
/// [`NbaError::Store`] when the plans or partners cannot be read.
///
/// # Cancel safety
/// Read-only, so cancel safe.
pub async fn forecast(
    store: &Store,
    model: &OutcomeModel,
    tenant: &str,
    as_of: NaiveDate,
    group_by: GroupBy,
) -> Result<Forecast, NbaError> {
    let records = store.active_plans(tenant).await?;
    let partners = pipeline::partners_by_id(store, tenant).await?;
    let plans: Vec<(&PlanRecord, Option<&Partner>, Prediction)> = records
        .iter()
        .map(|record| {
            let partner = partners.get(record.plan.partner_id.as_str());
            let prediction = pipeline::predict_record(model, record, partner, as_of);
            (record, partner, prediction)
        })
        .collect();
    let forecast = roll_up(tenant, as_of, group_by, model.level, &plans);
    tracing::info!(
        tenant,
        %as_of,
        group_by = group_by.as_str(),
        plans = forecast.total.plans,
        groups = forecast.groups.len(),
        unpredictable = forecast.unpredictable,
        "forecast rolled up"
    );
    Ok(forecast)
}

/// The roll-up of [`forecast`] from plans already predicted: each plan with its partner
/// (if known) and its prediction as of `as_of`; `level` is the coverage of the plans'
/// intervals. Pure, so it is the same on any store.
pub fn roll_up(
    tenant: &str,
    as_of: NaiveDate,
    group_by: GroupBy,
    level: f64,
    plans: &[(&PlanRecord, Option<&Partner>, Prediction)],
) -> Forecast {
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    let mut unpredictable = 0;
    for (record, partner, prediction) in plans {
        let Some(figures) = PlanFigures::of(record, prediction, as_of) else {
            unpredictable += 1;
            tracing::warn!(
                tenant,
                plan_id = %record.plan.plan_id,
                ?prediction,
                "a prediction is not finite; the plan is left out of the forecast"
            );
            continue;
        };
        let key = group_by.key(record, *partner);
        groups.entry(key).or_default().add(&figures);
        total.add(&figures);
    }
    let groups = none_last(groups.into_iter().map(|(key, acc)| acc.finish(key)));
    Forecast {
        tenant: tenant.to_owned(),
        as_of,
        group_by,
        level: if level.is_finite() { level } else { 0.0 },
        at_risk_below: AT_RISK_P_HIT,
        groups,
        total: total.finish(TOTAL_KEY.to_owned()),
        unpredictable,
    }
}

/// What one plan adds to a group.
struct PlanFigures {
    partner_id: String,
    expected: f64,
    /// Half-width of the plan's attainment interval.
    half: f64,
    p_hit: f64,
    behind_pace: bool,
    /// Per unit: (key results, target, realized to date).
    units: BTreeMap<String, (usize, f64, f64)>,
}

impl PlanFigures {
    /// `None` when the prediction holds a non-finite number.
    fn of(record: &PlanRecord, p: &Prediction, as_of: NaiveDate) -> Option<Self> {
        let numbers = [
            p.p_hit,
            p.expected_attainment,
            p.interval_low,
            p.interval_high,
        ];
        if !numbers.iter().all(|v| v.is_finite()) {
            return None;
        }
        let now = record.as_of(as_of);
        let pace = plan_pace(
            now.key_results
                .iter()
                .map(|kr| (kr.target, kr.realized, kr.weight, kr.due_date)),
            now.plan.start_date,
            now.plan.end_date,
            as_of,
        );
        let mut units: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
        for kr in &now.key_results {
            let Some(target) = kr.target.filter(|t| t.is_finite() && *t > 0.0) else {
                continue;
            };
            let realized = kr.realized.filter(|r| r.is_finite()).unwrap_or(0.0);
            let unit = units.entry(or_none(kr.unit.as_deref())).or_default();
            unit.0 += 1;
            unit.1 += target;
            unit.2 += realized;
        }
        Some(Self {
            partner_id: record.plan.partner_id.to_string(),
            expected: p.expected_attainment,
            half: (p.interval_high - p.expected_attainment)
                .max(p.expected_attainment - p.interval_low)
                .max(0.0),
            p_hit: p.p_hit,
            behind_pace: matches!(pace, Pace::Behind | Pace::AtRisk | Pace::NotComplete),
            units,
        })
    }
}

#[derive(Default)]
struct UnitAcc {
    key_results: usize,
    target: f64,
    realized: f64,
    expected: f64,
    half_sq: f64,
}

/// Running sums of a group.
#[derive(Default)]
struct Acc {
    plans: usize,
    partners: BTreeSet<String>,
    expected: f64,
    half_sq: f64,
    p_hit: f64,
    at_risk: usize,
    behind_pace: usize,
    units: BTreeMap<String, UnitAcc>,
}

impl Acc {
    fn add(&mut self, f: &PlanFigures) {
        self.plans += 1;
        self.partners.insert(f.partner_id.clone());
        self.expected += f.expected;
        self.half_sq += f.half * f.half;
        self.p_hit += f.p_hit;
        self.at_risk += usize::from(f.p_hit < AT_RISK_P_HIT);
        self.behind_pace += usize::from(f.behind_pace);
        for (unit, (n, target, realized)) in &f.units {
            let u = self.units.entry(unit.clone()).or_default();
            u.key_results += n;
            u.target += target;
            u.realized += realized;
            u.expected += target * f.expected;
            u.half_sq += (target * f.half).powi(2);
        }
    }

    /// The group's row; every mean divides by a plan count that is checked first, so an
    /// empty group (only the total of a tenant without active plans) is all zeros.
    fn finish(self, key: String) -> ForecastGroup {
        let n = self.plans as f64;
        let mean = |sum: f64| if self.plans > 0 { sum / n } else { 0.0 };
        let expected = mean(self.expected);
        let half = mean(self.half_sq.sqrt());
        ForecastGroup {
            key,
            plans: self.plans,
            partners: self.partners.len(),
            expected_attainment: expected,
            attainment_low: (expected - half).clamp(0.0, ATTAINMENT_MAX),
            attainment_high: (expected + half).clamp(0.0, ATTAINMENT_MAX),
            mean_p_hit: mean(self.p_hit),
            expected_hits: self.p_hit,
            at_risk: self.at_risk,
            behind_pace: self.behind_pace,
            targets: none_last(self.units.into_iter().map(|(unit, u)| {
                let half = u.half_sq.sqrt();
                let cap = ATTAINMENT_MAX * u.target;
                UnitTarget {
                    unit,
                    key_results: u.key_results,
                    target: u.target,
                    realized_to_date: u.realized,
                    expected_realized: u.expected,
                    expected_low: (u.expected - half).clamp(0.0, cap),
                    expected_high: (u.expected + half).clamp(0.0, cap),
                }
            })),
        }
    }
}

/// Rows sorted by key as given, with the [`NONE_KEY`] row moved last: "(none)" sorts
/// before letters, but it is the least interesting row.
fn none_last<T: Keyed>(rows: impl Iterator<Item = T>) -> Vec<T> {
    let mut rows: Vec<T> = rows.collect();
    rows.sort_by_key(|r| r.key() == NONE_KEY);
    rows
}

trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for UnitTarget {
    fn key(&self) -> &str {
        &self.unit
    }
}

impl Keyed for ForecastGroup {
    fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Id, KeyResult, Plan, PlanStatus, Tier};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const AS_OF: &str = "2026-02-15";

    fn kr(
        plan: &str,
        i: usize,
        target: Option<f64>,
        realized: Option<f64>,
        unit: Option<&str>,
    ) -> KeyResult {
        KeyResult {
            kr_id: Id::parse(&format!("{plan}-kr{i}")).unwrap(),
            plan_id: Id::parse(plan).unwrap(),
            metric: None,
            target,
            realized,
            objective: None,
            unit: unit.map(str::to_owned),
            weight: 1.0,
            due_date: None,
        }
    }

    fn record(plan: &str, partner: &str, owner: Option<&str>, krs: Vec<KeyResult>) -> PlanRecord {
        PlanRecord {
            plan: Plan {
                plan_id: Id::parse(plan).unwrap(),
                partner_id: Id::parse(partner).unwrap(),
                start_date: d("2026-01-01"),
                end_date: d("2026-03-31"),
                name: None,
                template: Some("jbp".into()),
                status: PlanStatus::Active,
                owner_id: owner.map(|o| Id::parse(o).unwrap()),
            },
            key_results: krs,
            progress: Vec::new(),
            activities: Vec::new(),
        }
    }

    fn prediction(p_hit: f64, expected: f64, half: f64) -> Prediction {
        Prediction {
            p_hit,
            expected_attainment: expected,
            interval_low: (expected - half).max(0.0),
            interval_high: (expected + half).min(2.0),
        }
    }

    fn partner(id: &str, manager: Option<&str>, tier: Option<Tier>) -> Partner {
        let mut p = Partner::new(Id::parse(id).unwrap());
        p.manager_id = manager.map(|m| Id::parse(m).unwrap());
        p.tier = tier;
        p
    }

    #[test]
    fn group_names_parse_and_print_back() {
        for g in GroupBy::ALL {
            assert_eq!(GroupBy::parse(g.as_str()).unwrap(), g);
            assert_eq!(serde_json::to_value(g).unwrap(), g.as_str());
        }
        let err = GroupBy::parse("country").unwrap_err();
        assert!(matches!(err, NbaError::UnknownGroupBy(ref s) if s == "country"));
        assert!(err.to_string().contains("partner_type"), "{err}");
    }

    #[test]
    fn the_manager_is_the_plan_owner_else_the_partner_manager_else_none() {
        let owned = record("p1", "a", Some("m-owner"), Vec::new());
        let unowned = record("p2", "a", None, Vec::new());
        let managed = partner("a", Some("m-partner"), None);
        let g = GroupBy::Manager;
        assert_eq!(g.key(&owned, Some(&managed)), "m-owner");
        assert_eq!(g.key(&unowned, Some(&managed)), "m-partner");
        assert_eq!(g.key(&unowned, None), NONE_KEY);
        assert_eq!(GroupBy::Region.key(&owned, Some(&managed)), NONE_KEY);
        assert_eq!(GroupBy::Template.key(&owned, None), "jbp");
    }

    #[test]
    fn groups_add_up_to_the_total_and_intervals_combine_as_independent_errors() {
        let a = partner("a", None, Some(Tier::Gold));
        let b = partner("b", None, Some(Tier::Gold));
        let c = partner("c", None, None);
        let r1 = record(
            "p1",
            "a",
            None,
            vec![
                kr("p1", 0, Some(100.0), Some(40.0), Some("EUR")),
                kr("p1", 1, Some(10.0), None, None),
                kr("p1", 2, None, Some(5.0), Some("EUR")),
            ],
        );
        let r2 = record(
            "p2",
            "b",
            None,
            vec![kr("p2", 0, Some(300.0), Some(90.0), Some("EUR"))],
        );
        let r3 = record("p3", "c", None, Vec::new());
        let r4 = record("p4", "a", None, Vec::new());
        let plans = vec![
            (&r1, Some(&a), prediction(0.3, 0.8, 0.3)),
            (&r2, Some(&b), prediction(0.7, 1.2, 0.4)),
            (&r3, Some(&c), prediction(0.6, 1.0, 0.2)),
            (&r4, Some(&a), prediction(0.5, 1.0, 0.2)),
        ];
        let f = roll_up("t", d(AS_OF), GroupBy::Tier, 0.8, &plans);
        assert_eq!(
            f.groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(),
            ["gold", NONE_KEY]
        );
        let gold = &f.groups[0];
        assert_eq!((gold.plans, gold.partners), (3, 2));
        assert!((gold.expected_attainment - 3.0 / 3.0).abs() < 1e-12);
        let half = (0.3_f64.powi(2) + 0.4_f64.powi(2) + 0.2_f64.powi(2)).sqrt() / 3.0;
        assert!((gold.attainment_high - (1.0 + half)).abs() < 1e-12);
        assert!((gold.attainment_low - (1.0 - half)).abs() < 1e-12);
        assert!((gold.expected_hits - 1.5).abs() < 1e-12);
        assert!((gold.mean_p_hit - 0.5).abs() < 1e-12);
        assert_eq!(gold.at_risk, 1, "0.5 is not below 0.5");
        // EUR: 100 at 0.8 and 300 at 1.2; the undefined target is left out.
        let eur = &gold.targets[0];
        assert_eq!(gold.targets.len(), 2, "EUR, then (none) last");
        assert_eq!((eur.unit.as_str(), eur.key_results), ("EUR", 2));
        assert_eq!((eur.target, eur.realized_to_date), (400.0, 130.0));
        assert!((eur.expected_realized - (80.0 + 360.0)).abs() < 1e-9);
        let half = ((100.0_f64 * 0.3).powi(2) + (300.0_f64 * 0.4).powi(2)).sqrt();
        assert!((eur.expected_high - (440.0 + half)).abs() < 1e-9);
        assert_eq!(gold.targets[1].unit, NONE_KEY);
        assert_eq!(gold.targets[1].realized_to_date, 0.0);

        assert_eq!(f.total.plans, 4);
        assert_eq!(f.total.partners, 3);
        assert_eq!(
            f.groups.iter().map(|g| g.plans).sum::<usize>(),
            f.total.plans
        );
        assert!((f.total.expected_hits - 2.1).abs() < 1e-12);
    }

    #[test]
    fn a_one_plan_group_keeps_the_plans_interval() {
        let a = partner("a", None, None);
        let r = record("p1", "a", None, Vec::new());
        // Clamped at 0 on the low side: the high side keeps the half-width.
        let p = prediction(0.1, 0.1, 0.3);
        let f = roll_up("t", d(AS_OF), GroupBy::Region, 0.8, &[(&r, Some(&a), p)]);
        let g = &f.groups[0];
        assert_eq!(
            (g.attainment_low, g.attainment_high),
            (0.0, p.interval_high)
        );
        assert_eq!(g.at_risk, 1);
    }

    #[test]
    fn no_active_plans_give_no_groups_and_a_total_of_zeros() {
        let f = roll_up("t", d(AS_OF), GroupBy::Manager, 0.8, &[]);
        assert!(f.groups.is_empty());
        assert_eq!(f.total.plans, 0);
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("NaN") && !json.contains("null"), "{json}");
        assert_eq!(f.total.expected_attainment, 0.0);
    }

    #[test]
    fn a_non_finite_prediction_is_counted_apart() {
        let a = partner("a", None, None);
        let r = record("p1", "a", None, Vec::new());
        let p = prediction(f64::NAN, 1.0, 0.1);
        let f = roll_up("t", d(AS_OF), GroupBy::Region, 0.8, &[(&r, Some(&a), p)]);
        assert_eq!((f.unpredictable, f.total.plans), (1, 0));
        assert!(!serde_json::to_string(&f).unwrap().contains("null"));
    }

    #[test]
    fn pace_behind_is_counted_from_the_key_results() {
        let a = partner("a", None, None);
        // Half the period gone (as of mid-February of a Q1 plan), 10% done: at risk.
        let behind = record(
            "p1",
            "a",
            None,
            vec![kr("p1", 0, Some(100.0), Some(10.0), None)],
        );
        let ahead = record(
            "p2",
            "a",
            None,
            vec![kr("p2", 0, Some(100.0), Some(60.0), None)],
        );
        let p = prediction(0.9, 1.1, 0.1);
        let f = roll_up(
            "t",
            d(AS_OF),
            GroupBy::Region,
            0.8,
            &[(&behind, Some(&a), p), (&ahead, Some(&a), p)],
        );
        assert_eq!(f.total.behind_pace, 1);
        assert_eq!(f.total.at_risk, 0);
    }
}
