//! Every operation on a WebSocket runs with its caller as they are now: the
//! connection keeps its credential ([`LiveCaller`]), and this extension
//! resolves it again (through the auth cache) before each operation, so a
//! demotion, a scope change, a removal or a deleted key takes effect on the
//! next operation. HTTP requests carry their freshly resolved caller
//! already and pass through untouched.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{Request, ServerResult};

use crate::auth::LiveCaller;
use crate::error::Error;
use crate::state::AppState;

pub struct CurrentCaller;

impl ExtensionFactory for CurrentCaller {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CurrentCallerExtension)
    }
}

struct CurrentCallerExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for CurrentCallerExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let Some(live) = ctx.data_opt::<LiveCaller>() else { return next.run(ctx, request).await };
        let app = ctx.data_unchecked::<AppState>();
        let found = live
            .resolve(app)
            .await
            .and_then(|p| p.ok_or_else(|| Error::Unauthorized("This connection's credentials were revoked".into())));
        match found {
            Ok(principal) => next.run(ctx, request.data(principal)).await,
            Err(e) => {
                let mut err = async_graphql::Error::from(e).into_server_error(Default::default());
                super::errors::annotate(&mut err);
                Err(err)
            }
        }
    }
}
