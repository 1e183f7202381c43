//! One parser per entity of DATA_FORMAT.md: cells in, a domain value or a rejection out.

use std::collections::BTreeMap;

use super::cells::{Cells, NON_NEGATIVE, NPS, POSITIVE, SCORE, TRUST};
use super::Rejection;
use crate::domain::catalog::ActionSource;
use crate::domain::id::parse_category;
use crate::domain::{
    ActionSpec, Activity, ActivityStatus, Effort, Feedback, FeedbackResponse, Id, IntegrationMode,
    JourneyStage, KeyResult, KrProgress, Partner, PartnerType, Plan, PlanStatus, RelationshipStage,
    Responsible, Role, Tier,
};

/// The columns each entity knows; anything else on `partners` is a custom attribute and
/// anywhere else an error unless unknown columns are ignored.
pub fn known_columns(entity: &str) -> &'static [&'static str] {
    use crate::domain::dataset::columns::*;
    match entity {
        "partners" => PARTNER_COLUMNS,
        "plans" => PLAN_COLUMNS,
        "key_results" => KEY_RESULT_COLUMNS,
        "kr_progress" => KR_PROGRESS_COLUMNS,
        "activities" => ACTIVITY_COLUMNS,
        "actions" => ACTION_COLUMNS,
        "feedback" => FEEDBACK_COLUMNS,
        _ => &[],
    }
}

/// Columns that must be present in a file's header (they are required in every row).
pub fn required_columns(entity: &str) -> &'static [&'static str] {
    match entity {
        "partners" => &["partner_id"],
        "plans" => &["plan_id", "partner_id", "start_date", "end_date", "status"],
        "key_results" => &["kr_id", "plan_id"],
        "kr_progress" => &["kr_id", "as_of", "realized"],
        "activities" => &["plan_id", "kind", "date"],
        "actions" => &["kind"],
        "feedback" => &["recommendation_id", "plan_id", "kind", "response", "at"],
        _ => &[],
    }
}

/// A partner and the raw values of its custom attribute columns; their types are decided
/// once the whole file is read.
pub fn partner(c: &Cells<'_>) -> Result<(Partner, Vec<(usize, String)>), Rejection> {
    let mut p = Partner::new(c.id("partner_id")?);
    p.name = c.opt_text("name");
    p.partner_type = c.opt_enum("partner_type", PartnerType::parse)?;
    p.roles = c.set("roles", Role::parse)?;
    p.tier = c.opt_enum("tier", Tier::parse)?;
    p.relationship_stage = c.opt_enum("relationship_stage", RelationshipStage::parse)?;
    p.journey_stage = c.opt_enum("journey_stage", JourneyStage::parse)?;
    p.region = c.opt_category("region")?;
    p.country = c.opt_category("country")?;
    p.segment = c.opt_category("segment")?;
    p.industry = c.opt_category("industry")?;
    p.employees = c.opt_count("employees")?;
    p.partner_since = c.opt_date("partner_since")?;
    p.manager_id = c.opt_id("manager_id")?;
    p.certified_reps = c.opt_count("certified_reps")?;
    p.trained_reps = c.opt_count("trained_reps")?;
    p.nps = c.opt_num("nps", Some(NPS))?;
    p.trust_reliability = c.opt_num("trust_reliability", Some(TRUST))?;
    p.trust_credibility = c.opt_num("trust_credibility", Some(TRUST))?;
    p.trust_intimacy = c.opt_num("trust_intimacy", Some(TRUST))?;
    p.trust_self_orientation = c.opt_num("trust_self_orientation", Some(TRUST))?;
    p.score_contribution = c.opt_num("score_contribution", Some(SCORE))?;
    p.score_capability = c.opt_num("score_capability", Some(SCORE))?;
    p.score_coverage = c.opt_num("score_coverage", Some(SCORE))?;
    p.score_commitment = c.opt_num("score_commitment", Some(SCORE))?;
    p.score_consumption = c.opt_num("score_consumption", Some(SCORE))?;
    p.score_credibility = c.opt_num("score_credibility", Some(SCORE))?;
    p.integration_mode = c.opt_enum("integration_mode", IntegrationMode::parse)?;
    let known = known_columns("partners");
    let extra = c
        .columns
        .iter()
        .enumerate()
        .filter(|(_, name)| !known.contains(&name.as_str()))
        .filter_map(|(i, _)| c.row.cells.get(i).and_then(Clone::clone).map(|v| (i, v)))
        .collect();
    Ok((p, extra))
}

pub fn plan(c: &Cells<'_>) -> Result<Plan, Rejection> {
    let plan = Plan {
        plan_id: c.id("plan_id")?,
        partner_id: c.id("partner_id")?,
        start_date: c.date("start_date")?,
        end_date: c.date("end_date")?,
        name: c.opt_text("name"),
        template: c.opt_category("template")?,
        status: c
            .opt_enum("status", PlanStatus::parse)?
            .ok_or_else(|| c.reject("status", "", "is required"))?,
        owner_id: c.opt_id("owner_id")?,
    };
    if plan.start_date >= plan.end_date {
        let value = plan.end_date.to_string();
        return Err(c.reject(
            "end_date",
            &value,
            &format!("must be after start_date {}", plan.start_date),
        ));
    }
    Ok(plan)
}

pub fn key_result(c: &Cells<'_>) -> Result<KeyResult, Rejection> {
    Ok(KeyResult {
        kr_id: c.id("kr_id")?,
        plan_id: c.id("plan_id")?,
        metric: c.opt_category("metric")?,
        target: c.opt_num("target", Some(POSITIVE))?,
        realized: c.opt_num("realized", None)?,
        objective: c.opt_text("objective"),
        unit: c.opt_text("unit"),
        weight: c.opt_num("weight", Some(NON_NEGATIVE))?.unwrap_or(1.0),
        due_date: c.opt_date("due_date")?,
    })
}

pub fn progress(c: &Cells<'_>) -> Result<KrProgress, Rejection> {
    Ok(KrProgress {
        kr_id: c.id("kr_id")?,
        as_of: c.date("as_of")?,
        realized: c.num("realized", None)?,
    })
}

pub fn action(c: &Cells<'_>) -> Result<ActionSpec, Rejection> {
    let kind = c.category("kind")?;
    let effort_hours = c
        .opt_num("effort_hours", Some(NON_NEGATIVE))?
        .unwrap_or(Effort::M.hours());
    let cooldown = c.opt_count("cooldown_days")?.unwrap_or(14);
    Ok(ActionSpec {
        label: c
            .opt_text("label")
            .unwrap_or_else(|| kind.replace('_', " ")),
        category: c
            .opt_category("category")?
            .unwrap_or_else(|| "custom".into()),
        stages: c.set("stages", JourneyStage::parse)?,
        effort_hours,
        responsible: c
            .opt_enum("responsible", Responsible::parse)?
            .unwrap_or(Responsible::Joint),
        min_relationship: c
            .opt_enum("min_relationship_stage", RelationshipStage::parse)?
            .unwrap_or(RelationshipStage::Transactional),
        prerequisites: c.set("prerequisites", parse_category)?,
        cooldown_days: u32::try_from(cooldown)
            .map_err(|_| c.reject("cooldown_days", &cooldown.to_string(), "is too large"))?,
        description: c.opt_text("description").unwrap_or_default(),
        source: ActionSource::Tenant,
        kind,
    })
}

/// An activity; without an `activity_id` its id is derived by the caller.
pub fn activity(c: &Cells<'_>) -> Result<(Option<Id>, Activity), Rejection> {
    let given = c.opt_id("activity_id")?;
    let activity = Activity {
        activity_id: Id::from_trusted(String::new()),
        plan_id: c.id("plan_id")?,
        kind: c.category("kind")?,
        date: c.date("date")?,
        quantity: c.opt_num("quantity", Some(POSITIVE))?.unwrap_or(1.0),
        status: c
            .opt_enum("status", ActivityStatus::parse)?
            .unwrap_or(ActivityStatus::Done),
        responsible: c.opt_enum("responsible", Responsible::parse)?,
        kr_id: c.opt_id("kr_id")?,
    };
    Ok((given, activity))
}

pub fn feedback(c: &Cells<'_>) -> Result<Feedback, Rejection> {
    Ok(Feedback {
        recommendation_id: c.id("recommendation_id")?,
        plan_id: c.id("plan_id")?,
        kind: c.category("kind")?,
        response: c
            .opt_enum("response", FeedbackResponse::parse)?
            .ok_or_else(|| c.reject("response", "", "is required"))?,
        at: c.timestamp("at")?,
        user_id: c.opt_id("user_id")?,
    })
}

/// The id of an activity given without one: `plan:kind:date:n`, n counting rows with the
/// same (plan, kind, date) in the file, so re-importing the same export finds the same
/// rows and edits elsewhere in the file do not shift ids. Characters outside the id
/// charset become `_`; an id that would be too long is replaced by a stable hash.
pub fn derived_activity_id(plan: &Id, kind: &str, date: chrono::NaiveDate, occurrence: u32) -> Id {
    let kind: String = kind
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '@' | '-') {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let id = format!("{plan}:{kind}:{date}:{occurrence}");
    if id.len() <= Id::MAX_LEN {
        return Id::from_trusted(id);
    }
    let hash = crate::domain::id::fnv1a64(id.bytes());
    Id::from_trusted(format!("auto:{hash:016x}"))
}

/// Custom attribute values of one column: numbers if every non-empty value is one.
pub fn attribute_values(
    values: &[(usize, String)],
) -> BTreeMap<usize, crate::domain::AttributeValue> {
    use crate::domain::AttributeValue;
    let numeric = values
        .iter()
        .all(|(_, v)| super::cells::parse_number(v).is_some());
    values
        .iter()
        .map(|(row, v)| {
            let value = match super::cells::parse_number(v) {
                Some(n) if numeric => AttributeValue::Number(n),
                _ => AttributeValue::Text(v.clone()),
            };
            (*row, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_valid_and_distinct_per_occurrence() {
        let plan = Id::parse("plan-1").unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();
        let a = derived_activity_id(&plan, "partner lunch", date, 0);
        assert_eq!(a.as_str(), "plan-1:partner_lunch:2025-05-01:0");
        assert_ne!(a, derived_activity_id(&plan, "partner lunch", date, 1));
        let long = derived_activity_id(&Id::parse(&"p".repeat(128)).unwrap(), "qbr", date, 0);
        assert!(Id::parse(long.as_str()).is_ok());
        assert_eq!(
            long,
            derived_activity_id(&Id::parse(&"p".repeat(128)).unwrap(), "qbr", date, 0)
        );
    }

    #[test]
    fn an_attribute_column_is_numeric_only_if_every_value_is_a_number() {
        use crate::domain::AttributeValue::{Number, Text};
        let numeric = attribute_values(&[(0, "1.5".into()), (2, "7".into())]);
        assert_eq!(numeric.get(&2), Some(&Number(7.0)));
        let mixed = attribute_values(&[(0, "1.5".into()), (1, "n/a".into())]);
        assert_eq!(mixed.get(&0), Some(&Text("1.5".into())));
    }
}
