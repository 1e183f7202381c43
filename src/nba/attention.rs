//! "Which of my partners need attention now?": a manager's partners, each with the
//! reasons it needs attention and a score to sort them by.
//!
//! [`attention`] reads what it needs from the store; [`assess`] turns one partner's
//! records into reasons and is pure, so every rule is tested without a store.
//!
//! The rules, each a [`Signal`] with the numbers behind it and a weight (what it adds to
//! the partner's score, 0..=1 each, so the score reads as "about this many serious
//! problems"):
//!
//! | code | when | weight |
//! |---|---|---|
//! | `predicted_miss` | an active plan's P(hit) is below [`AT_RISK_P_HIT`] (needs a model) | `(0.5 − P(hit)) / 0.5` |
//! | `key_result_behind` | a key result of an active plan is behind, at risk or not complete by pace (`domain::pace`) | its gap to pace × its share of the plan's weight |
//! | `no_recent_activity` | an active plan has run for [`WINDOW_DAYS`] and nothing was done in the last [`WINDOW_DAYS`], on any plan of the partner | `days since the last done activity / (2 × window)`, at most 1 (1 when nothing was ever done) |
//! | `ending_with_gap` | an active plan ends within [`WINDOW_DAYS`] below its target (attainment to date < 1) | `gap × (1 − days left / (2 × window))` |
//! | `recently_dismissed` | recommendations on the partner's active plans were dismissed within the contact window ([`DISMISS_DAYS`]) | `0.2` a dismissal, at most `0.6` |

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::eligibility::DISMISS_DAYS;
use super::portfolio::AT_RISK_P_HIT;
use super::NbaError;
use crate::domain::pace::elapsed_fraction;
use crate::domain::{
    kr_pace, ActivityStatus, Feedback, FeedbackResponse, Id, Pace, Partner, PlanRecord,
};
use crate::model::outcome::{OutcomeModel, Prediction};
use crate::model::pipeline;
use crate::store::Store;

/// "Recently", "soon" and "stalled" in days: a month, the rhythm of a monthly review.
pub const WINDOW_DAYS: i64 = 30;

/// Weight of one recent dismissal, and the most dismissals count for: a few dismissals
/// say the recommendations do not fit the partner (or the relationship is strained);
/// many more say little more.
const DISMISSAL_WEIGHT: f64 = 0.2;
const MAX_DISMISSALS_COUNTED: usize = 3;

/// Why a partner needs attention, with the numbers behind it. Serialised with a `code`
/// field naming the variant (`predicted_miss`, `key_result_behind`...).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
#[schema(as = AttentionSignal)]
pub enum Signal {
    /// An active plan is predicted to miss its target.
    PredictedMiss {
        #[schema(value_type = String)]
        plan_id: Id,
        p_hit: f64,
        expected_attainment: f64,
        interval_low: f64,
        interval_high: f64,
    },
    /// A key result is behind the pace its period calls for.
    KeyResultBehind {
        #[schema(value_type = String)]
        plan_id: Id,
        #[schema(value_type = String)]
        kr_id: Id,
        metric: Option<String>,
        #[schema(value_type = super::openapi::PaceSchema)]
        status: Pace,
        target: f64,
        realized: Option<f64>,
        /// Share of the target realized (capped at 2; unknown counts as 0).
        progress: f64,
        /// Share of the key result's period elapsed: the progress due now.
        expected: f64,
        /// `expected − progress`: how far behind pace, in shares of the target.
        gap: f64,
    },
    /// Nothing was done lately although a plan is running.
    NoRecentActivity {
        /// The last done activity on or before as_of, on any plan of the partner.
        last_done: Option<NaiveDate>,
        days_since: Option<i64>,
        window_days: i64,
    },
    /// An active plan ends soon below its target.
    EndingWithGap {
        #[schema(value_type = String)]
        plan_id: Id,
        end_date: NaiveDate,
        days_left: i64,
        /// Attainment to date (key results as recorded on as_of).
        attainment: f64,
        /// `1 − attainment`.
        gap: f64,
        /// The model's expected final attainment, when there is a model.
        expected_attainment: Option<f64>,
    },
    /// Recommendations were dismissed recently.
    RecentlyDismissed {
        dismissals: usize,
        /// The dismissed kinds, sorted.
        kinds: Vec<String>,
        last_on: NaiveDate,
        window_days: i64,
    },
}

impl Signal {
    /// The stable machine code (also the serialised `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::PredictedMiss { .. } => "predicted_miss",
            Self::KeyResultBehind { .. } => "key_result_behind",
            Self::NoRecentActivity { .. } => "no_recent_activity",
            Self::EndingWithGap { .. } => "ending_with_gap",
            Self::RecentlyDismissed { .. } => "recently_dismissed",
        }
    }
}

/// One reason: the signal, a sentence a manager reads, and what it adds to the score.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = AttentionReason)]
pub struct Reason {
    #[serde(flatten)]
    pub signal: Signal,
    pub text: String,
    pub weight: f64,
}

/// A partner that needs attention.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartnerAttention {
    #[schema(value_type = String)]
    pub partner_id: Id,
    pub name: Option<String>,
    /// The partner's manager of record (the list may hold partners only because the
    /// manager owns one of their plans).
    #[schema(value_type = Option<String>)]
    pub manager_id: Option<Id>,
    pub active_plans: usize,
    /// Σ of the reasons' weights.
    pub score: f64,
    /// Heaviest first.
    pub reasons: Vec<Reason>,
}

/// A manager's attention list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Attention {
    pub tenant: String,
    #[schema(value_type = String)]
    pub manager_id: Id,
    pub as_of: NaiveDate,
    /// The manager's partners, with or without a reason: 0 means the manager has none
    /// (unknown manager), as opposed to none needing attention.
    pub partners_considered: usize,
    /// Whether a model predicted the plans; without one `predicted_miss` is never raised
    /// and `ending_with_gap` has no expected attainment.
    pub with_predictions: bool,
    /// Partners with at least one reason, highest score first (ties by partner id), at
    /// most the `limit` asked for.
    pub partners: Vec<PartnerAttention>,
}

/// One partner as [`assess`] reads it.
pub struct PartnerFacts<'a> {
    pub partner: &'a Partner,
    /// Its active plans, each with its prediction when there is a model.
    pub active: Vec<(&'a PlanRecord, Option<Prediction>)>,
    /// The last done activity on or before as_of, on any plan of the partner.
    pub last_done: Option<NaiveDate>,
    /// Feedback on its active plans.
    pub feedback: Vec<Feedback>,
}

/// The partners of `manager_id`, those that need attention on `as_of` with their reasons,
/// highest score first, at most `limit`. A manager's partners are those whose manager is
/// `manager_id`, and those with an active plan `manager_id` owns; every active plan of
/// such a partner is looked at, whoever owns it. An unknown manager gets an empty list
/// with `partners_considered` 0. Without a model the reasons that need predictions are
/// skipped.
///
/// # Errors
/// [`NbaError::Store`] when the store cannot be read.
///
/// # Cancel safety
/// Read-only, so cancel safe.
pub async fn attention(
    store: &Store,
    model: Option<&OutcomeModel>,
    tenant: &str,
    manager_id: &Id,
    as_of: NaiveDate,
    limit: usize,
) -> Result<Attention, NbaError> {
    let view = ManagerView::read(store, tenant, manager_id).await?;
    attention_among(store, model, tenant, manager_id, as_of, limit, &view).await
}

/// What the attention list reads of the tenant for one manager. A caller that needs the
/// same records (the dashboard's manager page) reads them once and passes them to
/// [`attention_among`].
pub struct ManagerView {
    /// The tenant's active plans.
    pub active: Vec<PlanRecord>,
    /// The manager's partners ([`managed_partners`]).
    pub partners: Vec<Partner>,
    /// The tenant's feedback.
    pub feedback: Vec<Feedback>,
}

impl ManagerView {
    /// # Errors
    /// [`NbaError::Store`] when the store cannot be read.
    pub async fn read(store: &Store, tenant: &str, manager_id: &Id) -> Result<Self, NbaError> {
        let active = store.active_plans(tenant).await?;
        let partners = managed_partners(manager_id, store.partners(tenant).await?, &active);
        let feedback = store.feedback(tenant).await?;
        Ok(Self {
            active,
            partners,
            feedback,
        })
    }
}

/// [`attention`] over records already read.
///
/// # Errors
/// [`NbaError::Store`] when the store cannot be read.
pub async fn attention_among(
    store: &Store,
    model: Option<&OutcomeModel>,
    tenant: &str,
    manager_id: &Id,
    as_of: NaiveDate,
    limit: usize,
    view: &ManagerView,
) -> Result<Attention, NbaError> {
    let (active, partners) = (&view.active, &view.partners);
    let mut by_partner: HashMap<&str, Vec<&PlanRecord>> = HashMap::new();
    for record in active {
        by_partner
            .entry(record.plan.partner_id.as_str())
            .or_default()
            .push(record);
    }

    let mut feedback_by_plan: HashMap<&str, Vec<&Feedback>> = HashMap::new();
    for f in &view.feedback {
        feedback_by_plan
            .entry(f.plan_id.as_str())
            .or_default()
            .push(f);
    }
    let mut listed = Vec::new();
    for partner in partners {
        let plans = by_partner
            .get(partner.partner_id.as_str())
            .cloned()
            .unwrap_or_default();
        let last_done = last_done(store, tenant, partner, &plans, as_of).await?;
        let feedback: Vec<Feedback> = plans
            .iter()
            .filter_map(|r| feedback_by_plan.get(r.plan.plan_id.as_str()))
            .flatten()
            .map(|f| (*f).clone())
            .collect();
        let facts = PartnerFacts {
            partner,
            active: plans
                .iter()
                .map(|r| {
                    let p = model.map(|m| pipeline::predict_record(m, r, Some(partner), as_of));
                    (*r, p)
                })
                .collect(),
            last_done,
            feedback,
        };
        let reasons = assess(&facts, as_of);
        if !reasons.is_empty() {
            listed.push(PartnerAttention {
                partner_id: partner.partner_id.clone(),
                name: partner.name.clone(),
                manager_id: partner.manager_id.clone(),
                active_plans: plans.len(),
                score: reasons.iter().map(|r| r.weight).sum(),
                reasons,
            });
        }
    }
    listed.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.partner_id.cmp(&b.partner_id))
    });
    let needing = listed.len();
    listed.truncate(limit);
    tracing::info!(
        tenant,
        manager_id = %manager_id,
        %as_of,
        partners = partners.len(),
        needing,
        with_predictions = model.is_some(),
        "attention list"
    );
    Ok(Attention {
        tenant: tenant.to_owned(),
        manager_id: manager_id.clone(),
        as_of,
        partners_considered: partners.len(),
        with_predictions: model.is_some(),
        partners: listed,
    })
}

/// A manager's partners: those whose manager of record is `manager_id`, and those with an
/// active plan `manager_id` owns (a plan owner looks after the partner for that plan).
pub fn managed_partners(
    manager_id: &Id,
    partners: Vec<Partner>,
    active: &[PlanRecord],
) -> Vec<Partner> {
    let owned: BTreeSet<&str> = active
        .iter()
        .filter(|r| r.plan.owner_id.as_ref() == Some(manager_id))
        .map(|r| r.plan.partner_id.as_str())
        .collect();
    partners
        .into_iter()
        .filter(|p| {
            p.manager_id.as_ref() == Some(manager_id) || owned.contains(p.partner_id.as_str())
        })
        .collect()
}

/// The last done activity on or before `as_of` on any plan of the partner. The active
/// plans answer when they hold one inside the window; only otherwise are the partner's
/// other plans read (a plan closed last week counts as recent activity too).
async fn last_done(
    store: &Store,
    tenant: &str,
    partner: &Partner,
    active: &[&PlanRecord],
    as_of: NaiveDate,
) -> Result<Option<NaiveDate>, NbaError> {
    let latest = |records: &mut dyn Iterator<Item = &PlanRecord>| {
        records
            .flat_map(|r| &r.activities)
            .filter(|a| a.status == ActivityStatus::Done && a.date <= as_of)
            .map(|a| a.date)
            .max()
    };
    let from_active = latest(&mut active.iter().copied());
    if from_active.is_some_and(|d| (as_of - d).num_days() < WINDOW_DAYS) || active.is_empty() {
        // Without an active plan the rule does not apply, so nothing more is needed.
        return Ok(from_active);
    }
    let all = store.partner_plans(tenant, &partner.partner_id).await?;
    Ok(latest(&mut all.iter()))
}

/// The reasons one partner needs attention on `as_of`, heaviest first; empty when it
/// does not. See the module docs for the rules and weights.
pub fn assess(facts: &PartnerFacts<'_>, as_of: NaiveDate) -> Vec<Reason> {
    let mut reasons = Vec::new();
    for (record, prediction) in &facts.active {
        if let Some(p) = prediction {
            reasons.extend(predicted_miss(record, p));
        }
        reasons.extend(behind_pace(record, as_of));
        reasons.extend(ending_with_gap(record, prediction.as_ref(), as_of));
    }
    reasons.extend(stalled(facts, as_of));
    reasons.extend(dismissed(&facts.feedback, as_of));
    reasons.retain(|r| r.weight.is_finite() && r.weight > 0.0);
    reasons.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    reasons
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn predicted_miss(record: &PlanRecord, p: &Prediction) -> Option<Reason> {
    let finite = [
        p.p_hit,
        p.expected_attainment,
        p.interval_low,
        p.interval_high,
    ]
    .iter()
    .all(|v| v.is_finite());
    if !finite || p.p_hit >= AT_RISK_P_HIT {
        return None;
    }
    let plan_id = record.plan.plan_id.clone();
    Some(Reason {
        text: format!(
            "plan {plan_id} is predicted to miss: P(hit) {}, expected attainment {} \
             (80% interval {} to {})",
            pct(p.p_hit),
            pct(p.expected_attainment),
            pct(p.interval_low),
            pct(p.interval_high)
        ),
        weight: (AT_RISK_P_HIT - p.p_hit) / AT_RISK_P_HIT,
        signal: Signal::PredictedMiss {
            plan_id,
            p_hit: p.p_hit,
            expected_attainment: p.expected_attainment,
            interval_low: p.interval_low,
            interval_high: p.interval_high,
        },
    })
}

/// Key results of the plan (as known on `as_of`) that are behind, at risk or not
/// complete by pace. Key results without a target or weight are not judged.
fn behind_pace(record: &PlanRecord, as_of: NaiveDate) -> Vec<Reason> {
    let now = record.as_of(as_of);
    let (start, end) = (now.plan.start_date, now.plan.end_date);
    let defined = |t: Option<f64>, w: f64| t.is_some_and(|t| t.is_finite() && t > 0.0) && w > 0.0;
    let total_weight: f64 = now
        .key_results
        .iter()
        .filter(|kr| defined(kr.target, kr.weight))
        .map(|kr| kr.weight)
        .sum();
    let mut out = Vec::new();
    for kr in &now.key_results {
        let Some(target) = kr.target.filter(|_| defined(kr.target, kr.weight)) else {
            continue;
        };
        let due = kr.due_date.unwrap_or(end);
        let status = kr_pace(kr.target, kr.realized, start, due, as_of);
        if !matches!(status, Pace::Behind | Pace::AtRisk | Pace::NotComplete) {
            continue;
        }
        let progress = (kr.realized.unwrap_or(0.0) / target).clamp(0.0, 2.0);
        let expected = elapsed_fraction(start, due, as_of);
        let gap = expected - progress;
        let name = kr
            .metric
            .clone()
            .unwrap_or_else(|| format!("key result {}", kr.kr_id));
        let status_words = status.as_str().replace('_', " ");
        out.push(Reason {
            text: format!(
                "{name} of plan {} is {status_words}: {} of target at {} of its period \
                 ({:.0} points short of pace)",
                now.plan.plan_id,
                pct(progress),
                pct(expected),
                gap * 100.0
            ),
            weight: gap.clamp(0.0, 1.0) * kr.weight / total_weight,
            signal: Signal::KeyResultBehind {
                plan_id: now.plan.plan_id.clone(),
                kr_id: kr.kr_id.clone(),
                metric: kr.metric.clone(),
                status,
                target,
                realized: kr.realized,
                progress,
                expected,
                gap,
            },
        });
    }
    out
}

fn ending_with_gap(
    record: &PlanRecord,
    prediction: Option<&Prediction>,
    as_of: NaiveDate,
) -> Option<Reason> {
    let days_left = (record.plan.end_date - as_of).num_days();
    if !(0..=WINDOW_DAYS).contains(&days_left) {
        return None;
    }
    let attainment = record.as_of(as_of).attainment().filter(|a| a.is_finite())?;
    if attainment >= 1.0 {
        return None;
    }
    let gap = 1.0 - attainment;
    let expected = prediction
        .map(|p| p.expected_attainment)
        .filter(|e| e.is_finite());
    let plan_id = record.plan.plan_id.clone();
    let outlook = expected.map_or(String::new(), |e| {
        format!("; expected to end at {}", pct(e))
    });
    let days = if days_left == 1 {
        "1 day".to_owned()
    } else {
        format!("{days_left} days")
    };
    Some(Reason {
        text: format!(
            "plan {plan_id} ends in {days} at {} of target ({:.0} points to go){outlook}",
            pct(attainment),
            gap * 100.0
        ),
        weight: gap.clamp(0.0, 1.0) * (1.0 - days_left as f64 / (2 * WINDOW_DAYS) as f64),
        signal: Signal::EndingWithGap {
            plan_id,
            end_date: record.plan.end_date,
            days_left,
            attainment,
            gap,
            expected_attainment: expected,
        },
    })
}

/// No done activity in the window while an active plan has been running for all of it
/// (a plan that started last week has not stalled yet).
fn stalled(facts: &PartnerFacts<'_>, as_of: NaiveDate) -> Option<Reason> {
    let running = facts
        .active
        .iter()
        .any(|(r, _)| (as_of - r.plan.start_date).num_days() >= WINDOW_DAYS);
    let days_since = facts.last_done.map(|d| (as_of - d).num_days());
    if !running || days_since.is_some_and(|d| d < WINDOW_DAYS) {
        return None;
    }
    let text = match (facts.last_done, days_since) {
        (Some(last), Some(days)) => format!(
            "no done activity in the last {WINDOW_DAYS} days (the last on {last}, {days} days ago)"
        ),
        _ => "no done activity recorded on any plan".to_owned(),
    };
    Some(Reason {
        text,
        weight: days_since.map_or(1.0, |d| (d as f64 / (2 * WINDOW_DAYS) as f64).min(1.0)),
        signal: Signal::NoRecentActivity {
            last_done: facts.last_done,
            days_since,
            window_days: WINDOW_DAYS,
        },
    })
}

/// Dismissals dated in the contact window up to `as_of`.
fn dismissed(feedback: &[Feedback], as_of: NaiveDate) -> Option<Reason> {
    let window = i64::try_from(DISMISS_DAYS).unwrap_or(i64::MAX);
    let recent: Vec<(&Feedback, NaiveDate)> = feedback
        .iter()
        .filter(|f| f.response == FeedbackResponse::Dismissed)
        .map(|f| (f, f.at.date_naive()))
        .filter(|(_, day)| *day <= as_of && (as_of - *day).num_days() < window)
        .collect();
    let last_on = recent.iter().map(|(_, d)| *d).max()?;
    let kinds: Vec<String> = recent
        .iter()
        .map(|(f, _)| f.kind.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let n = recent.len();
    Some(Reason {
        text: format!(
            "{n} recommendation{} dismissed in the last {window} days ({})",
            if n == 1 { "" } else { "s" },
            kinds.join(", ")
        ),
        weight: DISMISSAL_WEIGHT * n.min(MAX_DISMISSALS_COUNTED) as f64,
        signal: Signal::RecentlyDismissed {
            dismissals: n,
            kinds,
            last_on,
            window_days: window,
        },
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::{Activity, KeyResult, Plan, PlanStatus};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    const AS_OF: &str = "2026-03-16";

    /// A Q1 plan (90 days, 74 elapsed on as_of) with one key result at `realized` of 100.
    fn record(plan: &str, start: &str, end: &str, realized: Option<f64>) -> PlanRecord {
        PlanRecord {
            plan: Plan {
                plan_id: id(plan),
                partner_id: id("x"),
                start_date: d(start),
                end_date: d(end),
                name: None,
                template: None,
                status: PlanStatus::Active,
                owner_id: None,
            },
            key_results: vec![KeyResult {
                kr_id: id(&format!("{plan}-kr")),
                plan_id: id(plan),
                metric: Some("revenue".into()),
                target: Some(100.0),
                realized,
                objective: None,
                unit: Some("EUR".into()),
                weight: 1.0,
                due_date: None,
            }],
            progress: Vec::new(),
            activities: Vec::new(),
        }
    }

    fn prediction(p_hit: f64) -> Prediction {
        Prediction {
            p_hit,
            expected_attainment: 0.7,
            interval_low: 0.5,
            interval_high: 0.9,
        }
    }

    fn dismissal(kind: &str, at: &str, response: FeedbackResponse) -> Feedback {
        Feedback {
            recommendation_id: id(&format!("rec-{kind}-{}", &at[..10])),
            plan_id: id("p1"),
            kind: kind.into(),
            response,
            at: DateTime::parse_from_rfc3339(at).unwrap(),
            user_id: None,
        }
    }

    fn codes(reasons: &[Reason]) -> Vec<&'static str> {
        let mut c: Vec<_> = reasons.iter().map(|r| r.signal.code()).collect();
        c.sort_unstable();
        c
    }

    #[test]
    fn a_healthy_partner_has_no_reason() {
        let partner = Partner::new(id("x"));
        let plan = record("p1", "2026-01-01", "2026-06-30", Some(60.0));
        let facts = PartnerFacts {
            partner: &partner,
            active: vec![(&plan, Some(prediction(0.8)))],
            last_done: Some(d("2026-03-10")),
            feedback: Vec::new(),
        };
        assert!(assess(&facts, d(AS_OF)).is_empty());
    }

    #[test]
    fn every_rule_fires_with_its_numbers() {
        let partner = Partner::new(id("x"));
        // Ends in 15 days at 20% of target: at risk by pace and ending with a gap.
        let plan = record("p1", "2026-01-01", "2026-03-31", Some(20.0));
        let facts = PartnerFacts {
            partner: &partner,
            active: vec![(&plan, Some(prediction(0.2)))],
            last_done: Some(d("2026-01-20")),
            feedback: vec![
                dismissal(
                    "qbr",
                    "2026-03-10T09:00:00+00:00",
                    FeedbackResponse::Dismissed,
                ),
                dismissal(
                    "pilot",
                    "2026-03-01T09:00:00+00:00",
                    FeedbackResponse::Dismissed,
                ),
                dismissal(
                    "qbr",
                    "2026-01-01T09:00:00+00:00",
                    FeedbackResponse::Dismissed,
                ),
                dismissal(
                    "recognition",
                    "2026-03-12T09:00:00+00:00",
                    FeedbackResponse::Accepted,
                ),
            ],
        };
        let reasons = assess(&facts, d(AS_OF));
        assert_eq!(
            codes(&reasons),
            [
                "ending_with_gap",
                "key_result_behind",
                "no_recent_activity",
                "predicted_miss",
                "recently_dismissed"
            ]
        );
        assert!(reasons.windows(2).all(|w| w[0].weight >= w[1].weight));
        for r in &reasons {
            match &r.signal {
                Signal::PredictedMiss { p_hit, .. } => {
                    assert_eq!(*p_hit, 0.2);
                    assert!((r.weight - 0.6).abs() < 1e-12);
                }
                Signal::KeyResultBehind {
                    status,
                    progress,
                    expected,
                    gap,
                    ..
                } => {
                    assert_eq!(*status, Pace::AtRisk);
                    assert!((progress - 0.2).abs() < 1e-12);
                    assert!((expected - 74.0 / 89.0).abs() < 1e-12, "{expected}");
                    assert!((gap - (74.0 / 89.0 - 0.2)).abs() < 1e-12);
                    assert!((r.weight - gap).abs() < 1e-12, "the only key result");
                }
                Signal::EndingWithGap {
                    days_left,
                    attainment,
                    gap,
                    expected_attainment,
                    ..
                } => {
                    assert_eq!(*days_left, 15);
                    assert!((attainment - 0.2).abs() < 1e-12);
                    assert!((gap - 0.8).abs() < 1e-12);
                    assert_eq!(*expected_attainment, Some(0.7));
                    assert!((r.weight - 0.8 * 0.75).abs() < 1e-12);
                }
                Signal::NoRecentActivity { days_since, .. } => {
                    assert_eq!(*days_since, Some(55));
                    assert!((r.weight - 55.0 / 60.0).abs() < 1e-12);
                }
                Signal::RecentlyDismissed {
                    dismissals,
                    kinds,
                    last_on,
                    ..
                } => {
                    assert_eq!(*dismissals, 2, "the January one is outside the window");
                    assert_eq!(kinds, &["pilot", "qbr"]);
                    assert_eq!(*last_on, d("2026-03-10"));
                    assert!((r.weight - 0.4).abs() < 1e-12);
                }
            }
            assert!(!r.text.contains("NaN"), "{}", r.text);
        }
        let json = serde_json::to_value(&reasons[0]).unwrap();
        assert_eq!(json["code"], reasons[0].signal.code());
        assert!(json["text"].is_string() && json["weight"].is_number());
    }

    #[test]
    fn without_a_model_predictions_are_not_needed() {
        let partner = Partner::new(id("x"));
        let plan = record("p1", "2026-01-01", "2026-03-31", Some(20.0));
        let facts = PartnerFacts {
            partner: &partner,
            active: vec![(&plan, None)],
            last_done: Some(d("2026-03-15")),
            feedback: Vec::new(),
        };
        let reasons = assess(&facts, d(AS_OF));
        assert_eq!(codes(&reasons), ["ending_with_gap", "key_result_behind"]);
        assert!(reasons.iter().all(|r| !matches!(
            r.signal,
            Signal::EndingWithGap {
                expected_attainment: Some(_),
                ..
            }
        )));
    }

    #[test]
    fn a_young_plan_has_not_stalled_and_a_never_active_partner_is_fully_stalled() {
        let partner = Partner::new(id("x"));
        let young = record("p1", "2026-03-01", "2026-06-30", None);
        let facts = PartnerFacts {
            partner: &partner,
            active: vec![(&young, None)],
            last_done: None,
            feedback: Vec::new(),
        };
        assert!(stalled(&facts, d(AS_OF)).is_none());
        let old = record("p2", "2026-01-01", "2026-06-30", None);
        let facts = PartnerFacts {
            active: vec![(&old, None)],
            ..facts
        };
        let r = stalled(&facts, d(AS_OF)).unwrap();
        assert_eq!(r.weight, 1.0);
        assert!(matches!(
            r.signal,
            Signal::NoRecentActivity {
                last_done: None,
                days_since: None,
                ..
            }
        ));
    }

    #[test]
    fn activity_is_counted_where_the_caller_found_it() {
        // `assess` trusts `last_done`; the store side computes it from every plan.
        let a = Activity {
            activity_id: id("a1"),
            plan_id: id("p1"),
            kind: "qbr".into(),
            date: d("2026-03-01"),
            quantity: 1.0,
            status: ActivityStatus::Done,
            responsible: None,
            kr_id: None,
        };
        let mut plan = record("p1", "2026-01-01", "2026-06-30", Some(80.0));
        plan.activities.push(a);
        let partner = Partner::new(id("x"));
        let facts = PartnerFacts {
            partner: &partner,
            active: vec![(&plan, None)],
            last_done: Some(d("2026-03-01")),
            feedback: Vec::new(),
        };
        assert!(stalled(&facts, d(AS_OF)).is_none());
    }
}
