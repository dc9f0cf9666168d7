//! The catalog of services a workspace can connect (seed 000), loaded from
//! `catalog.json`: data, not code per provider. Each entry gives the auth
//! kind, the OAuth URLs, default scopes, the API base URL, how to read the
//! account name, and the provider's documented rate limit with its source.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// What kind of service it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderCategory {
    /// Social media.
    Social,
    /// Office and team tools.
    Productivity,
    /// Shops and payments.
    Commerce,
    /// A service described by the workspace itself.
    Custom,
}

/// How a connection proves itself to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthKind {
    /// The user signs in at the provider and approves (authorization code).
    #[graphql(name = "OAUTH2")]
    Oauth2,
    /// A secret key or personal token, sent as a bearer token.
    ApiKey,
    /// A user name and password (or key and secret), HTTP Basic.
    Basic,
    /// Nothing: the service calls us (incoming webhooks).
    None,
}

/// Where to read the connected account's name.
#[derive(Debug, Clone, Deserialize)]
pub struct AccountLookup {
    /// Path under the API base URL, e.g. `/me?fields=username`.
    pub path: String,
    /// JSON pointer into the answer, e.g. `/username`.
    pub field: String,
    /// Put before the value, e.g. `@`.
    pub prefix: String,
}

/// A provider's documented rate limit.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
    /// Who the limit counts: `user`, `app` or `workspace`.
    pub per: String,
    /// Where the figure comes from.
    pub source: String,
}

/// One service of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Provider {
    pub key: String,
    pub name: String,
    pub category: ProviderCategory,
    pub auth: AuthKind,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_base_url: Option<String>,
    pub scopes: Vec<String>,
    /// How the provider joins scopes in `scope` (`,` for several).
    pub scope_separator: String,
    pub pkce: bool,
    /// The name the provider gives the client id where it departs from
    /// OAuth's `client_id` (TikTok: `client_key`). Such a provider gets it
    /// under that name on the authorize URL and in the token request body,
    /// with the client secret in the body too.
    #[serde(default)]
    pub client_id_param: Option<String>,
    /// Extra query parameters of the authorize URL (e.g. Google's `access_type`).
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Headers every API call needs (e.g. `Notion-Version`).
    #[serde(default)]
    pub api_headers: BTreeMap<String, String>,
    pub account: Option<AccountLookup>,
    pub rate_limit: Option<RateLimit>,
    /// Why there is no figure, when there is none.
    #[serde(default)]
    pub rate_limit_note: Option<String>,
}

#[derive(Deserialize)]
struct Catalog {
    providers: Vec<Provider>,
}

static CATALOG: LazyLock<Vec<Provider>> = LazyLock::new(|| {
    let c: Catalog = serde_json::from_str(include_str!("catalog.json")).expect("catalog.json is valid");
    c.providers
});

/// Every provider, in catalog order.
pub fn all() -> &'static [Provider] {
    &CATALOG
}

/// The provider with this key.
pub fn get(key: &str) -> Option<&'static Provider> {
    CATALOG.iter().find(|p| p.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_names_the_seeds_eighteen_services_each_complete() {
        assert_eq!(all().len(), 18);
        let instagram = get("instagram").unwrap();
        assert_eq!(instagram.scopes, ["instagram_basic", "instagram_content_publish", "instagram_manage_insights"]);
        let limit = instagram.rate_limit.as_ref().unwrap();
        assert_eq!((limit.requests, limit.per_seconds, limit.per.as_str()), (200, 3600, "user"));
        for p in all() {
            if p.auth == AuthKind::Oauth2 {
                assert!(p.authorize_url.is_some() && p.token_url.is_some(), "{} needs its OAuth URLs", p.key);
            }
            assert!(p.rate_limit.is_some() || p.rate_limit_note.is_some(), "{}: a figure or why there is none", p.key);
            if let Some(r) = &p.rate_limit {
                assert!(r.requests > 0 && r.per_seconds > 0 && r.source.contains("http") || r.source.contains("seed"));
            }
        }
    }
}
