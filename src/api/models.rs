//! Models: train in the background (progress at `/v1/jobs/{id}`), list versions with
//! their cards, activate one. A new active model is hot-swapped: the next request loads
//! the engine with it; requests in flight finish on the old one.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Caller, Scope};
use super::error::{ApiError, Problem, ProblemBody};
use super::jobs::{Job, NotStarted, RunningJob};
use super::state::AppState;
use crate::model::pipeline;
use crate::model::train::TrainParams;
use crate::service::{Indexed, ServiceError};

/// Starts training the tenant's model on its closed plans, then rebuilds its
/// similar-partner index; the new version becomes active when both succeed.
#[utoipa::path(post, path = "/v1/models/train", tag = "models",
    responses(
        (status = 202, description = "Training started; poll the job", body = Job),
        (status = 403, description = "Needs an admin key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A training job is already running", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn train(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let running = state
        .jobs()
        .start(&caller.tenant, "train")
        .await
        .map_err(|e| match e {
            NotStarted::Busy(id) => ApiError::new(
                Problem::Conflict,
                format!("a training job is already running for this tenant: {id}"),
            ),
            NotStarted::Store(e) => e.into(),
        })?;
    let job = running.job.clone();
    let location = format!("/v1/jobs/{}", job.job_id);
    // Training is CPU-bound for seconds: the service runs it on a blocking thread, so
    // requests keep being served.
    tokio::spawn(run_training(state.clone(), caller.tenant.clone(), running));
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    ))
}

async fn run_training(state: AppState, tenant: String, running: RunningJob) {
    let job_id = running.job.job_id.clone();
    let progress = running.progress();
    let trained = state
        .service()
        .train(&tenant, &TrainParams::default(), progress)
        .await;
    let outcome = match trained {
        Ok(trained) => {
            let index = match &trained.indexed {
                Indexed::Rebuilt(report) => serde_json::to_value(report).unwrap_or_default(),
                Indexed::Failed(e) => {
                    serde_json::json!({ "error": crate::report::Report(e).to_string() })
                }
                Indexed::Unavailable => {
                    serde_json::json!({ "error": "the vector index is unavailable" })
                }
            };
            Ok(serde_json::json!({
                "version": trained.card.version,
                "training_seconds": trained.card.training_seconds,
                "sizes": trained.card.sizes,
                "test": serde_json::to_value(&trained.report.test).unwrap_or_default(),
                "index": index,
            }))
        }
        Err(e) => {
            tracing::warn!(tenant, job_id, error = %crate::report::Report(&e), "training failed; the active model is unchanged");
            Err(format!("{}; the active model is unchanged", job_error(&e)))
        }
    };
    running.finish(outcome).await;
}

/// What a job's caller is told of a failed training: the whole story when it is about
/// their data (too few closed plans, a degenerate split), and no more than the kind of
/// failure when it is the server's (file paths, SQL and the like stay in the log).
fn job_error(e: &ServiceError) -> String {
    use pipeline::PipelineError as E;
    let ServiceError::Pipeline(e) = e else {
        return "training failed on the server; the server log has the cause (search for \
                the job id)"
            .to_owned();
    };
    match e {
        E::Features(_) | E::Model(_) | E::NoActiveModel(_) | E::NoSuchActivePlan(_) => {
            crate::report::Report(e).to_string()
        }
        E::Store(store) if store.is_unavailable() => {
            "the store was unavailable (a storage fault); train again once /readyz is ready"
                .to_owned()
        }
        E::Store(_) => "reading the tenant's data failed on the server; the server log has \
                        the cause (search for the job id)"
            .to_owned(),
        E::Registry(_) => "saving the model failed on the server (a full disk, for one); the \
                           server log has the cause (search for the job id)"
            .to_owned(),
    }
}

/// A background job.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "models",
    params(("id" = String, Path, description = "job_id")),
    responses(
        (status = 200, description = "The job and its progress", body = Job),
        (status = 404, description = "No such job", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    state
        .jobs()
        .get(&caller.tenant, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("job", &id))
}

/// The tenant's model versions and which one is active.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub active: Option<String>,
    /// Model cards, oldest first: version, data fingerprint, metrics, training time.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<crate::model::ModelCard>,
}

/// Model versions with their cards.
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "Versions and the active one", body = ModelList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ModelList>, ApiError> {
    let (active, models) =
        crate::service::models::list(state.store(), state.registry(), &caller.tenant).await?;
    Ok(Json(ModelList { active, models }))
}

/// Makes a version the active one (a rollback is activating an older version).
#[utoipa::path(post, path = "/v1/models/{version}/activate", tag = "models",
    params(("version" = String, Path, description = "model version")),
    responses(
        (status = 200, description = "The activated version's card", body = Object),
        (status = 403, description = "Needs an admin key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    Path(version): Path<String>,
) -> Result<Json<crate::model::ModelCard>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(
        state.service().activate(&caller.tenant, &version).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::RegistryError;

    #[test]
    fn a_failed_jobs_error_names_no_server_path() {
        let e = ServiceError::Pipeline(pipeline::PipelineError::Registry(RegistryError::Io {
            path: "/srv/nextbest/models/acme/.tmp-v1-42/model.json".into(),
            source: std::io::Error::from_raw_os_error(28),
        }));
        let shown = job_error(&e);
        assert!(!shown.contains("/srv"), "{shown}");
        assert!(shown.contains("server log"), "{shown}");
        let data = ServiceError::Pipeline(pipeline::PipelineError::NoActiveModel("acme".into()));
        assert!(job_error(&data).contains("acme"));
    }
}
