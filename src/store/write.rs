//! Writes: a whole dataset in one transaction (import), or one plan with its key results.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;

use super::rows::{
    self, each, placeholders, ACTIONS, ACTIVITIES, FEEDBACK, IN_LIST_MAX, KEY_RESULTS, KR_PROGRESS,
    OBSERVED_ACTIONS, PARTNERS, PLANS,
};
use super::{Change, Store, StoreError};
use crate::domain::catalog::ActionSource;
use crate::domain::Dataset;
use crate::domain::{Id, KeyResult, Plan};

/// Called as rows are written: the entity and how many rows the last statement wrote.
pub type WriteProgress<'a> = &'a mut (dyn FnMut(&'static str, usize) + Send);

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
        self.write_dataset_replacing(tenant, data, &[], progress)
            .await
            .map(|_removed| ())
    }

    /// [`Self::write_dataset`], where moreover each plan in `complete` ends up with exactly
    /// the key results `data` gives it: its other key results are removed with their
    /// progress, in the same transaction. This is how a client that sends a plan with its
    /// key results deletes one. Returns how many key results were removed.
    pub async fn write_dataset_replacing(
        &self,
        tenant: &str,
        data: &Dataset,
        complete: &[Id],
        progress: WriteProgress<'_>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx("starting the import transaction").await?;
        let removed = self
            .write_request(tx.conn(), tenant, data, complete, progress)
            .await
            .map_err(|e| tx.failed(e))?;
        tx.commit("committing the import").await?;
        Ok(removed)
    }

    /// One write's statements inside a transaction: its rows, then its change notice
    /// (alone, or one request of a group). The key results removed.
    pub(super) async fn write_request(
        &self,
        tx: &mut AnyConnection,
        tenant: &str,
        data: &Dataset,
        complete: &[Id],
        progress: WriteProgress<'_>,
    ) -> Result<u64, StoreError> {
        let removed = self
            .write_rows(tx, tenant, data, complete, progress)
            .await?;
        self.notify_written(tx, tenant, data).await?;
        Ok(removed)
    }

    /// The rows of several requests of one tenant, none of which gives a plan's key
    /// results whole, in one statement per table rather than one per table and request:
    /// each statement of a group commit is a round trip to SQLite's worker thread. The
    /// rows are those of the requests one after the other, so a row written twice ends
    /// as the later request left it. (Copied into one dataset: grouped requests are a
    /// platform's small syncs, and a borrowed chain of them would not prove `Send`.)
    pub(super) async fn write_requests(
        &self,
        tx: &mut AnyConnection,
        tenant: &str,
        data: &[&Dataset],
    ) -> Result<(), StoreError> {
        let mut all = Dataset::default();
        data.iter().for_each(|d| all.extend_from(d));
        self.write_request(tx, tenant, &all, &[], &mut |_, _| {})
            .await
            .map(|_removed| ())
    }

    /// The statements of [`Self::write_dataset_replacing`], inside its transaction.
    async fn write_rows(
        &self,
        tx: &mut AnyConnection,
        tenant: &str,
        data: &Dataset,
        complete: &[Id],
        progress: WriteProgress<'_>,
    ) -> Result<u64, StoreError> {
        PARTNERS
            .upsert(
                tx,
                self.backend,
                each(tenant, &data.partners, rows::partner_row),
                |n| progress("partners", n),
            )
            .await?;
        PLANS
            .upsert(
                tx,
                self.backend,
                each(tenant, &data.plans, rows::plan_row),
                |n| progress("plans", n),
            )
            .await?;
        let plans: Vec<&str> = complete.iter().map(Id::as_str).collect();
        let keep: HashSet<&str> = data.key_results.iter().map(|k| k.kr_id.as_str()).collect();
        let removed = remove_other_key_results(tx, tenant, &plans, &keep).await?;
        upsert_key_results(tx, self.backend, tenant, &data.key_results, |n| {
            progress("key_results", n);
        })
        .await?;
        KR_PROGRESS
            .upsert(
                tx,
                self.backend,
                each(tenant, &data.kr_progress, rows::progress_row),
                |n| progress("kr_progress", n),
            )
            .await?;
        ACTIVITIES
            .upsert(
                tx,
                self.backend,
                each(tenant, &data.activities, rows::activity_row),
                |n| progress("activities", n),
            )
            .await?;
        let (observed, defined): (Vec<_>, Vec<_>) = data
            .actions
            .iter()
            .partition(|a| a.source == ActionSource::Observed);
        ACTIONS
            .upsert(
                tx,
                self.backend,
                each(tenant, defined, rows::action_row),
                |n| progress("actions", n),
            )
            .await?;
        OBSERVED_ACTIONS
            .upsert(
                tx,
                self.backend,
                each(tenant, observed, rows::action_row),
                |n| progress("actions", n),
            )
            .await?;
        FEEDBACK
            .upsert(
                tx,
                self.backend,
                each(tenant, &data.feedback, rows::feedback_row),
                |n| progress("feedback", n),
            )
            .await?;
        Ok(removed)
    }

    /// Stores a plan together with its complete set of key results, atomically: key
    /// results of the plan that are not in `key_results` are removed with their progress.
    pub async fn upsert_plan(
        &self,
        tenant: &str,
        plan: &Plan,
        key_results: &[KeyResult],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx("starting a plan write").await?;
        let conn = tx.conn();
        let written = async {
            PLANS
                .upsert(conn, self.backend, [rows::plan_row(tenant, plan)], |_| {})
                .await?;
            let keep: HashSet<&str> = key_results.iter().map(|k| k.kr_id.as_str()).collect();
            remove_other_key_results(conn, tenant, &[plan.plan_id.as_str()], &keep).await?;
            upsert_key_results(conn, self.backend, tenant, key_results, |_| {}).await?;
            let change = Change::partners(tenant, vec![plan.partner_id.to_string()]);
            self.notify_in(conn, &change).await
        }
        .await;
        written.map_err(|e| tx.failed(e))?;
        tx.commit("committing a plan write").await
    }
}

/// Upserts key results, none of which may change plans: the statement leaves a stored key
/// result of another plan alone ([`KEY_RESULTS`] fixes `plan_id`), so fewer rows written
/// than given means one would have moved, and the write is refused. The importer refuses
/// such rows earlier, with their line; this catches what was written in between.
async fn upsert_key_results(
    tx: &mut AnyConnection,
    backend: super::Backend,
    tenant: &str,
    key_results: &[KeyResult],
    on_rows: impl FnMut(usize),
) -> Result<(), StoreError> {
    let written = KEY_RESULTS
        .upsert(
            tx,
            backend,
            each(tenant, key_results, rows::key_result_row),
            on_rows,
        )
        .await?;
    if written == u64::try_from(key_results.len()).unwrap_or(u64::MAX) {
        return Ok(());
    }
    Err(moved_key_result(tx, tenant, key_results).await)
}

/// Names a key result of `given` that the store holds under another plan.
async fn moved_key_result(tx: &mut AnyConnection, tenant: &str, given: &[KeyResult]) -> StoreError {
    let plans: HashMap<&str, &str> = given
        .iter()
        .map(|k| (k.kr_id.as_str(), k.plan_id.as_str()))
        .collect();
    for chunk in given.chunks(IN_LIST_MAX) {
        let sql = format!(
            "SELECT kr_id, plan_id FROM key_results WHERE tenant_id = $1 AND kr_id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(tenant.to_owned());
        for kr in chunk {
            query = query.bind(kr.kr_id.to_string());
        }
        let stored = match query.fetch_all(&mut *tx).await {
            Ok(stored) => stored,
            Err(e) => return StoreError::Query("finding a key result of another plan", e),
        };
        let moved = stored
            .into_iter()
            .find(|(kr, held)| plans.get(kr.as_str()).is_some_and(|given| given != held));
        if let Some((kr_id, held)) = moved {
            let given = plans.get(kr_id.as_str()).copied().unwrap_or_default();
            return StoreError::KeyResultOfAnotherPlan {
                given: given.to_owned(),
                kr_id,
                held,
            };
        }
    }
    // Every row was accounted for after all: the statement and this read disagree.
    StoreError::Query("writing key results", sqlx::Error::RowNotFound)
}

/// Removes the key results of `plans` whose id is not in `keep`, progress first (it
/// references them). Returns how many key results went. Activities that named a removed
/// key result keep the id: it is a soft link, like in an import.
async fn remove_other_key_results(
    tx: &mut AnyConnection,
    tenant: &str,
    plans: &[&str],
    keep: &HashSet<&str>,
) -> Result<u64, StoreError> {
    let mut stale: Vec<String> = Vec::new();
    for chunk in plans.chunks(IN_LIST_MAX) {
        let sql = format!(
            "SELECT kr_id FROM key_results WHERE tenant_id = $1 AND plan_id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(tenant.to_owned());
        for plan in chunk {
            query = query.bind((*plan).to_owned());
        }
        let ids = query
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| StoreError::Query("reading a plan's key results", e))?;
        stale.extend(ids.into_iter().filter(|id| !keep.contains(id.as_str())));
    }
    for chunk in stale.chunks(IN_LIST_MAX) {
        for table in ["kr_progress", "key_results"] {
            let sql = format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND kr_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(tenant.to_owned());
            for kr in chunk {
                query = query.bind(kr.clone());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Query("removing a key result", e))?;
        }
    }
    Ok(u64::try_from(stale.len()).unwrap_or(u64::MAX))
}
