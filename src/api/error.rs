//! Errors as `application/problem+json` (RFC 9457): a stable `type` a client can switch
//! on, a human `detail`, and where the input was wrong, the offending `field` (and `line`
//! for NDJSON bodies). Every failure a handler can meet is mapped here, once.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::import::{ImportError, Rejection, RejectionKind};
use crate::model::pipeline::PipelineError;
use crate::model::registry::RegistryError;
use crate::nba::peers::PeersError;
use crate::nba::NbaError;
use crate::service::ServiceError;
use crate::store::StoreError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Problem types: the part after `urn:nextbest:problem:` is stable, documented in
/// docs/API.md, and what a client should match on (not the `title` or `detail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    MalformedJson,
    UnsupportedMediaType,
    Validation,
    PayloadTooLarge,
    Conflict,
    NoModel,
    PlanNotOpen,
    Overloaded,
    Timeout,
    Unavailable,
    StorageUnavailable,
    Internal,
}

impl Problem {
    pub fn slug(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::MalformedJson => "malformed-json",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Validation => "validation",
            Self::PayloadTooLarge => "payload-too-large",
            Self::Conflict => "conflict",
            Self::NoModel => "no-model",
            Self::PlanNotOpen => "plan-not-open",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::StorageUnavailable => "storage-unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict | Self::NoModel | Self::PlanNotOpen => StatusCode::CONFLICT,
            Self::Overloaded | Self::Unavailable | Self::StorageUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Unauthorized => "missing or invalid API key",
            Self::Forbidden => "the API key's scope does not allow this",
            Self::NotFound => "no such resource",
            Self::MethodNotAllowed => "the resource does not take this method",
            Self::MalformedJson => "the body is not well-formed JSON",
            Self::UnsupportedMediaType => "unsupported content type",
            Self::Validation => "the input is not valid",
            Self::PayloadTooLarge => "the body is too large",
            Self::Conflict => "the request conflicts with the current state",
            Self::NoModel => "the tenant has no trained model yet",
            Self::PlanNotOpen => "the plan is not open",
            Self::Overloaded => "the service is at its concurrency limit",
            Self::Timeout => "the request took too long",
            Self::Unavailable => "a dependency is unavailable",
            Self::StorageUnavailable => "the store cannot answer right now; retry",
            Self::Internal => "internal error",
        }
    }
}

/// The problem+json body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// `urn:nextbest:problem:<slug>`; stable.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The offending field (JSON key or path), when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The line of an NDJSON body (or of a JSON syntax error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The offending value, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An error on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub problem: Problem,
    pub detail: String,
    pub field: Option<String>,
    pub line: Option<u64>,
    pub value: Option<String>,
    /// Seconds, for 503s a client should retry.
    pub retry_after: Option<u32>,
    /// What the operator needs to know of a 5xx (the full error chain); never sent to the
    /// client. The observe layer logs it once, with the request id.
    pub cause: Option<Arc<str>>,
}

/// A 5xx answer's cause, carried on the response for the observe layer to log.
#[derive(Debug, Clone)]
pub struct Cause(pub Arc<str>);

impl ApiError {
    pub fn new(problem: Problem, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            field: None,
            line: None,
            value: None,
            retry_after: None,
            cause: None,
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(Problem::NotFound, format!("{what} `{id}` does not exist"))
    }

    /// The tenant has no trained model yet, and the call needs one.
    pub fn no_model(tenant: &str) -> Self {
        Self::new(
            Problem::NoModel,
            format!("tenant `{tenant}` has no active model: POST /v1/models/train"),
        )
    }

    pub fn validation(field: &str, detail: impl Into<String>) -> Self {
        Self::new(Problem::Validation, detail).with_field(field)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A failure nobody can act on from the outside: answered as 500 without internals,
    /// logged in full (with the request id) by the observe layer.
    pub fn internal(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(
            Problem::Internal,
            format!("{context} failed; the server log has the cause (search for the request id)"),
        )
        .caused_by(context, error)
    }

    /// Keeps `error` as the cause the server log shows for this answer.
    pub fn caused_by(mut self, context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        self.cause = Some(format!("{context}: {}", crate::report::Report(error)).into());
        self
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            kind: format!("urn:nextbest:problem:{}", self.problem.slug()),
            title: self.problem.title().to_owned(),
            status: self.problem.status().as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
            line: self.line,
            value: self.value.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.problem.status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.problem == Problem::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"nextbest\""),
            );
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(Cause(cause));
        }
        response
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let what = match &r.field {
            Some(field) => format!("{field} {}", r.rule),
            None => r.rule.clone(),
        };
        let problem = match r.kind {
            RejectionKind::Invalid => Problem::Validation,
            RejectionKind::Conflict => Problem::Conflict,
        };
        Self {
            problem,
            detail: format!("line {}: {what}", r.line),
            field: r.field.clone().or_else(|| Some(r.column.clone())),
            line: Some(r.line),
            value: (!r.value.is_empty()).then(|| r.value.clone()),
            retry_after: None,
            cause: None,
        }
    }
}

/// Seconds a client is asked to wait after a storage fault: the readiness probe looks
/// again every second while one lasts, so a retry after this finds it over, or not.
pub const STORAGE_RETRY_AFTER: u32 = 2;

impl ApiError {
    /// The store cannot answer (a full disk, an unwritable file, a database restarting):
    /// nothing was changed, and the same request may be sent again.
    pub fn storage_unavailable(detail: impl Into<String>) -> Self {
        let mut err = Self::new(Problem::StorageUnavailable, detail);
        err.retry_after = Some(STORAGE_RETRY_AFTER);
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return Self::storage_unavailable(
                "the store cannot take this request right now (a storage fault, not a fault \
                 of the request); it was not acknowledged, and since every write is \
                 idempotent it can be sent again after Retry-After seconds",
            )
            .caused_by("the store", &e);
        }
        match e {
            StoreError::KeyResultOfAnotherPlan { ref kr_id, .. } => {
                let mut err = Self::new(Problem::Conflict, e.to_string()).with_field("kr_id");
                err.value = Some(kr_id.clone());
                err
            }
            StoreError::Connect(..) => {
                Self::storage_unavailable("the store is unavailable").caused_by("the store", &e)
            }
            other => Self::internal("the store query", &other),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Engine(e) => e.into(),
            ServiceError::Store(e) => e.into(),
            ServiceError::Peers(e) => e.into(),
            ServiceError::Pipeline(e) => e.into(),
            ServiceError::Registry(e) => e.into(),
            ServiceError::NoPeers(_) => Self::new(Problem::NoModel, e.to_string()),
            ServiceError::KOutOfRange { .. } => Self::validation("k", e.to_string()),
            other => Self::internal("the service", &other),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Invalid(rejection) => rejection.into(),
            ImportError::Store(store) => store.into(),
            other => Self::new(
                Problem::Validation,
                crate::report::Report(&other).to_string(),
            ),
        }
    }
}

impl From<NbaError> for ApiError {
    fn from(e: NbaError) -> Self {
        match e {
            NbaError::UnknownPlan(id) => Self::not_found("plan", &id),
            NbaError::PlanNotOpen { .. } => Self::new(Problem::PlanNotOpen, e.to_string()),
            NbaError::NoModel(_) => Self::new(Problem::NoModel, e.to_string()),
            NbaError::InvalidWhatIf(_) => Self::new(Problem::Validation, e.to_string()),
            NbaError::UnknownGroupBy(_) => Self::validation("group_by", e.to_string()),
            NbaError::Store(store) => store.into(),
            NbaError::Peers(peers) => peers.into(),
            other => Self::internal("the recommendation", &other),
        }
    }
}

impl From<PeersError> for ApiError {
    fn from(e: PeersError) -> Self {
        match e {
            PeersError::UnknownPartner { partner, .. } => Self::new(
                Problem::NotFound,
                format!(
                    "partner `{partner}` does not exist, or was added after the peers were \
                     loaded (they reload within a minute of a write)"
                ),
            ),
            PeersError::NoActiveModel(_) | PeersError::NoProfileSchema { .. } => {
                Self::new(Problem::NoModel, e.to_string())
            }
            PeersError::Store(store) => store.into(),
            other => Self::internal("the similar-partner search", &other),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::NoActiveModel(_) => Self::new(Problem::NoModel, e.to_string()),
            PipelineError::Store(store) => store.into(),
            other => Self::internal("the model", &other),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownVersion { version, .. } => {
                Self::not_found("model version", &version)
            }
            RegistryError::InvalidName(name) => {
                Self::validation("version", format!("`{name}` is not a valid version name"))
            }
            other => Self::internal("the model registry", &other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_names_line_field_and_value() {
        let r = Rejection::new("body", 2, "target", Some("target"), "-5", "must be > 0");
        let body = ApiError::from(r).body();
        assert_eq!(body.kind, "urn:nextbest:problem:validation");
        assert_eq!(body.status, 422);
        assert_eq!(body.field.as_deref(), Some("target"));
        assert_eq!(body.line, Some(2));
        assert_eq!(body.value.as_deref(), Some("-5"));
        assert!(body.detail.contains("must be > 0"), "{}", body.detail);
    }

    #[test]
    fn a_conflicting_rejection_is_a_409_conflict() {
        let r = Rejection::new(
            "body",
            1,
            "kr_id",
            Some("kr_id"),
            "k1",
            "belongs to plan `a`",
        );
        let body = ApiError::from(r.conflicting()).body();
        assert_eq!(
            (body.kind.as_str(), body.status),
            ("urn:nextbest:problem:conflict", 409)
        );
        assert_eq!(body.field.as_deref(), Some("kr_id"));
    }

    #[test]
    fn overload_carries_retry_after() {
        let mut e = ApiError::new(Problem::Overloaded, "busy");
        e.retry_after = Some(1);
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
