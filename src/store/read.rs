//! Reads: counts, partners, plans with everything recorded about them, the catalog, and
//! the whole dataset for export.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::rows::{parse, parse_date, select_in};
use super::{Store, StoreError};
use crate::domain::catalog::ActionSource;
use crate::domain::Dataset;
use crate::domain::{
    ActionSpec, Activity, ActivityStatus, Catalog, Feedback, FeedbackResponse, Id, IntegrationMode,
    JourneyStage, KeyResult, KrProgress, Partner, PartnerType, Plan, PlanRecord, PlanStatus,
    RelationshipStage, Responsible, Role, Tier,
};

/// Row counts of a tenant, per entity and status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub partners: i64,
    pub plans: BTreeMap<String, i64>,
    pub key_results: i64,
    pub key_results_without_target: i64,
    pub kr_progress: i64,
    pub activities: BTreeMap<String, i64>,
    pub actions: BTreeMap<String, i64>,
    pub feedback: BTreeMap<String, i64>,
}

/// Which plans to load; every field narrows the set.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanFilter<'a> {
    pub status: Option<PlanStatus>,
    pub partner_id: Option<&'a Id>,
    pub plan_id: Option<&'a Id>,
}

pub(super) fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Query(what, e)
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>>(
    row: &'r AnyRow,
    column: &'static str,
) -> Result<T, StoreError> {
    row.try_get(column)
        .map_err(|e| StoreError::Query(column, e))
}

fn opt_id(row: &AnyRow, column: &'static str) -> Result<Option<Id>, StoreError> {
    get::<Option<String>>(row, column)?
        .map(|v| parse(column, &v, Id::parse))
        .transpose()
}

fn id(row: &AnyRow, column: &'static str) -> Result<Id, StoreError> {
    parse(column, &get::<String>(row, column)?, Id::parse)
}

fn opt_enum<T>(
    row: &AnyRow,
    column: &'static str,
    f: fn(&str) -> Result<T, crate::domain::DomainError>,
) -> Result<Option<T>, StoreError> {
    get::<Option<String>>(row, column)?
        .map(|v| parse(column, &v, f))
        .transpose()
}

fn opt_date(row: &AnyRow, column: &'static str) -> Result<Option<NaiveDate>, StoreError> {
    get::<Option<String>>(row, column)?
        .map(|v| parse_date(column, &v))
        .transpose()
}

fn set<T>(
    raw: &str,
    column: &'static str,
    f: impl Fn(&str) -> Result<T, crate::domain::DomainError>,
) -> Result<Vec<T>, StoreError> {
    raw.split(';')
        .filter(|s| !s.is_empty())
        .map(|s| parse(column, s, &f))
        .collect()
}

pub(super) fn partner(row: &AnyRow) -> Result<Partner, StoreError> {
    let mut p = Partner::new(id(row, "partner_id")?);
    p.name = get(row, "name")?;
    p.partner_type = opt_enum(row, "partner_type", PartnerType::parse)?;
    p.roles = set(&get::<String>(row, "roles")?, "roles", Role::parse)?;
    p.tier = opt_enum(row, "tier", Tier::parse)?;
    p.relationship_stage = opt_enum(row, "relationship_stage", RelationshipStage::parse)?;
    p.journey_stage = opt_enum(row, "journey_stage", JourneyStage::parse)?;
    p.region = get(row, "region")?;
    p.country = get(row, "country")?;
    p.segment = get(row, "segment")?;
    p.industry = get(row, "industry")?;
    p.employees = get(row, "employees")?;
    p.partner_since = opt_date(row, "partner_since")?;
    p.manager_id = opt_id(row, "manager_id")?;
    p.certified_reps = get(row, "certified_reps")?;
    p.trained_reps = get(row, "trained_reps")?;
    p.nps = get(row, "nps")?;
    p.trust_reliability = get(row, "trust_reliability")?;
    p.trust_credibility = get(row, "trust_credibility")?;
    p.trust_intimacy = get(row, "trust_intimacy")?;
    p.trust_self_orientation = get(row, "trust_self_orientation")?;
    p.score_contribution = get(row, "score_contribution")?;
    p.score_capability = get(row, "score_capability")?;
    p.score_coverage = get(row, "score_coverage")?;
    p.score_commitment = get(row, "score_commitment")?;
    p.score_consumption = get(row, "score_consumption")?;
    p.score_credibility = get(row, "score_credibility")?;
    p.integration_mode = opt_enum(row, "integration_mode", IntegrationMode::parse)?;
    let attributes: String = get(row, "attributes")?;
    p.attributes = parse("attributes", &attributes, |v| serde_json::from_str(v))?;
    Ok(p)
}

pub(super) fn plan(row: &AnyRow) -> Result<Plan, StoreError> {
    Ok(Plan {
        plan_id: id(row, "plan_id")?,
        partner_id: id(row, "partner_id")?,
        start_date: parse_date("start_date", &get::<String>(row, "start_date")?)?,
        end_date: parse_date("end_date", &get::<String>(row, "end_date")?)?,
        name: get(row, "name")?,
        template: get(row, "template")?,
        status: parse("status", &get::<String>(row, "status")?, PlanStatus::parse)?,
        owner_id: opt_id(row, "owner_id")?,
    })
}

pub(super) fn key_result(row: &AnyRow) -> Result<KeyResult, StoreError> {
    Ok(KeyResult {
        kr_id: id(row, "kr_id")?,
        plan_id: id(row, "plan_id")?,
        metric: get(row, "metric")?,
        target: get(row, "target")?,
        realized: get(row, "realized")?,
        objective: get(row, "objective")?,
        unit: get(row, "unit")?,
        weight: get(row, "weight")?,
        due_date: opt_date(row, "due_date")?,
    })
}

fn progress(row: &AnyRow) -> Result<KrProgress, StoreError> {
    Ok(KrProgress {
        kr_id: id(row, "kr_id")?,
        as_of: parse_date("as_of", &get::<String>(row, "as_of")?)?,
        realized: get(row, "realized")?,
    })
}

pub(super) fn activity(row: &AnyRow) -> Result<Activity, StoreError> {
    Ok(Activity {
        activity_id: id(row, "activity_id")?,
        plan_id: id(row, "plan_id")?,
        kind: get(row, "kind")?,
        date: parse_date("date", &get::<String>(row, "date")?)?,
        quantity: get(row, "quantity")?,
        status: parse(
            "status",
            &get::<String>(row, "status")?,
            ActivityStatus::parse,
        )?,
        responsible: opt_enum(row, "responsible", Responsible::parse)?,
        kr_id: opt_id(row, "kr_id")?,
    })
}

fn action(row: &AnyRow) -> Result<ActionSpec, StoreError> {
    let source: String = get(row, "source")?;
    Ok(ActionSpec {
        kind: get(row, "kind")?,
        label: get(row, "label")?,
        category: get(row, "category")?,
        stages: set(
            &get::<String>(row, "stages")?,
            "stages",
            JourneyStage::parse,
        )?,
        effort_hours: get(row, "effort_hours")?,
        responsible: parse(
            "responsible",
            &get::<String>(row, "responsible")?,
            Responsible::parse,
        )?,
        min_relationship: parse(
            "min_relationship_stage",
            &get::<String>(row, "min_relationship_stage")?,
            RelationshipStage::parse,
        )?,
        prerequisites: get::<String>(row, "prerequisites")?
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        cooldown_days: u32::try_from(get::<i64>(row, "cooldown_days")?).unwrap_or(u32::MAX),
        description: get(row, "description")?,
        source: match source.as_str() {
            "observed" => ActionSource::Observed,
            "built_in" => ActionSource::BuiltIn,
            _ => ActionSource::Tenant,
        },
    })
}

pub(super) fn feedback(row: &AnyRow) -> Result<Feedback, StoreError> {
    Ok(Feedback {
        recommendation_id: id(row, "recommendation_id")?,
        plan_id: id(row, "plan_id")?,
        kind: get(row, "kind")?,
        response: parse(
            "response",
            &get::<String>(row, "response")?,
            FeedbackResponse::parse,
        )?,
        at: parse(
            "at",
            &get::<String>(row, "at")?,
            DateTime::parse_from_rfc3339,
        )?,
        user_id: opt_id(row, "user_id")?,
    })
}

/// `WHERE` conditions on the plans table `p` for a filter, with their bind values after
/// the tenant (`$1`).
fn plan_conditions(filter: &PlanFilter<'_>) -> (String, Vec<String>) {
    let mut sql = String::from("p.tenant_id = $1");
    let mut binds = Vec::new();
    let mut add = |column: &str, value: String| {
        binds.push(value);
        sql.push_str(&format!(" AND p.{column} = ${}", binds.len() + 1));
    };
    if let Some(status) = filter.status {
        add("status", status.as_str().to_owned());
    }
    if let Some(partner) = filter.partner_id {
        add("partner_id", partner.to_string());
    }
    if let Some(plan) = filter.plan_id {
        add("plan_id", plan.to_string());
    }
    (sql, binds)
}

impl Store {
    /// Runs `sql` with the tenant as `$1` and `binds` as `$2...`.
    pub(super) async fn fetch(
        &self,
        what: &'static str,
        sql: &str,
        tenant: &str,
        binds: &[String],
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut query = sqlx::query(sql).bind(tenant.to_owned());
        for value in binds {
            query = query.bind(value.clone());
        }
        query.fetch_all(&self.pool).await.map_err(query_err(what))
    }

    async fn grouped(&self, sql: &str, tenant: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = self.fetch("counting rows", sql, tenant, &[]).await?;
        rows.iter()
            .map(|r| Ok((get::<String>(r, "k")?, get::<i64>(r, "n")?)))
            .collect()
    }

    async fn count(&self, sql: &str, tenant: &str) -> Result<i64, StoreError> {
        let rows = self.fetch("counting rows", sql, tenant, &[]).await?;
        rows.first().map_or(Ok(0), |r| get::<i64>(r, "n"))
    }

    /// Row counts per entity and status, for `nextbest stats` and health checks.
    pub async fn counts(&self, tenant: &str) -> Result<Counts, StoreError> {
        Ok(Counts {
            partners: self.count("SELECT COUNT(*) AS n FROM partners WHERE tenant_id = $1", tenant).await?,
            plans: self.grouped("SELECT status AS k, COUNT(*) AS n FROM plans WHERE tenant_id = $1 GROUP BY status", tenant).await?,
            key_results: self.count("SELECT COUNT(*) AS n FROM key_results WHERE tenant_id = $1", tenant).await?,
            key_results_without_target: self
                .count("SELECT COUNT(*) AS n FROM key_results WHERE tenant_id = $1 AND target IS NULL", tenant)
                .await?,
            kr_progress: self.count("SELECT COUNT(*) AS n FROM kr_progress WHERE tenant_id = $1", tenant).await?,
            activities: self
                .grouped("SELECT status AS k, COUNT(*) AS n FROM activities WHERE tenant_id = $1 GROUP BY status", tenant)
                .await?,
            actions: self.grouped("SELECT source AS k, COUNT(*) AS n FROM actions WHERE tenant_id = $1 GROUP BY source", tenant).await?,
            feedback: self
                .grouped("SELECT response AS k, COUNT(*) AS n FROM feedback WHERE tenant_id = $1 GROUP BY response", tenant)
                .await?,
        })
    }

    /// The ids a tenant already holds, so an import may refer to them.
    pub async fn known_ids(&self, tenant: &str) -> Result<crate::domain::KnownIds, StoreError> {
        let ids = |sql: &'static str| async move {
            sqlx::query_scalar::<_, String>(sql)
                .bind(tenant.to_owned())
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("reading known ids"))
        };
        let key_results = sqlx::query_as::<_, (String, String)>(
            "SELECT kr_id, plan_id FROM key_results WHERE tenant_id = $1",
        )
        .bind(tenant.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading known ids"))?;
        Ok(crate::domain::KnownIds {
            partners: ids("SELECT partner_id FROM partners WHERE tenant_id = $1")
                .await?
                .into_iter()
                .collect(),
            plans: ids("SELECT plan_id FROM plans WHERE tenant_id = $1")
                .await?
                .into_iter()
                .collect(),
            key_results: key_results.into_iter().collect(),
            catalog: Arc::new(self.catalog(tenant).await?),
        })
    }

    /// The ids among those given that the tenant holds, with its catalog: what a small
    /// write needs to check its references, without reading every id of the tenant the
    /// way [`Self::known_ids`] does (which takes seconds at 100k plans).
    pub async fn known_ids_among(
        &self,
        tenant: &str,
        partners: &[&str],
        plans: &[&str],
        key_results: &[&str],
    ) -> Result<crate::domain::KnownIds, StoreError> {
        let single = |rows: Vec<(String,)>| rows.into_iter().map(|(id,)| id).collect();
        Ok(crate::domain::KnownIds {
            partners: single(
                self.existing(tenant, "partners", "partner_id", "partner_id", partners)
                    .await?,
            ),
            plans: single(
                self.existing(tenant, "plans", "plan_id", "plan_id", plans)
                    .await?,
            ),
            key_results: self
                .existing::<(String, String)>(
                    tenant,
                    "key_results",
                    "kr_id",
                    "kr_id, plan_id",
                    key_results,
                )
                .await?
                .into_iter()
                .collect(),
            catalog: Arc::new(self.catalog(tenant).await?),
        })
    }

    /// The `select`ed columns of the rows of `table` whose `column` is among `ids`, for
    /// the tenant, in `IN` lists of at most [`IN_LIST_MAX`] ids.
    async fn existing<T>(
        &self,
        tenant: &str,
        table: &'static str,
        column: &'static str,
        select: &'static str,
        ids: &[&str],
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(query_err("reading known ids"))?;
        let select = format!("SELECT {select} FROM {table} WHERE tenant_id = $1 AND {column} IN");
        select_in(&mut conn, "reading known ids", &select, tenant, &ids).await
    }

    /// The tenants that hold any partner, for `nextbest stats` without `--tenant`.
    pub async fn tenants(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT tenant_id FROM partners ORDER BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("listing tenants"))
    }

    pub async fn partner(
        &self,
        tenant: &str,
        partner_id: &Id,
    ) -> Result<Option<Partner>, StoreError> {
        let rows = self
            .fetch(
                "reading a partner",
                "SELECT * FROM partners WHERE tenant_id = $1 AND partner_id = $2",
                tenant,
                &[partner_id.to_string()],
            )
            .await?;
        rows.first().map(partner).transpose()
    }

    pub async fn partners(&self, tenant: &str) -> Result<Vec<Partner>, StoreError> {
        let rows = self
            .fetch(
                "reading partners",
                "SELECT * FROM partners WHERE tenant_id = $1 ORDER BY partner_id",
                tenant,
                &[],
            )
            .await?;
        rows.iter().map(partner).collect()
    }

    /// Plans matching `filter`, each with its key results, progress series and activities,
    /// in four queries however many plans match.
    pub async fn plans(
        &self,
        tenant: &str,
        filter: PlanFilter<'_>,
    ) -> Result<Vec<PlanRecord>, StoreError> {
        let (cond, binds) = plan_conditions(&filter);
        // The plans' rows are found through an `IN (subquery)` on the child tables' own
        // (tenant_id, plan_id) indexes: a join on `plans` let SQLite, without statistics,
        // scan every row of the tenant (25 ms instead of 0.4 ms for one plan's progress).
        let of_plans = format!("SELECT p.plan_id FROM plans p WHERE {cond}");
        let plans = self
            .fetch(
                "reading plans",
                &format!("SELECT p.* FROM plans p WHERE {cond} ORDER BY p.plan_id"),
                tenant,
                &binds,
            )
            .await?;
        let key_results = self
            .fetch(
                "reading key results",
                &format!(
                    "SELECT x.* FROM key_results x WHERE x.tenant_id = $1 \
                     AND x.plan_id IN ({of_plans}) ORDER BY x.plan_id, x.kr_id"
                ),
                tenant,
                &binds,
            )
            .await?;
        let progress_sql = format!(
            "SELECT g.* FROM kr_progress g WHERE g.tenant_id = $1 AND g.kr_id IN \
             (SELECT x.kr_id FROM key_results x WHERE x.tenant_id = $1 AND x.plan_id IN ({of_plans})) \
             ORDER BY g.kr_id, g.as_of"
        );
        let progress_rows = self
            .fetch("reading key result progress", &progress_sql, tenant, &binds)
            .await?;
        let activity_sql = format!(
            "SELECT x.* FROM activities x WHERE x.tenant_id = $1 AND x.plan_id IN ({of_plans}) \
             ORDER BY x.plan_id, x.date, x.activity_id"
        );
        let activities = self
            .fetch("reading activities", &activity_sql, tenant, &binds)
            .await?;

        let mut records: Vec<PlanRecord> = plans
            .iter()
            .map(|row| {
                Ok(PlanRecord {
                    plan: plan(row)?,
                    key_results: Vec::new(),
                    progress: Vec::new(),
                    activities: Vec::new(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let index: HashMap<String, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.plan.plan_id.to_string(), i))
            .collect();
        let mut kr_plan: HashMap<String, usize> = HashMap::new();
        for row in &key_results {
            let kr = key_result(row)?;
            if let Some(&i) = index.get(kr.plan_id.as_str()) {
                kr_plan.insert(kr.kr_id.to_string(), i);
                records[i].key_results.push(kr);
            }
        }
        for row in &progress_rows {
            let point = progress(row)?;
            if let Some(&i) = kr_plan.get(point.kr_id.as_str()) {
                records[i].progress.push(point);
            }
        }
        for row in &activities {
            let a = activity(row)?;
            if let Some(&i) = index.get(a.plan_id.as_str()) {
                records[i].activities.push(a);
            }
        }
        Ok(records)
    }

    pub async fn plan(&self, tenant: &str, plan_id: &Id) -> Result<Option<PlanRecord>, StoreError> {
        let filter = PlanFilter {
            plan_id: Some(plan_id),
            ..PlanFilter::default()
        };
        Ok(self.plans(tenant, filter).await?.into_iter().next())
    }

    /// A plan as it stood on `as_of`: see [`PlanRecord::as_of`].
    pub async fn plan_as_of(
        &self,
        tenant: &str,
        plan_id: &Id,
        as_of: NaiveDate,
    ) -> Result<Option<PlanRecord>, StoreError> {
        Ok(self.plan(tenant, plan_id).await?.map(|r| r.as_of(as_of)))
    }

    /// All closed plans: the training examples.
    pub async fn closed_plans(&self, tenant: &str) -> Result<Vec<PlanRecord>, StoreError> {
        self.plans(
            tenant,
            PlanFilter {
                status: Some(PlanStatus::Closed),
                ..PlanFilter::default()
            },
        )
        .await
    }

    /// All active plans: the ones that get predictions and next best actions.
    pub async fn active_plans(&self, tenant: &str) -> Result<Vec<PlanRecord>, StoreError> {
        self.plans(
            tenant,
            PlanFilter {
                status: Some(PlanStatus::Active),
                ..PlanFilter::default()
            },
        )
        .await
    }

    pub async fn partner_plans(
        &self,
        tenant: &str,
        partner_id: &Id,
    ) -> Result<Vec<PlanRecord>, StoreError> {
        self.plans(
            tenant,
            PlanFilter {
                partner_id: Some(partner_id),
                ..PlanFilter::default()
            },
        )
        .await
    }

    /// The tenant's stored action definitions (its own and observed kinds).
    pub async fn actions(&self, tenant: &str) -> Result<Vec<ActionSpec>, StoreError> {
        let rows = self
            .fetch(
                "reading actions",
                "SELECT * FROM actions WHERE tenant_id = $1 ORDER BY kind",
                tenant,
                &[],
            )
            .await?;
        rows.iter().map(action).collect()
    }

    /// The built-in catalog merged with the tenant's definitions and observed kinds.
    pub async fn catalog(&self, tenant: &str) -> Result<Catalog, StoreError> {
        let mut catalog = Catalog::built_in();
        for spec in self.actions(tenant).await? {
            catalog.merge(spec);
        }
        Ok(catalog)
    }

    pub async fn feedback(&self, tenant: &str) -> Result<Vec<Feedback>, StoreError> {
        let rows = self
            .fetch(
                "reading feedback",
                "SELECT * FROM feedback WHERE tenant_id = $1 ORDER BY at, recommendation_id",
                tenant,
                &[],
            )
            .await?;
        rows.iter().map(feedback).collect()
    }

    /// Feedback on the recommendations of every plan of one partner, oldest first: a
    /// partner's view in memory is read with its plans.
    pub async fn partner_feedback(
        &self,
        tenant: &str,
        partner_id: &Id,
    ) -> Result<Vec<Feedback>, StoreError> {
        let rows = self
            .fetch(
                "reading a partner's feedback",
                "SELECT f.* FROM feedback f JOIN plans p \
                 ON p.tenant_id = f.tenant_id AND p.plan_id = f.plan_id \
                 WHERE f.tenant_id = $1 AND p.partner_id = $2 \
                 ORDER BY f.at, f.recommendation_id",
                tenant,
                &[partner_id.to_string()],
            )
            .await?;
        rows.iter().map(feedback).collect()
    }

    /// Feedback on one plan's recommendations, oldest first: the engine respects dismissals.
    pub async fn plan_feedback(
        &self,
        tenant: &str,
        plan_id: &Id,
    ) -> Result<Vec<Feedback>, StoreError> {
        let rows = self
            .fetch(
                "reading a plan's feedback",
                "SELECT * FROM feedback WHERE tenant_id = $1 AND plan_id = $2 \
                 ORDER BY at, recommendation_id",
                tenant,
                &[plan_id.to_string()],
            )
            .await?;
        rows.iter().map(feedback).collect()
    }

    /// Everything stored for a tenant, in the shape import reads: for `nextbest export`.
    pub async fn dataset(&self, tenant: &str) -> Result<Dataset, StoreError> {
        let mut data = Dataset {
            partners: self.partners(tenant).await?,
            ..Dataset::default()
        };
        for record in self.plans(tenant, PlanFilter::default()).await? {
            data.plans.push(record.plan);
            data.key_results.extend(record.key_results);
            data.kr_progress.extend(record.progress);
            data.activities.extend(record.activities);
        }
        data.actions = self.actions(tenant).await?;
        data.feedback = self.feedback(tenant).await?;
        Ok(data)
    }
}
