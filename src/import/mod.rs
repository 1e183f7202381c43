//! Reading and writing the DATA_FORMAT.md interchange format: a folder of CSV or JSONL
//! files, one per entity, validated row by row with `file:line:column` errors.

mod dataset;
pub mod write;

use std::path::PathBuf;

pub use dataset::Dataset;
pub use write::write_csv_dir;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("could not read or write `{}`", path.display())]
    Io { path: PathBuf, #[source] source: std::io::Error },
}
