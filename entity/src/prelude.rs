pub use super::api_key::Entity as ApiKey;
pub use super::api_key_usage::Entity as ApiKeyUsage;
pub use super::event::Entity as Event;
pub use super::login_token::Entity as LoginToken;
pub use super::membership::Entity as Membership;
pub use super::session::Entity as Session;
pub use super::user::Entity as User;
pub use super::workspace::Entity as Workspace;
