use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nextbest::eval::synth::{generate, SynthParams, World};
use nextbest::import::{self, ImportError, ImportOptions, ImportSummary};
use nextbest::model::pipeline;
use nextbest::model::train::TrainParams;
use nextbest::model::Registry;
use nextbest::store::{Counts, Store};
use tempfile::TempDir;

/// A server configuration with its data and models under `dir` and the default store
/// (SQLite in the data directory).
pub fn config_in(dir: &Path, tenant: &str) -> nextbest::config::Config {
    nextbest::config::Config {
        data_dir: dir.join("data"),
        database_url: None,
        qdrant_url: None,
        models_dir: dir.join("models"),
        tenant: tenant.to_owned(),
    }
}

pub const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/crm_export");

/// A store under test. PostgreSQL is shared between tests and runs, so each test gets a
/// tenant of its own; SQLite gets a fresh file.
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    /// The database's URL, for a test that looks at rows the store does not show.
    pub url: String,
    pub tenant: String,
    _dir: Option<TempDir>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_tenant(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "t-{test}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn sqlite(test: &str) -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_data_dir(dir.path())
        .await
        .expect("open sqlite store");
    Backend {
        name: "sqlite",
        store,
        url: format!("sqlite://{}", dir.path().join("nextbest.db").display()),
        tenant: unique_tenant(test),
        _dir: Some(dir),
    }
}

/// The PostgreSQL server's database named by `NEXTBEST_TEST_DATABASE_URL` (default: the
/// CI machine's `postgres://postgres@127.0.0.1:5432/test`).
fn postgres_base_url() -> String {
    std::env::var("NEXTBEST_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of this test run's own on the server of `NEXTBEST_TEST_DATABASE_URL`,
/// created on first use: runs leave their tenants behind, and a server that had served
/// hundreds of runs made every replica's start (which warms every tenant) and every
/// tenant-wide query slower, run after run. Databases of earlier runs whose process has
/// ended are dropped here. `Err` when the server cannot be reached.
pub fn postgres_url() -> Result<String, String> {
    static URL: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        // Called from async tests: the setup runs on a runtime of its own, on a thread of
        // its own.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(create_run_database(&postgres_base_url()))
        })
        .join()
        .map_err(|_| "the database setup panicked".to_owned())?
    })
    .clone()
}

async fn create_run_database(base: &str) -> Result<String, String> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .map_err(|e| format!("{base}: {e}"))?;
    let ours: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database WHERE datname LIKE 'nextbest\\_it\\_%' \
         AND datname NOT IN (SELECT datname FROM pg_stat_activity WHERE datname IS NOT NULL)",
    )
    .fetch_all(&mut admin)
    .await
    .map_err(|e| e.to_string())?;
    for (name,) in ours {
        // nextbest_it_{pid}_{secs}: only a database whose process has ended.
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .execute(&mut admin)
                .await;
        }
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("nextbest_it_{}_{secs}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("creating {name}: {e}"))?;
    let (head, query) = match base.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (base, String::new()),
    };
    let server = head.rsplit_once('/').map_or(head, |(server, _)| server);
    Ok(format!("{server}/{name}{query}"))
}

/// The PostgreSQL store in this run's database (see [`postgres_url`]). When the server
/// cannot be reached the test is skipped with a notice, unless
/// `NEXTBEST_REQUIRE_POSTGRES=1` (as in CI) makes it fail.
pub async fn postgres(test: &str) -> Option<Backend> {
    let opened = match postgres_url() {
        Ok(url) => Store::open(&url)
            .await
            .map_err(|e| format!("{e:?}"))
            .map(|s| (s, url)),
        Err(e) => Err(e),
    };
    match opened {
        Ok((store, url)) => Some(Backend {
            name: "postgres",
            store,
            url,
            tenant: unique_tenant(test),
            _dir: None,
        }),
        Err(err) if std::env::var("NEXTBEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!(
                "PostgreSQL is required but unreachable at {}: {err}",
                postgres_base_url()
            )
        }
        Err(err) => {
            eprintln!("skipping PostgreSQL for {test}: {err}");
            None
        }
    }
}

/// SQLite always, PostgreSQL when reachable.
pub async fn backends(test: &str) -> Vec<Backend> {
    let mut all = vec![sqlite(test).await];
    all.extend(postgres(test).await);
    all
}

impl Backend {
    pub async fn import(
        &self,
        dir: &Path,
        options: &ImportOptions,
    ) -> Result<ImportSummary, ImportError> {
        import::import_dir(
            &self.store,
            &self.tenant,
            dir,
            options,
            &mut |_| {},
            &mut |_, _| {},
        )
        .await
    }

    /// The SQLite store's data directory (for running the binary against it).
    pub fn data_dir(&self) -> &Path {
        self._dir.as_ref().map_or(Path::new("."), |d| d.path())
    }

    pub async fn counts(&self) -> Counts {
        self.store.counts(&self.tenant).await.expect("counts")
    }
}

/// A generated world written to a temp dir (kept for its truth files) and imported into a
/// fresh SQLite store.
pub async fn imported_world(test: &str, params: &SynthParams) -> (Backend, TempDir) {
    imported_world_with(test, params, |_| {}).await
}

/// The same, with `edit` applied to the generated world before it is written.
pub async fn imported_world_with(
    test: &str,
    params: &SynthParams,
    edit: impl FnOnce(&mut World),
) -> (Backend, TempDir) {
    let db = sqlite(test).await;
    let dir = import_world_into(&db, params, edit).await;
    (db, dir)
}

/// A generated world, `edit`ed, written to a temp dir (kept for its truth files) and
/// imported into `db`'s tenant, on either back end.
pub async fn import_world_into(
    db: &Backend,
    params: &SynthParams,
    edit: impl FnOnce(&mut World),
) -> TempDir {
    let mut world = generate(params, &mut |_| {}).expect("generate");
    edit(&mut world);
    let dir = tempfile::tempdir().expect("temp dir");
    world.write(dir.path()).expect("write world");
    db.import(dir.path(), &ImportOptions::default())
        .await
        .expect("import world");
    dir
}

/// An imported world, trained: the registry (under the returned temp dir) holds the
/// tenant's active model.
pub struct TrainedWorld {
    pub db: Backend,
    pub world: TempDir,
    pub registry: Registry,
    pub models: TempDir,
}

pub async fn trained_world(test: &str, params: &SynthParams) -> TrainedWorld {
    trained_world_with(test, params, |_| {}).await
}

pub async fn trained_world_with(
    test: &str,
    params: &SynthParams,
    edit: impl FnOnce(&mut World),
) -> TrainedWorld {
    let (db, world) = imported_world_with(test, params, edit).await;
    train_world(db, world).await
}

/// A generated world imported into `db` (either back end) and trained.
pub async fn trained_world_on(db: Backend, params: &SynthParams) -> TrainedWorld {
    let world = import_world_into(&db, params, |_| {}).await;
    train_world(db, world).await
}

async fn train_world(db: Backend, world: TempDir) -> TrainedWorld {
    let models = tempfile::tempdir().expect("temp dir");
    let registry = Registry::new(models.path());
    pipeline::train_tenant(
        &db.store,
        &registry,
        &db.tenant,
        &TrainParams::default(),
        &mut |_| {},
    )
    .await
    .expect("train");
    TrainedWorld {
        db,
        world,
        registry,
        models,
    }
}

/// A trained world whose partners are in a qdrant-edge shard, with the engine loaded as
/// of `as_of` over it.
pub struct IndexedWorld {
    pub trained: TrainedWorld,
    pub engine: nextbest::nba::Engine,
    /// The shard the engine searches, for a second engine over it.
    pub index: std::sync::Arc<dyn nextbest::vector::VectorIndex>,
    pub vectors: TempDir,
}

pub async fn indexed_world(
    test: &str,
    params: &SynthParams,
    as_of: chrono::NaiveDate,
) -> IndexedWorld {
    indexed_world_with(test, params, as_of, |_| {}).await
}

pub async fn indexed_world_with(
    test: &str,
    params: &SynthParams,
    as_of: chrono::NaiveDate,
    edit: impl FnOnce(&mut World),
) -> IndexedWorld {
    use nextbest::vector::VectorIndex;
    use std::sync::Arc;
    let trained = trained_world_with(test, params, edit).await;
    let (db, registry) = (&trained.db, &trained.registry);
    let (model, _) = pipeline::active_model(registry, &db.tenant).expect("active model");
    let vectors = tempfile::tempdir().expect("temp dir");
    let dimension = model.profile.as_ref().expect("profile").dimension();
    let index: Arc<dyn VectorIndex> = Arc::new(
        nextbest::vector::edge::EdgeIndex::open(vectors.path(), dimension).expect("open index"),
    );
    nextbest::nba::peers::reindex(&db.store, registry, index.as_ref(), &db.tenant)
        .await
        .expect("reindex");
    let engine = nextbest::service::load_engine(
        &db.store,
        registry,
        Some(Arc::clone(&index)),
        &db.tenant,
        as_of,
    )
    .await
    .expect("load engine");
    IndexedWorld {
        trained,
        engine,
        index,
        vectors,
    }
}

/// A dataset folder in a temp dir holding `files` (name, text), for imports on top of
/// what a store already holds.
pub fn dataset_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write dataset file");
    }
    dir
}

/// A copy of the fixture in a temp dir, with `edit` applied to one of its files.
pub fn fixture_with(file: &str, edit: impl FnOnce(String) -> String) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(FIXTURE).expect("fixture dir") {
        let entry = entry.expect("fixture entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy fixture");
    }
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).expect("fixture file");
    std::fs::write(&path, edit(text)).expect("write edited fixture");
    let root = dir.path().to_owned();
    (dir, root)
}

/// The real `nextbest` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_nextbest");

/// A write-scope key of `tenant` in the store under `data`, created by the binary.
pub fn binary_key(data: &Path, tenant: &str) -> String {
    binary_key_with(data, tenant, &[])
}

/// [`binary_key`] with more global flags (`--database-url URL`).
pub fn binary_key_with(data: &Path, tenant: &str, extra: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .args(["--tenant", tenant, "keys", "create", "--scope", "write"])
        .output()
        .expect("run keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 key")
        .trim()
        .to_owned()
}

/// The real binary serving `tenant` from `data` on a free port with `extra` flags
/// (after `serve`), and its base URL once it says it is serving.
pub async fn spawn_server(
    data: &Path,
    tenant: &str,
    extra: &[&str],
) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(["--tenant", tenant, "serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("the server did not start in 60 s")
        .expect("read stdout")
        .expect("a first line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in `{line}`"))
        .to_owned();
    (child, base)
}

/// The server's Prometheus text, read with an admin key.
pub async fn metrics_text(client: &reqwest::Client, base: &str, admin: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The Qdrant server for the tests (gRPC URL in `NEXTBEST_TEST_QDRANT_URL`; `.ci/run`
/// starts the real 1.19 server from `../shared/bin/` and sets it). Without one the test
/// is skipped with a notice, unless `NEXTBEST_REQUIRE_QDRANT=1` (as in CI) makes it fail.
pub fn qdrant_url(test: &str) -> Option<String> {
    match std::env::var("NEXTBEST_TEST_QDRANT_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("NEXTBEST_REQUIRE_QDRANT").is_ok_and(|v| v == "1") => {
            panic!("{test}: NEXTBEST_REQUIRE_QDRANT=1 but NEXTBEST_TEST_QDRANT_URL is not set")
        }
        Err(_) => {
            eprintln!("skipping the Qdrant server for {test}: NEXTBEST_TEST_QDRANT_URL is not set");
            None
        }
    }
}
