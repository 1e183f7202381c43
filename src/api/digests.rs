//! Digests over HTTP, and the server as the [`DigestSource`] the scheduler and the
//! delivery worker ask.

use chrono::NaiveDate;

use super::AppState;
use crate::digest::{facts, Audience, Digest, DigestError, DigestSource};

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
        // Placeholder until the facts and renderers land (same issue, in progress).
        let since = since.unwrap_or(as_of - chrono::Days::new(7));
        let subject = format!("{} digest for {recipient_id}", audience.as_str());
        Ok(Digest {
            tenant: tenant.to_owned(),
            audience,
            recipient_id: recipient_id.to_owned(),
            as_of,
            since,
            locale: locale.to_owned(),
            wording: "template".into(),
            markdown: format!("# {subject}\n"),
            html: format!("<h1>{subject}</h1>"),
            text: subject.clone(),
            subject,
            facts: serde_json::json!({}),
        })
    }
}
