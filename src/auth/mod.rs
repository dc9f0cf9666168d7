//! Who is calling: API keys (`Authorization: Bearer sk_…`) and browser
//! sessions (an HttpOnly cookie) both resolve to a [`Principal`]; the rate
//! limiter and the usage recorder hang off that resolution. [`passwords`]
//! caps the password hashing that sign-in does for anonymous callers.

pub mod cache;
pub mod live;
pub mod passwords;
mod principal;
pub mod rate_limit;
mod resolve;
pub mod usage;

pub use cache::invalidate;
pub use principal::{Credential, Principal, Role, Scope};
pub use resolve::{
    authenticate, authenticate_session, authenticate_token, session_cookie_token, LiveCaller, SESSION_COOKIE,
};
