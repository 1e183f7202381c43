//! The manager digest: a partner manager's portfolio this week. Who needs attention and
//! why, which plans are predicted to miss, the one action per partner, and the reviews
//! and plan ends coming up.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::partner::{asks, Ask};
use super::plans::{furthest_behind, plan_facts, AtRiskPlan, StatusCounts};
use super::{one_decimal, Missing, HORIZON_DAYS};
use crate::digest::DigestError;
use crate::domain::{ActivityStatus, Id, PlanRecord};
use crate::model::pipeline::predict_record;
use crate::nba::attention::{attention, managed_partners};
use crate::nba::portfolio::AT_RISK_P_HIT;
use crate::nba::Engine;
use crate::store::Store;

/// Partners listed per section: a digest is read in a minute, not scrolled.
pub const MAX_LISTED: usize = 10;

/// A partner that needs attention, with the reasons in the words the attention list uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionLine {
    pub partner_id: String,
    pub partner_name: Option<String>,
    pub active_plans: usize,
    /// Σ of the reasons' weights (one decimal): what the list is sorted by.
    pub score: f64,
    /// The heaviest [`MAX_REASONS`] reasons.
    pub reasons: Vec<String>,
    /// Reasons left out.
    pub more_reasons: usize,
}

/// Reasons stated per partner: the heaviest ones; the attention list has them all.
pub const MAX_REASONS: usize = 2;

/// The one action for a partner this week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerAction {
    pub partner_id: String,
    pub partner_name: Option<String>,
    #[serde(flatten)]
    pub ask: Ask,
}

/// A review or plan end coming up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub partner_id: String,
    pub partner_name: Option<String>,
    pub plan_id: String,
    pub date: NaiveDate,
    /// The governance activity's label, or `plan ends`.
    pub what: String,
}

/// Everything a manager digest states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagerFacts {
    pub tenant: String,
    pub manager_id: String,
    pub as_of: NaiveDate,
    pub since: NaiveDate,
    pub horizon_days: u64,
    /// Partners in the portfolio, and their active plans.
    pub partners: usize,
    pub active_plans: usize,
    pub plan_status: StatusCounts,
    /// Partners needing attention in all (the list below holds at most [`MAX_LISTED`]).
    pub needing_attention: usize,
    pub attention: Vec<AttentionLine>,
    /// Plans predicted below the at-risk line, lowest chance first.
    pub at_risk: Vec<AtRiskPlan>,
    /// The P(hit) below which a plan counts as at risk, whole percent.
    pub at_risk_below_percent: i64,
    pub top_actions: Vec<PartnerAction>,
    pub reviews: Vec<Review>,
    pub missing: Vec<Missing>,
}

/// The manager digest of `manager_id` as of `as_of`.
///
/// # Errors
/// [`DigestError::UnknownRecipient`] for a manager with neither partners nor plans.
pub async fn manager(
    store: &Store,
    engine: &Engine,
    manager_id: &str,
    as_of: NaiveDate,
    since: NaiveDate,
) -> Result<ManagerFacts, DigestError> {
    let tenant = engine.tenant();
    let unknown = || DigestError::UnknownRecipient {
        tenant: tenant.to_owned(),
        audience: "manager",
        id: manager_id.to_owned(),
    };
    let id = Id::parse(manager_id).map_err(|_| unknown())?;
    if !store.manager_exists(tenant, &id).await? {
        return Err(unknown());
    }
    let active = store.active_plans(tenant).await?;
    let partners = managed_partners(&id, store.partners(tenant).await?, &active);
    let names: HashMap<&str, Option<String>> = partners
        .iter()
        .map(|p| (p.partner_id.as_str(), p.name.clone()))
        .collect();
    let by_id: HashMap<&str, &crate::domain::Partner> = partners
        .iter()
        .map(|p| (p.partner_id.as_str(), p))
        .collect();
    let mine: Vec<&PlanRecord> = active
        .iter()
        .filter(|r| by_id.contains_key(r.plan.partner_id.as_str()))
        .collect();
    let model = engine.model();
    let mut missing = Vec::new();
    if mine.is_empty() {
        missing.push(Missing::NoPortfolio);
    }
    if model.is_none() {
        missing.push(Missing::NoModel);
    }
    let name_of = |partner_id: &str| names.get(partner_id).cloned().flatten();

    let mut plan_status = StatusCounts::default();
    let mut at_risk = Vec::new();
    let mut reviews = Vec::new();
    let horizon = as_of
        .checked_add_days(Days::new(HORIZON_DAYS))
        .unwrap_or(NaiveDate::MAX);
    for record in &mine {
        let partner_id = record.plan.partner_id.as_str();
        let prediction =
            model.map(|m| predict_record(m, record, by_id.get(partner_id).copied(), as_of));
        let facts = plan_facts(record, as_of, prediction.as_ref());
        plan_status.add(facts.status);
        if let Some(p) = facts
            .prediction
            .filter(|p| (p.p_hit_percent as f64) < AT_RISK_P_HIT * 100.0)
        {
            at_risk.push(AtRiskPlan {
                plan_id: facts.plan_id.clone(),
                plan_name: facts.name.clone(),
                partner_id: partner_id.to_owned(),
                partner_name: name_of(partner_id),
                prediction: p,
                status: facts.status,
                main_reason: furthest_behind(&facts).cloned(),
            });
        }
        for a in &record.activities {
            let Some(spec) = engine.catalog().get(&a.kind) else {
                continue;
            };
            if a.status == ActivityStatus::Planned
                && spec.category == "governance"
                && a.date > as_of
                && a.date <= horizon
            {
                reviews.push(Review {
                    partner_id: partner_id.to_owned(),
                    partner_name: name_of(partner_id),
                    plan_id: facts.plan_id.clone(),
                    date: a.date,
                    what: spec.label.clone(),
                });
            }
        }
        if record.plan.end_date > as_of && record.plan.end_date <= horizon {
            reviews.push(Review {
                partner_id: partner_id.to_owned(),
                partner_name: name_of(partner_id),
                plan_id: facts.plan_id.clone(),
                date: record.plan.end_date,
                what: "plan ends".into(),
            });
        }
    }
    at_risk.sort_by(|a, b| {
        a.prediction
            .p_hit_percent
            .cmp(&b.prediction.p_hit_percent)
            .then_with(|| a.plan_id.cmp(&b.plan_id))
    });
    at_risk.truncate(MAX_LISTED);
    reviews.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.plan_id.cmp(&b.plan_id)));

    let list = attention(
        store,
        model.map(AsRef::as_ref),
        tenant,
        &id,
        as_of,
        usize::MAX,
    )
    .await?;
    let needing_attention = list.partners.len();
    let mut top_actions = Vec::new();
    for p in list.partners.iter().take(MAX_LISTED) {
        let theirs: Vec<&PlanRecord> = mine
            .iter()
            .copied()
            .filter(|r| r.plan.partner_id == p.partner_id)
            .collect();
        if let Some(ask) = asks(store, engine, &theirs, as_of, 1)
            .await?
            .into_iter()
            .next()
        {
            top_actions.push(PartnerAction {
                partner_id: p.partner_id.to_string(),
                partner_name: p.name.clone(),
                ask,
            });
        }
    }
    let attention = list
        .partners
        .into_iter()
        .take(MAX_LISTED)
        .map(|p| AttentionLine {
            partner_id: p.partner_id.to_string(),
            partner_name: p.name,
            active_plans: p.active_plans,
            score: one_decimal(p.score).unwrap_or_default(),
            more_reasons: p.reasons.len().saturating_sub(MAX_REASONS),
            reasons: p
                .reasons
                .into_iter()
                .take(MAX_REASONS)
                .map(|r| r.text)
                .collect(),
        })
        .collect();
    Ok(ManagerFacts {
        tenant: tenant.to_owned(),
        manager_id: manager_id.to_owned(),
        as_of,
        since,
        horizon_days: HORIZON_DAYS,
        partners: partners.len(),
        active_plans: mine.len(),
        plan_status,
        needing_attention,
        attention,
        at_risk,
        at_risk_below_percent: super::percent(AT_RISK_P_HIT).unwrap_or(50),
        top_actions,
        reviews,
        missing,
    })
}
