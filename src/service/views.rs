//! Each tenant's plans as the engine reads them, held in memory, so that an answer
//! computed afresh (a cache miss, or the first request after a write) reads no SQL.
//!
//! A partner's view is what a recommendation for any of its plans needs: the partner's
//! record, its open plans whole with their feedback, and when it last did each kind of
//! action in each of its plans (cool-downs and prerequisites look across plans). Writes
//! keep it current: after a write commits, the writing replica reads the partners it
//! touched back from the store and replaces their views before it drops their cached
//! answers, and the other replicas do the same when the write's notice arrives. So the
//! SQL is paid by the write, once, not by every read that follows it.
//!
//! A view read earlier never replaces one read later: every load takes a number from one
//! sequence before its first query, and a partner's (or a dropped tenant's) number only
//! grows. A plan or partner the view does not hold (a tenant not warmed, a partner synced
//! by another replica whose views were dropped) is read from the store on its first
//! request, like before, and kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;

use crate::domain::{Activity, ActivityStatus, Feedback, Id, Partner, PlanRecord, PlanStatus};
use crate::nba::{NbaError, PlanContext};
use crate::store::{PlanFilter, Store, StoreError};

/// The views of every tenant served here.
#[derive(Default)]
pub struct Views {
    tenants: RwLock<HashMap<String, TenantView>>,
    /// Orders loads; see the module's documentation.
    seq: AtomicU64,
    /// Loads numbered at or below this were started before everything was dropped.
    floor: AtomicU64,
}

#[derive(Default)]
struct TenantView {
    /// Loads numbered at or below this were started before the tenant was dropped.
    floor: u64,
    /// Every plan of the partners held: its partner and status.
    plans: HashMap<String, (String, PlanStatus)>,
    partners: HashMap<String, Slot>,
}

/// A partner's view, or the number of the refresh that failed and left it out.
struct Slot {
    seq: u64,
    view: Option<Arc<PartnerView>>,
}

/// One partner as the engine sees it.
pub struct PartnerView {
    partner_id: Id,
    partner: Option<Partner>,
    /// Every plan of the partner: id and status.
    statuses: Vec<(Id, PlanStatus)>,
    /// The plans that can be acted on (active and draft), whole.
    open: HashMap<String, PlanRecord>,
    /// Feedback on the open plans, oldest first.
    feedback: HashMap<String, Vec<Feedback>>,
    /// For each kind, the dates it was done, oldest first, each with the index of its
    /// plan in `statuses`: the engine reads of other plans only when each kind was last
    /// done, so a view keeps no other activity (a tenth of the memory).
    done: HashMap<String, Vec<(NaiveDate, u32)>>,
}

impl PartnerView {
    /// The view of a partner from its stored rows: `plans` are all of the partner's
    /// plans, `feedback` the feedback on any of them.
    fn new(
        partner_id: Id,
        partner: Option<Partner>,
        plans: Vec<PlanRecord>,
        feedback: Vec<Feedback>,
    ) -> Self {
        let mut statuses = Vec::with_capacity(plans.len());
        let mut open = HashMap::new();
        let mut done: HashMap<String, Vec<(NaiveDate, u32)>> = HashMap::new();
        for (i, record) in plans.into_iter().enumerate() {
            let ordinal = u32::try_from(i).unwrap_or(u32::MAX);
            for a in &record.activities {
                if a.status == ActivityStatus::Done {
                    done.entry(a.kind.clone())
                        .or_default()
                        .push((a.date, ordinal));
                }
            }
            statuses.push((record.plan.plan_id.clone(), record.plan.status));
            if is_open(record.plan.status) {
                open.insert(record.plan.plan_id.to_string(), record);
            }
        }
        for dates in done.values_mut() {
            dates.sort_unstable();
        }
        let mut by_plan: HashMap<String, Vec<Feedback>> = HashMap::new();
        for f in feedback {
            if open.contains_key(f.plan_id.as_str()) {
                by_plan.entry(f.plan_id.to_string()).or_default().push(f);
            }
        }
        Self {
            partner_id,
            partner,
            statuses,
            open,
            feedback: by_plan,
            done,
        }
    }

    /// The context of one of the partner's plans on `as_of`, as
    /// [`crate::nba::context::load`] reads it from the store, except that of the other
    /// plans' activities it carries each kind's latest one done on or before `as_of`
    /// (all the engine reads of them). `None` when the view does not hold the plan.
    fn context(&self, plan_id: &str, as_of: NaiveDate) -> Option<Result<PlanContext, NbaError>> {
        let (ordinal, (_, status)) = self
            .statuses
            .iter()
            .enumerate()
            .find(|(_, (id, _))| id.as_str() == plan_id)?;
        if !is_open(*status) {
            return Some(Err(NbaError::PlanNotOpen {
                plan: plan_id.to_owned(),
                status: status.as_str(),
            }));
        }
        let record = self.open.get(plan_id)?.clone();
        let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
        let history = self
            .done
            .iter()
            .filter_map(|(kind, dates)| {
                let until = dates.partition_point(|(date, _)| *date <= as_of);
                let (date, plan) = dates[..until]
                    .iter()
                    .rev()
                    .find(|(_, plan)| *plan != ordinal)?;
                let plan_id = self.statuses.get(*plan as usize)?.0.clone();
                Some(Activity {
                    activity_id: Id::from_trusted(format!("{plan_id}:{kind}:last-done")),
                    plan_id,
                    kind: kind.clone(),
                    date: *date,
                    quantity: 1.0,
                    status: ActivityStatus::Done,
                    responsible: None,
                    kr_id: None,
                })
            })
            .collect();
        Some(Ok(PlanContext {
            record,
            partner: self.partner.clone(),
            history,
            feedback: self.feedback.get(plan_id).cloned().unwrap_or_default(),
            as_of,
        }))
    }

    /// Roughly the bytes this view holds, for the memory figure of the documentation.
    fn approx_bytes(&self) -> usize {
        let activity = std::mem::size_of::<Activity>() + 48;
        let open: usize = self
            .open
            .values()
            .map(|r| {
                r.activities.len() * activity
                    + r.key_results.len() * 160
                    + r.progress.len() * 96
                    + 256
            })
            .sum();
        let done: usize = self.done.values().map(|d| d.len() * 8 + 64).sum();
        open + done + self.statuses.len() * 40 + 512
    }
}

fn is_open(status: PlanStatus) -> bool {
    matches!(status, PlanStatus::Active | PlanStatus::Draft)
}

impl Views {
    /// The context of `plan_id` from memory, reading its partner from the store when the
    /// view does not hold it.
    ///
    /// # Errors
    /// [`NbaError::UnknownPlan`], [`NbaError::PlanNotOpen`], and store errors of a first
    /// read.
    pub async fn context(
        &self,
        store: &Store,
        tenant: &str,
        plan_id: &Id,
        as_of: NaiveDate,
    ) -> Result<PlanContext, NbaError> {
        if let Some(found) = self.held(tenant, plan_id.as_str(), as_of) {
            return found;
        }
        let seq = self.next();
        let record = store
            .plan(tenant, plan_id)
            .await?
            .ok_or_else(|| NbaError::UnknownPlan(plan_id.to_string()))?;
        let view = Arc::new(read_partner(store, tenant, &record.plan.partner_id).await?);
        self.install(tenant, seq, Arc::clone(&view));
        view.context(plan_id.as_str(), as_of)
            .unwrap_or_else(|| Err(NbaError::UnknownPlan(plan_id.to_string())))
    }

    fn held(
        &self,
        tenant: &str,
        plan_id: &str,
        as_of: NaiveDate,
    ) -> Option<Result<PlanContext, NbaError>> {
        let view = {
            let tenants = self.tenants.read().ok()?;
            let tenant = tenants.get(tenant)?;
            let (partner, _) = tenant.plans.get(plan_id)?;
            Arc::clone(tenant.partners.get(partner)?.view.as_ref()?)
        };
        view.context(plan_id, as_of)
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Reads the partners a committed write touched back from the store and replaces
    /// their views. A partner not held is only marked, so that a read of it that started
    /// before the write cannot be kept; it is read on its next request. A partner that
    /// cannot be read is left out the same way.
    pub async fn refresh(&self, store: &Store, tenant: &str, partners: &[String]) {
        for partner in partners {
            let seq = self.next();
            let held = match Id::parse(partner) {
                Ok(id) if self.holds(tenant, partner) => id,
                _ => {
                    self.leave_out(tenant, partner, seq);
                    continue;
                }
            };
            match read_partner(store, tenant, &held).await {
                Ok(view) => self.install(tenant, seq, Arc::new(view)),
                Err(e) => {
                    tracing::warn!(tenant, partner, error = %crate::report::Report(&e), "could not read a written partner back; its view is dropped");
                    self.leave_out(tenant, partner, seq);
                }
            }
        }
    }

    fn holds(&self, tenant: &str, partner: &str) -> bool {
        self.tenants.read().is_ok_and(|tenants| {
            tenants
                .get(tenant)
                .and_then(|t| t.partners.get(partner))
                .is_some_and(|slot| slot.view.is_some())
        })
    }

    /// Reads every partner of `tenant` in three queries and holds them all.
    ///
    /// # Errors
    /// Store reads.
    pub async fn load_tenant(&self, store: &Store, tenant: &str) -> Result<usize, StoreError> {
        let seq = self.next();
        let partners = store.partners(tenant).await?;
        let records = store.plans(tenant, PlanFilter::default()).await?;
        let feedback = store.feedback(tenant).await?;
        let mut plans_of: HashMap<String, Vec<PlanRecord>> = HashMap::new();
        let mut partner_of: HashMap<String, String> = HashMap::new();
        for record in records {
            let partner = record.plan.partner_id.to_string();
            partner_of.insert(record.plan.plan_id.to_string(), partner.clone());
            plans_of.entry(partner).or_default().push(record);
        }
        let mut feedback_of: HashMap<String, Vec<Feedback>> = HashMap::new();
        for f in feedback {
            if let Some(partner) = partner_of.get(f.plan_id.as_str()) {
                feedback_of.entry(partner.clone()).or_default().push(f);
            }
        }
        let mut records: HashMap<String, Partner> = partners
            .into_iter()
            .map(|p| (p.partner_id.to_string(), p))
            .collect();
        let count = plans_of.len();
        for (partner, plans) in plans_of {
            let Some(id) = plans.first().map(|r| r.plan.partner_id.clone()) else {
                continue;
            };
            let view = PartnerView::new(
                id,
                records.remove(&partner),
                plans,
                feedback_of.remove(&partner).unwrap_or_default(),
            );
            self.install(tenant, seq, Arc::new(view));
        }
        Ok(count)
    }

    fn install(&self, tenant: &str, seq: u64, view: Arc<PartnerView>) {
        let Ok(mut tenants) = self.tenants.write() else {
            return;
        };
        if seq <= self.floor.load(Ordering::SeqCst) {
            return;
        }
        let held = tenants.entry(tenant.to_owned()).or_default();
        if seq <= held.floor {
            return;
        }
        let partner = view.partner_id.to_string();
        if held
            .partners
            .get(&partner)
            .is_some_and(|slot| slot.seq > seq)
        {
            return;
        }
        held.forget_plans_of(&partner);
        for (plan, status) in &view.statuses {
            held.plans
                .insert(plan.to_string(), (partner.clone(), *status));
        }
        held.partners.insert(
            partner,
            Slot {
                seq,
                view: Some(view),
            },
        );
    }

    fn leave_out(&self, tenant: &str, partner: &str, seq: u64) {
        let Ok(mut tenants) = self.tenants.write() else {
            return;
        };
        let held = tenants.entry(tenant.to_owned()).or_default();
        held.forget_plans_of(partner);
        held.partners
            .insert(partner.to_owned(), Slot { seq, view: None });
    }

    /// Drops what is held of `tenant` (a catalog change, a replaced dataset): its plans
    /// are read from the store again as they are asked for.
    pub fn drop_tenant(&self, tenant: &str) {
        let floor = self.next();
        if let Ok(mut tenants) = self.tenants.write() {
            tenants.insert(
                tenant.to_owned(),
                TenantView {
                    floor,
                    ..TenantView::default()
                },
            );
        }
    }

    /// Drops everything held (changes may have gone unheard).
    pub fn drop_all(&self) {
        if let Ok(mut tenants) = self.tenants.write() {
            self.floor.store(self.next(), Ordering::SeqCst);
            tenants.clear();
        }
    }

    /// Partners held and roughly the bytes they take, for `tenant`.
    pub fn size(&self, tenant: &str) -> (usize, usize) {
        let Ok(tenants) = self.tenants.read() else {
            return (0, 0);
        };
        tenants.get(tenant).map_or((0, 0), |held| {
            let views = held.partners.values().filter_map(|s| s.view.as_ref());
            views.fold((0, 0), |(n, bytes), v| (n + 1, bytes + v.approx_bytes()))
        })
    }
}

impl TenantView {
    fn forget_plans_of(&mut self, partner: &str) {
        if let Some(view) = self.partners.get(partner).and_then(|s| s.view.as_ref()) {
            for (plan, _) in &view.statuses {
                if self
                    .plans
                    .get(plan.as_str())
                    .is_some_and(|(owner, _)| owner == partner)
                {
                    self.plans.remove(plan.as_str());
                }
            }
        }
    }
}

async fn read_partner(
    store: &Store,
    tenant: &str,
    partner: &Id,
) -> Result<PartnerView, StoreError> {
    let record = store.partner(tenant, partner).await?;
    let plans = store.partner_plans(tenant, partner).await?;
    let feedback = store.partner_feedback(tenant, partner).await?;
    Ok(PartnerView::new(partner.clone(), record, plans, feedback))
}
