//! Writes a [`Dataset`] as a DATA_FORMAT.md folder of CSV files, the format import reads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{Dataset, ImportError};
use crate::domain::catalog::ActionSource;
use crate::domain::dataset::columns::{
    ACTION_COLUMNS, ACTIVITY_COLUMNS, FEEDBACK_COLUMNS, KEY_RESULT_COLUMNS, KR_PROGRESS_COLUMNS,
    PARTNER_COLUMNS, PLAN_COLUMNS,
};
use crate::domain::{AttributeValue, Id};

/// Writes every non-empty entity of `data` to `dir` (created if missing) as `NAME.csv`,
/// returning the files written. Entities with no rows are skipped, except the three
/// required ones, which are always written so the folder imports.
pub fn write_csv_dir(dir: &Path, data: &Dataset) -> Result<Vec<PathBuf>, ImportError> {
    std::fs::create_dir_all(dir).map_err(|source| ImportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();

    let attribute_names: BTreeSet<&String> = data
        .partners
        .iter()
        .flat_map(|p| p.attributes.keys())
        .collect();
    let mut header: Vec<&str> = PARTNER_COLUMNS.to_vec();
    header.extend(attribute_names.iter().map(|s| s.as_str()));
    written.push(write_file(
        dir,
        "partners",
        &header,
        data.partners.iter().map(|p| {
            let mut row = vec![
                p.partner_id.to_string(),
                opt(&p.name),
                opt_str(p.partner_type.map(|v| v.as_str())),
                p.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(";"),
                opt_str(p.tier.map(|v| v.as_str())),
                opt_str(p.relationship_stage.map(|v| v.as_str())),
                opt_str(p.journey_stage.map(|v| v.as_str())),
                opt(&p.region),
                opt(&p.country),
                opt(&p.segment),
                opt(&p.industry),
                num(p.employees),
                date(p.partner_since),
                id(&p.manager_id),
                num(p.certified_reps),
                num(p.trained_reps),
                num(p.nps),
                num(p.trust_reliability),
                num(p.trust_credibility),
                num(p.trust_intimacy),
                num(p.trust_self_orientation),
                num(p.score_contribution),
                num(p.score_capability),
                num(p.score_coverage),
                num(p.score_commitment),
                num(p.score_consumption),
                num(p.score_credibility),
                opt_str(p.integration_mode.map(|v| v.as_str())),
            ];
            row.extend(
                attribute_names
                    .iter()
                    .map(|name| match p.attributes.get(*name) {
                        Some(AttributeValue::Number(n)) => n.to_string(),
                        Some(AttributeValue::Text(t)) => t.clone(),
                        None => String::new(),
                    }),
            );
            row
        }),
    )?);

    written.push(write_file(
        dir,
        "plans",
        PLAN_COLUMNS,
        data.plans.iter().map(|p| {
            vec![
                p.plan_id.to_string(),
                p.partner_id.to_string(),
                p.start_date.to_string(),
                p.end_date.to_string(),
                opt(&p.name),
                opt(&p.template),
                p.status.as_str().into(),
                id(&p.owner_id),
            ]
        }),
    )?);

    written.push(write_file(
        dir,
        "key_results",
        KEY_RESULT_COLUMNS,
        data.key_results.iter().map(|k| {
            vec![
                k.kr_id.to_string(),
                k.plan_id.to_string(),
                opt(&k.metric),
                num(k.target),
                num(k.realized),
                opt(&k.objective),
                opt(&k.unit),
                k.weight.to_string(),
                date(k.due_date),
            ]
        }),
    )?);

    if !data.kr_progress.is_empty() {
        written.push(write_file(
            dir,
            "kr_progress",
            KR_PROGRESS_COLUMNS,
            data.kr_progress.iter().map(|p| {
                vec![
                    p.kr_id.to_string(),
                    p.as_of.to_string(),
                    p.realized.to_string(),
                ]
            }),
        )?);
    }

    written.push(write_file(
        dir,
        "activities",
        ACTIVITY_COLUMNS,
        data.activities.iter().map(|a| {
            vec![
                a.activity_id.to_string(),
                a.plan_id.to_string(),
                a.kind.clone(),
                a.date.to_string(),
                a.quantity.to_string(),
                a.status.as_str().into(),
                opt_str(a.responsible.map(|v| v.as_str())),
                id(&a.kr_id),
            ]
        }),
    )?);

    // Kinds only observed in activities are derived data: activities.csv recreates them.
    let defined: Vec<_> = data
        .actions
        .iter()
        .filter(|a| a.source != ActionSource::Observed)
        .collect();
    if !defined.is_empty() {
        written.push(write_file(
            dir,
            "actions",
            ACTION_COLUMNS,
            defined.iter().map(|s| {
                vec![
                    s.kind.clone(),
                    s.label.clone(),
                    s.category.clone(),
                    s.stages
                        .iter()
                        .map(|st| st.as_str())
                        .collect::<Vec<_>>()
                        .join(";"),
                    s.effort_hours.to_string(),
                    s.responsible.as_str().into(),
                    s.min_relationship.as_str().into(),
                    s.prerequisites.join(";"),
                    s.cooldown_days.to_string(),
                    s.description.clone(),
                ]
            }),
        )?);
    }

    if !data.feedback.is_empty() {
        written.push(write_file(
            dir,
            "feedback",
            FEEDBACK_COLUMNS,
            data.feedback.iter().map(|f| {
                vec![
                    f.recommendation_id.to_string(),
                    f.plan_id.to_string(),
                    f.kind.clone(),
                    f.response.as_str().into(),
                    f.at.to_rfc3339(),
                    id(&f.user_id),
                ]
            }),
        )?);
    }
    Ok(written)
}

/// Writes one CSV file `dir/NAME.csv` with a header and rows. Public so that the
/// synthetic world writes its truth files the same way.
pub fn write_file<I>(
    dir: &Path,
    name: &str,
    header: &[&str],
    rows: I,
) -> Result<PathBuf, ImportError>
where
    I: IntoIterator<Item = Vec<String>>,
{
    let path = dir.join(format!("{name}.csv"));
    let io = |source: std::io::Error| ImportError::Io {
        path: path.clone(),
        source,
    };
    let mut writer = csv::Writer::from_path(&path).map_err(|e| io(e.into()))?;
    writer.write_record(header).map_err(|e| io(e.into()))?;
    for row in rows {
        writer.write_record(&row).map_err(|e| io(e.into()))?;
    }
    writer.flush().map_err(io)?;
    Ok(path)
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn opt_str(value: Option<&str>) -> String {
    value.unwrap_or_default().to_owned()
}

fn id(value: &Option<Id>) -> String {
    value.as_ref().map(Id::to_string).unwrap_or_default()
}

fn num<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn date(value: Option<NaiveDate>) -> String {
    value.map(|d| d.to_string()).unwrap_or_default()
}
