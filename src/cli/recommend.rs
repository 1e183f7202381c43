//! `nextbest recommend`: the next best actions of one plan, readable or as JSON, or of
//! every active plan as CSV; each one logged, so that feedback and outcomes join to it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::domain::Id;
use nextbest::nba::{self, context, Recommendations};

use super::process::stdout;
use super::{engine, open_store, parse_id, spinner, today};

/// The next best actions of one active plan (a readable table with the reasons), or of
/// every active plan as CSV (plan_id, rank, kind, expected_effect, score, ...). Every
/// recommendation is logged with an id that feedback refers to.
#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    /// The plan.
    #[arg(long, conflicts_with = "all")]
    pub plan: Option<String>,
    /// Every active plan; needs --out.
    #[arg(long)]
    pub all: bool,
    /// How many actions per plan, 1 up to the number of actions in the tenant's catalog.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// The date the plan is seen at; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// With --all: the CSV file to write.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --plan: print JSON (with the excluded candidates and their reasons).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: &Config, args: RecommendArgs) -> Result<()> {
    let RecommendArgs {
        plan,
        all,
        k,
        as_of,
        out,
        json,
    } = args;
    let as_of = as_of.unwrap_or_else(today);
    let store = open_store(config).await?;
    let engine = engine(config, &store, as_of).await?;
    // Up to every action the tenant's catalog holds (built-in, its own and observed).
    let catalog = engine.catalog().len();
    if k == 0 || k > catalog {
        bail!(
            "--k must be between 1 and {catalog} (the number of actions in tenant `{}`'s catalog), got {k}",
            config.tenant
        );
    }
    match (plan, all) {
        (Some(plan), false) => {
            let plan = parse_id("--plan", &plan)?;
            let ctx = context::load(&store, &config.tenant, &plan, as_of).await?;
            let mut batch = vec![engine.recommend(&ctx, k)];
            nba::log(&store, &config.tenant, &mut batch).await?;
            let mut stdout = stdout();
            for recs in &batch {
                if json {
                    serde_json::to_writer_pretty(&mut stdout, recs)?;
                    writeln!(stdout)?;
                } else {
                    write!(stdout, "{}", table(recs))?;
                }
            }
        }
        (None, true) => {
            let Some(out) = out else {
                bail!("--all needs --out FILE (one CSV row per plan and rank)");
            };
            let bar = spinner("loading active plans");
            let contexts = context::load_active(&store, &config.tenant, as_of).await?;
            bar.set_message(format!("recommending for {} plans", contexts.len()));
            let mut batch: Vec<Recommendations> =
                contexts.iter().map(|c| engine.recommend(c, k)).collect();
            bar.set_message("logging");
            nba::log(&store, &config.tenant, &mut batch).await?;
            bar.finish_and_clear();
            write_all_csv(&out, &batch)?;
            eprintln!(
                "recommended for {} active plans as of {as_of} ({}) into `{}`",
                batch.len(),
                engine.model_version().map_or_else(
                    || "no model: prior only".to_owned(),
                    |v| format!("model {v}")
                ),
                out.display()
            );
        }
        (Some(_), true) => bail!("give either --plan ID or --all, not both"),
        (None, false) => bail!("give --plan ID (one plan) or --all --out FILE (every active plan)"),
    }
    store.close().await;
    Ok(())
}

fn write_all_csv(path: &Path, batch: &[Recommendations]) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("could not create `{}`", path.display()))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record([
        "plan_id",
        "rank",
        "kind",
        "expected_effect",
        "score",
        "responsible",
        "basis",
        "recommendation_id",
    ])?;
    for recs in batch {
        for a in &recs.actions {
            w.write_record([
                recs.plan_id.to_string(),
                a.rank.to_string(),
                a.kind.clone(),
                format!("{:.5}", a.expected_effect),
                format!("{:.5}", a.score),
                a.responsible.to_owned(),
                a.basis.as_str().to_owned(),
                a.recommendation_id
                    .as_ref()
                    .map(Id::to_string)
                    .unwrap_or_default(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// The readable table of one plan's recommendations.
fn table(recs: &Recommendations) -> String {
    let mut out = format!(
        "plan {} (partner {}) as of {}",
        recs.plan_id, recs.partner_id, recs.as_of
    );
    match (&recs.prediction, &recs.model_version) {
        (Some(p), Some(v)) => out.push_str(&format!(
            "; predicted attainment {:.0}% (80% interval {:.0}-{:.0}%), P(hit) {:.0}%, model {v}\n",
            p.expected_attainment * 100.0,
            p.interval_low * 100.0,
            p.interval_high * 100.0,
            p.p_hit * 100.0
        )),
        _ => out.push_str("; no trained model: estimates are the best-practice prior\n"),
    }
    if recs.new_partner && !recs.cold_start {
        out.push_str("NEW PARTNER: no closed plan of its own yet; estimates rest on the tenant's model and similar partners.\n");
    }
    if recs.cold_start {
        out.push_str("COLD START: no learned evidence for this tenant yet; every estimate below is the best-practice prior.\n");
    }
    out.push('\n');
    for a in &recs.actions {
        out.push_str(&format!(
            "{}. {} [{}] — {} · effort {:?} · due {} · {:+.1} pts ({:+.1} to {:+.1}) · score {:.4} · basis {}\n",
            a.rank,
            a.label,
            a.kind,
            a.responsible,
            a.effort,
            a.due_date,
            a.expected_effect * 100.0,
            a.effect_low * 100.0,
            a.effect_high * 100.0,
            a.score,
            a.basis.as_str()
        ));
        for reason in &a.explanation.reasons {
            out.push_str(&format!("   - {reason}\n"));
        }
        if let Some(id) = &a.recommendation_id {
            out.push_str(&format!("   id {id}\n"));
        }
    }
    if recs.actions.is_empty() {
        out.push_str("no eligible action right now\n");
    }
    out.push_str(&format!(
        "\n{} candidates excluded (stage, relationship, prerequisites, cool-down, planned, dismissed); --json lists them with reasons\n",
        recs.excluded.len()
    ));
    out
}
