//! The database handle every service uses: SQLite files by default, PostgreSQL when given a URL, one pool, the
//! service's migrations, and a count of the SQL statements it runs (the N+1 shows up there first).
//!
//! Every statement a service runs goes through [`Db`], so it is the one place that counts them and traces
//! them: a client span each, with `db.system.name`, `db.namespace`, `db.query.text` (placeholders, never
//! values), `db.operation.name`, `db.collection.name` and the calling line as `code.file.path` and
//! `code.line.number`. Queries are built with [`query`] and bound parameters (`$1`, `$2`, … work on both
//! databases); no value is ever formatted into SQL.

use std::borrow::Cow;
use std::future::Future;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, SqlSafeStr as _};
use tracing::field::Empty;
use tracing::instrument::Instrument as _;

use crate::telemetry;

/// A statement on the shop's databases with its bound parameters, built with [`query`] and `.bind(...)`.
/// Keeps its text for its span.
pub struct Query {
    sql: Cow<'static, str>,
    inner: sqlx::query::Query<'static, Any, AnyArguments>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Query").field(&self.sql).finish()
    }
}

/// A statement written in the source.
pub fn query(sql: &'static str) -> Query {
    Query {
        sql: Cow::Borrowed(sql),
        inner: sqlx::query(sql),
    }
}

/// A statement assembled at run time from fixed pieces of SQL (never from input: values are bound).
pub fn query_assembled(sql: String) -> Query {
    Query {
        inner: sqlx::query(AssertSqlSafe(sql.clone())),
        sql: Cow::Owned(sql),
    }
}

impl Query {
    /// Binds the next `$n` parameter.
    pub fn bind<'t, T: sqlx::Encode<'t, Any> + sqlx::Type<Any>>(mut self, value: T) -> Query {
        self.inner = self.inner.bind(value);
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The OpenTelemetry `db.system.name` of the backend.
    pub fn system_name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// Where a service's data lives.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// `sqlite:///path/to/file.db?mode=rwc` or `postgres://user:pass@host/db`.
    pub url: String,
    /// PostgreSQL only: the schema that holds this service's tables, so the three services (and parallel tests)
    /// share one database without touching each other's tables or migrations.
    pub schema: Option<String>,
    pub max_connections: u32,
}

impl DbOptions {
    /// The database of service `slug`: `<data_dir>/<slug>.db` on SQLite, or schema `<slug>` of the PostgreSQL
    /// database at `database_url`.
    pub fn for_service(database_url: Option<&str>, data_dir: &Path, slug: &str) -> DbOptions {
        match database_url {
            Some(url) if !url.starts_with("sqlite:") => DbOptions {
                url: url.to_owned(),
                schema: Some(slug.replace('-', "_")),
                max_connections: 10,
            },
            // A SQLite URL names a directory: each service still needs a file (and migrations table) of its own.
            Some(url) => {
                let dir = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let dir = dir.split('?').next().unwrap_or(dir);
                DbOptions::sqlite_file(&Path::new(dir).join(format!("{slug}.db")))
            }
            None => DbOptions::sqlite_file(&data_dir.join(format!("{slug}.db"))),
        }
    }

    /// A SQLite file, created on first use.
    pub fn sqlite_file(path: &Path) -> DbOptions {
        DbOptions {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            schema: None,
            max_connections: 10,
        }
    }

    pub fn backend(&self) -> Result<Backend, DbError> {
        if self.url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if self.url.starts_with("postgres:") || self.url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl(redact(&self.url)))
        }
    }
}

/// Setting up a database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("invalid schema name {0:?}: use lowercase letters, digits and underscores")]
    InvalidSchema(String),
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("connecting to {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// A service's migrations, numbered, in both dialects. An applied migration is never edited: add a new one.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static [(i64, &'static str, &'static str)],
    pub postgres: &'static [(i64, &'static str, &'static str)],
}

/// A pool on the service's database that counts and traces the statements it runs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// `db.namespace`: the SQLite file's name, or `database|schema` on PostgreSQL.
    namespace: Arc<str>,
    /// `server.address` and `server.port` of a PostgreSQL server.
    server: Option<(Arc<str>, u16)>,
    statements: Arc<AtomicU64>,
}

impl Db {
    /// Connects (creating the SQLite file and the PostgreSQL schema when missing) and runs `migrations`.
    pub async fn open(options: &DbOptions, migrations: &Migrations) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        telemetry::outside_requests();
        let backend = options.backend()?;
        let connect_err = |source| DbError::Connect {
            url: redact(&options.url),
            source,
        };
        let pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                if let Some(dir) = sqlite_path(&options.url)
                    .and_then(|p| p.parent().map(Path::to_owned))
                    .filter(|dir| !dir.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(&dir).map_err(|source| DbError::DataDir {
                        path: dir.clone(),
                        source,
                    })?;
                }
                pool_options
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(&options.url)
                    .await
                    .map_err(connect_err)?
            }
            Backend::Postgres => {
                let schema = options
                    .schema
                    .clone()
                    .unwrap_or_else(|| "public".to_owned());
                if schema.is_empty()
                    || !schema
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(DbError::InvalidSchema(schema));
                }
                let set_path: Arc<str> = format!("SET search_path TO {schema}").into();
                let pool = pool_options
                    .after_connect(move |conn, _| {
                        let set_path = set_path.clone();
                        Box::pin(async move {
                            conn.execute(AssertSqlSafe(set_path.to_string())).await?;
                            Ok(())
                        })
                    })
                    .connect(&options.url)
                    .await
                    .map_err(connect_err)?;
                pool.execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .await?;
                pool
            }
        };
        let (namespace, server) = describe(&options.url, options.schema.as_deref());
        let db = Db {
            pool,
            backend,
            namespace: namespace.into(),
            server,
            statements: Arc::new(AtomicU64::new(0)),
        };
        db.migrate(migrations).await?;
        Ok(db)
    }

    async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        let list = match self.backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        let migrator = Migrator::with_migrations(
            list.iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        AssertSqlSafe(sql).into_sql_str(),
                        false,
                    )
                })
                .collect(),
        );
        // Each service has its own SQLite file or PostgreSQL schema (see `for_service`), so the default
        // migrations table is its own.
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How many statements this handle has run since it was opened.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// `SELECT` rows.
    #[track_caller]
    pub fn fetch_all(
        &self,
        query: Query,
    ) -> impl Future<Output = Result<Vec<AnyRow>, sqlx::Error>> + Send + '_ {
        let caller = Location::caller();
        let span = self.span(&query.sql, caller);
        self.traced(span, caller, query.inner.fetch_all(&self.pool))
    }

    /// The one row a statement answers; an error when there is none.
    #[track_caller]
    pub fn fetch_one(
        &self,
        query: Query,
    ) -> impl Future<Output = Result<AnyRow, sqlx::Error>> + Send + '_ {
        let caller = Location::caller();
        let span = self.span(&query.sql, caller);
        self.traced(span, caller, query.inner.fetch_one(&self.pool))
    }

    /// The row a statement answers, if any.
    #[track_caller]
    pub fn fetch_optional(
        &self,
        query: Query,
    ) -> impl Future<Output = Result<Option<AnyRow>, sqlx::Error>> + Send + '_ {
        let caller = Location::caller();
        let span = self.span(&query.sql, caller);
        self.traced(span, caller, query.inner.fetch_optional(&self.pool))
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    #[track_caller]
    pub fn execute(
        &self,
        query: Query,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_ {
        let caller = Location::caller();
        let span = self.span(&query.sql, caller);
        let run = query.inner.execute(&self.pool);
        self.traced(span, caller, async move { Ok(run.await?.rows_affected()) })
    }

    /// Runs the statements in one transaction (seeding, multi-row writes), each with a span of its own.
    #[track_caller]
    pub fn execute_all(
        &self,
        queries: impl IntoIterator<Item = Query, IntoIter: Send> + Send + 'static,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + '_ {
        let caller = Location::caller();
        async move {
            let mut tx = telemetry::outside(self.pool.begin()).await?;
            let mut result = Ok(());
            for query in queries {
                let span = self.span(&query.sql, caller);
                if let Err(err) = self
                    .traced(span, caller, query.inner.execute(&mut *tx))
                    .await
                {
                    result = Err(err);
                    break;
                }
            }
            match result {
                Ok(()) => telemetry::outside(tx.commit()).await,
                Err(err) => {
                    // Dropping the transaction rolls it back through the worker, which takes the current span
                    // along: let that be none of ours.
                    tracing::dispatcher::with_default(&telemetry::outside_requests(), || drop(tx));
                    Err(err)
                }
            }
        }
    }

    /// A client span for `sql`, run from `caller`; disabled (and nothing worked out) when the service makes
    /// no spans.
    fn span(&self, sql: &str, caller: &'static Location<'static>) -> tracing::Span {
        let span = tracing::info_span!(
            target: "shop_runtime::db",
            "query",
            otel.name = Empty,
            otel.kind = "client",
            db.system.name = self.backend.system_name(),
            db.namespace = &*self.namespace,
            db.query.text = sql,
            db.operation.name = Empty,
            db.collection.name = Empty,
            server.address = self.server.as_ref().map(|(host, _)| &**host),
            server.port = self.server.as_ref().map(|(_, port)| *port),
            code.file.path = caller.file(),
            // An i64, so that it is exported as an int (tracing-opentelemetry records a u32 as text).
            code.line.number = i64::from(caller.line()),
            error.type = Empty,
        );
        if !span.is_disabled() {
            let (operation, collection) = telemetry::summarize_sql(sql);
            let name = match (&operation, &collection) {
                (Some(operation), Some(collection)) => format!("{operation} {collection}"),
                (Some(operation), None) => operation.clone(),
                _ => self.backend.system_name().to_owned(),
            };
            span.record("otel.name", name);
            span.record("db.operation.name", operation);
            span.record("db.collection.name", collection);
        }
        span
    }

    /// Counts the statement and runs it in `span`, recording a failure on it.
    async fn traced<T>(
        &self,
        span: tracing::Span,
        caller: &'static Location<'static>,
        run: impl Future<Output = Result<T, sqlx::Error>> + Send,
    ) -> Result<T, sqlx::Error> {
        self.count();
        // sqlx's SQLite workers take `Span::current()` along to their own threads: let them see none of ours.
        let result = telemetry::outside(run).instrument(span.clone()).await;
        if let Err(err) = &result {
            telemetry::record_error(&span, "sqlx::Error", &err.to_string(), caller);
        }
        result
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }
}

/// `db.namespace` and the server of a database URL: the SQLite file's name; `database|schema` and the host
/// and port on PostgreSQL.
fn describe(url: &str, schema: Option<&str>) -> (String, Option<(Arc<str>, u16)>) {
    if let Some(path) = sqlite_path(url) {
        let name = path
            .file_name()
            .map_or_else(|| "sqlite".to_owned(), |n| n.to_string_lossy().into_owned());
        return (name, None);
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split('?').next().unwrap_or(rest);
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host_port.starts_with('[') => {
            (host, port.parse().unwrap_or(5432))
        }
        _ => (host_port, 5432),
    };
    let host = if host.is_empty() { "localhost" } else { host };
    let database = if database.is_empty() {
        "postgres"
    } else {
        database
    };
    let namespace = match schema {
        Some(schema) => format!("{database}|{schema}"),
        None => database.to_owned(),
    };
    (namespace, Some((Arc::from(host), port)))
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://lab:secret@127.0.0.1:5432/lab"),
            "postgres://lab:***@127.0.0.1:5432/lab"
        );
        assert_eq!(
            redact("sqlite:///tmp/x.db?mode=rwc"),
            "sqlite:///tmp/x.db?mode=rwc"
        );
    }

    #[test]
    fn spans_name_the_database_and_its_server() {
        assert_eq!(
            describe("sqlite:///data/discounts-service.db?mode=rwc", None),
            ("discounts-service.db".to_owned(), None)
        );
        assert_eq!(
            describe(
                "postgres://lab:secret@127.0.0.1:5433/shop?sslmode=disable",
                Some("discounts_service")
            ),
            (
                "shop|discounts_service".to_owned(),
                Some((Arc::from("127.0.0.1"), 5433))
            )
        );
        assert_eq!(
            describe("postgresql://localhost", None),
            ("postgres".to_owned(), Some((Arc::from("localhost"), 5432)))
        );
    }

    #[test]
    fn services_get_a_file_or_a_schema_each() {
        let opts = DbOptions::for_service(None, Path::new("/data"), "discounts-service");
        assert_eq!(opts.url, "sqlite:///data/discounts-service.db?mode=rwc");
        assert_eq!(opts.backend().unwrap(), Backend::Sqlite);
        let opts = DbOptions::for_service(
            Some("postgres://u@h/db"),
            Path::new("/data"),
            "discounts-service",
        );
        assert_eq!(opts.schema.as_deref(), Some("discounts_service"));
        assert_eq!(opts.backend().unwrap(), Backend::Postgres);
        assert!(
            DbOptions::for_service(Some("mysql://x"), Path::new("."), "a")
                .backend()
                .is_err()
        );
    }
}
