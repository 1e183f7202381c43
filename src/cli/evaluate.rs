//! `nextbest evaluate`: the active model on held-out plans and, on a generated world,
//! the decisions against the true effects and the policy simulation. Writes JSON for
//! notebooks, markdown for people and PNG plots.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::eval::decision::{self, DecisionReport};
use nextbest::eval::synth::{self, SimOptions};
use nextbest::eval::{baselines, outcome, plots, simulate};
use nextbest::model::pipeline;
use nextbest::nba::context;
use nextbest::store::Store;

use super::process::stdout;
use super::{engine, open_store, spinner};

/// Evaluate the active model on held-out plans (and, with --truth, against a generated
/// world's true outcomes); writes evaluation.json and evaluation.md to --out.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// A folder with the generator's truth_outcomes.csv (synthetic data only).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// The date active plans are seen at for the truth comparison; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Output folder.
    #[arg(long, default_value = "evaluation")]
    pub out: PathBuf,
    /// With --truth: skip the policy simulation (the one-step decision metrics remain).
    #[arg(long)]
    pub no_simulation: bool,
    /// Random futures per plan in the simulation.
    #[arg(long, default_value_t = 32)]
    pub sim_draws: usize,
    /// Days between a simulated plan's decisions.
    #[arg(long, default_value_t = 14)]
    pub sim_step_days: u32,
}

pub async fn run(config: &Config, args: EvaluateArgs) -> Result<()> {
    let simulation = (!args.no_simulation).then_some(SimOptions {
        step_days: args.sim_step_days,
        draws: args.sim_draws,
    });
    let EvaluateArgs {
        truth, as_of, out, ..
    } = args;
    let out = out.as_path();
    let store = open_store(config).await?;
    let registry = super::registry(config, &store).await;
    let (model, card) = pipeline::active_model(&registry, &config.tenant)?;
    let truth_dir = truth.clone();
    let truth = truth
        .map(|dir| {
            let path = dir.join("truth_outcomes.csv");
            outcome::read_truth(&path)
                .with_context(|| format!("could not read `{}`", path.display()))
        })
        .transpose()?;
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let bar = spinner("scoring held-out plans");
    let report = outcome::evaluate(
        &store,
        &config.tenant,
        &model,
        &card,
        truth.as_ref().map(|t| (t, as_of)),
    )
    .await;
    bar.finish_and_clear();
    let report = report?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("could not create `{}`", out.display()))?;
    let decisions = match &truth_dir {
        Some(dir) => decisions(config, &store, dir, as_of, simulation).await?,
        None => None,
    };
    let mut markdown = outcome::markdown(&report);
    std::fs::write(
        out.join("evaluation.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    if let Some(decisions) = &decisions {
        markdown.push_str(&decision::markdown(decisions));
        std::fs::write(
            out.join("decisions.json"),
            serde_json::to_vec_pretty(decisions)?,
        )?;
    }
    std::fs::write(out.join("evaluation.md"), &markdown)?;
    let plots = plots::write_plots(&report, out)?;
    let mut stdout = stdout();
    writeln!(stdout, "{markdown}")?;
    writeln!(
        stdout,
        "wrote `{}` and `{}`",
        out.join("evaluation.json").display(),
        out.join("evaluation.md").display()
    )?;
    for plot in plots {
        writeln!(stdout, "wrote `{}`", plot.display())?;
    }
    store.close().await;
    Ok(())
}

/// The decision evaluation of `nextbest evaluate --truth DIR`: against
/// `truth_effects.csv`, and the policy simulation when `truth_params.json` is there.
async fn decisions(
    config: &Config,
    store: &Store,
    truth_dir: &Path,
    as_of: NaiveDate,
    simulation: Option<SimOptions>,
) -> Result<Option<DecisionReport>> {
    let effects_path = truth_dir.join("truth_effects.csv");
    if !effects_path.exists() {
        return Ok(None);
    }
    let truth = decision::read_truth_effects(&effects_path)
        .with_context(|| format!("could not read `{}`", effects_path.display()))?;
    let bar = spinner("loading plans for the decision evaluation");
    let engine = engine(config, store, as_of).await?;
    let contexts = context::load_active(store, &config.tenant, as_of).await?;
    let closed = store.closed_plans(&config.tenant).await?;
    let popularity = baselines::popularity(&closed);
    let busywork = synth::busywork_kinds();
    bar.set_message(format!(
        "scoring decisions on {} active plans",
        contexts.len()
    ));
    let mut report =
        decision::evaluate(&engine, &contexts, &truth, &popularity, &closed, &busywork);
    if let Some(options) = simulation {
        let params_path = truth_dir.join("truth_params.json");
        if params_path.exists() {
            bar.set_message("regenerating the world for the simulation");
            let params = synth::read_params(truth_dir)?;
            if params.as_of != as_of {
                bail!(
                    "--as-of {as_of} differs from the world's as_of {} (`{}`): the simulation starts at the world's as_of",
                    params.as_of,
                    params_path.display()
                );
            }
            let world = synth::prepare(&params)?;
            let mut stage = |name: &str| bar.set_message(format!("simulating the {name} policy"));
            report.simulation = Some(simulate::run(
                &world,
                &options,
                &engine,
                &contexts,
                &popularity,
                &simulate::all_choosers(),
                &mut stage,
            )?);
        }
    }
    bar.finish_and_clear();
    Ok(Some(report))
}
