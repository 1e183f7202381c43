//! `nextbest stats`: what the store holds for the tenant, to check an import or a sync.

use std::io::Write;

use anyhow::{Context, Result};
use nextbest::config::Config;

use super::open_store;
use super::process::stdout;

/// Print row counts per entity and status for the tenant.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: &Config, args: StatsArgs) -> Result<()> {
    let store = open_store(config).await?;
    let counts = store
        .counts(&config.tenant)
        .await
        .context("could not count rows")?;
    let mut out = stdout();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&counts)?)?;
        return Ok(());
    }
    writeln!(out, "tenant `{}`", config.tenant)?;
    writeln!(out, "  partners      {:>10}", counts.partners)?;
    let groups = [
        ("plans", &counts.plans),
        ("activities", &counts.activities),
        ("actions", &counts.actions),
        ("feedback", &counts.feedback),
    ];
    for (name, group) in groups {
        let total: i64 = group.values().sum();
        let detail: Vec<String> = group.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(out, "  {name:<13} {total:>10}  {}", detail.join(", "))?;
    }
    writeln!(
        out,
        "  key_results   {:>10}  {} without a target",
        counts.key_results, counts.key_results_without_target
    )?;
    writeln!(out, "  kr_progress   {:>10}", counts.kr_progress)?;
    if counts.partners == 0 {
        let tenants = store.tenants().await?;
        if !tenants.is_empty() {
            writeln!(
                out,
                "  (nothing here; tenants with data: {})",
                tenants.join(", ")
            )?;
        }
    }
    store.close().await;
    Ok(())
}
