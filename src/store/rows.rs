//! The column lists of each table and the conversions between domain values and rows.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::upsert::{Table, Val};
use super::StoreError;
use crate::domain::dataset::columns::{
    ACTION_COLUMNS, ACTIVITY_COLUMNS, FEEDBACK_COLUMNS, KEY_RESULT_COLUMNS, KR_PROGRESS_COLUMNS,
    PARTNER_COLUMNS, PLAN_COLUMNS,
};
use crate::domain::{ActionSpec, Activity, Feedback, Id, KeyResult, KrProgress, Partner, Plan};

pub(crate) const PARTNERS: Table = Table {
    name: "partners",
    columns: PARTNER_COLUMNS,
    extra: &["attributes"],
    key: &["partner_id"],
    keep_existing: false,
    fixed: None,
};
pub(crate) const PLANS: Table = Table {
    name: "plans",
    columns: PLAN_COLUMNS,
    extra: &[],
    key: &["plan_id"],
    keep_existing: false,
    fixed: None,
};
pub(crate) const KEY_RESULTS: Table = Table {
    name: "key_results",
    columns: KEY_RESULT_COLUMNS,
    extra: &[],
    key: &["kr_id"],
    keep_existing: false,
    fixed: Some("plan_id"),
};
pub(crate) const KR_PROGRESS: Table = Table {
    name: "kr_progress",
    columns: KR_PROGRESS_COLUMNS,
    extra: &[],
    key: &["kr_id", "as_of"],
    keep_existing: false,
    fixed: None,
};
pub(crate) const ACTIVITIES: Table = Table {
    name: "activities",
    columns: ACTIVITY_COLUMNS,
    extra: &[],
    key: &["activity_id"],
    keep_existing: false,
    fixed: None,
};
pub(crate) const ACTIONS: Table = Table {
    name: "actions",
    columns: ACTION_COLUMNS,
    extra: &["source"],
    key: &["kind"],
    keep_existing: false,
    fixed: None,
};
/// Kinds first seen in activities never overwrite a definition the tenant gave earlier.
pub(crate) const OBSERVED_ACTIONS: Table = Table {
    keep_existing: true,
    fixed: None,
    ..ACTIONS
};
pub(crate) const FEEDBACK: Table = Table {
    name: "feedback",
    columns: FEEDBACK_COLUMNS,
    extra: &[],
    key: &["recommendation_id", "response", "at"],
    keep_existing: false,
    fixed: None,
};

fn text(v: impl Into<String>) -> Val {
    Val::Text(Some(v.into()))
}
fn opt_text(v: Option<impl Into<String>>) -> Val {
    Val::Text(v.map(Into::into))
}
fn opt_id(v: &Option<Id>) -> Val {
    Val::Text(v.as_ref().map(|i| i.as_str().to_owned()))
}
fn opt_date(v: Option<NaiveDate>) -> Val {
    Val::Text(v.map(|d| d.to_string()))
}

/// Timestamps are stored in UTC with fixed precision so text order is time order and one
/// instant has one spelling (feedback's key includes it).
pub(crate) fn timestamp(at: &DateTime<impl chrono::TimeZone>) -> String {
    at.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Rows of `items` for `tenant`. A named function, not a closure written at each call:
/// closures inside the async writers made their futures `Send` only for one lifetime,
/// which a spawned task (the HTTP server) cannot accept.
pub(super) fn each<'a, T: Sync + 'a>(
    tenant: &'a str,
    items: impl IntoIterator<Item = &'a T, IntoIter: Send + 'a>,
    row: fn(&str, &T) -> Vec<Val>,
) -> impl Iterator<Item = Vec<Val>> + Send + 'a {
    items.into_iter().map(move |item| row(tenant, item))
}

pub(crate) fn partner_row(tenant: &str, p: &Partner) -> Vec<Val> {
    let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
    vec![
        text(tenant),
        text(p.partner_id.as_str()),
        opt_text(p.name.clone()),
        opt_text(p.partner_type.map(|v| v.as_str())),
        text(roles.join(";")),
        opt_text(p.tier.map(|v| v.as_str())),
        opt_text(p.relationship_stage.map(|v| v.as_str())),
        opt_text(p.journey_stage.map(|v| v.as_str())),
        opt_text(p.region.clone()),
        opt_text(p.country.clone()),
        opt_text(p.segment.clone()),
        opt_text(p.industry.clone()),
        Val::Int(p.employees),
        opt_date(p.partner_since),
        opt_id(&p.manager_id),
        Val::Int(p.certified_reps),
        Val::Int(p.trained_reps),
        Val::Real(p.nps),
        Val::Real(p.trust_reliability),
        Val::Real(p.trust_credibility),
        Val::Real(p.trust_intimacy),
        Val::Real(p.trust_self_orientation),
        Val::Real(p.score_contribution),
        Val::Real(p.score_capability),
        Val::Real(p.score_coverage),
        Val::Real(p.score_commitment),
        Val::Real(p.score_consumption),
        Val::Real(p.score_credibility),
        opt_text(p.integration_mode.map(|v| v.as_str())),
        text(serde_json::to_string(&p.attributes).unwrap_or_else(|_| "{}".into())),
    ]
}

pub(crate) fn plan_row(tenant: &str, p: &Plan) -> Vec<Val> {
    vec![
        text(tenant),
        text(p.plan_id.as_str()),
        text(p.partner_id.as_str()),
        text(p.start_date.to_string()),
        text(p.end_date.to_string()),
        opt_text(p.name.clone()),
        opt_text(p.template.clone()),
        text(p.status.as_str()),
        opt_id(&p.owner_id),
    ]
}

pub(crate) fn key_result_row(tenant: &str, k: &KeyResult) -> Vec<Val> {
    vec![
        text(tenant),
        text(k.kr_id.as_str()),
        text(k.plan_id.as_str()),
        opt_text(k.metric.clone()),
        Val::Real(k.target),
        Val::Real(k.realized),
        opt_text(k.objective.clone()),
        opt_text(k.unit.clone()),
        Val::Real(Some(k.weight)),
        opt_date(k.due_date),
    ]
}

pub(crate) fn progress_row(tenant: &str, p: &KrProgress) -> Vec<Val> {
    vec![
        text(tenant),
        text(p.kr_id.as_str()),
        text(p.as_of.to_string()),
        Val::Real(Some(p.realized)),
    ]
}

pub(crate) fn activity_row(tenant: &str, a: &Activity) -> Vec<Val> {
    vec![
        text(tenant),
        text(a.activity_id.as_str()),
        text(a.plan_id.as_str()),
        text(a.kind.clone()),
        text(a.date.to_string()),
        Val::Real(Some(a.quantity)),
        text(a.status.as_str()),
        opt_text(a.responsible.map(|v| v.as_str())),
        opt_id(&a.kr_id),
    ]
}

pub(crate) fn action_row(tenant: &str, s: &ActionSpec) -> Vec<Val> {
    let stages: Vec<&str> = s.stages.iter().map(|st| st.as_str()).collect();
    vec![
        text(tenant),
        text(s.kind.clone()),
        text(s.label.clone()),
        text(s.category.clone()),
        text(stages.join(";")),
        Val::Real(Some(s.effort_hours)),
        text(s.responsible.as_str()),
        text(s.min_relationship.as_str()),
        text(s.prerequisites.join(";")),
        Val::Int(Some(i64::from(s.cooldown_days))),
        text(s.description.clone()),
        text(match s.source {
            crate::domain::catalog::ActionSource::Observed => "observed",
            crate::domain::catalog::ActionSource::BuiltIn => "built_in",
            crate::domain::catalog::ActionSource::Tenant => "tenant",
        }),
    ]
}

pub(crate) fn feedback_row(tenant: &str, f: &Feedback) -> Vec<Val> {
    vec![
        text(tenant),
        text(f.recommendation_id.as_str()),
        text(f.plan_id.as_str()),
        text(f.kind.clone()),
        text(f.response.as_str()),
        text(timestamp(&f.at)),
        opt_id(&f.user_id),
    ]
}

/// Ids bound per `IN (...)` list. SQLite refused more than 999 bound parameters before
/// 3.32 and PostgreSQL caps a statement at 65,535; 500 stays under both with room for the
/// other parameters, and keeps each statement's plan small.
pub(crate) const IN_LIST_MAX: usize = 500;

/// `$first, $first+1, ...`: `n` numbered placeholders for an `IN (...)` list, the style
/// every hand-written query here uses on both back ends.
/// The rows `select` (a query ending in `IN`, whose `$1` is the tenant) finds for `ids`,
/// in `IN` lists of at most [`IN_LIST_MAX`] ids, as one list.
pub(super) async fn select_in<T, S>(
    conn: &mut sqlx::AnyConnection,
    what: &'static str,
    select: &str,
    tenant: &str,
    ids: &[S],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    S: AsRef<str>,
{
    let mut found = Vec::new();
    for chunk in ids.chunks(IN_LIST_MAX) {
        let sql = format!("{select} ({})", placeholders(2, chunk.len()));
        let mut query = sqlx::query_as::<_, T>(&sql).bind(tenant.to_owned());
        for id in chunk {
            query = query.bind(id.as_ref().to_owned());
        }
        found.extend(
            query
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| StoreError::Query(what, e))?,
        );
    }
    Ok(found)
}

pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a stored value back into a domain value; the store only holds validated values,
/// so a failure here means the database was edited by hand and is reported, not panicked on.
pub(crate) fn parse<T, E: std::fmt::Display>(
    what: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(value).map_err(|e| StoreError::Corrupt {
        what,
        value: value.to_owned(),
        why: e.to_string(),
    })
}

pub(crate) fn parse_date(what: &'static str, value: &str) -> Result<NaiveDate, StoreError> {
    parse(what, value, |v| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
}
