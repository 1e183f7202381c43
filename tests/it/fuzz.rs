//! Property tests in place of a cargo-fuzz target (cargo-fuzz needs a nightly toolchain;
//! CI has stable): arbitrary and plausible CSV/JSONL files through the importer's row
//! parsing, and arbitrary and plausible NDJSON bodies through `sync_records`, the function
//! every sync handler calls, on a real SQLite store and on PostgreSQL where it answers.
//! Nothing may panic; every rejection must name the input's file, a line that holds a row
//! and a column of it; a refused body must change nothing and be the client's fault (4xx),
//! not the server's.
//!
//! Cases per property: `PROPTEST_CASES` (64 when unset, so `cargo test` stays quick);
//! `.ci/run` runs this module alone with more. A failure proptest finds is saved under
//! `tests/proptest-regressions/` and replayed first on every run; commit that file, and
//! keep the input as a plain `#[test]` beside the fix.

use std::path::Path;

use nextbest::api::error::ApiError;
use nextbest::import::{
    self, known_columns, ImportError, ImportOptions, KnownIds, Rejection, ENTITIES,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::{Map, Value};

use crate::helpers::{backends, Backend, FIXTURE};

/// `PROPTEST_CASES`, or 64.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        ..Config::default()
    }
}

fn entity() -> impl Strategy<Value = &'static str> {
    prop::sample::select(ENTITIES.to_vec())
}

/// Texts that break parsers: numbers at and past f64's range, NaN and infinities, ids and
/// dates of the fixture and near misses, enum words, separators, quotes, line breaks,
/// unicode, a BOM, NUL.
const TRICKY: &[&str] = &[
    "acme",
    "globex",
    "acme-2025h1",
    "acme-2025h2",
    "globex-q3",
    "acme-h1-rev",
    "acme-h2-rev",
    "2025-01-01",
    "2025-06-30",
    "2024-02-29",
    "2023-02-29",
    "2025-13-01",
    "2025-1-5",
    "2025-10-01T09:00:00+02:00",
    "2025-10-01 09:00",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "1e-400",
    "0",
    "-0",
    "-1",
    "1.5",
    "1,5",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    " 3 ",
    "active",
    "closed",
    "draft",
    "reseller",
    "gold",
    "done",
    "accepted",
    "dismissed",
    "qbr",
    "joint",
    "sell;service",
    "a;;b",
    "\"",
    "\"\"",
    ",",
    "\r",
    "\n",
    "\r\n",
    "é",
    "日本語",
    "🚀",
    "\u{feff}x",
    "\u{0}",
    "a\u{0}b",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(TRICKY).prop_map(str::to_owned),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => "[a-z0-9._:@-]{1,12}",
        1 => ".{0,12}",
        1 => Just(String::new()),
    ]
}

/// One line ending, as a file would use throughout, or mixed.
fn ending() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\r\n", "\r"])
}

/// Line breaks in `text` as an editor counts them: `\r\n`, `\n` and a lone `\r` each.
fn breaks(text: &[u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\r' => {
                n += 1;
                if text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

/// A CSV cell, quoted (RFC 4180) when it must be or when `quote` says so.
fn csv_cell(cell: &str, quote: bool) -> String {
    if quote || cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// Ids of the fixture, per entity, and one it does not hold: references mostly resolve,
/// rows update and collide, and plans try to take each other's key results.
const PARTNERS: &[&str] = &["acme", "globex", "initech", "new-partner"];
const PLANS: &[&str] = &[
    "acme-2025h1",
    "acme-2025h2",
    "globex-q3",
    "initech-onb",
    "new-plan",
];
const KRS: &[&str] = &[
    "acme-h1-rev",
    "acme-h1-logos",
    "acme-h2-rev",
    "globex-q3-seats",
    "new-kr",
];
const OTHER: &[&str] = &["r1", "r2", "qbr", "webinar"];

fn id(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::sample::select(pool).prop_map(Value::from)
}

/// A valid row of `entity` (against the fixture, mostly): what mutations start from, so
/// that most cases get past the first check to the later ones and to the write.
fn valid_row(entity: &str) -> BoxedStrategy<Vec<(&'static str, Value)>> {
    let date = prop::sample::select(vec!["2025-02-01", "2025-03-15", "2025-05-31"]);
    match entity {
        "partners" => (
            id(PARTNERS),
            prop::sample::select(vec!["reseller", "msp", "isv"]),
            0..100i64,
        )
            .prop_map(|(id, kind, nps)| {
                vec![
                    ("partner_id", id),
                    ("name", Value::from("Name, Inc.")),
                    ("partner_type", Value::from(kind)),
                    ("tier", Value::from("gold")),
                    ("roles", Value::from("sell;service")),
                    ("nps", Value::from(nps)),
                ]
            })
            .boxed(),
        "plans" => (
            id(PLANS),
            id(PARTNERS),
            prop::collection::vec((id(KRS), 1..1000i64), 0..3),
        )
            .prop_map(|(plan, partner, krs)| {
                let krs = krs
                    .into_iter()
                    .map(|(kr, target)| serde_json::json!({"kr_id": kr, "target": target}));
                vec![
                    ("plan_id", plan),
                    ("partner_id", partner),
                    ("start_date", Value::from("2025-01-01")),
                    ("end_date", Value::from("2025-06-30")),
                    ("status", Value::from("active")),
                    ("key_results", Value::Array(krs.collect())),
                ]
            })
            .boxed(),
        "key_results" => (id(KRS), id(PLANS), 1..1000i64, date)
            .prop_map(|(kr, plan, target, due)| {
                vec![
                    ("kr_id", kr),
                    ("plan_id", plan),
                    ("metric", Value::from("revenue")),
                    ("target", Value::from(target)),
                    ("realized", Value::from(target / 2)),
                    ("weight", Value::from(1.5)),
                    ("due_date", Value::from(due)),
                ]
            })
            .boxed(),
        "kr_progress" => (id(KRS), date, any::<i32>())
            .prop_map(|(kr, as_of, realized)| {
                vec![
                    ("kr_id", kr),
                    ("as_of", Value::from(as_of)),
                    ("realized", Value::from(realized)),
                ]
            })
            .boxed(),
        "activities" => (id(PLANS), id(OTHER), date, prop::option::of(id(KRS)))
            .prop_map(|(plan, kind, date, kr)| {
                vec![
                    ("plan_id", plan),
                    ("kind", kind),
                    ("date", Value::from(date)),
                    ("quantity", Value::from(2)),
                    ("status", Value::from("done")),
                    ("kr_id", kr.unwrap_or(Value::Null)),
                ]
            })
            .boxed(),
        "actions" => (id(OTHER), 0..100u32)
            .prop_map(|(kind, days)| {
                vec![
                    ("kind", kind),
                    ("label", Value::from("A label")),
                    ("category", Value::from("enablement")),
                    ("effort_hours", Value::from(2.5)),
                    ("cooldown_days", Value::from(days)),
                ]
            })
            .boxed(),
        _ => (
            id(OTHER),
            id(PLANS),
            prop::sample::select(vec!["accepted", "dismissed", "completed", "snoozed"]),
        )
            .prop_map(|(rec, plan, response)| {
                vec![
                    ("recommendation_id", rec),
                    ("plan_id", plan),
                    ("kind", Value::from("qbr")),
                    ("response", Value::from(response)),
                    ("at", Value::from("2025-10-01T09:00:00+02:00")),
                ]
            })
            .boxed(),
    }
}

/// What a mutation does to the `n`th field of a row (modulo its width).
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Set(usize, Value),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        1 => any::<usize>().prop_map(Mutation::Drop),
        4 => (any::<usize>(), json_value("")).prop_map(|(n, v)| Mutation::Set(n, v)),
    ];
    prop_oneof![3 => Just(Vec::new()), 2 => prop::collection::vec(one, 1..3)]
}

fn mutate(
    mut row: Vec<(&'static str, Value)>,
    mutations: &[Mutation],
) -> Vec<(&'static str, Value)> {
    for m in mutations {
        if row.is_empty() {
            break;
        }
        match m {
            Mutation::Drop(n) => {
                row.remove(n % row.len());
            }
            Mutation::Set(n, value) => {
                let at = n % row.len();
                row[at].1 = value.clone();
            }
        }
    }
    row
}

/// A valid row of `entity` with up to two fields dropped or set to tricky values.
fn mutated_row(entity: &'static str) -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    (valid_row(entity), mutations()).prop_map(|(row, m)| mutate(row, &m))
}

/// The text a CSV cell holds for `value`: what export writes.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(";"),
        other => other.to_string(),
    }
}

/// A plausible CSV file: a header of the entity's columns (shuffled, now and then only
/// some, an unknown one added), then rows (valid ones with a field or two mutated, or
/// tricky cells throughout), some cells quoted that need not be, blank lines between
/// some; with the line each row starts on.
#[derive(Debug, Clone)]
struct CsvFile {
    entity: &'static str,
    text: String,
    header: Vec<String>,
    /// The line each row starts on.
    rows: Vec<u64>,
}

fn csv_file() -> impl Strategy<Value = CsvFile> {
    entity()
        .prop_flat_map(|entity| {
            let all = known_columns(entity).to_vec();
            let header = prop_oneof![
                3 => Just(all.clone()).prop_shuffle(),
                1 => prop::sample::subsequence(all.clone(), 1..=all.len()).prop_shuffle(),
            ];
            let extra = prop::option::weighted(
                0.2,
                prop::sample::select(vec!["budget", "crm score", "\u{feff}kind"]),
            );
            (Just(entity), header, extra, ending(), any::<bool>())
        })
        .prop_flat_map(|(entity, header, extra, ending, final_break)| {
            let mut header: Vec<String> = header.into_iter().map(str::to_owned).collect();
            header.extend(extra.map(str::to_owned));
            let width = header.len();
            let aligned = header.clone();
            let cells = prop_oneof![
                3 => mutated_row(entity).prop_map(move |row| {
                    let cell = |h: &String| {
                        row.iter().find(|(k, _)| k == h).map(|(_, v)| cell_text(v))
                    };
                    aligned.iter().map(|h| cell(h).unwrap_or_default()).collect::<Vec<_>>()
                }),
                1 => prop::collection::vec(text(), width..=width),
            ];
            let row = (
                (
                    cells,
                    prop::collection::vec(prop::bool::weighted(0.1), width..=width),
                ),
                prop::bool::weighted(0.1),
            );
            (
                Just(entity),
                Just(header),
                prop::collection::vec(row, 0..8),
                Just(ending),
                Just(final_break),
            )
        })
        .prop_map(|(entity, header, rows, ending, final_break)| {
            let mut text = header
                .iter()
                .map(|h| csv_cell(h, false))
                .collect::<Vec<_>>()
                .join(",");
            let mut starts = Vec::new();
            for ((cells, quotes), blank_before) in rows {
                text.push_str(ending);
                if blank_before {
                    text.push_str(ending);
                }
                starts.push(breaks(text.as_bytes()) + 1);
                let cells: Vec<String> = cells
                    .iter()
                    .zip(&quotes)
                    .map(|(c, q)| csv_cell(c, *q))
                    .collect();
                text.push_str(&cells.join(","));
            }
            if final_break {
                text.push_str(ending);
            }
            CsvFile {
                entity,
                text,
                header,
                rows: starts,
            }
        })
}

/// A JSON value for key `key`: mostly tricky texts and numbers, sometimes the wrong shape.
fn json_value(key: &'static str) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        4 => text().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => prop::collection::vec(text().prop_map(Value::String), 0..3).prop_map(Value::Array),
        1 => Just(Value::Array(vec![Value::from(1)])),
        1 => Just(Value::Object(Map::new())),
    ];
    match key {
        "key_results" => prop_oneof![
            3 => prop::collection::vec(json_object(known_columns("key_results").to_vec()), 0..3)
                .prop_map(|items| Value::Array(items.into_iter().map(Value::Object).collect())),
            1 => leaf,
        ]
        .boxed(),
        "attributes" => prop_oneof![
            3 => json_object(vec!["crm_score", "focus", "tier", "partner_id"]).prop_map(Value::Object),
            1 => leaf,
        ]
        .boxed(),
        _ => leaf.boxed(),
    }
}

/// An object with some of `keys` (and now and then an unknown one) set to tricky values.
fn json_object(mut all: Vec<&'static str>) -> BoxedStrategy<Map<String, Value>> {
    all.push("budget");
    prop::sample::subsequence(all.clone(), 0..=all.len())
        .prop_flat_map(|keys| {
            let values: Vec<_> = keys.iter().map(|k| json_value(k)).collect();
            (Just(keys), values)
        })
        .prop_map(|(keys, values)| keys.into_iter().map(str::to_owned).zip(values).collect())
        .boxed()
}

/// The keys a body of `entity` may carry: a file's columns, and what the API's GET
/// answers beside them.
fn body_keys(entity: &str) -> Vec<&'static str> {
    let mut keys = known_columns(entity).to_vec();
    match entity {
        "partners" => keys.extend(["attributes", "crm_score"]),
        "plans" => keys.push("key_results"),
        _ => {}
    }
    keys
}

/// Plausible NDJSON of one entity: objects, blank lines, the odd line that is no object,
/// with the line each object is on.
fn ndjson() -> impl Strategy<Value = (&'static str, String, Vec<u64>)> {
    entity().prop_flat_map(|entity| {
        let line = prop_oneof![
            8 => mutated_row(entity).prop_map(|row| {
                let object: Map<String, Value> =
                    row.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                Some(Value::Object(object).to_string())
            }),
            1 => json_object(body_keys(entity)).prop_map(|o| Some(Value::Object(o).to_string())),
            1 => Just(None),
            1 => prop::sample::select(vec!["[1, 2]", "{\"plan_id\": ", "nul", "\u{feff}{}", "  {}  "])
                .prop_map(|s| Some(s.to_owned())),
        ];
        (Just(entity), prop::collection::vec(line, 0..5), prop::sample::select(vec!["\n", "\r\n"]))
            .prop_map(|(entity, lines, ending)| {
                let mut text = String::new();
                let mut objects = Vec::new();
                for (i, line) in lines.into_iter().enumerate() {
                    if let Some(line) = line {
                        objects.push(i as u64 + 1);
                        text.push_str(&line);
                    }
                    text.push_str(ending);
                }
                (entity, text, objects)
            })
    })
}

/// Bytes that are mostly the stuff of CSV and JSON, with invalid UTF-8 among them.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"a1,;\"\r\n{}[]:- .e".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..400)
}

/// The fixture in a temp dir, with `entity`'s file replaced by `name` holding `text`.
fn dataset_with(entity: &str, name: &str, text: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(FIXTURE).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name();
        let stem = Path::new(&file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if stem != entity {
            std::fs::copy(entry.path(), dir.path().join(&file)).unwrap();
        }
    }
    std::fs::write(dir.path().join(name), text).unwrap();
    dir
}

fn lenient(skip_invalid: bool, ignore_unknown_columns: bool) -> ImportOptions {
    ImportOptions {
        skip_invalid,
        ignore_unknown_columns,
    }
}

/// Reads the dataset `dir`, in which `name` is the file under test; checks every
/// rejection of that file with `check`, and that the others name a file of the dataset.
fn read_checked(
    dir: &Path,
    name: &str,
    options: &ImportOptions,
    check: impl Fn(&Rejection) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let result = import::read_dir(dir, options, &KnownIds::default(), &mut |_| {});
    let rejected = match result {
        Ok(outcome) => outcome.rejected,
        Err(ImportError::Invalid(rejection)) => vec![rejection],
        Err(other) => {
            // A header or folder error: it must say which file.
            let message = nextbest::report::Report(&other).to_string();
            prop_assert!(
                std::fs::read_dir(dir)
                    .unwrap()
                    .any(|e| message.contains(&*e.unwrap().file_name().to_string_lossy())),
                "{message}"
            );
            return Ok(());
        }
    };
    for r in &rejected {
        if r.file == name {
            check(r)?;
        } else {
            prop_assert!(dir.join(&r.file).is_file(), "{r}");
        }
    }
    Ok(())
}

/// A CSV rejection's column is a 1-based field of the header, or a column name in it.
fn csv_column_is_inside(r: &Rejection, header: &[String]) -> Result<(), TestCaseError> {
    match r.column.parse::<usize>() {
        Ok(n) => prop_assert!((1..=header.len().max(1)).contains(&n), "{r}"),
        Err(_) => prop_assert!(header.contains(&r.column), "{r}"),
    }
    Ok(())
}

/// A JSONL rejection's column is a key (or `key.sub`, `key[i].sub`) of the line, a
/// field of `entity` the line lacks (`is required`), or a 1-based byte position in it.
fn json_column_is_inside(r: &Rejection, entity: &str, line: &str) -> Result<(), TestCaseError> {
    match r.column.parse::<usize>() {
        Ok(n) => prop_assert!((1..=line.len() + 1).contains(&n), "{r} in {line:?}"),
        Err(_) => {
            let key = r.column.split(['.', '[']).next().unwrap_or_default();
            prop_assert!(
                line.contains(&format!("\"{key}\"")) || known_columns(entity).contains(&key),
                "{r} in {line:?}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Plausible CSV: every rejection is on a line where a row starts, whatever the line
    /// endings, quoted line breaks and blank lines.
    #[test]
    fn plausible_csv_rows_are_refused_on_their_own_line(
        file in csv_file(),
        skip_invalid in any::<bool>(),
        ignore_unknown in any::<bool>(),
    ) {
        let name = format!("{}.csv", file.entity);
        let dir = dataset_with(file.entity, &name, file.text.as_bytes());
        read_checked(dir.path(), &name, &lenient(skip_invalid, ignore_unknown), |r| {
            prop_assert!(file.rows.contains(&r.line), "{r}: rows start on {:?}", file.rows);
            csv_column_is_inside(r, &file.header)
        })?;
    }

    /// Arbitrary bytes after a valid header: no panic, and every rejection names a line
    /// of the file and a column of its header.
    #[test]
    fn arbitrary_csv_bytes_are_refused_inside_the_file(
        entity in entity(),
        ending in ending(),
        body in bytes(),
    ) {
        let header = known_columns(entity).join(",");
        let mut text = format!("{header}{ending}").into_bytes();
        text.extend(&body);
        let name = format!("{entity}.csv");
        let dir = dataset_with(entity, &name, &text);
        let lines = breaks(&text) + 1;
        let header: Vec<String> = known_columns(entity).iter().map(|c| (*c).to_owned()).collect();
        read_checked(dir.path(), &name, &lenient(true, false), |r| {
            prop_assert!((2..=lines).contains(&r.line), "{r}: the file has {lines} lines");
            csv_column_is_inside(r, &header)
        })?;
    }

    /// Arbitrary bytes as a JSONL file: every rejection names a line of it and a key or
    /// position on that line.
    #[test]
    fn arbitrary_jsonl_bytes_are_refused_inside_the_file(entity in entity(), body in bytes()) {
        let name = format!("{entity}.jsonl");
        let dir = dataset_with(entity, &name, &body);
        let lines: Vec<String> = body
            .split(|b| *b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        read_checked(dir.path(), &name, &lenient(true, false), |r| {
            let line = usize::try_from(r.line).unwrap();
            prop_assert!((1..=lines.len()).contains(&line), "{r}");
            if std::str::from_utf8(body.split(|b| *b == b'\n').nth(line - 1).unwrap()).is_ok() {
                json_column_is_inside(r, entity, &lines[line - 1])?;
            }
            Ok(())
        })?;
    }

    /// Plausible JSONL files: every rejection is on a line that holds something, at a key
    /// of that line.
    #[test]
    fn plausible_jsonl_rows_are_refused_on_their_own_line((entity, text, _) in ndjson()) {
        let name = format!("{entity}.jsonl");
        let dir = dataset_with(entity, &name, text.as_bytes());
        let lines: Vec<&str> = text.split('\n').collect();
        read_checked(dir.path(), &name, &lenient(true, false), |r| {
            let line = usize::try_from(r.line).unwrap();
            prop_assert!(
                lines.get(line.wrapping_sub(1)).is_some_and(|l| !l.trim().is_empty()),
                "{r}"
            );
            json_column_is_inside(r, entity, lines[line - 1])
        })?;
    }
}

/// The stores the sync properties write to, each holding the fixture: SQLite in a temp
/// dir, and PostgreSQL where it answers (it refuses texts SQLite keeps). Made once per
/// test, not per case: migrations take longer than a case.
struct SyncStores {
    runtime: tokio::runtime::Runtime,
    backends: Vec<Backend>,
}

impl SyncStores {
    fn new(test: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let backends = runtime.block_on(async {
            let all = backends(test).await;
            for db in &all {
                db.import(FIXTURE.as_ref(), &ImportOptions::default())
                    .await
                    .unwrap();
            }
            all
        });
        Self { runtime, backends }
    }

    /// Syncs `body` as `entity` into each store: a refusal must leave every count as it
    /// was and be a client error, not a 500.
    fn sync_checked(&self, entity: &str, body: &[u8]) -> Result<(), TestCaseError> {
        self.runtime.block_on(async {
            for db in &self.backends {
                let before = db.counts().await;
                let result = import::sync_records(
                    &db.store,
                    &db.tenant,
                    entity,
                    "body",
                    body,
                    &ImportOptions::default(),
                    None,
                )
                .await;
                if let Err(err) = result {
                    let message = nextbest::report::Report(&err).to_string();
                    prop_assert_eq!(
                        db.counts().await,
                        before,
                        "{} {} changed the store",
                        db.name,
                        message
                    );
                    let status = ApiError::from(err).problem.status();
                    prop_assert!(
                        status.is_client_error(),
                        "{} {}: {}",
                        db.name,
                        status,
                        message
                    );
                }
            }
            Ok(())
        })
    }
}

/// Runs `test` on `strategy` as `proptest!` would (case count, regression file), around
/// one store for all cases.
fn run_on_a_store<S: Strategy>(
    name: &'static str,
    strategy: S,
    test: impl Fn(&SyncStores, S::Value) -> TestCaseResult,
) {
    let store = SyncStores::new(name);
    let mut config = proptest::test_runner::contextualize_config(config());
    config.source_file = Some(file!());
    config.test_name = Some(name);
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |value| test(&store, value)) {
        panic!("{e}\n{runner}");
    }
}

/// Plausible NDJSON bodies of every entity, through the sync path.
#[test]
fn plausible_sync_bodies_are_written_whole_or_refused_whole() {
    run_on_a_store(
        "plausible_sync_bodies",
        ndjson(),
        |store, (entity, text, _)| store.sync_checked(entity, text.as_bytes()),
    );
}

/// Arbitrary bytes as a body of every entity.
#[test]
fn arbitrary_sync_bytes_are_refused_whole() {
    run_on_a_store(
        "arbitrary_sync_bytes",
        (entity(), bytes()),
        |store, (entity, body)| store.sync_checked(entity, &body),
    );
}
