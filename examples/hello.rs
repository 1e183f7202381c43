//! The yardstick of the load test: an axum "hello world" on the same runtime settings as
//! `nextbest serve`, so `scripts/loadtest.sh` can report the API's throughput as a share
//! of what axum itself does on this machine in the same run.
//!
//! `cargo run --release --example hello -- 127.0.0.1:18081`

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await
}
