//! Background jobs (model training) with their progress, kept in the store: started on
//! one replica, any replica answers `GET /v1/jobs/{id}`. The replica running a job renews
//! its heartbeat every [`HEARTBEAT`]; a job silent for [`STALE`] lost its replica and is
//! reported failed, so a new one can start (its result, the model, is written only when
//! complete, so nothing half-done is left behind).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{self, JobRow, Store, StoreError};

/// How often a running job's replica says it is alive (and records its stage).
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a running job may be silent before it counts as abandoned.
pub const STALE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

impl From<store::JobStatus> for JobStatus {
    fn from(status: store::JobStatus) -> Self {
        match status {
            store::JobStatus::Running => Self::Running,
            store::JobStatus::Succeeded => Self::Succeeded,
            store::JobStatus::Failed => Self::Failed,
        }
    }
}

/// One job as a client sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    pub job_id: String,
    pub kind: String,
    pub status: JobStatus,
    /// What the job is doing now (`reading plans`, `fitting models`, ...).
    pub stage: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The outcome: for training, the model version and its card's key figures.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Self {
            job_id: row.job_id,
            kind: row.kind,
            status: row.status.into(),
            stage: row.stage,
            started_at: row.started_at,
            finished_at: row.finished_at,
            result: row.result,
            error: row.error,
        }
    }
}

/// Why a job did not start.
#[derive(Debug)]
pub enum NotStarted {
    /// One of that kind is running for the tenant: its id.
    Busy(String),
    Store(StoreError),
}

/// The jobs of every replica, as stored.
pub struct Jobs {
    store: Store,
}

fn stale_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::from_std(STALE).unwrap_or_else(|_| chrono::Duration::seconds(20))
}

impl Jobs {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Starts a job of `kind` for `tenant` unless one of that kind is running for it on
    /// any replica. Its heartbeat runs until [`RunningJob::finish`].
    pub async fn start(&self, tenant: &str, kind: &str) -> Result<RunningJob, NotStarted> {
        let job_id = format!("job-{}", uuid::Uuid::new_v4().simple());
        let now = Utc::now();
        let row = self
            .store
            .start_job(tenant, kind, &job_id, now, stale_before(now))
            .await
            .map_err(NotStarted::Store)?
            .map_err(NotStarted::Busy)?;
        let (stage, stages) = tokio::sync::watch::channel("starting".to_owned());
        let heartbeat = tokio::spawn(heartbeat(self.store.clone(), job_id, stages));
        Ok(RunningJob {
            job: row.into(),
            stage,
            heartbeat,
            store: self.store.clone(),
        })
    }

    /// The job if it belongs to `tenant` (another tenant's job does not exist).
    pub async fn get(&self, tenant: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        let now = Utc::now();
        let job = self
            .store
            .job(tenant, job_id, now, stale_before(now))
            .await?;
        Ok(job.map(Job::from))
    }
}

/// Records the job's stage as it changes, and at least every [`HEARTBEAT`]; a write that
/// fails (a storage fault) is tried again at the next beat.
async fn heartbeat(store: Store, job_id: String, mut stages: tokio::sync::watch::Receiver<String>) {
    loop {
        let stage = stages.borrow_and_update().clone();
        if let Err(e) = store.job_heartbeat(&job_id, &stage, Utc::now()).await {
            tracing::warn!(job_id, error = %crate::report::Report(&e), "could not record a job's heartbeat");
        }
        tokio::select! {
            changed = stages.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
}

/// A job this replica runs.
pub struct RunningJob {
    pub job: Job,
    stage: tokio::sync::watch::Sender<String>,
    heartbeat: tokio::task::JoinHandle<()>,
    store: Store,
}

impl RunningJob {
    /// A progress callback for the work: each stage is recorded by the heartbeat.
    pub fn progress(&self) -> impl FnMut(&str) + Send + 'static {
        let stage = self.stage.clone();
        move |now: &str| {
            stage.send_replace(now.to_owned());
        }
    }

    /// Records the outcome, trying for a while through storage faults; a job whose end
    /// cannot be recorded stops beating and is reported abandoned after [`STALE`].
    pub async fn finish(self, outcome: Result<serde_json::Value, String>) {
        self.heartbeat.abort();
        for attempt in 0..10u32 {
            match self
                .store
                .finish_job(&self.job.job_id, &outcome, Utc::now())
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(job_id = %self.job.job_id, attempt, error = %crate::report::Report(&e), "could not record a job's end; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
