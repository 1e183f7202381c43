//! Similar partners and peer benchmarks end to end: the committed 500-partner sample in a
//! real SQLite file, a model trained into a registry, and a real qdrant-edge shard, all
//! in temp dirs. The sample is imported and trained once, in one test, since that is
//! what costs; the checks after it are cheap.

use std::collections::HashMap;
use std::time::Instant;

use nextbest::import::ImportOptions;
use nextbest::model::pipeline;
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;
use nextbest::nba::peers::{reindex, Peers, PeersError, TargetBasis, PEER_GROUP};
use nextbest::report::Report;
use nextbest::vector::edge::EdgeIndex;
use nextbest::vector::{Filter, VectorIndex};

use crate::helpers::sqlite;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample");
const K: usize = 10;

#[tokio::test]
async fn similar_partners_and_benchmarks_on_the_sample() {
    let db = sqlite("peers").await;
    let tenant = db.tenant.as_str();
    db.import(SAMPLE.as_ref(), &ImportOptions::default())
        .await
        .unwrap();
    let models = tempfile::tempdir().unwrap();
    let registry = Registry::new(models.path());
    let (card, _) = pipeline::train_tenant(
        &db.store,
        &registry,
        tenant,
        &TrainParams::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    let (model, _) = pipeline::active_model(&registry, tenant).unwrap();
    let profile = model.profile.expect("training fits a profile schema");
    assert_eq!(card.notes["profile"]["dimension"], profile.dimension());

    let vectors = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(&vectors.path().join("vectors"), profile.dimension()).unwrap();
    let started = Instant::now();
    let report = reindex(&db.store, &registry, &index, tenant).await.unwrap();
    let reindex_ms = started.elapsed().as_millis();
    assert_eq!(report.points, 500);
    assert_eq!(report.model_version, card.version);
    assert_eq!(index.count(tenant).unwrap(), 500);

    let started = Instant::now();
    let peers = Peers::load(&db.store, tenant, &profile, report.as_of)
        .await
        .unwrap();
    let load_ms = started.elapsed().as_millis();
    assert_eq!(peers.len(), 500);

    let ids: Vec<String> = db
        .store
        .partners(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.partner_id.to_string())
        .collect();
    let started = Instant::now();
    let all: Vec<_> = ids
        .iter()
        .map(|id| {
            let found = peers
                .similar(&index, tenant, id, K, &Filter::default())
                .unwrap();
            (id, found)
        })
        .collect();
    let similar_us = started.elapsed().as_micros() / ids.len() as u128;

    for (id, found) in &all {
        assert_eq!(found.len(), K, "{id}");
        assert!(
            found.iter().all(|s| s.partner_id.as_str() != id.as_str()),
            "{id} is not its own peer"
        );
        assert!(found
            .iter()
            .all(|s| peers.partner(s.partner_id.as_str()).is_some()));
        assert!(
            found.windows(2).all(|w| w[0].score >= w[1].score),
            "{id}: scores descend: {:?}",
            found.iter().map(|s| s.score).collect::<Vec<_>>()
        );
        assert!(found
            .iter()
            .all(|s| s.score.is_finite() && s.score <= 1.0 + 1e-4));
        for s in found {
            for v in [s.mean_attainment, s.hit_rate, s.last_attainment]
                .into_iter()
                .flatten()
            {
                assert!(v.is_finite(), "{s:?}");
            }
        }
    }

    // Neighbours are alike: they share a partner's type and relationship stage far more
    // often than two partners drawn at random do.
    let share_of = |same: &dyn Fn(&str, &str) -> bool| {
        let pairs: Vec<bool> = all
            .iter()
            .flat_map(|(id, found)| found.iter().map(move |s| same(id, s.partner_id.as_str())))
            .collect();
        pairs.iter().filter(|s| **s).count() as f64 / pairs.len() as f64
    };
    let base_rate = |field: &dyn Fn(&str) -> Option<String>| {
        let mut counts: HashMap<Option<String>, usize> = HashMap::new();
        for id in &ids {
            *counts.entry(field(id)).or_default() += 1;
        }
        let n = ids.len() as f64;
        counts
            .values()
            .map(|c| (*c as f64 / n).powi(2))
            .sum::<f64>()
    };
    let partner_type = |id: &str| {
        peers
            .partner(id)
            .unwrap()
            .partner_type
            .map(|t| t.to_string())
    };
    let stage = |id: &str| {
        peers
            .partner(id)
            .unwrap()
            .relationship_stage
            .map(|t| t.to_string())
    };
    let same_type = share_of(&|a: &str, b: &str| partner_type(a) == partner_type(b));
    let same_stage = share_of(&|a: &str, b: &str| stage(a) == stage(b));
    let (type_base, stage_base) = (base_rate(&partner_type), base_rate(&stage));
    assert!(
        same_type > 2.0 * type_base,
        "neighbours share the type {same_type:.2} of the time, random pairs {type_base:.2}"
    );
    assert!(
        same_stage > stage_base + 0.2,
        "neighbours share the stage {same_stage:.2} of the time, random pairs {stage_base:.2}"
    );

    // A filter is honoured, and holds the whole result.
    let me = ids[0].as_str();
    for region in ["EMEA", "LATAM"] {
        let filter = Filter {
            region: Some(region.into()),
            ..Filter::default()
        };
        let found = peers.similar(&index, tenant, me, K, &filter).unwrap();
        assert_eq!(found.len(), K);
        assert!(
            found.iter().all(|s| s.region.as_deref() == Some(region)),
            "{found:?}"
        );
        assert!(found.iter().all(|s| s.partner_id.as_str() != me));
    }

    // A partner missing from the index (new since the last reindex) is still searchable.
    let missing = nextbest::domain::Id::parse(me).unwrap();
    index.delete(tenant, &[missing]).unwrap();
    let found = peers
        .similar(&index, tenant, me, K, &Filter::default())
        .unwrap();
    assert_eq!(found.len(), K);
    assert_eq!(
        found.iter().map(|s| &s.partner_id).collect::<Vec<_>>(),
        all[0].1.iter().map(|s| &s.partner_id).collect::<Vec<_>>(),
        "the same neighbours as when it was indexed"
    );

    let err = peers
        .similar(&index, tenant, "no-such-partner", K, &Filter::default())
        .unwrap_err();
    assert!(matches!(err, PeersError::UnknownPartner { .. }));
    assert!(err.to_string().contains("no-such-partner"), "{err}");

    // Benchmarks: ordered quartiles, a percentile in 0..=1, and never a NaN.
    let started = Instant::now();
    for id in ids.iter().step_by(25) {
        let b = peers.benchmark(&index, tenant, id).unwrap();
        assert_eq!(b.peers, PEER_GROUP, "{id}");
        assert_eq!(b.rows.len(), 11);
        let json = serde_json::to_value(&b).unwrap();
        assert!(!json.to_string().contains("NaN"));
        for row in &b.rows {
            let what = format!("{id} {}: {row:?}", row.dimension);
            assert!(
                row.peers_n <= b.peers && row.successful_n <= b.successful_peers,
                "{what}"
            );
            let numbers = [
                row.you,
                row.your_target,
                row.peers_p25,
                row.peers_median,
                row.peers_p75,
                row.your_percentile,
            ];
            assert!(numbers.iter().flatten().all(|v| v.is_finite()), "{what}");
            if row.peers_n > 0 {
                let (p25, median, p75) = (
                    row.peers_p25.unwrap(),
                    row.peers_median.unwrap(),
                    row.peers_p75.unwrap(),
                );
                assert!(p25 <= median && median <= p75, "{what}");
            } else {
                assert_eq!((row.peers_p25, row.your_percentile), (None, None), "{what}");
            }
            if let Some(p) = row.your_percentile {
                assert!((0.0..=1.0).contains(&p), "{what}");
            }
            let expected = if row.successful_n >= 5 {
                TargetBasis::SuccessfulPeers
            } else {
                TargetBasis::PeersP75
            };
            assert_eq!(row.target_basis, expected, "{what}");
        }
        let nps = &b.rows[6];
        assert_eq!(nps.dimension, "nps");
        assert_eq!(nps.peers_n, b.peers, "the sample knows every NPS");
        assert!(nps.you.is_some());
    }
    let benchmark_us = started.elapsed().as_micros() / 20;

    // A model saved before profile vectors existed loads, but cannot reindex.
    let (mut old, old_card) = registry
        .load::<serde_json::Value>(tenant, &card.version)
        .unwrap();
    old.as_object_mut().unwrap().remove("profile");
    let old_card = nextbest::model::ModelCard {
        version: Registry::new_version(chrono::Utc::now() + chrono::Duration::seconds(1)),
        ..old_card
    };
    registry.save(&old, &old_card).unwrap();
    registry.activate(tenant, &old_card.version).unwrap();
    let (loaded, _) = pipeline::active_model(&registry, tenant).unwrap();
    assert!(loaded.profile.is_none());
    let err = reindex(&db.store, &registry, &index, tenant)
        .await
        .unwrap_err();
    assert!(matches!(err, PeersError::NoProfileSchema { .. }), "{err:?}");
    assert!(Report(&err).to_string().contains("nextbest train"), "{err}");

    eprintln!(
        "500-partner sample (debug build): reindex {reindex_ms} ms, Peers::load {load_ms} ms, \
         similar(k={K}) {similar_us} us per call, benchmark {benchmark_us} us per call; \
         neighbours share type {same_type:.2} (random {type_base:.2}), stage \
         {same_stage:.2} (random {stage_base:.2}); dimension {}",
        profile.dimension()
    );
}

#[tokio::test]
async fn reindex_without_a_trained_model_says_to_train() {
    let db = sqlite("peers-untrained").await;
    let models = tempfile::tempdir().unwrap();
    let registry = Registry::new(models.path());
    let vectors = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(&vectors.path().join("vectors"), 8).unwrap();
    let err = reindex(&db.store, &registry, &index, &db.tenant)
        .await
        .unwrap_err();
    assert!(matches!(err, PeersError::NoActiveModel(_)), "{err:?}");
    let message = Report(&err).to_string();
    assert!(message.contains("run `nextbest train`"), "{message}");
    assert!(message.contains(&db.tenant), "{message}");
    assert_eq!(index.count(&db.tenant).unwrap(), 0, "nothing was written");
}
