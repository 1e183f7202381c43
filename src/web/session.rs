//! Signing in to the dashboard with an API key. The key is checked like a bearer key and
//! exchanged for a random session token in an HttpOnly, SameSite=Strict cookie; the key
//! itself never sits in the browser. Sessions live in memory: a restart signs everyone
//! out, which costs a login, never data.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::layout;
use crate::api::auth::{self, Caller};
use crate::api::AppState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "nextbest_session";

/// How long a session lasts without signing in again.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Signed-in callers by the SHA-256 of their session token.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl Sessions {
    fn start(&self, caller: Caller) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        if let Ok(mut map) = self.map.lock() {
            let now = Instant::now();
            map.retain(|_, (_, expires)| *expires > now);
            map.insert(digest(&token), (caller, now + SESSION_TTL));
        }
        token
    }

    fn get(&self, token: &str) -> Option<Caller> {
        let map = self.map.lock().ok()?;
        let (caller, expires) = map.get(&digest(token))?;
        (*expires > Instant::now()).then(|| caller.clone())
    }

    fn end(&self, token: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&digest(token));
        }
    }
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session token the request carries, if any.
fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in caller of a dashboard page. Without a valid session the page answers
/// 303 to the login form, which shows no data.
#[derive(Debug, Clone)]
pub struct Viewer(pub Caller);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        let sessions = parts.extensions.get::<std::sync::Arc<Sessions>>().cloned();
        let caller = token(&parts.headers).and_then(|t| sessions.as_ref().and_then(|s| s.get(&t)));
        match caller {
            Some(caller) => {
                tracing::Span::current().record("tenant", caller.tenant.as_str());
                Ok(Self(caller))
            }
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/ui", |p| p.as_str())
                    .to_owned();
                Err(see_other(&format!(
                    "/ui/login?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                )))
            }
        }
    }
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

pub async fn login(
    State(state): State<AppState>,
    Extension(sessions): Extension<std::sync::Arc<Sessions>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    match auth::verify(state.store(), state.keys(), form.key.trim()).await {
        Ok(caller) => {
            tracing::info!(tenant = %caller.tenant, key_id = %caller.key_id, "dashboard sign-in");
            let token = sessions.start(caller);
            let secure = if loopback(&headers) { "" } else { "; Secure" };
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
        Err(_) => login_form(
            next,
            Some("That key is not valid, or was revoked."),
            StatusCode::UNAUTHORIZED,
        ),
    }
}

pub async fn logout(
    Extension(sessions): Extension<std::sync::Arc<Sessions>>,
    request: Request,
) -> Response {
    if let Some(t) = token(request.headers()) {
        sessions.end(&t);
    }
    let mut response = see_other("/ui/login");
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// Whether the page was asked for on this machine (`localhost`, `127.0.0.1`, `[::1]`),
/// where browsers keep no Secure cookie over plain HTTP.
fn loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = if host.starts_with('[') {
        host.split(']')
            .next()
            .map_or(host, |h| h.trim_start_matches('['))
    } else {
        host.split(':').next().unwrap_or(host)
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
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
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let caller = Caller {
            tenant: "t".into(),
            scope: auth::Scope::Read,
            key_id: "k".into(),
        };
        let token = sessions.start(caller);
        assert_eq!(sessions.get(&token).map(|c| c.tenant), Some("t".into()));
        assert!(sessions.get("forged").is_none());
        sessions.end(&token);
        assert!(sessions.get(&token).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; nextbest_session=abc; b=2"),
        );
        assert_eq!(token(&headers).as_deref(), Some("abc"));
        let mut host = HeaderMap::new();
        host.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(loopback(&host));
        host.insert(HOST, HeaderValue::from_static("nextbest.example.com"));
        assert!(!loopback(&host));
    }
}
