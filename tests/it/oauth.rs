//! Switchyard's OAuth 2.0 authorization server, driven by the `oauth2`
//! crate (unmodified) as the client: authorization code with PKCE through
//! the consent page, tokens on GraphQL, refresh rotation and reuse
//! detection, revocation, introspection, client credentials, the rate
//! limit, and every refusal the RFCs name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    IntrospectionUrl, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, RevocationUrl,
    Scope as OScope, StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

const CREATE_APP: &str = "mutation($i: CreateOAuthAppInput!) { createOAuthApp(input: $i) {
    oauthApp { id clientId confidential scopes redirectUris } secret userErrors { field message code } } }";

/// A local "client app" callback: records the query string of every request.
#[derive(Clone, Default)]
struct Callback {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Callback {
    async fn start() -> Callback {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = seen.clone();
        let router = axum::Router::new().route(
            "/callback",
            axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push(q.unwrap_or_default());
                    "You may close this window."
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Callback { url: format!("http://{addr}/callback"), seen }
    }

    /// The parameters of the last callback the browser made.
    fn last(&self) -> Vec<(String, String)> {
        let q = self.seen.lock().unwrap().last().cloned().expect("the browser reached the callback");
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A plain HTTP client that does not follow redirects (as the oauth2 crate asks).
fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Registers an app with the owner's key; returns (app id, client id, secret).
async fn create_app(
    app: &TestApp,
    redirect: &str,
    scopes: &[&str],
    confidential: bool,
) -> (String, String, Option<String>) {
    let data = app
        .gql(
            &app.owner_key,
            CREATE_APP,
            json!({ "i": { "name": "Acme Reports", "description": "Weekly reports", "redirectUris": [redirect],
                           "scopes": scopes, "confidential": confidential } }),
        )
        .await;
    let out = &data["createOAuthApp"];
    assert_eq!(out["userErrors"], json!([]), "[{}] {out}", app.backend);
    (
        out["oauthApp"]["id"].as_str().unwrap().to_string(),
        out["oauthApp"]["clientId"].as_str().unwrap().to_string(),
        out["secret"].as_str().map(str::to_string),
    )
}

/// The oauth2 crate's client for an app of this server. Revocation is
/// configured with an https URL because the crate refuses any other (RFC
/// 7009 §2); [`tls_terminated`] carries those requests to the test server.
fn client(app: &TestApp, client_id: &str, secret: Option<&str>, redirect: &str) -> Client {
    let mut c = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth/authorize", app.url)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", app.url)).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{}/oauth/introspect", app.url)).unwrap())
        .set_revocation_url(
            RevocationUrl::new(format!("{}/oauth/revoke", app.url.replace("http://", "https://"))).unwrap(),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_string()).unwrap());
    if let Some(s) = secret {
        c = c.set_client_secret(ClientSecret::new(s.to_string()));
    }
    c
}

/// The HTTP transport for the oauth2 crate's revocation requests: it plays
/// the TLS-terminating proxy in front of the test server (which speaks
/// plain HTTP on 127.0.0.1), passing method, headers and body unchanged.
async fn tls_terminated(req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let uri = req.uri().to_string().replacen("https://", "http://", 1);
    let resp = http()
        .request(req.method().clone(), uri)
        .headers(req.headers().clone())
        .body(req.body().clone())
        .send()
        .await?;
    let mut out = oauth2::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(resp.bytes().await?.to_vec()).expect("a response"))
}

/// The browser's part: open the authorize URL, read the consent page's
/// request as the signed-in user, answer it, and follow the redirect to the
/// callback. Returns the consent shown (null when an earlier consent
/// covered the request).
async fn browse(app: &TestApp, cookie: &str, authorize_url: &str, approve: bool) -> Value {
    let page = http().get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "[{}] the consent page is served", app.backend);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("Authorize an app"));
    let query = authorize_url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap();
    let asked: Value = http()
        .get(format!("{}/oauth/authorize/request{query}", app.url))
        .header("cookie", cookie)
        .header("x-switchyard-csrf", "1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (to, consent) = match asked.get("redirectTo") {
        Some(to) => (to.as_str().unwrap().to_string(), Value::Null),
        None => {
            let consent = asked["consent"].clone();
            assert!(consent.is_object(), "[{}] {asked}", app.backend);
            let answer: Value = http()
                .post(format!("{}/oauth/authorize/decision", app.url))
                .header("cookie", cookie)
                .header("x-switchyard-csrf", "1")
                .json(&json!({ "query": query, "approve": approve }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (answer["redirectTo"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string(), consent)
        }
    };
    let landed = http().get(&to).send().await.unwrap();
    assert_eq!(landed.status(), 200, "the callback was reached: {to}");
    consent
}

fn rfc_error<T: std::fmt::Debug>(
    r: Result<T, RequestTokenError<impl std::error::Error, oauth2::basic::BasicErrorResponse>>,
) -> BasicErrorResponseType {
    match r {
        Err(RequestTokenError::ServerResponse(e)) => e.error().clone(),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

async fn viewer(app: &TestApp, token: &str) -> (u16, Value) {
    let (status, _, body) =
        app.gql_raw(Some(token), "{ viewer { user { id email } credential scopes role } }", json!({})).await;
    (status, body)
}

#[tokio::test]
async fn a_standard_client_completes_the_code_flow_refreshes_rotates_and_revokes() {
    for_each_backend(&[], |app| async move {
        let cb = Callback::start().await;
        let (app_id, client_id, secret) = create_app(&app, &cb.url, &["READ", "WRITE"], true).await;
        let secret = secret.expect("a confidential app gets a secret");
        assert!(client_id.starts_with("client_") && secret.starts_with("secret_"));
        let (grace_id, cookie) = app.invite_and_accept(&app.owner_key, "grace@example.com", "OWNER").await;
        let c = client(&app, &client_id, Some(&secret), &cb.url);
        let http = http();

        // Authorize with PKCE; the consent page names the app, user, workspace and scopes.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf) = c
            .authorize_url(CsrfToken::new_random)
            .add_scope(OScope::new("read".into()))
            .add_scope(OScope::new("write".into()))
            .set_pkce_challenge(challenge)
            .url();
        let consent = browse(&app, &cookie, url.as_str(), true).await;
        assert_eq!(consent["appName"], "Acme Reports");
        assert_eq!(consent["userEmail"], "grace@example.com");
        assert_eq!(consent["workspaceName"], "My workspace");
        assert_eq!(consent["scopes"].as_array().unwrap().len(), 2);
        let back = cb.last();
        assert_eq!(param(&back, "state"), Some(csrf.secret().as_str()));
        let code = param(&back, "code").expect("a code").to_string();

        let tokens = c
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(*tokens.token_type(), BasicTokenType::Bearer);
        assert_eq!(tokens.expires_in(), Some(Duration::from_secs(3600)));
        let scopes: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes, ["read", "write"]);
        let access = tokens.access_token().secret().clone();
        let refresh = tokens.refresh_token().expect("a refresh token").clone();

        // The token acts for Grace with the granted scopes, never more.
        let (status, body) = viewer(&app, &access).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["viewer"]["user"]["id"], grace_id.as_str());
        assert_eq!(body["data"]["viewer"]["credential"], "OAUTH_TOKEN");
        assert_eq!(body["data"]["viewer"]["scopes"], json!(["READ", "WRITE"]));
        app.gql_err(Some(&access), "{ apiKeys { edges { node { id } } } }", json!({}), "FORBIDDEN").await;

        // Asking again for scopes already granted skips the consent page.
        let (challenge2, verifier2) = PkceCodeChallenge::new_random_sha256();
        let (url2, _) = c
            .authorize_url(CsrfToken::new_random)
            .add_scope(OScope::new("read".into()))
            .set_pkce_challenge(challenge2)
            .url();
        assert_eq!(browse(&app, &cookie, url2.as_str(), true).await, Value::Null, "remembered consent");
        let second = c
            .exchange_code(AuthorizationCode::new(param(&cb.last(), "code").unwrap().to_string()))
            .set_pkce_verifier(verifier2)
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(second.scopes().unwrap().len(), 1);

        // Refresh rotates: a new pair, and the old refresh token is spent.
        let r1 = c.exchange_refresh_token(&refresh).request_async(&http).await.unwrap();
        let r1_access = r1.access_token().secret().clone();
        assert_ne!(r1.refresh_token().unwrap().secret(), refresh.secret());
        assert_eq!(viewer(&app, &r1_access).await.0, 200);
        // A client that lost the answer may retry once within the grace:
        // the pair of the first use is revoked, a new one issued.
        let retry = c.exchange_refresh_token(&refresh).request_async(&http).await.unwrap();
        assert_eq!(viewer(&app, &r1_access).await.0, 401, "the pair of the lost answer is revoked");
        let retry_access = retry.access_token().secret().clone();
        assert_eq!(viewer(&app, &retry_access).await.0, 200);
        // A third use is reuse: the whole grant is revoked and the owner hears of it.
        let reuse = c.exchange_refresh_token(&refresh).request_async(&http).await;
        assert_eq!(rfc_error(reuse), BasicErrorResponseType::InvalidGrant);
        assert_eq!(viewer(&app, &retry_access).await.0, 401, "every token of the grant is revoked");
        assert_eq!(viewer(&app, &access).await.0, 401);
        let newest = c.exchange_refresh_token(retry.refresh_token().unwrap()).request_async(&http).await;
        assert_eq!(rfc_error(newest), BasicErrorResponseType::InvalidGrant);
        let events = app
            .gql(
                &app.owner_key,
                r#"{ events(filter: {eventTypes: ["oauth.*"]}) { edges { node { type subjectId } } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(events["events"]["edges"][0]["node"]["type"], "oauth.token_reuse_detected", "{events}");

        // The second grant is untouched; introspection and revocation (RFC 7662, 7009).
        let other = AccessToken::new(second.access_token().secret().clone());
        let seen = c.introspect(&other).request_async(&http).await.unwrap();
        assert!(seen.active());
        assert_eq!(seen.client_id().map(|c| c.to_string()), Some(client_id.clone()));
        assert_eq!(seen.scopes().unwrap().iter().map(|s| s.to_string()).collect::<Vec<_>>(), ["read"]);
        c.revoke_token(StandardRevocableToken::AccessToken(other.clone()))
            .unwrap()
            .request_async(&tls_terminated)
            .await
            .unwrap();
        assert!(!c.introspect(&other).request_async(&http).await.unwrap().active());
        assert_eq!(viewer(&app, other.secret()).await.0, 401, "revocation is immediate");
        let unknown = StandardRevocableToken::AccessToken(AccessToken::new("oat_not_a_token".into()));
        c.revoke_token(unknown).unwrap().request_async(&tls_terminated).await.expect("unknown tokens: 200");
        // Revoking a refresh token revokes its grant.
        let second_refresh = second.refresh_token().unwrap().clone();
        c.revoke_token(StandardRevocableToken::RefreshToken(second_refresh.clone()))
            .unwrap()
            .request_async(&tls_terminated)
            .await
            .unwrap();
        let after = c.exchange_refresh_token(&second_refresh).request_async(&http).await;
        assert_eq!(rfc_error(after), BasicErrorResponseType::InvalidGrant);

        // Client credentials: the app acts as itself, within its scopes.
        let cc =
            c.exchange_client_credentials().add_scope(OScope::new("read".into())).request_async(&http).await.unwrap();
        assert!(cc.refresh_token().is_none());
        let (status, body) = viewer(&app, cc.access_token().secret()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["viewer"]["user"]["id"], app.owner_id.as_str(), "acts as the owner who registered it");
        assert_eq!(body["data"]["viewer"]["scopes"], json!(["READ"]));
        let wider = c.exchange_client_credentials().add_scope(OScope::new("admin".into())).request_async(&http).await;
        assert_eq!(rfc_error(wider), BasicErrorResponseType::InvalidScope);

        // The token works on the WebSocket as an API key does.
        let mut ws = crate::helpers::WsClient::connect(
            &app.ws_url(),
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {}", cc.access_token().secret()) }),
        )
        .await;
        let answer = ws.execute("1", "{ viewer { credential } }", json!({})).await;
        assert_eq!(answer["data"]["viewer"]["credential"], "OAUTH_TOKEN", "{answer}");

        // Usage is counted per app; the user sees the app among their authorizations.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let q = "query($id: ID!) { oauthApp(id: $id) { usageCount lastUsedAt usage(days: 1) { total } } }";
        let seen = app.gql(&app.owner_key, q, json!({ "id": app_id })).await;
        assert!(seen["oauthApp"]["usageCount"].as_i64().unwrap() >= 5, "{seen}");
        assert!(seen["oauthApp"]["usage"][0]["total"].as_i64().unwrap() >= 5, "{seen}");
        let mine = app
            .gql_session(
                &cookie,
                "{ authorizedApps { edges { node { app { name } scopes user { email } lastUsedAt } } } }",
                json!({}),
            )
            .await;
        let node = &mine["data"]["authorizedApps"]["edges"][0]["node"];
        assert_eq!(node["app"]["name"], "Acme Reports", "{mine}");
        assert_eq!(node["scopes"], json!(["READ", "WRITE"]));
        assert!(node["lastUsedAt"].is_string(), "{mine}");
    })
    .await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_rfc_errors_and_issue_nothing() {
    for_each_backend(&[], |app| async move {
        let cb = Callback::start().await;
        let (_, client_id, secret) = create_app(&app, &cb.url, &["READ", "WRITE", "ADMIN"], true).await;
        let secret = secret.unwrap();
        let (_, public_id, none) = create_app(&app, &cb.url, &["READ"], false).await;
        assert!(none.is_none(), "a public app has no secret");
        let (_, owner_cookie) = app.invite_and_accept(&app.owner_key, "olga@example.com", "OWNER").await;
        let c = client(&app, &client_id, Some(&secret), &cb.url);
        let http = http();
        let authorize = |q: String| {
            let http = http.clone();
            let url = format!("{}/oauth/authorize?{q}", app.url);
            async move { http.get(url).send().await.unwrap() }
        };

        // An unknown client or an unregistered redirect URI: an error page, never a redirect.
        for q in [
            format!("response_type=code&client_id=client_nope&redirect_uri={}", cb.url),
            format!("response_type=code&client_id={client_id}&redirect_uri=https://evil.example/cb"),
            format!("response_type=code&client_id={client_id}&redirect_uri={}x", cb.url),
        ] {
            let resp = authorize(q).await;
            assert_eq!(resp.status(), 400);
            assert!(resp.headers().get("location").is_none());
            assert!(resp.text().await.unwrap().contains("Authorization failed"));
        }
        // Other problems go back to the client with the RFC's error.
        let redirected = |resp: reqwest::Response| {
            assert_eq!(resp.status(), 302);
            let to = resp.headers()["location"].to_str().unwrap().to_string();
            assert!(to.starts_with(&cb.url), "{to}");
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(to.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
            param(&pairs, "error").unwrap().to_string()
        };
        let base = format!("response_type=code&client_id={client_id}&redirect_uri={}&state=s1", cb.url);
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let plain = authorize(format!("{base}&code_challenge={challenge}&code_challenge_method=plain")).await;
        assert_eq!(redirected(plain), "invalid_request");
        let implicit = authorize(base.replace("response_type=code", "response_type=token")).await;
        assert_eq!(redirected(implicit), "unsupported_response_type");
        let (_, narrow_id, _) = create_app(&app, &cb.url, &["READ"], true).await;
        let wider = authorize(format!("response_type=code&client_id={narrow_id}&redirect_uri={}&scope=read%20write", cb.url)).await;
        assert_eq!(redirected(wider), "invalid_scope");
        let no_pkce = authorize(format!("response_type=code&client_id={public_id}&redirect_uri={}", cb.url)).await;
        assert_eq!(redirected(no_pkce), "invalid_request", "public apps must use PKCE");

        // Deny: back with access_denied and nothing issued.
        let (url, _) = c.authorize_url(CsrfToken::new_random).add_scope(OScope::new("read".into())).url();
        browse(&app, &owner_cookie, url.as_str(), false).await;
        assert_eq!(param(&cb.last(), "error"), Some("access_denied"));
        assert!(param(&cb.last(), "code").is_none());

        // A collaborator cannot approve the admin scope.
        let (_, collab_cookie) = app.invite_and_accept(&app.owner_key, "carl@example.com", "COLLABORATOR").await;
        let (url, _) = c.authorize_url(CsrfToken::new_random).add_scope(OScope::new("admin".into())).url();
        browse(&app, &collab_cookie, url.as_str(), true).await;
        assert_eq!(param(&cb.last(), "error"), Some("invalid_scope"));

        // Code exchange: wrong or missing verifier, then a reused code revokes what it issued.
        let code_for = |verifier_challenge: PkceCodeChallenge| {
            let (url, _) = c.authorize_url(CsrfToken::new_random).add_scope(OScope::new("read".into())).set_pkce_challenge(verifier_challenge).url();
            let (app, cookie, cb) = (app.clone(), owner_cookie.clone(), cb.clone());
            async move {
                browse(&app, &cookie, url.as_str(), true).await;
                param(&cb.last(), "code").unwrap().to_string()
            }
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let code = code_for(challenge).await;
        let wrong = c.exchange_code(AuthorizationCode::new(code.clone())).set_pkce_verifier(PkceCodeVerifier::new("x".repeat(50))).request_async(&http).await;
        assert_eq!(rfc_error(wrong), BasicErrorResponseType::InvalidGrant);
        let missing = c.exchange_code(AuthorizationCode::new(code.clone())).request_async(&http).await;
        assert_eq!(rfc_error(missing), BasicErrorResponseType::InvalidGrant);
        let other_client = client(&app, &narrow_id, Some("secret_wrong"), &cb.url);
        let bad_secret = other_client.exchange_code(AuthorizationCode::new(code.clone())).request_async(&http).await;
        assert_eq!(rfc_error(bad_secret), BasicErrorResponseType::InvalidClient);
        let raw = http
            .post(format!("{}/oauth/token", app.url))
            .basic_auth(&client_id, Some("secret_wrong"))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 401);
        assert!(raw.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        let good = c.exchange_code(AuthorizationCode::new(code.clone())).set_pkce_verifier(verifier).request_async(&http).await.unwrap();
        assert_eq!(viewer(&app, good.access_token().secret()).await.0, 200);
        let (_, v2) = PkceCodeChallenge::new_random_sha256();
        let again = c.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(v2).request_async(&http).await;
        assert_eq!(rfc_error(again), BasicErrorResponseType::InvalidGrant);
        assert_eq!(viewer(&app, good.access_token().secret()).await.0, 401, "a reused code revokes its tokens");

        // An expired code.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let code = code_for(challenge).await;
        use sea_orm::{ConnectionTrait, Statement};
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        let backend = app.state.db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => "UPDATE oauth_grant SET code_expires_at = $1",
            _ => "UPDATE oauth_grant SET code_expires_at = ?",
        };
        app.state.db.execute(Statement::from_sql_and_values(backend, sql, [past.into()])).await.unwrap();
        let expired = c.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(verifier).request_async(&http).await;
        assert_eq!(rfc_error(expired), BasicErrorResponseType::InvalidGrant);

        // Grant types and bodies: the seed's JSON body works like the form.
        let unsupported = http.post(format!("{}/oauth/token", app.url)).basic_auth(&client_id, Some(&secret)).form(&[("grant_type", "password")]).send().await.unwrap();
        assert_eq!(unsupported.status(), 400);
        assert_eq!(unsupported.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
        let seed_body = http
            .post(format!("{}/oauth/token", app.url))
            .json(&json!({ "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "read write" }))
            .send()
            .await
            .unwrap();
        assert_eq!(seed_body.headers()["cache-control"], "no-store");
        let body: Value = seed_body.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "read write");

        // A token of workspace A sees nothing of workspace B, and does see A's.
        let (_, other_key) = app.other_workspace("bob@example.com").await;
        let theirs = app.gql(&other_key, "{ events(first: 1) { edges { node { id } } } }", json!({})).await;
        let their_event = theirs["events"]["edges"][0]["node"]["id"].as_str().expect("B has an event").to_string();
        let token = body["access_token"].as_str().unwrap();
        let q = "query($id: ID!) { event(id: $id) { id } }";
        app.gql_null(token, q, json!({ "id": their_event }), "event").await;
        let ours = app.gql(token, "{ events(first: 1) { edges { node { id } } } }", json!({})).await;
        let our_event = ours["events"]["edges"][0]["node"]["id"].as_str().expect("A has events").to_string();
        assert!(app.gql(token, q, json!({ "id": our_event })).await["event"].is_object());
    })
    .await;
}

#[tokio::test]
async fn an_oauth_token_gets_500_requests_a_minute() {
    for_each_backend(&[], |app| async move {
        let cb = Callback::start().await;
        let (_, client_id, secret) = create_app(&app, &cb.url, &["READ"], true).await;
        let c = client(&app, &client_id, secret.as_deref(), &cb.url);
        let token = c.exchange_client_credentials().request_async(&http()).await.unwrap();
        let token = token.access_token().secret().clone();
        // GCRA: a burst of 500, refilled at 500 a minute while the loop runs.
        let started = std::time::Instant::now();
        let mut refused_at = None;
        for i in 0..700 {
            let (status, headers, body) = app.gql_raw(Some(&token), "{ viewer { role } }", json!({})).await;
            if i == 0 {
                assert_eq!(headers["ratelimit-limit"], "500");
            }
            if status == 429 {
                assert!(headers.contains_key("retry-after"), "{body}");
                assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
                refused_at = Some(i);
                break;
            }
            assert_eq!(status, 200, "request {i}: {body}");
        }
        let refilled = (started.elapsed().as_secs_f64() * 500.0 / 60.0).ceil() as usize;
        let refused_at = refused_at.expect("the budget runs out");
        assert!(
            (500..=500 + refilled + 1).contains(&refused_at),
            "refused at request {refused_at} (refill {refilled})"
        );
    })
    .await;
}

#[tokio::test]
async fn owners_manage_apps_and_users_withdraw_their_authorizations() {
    for_each_backend(&[], |app| async move {
        let cb = Callback::start().await;
        // Bad input: user errors naming the field, nothing created.
        let bad = app
            .gql(
                &app.owner_key,
                CREATE_APP,
                json!({ "i": { "name": "", "redirectUris": ["http://example.com/cb", "https://ok.example/cb#x"], "scopes": [] } }),
            )
            .await;
        let errors = bad["createOAuthApp"]["userErrors"].as_array().unwrap().clone();
        let fields: Vec<Value> = errors.iter().map(|e| e["field"].clone()).collect();
        assert!(fields.contains(&json!(["input", "name"])), "{bad}");
        assert!(fields.contains(&json!(["input", "redirectUris", "0"])), "{bad}");
        assert!(fields.contains(&json!(["input", "redirectUris", "1"])), "{bad}");
        assert!(fields.contains(&json!(["input", "scopes"])), "{bad}");
        assert!(bad["createOAuthApp"]["oauthApp"].is_null());
        let list = app.gql(&app.owner_key, "{ oauthApps { totalCount } }", json!({})).await;
        assert_eq!(list["oauthApps"]["totalCount"], 0);

        let (app_id, client_id, secret) = create_app(&app, &cb.url, &["READ", "WRITE"], true).await;
        // Collaborators cannot manage apps.
        let (_, collab_key) = app.collaborator_key("cleo@example.com").await;
        app.gql_err(Some(&collab_key), "{ oauthApps { totalCount } }", json!({}), "FORBIDDEN").await;
        app.gql_err(
            Some(&collab_key),
            CREATE_APP,
            json!({ "i": { "name": "x", "redirectUris": [cb.url], "scopes": ["READ"] } }),
            "FORBIDDEN",
        )
        .await;

        // Update: left out stays, null on a required field is a user error.
        let update = "mutation($i: UpdateOAuthAppInput!) { updateOAuthApp(input: $i) { oauthApp { name description scopes } userErrors { field code } } }";
        let nulled = app.gql(&app.owner_key, update, json!({ "i": { "id": app_id, "name": null } })).await;
        assert_eq!(nulled["updateOAuthApp"]["userErrors"][0]["field"], json!(["input", "name"]));
        let changed = app.gql(&app.owner_key, update, json!({ "i": { "id": app_id, "name": "Renamed", "description": "" } })).await;
        assert_eq!(changed["updateOAuthApp"]["oauthApp"]["name"], "Renamed");
        assert_eq!(changed["updateOAuthApp"]["oauthApp"]["scopes"], json!(["READ", "WRITE"]));
        let (other_ws, other_key) = app.other_workspace("ozzy@example.com").await;
        assert!(!other_ws.is_empty());
        let foreign = app.gql(&other_key, update, json!({ "i": { "id": app_id, "name": "Mine" } })).await;
        assert_eq!(foreign["updateOAuthApp"]["userErrors"][0]["code"], "NOT_FOUND");
        app.gql_null(&other_key, "query($id: ID!) { oauthApp(id: $id) { id } }", json!({ "id": app_id }), "oauthApp").await;
        let node = app.gql(&app.owner_key, "query($id: ID!) { node(id: $id) { ... on OAuthApp { name } } }", json!({ "id": app_id })).await;
        assert_eq!(node["node"]["name"], "Renamed");

        // A user's authorization, withdrawn by the user, then one withdrawn by an owner.
        let (user_id, cookie) = app.invite_and_accept(&app.owner_key, "uma@example.com", "COLLABORATOR").await;
        let c = client(&app, &client_id, secret.as_deref(), &cb.url);
        let get_token = |cookie: String| {
            let (app, c, cb) = (app.clone(), c.clone(), cb.clone());
            async move {
                let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
                let (url, _) = c.authorize_url(CsrfToken::new_random).add_scope(OScope::new("read".into())).set_pkce_challenge(challenge).url();
                browse(&app, &cookie, url.as_str(), true).await;
                let code = param(&cb.last(), "code").unwrap().to_string();
                c.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(verifier).request_async(&http()).await.unwrap()
            }
        };
        let t = get_token(cookie.clone()).await;
        assert_eq!(viewer(&app, t.access_token().secret()).await.0, 200);
        let revoke = "mutation($i: RevokeAppAuthorizationInput!) { revokeAppAuthorization(input: $i) { deletedId userErrors { field code } } }";
        let out = app.gql_session(&cookie, revoke, json!({ "i": { "appId": app_id } })).await;
        assert!(out["data"]["revokeAppAuthorization"]["deletedId"].is_string(), "{out}");
        assert_eq!(viewer(&app, t.access_token().secret()).await.0, 401, "withdrawing revokes at once");
        let again = app.gql_session(&cookie, revoke, json!({ "i": { "appId": app_id } })).await;
        assert_eq!(again["data"]["revokeAppAuthorization"]["userErrors"][0]["code"], "NOT_FOUND");
        // The consent is forgotten: the page shows again.
        let t = get_token(cookie.clone()).await;
        let all = app.gql(&app.owner_key, "{ authorizedApps(everyMember: true) { edges { node { user { id } } } } }", json!({})).await;
        assert_eq!(all["authorizedApps"]["edges"][0]["node"]["user"]["id"], user_id.as_str());
        let out = app.gql(&app.owner_key, revoke, json!({ "i": { "appId": app_id, "userId": user_id } })).await;
        assert!(out["revokeAppAuthorization"]["deletedId"].is_string(), "{out}");
        assert_eq!(viewer(&app, t.access_token().secret()).await.0, 401);
        let (_, collab2) = app.collaborator_key("cody@example.com").await;
        app.gql_err(Some(&collab2), "{ authorizedApps(everyMember: true) { totalCount } }", json!({}), "FORBIDDEN").await;

        // Rolling the secret: the old one stops working at once.
        let roll = "mutation($i: RollOAuthAppSecretInput!) { rollOAuthAppSecret(input: $i) { secret userErrors { code } } }";
        let rolled = app.gql(&app.owner_key, roll, json!({ "i": { "id": app_id } })).await;
        let new_secret = rolled["rollOAuthAppSecret"]["secret"].as_str().unwrap().to_string();
        let old = c.exchange_client_credentials().request_async(&http()).await;
        assert_eq!(rfc_error(old), BasicErrorResponseType::InvalidClient);
        let fresh = client(&app, &client_id, Some(&new_secret), &cb.url);
        let cc = fresh.exchange_client_credentials().request_async(&http()).await.unwrap();
        assert_eq!(viewer(&app, cc.access_token().secret()).await.0, 200);

        // Deleting the app: its tokens stop working; events for each change.
        let delete = "mutation($i: DeleteOAuthAppInput!) { deleteOAuthApp(input: $i) { deletedId userErrors { code } } }";
        let gone = app.gql(&app.owner_key, delete, json!({ "i": { "id": app_id } })).await;
        assert_eq!(gone["deleteOAuthApp"]["deletedId"], app_id.as_str());
        assert_eq!(viewer(&app, cc.access_token().secret()).await.0, 401);
        let events = app
            .gql(&app.owner_key, r#"{ events(filter: {eventTypes: ["oauth_app.*"]}) { edges { node { type } } } }"#, json!({}))
            .await;
        let types: Vec<&str> = events["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["oauth_app.deleted", "oauth_app.updated", "oauth_app.updated", "oauth_app.created"], "{events}");
        let hidden = app.gql(&collab_key, r#"{ events(filter: {eventTypes: ["oauth_app.*"]}) { edges { node { type } } } }"#, json!({})).await;
        assert_eq!(hidden["events"]["edges"], json!([]), "collaborators do not see app events");
    })
    .await;
}

#[tokio::test]
async fn the_metadata_document_names_what_the_server_routes() {
    for_each_backend(&[], |app| async move {
        let meta: Value = http()
            .get(format!("{}/.well-known/oauth-authorization-server", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], app.state.config.public_url().trim_end_matches('/'));
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(meta["grant_types_supported"], json!(["authorization_code", "refresh_token", "client_credentials"]));
        // Each endpoint answers at the address given, as an OAuth endpoint
        // (an unauthenticated client gets the RFC's error, not a 404).
        let path = |key: &str| {
            let url = meta[key].as_str().unwrap().to_string();
            format!(
                "{}{}",
                app.url,
                url.split_once("://").unwrap().1.split_once('/').map(|(_, p)| format!("/{p}")).unwrap()
            )
        };
        let authorize = http().get(path("authorization_endpoint")).send().await.unwrap();
        assert_eq!(authorize.status(), 400, "an authorize request without a client gets the error page");
        for key in ["token_endpoint", "revocation_endpoint", "introspection_endpoint"] {
            let resp = http()
                .post(path(key))
                .form(&[("grant_type", "client_credentials"), ("token", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "{key}");
            assert_eq!(resp.headers()["access-control-allow-origin"], "*", "{key}: browser apps may call it");
            assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client", "{key}");
            let preflight = http().request(reqwest::Method::OPTIONS, path(key)).send().await.unwrap();
            assert_eq!(preflight.status(), 204, "{key}");
        }
        // The consent routes carry cookies: same origin only.
        let consent = http().get(format!("{}/oauth/authorize/request", app.url)).send().await.unwrap();
        assert!(consent.headers().get("access-control-allow-origin").is_none());
    })
    .await;
}
