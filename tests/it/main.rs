//! Integration tests: a real SQLite file per test and the machine's PostgreSQL.
//! One binary, so the crate is linked once.

mod helpers;
mod import;
mod store;
