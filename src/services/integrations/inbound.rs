//! An inbound sync: a provider's listing pulled through the workspace's
//! connection into a data endpoint (`config.sync`, see `services.json`).
//!
//! - **Every page.** The first GET is `path`; the answer names the next
//!   page at `next_pointer` (a cursor, sent as `cursor_param` on the next
//!   GET, or a link), or, with no `next_pointer`, in an RFC 8288
//!   `Link: <…>; rel="next"` header. A link is resolved against the page's
//!   URL and followed only while it stays under the connection's API base
//!   URL: the call engine sends paths relative to it, with the
//!   connection's credentials, which must not go to another host.
//! - **Bounded.** At most [`MAX_PAGES`] pages a run. A longer listing is
//!   not a failure: the run says so in its `note`, and the next run reads
//!   the listing again from its start (items are stored by external id, so
//!   what is already stored is not written again). A cursor the provider
//!   gives a second time would loop: the run fails there.
//! - **Stored by external id.** Each item becomes a record of the data
//!   endpoint, created the first time its external id is seen and replaced
//!   when it changed (`integration_item` keeps the record id and a digest
//!   of what was stored), so a second run of an unchanged listing changes
//!   nothing.
//! - **Deletions only after a complete listing.** With `delete_missing`,
//!   a run that read every page, with no error and no item refused,
//!   deletes the records of the external ids it did not see (a delete
//!   through the records service, as the data API's `DELETE` makes) and
//!   forgets them. A run that stopped early, for whatever reason, deletes
//!   nothing: a missing page is not a vanished item.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde_json::Value;

use entity::{data_endpoint, data_key, integration, integration_item};

use super::connection_for;
use super::sync::RunOutcome;
use crate::error::{Error, Result};
use crate::services::connections::call::{self, call_in_workspace, CallRequest};
use crate::services::Waiting;
use crate::services::records::{self, Change, Operation};
use crate::state::AppState;

/// Most pages one run reads (see the module's header).
pub const MAX_PAGES: usize = 100;

/// Longest one page's call may take, a wait for the provider's rate window included.
const PAGE_WAIT: Duration = Duration::from_secs(90);

/// The query parameter a cursor is sent in when `cursor_param` is unset.
const DEFAULT_CURSOR_PARAM: &str = "cursor";

/// An integration's `config.sync`, read (it was checked against the schema when saved).
struct Spec<'a> {
    path: &'a str,
    items_pointer: &'a str,
    external_id_field: &'a str,
    endpoint: &'a str,
    /// `None` when unset or empty: the `Link` header names the next page.
    next_pointer: Option<&'a str>,
    cursor_param: &'a str,
    delete_missing: bool,
}

impl<'a> Spec<'a> {
    fn read(sync: &'a Value) -> Option<Self> {
        Some(Self {
            path: sync["path"].as_str()?,
            items_pointer: sync["items_pointer"].as_str().unwrap_or(""),
            external_id_field: sync["external_id_field"].as_str()?,
            endpoint: sync["endpoint"].as_str()?,
            next_pointer: sync["next_pointer"].as_str().filter(|p| !p.is_empty()),
            cursor_param: sync["cursor_param"].as_str().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_CURSOR_PARAM),
            delete_missing: sync["delete_missing"].as_bool().unwrap_or(false),
        })
    }
}

/// Where the next page is, as one answer says.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Nowhere: the listing is complete.
    Done,
    /// A cursor, sent as `cursor_param` on the next GET of `path`.
    Cursor(String),
    /// A link: a URI reference, resolved against the page's URL.
    Link(String),
}

/// The next page of an answer: the value at `next_pointer` (a link when it
/// is a path or an `http(s)://` URL, a cursor otherwise), else the `Link`
/// header's `rel="next"`.
fn next_of(spec: &Spec<'_>, body: &Value, headers: &[(String, String)]) -> std::result::Result<Next, String> {
    let Some(pointer) = spec.next_pointer else {
        let link = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("link")).find_map(|(_, v)| next_link(v));
        return Ok(link.map_or(Next::Done, Next::Link));
    };
    match body.pointer(pointer) {
        None | Some(Value::Null) => Ok(Next::Done),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Next::Done),
        Some(Value::String(s)) => {
            let lower = s.to_ascii_lowercase();
            let link = s.starts_with('/') || lower.starts_with("http://") || lower.starts_with("https://");
            Ok(if link { Next::Link(s.clone()) } else { Next::Cursor(s.clone()) })
        }
        Some(Value::Number(n)) => Ok(Next::Cursor(n.to_string())),
        Some(_) => Err(format!("`{pointer}` in the answer is neither a cursor nor a link (a string or a number)")),
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
/// that page's URL, it must stay under the connection's API base URL (same
/// origin, under its path), and becomes a path relative to it.
fn follow(base: &str, current: &CallRequest, link: &str) -> std::result::Result<CallRequest, String> {
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

/// One page through the connection: the answer's JSON and headers, or why there is none.
async fn page(
    st: &AppState,
    workspace_id: &str,
    connection_id: &str,
    request: CallRequest,
) -> std::result::Result<(Value, Vec<(String, String)>), String> {
    let waiting = Waiting { wait: true, timeout: PAGE_WAIT };
    let answer = match call_in_workspace(st, workspace_id, connection_id, request, waiting).await {
        Ok((_, Some(a))) if (200..300).contains(&a.status) => a,
        Ok((_, Some(a))) => return Err(format!("The service answered HTTP {}", a.status)),
        Ok((call, None)) => return Err(call.error.unwrap_or_else(|| "Queued behind the service's rate limit".into())),
        Err(e) => return Err(reason(&e)),
    };
    let body = serde_json::from_str(&answer.body).map_err(|_| "The service's answer is not JSON".to_string())?;
    Ok((body, answer.headers))
}

/// What an error says to the run's reader: its first field detail, else its message.
fn reason(e: &Error) -> String {
    e.details().first().map_or_else(|| e.public_message(), |d| d.error.clone())
}

/// How storing one item went.
enum Stored {
    /// Created or replaced.
    Changed,
    /// Stored before exactly as it is now.
    Unchanged,
}

/// Stores one item by its external id (see the module's header).
async fn store(
    st: &AppState,
    i: &integration::Model,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    external: &str,
    item: &Value,
) -> Result<std::result::Result<Stored, String>> {
    use sha2::Digest;
    let text = item.to_string();
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let known = integration_item::Entity::find_by_id((i.id.clone(), external.to_string())).one(&st.writer).await?;
    if known.as_ref().is_some_and(|k| k.digest == digest) {
        return Ok(Ok(Stored::Unchanged));
    }
    let op = if known.is_some() { Operation::Replace } else { Operation::Create };
    let record_id = known.as_ref().map(|k| k.record_id.clone());
    let change = Change { op, record_id: record_id.as_deref(), body: Some(text), callback: None, silent: false };
    let accepted = match records::accept(st, key, endpoint, change).await {
        Ok(id) => id,
        Err(e) => return Ok(Err(format!("Item `{external}` was refused: {}", e.public_message()))),
    };
    let row = integration_item::Model {
        integration_id: i.id.clone(),
        external_id: external.to_string(),
        record_id: record_id.unwrap_or(accepted),
        digest,
        updated_at: Utc::now(),
    };
    let active = row.into_active_model().reset_all();
    if known.is_some() {
        active.update(&st.writer).await?;
    } else {
        active.insert(&st.writer).await?;
    }
    Ok(Ok(Stored::Changed))
}

/// Deletes the records of the items a complete listing no longer has:
/// a delete through the records service, then the item's row. A record
/// already deleted (by hand) only loses its row. Stops at a refusal (the
/// endpoint's quota), which fails the run; the rest goes next time.
async fn delete_missing(
    st: &AppState,
    i: &integration::Model,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    seen: &HashSet<String>,
    out: &mut RunOutcome,
) -> Result<()> {
    let known = integration_item::Entity::find()
        .filter(integration_item::Column::IntegrationId.eq(&i.id))
        .all(&st.writer)
        .await?;
    for gone in known.into_iter().filter(|k| !seen.contains(&k.external_id)) {
        let change = Change {
            op: Operation::Delete,
            record_id: Some(&gone.record_id),
            body: None,
            callback: None,
            silent: false,
        };
        match records::accept(st, key, endpoint, change).await {
            Ok(_) => out.deleted += 1,
            Err(Error::NotFound(_)) => {}
            Err(e) => {
                out.failure = Some(format!(
                    "Deleting the record of `{}` (gone at the service) was refused: {}",
                    gone.external_id,
                    e.public_message()
                ));
                return Ok(());
            }
        }
        integration_item::Entity::delete_by_id((gone.integration_id, gone.external_id)).exec(&st.writer).await?;
    }
    Ok(())
}

/// Runs an inbound sync (see the module's header). `items` counts the
/// records created or replaced, `deleted` those deleted.
pub(super) async fn run(st: &AppState, i: &integration::Model) -> Result<RunOutcome> {
    let mut out = RunOutcome::default();
    let fail = |mut out: RunOutcome, why: String| -> Result<RunOutcome> {
        out.failure = Some(why);
        Ok(out)
    };
    let Some(spec) = Spec::read(&i.config["sync"]) else {
        return fail(out, "The integration has no `sync` config".into());
    };
    let Some(c) = connection_for(&st.db, &i.workspace_id, &i.service_type).await? else {
        return fail(out, "The workspace has no connection for this service".into());
    };
    let Some(endpoint) = crate::services::data_endpoints::by_slug(&st.db, &i.workspace_id, spec.endpoint).await? else {
        return fail(out, format!("The data endpoint `{}` is gone", spec.endpoint));
    };
    let key = match &i.data_key_id {
        Some(k) => data_key::Entity::find_by_id(k).one(&st.db).await?,
        None => None,
    };
    let Some(key) = key else {
        return fail(out, "The integration's data key is gone: save its config again".into());
    };
    let base = match call::base_url(st, &c).await {
        Ok(b) => b,
        Err(e) => return fail(out, reason(&e)),
    };
    let id_field = spec.external_id_field;
    let mut seen: HashSet<String> = HashSet::new();
    let mut cursors: HashSet<String> = HashSet::new();
    let mut request = CallRequest { method: "GET".into(), path: spec.path.to_string(), ..Default::default() };
    for n in 1..=MAX_PAGES {
        let on_page = |why: String| if n == 1 { why } else { format!("Page {n}: {why}") };
        let (body, headers) = match page(st, &i.workspace_id, &c.id, request.clone()).await {
            Ok(answer) => answer,
            Err(why) => return fail(out, on_page(why)),
        };
        let Some(items) = body.pointer(spec.items_pointer).and_then(Value::as_array) else {
            return fail(out, on_page(format!("`{}` does not point at an array in the answer", spec.items_pointer)));
        };
        for (at, item) in items.iter().enumerate() {
            let external = match &item[id_field] {
                Value::String(s) => s.clone(),
                Value::Number(v) => v.to_string(),
                _ => return fail(out, on_page(format!("Item {at} has no `{id_field}`"))),
            };
            if !item.is_object() {
                return fail(out, on_page(format!("Item {at} is not a JSON object")));
            }
            match store(st, i, &key, &endpoint, &external, item).await? {
                Ok(Stored::Changed) => out.items += 1,
                Ok(Stored::Unchanged) => {}
                Err(why) => return fail(out, on_page(why)),
            }
            seen.insert(external);
        }
        request = match next_of(&spec, &body, &headers) {
            Err(why) => return fail(out, on_page(why)),
            Ok(Next::Done) => {
                if spec.delete_missing {
                    delete_missing(st, i, &key, &endpoint, &seen, &mut out).await?;
                }
                return Ok(out);
            }
            Ok(Next::Cursor(next) | Next::Link(next)) if !cursors.insert(next.clone()) => {
                let shown: String = next.chars().take(100).collect();
                return fail(
                    out,
                    on_page(format!(
                        "The service gave the next page `{shown}` a second time: stopped, as following it would loop"
                    )),
                );
            }
            Ok(_) if n == MAX_PAGES => break,
            Ok(Next::Cursor(cursor)) => CallRequest {
                method: "GET".into(),
                path: spec.path.to_string(),
                query: vec![(spec.cursor_param.to_string(), cursor)],
                ..Default::default()
            },
            Ok(Next::Link(link)) => match follow(&base, &request, &link) {
                Ok(r) => r,
                Err(why) => return fail(out, on_page(why)),
            },
        };
    }
    out.note = Some(format!(
        "Stopped after {MAX_PAGES} pages, the most one run reads; the next run reads the listing again from its \
         start (what is stored is not stored twice). Nothing was deleted, as the listing was not read to its end."
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(sync: &Value) -> Spec<'_> {
        Spec::read(sync).unwrap()
    }

    #[test]
    fn the_next_page_comes_from_the_pointer_else_the_link_header() {
        let with = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "/meta/next" });
        let s = spec(&with);
        assert_eq!(s.cursor_param, "cursor");
        let next = |body: Value| next_of(&s, &body, &[]);
        assert_eq!(next(json!({ "meta": { "next": "c2" } })), Ok(Next::Cursor("c2".into())));
        assert_eq!(next(json!({ "meta": { "next": 3 } })), Ok(Next::Cursor("3".into())));
        assert_eq!(next(json!({ "meta": { "next": "/x?page=2" } })), Ok(Next::Link("/x?page=2".into())));
        assert_eq!(next(json!({ "meta": { "next": "HTTPS://h/x" } })), Ok(Next::Link("HTTPS://h/x".into())));
        for done in
            [json!({}), json!({ "meta": {} }), json!({ "meta": { "next": null } }), json!({ "meta": { "next": "" } })]
        {
            assert_eq!(next(done), Ok(Next::Done));
        }
        assert!(next(json!({ "meta": { "next": {} } })).is_err());
        // A pointer set ignores the header; none set follows it.
        let header = vec![("Link".to_string(), r#"</x?page=2>; rel="next""#.to_string())];
        assert_eq!(next_of(&s, &json!({}), &header), Ok(Next::Done));
        let without = json!({ "path": "/x", "external_id_field": "id", "endpoint": "e", "next_pointer": "" });
        assert_eq!(next_of(&spec(&without), &json!({}), &header), Ok(Next::Link("/x?page=2".into())));
        assert_eq!(next_of(&spec(&without), &json!({}), &[]), Ok(Next::Done));
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
