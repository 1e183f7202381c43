//! Extractors whose rejections are problem+json with the offending field: a JSON body
//! (syntax errors with line and column, type errors with the JSON path), query strings
//! and path ids.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{ApiError, Problem};
use crate::domain::Id;

/// Reads the body within the route's size limit; 413 beyond it.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                Problem::PayloadTooLarge,
                "the body is larger than this endpoint accepts (see `--body-limit`; use \
                 POST /v1/bulk/{entity} for initial loads)",
            )
        } else {
            ApiError::new(
                Problem::MalformedJson,
                format!("could not read the body: {}", rejection.body_text()),
            )
        }
    })
}

/// Parses JSON with the path of a type error (`key_results[2].target`) as the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let mut err = ApiError::new(Problem::Validation, inner.to_string());
                if path != "." {
                    err = err.with_field(path);
                }
                err
            }
            _ => {
                let mut err = ApiError::new(
                    Problem::MalformedJson,
                    format!("the body is not valid JSON: {inner}"),
                );
                err.line = Some(inner.line() as u64);
                err
            }
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            Problem::MalformedJson,
            format!("unexpected data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

fn check_json_content_type(req: &Request) -> Result<(), ApiError> {
    match req.headers().get(CONTENT_TYPE) {
        None => Ok(()),
        Some(value) => {
            let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
            if text.starts_with("application/json") || text.contains("+json") {
                Ok(())
            } else {
                Err(ApiError::new(
                    Problem::UnsupportedMediaType,
                    format!("send the body as application/json, not `{text}`"),
                ))
            }
        }
    }
}

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        check_json_content_type(&req)?;
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                Problem::MalformedJson,
                "the body is empty; this endpoint takes a JSON object",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// Query parameters of type `T`; an invalid one is a 422 naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let field = e.path().to_string();
                let mut err = ApiError::new(
                    Problem::Validation,
                    format!("invalid query parameter: {}", e.inner()),
                );
                if field != "." {
                    err = err.with_field(field);
                }
                err
            })
    }
}

/// Objects as NDJSON, one a line: how a JSON request reaches the importer, which reads
/// request bodies exactly as it reads JSONL files.
pub fn ndjson<'a>(
    objects: impl IntoIterator<Item = &'a serde_json::Map<String, serde_json::Value>>,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    for object in objects {
        serde_json::to_writer(&mut out, object)
            .map_err(|e| ApiError::internal("re-encoding the body", &e))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// An id from the path, checked against the id rules of DATA_FORMAT.md.
pub fn path_id(raw: &str, field: &str) -> Result<Id, ApiError> {
    Id::parse(raw).map_err(|e| ApiError::validation(field, e.to_string()))
}

/// A count parameter (`k`, `limit`) within `1..=max`, `default` when absent.
pub fn bounded(
    field: &str,
    value: Option<usize>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::validation(
            field,
            format!("{field} must be between 1 and {max}, not {n}"),
        )),
    }
}
