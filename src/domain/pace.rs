//! Pace-aware status: a key result is judged against the share of its period that has
//! elapsed, not against the full target. 500 EUR of an 8,333 EUR monthly target three
//! days into the month is on track although it is 6% of target.

use chrono::NaiveDate;

use super::key_result::RATIO_CAP;

/// Where a key result or plan stands at a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// The target is reached.
    Complete,
    /// At or above 90% of the pro-rata target.
    OnTrack,
    /// Between 60% and 90% of the pro-rata target.
    Behind,
    /// Below 60% of the pro-rata target.
    AtRisk,
    /// The due date has passed and the target was not reached.
    NotComplete,
    /// Nobody set a target.
    NotDefined,
}

impl Pace {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::OnTrack => "on_track",
            Self::Behind => "behind",
            Self::AtRisk => "at_risk",
            Self::NotComplete => "not_complete",
            Self::NotDefined => "not_defined",
        }
    }
}

/// Realized at or above this share of the pro-rata target is on track.
pub const ON_TRACK_SHARE: f64 = 0.9;
/// Below this share of the pro-rata target is at risk (between the two: behind).
pub const AT_RISK_SHARE: f64 = 0.6;

/// Share of `[start, due]` elapsed at `as_of`, clamped to 0..=1. A period of zero or
/// negative length counts as fully elapsed once `as_of` reaches its due date.
pub fn elapsed_fraction(start: NaiveDate, due: NaiveDate, as_of: NaiveDate) -> f64 {
    let length = (due - start).num_days();
    if length <= 0 {
        return if as_of >= due { 1.0 } else { 0.0 };
    }
    ((as_of - start).num_days() as f64 / length as f64).clamp(0.0, 1.0)
}

/// The pace of one key result at `as_of`. A missing `realized` counts as nothing achieved.
pub fn kr_pace(
    target: Option<f64>,
    realized: Option<f64>,
    start: NaiveDate,
    due: NaiveDate,
    as_of: NaiveDate,
) -> Pace {
    let Some(target) = target.filter(|t| *t > 0.0) else {
        return Pace::NotDefined;
    };
    let progress = realized.unwrap_or(0.0) / target;
    classify(progress, elapsed_fraction(start, due, as_of), as_of >= due)
}

/// The pace of a whole plan: the weighted progress of its defined key results (each
/// ratio capped like attainment) against their weighted elapsed share. Takes
/// `(target, realized, weight, due)` per key result; `due` falls back to `end`.
pub fn plan_pace(
    key_results: impl IntoIterator<Item = (Option<f64>, Option<f64>, f64, Option<NaiveDate>)>,
    start: NaiveDate,
    end: NaiveDate,
    as_of: NaiveDate,
) -> Pace {
    let (mut progress, mut expected, mut weights) = (0.0, 0.0, 0.0);
    let mut all_due = true;
    for (target, realized, weight, due) in key_results {
        let Some(target) = target.filter(|t| *t > 0.0) else {
            continue;
        };
        if weight <= 0.0 {
            continue;
        }
        let due = due.unwrap_or(end);
        progress += weight
            * (realized.unwrap_or(0.0) / target)
                .clamp(0.0, RATIO_CAP)
                .min(1.0);
        expected += weight * elapsed_fraction(start, due, as_of);
        weights += weight;
        all_due &= as_of >= due;
    }
    if weights == 0.0 {
        return Pace::NotDefined;
    }
    let progress = progress / weights;
    let expected = expected / weights;
    if progress >= 1.0 {
        return Pace::Complete;
    }
    if all_due {
        return Pace::NotComplete;
    }
    by_share(progress, expected)
}

fn classify(progress: f64, elapsed: f64, past_due: bool) -> Pace {
    if progress >= 1.0 {
        Pace::Complete
    } else if past_due {
        Pace::NotComplete
    } else {
        by_share(progress, elapsed)
    }
}

fn by_share(progress: f64, expected: f64) -> Pace {
    // Nothing is expected yet at the very start of a period: anything is on pace.
    if expected <= 0.0 || progress >= ON_TRACK_SHARE * expected {
        Pace::OnTrack
    } else if progress >= AT_RISK_SHARE * expected {
        Pace::Behind
    } else {
        Pace::AtRisk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn early_small_progress_is_on_track_when_pace_allows_it() {
        // DOMAIN.md: 500 EUR of an 8,333 EUR monthly target early in the month is on track.
        let pace = kr_pace(
            Some(8333.0),
            Some(500.0),
            d("2025-03-01"),
            d("2025-03-31"),
            d("2025-03-03"),
        );
        assert_eq!(pace, Pace::OnTrack);
    }

    #[test]
    fn the_same_progress_later_in_the_period_is_behind_then_at_risk() {
        let (s, e) = (d("2025-01-01"), d("2025-01-31"));
        // 30 days long; at day 15, half is expected.
        assert_eq!(
            kr_pace(Some(100.0), Some(45.0), s, e, d("2025-01-16")),
            Pace::OnTrack
        );
        assert_eq!(
            kr_pace(Some(100.0), Some(35.0), s, e, d("2025-01-16")),
            Pace::Behind
        );
        assert_eq!(
            kr_pace(Some(100.0), Some(20.0), s, e, d("2025-01-16")),
            Pace::AtRisk
        );
    }

    #[test]
    fn reaching_the_target_is_complete_at_any_time() {
        let pace = kr_pace(
            Some(10.0),
            Some(10.0),
            d("2025-01-01"),
            d("2025-12-31"),
            d("2025-01-02"),
        );
        assert_eq!(pace, Pace::Complete);
    }

    #[test]
    fn missing_the_target_by_the_due_date_is_not_complete() {
        let pace = kr_pace(
            Some(10.0),
            Some(9.99),
            d("2025-01-01"),
            d("2025-03-31"),
            d("2025-03-31"),
        );
        assert_eq!(pace, Pace::NotComplete);
    }

    #[test]
    fn an_undefined_target_is_not_defined_whatever_was_realized() {
        for target in [None, Some(0.0), Some(-5.0)] {
            let pace = kr_pace(
                target,
                Some(1e6),
                d("2025-01-01"),
                d("2025-03-31"),
                d("2025-02-01"),
            );
            assert_eq!(pace, Pace::NotDefined);
        }
    }

    #[test]
    fn missing_realized_counts_as_nothing_achieved() {
        let (s, e) = (d("2025-01-01"), d("2025-01-31"));
        assert_eq!(
            kr_pace(Some(10.0), None, s, e, d("2025-01-01")),
            Pace::OnTrack
        );
        assert_eq!(
            kr_pace(Some(10.0), None, s, e, d("2025-01-20")),
            Pace::AtRisk
        );
    }

    #[test]
    fn elapsed_is_clamped_and_handles_empty_periods() {
        let (s, e) = (d("2025-01-01"), d("2025-01-11"));
        assert_eq!(elapsed_fraction(s, e, d("2024-12-01")), 0.0);
        assert_eq!(elapsed_fraction(s, e, d("2025-01-06")), 0.5);
        assert_eq!(elapsed_fraction(s, e, d("2026-01-01")), 1.0);
        assert_eq!(elapsed_fraction(s, s, d("2024-12-31")), 0.0);
        assert_eq!(elapsed_fraction(s, s, s), 1.0);
    }

    #[test]
    fn plan_pace_weights_key_results_and_ignores_undefined_ones() {
        let (s, e) = (d("2025-01-01"), d("2025-01-31"));
        let mid = d("2025-01-16");
        // One complete KR (weight 1) and one at 0% (weight 3): progress 0.25 of 0.5 expected.
        let krs = [
            (Some(10.0), Some(10.0), 1.0, None),
            (Some(10.0), Some(0.0), 3.0, None),
            (None, Some(99.0), 10.0, None),
        ];
        assert_eq!(plan_pace(krs, s, e, mid), Pace::AtRisk);
        let ahead = [(Some(10.0), Some(6.0), 1.0, None), (None, None, 1.0, None)];
        assert_eq!(plan_pace(ahead, s, e, mid), Pace::OnTrack);
        assert_eq!(
            plan_pace([(None, Some(1.0), 1.0, None)], s, e, mid),
            Pace::NotDefined
        );
        assert_eq!(
            plan_pace([(Some(10.0), Some(9.0), 1.0, None)], s, e, e),
            Pace::NotComplete
        );
        assert_eq!(
            plan_pace([(Some(10.0), Some(25.0), 1.0, None)], s, e, mid),
            Pace::Complete
        );
    }
}
