-- API keys: each bound to one tenant and one scope. Only a SHA-256 of the secret is kept;
-- the secret is shown once, when the key is created. `key_id` is the public part of the
-- key (it is in the key itself), so a request finds its row without scanning.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
