//! Write transactions that cannot outlive a failure.
//!
//! sqlx keeps its own count of open transactions per connection. When a `COMMIT` fails
//! (a full disk, a WAL file that cannot be written), SQLite may or may not have rolled
//! back, the count says a transaction is still open, and the next `begin()` on that
//! pooled connection becomes a `SAVEPOINT` inside a transaction that never commits: the
//! writes that follow are answered as committed and lost, and the connection holds the
//! write lock until the process stops. So writes here issue `BEGIN` and `COMMIT`
//! themselves on a connection of their own, and any failure (a statement, the commit, or
//! the transaction dropped half-way by a cancelled request) closes that connection
//! instead of returning it to the pool: closing rolls back whatever was open, and the pool
//! opens a fresh one.

use sqlx::any::AnyArguments;
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor};

use super::{Backend, Store, StoreError};

/// How long a write transaction waits for its turn: SQLite's `busy_timeout`.
const TURN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An open write transaction; commit it with [`WriteTx::commit`]. Dropped uncommitted (an
/// error returned with `?`, a cancelled future), its connection is closed, not reused.
pub(crate) struct WriteTx {
    conn: PoolConnection<Any>,
    store: Store,
    committed: bool,
    /// On SQLite, this process's turn at the one write lock (see [`Store::write_tx`]);
    /// released after the connection's commit or close, with the transaction.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Store {
    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is
    /// taken (waiting up to the busy timeout) before anything is read, so a transaction
    /// that reads and then writes never fails half-way on a lock upgrade.
    ///
    /// On SQLite the writers of this process take turns first, in the order they came
    /// (the group commit's lock): two of them asking SQLite for its write lock at once
    /// would leave one in SQLite's busy handler, which sleeps in steps of up to 100 ms
    /// (the recommendation log's batches and the sync groups did, tens of milliseconds
    /// of tail latency under writes).
    pub(crate) async fn write_tx(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        let turn = match self.backend {
            // As long as SQLite's own busy timeout would have waited, then "unavailable".
            Backend::Sqlite => Some(
                tokio::time::timeout(TURN_TIMEOUT, self.write_turn())
                    .await
                    .map_err(|_| self.failed(StoreError::Query(what, sqlx::Error::PoolTimedOut)))?,
            ),
            Backend::Postgres => None,
        };
        self.write_tx_in_turn(what, turn).await
    }

    /// [`Self::write_tx`] for a caller that holds the turn already (the group commit's
    /// leader) or needs none.
    pub(crate) async fn write_tx_in_turn(
        &self,
        what: &'static str,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<WriteTx, StoreError> {
        let mut conn = self
            .writes
            .acquire()
            .await
            .map_err(|e| self.failed(StoreError::Query(what, e)))?;
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        if let Err(e) = conn.execute(begin).await {
            conn.close_on_drop();
            return Err(self.failed(StoreError::Query(what, e)));
        }
        Ok(WriteTx {
            conn,
            store: self.clone(),
            committed: false,
            _turn: turn,
        })
    }
}

impl Store {
    /// One statement in a write transaction of its own, committed (and synced) before
    /// `Ok`: the rows it affected.
    pub(crate) async fn write_one<'q>(
        &self,
        what: &'static str,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx(what).await?;
        let affected = tx.run(what, query).await?;
        tx.commit(what).await?;
        Ok(affected)
    }
}

impl WriteTx {
    /// Runs one statement inside the transaction: the rows it affected, or its error,
    /// recorded as a storage fault when it is one.
    pub(crate) async fn run<'q>(
        &mut self,
        what: &'static str,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Result<u64, StoreError> {
        match query.execute(&mut *self.conn).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(self.failed(StoreError::Query(what, e))),
        }
    }

    /// The transaction's connection, for the statements inside it.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// Commits. `Ok` means the database acknowledged the commit (synced: SQLite runs with
    /// `synchronous=FULL`, PostgreSQL with `synchronous_commit` on); on `Err` the
    /// connection is closed, which rolls back whatever the failed commit left open.
    pub(crate) async fn commit(mut self, what: &'static str) -> Result<(), StoreError> {
        match self.conn.execute("COMMIT").await {
            Ok(_) => {
                self.committed = true;
                self.store.health.record_success();
                Ok(())
            }
            Err(e) => Err(self.store.failed(StoreError::Query(what, e))),
        }
    }

    /// Marks a failed statement inside the transaction: the error is returned as it is,
    /// and a storage fault is recorded so readiness reflects it.
    pub(crate) fn failed(&self, error: StoreError) -> StoreError {
        self.store.failed(error)
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On SQLite every write transaction runs on the one writer connection, so its page
    /// cache is never thrown away by another connection's commit: a temporary table (it
    /// lives in one connection only) made in one write is there in the next, and after a
    /// failed transaction closed that connection, a fresh one takes its place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_writes_share_one_connection_and_a_failure_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let mut tx = store.write_tx("first").await.unwrap();
        tx.run(
            "temp",
            sqlx::query("CREATE TEMP TABLE writer_mark (n INTEGER)"),
        )
        .await
        .unwrap();
        tx.commit("first").await.unwrap();
        for _ in 0..3 {
            let mut tx = store.write_tx("again").await.unwrap();
            tx.run("mark", sqlx::query("INSERT INTO writer_mark VALUES (1)"))
                .await
                .unwrap();
            tx.commit("again").await.unwrap();
        }
        let cache: i64 = {
            let mut tx = store.write_tx("cache").await.unwrap();
            let size = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(tx.conn())
                .await
                .unwrap();
            tx.commit("cache").await.unwrap();
            size
        };
        assert_eq!(cache, -16384);
        // A transaction dropped uncommitted closes its connection: the next write gets a
        // new one, without the mark.
        drop(store.write_tx("dropped").await.unwrap());
        let mut tx = store.write_tx("after").await.unwrap();
        let err = tx
            .run("mark", sqlx::query("INSERT INTO writer_mark VALUES (2)"))
            .await
            .unwrap_err();
        let text = crate::report::Report(&err).to_string();
        assert!(text.contains("no such table: writer_mark"), "{text}");
    }
}
