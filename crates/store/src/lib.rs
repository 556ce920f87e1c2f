//! Bytesbox's metadata store: users, sign-in sessions, API tokens,
//! projects, their file index and run history, in SQLite (the embedded
//! default, one file under the data dir) or PostgreSQL (for several server
//! replicas). One [`Store`] API over both, through `sqlx::Any`; the schema
//! comes from the migrations in `migrations/<database>/`. File contents live
//! in an object store ([`Objects`]: a local directory, S3 or memory), kept
//! consistent with the index by [`ProjectFiles`]. Design notes:
//! `docs/accounts.md`.

mod error;
mod files;
mod model;
mod monitoring;
mod nodes;
mod objects;
mod project_files;
mod project_git;
mod projects;
mod run_places;
mod runs;
mod secrets;
mod sessions;
mod storage;
mod tokens;
mod usage;
mod users;
mod zip_export;
mod zip_import;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor as _};

pub use error::{StorageFull, StoreError, StoreResult};
pub use model::{
    ApiToken, FileEntry, NewApiToken, NewFileEntry, NewSession, Project, ProjectId, ProjectSettings, Role, RunRecord,
    Usage, User, UserId,
};
pub use monitoring::{
    bounded, latency_bound_ms, latency_bucket, latency_quantile, ErrorRecord, MinuteReport, MonitorFlush,
    MonitorGauges, MonitorRetention, RunCount, SeriesPoint, StorageSample, UserActivity, DAY_MS,
    ERRORS_KEPT_PER_MINUTE, LATENCY_BUCKETS, MAX_ERROR_MESSAGE, MINUTE_MS,
};
pub use nodes::{NodeLoad, NodeRecord, NodeRegistration, NodeState};
pub use objects::{new_object_key, project_prefix, Objects, ObjectsConfig, OBJECTS_ROOT};
pub use project_files::{
    check_path, check_paths, FilesError, NewFile, ProjectFiles, Quota, QuotaKind, SizeLimit, SweepReport,
};
pub use project_git::SavedGit;
pub use run_places::RunPlace;
pub use runs::RUNS_KEPT_PER_PROJECT;
pub use storage::{StorageLimits, UserStorage};
pub use tokens::API_TOKEN_PREFIX;
pub use zip_export::{ZipStream, ZipStreamWriter};
pub use zip_import::{read_zip, unpack_zip, ArchiveLimits, EntrySink, MAX_ARCHIVE_ENTRIES};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The metadata store: a connection pool and the database's kind.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    database: Database,
    /// Server-wide caps on project file writes (none unless set with
    /// [`Store::with_storage_limits`]).
    storage: storage::StorageGuard,
}

impl Store {
    /// Opens (creating it if needed) the SQLite database `bytesbox.db` in
    /// `data_dir`, and brings its schema up to date.
    pub async fn open_in_data_dir(data_dir: &Path) -> StoreResult<Store> {
        Store::connect(&sqlite_url(&data_dir.join("bytesbox.db"))).await
    }

    /// Connects to `url` (`sqlite:…` or `postgres://…`) and brings the
    /// schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let database = if url.starts_with("sqlite:") {
            Database::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Database::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let mut options = AnyPoolOptions::new().max_connections(8);
        if database == Database::Sqlite {
            options = options.after_connect(|connection, _| {
                Box::pin(async move {
                    // WAL lets readers work while one connection writes;
                    // foreign keys make project deletion cascade.
                    connection.execute("PRAGMA journal_mode = WAL").await?;
                    connection.execute("PRAGMA foreign_keys = ON").await?;
                    connection.execute("PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        let migrator = match database {
            Database::Sqlite => &SQLITE_MIGRATIONS,
            Database::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Store { pool, database, storage: storage::StorageGuard::default() })
    }

    /// Which database this store talks to.
    pub fn database(&self) -> Database {
        self.database
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A `sqlite:` URL for a file, created when missing. sqlx percent-decodes
/// the path, so the characters that would end it are encoded.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for character in path.to_string_lossy().chars() {
        match character {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            other => url.push(other),
        }
    }
    url.push_str("?mode=rwc");
    url
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Reads a column, turning a decoding failure into a database error.
fn column<'r, T>(row: &'r AnyRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row as _;
    Ok(row.try_get(name)?)
}
