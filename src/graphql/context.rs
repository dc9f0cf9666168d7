//! Reading the application state and the caller from a resolver's context.

use async_graphql::Context;

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;

pub trait ContextExt {
    /// The application state (always present in a built schema).
    fn app(&self) -> &AppState;
    /// The authenticated caller, or UNAUTHORIZED.
    fn principal(&self) -> Result<&Principal>;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn principal(&self) -> Result<&Principal> {
        self.data_opt::<Principal>().ok_or_else(|| {
            Error::Unauthorized("Authentication required: send 'Authorization: Bearer <API key>' or sign in".into())
        })
    }
}
