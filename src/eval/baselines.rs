//! The ways of choosing actions that nextbest is compared with, in one place: the
//! one-step decision evaluation ([`super::decision`]) scores their rankings against the
//! true effects, and the policy simulation ([`super::simulate`]) follows them for the rest
//! of a period, so both judge nextbest against the same alternatives.

use std::collections::HashMap;

use serde::Serialize;

use crate::domain::{ActionSpec, ActivityStatus, JourneyStage, PlanRecord};
use crate::nba::eligibility::Facts;

/// A way of choosing actions that nextbest is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Nothing beyond what the team would do anyway.
    StatusQuo,
    /// Any eligible action, uniformly.
    RandomEligible,
    /// The eligible action the tenant's teams did most often in closed plans.
    MostPopular,
    /// A fixed list per journey stage ([`playbook`]), first eligible entry first.
    StagePlaybook,
}

impl Baseline {
    pub const ALL: [Baseline; 4] = [
        Self::StatusQuo,
        Self::RandomEligible,
        Self::MostPopular,
        Self::StagePlaybook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusQuo => "status quo",
            Self::RandomEligible => "random eligible",
            Self::MostPopular => "most popular",
            Self::StagePlaybook => "stage playbook",
        }
    }
}

/// The fixed playbook a channel team without nextbest runs: per stage, the moves the
/// literature names for it, in order (busywork included, as in practice).
pub fn playbook(stage: Option<JourneyStage>) -> &'static [&'static str] {
    use JourneyStage::*;
    match stage {
        Some(Prospect) => &["coaching_checkin", "fill_plan_gaps", "progress_update"],
        Some(Onboard) => &[
            "kickoff_meeting",
            "define_success_plan",
            "account_mapping",
            "governance_cadence",
            "jbp_validation",
            "executive_sponsor",
            "communication_plan",
            "progress_update",
        ],
        Some(Develop) => &[
            "sales_training",
            "certification_push",
            "enablement_content",
            "enablement_workshop",
            "joint_value_proposition",
            "governance_cadence",
            "progress_update",
        ],
        Some(Win) => &[
            "account_mapping",
            "joint_sales_call",
            "deal_registration",
            "lead_sharing",
            "focus_account_plan",
            "marketing_event",
            "progress_update",
        ],
        Some(Deliver) => &[
            "customer_testimonial",
            "customer_roundtable",
            "coaching_checkin",
            "progress_update",
        ],
        Some(Expand) => &[
            "upsell_play",
            "co_marketing_campaign",
            "marketing_event",
            "roadmap_briefing",
            "integration_build",
            "progress_update",
        ],
        Some(Retain) => &[
            "qbr",
            "recognition",
            "partner_survey",
            "recertification",
            "progress_update",
        ],
        None => &["progress_update", "coaching_checkin"],
    }
}

/// Done units per kind over a tenant's closed plans: what "most popular" means.
pub fn popularity<'a>(closed: impl IntoIterator<Item = &'a PlanRecord>) -> HashMap<String, f64> {
    let mut counts: HashMap<String, f64> = HashMap::new();
    for record in closed {
        for a in &record.activities {
            if a.status == ActivityStatus::Done {
                *counts.entry(a.kind.clone()).or_default() += a.quantity.max(0.0);
            }
        }
    }
    counts
}

/// A baseline's ranking of the eligible kinds (best first); empty for the status quo,
/// and in catalog order for the random baseline (its metrics are expectations).
pub fn baseline_ranking<'a>(
    baseline: Baseline,
    eligible: &[&'a ActionSpec],
    facts: &Facts,
    popularity: &HashMap<String, f64>,
) -> Vec<&'a ActionSpec> {
    match baseline {
        Baseline::StatusQuo => Vec::new(),
        Baseline::RandomEligible => eligible.to_vec(),
        Baseline::MostPopular => {
            let mut ranked = eligible.to_vec();
            let count = |s: &ActionSpec| popularity.get(&s.kind).copied().unwrap_or(0.0);
            ranked.sort_by(|a, b| count(b).total_cmp(&count(a)).then(a.kind.cmp(&b.kind)));
            ranked
        }
        Baseline::StagePlaybook => playbook(facts.journey_stage)
            .iter()
            .filter_map(|kind| eligible.iter().find(|s| s.kind == *kind).copied())
            .collect(),
    }
}
