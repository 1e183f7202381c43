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
}

/// Reads an entity file row by row. For CSV the columns are the header; for JSONL they
/// grow as new keys appear, and a row lacks the keys it does not have.
pub struct RowReader {
    pub file: String,
    pub format: Format,
    pub columns: Vec<String>,
    inner: Inner,
}

enum Inner {
    Csv(csv::Reader<BufReader<File>>, csv::StringRecord),
    Jsonl(BufReader<File>, u64, String),
}

impl RowReader {
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
            Format::Jsonl => Ok(Self {
                file: name,
                format: Format::Jsonl,
                columns: Vec::new(),
                inner: Inner::Jsonl(BufReader::with_capacity(1 << 20, handle), 0, String::new()),
            }),
        }
    }

    /// Bytes consumed so far, for progress bars.
    pub fn position(&self) -> u64 {
        match &self.inner {
            Inner::Csv(reader, _) => reader.position().byte(),
            Inner::Jsonl(_, _, _) => 0,
        }
    }

    /// The next row, `Ok(None)` at the end. A row that cannot even be split into cells
    /// (bad quoting, invalid JSON) is a [`Rejection`] of its own.
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
                row.cells.extend(
                    record
                        .iter()
                        .map(|cell| (!cell.is_empty()).then(|| cell.to_owned())),
                );
                Ok(Some(()))
            }
            Inner::Jsonl(reader, line_no, buf) => loop {
                buf.clear();
                let read = reader.read_line(buf).map_err(|source| {
                    RowError::Fatal(ImportError::Io {
                        path: PathBuf::from(&self.file),
                        source,
                    })
                })?;
                if read == 0 {
                    return Ok(None);
                }
                *line_no += 1;
                let text = buf.trim();
                if text.is_empty() {
                    continue;
                }
                let line = *line_no;
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
                row.line = line;
                row.cells.clear();
                row.cells.resize(self.columns.len(), None);
                for (key, value) in object {
                    let cell = json_cell(&value).map_err(|rule| {
                        RowError::Row(Rejection::new(
                            &self.file,
                            line,
                            &key,
                            Some(&key),
                            &value.to_string(),
                            rule,
                        ))
                    })?;
                    let index = match self.columns.iter().position(|c| *c == key) {
                        Some(i) => i,
                        None => {
                            self.columns.push(key);
                            row.cells.push(None);
                            self.columns.len() - 1
                        }
                    };
                    row.cells[index] = cell;
                }
                return Ok(Some(()));
            },
        }
    }
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
