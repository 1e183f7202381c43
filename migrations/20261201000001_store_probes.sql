-- Readiness probes: every serving process writes its own row now and then, so that a
-- store which cannot take writes (a full disk, a file that cannot be written, a database
-- going down) shows as not ready even without traffic. Operational, not tenant data: the
-- one table without a tenant_id.
CREATE TABLE store_probes (
    replica_id TEXT PRIMARY KEY,
    probed_at TEXT NOT NULL
);
