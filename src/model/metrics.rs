//! Held-out metrics for outcome predictions: how well P(hit) ranks and is calibrated,
//! how far expected attainment is off, and whether intervals cover what they claim.
//! Pure functions over slices, so evaluation, training and tests share one definition.

use serde::Serialize;

/// Area under the ROC curve: the probability that a random hit is scored above a random
/// miss, ties counting half (the Mann-Whitney statistic). `None` without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = labels[..n].iter().filter(|l| **l).count();
    let negatives = n - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Average ranks over ties, then the rank-sum of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += order[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * average_rank;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Mean squared error of probabilities against outcomes.
pub fn brier(probabilities: &[f64], labels: &[bool]) -> Option<f64> {
    mean(
        probabilities
            .iter()
            .zip(labels)
            .map(|(p, &y)| (p - f64::from(u8::from(y))).powi(2)),
    )
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Equal-width bins of predicted probability with the observed hit rate in each.
pub fn calibration_curve(
    probabilities: &[f64],
    labels: &[bool],
    bins: usize,
) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut sums = vec![(0_usize, 0.0, 0.0); bins];
    for (p, &y) in probabilities.iter().zip(labels) {
        let b = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += f64::from(u8::from(y));
    }
    sums.into_iter()
        .enumerate()
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(b, (count, p, y))| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            count,
            mean_predicted: p / count as f64,
            observed_rate: y / count as f64,
        })
        .collect()
}

/// Expected calibration error over `bins` equal-width bins: the count-weighted mean gap
/// between predicted probability and observed rate.
pub fn expected_calibration_error(
    probabilities: &[f64],
    labels: &[bool],
    bins: usize,
) -> Option<f64> {
    let curve = calibration_curve(probabilities, labels, bins);
    let total: usize = curve.iter().map(|b| b.count).sum();
    (total > 0).then(|| {
        curve
            .iter()
            .map(|b| b.count as f64 * (b.mean_predicted - b.observed_rate).abs())
            .sum::<f64>()
            / total as f64
    })
}

pub fn mean_absolute_error(predicted: &[f64], actual: &[f64]) -> Option<f64> {
    mean(predicted.iter().zip(actual).map(|(p, a)| (p - a).abs()))
}

/// Share of `actual` values inside their `[low, high]` interval, and the mean width.
pub fn interval_coverage(low: &[f64], high: &[f64], actual: &[f64]) -> Option<(f64, f64)> {
    let covered = mean(
        low.iter()
            .zip(high)
            .zip(actual)
            .map(|((l, h), a)| f64::from(u8::from(l <= a && a <= h))),
    )?;
    let width = mean(low.iter().zip(high).map(|(l, h)| h - l))?;
    Some((covered, width))
}

/// The split-conformal quantile: the `ceil((n + 1) * level)`-th smallest score, so that
/// an interval of that half-width covers a new exchangeable point with probability at
/// least `level`. `None` when there are too few scores for the level.
pub fn conformal_quantile(scores: &[f64], level: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let rank = ((n as f64 + 1.0) * level).ceil() as usize;
    (rank >= 1 && rank <= n).then(|| sorted[rank - 1])
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0_usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_for_a_perfect_ranking_half_for_ties_and_zero_reversed() {
        let labels = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(auc(&[0.5; 4], &labels), Some(0.5));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(auc(&[0.3, 0.4], &[true, true]), None);
    }

    #[test]
    fn auc_matches_the_pairwise_definition() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.7];
        let labels = [false, false, true, true, true, false];
        let (mut wins, mut pairs) = (0.0, 0.0);
        for i in 0..6 {
            for j in 0..6 {
                if labels[i] && !labels[j] {
                    pairs += 1.0;
                    wins += if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((auc(&scores, &labels).unwrap() - wins / pairs).abs() < 1e-12);
    }

    #[test]
    fn brier_and_calibration_error_of_known_cases() {
        assert_eq!(brier(&[1.0, 0.0], &[true, false]), Some(0.0));
        assert_eq!(brier(&[0.5, 0.5], &[true, false]), Some(0.25));
        // Predicting 0.8 where 80% hit is calibrated; predicting 0.8 where 20% hit is off by 0.6.
        let labels: Vec<bool> = (0..10).map(|i| i < 8).collect();
        assert!(expected_calibration_error(&[0.8; 10], &labels, 10).unwrap() < 1e-12);
        let labels: Vec<bool> = (0..10).map(|i| i < 2).collect();
        assert!((expected_calibration_error(&[0.8; 10], &labels, 10).unwrap() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn coverage_counts_points_inside_their_interval() {
        let (coverage, width) = interval_coverage(
            &[0.0, 0.0, 0.0, 0.0],
            &[1.0, 1.0, 1.0, 2.0],
            &[0.5, 1.0, 1.5, -0.1],
        )
        .unwrap();
        assert_eq!(coverage, 0.5);
        assert_eq!(width, 1.25);
        assert_eq!(mean_absolute_error(&[1.0, 2.0], &[2.0, 2.0]), Some(0.5));
    }

    #[test]
    fn the_conformal_quantile_rounds_the_rank_up() {
        let scores: Vec<f64> = (1..=9).map(f64::from).collect();
        // ceil(10 * 0.8) = 8th smallest.
        assert_eq!(conformal_quantile(&scores, 0.8), Some(8.0));
        assert_eq!(conformal_quantile(&scores[..3], 0.8), None);
    }
}
