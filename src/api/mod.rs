//! The HTTP API: `/v1` on axum, bearer API keys bound to a tenant, problem+json errors,
//! request size, time and concurrency limits, request ids, Prometheus metrics, and an
//! OpenAPI document generated from the handlers.
//!
//! Handlers are thin: parse, call the store or the engine, map errors ([`error`]).
//! [`state::AppState`] holds what they share.

pub mod auth;
pub mod decisions;
pub mod digests;
pub mod docs;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod key_cache;
pub mod limits;
pub mod metrics;
pub mod models;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod portfolio;
pub mod server;
pub mod state;
pub mod subscriptions;
pub mod sync;

use axum::extract::DefaultBodyLimit;

use axum::routing::{get, post, put};
use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

pub use error::{ApiError, Problem};
use limits::LimitsLayer;
use observe::ObserveLayer;
pub use state::{AppState, ServeOptions};

async fn not_found() -> ApiError {
    ApiError::new(
        Problem::NotFound,
        "no such endpoint; the API is described at /openapi.json and /docs",
    )
}

/// A known path asked with a method it does not take: problem+json like every other
/// error (axum adds the `Allow` header with the methods it does take).
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Problem::MethodNotAllowed,
        "this path does not take that method; the Allow header lists the ones it takes",
    )
}

/// The `/v1` routes. Written out under `/v1` and merged rather than nested: `nest`
/// rewrites every request's URI to strip the prefix (docs/BENCHMARKS.md, HTTP load).
fn v1(state: &AppState) -> Router<AppState> {
    let options = state.options();
    Router::new()
        .route(
            "/v1/partners/{id}",
            put(sync::put_partner).get(sync::get_partner),
        )
        .route("/v1/partners", get(sync::list_partners))
        .route("/v1/plans/{id}", put(sync::put_plan).get(sync::get_plan))
        .route("/v1/plans", get(sync::list_plans))
        .route(
            "/v1/plans/{id}/activities",
            post(sync::post_activities).get(sync::list_activities),
        )
        .route(
            "/v1/feedback",
            post(sync::post_feedback).get(sync::list_feedback),
        )
        .route(
            "/v1/bulk/{entity}",
            post(sync::bulk).layer(DefaultBodyLimit::max(options.bulk_limit)),
        )
        .route(
            "/v1/plans/{id}/next-best-actions",
            get(decisions::next_best_actions),
        )
        .route("/v1/recommendations", post(decisions::stateless))
        .route("/v1/plans/{id}/prediction", get(decisions::prediction))
        .route("/v1/digests/{audience}/{id}", get(digests::digest))
        .route("/v1/plans/{id}/what-if", post(decisions::what_if))
        .route("/v1/partners/{id}/similar", get(decisions::similar))
        .route("/v1/partners/{id}/benchmark", get(decisions::benchmark))
        .route("/v1/partners/fit", post(decisions::fit))
        .route("/v1/forecast", get(portfolio::forecast))
        .route("/v1/managers/{id}/attention", get(portfolio::attention))
        .route("/v1/models/train", post(models::train))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{version}/activate", post(models::activate))
        .route("/v1/jobs/{id}", get(models::job))
        .route(
            "/v1/subscriptions",
            post(subscriptions::create_subscription).get(subscriptions::list_subscriptions),
        )
        .route(
            "/v1/subscriptions/{id}",
            get(subscriptions::get_subscription)
                .put(subscriptions::put_subscription)
                .delete(subscriptions::delete_subscription),
        )
        .route(
            "/v1/subscriptions/{id}/deliveries",
            get(subscriptions::list_deliveries),
        )
        .route(
            "/v1/subscriptions/{id}/send",
            post(subscriptions::send_digests),
        )
}

/// The whole application: `/v1`, operations, docs, with request ids, tracing, metrics
/// and panic safety around everything.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with more routes (the dashboard's pages) inside the same request ids,
/// tracing, metrics and panic safety. The API knows nothing of what they are.
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    let options = state.options();
    // One composed layer per group of routes: axum boxes each `layer` call around every
    // route and clones the chain per request.
    let api = v1(&state)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(ObserveLayer::new(state.clone()))
                .layer(LimitsLayer::new(state.limiter(), options.request_timeout))
                .layer(DefaultBodyLimit::max(options.body_limit)),
        );
    let rest = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(ops::docs))
        .merge(pages)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(ObserveLayer::new(state.clone()));
    api.merge(rest).with_state(state)
}

/// How often the store's write health is probed while writes succeed: a full disk is
/// noticed within this time even when no client writes.
const PROBE_WHILE_HEALTHY: std::time::Duration = std::time::Duration::from_secs(10);
/// ... and while they fail: how soon the service says it is ready again after a fault.
const PROBE_WHILE_FAULTY: std::time::Duration = std::time::Duration::from_secs(1);

/// `/metrics` without a key, for `--metrics-bind`'s own address (and `/healthz`, so a
/// scraper's target check has something to ask).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::open_metrics))
        .route("/healthz", get(ops::healthz))
        .fallback(not_found)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then stops accepting, finishes the requests in
/// flight, flushes the vector index and closes the store.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, state.clone(), router(state), shutdown).await
}

/// [`serve`] for an application built with [`router_with`].
pub async fn serve_app(
    listener: TcpListener,
    state: AppState,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store().clone();
    let probe = tokio::spawn(async move {
        store
            .watch_health(PROBE_WHILE_HEALTHY, PROBE_WHILE_FAULTY)
            .await;
    });
    server::run(listener, app, state.options().connections, shutdown).await;
    probe.abort();
    tracing::info!("stopped accepting; requests in flight are finished");
    state.service().close().await;
    state.store().close().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C, for [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
