//! Existence checks: cheaper than loading a record when a handler only needs to know
//! whether an id is the tenant's (an unknown id answers 404 before any work).

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use super::rows::select_in;
use super::{Store, StoreError};
use crate::domain::{Dataset, Id, Plan};

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

    /// The partners whose records `data` touched: its partners, the partners of its plans,
    /// and those of the plans its key results, progress, activities and feedback belong
    /// to (read from the store where the rows name only a plan or a key result). What a
    /// write can change of the answers is these partners' plans.
    pub async fn partners_touched(
        &self,
        tenant: &str,
        data: &Dataset,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::Query("finding the partners a write touched", e))?;
        self.partners_touched_on(&mut conn, tenant, data).await
    }

    /// [`Self::partners_touched`] on `conn` (inside the writing transaction, which sees
    /// its own rows).
    pub(crate) async fn partners_touched_on(
        &self,
        conn: &mut AnyConnection,
        tenant: &str,
        data: &Dataset,
    ) -> Result<Vec<String>, StoreError> {
        let mut partners: BTreeSet<String> = data
            .partners
            .iter()
            .map(|p| p.partner_id.to_string())
            .chain(data.plans.iter().map(|p| p.partner_id.to_string()))
            .collect();
        let plans: BTreeSet<String> = data
            .key_results
            .iter()
            .map(|k| k.plan_id.to_string())
            .chain(data.activities.iter().map(|a| a.plan_id.to_string()))
            .chain(data.feedback.iter().map(|f| f.plan_id.to_string()))
            .collect();
        let plans: Vec<String> = plans.into_iter().collect();
        partners.extend(
            select_in::<(String,), _>(
                conn,
                "finding the partners of written plans",
                "SELECT DISTINCT partner_id FROM plans WHERE tenant_id = $1 AND plan_id IN",
                tenant,
                &plans,
            )
            .await?
            .into_iter()
            .map(|(p,)| p),
        );
        let krs: Vec<String> = data
            .kr_progress
            .iter()
            .map(|p| p.kr_id.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        partners.extend(
            select_in::<(String,), _>(
                conn,
                "finding the partners of written progress",
                "SELECT DISTINCT p.partner_id FROM key_results k JOIN plans p \
                 ON p.tenant_id = k.tenant_id AND p.plan_id = k.plan_id \
                 WHERE k.tenant_id = $1 AND k.kr_id IN",
                tenant,
                &krs,
            )
            .await?
            .into_iter()
            .map(|(p,)| p),
        );
        Ok(partners.into_iter().collect())
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
