//! One digest end to end: facts, the template's document, the LLM's prose if configured
//! and it passes the fact check, and the three renderings.

use chrono::{Days, NaiveDate};

use super::llm::{Llm, ACCEPTED};
use super::locale::Locale;
use super::{facts, render, template, Audience, Digest, DigestError};
use crate::nba::Engine;
use crate::store::Store;

/// How far back changes are counted when nobody says: a weekly digest's week.
pub const DEFAULT_SINCE_DAYS: u64 = 7;

/// The digest of `recipient_id` for `audience` as of `as_of`, changes counted from
/// `since` (default a week back), numbers in `locale`.
///
/// # Errors
/// [`DigestError::Locale`], [`DigestError::Since`], unknown recipients, store errors.
#[allow(clippy::too_many_arguments)]
pub async fn compose(
    store: &Store,
    engine: &Engine,
    llm: Option<&Llm>,
    audience: Audience,
    recipient_id: &str,
    as_of: NaiveDate,
    since: Option<NaiveDate>,
    locale: &str,
) -> Result<Digest, DigestError> {
    let locale = Locale::parse(locale)?;
    let since = match since {
        Some(s) if s > as_of => return Err(DigestError::Since { since: s, as_of }),
        Some(s) => s,
        None => as_of
            .checked_sub_days(Days::new(DEFAULT_SINCE_DAYS))
            .unwrap_or(NaiveDate::MIN),
    };
    let facts = facts::compose(store, engine, audience, recipient_id, as_of, since).await?;
    let value = serde_json::to_value(&facts).map_err(DigestError::Serialise)?;
    let mut doc = template::document(&facts, &locale);
    let (wording, llm_check) = match llm {
        None => ("template", None),
        Some(llm) => match llm.prose(audience, &value, &doc.summary, &locale).await {
            Ok(prose) => {
                doc.summary = prose;
                ("llm", Some(ACCEPTED.to_owned()))
            }
            Err(rejection) => {
                tracing::warn!(
                    tenant = engine.tenant(),
                    audience = audience.as_str(),
                    recipient_id,
                    outcome = rejection.code(),
                    detail = %rejection.detail(),
                    "LLM prose not used; the template's stands"
                );
                ("template", Some(rejection.code().to_owned()))
            }
        },
    };
    Ok(Digest {
        tenant: engine.tenant().to_owned(),
        audience,
        recipient_id: recipient_id.to_owned(),
        as_of,
        since,
        locale: locale.code().to_owned(),
        wording: wording.to_owned(),
        llm_check,
        subject: doc.subject.clone(),
        markdown: render::markdown(&doc),
        html: render::html(&doc),
        text: render::text(&doc),
        facts: value,
    })
}
