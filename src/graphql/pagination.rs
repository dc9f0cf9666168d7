//! Relay connections (`first`/`after`, `pageInfo`, `totalCount`) built from
//! service pages.

use async_graphql::connection::{Connection, DefaultConnectionName, DefaultEdgeName, Edge, EmptyFields};
use std::borrow::Cow;
use std::future::Future;

use async_graphql::parser::types::Field;
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{Context, ContextSelectionSet, Object, OutputType, Positioned, ServerResult, Value};

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
/// default 20) and `after`, or `last` and `before`, cursors being ids with
/// `prefix`; the total is counted only when the query selects `totalCount`.
pub fn page_args(
    ctx: &Context<'_>,
    forward: (Option<i32>, Option<String>),
    backward: (Option<i32>, Option<String>),
    order: Option<ListOrder>,
    prefix: &str,
) -> Result<PageArgs> {
    let count = ctx.look_ahead().field("totalCount").exists();
    Ok(PageArgs::window(forward, backward, order.unwrap_or_default().oldest_first(), prefix)?.counting(count))
}

/// The order of a list (by creation: ids are time-ordered).
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListOrder {
    /// The newest first (the default).
    #[default]
    NewestFirst,
    /// The oldest first.
    OldestFirst,
}

impl ListOrder {
    pub fn oldest_first(self) -> bool {
        self == Self::OldestFirst
    }
}

type Inner<N> = Connection<String, N, ConnectionFields, EmptyFields, DefaultConnectionName, DefaultEdgeName>;

/// A Relay connection of `N`: async-graphql's, plus a description for the
/// `…Connection` type (async-graphql leaves it without one).
pub struct Conn<N: OutputType>(Inner<N>);

impl<N: OutputType> OutputType for Conn<N> {
    fn type_name() -> Cow<'static, str> {
        Inner::<N>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        let name = Inner::<N>::create_type_info(registry);
        if let Some(MetaType::Object { description, .. }) = registry.types.get_mut(Self::type_name().as_ref()) {
            description.get_or_insert_with(|| {
                format!(
                    "One page of {} objects: `nodes` (or `edges` with their cursors), `pageInfo`, and \
                     `totalCount`; pass `pageInfo.endCursor` as `after` for the next page.",
                    N::type_name()
                )
            });
        }
        name
    }

    fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> impl Future<Output = ServerResult<Value>> + Send {
        self.0.resolve(ctx, field)
    }
}

/// Converts a page into a connection; each edge's cursor is its item's id.
pub fn connection<T, N: OutputType>(page: Page<T>, id: impl Fn(&T) -> String, node: impl Fn(T) -> N) -> Conn<N> {
    let mut c = Connection::with_additional_fields(
        page.has_previous_page,
        page.has_next_page,
        ConnectionFields { total_count: page.total_count },
    );
    c.edges.extend(page.items.into_iter().map(|item| Edge::new(id(&item), node(item))));
    Conn(c)
}
