//! The model registry: `models/<tenant>/<version>/` holds a serialised model and its
//! card, and `models/<tenant>/active` names the version the service uses.
//!
//! Durability is by construction: a version is written into a hidden temporary folder,
//! synced, and renamed into place only when complete; the `active` pointer is replaced by
//! writing a temporary file and renaming it over the old one. A training that fails or is
//! killed half-way leaves at most a hidden folder behind, never a half-written version
//! and never a moved pointer.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::Id;

const MODEL_FILE: &str = "model.json";
const CARD_FILE: &str = "card.json";
const ACTIVE_FILE: &str = "active";
const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("could not read or write `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid JSON of the expected shape", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("tenant `{tenant}` has no model version `{version}`")]
    UnknownVersion { tenant: String, version: String },
    #[error("`{0}` is not a valid tenant or version name")]
    InvalidName(String),
}

/// What a trained model is, on what it was trained, and how well it did: enough for a
/// reader to trust it or not without running anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub version: String,
    pub tenant: String,
    pub created_at: DateTime<Utc>,
    pub feature_schema_version: u32,
    /// A hash of the training data, so two cards say whether they saw the same data.
    pub data_fingerprint: String,
    /// Row and column counts: snapshots, plans, features, per split.
    pub sizes: serde_json::Value,
    /// Every metric measured, per model family and split.
    pub metrics: serde_json::Value,
    pub training_seconds: f64,
    /// Free-form facts: families tried, the one kept and why, parameters.
    pub notes: serde_json::Value,
}

/// A version as stored: its card, and its two files' text.
#[derive(Debug, Clone)]
pub struct VersionFiles {
    pub card: ModelCard,
    pub card_json: String,
    pub model_json: String,
}

/// The models of every tenant, under one root folder.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Tenant and version names become folder names: only id characters, no dot-files.
fn checked(name: &str) -> Result<&str, RegistryError> {
    match Id::parse(name) {
        Ok(_) if !name.starts_with('.') => Ok(name),
        _ => Err(RegistryError::InvalidName(name.to_owned())),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Makes a rename inside `dir` durable (POSIX needs the directory itself synced).
fn sync_dir(dir: &Path) -> Result<(), RegistryError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl Registry {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tenant_dir(&self, tenant: &str) -> Result<PathBuf, RegistryError> {
        Ok(self.root.join(checked(tenant)?))
    }

    /// A new version name: UTC time to the millisecond, so names sort by age.
    pub fn new_version(now: DateTime<Utc>) -> String {
        now.format("v%Y%m%dT%H%M%S%3fZ").to_string()
    }

    /// Stores `model` and `card` as version `card.version` of `card.tenant`, completely or
    /// not at all. Does not activate it.
    pub fn save<M: Serialize>(
        &self,
        model: &M,
        card: &ModelCard,
    ) -> Result<PathBuf, RegistryError> {
        let tenant_dir = self.tenant_dir(&card.tenant)?;
        fs::create_dir_all(&tenant_dir).map_err(io(&tenant_dir))?;
        let json = |name: &str, bytes: Result<Vec<u8>, serde_json::Error>| {
            bytes.map_err(|source| RegistryError::Json {
                path: tenant_dir.join(&card.version).join(name),
                source,
            })
        };
        let model = json(MODEL_FILE, serde_json::to_vec_pretty(model))?;
        let card_bytes = json(CARD_FILE, serde_json::to_vec_pretty(card))?;
        self.save_files(&card.tenant, &card.version, &card_bytes, &model)
    }

    /// Stores a version from its files as [`Self::files`] gives them (a version fetched
    /// from the store by a replica that has not seen it), completely or not at all.
    pub fn save_files(
        &self,
        tenant: &str,
        version: &str,
        card: &[u8],
        model: &[u8],
    ) -> Result<PathBuf, RegistryError> {
        let tenant_dir = self.tenant_dir(tenant)?;
        let version = checked(version)?;
        fs::create_dir_all(&tenant_dir).map_err(io(&tenant_dir))?;
        let staging = tenant_dir.join(format!("{TMP_PREFIX}{version}-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        fs::create_dir(&staging).map_err(io(&staging))?;
        let written = write_synced(&staging.join(MODEL_FILE), model)
            .and_then(|()| write_synced(&staging.join(CARD_FILE), card))
            .and_then(|()| sync_dir(&staging));
        if let Err(e) = written {
            // A full disk must not also keep a half-written version's space.
            if let Err(removal) = fs::remove_dir_all(&staging) {
                tracing::warn!(path = %staging.display(), error = %removal, "could not remove a failed model save");
            }
            return Err(e);
        }
        let target = tenant_dir.join(version);
        if target.exists() {
            // Versions are immutable: one already here (saved by another path) is the same.
            fs::remove_dir_all(&staging).map_err(io(&staging))?;
            return Ok(target);
        }
        fs::rename(&staging, &target).map_err(io(&target))?;
        sync_dir(&tenant_dir)?;
        tracing::info!(tenant, version, "model version saved");
        Ok(target)
    }

    /// A version's card, with its two files as stored (JSON text), to publish them where
    /// other replicas read them.
    pub fn files(&self, tenant: &str, version: &str) -> Result<VersionFiles, RegistryError> {
        let (path, card_json) = self.version_file(tenant, version, CARD_FILE)?;
        let card = parse_json(&path, &card_json)?;
        let (_, model_json) = self.version_file(tenant, version, MODEL_FILE)?;
        Ok(VersionFiles {
            card,
            card_json,
            model_json,
        })
    }

    /// Whether a complete version is here.
    pub fn has(&self, tenant: &str, version: &str) -> bool {
        self.card(tenant, version).is_ok()
    }

    /// Points `active` at `version` atomically. The version must exist with a readable card.
    pub fn activate(&self, tenant: &str, version: &str) -> Result<ModelCard, RegistryError> {
        let card = self.card(tenant, version)?;
        let tenant_dir = self.tenant_dir(tenant)?;
        let pending = tenant_dir.join(format!("{TMP_PREFIX}{ACTIVE_FILE}-{}", std::process::id()));
        write_synced(&pending, version.as_bytes())?;
        let active = tenant_dir.join(ACTIVE_FILE);
        fs::rename(&pending, &active).map_err(io(&active))?;
        sync_dir(&tenant_dir)?;
        tracing::info!(tenant, version, "model version activated");
        Ok(card)
    }

    /// The active version of a tenant, if any.
    pub fn active(&self, tenant: &str) -> Result<Option<String>, RegistryError> {
        let path = self.tenant_dir(tenant)?.join(ACTIVE_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(checked(text.trim())?.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub fn card(&self, tenant: &str, version: &str) -> Result<ModelCard, RegistryError> {
        let (path, text) = self.version_file(tenant, version, CARD_FILE)?;
        parse_json(&path, &text)
    }

    /// A file of a version, with its path; a version that is not here (or `active`, the
    /// pointer file, and other non-folders) is [`RegistryError::UnknownVersion`].
    fn version_file(
        &self,
        tenant: &str,
        version: &str,
        name: &str,
    ) -> Result<(PathBuf, String), RegistryError> {
        let path = self.tenant_dir(tenant)?.join(checked(version)?).join(name);
        match fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Err(RegistryError::UnknownVersion {
                    tenant: tenant.to_owned(),
                    version: version.to_owned(),
                })
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Loads a version's model with its card.
    pub fn load<M: DeserializeOwned>(
        &self,
        tenant: &str,
        version: &str,
    ) -> Result<(M, ModelCard), RegistryError> {
        let card = self.card(tenant, version)?;
        let model = read_json(&self.tenant_dir(tenant)?.join(version).join(MODEL_FILE))?;
        Ok((model, card))
    }

    /// Every complete version of a tenant, oldest first. Leftovers of interrupted saves
    /// (hidden folders) are not versions.
    pub fn list(&self, tenant: &str) -> Result<Vec<ModelCard>, RegistryError> {
        let dir = self.tenant_dir(tenant)?;
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut cards = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            cards.push(self.card(tenant, &name)?);
        }
        cards.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.version.cmp(&b.version))
        });
        Ok(cards)
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RegistryError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    parse_json(path, &text)
}

fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, RegistryError> {
    serde_json::from_str(text).map_err(|source| RegistryError::Json {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(version: &str, at: i64) -> ModelCard {
        ModelCard {
            version: version.into(),
            tenant: "acme".into(),
            created_at: DateTime::from_timestamp(at, 0).unwrap(),
            feature_schema_version: 1,
            data_fingerprint: "f".into(),
            sizes: serde_json::json!({"train": 10}),
            metrics: serde_json::json!({"auc": 0.8}),
            training_seconds: 1.5,
            notes: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_saved_version_loads_back_and_becomes_active_only_when_activated() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        registry
            .save(&vec![1.0_f64, 2.0], &card("v1", 100))
            .unwrap();
        assert_eq!(registry.active("acme").unwrap(), None);
        registry.activate("acme", "v1").unwrap();
        assert_eq!(registry.active("acme").unwrap().as_deref(), Some("v1"));
        let (model, loaded): (Vec<f64>, _) = registry.load("acme", "v1").unwrap();
        assert_eq!(model, vec![1.0, 2.0]);
        assert_eq!(loaded, card("v1", 100));
    }

    #[test]
    fn an_interrupted_save_leaves_the_active_version_and_the_list_untouched() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        registry.save(&1_u8, &card("v1", 100)).unwrap();
        registry.activate("acme", "v1").unwrap();
        // What a kill during `save` leaves: a hidden staging folder with a partial file.
        let staging = root.path().join("acme/.tmp-v2-999");
        fs::create_dir_all(&staging).unwrap();
        fs::write(staging.join(MODEL_FILE), b"{\"trunc").unwrap();
        assert_eq!(registry.active("acme").unwrap().as_deref(), Some("v1"));
        let versions: Vec<_> = registry
            .list("acme")
            .unwrap()
            .into_iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(versions, ["v1"]);
    }

    #[test]
    fn activating_an_unknown_version_fails_and_keeps_the_pointer() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        registry.save(&1_u8, &card("v1", 100)).unwrap();
        registry.activate("acme", "v1").unwrap();
        let err = registry.activate("acme", "v9").unwrap_err();
        assert!(matches!(err, RegistryError::UnknownVersion { .. }), "{err}");
        // `active` names the pointer file, not a folder: no such version either.
        let err = registry.activate("acme", "active").unwrap_err();
        assert!(matches!(err, RegistryError::UnknownVersion { .. }), "{err}");
        assert_eq!(registry.active("acme").unwrap().as_deref(), Some("v1"));
    }

    /// A model whose serialisation fails half-way, as a full disk fails a write.
    struct Unwritable;

    impl Serialize for Unwritable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no space left"))
        }
    }

    #[test]
    fn a_failed_save_leaves_no_staging_folder_behind() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        assert!(registry.save(&Unwritable, &card("v1", 100)).is_err());
        let left: Vec<_> = fs::read_dir(root.path().join("acme"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn versions_list_oldest_first_and_names_are_checked() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        registry.save(&1_u8, &card("v2", 200)).unwrap();
        registry.save(&1_u8, &card("v1", 100)).unwrap();
        let versions: Vec<_> = registry
            .list("acme")
            .unwrap()
            .into_iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(versions, ["v1", "v2"]);
        assert!(matches!(
            registry.active("../etc"),
            Err(RegistryError::InvalidName(_))
        ));
        assert!(registry.list("nobody").unwrap().is_empty());
        let name =
            Registry::new_version(DateTime::from_timestamp(1_700_000_000, 5_000_000).unwrap());
        assert_eq!(name, "v20231114T221320005Z");
    }
}
