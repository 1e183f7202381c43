//! The concurrency limit and the request timeout of `/v1`: a request that finds every
//! permit taken is answered 503 at once (with Retry-After) rather than queued, and one
//! that runs past the timeout is answered 504 and dropped. Operations (`/healthz`,
//! `/metrics`) stay outside, so a saturated server still says how it is.
//!
//! A hand-written layer rather than `middleware::from_fn`, which clones and boxes the
//! inner service on every request (docs/BENCHMARKS.md, HTTP load).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::error::{ApiError, Problem};

/// The layer: one semaphore shared by every route it wraps.
#[derive(Clone)]
pub struct LimitsLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl LimitsLayer {
    pub fn new(permits: Arc<Semaphore>, timeout: Duration) -> Self {
        Self { permits, timeout }
    }
}

impl<S> Layer<S> for LimitsLayer {
    type Service = Limits<S>;

    fn layer(&self, inner: S) -> Limits<S> {
        Limits {
            inner,
            permits: Arc::clone(&self.permits),
            timeout: self.timeout,
        }
    }
}

/// The service of [`LimitsLayer`].
#[derive(Clone)]
pub struct Limits<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl<S> Service<Request> for Limits<S>
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

    fn call(&mut self, request: Request) -> Self::Future {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            let mut err = ApiError::new(
                Problem::Overloaded,
                "the server is answering as many requests as it is configured for; retry shortly",
            );
            err.retry_after = Some(1);
            return Box::pin(std::future::ready(Ok(err.into_response())));
        };
        let answer = self.inner.call(request);
        let timeout = self.timeout;
        Box::pin(async move {
            let response = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(response)) => response.into_response(),
                Ok(Err(never)) => match never {},
                Err(_) => ApiError::new(
                    Problem::Timeout,
                    "the request took longer than the server's limit (`--request-timeout`)",
                )
                .into_response(),
            };
            drop(permit);
            Ok(response)
        })
    }
}
