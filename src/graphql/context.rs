//! Reading the application state and the caller from a resolver's context.

use std::sync::Arc;

use async_graphql::Context;

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::events::fanout::{Accept, Carried, Subscription, TooSlow};
use crate::state::AppState;

pub trait ContextExt {
    /// The application state (always present in a built schema).
    fn app(&self) -> &AppState;
    /// The authenticated caller, or UNAUTHORIZED.
    fn principal(&self) -> Result<&Principal>;
    /// Live events of one workspace that `accept` keeps (tenancy is enforced
    /// here, before anything leaves the server). Over a WebSocket, a
    /// subscription that falls too far behind closes its connection (see
    /// `events::fanout`).
    fn live_events(&self, workspace_id: &str, accept: Accept) -> Subscription;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn principal(&self) -> Result<&Principal> {
        self.data_opt::<Arc<Principal>>().map(|p| &**p).ok_or_else(|| {
            Error::Unauthorized("Authentication required: send 'Authorization: Bearer <API key>' or sign in".into())
        })
    }

    fn live_events(&self, workspace_id: &str, accept: Accept) -> Subscription {
        let too_slow = self.data_opt::<TooSlow>().cloned().unwrap_or_default();
        let carried = self.data_opt::<Carried>().cloned();
        self.app().live.subscribe(workspace_id, accept, too_slow.0, carried)
    }
}
