//! nextbest: next best actions for partner ecosystems.
//!
//! The modules follow DESIGN.md and depend in one direction: `domain` knows nothing of
//! storage or HTTP; `store` and `import` build on `domain`. `eval` judges what the rest
//! serves (synthetic worlds with truth, evaluation, simulation) and only the binary and
//! the tests import it.

pub mod config;
pub mod domain;
pub mod import;
pub mod report;
pub mod store;

// Filled by later issues (learning, next best actions, HTTP, digests, dashboard).
pub mod api;
pub mod digest;
pub mod eval;
pub mod features;
pub mod model;
pub mod nba;
pub mod service;
pub mod vector;
pub mod web;
