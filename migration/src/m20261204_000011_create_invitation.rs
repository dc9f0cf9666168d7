//! Invitations to a workspace. An invitation is not an account: it names an
//! email and a role, and only the account holder's own action (creating the
//! account with the token, or accepting it while signed in as that address)
//! turns it into a membership. Only the token's hash is stored.
//!
//! Owners used to receive the setup link of the accounts they added, which
//! let them set the password of someone else's account. Unused setup links
//! issued that way (the user was created by a member, not by the first start
//! or the admin command, whose actor is `system`) are revoked here; the
//! admin command prints a new link for anyone who still needs one.
use crate::cols::{cascade, id, text, timestamp, timestamp_null};
use crate::m20261123_000001_create_workspace_user::Workspace;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Invitation::Table)
                .col(id(Invitation::Id))
                .col(text(Invitation::WorkspaceId))
                .col(text(Invitation::Email))
                .col(text(Invitation::Role))
                .col(text(Invitation::InvitedBy))
                .col(text(Invitation::TokenHash).unique_key())
                .col(timestamp(Invitation::ExpiresAt))
                .col(timestamp_null(Invitation::AcceptedAt))
                .col(timestamp(Invitation::CreatedAt))
                .foreign_key(&mut cascade(
                    (Invitation::Table, Invitation::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        // At most one pending invitation per (workspace, email): inviting
        // again replaces it, and two owners inviting at once cannot leave two.
        m.create_index(
            Index::create()
                .name("ux_invitation_pending")
                .table(Invitation::Table)
                .col(Invitation::WorkspaceId)
                .col(Invitation::Email)
                .unique()
                .and_where(Expr::col(Invitation::AcceptedAt).is_null())
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "DELETE FROM login_token WHERE used_at IS NULL AND user_id IN \
                 (SELECT subject_id FROM event WHERE event_type = 'user.created' AND actor <> 'system' \
                  AND subject_id IS NOT NULL)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Invitation::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Invitation {
    Table,
    Id,
    WorkspaceId,
    Email,
    Role,
    InvitedBy,
    TokenHash,
    ExpiresAt,
    AcceptedAt,
    CreatedAt,
}
