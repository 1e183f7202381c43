//! What every handler shares: the service (the store, the registry, each tenant's
//! engine, the index, the answer cache and the recommendation log), and what only HTTP
//! needs: limits, key and job bookkeeping, and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use super::jobs::Jobs;
use super::key_cache::KeyCache;
use super::metrics::Metrics;
use crate::config::Config;
use crate::model::Registry;
use crate::service::{Service, ServiceEvents, ServiceOptions};
use crate::store::Store;

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

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    service: Service,
    options: ServeOptions,
    keys: KeyCache,
    jobs: Jobs,
    metrics: Arc<Metrics>,
    limiter: Arc<tokio::sync::Semaphore>,
    started: Instant,
}

/// The metrics hear of every engine the service loads.
impl ServiceEvents for Metrics {
    fn engine_loaded(&self, tenant: &str, model_version: &str) {
        self.set_model(tenant, model_version);
    }
}

impl AppState {
    /// State over an open store. Starts the service's recommendation log writer, so it
    /// must run inside a tokio runtime.
    pub fn new(store: Store, config: Config, options: ServeOptions) -> Self {
        let metrics = Arc::new(Metrics::new());
        let jobs = Jobs::new(store.clone());
        let service = Service::new(
            store,
            config,
            ServiceOptions {
                as_of: options.as_of,
                engine_refresh: options.engine_refresh,
                cache_recommendations: options.cache_recommendations,
            },
            Arc::clone(&metrics) as Arc<dyn ServiceEvents>,
        );
        service.follow_changes();
        let limiter = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
        Self(Arc::new(Inner {
            service,
            options,
            keys: KeyCache::default(),
            jobs,
            metrics,
            limiter,
            started: Instant::now(),
        }))
    }

    /// The engines, caches and blocking boundary every decision goes through.
    pub fn service(&self) -> &Service {
        &self.0.service
    }

    pub fn store(&self) -> &Store {
        self.0.service.store()
    }

    pub fn registry(&self) -> &Registry {
        self.0.service.registry()
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

    /// Permits for requests in flight (`--concurrency`).
    pub fn limiter(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.0.limiter)
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }

    /// The request's `as_of`, else the server's fixed date, else today.
    pub fn as_of(&self, asked: Option<NaiveDate>) -> NaiveDate {
        self.0.service.as_of(asked)
    }

    /// The server's clock (see [`Service::now`]).
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.0.service.now()
    }
}
