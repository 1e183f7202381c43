//! Training, the model registry and prediction (linfa): the outcome and effect models
//! the engine serves from. Their evaluation on held-out plans is in `src/eval/outcome.rs`.

pub mod effects;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod registry;
pub mod train;
pub mod treatments;

pub use registry::{ModelCard, Registry, RegistryError};
