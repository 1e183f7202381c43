//! The dashboard over a real server on 127.0.0.1:0, a real SQLite file, a trained model
//! and a real qdrant-edge shard: no data without a session, the leadership chart's
//! numbers equal `GET /v1/forecast`, a manager's button stores feedback, and a read-only
//! key stores nothing. The browser run (`.ci/browser/dashboard.mjs`) drives the same
//! pages in Chromium.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use nextbest::api::{self, auth, AppState, ServeOptions};
use nextbest::config::Config;
use nextbest::model::pipeline;
use nextbest::nba;
use nextbest::synth::SynthParams;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::helpers::{config_in, TrainedWorld};

struct Site {
    base: String,
    client: Client,
    admin: String,
    reader: String,
}

impl Site {
    async fn api(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    /// Signs in with `key` and returns the session cookie.
    async fn login(&self, key: &str) -> String {
        let r = self
            .client
            .post(format!("{}/ui/login", self.base))
            .form(&[("key", key), ("next", "/ui")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/ui");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn page(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }
}

/// Every `data-testid="forecast-bar"` group's attributes, by group.
fn bars(html: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    html.split("<g data-testid=\"forecast-bar\"")
        .skip(1)
        .map(|chunk| {
            let tag = &chunk[..chunk.find('>').unwrap()];
            let attrs: BTreeMap<String, String> = tag
                .split("\" ")
                .filter_map(|a| a.trim().split_once("=\""))
                .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
                .collect();
            (attrs["data-group"].clone(), attrs)
        })
        .collect()
}

fn pct(x: &Value) -> String {
    ((x.as_f64().unwrap() * 100.0).round() as i64).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_apis_numbers_to_signed_in_users_only() {
    let params = SynthParams {
        partners: 80,
        seed: 31,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let TrainedWorld {
        db,
        world: _world,
        registry,
        models,
    } = crate::helpers::trained_world("web", &params).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        models_dir: models.path().to_owned(),
        ..config_in(dir.path(), &db.tenant)
    };
    let options = ServeOptions {
        as_of: NaiveDate::from_ymd_opt(2026, 10, 1),
        ..ServeOptions::default()
    };
    let state = AppState::new(db.store.clone(), config, options);
    let (model, _) = pipeline::active_model(&registry, &db.tenant).unwrap();
    let index = state
        .index(model.profile.as_ref().unwrap().dimension())
        .unwrap();
    nba::peers::reindex(&db.store, &registry, index.as_ref(), &db.tenant)
        .await
        .unwrap();
    let key = |scope| {
        let (store, tenant) = (db.store.clone(), db.tenant.clone());
        async move {
            auth::create_key(&store, &tenant, scope, None)
                .await
                .unwrap()
                .key
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = Site {
        base: format!("http://{}", listener.local_addr().unwrap()),
        client: Client::builder().redirect(Policy::none()).build().unwrap(),
        admin: key(auth::Scope::Admin).await,
        reader: key(auth::Scope::Read).await,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = nextbest::web::app(state.clone());
    let server = tokio::spawn(api::serve_app(listener, state, app, async {
        let _ = stopped.await;
    }));

    // Every answer carries a request id: the caller's, or a new one.
    let r = site
        .client
        .get(format!("{}/healthz", site.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let r = site
        .client
        .get(format!("{}/ui", site.base))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // Without a session: the login page, never data.
    for path in [
        "/ui",
        "/ui/managers/m001",
        "/ui/partners/p0001",
        "/ui/partners/p0001/digest",
    ] {
        let (status, body) = site.page("nextbest_session=forged", path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {body}");
    }
    let (status, login) = site.page("", "/ui/login?next=%2Fui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains("name=\"key\"") && !login.contains("forecast-chart"));
    let r = site
        .client
        .post(format!("{}/ui/login", site.base))
        .form(&[("key", "nbk_0000000000000000_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("role=\"alert\""));

    // Leadership: one bar per group with the forecast API's numbers.
    let cookie = site.login(&site.admin).await;
    for group_by in ["region", "tier", "partner_type", "manager"] {
        let (status, html) = site
            .page(&cookie, &format!("/ui?group_by={group_by}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let drawn = bars(&html);
        let forecast = site.api(&format!("/v1/forecast?group_by={group_by}")).await;
        let groups = forecast["groups"].as_array().unwrap();
        assert_eq!(drawn.len(), groups.len(), "{group_by}: {drawn:?}");
        for g in groups {
            let bar = &drawn[g["key"].as_str().unwrap()];
            assert_eq!(
                bar["data-expected-percent"],
                pct(&g["expected_attainment"]),
                "{g}"
            );
            assert_eq!(bar["data-low-percent"], pct(&g["attainment_low"]), "{g}");
            assert_eq!(bar["data-high-percent"], pct(&g["attainment_high"]), "{g}");
            assert_eq!(bar["data-plans"], g["plans"].to_string(), "{g}");
            assert_eq!(bar["data-at-risk"], g["at_risk"].to_string(), "{g}");
            // What a reader sees says the same.
            let label = format!(
                "{}% ({}–{}%)",
                pct(&g["expected_attainment"]),
                pct(&g["attainment_low"]),
                pct(&g["attainment_high"])
            );
            assert!(html.contains(&label), "{label}");
        }
    }

    // A manager clicks "Done": the feedback is stored, the page says so.
    let (_, overview) = site.page(&cookie, "/ui").await;
    let manager = overview
        .split("href=\"/ui/managers/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let (status, page) = site.page(&cookie, &format!("/ui/managers/{manager}")).await;
    assert_eq!(status, StatusCode::OK);
    let action = page
        .split("data-testid=\"action\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no action on the page of {manager}"));
    let attr = |name: &str| {
        action
            .split(&format!("{name}=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned()
    };
    let (rid, plan, kind) = (
        attr("data-recommendation-id"),
        attr("data-plan-id"),
        attr("data-kind"),
    );
    let back = format!("/ui/managers/{manager}");
    let form = [
        ("recommendation_id", rid.as_str()),
        ("plan_id", plan.as_str()),
        ("kind", kind.as_str()),
        ("response", "completed"),
        ("back", back.as_str()),
    ];
    // A read-only key may look but not record.
    let read_cookie = site.login(&site.reader).await;
    let r = site
        .client
        .post(format!("{}/ui/feedback", site.base))
        .header("cookie", &read_cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let stored = site.api(&format!("/v1/feedback?plan_id={plan}")).await;
    assert!(stored["items"].as_array().unwrap().is_empty(), "{stored}");

    let r = site
        .client
        .post(format!("{}/ui/feedback", site.base))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        panic!(
            "feedback refused: {} {}",
            r.status(),
            r.text().await.unwrap()
        );
    }
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&back), "{location}");
    let stored = site.api(&format!("/v1/feedback?plan_id={plan}")).await;
    let items = stored["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|f| f["recommendation_id"] == rid.as_str() && f["response"] == "completed"),
        "{stored}"
    );
    let (_, after) = site.page(&cookie, &location).await;
    assert!(after.contains("role=\"status\""), "{after}");

    // The partner view: plan, benchmark, similar partners, the digest.
    let partner = page
        .split("href=\"/ui/partners/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let (status, view) = site.page(&cookie, &format!("/ui/partners/{partner}")).await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "data-testid=\"benchmark\"",
        "data-testid=\"similar\"",
        "data-testid=\"digest-preview\"",
    ] {
        assert!(view.contains(part), "{part} missing");
    }
    let (status, digest) = site
        .page(&cookie, &format!("/ui/partners/{partner}/digest"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(digest.contains("<h1"));
    let (status, _) = site.page(&cookie, "/ui/partners/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Signing out ends the session.
    let r = site
        .client
        .post(format!("{}/ui/logout", site.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = site.page(&cookie, "/ui").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
