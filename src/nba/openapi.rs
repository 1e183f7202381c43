//! The OpenAPI schemas of the domain's words that the engine's answers carry (effort,
//! who does an action, where its definition came from, pace). `domain` knows nothing of
//! the HTTP contract, so its enums derive no schema; the answers name these mirrors with
//! `#[schema(value_type = ...)]` instead, and the tests below hold every mirror to the
//! domain enum's own serde spelling, so the two cannot drift apart unnoticed.

use utoipa::ToSchema;

/// Effort class: `L` under an hour, `M` a meeting or a few hours, `H` weeks.
#[derive(ToSchema)]
#[schema(as = Effort)]
pub enum EffortSchema {
    L,
    M,
    H,
}

/// Who does an action.
#[derive(ToSchema)]
#[schema(as = Responsible)]
#[schema(rename_all = "snake_case")]
pub enum ResponsibleSchema {
    Vendor,
    Partner,
    Joint,
}

/// Where an action's definition came from: the tenant's actions file, the built-in
/// catalog, or only observed in activities (undescribed).
#[derive(ToSchema)]
#[schema(as = ActionSource)]
#[schema(rename_all = "snake_case")]
pub enum ActionSourceSchema {
    Observed,
    BuiltIn,
    Tenant,
}

/// Where a key result stands against the pace its period calls for.
#[derive(ToSchema)]
#[schema(as = Pace)]
#[schema(rename_all = "snake_case")]
pub enum PaceSchema {
    Complete,
    OnTrack,
    Behind,
    AtRisk,
    NotComplete,
    NotDefined,
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;
    use crate::domain::catalog::ActionSource;
    use crate::domain::{Effort, Pace, Responsible};

    /// The words a mirror's schema allows, in order.
    fn allowed<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("not an enum schema: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    fn spelled<T: serde::Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// Every variant of a domain enum, listed through a `match` without a wildcard: a new
    /// variant fails to compile here until its mirror has it too.
    fn every_effort() -> Vec<Effort> {
        [Effort::L, Effort::M, Effort::H]
            .into_iter()
            .inspect(|e| match e {
                Effort::L | Effort::M | Effort::H => {}
            })
            .collect()
    }

    fn every_source() -> Vec<ActionSource> {
        [
            ActionSource::Observed,
            ActionSource::BuiltIn,
            ActionSource::Tenant,
        ]
        .into_iter()
        .inspect(|s| match s {
            ActionSource::Observed | ActionSource::BuiltIn | ActionSource::Tenant => {}
        })
        .collect()
    }

    fn every_pace() -> Vec<Pace> {
        [
            Pace::Complete,
            Pace::OnTrack,
            Pace::Behind,
            Pace::AtRisk,
            Pace::NotComplete,
            Pace::NotDefined,
        ]
        .into_iter()
        .inspect(|p| match p {
            Pace::Complete
            | Pace::OnTrack
            | Pace::Behind
            | Pace::AtRisk
            | Pace::NotComplete
            | Pace::NotDefined => {}
        })
        .collect()
    }

    #[test]
    fn every_mirror_allows_exactly_the_domain_spelling() {
        assert_eq!(allowed::<EffortSchema>(), spelled(&every_effort()));
        assert_eq!(allowed::<ActionSourceSchema>(), spelled(&every_source()));
        assert_eq!(allowed::<PaceSchema>(), spelled(&every_pace()));
        let responsible: Vec<String> = Responsible::ALL
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        assert_eq!(allowed::<ResponsibleSchema>(), responsible);
    }
}
