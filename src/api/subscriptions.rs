//! Webhook subscriptions for digests: where a tenant's digests are posted, for which
//! audiences, how often, in which locale; the deliveries of each; and sending the current
//! period's digests now. The signing secret is shown once, when the subscription is
//! created, and never again. Delivery itself runs in the background (`digest::delivery`).
//!
//! A URL is held to the address policy (`digest::outbound`) before anything is stored:
//! its form, and every address its host resolves to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Scope};
use super::error::{ApiError, ProblemBody};
use super::extract::{bounded, path_id, JsonBody, Query};
use super::state::AppState;
use crate::digest::delivery::{DeliveryObserver, Failure, Outcome};
use crate::digest::outbound::Policy;
use crate::digest::resolver::{self, LOOKUP_TIMEOUT};
use crate::digest::schedule::{self, Schedule, ScheduleReport};
use crate::digest::{Audience, DigestError};
use crate::domain::Id;
use crate::store::{Delivery, Subscription};

/// A subscription as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    /// Where digests are posted: an http or https URL without credentials, whose host is
    /// (and resolves only to) public addresses unless the server allows private networks.
    pub url: String,
    /// The HMAC-SHA256 signing key, 16 to 256 characters. Generated when omitted on
    /// creation; on replacement, omitted keeps the current one and a value rotates it.
    pub secret: Option<String>,
    /// Any of partner, manager, leadership.
    pub audiences: Vec<String>,
    /// weekly (ISO week) or monthly.
    pub schedule: String,
    /// en (default), de, fr, es, it, nl or pt.
    pub locale: Option<String>,
    /// Only these partner or manager ids; omitted, every recipient of each audience.
    pub recipients: Option<Vec<String>>,
    /// Default true; an inactive subscription is not scheduled but can still be sent.
    pub active: Option<bool>,
}

/// A subscription as answered: the secret only in the answer to its creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionDoc {
    pub subscription_id: String,
    pub url: String,
    pub audiences: Vec<String>,
    pub schedule: String,
    pub locale: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Only when created: store it now, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Subscription> for SubscriptionDoc {
    fn from(s: Subscription) -> Self {
        Self {
            subscription_id: s.subscription_id,
            url: s.url,
            audiences: s.audiences,
            schedule: s.schedule,
            locale: s.locale,
            recipients: s.recipients,
            active: s.active,
            created_at: s.created_at,
            updated_at: s.updated_at,
            secret: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionDoc>,
}

/// One outbox row, without its payload.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDoc {
    pub delivery_id: String,
    pub subscription_id: String,
    pub audience: String,
    pub recipient_id: String,
    /// `2026-W48` or `2026-11`.
    pub period: String,
    pub as_of: chrono::NaiveDate,
    /// Sent as the `Idempotency-Key` header on every attempt.
    pub idempotency_key: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    /// Why the last attempt failed, one of: timeout, connection refused, dns: name not
    /// found, dns: lookup failed, blocked address, blocked url, tls, http <status>,
    /// connect failed, request failed, invalid payload.
    pub last_error: Option<String>,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<Delivery> for DeliveryDoc {
    fn from(d: Delivery) -> Self {
        Self {
            delivery_id: d.delivery_id,
            subscription_id: d.subscription_id,
            audience: d.audience,
            recipient_id: d.recipient_id,
            period: d.period,
            as_of: d.as_of,
            idempotency_key: d.idempotency_key,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error.as_deref().map(Failure::shown),
            last_status: d.last_status,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryDoc>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// 1..=1000, default 100; newest first.
    pub limit: Option<usize>,
}

const MAX_URL: usize = 2048;
const MAX_RECIPIENTS: usize = 1000;

/// The URL's form, held to `policy` as far as it can be without a lookup; the caller
/// then resolves its host ([`resolved`]).
fn check_url(raw: &str, policy: Policy) -> Result<reqwest::Url, ApiError> {
    let invalid = |why: &str| ApiError::validation("url", format!("url {why}"));
    if raw.len() > MAX_URL {
        return Err(invalid(&format!("is longer than {MAX_URL} characters")));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    policy
        .check_url(&url)
        .map_err(|refusal| ApiError::validation("url", refusal.to_string()))?;
    Ok(url)
}

/// Refuses a subscription whose host resolves to an address the server's policy refuses,
/// or does not resolve at all.
async fn resolved(state: &AppState, s: &Subscription) -> Result<(), ApiError> {
    let policy = state.options().webhook_policy;
    let url = check_url(&s.url, policy)?;
    resolver::check_destination(policy, &url, LOOKUP_TIMEOUT)
        .await
        .map_err(|e| ApiError::validation("url", e.to_string()))
}

fn check_secret(raw: &str) -> Result<String, ApiError> {
    let valid = (16..=256).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::validation(
            "secret",
            "secret must be 16 to 256 printable ASCII characters without spaces",
        ))
    }
}

fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The request checked into a subscription of `tenant`; `secret` is what to store when
/// the request names none.
fn subscription(
    tenant: &str,
    subscription_id: String,
    request: SubscriptionRequest,
    secret: String,
    policy: Policy,
) -> Result<Subscription, ApiError> {
    check_url(&request.url, policy)?;
    let url = request.url;
    let secret = request
        .secret
        .as_deref()
        .map(check_secret)
        .transpose()?
        .unwrap_or(secret);
    if request.audiences.is_empty() {
        return Err(ApiError::validation(
            "audiences",
            "audiences must name at least one of partner, manager, leadership",
        ));
    }
    let mut audiences = Vec::new();
    for raw in &request.audiences {
        let audience =
            Audience::parse(raw).map_err(|e| ApiError::validation("audiences", e.to_string()))?;
        if !audiences.contains(&audience) {
            audiences.push(audience);
        }
    }
    let schedule = Schedule::parse(&request.schedule).ok_or_else(|| {
        ApiError::validation(
            "schedule",
            format!(
                "unknown schedule `{}`: use weekly or monthly",
                request.schedule
            ),
        )
    })?;
    let locale = crate::digest::locale::Locale::parse(request.locale.as_deref().unwrap_or("en"))?
        .code()
        .to_owned();
    let recipients = match request.recipients {
        None => None,
        Some(list) if list.is_empty() || list.len() > MAX_RECIPIENTS => {
            return Err(ApiError::validation(
                "recipients",
                format!(
                    "recipients must list 1 to {MAX_RECIPIENTS} ids; omit it to send to every \
                     recipient"
                ),
            ))
        }
        Some(list) => Some(
            list.iter()
                .map(|r| Id::parse(r).map(|id| id.as_str().to_owned()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::validation("recipients", e.to_string()))?,
        ),
    };
    Ok(Subscription {
        subscription_id,
        tenant_id: tenant.to_owned(),
        url,
        secret,
        audiences: audiences.iter().map(|a| a.as_str().to_owned()).collect(),
        schedule: schedule.as_str().to_owned(),
        locale,
        recipients,
        active: request.active.unwrap_or(true),
        created_at: String::new(),
        updated_at: String::new(),
    })
}

async fn stored(state: &AppState, tenant: &str, id: &Id) -> Result<Subscription, ApiError> {
    state
        .store()
        .subscription(tenant, id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("subscription", id.as_str()))
}

fn digest_error(e: DigestError) -> ApiError {
    match e {
        DigestError::Store(store) => store.into(),
        other => ApiError::internal("enqueueing the digests", &other),
    }
}

/// Subscribes a URL to the tenant's digests. The answer holds the signing secret, once.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "digests",
    request_body = SubscriptionRequest,
    responses(
        (status = 201, description = "The subscription, with its secret (shown once)", body = SubscriptionDoc),
        (status = 422, description = "Invalid field", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Scope::Write)?;
    let id = format!("sub_{}", uuid::Uuid::new_v4().simple());
    let policy = state.options().webhook_policy;
    let s = subscription(&caller.tenant, id, request, new_secret(), policy)?;
    resolved(&state, &s).await?;
    state.store().insert_subscription(&s, Utc::now()).await?;
    let secret = s.secret.clone();
    let created = stored(&state, &caller.tenant, &Id::from_trusted(s.subscription_id)).await?;
    tracing::info!(tenant = %caller.tenant, subscription_id = %created.subscription_id, "subscription created");
    let mut doc = SubscriptionDoc::from(created);
    doc.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(doc)))
}

/// The tenant's subscriptions, oldest first, without secrets.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "digests",
    responses((status = 200, description = "Every subscription", body = SubscriptionList)),
    security(("bearer" = [])))]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SubscriptionList>, ApiError> {
    let items = state.store().subscriptions(&caller.tenant).await?;
    Ok(Json(SubscriptionList {
        items: items.into_iter().map(SubscriptionDoc::from).collect(),
    }))
}

/// One subscription, without its secret.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "digests",
    params(("id" = String, Path, description = "subscription_id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDoc),
        (status = 404, description = "No such subscription", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionDoc>, ApiError> {
    let id = path_id(&id, "subscription_id")?;
    Ok(Json(stored(&state, &caller.tenant, &id).await?.into()))
}

/// Replaces a subscription's settings. Without `secret` the current one is kept; with
/// one, it is rotated (and not echoed).
#[utoipa::path(put, path = "/v1/subscriptions/{id}", tag = "digests",
    params(("id" = String, Path, description = "subscription_id")),
    request_body = SubscriptionRequest,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDoc),
        (status = 404, description = "No such subscription", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> Result<Json<SubscriptionDoc>, ApiError> {
    caller.require(Scope::Write)?;
    let id = path_id(&id, "subscription_id")?;
    let current = stored(&state, &caller.tenant, &id).await?;
    let s = subscription(
        &caller.tenant,
        current.subscription_id,
        request,
        current.secret,
        state.options().webhook_policy,
    )?;
    resolved(&state, &s).await?;
    if !state.store().update_subscription(&s, Utc::now()).await? {
        return Err(ApiError::not_found("subscription", id.as_str()));
    }
    Ok(Json(stored(&state, &caller.tenant, &id).await?.into()))
}

/// Deletes a subscription and its outbox: nothing more is posted to its URL.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "digests",
    params(("id" = String, Path, description = "subscription_id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Write)?;
    let id = path_id(&id, "subscription_id")?;
    if !state
        .store()
        .delete_subscription(&caller.tenant, id.as_str())
        .await?
    {
        return Err(ApiError::not_found("subscription", id.as_str()));
    }
    tracing::info!(tenant = %caller.tenant, subscription_id = %id, "subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The subscription's deliveries, newest first, without payloads.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/deliveries", tag = "digests",
    params(("id" = String, Path, description = "subscription_id"), DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries", body = DeliveryList),
        (status = 404, description = "No such subscription", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let id = path_id(&id, "subscription_id")?;
    let limit = bounded("limit", q.limit, 100, 1000)?;
    stored(&state, &caller.tenant, &id).await?;
    let rows = state
        .store()
        .deliveries(&caller.tenant, id.as_str(), limit)
        .await?;
    Ok(Json(DeliveryList {
        items: rows.into_iter().map(DeliveryDoc::from).collect(),
    }))
}

/// Enqueues the current period's digests of the subscription now, active or not. The
/// cap holds: a recipient who has this period's digest gets no second one.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/send", tag = "digests",
    params(("id" = String, Path, description = "subscription_id")),
    responses(
        (status = 200, description = "What was enqueued", body = ScheduleReport),
        (status = 404, description = "No such subscription", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn send_digests(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleReport>, ApiError> {
    caller.require(Scope::Write)?;
    let id = path_id(&id, "subscription_id")?;
    let s = stored(&state, &caller.tenant, &id).await?;
    let report =
        schedule::enqueue_subscription(state.store(), &state, &s, state.as_of(None), Utc::now())
            .await
            .map_err(digest_error)?;
    state.metrics().count_scheduled(&report);
    Ok(Json(report))
}

/// The server counts delivery outcomes and scheduled digests in `/metrics`.
impl DeliveryObserver for AppState {
    fn delivery(&self, outcome: Outcome) {
        self.metrics().count_delivery(outcome.as_str());
    }

    fn scheduled(&self, report: &ScheduleReport) {
        self.metrics().count_scheduled(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SubscriptionRequest {
        SubscriptionRequest {
            url: "https://example.com/hook".into(),
            secret: None,
            audiences: vec!["partner".into(), "partner".into(), "leadership".into()],
            schedule: "weekly".into(),
            locale: None,
            recipients: None,
            active: None,
        }
    }

    #[test]
    fn a_valid_request_gets_defaults_and_deduplicated_audiences() {
        let s = subscription(
            "t",
            "sub_1".into(),
            request(),
            "whsec_x".into(),
            Policy::default(),
        )
        .unwrap();
        assert_eq!(s.audiences, ["partner", "leadership"]);
        assert_eq!(s.locale, "en");
        assert_eq!(s.secret, "whsec_x");
        assert!(s.active);
    }

    #[test]
    fn invalid_fields_are_named() {
        type Edit = fn(&mut SubscriptionRequest);
        let cases: [(&str, Edit); 9] = [
            ("url", |r| r.url = "ftp://example.com/x".into()),
            ("url", |r| r.url = "not a url".into()),
            ("url", |r| r.url = "https://user:pass@example.com/x".into()),
            ("url", |r| r.url = "http://10.0.0.1/x".into()),
            ("audiences", |r| r.audiences = vec![]),
            ("audiences", |r| r.audiences = vec!["board".into()]),
            ("schedule", |r| r.schedule = "daily".into()),
            ("locale", |r| r.locale = Some("xx".into())),
            ("secret", |r| r.secret = Some("short".into())),
        ];
        for (field, edit) in cases {
            let mut r = request();
            edit(&mut r);
            let err =
                subscription("t", "s".into(), r, "whsec_x".into(), Policy::default()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{}", err.detail);
        }
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(check_secret(&a).is_ok());
    }
}
