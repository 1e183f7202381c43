//! The partner digest: the "OKR update" a partner reads. Progress per objective and key
//! result, what changed, what is due and by whom, what is behind, one or two asks,
//! what to celebrate, and one upward comparison with partners like them.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::plans::{plan_facts, PlanFacts, StatusCounts};
use super::{one_decimal, percent, Missing, HORIZON_DAYS};
use crate::digest::DigestError;
use crate::domain::{ActivityStatus, Id, Pace, PlanStatus};
use crate::model::pipeline::predict_record;
use crate::nba::peers::TargetBasis;
use crate::nba::{context, Engine};
use crate::store::Store;

/// Asks per digest: one or two, so each is read.
pub const MAX_ASKS: usize = 2;

/// A key result whose realized value moved since the previous digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub plan_id: String,
    pub kr_id: String,
    pub metric: Option<String>,
    pub unit: Option<String>,
    /// Realized on `since`; None when nothing was recorded yet.
    pub from: Option<f64>,
    pub to: f64,
    /// `to − from` (from = 0 when nothing was recorded).
    pub delta: f64,
    /// Share of target now, whole percent, when there is a target.
    pub percent: Option<i64>,
}

/// An activity done since the previous digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoneActivity {
    pub plan_id: String,
    pub date: NaiveDate,
    pub kind: String,
    pub label: String,
    pub quantity: f64,
}

/// Something due in the next [`HORIZON_DAYS`] days: a planned activity or a key result's
/// due date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub plan_id: String,
    pub date: NaiveDate,
    pub what: String,
    /// vendor, partner or joint; None when nobody was named.
    pub owner: Option<String>,
}

/// A next best action phrased as an ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    pub plan_id: String,
    pub kind: String,
    pub label: String,
    pub owner: String,
    pub due_date: NaiveDate,
    /// Expected change of final attainment, in points of target (one decimal).
    pub expected_points: f64,
    pub why_now: String,
}

/// Something to celebrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Achievement {
    pub plan_id: String,
    pub kr_id: String,
    pub metric: Option<String>,
    /// Share of target now, whole percent.
    pub percent: i64,
    /// The mark crossed since the previous digest: 50, 75 or 100 (percent of target).
    pub crossed: i64,
}

/// One dimension where partners like this one that succeeded are ahead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerLine {
    pub dimension: String,
    pub you: f64,
    /// The median of successful peers (or the peers' 75th percentile, see `basis`).
    pub peers: f64,
    /// `successful_peers` or `peers_p75`.
    pub basis: String,
    /// Peers in the group, and how many of them hit their last plan.
    pub group: usize,
    pub successful: usize,
}

/// Everything a partner digest states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerFacts {
    pub tenant: String,
    pub partner_id: String,
    pub partner_name: Option<String>,
    pub as_of: NaiveDate,
    pub since: NaiveDate,
    pub horizon_days: u64,
    pub plans: Vec<PlanFacts>,
    /// Plans by pace-aware status.
    pub plan_status: StatusCounts,
    pub changes: Vec<Change>,
    pub done: Vec<DoneActivity>,
    pub upcoming: Vec<Milestone>,
    /// Key results behind or at risk, furthest behind first.
    pub behind: Vec<super::KrLine>,
    pub asks: Vec<Ask>,
    pub achievements: Vec<Achievement>,
    pub peer: Option<PeerLine>,
    pub missing: Vec<Missing>,
}

/// The partner digest of `partner_id` as of `as_of`, changes since `since`.
///
/// # Errors
/// [`DigestError::UnknownRecipient`] for an unknown partner; store errors.
pub async fn partner(
    store: &Store,
    engine: &Engine,
    partner_id: &str,
    as_of: NaiveDate,
    since: NaiveDate,
) -> Result<PartnerFacts, DigestError> {
    let tenant = engine.tenant();
    let unknown = || DigestError::UnknownRecipient {
        tenant: tenant.to_owned(),
        audience: "partner",
        id: partner_id.to_owned(),
    };
    let id = Id::parse(partner_id).map_err(|_| unknown())?;
    let partner = store.partner(tenant, &id).await?.ok_or_else(unknown)?;
    let records: Vec<_> = store
        .partner_plans(tenant, &id)
        .await?
        .into_iter()
        .filter(|r| r.plan.status == PlanStatus::Active)
        .collect();
    let model = engine.model();
    let mut missing = Vec::new();
    if records.is_empty() {
        missing.push(Missing::NoActivePlans);
    }
    if model.is_none() {
        missing.push(Missing::NoModel);
    }

    let mut plans = Vec::new();
    let mut plan_status = StatusCounts::default();
    let mut changes = Vec::new();
    let mut done = Vec::new();
    let mut upcoming = Vec::new();
    let mut achievements = Vec::new();
    let mut any_history = false;
    let horizon = as_of
        .checked_add_days(Days::new(HORIZON_DAYS))
        .unwrap_or(NaiveDate::MAX);
    for record in &records {
        let prediction = model.map(|m| predict_record(m, record, Some(&partner), as_of));
        let facts = plan_facts(record, as_of, prediction.as_ref());
        plan_status.add(facts.status);
        if facts.undefined_targets > 0 {
            missing.push(Missing::UndefinedTargets {
                plan_id: facts.plan_id.clone(),
                count: facts.undefined_targets,
            });
        }
        if !facts.has_progress {
            missing.push(Missing::NoProgress {
                plan_id: facts.plan_id.clone(),
            });
        }
        let then = record.as_of(since);
        any_history |= since >= record.plan.start_date;
        let now = record.as_of(as_of);
        for (kr, before) in now.key_results.iter().zip(&then.key_results) {
            let Some(to) = kr.realized.filter(|r| r.is_finite()) else {
                continue;
            };
            let from = before.realized.filter(|r| r.is_finite());
            if from == Some(to) || (from.is_none() && to == 0.0) {
                continue;
            }
            let target = kr.target.filter(|t| *t > 0.0);
            let share_now = target.map(|t| to / t);
            changes.push(Change {
                plan_id: facts.plan_id.clone(),
                kr_id: kr.kr_id.to_string(),
                metric: kr.metric.clone(),
                unit: kr.unit.clone(),
                from: from.and_then(one_decimal),
                to: one_decimal(to).unwrap_or_default(),
                delta: one_decimal(to - from.unwrap_or(0.0)).unwrap_or_default(),
                percent: share_now.and_then(percent),
            });
            if let (Some(t), Some(now_share)) = (target, share_now) {
                let then_share = from.unwrap_or(0.0) / t;
                if let Some(mark) = [100, 75, 50].into_iter().find(|m| {
                    now_share * 100.0 >= f64::from(*m) && then_share * 100.0 < f64::from(*m)
                }) {
                    achievements.push(Achievement {
                        plan_id: facts.plan_id.clone(),
                        kr_id: kr.kr_id.to_string(),
                        metric: kr.metric.clone(),
                        percent: percent(now_share).unwrap_or_default(),
                        crossed: i64::from(mark),
                    });
                }
            }
        }
        for a in &record.activities {
            let label = engine
                .catalog()
                .get(&a.kind)
                .map_or_else(|| a.kind.replace('_', " "), |s| s.label.clone());
            if a.status == ActivityStatus::Done && a.date > since && a.date <= as_of {
                done.push(DoneActivity {
                    plan_id: facts.plan_id.clone(),
                    date: a.date,
                    kind: a.kind.clone(),
                    label,
                    quantity: one_decimal(a.quantity).unwrap_or_default(),
                });
            } else if a.status == ActivityStatus::Planned && a.date > as_of && a.date <= horizon {
                upcoming.push(Milestone {
                    plan_id: facts.plan_id.clone(),
                    date: a.date,
                    what: label,
                    owner: a.responsible.map(|r| r.as_str().to_owned()),
                });
            }
        }
        for kr in facts.objectives.iter().flat_map(|o| &o.key_results) {
            if kr.due_date > as_of
                && kr.due_date <= horizon
                && !matches!(kr.status, Pace::Complete | Pace::NotDefined)
            {
                upcoming.push(Milestone {
                    plan_id: facts.plan_id.clone(),
                    date: kr.due_date,
                    what: format!(
                        "{} due",
                        kr.metric.clone().unwrap_or_else(|| kr.kr_id.clone())
                    ),
                    owner: None,
                });
            }
        }
        plans.push(facts);
    }
    if !records.is_empty() && !any_history {
        missing.push(Missing::NoHistory);
    }
    upcoming.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.what.cmp(&b.what)));
    done.sort_by_key(|d| std::cmp::Reverse(d.date));

    let mut behind: Vec<super::KrLine> = plans
        .iter()
        .flat_map(|p| p.objectives.iter().flat_map(|o| &o.key_results))
        .filter(|kr| matches!(kr.status, Pace::Behind | Pace::AtRisk))
        .cloned()
        .collect();
    behind.sort_by_key(|kr| std::cmp::Reverse(kr.due_percent - kr.percent.unwrap_or(0)));

    let open: Vec<_> = records.iter().collect();
    let asks = asks(store, engine, &open, as_of, MAX_ASKS).await?;
    let peer = match engine.peers() {
        Some((peers, index)) => peers
            .benchmark(index, tenant, partner_id)
            .ok()
            .and_then(|b| upward(&b)),
        None => {
            missing.push(Missing::NoPeers);
            None
        }
    };
    Ok(PartnerFacts {
        tenant: tenant.to_owned(),
        partner_id: partner.partner_id.to_string(),
        partner_name: partner.name.clone(),
        as_of,
        since,
        horizon_days: HORIZON_DAYS,
        plans,
        plan_status,
        changes,
        done,
        upcoming,
        behind,
        asks,
        achievements,
        peer,
        missing,
    })
}

/// The top `k` next best actions across a partner's active plans, best first.
pub(super) async fn asks(
    store: &Store,
    engine: &Engine,
    records: &[&crate::domain::PlanRecord],
    as_of: NaiveDate,
    k: usize,
) -> Result<Vec<Ask>, DigestError> {
    let mut all = Vec::new();
    for record in records {
        let ctx = context::load(store, engine.tenant(), &record.plan.plan_id, as_of).await?;
        let recs = engine.recommend(&ctx, k);
        all.extend(recs.actions.into_iter().map(|a| {
            (
                a.score,
                Ask {
                    plan_id: record.plan.plan_id.to_string(),
                    kind: a.kind,
                    label: a.label,
                    owner: a.responsible.to_owned(),
                    due_date: a.due_date,
                    expected_points: one_decimal(a.expected_effect * 100.0).unwrap_or_default(),
                    why_now: a.explanation.why_now,
                },
            )
        }));
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(all.into_iter().take(k).map(|(_, ask)| ask).collect())
}

/// The dimension where successful partners like this one are furthest ahead, relative to
/// where this partner stands: the one comparison worth making.
fn upward(b: &crate::nba::peers::Benchmark) -> Option<PeerLine> {
    // Shown as the reader sees them: attainment in whole percent, the rest to one decimal.
    let shown = |dimension: &str, v: Option<f64>| -> Option<f64> {
        let v = v.filter(|v| v.is_finite())?;
        if dimension == "mean_attainment" {
            percent(v).map(|p| p as f64)
        } else {
            one_decimal(v)
        }
    };
    b.rows
        .iter()
        .filter_map(|row| {
            let you = shown(&row.dimension, row.you)?;
            let peers = shown(&row.dimension, row.your_target)?;
            let scale = you.abs().max(peers.abs()).max(1e-9);
            (peers > you).then(|| ((peers - you) / scale, row, you, peers))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, row, you, peers)| PeerLine {
            dimension: row.dimension.clone(),
            you,
            peers,
            basis: match row.target_basis {
                TargetBasis::SuccessfulPeers => "successful_peers".into(),
                TargetBasis::PeersP75 => "peers_p75".into(),
            },
            group: b.peers,
            successful: b.successful_peers,
        })
}
