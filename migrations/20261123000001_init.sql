-- One schema for SQLite and PostgreSQL: TEXT, BIGINT and DOUBLE PRECISION only.
-- Dates are ISO 8601 'YYYY-MM-DD' and timestamps RFC 3339 in UTC, so text order is
-- time order in both back ends. Every table is keyed by tenant first.

CREATE TABLE partners (
    tenant_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    name TEXT,
    partner_type TEXT,
    roles TEXT NOT NULL DEFAULT '',
    tier TEXT,
    relationship_stage TEXT,
    journey_stage TEXT,
    region TEXT,
    country TEXT,
    segment TEXT,
    industry TEXT,
    employees BIGINT,
    partner_since TEXT,
    manager_id TEXT,
    certified_reps BIGINT,
    trained_reps BIGINT,
    nps DOUBLE PRECISION,
    trust_reliability DOUBLE PRECISION,
    trust_credibility DOUBLE PRECISION,
    trust_intimacy DOUBLE PRECISION,
    trust_self_orientation DOUBLE PRECISION,
    score_contribution DOUBLE PRECISION,
    score_capability DOUBLE PRECISION,
    score_coverage DOUBLE PRECISION,
    score_commitment DOUBLE PRECISION,
    score_consumption DOUBLE PRECISION,
    score_credibility DOUBLE PRECISION,
    integration_mode TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, partner_id)
);
CREATE INDEX partners_manager ON partners (tenant_id, manager_id);

CREATE TABLE plans (
    tenant_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    name TEXT,
    template TEXT,
    status TEXT NOT NULL,
    owner_id TEXT,
    PRIMARY KEY (tenant_id, plan_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id)
);
CREATE INDEX plans_partner ON plans (tenant_id, partner_id);
CREATE INDEX plans_status ON plans (tenant_id, status);

CREATE TABLE key_results (
    tenant_id TEXT NOT NULL,
    kr_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    metric TEXT,
    target DOUBLE PRECISION,
    realized DOUBLE PRECISION,
    objective TEXT,
    unit TEXT,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1,
    due_date TEXT,
    PRIMARY KEY (tenant_id, kr_id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, plan_id)
);
CREATE INDEX key_results_plan ON key_results (tenant_id, plan_id);

CREATE TABLE kr_progress (
    tenant_id TEXT NOT NULL,
    kr_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    realized DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, kr_id, as_of),
    FOREIGN KEY (tenant_id, kr_id) REFERENCES key_results (tenant_id, kr_id)
);

CREATE TABLE activities (
    tenant_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    date TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'done',
    responsible TEXT,
    kr_id TEXT,
    PRIMARY KEY (tenant_id, activity_id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, plan_id)
);
CREATE INDEX activities_plan ON activities (tenant_id, plan_id, date);

-- The tenant's catalog extensions, and kinds first seen in activities (source 'observed').
CREATE TABLE actions (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    category TEXT NOT NULL,
    stages TEXT NOT NULL DEFAULT '',
    effort_hours DOUBLE PRECISION NOT NULL,
    responsible TEXT NOT NULL,
    min_relationship_stage TEXT NOT NULL,
    prerequisites TEXT NOT NULL DEFAULT '',
    cooldown_days BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);

CREATE TABLE feedback (
    tenant_id TEXT NOT NULL,
    recommendation_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    response TEXT NOT NULL,
    at TEXT NOT NULL,
    user_id TEXT,
    PRIMARY KEY (tenant_id, recommendation_id, response, at),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, plan_id)
);
