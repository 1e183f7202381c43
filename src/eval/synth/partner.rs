//! Partner profiles: latent traits first (relationship quality `q`, capability), then the
//! observable columns drawn from them with noise, so that the profile carries signal
//! about the latent traits without revealing them.

use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::SynthError;
use crate::domain::{
    AttributeValue, Id, IntegrationMode, Partner, PartnerType, RelationshipStage, Role, Tier,
};

/// The latent and structural traits the simulation needs; never exported.
#[derive(Debug, Clone)]
pub(crate) struct Traits {
    /// Relationship quality, N(0, 1): the confounder.
    pub q: f64,
    /// Capability, standard normal, correlated 0.4 with `q`; moderates action effects.
    pub cap: f64,
    /// How responsive the partner is to actions in general: `exp(N(0, 0.2))`.
    pub responsiveness: f64,
    pub partner_type: PartnerType,
    pub relationship: RelationshipStage,
    pub tier: Tier,
    pub manager: usize,
    pub employees: i64,
}

/// A manager: an id, a diligence (raises the rate of every action) and a small effect on
/// outcomes (some managers set softer targets).
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    pub id: Id,
    pub diligence: f64,
    pub effect: f64,
}

pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Index drawn from unnormalised weights.
pub(crate) fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len().saturating_sub(1)
}

fn one_decimal(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn score(v: f64, lo: f64, hi: f64) -> f64 {
    one_decimal(v.clamp(lo, hi))
}

const TYPES: &[(PartnerType, f64)] = &[
    (PartnerType::Reseller, 0.22),
    (PartnerType::Var, 0.15),
    (PartnerType::Msp, 0.14),
    (PartnerType::SystemIntegrator, 0.12),
    (PartnerType::Isv, 0.10),
    (PartnerType::Referral, 0.09),
    (PartnerType::Consultancy, 0.08),
    (PartnerType::Distributor, 0.05),
    (PartnerType::Marketplace, 0.05),
];

const REGIONS: &[(&str, f64, &[&str])] = &[
    (
        "EMEA",
        0.40,
        &[
            "DE", "FR", "GB", "NL", "ES", "IT", "SE", "BE", "PL", "AE", "ZA",
        ],
    ),
    ("NA", 0.35, &["US", "US", "US", "CA"]),
    ("APAC", 0.17, &["AU", "JP", "SG", "IN", "KR", "NZ"]),
    ("LATAM", 0.08, &["BR", "MX", "AR", "CL", "CO"]),
];

const INDUSTRIES: &[&str] = &[
    "technology",
    "manufacturing",
    "healthcare",
    "financial_services",
    "retail",
    "public_sector",
    "education",
    "energy",
];

const NAME_HEADS: &[&str] = &[
    "Northwind",
    "Bluepeak",
    "Cobalt",
    "Meridian",
    "Silverline",
    "Redwood",
    "Atlas",
    "Nimbus",
    "Vertex",
    "Harbor",
    "Summit",
    "Quantum",
    "Lumen",
    "Granite",
    "Orbit",
    "Cedar",
    "Pioneer",
    "Beacon",
    "Falcon",
    "Helix",
];
const NAME_TAILS: &[&str] = &[
    "Systems",
    "Solutions",
    "Digital",
    "IT",
    "Consulting",
    "Networks",
    "Partners",
    "Cloud",
    "Technologies",
    "Group",
    "Labs",
    "Services",
];

const CRM_SOURCES: &[(&str, f64)] = &[
    ("salesforce", 0.45),
    ("hubspot", 0.25),
    ("dynamics", 0.20),
    ("spreadsheet", 0.10),
];

fn roles(rng: &mut ChaCha8Rng, t: PartnerType) -> Vec<Role> {
    use Role::*;
    let (always, maybe): (&[Role], &[(Role, f64)]) = match t {
        PartnerType::Reseller => (&[Sell], &[(Service, 0.3)]),
        PartnerType::Var => (&[Sell, Service], &[(Build, 0.3)]),
        PartnerType::Msp => (&[Manage, Service], &[(Sell, 0.5)]),
        PartnerType::SystemIntegrator => (&[Build, Service], &[(Advise, 0.6)]),
        PartnerType::Isv => (&[Build], &[(Sell, 0.4)]),
        PartnerType::Referral => (&[Advise], &[]),
        PartnerType::Consultancy => (&[Advise], &[(Build, 0.4)]),
        PartnerType::Distributor => (&[Sell], &[]),
        PartnerType::Marketplace | PartnerType::Other => (&[Sell], &[(Manage, 0.3)]),
    };
    let mut out: Vec<Role> = always.to_vec();
    for (role, p) in maybe {
        if rng.random::<f64>() < *p {
            out.push(*role);
        }
    }
    out.sort();
    out
}

/// Draws one partner profile. `since` is decided by the caller (it shapes the plan
/// history); the journey stage is set later from the partner's current plan.
pub(crate) fn draw_partner(
    rng: &mut ChaCha8Rng,
    index: usize,
    managers: &[Manager],
    since: NaiveDate,
) -> Result<(Partner, Traits), SynthError> {
    let q = normal(rng);
    let cap = 0.4 * q + 0.92 * normal(rng);
    let responsiveness = (0.2 * normal(rng)).exp();
    let type_weights: Vec<f64> = TYPES.iter().map(|t| t.1).collect();
    let partner_type = TYPES[pick(rng, &type_weights)].0;

    // The pyramid: q plus noise cut at the 55/83/95% quantiles of N(0, 1.25).
    let r = q + 0.5 * normal(rng);
    let relationship = match r {
        r if r < 0.141 => RelationshipStage::Transactional,
        r if r < 1.067 => RelationshipStage::Enhanced,
        r if r < 1.839 => RelationshipStage::Collaborative,
        _ => RelationshipStage::Partnership,
    };

    let size_factor = match partner_type {
        PartnerType::Distributor => 3.0,
        PartnerType::SystemIntegrator => 1.8,
        PartnerType::Referral | PartnerType::Consultancy => 0.4,
        _ => 1.0,
    };
    let employees = ((80.0f64.ln() + 1.2 * normal(rng)).exp() * size_factor)
        .round()
        .clamp(2.0, 250_000.0) as i64;
    let log_size = (employees as f64 / 80.0).ln() / 1.2;

    // Tier: programme level from relationship quality and size, 10/30/30/20/10%.
    let t = 0.7 * q + 0.35 * log_size + 0.6 * normal(rng);
    let tier = match t {
        t if t < -1.28 => Tier::None,
        t if t < -0.25 => Tier::Registered,
        t if t < 0.52 => Tier::Silver,
        t if t < 1.28 => Tier::Gold,
        _ => Tier::Platinum,
    };

    let manager = rng.random_range(0..managers.len().max(1));
    let mut p = Partner::new(Id::parse(&format!("p{:04}", index + 1))?);
    p.name = Some(format!(
        "{} {}",
        NAME_HEADS[rng.random_range(0..NAME_HEADS.len())],
        NAME_TAILS[rng.random_range(0..NAME_TAILS.len())]
    ));
    p.partner_type = Some(partner_type);
    p.roles = roles(rng, partner_type);
    p.tier = Some(tier);
    p.relationship_stage = Some(relationship);
    let region_weights: Vec<f64> = REGIONS.iter().map(|r| r.1).collect();
    let (region, _, countries) = REGIONS[pick(rng, &region_weights)];
    p.region = Some(region.to_owned());
    p.country = Some(countries[rng.random_range(0..countries.len())].to_owned());
    p.segment = Some(
        match employees {
            e if e < 50 => "smb",
            e if e < 1000 => "mid_market",
            _ => "enterprise",
        }
        .to_owned(),
    );
    p.industry = Some(INDUSTRIES[rng.random_range(0..INDUSTRIES.len())].to_owned());
    p.employees = Some(employees);
    p.partner_since = Some(since);
    p.manager_id = managers.get(manager).map(|m| m.id.clone());

    let trained = (0.5 + 0.35 * (employees as f64).ln() + 0.3 * cap + 0.4 * normal(rng))
        .exp()
        .round()
        .min(employees as f64);
    let certified = (trained * rng.random_range(0.3..0.9)).round();
    p.trained_reps = Some(trained as i64);
    p.certified_reps = Some(certified as i64);
    p.nps = Some(
        (15.0 + 22.0 * q + 15.0 * normal(rng))
            .round()
            .clamp(-100.0, 100.0),
    );

    p.trust_reliability = Some(score(6.0 + 1.3 * q + normal(rng), 1.0, 10.0));
    p.trust_credibility = Some(score(6.0 + 1.1 * q + normal(rng), 1.0, 10.0));
    p.trust_intimacy = Some(score(5.0 + 1.4 * q + normal(rng), 1.0, 10.0));
    p.trust_self_orientation = Some(score(5.0 - 1.2 * q + 1.2 * normal(rng), 1.0, 10.0));

    p.score_contribution = Some(score(
        5.0 + 1.2 * q + 0.5 * log_size + normal(rng),
        0.0,
        10.0,
    ));
    p.score_capability = Some(score(5.0 + 1.7 * cap + 0.5 * normal(rng), 0.0, 10.0));
    p.score_coverage = Some(score(
        5.0 + 0.8 * q + 0.5 * log_size + normal(rng),
        0.0,
        10.0,
    ));
    p.score_commitment = Some(score(5.0 + 1.5 * q + normal(rng), 0.0, 10.0));
    p.score_consumption = Some(score(5.0 + 1.0 * q + 1.2 * normal(rng), 0.0, 10.0));
    p.score_credibility = Some(score(5.0 + 1.2 * q + normal(rng), 0.0, 10.0));
    p.integration_mode = Some(match pick(rng, &[0.55, 0.30, 0.15]) {
        0 => IntegrationMode::Portal,
        1 => IntegrationMode::Crm,
        _ => IntegrationMode::Api,
    });

    // Two custom columns so the import path for attributes is exercised: one numeric,
    // one categorical.
    let points = (tier.index() as f64 * 1500.0 + 400.0 * q + rng.random_range(0.0..600.0))
        .round()
        .max(0.0);
    p.attributes.insert(
        "partner_program_points".into(),
        AttributeValue::Number(points),
    );
    let crm_weights: Vec<f64> = CRM_SOURCES.iter().map(|c| c.1).collect();
    p.attributes.insert(
        "crm_source".into(),
        AttributeValue::Text(CRM_SOURCES[pick(rng, &crm_weights)].0.to_owned()),
    );

    let traits = Traits {
        q,
        cap,
        responsiveness,
        partner_type,
        relationship,
        tier,
        manager,
        employees,
    };
    Ok((p, traits))
}
