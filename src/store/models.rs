//! Model versions as every replica sees them: each trained version's card and model (the
//! registry's two JSON files, byte for byte) and the tenant's one active version. A
//! replica's models directory caches these rows; the rows are the truth.

use chrono::{DateTime, Utc};

use super::rows::timestamp;
use super::{Store, StoreError};

/// A stored version's two files (both JSON, so text).
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub card: String,
    pub model: String,
}

impl Store {
    /// Stores a version (a no-op when it is stored already: versions never change).
    pub async fn publish_model(
        &self,
        tenant: &str,
        version: &str,
        created_at: DateTime<Utc>,
        files: &StoredModel,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO model_versions (tenant_id, version, created_at, card, model) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, version) DO NOTHING",
        )
        .bind(tenant)
        .bind(version)
        .bind(timestamp(&created_at))
        .bind(files.card.as_str())
        .bind(files.model.as_str());
        self.write_one("storing a model version", query)
            .await
            .map(|_| ())
    }

    /// Makes a stored version the tenant's active one; `false` (nothing changed) when the
    /// version is not stored.
    pub async fn activate_model(
        &self,
        tenant: &str,
        version: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "activating a model version";
        let mut tx = self.write_tx(WHAT).await?;
        let query = sqlx::query(
            "INSERT INTO active_models (tenant_id, version, activated_at) \
             SELECT tenant_id, version, $3 FROM model_versions \
             WHERE tenant_id = $1 AND version = $2 \
             ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version, \
             activated_at = excluded.activated_at",
        )
        .bind(tenant)
        .bind(version)
        .bind(timestamp(&now));
        let activated = tx.run(WHAT, query).await? > 0;
        if activated {
            self.notify_in(tx.conn(), &super::Change::model(tenant))
                .await
                .map_err(|e| tx.failed(e))?;
        }
        tx.commit(WHAT).await?;
        Ok(activated)
    }

    /// The tenant's active version as stored, if it has one.
    pub async fn active_model_version(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT version FROM active_models WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::Query("reading the active model version", e))
    }

    /// A stored version's files.
    pub async fn stored_model(
        &self,
        tenant: &str,
        version: &str,
    ) -> Result<Option<StoredModel>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT card, model FROM model_versions WHERE tenant_id = $1 AND version = $2",
        )
        .bind(tenant)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::Query("reading a model version", e))?;
        Ok(row.map(|(card, model)| StoredModel { card, model }))
    }

    /// The cards of the versions stored for a tenant, oldest first (JSON, as the registry
    /// wrote them).
    pub async fn model_cards(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT card FROM model_versions WHERE tenant_id = $1 ORDER BY created_at, version",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("listing model versions", e))
    }
}
