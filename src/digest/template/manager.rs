//! The manager digest in the template's words.

use super::{footer, push_missing, risk_item, sentence, status_words};
use crate::digest::document::{Document, Item, Section};
use crate::digest::facts::{ManagerFacts, Missing};
use crate::digest::locale::Locale;

pub(super) fn document(f: &ManagerFacts, l: &Locale) -> Document {
    let mut summary = vec![format!(
        "Your portfolio on {}: {} partners, {} active plans.",
        l.date(f.as_of),
        f.partners,
        f.active_plans
    )];
    if f.active_plans > 0 {
        summary.push(format!(
            "Plans: {}.",
            status_words(&f.plan_status).join(", ")
        ));
    }
    summary.push(if f.needing_attention == 0 {
        "No partner needs attention this week.".to_owned()
    } else {
        format!("Partners needing attention: {}.", f.needing_attention)
    });

    let mut attention = Section::new("Needs attention").or_else("Nobody needs attention.");
    for a in &f.attention {
        let who = a
            .partner_name
            .clone()
            .unwrap_or_else(|| a.partner_id.clone());
        let mut reasons = a.reasons.join("; ");
        if a.more_reasons > 0 {
            reasons.push_str(&format!("; and {} more", a.more_reasons));
        }
        attention
            .items
            .push(Item::Bullet(format!("{who}: {}", sentence(&reasons))));
    }
    let mut risks = Section::new(format!(
        "Plans at risk (below {} chance to hit)",
        l.percent(f.at_risk_below_percent)
    ))
    .or_else(if f.missing.contains(&Missing::NoModel) {
        "No predictions without a trained model."
    } else {
        "No plan is predicted at risk."
    });
    for r in &f.at_risk {
        risks.items.push(risk_item(r, l));
    }
    let mut actions =
        Section::new("This week's action per partner").or_else("No action stands out right now.");
    for a in &f.top_actions {
        let who = a
            .partner_name
            .clone()
            .unwrap_or_else(|| a.partner_id.clone());
        actions.items.push(Item::Bullet(format!(
            "{who}: {} ({}, by {}). {}",
            a.ask.label,
            a.ask.owner,
            l.date(a.ask.due_date),
            sentence(&a.ask.why_now)
        )));
    }
    let mut reviews = Section::new(format!("Coming up in the next {} days", f.horizon_days))
        .or_else("No reviews or plan ends coming up.");
    for r in &f.reviews {
        let who = r
            .partner_name
            .clone()
            .unwrap_or_else(|| r.partner_id.clone());
        reviews.items.push(Item::Bullet(format!(
            "{}: {who}, {}",
            l.date(r.date),
            r.what
        )));
    }
    let mut sections = vec![attention, risks, actions, reviews];
    push_missing(&mut sections, &f.missing, f.since, l);
    Document {
        subject: format!("Your partner portfolio, {}", l.date(f.as_of)),
        summary,
        sections,
        footer: footer(f.as_of, f.since, l),
    }
}
