//! Each tenant's plans as the engine reads them, held in memory, so that an answer
//! computed afresh (a cache miss, an engine reload, a request for a plan whose partner
//! nobody wrote since it was read) reads no SQL.
//!
//! A partner's view is what a recommendation for any of its plans needs: the partner's
//! record, its open plans whole with their feedback, and when it last did each kind of
//! action in each of its plans (cool-downs and prerequisites look across plans). A write
//! sets the partners it touched aside, before their cached answers are dropped and before
//! it is acknowledged, and the next request for one of their plans reads the partner
//! again (six queries), once however many writes came between; other replicas do the
//! same when the write's notice arrives. Reading written partners back eagerly (per
//! write, or in batches from a background task) was measured and cost writes more than it
//! saved reads (see the README's "Under writes"); applying a write's rows to the views in
//! memory, in commit order, is what would remove the read.
//!
//! A view read earlier never replaces one read (or set aside) later: every read takes a
//! number from one sequence before its first query, and a partner's (or a dropped
//! tenant's) number only grows. A plan or partner not held (a tenant not warmed, a
//! partner set aside) is read from the store on its first request and kept.

use std::collections::{HashMap, HashSet};
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
    /// Every plan of the partners held (or set aside): its partner.
    plans: HashMap<String, String>,
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
            if record.plan.status.is_open() {
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
        if !status.is_open() {
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
        // A partner set aside by a write is read again; where the plan's partner is not
        // known here (or the plan has moved), the plan is read first.
        if let Some(partner) = self.partner_of(tenant, plan_id.as_str()) {
            let seq = self.next();
            let view = Arc::new(read_partner(store, tenant, &partner).await?);
            self.install(tenant, seq, Arc::clone(&view));
            if let Some(found) = view.context(plan_id.as_str(), as_of) {
                return found;
            }
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

    fn partner_of(&self, tenant: &str, plan_id: &str) -> Option<Id> {
        let tenants = self.tenants.read().ok()?;
        let partner = tenants.get(tenant)?.plans.get(plan_id)?;
        Id::parse(partner).ok()
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
            let partner = tenant.plans.get(plan_id)?;
            Arc::clone(tenant.partners.get(partner)?.view.as_ref()?)
        };
        view.context(plan_id, as_of)
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A committed write touched `partners`: their views are set aside, and the next
    /// request for one of their plans reads the partner again (six queries), once.
    pub fn mark_written(&self, tenant: &str, partners: &[String]) {
        for partner in partners {
            self.leave_out(tenant, partner, self.next());
        }
    }

    /// Reads every partner of `tenant` in three queries and holds them all.
    ///
    /// # Errors
    /// Store reads.
    pub async fn load_tenant(&self, store: &Store, tenant: &str) -> Result<usize, StoreError> {
        let seq = self.next();
        let partners = store.partners(tenant).await?;
        let plans = store.plans(tenant, PlanFilter::default()).await?;
        let feedback = store.feedback(tenant).await?;
        let mut ids: Vec<Id> = partners.iter().map(|p| p.partner_id.clone()).collect();
        let known: HashSet<&str> = ids.iter().map(Id::as_str).collect();
        let orphans: HashSet<Id> = plans
            .iter()
            .map(|r| &r.plan.partner_id)
            .filter(|p| !known.contains(p.as_str()))
            .cloned()
            .collect();
        ids.extend(orphans);
        let views = partner_views(&ids, partners, plans, feedback);
        let count = views.len();
        for view in views {
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
        for (plan, _) in &view.statuses {
            held.plans.insert(plan.to_string(), partner.clone());
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
        // The partner's plans stay mapped to it: a read of one of them goes straight to
        // the partner's rows.
        let held = tenants.entry(tenant.to_owned()).or_default();
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

    /// How many of `tenant`'s partners are held (not set aside).
    pub fn held_partners(&self, tenant: &str) -> usize {
        self.tenants.read().map_or(0, |tenants| {
            tenants.get(tenant).map_or(0, |held| {
                held.partners.values().filter(|s| s.view.is_some()).count()
            })
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
                    .is_some_and(|owner| owner == partner)
                {
                    self.plans.remove(plan.as_str());
                }
            }
        }
    }
}

/// The views of `ids` from a tenant's stored rows (any order; rows of other partners
/// are ignored).
fn partner_views(
    ids: &[Id],
    records: Vec<Partner>,
    plans: Vec<PlanRecord>,
    feedback: Vec<Feedback>,
) -> Vec<PartnerView> {
    let mut plans_of: HashMap<String, Vec<PlanRecord>> = HashMap::new();
    let mut partner_of: HashMap<String, String> = HashMap::new();
    for record in plans {
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
    let mut records: HashMap<String, Partner> = records
        .into_iter()
        .map(|p| (p.partner_id.to_string(), p))
        .collect();
    ids.iter()
        .map(|id| {
            let key = id.as_str();
            PartnerView::new(
                id.clone(),
                records.remove(key),
                plans_of.remove(key).unwrap_or_default(),
                feedback_of.remove(key).unwrap_or_default(),
            )
        })
        .collect()
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
