//! The HTTP API: `/v1` on axum, bearer API keys bound to a tenant, problem+json errors,
//! request size, time and concurrency limits, request ids, Prometheus metrics, and an
//! OpenAPI document generated from the handlers.
//!
//! Handlers are thin: parse, call the store or the engine, map errors ([`error`]).
//! [`state::AppState`] holds what they share.

pub mod auth;
pub mod cache;
pub mod decisions;
pub mod digests;
pub mod docs;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod ops;
pub mod portfolio;
pub mod reclog;
pub mod state;
pub mod subscriptions;
pub mod sync;

use axum::extract::DefaultBodyLimit;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{middleware, Router};
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{ApiError, Problem};
pub use state::{AppState, ServeOptions};

/// The concurrency limit and the request timeout of `/v1`: a request that finds every
/// permit taken is answered 503 at once (with Retry-After) rather than queued, and one
/// that runs past the timeout is answered 504 and dropped.
async fn limits(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let Ok(_permit) = state.limiter().try_acquire_owned() else {
        let mut err = ApiError::new(
            Problem::Overloaded,
            "the server is answering as many requests as it is configured for; retry shortly",
        );
        err.retry_after = Some(1);
        return err.into_response();
    };
    match tokio::time::timeout(state.options().request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            Problem::Timeout,
            "the request took longer than the server's limit (`--request-timeout`)",
        )
        .into_response(),
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(
        request_id = %metrics::current_request_id(),
        "a handler panicked; answered 500"
    );
    ApiError::new(
        Problem::Internal,
        "the request failed unexpectedly; the server log has the cause",
    )
    .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        Problem::NotFound,
        "no such endpoint; the API is described at /openapi.json and /docs",
    )
}

/// The `/v1` routes, behind the concurrency limit and the request timeout.
fn v1(state: &AppState) -> Router<AppState> {
    let options = state.options();
    Router::new()
        .route(
            "/partners/{id}",
            put(sync::put_partner).get(sync::get_partner),
        )
        .route("/partners", get(sync::list_partners))
        .route("/plans/{id}", put(sync::put_plan).get(sync::get_plan))
        .route("/plans", get(sync::list_plans))
        .route(
            "/plans/{id}/activities",
            post(sync::post_activities).get(sync::list_activities),
        )
        .route(
            "/feedback",
            post(sync::post_feedback).get(sync::list_feedback),
        )
        .route(
            "/bulk/{entity}",
            post(sync::bulk).layer(DefaultBodyLimit::max(options.bulk_limit)),
        )
        .route(
            "/plans/{id}/next-best-actions",
            get(decisions::next_best_actions),
        )
        .route("/recommendations", post(decisions::stateless))
        .route("/plans/{id}/prediction", get(decisions::prediction))
        .route("/digests/{audience}/{id}", get(digests::digest))
        .route("/plans/{id}/what-if", post(decisions::what_if))
        .route("/partners/{id}/similar", get(decisions::similar))
        .route("/partners/{id}/benchmark", get(decisions::benchmark))
        .route("/partners/fit", post(decisions::fit))
        .route("/forecast", get(portfolio::forecast))
        .route("/managers/{id}/attention", get(portfolio::attention))
        .route("/models/train", post(models::train))
        .route("/models", get(models::list))
        .route("/models/{version}/activate", post(models::activate))
        .route("/jobs/{id}", get(models::job))
        .route(
            "/subscriptions",
            post(subscriptions::create_subscription).get(subscriptions::list_subscriptions),
        )
        .route(
            "/subscriptions/{id}",
            get(subscriptions::get_subscription)
                .put(subscriptions::put_subscription)
                .delete(subscriptions::delete_subscription),
        )
        .route(
            "/subscriptions/{id}/deliveries",
            get(subscriptions::list_deliveries),
        )
        .route(
            "/subscriptions/{id}/send",
            post(subscriptions::send_digests),
        )
        .layer(DefaultBodyLimit::max(options.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), limits))
}

/// The whole application: `/v1`, operations, docs, with request ids, tracing, metrics
/// and panic safety around everything.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with more routes (the dashboard's pages) inside the same request ids,
/// tracing, metrics and panic safety. The API knows nothing of what they are.
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    Router::new()
        .nest("/v1", v1(&state))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(ops::docs))
        .merge(pages)
        .fallback(not_found)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::observe,
        ))
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
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopped accepting; requests in flight are finished");
    state.reclog().close().await;
    state.flush_index();
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
