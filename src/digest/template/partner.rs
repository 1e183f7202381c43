//! The partner digest in the template's words.

use super::plans::{behind_words, plan_items};
use super::{dimension_words, footer, push_missing, sentence, status_words};
use crate::digest::document::{Document, Item, Section};
use crate::digest::facts::{Missing, PartnerFacts};
use crate::digest::locale::Locale;

pub(super) fn document(f: &PartnerFacts, l: &Locale) -> Document {
    let who = f
        .partner_name
        .clone()
        .unwrap_or_else(|| f.partner_id.clone());
    let mut summary = vec![format!(
        "{who}, here is where your mutual success plans stand on {}.",
        l.date(f.as_of)
    )];
    if !f.plans.is_empty() {
        summary.push(format!(
            "Active plans: {}.",
            status_words(&f.plan_status).join(", ")
        ));
    }
    if let Some(ask) = f.asks.first() {
        summary.push(format!(
            "The one thing to do next: {} ({}, by {}).",
            ask.label,
            ask.owner,
            l.date(ask.due_date)
        ));
    }

    let mut progress = Section::new("Progress").or_else("No active plan to report on.");
    for p in &f.plans {
        plan_items(&mut progress.items, p, l);
    }

    let mut changed = Section::new(format!("What changed since {}", l.date(f.since)))
        .or_else(format!("Nothing was recorded since {}.", l.date(f.since)));
    for c in &f.changes {
        let what = c.metric.clone().unwrap_or_else(|| c.kr_id.clone());
        let from = c
            .from
            .map_or_else(|| "nothing".to_owned(), |v| l.amount(v, c.unit.as_deref()));
        let share = c
            .percent
            .map(|p| format!(", {} of target", l.percent(p)))
            .unwrap_or_default();
        changed.items.push(Item::Bullet(format!(
            "{what}: {from} → {} ({}{share})",
            l.amount(c.to, c.unit.as_deref()),
            l.change(c.delta, c.unit.as_deref())
        )));
    }
    for d in &f.done {
        let times = if d.quantity > 1.0 {
            format!(" ×{}", l.number(d.quantity, 1))
        } else {
            String::new()
        };
        changed.items.push(Item::Bullet(format!(
            "Done on {}: {}{times}",
            l.date(d.date),
            d.label
        )));
    }

    let mut upcoming = Section::new(format!("Coming up in the next {} days", f.horizon_days))
        .or_else(format!(
            "Nothing is scheduled in the next {} days: a good moment to agree the next step.",
            f.horizon_days
        ));
    for m in &f.upcoming {
        let owner = m
            .owner
            .as_ref()
            .map(|o| format!(" (owner: {o})"))
            .unwrap_or_default();
        upcoming.items.push(Item::Bullet(format!(
            "{}: {}{owner}",
            l.date(m.date),
            m.what
        )));
    }

    let mut behind = Section::new("Behind pace").or_else(if f.plans.is_empty() {
        "No key results to judge."
    } else {
        "Nothing is behind pace."
    });
    for kr in &f.behind {
        behind.items.push(Item::Bullet(behind_words(kr, l)));
    }

    let mut asks =
        Section::new("Our asks").or_else(if f.missing.contains(&Missing::NoActivePlans) {
            "No asks without an active plan."
        } else {
            "No action stands out right now."
        });
    for a in &f.asks {
        asks.items.push(Item::Bullet(format!(
            "{} (owner: {}, by {}). Why now: {} Expected effect: {} points of target.",
            a.label,
            a.owner,
            l.date(a.due_date),
            sentence(&a.why_now),
            l.change(a.expected_points, None)
        )));
    }

    let mut sections = vec![progress, changed, upcoming, behind, asks];
    if !f.achievements.is_empty() {
        let mut celebrate = Section::new("Celebrate");
        for a in &f.achievements {
            let what = a.metric.clone().unwrap_or_else(|| a.kr_id.clone());
            celebrate.items.push(Item::Bullet(format!(
                "{what} passed {} of target (now {}).",
                l.percent(a.crossed),
                l.percent(a.percent)
            )));
        }
        sections.push(celebrate);
    }
    if let Some(p) = &f.peer {
        let who = if p.basis == "successful_peers" {
            "Partners like you that reached their targets have"
        } else {
            "The top quarter of partners like you have"
        };
        let value = |v: f64| {
            if p.dimension == "mean_attainment" {
                l.percent(v as i64)
            } else {
                l.number(v, 1)
            }
        };
        let mut peers = Section::new("Partners like you");
        peers.items.push(Item::Bullet(format!(
            "{who} {} of {}; you have {} (a peer group of {}, {} of whom hit their last plan).",
            dimension_words(&p.dimension),
            value(p.peers),
            value(p.you),
            p.group,
            p.successful
        )));
        sections.push(peers);
    }
    push_missing(&mut sections, &f.missing, f.since, l);
    Document {
        subject: format!("{who}: your plan update, {}", l.date(f.as_of)),
        summary,
        sections,
        footer: footer(f.as_of, f.since, l),
    }
}
