use chrono::NaiveDate;

use super::Id;

/// A lagging indicator of a plan. `target == None` is "not defined": normal in practice
/// and excluded from attainment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyResult {
    pub kr_id: Id,
    pub plan_id: Id,
    pub metric: Option<String>,
    pub target: Option<f64>,
    pub realized: Option<f64>,
    pub objective: Option<String>,
    pub unit: Option<String>,
    pub weight: f64,
    /// `None` means the plan's end date.
    pub due_date: Option<NaiveDate>,
}

/// One point of the time series behind `realized`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KrProgress {
    pub kr_id: Id,
    pub as_of: NaiveDate,
    pub realized: f64,
}

/// The cap on one key result's ratio, so one blow-out cannot hide misses elsewhere.
pub const RATIO_CAP: f64 = 2.0;

/// Plan attainment (DATA_FORMAT.md): `sum(w * min(realized / target, 2)) / sum(w)` over key
/// results with a defined target. A defined target with no realized value counts as 0
/// achieved. `None` when no key result has a defined target and positive weight.
pub fn attainment<'a>(key_results: impl IntoIterator<Item = &'a KeyResult>) -> Option<f64> {
    weighted_attainment(
        key_results
            .into_iter()
            .map(|kr| (kr.target, kr.realized, kr.weight)),
    )
}

/// The same rule over raw `(target, realized, weight)` triples, for callers (the synthetic
/// world, snapshots) that hold numbers rather than records.
pub fn weighted_attainment(
    triples: impl IntoIterator<Item = (Option<f64>, Option<f64>, f64)>,
) -> Option<f64> {
    let (mut sum, mut weights) = (0.0, 0.0);
    for (target, realized, weight) in triples {
        let Some(target) = target.filter(|t| *t > 0.0) else {
            continue;
        };
        let ratio = (realized.unwrap_or(0.0) / target).clamp(0.0, RATIO_CAP);
        sum += weight * ratio;
        weights += weight;
    }
    (weights > 0.0).then(|| sum / weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(target: Option<f64>, realized: Option<f64>, weight: f64) -> KeyResult {
        KeyResult {
            kr_id: Id::parse("k").unwrap(),
            plan_id: Id::parse("p").unwrap(),
            metric: None,
            target,
            realized,
            objective: None,
            unit: None,
            weight,
            due_date: None,
        }
    }

    #[test]
    fn attainment_is_the_weighted_mean_of_capped_ratios() {
        let krs = [
            kr(Some(100.0), Some(50.0), 1.0),
            kr(Some(10.0), Some(15.0), 3.0),
        ];
        assert!((attainment(&krs).unwrap() - (0.5 + 3.0 * 1.5) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn a_ratio_above_two_is_capped() {
        let krs = [
            kr(Some(10.0), Some(100.0), 1.0),
            kr(Some(10.0), Some(0.0), 1.0),
        ];
        assert_eq!(attainment(&krs), Some(1.0));
    }

    #[test]
    fn undefined_targets_are_excluded_and_missing_realized_counts_as_zero() {
        let krs = [
            kr(None, Some(1000.0), 5.0),
            kr(Some(10.0), None, 1.0),
            kr(Some(10.0), Some(10.0), 1.0),
        ];
        assert_eq!(attainment(&krs), Some(0.5));
    }

    #[test]
    fn no_defined_target_or_no_weight_means_no_attainment() {
        assert_eq!(attainment(&[kr(None, Some(1.0), 1.0)]), None);
        assert_eq!(attainment(&[kr(Some(10.0), Some(1.0), 0.0)]), None);
        assert_eq!(attainment(&[]), None);
    }
}
