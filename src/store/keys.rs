//! API keys as stored: the tenant and scope each key is bound to and a SHA-256 of its
//! secret. Generating, hashing and comparing secrets is the API's business (`api::auth`);
//! the store only keeps the rows.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::timestamp;
use super::{Store, StoreError};

/// One API key row. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredKey {
    pub key_id: String,
    pub tenant_id: String,
    pub scope: String,
    /// Lower-case hex SHA-256 of the secret part of the key.
    #[serde(skip)]
    pub secret_sha256: String,
    pub name: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

pub(super) fn key_row(row: &sqlx::any::AnyRow) -> Result<StoredKey, StoreError> {
    let get = |column: &'static str| -> Result<Option<String>, StoreError> {
        row.try_get::<Option<String>, _>(column)
            .map_err(|e| StoreError::Query(column, e))
    };
    let required = |column: &'static str| -> Result<String, StoreError> {
        get(column)?.ok_or_else(|| StoreError::Corrupt {
            what: column,
            value: String::new(),
            why: "is empty".into(),
        })
    };
    Ok(StoredKey {
        key_id: required("key_id")?,
        tenant_id: required("tenant_id")?,
        scope: required("scope")?,
        secret_sha256: required("secret_sha256")?,
        name: get("name")?,
        created_at: required("created_at")?,
        revoked_at: get("revoked_at")?,
    })
}

pub(super) const COLUMNS: &str =
    "key_id, tenant_id, scope, secret_sha256, name, created_at, revoked_at";

impl Store {
    /// Stores a new key; a `key_id` that exists already is an error (ids are random, so a
    /// collision means a bug, never a silent overwrite).
    pub async fn insert_api_key(
        &self,
        key: &StoredKey,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, tenant_id, scope, secret_sha256, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.key_id.as_str())
        .bind(key.tenant_id.as_str())
        .bind(key.scope.as_str())
        .bind(key.secret_sha256.as_str())
        .bind(key.name.clone())
        .bind(timestamp(&now))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::Query("storing an API key", e))?;
        Ok(())
    }

    /// The key with this id, revoked or not.
    pub async fn api_key(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"))
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::Query("reading an API key", e))?;
        row.as_ref().map(key_row).transpose()
    }

    /// Every key of a tenant, oldest first.
    pub async fn api_keys(&self, tenant: &str) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("listing API keys", e))?
        .iter()
        .map(key_row)
        .collect()
    }

    /// Revokes a key of `tenant`; `false` when it has no such key. Revoking twice keeps
    /// the first time. The key's dashboard sessions are deleted in the same transaction,
    /// so no replica can honour one after the revocation commits.
    pub async fn revoke_api_key(
        &self,
        tenant: &str,
        key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "revoking an API key";
        let mut tx = self.write_tx(WHAT).await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE tenant_id = $1 AND key_id = $2",
        )
        .bind(tenant)
        .bind(key_id)
        .bind(timestamp(&now))
        .execute(tx.conn())
        .await
        .map_err(|e| tx.failed(StoreError::Query(WHAT, e)))?;
        sqlx::query("DELETE FROM dashboard_sessions WHERE tenant_id = $1 AND key_id = $2")
            .bind(tenant)
            .bind(key_id)
            .execute(tx.conn())
            .await
            .map_err(|e| tx.failed(StoreError::Query(WHAT, e)))?;
        tx.commit(WHAT).await?;
        Ok(done.rows_affected() > 0)
    }
}
