//! The template wording: facts into a [`Document`]. Every number it writes is a number of
//! the facts (the digest tests parse the output and check each one), and every empty
//! list says what is missing instead.

use super::document::{days_left, pace_words, Document, Item, Section};
use super::facts::{
    AtRiskPlan, Facts, KrLine, LeadershipFacts, ManagerFacts, Missing, ObjectiveLine, PartnerFacts,
    PlanFacts, StatusCounts,
};
use super::locale::Locale;

/// The document of `facts` in the template's words.
pub fn document(facts: &Facts, l: &Locale) -> Document {
    match facts {
        Facts::Partner(f) => partner(f, l),
        Facts::Manager(f) => manager(f, l),
        Facts::Leadership(f) => leadership(f, l),
    }
}

fn partner(f: &PartnerFacts, l: &Locale) -> Document {
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

fn manager(f: &ManagerFacts, l: &Locale) -> Document {
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

fn leadership(f: &LeadershipFacts, l: &Locale) -> Document {
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
        let unit = (u.unit != super::facts::NONE_UNIT).then_some(u.unit.as_str());
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

/// A plan's lines: the plan with its status and prediction, each objective, each key
/// result.
fn plan_items(items: &mut Vec<Item>, p: &PlanFacts, l: &Locale) {
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
fn objective_item(o: &ObjectiveLine, l: &Locale) -> Item {
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
fn single(o: &ObjectiveLine) -> Option<&KrLine> {
    match o.key_results.as_slice() {
        [kr] if o.realized.is_some() && o.target.is_some() => Some(kr),
        _ => None,
    }
}

fn kr_words(kr: &KrLine, l: &Locale) -> String {
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

fn behind_words(kr: &KrLine, l: &Locale) -> String {
    let what = kr.metric.clone().unwrap_or_else(|| kr.kr_id.clone());
    format!(
        "{what}: {} of target with {} due by now ({})",
        l.percent(kr.percent.unwrap_or(0)),
        l.percent(kr.due_percent),
        pace_words(kr.status)
    )
}

fn risk_item(r: &AtRiskPlan, l: &Locale) -> Item {
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
fn status_words(c: &StatusCounts) -> Vec<String> {
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

fn dimension_words(d: &str) -> String {
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

fn unit_name(unit: &str) -> &str {
    match unit {
        "#" => "Counts",
        "score" => "Scores",
        super::facts::NONE_UNIT => "Without a unit",
        other => other,
    }
}

fn push_missing(
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
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn footer(as_of: chrono::NaiveDate, since: chrono::NaiveDate, l: &Locale) -> String {
    format!(
        "Figures as of {} from the plan records in nextbest; changes since {}.",
        l.date(as_of),
        l.date(since)
    )
}
