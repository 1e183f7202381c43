//! The `nextbest` command line: parses the flags and calls `cli::<command>::run`.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Next best actions for partner ecosystems.
#[derive(Debug, Parser)]
#[command(name = "nextbest", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    config: nextbest::config::Config,
    #[command(flatten)]
    log: cli::process::LogArgs,
    #[command(subcommand)]
    command: Command,
}

// A command's help is the doc comment on its arguments, in its file under `cli/`.
#[derive(Debug, Subcommand)]
enum Command {
    Serve(cli::serve::ServeArgs),
    Digest(cli::digest::DigestArgs),
    Keys(cli::keys::KeysArgs),
    Generate(cli::generate::GenerateArgs),
    Import(cli::import::ImportArgs),
    Export(cli::export::ExportArgs),
    /// Train the outcome model (P(hit), expected attainment, intervals) on the tenant's
    /// closed plans, save it as a new version and activate it; prints the model card.
    Train,
    Features(cli::features::FeaturesArgs),
    Predict(cli::predict::PredictArgs),
    Evaluate(cli::evaluate::EvaluateArgs),
    Recommend(cli::recommend::RecommendArgs),
    WhatIf(cli::what_if::WhatIfArgs),
    Similar(cli::similar::SimilarArgs),
    Benchmark(cli::benchmark::BenchmarkArgs),
    /// Rebuild the tenant's similar-partner index from the store (`train` does it too).
    Reindex,
    Stats(cli::stats::StatsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init(matches!(cli.command, Command::Serve(_)));
    match cli::process::block_on(run(&cli.config, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        // `nextbest … | head`: the reader has what it wanted (ripgrep exits 0 too).
        Err(_) if cli::process::reader_left() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nextbest: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(config: &nextbest::config::Config, command: Command) -> anyhow::Result<()> {
    cli::check_tenant(config)?;
    match command {
        Command::Serve(args) => cli::serve::run(config, args).await,
        Command::Digest(args) => cli::digest::run(config, args).await,
        Command::Keys(args) => cli::keys::run(config, args).await,
        Command::Generate(args) => cli::generate::run(args),
        Command::Import(args) => cli::import::run(config, args).await,
        Command::Export(args) => cli::export::run(config, args).await,
        Command::Train => cli::train::run(config).await,
        Command::Features(args) => cli::features::run(config, args).await,
        Command::Predict(args) => cli::predict::run(config, args).await,
        Command::Evaluate(args) => cli::evaluate::run(config, args).await,
        Command::Recommend(args) => cli::recommend::run(config, args).await,
        Command::WhatIf(args) => cli::what_if::run(config, args).await,
        Command::Similar(args) => cli::similar::run(config, args).await,
        Command::Benchmark(args) => cli::benchmark::run(config, args).await,
        Command::Reindex => cli::reindex::run(config).await,
        Command::Stats(args) => cli::stats::run(config, args).await,
    }
}
