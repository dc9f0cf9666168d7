//! End-to-end tests: each boots the real server on 127.0.0.1:0 and talks to
//! it over HTTP and WebSocket. Every test runs on SQLite, and again on
//! PostgreSQL when `SWITCHYARD_TEST_DATABASE_URL` is set, each run on a
//! database of its own.

mod helpers;

mod actions;
mod admin;
mod api_keys;
mod auth;
mod bad_input;
mod charts;
mod connections;
mod console;
mod conventions;
mod cost;
mod data;
mod data_admin;
mod events;
mod hardening;
mod idempotency;
mod ingest;
mod integrations;
mod invitations;
mod jobs;
mod layers;
mod live_power;
mod logs;
mod members;
mod multiprocess;
mod nodes;
mod oauth;
mod plugins;
mod queue;
mod rate_limit;
mod record_environments;
mod rest_v1;
mod server;
mod tenancy;
mod webhooks;
