//! From the store to the registry and back: build the training set of a tenant, train,
//! save and activate a version; predict the tenant's active plans with the active model.
//! The CLI and (later) the HTTP API both call these, so they serve the same numbers.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use thiserror::Error;

use super::effects;
use super::outcome::{OutcomeModel, Prediction};
use super::registry::{ModelCard, Registry, RegistryError};
use super::train::{train, ModelError, TrainParams, TrainReport};
use crate::domain::id::fnv1a64;
use crate::domain::{Id, Partner, PlanRecord, PlanStatus};
use crate::features::{
    profile_as_of, FeatureError, ProfileSchema, RecentMix, Snapshot, TrainingSet,
    DEFAULT_FRACTIONS, SCHEMA_VERSION,
};
use crate::store::{PlanFilter, Store, StoreError};

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("could not read the tenant's data")]
    Store(#[from] StoreError),
    #[error("could not build the training set")]
    Features(#[from] FeatureError),
    #[error("training failed")]
    Model(#[from] ModelError),
    #[error("the model registry failed")]
    Registry(#[from] RegistryError),
    #[error("tenant `{0}` has no active model: run `nextbest train` first")]
    NoActiveModel(String),
    #[error("plan `{0}` does not exist or is not active")]
    NoSuchActivePlan(String),
}

/// The tenant's closed plans as a training set, with the feature schema fitted on the
/// training side of the time split.
pub async fn training_set(store: &Store, tenant: &str) -> Result<TrainingSet, PipelineError> {
    let closed = store.closed_plans(tenant).await?;
    let partners = partners_by_id(store, tenant).await?;
    let catalog = store.catalog(tenant).await?;
    Ok(TrainingSet::build(
        &closed,
        &partners,
        &catalog,
        &DEFAULT_FRACTIONS,
    )?)
}

/// The tenant's partners by id, for feature rows.
pub(crate) async fn partners_by_id(
    store: &Store,
    tenant: &str,
) -> Result<HashMap<String, Partner>, StoreError> {
    Ok(store
        .partners(tenant)
        .await?
        .into_iter()
        .map(|p| (p.partner_id.to_string(), p))
        .collect())
}

/// A hash of what the model learned from: each snapshot's plan, fraction and label.
fn fingerprint(set: &TrainingSet) -> String {
    let bytes = set
        .plan_ids
        .iter()
        .zip(&set.fractions)
        .zip(&set.attainment)
        .flat_map(|((id, f), a)| {
            id.bytes()
                .chain(f.to_le_bytes())
                .chain(a.to_le_bytes())
                .collect::<Vec<u8>>()
        });
    format!("{:016x}", fnv1a64(bytes))
}

/// Trains on the tenant's closed plans, fits the profile schema on its partners (as of the
/// newest done activity, or today), saves a new version and activates it. A failure at
/// any step leaves the registry, and the active version, as they were.
pub async fn train_tenant(
    store: &Store,
    registry: &Registry,
    tenant: &str,
    params: &TrainParams,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(ModelCard, TrainReport), PipelineError> {
    let started = Instant::now();
    progress("reading plans");
    // One read serves both: closed plans train the outcome model, and every plan's
    // recent activities describe the partners for the profile schema.
    let (closed, open): (Vec<PlanRecord>, Vec<PlanRecord>) = store
        .plans(tenant, PlanFilter::default())
        .await?
        .into_iter()
        .partition(|r| r.plan.status == PlanStatus::Closed);
    let partner_list = store.partners(tenant).await?;
    let partners: HashMap<String, Partner> = partner_list
        .iter()
        .map(|p| (p.partner_id.to_string(), p.clone()))
        .collect();
    let catalog = store.catalog(tenant).await?;
    let set = TrainingSet::build(&closed, &partners, &catalog, &DEFAULT_FRACTIONS)?;
    progress("fitting models");
    let mut trained = train(&set, params, progress)?;
    progress("fitting action effects");
    let kinds: Vec<String> = catalog.iter().map(|s| s.kind.clone()).collect();
    let rows = super::treatments::decision_rows(&set, &trained.model, &closed, &partners, &kinds);
    match effects::EffectModel::fit(&rows, &kinds) {
        Ok(fitted) => trained.model.effects = Some(fitted),
        // Recommendations fall back on the outcome model's counterfactual.
        Err(e) => tracing::warn!(tenant, error = %e, "no effect model"),
    }
    let now = Utc::now();
    let as_of = profile_as_of(closed.iter().chain(&open), now.date_naive());
    let mixes = RecentMix::of_partners(closed.iter().chain(&open), &catalog, as_of);
    let profile = ProfileSchema::fit(&partner_list, &mixes, &catalog, as_of);
    let profile_notes = serde_json::json!({
        "dimension": profile.dimension(),
        "as_of": as_of,
        "partners": profile.fitted_on,
    });
    trained.model.profile = Some(profile);
    let kept: Vec<&str> = trained
        .report
        .families
        .iter()
        .filter(|f| f.kept)
        .map(|f| f.family.as_str())
        .collect();
    let card = ModelCard {
        version: Registry::new_version(now),
        tenant: tenant.to_owned(),
        created_at: now,
        feature_schema_version: SCHEMA_VERSION,
        data_fingerprint: fingerprint(&set),
        sizes: serde_json::to_value(&trained.report.sizes).unwrap_or_default(),
        metrics: serde_json::json!({
            "test": trained.report.test,
            "families": trained.report.families,
            "by_template": trained.report.by_template,
            "by_relationship_stage": trained.report.by_relationship_stage,
        }),
        training_seconds: started.elapsed().as_secs_f64(),
        notes: serde_json::json!({
            "kept": kept,
            "cutoff": trained.report.cutoff,
            "calibration_cutoff": trained.report.calibration_cutoff,
            "params": trained.report.params,
            "profile": profile_notes,
        }),
    };
    progress("saving the model");
    registry.save(&trained.model, &card)?;
    registry.activate(tenant, &card.version)?;
    Ok((card, trained.report))
}

/// The tenant's active model.
pub fn active_model(
    registry: &Registry,
    tenant: &str,
) -> Result<(OutcomeModel, ModelCard), PipelineError> {
    let version = registry
        .active(tenant)?
        .ok_or_else(|| PipelineError::NoActiveModel(tenant.to_owned()))?;
    let (model, card): (OutcomeModel, ModelCard) = registry.load(tenant, &version)?;
    model.schema.check_version()?;
    Ok((model, card))
}

/// Predictions for the tenant's active plans (or one of them) as they stand on `as_of`.
pub async fn predict_active(
    store: &Store,
    model: &OutcomeModel,
    tenant: &str,
    as_of: NaiveDate,
    plan: Option<&Id>,
) -> Result<Vec<(Id, Prediction)>, PipelineError> {
    let filter = PlanFilter {
        status: Some(crate::domain::PlanStatus::Active),
        plan_id: plan,
        ..PlanFilter::default()
    };
    let records = store.plans(tenant, filter).await?;
    if let (Some(id), true) = (plan, records.is_empty()) {
        return Err(PipelineError::NoSuchActivePlan(id.to_string()));
    }
    let partners = partners_by_id(store, tenant).await?;
    Ok(records
        .iter()
        .map(|record| {
            let partner = partners.get(record.plan.partner_id.as_str());
            (
                record.plan.plan_id.clone(),
                predict_record(model, record, partner, as_of),
            )
        })
        .collect())
}

/// The prediction of one plan as it stands on `as_of`, from records already read: the
/// same numbers as [`predict_active`], for callers (roll-ups, attention lists) that hold
/// the plans and partners anyway and must not disagree with the per-plan endpoint.
pub fn predict_record(
    model: &OutcomeModel,
    record: &PlanRecord,
    partner: Option<&Partner>,
    as_of: NaiveDate,
) -> Prediction {
    let snapshot = Snapshot::serving(record, as_of);
    let row = model.schema.row(&snapshot, partner);
    model.predict(&row, snapshot.fraction)
}
