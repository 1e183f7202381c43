//! A plan's lines (the plan, its objectives and key results), as the partner digest
//! words them.

use crate::digest::document::{days_left, pace_words, Item};
use crate::digest::facts::{KrLine, ObjectiveLine, PlanFacts};
use crate::digest::locale::Locale;

/// A plan's lines: the plan with its status and prediction, each objective, each key
/// result.
pub(super) fn plan_items(items: &mut Vec<Item>, p: &PlanFacts, l: &Locale) {
    let name = p.name.clone().unwrap_or_else(|| p.plan_id.clone());
    let done = p
        .attainment_percent
        .map(|a| format!(", {} of target so far", l.percent(a)))
        .unwrap_or_default();
    items.push(Item::Progress {
        text: format!(
            "{name} ({} to {}, {}{done})",
            l.date(p.start_date),
            l.date(p.end_date),
            days_left(p.days_left)
        ),
        percent: p.attainment_percent,
        status: Some(p.status),
        depth: 0,
    });
    if let Some(pr) = &p.prediction {
        items.push(Item::Range {
            text: format!(
                "Predicted to end at {} of target (likely {}–{}); {} chance of reaching it",
                l.percent(pr.expected_percent),
                l.percent(pr.low_percent),
                l.percent(pr.high_percent),
                l.percent(pr.p_hit_percent)
            ),
            percent: pr.expected_percent,
            low: pr.low_percent,
            high: pr.high_percent,
        });
    }
    for o in &p.objectives {
        items.push(objective_item(o, l));
        if single(o).is_some() {
            continue;
        }
        for kr in &o.key_results {
            items.push(Item::Progress {
                text: kr_words(kr, l),
                percent: kr.percent,
                status: Some(kr.status),
                depth: 2,
            });
        }
    }
}

/// `Objective = 200,000 EUR / 240,000 EUR (83% completed)`, the book's progress line.
pub(super) fn objective_item(o: &ObjectiveLine, l: &Locale) -> Item {
    let name = o
        .objective
        .clone()
        .unwrap_or_else(|| "Other key results".to_owned());
    // An objective with one key result is that key result: one line, with its pace.
    let due = single(o)
        .map(|kr| format!("; {} due by now", l.percent(kr.due_percent)))
        .unwrap_or_default();
    let text = match (o.realized, o.target, o.percent) {
        (Some(r), Some(t), Some(p)) => format!(
            "{name} = {} / {} ({} completed{due})",
            l.amount(r, o.unit.as_deref()),
            l.amount(t, o.unit.as_deref()),
            l.percent(p)
        ),
        (_, _, Some(p)) => format!("{name}: {} completed", l.percent(p)),
        _ => format!("{name}: no target set"),
    };
    Item::Progress {
        text,
        percent: o.percent,
        status: Some(o.status),
        depth: 1,
    }
}

/// The objective's only key result, when its line says all there is to say.
pub(super) fn single(o: &ObjectiveLine) -> Option<&KrLine> {
    match o.key_results.as_slice() {
        [kr] if o.realized.is_some() && o.target.is_some() => Some(kr),
        _ => None,
    }
}

pub(super) fn kr_words(kr: &KrLine, l: &Locale) -> String {
    let what = kr.metric.clone().unwrap_or_else(|| kr.kr_id.clone());
    let unit = kr.unit.as_deref();
    match (kr.target, kr.percent) {
        (Some(t), Some(p)) => format!(
            "{what}: {} / {} ({}; {} due by now)",
            l.amount(kr.realized.unwrap_or(0.0), unit),
            l.amount(t, unit),
            l.percent(p),
            l.percent(kr.due_percent)
        ),
        _ => match kr.realized {
            Some(r) => format!("{what}: {} so far, no target set", l.amount(r, unit)),
            None => format!("{what}: no target set and nothing recorded"),
        },
    }
}

pub(super) fn behind_words(kr: &KrLine, l: &Locale) -> String {
    let what = kr.metric.clone().unwrap_or_else(|| kr.kr_id.clone());
    format!(
        "{what}: {} of target with {} due by now ({})",
        l.percent(kr.percent.unwrap_or(0)),
        l.percent(kr.due_percent),
        pace_words(kr.status)
    )
}
