//! What the process does around every command: its allocator, logging to standard
//! error, the async runtime, and a standard output that notices its reader leaving.

use std::future::Future;
use std::io::{self, StdoutLock, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// The logging flags every command takes.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl LogArgs {
    /// Starts logging to standard error, which keeps standard output for the answer.
    /// `serving` picks the default filter: a server says what it does, a command only
    /// what went wrong.
    pub fn init(&self, serving: bool) {
        let default = if serving {
            "info,qdrant_edge=error,sqlx::query=error"
        } else {
            "warn,qdrant_edge=error,sqlx::query=error"
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(self.log.as_deref().unwrap_or(default))
        });
        // Colours only for a terminal: a log file or collector gets plain text, and the
        // server does not pay for escape codes on every request span.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Text => builder.init(),
            LogFormat::Json => builder.json().with_current_span(true).init(),
        }
    }
}

/// mimalloc rather than glibc's malloc: under load, answers allocated on one runtime
/// worker and freed on another contended on glibc's arena locks (docs/BENCHMARKS.md,
/// HTTP load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs a command to its end on a multi-threaded runtime.
pub fn block_on(command: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?
        .block_on(command)
}

/// Set once a write to standard output found its reader gone.
static READER_LEFT: AtomicBool = AtomicBool::new(false);

/// Whether a command's error came from its reader leaving (`nextbest … | head`): it
/// has read what it wanted, so the command has done its job, as ripgrep sees it.
///
/// The broken pipe is recorded where it happens rather than looked for in the error's
/// chain, because a broken pipe elsewhere (the connection to PostgreSQL, a webhook)
/// is a failure, and JSON and CSV errors do not show their I/O error in the chain.
pub fn reader_left() -> bool {
    READER_LEFT.load(Ordering::Relaxed)
}

/// Standard output, locked for the command's answer. Every command prints through it, so
/// that [`reader_left`] knows when the reader has gone.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

pub struct Stdout(StdoutLock<'static>);

impl Stdout {
    fn noticed<T>(result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            if e.kind() == io::ErrorKind::BrokenPipe {
                READER_LEFT.store(true, Ordering::Relaxed);
            }
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::noticed(self.0.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Self::noticed(self.0.flush())
    }
}
