//! The plans held in memory (`service::views`) give the engine what the store gives it:
//! after writes of every kind (activities new and changed, progress, a plan's key results
//! given whole, dismissals, a closed plan, a reopened one, a new plan, a partner's record,
//! an activity moved out of a closed plan) the answer computed from memory is the answer
//! computed from the store's rows, for every open plan, on SQLite and PostgreSQL. On
//! SQLite the writes are taken by the views as they commit (no partner set aside, save
//! where the rows alone cannot say what changed); on PostgreSQL their partners are set
//! aside and read again.

use chrono::{DateTime, NaiveDate};
use std::sync::Arc;

use nextbest::domain::{
    Activity, ActivityStatus, Dataset, Feedback, FeedbackResponse, Id, KrProgress, PlanStatus,
    RelationshipStage,
};
use nextbest::eval::synth::SynthParams;
use nextbest::nba::{context, NbaError};
use nextbest::service::{Service, ServiceOptions, Unobserved};
use nextbest::store::Backend;
use serde_json::Value;

use crate::helpers::{config_in, trained_world, TrainedWorld};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
}

fn id(raw: &str) -> Id {
    Id::parse(raw).unwrap()
}

/// Every open plan's answer from memory and from the store, side by side.
async fn compare_all(service: &Service, w: &TrainedWorld, when: &str) -> usize {
    let tenant = &w.db.tenant;
    let engine = service.engine(tenant).await.unwrap();
    let open = context::load_active(&w.db.store, tenant, as_of())
        .await
        .unwrap();
    assert!(!open.is_empty());
    // Also six weeks back: activities done since then must not count.
    let earlier = as_of() - chrono::Days::new(42);
    for stored in &open {
        let plan = &stored.record.plan.plan_id;
        for day in [as_of(), earlier] {
            let held = service
                .views()
                .context(&w.db.store, tenant, plan, day)
                .await
                .unwrap();
            let from_store = context::load(&w.db.store, tenant, plan, day).await.unwrap();
            // The facts themselves, not only the answer the engine makes of them: the
            // plan whole, the partner, the feedback, and when each kind was last done in
            // the partner's other plans.
            assert_eq!(
                held.record, from_store.record,
                "{when}: plan {plan} on {day}"
            );
            assert_eq!(
                held.partner, from_store.partner,
                "{when}: partner of {plan}"
            );
            assert_eq!(
                held.feedback, from_store.feedback,
                "{when}: feedback of {plan}"
            );
            assert_eq!(
                last_done(&held),
                last_done(&from_store),
                "{when}: history of {plan} on {day}"
            );
            let a: Value = serde_json::to_value(engine.recommend(&held, 8)).unwrap();
            let b: Value = serde_json::to_value(engine.recommend(&from_store, 8)).unwrap();
            assert_eq!(
                a, b,
                "{when}: plan {plan} on {day} from memory and from the store"
            );
        }
    }
    open.len()
}

/// Each kind's last date done in the partner's other plans, as of the context's day.
fn last_done(ctx: &context::PlanContext) -> std::collections::BTreeMap<String, NaiveDate> {
    let mut last = std::collections::BTreeMap::new();
    for a in &ctx.history {
        if a.status == ActivityStatus::Done && a.date <= ctx.as_of {
            let date = last.entry(a.kind.clone()).or_insert(a.date);
            *date = (*date).max(a.date);
        }
    }
    last
}

/// A service over the trained world's store and models, its other files under `dir`.
fn service_over(w: &TrainedWorld, dir: &std::path::Path, options: ServiceOptions) -> Service {
    let mut config = config_in(dir, &w.db.tenant);
    config.models_dir = w.models.path().to_owned();
    Service::new(
        w.db.store.clone(),
        config,
        options,
        std::sync::Arc::new(Unobserved),
    )
}

async fn memory_answers_as_the_store_does(w: TrainedWorld) {
    let tenant = w.db.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let service = service_over(
        &w,
        dir.path(),
        ServiceOptions {
            as_of: Some(as_of()),
            ..ServiceOptions::default()
        },
    );
    let held = service
        .views()
        .load_tenant(&w.db.store, &tenant)
        .await
        .unwrap();
    assert!(held > 10, "{held} partners held");
    let plans = compare_all(&service, &w, "as loaded").await;

    let open = context::load_active(&w.db.store, &tenant, as_of())
        .await
        .unwrap();
    let first = &open[0].record.plan;
    let second = open
        .iter()
        .map(|c| &c.record.plan)
        .find(|p| p.partner_id != first.partner_id)
        .unwrap();
    let third = open
        .iter()
        .map(|c| &c.record.plan)
        .find(|p| p.partner_id != first.partner_id && p.partner_id != second.partner_id)
        .unwrap();

    // Done activities of two kinds on the first plan (their cool-downs start), and the
    // partner's record moved up the relationship pyramid.
    let mut partner =
        w.db.store
            .partner(&tenant, &first.partner_id)
            .await
            .unwrap()
            .unwrap();
    partner.relationship_stage = Some(RelationshipStage::Partnership);
    let activity = |n: usize, kind: &str| Activity {
        activity_id: id(&format!("{}-view-{n}", first.plan_id)),
        plan_id: first.plan_id.clone(),
        kind: kind.to_owned(),
        date: as_of(),
        quantity: 1.0,
        status: ActivityStatus::Done,
        responsible: None,
        kr_id: None,
    };
    let write = Dataset {
        partners: vec![partner],
        activities: vec![activity(1, "joint_business_plan"), activity(2, "qbr")],
        ..Dataset::default()
    };
    written(&service, &w, &write, &[], Took::InMemory).await;
    compare_all(&service, &w, "after activities and a partner's record").await;

    // One of them changed (done earlier, then only planned), progress on the first plan's
    // key results, and the second plan's key results given whole: a new one in place of
    // those it had.
    let mut changed = activity(2, "qbr");
    changed.date = as_of() - chrono::Days::new(60);
    changed.status = ActivityStatus::Planned;
    let first_record = &open[0].record;
    let second_record = open
        .iter()
        .find(|c| c.record.plan.plan_id == second.plan_id)
        .map(|c| &c.record)
        .unwrap();
    // A key result of its own in place of the plan's others.
    let mut replacement = second_record.key_results[0].clone();
    replacement.kr_id = id(&format!("{}-view-kr", second.plan_id));
    replacement.target = replacement.target.map(|t| t * 2.0);
    let write = Dataset {
        activities: vec![changed],
        kr_progress: first_record
            .key_results
            .iter()
            .map(|k| KrProgress {
                kr_id: k.kr_id.clone(),
                as_of: as_of() - chrono::Days::new(3),
                realized: k.target.unwrap_or(1.0) * 0.9,
            })
            .collect(),
        key_results: vec![replacement],
        ..Dataset::default()
    };
    written(
        &service,
        &w,
        &write,
        std::slice::from_ref(&second.plan_id),
        Took::InMemory,
    )
    .await;
    compare_all(
        &service,
        &w,
        "after a changed activity, progress and key results",
    )
    .await;

    // A dismissal on the second plan, and the third plan closed.
    let kind = engine_top_kind(&service, &w, &second.plan_id).await;
    let mut closed = third.clone();
    closed.status = PlanStatus::Closed;
    let write = Dataset {
        plans: vec![closed],
        feedback: vec![Feedback {
            recommendation_id: id("view-dismissal"),
            plan_id: second.plan_id.clone(),
            kind: kind.clone(),
            response: FeedbackResponse::Dismissed,
            at: DateTime::parse_from_rfc3339("2026-09-30T10:00:00+00:00").unwrap(),
            user_id: None,
        }],
        ..Dataset::default()
    };
    written(&service, &w, &write, &[], Took::InMemory).await;
    assert_ne!(
        engine_top_kind(&service, &w, &second.plan_id).await,
        kind,
        "a dismissed kind is not first again"
    );
    let closed_now = service
        .views()
        .context(&w.db.store, &tenant, &third.plan_id, as_of())
        .await;
    assert!(
        matches!(closed_now, Err(NbaError::PlanNotOpen { .. })),
        "{closed_now:?}"
    );
    let after = compare_all(&service, &w, "after a dismissal and a closed plan").await;
    assert_eq!(after, plans - 1);

    // A new plan for the first partner: held at once, with the partner's history.
    let mut new = first.clone();
    new.plan_id = id(&format!("{}-view-new", first.plan_id));
    let write = Dataset {
        plans: vec![new],
        ..Dataset::default()
    };
    written(&service, &w, &write, &[], Took::InMemory).await;
    assert_eq!(compare_all(&service, &w, "after a new plan").await, plans);

    // The closed plan reopened: the view kept none of its rows, so its partner is read.
    let mut reopened = third.clone();
    reopened.status = PlanStatus::Active;
    let write = Dataset {
        plans: vec![reopened],
        ..Dataset::default()
    };
    written(&service, &w, &write, &[], Took::SetAside).await;
    assert_eq!(
        compare_all(&service, &w, "after a reopened plan").await,
        plans + 1
    );

    // An activity of a closed plan moved to an open one: no view holds the old copy whole,
    // so the tenant is read again.
    let closed_plans = w.db.store.plans(&tenant, Default::default()).await.unwrap();
    let old = closed_plans
        .iter()
        .filter(|r| !r.plan.status.is_open())
        .flat_map(|r| r.activities.iter())
        .find(|a| a.status == ActivityStatus::Done)
        .unwrap();
    let mut moved = old.clone();
    moved.plan_id = second.plan_id.clone();
    let write = Dataset {
        activities: vec![moved],
        ..Dataset::default()
    };
    written(&service, &w, &write, &[], Took::Dropped).await;
    compare_all(&service, &w, "after an activity moved out of a closed plan").await;

    // Views dropped (a lost notice connection): read from the store again on request.
    service.views().drop_all();
    compare_all(&service, &w, "read again after everything was dropped").await;
}

/// How the views are expected to take a write on SQLite; on PostgreSQL every write sets
/// its partners aside.
#[derive(Debug, PartialEq)]
enum Took {
    /// Applied in memory: no partner set aside.
    InMemory,
    /// Some partner set aside, read again on its next request.
    SetAside,
    /// Everything held of the tenant dropped.
    Dropped,
}

/// Writes `data` as the API does (the group commit, then the service told), and checks
/// how the views took it.
async fn written(service: &Service, w: &TrainedWorld, data: &Dataset, complete: &[Id], took: Took) {
    let tenant = &w.db.tenant;
    let held = service.views().held_partners(tenant);
    let committed =
        w.db.store
            .write_grouped(tenant, Arc::new(data.clone()), complete.to_vec())
            .await
            .unwrap();
    service.written(tenant, data, committed.observed).await;
    let after = service.views().held_partners(tenant);
    let sqlite = w.db.store.backend() == Backend::Sqlite;
    assert_eq!(
        committed.observed, sqlite,
        "the views take writes as they commit on SQLite only"
    );
    match (sqlite, took) {
        (true, Took::InMemory) => assert_eq!(after, held, "applied in memory, nothing set aside"),
        (true, Took::Dropped) => assert_eq!(after, 0, "the tenant's views are dropped"),
        _ => assert!(
            after < held,
            "the written partners are set aside: {after} of {held}"
        ),
    }
}

async fn engine_top_kind(service: &Service, w: &TrainedWorld, plan: &Id) -> String {
    let engine = service.engine(&w.db.tenant).await.unwrap();
    let ctx = service
        .views()
        .context(&w.db.store, &w.db.tenant, plan, as_of())
        .await
        .unwrap();
    engine.recommend(&ctx, 3).actions[0].kind.clone()
}

fn params() -> SynthParams {
    SynthParams {
        partners: 40,
        seed: 53,
        truth_draws: 1,
        ..SynthParams::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_answers_as_the_store_does_on_sqlite() {
    let w = trained_world("views", &params()).await;
    memory_answers_as_the_store_does(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_answers_as_the_store_does_on_postgres() {
    let Some(db) = crate::helpers::postgres("views").await else {
        return;
    };
    let w = crate::helpers::trained_world_on(db, &params()).await;
    memory_answers_as_the_store_does(w).await;
}

/// A sync write's validation reads the ids it refers to from memory on SQLite: what the
/// views say is known is what the store says, and what they cannot settle (a key result
/// of a closed plan, a partner set aside, a tenant whose catalog changed) they leave to
/// the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_ids_from_memory_are_the_stores() {
    let w = trained_world("views-known", &params()).await;
    let tenant = w.db.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let service = service_over(&w, dir.path(), ServiceOptions::default());
    let views = service.views();
    assert!(
        service
            .known_ids(&tenant, "activities", b"{}")
            .await
            .is_none(),
        "nothing held yet"
    );
    views.load_tenant(&w.db.store, &tenant).await.unwrap();

    let records = w.db.store.plans(&tenant, Default::default()).await.unwrap();
    let open = records.iter().find(|r| r.plan.status.is_open()).unwrap();
    let closed = records.iter().find(|r| !r.plan.status.is_open()).unwrap();
    let kr = &open.key_results[0].kr_id;
    let body = |lines: &[String]| lines.join("\n").into_bytes();
    // Activities on a known plan and an unknown one, naming an open plan's key result.
    let activities = body(&[
        format!(
            r#"{{"plan_id":"{}","kind":"qbr","date":"2026-09-01","kr_id":"{kr}"}}"#,
            open.plan.plan_id
        ),
        r#"{"plan_id":"no-such-plan","kind":"qbr","date":"2026-09-01"}"#.to_owned(),
    ]);
    // Plans of a known partner and an unknown one.
    let plans = body(&[
        format!(
            r#"{{"plan_id":"x1","partner_id":"{}"}}"#,
            open.plan.partner_id
        ),
        r#"{"plan_id":"x2","partner_id":"no-such-partner"}"#.to_owned(),
    ]);
    for (entity, body) in [("activities", &activities), ("plans", &plans)] {
        let held = service.known_ids(&tenant, entity, body).await.unwrap();
        let refs = nextbest::import::References::of_body(entity, body).unwrap();
        let stored =
            w.db.store
                .known_ids_among(
                    &tenant,
                    &refs.partners(),
                    &refs.plans(),
                    &refs.key_results(),
                )
                .await
                .unwrap();
        assert_eq!(held.partners, stored.partners, "{entity}");
        assert_eq!(held.plans, stored.plans, "{entity}");
        assert_eq!(held.key_results, stored.key_results, "{entity}");
        let kinds = |k: &nextbest::domain::KnownIds| {
            k.catalog.iter().map(|a| a.kind.clone()).collect::<Vec<_>>()
        };
        assert_eq!(kinds(&held), kinds(&stored), "{entity}");
    }
    assert!(service
        .plan_exists(&tenant, &open.plan.plan_id)
        .await
        .unwrap());
    assert!(!service
        .plan_exists(&tenant, &id("no-such-plan"))
        .await
        .unwrap());

    // A key result of a closed plan is not held: the store tells.
    let closed_kr = body(&[format!(
        r#"{{"kr_id":"{}","as_of":"2026-09-01","realized":1}}"#,
        closed.key_results[0].kr_id
    )]);
    assert!(service
        .known_ids(&tenant, "kr_progress", &closed_kr)
        .await
        .is_none());
    // A partner set aside: the store tells.
    views.mark_written(&tenant, &[open.plan.partner_id.to_string()], Some(&[]));
    assert!(service.known_ids(&tenant, "plans", &plans).await.is_none());
    // A new kind in the catalog drops the tenant's views, its catalog with them.
    service
        .written(
            &tenant,
            &Dataset {
                actions: vec![nextbest::domain::catalog::Catalog::built_in()
                    .iter()
                    .next()
                    .unwrap()
                    .clone()],
                ..Dataset::default()
            },
            false,
        )
        .await;
    assert!(service
        .known_ids(&tenant, "activities", &activities)
        .await
        .is_none());
}
