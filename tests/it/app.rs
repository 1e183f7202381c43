//! One way to start the app in a test: the real server (`api::serve_app`) on
//! 127.0.0.1:0 in a task of the test's runtime, over a real store (a SQLite file in a
//! temp dir unless the test names another database), with an admin, a write and a read
//! key of its tenant. zero-to-production's `spawn_app`, with a builder for what the
//! tests vary: options, database, models, Qdrant, the dashboard, extra routes.
//!
//! The server opens its own pool from the database URL, as a new process would: its
//! stop closes that pool and leaves a store the test opened itself usable.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use nextbest::api::{self, auth, AppState, ServeOptions};
use nextbest::config::Config;
use nextbest::store::Store;
use reqwest::Client;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{config_in, Backend};

/// The tenant of a test that does not name one.
const TENANT: &str = "default";

/// How long a stopped server may take to finish its requests and close its store.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// A server under test, serving until [`TestApp::stop`] (or until it is dropped, which
/// sends the same signal without waiting for the server to finish). Its temp dir lives
/// as long as the `TestApp`, not the server: what a test still holds on it after a stop
/// (a vector index that flushes when dropped, the SQLite file to reopen) is still there.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub address: SocketAddr,
    /// Follows no redirects when the dashboard is served: its tests look at the 303s.
    pub client: Client,
    pub admin: String,
    pub writer: String,
    pub reader: String,
    /// The server's own store (the same pool its handlers use).
    pub store: Store,
    pub state: AppState,
    /// What the store was opened from, to open it again after a stop.
    pub database_url: String,
    launch: Launch,
    // Behind locks so that `stop` takes `&self`: the test goes on reading the app (its
    // URL, its files) after the server has stopped.
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

/// What starting the same server again needs.
struct Launch {
    config: Config,
    options: ServeOptions,
    surface: Surface,
    /// The data directory (SQLite file, vectors, models by default); lives as long as
    /// the app, restarts included.
    _dir: TempDir,
}

/// Which routes the server answers.
#[derive(Default)]
enum Surface {
    #[default]
    Api,
    /// `nextbest::web::app`: the API and the dashboard, as `nextbest serve` serves them.
    Dashboard,
    /// `api::router_with` these routes.
    Routes(axum::Router<AppState>),
}

impl Surface {
    fn router(&self, state: AppState) -> axum::Router {
        match self {
            Self::Api => api::router(state),
            Self::Dashboard => nextbest::web::app(state),
            Self::Routes(routes) => api::router_with(state, routes.clone()),
        }
    }

    fn client(&self) -> Client {
        match self {
            Self::Dashboard => Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            Self::Api | Self::Routes(_) => Client::new(),
        }
    }
}

/// What the test varies; [`TestApp::builder`] starts from tenant `default`,
/// `ServeOptions::default()`, SQLite in the app's temp dir, the API only.
#[derive(Default)]
pub struct Builder {
    tenant: Option<String>,
    options: ServeOptions,
    database_url: Option<String>,
    models_dir: Option<std::path::PathBuf>,
    qdrant_url: Option<String>,
    surface: Surface,
}

impl Builder {
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }

    pub fn options(mut self, options: ServeOptions) -> Self {
        self.options = options;
        self
    }

    /// A database other than SQLite in the app's temp dir (PostgreSQL, say).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// Serves a store the test filled: its database and its tenant. The test keeps
    /// `backend` (and its file) alive.
    pub fn on(self, backend: &Backend) -> Self {
        self.database_url(&backend.url).tenant(&backend.tenant)
    }

    /// The model registry's directory (a trained world's), instead of an empty one.
    pub fn models_dir(mut self, dir: &Path) -> Self {
        self.models_dir = Some(dir.to_owned());
        self
    }

    /// The Qdrant server at `url` as the vector index, instead of an embedded shard.
    pub fn qdrant_url(mut self, url: &str) -> Self {
        self.qdrant_url = Some(url.to_owned());
        self
    }

    /// Serves the dashboard's pages beside the API.
    pub fn dashboard(mut self) -> Self {
        self.surface = Surface::Dashboard;
        self
    }

    /// Serves `routes` beside the API, inside its request ids, metrics and panic safety.
    pub fn routes(mut self, routes: axum::Router<AppState>) -> Self {
        self.surface = Surface::Routes(routes);
        self
    }

    /// Opens the store, creates the keys and starts the server.
    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let tenant = self.tenant.unwrap_or_else(|| TENANT.to_owned());
        let defaults = config_in(dir.path(), &tenant);
        let config = Config {
            database_url: self.database_url,
            qdrant_url: self.qdrant_url,
            models_dir: self.models_dir.unwrap_or(defaults.models_dir.clone()),
            ..defaults
        };
        let database_url = config.database_url();
        let store = Store::open(&database_url)
            .await
            .unwrap_or_else(|e| panic!("open the store at {database_url}: {e}"));
        let key = |scope| {
            let (store, tenant) = (store.clone(), tenant.clone());
            async move {
                auth::create_key(&store, &tenant, scope, None)
                    .await
                    .expect("create a key")
                    .key
            }
        };
        let keys = Keys {
            admin: key(auth::Scope::Admin).await,
            writer: key(auth::Scope::Write).await,
            reader: key(auth::Scope::Read).await,
        };
        let launch = Launch {
            config,
            options: self.options,
            surface: self.surface,
            _dir: dir,
        };
        TestApp::serve(store, database_url, keys, launch).await
    }
}

/// A key of each scope, created once per app and kept across restarts.
struct Keys {
    admin: String,
    writer: String,
    reader: String,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder::default()
    }

    async fn serve(store: Store, database_url: String, keys: Keys, launch: Launch) -> Self {
        let state = AppState::new(store.clone(), launch.config.clone(), launch.options.clone());
        let app = launch.surface.router(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("a bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve_app(listener, state.clone(), app, async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{address}"),
            address,
            client: launch.surface.client(),
            admin: keys.admin,
            writer: keys.writer,
            reader: keys.reader,
            store,
            state,
            database_url,
            launch,
            stop: Mutex::new(Some(stop)),
            task: Mutex::new(Some(task)),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends the shutdown signal and returns at once, for a test that watches the
    /// server drain; [`TestApp::stop`] then waits for it.
    pub fn begin_stop(&self) {
        let stop = self.stop.lock().expect("the stop signal").take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }

    /// Stops the server gracefully and waits for it: it finishes the requests in flight
    /// and closes its store. Panics if it does not stop within 10 s or stops with an
    /// error; a second call returns at once.
    pub async fn stop(&self) {
        self.begin_stop();
        let task = self.task.lock().expect("the server task").take();
        if let Some(task) = task {
            tokio::time::timeout(STOP_WITHIN, task)
                .await
                .expect("the server did not stop")
                .expect("the server task panicked")
                .expect("the server stopped with an error");
        }
    }

    /// Stops the server and starts it again on the same store, with the same keys,
    /// options and routes, on a new port: a restarted process.
    pub async fn restart(self) -> TestApp {
        self.stop().await;
        let store = Store::open(&self.database_url)
            .await
            .unwrap_or_else(|e| panic!("reopen the store at {}: {e}", self.database_url));
        let keys = Keys {
            admin: self.admin,
            writer: self.writer,
            reader: self.reader,
        };
        TestApp::serve(store, self.database_url, keys, self.launch).await
    }
}
