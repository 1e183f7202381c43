//! `nextbest serve` (with `--demo`: seed, train, make a key, print how to call it).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use nextbest::api::{self, auth, AppState, ServeOptions};
use nextbest::config::Config;
use nextbest::digest::delivery::{self, DeliveryOptions};
use nextbest::digest::outbound::Policy;
use nextbest::import::{self, ImportOptions};
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;
use nextbest::service::{train_and_reindex, Indexed};
use nextbest::store::Store;

use super::open_store;
use super::process::stdout;

/// Serve the HTTP API (`--demo` seeds the sample data, trains and prints a key).
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
    /// How long a client may take to send a request's head (from its first byte, or from
    /// connecting) before the connection is closed (`10s`, `500ms`).
    #[arg(long, env = "NEXTBEST_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit idle (no request in flight, no bytes)
    /// before it is closed; longer than a load balancer's usual 60 s.
    #[arg(long, env = "NEXTBEST_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Connections open at once; beyond it, new ones wait in the kernel's backlog.
    #[arg(long, env = "NEXTBEST_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Also serve `/metrics` without a key on this address (e.g. `127.0.0.1:9464`), for
    /// a Prometheus that scrapes without credentials; on the main address it needs an
    /// admin key.
    #[arg(long, env = "NEXTBEST_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// Mark the dashboard's session cookie `Secure` (sent over HTTPS only). Default: on,
    /// unless the server listens on a loopback address only.
    #[arg(long, env = "NEXTBEST_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
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
    /// How often the digest outbox is checked for deliveries due (`5s`, `200ms`, `1m`).
    #[arg(long, env = "NEXTBEST_DELIVERY_POLL", default_value = "5s", value_parser = parse_duration)]
    pub delivery_poll: Duration,
    /// How often subscriptions are checked for digests due this period.
    #[arg(long, env = "NEXTBEST_SCHEDULE_EVERY", default_value = "1h", value_parser = parse_duration)]
    pub schedule_every: Duration,
    /// Attempts at a webhook delivery before it is marked failed.
    #[arg(long, env = "NEXTBEST_DELIVERY_MAX_ATTEMPTS", default_value_t = 8)]
    pub delivery_max_attempts: u32,
    /// The first retry's largest delay; it doubles per attempt, drawn with full jitter.
    #[arg(long, env = "NEXTBEST_DELIVERY_BACKOFF", default_value = "30s", value_parser = parse_duration)]
    pub delivery_backoff: Duration,
    /// The largest delay between two attempts.
    #[arg(long, env = "NEXTBEST_DELIVERY_BACKOFF_CAP", default_value = "1h", value_parser = parse_duration)]
    pub delivery_backoff_cap: Duration,
    /// How long one webhook post may take; a claimed delivery is leased for twice this.
    #[arg(long, env = "NEXTBEST_DELIVERY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub delivery_timeout: Duration,
    /// Accept webhook receivers on loopback and private networks (10/8, 172.16/12,
    /// 192.168/16, 100.64/10, fc00::/7): for local tests and on-premises receivers. Off,
    /// a webhook URL must point at public addresses. Metadata, link-local and other
    /// special addresses are refused either way.
    #[arg(long, env = "NEXTBEST_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
}

/// A duration as `250ms`, `5s`, `10m`, `1h`, or bare seconds.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration: use e.g. 250ms, 5s, 10m, 1h"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        other => Err(format!(
            "unknown unit `{other}` in `{raw}`: use ms, s, m or h"
        )),
    }
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
        let index_for = {
            let (config, registry) = (config.clone(), registry.clone());
            move |_dimension: usize| super::open_index_for(&config, &registry, true)
        };
        let trained = train_and_reindex(
            store,
            &registry,
            tenant,
            &TrainParams::default(),
            |_: &str| {},
            index_for,
        )
        .await
        .context("training the demo model failed")?;
        if let Indexed::Failed(e) = trained.indexed {
            return Err(anyhow::Error::new(e).context("indexing the demo partners failed"));
        }
        let card = trained.card;
        eprintln!("  model {} in {:.1?}", card.version, started.elapsed());
    }
    Ok(())
}

pub async fn run(config: &Config, args: ServeArgs) -> Result<()> {
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
        let mut out = stdout();
        writeln!(
            out,
            "nextbest is serving tenant `{}` at http://{address}",
            config.tenant
        )?;
        writeln!(out, "API key (admin; shown once): {}", key.key)?;
        writeln!(out, "API docs: http://{address}/docs")?;
        writeln!(out, "Dashboard: http://{address}/ui (sign in with the key)")?;
        writeln!(out, "try:")?;
        writeln!(
            out,
            "  curl -s -H 'Authorization: Bearer {}' http://{address}/v1/plans/{plan}/next-best-actions?k=3",
            key.key
        )?;
    } else {
        writeln!(
            stdout(),
            "nextbest is serving at http://{address} (docs at /docs, dashboard at /ui)"
        )?;
    }
    let webhook_policy = Policy {
        allow_private_networks: args.allow_private_webhooks,
    };
    if args.allow_private_webhooks {
        tracing::warn!(
            "webhooks may post to loopback and private networks (--allow-private-webhooks)"
        );
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
        connections: api::server::ConnectionLimits {
            header_read_timeout: args.header_read_timeout.max(Duration::from_millis(100)),
            idle_timeout: args.idle_timeout.max(Duration::from_millis(100)),
            max_connections: args.max_connections.max(1),
        },
        secure_cookies: args.secure_cookies.unwrap_or(!address.ip().is_loopback()),
        webhook_policy,
    };
    let state = AppState::new(store, config.clone(), options);
    state.service().warm();
    let delivery = DeliveryOptions {
        poll: args.delivery_poll,
        schedule_every: args.schedule_every,
        max_attempts: args.delivery_max_attempts.max(1),
        backoff_base: args.delivery_backoff,
        backoff_cap: args.delivery_backoff_cap.max(args.delivery_backoff),
        timeout: args.delivery_timeout.max(Duration::from_millis(100)),
        policy: webhook_policy,
        ..DeliveryOptions::default()
    };
    // The worker stops first and the server's shutdown waits for it, so its last results
    // are recorded before the store closes.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let clock = state.clone();
    let worker = tokio::spawn(delivery::run(
        state.store().clone(),
        state.clone(),
        state.clone(),
        delivery,
        move || clock.as_of(None),
        stopped,
    ));
    let shutdown = async move {
        api::shutdown_signal().await;
        let _ = stop.send(true);
        // A worker that could not start has logged why already.
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "the digest delivery worker panicked");
        }
    };
    let metrics = match args.metrics_bind {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("could not listen on --metrics-bind {bind}"))?;
            tracing::info!(address = %bind, "serving /metrics without a key");
            let limits = state.options().connections;
            let router = api::metrics_router(state.clone());
            Some(tokio::spawn(api::server::run(
                listener,
                router,
                limits,
                std::future::pending(),
            )))
        }
        None => None,
    };
    tracing::info!(%address, as_of = ?as_of, "serving");
    let app = nextbest::web::app(state.clone());
    let served = api::serve_app(listener, state, app, shutdown)
        .await
        .context("the server failed");
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
