//! `nextbest serve` (with `--demo`: seed, train, make a key, print how to call it) and
//! `nextbest keys`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, Utc};
use nextbest::api::{self, auth, AppState, ServeOptions};
use nextbest::config::Config;
use nextbest::import::{self, ImportOptions};
use nextbest::model::train::TrainParams;
use nextbest::model::{pipeline, Registry};
use nextbest::nba;
use nextbest::store::Store;

use crate::open_store;

/// Flags of `nextbest serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (`0.0.0.0:8080` to accept other machines).
    #[arg(long, env = "NEXTBEST_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Seed the demo data into an empty tenant, train a model if none is active, create
    /// an API key and print how to call the service.
    #[arg(long)]
    pub demo: bool,
    /// The folder the demo data is loaded from.
    #[arg(long, env = "NEXTBEST_DEMO_DATA", default_value = "data/sample")]
    pub demo_data: std::path::PathBuf,
    /// Decide as of this date when a request does not say (default: today; the demo uses
    /// the sample data's date, so its plans are mid-period).
    #[arg(long, env = "NEXTBEST_AS_OF")]
    pub as_of: Option<NaiveDate>,
    /// Largest JSON body in bytes.
    #[arg(long, env = "NEXTBEST_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Largest NDJSON body of POST /v1/bulk/{entity} in bytes.
    #[arg(long, env = "NEXTBEST_BULK_LIMIT", default_value_t = 64 << 20)]
    pub bulk_limit: usize,
    /// Seconds a request may take before it is answered 504.
    #[arg(long, env = "NEXTBEST_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Requests served at once; beyond it, 503 with Retry-After.
    #[arg(long, env = "NEXTBEST_CONCURRENCY", default_value_t = 512)]
    pub concurrency: usize,
    /// Seconds after a write before a tenant's similar-partner data reloads.
    #[arg(long, env = "NEXTBEST_ENGINE_REFRESH", default_value_t = 60)]
    pub engine_refresh: u64,
    /// Compute every next-best-actions request afresh instead of answering a repeated
    /// one from memory until the tenant's data or model changes.
    #[arg(long, env = "NEXTBEST_NO_RECOMMENDATION_CACHE")]
    pub no_recommendation_cache: bool,
    /// The optional model that words digests.
    #[command(flatten)]
    pub llm: nextbest::digest::llm::LlmConfig,
}

/// The sample data's date, from its `truth_params.json` when there is one.
fn demo_as_of(dir: &Path) -> Option<NaiveDate> {
    let text = std::fs::read_to_string(dir.join("truth_params.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("as_of")?.as_str()?.parse().ok()
}

async fn seed_demo(config: &Config, store: &Store, dir: &Path) -> Result<()> {
    let tenant = &config.tenant;
    if store.counts(tenant).await?.partners == 0 {
        if !dir.join("partners.csv").exists() && !dir.join("partners.jsonl").exists() {
            bail!(
                "no demo data in `{}`: run from the repository root, or pass --demo-data DIR",
                dir.display()
            );
        }
        eprintln!(
            "seeding the demo data from `{}` into tenant `{tenant}`…",
            dir.display()
        );
        let started = Instant::now();
        let summary = import::import_dir(
            store,
            tenant,
            dir,
            &ImportOptions::default(),
            &mut |_| {},
            &mut |_, _| {},
        )
        .await
        .with_context(|| format!("could not import `{}`", dir.display()))?;
        let rows: usize = summary.rows.iter().map(|(_, n)| n).sum();
        eprintln!("  {rows} rows in {:.1?}", started.elapsed());
    }
    let registry = Registry::new(&config.models_dir);
    if registry.active(tenant)?.is_none() {
        eprintln!("training the first model of tenant `{tenant}`…");
        let started = Instant::now();
        let (card, _) = pipeline::train_tenant(
            store,
            &registry,
            tenant,
            &TrainParams::default(),
            &mut |_| {},
        )
        .await
        .context("training the demo model failed")?;
        if let Some(index) = super::open_index_for(config, &registry, true) {
            nba::peers::reindex(store, &registry, index.as_ref(), tenant).await?;
            index.flush()?;
        }
        eprintln!("  model {} in {:.1?}", card.version, started.elapsed());
    }
    Ok(())
}

/// `nextbest serve`.
pub async fn serve(config: &Config, args: ServeArgs) -> Result<()> {
    let store = open_store(config).await?;
    let mut as_of = args.as_of;
    if args.demo {
        seed_demo(config, &store, &args.demo_data).await?;
        as_of = as_of.or_else(|| demo_as_of(&args.demo_data));
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| {
            format!(
                "could not listen on {} (is it in use? try --bind)",
                args.bind
            )
        })?;
    let address = listener.local_addr()?;
    if args.demo {
        let key = auth::create_key(
            &store,
            &config.tenant,
            auth::Scope::Admin,
            Some("demo".into()),
        )
        .await?;
        let plan = store
            .plans_page(
                &config.tenant,
                None,
                1,
                None,
                Some(nextbest::domain::PlanStatus::Active),
            )
            .await?
            .into_iter()
            .next()
            .map_or_else(|| "PLAN_ID".to_owned(), |p| p.plan_id.to_string());
        println!(
            "nextbest is serving tenant `{}` at http://{address}",
            config.tenant
        );
        println!("API key (admin; shown once): {}", key.key);
        println!("API docs: http://{address}/docs");
        println!("try:");
        println!(
            "  curl -s -H 'Authorization: Bearer {}' http://{address}/v1/plans/{plan}/next-best-actions?k=3",
            key.key
        );
    } else {
        println!("nextbest is serving at http://{address} (docs at /docs)");
    }
    let options = ServeOptions {
        as_of,
        body_limit: args.body_limit,
        bulk_limit: args.bulk_limit,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        concurrency: args.concurrency.max(1),
        engine_refresh: Duration::from_secs(args.engine_refresh),
        cache_recommendations: !args.no_recommendation_cache,
        llm: nextbest::digest::llm::Llm::from_config(&args.llm),
    };
    let state = AppState::new(store, config.clone(), options);
    state.warm();
    tracing::info!(%address, as_of = ?as_of, "serving");
    api::serve(listener, state, api::shutdown_signal())
        .await
        .context("the server failed")?;
    Ok(())
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

/// `nextbest keys`.
pub async fn keys(config: &Config, command: KeysCommand) -> Result<()> {
    let store = open_store(config).await?;
    match command {
        KeysCommand::Create { scope, name } => {
            let scope = auth::Scope::parse(&scope)
                .with_context(|| format!("--scope must be read, write or admin, not `{scope}`"))?;
            let key = auth::create_key(&store, &config.tenant, scope, name).await?;
            println!("{}", key.key);
            eprintln!(
                "key {} for tenant `{}` with scope `{}`; it is not shown again",
                key.key_id,
                key.tenant,
                scope.as_str()
            );
        }
        KeysCommand::List => {
            let keys = store.api_keys(&config.tenant).await?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        KeysCommand::Revoke { key_id } => {
            if !store
                .revoke_api_key(&config.tenant, &key_id, Utc::now())
                .await?
            {
                bail!("tenant `{}` has no key `{key_id}`", config.tenant);
            }
            eprintln!("revoked {key_id}; servers stop accepting it within 30 s");
        }
    }
    store.close().await;
    Ok(())
}
