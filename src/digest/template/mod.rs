//! The template wording: facts into a [`Document`]. Every number it writes is a number of
//! the facts (the digest tests parse the output and check each one), and every empty
//! list says what is missing instead.

//!
//! One file per audience, as in `facts/`: [`partner`], [`manager`], [`leadership`]; a
//! plan's lines (shared by the partner and the manager) in [`plans`]; the small wordings
//! every audience uses here.

mod leadership;
mod manager;
mod partner;
mod plans;

use super::document::{Document, Item, Section};
use super::facts::{AtRiskPlan, Facts, Missing, StatusCounts};
use super::locale::Locale;
use plans::behind_words;

/// The document of `facts` in the template's words.
pub fn document(facts: &Facts, l: &Locale) -> Document {
    match facts {
        Facts::Partner(f) => partner::document(f, l),
        Facts::Manager(f) => manager::document(f, l),
        Facts::Leadership(f) => leadership::document(f, l),
    }
}

pub(super) fn risk_item(r: &AtRiskPlan, l: &Locale) -> Item {
    let who = r
        .partner_name
        .clone()
        .unwrap_or_else(|| r.partner_id.clone());
    let plan = r.plan_name.clone().unwrap_or_else(|| r.plan_id.clone());
    let why = r
        .main_reason
        .as_ref()
        .map(|kr| format!("; furthest behind: {}", behind_words(kr, l)))
        .unwrap_or_default();
    Item::Range {
        text: format!(
            "{who}, {plan}: {} chance to hit, predicted {} ({}–{}){why}",
            l.percent(r.prediction.p_hit_percent),
            l.percent(r.prediction.expected_percent),
            l.percent(r.prediction.low_percent),
            l.percent(r.prediction.high_percent)
        ),
        percent: r.prediction.expected_percent,
        low: r.prediction.low_percent,
        high: r.prediction.high_percent,
    }
}

/// `2 on track, 1 behind`: the non-zero counts only.
pub(super) fn status_words(c: &StatusCounts) -> Vec<String> {
    let words: Vec<String> = [
        (c.complete, "complete"),
        (c.on_track, "on track"),
        (c.behind, "behind"),
        (c.at_risk, "at risk"),
        (c.not_complete, "not complete"),
        (c.not_defined, "without targets"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    if words.is_empty() {
        vec!["none".to_owned()]
    } else {
        words
    }
}

pub(super) fn dimension_words(d: &str) -> String {
    match d {
        "nps" => "an NPS".into(),
        "trust" => "a trust score".into(),
        "mean_attainment" => "a mean plan attainment".into(),
        "activities_per_closed_plan" => "activities per plan".into(),
        "certified_reps" => "certified reps".into(),
        other => format!(
            "a {} score",
            other
                .strip_prefix("score_")
                .unwrap_or(other)
                .replace('_', " ")
        ),
    }
}

pub(super) fn unit_name(unit: &str) -> &str {
    match unit {
        "#" => "Counts",
        "score" => "Scores",
        crate::digest::facts::NONE_UNIT => "Without a unit",
        other => other,
    }
}

pub(super) fn push_missing(
    sections: &mut Vec<Section>,
    missing: &[Missing],
    since: chrono::NaiveDate,
    l: &Locale,
) {
    if missing.is_empty() {
        return;
    }
    let mut s = Section::new("Not in this digest");
    for m in missing {
        s.items.push(Item::Bullet(match m {
            Missing::NoActivePlans => {
                "No active plan: agree a mutual success plan to see progress here.".to_owned()
            }
            Missing::UndefinedTargets { plan_id, count } => format!(
                "{count} key result(s) of plan {plan_id} have no target, so their progress cannot be judged."
            ),
            Missing::NoProgress { plan_id } => {
                format!("No progress recorded yet for plan {plan_id}.")
            }
            Missing::NoModel => "No trained model yet: no predicted outcomes, and actions rest on best practice only.".to_owned(),
            Missing::NoPeers => "No similar-partner index yet: no peer comparison.".to_owned(),
            Missing::NoPortfolio => "No partners with an active plan in this portfolio.".to_owned(),
            Missing::NoHistory => format!(
                "The plans started after {}: no earlier figures to compare with.",
                l.date(since)
            ),
        }));
    }
    sections.push(s);
}

/// `text` ending in a full stop (or the mark it already ends with).
pub(super) fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

pub(super) fn footer(as_of: chrono::NaiveDate, since: chrono::NaiveDate, l: &Locale) -> String {
    format!(
        "Figures as of {} from the plan records in nextbest; changes since {}.",
        l.date(as_of),
        l.date(since)
    )
}
