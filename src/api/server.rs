//! The accept loop: hyper's HTTP/1 and HTTP/2 connections with the limits a service on
//! an open network needs, which `axum::serve` does not set.
//!
//! - **Slow headers**: a connection that has started a request (or opened and sent
//!   nothing) must deliver the whole head within `header_read_timeout`, or it is closed;
//!   twenty half-sent requests otherwise hold twenty connections for as long as their
//!   clients like.
//! - **Idle keep-alive**: a connection with no request in flight and no traffic for
//!   `idle_timeout` is closed. The default is longer than common load balancers' idle
//!   timeout (60 s), so the balancer, not the server, closes a pooled connection first
//!   and never sends a request onto one being closed.
//! - **A cap on open connections**: at `max_connections` the loop stops accepting until
//!   one closes; the kernel's backlog holds the rest, so a flood of connections costs
//!   queueing, never file descriptors or memory without bound.
//!
//! A request in flight is never cut by these: the request timeout governs it.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::Service;

/// The connection limits; [`Default`] gives the flags' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 4096,
        }
    }
}

/// Milliseconds since the connection opened; `NONE` for "not waiting for a head".
const NONE: u64 = u64::MAX;

/// What a connection's watchdog needs to know: when bytes last moved, since when a
/// request head is awaited, how many requests are being answered.
struct Activity {
    opened: Instant,
    last_io: AtomicU64,
    head_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_io: AtomicU64::new(0),
            // A new connection owes its first request's head.
            head_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            // Bytes with no request in flight begin the next request's head.
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
    }

    fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.wrote();
    }

    /// Why the connection should be closed now, if it should.
    fn expired(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.now();
        let over = |since: u64, limit: Duration| {
            since != NONE && u128::from(now.saturating_sub(since)) > limit.as_millis()
        };
        if over(
            self.head_since.load(Ordering::Relaxed),
            limits.header_read_timeout,
        ) {
            Some("request head not received in time")
        } else if over(self.last_io.load(Ordering::Relaxed), limits.idle_timeout) {
            Some("idle")
        } else {
            None
        }
    }
}

/// The TCP stream, telling [`Activity`] when bytes move.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, counting the requests in flight on one connection.
#[derive(Clone)]
struct Counted {
    router: Router,
    activity: Arc<Activity>,
}

/// Ends a request's count when its answer is ready or the request is dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

pin_project_lite::pin_project! {
    struct CountedFuture<F> {
        #[pin]
        inner: F,
        guard: InFlight,
    }
}

impl<F: Future> Future for CountedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

impl Service<Request<Incoming>> for Counted {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = CountedFuture<<Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <Router as Service<Request>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        CountedFuture {
            inner: self.router.call(request.map(Body::new)),
            guard: InFlight(Arc::clone(&self.activity)),
        }
    }
}

/// Accept errors that concern one connection only, which the next accept survives.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// How often a connection's watchdog looks: a quarter of the shorter limit, between
/// 50 ms and 1 s.
fn tick(limits: &ConnectionLimits) -> Duration {
    (limits.header_read_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting, lets every connection finish its requests in flight, and returns.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection holds a receiver: a value sent asks them to finish, and
    // `closed()` resolves when the last one has.
    let (stop, stopping) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    let every = tick(&limits);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum does.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            stream,
            activity: Arc::clone(&activity),
        });
        let service = TowerToHyperService::new(Counted {
            router: app.clone(),
            activity: Arc::clone(&activity),
        });
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
            let mut watchdog = tokio::time::interval(every);
            let mut finishing = false;
            loop {
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(e) = served {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = watchdog.tick() => {
                        if let Some(why) = activity.expired(&limits) {
                            tracing::debug!(reason = why, "closing a connection");
                            break;
                        }
                    }
                    _ = stopping.changed(), if !finishing => {
                        finishing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
            drop(stopping);
        });
    }
    drop(listener);
    drop(stopping);
    stop.send_replace(());
    stop.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            max_connections: 1,
        }
    }

    #[test]
    fn a_silent_new_connection_owes_its_head_within_the_header_timeout() {
        let activity = Activity::new();
        assert_eq!(activity.expired(&limits()), None);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            activity.expired(&limits()),
            Some("request head not received in time")
        );
    }

    #[test]
    fn a_request_in_flight_is_never_cut_and_idleness_counts_after_it() {
        let activity = Activity::new();
        activity.read();
        activity.request_started();
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(activity.expired(&limits()), None);
        activity.request_finished();
        std::thread::sleep(Duration::from_millis(150));
        // Past the header timeout, but no byte of a new request came: idle, not slow.
        assert_eq!(activity.expired(&limits()), None);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(activity.expired(&limits()), Some("idle"));
    }
}
