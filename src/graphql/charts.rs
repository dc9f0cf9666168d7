//! The console's charts in GraphQL: figures aggregated in the database per
//! minute, hour or day (`services::charts`). The workspace-wide chart is a
//! root field; the per-resource ones are fields of their resource
//! (`ServiceConnection.callTimeline`, `DataEndpoint.usageByMonth`), and the
//! per-key and per-app requests are `ApiKey.usage` and `OAuthApp.usage`.

use async_graphql::{Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::graphql::{cost, ContextExt};
use crate::services::charts::{self, Bucket};

/// How wide one bucket of a chart is. Buckets are aligned on UTC (a `DAY`
/// is a UTC day) and the last one holds now.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeBucket {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
}

impl From<TimeBucket> for Bucket {
    fn from(b: TimeBucket) -> Self {
        match b {
            TimeBucket::Minute => Bucket::Minute,
            TimeBucket::Hour => Bucket::Hour,
            TimeBucket::Day => Bucket::Day,
        }
    }
}

/// Webhook delivery attempts of one time bucket.
#[derive(SimpleObject)]
pub struct DeliveryBucket {
    /// When the bucket starts.
    pub start: DateTime<Utc>,
    /// Attempts the receiver answered with 2xx.
    pub succeeded: i64,
    /// Attempts that failed: an error status, a timeout, or no answer.
    pub failed: i64,
    /// Median response time of the bucket's attempts (nearest rank), in milliseconds.
    pub p50_response_time_ms: i64,
    /// 99th percentile response time of the bucket's attempts (nearest rank), in milliseconds.
    pub p99_response_time_ms: i64,
}

impl From<charts::DeliveryBucket> for DeliveryBucket {
    fn from(b: charts::DeliveryBucket) -> Self {
        Self {
            start: b.start,
            succeeded: b.succeeded,
            failed: b.failed,
            p50_response_time_ms: b.p50_ms,
            p99_response_time_ms: b.p99_ms,
        }
    }
}

/// Calls made through a connection in one time bucket.
#[derive(SimpleObject)]
pub struct CallBucket {
    /// When the bucket starts.
    pub start: DateTime<Utc>,
    /// Calls made in the bucket, queued ones included.
    pub calls: i64,
    /// Of those, the ones the provider answered with 2xx.
    pub succeeded: i64,
    /// Of those, the ones that failed (an error status, unreachable, or the connection broke).
    pub failed: i64,
}

impl From<charts::CallBucket> for CallBucket {
    fn from(b: charts::CallBucket) -> Self {
        Self { start: b.start, calls: b.calls, succeeded: b.succeeded, failed: b.failed }
    }
}

/// Requests counted against a data endpoint's quota in one calendar month (UTC).
#[derive(SimpleObject)]
pub struct MonthUsage {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Requests counted in it.
    pub requests: i64,
}

/// `ServiceConnection.callTimeline`: calls per bucket, oldest first.
pub async fn call_timeline(
    ctx: &Context<'_>,
    connection_id: &str,
    bucket: TimeBucket,
    buckets: u32,
) -> Result<Vec<CallBucket>> {
    let rows = charts::connection_calls(&ctx.app().db, ctx.principal()?, connection_id, bucket.into(), buckets).await?;
    Ok(rows.into_iter().map(CallBucket::from).collect())
}

/// `DataEndpoint.usageByMonth`: requests per month, oldest first.
pub async fn usage_by_month(ctx: &Context<'_>, endpoint_id: &str, months: u32) -> Result<Vec<MonthUsage>> {
    let rows = charts::endpoint_months(&ctx.app().db, endpoint_id, months).await?;
    Ok(rows.into_iter().map(|(month, requests)| MonthUsage { month, requests }).collect())
}

#[derive(Default)]
pub struct ChartQuery;

#[Object]
impl ChartQuery {
    /// Webhook delivery attempts per time bucket, split into succeeded and
    /// failed, with the median and 99th percentile response time: the last
    /// `buckets` buckets, oldest first, the last one holding now; buckets
    /// without attempts are left out. Owner only. Costs `buckets` times
    /// what it selects.
    #[graphql(complexity = "cost::list(buckets.clamp(1, charts::MAX_BUCKETS) as usize, child_complexity)")]
    async fn delivery_timeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "TimeBucket::Minute", desc = "How wide a bucket is (default `MINUTE`).")]
        bucket: TimeBucket,
        #[graphql(default = 60, desc = "How many buckets back, 1 to 1440 (default 60: the last hour of minutes).")]
        buckets: u32,
        #[graphql(desc = "Only this webhook's attempts (`wh_…`); none: every webhook of the workspace.")]
        webhook_id: Option<ID>,
    ) -> Result<Vec<DeliveryBucket>> {
        let webhook = webhook_id.as_ref().map(|w| w.0.as_str());
        let rows = charts::deliveries(&ctx.app().db, ctx.principal()?, webhook, bucket.into(), buckets).await?;
        Ok(rows.into_iter().map(DeliveryBucket::from).collect())
    }
}
