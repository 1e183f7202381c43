//! `/ui/partners/{id}`: the mutual success plan with progress bars, the peer benchmark
//! (you / your target / peers), similar partners, and the partner digest as it would be
//! sent.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::html;

use super::charts::{self, pct, BenchmarkBar};
use super::guard::FramedBySelf;
use super::layout::{self, Header};
use super::session::Viewer;
use super::PageError;
use crate::api::extract::path_id;
use crate::api::ApiError;
use crate::api::AppState;
use crate::digest::document::{days_left, pace_words};
use crate::digest::facts::{plan_facts, PlanFacts};
use crate::digest::locale::Locale;
use crate::digest::{Audience, DigestSource};
use crate::domain::PlanStatus;
use crate::model::pipeline::predict_record;
use crate::vector::Filter;

/// Similar partners listed.
const SIMILAR: usize = 6;

pub async fn page(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    // The page mixes store reads with predictions and the engine's synchronous search:
    // it is rendered on a blocking thread.
    crate::service::on_blocking_thread("the partner page", render(state, caller, id)).await?
}

async fn render(
    state: AppState,
    caller: crate::api::auth::Caller,
    id: String,
) -> Result<Response, PageError> {
    let tenant = caller.tenant.as_str();
    let id = path_id(&id, "partner_id")?;
    let as_of = state.as_of(None);
    let engine = state.service().engine(tenant).await?;
    let store = state.store();
    let partner = store
        .partner(tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("partner", id.as_str()))?;
    let model = engine.model();
    let plans: Vec<PlanFacts> = store
        .partner_plans(tenant, &id)
        .await?
        .iter()
        .filter(|r| r.plan.status == PlanStatus::Active)
        .map(|r| {
            let prediction = model.map(|m| predict_record(m, r, Some(&partner), as_of));
            plan_facts(r, as_of, prediction.as_ref())
        })
        .collect();
    let (benchmark, similar) = match engine.peers() {
        Some((peers, index)) => (
            peers.benchmark(index, tenant, id.as_str()).ok(),
            peers
                .similar(index, tenant, id.as_str(), SIMILAR, &Filter::default())
                .unwrap_or_default(),
        ),
        None => (None, Vec::new()),
    };
    let names: std::collections::HashMap<&str, Option<String>> = match engine.peers() {
        Some((peers, _)) => similar
            .iter()
            .map(|s| {
                (
                    s.partner_id.as_str(),
                    peers
                        .partner(s.partner_id.as_str())
                        .and_then(|p| p.name.clone()),
                )
            })
            .collect(),
        None => std::collections::HashMap::new(),
    };
    let l = Locale::default();
    let bars: Vec<BenchmarkBar> = benchmark
        .iter()
        .flat_map(|b| &b.rows)
        .map(|r| {
            let share = r.dimension == "mean_attainment";
            BenchmarkBar {
                label: r.dimension.trim_start_matches("score_").replace('_', " "),
                you: r.you,
                target: r.your_target,
                peers: r.peers_median,
                shown: if share {
                    |v| format!("{}%", pct(v))
                } else {
                    |v| Locale::default().number(v, 1)
                },
            }
        })
        .collect();
    let name = partner
        .name
        .clone()
        .unwrap_or_else(|| partner.partner_id.to_string());
    let header = Header { tenant, as_of };
    let body = html! {
        main {
            p { a href="/ui" { "← Overview" } }
            h1 { (name) }
            p class="muted" { "Partner " (partner.partner_id) " · " (plans.len()) @if plans.len() == 1 { " active plan" } @else { " active plans" } " · as of " (as_of) }
            div class="grid" {
                section class="card wide" aria-labelledby="msp-h" {
                    h2 id="msp-h" { "Mutual success plan" }
                    @if plans.is_empty() { p { "No active plan." } }
                    @for p in &plans {
                        h3 {
                            (p.name.clone().unwrap_or_else(|| p.plan_id.clone()))
                            " " span class={ "pill s-" (p.status.as_str()) } { (pace_words(p.status)) }
                        }
                        p class="muted" {
                            (p.start_date) " to " (p.end_date) " · " (days_left(p.days_left))
                            @if let Some(pr) = &p.prediction {
                                " · predicted " (pr.expected_percent) "% of target (" (pr.low_percent) "–" (pr.high_percent) "%), " (pr.p_hit_percent) "% chance to hit"
                            }
                        }
                        table {
                            thead { tr { th { "Objective / key result" } th class="num" { "Realized" } th class="num" { "Target" } th { "Progress" } th { "Status" } } }
                            tbody {
                                @for o in &p.objectives {
                                    @for kr in &o.key_results {
                                        tr data-kr-id=(kr.kr_id) {
                                            td { (o.objective.clone().unwrap_or_default()) @if o.objective.is_some() { " · " } (kr.metric.clone().unwrap_or_else(|| kr.kr_id.clone())) }
                                            td class="num" { (kr.realized.map_or_else(|| "—".to_owned(), |v| l.amount(v, kr.unit.as_deref()))) }
                                            td class="num" { (kr.target.map_or_else(|| "not set".to_owned(), |v| l.amount(v, kr.unit.as_deref()))) }
                                            td {
                                                @if let Some(pc) = kr.percent {
                                                    div class={ "bar " (kr.status.as_str()) } role="img" aria-label={ (pc) "% of target, " (kr.due_percent) "% due" } {
                                                        span style={ "width:" (pc.clamp(0, 100)) "%" } {}
                                                    }
                                                    span class="muted" { (pc) "% · " (kr.due_percent) "% due" }
                                                }
                                            }
                                            td { span class={ "pill s-" (kr.status.as_str()) } { (pace_words(kr.status)) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section class="card" aria-labelledby="bm-h" {
                    h2 id="bm-h" { "Benchmark" }
                    @if bars.is_empty() {
                        p { "No peer benchmark yet (no model or similar-partner index)." }
                    } @else {
                        (charts::benchmark(&bars))
                        @if let Some(b) = &benchmark {
                            p class="muted" { "Against the " (b.peers) " most similar partners; " (b.successful_peers) " of them hit their last plan. Your target is what those successful peers have." }
                        }
                    }
                }
                section class="card" aria-labelledby="sim-h" {
                    h2 id="sim-h" { "Similar partners" }
                    @if similar.is_empty() {
                        p { "No similar partners yet." }
                    } @else {
                        ul data-testid="similar" {
                            @for s in &similar {
                                li {
                                    a href={ "/ui/partners/" (s.partner_id) } { (names.get(s.partner_id.as_str()).cloned().flatten().unwrap_or_else(|| s.partner_id.to_string())) }
                                    " · " (s.partner_type.clone().unwrap_or_default()) ", " (s.tier.clone().unwrap_or_default()) ", " (s.region.clone().unwrap_or_default())
                                    " · similarity " (format!("{:.2}", s.score))
                                    @if let Some(a) = s.mean_attainment { " · mean attainment " (pct(a)) "%" }
                                }
                            }
                        }
                    }
                }
                section class="card wide" aria-labelledby="dg-h" {
                    h2 id="dg-h" { "Digest preview" }
                    iframe data-testid="digest-preview" src={ "/ui/partners/" (partner.partner_id) "/digest" } title={ "The partner digest of " (name) } {}
                }
            }
        }
    };
    Ok(layout::page(&name, Some(&header), body).into_response())
}

/// The partner digest as e-mail HTML, for the preview frame: the one answer the
/// dashboard's own pages may frame.
pub async fn digest(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = path_id(&id, "partner_id")?;
    let as_of = state.as_of(None);
    let d = state
        .digest(
            &caller.tenant,
            Audience::Partner,
            id.as_str(),
            as_of,
            None,
            "en",
        )
        .await?;
    Ok((Extension(FramedBySelf), Html(d.html)).into_response())
}
