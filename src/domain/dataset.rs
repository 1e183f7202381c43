//! A dataset in memory: the entities of DATA_FORMAT.md, already validated. Import reads
//! files into it, export and the synthetic world write it out, the store takes it whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{ActionSpec, Activity, Catalog, Feedback, KeyResult, KrProgress, Partner, Plan};

/// Serialisable so that a write can answer with the rows as stored (derived ids included).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Dataset {
    pub partners: Vec<Partner>,
    pub plans: Vec<Plan>,
    pub key_results: Vec<KeyResult>,
    pub kr_progress: Vec<KrProgress>,
    pub activities: Vec<Activity>,
    pub actions: Vec<ActionSpec>,
    pub feedback: Vec<Feedback>,
}

impl Dataset {
    /// Row counts per entity, in DATA_FORMAT.md's order.
    pub fn counts(&self) -> [(&'static str, usize); 7] {
        [
            ("partners", self.partners.len()),
            ("plans", self.plans.len()),
            ("key_results", self.key_results.len()),
            ("kr_progress", self.kr_progress.len()),
            ("activities", self.activities.len()),
            ("actions", self.actions.len()),
            ("feedback", self.feedback.len()),
        ]
    }

    /// Appends `other`'s rows after this dataset's, entity by entity, so that several
    /// writes can go to the store as one (a group commit's shared statements).
    pub fn extend_from(&mut self, other: &Dataset) {
        // Whole, so that a new entity cannot be left out here unnoticed.
        let Dataset {
            partners,
            plans,
            key_results,
            kr_progress,
            activities,
            actions,
            feedback,
        } = other;
        self.partners.extend_from_slice(partners);
        self.plans.extend_from_slice(plans);
        self.key_results.extend_from_slice(key_results);
        self.kr_progress.extend_from_slice(kr_progress);
        self.activities.extend_from_slice(activities);
        self.actions.extend_from_slice(actions);
        self.feedback.extend_from_slice(feedback);
    }
}

/// Ids the tenant already has in the store, so a dataset may refer to them.
#[derive(Debug, Clone, Default)]
pub struct KnownIds {
    pub partners: HashSet<String>,
    pub plans: HashSet<String>,
    /// Each key result's plan: a key result never moves to another plan (DATA_FORMAT.md).
    pub key_results: HashMap<String, String>,
    /// Shared: a sync write's validation takes the one held in memory, not a copy.
    pub catalog: Arc<Catalog>,
}

/// The columns of each entity file, in DATA_FORMAT.md's order: what export writes, what
/// import knows, and (after `tenant_id`) what the store's tables hold.
pub mod columns {
    /// Column order of `partners.csv` before any custom attribute columns.
    pub const PARTNER_COLUMNS: &[&str] = &[
        "partner_id",
        "name",
        "partner_type",
        "roles",
        "tier",
        "relationship_stage",
        "journey_stage",
        "region",
        "country",
        "segment",
        "industry",
        "employees",
        "partner_since",
        "manager_id",
        "certified_reps",
        "trained_reps",
        "nps",
        "trust_reliability",
        "trust_credibility",
        "trust_intimacy",
        "trust_self_orientation",
        "score_contribution",
        "score_capability",
        "score_coverage",
        "score_commitment",
        "score_consumption",
        "score_credibility",
        "integration_mode",
    ];
    pub const PLAN_COLUMNS: &[&str] = &[
        "plan_id",
        "partner_id",
        "start_date",
        "end_date",
        "name",
        "template",
        "status",
        "owner_id",
    ];
    pub const KEY_RESULT_COLUMNS: &[&str] = &[
        "kr_id",
        "plan_id",
        "metric",
        "target",
        "realized",
        "objective",
        "unit",
        "weight",
        "due_date",
    ];
    pub const KR_PROGRESS_COLUMNS: &[&str] = &["kr_id", "as_of", "realized"];
    pub const ACTIVITY_COLUMNS: &[&str] = &[
        "activity_id",
        "plan_id",
        "kind",
        "date",
        "quantity",
        "status",
        "responsible",
        "kr_id",
    ];
    pub const ACTION_COLUMNS: &[&str] = &[
        "kind",
        "label",
        "category",
        "stages",
        "effort_hours",
        "responsible",
        "min_relationship_stage",
        "prerequisites",
        "cooldown_days",
        "description",
    ];
    pub const FEEDBACK_COLUMNS: &[&str] = &[
        "recommendation_id",
        "plan_id",
        "kind",
        "response",
        "at",
        "user_id",
    ];
}
