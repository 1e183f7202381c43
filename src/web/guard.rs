//! One layer around every dashboard route: security headers on every answer (pages,
//! login, redirects, errors), and a form post is served only when it was sent from a
//! page of this server.
//!
//! SameSite=Strict keeps the session cookie off posts from other sites in browsers that
//! honour it; the origin check also covers those that do not, a sibling subdomain (same
//! site, another origin), and the login form, which has no cookie to withhold.

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERER, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout;

/// The pages' Content-Security-Policy with `frame-ancestors` set to `$ancestors`. The
/// pages have no script, so none is allowed; styles are the one inline stylesheet and
/// `style=` attributes; images only from here (the charts are inline SVG and the pages
/// load none); the one frame is the dashboard's own digest preview; forms post only here.
macro_rules! policy {
    ($ancestors:literal) => {
        concat!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; ",
            "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors ",
            $ancestors
        )
    };
}

/// Marks a response that the dashboard's own pages show in a frame (the digest preview):
/// this origin may frame it, no other may. Every other answer may not be framed at all.
#[derive(Debug, Clone, Copy)]
pub struct FramedBySelf;

/// The layer's function, for `axum::middleware::from_fn`.
pub async fn guard(request: Request, next: Next) -> Response {
    let mut response = match check_origin(&request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    };
    let framed = response.extensions_mut().remove::<FramedBySelf>().is_some();
    let (policy, frames) = if framed {
        (policy!("'self'"), "SAMEORIGIN")
    } else {
        (policy!("'none'"), "DENY")
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static(frames));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// Why a form post was not served.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Its `Origin` (or, without one, its `Referer`) names another origin than `host`.
    Elsewhere { from: String, host: String },
    /// It names no origin at all, so nothing shows that one of our pages sent it.
    Unnamed,
}

/// Serves every safe method; anything else must name this server as its origin: the
/// `Origin` header, or when a browser sends none the `Referer`'s origin, compared with
/// the `Host` the request was sent to (host and port, the scheme's default port when
/// none is written), as Django and Rails do.
fn check_origin(request: &Request) -> Result<(), Refusal> {
    if request.method().is_safe() {
        return Ok(());
    }
    let headers = request.headers();
    let host = host(headers, request.uri());
    let from = headers
        .get(ORIGIN)
        .or_else(|| headers.get(REFERER))
        .ok_or(Refusal::Unnamed)?;
    let from = String::from_utf8_lossy(from.as_bytes()).into_owned();
    if host.as_deref().is_some_and(|host| same_origin(&from, host)) {
        return Ok(());
    }
    let host = host.unwrap_or_else(|| "(no Host header)".into());
    Err(Refusal::Elsewhere { from, host })
}

/// Where the request was sent: its `Host` header, or the authority of an absolute URI.
fn host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

/// Whether `url` (an origin, or a whole URL from `Referer`) is on `host`.
fn same_origin(url: &str, host: &str) -> bool {
    let Ok(url) = url.parse::<Uri>() else {
        return false;
    };
    let default_port = match url.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return false,
    };
    let (Some(from), Ok(host)) = (url.authority(), host.parse::<Authority>()) else {
        return false;
    };
    from.host().eq_ignore_ascii_case(host.host())
        && from.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(default_port)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let why = match &self {
            Self::Elsewhere { from, host } => format!(
                "It was sent from {from}, not from a page of this server ({host}), \
                 so it was refused and nothing was changed."
            ),
            Self::Unnamed => "It came with neither an Origin nor a Referer header, so \
                nothing shows that a page of this server sent it; it was refused and \
                nothing was changed."
                .to_owned(),
        };
        match &self {
            Self::Elsewhere { from, host } => {
                tracing::warn!(%from, %host, "dashboard form refused: sent from elsewhere");
            }
            Self::Unnamed => tracing::warn!("dashboard form refused: no Origin or Referer"),
        }
        let body = html! {
            main {
                h1 { "This form was refused" }
                p role="alert" class="error" { (why) }
                p {
                    "If you sent it from the dashboard, reload the page and send it again. "
                    "Behind a proxy, pass the browser's Host header through to the server."
                }
                p { a href="/ui" { "Back to the overview" } }
            }
        };
        (
            StatusCode::FORBIDDEN,
            layout::page("Form refused", None, body),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_the_same_only_with_the_same_host_and_port() {
        for (url, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("https://NextBest.example.com", "nextbest.example.com"),
            ("https://nextbest.example.com", "nextbest.example.com:443"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://localhost:8080/ui/managers/m1?x=1", "localhost:8080"),
        ] {
            assert!(same_origin(url, host), "{url} on {host}");
        }
        for (url, host) in [
            ("http://127.0.0.1:8081", "127.0.0.1:8080"),
            ("https://evil.example", "nextbest.example.com"),
            (
                "https://nextbest.example.com.evil.example",
                "nextbest.example.com",
            ),
            ("https://nextbest.example.com:8443", "nextbest.example.com"),
            ("null", "nextbest.example.com"),
            ("file:///tmp/form.html", "localhost"),
            ("nextbest.example.com", "nextbest.example.com"),
            ("http://nextbest.example.com", "bad host"),
        ] {
            assert!(!same_origin(url, host), "{url} on {host}");
        }
    }

    #[test]
    fn origin_wins_over_referer_and_safe_methods_pass() {
        let request = |method: &str, headers: &[(&str, &str)]| {
            let mut builder = Request::builder().method(method).uri("/ui/feedback");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        let host = ("host", "nextbest.example.com");
        let ours = "https://nextbest.example.com/ui";
        assert_eq!(check_origin(&request("GET", &[host])), Ok(()));
        assert_eq!(
            check_origin(&request("POST", &[host, ("referer", ours)])),
            Ok(())
        );
        assert_eq!(
            check_origin(&request("POST", &[host])),
            Err(Refusal::Unnamed)
        );
        assert_eq!(
            check_origin(&request(
                "POST",
                &[host, ("origin", "https://evil.example"), ("referer", ours)]
            )),
            Err(Refusal::Elsewhere {
                from: "https://evil.example".into(),
                host: "nextbest.example.com".into()
            })
        );
    }
}
