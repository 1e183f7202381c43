//! `nextbest train`: a new model version from the tenant's closed plans, activated, and
//! the similar-partner index rebuilt in its profile space.

use std::io::Write;

use anyhow::{Context, Result};
use nextbest::config::Config;
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;
use nextbest::service::{train_and_reindex, Indexed, Trained};

use super::process::stdout;
use super::{open_index_for, open_store, spinner};

pub async fn run(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let registry = Registry::new(&config.models_dir);
    let bar = spinner("starting");
    let stage = {
        let bar = bar.clone();
        move |message: &str| bar.set_message(message.to_owned())
    };
    // The index is rebuilt in the new version's profile space, rebuilding an embedded
    // shard made for another schema.
    let index_for = {
        let (config, registry) = (config.clone(), registry.clone());
        move |_dimension: usize| open_index_for(&config, &registry, true)
    };
    let outcome = train_and_reindex(
        &store,
        &registry,
        &config.tenant,
        &TrainParams::default(),
        stage,
        index_for,
    )
    .await;
    bar.finish_and_clear();
    let Trained {
        card,
        report,
        indexed,
    } = outcome.context("training failed; the active model is unchanged")?;
    let mut out = stdout();
    writeln!(
        out,
        "trained {} for tenant `{}` in {:.1} s; now active",
        card.version, card.tenant, card.training_seconds
    )?;
    writeln!(
        out,
        "  data: {} (fingerprint {})",
        serde_json::to_string(&card.sizes)?,
        card.data_fingerprint
    )?;
    writeln!(
        out,
        "  split: train on plans ending by {}, calibrate on those after {}, test on the rest",
        report.cutoff, report.calibration_cutoff
    )?;
    writeln!(
        out,
        "  {:<52} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "family (held-out test plans)", "AUC", "Brier", "ECE", "MAE", "fit s"
    )?;
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    for f in &report.families {
        let mark = if f.kept { "*" } else { " " };
        writeln!(
            out,
            "  {mark}{:<51} {:>7} {:>7} {:>7} {:>7} {:>7.1}",
            format!("{}: {}", f.target, f.family),
            fmt(f.test.auc),
            fmt(f.test.brier),
            fmt(f.test.ece),
            fmt(f.test.mae),
            f.fit_seconds
        )?;
    }
    let t = &report.test;
    writeln!(
        out,
        "  kept model on {} test snapshots: AUC {}, Brier {}, ECE {}, MAE {}, {:.0}% interval coverage {} (mean width {})",
        t.snapshots, fmt(t.auc), fmt(t.brier), fmt(t.ece), fmt(t.mae), report.params.level * 100.0, fmt(t.coverage), fmt(t.interval_width)
    )?;
    writeln!(
        out,
        "  card: {}",
        registry
            .root()
            .join(&card.tenant)
            .join(&card.version)
            .join("card.json")
            .display()
    )?;
    match indexed {
        Indexed::Rebuilt(report) => {
            writeln!(out, "  similar-partner index: {}", serde_json::to_string(&report)?)?;
        }
        Indexed::Failed(e) => {
            return Err(anyhow::Error::new(e).context(
                "the model is trained and active, but indexing partner profiles failed; run `nextbest reindex`",
            ));
        }
        Indexed::Unavailable => writeln!(
            out,
            "  similar-partner index: not available (see the warning); recommendations use the model and prior only"
        )?,
    }
    store.close().await;
    Ok(())
}
