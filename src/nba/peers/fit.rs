//! Prospect fit: how well a partner that is not stored yet fits the tenant's partners who
//! succeeded, from its most similar partners' closed plans, shrunk towards the tenant's
//! base rate.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::search::SimilarPartner;
use super::{Entry, Peers, PeersError};
use crate::domain::{Id, Partner};
use crate::vector::{Filter, VectorIndex};

/// Pseudo-plans of the tenant's base rate in a [`Fit::fit_score`]: the neighbours' plans
/// outweigh the base rate once they hold more than this many (similarity-weighted) closed
/// plans. Five is about what two or three peers with a couple of plans each bring, so a
/// prospect judged on one lucky neighbour stays near the tenant's average.
pub const FIT_PRIOR_PLANS: f64 = 5.0;

/// The prior of a fit score when the tenant has no closed plan with an outcome yet:
/// nothing is known, so even odds.
pub const NO_BASE_RATE: f64 = 0.5;

/// How a prospect fits the tenant's partners who succeeded ("AI partner profile fit").
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Fit {
    #[schema(value_type = String)]
    pub prospect_id: Id,
    /// The date the neighbours' outcomes and tenure are taken at (the peers' as_of).
    pub as_of: NaiveDate,
    /// The most similar partners, most similar first (at most the `k` asked for).
    pub neighbours: Vec<SimilarPartner>,
    /// Neighbours with at least one closed plan whose outcome is defined.
    pub with_closed_plans: usize,
    /// Mean over those neighbours of their mean attainment (each neighbour counts once).
    pub mean_attainment: Option<f64>,
    /// Mean over those neighbours of their hit rate (each neighbour counts once).
    pub hit_rate: Option<f64>,
    /// Mean cosine similarity of the neighbours to the prospect.
    pub mean_score: Option<f64>,
    /// The tenant's hit rate over all closed plans: what `fit_score` shrinks towards.
    pub base_rate: Option<f64>,
    /// The neighbours' closed plans with an outcome, each weighted by its partner's
    /// similarity: how much evidence `fit_score` stands on, against
    /// [`FIT_PRIOR_PLANS`] for the base rate.
    pub evidence_plans: f64,
    /// 0..=1: the chance that a plan of a partner like this one hits, estimated as the
    /// similarity-weighted hit rate of the neighbours' closed plans, shrunk towards the
    /// tenant's base rate: `(Σ wᵢ·hitsᵢ + m·base) / (Σ wᵢ·plansᵢ + m)` with `wᵢ` the
    /// neighbour's cosine similarity clipped to 0..=1 and `m` = [`FIT_PRIOR_PLANS`] (a
    /// beta prior worth `m` plans at the base rate; [`NO_BASE_RATE`] without one). Above
    /// the base rate, partners like the prospect succeed more often than the average.
    pub fit_score: f64,
}

impl Peers {
    /// How well a prospect (a partner that is not stored: no plans, no activity) fits
    /// the tenant's partners who succeeded: its `k` most similar partners and what their
    /// closed plans say, summarised in [`Fit::fit_score`].
    ///
    /// The prospect's vector is [`ProfileSchema::prospect_vector`]: its profile as given
    /// (unknown fields at the tenant's mean), with an average activity mix, since what a
    /// prospect will do is unknown rather than nothing. A stored partner with the
    /// prospect's id is left out of the neighbours, as [`Self::similar`] leaves out the
    /// partner itself.
    ///
    /// # Errors
    /// [`PeersError::WrongTenant`] and [`PeersError::DimensionMismatch`] as for
    /// [`Self::similar`], and [`PeersError::Index`] when the search fails.
    pub fn fit(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        prospect: &Partner,
        k: usize,
    ) -> Result<Fit, PeersError> {
        self.check(index, tenant)?;
        let vector = self.profile.prospect_vector(prospect, self.as_of);
        let exclude = Some(prospect.partner_id.as_str());
        let neighbours = self.nearest(index, tenant, &vector, exclude, k, &Filter::default())?;
        let fit = self.summarise_fit(prospect, neighbours);
        tracing::debug!(
            tenant,
            neighbours = fit.neighbours.len(),
            fit_score = fit.fit_score,
            "prospect fit"
        );
        Ok(fit)
    }

    fn summarise_fit(&self, prospect: &Partner, neighbours: Vec<SimilarPartner>) -> Fit {
        // Neighbours with at least one closed plan whose outcome is defined.
        let known: Vec<(&SimilarPartner, &Entry)> = neighbours
            .iter()
            .filter_map(|s| self.entry(s.partner_id.as_str()).map(|e| (s, e)))
            .filter(|(s, _)| s.hit_rate.is_some())
            .collect();
        let mean = |values: &mut dyn Iterator<Item = f64>| {
            let (sum, n) = values.fold((0.0, 0_usize), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| sum / n as f64)
        };
        let (mut hits, mut plans) = (0.0, 0.0);
        for (s, e) in &known {
            let w = f64::from(s.score).clamp(0.0, 1.0);
            let defined: Vec<bool> = e.closed.iter().filter_map(|c| c.hit).collect();
            hits += w * defined.iter().filter(|h| **h).count() as f64;
            plans += w * defined.len() as f64;
        }
        let fit_score = shrunk_hit_rate(hits, plans, self.base_rate.unwrap_or(NO_BASE_RATE));
        Fit {
            prospect_id: prospect.partner_id.clone(),
            as_of: self.as_of,
            with_closed_plans: known.len(),
            mean_attainment: mean(&mut known.iter().filter_map(|(s, _)| s.mean_attainment)),
            hit_rate: mean(&mut known.iter().filter_map(|(s, _)| s.hit_rate)),
            mean_score: mean(&mut neighbours.iter().map(|s| f64::from(s.score))),
            base_rate: self.base_rate,
            evidence_plans: plans,
            fit_score,
            neighbours,
        }
    }
}

/// `hits` of `plans` (both possibly weighted), shrunk towards `prior` with
/// [`FIT_PRIOR_PLANS`] pseudo-plans: a beta-binomial posterior mean, in 0..=1 whenever
/// `prior` is and `0 <= hits <= plans`, and exactly `prior` without evidence.
fn shrunk_hit_rate(hits: f64, plans: f64, prior: f64) -> f64 {
    ((hits + FIT_PRIOR_PLANS * prior) / (plans + FIT_PRIOR_PLANS)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fit_score_is_the_base_rate_without_evidence_and_follows_the_evidence() {
        assert_eq!(shrunk_hit_rate(0.0, 0.0, 0.3), 0.3);
        // Little evidence moves it a little, a lot of evidence nearly all the way.
        let little = shrunk_hit_rate(1.0, 1.0, 0.3);
        let lots = shrunk_hit_rate(900.0, 1000.0, 0.3);
        assert!(0.3 < little && little < 0.5, "{little}");
        assert!((lots - 0.9).abs() < 0.01, "{lots}");
        for (hits, plans) in [(0.0, 50.0), (50.0, 50.0), (0.4, 0.4)] {
            let s = shrunk_hit_rate(hits, plans, 0.5);
            assert!((0.0..=1.0).contains(&s), "{s}");
        }
    }
}
