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

/// An open write transaction; commit it with [`WriteTx::commit`]. Dropped uncommitted (an
/// error returned with `?`, a cancelled future), its connection is closed, not reused.
pub(crate) struct WriteTx {
    conn: PoolConnection<Any>,
    store: Store,
    committed: bool,
}

impl Store {
    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is
    /// taken (waiting up to the busy timeout) before anything is read, so a transaction
    /// that reads and then writes never fails half-way on a lock upgrade.
    pub(crate) async fn write_tx(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        let mut conn = self
            .pool
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
