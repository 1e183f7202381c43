//! Prometheus metrics (`/metrics`): request counts and latency histograms per route and
//! status, the active model version per tenant, the vector index size, and in-flight
//! requests. One registry per server, so servers in one process (tests) do not mix.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing::Instrument;

use super::state::AppState;

/// The header that carries a request's id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request being answered, for the errors logged while answering it.
    static CURRENT_REQUEST: HeaderValue;
}

/// The id of the request this task is answering (`-` outside a request).
pub fn current_request_id() -> String {
    CURRENT_REQUEST
        .try_with(|id| id.to_str().unwrap_or("-").to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    tenant: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms to ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    in_flight: Gauge,
    model: Family<ModelLabels, Gauge>,
    index_points: Family<TenantLabels, Gauge>,
    models_seen: Mutex<Vec<ModelLabels>>,
    digest_llm: Family<OutcomeLabels, Counter>,
    digest_deliveries: Family<OutcomeLabels, Counter>,
    digests_scheduled: Family<OutcomeLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        let model = Family::<ModelLabels, Gauge>::default();
        let index_points = Family::<TenantLabels, Gauge>::default();
        registry.register(
            "nextbest_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "nextbest_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            latency.clone(),
        );
        registry.register(
            "nextbest_http_requests_in_flight",
            "HTTP requests being answered now",
            in_flight.clone(),
        );
        registry.register(
            "nextbest_model_info",
            "The active model version of each tenant with a loaded engine (value 1)",
            model.clone(),
        );
        registry.register(
            "nextbest_vector_index_points",
            "Partners in the similar-partner index, per tenant with a loaded engine",
            index_points.clone(),
        );
        let digest_llm = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "nextbest_digest_llm",
            "Digests worded with the LLM configured, by outcome: accepted, or why the \
             template's prose was used (rejected_number, rejected_name, timeout, error)",
            digest_llm.clone(),
        );
        let digest_deliveries = Family::<OutcomeLabels, Counter>::default();
        let digests_scheduled = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "nextbest_digest_deliveries",
            "Webhook delivery attempts of digests, by outcome (delivered, retry, failed)",
            digest_deliveries.clone(),
        );
        registry.register(
            "nextbest_digests_scheduled",
            "Digests considered by the scheduler, by result (enqueued, already_sent, failed)",
            digests_scheduled.clone(),
        );
        Self {
            digest_deliveries,
            digests_scheduled,
            registry,
            requests,
            latency,
            in_flight,
            model,
            index_points,
            models_seen: Mutex::new(Vec::new()),
            digest_llm,
        }
    }

    /// Records the tenant's model version; the previous version's series drops to 0.
    pub fn set_model(&self, tenant: &str, version: &str) {
        let labels = ModelLabels {
            tenant: tenant.to_owned(),
            version: version.to_owned(),
        };
        if let Ok(mut seen) = self.models_seen.lock() {
            for old in seen.iter().filter(|l| l.tenant == tenant) {
                self.model.get_or_create(old).set(0);
            }
            seen.retain(|l| l.tenant != tenant);
            seen.push(labels.clone());
        }
        self.model.get_or_create(&labels).set(1);
    }

    /// Counts one LLM wording attempt by its outcome.
    pub fn digest_llm(&self, outcome: &'static str) {
        self.digest_llm
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts one webhook delivery attempt by its outcome.
    pub fn count_delivery(&self, outcome: &'static str) {
        self.digest_deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a scheduling round's digests by what became of them.
    pub fn count_scheduled(&self, report: &crate::digest::schedule::ScheduleReport) {
        for (outcome, n) in [
            ("enqueued", report.enqueued),
            ("already_sent", report.already_sent_this_period),
            ("failed", report.failed),
        ] {
            self.digests_scheduled
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// The text exposition, with the index size read now.
    pub fn render(&self, state: &AppState) -> String {
        if let (Some(index), Ok(seen)) = (state.open_index(), self.models_seen.lock()) {
            for tenant in seen.iter().map(|l| l.tenant.as_str()) {
                if let Ok(n) = index.count(tenant) {
                    self.index_points
                        .get_or_create(&TenantLabels {
                            tenant: tenant.to_owned(),
                        })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode the metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: the request id (the caller's `x-request-id`, or a new UUID, echoed on the
/// response and on every error logged while answering), the request span, and the counts
/// and latency by route template (`/v1/plans/{id}`, never the raw path, so ids do not
/// explode the label space). One middleware rather than four layers, and the span at
/// debug level: at info, formatting a span per request cost a fifth of the throughput of
/// the busiest endpoint (docs/BENCHMARKS.md, HTTP load).
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = match request.headers().get(&REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let mut buffer = uuid::Uuid::encode_buffer();
            let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
            let id = HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"));
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::debug_span!(
        "request",
        method = %method,
        path = %request.uri().path(),
        request_id = id.to_str().unwrap_or_default(),
        tenant = tracing::field::Empty,
    );
    let metrics = state.metrics();
    metrics.in_flight.inc();
    let mut response = CURRENT_REQUEST
        .scope(id.clone(), next.run(request).instrument(span))
        .await;
    metrics.in_flight.dec();
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    tracing::debug!(status, latency_us = elapsed.as_micros() as u64, "answered");
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.as_str().to_owned(),
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.as_str().to_owned(),
            route,
            status,
        })
        .inc();
    response.headers_mut().entry(REQUEST_ID).or_insert(id);
    response
}
