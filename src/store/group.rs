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
//!
//! Once a group has committed, and before any of its requests is answered, each
//! [`CommitObserver`] is told of its writes in commit order: what a process holds in
//! memory of the rows (the service's views) is brought up to date from the rows
//! themselves, in the order the database took them, without reading them back.

use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, Executor};
use tokio::sync::oneshot;

use super::tx::WriteTx;
use super::{Backend, Store, StoreError};
use crate::domain::{Dataset, Id};

/// Where a request's answer goes.
type Reply = oneshot::Sender<Result<Committed, StoreError>>;

/// A grouped write, committed and synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Key results removed from the plans whose set was given complete.
    pub key_results_removed: u64,
    /// Every observer took the write's rows as it committed (see [`CommitObserver`]):
    /// nothing the caller holds needs reading again.
    pub observed: bool,
}

/// Told of each grouped write once it is committed, in commit order, before it is
/// acknowledged; the service keeps its in-memory views with it. It runs while the next
/// group waits, so it must be quick and must not block on I/O.
pub trait CommitObserver: Send + Sync {
    /// `data` was committed for `tenant`, the key results of `complete` given whole.
    /// Returns whether the observer took it all; `false` leaves the caller to find out
    /// what the write touched (as on a write that was not grouped).
    fn committed(&self, tenant: &str, data: &Dataset, complete: &[Id]) -> bool;
}

/// One request's rows, waiting for a group.
struct Pending {
    id: u64,
    rows: Written,
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
    /// Told of each committed write; an observer gone is skipped (and counts as not
    /// having taken the write).
    observers: std::sync::RwLock<Vec<std::sync::Weak<dyn CommitObserver>>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Group")
    }
}

const WHAT: &str = "committing a group of writes";

impl Store {
    /// Tells `observer` of every grouped write from now on (see [`CommitObserver`]).
    /// Observers gone are forgotten here.
    pub fn observe_commits(&self, observer: std::sync::Weak<dyn CommitObserver>) {
        if let Ok(mut observers) = self.group.observers.write() {
            observers.retain(|o| o.strong_count() > 0);
            observers.push(observer);
        }
    }

    /// This process's turn at SQLite's write lock: the lock a group's leader holds while
    /// its group commits, which every other write transaction takes too
    /// ([`Store::write_tx`]).
    pub(super) async fn write_turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.group.writer).lock_owned().await
    }

    /// Tells the observers of a committed write; `true` when there is one and every one
    /// took it.
    fn observed(&self, tenant: &str, data: &Dataset, complete: &[Id]) -> bool {
        let Ok(observers) = self.group.observers.read() else {
            return false;
        };
        let mut taken = !observers.is_empty();
        for observer in observers.iter() {
            taken &= observer
                .upgrade()
                .is_some_and(|o| o.committed(tenant, data, complete));
        }
        taken
    }

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
    ) -> Result<Committed, StoreError> {
        if self.backend == Backend::Postgres {
            // PostgreSQL commits concurrent transactions together by itself (one WAL flush
            // for the commits waiting on it), over as many connections as the pool has;
            // funnelling them through one transaction here made writes slower, not faster.
            // Their commit order is not known here, so no observer is told.
            return self
                .write_dataset_replacing(tenant, &data, &complete, &mut |_, _| {})
                .await
                .map(|key_results_removed| Committed {
                    key_results_removed,
                    observed: false,
                });
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
                rows: Written {
                    tenant: tenant.to_owned(),
                    data,
                    complete,
                },
                reply,
            });
        // A request dropped while it waits takes its rows out of the queue: nothing of a
        // write nobody waits for is committed later, by surprise.
        let mut queued = Queued {
            group: &self.group,
            id: Some(id),
        };
        let writer = self.write_turn().await;
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
        match self.commit_at_once(&batch).await {
            Ok(removed) => {
                let written = batch
                    .into_iter()
                    .zip(removed)
                    .map(|(p, removed)| (p.reply, removed, p.rows))
                    .collect();
                return self.acknowledge(size, written);
            }
            Err(AtOnce::CommitFailed(e)) => return fail_all(batch.into_iter().map(|p| p.reply), e),
            Err(AtOnce::Refused(e)) if size == 1 => {
                // A group of one: the refusal is its own, and nothing was written.
                if let Some(p) = batch.into_iter().next() {
                    send(p.reply, Err(self.failed(e)));
                }
                return;
            }
            // Someone's rows were refused (or a statement failed): done again with a
            // savepoint per request, so that a refusal fails only its own request.
            Err(AtOnce::Refused(_)) => {}
        }
        self.commit_with_savepoints(batch).await;
    }

    /// Every request's rows in one transaction without savepoints, two statements a
    /// request fewer: validation refused the bad rows before they were queued, so a
    /// refusal here is rare, and costs the group a second try with savepoints. Requests
    /// of one tenant in a row that replace no plan's key results share their statements
    /// ([`Store::write_requests`]); one that does goes alone, since its removals depend on
    /// what came before it.
    async fn commit_at_once(&self, batch: &[Pending]) -> Result<Vec<u64>, AtOnce> {
        let mut tx = self
            .write_tx_in_turn(WHAT, None)
            .await
            .map_err(AtOnce::CommitFailed)?;
        let mut removed = Vec::with_capacity(batch.len());
        let mut rest = batch;
        while let Some(first) = rest.first() {
            let Written {
                tenant,
                data,
                complete,
            } = &first.rows;
            // The run of requests that can share statements; at least this one.
            let shared = rest
                .iter()
                .take_while(|p| p.rows.tenant == *tenant && p.rows.complete.is_empty())
                .count()
                .max(1);
            // Dropping the transaction unfinished closes its connection: rolled back.
            if shared > 1 {
                let data: Vec<&Dataset> = rest[..shared].iter().map(|p| &*p.rows.data).collect();
                self.write_requests(tx.conn(), tenant, &data)
                    .await
                    .map_err(AtOnce::Refused)?;
                removed.extend(std::iter::repeat_n(0, shared));
            } else {
                let written = self
                    .write_request(tx.conn(), tenant, data, complete, &mut |_, _| {})
                    .await;
                removed.push(written.map_err(AtOnce::Refused)?);
            }
            rest = &rest[shared..];
        }
        tx.commit(WHAT).await.map_err(AtOnce::CommitFailed)?;
        Ok(removed)
    }

    async fn commit_with_savepoints(&self, batch: Vec<Pending>) {
        let size = batch.len();
        // The leader holds the turn for the group (see `write_grouped`).
        let mut tx = match self.write_tx_in_turn(WHAT, None).await {
            Ok(tx) => tx,
            Err(e) => return fail_all(batch.into_iter().map(|p| p.reply), e),
        };
        let mut written: Vec<(Reply, u64, Written)> = Vec::new();
        let mut refused: Vec<(Reply, StoreError)> = Vec::new();
        let mut batch = batch.into_iter();
        // A savepoint that cannot be taken, released or rolled back leaves the
        // transaction unusable: then the whole group fails with that error.
        let broken = loop {
            let Some(pending) = batch.next() else {
                break None;
            };
            match self.grouped_request(&mut tx, pending).await {
                Ok((reply, Ok((removed, rows)))) => written.push((reply, removed, rows)),
                Ok((reply, Err(e))) => refused.push((reply, e)),
                Err(broken) => break Some(broken),
            }
        };
        refused.into_iter().for_each(|(r, e)| send(r, Err(e)));
        if let Some((reply, e)) = broken {
            let replies = written
                .into_iter()
                .map(|(r, _, _)| r)
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
            Ok(()) => self.acknowledge(size, written),
            Err(e) => fail_all(written.into_iter().map(|(r, _, _)| r), e),
        }
    }

    /// A committed group: the observers are told of every write, in commit order, and
    /// then every request is answered.
    fn acknowledge(&self, size: usize, written: Vec<(Reply, u64, Written)>) {
        self.group
            .groups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::trace!(size, written = written.len(), "group committed");
        let observed: Vec<bool> = written
            .iter()
            .map(|(_, _, w)| self.observed(&w.tenant, &w.data, &w.complete))
            .collect();
        for ((reply, removed, rows), observed) in written.into_iter().zip(observed) {
            // The group lets go of the rows before answering (the caller reclaims them).
            drop(rows);
            send(
                reply,
                Ok(Committed {
                    key_results_removed: removed,
                    observed,
                }),
            );
        }
    }

    /// One request's rows under a savepoint of their own: its outcome (a refusal rolls
    /// back to the savepoint) with the rows written, kept for the observers, or `Err`
    /// when the savepoint itself failed and the transaction cannot go on.
    async fn grouped_request(
        &self,
        tx: &mut WriteTx,
        pending: Pending,
    ) -> Result<(Reply, Result<(u64, Written), StoreError>), (Reply, StoreError)> {
        let Pending { rows: w, reply, .. } = pending;
        if let Err(e) = statement(tx.conn(), "SAVEPOINT grouped").await {
            return Err((reply, tx.failed(e)));
        }
        let rows = self
            .write_request(tx.conn(), &w.tenant, &w.data, &w.complete, &mut |_, _| {})
            .await;
        let closed = match rows {
            Ok(_) => statement(tx.conn(), "RELEASE SAVEPOINT grouped").await,
            Err(_) => match statement(tx.conn(), "ROLLBACK TO SAVEPOINT grouped").await {
                Ok(()) => statement(tx.conn(), "RELEASE SAVEPOINT grouped").await,
                Err(e) => Err(e),
            },
        };
        match closed {
            Ok(()) => Ok((
                reply,
                rows.map(|removed| (removed, w)).map_err(|e| tx.failed(e)),
            )),
            Err(e) => Err((reply, tx.failed(e))),
        }
    }
}

/// Why a group written without savepoints did not commit.
enum AtOnce {
    /// A request's rows (or a statement) failed before the commit: nothing was written.
    Refused(StoreError),
    /// The transaction could not begin or commit: the group fails with this.
    CommitFailed(StoreError),
}

/// A request's rows, written in the group's transaction, for the observers.
struct Written {
    tenant: String,
    data: Arc<Dataset>,
    complete: Vec<Id>,
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

fn send(reply: Reply, result: Result<Committed, StoreError>) {
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
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{Activity, ActivityStatus, KeyResult};

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

    /// A group's requests of one tenant share their statements: the rows are those of
    /// the requests one after the other, so the row every request writes ends as the
    /// last one queued left it, and each request's own row is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shared_statement_keeps_the_requests_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        crate::store::testing::import_fixture(&store, TENANT).await;
        let lock = Arc::clone(&store.group.writer).lock_owned().await;
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..6 {
            let mut data = activity(n);
            let mut same = data.activities[0].clone();
            same.activity_id = Id::parse("grouped-same").unwrap();
            same.quantity = n as f64;
            data.activities.push(same);
            let store2 = store.clone();
            writes.spawn(async move {
                store2
                    .write_grouped(TENANT, Arc::new(data), Vec::new())
                    .await
            });
            // Queued one at a time, so the queue's order is the loop's.
            while store.group.queue.lock().unwrap().len() < n + 1 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
        drop(lock);
        while let Some(done) = writes.join_next().await {
            let written = done.unwrap();
            assert!(written.is_ok(), "{written:?}");
        }
        assert_eq!(
            store
                .group
                .groups
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let after = store.dataset(TENANT).await.unwrap();
        let quantity = |id: &str| {
            after
                .activities
                .iter()
                .find(|a| a.activity_id.as_str() == id)
                .map(|a| a.quantity)
        };
        assert_eq!(quantity("grouped-same"), Some(5.0));
        for n in 0..6 {
            assert_eq!(quantity(&format!("grouped-{n}")), Some(1.0), "grouped-{n}");
        }
    }

    async fn one_group_one_refusal(store: &Store, tenant: &str) {
        crate::store::testing::import_fixture(store, tenant).await;
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
