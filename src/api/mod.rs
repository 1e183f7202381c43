//! The HTTP API (axum, /v1, problem+json errors, OpenAPI). Built by the HTTP service issue.
