//! Each tenant's plans as the engine reads them, held in memory, so that an answer
//! computed afresh (a cache miss, an engine reload, a request for a plan whose partner
//! was just written) reads no SQL.
//!
//! A partner's view is what a recommendation for any of its plans needs: the partner's
//! record, its open plans whole with their feedback, and when it last did each kind of
//! action in each of its plans (cool-downs and prerequisites look across plans).
//!
//! A write on SQLite is applied to the views with its own rows ([`Views::apply`]), in
//! commit order, by the group that committed it and before it is acknowledged: the next
//! answer is computed from memory. What the views cannot apply from the rows alone (a
//! plan reopened, an activity moved between plans, a row of a partner not held) sets the
//! partners it touched aside instead, and the next request for one of their plans reads
//! the partner again (six queries). On PostgreSQL, where concurrent transactions commit
//! in an order no replica sees, and when another replica's notice arrives, the partners
//! are set aside. Reading written partners back eagerly (per write, or in batches from a
//! background task) was measured and cost writes more than it saved reads (see the
//! README's "Under writes").
//!
//! A view read earlier never replaces one read, applied or set aside later: every read
//! takes a number from one sequence before its first query, and a partner's (or a
//! dropped tenant's) number only grows. A plan or partner not held (a tenant not warmed,
//! a partner set aside) is read from the store on its first request and kept.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;

use crate::domain::{
    Activity, ActivityStatus, Catalog, Dataset, Feedback, Id, KnownIds, Partner, Plan, PlanRecord,
    PlanStatus,
};
use crate::import::References;
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
    /// `plans` names every plan the store holds for the tenant: it was read whole, and
    /// every write since was applied here or mapped its plans. Only then is a plan this
    /// map does not know a new one.
    whole: bool,
    /// Every plan of the partners held (or set aside): its partner.
    plans: HashMap<String, String>,
    /// The key results of the open plans held: their plan (a progress row finds its
    /// partner here).
    krs: HashMap<String, String>,
    /// Every activity the views hold or held, hashed: an activity written with an id
    /// not here is new to every partner held, so no other view keeps an old copy of it.
    activity_ids: HashSet<u64>,
    partners: HashMap<String, Slot>,
    /// The tenant's action catalog, for the validation of sync writes; a write that
    /// changes it drops the tenant's views, this with them.
    catalog: Option<Arc<Catalog>>,
}

/// A partner's view, or the number of the refresh that failed and left it out.
struct Slot {
    seq: u64,
    view: Option<Arc<PartnerView>>,
}

/// One partner as the engine sees it.
#[derive(Clone)]
pub struct PartnerView {
    partner_id: Id,
    partner: Option<Partner>,
    /// Every plan of the partner: id and status.
    statuses: Vec<(Id, PlanStatus)>,
    /// The plans that can be acted on (active and draft), whole.
    open: HashMap<String, Arc<PlanRecord>>,
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
    fn from_rows(
        partner_id: Id,
        partner: Option<Partner>,
        plans: Vec<PlanRecord>,
        feedback: Vec<Feedback>,
    ) -> Read {
        let mut activity_ids = Vec::new();
        let mut statuses = Vec::with_capacity(plans.len());
        let mut open = HashMap::new();
        let mut done: HashMap<String, Vec<(NaiveDate, u32)>> = HashMap::new();
        for (i, record) in plans.into_iter().enumerate() {
            let ordinal = u32::try_from(i).unwrap_or(u32::MAX);
            for a in &record.activities {
                activity_ids.push(hashed(&a.activity_id));
                if a.status == ActivityStatus::Done {
                    done.entry(a.kind.clone())
                        .or_default()
                        .push((a.date, ordinal));
                }
            }
            statuses.push((record.plan.plan_id.clone(), record.plan.status));
            if record.plan.status.is_open() {
                open.insert(record.plan.plan_id.to_string(), Arc::new(record));
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
        Read {
            view: Self {
                partner_id,
                partner,
                statuses,
                open,
                feedback: by_plan,
                done,
            },
            activity_ids,
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
                    // The engine reads these for their kind and date alone; an id of
                    // their own was a formatted string per kind on every answer computed.
                    activity_id: Id::from_trusted(String::new()),
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

/// A partner as read from the store, with its activities' ids (hashed) for the tenant's
/// set.
struct Read {
    view: PartnerView,
    activity_ids: Vec<u64>,
}

/// What the views made of a committed write.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied, or set aside where the rows alone could not say what changed: the
    /// answers that go are every plan's of `partners` (a partner's record, a plan row, an
    /// activity done or changed: the partner's other plans read when each kind was last
    /// done) and those of `plans` alone (progress, key results, feedback, an activity not
    /// done: nothing another plan reads).
    Touched {
        partners: Vec<String>,
        plans: Vec<String>,
    },
    /// An activity was written whose old copy a view may hold without knowing it (one of
    /// a closed plan, or of another partner): everything held of the tenant was dropped.
    Tenant,
    /// A row of a plan or key result not held here: nothing changed, and the partners
    /// the write touched are for the store to tell.
    Unknown,
}

/// Why a view could not take a write's rows.
enum Refused {
    /// The partner is to be read again (a plan reopened, or moved between partners).
    Read,
    /// Another view may hold an old copy of a written activity.
    Tenant,
}

/// The tenant's maps a view's apply reads and keeps up.
struct Maps<'a> {
    whole: bool,
    plans: &'a HashMap<String, String>,
    krs: &'a mut HashMap<String, String>,
    activity_ids: &'a mut HashSet<u64>,
}

impl PartnerView {
    fn ordinal(&self, plan_id: &str) -> Option<u32> {
        let at = self
            .statuses
            .iter()
            .position(|(id, _)| id.as_str() == plan_id)?;
        Some(u32::try_from(at).unwrap_or(u32::MAX))
    }

    /// Takes a committed write's rows of this partner, as the store took them (upserts by
    /// each table's key, in its order), or says why it cannot from the rows alone.
    fn apply(
        &mut self,
        data: &Dataset,
        complete: &[Id],
        maps: &mut Maps<'_>,
    ) -> Result<(), Refused> {
        let me = self.partner_id.as_str();
        if let Some(record) = data
            .partners
            .iter()
            .rev()
            .find(|p| p.partner_id.as_str() == me)
        {
            self.partner = Some(record.clone());
        }
        self.apply_plans(data, maps)?;
        self.apply_key_results(data, complete, maps);
        for point in &data.kr_progress {
            let Some(plan) = maps.krs.get(point.kr_id.as_str()) else {
                continue;
            };
            let Some(record) = self.open.get_mut(plan.as_str()).map(Arc::make_mut) else {
                continue;
            };
            let key = (point.kr_id.as_str(), point.as_of);
            match record
                .progress
                .binary_search_by(|p| (p.kr_id.as_str(), p.as_of).cmp(&key))
            {
                Ok(at) => record.progress[at] = point.clone(),
                Err(at) => record.progress.insert(at, point.clone()),
            }
        }
        for activity in &data.activities {
            self.apply_activity(activity, maps)?;
        }
        for f in &data.feedback {
            if !self.open.contains_key(f.plan_id.as_str()) {
                continue;
            }
            let list = self.feedback.entry(f.plan_id.to_string()).or_default();
            let same = |x: &Feedback| {
                x.recommendation_id == f.recommendation_id
                    && x.response == f.response
                    && x.at == f.at
            };
            if let Some(at) = list.iter().position(same) {
                list[at] = f.clone();
            } else {
                let key = (f.at, f.recommendation_id.as_str());
                let at = list.partition_point(|x| (x.at, x.recommendation_id.as_str()) <= key);
                list.insert(at, f.clone());
            }
        }
        Ok(())
    }

    fn apply_plans(&mut self, data: &Dataset, maps: &mut Maps<'_>) -> Result<(), Refused> {
        let me = self.partner_id.as_str();
        for plan in &data.plans {
            let id = plan.plan_id.as_str();
            let mine = plan.partner_id.as_str() == me;
            match (self.ordinal(id), mine) {
                (None, false) => {}
                // A plan moved between partners: its rows are not in the view that gains it.
                (Some(_), false) => return Err(Refused::Read),
                (None, true) => {
                    // New only when the tenant is held whole and no partner holds it.
                    if !maps.whole || maps.plans.contains_key(id) {
                        return Err(Refused::Read);
                    }
                    self.statuses.push((plan.plan_id.clone(), plan.status));
                    if plan.status.is_open() {
                        self.open.insert(
                            id.to_owned(),
                            Arc::new(PlanRecord {
                                plan: plan.clone(),
                                key_results: Vec::new(),
                                progress: Vec::new(),
                                activities: Vec::new(),
                            }),
                        );
                    }
                }
                (Some(at), true) => {
                    let at = at as usize;
                    match (self.statuses[at].1.is_open(), plan.status.is_open()) {
                        (true, true) => {
                            if let Some(record) = self.open.get_mut(id).map(Arc::make_mut) {
                                record.plan = plan.clone();
                            }
                        }
                        (true, false) => {
                            if let Some(record) = self.open.remove(id) {
                                for kr in &record.key_results {
                                    maps.krs.remove(kr.kr_id.as_str());
                                }
                            }
                            self.feedback.remove(id);
                        }
                        // A plan reopened: the view kept none of its rows.
                        (false, true) => return Err(Refused::Read),
                        (false, false) => {}
                    }
                    self.statuses[at].1 = plan.status;
                }
            }
        }
        Ok(())
    }

    fn apply_key_results(&mut self, data: &Dataset, complete: &[Id], maps: &mut Maps<'_>) {
        // As the store does: the complete plans' other key results go, with their progress.
        let keep: HashSet<&str> = data.key_results.iter().map(|k| k.kr_id.as_str()).collect();
        for plan in complete {
            let Some(record) = self.open.get_mut(plan.as_str()) else {
                continue;
            };
            let gone: HashSet<String> = record
                .key_results
                .iter()
                .map(|k| k.kr_id.to_string())
                .filter(|k| !keep.contains(k.as_str()))
                .collect();
            if gone.is_empty() {
                // Nothing to remove: a record an answer in flight still shares is not copied.
                continue;
            }
            let record = Arc::make_mut(record);
            record
                .key_results
                .retain(|k| !gone.contains(k.kr_id.as_str()));
            record.progress.retain(|p| !gone.contains(p.kr_id.as_str()));
            for kr in &gone {
                maps.krs.remove(kr);
            }
        }
        for kr in &data.key_results {
            let Some(record) = self.open.get_mut(kr.plan_id.as_str()).map(Arc::make_mut) else {
                continue;
            };
            match record
                .key_results
                .binary_search_by(|k| k.kr_id.as_str().cmp(kr.kr_id.as_str()))
            {
                Ok(at) => record.key_results[at] = kr.clone(),
                Err(at) => record.key_results.insert(at, kr.clone()),
            }
            maps.krs
                .insert(kr.kr_id.to_string(), kr.plan_id.to_string());
        }
    }

    fn apply_activity(&mut self, activity: &Activity, maps: &mut Maps<'_>) -> Result<(), Refused> {
        let Some(ordinal) = self.ordinal(activity.plan_id.as_str()) else {
            return Ok(());
        };
        let hash = hashed(&activity.activity_id);
        // Its old copy is in an open plan of this partner (held whole), or held nowhere.
        let old = self.open.iter().find_map(|(plan, record)| {
            let at = record
                .activities
                .iter()
                .position(|a| a.activity_id == activity.activity_id)?;
            Some((plan.clone(), at))
        });
        match old {
            Some((plan, at)) => {
                let old_ordinal = self.ordinal(&plan);
                let removed = self
                    .open
                    .get_mut(&plan)
                    .map(|r| Arc::make_mut(r).activities.remove(at));
                if let (Some(old), Some(old_ordinal)) = (removed, old_ordinal) {
                    if old.status == ActivityStatus::Done {
                        if let Some(dates) = self.done.get_mut(&old.kind) {
                            if let Some(at) =
                                dates.iter().position(|d| *d == (old.date, old_ordinal))
                            {
                                dates.remove(at);
                            }
                        }
                    }
                }
            }
            None if maps.activity_ids.contains(&hash) => return Err(Refused::Tenant),
            None => {}
        }
        if let Some(record) = self
            .open
            .get_mut(activity.plan_id.as_str())
            .map(Arc::make_mut)
        {
            let key = (activity.date, activity.activity_id.as_str());
            let at = record
                .activities
                .partition_point(|a| (a.date, a.activity_id.as_str()) < key);
            record.activities.insert(at, activity.clone());
        }
        if activity.status == ActivityStatus::Done {
            let dates = self.done.entry(activity.kind.clone()).or_default();
            let at = dates.partition_point(|d| *d < (activity.date, ordinal));
            dates.insert(at, (activity.date, ordinal));
        }
        maps.activity_ids.insert(hash);
        Ok(())
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
            let read = read_partner(store, tenant, &partner).await?;
            let found = read.view.context(plan_id.as_str(), as_of);
            self.install(tenant, seq, read);
            if let Some(found) = found {
                return found;
            }
        }
        let seq = self.next();
        let record = store
            .plan(tenant, plan_id)
            .await?
            .ok_or_else(|| NbaError::UnknownPlan(plan_id.to_string()))?;
        let read = read_partner(store, tenant, &record.plan.partner_id).await?;
        let found = read.view.context(plan_id.as_str(), as_of);
        self.install(tenant, seq, read);
        found.unwrap_or_else(|| Err(NbaError::UnknownPlan(plan_id.to_string())))
    }

    fn partner_of(&self, tenant: &str, plan_id: &str) -> Option<Id> {
        let tenants = self.tenants.read().ok()?;
        let partner = tenants.get(tenant)?.plans.get(plan_id)?;
        Id::parse(partner).ok()
    }

    /// The context from the view held, built under the lock: a view that nobody else
    /// holds a reference to is changed in place by the next write.
    fn held(
        &self,
        tenant: &str,
        plan_id: &str,
        as_of: NaiveDate,
    ) -> Option<Result<PlanContext, NbaError>> {
        let tenants = self.tenants.read().ok()?;
        let tenant = tenants.get(tenant)?;
        let partner = tenant.plans.get(plan_id)?;
        tenant
            .partners
            .get(partner)?
            .view
            .as_ref()?
            .context(plan_id, as_of)
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Applies a committed write's rows to the views of the partners it touched. The
    /// caller calls it in commit order (SQLite's group commits one group at a time and
    /// calls it for each of its writes, in order, before answering any of them).
    /// `complete` are the plans whose key results the write gives whole.
    pub fn apply(&self, tenant: &str, data: &Dataset, complete: &[Id]) -> Applied {
        let Ok(mut tenants) = self.tenants.write() else {
            return Applied::Unknown;
        };
        let Some(held) = tenants.get_mut(tenant) else {
            return Applied::Unknown;
        };
        let Some(Reach {
            touched,
            mut wide,
            plans: local,
        }) = held.touched_by(data, complete)
        else {
            return Applied::Unknown;
        };
        let seq = self.next();
        let TenantView {
            whole,
            plans,
            krs,
            activity_ids,
            partners,
            ..
        } = held;
        let mut maps = Maps {
            whole: *whole,
            plans,
            krs,
            activity_ids,
        };
        let mut moved = false;
        for partner in &touched {
            // Any read of the partner started before this write is now too old to install.
            let slot = partners
                .entry(partner.clone())
                .or_insert(Slot { seq, view: None });
            slot.seq = seq;
            let Some(view) = slot.view.as_mut() else {
                continue;
            };
            match Arc::make_mut(view).apply(data, complete, &mut maps) {
                Ok(()) => {}
                Err(Refused::Read) => {
                    slot.view = None;
                    wide.insert(partner.clone());
                }
                Err(Refused::Tenant) => {
                    moved = true;
                    break;
                }
            }
        }
        if moved {
            *held = TenantView {
                floor: seq,
                ..TenantView::default()
            };
            return Applied::Tenant;
        }
        for plan in &data.plans {
            plans.insert(plan.plan_id.to_string(), plan.partner_id.to_string());
        }
        Applied::Touched {
            partners: wide.into_iter().collect(),
            plans: local.into_iter().collect(),
        }
    }

    /// A committed write touched `partners`: their views are set aside, and the next
    /// request for one of their plans reads the partner again (six queries), once.
    /// `plans` are the write's plan rows, mapped to their partners so the tenant stays
    /// known whole; `None` (another replica's notice) says nothing of the plans written.
    pub fn mark_written(&self, tenant: &str, partners: &[String], plans: Option<&[Plan]>) {
        let seq = self.next();
        let Ok(mut tenants) = self.tenants.write() else {
            return;
        };
        // The partners' plans stay mapped to them: a read of one of them goes straight to
        // the partner's rows.
        let held = tenants.entry(tenant.to_owned()).or_default();
        for partner in partners {
            held.partners
                .insert(partner.to_owned(), Slot { seq, view: None });
        }
        match plans {
            Some(plans) => {
                for plan in plans {
                    held.plans
                        .insert(plan.plan_id.to_string(), plan.partner_id.to_string());
                }
            }
            None => held.whole = false,
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
        for read in views {
            self.install(tenant, seq, read);
        }
        // Every plan the store held when the read began is mapped now (installed, or
        // mapped where a later write had set its partner aside), and the writes since
        // mapped theirs: unless the tenant was dropped meanwhile, it is known whole.
        if let Ok(mut tenants) = self.tenants.write() {
            if seq > self.floor.load(Ordering::SeqCst) {
                if let Some(held) = tenants.get_mut(tenant).filter(|t| t.floor < seq) {
                    held.whole = true;
                }
            }
        }
        Ok(count)
    }

    fn install(&self, tenant: &str, seq: u64, read: Read) {
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
        let Read { view, activity_ids } = read;
        let partner = view.partner_id.to_string();
        // Ids of rows the store holds: a superset is safe (an activity taken for one a
        // view might hold only drops the tenant's views).
        held.activity_ids.extend(activity_ids);
        if held
            .partners
            .get(&partner)
            .is_some_and(|slot| slot.seq > seq)
        {
            // A later write set the partner aside (or applied itself to a later read):
            // its plans are still known to be the partner's, unless mapped since.
            for (plan, _) in &view.statuses {
                held.plans
                    .entry(plan.to_string())
                    .or_insert_with(|| partner.clone());
            }
            return;
        }
        held.forget_plans_of(&partner);
        for (plan, _) in &view.statuses {
            held.plans.insert(plan.to_string(), partner.clone());
        }
        for (plan, record) in &view.open {
            for kr in &record.key_results {
                held.krs.insert(kr.kr_id.to_string(), plan.clone());
            }
        }
        held.partners.insert(
            partner,
            Slot {
                seq,
                view: Some(Arc::new(view)),
            },
        );
    }

    /// The ids among `refs` that the tenant holds, with its catalog, from memory: what a
    /// sync write's validation needs, without three queries. `None` unless the tenant is
    /// held whole with its catalog and every id referred to is settled here (a partner
    /// set aside, or a key result of a plan not held open, is for the store to tell).
    /// Only a process that sees every write as it commits may trust it (SQLite's).
    pub fn known(&self, tenant: &str, refs: &References) -> Option<KnownIds> {
        let tenants = self.tenants.read().ok()?;
        let held = tenants.get(tenant).filter(|t| t.whole)?;
        let catalog = held.catalog.clone()?;
        let mut partners = HashSet::new();
        for id in refs.partners() {
            match held.partners.get(id).map(|slot| slot.view.as_ref()) {
                None => {}
                Some(None) => return None,
                Some(Some(view)) if view.partner.is_some() => {
                    partners.insert(id.to_owned());
                }
                // A partner named by plans without a record of its own.
                Some(Some(_)) => {}
            }
        }
        let plans = refs
            .plans()
            .into_iter()
            .filter(|p| held.plans.contains_key(*p))
            .map(str::to_owned)
            .collect();
        let mut key_results = HashMap::new();
        for kr in refs.key_results() {
            let plan = held.krs.get(kr)?;
            key_results.insert(kr.to_owned(), plan.clone());
        }
        Some(KnownIds {
            partners,
            plans,
            key_results,
            catalog,
        })
    }

    /// Whether the tenant has `plan_id`, from memory: `None` unless the tenant is held
    /// whole (see [`Self::known`] for who may trust it).
    pub fn plan_known(&self, tenant: &str, plan_id: &str) -> Option<bool> {
        let tenants = self.tenants.read().ok()?;
        let held = tenants.get(tenant).filter(|t| t.whole)?;
        Some(held.plans.contains_key(plan_id))
    }

    /// Whether the tenant is held whole without its catalog (read it with
    /// [`Self::load_catalog`]).
    pub fn wants_catalog(&self, tenant: &str) -> bool {
        self.tenants.read().is_ok_and(|tenants| {
            tenants
                .get(tenant)
                .is_some_and(|t| t.whole && t.catalog.is_none())
        })
    }

    /// Reads the tenant's catalog and holds it, unless the tenant was dropped meanwhile.
    ///
    /// # Errors
    /// The store's read.
    pub async fn load_catalog(&self, store: &Store, tenant: &str) -> Result<(), StoreError> {
        let seq = self.next();
        let catalog = store.catalog(tenant).await?;
        if let Ok(mut tenants) = self.tenants.write() {
            if seq > self.floor.load(Ordering::SeqCst) {
                if let Some(held) = tenants.get_mut(tenant).filter(|t| t.floor < seq) {
                    held.catalog = Some(Arc::new(catalog));
                }
            }
        }
        Ok(())
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
            for record in view.open.values() {
                for kr in &record.key_results {
                    self.krs.remove(kr.kr_id.as_str());
                }
            }
        }
    }

    /// The partners a write touched, from what is held: those of its partner and plan
    /// rows (a plan's old partner too), and of the plans its other rows name; which of
    /// them it reaches whole, and which plans only. `None` when a row names a plan or key
    /// result not known here.
    fn touched_by(&self, data: &Dataset, complete: &[Id]) -> Option<Reach> {
        let written: HashMap<&str, &str> = data
            .plans
            .iter()
            .map(|p| (p.plan_id.as_str(), p.partner_id.as_str()))
            .collect();
        let owner = |plan: &str| -> Option<String> {
            written
                .get(plan)
                .map(|p| (*p).to_owned())
                .or_else(|| self.plans.get(plan).cloned())
        };
        let mut wide: BTreeSet<String> = data
            .partners
            .iter()
            .map(|p| p.partner_id.to_string())
            .collect();
        for plan in &data.plans {
            wide.insert(plan.partner_id.to_string());
            if let Some(old) = self.plans.get(plan.plan_id.as_str()) {
                wide.insert(old.clone());
            }
        }
        let mut touched = wide.clone();
        let mut plans = BTreeSet::new();
        for a in &data.activities {
            let partner = owner(a.plan_id.as_str())?;
            // A done activity moves the partner's last-done dates; one that replaces an
            // earlier copy may take a done one away.
            if a.status == ActivityStatus::Done
                || self.activity_ids.contains(&hashed(&a.activity_id))
            {
                wide.insert(partner.clone());
            } else {
                plans.insert(a.plan_id.to_string());
            }
            touched.insert(partner);
        }
        let named = data
            .key_results
            .iter()
            .map(|k| k.plan_id.as_str())
            .chain(complete.iter().map(Id::as_str))
            .chain(data.feedback.iter().map(|f| f.plan_id.as_str()));
        for plan in named {
            touched.insert(owner(plan)?);
            plans.insert(plan.to_owned());
        }
        let kr_plans: HashMap<&str, &str> = data
            .key_results
            .iter()
            .map(|k| (k.kr_id.as_str(), k.plan_id.as_str()))
            .collect();
        for point in &data.kr_progress {
            let plan = kr_plans
                .get(point.kr_id.as_str())
                .copied()
                .or_else(|| self.krs.get(point.kr_id.as_str()).map(String::as_str))?;
            touched.insert(owner(plan)?);
            plans.insert(plan.to_owned());
        }
        Some(Reach {
            touched,
            wide,
            plans,
        })
    }
}

/// Whom a write reaches (see [`Applied::Touched`]).
struct Reach {
    /// Every partner whose view takes rows of the write.
    touched: BTreeSet<String>,
    /// The partners all of whose plans' answers the write can change.
    wide: BTreeSet<String>,
    /// The plans whose own answers alone it can change.
    plans: BTreeSet<String>,
}

/// An activity id as the tenant's set holds it.
fn hashed(id: &Id) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.as_str().hash(&mut hasher);
    hasher.finish()
}

/// The views of `ids` from a tenant's stored rows (any order; rows of other partners
/// are ignored).
fn partner_views(
    ids: &[Id],
    records: Vec<Partner>,
    plans: Vec<PlanRecord>,
    feedback: Vec<Feedback>,
) -> Vec<Read> {
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
            PartnerView::from_rows(
                id.clone(),
                records.remove(key),
                plans_of.remove(key).unwrap_or_default(),
                feedback_of.remove(key).unwrap_or_default(),
            )
        })
        .collect()
}

async fn read_partner(store: &Store, tenant: &str, partner: &Id) -> Result<Read, StoreError> {
    let record = store.partner(tenant, partner).await?;
    let plans = store.partner_plans(tenant, partner).await?;
    let feedback = store.partner_feedback(tenant, partner).await?;
    Ok(PartnerView::from_rows(
        partner.clone(),
        record,
        plans,
        feedback,
    ))
}
