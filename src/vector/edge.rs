//! The embedded backend: one qdrant-edge shard in a directory, shared by all tenants.
//!
//! Facts of qdrant-edge 0.7.0 that shape this file (DESIGN.md, and its source):
//! - writes go to a WAL without fsync; only `flush()` makes them durable;
//! - `flush()` takes the WAL with `try_lock().expect(..)`, so a flush that races a write
//!   panics: every write, flush and optimize here holds one mutex (searches do not);
//! - HNSW graphs are built only by `optimize()` and only for segments above the indexing
//!   threshold (10 MB of vectors), so smaller tenants are searched exactly;
//! - a payload that is not a JSON object panics: payloads are built here as maps;
//! - the WAL directory is locked by the shard, but the error is an opaque string, so this
//!   backend takes its own lock file first and reports [`IndexError::Locked`].

use std::fs::{File, OpenOptions};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeVectorParamsBuilder,
    FieldCondition, FieldIndexOperations, Filter as EdgeFilter, JsonPath, Match, NamedQuery,
    Payload, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStructPersisted, QueryEnum, QueryRequest, ScoringQuery, SearchParams,
    UpdateOperation, ValueVariants, VectorStructPersisted, WithPayloadInterface, WithVector,
    DEFAULT_VECTOR_NAME,
};

use super::{
    check_owner, check_points, check_tenant, check_vector, hit_partner, keys, Filter, Hit,
    IndexError, Point, Stored, VectorIndex, WRITE_BATCH,
};
use crate::domain::Id;

/// The beam width of an HNSW search. 128 gives recall@10 >= 0.95 on 100,000 clustered
/// 48-dimensional partners (benches/vector.rs, docs/BENCHMARKS.md); the search takes
/// `max(k, hnsw_ef)`.
pub const DEFAULT_HNSW_EF: usize = 128;

/// The shard's files live in a subdirectory, next to the lock file that guards them.
const SHARD_DIR: &str = "shard";
const LOCK_FILE: &str = "nextbest.lock";
/// Written by qdrant-edge when a shard is created; its presence means "load, not create".
const EDGE_CONFIG_FILE: &str = "edge_config.json";

/// What the shard holds, for diagnostics and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeStats {
    pub points: usize,
    pub segments: usize,
    /// Vectors in segments that have an HNSW graph; the rest are searched exactly.
    pub indexed_vectors: usize,
}

/// A qdrant-edge shard under a directory. Share it in an `Arc`.
///
/// Field order matters: the shard is dropped (and flushes) before the lock is released.
#[derive(Debug)]
pub struct EdgeIndex {
    shard: EdgeShard,
    /// Serialises writes, flushes and optimizations (see the module docs).
    writes: Mutex<()>,
    dimension: usize,
    hnsw_ef: usize,
    dir: PathBuf,
    paths: Paths,
    _lock: File,
}

/// Payload keys as qdrant JSON paths, parsed once.
#[derive(Debug)]
struct Paths {
    tenant: JsonPath,
    partner_id: JsonPath,
}

impl EdgeIndex {
    /// Opens the shard under `dir`, creating it (and `dir`) if missing.
    ///
    /// # Errors
    /// [`IndexError::Locked`] if the directory is open elsewhere (in this process or
    /// another), [`IndexError::SchemaMismatch`] if it holds vectors of another dimension
    /// or distance.
    pub fn open(dir: &Path, dimension: usize) -> Result<Self, IndexError> {
        if dimension == 0 {
            return Err(IndexError::ZeroDimension);
        }
        std::fs::create_dir_all(dir).map_err(|e| IndexError::Dir(dir.to_owned(), e))?;
        let lock = lock_dir(dir)?;
        let shard_dir = dir.join(SHARD_DIR);
        let shard = if shard_dir.join(EDGE_CONFIG_FILE).exists() {
            let shard = EdgeShard::load(&shard_dir, None)
                .map_err(|e| IndexError::Edge("loading the shard", e))?;
            check_schema(&shard, dir, dimension)?;
            shard
        } else {
            std::fs::create_dir_all(&shard_dir)
                .map_err(|e| IndexError::Dir(shard_dir.clone(), e))?;
            EdgeShard::new(&shard_dir, shard_config(dimension))
                .map_err(|e| IndexError::Edge("creating the shard", e))?
        };
        let index = Self {
            shard,
            writes: Mutex::new(()),
            dimension,
            hnsw_ef: DEFAULT_HNSW_EF,
            dir: dir.to_owned(),
            paths: Paths {
                tenant: json_path(keys::TENANT)?,
                partner_id: json_path(keys::PARTNER_ID)?,
            },
            _lock: lock,
        };
        index.ensure_payload_indexes()?;
        let stats = index.stats();
        tracing::debug!(
            dir = %dir.display(),
            dimension,
            points = stats.points,
            segments = stats.segments,
            "edge vector index opened"
        );
        Ok(index)
    }

    /// Sets the HNSW beam width of searches (default [`DEFAULT_HNSW_EF`]): higher is more
    /// accurate and slower.
    #[must_use]
    pub fn with_hnsw_ef(mut self, hnsw_ef: usize) -> Self {
        self.hnsw_ef = hnsw_ef.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> EdgeStats {
        let info = self.shard.info();
        EdgeStats {
            points: info.points_count,
            segments: info.segments_count,
            indexed_vectors: info.indexed_vectors_count,
        }
    }

    /// The mutex guards no data, so a poisoned one (a panic inside qdrant-edge while
    /// writing) is still safe to take: the shard reports its own state.
    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, what: &'static str, operation: UpdateOperation) -> Result<(), IndexError> {
        self.shard
            .update(operation)
            .map_err(|e| IndexError::Edge(what, e))
    }

    /// Keyword indexes on the tenant and filter fields: they let the query planner pick
    /// the matching points directly for selective filters, and add filter-aware links to
    /// the HNSW graphs. Created once; the shard persists them.
    fn ensure_payload_indexes(&self) -> Result<(), IndexError> {
        let existing = self.shard.info().payload_schema;
        let _writes = self.write_lock();
        for key in keys::INDEXED {
            let path = json_path(key)?;
            if existing.contains_key(&path) {
                continue;
            }
            let create = CreateIndex {
                field_name: path,
                field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
            };
            self.update(
                "creating a payload index",
                UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(create)),
            )?;
        }
        Ok(())
    }

    fn tenant_filter(&self, tenant: &str, filter: &Filter) -> Result<EdgeFilter, IndexError> {
        let mut must = vec![keyword(self.paths.tenant.clone(), tenant)];
        for (key, value) in filter.conditions() {
            must.push(keyword(json_path(key)?, value));
        }
        Ok(EdgeFilter {
            should: None,
            min_should: None,
            must: Some(must),
            must_not: None,
        })
    }

    /// The (tenant, partner id) stored under each of `ids` that exists.
    fn stored_owners(&self, ids: &[PointId]) -> Result<Vec<Stored>, IndexError> {
        let records = self
            .shard
            .retrieve(
                ids,
                Some(WithPayloadInterface::Fields(vec![
                    self.paths.tenant.clone(),
                    self.paths.partner_id.clone(),
                ])),
                Some(WithVector::Bool(false)),
            )
            .map_err(|e| IndexError::Edge("reading stored points", e))?;
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let PointId::NumId(id) = record.id else {
                    return None;
                };
                let payload = record.payload.as_ref();
                Some(Stored {
                    id,
                    tenant: payload_str(payload, keys::TENANT).map(str::to_owned),
                    partner: payload_str(payload, keys::PARTNER_ID).map(str::to_owned),
                })
            })
            .collect())
    }
}

impl VectorIndex for EdgeIndex {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn upsert(&self, points: &[Point]) -> Result<(), IndexError> {
        let owners = check_points(points, self.dimension)?;
        let _writes = self.write_lock();
        for chunk in points.chunks(WRITE_BATCH) {
            let ids: Vec<PointId> = chunk.iter().map(|p| PointId::NumId(p.point_id())).collect();
            for stored in self.stored_owners(&ids)? {
                if let Some(&owner) = owners.get(&stored.id) {
                    check_owner(
                        stored.id,
                        owner,
                        stored.tenant.as_deref(),
                        stored.partner.as_deref(),
                    )?;
                }
            }
            let batch = chunk.iter().map(edge_point).collect();
            self.update(
                "writing points",
                UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    PointInsertOperations::PointsList(batch),
                )),
            )?;
        }
        tracing::debug!(points = points.len(), "vector points upserted");
        Ok(())
    }

    fn delete(&self, tenant: &str, partner_ids: &[Id]) -> Result<(), IndexError> {
        check_tenant(tenant)?;
        let _writes = self.write_lock();
        let owned: Vec<PointId> = super::owned_points(tenant, partner_ids, |ids| {
            let ids: Vec<PointId> = ids.into_iter().map(PointId::NumId).collect();
            self.stored_owners(&ids)
        })?
        .into_iter()
        .map(PointId::NumId)
        .collect();
        let deleted = owned.len();
        if !owned.is_empty() {
            self.update(
                "deleting points",
                UpdateOperation::PointOperation(PointOperations::DeletePoints { ids: owned }),
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
        let request = QueryRequest {
            prefetches: Vec::new(),
            query: Some(ScoringQuery::Vector(QueryEnum::Nearest(
                NamedQuery::default_dense(vector.to_vec()),
            ))),
            filter: Some(self.tenant_filter(tenant, filter)?),
            score_threshold: None,
            limit: k,
            offset: 0,
            params: Some(SearchParams {
                hnsw_ef: Some(self.hnsw_ef.max(k)),
                ..SearchParams::default()
            }),
            with_vector: WithVector::Bool(false),
            with_payload: WithPayloadInterface::Fields(vec![
                self.paths.tenant.clone(),
                self.paths.partner_id.clone(),
            ]),
        };
        let points = self
            .shard
            .query(request)
            .map_err(|e| IndexError::Edge("searching", e))?;
        points
            .into_iter()
            .map(|point| {
                let payload = point.payload.as_ref();
                let partner_id = hit_partner(
                    point.id,
                    tenant,
                    payload_str(payload, keys::TENANT),
                    payload_str(payload, keys::PARTNER_ID),
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
        self.shard
            .count(CountRequest {
                filter: Some(self.tenant_filter(tenant, &Filter::default())?),
                exact: true,
            })
            .map_err(|e| IndexError::Edge("counting points", e))
    }

    fn clear_tenant(&self, tenant: &str) -> Result<(), IndexError> {
        check_tenant(tenant)?;
        let filter = self.tenant_filter(tenant, &Filter::default())?;
        let _writes = self.write_lock();
        self.update(
            "clearing a tenant",
            UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter)),
        )?;
        tracing::info!(tenant, "vector index cleared for tenant");
        Ok(())
    }

    fn flush(&self) -> Result<(), IndexError> {
        let _writes = self.write_lock();
        // qdrant-edge's flush panics on I/O errors instead of returning them.
        catch_unwind(AssertUnwindSafe(|| self.shard.flush()))
            .map_err(|_| IndexError::EdgePanicked("flushing"))
    }

    fn optimize(&self) -> Result<(), IndexError> {
        let _writes = self.write_lock();
        let optimized = catch_unwind(AssertUnwindSafe(|| self.shard.optimize()))
            .map_err(|_| IndexError::EdgePanicked("optimizing"))?
            .map_err(|e| IndexError::Edge("optimizing", e))?;
        let stats = self.stats();
        tracing::info!(
            optimized,
            points = stats.points,
            segments = stats.segments,
            indexed_vectors = stats.indexed_vectors,
            "edge vector index optimized"
        );
        Ok(())
    }
}

/// Takes an exclusive, non-blocking lock on `<dir>/nextbest.lock`, held for the life of
/// the index. `flock` locks belong to the open file, so a second open in the same process
/// is refused too.
fn lock_dir(dir: &Path) -> Result<File, IndexError> {
    use std::fs::TryLockError;

    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| IndexError::Dir(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(IndexError::Locked(dir.to_owned())),
        Err(TryLockError::Error(e)) => Err(IndexError::Dir(path, e)),
    }
}

/// The configuration of a new shard: one unnamed dense vector with cosine distance.
/// Payloads stay in RAM (a few short strings per partner) so that filtered searches
/// never wait on a page fault.
fn shard_config(dimension: usize) -> EdgeConfig {
    EdgeConfig::builder()
        .vector(
            DEFAULT_VECTOR_NAME,
            EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
        )
        .on_disk_payload(false)
        .build()
}

/// A loaded shard must hold vectors of the asked dimension and distance; anything else
/// means the feature schema changed and the index must be rebuilt.
fn check_schema(shard: &EdgeShard, dir: &Path, dimension: usize) -> Result<(), IndexError> {
    let config = shard.config();
    let found = config.vectors.get(DEFAULT_VECTOR_NAME);
    match found {
        Some(params) if params.size == dimension && params.distance == Distance::Cosine => Ok(()),
        _ => Err(IndexError::SchemaMismatch {
            location: dir.display().to_string(),
            found: found.map_or_else(
                || "no unnamed dense vector".to_owned(),
                |p| format!("{}-dimensional {:?} vectors", p.size, p.distance),
            ),
            expected: dimension,
        }),
    }
}

fn json_path(key: &'static str) -> Result<JsonPath, IndexError> {
    JsonPath::try_from(key).map_err(|()| IndexError::Corrupt {
        id: "-".into(),
        why: format!("payload key `{key}` is not a valid JSON path"),
    })
}

fn keyword(key: JsonPath, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(
        key,
        Match::new_value(ValueVariants::String(value.to_owned())),
    ))
}

fn edge_point(point: &Point) -> PointStructPersisted {
    PointStructPersisted {
        id: PointId::NumId(point.point_id()),
        vector: VectorStructPersisted::Single(point.vector.clone()),
        payload: Some(Payload(point.payload())),
    }
}

fn payload_str<'a>(payload: Option<&'a Payload>, key: &str) -> Option<&'a str> {
    payload
        .and_then(|p| p.0.get(key))
        .and_then(serde_json::Value::as_str)
}
