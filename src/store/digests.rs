//! Digest webhook subscriptions and the delivery outbox, as stored. What a subscription
//! means (audiences, schedules, periods) and how a delivery is signed and retried is the
//! digest module's business; the store keeps the rows and makes the outbox safe to work
//! from more than one process: a claim is a compare-and-set on the attempt count that
//! also moves `next_attempt_at` forward as a lease, so a row is posted by one worker at a
//! time and a worker that dies mid-post leaves it to be tried again when the lease ends.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::rows::{parse_date, timestamp};
use super::{Store, StoreError};

/// Status of an outbox row that is still to be delivered.
pub const PENDING: &str = "pending";
/// Status of an outbox row the receiver acknowledged with a 2xx.
pub const DELIVERED: &str = "delivered";
/// Status of an outbox row given up after the last attempt.
pub const FAILED: &str = "failed";

/// One webhook subscription. Lists are kept as comma-separated text in the row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Subscription {
    pub subscription_id: String,
    pub tenant_id: String,
    pub url: String,
    /// The HMAC key; never serialised, so it cannot leak through a listing.
    #[serde(skip)]
    pub secret: String,
    pub audiences: Vec<String>,
    pub schedule: String,
    pub locale: String,
    /// Only these recipients; `None` is everyone the audience has.
    pub recipients: Option<Vec<String>>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A digest to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub subscription_id: String,
    pub audience: String,
    pub recipient_id: String,
    pub period: String,
    /// The digest's as-of date: the next digest to this recipient counts changes from it.
    pub as_of: NaiveDate,
    pub idempotency_key: String,
    pub payload: String,
}

/// An outbox row as listed to a client: everything but the payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub subscription_id: String,
    pub audience: String,
    pub recipient_id: String,
    pub period: String,
    pub as_of: NaiveDate,
    pub idempotency_key: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// An outbox row a worker has claimed, with where to post it and the key to sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub tenant_id: String,
    pub delivery_id: String,
    pub subscription_id: String,
    pub period: String,
    pub idempotency_key: String,
    pub payload: String,
    /// Counting this one: 1 on the first try.
    pub attempt: i64,
    pub url: String,
    pub secret: String,
}

/// The latest delivered digest to one recipient of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastDelivered {
    pub audience: String,
    pub recipient_id: String,
    pub as_of: NaiveDate,
}

fn join_list(items: &[String]) -> String {
    items.join(",")
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn text(row: &sqlx::any::AnyRow, column: &'static str) -> Result<String, StoreError> {
    row.try_get::<String, _>(column)
        .map_err(|e| StoreError::Query(column, e))
}

fn opt_text(row: &sqlx::any::AnyRow, column: &'static str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(column)
        .map_err(|e| StoreError::Query(column, e))
}

fn int(row: &sqlx::any::AnyRow, column: &'static str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(column)
        .map_err(|e| StoreError::Query(column, e))
}

fn subscription_row(row: &sqlx::any::AnyRow) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        subscription_id: text(row, "subscription_id")?,
        tenant_id: text(row, "tenant_id")?,
        url: text(row, "url")?,
        secret: text(row, "secret")?,
        audiences: split_list(&text(row, "audiences")?),
        schedule: text(row, "schedule")?,
        locale: text(row, "locale")?,
        recipients: opt_text(row, "recipients")?.map(|r| split_list(&r)),
        active: int(row, "active")? != 0,
        created_at: text(row, "created_at")?,
        updated_at: text(row, "updated_at")?,
    })
}

fn delivery_row(row: &sqlx::any::AnyRow) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        delivery_id: text(row, "delivery_id")?,
        subscription_id: text(row, "subscription_id")?,
        audience: text(row, "audience")?,
        recipient_id: text(row, "recipient_id")?,
        period: text(row, "period")?,
        as_of: parse_date("as_of", &text(row, "as_of")?)?,
        idempotency_key: text(row, "idempotency_key")?,
        status: text(row, "status")?,
        attempts: int(row, "attempts")?,
        next_attempt_at: text(row, "next_attempt_at")?,
        last_error: opt_text(row, "last_error")?,
        last_status: row
            .try_get::<Option<i64>, _>("last_status")
            .map_err(|e| StoreError::Query("last_status", e))?,
        created_at: text(row, "created_at")?,
        delivered_at: opt_text(row, "delivered_at")?,
    })
}

const SUBSCRIPTION_COLUMNS: &str = "subscription_id, tenant_id, url, secret, audiences, \
     schedule, locale, recipients, active, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "delivery_id, subscription_id, audience, recipient_id, period, \
     as_of, idempotency_key, status, attempts, next_attempt_at, last_error, last_status, \
     created_at, delivered_at";

/// Keeps stored error texts short: a receiver's error page can be large.
fn clip(error: &str) -> String {
    const MAX: usize = 500;
    if error.len() <= MAX {
        return error.to_owned();
    }
    let mut end = MAX;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &error[..end])
}

impl Store {
    /// Stores a new subscription; its id must be new (ids are random, so a collision is
    /// a bug, never an overwrite). `created_at` and `updated_at` are set to `now`.
    pub async fn insert_subscription(
        &self,
        s: &Subscription,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = timestamp(&now);
        sqlx::query(&format!(
            "INSERT INTO digest_subscriptions ({SUBSCRIPTION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
        ))
        .bind(s.subscription_id.as_str())
        .bind(s.tenant_id.as_str())
        .bind(s.url.as_str())
        .bind(s.secret.as_str())
        .bind(join_list(&s.audiences))
        .bind(s.schedule.as_str())
        .bind(s.locale.as_str())
        .bind(s.recipients.as_deref().map(join_list))
        .bind(i64::from(s.active))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("storing a digest subscription", e))?;
        Ok(())
    }

    /// Replaces the settings of a subscription of `s.tenant_id`, secret included (the
    /// caller passes the stored one to keep it); `false` when there is no such
    /// subscription.
    pub async fn update_subscription(
        &self,
        s: &Subscription,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE digest_subscriptions SET url = $3, secret = $4, audiences = $5, \
             schedule = $6, locale = $7, recipients = $8, active = $9, updated_at = $10 \
             WHERE tenant_id = $1 AND subscription_id = $2",
        )
        .bind(s.tenant_id.as_str())
        .bind(s.subscription_id.as_str())
        .bind(s.url.as_str())
        .bind(s.secret.as_str())
        .bind(join_list(&s.audiences))
        .bind(s.schedule.as_str())
        .bind(s.locale.as_str())
        .bind(s.recipients.as_deref().map(join_list))
        .bind(i64::from(s.active))
        .bind(timestamp(&now))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("updating a digest subscription", e))?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn subscription(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM digest_subscriptions \
             WHERE tenant_id = $1 AND subscription_id = $2"
        ))
        .bind(tenant)
        .bind(subscription_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::Query("reading a digest subscription", e))?;
        row.as_ref().map(subscription_row).transpose()
    }

    /// Every subscription of a tenant, oldest first.
    pub async fn subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM digest_subscriptions WHERE tenant_id = $1 \
             ORDER BY created_at, subscription_id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("listing digest subscriptions", e))?
        .iter()
        .map(subscription_row)
        .collect()
    }

    /// Deletes a subscription and its outbox rows in one transaction, so nothing is
    /// posted to a URL its owner removed; `false` when there is no such subscription.
    pub async fn delete_subscription(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx("starting a subscription delete").await?;
        sqlx::query("DELETE FROM digest_outbox WHERE tenant_id = $1 AND subscription_id = $2")
            .bind(tenant)
            .bind(subscription_id)
            .execute(tx.conn())
            .await
            .map_err(|e| tx.failed(StoreError::Query("deleting a subscription's deliveries", e)))?;
        let done = sqlx::query(
            "DELETE FROM digest_subscriptions WHERE tenant_id = $1 AND subscription_id = $2",
        )
        .bind(tenant)
        .bind(subscription_id)
        .execute(tx.conn())
        .await
        .map_err(|e| tx.failed(StoreError::Query("deleting a digest subscription", e)))?;
        tx.commit("committing a subscription delete").await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tenants with at least one active subscription: the scheduler's round, which is
    /// the one place that looks across tenants (like [`Store::tenants`]).
    pub async fn subscribed_tenants(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT tenant_id FROM digest_subscriptions WHERE active = 1 \
             ORDER BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("listing tenants with subscriptions", e))
    }

    /// Whether the outbox of `tenant` holds a digest with this idempotency key, in any
    /// status: checked before a digest is built, so a period's second round costs a
    /// lookup, not a rendering.
    pub async fn outbox_has(
        &self,
        tenant: &str,
        idempotency_key: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT delivery_id FROM digest_outbox WHERE tenant_id = $1 AND idempotency_key = $2",
        )
        .bind(tenant)
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::Query("looking up an idempotency key", e))?;
        Ok(found.is_some())
    }

    /// Puts a digest in the outbox, due at `now`, unless one with its idempotency key is
    /// there already; `true` when it was added. The unique key, not a prior check, is
    /// what holds the cap when two schedulers race.
    pub async fn enqueue_delivery(
        &self,
        tenant: &str,
        d: &NewDelivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = timestamp(&now);
        let done = sqlx::query(
            "INSERT INTO digest_outbox (tenant_id, delivery_id, subscription_id, audience, \
             recipient_id, period, as_of, idempotency_key, payload, status, attempts, \
             next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11) \
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        )
        .bind(tenant)
        .bind(d.delivery_id.as_str())
        .bind(d.subscription_id.as_str())
        .bind(d.audience.as_str())
        .bind(d.recipient_id.as_str())
        .bind(d.period.as_str())
        .bind(d.as_of.to_string())
        .bind(d.idempotency_key.as_str())
        .bind(d.payload.as_str())
        .bind(PENDING)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("enqueueing a digest delivery", e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Tenants with pending deliveries due by `now`: the delivery worker's round.
    pub async fn tenants_with_due_deliveries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT tenant_id FROM digest_outbox \
             WHERE status = $1 AND next_attempt_at <= $2 ORDER BY tenant_id",
        )
        .bind(PENDING)
        .bind(timestamp(&now))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("listing tenants with due deliveries", e))
    }

    /// Claims up to `limit` pending deliveries of `tenant` due by `now`, oldest due first.
    /// Each claim counts an attempt and moves `next_attempt_at` to `lease_until`, in one
    /// conditional update on the attempt count read: of two workers reading the same row,
    /// one claims it, and a worker killed mid-post leaves it due again at `lease_until`.
    pub async fn claim_deliveries(
        &self,
        tenant: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.delivery_id, o.subscription_id, o.period, o.idempotency_key, \
             o.payload, o.attempts, s.url, s.secret \
             FROM digest_outbox o JOIN digest_subscriptions s \
             ON s.tenant_id = o.tenant_id AND s.subscription_id = o.subscription_id \
             WHERE o.tenant_id = $1 AND o.status = $2 AND o.next_attempt_at <= $3 \
             ORDER BY o.next_attempt_at, o.delivery_id LIMIT $4",
        )
        .bind(tenant)
        .bind(PENDING)
        .bind(timestamp(&now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("reading due deliveries", e))?;
        let lease = timestamp(&lease_until);
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let delivery_id = text(row, "delivery_id")?;
            let attempts = int(row, "attempts")?;
            let done = sqlx::query(
                "UPDATE digest_outbox SET attempts = attempts + 1, next_attempt_at = $4 \
                 WHERE tenant_id = $1 AND delivery_id = $2 AND status = $5 AND attempts = $3",
            )
            .bind(tenant)
            .bind(delivery_id.as_str())
            .bind(attempts)
            .bind(lease.as_str())
            .bind(PENDING)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Query("claiming a delivery", e))?;
            if done.rows_affected() == 0 {
                continue; // another worker claimed it between the read and the update
            }
            claimed.push(ClaimedDelivery {
                tenant_id: tenant.to_owned(),
                delivery_id,
                subscription_id: text(row, "subscription_id")?,
                period: text(row, "period")?,
                idempotency_key: text(row, "idempotency_key")?,
                payload: text(row, "payload")?,
                attempt: attempts + 1,
                url: text(row, "url")?,
                secret: text(row, "secret")?,
            });
        }
        Ok(claimed)
    }

    /// The receiver acknowledged the delivery. Wins over any other status: if a retry
    /// was given up while a slow first post got through, the receiver has it.
    pub async fn mark_delivered(
        &self,
        tenant: &str,
        delivery_id: &str,
        status_code: u16,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE digest_outbox SET status = $3, last_status = $4, last_error = NULL, \
             delivered_at = $5 WHERE tenant_id = $1 AND delivery_id = $2 AND status <> $3",
        )
        .bind(tenant)
        .bind(delivery_id)
        .bind(DELIVERED)
        .bind(i64::from(status_code))
        .bind(timestamp(&now))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("marking a delivery delivered", e))?;
        Ok(())
    }

    /// The attempt `attempt` failed: due again at `next_attempt_at`. Only the holder of
    /// that attempt's claim may reschedule it; a stale worker's result is dropped.
    pub async fn mark_retry(
        &self,
        tenant: &str,
        delivery_id: &str,
        attempt: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        status_code: Option<u16>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE digest_outbox SET next_attempt_at = $4, last_error = $5, last_status = $6 \
             WHERE tenant_id = $1 AND delivery_id = $2 AND attempts = $3 AND status = $7",
        )
        .bind(tenant)
        .bind(delivery_id)
        .bind(attempt)
        .bind(timestamp(&next_attempt_at))
        .bind(clip(error))
        .bind(status_code.map(i64::from))
        .bind(PENDING)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("rescheduling a delivery", e))?;
        Ok(())
    }

    /// The last attempt failed: given up. Guarded like [`Store::mark_retry`].
    pub async fn mark_failed(
        &self,
        tenant: &str,
        delivery_id: &str,
        attempt: i64,
        error: &str,
        status_code: Option<u16>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE digest_outbox SET status = $4, last_error = $5, last_status = $6 \
             WHERE tenant_id = $1 AND delivery_id = $2 AND attempts = $3 AND status = $7",
        )
        .bind(tenant)
        .bind(delivery_id)
        .bind(attempt)
        .bind(FAILED)
        .bind(clip(error))
        .bind(status_code.map(i64::from))
        .bind(PENDING)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("marking a delivery failed", e))?;
        Ok(())
    }

    /// The outbox rows of one subscription, newest first, without payloads.
    pub async fn deliveries(
        &self,
        tenant: &str,
        subscription_id: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM digest_outbox \
             WHERE tenant_id = $1 AND subscription_id = $2 \
             ORDER BY created_at DESC, delivery_id LIMIT $3"
        ))
        .bind(tenant)
        .bind(subscription_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("listing deliveries", e))?
        .iter()
        .map(delivery_row)
        .collect()
    }

    /// For each (audience, recipient) of a subscription, the as-of date of the latest
    /// digest delivered to it: where the next digest counts changes from.
    pub async fn last_delivered(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> Result<Vec<LastDelivered>, StoreError> {
        let rows = sqlx::query(
            "SELECT audience, recipient_id, MAX(as_of) AS as_of FROM digest_outbox \
             WHERE tenant_id = $1 AND subscription_id = $2 AND status = $3 \
             GROUP BY audience, recipient_id",
        )
        .bind(tenant)
        .bind(subscription_id)
        .bind(DELIVERED)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("reading the last delivered digests", e))?;
        rows.iter()
            .map(|row| {
                Ok(LastDelivered {
                    audience: text(row, "audience")?,
                    recipient_id: text(row, "recipient_id")?,
                    as_of: parse_date("as_of", &text(row, "as_of")?)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_through_comma_text() {
        let items = vec!["partner".to_owned(), "manager".to_owned()];
        assert_eq!(split_list(&join_list(&items)), items);
        assert!(split_list("").is_empty());
        assert_eq!(split_list(" a , ,b"), vec!["a", "b"]);
    }

    #[test]
    fn long_errors_are_clipped_on_a_char_boundary() {
        let long = "é".repeat(400);
        let clipped = clip(&long);
        assert!(clipped.len() <= 504);
        assert!(clipped.ends_with('…'));
    }
}
