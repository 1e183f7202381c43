//! The recommendation log, written in batches: a served recommendation is queued and a
//! background task writes what has queued up in one transaction, so under load many
//! requests share one commit (one fsync) instead of paying one each. The queue is
//! drained on graceful shutdown; a crash can lose the last batch of the log, which is
//! telemetry, never a client's write.

use std::sync::Mutex;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{LoggedRecommendation, Store};

/// Rows queued before a request waits for the writer.
const QUEUE: usize = 4096;
/// Most rows in one transaction.
const BATCH: usize = 2000;

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
        pending.push(first);
        let mut rows = pending[0].1.len();
        while rows < BATCH {
            match rx.try_recv() {
                Ok(entry) => {
                    rows += entry.1.len();
                    pending.push(entry);
                }
                Err(_) => break,
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
