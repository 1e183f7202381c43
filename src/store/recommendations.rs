//! The recommendation log: what was recommended, when, with which score and expected
//! effect. Written once per served recommendation and never updated, so a later join
//! with feedback and outcomes sees exactly what the user saw.

use chrono::{DateTime, NaiveDate, Utc};

use super::rows::{each, parse, parse_date, timestamp};
use super::upsert::{Table, Val};
use super::{Store, StoreError};
use crate::domain::Id;

const RECOMMENDATIONS: Table = Table {
    name: "recommendations",
    columns: &[
        "recommendation_id",
        "plan_id",
        "kind",
        "rank",
        "score",
        "expected_effect",
        "effect_low",
        "effect_high",
        "basis",
        "responsible",
        "as_of",
        "model_version",
        "created_at",
    ],
    extra: &[],
    key: &["recommendation_id"],
    keep_existing: true,
    fixed: None,
};

/// One logged recommendation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoggedRecommendation {
    pub recommendation_id: Id,
    pub plan_id: Id,
    pub kind: String,
    pub rank: i64,
    pub score: f64,
    pub expected_effect: f64,
    pub effect_low: f64,
    pub effect_high: f64,
    pub basis: String,
    pub responsible: String,
    pub as_of: NaiveDate,
    pub model_version: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn row(tenant: &str, r: &LoggedRecommendation) -> Vec<Val> {
    let text = |v: &str| Val::Text(Some(v.to_owned()));
    vec![
        text(tenant),
        text(r.recommendation_id.as_str()),
        text(r.plan_id.as_str()),
        text(&r.kind),
        Val::Int(Some(r.rank)),
        Val::Real(Some(r.score)),
        Val::Real(Some(r.expected_effect)),
        Val::Real(Some(r.effect_low)),
        Val::Real(Some(r.effect_high)),
        text(&r.basis),
        text(&r.responsible),
        text(&r.as_of.to_string()),
        Val::Text(r.model_version.clone()),
        text(&timestamp(&r.created_at)),
    ]
}

impl Store {
    /// Logs recommendations in one transaction: all of them or none. Ids are unique, and
    /// a repeated id keeps the first entry (a retried write does not rewrite history).
    pub async fn log_recommendations(
        &self,
        tenant: &str,
        recommendations: &[LoggedRecommendation],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .write_tx("starting the recommendation log write")
            .await?;
        RECOMMENDATIONS
            .upsert(
                tx.conn(),
                self.backend,
                each(tenant, recommendations, row),
                |_| {},
            )
            .await
            .map_err(|e| tx.failed(e))?;
        tx.commit("committing the recommendation log").await
    }

    /// Logged recommendations of one plan, newest first.
    pub async fn plan_recommendations(
        &self,
        tenant: &str,
        plan_id: &Id,
    ) -> Result<Vec<LoggedRecommendation>, StoreError> {
        let rows: Vec<sqlx::any::AnyRow> = sqlx::query(
            "SELECT * FROM recommendations WHERE tenant_id = $1 AND plan_id = $2 \
             ORDER BY created_at DESC, rank",
        )
        .bind(tenant)
        .bind(plan_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| StoreError::Query("reading the recommendation log", e))?;
        rows.iter().map(read_row).collect()
    }
}

fn read_row(row: &sqlx::any::AnyRow) -> Result<LoggedRecommendation, StoreError> {
    use sqlx::Row;
    let get_text = |c: &'static str| {
        row.try_get::<String, _>(c)
            .map_err(|e| StoreError::Query(c, e))
    };
    let get_real = |c: &'static str| {
        row.try_get::<f64, _>(c)
            .map_err(|e| StoreError::Query(c, e))
    };
    let as_of = get_text("as_of")?;
    let created_at = get_text("created_at")?;
    Ok(LoggedRecommendation {
        recommendation_id: Id::from_trusted(get_text("recommendation_id")?),
        plan_id: Id::from_trusted(get_text("plan_id")?),
        kind: get_text("kind")?,
        rank: row
            .try_get::<i64, _>("rank")
            .map_err(|e| StoreError::Query("rank", e))?,
        score: get_real("score")?,
        expected_effect: get_real("expected_effect")?,
        effect_low: get_real("effect_low")?,
        effect_high: get_real("effect_high")?,
        basis: get_text("basis")?,
        responsible: get_text("responsible")?,
        as_of: parse_date("as_of", &as_of)?,
        model_version: row
            .try_get::<Option<String>, _>("model_version")
            .map_err(|e| StoreError::Query("model_version", e))?,
        created_at: parse("created_at", &created_at, DateTime::parse_from_rfc3339)?
            .with_timezone(&Utc),
    })
}
