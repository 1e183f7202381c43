//! The facts of a digest: every number and name a digest states, computed from the store
//! and the engine as of a date. Renderers and the LLM only ever word these.

use std::collections::BTreeSet;

use super::{Audience, DigestError, LEADERSHIP_ID};
use crate::store::Store;

/// Everyone in `tenant` a scheduled digest for `audience` goes to, sorted.
///
/// # Errors
/// [`DigestError::Store`] when the store cannot be read.
pub async fn recipients(
    store: &Store,
    tenant: &str,
    audience: Audience,
) -> Result<Vec<String>, DigestError> {
    if audience == Audience::Leadership {
        return Ok(vec![LEADERSHIP_ID.to_owned()]);
    }
    let active = store.active_plans(tenant).await?;
    let ids: BTreeSet<String> = match audience {
        Audience::Partner => active
            .iter()
            .map(|r| r.plan.partner_id.to_string())
            .collect(),
        _ => {
            let partners = store.partners(tenant).await?;
            let with_plans: BTreeSet<&str> =
                active.iter().map(|r| r.plan.partner_id.as_str()).collect();
            partners
                .iter()
                .filter(|p| with_plans.contains(p.partner_id.as_str()))
                .filter_map(|p| p.manager_id.as_ref().map(ToString::to_string))
                .chain(
                    active
                        .iter()
                        .filter_map(|r| r.plan.owner_id.as_ref().map(ToString::to_string)),
                )
                .collect()
        }
    };
    Ok(ids.into_iter().collect())
}
