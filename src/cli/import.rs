//! `nextbest import`: a DATA_FORMAT.md folder into the store, in one transaction, with
//! progress on the terminal and the rejected rows written out when asked to skip them.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar};
use nextbest::config::Config;
use nextbest::import::{self, ImportOptions, ReadProgress};

use super::process::stdout;
use super::{bar_style, open_store};

/// Import a DATA_FORMAT.md folder (CSV and/or JSONL files) into the store.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The dataset folder.
    pub dir: PathBuf,
    /// Import the valid rows and write the rejected ones, with reasons, to --report.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where --skip-invalid writes rejected rows.
    #[arg(long, default_value = "import-rejected.csv")]
    pub report: PathBuf,
    /// Skip unknown columns on files other than partners instead of refusing them.
    #[arg(long)]
    pub ignore_unknown_columns: bool,
}

pub async fn run(config: &Config, args: ImportArgs) -> Result<()> {
    let options = ImportOptions {
        skip_invalid: args.skip_invalid,
        ignore_unknown_columns: args.ignore_unknown_columns,
    };
    let ImportArgs { dir, report, .. } = &args;
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
        &options,
        &mut on_read,
        &mut on_write,
    )
    .await
    .with_context(|| format!("import of `{}` failed", dir.display()))?;
    read_bar.finish_and_clear();
    write_bar.finish_and_clear();

    let mut out = stdout();
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
