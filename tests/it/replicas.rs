//! Two real replicas (the binary, twice) on one PostgreSQL database and one Qdrant
//! server, each with a models directory of its own: any replica answers any request the
//! same way. A write through A is reflected in B's answers within a second (B's cached
//! answer is recomputed: new recommendation ids); a model trained through B is served by
//! A, and a rollback activated through B is served by A; a training job started on B is
//! watched from A; a dashboard session opened on A works on B; and with A killed
//! (SIGKILL) under load, B keeps serving and no acknowledged write is lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nextbest::api::auth;
use nextbest::eval::synth::SynthParams;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{import_world_into, postgres, qdrant_url, spawn_server};

const AS_OF: &str = "2026-10-01";

struct Replica {
    child: tokio::process::Child,
    base: String,
    _models: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn replica(tenant: &str, database: &str, qdrant: &str) -> Replica {
    let models = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let models_dir = models.path().to_str().unwrap().to_owned();
    let (child, base) = spawn_server(
        data.path(),
        tenant,
        &[
            "--database-url",
            database,
            "--qdrant-url",
            qdrant,
            "--models-dir",
            &models_dir,
            "--as-of",
            AS_OF,
        ],
    )
    .await;
    Replica {
        child,
        base,
        _models: models,
        _data: data,
    }
}

fn ids(answer: &Value) -> Vec<String> {
    answer["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no actions in {answer}"))
        .iter()
        .map(|a| a["recommendation_id"].as_str().unwrap().to_owned())
        .collect()
}

struct Client {
    http: reqwest::Client,
    key: String,
}

impl Client {
    async fn get(&self, base: &str, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {base}{path}");
        response.json().await.unwrap()
    }

    async fn post(&self, base: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Trains through `base` and follows the job on `watch`, until it ends; the version.
    async fn train(&self, base: &str, watch: &str) -> String {
        let (status, job) = self.post(base, "/v1/models/train", &json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let id = job["job_id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let seen = self.get(watch, &format!("/v1/jobs/{id}")).await;
            match seen["status"].as_str() {
                Some("running") => {}
                Some("succeeded") => return seen["result"]["version"].as_str().unwrap().to_owned(),
                _ => panic!("the training job ended badly: {seen}"),
            }
            assert!(Instant::now() < deadline, "training did not end in 300 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_and_qdrant_answer_alike() {
    let Some(db) = postgres("replicas").await else {
        return;
    };
    let Some(qdrant) = qdrant_url("replicas") else {
        return;
    };
    let params = SynthParams {
        partners: 60,
        seed: 53,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let _world = import_world_into(&db, &params, |_| {}).await;
    let tenant = db.tenant.clone();
    let key = auth::create_key(&db.store, &tenant, auth::Scope::Admin, None)
        .await
        .unwrap()
        .key;
    let client = Client {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        key: key.clone(),
    };
    let mut a = replica(&tenant, &db.url, &qdrant).await;
    let b = replica(&tenant, &db.url, &qdrant).await;

    // A model trained through B, its job watched from A, is served by A.
    let first = client.train(&b.base, &a.base).await;
    let models = client.get(&a.base, "/v1/models").await;
    assert_eq!(models["active"], first.as_str(), "{models}");
    let page = client
        .get(&a.base, "/v1/plans?status=active&limit=100")
        .await;
    let plans: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plan_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(plans.len() >= 2, "{page}");
    let nba = |plan: &str| format!("/v1/plans/{plan}/next-best-actions?k=3");
    let on_a = client.get(&a.base, &nba(&plans[0])).await;
    assert_eq!(on_a["model_version"], first.as_str(), "{on_a}");
    let similar = client
        .get(
            &a.base,
            &format!(
                "/v1/partners/{}/similar?k=5",
                on_a["partner_id"].as_str().unwrap()
            ),
        )
        .await;
    assert!(
        !similar["items"]
            .as_array()
            .or(similar.as_array())
            .is_none_or(Vec::is_empty),
        "A finds similar partners in the shared index: {similar}"
    );

    // A second version trained through A; rolled back to the first through B: A serves
    // the first again, and B the same.
    let second = client.train(&a.base, &b.base).await;
    assert_ne!(second, first);
    assert_eq!(
        client.get(&b.base, &nba(&plans[0])).await["model_version"],
        second.as_str()
    );
    let (status, card) = client
        .post(&b.base, &format!("/v1/models/{first}/activate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let served = client.get(&a.base, &nba(&plans[0])).await;
        if served["model_version"] == first.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "A still serves {served}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        client.get(&a.base, "/v1/models").await["active"],
        first.as_str()
    );

    // Writes through A are reflected in B's answers within a second each.
    let mut lags = Vec::new();
    for (n, plan) in plans.iter().cycle().take(6).enumerate() {
        let before = ids(&client.get(&b.base, &nba(plan)).await);
        assert_eq!(
            ids(&client.get(&b.base, &nba(plan)).await),
            before,
            "B caches"
        );
        let (status, body) = client
            .post(
                &a.base,
                &format!("/v1/plans/{plan}/activities"),
                &json!({"activity_id": format!("replica-write-{n}"), "kind": "qbr", "date": "2026-09-30", "quantity": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let written = Instant::now();
        loop {
            if ids(&client.get(&b.base, &nba(plan)).await) != before {
                lags.push(written.elapsed());
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "B did not reflect write {n} within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    lags.sort();
    eprintln!(
        "write on A -> changed answer on B: median {:?}, max {:?} over {} writes",
        lags[lags.len() / 2],
        lags[lags.len() - 1],
        lags.len()
    );

    // A dashboard session opened on A works on B.
    let signed_in = client
        .http
        .post(format!("{}/ui/login", a.base))
        .header("origin", &a.base)
        .form(&[("key", key.as_str()), ("next", "/ui")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = client
        .http
        .get(format!("{}/ui", b.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "A's session on B");

    // A killed under load: B keeps serving, and every acknowledged write is stored.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let b_failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..4 {
        let (http, key) = (client.http.clone(), key.clone());
        let bases = [a.base.clone(), b.base.clone()];
        let (plans, acknowledged, b_failures, stop) = (
            plans.clone(),
            Arc::clone(&acknowledged),
            Arc::clone(&b_failures),
            Arc::clone(&stop),
        );
        load.spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let base = &bases[(worker + n) % 2];
                let plan = &plans[n % plans.len()];
                let id = format!("load-{worker}-{n}");
                let sent = http
                    .post(format!("{base}/v1/plans/{plan}/activities"))
                    .bearer_auth(&key)
                    .timeout(Duration::from_secs(10))
                    .json(&json!({"activity_id": id, "kind": "qbr", "date": "2026-09-29", "quantity": 1}))
                    .send()
                    .await;
                let on_b = base == &bases[1];
                match sent {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        acknowledged.lock().unwrap().push(id);
                    }
                    Ok(r) if on_b => b_failures.lock().unwrap().push(format!("write {}", r.status())),
                    Err(e) if on_b => b_failures.lock().unwrap().push(format!("write {e}")),
                    _ => {}
                }
                if on_b {
                    let read = http
                        .get(format!("{base}/v1/plans/{plan}/next-best-actions?k=3"))
                        .bearer_auth(&key)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    match read {
                        Ok(r) if r.status() == StatusCode::OK => {}
                        Ok(r) => b_failures.lock().unwrap().push(format!("read {}", r.status())),
                        Err(e) => b_failures.lock().unwrap().push(format!("read {e}")),
                    }
                }
                n += 1;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = acknowledged.lock().unwrap().len();
    a.child.start_kill().unwrap();
    a.child.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    while load.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().unwrap().clone();
    let b_failures = b_failures.lock().unwrap().clone();
    assert!(b_failures.is_empty(), "B failed under load: {b_failures:?}");
    assert!(
        acknowledged.len() > before_kill,
        "B kept acknowledging writes after A died"
    );
    let stored: HashSet<String> = db
        .store
        .dataset(&tenant)
        .await
        .unwrap()
        .activities
        .iter()
        .map(|a| a.activity_id.to_string())
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    eprintln!(
        "A killed under load: {} writes acknowledged ({before_kill} before the kill), {} missing; B answered every request",
        acknowledged.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    drop(b);
}
