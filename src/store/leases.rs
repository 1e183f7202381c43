//! Leases on scheduled work: one replica holds a named lease until a time, renews it while
//! it lives, and another takes it over once it lapses. So work that should run once per
//! period across replicas (the digest scheduler's round) does, and a replica that dies
//! hands it on within one lease.

use chrono::{DateTime, Utc};

use super::rows::timestamp;
use super::{Store, StoreError};

impl Store {
    /// Takes or renews the lease `name` until `until`; `false` when another replica holds
    /// it past `now`.
    pub async fn take_lease(
        &self,
        name: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "INSERT INTO leases (name, holder, until_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_at = excluded.until_at \
             WHERE leases.holder = excluded.holder OR leases.until_at <= $4",
        )
        .bind(name)
        .bind(self.replica_id.as_ref())
        .bind(timestamp(&until))
        .bind(timestamp(&now));
        Ok(self.write_one("taking a lease", query).await? > 0)
    }

    /// Gives up the lease `name` if this replica holds it (on shutdown), so another takes
    /// over at once rather than when it lapses.
    pub async fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        let query = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(self.replica_id.as_ref());
        self.write_one("releasing a lease", query).await.map(|_| ())
    }
}
