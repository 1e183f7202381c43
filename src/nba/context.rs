//! What the engine knows about one plan when it recommends: the plan itself, its
//! partner, what the partner did in earlier plans and what people said about earlier
//! recommendations. Built from the store by [`load`], or by hand (the stateless API, the
//! simulation), so the engine itself never touches I/O.

use std::sync::Arc;

use chrono::NaiveDate;

use super::NbaError;
use crate::domain::{Activity, ActivityStatus, Feedback, Id, Partner, PlanRecord, PlanStatus};
use crate::store::Store;

/// One plan as the engine sees it on `as_of`.
#[derive(Debug, Clone)]
pub struct PlanContext {
    /// The plan with everything recorded, including planned activities after `as_of`.
    /// Shared with the partner view it came from: an answer computed afresh takes the
    /// held record without copying its activities (`Arc::make_mut` to change one).
    pub record: Arc<PlanRecord>,
    pub partner: Option<Partner>,
    /// Activities of the partner's other plans (prerequisites and cool-downs look across
    /// plans: a focus account mapped last quarter still counts).
    pub history: Vec<Activity>,
    /// Feedback on this plan's earlier recommendations (dismissals are respected).
    pub feedback: Vec<Feedback>,
    pub as_of: NaiveDate,
}

impl PlanContext {
    /// A context with nothing but the plan and its partner: a new partner, or a plan
    /// posted to the stateless endpoint.
    pub fn new(record: PlanRecord, partner: Option<Partner>, as_of: NaiveDate) -> Self {
        Self {
            record: Arc::new(record),
            partner,
            history: Vec::new(),
            feedback: Vec::new(),
            as_of,
        }
    }

    /// Done activities on or before `as_of`, this plan's and the earlier plans', in no
    /// particular order.
    pub fn done_until_now(&self) -> impl Iterator<Item = &Activity> {
        self.record
            .activities
            .iter()
            .chain(&self.history)
            .filter(move |a| a.status == ActivityStatus::Done && a.date <= self.as_of)
    }
}

/// Loads the context of a plan that can still be acted on (active or draft).
pub async fn load(
    store: &Store,
    tenant: &str,
    plan_id: &Id,
    as_of: NaiveDate,
) -> Result<PlanContext, NbaError> {
    let record = store
        .plan(tenant, plan_id)
        .await?
        .ok_or_else(|| NbaError::UnknownPlan(plan_id.to_string()))?;
    if !record.plan.status.is_open() {
        return Err(NbaError::PlanNotOpen {
            plan: plan_id.to_string(),
            status: record.plan.status.as_str(),
        });
    }
    let partner_id = record.plan.partner_id.clone();
    let partner = store.partner(tenant, &partner_id).await?;
    let history = store
        .partner_plans(tenant, &partner_id)
        .await?
        .into_iter()
        .filter(|p| p.plan.plan_id != record.plan.plan_id)
        .flat_map(|p| p.activities)
        .filter(|a| a.status == ActivityStatus::Done && a.date <= as_of)
        .collect();
    let feedback = store.plan_feedback(tenant, plan_id).await?;
    Ok(PlanContext {
        record: Arc::new(record),
        partner,
        history,
        feedback,
        as_of,
    })
}

/// The contexts of every active plan of a tenant, from a few bulk reads (per-plan loads
/// would be four queries a plan): for `recommend --all` and the decision evaluation.
pub async fn load_active(
    store: &Store,
    tenant: &str,
    as_of: NaiveDate,
) -> Result<Vec<PlanContext>, NbaError> {
    use std::collections::HashMap;
    let partners = crate::model::pipeline::partners_by_id(store, tenant).await?;
    let mut feedback: HashMap<String, Vec<Feedback>> = HashMap::new();
    for f in store.feedback(tenant).await? {
        feedback.entry(f.plan_id.to_string()).or_default().push(f);
    }
    let mut active = Vec::new();
    let mut done_by_partner: HashMap<String, Vec<Activity>> = HashMap::new();
    for record in store
        .plans(tenant, crate::store::PlanFilter::default())
        .await?
    {
        if record.plan.status == PlanStatus::Active {
            active.push(record);
            continue;
        }
        done_by_partner
            .entry(record.plan.partner_id.to_string())
            .or_default()
            .extend(
                record
                    .activities
                    .into_iter()
                    .filter(|a| a.status == ActivityStatus::Done && a.date <= as_of),
            );
    }
    Ok(active
        .into_iter()
        .map(|record| {
            let partner_key = record.plan.partner_id.to_string();
            let history = done_by_partner
                .get(&partner_key)
                .cloned()
                .unwrap_or_default();
            PlanContext {
                feedback: feedback
                    .remove(record.plan.plan_id.as_str())
                    .unwrap_or_default(),
                partner: partners.get(&partner_key).cloned(),
                history,
                record: Arc::new(record),
                as_of,
            }
        })
        .collect())
}
