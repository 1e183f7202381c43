//! Vector search on the embedded index: 100,000 partners with 48-dimensional profile
//! vectors in 40 clusters, one tenant. Measures the build (upsert, flush, optimize),
//! recall@10 against exact brute-force cosine search over 200 queries (unfiltered and
//! with two filters), and the latency of one search, before and after `optimize` and for
//! several HNSW beam widths (`ef`).
//!
//! Run: `cargo bench --bench vector` (optionally `-- PARTNERS` for another count).
//! A plain program rather than criterion: recall needs the ground truth and the whole
//! query set, not repeated timings of one call.

use std::time::{Duration, Instant};

use nextbest::domain::Id;
use nextbest::vector::edge::{EdgeIndex, DEFAULT_HNSW_EF};
use nextbest::vector::{Filter, Point, VectorIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

const DIM: usize = 48;
const CLUSTERS: usize = 40;
const QUERIES: usize = 200;
const K: usize = 10;
const TENANT: &str = "bench";
const TYPES: [&str; 4] = ["reseller", "isv", "distributor", "msp"];
const REGIONS: [&str; 5] = ["EMEA", "North America", "LATAM", "APAC", "DACH"];
const TIERS: [&str; 3] = ["gold", "silver", "bronze"];

type BoxError = Box<dyn std::error::Error>;

/// Cluster centres with a spread of their own, so that clusters overlap and the nearest
/// neighbours of a query are not all obvious: like standardised profile features, where
/// partner segments differ but blend.
struct World {
    centres: Vec<Vec<f32>>,
    spreads: Vec<f32>,
}

impl World {
    fn new(rng: &mut ChaCha8Rng) -> Result<Self, BoxError> {
        let unit = Normal::new(0.0_f32, 1.0)?;
        let centres = (0..CLUSTERS)
            .map(|_| (0..DIM).map(|_| unit.sample(rng)).collect())
            .collect();
        let spreads = (0..CLUSTERS).map(|_| rng.random_range(0.4..1.0)).collect();
        Ok(Self { centres, spreads })
    }

    fn vector(&self, rng: &mut ChaCha8Rng) -> Result<Vec<f32>, BoxError> {
        let c = rng.random_range(0..CLUSTERS);
        let noise = Normal::new(0.0_f32, self.spreads[c])?;
        Ok(self.centres[c]
            .iter()
            .map(|x| x + noise.sample(rng))
            .collect())
    }
}

fn points(world: &World, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Point>, BoxError> {
    (0..n)
        .map(|i| {
            Ok(Point {
                tenant: TENANT.into(),
                partner_id: Id::parse(&format!("p{i}"))?,
                vector: world.vector(rng)?,
                partner_type: Some(TYPES[rng.random_range(0..TYPES.len())].into()),
                region: Some(REGIONS[rng.random_range(0..REGIONS.len())].into()),
                tier: Some(TIERS[rng.random_range(0..TIERS.len())].into()),
            })
        })
        .collect()
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn matches(p: &Point, f: &Filter) -> bool {
    let ok = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
    ok(&f.partner_type, &p.partner_type) && ok(&f.region, &p.region) && ok(&f.tier, &p.tier)
}

/// Exact top-k by cosine: the reference the index is measured against.
fn exact_top_k(points: &[Point], unit: &[Vec<f32>], query: &[f32], filter: &Filter) -> Vec<usize> {
    let q = normalised(query);
    let mut scored: Vec<(f32, usize)> = points
        .iter()
        .zip(unit)
        .enumerate()
        .filter(|(_, (p, _))| matches(p, filter))
        .map(|(i, (_, v))| (v.iter().zip(&q).map(|(a, b)| a * b).sum(), i))
        .collect();
    let k = K.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

struct Run {
    recall: f64,
    p50: Duration,
    p99: Duration,
}

/// Searches every query once, timing each call, and scores recall@10 against `truth`.
fn run(
    index: &dyn VectorIndex,
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
    filter: &Filter,
) -> Result<Run, BoxError> {
    let mut latencies = Vec::with_capacity(queries.len());
    let mut found = 0_usize;
    let mut wanted = 0_usize;
    for (query, exact) in queries.iter().zip(truth) {
        let started = Instant::now();
        let hits = index.search(TENANT, query, K, filter)?;
        latencies.push(started.elapsed());
        let exact: Vec<String> = exact.iter().map(|i| format!("p{i}")).collect();
        found += hits
            .iter()
            .filter(|h| exact.iter().any(|e| e == h.partner_id.as_str()))
            .count();
        wanted += exact.len();
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Run {
        recall: found as f64 / wanted.max(1) as f64,
        p50: at(0.50),
        p99: at(0.99),
    })
}

fn main() -> Result<(), BoxError> {
    let partners: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut rng = ChaCha8Rng::seed_from_u64(48);
    let world = World::new(&mut rng)?;
    let points = points(&world, partners, &mut rng)?;
    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|_| world.vector(&mut rng))
        .collect::<Result<_, _>>()?;
    let filters = [
        ("none", Filter::default()),
        (
            "region (1/5)",
            Filter {
                region: Some("EMEA".into()),
                ..Filter::default()
            },
        ),
        (
            "type+region+tier (1/60)",
            Filter {
                partner_type: Some("reseller".into()),
                region: Some("North America".into()),
                tier: Some("gold".into()),
            },
        ),
    ];

    let started = Instant::now();
    let unit: Vec<Vec<f32>> = points.iter().map(|p| normalised(&p.vector)).collect();
    let truth: Vec<Vec<Vec<usize>>> = filters
        .iter()
        .map(|(_, f)| {
            queries
                .iter()
                .map(|q| exact_top_k(&points, &unit, q, f))
                .collect()
        })
        .collect();
    println!(
        "dataset: {partners} partners x {DIM} dims in {CLUSTERS} clusters, {QUERIES} queries; \
         exact ground truth in {:.2?}",
        started.elapsed()
    );

    let dir = tempfile::tempdir()?;
    let index = EdgeIndex::open(&dir.path().join("vectors"), DIM)?;
    let started = Instant::now();
    index.upsert(&points)?;
    let upsert = started.elapsed();
    index.flush()?;
    let flush = started.elapsed() - upsert;
    println!("build: upsert {upsert:.2?}, flush {flush:.2?}");

    println!("\n| stage | ef | filter | recall@10 | p50 | p99 |\n|---|---|---|---|---|---|");
    let table = |stage: &str, ef: usize, filter: &str, r: &Run| {
        println!(
            "| {stage} | {ef} | {filter} | {:.4} | {:.3} ms | {:.3} ms |",
            r.recall,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    };
    for ((name, filter), truth) in filters.iter().zip(&truth) {
        let r = run(&index, &queries, truth, filter)?;
        table("before optimize", DEFAULT_HNSW_EF, name, &r);
    }

    let started = Instant::now();
    index.optimize()?;
    let optimize = started.elapsed();
    let stats = index.stats();

    let mut index = index;
    let mut default_recall = Vec::new();
    for ef in [16, 32, 64, DEFAULT_HNSW_EF, 256] {
        index = index.with_hnsw_ef(ef);
        for ((name, filter), truth) in filters.iter().zip(&truth) {
            let r = run(&index, &queries, truth, filter)?;
            table("after optimize", ef, name, &r);
            if ef == DEFAULT_HNSW_EF {
                default_recall.push((*name, r.recall));
            }
        }
    }
    println!(
        "\nbuild: upsert {upsert:.2?} + flush {flush:.2?} + optimize {optimize:.2?} = {:.2?}; \
         after optimize: {} points in {} segments, {} vectors in HNSW graphs",
        upsert + flush + optimize,
        stats.points,
        stats.segments,
        stats.indexed_vectors
    );
    for (name, recall) in default_recall {
        let verdict = if recall >= 0.95 { "ok" } else { "BELOW 0.95" };
        println!("default ef {DEFAULT_HNSW_EF}, filter {name}: recall@10 {recall:.4} ({verdict})");
    }
    Ok(())
}
