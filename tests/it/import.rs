use nextbest::import::{ImportError, ImportOptions};

use crate::helpers::{backends, dataset_dir, fixture_with, sqlite, FIXTURE};

fn skip() -> ImportOptions {
    ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    }
}

#[tokio::test]
async fn a_non_synthetic_export_imports_and_reimporting_changes_no_counts() {
    for db in backends("reimport").await {
        let first = db
            .import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(
            first.custom_kinds,
            ["Roadshow Booth", "partner_lunch"],
            "{}",
            db.name
        );
        let counts = db.counts().await;
        assert_eq!(counts.partners, 3, "{}", db.name);
        assert_eq!(counts.key_results_without_target, 2, "{}", db.name);
        assert_eq!(
            counts.activities.values().sum::<i64>(),
            6,
            "identical rows without ids stay distinct ({})",
            db.name
        );
        assert_eq!(counts.actions.get("observed"), Some(&2), "{}", db.name);

        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(
            db.counts().await,
            counts,
            "a second import is harmless ({})",
            db.name
        );
    }
}

#[tokio::test]
async fn export_then_import_reproduces_the_store() {
    let db = sqlite("roundtrip").await;
    db.import(FIXTURE.as_ref(), &ImportOptions::default())
        .await
        .unwrap();
    let before = db.store.dataset(&db.tenant).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    nextbest::import::write_csv_dir(out.path(), &before).unwrap();

    let copy = sqlite("roundtrip-copy").await;
    copy.import(out.path(), &ImportOptions::default())
        .await
        .unwrap();
    let after = copy.store.dataset(&copy.tenant).await.unwrap();
    assert_eq!(after.partners, before.partners);
    assert_eq!(after.plans, before.plans);
    assert_eq!(after.key_results, before.key_results);
    assert_eq!(after.activities, before.activities);
    assert_eq!(
        after.actions, before.actions,
        "observed kinds come back as observed"
    );
}

/// Each bad value must abort the import with file, line and column, and write nothing.
#[tokio::test]
async fn one_bad_value_aborts_with_its_location_and_leaves_the_store_unchanged() {
    let cases = [
        (
            "plans.csv",
            "2025-01-01,2025-06-30,closed",
            "2024-13-01,2025-06-30,closed",
            "plans.csv:2:3: \"2024-13-01\": start_date is not a valid date",
        ),
        (
            "plans.csv",
            "globex-q3,globex,",
            "globex-q3,umbrella,",
            "plans.csv:4:2: \"umbrella\": partner_id does not exist in partners",
        ),
        (
            "key_results.csv",
            "revenue,120000,",
            "revenue,-5,",
            "key_results.csv:4:4: \"-5\": target must be > 0",
        ),
        (
            "activities.jsonl",
            "\"quantity\": 2",
            "\"quantity\": 0",
            "activities.jsonl:5:quantity: \"0\": quantity must be > 0",
        ),
        (
            "partners.csv",
            "reseller,gold",
            "retailer,gold",
            "partners.csv:2:3: \"retailer\": partner_type expected one of",
        ),
    ];
    for db in backends("bad_value").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let before = db.counts().await;
        for (file, from, to, expected) in cases {
            let (_keep, dir) = fixture_with(file, |t| {
                assert!(t.contains(from), "fixture {file} lacks {from}");
                t.replacen(from, to, 1)
            });
            // Also add a brand-new partner, so a partial write would show in the counts.
            let partners = dir.join("partners.csv");
            let text = std::fs::read_to_string(&partners).unwrap();
            std::fs::write(&partners, format!("{text}umbrella-new,Umbrella,,,,,,\n")).unwrap();

            let err = db
                .import(&dir, &ImportOptions::default())
                .await
                .unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, ImportError::Invalid(_)), "{message}");
            assert!(message.starts_with(expected), "{} got: {message}", db.name);
            assert_eq!(
                db.counts().await,
                before,
                "{file}: nothing may change ({})",
                db.name
            );
        }
    }
}

#[tokio::test]
async fn skip_invalid_imports_the_rest_and_reports_each_bad_row() {
    for db in backends("skip_invalid").await {
        let (_keep, dir) = fixture_with("plans.csv", |t| {
            t.replacen(
                "2025-01-01,2025-06-30,closed",
                "2024-13-01,2025-06-30,closed",
                1,
            )
        });
        let edit = dir.join("key_results.csv");
        let text =
            std::fs::read_to_string(&edit)
                .unwrap()
                .replacen("revenue,120000,", "revenue,-5,", 1);
        std::fs::write(&edit, text).unwrap();

        let summary = db.import(&dir, &skip()).await.unwrap();
        let reasons: Vec<String> = summary.rejected.iter().map(ToString::to_string).collect();
        // The bad plan, its two key results and three activities, the bad target, and the
        // activity that serves the key result with the bad target.
        assert_eq!(summary.rejected.len(), 8, "{reasons:#?}");
        assert!(reasons[0].starts_with("plans.csv:2:3:"), "{reasons:#?}");
        assert!(
            reasons.iter().any(|r| r.contains("target must be > 0")),
            "{reasons:#?}"
        );
        let counts = db.counts().await;
        assert_eq!(counts.plans.values().sum::<i64>(), 3, "{}", db.name);
        assert_eq!(counts.key_results, 2, "{}", db.name);

        let report = tempfile::tempdir().unwrap().keep().join("rejected.csv");
        nextbest::import::write_rejections(&report, &summary.rejected).unwrap();
        let written = std::fs::read_to_string(&report).unwrap();
        assert_eq!(
            written.lines().count(),
            9,
            "a header and one line per rejected row"
        );
    }
}

#[tokio::test]
async fn folder_level_mistakes_are_refused_before_reading_rows() {
    let db = sqlite("folder").await;
    let (_a, both) = fixture_with("plans.csv", |t| t);
    std::fs::write(both.join("plans.jsonl"), "").unwrap();
    let err = db
        .import(&both, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::BothFormats {
                entity: "plans",
                ..
            }
        ),
        "{err}"
    );

    let (_b, missing) = fixture_with("plans.csv", |t| t);
    std::fs::remove_file(missing.join("key_results.csv")).unwrap();
    let err = db
        .import(&missing, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no key_results.csv or key_results.jsonl"),
        "{err}"
    );

    let (_c, unknown) = fixture_with("plans.csv", |t| {
        t.replacen("template", "template,budget", 1)
            .replace('\n', ",\n")
            .replacen("budget,", "budget", 1)
    });
    let err = db
        .import(&unknown, &ImportOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plans.csv:1:7: unknown column `budget` (pass --ignore-unknown-columns to skip it)"
    );
    let lenient = ImportOptions {
        ignore_unknown_columns: true,
        ..ImportOptions::default()
    };
    db.import(&unknown, &lenient).await.unwrap();
    assert_eq!(db.counts().await.plans.values().sum::<i64>(), 4);

    let (_d, no_status) = fixture_with("plans.csv", |t| t.replacen(",status,", ",state,", 1));
    let err = db
        .import(&no_status, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::MissingColumn {
                column: "status",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn duplicates_within_a_file_are_refused_with_the_first_line() {
    let db = sqlite("duplicates").await;
    let (_keep, dir) = fixture_with("partners.csv", |t| format!("{t}acme,Acme again,,,,,,\n"));
    let err = db
        .import(&dir, &ImportOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string().split("; nothing").next().unwrap(),
        "partners.csv:5:1: \"acme\": partner_id is a duplicate: first defined on line 2"
    );
}

#[tokio::test]
async fn a_later_import_may_refer_to_rows_already_in_the_store() {
    let db = sqlite("incremental").await;
    db.import(FIXTURE.as_ref(), &ImportOptions::default())
        .await
        .unwrap();
    let dir = dataset_dir(&[
        ("partners.csv", "partner_id\n"),
        (
            "plans.csv",
            "plan_id,partner_id,start_date,end_date,status\nglobex-q4,globex,2025-10-01,2025-12-31,active\n",
        ),
        ("key_results.csv", "kr_id,plan_id,target\nglobex-q4-seats,globex-q4,400\n"),
        (
            "activities.csv",
            "plan_id,kind,date\nacme-2025h2,qbr,2025-10-02\nglobex-q4,qbr,2025-10-03\n",
        ),
        (
            "kr_progress.csv",
            "kr_id,as_of,realized\nacme-h2-rev,2025-09-30,30000\nglobex-q4-seats,2025-10-15,50\n",
        ),
        (
            "feedback.jsonl",
            "{\"recommendation_id\":\"r1\",\"plan_id\":\"acme-2025h2\",\"kind\":\"qbr\",\"response\":\"accepted\",\"at\":\"2025-10-01T09:00:00+02:00\"}\n",
        ),
    ]);
    let p = dir.path();
    db.import(p, &ImportOptions::default()).await.unwrap();
    let counts = db.counts().await;
    assert_eq!(counts.plans.get("active"), Some(&2));
    assert_eq!(counts.kr_progress, 2);
    assert_eq!(counts.feedback.get("accepted"), Some(&1));
    let feedback = db.store.feedback(&db.tenant).await.unwrap();
    assert_eq!(
        feedback[0].at.to_rfc3339(),
        "2025-10-01T07:00:00+00:00",
        "timestamps are stored in UTC"
    );
}

/// A generated world imports on both back ends with every row, and a second import
/// changes no count. Regression: on PostgreSQL a NULL target in the first batch typed
/// the cached statement's parameter as float4 and the next batch failed.
#[tokio::test]
async fn a_generated_world_imports_completely_and_idempotently_on_both_back_ends() {
    use nextbest::eval::synth::{generate, SynthParams};
    let params = SynthParams {
        partners: 150,
        seed: 3,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let world = generate(&params, &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    world.write(dir.path()).unwrap();
    let data = &world.dataset;
    for db in backends("generated").await {
        db.import(dir.path(), &ImportOptions::default())
            .await
            .unwrap();
        let counts = db.counts().await;
        assert_eq!(counts.partners as usize, data.partners.len(), "{}", db.name);
        assert_eq!(
            counts.plans.values().sum::<i64>() as usize,
            data.plans.len(),
            "{}",
            db.name
        );
        assert_eq!(
            counts.key_results as usize,
            data.key_results.len(),
            "{}",
            db.name
        );
        assert_eq!(
            counts.kr_progress as usize,
            data.kr_progress.len(),
            "{}",
            db.name
        );
        assert_eq!(
            counts.activities.values().sum::<i64>() as usize,
            data.activities.len(),
            "{}",
            db.name
        );
        assert!(
            counts.key_results_without_target > 0,
            "the world has undefined targets ({})",
            db.name
        );
        db.import(dir.path(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(db.counts().await, counts, "{}", db.name);
        let stored = db.store.closed_plans(&db.tenant).await.unwrap();
        let expected = data
            .plans
            .iter()
            .filter(|p| p.status == nextbest::domain::PlanStatus::Closed)
            .count();
        assert_eq!(stored.len(), expected, "{}", db.name);
    }
}

/// The committed demo data is exactly what `nextbest generate --partners 500 --seed 7
/// --as-of 2026-10-01` writes, and it imports: neither may drift from the code.
#[tokio::test]
async fn the_committed_sample_is_reproducible_and_imports() {
    use nextbest::eval::synth::{generate, SynthParams};
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let params = SynthParams {
        partners: 500,
        seed: 7,
        ..SynthParams::default()
    };
    let world = generate(&params, &mut |_| {}).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let written = world.write(fresh.path()).unwrap();
    assert_eq!(written.len(), 7);
    for path in written {
        let name = path.file_name().unwrap();
        let committed = std::fs::read(sample.join(name)).unwrap_or_default();
        assert!(
            committed == std::fs::read(&path).unwrap(),
            "data/sample/{} differs from the generator's output; regenerate it",
            name.to_string_lossy()
        );
    }
    let db = sqlite("sample").await;
    db.import(&sample, &ImportOptions::default()).await.unwrap();
    assert_eq!(db.counts().await.partners, 500);
}

/// Issue 15, finding 13: the csv crate ends a record at the `\r` of a CRLF and counts the
/// `\n` with the next record, so in a CRLF file (Excel's, Python's and most CRM exports'
/// default) every row was named one line too early, and with lone-CR endings every row
/// was on line 1. Its count also took a record's line from before the blank lines it
/// skipped, even with LF endings. An error names the line an editor shows, counting the
/// line breaks inside quoted cells and blank lines, whatever the endings.
#[tokio::test]
async fn an_error_names_the_line_an_editor_shows_whatever_the_line_endings() {
    type Edit = fn(String) -> String;
    let db = sqlite("line_endings").await;
    let cases: [(&str, Edit, &str); 2] = [
        (
            "plans.csv",
            |t| {
                t.replacen(
                    "2025-07-01,2025-12-31,active",
                    "2025-13-01,2025-12-31,active",
                    1,
                )
            },
            "plans.csv:3:3: \"2025-13-01\": start_date",
        ),
        (
            "partners.csv",
            // acme's name spans lines 2 and 3, line 4 is blank, globex is on line 5.
            |t| {
                t.replacen("\"Acme, Inc.\"", "\"Acme,\nInc.\"", 1).replacen(
                    "globex,Globex,msp",
                    "\nglobex,Globex,retailer",
                    1,
                )
            },
            "partners.csv:5:3: \"retailer\": partner_type",
        ),
    ];
    for (file, edit, expected) in cases {
        for (ending, name) in [("\n", "LF"), ("\r\n", "CRLF"), ("\r", "CR")] {
            let (_keep, dir) = fixture_with(file, |t| edit(t).replace('\n', ending));
            let err = db
                .import(&dir, &ImportOptions::default())
                .await
                .unwrap_err();
            assert!(err.to_string().starts_with(expected), "{name}: {err}");
        }
    }
}

/// Issue 15, finding 11, for `nextbest import`: a key result the store holds under
/// another plan is refused with its line, and nothing is written; with `skip_invalid`
/// only that row is left out.
#[tokio::test]
async fn an_import_refuses_a_key_result_of_another_plan_with_its_line() {
    for db in backends("kr_moves_import").await {
        db.import(FIXTURE.as_ref(), &ImportOptions::default())
            .await
            .unwrap();
        let before = db.counts().await;
        let dir = dataset_dir(&[
            ("partners.csv", "partner_id\n"),
            (
                "plans.csv",
                "plan_id,partner_id,start_date,end_date,status\n",
            ),
            (
                "key_results.csv",
                "kr_id,plan_id,target\nacme-h2-new,acme-2025h2,10\nacme-h1-rev,acme-2025h2,5\n",
            ),
            ("activities.csv", "plan_id,kind,date\n"),
        ]);
        let p = dir.path();

        let err = db.import(p, &ImportOptions::default()).await.unwrap_err();
        assert!(
            err.to_string().starts_with(
                "key_results.csv:3:1: \"acme-h1-rev\": kr_id belongs to plan `acme-2025h1`"
            ),
            "{} {err}",
            db.name
        );
        assert_eq!(db.counts().await, before, "nothing written ({})", db.name);

        let summary = db.import(p, &skip()).await.unwrap();
        assert_eq!(summary.rejected.len(), 1, "{:?}", summary.rejected);
        assert_eq!(summary.rejected[0].line, 3);
        assert_eq!(db.counts().await.key_results, before.key_results + 1);
        let h1 = db
            .store
            .key_results_of(&db.tenant, "acme-2025h1")
            .await
            .unwrap();
        assert!(
            h1.iter().any(|k| k.kr_id.as_str() == "acme-h1-rev"),
            "the key result stays where it was ({})",
            db.name
        );
    }
}

/// The CSV side of the NUL rule: PostgreSQL cannot store U+0000, so an import refuses it
/// with its place rather than failing in the write.
#[tokio::test]
async fn a_csv_cell_with_a_nul_character_is_refused_with_its_place() {
    for db in backends("nul_csv").await {
        let (_keep, dir) = fixture_with("partners.csv", |t| t.replacen("Globex", "Glo\0bex", 1));
        let err = db
            .import(&dir, &ImportOptions::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("partners.csv:3:2: \"Glo\\0bex\": name must not contain the NUL"),
            "{} {err}",
            db.name
        );
        assert_eq!(db.counts().await.partners, 0, "{}", db.name);
    }
}
