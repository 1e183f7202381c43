//! Slow and idle clients over real TCP connections to a real server: a request head
//! sent too slowly, a keep-alive connection left idle, more connections than the cap;
//! and `/metrics` only with an admin key, or without one on `--metrics-bind`.

use std::time::{Duration, Instant};

use nextbest::api::server::ConnectionLimits;
use nextbest::api::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::TestApp;
use crate::helpers::spawn_server;

async fn start(limits: ConnectionLimits) -> TestApp {
    let options = ServeOptions {
        connections: limits,
        ..ServeOptions::default()
    };
    TestApp::builder()
        .tenant("conn")
        .options(options)
        .spawn()
        .await
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// Reads one HTTP/1.1 answer (head and a Content-Length body) off `stream`.
async fn answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before an answer");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// Whether the server closes `stream` within `limit` (a read answers end of file or
/// a reset), without sending anything first.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0_u8; 64];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(n)) => panic!("the server sent {n} bytes to a half-sent request"),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_heads_are_cut_off_after_the_header_timeout() {
    let server = start(ConnectionLimits {
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(60),
        max_connections: 100,
    })
    .await;
    // Twenty clients that start a request and never finish its head, and one that
    // connects and says nothing.
    let mut slow = Vec::new();
    for i in 0..20 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: {i}").as_bytes())
            .await
            .unwrap();
        slow.push(stream);
    }
    slow.push(TcpStream::connect(server.address).await.unwrap());
    let started = Instant::now();
    for stream in &mut slow {
        assert!(
            closed_within(stream, Duration::from_secs(10)).await,
            "a half-sent request was still open after 10 s"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "closed after {took:?}, before the header timeout"
    );
    // A client that sends its head in time is answered.
    let mut ok = TcpStream::connect(server.address).await.unwrap();
    ok.write_all(HEALTHZ).await.unwrap();
    assert!(answer(&mut ok).await.starts_with("HTTP/1.1 200"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let server = start(ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(1500),
        max_connections: 100,
    })
    .await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout: kept, and a second request is answered
    // on the same connection.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Then idle past the idle timeout: closed by the server.
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)).await,
        "an idle keep-alive connection was still open after 10 s"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_cap_new_connections_wait_until_one_closes() {
    let server = start(ConnectionLimits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        max_connections: 2,
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream.write_all(HEALTHZ).await.unwrap();
        assert!(answer(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    // The third is queued by the kernel but not served while two are open.
    let mut third = TcpStream::connect(server.address).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0_u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf))
            .await
            .is_err(),
        "a connection beyond the cap was served"
    );
    drop(held.pop());
    let served = tokio::time::timeout(Duration::from_secs(10), answer(&mut third))
        .await
        .expect("the waiting connection was not served after one closed");
    assert!(served.starts_with("HTTP/1.1 200"));
    drop(held);
    drop(third);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_an_admin_key_except_on_the_metrics_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_bind = format!("127.0.0.1:{port}");
    let (mut child, base) =
        spawn_server(&data, "conn", &["--metrics-bind", metrics_bind.as_str()]).await;
    let client = reqwest::Client::new();
    let main = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(main.status(), reqwest::StatusCode::UNAUTHORIZED);
    let open = client
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), reqwest::StatusCode::OK);
    assert!(open
        .text()
        .await
        .unwrap()
        .contains("nextbest_http_requests_total"));
    // Only the metrics are there: no API on the metrics address.
    let api = client
        .get(format!("http://{metrics_bind}/v1/partners"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), reqwest::StatusCode::NOT_FOUND);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
