//! The fitted feature schema: which columns exist and how a snapshot fills them.
//!
//! Fitting fixes everything that depends on data (activity kinds, categorical levels,
//! custom attribute columns, imputation medians) so that a serving row, computed months
//! later from a schema read back from disk, has exactly the training columns in the same
//! order. Column layout, in order:
//!
//! 1. plain numerics that are always known (time, key result counts, owner, activity totals);
//! 2. nullable numerics: `NAME` (training median when unknown) then `NAME:missing` (0/1);
//! 3. numeric custom attributes: `attr:KEY`, `attr:KEY:missing`;
//! 4. one-hot categoricals: `FIELD=LEVEL` for each level kept, then `FIELD=(other)`;
//!    an unknown value is the level `(missing)` (a column of its own when it was common);
//! 5. categorical custom attributes: `attr:KEY=LEVEL`, `attr:KEY=(other)`;
//! 6. activity counts per kind `kind:KIND` (done, quantity-weighted, `ln(1 + x)`);
//! 7. counts per catalog category `category:CAT` (same transform);
//! 8. interactions `x:A*B` so an activity's association may differ by partner.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{FeatureError, Snapshot};
use crate::domain::pace::elapsed_fraction;
use crate::domain::{kr_pace, ActivityStatus, AttributeValue, Catalog, Pace, Partner};

/// Version of the column layout and of the rules that fill it. Bump it whenever a row
/// for the same snapshot could change, so an old model refuses new rows instead of
/// silently reading shifted columns.
pub const SCHEMA_VERSION: u32 = 2;

/// The level an unknown categorical value is counted as.
const MISSING: &str = "(missing)";
/// The column for levels too rare in training, or never seen there.
const OTHER: &str = "(other)";
/// The category of activity kinds without a catalog entry at fit time.
const CUSTOM_CATEGORY: &str = "custom";
/// Kinds whose recency measures the governance cadence of a plan.
const GOVERNANCE_KINDS: [&str; 3] = ["qbr", "governance_cadence", "progress_update"];
/// The pace ratio (progress / expected) explodes early in a period; beyond this it says
/// nothing more than "far ahead".
const PACE_RATIO_CAP: f64 = 10.0;

const N_PLAIN: usize = 9;
/// Always-known numerics.
const PLAIN: [&str; N_PLAIN] = [
    "elapsed_share",
    "days_elapsed",
    "days_left",
    "plan_days",
    "kr_count",
    "kr_without_target",
    "owner_set",
    "activity_total",
    "planned_open",
];
const P_ACTIVITY_TOTAL: usize = 7;

const N_NULLABLE: usize = 30;
/// Numerics that may be unknown: each gets a value column and a missing indicator.
const NULLABLE: [&str; N_NULLABLE] = [
    "employees_log1p",
    "tenure_years",
    "certified_reps_log1p",
    "trained_reps_log1p",
    "nps",
    "trust_reliability",
    "trust_credibility",
    "trust_intimacy",
    "trust_self_orientation",
    "trust",
    "score_contribution",
    "score_capability",
    "score_coverage",
    "score_commitment",
    "score_consumption",
    "score_credibility",
    "relationship_stage_index",
    "tier_index",
    "days_since_activity",
    "days_since_qbr",
    "days_since_governance_cadence",
    "days_since_progress_update",
    "kr_defined_share",
    "kr_known_share",
    "kr_progress",
    "kr_expected_pace",
    "kr_pace_ratio",
    "kr_pace_gap",
    "kr_behind_share",
    "kr_at_risk_share",
];
const N_REL_INDEX: usize = 16;
/// The first columns of [`NULLABLE`] are the partner's numeric profile, which the
/// profile vectors use too.
pub(crate) const N_PROFILE: usize = 18;
/// Names of the numeric profile fields, as [`profile_numerics`] returns them.
pub(crate) const PROFILE_NUMERICS: &[&str] = NULLABLE.split_at(N_PROFILE).0;

/// The numeric profile of a partner at `as_of`: counts on a log scale (10 against 20 reps
/// matters more than 1,010 against 1,020), tenure in years, stages and tiers as ranks.
pub(crate) fn profile_numerics(p: &Partner, as_of: NaiveDate) -> [Option<f64>; N_PROFILE] {
    let log = |v: Option<i64>| v.map(|v| (v.max(0) as f64).ln_1p());
    [
        log(p.employees),
        p.partner_since.map(|s| (days(s, as_of) / 365.25).max(0.0)),
        log(p.certified_reps),
        log(p.trained_reps),
        p.nps,
        p.trust_reliability,
        p.trust_credibility,
        p.trust_intimacy,
        p.trust_self_orientation,
        p.trust(),
        p.score_contribution,
        p.score_capability,
        p.score_coverage,
        p.score_commitment,
        p.score_consumption,
        p.score_credibility,
        p.relationship_stage.map(|s| s.index() as f64),
        p.tier.map(|t| t.index() as f64),
    ]
}
const N_DAYS_SINCE_ACTIVITY: usize = 18;
const N_KR_DEFINED_SHARE: usize = 22;

const N_CATEGORICAL: usize = 8;
/// One-hot encoded fields; `partner_type` must stay first (its one-hot feeds interactions).
const CATEGORICAL: [&str; N_CATEGORICAL] = [
    "partner_type",
    "tier",
    "relationship_stage",
    "journey_stage",
    "region",
    "segment",
    "integration_mode",
    "template",
];

/// Knobs of fitting. The defaults keep a 3000-partner world well under 300 columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// A categorical level, custom kind or custom attribute needs this many training
    /// snapshots to get a column of its own; rarer ones go to `(other)` (or are ignored),
    /// since a column fitted on a handful of rows is noise.
    pub min_level_count: usize,
    /// At most this many levels per categorical field (the most frequent).
    pub max_levels: usize,
    /// At most this many custom (non-catalog) activity kinds get a column.
    pub max_custom_kinds: usize,
    /// At most this many custom partner attributes become columns.
    pub max_attributes: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            min_level_count: 10,
            max_levels: 30,
            max_custom_kinds: 40,
            max_attributes: 20,
        }
    }
}

/// A categorical custom attribute and its kept levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalAttribute {
    pub key: String,
    pub levels: Vec<String>,
}

/// A numeric custom attribute and its imputation median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericAttribute {
    pub key: String,
    pub median: f64,
}

/// The columns of a model row and the rules that fill them, fitted on training snapshots.
/// Serialise it with the model; rows for test and serving must come from the same value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureSchema {
    pub version: u32,
    pub options: FitOptions,
    /// Snapshots the schema was fitted on.
    pub fitted_on: usize,
    /// Kinds with a count column, in column order: the catalog's kinds (sorted by name),
    /// then custom kinds seen in training (most frequent first).
    pub kinds: Vec<String>,
    /// Index into `categories` of each kind in `kinds`.
    pub kind_category: Vec<usize>,
    /// Catalog categories, sorted, always including `custom` (where unseen kinds count).
    pub categories: Vec<String>,
    /// Kept levels of each field of `CATEGORICAL`, in that order.
    pub levels: Vec<Vec<String>>,
    /// Training medians of the nullable numerics, in column order.
    pub medians: Vec<f64>,
    pub numeric_attributes: Vec<NumericAttribute>,
    pub categorical_attributes: Vec<CategoricalAttribute>,
    names: Vec<String>,
    /// Kind → position in `kinds`, rebuilt lazily after deserialising.
    #[serde(skip)]
    kind_index: OnceLock<HashMap<String, usize>>,
}

/// What a snapshot says before any fitted rule is applied.
struct Base<'a> {
    plain: [f64; N_PLAIN],
    nullable: [Option<f64>; N_NULLABLE],
    categorical: [Option<&'a str>; N_CATEGORICAL],
    /// Done quantity per distinct kind, in first-seen order.
    kinds: Vec<(&'a str, f64)>,
}

/// Per-attribute tallies while fitting.
#[derive(Default)]
struct AttributeTally {
    present: usize,
    all_numeric: bool,
    numbers: Vec<f64>,
    texts: HashMap<String, usize>,
}

impl FeatureSchema {
    /// Fits the schema on training snapshots with the default options. `partners` is keyed
    /// by partner id; a plan whose partner is absent has an unknown profile.
    ///
    /// Errors with [`FeatureError::NoSnapshots`] when `records` is empty.
    pub fn fit(
        records: &[Snapshot],
        partners: &HashMap<String, Partner>,
        catalog: &Catalog,
    ) -> Result<FeatureSchema, FeatureError> {
        Self::fit_with(records, partners, catalog, &FitOptions::default())
    }

    /// [`FeatureSchema::fit`] with explicit options.
    pub fn fit_with(
        records: &[Snapshot],
        partners: &HashMap<String, Partner>,
        catalog: &Catalog,
        options: &FitOptions,
    ) -> Result<FeatureSchema, FeatureError> {
        let refs: Vec<&Snapshot> = records.iter().collect();
        Self::fit_refs(&refs, partners, catalog, options)
    }

    pub(crate) fn fit_refs(
        records: &[&Snapshot],
        partners: &HashMap<String, Partner>,
        catalog: &Catalog,
        options: &FitOptions,
    ) -> Result<FeatureSchema, FeatureError> {
        if records.is_empty() {
            return Err(FeatureError::NoSnapshots);
        }
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); N_NULLABLE];
        let mut level_counts: Vec<HashMap<&str, usize>> = vec![HashMap::new(); N_CATEGORICAL];
        let mut custom_kinds: HashMap<&str, usize> = HashMap::new();
        let mut attributes: BTreeMap<&str, AttributeTally> = BTreeMap::new();

        for snap in records {
            let partner = partner_of(snap, partners);
            let base = base(snap, partner);
            for (column, value) in values.iter_mut().zip(base.nullable) {
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    column.push(v);
                }
            }
            for (counts, value) in level_counts.iter_mut().zip(base.categorical) {
                *counts.entry(value.unwrap_or(MISSING)).or_default() += 1;
            }
            for (kind, _) in &base.kinds {
                if !catalog.contains(kind) {
                    *custom_kinds.entry(kind).or_default() += 1;
                }
            }
            for (key, value) in partner.iter().flat_map(|p| &p.attributes) {
                let tally = attributes
                    .entry(key.as_str())
                    .or_insert_with(|| AttributeTally {
                        all_numeric: true,
                        ..AttributeTally::default()
                    });
                tally.present += 1;
                match value {
                    AttributeValue::Number(x) => tally.numbers.push(*x),
                    AttributeValue::Text(_) => tally.all_numeric = false,
                }
                *tally
                    .texts
                    .entry(attribute_text(value).into_owned())
                    .or_default() += 1;
            }
        }

        let medians = values.iter_mut().map(|v| median(v)).collect();
        let levels = level_counts
            .iter()
            .map(|counts| keep_levels(counts.iter().map(|(k, n)| (*k, *n)), options))
            .collect();

        // Kinds: the catalog's (BTreeMap order, i.e. by name), then frequent custom kinds.
        let mut categories: Vec<String> = catalog.iter().map(|s| s.category.clone()).collect();
        categories.push(CUSTOM_CATEGORY.to_owned());
        categories.sort();
        categories.dedup();
        let category_of = |kind: &str| {
            let name = catalog
                .get(kind)
                .map_or(CUSTOM_CATEGORY, |s| s.category.as_str());
            categories.iter().position(|c| c == name).unwrap_or(0)
        };
        let mut kinds: Vec<String> = catalog.iter().map(|s| s.kind.clone()).collect();
        let mut custom: Vec<(&str, usize)> = custom_kinds
            .into_iter()
            .filter(|(_, n)| *n >= options.min_level_count)
            .collect();
        custom.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kinds.extend(
            custom
                .into_iter()
                .take(options.max_custom_kinds)
                .map(|(k, _)| k.to_owned()),
        );
        let kind_category = kinds.iter().map(|k| category_of(k)).collect();

        // Custom attributes: the most common ones, numeric when every value was a number.
        let mut kept: Vec<(&str, AttributeTally)> = attributes
            .into_iter()
            .filter(|(_, t)| t.present >= options.min_level_count)
            .collect();
        kept.sort_by(|a, b| b.1.present.cmp(&a.1.present).then(a.0.cmp(b.0)));
        kept.truncate(options.max_attributes);
        kept.sort_by(|a, b| a.0.cmp(b.0));
        let (mut numeric_attributes, mut categorical_attributes) = (Vec::new(), Vec::new());
        for (key, mut tally) in kept {
            if tally.all_numeric {
                numeric_attributes.push(NumericAttribute {
                    key: key.to_owned(),
                    median: median(&mut tally.numbers),
                });
            } else {
                let absent = records.len().saturating_sub(tally.present);
                let counts = tally
                    .texts
                    .iter()
                    .map(|(k, n)| (k.as_str(), *n))
                    .chain((absent > 0).then_some((MISSING, absent)));
                categorical_attributes.push(CategoricalAttribute {
                    key: key.to_owned(),
                    levels: keep_levels(counts, options),
                });
            }
        }

        let mut schema = FeatureSchema {
            version: SCHEMA_VERSION,
            options: options.clone(),
            fitted_on: records.len(),
            kinds,
            kind_category,
            categories,
            levels,
            medians,
            numeric_attributes,
            categorical_attributes,
            names: Vec::new(),
            kind_index: OnceLock::new(),
        };
        schema.names = schema.build_names();
        Ok(schema)
    }

    /// Column names, in row order; unique.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of columns of every row.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Position of a named column (e.g. `kind:qbr`), for counterfactuals and explanations.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Refuses a schema written by another layout version (e.g. read back from a model
    /// registry), since its rows would not mean what the model learned.
    pub fn check_version(&self) -> Result<(), FeatureError> {
        if self.version == SCHEMA_VERSION {
            Ok(())
        } else {
            Err(FeatureError::UnsupportedSchema {
                found: self.version,
                expected: SCHEMA_VERSION,
            })
        }
    }

    /// The row of a snapshot: `width()` numbers, in `names()` order. Never fails: unknown
    /// values are imputed and flagged, unseen levels go to `(other)`, unseen kinds count
    /// only in the totals (and the `custom` category).
    pub fn row(&self, snapshot: &Snapshot, partner: Option<&Partner>) -> Vec<f64> {
        let mut row = Vec::with_capacity(self.names.len());
        self.write_row(snapshot, partner, &mut row);
        row
    }

    /// Appends the row of a snapshot to `out` (no allocation per row in bulk builds).
    pub fn write_row(&self, snapshot: &Snapshot, partner: Option<&Partner>, out: &mut Vec<f64>) {
        let base = base(snapshot, partner);
        let start = out.len();
        out.extend_from_slice(&base.plain);

        let mut rel_index = 0.0;
        for (i, value) in base.nullable.iter().enumerate() {
            let median = self.medians.get(i).copied().unwrap_or(0.0);
            let (v, missing) = impute(*value, median);
            if i == N_REL_INDEX {
                rel_index = v;
            }
            out.push(v);
            out.push(missing);
        }

        let attribute = |key: &str| partner.and_then(|p| p.attributes.get(key));
        for attr in &self.numeric_attributes {
            let value = match attribute(&attr.key) {
                Some(AttributeValue::Number(x)) => Some(*x),
                _ => None,
            };
            let (v, missing) = impute(value, attr.median);
            out.push(v);
            out.push(missing);
        }

        let mut partner_type_hot = 0;
        for (i, (levels, value)) in self.levels.iter().zip(base.categorical).enumerate() {
            let hot = one_hot(levels, value.unwrap_or(MISSING), out);
            if i == 0 {
                partner_type_hot = hot;
            }
        }
        for attr in &self.categorical_attributes {
            let text = attribute(&attr.key).map_or(Cow::Borrowed(MISSING), attribute_text);
            one_hot(&attr.levels, &text, out);
        }

        let index = self.kind_index();
        let mut kind_counts = vec![0.0; self.kinds.len()];
        let mut category_counts = vec![0.0; self.categories.len()];
        let custom = self
            .categories
            .iter()
            .position(|c| c == CUSTOM_CATEGORY)
            .unwrap_or(0);
        for (kind, quantity) in &base.kinds {
            let category = match index.get(*kind) {
                Some(&k) => {
                    kind_counts[k] += quantity;
                    self.kind_category.get(k).copied().unwrap_or(custom)
                }
                None => custom,
            };
            if let Some(c) = category_counts.get_mut(category) {
                *c += quantity;
            }
        }
        out.extend(kind_counts.iter().map(|c| c.ln_1p()));
        let category_start = out.len();
        out.extend(category_counts.iter().map(|c| c.ln_1p()));

        let total = base.plain[P_ACTIVITY_TOTAL];
        out.push(rel_index * total);
        for c in category_start..category_start + self.categories.len() {
            let count = out[c];
            out.push(rel_index * count);
        }
        let partner_types = self.levels.first().map_or(1, |l| l.len() + 1);
        for t in 0..partner_types {
            out.push(if t == partner_type_hot { total } else { 0.0 });
        }
        debug_assert_eq!(out.len() - start, self.names.len());
    }

    fn kind_index(&self) -> &HashMap<String, usize> {
        self.kind_index.get_or_init(|| {
            self.kinds
                .iter()
                .enumerate()
                .map(|(i, k)| (k.clone(), i))
                .collect()
        })
    }

    fn build_names(&self) -> Vec<String> {
        let mut names: Vec<String> = PLAIN.iter().map(|n| (*n).to_owned()).collect();
        for n in NULLABLE {
            names.push(n.to_owned());
            names.push(format!("{n}:missing"));
        }
        for attr in &self.numeric_attributes {
            names.push(format!("attr:{}", attr.key));
            names.push(format!("attr:{}:missing", attr.key));
        }
        for (field, levels) in CATEGORICAL.iter().zip(&self.levels) {
            names.extend(levels.iter().map(|l| format!("{field}={l}")));
            names.push(format!("{field}={OTHER}"));
        }
        for attr in &self.categorical_attributes {
            names.extend(attr.levels.iter().map(|l| format!("attr:{}={l}", attr.key)));
            names.push(format!("attr:{}={OTHER}", attr.key));
        }
        names.extend(self.kinds.iter().map(|k| format!("kind:{k}")));
        names.extend(self.categories.iter().map(|c| format!("category:{c}")));
        let total = PLAIN[P_ACTIVITY_TOTAL];
        let rel = NULLABLE[N_REL_INDEX];
        names.push(format!("x:{rel}*{total}"));
        names.extend(
            self.categories
                .iter()
                .map(|c| format!("x:{rel}*category:{c}")),
        );
        if let Some(levels) = self.levels.first() {
            let field = CATEGORICAL[0];
            names.extend(
                levels
                    .iter()
                    .map(String::as_str)
                    .chain([OTHER])
                    .map(|l| format!("x:{field}={l}*{total}")),
            );
        }
        names
    }
}

fn partner_of<'a>(snap: &Snapshot, partners: &'a HashMap<String, Partner>) -> Option<&'a Partner> {
    partners.get(snap.record.plan.partner_id.as_str())
}

/// A value and its missing indicator: the value itself when known and finite, else the
/// training median with the indicator set.
fn impute(value: Option<f64>, median: f64) -> (f64, f64) {
    match value.filter(|v| v.is_finite()) {
        Some(v) => (v, 0.0),
        None => (median, 1.0),
    }
}

/// Pushes the one-hot of `value` over `levels` plus `(other)`; returns the hot position.
fn one_hot(levels: &[String], value: &str, out: &mut Vec<f64>) -> usize {
    let hot = levels
        .iter()
        .position(|l| l == value)
        .unwrap_or(levels.len());
    out.extend((0..=levels.len()).map(|i| if i == hot { 1.0 } else { 0.0 }));
    hot
}

/// The text a custom attribute value is counted under when its column is categorical.
fn attribute_text(value: &AttributeValue) -> Cow<'_, str> {
    match value {
        AttributeValue::Text(s) => Cow::Borrowed(s.as_str()),
        AttributeValue::Number(x) => Cow::Owned(format!("{x}")),
    }
}

/// Levels seen at least `min_level_count` times, at most `max_levels` of the most
/// frequent, sorted by name so the column order does not depend on hash order.
fn keep_levels<'a>(
    counts: impl Iterator<Item = (&'a str, usize)>,
    options: &FitOptions,
) -> Vec<String> {
    let mut kept: Vec<(&str, usize)> = counts
        .filter(|(_, n)| *n >= options.min_level_count.max(1))
        .collect();
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    kept.truncate(options.max_levels);
    let mut levels: Vec<String> = kept.into_iter().map(|(l, _)| l.to_owned()).collect();
    levels.sort();
    levels
}

/// The median (upper middle for even counts); 0 when nothing was known, in which case the
/// indicator column carries all the information.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

fn days(from: NaiveDate, to: NaiveDate) -> f64 {
    (to - from).num_days() as f64
}

/// Everything a snapshot says without fitted rules. Reads only the cut record, its as_of
/// date and the partner profile.
fn base<'a>(snap: &'a Snapshot, partner: Option<&'a Partner>) -> Base<'a> {
    let record = &snap.record;
    let plan = &record.plan;
    let as_of = snap.as_of;
    let (start, end) = (plan.start_date, plan.end_date);

    // Activities: done ones count (quantity-weighted); planned ones still open are a
    // sign of execution lag. `<= as_of` again, in case a caller hands an uncut record.
    let (mut total, mut planned_open) = (0.0, 0.0);
    let mut last_done: Option<NaiveDate> = None;
    let mut last_governance: [Option<NaiveDate>; 3] = [None; 3];
    let mut kinds: Vec<(&str, f64)> = Vec::new();
    for a in record.activities.iter().filter(|a| a.date <= as_of) {
        match a.status {
            ActivityStatus::Done => {
                let q = a.quantity.max(0.0);
                total += q;
                match kinds.iter_mut().find(|(k, _)| *k == a.kind) {
                    Some((_, n)) => *n += q,
                    None => kinds.push((a.kind.as_str(), q)),
                }
                last_done = last_done.max(Some(a.date));
                if let Some(g) = GOVERNANCE_KINDS.iter().position(|g| *g == a.kind) {
                    last_governance[g] = last_governance[g].max(Some(a.date));
                }
            }
            ActivityStatus::Planned => planned_open += 1.0,
            ActivityStatus::Cancelled => {}
        }
    }

    let krs = &record.key_results;
    let with_target = krs
        .iter()
        .filter(|k| k.target.is_some_and(|t| t > 0.0))
        .count();
    let plain = [
        elapsed_fraction(start, end, as_of),
        days(start, as_of).max(0.0),
        days(as_of, end).max(0.0),
        days(start, end).max(0.0),
        krs.len() as f64,
        (krs.len() - with_target) as f64,
        if plan.owner_id.is_some() { 1.0 } else { 0.0 },
        f64::ln_1p(total),
        f64::ln_1p(planned_open),
    ];

    let mut nullable: [Option<f64>; N_NULLABLE] = [None; N_NULLABLE];
    if let Some(p) = partner {
        nullable[..N_PROFILE].copy_from_slice(&profile_numerics(p, as_of));
    }
    nullable[N_DAYS_SINCE_ACTIVITY] = last_done.map(|d| days(d, as_of));
    for (g, last) in last_governance.iter().enumerate() {
        nullable[N_DAYS_SINCE_ACTIVITY + 1 + g] = last.map(|d| days(d, as_of));
    }
    let progress = kr_progress(snap);
    nullable[N_KR_DEFINED_SHARE..].copy_from_slice(&progress);

    let categorical = [
        partner.and_then(|p| p.partner_type).map(|v| v.as_str()),
        partner.and_then(|p| p.tier).map(|v| v.as_str()),
        partner
            .and_then(|p| p.relationship_stage)
            .map(|v| v.as_str()),
        partner.and_then(|p| p.journey_stage).map(|v| v.as_str()),
        partner.and_then(|p| p.region.as_deref()),
        partner.and_then(|p| p.segment.as_deref()),
        partner.and_then(|p| p.integration_mode).map(|v| v.as_str()),
        plan.template.as_deref(),
    ];
    Base {
        plain,
        nullable,
        categorical,
        kinds,
    }
}

/// Key result progress against pace: defined share, known share, weighted progress,
/// expected pace, their ratio and gap, and the shares behind / at risk. Progress is over
/// key results with a defined target (and positive weight) whose realized value is known
/// at as_of; an unknown value is not a zero, so when none is known the progress
/// features are missing rather than "nothing achieved".
fn kr_progress(snap: &Snapshot) -> [Option<f64>; 8] {
    let record = &snap.record;
    let (start, end) = (record.plan.start_date, record.plan.end_date);
    let krs = &record.key_results;
    let mut out = [None; 8];
    if krs.is_empty() {
        return out;
    }
    let with_target = krs
        .iter()
        .filter(|k| k.target.is_some_and(|t| t > 0.0))
        .count();
    out[0] = Some(with_target as f64 / krs.len() as f64);
    let defined: Vec<_> = krs
        .iter()
        .filter(|k| k.target.is_some_and(|t| t > 0.0) && k.weight > 0.0)
        .collect();
    if defined.is_empty() {
        return out;
    }
    let known: Vec<_> = defined.iter().filter(|k| k.realized.is_some()).collect();
    out[1] = Some(known.len() as f64 / defined.len() as f64);
    if known.is_empty() {
        return out;
    }
    let (mut progress, mut expected, mut weights) = (0.0, 0.0, 0.0);
    let (mut behind, mut at_risk) = (0.0, 0.0);
    for kr in &known {
        let (target, realized) = (kr.target.unwrap_or(1.0), kr.realized.unwrap_or(0.0));
        let due = kr.due_date.unwrap_or(end);
        // Progress is held against the pace due when it was measured, not at as_of: a
        // value two weeks old compared with today's pace reads as "behind", and serving
        // (fresh values) would then disagree with training (values up to a step old).
        let measured = record
            .progress
            .iter()
            .filter(|p| p.kr_id == kr.kr_id)
            .map(|p| p.as_of)
            .max()
            .unwrap_or(snap.as_of)
            .min(snap.as_of);
        progress +=
            kr.weight * (realized / target).clamp(0.0, crate::domain::key_result::RATIO_CAP);
        expected += kr.weight * elapsed_fraction(start, due, measured);
        weights += kr.weight;
        match kr_pace(kr.target, kr.realized, start, due, measured) {
            Pace::Behind => behind += 1.0,
            Pace::AtRisk | Pace::NotComplete => at_risk += 1.0,
            _ => {}
        }
    }
    let (progress, expected) = (progress / weights, expected / weights);
    out[2] = Some(progress);
    out[3] = Some(expected);
    out[4] = (expected > 0.0).then(|| (progress / expected).min(PACE_RATIO_CAP));
    out[5] = Some(progress - expected);
    out[6] = Some(behind / known.len() as f64);
    out[7] = Some(at_risk / known.len() as f64);
    out
}
