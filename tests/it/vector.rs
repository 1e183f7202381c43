//! The vector index on real backends: an embedded qdrant-edge shard in a temp dir always,
//! and a Qdrant server when `NEXTBEST_TEST_QDRANT_URL` is set (skipped with a notice
//! otherwise). The behaviour tests run the same code against both.

use std::path::Path;
use std::sync::Arc;

use nextbest::config::Config;
use nextbest::domain::Id;
use nextbest::vector::edge::EdgeIndex;
use nextbest::vector::qdrant::QdrantIndex;
use nextbest::vector::{open_index, Filter, IndexError, Point, VectorIndex};
use tempfile::TempDir;

const DIM: usize = 4;

fn id(raw: &str) -> Id {
    Id::parse(raw).unwrap()
}

fn point(tenant: &str, partner: &str, vector: [f32; DIM]) -> Point {
    Point {
        tenant: tenant.into(),
        partner_id: id(partner),
        vector: vector.to_vec(),
        partner_type: None,
        region: None,
        tier: None,
    }
}

fn with_fields(mut p: Point, partner_type: &str, region: &str, tier: &str) -> Point {
    p.partner_type = Some(partner_type.into());
    p.region = Some(region.into());
    p.tier = Some(tier.into());
    p
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn ids(hits: &[nextbest::vector::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.partner_id.as_str()).collect()
}

/// An index under test, with what keeps it alive and unique.
struct Backend {
    name: &'static str,
    index: Arc<dyn VectorIndex>,
    /// Tenants are prefixed so that runs against a shared server never meet.
    prefix: String,
    /// The server collection, deleted when the test ends.
    server: Option<Arc<QdrantIndex>>,
    _dir: Option<TempDir>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            if let Err(err) = server.drop_collection() {
                eprintln!(
                    "could not delete test collection {}: {err}",
                    server.collection()
                );
            }
        }
    }
}

impl Backend {
    fn tenant(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn edge() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(&dir.path().join("vectors"), DIM).unwrap();
    Backend {
        name: "edge",
        index: Arc::new(index),
        prefix: String::new(),
        server: None,
        _dir: Some(dir),
    }
}

/// The Qdrant server at `NEXTBEST_TEST_QDRANT_URL`, in a collection of this test's own.
fn server(test: &str) -> Option<Backend> {
    let url = crate::helpers::qdrant_url(test)?;
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let index =
        Arc::new(QdrantIndex::connect(&url, &format!("nextbest_test_{test}_{run}"), DIM).unwrap());
    Some(Backend {
        name: "qdrant",
        index: Arc::clone(&index) as Arc<dyn VectorIndex>,
        prefix: format!("{run}-"),
        server: Some(index),
        _dir: None,
    })
}

fn backends(test: &str) -> Vec<Backend> {
    let mut all = vec![edge()];
    all.extend(server(test));
    all
}

#[test]
fn search_returns_the_nearest_partners_by_cosine_similarity() {
    for b in backends("nearest") {
        let t = b.tenant("acme");
        let points = [
            point(&t, "east", [1.0, 0.0, 0.0, 0.0]),
            point(&t, "north-east", [1.0, 1.0, 0.0, 0.0]),
            point(&t, "north", [0.0, 1.0, 0.0, 0.0]),
            point(&t, "west", [-1.0, 0.0, 0.0, 0.0]),
            // Longer but same direction as `east`: cosine ignores length.
            point(&t, "far-east", [10.0, 0.5, 0.0, 0.0]),
        ];
        b.index.upsert(&points).unwrap();

        let query = [0.9, 0.1, 0.0, 0.0];
        let hits = b.index.search(&t, &query, 3, &Filter::default()).unwrap();

        assert_eq!(ids(&hits), ["far-east", "east", "north-east"], "{}", b.name);
        for hit in &hits {
            let stored = points
                .iter()
                .find(|p| p.partner_id == hit.partner_id)
                .unwrap();
            let expected = cosine(&query, &stored.vector);
            assert!(
                (hit.score - expected).abs() < 1e-4,
                "{}: score of {} is {}, cosine is {expected}",
                b.name,
                hit.partner_id,
                hit.score
            );
        }
        let all = b.index.search(&t, &query, 10, &Filter::default()).unwrap();
        assert_eq!(all.len(), 5, "{}: k above the count returns all", b.name);
        assert_eq!(
            all.last().unwrap().partner_id.as_str(),
            "west",
            "{}",
            b.name
        );
        assert!(b
            .index
            .search(&t, &query, 0, &Filter::default())
            .unwrap()
            .is_empty());
    }
}

#[test]
fn another_tenants_partners_are_never_returned() {
    for b in backends("tenants") {
        let (acme, globex) = (b.tenant("acme"), b.tenant("globex"));
        b.index
            .upsert(&[
                point(&acme, "a1", [1.0, 0.0, 0.0, 0.0]),
                point(&acme, "a2", [0.0, 1.0, 0.0, 0.0]),
                // The exact query vector, and the same partner id as acme's: still globex's.
                point(&globex, "g1", [1.0, 0.0, 0.0, 0.0]),
                point(&globex, "a1", [1.0, 0.0, 0.0, 0.0]),
            ])
            .unwrap();

        let hits = b
            .index
            .search(&acme, &[1.0, 0.0, 0.0, 0.0], 10, &Filter::default())
            .unwrap();

        assert_eq!(ids(&hits), ["a1", "a2"], "{}", b.name);
        assert_eq!(b.index.count(&acme).unwrap(), 2, "{}", b.name);
        assert_eq!(b.index.count(&globex).unwrap(), 2, "{}", b.name);
        assert_eq!(b.index.count(&b.tenant("nobody")).unwrap(), 0, "{}", b.name);
    }
}

#[test]
fn each_filter_field_restricts_the_results() {
    for b in backends("filters") {
        let t = b.tenant("acme");
        b.index
            .upsert(&[
                with_fields(
                    point(&t, "p1", [1.0, 0.0, 0.0, 0.0]),
                    "reseller",
                    "EMEA",
                    "gold",
                ),
                with_fields(
                    point(&t, "p2", [0.9, 0.1, 0.0, 0.0]),
                    "isv",
                    "EMEA",
                    "silver",
                ),
                with_fields(
                    point(&t, "p3", [0.8, 0.2, 0.0, 0.0]),
                    "reseller",
                    "APAC",
                    "silver",
                ),
                // Values with spaces must match exactly, not as full text.
                with_fields(
                    point(&t, "p4", [0.7, 0.3, 0.0, 0.0]),
                    "reseller",
                    "North America",
                    "gold",
                ),
                // No filter fields at all: only unfiltered searches find it.
                point(&t, "p5", [1.0, 0.0, 0.0, 0.0]),
            ])
            .unwrap();
        let query = [1.0, 0.0, 0.0, 0.0];
        let search = |filter: Filter| {
            ids(&b.index.search(&t, &query, 10, &filter).unwrap())
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };

        let cases = [
            (
                Filter {
                    partner_type: Some("reseller".into()),
                    ..Filter::default()
                },
                vec!["p1", "p3", "p4"],
            ),
            (
                Filter {
                    region: Some("EMEA".into()),
                    ..Filter::default()
                },
                vec!["p1", "p2"],
            ),
            (
                Filter {
                    region: Some("North America".into()),
                    ..Filter::default()
                },
                vec!["p4"],
            ),
            (
                Filter {
                    region: Some("North".into()),
                    ..Filter::default()
                },
                vec![],
            ),
            (
                Filter {
                    tier: Some("silver".into()),
                    ..Filter::default()
                },
                vec!["p2", "p3"],
            ),
            (
                Filter {
                    partner_type: Some("reseller".into()),
                    region: Some("EMEA".into()),
                    tier: Some("gold".into()),
                },
                vec!["p1"],
            ),
            (Filter::default(), vec!["p1", "p5", "p2", "p3", "p4"]),
        ];
        for (filter, expected) in cases {
            let mut got = search(filter.clone());
            let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            // p1 and p5 tie on score, so compare as sets.
            got.sort();
            want.sort();
            assert_eq!(got, want, "{}: {filter:?}", b.name);
        }
    }
}

#[test]
fn deleted_partners_are_no_longer_found() {
    for b in backends("delete") {
        let (t, other) = (b.tenant("acme"), b.tenant("globex"));
        b.index
            .upsert(&[
                point(&t, "p1", [1.0, 0.0, 0.0, 0.0]),
                point(&t, "p2", [0.0, 1.0, 0.0, 0.0]),
                point(&other, "p1", [1.0, 0.0, 0.0, 0.0]),
            ])
            .unwrap();

        b.index
            .delete(&t, &[id("p1"), id("never-indexed")])
            .unwrap();

        let hits = b
            .index
            .search(&t, &[1.0, 0.0, 0.0, 0.0], 10, &Filter::default())
            .unwrap();
        assert_eq!(ids(&hits), ["p2"], "{}", b.name);
        assert_eq!(b.index.count(&t).unwrap(), 1, "{}", b.name);
        assert_eq!(
            b.index.count(&other).unwrap(),
            1,
            "{}: the same id of another tenant stays",
            b.name
        );
    }
}

#[test]
fn upserting_a_partner_again_updates_it_in_place() {
    for b in backends("reupsert") {
        let t = b.tenant("acme");
        b.index
            .upsert(&[
                point(&t, "p1", [1.0, 0.0, 0.0, 0.0]),
                point(&t, "p2", [0.0, 1.0, 0.0, 0.0]),
            ])
            .unwrap();

        // The same batch twice, then p1 moved next to p2 with a region set.
        b.index
            .upsert(&[point(&t, "p1", [1.0, 0.0, 0.0, 0.0])])
            .unwrap();
        let mut moved = point(&t, "p1", [0.1, 1.0, 0.0, 0.0]);
        moved.region = Some("EMEA".into());
        b.index.upsert(&[moved]).unwrap();

        assert_eq!(b.index.count(&t).unwrap(), 2, "{}", b.name);
        let hits = b
            .index
            .search(&t, &[1.0, 0.0, 0.0, 0.0], 1, &Filter::default())
            .unwrap();
        assert_eq!(ids(&hits), ["p1"], "{}", b.name);
        assert!(
            hits[0].score < 0.2,
            "{}: p1's new vector is used, score {}",
            b.name,
            hits[0].score
        );
        let emea = Filter {
            region: Some("EMEA".into()),
            ..Filter::default()
        };
        let hits = b
            .index
            .search(&t, &[1.0, 0.0, 0.0, 0.0], 10, &emea)
            .unwrap();
        assert_eq!(ids(&hits), ["p1"], "{}: the new payload is used", b.name);
    }
}

#[test]
fn clearing_a_tenant_leaves_the_others() {
    for b in backends("clear") {
        let (t, other) = (b.tenant("acme"), b.tenant("globex"));
        b.index
            .upsert(&[
                point(&t, "p1", [1.0, 0.0, 0.0, 0.0]),
                point(&t, "p2", [0.0, 1.0, 0.0, 0.0]),
                point(&other, "g1", [1.0, 0.0, 0.0, 0.0]),
            ])
            .unwrap();

        b.index.clear_tenant(&t).unwrap();

        assert_eq!(b.index.count(&t).unwrap(), 0, "{}", b.name);
        assert!(b
            .index
            .search(&t, &[1.0, 0.0, 0.0, 0.0], 10, &Filter::default())
            .unwrap()
            .is_empty());
        assert_eq!(b.index.count(&other).unwrap(), 1, "{}", b.name);
    }
}

#[test]
fn a_rebuild_replaces_the_tenant_and_refuses_foreign_points() {
    for b in backends("rebuild") {
        let (t, other) = (b.tenant("acme"), b.tenant("globex"));
        b.index
            .upsert(&[
                point(&t, "old", [1.0, 0.0, 0.0, 0.0]),
                point(&other, "g1", [1.0, 0.0, 0.0, 0.0]),
            ])
            .unwrap();

        b.index
            .rebuild_tenant(
                &t,
                &[
                    point(&t, "new1", [1.0, 0.0, 0.0, 0.0]),
                    point(&t, "new2", [0.0, 1.0, 0.0, 0.0]),
                ],
            )
            .unwrap();
        let refused = b
            .index
            .rebuild_tenant(&t, &[point(&other, "x", [1.0, 0.0, 0.0, 0.0])]);
        let zero = b.index.rebuild_tenant(&t, &[point(&t, "zero", [0.0; DIM])]);

        let hits = b
            .index
            .search(&t, &[1.0, 0.0, 0.0, 0.0], 10, &Filter::default())
            .unwrap();
        assert_eq!(ids(&hits), ["new1", "new2"], "{}", b.name);
        assert_eq!(b.index.count(&other).unwrap(), 1, "{}", b.name);
        assert!(
            matches!(refused, Err(IndexError::TenantMismatch { .. })),
            "{}: {refused:?}",
            b.name
        );
        assert!(
            matches!(zero, Err(IndexError::InvalidVector { .. })),
            "{}: {zero:?}",
            b.name
        );
        assert_eq!(
            b.index.count(&t).unwrap(),
            2,
            "{}: a refused rebuild clears nothing, a bad vector included",
            b.name
        );
    }
}

#[test]
fn bad_vectors_are_refused_with_a_clear_error_and_nothing_is_written() {
    for b in backends("badvec") {
        let t = b.tenant("acme");
        let good = point(&t, "good", [1.0, 0.0, 0.0, 0.0]);
        let mut short = point(&t, "short", [1.0, 0.0, 0.0, 0.0]);
        short.vector.pop();
        let nan = point(&t, "nan", [f32::NAN, 0.0, 0.0, 0.0]);
        let zero = point(&t, "zero", [0.0; DIM]);

        let err = b.index.upsert(&[good.clone(), short]).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::WrongDimension {
                    expected: 4,
                    got: 3,
                    ..
                }
            ),
            "{}: {err:?}",
            b.name
        );
        assert!(
            err.to_string().contains("partner `short`"),
            "{}: {err}",
            b.name
        );
        for bad in [nan, zero] {
            let err = b.index.upsert(&[bad]).unwrap_err();
            assert!(
                matches!(err, IndexError::InvalidVector { .. }),
                "{}: {err:?}",
                b.name
            );
        }
        assert_eq!(
            b.index.count(&t).unwrap(),
            0,
            "{}: the good point of a bad batch is not written",
            b.name
        );

        b.index.upsert(&[good]).unwrap();
        let err = b
            .index
            .search(&t, &[1.0; 5], 3, &Filter::default())
            .unwrap_err();
        assert!(
            matches!(err, IndexError::WrongDimension { got: 5, .. }),
            "{}: {err:?}",
            b.name
        );
        let err = b
            .index
            .search("", &[1.0; DIM], 3, &Filter::default())
            .unwrap_err();
        assert!(
            matches!(err, IndexError::EmptyTenant),
            "{}: {err:?}",
            b.name
        );
    }
}

fn open(dir: &Path) -> Result<EdgeIndex, IndexError> {
    EdgeIndex::open(dir, DIM)
}

#[test]
fn flushed_points_survive_closing_and_reopening_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors");
    {
        let index = open(&path).unwrap();
        index
            .upsert(&[
                with_fields(
                    point("acme", "p1", [1.0, 0.0, 0.0, 0.0]),
                    "isv",
                    "EMEA",
                    "gold",
                ),
                point("acme", "p2", [0.0, 1.0, 0.0, 0.0]),
            ])
            .unwrap();
        index.delete("acme", &[id("p2")]).unwrap();
        index.flush().unwrap();
    }

    let index = open(&path).unwrap();

    assert_eq!(index.count("acme").unwrap(), 1);
    let emea = Filter {
        region: Some("EMEA".into()),
        ..Filter::default()
    };
    let hits = index
        .search("acme", &[1.0, 0.0, 0.0, 0.0], 10, &emea)
        .unwrap();
    assert_eq!(ids(&hits), ["p1"]);
    assert!((hits[0].score - 1.0).abs() < 1e-5);
}

#[test]
fn optimizing_keeps_every_point_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path()).unwrap();
    let points: Vec<Point> = (0..2_000)
        .map(|i| {
            let a = i as f32 * 0.001;
            point("acme", &format!("p{i}"), [a.cos(), a.sin(), 0.5, 0.1])
        })
        .collect();
    index.upsert(&points).unwrap();
    index.delete("acme", &[id("p0")]).unwrap();

    index.flush().unwrap();
    index.optimize().unwrap();

    assert_eq!(index.count("acme").unwrap(), 1_999);
    let query = &points[1_000].vector;
    let hits = index.search("acme", query, 3, &Filter::default()).unwrap();
    assert_eq!(hits[0].partner_id.as_str(), "p1000");
}

#[test]
fn opening_an_open_shard_again_fails_clearly_until_it_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).unwrap();

    let second = open(dir.path());

    let err = second.unwrap_err();
    assert!(
        matches!(&err, IndexError::Locked(p) if p == dir.path()),
        "{err:?}"
    );
    assert!(err.to_string().contains("already open"), "{err}");
    drop(first);
    assert!(open(dir.path()).is_ok(), "the lock goes with the index");
}

#[test]
fn reopening_with_another_dimension_asks_for_a_reindex() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());

    let err = EdgeIndex::open(dir.path(), DIM + 1).unwrap_err();

    assert!(
        matches!(err, IndexError::SchemaMismatch { expected: 5, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("nextbest reindex"), "{err}");
    assert!(matches!(
        EdgeIndex::open(dir.path(), 0),
        Err(IndexError::ZeroDimension)
    ));
}

#[test]
fn concurrent_writes_flushes_and_searches_do_not_panic() {
    // qdrant-edge's flush panics if it meets a write holding the WAL; the index must
    // serialise them.
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(open(dir.path()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                for i in 0..100 {
                    let p = point("acme", &format!("t{t}-{i}"), [1.0, t as f32, i as f32, 1.0]);
                    index.upsert(&[p]).unwrap();
                    if i % 5 == 0 {
                        index.flush().unwrap();
                    }
                    index
                        .search("acme", &[1.0, 0.0, 0.0, 0.0], 5, &Filter::default())
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panicked");
    }
    assert_eq!(index.count("acme").unwrap(), 400);
}

#[test]
fn open_index_picks_the_embedded_shard_without_a_qdrant_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        database_url: None,
        qdrant_url: None,
        models_dir: dir.path().join("models"),
        tenant: "acme".into(),
    };

    let index = open_index(&config, DIM).unwrap();
    index
        .upsert(&[point("acme", "p1", [1.0, 0.0, 0.0, 0.0])])
        .unwrap();

    assert_eq!(index.dimension(), DIM);
    assert!(dir.path().join("vectors").join("shard").is_dir());
    assert!(matches!(
        open_index(&config, DIM),
        Err(IndexError::Locked(_))
    ));
}

#[tokio::test]
async fn the_server_backend_runs_from_spawn_blocking_and_drops_inside_async_code() {
    // Nothing listens on port 1 of the loopback: the call must come back as a typed
    // error (not a panic from blocking inside the runtime), and dropping the index in
    // async code must not panic either (its runtime shuts down in the background).
    let index: Arc<dyn VectorIndex> =
        Arc::new(QdrantIndex::connect("http://127.0.0.1:1", "nextbest_unreachable", DIM).unwrap());

    let from_blocking = {
        let index = Arc::clone(&index);
        tokio::task::spawn_blocking(move || index.count("acme"))
            .await
            .expect("the blocking call does not panic")
    };

    assert!(
        matches!(
            &from_blocking,
            Err(IndexError::Qdrant { what: "checking the collection", collection, .. })
                if collection == "nextbest_unreachable"
        ),
        "{from_blocking:?}"
    );
    drop(index);
}
