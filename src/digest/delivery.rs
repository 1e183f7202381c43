//! The delivery worker: posts each due outbox row to its subscription's URL, signed, and
//! retries with exponential back-off and full jitter until the receiver answers 2xx or
//! the attempts run out. Alongside it runs the scheduler, which fills the outbox.
//!
//! Delivery is at least once: a row is marked delivered only after the receiver's 2xx,
//! so a process killed between the two posts it again when its lease ends. Every post of
//! one digest carries the same `Idempotency-Key`, which is how a receiver drops the
//! repeat. See docs/WEBHOOKS.md for the wire format.
//!
//! Retry times run on the wall clock, not on a server's fixed `--as-of` day: the as-of
//! date says which period a digest is for, the clock says when to try again.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::Serialize;
use sha2::Sha256;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

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
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            // A webhook URL is the subscriber's word; following a redirect would send
            // the signed digest somewhere they did not name.
            .redirect(reqwest::redirect::Policy::none())
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
                let why = format!("the stored payload is not valid JSON: {e}");
                return self.record_failure(&c, None, &why, true).await;
            }
        };
        let timestamp = Utc::now().timestamp();
        let sent = self
            .client
            .post(&c.url)
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
                let why = format!("the receiver answered {}", response.status());
                self.record_failure(&c, Some(status), &why, false).await
            }
            Err(e) => {
                let why = Report(&e).to_string();
                self.record_failure(&c, None, &why, false).await
            }
        }
    }

    async fn record_failure(
        &self,
        c: &ClaimedDelivery,
        status: Option<u16>,
        why: &str,
        permanent: bool,
    ) -> Option<Outcome> {
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
