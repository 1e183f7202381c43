//! Similar partners: the partners nearest to one (or to any profile vector) in the vector
//! index, with how their closed plans ended.

use serde::Serialize;
use utoipa::ToSchema;

use super::{outcomes, Entry, Peers, PeersError};
use crate::domain::Id;
use crate::vector::{Filter, VectorIndex};

/// The most results one search asks the index for, whatever `k` is: it bounds the work
/// of a request and the retries that skip stale points.
pub const MAX_SEARCH: usize = 10_000;

/// A partner found similar to another, with how its plans ended.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SimilarPartner {
    #[schema(value_type = String)]
    pub partner_id: Id,
    /// Cosine similarity of the profile vectors, -1..=1, higher is more alike.
    pub score: f32,
    pub partner_type: Option<String>,
    pub region: Option<String>,
    pub tier: Option<String>,
    pub relationship_stage: Option<String>,
    pub closed_plans: usize,
    /// Mean over the closed plans with a defined attainment.
    pub mean_attainment: Option<f64>,
    /// Share of hits over the closed plans with a defined attainment.
    pub hit_rate: Option<f64>,
    /// Attainment of the latest-ending closed plan with a defined attainment.
    pub last_attainment: Option<f64>,
}

impl Peers {
    /// The `k` partners most similar to `partner_id` that match `filter`, most similar
    /// first, never the partner itself. Indexed partners that these peers do not know
    /// (removed from the store since the last reindex) are skipped, asking the index
    /// for more until `k` are found or the tenant is exhausted.
    pub fn similar(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        partner_id: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<SimilarPartner>, PeersError> {
        self.check(index, tenant)?;
        let me = self.known(partner_id)?;
        self.nearest(index, tenant, &me.vector, Some(partner_id), k, filter)
    }

    /// The `k` known partners nearest to `vector` that match `filter`, most similar
    /// first, never `exclude`. Indexed partners that these peers do not know (removed
    /// from the store since the last reindex) are skipped, asking the index for more
    /// until `k` are found or the tenant is exhausted. The caller has run `check`.
    pub(super) fn nearest(
        &self,
        index: &dyn VectorIndex,
        tenant: &str,
        vector: &[f32],
        exclude: Option<&str>,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<SimilarPartner>, PeersError> {
        let k = k.min(MAX_SEARCH - 1);
        if k == 0 {
            return Ok(Vec::new());
        }
        // One more than asked, for the excluded partner when it is indexed.
        let mut ask = k + usize::from(exclude.is_some());
        loop {
            let hits = index.search(tenant, vector, ask, filter)?;
            let exhausted = hits.len() < ask;
            let mut found = Vec::with_capacity(k);
            let mut stale = 0_usize;
            for hit in hits {
                if Some(hit.partner_id.as_str()) == exclude {
                    continue;
                }
                match self.entry(hit.partner_id.as_str()) {
                    Some(entry) => found.push(similar_partner(entry, hit.score)),
                    None => stale += 1,
                }
                if found.len() == k {
                    break;
                }
            }
            if found.len() == k || exhausted || ask >= MAX_SEARCH {
                if stale > 0 {
                    tracing::debug!(
                        tenant,
                        stale,
                        "indexed partners unknown to the store were skipped; reindex"
                    );
                }
                return Ok(found);
            }
            ask = ask.saturating_mul(2).min(MAX_SEARCH);
        }
    }
}

fn similar_partner(entry: &Entry, score: f32) -> SimilarPartner {
    let p = &entry.partner;
    let o = outcomes(&entry.closed);
    SimilarPartner {
        partner_id: p.partner_id.clone(),
        score,
        partner_type: p.partner_type.map(|v| v.as_str().to_owned()),
        region: p.region.clone(),
        tier: p.tier.map(|v| v.as_str().to_owned()),
        relationship_stage: p.relationship_stage.map(|v| v.as_str().to_owned()),
        closed_plans: entry.closed.len(),
        mean_attainment: o.mean_attainment,
        hit_rate: o.hit_rate,
        last_attainment: o.last_attainment,
    }
}
