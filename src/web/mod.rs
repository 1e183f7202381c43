//! The dashboard: server-rendered pages for leadership (`/ui`), managers
//! (`/ui/managers/{id}`) and partners (`/ui/partners/{id}`), signed in with an API key.
//! Pages read through the same functions as the API, so their numbers are the API's;
//! charts are SVG drawn here; there is no script.

mod charts;
mod guard;
mod layout;
mod leadership;
mod manager;
mod partner;
pub mod session;

use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use maud::html;

use crate::api::{self, ApiError, AppState};

/// The API with the dashboard's pages: what `nextbest serve` serves.
pub fn app(state: AppState) -> Router {
    api::router_with(state, pages())
}

/// The dashboard's routes, for [`api::router_with`]. Every `/ui` path, a missing page
/// included, is answered here, so every answer goes through the one [`guard`] layer.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/ui", get(leadership::page))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/managers/{id}", get(manager::page))
        .route("/ui/feedback", post(manager::feedback))
        .route("/ui/partners/{id}", get(partner::page))
        .route("/ui/partners/{id}/digest", get(partner::digest))
        .route("/ui/{*rest}", any(missing))
        .layer(axum::middleware::from_fn(guard::guard))
}

/// A `/ui` path that is no page: the not-found page, not the API's JSON.
async fn missing(uri: Uri) -> PageError {
    ApiError::not_found("dashboard page", uri.path()).into()
}

/// An error shown as a page: the API's status and words, in HTML.
pub struct PageError(ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let detail = self.0.detail.clone();
        let mut api = self.0.into_response();
        let status = api.status();
        let cause = api.extensions_mut().remove::<crate::api::error::Cause>();
        let body = html! {
            main {
                h1 { "Cannot show this page" }
                p role="alert" class="error" { (detail) }
                p { a href="/ui" { "Back to the overview" } }
            }
        };
        let mut page = (status, layout::page("Error", None, body)).into_response();
        if let Some(cause) = cause {
            // The observe layer logs a 5xx's cause, whoever renders the answer.
            page.extensions_mut().insert(cause);
        }
        page
    }
}
