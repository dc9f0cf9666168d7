//! Reading the event log of the caller's workspace.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};

use entity::event;

use crate::auth::{Principal, Role, Scope};
use crate::error::{Error, Result, UserErrorCode};
use crate::events::{is_known_pattern, owners_only, Envelope, EventType};
use crate::ids::has_prefix;
use crate::services::api_keys::Environment;
use crate::services::pagination::{fetch_page, Page, PageArgs};

#[derive(Default)]
pub struct EventFilter {
    /// Event type names or `family.*` patterns; any match passes.
    pub types: Option<Vec<String>>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Rejects type patterns that can never match a catalog event.
pub fn check_patterns(types: &[String]) -> Result<()> {
    match types.iter().find(|t| !is_known_pattern(t)) {
        Some(t) => {
            Err(Error::field_code("eventTypes", UserErrorCode::UnknownEventType, format!("Unknown event type '{t}'")))
        }
        None => Ok(()),
    }
}

pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    filter: EventFilter,
    page: &PageArgs,
) -> Result<Page<Envelope>> {
    let q = visible(db, p, filter)?;
    Ok(fetch_page(db, q, event::Column::Id, page).await?.filter_map(|m| Some(Envelope::from(m))))
}

/// Most events one resume replays.
pub const MAX_REPLAY: u64 = 1000;

/// The events committed after `after` (an event id), oldest first, at most
/// [`MAX_REPLAY`]: what a subscriber missed while it was away.
pub async fn after(
    db: &impl ConnectionTrait,
    p: &Principal,
    types: Option<Vec<String>>,
    after: &str,
) -> Result<Vec<Envelope>> {
    use sea_orm::{QueryOrder, QuerySelect};
    if !has_prefix(after, "evt") {
        return Err(Error::invalid_field("after", "Not an event id (`evt_…`)"));
    }
    let q = visible(db, p, EventFilter { types, since: None, until: None })?
        .filter(event::Column::Id.gt(after))
        .order_by_asc(event::Column::Id)
        .limit(MAX_REPLAY);
    Ok(q.all(db).await?.into_iter().map(Envelope::from).collect())
}

/// The caller's workspace's events its role (and, for record events, its
/// key's environment) lets it see, filtered.
fn visible(db: &impl ConnectionTrait, p: &Principal, filter: EventFilter) -> Result<sea_orm::Select<event::Entity>> {
    p.require(Scope::Read)?;
    let mut q = event::Entity::find().filter(event::Column::WorkspaceId.eq(&p.workspace_id));
    if p.role != Role::Owner {
        q = q.filter(event::Column::EventType.is_not_in(EventType::owners_only_names()));
    }
    if let Some(env) = p.records_environment() {
        q = q.filter(of_environment(db.get_database_backend(), env));
    }
    if let Some(types) = filter.types.filter(|t| !t.is_empty()) {
        check_patterns(&types)?;
        let mut any = Condition::any();
        for t in types {
            any = match t.strip_suffix(".*") {
                _ if t == "*" => any.add(event::Column::EventType.is_not_null()),
                Some(family) => any.add(event::Column::EventType.starts_with(format!("{family}."))),
                None => any.add(event::Column::EventType.eq(t)),
            };
        }
        q = q.filter(any);
    }
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if s > u {
            return Err(Error::invalid_field("since", "Must not be after 'until'"));
        }
    }
    if let Some(since) = filter.since {
        q = q.filter(event::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(event::Column::CreatedAt.lt(until));
    }
    Ok(q)
}

pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<Envelope> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "evt") {
        return Err(Error::NotFound("Event"));
    }
    event::Entity::find_by_id(id)
        .filter(event::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .map(Envelope::from)
        .filter(|e| may_see(p, &e.event_type, &e.data))
        .ok_or(Error::NotFound("Event"))
}

/// Whether the caller may see an event of its workspace: owners-only types
/// need an owner, and a `record.*` event, which carries the record's data,
/// a caller of the record's environment (see
/// [`Principal::records_environment`]). The filter of live subscriptions;
/// [`visible`] says the same in SQL.
pub fn may_see(p: &Principal, event_type: &str, data: &serde_json::Value) -> bool {
    (p.role == Role::Owner || !owners_only(event_type))
        && match p.records_environment() {
            Some(env) if event_type.starts_with("record.") => data["environment"] == env.as_str(),
            _ => true,
        }
}

/// SQL for "not a record event of another environment than `env`" (see [`may_see`]).
fn of_environment(backend: DbBackend, env: Environment) -> SimpleExpr {
    let field = match backend {
        DbBackend::Postgres => r#"("event"."data" ->> 'environment')"#,
        _ => r#"json_extract("event"."data", '$.environment')"#,
    };
    let sql = format!(r#"NOT ("event"."event_type" LIKE 'record.%' AND COALESCE({field}, '') <> $1)"#);
    let sql = match backend {
        DbBackend::Postgres => sql,
        _ => sql.replace("$1", "?"),
    };
    Expr::cust_with_values(sql, [env.as_str()])
}
