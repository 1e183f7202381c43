//! Multi-row `INSERT ... ON CONFLICT DO UPDATE` statements, the one write path for every
//! entity. Batching many rows per statement is what makes a million-row import fast; the
//! same SQL runs on SQLite (3.24+) and PostgreSQL.

use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments};

use super::{Backend, StoreError};

/// A bound value. Text, integer and real are all the schema uses.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
}

/// The shape of one table's upsert.
pub(crate) struct Table {
    pub name: &'static str,
    /// The entity's DATA_FORMAT.md columns; the table has `tenant_id` before them.
    pub columns: &'static [&'static str],
    /// Columns only the store has, after the entity's.
    pub extra: &'static [&'static str],
    /// The primary key after `tenant_id`.
    pub key: &'static [&'static str],
    /// On a key conflict keep the stored row instead of updating it.
    pub keep_existing: bool,
    /// A column an update may not change (a key result's plan): a stored row whose value
    /// differs is left alone and the statement reports it unwritten, so that the caller can
    /// refuse the write. The check is in the statement itself, so that a concurrent write
    /// between validation and this transaction cannot slip a change through.
    pub fixed: Option<&'static str>,
}

/// Bound parameters per statement; below SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;
/// Rows per statement, so one statement never holds an unbounded amount of memory.
const MAX_ROWS: usize = 1_000;

impl Table {
    /// Values per row: the tenant, the entity's columns, the store's own.
    pub fn width(&self) -> usize {
        1 + self.columns.len() + self.extra.len()
    }

    pub fn rows_per_statement(&self) -> usize {
        (MAX_PARAMS / self.width()).min(MAX_ROWS)
    }

    /// Placeholders are `$N` for PostgreSQL but anonymous `?` for SQLite: SQLite resolves
    /// a named parameter by a linear scan (`sqlite3_bind_parameter_name`), which made
    /// binding a 9,000-parameter statement quadratic (a million rows took 115 s).
    fn sql(&self, rows: usize, backend: Backend) -> String {
        let width = self.width();
        let columns: Vec<&str> = std::iter::once("tenant_id")
            .chain(self.columns.iter().chain(self.extra).copied())
            .collect();
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.name, columns.join(", "));
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for col in 0..width {
                if col > 0 {
                    sql.push_str(", ");
                }
                match backend {
                    Backend::Sqlite => sql.push('?'),
                    Backend::Postgres => {
                        sql.push('$');
                        sql.push_str(&(row * width + col + 1).to_string());
                    }
                }
            }
            sql.push(')');
        }
        let updates: Vec<String> = columns[1..]
            .iter()
            .filter(|c| !self.key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        if updates.is_empty() || self.keep_existing {
            sql.push_str(&format!(
                " ON CONFLICT (tenant_id, {}) DO NOTHING",
                self.key.join(", ")
            ));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT (tenant_id, {}) DO UPDATE SET {}",
                self.key.join(", "),
                updates.join(", ")
            ));
            if let Some(fixed) = self.fixed {
                sql.push_str(&format!(" WHERE {0}.{fixed} = excluded.{fixed}", self.name));
            }
        }
        sql
    }

    /// Upserts `rows` (each `columns.len()` values, tenant first) in statements of
    /// [`Self::rows_per_statement`] rows. Rows must have distinct keys: PostgreSQL refuses
    /// to update one row twice in a statement. Returns how many rows were inserted or
    /// updated: fewer than given where rows were kept ([`Self::keep_existing`]) or
    /// refused ([`Self::fixed`]).
    pub async fn upsert(
        &self,
        tx: &mut AnyConnection,
        backend: Backend,
        rows: impl IntoIterator<Item = Vec<Val>>,
        mut on_rows: impl FnMut(usize),
    ) -> Result<u64, StoreError> {
        let per = self.rows_per_statement();
        let mut batch: Vec<Vec<Val>> = Vec::new();
        // The full statement's text only when a batch fills: a sync write of one row (or
        // none, for most tables) would otherwise build a thousand rows' placeholders.
        let mut full_sql: Option<String> = None;
        let mut written = 0;
        for row in rows {
            debug_assert_eq!(row.len(), self.width());
            batch.push(row);
            if batch.len() == per {
                let sql = full_sql.get_or_insert_with(|| self.sql(per, backend));
                written += self.execute(tx, sql, &mut batch).await?;
                on_rows(per);
            }
        }
        if !batch.is_empty() {
            let n = batch.len();
            written += self.execute(tx, &self.sql(n, backend), &mut batch).await?;
            on_rows(n);
        }
        Ok(written)
    }

    async fn execute(
        &self,
        tx: &mut AnyConnection,
        sql: &str,
        batch: &mut Vec<Vec<Val>>,
    ) -> Result<u64, StoreError> {
        let mut args = AnyArguments::default();
        for value in batch.drain(..).flatten() {
            let bound = match value {
                Val::Text(v) => args.add(v),
                Val::Int(v) => args.add(v),
                Val::Real(Some(v)) => args.add(v),
                // sqlx 0.8.6's Any driver swaps Real and Double for NULLs
                // (`AnyArguments::convert_to`): a `None::<f64>` reaches PostgreSQL as a
                // float4 NULL, the cached statement keeps that type, and the next batch's
                // float8 value is refused. `None::<f32>` comes out as a float8 NULL.
                Val::Real(None) => args.add(None::<f32>),
            };
            bound.map_err(|e| StoreError::Query(self.name, sqlx::Error::Encode(e)))?;
        }
        let done = sqlx::query_with(sql, args)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Query(self.name, e))?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_sql_numbers_parameters_row_by_row_and_updates_non_key_columns() {
        let table = Table {
            name: "t",
            columns: &["id", "v"],
            extra: &["x"],
            key: &["id"],
            keep_existing: false,
            fixed: None,
        };
        assert_eq!(
            table.sql(2, Backend::Postgres),
            "INSERT INTO t (tenant_id, id, v, x) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET v = excluded.v, x = excluded.x"
        );
        assert!(table
            .sql(2, Backend::Sqlite)
            .contains("VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON CONFLICT"));
        let keep = Table {
            keep_existing: true,
            fixed: None,
            ..table
        };
        assert!(keep
            .sql(1, Backend::Sqlite)
            .ends_with("ON CONFLICT (tenant_id, id) DO NOTHING"));
        let fixed = Table {
            fixed: Some("v"),
            ..table
        };
        assert!(fixed
            .sql(1, Backend::Sqlite)
            .ends_with("DO UPDATE SET v = excluded.v, x = excluded.x WHERE t.v = excluded.v"));
    }

    #[test]
    fn statements_stay_under_the_parameter_limits() {
        let wide: &'static [&'static str] = &["c"; 40];
        let table = Table {
            name: "w",
            columns: wide,
            extra: &["e"],
            key: &["c"],
            keep_existing: false,
            fixed: None,
        };
        assert_eq!(table.width(), 42);
        assert!(table.rows_per_statement() * table.width() <= MAX_PARAMS);
    }
}
