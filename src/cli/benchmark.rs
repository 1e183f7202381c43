//! `nextbest benchmark`: a partner against its peer group, dimension by dimension, as
//! JSON.

use std::io::Write;

use anyhow::Result;
use chrono::NaiveDate;
use nextbest::config::Config;

use super::peers;
use super::process::stdout;

/// A partner against its peer group: you / your target / peers per dimension (JSON).
#[derive(Debug, clap::Args)]
pub struct BenchmarkArgs {
    /// The partner.
    #[arg(long)]
    pub partner: String,
    /// The date recent activity is measured at; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

pub async fn run(config: &Config, args: BenchmarkArgs) -> Result<()> {
    let BenchmarkArgs { partner, as_of } = args;
    let (peers, index) = peers(config, as_of).await?;
    let found = peers.benchmark(index.as_ref(), &config.tenant, &partner)?;
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, &found)?;
    writeln!(out)?;
    Ok(())
}
