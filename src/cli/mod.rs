//! The commands of the `nextbest` binary, one file each, called by `main.rs` as
//! `<command>::run`. Thin: parse, call the library, print. What several commands share
//! (the store, the tenant's engine and vector index, progress bars, ids and dates) is
//! here; what the process does around every command (logging, the runtime, standard
//! output) is in [`process`].

// Answers go through `process::stdout`, which tells a reader leaving from a failure;
// `println!` would panic on a closed pipe instead.
#![deny(clippy::print_stdout)]

pub mod benchmark;
pub mod digest;
pub mod evaluate;
pub mod export;
pub mod features;
pub mod generate;
pub mod import;
pub mod keys;
pub mod predict;
pub mod process;
pub mod recommend;
pub mod reindex;
pub mod serve;
pub mod similar;
pub mod stats;
pub mod train;
pub mod what_if;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use nextbest::config::Config;
use nextbest::domain::Id;
use nextbest::model::{pipeline, Registry};
use nextbest::nba::{self, Engine};
use nextbest::store::Store;
use nextbest::vector::{self, VectorIndex};

/// Refuses a `--tenant` that could not name stored rows, before any command opens the
/// store with it.
pub fn check_tenant(config: &Config) -> Result<()> {
    Id::parse(&config.tenant).with_context(|| format!("invalid --tenant `{}`", config.tenant))?;
    Ok(())
}

pub async fn open_store(config: &Config) -> Result<Store> {
    let url = config.database_url();
    Store::open(&url)
        .await
        .context("could not open the store (check --data-dir or NEXTBEST_DATABASE_URL)")
}

pub fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

pub fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(bar_style("{spinner} {msg} {elapsed}"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message(message.to_owned());
    bar
}

/// The tenant's vector index, opened for the active model's profile dimension; `None`
/// (with a warning) when there is no model with a profile schema or the index cannot be
/// opened, so recommendations still come from the model and the prior. With `rebuild`
/// (train, reindex), an embedded shard built for another profile dimension is removed
/// first: it is derived data, and the caller is about to index the tenant again.
pub fn open_index_for(
    config: &Config,
    registry: &Registry,
    rebuild: bool,
) -> Option<Arc<dyn VectorIndex>> {
    let (model, _) = pipeline::active_model(registry, &config.tenant).ok()?;
    let dimension = model.profile.as_ref()?.dimension();
    let opened = match vector::open_index(config, dimension) {
        Err(vector::IndexError::SchemaMismatch { .. })
            if rebuild && config.qdrant_url.is_none() =>
        {
            let dir = vector::edge_dir(config);
            tracing::warn!(dir = %dir.display(), dimension, "the embedded index was built for another profile schema; rebuilding it (other tenants need `nextbest reindex` too)");
            std::fs::remove_dir_all(&dir)
                .map_err(|e| vector::IndexError::Dir(dir.clone(), e))
                .and_then(|()| vector::open_index(config, dimension))
        }
        other => other,
    };
    match opened {
        Ok(index) => Some(index),
        Err(e) => {
            tracing::warn!(error = %nextbest::report::Report(&e), "vector index unavailable; recommending without similar partners");
            None
        }
    }
}

/// The models directory, its active version brought in line with the store's first (the
/// store holds every replica's models; this directory caches them). A store that cannot
/// say leaves the directory as it is, with a warning.
pub async fn registry(config: &Config, store: &Store) -> Registry {
    let registry = Registry::new(&config.models_dir);
    if let Err(e) = nextbest::service::models::sync_active(store, &registry, &config.tenant).await {
        tracing::warn!(error = %nextbest::report::Report(&e), "could not bring the active model in line with the store; using the models directory as it is");
    }
    registry
}

pub async fn engine(config: &Config, store: &Store, as_of: NaiveDate) -> Result<Engine> {
    let registry = registry(config, store).await;
    let index = open_index_for(config, &registry, false);
    Ok(nextbest::service::load_engine(store, &registry, index, &config.tenant, as_of).await?)
}

/// The similar-partner search of `similar` and `benchmark`: it needs the active model's
/// profile schema and the index, and says so instead of answering without them.
pub async fn peers(
    config: &Config,
    as_of: Option<NaiveDate>,
) -> Result<(nba::peers::Peers, Arc<dyn VectorIndex>)> {
    let store = open_store(config).await?;
    let registry = registry(config, &store).await;
    let (model, _) = pipeline::active_model(&registry, &config.tenant)?;
    let Some(profile) = model.profile.as_ref() else {
        bail!("the active model has no profile schema: run `nextbest train` again");
    };
    let index = vector::open_index(config, profile.dimension())?;
    let peers =
        nba::peers::Peers::load(&store, &config.tenant, profile, as_of.unwrap_or_else(today))
            .await?;
    store.close().await;
    Ok((peers, index))
}

pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

pub fn parse_id(what: &str, raw: &str) -> Result<Id> {
    Id::parse(raw).with_context(|| format!("invalid {what} `{raw}`"))
}
