//! Benchmarks: a partner against its peer group on the 6Cs, NPS, trust, attainment and
//! activity, with percentiles and the targets its successful peers reached.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::{outcomes, quantile, Entry, Peers, PeersError};
use crate::domain::Id;
use crate::vector::{Filter, VectorIndex};

/// The peer group of a benchmark: the most similar partners, this many. Fifty gives
/// quartiles that move little when one peer changes, while staying "partners like you"
/// in a tenant of a few hundred.
pub const PEER_GROUP: usize = 50;

/// Fewer successful peers than this and their median is too noisy to be a target; the
/// peers' 75th percentile stands in.
pub const MIN_SUCCESSFUL_PEERS: usize = 5;

/// How `your_target` of a benchmark row was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetBasis {
    /// The median among peers whose last closed plan hit: what successful partners like
    /// you have.
    SuccessfulPeers,
    /// Too few successful peers knew this value: the peers' 75th percentile instead.
    PeersP75,
}

/// One dimension of a benchmark. Every dimension is one where more is better, so a target
/// above the peers' median reads as an aim. Unknown values are `None`, never NaN, and
/// the counts include known values only.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BenchmarkRow {
    pub dimension: String,
    pub you: Option<f64>,
    pub your_target: Option<f64>,
    pub target_basis: TargetBasis,
    pub peers_p25: Option<f64>,
    pub peers_median: Option<f64>,
    pub peers_p75: Option<f64>,
    /// Share of peers below you (ties count half), 0..=1.
    pub your_percentile: Option<f64>,
    /// Peers with a known value.
    pub peers_n: usize,
    /// Successful peers with a known value (the median of `your_target` needs
    /// [`MIN_SUCCESSFUL_PEERS`]).
    pub successful_n: usize,
}

/// A partner against its peer group: the [`PEER_GROUP`] most similar partners.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Benchmark {
    #[schema(value_type = String)]
    pub partner_id: Id,
    pub as_of: NaiveDate,
    /// Size of the peer group (fewer than [`PEER_GROUP`] in a small tenant).
    pub peers: usize,
    /// Peers whose last closed plan hit.
    pub successful_peers: usize,
    /// Similarity of the least similar peer, to judge how alike the group is.
    pub min_score: Option<f32>,
    pub rows: Vec<BenchmarkRow>,
}

type Extract = fn(&Entry) -> Option<f64>;

/// The benchmark dimensions, in report order.
const DIMENSIONS: [(&str, Extract); 11] = [
    ("score_contribution", |e| e.partner.score_contribution),
    ("score_capability", |e| e.partner.score_capability),
    ("score_coverage", |e| e.partner.score_coverage),
    ("score_commitment", |e| e.partner.score_commitment),
    ("score_consumption", |e| e.partner.score_consumption),
    ("score_credibility", |e| e.partner.score_credibility),
    ("nps", |e| e.partner.nps),
    ("trust", |e| e.partner.trust()),
    ("mean_attainment", |e| outcomes(&e.closed).mean_attainment),
    ("activities_per_closed_plan", |e| {
        let n = e.closed.len();
        (n > 0).then(|| e.closed.iter().flat_map(|c| c.kinds.values()).sum::<f64>() / n as f64)
    }),
    ("certified_reps", |e| {
        e.partner.certified_reps.map(|r| r as f64)
    }),
];

impl Peers {
    /// The partner against its [`PEER_GROUP`] most similar partners, on the 6Cs scores,
    /// NPS, trust, mean attainment, activities per closed plan and certified reps.
    pub fn benchmark(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        partner_id: &str,
    ) -> Result<Benchmark, PeersError> {
        let me = self.known(partner_id)?;
        let similar = self.similar(index, tenant, partner_id, PEER_GROUP, &Filter::default())?;
        let peers: Vec<(&Entry, bool)> = similar
            .iter()
            .filter_map(|s| self.entry(s.partner_id.as_str()))
            .map(|e| (e, outcomes(&e.closed).last_hit == Some(true)))
            .collect();
        let rows = DIMENSIONS
            .iter()
            .map(|(name, value)| benchmark_row(name, *value, me, &peers))
            .collect();
        Ok(Benchmark {
            partner_id: me.partner.partner_id.clone(),
            as_of: self.as_of,
            peers: peers.len(),
            successful_peers: peers.iter().filter(|(_, ok)| *ok).count(),
            min_score: similar.iter().map(|s| s.score).reduce(f32::min),
            rows,
        })
    }
}

fn benchmark_row(name: &str, value: Extract, me: &Entry, peers: &[(&Entry, bool)]) -> BenchmarkRow {
    let known = |e: &Entry| value(e).filter(|v| v.is_finite());
    let mut all: Vec<f64> = peers.iter().filter_map(|(e, _)| known(e)).collect();
    let mut successful: Vec<f64> = peers
        .iter()
        .filter(|(_, ok)| *ok)
        .filter_map(|(e, _)| known(e))
        .collect();
    all.sort_by(f64::total_cmp);
    successful.sort_by(f64::total_cmp);
    let you = known(me);
    let p75 = quantile(&all, 0.75);
    let (your_target, target_basis) = if successful.len() >= MIN_SUCCESSFUL_PEERS {
        (quantile(&successful, 0.5), TargetBasis::SuccessfulPeers)
    } else {
        (p75, TargetBasis::PeersP75)
    };
    BenchmarkRow {
        dimension: name.to_owned(),
        you,
        your_target,
        target_basis,
        peers_p25: quantile(&all, 0.25),
        peers_median: quantile(&all, 0.5),
        peers_p75: p75,
        your_percentile: you.and_then(|y| percentile_rank(&all, y)),
        peers_n: all.len(),
        successful_n: successful.len(),
    }
}

/// Share of sorted `values` below `you`, ties counting half: 0 below everyone, 1 above
/// everyone, 0.5 in the middle. `None` for no values.
fn percentile_rank(sorted: &[f64], you: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let below = sorted.partition_point(|v| *v < you);
    let not_above = sorted.partition_point(|v| *v <= you);
    let ties = not_above - below;
    Some((below as f64 + 0.5 * ties as f64) / sorted.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ranks_count_ties_half() {
        let v = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(percentile_rank(&v, 0.0), Some(0.0));
        assert_eq!(percentile_rank(&v, 9.0), Some(1.0));
        assert_eq!(percentile_rank(&v, 2.0), Some(0.5));
        assert_eq!(percentile_rank(&[], 2.0), None);
    }
}
