//! Connecting to the database (SQLite in WAL mode, or PostgreSQL) and
//! applying migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::Config;
use crate::error::Result;

/// The database pools of a process.
pub struct Pools {
    /// For reads.
    pub readers: DatabaseConnection,
    /// For writes and every transaction.
    pub writer: DatabaseConnection,
    /// For bookkeeping writes (see `AppState::bookkeeping`).
    pub bookkeeping: DatabaseConnection,
}

/// Opens the pools. SQLite allows one writer at a time and a transaction
/// that reads before it writes fails outright (`SQLITE_BUSY_SNAPSHOT`) if
/// another connection committed in between, so on SQLite every write goes
/// through a one-connection writer pool (bookkeeping included) while reads
/// use the others (WAL lets them run alongside). On PostgreSQL readers and
/// writer are one pool, and bookkeeping has a small pool of its own whose
/// sessions commit without waiting for the WAL to reach the disk
/// (`synchronous_commit = off`), so a claim or a completion is one
/// statement instead of a transaction that sets it: four round trips
/// become one.
pub async fn connect(cfg: &Config) -> Result<Pools> {
    let readers = open(cfg, cfg.database_max_connections, false).await?;
    if cfg.is_postgres() {
        let bookkeeping = open(cfg, cfg.bookkeeping_connections(), true).await?;
        return Ok(Pools { writer: readers.clone(), readers, bookkeeping });
    }
    let writer = open(cfg, 1, false).await?;
    Ok(Pools { readers, bookkeeping: writer.clone(), writer })
}

/// Opens one pool. SQLite gets WAL, `synchronous=NORMAL`, foreign keys and a
/// busy timeout so a second writer (another process) waits instead of failing.
/// A `relaxed` PostgreSQL pool's sessions run with `synchronous_commit = off`.
///
/// Connections are not pinged before each use (sqlx's default): that ping
/// is a round trip per statement, measured at 6% of the server's CPU in
/// `bench ingest`. A connection the database dropped fails its next
/// statement instead (that request gets a 500, a job is retried) and is
/// then closed; idle ones are recycled after ten minutes anyway.
async fn open(cfg: &Config, max_connections: u32, relaxed: bool) -> Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        // Each statement with its time, only when asked for
        // (`SWITCHYARD_LOG=info,sqlx::query=info`): off, sqlx does not even
        // build the log line.
        .sqlx_logging(tracing::enabled!(target: "sqlx::query", tracing::Level::INFO));
    if relaxed {
        opts.map_sqlx_postgres_opts(|o| o.options([("synchronous_commit", "off")]));
    }
    if !cfg.is_postgres() {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    Ok(Database::connect(opts).await?)
}

/// Applies every pending migration, on a connection of its own that is
/// closed afterwards: what the migrations prepared and read (statements,
/// pages, on SQLite a few MiB of C heap) goes with it instead of staying on
/// a pool's connection for the life of the process. On PostgreSQL,
/// processes starting together take turns through an advisory lock held
/// on that connection, so two never run the same migration at once.
pub async fn migrate(cfg: &Config) -> Result<()> {
    let db = open(cfg, 1, false).await?;
    let result = match cfg.is_postgres() {
        true => migrate_locked(&db).await,
        false => Migrator::up(&db, None).await.map_err(Into::into),
    };
    let closed = db.close().await;
    result?;
    Ok(closed?)
}

/// Migrates while holding the migration lock (PostgreSQL).
async fn migrate_locked(db: &DatabaseConnection) -> Result<()> {
    db.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).await?;
    let result = Migrator::up(db, None).await;
    db.execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).await?;
    Ok(result?)
}

/// Gives back memory start-up used and an idle server does not need: on
/// SQLite the page cache start-up's queries filled (`PRAGMA shrink_memory`,
/// on each pool's idle connection), then the pages SQLite's C heap holds
/// free (glibc keeps freed memory in its per-thread arenas until
/// `malloc_trim`), then what Rust code freed (mimalloc gives freed pages
/// back to the system only a second after, and only when it next
/// allocates: `mi_collect` does it now). Pages come back as queries need them.
pub async fn release_startup_memory(db: &DatabaseConnection, writer: &DatabaseConnection) {
    if db.get_database_backend() == DbBackend::Sqlite {
        for pool in [writer, db] {
            if let Err(e) = pool.execute_unprepared("PRAGMA shrink_memory").await {
                tracing::debug!(error = %e, "PRAGMA shrink_memory failed");
            }
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
    // SAFETY: collects this thread's heap and the abandoned ones; no
    // pointer is handed over, and any thread may call it.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// Advisory lock key for migrations (any fixed number; "SWYD" in ASCII).
const MIGRATION_LOCK: i64 = 0x5357_5944;

/// `col = value`, for a filter beside a list of ids, worded so that no
/// index can serve it: the ids are looked up by the primary key and the
/// rows found are checked. Each database would otherwise guess from what
/// it knows of the column and may read every row with that value instead
/// (every queued job, for a claim of the job ledger):
/// - SQLite, without statistics, guesses that an equality on an indexed
///   column selects about ten rows, fewer than a list of 50 ids; worded
///   `+"table"."col" = ?`.
/// - PostgreSQL plans from its statistics, which for a job table that
///   filled up since its last `ANALYZE` (a new database, a burst) say a
///   handful of queued jobs: `auto_explain` showed claims reading
///   `ix_job_state_visible` for both states (a `BitmapOr`) under an
///   end-to-end delivery burst. Worded `("table"."col" || '') = $n`.
///
/// Only for text columns.
pub fn eq_beside_ids<C, V>(db: &impl ConnectionTrait, col: C, value: V) -> sea_orm::sea_query::SimpleExpr
where
    C: sea_orm::ColumnTrait,
    V: Into<sea_orm::Value>,
{
    let (table, column) = (col.entity_name().to_string(), col.as_str().to_string());
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(r#"("{table}"."{column}" || '') = $1"#),
        _ => format!(r#"+"{table}"."{column}" = ?"#),
    };
    sea_orm::sea_query::Expr::cust_with_values(sql, [value.into()])
}

/// Column values for PostgreSQL's `unnest`, one `text[]` parameter per
/// column, for the inserts that run once per accepted record or event: the
/// arrays travel in binary, so the server reads each value as it is, where
/// a JSON array of rows (`json_to_recordset`) was lexed whole, split into a
/// hash table per row and each JSON field lexed again (2.7 µs a row against
/// 0.7 for 45 rows, `psql`, PostgreSQL 15); the statement's text is the
/// same for any number of rows, so it is parsed and planned once per
/// connection. The arrays bind no NULL (sea-query's binder takes no null
/// element): a nullable column is sent as `""` for none and read back with
/// `NULLIF(v.column, '')`, for columns that never hold an empty text.
pub struct Columns(Vec<Vec<String>>);

impl Columns {
    pub fn new(width: usize, rows: usize) -> Self {
        Self((0..width).map(|_| Vec::with_capacity(rows)).collect())
    }

    /// Appends a value to column `i`.
    pub fn push(&mut self, i: usize, value: impl Into<String>) {
        self.0[i].push(value.into());
    }

    /// Appends a value or none (`""`, see [`Columns`]) to column `i`.
    pub fn push_opt(&mut self, i: usize, value: Option<impl Into<String>>) {
        let value: Option<String> = value.map(Into::into);
        debug_assert!(value.as_ref().is_none_or(|v| !v.is_empty()), "an empty text would be read back as none");
        self.0[i].push(value.unwrap_or_default());
    }

    /// The columns, in order, as `text[]` parameters.
    pub fn into_values(self) -> impl Iterator<Item = sea_orm::Value> {
        self.0.into_iter().map(sea_orm::Value::from)
    }
}

/// A multi-row `INSERT` written directly (quoted names, one placeholder per
/// value), for the inserts that run once per accepted record: building the
/// same statement with sea-query cost more than binding and running it on
/// SQLite (`bench ingest`, callgrind). `values` holds `columns.len()`
/// values per row, row after row. A column named in `json` takes its value
/// as JSON text (cast on PostgreSQL; SQLite keeps JSON as text anyway).
pub fn insert_rows(
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    json: &[&str],
    values: Vec<sea_orm::Value>,
) -> Result<sea_orm::Statement> {
    use std::fmt::Write as _;
    let width = columns.len();
    if width == 0 || values.is_empty() || !values.len().is_multiple_of(width) {
        return Err(crate::Error::internal(format!("{} values do not fill rows of {width}", values.len())));
    }
    let mut sql = String::with_capacity(64 + 16 * columns.len() + 5 * values.len());
    let _ = write!(sql, "INSERT INTO \"{table}\" (");
    for (i, c) in columns.iter().enumerate() {
        sql.push_str(if i == 0 { "\"" } else { ", \"" });
        sql.push_str(c);
        sql.push('"');
    }
    sql.push_str(") VALUES ");
    let cast: Vec<bool> = columns.iter().map(|c| backend == DbBackend::Postgres && json.contains(c)).collect();
    for n in 0..values.len() {
        sql.push_str(match (n % width, n) {
            (0, 0) => "(",
            (0, _) => "), (",
            _ => ", ",
        });
        match backend {
            DbBackend::Postgres => {
                let _ = write!(sql, "${}", n + 1);
            }
            _ => sql.push('?'),
        }
        if cast[n % width] {
            sql.push_str("::json");
        }
    }
    sql.push(')');
    Ok(sea_orm::Statement::from_sql_and_values(backend, sql, values))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait, Statement};

    use super::*;
    use entity::job;

    /// What SQLite's planner does with `id IN (50 ids) AND <state filter>`
    /// on the real `job` table: the index details of its plan.
    async fn plan(db: &DatabaseConnection, state: sea_orm::sea_query::SimpleExpr) -> Vec<String> {
        let ids: Vec<String> = (0..50).map(|i| format!("job_{i:026}")).collect();
        let q = job::Entity::find().filter(job::Column::Id.is_in(ids)).filter(state).build(DbBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", q.sql),
            q.values.map(|v| v.0).unwrap_or_default(),
        );
        let rows = db.query_all(explain).await.expect("plan");
        rows.iter().map(|r| r.try_get::<String>("", "detail").expect("detail")).collect()
    }

    #[tokio::test]
    async fn a_state_beside_ids_is_looked_up_by_id_not_read_from_the_state_index() {
        let db = Database::connect(ConnectOptions::new("sqlite::memory:").max_connections(1).to_owned())
            .await
            .expect("sqlite");
        Migrator::up(&db, None).await.expect("migrations");
        // The trap: a plain equality sends SQLite to the state index, that
        // is through every job in that state.
        let plain = plan(&db, job::Column::State.eq("queued")).await;
        assert!(plain.iter().any(|d| d.contains("ix_job_")), "{plain:?}");
        let worded = plan(&db, eq_beside_ids(&db, job::Column::State, "queued")).await;
        assert!(worded.iter().any(|d| d.contains("sqlite_autoindex_job_1 (id=?)")), "{worded:?}");
        assert!(!worded.iter().any(|d| d.contains("ix_job_")), "{worded:?}");
    }

    #[test]
    fn a_multi_row_insert_has_a_placeholder_per_value_in_each_dialect() {
        let values = || (1..=4).map(sea_orm::Value::from).collect::<Vec<_>>();
        let pg = insert_rows(DbBackend::Postgres, "t", &["a", "b"], &["b"], values()).unwrap();
        assert_eq!(pg.sql, r#"INSERT INTO "t" ("a", "b") VALUES ($1, $2::json), ($3, $4::json)"#);
        assert_eq!(pg.values.map(|v| v.0.len()), Some(4));
        let lite = insert_rows(DbBackend::Sqlite, "t", &["a", "b"], &["b"], values()).unwrap();
        assert_eq!(lite.sql, r#"INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?)"#);
        assert!(insert_rows(DbBackend::Sqlite, "t", &["a", "b"], &[], values()[..3].to_vec()).is_err());
    }
}
