use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::*;
use crate::domain::{
    Activity, ActivityStatus, AttributeValue, Catalog, Id, Partner, PlanRecord, PlanStatus,
};
use crate::eval::synth::{generate, SynthParams};

/// Closed records, active records and partners of a small synthetic world.
struct Fixture {
    closed: Vec<PlanRecord>,
    active: Vec<PlanRecord>,
    partners: HashMap<String, Partner>,
    as_of: NaiveDate,
}

fn world(partners: usize, seed: u64) -> Fixture {
    let params = SynthParams {
        partners,
        seed,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let world = generate(&params, &mut |_| {}).unwrap();
    let ds = world.dataset;
    let mut records: HashMap<String, PlanRecord> = ds
        .plans
        .iter()
        .map(|p| {
            (
                p.plan_id.to_string(),
                PlanRecord {
                    plan: p.clone(),
                    key_results: Vec::new(),
                    progress: Vec::new(),
                    activities: Vec::new(),
                },
            )
        })
        .collect();
    let mut plan_of_kr = HashMap::new();
    for kr in ds.key_results {
        plan_of_kr.insert(kr.kr_id.to_string(), kr.plan_id.to_string());
        records
            .get_mut(kr.plan_id.as_str())
            .unwrap()
            .key_results
            .push(kr);
    }
    for p in ds.kr_progress {
        let plan = &plan_of_kr[p.kr_id.as_str()];
        records.get_mut(plan).unwrap().progress.push(p);
    }
    for a in ds.activities {
        records
            .get_mut(a.plan_id.as_str())
            .unwrap()
            .activities
            .push(a);
    }
    let (mut closed, mut active) = (Vec::new(), Vec::new());
    for p in &ds.plans {
        let mut r = records.remove(p.plan_id.as_str()).unwrap();
        r.progress
            .sort_by(|a, b| (&a.kr_id, a.as_of).cmp(&(&b.kr_id, b.as_of)));
        r.activities.sort_by_key(|a| a.date);
        match p.status {
            PlanStatus::Closed => closed.push(r),
            PlanStatus::Active => active.push(r),
            _ => {}
        }
    }
    Fixture {
        closed,
        active,
        partners: ds
            .partners
            .into_iter()
            .map(|p| (p.partner_id.to_string(), p))
            .collect(),
        as_of: params.as_of,
    }
}

fn col(schema: &FeatureSchema, name: &str) -> usize {
    schema
        .position(name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn build(f: &Fixture) -> TrainingSet {
    TrainingSet::build(
        &f.closed,
        &f.partners,
        &Catalog::built_in(),
        &DEFAULT_FRACTIONS,
    )
    .unwrap()
}

fn activity(plan: &PlanRecord, kind: &str, date: NaiveDate, n: usize) -> Activity {
    Activity {
        activity_id: Id::parse(&format!("x-{kind}-{n}")).unwrap(),
        plan_id: plan.plan.plan_id.clone(),
        kind: kind.into(),
        date,
        quantity: 1.0,
        status: ActivityStatus::Done,
        responsible: None,
        kr_id: None,
    }
}

#[test]
fn the_same_snapshot_gives_the_same_row_and_every_row_has_the_schema_width() {
    let f = world(80, 3);
    let set = build(&f);
    let schema = &set.schema;
    assert_eq!(set.x.len(), set.len() * schema.width());
    assert_eq!(set.n_features, schema.width());
    assert!(set.len() >= 3 * MIN_PLANS);

    let record = &f.closed[0];
    let partner = f.partners.get(record.plan.partner_id.as_str());
    let snap = snapshot(record, 0.5);
    let (a, b) = (schema.row(&snap, partner), schema.row(&snap, partner));
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.is_finite()));

    let active = &f.active[0];
    let serving = Snapshot::serving(active, f.as_of);
    let row = schema.row(&serving, f.partners.get(active.plan.partner_id.as_str()));
    assert_eq!(row.len(), schema.width());
    assert_eq!(schema.row(&serving, None).len(), schema.width());

    let names: HashSet<&String> = schema.names().iter().collect();
    assert_eq!(names.len(), schema.width(), "column names are unique");
    assert!(schema.width() < 300, "{} columns", schema.width());

    // A schema read back from JSON encodes the same row.
    let json = serde_json::to_string(schema).unwrap();
    let back: FeatureSchema = serde_json::from_str(&json).unwrap();
    back.check_version().unwrap();
    assert_eq!(back.row(&snap, partner), a);
}

#[test]
fn a_quarter_snapshot_holds_nothing_from_after_its_date() {
    let f = world(80, 5);
    let record = f
        .closed
        .iter()
        .find(|r| !r.progress.is_empty() && r.activities.len() > 4)
        .unwrap();
    let snap = snapshot(record, 0.25);
    assert!(snap.as_of < record.plan.end_date);
    assert!(snap.record.activities.iter().all(|a| a.date <= snap.as_of));
    assert!(snap.record.progress.iter().all(|p| p.as_of <= snap.as_of));
    assert!(snap.record.activities.len() < record.activities.len());
    for kr in &snap.record.key_results {
        let known = record
            .progress
            .iter()
            .filter(|p| p.kr_id == kr.kr_id && p.as_of <= snap.as_of)
            .max_by_key(|p| p.as_of)
            .map(|p| p.realized);
        assert_eq!(kr.realized, known, "only the last point known then");
    }

    // Activities after the date do not change the row.
    let set = build(&f);
    let partner = f.partners.get(record.plan.partner_id.as_str());
    let mut later = record.clone();
    later
        .activities
        .push(activity(record, "qbr", record.plan.end_date, 1));
    assert_eq!(
        set.schema.row(&snapshot(record, 0.25), partner),
        set.schema.row(&snapshot(&later, 0.25), partner)
    );
}

#[test]
fn a_key_result_without_progress_series_is_unknown_in_training_snapshots() {
    let f = world(80, 7);
    let set = build(&f);
    let schema = &set.schema;
    let mut record = f
        .closed
        .iter()
        .find(|r| !r.progress.is_empty())
        .unwrap()
        .clone();
    // Drop every series: the final realized values are all that remains, the label itself.
    record.progress.clear();
    let snap = snapshot(&record, 0.25);
    assert!(snap.record.key_results.iter().all(|k| k.realized.is_none()));
    let partner = f.partners.get(record.plan.partner_id.as_str());
    let row = schema.row(&snap, partner);
    assert_eq!(row[col(schema, "kr_progress:missing")], 1.0);
    assert_eq!(row[col(schema, "kr_pace_gap:missing")], 1.0);
    assert_eq!(row[col(schema, "kr_known_share")], 0.0);

    // Serving keeps the latest value of a live plan: it was entered before today.
    let serving = Snapshot::serving(&record, snap.as_of);
    let row = schema.row(&serving, partner);
    assert_eq!(row[col(schema, "kr_progress:missing")], 0.0);

    // The original record, with its series, knows its progress at 25%.
    let original = f
        .closed
        .iter()
        .find(|r| r.plan.plan_id == record.plan.plan_id)
        .unwrap();
    let row = schema.row(&snapshot(original, 0.25), partner);
    assert_eq!(row[col(schema, "kr_progress:missing")], 0.0);
}

#[test]
fn pace_is_measured_when_the_progress_was_measured_not_at_the_snapshot_date() {
    let f = world(80, 7);
    let set = build(&f);
    let schema = &set.schema;
    let record = f.closed.iter().find(|r| !r.progress.is_empty()).unwrap();
    let partner = f.partners.get(record.plan.partner_id.as_str());
    let snap = snapshot(record, 0.5);
    let measured = snap.record.progress.iter().map(|p| p.as_of).max().unwrap();
    // The same knowledge seen on the day it was measured and ten days later: nothing new
    // was measured, so progress against pace must read the same (the bias this fixes
    // made stale training values look behind and fresh serving values look ahead).
    let on_the_day = Snapshot {
        record: snap.record.clone(),
        as_of: measured,
        fraction: snap.fraction,
    };
    let later = Snapshot {
        as_of: measured + chrono::Days::new(10),
        ..on_the_day.clone()
    };
    let (a, b) = (
        schema.row(&on_the_day, partner),
        schema.row(&later, partner),
    );
    for name in [
        "kr_progress",
        "kr_expected_pace",
        "kr_pace_ratio",
        "kr_pace_gap",
    ] {
        assert_eq!(a[col(schema, name)], b[col(schema, name)], "{name}");
    }
    assert_ne!(
        a[col(schema, "elapsed_share")],
        b[col(schema, "elapsed_share")],
        "time itself still moves"
    );
}

#[test]
fn a_partner_without_scores_gets_indicators_and_medians_not_zeros() {
    let f = world(80, 9);
    let set = build(&f);
    let schema = &set.schema;
    let record = &f.closed[0];
    let mut bare = f.partners[record.plan.partner_id.as_str()].clone();
    bare.nps = None;
    bare.score_capability = None;
    bare.trust_intimacy = None;
    bare.employees = None;
    let row = schema.row(&snapshot(record, 0.5), Some(&bare));
    for field in [
        "nps",
        "score_capability",
        "trust_intimacy",
        "trust",
        "employees_log1p",
    ] {
        let (v, m) = (col(schema, field), col(schema, &format!("{field}:missing")));
        assert_eq!(row[m], 1.0, "{field} flagged");
        // Nullable columns start after the 9 plain ones, in (value, indicator) pairs.
        assert_eq!(
            row[v],
            schema.medians[(v - 9) / 2],
            "{field} imputed by its median"
        );
        assert_ne!(row[v], 0.0, "{field} imputed, not zero");
        // The imputed value is the training median: the same for every partner.
        let other = schema.row(&snapshot(&f.closed[1], 0.5), Some(&bare));
        assert_eq!(other[v], row[v]);
    }
    // Known values are flagged as known.
    let full = f.partners.get(record.plan.partner_id.as_str());
    let row = schema.row(&snapshot(record, 0.5), full);
    assert_eq!(row[col(schema, "nps:missing")], 0.0);
    // No partner at all: every profile field is missing, categoricals are "(missing)".
    let row = schema.row(&snapshot(record, 0.5), None);
    assert_eq!(row[col(schema, "score_coverage:missing")], 1.0);
    assert_eq!(row[col(schema, "region=(other)")], 1.0);
}

#[test]
fn custom_kinds_and_unseen_levels_are_handled() {
    let mut f = world(80, 11);
    // A custom kind done in many training plans (the earliest-ending ones train).
    f.closed.sort_by_key(|r| r.plan.end_date);
    for (n, record) in f.closed.iter_mut().take(60).enumerate() {
        let date = record.plan.start_date;
        let a = activity(record, "partner_hackathon", date, n);
        record.activities.insert(0, a);
    }
    let set = build(&f);
    let schema = &set.schema;
    let k = col(schema, "kind:partner_hackathon");
    let first = set.split.train.first().copied().unwrap();
    assert!(set.row(first)[k] > 0.0, "{}", set.plan_ids[first]);
    assert!(schema.names().iter().any(|n| n == "category:custom"));

    // Serving: an unseen region and template go to (other); an unseen kind only counts
    // in the totals.
    let record = &f.active[0];
    let mut partner = f.partners[record.plan.partner_id.as_str()].clone();
    partner.region = Some("atlantis".into());
    partner.attributes.insert(
        "crm_source".into(),
        AttributeValue::Text("carrier_pigeon".into()),
    );
    let mut record = record.clone();
    record.plan.template = Some("brand_new_template".into());
    let base = schema.row(&Snapshot::serving(&record, f.as_of), Some(&partner));
    assert_eq!(base[col(schema, "region=(other)")], 1.0);
    assert_eq!(base[col(schema, "template=(other)")], 1.0);
    assert_eq!(base[col(schema, "attr:crm_source=(other)")], 1.0);

    let n = record.activities.len();
    record
        .activities
        .push(activity(&record, "never_seen_kind", f.as_of, n));
    let row = schema.row(&Snapshot::serving(&record, f.as_of), Some(&partner));
    assert_eq!(row.len(), base.len());
    assert!(row[col(schema, "activity_total")] > base[col(schema, "activity_total")]);
    assert!(row[col(schema, "category:custom")] > base[col(schema, "category:custom")]);
    let changed: Vec<&str> = (0..row.len())
        .filter(|&i| row[i] != base[i])
        .map(|i| schema.names()[i].as_str())
        .collect();
    assert!(
        changed.iter().all(|n| !n.starts_with("kind:")),
        "no kind column moved: {changed:?}"
    );
}

#[test]
fn custom_attributes_become_columns() {
    let f = world(80, 13);
    let set = build(&f);
    let schema = &set.schema;
    let v = col(schema, "attr:partner_program_points");
    assert!(schema
        .position("attr:partner_program_points:missing")
        .is_some());
    assert!(schema
        .names()
        .iter()
        .any(|n| n.starts_with("attr:crm_source=")));
    let i = set.split.train[0];
    let partner = &f.partners[f
        .closed
        .iter()
        .find(|r| r.plan.plan_id.as_str() == set.plan_ids[i])
        .unwrap()
        .plan
        .partner_id
        .as_str()];
    let Some(AttributeValue::Number(points)) = partner.attributes.get("partner_program_points")
    else {
        panic!("synthetic partners carry program points");
    };
    assert_eq!(set.row(i)[v], *points);
}

#[test]
fn the_time_split_keeps_plans_whole_and_ordered() {
    let f = world(80, 17);
    let set = build(&f);
    for split in [set.split.clone(), set.split_by_time(0.3)] {
        assert!(!split.train.is_empty() && !split.test.is_empty());
        let train: HashSet<&str> = split
            .train
            .iter()
            .map(|&i| set.plan_ids[i].as_str())
            .collect();
        let test: HashSet<&str> = split
            .test
            .iter()
            .map(|&i| set.plan_ids[i].as_str())
            .collect();
        assert!(train.is_disjoint(&test));
        assert!(split
            .train
            .iter()
            .all(|&i| set.end_dates[i] <= split.cutoff));
        assert!(split.test.iter().all(|&i| set.end_dates[i] > split.cutoff));
        assert_eq!(split.train.len() + split.test.len(), set.len());
    }
    // Synthetic partners know every score, so the indicators never vary in training.
    let constant = set.constant_columns(&set.split.train);
    assert!(constant.contains(&col(&set.schema, "nps:missing")));
    assert!(!constant.contains(&col(&set.schema, "nps")));
    let share = set.split.test.len() as f64 / set.len() as f64;
    assert!((0.1..=0.3).contains(&share), "test share {share}");

    let cal = set.calibration_slice(&set.split, 0.25);
    assert!(!cal.fit.is_empty() && !cal.calibration.is_empty());
    assert_eq!(cal.fit.len() + cal.calibration.len(), set.split.train.len());
    assert!(cal.fit.iter().all(|&i| set.end_dates[i] <= cal.cutoff));
    assert!(cal
        .calibration
        .iter()
        .all(|&i| set.end_dates[i] > cal.cutoff && set.end_dates[i] <= set.split.cutoff));

    // Labels come from the full record.
    let i = set.split.test[0];
    let record = f
        .closed
        .iter()
        .find(|r| r.plan.plan_id.as_str() == set.plan_ids[i])
        .unwrap();
    assert_eq!(Some(set.attainment[i]), record.attainment());
    assert_eq!(set.hit[i], set.attainment[i] >= 1.0);
}

#[test]
fn the_schema_is_fitted_on_the_training_side_only() {
    let mut f = world(80, 19);
    // A template that only the latest-ending plans use never becomes a column.
    f.closed.sort_by_key(|r| r.plan.end_date);
    let n = f.closed.len();
    for r in f.closed.iter_mut().skip(n - 30) {
        r.plan.template = Some("late_template".into());
    }
    let set = build(&f);
    assert!(set.split.test.len() >= 30 * 3);
    assert!(set.schema.position("template=late_template").is_none());
    assert_eq!(set.schema.fitted_on, set.split.train.len());
}

#[test]
fn too_few_closed_plans_is_a_clear_error() {
    let f = world(80, 23);
    let catalog = Catalog::built_in();
    let err =
        TrainingSet::build(&f.closed[..20], &f.partners, &catalog, &DEFAULT_FRACTIONS).unwrap_err();
    assert!(
        matches!(
            err,
            FeatureError::TooFewPlans {
                needed: 50,
                have: 20,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("at least 50"), "{err}");

    let mut no_targets: Vec<PlanRecord> = f.closed.clone();
    for r in &mut no_targets {
        for kr in &mut r.key_results {
            kr.target = None;
        }
    }
    let err =
        TrainingSet::build(&no_targets, &f.partners, &catalog, &DEFAULT_FRACTIONS).unwrap_err();
    assert!(
        matches!(err, FeatureError::NoDefinedTargets { .. }),
        "{err}"
    );

    // Plans without targets are skipped and counted, not failed.
    let mut some = f.closed.clone();
    for kr in &mut some[0].key_results {
        kr.target = None;
    }
    let set = TrainingSet::build(&some, &f.partners, &catalog, &DEFAULT_FRACTIONS).unwrap();
    assert_eq!(set.skipped_count(SkipReason::NoDefinedTarget), 1);
    assert!(!set.plan_ids.contains(&some[0].plan.plan_id.to_string()));

    let err = TrainingSet::build(&f.closed, &f.partners, &catalog, &[1.5]).unwrap_err();
    assert!(matches!(err, FeatureError::InvalidFraction(_)));
}

#[test]
fn the_csv_export_has_the_feature_header_and_one_line_per_row() {
    let f = world(80, 29);
    let set = build(&f);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.csv");
    write_csv(&path, &set).unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.len(), set.n_features + 6);
    assert_eq!(&header[0], set.schema.names()[0].as_str());
    assert_eq!(&header[set.n_features + 3], "split");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), set.len());
    let tests = rows
        .iter()
        .filter(|r| &r[set.n_features + 3] == "test")
        .count();
    assert_eq!(tests, set.split.test.len());
}

/// The performance figure of the brief: `cargo test --release --lib
/// features::tests::building_the_3000_partner_training_set -- --ignored --nocapture`.
#[test]
#[ignore = "slow in debug builds; run in release"]
fn building_the_3000_partner_training_set_is_fast() {
    let f = world(3000, 11);
    let catalog = Catalog::built_in();
    let started = std::time::Instant::now();
    let set = TrainingSet::build(&f.closed, &f.partners, &catalog, &DEFAULT_FRACTIONS).unwrap();
    let took = started.elapsed();
    let hits = set.hit.iter().filter(|h| **h).count();
    eprintln!(
        "closed plans {}, skipped {}, rows {} (train {}, test {}, cutoff {}), features {}, \
         hit rate {:.3}, build {:.2?}",
        f.closed.len(),
        set.skipped.len(),
        set.len(),
        set.split.train.len(),
        set.split.test.len(),
        set.split.cutoff,
        set.n_features,
        hits as f64 / set.len() as f64,
        took
    );
    // Columns that never vary in training (a model layer should drop or guard them).
    let constant: Vec<&str> = set
        .constant_columns(&set.split.train)
        .into_iter()
        .map(|j| set.schema.names()[j].as_str())
        .collect();
    eprintln!("constant on train: {constant:?}");
    assert!(set.n_features < 300);
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
}
