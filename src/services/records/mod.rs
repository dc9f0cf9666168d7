//! Records of data endpoints: accepting a create, replace or delete (the
//! row is committed before the 202, so nothing accepted is lost; see
//! [`ingest`] for the group commit), reading, and the `record.process` job
//! that applies the change and emits `record.created/updated/deleted`
//! (which fan out to webhooks; see `process.rs`).

use std::time::Duration;

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use entity::{data_endpoint, data_key, record};

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::ids::has_prefix;
use crate::jobs::Handler;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

pub mod ingest;
mod process;

pub use process::{callback_died, process, process_died, send_callback, CALLBACK_KIND};

pub const KIND: &str = "record.process";
pub const QUEUED: &str = "queued";
pub const PROCESSING: &str = "processing";
pub const PROCESSED: &str = "processed";
pub const FAILED: &str = "failed";
pub const DELETED: &str = "deleted";

/// The change a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Replace,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Replace => "replace",
            Self::Delete => "delete",
        }
    }
}

/// Where a request wants its processing result sent (`X-Webhook-Callback`,
/// `X-Webhook-Auth-Header`, `X-Webhook-Auth`).
pub struct Callback {
    pub url: String,
    pub auth_header: Option<String>,
    pub auth_value: Option<String>,
}

/// One accepted request: what to do to which record.
pub struct Change<'a> {
    pub op: Operation,
    /// For replace and delete: the record. For a create, the id the new
    /// record gets, else a new one: a caller that must find the record
    /// again after a failure (an inbound sync) makes it with `new_id("rec")`
    /// and writes it down first. It must be new: an id in use fails the
    /// batch the change is committed with.
    pub record_id: Option<&'a str>,
    /// The record's JSON object as sent, already parsed and validated: it is
    /// stored as it came, without a parse and re-serialisation per copy.
    pub body: Option<String>,
    pub callback: Option<Callback>,
    /// From the owner's console: no events, webhooks or callbacks, and not
    /// counted against the quota.
    pub silent: bool,
}

/// Commits the change (counted against the endpoint's monthly quota unless
/// silent) with its processing job, through the group commit, then rings
/// the queue. Returns the record id for the 202: the row is committed.
pub async fn accept(
    st: &AppState,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    change: Change<'_>,
) -> Result<String> {
    let Change { op, record_id, body, callback, silent } = change;
    let sealed = match callback.as_ref().and_then(|c| c.auth_value.as_deref()) {
        Some(v) => Some(st.secret.encrypt(v)?),
        None => None,
    };
    let (callback_url, callback_auth_header) = match callback {
        Some(c) => (Some(c.url), Some(c.auth_header.unwrap_or_else(|| "Authorization".into()))),
        None => (None, None),
    };
    let prepared = ingest::Prepared {
        workspace_id: key.workspace_id.clone(),
        endpoint_id: endpoint.id.clone(),
        environment: key.environment.clone(),
        key_id: key.id.clone(),
        quota: (!silent).then_some(endpoint.monthly_quota),
        op,
        record_id: record_id.map(str::to_string),
        body,
        silent,
        callback_url,
        callback_auth_header,
        callback_auth_enc: sealed,
    };
    ingest::submit(st, prepared).await
}

/// A record of this endpoint in the key's environment that is not deleted.
pub async fn find_live(
    db: &impl ConnectionTrait,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    id: &str,
) -> Result<record::Model> {
    find_in(db, &key.workspace_id, &endpoint.id, &key.environment, id, false).await
}

/// A record of one endpoint and environment of a workspace that is not
/// deleted; with `for_update`, locked until the transaction ends (on
/// PostgreSQL; SQLite serialises writers anyway).
pub(crate) async fn find_in(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    endpoint_id: &str,
    environment: &str,
    id: &str,
    for_update: bool,
) -> Result<record::Model> {
    if !has_prefix(id, "rec") {
        return Err(Error::NotFound("Record"));
    }
    let mut q = record::Entity::find_by_id(id)
        .filter(record::Column::WorkspaceId.eq(workspace_id))
        .filter(record::Column::EndpointId.eq(endpoint_id))
        .filter(record::Column::Environment.eq(environment))
        .filter(record::Column::State.ne(DELETED));
    if for_update && db.get_database_backend() == sea_orm::DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(db).await?.ok_or(Error::NotFound("Record"))
}

#[derive(Default)]
pub struct RecordFilter {
    pub endpoint_id: Option<String>,
    pub environment: Option<String>,
    pub state: Option<String>,
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// One page of the records the caller may see (see [`visible_to`]) that
/// match every field of the filter.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    f: RecordFilter,
    page: &PageArgs,
) -> Result<Page<record::Model>> {
    p.require(Scope::Read)?;
    let mut q = record::Entity::find().filter(visible_to(p));
    if let Some(e) = f.endpoint_id {
        q = q.filter(record::Column::EndpointId.eq(e));
    }
    if let Some(e) = f.environment {
        q = q.filter(record::Column::Environment.eq(e));
    }
    if let Some(s) = f.state {
        q = q.filter(record::Column::State.eq(s));
    }
    if let Some(t) = f.updated_since {
        q = q.filter(record::Column::UpdatedAt.gte(t));
    }
    fetch_page(db, q, record::Column::Id, page).await
}

/// One record the caller may see (see [`visible_to`]); NOT_FOUND for any other.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<record::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "rec") {
        return Err(Error::NotFound("Record"));
    }
    record::Entity::find_by_id(id).filter(visible_to(p)).one(db).await?.ok_or(Error::NotFound("Record"))
}

/// The records a caller may see: its workspace's, and of those only its
/// API key's environment when it has one (see
/// [`Principal::records_environment`]). A record outside is treated as
/// missing, as one of another workspace is. A list filter naming the other
/// environment thus finds nothing, rather than failing: the answer to
/// "which of my records are live" from a test key is "none".
fn visible_to(p: &Principal) -> Condition {
    let mut c = Condition::all().add(record::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(env) = p.records_environment() {
        c = c.add(record::Column::Environment.eq(env.as_str()));
    }
    c
}

/// `record.process`: applies a data-endpoint record change (seed 001).
pub struct ProcessRecord;

#[async_trait::async_trait]
impl Handler for ProcessRecord {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn emits_events(&self) -> bool {
        // The record.* events say it already.
        false
    }

    async fn run(&self, st: &AppState, job: &entity::job::Model) -> Result<()> {
        process(st, job).await
    }

    async fn on_dead(&self, st: &AppState, job: &entity::job::Model, error: &str) -> Result<()> {
        process_died(st, job, error).await
    }
}

/// `record.callback`: sends a record's processing result to the request's
/// `X-Webhook-Callback` (seed 001: at most 3 retries, 60 s apart; the gap is
/// `SWITCHYARD_COLLABORATOR_RETRY_SECONDS`).
pub struct RecordCallback;

#[async_trait::async_trait]
impl Handler for RecordCallback {
    fn kind(&self) -> &'static str {
        CALLBACK_KIND
    }

    fn max_attempts(&self) -> u32 {
        4
    }

    fn emits_events(&self) -> bool {
        false
    }

    fn backoff(&self, job: &entity::job::Model) -> Duration {
        Duration::from_secs(job.payload.get("retry_seconds").and_then(|v| v.as_u64()).unwrap_or(60))
    }

    async fn run(&self, st: &AppState, job: &entity::job::Model) -> Result<()> {
        send_callback(st, job).await
    }

    async fn on_dead(&self, st: &AppState, job: &entity::job::Model, error: &str) -> Result<()> {
        callback_died(st, job, error).await
    }
}
