//! The console page (`/dashboard`): every script and style sheet it loads
//! is served, gzipped for browsers that ask, and the whole first load stays
//! within the budget of issue 25 (300 KB compressed).

use crate::helpers::{for_each_backend, TestApp};

/// The `/playground/…` files a page loads (`src="…"` and `href="…"`).
fn assets(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap_or_default();
            if url.starts_with("/playground/") && !out.iter().any(|u| u == url) {
                out.push(url.to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn the_console_and_its_assets_are_served_gzipped_within_the_budget() {
    for_each_backend(&[], |app: TestApp| async move {
        let get = |path: String, gzip: bool| {
            let mut req = app.client.get(format!("{}{path}", app.url));
            if gzip {
                req = req.header("accept-encoding", "gzip");
            }
            req.send()
        };
        let html = get("/dashboard".into(), false).await.unwrap().text().await.unwrap();
        let files = assets(&html);
        for needed in [
            "/playground/app.js",
            "/playground/shell.js",
            "/playground/overview.js",
            "/playground/vendor/uplot.iife.min.js",
        ] {
            assert!(files.iter().any(|f| f == needed), "[{}] the console loads {needed}", app.backend);
        }
        let mut compressed = 0;
        for path in std::iter::once("/dashboard".to_string()).chain(files) {
            let plain = get(path.clone(), false).await.unwrap();
            assert_eq!(plain.status(), 200, "[{}] {path}", app.backend);
            assert!(
                plain.headers().get("content-encoding").is_none(),
                "[{}] {path}: plain when not asked",
                app.backend
            );
            let plain = plain.bytes().await.unwrap().len();
            let zipped = get(path.clone(), true).await.unwrap();
            assert_eq!(zipped.status(), 200, "[{}] {path}", app.backend);
            assert_eq!(zipped.headers()["content-encoding"], "gzip", "[{}] {path}", app.backend);
            let zipped = zipped.bytes().await.unwrap().len();
            assert!(zipped * 2 < plain, "[{}] {path}: {zipped} bytes gzipped of {plain}", app.backend);
            compressed += zipped;
        }
        assert!(compressed <= 300 * 1024, "[{}] the console's first load is {compressed} bytes gzipped", app.backend);
    })
    .await;
}
