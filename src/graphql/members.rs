//! Workspace members: list, change role, remove (joining goes through
//! invitations).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::Role;
use async_graphql::Result;

use crate::graphql::cost;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::viewer::User;
use crate::graphql::ContextExt;
use crate::services::members::{self, Member as MemberRow};

/// A user's membership in the workspace.
#[derive(SimpleObject)]
pub struct Member {
    /// The membership id (`mem_…`).
    pub id: ID,
    /// The member's account.
    pub user: User,
    /// `OWNER` (manages keys, members, webhooks) or `COLLABORATOR`.
    pub role: Role,
    /// When they joined the workspace.
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

/// Which members to list.
#[derive(InputObject, Default)]
pub struct MemberFilterInput {
    /// Only owners or only collaborators.
    pub role: Option<Role>,
}

#[Object]
impl MemberQuery {
    /// Members of the workspace, newest first (any member).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last member of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the members just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first member of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which members; none: all of them.")] filter: Option<MemberFilterInput>,
    ) -> Result<Conn<Member>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "mem")?;
        let role = filter.and_then(|f| f.role);
        let rows = members::list(&ctx.app().db, ctx.principal()?, role, &page).await?;
        Ok(connection(rows, |m| m.membership.id.clone(), Member::from))
    }
}

/// A member's new role.
#[derive(InputObject)]
pub struct UpdateMemberRoleInput {
    /// The membership id (`mem_…`), as `members` lists it.
    pub id: ID,
    /// The new role.
    pub role: Role,
}

/// The member after the change.
#[derive(SimpleObject)]
pub struct UpdateMemberRolePayload {
    /// The member; `null` when nothing changed.
    pub member: Option<Member>,
    /// Problems with the input (`LAST_OWNER`: the workspace would have no
    /// owner left); when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The member to remove.
#[derive(InputObject)]
pub struct RemoveMemberInput {
    /// The membership id (`mem_…`), as `members` lists it.
    pub id: ID,
}

/// The outcome of `removeMember`.
#[derive(SimpleObject)]
pub struct RemoveMemberPayload {
    /// The id of the membership removed; `null` when nothing was removed.
    pub deleted_id: Option<ID>,
    /// Problems with the input (`LAST_OWNER`: the workspace would have no
    /// owner left); when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Changes a member's role (owner only; a workspace keeps at least one
    /// owner). Emits `member.updated`.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The member and the new role.")] input: UpdateMemberRoleInput,
    ) -> Result<UpdateMemberRolePayload> {
        Ok(match user_errors(members::update_role(ctx.app(), ctx.principal()?, &input.id, input.role).await)? {
            Ok(m) => UpdateMemberRolePayload { member: Some(m.into()), user_errors: vec![] },
            Err(e) => UpdateMemberRolePayload { member: None, user_errors: e },
        })
    }

    /// Removes a member (owner only): their sessions end and their keys stop
    /// working here. Emits `member.removed`, and `user.deleted` when the
    /// user belongs to no other workspace.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The member to remove.")] input: RemoveMemberInput,
    ) -> Result<RemoveMemberPayload> {
        Ok(match user_errors(members::remove(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => RemoveMemberPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(e) => RemoveMemberPayload { deleted_id: None, user_errors: e },
        })
    }
}
