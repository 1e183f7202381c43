//! The feature schema: a plan snapshot (what was known about a plan at one date) becomes
//! one model row, the same way in training and in serving.
//!
//! - [`snapshot`] cuts a closed plan at a share of its period without leaking its outcome;
//!   [`Snapshot::serving`] cuts an active plan at today's date.
//! - [`FeatureSchema`] is *fitted* on training snapshots (activity kinds, categorical
//!   levels, custom attribute columns, imputation medians) and serialised with the model,
//!   so a serving row has exactly the columns the model was trained on.
//! - [`TrainingSet`] turns closed plans into labelled rows with a time split, and
//!   [`write_csv`] exports them for the scikit-learn peer comparison.
//! - [`ProfileSchema`] turns a partner profile and its [`RecentMix`] of activities into a
//!   fixed-length vector for similar-partner search; it is fitted on the tenant's
//!   partners and saved with the model, like the feature schema.
//!
//! Missing values are never silently zero: every field that can be unknown has a
//! `…:missing` indicator column and is imputed with its training median.
//!
//! What a snapshot cannot cut by date: the partner profile is the one held now (the data
//! contract keeps no profile history), so a closed plan is seen with today's type, tier,
//! relationship and journey stage and scores. Tenure is computed at the snapshot date.

mod profile;
mod schema;
mod snapshot;
mod training;

#[cfg(test)]
mod tests;

pub use profile::{
    profile_as_of, ProfileSchema, RecentMix, Standard, BLOCK_WEIGHTS, PROFILE_VERSION, RECENT_DAYS,
};
pub use schema::{FeatureSchema, FitOptions, SCHEMA_VERSION};
pub(crate) use snapshot::date_at;
pub use snapshot::{snapshot, Snapshot};
pub use training::{
    write_csv, BuildOptions, Calibration, SkipReason, SkippedPlan, Split, TrainingSet,
    DEFAULT_FRACTIONS, DEFAULT_TEST_SHARE, MIN_PLANS,
};

use thiserror::Error;

/// Why features or a training set could not be built.
#[derive(Debug, Error)]
pub enum FeatureError {
    /// Fewer usable closed plans than a model can honestly be trained and tested on.
    #[error(
        "training needs at least {needed} closed plans with a defined target, but only {have} \
         have one ({without_target} closed plans have no defined target)"
    )]
    TooFewPlans {
        needed: usize,
        have: usize,
        without_target: usize,
    },
    /// Closed plans exist, but none has a key result with a target, so no outcome is defined.
    #[error(
        "none of the {plans} closed plans has a key result with a defined target, so no \
         attainment can be learned; at least {needed} plans with targets are needed"
    )]
    NoDefinedTargets { plans: usize, needed: usize },
    /// A schema cannot be fitted on nothing.
    #[error("no snapshots to fit the feature schema on")]
    NoSnapshots,
    /// Snapshot fractions must lie in 0..=1.
    #[error("snapshot fraction {0} is outside 0..=1")]
    InvalidFraction(f64),
    /// A serialised schema from another version of this code.
    #[error("feature schema version {found} is not supported (this build reads version {expected}); retrain the model")]
    UnsupportedSchema { found: u32, expected: u32 },
    /// A serialised profile schema from another version of this code.
    #[error("profile schema version {found} is not supported (this build reads version {expected}); retrain the model and reindex")]
    UnsupportedProfileSchema { found: u32, expected: u32 },
    #[error("writing the feature export: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the feature export: {0}")]
    Csv(#[from] csv::Error),
}
