//! One configuration for every command, from flags and `NEXTBEST_*` variables, with
//! defaults that work on a laptop with nothing installed.

use std::path::PathBuf;

/// Where data lives and which tenant a command acts for.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Directory for the embedded store, vector index and models.
    #[arg(
        long,
        global = true,
        env = "NEXTBEST_DATA_DIR",
        default_value = "nextbest-data"
    )]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`. Defaults to
    /// `sqlite://DATA_DIR/nextbest.db`.
    #[arg(
        long,
        global = true,
        env = "NEXTBEST_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Qdrant server URL (gRPC, e.g. `http://localhost:6334`) for the vector index. When
    /// unset, the index is an embedded shard under `DATA_DIR/vectors`.
    #[arg(
        long,
        global = true,
        env = "NEXTBEST_QDRANT_URL",
        hide_env_values = true
    )]
    pub qdrant_url: Option<String>,

    /// Directory of the model registry (`<tenant>/<version>/` and an `active` pointer).
    #[arg(
        long,
        global = true,
        env = "NEXTBEST_MODELS_DIR",
        default_value = "models"
    )]
    pub models_dir: PathBuf,

    /// The tenant (one vendor's partner ecosystem) the command acts for.
    #[arg(
        long,
        global = true,
        env = "NEXTBEST_TENANT",
        default_value = "default"
    )]
    pub tenant: String,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("nextbest.db").display()))
    }
}
