//! `nextbest generate`: a synthetic partner ecosystem written as a dataset folder, with
//! the ground truth real data never has, for evaluating the product.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use indicatif::ProgressBar;
use nextbest::eval::synth::{self, SynthParams};

use super::bar_style;
use super::process::stdout;

/// Write a synthetic partner ecosystem with known causal effects (and its ground truth).
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of partners.
    #[arg(long, default_value_t = 500)]
    pub partners: usize,
    /// Random seed: the same seed gives the same world.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The date the world is seen from: plans ending before it are closed, the ones
    /// spanning it are active.
    #[arg(long, default_value = "2026-10-01")]
    pub as_of: NaiveDate,
    /// Years of plan history before `--as-of`.
    #[arg(long, default_value_t = 3)]
    pub years: u32,
    /// Monte Carlo draws per active plan for the ground-truth effects.
    #[arg(long, default_value_t = 64)]
    pub truth_draws: usize,
    /// Activities no longer depend on relationship quality and manager diligence: a
    /// control world without confounding.
    #[arg(long)]
    pub no_confounding: bool,
    /// `KIND=NEW`: rename a built-in kind in the activities and the truth, so the data
    /// carries a kind no actions file describes (as a CRM export does); repeatable.
    /// Such a world has no truth_params.json, since the policy simulation regenerates
    /// a world from its parameters and knows only the built-in kinds.
    #[arg(long, value_name = "KIND=NEW")]
    pub undescribed: Vec<String>,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let GenerateArgs {
        partners,
        seed,
        as_of,
        years,
        truth_draws,
        no_confounding,
        undescribed,
        out,
    } = args;
    let params = SynthParams {
        partners,
        seed,
        as_of,
        years,
        truth_draws,
        confounding: !no_confounding,
    };
    let started = Instant::now();
    let bar = ProgressBar::new(partners as u64);
    bar.set_style(bar_style(
        "generating [{bar:30}] {pos}/{len} partners {elapsed}",
    ));
    let renames = undescribed
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .with_context(|| format!("--undescribed `{pair}` is not KIND=NEW"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut world = synth::generate(&params, &mut |done| bar.set_position(done as u64))
        .context("could not generate the world")?;
    bar.finish_and_clear();
    let mut renamed = Vec::with_capacity(renames.len());
    for (kind, as_kind) in &renames {
        renamed.push((kind, as_kind, world.undescribe(kind, as_kind)?));
    }
    let mut written = world
        .write(&out)
        .with_context(|| format!("could not write to `{}`", out.display()))?;
    if renames.is_empty() {
        written.push(synth::write_params(&out, &params).context("could not write the parameters")?);
    }
    let mut stdout = stdout();
    writeln!(
        stdout,
        "generated {partners} partners (seed {seed}, as of {as_of}) in {:.1?}",
        started.elapsed()
    )?;
    for (entity, rows) in world.dataset.counts().iter().filter(|(_, n)| *n > 0) {
        writeln!(stdout, "  {entity:<12} {rows:>10} rows")?;
    }
    writeln!(
        stdout,
        "  truth: {} effects, {} outcomes",
        world.truth_effects.len(),
        world.truth_outcomes.len()
    )?;
    for (kind, as_kind, rows) in &renamed {
        writeln!(
            stdout,
            "  undescribed: {kind} as {as_kind} ({rows} activities)"
        )?;
    }
    if !renamed.is_empty() {
        writeln!(
            stdout,
            "  no {}: the policy simulation cannot regenerate a renamed world",
            synth::PARAMS_FILE
        )?;
    }
    writeln!(
        stdout,
        "wrote {} files to `{}`",
        written.len(),
        out.display()
    )?;
    Ok(())
}
