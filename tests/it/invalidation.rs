//! A write drops only the answers it can change: the plans of the partner it touched
//! (the plan's own, and the partner's other plans, which its record and its done
//! activities feed), not the tenant's; and a write to a plan's own rows only (progress)
//! that plan's, on SQLite, where the views take each write as it commits. A real server
//! over a trained world; an answer served from memory keeps its recommendation ids, a
//! recomputed one gets new ones.

use chrono::NaiveDate;
use nextbest::api::ServeOptions;
use nextbest::eval::synth::SynthParams;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::app::TestApp;
use crate::helpers::TrainedWorld;

fn ids(answer: &Value) -> Vec<String> {
    answer["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["recommendation_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_recomputes_its_partners_answers_and_no_others() {
    let params = SynthParams {
        partners: 60,
        seed: 47,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let w: TrainedWorld = crate::helpers::trained_world("invalidation", &params).await;
    let app = TestApp::builder()
        .on(&w.db)
        .models_dir(w.models.path())
        .options(ServeOptions {
            as_of: NaiveDate::from_ymd_opt(2026, 10, 1),
            ..ServeOptions::default()
        })
        .spawn()
        .await;
    let get = |path: String| {
        let request = app.client.get(app.url(&path)).bearer_auth(&app.reader);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let page = get("/v1/plans?status=active&limit=100".into()).await;
    let plans = page["items"].as_array().unwrap();
    let (a1, a) = (
        plans[0]["plan_id"].as_str().unwrap().to_owned(),
        plans[0]["partner_id"].as_str().unwrap().to_owned(),
    );
    let b1 = plans
        .iter()
        .find(|p| p["partner_id"] != a.as_str())
        .unwrap()["plan_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A second active plan of the same partner.
    let a2 = format!("{a1}-second");
    let response = app
        .client
        .put(app.url(&format!("/v1/plans/{a2}")))
        .bearer_auth(&app.writer)
        .json(&json!({
            "partner_id": a, "start_date": "2026-09-01", "end_date": "2027-02-28",
            "status": "active", "template": "growth",
            "key_results": [{"kr_id": format!("{a2}-kr"), "metric": "revenue", "target": 50000, "unit": "EUR"}],
        }))
        .send()
        .await
        .unwrap();
    succeeded(response).await;

    let nba = |plan: &str| get(format!("/v1/plans/{plan}/next-best-actions?k=3"));
    let (first_a1, first_a2, first_b1) = (nba(&a1).await, nba(&a2).await, nba(&b1).await);
    // Before any write, each is answered from memory: the same ids.
    assert_eq!(ids(&nba(&b1).await), ids(&first_b1));
    assert_eq!(ids(&nba(&a1).await), ids(&first_a1));

    // An activity on a1: partner a's answers are recomputed, b's is kept.
    let response = app
        .client
        .post(app.url(&format!("/v1/plans/{a1}/activities")))
        .bearer_auth(&app.writer)
        .json(&json!({"kind": "qbr", "date": "2026-09-30", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_ne!(ids(&nba(&a1).await), ids(&first_a1), "the written plan");
    assert_ne!(
        ids(&nba(&a2).await),
        ids(&first_a2),
        "the partner's other plan"
    );
    assert_eq!(
        ids(&nba(&b1).await),
        ids(&first_b1),
        "another partner's plan"
    );

    // Progress on a1's key result: a1's answer is recomputed; on SQLite a2's is kept (no
    // other plan reads a1's progress), on PostgreSQL the partner is set aside whole.
    let (second_a1, second_a2) = (nba(&a1).await, nba(&a2).await);
    let plan = get(format!("/v1/plans/{a1}")).await;
    let kr = plan["key_results"][0]["kr_id"].as_str().unwrap().to_owned();
    let response = app
        .client
        .post(app.url("/v1/bulk/kr_progress"))
        .bearer_auth(&app.writer)
        .body(json!({"kr_id": kr, "as_of": "2026-09-30", "realized": 1234.0}).to_string())
        .send()
        .await
        .unwrap();
    succeeded(response).await;
    assert_ne!(ids(&nba(&a1).await), ids(&second_a1), "the plan progressed");
    let a2_now = ids(&nba(&a2).await);
    if w.db.store.backend() == nextbest::store::Backend::Sqlite {
        assert_eq!(a2_now, ids(&second_a2), "the partner's other plan kept");
    } else {
        assert_ne!(a2_now, ids(&second_a2), "set aside whole on PostgreSQL");
    }
    assert_eq!(
        ids(&nba(&b1).await),
        ids(&first_b1),
        "another partner's plan"
    );
    app.stop().await;
}

/// Fails with the body when a write was not accepted.
async fn succeeded(response: reqwest::Response) {
    let status = response.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        response.text().await.unwrap()
    );
}
