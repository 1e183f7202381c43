//! Reading and writing the DATA_FORMAT.md interchange format: a folder of CSV or JSONL
//! files, one per entity, validated row by row with `file:line:column` errors.
//!
//! Import is all-or-nothing by default: files are read and validated completely before
//! anything is written, then written in one transaction. With `skip_invalid` the valid
//! rows are written and every rejected row is reported with its reason.

mod cells;
mod entities;
mod records;
mod source;
pub mod write;

use std::collections::{HashMap, HashSet};

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use crate::domain::{Dataset, KnownIds};
pub use entities::known_columns;
pub use records::{read_records, sync_records, References, SyncOutcome};
pub use source::{discover, EntityFile, Format, ENTITIES};
pub use write::write_csv_dir;

use crate::domain::{ActionSpec, Id};
use crate::store::{Store, StoreError};
use source::{Row, RowError, RowReader};

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("could not read or write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read `{file}` as CSV")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("`{}` has no {entity}.csv or {entity}.jsonl, which every dataset needs", dir.display())]
    MissingFile { dir: PathBuf, entity: &'static str },
    #[error("{entity} is given twice, as `{}` and `{}`: keep one", first.display(), second.display())]
    BothFormats {
        entity: &'static str,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{file}:1: the header lacks the required column `{column}`")]
    MissingColumn { file: String, column: &'static str },
    #[error(
        "{file}:1:{position}: unknown column `{column}` (pass --ignore-unknown-columns to skip it)"
    )]
    UnknownColumn {
        file: String,
        position: usize,
        column: String,
    },
    #[error("{file}:1:{position}: column `{column}` appears twice in the header")]
    DuplicateColumn {
        file: String,
        position: usize,
        column: String,
    },
    #[error("{0}; nothing was imported (pass --skip-invalid to import the valid rows)")]
    Invalid(Rejection),
    #[error("could not read or write the store")]
    Store(#[source] StoreError),
    /// A request named an entity DATA_FORMAT.md does not have; nothing was read.
    #[error("`{0}` is not an entity of the data format: use one of {list}", list = ENTITIES.join(", "))]
    UnknownEntity(String),
}

/// One refused row: where, what value, and which rule it broke. Boxed, so the `Result`s
/// of every cell accessor stay small on the happy path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Rejection(Box<RejectionDetail>);

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RejectionDetail {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub field: Option<String>,
    pub value: String,
    pub rule: String,
    pub kind: RejectionKind,
}

/// Whether a row breaks the data contract, or is valid but contradicts what the store
/// holds (the same row would be accepted by another tenant): the API answers 422 for the
/// first and 409 for the second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKind {
    #[default]
    Invalid,
    Conflict,
}

impl Rejection {
    pub fn new(
        file: &str,
        line: u64,
        column: &str,
        field: Option<&str>,
        value: &str,
        rule: &str,
    ) -> Self {
        Self(Box::new(RejectionDetail {
            file: file.to_owned(),
            line,
            column: column.to_owned(),
            field: field.map(str::to_owned),
            value: value.to_owned(),
            rule: rule.to_owned(),
            kind: RejectionKind::Invalid,
        }))
    }

    /// The same rejection, as a conflict with the store rather than a broken rule.
    #[must_use]
    pub fn conflicting(mut self) -> Self {
        self.0.kind = RejectionKind::Conflict;
        self
    }
}

impl std::ops::Deref for Rejection {
    type Target = RejectionDetail;

    fn deref(&self) -> &RejectionDetail {
        &self.0
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {:?}: ",
            self.file, self.line, self.column, self.value
        )?;
        match &self.field {
            Some(field) => write!(f, "{field} {}", self.rule),
            None => f.write_str(&self.rule),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Import the valid rows and report the invalid ones instead of aborting.
    pub skip_invalid: bool,
    /// Skip unknown columns on files other than `partners` instead of refusing them.
    pub ignore_unknown_columns: bool,
}

/// Reading progress, reported every few thousand rows and at the end of each file.
#[derive(Debug, Clone, Copy)]
pub struct ReadProgress<'a> {
    pub file: &'a str,
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub rows: u64,
    pub done: bool,
}

/// What reading a folder produced.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub dataset: Dataset,
    pub rejected: Vec<Rejection>,
    /// Kinds seen in activities that no catalog defines, now custom kinds.
    pub custom_kinds: Vec<String>,
    /// Plans whose key results `dataset` gives completely (a plan object that carried
    /// `key_results`): writing it removes their other key results. Empty for folders,
    /// whose key_results file adds and updates but never removes.
    pub complete_key_results: Vec<Id>,
}

/// Reads and validates the dataset in `dir` against what the store already holds.
pub fn read_dir(
    dir: &Path,
    options: &ImportOptions,
    known: &KnownIds,
    progress: &mut dyn FnMut(ReadProgress<'_>),
) -> Result<ReadOutcome, ImportError> {
    let files = discover(dir)?;
    let mut reader = DatasetReader::new(options, known);
    for file in &files {
        reader.read_file(file, progress)?;
    }
    Ok(reader.finish())
}

/// Adds the kinds seen in activities that no catalog defines as observed actions, so
/// that every written activity has a kind the tenant's catalog knows.
fn with_custom_kinds(mut out: ReadOutcome, known: &KnownIds) -> ReadOutcome {
    let actions = &out.dataset.actions;
    let defined =
        |kind: &str| known.catalog.contains(kind) || actions.iter().any(|spec| spec.kind == kind);
    let mut custom: Vec<String> = out
        .dataset
        .activities
        .iter()
        .map(|a| a.kind.as_str())
        .filter(|k| !defined(k))
        .map(str::to_owned)
        .collect();
    custom.sort_unstable();
    custom.dedup();
    out.dataset
        .actions
        .extend(custom.iter().map(|k| ActionSpec::observed(k)));
    out.custom_kinds = custom;
    out
}

/// Ids accepted so far in this import, per entity, with the line that defined them.
#[derive(Default)]
struct Seen {
    partners: HashMap<String, u64>,
    plans: HashMap<String, u64>,
    key_results: HashMap<String, u64>,
    progress: HashSet<(String, chrono::NaiveDate)>,
    activities: HashMap<String, u64>,
    actions: HashMap<String, u64>,
    feedback: HashSet<(String, String, String)>,
    occurrences: HashMap<(String, String, chrono::NaiveDate), u32>,
}

struct DatasetReader<'a> {
    options: &'a ImportOptions,
    known: &'a KnownIds,
    out: ReadOutcome,
    seen: Seen,
}

/// Refuses an id already defined earlier in the same file.
fn first_definition(seen: &mut HashMap<String, u64>, id: &str, line: u64) -> Result<(), String> {
    match seen.insert(id.to_owned(), line) {
        Some(first) => {
            seen.insert(id.to_owned(), first);
            Err(format!("is a duplicate: first defined on line {first}"))
        }
        None => Ok(()),
    }
}

impl<'a> DatasetReader<'a> {
    fn new(options: &'a ImportOptions, known: &'a KnownIds) -> Self {
        Self {
            options,
            known,
            out: ReadOutcome::default(),
            seen: Seen::default(),
        }
    }

    /// What was read, with the custom kinds it introduced.
    fn finish(self) -> ReadOutcome {
        with_custom_kinds(self.out, self.known)
    }

    fn read_file(
        &mut self,
        file: &EntityFile,
        progress: &mut dyn FnMut(ReadProgress<'_>),
    ) -> Result<(), ImportError> {
        let rows = RowReader::open(file)?;
        if file.format == Format::Csv {
            self.check_header(file.entity, &rows)?;
        }
        self.read_rows(file.entity, rows, file.bytes, progress)
    }

    /// Validates every row of one entity's source and adds the valid ones to the dataset.
    fn read_rows(
        &mut self,
        entity: &str,
        mut rows: RowReader<'_>,
        bytes_total: u64,
        progress: &mut dyn FnMut(ReadProgress<'_>),
    ) -> Result<(), ImportError> {
        let name = rows.file.clone();
        let mut row = Row::default();
        let mut count = 0_u64;
        let mut attributes: HashMap<usize, Vec<(usize, String)>> = HashMap::new();
        loop {
            match rows.next_row(&mut row) {
                Ok(None) => break,
                Ok(Some(())) => {
                    count += 1;
                    let nested = row.nested.take();
                    let cells = cells::Cells {
                        file: &name,
                        format: rows.format,
                        columns: &rows.columns,
                        row: &row,
                    };
                    let accepted = match nested {
                        None => self.accept(entity, &cells, &mut attributes),
                        Some(nested) => self.accept_nested(entity, &cells, nested, &mut attributes),
                    };
                    if let Err(rejection) = accepted {
                        self.reject(rejection)?;
                    }
                }
                Err(RowError::Row(rejection)) => self.reject(rejection)?,
                Err(RowError::Fatal(e)) => return Err(e),
            }
            if count.is_multiple_of(8192) {
                progress(ReadProgress {
                    file: &name,
                    bytes_read: rows.position(),
                    bytes_total,
                    rows: count,
                    done: false,
                });
            }
        }
        if entity == "partners" {
            self.type_attributes(&rows.columns, attributes);
        }
        progress(ReadProgress {
            file: &name,
            bytes_read: bytes_total,
            bytes_total,
            rows: count,
            done: true,
        });
        Ok(())
    }

    fn check_header(&self, entity: &str, rows: &RowReader<'_>) -> Result<(), ImportError> {
        for (i, column) in rows.columns.iter().enumerate() {
            if rows.columns[..i].contains(column) {
                return Err(ImportError::DuplicateColumn {
                    file: rows.file.clone(),
                    position: i + 1,
                    column: column.clone(),
                });
            }
        }
        if let Some(missing) = entities::required_columns(entity)
            .iter()
            .find(|c| !rows.columns.iter().any(|h| h == *c))
        {
            return Err(ImportError::MissingColumn {
                file: rows.file.clone(),
                column: missing,
            });
        }
        if entity != "partners" && !self.options.ignore_unknown_columns {
            let known = entities::known_columns(entity);
            if let Some((i, column)) = rows
                .columns
                .iter()
                .enumerate()
                .find(|(_, c)| !known.contains(&c.as_str()))
            {
                return Err(ImportError::UnknownColumn {
                    file: rows.file.clone(),
                    position: i + 1,
                    column: column.clone(),
                });
            }
        }
        Ok(())
    }

    fn reject(&mut self, rejection: Rejection) -> Result<(), ImportError> {
        if self.options.skip_invalid {
            self.out.rejected.push(rejection);
            Ok(())
        } else {
            Err(ImportError::Invalid(rejection))
        }
    }

    /// Validates one row and adds it to the dataset, or says why not.
    fn accept(
        &mut self,
        entity: &str,
        c: &cells::Cells<'_>,
        attributes: &mut HashMap<usize, Vec<(usize, String)>>,
    ) -> Result<(), Rejection> {
        let line = c.row.line;
        if c.format == Format::Jsonl && entity != "partners" && !self.options.ignore_unknown_columns
        {
            let known = entities::known_columns(entity);
            let unknown = c.columns.iter().enumerate().find(|(i, name)| {
                c.row.cells.get(*i).is_some_and(Option::is_some) && !known.contains(&name.as_str())
            });
            if let Some((_, name)) = unknown {
                return Err(c.reject(
                    name,
                    "",
                    "is an unknown field (pass --ignore-unknown-columns to skip it)",
                ));
            }
        }
        let data = &mut self.out.dataset;
        let seen = &mut self.seen;
        let known = self.known;
        let exists = |set: &HashSet<String>, seen: &HashMap<String, u64>, id: &Id| {
            set.contains(id.as_str()) || seen.contains_key(id.as_str())
        };
        let kr_exists = |seen: &HashMap<String, u64>, id: &Id| {
            known.key_results.contains_key(id.as_str()) || seen.contains_key(id.as_str())
        };
        match entity {
            "partners" => {
                let (partner, extra) = entities::partner(c)?;
                first_definition(&mut seen.partners, partner.partner_id.as_str(), line)
                    .map_err(|r| c.reject("partner_id", partner.partner_id.as_str(), &r))?;
                let index = data.partners.len();
                for (column, value) in extra {
                    attributes.entry(column).or_default().push((index, value));
                }
                data.partners.push(partner);
            }
            "plans" => {
                let plan = entities::plan(c)?;
                if !exists(&known.partners, &seen.partners, &plan.partner_id) {
                    return Err(c.reject(
                        "partner_id",
                        plan.partner_id.as_str(),
                        "does not exist in partners",
                    ));
                }
                first_definition(&mut seen.plans, plan.plan_id.as_str(), line)
                    .map_err(|r| c.reject("plan_id", plan.plan_id.as_str(), &r))?;
                data.plans.push(plan);
            }
            "key_results" => {
                let kr = entities::key_result(c)?;
                if !exists(&known.plans, &seen.plans, &kr.plan_id) {
                    return Err(c.reject(
                        "plan_id",
                        kr.plan_id.as_str(),
                        "does not exist in plans",
                    ));
                }
                first_definition(&mut seen.key_results, kr.kr_id.as_str(), line)
                    .map_err(|r| c.reject("kr_id", kr.kr_id.as_str(), &r))?;
                if let Some(held) = known
                    .key_results
                    .get(kr.kr_id.as_str())
                    .filter(|held| **held != kr.plan_id.as_str())
                {
                    seen.key_results.remove(kr.kr_id.as_str());
                    let rule = format!(
                        "belongs to plan `{held}`: a key result cannot move to plan `{}` \
                         (remove it from `{held}` first, or give the new one its own kr_id)",
                        kr.plan_id
                    );
                    return Err(c.reject("kr_id", kr.kr_id.as_str(), &rule).conflicting());
                }
                data.key_results.push(kr);
            }
            "kr_progress" => {
                let point = entities::progress(c)?;
                if !kr_exists(&seen.key_results, &point.kr_id) {
                    return Err(c.reject(
                        "kr_id",
                        point.kr_id.as_str(),
                        "does not exist in key_results",
                    ));
                }
                if !seen.progress.insert((point.kr_id.to_string(), point.as_of)) {
                    return Err(c.reject(
                        "as_of",
                        &point.as_of.to_string(),
                        "is a duplicate for this kr_id",
                    ));
                }
                data.kr_progress.push(point);
            }
            "actions" => {
                let spec = entities::action(c)?;
                first_definition(&mut seen.actions, &spec.kind, line)
                    .map_err(|r| c.reject("kind", &spec.kind, &r))?;
                data.actions.push(spec);
            }
            "activities" => {
                let (given, mut activity) = entities::activity(c)?;
                if !exists(&known.plans, &seen.plans, &activity.plan_id) {
                    return Err(c.reject(
                        "plan_id",
                        activity.plan_id.as_str(),
                        "does not exist in plans",
                    ));
                }
                if let Some(kr) = &activity.kr_id {
                    if !kr_exists(&seen.key_results, kr) {
                        return Err(c.reject(
                            "kr_id",
                            kr.as_str(),
                            "does not exist in key_results",
                        ));
                    }
                }
                activity.activity_id = match given {
                    Some(id) => id,
                    None => {
                        let key = (
                            activity.plan_id.to_string(),
                            activity.kind.clone(),
                            activity.date,
                        );
                        let n = seen.occurrences.entry(key).or_insert(0);
                        *n += 1;
                        entities::derived_activity_id(
                            &activity.plan_id,
                            &activity.kind,
                            activity.date,
                            *n - 1,
                        )
                    }
                };
                first_definition(&mut seen.activities, activity.activity_id.as_str(), line)
                    .map_err(|r| c.reject("activity_id", activity.activity_id.as_str(), &r))?;
                data.activities.push(activity);
            }
            "feedback" => {
                let fb = entities::feedback(c)?;
                if !exists(&known.plans, &seen.plans, &fb.plan_id) {
                    return Err(c.reject(
                        "plan_id",
                        fb.plan_id.as_str(),
                        "does not exist in plans",
                    ));
                }
                let key = (
                    fb.recommendation_id.to_string(),
                    fb.response.as_str().to_owned(),
                    crate::store::timestamp(&fb.at),
                );
                if !seen.feedback.insert(key) {
                    return Err(c.reject(
                        "at",
                        &fb.at.to_rfc3339(),
                        "is a duplicate response for this recommendation",
                    ));
                }
                data.feedback.push(fb);
            }
            _ => {}
        }
        Ok(())
    }

    fn type_attributes(
        &mut self,
        columns: &[String],
        attributes: HashMap<usize, Vec<(usize, String)>>,
    ) {
        for (column, values) in attributes {
            let Some(name) = columns.get(column) else {
                continue;
            };
            for (index, value) in entities::attribute_values(&values) {
                if let Some(partner) = self.out.dataset.partners.get_mut(index) {
                    partner.attributes.insert(name.clone(), value);
                }
            }
        }
    }
}

/// Writes rejected rows as CSV (file, line, column, field, value, rule).
pub fn write_rejections(path: &Path, rejected: &[Rejection]) -> Result<(), ImportError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("import-rejected");
    let rows = rejected.iter().map(|r| {
        vec![
            r.file.clone(),
            r.line.to_string(),
            r.column.clone(),
            r.field.clone().unwrap_or_default(),
            r.value.clone(),
            r.rule.clone(),
        ]
    });
    write::write_file(
        dir,
        name,
        &["file", "line", "column", "field", "value", "rule"],
        rows,
    )?;
    Ok(())
}

/// What an import did, for the CLI and tests.
#[derive(Debug)]
pub struct ImportSummary {
    pub rows: [(&'static str, usize); 7],
    pub rejected: Vec<Rejection>,
    pub custom_kinds: Vec<String>,
}

/// Reads `dir`, validates it against the tenant's stored ids, and writes it in one
/// transaction. Nothing is written when validation fails (without `skip_invalid`).
pub async fn import_dir(
    store: &Store,
    tenant: &str,
    dir: &Path,
    options: &ImportOptions,
    read_progress: &mut (dyn FnMut(ReadProgress<'_>) + Send),
    write_progress: crate::store::WriteProgress<'_>,
) -> Result<ImportSummary, ImportError> {
    let known = store.known_ids(tenant).await.map_err(ImportError::Store)?;
    let outcome = read_dir(dir, options, &known, read_progress)?;
    store
        .write_dataset(tenant, &outcome.dataset, write_progress)
        .await
        .map_err(ImportError::Store)?;
    Ok(ImportSummary {
        rows: outcome.dataset.counts(),
        rejected: outcome.rejected,
        custom_kinds: outcome.custom_kinds,
    })
}
