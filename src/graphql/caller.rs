//! Every operation on a WebSocket runs with its caller as they are now: the
//! connection keeps its credential ([`LiveCaller`]) in its session data, and
//! [`super::Api`] resolves it again (through the auth cache) before each
//! operation, so a demotion, a scope change, a removal or a deleted key
//! takes effect on the next operation. HTTP requests carry their freshly
//! resolved caller already and pass through untouched.

use std::any::TypeId;

use async_graphql::{Data, Request, ServerError};

use crate::auth::LiveCaller;
use crate::error::Error;
use crate::state::AppState;

/// The credential a WebSocket connection keeps, if it has one.
pub fn live_caller(session: &Data) -> Option<&LiveCaller> {
    session.get(&TypeId::of::<LiveCaller>()).and_then(|d| d.downcast_ref::<LiveCaller>())
}

/// The request with the connection's caller as it is now, or the error an
/// operation gets when the credential no longer works.
pub async fn with_current_caller(app: &AppState, live: &LiveCaller, request: Request) -> Result<Request, ServerError> {
    let found = live
        .resolve(app)
        .await
        .and_then(|p| p.ok_or_else(|| Error::Unauthorized("This connection's credentials were revoked".into())));
    match found {
        Ok(principal) => Ok(request.data(principal)),
        Err(e) => Err(async_graphql::Error::from(e).into_server_error(Default::default())),
    }
}
