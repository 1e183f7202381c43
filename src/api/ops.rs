//! Operations: liveness, readiness, Prometheus metrics, the OpenAPI document and a docs
//! page. None of these but the metrics need a key, and none are behind the concurrency limit, so an
//! overloaded server still answers its orchestrator.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Caller, Scope};
use super::error::ApiError;
use super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.uptime().as_secs(),
    })
}

/// Readiness: the store answers a query and takes writes. A write that failed on a
/// storage fault (or the periodic probe write) makes this answer 503 until a write
/// succeeds again, so a load balancer sends traffic elsewhere while the disk is full.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The store does not answer or cannot take writes", body = super::error::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store().ping().await.map_err(|e| {
        tracing::warn!(error = %crate::report::Report(&e), "not ready");
        ApiError::storage_unavailable("the store does not answer")
    })?;
    if let Some(fault) = state.store().fault() {
        return Err(ApiError::storage_unavailable(format!(
            "the store cannot take writes since {} (the server log has the cause); \
             reads may still be answered",
            fault
                .since
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    Ok(Json(Health {
        status: "ready",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.uptime().as_secs(),
    }))
}

/// Prometheus text exposition, for an admin key: it names every tenant of the server
/// with its model version and index size. `--metrics-bind` serves it without a key on
/// an address of its own (loopback, for a local scraper).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Metrics (OpenMetrics text)", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "No valid key", body = super::error::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = super::error::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Scope::Admin)?;
    open_metrics(State(state)).await
}

/// [`metrics`] without a key: only on the `--metrics-bind` address.
pub async fn open_metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    // The index size is asked of the index: a blocking call.
    let rendered = crate::service::blocking("rendering the metrics", move || {
        let index = state.service().open_index();
        state.metrics().render(index.as_deref())
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        rendered,
    ))
}

/// A readable page of the API, rendered in the browser from `/openapi.json`.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
