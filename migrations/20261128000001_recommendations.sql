-- The recommendation log: every next best action served, with its score and expected
-- effect, so feedback (by recommendation_id) and the plan's later outcome can be joined
-- to what was recommended and measured against it.
CREATE TABLE recommendations (
    tenant_id TEXT NOT NULL,
    recommendation_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    rank BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    expected_effect DOUBLE PRECISION NOT NULL,
    effect_low DOUBLE PRECISION NOT NULL,
    effect_high DOUBLE PRECISION NOT NULL,
    basis TEXT NOT NULL,
    responsible TEXT NOT NULL,
    as_of TEXT NOT NULL,
    model_version TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, recommendation_id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES plans (tenant_id, plan_id)
);
CREATE INDEX recommendations_plan ON recommendations (tenant_id, plan_id, created_at);
