//! Models shared by replicas: the store holds every version and the one active per
//! tenant; each replica's registry (its models directory) is a cache of them. A version
//! trained anywhere is published to the store and activated there; a replica loading an
//! engine first brings its registry in line with the store, fetching a version it has
//! not seen. So `activate` on one replica switches all of them (each hears of it through
//! the change notices and reloads), and a replica started on an empty disk serves the
//! tenant's active model.

use chrono::Utc;

use super::{blocking, ServiceError};
use crate::model::registry::{ModelCard, RegistryError};
use crate::model::Registry;
use crate::store::{Store, StoreError, StoredModel};

/// Publishes a version saved in `registry` to the store (its files, once) and makes it
/// the tenant's active one there, which tells every replica.
///
/// # Errors
/// The registry cannot read the version; the store cannot be written.
pub async fn publish_and_activate(
    store: &Store,
    registry: &Registry,
    tenant: &str,
    version: &str,
) -> Result<(), ServiceError> {
    publish(store, registry, tenant, version).await?;
    if !store.activate_model(tenant, version, Utc::now()).await? {
        return Err(unknown(tenant, version));
    }
    Ok(())
}

async fn publish(
    store: &Store,
    registry: &Registry,
    tenant: &str,
    version: &str,
) -> Result<(), ServiceError> {
    let files = {
        let (registry, t, v) = (registry.clone(), tenant.to_owned(), version.to_owned());
        blocking("reading a model version", move || registry.files(&t, &v)).await??
    };
    let created_at = files.card.created_at;
    let stored = StoredModel {
        card: files.card_json,
        model: files.model_json,
    };
    store
        .publish_model(tenant, version, created_at, &stored)
        .await?;
    Ok(())
}

fn unknown(tenant: &str, version: &str) -> ServiceError {
    ServiceError::Registry(RegistryError::UnknownVersion {
        tenant: tenant.to_owned(),
        version: version.to_owned(),
    })
}

/// Activates `version` for every replica: from the store, or (a version this replica has
/// and the store has not, trained before models were stored) published from here first.
///
/// # Errors
/// [`RegistryError::UnknownVersion`] when neither has it; the store or the registry.
pub async fn activate(
    store: &Store,
    registry: &Registry,
    tenant: &str,
    version: &str,
) -> Result<(), ServiceError> {
    if !store.activate_model(tenant, version, Utc::now()).await? {
        let here = {
            let (registry, t, v) = (registry.clone(), tenant.to_owned(), version.to_owned());
            blocking("looking up a model version", move || registry.has(&t, &v)).await?
        };
        if !here {
            return Err(unknown(tenant, version));
        }
        publish_and_activate(store, registry, tenant, version).await?;
    }
    sync_active(store, registry, tenant).await
}

/// Brings the registry's active version in line with the store's, fetching it when this
/// replica has not seen it. A tenant with an active version here and none in the store
/// (a deployment from before models were stored) publishes it, so the others get it too.
///
/// # Errors
/// The store or the registry cannot be read or written.
pub async fn sync_active(
    store: &Store,
    registry: &Registry,
    tenant: &str,
) -> Result<(), ServiceError> {
    let local = {
        let (registry, t) = (registry.clone(), tenant.to_owned());
        blocking("reading the active model", move || registry.active(&t)).await??
    };
    let Some(version) = store.active_model_version(tenant).await? else {
        if let Some(local) = local {
            tracing::info!(tenant, version = %local, "publishing this replica's active model to the store");
            publish_and_activate(store, registry, tenant, &local).await?;
        }
        return Ok(());
    };
    if local.as_deref() == Some(version.as_str()) {
        return Ok(());
    }
    let here = {
        let (registry, t, v) = (registry.clone(), tenant.to_owned(), version.clone());
        blocking("looking up a model version", move || registry.has(&t, &v)).await?
    };
    if !here {
        // Only a version this replica has not seen is read from the store.
        let files = store
            .stored_model(tenant, &version)
            .await?
            .ok_or_else(|| unknown(tenant, &version))?;
        let (registry, t, v) = (registry.clone(), tenant.to_owned(), version.clone());
        blocking("caching a model version", move || {
            registry.save_files(&t, &v, files.card.as_bytes(), files.model.as_bytes())
        })
        .await??;
    }
    let (registry, t, v) = (registry.clone(), tenant.to_owned(), version.clone());
    blocking("activating a model version here", move || {
        registry.activate(&t, &v)
    })
    .await??;
    tracing::info!(tenant, version, "active model taken from the store");
    Ok(())
}

/// The tenant's versions (cards, oldest first) and its active one, as every replica sees
/// them. Versions only this replica holds (trained before models were stored) are
/// published first, so no version is lost from the list.
///
/// # Errors
/// The store or the registry cannot be read or written; a stored card that is not one.
pub async fn list(
    store: &Store,
    registry: &Registry,
    tenant: &str,
) -> Result<(Option<String>, Vec<ModelCard>), ServiceError> {
    sync_active(store, registry, tenant).await?;
    let local = {
        let (registry, t) = (registry.clone(), tenant.to_owned());
        blocking("listing model versions", move || registry.list(&t)).await??
    };
    let mut cards = parse_cards(store.model_cards(tenant).await?)?;
    let stored: std::collections::HashSet<String> =
        cards.iter().map(|c| c.version.clone()).collect();
    let missing: Vec<&ModelCard> = local
        .iter()
        .filter(|c| !stored.contains(&c.version))
        .collect();
    if !missing.is_empty() {
        for card in missing {
            publish(store, registry, tenant, &card.version).await?;
        }
        cards = parse_cards(store.model_cards(tenant).await?)?;
    }
    Ok((store.active_model_version(tenant).await?, cards))
}

fn parse_cards(raw: Vec<String>) -> Result<Vec<ModelCard>, ServiceError> {
    raw.iter()
        .map(|text| {
            serde_json::from_str(text).map_err(|e| {
                ServiceError::Store(StoreError::Corrupt {
                    what: "model card",
                    value: text.chars().take(80).collect(),
                    why: e.to_string(),
                })
            })
        })
        .collect()
}
