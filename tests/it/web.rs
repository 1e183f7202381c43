//! The dashboard over a real server on 127.0.0.1:0, a real SQLite file, a trained model
//! and a real qdrant-edge shard: no data without a session, the leadership chart's
//! numbers equal `GET /v1/forecast`, a manager's button stores feedback, and a read-only
//! key stores nothing. The browser run (`.ci/browser/dashboard.mjs`) drives the same
//! pages in Chromium.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use nextbest::api::{auth, ServeOptions};
use nextbest::eval::synth::SynthParams;
use nextbest::model::pipeline;
use nextbest::nba;
use reqwest::StatusCode;
use serde_json::Value;

use crate::app::TestApp;
use crate::helpers::{TrainedWorld, FIXTURE};

/// A [`TestApp`] serving the dashboard, with what a browser does on it.
struct Site(TestApp);

impl std::ops::Deref for Site {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.0
    }
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

    /// POSTs a dashboard form with `cookie` (none when empty), sent from `origin` as a
    /// browser says it in the `Origin` header (no header when `None`).
    async fn post(
        &self,
        path: &str,
        cookie: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(form);
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.unwrap()
    }

    /// Signs in with `key` and returns the session cookie.
    async fn login(&self, key: &str) -> String {
        let r = self.sign_in(key).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/ui");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        cookie.split(';').next().unwrap().to_owned()
    }

    /// POSTs the sign-in form with `key`, from the dashboard's own origin.
    async fn sign_in(&self, key: &str) -> reqwest::Response {
        let form = [("key", key), ("next", "/ui")];
        self.post("/ui/login", "", Some(&self.base), &form).await
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
    let options = ServeOptions {
        as_of: NaiveDate::from_ymd_opt(2026, 10, 1),
        ..ServeOptions::default()
    };
    let site = Site(
        TestApp::builder()
            .on(&db)
            .models_dir(models.path())
            .options(options)
            .dashboard()
            .spawn()
            .await,
    );
    let (model, _) = pipeline::active_model(&registry, &db.tenant).unwrap();
    let index = site
        .state
        .service()
        .index(model.profile.as_ref().unwrap().dimension())
        .unwrap();
    nba::peers::reindex(&db.store, &registry, index.as_ref(), &db.tenant)
        .await
        .unwrap();

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
    let r = site.sign_in("nbk_0000000000000000_wrong").await;
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
        .post("/ui/feedback", &read_cookie, Some(&site.base), &form)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let stored = site.api(&format!("/v1/feedback?plan_id={plan}")).await;
    assert!(stored["items"].as_array().unwrap().is_empty(), "{stored}");

    let r = site
        .post("/ui/feedback", &cookie, Some(&site.base), &form)
        .await;
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
        .post("/ui/logout", &cookie, Some(&site.base), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = site.page(&cookie, "/ui").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    site.stop().await;
}

/// The CSV fixture in a SQLite file of its own, held open by the test as another
/// process would hold it; dashboard servers over it start with [`Fixture::serve`].
struct Fixture {
    db: crate::helpers::Backend,
}

async fn fixture(test: &str) -> Fixture {
    let db = crate::helpers::sqlite(test).await;
    db.import(
        std::path::Path::new(FIXTURE),
        &nextbest::import::ImportOptions::default(),
    )
    .await
    .unwrap();
    Fixture { db }
}

impl Fixture {
    /// Serves the dashboard over the fixture's file, opened afresh as a new process
    /// would (a stopped server closes its store), with keys of its own.
    async fn serve(&self, options: ServeOptions) -> Site {
        Site(
            TestApp::builder()
                .on(&self.db)
                .options(options)
                .dashboard()
                .spawn()
                .await,
        )
    }

    /// The fixture's feedback rows, by response.
    async fn feedback(&self) -> BTreeMap<String, i64> {
        self.db
            .store
            .counts(&self.db.tenant)
            .await
            .unwrap()
            .feedback
    }
}

/// A manager's button on a plan of the fixture, answering `response`.
fn feedback_form(response: &str) -> [(&str, &str); 5] {
    [
        ("recommendation_id", "r-web-1"),
        ("plan_id", "acme-2025h2"),
        ("kind", "partner_lunch"),
        ("response", response),
        ("back", "/ui/managers/ann"),
    ]
}

/// Where a 303 points.
fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_session_survives_a_restart() {
    let fx = fixture("web-restart").await;
    let first = fx.serve(ServeOptions::default()).await;
    let cookie = first.login(&first.admin).await;
    let (status, body) = first.page(&cookie, "/ui").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Another process on the same file honours the same cookie.
    let second = Site(first.0.restart().await);
    let (status, body) = second.page(&cookie, "/ui").await;
    assert_eq!(status, StatusCode::OK, "after a restart: {body}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_ends_its_dashboard_sessions_at_once() {
    let fx = fixture("web-revoke").await;
    let running = fx.serve(ServeOptions::default()).await;
    let site = &running;
    let cookie = site.login(&running.admin).await;
    // A manager's button, sent from the dashboard with the session.
    let press = |response: &'static str| {
        let form = feedback_form(response);
        let (site, cookie) = (&site, &cookie);
        async move {
            let r = site
                .post("/ui/feedback", cookie, Some(&site.base), &form)
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{response}");
            location(&r)
        }
    };
    let to = press("accepted").await;
    assert!(to.starts_with("/ui/managers/ann?saved="), "{to}");
    assert_eq!(
        fx.feedback().await,
        BTreeMap::from([("accepted".into(), 1)])
    );

    // Revoked as `nextbest keys revoke` does, from a process of its own: the very next
    // view is the sign-in form, and a button stores nothing.
    let key_id = running.admin.split('_').nth(1).unwrap();
    assert!(fx
        .db
        .store
        .revoke_api_key(&fx.db.tenant, key_id, chrono::Utc::now())
        .await
        .unwrap());
    let r = site
        .client
        .get(format!("{}/ui", site.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/ui/login?next=%2Fui");
    let to = press("dismissed").await;
    assert!(to.starts_with("/ui/login?next="), "{to}");
    assert_eq!(
        fx.feedback().await,
        BTreeMap::from([("accepted".into(), 1)])
    );
    // ... and the revoked key cannot start a new session either.
    let r = site.sign_in(&running.admin).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    running.stop().await;
}

/// The headers every `/ui` answer carries, whatever its status.
fn assert_secure_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {csp}");
    }
    assert!(!csp.contains("script-src"), "{what}: {csp}");
    assert_eq!(
        h.get("x-content-type-options").unwrap(),
        "nosniff",
        "{what}"
    );
    assert_eq!(h.get("cache-control").unwrap(), "no-store", "{what}");
    assert_eq!(h.get("referrer-policy").unwrap(), "same-origin", "{what}");
    // Only the digest preview may be framed, and only by the dashboard itself.
    let (frame_ancestors, x_frame) = if what.ends_with("/digest") {
        ("frame-ancestors 'self'", "SAMEORIGIN")
    } else {
        ("frame-ancestors 'none'", "DENY")
    };
    assert!(csp.contains(frame_ancestors), "{what}: {csp}");
    assert_eq!(h.get("x-frame-options").unwrap(), x_frame, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_answer_carries_the_security_headers() {
    let fx = fixture("web-headers").await;
    let running = fx.serve(ServeOptions::default()).await;
    let site = &running;
    let get = |path: &str, cookie: &str| {
        let request = site.client.get(format!("{}{path}", site.base));
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("cookie", cookie)
        };
        async move { request.send().await.unwrap() }
    };
    for (path, status) in [
        ("/ui", 303),
        ("/ui/login", 200),
        ("/ui/partners/acme/digest", 303),
    ] {
        let r = get(path, "").await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_secure_headers(&r, &format!("GET {path}, signed out"));
    }
    let r = site.sign_in("nbk_wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_secure_headers(&r, "POST /ui/login with a wrong key");
    let r = site.sign_in(&running.admin).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_secure_headers(&r, "POST /ui/login");
    let cookie = site.login(&running.admin).await;
    for (path, status) in [
        ("/ui", 200),
        ("/ui/partners/acme", 200),
        ("/ui/partners/acme/digest", 200),
        ("/ui/partners/nobody", 404),
        ("/ui/no-such-page", 404),
    ] {
        let r = get(path, &cookie).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_secure_headers(&r, &format!("GET {path}"));
        if path == "/ui/partners/acme" {
            // The page frames its digest preview, and nothing else.
            let csp = r.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-src 'self'"), "{csp}");
        }
    }
    let r = site
        .post(
            "/ui/feedback",
            &cookie,
            Some("https://evil.example"),
            &feedback_form("accepted"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_secure_headers(&r, "POST /ui/feedback from another site");
    let r = site
        .post(
            "/ui/feedback",
            &cookie,
            Some(&site.base),
            &[("plan_id", "x")],
        )
        .await;
    assert!(r.status().is_client_error(), "{:?}", r.status());
    assert_secure_headers(&r, "POST /ui/feedback with a broken form");
    let r = site
        .post("/ui/logout", &cookie, Some(&site.base), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_secure_headers(&r, "POST /ui/logout");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_forms_sent_from_elsewhere_are_refused_and_change_nothing() {
    let fx = fixture("web-origin").await;
    let running = fx.serve(ServeOptions::default()).await;
    let site = &running;
    let refused = |r: reqwest::Response, what: &'static str| async move {
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert!(r.headers().get("set-cookie").is_none(), "{what}");
        let body = r.text().await.unwrap();
        assert!(body.contains("role=\"alert\""), "{what}: {body}");
        assert!(body.contains("nothing was changed"), "{what}: {body}");
        body
    };

    // Signing in from another site starts no session.
    let r = site
        .post(
            "/ui/login",
            "",
            Some("https://evil.example"),
            &[("key", running.admin.as_str())],
        )
        .await;
    let body = refused(r, "login from another site").await;
    assert!(body.contains("https://evil.example"), "{body}");

    let cookie = site.login(&running.admin).await;
    let form = feedback_form("accepted");
    // A button's POST with these `(name, value)` headers besides the session cookie.
    let send = |headers: &[(&str, &str)], form: &[(&str, &str)]| {
        let mut request = site
            .client
            .post(format!("{}/ui/feedback", site.base))
            .header("cookie", &cookie)
            .form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.unwrap() }
    };
    let port: u16 = site.base.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1));
    for (headers, what) in [
        (vec![("origin", "https://evil.example")], "a foreign Origin"),
        (vec![("origin", "null")], "an opaque Origin"),
        (vec![("origin", other_port.as_str())], "another port"),
        (
            vec![
                ("origin", "https://evil.example"),
                ("referer", site.base.as_str()),
            ],
            "a foreign Origin with our Referer",
        ),
        (
            vec![("referer", "https://evil.example/ui/managers/ann")],
            "a foreign Referer",
        ),
        (vec![], "neither Origin nor Referer"),
    ] {
        let body = refused(send(&headers, &form).await, what).await;
        if headers.is_empty() {
            assert!(body.contains("Origin"), "{body}");
        }
    }
    assert_eq!(fx.feedback().await, BTreeMap::new());

    // Signing out from another site leaves the session as it was.
    let r = site
        .post("/ui/logout", &cookie, Some("https://evil.example"), &[])
        .await;
    refused(r, "logout from another site").await;
    let (status, _) = site.page(&cookie, "/ui").await;
    assert_eq!(status, StatusCode::OK);

    // The dashboard's own pages: by Origin, or by Referer when a browser sends no Origin.
    let r = send(&[("origin", site.base.as_str())], &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let referer = format!("{}/ui/managers/ann", site.base);
    let r = send(
        &[("referer", referer.as_str())],
        &feedback_form("dismissed"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        fx.feedback().await,
        BTreeMap::from([("accepted".into(), 1), ("dismissed".into(), 1)])
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_as_the_server_is_deployed_whatever_the_host_header_says() {
    let fx = fixture("web-secure").await;
    for (secure_cookies, host) in [(true, "localhost"), (false, "nextbest.example.com")] {
        let options = ServeOptions {
            secure_cookies,
            ..ServeOptions::default()
        };
        let running = fx.serve(options).await;
        let site = &running;
        let port = site.base.rsplit(':').next().unwrap();
        let host = format!("{host}:{port}");
        let r = site
            .client
            .post(format!("{}/ui/login", site.base))
            .header("host", &host)
            .header("origin", format!("http://{host}"))
            .form(&[("key", running.admin.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "Host {host}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(
            cookie.split(';').any(|a| a.trim() == "Secure"),
            secure_cookies,
            "secure_cookies = {secure_cookies}, Host {host}: {cookie}"
        );
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_sessions_expire_end_and_go_with_their_key_on_every_backend() {
    use chrono::{Duration, Utc};
    use nextbest::store::NewSession;
    use sha2::{Digest, Sha256};

    sqlx::any::install_default_drivers();
    for db in crate::helpers::backends("web-session-store").await {
        let name = db.name;
        let key = auth::create_key(&db.store, &db.tenant, auth::Scope::Write, None)
            .await
            .unwrap();
        let t0 = Utc::now();
        let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
        let (a, b, c, d) = (digest("a"), digest("b"), digest("c"), digest("d"));
        let session = |token_sha256, created_at| NewSession {
            token_sha256,
            tenant_id: &db.tenant,
            key_id: &key.key_id,
            created_at,
            expires_at: created_at + Duration::hours(12),
        };
        let lookup = |token_sha256: &str, at| {
            let (store, token_sha256) = (db.store.clone(), token_sha256.to_owned());
            async move {
                store
                    .dashboard_session_key(&token_sha256, at)
                    .await
                    .unwrap()
            }
        };

        // A session is its key row as it is now, until it expires.
        assert!(db
            .store
            .start_dashboard_session(&session(&a, t0))
            .await
            .unwrap());
        let row = lookup(&a, t0).await.unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            (
                row.tenant_id.as_str(),
                row.key_id.as_str(),
                row.scope.as_str()
            ),
            (db.tenant.as_str(), key.key_id.as_str(), "write"),
            "{name}"
        );
        assert!(lookup(&a, t0 + Duration::hours(12) - Duration::seconds(1))
            .await
            .is_some());
        assert!(
            lookup(&a, t0 + Duration::hours(12)).await.is_none(),
            "{name}"
        );
        assert!(lookup(&digest("forged"), t0).await.is_none(), "{name}");
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE api_keys SET scope = 'read' WHERE key_id = $1")
            .bind(&key.key_id)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(lookup(&a, t0).await.unwrap().scope, "read", "{name}");

        // Signing out ends it; again is no error.
        db.store.end_dashboard_session(&a).await.unwrap();
        db.store.end_dashboard_session(&a).await.unwrap();
        assert!(lookup(&a, t0).await.is_none(), "{name}");

        // A sign-in deletes the tenant's expired sessions.
        assert!(db
            .store
            .start_dashboard_session(&session(&b, t0))
            .await
            .unwrap());
        let later = t0 + Duration::hours(13);
        assert!(db
            .store
            .start_dashboard_session(&session(&c, later))
            .await
            .unwrap());
        assert!(
            lookup(&b, t0).await.is_none(),
            "{name}: the expired row is gone"
        );

        // Another tenant cannot open a session with this key.
        let elsewhere = NewSession {
            tenant_id: "another-tenant",
            ..session(&d, later)
        };
        assert!(!db.store.start_dashboard_session(&elsewhere).await.unwrap());

        // Revoking the key deletes its sessions with it, and opens no new one.
        let rows = |pool: sqlx::AnyPool, key_id: String| async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM dashboard_sessions WHERE key_id = $1",
            )
            .bind(key_id)
            .fetch_one(&pool)
            .await
            .unwrap()
        };
        assert_eq!(rows(pool.clone(), key.key_id.clone()).await, 1, "{name}");
        assert!(db
            .store
            .revoke_api_key(&db.tenant, &key.key_id, later)
            .await
            .unwrap());
        assert_eq!(rows(pool.clone(), key.key_id.clone()).await, 0, "{name}");
        assert!(lookup(&c, later).await.is_none(), "{name}");
        assert!(!db
            .store
            .start_dashboard_session(&session(&d, later))
            .await
            .unwrap());
        assert_eq!(rows(pool.clone(), key.key_id.clone()).await, 0, "{name}");
        pool.close().await;
    }
}
