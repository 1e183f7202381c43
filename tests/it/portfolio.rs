//! Portfolio forecast, manager attention and prospect fit end to end: a small generated
//! world in a real SQLite file, a model trained into a registry and a real qdrant-edge
//! shard, all in temp dirs. Every figure is recomputed here from `predict_active`, the
//! store and the pace rules, without the roll-up's own code.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate};
use nextbest::domain::{
    kr_pace, ActivityStatus, Dataset, Feedback, FeedbackResponse, Id, Pace, Partner, PlanRecord,
};
use nextbest::eval::synth::SynthParams;
use nextbest::model::outcome::{OutcomeModel, Prediction};
use nextbest::model::pipeline;
use nextbest::model::Registry;
use nextbest::nba::attention::{attention, Signal, WINDOW_DAYS};
use nextbest::nba::peers::{reindex, Peers, PeersError, FIT_PRIOR_PLANS, NO_BASE_RATE};
use nextbest::nba::portfolio::{forecast, Forecast, GroupBy, AT_RISK_P_HIT, NONE_KEY};
use nextbest::vector::edge::EdgeIndex;

use crate::helpers::Backend;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
}

struct World {
    db: Backend,
    model: OutcomeModel,
    registry: Registry,
    _models: tempfile::TempDir,
}

/// A generated world of `partners`, imported and trained.
async fn world(partners: usize) -> World {
    let params = SynthParams {
        partners,
        seed: 11,
        truth_draws: 1,
        ..SynthParams::default()
    };
    let trained = crate::helpers::trained_world("portfolio", &params).await;
    let (db, registry, models) = (trained.db, trained.registry, trained.models);
    let (model, _) = pipeline::active_model(&registry, &db.tenant).unwrap();
    World {
        db,
        model,
        registry,
        _models: models,
    }
}

/// Training dominates the time, so one world serves every check.
#[tokio::test]
async fn portfolio_attention_and_fit_on_a_trained_world() {
    let w = world(150).await;
    forecast_groups_match_a_recomputation_from_the_predictions(&w).await;
    a_tenant_without_active_plans_forecasts_nothing(&w).await;
    attention_lists_the_managers_partners_for_checkable_reasons(&w).await;
    a_copy_of_a_partner_fits_like_that_partner(&w).await;
}

fn half(p: &Prediction) -> f64 {
    (p.interval_high - p.expected_attainment).max(p.expected_attainment - p.interval_low)
}

/// The group key, written out again from the records.
fn key_of(group_by: GroupBy, record: &PlanRecord, partner: Option<&Partner>) -> String {
    let value = match group_by {
        GroupBy::Region => partner.and_then(|p| p.region.clone()),
        GroupBy::Tier => partner.and_then(|p| p.tier.map(|t| t.as_str().to_owned())),
        GroupBy::PartnerType => partner.and_then(|p| p.partner_type.map(|t| t.as_str().to_owned())),
        GroupBy::Manager => record
            .plan
            .owner_id
            .clone()
            .or_else(|| partner.and_then(|p| p.manager_id.clone()))
            .map(|m| m.to_string()),
        GroupBy::Template => record.plan.template.clone(),
    };
    value
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| NONE_KEY.to_owned())
}

async fn forecast_groups_match_a_recomputation_from_the_predictions(w: &World) {
    let (store, tenant) = (&w.db.store, w.db.tenant.as_str());
    let predictions: HashMap<Id, Prediction> =
        pipeline::predict_active(store, &w.model, tenant, as_of(), None)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let records = store.active_plans(tenant).await.unwrap();
    let partners: HashMap<Id, Partner> = store
        .partners(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.partner_id.clone(), p))
        .collect();
    assert_eq!(predictions.len(), 150, "one active plan per partner");

    for group_by in GroupBy::ALL {
        assert_eq!(GroupBy::parse(group_by.as_str()).unwrap(), group_by);
        let f: Forecast = forecast(store, &w.model, tenant, as_of(), group_by)
            .await
            .unwrap();
        let what = group_by.as_str();
        assert_eq!(f.unpredictable, 0);
        assert_eq!(f.total.plans, predictions.len(), "{what}");
        assert_eq!(
            f.groups.iter().map(|g| g.plans).sum::<usize>(),
            f.total.plans,
            "{what}: group plan counts sum to the total"
        );
        assert!(
            f.groups.len() >= 2,
            "{what}: a world has more than one group"
        );
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("NaN") && !json.contains("null"), "{what}");

        // Each group, recomputed from `predict_active` and the records.
        let mut members: BTreeMap<String, Vec<&PlanRecord>> = BTreeMap::new();
        for r in &records {
            let key = key_of(group_by, r, partners.get(&r.plan.partner_id));
            members.entry(key).or_default().push(r);
        }
        assert_eq!(
            f.groups
                .iter()
                .map(|g| g.key.clone())
                .collect::<BTreeSet<_>>(),
            members.keys().cloned().collect::<BTreeSet<_>>(),
            "{what}"
        );
        let mut rows: Vec<_> = f.groups.iter().collect();
        rows.push(&f.total);
        for g in rows {
            let plans: Vec<&PlanRecord> = if g.key == "(total)" {
                records.iter().collect()
            } else {
                members[&g.key].clone()
            };
            let ps: Vec<&Prediction> = plans
                .iter()
                .map(|r| &predictions[&r.plan.plan_id])
                .collect();
            let n = ps.len() as f64;
            let mean = ps.iter().map(|p| p.expected_attainment).sum::<f64>() / n;
            let p_hit = ps.iter().map(|p| p.p_hit).sum::<f64>();
            let h = ps.iter().map(|p| half(p).powi(2)).sum::<f64>().sqrt() / n;
            let at_risk = ps.iter().filter(|p| p.p_hit < AT_RISK_P_HIT).count();
            let partner_ids: BTreeSet<&Id> = plans.iter().map(|r| &r.plan.partner_id).collect();
            let ctx = format!("{what} {}: {g:?}", g.key);
            assert_eq!(g.plans, plans.len(), "{ctx}");
            assert_eq!(g.partners, partner_ids.len(), "{ctx}");
            assert!((g.expected_attainment - mean).abs() < 1e-9, "{ctx}");
            assert!((g.expected_hits - p_hit).abs() < 1e-9, "{ctx}");
            assert!((g.mean_p_hit - p_hit / n).abs() < 1e-9, "{ctx}");
            assert_eq!(g.at_risk, at_risk, "{ctx}");
            assert!(
                g.attainment_low <= g.expected_attainment
                    && g.expected_attainment <= g.attainment_high,
                "{ctx}: the interval holds the mean"
            );
            assert!(
                (g.attainment_high - (mean + h).min(2.0)).abs() < 1e-9,
                "{ctx}"
            );
            assert!(
                (g.attainment_low - (mean - h).max(0.0)).abs() < 1e-9,
                "{ctx}"
            );
            let widest = ps.iter().map(|p| half(p)).fold(0.0, f64::max);
            assert!(h <= widest + 1e-12, "{ctx}: a mean is surer than its plans");

            // Target value per unit: Σ target and Σ target × expected attainment.
            let mut units: BTreeMap<String, (f64, f64)> = BTreeMap::new();
            for r in &plans {
                let e = predictions[&r.plan.plan_id].expected_attainment;
                for kr in &r.key_results {
                    if let Some(t) = kr.target.filter(|t| *t > 0.0) {
                        let unit = kr.unit.clone().unwrap_or_else(|| NONE_KEY.to_owned());
                        let u = units.entry(unit).or_default();
                        u.0 += t;
                        u.1 += t * e;
                    }
                }
            }
            assert_eq!(g.targets.len(), units.len(), "{ctx}");
            for t in &g.targets {
                let (target, expected) = units[&t.unit];
                assert!((t.target - target).abs() < 1e-6 * target.max(1.0), "{ctx}");
                assert!(
                    (t.expected_realized - expected).abs() < 1e-6 * target.max(1.0),
                    "{ctx}"
                );
                assert!(
                    t.expected_low <= t.expected_realized && t.expected_realized <= t.expected_high,
                    "{ctx}"
                );
            }
        }
        if matches!(
            group_by,
            GroupBy::Region | GroupBy::Tier | GroupBy::PartnerType
        ) {
            assert_eq!(
                f.groups.iter().map(|g| g.partners).sum::<usize>(),
                f.total.partners,
                "{what}: partner attributes partition the partners"
            );
        }
    }
    assert!(GroupBy::parse("country").is_err());
}

async fn a_tenant_without_active_plans_forecasts_nothing(w: &World) {
    let f = forecast(
        &w.db.store,
        &w.model,
        "a-tenant-with-nothing",
        as_of(),
        GroupBy::Region,
    )
    .await
    .unwrap();
    assert!(f.groups.is_empty());
    assert_eq!(f.total.plans, 0);
    assert_eq!(f.total.expected_attainment, 0.0);
    assert_eq!(f.total.expected_hits, 0.0);
    let json = serde_json::to_string(&f).unwrap();
    assert!(!json.contains("NaN") && !json.contains("null"), "{json}");
}

/// The manager with the most partners.
fn busiest_manager(partners: &[Partner]) -> Id {
    let mut counts: BTreeMap<&Id, usize> = BTreeMap::new();
    for p in partners {
        if let Some(m) = &p.manager_id {
            *counts.entry(m).or_default() += 1;
        }
    }
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(m, _)| (**m).clone())
        .unwrap()
}

/// The attention list of `manager` on `day`, every partner and reason checked against
/// the store, the predictions and the pace rules; returns the list and the codes seen.
async fn checked_attention(
    w: &World,
    manager: &Id,
    day: NaiveDate,
) -> (nextbest::nba::attention::Attention, BTreeSet<&'static str>) {
    let (store, tenant) = (&w.db.store, w.db.tenant.as_str());
    let partners = store.partners(tenant).await.unwrap();
    let active = store.active_plans(tenant).await.unwrap();
    let predictions: HashMap<Id, Prediction> =
        pipeline::predict_active(store, &w.model, tenant, day, None)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let mine: BTreeSet<&Id> = partners
        .iter()
        .filter(|p| p.manager_id.as_ref() == Some(manager))
        .map(|p| &p.partner_id)
        .chain(
            active
                .iter()
                .filter(|r| r.plan.owner_id.as_ref() == Some(manager))
                .map(|r| &r.plan.partner_id),
        )
        .collect();

    let list = attention(store, Some(&w.model), tenant, manager, day, 1000)
        .await
        .unwrap();
    assert!(list.with_predictions);
    assert_eq!(list.partners_considered, mine.len());
    assert!(
        !list.partners.is_empty(),
        "some partner of a real manager needs attention"
    );
    assert!(list.partners.windows(2).all(|w| w[0].score >= w[1].score));
    let json = serde_json::to_string(&list).unwrap();
    assert!(!json.contains("NaN"));

    let mut seen_codes = BTreeSet::new();
    for p in &list.partners {
        assert!(
            mine.contains(&p.partner_id),
            "{} is not the manager's",
            p.partner_id
        );
        assert!(!p.reasons.is_empty());
        let sum: f64 = p.reasons.iter().map(|r| r.weight).sum();
        assert!((p.score - sum).abs() < 1e-12);
        let plans: Vec<&PlanRecord> = active
            .iter()
            .filter(|r| r.plan.partner_id == p.partner_id)
            .collect();
        for r in &p.reasons {
            assert!(r.weight > 0.0 && r.weight <= 1.0, "{r:?}");
            seen_codes.insert(r.signal.code());
            match &r.signal {
                Signal::PredictedMiss {
                    plan_id,
                    p_hit,
                    expected_attainment,
                    ..
                } => {
                    let truth = predictions[plan_id];
                    assert_eq!(*p_hit, truth.p_hit);
                    assert_eq!(*expected_attainment, truth.expected_attainment);
                    assert!(truth.p_hit < AT_RISK_P_HIT);
                }
                Signal::KeyResultBehind {
                    plan_id,
                    kr_id,
                    status,
                    ..
                } => {
                    let record = plans
                        .iter()
                        .find(|r| &r.plan.plan_id == plan_id)
                        .unwrap()
                        .as_of(day);
                    let kr = record
                        .key_results
                        .iter()
                        .find(|k| &k.kr_id == kr_id)
                        .unwrap();
                    let pace = kr_pace(
                        kr.target,
                        kr.realized,
                        record.plan.start_date,
                        kr.due_date.unwrap_or(record.plan.end_date),
                        day,
                    );
                    assert_eq!(*status, pace);
                    assert!(matches!(
                        pace,
                        Pace::Behind | Pace::AtRisk | Pace::NotComplete
                    ));
                }
                Signal::NoRecentActivity { last_done, .. } => {
                    let all = store.partner_plans(tenant, &p.partner_id).await.unwrap();
                    let latest = all
                        .iter()
                        .flat_map(|r| &r.activities)
                        .filter(|a| a.status == ActivityStatus::Done && a.date <= day)
                        .map(|a| a.date)
                        .max();
                    assert_eq!(*last_done, latest);
                    assert!(latest.is_none_or(|d| (day - d).num_days() >= WINDOW_DAYS));
                }
                Signal::EndingWithGap {
                    plan_id,
                    days_left,
                    attainment,
                    ..
                } => {
                    let record = plans.iter().find(|r| &r.plan.plan_id == plan_id).unwrap();
                    assert_eq!(*days_left, (record.plan.end_date - day).num_days());
                    assert!((0..=WINDOW_DAYS).contains(days_left));
                    assert_eq!(Some(*attainment), record.as_of(day).attainment());
                    assert!(*attainment < 1.0);
                }
                Signal::RecentlyDismissed { .. } => {
                    panic!("no feedback is stored yet: {r:?}")
                }
            }
        }
    }
    // Completeness of the rule that needs the model: every plan of the manager's partners
    // predicted to miss is listed.
    for r in active.iter().filter(|r| mine.contains(&r.plan.partner_id)) {
        if predictions[&r.plan.plan_id].p_hit < AT_RISK_P_HIT {
            let listed = list.partners.iter().flat_map(|p| &p.reasons).any(|x| {
                matches!(&x.signal, Signal::PredictedMiss { plan_id, .. } if plan_id == &r.plan.plan_id)
            });
            assert!(listed, "{} is predicted to miss", r.plan.plan_id);
        }
    }
    eprintln!(
        "attention for {manager} on {day}: {} of {} partners listed, reasons {seen_codes:?}",
        list.partners.len(),
        list.partners_considered
    );
    (list, seen_codes)
}

async fn attention_lists_the_managers_partners_for_checkable_reasons(w: &World) {
    let (store, tenant) = (&w.db.store, w.db.tenant.as_str());
    let partners = store.partners(tenant).await.unwrap();
    let active = store.active_plans(tenant).await.unwrap();
    let manager = busiest_manager(&partners);
    let (list, mut seen_codes) = checked_attention(w, &manager, as_of()).await;
    // Six weeks on, with nothing recorded since, the partners have stalled.
    let stalled_day = as_of() + chrono::Days::new(45);
    let (_, later_codes) = checked_attention(w, &manager, stalled_day).await;
    assert!(
        later_codes.contains("no_recent_activity"),
        "{later_codes:?}"
    );
    seen_codes.extend(later_codes);
    for code in [
        "predicted_miss",
        "key_result_behind",
        "ending_with_gap",
        "no_recent_activity",
    ] {
        assert!(
            seen_codes.contains(code),
            "{code} never checked: {seen_codes:?}"
        );
    }
    let mine: BTreeSet<&Id> = partners
        .iter()
        .filter(|p| p.manager_id.as_ref() == Some(&manager))
        .map(|p| &p.partner_id)
        .chain(
            active
                .iter()
                .filter(|r| r.plan.owner_id.as_ref() == Some(&manager))
                .map(|r| &r.plan.partner_id),
        )
        .collect();

    // A limit keeps the head of the list.
    let top = attention(store, Some(&w.model), tenant, &manager, as_of(), 3)
        .await
        .unwrap();
    assert_eq!(
        top.partners[..],
        list.partners[..3.min(list.partners.len())]
    );

    // Without a model: the same partners' other reasons, and no predicted misses.
    let bare = attention(store, None, tenant, &manager, as_of(), 1000)
        .await
        .unwrap();
    assert!(!bare.with_predictions);
    let codes = |l: &nextbest::nba::attention::Attention| -> BTreeSet<(String, &'static str)> {
        l.partners
            .iter()
            .flat_map(|p| {
                p.reasons
                    .iter()
                    .map(move |r| (p.partner_id.to_string(), r.signal.code()))
            })
            .filter(|(_, c)| *c != "predicted_miss")
            .collect()
    };
    assert_eq!(codes(&bare), codes(&list));
    assert!(bare
        .partners
        .iter()
        .flat_map(|p| &p.reasons)
        .all(|r| !matches!(r.signal, Signal::PredictedMiss { .. })));

    // A dismissal on one of the manager's active plans is a reason within the window.
    let plan = active
        .iter()
        .find(|r| mine.contains(&r.plan.partner_id))
        .unwrap();
    let feedback = Feedback {
        recommendation_id: Id::parse("rec-portfolio-1").unwrap(),
        plan_id: plan.plan.plan_id.clone(),
        kind: "qbr".into(),
        response: FeedbackResponse::Dismissed,
        at: DateTime::parse_from_rfc3339("2026-09-20T10:00:00+00:00").unwrap(),
        user_id: None,
    };
    store
        .write_dataset(
            tenant,
            &Dataset {
                feedback: vec![feedback],
                ..Dataset::default()
            },
            &mut |_, _| {},
        )
        .await
        .unwrap();
    let after = attention(store, None, tenant, &manager, as_of(), 1000)
        .await
        .unwrap();
    let entry = after
        .partners
        .iter()
        .find(|p| p.partner_id == plan.plan.partner_id)
        .unwrap();
    assert!(entry.reasons.iter().any(|r| matches!(
        &r.signal,
        Signal::RecentlyDismissed { dismissals: 1, kinds, .. } if kinds == &["qbr"]
    )));
    // Forty days on it is no longer recent.
    let later = as_of() + chrono::Days::new(40);
    let gone = attention(store, None, tenant, &manager, later, 1000)
        .await
        .unwrap();
    assert!(gone
        .partners
        .iter()
        .flat_map(|p| &p.reasons)
        .all(|r| !matches!(r.signal, Signal::RecentlyDismissed { .. })));

    // An unknown manager has no partners.
    let nobody = Id::parse("no-such-manager").unwrap();
    let empty = attention(store, Some(&w.model), tenant, &nobody, as_of(), 10)
        .await
        .unwrap();
    assert_eq!(empty.partners_considered, 0);
    assert!(empty.partners.is_empty());

    // Owning another manager's partner's plan makes that partner one of the manager's.
    let other = active
        .iter()
        .find(|r| !mine.contains(&r.plan.partner_id))
        .unwrap();
    let mut handed_over = other.plan.clone();
    handed_over.owner_id = Some(manager.clone());
    store
        .write_dataset(
            tenant,
            &Dataset {
                plans: vec![handed_over],
                ..Dataset::default()
            },
            &mut |_, _| {},
        )
        .await
        .unwrap();
    let (wider, _) = checked_attention(w, &manager, stalled_day).await;
    assert_eq!(wider.partners_considered, mine.len() + 1);
    let entry = wider
        .partners
        .iter()
        .find(|p| p.partner_id == other.plan.partner_id)
        .expect("stalled six weeks on, like every partner");
    assert_ne!(entry.manager_id.as_ref(), Some(&manager));
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

async fn a_copy_of_a_partner_fits_like_that_partner(w: &World) {
    let (store, tenant) = (&w.db.store, w.db.tenant.as_str());
    let profile = w.model.profile.clone().unwrap();
    let vectors = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(&vectors.path().join("vectors"), profile.dimension()).unwrap();
    let report = reindex(store, &w.registry, &index, tenant).await.unwrap();
    let peers = Peers::load(store, tenant, &profile, report.as_of)
        .await
        .unwrap();

    // The partner whose recent activity weighs least in its vector: a prospect knows no
    // activity, so a copy of this partner's profile is nearly its whole vector.
    let names = profile.names();
    let mix_share = |v: &[f32]| {
        let total: f64 = v.iter().map(|x| f64::from(*x).powi(2)).sum();
        let mix: f64 = v
            .iter()
            .zip(&names)
            .filter(|(_, n)| n.starts_with("mix:"))
            .map(|(x, _)| f64::from(*x).powi(2))
            .sum();
        mix / total
    };
    let partners = store.partners(tenant).await.unwrap();
    let original = partners
        .iter()
        .min_by(|a, b| {
            let share = |p: &Partner| mix_share(peers.vector(p.partner_id.as_str()).unwrap());
            share(a).total_cmp(&share(b))
        })
        .unwrap();
    let mut prospect = original.clone();
    prospect.partner_id = Id::parse("prospect-copy").unwrap();

    let k = 10;
    let fit = peers.fit(&index, tenant, &prospect, k).unwrap();
    assert_eq!(fit.neighbours.len(), k);
    assert_eq!(fit.neighbours[0].partner_id, original.partner_id, "{fit:?}");
    let expected = cosine(
        &profile.prospect_vector(&prospect, peers.as_of()),
        peers.vector(original.partner_id.as_str()).unwrap(),
    );
    assert!(expected > 0.9, "{expected}");
    assert!((f64::from(fit.neighbours[0].score) - expected).abs() < 1e-3);
    assert!(fit.neighbours.windows(2).all(|w| w[0].score >= w[1].score));

    // The summary, recomputed from the neighbours and their closed plans.
    let known: Vec<_> = fit
        .neighbours
        .iter()
        .filter(|s| s.hit_rate.is_some())
        .collect();
    assert_eq!(fit.with_closed_plans, known.len());
    assert!(
        !known.is_empty(),
        "neighbours in a world with history have closed plans"
    );
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let hit_rate = mean(known.iter().filter_map(|s| s.hit_rate).collect());
    assert!((fit.hit_rate.unwrap() - hit_rate).abs() < 1e-12);
    let attainment = mean(known.iter().filter_map(|s| s.mean_attainment).collect());
    assert!((fit.mean_attainment.unwrap() - attainment).abs() < 1e-12);
    let score = mean(fit.neighbours.iter().map(|s| f64::from(s.score)).collect());
    assert!((fit.mean_score.unwrap() - score).abs() < 1e-9);
    let base = fit.base_rate.unwrap();
    let all: Vec<bool> = partners
        .iter()
        .flat_map(|p| peers.closed_plans(p.partner_id.as_str()))
        .filter_map(|c| c.hit)
        .collect();
    assert!((base - all.iter().filter(|h| **h).count() as f64 / all.len() as f64).abs() < 1e-12);
    let (mut hits, mut plans) = (0.0, 0.0);
    for s in &known {
        let weight = f64::from(s.score).clamp(0.0, 1.0);
        let outcomes: Vec<bool> = peers
            .closed_plans(s.partner_id.as_str())
            .iter()
            .filter_map(|c| c.hit)
            .collect();
        hits += weight * outcomes.iter().filter(|h| **h).count() as f64;
        plans += weight * outcomes.len() as f64;
    }
    let fit_score = (hits + FIT_PRIOR_PLANS * base) / (plans + FIT_PRIOR_PLANS);
    assert!(
        (fit.fit_score - fit_score).abs() < 1e-9,
        "{} vs {fit_score}",
        fit.fit_score
    );
    assert!((0.0..=1.0).contains(&fit.fit_score));
    assert!((fit.evidence_plans - plans).abs() < 1e-9);
    assert!(!serde_json::to_string(&fit).unwrap().contains("NaN"));
    eprintln!(
        "fit of a copy of {}: top score {:.3}, fit_score {:.3}, base rate {base:.3}, \
         neighbours' hit rate {hit_rate:.3} over {plans:.1} weighted plans",
        original.partner_id, fit.neighbours[0].score, fit.fit_score
    );

    // A prospect that shares a stored partner's id is not its own neighbour; a sparse
    // prospect still fits somewhere; no neighbours leave the base rate.
    let same_id = peers.fit(&index, tenant, original, k).unwrap();
    assert!(same_id
        .neighbours
        .iter()
        .all(|s| s.partner_id != original.partner_id));
    let mut sparse = Partner::new(Id::parse("prospect-sparse").unwrap());
    sparse.partner_type = original.partner_type;
    sparse.region = original.region.clone();
    let sparse_fit = peers.fit(&index, tenant, &sparse, k).unwrap();
    assert_eq!(sparse_fit.neighbours.len(), k);
    assert!((0.0..=1.0).contains(&sparse_fit.fit_score));
    let none = peers.fit(&index, tenant, &sparse, 0).unwrap();
    assert!(none.neighbours.is_empty());
    assert_eq!(none.fit_score, peers.base_rate().unwrap_or(NO_BASE_RATE));
    assert_eq!(none.mean_score, None);

    let err = peers.fit(&index, "another-tenant", &sparse, k).unwrap_err();
    assert!(matches!(err, PeersError::WrongTenant { .. }), "{err:?}");
}
