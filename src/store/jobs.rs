//! Background jobs as every replica sees them: started on one, watched from any. One job
//! of a kind runs per tenant at a time across replicas. The replica running a job renews
//! its heartbeat; a running job whose heartbeat is older than the caller's `stale_before`
//! lost its replica, and is ended as failed when next looked at, so a new one can start.

use chrono::{DateTime, Utc};

use super::rows::{parse, timestamp};
use super::{Store, StoreError};

/// A job's state as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            other => Err(format!("unknown job status `{other}`")),
        }
    }
}

/// One stored job.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub job_id: String,
    pub tenant_id: String,
    pub kind: String,
    pub status: JobStatus,
    pub stage: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// When the replica running it last said it was alive.
    pub heartbeat_at: DateTime<Utc>,
}

/// What a job is told when the replica running it is gone.
const ABANDONED: &str = "the replica running this job stopped before it finished; start it again";

const COLUMNS: &str =
    "job_id, tenant_id, kind, status, stage, started_at, finished_at, result, error, heartbeat_at";

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn time(what: &'static str, raw: &str) -> Result<DateTime<Utc>, StoreError> {
    parse(what, raw, |v| {
        DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc))
    })
}

fn job_row(row: Row) -> Result<JobRow, StoreError> {
    let (job_id, tenant_id, kind, status, stage, started_at, finished_at, result, error, beat) =
        row;
    Ok(JobRow {
        heartbeat_at: time("job heartbeat", &beat)?,
        status: parse("job status", &status, JobStatus::parse)?,
        started_at: time("job start", &started_at)?,
        finished_at: finished_at
            .as_deref()
            .map(|t| time("job end", t))
            .transpose()?,
        result: result
            .as_deref()
            .map(|r| {
                parse("job result", r, |v| {
                    serde_json::from_str::<serde_json::Value>(v)
                })
            })
            .transpose()?,
        job_id,
        tenant_id,
        kind,
        stage,
        error,
    })
}

/// The job of `kind` running for `tenant`, if any.
async fn running_job<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    tenant: &str,
    kind: &str,
) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT job_id FROM jobs WHERE tenant_id = $1 AND kind = $2 AND status = 'running'",
    )
    .bind(tenant)
    .bind(kind)
    .fetch_optional(executor)
    .await
    .map_err(|e| StoreError::Query("reading the running job", e))
}

/// Ends the tenant's running jobs whose heartbeat is older than `stale_before`.
fn end_abandoned<'q>(
    tenant: &'q str,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "UPDATE jobs SET status = 'failed', stage = 'done', finished_at = $3, error = $4 \
         WHERE tenant_id = $1 AND status = 'running' AND heartbeat_at < $2",
    )
    .bind(tenant)
    .bind(timestamp(&stale_before))
    .bind(timestamp(&now))
    .bind(ABANDONED)
}

impl Store {
    /// Starts a job of `kind` for `tenant`: `Ok(Err(id))` names the job of that kind
    /// already running for it (on any replica). Jobs whose heartbeat is older than
    /// `stale_before` are ended first, in the same transaction.
    pub async fn start_job(
        &self,
        tenant: &str,
        kind: &str,
        job_id: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Result<JobRow, String>, StoreError> {
        const WHAT: &str = "starting a job";
        let mut tx = self.write_tx(WHAT).await?;
        tx.run(WHAT, end_abandoned(tenant, now, stale_before))
            .await?;
        let running = running_job(tx.conn(), tenant, kind)
            .await
            .map_err(|e| tx.failed(e))?;
        if let Some(running) = running {
            return Ok(Err(running));
        }
        let inserted = sqlx::query(
            "INSERT INTO jobs (job_id, tenant_id, kind, status, stage, started_at, heartbeat_at, holder) \
             VALUES ($1, $2, $3, 'running', 'starting', $4, $4, $5)",
        )
        .bind(job_id)
        .bind(tenant)
        .bind(kind)
        .bind(timestamp(&now))
        .bind(self.replica_id.as_ref())
        .execute(tx.conn())
        .await;
        if let Err(e) = inserted {
            let raced = e
                .as_database_error()
                .is_some_and(|d| d.is_unique_violation());
            drop(tx);
            if raced {
                // Another replica started one between the check and the insert.
                let running = running_job(&self.pool, tenant, kind).await?;
                return Ok(Err(running.unwrap_or_default()));
            }
            return Err(self.failed(StoreError::Query(WHAT, e)));
        }
        tx.commit(WHAT).await?;
        Ok(Ok(JobRow {
            job_id: job_id.to_owned(),
            tenant_id: tenant.to_owned(),
            kind: kind.to_owned(),
            status: JobStatus::Running,
            stage: "starting".into(),
            started_at: now,
            finished_at: None,
            result: None,
            error: None,
            heartbeat_at: now,
        }))
    }

    /// Records a running job's stage and renews its heartbeat.
    pub async fn job_heartbeat(
        &self,
        job_id: &str,
        stage: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET stage = $2, heartbeat_at = $3 WHERE job_id = $1 AND status = 'running'",
        )
        .bind(job_id)
        .bind(stage)
        .bind(timestamp(&now));
        self.write_one("recording a job's progress", query)
            .await
            .map(|_| ())
    }

    /// Ends a job with its result or its error.
    pub async fn finish_job(
        &self,
        job_id: &str,
        outcome: &Result<serde_json::Value, String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (status, result, error) = match outcome {
            Ok(result) => (JobStatus::Succeeded, Some(result.to_string()), None),
            Err(error) => (JobStatus::Failed, None, Some(error.clone())),
        };
        let query = sqlx::query(
            "UPDATE jobs SET status = $2, stage = 'done', finished_at = $3, heartbeat_at = $3, \
             result = $4, error = $5 WHERE job_id = $1",
        )
        .bind(job_id)
        .bind(status.as_str())
        .bind(timestamp(&now))
        .bind(result)
        .bind(error);
        self.write_one("recording a job's end", query)
            .await
            .map(|_| ())
    }

    /// The tenant's job (another tenant's job does not exist). A running job whose
    /// heartbeat is older than `stale_before` is ended as abandoned first.
    pub async fn job(
        &self,
        tenant: &str,
        job_id: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<JobRow>, StoreError> {
        let read = || async {
            let sql = format!("SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND job_id = $2");
            sqlx::query_as::<_, Row>(&sql)
                .bind(tenant)
                .bind(job_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::Query("reading a job", e))?
                .map(job_row)
                .transpose()
        };
        let job = read().await?;
        match &job {
            Some(j) if j.status == JobStatus::Running && j.heartbeat_at < stale_before => {
                self.write_one(
                    "ending abandoned jobs",
                    end_abandoned(tenant, now, stale_before),
                )
                .await?;
                read().await
            }
            _ => Ok(job),
        }
    }
}
