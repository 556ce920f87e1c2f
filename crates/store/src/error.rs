//! The store's errors. Messages are safe to show to the user who made the
//! request: none of them says whether another user's name or project exists.

/// What went wrong in a [`crate::Store`] call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Wrong username or password, or no such user: deliberately one error.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right but an administrator disabled the account.
    #[error("this account is disabled")]
    AccountDisabled,
    /// Sign-up with a name someone already has.
    #[error("that username is taken")]
    UsernameTaken,
    /// A username outside the allowed shape.
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    /// A password that is too short or too long.
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    /// A name, language or path outside the allowed shape.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The owner already has a project with that name.
    #[error("a project with that name already exists")]
    ProjectNameTaken,
    /// No such thing, or it belongs to someone else (the same answer, so a
    /// caller cannot probe other users' ids).
    #[error("not found")]
    NotFound,
    /// A write that named a version which is no longer the current one.
    #[error("version conflict: the write was based on version {expected}, the current version is {current}")]
    Conflict {
        /// The version the caller based its write on.
        expected: i64,
        /// The version in the store now.
        current: i64,
    },
    /// A write refused because the server as a whole is out of storage
    /// (its budget, or its disk's free-space watermark), whoever writes.
    #[error("{0}; the write was refused (ask the administrator)")]
    StorageFull(StorageFull),
    /// A database URL that is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL: expected sqlite:… or postgres://…")]
    UnsupportedUrl,
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The password hasher failed (never happens with valid parameters).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl StoreError {
    /// Turns a unique-constraint violation into `on_unique`, passing every
    /// other database error through.
    pub(crate) fn unique_as(error: sqlx::Error, on_unique: StoreError) -> StoreError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => on_unique,
            _ => StoreError::Database(error),
        }
    }
}

/// The store's result type.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why storage is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFull {
    /// The server-wide budget is used up.
    Budget,
    /// The data disk is at its free-space watermark.
    Disk,
}

impl StorageFull {
    /// `budget` or `disk`, for the API's details.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageFull::Budget => "budget",
            StorageFull::Disk => "disk",
        }
    }
}

impl std::fmt::Display for StorageFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageFull::Budget => "the server's storage budget is used up",
            StorageFull::Disk => "the server's disk is nearly full",
        })
    }
}
