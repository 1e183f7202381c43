//! The next-best-action commands: recommend, what-if, similar, benchmark, reindex, and
//! the decision part of evaluate. Thin: parse, call the engine, print.

pub mod digest;
pub mod serve;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use nextbest::config::Config;
use nextbest::domain::Id;
use nextbest::eval::decision::{self, DecisionReport};
use nextbest::eval::{baselines, simulate, synth};
use nextbest::model::{pipeline, Registry};
use nextbest::nba::{self, context, Engine, PlannedAction, Recommendations};
use nextbest::store::Store;
use nextbest::vector::{self, VectorIndex};

use crate::{open_store, spinner};

/// The tenant's vector index, opened for the active model's profile dimension; `None`
/// (with a warning) when there is no model with a profile schema or the index cannot be
/// opened, so recommendations still come from the model and the prior. With `rebuild`
/// (train, reindex), an embedded shard built for another profile dimension is removed
/// first: it is derived data, and the caller is about to index the tenant again.
pub fn open_index_for(
    config: &Config,
    registry: &Registry,
    rebuild: bool,
) -> Option<Arc<dyn VectorIndex>> {
    let (model, _) = pipeline::active_model(registry, &config.tenant).ok()?;
    let dimension = model.profile.as_ref()?.dimension();
    let opened = match vector::open_index(config, dimension) {
        Err(vector::IndexError::SchemaMismatch { .. })
            if rebuild && config.qdrant_url.is_none() =>
        {
            let dir = vector::edge_dir(config);
            tracing::warn!(dir = %dir.display(), dimension, "the embedded index was built for another profile schema; rebuilding it (other tenants need `nextbest reindex` too)");
            std::fs::remove_dir_all(&dir)
                .map_err(|e| vector::IndexError::Dir(dir.clone(), e))
                .and_then(|()| vector::open_index(config, dimension))
        }
        other => other,
    };
    match opened {
        Ok(index) => Some(index),
        Err(e) => {
            tracing::warn!(error = %nextbest::report::Report(&e), "vector index unavailable; recommending without similar partners");
            None
        }
    }
}

pub(crate) async fn engine(config: &Config, store: &Store, as_of: NaiveDate) -> Result<Engine> {
    let registry = Registry::new(&config.models_dir);
    let index = open_index_for(config, &registry, false);
    Ok(nba::load_engine(store, &registry, index, &config.tenant, as_of).await?)
}

pub(crate) fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn parse_id(what: &str, raw: &str) -> Result<Id> {
    Id::parse(raw).with_context(|| format!("invalid {what} `{raw}`"))
}

/// `nextbest recommend`.
pub async fn recommend(
    config: &Config,
    plan: Option<String>,
    all: bool,
    k: usize,
    as_of: Option<NaiveDate>,
    out: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let as_of = as_of.unwrap_or_else(today);
    let store = open_store(config).await?;
    let engine = engine(config, &store, as_of).await?;
    // Up to every action the tenant's catalog holds (built-in, its own and observed).
    let catalog = engine.catalog().len();
    if k == 0 || k > catalog {
        bail!(
            "--k must be between 1 and {catalog} (the number of actions in tenant `{}`'s catalog), got {k}",
            config.tenant
        );
    }
    match (plan, all) {
        (Some(plan), false) => {
            let plan = parse_id("--plan", &plan)?;
            let ctx = context::load(&store, &config.tenant, &plan, as_of).await?;
            let mut batch = vec![engine.recommend(&ctx, k)];
            nba::log(&store, &config.tenant, &mut batch).await?;
            let mut stdout = std::io::stdout().lock();
            for recs in &batch {
                if json {
                    serde_json::to_writer_pretty(&mut stdout, recs)?;
                    writeln!(stdout)?;
                } else {
                    write!(stdout, "{}", table(recs))?;
                }
            }
        }
        (None, true) => {
            let Some(out) = out else {
                bail!("--all needs --out FILE (one CSV row per plan and rank)");
            };
            let bar = spinner("loading active plans");
            let contexts = context::load_active(&store, &config.tenant, as_of).await?;
            bar.set_message(format!("recommending for {} plans", contexts.len()));
            let mut batch: Vec<Recommendations> =
                contexts.iter().map(|c| engine.recommend(c, k)).collect();
            bar.set_message("logging");
            nba::log(&store, &config.tenant, &mut batch).await?;
            bar.finish_and_clear();
            write_all_csv(&out, &batch)?;
            eprintln!(
                "recommended for {} active plans as of {as_of} ({}) into `{}`",
                batch.len(),
                engine.model_version().map_or_else(
                    || "no model: prior only".to_owned(),
                    |v| format!("model {v}")
                ),
                out.display()
            );
        }
        (Some(_), true) => bail!("give either --plan ID or --all, not both"),
        (None, false) => bail!("give --plan ID (one plan) or --all --out FILE (every active plan)"),
    }
    store.close().await;
    Ok(())
}

fn write_all_csv(path: &Path, batch: &[Recommendations]) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("could not create `{}`", path.display()))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record([
        "plan_id",
        "rank",
        "kind",
        "expected_effect",
        "score",
        "responsible",
        "basis",
        "recommendation_id",
    ])?;
    for recs in batch {
        for a in &recs.actions {
            w.write_record([
                recs.plan_id.to_string(),
                a.rank.to_string(),
                a.kind.clone(),
                format!("{:.5}", a.expected_effect),
                format!("{:.5}", a.score),
                a.responsible.to_owned(),
                a.basis.as_str().to_owned(),
                a.recommendation_id
                    .as_ref()
                    .map(Id::to_string)
                    .unwrap_or_default(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// The readable table of one plan's recommendations.
fn table(recs: &Recommendations) -> String {
    let mut out = format!(
        "plan {} (partner {}) as of {}",
        recs.plan_id, recs.partner_id, recs.as_of
    );
    match (&recs.prediction, &recs.model_version) {
        (Some(p), Some(v)) => out.push_str(&format!(
            "; predicted attainment {:.0}% (80% interval {:.0}-{:.0}%), P(hit) {:.0}%, model {v}\n",
            p.expected_attainment * 100.0,
            p.interval_low * 100.0,
            p.interval_high * 100.0,
            p.p_hit * 100.0
        )),
        _ => out.push_str("; no trained model: estimates are the best-practice prior\n"),
    }
    if recs.new_partner && !recs.cold_start {
        out.push_str("NEW PARTNER: no closed plan of its own yet; estimates rest on the tenant's model and similar partners.\n");
    }
    if recs.cold_start {
        out.push_str("COLD START: no learned evidence for this tenant yet; every estimate below is the best-practice prior.\n");
    }
    out.push('\n');
    for a in &recs.actions {
        out.push_str(&format!(
            "{}. {} [{}] — {} · effort {:?} · due {} · {:+.1} pts ({:+.1} to {:+.1}) · score {:.4} · basis {}\n",
            a.rank,
            a.label,
            a.kind,
            a.responsible,
            a.effort,
            a.due_date,
            a.expected_effect * 100.0,
            a.effect_low * 100.0,
            a.effect_high * 100.0,
            a.score,
            a.basis.as_str()
        ));
        for reason in &a.explanation.reasons {
            out.push_str(&format!("   - {reason}\n"));
        }
        if let Some(id) = &a.recommendation_id {
            out.push_str(&format!("   id {id}\n"));
        }
    }
    if recs.actions.is_empty() {
        out.push_str("no eligible action right now\n");
    }
    out.push_str(&format!(
        "\n{} candidates excluded (stage, relationship, prerequisites, cool-down, planned, dismissed); --json lists them with reasons\n",
        recs.excluded.len()
    ));
    out
}

/// `nextbest what-if`.
pub async fn what_if(
    config: &Config,
    plan: &str,
    add: &[String],
    as_of: Option<NaiveDate>,
) -> Result<()> {
    if add.is_empty() {
        bail!("give at least one --add KIND[:QUANTITY]");
    }
    let added = add
        .iter()
        .map(|raw| {
            let (kind, quantity) = match raw.split_once(':') {
                Some((k, q)) => (
                    k,
                    q.parse::<f64>().with_context(|| {
                        format!("--add `{raw}`: quantity `{q}` is not a number")
                    })?,
                ),
                None => (raw.as_str(), 1.0),
            };
            Ok(PlannedAction {
                kind: kind.to_owned(),
                quantity,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let as_of = as_of.unwrap_or_else(today);
    let store = open_store(config).await?;
    let engine = engine(config, &store, as_of).await?;
    let plan = parse_id("--plan", plan)?;
    let ctx = context::load(&store, &config.tenant, &plan, as_of).await?;
    let answer = engine.what_if(&ctx, &added)?;
    serde_json::to_writer_pretty(std::io::stdout().lock(), &answer)?;
    println!();
    store.close().await;
    Ok(())
}

/// `nextbest reindex`.
pub async fn reindex(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let registry = Registry::new(&config.models_dir);
    let Some(index) = open_index_for(config, &registry, true) else {
        bail!(
            "no vector index to rebuild: the tenant needs an active model with a profile schema \
             (run `nextbest train`), and the index must open (see the warning above)"
        );
    };
    let bar = spinner("rebuilding the vector index");
    let report = nba::peers::reindex(&store, &registry, index.as_ref(), &config.tenant).await;
    bar.finish_and_clear();
    let report = report?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    store.close().await;
    Ok(())
}

/// `nextbest similar`.
pub async fn similar(
    config: &Config,
    partner: &str,
    k: usize,
    filter: vector::Filter,
    as_of: Option<NaiveDate>,
) -> Result<()> {
    let (peers, index) = peers(config, as_of).await?;
    let found = peers.similar(index.as_ref(), &config.tenant, partner, k, &filter)?;
    serde_json::to_writer_pretty(std::io::stdout().lock(), &found)?;
    println!();
    Ok(())
}

/// `nextbest benchmark`.
pub async fn benchmark(config: &Config, partner: &str, as_of: Option<NaiveDate>) -> Result<()> {
    let (peers, index) = peers(config, as_of).await?;
    let found = peers.benchmark(index.as_ref(), &config.tenant, partner)?;
    serde_json::to_writer_pretty(std::io::stdout().lock(), &found)?;
    println!();
    Ok(())
}

async fn peers(
    config: &Config,
    as_of: Option<NaiveDate>,
) -> Result<(nba::peers::Peers, Arc<dyn VectorIndex>)> {
    let store = open_store(config).await?;
    let registry = Registry::new(&config.models_dir);
    let (model, _) = pipeline::active_model(&registry, &config.tenant)?;
    let Some(profile) = model.profile.as_ref() else {
        bail!("the active model has no profile schema: run `nextbest train` again");
    };
    let index = vector::open_index(config, profile.dimension())?;
    let peers =
        nba::peers::Peers::load(&store, &config.tenant, profile, as_of.unwrap_or_else(today))
            .await?;
    store.close().await;
    Ok((peers, index))
}

/// The decision evaluation of `nextbest evaluate --truth DIR`: against
/// `truth_effects.csv`, and the policy simulation when `truth_params.json` is there.
pub async fn decisions(
    config: &Config,
    store: &Store,
    truth_dir: &Path,
    as_of: NaiveDate,
    simulation: Option<synth::SimOptions>,
) -> Result<Option<DecisionReport>> {
    let effects_path = truth_dir.join("truth_effects.csv");
    if !effects_path.exists() {
        return Ok(None);
    }
    let truth = decision::read_truth_effects(&effects_path)
        .with_context(|| format!("could not read `{}`", effects_path.display()))?;
    let bar = spinner("loading plans for the decision evaluation");
    let engine = engine(config, store, as_of).await?;
    let contexts = context::load_active(store, &config.tenant, as_of).await?;
    let closed = store.closed_plans(&config.tenant).await?;
    let popularity = baselines::popularity(&closed);
    let busywork = synth::busywork_kinds();
    bar.set_message(format!(
        "scoring decisions on {} active plans",
        contexts.len()
    ));
    let mut report =
        decision::evaluate(&engine, &contexts, &truth, &popularity, &closed, &busywork);
    if let Some(options) = simulation {
        let params_path = truth_dir.join("truth_params.json");
        if params_path.exists() {
            bar.set_message("regenerating the world for the simulation");
            let params = synth::read_params(truth_dir)?;
            if params.as_of != as_of {
                bail!(
                    "--as-of {as_of} differs from the world's as_of {} (`{}`): the simulation starts at the world's as_of",
                    params.as_of,
                    params_path.display()
                );
            }
            let world = synth::prepare(&params)?;
            let mut stage = |name: &str| bar.set_message(format!("simulating the {name} policy"));
            report.simulation = Some(simulate::run(
                &world,
                &options,
                &engine,
                &contexts,
                &popularity,
                &simulate::all_choosers(),
                &mut stage,
            )?);
        }
    }
    bar.finish_and_clear();
    Ok(Some(report))
}
