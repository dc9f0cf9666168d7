//! Idempotency keys (`Idempotency-Key` on the data API and on GraphQL
//! requests): a retry within 24 hours gets the first answer again instead
//! of doing the work twice; the same key with a different request is
//! refused. Keys are scoped by the credential that sent them (its keyed
//! hash), so two callers never share one. The first request holds a row
//! with no answer yet; a retry that arrives meanwhile waits briefly for
//! the answer, then is told the first is still running. A unique index
//! settles two first requests racing.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

use entity::idempotency_key;

use crate::error::Result;
use crate::ids::new_id;
use crate::state::AppState;

/// How long an answer is kept for retries.
pub const WINDOW_HOURS: i64 = 24;

/// Longest a retry waits for a first request still running.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(3);

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// The first request with this key: run it, then [`finish`] (or [`abandon`]).
    First(String),
    /// A retry: answer with the first request's answer.
    Replay { status: u16, content_type: Option<String>, body: String },
    /// The key was used for a different request.
    Mismatch,
    /// The first request is still running.
    InProgress,
}

/// Claims `key` for the caller `scope` and the request `fingerprint`.
pub async fn begin(st: &AppState, scope: &str, key: &str, fingerprint: &str) -> Result<Begin> {
    let row = idempotency_key::Model {
        id: new_id("idk"),
        scope: scope.to_string(),
        key: key.to_string(),
        fingerprint: fingerprint.to_string(),
        status: None,
        content_type: None,
        body: None,
        created_at: Utc::now(),
    };
    // A key older than the window is free again.
    idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(idempotency_key::Column::CreatedAt.lt(Utc::now() - chrono::Duration::hours(WINDOW_HOURS)))
        .exec(&st.writer)
        .await?;
    match row.clone().into_active_model().insert(&st.writer).await {
        Ok(_) => return Ok(Begin::First(row.id)),
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {}
        Err(e) => return Err(e.into()),
    }
    let started = std::time::Instant::now();
    loop {
        let Some(first) = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::Key.eq(key))
            .one(&st.writer)
            .await?
        else {
            // The first request failed and gave the key back: this one is first now.
            return Box::pin(begin(st, scope, key, fingerprint)).await;
        };
        if !crate::crypto::ct_eq(&first.fingerprint, fingerprint) {
            return Ok(Begin::Mismatch);
        }
        if let (Some(status), Some(body)) = (first.status, first.body) {
            return Ok(Begin::Replay { status: status as u16, content_type: first.content_type, body });
        }
        if started.elapsed() >= WAIT_FOR_FIRST {
            return Ok(Begin::InProgress);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stores the first request's answer.
pub async fn finish(st: &AppState, id: &str, status: u16, content_type: Option<String>, body: String) -> Result<()> {
    let am = idempotency_key::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id.to_string()),
        status: Set(Some(status as i32)),
        content_type: Set(content_type),
        body: Set(Some(body)),
        ..Default::default()
    };
    am.update(&st.writer).await?;
    Ok(())
}

/// Gives the key back (the first request failed on the server's side):
/// a retry runs the request again.
pub async fn abandon(st: &AppState, id: &str) -> Result<()> {
    idempotency_key::Entity::delete_by_id(id).exec(&st.writer).await?;
    Ok(())
}

/// Forgets answers older than the window.
pub async fn prune(db: &impl ConnectionTrait) -> Result<u64> {
    let before = Utc::now() - chrono::Duration::hours(WINDOW_HOURS);
    let gone =
        idempotency_key::Entity::delete_many().filter(idempotency_key::Column::CreatedAt.lt(before)).exec(db).await?;
    Ok(gone.rows_affected)
}
