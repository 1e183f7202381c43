//! Writes: a whole dataset in one transaction (import), or one plan with its key results.

use super::rows::{
    self, ACTIONS, ACTIVITIES, FEEDBACK, KEY_RESULTS, KR_PROGRESS, OBSERVED_ACTIONS, PARTNERS,
    PLANS,
};
use super::{Store, StoreError};
use crate::domain::catalog::ActionSource;
use crate::domain::Dataset;
use crate::domain::{KeyResult, Plan};

/// Called as rows are written: the entity and how many rows the last statement wrote.
pub type WriteProgress<'a> = &'a mut dyn FnMut(&'static str, usize);

impl Store {
    /// Upserts every row of `data` for `tenant` in one transaction: all of it is stored or,
    /// on any error, none of it. Actions whose source is `Observed` (kinds first seen in
    /// activities) are inserted only where the tenant has no definition yet.
    pub async fn write_dataset(
        &self,
        tenant: &str,
        data: &Dataset,
        progress: WriteProgress<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| StoreError::Query("starting the import transaction", e))?;
        PARTNERS
            .upsert(
                &mut tx,
                self.backend,
                data.partners.iter().map(|p| rows::partner_row(tenant, p)),
                |n| progress("partners", n),
            )
            .await?;
        PLANS
            .upsert(
                &mut tx,
                self.backend,
                data.plans.iter().map(|p| rows::plan_row(tenant, p)),
                |n| progress("plans", n),
            )
            .await?;
        KEY_RESULTS
            .upsert(
                &mut tx,
                self.backend,
                data.key_results
                    .iter()
                    .map(|k| rows::key_result_row(tenant, k)),
                |n| progress("key_results", n),
            )
            .await?;
        KR_PROGRESS
            .upsert(
                &mut tx,
                self.backend,
                data.kr_progress
                    .iter()
                    .map(|p| rows::progress_row(tenant, p)),
                |n| progress("kr_progress", n),
            )
            .await?;
        ACTIVITIES
            .upsert(
                &mut tx,
                self.backend,
                data.activities
                    .iter()
                    .map(|a| rows::activity_row(tenant, a)),
                |n| progress("activities", n),
            )
            .await?;
        let (observed, defined): (Vec<_>, Vec<_>) = data
            .actions
            .iter()
            .partition(|a| a.source == ActionSource::Observed);
        ACTIONS
            .upsert(
                &mut tx,
                self.backend,
                defined.into_iter().map(|a| rows::action_row(tenant, a)),
                |n| progress("actions", n),
            )
            .await?;
        OBSERVED_ACTIONS
            .upsert(
                &mut tx,
                self.backend,
                observed.into_iter().map(|a| rows::action_row(tenant, a)),
                |n| progress("actions", n),
            )
            .await?;
        FEEDBACK
            .upsert(
                &mut tx,
                self.backend,
                data.feedback.iter().map(|f| rows::feedback_row(tenant, f)),
                |n| progress("feedback", n),
            )
            .await?;
        tx.commit()
            .await
            .map_err(|e| StoreError::Query("committing the import", e))
    }

    /// Stores a plan together with its complete set of key results, atomically: key
    /// results of the plan that are not in `key_results` are removed with their progress.
    pub async fn upsert_plan(
        &self,
        tenant: &str,
        plan: &Plan,
        key_results: &[KeyResult],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| StoreError::Query("starting a plan write", e))?;
        PLANS
            .upsert(
                &mut tx,
                self.backend,
                [rows::plan_row(tenant, plan)],
                |_| {},
            )
            .await?;
        let keep: Vec<&str> = key_results.iter().map(|k| k.kr_id.as_str()).collect();
        let stale: Vec<String> = sqlx::query_scalar::<_, String>(
            "SELECT kr_id FROM key_results WHERE tenant_id = $1 AND plan_id = $2",
        )
        .bind(tenant)
        .bind(plan.plan_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| StoreError::Query("reading a plan's key results", e))?
        .into_iter()
        .filter(|id| !keep.contains(&id.as_str()))
        .collect();
        for kr_id in &stale {
            for sql in [
                "DELETE FROM kr_progress WHERE tenant_id = $1 AND kr_id = $2",
                "DELETE FROM key_results WHERE tenant_id = $1 AND kr_id = $2",
            ] {
                sqlx::query(sql)
                    .bind(tenant)
                    .bind(kr_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Query("removing a key result", e))?;
            }
        }
        KEY_RESULTS
            .upsert(
                &mut tx,
                self.backend,
                key_results.iter().map(|k| rows::key_result_row(tenant, k)),
                |_| {},
            )
            .await?;
        tx.commit()
            .await
            .map_err(|e| StoreError::Query("committing a plan write", e))
    }
}
