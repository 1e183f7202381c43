//! Plain types and rules of the partner-ecosystem domain: no I/O, no async, no storage.
//!
//! Everything here is shared by import, the store, the synthetic world and (later) the
//! engine, so the vocabulary of DOMAIN.md and the contract of DATA_FORMAT.md live in
//! exactly one place.

pub mod activity;
pub mod catalog;
pub mod dataset;
pub mod enums;
pub mod error;
pub mod feedback;
pub mod id;
pub mod key_result;
pub mod pace;
pub mod partner;
pub mod plan;

pub use activity::Activity;
pub use catalog::{ActionSpec, Catalog, Effort};
pub use dataset::{Dataset, KnownIds};
pub use enums::{
    ActivityStatus, FeedbackResponse, IntegrationMode, JourneyStage, PartnerType, PlanStatus,
    RelationshipStage, Responsible, Role, Tier,
};
pub use error::DomainError;
pub use feedback::Feedback;
pub use id::Id;
pub use key_result::{attainment, KeyResult, KrProgress};
pub use pace::{kr_pace, plan_pace, Pace};
pub use partner::{AttributeValue, Partner};
pub use plan::{Plan, PlanRecord};
