//! SeaORM entities: one module per table. The database is the ledger of
//! Switchyard; these types are internal and never exposed in the public
//! GraphQL schema directly (see `src/graphql/`, which has its own types).

pub mod action;
pub mod action_run;
pub mod action_trigger;
pub mod api_key;
pub mod api_key_usage;
pub mod connection;
pub mod connection_attempt;
pub mod connection_call;
pub mod data_endpoint;
pub mod data_key;
pub mod delivery;
pub mod delivery_attempt;
pub mod endpoint_usage;
pub mod event;
pub mod idempotency_key;
pub mod integration;
pub mod integration_item;
pub mod integration_run;
pub mod invitation;
pub mod job;
pub mod login_token;
pub mod membership;
pub mod oauth_app;
pub mod oauth_app_usage;
pub mod oauth_authorization;
pub mod oauth_grant;
pub mod oauth_token;
pub mod plugin;
pub mod plugin_call;
pub mod plugin_manifest;
pub mod provider_setting;
pub mod record;
pub mod schedule;
pub mod session;
pub mod user;
pub mod webhook;
pub mod workspace;

pub mod prelude;
