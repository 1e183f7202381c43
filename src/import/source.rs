//! Finding a dataset's files and reading them as rows of optional text cells, the same
//! way for CSV and JSONL, so validation is written once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{ImportError, Rejection};

/// The entities of DATA_FORMAT.md, in the order they must be read so references resolve.
pub const ENTITIES: &[&str] = &[
    "partners",
    "plans",
    "key_results",
    "kr_progress",
    "actions",
    "activities",
    "feedback",
];
/// Entities a dataset must have.
pub const REQUIRED: &[&str] = &["partners", "plans", "key_results", "activities"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// One entity's file in a dataset folder.
#[derive(Debug, Clone)]
pub struct EntityFile {
    pub entity: &'static str,
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
}

impl EntityFile {
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}

/// The entity files of `dir`. Files that are no entity (the synthetic `truth_*` files,
/// READMEs, reports) are left alone; an entity present as both CSV and JSONL is an error.
pub fn discover(dir: &Path) -> Result<Vec<EntityFile>, ImportError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ImportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut found: HashMap<&'static str, EntityFile> = HashMap::new();
    for entry in entries {
        let entry = entry.map_err(|source| ImportError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let format = match ext {
            "csv" => Format::Csv,
            "jsonl" => Format::Jsonl,
            _ => continue,
        };
        let Some(entity) = ENTITIES.iter().copied().find(|e| *e == stem) else {
            continue;
        };
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if let Some(other) = found.insert(
            entity,
            EntityFile {
                entity,
                path: path.clone(),
                format,
                bytes,
            },
        ) {
            return Err(ImportError::BothFormats {
                entity,
                first: other.path,
                second: path,
            });
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|e| !found.contains_key(*e)) {
        return Err(ImportError::MissingFile {
            dir: dir.to_owned(),
            entity: missing,
        });
    }
    Ok(ENTITIES.iter().filter_map(|e| found.remove(e)).collect())
}

/// One data row: its line in the file and its cells, aligned with the file's column names.
/// An empty cell (or a JSON null) is `None`: "not given", never zero.
#[derive(Debug, Default)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<Option<String>>,
    /// The value of the reader's [`JsonShape::nested`] key, taken out whole (JSONL only).
    pub nested: Option<serde_json::Value>,
}

/// How a JSONL object maps onto cells beyond "one key, one column". Files use the plain
/// shape; request bodies accept what the API's GET answers, so that it can be sent back.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonShape {
    /// A key whose object value is spread into columns of its own (a partner's
    /// `attributes`), with the column names it may not use because they are standard.
    pub flatten: Option<(&'static str, &'static [&'static str])>,
    /// A key whose value is left to the caller in [`Row::nested`] (a plan's `key_results`).
    pub nested: Option<&'static str>,
}

/// Reads an entity file (or a request body) row by row. For CSV the columns are the
/// header; for JSONL they grow as new keys appear, and a row lacks the keys it does not have.
pub struct RowReader<'a> {
    pub file: String,
    pub format: Format,
    pub columns: Vec<String>,
    inner: Inner<'a>,
}

enum Inner<'a> {
    Csv(csv::Reader<BufReader<File>>, csv::StringRecord),
    Jsonl(Jsonl<'a>),
}

/// JSONL state: the source, the line number, the line buffer and the object's shape.
struct Jsonl<'a> {
    source: Box<dyn BufRead + Send + 'a>,
    line: u64,
    buf: Vec<u8>,
    shape: JsonShape,
}

impl RowReader<'static> {
    pub fn open(file: &EntityFile) -> Result<Self, ImportError> {
        let io = |source| ImportError::Io {
            path: file.path.clone(),
            source,
        };
        let handle = File::open(&file.path).map_err(io)?;
        let name = file.name();
        match file.format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(BufReader::with_capacity(1 << 20, handle));
                let header = reader.headers().map_err(|e| ImportError::Csv {
                    file: name.clone(),
                    source: e,
                })?;
                let columns = header
                    .iter()
                    .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
                    .collect();
                Ok(Self {
                    file: name,
                    format: Format::Csv,
                    columns,
                    inner: Inner::Csv(reader, csv::StringRecord::new()),
                })
            }
            Format::Jsonl => Ok(Self::jsonl(
                name,
                BufReader::with_capacity(1 << 20, handle),
                JsonShape::default(),
            )),
        }
    }
}

impl<'a> RowReader<'a> {
    /// JSONL rows from any buffered source (a file, a request body as `&[u8]`), named
    /// `name` in rejections.
    pub fn jsonl(name: String, source: impl BufRead + Send + 'a, shape: JsonShape) -> Self {
        Self {
            file: name,
            format: Format::Jsonl,
            columns: Vec::new(),
            inner: Inner::Jsonl(Jsonl {
                source: Box::new(source),
                line: 0,
                buf: Vec::new(),
                shape,
            }),
        }
    }

    /// Bytes consumed so far, for progress bars.
    pub fn position(&self) -> u64 {
        match &self.inner {
            Inner::Csv(reader, _) => reader.position().byte(),
            Inner::Jsonl(_) => 0,
        }
    }

    /// The next row, `Ok(None)` at the end. A row that cannot even be split into cells
    /// (bad quoting, invalid UTF-8, invalid JSON) is a [`Rejection`] of its own.
    pub fn next_row(&mut self, row: &mut Row) -> Result<Option<()>, RowError> {
        match &mut self.inner {
            Inner::Csv(reader, record) => {
                match reader.read_record(record) {
                    Ok(false) => return Ok(None),
                    Ok(true) => {}
                    Err(e) => {
                        let line = e.position().map_or(0, csv::Position::line);
                        let rule = match e.kind() {
                            csv::ErrorKind::UnequalLengths {
                                expected_len, len, ..
                            } => {
                                format!("row has {len} fields, the header has {expected_len}")
                            }
                            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
                            csv::ErrorKind::Io(_) => {
                                return Err(RowError::Fatal(ImportError::Csv {
                                    file: self.file.clone(),
                                    source: e,
                                }))
                            }
                            _ => e.to_string(),
                        };
                        return Err(RowError::Row(Rejection::new(
                            &self.file, line, "1", None, "", &rule,
                        )));
                    }
                }
                row.line = record.position().map_or(0, csv::Position::line);
                row.cells.clear();
                row.nested = None;
                row.cells.extend(
                    record
                        .iter()
                        .map(|cell| (!cell.is_empty()).then(|| cell.to_owned())),
                );
                Ok(Some(()))
            }
            Inner::Jsonl(jsonl) => loop {
                jsonl.buf.clear();
                // Bytes, not `read_line`: invalid UTF-8 is then one bad row, as in CSV,
                // rather than an I/O error that ends the read.
                let read = jsonl
                    .source
                    .read_until(b'\n', &mut jsonl.buf)
                    .map_err(|source| {
                        RowError::Fatal(ImportError::Io {
                            path: PathBuf::from(&self.file),
                            source,
                        })
                    })?;
                if read == 0 {
                    return Ok(None);
                }
                jsonl.line += 1;
                let line = jsonl.line;
                let text = std::str::from_utf8(&jsonl.buf).map_err(|e| {
                    RowError::Row(Rejection::new(
                        &self.file,
                        line,
                        &(e.valid_up_to() + 1).to_string(),
                        None,
                        "",
                        "not valid UTF-8",
                    ))
                })?;
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
                    .map_err(|e| {
                        RowError::Row(Rejection::new(
                            &self.file,
                            line,
                            &e.column().to_string(),
                            None,
                            "",
                            &format!("not a JSON object: {e}"),
                        ))
                    })?;
                object_row(
                    &self.file,
                    line,
                    object,
                    jsonl.shape,
                    &mut self.columns,
                    row,
                )
                .map_err(RowError::Row)?;
                return Ok(Some(()));
            },
        }
    }
}

/// Turns one JSON object into `row`, adding its new keys to `columns`. Shared by the
/// JSONL reader and by objects nested in a row (a plan's key results), so that JSON
/// becomes cells in exactly one way.
pub fn object_row(
    file: &str,
    line: u64,
    object: serde_json::Map<String, serde_json::Value>,
    shape: JsonShape,
    columns: &mut Vec<String>,
    row: &mut Row,
) -> Result<(), Rejection> {
    row.line = line;
    row.cells.clear();
    row.cells.resize(columns.len(), None);
    row.nested = None;
    for (key, value) in object {
        if shape.nested == Some(key.as_str()) {
            row.nested = Some(value).filter(|v| !v.is_null());
            continue;
        }
        if let Some((flatten, reserved)) = shape.flatten.filter(|(k, _)| *k == key) {
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::Object(inner) => {
                    for (name, value) in inner {
                        let path = format!("{flatten}.{name}");
                        if reserved.contains(&name.as_str()) {
                            return Err(Rejection::new(
                                file,
                                line,
                                &path,
                                Some(&name),
                                &value.to_string(),
                                &format!("is a standard field: give it outside `{flatten}`"),
                            ));
                        }
                        set_cell(file, line, &path, &name, &value, columns, row)?;
                    }
                }
                other => {
                    return Err(Rejection::new(
                        file,
                        line,
                        &key,
                        Some(&key),
                        &other.to_string(),
                        "must be an object of custom attributes",
                    ))
                }
            }
            continue;
        }
        set_cell(file, line, &key, &key, &value, columns, row)?;
    }
    Ok(())
}

/// Sets the cell of column `name` (`path` names it in messages); a column given twice in
/// one object (at the top level and among the flattened attributes) is refused.
fn set_cell(
    file: &str,
    line: u64,
    path: &str,
    name: &str,
    value: &serde_json::Value,
    columns: &mut Vec<String>,
    row: &mut Row,
) -> Result<(), Rejection> {
    let reject =
        |rule: &str| Rejection::new(file, line, path, Some(name), &value.to_string(), rule);
    let cell = json_cell(value).map_err(reject)?;
    let index = match columns.iter().position(|c| *c == name) {
        Some(i) => i,
        None => {
            columns.push(name.to_owned());
            row.cells.push(None);
            columns.len() - 1
        }
    };
    if row.cells[index].is_some() && cell.is_some() {
        return Err(reject("is given twice"));
    }
    row.cells[index] = cell;
    Ok(())
}

/// Why a row could not be read: a bad row (rejected like an invalid value) or a broken file.
pub enum RowError {
    Row(Rejection),
    Fatal(ImportError),
}

/// A JSON value as the text a CSV cell would hold. Arrays become `;`-sets.
fn json_cell(value: &serde_json::Value) -> Result<Option<String>, &'static str> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            Some(parts.ok_or("a list must hold only strings")?.join(";"))
        }
        Value::Object(_) => return Err("nested objects are not allowed"),
    })
}
