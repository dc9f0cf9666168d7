//! Relay connections (`first`/`after`, `pageInfo`, `totalCount`) built from
//! service pages.

use async_graphql::connection::{Connection, DefaultConnectionName, DefaultEdgeName, Edge, EmptyFields};
use async_graphql::{OutputType, SimpleObject};

use crate::services::Page;

/// Extra fields on every connection.
#[derive(SimpleObject)]
pub struct ConnectionFields {
    /// Number of items matching the filters, across all pages.
    pub total_count: u64,
}

pub type Conn<N> = Connection<String, N, ConnectionFields, EmptyFields, DefaultConnectionName, DefaultEdgeName>;

/// Converts a page into a connection; each edge's cursor is its item's id.
pub fn connection<T, N: OutputType>(page: Page<T>, id: impl Fn(&T) -> String, node: impl Fn(T) -> N) -> Conn<N> {
    let mut c = Connection::with_additional_fields(
        page.has_previous_page,
        page.has_next_page,
        ConnectionFields { total_count: page.total_count },
    );
    c.edges.extend(page.items.into_iter().map(|item| Edge::new(id(&item), node(item))));
    c
}
