//! Idempotency keys, for both transports: a retry within 24 hours gets
//! the first answer again instead of doing the work twice; the same key
//! with a different request is refused.
//!
//! - `Idempotency-Key` on the data API and on `POST /graphql` (the HTTP
//!   layer in `rest::idempotency`) keeps whole HTTP answers, scoped by the
//!   credential that sent them (its keyed hash).
//! - `idempotencyKey` on a `create…` mutation's input ([`once`], through
//!   `graphql::idempotency`) keeps the service's answer, encrypted under
//!   the server key (it holds the secret shown once), scoped by workspace
//!   and credential kind.
//!
//! The first request holds a row with no answer yet; a retry that arrives
//! meanwhile waits briefly for the answer, then is told the first is still
//! running. A unique index on (scope, key) settles two first requests
//! racing.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde::de::DeserializeOwned;
use serde::Serialize;

use entity::idempotency_key;

use crate::error::{Error, FieldError, Result, UserErrorCode};
use crate::ids::new_id;
use crate::state::AppState;

/// How long an answer is kept for retries.
pub const WINDOW_HOURS: i64 = 24;

/// Longest a retry waits for a first request still running.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(3);

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// The first request with this key: hold it in a [`Claim`], run it, then
    /// [`finish`] and [`Claim::kept`].
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
async fn abandon(st: &AppState, id: &str) -> Result<()> {
    idempotency_key::Entity::delete_by_id(id).exec(&st.writer).await?;
    Ok(())
}

/// The content type recorded for a service answer kept by [`once`]: JSON,
/// encrypted under the server key.
const SEALED_JSON: &str = "application/json; sealed";

/// Longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// Checks a caller's key: 1 to 255 visible ASCII characters.
pub fn check_key(field: &str, key: &str) -> Result<()> {
    match (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        true => Ok(()),
        false => Err(Error::invalid_field(field, "Use 1 to 255 visible ASCII characters")),
    }
}

/// Runs `work` once per `key` within `scope`: the first call runs it and
/// keeps its answer; a retry with the same `fingerprint` gets that answer
/// back without running anything; another fingerprint under the key is an
/// `IDEMPOTENCY_CONFLICT` on `idempotencyKey`, and a retry while the first
/// still runs (after a short wait) `IDEMPOTENCY_IN_PROGRESS`. Only answers
/// are kept: when `work` fails nothing was done, and the key is free again.
pub async fn once<T, W>(st: &AppState, scope: &str, key: &str, fingerprint: &str, work: W) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    W: Future<Output = Result<T>>,
{
    const FIELD: &str = "idempotencyKey";
    check_key(FIELD, key)?;
    let claimed = match begin(st, scope, key, fingerprint).await? {
        Begin::First(id) => Claim::new(st, id),
        Begin::Replay { body, .. } => {
            let json = st.secret.decrypt(&body)?;
            return serde_json::from_str(&json).map_err(Error::internal);
        }
        Begin::Mismatch => {
            return Err(Error::validation(vec![FieldError::new(
                FIELD,
                "This key was already used in the last 24 hours for a different input; nothing was done",
            )
            .with_code(UserErrorCode::IdempotencyConflict)]));
        }
        Begin::InProgress => {
            return Err(Error::validation(vec![FieldError::new(
                FIELD,
                "The first request with this key is still running; nothing was done, retry shortly",
            )
            .with_code(UserErrorCode::IdempotencyInProgress)]));
        }
    };
    let answer = match work.await {
        Ok(answer) => answer,
        Err(e) => {
            // Given back before the error is answered: a retry with a
            // corrected input, sent as soon as this answer arrives, finds
            // the key free instead of this attempt's row.
            claimed.give_back().await;
            return Err(e);
        }
    };
    let sealed = serde_json::to_string(&answer).map_err(Error::internal).and_then(|j| st.secret.encrypt(&j));
    let kept = match sealed {
        Ok(body) => finish(st, claimed.id(), 200, Some(SEALED_JSON.into()), body).await,
        Err(e) => Err(e),
    };
    match kept {
        Ok(()) => claimed.kept(),
        Err(e) => tracing::warn!(cause = %e, "idempotency key not stored; a retry will run again"),
    }
    Ok(answer)
}

/// A claimed key whose answer is not kept yet. Dropped unkept (the work
/// failed, or the request was cancelled mid-way), it gives the key back so
/// a retry runs again rather than being told "in progress" for a day.
pub struct Claim {
    st: AppState,
    id: Option<String>,
}

impl Claim {
    /// Holds the key row `id` that [`begin`] answered `First` with.
    pub fn new(st: &AppState, id: String) -> Self {
        Self { st: st.clone(), id: Some(id) }
    }

    /// The key row's id, for [`finish`].
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The answer is stored (or the key given back): nothing to undo.
    pub fn kept(mut self) {
        self.id = None;
    }

    /// The work failed: gives the key back now (and, should that fail, as
    /// a drop would, in the background).
    pub async fn give_back(mut self) {
        let Some(id) = self.id.take() else { return };
        if let Err(e) = abandon(&self.st, &id).await {
            tracing::warn!(cause = %e, "idempotency key not given back");
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let st = self.st.clone();
            tokio::spawn(async move {
                if let Err(e) = abandon(&st, &id).await {
                    tracing::warn!(cause = %e, "idempotency key not given back");
                }
            });
        }
    }
}

/// Forgets answers older than the window.
pub async fn prune(db: &impl ConnectionTrait) -> Result<u64> {
    let before = Utc::now() - chrono::Duration::hours(WINDOW_HOURS);
    let gone =
        idempotency_key::Entity::delete_many().filter(idempotency_key::Column::CreatedAt.lt(before)).exec(db).await?;
    Ok(gone.rows_affected)
}
