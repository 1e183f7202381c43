//! The synthetic world: partners, mutual success plans, activities and key result
//! progress drawn from a structural causal model, plus the ground truth that real data
//! never has (the true effect of every action on every active plan, and each active
//! plan's realised outcome), so that predictions and recommendations can be scored.
//!
//! The model is documented, with its constants, in `data/README.md`. In short: a latent
//! relationship quality `q` raises both the rate of activities (busywork most of all) and
//! the baseline outcome, which confounds activity and attainment; actions have
//! heterogeneous, diminishing, timing- and prerequisite-dependent effects; some kinds are
//! busywork with no effect at all.
//!
//! Output is deterministic for a seed: every partner draws from its own ChaCha8 streams
//! seeded from `(seed, partner index, stream)`, so a partner's rows do not depend on the
//! order partners are generated in, and the truth draws do not change the dataset.
//!
//! [`prepare`] regenerates a world frozen at as_of so that a recommendation policy can be
//! simulated on its active plans ([`PreparedWorld::simulate`]): the outcome of acting on
//! recommendations, which no real dataset shows.

mod history;
mod model;
mod partner;
mod policy;
mod sim;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{DomainError, Id};
use crate::import::write::write_file;
use crate::import::{write_csv_dir, Dataset, ImportError};

pub use model::busywork_kinds;
pub use policy::{
    prepare, simulate_policy, ActivePlan, DecisionPoint, PolicyRun, PreparedWorld, SimOptions,
};

/// What to generate. Serialised as `truth_params.json` next to the data, so that whoever
/// holds only the folder can regenerate the world (a file without `confounding` predates
/// the switch and was confounded); unknown fields are refused rather than ignored, since
/// ignoring one could silently regenerate another world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthParams {
    /// Number of partners.
    pub partners: usize,
    /// Seed of every random draw; the same seed gives the same world.
    pub seed: u64,
    /// The "today" of the world: plans ending before it are closed, the one spanning it active.
    pub as_of: NaiveDate,
    /// Years of plan history before `as_of`.
    pub years: u32,
    /// Monte Carlo futures per active plan for the truth.
    pub truth_draws: usize,
    /// Whether relationship quality and manager diligence drive the activity policy. Off,
    /// activity is as good as randomised given the plan and the observable stages, so
    /// naive estimators should work: a control world for telling confounding apart from
    /// other failures.
    #[serde(default = "confounded")]
    pub confounding: bool,
}

fn confounded() -> bool {
    true
}

impl Default for SynthParams {
    fn default() -> Self {
        Self {
            partners: 500,
            seed: 1,
            as_of: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default(),
            years: 3,
            truth_draws: 64,
            confounding: true,
        }
    }
}

/// Why a world could not be generated.
#[derive(Debug, Error)]
pub enum SynthError {
    #[error("invalid parameter: {0}")]
    InvalidParams(&'static str),
    #[error("generated an invalid value: {0}")]
    Domain(#[from] DomainError),
    #[error("could not read or write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` does not hold valid world parameters", path.display())]
    BadParamsFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("unknown action kind `{0}`: a policy may only choose a built-in catalog kind")]
    UnknownKind(String),
    #[error("cannot undescribe `{kind}` as `{as_kind}`: {why}")]
    BadUndescribe {
        kind: String,
        as_kind: String,
        why: &'static str,
    },
}

/// The true expected change in an active plan's final attainment if one unit of `kind`
/// is done at as_of, against not doing it (everything else as the world would go on).
#[derive(Debug, Clone, PartialEq)]
pub struct TruthEffect {
    pub plan_id: Id,
    pub kind: String,
    pub true_effect: f64,
}

/// An active plan's outcome: `true_attainment` is the world's own realised final
/// attainment (what interval coverage is checked against); `true_expected_attainment`
/// is its expectation given the state at as_of (what a point forecast aims at).
#[derive(Debug, Clone, PartialEq)]
pub struct TruthOutcome {
    pub plan_id: Id,
    pub true_attainment: f64,
    pub true_expected_attainment: f64,
}

/// A generated world: the dataset (DATA_FORMAT.md entities) and its ground truth.
#[derive(Debug, Clone)]
pub struct World {
    pub dataset: Dataset,
    pub truth_effects: Vec<TruthEffect>,
    pub truth_outcomes: Vec<TruthOutcome>,
}

pub(crate) const STREAM_WORLD: u64 = 1;
pub(crate) const STREAM_TRUTH: u64 = 2;
pub(crate) const STREAM_MANAGER: u64 = 3;
/// The futures of the policy simulation: a stream of its own, so that it changes no
/// generated file, and the same for every policy (common random numbers), so that two
/// policies differ by their actions and not by their luck.
pub(crate) const STREAM_POLICY: u64 = 4;

/// Partners per manager.
const PARTNERS_PER_MANAGER: usize = 25;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG of one (entity, stream): a hash of the three numbers seeds ChaCha8.
pub(crate) fn rng_for(seed: u64, index: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix64(splitmix64(seed ^ splitmix64(stream)) ^ index))
}

fn managers(params: &SynthParams) -> Result<Vec<partner::Manager>, SynthError> {
    let n = params.partners.div_ceil(PARTNERS_PER_MANAGER).max(1);
    (0..n)
        .map(|i| {
            let mut rng = rng_for(params.seed, i as u64, STREAM_MANAGER);
            Ok(partner::Manager {
                id: Id::parse(&format!("m{:03}", i + 1))?,
                diligence: 0.3 * partner::normal(&mut rng),
                effect: 0.04 * partner::normal(&mut rng),
            })
        })
        .collect()
}

fn validate(params: &SynthParams) -> Result<NaiveDate, SynthError> {
    if params.partners == 0 {
        return Err(SynthError::InvalidParams("partners must be at least 1"));
    }
    if params.years == 0 || params.years > 50 {
        return Err(SynthError::InvalidParams("years must be 1..=50"));
    }
    if params.truth_draws == 0 {
        return Err(SynthError::InvalidParams("truth_draws must be at least 1"));
    }
    if !(1900..=9000).contains(&params.as_of.year()) {
        return Err(SynthError::InvalidParams(
            "as_of must be in the years 1900..=9000",
        ));
    }
    params
        .as_of
        .checked_sub_days(Days::new(u64::from(params.years) * 365))
        .ok_or(SynthError::InvalidParams(
            "as_of minus years is out of range",
        ))
}

/// Simulates every partner in order, handing each one's rows to `sink`. Generation and
/// the policy simulation share it, so both see the same world.
fn simulate_partners(
    params: &SynthParams,
    truth: bool,
    sink: &mut dyn FnMut(usize, history::PartnerOut),
) -> Result<(), SynthError> {
    let window_start = validate(params)?;
    let managers = managers(params)?;
    let ctx = history::Ctx {
        params,
        kinds: Arc::from(model::kind_models()),
        managers: &managers,
        window_start,
        truth,
    };
    for index in 0..params.partners {
        sink(index, history::simulate_partner(&ctx, index)?);
    }
    Ok(())
}

/// Generates a world. `progress` is called with the number of partners done so far.
pub fn generate(
    params: &SynthParams,
    progress: &mut dyn FnMut(usize),
) -> Result<World, SynthError> {
    let mut dataset = Dataset::default();
    let (mut truth_effects, mut truth_outcomes) = (Vec::new(), Vec::new());
    simulate_partners(params, true, &mut |index, out| {
        dataset.partners.extend(out.partner);
        dataset.plans.extend(out.plans);
        dataset.key_results.extend(out.key_results);
        dataset.kr_progress.extend(out.kr_progress);
        dataset.activities.extend(out.activities);
        truth_effects.extend(out.truth_effects);
        truth_outcomes.extend(out.truth_outcomes);
        progress(index + 1);
    })?;
    Ok(World {
        dataset,
        truth_effects,
        truth_outcomes,
    })
}

/// The file the parameters of a generated world are written to, next to its data.
pub const PARAMS_FILE: &str = "truth_params.json";

/// Writes `params` as [`PARAMS_FILE`] into `dir` (created if missing), returning its path.
/// Not part of [`World::write`]: a world does not hold the parameters it came from.
pub fn write_params(dir: &Path, params: &SynthParams) -> Result<PathBuf, SynthError> {
    std::fs::create_dir_all(dir).map_err(|source| SynthError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(PARAMS_FILE);
    let mut json =
        serde_json::to_string_pretty(params).map_err(|source| SynthError::BadParamsFile {
            path: path.clone(),
            source,
        })?;
    json.push('\n');
    std::fs::write(&path, json).map_err(|source| SynthError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Reads the parameters a world was generated with from `dir`'s [`PARAMS_FILE`].
pub fn read_params(dir: &Path) -> Result<SynthParams, SynthError> {
    let path = dir.join(PARAMS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| SynthError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SynthError::BadParamsFile { path, source })
}

/// Effects are written to 6 decimals: far below any decision-relevant difference and a
/// third of the bytes of a full `f64`.
fn fmt6(v: f64) -> String {
    let s = format!("{v:.6}");
    if s == "-0.000000" {
        "0.000000".to_owned()
    } else {
        s
    }
}

impl World {
    /// Renames the built-in `kind` to `as_kind` in the activities, so that the data
    /// carries a kind no `actions` row describes (no category, effort or stages: what a
    /// CRM export looks like) and the built-in kind itself is never seen in the data.
    /// Both names do what the built-in kind does in this world, so the truth gets rows
    /// for `as_kind` beside those of `kind`. Returns the activities renamed. The policy simulation regenerates a world from its parameters,
    /// so it cannot follow a rename: a renamed world is judged by its truth files alone.
    ///
    /// # Errors
    /// [`SynthError::BadUndescribe`] when `kind` is not a built-in kind, or `as_kind` is
    /// not a valid kind name or already a built-in one.
    pub fn undescribe(&mut self, kind: &str, as_kind: &str) -> Result<usize, SynthError> {
        let bad = |why| SynthError::BadUndescribe {
            kind: kind.to_owned(),
            as_kind: as_kind.to_owned(),
            why,
        };
        let catalog = crate::domain::Catalog::built_in();
        if !catalog.contains(kind) {
            return Err(bad("only a built-in kind can be renamed"));
        }
        if crate::domain::id::parse_category(as_kind).ok().as_deref() != Some(as_kind) {
            return Err(bad("the new name is not a valid activity kind"));
        }
        if catalog.contains(as_kind) {
            return Err(bad("the new name is a built-in kind, which is described"));
        }
        let mut renamed = 0;
        for a in self
            .dataset
            .activities
            .iter_mut()
            .filter(|a| a.kind == kind)
        {
            a.kind = as_kind.to_owned();
            renamed += 1;
        }
        let twins: Vec<TruthEffect> = self
            .truth_effects
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| TruthEffect {
                kind: as_kind.to_owned(),
                ..t.clone()
            })
            .collect();
        self.truth_effects.extend(twins);
        Ok(renamed)
    }

    /// Writes the DATA_FORMAT.md CSV files plus `truth_effects.csv`
    /// (`plan_id,kind,true_effect`) and `truth_outcomes.csv`
    /// (`plan_id,true_attainment,true_expected_attainment`), returning the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
        let mut written = write_csv_dir(dir, &self.dataset)?;
        written.push(write_file(
            dir,
            "truth_effects",
            &["plan_id", "kind", "true_effect"],
            self.truth_effects
                .iter()
                .map(|t| vec![t.plan_id.to_string(), t.kind.clone(), fmt6(t.true_effect)]),
        )?);
        written.push(write_file(
            dir,
            "truth_outcomes",
            &["plan_id", "true_attainment", "true_expected_attainment"],
            self.truth_outcomes.iter().map(|t| {
                vec![
                    t.plan_id.to_string(),
                    fmt6(t.true_attainment),
                    fmt6(t.true_expected_attainment),
                ]
            }),
        )?);
        Ok(written)
    }
}
