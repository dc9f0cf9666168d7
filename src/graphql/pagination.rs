//! Relay connections (`first`/`after`, `pageInfo`, `totalCount`) built from
//! service pages.

use async_graphql::connection::{Connection, DefaultConnectionName, DefaultEdgeName, Edge, EmptyFields};
use async_graphql::{Context, Object, OutputType};

use crate::error::Result;
use crate::graphql::cost;
use crate::services::{Page, PageArgs};

/// Extra fields on every connection.
pub struct ConnectionFields {
    total_count: u64,
}

#[Object]
impl ConnectionFields {
    /// Number of items matching the filters, across all pages. Counted only
    /// when asked for; it costs 25 toward the query's cost limit, once,
    /// whatever the page size.
    #[graphql(complexity = "cost::TOTAL_COUNT + child_complexity")]
    async fn total_count(&self) -> u64 {
        self.total_count
    }
}

/// Checked paging arguments of a connection field: `first` (1..=100,
/// default 20), `after` an id with `prefix`; the total is counted only when
/// the query selects `totalCount`.
pub fn page_args(ctx: &Context<'_>, first: Option<i32>, after: Option<String>, prefix: &str) -> Result<PageArgs> {
    let count = ctx.look_ahead().field("totalCount").exists();
    Ok(PageArgs::new(first, after, prefix)?.counting(count))
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
