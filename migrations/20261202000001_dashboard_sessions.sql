-- Dashboard sessions, in the store so that they survive a restart and every replica
-- honours them. Only a SHA-256 of the session token is kept: the token itself is in the
-- browser's cookie and nowhere else. A session is worth what its key is worth: it is
-- looked up joined with its key row, and revoking the key deletes its sessions.
CREATE TABLE dashboard_sessions (
    token_sha256 TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX dashboard_sessions_key ON dashboard_sessions (tenant_id, key_id);
