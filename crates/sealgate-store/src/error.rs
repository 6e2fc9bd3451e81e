//! The store's one error type.
//!
//! Invariant: no variant carries a database message, a SQL text or a bound parameter.
//! Parameters can hold ciphertext (envelopes) or user data, and PostgreSQL messages quote
//! offending values ("invalid input syntax … \"…\"", "Key (id)=(…) already exists"), so the
//! driver's error is reduced here to the operation, a kind, the SQLSTATE code and, on
//! PostgreSQL, the constraint name — and is not kept as a `source`.

use std::borrow::Cow;

/// A shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Errors of the store, grouped by whose fault they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    // --- the caller's input -------------------------------------------------------------
    /// The URL is neither `sqlite://…` nor `postgres://…`, or its options do not parse.
    /// The URL itself is not repeated: it may hold a password.
    #[error("invalid database URL ({0}); expected sqlite://PATH?mode=rwc or postgres://USER@HOST:PORT/DB")]
    InvalidUrl(&'static str),
    /// A value is out of range or malformed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid (a field or argument name).
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The row does not exist, or is not the caller's (the two are not told apart).
    #[error("{what} not found")]
    NotFound {
        /// The entity looked for.
        what: &'static str,
    },
    /// A row with the same key already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The entity that was being created.
        what: &'static str,
    },
    /// The row is still referenced (e.g. a recipient key that envelopes are sealed to).
    #[error("{what} is still in use")]
    InUse {
        /// The entity that is referenced.
        what: &'static str,
    },

    /// The change is refused by the rows as they stand (e.g. removing a user's last passkey).
    #[error("{what}: {reason}")]
    Conflict {
        /// The entity.
        what: &'static str,
        /// Why, in words safe to show.
        reason: &'static str,
    },

    // --- concurrency: expected, retry ---------------------------------------------------
    /// Another appender extended the audit chain since the caller read its tail:
    /// re-read the tail, re-hash the records and append again.
    #[error("the audit chain moved on; re-read the tail, re-hash and retry")]
    AuditConflict,
    /// The job is no longer this worker's (its lease expired and another worker claimed
    /// it, or it was already completed): drop the work, do not record it.
    #[error("the job's lease was lost")]
    LeaseLost,

    // --- the database -------------------------------------------------------------------
    /// The database could not be opened at connect time; the message names the cause in
    /// words and what to do (never the URL's password).
    #[error("{0}")]
    Connect(ConnectError),
    /// The database could not be reached or the pool is exhausted or closed.
    #[error("database unavailable during {op} ({cause})")]
    Unavailable {
        /// The store operation.
        op: &'static str,
        /// The class of failure.
        cause: &'static str,
    },
    /// The database refused a statement.
    #[error("database error during {op}: {kind:?} (SQLSTATE/code {code})")]
    Database {
        /// The store operation.
        op: &'static str,
        /// The class of failure.
        kind: DbErrorKind,
        /// SQLSTATE (PostgreSQL) or extended result code (SQLite).
        code: String,
        /// The violated constraint's name, where the database reports it (PostgreSQL).
        constraint: Option<String>,
    },
    /// A migration could not be applied, or the database has migrations this build does
    /// not know (a newer binary ran against it) or that were edited after release.
    #[error("migration failed: {reason}{}", version.map(|v| format!(" (version {v})")).unwrap_or_default())]
    Migration {
        /// What went wrong.
        reason: &'static str,
        /// The migration version concerned.
        version: Option<i64>,
    },
    /// A row did not decode into its type: schema and code disagree (a bug).
    #[error("internal store error during {op} ({cause})")]
    Internal {
        /// The store operation.
        op: &'static str,
        /// The class of failure.
        cause: &'static str,
    },
}

/// Why connecting to the database failed, in the operator's words. `at` is `HOST:PORT`
/// (or the socket directory); names come from the URL the operator gave, never a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Nothing listens at the address.
    #[error("connection refused at {at}: is PostgreSQL running there?")]
    Refused {
        /// `HOST:PORT`.
        at: String,
    },
    /// The address accepted no connection, or did not answer, in time.
    #[error("no answer from {at} within {secs} s: is PostgreSQL running there, and is the port right?")]
    TimedOut {
        /// `HOST:PORT`.
        at: String,
        /// The connect timeout.
        secs: u64,
    },
    /// The host could not be reached or resolved.
    #[error("cannot reach {at}: {reason}")]
    Unreachable {
        /// `HOST:PORT`.
        at: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The role (user) the URL names does not exist (SQLSTATE 28000, "role … does not exist").
    #[error("role {role} does not exist at {at} (create it: createuser {role})")]
    RoleMissing {
        /// The role.
        role: String,
        /// `HOST:PORT`.
        at: String,
    },
    /// Password or other authentication refused (SQLSTATE 28P01 or 28000).
    #[error("authentication failed for role {role} at {at} (check the user and password in the database URL)")]
    AuthenticationFailed {
        /// The role.
        role: String,
        /// `HOST:PORT`.
        at: String,
    },
    /// The database the URL names does not exist (SQLSTATE 3D000).
    #[error("database {database} does not exist at {at} (create it: createdb -O {role} {database})")]
    DatabaseMissing {
        /// The database.
        database: String,
        /// The role that should own it.
        role: String,
        /// `HOST:PORT`.
        at: String,
    },
    /// TLS to the server failed.
    #[error("TLS with {at} failed (check sslmode and the server's certificate)")]
    Tls {
        /// `HOST:PORT`.
        at: String,
    },
    /// The server refused the connection for another reason.
    #[error("PostgreSQL at {at} refused the connection (SQLSTATE {code})")]
    Refusal {
        /// `HOST:PORT`.
        at: String,
        /// The SQLSTATE.
        code: String,
    },
    /// SQLite: the database file's directory does not exist.
    #[error(
        "cannot open the SQLite database {file}: directory {dir} does not exist (create it: mkdir -p -m 0700 {dir})"
    )]
    SqliteDirMissing {
        /// The database file.
        file: String,
        /// Its directory.
        dir: String,
    },
    /// SQLite: the file's "directory" is not a directory.
    #[error("cannot open the SQLite database {file}: {dir} is not a directory")]
    SqliteNotADirectory {
        /// The database file.
        file: String,
        /// Its parent path.
        dir: String,
    },
    /// SQLite: the directory or the file is not writable by this user.
    #[error("cannot open the SQLite database {file}: {what} is not writable by this user ({reason})")]
    SqliteNotWritable {
        /// The database file.
        file: String,
        /// `directory D` or `the file`.
        what: String,
        /// The operating system's reason.
        reason: String,
    },
    /// SQLite: the file does not exist and the URL does not allow creating it.
    #[error("the SQLite database {file} does not exist (add ?mode=rwc to the URL to create it)")]
    SqliteMissing {
        /// The database file.
        file: String,
    },
    /// SQLite: another reason (the file is not a database, …).
    #[error("cannot open the SQLite database {file} (SQLite code {code})")]
    SqliteOther {
        /// The database file.
        file: String,
        /// SQLite's extended result code.
        code: String,
    },
}

/// The class of a database refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// A unique or primary key constraint.
    UniqueViolation,
    /// A foreign key constraint.
    ForeignKeyViolation,
    /// A NOT NULL constraint.
    NotNullViolation,
    /// A CHECK constraint.
    CheckViolation,
    /// Anything else (serialization failure, syntax, …).
    Other,
}

impl StoreError {
    /// Reduces a driver error to a parameter-free [`StoreError`] (see the module docs).
    pub(crate) fn from_sqlx(op: &'static str, err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match err {
            E::Database(db) => {
                let kind = match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
                    sqlx::error::ErrorKind::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
                    sqlx::error::ErrorKind::NotNullViolation => DbErrorKind::NotNullViolation,
                    sqlx::error::ErrorKind::CheckViolation => DbErrorKind::CheckViolation,
                    _ => DbErrorKind::Other,
                };
                StoreError::Database {
                    op,
                    kind,
                    code: db.code().map(Cow::into_owned).unwrap_or_default(),
                    constraint: db.constraint().map(str::to_owned),
                }
            }
            E::RowNotFound => StoreError::NotFound { what: op },
            E::Io(_) => StoreError::Unavailable { op, cause: "i/o" },
            E::Tls(_) => StoreError::Unavailable { op, cause: "tls" },
            E::PoolTimedOut => StoreError::Unavailable { op, cause: "pool timed out" },
            E::PoolClosed => StoreError::Unavailable { op, cause: "pool closed" },
            E::WorkerCrashed => StoreError::Unavailable { op, cause: "driver worker crashed" },
            E::Protocol(_) => StoreError::Unavailable { op, cause: "protocol error" },
            E::Configuration(_) => StoreError::InvalidUrl("bad connection options"),
            E::ColumnNotFound(_) | E::ColumnIndexOutOfBounds { .. } => {
                StoreError::Internal { op, cause: "column missing" }
            }
            E::ColumnDecode { .. } | E::Decode(_) | E::TypeNotFound { .. } => {
                StoreError::Internal { op, cause: "row decode" }
            }
            _ => StoreError::Internal { op, cause: "driver" },
        }
    }

    pub(crate) fn from_migrate(err: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError as M;
        let (reason, version) = match err {
            M::Execute(e) => {
                return match StoreError::from_sqlx("migrate", e) {
                    StoreError::Database { .. } | StoreError::Internal { .. } => {
                        StoreError::Migration { reason: "a migration statement failed", version: None }
                    }
                    other => other,
                };
            }
            M::ExecuteMigration(e, v) => {
                return match StoreError::from_sqlx("migrate", e) {
                    StoreError::Database { .. } | StoreError::Internal { .. } => {
                        StoreError::Migration { reason: "a migration statement failed", version: Some(v) }
                    }
                    other => other,
                };
            }
            M::VersionMissing(v) => {
                ("the database has a migration this build does not know (a newer build ran against it)", Some(v))
            }
            M::VersionMismatch(v) => ("an applied migration was edited after release", Some(v)),
            M::Dirty(v) => ("a previous migration run was interrupted", Some(v)),
            _ => ("migrator refused", None),
        };
        StoreError::Migration { reason, version }
    }

    /// Whether this is a unique-key conflict.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database { kind: DbErrorKind::UniqueViolation, .. })
    }

    /// Whether this is a foreign-key violation.
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Database { kind: DbErrorKind::ForeignKeyViolation, .. })
    }
}

/// `.ctx("op")` on driver results.
pub(crate) trait Ctx<T> {
    fn ctx(self, op: &'static str) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self, op: &'static str) -> Result<T> {
        self.map_err(|e| StoreError::from_sqlx(op, e))
    }
}

/// A string that is not a known value of one of the store's enums (for example a stored
/// status this build does not know, or a typo in input parsed with `TryFrom<String>`).
#[derive(Debug, thiserror::Error)]
#[error("unknown value for {0}")]
pub struct UnknownValue(pub(crate) &'static str);
