//! Digests end to end on a real SQLite file, a trained model and a real qdrant-edge shard:
//! every number a digest states is one of its facts, sparse partners are told what is
//! missing, and LLM wording is used only when it passes the fact check (a local stand-in
//! for the chat-completions endpoint: the one fake allowed, since no model runs here).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDate;
use nextbest::api::ServeOptions;
use nextbest::digest::check::{untraceable, visible_text, FactIndex};
use nextbest::digest::llm::{Llm, LlmConfig};
use nextbest::digest::locale::Locale;
use nextbest::digest::{compose, facts, Audience, Digest, DigestError, LEADERSHIP_ID};
use nextbest::domain::{Dataset, Id, KeyResult, Partner, Plan, PlanStatus};
use nextbest::eval::synth::SynthParams;
use nextbest::model::Registry;
use nextbest::nba::Engine;
use serde_json::{json, Value};

use crate::app::TestApp;
use crate::helpers::{sqlite, Backend, TrainedWorld};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
}

struct World {
    db: Backend,
    engine: Engine,
    models: std::path::PathBuf,
    _trained: (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir),
}

/// A small generated world, imported, trained and indexed.
async fn world() -> World {
    let params = SynthParams {
        partners: 120,
        seed: 23,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let w = crate::helpers::indexed_world("digest", &params, as_of()).await;
    let TrainedWorld {
        db, world, models, ..
    } = w.trained;
    World {
        db,
        engine: w.engine,
        models: models.path().to_owned(),
        _trained: (world, models, w.vectors),
    }
}

/// Every number in the three renderings is a fact, and nothing reads NaN or n/a.
fn assert_traceable(d: &Digest, locale: &Locale) {
    let facts = FactIndex::of(&d.facts);
    for (format, text) in [
        ("markdown", d.markdown.clone()),
        ("text", d.text.clone()),
        ("html", visible_text(&d.html)),
    ] {
        let bad = untraceable(&text, &facts, locale);
        assert!(
            bad.is_empty(),
            "the {format} {} digest for {} ({}) states numbers that are not facts: {bad:?}\n{text}",
            d.audience.as_str(),
            d.recipient_id,
            locale.code()
        );
        assert!(
            !text.contains("NaN") && !text.contains("n/a"),
            "{format}: {text}"
        );
    }
}

async fn digest(w: &World, audience: Audience, id: &str, locale: &str) -> Digest {
    compose(
        &w.db.store,
        &w.engine,
        None,
        audience,
        id,
        as_of(),
        None,
        locale,
    )
    .await
    .unwrap_or_else(|e| panic!("{} digest for {id}: {e}", audience.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_state_only_their_facts_and_say_what_is_missing() {
    let w = world().await;
    let partners = facts::recipients(&w.db.store, &w.db.tenant, Audience::Partner)
        .await
        .unwrap();
    let managers = facts::recipients(&w.db.store, &w.db.tenant, Audience::Manager)
        .await
        .unwrap();
    assert!(
        partners.len() >= 10 && managers.len() >= 2,
        "{partners:?} {managers:?}"
    );

    let mut asks = 0;
    let mut changes = 0;
    let mut peers = 0;
    for (i, id) in partners.iter().take(8).enumerate() {
        let locale = ["en", "de", "fr"][i % 3];
        let d = digest(&w, Audience::Partner, id, locale).await;
        assert_traceable(&d, &Locale::parse(locale).unwrap());
        assert_eq!(d.facts["audience"], "partner");
        asks += d.facts["asks"].as_array().map_or(0, Vec::len);
        changes += d.facts["changes"].as_array().map_or(0, Vec::len);
        peers += usize::from(!d.facts["peer"].is_null());
        // The book's progress line, word for word from the facts.
        if locale == "en" {
            progress_lines_match_the_facts(&d);
        }
    }
    assert!(
        asks > 0 && changes > 0 && peers > 0,
        "asks {asks}, changes {changes}, peers {peers}"
    );

    for id in managers.iter().take(3) {
        let d = digest(&w, Audience::Manager, id, "en").await;
        assert_traceable(&d, &Locale::default());
        assert!(d.markdown.contains("## Needs attention"), "{}", d.markdown);
    }
    for locale in ["en", "de"] {
        let d = digest(&w, Audience::Leadership, LEADERSHIP_ID, locale).await;
        assert_traceable(&d, &Locale::parse(locale).unwrap());
        let groupings = d.facts["groupings"].as_array().unwrap();
        assert_eq!(groupings.len(), 3, "region, tier, partner type");
        assert!(d.html.contains("Predicted against target by region"));
    }

    // The check can fail: one invented number in an otherwise true digest is caught.
    let d = digest(&w, Audience::Partner, &partners[0], "en").await;
    let tampered = format!("{}\nRevenue grew by 987,654 EUR.", d.markdown);
    assert_eq!(
        untraceable(&tampered, &FactIndex::of(&d.facts), &Locale::default()),
        vec!["987,654"]
    );

    // Wrong recipients and dates are refused, naming what was wrong.
    let err = compose(
        &w.db.store,
        &w.engine,
        None,
        Audience::Partner,
        "nobody",
        as_of(),
        None,
        "en",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DigestError::UnknownRecipient { .. }), "{err}");
    let err = compose(
        &w.db.store,
        &w.engine,
        None,
        Audience::Leadership,
        "x",
        as_of(),
        None,
        "en",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("all"), "{err}");
    let later = as_of().succ_opt();
    let err = compose(
        &w.db.store,
        &w.engine,
        None,
        Audience::Partner,
        &partners[0],
        as_of(),
        later,
        "en",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DigestError::Since { .. }), "{err}");
    let err = compose(
        &w.db.store,
        &w.engine,
        None,
        Audience::Partner,
        &partners[0],
        as_of(),
        None,
        "xx",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DigestError::Locale(_)), "{err}");

    llm_wording_is_used_only_when_it_passes_the_check(&w, &partners[0]).await;
    the_api_serves_digests_and_counts_llm_rejections(&w, &partners[0]).await;
}

/// `Objective = realized / target (N% completed)` for every objective of one unit.
fn progress_lines_match_the_facts(d: &Digest) {
    let en = Locale::default();
    for plan in d.facts["plans"].as_array().unwrap() {
        for o in plan["objectives"].as_array().unwrap() {
            let (Some(r), Some(t), Some(p)) = (
                o["realized"].as_f64(),
                o["target"].as_f64(),
                o["percent"].as_i64(),
            ) else {
                continue;
            };
            let unit = o["unit"].as_str();
            let line = format!(
                "{} = {} / {} ({} completed",
                o["objective"].as_str().unwrap_or("Other key results"),
                en.amount(r, unit),
                en.amount(t, unit),
                en.percent(p)
            );
            assert!(
                d.markdown.contains(&line),
                "missing `{line}` in\n{}",
                d.markdown
            );
            let share = r / t;
            assert!(
                ((share * 100.0).round() as i64 - p).abs() <= 1,
                "{line}: {r}/{t} is not {p}%"
            );
        }
    }
}

#[tokio::test]
async fn sparse_partners_get_a_digest_that_says_what_is_missing() {
    let db = sqlite("digest-sparse").await;
    let id = |s: &str| Id::parse(s).unwrap();
    let lonely = Partner::new(id("lonely"));
    let mut fresh = Partner::new(id("fresh"));
    fresh.name = Some("Fresh Start Ltd".into());
    fresh.manager_id = Some(id("m1"));
    let plan = Plan {
        plan_id: id("fresh-plan"),
        partner_id: id("fresh"),
        start_date: as_of(),
        end_date: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        name: None,
        template: None,
        status: PlanStatus::Active,
        owner_id: Some(id("m1")),
    };
    let kr = |k: &str| KeyResult {
        kr_id: id(k),
        plan_id: id("fresh-plan"),
        metric: Some("pipeline".into()),
        target: None,
        realized: None,
        objective: None,
        unit: None,
        weight: 1.0,
        due_date: None,
    };
    db.store
        .write_dataset(
            &db.tenant,
            &Dataset {
                partners: vec![lonely, fresh],
                plans: vec![plan],
                key_results: vec![kr("k1"), kr("k2")],
                ..Dataset::default()
            },
            &mut |_, _| {},
        )
        .await
        .unwrap();
    let models = tempfile::tempdir().unwrap();
    let engine = nextbest::service::load_engine(
        &db.store,
        &Registry::new(models.path()),
        None,
        &db.tenant,
        as_of(),
    )
    .await
    .unwrap();
    let run = |audience, who: &'static str| {
        let (store, engine) = (&db.store, &engine);
        async move {
            compose(store, engine, None, audience, who, as_of(), None, "en")
                .await
                .unwrap()
        }
    };

    let d = run(Audience::Partner, "lonely").await;
    assert_traceable(&d, &Locale::default());
    assert!(d.markdown.contains("No active plan"), "{}", d.markdown);
    assert!(
        d.markdown.contains("No trained model yet"),
        "{}",
        d.markdown
    );

    let d = run(Audience::Partner, "fresh").await;
    assert_traceable(&d, &Locale::default());
    for said in [
        "2 key result(s) of plan fresh-plan have no target",
        "No progress recorded yet for plan fresh-plan",
        "no earlier figures to compare with",
        "pipeline: no target set and nothing recorded",
        "Nothing is behind pace.",
    ] {
        assert!(
            d.markdown.contains(said),
            "missing `{said}` in\n{}",
            d.markdown
        );
    }

    let d = run(Audience::Manager, "m1").await;
    assert_traceable(&d, &Locale::default());
    assert!(
        d.markdown
            .contains("No predictions without a trained model"),
        "{}",
        d.markdown
    );

    let d = run(Audience::Leadership, LEADERSHIP_ID).await;
    assert_traceable(&d, &Locale::default());
    assert!(d.facts["total"].is_null());
    assert!(d.text.contains("No trained model yet"), "{}", d.text);

    let err = compose(
        &db.store,
        &engine,
        None,
        Audience::Manager,
        "m2",
        as_of(),
        None,
        "en",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DigestError::UnknownRecipient { .. }), "{err}");
}

/// What the stand-in endpoint answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    /// The draft, reworded without new numbers.
    Faithful,
    /// The draft plus a number that is not a fact.
    InventsNumber,
    /// The draft plus a name that is not a fact.
    InventsName,
    /// Later than the client waits.
    Slow,
    Broken,
}

/// One request to the stand-in: its Authorization header and its user message.
type Request = (Option<String>, Value);

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<Request>>>,
}

async fn stand_in(answer: Answer, seen: Seen) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |headers: axum::http::HeaderMap, Json(body): Json<Value>| {
            let seen = seen.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let user: Value = serde_json::from_str(
                    body["messages"][1]["content"].as_str().unwrap_or("{}"),
                )
                .unwrap_or(Value::Null);
                seen.requests.lock().unwrap().push((auth, user.clone()));
                let draft: Vec<String> = user["draft"]
                    .as_array()
                    .map(|d| d.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let prose = format!("Here is your update.\n\n{}", draft.join("\n\n"));
                let content = match answer {
                    Answer::Faithful => prose,
                    Answer::InventsNumber => format!("{prose} Revenue grew by 987,654 EUR."),
                    Answer::InventsName => format!("{prose} Say hello to Zorblax Quuxington."),
                    Answer::Slow => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        prose
                    }
                    Answer::Broken => {
                        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})));
                    }
                };
                (
                    axum::http::StatusCode::OK,
                    Json(json!({"choices": [{"message": {"role": "assistant", "content": content}}]})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn llm(url: &str) -> Llm {
    Llm::from_config(&LlmConfig {
        url: Some(url.to_owned()),
        model: "stand-in".into(),
        api_key: Some("sk-test".into()),
        timeout_secs: 1,
    })
    .unwrap()
}

async fn llm_wording_is_used_only_when_it_passes_the_check(w: &World, partner: &str) {
    for (answer, wording, check) in [
        (Answer::Faithful, "llm", "accepted"),
        (Answer::InventsNumber, "template", "rejected_number"),
        (Answer::InventsName, "template", "rejected_name"),
        (Answer::Slow, "template", "timeout"),
        (Answer::Broken, "template", "error"),
    ] {
        let seen = Seen::default();
        let url = stand_in(answer, seen.clone()).await;
        let model = llm(&url);
        let d = compose(
            &w.db.store,
            &w.engine,
            Some(&model),
            Audience::Partner,
            partner,
            as_of(),
            None,
            "en",
        )
        .await
        .unwrap();
        assert_eq!(d.wording, wording, "{answer:?}");
        assert_eq!(d.llm_check.as_deref(), Some(check), "{answer:?}");
        assert_eq!(
            d.markdown.contains("Here is your update."),
            answer == Answer::Faithful,
            "{answer:?}:\n{}",
            d.markdown
        );
        assert!(!d.markdown.contains("987,654") && !d.markdown.contains("Zorblax"));
        assert_traceable(&d, &Locale::default());
        // The model saw the facts and nothing else, with the configured key.
        let requests = seen.requests.lock().unwrap();
        let (auth, user) = &requests[0];
        assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
        assert_eq!(user["facts"], d.facts, "{answer:?}");
    }
}

async fn the_api_serves_digests_and_counts_llm_rejections(w: &World, partner: &str) {
    let url = stand_in(Answer::InventsNumber, Seen::default()).await;
    let options = ServeOptions {
        as_of: Some(as_of()),
        llm: Some(llm(&url)),
        ..ServeOptions::default()
    };
    let server = TestApp::builder()
        .on(&w.db)
        .models_dir(&w.models)
        .options(options)
        .spawn()
        .await;
    let (client, key, base) = (&server.client, &server.reader, &server.base);
    let get = |path: String| {
        let (client, key, base) = (client.clone(), key.clone(), base.clone());
        async move {
            let r = client
                .get(format!("{base}{path}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            (status, headers, r.text().await.unwrap())
        }
    };

    let (status, headers, body) = get(format!("/v1/digests/partner/{partner}?format=html")).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["nextbest-digest-wording"], "template");
    assert!(body.contains("<h1") && !body.contains("987,654"));

    let (status, headers, body) =
        get("/v1/digests/leadership/all?format=json&locale=de".into()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    let facts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(facts["audience"], "leadership");

    let (status, _, body) = get(format!("/v1/digests/partner/{partner}?format=pdf")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"field\":\"format\""), "{body}");
    let (status, _, body) = get("/v1/digests/partner/nobody".into()).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = get("/v1/digests/board/all".into()).await;
    assert_eq!(status, 422, "{body}");

    let metrics = crate::helpers::metrics_text(client, base, &server.admin).await;
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("nextbest_digest_llm_total{outcome=\"rejected_number\"}"))
        .unwrap_or_else(|| panic!("no LLM rejection counted:\n{metrics}"));
    assert!(
        counted.ends_with(" 2"),
        "two digests were worded and rejected: {counted}"
    );
    server.stop().await;
}
