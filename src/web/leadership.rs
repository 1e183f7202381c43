//! `/ui`: predicted plan outcomes for leadership. The forecast chart is the roll-up
//! `GET /v1/forecast` answers, from the same predictions; then plans by status, the
//! relationship pyramid, the at-risk list with the main reason, and plan against
//! realized over time.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Months, NaiveDate};
use maud::html;
use serde::Deserialize;

use super::charts::{self, pct};
use super::layout::{self, Header};
use super::session::Viewer;
use super::PageError;
use crate::api::AppState;
use crate::digest::facts::{furthest_behind, pace_of, plan_facts, StatusCounts};
use crate::digest::locale::Locale;
use crate::domain::pace::elapsed_fraction;
use crate::domain::{Partner, PlanRecord, RelationshipStage};
use crate::model::pipeline::predict_record;
use crate::nba::portfolio::{roll_up, GroupBy, AT_RISK_P_HIT, NONE_KEY};

/// At-risk plans listed.
const AT_RISK_LISTED: usize = 15;
/// Months of plan against realized.
const MONTHS: u32 = 12;

#[derive(Debug, Deserialize)]
pub struct LeadershipQuery {
    pub group_by: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Query(q): Query<LeadershipQuery>,
) -> Result<Response, PageError> {
    // The page mixes store reads with predictions and the engine's synchronous search:
    // it is rendered on a blocking thread.
    crate::service::on_blocking_thread("the leadership page", render(state, caller, q)).await?
}

async fn render(
    state: AppState,
    caller: crate::api::auth::Caller,
    q: LeadershipQuery,
) -> Result<Response, PageError> {
    let tenant = caller.tenant.as_str();
    let group_by = GroupBy::parse(q.group_by.as_deref().unwrap_or("region"))?;
    let as_of = state.as_of(None);
    let engine = state.service().engine(tenant).await?;
    let store = state.store();
    let records = store.active_plans(tenant).await?;
    let partners: HashMap<String, Partner> = store
        .partners(tenant)
        .await?
        .into_iter()
        .map(|p| (p.partner_id.to_string(), p))
        .collect();
    let partner_of = |r: &PlanRecord| partners.get(r.plan.partner_id.as_str());
    let l = Locale::default();

    let mut status = StatusCounts::default();
    for r in &records {
        status.add(pace_of(&r.as_of(as_of), as_of));
    }
    let mut stages: BTreeMap<usize, usize> = BTreeMap::new();
    for p in partners.values() {
        if let Some(s) = p.relationship_stage {
            *stages.entry(s.index()).or_default() += 1;
        }
    }
    let pyramid: Vec<(&str, usize)> = RelationshipStage::ALL
        .iter()
        .rev()
        .map(|s| (s.as_str(), stages.get(&s.index()).copied().unwrap_or(0)))
        .collect();
    let mut managers: BTreeMap<String, usize> = BTreeMap::new();
    for p in partners.values() {
        if let Some(m) = &p.manager_id {
            *managers.entry(m.to_string()).or_default() += 1;
        }
    }

    let model = engine.model();
    let predicted: Vec<_> = match model {
        Some(m) => records
            .iter()
            .map(|r| (r, partner_of(r), predict_record(m, r, partner_of(r), as_of)))
            .collect(),
        None => Vec::new(),
    };
    let forecast = model.map(|m| roll_up(tenant, as_of, group_by, m.level, &predicted));
    let mut at_risk: Vec<_> = predicted
        .iter()
        .filter(|(_, _, p)| p.p_hit.is_finite() && p.p_hit < AT_RISK_P_HIT)
        .collect();
    at_risk.sort_by(|a, b| a.2.p_hit.total_cmp(&b.2.p_hit));
    let (unit, series) = plan_vs_realized(&records, as_of);

    let header = Header { tenant, as_of };
    let body = html! {
        main {
            h1 { "Partner plans: predicted outcomes" }
            p class="muted" { (records.len()) " active plans of " (partners.len()) " partners, as of " (as_of) "." }
            @if let Some(f) = &forecast {
                div class="kpis" {
                    div class="kpi" { div class="v" { (pct(f.total.expected_attainment)) "%" } div class="l" { "expected attainment (" (pct(f.total.attainment_low)) "–" (pct(f.total.attainment_high)) "%)" } }
                    div class="kpi" { div class="v" { (l.number(f.total.expected_hits, 0)) } div class="l" { "plans expected to hit" } }
                    div class="kpi" { div class="v" { (f.total.at_risk) } div class="l" { "plans at risk (P(hit) below " (pct(f.at_risk_below)) "%)" } }
                    div class="kpi" { div class="v" { (status.behind + status.at_risk) } div class="l" { "plans behind pace today" } }
                }
            }
            div class="grid" {
                section class="card wide" aria-labelledby="fc-h" {
                    h2 id="fc-h" { "Predicted attainment against target" }
                    nav class="tabs" aria-label="Group by" {
                        @for g in [GroupBy::Region, GroupBy::Tier, GroupBy::PartnerType, GroupBy::Manager] {
                            a href={ "/ui?group_by=" (g.as_str()) }
                                aria-current=[(g == group_by).then_some("page")] { (g.as_str().replace('_', " ")) }
                        }
                    }
                    @match &forecast {
                        Some(f) => {
                            (charts::forecast(&f.groups, group_by.as_str()))
                            p class="muted" { "Mean predicted attainment of the active plans per group with its " (pct(f.level)) "% interval; the dashed line is the target." }
                        }
                        None => p role="note" { "No trained model yet: train one (" code { "nextbest train" } " or " code { "POST /v1/models/train" } ") to see predicted outcomes." },
                    }
                }
                section class="card" aria-labelledby="sd-h" {
                    h2 id="sd-h" { "Plans by status today" }
                    (charts::status_distribution(&[
                        ("complete", "#15803d", status.complete),
                        ("on track", "#22c55e", status.on_track),
                        ("behind", "#f59e0b", status.behind),
                        ("at risk", "#dc2626", status.at_risk),
                        ("not complete", "#7f1d1d", status.not_complete),
                        ("no target", "#9ca3af", status.not_defined),
                    ]))
                    p class="muted" { "Pace-aware: each key result against the share of its period elapsed." }
                }
                section class="card" aria-labelledby="py-h" {
                    h2 id="py-h" { "Relationship pyramid" }
                    (charts::pyramid(&pyramid))
                }
                section class="card wide" aria-labelledby="ar-h" {
                    h2 id="ar-h" { "At risk" }
                    @if at_risk.is_empty() {
                        p { @if model.is_some() { "No plan is predicted at risk." } @else { "No predictions without a model." } }
                    } @else {
                        table data-testid="at-risk" {
                            thead { tr { th { "Partner" } th { "Plan" } th class="num" { "P(hit)" } th class="num" { "Predicted" } th { "Main reason" } } }
                            tbody {
                                @for (r, p, pred) in at_risk.iter().take(AT_RISK_LISTED) {
                                    @let facts = plan_facts(r, as_of, Some(pred));
                                    tr {
                                        td { a href={ "/ui/partners/" (r.plan.partner_id) } { (p.and_then(|p| p.name.clone()).unwrap_or_else(|| r.plan.partner_id.to_string())) } }
                                        td { (r.plan.name.clone().unwrap_or_else(|| r.plan.plan_id.to_string())) }
                                        td class="num" { (pct(pred.p_hit)) "%" }
                                        td class="num" { (pct(pred.expected_attainment)) "% (" (pct(pred.interval_low)) "–" (pct(pred.interval_high)) "%)" }
                                        td {
                                            @match furthest_behind(&facts) {
                                                Some(kr) => { (kr.metric.clone().unwrap_or_default()) " at " (kr.percent.unwrap_or(0)) "% of target with " (kr.due_percent) "% due" }
                                                None => "predicted below target although on pace",
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        p class="muted" { (at_risk.len().min(AT_RISK_LISTED)) " of " (at_risk.len()) " plans at risk, lowest chance first." }
                    }
                }
                section class="card wide" aria-labelledby="pv-h" {
                    h2 id="pv-h" { "Plan against realized, " (unit) }
                    @if series.len() < 2 {
                        p { "Not enough history to draw." }
                    } @else {
                        (charts::plan_vs_realized(&series, &unit, &|v| compact(v, &unit)))
                        div class="legend" { span { i style="background:#4b5563" {} "planned (target pro rata)" } span { i style="background:#1d4ed8" {} "realized" } }
                    }
                }
                section class="card" aria-labelledby="mg-h" {
                    h2 id="mg-h" { "Managers" }
                    ul data-testid="managers" {
                        @for (m, n) in &managers {
                            li { a href={ "/ui/managers/" (m) } { (m) } " · " (n) " partners" }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Leadership", Some(&header), body).into_response())
}

/// An axis label: `21.6M EUR`, `840k EUR`, `75 EUR`.
fn compact(v: f64, unit: &str) -> String {
    let n = if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    };
    if unit.is_empty() || unit == NONE_KEY {
        n
    } else {
        format!("{n} {unit}")
    }
}

/// The unit with the most target value's monthly planned (targets pro rata) against
/// realized (recorded by then), over the active plans, up to `as_of`.
fn plan_vs_realized(
    records: &[PlanRecord],
    as_of: NaiveDate,
) -> (String, Vec<(NaiveDate, f64, f64)>) {
    let mut by_unit: BTreeMap<String, usize> = BTreeMap::new();
    for kr in records.iter().flat_map(|r| &r.key_results) {
        if kr.target.is_some_and(|t| t > 0.0) {
            *by_unit
                .entry(kr.unit.clone().unwrap_or_else(|| NONE_KEY.to_owned()))
                .or_default() += 1;
        }
    }
    let Some(unit) = by_unit
        .iter()
        .filter(|(u, _)| u.as_str() != "#" && u.as_str() != "score" && u.as_str() != NONE_KEY)
        .max_by_key(|(_, n)| **n)
        .or_else(|| by_unit.iter().max_by_key(|(_, n)| **n))
        .map(|(u, _)| u.clone())
    else {
        return (String::new(), Vec::new());
    };
    let first = records
        .iter()
        .map(|r| r.plan.start_date)
        .min()
        .unwrap_or(as_of)
        .max(
            as_of
                .checked_sub_months(Months::new(MONTHS))
                .unwrap_or(as_of),
        );
    let mut dates = Vec::new();
    let mut d = NaiveDate::from_ymd_opt(first.year(), first.month(), 1).unwrap_or(first);
    while d < as_of {
        if d >= first {
            dates.push(d);
        }
        d = d.checked_add_months(Months::new(1)).unwrap_or(as_of);
    }
    dates.push(as_of);
    let series = dates
        .into_iter()
        .map(|d| {
            let (mut planned, mut realized) = (0.0, 0.0);
            for r in records {
                let then = r.as_of(d);
                for kr in &then.key_results {
                    let (Some(target), true) = (
                        kr.target.filter(|t| *t > 0.0),
                        kr.unit.as_deref().unwrap_or(NONE_KEY) == unit,
                    ) else {
                        continue;
                    };
                    let due = kr.due_date.unwrap_or(r.plan.end_date);
                    planned += target * elapsed_fraction(r.plan.start_date, due, d);
                    realized += kr.realized.filter(|v| v.is_finite()).unwrap_or(0.0);
                }
            }
            (d, planned, realized)
        })
        .collect();
    (unit, series)
}
