//! Integration tests: a real SQLite file per test and the machine's PostgreSQL.
//! One binary, so the crate is linked once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod app;
mod cli;
mod connections;
mod delivery;
mod digest;
mod durability;
mod faults;
mod fuzz;
mod helpers;
mod import;
mod invalidation;
mod model;
mod nba;
mod peers;
mod portfolio;
mod qdrant_server;
mod records;
mod replicas;
mod store;
mod vector;
mod views;
mod web;
