//! The service's one error type: what went wrong below it, kept whole so that the API and
//! the dashboard map each cause to an answer in one place (`api::error`).

use thiserror::Error;

use crate::model::pipeline::PipelineError;
use crate::model::registry::RegistryError;
use crate::nba::peers::PeersError;
use crate::nba::NbaError;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Engine(#[from] NbaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Peers(#[from] PeersError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The tenant's engine has no similar partners: no model with a profile schema yet,
    /// or no index could be opened.
    #[error(
        "tenant `{0}` has no similar-partner index yet: train a model (POST /v1/models/train)"
    )]
    NoPeers(String),
    /// A `k` beyond the tenant's catalog.
    #[error("k must be between 1 and {catalog} (the number of actions in the tenant's catalog), not {k}")]
    KOutOfRange { k: usize, catalog: usize },
    /// An answer could not be written as JSON (a bug).
    #[error("could not serialise the answer")]
    Serialise(#[source] serde_json::Error),
    /// Work sent to a blocking thread panicked (or the runtime shut down under it).
    #[error("{what} failed on a blocking thread")]
    Blocking {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}
