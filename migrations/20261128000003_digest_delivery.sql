-- Webhook delivery of digests. A subscription says where a tenant's digests go (URL and
-- signing secret), for which audiences, how often and in which locale. The outbox holds
-- every digest due for delivery until the receiver acknowledges it, so a restart loses
-- nothing and a retry sends the very same payload.

CREATE TABLE digest_subscriptions (
    tenant_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- The HMAC-SHA256 key the receiver verifies signatures with; shown once, on creation.
    secret TEXT NOT NULL,
    -- Comma-separated audiences: partner, manager, leadership.
    audiences TEXT NOT NULL,
    -- weekly or monthly.
    schedule TEXT NOT NULL,
    locale TEXT NOT NULL DEFAULT 'en',
    -- Comma-separated recipient ids; NULL sends to every recipient of each audience.
    recipients TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id)
);

-- One row per digest to deliver. The idempotency key is derived from (tenant,
-- subscription, audience, recipient, period), so it is unique per tenant: a second
-- enqueue in the same period finds the row and adds nothing (the per-recipient cap),
-- across restarts and replicas.
CREATE TABLE digest_outbox (
    tenant_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    period TEXT NOT NULL,
    -- The digest's as-of date, so the next digest counts changes from it.
    as_of TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- pending, delivered or failed.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- When a worker may next try it; a claim moves it forward as a lease.
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    last_status BIGINT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (tenant_id, delivery_id),
    UNIQUE (tenant_id, idempotency_key),
    FOREIGN KEY (tenant_id, subscription_id)
        REFERENCES digest_subscriptions (tenant_id, subscription_id) ON DELETE CASCADE
);
CREATE INDEX digest_outbox_due ON digest_outbox (status, next_attempt_at);
CREATE INDEX digest_outbox_subscription ON digest_outbox (tenant_id, subscription_id, created_at);
