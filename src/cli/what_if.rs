//! `nextbest what-if`: a plan's predicted outcome with activities added, from the same
//! model the recommendations' counterfactuals come from.

use std::io::Write;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::nba::{context, PlannedAction};

use super::process::stdout;
use super::{engine, open_store, parse_id, today};

/// How a plan's predicted outcome changes if activities are added (counted as done now).
#[derive(Debug, clap::Args)]
pub struct WhatIfArgs {
    /// The plan.
    #[arg(long)]
    pub plan: String,
    /// An activity to add, `KIND` or `KIND:QUANTITY`; repeat for several.
    #[arg(long = "add", required = true)]
    pub add: Vec<String>,
    /// The date the plan is seen at; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

pub async fn run(config: &Config, args: WhatIfArgs) -> Result<()> {
    let WhatIfArgs { plan, add, as_of } = args;
    if add.is_empty() {
        bail!("give at least one --add KIND[:QUANTITY]");
    }
    let added = add
        .iter()
        .map(|raw| {
            let (kind, quantity) = match raw.split_once(':') {
                Some((k, q)) => (
                    k,
                    q.parse::<f64>().with_context(|| {
                        format!("--add `{raw}`: quantity `{q}` is not a number")
                    })?,
                ),
                None => (raw.as_str(), 1.0),
            };
            Ok(PlannedAction {
                kind: kind.to_owned(),
                quantity,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let as_of = as_of.unwrap_or_else(today);
    let store = open_store(config).await?;
    let engine = engine(config, &store, as_of).await?;
    let plan = parse_id("--plan", &plan)?;
    let ctx = context::load(&store, &config.tenant, &plan, as_of).await?;
    let answer = engine.what_if(&ctx, &added)?;
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, &answer)?;
    writeln!(out)?;
    store.close().await;
    Ok(())
}
