//! nextbest: next best actions for partner ecosystems.
//!
//! The modules follow DESIGN.md and depend in one direction: `domain` knows nothing of
//! storage or HTTP; `store`, `import` and `synth` build on `domain`.

pub mod config;
pub mod domain;
pub mod import;
pub mod report;
pub mod store;
pub mod synth;

// Filled by later issues (learning, next best actions, HTTP, digests, dashboard).
pub mod api;
pub mod digest;
pub mod features;
pub mod model;
pub mod nba;
pub mod service;
pub mod vector;
pub mod web;
