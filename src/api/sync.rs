//! Sync: upserts of partners, plans (with key results), activities and feedback, bulk
//! NDJSON loads, and the reads that go with them. Every write goes through the importer's
//! validation (`import::sync_records`), so a request and a file are held to one contract,
//! and is one transaction: acknowledged means stored.

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;

use super::auth::{Caller, Scope};
use super::docs::{ActivityDoc, FeedbackDoc, Page, PartnerDoc, PlanDoc, Written};
use super::error::{ApiError, Problem, ProblemBody};
use super::extract::{body_bytes, bounded, ndjson, path_id, JsonBody, Query};
use super::state::AppState;
use crate::domain::PlanStatus;
use crate::import::{self, ImportOptions};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Cursor pagination: `limit` rows after `cursor` (the last id of the previous page).
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<usize>,
}

fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    bounded("limit", limit, DEFAULT_LIMIT, MAX_LIMIT)
}

/// A page from `limit + 1` rows: the extra one only says there is more.
fn page<T: serde::Serialize>(
    mut rows: Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> String,
) -> Result<Page, ApiError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(&id) } else { None };
    let items = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal("serialising a page", &e))?;
    Ok(Page { items, next_cursor })
}

fn to_values<T: serde::Serialize>(rows: &[T]) -> Result<Vec<Value>, ApiError> {
    rows.iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal("serialising the stored objects", &e))
}

/// Puts the path's id into the body; a body naming another id is refused.
fn with_path_id(
    mut object: Map<String, Value>,
    key: &str,
    id: &str,
) -> Result<Map<String, Value>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => {
            object.insert(key.to_owned(), Value::String(id.to_owned()));
            Ok(object)
        }
        Some(Value::String(given)) if given == id => Ok(object),
        Some(other) => Err(ApiError::validation(
            key,
            format!("{key} in the body ({other}) differs from the path (`{id}`)"),
        )),
    }
}

fn written(outcome: &import::SyncOutcome) -> BTreeMap<String, usize> {
    outcome
        .rows
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect()
}

async fn sync(
    state: &AppState,
    caller: &Caller,
    entity: &str,
    label: &str,
    body: &[u8],
) -> Result<import::SyncOutcome, ApiError> {
    caller.require(Scope::Write)?;
    let known = state
        .service()
        .known_ids(&caller.tenant, entity, body)
        .await;
    let outcome = import::sync_records(
        state.store(),
        &caller.tenant,
        entity,
        label,
        body,
        &ImportOptions::default(),
        known,
    )
    .await?;
    state
        .service()
        .written(&caller.tenant, &outcome.dataset, outcome.observed)
        .await;
    // Per write, so at debug: a platform syncing all day would fill the log at info; the
    // metrics count every write by route and status.
    tracing::debug!(tenant = %caller.tenant, entity, rows = ?written(&outcome), "synced");
    Ok(outcome)
}

/// Creates or replaces a partner.
#[utoipa::path(put, path = "/v1/partners/{id}", tag = "sync",
    params(("id" = String, Path, description = "partner_id")),
    request_body = PartnerDoc,
    responses(
        (status = 200, description = "The stored partner", body = PartnerDoc),
        (status = 422, description = "Invalid field", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_partner(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(object): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id, "partner_id")?;
    let object = with_path_id(object, "partner_id", id.as_str())?;
    sync(&state, &caller, "partners", "body", &ndjson(&[object])?).await?;
    let stored = state
        .store()
        .partner(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("partner", id.as_str()))?;
    Ok(Json(to_values(&[stored])?.remove(0)))
}

/// One partner.
#[utoipa::path(get, path = "/v1/partners/{id}", tag = "sync",
    params(("id" = String, Path, description = "partner_id")),
    responses(
        (status = 200, description = "The partner", body = PartnerDoc),
        (status = 404, description = "No such partner", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_partner(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id, "partner_id")?;
    let partner = state
        .store()
        .partner(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("partner", id.as_str()))?;
    Ok(Json(to_values(&[partner])?.remove(0)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PartnerList {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    /// Only the partners of this manager.
    pub manager_id: Option<String>,
}

/// Partners, by id, a page at a time.
#[utoipa::path(get, path = "/v1/partners", tag = "sync", params(PartnerList),
    responses((status = 200, description = "A page of partners", body = Page)),
    security(("bearer" = [])))]
pub async fn list_partners(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PartnerList>,
) -> Result<Json<Page>, ApiError> {
    let limit = page_limit(q.limit)?;
    let rows = state
        .store()
        .partners_page(
            &caller.tenant,
            q.cursor.as_deref(),
            limit + 1,
            q.manager_id.as_deref(),
        )
        .await?;
    Ok(Json(page(rows, limit, |p| p.partner_id.to_string())?))
}

async fn plan_json(
    state: &AppState,
    tenant: &str,
    id: &crate::domain::Id,
) -> Result<Value, ApiError> {
    let plan = state
        .store()
        .plan_row(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("plan", id.as_str()))?;
    let key_results = state.store().key_results_of(tenant, id.as_str()).await?;
    let mut value =
        serde_json::to_value(&plan).map_err(|e| ApiError::internal("serialising a plan", &e))?;
    if let Value::Object(object) = &mut value {
        object.insert("key_results".into(), Value::Array(to_values(&key_results)?));
    }
    Ok(value)
}

/// Creates or replaces a plan; `key_results`, when given, become its complete set.
#[utoipa::path(put, path = "/v1/plans/{id}", tag = "sync",
    params(("id" = String, Path, description = "plan_id")),
    request_body = PlanDoc,
    responses(
        (status = 200, description = "The stored plan with its key results", body = PlanDoc),
        (status = 409, description = "A key result that belongs to another plan", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field, or unknown partner", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(object): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id, "plan_id")?;
    let object = with_path_id(object, "plan_id", id.as_str())?;
    sync(&state, &caller, "plans", "body", &ndjson(&[object])?).await?;
    Ok(Json(plan_json(&state, &caller.tenant, &id).await?))
}

/// One plan with its key results.
#[utoipa::path(get, path = "/v1/plans/{id}", tag = "sync",
    params(("id" = String, Path, description = "plan_id")),
    responses(
        (status = 200, description = "The plan", body = PlanDoc),
        (status = 404, description = "No such plan", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id, "plan_id")?;
    Ok(Json(plan_json(&state, &caller.tenant, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PlanList {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    pub partner_id: Option<String>,
    /// draft, active, closed, cancelled
    pub status: Option<String>,
}

/// Plans, by id, a page at a time.
#[utoipa::path(get, path = "/v1/plans", tag = "sync", params(PlanList),
    responses(
        (status = 200, description = "A page of plans", body = Page),
        (status = 422, description = "Invalid parameter", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_plans(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PlanList>,
) -> Result<Json<Page>, ApiError> {
    let limit = page_limit(q.limit)?;
    let status = q
        .status
        .as_deref()
        .map(PlanStatus::parse)
        .transpose()
        .map_err(|e| ApiError::validation("status", e.to_string()))?;
    let rows = state
        .store()
        .plans_page(
            &caller.tenant,
            q.cursor.as_deref(),
            limit + 1,
            q.partner_id.as_deref(),
            status,
        )
        .await?;
    Ok(Json(page(rows, limit, |p| p.plan_id.to_string())?))
}

/// Records activities of a plan: one object or an array. Without `activity_id`, an
/// activity's id is derived from (plan, kind, date, n), so re-sending the same body
/// changes nothing; give ids to record two of one kind on one day.
#[utoipa::path(post, path = "/v1/plans/{id}/activities", tag = "sync",
    params(("id" = String, Path, description = "plan_id")),
    request_body = ActivityDoc,
    responses(
        (status = 201, description = "The stored activities", body = Written),
        (status = 404, description = "No such plan", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn post_activities(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "plan_id")?;
    caller.require(Scope::Write)?;
    if !state.service().plan_exists(&caller.tenant, &id).await? {
        return Err(ApiError::not_found("plan", id.as_str()));
    }
    let objects = match body {
        Value::Object(o) => vec![o],
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(o) => Ok(o),
                _ => Err(ApiError::validation(
                    &format!("[{i}]"),
                    "each activity must be a JSON object",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::new(
                Problem::Validation,
                "the body must be an activity object or an array of them",
            ))
        }
    };
    let objects = objects
        .into_iter()
        .map(|o| with_path_id(o, "plan_id", id.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = sync(&state, &caller, "activities", "body", &ndjson(&objects)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(Written {
            written: written(&outcome),
            custom_kinds: outcome.custom_kinds.clone(),
            items: to_values(&outcome.dataset.activities)?,
        }),
    ))
}

/// A plan's activities, by id, a page at a time.
#[utoipa::path(get, path = "/v1/plans/{id}/activities", tag = "sync",
    params(("id" = String, Path, description = "plan_id"), PageQuery),
    responses(
        (status = 200, description = "A page of activities", body = Page),
        (status = 404, description = "No such plan", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_activities(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page>, ApiError> {
    let id = path_id(&id, "plan_id")?;
    let limit = page_limit(q.limit)?;
    if !state.store().plan_exists(&caller.tenant, &id).await? {
        return Err(ApiError::not_found("plan", id.as_str()));
    }
    let rows = state
        .store()
        .activities_page(&caller.tenant, id.as_str(), q.cursor.as_deref(), limit + 1)
        .await?;
    Ok(Json(page(rows, limit, |a| a.activity_id.to_string())?))
}

/// Records what a user did with a recommendation (accepted, dismissed, done, snoozed).
/// Dismissed kinds are not recommended again for the plan for 30 days. Without `at`, the
/// server's clock is used (a server run with `--as-of` answers as of that day).
#[utoipa::path(post, path = "/v1/feedback", tag = "sync",
    request_body = FeedbackDoc,
    responses(
        (status = 201, description = "The stored feedback", body = Written),
        (status = 422, description = "Invalid field, or unknown plan", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn post_feedback(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(object): JsonBody<Map<String, Value>>,
) -> Result<impl IntoResponse, ApiError> {
    let outcome = record_feedback(&state, &caller, object).await?;
    Ok((
        StatusCode::CREATED,
        Json(Written {
            written: written(&outcome),
            custom_kinds: Vec::new(),
            items: to_values(&outcome.dataset.feedback)?,
        }),
    ))
}

/// Stores one feedback object (DATA_FORMAT.md fields) through the importer's checks,
/// stamped with the server's clock when it has no `at`: the API and the dashboard's
/// buttons record feedback the same way.
///
/// # Errors
/// A rejection naming the field, an unknown plan, a key without write scope.
pub async fn record_feedback(
    state: &AppState,
    caller: &Caller,
    mut object: Map<String, Value>,
) -> Result<import::SyncOutcome, ApiError> {
    if object.get("at").is_none_or(Value::is_null) {
        object.insert("at".into(), Value::String(state.now().to_rfc3339()));
    }
    sync(state, caller, "feedback", "body", &ndjson(&[object])?).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedbackList {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    pub plan_id: Option<String>,
}

/// Feedback, a page at a time.
#[utoipa::path(get, path = "/v1/feedback", tag = "sync", params(FeedbackList),
    responses((status = 200, description = "A page of feedback", body = Page)),
    security(("bearer" = [])))]
pub async fn list_feedback(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<FeedbackList>,
) -> Result<Json<Page>, ApiError> {
    let limit = page_limit(q.limit)?;
    let rows = state
        .store()
        .feedback_page(
            &caller.tenant,
            q.plan_id.as_deref(),
            q.cursor.as_deref(),
            limit + 1,
        )
        .await?;
    Ok(Json(page(
        rows,
        limit,
        crate::store::Store::feedback_cursor,
    )?))
}

/// Loads NDJSON of one entity (`partners`, `plans`, `key_results`, `kr_progress`,
/// `actions`, `activities`, `feedback`) in one transaction: all lines or, at the first
/// invalid one (named by line and field), none. For initial loads and nightly syncs.
#[utoipa::path(post, path = "/v1/bulk/{entity}", tag = "sync",
    params(("entity" = String, Path, description = "partners, plans, key_results, kr_progress, actions, activities or feedback")),
    request_body(content = String, content_type = "application/x-ndjson", description = "One JSON object per line"),
    responses(
        (status = 200, description = "Rows written", body = Written),
        (status = 404, description = "No such entity", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A key result that belongs to another plan", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "An invalid line", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    request: Request,
) -> Result<Json<Written>, ApiError> {
    if !import::ENTITIES.contains(&entity.as_str()) {
        return Err(ApiError::new(
            Problem::NotFound,
            format!(
                "`{entity}` is not an entity; use one of {}",
                import::ENTITIES.join(", ")
            ),
        ));
    }
    caller.require(Scope::Write)?;
    let body = body_bytes(request, &state).await?;
    let label = format!("bulk/{entity}");
    let outcome = sync(&state, &caller, &entity, &label, &body).await?;
    Ok(Json(Written {
        written: written(&outcome),
        custom_kinds: outcome.custom_kinds.clone(),
        items: Vec::new(),
    }))
}
