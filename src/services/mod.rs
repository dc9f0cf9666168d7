//! The service layer: every rule and every database call, one module per
//! resource. Functions take the caller's [`Principal`](crate::auth::Principal)
//! and scope every query by its workspace; writes record their events in the
//! same transaction and publish them after the commit. Nothing here knows
//! about HTTP or GraphQL.

pub mod actions;
pub mod api_keys;
pub mod cached;
pub mod charts;
pub mod connections;
pub mod data_cache;
pub mod data_endpoints;
pub mod deliveries;
pub mod events;
pub mod idempotency;
pub mod integrations;
pub mod invitations;
pub mod jobs;
pub mod maintenance;
pub mod members;
pub mod oauth;
pub mod pagination;
pub mod plugins;
pub mod records;
pub mod secret_config;
pub mod sessions;
pub mod waiting;
pub mod webhooks;
pub mod workspaces;

pub use pagination::{Page, PageArgs};
pub use waiting::{Waiting, MAX_WAIT};

/// Installs the services' hooks into the event engine (idempotent).
pub fn register_event_hooks() {
    crate::events::hooks::register(webhooks::WebhookFanOut);
    crate::events::hooks::register(actions::triggers::ActionFanOut);
    crate::events::hooks::register(plugins::calls::PluginFanOut);
    crate::events::hooks::register(integrations::paused::IntegrationFanOut);
}

/// The job engine's registry with the handler of every job kind the
/// services own added.
pub fn register_jobs(mut registry: crate::jobs::Registry) -> crate::jobs::Registry {
    registry
        .add(maintenance::Prune)
        .add(charts::rollup::RollUp)
        .add(connections::refresh::RefreshDue)
        .add(connections::call::CallQueued)
        .add(actions::runs::RunAction)
        .add(actions::triggers::ScheduleDue)
        .add(deliveries::Deliver)
        .add(records::ProcessRecord)
        .add(records::RecordCallback)
        .add(plugins::calls::PluginHook)
        .add(plugins::actions::PluginAction)
        .add(integrations::sync::IntegrationSync)
        .add(integrations::paused::ResumeStranded);
    registry
}

/// Creates (or updates) the recurring jobs the services own: the hourly
/// prune, the delivery chart's rollup every minute, the scan for
/// connection tokens due for a refresh, the scan for scheduled actions
/// due to start and the one for paused syncs whose connection came back.
pub async fn ensure_schedules(st: &crate::state::AppState) -> crate::Result<()> {
    use std::time::Duration;
    let ensure = crate::jobs::schedules::ensure;
    ensure(st, maintenance::KIND, maintenance::KIND, serde_json::json!({}), Duration::from_secs(3600)).await?;
    let kind = charts::rollup::KIND;
    ensure(st, kind, kind, serde_json::json!({}), charts::rollup::EVERY).await?;
    let every = Duration::from_secs(st.config.connection_refresh_interval_seconds);
    ensure(st, connections::refresh::KIND, connections::refresh::KIND, serde_json::json!({}), every).await?;
    let kind = integrations::paused::RESUME_KIND;
    ensure(st, kind, kind, serde_json::json!({}), integrations::paused::RESUME_EVERY).await?;
    let kind = actions::triggers::SCHEDULE_KIND;
    ensure(st, kind, kind, serde_json::json!({}), actions::triggers::schedule_every(st)).await
}

/// Trims and checks a required, bounded text field.
pub(crate) fn required_text(field: &str, value: &str, max: usize) -> crate::Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(crate::Error::invalid_field(field, "Required field is missing"));
    }
    bounded_text(field, v, max)
}

/// Trims and checks an optional, bounded text field.
pub(crate) fn bounded_text(field: &str, value: &str, max: usize) -> crate::Result<String> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(crate::Error::invalid_field(field, format!("Must be at most {max} characters")));
    }
    // PostgreSQL cannot store it; GraphQL refuses it before this, the
    // `/v1` routes here.
    if v.contains('\0') {
        return Err(crate::Error::invalid_field(field, "Must not contain the NUL character (\\u0000)"));
    }
    Ok(v.to_string())
}
