//! The delivery worker: posts each due outbox row to its subscription's URL, signed, and
//! retries with exponential back-off and full jitter until the receiver answers 2xx or
//! the attempts run out. Alongside it runs the scheduler, which fills the outbox.
//!
//! Delivery is at least once: a row is marked delivered only after the receiver's 2xx,
//! so a process killed between the two posts it again when its lease ends. Every post of
//! one digest carries the same `Idempotency-Key`, which is how a receiver drops the
//! repeat. See docs/WEBHOOKS.md for the wire format.
//!
//! Where a post may go is the address policy's call ([`super::outbound`]): a URL is judged
//! again before each post (the flag may have changed since it was subscribed), and the
//! client's resolver judges every address a name resolves to, so the address connected to
//! is the one checked. What a failed attempt records, and the API shows, is a [`Failure`]
//! class, never the client's error text, which would say which inner ports answer; the
//! text is logged.
//!
//! Retry times run on the wall clock, not on a server's fixed `--as-of` day: the as-of
//! date says which period a digest is for, the clock says when to try again.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::Serialize;
use sha2::Sha256;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::outbound::Policy;
use super::resolver::{GuardedResolver, LookupError, LOOKUP_TIMEOUT};
use super::schedule::{self, ScheduleReport};
use super::DigestSource;
use crate::report::Report;
use crate::store::{ClaimedDelivery, Store, StoreError};

/// The header carrying the digest's idempotency key, the same on every attempt.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The header carrying the signing time, in Unix seconds.
pub const TIMESTAMP: &str = "Nextbest-Timestamp";
/// The header carrying `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE: &str = "Nextbest-Signature";

/// How the worker and the scheduler pace themselves. The defaults suit production;
/// tests shrink them to milliseconds.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// How often the outbox is checked for due deliveries.
    pub poll: Duration,
    /// How often the scheduler enqueues the current period's digests.
    pub schedule_every: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// The ceiling of the first retry's delay; it doubles per attempt.
    pub backoff_base: Duration,
    /// The largest ceiling a retry's delay is drawn under.
    pub backoff_cap: Duration,
    /// How long one post may take (connect to last byte).
    pub timeout: Duration,
    /// Deliveries claimed and posted at once, per tenant and round.
    pub batch: usize,
    /// Which addresses a post may connect to; strict by default.
    pub policy: Policy,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            schedule_every: Duration::from_secs(3600),
            max_attempts: 8,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            batch: 16,
            policy: Policy::default(),
        }
    }
}

impl DeliveryOptions {
    /// How long a claim holds a row: longer than a post can take, so a live worker is
    /// never overtaken, and short, so a dead one's rows are soon tried again.
    pub fn lease(&self) -> Duration {
        (self.timeout * 2).max(Duration::from_secs(1))
    }
}

#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error("could not build the webhook HTTP client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It did not; another attempt is scheduled.
    Retry,
    /// It did not, and that was the last attempt.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Failed => "failed",
        }
    }
}

/// Why an attempt failed, as stored in the outbox and shown by the API: one of a few
/// fixed words, so that a caller learns whether the receiver is reachable and nothing
/// about the network around the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer within `--delivery-timeout`.
    Timeout,
    ConnectionRefused,
    /// The host does not resolve.
    DnsNotFound,
    /// The lookup did not finish in time.
    DnsFailed,
    /// The host, or every address it resolves to, is refused by the policy.
    BlockedAddress,
    /// The URL is refused by its form (credentials, scheme), or does not parse.
    BlockedUrl,
    /// The TLS handshake failed: a bad certificate, or no TLS on the other end.
    Tls,
    /// The receiver answered with a status other than 2xx.
    Status(u16),
    /// The connection failed another way (reset, unreachable).
    ConnectFailed,
    /// Sending the request or reading the answer failed after connecting.
    RequestFailed,
    /// The stored payload is not JSON (a bug or a damaged row; retrying cannot help).
    InvalidPayload,
}

impl Failure {
    /// The class of a failed post, from the error's chain: the resolver's own errors, the
    /// socket's, rustls's, then what reqwest itself says.
    pub fn of(e: &reqwest::Error) -> Self {
        let mut eof = false;
        for err in causes(e) {
            if let Some(lookup) = err.downcast_ref::<LookupError>() {
                return match lookup {
                    LookupError::Refused(r) if r.is_address() => Self::BlockedAddress,
                    LookupError::Refused(_) => Self::BlockedUrl,
                    LookupError::NotFound { .. } => Self::DnsNotFound,
                    LookupError::TimedOut { .. } => Self::DnsFailed,
                };
            }
            if err.is::<rustls::Error>() {
                return Self::Tls;
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return Self::ConnectionRefused,
                    std::io::ErrorKind::TimedOut => return Self::Timeout,
                    std::io::ErrorKind::UnexpectedEof => eof = true,
                    _ => {}
                }
            }
        }
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() && eof {
            // TCP connects without reading, so a connect that met an early end of stream
            // met it in the TLS handshake (rustls's "tls handshake eof").
            Self::Tls
        } else if e.is_connect() {
            Self::ConnectFailed
        } else {
            Self::RequestFailed
        }
    }

    /// The words for a stored `last_error`: the class it is, or, for text stored before
    /// errors were classified, `request failed`, so no old raw error is shown either.
    pub fn shown(stored: &str) -> String {
        let known = [
            Self::Timeout,
            Self::ConnectionRefused,
            Self::DnsNotFound,
            Self::DnsFailed,
            Self::BlockedAddress,
            Self::BlockedUrl,
            Self::Tls,
            Self::ConnectFailed,
            Self::RequestFailed,
            Self::InvalidPayload,
        ];
        let status = stored
            .strip_prefix("http ")
            .is_some_and(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()));
        if status || known.iter().any(|k| k.to_string() == stored) {
            stored.to_owned()
        } else {
            Self::RequestFailed.to_string()
        }
    }
}

/// `e` and its causes. An `io::Error` that wraps another error hides it from `source()`
/// (it passes on the inner error's source instead), so the walk steps into it; the TLS
/// stack wraps its errors twice that way.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |err| {
        match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        }
    })
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self {
            Self::Timeout => "timeout",
            Self::ConnectionRefused => "connection refused",
            Self::DnsNotFound => "dns: name not found",
            Self::DnsFailed => "dns: lookup failed",
            Self::BlockedAddress => "blocked address",
            Self::BlockedUrl => "blocked url",
            Self::Tls => "tls",
            Self::Status(code) => return write!(f, "http {code}"),
            Self::ConnectFailed => "connect failed",
            Self::RequestFailed => "request failed",
            Self::InvalidPayload => "invalid payload",
        };
        f.write_str(words)
    }
}

/// Told of every attempt and every scheduling round, so the server can count them in
/// `/metrics` without the digest module knowing of Prometheus.
pub trait DeliveryObserver: Send + Sync {
    fn delivery(&self, outcome: Outcome);
    fn scheduled(&self, report: &ScheduleReport);
}

impl DeliveryObserver for () {
    fn delivery(&self, _: Outcome) {}
    fn scheduled(&self, _: &ScheduleReport) {}
}

/// The largest delay after failed attempt number `attempt` (1-based):
/// `min(cap, base × 2^(attempt-1))`.
pub fn backoff_ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    base.saturating_mul(1_u32 << doublings).min(cap)
}

/// The delay before the next try after failed attempt `attempt`: drawn uniformly from
/// zero to [`backoff_ceiling`] ("full jitter"), so receivers that come back are not hit
/// by every sender at the same instant.
pub fn next_delay(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(attempt, base, cap);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=millis))
}

/// The `Nextbest-Signature` value for `body` signed at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(hmac(secret, timestamp, body))
    )
}

fn hmac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The body of a post: the stored digest and where it stands in delivery.
#[derive(Serialize)]
struct Envelope<'a> {
    delivery_id: &'a str,
    idempotency_key: &'a str,
    subscription_id: &'a str,
    period: &'a str,
    attempt: i64,
    digest: serde_json::Value,
}

fn envelope(c: &ClaimedDelivery) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Envelope {
        delivery_id: &c.delivery_id,
        idempotency_key: &c.idempotency_key,
        subscription_id: &c.subscription_id,
        period: &c.period,
        attempt: c.attempt,
        digest: serde_json::from_str(&c.payload)?,
    })
}

/// Posts due deliveries; cheap to clone (the store and the HTTP client are shared).
#[derive(Clone)]
pub struct Worker {
    store: Store,
    client: reqwest::Client,
    options: DeliveryOptions,
}

impl Worker {
    /// # Errors
    /// [`DeliveryError::Client`] when the TLS back end cannot be set up.
    pub fn new(store: Store, options: DeliveryOptions) -> Result<Self, DeliveryError> {
        let resolver = GuardedResolver::new(options.policy, LOOKUP_TIMEOUT.min(options.timeout));
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            // A webhook URL is the subscriber's word; following a redirect would send
            // the signed digest somewhere they did not name, unchecked.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver))
            // Through a proxy, the resolver would judge the proxy's address and the proxy
            // would connect wherever the URL says: the check would be void.
            .no_proxy()
            .user_agent(concat!("nextbest-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(DeliveryError::Client)?;
        Ok(Self {
            store,
            client,
            options,
        })
    }

    /// One round: claims what is due in every tenant and posts it, a batch at a time,
    /// concurrently within a batch. Returns each attempt's outcome.
    ///
    /// # Errors
    /// [`DeliveryError::Store`] when the outbox cannot be read; an attempt whose result
    /// cannot be stored is logged, and its lease makes it due again.
    pub async fn deliver_due(&self) -> Result<Vec<Outcome>, DeliveryError> {
        let now = Utc::now();
        let lease_until = now + self.options.lease();
        let mut outcomes = Vec::new();
        for tenant in self.store.tenants_with_due_deliveries(now).await? {
            let claimed = self
                .store
                .claim_deliveries(&tenant, now, lease_until, self.options.batch.max(1))
                .await?;
            let mut posts = JoinSet::new();
            for delivery in claimed {
                let worker = self.clone();
                posts.spawn(async move { worker.attempt(delivery).await });
            }
            while let Some(done) = posts.join_next().await {
                match done {
                    Ok(Some(outcome)) => outcomes.push(outcome),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "a delivery task failed"),
                }
            }
        }
        Ok(outcomes)
    }

    /// Posts one claimed delivery and records the result; `None` when the result could
    /// not be stored (logged; the lease brings the row back).
    async fn attempt(&self, c: ClaimedDelivery) -> Option<Outcome> {
        let body = match envelope(&c) {
            Ok(body) => body,
            Err(e) => {
                // A payload that is not JSON never will be: retrying cannot help.
                tracing::warn!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, error = %e, "the stored digest is not valid JSON");
                return self
                    .record_failure(&c, None, Failure::InvalidPayload, true)
                    .await;
            }
        };
        // Judged again here, not only when subscribed: the flag may be off now, and a row
        // may predate the policy. A literal address is judged only here (the resolver is
        // not asked about one); a name's addresses are judged by the resolver.
        let url = match reqwest::Url::parse(&c.url) {
            Ok(url) => url,
            Err(e) => {
                tracing::warn!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, error = %e, "the stored webhook URL does not parse");
                return self
                    .record_failure(&c, None, Failure::BlockedUrl, true)
                    .await;
            }
        };
        if let Err(refusal) = self.options.policy.check_url(&url) {
            tracing::warn!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, error = %refusal, "webhook post refused by the address policy");
            let failure = if refusal.is_address() {
                Failure::BlockedAddress
            } else {
                Failure::BlockedUrl
            };
            return self.record_failure(&c, None, failure, true).await;
        }
        let timestamp = Utc::now().timestamp();
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, &c.idempotency_key)
            .header(TIMESTAMP, timestamp.to_string())
            .header(SIGNATURE, signature(&c.secret, timestamp, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                let status = response.status().as_u16();
                match self
                    .store
                    .mark_delivered(&c.tenant_id, &c.delivery_id, status, Utc::now())
                    .await
                {
                    Ok(()) => {
                        tracing::info!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, attempt = c.attempt, status, "digest delivered");
                        Some(Outcome::Delivered)
                    }
                    Err(e) => {
                        tracing::error!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, error = %Report(&e), "delivered, but could not record it; it will be sent again with the same key");
                        None
                    }
                }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                self.record_failure(&c, Some(status), Failure::Status(status), false)
                    .await
            }
            Err(e) => {
                let failure = Failure::of(&e);
                tracing::warn!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, attempt = c.attempt, failure = %failure, error = %Report(&e), "webhook post failed");
                self.record_failure(&c, None, failure, false).await
            }
        }
    }

    async fn record_failure(
        &self,
        c: &ClaimedDelivery,
        status: Option<u16>,
        failure: Failure,
        permanent: bool,
    ) -> Option<Outcome> {
        let why = failure.to_string();
        let why = why.as_str();
        let attempt = u32::try_from(c.attempt).unwrap_or(u32::MAX);
        let last = permanent || attempt >= self.options.max_attempts;
        let stored = if last {
            self.store
                .mark_failed(&c.tenant_id, &c.delivery_id, c.attempt, why, status)
                .await
        } else {
            let delay = next_delay(
                attempt,
                self.options.backoff_base,
                self.options.backoff_cap,
                &mut rand::rng(),
            );
            let at = Utc::now() + delay;
            self.store
                .mark_retry(&c.tenant_id, &c.delivery_id, c.attempt, at, why, status)
                .await
        };
        if let Err(e) = stored {
            tracing::error!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, error = %Report(&e), "could not record a failed attempt; the lease brings it back");
            return None;
        }
        if last {
            tracing::warn!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, attempt = c.attempt, status, error = why, "digest delivery failed for good");
            Some(Outcome::Failed)
        } else {
            tracing::info!(tenant = %c.tenant_id, delivery_id = %c.delivery_id, attempt = c.attempt, status, error = why, "digest delivery will be retried");
            Some(Outcome::Retry)
        }
    }
}

/// The lease one replica holds while it schedules digests.
const SCHEDULER_LEASE: &str = "digest-scheduler";

/// Runs the scheduler (every `schedule_every`) and the worker (every `poll`) until
/// `shutdown` turns true or its sender is dropped. A round in progress is finished
/// first: a post in flight ends within `timeout`, and its result is recorded.
///
/// `as_of` gives the date whose period the scheduler fills (the server's as-of date).
pub async fn run<S, O>(
    store: Store,
    source: S,
    observer: O,
    options: DeliveryOptions,
    as_of: impl Fn() -> NaiveDate + Send + Sync,
    shutdown: watch::Receiver<bool>,
) -> Result<(), DeliveryError>
where
    S: DigestSource,
    O: DeliveryObserver,
{
    let worker = Worker::new(store.clone(), options.clone()).inspect_err(|e| {
        tracing::error!(error = %Report(e), "digest delivery is off: the worker could not start");
    })?;
    let scheduler = async {
        let mut stop = shutdown.clone();
        let mut every =
            tokio::time::interval(options.schedule_every.max(Duration::from_millis(10)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                _ = every.tick() => {
                    // One replica schedules; the others find its lease and skip the
                    // round (the outbox's keys would refuse their digests anyway, after
                    // composing them). A replica that dies leaves the lease to lapse.
                    let now = Utc::now();
                    let hold = chrono::Duration::from_std(options.schedule_every.saturating_mul(3) / 2)
                        .unwrap_or_else(|_| chrono::Duration::hours(1));
                    match store.take_lease(SCHEDULER_LEASE, now, now + hold).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::debug!("another replica holds the digest scheduler's lease; skipping this round");
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %Report(&e), "could not take the digest scheduler's lease; next round retries");
                            continue;
                        }
                    }
                    // A round may build many digests; it is cut short on shutdown, which
                    // is safe: each digest is enqueued in one statement, by its key, and
                    // the next round picks up where this one stopped.
                    let round = schedule::enqueue_due(&store, &source, None, as_of(), Utc::now());
                    let result = tokio::select! {
                        result = round => result,
                        _ = stop.changed() => break,
                    };
                    match result {
                        Ok(report) => {
                            if report != ScheduleReport::default() {
                                tracing::info!(enqueued = report.enqueued, already_sent = report.already_sent_this_period, failed = report.failed, "digest schedule round");
                            }
                            observer.scheduled(&report);
                        }
                        Err(e) => tracing::warn!(error = %Report(&e), "digest schedule round failed; next round retries"),
                    }
                }
            }
        }
    };
    let delivery = async {
        let mut stop = shutdown.clone();
        let mut every = tokio::time::interval(options.poll.max(Duration::from_millis(10)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                // Posts in flight are finished, not dropped: their results are recorded.
                _ = every.tick() => match worker.deliver_due().await {
                    Ok(outcomes) => {
                        // A full batch suggests a backlog: go again now, not a poll later.
                        if outcomes.len() >= options.batch.max(1) {
                            every.reset_immediately();
                        }
                        outcomes.into_iter().for_each(|o| observer.delivery(o));
                    }
                    Err(e) => tracing::warn!(error = %Report(&e), "digest delivery round failed; next round retries"),
                },
            }
        }
    };
    tokio::join!(scheduler, delivery);
    if let Err(e) = store.release_lease(SCHEDULER_LEASE).await {
        tracing::warn!(error = %Report(&e), "could not release the digest scheduler's lease; it lapses by itself");
    }
    tracing::info!("digest scheduler and delivery worker stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_ceiling_doubles_per_attempt_up_to_the_cap() {
        let (base, cap) = (S(30), S(3600));
        let ceilings: Vec<u64> = (1..=9)
            .map(|a| backoff_ceiling(a, base, cap).as_secs())
            .collect();
        assert_eq!(ceilings, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_the_cap() {
        assert_eq!(backoff_ceiling(u32::MAX, S(30), S(3600)), S(3600));
        assert_eq!(backoff_ceiling(0, S(30), S(3600)), S(30));
    }

    #[test]
    fn delays_are_jittered_between_zero_and_the_ceiling() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..2000)
            .map(|_| next_delay(4, S(30), S(3600), &mut rng))
            .collect();
        assert!(delays.iter().all(|d| *d <= S(240)));
        let mean = delays.iter().map(Duration::as_secs_f64).sum::<f64>() / 2000.0;
        // Uniform on [0, 240]: mean 120, standard error of the mean about 1.6.
        assert!((110.0..130.0).contains(&mean), "mean delay {mean}");
        assert!(delays.iter().any(|d| *d < S(24)), "no short delays drawn");
        assert!(delays.iter().any(|d| *d > S(216)), "no long delays drawn");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value from Python:
        // hmac.new(b"whsec", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            signature("whsec", 1_700_000_000, b"{}"),
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
    }

    /// Rows written before errors were classified hold the client's text, which named
    /// inner addresses and said which ports answer; the listing must not show it.
    #[test]
    fn stored_errors_are_shown_only_as_a_known_class() {
        for known in ["connection refused", "http 503", "tls", "blocked address"] {
            assert_eq!(Failure::shown(known), known);
        }
        for raw in [
            "error sending request for url (http://10.0.0.5:6379/): client error (Connect): \
             tcp connect error: Connection refused (os error 111)",
            "the receiver answered 503 Service Unavailable",
            "http 5033",
            "http abc",
        ] {
            assert_eq!(Failure::shown(raw), "request failed", "{raw}");
        }
        assert_eq!(Failure::Status(302).to_string(), "http 302");
    }

    #[test]
    fn the_envelope_carries_the_digest_and_where_it_stands() {
        let c = ClaimedDelivery {
            tenant_id: "t".into(),
            delivery_id: "dlv_1".into(),
            subscription_id: "sub_1".into(),
            period: "2026-W48".into(),
            idempotency_key: "k".into(),
            payload: r#"{"subject":"hi"}"#.into(),
            attempt: 3,
            url: "http://x".into(),
            secret: "s".into(),
        };
        let body: serde_json::Value = serde_json::from_slice(&envelope(&c).unwrap()).unwrap();
        assert_eq!(body["attempt"], 3);
        assert_eq!(body["idempotency_key"], "k");
        assert_eq!(body["digest"]["subject"], "hi");
        let broken = ClaimedDelivery {
            payload: "not json".into(),
            ..c
        };
        assert!(envelope(&broken).is_err());
    }
}
