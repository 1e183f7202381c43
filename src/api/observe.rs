//! What every request goes through first: its id (the caller's `x-request-id`, or a new
//! UUID, echoed on the response and on every error logged while answering), its span,
//! its count and latency by route template, and the guard that turns a handler's panic
//! into a 500 problem instead of a dropped connection.
//!
//! One hand-written layer rather than four, and rather than `middleware::from_fn`: axum
//! boxes each layer of each route separately and clones the whole chain per request, so
//! every layer costs allocations on the hottest path (docs/BENCHMARKS.md, HTTP load). The
//! span is at debug level: at info, formatting a span per request cost a fifth of the
//! throughput of the busiest endpoint.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tower::{Layer, Service};
use tracing::Instrument;

use super::error::{ApiError, Cause, Problem};
use super::state::AppState;

/// The header that carries a request's id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller's request id kept; a longer one (or one with other than visible
/// ASCII) is replaced by a new id, so no caller fills the logs or the answer with it.
pub const MAX_REQUEST_ID: usize = 128;

/// Whether a caller's `x-request-id` is kept as it is.
fn acceptable_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(u8::is_ascii_graphic)
}

tokio::task_local! {
    /// The id of the request being answered, for the errors logged while answering it.
    static CURRENT_REQUEST: HeaderValue;
}

/// The id of the request this task is answering (`-` outside a request).
pub fn current_request_id() -> String {
    CURRENT_REQUEST
        .try_with(|id| id.to_str().unwrap_or("-").to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}

/// The layer; see the module's documentation.
#[derive(Clone)]
pub struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
}

fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(
        request_id = %current_request_id(),
        "a handler panicked; answered 500"
    );
    ApiError::new(
        Problem::Internal,
        "the request failed unexpectedly; the server log has the cause",
    )
    .into_response()
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let id = match request.headers().get(&REQUEST_ID) {
            Some(id) if acceptable_id(id) => id.clone(),
            _ => {
                let mut buffer = uuid::Uuid::encode_buffer();
                let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
                let id = HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"));
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let span = tracing::debug_span!(
            "request",
            method = %method,
            path = %request.uri().path(),
            request_id = id.to_str().unwrap_or_default(),
            tenant = tracing::field::Empty,
        );
        let state = self.state.clone();
        state.metrics().request_started();
        // The handler's synchronous part runs here, its future below: both are guarded.
        let called = {
            let _entered = span.enter();
            CURRENT_REQUEST.sync_scope(id.clone(), || {
                std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
            })
        };
        Box::pin(async move {
            let answered = match called {
                Ok(answer) => {
                    let answer = AssertUnwindSafe(answer).catch_unwind().instrument(span);
                    CURRENT_REQUEST.scope(id.clone(), answer).await
                }
                Err(panic) => Err(panic),
            };
            let mut response = match answered {
                Ok(Ok(response)) => response.into_response(),
                Ok(Err(never)) => match never {},
                Err(panic) => CURRENT_REQUEST.sync_scope(id.clone(), || panicked(panic)),
            };
            let status = response.status().as_u16();
            if let Some(Cause(cause)) = response.extensions_mut().remove::<Cause>() {
                // Every 5xx's cause, once, here, with the request id it was answered with.
                let request_id = id.to_str().unwrap_or_default();
                if status == 503 {
                    tracing::warn!(status, request_id, cause = %cause, "request refused");
                } else {
                    tracing::error!(status, request_id, cause = %cause, "request failed");
                }
            }
            let elapsed = started.elapsed();
            tracing::debug!(status, latency_us = elapsed.as_micros() as u64, "answered");
            state
                .metrics()
                .request_answered(method, route, status, elapsed);
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
            Ok(response)
        })
    }
}
