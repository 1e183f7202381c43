//! Portfolio: the forecast of every active plan rolled up by region, tier, partner type,
//! manager or template, and the partners a manager should look at first.

use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, ProblemBody};
use super::extract::{bounded, path_id, Query};
use super::state::AppState;
use crate::nba::attention;
use crate::nba::portfolio::{self, GroupBy};
use crate::service;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ForecastQuery {
    /// region, tier, partner_type, manager or template (default region).
    pub group_by: Option<String>,
    /// YYYY-MM-DD; default today (or the server's `--as-of`).
    #[param(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
}

/// Expected attainment and target value with 80% intervals, and the count at risk, per
/// group of active plans, with a total.
#[utoipa::path(get, path = "/v1/forecast", tag = "portfolio", params(ForecastQuery),
    responses(
        (status = 200, description = "The forecast per group and in total", body = portfolio::Forecast),
        (status = 409, description = "No model yet", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid group_by", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn forecast(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ForecastQuery>,
) -> Result<Json<portfolio::Forecast>, ApiError> {
    let raw = q.group_by.as_deref().unwrap_or("region");
    let group_by = GroupBy::parse(raw).map_err(|_| {
        ApiError::validation(
            "group_by",
            format!(
                "group_by must be region, tier, partner_type, manager or template, not `{raw}`"
            ),
        )
    })?;
    let as_of = state.as_of(q.as_of);
    let engine = state.service().engine(&caller.tenant).await?;
    let model = engine
        .model()
        .cloned()
        .ok_or_else(|| ApiError::no_model(&caller.tenant))?;
    // Predicts every active plan: CPU work for a blocking thread.
    let (store, tenant) = (state.store().clone(), caller.tenant.clone());
    let forecast = service::on_blocking_thread("a forecast", async move {
        portfolio::forecast(&store, &model, &tenant, as_of, group_by).await
    })
    .await??;
    Ok(Json(forecast))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AttentionQuery {
    /// At most this many partners, 1..=500 (default 20).
    pub limit: Option<usize>,
    #[param(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
}

/// The manager's partners that need attention, most urgent first, each with its reasons
/// (plans predicted to miss, key results behind pace, silence, plans ending with a gap).
#[utoipa::path(get, path = "/v1/managers/{id}/attention", tag = "portfolio",
    params(("id" = String, Path, description = "manager_id"), AttentionQuery),
    responses(
        (status = 200, description = "Partners needing attention", body = attention::Attention),
        (status = 404, description = "No partner or plan has this manager", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn attention(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AttentionQuery>,
) -> Result<Json<attention::Attention>, ApiError> {
    let id = path_id(&id, "manager_id")?;
    let limit = bounded("limit", q.limit, 20, 500)?;
    if !state.store().manager_exists(&caller.tenant, &id).await? {
        return Err(ApiError::not_found("manager", id.as_str()));
    }
    let as_of = state.as_of(q.as_of);
    let engine = state.service().engine(&caller.tenant).await?;
    let (store, tenant) = (state.store().clone(), caller.tenant.clone());
    let found = service::on_blocking_thread("an attention list", async move {
        attention::attention(
            &store,
            engine.model().map(AsRef::as_ref),
            &tenant,
            &id,
            as_of,
            limit,
        )
        .await
    })
    .await??;
    Ok(Json(found))
}
