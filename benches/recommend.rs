//! Recommendation latency for one plan, in process, with 10,000 partners and about
//! 100,000 plans loaded: a generated world (seed 5, six years of history) in a SQLite
//! store, a trained model, and the embedded qdrant-edge index of every partner.
//!
//! Two measurements:
//! - a per-call pass over every active plan (10,000 calls, each timed alone), for the
//!   p50/p99 the targets are written in, for the engine alone (the plan's context in
//!   memory) and for the whole path (context read from SQLite, then the engine);
//! - criterion's estimate of the engine call on a fixed sample of plans.
//!
//! Run: `cargo bench --bench recommend` (`-- --partners N` for another size). The
//! world, store, model and index are built once under `target/bench-recommend-N` and
//! reused by later runs (delete the folder to rebuild).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion};
use nextbest::eval::synth::{generate, SynthParams};
use nextbest::model::pipeline::train_tenant;
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;
use nextbest::nba::{self, context};
use nextbest::store::Store;
use nextbest::vector::edge::EdgeIndex;
use nextbest::vector::VectorIndex;

const TENANT: &str = "bench";

type BoxError = Box<dyn std::error::Error>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// This process's resident memory, from /proc (0 where there is none).
fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name}: {} calls, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        times.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1])
    );
}

/// Builds (or reuses) the store, model and index of the benchmark world.
fn prepare(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    partners: usize,
) -> Result<(Store, Registry), BoxError> {
    let ready = dir.join("ready");
    std::fs::create_dir_all(dir)?;
    let store = runtime.block_on(Store::open_data_dir(dir))?;
    let registry = Registry::new(dir.join("models"));
    if ready.exists() {
        return Ok((store, registry));
    }
    let started = Instant::now();
    let world = generate(
        &SynthParams {
            partners,
            seed: 5,
            years: 6,
            truth_draws: 1,
            ..SynthParams::default()
        },
        &mut |_| {},
    )?;
    println!(
        "generated {} partners, {} plans, {} activities in {:.1} s",
        world.dataset.partners.len(),
        world.dataset.plans.len(),
        world.dataset.activities.len(),
        started.elapsed().as_secs_f64()
    );
    runtime.block_on(store.write_dataset(TENANT, &world.dataset, &mut |_, _| {}))?;
    println!("stored in {:.1} s", started.elapsed().as_secs_f64());
    runtime.block_on(train_tenant(
        &store,
        &registry,
        TENANT,
        &TrainParams::default(),
        &mut |_| {},
    ))?;
    println!("trained in {:.1} s", started.elapsed().as_secs_f64());
    let index = open_index(dir, &registry)?;
    let indexed = runtime.block_on(nba::peers::reindex(
        &store,
        &registry,
        index.as_ref(),
        TENANT,
    ))?;
    println!(
        "indexed ({}) in {:.1} s",
        serde_json::to_string(&indexed)?,
        started.elapsed().as_secs_f64()
    );
    drop(index);
    std::fs::write(ready, b"")?;
    Ok((store, registry))
}

fn open_index(dir: &Path, registry: &Registry) -> Result<Arc<dyn VectorIndex>, BoxError> {
    let (model, _) = nextbest::model::pipeline::active_model(registry, TENANT)?;
    let dimension = model
        .profile
        .as_ref()
        .ok_or("the model has no profile schema")?
        .dimension();
    Ok(Arc::new(EdgeIndex::open(&dir.join("vectors"), dimension)?))
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let partners: usize = args
        .iter()
        .position(|a| a == "--partners")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-recommend-{partners}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (store, registry) = prepare(&runtime, &dir, partners)?;
    let as_of = NaiveDate::from_ymd_opt(2026, 10, 1).ok_or("date")?;
    let index = open_index(&dir, &registry)?;
    let searching = runtime.block_on(nextbest::service::load_engine(
        &store,
        &registry,
        Some(index.clone()),
        TENANT,
        as_of,
    ))?;
    // Served engines search every partner's neighbours once, when they load; keep one
    // that searches per call for the comparison.
    let started = Instant::now();
    let engine = runtime
        .block_on(nextbest::service::load_engine(
            &store,
            &registry,
            Some(index.clone()),
            TENANT,
            as_of,
        ))?
        .with_neighbours(None);
    println!(
        "neighbours of every partner searched in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let counts = runtime.block_on(store.counts(TENANT))?;
    println!(
        "loaded: {} partners, plans {:?}, model {}",
        counts.partners,
        counts.plans,
        engine.model_version().unwrap_or("none")
    );
    let contexts = runtime.block_on(context::load_active(&store, TENANT, as_of))?;

    // Warm-up, then one timed call per active plan: the engine alone.
    for ctx in contexts.iter().take(200) {
        std::hint::black_box(engine.recommend(ctx, 5));
    }
    let mut engine_times = Vec::with_capacity(contexts.len());
    let mut neighbours = 0usize;
    for ctx in &contexts {
        let started = Instant::now();
        let recs = engine.recommend(ctx, 5);
        engine_times.push(started.elapsed());
        neighbours += recs.neighbours;
    }
    report(
        "engine.recommend(plan, k=5), context in memory, neighbours found at load (as served)",
        engine_times,
    );
    let mut searching_times = Vec::with_capacity(contexts.len());
    for ctx in &contexts {
        let started = Instant::now();
        std::hint::black_box(searching.recommend(ctx, 5));
        searching_times.push(started.elapsed());
    }
    report(
        "engine.recommend(plan, k=5), context in memory, searching per call",
        searching_times,
    );
    println!(
        "  mean similar partners consulted: {:.1}",
        neighbours as f64 / contexts.len().max(1) as f64
    );

    // The same engine without similar partners: what the search and the peer
    // comparisons cost.
    let alone = runtime.block_on(nextbest::service::load_engine(
        &store, &registry, None, TENANT, as_of,
    ))?;
    let mut alone_times = Vec::with_capacity(contexts.len());
    for ctx in &contexts {
        let started = Instant::now();
        std::hint::black_box(alone.recommend(ctx, 5));
        alone_times.push(started.elapsed());
    }
    report("engine.recommend without similar partners", alone_times);
    let mut search_times = Vec::with_capacity(contexts.len());
    let peers = runtime.block_on(nba::peers::Peers::load(
        &store,
        TENANT,
        nextbest::model::pipeline::active_model(&registry, TENANT)?
            .0
            .profile
            .as_ref()
            .ok_or("the model has no profile schema")?,
        as_of,
    ))?;
    for ctx in &contexts {
        let started = Instant::now();
        std::hint::black_box(peers.similar(
            index.as_ref(),
            TENANT,
            ctx.record.plan.partner_id.as_str(),
            nba::EngineOptions::default().neighbours,
            &nextbest::vector::Filter::default(),
        )?);
        search_times.push(started.elapsed());
    }
    report(
        "peers.similar(k = the engine's neighbours) alone",
        search_times,
    );

    // A cache miss as served: the plan's context from the tenant's plans held in memory
    // (no SQL), then the engine; and what holding them costs.
    let views = nextbest::service::views::Views::default();
    let rss_before = resident_mib();
    let started = Instant::now();
    let held = runtime.block_on(views.load_tenant(&store, TENANT))?;
    println!(
        "plans held in memory: {held} partners in {:.1} s, resident +{:.0} MiB",
        started.elapsed().as_secs_f64(),
        resident_mib() - rss_before,
    );
    let mut miss_times = Vec::with_capacity(contexts.len());
    for ctx in &contexts {
        let plan_id = &ctx.record.plan.plan_id;
        let started = Instant::now();
        let held = runtime.block_on(views.context(&store, TENANT, plan_id, as_of))?;
        std::hint::black_box(engine.recommend(&held, 5));
        miss_times.push(started.elapsed());
    }
    report(
        "a cache miss as served: context from memory + engine.recommend",
        miss_times,
    );

    // The whole path before the views: read the plan's context from SQLite, then
    // recommend; on every 20th plan (500 of them), since each read takes tens of ms here.
    let mut full_times = Vec::with_capacity(contexts.len() / 20 + 1);
    for ctx in contexts.iter().step_by(20) {
        let plan_id = ctx.record.plan.plan_id.clone();
        let started = Instant::now();
        let loaded = runtime.block_on(context::load(&store, TENANT, &plan_id, as_of))?;
        std::hint::black_box(engine.recommend(&loaded, 5));
        full_times.push(started.elapsed());
    }
    report("context::load (SQLite) + engine.recommend", full_times);

    let sample: Vec<_> = contexts
        .iter()
        .step_by((contexts.len() / 64).max(1))
        .collect();
    let mut criterion = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(10));
    let mut i = 0usize;
    criterion.bench_function("recommend one plan (engine, k=5)", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % sample.len();
                sample[i]
            },
            |ctx| engine.recommend(ctx, 5),
            BatchSize::SmallInput,
        )
    });
    criterion.final_summary();
    runtime.block_on(store.close());
    Ok(())
}
