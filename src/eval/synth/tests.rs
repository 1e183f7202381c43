use std::collections::{BTreeMap, HashMap, HashSet};

use super::*;
use crate::domain::catalog::built_in;
use crate::domain::{attainment, ActivityStatus, KeyResult, PlanStatus, RelationshipStage};

fn params(partners: usize, seed: u64, draws: usize) -> SynthParams {
    SynthParams {
        partners,
        seed,
        truth_draws: draws,
        ..SynthParams::default()
    }
}

fn world(partners: usize, seed: u64, draws: usize) -> World {
    generate(&params(partners, seed, draws), &mut |_| {}).unwrap()
}

/// Attainment of every closed plan, by plan id.
fn closed_attainment(w: &World) -> HashMap<&str, f64> {
    let mut krs: HashMap<&str, Vec<&KeyResult>> = HashMap::new();
    for kr in &w.dataset.key_results {
        krs.entry(kr.plan_id.as_str()).or_default().push(kr);
    }
    w.dataset
        .plans
        .iter()
        .filter(|p| p.status == PlanStatus::Closed)
        .filter_map(|p| {
            let a = attainment(krs.get(p.plan_id.as_str())?.iter().copied())?;
            Some((p.plan_id.as_str(), a))
        })
        .collect()
}

fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    sxy / (sxx * syy).sqrt()
}

/// Closed-plan figures: (plans, hit rate, mean attainment, corr(busywork count, attainment),
/// corr(useful count, attainment), mean done activities per plan).
fn closed_figures(w: &World) -> (usize, f64, f64, f64, f64, f64) {
    let att = closed_attainment(w);
    let busy: HashSet<&str> = busywork_kinds().into_iter().collect();
    let mut busy_n: HashMap<&str, f64> = HashMap::new();
    let mut useful_n: HashMap<&str, f64> = HashMap::new();
    for a in &w.dataset.activities {
        if a.status == ActivityStatus::Done {
            let m = if busy.contains(a.kind.as_str()) {
                &mut busy_n
            } else {
                &mut useful_n
            };
            *m.entry(a.plan_id.as_str()).or_default() += 1.0;
        }
    }
    let ids: Vec<&str> = att.keys().copied().collect();
    let ys: Vec<f64> = ids.iter().map(|i| att[i]).collect();
    let bx: Vec<f64> = ids
        .iter()
        .map(|i| busy_n.get(i).copied().unwrap_or(0.0))
        .collect();
    let ux: Vec<f64> = ids
        .iter()
        .map(|i| useful_n.get(i).copied().unwrap_or(0.0))
        .collect();
    let n = ys.len();
    let hit = ys.iter().filter(|a| **a >= 1.0).count() as f64 / n as f64;
    let mean = ys.iter().sum::<f64>() / n as f64;
    let per_plan = (bx.iter().sum::<f64>() + ux.iter().sum::<f64>()) / n as f64;
    (
        n,
        hit,
        mean,
        correlation(&bx, &ys),
        correlation(&ux, &ys),
        per_plan,
    )
}

#[test]
fn the_same_seed_gives_the_same_world_and_another_seed_another() {
    let (a, b, c) = (world(40, 3, 4), world(40, 3, 4), world(40, 4, 4));
    assert_eq!(a.dataset.partners, b.dataset.partners);
    assert_eq!(a.dataset.plans, b.dataset.plans);
    assert_eq!(a.dataset.key_results, b.dataset.key_results);
    assert_eq!(a.dataset.kr_progress, b.dataset.kr_progress);
    assert_eq!(a.dataset.activities, b.dataset.activities);
    assert_eq!(a.truth_effects, b.truth_effects);
    assert_eq!(a.truth_outcomes, b.truth_outcomes);
    assert_ne!(a.dataset.partners, c.dataset.partners);
    assert_ne!(a.dataset.activities, c.dataset.activities);
    assert_ne!(a.truth_outcomes, c.truth_outcomes);
}

#[test]
fn truth_draws_do_not_change_the_dataset_and_partners_do_not_depend_on_the_count() {
    let (a, b) = (world(30, 5, 2), world(30, 5, 6));
    assert_eq!(a.dataset.activities, b.dataset.activities);
    assert_eq!(a.dataset.key_results, b.dataset.key_results);
    let more = world(45, 5, 2);
    assert_eq!(
        a.dataset.plans[..],
        more.dataset.plans[..a.dataset.plans.len()]
    );
}

#[test]
fn bad_params_are_refused() {
    for p in [
        params(0, 1, 4),
        SynthParams {
            years: 0,
            ..params(5, 1, 4)
        },
        params(5, 1, 0),
    ] {
        assert!(
            matches!(generate(&p, &mut |_| {}), Err(SynthError::InvalidParams(_))),
            "{p:?}"
        );
    }
}

#[test]
fn rows_reference_existing_entities_and_dates_respect_periods() {
    let w = world(60, 11, 2);
    let d = &w.dataset;
    let as_of = SynthParams::default().as_of;
    let partners: HashSet<&str> = d.partners.iter().map(|p| p.partner_id.as_str()).collect();
    assert_eq!(partners.len(), 60);
    let plans: HashMap<&str, &crate::domain::Plan> =
        d.plans.iter().map(|p| (p.plan_id.as_str(), p)).collect();
    assert_eq!(plans.len(), d.plans.len(), "plan ids are unique");
    for p in &d.plans {
        assert!(partners.contains(p.partner_id.as_str()));
        assert!(p.start_date < p.end_date);
        assert!(Id::parse(p.plan_id.as_str()).is_ok());
        match p.status {
            PlanStatus::Closed | PlanStatus::Cancelled => assert!(p.end_date < as_of),
            PlanStatus::Active => assert!(p.start_date <= as_of && as_of <= p.end_date),
            PlanStatus::Draft => assert!(p.start_date > as_of),
        }
    }
    // Exactly one active plan per partner, and its stage is the partner's journey stage.
    let active: Vec<_> = d
        .plans
        .iter()
        .filter(|p| p.status == PlanStatus::Active)
        .collect();
    assert_eq!(active.len(), 60);
    assert!(d
        .partners
        .iter()
        .all(|p| p.journey_stage.is_some() && p.manager_id.is_some()));

    let kr_ids: HashSet<&str> = d.key_results.iter().map(|k| k.kr_id.as_str()).collect();
    assert_eq!(kr_ids.len(), d.key_results.len(), "kr ids are unique");
    let mut defined: HashMap<&str, usize> = HashMap::new();
    for kr in &d.key_results {
        assert!(plans.contains_key(kr.plan_id.as_str()));
        assert!(kr.target.is_none_or(|t| t > 0.0));
        *defined.entry(kr.plan_id.as_str()).or_default() += usize::from(kr.target.is_some());
    }
    for p in d.plans.iter().filter(|p| p.status != PlanStatus::Draft) {
        assert!(
            defined.get(p.plan_id.as_str()).copied().unwrap_or(0) >= 1,
            "{} has a defined target",
            p.plan_id
        );
    }
    for pr in &d.kr_progress {
        assert!(kr_ids.contains(pr.kr_id.as_str()));
        assert!(pr.as_of <= as_of);
    }
    let act_ids: HashSet<&str> = d
        .activities
        .iter()
        .map(|a| a.activity_id.as_str())
        .collect();
    assert_eq!(act_ids.len(), d.activities.len(), "activity ids are unique");
    let (mut done, mut planned) = (0, 0);
    for a in &d.activities {
        let p = plans[a.plan_id.as_str()];
        assert!(a.quantity > 0.0);
        assert!(a.kr_id.as_ref().is_none_or(|k| kr_ids.contains(k.as_str())));
        assert!(
            a.date >= p.start_date && a.date < p.end_date,
            "{} inside its plan",
            a.activity_id
        );
        match (p.status, a.status) {
            (PlanStatus::Active, ActivityStatus::Done) => {
                assert!(a.date <= as_of);
                done += 1;
            }
            (PlanStatus::Active, ActivityStatus::Planned) => {
                assert!(a.date > as_of);
                planned += 1;
            }
            (_, ActivityStatus::Planned) => panic!("only active plans have planned activities"),
            _ => {}
        }
    }
    assert!(done > 0 && planned > 0);
}

#[test]
fn closed_plans_are_calibrated_and_confounded() {
    let w = world(300, 2, 1);
    let (n, hit, mean, busy_corr, useful_corr, per_plan) = closed_figures(&w);
    assert!(n > 1000, "{n} closed plans");
    assert!((0.35..=0.50).contains(&hit), "hit rate {hit}");
    assert!((0.88..=1.02).contains(&mean), "mean attainment {mean}");
    assert!(
        (15.0..=40.0).contains(&per_plan),
        "{per_plan} done activities per plan"
    );
    // Busywork has no effect at all, yet it goes with better outcomes: the confounder.
    assert!(busy_corr > 0.1, "corr(busywork, attainment) {busy_corr}");
    assert!(
        useful_corr > 0.1,
        "corr(useful activity, attainment) {useful_corr}"
    );
}

#[test]
fn truth_has_zero_busywork_positive_fitting_kinds_and_varied_best_kinds() {
    let w = world(80, 9, 8);
    let kinds = built_in();
    let active: Vec<&str> = w
        .dataset
        .plans
        .iter()
        .filter(|p| p.status == PlanStatus::Active)
        .map(|p| p.plan_id.as_str())
        .collect();
    assert_eq!(w.truth_outcomes.len(), active.len());
    assert_eq!(w.truth_effects.len(), active.len() * kinds.len());
    let busy: HashSet<&str> = busywork_kinds().into_iter().collect();
    assert!((4..=6).contains(&busy.len()));
    let mut by_plan: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
    for e in &w.truth_effects {
        assert!(e.true_effect.is_finite());
        if busy.contains(e.kind.as_str()) {
            assert!(
                e.true_effect.abs() < 1e-9,
                "{} {} {}",
                e.plan_id,
                e.kind,
                e.true_effect
            );
        }
        by_plan
            .entry(e.plan_id.as_str())
            .or_default()
            .push((e.kind.as_str(), e.true_effect));
    }
    // A stage-appropriate useful kind (every stage fits it) helps on average.
    let mean_of = |kind: &str| {
        let v: Vec<f64> = w
            .truth_effects
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.true_effect)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(
        mean_of("fill_plan_gaps") > 0.002,
        "fill_plan_gaps {}",
        mean_of("fill_plan_gaps")
    );
    assert!(mean_of("joint_sales_call") > 0.0);
    // The best kind differs between plans.
    let best: HashSet<&str> = by_plan
        .values()
        .filter_map(|v| v.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|b| b.0))
        .collect();
    assert!(best.len() >= 4, "best kinds {best:?}");
    for o in &w.truth_outcomes {
        assert!(
            (0.0..=2.0).contains(&o.true_attainment)
                && (0.0..=2.0).contains(&o.true_expected_attainment)
        );
    }
}

#[test]
fn every_catalog_kind_has_a_row_in_the_effect_table() {
    for spec in built_in() {
        assert!(
            model::KINDS.iter().any(|r| r.0 == spec.kind),
            "{} missing",
            spec.kind
        );
    }
    assert_eq!(model::KINDS.len(), built_in().len());
}

#[test]
fn the_writer_produces_the_data_format_files_and_the_truth() {
    let w = world(12, 1, 2);
    let dir = tempfile::tempdir().unwrap();
    let files = w.write(dir.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in [
        "partners.csv",
        "plans.csv",
        "key_results.csv",
        "kr_progress.csv",
        "activities.csv",
        "truth_effects.csv",
        "truth_outcomes.csv",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let effects = std::fs::read_to_string(dir.path().join("truth_effects.csv")).unwrap();
    let active = w
        .dataset
        .plans
        .iter()
        .filter(|p| p.status == PlanStatus::Active)
        .count();
    assert_eq!(effects.lines().count(), 1 + active * built_in().len());
    assert!(effects.starts_with("plan_id,kind,true_effect\n"));
    let outcomes = std::fs::read_to_string(dir.path().join("truth_outcomes.csv")).unwrap();
    assert_eq!(outcomes.lines().count(), 1 + active);
    let partners = std::fs::read_to_string(dir.path().join("partners.csv")).unwrap();
    let header = partners.lines().next().unwrap();
    assert!(
        header.ends_with("crm_source,partner_program_points"),
        "{header}"
    );
}

/// Prints the figures quoted in data/README.md:
/// `cargo test --release --lib eval::synth::tests::figures -- --ignored --nocapture`.
#[test]
#[ignore]
fn figures() {
    for partners in [500usize, 2000] {
        let t = std::time::Instant::now();
        let w = generate(
            &SynthParams {
                partners,
                seed: 7,
                ..SynthParams::default()
            },
            &mut |_| {},
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let (n, hit, mean, busy_corr, useful_corr, per_plan) = closed_figures(&w);
        eprintln!("partners {partners}: generated in {secs:.2}s");
        eprintln!("closed plans {n}, hit rate {hit:.3}, mean attainment {mean:.3}, done activities/plan {per_plan:.1}");
        eprintln!("corr(busywork count, attainment) {busy_corr:.3}, corr(useful count, attainment) {useful_corr:.3}");
        // Attainment by quintile of done useful (non-busywork) activities per plan.
        let att = closed_attainment(&w);
        let busy: HashSet<&str> = busywork_kinds().into_iter().collect();
        let mut useful: HashMap<&str, usize> = HashMap::new();
        for a in &w.dataset.activities {
            if a.status == ActivityStatus::Done && !busy.contains(a.kind.as_str()) {
                *useful.entry(a.plan_id.as_str()).or_default() += 1;
            }
        }
        let mut rows: Vec<(usize, f64)> = att
            .iter()
            .map(|(p, a)| (useful.get(p).copied().unwrap_or(0), *a))
            .collect();
        rows.sort_by_key(|r| r.0);
        for q in 0..5 {
            let part = &rows[q * rows.len() / 5..(q + 1) * rows.len() / 5];
            let mean = part.iter().map(|r| r.1).sum::<f64>() / part.len() as f64;
            eprintln!(
                "  useful-activity quintile {q}: {}..={} activities, mean attainment {mean:.3}",
                part[0].0,
                part[part.len() - 1].0
            );
        }
        for (name, rows) in w.dataset.counts() {
            eprintln!("  {name}: {rows}");
        }
        let busy: HashSet<&str> = busywork_kinds().into_iter().collect();
        let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for e in &w.truth_effects {
            by_kind
                .entry(e.kind.as_str())
                .or_default()
                .push(e.true_effect);
        }
        for (k, v) in &mut by_kind {
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            eprintln!(
                "  {k:24} mean {mean:.4} p10 {:.4} p90 {:.4} max {:.4}{}",
                v[v.len() / 10],
                v[v.len() * 9 / 10],
                v[v.len() - 1],
                if busy.contains(k) { " (busywork)" } else { "" }
            );
        }
        let mut plans: BTreeMap<&str, (&str, f64)> = BTreeMap::new();
        for e in &w.truth_effects {
            let b = plans
                .entry(e.plan_id.as_str())
                .or_insert((e.kind.as_str(), e.true_effect));
            if e.true_effect > b.1 {
                *b = (e.kind.as_str(), e.true_effect);
            }
        }
        let mut best: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, _) in plans.values() {
            *best.entry(k).or_default() += 1;
        }
        eprintln!("  best kind counts {best:?}");
        let o = &w.truth_outcomes;
        let exp_mean = o.iter().map(|x| x.true_expected_attainment).sum::<f64>() / o.len() as f64;
        let hit_active =
            o.iter().filter(|x| x.true_attainment >= 1.0).count() as f64 / o.len() as f64;
        eprintln!(
            "  active plans {}, mean expected {exp_mean:.3}, realised hit rate {hit_active:.3}",
            o.len()
        );
        if partners == 500 {
            let dir = std::env::temp_dir().join("nextbest-synth-figures");
            let files = w.write(&dir).unwrap();
            let mut total = 0;
            for f in files {
                let size = std::fs::metadata(&f).unwrap().len();
                total += size;
                eprintln!("  {}: {size} bytes", f.display());
            }
            eprintln!("  total {:.2} MB", total as f64 / 1e6);
        }
    }
}

/// Per closed plan: (done units of `kinds` per 91 days, attainment).
fn rate_vs_attainment(w: &World, kinds: &[&str]) -> (Vec<f64>, Vec<f64>) {
    let att = closed_attainment(w);
    let mut n: HashMap<&str, f64> = HashMap::new();
    for a in &w.dataset.activities {
        if a.status == ActivityStatus::Done && kinds.contains(&a.kind.as_str()) {
            *n.entry(a.plan_id.as_str()).or_default() += 1.0;
        }
    }
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for p in &w.dataset.plans {
        if let Some(y) = att.get(p.plan_id.as_str()) {
            let days = (p.end_date - p.start_date).num_days() as f64;
            xs.push(n.get(p.plan_id.as_str()).copied().unwrap_or(0.0) * 91.0 / days);
            ys.push(*y);
        }
    }
    (xs, ys)
}

/// Without confounding, busywork (which does nothing) no longer goes with success. Only
/// the busywork open to every relationship stage is counted, per quarter: the stage gates
/// and the plan length are observable channels the switch leaves in place.
#[test]
fn the_confounding_switch_unties_activity_from_relationship_quality() {
    let ungated: Vec<String> = model::kind_models()
        .into_iter()
        .filter(|k| k.busywork && k.min_relationship == RelationshipStage::Transactional)
        .map(|k| k.kind)
        .collect();
    let ungated: Vec<&str> = ungated.iter().map(String::as_str).collect();
    assert!(ungated.len() >= 3, "{ungated:?}");
    let corr = |confounding| {
        let p = SynthParams {
            confounding,
            ..params(300, 2, 1)
        };
        let w = generate(&p, &mut |_| {}).unwrap();
        let (x, y) = rate_vs_attainment(&w, &ungated);
        assert!(x.len() > 1000);
        correlation(&x, &y)
    };
    let (on, off) = (corr(true), corr(false));
    assert!(on > 0.3, "confounded: corr(busywork, attainment) {on}");
    // About 1,600 plans: a correlation of zero is measured within +-0.025 (one sd).
    assert!(
        off.abs() < 0.08,
        "unconfounded: corr(busywork, attainment) {off}"
    );
}

#[test]
fn params_round_trip_through_the_folder_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = SynthParams {
        confounding: false,
        ..params(12, u64::MAX, 3)
    };
    let path = write_params(dir.path(), &p).unwrap();
    assert_eq!(path, dir.path().join(PARAMS_FILE));
    assert_eq!(read_params(dir.path()).unwrap(), p);

    let missing = tempfile::tempdir().unwrap();
    let err = read_params(missing.path()).unwrap_err();
    assert!(matches!(err, SynthError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(PARAMS_FILE), "{err}");

    for bad in [
        "{",
        r#"{"partners":5,"seed":1,"as_of":"2026-13-01","years":3,"truth_draws":4}"#,
        r#"{"partners":5,"seed":1,"as_of":"2026-10-01","years":3,"truth_draws":4,"draws":2}"#,
    ] {
        std::fs::write(&path, bad).unwrap();
        let err = read_params(dir.path()).unwrap_err();
        assert!(
            matches!(err, SynthError::BadParamsFile { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(PARAMS_FILE), "{err}");
    }
    // A file from before the switch existed was confounded.
    std::fs::write(
        &path,
        r#"{"partners":5,"seed":1,"as_of":"2026-10-01","years":3,"truth_draws":4}"#,
    )
    .unwrap();
    assert!(read_params(dir.path()).unwrap().confounding);
}

/// The rows of the first `k` partners of the world of `params` (rows depend on the number
/// of managers, so a smaller world would not do).
fn first_partners(params: &SynthParams, k: usize) -> World {
    let window_start = validate(params).unwrap();
    let managers = managers(params).unwrap();
    let ctx = history::Ctx {
        params,
        kinds: Arc::from(model::kind_models()),
        managers: &managers,
        window_start,
        truth: true,
    };
    let mut w = World {
        dataset: Dataset::default(),
        truth_effects: Vec::new(),
        truth_outcomes: Vec::new(),
    };
    for index in 0..k {
        let out = history::simulate_partner(&ctx, index).unwrap();
        w.dataset.partners.extend(out.partner);
        w.dataset.plans.extend(out.plans);
        w.dataset.key_results.extend(out.key_results);
        w.dataset.kr_progress.extend(out.kr_progress);
        w.dataset.activities.extend(out.activities);
        w.truth_effects.extend(out.truth_effects);
        w.truth_outcomes.extend(out.truth_outcomes);
    }
    w
}

/// The committed sample's `truth_params.json` is what `write_params` writes for the
/// sample's parameters, and regenerating from it gives the sample's rows and truth (the
/// first partners' rows, to stay fast; the integration test pins every file).
#[test]
fn the_committed_sample_regenerates_from_its_params() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let p = read_params(&sample).unwrap();
    assert_eq!(
        p,
        SynthParams {
            partners: 500,
            seed: 7,
            as_of: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            years: 3,
            truth_draws: 64,
            confounding: true,
        }
    );
    let fresh = tempfile::tempdir().unwrap();
    let written = write_params(fresh.path(), &p).unwrap();
    assert_eq!(
        std::fs::read(written).unwrap(),
        std::fs::read(sample.join(PARAMS_FILE)).unwrap()
    );

    let w = first_partners(&p, 8);
    for path in w.write(fresh.path()).unwrap() {
        let name = path.file_name().unwrap();
        let fresh = std::fs::read_to_string(&path).unwrap();
        let committed = std::fs::read_to_string(sample.join(name)).unwrap();
        let n = fresh.lines().count();
        assert!(n > 1, "{name:?}");
        assert!(
            fresh.lines().eq(committed.lines().take(n)),
            "data/sample/{name:?} does not start with the regenerated rows"
        );
    }
}

fn kind_at_as_of(kind: &str) -> impl FnMut(&DecisionPoint<'_>) -> Option<String> + '_ {
    let as_of = SynthParams::default().as_of;
    move |d| (d.date == as_of).then(|| kind.to_owned())
}

#[test]
fn doing_nothing_is_the_baseline_and_busywork_changes_nothing() {
    let prepared = prepare(&params(40, 21, 1)).unwrap();
    let options = SimOptions::default();
    let none = prepared.simulate(&options, &mut |_| None).unwrap();
    assert_eq!(none.len(), prepared.active_plans().len());
    for r in &none {
        assert!(r.actions.is_empty());
        assert_eq!(
            r.expected_attainment, r.baseline_attainment,
            "{}",
            r.plan_id
        );
    }
    for kind in busywork_kinds() {
        let runs = prepared
            .simulate(&options, &mut |_| Some(kind.to_owned()))
            .unwrap();
        assert!(runs.iter().any(|r| r.actions.len() > 5));
        for r in &runs {
            assert_eq!(r.expected_attainment, r.baseline_attainment, "{kind}");
        }
    }
    // A useful kind, by contrast, moves plans.
    let runs = prepared
        .simulate(&options, &mut kind_at_as_of("fill_plan_gaps"))
        .unwrap();
    let gain: f64 = runs
        .iter()
        .map(|r| r.expected_attainment - r.baseline_attainment)
        .sum();
    assert!(gain / runs.len() as f64 > 0.002, "{gain}");
}

/// On the truth's stream with the truth's draws, one unit of a kind at as_of is exactly
/// the truth effect and doing nothing exactly the true expected attainment: the two share
/// their futures and their evaluation.
#[test]
fn one_unit_at_as_of_reproduces_the_truth() {
    let p = params(40, 13, 6);
    let w = generate(&p, &mut |_| {}).unwrap();
    let prepared = prepare(&p).unwrap();
    let options = SimOptions {
        step_days: 14,
        draws: p.truth_draws,
    };
    let truth: HashMap<(&str, &str), f64> = w
        .truth_effects
        .iter()
        .map(|e| ((e.plan_id.as_str(), e.kind.as_str()), e.true_effect))
        .collect();
    let mut moved = 0;
    for spec in built_in() {
        let runs = prepared
            .simulate_on(STREAM_TRUTH, &options, &mut kind_at_as_of(&spec.kind))
            .unwrap();
        assert_eq!(runs.len(), w.truth_outcomes.len());
        for (r, o) in runs.iter().zip(&w.truth_outcomes) {
            assert_eq!(r.plan_id, o.plan_id);
            assert_eq!(r.baseline_attainment, o.true_expected_attainment);
            let effect = r.expected_attainment - r.baseline_attainment;
            let t = truth[&(r.plan_id.as_str(), spec.kind.as_str())];
            assert!(
                (effect - t).abs() < 1e-12,
                "{} {}: {effect} vs {t}",
                r.plan_id,
                spec.kind
            );
            moved += usize::from(effect.abs() > 1e-6);
        }
    }
    assert!(moved > 200, "{moved}");
    // The simulation's own stream draws other futures than the truth.
    let own = prepared.simulate(&options, &mut |_| None).unwrap();
    let same = own
        .iter()
        .zip(&w.truth_outcomes)
        .filter(|(r, o)| r.baseline_attainment == o.true_expected_attainment)
        .count();
    assert!(same < own.len() / 4, "{same} of {}", own.len());
}

/// Interventions are merged with the world's future activities in day order (an
/// intervention first on a tie): evaluating them as extras equals evaluating the future
/// with them inserted as activities of one unit.
#[test]
fn interventions_are_merged_in_day_order() {
    let prepared = prepare(&params(30, 17, 1)).unwrap();
    let index = |kind: &str| prepared.kinds.iter().position(|k| k == kind).unwrap();
    // A prerequisite pair and a repeated kind make the order matter.
    let (jbp, dsp) = (index("jbp_validation"), index("define_success_plan"));
    let mut rng = rng_for(1, 2, 3);
    let mut moved = 0;
    for plan in prepared.active_plans() {
        let state = &plan.state;
        let mut f = state.future();
        state.draw(&mut rng, &mut f);
        let (Some(first), Some(last)) = (f.events.first().copied(), f.events.last().copied())
        else {
            continue;
        };
        let extra = [
            (jbp, state.day),
            (first.kind, first.day),
            (dsp, (first.day + last.day) / 2),
            (jbp, last.day),
            (first.kind, last.day + 1),
        ];
        let merged = state.evaluate(&mut f, &extra);
        let mut events: Vec<(u32, u8, sim::Ev)> = extra
            .iter()
            .map(|&(kind, day)| {
                (
                    day,
                    0,
                    sim::Ev {
                        kind,
                        day,
                        qty: 1.0,
                    },
                )
            })
            .chain(f.events.iter().map(|e| (e.day, 1, *e)))
            .collect();
        events.sort_by_key(|x| (x.0, x.1));
        let mut g = f.clone();
        g.events = events.into_iter().map(|x| x.2).collect();
        assert_eq!(merged, state.evaluate(&mut g, &[]), "{}", plan.plan_id);
        moved += usize::from(merged != state.evaluate(&mut f, &[]));
    }
    assert!(moved > 10, "{moved}");
}

#[test]
fn the_policy_is_asked_at_each_decision_date_and_runs_are_deterministic() {
    let p = params(30, 19, 1);
    let prepared = prepare(&p).unwrap();
    let options = SimOptions {
        step_days: 10,
        draws: 8,
    };
    let ends: HashMap<Id, (NaiveDate, Id)> = prepared
        .active_plans()
        .iter()
        .map(|a| (a.plan_id.clone(), (a.end_date, a.partner_id.clone())))
        .collect();
    // Alternates two useful kinds from as_of on and checks what it is shown.
    let mut asked = 0;
    let mut policy = |d: &DecisionPoint<'_>| {
        let (end, partner) = &ends[d.plan_id];
        assert_eq!(d.partner_id, partner);
        assert!(d.date >= p.as_of && d.date < *end);
        match d.chosen.last() {
            Some(prev) => assert_eq!((d.date - prev.0).num_days(), 10),
            None => assert_eq!(d.date, p.as_of),
        }
        asked += 1;
        Some(["qbr", "upsell_play"][d.chosen.len() % 2].to_owned())
    };
    let a = prepared.simulate(&options, &mut policy).unwrap();
    for r in &a {
        let (end, _) = ends[&r.plan_id];
        let n = (end - p.as_of).num_days();
        assert_eq!(r.actions.len() as i64, (n + 9) / 10, "{}", r.plan_id);
    }
    assert_eq!(asked, a.iter().map(|r| r.actions.len()).sum::<usize>());
    assert!(a
        .iter()
        .any(|r| r.expected_attainment != r.baseline_attainment));

    let mut replay =
        |d: &DecisionPoint<'_>| Some(["qbr", "upsell_play"][d.chosen.len() % 2].to_owned());
    assert_eq!(
        prepare(&p)
            .unwrap()
            .simulate(&options, &mut replay)
            .unwrap(),
        a
    );
    assert_eq!(simulate_policy(&p, &options, &mut replay).unwrap(), a);
    // Every policy meets the same futures: the baselines do not depend on the policy.
    let none = prepared.simulate(&options, &mut |_| None).unwrap();
    for (x, y) in a.iter().zip(&none) {
        assert_eq!(x.baseline_attainment, y.baseline_attainment);
    }
}

#[test]
fn unknown_kinds_and_bad_options_are_refused() {
    let prepared = prepare(&params(5, 1, 1)).unwrap();
    let err = prepared
        .simulate(&SimOptions::default(), &mut |_| Some("coffee".to_owned()))
        .unwrap_err();
    assert!(
        matches!(&err, SynthError::UnknownKind(k) if k == "coffee"),
        "{err:?}"
    );
    assert!(err.to_string().contains("coffee"));
    for options in [
        SimOptions {
            step_days: 0,
            ..SimOptions::default()
        },
        SimOptions {
            draws: 0,
            ..SimOptions::default()
        },
    ] {
        assert!(matches!(
            prepared.simulate(&options, &mut |_| None),
            Err(SynthError::InvalidParams(_))
        ));
    }
}

/// Prints the policy simulation's timings quoted in data/README.md:
/// `cargo test --release --lib eval::synth::tests::policy_figures -- --ignored --nocapture`.
#[test]
#[ignore]
fn policy_figures() {
    let p = SynthParams {
        partners: 3000,
        seed: 7,
        ..SynthParams::default()
    };
    let t = std::time::Instant::now();
    let prepared = prepare(&p).unwrap();
    let prepare_s = t.elapsed().as_secs_f64();
    let options = SimOptions::default();
    let mut points = 0usize;
    for kind in [None, Some("qbr"), Some("upsell_play")] {
        let t = std::time::Instant::now();
        let runs = prepared
            .simulate(&options, &mut |_| {
                points += 1;
                kind.map(str::to_owned)
            })
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let n = runs.len() as f64;
        let base = runs.iter().map(|r| r.baseline_attainment).sum::<f64>() / n;
        let with = runs.iter().map(|r| r.expected_attainment).sum::<f64>() / n;
        eprintln!(
            "{kind:?} at every point: {} plans, mean baseline {base:.4}, with the policy {with:.4}, {secs:.2}s",
            runs.len()
        );
    }
    let t = std::time::Instant::now();
    generate(&p, &mut |_| {}).unwrap();
    eprintln!(
        "prepare {prepare_s:.2}s, generate {:.2}s, {points} decision points",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn undescribing_a_kind_renames_its_activities_and_truth_and_refuses_bad_names() {
    let mut w = world(20, 3, 2);
    let before = w
        .dataset
        .activities
        .iter()
        .filter(|a| a.kind == "relationship_touch")
        .count();
    let truth_of = |w: &World, kind: &str| -> Vec<f64> {
        w.truth_effects
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| t.true_effect)
            .collect()
    };
    let truth_before = truth_of(&w, "relationship_touch");
    assert!(before > 0 && !truth_before.is_empty());
    assert_eq!(
        w.undescribe("relationship_touch", "crm_touch").unwrap(),
        before
    );
    assert!(w
        .dataset
        .activities
        .iter()
        .all(|a| a.kind != "relationship_touch"));
    assert_eq!(
        truth_of(&w, "crm_touch"),
        truth_before,
        "the new name does what the old one does"
    );
    assert_eq!(
        truth_of(&w, "relationship_touch"),
        truth_before,
        "the built-in kind keeps its truth"
    );
    assert!(
        w.dataset.actions.is_empty(),
        "nothing describes the new kind"
    );
    for (kind, as_kind) in [
        ("crm_touch", "crm_other"),
        ("qbr", "pilot"),
        ("qbr", " padded "),
        ("qbr", ""),
    ] {
        assert!(
            matches!(
                w.undescribe(kind, as_kind),
                Err(SynthError::BadUndescribe { .. })
            ),
            "{kind} as `{as_kind}`"
        );
    }
}
