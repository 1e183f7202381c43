//! What serving needs around the pure engine, shared by the API and the dashboard: each
//! tenant's engine (loaded, cached, reloaded after writes, hot-swapped for a new model),
//! the similar-partner index (opened on first use), the answer cache and the
//! recommendation log, train-and-reindex, recommend-and-log, and the boundary between
//! async handlers and blocking work ([`blocking`]).
//!
//! `api` and `web` call it and map its one error type, [`ServiceError`], in one place;
//! the engine (`nba`) stays free of caches, runtimes and threads.

pub mod blocking;
mod cache;
mod changes;
mod engines;
mod error;
pub mod models;
mod reclog;
mod recommend;
pub mod train;
pub mod views;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

pub use blocking::{blocking, on_blocking_thread};
pub use cache::RecommendationCache;
pub use engines::load_engine;
pub use error::ServiceError;
pub use reclog::RecommendationLog;
pub use recommend::{benchmark, check_k, fit, recommend, similar, what_if};
pub use train::{train_and_reindex, Indexed, Trained};

use crate::config::Config;
use crate::domain::{Dataset, Id, KnownIds, Plan};
use crate::model::Registry;
use crate::nba::Engine;
use crate::store::{Backend, CommitObserver, Store};
use crate::vector::{self, VectorIndex};
use engines::{Engines, Loaded};

/// What the service is told of, for the operator's metrics; the API passes its metrics.
pub trait ServiceEvents: Send + Sync {
    /// A tenant's engine was loaded with this model version (`none` without one).
    fn engine_loaded(&self, tenant: &str, model_version: &str);
}

/// Events nobody listens to (a command-line run, a test).
pub struct Unobserved;

impl ServiceEvents for Unobserved {
    fn engine_loaded(&self, _: &str, _: &str) {}
}

/// The service's clocks and caching; the server's flags set them.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The date decisions are made as of, when the request does not say: `None` is today.
    pub as_of: Option<NaiveDate>,
    /// How stale a tenant's similar-partner data may get after writes before the engine
    /// is reloaded in the background.
    pub engine_refresh: Duration,
    /// Answer a repeated next-best-actions request from memory until the tenant's data
    /// or model changes.
    pub cache_recommendations: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            as_of: None,
            engine_refresh: Duration::from_secs(60),
            cache_recommendations: true,
        }
    }
}

/// The serving state; cheap to clone.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    store: Store,
    registry: Registry,
    config: Config,
    options: ServiceOptions,
    /// The open vector indexes, by profile dimension (tenants' partner records differ).
    indexes: RwLock<std::collections::HashMap<usize, Arc<dyn VectorIndex>>>,
    engines: Engines,
    answers: RecommendationCache,
    /// The plans the engine reads, in memory (see [`views`]).
    views: Arc<views::Views>,
    reclog: RecommendationLog,
    events: Arc<dyn ServiceEvents>,
}

impl Service {
    /// The service over an open store. The vector index opens when the first tenant with
    /// a profile-carrying model needs it. Starts the recommendation log writer, so it
    /// must run inside a tokio runtime.
    pub fn new(
        store: Store,
        config: Config,
        options: ServiceOptions,
        events: Arc<dyn ServiceEvents>,
    ) -> Self {
        let views = Arc::new(views::Views::default());
        let inner = Arc::new(Inner {
            registry: Registry::new(&config.models_dir),
            reclog: RecommendationLog::start(store.clone()),
            store,
            config,
            options,
            indexes: RwLock::default(),
            engines: Engines::default(),
            answers: RecommendationCache::default(),
            views,
            events,
        });
        let observer: Arc<dyn CommitObserver> = Arc::clone(&inner) as _;
        inner.store.observe_commits(Arc::downgrade(&observer));
        Self(inner)
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.0.options
    }

    /// The batching writer of the recommendation log.
    pub fn reclog(&self) -> &RecommendationLog {
        &self.0.reclog
    }

    /// Served recommendations by plan, date and k, until the tenant's data changes.
    pub fn answers(&self) -> Option<&RecommendationCache> {
        self.0
            .options
            .cache_recommendations
            .then_some(&self.0.answers)
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

    /// The vector index for profile vectors of `dimension`, opened on first use (one per
    /// dimension: tenants whose partner records differ have profiles of other sizes).
    /// `None` (logged) when it cannot be opened: decisions then go without similar
    /// partners. Opening reads and locks files: call it from a blocking thread (the engine
    /// loader and the trainer do).
    pub fn index(&self, dimension: usize) -> Option<Arc<dyn VectorIndex>> {
        if let Ok(indexes) = self.0.indexes.read() {
            if let Some(index) = indexes.get(&dimension) {
                return Some(Arc::clone(index));
            }
        }
        let mut indexes = self.0.indexes.write().ok()?;
        if let Some(index) = indexes.get(&dimension) {
            return Some(Arc::clone(index));
        }
        match vector::open_index(&self.0.config, dimension) {
            Ok(index) => {
                indexes.insert(dimension, Arc::clone(&index));
                Some(index)
            }
            Err(e) => {
                tracing::warn!(error = %crate::report::Report(&e), dimension, "vector index unavailable; serving without similar partners");
                None
            }
        }
    }

    /// An open index (the first opened, for the metrics' point count), if any.
    pub fn open_index(&self) -> Option<Arc<dyn VectorIndex>> {
        self.0.indexes.read().ok()?.values().next().cloned()
    }

    /// The tenant's engine: cached; loaded on first use; reloaded in the background when
    /// writes made its similar-partner data stale and it is older than `engine_refresh`.
    ///
    /// # Errors
    /// What [`load_engine`] meets.
    pub async fn engine(&self, tenant: &str) -> Result<Arc<Engine>, ServiceError> {
        if let Some(engine) = self.cached(tenant) {
            return Ok(engine);
        }
        let _guard = self.0.engines.load_lock.lock().await;
        if let Some(engine) = self.cached(tenant) {
            return Ok(engine);
        }
        let engine = Arc::new(self.load(tenant).await?);
        if let Ok(mut engines) = self.0.engines.loaded.write() {
            engines.insert(tenant.to_owned(), Loaded::fresh(Arc::clone(&engine)));
        }
        Ok(engine)
    }

    fn cached(&self, tenant: &str) -> Option<Arc<Engine>> {
        let (engine, due) = {
            let engines = self.0.engines.loaded.read().ok()?;
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
        let Ok(mut engines) = self.0.engines.loaded.write() else {
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
        let service = self.clone();
        let tenant = tenant.to_owned();
        tokio::spawn(async move {
            match service.load(&tenant).await {
                Ok(engine) => {
                    service.0.answers.invalidate(&tenant);
                    if let Ok(mut engines) = service.0.engines.loaded.write() {
                        engines.insert(tenant.clone(), Loaded::fresh(Arc::new(engine)));
                    }
                    tracing::info!(tenant, "engine reloaded after writes");
                }
                Err(e) => {
                    tracing::warn!(tenant, error = %crate::report::Report(&e), "engine reload failed; serving the loaded one");
                    if let Ok(mut engines) = service.0.engines.loaded.write() {
                        if let Some(loaded) = engines.get_mut(&tenant) {
                            loaded.reloading = false;
                            loaded.loaded_at = Instant::now();
                        }
                    }
                }
            }
        });
    }

    async fn load(&self, tenant: &str) -> Result<Engine, ServiceError> {
        let started = Instant::now();
        if let Err(e) = models::sync_active(self.store(), self.registry(), tenant).await {
            tracing::warn!(tenant, error = %crate::report::Report(&e), "could not bring the active model in line with the store; loading this replica's");
        }
        let index = {
            let (service, tenant) = (self.clone(), tenant.to_owned());
            blocking("opening the vector index", move || {
                let dimension = crate::model::pipeline::active_model(&service.0.registry, &tenant)
                    .ok()
                    .and_then(|(model, _)| model.profile.as_ref().map(|p| p.dimension()));
                dimension.and_then(|d| service.index(d))
            })
            .await?
        };
        let as_of = self.as_of(None);
        let engine = load_engine(&self.0.store, &self.0.registry, index, tenant, as_of).await?;
        // The engine this one replaces keeps the neighbours of partners that did not move.
        let previous = self
            .0
            .engines
            .loaded
            .read()
            .ok()
            .and_then(|engines| engines.get(tenant).map(|l| Arc::clone(&l.engine)));
        let engine = blocking("finding every partner's neighbours", move || {
            engine.with_neighbours(previous.as_deref())
        })
        .await?;
        let version = engine.model_version().unwrap_or("none");
        tracing::info!(
            tenant,
            model_version = version,
            ms = started.elapsed().as_millis() as u64,
            "engine loaded"
        );
        self.0.events.engine_loaded(tenant, version);
        Ok(engine)
    }

    /// Loads every tenant's engine in the background, so the first request of each does
    /// not pay for it.
    pub fn warm(&self) {
        let service = self.clone();
        tokio::spawn(async move {
            let tenants = match service.store().tenants().await {
                Ok(tenants) => tenants,
                Err(e) => {
                    tracing::warn!(error = %crate::report::Report(&e), "could not list tenants to warm");
                    return;
                }
            };
            for tenant in tenants {
                if let Err(e) = service.engine(&tenant).await {
                    tracing::warn!(tenant, error = %crate::report::Report(&e), "could not warm the engine");
                }
                let started = Instant::now();
                match service.0.views.load_tenant(service.store(), &tenant).await {
                    Ok(partners) => {
                        tracing::info!(
                            tenant,
                            partners,
                            ms = started.elapsed().as_millis() as u64,
                            "plans held in memory"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(tenant, error = %crate::report::Report(&e), "could not hold the tenant's plans in memory; they are read as asked for");
                    }
                }
            }
        });
    }

    /// `data` was written for `tenant` and is about to be acknowledged. A write the
    /// views took as it committed (`observed`: SQLite's group commit) is done with.
    /// Otherwise the partners it touched are found in the store and set aside in the
    /// plans held in memory (read again on their next request), their answers go (every
    /// held plan and answer of the tenant when it changed the catalog, or when the
    /// partners cannot be told), and the engine, whose similar-partner evidence the write
    /// may move, reloads in the background once it is older than `engine_refresh`.
    pub async fn written(&self, tenant: &str, data: &Dataset, observed: bool) {
        if observed {
            return;
        }
        let partners = if data.actions.is_empty() {
            match self.store().partners_touched(tenant, data).await {
                Ok(partners) => Some(partners),
                Err(e) => {
                    tracing::warn!(tenant, error = %crate::report::Report(&e), "could not tell the partners a write touched; dropping the tenant's answers");
                    None
                }
            }
        } else {
            None
        };
        self.0
            .set_aside(tenant, partners.as_deref(), Some(&data.plans));
    }

    /// The ids a sync `body` of `entity` refers to, with the catalog, from the plans held
    /// in memory: on SQLite, where this process sees every write as it commits, and
    /// the tenant is held whole. `None` looks them up in the store.
    pub async fn known_ids(&self, tenant: &str, entity: &str, body: &[u8]) -> Option<KnownIds> {
        if self.store().backend() != Backend::Sqlite {
            return None;
        }
        let refs = crate::import::References::of_body(entity, body)?;
        if let Some(known) = self.0.views.known(tenant, &refs) {
            return Some(known);
        }
        if !self.0.views.wants_catalog(tenant) {
            return None;
        }
        if let Err(e) = self.0.views.load_catalog(self.store(), tenant).await {
            tracing::warn!(tenant, error = %crate::report::Report(&e), "could not read the catalog into memory; validating against the store");
            return None;
        }
        self.0.views.known(tenant, &refs)
    }

    /// Whether the tenant has the plan: from memory where [`Self::known_ids`] would
    /// answer from it, else from the store.
    ///
    /// # Errors
    /// The store's read.
    pub async fn plan_exists(&self, tenant: &str, plan_id: &Id) -> Result<bool, ServiceError> {
        if self.store().backend() == Backend::Sqlite {
            if let Some(known) = self.0.views.plan_known(tenant, plan_id.as_str()) {
                return Ok(known);
            }
        }
        Ok(self.store().plan_exists(tenant, plan_id).await?)
    }

    /// The plans held in memory, for the benchmark and the tests.
    pub fn views(&self) -> &views::Views {
        &self.0.views
    }

    /// The tenant's model changed (trained or activated): the next request loads the
    /// engine afresh, and requests in flight finish on the old one.
    pub fn drop_engine(&self, tenant: &str) {
        self.0.answers.invalidate(tenant);
        if let Ok(mut engines) = self.0.engines.loaded.write() {
            engines.remove(tenant);
        }
    }

    /// Writes the queued recommendation log and persists what the vector index holds in
    /// memory; called on shutdown.
    pub async fn close(&self) {
        self.0.reclog.close().await;
        let indexes: Vec<Arc<dyn VectorIndex>> = match self.0.indexes.read() {
            Ok(indexes) => indexes.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for index in indexes {
            let flushed = blocking("flushing the vector index", move || index.flush()).await;
            match flushed {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %crate::report::Report(&e), "could not flush the vector index");
                }
                Err(e) => {
                    tracing::warn!(error = %crate::report::Report(&e), "could not flush the vector index");
                }
            }
        }
    }
}

impl Inner {
    /// A committed write touched `partners` of `tenant` (`None`: anything in it): their
    /// views are set aside first (read again on their next request), then their answers
    /// go, so an answer computed after the drop is computed from the write's rows. `plans`
    /// are the write's plan rows, if known (another replica's notice does not carry them).
    fn set_aside(&self, tenant: &str, partners: Option<&[String]>, plans: Option<&[Plan]>) {
        match partners {
            Some(partners) => {
                self.views.mark_written(tenant, partners, plans);
                self.answers.invalidate_partners(tenant, partners);
            }
            None => {
                self.views.drop_tenant(tenant);
                self.answers.invalidate(tenant);
            }
        }
        self.mark_stale(tenant);
    }

    /// The tenant's similar-partner evidence may have moved: its engine reloads in the
    /// background once older than `engine_refresh`.
    fn mark_stale(&self, tenant: &str) {
        if let Ok(mut engines) = self.engines.loaded.write() {
            if let Some(loaded) = engines.get_mut(tenant) {
                loaded.stale = true;
            }
        }
    }
}

/// The views take each write as SQLite's group commits it, in commit order and before it
/// is acknowledged, and drop the answers it can change: the next answer is computed
/// from memory.
impl CommitObserver for Inner {
    fn committed(&self, tenant: &str, data: &Dataset, complete: &[Id]) -> bool {
        if !data.actions.is_empty() {
            // The catalog changed: `written` drops the tenant.
            return false;
        }
        match self.views.apply(tenant, data, complete) {
            views::Applied::Touched { partners, plans } => {
                self.answers.invalidate_partners(tenant, &partners);
                self.answers.invalidate_plans(tenant, &plans);
            }
            views::Applied::Tenant => self.answers.invalidate(tenant),
            views::Applied::Unknown => return false,
        }
        self.mark_stale(tenant);
        true
    }
}
