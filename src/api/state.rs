//! What every handler shares: the store, the model registry, the vector index, each
//! tenant's engine (loaded once, hot-swapped when a model is trained or activated, and
//! reloaded in the background after writes), key and job bookkeeping, and metrics.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use super::auth::KeyCache;
use super::cache::RecommendationCache;
use super::error::ApiError;
use super::jobs::Jobs;
use super::metrics::Metrics;
use super::reclog::RecommendationLog;
use crate::config::Config;
use crate::model::Registry;
use crate::nba::{self, Engine};
use crate::store::Store;
use crate::vector::{self, VectorIndex};

/// Limits and clocks of a server; the defaults suit a laptop and a small fleet alike.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The date decisions are made as of, when the request does not say: `None` is today.
    /// The demo fixes it to the sample data's date so its plans are mid-period.
    pub as_of: Option<NaiveDate>,
    /// Largest JSON body, in bytes.
    pub body_limit: usize,
    /// Largest NDJSON body of `POST /v1/bulk/{entity}`, in bytes.
    pub bulk_limit: usize,
    /// Longest a request may take before it is answered 504.
    pub request_timeout: Duration,
    /// Requests served at once; beyond it, 503 with Retry-After.
    pub concurrency: usize,
    /// How stale a tenant's similar-partner data may get after writes before the engine
    /// is reloaded in the background.
    pub engine_refresh: Duration,
    /// Answer a repeated next-best-actions request from memory until the tenant's data
    /// or model changes.
    pub cache_recommendations: bool,
    /// The model that words digests, if one is configured.
    pub llm: Option<crate::digest::llm::Llm>,
    /// Slow-header and idle timeouts and the cap on open connections.
    pub connections: super::server::ConnectionLimits,
    /// Whether the dashboard's session cookie is `Secure`: decided by how the server is
    /// deployed, never by the Host header a client sends.
    pub secure_cookies: bool,
    /// Which webhook URLs a subscription may name; strict by default. The delivery worker
    /// is given the same policy (`DeliveryOptions::policy`).
    pub webhook_policy: crate::digest::outbound::Policy,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            as_of: None,
            body_limit: 1 << 20,
            bulk_limit: 64 << 20,
            request_timeout: Duration::from_secs(30),
            concurrency: 512,
            engine_refresh: Duration::from_secs(60),
            cache_recommendations: true,
            llm: None,
            connections: super::server::ConnectionLimits::default(),
            secure_cookies: true,
            webhook_policy: crate::digest::outbound::Policy::default(),
        }
    }
}

struct Loaded {
    engine: Arc<Engine>,
    loaded_at: Instant,
    /// Data written since this engine was loaded.
    stale: bool,
    reloading: bool,
}

impl Loaded {
    fn fresh(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            loaded_at: Instant::now(),
            stale: false,
            reloading: false,
        }
    }
}

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Store,
    registry: Registry,
    config: Config,
    options: ServeOptions,
    index: RwLock<Option<Arc<dyn VectorIndex>>>,
    engines: RwLock<HashMap<String, Loaded>>,
    load_lock: tokio::sync::Mutex<()>,
    keys: KeyCache,
    jobs: Jobs,
    metrics: Metrics,
    reclog: RecommendationLog,
    limiter: Arc<tokio::sync::Semaphore>,
    recommendations: RecommendationCache,
    started: Instant,
}

impl AppState {
    /// State over an open store. The vector index opens when the first tenant with a
    /// profile-carrying model needs it, so a fresh server starts without one. Starts the
    /// recommendation log writer, so it must run inside a tokio runtime.
    pub fn new(store: Store, config: Config, options: ServeOptions) -> Self {
        let registry = Registry::new(&config.models_dir);
        let reclog = RecommendationLog::start(store.clone());
        let limiter = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
        Self(Arc::new(Inner {
            reclog,
            limiter,
            recommendations: RecommendationCache::default(),
            store,
            registry,
            config,
            options,
            index: RwLock::new(None),
            engines: RwLock::new(HashMap::new()),
            load_lock: tokio::sync::Mutex::new(()),
            keys: KeyCache::default(),
            jobs: Jobs::default(),
            metrics: Metrics::new(),
            started: Instant::now(),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    pub fn options(&self) -> &ServeOptions {
        &self.0.options
    }

    pub fn keys(&self) -> &KeyCache {
        &self.0.keys
    }

    pub fn jobs(&self) -> &Jobs {
        &self.0.jobs
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Served recommendations by plan, date and k, until the tenant's data changes.
    pub fn recommendations(&self) -> Option<&RecommendationCache> {
        self.0
            .options
            .cache_recommendations
            .then_some(&self.0.recommendations)
    }

    /// Permits for requests in flight (`--concurrency`).
    pub fn limiter(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.0.limiter)
    }

    /// The batching writer of the recommendation log.
    pub fn reclog(&self) -> &RecommendationLog {
        &self.0.reclog
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }

    /// The request's `as_of`, else the server's fixed date, else today.
    pub fn as_of(&self, asked: Option<NaiveDate>) -> NaiveDate {
        asked
            .or(self.0.options.as_of)
            .unwrap_or_else(|| Utc::now().date_naive())
    }

    /// The server's clock: now, or noon UTC of the fixed `--as-of` day, so what a demo
    /// server records is seen by the decisions it makes as of that day.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        match self.0.options.as_of.and_then(|d| d.and_hms_opt(12, 0, 0)) {
            Some(noon) => noon.and_utc(),
            None => Utc::now(),
        }
    }

    /// The vector index for profile vectors of `dimension`, opened on first use. `None`
    /// (logged) when it cannot be opened: decisions then go without similar partners.
    pub fn index(&self, dimension: usize) -> Option<Arc<dyn VectorIndex>> {
        if let Ok(guard) = self.0.index.read() {
            if let Some(index) = guard.as_ref() {
                return (index.dimension() == dimension).then(|| Arc::clone(index));
            }
        }
        let mut guard = self.0.index.write().ok()?;
        if let Some(index) = guard.as_ref() {
            return (index.dimension() == dimension).then(|| Arc::clone(index));
        }
        match vector::open_index(&self.0.config, dimension) {
            Ok(index) => {
                *guard = Some(Arc::clone(&index));
                Some(index)
            }
            Err(e) => {
                tracing::warn!(error = %crate::report::Report(&e), dimension, "vector index unavailable; serving without similar partners");
                None
            }
        }
    }

    /// The index if one is open, for metrics and shutdown.
    pub fn open_index(&self) -> Option<Arc<dyn VectorIndex>> {
        self.0.index.read().ok()?.clone()
    }

    /// The tenant's engine: cached; loaded on first use; reloaded in the background when
    /// writes made its similar-partner data stale and it is older than `engine_refresh`.
    pub async fn engine(&self, tenant: &str) -> Result<Arc<Engine>, ApiError> {
        if let Some(engine) = self.cached(tenant) {
            return Ok(engine);
        }
        let _guard = self.0.load_lock.lock().await;
        if let Some(engine) = self.cached(tenant) {
            return Ok(engine);
        }
        let engine = Arc::new(self.load(tenant).await?);
        if let Ok(mut engines) = self.0.engines.write() {
            engines.insert(tenant.to_owned(), Loaded::fresh(Arc::clone(&engine)));
        }
        Ok(engine)
    }

    fn cached(&self, tenant: &str) -> Option<Arc<Engine>> {
        let (engine, due) = {
            let engines = self.0.engines.read().ok()?;
            let loaded = engines.get(tenant)?;
            let due = loaded.stale
                && !loaded.reloading
                && loaded.loaded_at.elapsed() >= self.0.options.engine_refresh;
            (Arc::clone(&loaded.engine), due)
        };
        if due {
            self.reload_in_background(tenant);
        }
        Some(engine)
    }

    fn reload_in_background(&self, tenant: &str) {
        let Ok(mut engines) = self.0.engines.write() else {
            return;
        };
        let Some(loaded) = engines.get_mut(tenant) else {
            return;
        };
        if loaded.reloading {
            return;
        }
        loaded.reloading = true;
        drop(engines);
        let state = self.clone();
        let tenant = tenant.to_owned();
        tokio::spawn(async move {
            match state.load(&tenant).await {
                Ok(engine) => {
                    state.0.recommendations.invalidate(&tenant);
                    if let Ok(mut engines) = state.0.engines.write() {
                        engines.insert(tenant.clone(), Loaded::fresh(Arc::new(engine)));
                    }
                    tracing::info!(tenant, "engine reloaded after writes");
                }
                Err(e) => {
                    tracing::warn!(tenant, detail = %e.detail, "engine reload failed; serving the loaded one");
                    if let Ok(mut engines) = state.0.engines.write() {
                        if let Some(loaded) = engines.get_mut(&tenant) {
                            loaded.reloading = false;
                            loaded.loaded_at = Instant::now();
                        }
                    }
                }
            }
        });
    }

    async fn load(&self, tenant: &str) -> Result<Engine, ApiError> {
        let started = Instant::now();
        let dimension = crate::model::pipeline::active_model(&self.0.registry, tenant)
            .ok()
            .and_then(|(model, _)| model.profile.as_ref().map(|p| p.dimension()));
        let index = dimension.and_then(|d| self.index(d));
        let as_of = self.as_of(None);
        let engine =
            nba::load_engine(&self.0.store, &self.0.registry, index, tenant, as_of).await?;
        tracing::info!(
            tenant,
            model_version = engine.model_version().unwrap_or("none"),
            ms = started.elapsed().as_millis() as u64,
            "engine loaded"
        );
        self.0
            .metrics
            .set_model(tenant, engine.model_version().unwrap_or("none"));
        Ok(engine)
    }

    /// Loads every tenant's engine in the background, so the first request of each does
    /// not pay for it.
    pub fn warm(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let tenants = match state.store().tenants().await {
                Ok(tenants) => tenants,
                Err(e) => {
                    tracing::warn!(error = %crate::report::Report(&e), "could not list tenants to warm");
                    return;
                }
            };
            for tenant in tenants {
                if let Err(e) = state.engine(&tenant).await {
                    tracing::warn!(tenant, detail = %e.detail, "could not warm the engine");
                }
            }
        });
    }

    /// Data of `tenant` changed: its engine reloads in the background once it is older
    /// than `engine_refresh`.
    pub fn mark_stale(&self, tenant: &str) {
        self.0.recommendations.invalidate(tenant);
        if let Ok(mut engines) = self.0.engines.write() {
            if let Some(loaded) = engines.get_mut(tenant) {
                loaded.stale = true;
            }
        }
    }

    /// The tenant's model changed (trained or activated): the next request loads the
    /// engine afresh, and requests in flight finish on the old one.
    pub fn drop_engine(&self, tenant: &str) {
        self.0.recommendations.invalidate(tenant);
        if let Ok(mut engines) = self.0.engines.write() {
            engines.remove(tenant);
        }
    }

    /// Persists what the vector index holds in memory; called on shutdown.
    pub fn flush_index(&self) {
        if let Some(index) = self.open_index() {
            if let Err(e) = index.flush() {
                tracing::warn!(error = %crate::report::Report(&e), "could not flush the vector index");
            }
        }
    }
}
