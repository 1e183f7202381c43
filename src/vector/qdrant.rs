//! The server backend: one Qdrant collection per profile dimension ([`collection_for`]), shared by all
//! tenants of that dimension, through qdrant-client.
//!
//! The tenant is a payload field with a tenant-optimised keyword index (Qdrant's
//! recommended layout for many small tenants) and the first condition of every request.
//! Point ids and payloads are the same as the edge backend's.
//!
//! qdrant-client is async; [`VectorIndex`] is not. The index owns a one-worker tokio
//! runtime and blocks on it, so its connections live on a runtime that outlives every
//! call. Tokio forbids starting a runtime inside another one's context, so a call made
//! where a runtime is entered leaves it first: through `block_in_place` on a
//! multi-threaded runtime, through a scoped thread on a current-thread one. It works from
//! plain threads, from `spawn_blocking` and from async code alike without panicking, but
//! it blocks: the server calls it from `spawn_blocking` (`service::blocking`), as it
//! does the edge backend.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::value::Kind;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter as QdrantFilter, GetPointsBuilder,
    KeywordIndexParamsBuilder, PayloadIncludeSelector, PointId, PointStruct, PointsIdsList,
    QueryPointsBuilder, SearchParamsBuilder, UpsertPointsBuilder, Value, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use tokio::runtime::Runtime;

use super::edge::DEFAULT_HNSW_EF;
use super::{
    check_owner, check_points, check_tenant, check_vector, hit_partner, keys, Filter, Hit,
    IndexError, Point, Stored, VectorIndex, WRITE_BATCH,
};
use crate::domain::Id;

/// Runs `f`, which blocks on the index's own runtime, outside whatever runtime context
/// the calling thread has entered: tokio panics when a runtime is started inside another.
fn outside_any_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => f(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        // A current-thread runtime allows no `block_in_place`: a thread of our own has
        // no runtime context at all.
        Ok(_) => std::thread::scope(|scope| match scope.spawn(f).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// The collection nextbest uses for profile vectors of `dimension`: one per dimension, so
/// tenants whose partner records differ (and so their profile schemas) share one server,
/// and a tenant whose schema changes moves to another collection instead of failing on
/// the old one.
pub fn collection_for(dimension: usize) -> String {
    format!("nextbest_partners_d{dimension}")
}

/// A request that takes longer than this has failed: searches take milliseconds, and a
/// hung server must not hold a blocking thread forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A collection on a Qdrant server. Share it in an `Arc`.
pub struct QdrantIndex {
    client: Qdrant,
    collection: String,
    dimension: usize,
    hnsw_ef: usize,
    /// Whether the collection and its payload indexes are known to exist. Checked on
    /// first use, not at connect, so a server that starts after nextbest is fine; held
    /// while creating so two threads don't race.
    ready: Mutex<bool>,
    /// `Option` only so that `Drop` can shut it down without blocking.
    runtime: Option<Runtime>,
}

impl fmt::Debug for QdrantIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("collection", &self.collection)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl QdrantIndex {
    /// A client for `collection` at `url` (gRPC, e.g. `http://localhost:6334`). Does not
    /// contact the server: the collection is created, with `dimension` and cosine
    /// distance, on first use.
    pub fn connect(url: &str, collection: &str, dimension: usize) -> Result<Self, IndexError> {
        if dimension == 0 {
            return Err(IndexError::ZeroDimension);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nextbest-qdrant")
            .enable_all()
            .build()
            .map_err(IndexError::Runtime)?;
        // The compatibility check would block on a request here and print to stdout.
        let client = Qdrant::from_url(url)
            .timeout(REQUEST_TIMEOUT)
            .skip_compatibility_check()
            .build()
            .map_err(|e| IndexError::Qdrant {
                what: "configuring the client",
                collection: collection.to_owned(),
                source: Box::new(e),
            })?;
        Ok(Self {
            client,
            collection: collection.to_owned(),
            dimension,
            hnsw_ef: DEFAULT_HNSW_EF,
            ready: Mutex::new(false),
            runtime: Some(runtime),
        })
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Deletes the whole collection, every tenant's points with it: for a change of
    /// dimension ([`IndexError::SchemaMismatch`]), before a full reindex.
    pub fn drop_collection(&self) -> Result<(), IndexError> {
        let mut ready = self
            .ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.call(
            "deleting the collection",
            self.client.delete_collection(self.collection.as_str()),
        )?;
        *ready = false;
        tracing::warn!(collection = %self.collection, "qdrant collection deleted");
        Ok(())
    }

    /// Runs one client call on the index's runtime.
    fn call<T>(
        &self,
        what: &'static str,
        future: impl Future<Output = Result<T, QdrantError>> + Send,
    ) -> Result<T, IndexError>
    where
        T: Send,
    {
        let runtime = self.runtime.as_ref().ok_or_else(|| IndexError::Qdrant {
            what,
            collection: self.collection.clone(),
            source: Box::new(QdrantError::ConversionError(
                "the client was shut down".into(),
            )),
        })?;
        outside_any_runtime(|| runtime.block_on(future)).map_err(|e| IndexError::Qdrant {
            what,
            collection: self.collection.clone(),
            source: Box::new(e),
        })
    }

    /// Creates the collection and its payload indexes unless done already.
    fn ensure_ready(&self) -> Result<(), IndexError> {
        let mut ready = self
            .ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *ready {
            return Ok(());
        }
        let name = self.collection.as_str();
        let exists = self.call(
            "checking the collection",
            self.client.collection_exists(name),
        )?;
        if exists {
            self.check_schema()?;
        } else {
            let created = self.call(
                "creating the collection",
                self.client
                    .create_collection(CreateCollectionBuilder::new(name).vectors_config(
                        VectorParamsBuilder::new(self.dimension as u64, Distance::Cosine),
                    )),
            );
            // Another replica may have created it since the check.
            if let Err(err) = created {
                let exists_now = self.call(
                    "checking the collection",
                    self.client.collection_exists(name),
                )?;
                if !exists_now {
                    return Err(err);
                }
                self.check_schema()?;
            }
        }
        for key in keys::INDEXED {
            let mut request =
                CreateFieldIndexCollectionBuilder::new(name, key, FieldType::Keyword).wait(true);
            if key == keys::TENANT {
                request = request
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true));
            }
            // Creating an index that exists is accepted by the server, so this is idempotent.
            self.call(
                "creating a payload index",
                self.client.create_field_index(request),
            )?;
        }
        tracing::info!(
            collection = name,
            dimension = self.dimension,
            "qdrant collection ready"
        );
        *ready = true;
        Ok(())
    }

    /// The existing collection must hold one unnamed vector of our dimension, cosine.
    fn check_schema(&self) -> Result<(), IndexError> {
        let info = self.call(
            "reading the collection",
            self.client.collection_info(self.collection.as_str()),
        )?;
        let params = info
            .result
            .and_then(|i| i.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config);
        match params {
            Some(VectorsConfigKind::Params(p))
                if p.size == self.dimension as u64 && p.distance == Distance::Cosine as i32 =>
            {
                Ok(())
            }
            other => Err(IndexError::SchemaMismatch {
                location: format!("collection `{}`", self.collection),
                found: match other {
                    Some(VectorsConfigKind::Params(p)) => format!(
                        "{}-dimensional vectors (distance {})",
                        p.size,
                        Distance::try_from(p.distance)
                            .map_or_else(|_| p.distance.to_string(), |d| d.as_str_name().into())
                    ),
                    Some(VectorsConfigKind::ParamsMap(_)) => "named vectors".into(),
                    None => "no vector configuration".into(),
                },
                expected: self.dimension,
            }),
        }
    }

    /// The (tenant, partner id) stored under each of `ids` that exists.
    fn stored_owners(&self, ids: Vec<PointId>) -> Result<Vec<Stored>, IndexError> {
        let response = self.call(
            "reading stored points",
            self.client.get_points(
                GetPointsBuilder::new(self.collection.as_str(), ids)
                    .with_payload(included_fields())
                    .with_vectors(false),
            ),
        )?;
        Ok(response
            .result
            .into_iter()
            .filter_map(|point| {
                let Some(PointIdOptions::Num(id)) = point.id.and_then(|i| i.point_id_options)
                else {
                    return None;
                };
                Some(Stored {
                    id,
                    tenant: payload_str(&point.payload, keys::TENANT).map(str::to_owned),
                    partner: payload_str(&point.payload, keys::PARTNER_ID).map(str::to_owned),
                })
            })
            .collect())
    }
}

impl Drop for QdrantIndex {
    /// Dropping a runtime blocks until its tasks stop, which panics inside async code
    /// (where an `Arc<dyn VectorIndex>` is usually dropped); this does not block.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl VectorIndex for QdrantIndex {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn upsert(&self, points: &[Point]) -> Result<(), IndexError> {
        let owners = check_points(points, self.dimension)?;
        self.ensure_ready()?;
        for chunk in points.chunks(WRITE_BATCH) {
            let ids = chunk.iter().map(|p| PointId::from(p.point_id())).collect();
            for stored in self.stored_owners(ids)? {
                if let Some(&owner) = owners.get(&stored.id) {
                    check_owner(
                        stored.id,
                        owner,
                        stored.tenant.as_deref(),
                        stored.partner.as_deref(),
                    )?;
                }
            }
            let batch: Vec<PointStruct> = chunk
                .iter()
                .map(|p| {
                    PointStruct::new(p.point_id(), p.vector.clone(), Payload::from(p.payload()))
                })
                .collect();
            self.call(
                "writing points",
                self.client.upsert_points(
                    UpsertPointsBuilder::new(self.collection.as_str(), batch).wait(true),
                ),
            )?;
        }
        tracing::debug!(points = points.len(), collection = %self.collection, "vector points upserted");
        Ok(())
    }

    fn delete(&self, tenant: &str, partner_ids: &[Id]) -> Result<(), IndexError> {
        check_tenant(tenant)?;
        self.ensure_ready()?;
        let owned: Vec<PointId> = super::owned_points(tenant, partner_ids, |ids| {
            self.stored_owners(ids.into_iter().map(PointId::from).collect())
        })?
        .into_iter()
        .map(PointId::from)
        .collect();
        let deleted = owned.len();
        if !owned.is_empty() {
            self.call(
                "deleting points",
                self.client.delete_points(
                    DeletePointsBuilder::new(self.collection.as_str())
                        .points(PointsIdsList { ids: owned })
                        .wait(true),
                ),
            )?;
        }
        tracing::debug!(tenant, deleted, "vector points deleted");
        Ok(())
    }

    fn search(
        &self,
        tenant: &str,
        vector: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>, IndexError> {
        check_tenant(tenant)?;
        check_vector(vector, self.dimension, || "the query".to_owned())?;
        if k == 0 {
            return Ok(Vec::new());
        }
        self.ensure_ready()?;
        let response = self.call(
            "searching",
            self.client.query(
                QueryPointsBuilder::new(self.collection.as_str())
                    .query(vector.to_vec())
                    .filter(tenant_filter(tenant, filter))
                    .limit(k as u64)
                    .params(SearchParamsBuilder::default().hnsw_ef(self.hnsw_ef.max(k) as u64))
                    .with_payload(included_fields()),
            ),
        )?;
        response
            .result
            .into_iter()
            .map(|point| {
                let id = match point.id.as_ref().and_then(|i| i.point_id_options.as_ref()) {
                    Some(PointIdOptions::Num(n)) => n.to_string(),
                    Some(PointIdOptions::Uuid(u)) => u.clone(),
                    None => "(none)".into(),
                };
                let partner_id = hit_partner(
                    id,
                    tenant,
                    payload_str(&point.payload, keys::TENANT),
                    payload_str(&point.payload, keys::PARTNER_ID),
                )?;
                Ok(Hit {
                    partner_id,
                    score: point.score,
                })
            })
            .collect()
    }

    fn count(&self, tenant: &str) -> Result<usize, IndexError> {
        check_tenant(tenant)?;
        self.ensure_ready()?;
        let response = self.call(
            "counting points",
            self.client.count(
                CountPointsBuilder::new(self.collection.as_str())
                    .filter(tenant_filter(tenant, &Filter::default()))
                    .exact(true),
            ),
        )?;
        let count = response.result.map_or(0, |r| r.count);
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    fn clear_tenant(&self, tenant: &str) -> Result<(), IndexError> {
        check_tenant(tenant)?;
        self.ensure_ready()?;
        self.call(
            "clearing a tenant",
            self.client.delete_points(
                DeletePointsBuilder::new(self.collection.as_str())
                    .points(tenant_filter(tenant, &Filter::default()))
                    .wait(true),
            ),
        )?;
        tracing::info!(tenant, collection = %self.collection, "vector index cleared for tenant");
        Ok(())
    }

    /// Every write waits for the server's acknowledgement, and the server owns its WAL.
    fn flush(&self) -> Result<(), IndexError> {
        Ok(())
    }

    /// The server builds its HNSW graphs in the background.
    fn optimize(&self) -> Result<(), IndexError> {
        Ok(())
    }
}

/// The tenant and the set filter fields as exact keyword matches. `MatchValue::Keyword`
/// explicitly: qdrant-client turns a `String` containing whitespace into a full-text
/// match.
fn tenant_filter(tenant: &str, filter: &Filter) -> QdrantFilter {
    let keyword = |key: &str, value: &str| {
        Condition::matches(
            key,
            qdrant_client::qdrant::r#match::MatchValue::Keyword(value.to_owned()),
        )
    };
    QdrantFilter::must(
        std::iter::once(keyword(keys::TENANT, tenant))
            .chain(filter.conditions().map(|(key, value)| keyword(key, value))),
    )
}

fn included_fields() -> PayloadIncludeSelector {
    PayloadIncludeSelector::from(vec![keys::TENANT.to_owned(), keys::PARTNER_ID.to_owned()])
}

fn payload_str<'a>(payload: &'a HashMap<String, Value>, key: &str) -> Option<&'a str> {
    match payload.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(s)) => Some(s.as_str()),
        _ => None,
    }
}
