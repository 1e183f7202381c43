//! Dashboard sessions as stored: the SHA-256 of each session token with the key it was
//! opened with and when it expires. The token and its hashing are the dashboard's
//! business (`web::session`); the store never sees a token.
//!
//! A session carries no scope of its own: looking one up reads its key row as it is now,
//! so a revoked key (or one deleted) ends its sessions on every replica at the next page
//! view, with no cache in between.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::keys::{key_row, COLUMNS};
use super::rows::timestamp;
use super::{Store, StoreError, StoredKey};

/// The live key row behind a session: the key's columns, named as `api_keys` names them
/// (both tables have `tenant_id` and `key_id`), built once.
static SESSION_KEY: LazyLock<String> = LazyLock::new(|| {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("k.{c} AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns} FROM dashboard_sessions s \
         JOIN api_keys k ON k.key_id = s.key_id AND k.tenant_id = s.tenant_id \
         WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL"
    )
});

/// A session to start: who signed in, with which key, until when.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    /// Lower-case hex SHA-256 of the session token.
    pub token_sha256: &'a str,
    pub tenant_id: &'a str,
    pub key_id: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Stores a session; `false` (and nothing stored) when its key is revoked or gone, so
    /// a key revoked since the caller last read it cannot open a session. Expired sessions
    /// of the tenant are deleted in the same transaction: the table holds at most a
    /// session lifetime's worth of sign-ins.
    pub async fn start_dashboard_session(
        &self,
        session: &NewSession<'_>,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "starting a dashboard session";
        let mut tx = self.write_tx(WHAT).await?;
        sqlx::query("DELETE FROM dashboard_sessions WHERE tenant_id = $1 AND expires_at <= $2")
            .bind(session.tenant_id)
            .bind(timestamp(&session.created_at))
            .execute(tx.conn())
            .await
            .map_err(|e| tx.failed(StoreError::Query(WHAT, e)))?;
        let done = sqlx::query(
            "INSERT INTO dashboard_sessions \
             (token_sha256, tenant_id, key_id, created_at, expires_at) \
             SELECT $1, tenant_id, key_id, $4, $5 FROM api_keys \
             WHERE tenant_id = $2 AND key_id = $3 AND revoked_at IS NULL",
        )
        .bind(session.token_sha256)
        .bind(session.tenant_id)
        .bind(session.key_id)
        .bind(timestamp(&session.created_at))
        .bind(timestamp(&session.expires_at))
        .execute(tx.conn())
        .await
        .map_err(|e| tx.failed(StoreError::Query(WHAT, e)))?;
        tx.commit(WHAT).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The key row behind a session that has not expired at `now`; `None` for an unknown,
    /// expired or ended session, or one whose key is revoked or gone.
    pub async fn dashboard_session_key(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(&SESSION_KEY)
            .bind(token_sha256)
            .bind(timestamp(&now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::Query("reading a dashboard session", e))?;
        row.as_ref().map(key_row).transpose()
    }

    /// Ends a session (signing out); ending one that is not there is not an error.
    pub async fn end_dashboard_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Query("ending a dashboard session", e))?;
        Ok(())
    }
}
