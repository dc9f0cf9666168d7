//! What each subcommand does: serve, migrate, schema, admin.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use entity::{membership, user};

use crate::auth::{Role, Scope};
use crate::config::{AdminCommand, Config, EnvironmentArg, RoleArg};
use crate::error::{Error, Result};
use crate::services::api_keys::{self, Environment, NewApiKey};
use crate::services::{members, sessions, workspaces};
use crate::state::AppState;

/// Serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: Config) -> Result<()> {
    let server = crate::start(config).await?;
    crate::db::release_startup_memory(&server.state.db, &server.state.writer).await;
    println!("Switchyard {} listening on http://{}", env!("CARGO_PKG_VERSION"), server.addr);
    println!("GraphQL: {0}/graphql   Playground: {0}/playground", server.state.config.public_url());
    if let Some(url) = &server.setup_url {
        println!();
        println!("First start: an owner account ({}) was created.", server.state.config.owner_email);
        println!("Open this one-time link within 24 hours to set its password and sign in:");
        println!("  {url}");
        println!(
            "(Lost it? `switchyard admin setup-link --email {}` makes a new one.)",
            server.state.config.owner_email
        );
        println!();
    }
    shutdown_signal().await;
    tracing::info!("shutdown signal received; draining");
    server.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Applies migrations and exits (needs only the database: no secret key
/// is read or made, no Redis is asked).
pub async fn migrate(config: Config) -> Result<()> {
    crate::db::migrate(&config).await?;
    println!("migrations applied");
    Ok(())
}

async fn find_user(st: &AppState, email: &str) -> Result<user::Model> {
    let email = members::normalize_email(email)?;
    user::Entity::find().filter(user::Column::Email.eq(&email)).one(&st.db).await?.ok_or(Error::NotFound("User"))
}

/// The user's membership in `workspace`, or their oldest one.
async fn find_membership(st: &AppState, user_id: &str, workspace: Option<&str>) -> Result<membership::Model> {
    let mut q = membership::Entity::find().filter(membership::Column::UserId.eq(user_id));
    if let Some(ws) = workspace {
        q = q.filter(membership::Column::WorkspaceId.eq(ws));
    }
    q.order_by_asc(membership::Column::Id).one(&st.db).await?.ok_or(Error::NotFound("Membership"))
}

fn setup_url(st: &AppState, token: &str) -> String {
    format!("{}/setup?token={token}", st.config.public_url())
}

pub async fn admin(config: Config, cmd: AdminCommand) -> Result<()> {
    let st = crate::build_state(config).await?;
    match cmd {
        AdminCommand::CreateUser { email, name, workspace, new_workspace, member_role } => {
            let name = Some(name.as_str()).filter(|n| !n.is_empty());
            let (ws_id, member, token) = match (workspace, new_workspace) {
                (_, Some(ws_name)) => {
                    let (ws, member, token) = workspaces::create_with_owner(&st, &ws_name, &email, name).await?;
                    (ws.id, member, token)
                }
                (Some(ws), None) => {
                    let role = match member_role {
                        RoleArg::Owner => Role::Owner,
                        RoleArg::Collaborator => Role::Collaborator,
                    };
                    let (member, token) = members::add_unchecked(&st, &ws, "system", &email, name, role).await?;
                    (ws, member, token)
                }
                (None, None) => {
                    return Err(Error::invalid(
                        "Give --workspace <ws_…> to join, or --new-workspace <NAME> to create one",
                    ))
                }
            };
            println!("user {} ({}) is {} of {ws_id}", member.user.id, member.user.email, member.membership.role);
            if let Some(t) = token {
                println!("one-time setup link (24 h): {}", setup_url(&st, &t));
            }
        }
        AdminCommand::CreateApiKey { email, workspace, name, scopes, environment } => {
            let user = find_user(&st, &email).await?;
            let m = find_membership(&st, &user.id, workspace.as_deref()).await?;
            let permissions = scopes
                .iter()
                .map(|s| {
                    Scope::parse(s.trim()).ok_or_else(|| Error::invalid_field("scopes", format!("Unknown scope '{s}'")))
                })
                .collect::<Result<Vec<_>>>()?;
            let environment = match environment {
                EnvironmentArg::Test => Environment::Test,
                EnvironmentArg::Live => Environment::Live,
            };
            let input = NewApiKey { name, description: None, permissions, expires_at: None, environment };
            let (key, secret) = api_keys::insert(&st, &m.workspace_id, &user.id, "system", input).await?;
            eprintln!("created {} in {} (shown once):", key.id, key.workspace_id);
            println!("{secret}");
        }
        AdminCommand::SetupLink { email } => {
            let user = find_user(&st, &email).await?;
            let m = find_membership(&st, &user.id, None).await?;
            let token = sessions::issue_setup_token(&st.writer, &st.secret, &user.id, &m.workspace_id).await?;
            println!("{}", setup_url(&st, &token));
        }
    }
    st.db.clone().close().await?;
    st.writer.clone().close().await?;
    Ok(())
}
