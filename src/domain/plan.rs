use chrono::NaiveDate;

use super::{Id, PlanStatus};

/// A mutual success plan between vendor and partner for one period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub plan_id: Id,
    pub partner_id: Id,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub name: Option<String>,
    pub template: Option<String>,
    pub status: PlanStatus,
    pub owner_id: Option<Id>,
}

impl Plan {
    /// Share of the plan period elapsed at `as_of`, clamped to 0..=1.
    pub fn elapsed(&self, as_of: NaiveDate) -> f64 {
        super::pace::elapsed_fraction(self.start_date, self.end_date, as_of)
    }
}
