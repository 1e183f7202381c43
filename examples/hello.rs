//! The yardstick of the load test: an axum "hello world" on the same runtime settings as
//! `nextbest serve`, so `scripts/loadtest.sh` can report the API's throughput as a share
//! of what axum itself does on this machine in the same run. `/payload` answers a static
//! body the size of a next-best-actions answer (10.5 KB), to tell the cost of the bytes
//! from the cost of the work. Any other path answers the greeting too, so the load test
//! can send it nextbest's very requests (paths, key header) and compare like with like.
//!
//! `cargo run --release --example hello -- 127.0.0.1:18081`

use axum::routing::get;
use axum::Router;

/// About the size of `GET /v1/plans/{id}/next-best-actions?k=5` on the demo data.
const PAYLOAD_BYTES: usize = 10_500;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let payload = axum::body::Bytes::from(vec![b'x'; PAYLOAD_BYTES]);
    let app = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/payload", get(move || async move { payload.clone() }))
        .fallback(|| async { "Hello, World!" });
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await
}
