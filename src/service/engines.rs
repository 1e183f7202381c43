//! Each tenant's engine: loaded once from the store and the registry, shared by every
//! request, reloaded in the background after writes, and dropped for a new model (the
//! next request loads it afresh; requests in flight finish on the old one).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::NaiveDate;

use super::blocking::blocking;
use super::ServiceError;
use crate::model::pipeline::{self, PipelineError};
use crate::model::Registry;
use crate::nba::{peers, Engine};
use crate::store::Store;
use crate::vector::VectorIndex;

/// The engine of a tenant as stored: its catalog, its active model when there is one
/// (without one every estimate is the prior, and the recommendations say so), and
/// similar partners when the model carries a profile schema and an index is given. The
/// model is read and parsed on a blocking thread.
///
/// # Errors
/// Store reads, a registry that cannot be read (a missing model is no error), peers
/// that cannot be loaded.
pub async fn load_engine(
    store: &Store,
    registry: &Registry,
    index: Option<Arc<dyn VectorIndex>>,
    tenant: &str,
    as_of: NaiveDate,
) -> Result<Engine, ServiceError> {
    let catalog = store.catalog(tenant).await?;
    let mut engine = Engine::new(tenant, catalog);
    let active = {
        let (registry, tenant) = (registry.clone(), tenant.to_owned());
        blocking("reading the active model", move || {
            pipeline::active_model(&registry, &tenant)
        })
        .await?
    };
    let active = match active {
        Ok(found) => Some(found),
        Err(PipelineError::NoActiveModel(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some((model, card)) = active {
        let model = Arc::new(model);
        if let (Some(index), Some(profile)) = (index, model.profile.as_ref()) {
            let peers = peers::Peers::load(store, tenant, profile, as_of).await?;
            engine = engine.with_peers(Arc::new(peers), index);
        }
        engine = engine.with_model(model, card.version);
    }
    Ok(engine)
}

pub(super) struct Loaded {
    pub(super) engine: Arc<Engine>,
    pub(super) loaded_at: Instant,
    /// Data written since this engine was loaded.
    pub(super) stale: bool,
    pub(super) reloading: bool,
}

impl Loaded {
    pub(super) fn fresh(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            loaded_at: Instant::now(),
            stale: false,
            reloading: false,
        }
    }
}

/// The loaded engines by tenant, and the lock that makes a tenant's first load happen once.
#[derive(Default)]
pub(super) struct Engines {
    pub(super) loaded: RwLock<HashMap<String, Loaded>>,
    pub(super) load_lock: tokio::sync::Mutex<()>,
}
