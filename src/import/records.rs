//! Records sent over HTTP: an NDJSON body of one entity, validated by the same reader and
//! rules as `nextbest import`, and written in one transaction.
//!
//! A body is what a JSONL file would hold, with two additions so that what the API's GET
//! answers can be sent back unchanged: a partner may carry its custom attributes in an
//! `attributes` object, and a plan may carry its complete set of key results.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::cells::Cells;
use super::source::{object_row, Format, JsonShape, Row, RowReader, ENTITIES};
use super::{DatasetReader, ImportError, ImportOptions, KnownIds, ReadOutcome, Rejection};
use crate::domain::dataset::columns::PARTNER_COLUMNS;
use crate::domain::{Dataset, Id};
use crate::store::Store;

/// Above this many lines a body checks its references against every id of the tenant
/// (one scan per table) instead of looking up the ids it names (one `IN` list per 500).
/// Lookups win for the small bodies of interactive writes; a bulk sync of tens of
/// thousands of rows would need more round trips than the scans cost.
const LOOKUP_LINES_MAX: usize = 4096;

/// The key of a plan object that holds its key results.
const KEY_RESULTS: &str = "key_results";

/// What a sync wrote. Serialisable, so the API can answer with it directly.
#[derive(Debug, serde::Serialize)]
pub struct SyncOutcome {
    /// Rows written per entity, by DATA_FORMAT.md name. `actions` counts the custom kinds
    /// first seen in activities too.
    pub rows: BTreeMap<&'static str, usize>,
    /// Key results removed because a plan's `key_results` no longer listed them.
    pub key_results_removed: u64,
    /// The rows as stored: the caller can answer with them, derived activity ids included.
    pub dataset: Dataset,
    /// Kinds seen in activities that no catalog defines, now custom kinds.
    pub custom_kinds: Vec<String>,
    /// Rows refused; only ever non-empty with `skip_invalid`.
    pub rejected: Vec<Rejection>,
    /// The store's commit observers took the rows as they committed (see
    /// [`crate::store::CommitObserver`]).
    pub observed: bool,
}

/// Reads and validates an NDJSON `body` of one `entity` (one JSON object a line, blank
/// lines skipped) against the ids in `known`, exactly as a `NAME.jsonl` file is read by
/// `nextbest import`. `label` stands for the file name in rejections, which read
/// `label:line:key: "value": rule`.
///
/// # Errors
/// [`ImportError::UnknownEntity`] for a name DATA_FORMAT.md lacks; without
/// `skip_invalid`, [`ImportError::Invalid`] with the first refused row (bad UTF-8 and bad
/// JSON included).
pub fn read_records(
    entity: &str,
    label: &str,
    body: &[u8],
    options: &ImportOptions,
    known: &KnownIds,
) -> Result<ReadOutcome, ImportError> {
    let entity = entity_named(entity)?;
    let mut reader = DatasetReader::new(options, known);
    let rows = RowReader::jsonl(label.to_owned(), body, shape(entity));
    let bytes = u64::try_from(body.len()).unwrap_or(u64::MAX);
    reader.read_rows(entity, rows, bytes, &mut |_| {})?;
    Ok(reader.finish())
}

/// Validates an NDJSON `body` of one `entity` (see [`read_records`]) against what the
/// store holds for `tenant`, then writes all of it atomically, committed in a group with
/// the writes that arrive at the same time ([`Store::write_grouped`]): on any refused row
/// nothing of it is written. Sending the same body again changes nothing: rows are upserted by
/// id, and activities without an `activity_id` get the id `plan:kind:date:n` that import
/// derives, `n` counting within the body.
///
/// `known` are the ids the body refers to ([`References::of_body`]) where the caller
/// holds them (the service's views, on SQLite); `None` looks them up in the store.
///
/// # Errors
/// As [`read_records`], and [`ImportError::Store`] when the store cannot be read or
/// written (then nothing was written either).
///
/// # Cancel safety
/// Dropping the future while its rows wait for a group takes them out: nothing is
/// written. Once a group has taken them, they are committed with it or not at all.
pub async fn sync_records(
    store: &Store,
    tenant: &str,
    entity: &str,
    label: &str,
    body: &[u8],
    options: &ImportOptions,
    known: Option<KnownIds>,
) -> Result<SyncOutcome, ImportError> {
    let entity = entity_named(entity)?;
    let known = match known {
        Some(known) => known,
        None => match References::of_body(entity, body) {
            None => store.known_ids(tenant).await,
            Some(refs) => {
                store
                    .known_ids_among(tenant, &refs.partners(), &refs.plans(), &refs.key_results())
                    .await
            }
        }
        .map_err(ImportError::Store)?,
    };
    let outcome = read_records(entity, label, body, options, &known)?;
    let dataset = std::sync::Arc::new(outcome.dataset);
    let committed = store
        .write_grouped(
            tenant,
            std::sync::Arc::clone(&dataset),
            outcome.complete_key_results,
        )
        .await
        .map_err(ImportError::Store)?;
    // The group let go of its copy before answering; a clone only if it has not.
    let dataset = std::sync::Arc::try_unwrap(dataset).unwrap_or_else(|shared| (*shared).clone());
    Ok(SyncOutcome {
        rows: dataset.counts().into_iter().collect(),
        key_results_removed: committed.key_results_removed,
        dataset,
        custom_kinds: outcome.custom_kinds,
        rejected: outcome.rejected,
        observed: committed.observed,
    })
}

fn entity_named(name: &str) -> Result<&'static str, ImportError> {
    ENTITIES
        .iter()
        .copied()
        .find(|e| *e == name)
        .ok_or_else(|| ImportError::UnknownEntity(name.to_owned()))
}

/// The object shape a body of `entity` may use beyond a file's (see the module docs).
fn shape(entity: &str) -> JsonShape {
    match entity {
        "partners" => JsonShape {
            flatten: Some(("attributes", PARTNER_COLUMNS)),
            nested: None,
        },
        "plans" => JsonShape {
            flatten: None,
            nested: Some(KEY_RESULTS),
        },
        _ => JsonShape::default(),
    }
}

/// Lines that hold something.
fn lines(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|line| !line.trim_ascii().is_empty())
        .count()
}

/// The ids a body refers to, per entity referred to: what [`Store::known_ids_among`]
/// must look up. Lines that are not JSON objects are skipped here; validation refuses
/// them with their line.
#[derive(Debug, Default)]
pub struct References {
    partners: BTreeSet<String>,
    plans: BTreeSet<String>,
    key_results: BTreeSet<String>,
}

impl References {
    /// The ids a body of `entity` refers to; `None` for a body too long to look its ids
    /// up one by one (the tenant's ids are read whole for it).
    pub fn of_body(entity: &str, body: &[u8]) -> Option<Self> {
        (lines(body) <= LOOKUP_LINES_MAX).then(|| Self::of(entity, body))
    }

    fn of(entity: &str, body: &[u8]) -> Self {
        let keys: &[&str] = match entity {
            "plans" => &["partner_id"],
            // A key result's own id too: the store's plan for it must be the row's.
            "key_results" => &["plan_id", "kr_id"],
            "feedback" => &["plan_id"],
            "kr_progress" => &["kr_id"],
            "activities" => &["plan_id", "kr_id"],
            _ => &[],
        };
        let mut refs = Self::default();
        if keys.is_empty() {
            return refs;
        }
        for line in body.split(|b| *b == b'\n') {
            if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) {
                refs.collect(keys, &object);
                if entity == "plans" {
                    let nested = object.get(KEY_RESULTS).and_then(Value::as_array);
                    for kr in nested.into_iter().flatten().filter_map(Value::as_object) {
                        refs.collect(&["kr_id"], kr);
                    }
                }
            }
        }
        refs
    }

    /// Only ids that parse are looked up: the rest are refused by validation with their
    /// line, and one with U+0000 in it would fail the lookup itself on PostgreSQL, a 500
    /// (found by `tests/it/fuzz.rs`).
    fn collect(&mut self, keys: &[&str], object: &serde_json::Map<String, Value>) {
        for key in keys {
            let Some(Value::String(id)) = object.get(*key) else {
                continue;
            };
            if Id::parse(id).is_err() {
                continue;
            }
            let set = match *key {
                "partner_id" => &mut self.partners,
                "plan_id" => &mut self.plans,
                _ => &mut self.key_results,
            };
            set.insert(id.clone());
        }
    }

    pub fn partners(&self) -> Vec<&str> {
        self.partners.iter().map(String::as_str).collect()
    }

    pub fn plans(&self) -> Vec<&str> {
        self.plans.iter().map(String::as_str).collect()
    }

    pub fn key_results(&self) -> Vec<&str> {
        self.key_results.iter().map(String::as_str).collect()
    }
}

/// Names a rejection from the `index`th nested key result by its path in the plan object.
fn in_key_result(mut rejection: Rejection, index: usize) -> Rejection {
    rejection.0.column = format!("{KEY_RESULTS}[{index}].{}", rejection.0.column);
    rejection
}

impl DatasetReader<'_> {
    /// Accepts a row that carried a nested value: a plan with its key results. The plan
    /// and its key results are one unit: if one key result is refused, so is the plan,
    /// or `skip_invalid` would remove the refused key result from the store.
    pub(super) fn accept_nested(
        &mut self,
        entity: &str,
        c: &Cells<'_>,
        nested: Value,
        attributes: &mut HashMap<usize, Vec<(usize, String)>>,
    ) -> Result<(), Rejection> {
        if entity != "plans" {
            return self.accept(entity, c, attributes);
        }
        let Value::Array(items) = nested else {
            return Err(c.reject(
                KEY_RESULTS,
                &nested.to_string(),
                "must be a list of key result objects",
            ));
        };
        let plans_before = self.out.dataset.plans.len();
        let key_results_before = self.out.dataset.key_results.len();
        self.accept(entity, c, attributes)?;
        let Some(plan_id) = self.out.dataset.plans.last().map(|p| p.plan_id.clone()) else {
            return Ok(());
        };
        if let Err(rejection) = self.accept_key_results(c, &plan_id, items) {
            for kr in self.out.dataset.key_results.drain(key_results_before..) {
                self.seen.key_results.remove(kr.kr_id.as_str());
            }
            self.out.dataset.plans.truncate(plans_before);
            self.seen.plans.remove(plan_id.as_str());
            return Err(rejection);
        }
        self.out.complete_key_results.push(plan_id);
        Ok(())
    }

    /// Validates a plan's key results as rows of `key_results`, on the plan's line. Each
    /// one's `plan_id` defaults to the plan's; another plan's id is refused.
    fn accept_key_results(
        &mut self,
        c: &Cells<'_>,
        plan_id: &Id,
        items: Vec<Value>,
    ) -> Result<(), Rejection> {
        let line = c.row.line;
        let mut columns: Vec<String> = Vec::new();
        let mut row = Row::default();
        let mut no_attributes = HashMap::new();
        for (index, item) in items.into_iter().enumerate() {
            let Value::Object(object) = item else {
                return Err(Rejection::new(
                    c.file,
                    line,
                    &format!("{KEY_RESULTS}[{index}]"),
                    Some(KEY_RESULTS),
                    &item.to_string(),
                    "must be a key result object",
                ));
            };
            object_row(
                c.file,
                line,
                object,
                JsonShape::default(),
                &mut columns,
                &mut row,
            )
            .map_err(|r| in_key_result(r, index))?;
            let at = match columns.iter().position(|name| name == "plan_id") {
                Some(at) => at,
                None => {
                    columns.push("plan_id".to_owned());
                    row.cells.push(None);
                    columns.len() - 1
                }
            };
            match row.cells.get(at).cloned().flatten() {
                None => row.cells[at] = Some(plan_id.to_string()),
                Some(given) if given == plan_id.as_str() => {}
                Some(given) => {
                    let rule = format!("must be the plan's own id `{plan_id}` (or left out)");
                    let rejection =
                        Rejection::new(c.file, line, "plan_id", Some("plan_id"), &given, &rule);
                    return Err(in_key_result(rejection, index));
                }
            }
            let cells = Cells {
                file: c.file,
                format: Format::Jsonl,
                columns: &columns,
                row: &row,
            };
            self.accept(KEY_RESULTS, &cells, &mut no_attributes)
                .map_err(|r| in_key_result(r, index))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AttributeValue, PlanStatus};

    fn known() -> KnownIds {
        KnownIds {
            partners: ["acme".to_owned()].into(),
            plans: ["p1".to_owned()].into(),
            key_results: [("k1".to_owned(), "p1".to_owned())].into(),
            ..KnownIds::default()
        }
    }

    fn read(entity: &str, body: &str) -> Result<ReadOutcome, ImportError> {
        read_records(
            entity,
            "body",
            body.as_bytes(),
            &ImportOptions::default(),
            &known(),
        )
    }

    fn rejection(result: Result<ReadOutcome, ImportError>) -> Rejection {
        match result {
            Err(ImportError::Invalid(rejection)) => rejection,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_rejection_names_the_label_line_and_json_key() {
        let body = "{\"kr_id\":\"k2\",\"plan_id\":\"p1\"}\n\n{\"kr_id\":\"k3\",\"plan_id\":\"p1\",\"target\":-5}\n";
        let r = rejection(read("key_results", body));
        assert_eq!(r.to_string(), "body:3:target: \"-5\": target must be > 0");
        assert_eq!((r.line, r.field.as_deref()), (3, Some("target")));
    }

    #[test]
    fn bad_utf8_and_bad_json_are_rejections_with_their_line() {
        let r = rejection(read_records(
            "partners",
            "body",
            b"{\"partner_id\":\"a\"}\n{\"partner_id\":\"\xff\"}\n",
            &ImportOptions::default(),
            &known(),
        ));
        assert_eq!((r.line, r.rule.as_str()), (2, "not valid UTF-8"));
        let r = rejection(read("partners", "{\"partner_id\":\"a\"}\n[1, 2]\n"));
        assert_eq!(r.line, 2);
        assert!(r.rule.starts_with("not a JSON object"), "{}", r.rule);
    }

    /// Found by `tests/it/fuzz.rs`: a line that is valid JSON but no object was named at
    /// column 0 (serde's "expected a map" points before the value), and leading blanks
    /// shifted every column, as the line was trimmed before parsing.
    #[test]
    fn a_bad_json_line_is_named_by_its_column_in_the_raw_line() {
        let column = |body: &[u8]| {
            rejection(read_records(
                "partners",
                "body",
                body,
                &ImportOptions::default(),
                &known(),
            ))
            .column
            .clone()
        };
        // The fuzzer's input: valid JSON up to the bad escape `\a`, no object.
        assert_eq!(column(b"[{\".1}\\a;\n"), "8");
        assert_eq!(column(b"[1, 2]"), "1");
        assert_eq!(column(b"   \"x\"\r\n"), "4");
        assert_eq!(column(b"  {\"tier\": }"), "12");
        assert_eq!(column(b"\xef\xbb\xbf{\"tier\": }"), "13", "a BOM counts");
        let out = read("partners", "\u{feff}{\"partner_id\":\"a\"}\n").unwrap();
        assert_eq!(
            out.dataset.partners.len(),
            1,
            "a BOM is no part of the first line"
        );
    }

    #[test]
    fn an_unknown_entity_is_its_own_error() {
        assert!(matches!(
            read("truth", "{}"),
            Err(ImportError::UnknownEntity(name)) if name == "truth"
        ));
    }

    #[test]
    fn partner_attributes_may_be_nested_and_are_typed_per_column() {
        let body = concat!(
            "{\"partner_id\":\"a\",\"attributes\":{\"crm_score\":3,\"focus\":\"cloud\"}}\n",
            "{\"partner_id\":\"b\",\"crm_score\":4.5,\"attributes\":null}\n",
        );
        let out = read("partners", body).unwrap();
        let a = &out.dataset.partners[0].attributes;
        assert_eq!(a.get("crm_score"), Some(&AttributeValue::Number(3.0)));
        assert_eq!(a.get("focus"), Some(&AttributeValue::Text("cloud".into())));
        assert_eq!(
            out.dataset.partners[1].attributes.get("crm_score"),
            Some(&AttributeValue::Number(4.5))
        );
    }

    #[test]
    fn a_nested_attribute_may_not_shadow_a_standard_or_a_top_level_field() {
        let r = rejection(read(
            "partners",
            "{\"partner_id\":\"a\",\"attributes\":{\"tier\":\"gold\"}}",
        ));
        assert_eq!(r.column, "attributes.tier");
        let r = rejection(read(
            "partners",
            "{\"partner_id\":\"a\",\"x\":1,\"attributes\":{\"x\":2}}",
        ));
        assert!(r.rule.contains("twice"), "{}", r.rule);
    }

    #[test]
    fn a_plan_carries_its_complete_key_results() {
        let body = concat!(
            "{\"plan_id\":\"p2\",\"partner_id\":\"acme\",\"start_date\":\"2025-01-01\",",
            "\"end_date\":\"2025-06-30\",\"status\":\"active\",\"key_results\":[",
            "{\"kr_id\":\"k9\",\"target\":10},{\"kr_id\":\"k8\",\"plan_id\":\"p2\"}]}\n",
            "{\"plan_id\":\"p1\",\"partner_id\":\"acme\",\"start_date\":\"2025-01-01\",",
            "\"end_date\":\"2025-06-30\",\"status\":\"closed\"}\n",
        );
        let out = read("plans", body).unwrap();
        assert_eq!(out.dataset.plans.len(), 2);
        assert_eq!(out.dataset.plans[1].status, PlanStatus::Closed);
        let krs: Vec<_> = out
            .dataset
            .key_results
            .iter()
            .map(|k| (k.kr_id.as_str(), k.plan_id.as_str()))
            .collect();
        assert_eq!(krs, [("k9", "p2"), ("k8", "p2")]);
        assert_eq!(out.complete_key_results, [Id::parse("p2").unwrap()]);
    }

    #[test]
    fn a_nested_key_result_is_checked_like_a_row_and_named_by_its_path() {
        let plan = "{\"plan_id\":\"p2\",\"partner_id\":\"acme\",\"start_date\":\"2025-01-01\",\"end_date\":\"2025-06-30\",\"status\":\"active\",";
        let r = rejection(read(
            "plans",
            &format!(
                "{plan}\"key_results\":[{{\"kr_id\":\"a\"}},{{\"kr_id\":\"b\",\"target\":0}}]}}"
            ),
        ));
        assert_eq!(
            r.to_string(),
            "body:1:key_results[1].target: \"0\": target must be > 0"
        );
        let r = rejection(read(
            "plans",
            &format!("{plan}\"key_results\":[{{\"kr_id\":\"a\",\"plan_id\":\"p1\"}}]}}"),
        ));
        assert_eq!(r.column, "key_results[0].plan_id");
    }

    #[test]
    fn with_skip_invalid_a_plan_whose_key_result_is_bad_is_refused_whole() {
        let body = concat!(
            "{\"plan_id\":\"p2\",\"partner_id\":\"acme\",\"start_date\":\"2025-01-01\",",
            "\"end_date\":\"2025-06-30\",\"status\":\"active\",\"key_results\":[",
            "{\"kr_id\":\"k9\"},{\"kr_id\":\"k8\",\"weight\":-1}]}\n",
        );
        let options = ImportOptions {
            skip_invalid: true,
            ..ImportOptions::default()
        };
        let out = read_records("plans", "body", body.as_bytes(), &options, &known()).unwrap();
        assert!(out.dataset.plans.is_empty() && out.dataset.key_results.is_empty());
        assert!(out.complete_key_results.is_empty());
        assert_eq!(out.rejected.len(), 1);
    }

    #[test]
    fn references_are_collected_only_for_what_the_entity_refers_to() {
        let refs = References::of(
            "activities",
            b"{\"plan_id\":\"p1\",\"kr_id\":\"k1\",\"kind\":\"qbr\"}\nnot json\n",
        );
        assert_eq!(refs.plans(), ["p1"]);
        assert_eq!(refs.key_results(), ["k1"]);
        let bad = References::of(
            "activities",
            b"{\"plan_id\":\"p\\u0000\",\"kr_id\":\"k 1\"}",
        );
        assert!(
            bad.plans.is_empty() && bad.key_results.is_empty(),
            "{bad:?}"
        );
        assert!(References::of("partners", b"{\"partner_id\":\"a\"}")
            .partners
            .is_empty());
        assert_eq!(lines(b"{}\n\n  \n{}"), 2);
    }
}
