//! Training time: a generated world with about 100,000 plan snapshots (3,700 partners,
//! three years of history, seed 11), stored in a fresh SQLite file, then trained as
//! `nextbest train` does it: read the closed plans, build the snapshots and features, fit
//! every family, calibrate, score the held-out plans, save and activate. Three runs,
//! median reported.
//!
//! Run: `cargo bench --bench train` (optionally `-- PARTNERS` for another world size).
//! A plain program rather than criterion, for the reason `benches/import.rs` gives.

use std::time::{Duration, Instant};

use nextbest::eval::synth::{generate, SynthParams};
use nextbest::model::pipeline::train_tenant;
use nextbest::model::registry::Registry;
use nextbest::model::train::TrainParams;
use nextbest::store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partners: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3_700);
    let world = generate(
        &SynthParams {
            partners,
            seed: 11,
            ..SynthParams::default()
        },
        &mut |_| {},
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let store_dir = tempfile::tempdir()?;
    let store = runtime.block_on(async {
        let store = Store::open_data_dir(store_dir.path()).await?;
        store
            .write_dataset("bench", &world.dataset, &mut |_, _| {})
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(store)
    })?;

    let mut runs: Vec<(Duration, Vec<(String, Duration)>)> = Vec::new();
    let mut snapshots = 0;
    for run in 1..=3 {
        let models = tempfile::tempdir()?;
        let registry = Registry::new(models.path());
        let mut stages: Vec<(String, Duration)> = Vec::new();
        let mut last = (String::from("start"), Instant::now());
        let started = Instant::now();
        let (card, _) = runtime.block_on(train_tenant(
            &store,
            &registry,
            "bench",
            &TrainParams::default(),
            &mut |stage: &str| {
                let now = Instant::now();
                stages.push((last.0.clone(), now - last.1));
                last = (stage.to_owned(), now);
            },
        ))?;
        let total = started.elapsed();
        stages.push((last.0, last.1.elapsed()));
        snapshots = card.sizes["snapshots"].as_u64().unwrap_or_default();
        println!("run {run}: {:.1} s", total.as_secs_f64());
        runs.push((total, stages));
    }
    runs.sort_by_key(|(total, _)| *total);
    let (median, stages) = &runs[1];
    println!(
        "trained on {snapshots} snapshots ({partners} partners): median {:.1} s of 3 runs",
        median.as_secs_f64()
    );
    for (stage, took) in stages.iter().filter(|(s, _)| s != "start") {
        println!("  {stage:<70} {:>6.1} s", took.as_secs_f64());
    }
    Ok(())
}
