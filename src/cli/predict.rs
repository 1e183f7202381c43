//! `nextbest predict`: the active model's outcome prediction for every active plan, or
//! one, as CSV.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::domain::Id;
use nextbest::model::pipeline;

use super::open_store;
use super::process::stdout;

/// Predict every active plan (or one) with the active model: plan_id, p_hit,
/// expected_attainment, interval_low, interval_high.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Only this plan.
    #[arg(long)]
    pub plan: Option<String>,
    /// The date the plans are seen at; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Write CSV here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(config: &Config, args: PredictArgs) -> Result<()> {
    let PredictArgs { plan, as_of, out } = args;
    let plan = plan
        .map(|p| Id::parse(&p).with_context(|| format!("invalid --plan `{p}`")))
        .transpose()?;
    let store = open_store(config).await?;
    let registry = super::registry(config, &store).await;
    let (model, card) = pipeline::active_model(&registry, &config.tenant)?;
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let predictions =
        pipeline::predict_active(&store, &model, &config.tenant, as_of, plan.as_ref()).await?;
    let sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("could not create `{}`", path.display()))?,
        ),
        None => Box::new(stdout()),
    };
    let mut writer = csv::Writer::from_writer(sink);
    writer.write_record([
        "plan_id",
        "p_hit",
        "expected_attainment",
        "interval_low",
        "interval_high",
    ])?;
    for (id, p) in &predictions {
        writer.write_record([
            id.to_string(),
            format!("{:.4}", p.p_hit),
            format!("{:.4}", p.expected_attainment),
            format!("{:.4}", p.interval_low),
            format!("{:.4}", p.interval_high),
        ])?;
    }
    writer.flush()?;
    if let Some(path) = out {
        eprintln!(
            "predicted {} active plans as of {as_of} with {} into `{}`",
            predictions.len(),
            card.version,
            path.display()
        );
    }
    store.close().await;
    Ok(())
}
