//! `nextbest features`: the training feature matrix as CSV, so other learners can be
//! compared on exactly what nextbest learns from.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use nextbest::config::Config;
use nextbest::model::pipeline;

use super::open_store;
use super::process::stdout;

/// Export the training feature matrix (one row per closed-plan snapshot) as CSV, for
/// comparisons with other learners (bench/peer_sklearn.py).
#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Output CSV file.
    #[arg(long)]
    pub out: PathBuf,
}

pub async fn run(config: &Config, args: FeaturesArgs) -> Result<()> {
    let out = &args.out;
    let store = open_store(config).await?;
    let set = pipeline::training_set(&store, &config.tenant)
        .await
        .context("could not build the training set")?;
    nextbest::features::write_csv(out, &set)
        .with_context(|| format!("could not write `{}`", out.display()))?;
    writeln!(
        stdout(),
        "wrote {} snapshots x {} features to `{}`",
        set.len(),
        set.n_features,
        out.display()
    )?;
    store.close().await;
    Ok(())
}
