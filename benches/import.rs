//! Import throughput: 1,000,000 activity rows (plus 2,000 partners, 20,000 plans and
//! 40,000 key results) from CSV into a fresh SQLite store, three runs, median reported.
//!
//! Run: `cargo bench --bench import` (optionally `-- ROWS` for another row count).
//! A plain program rather than criterion: one run takes seconds, and criterion's
//! minimum of ten samples would make the benchmark take minutes for no better figure.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nextbest::domain::catalog::built_in;
use nextbest::import::{self, ImportOptions};
use nextbest::store::Store;

fn write_dataset(dir: &Path, activities: usize) -> std::io::Result<()> {
    let partners = 2_000;
    let plans = 20_000;
    let mut text = String::from("partner_id,name,partner_type,tier,region\n");
    for p in 0..partners {
        let _ = writeln!(text, "p{p},Partner {p},reseller,gold,EMEA");
    }
    std::fs::write(dir.join("partners.csv"), &text)?;
    text = String::from("plan_id,partner_id,start_date,end_date,status,template\n");
    for plan in 0..plans {
        let _ = writeln!(
            text,
            "plan{plan},p{},2025-01-01,2025-06-30,closed,joint_business",
            plan % partners
        );
    }
    std::fs::write(dir.join("plans.csv"), &text)?;
    text = String::from("kr_id,plan_id,metric,target,realized,unit\n");
    for plan in 0..plans {
        let _ = writeln!(
            text,
            "kr{plan}a,plan{plan},revenue,100000,{},EUR",
            50_000 + plan
        );
        let _ = writeln!(text, "kr{plan}b,plan{plan},deals_won,10,{},#", plan % 13);
    }
    std::fs::write(dir.join("key_results.csv"), &text)?;
    let kinds: Vec<String> = built_in().into_iter().map(|s| s.kind).collect();
    text = String::with_capacity(activities * 70);
    text.push_str("activity_id,plan_id,kind,date,quantity,status,responsible,kr_id\n");
    for a in 0..activities {
        let plan = a % plans;
        let day = 1 + (a / plans) % 28;
        let _ = writeln!(
            text,
            "a{a},plan{plan},{},2025-03-{day:02},1,done,joint,kr{plan}a",
            kinds[a % kinds.len()]
        );
    }
    std::fs::write(dir.join("activities.csv"), &text)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let data = tempfile::tempdir()?;
    write_dataset(data.path(), rows)?;
    let bytes = std::fs::metadata(data.path().join("activities.csv"))?.len();
    println!(
        "dataset: {rows} activity rows ({:.1} MB activities.csv)",
        bytes as f64 / 1e6
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut runs: Vec<(Duration, Duration, Duration)> = Vec::new();
    for run in 1..=3 {
        let store_dir = tempfile::tempdir()?;
        let (total, read, write) = runtime.block_on(async {
            let store = Store::open_data_dir(store_dir.path()).await?;
            let started = Instant::now();
            let known = store.known_ids("bench").await?;
            let outcome =
                import::read_dir(data.path(), &ImportOptions::default(), &known, &mut |_| {})?;
            let read = started.elapsed();
            store
                .write_dataset("bench", &outcome.dataset, &mut |_, _| {})
                .await?;
            let total = started.elapsed();
            let counts = store.counts("bench").await?;
            assert_eq!(counts.activities.values().sum::<i64>() as usize, rows);
            store.close().await;
            Ok::<_, Box<dyn std::error::Error>>((total, read, total - read))
        })?;
        println!("run {run}: total {total:.2?} (read+validate {read:.2?}, write {write:.2?}), {:.0} rows/s", rows as f64 / total.as_secs_f64());
        runs.push((total, read, write));
    }
    runs.sort();
    let (total, read, write) = runs[1];
    println!("median: total {total:.2?} (read+validate {read:.2?}, write {write:.2?}) for {rows} activity rows into SQLite");
    Ok(())
}
