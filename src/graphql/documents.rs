//! Parsed GraphQL documents, kept by their text. Clients send the same few
//! queries over and over (an SDK's mutation with new variables each time),
//! and async-graphql parses each request's text anew: its parser was a
//! twentieth of the server's CPU in `bench connections`. A document parsed
//! once is cloned instead; validation, limits and execution run as before.
//! A query that does not parse is not kept: async-graphql parses it again
//! and reports the error as it always did. The cache is bounded by an
//! estimate of the documents' size (see [`WEIGHT_PER_BYTE`]), and moka's
//! admission policy keeps the queries asked for often over one-off ones,
//! so a client sending many different queries cannot crowd out the rest.

use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::Request;

/// Longer queries are parsed every time (one-off queries, say).
const LONGEST: usize = 8 * 1024;
/// What a kept document may weigh in all, in bytes.
const KEPT_BYTES: u64 = 8 * 1024 * 1024;
/// A document's weight per byte of its text: a parsed field takes about
/// 250 bytes, and `{ a a a … }` packs one into two bytes of text, so this
/// bounds even that (8 KiB of it parse to about 1 MB); an ordinary query,
/// a field per 10–20 bytes, is overweighed instead. So the cache holds a
/// few hundred ordinary queries, and never much more than 8 MiB.
const WEIGHT_PER_BYTE: u32 = 128;
/// Kept documents not asked for this long are dropped.
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Clone)]
pub struct Documents(moka::sync::Cache<String, ExecutableDocument>);

impl Default for Documents {
    fn default() -> Self {
        let weigh = |query: &String, _: &ExecutableDocument| (query.len() as u32).saturating_mul(WEIGHT_PER_BYTE);
        Self(moka::sync::Cache::builder().max_capacity(KEPT_BYTES).weigher(weigh).time_to_idle(IDLE).build())
    }
}

impl Documents {
    /// Gives `request` its parsed document: the kept one, or, parsed now,
    /// one kept for the next request with the same text.
    pub fn prepare(&self, request: &mut Request) {
        if request.query.len() > LONGEST {
            return;
        }
        if let Some(doc) = self.0.get(request.query.as_str()) {
            request.set_parsed_query(doc);
            return;
        }
        if let Ok(doc) = parse_query(&request.query) {
            self.0.insert(request.query.clone(), doc.clone());
            request.set_parsed_query(doc);
        }
    }

    /// Gives `request` the kept document for its text, if there is one,
    /// and keeps nothing new: for a WebSocket's operations, mostly
    /// subscriptions, each parsed once for its whole life, where keeping
    /// thousands of distinct ones would only hold memory.
    pub fn reuse(&self, request: &mut Request) {
        if let Some(doc) = self.0.get(request.query.as_str()) {
            request.set_parsed_query(doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_parsed_once_and_a_broken_one_is_left_alone() {
        let docs = Documents::default();
        let mut first = Request::new("{ viewer { id } }");
        docs.prepare(&mut first);
        assert!(docs.0.contains_key("{ viewer { id } }"));
        let mut again = Request::new("{ viewer { id } }");
        docs.prepare(&mut again);
        assert_eq!(
            format!("{:?}", again.parsed_query().unwrap()),
            format!("{:?}", first.parsed_query().unwrap()),
            "the kept document is the parsed one"
        );
        let mut broken = Request::new("{ viewer { id ");
        docs.prepare(&mut broken);
        assert!(!docs.0.contains_key("{ viewer { id "));
        assert!(broken.parsed_query().is_err(), "async-graphql still reports the syntax error");
        let long = format!("{{ viewer {{ id }} }} #{}", "x".repeat(LONGEST));
        docs.prepare(&mut Request::new(long.clone()));
        assert!(!docs.0.contains_key(long.as_str()));

        // A WebSocket's operation takes a kept document but keeps none.
        let mut live = Request::new("subscription { events { id } }");
        docs.reuse(&mut live);
        assert!(!docs.0.contains_key("subscription { events { id } }"));
        let mut kept = Request::new("{ viewer { id } }");
        docs.reuse(&mut kept);
        assert_eq!(format!("{:?}", kept.parsed_query().unwrap()), format!("{:?}", first.parsed_query().unwrap()));
    }
}
