//! `nextbest similar`: the partners nearest one partner in the profile space, with their
//! outcomes, as JSON.

use std::io::Write;

use anyhow::Result;
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::vector;

use super::peers;
use super::process::stdout;

/// The partners most similar to one partner, with their outcomes (JSON).
#[derive(Debug, clap::Args)]
pub struct SimilarArgs {
    /// The partner.
    #[arg(long)]
    pub partner: String,
    /// How many.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Only partners of this type.
    #[arg(long)]
    pub partner_type: Option<String>,
    /// Only partners in this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Only partners of this tier.
    #[arg(long)]
    pub tier: Option<String>,
    /// The date recent activity is measured at; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

pub async fn run(config: &Config, args: SimilarArgs) -> Result<()> {
    let SimilarArgs {
        partner,
        k,
        partner_type,
        region,
        tier,
        as_of,
    } = args;
    let filter = vector::Filter {
        partner_type,
        region,
        tier,
    };
    let (peers, index) = peers(config, as_of).await?;
    let found = peers.similar(index.as_ref(), &config.tenant, &partner, k, &filter)?;
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, &found)?;
    writeln!(out)?;
    Ok(())
}
