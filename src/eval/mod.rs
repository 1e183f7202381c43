//! What judges the product rather than serves it: a synthetic world with the ground truth
//! real data never has ([`synth`]), the outcome model's evaluation on held-out plans
//! ([`outcome`], drawn by [`plots`]), the engine's decisions against the true effects
//! ([`decision`]), and the simulation of following a policy for the rest of a period
//! ([`simulate`]), both against the same [`baselines`].
//!
//! The dependencies run one way: evaluation calls the engine, the model and the store as
//! serving does, and nothing that serves imports `eval`, so what is measured here is the
//! code that answers requests, not a copy tuned for the measurement.

pub mod baselines;
pub mod decision;
pub mod outcome;
pub mod plots;
pub mod simulate;
pub mod synth;
