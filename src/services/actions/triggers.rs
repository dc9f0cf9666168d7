//! What starts an action on its own.
//!
//! - **Schedules**: a cron expression (5 fields, or 6 with seconds; `@hourly`
//!   and friends) read by `croner` in an IANA time zone (`chrono-tz`), or an
//!   interval in seconds. Each schedule trigger keeps its next tick; the
//!   `actions.schedule` job (every `action_schedule_interval_seconds`) starts
//!   the due ones. Firing a tick is a conditional update of that tick, in the
//!   transaction that writes the run, so two processes never start it twice.
//!   A tick that finds the action paused (a broken connection) is skipped.
//!   A scheduled run's input is `{"scheduled_at": <its tick>}`.
//! - **Events**: a type pattern of the event catalog (`record.created`,
//!   `connection.*`, `*`; one that matches no catalog type is refused) and an
//!   optional data endpoint. The [`ActionFanOut`] hook writes the runs in the
//!   transaction of the events themselves (the outbox): no event is missed.
//!   `action.*` events start no action, so an action cannot start itself.
//!
//! The same hook resumes paused runs when a connection is made again and
//! pauses waiting runs when one breaks.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use entity::{action, action_trigger, data_endpoint};

use super::runs::{self, Origin};
use super::{TriggerKind, TriggerSpec, MAX_TRIGGERS};
use crate::error::{Error, FieldError, Result};
use crate::events::{self, Envelope};
use crate::ids::new_id;
use crate::jobs::ledger;
use crate::jobs::Handler;
use crate::state::AppState;

/// The job kind that starts due schedules.
pub const SCHEDULE_KIND: &str = "actions.schedule";

/// Shortest interval.
pub const MIN_EVERY_SECONDS: i64 = 1;
/// Longest interval: a year.
pub const MAX_EVERY_SECONDS: i64 = 366 * 86_400;

/// A trigger ready to store.
pub struct Checked {
    kind: TriggerKind,
    spec: TriggerSpec,
    next_run_at: Option<DateTime<Utc>>,
}

fn parse_cron(expr: &str) -> std::result::Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds};
    CronParser::builder().seconds(Seconds::Optional).build().parse(expr.trim()).map_err(|e| e.to_string())
}

fn parse_tz(tz: Option<&str>) -> std::result::Result<chrono_tz::Tz, String> {
    match tz.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(chrono_tz::UTC),
        Some(t) => {
            chrono_tz::Tz::from_str(t).map_err(|_| format!("`{t}` is not an IANA time zone (e.g. Europe/Paris)"))
        }
    }
}

/// A cron expression in words, e.g. "At 09:00 on Monday".
pub fn describe_cron(expr: &str) -> Option<String> {
    parse_cron(expr).ok().map(|c| c.describe())
}

/// The first tick of a schedule strictly after `after`.
pub fn next_tick(t: &action_trigger::Model, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(every) = t.every_seconds {
        // Keep the cadence of the previous tick; ticks missed while nothing
        // ran collapse into the next one.
        let every = chrono::Duration::seconds(every.max(MIN_EVERY_SECONDS));
        let mut next = t.next_run_at.unwrap_or(after) + every;
        if next <= after {
            let behind = (after - next).num_seconds() / every.num_seconds() + 1;
            next += every * behind as i32;
        }
        return Some(next);
    }
    let cron = parse_cron(t.cron.as_deref()?).ok()?;
    let tz = parse_tz(t.timezone.as_deref()).ok()?;
    let local = after.with_timezone(&tz);
    cron.find_next_occurrence(&local, false).ok().map(|n| n.with_timezone(&Utc))
}

/// Checks the triggers of an action.
pub async fn check(st: &AppState, workspace_id: &str, specs: &[TriggerSpec]) -> Result<Vec<Checked>> {
    if specs.len() > MAX_TRIGGERS {
        return Err(Error::invalid_field("triggers", format!("At most {MAX_TRIGGERS} triggers")));
    }
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let now = Utc::now();
    for (i, s) in specs.iter().enumerate() {
        let at = |field: &str| format!("triggers.{i}.{field}");
        let schedule = s.cron.is_some() || s.every_seconds.is_some();
        let event = s.event_type.is_some();
        if schedule == event || (s.cron.is_some() && s.every_seconds.is_some()) {
            problems.push(FieldError::new(
                at("kind"),
                "Give exactly one of `cron`, `everySeconds` (a schedule) or `eventType` (an event)",
            ));
            continue;
        }
        let mut spec = s.clone();
        if schedule {
            if let Some(expr) = &s.cron {
                if let Err(why) = parse_cron(expr) {
                    problems.push(FieldError::new(at("cron"), format!("Not a cron expression: {why}")));
                }
                spec.cron = Some(expr.trim().to_string());
                match parse_tz(s.timezone.as_deref()) {
                    Ok(tz) => spec.timezone = Some(tz.name().to_string()),
                    Err(why) => problems.push(FieldError::new(at("timezone"), why)),
                }
            } else {
                spec.timezone = None;
            }
            if let Some(n) = s.every_seconds {
                if !(MIN_EVERY_SECONDS..=MAX_EVERY_SECONDS).contains(&n) {
                    problems.push(FieldError::new(at("everySeconds"), "Between 1 and 31622400 (a year)"));
                }
            }
            spec.event_type = None;
            spec.endpoint_id = None;
            let probe = model_of(TriggerKind::Schedule, &spec, None);
            let next = next_tick(&probe, now);
            if next.is_none() && problems.is_empty() {
                problems.push(FieldError::new(at("cron"), "This schedule never fires"));
            }
            out.push(Checked { kind: TriggerKind::Schedule, spec, next_run_at: next });
        } else {
            let pattern = s.event_type.as_deref().unwrap_or_default().trim().to_string();
            if pattern.starts_with("action.") {
                problems.push(FieldError::new(at("eventType"), "Action events cannot start actions"));
            } else if !events::is_known_pattern(&pattern) {
                problems.push(
                    FieldError::new(at("eventType"), format!("`{pattern}` matches no event type of the catalog"))
                        .with_code(crate::error::UserErrorCode::UnknownEventType),
                );
            }
            if let Some(ep) = &s.endpoint_id {
                let found = data_endpoint::Entity::find_by_id(ep)
                    .filter(data_endpoint::Column::WorkspaceId.eq(workspace_id))
                    .one(&st.db)
                    .await?;
                if found.is_none() {
                    problems.push(
                        FieldError::new(at("endpointId"), "No such data endpoint in this workspace")
                            .with_code(crate::error::UserErrorCode::NotFound),
                    );
                }
            }
            spec.event_type = Some(pattern);
            spec.cron = None;
            spec.timezone = None;
            spec.every_seconds = None;
            out.push(Checked { kind: TriggerKind::Event, spec, next_run_at: None });
        }
    }
    if !problems.is_empty() {
        return Err(Error::validation(problems));
    }
    Ok(out)
}

fn model_of(kind: TriggerKind, s: &TriggerSpec, next: Option<DateTime<Utc>>) -> action_trigger::Model {
    action_trigger::Model {
        id: new_id("atr"),
        workspace_id: String::new(),
        action_id: String::new(),
        kind: kind.as_str().into(),
        active: true,
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        every_seconds: s.every_seconds,
        next_run_at: next,
        event_type: s.event_type.clone(),
        endpoint_id: s.endpoint_id.clone(),
        position: 0,
    }
}

/// Replaces an action's triggers.
pub async fn replace(db: &impl ConnectionTrait, a: &action::Model, triggers: Vec<Checked>) -> Result<()> {
    action_trigger::Entity::delete_many().filter(action_trigger::Column::ActionId.eq(&a.id)).exec(db).await?;
    for (i, t) in triggers.into_iter().enumerate() {
        let mut m = model_of(t.kind, &t.spec, t.next_run_at);
        m.workspace_id = a.workspace_id.clone();
        m.action_id = a.id.clone();
        m.active = a.enabled;
        m.position = i as i32;
        action_trigger::ActiveModel::from(m).insert(db).await?;
    }
    Ok(())
}

/// Turns an action's triggers on or off with it. A schedule turned back on
/// goes on from now: the ticks it missed while off do not fire at once.
pub async fn set_active(db: &impl ConnectionTrait, action_id: &str, active: bool) -> Result<()> {
    if active {
        let now = Utc::now();
        let off = action_trigger::Entity::find()
            .filter(action_trigger::Column::ActionId.eq(action_id))
            .filter(action_trigger::Column::Active.eq(false))
            .all(db)
            .await?;
        for t in off.into_iter().filter(|t| t.cron.is_some() || t.every_seconds.is_some()) {
            let next = next_tick(&action_trigger::Model { next_run_at: None, ..t.clone() }, now);
            action_trigger::Entity::update_many()
                .col_expr(action_trigger::Column::NextRunAt, Expr::value(next))
                .filter(action_trigger::Column::Id.eq(&t.id))
                .exec(db)
                .await?;
        }
    }
    action_trigger::Entity::update_many()
        .col_expr(action_trigger::Column::Active, Expr::value(active))
        .filter(action_trigger::Column::ActionId.eq(action_id))
        .exec(db)
        .await?;
    Ok(())
}

/// `actions.schedule`: starts every due schedule once, across processes.
pub struct ScheduleDue;

#[async_trait::async_trait]
impl Handler for ScheduleDue {
    fn kind(&self) -> &'static str {
        SCHEDULE_KIND
    }

    fn max_attempts(&self) -> u32 {
        1
    }

    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, st: &AppState, _job: &entity::job::Model) -> Result<()> {
        fire_due(st).await?;
        resume_stranded(st).await.map(|_| ())
    }
}

/// How long a run stays paused before the scheduler checks its connections
/// again itself (see [`resume_stranded`]).
const STRANDED_AFTER: chrono::Duration = chrono::Duration::seconds(10);

/// Actions with paused runs at most one scheduler pass looks at.
const STRANDED_PAGE: u64 = 500;

/// Queues again the runs paused for at least [`STRANDED_AFTER`] whose
/// connections are all usable again; returns how many. A reconnect resumes
/// the paused runs at once (the `connection.*` hook), but a run can pause
/// just after that hook passed it (its step ended beside the reconnect, or
/// it started then), and would otherwise wait for the next reconnect.
pub async fn resume_stranded(st: &AppState) -> Result<usize> {
    use entity::{action_run, connection};
    use sea_orm::QuerySelect;
    // The actions, not the runs: many runs of one action paused on a
    // connection that stays broken must not fill the page.
    let paused: Vec<(String, String)> = action_run::Entity::find()
        .select_only()
        .column(action_run::Column::ActionId)
        .column(action_run::Column::WorkspaceId)
        .distinct()
        .filter(action_run::Column::Status.eq(runs::RunStatus::Paused.as_str()))
        .filter(action_run::Column::UpdatedAt.lte(Utc::now() - STRANDED_AFTER))
        .limit(STRANDED_PAGE)
        .into_tuple()
        .all(&st.db)
        .await?;
    if paused.is_empty() {
        return Ok(0);
    }
    let mut workspaces: Vec<&String> = paused.iter().map(|(_, w)| w).collect();
    workspaces.sort_unstable();
    workspaces.dedup();
    let actions = action::Entity::find()
        .filter(action::Column::Id.is_in(paused.iter().map(|(a, _)| a.as_str())))
        .all(&st.db)
        .await?;
    let connections = connection::Entity::find()
        .filter(connection::Column::WorkspaceId.is_in(workspaces.into_iter().map(String::as_str)))
        .all(&st.db)
        .await?;
    let ready: Vec<String> = actions
        .iter()
        .filter(|a| super::paused_reason_among(a, &connections).is_none())
        .map(|a| a.id.clone())
        .collect();
    if ready.is_empty() {
        return Ok(0);
    }
    let txn = st.writer.begin().await?;
    let (jobs, resumed) = runs::resume_paused(&txn, &ready).await?;
    txn.commit().await?;
    if !resumed.is_empty() {
        st.publish(resumed.iter().map(runs::live_note).collect());
    }
    for job in &jobs {
        ledger::ring(st, job).await;
    }
    if !jobs.is_empty() {
        tracing::info!(runs = jobs.len(), "resumed paused action runs whose connections are usable again");
    }
    Ok(jobs.len())
}

/// Starts every due schedule; returns how many runs it started.
pub async fn fire_due(st: &AppState) -> Result<usize> {
    let now = Utc::now();
    let due = action_trigger::Entity::find()
        .filter(action_trigger::Column::Kind.eq(TriggerKind::Schedule.as_str()))
        .filter(action_trigger::Column::Active.eq(true))
        .filter(action_trigger::Column::NextRunAt.lte(now))
        .all(&st.db)
        .await?;
    let mut started = 0;
    for t in due {
        match fire(st, &t, now).await {
            Ok(true) => started += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(trigger = %t.id, cause = %e, "could not start a scheduled action"),
        }
    }
    Ok(started)
}

/// Moves one schedule to its next tick and starts its run, in one
/// transaction; `false` when another process fired it first or the action
/// is paused (the tick is skipped).
async fn fire(st: &AppState, t: &action_trigger::Model, now: DateTime<Utc>) -> Result<bool> {
    // Missed ticks (the server was down) collapse into this one.
    let next = next_tick(t, now);
    let txn = st.writer.begin().await?;
    let moved = action_trigger::Entity::update_many()
        .col_expr(action_trigger::Column::NextRunAt, Expr::value(next))
        .filter(action_trigger::Column::Id.eq(&t.id))
        .filter(action_trigger::Column::NextRunAt.eq(t.next_run_at))
        .exec(&txn)
        .await?;
    if moved.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let Some(a) = action::Entity::find_by_id(&t.action_id).one(&txn).await? else {
        txn.commit().await?;
        return Ok(false);
    };
    if let Some(why) = super::paused_reason(&txn, &a).await? {
        tracing::info!(action = %a.id, reason = %why, "scheduled tick skipped: the action is paused");
        txn.commit().await?;
        return Ok(false);
    }
    let origin = Origin { kind: "schedule", trigger_id: Some(t.id.clone()), actor: "system".into(), event: None };
    // The tick it serves, for templates (`{{ input.scheduled_at }}`).
    let input =
        json!({ "scheduled_at": t.next_run_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) });
    let (run, job) = runs::insert(&txn, st.sweep_grace(), &a, origin, input, None).await?;
    txn.commit().await?;
    runs::announce(st, &run);
    if let Some(job) = job {
        ledger::ring(st, &job).await;
    }
    Ok(true)
}

/// Starts the runs of event triggers, inside the events' transaction, and
/// follows connections breaking and coming back.
pub struct ActionFanOut;

#[async_trait::async_trait]
impl events::hooks::FanOut for ActionFanOut {
    fn name(&self) -> &'static str {
        "actions"
    }

    async fn fan_out(&self, db: &events::hooks::DynConnection<'_>, events: &mut [Envelope]) -> Result<()> {
        fan_out(db, events).await
    }
}

/// The event triggers of each workspace in the batch (one query per
/// workspace), then one run per matching trigger.
async fn fan_out(db: &impl ConnectionTrait, events: &mut [Envelope]) -> Result<()> {
    let mut triggers: HashMap<String, Vec<action_trigger::Model>> = HashMap::new();
    for e in events.iter() {
        if e.event_type.starts_with("action.") || triggers.contains_key(&e.workspace_id) {
            continue;
        }
        let found = action_trigger::Entity::find()
            .filter(action_trigger::Column::WorkspaceId.eq(&e.workspace_id))
            .filter(action_trigger::Column::Kind.eq(TriggerKind::Event.as_str()))
            .filter(action_trigger::Column::Active.eq(true))
            .all(db)
            .await?;
        triggers.insert(e.workspace_id.clone(), found);
    }
    let mut actions: HashMap<String, Option<(action::Model, Option<String>)>> = HashMap::new();
    for e in events.iter_mut() {
        if e.event_type.starts_with("connection.") {
            connection_changed(db, e).await?;
        }
        let Some(list) = triggers.get(&e.workspace_id) else { continue };
        let hits: Vec<&action_trigger::Model> = list.iter().filter(|t| matches(t, e)).collect();
        for t in hits {
            if !actions.contains_key(&t.action_id) {
                let a = action::Entity::find_by_id(&t.action_id).one(db).await?;
                let loaded = match a {
                    Some(a) => {
                        let paused = super::paused_reason(db, &a).await?;
                        Some((a, paused))
                    }
                    None => None,
                };
                actions.insert(t.action_id.clone(), loaded);
            }
            let Some((a, paused)) = &actions[&t.action_id] else { continue };
            let event = json!({ "id": e.id, "type": e.event_type, "data": e.data,
                                "created_at": e.created_at.to_rfc3339() });
            let origin =
                Origin { kind: "event", trigger_id: Some(t.id.clone()), actor: "system".into(), event: Some(event) };
            let grace = ledger::default_grace();
            let (run, job) = runs::insert(db, grace, a, origin, json!({}), paused.clone()).await?;
            e.live.push(runs::live_note(&run));
            if let Some(job) = job {
                e.jobs.push(crate::jobs::Message { job_id: job.id, kind: runs::KIND.to_string() });
            }
        }
    }
    Ok(())
}

fn matches(t: &action_trigger::Model, e: &Envelope) -> bool {
    t.event_type.as_deref().is_some_and(|p| events::type_matches(p, &e.event_type))
        && t.endpoint_id.as_deref().is_none_or(|ep| e.data["endpoint_id"].as_str() == Some(ep))
}

/// A connection broke: its actions' waiting runs are paused. It came back
/// (connected again): their paused runs are queued again.
async fn connection_changed(db: &impl ConnectionTrait, e: &mut Envelope) -> Result<()> {
    let Some(provider) = e.data["provider"].as_str() else { return Ok(()) };
    let connected = e.data["status"].as_str() == Some("connected");
    let relevant = match e.event_type.as_str() {
        "connection.broken" | "connection.deleted" => true,
        "connection.created" | "connection.refreshed" => connected,
        _ => false,
    };
    if !relevant {
        return Ok(());
    }
    let uses: Vec<String> = action::Entity::find()
        .filter(action::Column::WorkspaceId.eq(&e.workspace_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|a| a.providers.as_array().is_some_and(|p| p.iter().any(|v| v.as_str() == Some(provider))))
        .map(|a| a.id)
        .collect();
    if uses.is_empty() {
        return Ok(());
    }
    let changed = if connected {
        let (jobs, resumed) = runs::resume_paused(db, &uses).await?;
        for job in jobs {
            e.jobs.push(crate::jobs::Message { job_id: job.id, kind: runs::KIND.to_string() });
        }
        resumed
    } else {
        runs::pause_waiting(db, &uses, &format!("The {provider} connection needs to be reconnected")).await?
    };
    e.live.extend(changed.iter().map(runs::live_note));
    Ok(())
}

/// How often the scheduler looks for due schedules.
pub fn schedule_every(st: &AppState) -> Duration {
    Duration::from_secs(st.config.action_schedule_interval_seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(
        cron: Option<&str>,
        tz: Option<&str>,
        every: Option<i64>,
        next: Option<DateTime<Utc>>,
    ) -> action_trigger::Model {
        let spec = TriggerSpec {
            cron: cron.map(str::to_string),
            timezone: tz.map(str::to_string),
            every_seconds: every,
            ..Default::default()
        };
        model_of(TriggerKind::Schedule, &spec, next)
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn cron_ticks_are_read_in_their_time_zone() {
        // 09:00 on Mondays in Paris is 08:00 UTC in winter.
        let t = schedule(Some("0 9 * * MON"), Some("Europe/Paris"), None, None);
        assert_eq!(next_tick(&t, at("2026-12-02T12:00:00Z")), Some(at("2026-12-07T08:00:00Z")));
        // And 07:00 UTC in summer.
        assert_eq!(next_tick(&t, at("2026-07-01T00:00:00Z")), Some(at("2026-07-06T07:00:00Z")));
        // Six fields: seconds first.
        let t = schedule(Some("*/10 * * * * *"), None, None, None);
        assert_eq!(next_tick(&t, at("2026-12-02T12:00:03Z")), Some(at("2026-12-02T12:00:10Z")));
        assert!(describe_cron("0 9 * * MON").unwrap().contains("09:00"));
    }

    #[test]
    fn intervals_keep_their_cadence_and_collapse_missed_ticks() {
        let t = schedule(None, None, Some(60), Some(at("2026-12-02T12:00:00Z")));
        // Fired a little late: the next tick keeps the minute.
        assert_eq!(next_tick(&t, at("2026-12-02T12:00:02Z")), Some(at("2026-12-02T12:01:00Z")));
        // Fired after a long stop: one tick, the next one due from now.
        assert_eq!(next_tick(&t, at("2026-12-02T12:10:30Z")), Some(at("2026-12-02T12:11:00Z")));
    }
}
