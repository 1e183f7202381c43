//! The OpenAPI document, generated from the handlers' annotations, so it cannot drift
//! from the code; CI validates it and runs a contract test against a live server.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::OneOf;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{Modify, OpenApi};

use super::{decisions, digests, docs, error, jobs, models, ops, portfolio, subscriptions, sync};

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

/// The errors any `/v1` operation can answer, documented on each (the handlers list
/// only the ones particular to them): a client generated from the document knows that
/// every call can meet auth, validation, limit and availability errors.
struct CommonErrors;

const COMMON: &[(&str, &str, bool)] = &[
    ("400", "Malformed JSON body", true),
    ("401", "Missing, invalid or revoked API key", false),
    ("403", "The key's scope does not allow this", false),
    ("404", "No such resource for this tenant", false),
    ("413", "Body larger than the limit", true),
    ("415", "Body is not application/json", true),
    ("422", "Invalid field, parameter or reference", false),
    (
        "503",
        "At the concurrency limit (Retry-After), or the store is unavailable",
        false,
    ),
    ("504", "The request took longer than the limit", false),
];

fn add_common(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    for (code, description, body_only) in COMMON {
        if *body_only && !has_body {
            continue;
        }
        if operation.responses.responses.contains_key(*code) {
            continue;
        }
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                super::error::PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ProblemBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert((*code).to_owned(), RefOr::T(response));
    }
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_common(operation);
            }
        }
    }
}

/// A struct that flattens an internally tagged enum beside fields of its own
/// (`#[serde(flatten)]`: an excluded action with its `reason`, an attention reason with
/// its `code`) is derived as `allOf` over the enum's `oneOf`. That is valid, but client
/// generators refuse it (openapi-python-client drops the schema and every schema that
/// uses it, next-best-actions included), so each such struct is rewritten as the
/// `oneOf` it serialises to: one object per variant, with the variant's fields and the
/// struct's own. Built from the derived schemas, it cannot drift from the types.
struct FlattenedEnums;

/// The `oneOf` that `schema` (in `schemas`) serialises to, if it is `allOf` a reference
/// to a `oneOf` of objects and an object of the struct's own fields.
fn flattened(
    schema: &RefOr<Schema>,
    schemas: &std::collections::BTreeMap<String, RefOr<Schema>>,
) -> Option<Schema> {
    let RefOr::T(Schema::AllOf(all)) = schema else {
        return None;
    };
    let [RefOr::Ref(tagged), RefOr::T(Schema::Object(own))] = all.items.as_slice() else {
        return None;
    };
    let name = tagged.ref_location.strip_prefix("#/components/schemas/")?;
    let Some(RefOr::T(Schema::OneOf(variants))) = schemas.get(name) else {
        return None;
    };
    let mut merged = OneOf::new();
    merged.description.clone_from(&all.description);
    for variant in &variants.items {
        let RefOr::T(Schema::Object(variant)) = variant else {
            return None;
        };
        let mut object = variant.clone();
        object
            .properties
            .extend(own.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        // A variant field named like one of the struct's is listed once.
        for field in &own.required {
            if !object.required.contains(field) {
                object.required.push(field.clone());
            }
        }
        merged.items.push(RefOr::T(Schema::Object(object)));
    }
    Some(Schema::OneOf(merged))
}

impl Modify for FlattenedEnums {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let rewritten: Vec<(String, Schema)> = components
            .schemas
            .iter()
            .filter_map(|(name, schema)| {
                flattened(schema, &components.schemas).map(|s| (name.clone(), s))
            })
            .collect();
        for (name, schema) in rewritten {
            components.schemas.insert(name, RefOr::T(schema));
        }
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
        digests::digest,
        models::train, models::job, models::list, models::activate,
        ops::healthz, ops::readyz, ops::metrics,
        subscriptions::create_subscription, subscriptions::list_subscriptions,
        subscriptions::get_subscription, subscriptions::put_subscription,
        subscriptions::delete_subscription, subscriptions::list_deliveries,
        subscriptions::send_digests,
    ),
    components(schemas(
        error::ProblemBody, docs::PartnerDoc, docs::PlanDoc, docs::KeyResultDoc,
        docs::ActivityDoc, docs::FeedbackDoc, docs::Page, docs::Written,
        decisions::Snapshot, decisions::PlanPrediction, decisions::FitRequest,
        decisions::WhatIfRequest, jobs::Job, jobs::JobStatus, models::ModelList, ops::Health,
        subscriptions::SubscriptionRequest, subscriptions::SubscriptionDoc,
        subscriptions::SubscriptionList, subscriptions::DeliveryDoc, subscriptions::DeliveryList,
        crate::digest::schedule::ScheduleReport,
    )),
    modifiers(&BearerAuth, &CommonErrors, &FlattenedEnums),
    tags(
        (name = "sync", description = "Partners, plans, key results, activities and feedback in; reads out"),
        (name = "decisions", description = "Next best actions, predictions, similar partners, benchmarks, fit, what-if"),
        (name = "portfolio", description = "Forecast roll-ups and manager attention"),
        (name = "digests", description = "Partner, manager and leadership digests, fact-checked; webhook subscriptions and their deliveries"),
        (name = "models", description = "Training, versions, activation"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`: the OpenAPI 3.1 document of this API, generated from the handlers.
pub async fn document() -> impl axum::response::IntoResponse {
    axum::Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flattened_enum_is_a_one_of_objects_with_the_structs_fields_listed_once() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            for part in schema["allOf"].as_array().into_iter().flatten() {
                if let Some(target) = part["$ref"].as_str() {
                    let target = target.trim_start_matches("#/components/schemas/");
                    assert!(
                        schemas[target].get("oneOf").is_none(),
                        "{name} is allOf over the oneOf {target}"
                    );
                }
            }
        }
        for (name, tag, own) in [
            ("Excluded", "reason", &["kind"][..]),
            ("AttentionReason", "code", &["text", "weight"][..]),
        ] {
            let variants = schemas[name]["oneOf"].as_array().unwrap();
            assert!(variants.len() > 1, "{name}: {variants:?}");
            for variant in variants {
                let required: Vec<&str> = variant["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect();
                for field in own.iter().chain([&tag]) {
                    assert!(
                        variant["properties"].get(*field).is_some(),
                        "{name}: {variant}"
                    );
                    assert_eq!(
                        required.iter().filter(|r| *r == field).count(),
                        1,
                        "{name}: {field} is required once: {variant}"
                    );
                }
            }
        }
    }
}
