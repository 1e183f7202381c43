//! The leadership digest in the template's words.

use super::{footer, push_missing, risk_item, status_words, unit_name};
use crate::digest::document::{Document, Item, Section};
use crate::digest::facts::{LeadershipFacts, Missing};
use crate::digest::locale::Locale;

pub(super) fn document(f: &LeadershipFacts, l: &Locale) -> Document {
    let mut summary = vec![format!(
        "{} active plans across {} partners on {}.",
        f.active_plans,
        f.partners,
        l.date(f.as_of)
    )];
    if let (Some(t), Some(level)) = (&f.total, f.level_percent) {
        summary.push(format!(
            "They are predicted to end at {} of target on average ({} interval {}–{}); {} are expected to hit and {} are at risk.",
            l.percent(t.expected_percent),
            l.percent(level),
            l.percent(t.low_percent),
            l.percent(t.high_percent),
            l.number(t.expected_hits, 1),
            t.at_risk
        ));
    }
    if let Some(c) = &f.change {
        let attainment = if c.expected_percent_then == c.expected_percent_now {
            format!("held at {}", l.percent(c.expected_percent_now))
        } else {
            format!(
                "moved from {} to {}",
                l.percent(c.expected_percent_then),
                l.percent(c.expected_percent_now)
            )
        };
        let risks = if c.at_risk_then == c.at_risk_now {
            format!("plans at risk held at {}", c.at_risk_now)
        } else {
            format!(
                "plans at risk went from {} to {}",
                c.at_risk_then, c.at_risk_now
            )
        };
        summary.push(format!(
            "Since {}, the predicted attainment {attainment} and {risks}.",
            l.date(f.since)
        ));
    }
    let mut sections = Vec::new();
    for g in &f.groupings {
        let mut s = Section::new(format!(
            "Predicted against target by {}",
            g.group_by.replace('_', " ")
        ));
        for line in &g.groups {
            s.items.push(Item::Range {
                text: format!(
                    "{}: {} ({}–{}), {} plans, {} at risk",
                    line.key,
                    l.percent(line.expected_percent),
                    l.percent(line.low_percent),
                    l.percent(line.high_percent),
                    line.plans,
                    line.at_risk
                ),
                percent: line.expected_percent,
                low: line.low_percent,
                high: line.high_percent,
            });
        }
        sections.push(s);
    }
    let mut status = Section::new("Where the plans stand").or_else("No active plans.");
    if f.active_plans > 0 {
        status
            .items
            .push(Item::Bullet(status_words(&f.plan_status).join(", ")));
    }
    sections.push(status);
    let mut pvr = Section::new("Plan against realized").or_else("No key results with targets.");
    for u in &f.plan_vs_realized {
        let unit = (u.unit != crate::digest::facts::NONE_UNIT).then_some(u.unit.as_str());
        let mut text = format!(
            "{}: {} of {} realized ({})",
            unit_name(&u.unit),
            l.amount(u.realized, unit),
            l.amount(u.target, unit),
            l.percent(u.realized_percent)
        );
        if let (Some(e), Some(lo), Some(hi), Some(p)) = (
            u.expected,
            u.expected_low,
            u.expected_high,
            u.expected_percent,
        ) {
            text.push_str(&format!(
                "; predicted to end at {} ({}, between {} and {})",
                l.amount(e, unit),
                l.percent(p),
                l.amount(lo, unit),
                l.amount(hi, unit)
            ));
        }
        pvr.items.push(Item::Progress {
            text,
            percent: Some(u.realized_percent),
            status: None,
            depth: 0,
        });
    }
    sections.push(pvr);
    let mut risks =
        Section::new("Biggest risks").or_else(if f.missing.contains(&Missing::NoModel) {
            "No predictions without a trained model."
        } else {
            "No plan is predicted at risk."
        });
    for r in &f.risks {
        risks.items.push(risk_item(r, l));
    }
    sections.push(risks);
    let mut wins = Section::new("Wins").or_else(format!(
        "No plan reached its target since {}.",
        l.date(f.since)
    ));
    for w in &f.wins {
        let who = w
            .partner_name
            .clone()
            .unwrap_or_else(|| w.partner_id.clone());
        let plan = w.plan_name.clone().unwrap_or_else(|| w.plan_id.clone());
        let when = w.closed_on.map_or_else(
            || "still running".to_owned(),
            |d| format!("closed {}", l.date(d)),
        );
        wins.items.push(Item::Bullet(format!(
            "{who}, {plan}: {} of target ({when})",
            l.percent(w.attainment_percent)
        )));
    }
    sections.push(wins);
    push_missing(&mut sections, &f.missing, f.since, l);
    let subject = match &f.total {
        Some(t) => format!(
            "Partner plans on {}: predicted {} of target",
            l.date(f.as_of),
            l.percent(t.expected_percent)
        ),
        None => format!("Partner plans on {}", l.date(f.as_of)),
    };
    Document {
        subject,
        summary,
        sections,
        footer: footer(f.as_of, f.since, l),
    }
}
