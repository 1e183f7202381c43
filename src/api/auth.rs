//! Bearer API keys. A key is `nbk_<key_id>_<secret>`: the id finds the stored row, and
//! only a SHA-256 of the secret is stored and compared, in constant time. Each key is
//! bound to one tenant and one scope; every handler gets the tenant from the key, never
//! from the request, so one tenant can never name another's data.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, Problem};
use super::key_cache::KnownKey;
pub use super::key_cache::{KeyCache, KEY_CACHE_TTL};
use super::state::AppState;
use crate::store::{Store, StoreError, StoredKey};

/// What a key may do; each scope includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads and decisions (recommendations, predictions, similar partners, forecasts).
    Read,
    /// Also sync writes and feedback.
    Write,
    /// Also models: train and activate.
    Admin,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// The authenticated caller of a request: the key's tenant and scope.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    pub scope: Scope,
    pub key_id: String,
}

impl Caller {
    /// The caller a key row stands for, with the scope the row has now; `None` for a
    /// scope this build does not know, which grants nothing.
    pub fn of_key(row: &StoredKey) -> Option<Self> {
        Some(Self {
            tenant: row.tenant_id.clone(),
            scope: Scope::parse(&row.scope)?,
            key_id: row.key_id.clone(),
        })
    }

    /// 403 unless the key's scope includes `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.scope >= needed {
            Ok(())
        } else {
            Err(ApiError::new(
                Problem::Forbidden,
                format!(
                    "this API key has scope `{}`; the request needs `{}`",
                    self.scope.as_str(),
                    needed.as_str()
                ),
            ))
        }
    }
}

/// A key as created: the full key is shown once and never stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedKey {
    pub key: String,
    pub key_id: String,
    pub tenant: String,
    pub scope: Scope,
}

/// Lower-case hex SHA-256: how key secrets and dashboard session tokens are stored.
pub(crate) fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates and stores a key for `tenant` with `scope`.
pub async fn create_key(
    store: &Store,
    tenant: &str,
    scope: Scope,
    name: Option<String>,
) -> Result<CreatedKey, StoreError> {
    let mut rng = rand::rng();
    let mut id = [0_u8; 8];
    let mut secret = [0_u8; 24];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let secret = hex::encode(secret);
    let now = Utc::now();
    store
        .insert_api_key(
            &StoredKey {
                key_id: key_id.clone(),
                tenant_id: tenant.to_owned(),
                scope: scope.as_str().to_owned(),
                secret_sha256: sha256_hex(&secret),
                name,
                created_at: String::new(),
                revoked_at: None,
            },
            now,
        )
        .await?;
    Ok(CreatedKey {
        key: format!("nbk_{key_id}_{secret}"),
        key_id,
        tenant: tenant.to_owned(),
        scope,
    })
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(Problem::Unauthorized, detail)
}

/// Checks a presented key against the store; the same error for every way it can be
/// wrong, so a caller learns nothing about which keys exist.
pub async fn verify(store: &Store, cache: &KeyCache, presented: &str) -> Result<Caller, ApiError> {
    let invalid = || unauthorized("the API key is not valid (or was revoked)");
    let rest = presented.strip_prefix("nbk_").ok_or_else(invalid)?;
    let (key_id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    if key_id.len() != 16 || secret.is_empty() || secret.len() > 128 {
        return Err(invalid());
    }
    let known = match cache.get(key_id) {
        Some(known) => known,
        None => {
            let known = store
                .api_key(key_id)
                .await?
                .map(|row| Arc::new(KnownKey::new(row)));
            cache.put(key_id, known.clone());
            known
        }
    };
    let known = known
        .filter(|k| k.row.revoked_at.is_none())
        .ok_or_else(invalid)?;
    let stored = known.digest.as_ref().ok_or_else(invalid)?;
    let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if !bool::from(presented.ct_eq(stored)) {
        return Err(invalid());
    }
    Caller::of_key(&known.row).ok_or_else(invalid)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("send the API key as `Authorization: Bearer nbk_...`"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not text"))?;
        let presented = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <key>`"))?;
        let caller = verify(state.store(), state.keys(), presented.trim()).await?;
        tracing::Span::current().record("tenant", caller.tenant.as_str());
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_include_the_ones_below() {
        let caller = |scope| Caller {
            tenant: "t".into(),
            scope,
            key_id: "k".into(),
        };
        assert!(caller(Scope::Admin).require(Scope::Write).is_ok());
        assert!(caller(Scope::Write).require(Scope::Read).is_ok());
        let err = caller(Scope::Read).require(Scope::Write).unwrap_err();
        assert_eq!(err.problem, Problem::Forbidden);
    }

    #[test]
    fn the_stored_hash_is_of_the_secret_only() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
