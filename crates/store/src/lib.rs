//! Trellis persistence: one facade ([`Store`]) over SQLite (embedded default, WAL) and
//! PostgreSQL (several servers sharing one database), with linear, append-only migrations kept
//! per backend and one conformance suite run on every backend.
//!
//! Methods are named `<resource>_<verb>`. Queries are written once, in the portable subset of SQL
//! both backends accept (`$n` placeholders, `RETURNING`), through sqlx's `Any` driver. The few
//! backend-specific statements (job claiming with `FOR UPDATE SKIP LOCKED`, migration locking) are
//! chosen on [`Backend`].

/// `$by_uuid(uuid)` (live rows) and `$get(id)` (rows matching `$id_where`) of one table; with
/// `cached`, through the catalog cache (see the `cache` module).
macro_rules! lookups {
    (cached $by_uuid:ident, $get:ident, $table:literal, $id_where:literal, $row:ident, $ty:ty) => {
        pub async fn $by_uuid(&self, uuid: &str) -> StoreResult<Option<$ty>> {
            self.cached(stringify!($by_uuid), uuid.to_string(), || {
                self.one_row(
                    stringify!($by_uuid),
                    concat!(
                        "SELECT * FROM ",
                        $table,
                        " WHERE uuid = $1 AND removed IS NULL"
                    ),
                    uuid,
                    $row,
                )
            })
            .await
        }
        pub async fn $get(&self, id: i64) -> StoreResult<Option<$ty>> {
            self.cached(stringify!($get), id.to_string(), || {
                self.one_row(
                    stringify!($get),
                    concat!("SELECT * FROM ", $table, " WHERE ", $id_where),
                    id,
                    $row,
                )
            })
            .await
        }
    };
    ($by_uuid:ident, $get:ident, $table:literal, $id_where:literal, $row:ident, $ty:ty) => {
        pub async fn $by_uuid(&self, uuid: &str) -> StoreResult<Option<$ty>> {
            self.one_row(
                stringify!($by_uuid),
                concat!(
                    "SELECT * FROM ",
                    $table,
                    " WHERE uuid = $1 AND removed IS NULL"
                ),
                uuid,
                $row,
            )
            .await
        }
        pub async fn $get(&self, id: i64) -> StoreResult<Option<$ty>> {
            self.one_row(
                stringify!($get),
                concat!("SELECT * FROM ", $table, " WHERE ", $id_where),
                id,
                $row,
            )
            .await
        }
    };
}

mod affinity;
mod cache;
mod details;
mod disk_offerings;
mod events;
mod extension_files;
mod extensions;
mod identity;
mod infra;
mod instances;
mod jobs;
mod limits;
mod migrate;
mod networks;
mod offerings;
mod projects;
mod roles;
mod servers;
mod settings;
mod ssh_keys;
mod tags;
mod tenancy;
mod volumes;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

pub use affinity::{AffinityGroupFilter, AffinityMember};
pub use cache::CacheStats;
pub use details::OwnedDetail;
pub use disk_offerings::DiskOfferingFilter;
pub use events::EventFilter;
pub use extension_files::{ExtensionFile, NewExtensionFile};
pub use extensions::{CustomActionFilter, ExtensionFilter, NewCustomAction, NewExtension};
pub use identity::{IdentityFilter, NewUser};
pub use infra::InfraFilter;
pub use instances::InstanceFilter;
pub use jobs::{JobCompletion, NewJob};
pub use limits::{CountScope, ResourceLimitRow};
pub use offerings::{TemplateFilter, TemplateVisibility};
pub use projects::ProjectFilter;
pub use roles::RoleChanges;
pub use ssh_keys::SshKeyPairFilter;
pub use tags::{tags_condition, TagFilter};
pub use tenancy::UserChanges;
pub use volumes::VolumeFilter;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store failure. Converted into the domain error at the application boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database url {url}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl { url: String },
    #[error("failed to connect to the database")]
    Connect {
        #[source]
        source: sqlx::Error,
    },
    #[error("failed to apply migration {version}")]
    Migrate {
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("database operation {op} failed")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored value of {what} is invalid: {value}")]
    Corrupt { what: &'static str, value: String },
    #[error("the SQLite database {path} is in use by another Trellis server; SQLite serves one server (use PostgreSQL to run several)")]
    InUse { path: String },
    #[error("cannot lock the SQLite database {path}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }

    /// True when the failure is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Query {
                source: sqlx::Error::Database(db),
                ..
            } => db.is_unique_violation(),
            _ => false,
        }
    }
}

impl From<StoreError> for trellis_model::Error {
    fn from(e: StoreError) -> Self {
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        trellis_model::Error::internal(chain)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Paging of list queries: `limit` `None` means unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    pub offset: i64,
    pub limit: Option<i64>,
}

impl Page {
    pub fn all() -> Page {
        Page {
            offset: 0,
            limit: None,
        }
    }
    /// No rows, only the total: for "are there any?" checks.
    pub fn count_only() -> Page {
        Page {
            offset: 0,
            limit: Some(0),
        }
    }
    fn sql(&self) -> String {
        match self.limit {
            Some(l) => format!(" LIMIT {} OFFSET {}", l.max(0), self.offset.max(0)),
            None => String::new(),
        }
    }
}

/// The store facade. Cheap to clone.
///
/// Reads go to `pool`; every statement that writes, and every transaction, goes to `writer`. On
/// SQLite the writer is a pool of exactly one connection, so writers queue in-process (woken in
/// order the moment the connection is free) instead of polling SQLite's file lock through
/// `busy_timeout`'s sleep-and-retry — which, under concurrent load, left the lock idle between
/// retries and capped write throughput. Readers never block writers and vice versa (WAL). On
/// PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    writer: AnyPool,
    backend: Backend,
    catalog: std::sync::Arc<cache::Catalog>,
    /// SQLite: an exclusive lock on `<database>.lock`, held while the store is open. The catalog
    /// cache and the in-process writer queue assume this process is the file's only writer.
    exclusive: std::sync::Arc<std::sync::Mutex<Option<std::fs::File>>>,
}

/// Take the one-server lock of a SQLite database file (`sqlite://PATH[?…]`); `None` for an
/// in-memory database.
fn lock_sqlite(url: &str) -> StoreResult<Option<std::fs::File>> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.contains(":memory:") {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| StoreError::Lock {
            path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: path.to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Lock {
            path: lock_path,
            source,
        }),
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Connect to `url` (`sqlite://path` or `postgres://…`) and apply pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl {
                url: url.to_string(),
            });
        };
        let sqlite = |connections: u32| {
            // Every connection: WAL with NORMAL sync (a killed server loses nothing; a power
            // loss can roll back the last transactions, never break consistency); a 16 MiB page
            // cache and reads through mmap, so a large database is not read back through
            // syscalls page by page; busy_timeout as a backstop for the rare write outside the
            // writer (another process on the same file).
            // No ping before each use: a local file does not drop connections (the ping was
            // 5–19 % of a request's profile).
            AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(60))
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout=10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys=ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA cache_size=-16384")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA mmap_size=268435456")
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
        };
        let options = match backend {
            // A few reader connections run in parallel (WAL); writes have their own connection.
            Backend::Sqlite => sqlite(4),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30)),
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let exclusive = match backend {
            Backend::Sqlite => lock_sqlite(&url)?,
            Backend::Postgres => None,
        };
        let writer = match backend {
            Backend::Sqlite => Some(
                sqlite(1)
                    .connect(&url)
                    .await
                    .map_err(|source| StoreError::Connect { source })?,
            ),
            Backend::Postgres => None,
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect { source })?;
        let writer = writer.unwrap_or_else(|| pool.clone());
        let store = Store {
            pool,
            writer,
            backend,
            // Only where this process is the database's one writer (see the cache module).
            catalog: std::sync::Arc::new(cache::Catalog::new(backend == Backend::Sqlite)),
            exclusive: std::sync::Arc::new(std::sync::Mutex::new(exclusive)),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close all connections.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
        if let Ok(mut f) = self.exclusive.lock() {
            f.take();
        }
    }

    /// The row `sql` (one `$1` parameter, `key`) selects, decoded with `decode`, or `None`.
    pub(crate) async fn one_row<'q, K, T>(
        &self,
        op: &'static str,
        sql: &'q str,
        key: K,
        decode: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> StoreResult<Option<T>>
    where
        K: 'q + Send + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let r = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        r.map(|r| decode(&r))
            .transpose()
            .map_err(StoreError::query(op))
    }

    /// Run one statement as it is: for tests that must put the database into a state the API
    /// cannot (rows an older version left behind). Panics on failure.
    #[doc(hidden)]
    pub async fn testing_execute(&self, sql: &str) {
        sqlx::query(sql)
            .execute(&self.writer)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

fn get_i64(r: &AnyRow, col: &str) -> Result<i64, sqlx::Error> {
    r.try_get::<i64, _>(col)
}
/// The SQL conditions (each starting with ` AND`) of two owner filters on the account column
/// `col`: one of several accounts (`projectid=-1`), and leaving out project-owned rows. Account
/// ids are integers from our own rows, inlined.
pub(crate) fn owner_conditions(
    col: &str,
    account_ids: Option<&[i64]>,
    exclude_projects: bool,
) -> String {
    let mut out = String::new();
    if let Some(ids) = account_ids {
        if ids.is_empty() {
            out.push_str(" AND 1 = 0");
        } else {
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            out.push_str(&format!(" AND {col} IN ({})", ids.join(",")));
        }
    }
    if exclude_projects {
        out.push_str(&format!(
            " AND {col} NOT IN (SELECT account_id FROM projects)"
        ));
    }
    out
}

fn get_opt_i64(r: &AnyRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    r.try_get::<Option<i64>, _>(col)
}
fn get_str(r: &AnyRow, col: &str) -> Result<String, sqlx::Error> {
    r.try_get::<String, _>(col)
}
/// A text column holding a closed set of names, decoded once here: an unknown value is a
/// decode error naming the column and the value, never a string that slips through.
fn get_enum<T>(r: &AnyRow, col: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    let text = get_str(r, col)?;
    parse(&text).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: format!("unknown {col} {text:?}").into(),
    })
}
fn get_opt_str(r: &AnyRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    r.try_get::<Option<String>, _>(col)
}
fn get_bool(r: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(get_i64(r, col)? != 0)
}
fn b2i(b: bool) -> i64 {
    i64::from(b)
}

/// Escape a user keyword for `LIKE` and wrap it in `%`.
fn like_pattern(keyword: &str) -> String {
    let escaped = keyword
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{}%", escaped.to_lowercase())
}

/// Helpers for tests that need a fresh database on every backend.
pub mod testing {
    use crate::{Store, StoreResult};

    /// The PostgreSQL URL tests use, from `TRELLIS_TEST_POSTGRES_URL`.
    pub fn postgres_url() -> Option<String> {
        std::env::var("TRELLIS_TEST_POSTGRES_URL")
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// A fresh, empty PostgreSQL schema of its own on the server at `base_url`, returned as a URL
    /// whose connections use it. Tests running at once never see each other's rows.
    pub async fn isolated_postgres_url(base_url: &str) -> StoreResult<String> {
        sqlx::any::install_default_drivers();
        let schema = format!("t_{}", uuid_simple());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(base_url)
            .await
            .map_err(|source| crate::StoreError::Connect { source })?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .map_err(crate::StoreError::query("create_schema"))?;
        let sep = if base_url.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{base_url}{sep}options=-c%20search_path%3D{schema}"
        ))
    }

    /// Run raw statements on the database at `url`, one after the other: for tests that make the
    /// database itself misbehave (a trigger that refuses a write), never for the code under test.
    pub async fn execute(url: &str, statements: &[&str]) -> StoreResult<()> {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .map_err(|source| crate::StoreError::Connect { source })?;
        for statement in statements {
            sqlx::raw_sql(statement)
                .execute(&mut conn)
                .await
                .map_err(crate::StoreError::query("testing_execute"))?;
        }
        Ok(())
    }

    /// A fresh store on PostgreSQL (isolated schema).
    pub async fn isolated_postgres(base_url: &str) -> StoreResult<Store> {
        Store::open(&isolated_postgres_url(base_url).await?).await
    }

    fn uuid_simple() -> String {
        trellis_model::ids::new_uuid().replace('-', "")
    }
}
