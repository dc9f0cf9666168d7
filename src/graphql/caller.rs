//! Every operation on a WebSocket runs with its caller as they are now: the
//! connection keeps its credential ([`LiveCaller`]) in its session data, and
//! [`super::Api`] resolves it again (through the auth cache) before each
//! operation, so a demotion, a scope change, a removal or a deleted key
//! takes effect on the next operation. HTTP requests carry their freshly
//! resolved caller already and pass through untouched.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::{Data, Request, ServerError};

use crate::auth::{LiveCaller, Principal};
use crate::error::Error;
use crate::state::AppState;

/// The credential a WebSocket connection keeps, if it has one.
pub fn live_caller(session: &Data) -> Option<&LiveCaller> {
    session.get(&TypeId::of::<LiveCaller>()).and_then(|d| d.downcast_ref::<LiveCaller>())
}

/// The request with the connection's caller as it is now, or the error an
/// operation gets when the credential no longer works.
pub async fn with_current_caller(app: &AppState, live: &LiveCaller, request: Request) -> Result<Request, ServerError> {
    Ok(request.data(current_principal(app, live).await?))
}

/// The connection's caller as they are now, or the error an operation gets
/// when the credential no longer works.
pub async fn current_principal(app: &AppState, live: &LiveCaller) -> Result<Arc<Principal>, ServerError> {
    live.resolve(app)
        .await
        .and_then(|p| p.ok_or_else(|| Error::Unauthorized("This connection's credentials were revoked".into())))
        .map_err(|e| async_graphql::Error::from(e).into_server_error(Default::default()))
}
