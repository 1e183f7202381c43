//! The facts of a digest: every number and name a digest states, computed from the store
//! and the engine as of a date. Renderers and the LLM only ever word these.

use std::collections::BTreeSet;

use super::{Audience, DigestError, LEADERSHIP_ID};
use crate::store::Store;

/// Everyone in `tenant` a scheduled digest for `audience` goes to, sorted.
///
/// # Errors
/// [`DigestError::Store`] when the store cannot be read.
pub async fn recipients(
    store: &Store,
    tenant: &str,
    audience: Audience,
) -> Result<Vec<String>, DigestError> {
    if audience == Audience::Leadership {
        return Ok(vec![LEADERSHIP_ID.to_owned()]);
    }
    let active = store.active_plans(tenant).await?;
    let ids: BTreeSet<String> = match audience {
        Audience::Partner => active
            .iter()
            .map(|r| r.plan.partner_id.to_string())
            .collect(),
        _ => {
            let partners = store.partners(tenant).await?;
            let with_plans: BTreeSet<&str> =
                active.iter().map(|r| r.plan.partner_id.as_str()).collect();
            partners
                .iter()
                .filter(|p| with_plans.contains(p.partner_id.as_str()))
                .filter_map(|p| p.manager_id.as_ref().map(ToString::to_string))
                .chain(
                    active
                        .iter()
                        .filter_map(|r| r.plan.owner_id.as_ref().map(ToString::to_string)),
                )
                .collect()
        }
    };
    Ok(ids.into_iter().collect())
}

mod leadership;
mod manager;
mod partner;
mod plans;

pub use leadership::{leadership, GroupLine, LeadershipFacts, LevelChange, UnitLine, Win};
pub use manager::{manager, AttentionLine, ManagerFacts, PartnerAction, Review};
pub use partner::{
    partner, Achievement, Ask, Change, DoneActivity, Milestone, PartnerFacts, PeerLine,
};
pub use plans::{
    furthest_behind, pace_of, plan_facts, AtRiskPlan, KrLine, ObjectiveLine, PlanFacts,
    PredictionFacts, StatusCounts,
};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::nba::Engine;

/// The unit of key results that name none.
pub const NONE_UNIT: &str = crate::nba::portfolio::NONE_KEY;

/// How far ahead a digest looks for milestones, reviews and plan ends.
pub const HORIZON_DAYS: u64 = 21;

/// The facts of one digest, tagged with its audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "audience", rename_all = "snake_case")]
pub enum Facts {
    Partner(PartnerFacts),
    Manager(ManagerFacts),
    Leadership(LeadershipFacts),
}

impl Facts {
    pub fn audience(&self) -> Audience {
        match self {
            Self::Partner(_) => Audience::Partner,
            Self::Manager(_) => Audience::Manager,
            Self::Leadership(_) => Audience::Leadership,
        }
    }
}

/// Something a digest cannot say, and says it cannot: the reader learns what is missing
/// instead of reading a zero or a blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Missing {
    /// The partner has no active plan, so there is no progress to report.
    NoActivePlans,
    /// Key results of a plan without a target: their progress cannot be judged.
    UndefinedTargets { plan_id: String, count: usize },
    /// No progress was ever recorded for the plan's key results.
    NoProgress { plan_id: String },
    /// No trained model: no predicted outcomes, and next best actions from best practice
    /// only.
    NoModel,
    /// No similar-partner index: no peer comparison.
    NoPeers,
    /// The manager has no partners with active plans.
    NoPortfolio,
    /// Nothing recorded before the period: changes cannot be told.
    NoHistory,
}

/// The facts for one recipient as of `as_of`, changes counted from `since`.
///
/// # Errors
/// [`DigestError::UnknownRecipient`] for a partner or manager the tenant does not know;
/// [`DigestError::Store`] when the store cannot be read.
pub async fn compose(
    store: &Store,
    engine: &Engine,
    audience: Audience,
    id: &str,
    as_of: NaiveDate,
    since: NaiveDate,
) -> Result<Facts, DigestError> {
    Ok(match audience {
        Audience::Partner => Facts::Partner(partner(store, engine, id, as_of, since).await?),
        Audience::Manager => Facts::Manager(manager(store, engine, id, as_of, since).await?),
        Audience::Leadership => {
            if id != LEADERSHIP_ID {
                return Err(DigestError::UnknownRecipient {
                    tenant: engine.tenant().to_owned(),
                    audience: "leadership recipient (use `all`)",
                    id: id.to_owned(),
                });
            }
            Facts::Leadership(leadership(store, engine, as_of, since).await?)
        }
    })
}

/// A share as whole percent, the way every digest shows it (0.834 → 83). Not finite → None.
pub fn percent(share: f64) -> Option<i64> {
    share.is_finite().then(|| (share * 100.0).round() as i64)
}

/// A value kept to one decimal, so what the facts hold is what a reader sees.
pub fn one_decimal(x: f64) -> Option<f64> {
    x.is_finite().then(|| (x * 10.0).round() / 10.0)
}
