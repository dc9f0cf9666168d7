//! Usage counters of API keys and OAuth apps (and the last use of OAuth
//! authorizations), batched in memory and written every few seconds (and
//! on shutdown), so a request costs no database write. What a key counts
//! against is told by its id's prefix: `ak_` an API key, `app_` an OAuth
//! app, `oaz_` an authorization (last use only).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use entity::{api_key, api_key_usage, oauth_app, oauth_app_usage, oauth_authorization};

use crate::error::Result;

#[derive(Default)]
struct Pending {
    /// key id → what it did since the last flush.
    keys: HashMap<String, KeyUsage>,
}

/// One key's requests since the last flush.
struct KeyUsage {
    /// Requests counted (the sum of `counts`).
    requests: i64,
    /// The latest of them.
    last_used: DateTime<Utc>,
    /// (UTC day, status class) → requests: a handful of entries between
    /// two flushes (five classes a day at most), so a list is cheaper than
    /// a map.
    counts: Vec<((NaiveDate, &'static str), i64)>,
}

impl KeyUsage {
    fn new(at: DateTime<Utc>) -> Self {
        Self { requests: 0, last_used: at, counts: Vec::new() }
    }

    fn add(&mut self, slot: (NaiveDate, &'static str), requests: i64, at: DateTime<Utc>) {
        self.requests += requests;
        self.last_used = self.last_used.max(at);
        match self.counts.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, n)) => *n += requests,
            None => self.counts.push((slot, requests)),
        }
    }
}

#[derive(Default)]
pub struct UsageRecorder {
    pending: Mutex<Pending>,
}

/// `2xx`, `4xx`, … for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl UsageRecorder {
    /// Counts one request by `key_id` that was answered with `status`. On
    /// every request of a counted caller, so it allocates only for a key's
    /// first request since the last flush.
    pub fn record(&self, key_id: &str, status: u16) {
        let now = Utc::now();
        let slot = (now.date_naive(), status_class(status));
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = p.keys.get_mut(key_id) {
            u.add(slot, 1, now);
            return;
        }
        let mut u = KeyUsage::new(now);
        u.add(slot, 1, now);
        p.keys.insert(key_id.to_string(), u);
    }

    /// Writes everything counted so far, in one transaction. On failure the
    /// counts are put back to be retried on the next flush.
    pub async fn flush(&self, db: &(impl ConnectionTrait + TransactionTrait)) -> Result<usize> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.keys.is_empty() {
            return Ok(0);
        }
        let n = batch.keys.len();
        match write(db, &batch).await {
            Ok(()) => Ok(n),
            Err(e) => {
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                for (key, failed) in batch.keys {
                    let u = p.keys.entry(key).or_insert_with(|| KeyUsage::new(failed.last_used));
                    // Its slots' counts add up to its requests.
                    for (slot, count) in failed.counts {
                        u.add(slot, count, failed.last_used);
                    }
                }
                Err(e)
            }
        }
    }
}

/// The daily rows of the keys in `live`: (key id, day, status class, requests).
fn daily<'a>(
    batch: &'a Pending,
    live: &'a HashSet<String>,
) -> impl Iterator<Item = (&'a String, String, &'static str, i64)> + 'a {
    batch.keys.iter().filter(|(key, _)| live.contains(*key)).flat_map(|(key, u)| {
        u.counts.iter().map(move |((day, class), count)| (key, day.format("%Y-%m-%d").to_string(), *class, *count))
    })
}

async fn write(db: &impl TransactionTrait, batch: &Pending) -> Result<()> {
    let txn = db.begin().await?;
    write_api_keys(&txn, batch).await?;
    write_oauth(&txn, batch).await?;
    txn.commit().await?;
    Ok(())
}

async fn write_api_keys(txn: &sea_orm::DatabaseTransaction, batch: &Pending) -> Result<()> {
    // A key deleted since its requests were counted has no row left to
    // count against (and its usage rows are gone with it): skip it.
    let ids: Vec<String> = batch.keys.keys().filter(|k| k.starts_with("ak_")).cloned().collect();
    if ids.is_empty() {
        return Ok(());
    }
    let live: HashSet<String> = api_key::Entity::find()
        .filter(api_key::Column::Id.is_in(ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect();
    let rows: Vec<api_key_usage::ActiveModel> = daily(batch, &live)
        .map(|(key, day, class, count)| api_key_usage::ActiveModel {
            api_key_id: sea_orm::Set(key.clone()),
            day: sea_orm::Set(day),
            status_class: sea_orm::Set(class.to_string()),
            count: sea_orm::Set(count),
        })
        .collect();
    if !rows.is_empty() {
        api_key_usage::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    api_key_usage::Column::ApiKeyId,
                    api_key_usage::Column::Day,
                    api_key_usage::Column::StatusClass,
                ])
                .value(
                    api_key_usage::Column::Count,
                    Expr::col((api_key_usage::Entity, api_key_usage::Column::Count)).add(Expr::cust("excluded.count")),
                )
                .to_owned(),
            )
            .exec(txn)
            .await?;
    }
    for (key, u) in batch.keys.iter().filter(|(k, _)| live.contains(*k)) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::UsageCount, Expr::col(api_key::Column::UsageCount).add(u.requests))
            .col_expr(api_key::Column::LastUsedAt, Expr::value(u.last_used))
            .filter(api_key::Column::Id.eq(key.as_str()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The OAuth part of a batch: app counters and daily rows, and the last
/// use of authorizations. Apps or authorizations gone since are skipped.
async fn write_oauth(txn: &sea_orm::DatabaseTransaction, batch: &Pending) -> Result<()> {
    let app_ids: Vec<String> = batch.keys.keys().filter(|k| k.starts_with("app_")).cloned().collect();
    if !app_ids.is_empty() {
        let live: HashSet<String> = oauth_app::Entity::find()
            .filter(oauth_app::Column::Id.is_in(app_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let rows: Vec<oauth_app_usage::ActiveModel> = daily(batch, &live)
            .map(|(key, day, class, count)| oauth_app_usage::ActiveModel {
                app_id: sea_orm::Set(key.clone()),
                day: sea_orm::Set(day),
                status_class: sea_orm::Set(class.to_string()),
                count: sea_orm::Set(count),
            })
            .collect();
        if !rows.is_empty() {
            oauth_app_usage::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        oauth_app_usage::Column::AppId,
                        oauth_app_usage::Column::Day,
                        oauth_app_usage::Column::StatusClass,
                    ])
                    .value(
                        oauth_app_usage::Column::Count,
                        Expr::col((oauth_app_usage::Entity, oauth_app_usage::Column::Count))
                            .add(Expr::cust("excluded.count")),
                    )
                    .to_owned(),
                )
                .exec(txn)
                .await?;
        }
        for (key, u) in batch.keys.iter().filter(|(k, _)| live.contains(*k)) {
            oauth_app::Entity::update_many()
                .col_expr(oauth_app::Column::UsageCount, Expr::col(oauth_app::Column::UsageCount).add(u.requests))
                .col_expr(oauth_app::Column::LastUsedAt, Expr::value(u.last_used))
                .filter(oauth_app::Column::Id.eq(key.as_str()))
                .exec(txn)
                .await?;
        }
    }
    for (key, u) in batch.keys.iter().filter(|(k, _)| k.starts_with("oaz_")) {
        oauth_authorization::Entity::update_many()
            .col_expr(oauth_authorization::Column::LastUsedAt, Expr::value(u.last_used))
            .filter(oauth_authorization::Column::Id.eq(key.as_str()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_flush_keeps_every_count_for_the_next_one() {
        // No tables: the write fails.
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let usage = UsageRecorder::default();
        let first = Utc::now();
        for status in [200, 201, 404] {
            usage.record("ak_1", status);
        }
        usage.record("app_1", 500);
        assert!(usage.flush(&db).await.is_err());
        usage.record("ak_1", 204);
        let p = usage.pending.lock().unwrap();
        let key = &p.keys["ak_1"];
        assert_eq!(key.requests, 4);
        assert!(key.last_used >= first);
        let by_class: HashMap<&str, i64> = key.counts.iter().map(|((_, class), n)| (*class, *n)).collect();
        assert_eq!(by_class, HashMap::from([("2xx", 3), ("4xx", 1)]));
        assert_eq!(p.keys["app_1"].requests, 1);
        assert_eq!(p.keys["app_1"].counts.len(), 1);
    }
}
