//! The resolved caller and the checks every resolver makes against it.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::services::api_keys::Environment;

/// A member's role in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Role {
    /// Full control, including members and API keys.
    Owner,
    /// Works with the workspace's data; cannot manage members or keys.
    Collaborator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Collaborator => "collaborator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "collaborator" => Some(Self::Collaborator),
            _ => None,
        }
    }
}

/// A permission an API key carries. Browser sessions carry all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, async_graphql::Enum)]
pub enum Scope {
    /// Every query and subscription.
    Read,
    /// Every mutation.
    Write,
    /// Managing members and API keys (with the owner role).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    ApiKey {
        id: String,
        /// `sk_test_…` or `sk_live_…`: the only records the key sees. A key
        /// keeps its environment for life (a roll too), so a cached
        /// principal never holds a stale one.
        environment: Environment,
    },
    Session {
        id: String,
    },
    /// An access token of an OAuth app (`oat_…`), acting for a user.
    OAuthToken {
        /// The token (`otk_…`).
        id: String,
        /// The app it was issued to (`app_…`).
        app_id: String,
        /// The grant it descends from (`ogr_…`): the rate limit's key.
        grant_id: String,
        /// The user's consent it came from; `None` for client credentials.
        authorization_id: Option<String>,
    },
}

/// The authenticated caller, scoped to exactly one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub workspace_id: String,
    pub user_id: String,
    pub role: Role,
    pub scopes: BTreeSet<Scope>,
    pub credential: Credential,
}

impl Principal {
    /// The id recorded as an event's actor: the API key, the OAuth app or the user.
    pub fn actor(&self) -> &str {
        match &self.credential {
            Credential::ApiKey { id, .. } => id,
            Credential::OAuthToken { app_id, .. } => app_id,
            Credential::Session { .. } => &self.user_id,
        }
    }

    /// The key the rate limiter counts against: the API key, the session,
    /// or an OAuth token's grant (so a refresh does not reset the budget).
    pub fn rate_key(&self) -> &str {
        match &self.credential {
            Credential::ApiKey { id, .. } | Credential::Session { id } => id,
            Credential::OAuthToken { grant_id, .. } => grant_id,
        }
    }

    /// The one environment whose records this caller may see, or
    /// `None` for both. An API key is confined to its own (sandbox code must
    /// never touch production data, nor the reverse); a browser session (the
    /// owner's dashboard and console) and an OAuth token, whose grant names
    /// no environment, see both, as they choose with filters.
    pub fn records_environment(&self) -> Option<Environment> {
        match &self.credential {
            Credential::ApiKey { environment, .. } => Some(*environment),
            Credential::Session { .. } | Credential::OAuthToken { .. } => None,
        }
    }

    /// Whether this caller may do at least everything `other` may: the same
    /// user in the same workspace, a role as high and every scope of it.
    pub fn covers(&self, other: &Principal) -> bool {
        let rank = |r: Role| match r {
            Role::Owner => 1,
            Role::Collaborator => 0,
        };
        self.workspace_id == other.workspace_id
            && self.user_id == other.user_id
            && rank(self.role) >= rank(other.role)
            && self.scopes.is_superset(&other.scopes)
    }

    /// FORBIDDEN unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Self> {
        if self.scopes.contains(&scope) {
            Ok(self)
        } else {
            Err(Error::Forbidden(format!("This API key lacks the '{}' permission", scope.as_str())))
        }
    }

    /// FORBIDDEN unless the caller is the workspace owner (and holds `admin`).
    pub fn require_owner(&self) -> Result<&Self> {
        self.require(Scope::Admin)?;
        if self.role == Role::Owner {
            Ok(self)
        } else {
            Err(Error::Forbidden("Only the workspace owner may do this".into()))
        }
    }
}
