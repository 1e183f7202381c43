//! When digests go out: each subscription is weekly or monthly, and each round puts one
//! digest per audience and recipient for the current period in the outbox.
//!
//! The cap (no more than one digest per audience per recipient per period, which keeps
//! automated outreach clear of the 0.3% spam-complaint line of DOMAIN.md) is not a
//! counter in memory: it is the outbox's unique idempotency key, derived from the tenant,
//! subscription, audience, recipient and period. A second round in the same period, a
//! restart, or a second replica finds the key and adds nothing.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{Audience, DigestError, DigestSource, LEADERSHIP_ID};
use crate::store::{NewDelivery, Store, Subscription};

/// How often a subscription's digests go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Once per ISO week (Monday to Sunday).
    Weekly,
    /// Once per calendar month.
    Monthly,
}

impl Schedule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "weekly" => Some(Self::Weekly),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }

    /// The period `as_of` falls in: `2026-W48` (ISO week, whose year may differ from the
    /// calendar year around New Year) or `2026-11`. One digest per recipient per period.
    pub fn period(self, as_of: NaiveDate) -> String {
        match self {
            Self::Weekly => {
                let week = as_of.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Self::Monthly => format!("{}-{:02}", as_of.year(), as_of.month()),
        }
    }
}

/// The idempotency key of one digest: hex SHA-256 over the fields that make it unique,
/// newline-separated (ids cannot hold a newline, so no two tuples share a key).
pub fn idempotency_key(
    tenant: &str,
    subscription_id: &str,
    audience: Audience,
    recipient_id: &str,
    period: &str,
) -> String {
    let mut hash = Sha256::new();
    for part in [
        tenant,
        subscription_id,
        audience.as_str(),
        recipient_id,
        period,
    ] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScheduleReport {
    /// Digests put in the outbox.
    pub enqueued: usize,
    /// Recipients who already have this period's digest (sent or on its way).
    pub already_sent_this_period: usize,
    /// Digests that could not be built (logged); the next round tries again.
    pub failed: usize,
}

impl ScheduleReport {
    fn add(&mut self, other: Self) {
        self.enqueued += other.enqueued;
        self.already_sent_this_period += other.already_sent_this_period;
        self.failed += other.failed;
    }
}

/// One round over the active subscriptions of `tenant` (every tenant when `None`):
/// builds and enqueues each digest of the period of `as_of` that is not in the outbox
/// yet. A digest that cannot be built is logged and counted, not fatal, so one bad
/// recipient does not hold up the rest.
///
/// # Errors
/// [`DigestError::Store`] when the subscriptions cannot be read.
pub async fn enqueue_due(
    store: &Store,
    source: &impl DigestSource,
    tenant: Option<&str>,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<ScheduleReport, DigestError> {
    let tenants = match tenant {
        Some(t) => vec![t.to_owned()],
        None => store.subscribed_tenants().await?,
    };
    let mut report = ScheduleReport::default();
    for tenant in &tenants {
        for subscription in store.subscriptions(tenant).await? {
            if subscription.active {
                report.add(enqueue_subscription(store, source, &subscription, as_of, now).await?);
            }
        }
    }
    Ok(report)
}

/// Enqueues this period's digests of one subscription (active or not: `POST
/// /v1/subscriptions/{id}/send` asks for it explicitly), respecting the cap.
///
/// # Errors
/// [`DigestError::Store`] when the outbox cannot be read or written. A subscription
/// whose stored schedule is not valid enqueues nothing and is logged.
pub async fn enqueue_subscription(
    store: &Store,
    source: &impl DigestSource,
    subscription: &Subscription,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<ScheduleReport, DigestError> {
    let tenant = subscription.tenant_id.as_str();
    let subscription_id = subscription.subscription_id.as_str();
    let Some(schedule) = Schedule::parse(&subscription.schedule) else {
        tracing::warn!(tenant, subscription_id, schedule = %subscription.schedule, "subscription has an unknown schedule; skipped");
        return Ok(ScheduleReport::default());
    };
    let period = schedule.period(as_of);
    let last: HashMap<(String, String), NaiveDate> = store
        .last_delivered(tenant, subscription_id)
        .await?
        .into_iter()
        .map(|l| ((l.audience, l.recipient_id), l.as_of))
        .collect();
    let mut report = ScheduleReport::default();
    for raw in &subscription.audiences {
        let Ok(audience) = Audience::parse(raw) else {
            tracing::warn!(tenant, subscription_id, audience = %raw, "subscription has an unknown audience; skipped");
            continue;
        };
        let recipients = match source.recipients(tenant, audience).await {
            Ok(recipients) => recipients,
            Err(e) => {
                tracing::warn!(tenant, subscription_id, audience = audience.as_str(), error = %crate::report::Report(&e), "could not list the recipients; skipped this round");
                report.failed += 1;
                continue;
            }
        };
        for recipient in recipients
            .iter()
            .filter(|r| wanted(subscription, audience, r))
        {
            let key = idempotency_key(tenant, subscription_id, audience, recipient, &period);
            if store.outbox_has(tenant, &key).await? {
                report.already_sent_this_period += 1;
                continue;
            }
            let since = last
                .get(&(audience.as_str().to_owned(), recipient.clone()))
                .copied();
            let digest = match source
                .digest(
                    tenant,
                    audience,
                    recipient,
                    as_of,
                    since,
                    &subscription.locale,
                )
                .await
            {
                Ok(digest) => digest,
                Err(e) => {
                    tracing::warn!(tenant, subscription_id, audience = audience.as_str(), recipient_id = %recipient, error = %crate::report::Report(&e), "could not build a digest; skipped");
                    report.failed += 1;
                    continue;
                }
            };
            let payload = serde_json::to_string(&digest).map_err(DigestError::Serialise)?;
            let delivery = NewDelivery {
                delivery_id: format!("dlv_{}", uuid::Uuid::new_v4().simple()),
                subscription_id: subscription_id.to_owned(),
                audience: audience.as_str().to_owned(),
                recipient_id: recipient.clone(),
                period: period.clone(),
                as_of,
                idempotency_key: key,
                payload,
            };
            if store.enqueue_delivery(tenant, &delivery, now).await? {
                tracing::info!(tenant, subscription_id, audience = audience.as_str(), recipient_id = %recipient, period = %period, delivery_id = %delivery.delivery_id, "digest enqueued");
                report.enqueued += 1;
            } else {
                report.already_sent_this_period += 1;
            }
        }
    }
    Ok(report)
}

/// Whether the subscription's recipient list lets `recipient` through. The leadership
/// digest has one recipient, the tenant, and is not filtered.
fn wanted(subscription: &Subscription, audience: Audience, recipient: &str) -> bool {
    match (&subscription.recipients, audience) {
        (_, Audience::Leadership) => recipient == LEADERSHIP_ID,
        (None, _) => true,
        (Some(list), _) => list.iter().any(|r| r == recipient),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_are_iso_weeks_and_calendar_months() {
        assert_eq!(Schedule::Weekly.period(date(2026, 11, 26)), "2026-W48");
        assert_eq!(Schedule::Monthly.period(date(2026, 11, 26)), "2026-11");
        // 1 January 2027 is a Friday: still in the last ISO week of 2026.
        assert_eq!(Schedule::Weekly.period(date(2027, 1, 1)), "2026-W53");
        assert_eq!(Schedule::Weekly.period(date(2026, 1, 5)), "2026-W02");
    }

    #[test]
    fn a_monday_and_the_sunday_before_are_different_weeks() {
        assert_ne!(
            Schedule::Weekly.period(date(2026, 11, 22)),
            Schedule::Weekly.period(date(2026, 11, 23))
        );
    }

    #[test]
    fn idempotency_keys_differ_in_every_field_and_are_stable() {
        let base = idempotency_key("t", "s", Audience::Partner, "p1", "2026-W48");
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            idempotency_key("t", "s", Audience::Partner, "p1", "2026-W48")
        );
        for other in [
            idempotency_key("u", "s", Audience::Partner, "p1", "2026-W48"),
            idempotency_key("t", "s2", Audience::Partner, "p1", "2026-W48"),
            idempotency_key("t", "s", Audience::Manager, "p1", "2026-W48"),
            idempotency_key("t", "s", Audience::Partner, "p2", "2026-W48"),
            idempotency_key("t", "s", Audience::Partner, "p1", "2026-W49"),
            // The separator keeps ("ab", "c") and ("a", "bc") apart.
            idempotency_key("t", "s", Audience::Partner, "p", "12026-W48"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn schedules_parse_only_known_values() {
        assert_eq!(Schedule::parse("weekly"), Some(Schedule::Weekly));
        assert_eq!(Schedule::parse("monthly"), Some(Schedule::Monthly));
        assert_eq!(Schedule::parse("daily"), None);
    }

    #[test]
    fn the_recipient_list_filters_partners_and_managers_but_not_leadership() {
        let mut s = Subscription {
            subscription_id: "s".into(),
            tenant_id: "t".into(),
            url: "http://x".into(),
            secret: "k".into(),
            audiences: vec!["partner".into()],
            schedule: "weekly".into(),
            locale: "en".into(),
            recipients: None,
            active: true,
            created_at: String::new(),
            updated_at: String::new(),
        };
        assert!(wanted(&s, Audience::Partner, "p1"));
        s.recipients = Some(vec!["p2".into()]);
        assert!(!wanted(&s, Audience::Partner, "p1"));
        assert!(wanted(&s, Audience::Partner, "p2"));
        assert!(wanted(&s, Audience::Leadership, LEADERSHIP_ID));
    }
}
