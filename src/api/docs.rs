//! Schemas of the request and response bodies, for the OpenAPI document. The entity
//! schemas mirror DATA_FORMAT.md, which is what the domain types serialise to and what
//! the sync endpoints read (through the importer's validation), so one contract holds
//! for files, requests and responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A partner (DATA_FORMAT.md `partners`). Unknown keys, or the `attributes` object, are
/// custom attributes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerDoc {
    pub partner_id: Option<String>,
    pub name: Option<String>,
    /// reseller, var, msp, distributor, system_integrator, isv, referral, consultancy,
    /// marketplace, other
    pub partner_type: Option<String>,
    /// Subset of advise, sell, build, service, manage.
    pub roles: Option<Vec<String>>,
    /// none, registered, silver, gold, platinum
    pub tier: Option<String>,
    /// transactional, enhanced, collaborative, partnership
    pub relationship_stage: Option<String>,
    /// prospect, onboard, develop, win, deliver, expand, retain
    pub journey_stage: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub segment: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i64>,
    /// YYYY-MM-DD
    pub partner_since: Option<String>,
    pub manager_id: Option<String>,
    pub certified_reps: Option<i64>,
    pub trained_reps: Option<i64>,
    pub nps: Option<f64>,
    pub trust_reliability: Option<f64>,
    pub trust_credibility: Option<f64>,
    pub trust_intimacy: Option<f64>,
    pub trust_self_orientation: Option<f64>,
    pub score_contribution: Option<f64>,
    pub score_capability: Option<f64>,
    pub score_coverage: Option<f64>,
    pub score_commitment: Option<f64>,
    pub score_consumption: Option<f64>,
    pub score_credibility: Option<f64>,
    /// portal, api, crm
    pub integration_mode: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, serde_json::Value>>,
}

/// A key result (DATA_FORMAT.md `key_results`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyResultDoc {
    pub kr_id: String,
    pub plan_id: Option<String>,
    pub metric: Option<String>,
    /// > 0; null means "not defined".
    pub target: Option<f64>,
    pub realized: Option<f64>,
    pub objective: Option<String>,
    pub unit: Option<String>,
    pub weight: Option<f64>,
    pub due_date: Option<String>,
}

/// A plan (DATA_FORMAT.md `plans`) with, optionally, its complete set of key results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanDoc {
    pub plan_id: Option<String>,
    pub partner_id: String,
    /// YYYY-MM-DD
    pub start_date: String,
    /// YYYY-MM-DD, after start_date
    pub end_date: String,
    pub name: Option<String>,
    pub template: Option<String>,
    /// draft, active, closed, cancelled
    pub status: String,
    pub owner_id: Option<String>,
    pub key_results: Option<Vec<KeyResultDoc>>,
}

/// An activity (DATA_FORMAT.md `activities`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityDoc {
    pub activity_id: Option<String>,
    pub plan_id: Option<String>,
    pub kind: String,
    /// YYYY-MM-DD
    pub date: String,
    pub quantity: Option<f64>,
    /// done, planned, cancelled
    pub status: Option<String>,
    /// vendor, partner, joint
    pub responsible: Option<String>,
    pub kr_id: Option<String>,
}

/// Feedback on a recommendation (DATA_FORMAT.md `feedback`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeedbackDoc {
    pub recommendation_id: String,
    pub plan_id: String,
    pub kind: String,
    /// accepted, dismissed, completed, snoozed
    pub response: String,
    /// RFC 3339; defaults to now.
    pub at: Option<String>,
    pub user_id: Option<String>,
}

/// A page of a list: `next_cursor` is passed as `cursor` for the next page, and is
/// null on the last one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}

/// What a sync write stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    /// Rows written per entity.
    #[schema(value_type = Object)]
    pub written: BTreeMap<String, usize>,
    /// Kinds seen in activities that no catalog defines, kept as custom kinds.
    pub custom_kinds: Vec<String>,
    /// The stored objects, as GET returns them.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}
