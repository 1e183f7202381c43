use chrono::{DateTime, FixedOffset};

use super::{FeedbackResponse, Id};

/// What a person did with a recommendation; joined later to the recommendation log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Feedback {
    pub recommendation_id: Id,
    pub plan_id: Id,
    pub kind: String,
    pub response: FeedbackResponse,
    pub at: DateTime<FixedOffset>,
    pub user_id: Option<Id>,
}
