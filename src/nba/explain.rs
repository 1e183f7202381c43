//! Which key result an action serves, how far behind it is, and the reasons a manager
//! reads: why now, what similar partners did, what to expect.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::effect::{Estimate, PeerComparison, Source, Z80};
use crate::domain::pace::elapsed_fraction;
use crate::domain::{kr_pace, ActionSpec, KeyResult, PlanRecord};

/// A key result with a defined target, held against the pace due on `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KrStanding {
    pub kr_id: String,
    pub metric: Option<String>,
    pub objective: Option<String>,
    pub target: f64,
    pub realized: Option<f64>,
    /// Share of the target realized (capped at 2).
    pub progress: Option<f64>,
    /// Share of the period elapsed by `as_of`: the progress due now.
    pub expected: f64,
    /// expected - progress; positive when behind (an unknown value counts as fully behind).
    pub gap: f64,
    #[schema(value_type = super::openapi::PaceSchema)]
    pub status: &'static str,
    pub weight: f64,
}

/// The plan's key results with targets, as they stand.
pub fn standings(record: &PlanRecord, as_of: NaiveDate) -> Vec<KrStanding> {
    let end = record.plan.end_date;
    let start = record.plan.start_date;
    record
        .key_results
        .iter()
        .filter_map(|kr| {
            let target = kr.target.filter(|t| *t > 0.0)?;
            let due = kr.due_date.unwrap_or(end);
            let expected = elapsed_fraction(start, due, as_of);
            let progress = kr.realized.map(|r| (r / target).clamp(0.0, 2.0));
            Some(KrStanding {
                kr_id: kr.kr_id.to_string(),
                metric: kr.metric.clone(),
                objective: kr.objective.clone(),
                target,
                realized: kr.realized,
                progress,
                expected,
                gap: expected - progress.unwrap_or(0.0),
                status: kr_pace(kr.target, kr.realized, start, due, as_of).as_str(),
                weight: kr.weight,
            })
        })
        .collect()
}

/// Metric words each action category moves (the catalog's "moves" column, grouped), so
/// a selling action serves a revenue key result and an enablement action a
/// certification one. Governance and planning serve every key result.
fn serves(category: &str, metric: &str) -> Option<bool> {
    let words: &[&str] = match category {
        "enablement" => &["cert", "train", "enabl", "skill", "capab", "rep"],
        "selling" => &[
            "revenue", "pipeline", "deal", "win", "booking", "arr", "sales",
        ],
        "marketing" => &["pipeline", "lead", "revenue", "opportun", "mql", "aware"],
        "growth" => &[
            "revenue",
            "arr",
            "upsell",
            "clv",
            "retention",
            "deal",
            "referral",
        ],
        "relationship" => &["nps", "satisf", "trust", "csat", "engag"],
        _ => return None,
    };
    let metric = metric.to_ascii_lowercase();
    Some(words.iter().any(|w| metric.contains(w)))
}

/// How much an action matters to this plan's key results: the weighted share of the
/// plan's targets it serves, mapped to 0.8 (serves none) ..= 1.2 (serves all); 1 for
/// actions that serve everything, when the plan names no metrics, and for an undescribed
/// kind (its category is a placeholder, so the middle of the range).
pub fn relevance(spec: &ActionSpec, standings: &[KrStanding]) -> f64 {
    if !spec.is_described() {
        return 1.0;
    }
    let (mut served, mut total) = (0.0, 0.0);
    for kr in standings {
        let Some(metric) = kr.metric.as_deref().or(kr.objective.as_deref()) else {
            continue;
        };
        match serves(&spec.category, metric) {
            None => return 1.0,
            Some(s) => {
                total += kr.weight;
                if s {
                    served += kr.weight;
                }
            }
        }
    }
    if total <= 0.0 {
        1.0
    } else {
        0.8 + 0.4 * served / total
    }
}

/// The key result an action is for: the most-behind one it serves, else the most-behind
/// one of the plan. None for an undescribed kind: claiming the most-behind key result
/// for it would give it the plan's highest urgency by default.
pub fn served_kr<'a>(spec: &ActionSpec, standings: &'a [KrStanding]) -> Option<&'a KrStanding> {
    if !spec.is_described() {
        return None;
    }
    let most_behind =
        |krs: &mut dyn Iterator<Item = &'a KrStanding>| krs.max_by(|a, b| a.gap.total_cmp(&b.gap));
    let mut serving = standings.iter().filter(|kr| {
        kr.metric
            .as_deref()
            .or(kr.objective.as_deref())
            .and_then(|m| serves(&spec.category, m))
            .unwrap_or(true)
    });
    most_behind(&mut serving).or_else(|| most_behind(&mut standings.iter()))
}

/// Urgency of acting on a plan for an action: 1 when the key result it serves is on
/// pace, up to 1.5 when it is 50 points or more behind.
pub fn urgency(served: Option<&KrStanding>) -> f64 {
    1.0 + served.map_or(0.0, |kr| kr.gap.clamp(0.0, 0.5))
}

/// Urgency of an action tied to no key result (an undescribed kind): the weighted mean
/// of the key results' urgencies, as if it served each alike; 1 for a plan without
/// targets.
pub fn mean_urgency(standings: &[KrStanding]) -> f64 {
    let total: f64 = standings.iter().map(|kr| kr.weight.max(0.0)).sum();
    if total <= 0.0 {
        return 1.0;
    }
    standings
        .iter()
        .map(|kr| kr.weight.max(0.0) * urgency(Some(kr)))
        .sum::<f64>()
        / total
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn kr_name(kr: &KrStanding) -> String {
    kr.metric
        .clone()
        .or_else(|| kr.objective.clone())
        .unwrap_or_else(|| kr.kr_id.clone())
}

/// Why this action, now, in one sentence.
pub fn why_now(spec: &ActionSpec, served: Option<&KrStanding>, stage: Option<&str>) -> String {
    if !spec.is_described() {
        return UNDESCRIBED.to_owned();
    }
    let fit = match stage {
        Some(stage) if !spec.stages.is_empty() => format!("fits the {stage} stage"),
        _ => "fits any stage".to_owned(),
    };
    match served {
        Some(kr) if kr.progress.is_none() => format!(
            "{} has no realized value yet at {} of its period; {}",
            kr_name(kr),
            pct(kr.expected),
            fit
        ),
        Some(kr) if kr.gap > 0.05 => format!(
            "{} is behind: {} of target at {} of its period ({} points short of pace); {}",
            kr_name(kr),
            pct(kr.progress.unwrap_or(0.0)),
            pct(kr.expected),
            ((kr.gap) * 100.0).round(),
            fit
        ),
        Some(kr) => format!(
            "{} is on pace ({} of target at {} of its period); this keeps it there; {}",
            kr_name(kr),
            pct(kr.progress.unwrap_or(0.0)),
            pct(kr.expected),
            fit
        ),
        None => format!("the plan has no key result with a target yet; {fit}"),
    }
}

/// What similar partners did, in one sentence.
pub fn peers_sentence(c: &PeerComparison) -> String {
    format!(
        "{} similar partners ran plans both with and without this: with it {} of target on \
         average ({} plans), without {} ({} plans), {:+.0} points",
        c.partners,
        pct(c.mean_with),
        c.plans_with,
        pct(c.mean_without),
        c.plans_without,
        c.difference() * 100.0
    )
}

/// Why now, for an undescribed kind: nothing says what it serves or where it fits.
pub const UNDESCRIBED: &str =
    "no description in the tenant's actions, so it is tied to no key result and allowed at \
     any stage";

/// How an undescribed kind is estimated, and how to do better.
pub const JUDGED_ON_EVIDENCE: &str =
    "judged on its evidence only: a neutral prior of 0 and wide trust bands on the model and \
     on similar partners, since nothing gives its category, effort or stages; describe it in \
     the actions file to have it ranked like the described kinds";

/// Why a kind the model never saw has no model evidence; `scale` is what its prior was
/// multiplied by to match the tenant's learned effects.
pub fn unseen_sentence(spec: &ActionSpec, scale: f64) -> String {
    let prior = if spec.is_described() {
        format!("the best-practice prior scaled to this tenant's learned effects (x{scale:.2})")
    } else {
        "the neutral prior".to_owned()
    };
    format!(
        "never seen in this tenant's data: the model has no evidence on it, so the estimate \
         rests on {prior} and any similar partners"
    )
}

/// The expected effect and where it comes from, in one sentence.
pub fn effect_sentence(spec: &ActionSpec, e: &Estimate) -> String {
    let (low, high) = e.interval(Z80);
    let sources = e
        .components
        .iter()
        .map(|c| format!("{} {:.0}%", c.source.as_str(), c.weight * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    let basis = match (e.basis(), spec.is_described()) {
        (Source::Prior, true) => " (best-practice prior: no learned evidence yet)",
        (Source::Prior, false) => " (neutral prior: no learned evidence yet)",
        _ => "",
    };
    format!(
        "expected {:+.1} points of attainment (80% interval {:+.1} to {:+.1}; {sources}){basis}",
        e.mean * 100.0,
        low * 100.0,
        high * 100.0
    )
}

/// Key results without a target, for the "fill the gaps" reason.
pub fn undefined_targets(krs: &[KeyResult]) -> usize {
    krs.iter()
        .filter(|k| k.target.is_none_or(|t| t <= 0.0))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Catalog;

    fn standing(metric: &str, gap: f64, weight: f64) -> KrStanding {
        KrStanding {
            kr_id: metric.to_owned(),
            metric: Some(metric.to_owned()),
            objective: None,
            target: 100.0,
            realized: Some(50.0),
            progress: Some(0.5),
            expected: 0.5 + gap,
            gap,
            status: "behind",
            weight,
        }
    }

    #[test]
    fn an_action_serves_the_key_results_its_category_moves() {
        let catalog = Catalog::built_in();
        let call = catalog.get("joint_sales_call").unwrap();
        let training = catalog.get("sales_training").unwrap();
        let krs = [
            standing("revenue", 0.1, 2.0),
            standing("certifications", 0.3, 1.0),
        ];
        assert!(relevance(call, &krs) > relevance(training, &krs));
        assert_eq!(served_kr(call, &krs).unwrap().kr_id, "revenue");
        assert_eq!(served_kr(training, &krs).unwrap().kr_id, "certifications");
        let qbr = catalog.get("qbr").unwrap();
        assert_eq!(relevance(qbr, &krs), 1.0);
        assert_eq!(served_kr(qbr, &krs).unwrap().kr_id, "certifications");
    }

    #[test]
    fn an_undescribed_kind_claims_no_key_result() {
        let krs = [
            standing("revenue", 0.4, 1.0),
            standing("certifications", 0.0, 1.0),
        ];
        let spec = ActionSpec::observed("crm_touch");
        assert_eq!(served_kr(&spec, &krs), None);
        assert_eq!(relevance(&spec, &krs), 1.0);
        assert!(
            (mean_urgency(&krs) - 1.2).abs() < 1e-12,
            "between 1 and 1.4"
        );
        assert_eq!(mean_urgency(&[]), 1.0);
        assert!(why_now(&spec, None, Some("win")).starts_with("no description"));
    }

    #[test]
    fn urgency_grows_with_the_gap_and_is_capped() {
        assert_eq!(urgency(None), 1.0);
        assert_eq!(urgency(Some(&standing("revenue", -0.2, 1.0))), 1.0);
        assert_eq!(urgency(Some(&standing("revenue", 0.2, 1.0))), 1.2);
        assert_eq!(urgency(Some(&standing("revenue", 0.9, 1.0))), 1.5);
    }
}
