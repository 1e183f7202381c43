use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::NaiveDate;
use nextbest::eval::synth::SynthParams;
use nextbest::import::ImportOptions;
use nextbest::model::pipeline::{self, PipelineError};
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;

use crate::helpers::{sqlite, FIXTURE};

const AS_OF: &str = "2026-10-01";

async fn world(partners: usize) -> (crate::helpers::Backend, tempfile::TempDir) {
    let params = SynthParams {
        partners,
        seed: 5,
        truth_draws: 1,
        ..SynthParams::default()
    };
    crate::helpers::imported_world("model", &params).await
}

#[tokio::test]
async fn training_saves_an_active_model_whose_predictions_are_sane() {
    let (db, _data) = world(250).await;
    let models = tempfile::tempdir().unwrap();
    let registry = Registry::new(models.path());
    let (card, report) = pipeline::train_tenant(
        &db.store,
        &registry,
        &db.tenant,
        &TrainParams::default(),
        &mut |_| {},
    )
    .await
    .unwrap();

    assert_eq!(
        registry.active(&db.tenant).unwrap().as_deref(),
        Some(card.version.as_str())
    );
    let auc = report.test.auc.unwrap();
    assert!(
        auc > 0.8,
        "held-out AUC {auc} should be far above chance on the synthetic world"
    );
    let coverage = report.test.coverage.unwrap();
    assert!(
        (0.65..=0.95).contains(&coverage),
        "80% intervals covered {coverage} of held-out snapshots"
    );
    assert!(
        report.families.iter().filter(|f| f.kept).count() == 2,
        "one kept family per target"
    );

    let (model, loaded) = pipeline::active_model(&registry, &db.tenant).unwrap();
    assert_eq!(loaded.version, card.version);
    let as_of = NaiveDate::parse_from_str(AS_OF, "%Y-%m-%d").unwrap();
    let predictions = pipeline::predict_active(&db.store, &model, &db.tenant, as_of, None)
        .await
        .unwrap();
    assert_eq!(predictions.len(), 250, "one active plan per partner");
    for (id, p) in &predictions {
        assert!(p.p_hit > 0.0 && p.p_hit < 1.0, "{id}: {p:?}");
        assert!(
            p.interval_low <= p.expected_attainment && p.expected_attainment <= p.interval_high,
            "{id}: {p:?}"
        );
    }
    let truth: std::collections::HashMap<String, (f64, f64)> =
        nextbest::eval::outcome::read_truth(&_data.path().join("truth_outcomes.csv")).unwrap();
    let evaluation = nextbest::eval::outcome::evaluate(
        &db.store,
        &db.tenant,
        &model,
        &loaded,
        Some((&truth, as_of)),
    )
    .await
    .unwrap();
    assert_eq!(
        evaluation.held_out.snapshots, report.test.snapshots,
        "evaluation re-scores exactly the held-out snapshots"
    );
    assert!(
        (evaluation.held_out.auc.unwrap() - auc).abs() < 1e-9,
        "and gets the training report's AUC"
    );
    let vs_truth = evaluation.truth.as_ref().unwrap();
    assert_eq!(vs_truth.plans, 250);
    assert!(vs_truth.realised.auc.unwrap() > 0.7, "{vs_truth:?}");
    assert!(
        nextbest::eval::outcome::markdown(&evaluation).contains("against the generator's truth")
    );
    let one = pipeline::predict_active(
        &db.store,
        &model,
        &db.tenant,
        as_of,
        Some(&predictions[0].0),
    )
    .await
    .unwrap();
    assert_eq!(one[..], predictions[..1]);
}

#[tokio::test]
async fn too_few_closed_plans_stop_training_with_the_numbers_and_write_nothing() {
    let db = sqlite("few").await;
    db.import(FIXTURE.as_ref(), &ImportOptions::default())
        .await
        .unwrap();
    let models = tempfile::tempdir().unwrap();
    let registry = Registry::new(models.path());
    let err = pipeline::train_tenant(
        &db.store,
        &registry,
        &db.tenant,
        &TrainParams::default(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    let message = nextbest::report::Report(&err).to_string();
    assert!(matches!(err, PipelineError::Features(_)), "{message}");
    assert!(
        message.contains("50"),
        "says how many plans are needed: {message}"
    );
    assert!(registry.list(&db.tenant).unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(models.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// A `nextbest train` killed at any moment leaves an active model that loads: the old
/// one, or the new one if it finished; never a partial one.
#[tokio::test]
async fn killing_train_midway_leaves_a_loadable_active_model() {
    let (db, _data) = world(120).await;
    let data_dir = db.data_dir().to_owned();
    let models = tempfile::tempdir().unwrap();
    let registry = Registry::new(models.path());
    let (first, _) = pipeline::train_tenant(
        &db.store,
        &registry,
        &db.tenant,
        &TrainParams::default(),
        &mut |_| {},
    )
    .await
    .unwrap();

    for delay in [150, 600, 1500] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nextbest"))
            .args([
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--models-dir",
                models.path().to_str().unwrap(),
                "--tenant",
                &db.tenant,
                "train",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let active = registry.active(&db.tenant).unwrap().unwrap();
        if !status.success() {
            assert!(
                active == first.version || registry.card(&db.tenant, &active).is_ok(),
                "killed after {delay} ms"
            );
        }
        pipeline::active_model(&registry, &db.tenant).unwrap_or_else(|e| {
            panic!("after a kill at {delay} ms the active model must load: {e}")
        });
        for card in registry.list(&db.tenant).unwrap() {
            registry
                .load::<serde_json::Value>(&db.tenant, &card.version)
                .unwrap();
        }
    }
}
