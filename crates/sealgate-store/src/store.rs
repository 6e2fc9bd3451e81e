//! Connecting, migrating, and running one SQL text on either database.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{ConnectError, Ctx, Result, StoreError};

/// Migrations are embedded at build time and append-only; one directory per dialect, kept
/// in step (same tables, columns and constraints).
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (the embedded default), one file.
    Sqlite,
    /// PostgreSQL (at scale).
    Postgres,
}

/// Pool settings; the defaults suit both the embedded default and one role instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Maximum connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a free connection before [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for another connection's write lock.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL: how long the first connection at [`Store::connect`] may take, refusals
    /// and a server starting up retried meanwhile, before [`ConnectError`] names the cause
    /// (a wrong port or host answers in seconds, not after `acquire_timeout`).
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            sqlite_busy_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The persistence layer of every role. Cheap to clone (a pool handle).
///
/// Every method that reads or changes a user's credential takes the owner's user id and
/// matches it in the same statement, so one user can never reach another's rows; methods
/// for services (the signer, workers) say so in their names or docs.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// SQLite: the database file and busy timeout, for dedicated blocking connections
    /// (`None` for PostgreSQL and in-memory databases).
    pub(crate) sqlite_file: Option<std::sync::Arc<(std::path::PathBuf, Duration)>>,
}

/// Runs `$body` with `$pool` bound to the typed pool of either backend. The body is
/// compiled once per backend, so one SQL text (with `$1`-style placeholders, which both
/// drivers accept) serves both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The database clock in milliseconds since the epoch, used by everything that compares
/// times across processes (leases, run-after): one clock, whatever the workers' clocks say.
macro_rules! now_sqlite {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
}
macro_rules! now_postgres {
    () => {
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    };
}
pub(crate) use {now_postgres, now_sqlite};

/// Starting a write transaction: `BEGIN IMMEDIATE` on SQLite takes the write lock up front
/// (a deferred transaction that upgrades can fail with SQLITE_BUSY without waiting);
/// PostgreSQL's row locks and constraints do the rest.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = std::result::Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> std::result::Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Wall-clock milliseconds since the epoch, for `created`/`updated` stamps.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// A duration in whole milliseconds, bounded to what the columns hold.
pub(crate) fn millis(what: &'static str, d: Duration) -> Result<i64> {
    i64::try_from(d.as_millis())
        .ok()
        .filter(|ms| *ms <= i64::MAX / 4)
        .ok_or(StoreError::Invalid { what, reason: "duration too long" })
}

impl Store {
    /// Connects with default [`StoreOptions`] and applies pending migrations.
    ///
    /// `url` is `sqlite://PATH?mode=rwc` (creates the file) or `postgres://USER@HOST/DB`.
    /// SQLite runs in WAL mode with `synchronous=FULL` (a committed nonce or audit record
    /// survives power loss), foreign keys on, and a busy timeout so concurrent writers
    /// from several pools or processes wait instead of failing. Run migrations on a fresh
    /// SQLite file from one process first: SQLite has no migration lock (PostgreSQL takes an
    /// advisory lock, so concurrent role instances may all connect at once).
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit pool settings.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::InvalidUrl("bad sqlite URL"))?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(options.sqlite_busy_timeout);
            let file = connect.get_filename().to_path_buf();
            let pool = match SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
            {
                Ok(pool) => pool,
                Err(e) => return Err(sqlite_connect_error(&file, e)),
            };
            SQLITE_MIGRATIONS.run(&pool).await.map_err(StoreError::from_migrate)?;
            let sqlite_file = (!file.as_os_str().is_empty() && file.as_os_str() != ":memory:")
                .then(|| std::sync::Arc::new((file, options.sqlite_busy_timeout)));
            Store { db: Db::Sqlite(pool), sqlite_file }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url).map_err(|_| StoreError::InvalidUrl("bad postgres URL"))?;
            // One connection first, bounded by connect_timeout: the pool would retry a refused
            // connection silently until acquire_timeout, and reduces refusals to a SQLSTATE.
            // A refusal or a server still starting up (57P03) is retried until then, so a
            // PostgreSQL started alongside still gets its few seconds.
            let at = pg_address(&connect);
            let deadline = tokio::time::Instant::now() + options.connect_timeout;
            let mut pause = Duration::from_millis(100);
            loop {
                match tokio::time::timeout_at(deadline, PgConnection::connect_with(&connect)).await {
                    Ok(Ok(probe)) => {
                        let _ = probe.close().await;
                        break;
                    }
                    Ok(Err(e)) if may_be_starting(&e) && tokio::time::Instant::now() + pause < deadline => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(1));
                    }
                    Ok(Err(e)) => return Err(pg_connect_error(&connect, at, e)),
                    Err(_) => {
                        let secs = options.connect_timeout.as_secs().max(1);
                        return Err(StoreError::Connect(ConnectError::TimedOut { at, secs }));
                    }
                }
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .ctx("connect")?;
            POSTGRES_MIGRATIONS.run(&pool).await.map_err(StoreError::from_migrate)?;
            Store { db: Db::Postgres(pool), sqlite_file: None }
        } else {
            return Err(StoreError::InvalidUrl("unknown scheme"));
        };
        Ok(store)
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }

    /// The versions of the migrations applied to this database, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).fetch_all(p).await).ctx("applied migrations")
    }
}

/// `HOST:PORT`, or the socket directory, of a PostgreSQL URL (never its password).
fn pg_address(o: &PgConnectOptions) -> String {
    match o.get_socket() {
        Some(dir) => format!("socket {} port {}", dir.display(), o.get_port()),
        None if o.get_host().contains(':') => format!("[{}]:{}", o.get_host(), o.get_port()),
        None => format!("{}:{}", o.get_host(), o.get_port()),
    }
}

/// Nothing listens yet, or PostgreSQL is starting up: worth another try.
fn may_be_starting(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// A failed first PostgreSQL connection, in words (see [`ConnectError`]).
fn pg_connect_error(o: &PgConnectOptions, at: String, err: sqlx::Error) -> StoreError {
    let role = o.get_username().to_owned();
    let e = match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                // 28000 is invalid_authorization_specification: PostgreSQL uses it for a
                // missing role and for pg_hba.conf refusals. Its message is only classified
                // here, never carried (it may quote values; see the module docs of error.rs).
                "28000" if db.message().starts_with("role ") && db.message().ends_with("does not exist") => {
                    ConnectError::RoleMissing { role, at }
                }
                "28000" | "28P01" => ConnectError::AuthenticationFailed { role, at },
                "3D000" => {
                    let database = o.get_database().unwrap_or(&role).to_owned();
                    ConnectError::DatabaseMissing { database, role, at }
                }
                _ => ConnectError::Refusal { at, code },
            }
        }
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => ConnectError::Refused { at },
        sqlx::Error::Io(io) => ConnectError::Unreachable { at, reason: io.to_string() },
        sqlx::Error::Tls(_) => ConnectError::Tls { at },
        other => return StoreError::from_sqlx("connect", other),
    };
    StoreError::Connect(e)
}

/// A failed SQLite open, in words: SQLite says only "unable to open database file" (code
/// 14), so the path is examined to name the cause.
fn sqlite_connect_error(file: &std::path::Path, err: sqlx::Error) -> StoreError {
    let code = match &err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()).unwrap_or_default(),
        _ => return StoreError::from_sqlx("connect", err),
    };
    let shown = file.display().to_string();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let e = if code != "14" {
        ConnectError::SqliteOther { file: shown, code }
    } else if !dir.exists() {
        ConnectError::SqliteDirMissing { file: shown, dir: dir.display().to_string() }
    } else if !dir.is_dir() {
        ConnectError::SqliteNotADirectory { file: shown, dir: dir.display().to_string() }
    } else if file.exists() {
        match std::fs::OpenOptions::new().read(true).write(true).open(file) {
            Err(e) => ConnectError::SqliteNotWritable { file: shown, what: "the file".into(), reason: e.to_string() },
            Ok(_) => ConnectError::SqliteOther { file: shown, code },
        }
    } else {
        // Only on this failure path: can this user create a file in the directory at all?
        let probe = dir.join(format!(".sealgate-probe-{}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
            Err(e) => ConnectError::SqliteNotWritable {
                file: shown,
                what: format!("directory {}", dir.display()),
                reason: e.to_string(),
            },
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                ConnectError::SqliteMissing { file: shown }
            }
        }
    };
    StoreError::Connect(e)
}
