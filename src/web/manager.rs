//! `/ui/managers/{id}`: a manager's partners, those needing attention first, each with
//! its plans (pace, predicted outcome) and the top next best actions with their reasons,
//! and buttons that record feedback the way `POST /v1/feedback` does.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::layout::{self, Header};
use super::session::{see_other, Viewer};
use super::PageError;
use crate::api::extract::path_id;
use crate::api::sync::record_feedback;
use crate::api::{ApiError, AppState};
use crate::digest::document::{days_left, pace_words};
use crate::digest::facts::{plan_facts, PlanFacts};
use crate::domain::PlanRecord;
use crate::model::pipeline::predict_record;
use crate::nba::attention::{attention_among, ManagerView};

/// Actions shown per plan.
const ACTIONS: usize = 3;

#[derive(Debug, Deserialize)]
pub struct Saved {
    pub response: Option<String>,
    pub label: Option<String>,
}

/// Feedback on a kind of action this recent counts as an answer: the action shows as
/// answered instead of asking again (the engine's own contact window).
const ANSWERED_DAYS: i64 = 30;

pub async fn page(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(id): Path<String>,
    Query(saved): Query<Saved>,
) -> Result<Response, PageError> {
    // The page mixes store reads with predictions and the engine's synchronous search:
    // it is rendered on a blocking thread.
    crate::service::on_blocking_thread("the manager page", render(state, caller, id, saved)).await?
}

async fn render(
    state: AppState,
    caller: crate::api::auth::Caller,
    id: String,
    saved: Saved,
) -> Result<Response, PageError> {
    let tenant = caller.tenant.as_str();
    let id = path_id(&id, "manager_id")?;
    let store = state.store();
    if !store.manager_exists(tenant, &id).await? {
        return Err(ApiError::not_found("manager", id.as_str()).into());
    }
    let as_of = state.as_of(None);
    let engine = state.service().engine(tenant).await?;
    let model = engine.model();
    let view = ManagerView::read(store, tenant, &id).await?;
    let listed = attention_among(
        store,
        model.map(AsRef::as_ref),
        tenant,
        &id,
        as_of,
        usize::MAX,
        &view,
    )
    .await?;
    let ManagerView {
        active,
        partners,
        feedback,
    } = view;
    let needs: HashMap<String, (f64, Vec<String>)> = listed
        .partners
        .into_iter()
        .map(|p| {
            (
                p.partner_id.to_string(),
                (p.score, p.reasons.into_iter().map(|r| r.text).collect()),
            )
        })
        .collect();
    let mut order: Vec<_> = partners.iter().collect();
    order.sort_by(|a, b| {
        let score =
            |p: &&crate::domain::Partner| needs.get(p.partner_id.as_str()).map_or(0.0, |n| n.0);
        score(b)
            .total_cmp(&score(a))
            .then_with(|| a.name.cmp(&b.name))
    });

    let mut answered_by_plan: HashMap<String, HashSet<String>> = HashMap::new();
    for f in feedback {
        // Answered kinds: recommendations are recomputed (with new ids) after every
        // write, so the kind is what survives.
        if (as_of - f.at.date_naive()).num_days() < ANSWERED_DAYS {
            answered_by_plan
                .entry(f.plan_id.to_string())
                .or_default()
                .insert(f.kind);
        }
    }
    let mut sections = Vec::new();
    for partner in order {
        let plans: Vec<&PlanRecord> = active
            .iter()
            .filter(|r| r.plan.partner_id == partner.partner_id)
            .collect();
        let mut rows = Vec::new();
        for record in plans {
            let prediction = model.map(|m| predict_record(m, record, Some(partner), as_of));
            let facts = plan_facts(record, as_of, prediction.as_ref());
            let body = state
                .service()
                .served_actions(tenant, &record.plan.plan_id, as_of, ACTIONS)
                .await?;
            let recs: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::internal("reading served actions", &e))?;
            let answered = answered_by_plan
                .get(record.plan.plan_id.as_str())
                .cloned()
                .unwrap_or_default();
            let actions: Vec<Value> = recs["actions"].as_array().cloned().unwrap_or_default();
            rows.push((facts, actions, answered));
        }
        let need = needs.get(partner.partner_id.as_str());
        sections.push(partner_section(partner, need, &rows, id.as_str()));
    }

    let header = Header { tenant, as_of };
    let body = html! {
        main {
            p { a href="/ui" { "← Overview" } }
            h1 { "Manager " (id) }
            p class="muted" { (partners.len()) " partners, " (needs.len()) " needing attention, as of " (as_of) ". Partners needing attention come first." }
            @if let Some(response) = &saved.response {
                p role="status" {
                    "Recorded " strong { (response) } " for "
                    (saved.label.clone().unwrap_or_else(|| "the action".to_owned())) "."
                }
            }
            @for s in &sections { (s) }
        }
    };
    Ok(layout::page(&format!("Manager {id}"), Some(&header), body).into_response())
}

fn partner_section(
    partner: &crate::domain::Partner,
    need: Option<&(f64, Vec<String>)>,
    rows: &[(PlanFacts, Vec<Value>, HashSet<String>)],
    manager: &str,
) -> Markup {
    let name = partner
        .name
        .clone()
        .unwrap_or_else(|| partner.partner_id.to_string());
    html! {
        section class="partner" data-testid="partner" data-partner-id=(partner.partner_id) {
            header {
                h2 { a href={ "/ui/partners/" (partner.partner_id) } { (name) } }
                span class="muted" {
                    (partner.tier.map(|t| t.as_str()).unwrap_or("no tier")) " · "
                    (partner.relationship_stage.map(|s| s.as_str()).unwrap_or("stage unknown"))
                }
            }
            @match need {
                Some((score, reasons)) => {
                    p { strong { "Needs attention" } " (score " (format!("{score:.1}")) ")" }
                    ul class="reasons" {
                        @for r in reasons.iter().take(3) { li { (r) } }
                        @if reasons.len() > 3 { li class="muted" { "and " (reasons.len() - 3) " more" } }
                    }
                }
                None => p class="muted" { "Nothing needs attention." },
            }
            @if rows.is_empty() {
                p class="muted" { "No active plan." }
            }
            @for (plan, actions, answered) in rows {
                (plan_block(plan, actions, answered, manager))
            }
        }
    }
}

fn plan_block(
    plan: &PlanFacts,
    actions: &[Value],
    answered: &HashSet<String>,
    manager: &str,
) -> Markup {
    let status = plan.status.as_str();
    html! {
        div class="plan" data-plan-id=(plan.plan_id) {
            h3 {
                (plan.name.clone().unwrap_or_else(|| plan.plan_id.clone()))
                " " span class={ "pill s-" (status) } { (pace_words(plan.status)) }
            }
            p class="muted" {
                (days_left(plan.days_left)) " · "
                @match plan.attainment_percent { Some(a) => { (a) "% of target so far" } None => "no targets set" }
                @if let Some(p) = &plan.prediction {
                    " · predicted " (p.expected_percent) "% (" (p.low_percent) "–" (p.high_percent) "%), " (p.p_hit_percent) "% chance to hit"
                }
            }
            div class={ "bar " (status) } role="presentation" { span style={ "width:" (plan.attainment_percent.unwrap_or(0).clamp(0, 100)) "%" } {} }
            @if actions.is_empty() {
                p class="muted" { "No action recommended." }
            } @else {
                ul class="actions" {
                    @for a in actions {
                        @let rid = a["recommendation_id"].as_str().unwrap_or_default();
                        @let kind = a["kind"].as_str().unwrap_or_default();
                        li data-testid="action" data-recommendation-id=(rid) data-plan-id=(plan.plan_id) data-kind=(kind) {
                            div {
                                strong { (a["label"].as_str().unwrap_or(kind)) }
                                " · " (a["responsible"].as_str().unwrap_or_default())
                                ", by " (a["due_date"].as_str().unwrap_or_default())
                                " · expected " (format!("{:+.1}", a["expected_effect"].as_f64().unwrap_or(0.0) * 100.0)) " points"
                                @if let Some(reasons) = a["explanation"]["reasons"].as_array() {
                                    @for r in reasons.iter().take(2) {
                                        p class="why" { (r.as_str().unwrap_or_default()) }
                                    }
                                }
                            }
                            @if answered.contains(kind) {
                                span class="pill s-complete" { "answered" }
                            } @else {
                                form class="buttons" method="post" action="/ui/feedback" {
                                    input type="hidden" name="recommendation_id" value=(rid);
                                    input type="hidden" name="plan_id" value=(plan.plan_id);
                                    input type="hidden" name="kind" value=(kind);
                                    input type="hidden" name="label" value=(a["label"].as_str().unwrap_or(kind));
                                    input type="hidden" name="back" value={ "/ui/managers/" (manager) };
                                    button type="submit" name="response" value="accepted" { "Accept" }
                                    button type="submit" name="response" value="dismissed" class="secondary" { "Dismiss" }
                                    button type="submit" name="response" value="completed" class="secondary" { "Done" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct FeedbackForm {
    pub recommendation_id: String,
    pub plan_id: String,
    pub kind: String,
    pub response: String,
    pub back: Option<String>,
    /// The action's label, to say what was recorded.
    pub label: Option<String>,
}

/// A button's feedback, stored like `POST /v1/feedback`, then back to the page.
pub async fn feedback(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Form(form): Form<FeedbackForm>,
) -> Result<Response, PageError> {
    let mut object = Map::new();
    object.insert(
        "recommendation_id".into(),
        Value::String(form.recommendation_id.clone()),
    );
    object.insert("plan_id".into(), Value::String(form.plan_id));
    object.insert("kind".into(), Value::String(form.kind.clone()));
    object.insert("response".into(), Value::String(form.response.clone()));
    record_feedback(&state, &caller, object).await?;
    let back = form
        .back
        .filter(|b| b.starts_with("/ui/managers/") && !b.contains("//") && !b.contains('?'))
        .unwrap_or_else(|| "/ui".to_owned());
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("saved", &form.recommendation_id)
        .append_pair("response", &form.response)
        .append_pair("label", form.label.as_deref().unwrap_or(&form.kind))
        .finish();
    Ok(see_other(&format!("{back}?{query}")))
}
