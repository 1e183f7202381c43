//! A dataset in memory: the entities of DATA_FORMAT.md, already validated. Import reads
//! files into it, export and the synthetic world write it out, the store takes it whole.

use std::collections::HashSet;

use super::{ActionSpec, Activity, Catalog, Feedback, KeyResult, KrProgress, Partner, Plan};

#[derive(Debug, Clone, Default)]
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
}

/// Ids the tenant already has in the store, so a dataset may refer to them.
#[derive(Debug, Clone, Default)]
pub struct KnownIds {
    pub partners: HashSet<String>,
    pub plans: HashSet<String>,
    pub key_results: HashSet<String>,
    pub catalog: Catalog,
}
