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

/// A plan with everything recorded about it: key results, their progress series and the
/// activities. The unit that training snapshots, predictions and recommendations read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanRecord {
    pub plan: Plan,
    pub key_results: Vec<super::KeyResult>,
    /// Sorted by key result, then date.
    pub progress: Vec<super::KrProgress>,
    /// Sorted by date.
    pub activities: Vec<super::Activity>,
}

impl PlanRecord {
    /// What was known on `as_of`: activities dated on or before it (any status), progress
    /// points on or before it, and each key result's `realized` replaced by its last
    /// progress point on or before `as_of` (`None` if its series starts later). A key
    /// result without any progress series keeps its latest known `realized`, since nothing
    /// says when it was measured.
    pub fn as_of(&self, as_of: NaiveDate) -> PlanRecord {
        let key_results = self
            .key_results
            .iter()
            .map(|kr| {
                let mut series = self
                    .progress
                    .iter()
                    .filter(|p| p.kr_id == kr.kr_id)
                    .peekable();
                let mut kr = kr.clone();
                if series.peek().is_some() {
                    kr.realized = series
                        .filter(|p| p.as_of <= as_of)
                        .max_by_key(|p| p.as_of)
                        .map(|p| p.realized);
                }
                kr
            })
            .collect();
        PlanRecord {
            plan: self.plan.clone(),
            key_results,
            progress: self
                .progress
                .iter()
                .filter(|p| p.as_of <= as_of)
                .cloned()
                .collect(),
            activities: self
                .activities
                .iter()
                .filter(|a| a.date <= as_of)
                .cloned()
                .collect(),
        }
    }

    /// Attainment from the key results as recorded (DATA_FORMAT.md's rule).
    pub fn attainment(&self) -> Option<f64> {
        super::attainment(&self.key_results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Activity, ActivityStatus, Id, KeyResult, KrProgress};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    fn record() -> PlanRecord {
        let kr = |kr_id: &str, realized| KeyResult {
            kr_id: id(kr_id),
            plan_id: id("p"),
            metric: None,
            target: Some(100.0),
            realized,
            objective: None,
            unit: None,
            weight: 1.0,
            due_date: None,
        };
        let point = |kr_id: &str, date: &str, realized| KrProgress {
            kr_id: id(kr_id),
            as_of: d(date),
            realized,
        };
        let act = |date: &str| Activity {
            activity_id: id(date),
            plan_id: id("p"),
            kind: "qbr".into(),
            date: d(date),
            quantity: 1.0,
            status: ActivityStatus::Done,
            responsible: None,
            kr_id: None,
        };
        PlanRecord {
            plan: Plan {
                plan_id: id("p"),
                partner_id: id("x"),
                start_date: d("2025-01-01"),
                end_date: d("2025-03-31"),
                name: None,
                template: None,
                status: PlanStatus::Closed,
                owner_id: None,
            },
            key_results: vec![kr("a", Some(120.0)), kr("b", Some(80.0))],
            progress: vec![
                point("a", "2025-01-15", 10.0),
                point("a", "2025-02-15", 60.0),
                point("a", "2025-03-31", 120.0),
            ],
            activities: vec![act("2025-01-10"), act("2025-02-20")],
        }
    }

    #[test]
    fn a_snapshot_sees_only_what_was_known_then() {
        let snap = record().as_of(d("2025-02-16"));
        assert_eq!(snap.key_results[0].realized, Some(60.0));
        assert_eq!(snap.progress.len(), 2);
        assert_eq!(snap.activities.len(), 1);
        // No series for "b": its latest value is all we know.
        assert_eq!(snap.key_results[1].realized, Some(80.0));
    }

    #[test]
    fn a_snapshot_before_the_first_progress_point_knows_no_realized_value() {
        let snap = record().as_of(d("2025-01-02"));
        assert_eq!(snap.key_results[0].realized, None);
        assert!(snap.activities.is_empty());
    }

    #[test]
    fn attainment_of_the_full_record_uses_final_values() {
        assert_eq!(record().attainment(), Some(1.0));
    }
}
