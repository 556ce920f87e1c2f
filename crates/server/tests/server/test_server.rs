//! The one way these tests start a server: [`TestServer`], a builder.
//!
//! Boxes run on the unisolated [`HostDouble`] unless a test asks for the
//! native backend: tests of HTTP, authentication, authorization, storage
//! and protocol framing need no root and run in parallel; only tests of
//! isolation and real limits take [`TestServer::native`] (after
//! `require_root`). With accounts, the metadata and the file contents are
//! on one of the [`Stores`] a deployment can use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytesbox_engine::{AdmissionConfig, Engine};
use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_sandbox::Backend;
use bytesbox_server::accounts::{Accounts, AccountsConfig, PlanConfig, Plans};
use bytesbox_server::app::AppState;
use bytesbox_server::config::{PistonConfig, ServerConfig};
use bytesbox_server::metrics::Metrics;
use bytesbox_server::planner::Planner;
use bytesbox_server::rate_limit::RateLimitConfig;
use bytesbox_server::routes::router;
use bytesbox_server::session::{SessionConfig, Sessions};
use bytesbox_server::session_kernels::KernelConfig;
use bytesbox_store::{Objects, ObjectsConfig, Store};
use bytesbox_testkit::host_double::HostDouble;
use bytesbox_testkit::stores::{fresh_postgres_schema, postgres_url, S3Settings};

use super::ShellPlanner;

/// Where a server with accounts keeps its metadata and file contents: the
/// two combinations deployments use.
#[derive(Debug, Clone)]
pub enum Stores {
    /// SQLite and a local objects directory, both in a fresh data dir (the
    /// default of `bytesbox serve`).
    SqliteAndFiles,
    /// A schema of the test's own in the test PostgreSQL database, and a
    /// prefix of its own in the test S3 bucket.
    PostgresAndS3 { postgres_url: String, s3: S3Settings },
}

impl Stores {
    /// The test PostgreSQL database and S3 bucket, or `None` (skipped
    /// through the testkit, a failure in CI) when either is missing.
    pub fn postgres_and_s3(test: &str) -> Option<Stores> {
        let postgres_url = postgres_url(test);
        let s3 = S3Settings::for_test(test);
        Some(Stores::PostgresAndS3 { postgres_url: postgres_url?, s3: s3? })
    }

    async fn open(&self, data_dir: &Path) -> (Store, Objects) {
        match self {
            Stores::SqliteAndFiles => {
                let store = Store::open_in_data_dir(data_dir).await.unwrap();
                (store, Objects::open(&ObjectsConfig::local_in_data_dir(data_dir)).unwrap())
            }
            Stores::PostgresAndS3 { postgres_url, s3 } => {
                let store = Store::connect(&fresh_postgres_schema(postgres_url).await).await.unwrap();
                (store, Objects::open_s3_with(s3.builder(), &s3.bucket, &s3.prefix).unwrap())
            }
        }
    }
}

/// Accounts on a test server.
struct AccountsSetup {
    config: AccountsConfig,
    plans: BTreeMap<String, PlanConfig>,
    stores: Stores,
}

/// A test server to be: see the module documentation. The defaults are
/// the shell-only planner, 4 runs at a time with 8 waiting, a 30 s grace
/// period, the server's default settings and no accounts.
pub struct TestServer {
    native: bool,
    backend: Option<Arc<dyn Backend>>,
    planner: Arc<dyn Planner>,
    sessions: SessionConfig,
    admission: AdmissionConfig,
    config: ServerConfig,
    accounts: Option<AccountsSetup>,
    kernels: KernelConfig,
}

impl TestServer {
    /// Boxes on the host double: no isolation, no root needed.
    pub fn new() -> TestServer {
        TestServer {
            native: false,
            backend: None,
            planner: Arc::new(ShellPlanner),
            sessions: SessionConfig { grace: Duration::from_secs(30), ..SessionConfig::default() },
            admission: AdmissionConfig { max_running: 4, max_queued: 8 },
            config: ServerConfig::default(),
            accounts: None,
            kernels: KernelConfig::default(),
        }
    }

    /// Notebook kernel settings.
    pub fn kernels(mut self, kernels: KernelConfig) -> TestServer {
        self.kernels = kernels;
        self
    }

    /// Boxes on the native backend, for tests of isolation and real
    /// limits; the test must have passed `require_root` first.
    pub fn native(mut self) -> TestServer {
        self.native = true;
        self
    }

    /// Boxes on `backend` (a wrapper of the host double that a test
    /// steers).
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> TestServer {
        self.backend = Some(backend);
        self
    }

    /// Starts on the native backend when the test may (as root); `None`
    /// when `require_root` skipped it.
    pub async fn start_native(self, test: &str) -> Option<Server> {
        if !bytesbox_testkit::require_root(test) {
            return None;
        }
        Some(self.native().start().await)
    }

    /// The language catalog's planner instead of the shell-only one.
    pub fn catalog(self) -> TestServer {
        let catalog = bytesbox_server::catalog_planner::CatalogPlanner::new(bytesbox_runtimes::Catalog::builtin());
        self.planner(Arc::new(catalog))
    }

    pub fn planner(mut self, planner: Arc<dyn Planner>) -> TestServer {
        self.planner = planner;
        self
    }

    /// How long a session outlives its connection.
    pub fn grace(self, grace: Duration) -> TestServer {
        self.sessions(|sessions| sessions.grace = grace)
    }

    /// Changes the sessions' settings (terminals, grace period).
    pub fn sessions(mut self, change: impl FnOnce(&mut SessionConfig)) -> TestServer {
        change(&mut self.sessions);
        self
    }

    pub fn admission(mut self, admission: AdmissionConfig) -> TestServer {
        self.admission = admission;
        self
    }

    pub fn rate_limit(self, rate_limit: RateLimitConfig) -> TestServer {
        self.configure(|config| config.rate_limit = rate_limit)
    }

    /// Accounts with `config`, the plans of `plans_toml` (a `[plans]`
    /// table's contents) and their data on `stores`. Run rate limits are
    /// off: they have their own test and would only get in the way of
    /// tests that run many times.
    pub fn accounts(self, config: AccountsConfig, plans_toml: &str, stores: Stores) -> TestServer {
        let plans: BTreeMap<String, PlanConfig> = toml::from_str(plans_toml).unwrap();
        self.accounts_with_plans(config, plans, stores)
    }

    pub fn accounts_with_plans(
        mut self,
        config: AccountsConfig,
        plans: BTreeMap<String, PlanConfig>,
        stores: Stores,
    ) -> TestServer {
        self.accounts = Some(AccountsSetup { config, plans, stores });
        self.rate_limit(RateLimitConfig { per_minute: 0, burst: 0, trust_forwarded_for: false })
    }

    /// Piston's settings instead of its defaults.
    pub fn piston(self, piston: PistonConfig) -> TestServer {
        self.configure(|config| config.piston = piston)
    }

    /// Changes the server's settings before the state is built from them.
    pub fn configure(mut self, change: impl FnOnce(&mut ServerConfig)) -> TestServer {
        change(&mut self.config);
        self
    }

    /// Builds the state and serves it on an ephemeral port of 127.0.0.1.
    pub async fn start(self) -> Server {
        let (backend, native) = if let Some(backend) = self.backend {
            (backend, None)
        } else if self.native {
            let (uid_base, uid_count) = bytesbox_testkit::box_uid_range();
            let config = NativeConfig {
                jail_binary: Some(bytesbox_testkit::jail_binary()),
                uid_base,
                uid_count,
                ..NativeConfig::default()
            };
            let native = NativeBackend::start(config).await.unwrap();
            (Arc::new(native.clone()) as Arc<dyn Backend>, Some(native))
        } else {
            (Arc::new(HostDouble::default()) as Arc<dyn Backend>, None)
        };
        let metrics = Arc::new(Metrics::new(&self.config.node.id));
        let engine = Engine::new(backend.clone(), self.admission).with_observer(metrics.clone());
        let data_dir = tempfile::tempdir().unwrap();
        let server_templates = Some(data_dir.path().join("sql-templates"));
        let sessions =
            Sessions::new(engine, SessionConfig { server_templates, kernels: self.kernels, ..self.sessions });
        let mut stored = None;
        let mut accounts = None;
        if let Some(AccountsSetup { config, plans, stores }) = self.accounts {
            let (store, objects) = stores.open(data_dir.path()).await;
            let limits = &self.config.limits;
            let plans = Plans::new(&plans, &limits.default, &limits.max).unwrap();
            accounts = Some(Arc::new(Accounts::new(store.clone(), plans, config).with_objects(objects.clone())));
            stored = Some((store, objects, stores));
        }
        let state = AppState::new(self.config, sessions.clone(), self.planner, metrics, accounts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(state);
        tokio::spawn(bytesbox_server::fleet::keep_registered(Arc::downgrade(&state)));
        let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            url: format!("ws://{address}/api/v1/ws"),
            base: format!("http://{address}"),
            address,
            backend,
            native,
            sessions,
            stored,
            data_dir,
        }
    }
}

/// A serving test server.
pub struct Server {
    /// The WebSocket URL, `ws://127.0.0.1:port/api/v1/ws`.
    pub url: String,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// `127.0.0.1:port`.
    pub address: String,
    pub backend: Arc<dyn Backend>,
    native: Option<NativeBackend>,
    pub sessions: Arc<Sessions>,
    stored: Option<(Store, Objects, Stores)>,
    data_dir: tempfile::TempDir,
}

impl Server {
    /// The accounts' store.
    pub fn store(&self) -> &Store {
        &self.stored.as_ref().expect("a server with accounts").0
    }

    /// The host's templates of the SQL servers' state the server made.
    pub fn server_templates(&self) -> Vec<String> {
        files_under(&self.data_dir.path().join("sql-templates"))
    }

    /// Every object and staging file the server's object store holds.
    pub async fn object_files(&self) -> Vec<String> {
        use futures_util::StreamExt as _;
        let (_, objects, stores) = self.stored.as_ref().expect("a server with accounts");
        match stores {
            // The directory itself, so that staging files count too.
            Stores::SqliteAndFiles => files_under(&self.data_dir.path().join("objects")),
            Stores::PostgresAndS3 { .. } => {
                let listed: Vec<_> = objects.store().list(None).collect().await;
                listed.into_iter().map(|meta| meta.unwrap().location.to_string()).collect()
            }
        }
    }

    /// Waits until the backend holds `boxes` boxes: one-shot boxes are
    /// destroyed after their answer is sent.
    pub async fn wait_for_boxes(&self, boxes: usize, what: &str) {
        let backend = self.backend.clone();
        bytesbox_testkit::wait_until(what, Duration::from_secs(10), || {
            let backend = backend.clone();
            async move { backend.list().await.len() == boxes }
        })
        .await;
    }

    /// Closes every session and the backend; on the native backend, checks
    /// that nothing of a box is left.
    pub async fn stop(self) {
        self.sessions.close_all().await;
        self.backend.shutdown().await;
        assert!(self.backend.list().await.is_empty(), "boxes outlived the server");
        if let Some(native) = self.native {
            assert!(native.leftovers().is_empty(), "{:?}", native.leftovers());
        }
    }
}

fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}
