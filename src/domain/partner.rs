use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{Id, IntegrationMode, JourneyStage, PartnerType, RelationshipStage, Role, Tier};

/// A custom partner attribute from an unknown import column: numeric when every
/// non-empty value of the column parses as a number, else categorical (DATA_FORMAT.md).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Number(f64),
    Text(String),
}

/// The partner profile: who the partner is, how deep the relationship goes, and how it
/// scores. Every field but the id is optional because real exports are incomplete.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Partner {
    pub partner_id: Id,
    pub name: Option<String>,
    pub partner_type: Option<PartnerType>,
    pub roles: Vec<Role>,
    pub tier: Option<Tier>,
    pub relationship_stage: Option<RelationshipStage>,
    pub journey_stage: Option<JourneyStage>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub segment: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i64>,
    pub partner_since: Option<NaiveDate>,
    pub manager_id: Option<Id>,
    pub certified_reps: Option<i64>,
    pub trained_reps: Option<i64>,
    pub nps: Option<f64>,
    pub trust_reliability: Option<f64>,
    pub trust_credibility: Option<f64>,
    pub trust_intimacy: Option<f64>,
    pub trust_self_orientation: Option<f64>,
    pub score_contribution: Option<f64>,
    pub score_capability: Option<f64>,
    pub score_coverage: Option<f64>,
    pub score_commitment: Option<f64>,
    pub score_consumption: Option<f64>,
    pub score_credibility: Option<f64>,
    pub integration_mode: Option<IntegrationMode>,
    pub attributes: BTreeMap<String, AttributeValue>,
}

impl Partner {
    /// The trust equation of DOMAIN.md: (reliability + credibility + intimacy) / self-orientation.
    /// `None` unless all four inputs are known.
    pub fn trust(&self) -> Option<f64> {
        let (r, c, i, s) = (
            self.trust_reliability?,
            self.trust_credibility?,
            self.trust_intimacy?,
            self.trust_self_orientation?,
        );
        (s > 0.0).then(|| (r + c + i) / s)
    }

    /// A profile that knows only its id; every other field is "not given".
    pub fn new(partner_id: Id) -> Self {
        Self {
            partner_id,
            name: None,
            partner_type: None,
            roles: Vec::new(),
            tier: None,
            relationship_stage: None,
            journey_stage: None,
            region: None,
            country: None,
            segment: None,
            industry: None,
            employees: None,
            partner_since: None,
            manager_id: None,
            certified_reps: None,
            trained_reps: None,
            nps: None,
            trust_reliability: None,
            trust_credibility: None,
            trust_intimacy: None,
            trust_self_orientation: None,
            score_contribution: None,
            score_capability: None,
            score_coverage: None,
            score_commitment: None,
            score_consumption: None,
            score_credibility: None,
            integration_mode: None,
            attributes: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_needs_all_four_inputs() {
        let mut p = Partner::new(Id::parse("p1").unwrap());
        p.trust_reliability = Some(8.0);
        p.trust_credibility = Some(7.0);
        p.trust_intimacy = Some(6.0);
        assert_eq!(p.trust(), None);
        p.trust_self_orientation = Some(3.0);
        assert_eq!(p.trust(), Some(7.0));
    }
}
