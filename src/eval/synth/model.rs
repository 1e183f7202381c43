//! The structural constants of the synthetic world: what each action kind does to a plan's
//! key results (its causal effect) and how often managers do it (the policy). Kept apart
//! from the simulation so that `data/README.md` can document one table.

use crate::domain::catalog::built_in;
use crate::domain::{JourneyStage, PartnerType, RelationshipStage, Responsible};

/// Which way a partner's capability moves an action's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapClass {
    /// Enablement helps low-capability partners more: `exp(-0.35 * cap)`.
    Enablement,
    /// Joint selling pays off with capable partners: `exp(+0.30 * cap)`.
    Selling,
    /// No capability dependence.
    Neutral,
}

/// Effect of an action done outside the journey stages it fits.
pub(crate) const OFF_STAGE_FIT: f64 = 0.3;
/// Effect of an action done for a partner below its minimum relationship stage.
pub(crate) const BELOW_RELATIONSHIP_FIT: f64 = 0.1;
/// Effect of an action whose prerequisite was not done before (this plan or an earlier one).
pub(crate) const MISSING_PREREQUISITE_FIT: f64 = 0.15;
/// Share of the period over which an action's contribution materialises: an action done
/// later than `1 - RAMP` into the period only partly counts by its end.
pub(crate) const RAMP: f64 = 0.3;

/// Policy: rate multiplier of a kind outside its journey stages.
pub(crate) const POLICY_OFF_STAGE: f64 = 0.12;
/// Policy: rate multiplier of a kind below its minimum relationship stage.
pub(crate) const POLICY_BELOW_RELATIONSHIP: f64 = 0.25;
/// Policy: how strongly relationship quality `q` raises the rate of useful actions
/// (`exp(0.5 q)`) and of busywork (`exp(0.9 q)`): the confounder.
pub(crate) const POLICY_Q: f64 = 0.5;
pub(crate) const POLICY_Q_BUSYWORK: f64 = 0.9;
/// Policy: global scale on the per-quarter rates of [`KINDS`], sized for the file budget.
pub(crate) const POLICY_SCALE: f64 = 0.66;
/// Days in the reference quarter of the per-quarter rates.
pub(crate) const QUARTER_DAYS: f64 = 91.0;

/// Per kind: (kind, base effect `base_k`, policy rate per 91-day plan at q = 0 in a fitting
/// stage, capability class). A base effect of 0 marks busywork: done often, moves nothing.
/// `n` units of a kind done early in a plan add `beta_k * ln(n + 1)` to every key result's
/// attainment ratio (times the metric affinity), so the first unit is worth `0.69 beta_k`.
#[rustfmt::skip]
pub(crate) const KINDS: &[(&str, f64, f64, CapClass)] = &[
    ("kickoff_meeting",         0.12, 1.0, CapClass::Neutral),
    ("executive_sponsor",       0.14, 0.6, CapClass::Neutral),
    ("define_success_plan",     0.16, 1.0, CapClass::Neutral),
    ("fill_plan_gaps",          0.06, 0.8, CapClass::Neutral),
    ("account_mapping",         0.10, 0.8, CapClass::Selling),
    ("communication_plan",      0.06, 0.5, CapClass::Neutral),
    ("governance_cadence",      0.10, 0.8, CapClass::Neutral),
    ("jbp_validation",          0.12, 0.7, CapClass::Neutral),
    ("sales_training",          0.12, 1.2, CapClass::Enablement),
    ("certification_push",      0.10, 1.2, CapClass::Enablement),
    ("enablement_content",      0.00, 2.0, CapClass::Neutral),
    ("enablement_workshop",     0.12, 0.8, CapClass::Enablement),
    ("joint_value_proposition", 0.08, 0.6, CapClass::Neutral),
    ("focus_account_plan",      0.12, 0.7, CapClass::Selling),
    ("joint_sales_call",        0.16, 2.0, CapClass::Selling),
    ("marketing_event",         0.10, 0.6, CapClass::Neutral),
    ("deal_registration",       0.12, 1.8, CapClass::Selling),
    ("lead_sharing",            0.08, 1.2, CapClass::Selling),
    ("pilot",                   0.20, 0.4, CapClass::Selling),
    ("customer_testimonial",    0.08, 0.6, CapClass::Neutral),
    ("customer_roundtable",     0.10, 0.4, CapClass::Neutral),
    ("co_marketing_campaign",   0.14, 0.5, CapClass::Neutral),
    ("upsell_play",             0.16, 1.2, CapClass::Selling),
    ("integration_build",       0.18, 0.6, CapClass::Neutral),
    ("marketplace_listing",     0.16, 0.3, CapClass::Neutral),
    ("roadmap_briefing",        0.06, 0.6, CapClass::Neutral),
    ("qbr",                     0.12, 1.0, CapClass::Neutral),
    ("progress_update",         0.04, 1.5, CapClass::Neutral),
    ("recognition",             0.00, 1.0, CapClass::Neutral),
    ("recertification",         0.06, 0.8, CapClass::Enablement),
    ("partner_survey",          0.00, 0.8, CapClass::Neutral),
    ("coaching_checkin",        0.05, 1.2, CapClass::Neutral),
    ("relationship_touch",      0.00, 1.5, CapClass::Neutral),
    ("incentive_review",        0.00, 0.8, CapClass::Neutral),
];

/// Kinds done in units of more than one now and then (several deals or leads at once).
const MULTI_UNIT: &[&str] = &[
    "deal_registration",
    "lead_sharing",
    "certification_push",
    "joint_sales_call",
];

/// How much an action of a partner type's kind is worth relative to the base effect.
/// Unlisted pairs are 1.
pub(crate) fn type_modifier(kind: &str, t: PartnerType) -> f64 {
    use PartnerType::*;
    match (kind, t) {
        ("integration_build", Isv) => 2.0,
        ("integration_build", SystemIntegrator) => 1.3,
        ("integration_build", Reseller | Distributor) => 0.5,
        ("integration_build", Referral) => 0.3,
        ("marketplace_listing", Isv) => 1.8,
        ("marketplace_listing", Marketplace) => 1.5,
        ("marketplace_listing", Referral) => 0.5,
        ("joint_sales_call", Reseller | Var) => 1.4,
        ("joint_sales_call", Msp) => 1.1,
        ("joint_sales_call", Isv | Distributor) => 0.7,
        ("joint_sales_call", Referral | Marketplace) => 0.4,
        ("deal_registration", Reseller | Var) => 1.4,
        ("deal_registration", Distributor) => 1.2,
        ("deal_registration", Consultancy | Marketplace) => 0.6,
        ("deal_registration", Referral) => 0.4,
        ("upsell_play", Msp) => 1.5,
        ("upsell_play", Var) => 1.2,
        ("upsell_play", Referral) => 0.5,
        ("lead_sharing", Referral | Marketplace) => 1.3,
        ("sales_training", Reseller | Var | Distributor) => 1.2,
        ("certification_push", SystemIntegrator | Msp | Consultancy) => 1.3,
        ("pilot", SystemIntegrator) => 1.4,
        ("pilot", Consultancy) => 1.3,
        ("pilot", Referral) => 0.5,
        ("customer_testimonial" | "customer_roundtable", Consultancy | SystemIntegrator) => 1.2,
        ("co_marketing_campaign", Marketplace) => 1.3,
        ("co_marketing_campaign", Distributor) => 1.2,
        _ => 1.0,
    }
}

/// The capability modifier: `cap` is the partner's latent capability (standard normal).
pub(crate) fn capability_modifier(class: CapClass, cap: f64) -> f64 {
    match class {
        CapClass::Enablement => (-0.35 * cap).exp(),
        CapClass::Selling => (0.30 * cap).exp(),
        CapClass::Neutral => 1.0,
    }
}

/// Key result metrics of the synthetic plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    Revenue,
    Pipeline,
    DealsWon,
    Certifications,
    TrainedReps,
    Nps,
}

impl Metric {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Revenue => "revenue",
            Self::Pipeline => "pipeline",
            Self::DealsWon => "deals_won",
            Self::Certifications => "certifications",
            Self::TrainedReps => "trained_reps",
            Self::Nps => "nps",
        }
    }

    pub(crate) fn unit(self) -> &'static str {
        match self {
            Self::Revenue | Self::Pipeline => "EUR",
            Self::DealsWon | Self::Certifications | Self::TrainedReps => "#",
            Self::Nps => "score",
        }
    }

    pub(crate) fn objective(self) -> &'static str {
        match self {
            Self::Revenue => "Grow revenue",
            Self::Pipeline => "Build pipeline",
            Self::DealsWon => "Win new customers",
            Self::Certifications | Self::TrainedReps => "Enable the partner team",
            Self::Nps => "Delight customers",
        }
    }

    /// Rounds a value the way the metric is reported: money to whole units, counts to
    /// integers, NPS to one decimal.
    pub(crate) fn round(self, v: f64) -> f64 {
        match self {
            Self::Revenue | Self::Pipeline => v.round(),
            Self::DealsWon | Self::Certifications | Self::TrainedReps => v.round(),
            Self::Nps => (v * 10.0).round() / 10.0,
        }
    }

    /// Fixed offset of the attainment ratio per metric: some targets are easier to hit.
    pub(crate) fn offset(self) -> f64 {
        match self {
            Self::Revenue => -0.03,
            Self::Pipeline => 0.04,
            Self::DealsWon => -0.02,
            Self::Certifications => 0.02,
            Self::TrainedReps => 0.03,
            Self::Nps => 0.05,
        }
    }

    /// How strongly an action of a catalog category moves this metric.
    pub(crate) fn affinity(self, category: &str) -> f64 {
        let group = match self {
            Self::Revenue | Self::Pipeline | Self::DealsWon => 0,
            Self::Certifications | Self::TrainedReps => 1,
            Self::Nps => 2,
        };
        let row: [f64; 3] = match category {
            "enablement" => [0.7, 1.8, 0.8],
            "selling" => [1.3, 0.4, 0.6],
            "marketing" => [1.1, 0.4, 1.0],
            "growth" => [1.2, 0.6, 0.9],
            "relationship" => [0.8, 0.8, 1.6],
            _ => [1.0, 1.0, 1.0],
        };
        row[group]
    }
}

/// One action kind as the simulation sees it: catalog rules joined with [`KINDS`].
#[derive(Debug, Clone)]
pub(crate) struct KindModel {
    pub kind: String,
    pub category: String,
    pub base_effect: f64,
    pub quarter_rate: f64,
    pub busywork: bool,
    pub cap_class: CapClass,
    pub stages: Vec<JourneyStage>,
    pub min_relationship: RelationshipStage,
    pub prerequisites: Vec<usize>,
    pub responsible: Responsible,
    pub multi_unit: bool,
}

impl KindModel {
    pub(crate) fn fits_stage(&self, stage: JourneyStage) -> bool {
        self.stages.is_empty() || self.stages.contains(&stage)
    }
}

/// The built-in catalog joined with the effect table, in catalog order. A catalog kind
/// missing from [`KINDS`] (a future catalog change) gets a small effect and rate rather
/// than failing; a test keeps the two lists in step.
pub(crate) fn kind_models() -> Vec<KindModel> {
    let specs = built_in();
    let index = |kind: &str| specs.iter().position(|s| s.kind == kind);
    specs
        .iter()
        .map(|s| {
            let row = KINDS.iter().find(|r| r.0 == s.kind);
            let (base_effect, quarter_rate, cap_class) =
                row.map_or((0.03, 0.5, CapClass::Neutral), |r| (r.1, r.2, r.3));
            KindModel {
                kind: s.kind.clone(),
                category: s.category.clone(),
                base_effect,
                quarter_rate,
                busywork: base_effect == 0.0,
                cap_class,
                stages: s.stages.clone(),
                min_relationship: s.min_relationship,
                prerequisites: s.prerequisites.iter().filter_map(|p| index(p)).collect(),
                responsible: s.responsible,
                multi_unit: MULTI_UNIT.contains(&s.kind.as_str()),
            }
        })
        .collect()
}

/// The busywork kinds: zero causal effect whatever the plan.
pub fn busywork_kinds() -> Vec<&'static str> {
    KINDS.iter().filter(|r| r.1 == 0.0).map(|r| r.0).collect()
}
