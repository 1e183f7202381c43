//! Prometheus metrics (`/metrics`): request counts and latency histograms per route and
//! status, the active model version per tenant, the vector index size, and in-flight
//! requests. One registry per server, so servers in one process (tests) do not mix.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: RouteLabel,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: MethodLabel,
    route: RouteLabel,
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

    /// A request is being answered (the in-flight gauge).
    pub fn request_started(&self) {
        self.in_flight.inc();
    }

    /// A request was answered: its count by route template and status, and its latency.
    /// Labels are shared strings (axum's route template, the method constant), so
    /// recording allocates nothing once a series exists.
    pub fn request_answered(
        &self,
        method: Method,
        route: Option<MatchedPath>,
        status: u16,
        elapsed: Duration,
    ) {
        self.in_flight.dec();
        let method = MethodLabel(method);
        let route = route.map_or(RouteLabel::Unmatched, RouteLabel::Matched);
        self.latency
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
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

    /// The text exposition, with the index size read now from `index` (a blocking call:
    /// render on a blocking thread).
    pub fn render(&self, index: Option<&dyn crate::vector::VectorIndex>) -> String {
        if let (Some(index), Ok(seen)) = (index, self.models_seen.lock()) {
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

/// A route's label: the route template (`/v1/plans/{id}`, never the raw path, so ids do
/// not explode the label space), kept as axum's shared string so that recording a request
/// allocates nothing.
#[derive(Clone, Debug)]
enum RouteLabel {
    Matched(MatchedPath),
    Unmatched,
}

impl RouteLabel {
    fn as_str(&self) -> &str {
        match self {
            Self::Matched(path) => path.as_str(),
            Self::Unmatched => "unmatched",
        }
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A method's label; the standard methods are constants, so cloning one allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct MethodLabel(Method);

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}
