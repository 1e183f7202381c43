//! The HTTP API over a real server on 127.0.0.1:0, a real SQLite file (and PostgreSQL
//! where it answers), a real qdrant-edge shard and real HTTP: the whole flow (bulk sync
//! → train → recommend → feedback), auth and tenant isolation, every error path, and
//! idempotent re-sync.

use std::time::Duration;

use crate::app::TestApp;
use nextbest::api::{auth, ServeOptions};
use nextbest::domain::Dataset;
use nextbest::eval::synth::{generate, SynthParams};
use nextbest::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TENANT: &str = "acme";

async fn start() -> Server {
    Server(
        TestApp::builder()
            .tenant(TENANT)
            .options(demo_options())
            .spawn()
            .await,
    )
}

fn demo_options() -> ServeOptions {
    ServeOptions {
        as_of: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()),
        ..ServeOptions::default()
    }
}

/// A [`TestApp`] with the API's requests, decoded (errors checked to be problem+json).
struct Server(TestApp);

impl std::ops::Deref for Server {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Server {
    async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        decode(response).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        decode(response).await
    }

    async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, &self.writer.clone(), path, body)
            .await
    }

    async fn post(&self, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, key, path, body).await
    }

    async fn raw(
        &self,
        key: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        decode(response).await
    }

    async fn bulk(&self, entity: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let path = format!("/v1/bulk/{entity}");
        self.raw(&self.writer, &path, "application/x-ndjson", body)
            .await
    }
}

async fn decode(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or_default() == "application/problem+json");
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_client_error() || status.is_server_error() {
        assert!(problem, "an error must be problem+json: {status} {value}");
        assert_eq!(value["status"], status.as_u16(), "{value}");
        assert!(
            value["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:nextbest:problem:")),
            "{value}"
        );
    }
    (status, value)
}

fn problem(value: &Value) -> &str {
    value["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:nextbest:problem:"))
        .unwrap_or("")
}

fn ndjson<T: serde::Serialize>(rows: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut out, row).unwrap();
        out.push(b'\n');
    }
    out
}

/// Loads a dataset through the bulk endpoints, entity by entity, as a platform would.
async fn bulk_load(server: &Server, data: &Dataset) {
    let parts: [(&str, Vec<u8>); 5] = [
        ("partners", ndjson(&data.partners)),
        ("plans", ndjson(&data.plans)),
        ("key_results", ndjson(&data.key_results)),
        ("kr_progress", ndjson(&data.kr_progress)),
        ("activities", ndjson(&data.activities)),
    ];
    for (entity, body) in parts {
        let (status, value) = server.bulk(entity, body).await;
        assert_eq!(status, StatusCode::OK, "{entity}: {value}");
    }
}

fn small_world() -> Dataset {
    generate(
        &SynthParams {
            partners: 120,
            seed: 11,
            truth_draws: 2,
            ..SynthParams::default()
        },
        &mut |_| {},
    )
    .unwrap()
    .dataset
}

async fn wait_for_job(server: &Server, location: &str) -> Value {
    for _ in 0..600 {
        let (status, job) = server.get(&server.reader, location).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the training job did not finish in 120 s");
}

/// Starts training as the admin (202 with the job's location) and waits for the job: the
/// job as it ended.
async fn train_over_http(server: &Server) -> Value {
    let response = server
        .client
        .post(server.url("/v1/models/train"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    wait_for_job(server, &location).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_train_recommend_feedback_over_http() {
    let server = start().await;
    let data = small_world();
    bulk_load(&server, &data).await;
    let counts = server.store.counts(TENANT).await.unwrap();
    assert_eq!(counts.partners as usize, data.partners.len());
    assert_eq!(counts.key_results as usize, data.key_results.len());

    // Before training: no model, said so.
    let (status, value) = server.get(&server.reader, "/v1/forecast").await;
    assert_eq!(status, StatusCode::CONFLICT, "{value}");
    assert_eq!(problem(&value), "no-model");

    // Training needs admin, runs in the background, and reports progress.
    let (status, _) = server
        .post(&server.writer, "/v1/models/train", &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let job = train_over_http(&server).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let version = job["result"]["version"].as_str().unwrap().to_owned();
    assert!(
        job["result"]["index"]["points"].as_u64().unwrap() > 0,
        "{job}"
    );
    let (status, models) = server.get(&server.reader, "/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(models["active"], version.as_str());
    // `active` is the registry's pointer file beside the versions, not a version: 404,
    // not a 500 on ENOTDIR, and the active model stays.
    let (status, value) = server
        .post(&server.admin, "/v1/models/active/activate", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{value}");
    let (_, models) = server.get(&server.reader, "/v1/models").await;
    assert_eq!(models["active"], version.as_str());

    // Next best actions for an active plan, logged with ids.
    let plan = data
        .plans
        .iter()
        .find(|p| p.status == nextbest::domain::PlanStatus::Active)
        .unwrap();
    let path = format!("/v1/plans/{}/next-best-actions?k=4", plan.plan_id);
    let (status, recs) = server.get(&server.reader, &path).await;
    assert_eq!(status, StatusCode::OK, "{recs}");
    assert_eq!(recs["model_version"], version.as_str());
    let actions = recs["actions"].as_array().unwrap();
    assert!(!actions.is_empty() && actions.len() <= 4, "{recs}");
    assert!(actions[0]["explanation"]["why_now"].is_string());
    let top = actions[0].clone();
    let rec_id = top["recommendation_id"].as_str().unwrap().to_owned();
    // Asked again before anything changed: the same answer, ids included (from memory).
    let (_, repeat) = server.get(&server.reader, &path).await;
    let kinds = |v: &Value| -> Vec<String> {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&repeat), kinds(&recs));
    assert_eq!(
        repeat["actions"][0]["recommendation_id"],
        top["recommendation_id"]
    );
    assert!(recs["prediction"]["p_hit"].is_number());

    // Feedback: the dismissed kind is not recommended again, and says why.
    let (status, stored) = server
        .post(
            &server.writer,
            "/v1/feedback",
            &json!({
                "recommendation_id": rec_id,
                "plan_id": plan.plan_id.as_str(),
                "kind": top["kind"],
                "response": "dismissed",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let (_, again) = server.get(&server.reader, &path).await;
    let kinds: Vec<&str> = again["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&top["kind"].as_str().unwrap()), "{kinds:?}");
    let excluded = again["excluded"].as_array().unwrap();
    assert!(
        excluded.iter().any(|e| e["kind"] == top["kind"]),
        "the dismissed kind is listed as excluded: {excluded:?}"
    );
    let (status, page) = server
        .get(
            &server.reader,
            &format!("/v1/feedback?plan_id={}", plan.plan_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");

    // Prediction, what-if, similar, benchmark, fit, forecast, attention.
    let (status, prediction) = server
        .get(
            &server.reader,
            &format!("/v1/plans/{}/prediction", plan.plan_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{prediction}");
    let p = prediction["expected_attainment"].as_f64().unwrap();
    assert!(prediction["interval_low"].as_f64().unwrap() <= p);
    assert!(p <= prediction["interval_high"].as_f64().unwrap());
    let (status, what_if) = server
        .post(
            &server.reader,
            &format!("/v1/plans/{}/what-if", plan.plan_id),
            &json!({"add": [{"kind": top["kind"], "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{what_if}");
    assert!(what_if["after"]["p_hit"].is_number());
    // What-if is bounded (issue 15: 20,000 entries cost 0.8 s of CPU): 100 entries and
    // 1000 units at most, refused with the field and the limit.
    let entries = |n: usize, quantity: f64| {
        let add: Vec<Value> = (0..n)
            .map(|_| json!({"kind": top["kind"], "quantity": quantity}))
            .collect();
        json!({ "add": add })
    };
    let what_if_path = format!("/v1/plans/{}/what-if", plan.plan_id);
    let (status, at_limit) = server
        .post(&server.reader, &what_if_path, &entries(100, 10.0))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "100 entries, 1000 units: {at_limit}"
    );
    for (body, limit) in [
        (entries(101, 1.0), "at most 100"),
        (entries(2, 600.0), "at most 1000"),
    ] {
        let (status, refused) = server.post(&server.reader, &what_if_path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(problem(&refused), "validation", "{refused}");
        assert_eq!(refused["field"], "add", "{refused}");
        assert!(
            refused["detail"].as_str().unwrap().contains(limit),
            "{refused}"
        );
    }
    let partner = plan.partner_id.as_str();
    let (status, similar) = server
        .get(
            &server.reader,
            &format!("/v1/partners/{partner}/similar?k=5"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{similar}");
    let similar = similar.as_array().unwrap();
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|s| s["partner_id"] != partner));
    let (status, bench) = server
        .get(&server.reader, &format!("/v1/partners/{partner}/benchmark"))
        .await;
    assert_eq!(status, StatusCode::OK, "{bench}");
    assert!(bench["peers"].as_u64().unwrap() > 0);
    let (_, stored_partner) = server
        .get(&server.reader, &format!("/v1/partners/{partner}"))
        .await;
    let mut prospect = stored_partner.clone();
    prospect.as_object_mut().unwrap().remove("partner_id");
    let (status, fit) = server
        .post(
            &server.reader,
            "/v1/partners/fit",
            &json!({"partner": prospect, "k": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fit}");
    for group_by in ["region", "tier", "partner_type", "manager", "template"] {
        let (status, forecast) = server
            .get(&server.reader, &format!("/v1/forecast?group_by={group_by}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{group_by}: {forecast}");
    }
    let manager = data
        .partners
        .iter()
        .find_map(|p| p.manager_id.clone())
        .unwrap();
    let (status, attention) = server
        .get(&server.reader, &format!("/v1/managers/{manager}/attention"))
        .await;
    assert_eq!(status, StatusCode::OK, "{attention}");

    // Stateless: the stored plan's snapshot in the body gives recommendations without
    // storing anything.
    let (_, stored_plan) = server
        .get(&server.reader, &format!("/v1/plans/{}", plan.plan_id))
        .await;
    let activities: Vec<Value> = data
        .activities
        .iter()
        .filter(|a| a.plan_id == plan.plan_id)
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    let before = server.store.counts(TENANT).await.unwrap();
    let (status, stateless) = server
        .post(
            &server.reader,
            "/v1/recommendations",
            &json!({"plan": stored_plan, "activities": activities, "k": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stateless}");
    assert!(!stateless["actions"].as_array().unwrap().is_empty());
    assert!(stateless["actions"][0]["recommendation_id"].is_null());
    assert_eq!(server.store.counts(TENANT).await.unwrap(), before);

    // Metrics count requests per route template.
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("route=\"/v1/plans/{id}/next-best-actions\""),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("version=\"{version}\"")),
        "{metrics}"
    );
    server.stop().await;
}

fn partner_body(name: &str) -> Value {
    json!({
        "name": name,
        "partner_type": "msp",
        "tier": "gold",
        "region": "emea",
        "relationship_stage": "enhanced",
        "roles": ["sell", "service"],
        "nps": 40,
        "attributes": {"crm_score": 3.5, "focus": "cloud"},
    })
}

fn plan_body(partner: &str) -> Value {
    json!({
        "partner_id": partner,
        "start_date": "2026-07-01",
        "end_date": "2026-12-31",
        "status": "active",
        "template": "growth",
        "key_results": [
            {"kr_id": "kr-rev", "metric": "revenue", "target": 240000, "realized": 90000, "unit": "EUR", "objective": "Grow revenue"},
            {"kr_id": "kr-cert", "metric": "certifications", "target": 4, "realized": 1, "unit": "#"},
        ],
    })
}

/// `k` stopped at 20, below the 34 built-in kinds: a planning screen could not ask for
/// the whole ranking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k_reaches_the_size_of_the_tenants_catalog_and_no_further() {
    let server = start().await;
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, plan) = server.put("/v1/plans/pl1", &plan_body("p1")).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let r = server.reader.clone();
    let path = |k: usize| format!("/v1/plans/pl1/next-best-actions?k={k}");
    let (status, all) = server.get(&r, &path(34)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "k = 34, the built-in catalog: {all}"
    );
    let ranked = all["actions"].as_array().unwrap().len();
    let excluded = all["excluded"].as_array().unwrap().len();
    assert_eq!(
        ranked + excluded,
        34,
        "every action, ranked or excluded: {all}"
    );
    for k in [35, 0] {
        let (status, refused) = server.get(&r, &path(k)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "k = {k}: {refused}"
        );
        assert_eq!(refused["field"], "k", "{refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(
            detail.contains("between 1 and 34") && detail.contains("catalog"),
            "{detail}"
        );
    }
    // The same bound for a plan given in the body.
    let (_, stored) = server.get(&r, "/v1/plans/pl1").await;
    let (status, stateless) = server
        .post(&r, "/v1/recommendations", &json!({"plan": stored, "k": 34}))
        .await;
    assert_eq!(status, StatusCode::OK, "{stateless}");
    let (status, refused) = server
        .post(&r, "/v1/recommendations", &json!({"plan": stored, "k": 35}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "k", "{refused}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_scoped_and_bound_to_one_tenant() {
    let server = start().await;
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);

    // No key, a malformed key, an unknown key: 401 with a Bearer challenge.
    let response = server
        .client
        .get(server.url("/v1/partners/p1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    for bad in [
        "nope",
        "nbk_0123456789abcdef_wrong",
        &format!("{}x", server.reader),
    ] {
        let (status, value) = server.get(bad, "/v1/partners/p1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {value}");
    }

    // A read key cannot write; a write key cannot train.
    let (status, value) = server
        .send(
            reqwest::Method::PUT,
            &server.reader.clone(),
            "/v1/partners/p2",
            &partner_body("Two"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{value}");
    assert!(server
        .store
        .partner(TENANT, &nextbest::domain::Id::parse("p2").unwrap())
        .await
        .unwrap()
        .is_none());

    // Another tenant's key sees nothing of acme: its ids answer 404, lists are empty.
    let other = auth::create_key(&server.store, "globex", auth::Scope::Admin, None)
        .await
        .unwrap()
        .key;
    let (status, value) = server.get(&other, "/v1/partners/p1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{value}");
    let (status, page) = server.get(&other, "/v1/partners").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    // ... and writing the same id creates globex's own partner, leaving acme's alone.
    let (status, _) = server
        .send(
            reqwest::Method::PUT,
            &other,
            "/v1/partners/p1",
            &json!({"name": "Globex P1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = server.get(&server.reader, "/v1/partners/p1").await;
    assert_eq!(mine["name"], "One");

    // A revoked key stops working (the cache is per server; a new server sees it now).
    let id = server.reader.split('_').nth(1).unwrap().to_owned();
    assert!(server
        .store
        .revoke_api_key(TENANT, &id, chrono::Utc::now())
        .await
        .unwrap());
    let cache = nextbest::api::auth::KeyCache::default();
    assert!(auth::verify(&server.store, &cache, &server.reader)
        .await
        .is_err());
    assert!(auth::verify(&server.store, &cache, &server.writer)
        .await
        .is_ok());

    // Operations need no key, but the metrics (every tenant's model and index) need an
    // admin's.
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let metrics = |key: Option<&str>| {
        let mut request = server.client.get(server.url("/metrics"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(metrics(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(metrics(Some(&server.writer)).await, StatusCode::FORBIDDEN);
    assert_eq!(metrics(Some(&server.admin)).await, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_problem_json_with_the_field_and_changes_nothing() {
    let server = Server(
        TestApp::builder()
            .tenant(TENANT)
            .options(ServeOptions {
                body_limit: 4096,
                bulk_limit: 8192,
                ..demo_options()
            })
            .spawn()
            .await,
    );
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);
    let before = server.store.counts(TENANT).await.unwrap();
    let w = server.writer.clone();

    // Malformed JSON: 400 with the line.
    let response = server
        .client
        .put(server.url("/v1/partners/p9"))
        .bearer_auth(&w)
        .header("content-type", "application/json")
        .body("{\"name\": \"x\",\n \"tier\": }")
        .send()
        .await
        .unwrap();
    let (status, value) = decode(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem(&value), "malformed-json", "{value}");
    assert_eq!(value["line"], 2, "{value}");

    // Wrong types and values name the field.
    let (status, value) = server
        .put("/v1/partners/p9", &json!({"name": "x", "nps": "high"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "nps", "{value}");
    let (status, value) = server
        .put("/v1/partners/p9", &json!({"name": "x", "tier": "diamond"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "tier", "{value}");
    assert_eq!(value["value"], "diamond", "{value}");
    let (status, value) = server
        .put("/v1/partners/p9", &json!(["not", "an", "object"]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
    let (status, value) = server
        .put("/v1/partners/p9", &json!({"partner_id": "p8", "name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "partner_id", "{value}");

    // A plan of an unknown partner, a key result with a bad target, dates in the wrong order.
    let (status, value) = server.put("/v1/plans/pl1", &plan_body("nobody")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "partner_id", "{value}");
    let mut bad_kr = plan_body("p1");
    bad_kr["key_results"][1]["target"] = json!(-4);
    let (status, value) = server.put("/v1/plans/pl1", &bad_kr).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "target", "{value}");
    let mut bad_dates = plan_body("p1");
    bad_dates["end_date"] = json!("2026-01-01");
    let (status, value) = server.put("/v1/plans/pl1", &bad_dates).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "end_date", "{value}");

    // Unknown ids: 404.
    let r = server.reader.clone();
    for path in [
        "/v1/partners/ghost",
        "/v1/plans/ghost",
        "/v1/plans/ghost/next-best-actions",
        "/v1/plans/ghost/prediction",
        "/v1/plans/ghost/activities",
        "/v1/managers/ghost/attention",
        "/v1/jobs/job-ghost",
        "/v1/nothing-here",
    ] {
        let (status, value) = server.get(&r, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {value}");
    }
    let (status, _) = server
        .post(
            &w,
            "/v1/plans/ghost/activities",
            &json!({"kind": "qbr", "date": "2026-09-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .raw(
            &w,
            "/v1/bulk/ghosts",
            "application/x-ndjson",
            b"{}\n".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad query parameters.
    let (status, value) = server.get(&r, "/v1/partners?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "limit", "{value}");
    let (status, value) = server.get(&r, "/v1/partners?limit=many").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "limit", "{value}");
    let (status, value) = server.get(&r, "/v1/forecast?group_by=planet").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["field"], "group_by", "{value}");

    // Too large bodies: 413, for JSON and for bulk.
    let big = json!({"name": "x".repeat(8000)});
    let (status, value) = server.put("/v1/partners/p9", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{value}");
    let (status, _) = server
        .raw(
            &w,
            "/v1/bulk/partners",
            "application/x-ndjson",
            vec![b' '; 9000],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // The wrong content type: 415.
    let (status, _) = server
        .client
        .put(server.url("/v1/partners/p9"))
        .bearer_auth(&w)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A bulk body with a bad second line stores nothing, and says which line.
    let body =
        b"{\"partner_id\": \"b1\"}\n{\"partner_id\": \"b2\", \"employees\": \"lots\"}\n".to_vec();
    let (status, value) = server
        .raw(&w, "/v1/bulk/partners", "application/x-ndjson", body)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["line"], 2, "{value}");
    assert_eq!(value["field"], "employees", "{value}");

    assert_eq!(
        server.store.counts(TENANT).await.unwrap(),
        before,
        "no error wrote anything"
    );
    server.stop().await;
}

/// Issue 15, finding 11: `PUT /v1/plans/A` with a key result of plan B moved it from B to
/// A without a word. It is a 409 conflict naming the key result and both plans, over PUT
/// and bulk alike, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_result_of_another_plan_is_a_conflict_and_changes_nothing() {
    let server = start().await;
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, stored) = server.put("/v1/plans/pl1", &plan_body("p1")).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let mut empty = plan_body("p1");
    empty["key_results"] = json!([]);
    let (status, value) = server.put("/v1/plans/pl3", &empty).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let before = server.store.counts(TENANT).await.unwrap();

    let mut moving = plan_body("p1");
    moving["key_results"] =
        json!([{"kr_id": "kr-new", "target": 3}, {"kr_id": "kr-rev", "target": 5}]);
    let (status, value) = server.put("/v1/plans/pl2", &moving).await;
    assert_eq!(status, StatusCode::CONFLICT, "{value}");
    assert_eq!(problem(&value), "conflict", "{value}");
    assert_eq!(value["field"], "kr_id", "{value}");
    assert_eq!(value["value"], "kr-rev", "{value}");
    let detail = value["detail"].as_str().unwrap();
    assert!(
        detail.contains("`pl1`") && detail.contains("`pl2`"),
        "{detail}"
    );
    let (status, _) = server.get(&server.reader, "/v1/plans/pl2").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the plan was not created");

    let mut pl3 = moving.clone();
    pl3["plan_id"] = json!("pl3");
    let bodies = [
        (
            "key_results",
            ndjson(&[
                json!({"kr_id": "kr-ok", "plan_id": "pl1"}),
                json!({"kr_id": "kr-cert", "plan_id": "pl3"}),
            ]),
            2,
        ),
        ("plans", ndjson(&[pl3]), 1),
    ];
    for (entity, body, line) in bodies {
        let (status, value) = server.bulk(entity, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{entity}: {value}");
        assert_eq!(problem(&value), "conflict", "{value}");
        assert_eq!(value["line"], line, "{entity}: {value}");
        assert_eq!(value["field"], "kr_id", "{entity}: {value}");
    }

    let (_, after) = server.get(&server.reader, "/v1/plans/pl1").await;
    assert_eq!(
        after["key_results"], stored["key_results"],
        "pl1 keeps its key results"
    );
    assert_eq!(server.store.counts(TENANT).await.unwrap(), before);
    server.stop().await;
}

async fn resync_is_idempotent(server: Server) {
    let tenant = TENANT;
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, plan) = server.put("/v1/plans/pl1", &plan_body("p1")).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["key_results"].as_array().unwrap().len(), 2);
    let activity = json!({"kind": "joint_webinar", "date": "2026-08-03", "responsible": "joint"});
    let (status, stored) = server
        .post(&server.writer, "/v1/plans/pl1/activities", &activity)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let first = server.store.counts(tenant).await.unwrap();

    // The same writes again change nothing.
    let (_, partner) = server.put("/v1/partners/p1", &partner_body("One")).await;
    server.put("/v1/plans/pl1", &plan_body("p1")).await;
    server
        .post(&server.writer, "/v1/plans/pl1/activities", &activity)
        .await;
    assert_eq!(server.store.counts(tenant).await.unwrap(), first);

    // What GET returns can be PUT back unchanged (the attributes object included).
    assert_eq!(partner["attributes"]["crm_score"], 3.5, "{partner}");
    let (_, got) = server.get(&server.reader, "/v1/partners/p1").await;
    let (status, again) = server.put("/v1/partners/p1", &got).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, got);

    // Key results given are the complete set: one dropped is removed.
    let mut fewer = plan_body("p1");
    fewer["key_results"].as_array_mut().unwrap().pop();
    let (_, plan) = server.put("/v1/plans/pl1", &fewer).await;
    assert_eq!(plan["key_results"].as_array().unwrap().len(), 1, "{plan}");

    // Pages walk every row once.
    for i in 0..7 {
        server
            .put(
                &format!("/v1/partners/q{i}"),
                &json!({"name": format!("Q{i}")}),
            )
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/partners?limit=3&cursor={c}"),
            None => "/v1/partners?limit=3".to_owned(),
        };
        let (status, page) = server.get(&server.reader, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["partner_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in id order, no repeats");
    assert_eq!(seen.len(), 8);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_is_idempotent_on_sqlite() {
    resync_is_idempotent(start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_is_idempotent_on_postgres() {
    let Some(db) = crate::helpers::postgres("resync").await else {
        return;
    };
    let url = db.url.clone();
    // PostgreSQL is shared between runs: a tenant of its own.
    let tenant = format!("api-{}", uuid::Uuid::new_v4().simple());
    let server = Server(
        TestApp::builder()
            .database_url(&url)
            .tenant(&tenant)
            .options(demo_options())
            .spawn()
            .await,
    );
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, plan) = server.put("/v1/plans/pl1", &plan_body("p1")).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let first = server.store.counts(&tenant).await.unwrap();
    server.put("/v1/plans/pl1", &plan_body("p1")).await;
    assert_eq!(server.store.counts(&tenant).await.unwrap(), first);
    server.stop().await;
}

/// Waits until the server counts one request in flight besides the `/metrics` request
/// that asks (the metrics count that one too); false if it never does.
async fn one_request_inside(server: &Server) -> bool {
    for _ in 0..200 {
        let metrics = server
            .client
            .get(server.url("/metrics"))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        let text = metrics.text().await.unwrap();
        if text.contains("nextbest_http_requests_in_flight 2") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Opens a request whose body never finishes: it holds its place in the server.
async fn hold_a_request(server: &Server) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/bulk/partners HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/x-ndjson\r\ncontent-length: 1000\r\n\r\n{{\"partner_id\"",
        server.writer
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_answers_503_with_retry_after_and_slow_requests_time_out() {
    let server = Server(
        TestApp::builder()
            .tenant(TENANT)
            .options(ServeOptions {
                concurrency: 1,
                request_timeout: Duration::from_secs(2),
                ..demo_options()
            })
            .spawn()
            .await,
    );
    let (status, _) = server.put("/v1/partners/p1", &partner_body("One")).await;
    assert_eq!(status, StatusCode::OK);
    // One request in flight fills a limit of one: the next is shed at once.
    let mut held = hold_a_request(&server).await;
    // Wait until the server is inside the held request (the metrics count it).
    let inside = one_request_inside(&server).await;
    assert!(inside, "the held request never reached the server");
    let shed = server
        .client
        .get(server.url("/v1/partners/p1"))
        .bearer_auth(&server.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let (_, value) = decode(shed).await;
    assert_eq!(problem(&value), "overloaded");
    // Operations stay outside the limit.
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    // The held request runs into the timeout and is answered 504.
    use tokio::io::AsyncReadExt;
    let mut answer = vec![0_u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(10), held.read(&mut answer))
        .await
        .expect("the slow request was not answered")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(text.contains("urn:nextbest:problem:timeout"), "{text}");
    drop(held);
    // And the server is free again.
    let (status, _) = server.get(&server.reader, "/v1/partners/p1").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start().await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let line = b"{\"partner_id\": \"in-flight\"}\n";
    let mut body = line.to_vec();
    body.resize(1000, b' ');
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/bulk/partners HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/x-ndjson\r\ncontent-length: {}\r\n\r\n",
        server.writer,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    stream.flush().await.unwrap();
    // Wait until the server is inside the request, then ask it to stop.
    one_request_inside(&server).await;
    server.begin_stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are refused while the request in flight is still served.
    assert!(
        tokio::net::TcpStream::connect(&address).await.is_err(),
        "the server still accepts connections after the shutdown signal"
    );
    stream.write_all(&body[10..]).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = vec![0_u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("the request in flight was not answered")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(stream);
    // The server then stops, and the write it acknowledged is stored.
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("the server did not stop");
    // (The server closed its store on the way out: a new process would open it again.)
    let reopened = Store::open(&server.database_url).await.unwrap();
    let id = nextbest::domain::Id::parse("in-flight").unwrap();
    assert!(reopened.partner(TENANT, &id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_with_its_request_id_and_the_server_goes_on() {
    let boom = axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async {
            if std::env::var_os("NEXTBEST_NEVER_SET").is_none() {
                panic!("a handler bug");
            }
            "unreachable"
        }),
    );
    let server = TestApp::builder()
        .tenant(TENANT)
        .options(demo_options())
        .routes(boom)
        .spawn()
        .await;
    let (client, base, admin) = (&server.client, &server.base, &server.admin);
    let answer = client
        .get(format!("{base}/boom"))
        .header("x-request-id", "panic-7")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.headers()["x-request-id"], "panic-7");
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    let (_, value) = decode(answer).await;
    assert_eq!(problem(&value), "internal");
    // The connection's task survived, and so did the server: it answers and counts it.
    let metrics = crate::helpers::metrics_text(client, base, admin).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("nextbest_http_requests_total")
                && l.contains("route=\"/boom\"")
                && l.contains("status=\"500\"")),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_requests_get_problems_not_bodies_of_another_kind() {
    let server = start().await;
    // A method a path does not take: 405 problem+json, with the methods it takes.
    let response = server
        .client
        .delete(server.url("/v1/partners/p1"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("PUT"), "{allow}");
    let (status, value) = decode(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem(&value), "method-not-allowed", "{value}");

    // A caller's request id is echoed up to 128 visible characters; a longer one (or
    // one with spaces) is replaced.
    let echoed = |id: String| {
        let request = server
            .client
            .get(server.url("/healthz"))
            .header("x-request-id", id);
        async move {
            let response = request.send().await.unwrap();
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let fine = "a".repeat(128);
    assert_eq!(echoed(fine.clone()).await, fine);
    for bad in ["x".repeat(8000), "two words".to_owned()] {
        let got = echoed(bad.clone()).await;
        assert_ne!(got, bad);
        assert!(got.len() <= 128, "{}", got.len());
    }
    server.stop().await;
}

/// The schema `schema` stands for: a `$ref` is followed into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// What is wrong with `value` as an instance of `schema`, in the part of JSON Schema the
/// derived document uses, held stricter than JSON Schema in one way: every key of an
/// object must be declared, so a generic `object` (or a field the document forgot) fails.
fn nonconformities(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let matching = alternatives
            .iter()
            .filter(|s| nonconformities(doc, s, value, at).is_empty())
            .count();
        return if matching == 1 {
            Vec::new()
        } else {
            vec![format!(
                "{at}: matches {matching} of its oneOf alternatives"
            )]
        };
    }
    if schema.get("allOf").is_some() {
        // openapi-python-client refuses `allOf` over a `oneOf` (and drops the answers
        // that use it), so the document writes flattened enums as `oneOf`.
        return vec![format!("{at}: allOf in an answer's schema")];
    }
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let declared: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return vec![format!("{at}: the schema names no type: {schema}")],
    };
    if !declared
        .iter()
        .any(|t| *t == actual || (*t == "number" && actual == "integer"))
    {
        return vec![format!("{at}: {actual}, documented as {declared:?}")];
    }
    let mut wrong = Vec::new();
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            wrong.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    wrong.push(format!("{at}.{name}: required, missing"));
                }
            }
            for (name, field) in fields {
                match schema["properties"].get(name) {
                    Some(s) => {
                        wrong.extend(nonconformities(doc, s, field, &format!("{at}.{name}")))
                    }
                    None => wrong.push(format!("{at}.{name}: not declared")),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                wrong.extend(nonconformities(
                    doc,
                    &schema["items"],
                    item,
                    &format!("{at}[{i}]"),
                ));
            }
        }
        _ => {}
    }
    wrong
}

/// Issue 16, the typed contract: every engine answer has a named schema in
/// `/openapi.json` (not a generic object, as before), and the live answers conform to
/// it field by field, so a client generated from the document parses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_answer_is_typed_in_the_openapi_document() {
    let server = start().await;
    let data = small_world();
    bulk_load(&server, &data).await;
    let job = train_over_http(&server).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let doc: Value = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let plan = data
        .plans
        .iter()
        .find(|p| p.status == nextbest::domain::PlanStatus::Active)
        .unwrap();
    let (plan_id, partner) = (plan.plan_id.as_str(), plan.partner_id.as_str());
    let manager = data
        .partners
        .iter()
        .find_map(|p| p.manager_id.clone())
        .unwrap();
    let (_, stored_plan) = server
        .get(&server.reader, &format!("/v1/plans/{plan_id}"))
        .await;
    let (_, mut prospect) = server
        .get(&server.reader, &format!("/v1/partners/{partner}"))
        .await;
    prospect.as_object_mut().unwrap().remove("partner_id");
    let get =
        |path: String, template: &'static str| (reqwest::Method::GET, path, template, Value::Null);
    let post = |path: String, template: &'static str, body: Value| {
        (reqwest::Method::POST, path, template, body)
    };
    let calls = [
        get(
            format!("/v1/plans/{plan_id}/next-best-actions?k=34"),
            "/v1/plans/{id}/next-best-actions",
        ),
        post(
            "/v1/recommendations".into(),
            "/v1/recommendations",
            json!({"plan": stored_plan, "k": 34}),
        ),
        get(
            format!("/v1/plans/{plan_id}/prediction"),
            "/v1/plans/{id}/prediction",
        ),
        post(
            format!("/v1/plans/{plan_id}/what-if"),
            "/v1/plans/{id}/what-if",
            json!({"add": [{"kind": "joint_webinar", "quantity": 2}]}),
        ),
        get(
            format!("/v1/partners/{partner}/similar?k=20"),
            "/v1/partners/{id}/similar",
        ),
        get(
            format!("/v1/partners/{partner}/benchmark"),
            "/v1/partners/{id}/benchmark",
        ),
        post(
            "/v1/partners/fit".into(),
            "/v1/partners/fit",
            json!({"partner": prospect, "k": 10}),
        ),
        get("/v1/forecast?group_by=manager".into(), "/v1/forecast"),
        get(
            format!("/v1/managers/{manager}/attention?limit=500"),
            "/v1/managers/{id}/attention",
        ),
    ];
    for (method, path, template, body) in calls {
        let operation = &doc["paths"][template][method.as_str().to_lowercase()];
        let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        let named = schema["$ref"].as_str().or(schema["items"]["$ref"].as_str());
        assert!(
            named.is_some(),
            "{method} {template}: the answer has no named schema: {schema}"
        );
        let (status, answer) = if method == reqwest::Method::GET {
            server.get(&server.reader, &path).await
        } else {
            server.post(&server.reader, &path, &body).await
        };
        assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
        let wrong = nonconformities(&doc, schema, &answer, "answer");
        assert!(
            wrong.is_empty(),
            "{method} {path} does not conform to {}: {wrong:#?}",
            named.unwrap_or_default()
        );
    }
    server.stop().await;
}
