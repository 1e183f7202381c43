//! The plans held in memory (`service::views`) give the engine what the store gives it:
//! after writes of every kind (activities, dismissals, a closed plan, a new plan, a
//! partner's record) the answer computed from memory is the answer computed from the
//! store's rows, for every open plan, on SQLite and PostgreSQL.

use chrono::{DateTime, NaiveDate};
use nextbest::domain::{
    Activity, ActivityStatus, Dataset, Feedback, FeedbackResponse, Id, PlanStatus,
    RelationshipStage,
};
use nextbest::eval::synth::SynthParams;
use nextbest::nba::{context, NbaError};
use nextbest::service::{Service, ServiceOptions, Unobserved};
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

async fn memory_answers_as_the_store_does(w: TrainedWorld) {
    let tenant = w.db.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path(), &tenant);
    config.models_dir = w.models.path().to_owned();
    let service = Service::new(
        w.db.store.clone(),
        config,
        ServiceOptions {
            as_of: Some(as_of()),
            ..ServiceOptions::default()
        },
        std::sync::Arc::new(Unobserved),
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
    written(&service, &w, &write).await;
    compare_all(&service, &w, "after activities and a partner's record").await;

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
    written(&service, &w, &write).await;
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
    written(&service, &w, &write).await;
    assert_eq!(compare_all(&service, &w, "after a new plan").await, plans);

    // Views dropped (a lost notice connection): read from the store again on request.
    service.views().drop_all();
    compare_all(&service, &w, "read again after everything was dropped").await;
}

/// Writes `data` as the API does: the partners it touched are set aside, and read again
/// on their next request.
async fn written(service: &Service, w: &TrainedWorld, data: &Dataset) {
    let held = service.views().held_partners(&w.db.tenant);
    w.db.store
        .write_dataset(&w.db.tenant, data, &mut |_, _| {})
        .await
        .unwrap();
    service.written(&w.db.tenant, data).await;
    assert!(
        service.views().held_partners(&w.db.tenant) < held,
        "the written partners are set aside"
    );
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
