//! The recommendation log, written in batches: a served recommendation is queued and a
//! background task writes what has queued up in one transaction, so many requests share
//! one commit (one fsync) instead of paying one each. The writer lingers a moment after
//! the first row of a batch ([`LINGER`]) so that a batch is whole even when answers are
//! computed one at a time (a platform writing all day invalidates answers one by one):
//! committed as they came, each answer's rows were a commit of their own that rewrote the
//! same index pages into the WAL and took a turn at SQLite's one writer from the sync
//! writes. The queue is drained on graceful shutdown; a crash can lose the last
//! [`LINGER`] of the log, which is telemetry, never a client's write.

use std::sync::Mutex;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{LoggedRecommendation, Store};

/// Rows queued before a request waits for the writer.
const QUEUE: usize = 4096;
/// Most rows in one transaction: a batch holds SQLite's one writer while it commits and
/// a sync write waits behind it, so a linger's rows go in a few short transactions
/// rather than one long one.
const BATCH: usize = 500;
/// How long the writer gathers rows after the first of a batch before it commits them.
const LINGER: std::time::Duration = std::time::Duration::from_millis(100);

type Entry = (String, Vec<LoggedRecommendation>);

/// The queue and its writer.
pub struct RecommendationLog {
    tx: Mutex<Option<mpsc::Sender<Entry>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RecommendationLog {
    /// Starts the writer on the current runtime.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel::<Entry>(QUEUE);
        let writer = tokio::spawn(write_batches(store, rx));
        Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Queues rows of `tenant`; waits only when the queue is full (back-pressure).
    pub async fn push(&self, tenant: &str, rows: Vec<LoggedRecommendation>) {
        let tx = self.tx.lock().ok().and_then(|g| g.clone());
        match tx {
            Some(tx) => {
                if tx.send((tenant.to_owned(), rows)).await.is_err() {
                    tracing::warn!(tenant, "recommendation log closed; rows dropped");
                }
            }
            None => tracing::warn!(tenant, "recommendation log closed; rows dropped"),
        }
    }

    /// Stops accepting rows and waits until everything queued is written.
    pub async fn close(&self) {
        drop(self.tx.lock().ok().and_then(|mut g| g.take()));
        let writer = self.writer.lock().ok().and_then(|mut g| g.take());
        if let Some(writer) = writer {
            if let Err(e) = writer.await {
                tracing::warn!(error = %e, "the recommendation log writer failed");
            }
        }
    }
}

async fn write_batches(store: Store, mut rx: mpsc::Receiver<Entry>) {
    let mut pending: Vec<Entry> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut rows = first.1.len();
        pending.push(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while rows < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(entry)) => {
                    rows += entry.1.len();
                    pending.push(entry);
                }
                // The linger is over, or the log is closing: write what came.
                Ok(None) | Err(_) => break,
            }
        }
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        let mut start = 0;
        while start < pending.len() {
            let tenant = pending[start].0.clone();
            let end = pending[start..]
                .iter()
                .position(|(t, _)| *t != tenant)
                .map_or(pending.len(), |n| start + n);
            let batch: Vec<LoggedRecommendation> = pending[start..end]
                .iter_mut()
                .flat_map(|(_, rows)| std::mem::take(rows))
                .collect();
            write_with_retries(&store, &tenant, &batch).await;
            start = end;
        }
        pending.clear();
    }
}

/// How often, and how far apart, a batch is retried while the store reports a storage
/// fault: the answers that carry these ids were sent, and feedback will name them.
const RETRIES: u32 = 30;
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes one tenant's batch, retrying through a passing storage fault (a full disk, a
/// database restart); any other error is logged and the batch dropped.
async fn write_with_retries(store: &Store, tenant: &str, batch: &[LoggedRecommendation]) {
    for attempt in 0..=RETRIES {
        match store.log_recommendations(tenant, batch).await {
            Ok(()) => return,
            Err(e) if e.is_unavailable() && attempt < RETRIES => {
                tracing::debug!(tenant, attempt, error = %crate::report::Report(&e), "recommendation log write failed; retrying");
                tokio::time::sleep(RETRY_EVERY).await;
            }
            Err(e) => {
                tracing::warn!(tenant, rows = batch.len(), error = %crate::report::Report(&e), "could not write the recommendation log");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;
    use crate::domain::Id;

    const TENANT: &str = "acme-tenant";

    fn row(n: usize) -> LoggedRecommendation {
        LoggedRecommendation {
            recommendation_id: Id::from_trusted(format!("rec-test-{n:04}")),
            plan_id: Id::parse("acme-2025h2").unwrap(),
            kind: "qbr".into(),
            rank: 1,
            score: n as f64,
            expected_effect: 0.1,
            effect_low: 0.0,
            effect_high: 0.2,
            basis: "prior".into(),
            responsible: "partner".into(),
            as_of: NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
            model_version: None,
            created_at: Utc::now(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_queued_in_the_linger_are_written_when_the_log_closes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        crate::store::testing::import_fixture(&store, TENANT).await;
        let log = RecommendationLog::start(store.clone());
        for n in 0..30 {
            log.push(TENANT, vec![row(2 * n), row(2 * n + 1)]).await;
        }
        // Closing at once, inside the linger: the batch gathered so far is still written.
        log.close().await;
        let plan = Id::parse("acme-2025h2").unwrap();
        let logged = store.plan_recommendations(TENANT, &plan).await.unwrap();
        let mut ids: Vec<&str> = logged
            .iter()
            .map(|r| r.recommendation_id.as_str())
            .collect();
        ids.sort_unstable();
        let expected: Vec<String> = (0..60).map(|n| format!("rec-test-{n:04}")).collect();
        assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
        // A push after closing is dropped, not an error.
        log.push(TENANT, vec![row(99)]).await;
        assert_eq!(
            store
                .plan_recommendations(TENANT, &plan)
                .await
                .unwrap()
                .len(),
            60
        );
    }
}
