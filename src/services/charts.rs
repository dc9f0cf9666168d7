//! The console's charts: figures aggregated in the database, bucketed by
//! minute, hour or day with one `GROUP BY`, so a chart over a day of a busy
//! hub reads a few hundred rows, never the raw logs. The same SQL runs on
//! SQLite and PostgreSQL; only the expression that turns a timestamp into
//! Unix seconds differs.
//!
//! Buckets are aligned on the Unix epoch (so on UTC days) and the last one
//! is the bucket holding now, still filling; buckets without rows are left
//! out.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement, Value};

use entity::endpoint_usage;

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};

pub mod rollup;

/// The most buckets one chart asks for: a day of minutes.
pub const MAX_BUCKETS: u32 = 1440;

/// The most months [`endpoint_months`] goes back.
pub const MAX_MONTHS: u32 = 24;

/// How wide one bucket of a chart is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
        }
    }
}

/// The window of a chart: `count` buckets of `bucket`, the last one holding
/// `now`. Returns the start of the first bucket.
fn window_start(bucket: Bucket, count: u32, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if !(1..=MAX_BUCKETS).contains(&count) {
        return Err(Error::invalid_field("buckets", format!("Must be between 1 and {MAX_BUCKETS}")));
    }
    let w = bucket.seconds();
    let first = now.timestamp().div_euclid(w) * w - (count as i64 - 1) * w;
    DateTime::from_timestamp(first, 0).ok_or_else(|| Error::internal("chart window out of range"))
}

/// SQL for the Unix second of the start of the `bucket` holding `column`.
fn bucket_sql(backend: DbBackend, column: &str, bucket: Bucket) -> String {
    let w = bucket.seconds();
    match backend {
        // `date_bin` (PostgreSQL 14+) bins timestamps natively; the same
        // arithmetic on `EXTRACT(EPOCH …)` is numeric and several times slower.
        DbBackend::Postgres => {
            format!(
                "CAST(EXTRACT(EPOCH FROM date_bin(INTERVAL '{w} seconds', {column}, TIMESTAMPTZ 'epoch')) AS BIGINT)"
            )
        }
        // Timestamps are stored as RFC 3339 text.
        _ => format!("((CAST(strftime('%s', {column}) AS INTEGER) / {w}) * {w})"),
    }
}

/// A statement with `?` placeholders, numbered for PostgreSQL.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn start_of(seconds: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| Error::internal("bucket out of range"))
}

/// One bucket of webhook delivery attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryBucket {
    pub start: DateTime<Utc>,
    /// Attempts the receiver answered with 2xx.
    pub succeeded: i64,
    /// Attempts that failed (an error status, a timeout, unreachable).
    pub failed: i64,
    /// Median response time (nearest rank), in milliseconds.
    pub p50_ms: i64,
    /// 99th percentile response time (nearest rank), in milliseconds.
    pub p99_ms: i64,
}

/// Delivery attempts of the caller's workspace (of one webhook, when
/// given) per bucket over the last `count` buckets, with their median and
/// 99th percentile response times (owner only, like the delivery logs).
///
/// Percentiles are nearest-rank: the value at rank ⌈p·n⌉ of the bucket's
/// `n` attempts in response-time order, found in the database:
/// `percentile_disc` on PostgreSQL, a window function on SQLite.
///
/// Closed buckets come from the rollups kept by the `charts.rollup` job
/// (the same figures, computed once; see [`rollup`]), the rest from the
/// attempt log itself: a day of a busy hub is a few dozen rollup rows and
/// the last few minutes of attempts.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    p: &Principal,
    webhook_id: Option<&str>,
    bucket: Bucket,
    count: u32,
) -> Result<Vec<DeliveryBucket>> {
    p.require(Scope::Read)?.require_owner()?;
    // An empty id would read the workspace's own rollup rows (see
    // `rollup::WHOLE_WORKSPACE`).
    if webhook_id == Some(rollup::WHOLE_WORKSPACE) {
        return Err(Error::invalid_field("webhookId", "Must not be empty"));
    }
    let since = window_start(bucket, count, Utc::now())?;
    let backend = db.get_database_backend();
    // Rolled up: [since, mark); from the log: [max(since, mark), now].
    let mark = rollup::mark(db, bucket).await?.unwrap_or(i64::MIN).max(since.timestamp());
    let mut out = Vec::new();
    if mark > since.timestamp() {
        let sql = "SELECT bucket, succeeded, failed, p50_ms AS p50, p99_ms AS p99 FROM delivery_rollup \
                   WHERE workspace_id = ? AND webhook_id = ? AND width = ? AND bucket >= ? AND bucket < ? \
                   ORDER BY bucket";
        let values: Vec<Value> = vec![
            p.workspace_id.clone().into(),
            webhook_id.unwrap_or(rollup::WHOLE_WORKSPACE).to_string().into(),
            bucket.seconds().into(),
            since.timestamp().into(),
            mark.into(),
        ];
        out = delivery_buckets(db.query_all(statement(backend, sql, values)).await?)?;
    }
    let b = bucket_sql(backend, "created_at", bucket);
    let mut values: Vec<Value> = vec![p.workspace_id.clone().into(), start_of(mark)?.into()];
    let only_webhook = match webhook_id {
        Some(w) => {
            values.push(w.to_string().into());
            " AND webhook_id = ?"
        }
        None => "",
    };
    let filter = format!("workspace_id = ? AND created_at >= ?{only_webhook}");
    let sql = format!("{} ORDER BY bucket", attempts_sql(backend, &b, "", "", &filter));
    out.extend(delivery_buckets(db.query_all(statement(backend, &sql, values)).await?)?);
    Ok(out)
}

fn delivery_buckets(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<DeliveryBucket>> {
    rows.iter()
        .map(|r| {
            Ok(DeliveryBucket {
                start: start_of(r.try_get("", "bucket")?)?,
                succeeded: r.try_get("", "succeeded")?,
                failed: r.try_get("", "failed")?,
                p50_ms: r.try_get("", "p50")?,
                p99_ms: r.try_get("", "p99")?,
            })
        })
        .collect()
}

/// The attempts matching `filter` per `bucket` (SQL `b`) and per the
/// columns in `group` (each followed by ", "), as columns `select` (the
/// same keys, possibly renamed or constant), `bucket`, `succeeded`,
/// `failed`, `p50` and `p99`. PostgreSQL has an ordered-set aggregate for
/// the nearest rank (`percentile_disc(p)` is rank ⌈p·n⌉), so it is one
/// aggregate per group, no window over every row; SQLite has none, so the
/// ranks come from a window function.
fn attempts_sql(backend: DbBackend, b: &str, select: &str, group: &str, filter: &str) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "SELECT {select}{b} AS bucket, \
                    COUNT(*) FILTER (WHERE success) AS succeeded, \
                    COUNT(*) FILTER (WHERE NOT success) AS failed, \
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY response_time_ms) AS p50, \
                    percentile_disc(0.99) WITHIN GROUP (ORDER BY response_time_ms) AS p99 \
             FROM delivery_attempt WHERE {filter} \
             GROUP BY {group}bucket"
        ),
        _ => format!(
            "SELECT {select}bucket, \
                    SUM(CASE WHEN success THEN 1 ELSE 0 END) AS succeeded, \
                    SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failed, \
                    MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN response_time_ms END) AS p50, \
                    MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN response_time_ms END) AS p99 \
             FROM (SELECT {group}{b} AS bucket, success, response_time_ms, \
                          ROW_NUMBER() OVER (PARTITION BY {group}{b} ORDER BY response_time_ms) AS rn, \
                          COUNT(*) OVER (PARTITION BY {group}{b}) AS n \
                   FROM delivery_attempt WHERE {filter}) a \
             GROUP BY {group}bucket"
        ),
    }
}

/// One bucket of calls made through a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallBucket {
    pub start: DateTime<Utc>,
    /// Every call made in the bucket, queued ones included.
    pub calls: i64,
    /// Of those, the ones the provider answered with 2xx.
    pub succeeded: i64,
    /// Of those, the ones that failed.
    pub failed: i64,
}

/// Calls made through connection `connection_id` of the caller's
/// workspace per bucket over the last `count` buckets (the connection's
/// figures are readable with `READ`, like its stats).
pub async fn connection_calls(
    db: &impl ConnectionTrait,
    p: &Principal,
    connection_id: &str,
    bucket: Bucket,
    count: u32,
) -> Result<Vec<CallBucket>> {
    p.require(Scope::Read)?;
    let since = window_start(bucket, count, Utc::now())?;
    let backend = db.get_database_backend();
    let b = bucket_sql(backend, "created_at", bucket);
    let values: Vec<Value> = vec![connection_id.to_string().into(), p.workspace_id.clone().into(), since.into()];
    let sql = format!(
        "SELECT {b} AS bucket, COUNT(*) AS calls, \
                SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS succeeded, \
                SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed \
         FROM connection_call \
         WHERE connection_id = ? AND workspace_id = ? AND created_at >= ? \
         GROUP BY {b} ORDER BY bucket"
    );
    let rows = db.query_all(statement(backend, &sql, values)).await?;
    rows.iter()
        .map(|r| {
            Ok(CallBucket {
                start: start_of(r.try_get("", "bucket")?)?,
                calls: r.try_get("", "calls")?,
                succeeded: r.try_get("", "succeeded")?,
                failed: r.try_get("", "failed")?,
            })
        })
        .collect()
}

/// Requests counted against data endpoint `endpoint_id` per calendar month
/// (UTC) over the last `months` months, this one included, oldest first;
/// months without requests are left out. The caller has already read the
/// endpoint (the figures are stored per month: `endpoint_usage`).
pub async fn endpoint_months(db: &impl ConnectionTrait, endpoint_id: &str, months: u32) -> Result<Vec<(String, i64)>> {
    if !(1..=MAX_MONTHS).contains(&months) {
        return Err(Error::invalid_field("months", format!("Must be between 1 and {MAX_MONTHS}")));
    }
    let first = first_month(Utc::now(), months);
    Ok(endpoint_usage::Entity::find()
        .filter(endpoint_usage::Column::EndpointId.eq(endpoint_id))
        .filter(endpoint_usage::Column::Month.gte(first))
        .order_by_asc(endpoint_usage::Column::Month)
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.month, u.count))
        .collect())
}

/// `YYYY-MM` of the month `months - 1` months before `now`'s.
fn first_month(now: DateTime<Utc>, months: u32) -> String {
    use chrono::Datelike;
    let index = now.year() * 12 + now.month0() as i32 - (months as i32 - 1);
    format!("{:04}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_end_with_the_bucket_holding_now() {
        let now = at("2026-12-04T17:12:59.5Z");
        assert_eq!(window_start(Bucket::Minute, 1, now).unwrap(), at("2026-12-04T17:12:00Z"));
        assert_eq!(window_start(Bucket::Minute, 60, now).unwrap(), at("2026-12-04T16:13:00Z"));
        assert_eq!(window_start(Bucket::Hour, 24, now).unwrap(), at("2026-12-03T18:00:00Z"));
        assert_eq!(window_start(Bucket::Day, 7, now).unwrap(), at("2026-11-28T00:00:00Z"));
        assert!(window_start(Bucket::Minute, 0, now).is_err());
        assert!(window_start(Bucket::Minute, MAX_BUCKETS + 1, now).is_err());
    }

    #[test]
    fn months_count_back_across_years() {
        let now = at("2026-02-10T00:00:00Z");
        assert_eq!(first_month(now, 1), "2026-02");
        assert_eq!(first_month(now, 2), "2026-01");
        assert_eq!(first_month(now, 3), "2025-12");
        assert_eq!(first_month(now, 14), "2025-01");
        assert_eq!(first_month(now, 24), "2024-03");
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let s = statement(DbBackend::Postgres, "a = ? AND b = ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "a = $1 AND b = $2");
        let s = statement(DbBackend::Sqlite, "a = ? AND b = ?", vec![1.into(), 2.into()]);
        assert_eq!(s.sql, "a = ? AND b = ?");
    }
}
