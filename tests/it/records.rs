//! NDJSON request bodies through `sync_records`, and the keyset pages, on a real SQLite
//! file and on PostgreSQL when it is reachable.

use std::collections::BTreeSet;

use nextbest::domain::{AttributeValue, Id, PlanStatus};
use nextbest::import::{sync_records, ImportError, ImportOptions, RejectionKind, SyncOutcome};
use nextbest::store::Store;
use serde::Serialize;

use crate::helpers::{backends, Backend, FIXTURE};

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

async fn sync_as(
    db: &Backend,
    tenant: &str,
    entity: &str,
    body: &str,
) -> Result<SyncOutcome, ImportError> {
    sync_records(
        &db.store,
        tenant,
        entity,
        "body",
        body.as_bytes(),
        &ImportOptions::default(),
        None,
    )
    .await
}

async fn sync(db: &Backend, entity: &str, body: &str) -> Result<SyncOutcome, ImportError> {
    sync_as(db, &db.tenant, entity, body).await
}

/// One JSON object a line, as a client would send what GET answered.
fn ndjson<T: Serialize>(rows: &[T]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect()
}

const PARTNERS: &str = concat!(
    r#"{"partner_id":"acme","name":"Acme","tier":"gold","roles":["sell","service"],"manager_id":"m1","attributes":{"crm_score":3,"focus":"cloud"}}"#,
    "\n",
    r#"{"partner_id":"globex","partner_type":"msp","nps":40,"crm_score":4.5,"focus":"data"}"#,
    "\n",
);
const PLANS: &str = concat!(
    r#"{"plan_id":"acme-h1","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"active","key_results":[{"kr_id":"acme-h1-rev","metric":"revenue","target":100000,"realized":20000,"unit":"EUR"},{"kr_id":"acme-h1-certs","plan_id":"acme-h1","target":3,"weight":2,"due_date":"2025-05-31"}]}"#,
    "\n",
    r#"{"plan_id":"globex-q3","partner_id":"globex","start_date":"2025-07-01","end_date":"2025-09-30","status":"closed","template":"growth"}"#,
    "\n",
);
const KEY_RESULTS: &str = r#"{"kr_id":"globex-q3-seats","plan_id":"globex-q3","target":500,"realized":610}
"#;
const PROGRESS: &str = concat!(
    r#"{"kr_id":"acme-h1-rev","as_of":"2025-02-01","realized":10000}"#,
    "\n",
    r#"{"kr_id":"acme-h1-rev","as_of":"2025-03-01","realized":20000}"#,
    "\n",
);
const ACTIONS: &str = r#"{"kind":"partner_lunch","label":"Partner lunch","category":"relationship","stages":["develop","win"],"effort_hours":2,"responsible":"vendor","cooldown_days":30}
"#;
const ACTIVITIES: &str = concat!(
    r#"{"plan_id":"acme-h1","kind":"partner_lunch","date":"2025-02-03"}"#,
    "\n",
    r#"{"plan_id":"acme-h1","kind":"partner_lunch","date":"2025-02-03"}"#,
    "\n",
    r#"{"activity_id":"a-1","plan_id":"acme-h1","kind":"Roadshow Booth","date":"2025-03-10","quantity":2,"kr_id":"acme-h1-rev","responsible":"joint"}"#,
    "\n",
);
const FEEDBACK: &str = r#"{"recommendation_id":"r1","plan_id":"acme-h1","kind":"qbr","response":"accepted","at":"2025-03-01T09:00:00+02:00","user_id":"u1"}
"#;

/// Syncs one body of every entity, in the order references need.
async fn sync_all(db: &Backend) {
    for (entity, body) in [
        ("partners", PARTNERS),
        ("plans", PLANS),
        ("key_results", KEY_RESULTS),
        ("kr_progress", PROGRESS),
        ("actions", ACTIONS),
        ("activities", ACTIVITIES),
        ("feedback", FEEDBACK),
    ] {
        sync(db, entity, body)
            .await
            .unwrap_or_else(|e| panic!("{entity} ({}): {e}", db.name));
    }
}

#[tokio::test]
async fn every_entity_synced_as_ndjson_is_stored_as_sent_on_both_back_ends() {
    for db in backends("records_entities").await {
        sync_all(&db).await;
        let data = db.store.dataset(&db.tenant).await.unwrap();

        let acme = &data.partners[0];
        assert_eq!(acme.roles.len(), 2, "{}", db.name);
        assert_eq!(
            acme.attributes.get("crm_score"),
            Some(&AttributeValue::Number(3.0)),
            "{}",
            db.name
        );
        assert_eq!(
            data.partners[1].attributes.get("focus"),
            Some(&AttributeValue::Text("data".into())),
            "top-level extra keys are attributes too ({})",
            db.name
        );
        let krs: Vec<_> = data.key_results.iter().map(|k| k.kr_id.as_str()).collect();
        assert_eq!(
            krs,
            ["acme-h1-certs", "acme-h1-rev", "globex-q3-seats"],
            "{}",
            db.name
        );
        assert_eq!(data.key_results[0].weight, 2.0, "{}", db.name);
        assert_eq!(data.kr_progress.len(), 2, "{}", db.name);
        let lunch = data.actions.iter().find(|a| a.kind == "partner_lunch");
        assert_eq!(lunch.map(|a| a.cooldown_days), Some(30), "{}", db.name);
        assert!(
            data.actions.iter().any(|a| a.kind == "Roadshow Booth"),
            "a custom kind is recorded ({})",
            db.name
        );
        assert_eq!(data.activities.len(), 3, "{}", db.name);
        assert_eq!(data.feedback.len(), 1, "{}", db.name);
        assert_eq!(
            data.feedback[0].at.to_rfc3339(),
            "2025-03-01T07:00:00+00:00",
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn the_outcome_answers_with_the_rows_as_stored_including_derived_activity_ids() {
    for db in backends("records_outcome").await {
        sync(&db, "partners", PARTNERS).await.unwrap();
        sync(&db, "plans", PLANS).await.unwrap();
        let out = sync(&db, "activities", ACTIVITIES).await.unwrap();
        let ids: Vec<_> = out
            .dataset
            .activities
            .iter()
            .map(|a| a.activity_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "acme-h1:partner_lunch:2025-02-03:0",
                "acme-h1:partner_lunch:2025-02-03:1",
                "a-1"
            ],
            "{}",
            db.name
        );
        assert_eq!(out.rows.get("activities"), Some(&3), "{}", db.name);
        assert_eq!(out.custom_kinds, ["Roadshow Booth", "partner_lunch"]);
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(
            json["dataset"]["activities"][0]["activity_id"],
            "acme-h1:partner_lunch:2025-02-03:0"
        );
    }
}

/// What the store answers (the domain values, serialised as GET does) syncs into
/// another tenant and reads back identical: the bodies round-trip.
#[tokio::test]
async fn what_the_store_answers_syncs_back_unchanged() {
    for db in backends("records_roundtrip").await {
        sync_all(&db).await;
        let before = db.store.dataset(&db.tenant).await.unwrap();
        let copy = format!("{}-copy", db.tenant);
        for (entity, body) in [
            ("partners", ndjson(&before.partners)),
            ("plans", ndjson(&before.plans)),
            ("key_results", ndjson(&before.key_results)),
            ("kr_progress", ndjson(&before.kr_progress)),
            ("actions", ACTIONS.to_owned()),
            ("activities", ndjson(&before.activities)),
            ("feedback", ndjson(&before.feedback)),
        ] {
            sync_as(&db, &copy, entity, &body)
                .await
                .unwrap_or_else(|e| panic!("{entity} ({}): {e}", db.name));
        }
        let after = db.store.dataset(&copy).await.unwrap();
        assert_eq!(after.partners, before.partners, "{}", db.name);
        assert_eq!(after.plans, before.plans, "{}", db.name);
        assert_eq!(after.key_results, before.key_results, "{}", db.name);
        assert_eq!(after.kr_progress, before.kr_progress, "{}", db.name);
        assert_eq!(after.activities, before.activities, "{}", db.name);
        assert_eq!(after.actions, before.actions, "{}", db.name);
        assert_eq!(after.feedback, before.feedback, "{}", db.name);
    }
}

#[tokio::test]
async fn a_partner_as_get_answers_it_puts_back_unchanged_and_attributes_update_in_place() {
    for db in backends("records_attributes").await {
        sync(&db, "partners", PARTNERS).await.unwrap();
        let acme = db
            .store
            .partner(&db.tenant, &id("acme"))
            .await
            .unwrap()
            .unwrap();
        let body = serde_json::to_string(&acme).unwrap();
        assert!(
            body.contains(r#""attributes":{"crm_score":3.0,"focus":"cloud"}"#),
            "GET nests the attributes: {body}"
        );
        let before = db.counts().await;
        sync(&db, "partners", &body).await.unwrap();
        assert_eq!(db.counts().await, before, "{}", db.name);
        let again = db
            .store
            .partner(&db.tenant, &id("acme"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, acme, "{}", db.name);

        let edited = body.replace(r#""crm_score":3.0"#, r#""crm_score":7"#);
        sync(&db, "partners", &edited).await.unwrap();
        let edited = db
            .store
            .partner(&db.tenant, &id("acme"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            edited.attributes.get("crm_score"),
            Some(&AttributeValue::Number(7.0)),
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn a_plan_with_key_results_replaces_its_set_and_the_removed_ones_progress() {
    for db in backends("records_replace").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        sync(
            &db,
            "kr_progress",
            r#"{"kr_id":"acme-h1-logos","as_of":"2025-03-01","realized":2}"#,
        )
        .await
        .unwrap();
        let before = db.counts().await;

        let plan = concat!(
            r#"{"plan_id":"acme-2025h1","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"closed","name":"H1 push","#,
            r#""key_results":[{"kr_id":"acme-h1-rev","metric":"revenue","target":150000,"realized":92000},{"kr_id":"acme-h1-nps","metric":"nps","target":40}]}"#
        );
        let out = sync(&db, "plans", plan).await.unwrap();
        assert_eq!(out.key_results_removed, 1, "{}", db.name);
        let krs = db
            .store
            .key_results_of(&db.tenant, "acme-2025h1")
            .await
            .unwrap();
        let ids: Vec<_> = krs.iter().map(|k| k.kr_id.as_str()).collect();
        assert_eq!(ids, ["acme-h1-nps", "acme-h1-rev"], "{}", db.name);
        assert_eq!(krs[1].target, Some(150_000.0), "{}", db.name);
        let after = db.counts().await;
        assert_eq!(
            after.key_results, before.key_results,
            "one out, one in ({})",
            db.name
        );
        assert_eq!(
            after.kr_progress,
            before.kr_progress - 1,
            "the removed key result's progress goes with it ({})",
            db.name
        );
        assert_eq!(
            db.store
                .key_results_of(&db.tenant, "globex-q3")
                .await
                .unwrap()
                .len(),
            1,
            "other plans keep theirs ({})",
            db.name
        );

        sync(&db, "plans", plan).await.unwrap();
        assert_eq!(db.counts().await, after, "sending it again ({})", db.name);

        let without = r#"{"plan_id":"acme-2025h1","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"closed","name":"H1"}"#;
        let out = sync(&db, "plans", without).await.unwrap();
        assert_eq!(out.key_results_removed, 0, "{}", db.name);
        assert_eq!(
            db.store
                .key_results_of(&db.tenant, "acme-2025h1")
                .await
                .unwrap()
                .len(),
            2,
            "a plan without key_results leaves them alone ({})",
            db.name
        );

        let emptied = without.replace(r#""name":"H1"}"#, r#""key_results":[]}"#);
        sync(&db, "plans", &emptied).await.unwrap();
        assert!(
            db.store
                .key_results_of(&db.tenant, "acme-2025h1")
                .await
                .unwrap()
                .is_empty(),
            "an empty list is a complete set too ({})",
            db.name
        );
    }
}

/// Each bad body is refused with label, line and field, and nothing of it is written,
/// not even the valid line before the bad one.
#[tokio::test]
async fn a_bad_line_is_refused_with_its_line_and_field_and_nothing_is_written() {
    let good_partner = r#"{"partner_id":"umbrella","name":"Umbrella"}"#;
    let good_kr = r#"{"kr_id":"acme-h1-new","plan_id":"acme-2025h1","target":10}"#;
    let cases: [(&str, String, &str); 9] = [
        (
            "key_results",
            format!("{good_kr}\n{}\n", r#"{"kr_id":"x","plan_id":"acme-2025h1","target":-5}"#),
            r#"body:2:target: "-5": target must be > 0"#,
        ),
        (
            "partners",
            format!("{good_partner}\n{}\n", r#"{"partner_id":"initech","tier":"diamond"}"#),
            r#"body:2:tier: "diamond": tier expected one of"#,
        ),
        (
            "partners",
            format!("{good_partner}\n{{\"partner_id\": \n"),
            "body:2:",
        ),
        (
            "plans",
            r#"{"plan_id":"u-1","partner_id":"umbrella","start_date":"2025-01-01","end_date":"2025-06-30","status":"active"}"#.to_owned(),
            r#"body:1:partner_id: "umbrella": partner_id does not exist in partners"#,
        ),
        (
            "activities",
            format!(
                "{}\n{}\n",
                r#"{"plan_id":"acme-2025h1","kind":"qbr","date":"2025-02-01"}"#,
                r#"{"plan_id":"nope","kind":"qbr","date":"2025-02-01"}"#
            ),
            r#"body:2:plan_id: "nope": plan_id does not exist in plans"#,
        ),
        (
            "kr_progress",
            r#"{"kr_id":"nope","as_of":"2025-02-01","realized":1}"#.to_owned(),
            r#"body:1:kr_id: "nope": kr_id does not exist in key_results"#,
        ),
        (
            "feedback",
            r#"{"recommendation_id":"r","plan_id":"acme-2025h1","kind":"qbr","response":"loved","at":"2025-03-01T09:00:00Z"}"#.to_owned(),
            r#"body:1:response: "loved": response expected one of"#,
        ),
        (
            "plans",
            r#"{"plan_id":"acme-2025h1","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"closed","key_results":[{"kr_id":"acme-h1-rev","target":0}]}"#.to_owned(),
            r#"body:1:key_results[0].target: "0": target must be > 0"#,
        ),
        (
            "plans",
            r#"{"plan_id":"acme-2025h1","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"closed","budget":5}"#.to_owned(),
            r#"body:1:budget: "": budget is an unknown field"#,
        ),
    ];
    for db in backends("records_rejects").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let before = db.store.dataset(&db.tenant).await.unwrap();
        let counts = db.counts().await;
        for (entity, body, expected) in &cases {
            let err = sync(&db, entity, body).await.unwrap_err();
            let ImportError::Invalid(rejection) = &err else {
                panic!("{entity}: expected a rejection, got {err:?}");
            };
            assert!(
                rejection.to_string().starts_with(expected),
                "{} {entity}: {rejection}",
                db.name
            );
            assert_eq!(
                db.counts().await,
                counts,
                "{entity}: nothing written ({})",
                db.name
            );
        }
        let after = db.store.dataset(&db.tenant).await.unwrap();
        assert_eq!(after.key_results, before.key_results, "{}", db.name);
        assert_eq!(after.partners, before.partners, "{}", db.name);
    }
}

/// Issue 15, finding 11: a key result sent under another plan than the one that holds it
/// was moved there silently. Every path that writes key results refuses it, with its
/// line, as a conflict naming both plans, and writes nothing of the body.
#[tokio::test]
async fn a_key_result_of_another_plan_is_refused_not_moved() {
    let plan_h2 = r#"{"plan_id":"acme-2025h2","partner_id":"acme","start_date":"2025-07-01","end_date":"2025-12-31","status":"active","key_results":[{"kr_id":"acme-h2-rev","target":120000},{"kr_id":"acme-h1-rev","target":5}]}"#;
    let cases = [
        (
            "key_results",
            format!(
                "{}\n{}\n",
                r#"{"kr_id":"acme-h2-new","plan_id":"acme-2025h2","target":10}"#,
                r#"{"kr_id":"acme-h1-rev","plan_id":"acme-2025h2","target":5}"#
            ),
            2,
            "kr_id",
        ),
        ("plans", format!("{plan_h2}\n"), 1, "key_results[1].kr_id"),
    ];
    for db in backends("kr_moves").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let before = db.store.dataset(&db.tenant).await.unwrap();
        let counts = db.counts().await;
        for (entity, body, line, column) in &cases {
            let err = sync(&db, entity, body).await.unwrap_err();
            let ImportError::Invalid(r) = &err else {
                panic!("{entity}: expected a rejection, got {err:?}");
            };
            assert_eq!(
                (
                    r.line,
                    r.column.as_str(),
                    r.field.as_deref(),
                    r.value.as_str()
                ),
                (*line, *column, Some("kr_id"), "acme-h1-rev"),
                "{} {entity}: {r}",
                db.name
            );
            assert!(
                r.rule.contains("`acme-2025h1`") && r.rule.contains("`acme-2025h2`"),
                "{entity}: {r}"
            );
            assert_eq!(r.kind, RejectionKind::Conflict, "{entity}: {r}");
            assert_eq!(db.counts().await, counts, "{entity}: nothing written");
        }
        let after = db.store.dataset(&db.tenant).await.unwrap();
        assert_eq!(after.key_results, before.key_results, "{}", db.name);
    }
}

/// A kr_id given twice in one body is a duplicate, whichever plans the two name: the
/// first line wins nothing, the body is refused.
#[tokio::test]
async fn a_key_result_given_under_two_plans_in_one_body_is_a_duplicate() {
    for db in backends("kr_twice").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let body = concat!(
            r#"{"kr_id":"kr-new","plan_id":"acme-2025h1","target":1}"#,
            "\n",
            r#"{"kr_id":"kr-new","plan_id":"acme-2025h2","target":1}"#,
            "\n",
        );
        let err = sync(&db, "key_results", body).await.unwrap_err();
        assert_eq!(
            err.to_string().split("; nothing").next().unwrap(),
            r#"body:2:kr_id: "kr-new": kr_id is a duplicate: first defined on line 1"#
        );
        let plan = |id: &str, kr: &str| {
            format!(
                r#"{{"plan_id":"{id}","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"active","key_results":[{{"kr_id":"{kr}"}}]}}"#
            )
        };
        let body = format!("{}\n{}\n", plan("p-a", "kr-x"), plan("p-b", "kr-x"));
        let err = sync(&db, "plans", &body).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"body:2:key_results[0].kr_id: "kr-x": kr_id is a duplicate"#),
            "{err}"
        );
    }
}

/// Found by the sync property test on PostgreSQL: a text with U+0000 in it was accepted
/// by validation and refused by PostgreSQL's text type, a 500 (SQLite stored it), and an
/// id with one failed the id lookup before validation. It is a rejection naming the
/// field, on both back ends, and nothing is written.
#[tokio::test]
async fn a_text_with_a_nul_character_is_refused_on_both_back_ends() {
    let cases = [
        (
            "partners",
            r#"{"partner_id":"p-nul","name":"x\u0000y"}"#,
            "name",
        ),
        (
            "partners",
            r#"{"partner_id":"p-nul","attributes":{"focus":"a\u0000"}}"#,
            "attributes.focus",
        ),
        (
            "plans",
            r#"{"plan_id":"acme-2025h1","partner_id":"acme","start_date":"2025-01-01","end_date":"2025-06-30","status":"closed","key_results":[{"kr_id":"acme-h1-rev","unit":"\u0000"}]}"#,
            "key_results[0].unit",
        ),
        (
            "actions",
            r#"{"kind":"webinar","stages":["onboard","\u0000"]}"#,
            "stages",
        ),
        // The id lookup before validation failed on this one: a 500 on PostgreSQL.
        (
            "activities",
            r#"{"plan_id":"acme-2025h1\u0000","kind":"qbr","date":"2025-02-01"}"#,
            "plan_id",
        ),
    ];
    for db in backends("nul").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let counts = db.counts().await;
        for (entity, body, column) in cases {
            let err = sync(&db, entity, body).await.unwrap_err();
            let ImportError::Invalid(r) = &err else {
                panic!("{} {entity}: expected a rejection, got {err:?}", db.name);
            };
            assert_eq!(r.column, column, "{} {entity}: {r}", db.name);
            assert!(r.rule.contains("NUL"), "{r}");
        }
        assert_eq!(db.counts().await, counts, "{}", db.name);
    }
}

#[tokio::test]
async fn an_unknown_entity_is_refused_before_anything_is_read() {
    for db in backends("records_entity").await {
        let err = sync(&db, "truth", "{}").await.unwrap_err();
        assert!(
            matches!(err, ImportError::UnknownEntity(ref e) if e == "truth"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn sending_the_same_body_twice_changes_nothing() {
    for db in backends("records_idempotent").await {
        sync_all(&db).await;
        let counts = db.counts().await;
        let data = db.store.dataset(&db.tenant).await.unwrap();
        sync_all(&db).await;
        assert_eq!(db.counts().await, counts, "{}", db.name);
        let again = db.store.dataset(&db.tenant).await.unwrap();
        assert_eq!(again.activities, data.activities, "{}", db.name);
        assert_eq!(again.partners, data.partners, "{}", db.name);
    }
}

/// References are looked up in chunked IN lists for bodies up to a few thousand lines,
/// and checked against every stored id above that; both must accept the same rows.
#[tokio::test]
async fn large_bodies_find_their_references_by_either_path() {
    for db in backends("records_large").await {
        let partners: String = (0..4200)
            .map(|i| format!("{{\"partner_id\":\"p{i}\"}}\n"))
            .collect();
        sync(&db, "partners", &partners).await.unwrap();
        let plans = |n: usize| -> String {
            (0..n)
                .map(|i| {
                    format!(
                        "{{\"plan_id\":\"plan{i}\",\"partner_id\":\"p{i}\",\"start_date\":\"2025-01-01\",\"end_date\":\"2025-12-31\",\"status\":\"active\"}}\n"
                    )
                })
                .collect()
        };
        let out = sync(&db, "plans", &plans(1200)).await.unwrap();
        assert_eq!(out.rows.get("plans"), Some(&1200), "{}", db.name);
        let out = sync(&db, "plans", &plans(4200)).await.unwrap();
        assert_eq!(out.rows.get("plans"), Some(&4200), "{}", db.name);
        let bad = format!(
            "{}{}",
            plans(1200),
            r#"{"plan_id":"x","partner_id":"p9999","start_date":"2025-01-01","end_date":"2025-12-31","status":"active"}"#
        );
        let err = sync(&db, "plans", &bad).await.unwrap_err();
        assert!(err.to_string().starts_with("body:1201:partner_id"), "{err}");
    }
}

#[tokio::test]
async fn pages_walk_every_row_exactly_once_in_id_order() {
    for db in backends("records_pages").await {
        let partners: String = (0..7)
            .map(|i| {
                format!(
                    "{{\"partner_id\":\"p{i}\",\"manager_id\":\"m{}\"}}\n",
                    i % 2
                )
            })
            .collect();
        sync(&db, "partners", &partners).await.unwrap();
        let plans: String = (0..9)
            .map(|i| {
                let status = if i % 3 == 0 { "closed" } else { "active" };
                format!(
                    "{{\"plan_id\":\"plan{i}\",\"partner_id\":\"p{}\",\"start_date\":\"2025-01-01\",\"end_date\":\"2025-12-31\",\"status\":\"{status}\"}}\n",
                    i % 2
                )
            })
            .collect();
        sync(&db, "plans", &plans).await.unwrap();
        let activities: String = (0..5)
            .map(|i| {
                format!(
                    "{{\"plan_id\":\"plan0\",\"kind\":\"qbr\",\"date\":\"2025-02-0{}\"}}\n",
                    i + 1
                )
            })
            .chain(std::iter::once(
                "{\"plan_id\":\"plan1\",\"kind\":\"qbr\",\"date\":\"2025-02-01\"}\n".to_owned(),
            ))
            .collect();
        sync(&db, "activities", &activities).await.unwrap();
        let feedback: String = [
            ("r2", "plan0", "accepted", "2025-03-01T09:00:00Z"),
            ("r1", "plan0", "accepted", "2025-03-01T09:00:00Z"),
            ("r1", "plan0", "completed", "2025-03-05T09:00:00Z"),
            ("r1", "plan0", "completed", "2025-03-04T09:00:00Z"),
            ("r3", "plan1", "dismissed", "2025-03-02T09:00:00Z"),
        ]
        .iter()
        .map(|(r, p, resp, at)| {
            format!("{{\"recommendation_id\":\"{r}\",\"plan_id\":\"{p}\",\"kind\":\"qbr\",\"response\":\"{resp}\",\"at\":\"{at}\"}}\n")
        })
        .collect();
        sync(&db, "feedback", &feedback).await.unwrap();
        let (s, t) = (&db.store, db.tenant.as_str());

        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = s.partners_page(t, after.as_deref(), 3, None).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.partner_id.to_string());
            seen.extend(page.iter().map(|p| p.partner_id.to_string()));
        }
        let expected: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
        assert_eq!(seen, expected, "{}", db.name);

        let managed = s.partners_page(t, None, 100, Some("m1")).await.unwrap();
        let ids: Vec<_> = managed.iter().map(|p| p.partner_id.as_str()).collect();
        assert_eq!(ids, ["p1", "p3", "p5"], "{}", db.name);
        assert!(s.partners_page(t, None, 0, None).await.unwrap().is_empty());
        assert!(
            s.partners_page(&format!("{t}-other"), None, 100, None)
                .await
                .unwrap()
                .is_empty(),
            "pages are scoped to the tenant ({})",
            db.name
        );

        let mut seen = BTreeSet::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = s
                .plans_page(t, after.as_deref(), 2, Some("p0"), Some(PlanStatus::Active))
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            pages += 1;
            after = Some(last.plan_id.to_string());
            for plan in &page {
                assert!(
                    seen.insert(plan.plan_id.to_string()),
                    "{} twice",
                    plan.plan_id
                );
                assert_eq!(plan.status, PlanStatus::Active);
            }
        }
        // plan0..plan8 of partner p0 are the even ones; 0 and 6 are closed.
        assert_eq!(
            seen,
            ["plan2", "plan4", "plan8"].map(String::from).into(),
            "{}",
            db.name
        );
        assert_eq!(pages, 2, "{}", db.name);

        let mut walked = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = s
                .activities_page(t, "plan0", after.as_deref(), 2)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.activity_id.to_string());
            walked.extend(page.into_iter().map(|a| a.activity_id.to_string()));
        }
        assert_eq!(walked.len(), 5, "{}", db.name);
        assert!(walked.windows(2).all(|w| w[0] < w[1]), "{walked:?}");

        let mut walked = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = s.feedback_page(t, None, after.as_deref(), 2).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(Store::feedback_cursor(last));
            walked.extend(page.iter().map(|f| {
                format!(
                    "{} {} {}",
                    f.recommendation_id,
                    f.response.as_str(),
                    f.at.to_rfc3339()
                )
            }));
        }
        assert_eq!(
            walked,
            [
                "r1 accepted 2025-03-01T09:00:00+00:00",
                "r1 completed 2025-03-04T09:00:00+00:00",
                "r1 completed 2025-03-05T09:00:00+00:00",
                "r2 accepted 2025-03-01T09:00:00+00:00",
                "r3 dismissed 2025-03-02T09:00:00+00:00",
            ],
            "{}",
            db.name
        );
        let plan1 = s.feedback_page(t, Some("plan1"), None, 10).await.unwrap();
        assert_eq!(plan1.len(), 1, "{}", db.name);
        let from_garbage = s.feedback_page(t, None, Some("r2"), 10).await.unwrap();
        assert_eq!(
            from_garbage.len(),
            2,
            "a partial cursor is a position too ({})",
            db.name
        );
    }
}
