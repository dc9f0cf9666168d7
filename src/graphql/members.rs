//! Workspace members: list, change role, remove (joining goes through
//! invitations).

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::Role;
use async_graphql::Result;

use crate::error::Error;
use crate::graphql::pagination::{connection, page_args, Conn};
use crate::graphql::viewer::User;
use crate::graphql::ContextExt;
use crate::services::members::{self, Member as MemberRow};

/// A user's membership in the workspace.
#[derive(SimpleObject)]
pub struct Member {
    /// The membership id (`mem_…`).
    pub id: ID,
    pub user: User,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl From<MemberRow> for Member {
    fn from(m: MemberRow) -> Self {
        Self {
            id: ID(m.membership.id),
            user: m.user.into(),
            role: Role::parse(&m.membership.role).unwrap_or(Role::Collaborator),
            joined_at: m.membership.created_at,
        }
    }
}

#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// Members of the workspace, newest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last member of the previous page.")] after: Option<String>,
    ) -> Result<Conn<Member>> {
        let page = page_args(ctx, first, after, "mem")?;
        let rows = members::list(&ctx.app().db, ctx.principal()?, &page).await?;
        Ok(connection(rows, |m| m.membership.id.clone(), Member::from))
    }
}

#[derive(SimpleObject)]
pub struct RemoveMemberPayload {
    pub removed_user_id: ID,
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Changes a member's role (owner only; a workspace keeps at least one owner).
    async fn update_member_role(&self, ctx: &Context<'_>, user_id: ID, role: Role) -> Result<Member> {
        Ok(members::update_role(ctx.app(), ctx.principal()?, &user_id, role).await?.into())
    }

    /// Removes a member (owner only). Emits `member.removed`, and
    /// `user.deleted` when the user belongs to no other workspace.
    async fn remove_member(&self, ctx: &Context<'_>, user_id: ID) -> Result<RemoveMemberPayload> {
        if user_id.is_empty() {
            return Err(Error::invalid_field("userId", "Required field is missing").into());
        }
        members::remove(ctx.app(), ctx.principal()?, &user_id).await?;
        Ok(RemoveMemberPayload { removed_user_id: user_id })
    }
}
