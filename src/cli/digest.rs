//! `nextbest digest`: one digest on the terminal or in a file, as the API would send it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::digest::llm::{Llm, LlmConfig};
use nextbest::digest::{compose, Audience, Format, LEADERSHIP_ID};

use super::open_store;
use super::process::stdout;

/// A partner, manager or leadership digest (markdown, HTML, text or its facts as JSON).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("recipient").required(true).args(["partner", "manager", "leadership"])))]
pub struct DigestArgs {
    /// The partner digest of this partner.
    #[arg(long)]
    pub partner: Option<String>,
    /// The portfolio digest of this manager.
    #[arg(long)]
    pub manager: Option<String>,
    /// The leadership digest of the tenant.
    #[arg(long)]
    pub leadership: bool,
    /// md, html, text or json (the facts).
    #[arg(long, default_value = "md")]
    pub format: String,
    /// The date the digest is written at; defaults to today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Count changes from this date; defaults to a week before --as-of.
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Number conventions: en, de, fr, es, it, nl, pt.
    #[arg(long, default_value = "en")]
    pub locale: String,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub llm: LlmConfig,
}

pub async fn run(config: &Config, args: DigestArgs) -> Result<()> {
    let format = Format::parse(&args.format)?;
    let (audience, id) = match (&args.partner, &args.manager) {
        (Some(p), _) => (Audience::Partner, p.clone()),
        (_, Some(m)) => (Audience::Manager, m.clone()),
        _ => (Audience::Leadership, LEADERSHIP_ID.to_owned()),
    };
    let as_of = args.as_of.unwrap_or_else(super::today);
    let store = open_store(config).await?;
    let engine = super::engine(config, &store, as_of).await?;
    let llm = Llm::from_config(&args.llm);
    let digest = compose(
        &store,
        &engine,
        llm.as_ref(),
        audience,
        &id,
        as_of,
        args.since,
        &args.locale,
    )
    .await?;
    let text = digest.rendered(format);
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?,
        None => write!(stdout(), "{text}")?,
    }
    store.close().await;
    Ok(())
}
