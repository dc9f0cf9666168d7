//! Prometheus metrics (`GET /metrics`, OpenMetrics text): HTTP requests and
//! latencies by route, job outcomes and durations by kind, and queue depth,
//! delay, in-flight, dead and lag, read from the queue at scrape time.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::jobs::KindStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// One of a closed set (`GET` … `OPTIONS`, else `OTHER`).
    pub method: &'static str,
    /// The matched route template (`/graphql`, `/api/v1/data/{slug}`) or
    /// `unmatched`, never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    jobs: Family<JobLabels, Counter>,
    job_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    queue_pending: Family<KindLabel, Gauge>,
    queue_delayed: Family<KindLabel, Gauge>,
    queue_in_flight: Family<KindLabel, Gauge>,
    queue_dead: Family<KindLabel, Gauge>,
    queue_lag: Family<KindLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    live_workers: Gauge,
    /// Record changes written per group-commit transaction.
    ingest_batch: Histogram,
    /// Per event: from this process's dispatcher getting it to the last
    /// live subscription taking it (see `events::fanout`).
    live_fanout: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("switchyard")),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            jobs: Family::default(),
            job_duration: Family::new_with_constructor(latency_histogram),
            queue_pending: Family::default(),
            queue_delayed: Family::default(),
            queue_in_flight: Family::default(),
            queue_dead: Family::default(),
            queue_lag: Family::default(),
            live_workers: Gauge::default(),
            ingest_batch: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            live_fanout: latency_histogram(),
        };
        {
            let mut r = m.registry.lock().expect("fresh mutex");
            r.register("http_requests", "HTTP requests answered", m.http_requests.clone());
            r.register("http_request_duration_seconds", "HTTP request latency", m.http_duration.clone());
            r.register("jobs", "Jobs finished, by outcome", m.jobs.clone());
            r.register("job_duration_seconds", "Job run time", m.job_duration.clone());
            r.register("queue_pending", "Jobs waiting to be handed out", m.queue_pending.clone());
            r.register("queue_delayed", "Jobs waiting for their run time", m.queue_delayed.clone());
            r.register("queue_in_flight", "Jobs handed out and not finished", m.queue_in_flight.clone());
            r.register("queue_dead", "Jobs in the dead-letter list", m.queue_dead.clone());
            r.register("queue_lag_seconds", "Age of the oldest pending job", m.queue_lag.clone());
            r.register("live_workers", "Worker processes seen in the last 15 s", m.live_workers.clone());
            r.register("ingest_batch_size", "Record changes committed per transaction", m.ingest_batch.clone());
            r.register(
                "live_fanout_seconds",
                "Per event, time until the last live subscription it matched has taken it",
                m.live_fanout.clone(),
            );
        }
        m
    }
}

impl Metrics {
    pub fn http_request(&self, labels: HttpLabels, took: Duration) {
        self.http_duration.get_or_create(&labels).observe(took.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    pub fn ingest_batch(&self, changes: usize) {
        self.ingest_batch.observe(changes as f64);
    }

    pub fn live_fanout(&self, took: Duration) {
        self.live_fanout.observe(took.as_secs_f64());
    }

    pub fn job_finished(&self, kind: &str, ok: bool, took: Duration) {
        let outcome = if ok { "done" } else { "failed" };
        self.jobs.get_or_create(&JobLabels { kind: kind.into(), outcome: outcome.into() }).inc();
        self.job_duration.get_or_create(&KindLabel { kind: kind.into() }).observe(took.as_secs_f64());
    }

    /// Sets the queue gauges and renders everything as OpenMetrics text.
    pub fn render(&self, queue: &[KindStats], live_workers: u64) -> String {
        for k in queue {
            let l = KindLabel { kind: k.kind.clone() };
            self.queue_pending.get_or_create(&l).set(k.pending as i64);
            self.queue_delayed.get_or_create(&l).set(k.delayed as i64);
            self.queue_in_flight.get_or_create(&l).set(k.in_flight as i64);
            self.queue_dead.get_or_create(&l).set(k.dead as i64);
            self.queue_lag.get_or_create(&l).set(k.oldest_pending_age.map_or(0.0, |d| d.as_secs_f64()));
        }
        self.live_workers.set(live_workers as i64);
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }
}
