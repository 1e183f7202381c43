//! Webhook delivery of digests to a real local receiver (axum on 127.0.0.1:0) that
//! checks every signature with its own HMAC code and counts what it acknowledges by
//! idempotency key: signatures verify and a tampered body does not; a receiver that is
//! down for a while gets everything once it is back, each key acknowledged once; the
//! real binary killed mid-delivery and restarted loses nothing and never sends one
//! digest under two keys; and the per-recipient cap holds within a period.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::TestApp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{NaiveDate, Utc};
use hmac::{Hmac, Mac};
use nextbest::api::ServeOptions;
use nextbest::digest::delivery::{self, DeliveryOptions, Outcome, Worker};
use nextbest::digest::outbound::Policy;
use nextbest::digest::schedule;
use nextbest::import::{self, ImportOptions};
use nextbest::store::{Store, Subscription};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "whsec_test_0123456789abcdef";
const TENANT: &str = "acme";
/// The receivers here listen on 127.0.0.1, which a server refuses unless told otherwise.
const ALLOW_PRIVATE: Policy = Policy::ALLOW_PRIVATE_NETWORKS;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
}

// ---------------------------------------------------------------------------------------
// The receiver

/// What the receiver saw: every verified arrival, and how often it accepted each key
/// (answered, or was about to answer, 2xx).
#[derive(Default)]
struct Log {
    arrivals: Vec<Arrival>,
    acked: BTreeMap<String, usize>,
    bad_signatures: usize,
}

#[derive(Clone)]
struct Arrival {
    key: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Arrival {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    /// Answer 503 to correctly signed posts while set.
    unavailable: Arc<Mutex<bool>>,
    /// How long the 2xx takes after the digest is taken in: room to kill the sender
    /// mid-delivery.
    delay: Duration,
}

impl Receiver {
    fn new(delay: Duration) -> Self {
        Self {
            log: Arc::default(),
            unavailable: Arc::default(),
            delay,
        }
    }

    fn acked(&self) -> BTreeMap<String, usize> {
        self.log.lock().unwrap().acked.clone()
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.log.lock().unwrap().arrivals.clone()
    }

    fn bad_signatures(&self) -> usize {
        self.log.lock().unwrap().bad_signatures
    }

    /// Serves on `addr` (port 0 for any) until the task is aborted.
    async fn serve(&self, addr: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (addr, task)
    }
}

/// The receiver's check, as docs/WEBHOOKS.md gives it (not the sender's code):
/// `Nextbest-Signature: t=<ts>,v1=<hex>` where hex is HMAC-SHA256(secret, "<ts>.<body>"),
/// `<ts>` is also the `Nextbest-Timestamp` header and at most 300 s from `now`.
fn verify_at(secret: &str, timestamp: &str, signature: &str, body: &[u8], now: i64) -> bool {
    let field = |name: &str| signature.split(',').find_map(|p| p.strip_prefix(name));
    let (Some(t), Some(v1)) = (field("t="), field("v1=")) else {
        return false;
    };
    let fresh = t.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 300);
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    t == timestamp && fresh && mac.verify_slice(&expected).is_ok() // constant time
}

fn verify(secret: &str, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    verify_at(secret, timestamp, signature, body, Utc::now().timestamp())
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let arrival = Arrival {
        key: header("idempotency-key"),
        timestamp: header("nextbest-timestamp"),
        signature: header("nextbest-signature"),
        body: body.to_vec(),
    };
    if !verify(
        SECRET,
        &arrival.timestamp,
        &arrival.signature,
        &arrival.body,
    ) {
        r.log.lock().unwrap().bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if *r.unavailable.lock().unwrap() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    // Like a real receiver: take the digest in, then answer. A sender that dies in
    // between never sees the 2xx and sends it again, under the same key.
    {
        let mut log = r.log.lock().unwrap();
        *log.acked.entry(arrival.key.clone()).or_default() += 1;
        log.arrivals.push(arrival);
    }
    tokio::time::sleep(r.delay).await;
    StatusCode::OK
}

/// An address nothing listens on yet (bound, then released), for a receiver that is
/// down before it is up.
async fn free_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------
// The service in process

fn partners_and_plans(n: usize) -> (Vec<Value>, Vec<Value>) {
    let partners = (0..n)
        .map(|i| json!({"partner_id": format!("p{i}"), "name": format!("Partner {i}")}))
        .collect();
    let plans = (0..n)
        .map(|i| {
            json!({
                "plan_id": format!("plan-{i}"), "partner_id": format!("p{i}"),
                "start_date": "2026-07-01", "end_date": "2026-12-31", "status": "active",
            })
        })
        .collect();
    (partners, plans)
}

fn ndjson(rows: &[Value]) -> Vec<u8> {
    rows.iter()
        .flat_map(|r| {
            let mut line = serde_json::to_vec(r).unwrap();
            line.push(b'\n');
            line
        })
        .collect()
}

/// A SQLite store with `partners` partners, each with one active plan (so the partner
/// audience has `partners` recipients and leadership one), and the server over it,
/// allowing webhooks to 127.0.0.1.
async fn app(partners: usize) -> TestApp {
    app_with(partners, ALLOW_PRIVATE).await
}

async fn app_with(partners: usize, webhook_policy: Policy) -> TestApp {
    let options = ServeOptions {
        as_of: Some(as_of()),
        webhook_policy,
        ..ServeOptions::default()
    };
    let app = TestApp::builder()
        .tenant(TENANT)
        .options(options)
        .spawn()
        .await;
    let (partners, plans) = partners_and_plans(partners);
    for (entity, rows) in [("partners", partners), ("plans", plans)] {
        import::sync_records(
            &app.store,
            TENANT,
            entity,
            "test",
            &ndjson(&rows),
            &ImportOptions::default(),
            None,
        )
        .await
        .unwrap();
    }
    app
}

async fn subscribe(store: &Store, url: &str, audiences: &[&str]) -> Subscription {
    let s = Subscription {
        subscription_id: format!("sub_{}", uuid::Uuid::new_v4().simple()),
        tenant_id: TENANT.to_owned(),
        url: url.to_owned(),
        secret: SECRET.to_owned(),
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        schedule: "weekly".to_owned(),
        locale: "en".to_owned(),
        recipients: None,
        active: true,
        created_at: String::new(),
        updated_at: String::new(),
    };
    store.insert_subscription(&s, Utc::now()).await.unwrap();
    s
}

fn fast() -> DeliveryOptions {
    DeliveryOptions {
        poll: Duration::from_millis(50),
        schedule_every: Duration::from_secs(3600),
        max_attempts: 1000,
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        batch: 16,
        policy: ALLOW_PRIVATE,
    }
}

/// Waits (generously) until `done` holds, polling; panics with `what` otherwise.
async fn wait_until<F, Fut>(what: &str, seconds: u64, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {seconds} s waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// (a) Signatures

#[tokio::test]
async fn the_signature_verifies_and_a_tampered_body_does_not() {
    let app = app(1).await;
    let receiver = Receiver::new(Duration::ZERO);
    let (addr, server) = receiver.serve("127.0.0.1:0".parse().unwrap()).await;
    let url = format!("http://{addr}/hook");
    let sub = subscribe(&app.store, &url, &["partner"]).await;

    let report = schedule::enqueue_due(&app.store, &app.state, Some(TENANT), as_of(), Utc::now())
        .await
        .unwrap();
    assert_eq!(report.enqueued, 1, "{report:?}");
    let worker = Worker::new(app.store.clone(), fast()).unwrap();
    assert_eq!(worker.deliver_due().await.unwrap(), [Outcome::Delivered]);

    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 1);
    assert_eq!(receiver.bad_signatures(), 0);
    let a = &arrivals[0];
    assert!(verify(SECRET, &a.timestamp, &a.signature, &a.body));
    let signed_at: i64 = a.timestamp.parse().unwrap();
    assert!((Utc::now().timestamp() - signed_at).abs() < 300);

    // The envelope: the digest and where it stands, under the header's key.
    let body = a.json();
    assert_eq!(body["idempotency_key"], a.key.as_str());
    assert_eq!(body["subscription_id"], sub.subscription_id.as_str());
    assert_eq!(body["period"], "2026-W48");
    assert_eq!(body["attempt"], 1);
    assert_eq!(body["digest"]["audience"], "partner");
    assert_eq!(body["digest"]["recipient_id"], "p0");
    assert_eq!(a.key.len(), 64);

    // Tampered: one byte of the body, the timestamp, or the wrong secret.
    let mut tampered = a.body.clone();
    let at = tampered.iter().position(|b| *b == b'p').unwrap();
    tampered[at] = b'q';
    assert!(!verify(SECRET, &a.timestamp, &a.signature, &tampered));
    let later = (signed_at + 1).to_string();
    let resigned = a.signature.replace(&a.timestamp, &later);
    assert!(!verify(SECRET, &later, &resigned, &a.body));
    assert!(!verify(
        "whsec_another_secret_00",
        &a.timestamp,
        &a.signature,
        &a.body
    ));
    // A replay an hour later is refused however well it is signed.
    let in_an_hour = signed_at + 3600;
    assert!(!verify_at(
        SECRET,
        &a.timestamp,
        &a.signature,
        &a.body,
        in_an_hour
    ));

    // And the receiver turns the tampered body away.
    let response = reqwest::Client::new()
        .post(&url)
        .header("Idempotency-Key", &a.key)
        .header("Nextbest-Timestamp", &a.timestamp)
        .header("Nextbest-Signature", &a.signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED.as_u16());
    assert_eq!(receiver.bad_signatures(), 1);

    let rows = app
        .store
        .deliveries(TENANT, &sub.subscription_id, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "delivered");
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_status, Some(200));
    assert_eq!(rows[0].idempotency_key, a.key);
    server.abort();
}

// ---------------------------------------------------------------------------------------
// (b) The receiver down, then back

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_for_a_while_gets_every_digest_once_back() {
    let app = app(3).await;
    let receiver = Receiver::new(Duration::ZERO);
    let addr = free_address().await;
    let sub = subscribe(
        &app.store,
        &format!("http://{addr}/hook"),
        &["partner", "leadership"],
    )
    .await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(delivery::run(
        app.store.clone(),
        app.state.clone(),
        app.state.clone(),
        fast(),
        as_of,
        stopped,
    ));
    let outbox = || async {
        app.store
            .deliveries(TENANT, &sub.subscription_id, 100)
            .await
            .unwrap()
    };
    // The scheduler's first round enqueues 3 partner digests and 1 leadership digest.
    wait_until("the digests are enqueued", 20, || async {
        outbox().await.len() == 4
    })
    .await;

    // Nothing listening: every attempt fails to connect and is retried.
    wait_until("every delivery has failed once", 20, || async {
        outbox()
            .await
            .iter()
            .all(|d| d.attempts >= 1 && d.last_error.is_some())
    })
    .await;
    // Listening, but answering 503.
    *receiver.unavailable.lock().unwrap() = true;
    let (_, server) = receiver.serve(addr).await;
    wait_until("a 503 has been recorded", 20, || async {
        outbox().await.iter().any(|d| d.last_status == Some(503))
    })
    .await;
    assert!(receiver.acked().is_empty());
    // Back.
    *receiver.unavailable.lock().unwrap() = false;
    wait_until("every digest is delivered", 30, || async {
        outbox().await.iter().all(|d| d.status == "delivered")
    })
    .await;

    let rows = outbox().await;
    let keys: BTreeSet<String> = rows.iter().map(|d| d.idempotency_key.clone()).collect();
    let acked = receiver.acked();
    assert_eq!(keys.len(), 4);
    assert_eq!(
        acked.keys().cloned().collect::<BTreeSet<_>>(),
        keys,
        "every enqueued digest arrives"
    );
    assert!(
        acked.values().all(|n| *n == 1),
        "each key acknowledged exactly once: {acked:?}"
    );
    assert!(rows.iter().all(|d| d.attempts >= 2), "{rows:?}");
    assert_eq!(receiver.bad_signatures(), 0);
    let metrics = app
        .state
        .metrics()
        .render(app.state.service().open_index().as_deref());
    assert!(
        metrics.contains("nextbest_digest_deliveries_total{outcome=\"delivered\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nextbest_digest_deliveries_total{outcome=\"retry\"}"),
        "{metrics}"
    );

    // It stops when told, promptly.
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops within 10 s of the signal")
        .unwrap()
        .unwrap();
    server.abort();
}

#[tokio::test]
async fn a_delivery_is_marked_failed_after_the_last_attempt() {
    let app = app(1).await;
    let addr = free_address().await; // never listens
    let sub = subscribe(&app.store, &format!("http://{addr}/hook"), &["leadership"]).await;
    schedule::enqueue_due(&app.store, &app.state, Some(TENANT), as_of(), Utc::now())
        .await
        .unwrap();
    let options = DeliveryOptions {
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(1),
        ..fast()
    };
    let worker = Worker::new(app.store.clone(), options).unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..200 {
        outcomes.extend(worker.deliver_due().await.unwrap());
        if outcomes.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(outcomes, [Outcome::Retry, Outcome::Retry, Outcome::Failed]);
    let rows = app
        .store
        .deliveries(TENANT, &sub.subscription_id, 10)
        .await
        .unwrap();
    assert_eq!(rows[0].status, "failed");
    assert_eq!(rows[0].attempts, 3);
    assert!(rows[0].last_error.is_some());
    // A failed delivery is not claimed again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(worker.deliver_due().await.unwrap().is_empty());
}

#[tokio::test]
async fn two_workers_never_claim_the_same_delivery() {
    let app = app(5).await;
    let sub = subscribe(&app.store, "http://127.0.0.1:9/hook", &["partner"]).await;
    schedule::enqueue_due(&app.store, &app.state, Some(TENANT), as_of(), Utc::now())
        .await
        .unwrap();
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(60);
    let (a, b) = tokio::join!(
        app.store.claim_deliveries(TENANT, now, lease, 10),
        app.store.claim_deliveries(TENANT, now, lease, 10),
    );
    let mut ids: Vec<String> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .map(|c| c.delivery_id)
        .collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(claimed, 5, "every due row is claimed");
    assert_eq!(ids.len(), 5, "and none twice");
    // Leased: not due again until the lease ends.
    assert!(app
        .store
        .claim_deliveries(TENANT, now, lease, 10)
        .await
        .unwrap()
        .is_empty());
    let after = lease + chrono::Duration::seconds(1);
    let again = app
        .store
        .claim_deliveries(TENANT, after, after, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 5);
    assert!(again.iter().all(|c| c.attempt == 2));
    drop(sub);
}

// ---------------------------------------------------------------------------------------
// (c) The binary killed mid-delivery

async fn start_binary(data: &std::path::Path) -> (tokio::process::Child, String) {
    crate::helpers::spawn_server(
        data,
        TENANT,
        &[
            "--as-of",
            "2026-11-26",
            "--delivery-poll",
            "100ms",
            "--schedule-every",
            "1h",
            "--delivery-backoff",
            "100ms",
            "--delivery-backoff-cap",
            "300ms",
            "--delivery-timeout",
            "2s",
            "--delivery-max-attempts",
            "1000",
            "--allow-private-webhooks",
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_mid_delivery_loses_nothing_and_repeats_only_with_the_same_key() {
    const PARTNERS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = crate::helpers::binary_key(&data, TENANT);

    // A slow receiver: each 2xx takes 400 ms, so posts are in flight when the kill comes.
    let receiver = Receiver::new(Duration::from_millis(400));
    let (addr, server) = receiver.serve("127.0.0.1:0".parse().unwrap()).await;

    let (mut child, base) = start_binary(&data).await;
    let client = reqwest::Client::new();
    let (partners, plans) = partners_and_plans(PARTNERS);
    for (kind, rows, id) in [
        ("partners", partners, "partner_id"),
        ("plans", plans, "plan_id"),
    ] {
        for row in rows {
            let r = client
                .put(format!("{base}/v1/{kind}/{}", row[id].as_str().unwrap()))
                .bearer_auth(&key)
                .json(&row)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    }
    let created: Value = client
        .post(format!("{base}/v1/subscriptions"))
        .bearer_auth(&key)
        .json(&json!({
            "url": format!("http://{addr}/hook"), "secret": SECRET,
            "audiences": ["partner", "leadership"], "schedule": "weekly",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["subscription_id"].as_str().unwrap().to_owned();
    let sent: Value = client
        .post(format!("{base}/v1/subscriptions/{id}/send"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = PARTNERS + 1;
    assert_eq!(sent["enqueued"], total, "{sent}");

    // Kill without warning once posts are arriving, before they are all acknowledged.
    wait_until("the first post arrives", 30, || async {
        !receiver.arrivals().is_empty()
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let acked_before_kill = receiver.acked().len();
    assert!(
        acked_before_kill < total,
        "the kill came too late to test anything ({acked_before_kill} of {total} taken in)"
    );

    // Restarted on the same data: the outbox resumes once the dead process's leases end.
    let (mut child, base) = start_binary(&data).await;
    let deliveries = || async {
        let v: Value = client
            .get(format!("{base}/v1/subscriptions/{id}/deliveries"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["items"].as_array().unwrap().clone()
    };
    wait_until("every delivery is acknowledged", 60, || async {
        let rows = deliveries().await;
        rows.len() == total && rows.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let rows = deliveries().await;
    assert!(rows.iter().all(|d| d.get("payload").is_none()));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    server.abort();

    let keys: BTreeSet<String> = rows
        .iter()
        .map(|d| d["idempotency_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys.len(),
        total,
        "the restart's scheduler added no second key"
    );
    let acked = receiver.acked();
    assert_eq!(
        acked.keys().cloned().collect::<BTreeSet<_>>(),
        keys,
        "nothing lost: every key acknowledged"
    );
    // Anything that arrived twice is the same digest under the same key.
    let mut keys_per_digest: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    let mut body_per_key: BTreeMap<String, Value> = BTreeMap::new();
    for arrival in receiver.arrivals() {
        let body = arrival.json();
        assert!(keys.contains(&arrival.key), "unknown key {}", arrival.key);
        let digest = (
            body["digest"]["audience"].as_str().unwrap().to_owned(),
            body["digest"]["recipient_id"].as_str().unwrap().to_owned(),
            body["period"].as_str().unwrap().to_owned(),
        );
        keys_per_digest
            .entry(digest)
            .or_default()
            .insert(arrival.key.clone());
        let first = body_per_key
            .entry(arrival.key.clone())
            .or_insert_with(|| body["digest"].clone());
        assert_eq!(*first, body["digest"], "a repeat carries the same digest");
    }
    assert_eq!(keys_per_digest.len(), total);
    assert!(
        keys_per_digest.values().all(|k| k.len() == 1),
        "a digest sent under two keys: {keys_per_digest:?}"
    );
    let repeats: usize = acked.values().map(|n| n - 1).sum();
    eprintln!(
        "{total} digests; {acked_before_kill} taken in before the kill; {repeats} \
         received twice (same key)"
    );
    assert!(
        repeats >= 1,
        "no digest was in flight at the kill, so the restart had nothing to repeat"
    );
    assert_eq!(receiver.bad_signatures(), 0);
}

// ---------------------------------------------------------------------------------------
// (d) The cap, and the subscription API

/// The server of a [`TestApp`], called as a platform would call it.
struct Served<'a>(&'a TestApp);

impl std::ops::Deref for Served<'_> {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        self.0
    }
}

impl Served<'_> {
    /// A request as `key`, with an optional JSON body: the status and the JSON answer.
    async fn call(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn sending_twice_in_one_period_enqueues_nothing_the_second_time() {
    let app = app(2).await;
    let server = Served(&app);
    use reqwest::Method;

    let (status, created) = server
        .call(
            Method::POST,
            &server.admin,
            "/v1/subscriptions",
            Some(json!({"url": "http://127.0.0.1:9/hook",
                        "audiences": ["partner", "leadership"], "schedule": "weekly"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 32);
    let id = created["subscription_id"].as_str().unwrap();
    let path = format!("/v1/subscriptions/{id}");
    let (status, shown) = server.call(Method::GET, &server.reader, &path, None).await;
    assert_eq!(status, 200);
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );
    assert_eq!(shown["locale"], "en");

    let send = format!("{path}/send");
    let (status, first) = server.call(Method::POST, &server.admin, &send, None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first,
        json!({"enqueued": 3, "already_sent_this_period": 0, "failed": 0})
    );
    let (_, second) = server.call(Method::POST, &server.admin, &send, None).await;
    assert_eq!(
        second,
        json!({"enqueued": 0, "already_sent_this_period": 3, "failed": 0})
    );

    // Later in the same ISO week: still capped. The next week: a new period.
    let sunday = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    let same_week = schedule::enqueue_due(&app.store, &app.state, Some(TENANT), sunday, Utc::now())
        .await
        .unwrap();
    assert_eq!(same_week.enqueued, 0);
    let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let next_week = schedule::enqueue_due(&app.store, &app.state, Some(TENANT), monday, Utc::now())
        .await
        .unwrap();
    assert_eq!(next_week.enqueued, 3);

    let (status, listed) = server
        .call(
            Method::GET,
            &server.reader,
            &format!("{path}/deliveries"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert!(items
        .iter()
        .all(|d| d.get("payload").is_none() && d["status"] == "pending"));
    let periods: BTreeSet<&str> = items
        .iter()
        .map(|d| d["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, BTreeSet::from(["2026-W48", "2026-W49"]));

    // The rest of the resource: validation, scopes, replace, delete.
    let (status, problem) = server
        .call(
            Method::POST,
            &server.admin,
            "/v1/subscriptions",
            Some(
                json!({"url": "ftp://example.com", "audiences": ["partner"], "schedule": "weekly"}),
            ),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["field"], "url");
    let (status, _) = server.call(Method::POST, &server.reader, &send, None).await;
    assert_eq!(status, 403);
    let (status, replaced) = server
        .call(
            Method::PUT,
            &server.admin,
            &path,
            Some(
                json!({"url": "http://127.0.0.1:9/other-hook", "audiences": ["manager"],
                        "schedule": "monthly", "locale": "de", "active": false}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["schedule"], "monthly");
    assert_eq!(replaced["active"], false);
    assert!(replaced.get("secret").is_none());
    let stored = app.store.subscription(TENANT, id).await.unwrap().unwrap();
    assert_eq!(
        stored.secret, secret,
        "a replacement without a secret keeps it"
    );
    let (_, list) = server
        .call(Method::GET, &server.reader, "/v1/subscriptions", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _) = server
        .call(Method::DELETE, &server.admin, &path, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.call(Method::GET, &server.reader, &path, None).await;
    assert_eq!(status, 404);
    assert!(app
        .store
        .deliveries(TENANT, id, 10)
        .await
        .unwrap()
        .is_empty());
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// The store, on both back ends

#[tokio::test]
async fn subscriptions_and_the_outbox_behave_alike_on_sqlite_and_postgres() {
    use nextbest::store::NewDelivery;
    for db in crate::helpers::backends("outbox").await {
        let (store, tenant, name) = (&db.store, db.tenant.as_str(), db.name);
        let mut s = Subscription {
            subscription_id: format!("sub_{}", uuid::Uuid::new_v4().simple()),
            tenant_id: tenant.to_owned(),
            url: "https://example.com/hook".into(),
            secret: SECRET.into(),
            audiences: vec!["partner".into(), "leadership".into()],
            schedule: "weekly".into(),
            locale: "de".into(),
            recipients: Some(vec!["p1".into(), "p2".into()]),
            active: true,
            created_at: String::new(),
            updated_at: String::new(),
        };
        store.insert_subscription(&s, Utc::now()).await.unwrap();
        let read = store
            .subscription(tenant, &s.subscription_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.audiences, s.audiences, "{name}");
        assert_eq!(read.recipients, s.recipients, "{name}");
        assert_eq!(read.secret, SECRET, "{name}");
        assert!(read.active, "{name}");
        assert!(store
            .subscribed_tenants()
            .await
            .unwrap()
            .contains(&db.tenant));
        assert!(store
            .subscription("another-tenant", &s.subscription_id)
            .await
            .unwrap()
            .is_none());
        s.active = false;
        s.recipients = None;
        assert!(store.update_subscription(&s, Utc::now()).await.unwrap());
        let read = store
            .subscription(tenant, &s.subscription_id)
            .await
            .unwrap()
            .unwrap();
        assert!(!read.active && read.recipients.is_none(), "{name}");
        assert_eq!(store.subscriptions(tenant).await.unwrap().len(), 1);

        let delivery = |recipient: &str, key: &str, as_of: NaiveDate| NewDelivery {
            delivery_id: format!("dlv_{}", uuid::Uuid::new_v4().simple()),
            subscription_id: s.subscription_id.clone(),
            audience: "partner".into(),
            recipient_id: recipient.into(),
            period: "2026-W48".into(),
            as_of,
            idempotency_key: key.into(),
            payload: "{}".into(),
        };
        let now = Utc::now();
        assert!(store
            .enqueue_delivery(tenant, &delivery("p1", "k1", as_of()), now)
            .await
            .unwrap());
        assert!(
            !store
                .enqueue_delivery(tenant, &delivery("p1", "k1", as_of()), now)
                .await
                .unwrap(),
            "{name}: a key is enqueued once"
        );
        assert!(store
            .enqueue_delivery(tenant, &delivery("p2", "k2", as_of()), now)
            .await
            .unwrap());
        assert!(store.outbox_has(tenant, "k1").await.unwrap());
        assert!(!store.outbox_has(tenant, "k3").await.unwrap());

        let lease = now + chrono::Duration::seconds(30);
        let claimed = store
            .claim_deliveries(tenant, now, lease, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2, "{name}");
        assert!(claimed
            .iter()
            .all(|c| c.attempt == 1 && c.secret == SECRET && c.url == s.url));
        let key = |k: &str| claimed.iter().find(|c| c.idempotency_key == k).unwrap();
        let (first, second) = (key("k1"), key("k2"));
        store
            .mark_delivered(tenant, &first.delivery_id, 204, now)
            .await
            .unwrap();
        // A stale attempt number does not reschedule; the current one does.
        store
            .mark_retry(tenant, &second.delivery_id, 7, now, "stale", Some(500))
            .await
            .unwrap();
        let again = now + chrono::Duration::seconds(1);
        store
            .mark_retry(tenant, &second.delivery_id, 1, again, "boom", Some(503))
            .await
            .unwrap();
        let rows = store
            .deliveries(tenant, &s.subscription_id, 10)
            .await
            .unwrap();
        let by_id = |id: &str| rows.iter().find(|d| d.delivery_id == id).unwrap().clone();
        assert_eq!(by_id(&first.delivery_id).status, "delivered", "{name}");
        assert_eq!(by_id(&first.delivery_id).last_status, Some(204));
        let retried = by_id(&second.delivery_id);
        assert_eq!(
            (retried.status.as_str(), retried.last_status),
            ("pending", Some(503))
        );
        assert_eq!(retried.last_error.as_deref(), Some("boom"), "{name}");
        let due = store
            .claim_deliveries(tenant, again, lease, 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "{name}");
        assert_eq!(due[0].attempt, 2);
        store
            .mark_failed(tenant, &due[0].delivery_id, 2, "gone", Some(410))
            .await
            .unwrap();
        assert!(store
            .claim_deliveries(tenant, lease, lease, 10)
            .await
            .unwrap()
            .is_empty());

        let last = store
            .last_delivered(tenant, &s.subscription_id)
            .await
            .unwrap();
        assert_eq!(last.len(), 1, "{name}: only delivered digests count");
        assert_eq!(
            (last[0].recipient_id.as_str(), last[0].as_of),
            ("p1", as_of())
        );

        assert!(store
            .delete_subscription(tenant, &s.subscription_id)
            .await
            .unwrap());
        assert!(!store
            .delete_subscription(tenant, &s.subscription_id)
            .await
            .unwrap());
        assert!(store
            .deliveries(tenant, &s.subscription_id, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(!store.outbox_has(tenant, "k1").await.unwrap(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// (e) Outbound safety: where a webhook may point, what a failed post says, and names in
// the markdown

/// Each URL with a word its refusal must say (the class of address, or why).
const INWARD: [(&str, &str); 16] = [
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    (
        "http://metadata.google.internal/computeMetadata/v1/",
        "metadata",
    ),
    ("http://10.0.0.1/hook", "private"),
    ("http://192.168.1.20:8080/hook", "private"),
    ("http://127.0.0.1:6379/", "loopback"),
    ("http://localhost:5432/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::1]:8080/", "loopback"),
    ("http://[fe80::1]/", "link-local"),
    ("https://user:pass@example.com/hook", "credentials"),
    ("http://no-such-host.invalid/hook", "does not resolve"),
];

#[tokio::test]
async fn webhook_urls_aimed_inward_are_refused_and_nothing_is_stored() {
    let app = app_with(1, Policy::STRICT).await;
    let server = Served(&app);
    use reqwest::Method;
    for (url, why) in INWARD {
        let body = json!({"url": url, "audiences": ["partner"], "schedule": "weekly"});
        let (status, problem) = server
            .call(Method::POST, &server.admin, "/v1/subscriptions", Some(body))
            .await;
        assert_eq!(status, 422, "{url} must be refused: {problem}");
        assert_eq!(problem["field"], "url", "{url}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{url}: `{detail}` does not say {why}");
    }
    let (_, private) = server
        .call(
            Method::POST,
            &server.admin,
            "/v1/subscriptions",
            Some(json!({"url": "http://10.0.0.1/hook", "audiences": ["partner"], "schedule": "weekly"})),
        )
        .await;
    assert!(
        private["detail"]
            .as_str()
            .unwrap()
            .contains("--allow-private-webhooks"),
        "a private address says how to allow it: {private}"
    );
    assert!(app.store.subscriptions(TENANT).await.unwrap().is_empty());

    // A subscription stored before (by an older version, say) cannot be re-aimed inward.
    let sub = subscribe(&app.store, "https://example.com/hook", &["partner"]).await;
    let path = format!("/v1/subscriptions/{}", sub.subscription_id);
    for (url, _) in INWARD {
        let body = json!({"url": url, "audiences": ["partner"], "schedule": "weekly"});
        let (status, problem) = server
            .call(Method::PUT, &server.admin, &path, Some(body))
            .await;
        assert_eq!(status, 422, "PUT {url} must be refused: {problem}");
        assert_eq!(problem["field"], "url");
    }
    let stored = app
        .store
        .subscription(TENANT, &sub.subscription_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.url, "https://example.com/hook");
    app.stop().await;
}

#[tokio::test]
async fn the_deliveries_listing_shows_a_classified_error_not_the_raw_one() {
    let app = app(1).await;
    let server = Served(&app);
    use reqwest::Method;
    let addr = free_address().await; // nothing listens: the connection is refused
    let (status, created) = server
        .call(
            Method::POST,
            &server.admin,
            "/v1/subscriptions",
            Some(json!({"url": format!("http://{addr}/hook"),
                        "audiences": ["leadership"], "schedule": "weekly"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!(
        "/v1/subscriptions/{}",
        created["subscription_id"].as_str().unwrap()
    );
    let (_, sent) = server
        .call(Method::POST, &server.admin, &format!("{path}/send"), None)
        .await;
    assert_eq!(sent["enqueued"], 1, "{sent}");
    let worker = Worker::new(app.store.clone(), fast()).unwrap();
    assert_eq!(worker.deliver_due().await.unwrap(), [Outcome::Retry]);

    let (status, listed) = server
        .call(
            Method::GET,
            &server.reader,
            &format!("{path}/deliveries"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let row = &listed["items"][0];
    assert_eq!(row["last_error"], "connection refused", "{row}");
    assert!(row["last_status"].is_null());
    let stored = app
        .store
        .deliveries(TENANT, created["subscription_id"].as_str().unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(stored[0].last_error.as_deref(), Some("connection refused"));
    app.stop().await;
}

const EVIL_NAME: &str = "<script>alert(1)</script> [x](javascript:alert(1))";

/// What a markdown rendering of [`EVIL_NAME`] must never hold: a tag, or a link.
fn assert_inert_markdown(markdown: &str) {
    assert!(!markdown.contains("<script>"), "{markdown}");
    assert!(!markdown.contains("[x](javascript:"), "{markdown}");
    assert!(
        markdown.contains(r"\<script\>alert(1)\</script\> \[x\](javascript:alert(1))"),
        "the name is shown, escaped:\n{markdown}"
    );
}

#[tokio::test]
async fn partner_names_are_escaped_in_markdown_digests_and_webhook_payloads() {
    let app = app(1).await;
    let renamed = json!({"partner_id": "p0", "name": EVIL_NAME});
    import::sync_records(
        &app.store,
        TENANT,
        "partners",
        "test",
        &ndjson(&[renamed]),
        &ImportOptions::default(),
        None,
    )
    .await
    .unwrap();
    let server = Served(&app);
    let get = |format: &'static str| {
        let request = server
            .client
            .get(format!(
                "{}/v1/digests/partner/p0?format={format}",
                server.base
            ))
            .bearer_auth(&server.reader);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    assert_inert_markdown(&get("md").await);
    let html = get("html").await;
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );

    // The same digest, posted to a webhook.
    let receiver = Receiver::new(Duration::ZERO);
    let (addr, hook) = receiver.serve("127.0.0.1:0".parse().unwrap()).await;
    subscribe(&app.store, &format!("http://{addr}/hook"), &["partner"]).await;
    schedule::enqueue_due(&app.store, &app.state, Some(TENANT), as_of(), Utc::now())
        .await
        .unwrap();
    let worker = Worker::new(app.store.clone(), fast()).unwrap();
    assert_eq!(worker.deliver_due().await.unwrap(), [Outcome::Delivered]);
    let digest = receiver.arrivals()[0].json()["digest"].clone();
    assert_inert_markdown(digest["markdown"].as_str().unwrap());
    assert!(!digest["html"].as_str().unwrap().contains("<script>"));
    hook.abort();
    app.stop().await;
}

/// One attempt at `url` by a worker with `options`: its outcome and the stored error.
async fn one_attempt(url: &str, options: DeliveryOptions) -> (Outcome, Option<String>) {
    let app = app(1).await;
    let sub = subscribe(&app.store, url, &["leadership"]).await;
    schedule::enqueue_due(&app.store, &app.state, Some(TENANT), as_of(), Utc::now())
        .await
        .unwrap();
    let worker = Worker::new(app.store.clone(), options).unwrap();
    let outcomes = worker.deliver_due().await.unwrap();
    assert_eq!(outcomes.len(), 1, "{url}: {outcomes:?}");
    let rows = app
        .store
        .deliveries(TENANT, &sub.subscription_id, 1)
        .await
        .unwrap();
    (outcomes[0], rows[0].last_error.clone())
}

#[tokio::test]
async fn every_failed_post_is_recorded_as_a_class_not_as_the_error_text() {
    let closed = free_address().await;
    let (_, error) = one_attempt(&format!("http://{closed}/hook"), fast()).await;
    assert_eq!(error.as_deref(), Some("connection refused"));

    let down = Receiver::new(Duration::ZERO);
    *down.unavailable.lock().unwrap() = true;
    let (addr, server) = down.serve("127.0.0.1:0".parse().unwrap()).await;
    let (_, error) = one_attempt(&format!("http://{addr}/hook"), fast()).await;
    assert_eq!(error.as_deref(), Some("http 503"));
    // The same plain-HTTP receiver, spoken to in TLS.
    let (_, error) = one_attempt(&format!("https://{addr}/hook"), fast()).await;
    assert_eq!(error.as_deref(), Some("tls"));
    server.abort();

    let slow = Receiver::new(Duration::from_secs(5));
    let (addr, server) = slow.serve("127.0.0.1:0".parse().unwrap()).await;
    let impatient = DeliveryOptions {
        timeout: Duration::from_millis(300),
        ..fast()
    };
    let (_, error) = one_attempt(&format!("http://{addr}/hook"), impatient).await;
    assert_eq!(error.as_deref(), Some("timeout"));
    server.abort();

    let (_, error) = one_attempt("http://no-such-host.invalid/hook", fast()).await;
    assert_eq!(error.as_deref(), Some("dns: name not found"));
}

/// The worker judges for itself: a row stored before the policy, or while the flag was
/// on, is not posted inward by a strict server, whether its URL names the address or a
/// name that resolves to it (judged by the client's resolver, on the address it would
/// connect to).
#[tokio::test]
async fn a_strict_worker_posts_nothing_inward_by_literal_address_or_by_name() {
    let receiver = Receiver::new(Duration::ZERO);
    let (addr, server) = receiver.serve("127.0.0.1:0".parse().unwrap()).await;
    let strict = DeliveryOptions {
        policy: Policy::STRICT,
        ..fast()
    };
    let literal = format!("http://{addr}/hook");
    assert_eq!(
        one_attempt(&literal, strict.clone()).await,
        (Outcome::Failed, Some("blocked address".into())),
        "a literal refused address cannot change: no retry"
    );
    let named = format!("http://localhost:{}/hook", addr.port());
    assert_eq!(
        one_attempt(&named, strict).await,
        (Outcome::Retry, Some("blocked address".into())),
        "a name's addresses can change: retried"
    );
    assert!(receiver.arrivals().is_empty(), "nothing was posted");
    // Allowed, the same name resolves through the same resolver and is delivered to.
    assert_eq!(
        one_attempt(&named, fast()).await,
        (Outcome::Delivered, None)
    );
    assert_eq!(receiver.arrivals().len(), 1);
    server.abort();
}
