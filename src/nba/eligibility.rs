//! Which catalog actions make sense for a plan now. A recommendation that breaks one of
//! these rules is one a manager would throw away (a marketplace listing for a
//! transactional partner in onboarding, a pilot before a focus account, the same QBR
//! twice in a month), so they are hard filters, applied before any estimate.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use super::context::PlanContext;
use crate::domain::{
    ActionSpec, ActivityStatus, FeedbackResponse, JourneyStage, RelationshipStage,
};

/// A dismissed recommendation is not repeated for this many days (the contact policy:
/// asking again about what someone just declined is how automated advice gets ignored).
pub const DISMISS_DAYS: u64 = 30;

/// Why an action is not recommended now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ineligible {
    /// The partner's journey stage is not one the action fits.
    OffStage { stage: &'static str },
    /// The relationship is below the action's minimum stage.
    BelowRelationship {
        needs: &'static str,
        has: &'static str,
    },
    /// A prerequisite has never been done (in this plan or an earlier one). Named
    /// `prerequisite`, not `kind`: flattened into an excluded action, whose own `kind`
    /// is the action, a `kind` here made a JSON object with two `kind` keys.
    MissingPrerequisite { prerequisite: String },
    /// Done recently; the cool-down runs until `until`.
    CoolingDown {
        last_done: NaiveDate,
        until: NaiveDate,
    },
    /// Already planned for `date`.
    AlreadyPlanned { date: NaiveDate },
    /// Dismissed on this plan on `on`; not asked again before `until`.
    Dismissed { on: NaiveDate, until: NaiveDate },
}

impl Ineligible {
    /// One line a manager can check.
    pub fn describe(&self) -> String {
        match self {
            Self::OffStage { stage } => format!("does not fit the {stage} stage"),
            Self::BelowRelationship { needs, has } => {
                format!("needs a {needs} relationship, this one is {has}")
            }
            Self::MissingPrerequisite { prerequisite } => format!("needs {prerequisite} first"),
            Self::CoolingDown { last_done, until } => {
                format!("done on {last_done}; cool-down until {until}")
            }
            Self::AlreadyPlanned { date } => format!("already planned for {date}"),
            Self::Dismissed { on, until } => format!("dismissed on {on}; not before {until}"),
        }
    }
}

/// The facts eligibility reads, gathered once per plan.
#[derive(Debug, Clone)]
pub struct Facts {
    pub as_of: NaiveDate,
    /// `None` when the profile does not say: then no stage rule can be applied.
    pub journey_stage: Option<JourneyStage>,
    /// Unknown relationships count as transactional, the stage every action allows.
    pub relationship: RelationshipStage,
    pub relationship_known: bool,
    /// Last done date per kind, this plan and earlier ones.
    pub last_done: HashMap<String, NaiveDate>,
    /// Units done per kind in this plan up to as_of (for diminishing returns).
    pub done_in_plan: HashMap<String, f64>,
    /// Earliest open planned date per kind, on or after as_of.
    pub planned: HashMap<String, NaiveDate>,
    /// Latest dismissal per kind on this plan.
    pub dismissed: HashMap<String, NaiveDate>,
}

/// Folds `value` into `kind`'s entry, copying the kind only for its first entry: a
/// plan's activities repeat a handful of kinds, and this runs on every answer computed.
fn merge<V: Copy>(map: &mut HashMap<String, V>, kind: &str, value: V, fold: impl Fn(V, V) -> V) {
    match map.get_mut(kind) {
        Some(v) => *v = fold(*v, value),
        None => {
            map.insert(kind.to_owned(), value);
        }
    }
}

impl Facts {
    pub fn of(ctx: &PlanContext) -> Self {
        let partner = ctx.partner.as_ref();
        let mut last_done: HashMap<String, NaiveDate> = HashMap::new();
        for a in ctx.done_until_now() {
            merge(&mut last_done, &a.kind, a.date, NaiveDate::max);
        }
        let mut done_in_plan: HashMap<String, f64> = HashMap::new();
        let mut planned: HashMap<String, NaiveDate> = HashMap::new();
        for a in &ctx.record.activities {
            match a.status {
                ActivityStatus::Done if a.date <= ctx.as_of => {
                    merge(&mut done_in_plan, &a.kind, a.quantity.max(0.0), |n, q| {
                        n + q
                    });
                }
                ActivityStatus::Planned if a.date >= ctx.as_of => {
                    merge(&mut planned, &a.kind, a.date, NaiveDate::min);
                }
                _ => {}
            }
        }
        let mut dismissed: HashMap<String, NaiveDate> = HashMap::new();
        for f in &ctx.feedback {
            if f.response == FeedbackResponse::Dismissed {
                let day = f.at.date_naive();
                if day <= ctx.as_of {
                    merge(&mut dismissed, &f.kind, day, NaiveDate::max);
                }
            }
        }
        let relationship = partner.and_then(|p| p.relationship_stage);
        Self {
            as_of: ctx.as_of,
            journey_stage: partner.and_then(|p| p.journey_stage),
            relationship: relationship.unwrap_or(RelationshipStage::Transactional),
            relationship_known: relationship.is_some(),
            last_done,
            done_in_plan,
            planned,
            dismissed,
        }
    }

    /// Units of `kind` done in the plan so far.
    pub fn units_done(&self, kind: &str) -> f64 {
        self.done_in_plan.get(kind).copied().unwrap_or(0.0)
    }

    /// Checks every rule, in the order a manager would ask about them.
    pub fn check(&self, spec: &ActionSpec) -> Result<(), Ineligible> {
        if let Some(stage) = self.journey_stage {
            if !spec.fits_stage(stage) {
                return Err(Ineligible::OffStage {
                    stage: stage.as_str(),
                });
            }
        }
        if self.relationship < spec.min_relationship {
            return Err(Ineligible::BelowRelationship {
                needs: spec.min_relationship.as_str(),
                has: if self.relationship_known {
                    self.relationship.as_str()
                } else {
                    "unknown (treated as transactional)"
                },
            });
        }
        if let Some(missing) = spec
            .prerequisites
            .iter()
            .find(|p| !self.last_done.contains_key(p.as_str()))
        {
            return Err(Ineligible::MissingPrerequisite {
                prerequisite: missing.clone(),
            });
        }
        if let Some(&last) = self.last_done.get(&spec.kind) {
            let until = add_days(last, u64::from(spec.cooldown_days));
            if self.as_of < until {
                return Err(Ineligible::CoolingDown {
                    last_done: last,
                    until,
                });
            }
        }
        if let Some(&date) = self.planned.get(&spec.kind) {
            return Err(Ineligible::AlreadyPlanned { date });
        }
        if let Some(&on) = self.dismissed.get(&spec.kind) {
            let until = add_days(on, DISMISS_DAYS);
            if self.as_of < until {
                return Err(Ineligible::Dismissed { on, until });
            }
        }
        Ok(())
    }
}

fn add_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap_or(NaiveDate::MAX)
}
