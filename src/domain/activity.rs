use chrono::NaiveDate;

use super::{ActivityStatus, Id, Responsible};

/// A leading indicator: something vendor or partner did (or planned) for a plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Activity {
    /// Given by the source, or derived from (plan_id, kind, date, occurrence) on import.
    pub activity_id: Id,
    pub plan_id: Id,
    pub kind: String,
    pub date: NaiveDate,
    pub quantity: f64,
    pub status: ActivityStatus,
    pub responsible: Option<Responsible>,
    pub kr_id: Option<Id>,
}
