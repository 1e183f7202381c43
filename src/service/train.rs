//! Train-and-reindex, written once: fit the tenant's models on its closed plans, save
//! and activate the new version, rebuild the similar-partner index in the new version's
//! profile space, and (for a server) drop the tenant's engine so the next request loads
//! the new model. `nextbest train`, `POST /v1/models/train` and `serve --demo` all come
//! here. The fits and the index writes run on a blocking thread.

use std::sync::Arc;

use super::{on_blocking_thread, Service, ServiceError};
use crate::model::pipeline;
use crate::model::registry::ModelCard;
use crate::model::train::{TrainParams, TrainReport};
use crate::model::Registry;
use crate::nba::peers::{self, PeersError, ReindexReport};
use crate::store::Store;
use crate::vector::VectorIndex;

/// What became of the similar-partner index after a training.
#[derive(Debug)]
pub enum Indexed {
    Rebuilt(ReindexReport),
    /// The model is trained and active, but its partners could not be indexed.
    Failed(PeersError),
    /// No index could be opened (logged), or the model has no profile schema.
    Unavailable,
}

/// A training's result: the new active version's card, the evaluation report, the index.
#[derive(Debug)]
pub struct Trained {
    pub card: ModelCard,
    pub report: TrainReport,
    pub indexed: Indexed,
}

/// Trains `tenant`'s models, activates the new version and reindexes its partners in
/// the index `index_for` opens for the new profile dimension.
///
/// # Errors
/// A training that fails (too few closed plans, the store, the registry): the active
/// model is then unchanged. A failed reindex is no error: it is in [`Trained::indexed`].
pub async fn train_and_reindex<P, I>(
    store: &Store,
    registry: &Registry,
    tenant: &str,
    params: &TrainParams,
    mut progress: P,
    index_for: I,
) -> Result<Trained, ServiceError>
where
    P: FnMut(&str) + Send + 'static,
    I: FnOnce(usize) -> Option<Arc<dyn VectorIndex>> + Send + 'static,
{
    let (store, registry, tenant, params) = (
        store.clone(),
        registry.clone(),
        tenant.to_owned(),
        params.clone(),
    );
    on_blocking_thread("training", async move {
        let (card, report) =
            pipeline::train_tenant(&store, &registry, &tenant, &params, &mut progress).await?;
        progress("publishing the model to the store");
        super::models::publish_and_activate(&store, &registry, &tenant, &card.version).await?;
        progress("rebuilding the similar-partner index");
        let dimension = pipeline::active_model(&registry, &tenant)
            .ok()
            .and_then(|(model, _)| model.profile.as_ref().map(|p| p.dimension()));
        let indexed = match dimension.and_then(index_for) {
            Some(index) => match peers::reindex(&store, &registry, index.as_ref(), &tenant).await {
                Ok(report) => Indexed::Rebuilt(report),
                Err(e) => {
                    tracing::warn!(tenant, error = %crate::report::Report(&e), "reindex after training failed");
                    Indexed::Failed(e)
                }
            },
            None => Indexed::Unavailable,
        };
        Ok(Trained {
            card,
            report,
            indexed,
        })
    })
    .await?
}

impl Service {
    /// [`train_and_reindex`] into the server's own index, then the hot swap: the next
    /// request loads the new model, requests in flight finish on the old one.
    ///
    /// # Errors
    /// As [`train_and_reindex`].
    pub async fn train(
        &self,
        tenant: &str,
        params: &TrainParams,
        progress: impl FnMut(&str) + Send + 'static,
    ) -> Result<Trained, ServiceError> {
        let service = self.clone();
        let trained = train_and_reindex(
            self.store(),
            self.registry(),
            tenant,
            params,
            progress,
            move |dimension| service.index(dimension),
        )
        .await;
        if trained.is_ok() {
            self.drop_engine(tenant);
        }
        trained
    }

    /// Activates a stored version (or rolls back to one) for every replica and hot-swaps it.
    ///
    /// # Errors
    /// An unknown version, a registry that cannot be written.
    pub async fn activate(&self, tenant: &str, version: &str) -> Result<ModelCard, ServiceError> {
        super::models::activate(self.store(), self.registry(), tenant, version).await?;
        self.drop_engine(tenant);
        let (registry, t, v) = (
            self.registry().clone(),
            tenant.to_owned(),
            version.to_owned(),
        );
        Ok(super::blocking("reading a model card", move || registry.card(&t, &v)).await??)
    }
}
