//! Which key result an action serves, how far behind it is, and the reasons a manager
//! reads: why now, what similar partners did, what to expect.

use chrono::NaiveDate;
use serde::Serialize;

use super::effect::{Estimate, PeerComparison, Source, Z80};
use crate::domain::pace::elapsed_fraction;
use crate::domain::{kr_pace, ActionSpec, KeyResult, PlanRecord};

/// A key result with a defined target, held against the pace due on `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
/// actions that serve everything or when the plan names no metrics.
pub fn relevance(spec: &ActionSpec, standings: &[KrStanding]) -> f64 {
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
/// one of the plan.
pub fn served_kr<'a>(spec: &ActionSpec, standings: &'a [KrStanding]) -> Option<&'a KrStanding> {
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

/// The expected effect and where it comes from, in one sentence.
pub fn effect_sentence(e: &Estimate) -> String {
    let (low, high) = e.interval(Z80);
    let sources = e
        .components
        .iter()
        .map(|c| format!("{} {:.0}%", c.source.as_str(), c.weight * 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    let basis = if e.basis() == Source::Prior {
        " (best-practice prior: no learned evidence yet)"
    } else {
        ""
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
    fn urgency_grows_with_the_gap_and_is_capped() {
        assert_eq!(urgency(None), 1.0);
        assert_eq!(urgency(Some(&standing("revenue", -0.2, 1.0))), 1.0);
        assert_eq!(urgency(Some(&standing("revenue", 0.2, 1.0))), 1.2);
        assert_eq!(urgency(Some(&standing("revenue", 0.9, 1.0))), 1.5);
    }
}
