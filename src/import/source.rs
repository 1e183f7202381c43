//! Finding a dataset's files and reading them as rows of optional text cells, the same
//! way for CSV and JSONL, so validation is written once.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
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
    Csv(csv::Reader<LineBreaks<'a>>, csv::StringRecord),
    Jsonl(Jsonl<'a>),
}

/// Counts the line breaks of a CSV source on their way into the parser, so that a record
/// is named by the line an editor shows. The csv crate's own count (`Position::line`) is
/// wrong in two ways: it ends a record at the `\r` of a CRLF and counts the `\n` with the
/// next record, so every row of a CRLF file came out one line early and every row of a
/// lone-CR file on line 1 (rust-csv#395, open); and a record's position is taken before
/// the blank lines the parser skips. Its byte offsets are right, so lines are found from
/// them here. `\r\n`, `\n` and a lone `\r` are one line break each: the three endings
/// the parser ends a record at, so a quoted cell's line breaks count the same way.
struct LineBreaks<'a> {
    inner: Box<dyn Read + Send + 'a>,
    /// Bytes handed to the parser so far.
    offset: u64,
    /// The offset of the last `\r` handed over: a `\n` right after it ends the same CRLF,
    /// even when the two came in different reads.
    last_cr: Option<u64>,
    /// Line breaks handed over that no record has been placed after yet, as (offset of
    /// the first byte, length). The parser reads at most its buffer (8 KiB) ahead of the
    /// record it returns, so this stays short.
    pending: VecDeque<(u64, u64)>,
    /// Line breaks before `first_byte`.
    counted: u64,
    /// The first byte of the last record placed.
    first_byte: u64,
}

impl<'a> LineBreaks<'a> {
    fn new(inner: impl Read + Send + 'a) -> Self {
        Self {
            inner: Box::new(inner),
            offset: 0,
            last_cr: None,
            pending: VecDeque::new(),
            counted: 0,
            first_byte: 0,
        }
    }

    /// The line of the record the parser says starts at byte `start`. Records must be
    /// placed in file order. The parser's start is where it began reading: after the
    /// previous record's `\r` (so possibly on its `\n`) and before any blank lines, so
    /// the record really begins after every line break that starts at or before it.
    fn line_of(&mut self, start: u64) -> u64 {
        let mut first = start.max(self.first_byte);
        while let Some(&(at, len)) = self.pending.front() {
            if at > first {
                break;
            }
            self.pending.pop_front();
            self.counted += 1;
            first = first.max(at + len);
        }
        self.first_byte = first;
        self.counted + 1
    }
}

impl Read for LineBreaks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        for i in memchr::memchr2_iter(b'\r', b'\n', read) {
            let at = self.offset + i as u64;
            if read.get(i) == Some(&b'\r') {
                self.last_cr = Some(at);
                self.pending.push_back((at, 1));
            } else if self.last_cr.is_some_and(|cr| cr + 1 == at) {
                // The `\n` of a CRLF: its `\r` is the last break recorded, or already
                // behind a placed record, which is as good.
                if let Some(back) = self.pending.back_mut().filter(|b| b.0 + 1 == at) {
                    back.1 = 2;
                }
            } else {
                self.pending.push_back((at, 1));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
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
            Format::Csv => Self::csv(name, BufReader::with_capacity(1 << 20, handle)),
            Format::Jsonl => Ok(Self::jsonl(
                name,
                BufReader::with_capacity(1 << 20, handle),
                JsonShape::default(),
            )),
        }
    }
}

impl<'a> RowReader<'a> {
    /// CSV rows from any source, named `name` in rejections; the header is read here.
    ///
    /// # Errors
    /// [`ImportError::Csv`] when the header cannot be read (bad UTF-8, an I/O error).
    pub fn csv(name: String, source: impl Read + Send + 'a) -> Result<Self, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(LineBreaks::new(source));
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
                        let start = e.position().map_or(0, csv::Position::byte);
                        let line = reader.get_mut().line_of(start);
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
                let start = record.position().map_or(0, csv::Position::byte);
                row.line = reader.get_mut().line_of(start);
                row.cells.clear();
                row.nested = None;
                row.cells.extend(
                    record
                        .iter()
                        .map(|cell| (!cell.is_empty()).then(|| cell.to_owned())),
                );
                let nul = row.cells.iter().enumerate().find_map(|(i, cell)| {
                    cell.as_deref().filter(|c| c.contains('\0')).map(|c| (i, c))
                });
                if let Some((i, cell)) = nul {
                    let field = self.columns.get(i).map(String::as_str);
                    let column = (i + 1).to_string();
                    return Err(RowError::Row(Rejection::new(
                        &self.file, row.line, &column, field, cell, NUL_RULE,
                    )));
                }
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
                // A BOM starts many Windows exports; columns still count its bytes.
                let bom = if line == 1 && text.starts_with('\u{feff}') {
                    3
                } else {
                    0
                };
                let text = text.get(bom..).unwrap_or_default().trim_end();
                if text.trim_start().is_empty() {
                    continue;
                }
                let reject = |column: usize, rule: String| {
                    let column = (bom + column).to_string();
                    RowError::Row(Rejection::new(&self.file, line, &column, None, "", &rule))
                };
                // A `Value` first, then the object: serde's own "expected a map" names
                // column 0, the byte before the value.
                let object = match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(serde_json::Value::Object(object)) => object,
                    Ok(other) => {
                        let at = text.len() - text.trim_start().len() + 1;
                        return Err(reject(
                            at,
                            format!("not a JSON object: {}", json_kind(&other)),
                        ));
                    }
                    Err(e) => return Err(reject(e.column(), format!("not a JSON object: {e}"))),
                };
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

/// What a JSON value is, for messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a text with U+0000 in it is refused: PostgreSQL's text cannot hold it, so it would
/// be a 500 there (and a value no export could round-trip anywhere). Found by
/// `tests/it/fuzz.rs` running against PostgreSQL.
const NUL_RULE: &str = "must not contain the NUL character (U+0000)";

/// A JSON value as the text a CSV cell would hold. Arrays become `;`-sets.
fn json_cell(value: &serde_json::Value) -> Result<Option<String>, &'static str> {
    use serde_json::Value;
    let no_nul = |s: &str| {
        if s.contains('\0') {
            Err(NUL_RULE)
        } else {
            Ok(())
        }
    };
    Ok(match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => {
            no_nul(s)?;
            Some(s.clone())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            let parts = parts.ok_or("a list must hold only strings")?;
            parts.iter().try_for_each(|p| no_nul(p))?;
            Some(parts.join(";"))
        }
        Value::Object(_) => return Err("nested objects are not allowed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands over one byte a read, so that every CRLF spans two reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((byte, rest)), Some(slot)) => {
                    *slot = *byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// The line of every row, or of the rejection that stood for it.
    fn lines(source: impl Read + Send) -> Vec<u64> {
        let mut rows = RowReader::csv("t.csv".into(), source).ok().unwrap();
        let mut row = Row::default();
        let mut lines = Vec::new();
        loop {
            match rows.next_row(&mut row) {
                Ok(Some(())) => lines.push(row.line),
                Ok(None) => return lines,
                Err(RowError::Row(r)) => lines.push(r.line),
                Err(RowError::Fatal(e)) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn rows_are_on_their_editor_lines_with_any_line_ending_and_any_read_size() {
        // Line 2: a row whose quoted cell goes on to line 3; 4 blank; 5: a row with one
        // field too few (rejected); 6: a row without a final line break.
        let text = "a,b\n1,\"x\ny\"\n\n2\n3,w";
        for ending in ["\n", "\r\n", "\r"] {
            let text = text.replace('\n', ending);
            assert_eq!(lines(text.as_bytes()), [2, 5, 6], "{ending:?}");
            assert_eq!(
                lines(Trickle(text.as_bytes())),
                [2, 5, 6],
                "{ending:?} a byte a read"
            );
        }
        let mixed = "a,b\r\n1,2\n\r3,4\r\r\n5,6";
        assert_eq!(lines(mixed.as_bytes()), [2, 4, 6]);
    }
}
