//! Signing in to the dashboard with an API key. The key is checked like a bearer key and
//! exchanged for a random session token in an HttpOnly, SameSite=Strict cookie; the key
//! itself never sits in the browser. Sessions live in the store, as the SHA-256 of their
//! token: they survive a restart and every replica honours them. Each page view reads
//! the session joined with its key row, without a cache, so revoking the key ends its
//! sessions at once on every replica.

use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::{layout, PageError};
use crate::api::auth::{self, sha256_hex, Caller};
use crate::api::AppState;
use crate::store::NewSession;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "nextbest_session";

/// How long a session lasts without signing in again.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A new session token: 64 hex digits, 244 of their bits random.
fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The session token the request carries, if any. A value that is not shaped like a
/// token is no session, and costs no query.
fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The signed-in caller of a dashboard page. Without a live session (none, expired,
/// signed out, or its key revoked) the page answers 303 to the login form, which shows
/// no data; a store that cannot be read answers its error page.
#[derive(Debug, Clone)]
pub struct Viewer(pub Caller);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = token(&parts.headers) else {
            return Err(to_login(&parts.uri));
        };
        // Wall-clock time, not the server's `--as-of` clock: sessions expire in real time.
        let row = state
            .store()
            .dashboard_session_key(&sha256_hex(&token), Utc::now())
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        match row.as_ref().and_then(Caller::of_key) {
            Some(caller) => {
                tracing::Span::current().record("tenant", caller.tenant.as_str());
                Ok(Self(caller))
            }
            None => Err(to_login(&parts.uri)),
        }
    }
}

/// A 303 to the login form, which comes back to `uri` after signing in.
fn to_login(uri: &Uri) -> Response {
    let next = uri.path_and_query().map_or("/ui", |p| p.as_str());
    see_other(&format!(
        "/ui/login?next={}",
        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    ))
}

/// A 303 to `to`.
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Only dashboard paths are followed after signing in: no open redirect.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/ui") && !n.starts_with("/ui/login") && !n.contains("//"))
        .unwrap_or("/ui")
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
}

pub async fn login_page(axum::extract::Query(q): axum::extract::Query<LoginQuery>) -> Response {
    login_form(safe_next(q.next.as_deref()), None, StatusCode::OK)
}

fn login_form(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        main class="login" {
            h1 { "Sign in to nextbest" }
            p class="muted" { "Use an API key of your tenant (" code { "nextbest keys create" } ")." }
            @if let Some(error) = error {
                p role="alert" class="error" { (error) }
            }
            form method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label for="key" { "API key" }
                input id="key" name="key" type="password" autocomplete="current-password" required
                    placeholder="nbk_…";
                button type="submit" { "Sign in" }
            }
        }
    };
    (status, layout::page("Sign in", None, body)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub key: String,
    pub next: Option<String>,
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(form.next.as_deref());
    let refused = || {
        login_form(
            next,
            Some("That key is not valid, or was revoked."),
            StatusCode::UNAUTHORIZED,
        )
    };
    let Ok(caller) = auth::verify(state.store(), state.keys(), form.key.trim()).await else {
        return refused();
    };
    let token = new_token();
    let now = Utc::now();
    let session = NewSession {
        token_sha256: &sha256_hex(&token),
        tenant_id: &caller.tenant,
        key_id: &caller.key_id,
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    match state.store().start_dashboard_session(&session).await {
        // Revoked since this server's key cache read it: the store has the last word.
        Ok(false) => refused(),
        Err(e) => PageError::from(e).into_response(),
        Ok(true) => {
            tracing::info!(tenant = %caller.tenant, key_id = %caller.key_id, "dashboard sign-in");
            let secure = if state.options().secure_cookies {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                SESSION_TTL.as_secs()
            );
            let mut response = see_other(next);
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
    }
}

/// Ends the session in the store (so the cookie is worth nothing anywhere, even if a
/// copy of it survives) and clears it in the browser.
pub async fn logout(State(state): State<AppState>, request: Request) -> Response {
    if let Some(t) = token(request.headers()) {
        if let Err(e) = state.store().end_dashboard_session(&sha256_hex(&t)).await {
            return PageError::from(e).into_response();
        }
    }
    let mut response = see_other("/ui/login");
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_are_followed() {
        assert_eq!(safe_next(Some("/ui/managers/m1")), "/ui/managers/m1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/v1/forecast",
            "/ui/login",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui", "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        let issued = new_token();
        let value = format!("a=1; nextbest_session={issued}; b=2");
        headers.insert(COOKIE, HeaderValue::from_str(&value).unwrap());
        assert_eq!(token(&headers), Some(issued));
        for forged in ["abc", &"g".repeat(64), &"a".repeat(65)] {
            let value = format!("nextbest_session={forged}");
            headers.insert(COOKIE, HeaderValue::from_str(&value).unwrap());
            assert_eq!(token(&headers), None, "{forged}");
        }
    }
}
