//! Decisions: next best actions (stored plan, or a plan snapshot in the body), the
//! predicted outcome, similar partners, peer benchmarks, prospect fit and what-if.
//! Handlers parse, call the engine, and map errors; the engine does the work.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::docs::{ActivityDoc, PartnerDoc, PlanDoc};
use super::error::{ApiError, Problem, ProblemBody};
use super::extract::{bounded, ndjson, path_id, JsonBody, Query};
use super::state::AppState;
use crate::domain::{KnownIds, PlanRecord, PlanStatus};
use crate::import::{self, ImportOptions};
use crate::model::pipeline;
use crate::nba::{self, context, PlanContext, PlannedAction};
use crate::service::{self, ServiceError};
use crate::vector::Filter;

/// Actions per answer unless `k` says otherwise.
const DEFAULT_K: usize = 5;

fn check_k(k: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    bounded("k", k, default, max)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NbaQuery {
    /// How many actions, 1 up to the number of actions in the tenant's catalog (34
    /// built-in kinds plus its own and observed ones); default 5.
    pub k: Option<usize>,
    /// Decide as of this date (YYYY-MM-DD); default today (or the server's `--as-of`).
    #[param(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
}

/// The ranked next best actions of an active or draft plan, each with its reasons and
/// expected effect; every action is logged with a `recommendation_id` for feedback. Asked
/// again before the tenant's data changes, the same answer (with the same ids) comes
/// from memory.
#[utoipa::path(get, path = "/v1/plans/{id}/next-best-actions", tag = "decisions",
    params(("id" = String, Path, description = "plan_id"), NbaQuery),
    responses(
        (status = 200, description = "Ranked actions with reasons", body = nba::Recommendations),
        (status = 404, description = "No such plan", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The plan is closed or cancelled", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn next_best_actions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<NbaQuery>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "plan_id")?;
    let k = q.k.unwrap_or(DEFAULT_K);
    let as_of = state.as_of(q.as_of);
    let body = state
        .service()
        .served_actions(&caller.tenant, &id, as_of, k)
        .await?;
    Ok(json_bytes(body))
}

fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A plan snapshot for stateless recommendations.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Snapshot {
    /// The plan, with its key results.
    #[schema(value_type = PlanDoc)]
    pub plan: Map<String, Value>,
    /// The partner; when absent, the stored partner of `plan.partner_id` if there is one.
    #[schema(value_type = Option<PartnerDoc>)]
    pub partner: Option<Map<String, Value>>,
    /// The plan's activities so far (and planned ones).
    #[serde(default)]
    #[schema(value_type = Vec<ActivityDoc>)]
    pub activities: Vec<Map<String, Value>>,
    #[schema(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
    /// How many actions, 1 up to the number of actions in the tenant's catalog; default 5.
    pub k: Option<usize>,
}

/// A rejection inside the snapshot, with the part it came from as the field prefix.
fn within(part: &str, e: import::ImportError) -> ApiError {
    let mut err = ApiError::from(e);
    if let Some(field) = err.field.take() {
        err.field = Some(format!("{part}.{field}"));
    }
    err
}

/// Next best actions for a plan given in the body: nothing is read about the plan from
/// the store and nothing is stored (no recommendation ids). For platforms that keep plans
/// themselves, and for "what would it say if...".
#[utoipa::path(post, path = "/v1/recommendations", tag = "decisions",
    request_body = Snapshot,
    responses(
        (status = 200, description = "Ranked actions with reasons", body = nba::Recommendations),
        (status = 422, description = "Invalid snapshot", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn stateless(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(snapshot): JsonBody<Snapshot>,
) -> Result<Json<nba::Recommendations>, ApiError> {
    let as_of = state.as_of(snapshot.as_of);
    let engine = state.service().engine(&caller.tenant).await?;
    let k = service::check_k(snapshot.k.unwrap_or(DEFAULT_K), &engine)?;
    let options = ImportOptions::default();
    let mut known = KnownIds {
        catalog: Arc::clone(engine.catalog()),
        ..KnownIds::default()
    };
    let partner = match &snapshot.partner {
        Some(p) => {
            let read = import::read_records("partners", "partner", &ndjson([p])?, &options, &known)
                .map_err(|e| within("partner", e))?;
            read.dataset.partners.into_iter().next()
        }
        None => None,
    };
    let partner_id = snapshot
        .plan
        .get("partner_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("plan.partner_id", "plan.partner_id is required"))?
        .to_owned();
    known.partners.insert(partner_id.clone());
    let read = import::read_records(
        "plans",
        "plan",
        &ndjson([&snapshot.plan])?,
        &options,
        &known,
    )
    .map_err(|e| within("plan", e))?;
    let plan = read
        .dataset
        .plans
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::validation("plan", "the plan is missing"))?;
    if !plan.status.is_open() {
        return Err(ApiError::new(
            Problem::PlanNotOpen,
            format!(
                "the plan is {}; next best actions are for active and draft plans",
                plan.status.as_str()
            ),
        )
        .with_field("plan.status"));
    }
    let key_results = read.dataset.key_results;
    known.plans.insert(plan.plan_id.to_string());
    known.key_results.extend(
        key_results
            .iter()
            .map(|k| (k.kr_id.to_string(), k.plan_id.to_string())),
    );
    let activity_refs: Vec<&Map<String, Value>> = snapshot.activities.iter().collect();
    let mut activities = if activity_refs.is_empty() {
        Vec::new()
    } else {
        let mut objects = Vec::with_capacity(activity_refs.len());
        for o in activity_refs {
            let mut o = o.clone();
            o.entry("plan_id")
                .or_insert_with(|| Value::String(plan.plan_id.to_string()));
            objects.push(o);
        }
        let refs: Vec<&Map<String, Value>> = objects.iter().collect();
        import::read_records("activities", "activities", &ndjson(refs)?, &options, &known)
            .map_err(|e| within("activities", e))?
            .dataset
            .activities
    };
    activities.sort_by_key(|a| a.date);
    let partner = match partner {
        Some(p) => Some(p),
        None => match crate::domain::Id::parse(&partner_id) {
            Ok(id) => state.store().partner(&caller.tenant, &id).await?,
            Err(_) => None,
        },
    };
    let record = PlanRecord {
        plan,
        key_results,
        progress: Vec::new(),
        activities,
    };
    let ctx = PlanContext::new(record, partner, as_of);
    Ok(Json(service::recommend(engine, ctx, k).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AsOfQuery {
    /// YYYY-MM-DD; default today (or the server's `--as-of`).
    #[param(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
}

/// The predicted outcome of an active plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanPrediction {
    pub plan_id: String,
    #[schema(value_type = String)]
    pub as_of: NaiveDate,
    pub model_version: Option<String>,
    /// Probability the plan reaches its targets (attainment >= 1).
    pub p_hit: f64,
    /// Expected final attainment (1 = on target; capped at 2).
    pub expected_attainment: f64,
    /// 80% interval of the final attainment.
    pub interval_low: f64,
    pub interval_high: f64,
}

/// How an active plan is predicted to end: P(hit) and expected attainment with an 80%
/// interval, from the tenant's active model.
#[utoipa::path(get, path = "/v1/plans/{id}/prediction", tag = "decisions",
    params(("id" = String, Path, description = "plan_id"), AsOfQuery),
    responses(
        (status = 200, description = "The prediction", body = PlanPrediction),
        (status = 404, description = "No such plan", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Not active, or no model yet", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn prediction(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AsOfQuery>,
) -> Result<Json<PlanPrediction>, ApiError> {
    let id = path_id(&id, "plan_id")?;
    let as_of = state.as_of(q.as_of);
    // One read of the plan serves the status check and the prediction.
    let record = state
        .store()
        .plan(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("plan", id.as_str()))?;
    if record.plan.status != PlanStatus::Active {
        return Err(ApiError::new(
            Problem::PlanNotOpen,
            format!(
                "plan `{id}` is {}; predictions are for active plans",
                record.plan.status.as_str()
            ),
        ));
    }
    let engine = state.service().engine(&caller.tenant).await?;
    let model = engine
        .model()
        .cloned()
        .ok_or_else(|| ApiError::no_model(&caller.tenant))?;
    let partner = state
        .store()
        .partner(&caller.tenant, &record.plan.partner_id)
        .await?;
    let p = service::blocking("a prediction", move || {
        pipeline::predict_record(&model, &record, partner.as_ref(), as_of)
    })
    .await?;
    Ok(Json(PlanPrediction {
        plan_id: id.to_string(),
        as_of,
        model_version: engine.model_version().map(str::to_owned),
        p_hit: p.p_hit,
        expected_attainment: p.expected_attainment,
        interval_low: p.interval_low,
        interval_high: p.interval_high,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SimilarQuery {
    /// How many, 1..=100 (default 10).
    pub k: Option<usize>,
    pub region: Option<String>,
    pub tier: Option<String>,
    pub partner_type: Option<String>,
}

/// The partners most similar to this one (cosine over profile vectors), optionally
/// within a region, tier or partner type, with their outcomes.
#[utoipa::path(get, path = "/v1/partners/{id}/similar", tag = "decisions",
    params(("id" = String, Path, description = "partner_id"), SimilarQuery),
    responses(
        (status = 200, description = "Similar partners, most similar first", body = Vec<crate::nba::peers::SimilarPartner>),
        (status = 404, description = "No such partner", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "No model yet", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn similar(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<SimilarQuery>,
) -> Result<Json<Vec<crate::nba::peers::SimilarPartner>>, ApiError> {
    let id = path_id(&id, "partner_id")?;
    let k = check_k(q.k, 10, 100)?;
    let engine = state.service().engine(&caller.tenant).await?;
    let filter = Filter {
        partner_type: q.partner_type,
        region: q.region,
        tier: q.tier,
    };
    Ok(Json(service::similar(engine, id, k, filter).await?))
}

/// The partner against its most similar peers: 6Cs, NPS, trust, attainment and activity,
/// with percentiles and the peers' successful targets.
#[utoipa::path(get, path = "/v1/partners/{id}/benchmark", tag = "decisions",
    params(("id" = String, Path, description = "partner_id")),
    responses(
        (status = 200, description = "The benchmark", body = crate::nba::peers::Benchmark),
        (status = 404, description = "No such partner", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "No model yet", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn benchmark(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<crate::nba::peers::Benchmark>, ApiError> {
    let id = path_id(&id, "partner_id")?;
    let engine = state.service().engine(&caller.tenant).await?;
    Ok(Json(service::benchmark(engine, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FitRequest {
    /// The prospect's profile (DATA_FORMAT.md partner fields; `partner_id` optional).
    #[schema(value_type = PartnerDoc)]
    pub partner: Map<String, Value>,
    /// How many similar partners to base the fit on, 1..=100 (default 20).
    pub k: Option<usize>,
}

/// How well a prospect fits: its most similar existing partners and how they did.
#[utoipa::path(post, path = "/v1/partners/fit", tag = "decisions",
    request_body = FitRequest,
    responses(
        (status = 200, description = "Fit score with the partners it rests on", body = crate::nba::peers::Fit),
        (status = 409, description = "No model yet", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid profile", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn fit(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<FitRequest>,
) -> Result<Json<crate::nba::peers::Fit>, ApiError> {
    let k = check_k(request.k, 20, 100)?;
    let mut object = request.partner;
    object
        .entry("partner_id")
        .or_insert_with(|| Value::String("prospect".into()));
    let engine = state.service().engine(&caller.tenant).await?;
    let known = KnownIds {
        catalog: Arc::clone(engine.catalog()),
        ..KnownIds::default()
    };
    let prospect = import::read_records(
        "partners",
        "partner",
        &ndjson([&object])?,
        &ImportOptions::default(),
        &known,
    )
    .map_err(|e| within("partner", e))?
    .dataset
    .partners
    .into_iter()
    .next()
    .ok_or_else(|| ApiError::validation("partner", "the partner is missing"))?;
    Ok(Json(service::fit(engine, prospect, k).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WhatIfRequest {
    /// Activities the plan would add now, e.g. `[{"kind": "joint_webinar", "quantity": 2}]`:
    /// 1 to 100 entries, each quantity in (0, 1000], at most 1000 units in all.
    pub add: Vec<PlannedAction>,
    #[schema(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
}

/// The predicted outcome before and after planned activities.
#[utoipa::path(post, path = "/v1/plans/{id}/what-if", tag = "decisions",
    params(("id" = String, Path, description = "plan_id")),
    request_body = WhatIfRequest,
    responses(
        (status = 200, description = "Before and after", body = nba::WhatIf),
        (status = 404, description = "No such plan", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Plan not open, or no model yet", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid activities", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn what_if(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<WhatIfRequest>,
) -> Result<Json<nba::WhatIf>, ApiError> {
    let id = path_id(&id, "plan_id")?;
    // Refused before the plan is read: a bound on the work, not only on the answer.
    nba::engine::check_what_if(&request.add).map_err(what_if_error)?;
    let as_of = state.as_of(request.as_of);
    let engine = state.service().engine(&caller.tenant).await?;
    let ctx = context::load(state.store(), &caller.tenant, &id, as_of).await?;
    match service::what_if(engine, ctx, request.add).await {
        Err(ServiceError::Engine(e)) => Err(what_if_error(e)),
        answered => Ok(Json(answered?)),
    }
}

fn what_if_error(e: nba::NbaError) -> ApiError {
    match e {
        nba::NbaError::InvalidWhatIf(why) => ApiError::validation("add", why),
        other => other.into(),
    }
}
