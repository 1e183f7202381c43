//! The OpenAPI document, generated from the handlers' annotations, so it cannot drift
//! from the code; CI validates it and runs a contract test against a live server.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{decisions, docs, error, jobs, models, ops, portfolio, sync};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `nextbest keys create --tenant T --scope read|write|admin`",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nextbest",
        description = "Next best actions for partner ecosystems: sync partners, plans, key \
                       results and activities; get ranked next best actions with reasons, \
                       predicted plan outcomes with intervals, similar partners, benchmarks \
                       and portfolio forecasts."
    ),
    paths(
        sync::put_partner, sync::get_partner, sync::list_partners,
        sync::put_plan, sync::get_plan, sync::list_plans,
        sync::post_activities, sync::list_activities,
        sync::post_feedback, sync::list_feedback, sync::bulk,
        decisions::next_best_actions, decisions::stateless, decisions::prediction,
        decisions::similar, decisions::benchmark, decisions::fit, decisions::what_if,
        portfolio::forecast, portfolio::attention,
        models::train, models::job, models::list, models::activate,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(
        error::ProblemBody, docs::PartnerDoc, docs::PlanDoc, docs::KeyResultDoc,
        docs::ActivityDoc, docs::FeedbackDoc, docs::Page, docs::Written,
        decisions::Snapshot, decisions::PlanPrediction, decisions::FitRequest,
        decisions::WhatIfRequest, jobs::Job, jobs::JobStatus, models::ModelList, ops::Health,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "sync", description = "Partners, plans, key results, activities and feedback in; reads out"),
        (name = "decisions", description = "Next best actions, predictions, similar partners, benchmarks, fit, what-if"),
        (name = "portfolio", description = "Forecast roll-ups and manager attention"),
        (name = "models", description = "Training, versions, activation"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;
