use chrono::NaiveDate;
use nextbest::domain::{Id, KeyResult, PlanStatus};
use nextbest::import::ImportOptions;
use nextbest::store::{PlanFilter, Store};

use crate::helpers::{backends, FIXTURE};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

#[tokio::test]
async fn plan_reads_return_each_plan_with_its_key_results_and_activities_on_both_back_ends() {
    for db in backends("plan_reads").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let s = &db.store;

        let closed = s.closed_plans(&db.tenant).await.unwrap();
        let closed_ids: Vec<_> = closed.iter().map(|r| r.plan.plan_id.as_str()).collect();
        assert_eq!(closed_ids, ["acme-2025h1", "globex-q3"], "{}", db.name);
        let h1 = &closed[0];
        assert_eq!(h1.key_results.len(), 2, "{}", db.name);
        assert_eq!(h1.activities.len(), 3, "{}", db.name);
        // 92000/100000 on the one defined target; the undefined one is excluded.
        assert_eq!(h1.attainment(), Some(0.92), "{}", db.name);

        let active = s.active_plans(&db.tenant).await.unwrap();
        assert_eq!(active.len(), 1, "{}", db.name);
        assert_eq!(active[0].plan.status, PlanStatus::Active);

        let acme = s.partner_plans(&db.tenant, &id("acme")).await.unwrap();
        assert_eq!(acme.len(), 2, "{}", db.name);

        let as_of = s
            .plan_as_of(&db.tenant, &id("acme-2025h2"), d("2025-09-01"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            as_of.activities.len(),
            1,
            "the planned December QBR is not known on 1 September ({})",
            db.name
        );
        assert!(s
            .plan(&db.tenant, &id("no-such-plan"))
            .await
            .unwrap()
            .is_none());

        let partner = s.partner(&db.tenant, &id("acme")).await.unwrap().unwrap();
        assert_eq!(partner.name.as_deref(), Some("Acme, Inc."));
        assert_eq!(
            partner.attributes.len(),
            3,
            "custom columns are kept as attributes ({})",
            db.name
        );
    }
}

#[tokio::test]
async fn every_query_is_scoped_to_its_tenant() {
    for db in backends("tenancy").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let other = format!("{}-other", db.tenant);
        assert_eq!(
            db.store.counts(&other).await.unwrap().partners,
            0,
            "{}",
            db.name
        );
        assert!(
            db.store
                .partner(&other, &id("acme"))
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.name
        );
        assert!(
            db.store
                .plans(&other, PlanFilter::default())
                .await
                .unwrap()
                .is_empty(),
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn upserting_a_plan_replaces_its_key_results_in_one_transaction() {
    for db in backends("upsert_plan").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let mut record = db
            .store
            .plan(&db.tenant, &id("acme-2025h1"))
            .await
            .unwrap()
            .unwrap();
        record.plan.name = Some("H1 push".into());
        let kept = KeyResult {
            target: Some(150_000.0),
            ..record.key_results[1].clone()
        };
        let added = KeyResult {
            kr_id: id("acme-h1-nps"),
            metric: Some("nps".into()),
            ..kept.clone()
        };
        db.store
            .upsert_plan(&db.tenant, &record.plan, &[kept.clone(), added])
            .await
            .unwrap();

        let after = db
            .store
            .plan(&db.tenant, &id("acme-2025h1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.plan.name.as_deref(), Some("H1 push"), "{}", db.name);
        let krs: Vec<_> = after.key_results.iter().map(|k| k.kr_id.as_str()).collect();
        assert_eq!(
            krs,
            ["acme-h1-nps", "acme-h1-rev"],
            "the logos KR was dropped ({})",
            db.name
        );
        assert_eq!(after.key_results[1].target, Some(150_000.0), "{}", db.name);
    }
}

/// The store refuses to move a key result to another plan inside the write's own
/// transaction, not only in the importer's check before it: a concurrent write between
/// the two must not slip a move through. Nothing of the write is kept.
#[tokio::test]
async fn the_store_refuses_to_move_a_key_result_and_keeps_nothing_of_the_write() {
    for db in backends("kr_guard").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let before = db.store.dataset(&db.tenant).await.unwrap();
        let counts = db.counts().await;
        let held = before
            .key_results
            .iter()
            .find(|k| k.kr_id.as_str() == "acme-h1-rev")
            .unwrap();
        let moved = KeyResult {
            plan_id: id("acme-2025h2"),
            ..held.clone()
        };
        let added = KeyResult {
            kr_id: id("acme-h2-new"),
            ..moved.clone()
        };
        let data = nextbest::domain::Dataset {
            key_results: vec![added, moved.clone()],
            ..Default::default()
        };
        let err = db
            .store
            .write_dataset(&db.tenant, &data, &mut |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key result `acme-h1-rev` belongs to plan `acme-2025h1`: it cannot move to plan `acme-2025h2`",
            "{}",
            db.name
        );
        let plan = db
            .store
            .plan(&db.tenant, &id("acme-2025h2"))
            .await
            .unwrap()
            .unwrap()
            .plan;
        let err = db
            .store
            .upsert_plan(&db.tenant, &plan, &[moved])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`acme-h1-rev`"), "{err}");
        assert_eq!(db.counts().await, counts, "{}", db.name);
        let after = db.store.dataset(&db.tenant).await.unwrap();
        assert_eq!(after.key_results, before.key_results, "{}", db.name);
    }
}

#[tokio::test]
async fn the_sqlite_store_is_durable_and_enforces_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let plan = nextbest::domain::Plan {
        plan_id: id("orphan"),
        partner_id: id("nobody"),
        start_date: d("2025-01-01"),
        end_date: d("2025-02-01"),
        name: None,
        template: None,
        status: PlanStatus::Active,
        owner_id: None,
    };
    let err = store.upsert_plan("t", &plan, &[]).await.unwrap_err();
    assert!(
        format!("{err:?}").to_lowercase().contains("foreign key"),
        "{err:?}"
    );
    store.close().await;
    // The settings are per connection: check them on a fresh one.
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let (journal, sync, fk) = store.sqlite_pragmas().await.unwrap();
    assert_eq!((journal.as_str(), sync, fk), ("wal", 2, 1));
}
