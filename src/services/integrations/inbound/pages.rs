//! The pages of an inbound sync's listing (see [`super`]): its
//! `config.sync` read, the next page an answer names (a cursor or a link,
//! as `next_kind` says, else a `Link` header), a link followed only under
//! the connection's API base URL, and one page asked for through the
//! connection without queueing a call.

use std::time::Duration;

use serde_json::Value;

use entity::integration;

use crate::error::Error;
use crate::services::connections::call::{self, call_for_run, CallRequest, ForRun};
use crate::services::connections::ConnectionStatus;
use crate::state::AppState;

/// The query parameter a cursor is sent in when `cursor_param` is unset.
const DEFAULT_CURSOR_PARAM: &str = "cursor";

/// What the value at `next_pointer` is (`next_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NextKind {
    /// Sent as `cursor_param` on the next GET of `path`.
    Cursor,
    /// A URI reference to GET, resolved against the page's URL.
    Link,
}

/// An integration's `config.sync`, read (it was checked against the schema when saved).
pub(super) struct Spec<'a> {
    pub(super) path: &'a str,
    pub(super) items_pointer: &'a str,
    pub(super) external_id_field: &'a str,
    pub(super) endpoint: &'a str,
    /// `None` when unset or empty: the `Link` header names the next page.
    pub(super) next_pointer: Option<&'a str>,
    pub(super) next_kind: NextKind,
    pub(super) cursor_param: &'a str,
    pub(super) delete_missing: bool,
}

impl<'a> Spec<'a> {
    pub(super) fn read(sync: &'a Value) -> Option<Self> {
        Some(Self {
            path: sync["path"].as_str()?,
            items_pointer: sync["items_pointer"].as_str().unwrap_or(""),
            external_id_field: sync["external_id_field"].as_str()?,
            endpoint: sync["endpoint"].as_str()?,
            next_pointer: sync["next_pointer"].as_str().filter(|p| !p.is_empty()),
            next_kind: if sync["next_kind"] == "link" { NextKind::Link } else { NextKind::Cursor },
            cursor_param: sync["cursor_param"].as_str().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_CURSOR_PARAM),
            delete_missing: sync["delete_missing"].as_bool().unwrap_or(false),
        })
    }
}

/// Whether two `config.sync` values read the same listing into the same
/// endpoint by the same ids (`path`, `external_id_field`, `endpoint`):
/// when not, what an integration remembers of its items is of another
/// listing (see [`crate::services::integrations::update`]).
pub(crate) fn same_listing(before: &Value, after: &Value) -> bool {
    ["path", "external_id_field", "endpoint"].iter().all(|k| before.get(k) == after.get(k))
}

/// Where the next page is, as one answer says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Nowhere: the listing is complete.
    Done,
    /// A cursor, sent as `cursor_param` on the next GET of `path`.
    Cursor(String),
    /// A link: a URI reference, resolved against the page's URL.
    Link(String),
}

/// The next page of an answer: the value at `next_pointer` (a cursor or a
/// link, as `next_kind` says), else the `Link` header's `rel="next"`.
pub(super) fn next_of(
    spec: &Spec<'_>,
    body: &Value,
    headers: &[(String, String)],
) -> std::result::Result<Next, String> {
    let Some(pointer) = spec.next_pointer else {
        let link = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("link")).find_map(|(_, v)| next_link(v));
        return Ok(link.map_or(Next::Done, Next::Link));
    };
    match (body.pointer(pointer), spec.next_kind) {
        (None | Some(Value::Null), _) => Ok(Next::Done),
        (Some(Value::String(s)), _) if s.trim().is_empty() => Ok(Next::Done),
        (Some(Value::String(s)), NextKind::Cursor) => Ok(Next::Cursor(s.clone())),
        (Some(Value::String(s)), NextKind::Link) => Ok(Next::Link(s.clone())),
        (Some(Value::Number(n)), NextKind::Cursor) => Ok(Next::Cursor(n.to_string())),
        (Some(_), NextKind::Cursor) => Err(format!("`{pointer}` in the answer is not a cursor (a string or a number)")),
        (Some(_), NextKind::Link) => Err(format!("`{pointer}` in the answer is not a link (a string)")),
    }
}

/// The target of the `rel="next"` link of a `Link` header value (RFC 8288:
/// comma-separated `<target>; param=value` entries, `rel` a space-separated
/// list of relation types), if it has one.
fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = rest[open + 1..close].trim();
        rest = &rest[close + 1..];
        // The parameters run to the comma that starts the next entry (one outside quotes).
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, ch)| {
                if ch == '"' {
                    quoted = !quoted;
                }
                ch == ',' && !quoted
            })
            .map_or(rest.len(), |(at, _)| at);
        let is_next = rest[..end].split(';').filter_map(|p| p.split_once('=')).any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &rest[end..];
    }
}

/// The GET of a link found in the answer to `current`: resolved against
/// that page's URL, it must stay under the connection's API base URL
/// ([`call::under_base`]), and becomes a path relative to it.
pub(super) fn follow(base: &str, current: &CallRequest, link: &str) -> std::result::Result<CallRequest, String> {
    let here = call::url_of(base, current).map_err(|e| e.public_message())?;
    let mut there = here.join(link).map_err(|e| format!("The next page's link is not a valid URL ({e})"))?;
    there.set_fragment(None);
    let base_url = url::Url::parse(base).map_err(|_| "The connection's API base URL is not valid".to_string())?;
    let Some(rest) = call::under_base(&base_url, &there) else {
        // Its path and query may carry a token or what was listed: only its origin is said.
        return Err(format!(
            "The next page's link points outside the connection's API base URL (to {}): not followed",
            there.origin().ascii_serialization()
        ));
    };
    let mut path = if rest.is_empty() { "/".to_string() } else { rest.to_string() };
    if let Some(q) = there.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(CallRequest { method: "GET".into(), path, ..Default::default() })
}

/// What asking for one page came to.
pub(super) enum Paged {
    /// The answer's JSON and headers.
    Answer(Value, Vec<(String, String)>),
    /// Nothing can go out before this long: the provider's window is full,
    /// or its 429 asked for a longer wait than a worker sleeps in place.
    Wait(Duration),
    /// Nothing can go out until the connection is made again (it is gone,
    /// or its refresh was refused): the reason.
    Paused(String),
}

/// One page through the workspace's connection, the call's retries and a
/// 429's wait kept within `budget`. A full window is not queued as a
/// `connection.call` (nobody would read its answer): the run decides.
pub(super) async fn page(
    st: &AppState,
    i: &integration::Model,
    request: CallRequest,
    budget: Duration,
) -> std::result::Result<Paged, String> {
    let (mut tries, began) = (0, std::time::Instant::now());
    let answer = loop {
        tries += 1;
        // A second try has what the first left of the budget.
        let budget = budget.saturating_sub(began.elapsed());
        match call_for_run(st, &i.workspace_id, &i.service_type, request.clone(), budget).await {
            Ok(ForRun::Answered { answer, .. }) if (200..300).contains(&answer.status) => break answer,
            Ok(ForRun::Answered { answer, .. }) => return Err(format!("The service answered HTTP {}", answer.status)),
            Ok(ForRun::Wait(wait) | ForRun::Limited(wait)) => return Ok(Paged::Wait(wait)),
            // Paused only while the connection is gone or must be made
            // again. One that works now was made again while the call was
            // out (deleted and created anew): the page is asked for once
            // more, through it. One that cannot make calls at all (its
            // service left the catalog) fails. Read through the writer
            // pool, as the call engine does.
            Ok(ForRun::Unusable(why)) => {
                let found = super::super::connection_for(&st.writer, &i.workspace_id, &i.service_type).await;
                let works =
                    found.map_err(|e| reason(&e))?.is_some_and(|c| c.status == ConnectionStatus::Connected.as_str());
                match works {
                    false => return Ok(Paged::Paused(why)),
                    true if tries < 2 && began.elapsed() < budget => continue,
                    true => return Err(why),
                }
            }
            Ok(ForRun::Unavailable(why)) => return Err(why),
            Err(e) => return Err(reason(&e)),
        }
    };
    let body = serde_json::from_str(&answer.body).map_err(|_| "The service's answer is not JSON".to_string())?;
    Ok(Paged::Answer(body, answer.headers))
}

/// What an error says to the run's reader: its first field detail, else its message.
pub(super) fn reason(e: &Error) -> String {
    e.details().first().map_or_else(|| e.public_message(), |d| d.error.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(sync: &Value) -> Spec<'_> {
        Spec::read(sync).unwrap()
    }

    #[test]
    fn the_next_page_comes_from_the_pointer_as_next_kind_says_else_the_link_header() {
        let with = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/meta/next" });
        let s = spec(&with);
        assert_eq!((s.cursor_param, s.next_kind), ("cursor", NextKind::Cursor));
        let next = |body: Value| next_of(&s, &body, &[]);
        assert_eq!(next(json!({ "meta": { "next": "c2" } })), Ok(Next::Cursor("c2".into())));
        assert_eq!(next(json!({ "meta": { "next": 3 } })), Ok(Next::Cursor("3".into())));
        // A cursor is opaque: one that looks like a path or a URL is still a cursor.
        for cursor in ["/x?page=2", "/9uQ+Zm9vYmFy==", "HTTPS://h/x"] {
            assert_eq!(next(json!({ "meta": { "next": cursor } })), Ok(Next::Cursor(cursor.into())));
        }
        for done in
            [json!({}), json!({ "meta": {} }), json!({ "meta": { "next": null } }), json!({ "meta": { "next": "" } })]
        {
            assert_eq!(next(done), Ok(Next::Done));
        }
        assert!(next(json!({ "meta": { "next": {} } })).is_err());
        // As links, when the config says so.
        let links = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/next",
                            "next_kind": "link" });
        let l = spec(&links);
        assert_eq!(next_of(&l, &json!({ "next": "/x?page=2" }), &[]), Ok(Next::Link("/x?page=2".into())));
        assert_eq!(
            next_of(&l, &json!({ "next": "https://h/x?page=2" }), &[]),
            Ok(Next::Link("https://h/x?page=2".into()))
        );
        assert_eq!(next_of(&l, &json!({ "next": null }), &[]), Ok(Next::Done));
        assert!(next_of(&l, &json!({ "next": 3 }), &[]).is_err(), "a number is no link");
        // A pointer set ignores the header; none set follows it.
        let header = vec![("Link".to_string(), r#"</x?page=2>; rel="next""#.to_string())];
        assert_eq!(next_of(&s, &json!({}), &header), Ok(Next::Done));
        let without = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "" });
        assert_eq!(next_of(&spec(&without), &json!({}), &header), Ok(Next::Link("/x?page=2".into())));
        assert_eq!(next_of(&spec(&without), &json!({}), &[]), Ok(Next::Done));
    }

    #[test]
    fn the_listing_is_the_same_while_its_path_ids_and_endpoint_are() {
        let a = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/n" });
        let mut b = a.clone();
        b["next_pointer"] = json!("/meta/next");
        b["delete_missing"] = json!(true);
        assert!(same_listing(&a, &b));
        for (k, v) in [("path", "/y"), ("external_id_field", "uid"), ("endpoint", "f")] {
            let mut c = a.clone();
            c[k] = json!(v);
            assert!(!same_listing(&a, &c), "{k}");
        }
    }

    #[test]
    fn link_headers_are_read_as_rfc_8288_says() {
        let gh = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(next_link(gh).as_deref(), Some("https://api.github.com/repositories/1/issues?page=2"));
        let later = r#"<https://h/x?page=1>; rel="prev first"; title="a, b", <https://h/x?page=3>; rel="last next""#;
        assert_eq!(next_link(later).as_deref(), Some("https://h/x?page=3"));
        assert_eq!(next_link("</x?p=2>;rel=next").as_deref(), Some("/x?p=2"));
        assert_eq!(next_link(r#"<https://h/x?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn links_are_followed_only_under_the_base_url() {
        let base = "https://api.example.com/v2";
        let first = CallRequest { method: "GET".into(), path: "/customers?limit=2".into(), ..Default::default() };
        let path = |link: &str| follow(base, &first, link).map(|r| r.path);
        assert_eq!(path("https://api.example.com/v2/customers?page=2").unwrap(), "/customers?page=2");
        assert_eq!(path("/v2/customers?page=2").unwrap(), "/customers?page=2");
        assert_eq!(path("?page=2").unwrap(), "/customers?page=2");
        assert_eq!(path("https://api.example.com/v2").unwrap(), "/");
        for outside in [
            "https://evil.example/v2/customers?page=2",
            "http://api.example.com/v2/customers",
            "https://api.example.com:8443/v2/customers",
            "/v1/customers",
            "/v2x/customers",
            "/v2/../admin",
            "/v2/%2e%2e/v2x/customers",
            "//evil.example/v2/customers",
            "\\\\evil.example\\v2\\customers",
            "https://api.example.com@evil.example/v2/customers",
            "https://user:pw@api.example.com/v2/customers",
        ] {
            let refused = path(outside).unwrap_err();
            assert!(refused.contains("outside the connection's API base URL"), "{outside}: {refused}");
            assert!(!refused.contains("customers") && !refused.contains("admin"), "no path is shown: {refused}");
        }
        assert_eq!(path("/v2/%2F..%2Fadmin").unwrap(), "/%2F..%2Fadmin", "an encoded slash stays in its segment");
    }
}
