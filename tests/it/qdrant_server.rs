//! The server on the Qdrant server backend (the real 1.19 server `.ci/run` starts from
//! `../shared/bin/`), on tokio's multi-threaded runtime: next best actions, similar
//! partners and benchmarks are answered, and nothing panics. The backend blocks on a
//! client runtime of its own, which tokio forbids inside an async task: the service runs
//! every index call on a blocking thread, and the backend itself leaves any runtime it
//! is called from (the command line calls it from async code).

use std::sync::Arc;

use chrono::NaiveDate;
use nextbest::api::ServeOptions;
use nextbest::eval::synth::SynthParams;
use nextbest::model::pipeline;
use nextbest::vector::{Filter, VectorIndex};
use reqwest::StatusCode;
use serde_json::Value;

use crate::app::TestApp;
use crate::helpers::{qdrant_url, TrainedWorld};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_from_the_qdrant_server_backend_without_panicking() {
    let Some(url) = qdrant_url("the server on the Qdrant server backend") else {
        return;
    };
    let params = SynthParams {
        partners: 80,
        seed: 43,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let TrainedWorld {
        db,
        world: _world,
        registry,
        models,
    } = crate::helpers::trained_world("qdrant-serve", &params).await;
    let options = ServeOptions {
        as_of: NaiveDate::from_ymd_opt(2026, 10, 1),
        ..ServeOptions::default()
    };
    let server = TestApp::builder()
        .on(&db)
        .models_dir(models.path())
        .qdrant_url(&url)
        .options(options)
        .spawn()
        .await;
    let (model, _) = pipeline::active_model(&registry, &db.tenant).unwrap();
    let dimension = model.profile.as_ref().unwrap().dimension();

    // The index is opened and filled the way the server does it: off the workers.
    let service = server.state.service().clone();
    let index: Arc<dyn VectorIndex> =
        nextbest::service::blocking("opening", move || service.index(dimension))
            .await
            .unwrap()
            .expect("the Qdrant server backend opens");
    let (store, reg, tenant, idx) = (
        db.store.clone(),
        registry.clone(),
        db.tenant.clone(),
        Arc::clone(&index),
    );
    let report = nextbest::service::on_blocking_thread("reindexing", async move {
        nextbest::nba::peers::reindex(&store, &reg, idx.as_ref(), &tenant).await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.points, params.partners);

    let (client, base, admin) = (&server.client, &server.base, &server.admin);
    let get = |path: String| {
        let request = client.get(format!("{base}{path}")).bearer_auth(admin);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };

    let (status, plans) = get("/v1/plans?status=active&limit=20".into()).await;
    assert_eq!(status, StatusCode::OK, "{plans}");
    let plans: Vec<&Value> = plans["items"].as_array().unwrap().iter().collect();
    assert!(!plans.is_empty());
    let mut with_peer_evidence = 0;
    for plan in &plans {
        let id = plan["plan_id"].as_str().unwrap();
        let (status, recs) = get(format!("/v1/plans/{id}/next-best-actions?k=3")).await;
        assert_eq!(status, StatusCode::OK, "{recs}");
        assert!(!recs["actions"].as_array().unwrap().is_empty(), "{recs}");
        if recs["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| !a["explanation"]["similar_partners"].is_null())
        {
            with_peer_evidence += 1;
        }
    }
    assert!(
        with_peer_evidence > 0,
        "no plan's actions carry similar partners' evidence from the Qdrant index"
    );
    let partner = plans[0]["partner_id"].as_str().unwrap();
    let (status, similar) = get(format!("/v1/partners/{partner}/similar?k=5")).await;
    assert_eq!(status, StatusCode::OK, "{similar}");
    let similar = similar.as_array().unwrap();
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|s| s["partner_id"] != partner));
    let (status, benchmark) = get(format!("/v1/partners/{partner}/benchmark")).await;
    assert_eq!(status, StatusCode::OK, "{benchmark}");
    assert!(
        !benchmark["rows"].as_array().unwrap().is_empty(),
        "{benchmark}"
    );

    // Called straight from async code, as the command line does, the backend blocks but
    // does not panic.
    let hits = index
        .search(&db.tenant, &vec![0.1; dimension], 3, &Filter::default())
        .unwrap();
    assert_eq!(hits.len(), 3);

    server.stop().await;
    nextbest::service::blocking("clearing", move || index.clear_tenant(&db.tenant))
        .await
        .unwrap()
        .unwrap();
}
