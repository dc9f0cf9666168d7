//! Service integrations (seed 002 §3): create, list, update, delete, test
//! and sync, the sync run history, and runs live. Secret config fields are
//! always `***`.

use async_graphql::{
    ComplexObject, Context, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use crate::auth::Scope;
use crate::graphql::cost;
use crate::graphql::inputs::NotNull;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::{found, ContextExt};
use crate::services::integrations::sync::{RunStatus, Trigger};
use crate::services::integrations::{self as service, Changes, Direction, IntegrationStatus, NewIntegration, Settings};

/// How often an integration syncs by itself.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "IntegrationSettingsInput")]
pub struct IntegrationSettings {
    /// Whether it syncs on a schedule (integrations that have a sync).
    pub auto_sync: bool,
    /// Seconds between scheduled syncs, 60 to 2,678,400 (default 300).
    #[graphql(default = 300)]
    pub sync_interval_seconds: i64,
}

/// A service integration of the workspace.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Integration {
    /// The integration's id (`int_…`).
    pub id: ID,
    /// Its name.
    pub name: String,
    /// `slack`, `webhook`, or a service of the connections catalog (through the workspace's connection).
    pub service_type: String,
    /// Its config; every secret field that is set is shown as `***`.
    pub config: Json<Value>,
    /// Its auto-sync settings.
    pub settings: IntegrationSettings,
    /// Active, inactive (turned off) or in error (the last sync failed).
    pub status: IntegrationStatus,
    /// When `testIntegration` last ran; null: never.
    pub last_test_at: Option<DateTime<Utc>>,
    /// The HTTP status the last test got; null when no answer came.
    pub last_test_status_code: Option<i32>,
    /// Why the last test failed; null when it passed (or never ran).
    pub last_test_error: Option<String>,
    /// When the last sync ended; null: never.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Why the last sync failed; null when it succeeded.
    pub last_error: Option<String>,
    /// Items sent (outbound) or created and replaced (inbound) by every sync so far.
    pub items_synced: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed by a person.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::integration::Model> for Integration {
    fn from(i: entity::integration::Model) -> Self {
        Self {
            id: ID(i.id),
            name: i.name,
            service_type: i.service_type,
            config: Json(i.config),
            settings: IntegrationSettings { auto_sync: i.auto_sync, sync_interval_seconds: i.sync_interval_seconds },
            status: IntegrationStatus::parse(&i.status),
            last_test_at: i.last_test_at,
            last_test_status_code: i.last_test_status,
            last_test_error: i.last_test_error,
            last_sync_at: i.last_sync_at,
            last_error: i.last_error,
            items_synced: i.items_synced,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[ComplexObject]
impl Integration {
    /// Its sync runs, newest first.
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last run of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the runs just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first run of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<IntegrationRun>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "isr")?;
        let rows = service::runs(&ctx.app().db, ctx.principal()?, &self.id, &page).await?;
        Ok(connection(rows, |r| r.id.clone(), IntegrationRun::from))
    }
}

/// One sync run of an integration.
#[derive(SimpleObject)]
pub struct IntegrationRun {
    /// The run's id (`isr_…`).
    pub id: ID,
    /// The integration it synced (`int_…`).
    pub integration_id: ID,
    /// `syncIntegration` or the schedule.
    pub trigger: Trigger,
    /// Where it stands.
    pub status: RunStatus,
    /// Items it sent (outbound) or created and replaced (inbound).
    pub items: i64,
    /// Records it deleted because their item is gone at the service
    /// (inbound with `config.sync.delete_missing`, after reading every page).
    pub deleted: i64,
    /// The id of the last event passed before it ran (outbound); null: none yet.
    pub cursor_from: Option<String>,
    /// The id of the last event passed when it ended; null while it runs.
    pub cursor_to: Option<String>,
    /// Why it failed; null otherwise.
    pub error: Option<String>,
    /// What a run that did not fail should tell: it stopped at a bound (an
    /// inbound sync: pages, time, the service's rate window, and the next
    /// run continues the listing; an outbound one: time, or a long
    /// `Retry-After`, and the next run goes on from its cursor), or deleted
    /// nothing as the listing was empty or would delete more than half of
    /// the items; a `SKIPPED` run names
    /// the run that was running. Null otherwise.
    pub note: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it ended (a `PAUSED` run: when it paused); null while queued or running.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<entity::integration_run::Model> for IntegrationRun {
    fn from(r: entity::integration_run::Model) -> Self {
        Self {
            id: ID(r.id),
            integration_id: ID(r.integration_id),
            trigger: Trigger::parse(&r.trigger),
            status: RunStatus::parse(&r.status),
            items: r.items,
            deleted: r.deleted,
            cursor_from: r.cursor_from,
            cursor_to: r.cursor_to,
            error: r.error,
            note: r.note,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// A kind of service an integration can be made for.
#[derive(SimpleObject)]
pub struct IntegrationService {
    /// The `serviceType` to create it with: `slack`, `webhook`, or a key of the connections catalog.
    pub service_type: String,
    /// Its name, e.g. `Slack (incoming webhook)`.
    pub name: String,
    /// `OUTBOUND`: a sync sends the workspace's events; `CONNECTION`: it
    /// works through the workspace's connection (a sync pulls a resource
    /// into a data endpoint when `config.sync` is set).
    pub direction: Direction,
    /// The JSON Schema its `config` must satisfy; secret fields are marked `"writeOnly": true`.
    pub config_schema: Json<Value>,
    /// The config fields that are secret: stored encrypted, shown as `***`.
    pub secret_fields: Vec<String>,
    /// Whether it works through a connection of the workspace (`createIntegration` refuses it without one).
    pub needs_connection: bool,
    /// Whether the workspace has the connection it needs; true for a service that needs none.
    pub connected: bool,
}

impl From<service::ServiceInfo> for IntegrationService {
    fn from(s: service::ServiceInfo) -> Self {
        Self {
            service_type: s.service_type,
            name: s.name,
            direction: s.kind.direction,
            secret_fields: crate::services::secret_config::secret_fields(&s.kind.config_schema),
            config_schema: Json(s.kind.config_schema.clone()),
            needs_connection: s.kind.direction == Direction::Connection,
            connected: s.connected,
        }
    }
}

#[derive(Default)]
pub struct IntegrationQuery;

#[Object]
impl IntegrationQuery {
    /// The kinds of service an integration can be made for (`slack`,
    /// `webhook`, then the connections catalog's services that take calls),
    /// with their config schema and whether the workspace has the
    /// connection each needs (any member).
    async fn integration_services(&self, ctx: &Context<'_>) -> Result<Vec<IntegrationService>> {
        let list = service::services(&ctx.app().db, ctx.principal()?).await?;
        Ok(list.into_iter().map(IntegrationService::from).collect())
    }

    /// The workspace's integrations, newest first (any member).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn integrations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only integrations of this service type (e.g. `slack`); null: all.")] service_type: Option<
            String,
        >,
        #[graphql(desc = "Only integrations with this status; null: all.")] status: Option<IntegrationStatus>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last integration of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the integrations just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first integration of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<Integration>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "int")?;
        let rows = service::list(&ctx.app().db, ctx.principal()?, service_type.as_deref(), status, &page).await?;
        Ok(connection(rows, |i| i.id.clone(), Integration::from))
    }

    /// One integration; null when it does not exist or is not the caller's.
    async fn integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`int_…`).")] id: ID,
    ) -> Result<Option<Integration>> {
        Ok(found(service::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Integration::from))
    }

    /// One sync run; null when it does not exist or is not the caller's.
    async fn integration_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`isr_…`).")] id: ID,
    ) -> Result<Option<IntegrationRun>> {
        Ok(found(service::run(&ctx.app().db, ctx.principal()?, &id).await)?.map(IntegrationRun::from))
    }
}

#[derive(Default)]
pub struct IntegrationSubscription;

#[Subscription]
impl IntegrationSubscription {
    /// Sync runs as they are queued, start and end, on any process (any
    /// member), optionally of one integration. Ends when the server shuts down.
    async fn integration_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs of this integration (`int_…`); none: every integration's.")] integration_id: Option<
            ID,
        >,
    ) -> Result<impl Stream<Item = IntegrationRun>> {
        let p = ctx.principal()?.require(Scope::Read)?;
        let only = integration_id.map(|i| i.0);
        let accept = |e: &crate::events::Envelope| e.event_type == service::RUN_MESSAGE;
        Ok(ctx
            .live_events(&p.workspace_id, Box::new(accept))
            .filter_map(move |e| {
                let run = service::run_from_live(&e).filter(|r| only.as_ref().is_none_or(|i| &r.integration_id == i));
                std::future::ready(run.map(IntegrationRun::from))
            })
            .take_until(ctx.app().shutdown.clone().cancelled_owned()))
    }
}

/// An integration to create.
#[derive(InputObject)]
pub struct CreateIntegrationInput {
    /// Its name, 1 to 100 characters.
    pub name: String,
    /// `slack` (an incoming-webhook URL), `webhook`, or a service of the
    /// connections catalog (needs the workspace's connection for it).
    pub service_type: String,
    /// The config for the service type: `slack` takes `webhook_url`
    /// (secret), `channel`, `username`, `events`; `webhook` takes `url`,
    /// `secret` (`whsec_…`), `events`; a connected service `test_path` and
    /// `sync` (`path`, `items_pointer`, `external_id_field`, `endpoint`,
    /// `environment`: a resource pulled into a data endpoint by external id).
    #[graphql(secret, default_with = "Json(serde_json::json!({}))")]
    pub config: Json<Value>,
    /// Auto-sync (default: off, every 300 seconds).
    pub settings: Option<IntegrationSettings>,
    /// A retry with the same key within 24 hours returns the first call's
    /// integration instead of creating another; with a different input it
    /// is refused (`IDEMPOTENCY_CONFLICT`). 1 to 255 visible ASCII characters.
    pub idempotency_key: Option<String>,
}

/// The new integration.
#[derive(SimpleObject)]
pub struct CreateIntegrationPayload {
    /// The integration; null when the input was refused.
    pub integration: Option<Integration>,
    /// Problems with the input (`input.config.<field>` for the config); empty on success.
    pub user_errors: Vec<UserError>,
}

/// Changes to an integration; a field left out (or null) stays as it is.
#[derive(InputObject)]
pub struct UpdateIntegrationInput {
    /// The integration (`int_…`).
    pub id: ID,
    /// A new name.
    pub name: MaybeUndefined<String>,
    /// The whole new config; a secret field sent as `***` keeps its stored value.
    #[graphql(secret)]
    pub config: MaybeUndefined<Json<Value>>,
    /// New auto-sync settings.
    pub settings: MaybeUndefined<IntegrationSettings>,
    /// `ACTIVE` or `INACTIVE` (an inactive integration does not auto-sync).
    pub status: MaybeUndefined<IntegrationStatus>,
}

/// The integration after the change.
#[derive(SimpleObject)]
pub struct UpdateIntegrationPayload {
    /// The integration; null when nothing changed.
    pub integration: Option<Integration>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names one integration.
#[derive(InputObject)]
pub struct DeleteIntegrationInput {
    /// The integration (`int_…`).
    pub id: ID,
}

/// What was deleted.
#[derive(SimpleObject)]
pub struct DeleteIntegrationPayload {
    /// The deleted integration's id; null when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names the integration to test.
#[derive(InputObject)]
pub struct TestIntegrationInput {
    /// The integration (`int_…`).
    pub id: ID,
}

/// The integration with the test's outcome (`lastTestAt`, `lastTestStatusCode`, `lastTestError`).
#[derive(SimpleObject)]
pub struct TestIntegrationPayload {
    /// The integration; null when the input was refused.
    pub integration: Option<Integration>,
    /// Whether the call got a 2xx answer; null when the input was refused.
    pub ok: Option<bool>,
    /// Problems with the input; empty when the test ran (passed or not).
    pub user_errors: Vec<UserError>,
}

/// Names the integration to sync.
#[derive(InputObject)]
pub struct SyncIntegrationInput {
    /// The integration (`int_…`).
    pub id: ID,
}

/// The queued run.
#[derive(SimpleObject)]
pub struct SyncIntegrationPayload {
    /// The run, queued: follow it with `integrationRun(id:)` or the `integrationRuns` subscription.
    pub run: Option<IntegrationRun>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct IntegrationMutation;

#[Object]
impl IntegrationMutation {
    /// Creates an integration (owner only). Emits `integration.created`.
    async fn create_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service, its config and settings.")] input: CreateIntegrationInput,
    ) -> Result<CreateIntegrationPayload> {
        let s = input.settings.unwrap_or(IntegrationSettings { auto_sync: false, sync_interval_seconds: 300 });
        let new = NewIntegration {
            name: input.name,
            service_type: input.service_type,
            config: input.config.0,
            settings: Settings { auto_sync: s.auto_sync, sync_interval_seconds: s.sync_interval_seconds },
        };
        let work = service::create(ctx.app(), ctx.principal()?, new);
        let done = crate::graphql::idempotency::once(ctx, input.idempotency_key.as_deref(), work).await;
        Ok(match user_errors(done)? {
            Ok(i) => CreateIntegrationPayload { integration: Some(i.into()), user_errors: vec![] },
            Err(problems) => CreateIntegrationPayload { integration: None, user_errors: problems },
        })
    }

    /// Changes an integration (owner only); its schedule follows its
    /// settings and status. Emits `integration.updated`.
    async fn update_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The integration and what to change.")] input: UpdateIntegrationInput,
    ) -> Result<UpdateIntegrationPayload> {
        let mut nn = NotNull::default();
        let changes = Changes {
            name: nn.take("name", input.name),
            config: nn.take("config", input.config).map(|c| c.0),
            settings: nn
                .take("settings", input.settings)
                .map(|s| Settings { auto_sync: s.auto_sync, sync_interval_seconds: s.sync_interval_seconds }),
            status: nn.take("status", input.status),
        };
        if let Err(e) = nn.check() {
            return Ok(UpdateIntegrationPayload { integration: None, user_errors: e });
        }
        Ok(match user_errors(service::update(ctx.app(), ctx.principal()?, &input.id, changes).await)? {
            Ok(i) => UpdateIntegrationPayload { integration: Some(i.into()), user_errors: vec![] },
            Err(problems) => UpdateIntegrationPayload { integration: None, user_errors: problems },
        })
    }

    /// Deletes an integration with its run history; its schedule stops
    /// (owner only). Emits `integration.deleted`.
    async fn delete_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The integration to delete.")] input: DeleteIntegrationInput,
    ) -> Result<DeleteIntegrationPayload> {
        Ok(match user_errors(service::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(i) => DeleteIntegrationPayload { deleted_id: Some(ID(i.id)), user_errors: vec![] },
            Err(problems) => DeleteIntegrationPayload { deleted_id: None, user_errors: problems },
        })
    }

    /// Makes one real call (members who may write): Slack gets a test
    /// message, a webhook a signed `integration.test` message, a connected
    /// service its who-am-I call. The outcome is recorded on the integration.
    async fn test_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The integration to test.")] input: TestIntegrationInput,
    ) -> Result<TestIntegrationPayload> {
        Ok(match user_errors(service::test(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(i) => TestIntegrationPayload {
                ok: Some(i.last_test_error.is_none()),
                integration: Some(i.into()),
                user_errors: vec![],
            },
            Err(problems) => TestIntegrationPayload { integration: None, ok: None, user_errors: problems },
        })
    }

    /// Runs the integration's sync now, as a job (members who may write):
    /// outbound, the events its filter selects since the last one sent, in
    /// order; inbound, its resource into its data endpoint by external id.
    /// One run of an integration at a time: one that finds another running
    /// ends `SKIPPED`.
    async fn sync_integration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The integration to sync.")] input: SyncIntegrationInput,
    ) -> Result<SyncIntegrationPayload> {
        Ok(match user_errors(service::request_sync(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(r) => SyncIntegrationPayload { run: Some(r.into()), user_errors: vec![] },
            Err(problems) => SyncIntegrationPayload { run: None, user_errors: problems },
        })
    }
}
