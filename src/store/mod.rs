//! The system of record: SQLite by default, PostgreSQL at scale, one schema and one set of
//! queries for both through sqlx's `Any` driver. Every query filters on the tenant.
//!
//! Dates travel as ISO text, so the same SQL compares them correctly on both back ends.

mod changes;
mod digests;
mod group;
mod health;
mod jobs;
mod keys;
mod leases;
mod lookup;
mod models;
mod pages;
mod read;
mod recommendations;
mod rows;
mod sessions;
mod tx;
mod upsert;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use thiserror::Error;

pub use changes::{Change, ChangeListener, Changed};
pub use digests::{
    ClaimedDelivery, Delivery, LastDelivered, NewDelivery, Subscription, DELIVERED, FAILED, PENDING,
};
pub use group::{CommitObserver, Committed};
pub use health::Fault;
pub use jobs::{JobRow, JobStatus};
pub use keys::StoredKey;
pub use models::StoredModel;
pub use read::{Counts, PlanFilter};
pub use recommendations::LoggedRecommendation;
pub(crate) use rows::timestamp;
pub use sessions::NewSession;
pub use write::WriteProgress;

/// Which database sits behind the pool; chosen by the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme `{0}`: use sqlite:// or postgres://")]
    UnsupportedScheme(String),
    #[error("could not create the data directory `{0}`")]
    DataDir(String, #[source] std::io::Error),
    #[error("could not connect to the {0:?} database")]
    Connect(Backend, #[source] sqlx::Error),
    #[error("could not apply the schema migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database query failed while {0}")]
    Query(&'static str, #[source] sqlx::Error),
    /// A write gave a key result another plan than the one that holds it; the write's
    /// transaction was rolled back.
    #[error("key result `{kr_id}` belongs to plan `{held}`: it cannot move to plan `{given}`")]
    KeyResultOfAnotherPlan {
        kr_id: String,
        held: String,
        given: String,
    },
    /// The fault that ended a group commit, as each of its requests is told of it.
    #[error(transparent)]
    Shared(Arc<StoreError>),
    /// A group commit's task stopped before answering (a bug, logged where it happened).
    #[error("the write's group commit stopped before it answered")]
    GroupLost,
    #[error("stored {what} `{value}` is not valid: {why}")]
    Corrupt {
        what: &'static str,
        value: String,
        why: String,
    },
}

/// Schema migrations, compiled into the binary so `nextbest` runs from anywhere.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the system of record. Cheap to clone; share it.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run. On SQLite a pool of one connection: SQLite has one
    /// writer anyway, and a connection whose database another connection changed drops
    /// its whole page cache at its next transaction, so writes spread over the read pool
    /// re-read their B-tree pages from the file on nearly every commit. On PostgreSQL
    /// the read pool itself.
    writes: AnyPool,
    backend: Backend,
    health: Arc<health::Health>,
    /// This process's name in the readiness probe table, in change notices, leases and
    /// jobs.
    replica_id: Arc<str>,
    /// PostgreSQL's URL, for listening to the other replicas' changes.
    listen_url: Option<changes::ListenUrl>,
    /// Concurrent writes waiting to be committed together.
    group: Arc<group::Group>,
}

/// How long a request waits for a pooled connection before it is answered "storage
/// unavailable": long enough for a burst of writes queueing on SQLite's one writer,
/// short enough that a database that is down is reported before the request times out.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings of the store's pools: on SQLite four readers and the one writer, on
/// PostgreSQL one pool of 16 for both.
fn pool_options(backend: Backend, role: Role) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(match (backend, role) {
            (Backend::Sqlite, Role::Reader) => 4,
            (Backend::Sqlite, Role::Writer) => 1,
            (Backend::Postgres, _) => 16,
        })
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A pooled SQLite connection is a file handle in this process: pinging it
        // before every use was a round trip to its worker thread per query (a sync
        // write makes a dozen). A PostgreSQL connection can die with the server, and
        // is checked before it is handed out.
        .test_before_acquire(backend == Backend::Postgres)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                    )
                    .await?;
                    if role == Role::Writer {
                        // 16 MiB of page cache (SQLite's default is 2 MiB): the indexes
                        // every write inserts into stay in memory between commits.
                        conn.execute("PRAGMA cache_size=-16384;").await?;
                    }
                }
                Ok(())
            })
        })
}

/// Which of the store's pools a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Reader,
    Writer,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`) and brings the schema up to
    /// date. For SQLite the file and its directory are created if missing, and every
    /// connection runs in WAL mode with `synchronous=FULL` and foreign keys on, so a write
    /// acknowledged is on disk and references are enforced.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let scheme = url.split_once(':').map_or(url, |(s, _)| s);
        let backend = match scheme {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            other => return Err(StoreError::UnsupportedScheme(other.to_owned())),
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options =
            AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Connect(backend, e))?;
        let pool = pool_options(backend, Role::Reader)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Connect(backend, e))?;
        let writes = match backend {
            Backend::Sqlite => pool_options(backend, Role::Writer)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Connect(backend, e))?,
            Backend::Postgres => pool.clone(),
        };
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        tracing::debug!(?backend, "store opened");
        Ok(Self {
            pool,
            writes,
            backend,
            health: Arc::default(),
            replica_id: uuid::Uuid::new_v4().simple().to_string().into(),
            listen_url: (backend == Backend::Postgres).then(|| changes::ListenUrl(url.into())),
            group: Arc::default(),
        })
    }

    /// The store for a data directory: `DIR/nextbest.db`, SQLite.
    pub async fn open_data_dir(dir: &Path) -> Result<Self, StoreError> {
        Self::open(&format!("sqlite://{}", dir.join("nextbest.db").display())).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// SQLite's journal mode, synchronous level and foreign-key switch as a pooled
    /// connection sees them: the durability settings, for diagnostics and tests.
    pub async fn sqlite_pragmas(&self) -> Result<(String, i64, i64), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::Query("reading SQLite settings", e))?;
        let err = |e| StoreError::Query("reading SQLite settings", e);
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
        Ok((journal, sync, fk))
    }

    pub async fn close(&self) {
        self.writes.close().await;
        self.pool.close().await;
    }
}

/// Turns `sqlite://path` into a URL that creates the file, and creates its directory.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::DataDir(parent.display().to_string(), e))?;
        }
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".into()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// What the unit tests of the store's writers share.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use super::Store;
    use crate::import::{self, ImportOptions};

    /// Imports the CRM export fixture (`tests/fixtures/crm_export`) for `tenant`: the plans
    /// those tests write to.
    pub(crate) async fn import_fixture(store: &Store, tenant: &str) {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crm_export");
        import::import_dir(
            store,
            tenant,
            &fixture,
            &ImportOptions::default(),
            &mut |_| {},
            &mut |_, _| {},
        )
        .await
        .unwrap();
    }
}
