//! Plan snapshots: a plan as it was known at one date, the unit a row is made of.

use std::collections::HashSet;

use chrono::{Days, NaiveDate};

use crate::domain::PlanRecord;

/// A plan cut at `as_of`: `record` holds only activities, progress points and key result
/// values known on that date. `fraction` is the share of the period elapsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub record: PlanRecord,
    pub as_of: NaiveDate,
    pub fraction: f64,
}

impl Snapshot {
    /// An active plan seen at `as_of` for a prediction. Unlike [`snapshot`], a key result
    /// without a progress series keeps its latest `realized`: for a live plan that value
    /// was entered before today, so it is real information, not the future.
    pub fn serving(record: &PlanRecord, as_of: NaiveDate) -> Snapshot {
        Snapshot {
            record: record.as_of(as_of),
            as_of,
            fraction: record.plan.elapsed(as_of),
        }
    }
}

/// The date `fraction` of the way through the plan period (rounded to the nearest day).
pub(crate) fn date_at(record: &PlanRecord, fraction: f64) -> NaiveDate {
    let (start, end) = (record.plan.start_date, record.plan.end_date);
    let length = (end - start).num_days().max(0) as f64;
    let days = (fraction.clamp(0.0, 1.0) * length).round() as u64;
    start.checked_add_days(Days::new(days)).unwrap_or(end)
}

/// A closed plan cut at `start + fraction × length`, for training. The snapshot's
/// `fraction` is the requested one (so rows group cleanly by 25/50/75%); the elapsed-share
/// feature is computed from the dates.
///
/// Leakage rule: [`PlanRecord::as_of`] keeps the final `realized` of a key result that has
/// no progress series, since nothing says when it was measured. For a closed plan that
/// value is the outcome itself, so before the plan's end it is set to `None` (unknown) and
/// the progress features fall back to their missing indicators.
pub fn snapshot(record: &PlanRecord, fraction: f64) -> Snapshot {
    let as_of = date_at(record, fraction);
    let mut cut = record.as_of(as_of);
    if as_of < record.plan.end_date {
        let with_series: HashSet<&str> = record.progress.iter().map(|p| p.kr_id.as_str()).collect();
        for kr in &mut cut.key_results {
            if !with_series.contains(kr.kr_id.as_str()) {
                kr.realized = None;
            }
        }
    }
    Snapshot {
        record: cut,
        as_of,
        fraction: fraction.clamp(0.0, 1.0),
    }
}
