//! The action catalog: what can be recommended, when it makes sense, and what it costs.
//! Built in from DOMAIN.md, extended or overridden per tenant by the `actions` file, and
//! extended again by any activity kind seen in data (a custom kind).

use std::collections::BTreeMap;

use super::{JourneyStage, RelationshipStage, Responsible};

/// Effort class of DOMAIN.md: L under an hour, M a meeting or a few hours, H weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Effort {
    L,
    M,
    H,
}

impl Effort {
    /// Typical hours of work, used as the cost of an action when a tenant gives none.
    pub fn hours(self) -> f64 {
        match self {
            Self::L => 0.5,
            Self::M => 3.0,
            Self::H => 40.0,
        }
    }

    /// The effort class of a number of hours, for tenant-defined actions.
    pub fn from_hours(hours: f64) -> Self {
        if hours < 1.0 {
            Self::L
        } else if hours < 16.0 {
            Self::M
        } else {
            Self::H
        }
    }
}

/// Where an action's definition came from; a tenant's `actions` row beats the built-in
/// one, and both beat a kind only ever seen in activity data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSource {
    Observed,
    BuiltIn,
    Tenant,
}

/// One action kind and the rules a good recommendation of it follows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActionSpec {
    pub kind: String,
    pub label: String,
    pub category: String,
    /// Journey stages where the action fits; empty means every stage.
    pub stages: Vec<JourneyStage>,
    pub effort_hours: f64,
    pub responsible: Responsible,
    pub min_relationship: RelationshipStage,
    /// Kinds that must have been done before this one makes sense.
    pub prerequisites: Vec<String>,
    pub cooldown_days: u32,
    pub description: String,
    pub source: ActionSource,
}

impl ActionSpec {
    pub fn effort(&self) -> Effort {
        Effort::from_hours(self.effort_hours)
    }

    pub fn fits_stage(&self, stage: JourneyStage) -> bool {
        self.stages.is_empty() || self.stages.contains(&stage)
    }

    /// False for a kind known only from activity data: its category, effort and stages
    /// are placeholders, not facts, so nothing about it may be read from them (the
    /// engine gives it a neutral prior and ties it to no key result).
    pub fn is_described(&self) -> bool {
        self.source != ActionSource::Observed
    }

    /// The spec given to a kind seen only in activity data: no stage or relationship
    /// restriction (nothing says which stages it fits), a medium effort (the middle of
    /// the three, so its cost is neither the cheapest nor the dearest), and a two-week
    /// cool-down, until a tenant says more. The `custom` category and the effort are
    /// placeholders: [`ActionSpec::is_described`] is false, and the engine reads no
    /// prior, relevance or urgency from them.
    pub fn observed(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            label: kind.replace('_', " "),
            category: "custom".into(),
            stages: Vec::new(),
            effort_hours: Effort::M.hours(),
            responsible: Responsible::Joint,
            min_relationship: RelationshipStage::Transactional,
            prerequisites: Vec::new(),
            cooldown_days: 14,
            description: String::new(),
            source: ActionSource::Observed,
        }
    }
}

use Effort::{H, L, M};
use RelationshipStage::{Collaborative as Col, Enhanced as Enh, Transactional as Tra};
use Responsible::{Joint as J, Partner as Pa, Vendor as V};

type Row = (
    &'static str, // kind
    &'static str, // what
    &'static str, // category
    &'static str, // stages, DOMAIN.md codes; "all" for every stage
    Effort,
    Responsible,
    RelationshipStage,
    &'static [&'static str], // prerequisites
    u32,                     // cool-down days
    &'static str,            // what it moves
);

/// DOMAIN.md's table. Prerequisites and cool-downs are ours: the book names "a focus
/// account before a pilot"; the rest follow the same logic (map accounts before calling
/// on them, build before listing, a testimonial before a roundtable).
#[rustfmt::skip]
const BUILT_IN: &[Row] = &[
    ("kickoff_meeting", "Executive kick-off call", "governance", "O", M, J, Tra, &[], 365, "commitment, onboarding"),
    ("executive_sponsor", "Secure an executive sponsor on both sides", "governance", "O", M, J, Enh, &[], 365, "commitment, governance"),
    ("define_success_plan", "Co-define objectives and key results", "planning", "O", M, J, Tra, &[], 90, "plan creation, attainment"),
    ("fill_plan_gaps", "Set undefined targets, assign owners", "planning", "all", L, V, Tra, &[], 14, "plan creation, accountability"),
    ("account_mapping", "Share customer and prospect overlap", "selling", "O W", M, J, Tra, &[], 90, "pipeline"),
    ("communication_plan", "Joint narrative, press release", "marketing", "O", M, J, Enh, &[], 180, "awareness, leads"),
    ("governance_cadence", "Set up monthly reviews or a steering committee", "governance", "O D", M, J, Enh, &[], 90, "execution rate"),
    ("jbp_validation", "Validate the joint business plan", "planning", "O D", M, J, Enh, &["define_success_plan"], 90, "revenue, pipeline targets"),
    ("sales_training", "Targeted training for partner sales reps", "enablement", "D", M, V, Tra, &[], 60, "trained reps, capability"),
    ("certification_push", "Drive sales and technical certifications", "enablement", "D", L, Pa, Tra, &[], 30, "certifications, tier"),
    ("enablement_content", "Send collateral, case studies, product info", "enablement", "D", L, V, Tra, &[], 14, "readiness"),
    ("enablement_workshop", "Custom workshop, free of obligation", "enablement", "D", M, V, Enh, &[], 60, "capability, trust"),
    ("joint_value_proposition", "Write the better-together narrative", "selling", "D", M, J, Enh, &[], 180, "win rate"),
    ("focus_account_plan", "Pick a mutual account, write a joint account plan", "selling", "W", M, J, Enh, &["account_mapping"], 90, "pipeline, first win"),
    ("joint_sales_call", "Joint call on a mapped account", "selling", "W", M, J, Tra, &["account_mapping"], 14, "pipeline, win rate"),
    ("marketing_event", "Co-hosted event or webinar", "marketing", "W E", H, J, Enh, &[], 60, "pipeline, leads"),
    ("deal_registration", "Register or chase a deal registration", "selling", "W", L, Pa, Tra, &[], 7, "registered deals, revenue"),
    ("lead_sharing", "Pass qualified leads", "selling", "W", L, V, Tra, &[], 14, "pipeline"),
    ("pilot", "First pilot on the focus account, documented", "selling", "W", H, J, Col, &["focus_account_plan"], 120, "first success"),
    ("customer_testimonial", "Capture a customer use case", "marketing", "Dl", M, Pa, Enh, &[], 90, "credibility"),
    ("customer_roundtable", "Customers tell prospects their experience", "marketing", "Dl E", M, J, Col, &["customer_testimonial"], 120, "credibility, pipeline"),
    ("co_marketing_campaign", "Digital campaign and regional PR", "marketing", "E", H, J, Col, &["joint_value_proposition"], 90, "new opportunities, commitment"),
    ("upsell_play", "Upsell or cross-sell play on shared customers", "growth", "E", M, J, Enh, &[], 60, "ARR, CLV"),
    ("integration_build", "Advance a technical integration", "growth", "O E", H, J, Col, &[], 60, "retention, ARR"),
    ("marketplace_listing", "List the joint offer on a marketplace", "growth", "E", H, J, Col, &["integration_build"], 365, "referrals, deals"),
    ("roadmap_briefing", "Share the roadmap, collect feedback", "growth", "E", M, V, Col, &[], 90, "commitment, relationship"),
    ("qbr", "Forward-looking business review", "governance", "R", M, J, Tra, &[], 80, "plan adaptation, satisfaction"),
    ("progress_update", "Nudge owners to update realized values", "governance", "all", L, V, Tra, &[], 14, "execution rate, attainment"),
    ("recognition", "Celebrate success, recognise achievements", "relationship", "R", L, V, Tra, &[], 60, "motivation, loyalty"),
    ("recertification", "Recertification or training-update reminder", "enablement", "R", L, Pa, Tra, &[], 180, "certifications kept"),
    ("partner_survey", "Partner NPS or satisfaction pulse", "relationship", "R", L, V, Tra, &[], 90, "trust measurement"),
    ("coaching_checkin", "Coaching conversation: what is the real challenge?", "relationship", "all", L, V, Tra, &[], 21, "relationship quality"),
    ("relationship_touch", "Personal gesture, such as an event invitation", "relationship", "all", L, V, Enh, &[], 30, "intimacy, trust"),
    ("incentive_review", "Resolve an incentive, payout or attribution question", "relationship", "all", L, V, Tra, &[], 30, "trust"),
];

/// The built-in catalog, in DOMAIN.md's order.
pub fn built_in() -> Vec<ActionSpec> {
    BUILT_IN
        .iter()
        .map(
            |&(
                kind,
                label,
                category,
                stages,
                effort,
                responsible,
                min_rel,
                prereqs,
                cooldown,
                moves,
            )| ActionSpec {
                kind: kind.into(),
                label: label.into(),
                category: category.into(),
                stages: parse_stage_codes(stages),
                effort_hours: effort.hours(),
                responsible,
                min_relationship: min_rel,
                prerequisites: prereqs.iter().map(|p| (*p).to_owned()).collect(),
                cooldown_days: cooldown,
                description: format!("Moves: {moves}."),
                source: ActionSource::BuiltIn,
            },
        )
        .collect()
}

fn parse_stage_codes(codes: &str) -> Vec<JourneyStage> {
    if codes == "all" {
        return Vec::new();
    }
    codes
        .split_whitespace()
        .filter_map(JourneyStage::parse_code)
        .collect()
}

/// A tenant's catalog: built-in kinds, overridden or extended by the tenant's actions and
/// by kinds observed in its activities.
#[derive(Debug, Clone)]
pub struct Catalog {
    specs: BTreeMap<String, ActionSpec>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::built_in()
    }
}

impl Catalog {
    pub fn built_in() -> Self {
        Self {
            specs: built_in()
                .into_iter()
                .map(|s| (s.kind.clone(), s))
                .collect(),
        }
    }

    /// Adds or replaces a spec when its source ranks at least as high as the one held, so a
    /// kind seen in activities never hides a tenant's or the built-in definition.
    pub fn merge(&mut self, spec: ActionSpec) {
        match self.specs.get(&spec.kind) {
            Some(held) if held.source > spec.source => {}
            _ => {
                self.specs.insert(spec.kind.clone(), spec);
            }
        }
    }

    pub fn get(&self, kind: &str) -> Option<&ActionSpec> {
        self.specs.get(kind)
    }

    pub fn contains(&self, kind: &str) -> bool {
        self.specs.contains_key(kind)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ActionSpec> {
        self.specs.values()
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalog_has_the_34_kinds_of_the_domain() {
        let specs = built_in();
        assert_eq!(specs.len(), 34);
        let mut kinds: Vec<_> = specs.iter().map(|s| s.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), 34, "kinds are unique");
    }

    #[test]
    fn every_prerequisite_is_itself_a_catalog_kind() {
        let catalog = Catalog::built_in();
        for spec in catalog.iter() {
            for prereq in &spec.prerequisites {
                assert!(
                    catalog.contains(prereq),
                    "{} needs unknown {prereq}",
                    spec.kind
                );
            }
        }
    }

    #[test]
    fn stage_codes_follow_the_domain_table() {
        let catalog = Catalog::built_in();
        let pilot = catalog.get("pilot").unwrap();
        assert_eq!(pilot.stages, vec![JourneyStage::Win]);
        assert_eq!(pilot.min_relationship, RelationshipStage::Collaborative);
        assert_eq!(pilot.prerequisites, vec!["focus_account_plan".to_owned()]);
        assert!(catalog
            .get("progress_update")
            .unwrap()
            .fits_stage(JourneyStage::Prospect));
        assert!(!catalog
            .get("marketplace_listing")
            .unwrap()
            .fits_stage(JourneyStage::Onboard));
        let roundtable = catalog.get("customer_roundtable").unwrap();
        assert_eq!(
            roundtable.stages,
            vec![JourneyStage::Deliver, JourneyStage::Expand]
        );
    }

    #[test]
    fn an_observed_kind_never_replaces_a_defined_one() {
        let mut catalog = Catalog::built_in();
        catalog.merge(ActionSpec::observed("qbr"));
        assert_eq!(catalog.get("qbr").unwrap().source, ActionSource::BuiltIn);
        catalog.merge(ActionSpec::observed("partner_lunch"));
        assert_eq!(catalog.len(), 35);
        let mut tenant = ActionSpec::observed("qbr");
        tenant.source = ActionSource::Tenant;
        tenant.cooldown_days = 30;
        catalog.merge(tenant);
        assert_eq!(catalog.get("qbr").unwrap().cooldown_days, 30);
    }
}
