//! The leadership digest: predicted against target by region, tier and partner type with
//! intervals, plan against realized per unit, the biggest risks and wins, and how the
//! forecast moved since the last period.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::plans::{furthest_behind, pace_of, plan_facts, AtRiskPlan, StatusCounts};
use super::{one_decimal, percent, Missing};
use crate::digest::DigestError;
use crate::domain::{attainment, Partner, PlanRecord, PlanStatus};
use crate::model::outcome::Prediction;
use crate::model::pipeline::{partners_by_id, predict_record};
use crate::nba::portfolio::{roll_up, ForecastGroup, GroupBy, AT_RISK_P_HIT, NONE_KEY};
use crate::nba::Engine;
use crate::store::{PlanFilter, Store};

/// Risks and wins listed: the few a leadership meeting talks about.
pub const MAX_LISTED: usize = 5;

/// The groupings a leadership digest shows.
pub const GROUPINGS: [GroupBy; 3] = [GroupBy::Region, GroupBy::Tier, GroupBy::PartnerType];

/// One group of active plans: predicted attainment with its interval against the 100%
/// target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLine {
    pub key: String,
    pub plans: usize,
    pub partners: usize,
    pub expected_percent: i64,
    pub low_percent: i64,
    pub high_percent: i64,
    pub p_hit_percent: i64,
    /// Plans expected to hit (Σ P(hit)), one decimal.
    pub expected_hits: f64,
    pub at_risk: usize,
    pub behind_pace: usize,
}

impl GroupLine {
    fn of(g: &ForecastGroup) -> Self {
        Self {
            key: g.key.clone(),
            plans: g.plans,
            partners: g.partners,
            expected_percent: percent(g.expected_attainment).unwrap_or_default(),
            low_percent: percent(g.attainment_low).unwrap_or_default(),
            high_percent: percent(g.attainment_high).unwrap_or_default(),
            p_hit_percent: percent(g.mean_p_hit).unwrap_or_default(),
            expected_hits: one_decimal(g.expected_hits).unwrap_or_default(),
            at_risk: g.at_risk,
            behind_pace: g.behind_pace,
        }
    }
}

/// Plan against realized for one unit (EUR, #, ...), rounded to whole units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitLine {
    pub unit: String,
    pub key_results: usize,
    pub target: f64,
    pub realized: f64,
    pub realized_percent: i64,
    /// Where the targets are predicted to end, with the interval; None without a model.
    pub expected: Option<f64>,
    pub expected_low: Option<f64>,
    pub expected_high: Option<f64>,
    pub expected_percent: Option<i64>,
}

/// A plan that reached its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Win {
    pub plan_id: String,
    pub plan_name: Option<String>,
    pub partner_id: String,
    pub partner_name: Option<String>,
    pub attainment_percent: i64,
    /// Set for a plan that closed since the last period; None for an active plan that is
    /// already complete.
    pub closed_on: Option<NaiveDate>,
}

/// The forecast then (as of `since`, same plans) and now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelChange {
    pub expected_percent_then: i64,
    pub expected_percent_now: i64,
    pub at_risk_then: usize,
    pub at_risk_now: usize,
    pub expected_hits_then: f64,
    pub expected_hits_now: f64,
}

/// One grouping of the forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grouping {
    pub group_by: String,
    pub groups: Vec<GroupLine>,
}

/// Everything a leadership digest states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadershipFacts {
    pub tenant: String,
    pub as_of: NaiveDate,
    pub since: NaiveDate,
    pub active_plans: usize,
    pub partners: usize,
    pub plan_status: StatusCounts,
    /// Coverage of the intervals, whole percent.
    pub level_percent: Option<i64>,
    pub at_risk_below_percent: i64,
    /// Every active plan together; None without a model.
    pub total: Option<GroupLine>,
    pub groupings: Vec<Grouping>,
    pub plan_vs_realized: Vec<UnitLine>,
    pub risks: Vec<AtRiskPlan>,
    pub wins: Vec<Win>,
    pub change: Option<LevelChange>,
    pub missing: Vec<Missing>,
}

/// The leadership digest of the engine's tenant as of `as_of`.
///
/// # Errors
/// Store errors.
pub async fn leadership(
    store: &Store,
    engine: &Engine,
    as_of: NaiveDate,
    since: NaiveDate,
) -> Result<LeadershipFacts, DigestError> {
    let tenant = engine.tenant();
    let records = store.active_plans(tenant).await?;
    let partners = partners_by_id(store, tenant).await?;
    let partner_of = |r: &PlanRecord| partners.get(r.plan.partner_id.as_str());
    let name_of = |id: &str| partners.get(id).and_then(|p| p.name.clone());
    let model = engine.model();
    let mut missing = Vec::new();
    if records.is_empty() {
        missing.push(Missing::NoActivePlans);
    }
    if model.is_none() {
        missing.push(Missing::NoModel);
    }
    let mut plan_status = StatusCounts::default();
    for r in &records {
        plan_status.add(pace_of(&r.as_of(as_of), as_of));
    }
    let distinct_partners = records
        .iter()
        .map(|r| r.plan.partner_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();

    let predicted = |at: NaiveDate| -> Option<Vec<(&PlanRecord, Option<&Partner>, Prediction)>> {
        let m = model?;
        Some(
            records
                .iter()
                .map(|r| (r, partner_of(r), predict_record(m, r, partner_of(r), at)))
                .collect(),
        )
    };
    let level = model.map(|m| m.level);
    let now = predicted(as_of);
    let (mut total, mut groupings, mut change, mut risks) = (None, Vec::new(), None, Vec::new());
    let plan_vs_realized;
    if let (Some(plans), Some(level)) = (&now, level) {
        let whole = roll_up(tenant, as_of, GroupBy::Region, level, plans);
        total = Some(GroupLine::of(&whole.total));
        plan_vs_realized = whole
            .total
            .targets
            .iter()
            .map(|t| UnitLine {
                unit: t.unit.clone(),
                key_results: t.key_results,
                target: t.target.round(),
                realized: t.realized_to_date.round(),
                realized_percent: percent(t.realized_to_date / t.target).unwrap_or_default(),
                expected: Some(t.expected_realized.round()),
                expected_low: Some(t.expected_low.round()),
                expected_high: Some(t.expected_high.round()),
                expected_percent: percent(t.expected_realized / t.target),
            })
            .collect();
        for g in GROUPINGS {
            let f = roll_up(tenant, as_of, g, level, plans);
            groupings.push(Grouping {
                group_by: g.as_str().to_owned(),
                groups: f.groups.iter().map(GroupLine::of).collect(),
            });
        }
        if since
            >= records
                .iter()
                .map(|r| r.plan.start_date)
                .min()
                .unwrap_or(as_of)
        {
            if let Some(then) = predicted(since) {
                let before = roll_up(tenant, since, GroupBy::Region, level, &then).total;
                change = Some(LevelChange {
                    expected_percent_then: percent(before.expected_attainment).unwrap_or_default(),
                    expected_percent_now: percent(whole.total.expected_attainment)
                        .unwrap_or_default(),
                    at_risk_then: before.at_risk,
                    at_risk_now: whole.total.at_risk,
                    expected_hits_then: one_decimal(before.expected_hits).unwrap_or_default(),
                    expected_hits_now: one_decimal(whole.total.expected_hits).unwrap_or_default(),
                });
            }
        }
        for (r, _, p) in plans {
            if p.p_hit.is_finite() && p.p_hit < AT_RISK_P_HIT {
                let facts = plan_facts(r, as_of, Some(p));
                if let Some(prediction) = facts.prediction {
                    risks.push(AtRiskPlan {
                        main_reason: furthest_behind(&facts).cloned(),
                        plan_id: facts.plan_id,
                        plan_name: facts.name,
                        partner_id: facts.partner_id.clone(),
                        partner_name: name_of(&facts.partner_id),
                        prediction,
                        status: facts.status,
                    });
                }
            }
        }
    } else {
        plan_vs_realized = realized_by_unit(&records, as_of);
    }
    if records.is_empty() {
        total = None;
    }
    risks.sort_by(|a, b| {
        a.prediction
            .p_hit_percent
            .cmp(&b.prediction.p_hit_percent)
            .then_with(|| a.plan_id.cmp(&b.plan_id))
    });
    risks.truncate(MAX_LISTED);
    let wins = wins(store, tenant, &records, as_of, since, &name_of).await?;
    if change.is_none() && model.is_some() && !records.is_empty() {
        missing.push(Missing::NoHistory);
    }
    Ok(LeadershipFacts {
        tenant: tenant.to_owned(),
        as_of,
        since,
        active_plans: records.len(),
        partners: distinct_partners,
        plan_status,
        level_percent: level.and_then(percent),
        at_risk_below_percent: percent(AT_RISK_P_HIT).unwrap_or(50),
        total,
        groupings,
        plan_vs_realized,
        risks,
        wins,
        change,
        missing,
    })
}

/// Plan against realized per unit without predictions (no model yet).
fn realized_by_unit(records: &[PlanRecord], as_of: NaiveDate) -> Vec<UnitLine> {
    let mut by_unit: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for r in records {
        for kr in &r.as_of(as_of).key_results {
            let Some(target) = kr.target.filter(|t| *t > 0.0 && t.is_finite()) else {
                continue;
            };
            let unit = kr.unit.clone().unwrap_or_else(|| NONE_KEY.to_owned());
            let e = by_unit.entry(unit).or_default();
            e.0 += 1;
            e.1 += target;
            e.2 += kr.realized.filter(|v| v.is_finite()).unwrap_or(0.0);
        }
    }
    by_unit
        .into_iter()
        .map(|(unit, (n, target, realized))| UnitLine {
            unit,
            key_results: n,
            target: target.round(),
            realized: realized.round(),
            realized_percent: percent(realized / target).unwrap_or_default(),
            expected: None,
            expected_low: None,
            expected_high: None,
            expected_percent: None,
        })
        .collect()
}

/// Plans that closed at or above target since the last period, then active plans already
/// complete, best first.
async fn wins(
    store: &Store,
    tenant: &str,
    active: &[PlanRecord],
    as_of: NaiveDate,
    since: NaiveDate,
    name_of: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Vec<Win>, DigestError> {
    let closed = store
        .plans(
            tenant,
            PlanFilter {
                status: Some(PlanStatus::Closed),
                ..PlanFilter::default()
            },
        )
        .await?;
    let won = |r: &PlanRecord, closed_on: Option<NaiveDate>| -> Option<Win> {
        let a = attainment(&r.as_of(as_of).key_results)?;
        (a >= 1.0).then(|| Win {
            plan_id: r.plan.plan_id.to_string(),
            plan_name: r.plan.name.clone(),
            partner_id: r.plan.partner_id.to_string(),
            partner_name: name_of(r.plan.partner_id.as_str()),
            attainment_percent: percent(a).unwrap_or_default(),
            closed_on,
        })
    };
    let mut wins: Vec<Win> = closed
        .iter()
        .filter(|r| r.plan.end_date > since && r.plan.end_date <= as_of)
        .filter_map(|r| won(r, Some(r.plan.end_date)))
        .chain(active.iter().filter_map(|r| won(r, None)))
        .collect();
    wins.sort_by(|a, b| {
        b.attainment_percent
            .cmp(&a.attainment_percent)
            .then_with(|| a.plan_id.cmp(&b.plan_id))
    });
    wins.truncate(MAX_LISTED);
    Ok(wins)
}
