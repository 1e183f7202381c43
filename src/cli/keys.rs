//! `nextbest keys`: the tenant's API keys, created (shown once), listed and revoked.

use std::io::Write;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use nextbest::api::auth;
use nextbest::config::Config;

use super::open_store;
use super::process::stdout;

/// Create, list and revoke API keys of the tenant.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// What `nextbest keys` does.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key for a tenant (printed once; only its hash is stored).
    Create {
        /// read (reads and decisions), write (also sync), admin (also models).
        #[arg(long, default_value = "read")]
        scope: String,
        /// A note on who uses the key.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenant's keys (without secrets).
    List,
    /// Revoke a key by its id (the 16 hex digits after `nbk_`).
    Revoke { key_id: String },
}

pub async fn run(config: &Config, args: KeysArgs) -> Result<()> {
    let store = open_store(config).await?;
    match args.command {
        KeysCommand::Create { scope, name } => {
            let scope = auth::Scope::parse(&scope)
                .with_context(|| format!("--scope must be read, write or admin, not `{scope}`"))?;
            let key = auth::create_key(&store, &config.tenant, scope, name).await?;
            writeln!(stdout(), "{}", key.key)?;
            eprintln!(
                "key {} for tenant `{}` with scope `{}`; it is not shown again",
                key.key_id,
                key.tenant,
                scope.as_str()
            );
        }
        KeysCommand::List => {
            let keys = store.api_keys(&config.tenant).await?;
            writeln!(stdout(), "{}", serde_json::to_string_pretty(&keys)?)?;
        }
        KeysCommand::Revoke { key_id } => {
            if !store
                .revoke_api_key(&config.tenant, &key_id, Utc::now())
                .await?
            {
                bail!("tenant `{}` has no key `{key_id}`", config.tenant);
            }
            eprintln!(
                "revoked {key_id}; servers stop accepting it as a bearer key within {} s \
                 (their key cache), and its dashboard sessions have ended",
                auth::KEY_CACHE_TTL.as_secs()
            );
        }
    }
    store.close().await;
    Ok(())
}
