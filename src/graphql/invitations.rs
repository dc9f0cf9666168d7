//! Invitations: owners invite an email with a role; the invitee accepts
//! with the one-time link (see `services::invitations`). Inviting creates no
//! account and no membership and tells nothing about accounts.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::Role;
use crate::error::Error;
use crate::graphql::cost;
use crate::graphql::pagination::{connection, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::viewer::Workspace;
use crate::graphql::ContextExt;
use crate::services::invitations;
use crate::services::PageArgs;

/// A pending invitation to join the workspace. It becomes a membership only
/// when the invited person accepts it with its link.
#[derive(SimpleObject)]
pub struct Invitation {
    /// The invitation id (`inv_…`).
    pub id: ID,
    /// The invited address, lower-cased.
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: Role,
    /// When the link stops working (7 days after it was sent).
    pub expires_at: DateTime<Utc>,
    /// When the invitation was sent.
    pub created_at: DateTime<Utc>,
}

impl From<entity::invitation::Model> for Invitation {
    fn from(i: entity::invitation::Model) -> Self {
        Self {
            role: invitations::role_of(&i),
            id: ID(i.id),
            email: i.email,
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// Pending invitations of the workspace, newest first; expired ones stay
    /// listed until sent again, revoked, or 30 days past their expiry
    /// (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last invitation of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the invitations just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first invitation of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<Invitation>> {
        let page =
            PageArgs::window((first, after), (last, before), order_by.unwrap_or_default().oldest_first(), "inv")?;
        let rows = invitations::list(&ctx.app().db, ctx.principal()?, &page).await?;
        Ok(connection(rows, |i| i.id.clone(), Invitation::from))
    }
}

/// Whom to invite, and as what.
#[derive(InputObject)]
pub struct InviteMemberInput {
    /// The address to invite; it need not have an account yet.
    pub email: String,
    /// The role the invitee gets on accepting (default `COLLABORATOR`).
    #[graphql(default_with = "Role::Collaborator")]
    pub role: Role,
}

/// The invitation and its one-time link. The link is shown only here: pass
/// it on to the invitee, who accepts it themselves.
#[derive(SimpleObject)]
pub struct InviteMemberPayload {
    /// The pending invitation; `null` when nothing was sent.
    pub invitation: Option<Invitation>,
    /// `{public URL}/invite?token=…`: the invitee opens it to create their
    /// account or, signed in to an existing one, to accept.
    pub accept_url: Option<String>,
    /// Problems with the input (`TAKEN`: already a member); when there are
    /// any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The invitation to revoke.
#[derive(InputObject)]
pub struct RevokeInvitationInput {
    /// A pending invitation's id (`inv_…`).
    pub id: ID,
}

/// The outcome of `revokeInvitation`.
#[derive(SimpleObject)]
pub struct RevokeInvitationPayload {
    /// The id of the invitation deleted (its link no longer works); `null`
    /// when nothing changed.
    pub deleted_id: Option<ID>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The invitation to accept.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The token of the invitation link (the `token` parameter of its URL).
    #[graphql(secret)]
    pub token: String,
}

/// The workspace joined by accepting an invitation.
#[derive(SimpleObject)]
pub struct AcceptInvitationPayload {
    /// The workspace joined; the session now works in it. `null` when
    /// nothing changed.
    pub workspace: Option<Workspace>,
    /// The caller's role there; `null` when nothing changed.
    pub role: Option<Role>,
    /// Problems with the input (a used, revoked or expired link, or one for
    /// another address); when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites an email address to the workspace (owner only). Creates no
    /// account and no membership: the invitee accepts with the returned
    /// link. Inviting an address again replaces its pending invitation.
    /// Emits `member.invited`.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whom to invite, and as what.")] input: InviteMemberInput,
    ) -> Result<InviteMemberPayload> {
        let st = ctx.app();
        Ok(match user_errors(invitations::invite(st, ctx.principal()?, &input.email, input.role).await)? {
            Ok((inv, token)) => InviteMemberPayload {
                invitation: Some(inv.into()),
                accept_url: Some(format!("{}/invite?token={token}", st.config.public_url())),
                user_errors: vec![],
            },
            Err(e) => InviteMemberPayload { invitation: None, accept_url: None, user_errors: e },
        })
    }

    /// Revokes a pending invitation; its link stops working (owner only).
    async fn revoke_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invitation to revoke.")] input: RevokeInvitationInput,
    ) -> Result<RevokeInvitationPayload> {
        Ok(match user_errors(invitations::revoke(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => RevokeInvitationPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(e) => RevokeInvitationPayload { deleted_id: None, user_errors: e },
        })
    }

    /// Accepts an invitation addressed to the signed-in user's email and
    /// moves the session to that workspace (browser sessions only; API keys
    /// get FORBIDDEN). Emits `member.added` there.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invitation link's token.")] input: AcceptInvitationInput,
    ) -> Result<AcceptInvitationPayload> {
        let p = ctx.principal()?;
        let out = if input.token.is_empty() {
            Err(Error::invalid_field("token", "Required field is missing"))
        } else {
            invitations::accept_signed_in(ctx.app(), p, &input.token).await
        };
        Ok(match user_errors(out)? {
            Ok(out) => AcceptInvitationPayload {
                workspace: Some(out.workspace.into()),
                role: Some(out.role),
                user_errors: vec![],
            },
            Err(e) => AcceptInvitationPayload { workspace: None, role: None, user_errors: e },
        })
    }
}
