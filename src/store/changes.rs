//! What replicas tell each other: a committed write names the partners it touched (or
//! the tenant, for a catalog change; or the tenant's model, for an activation), so every
//! replica drops the answers it holds for them.
//!
//! On PostgreSQL a change is a `NOTIFY` sent inside the writing transaction: PostgreSQL
//! delivers it when, and only when, the transaction commits, in commit order, to every
//! replica listening; a write cannot be acknowledged without its notice going out, and a
//! rolled-back one sends none. A replica whose listening connection drops cannot know
//! what it missed, so it drops everything it holds ([`ChangeListener::next`] says so).
//! SQLite has one process per database file, so it has no one to tell.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::AnyConnection;

use super::{Backend, Store, StoreError};
use crate::domain::Dataset;

/// The channel every replica listens on.
pub const CHANNEL: &str = "nextbest_changes";

/// PostgreSQL refuses payloads of 8,000 bytes or more; a change naming more partners than
/// fit is sent as a tenant-wide one.
const MAX_PAYLOAD: usize = 7_900;

/// What a committed write changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "lowercase")]
pub enum Changed {
    /// These partners' records (their plans, key results, progress, activities, feedback).
    Partners { partners: Vec<String> },
    /// Something every answer of the tenant reads (its catalog), or too many partners.
    Tenant,
    /// The tenant's active model.
    Model,
}

/// One committed change, and which replica made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub tenant: String,
    #[serde(flatten)]
    pub changed: Changed,
    /// The replica that wrote it (its own notices come back to it too).
    #[serde(default)]
    pub origin: String,
}

impl Change {
    pub fn partners(tenant: &str, partners: Vec<String>) -> Self {
        Self::new(tenant, Changed::Partners { partners })
    }

    pub fn tenant(tenant: &str) -> Self {
        Self::new(tenant, Changed::Tenant)
    }

    pub fn model(tenant: &str) -> Self {
        Self::new(tenant, Changed::Model)
    }

    fn new(tenant: &str, changed: Changed) -> Self {
        Self {
            tenant: tenant.to_owned(),
            changed,
            origin: String::new(),
        }
    }

    /// The notice's payload: the change as JSON, widened to the tenant when too long.
    fn payload(&self, origin: &str) -> Result<String, serde_json::Error> {
        let mut change = Self {
            origin: origin.to_owned(),
            ..self.clone()
        };
        let text = serde_json::to_string(&change)?;
        if text.len() < MAX_PAYLOAD {
            return Ok(text);
        }
        change.changed = Changed::Tenant;
        serde_json::to_string(&change)
    }
}

/// A replica's subscription to the changes the others commit.
pub struct ChangeListener {
    listener: PgListener,
}

impl ChangeListener {
    /// The next change; `Ok(None)` when the connection was lost and notices may have been
    /// missed (the listener reconnects on the next call): the caller must then assume
    /// anything changed. A notice that is not a change (sent by hand) is skipped, logged.
    ///
    /// # Errors
    /// The database cannot be reached to listen again.
    pub async fn next(&mut self) -> Result<Option<Change>, StoreError> {
        loop {
            let notice = self
                .listener
                .try_recv()
                .await
                .map_err(|e| StoreError::Query("listening for changes", e))?;
            let Some(notice) = notice else {
                return Ok(None);
            };
            match serde_json::from_str::<Change>(notice.payload()) {
                Ok(change) => return Ok(Some(change)),
                Err(e) => {
                    tracing::warn!(channel = CHANNEL, error = %e, "ignoring a notice that is not a change");
                }
            }
        }
    }
}

impl Store {
    /// This process's name among the replicas.
    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// Tells the other replicas of `change` when the transaction on `conn` commits. A
    /// no-op on SQLite.
    pub(crate) async fn notify_in(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let payload = change
            .payload(&self.replica_id)
            .map_err(|e| StoreError::Corrupt {
                what: "change notice",
                value: change.tenant.clone(),
                why: e.to_string(),
            })?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(conn)
            .await
            .map_err(|e| StoreError::Query("telling the replicas of a change", e))?;
        Ok(())
    }

    /// Tells the other replicas what a write of `data` touched (on PostgreSQL; a no-op on
    /// SQLite): its partners, or the tenant when it changed the catalog.
    pub(super) async fn notify_written(
        &self,
        conn: &mut AnyConnection,
        tenant: &str,
        data: &Dataset,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let change = if data.actions.is_empty() {
            Change::partners(tenant, self.partners_touched_on(conn, tenant, data).await?)
        } else {
            Change::tenant(tenant)
        };
        self.notify_in(conn, &change).await
    }

    /// A subscription to the changes replicas commit; `None` on SQLite, which has no other
    /// replica.
    ///
    /// # Errors
    /// The database cannot be reached.
    pub async fn listen(&self) -> Result<Option<ChangeListener>, StoreError> {
        let Some(url) = self.listen_url.as_ref() else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url.0.as_ref())
            .await
            .map_err(|e| StoreError::Connect(Backend::Postgres, e))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(|e| StoreError::Query("listening for changes", e))?;
        Ok(Some(ChangeListener { listener }))
    }
}

/// The database URL, kept for the listener and never printed (it may hold a password).
#[derive(Clone)]
pub(super) struct ListenUrl(pub(super) std::sync::Arc<str>);

impl std::fmt::Debug for ListenUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenUrl(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_round_trips_and_widens_to_the_tenant_when_too_long() {
        let change = Change::partners("acme", vec!["p1".into(), "p2".into()]);
        let payload = change.payload("r1").unwrap();
        let back: Change = serde_json::from_str(&payload).unwrap();
        assert_eq!(back.changed, change.changed);
        assert_eq!(back.origin, "r1");
        let many = Change::partners("acme", (0..2_000).map(|i| format!("partner-{i}")).collect());
        let payload = many.payload("r1").unwrap();
        assert!(payload.len() < MAX_PAYLOAD);
        let back: Change = serde_json::from_str(&payload).unwrap();
        assert_eq!(back.changed, Changed::Tenant);
        assert_eq!(back.tenant, "acme");
    }
}
