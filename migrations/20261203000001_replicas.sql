-- What replicas share, so that any of them answers any request the same way.
--
-- Models: every trained version (its card and model, both JSON) and the one active per
-- tenant. A replica's models directory is only a cache of these rows: a version trained
-- through one replica is loaded from here by the others, and `activate` switches them all.
CREATE TABLE model_versions (
    tenant_id TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    card TEXT NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
CREATE TABLE active_models (
    tenant_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    activated_at TEXT NOT NULL
);

-- Background jobs (training) with their progress. One job of a kind runs per tenant at a
-- time across replicas (the partial unique index); the replica running it renews
-- `heartbeat_at`, and a job whose heartbeat stopped (its replica died) is ended as failed
-- by whichever replica looks at it next, so a new one can start.
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    heartbeat_at TEXT NOT NULL,
    holder TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE UNIQUE INDEX jobs_one_running ON jobs (tenant_id, kind) WHERE status = 'running';
CREATE INDEX jobs_tenant ON jobs (tenant_id, started_at);

-- Leases on scheduled work (the digest scheduler's round): held by one replica until
-- `until`, renewed by it, taken over by another once it lapses.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_at TEXT NOT NULL
);
