//! The browser pages under `playground/`, embedded in the binary so the
//! server works offline: GraphiQL at `/playground`, sign-in, setup and
//! invitation pages.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::Http;

const GRAPHIQL: &str = include_str!("../../playground/graphiql.html");
const LOGIN: &str = include_str!("../../playground/login.html");
const SETUP: &str = include_str!("../../playground/setup.html");
const INVITE: &str = include_str!("../../playground/invite.html");
const DASHBOARD: &str = include_str!("../../playground/dashboard.html");
const SANDBOX: &str = include_str!("../../playground/sandbox.html");
const CONSOLE: &str = include_str!("../../playground/console.html");
const STYLE: &str = include_str!("../../playground/style.css");
/// Shared script of the pages (session, top bar, GraphQL, WebSocket client).
const APP_JS: &str = include_str!("../../playground/app.js");

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
];

pub fn router() -> Router<Http> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/playground") }))
        .route("/playground", get(|| async { Html(GRAPHIQL) }))
        .route("/login", get(|| async { Html(LOGIN) }))
        .route("/setup", get(|| async { Html(SETUP) }))
        .route("/invite", get(|| async { Html(INVITE) }))
        .route("/dashboard", get(|| async { Html(DASHBOARD) }))
        .route("/sandbox", get(|| async { Html(SANDBOX) }))
        .route("/console", get(|| async { Html(CONSOLE) }))
        .route("/playground/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLE) }))
        .route("/playground/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], APP_JS) }))
        .route("/playground/vendor/{file}", get(vendor))
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
