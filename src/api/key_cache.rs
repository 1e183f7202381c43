//! Recently verified API key rows, so a hot endpoint does not read the store per request.
//! Its own module: the server state holds one, and the key check (`auth`) reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::StoredKey;

/// How long a verified key row is trusted before it is read again: a revocation takes
/// effect on bearer requests within this time, and a hot endpoint does not query the
/// store per request. (Dashboard sessions read their key row on every page view.)
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

/// Recently read key rows, by key id.
#[derive(Default)]
pub struct KeyCache {
    rows: Mutex<HashMap<String, CachedKey>>,
}

/// A key row (or its absence) and when it was read.
type CachedKey = (Option<Arc<KnownKey>>, Instant);

/// A stored key row with its secret's digest decoded once, so a request compares 32
/// bytes instead of encoding its own digest as hex.
pub(super) struct KnownKey {
    pub(super) row: StoredKey,
    pub(super) digest: Option<[u8; 32]>,
}

impl KnownKey {
    pub(super) fn new(row: StoredKey) -> Self {
        let mut digest = [0_u8; 32];
        let digest = hex::decode_to_slice(&row.secret_sha256, &mut digest)
            .ok()
            .map(|()| digest);
        Self { row, digest }
    }
}

impl KeyCache {
    pub(super) fn get(&self, key_id: &str) -> Option<Option<Arc<KnownKey>>> {
        let rows = self.rows.lock().ok()?;
        let (row, at) = rows.get(key_id)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| row.clone())
    }

    pub(super) fn put(&self, key_id: &str, row: Option<Arc<KnownKey>>) {
        if let Ok(mut rows) = self.rows.lock() {
            if rows.len() > 10_000 {
                rows.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
            }
            rows.insert(key_id.to_owned(), (row, Instant::now()));
        }
    }

    /// Forgets every cached row (after a revocation in this process).
    pub fn clear(&self) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.clear();
        }
    }
}
