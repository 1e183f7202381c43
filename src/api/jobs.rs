//! Background jobs (model training) with their progress, kept in memory: a job is
//! advisory (its result is the model in the registry, which is durable), so a restart
//! forgets jobs but never a trained model.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

/// One job as a client sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Job {
    pub job_id: String,
    pub kind: String,
    #[serde(skip)]
    pub tenant: String,
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

/// The jobs of this process.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
}

/// Already running: the id of the job in the way.
#[derive(Debug)]
pub struct Busy(pub String);

impl Jobs {
    /// Starts a job of `kind` for `tenant` unless one of that kind is running for it.
    pub fn start(&self, tenant: &str, kind: &str) -> Result<Job, Busy> {
        let mut jobs = self.jobs.lock().map_err(|_| Busy(String::new()))?;
        if let Some(running) = jobs
            .values()
            .find(|j| j.tenant == tenant && j.kind == kind && j.status == JobStatus::Running)
        {
            return Err(Busy(running.job_id.clone()));
        }
        let job = Job {
            job_id: format!("job-{}", uuid::Uuid::new_v4().simple()),
            kind: kind.to_owned(),
            tenant: tenant.to_owned(),
            status: JobStatus::Running,
            stage: "starting".into(),
            started_at: Utc::now(),
            finished_at: None,
            result: None,
            error: None,
        };
        jobs.insert(job.job_id.clone(), job.clone());
        Ok(job)
    }

    pub fn stage(&self, job_id: &str, stage: &str) {
        self.update(job_id, |j| j.stage = stage.to_owned());
    }

    pub fn finish(&self, job_id: &str, outcome: Result<serde_json::Value, String>) {
        self.update(job_id, |j| {
            j.finished_at = Some(Utc::now());
            j.stage = "done".into();
            match outcome {
                Ok(result) => {
                    j.status = JobStatus::Succeeded;
                    j.result = Some(result);
                }
                Err(error) => {
                    j.status = JobStatus::Failed;
                    j.error = Some(error);
                }
            }
        });
    }

    fn update(&self, job_id: &str, f: impl FnOnce(&mut Job)) {
        if let Ok(mut jobs) = self.jobs.lock() {
            if let Some(job) = jobs.get_mut(job_id) {
                f(job);
            }
        }
    }

    /// The job if it belongs to `tenant` (another tenant's job does not exist).
    pub fn get(&self, tenant: &str, job_id: &str) -> Option<Job> {
        let jobs = self.jobs.lock().ok()?;
        jobs.get(job_id).filter(|j| j.tenant == tenant).cloned()
    }
}
