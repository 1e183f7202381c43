//! The `nextbest` command line: generate, import, export and inspect data; train,
//! predict, recommend and evaluate.

mod cli;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nextbest::config::Config;
use nextbest::domain::Id;
use nextbest::eval::synth::{self, SynthParams};
use nextbest::import::{self, ImportOptions, ReadProgress};
use nextbest::model::pipeline;
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;
use nextbest::store::Store;

/// Next best actions for partner ecosystems.
#[derive(Debug, Parser)]
#[command(name = "nextbest", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// Log filter, e.g. `info` or `nextbest=debug` (overridden by RUST_LOG). By default
    /// commands log warnings and `serve` logs what it does; both quiet the embedded
    /// vector index's start-up notices and sqlx's slow-statement notices on bulk reads,
    /// which say nothing a user can act on.
    #[arg(long, global = true)]
    log: Option<String>,
    /// Log lines as text or as JSON objects (one per line, for log shippers).
    #[arg(
        long,
        global = true,
        env = "NEXTBEST_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (`--demo` seeds the sample data, trains and prints a key).
    Serve(cli::serve::ServeArgs),
    /// A partner, manager or leadership digest (markdown, HTML, text or its facts as JSON).
    Digest(cli::digest::DigestArgs),
    /// Create, list and revoke API keys of the tenant.
    Keys {
        #[command(subcommand)]
        command: cli::serve::KeysCommand,
    },
    /// Write a synthetic partner ecosystem with known causal effects (and its ground truth).
    Generate {
        /// Number of partners.
        #[arg(long, default_value_t = 500)]
        partners: usize,
        /// Random seed: the same seed gives the same world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The date the world is seen from: plans ending before it are closed, the ones
        /// spanning it are active.
        #[arg(long, default_value = "2026-10-01")]
        as_of: NaiveDate,
        /// Years of plan history before `--as-of`.
        #[arg(long, default_value_t = 3)]
        years: u32,
        /// Monte Carlo draws per active plan for the ground-truth effects.
        #[arg(long, default_value_t = 64)]
        truth_draws: usize,
        /// Activities no longer depend on relationship quality and manager diligence: a
        /// control world without confounding.
        #[arg(long)]
        no_confounding: bool,
        /// `KIND=NEW`: rename a built-in kind in the activities and the truth, so the data
        /// carries a kind no actions file describes (as a CRM export does); repeatable.
        /// Such a world has no truth_params.json, since the policy simulation regenerates
        /// a world from its parameters and knows only the built-in kinds.
        #[arg(long, value_name = "KIND=NEW")]
        undescribed: Vec<String>,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a DATA_FORMAT.md folder (CSV and/or JSONL files) into the store.
    Import {
        /// The dataset folder.
        dir: PathBuf,
        /// Import the valid rows and write the rejected ones, with reasons, to --report.
        #[arg(long)]
        skip_invalid: bool,
        /// Where --skip-invalid writes rejected rows.
        #[arg(long, default_value = "import-rejected.csv")]
        report: PathBuf,
        /// Skip unknown columns on files other than partners instead of refusing them.
        #[arg(long)]
        ignore_unknown_columns: bool,
    },
    /// Write everything stored for the tenant as a DATA_FORMAT.md folder of CSV files.
    Export {
        /// Output folder (created if missing).
        dir: PathBuf,
    },
    /// Train the outcome model (P(hit), expected attainment, intervals) on the tenant's
    /// closed plans, save it as a new version and activate it; prints the model card.
    Train,
    /// Export the training feature matrix (one row per closed-plan snapshot) as CSV, for
    /// comparisons with other learners (bench/peer_sklearn.py).
    Features {
        /// Output CSV file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Predict every active plan (or one) with the active model: plan_id, p_hit,
    /// expected_attainment, interval_low, interval_high.
    Predict {
        /// Only this plan.
        #[arg(long)]
        plan: Option<String>,
        /// The date the plans are seen at; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Write CSV here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate the active model on held-out plans (and, with --truth, against a generated
    /// world's true outcomes); writes evaluation.json and evaluation.md to --out.
    Evaluate {
        /// A folder with the generator's truth_outcomes.csv (synthetic data only).
        #[arg(long)]
        truth: Option<PathBuf>,
        /// The date active plans are seen at for the truth comparison; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Output folder.
        #[arg(long, default_value = "evaluation")]
        out: PathBuf,
        /// With --truth: skip the policy simulation (the one-step decision metrics remain).
        #[arg(long)]
        no_simulation: bool,
        /// Random futures per plan in the simulation.
        #[arg(long, default_value_t = 32)]
        sim_draws: usize,
        /// Days between a simulated plan's decisions.
        #[arg(long, default_value_t = 14)]
        sim_step_days: u32,
    },
    /// The next best actions of one active plan (a readable table with the reasons), or of
    /// every active plan as CSV (plan_id, rank, kind, expected_effect, score, ...). Every
    /// recommendation is logged with an id that feedback refers to.
    Recommend {
        /// The plan.
        #[arg(long, conflicts_with = "all")]
        plan: Option<String>,
        /// Every active plan; needs --out.
        #[arg(long)]
        all: bool,
        /// How many actions per plan, 1 up to the number of actions in the tenant's catalog.
        #[arg(long, default_value_t = 5)]
        k: usize,
        /// The date the plan is seen at; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// With --all: the CSV file to write.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --plan: print JSON (with the excluded candidates and their reasons).
        #[arg(long)]
        json: bool,
    },
    /// How a plan's predicted outcome changes if activities are added (counted as done now).
    WhatIf {
        /// The plan.
        #[arg(long)]
        plan: String,
        /// An activity to add, `KIND` or `KIND:QUANTITY`; repeat for several.
        #[arg(long = "add", required = true)]
        add: Vec<String>,
        /// The date the plan is seen at; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// The partners most similar to one partner, with their outcomes (JSON).
    Similar {
        /// The partner.
        #[arg(long)]
        partner: String,
        /// How many.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Only partners of this type.
        #[arg(long)]
        partner_type: Option<String>,
        /// Only partners in this region.
        #[arg(long)]
        region: Option<String>,
        /// Only partners of this tier.
        #[arg(long)]
        tier: Option<String>,
        /// The date recent activity is measured at; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// A partner against its peer group: you / your target / peers per dimension (JSON).
    Benchmark {
        /// The partner.
        #[arg(long)]
        partner: String,
        /// The date recent activity is measured at; defaults to today.
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Rebuild the tenant's similar-partner index from the store (`train` does it too).
    Reindex,
    /// Print row counts per entity and status for the tenant.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// mimalloc rather than glibc's malloc: under load, answers allocated on one runtime
/// worker and freed on another contended on glibc's arena locks (docs/BENCHMARKS.md,
/// HTTP load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Serve(_) => "info,qdrant_edge=error,sqlx::query=error",
        _ => "warn,qdrant_edge=error,sqlx::query=error",
    };
    init_tracing(cli.log.as_deref().unwrap_or(default_log), cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("nextbest: could not start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nextbest: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a terminal: a log file or collector gets plain text, and the
    // server does not pay for escape codes on every request span.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let config = cli.config;
    Id::parse(&config.tenant).with_context(|| format!("invalid --tenant `{}`", config.tenant))?;
    match cli.command {
        Command::Serve(args) => cli::serve::serve(&config, args).await,
        Command::Digest(args) => cli::digest::digest(&config, args).await,
        Command::Keys { command } => cli::serve::keys(&config, command).await,
        Command::Generate {
            partners,
            seed,
            as_of,
            years,
            truth_draws,
            no_confounding,
            undescribed,
            out,
        } => generate(
            SynthParams {
                partners,
                seed,
                as_of,
                years,
                truth_draws,
                confounding: !no_confounding,
            },
            &undescribed,
            out,
        ),
        Command::Import {
            dir,
            skip_invalid,
            report,
            ignore_unknown_columns,
        } => {
            let options = ImportOptions {
                skip_invalid,
                ignore_unknown_columns,
            };
            import(&config, &dir, &options, &report).await
        }
        Command::Export { dir } => export(&config, &dir).await,
        Command::Stats { json } => stats(&config, json).await,
        Command::Train => train(&config).await,
        Command::Evaluate {
            truth,
            as_of,
            out,
            no_simulation,
            sim_draws,
            sim_step_days,
        } => {
            let simulation = (!no_simulation).then_some(synth::SimOptions {
                step_days: sim_step_days,
                draws: sim_draws,
            });
            evaluate(&config, truth, as_of, &out, simulation).await
        }
        Command::Recommend {
            plan,
            all,
            k,
            as_of,
            out,
            json,
        } => cli::recommend(&config, plan, all, k, as_of, out, json).await,
        Command::WhatIf { plan, add, as_of } => cli::what_if(&config, &plan, &add, as_of).await,
        Command::Similar {
            partner,
            k,
            partner_type,
            region,
            tier,
            as_of,
        } => {
            let filter = nextbest::vector::Filter {
                partner_type,
                region,
                tier,
            };
            cli::similar(&config, &partner, k, filter, as_of).await
        }
        Command::Benchmark { partner, as_of } => cli::benchmark(&config, &partner, as_of).await,
        Command::Reindex => cli::reindex(&config).await,
        Command::Features { out } => features(&config, &out).await,
        Command::Predict { plan, as_of, out } => predict(&config, plan, as_of, out).await,
    }
}

async fn open_store(config: &Config) -> Result<Store> {
    let url = config.database_url();
    Store::open(&url)
        .await
        .context("could not open the store (check --data-dir or NEXTBEST_DATABASE_URL)")
}

fn generate(params: SynthParams, undescribed: &[String], out: PathBuf) -> Result<()> {
    let SynthParams {
        partners,
        seed,
        as_of,
        ..
    } = params;
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
    let mut stdout = std::io::stdout().lock();
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

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

async fn import(
    config: &Config,
    dir: &std::path::Path,
    options: &ImportOptions,
    report: &std::path::Path,
) -> Result<()> {
    let store = open_store(config).await?;
    let started = Instant::now();
    let bars = MultiProgress::new();
    let read_bar = bars.add(ProgressBar::new(0));
    read_bar.set_style(bar_style(
        "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {elapsed}",
    ));
    let write_bar = bars.add(ProgressBar::new(0));
    write_bar.set_style(bar_style("{msg:>24} {pos} rows written {elapsed}"));
    let mut on_read = |p: ReadProgress<'_>| {
        read_bar.set_length(p.bytes_total);
        read_bar.set_position(p.bytes_read);
        read_bar.set_message(format!("reading {}", p.file));
    };
    let mut on_write = |entity: &'static str, rows: usize| {
        write_bar.set_message(format!("writing {entity}"));
        write_bar.inc(rows as u64);
    };
    let summary = import::import_dir(
        &store,
        &config.tenant,
        dir,
        options,
        &mut on_read,
        &mut on_write,
    )
    .await
    .with_context(|| format!("import of `{}` failed", dir.display()))?;
    read_bar.finish_and_clear();
    write_bar.finish_and_clear();

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "imported `{}` into tenant `{}` in {:.1?}",
        dir.display(),
        config.tenant,
        started.elapsed()
    )?;
    for (entity, rows) in summary.rows.iter().filter(|(_, n)| *n > 0) {
        writeln!(out, "  {entity:<12} {rows:>10} rows")?;
    }
    if !summary.custom_kinds.is_empty() {
        writeln!(
            out,
            "  custom activity kinds: {}",
            summary.custom_kinds.join(", ")
        )?;
    }
    if !summary.rejected.is_empty() {
        import::write_rejections(report, &summary.rejected)?;
        writeln!(
            out,
            "  rejected {} rows; reasons in `{}`",
            summary.rejected.len(),
            report.display()
        )?;
        for rejection in summary.rejected.iter().take(5) {
            writeln!(out, "    {rejection}")?;
        }
    }
    store.close().await;
    Ok(())
}

async fn export(config: &Config, dir: &std::path::Path) -> Result<()> {
    let store = open_store(config).await?;
    let data = store
        .dataset(&config.tenant)
        .await
        .context("could not read the store")?;
    let written = import::write_csv_dir(dir, &data)?;
    let mut out = std::io::stdout().lock();
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

async fn stats(config: &Config, json: bool) -> Result<()> {
    let store = open_store(config).await?;
    let counts = store
        .counts(&config.tenant)
        .await
        .context("could not count rows")?;
    let mut out = std::io::stdout().lock();
    if json {
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

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(bar_style("{spinner} {msg} {elapsed}"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message(message.to_owned());
    bar
}

async fn train(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let registry = Registry::new(&config.models_dir);
    let bar = spinner("starting");
    let mut stage = |message: &str| bar.set_message(message.to_owned());
    let outcome = pipeline::train_tenant(
        &store,
        &registry,
        &config.tenant,
        &TrainParams::default(),
        &mut stage,
    )
    .await;
    bar.finish_and_clear();
    let (card, report) = outcome.context("training failed; the active model is unchanged")?;
    let mut out = std::io::stdout().lock();
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
    // The profile vectors belong to this model version's schema: rebuild the index now so
    // similar partners are searched in the space the engine will query.
    match cli::open_index_for(config, &registry, true) {
        Some(index) => {
            let bar = spinner("indexing partner profiles");
            let indexed =
                nextbest::nba::peers::reindex(&store, &registry, index.as_ref(), &config.tenant)
                    .await;
            bar.finish_and_clear();
            let indexed = indexed.context("the model is trained and active, but indexing partner profiles failed; run `nextbest reindex`")?;
            writeln!(out, "  similar-partner index: {}", serde_json::to_string(&indexed)?)?;
        }
        None => writeln!(
            out,
            "  similar-partner index: not available (see the warning); recommendations use the model and prior only"
        )?,
    }
    store.close().await;
    Ok(())
}

async fn features(config: &Config, out: &std::path::Path) -> Result<()> {
    let store = open_store(config).await?;
    let set = pipeline::training_set(&store, &config.tenant)
        .await
        .context("could not build the training set")?;
    nextbest::features::write_csv(out, &set)
        .with_context(|| format!("could not write `{}`", out.display()))?;
    writeln!(
        std::io::stdout().lock(),
        "wrote {} snapshots x {} features to `{}`",
        set.len(),
        set.n_features,
        out.display()
    )?;
    store.close().await;
    Ok(())
}

async fn predict(
    config: &Config,
    plan: Option<String>,
    as_of: Option<NaiveDate>,
    out: Option<PathBuf>,
) -> Result<()> {
    let plan = plan
        .map(|p| Id::parse(&p).with_context(|| format!("invalid --plan `{p}`")))
        .transpose()?;
    let store = open_store(config).await?;
    let registry = Registry::new(&config.models_dir);
    let (model, card) = pipeline::active_model(&registry, &config.tenant)?;
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let predictions =
        pipeline::predict_active(&store, &model, &config.tenant, as_of, plan.as_ref()).await?;
    let sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("could not create `{}`", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
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

async fn evaluate(
    config: &Config,
    truth: Option<PathBuf>,
    as_of: Option<NaiveDate>,
    out: &std::path::Path,
    simulation: Option<synth::SimOptions>,
) -> Result<()> {
    let store = open_store(config).await?;
    let registry = Registry::new(&config.models_dir);
    let (model, card) = pipeline::active_model(&registry, &config.tenant)?;
    let truth_dir = truth.clone();
    let truth = truth
        .map(|dir| {
            let path = dir.join("truth_outcomes.csv");
            nextbest::eval::outcome::read_truth(&path)
                .with_context(|| format!("could not read `{}`", path.display()))
        })
        .transpose()?;
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let bar = spinner("scoring held-out plans");
    let report = nextbest::eval::outcome::evaluate(
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
        Some(dir) => cli::decisions(config, &store, dir, as_of, simulation).await?,
        None => None,
    };
    let mut markdown = nextbest::eval::outcome::markdown(&report);
    std::fs::write(
        out.join("evaluation.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    if let Some(decisions) = &decisions {
        markdown.push_str(&nextbest::eval::decision::markdown(decisions));
        std::fs::write(
            out.join("decisions.json"),
            serde_json::to_vec_pretty(decisions)?,
        )?;
    }
    std::fs::write(out.join("evaluation.md"), &markdown)?;
    let plots = nextbest::eval::plots::write_plots(&report, out)?;
    let mut stdout = std::io::stdout().lock();
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
