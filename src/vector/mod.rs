//! Similar-partner search: the `VectorIndex` trait and its two backends.
//!
//! - [`edge::EdgeIndex`]: an embedded qdrant-edge shard in a directory (the default, so
//!   `nextbest serve` needs nothing else installed).
//! - [`qdrant::QdrantIndex`]: a Qdrant server or cluster through qdrant-client, for
//!   deployments with many replicas (`NEXTBEST_QDRANT_URL`).
//!
//! The trait is synchronous. qdrant-edge is synchronous and does file I/O, so async code
//! must call it from `spawn_blocking` anyway; the server backend drives its async client
//! on a small runtime of its own, so the same `spawn_blocking` call works for both and
//! the engine holds one `Arc<dyn VectorIndex>` without knowing which it has. A sync
//! trait also keeps tests, benchmarks and the CLI free of a runtime.
//!
//! Every operation is scoped to a tenant: the tenant is part of the point id and the
//! first condition of every filter, so one tenant's partners are never returned for
//! another's query.

pub mod edge;
pub mod qdrant;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::config::Config;
use crate::domain::id::{fnv1a64, Id};

/// Payload keys, shared by both backends so a collection written by one reads the same
/// in the other.
pub(crate) mod keys {
    pub const TENANT: &str = "tenant";
    pub const PARTNER_ID: &str = "partner_id";
    pub const PARTNER_TYPE: &str = "partner_type";
    pub const REGION: &str = "region";
    pub const TIER: &str = "tier";
    /// The keyword fields that get a payload index: every filter uses them.
    pub const INDEXED: [&str; 4] = [TENANT, PARTNER_TYPE, REGION, TIER];
}

/// Points are written in batches of this size: it bounds one WAL record (edge) and one
/// gRPC message (server) whatever the caller passes.
pub(crate) const WRITE_BATCH: usize = 1024;

/// One partner's profile vector with the fields that searches may filter on.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub tenant: String,
    pub partner_id: Id,
    /// Standardised profile features; the length must equal the index's dimension.
    pub vector: Vec<f32>,
    pub partner_type: Option<String>,
    pub region: Option<String>,
    pub tier: Option<String>,
}

impl Point {
    /// The backend's point id for this partner; see [`point_id`].
    pub fn point_id(&self) -> u64 {
        point_id(&self.tenant, &self.partner_id)
    }

    /// The payload stored with the vector: the true ids (point ids are hashes) and the
    /// filter fields that are set. Unset fields are left out, so a filter on them never
    /// matches a point that lacks them.
    pub(crate) fn payload(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert(keys::TENANT.into(), self.tenant.clone().into());
        map.insert(keys::PARTNER_ID.into(), self.partner_id.as_str().into());
        let optional = [
            (keys::PARTNER_TYPE, &self.partner_type),
            (keys::REGION, &self.region),
            (keys::TIER, &self.tier),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                map.insert(key.into(), value.clone().into());
            }
        }
        map
    }
}

/// Optional payload conditions of a search, all of which must hold. The tenant is not
/// here: it is a separate, mandatory argument of every call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub partner_type: Option<String>,
    pub region: Option<String>,
    pub tier: Option<String>,
}

impl Filter {
    /// The set conditions as (payload key, required value).
    pub(crate) fn conditions(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (keys::PARTNER_TYPE, &self.partner_type),
            (keys::REGION, &self.region),
            (keys::TIER, &self.tier),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| (key, v)))
    }
}

/// A search result: the partner and its cosine similarity to the query (-1..=1, higher is
/// more similar).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub partner_id: Id,
    pub score: f32,
}

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("the tenant must not be empty")]
    EmptyTenant,
    #[error("the vector of {owner} has {got} dimensions, but the index holds {expected}")]
    WrongDimension {
        owner: String,
        expected: usize,
        got: usize,
    },
    #[error("the vector of {owner} {why}")]
    InvalidVector { owner: String, why: &'static str },
    #[error("a vector index needs at least one dimension")]
    ZeroDimension,
    #[error(
        "the vector index at `{}` is already open (by another process or handle); \
         stop the other `nextbest` or use another data directory",
        .0.display()
    )]
    Locked(PathBuf),
    #[error(
        "the vector index at `{location}` holds {found}, but {expected}-dimensional cosine \
         vectors were asked for; the feature schema changed, so remove it and run \
         `nextbest reindex`"
    )]
    SchemaMismatch {
        location: String,
        found: String,
        expected: usize,
    },
    #[error(
        "partner `{partner}` of tenant `{tenant}` hashes to point id {id}, which partner \
         `{other_partner}` of tenant `{other_tenant}` already holds"
    )]
    IdCollision {
        id: u64,
        tenant: String,
        partner: String,
        other_tenant: String,
        other_partner: String,
    },
    #[error("point {id} in the vector index is not valid: {why}")]
    Corrupt { id: String, why: String },
    #[error("a rebuild of tenant `{expected}` was given a point of tenant `{got}`")]
    TenantMismatch { expected: String, got: String },
    #[error("could not prepare the vector index directory `{}`", .0.display())]
    Dir(PathBuf, #[source] std::io::Error),
    #[error("the embedded vector index failed while {0}")]
    Edge(&'static str, #[source] qdrant_edge::OperationError),
    #[error("the embedded vector index panicked while {0}")]
    EdgePanicked(&'static str),
    #[error("the Qdrant server failed while {what} (collection `{collection}`)")]
    Qdrant {
        what: &'static str,
        collection: String,
        #[source]
        source: Box<qdrant_client::QdrantError>,
    },
    #[error("could not start the Qdrant client's runtime")]
    Runtime(#[source] std::io::Error),
}

/// A similarity index over partner profile vectors, one fixed dimension per index.
///
/// Methods block (file or network I/O); call them from `spawn_blocking` in async code.
/// Writes are visible to searches as soon as they return; [`VectorIndex::flush`] makes
/// them durable.
pub trait VectorIndex: Send + Sync {
    /// The length every vector must have.
    fn dimension(&self) -> usize;

    /// Inserts or replaces points; a partner's point is keyed by (tenant, partner id), so
    /// writing it again updates it. Every point is checked before any is written.
    ///
    /// # Errors
    /// [`IndexError::WrongDimension`] or [`IndexError::InvalidVector`] for a bad vector,
    /// [`IndexError::IdCollision`] if two partners hash to the same point id.
    fn upsert(&self, points: &[Point]) -> Result<(), IndexError>;

    /// Removes these partners of `tenant`; ids that are not indexed are ignored.
    fn delete(&self, tenant: &str, partner_ids: &[Id]) -> Result<(), IndexError>;

    /// The `k` partners of `tenant` most similar to `vector` (cosine) that match
    /// `filter`, most similar first.
    fn search(
        &self,
        tenant: &str,
        vector: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>, IndexError>;

    /// How many partners of `tenant` are indexed (exact).
    fn count(&self, tenant: &str) -> Result<usize, IndexError>;

    /// Removes every point of `tenant`, for a rebuild.
    fn clear_tenant(&self, tenant: &str) -> Result<(), IndexError>;

    /// Makes the writes so far durable.
    fn flush(&self) -> Result<(), IndexError>;

    /// Builds search structures after a bulk load (the edge shard's HNSW graphs). A no-op
    /// where the backend does it by itself.
    fn optimize(&self) -> Result<(), IndexError>;

    /// Replaces everything indexed for `tenant` with `points` (`nextbest reindex`), then
    /// flushes and optimizes. The points are checked before the tenant is cleared, so a
    /// bad input leaves the old points in place; between the clear and the last write,
    /// searches see a partial tenant.
    fn rebuild_tenant(&self, tenant: &str, points: &[Point]) -> Result<(), IndexError> {
        if let Some(other) = points.iter().find(|p| p.tenant != tenant) {
            return Err(IndexError::TenantMismatch {
                expected: tenant.to_owned(),
                got: other.tenant.clone(),
            });
        }
        check_points(points, self.dimension())?;
        self.clear_tenant(tenant)?;
        self.upsert(points)?;
        self.flush()?;
        self.optimize()?;
        tracing::info!(tenant, points = points.len(), "vector index rebuilt");
        Ok(())
    }
}

/// Where the edge backend keeps its shard under a data directory.
pub fn edge_dir(config: &Config) -> PathBuf {
    config.data_dir.join("vectors")
}

/// The index for this configuration: the Qdrant server at `qdrant_url` when one is set,
/// else the embedded shard under `<data-dir>/vectors`.
///
/// # Errors
/// [`IndexError::Locked`] when another process has the embedded shard open, and
/// [`IndexError::SchemaMismatch`] when it holds vectors of another dimension.
pub fn open_index(config: &Config, dimension: usize) -> Result<Arc<dyn VectorIndex>, IndexError> {
    match &config.qdrant_url {
        Some(url) => Ok(Arc::new(qdrant::QdrantIndex::connect(
            url,
            &qdrant::collection_for(dimension),
            dimension,
        )?)),
        None => Ok(Arc::new(edge::EdgeIndex::open(
            &edge_dir(config),
            dimension,
        )?)),
    }
}

/// The point id of a partner: FNV-1a over the tenant's length, the tenant and the partner
/// id. Qdrant ids must be integers or UUIDs; this one is stable across runs and Rust
/// versions, and the length prefix keeps ("ab", "c") apart from ("a", "bc"). The true ids
/// travel in the payload and are checked on every write and delete, so a collision is
/// reported instead of overwriting another partner.
pub fn point_id(tenant: &str, partner_id: &Id) -> u64 {
    let len = (tenant.len() as u64).to_le_bytes();
    fnv1a64(
        len.into_iter()
            .chain(tenant.bytes())
            .chain(partner_id.as_str().bytes()),
    )
}

pub(crate) fn check_tenant(tenant: &str) -> Result<(), IndexError> {
    if tenant.is_empty() {
        Err(IndexError::EmptyTenant)
    } else {
        Ok(())
    }
}

/// Checks a vector before it reaches a backend: qdrant-edge panics or stores NaN scores on
/// some malformed input, and cosine similarity is undefined for a zero vector.
pub(crate) fn check_vector(
    vector: &[f32],
    dimension: usize,
    owner: impl FnOnce() -> String,
) -> Result<(), IndexError> {
    if vector.len() != dimension {
        return Err(IndexError::WrongDimension {
            owner: owner(),
            expected: dimension,
            got: vector.len(),
        });
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::InvalidVector {
            owner: owner(),
            why: "has a value that is not a finite number",
        });
    }
    if vector.iter().all(|x| *x == 0.0) {
        return Err(IndexError::InvalidVector {
            owner: owner(),
            why: "is all zeros, which has no cosine similarity",
        });
    }
    Ok(())
}

/// Checks every point of a write, and returns the owner of each point id. Two different
/// partners in one batch with the same id are a collision.
pub(crate) fn check_points(
    points: &[Point],
    dimension: usize,
) -> Result<HashMap<u64, (&str, &Id)>, IndexError> {
    let mut owners: HashMap<u64, (&str, &Id)> = HashMap::with_capacity(points.len());
    for point in points {
        check_tenant(&point.tenant)?;
        check_vector(&point.vector, dimension, || {
            format!(
                "partner `{}` of tenant `{}`",
                point.partner_id, point.tenant
            )
        })?;
        let id = point.point_id();
        if let Some(&(tenant, partner)) = owners.get(&id) {
            check_owner(
                id,
                (&point.tenant, &point.partner_id),
                Some(tenant),
                Some(partner.as_str()),
            )?;
        }
        owners.insert(id, (&point.tenant, &point.partner_id));
    }
    Ok(owners)
}

/// What the index holds under a point id: the owner named in its payload.
pub(crate) struct Stored {
    pub id: u64,
    pub tenant: Option<String>,
    pub partner: Option<String>,
}

impl Stored {
    /// Whether the payload names exactly this tenant's partner.
    pub(crate) fn is(&self, tenant: &str, partner: &Id) -> bool {
        self.tenant.as_deref() == Some(tenant) && self.partner.as_deref() == Some(partner.as_str())
    }
}

/// The point ids of `tenant`'s `partner_ids`, and a filter keeping only the stored points
/// whose payload names that very partner: a colliding id of someone else is left alone.
/// Both backends delete through it, each with its own lookup of the stored owners.
pub(crate) fn owned_points(
    tenant: &str,
    partner_ids: &[Id],
    stored_owners: impl FnOnce(Vec<u64>) -> Result<Vec<Stored>, IndexError>,
) -> Result<Vec<u64>, IndexError> {
    let wanted: std::collections::HashMap<u64, &Id> = partner_ids
        .iter()
        .map(|partner| (point_id(tenant, partner), partner))
        .collect();
    Ok(stored_owners(wanted.keys().copied().collect())?
        .into_iter()
        .filter(|stored| {
            wanted
                .get(&stored.id)
                .is_some_and(|partner| stored.is(tenant, partner))
        })
        .map(|stored| stored.id)
        .collect())
}

/// Compares the partner a point id is meant for with what the index holds under it.
pub(crate) fn check_owner(
    id: u64,
    (tenant, partner): (&str, &Id),
    stored_tenant: Option<&str>,
    stored_partner: Option<&str>,
) -> Result<(), IndexError> {
    match (stored_tenant, stored_partner) {
        (Some(t), Some(p)) if t == tenant && p == partner.as_str() => Ok(()),
        (Some(t), Some(p)) => Err(IndexError::IdCollision {
            id,
            tenant: tenant.to_owned(),
            partner: partner.to_string(),
            other_tenant: t.to_owned(),
            other_partner: p.to_owned(),
        }),
        _ => Err(IndexError::Corrupt {
            id: id.to_string(),
            why: "its payload lacks the tenant or partner id".into(),
        }),
    }
}

/// The partner id of a stored point, checked against the tenant that was searched.
pub(crate) fn hit_partner(
    id: impl std::fmt::Display,
    tenant: &str,
    stored_tenant: Option<&str>,
    stored_partner: Option<&str>,
) -> Result<Id, IndexError> {
    let corrupt = |why: String| IndexError::Corrupt {
        id: id.to_string(),
        why,
    };
    if stored_tenant != Some(tenant) {
        return Err(corrupt(format!(
            "it was returned for tenant `{tenant}` but belongs to {stored_tenant:?}"
        )));
    }
    let partner =
        stored_partner.ok_or_else(|| corrupt("its payload lacks the partner id".into()))?;
    Id::parse(partner).map_err(|e| corrupt(format!("partner id `{partner}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> Id {
        Id::parse(raw).unwrap()
    }

    #[test]
    fn point_ids_are_stable_and_keep_tenant_and_partner_apart() {
        // Pinned: a change would orphan every stored point.
        assert_eq!(point_id("t", &id("p1")), point_id("t", &id("p1")));
        assert_ne!(point_id("ab", &id("c")), point_id("a", &id("bc")));
        assert_ne!(point_id("t1", &id("p")), point_id("t2", &id("p")));
        assert_eq!(point_id("acme", &id("p-1")), 0x6a9b_02fe_6df0_a2ff);
    }

    #[test]
    fn vectors_of_the_wrong_length_or_value_are_refused() {
        let who = || "q".to_owned();
        assert!(check_vector(&[1.0, 0.0], 2, who).is_ok());
        assert!(matches!(
            check_vector(&[1.0], 2, who),
            Err(IndexError::WrongDimension {
                expected: 2,
                got: 1,
                ..
            })
        ));
        for bad in [[f32::NAN, 1.0], [f32::INFINITY, 1.0], [0.0, 0.0]] {
            assert!(
                matches!(
                    check_vector(&bad, 2, who),
                    Err(IndexError::InvalidVector { .. })
                ),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn a_stored_point_of_another_partner_is_a_collision() {
        let me = id("p1");
        assert!(check_owner(7, ("t", &me), Some("t"), Some("p1")).is_ok());
        assert!(matches!(
            check_owner(7, ("t", &me), Some("t"), Some("p2")),
            Err(IndexError::IdCollision { id: 7, .. })
        ));
        assert!(matches!(
            check_owner(7, ("t", &me), Some("u"), Some("p1")),
            Err(IndexError::IdCollision { .. })
        ));
        assert!(matches!(
            check_owner(7, ("t", &me), None, Some("p1")),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn hits_are_checked_against_the_searched_tenant() {
        assert_eq!(
            hit_partner(1, "t", Some("t"), Some("p1")).unwrap(),
            id("p1")
        );
        assert!(matches!(
            hit_partner(1, "t", Some("u"), Some("p1")),
            Err(IndexError::Corrupt { .. })
        ));
        assert!(matches!(
            hit_partner(1, "t", Some("t"), Some("not an id")),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn filters_list_only_the_set_fields() {
        let filter = Filter {
            region: Some("EMEA".into()),
            ..Filter::default()
        };
        assert_eq!(
            filter.conditions().collect::<Vec<_>>(),
            [("region", "EMEA")]
        );
    }

    #[test]
    fn payload_leaves_out_unset_fields() {
        let point = Point {
            tenant: "t".into(),
            partner_id: id("p1"),
            vector: vec![1.0],
            partner_type: Some("reseller".into()),
            region: None,
            tier: None,
        };
        let payload = point.payload();
        assert_eq!(payload.get("partner_id"), Some(&"p1".into()));
        assert_eq!(payload.get("partner_type"), Some(&"reseller".into()));
        assert!(!payload.contains_key("region"));
    }
}
