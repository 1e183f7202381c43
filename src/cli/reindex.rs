//! `nextbest reindex`: the tenant's similar-partner index rebuilt from the store, in the
//! active model's profile space. The index is derived data; this is how it is remade.

use std::io::Write;

use anyhow::{bail, Result};
use nextbest::config::Config;
use nextbest::nba;

use super::process::stdout;
use super::{open_index_for, open_store, spinner};

pub async fn run(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let registry = super::registry(config, &store).await;
    let Some(index) = open_index_for(config, &registry, true) else {
        bail!(
            "no vector index to rebuild: the tenant needs an active model with a profile schema \
             (run `nextbest train`), and the index must open (see the warning above)"
        );
    };
    let bar = spinner("rebuilding the vector index");
    let report = nba::peers::reindex(&store, &registry, index.as_ref(), &config.tenant).await;
    bar.finish_and_clear();
    let report = report?;
    writeln!(stdout(), "{}", serde_json::to_string_pretty(&report)?)?;
    store.close().await;
    Ok(())
}
