//! `nextbest export`: everything stored for the tenant, as the DATA_FORMAT.md folder an
//! import reads back.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use nextbest::config::Config;
use nextbest::import;

use super::open_store;
use super::process::stdout;

/// Write everything stored for the tenant as a DATA_FORMAT.md folder of CSV files.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Output folder (created if missing).
    pub dir: PathBuf,
}

pub async fn run(config: &Config, args: ExportArgs) -> Result<()> {
    let dir = &args.dir;
    let store = open_store(config).await?;
    let data = store
        .dataset(&config.tenant)
        .await
        .context("could not read the store")?;
    let written = import::write_csv_dir(dir, &data)?;
    let mut out = stdout();
    for (entity, rows) in data.counts().iter().filter(|(_, n)| *n > 0) {
        writeln!(out, "  {entity:<12} {rows:>10} rows")?;
    }
    writeln!(
        out,
        "exported tenant `{}` to {} files in `{}`",
        config.tenant,
        written.len(),
        dir.display()
    )?;
    store.close().await;
    Ok(())
}
