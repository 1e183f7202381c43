//! Existence checks: cheaper than loading a record when a handler only needs to know
//! whether an id is the tenant's (an unknown id answers 404 before any work).

use super::{Store, StoreError};
use crate::domain::{Id, Plan};

impl Store {
    /// Whether the tenant has this plan.
    pub async fn plan_exists(&self, tenant: &str, plan_id: &Id) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM plans WHERE tenant_id = $1 AND plan_id = $2")
                .bind(tenant)
                .bind(plan_id.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(|e| StoreError::Query("checking a plan id", e))?;
        Ok(n > 0)
    }

    /// The plan itself, without what is recorded about it (see [`Store::plan`] for that).
    pub async fn plan_row(&self, tenant: &str, plan_id: &Id) -> Result<Option<Plan>, StoreError> {
        let rows = self
            .fetch(
                "reading a plan",
                "SELECT * FROM plans WHERE tenant_id = $1 AND plan_id = $2",
                tenant,
                &[plan_id.to_string()],
            )
            .await?;
        rows.first().map(super::read::plan).transpose()
    }

    /// Whether the tenant has a partner managed by `manager_id`, or a plan owned by them.
    pub async fn manager_exists(&self, tenant: &str, manager_id: &Id) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM partners WHERE tenant_id = $1 AND manager_id = $2) \
             + (SELECT COUNT(*) FROM plans WHERE tenant_id = $1 AND owner_id = $2)",
        )
        .bind(tenant)
        .bind(manager_id.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::Query("checking a manager id", e))?;
        Ok(n > 0)
    }

    /// A trivial query, for readiness: the pool can hand out a connection that answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM partners WHERE tenant_id = ''")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::Query("checking the store answers", e))?;
        Ok(())
    }
}
