//! Group commit: concurrent writes share one transaction and one sync. A disk syncs a
//! few thousand times a second, so one commit per request caps a busy platform's writes
//! there (about 1,150 a second here) however fast the rest is; in groups, one sync
//! acknowledges every request that arrived while the previous group was committing.
//!
//! This is for SQLite, whose one writer takes one transaction at a time. PostgreSQL
//! commits concurrent transactions together by itself (one WAL flush for the commits
//! waiting on it), over the pool's connections: there a write is a transaction of its
//! own (measured: 282-335 writes/s that way against 168-181 through one group at a time).
//!
//! There is no writer task: each request queues its rows and takes the writer lock; the
//! one that gets it while its rows are still queued leads, taking everything queued into
//! one transaction, each request's rows under a savepoint of their own, so a refused row
//! (a key result moving plans, say) fails only its own request. Each request is answered
//! after the group's `COMMIT` returns (synced: SQLite's `synchronous=FULL`), or with the
//! error that ended the group. The group is committed
//! by a task of its own, so a leader whose client goes away does not cancel the others'.

use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, Executor};
use tokio::sync::oneshot;

use super::tx::WriteTx;
use super::{Backend, Store, StoreError};
use crate::domain::{Dataset, Id};

/// Where a request's answer goes.
type Reply = oneshot::Sender<Result<u64, StoreError>>;

/// One request's rows, waiting for a group.
struct Pending {
    id: u64,
    tenant: String,
    data: Arc<Dataset>,
    complete: Vec<Id>,
    reply: Reply,
}

/// The queue of rows waiting and the lock of the one group committing at a time.
#[derive(Default)]
pub(super) struct Group {
    next: std::sync::atomic::AtomicU64,
    /// Groups committed, for the tests and the log.
    groups: std::sync::atomic::AtomicU64,
    queue: Mutex<Vec<Pending>>,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Group")
    }
}

const WHAT: &str = "committing a group of writes";

impl Store {
    /// [`Self::write_dataset_replacing`] in a group with the writes that arrive at the
    /// same time: the same rows, the same checks, the same all-or-nothing for this
    /// request's rows, and `Ok` only once they are committed and synced.
    ///
    /// # Errors
    /// This request's own refusal, or the fault that ended its group (nothing of it was
    /// written then). An error never means another request's rows failed.
    pub async fn write_grouped(
        &self,
        tenant: &str,
        data: Arc<Dataset>,
        complete: Vec<Id>,
    ) -> Result<u64, StoreError> {
        if self.backend == Backend::Postgres {
            // PostgreSQL commits concurrent transactions together by itself (one WAL flush
            // for the commits waiting on it), over as many connections as the pool has;
            // funnelling them through one transaction here made writes slower, not faster.
            return self
                .write_dataset_replacing(tenant, &data, &complete, &mut |_, _| {})
                .await;
        }
        let (reply, mut answered) = oneshot::channel();
        let id = self
            .group
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.group
            .queue
            .lock()
            .map_err(|_| StoreError::GroupLost)?
            .push(Pending {
                id,
                tenant: tenant.to_owned(),
                data,
                complete,
                reply,
            });
        // A request dropped while it waits takes its rows out of the queue: nothing of a
        // write nobody waits for is committed later, by surprise.
        let mut queued = Queued {
            group: &self.group,
            id: Some(id),
        };
        let writer = Arc::clone(&self.group.writer).lock_owned().await;
        queued.id = None;
        match answered.try_recv() {
            Ok(result) => return result,
            Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::GroupLost),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        // Still queued: lead a group of everything queued, ours included.
        let batch =
            std::mem::take(&mut *self.group.queue.lock().map_err(|_| StoreError::GroupLost)?);
        let store = self.clone();
        let group = tokio::spawn(async move {
            store.commit_group(batch).await;
            drop(writer);
        });
        if let Err(e) = group.await {
            tracing::error!(error = %e, "a group commit task failed");
        }
        answered.await.unwrap_or(Err(StoreError::GroupLost))
    }

    async fn commit_group(&self, batch: Vec<Pending>) {
        let size = batch.len();
        let mut tx = match self.write_tx(WHAT).await {
            Ok(tx) => tx,
            Err(e) => return fail_all(batch.into_iter().map(|p| p.reply), e),
        };
        let mut written: Vec<(Reply, u64)> = Vec::new();
        let mut refused: Vec<(Reply, StoreError)> = Vec::new();
        let mut batch = batch.into_iter();
        // A savepoint that cannot be taken, released or rolled back leaves the
        // transaction unusable: then the whole group fails with that error.
        let broken = loop {
            let Some(pending) = batch.next() else {
                break None;
            };
            match self.grouped_request(&mut tx, pending).await {
                Ok((reply, Ok(removed))) => written.push((reply, removed)),
                Ok((reply, Err(e))) => refused.push((reply, e)),
                Err(broken) => break Some(broken),
            }
        };
        refused.into_iter().for_each(|(r, e)| send(r, Err(e)));
        if let Some((reply, e)) = broken {
            let replies = written
                .into_iter()
                .map(|(r, _)| r)
                .chain(std::iter::once(reply))
                .chain(batch.map(|p| p.reply));
            return fail_all(replies, e);
        }
        if written.is_empty() {
            // Every request was refused: there is nothing to commit, and dropping the
            // transaction rolls it back.
            return;
        }
        match tx.commit(WHAT).await {
            Ok(()) => {
                self.group
                    .groups
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::trace!(size, written = written.len(), "group committed");
                written.into_iter().for_each(|(r, n)| send(r, Ok(n)));
            }
            Err(e) => fail_all(written.into_iter().map(|(r, _)| r), e),
        }
    }

    /// One request's rows under a savepoint of their own: its outcome (a refusal rolls
    /// back to the savepoint), or `Err` when the savepoint itself failed and the
    /// transaction cannot go on.
    async fn grouped_request(
        &self,
        tx: &mut WriteTx,
        pending: Pending,
    ) -> Result<(Reply, Result<u64, StoreError>), (Reply, StoreError)> {
        let Pending {
            tenant,
            data,
            complete,
            reply,
            ..
        } = pending;
        if let Err(e) = statement(tx.conn(), "SAVEPOINT grouped").await {
            return Err((reply, tx.failed(e)));
        }
        let mut rows = self
            .write_rows(tx.conn(), &tenant, &data, &complete, &mut |_, _| {})
            .await;
        if rows.is_ok() {
            rows = self
                .notify_written(tx.conn(), &tenant, &data)
                .await
                .and(rows);
        }
        // The group let go of the rows before answering (the caller reclaims them).
        drop(data);
        let closed = match rows {
            Ok(_) => statement(tx.conn(), "RELEASE SAVEPOINT grouped").await,
            Err(_) => match statement(tx.conn(), "ROLLBACK TO SAVEPOINT grouped").await {
                Ok(()) => statement(tx.conn(), "RELEASE SAVEPOINT grouped").await,
                Err(e) => Err(e),
            },
        };
        match closed {
            Ok(()) => Ok((reply, rows.map_err(|e| tx.failed(e)))),
            Err(e) => Err((reply, tx.failed(e))),
        }
    }
}

/// Takes a waiting request's rows out of the queue if it is dropped before they are taken.
struct Queued<'a> {
    group: &'a Group,
    id: Option<u64>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let (Some(id), Ok(mut queue)) = (self.id, self.group.queue.lock()) {
            queue.retain(|p| p.id != id);
        }
    }
}

async fn statement(conn: &mut AnyConnection, sql: &'static str) -> Result<(), StoreError> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| StoreError::Query(WHAT, e))
}

fn send(reply: Reply, result: Result<u64, StoreError>) {
    // A request that went away takes no answer; its rows are committed or not all the same.
    let _ = reply.send(result);
}

/// Answers every request of a group that ended with `error`.
fn fail_all(replies: impl Iterator<Item = Reply>, error: StoreError) {
    let shared = Arc::new(error);
    for reply in replies {
        send(reply, Err(StoreError::Shared(Arc::clone(&shared))));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{Activity, ActivityStatus, KeyResult};
    use crate::import::{self, ImportOptions};

    const TENANT: &str = "acme-tenant";

    fn activity(n: usize) -> Dataset {
        Dataset {
            activities: vec![Activity {
                activity_id: Id::parse(&format!("grouped-{n}")).unwrap(),
                plan_id: Id::parse("acme-2025h2").unwrap(),
                kind: "qbr".into(),
                date: NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
                quantity: 1.0,
                status: ActivityStatus::Done,
                responsible: None,
                kr_id: None,
            }],
            ..Dataset::default()
        }
    }

    /// A key result of `acme-2025h1` given to `acme-2025h2`: refused, never moved.
    fn moving_key_result() -> Dataset {
        Dataset {
            key_results: vec![KeyResult {
                kr_id: Id::parse("acme-h1-rev").unwrap(),
                plan_id: Id::parse("acme-2025h2").unwrap(),
                metric: Some("revenue".into()),
                target: Some(1.0),
                realized: None,
                objective: None,
                unit: None,
                weight: 1.0,
                due_date: None,
            }],
            ..Dataset::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_as_one_group_and_a_refused_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open_data_dir(dir.path()).await.unwrap();
        // On SQLite, the one writer: PostgreSQL groups concurrent commits by itself.
        one_group_one_refusal(&sqlite, TENANT).await;
    }

    async fn one_group_one_refusal(store: &Store, tenant: &str) {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crm_export");
        import::import_dir(
            store,
            tenant,
            &fixture,
            &ImportOptions::default(),
            &mut |_| {},
            &mut |_, _| {},
        )
        .await
        .unwrap();
        let before = store.dataset(tenant).await.unwrap();

        // While a group commits (here: the lock held by the test), the writes that arrive
        // queue; the first to get the lock next commits them all in one transaction.
        let lock = Arc::clone(&store.group.writer).lock_owned().await;
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..12 {
            let (store, tenant, data) = (
                store.clone(),
                tenant.to_owned(),
                Arc::new(if n == 5 {
                    moving_key_result()
                } else {
                    activity(n)
                }),
            );
            writes.spawn(async move { (n, store.write_grouped(&tenant, data, Vec::new()).await) });
        }
        while store.group.queue.lock().unwrap().len() < 12 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(lock);
        let mut results = Vec::new();
        while let Some(done) = writes.join_next().await {
            results.push(done.unwrap());
        }
        results.sort_by_key(|(n, _)| *n);
        for (n, result) in &results {
            if *n == 5 {
                assert!(
                    matches!(result, Err(StoreError::KeyResultOfAnotherPlan { .. })),
                    "{result:?}"
                );
            } else {
                assert!(result.is_ok(), "write {n}: {result:?}");
            }
        }
        let after = store.dataset(tenant).await.unwrap();
        let ids: Vec<String> = after
            .activities
            .iter()
            .map(|a| a.activity_id.to_string())
            .filter(|id| id.starts_with("grouped-"))
            .collect();
        assert_eq!(ids.len(), 11, "{ids:?}");
        let plan_of = |data: &Dataset| {
            data.key_results
                .iter()
                .find(|k| k.kr_id.as_str() == "acme-h1-rev")
                .map(|k| k.plan_id.to_string())
        };
        assert_eq!(
            plan_of(&after),
            plan_of(&before),
            "the refused write changed nothing"
        );
        assert_eq!(
            store
                .group
                .groups
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}
