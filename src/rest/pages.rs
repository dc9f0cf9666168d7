//! The browser pages under `playground/`, embedded in the binary so the
//! server works offline: GraphiQL at `/playground`, sign-in, setup and
//! invitation pages, the dashboard (with its OAuth-apps, Connections and
//! Actions scripts), sandbox, and console pages.

use axum::extract::{Path, RawQuery};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

use super::Http;

const GRAPHIQL: &str = include_str!("../../playground/graphiql.html");
const LOGIN: &str = include_str!("../../playground/login.html");
const SETUP: &str = include_str!("../../playground/setup.html");
const INVITE: &str = include_str!("../../playground/invite.html");
const DASHBOARD: &str = include_str!("../../playground/dashboard.html");
const SANDBOX: &str = include_str!("../../playground/sandbox.html");
const CONSOLE: &str = include_str!("../../playground/console.html");
/// The pages' own scripts and style sheet, served under `/playground/`:
/// (file name, content type, text). A new console area adds its script here.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css", include_str!("../../playground/style.css")),
    // Shared script of the pages (session, top bar, GraphQL, WebSocket client).
    ("app.js", "text/javascript", include_str!("../../playground/app.js")),
    // OAuth-apps areas (apps for owners, "Apps you authorized" for everyone).
    ("oauth-apps.js", "text/javascript", include_str!("../../playground/oauth-apps.js")),
    // Connections area (connections, call logs, connect a service, provider settings).
    ("connections.js", "text/javascript", include_str!("../../playground/connections.js")),
    // Actions area (actions, run with input, live run timeline).
    ("actions.js", "text/javascript", include_str!("../../playground/actions.js")),
    // The console's shell (navigation, router, workspace switcher, live indicator) and its style sheet.
    ("shell.js", "text/javascript", include_str!("../../playground/shell.js")),
    ("shell.css", "text/css", include_str!("../../playground/shell.css")),
    // Overview area (the charts).
    ("overview.js", "text/javascript", include_str!("../../playground/overview.js")),
    // Plugins area (marketplace, install with a generated config form, run, call log).
    ("plugins.js", "text/javascript", include_str!("../../playground/plugins.js")),
    // Integrations area (list with filters, create/edit, test, sync, live run history).
    ("integrations.js", "text/javascript", include_str!("../../playground/integrations.js")),
    // API keys area (paged list with use, create, edit, enable/disable, roll, delete).
    ("api-keys.js", "text/javascript", include_str!("../../playground/api-keys.js")),
    // Webhooks area (webhook portal: list, edit, secret, deliveries and attempts live, retry, test).
    ("webhooks.js", "text/javascript", include_str!("../../playground/webhooks.js")),
    // Data endpoints area (endpoints, records live, collaborator webhooks, data keys).
    ("data-endpoints.js", "text/javascript", include_str!("../../playground/data-endpoints.js")),
    // Members area (members, roles, invitations).
    ("members.js", "text/javascript", include_str!("../../playground/members.js")),
    // Events area (the workspace's events, live, by type, with their payload).
    ("events.js", "text/javascript", include_str!("../../playground/events.js")),
];

/// Vendored third-party assets: (file name, content type, bytes).
const VENDOR: &[(&str, &str, &[u8])] = &[
    ("react.production.min.js", "text/javascript", include_bytes!("../../playground/vendor/react.production.min.js")),
    (
        "react-dom.production.min.js",
        "text/javascript",
        include_bytes!("../../playground/vendor/react-dom.production.min.js"),
    ),
    ("graphiql.min.js", "text/javascript", include_bytes!("../../playground/vendor/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("../../playground/vendor/graphiql.min.css")),
    ("graphql-ws.min.js", "text/javascript", include_bytes!("../../playground/vendor/graphql-ws.min.js")),
    // The console's charts (uPlot: 51 KB, 22 KB gzipped).
    ("uplot.iife.min.js", "text/javascript", include_bytes!("../../playground/vendor/uplot.iife.min.js")),
    ("uplot.min.css", "text/css", include_bytes!("../../playground/vendor/uplot.min.css")),
];

/// The pages and their assets, gzipped for browsers that accept it (the
/// console's first load shrinks to about a fifth).
pub fn router() -> Router<Http> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/playground") }))
        .route("/playground", get(|| async { Html(GRAPHIQL) }))
        .route("/login", get(|RawQuery(q): RawQuery| async move { sign_in_page("/login", LOGIN, q) }))
        .route("/setup", get(|RawQuery(q): RawQuery| async move { sign_in_page("/setup", SETUP, q) }))
        .route("/invite", get(|| async { Html(INVITE) }))
        .route("/dashboard", get(|| async { Html(DASHBOARD) }))
        .route("/sandbox", get(|| async { Html(SANDBOX) }))
        .route("/console", get(|| async { Html(CONSOLE) }))
        .route("/playground/{file}", get(asset))
        .route("/playground/vendor/{file}", get(vendor))
        .layer(CompressionLayer::new())
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, text)) => ([(header::CONTENT_TYPE, *content_type)], *text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn vendor(Path(file): Path<String>) -> Response {
    match VENDOR.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=86400")], *bytes)
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A sign-in page, unless its `next` (where the page goes once signed in)
/// leaves the origin: then a redirect to the same page without it. The
/// page's script applies the same rule (`Switchyard.safeNext` in app.js).
fn sign_in_page(path: &str, html: &'static str, query: Option<String>) -> Response {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if pairs.iter().all(|(k, v)| k != "next" || safe_next(v)) {
        return Html(html).into_response();
    }
    let kept: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(k, _)| k != "next"))
        .finish();
    let to = if kept.is_empty() { path.to_string() } else { format!("{path}?{kept}") };
    Redirect::to(&to).into_response()
}

/// Whether `next` (decoded) is a path on this origin: it starts with a
/// single `/`, holds no `\`, whitespace or control character (browsers drop
/// tabs and newlines from URLs, so `/\t/evil.example` would become
/// `//evil.example`), and no `.` or `..` segment (`/.//evil.example`
/// normalises to `//evil.example`).
pub fn safe_next(next: &str) -> bool {
    let path = next.split(['?', '#']).next().unwrap_or("");
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
        && !path.split('/').any(|seg| matches!(seg.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | ".."))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_must_be_a_path_on_this_origin() {
        for good in ["/playground", "/console", "/dashboard?tab=jobs#x", "/a/b.c/d", "/"] {
            assert!(safe_next(good), "{good:?}");
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\0/evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\u{2028}/evil.example",
            "/\u{a0}/evil.example",
            "https://evil.example/",
            "evil.example",
            " //evil.example",
            "/.//evil.example",
            "/%2e//evil.example",
            "/%2E%2E//evil.example",
            "/x/..//evil.example",
            "",
        ] {
            assert!(!safe_next(bad), "{bad:?}");
        }
    }
}
