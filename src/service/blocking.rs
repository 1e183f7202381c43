//! The boundary between async handlers and blocking work.
//!
//! The engine, the vector index and the model registry are synchronous: a search on the
//! embedded shard, a Qdrant request blocked on, a model file read and parsed, a forecast
//! over every plan. Run on one of tokio's few workers, each of them stalls every request
//! that worker holds, and the Qdrant backend cannot block on its client there at all.
//! So they run here, on tokio's blocking pool, and nowhere else. The one exception is
//! a ranking that searches nothing (`recommend::recommend`): computation over memory,
//! shorter than the hand-off.

use std::future::Future;

use super::ServiceError;

/// Runs `f` on a blocking thread and waits for it without holding a worker.
///
/// # Errors
/// [`ServiceError::Blocking`] if `f` panicked (the panic is reported as a failure of
/// `what`, and the server goes on).
pub async fn blocking<T, F>(what: &'static str, f: F) -> Result<T, ServiceError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| ServiceError::Blocking { what, source })
}

/// Runs an async computation that mixes store reads with synchronous engine and index
/// calls (a digest, a dashboard page) on a blocking thread, driving its awaits there
/// with the runtime's handle: the synchronous parts then never run on a worker.
///
/// # Errors
/// As [`blocking`].
pub async fn on_blocking_thread<T, Fut>(what: &'static str, work: Fut) -> Result<T, ServiceError>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    blocking(what, move || handle.block_on(work)).await
}
