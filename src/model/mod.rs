//! Training, the model registry, prediction and evaluation (linfa). The registry is
//! here; the models themselves come with the rest of the learning issue.

pub mod effects;
pub mod evaluate;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod plots;
pub mod registry;
pub mod train;
pub mod treatments;

pub use registry::{ModelCard, Registry, RegistryError};
