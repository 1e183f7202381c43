//! Typed access to one row's cells. Every accessor either returns a valid value or a
//! [`Rejection`] naming file, line, column, value and the rule broken.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::source::{Format, Row};
use super::Rejection;
use crate::domain::id::parse_category;
use crate::domain::{DomainError, Id};

/// A row seen through its file's column names.
pub struct Cells<'a> {
    pub file: &'a str,
    pub format: Format,
    pub columns: &'a [String],
    pub row: &'a Row,
}

type Check = (fn(f64) -> bool, &'static str);

impl<'a> Cells<'a> {
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        let index = self.columns.iter().position(|c| c == name)?;
        self.row.cells.get(index)?.as_deref()
    }

    /// Where a column is, for messages: its 1-based position in CSV, its key in JSONL.
    pub fn column(&self, name: &str) -> String {
        match self.format {
            Format::Csv => self
                .columns
                .iter()
                .position(|c| c == name)
                .map_or_else(|| name.to_owned(), |i| (i + 1).to_string()),
            Format::Jsonl => name.to_owned(),
        }
    }

    pub fn reject(&self, name: &str, value: &str, rule: &str) -> Rejection {
        Rejection::new(
            self.file,
            self.row.line,
            &self.column(name),
            Some(name),
            value,
            rule,
        )
    }

    fn domain(&self, name: &str, value: &str, err: DomainError) -> Rejection {
        self.reject(name, value, &err.to_string())
    }

    fn required(&self, name: &str) -> Result<&'a str, Rejection> {
        self.raw(name)
            .ok_or_else(|| self.reject(name, "", "is required"))
    }

    pub fn id(&self, name: &str) -> Result<Id, Rejection> {
        let raw = self.required(name)?;
        Id::parse(raw).map_err(|e| self.domain(name, raw, e))
    }

    pub fn opt_id(&self, name: &str) -> Result<Option<Id>, Rejection> {
        self.raw(name)
            .map(|raw| Id::parse(raw).map_err(|e| self.domain(name, raw, e)))
            .transpose()
    }

    pub fn opt_text(&self, name: &str) -> Option<String> {
        self.raw(name).map(str::to_owned)
    }

    pub fn category(&self, name: &str) -> Result<String, Rejection> {
        let raw = self.required(name)?;
        parse_category(raw).map_err(|e| self.domain(name, raw, e))
    }

    pub fn opt_category(&self, name: &str) -> Result<Option<String>, Rejection> {
        self.raw(name)
            .map(|raw| parse_category(raw).map_err(|e| self.domain(name, raw, e)))
            .transpose()
    }

    pub fn opt_enum<T>(
        &self,
        name: &str,
        parse: fn(&str) -> Result<T, DomainError>,
    ) -> Result<Option<T>, Rejection> {
        self.raw(name)
            .map(|raw| parse(raw.trim()).map_err(|e| self.domain(name, raw, e)))
            .transpose()
    }

    pub fn set<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, DomainError>,
    ) -> Result<Vec<T>, Rejection> {
        let Some(raw) = self.raw(name) else {
            return Ok(Vec::new());
        };
        raw.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| parse(item).map_err(|e| self.reject(name, raw, &format!("`{item}`: {e}"))))
            .collect()
    }

    pub fn date(&self, name: &str) -> Result<NaiveDate, Rejection> {
        let raw = self.required(name)?;
        parse_date(raw).ok_or_else(|| self.reject(name, raw, "is not a valid date (YYYY-MM-DD)"))
    }

    pub fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, Rejection> {
        self.raw(name)
            .map(|raw| {
                parse_date(raw)
                    .ok_or_else(|| self.reject(name, raw, "is not a valid date (YYYY-MM-DD)"))
            })
            .transpose()
    }

    pub fn timestamp(&self, name: &str) -> Result<DateTime<FixedOffset>, Rejection> {
        let raw = self.required(name)?;
        DateTime::parse_from_rfc3339(raw.trim())
            .map_err(|_| self.reject(name, raw, "is not an RFC 3339 timestamp"))
    }

    /// An optional finite number, checked against `check` when given.
    pub fn opt_num(&self, name: &str, check: Option<Check>) -> Result<Option<f64>, Rejection> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let value = parse_number(raw)
            .ok_or_else(|| self.reject(name, raw, "is not a number (use `.` as decimal mark)"))?;
        if let Some((ok, rule)) = check {
            if !ok(value) {
                return Err(self.reject(name, raw, rule));
            }
        }
        Ok(Some(value))
    }

    pub fn num(&self, name: &str, check: Option<Check>) -> Result<f64, Rejection> {
        self.opt_num(name, check)?
            .ok_or_else(|| self.reject(name, "", "is required"))
    }

    /// An optional whole number at or above zero.
    pub fn opt_count(&self, name: &str) -> Result<Option<i64>, Rejection> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(self.reject(name, raw, "must be a whole number >= 0")),
        }
    }
}

pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    // Exactly YYYY-MM-DD: chrono alone would also take "2024-1-5".
    (raw.len() == 10)
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
}

pub fn parse_number(raw: &str) -> Option<f64> {
    raw.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

pub const POSITIVE: Check = (|v| v > 0.0, "must be > 0");
pub const NON_NEGATIVE: Check = (|v| v >= 0.0, "must be >= 0");
pub const NPS: Check = (
    |v| (-100.0..=100.0).contains(&v),
    "must be within -100..100",
);
pub const TRUST: Check = (|v| (1.0..=10.0).contains(&v), "must be within 1..10");
pub const SCORE: Check = (|v| (0.0..=10.0).contains(&v), "must be within 0..10");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_exact_iso_days() {
        assert_eq!(
            parse_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2024-13-01",
            "2023-02-29",
            "2024-1-05",
            "05/01/2024",
            "2024-01-01T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad} must be refused");
        }
    }

    #[test]
    fn numbers_use_a_dot_and_must_be_finite() {
        assert_eq!(parse_number(" 12.5 "), Some(12.5));
        assert_eq!(parse_number("-3"), Some(-3.0));
        for bad in ["12,5", "NaN", "inf", "1e400", "ten"] {
            assert_eq!(parse_number(bad), None, "{bad} must be refused");
        }
    }
}
