//! Digests over HTTP, and the server as the [`DigestSource`] the scheduler and the
//! delivery worker ask.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, Problem, ProblemBody};
use super::extract::{path_id, Query};
use super::AppState;
use crate::digest::{compose, facts, Audience, Digest, DigestError, DigestSource, Format};

impl DigestSource for AppState {
    async fn recipients(
        &self,
        tenant: &str,
        audience: Audience,
    ) -> Result<Vec<String>, DigestError> {
        facts::recipients(self.store(), tenant, audience).await
    }

    async fn digest(
        &self,
        tenant: &str,
        audience: Audience,
        recipient_id: &str,
        as_of: NaiveDate,
        since: Option<NaiveDate>,
        locale: &str,
    ) -> Result<Digest, DigestError> {
        let engine = self
            .service()
            .engine(tenant)
            .await
            .map_err(|e| DigestError::Engine {
                tenant: tenant.to_owned(),
                why: ApiError::from(e).detail,
            })?;
        // Facts mix store reads with the engine's synchronous search and ranking: the
        // whole composition runs on a blocking thread.
        let (store, llm) = (self.store().clone(), self.options().llm.clone());
        let (recipient, locale_tag) = (recipient_id.to_owned(), locale.to_owned());
        let digest = crate::service::on_blocking_thread("composing a digest", async move {
            compose(
                &store,
                &engine,
                llm.as_ref(),
                audience,
                &recipient,
                as_of,
                since,
                &locale_tag,
            )
            .await
        })
        .await
        .map_err(|e| DigestError::Engine {
            tenant: tenant.to_owned(),
            why: ApiError::from(e).detail,
        })??;
        if let Some(outcome) = digest.llm_check.as_deref() {
            self.metrics()
                .digest_llm(crate::digest::llm::outcome_label(outcome));
        }
        Ok(digest)
    }
}

impl From<DigestError> for ApiError {
    fn from(e: DigestError) -> Self {
        match e {
            DigestError::Audience(_) => Self::validation("audience", e.to_string()),
            DigestError::Format(_) => Self::validation("format", e.to_string()),
            DigestError::Locale(_) => Self::validation("locale", e.to_string()),
            DigestError::Since { .. } => Self::validation("since", e.to_string()),
            DigestError::UnknownRecipient { .. } => Self::new(Problem::NotFound, e.to_string()),
            DigestError::Store(store) => store.into(),
            DigestError::Nba(nba) => nba.into(),
            DigestError::Engine { .. } => Self::new(Problem::Unavailable, e.to_string()),
            DigestError::Serialise(ref source) => Self::internal("serialising the digest", source),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DigestQuery {
    /// `md` (default), `html`, `text` or `json` (the facts document).
    pub format: Option<String>,
    /// YYYY-MM-DD; default today (or the server's `--as-of`).
    #[param(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
    /// Count changes from this date (YYYY-MM-DD); default a week before `as_of`.
    #[param(value_type = Option<String>)]
    pub since: Option<NaiveDate>,
    /// Number conventions: en (default), de, fr, es, it, nl, pt.
    pub locale: Option<String>,
}

/// A digest for one partner, one manager, or the leadership (`id` = `all`), rendered as
/// markdown, e-mail-ready HTML, plain text, or its facts as JSON. Every number in it is
/// one of the facts; with an LLM configured, its prose is used only if it passes that
/// check (`Nextbest-Digest-Wording` says which).
#[utoipa::path(get, path = "/v1/digests/{audience}/{id}", tag = "digests",
    params(
        ("audience" = String, Path, description = "partner, manager or leadership"),
        ("id" = String, Path, description = "partner_id, manager_id, or `all` for leadership"),
        DigestQuery
    ),
    responses(
        (status = 200, description = "The digest in the format asked",
            content((String = "text/markdown"), (String = "text/html"), (String = "text/plain"), (Object = "application/json"))),
        (status = 404, description = "No such partner or manager", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid audience, format, locale or dates", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn digest(
    State(state): State<AppState>,
    caller: Caller,
    Path((audience, id)): Path<(String, String)>,
    Query(q): Query<DigestQuery>,
) -> Result<Response, ApiError> {
    let audience = Audience::parse(&audience)?;
    let format = Format::parse(q.format.as_deref().unwrap_or("md"))?;
    let id = path_id(&id, "id")?;
    let digest = state
        .digest(
            &caller.tenant,
            audience,
            id.as_str(),
            state.as_of(q.as_of),
            q.since,
            q.locale.as_deref().unwrap_or("en"),
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::HeaderName::from_static("nextbest-digest-wording"),
                digest.wording.clone(),
            ),
        ],
        digest.rendered(format),
    )
        .into_response())
}
