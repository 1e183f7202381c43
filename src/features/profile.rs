//! Profile vectors: one fixed-length vector per partner, for similar-partner search.
//!
//! The vector says who a partner is (size, tenure, enablement, relationship quality, the
//! 6Cs, type, stage, segment, region) and what it has been doing lately (its recent
//! activity mix). Cosine similarity between two vectors is "how alike are these two
//! partners", so peer benchmarks and "what did partners like you do" can be answered by a
//! nearest-neighbour search in the vector index.
//!
//! [`ProfileSchema`] is fitted on a tenant's partners and saved with the model, so the
//! vectors indexed by `nextbest reindex` and the ones computed for a query months later
//! have the same layout and scaling. Layout, in order:
//!
//! 1. **numeric** ([`NUMERIC`]): each field standardised with the fitted mean and standard
//!    deviation and clipped to ±[`Z_CLIP`]; an unknown value is the mean, i.e. 0;
//! 2. **missing**: the share of the numeric fields that are unknown, standardised, so
//!    that two sparsely filled profiles are not taken for two average ones;
//! 3. **categorical** ([`CATEGORICAL`]): one-hot over the levels kept at fit time, then
//!    `(other)` for rare or unseen levels; an unknown value is the level `(missing)`;
//! 4. **activity mix**: the share of done activity quantity per catalog category over the
//!    [`RECENT_DAYS`] before as_of, then `ln(1 + done activities)`, each standardised.
//!
//! Block weights ([`BLOCK_WEIGHTS`]): each block is scaled so that, for a typical partner,
//! it carries a fixed share of the vector's squared length. Without this the block with
//! the most columns would decide the cosine: 18 standardised numerics would outweigh five
//! categorical fields, and a tenant with many regions would get more "region" in its
//! similarity than one with few. The shares:
//!
//! | block | share | why |
//! |---|---|---|
//! | numeric | 0.40 | relationship quality (trust, NPS, 6Cs, stage) is the best predictor of partner success (DOMAIN.md), and size and enablement set what a partner can do |
//! | categorical | 0.35 | type, stage, segment and region decide which plays apply at all: a peer of another type or journey stage is rarely a useful example |
//! | activity mix | 0.20 | what a partner does describes its motion, but it is what recommendations change, so it must not decide who counts as a peer |
//! | missing | 0.05 | a hint only: sparse profiles should find each other a little, not cluster by sparseness |

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::FeatureError;
use crate::domain::{Activity, ActivityStatus, Catalog, Partner, PlanRecord};

/// Version of the vector layout and of the rules that fill it. Bump it whenever the vector
/// of the same partner could change (a field, a weight, a transform), so that a schema
/// read back from the registry refuses to mix old and new vectors in one index.
pub const PROFILE_VERSION: u32 = 1;

/// Activities are "recent" in the days up to and including as_of: half a year covers two
/// quarterly plans, long enough to see a partner's motion, short enough to follow change.
pub const RECENT_DAYS: u64 = 180;

/// Standardised values are clipped to this many standard deviations, so one extreme field
/// (a 50,000-employee distributor) cannot dominate the cosine.
pub const Z_CLIP: f64 = 4.0;

/// Share of a typical vector's squared length carried by each block: numeric, missing
/// share, categorical, activity mix (see the module docs for why).
pub const BLOCK_WEIGHTS: [(&str, f64); 4] = [
    ("numeric", W_NUMERIC),
    ("missing", W_MISSING),
    ("categorical", W_CATEGORICAL),
    ("activity_mix", W_MIX),
];
const W_NUMERIC: f64 = 0.40;
const W_MISSING: f64 = 0.05;
const W_CATEGORICAL: f64 = 0.35;
const W_MIX: f64 = 0.20;

const N_NUMERIC: usize = super::schema::N_PROFILE;
/// The numeric profile fields, in vector order: the outcome model's profile columns.
pub const NUMERIC: &[&str] = super::schema::PROFILE_NUMERICS;

const N_CATEGORICAL: usize = 5;
/// The one-hot profile fields, in vector order.
pub const CATEGORICAL: [&str; N_CATEGORICAL] = [
    "partner_type",
    "relationship_stage",
    "journey_stage",
    "segment",
    "region",
];

/// The level an unknown categorical value is counted as.
const MISSING: &str = "(missing)";
/// The column of levels too rare at fit time, or never seen there.
const OTHER: &str = "(other)";
/// The category of activity kinds the catalog does not know.
const CUSTOM_CATEGORY: &str = "custom";
/// A level needs this many partners to get a column: a level held by one partner alone
/// matches nobody else at fit time, so it may as well share `(other)`.
const MIN_LEVEL_PARTNERS: usize = 2;
/// At most this many levels per field (the most frequent), so free-text fields such as
/// region keep the dimension bounded.
const MAX_LEVELS: usize = 30;
/// A standard deviation below this is a constant column: its values are centred only.
const MIN_SD: f64 = 1e-9;

/// What a partner did in the [`RECENT_DAYS`] up to `as_of`: done activity quantity per
/// catalog category, and how many done activities that was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentMix {
    pub as_of: NaiveDate,
    /// Done quantity per catalog category (`custom` for kinds the catalog lacks).
    pub by_category: BTreeMap<String, f64>,
    /// Done activities counted (rows, whatever their quantity).
    pub count: usize,
}

impl RecentMix {
    /// Nothing done recently (or a partner with no plans).
    pub fn empty(as_of: NaiveDate) -> Self {
        Self {
            as_of,
            by_category: BTreeMap::new(),
            count: 0,
        }
    }

    /// Counts `activity` if it is done and dated in the window (as_of − [`RECENT_DAYS`],
    /// as_of]; anything else is ignored, so callers may pass a plan's whole history.
    pub fn add(&mut self, activity: &Activity, catalog: &Catalog) {
        let start = self
            .as_of
            .checked_sub_days(Days::new(RECENT_DAYS))
            .unwrap_or(NaiveDate::MIN);
        let recent = activity.date > start && activity.date <= self.as_of;
        if activity.status != ActivityStatus::Done || !recent {
            return;
        }
        let category = catalog
            .get(&activity.kind)
            .map_or(CUSTOM_CATEGORY, |s| s.category.as_str());
        let quantity = if activity.quantity.is_finite() {
            activity.quantity.max(0.0)
        } else {
            0.0
        };
        *self.by_category.entry(category.to_owned()).or_default() += quantity;
        self.count += 1;
    }

    /// The recent mix of every partner that has plans, by partner id.
    pub fn of_partners<'a>(
        records: impl IntoIterator<Item = &'a PlanRecord>,
        catalog: &Catalog,
        as_of: NaiveDate,
    ) -> HashMap<String, RecentMix> {
        let mut mixes: HashMap<String, RecentMix> = HashMap::new();
        for record in records {
            let mix = mixes
                .entry(record.plan.partner_id.to_string())
                .or_insert_with(|| RecentMix::empty(as_of));
            for activity in &record.activities {
                mix.add(activity, catalog);
            }
        }
        mixes
    }
}

/// The date profile vectors are computed at when none is given: the newest done activity
/// of the tenant, capped at `today`, or `today` without any. A tenant whose data stopped
/// arriving a while ago (or a synthetic world) still gets an informative activity mix,
/// while future-dated rows cannot move it past today.
pub fn profile_as_of<'a>(
    records: impl IntoIterator<Item = &'a PlanRecord>,
    today: NaiveDate,
) -> NaiveDate {
    records
        .into_iter()
        .flat_map(|r| &r.activities)
        .filter(|a| a.status == ActivityStatus::Done && a.date <= today)
        .map(|a| a.date)
        .max()
        .unwrap_or(today)
}

/// Mean and standard deviation of one column, fitted on the known values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Standard {
    pub mean: f64,
    pub sd: f64,
}

impl Standard {
    /// Fitted on the finite values; with none the column is "always 0", and with a
    /// constant column the values are only centred (so they are 0 too).
    fn fit(values: &[f64]) -> Self {
        let known: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if known.is_empty() {
            return Self { mean: 0.0, sd: 1.0 };
        }
        let n = known.len() as f64;
        let mean = known.iter().sum::<f64>() / n;
        let var = known.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let sd = var.sqrt();
        Self {
            mean,
            sd: if sd > MIN_SD { sd } else { 1.0 },
        }
    }

    /// The clipped z-score of `value`; 0 (the mean) for an unknown or non-finite one.
    fn z(&self, value: Option<f64>) -> f64 {
        match value.filter(|v| v.is_finite()) {
            Some(v) => ((v - self.mean) / self.sd).clamp(-Z_CLIP, Z_CLIP),
            None => 0.0,
        }
    }
}

/// The layout and scaling of profile vectors, fitted on a tenant's partners. Serialise it
/// with the model; every vector of one index must come from the same value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSchema {
    pub version: u32,
    /// The date the fitting partners' tenure and activity mix were computed at.
    pub fitted_as_of: NaiveDate,
    /// Partners the schema was fitted on.
    pub fitted_on: usize,
    /// Standardisation of each field of [`NUMERIC`], in order.
    pub numeric: Vec<Standard>,
    /// Standardisation of the share of unknown numeric fields.
    pub missing_share: Standard,
    /// Kept levels of each field of [`CATEGORICAL`], in order (sorted by name).
    pub levels: Vec<Vec<String>>,
    /// Activity categories: the catalog's at fit time, sorted, always with `custom`.
    pub categories: Vec<String>,
    /// Standardisation of each category share, then of `ln(1 + done activities)`.
    pub mix: Vec<Standard>,
}

impl ProfileSchema {
    /// Fits the schema on `partners` with their recent mixes (by partner id; a partner
    /// without one did nothing recently, as of `as_of`). Never fails: with no partners
    /// every column is centred at 0 and every level is `(other)`, which still gives
    /// valid, if uninformative, vectors.
    pub fn fit(
        partners: &[Partner],
        mixes: &HashMap<String, RecentMix>,
        catalog: &Catalog,
        as_of: NaiveDate,
    ) -> ProfileSchema {
        let empty = RecentMix::empty(as_of);
        let mix_of = |p: &Partner| mixes.get(p.partner_id.as_str()).unwrap_or(&empty);

        let mut numeric: Vec<Vec<f64>> = vec![Vec::new(); N_NUMERIC];
        let mut missing = Vec::with_capacity(partners.len());
        let mut counts: Vec<HashMap<&str, usize>> = vec![HashMap::new(); N_CATEGORICAL];
        for partner in partners {
            let fields = numeric_fields(partner, mix_of(partner).as_of);
            missing.push(missing_share(&fields));
            for (column, value) in numeric.iter_mut().zip(fields) {
                column.extend(value);
            }
            for (count, value) in counts.iter_mut().zip(categorical_fields(partner)) {
                *count.entry(value.unwrap_or(MISSING)).or_default() += 1;
            }
        }

        let mut categories: Vec<String> = catalog.iter().map(|s| s.category.clone()).collect();
        categories.push(CUSTOM_CATEGORY.to_owned());
        categories.sort();
        categories.dedup();
        let mut mix_columns: Vec<Vec<f64>> = vec![Vec::new(); categories.len() + 1];
        for partner in partners {
            for (column, value) in mix_columns
                .iter_mut()
                .zip(mix_values(mix_of(partner), &categories))
            {
                column.push(value);
            }
        }

        let schema = ProfileSchema {
            version: PROFILE_VERSION,
            fitted_as_of: as_of,
            fitted_on: partners.len(),
            numeric: numeric.iter().map(|c| Standard::fit(c)).collect(),
            missing_share: Standard::fit(&missing),
            levels: counts.iter().map(keep_levels).collect(),
            categories,
            mix: mix_columns.iter().map(|c| Standard::fit(c)).collect(),
        };
        tracing::debug!(
            partners = partners.len(),
            dimension = schema.dimension(),
            %as_of,
            "profile schema fitted"
        );
        schema
    }

    /// Refuses a schema written by another layout version (e.g. read back from the model
    /// registry), since its vectors would not be comparable with this build's.
    pub fn check_version(&self) -> Result<(), FeatureError> {
        if self.version == PROFILE_VERSION {
            Ok(())
        } else {
            Err(FeatureError::UnsupportedProfileSchema {
                found: self.version,
                expected: PROFILE_VERSION,
            })
        }
    }

    /// The length of every vector; the vector index must be opened with it.
    pub fn dimension(&self) -> usize {
        N_NUMERIC
            + 1
            + self.levels.iter().map(|l| l.len() + 1).sum::<usize>()
            + self.categories.len()
            + 1
    }

    /// Column names, in vector order, for explanations and debugging.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = NUMERIC.iter().map(|n| (*n).to_owned()).collect();
        names.push("missing_share".to_owned());
        for (field, levels) in CATEGORICAL.iter().zip(&self.levels) {
            names.extend(levels.iter().map(|l| format!("{field}={l}")));
            names.push(format!("{field}={OTHER}"));
        }
        names.extend(self.categories.iter().map(|c| format!("mix:{c}")));
        names.push("mix:activities_log1p".to_owned());
        names
    }

    /// The profile vector of `partner` with its recent activity mix: [`Self::dimension`]
    /// finite numbers, never all zero (every categorical field has exactly one hot
    /// column), so the vector index always accepts it. Tenure is computed at `mix.as_of`.
    pub fn vector(&self, partner: &Partner, mix: &RecentMix) -> Vec<f32> {
        let mut out: Vec<f64> = Vec::with_capacity(self.dimension());

        let fields = numeric_fields(partner, mix.as_of);
        let scale = block_scale(W_NUMERIC, N_NUMERIC);
        for (i, value) in fields.iter().enumerate() {
            let z = self.numeric.get(i).map_or(0.0, |s| s.z(*value));
            out.push(scale * z);
        }
        out.push(block_scale(W_MISSING, 1) * self.missing_share.z(Some(missing_share(&fields))));

        let scale = block_scale(W_CATEGORICAL, N_CATEGORICAL);
        for (i, value) in categorical_fields(partner).into_iter().enumerate() {
            let levels = self.levels.get(i).map_or(&[][..], Vec::as_slice);
            let value = value.unwrap_or(MISSING);
            let hot = levels
                .iter()
                .position(|l| l == value)
                .unwrap_or(levels.len());
            out.extend((0..=levels.len()).map(|j| if j == hot { scale } else { 0.0 }));
        }

        let scale = block_scale(W_MIX, self.categories.len() + 1);
        for (i, value) in mix_values(mix, &self.categories).into_iter().enumerate() {
            let z = self.mix.get(i).map_or(0.0, |s| s.z(Some(value)));
            out.push(scale * z);
        }

        debug_assert_eq!(out.len(), self.dimension());
        out.into_iter()
            .map(|v| if v.is_finite() { v as f32 } else { 0.0 })
            .collect()
    }

    /// The profile vector of a partner whose activity is unknown (a prospect, not stored):
    /// the activity-mix block is the fitted mean (all zeros), as an unknown numeric field
    /// is. [`Self::vector`] with an empty mix would instead say "did nothing for half a
    /// year", far below the mean, and a prospect would then look most like the tenant's
    /// dormant partners. Tenure is computed at `as_of`.
    pub fn prospect_vector(&self, partner: &Partner, as_of: NaiveDate) -> Vec<f32> {
        let mut v = self.vector(partner, &RecentMix::empty(as_of));
        let mix_start = v.len().saturating_sub(self.categories.len() + 1);
        for x in v.iter_mut().skip(mix_start) {
            *x = 0.0;
        }
        v
    }
}

/// The factor that gives a block of `columns` unit-variance (or one-hot) columns the
/// squared length `weight`, whatever its number of columns.
fn block_scale(weight: f64, columns: usize) -> f64 {
    (weight / columns.max(1) as f64).sqrt()
}

/// The raw numeric fields of [`NUMERIC`].
fn numeric_fields(p: &Partner, as_of: NaiveDate) -> [Option<f64>; N_NUMERIC] {
    super::schema::profile_numerics(p, as_of)
}

fn missing_share(fields: &[Option<f64>]) -> f64 {
    let unknown = fields
        .iter()
        .filter(|v| !v.is_some_and(f64::is_finite))
        .count();
    unknown as f64 / fields.len().max(1) as f64
}

fn categorical_fields(p: &Partner) -> [Option<&str>; N_CATEGORICAL] {
    [
        p.partner_type.map(|v| v.as_str()),
        p.relationship_stage.map(|v| v.as_str()),
        p.journey_stage.map(|v| v.as_str()),
        p.segment.as_deref(),
        p.region.as_deref(),
    ]
}

/// The category shares of `categories` (a category the schema lacks counts as `custom`),
/// then `ln(1 + done activities)`. Shares are 0 when nothing was done.
fn mix_values(mix: &RecentMix, categories: &[String]) -> Vec<f64> {
    let mut quantity = vec![0.0; categories.len()];
    let custom = categories.iter().position(|c| c == CUSTOM_CATEGORY);
    for (category, q) in &mix.by_category {
        let slot = categories.iter().position(|c| c == category).or(custom);
        if let Some(slot) = slot.and_then(|i| quantity.get_mut(i)) {
            *slot += q;
        }
    }
    let total: f64 = quantity.iter().sum();
    let mut values: Vec<f64> = quantity
        .iter()
        .map(|q| if total > 0.0 { q / total } else { 0.0 })
        .collect();
    values.push((mix.count as f64).ln_1p());
    values
}

/// Levels held by at least [`MIN_LEVEL_PARTNERS`] partners, at most [`MAX_LEVELS`] of the
/// most frequent, sorted by name so the layout does not depend on hash order.
fn keep_levels(counts: &HashMap<&str, usize>) -> Vec<String> {
    let mut kept: Vec<(&str, usize)> = counts
        .iter()
        .filter(|(_, n)| **n >= MIN_LEVEL_PARTNERS)
        .map(|(l, n)| (*l, *n))
        .collect();
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    kept.truncate(MAX_LEVELS);
    let mut levels: Vec<String> = kept.into_iter().map(|(l, _)| l.to_owned()).collect();
    levels.sort();
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Id, JourneyStage, PartnerType, PlanStatus, RelationshipStage, Responsible, Tier,
    };

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const AS_OF: &str = "2026-10-01";

    /// A partner whose numbers all grow with `level` (0..=1) and whose categories switch
    /// from the bottom of the pyramid to the top at 0.5.
    fn partner(id: &str, level: f64) -> Partner {
        let mut p = Partner::new(Id::parse(id).unwrap());
        let high = level >= 0.5;
        p.partner_type = Some(if high {
            PartnerType::SystemIntegrator
        } else {
            PartnerType::Reseller
        });
        p.relationship_stage = Some(if high {
            RelationshipStage::Partnership
        } else {
            RelationshipStage::Transactional
        });
        p.journey_stage = Some(if high {
            JourneyStage::Expand
        } else {
            JourneyStage::Onboard
        });
        p.tier = Some(if high {
            Tier::Platinum
        } else {
            Tier::Registered
        });
        p.region = Some(if high { "EMEA" } else { "APAC" }.into());
        p.segment = Some(if high { "enterprise" } else { "smb" }.into());
        p.employees = Some((20.0 + 2000.0 * level) as i64);
        p.partner_since = Some(date("2020-01-01"));
        p.certified_reps = Some((1.0 + 40.0 * level) as i64);
        p.trained_reps = Some((2.0 + 60.0 * level) as i64);
        p.nps = Some(-20.0 + 80.0 * level);
        for (i, field) in [
            &mut p.trust_reliability,
            &mut p.trust_credibility,
            &mut p.trust_intimacy,
            &mut p.score_contribution,
            &mut p.score_capability,
            &mut p.score_coverage,
            &mut p.score_commitment,
            &mut p.score_consumption,
            &mut p.score_credibility,
        ]
        .into_iter()
        .enumerate()
        {
            *field = Some(2.0 + 7.0 * level + 0.1 * i as f64);
        }
        p.trust_self_orientation = Some(6.0 - 4.0 * level);
        p
    }

    fn population() -> Vec<Partner> {
        (0..40)
            .map(|i| partner(&format!("p{i}"), i as f64 / 39.0))
            .collect()
    }

    fn fitted() -> ProfileSchema {
        ProfileSchema::fit(
            &population(),
            &HashMap::new(),
            &Catalog::built_in(),
            date(AS_OF),
        )
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    }

    fn assert_valid(v: &[f32], schema: &ProfileSchema) {
        assert_eq!(v.len(), schema.dimension());
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
        assert!(v.iter().any(|x| *x != 0.0), "all zeros");
    }

    fn activity(kind: &str, day: &str, status: ActivityStatus) -> Activity {
        Activity {
            activity_id: Id::parse(&format!("a-{kind}-{day}")).unwrap(),
            plan_id: Id::parse("plan").unwrap(),
            kind: kind.into(),
            date: date(day),
            quantity: 1.0,
            status,
            responsible: Some(Responsible::Joint),
            kr_id: None,
        }
    }

    #[test]
    fn the_same_partner_gets_the_same_vector() {
        let schema = fitted();
        let p = partner("x", 0.3);
        let mix = RecentMix::empty(date(AS_OF));
        let v = schema.vector(&p, &mix);
        assert_valid(&v, &schema);
        assert_eq!(v, schema.vector(&p.clone(), &mix));
        let reread: ProfileSchema =
            serde_json::from_str(&serde_json::to_string(&schema).unwrap()).unwrap();
        assert_eq!(
            reread.vector(&p, &mix),
            v,
            "and after a registry round trip"
        );
    }

    #[test]
    fn the_dimension_is_fixed_by_the_schema_whatever_the_partner() {
        let schema = fitted();
        assert_eq!(schema.names().len(), schema.dimension());
        let mut odd = Partner::new(Id::parse("odd").unwrap());
        odd.region = Some("Antarctica".into());
        odd.segment = Some("galactic".into());
        let mut mix = RecentMix::empty(date(AS_OF));
        mix.by_category.insert("a category born later".into(), 3.0);
        mix.count = 3;
        for (p, m) in [
            (partner("a", 0.0), RecentMix::empty(date(AS_OF))),
            (partner("b", 1.0), mix.clone()),
            (odd, mix),
        ] {
            assert_valid(&schema.vector(&p, &m), &schema);
        }
        // 18 numerics, the missing share, 5 one-hot fields with 2 levels + (other) each,
        // the catalog's categories plus custom, and the activity count.
        let categories = Catalog::built_in()
            .iter()
            .map(|s| s.category.clone())
            .chain([CUSTOM_CATEGORY.to_owned()])
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert_eq!(schema.dimension(), 18 + 1 + 5 * 3 + categories + 1);
    }

    #[test]
    fn an_empty_profile_and_an_empty_fit_still_give_valid_vectors() {
        let blank = Partner::new(Id::parse("blank").unwrap());
        let mix = RecentMix::empty(date(AS_OF));
        assert_valid(&fitted().vector(&blank, &mix), &fitted());
        let nothing = ProfileSchema::fit(&[], &HashMap::new(), &Catalog::built_in(), date(AS_OF));
        assert_valid(&nothing.vector(&blank, &mix), &nothing);
        assert_valid(&nothing.vector(&partner("a", 0.5), &mix), &nothing);
    }

    #[test]
    fn a_missing_field_is_the_mean_and_is_flagged() {
        let schema = fitted();
        let names = schema.names();
        let at = |name: &str| names.iter().position(|n| n == name).unwrap();
        let mix = RecentMix::empty(date(AS_OF));
        let present = partner("x", 0.9);
        let mut absent = present.clone();
        absent.nps = None;
        let (v, w) = (schema.vector(&present, &mix), schema.vector(&absent, &mix));
        assert!(v[at("nps")] > 0.0, "a high NPS is above the mean");
        assert_eq!(w[at("nps")], 0.0, "an unknown NPS is the mean");
        assert!(
            w[at("missing_share")] > v[at("missing_share")],
            "and counts as missing"
        );
        let changed: Vec<usize> = (0..v.len()).filter(|&i| v[i] != w[i]).collect();
        assert_eq!(changed, [at("nps"), at("missing_share")]);
        let mut untyped = present.clone();
        untyped.partner_type = None;
        let u = schema.vector(&untyped, &mix);
        assert_eq!(
            u[at("partner_type=(other)")],
            v[at("partner_type=system_integrator")]
        );
        assert_eq!(u[at("partner_type=system_integrator")], 0.0);
    }

    #[test]
    fn close_profiles_are_nearer_than_far_ones() {
        let schema = fitted();
        let mix = RecentMix::empty(date(AS_OF));
        let v = |level: f64| schema.vector(&partner("q", level), &mix);
        let me = v(0.8);
        assert!(cosine(&me, &v(0.75)) > cosine(&me, &v(0.55)));
        assert!(cosine(&me, &v(0.55)) > cosine(&me, &v(0.2)));
        assert!(cosine(&me, &v(0.2)) < 0.0, "the opposite end points away");
    }

    #[test]
    fn the_recent_mix_counts_done_activities_of_the_window_only() {
        let catalog = Catalog::built_in();
        let mut mix = RecentMix::empty(date(AS_OF));
        for a in [
            activity("qbr", "2026-09-30", ActivityStatus::Done),
            activity("sales_training", "2026-06-01", ActivityStatus::Done),
            activity("partner_lunch", "2026-10-01", ActivityStatus::Done),
            activity("qbr", "2026-10-02", ActivityStatus::Done),
            activity("qbr", "2026-03-01", ActivityStatus::Done),
            activity("pilot", "2026-09-01", ActivityStatus::Planned),
        ] {
            mix.add(&a, &catalog);
        }
        assert_eq!(mix.count, 3);
        assert_eq!(
            mix.by_category,
            BTreeMap::from([
                ("custom".to_owned(), 1.0),
                ("enablement".to_owned(), 1.0),
                ("governance".to_owned(), 1.0),
            ])
        );
        let schema = fitted();
        let values = mix_values(&mix, &schema.categories);
        let share = |c: &str| values[schema.categories.iter().position(|x| x == c).unwrap()];
        assert!((share("governance") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(share("selling"), 0.0);
    }

    #[test]
    fn the_recent_mix_moves_the_vector() {
        let catalog = Catalog::built_in();
        let partners = population();
        let mut records = Vec::new();
        for (i, p) in partners.iter().enumerate() {
            let kind = if i % 2 == 0 {
                "joint_sales_call"
            } else {
                "qbr"
            };
            records.push(PlanRecord {
                plan: crate::domain::Plan {
                    plan_id: Id::parse(&format!("plan{i}")).unwrap(),
                    partner_id: p.partner_id.clone(),
                    start_date: date("2026-01-01"),
                    end_date: date("2026-12-31"),
                    name: None,
                    template: None,
                    status: PlanStatus::Active,
                    owner_id: None,
                },
                key_results: Vec::new(),
                progress: Vec::new(),
                activities: vec![activity(kind, "2026-09-01", ActivityStatus::Done)],
            });
        }
        assert_eq!(
            profile_as_of(&records, date("2026-11-28")),
            date("2026-09-01")
        );
        assert_eq!(
            profile_as_of(&records, date("2026-08-01")),
            date("2026-08-01")
        );
        let as_of = date(AS_OF);
        let mixes = RecentMix::of_partners(&records, &catalog, as_of);
        let schema = ProfileSchema::fit(&partners, &mixes, &catalog, as_of);
        let me = &partners[10];
        let selling = schema.vector(me, &mixes["p10"]);
        let governing = schema.vector(me, &mixes["p11"]);
        assert_ne!(selling, governing);
        assert!(
            cosine(&selling, &schema.vector(&partners[12], &mixes["p12"]))
                > cosine(&selling, &schema.vector(&partners[12], &mixes["p11"]))
        );
    }

    #[test]
    fn a_prospect_vector_is_the_profile_with_an_average_activity_mix() {
        // Every partner did something recently, so "nothing done" is far below the mean.
        let catalog = Catalog::built_in();
        let partners = population();
        let mut mix = RecentMix::empty(date(AS_OF));
        mix.add(
            &activity("qbr", "2026-09-01", ActivityStatus::Done),
            &catalog,
        );
        let mixes = partners
            .iter()
            .map(|p| (p.partner_id.to_string(), mix.clone()))
            .collect();
        let schema = ProfileSchema::fit(&partners, &mixes, &catalog, date(AS_OF));
        let names = schema.names();
        let p = partner("x", 0.7);
        let prospect = schema.prospect_vector(&p, date(AS_OF));
        assert_valid(&prospect, &schema);
        let idle = schema.vector(&p, &RecentMix::empty(date(AS_OF)));
        let count = names
            .iter()
            .position(|n| n == "mix:activities_log1p")
            .unwrap();
        assert!(idle[count] < 0.0, "an idle partner is below the mean");
        for (i, name) in names.iter().enumerate() {
            if name.starts_with("mix:") {
                assert_eq!(prospect[i], 0.0, "{name} is the mean");
            } else {
                assert_eq!(prospect[i], idle[i], "{name} is the profile's");
            }
        }
    }

    #[test]
    fn a_schema_of_another_version_is_refused() {
        let mut schema = fitted();
        assert!(schema.check_version().is_ok());
        schema.version = PROFILE_VERSION + 1;
        assert!(matches!(
            schema.check_version(),
            Err(FeatureError::UnsupportedProfileSchema { .. })
        ));
    }
}
