//! Whether the store can take writes: storage faults told apart from bugs, the last one
//! remembered until a write succeeds again, and a probe that finds out by itself.
//!
//! A full disk, a file that cannot be written, a lock held too long, a database that
//! restarts or cuts its connections: none of these is a bug in a request, and all of them
//! pass. They are answered as "storage unavailable, retry" (503), readiness says not
//! ready while they last, and a periodic probe write notices when they are over, so
//! the service recovers without a restart.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// A storage fault: when writes started failing and the last reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub since: DateTime<Utc>,
    pub reason: String,
}

/// The store's write health, shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub struct Health {
    fault: Mutex<Option<Fault>>,
}

impl Health {
    /// The fault writes are failing with, or `None` when the last write succeeded.
    pub fn fault(&self) -> Option<Fault> {
        self.fault.lock().ok().and_then(|f| f.clone())
    }

    pub(crate) fn record_success(&self) {
        if let Ok(mut fault) = self.fault.lock() {
            if let Some(past) = fault.take() {
                tracing::info!(since = %past.since, "the store takes writes again");
            }
        }
    }

    fn record_fault(&self, reason: String) {
        if let Ok(mut fault) = self.fault.lock() {
            match fault.as_mut() {
                Some(f) => f.reason = reason,
                None => {
                    tracing::warn!(%reason, "the store cannot take writes");
                    *fault = Some(Fault {
                        since: Utc::now(),
                        reason,
                    });
                }
            }
        }
    }
}

/// SQLite's primary result codes that mean the storage, not the statement, failed.
const SQLITE_UNAVAILABLE: [i64; 9] = [
    5,  // SQLITE_BUSY
    6,  // SQLITE_LOCKED
    7,  // SQLITE_NOMEM
    8,  // SQLITE_READONLY
    10, // SQLITE_IOERR
    11, // SQLITE_CORRUPT
    13, // SQLITE_FULL
    14, // SQLITE_CANTOPEN
    15, // SQLITE_PROTOCOL
];

/// Whether `e` is a fault of the storage or the connection to it rather than of the
/// statement: the same request may succeed once it passes.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                use sqlx::error::DatabaseError;
                let code = sqlite
                    .code()
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(0);
                SQLITE_UNAVAILABLE.contains(&(code & 0xff))
            } else if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_unavailable(pg.code())
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL's SQLSTATEs of faults that pass: connection exceptions (08), insufficient
/// resources such as a full disk (53), operator intervention such as a shutdown or a
/// terminated backend (57), system errors (58), serialization failures and deadlocks
/// (40001, 40P01), and a read-only server (25006, a standby).
fn postgres_unavailable(sqlstate: &str) -> bool {
    matches!(sqlstate.get(..2), Some("08" | "53" | "57" | "58"))
        || matches!(sqlstate, "40001" | "40P01" | "25006")
}

impl StoreError {
    /// Whether the store, not the request, is at fault, and the request may be retried:
    /// what the API answers 503 `storage-unavailable` with `Retry-After`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect(_, e) | Self::Query(_, e) => is_unavailable(e),
            Self::Shared(e) => e.is_unavailable(),
            _ => false,
        }
    }
}

impl Store {
    /// Records `error` as a storage fault when it is one; returns it unchanged.
    pub(crate) fn failed(&self, error: StoreError) -> StoreError {
        if error.is_unavailable() {
            self.health
                .record_fault(crate::report::Report(&error).to_string());
        }
        error
    }

    /// The fault writes are failing with, if any: what readiness reports.
    pub fn fault(&self) -> Option<Fault> {
        self.health.fault()
    }

    /// Writes this process's probe row in a transaction of its own: the smallest write
    /// that goes through everything a real one does (the write lock, the log, the sync).
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        const WHAT: &str = "writing the readiness probe";
        let mut tx = self.write_tx(WHAT).await?;
        sqlx::query(
            "INSERT INTO store_probes (replica_id, probed_at) VALUES ($1, $2) \
             ON CONFLICT (replica_id) DO UPDATE SET probed_at = excluded.probed_at",
        )
        .bind(self.replica_id.to_string())
        .bind(super::timestamp(&Utc::now()))
        .execute(tx.conn())
        .await
        .map_err(|e| tx.failed(StoreError::Query(WHAT, e)))?;
        tx.commit(WHAT).await
    }

    /// Probes forever: every `healthy` while writes succeed, every `faulty` while they
    /// fail, so a fault is noticed without traffic and its end within `faulty`. Spawn it
    /// beside the server; it holds no lock between probes.
    pub async fn watch_health(&self, healthy: Duration, faulty: Duration) {
        loop {
            let wait = if self.fault().is_some() {
                faulty
            } else {
                healthy
            };
            tokio::time::sleep(wait).await;
            if let Err(e) = self.probe_write().await {
                tracing::debug!(error = %crate::report::Report(&e), "readiness probe failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_faults_that_pass_are_told_from_statement_errors() {
        for code in [
            "08006", "57P01", "53100", "58030", "40001", "40P01", "25006",
        ] {
            assert!(postgres_unavailable(code), "{code}");
        }
        for code in ["23505", "23503", "22P02", "42P01"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
    }

    #[test]
    fn a_fault_is_kept_until_a_success_clears_it() {
        let health = Health::default();
        assert_eq!(health.fault(), None);
        health.record_fault("disk full".into());
        let first = health.fault().unwrap();
        health.record_fault("still full".into());
        let second = health.fault().unwrap();
        assert_eq!(second.since, first.since);
        assert_eq!(second.reason, "still full");
        health.record_success();
        assert_eq!(health.fault(), None);
    }
}
