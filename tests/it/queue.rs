//! One contract suite for both queue backends: the in-process queue always,
//! and Redis streams when `SWITCHYARD_TEST_REDIS_URL` is set (each test on a
//! key prefix of its own).

use std::future::Future;
use std::time::{Duration, Instant};

use switchyard::jobs::embedded::EmbeddedQueue;
use switchyard::jobs::redis::RedisQueue;
use switchyard::jobs::{Message, Queue};

use crate::helpers::{redis_prefix, redis_url, wipe_redis_prefix};

const VISIBILITY: Duration = Duration::from_secs(1);

fn kinds() -> Vec<String> {
    vec!["k.one".to_string(), "k.two".to_string()]
}

fn msg(id: &str, kind: &str) -> Message {
    Message { job_id: id.to_string(), kind: kind.to_string() }
}

/// Runs `body` against each backend; the Redis one gets a fresh prefix,
/// wiped afterwards. The second argument is `Some((url, prefix))` for Redis.
async fn for_each_queue<F, Fut>(body: F)
where
    F: Fn(Box<dyn Queue>, Option<(String, String)>) -> Fut,
    Fut: Future<Output = ()>,
{
    body(Box::new(EmbeddedQueue::new(VISIBILITY)), None).await;
    if let Some(url) = redis_url() {
        let prefix = redis_prefix();
        let pool = switchyard::jobs::redis::pool(&url).unwrap();
        body(Box::new(RedisQueue::new(pool, &prefix, VISIBILITY)), Some((url.clone(), prefix.clone()))).await;
        wipe_redis_prefix(&url, &prefix).await;
    }
}

#[tokio::test]
async fn pushed_messages_are_leased_once_and_gone_after_ack() {
    for_each_queue(|q, _| async move {
        q.push(&msg("job_a", "k.one"), Duration::ZERO).await.unwrap();
        q.push(&msg("job_b", "k.two"), Duration::ZERO).await.unwrap();
        let got = q.lease("c1", &kinds(), 10, Duration::from_millis(500)).await.unwrap();
        let mut ids: Vec<&str> = got.iter().map(|d| d.message.job_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["job_a", "job_b"], "[{}]", q.backend());
        assert!(got.iter().all(|d| d.deliveries == 1));
        let stats = q.stats(&kinds()).await.unwrap();
        assert_eq!((stats[0].pending, stats[0].in_flight), (0, 1), "[{}] {stats:?}", q.backend());
        for d in &got {
            q.ack(d).await.unwrap();
        }
        let again = q.lease("c2", &kinds(), 10, Duration::from_millis(1500)).await.unwrap();
        assert!(again.is_empty(), "[{}] acked messages came back: {again:?}", q.backend());
        let stats = q.stats(&kinds()).await.unwrap();
        assert_eq!((stats[0].pending, stats[0].in_flight), (0, 0), "[{}]", q.backend());
    })
    .await;
}

#[tokio::test]
async fn lease_respects_max_and_leaves_the_rest_pending() {
    for_each_queue(|q, _| async move {
        for i in 0..5 {
            q.push(&msg(&format!("job_{i}"), "k.one"), Duration::ZERO).await.unwrap();
        }
        let got = q.lease("c1", &kinds(), 2, Duration::from_millis(200)).await.unwrap();
        assert_eq!(got.len(), 2, "[{}]", q.backend());
        let stats = q.stats(&kinds()).await.unwrap();
        assert_eq!((stats[0].pending, stats[0].in_flight), (3, 2), "[{}] {stats:?}", q.backend());
        assert!(stats[0].oldest_pending_age.is_some());
    })
    .await;
}

#[tokio::test]
async fn delayed_messages_stay_hidden_until_due() {
    for_each_queue(|q, _| async move {
        q.push(&msg("job_later", "k.one"), Duration::from_millis(800)).await.unwrap();
        let early = q.lease("c1", &kinds(), 10, Duration::from_millis(200)).await.unwrap();
        assert!(early.is_empty(), "[{}] delayed message came early", q.backend());
        assert_eq!(q.stats(&kinds()).await.unwrap()[0].delayed, 1);
        let start = Instant::now();
        let mut got = vec![];
        while got.is_empty() && start.elapsed() < Duration::from_secs(5) {
            got = q.lease("c1", &kinds(), 10, Duration::from_millis(300)).await.unwrap();
        }
        assert_eq!(got.len(), 1, "[{}] delayed message never came", q.backend());
        assert_eq!(got[0].message.job_id, "job_later");
    })
    .await;
}

/// A lease waiting on an empty queue hears of a delayed message when it
/// falls due, not when its own wait ends: whether the message was delayed
/// before the lease began or while it waits (on Redis, nothing else wakes
/// a blocked `XREADGROUP`: it used to sit out its whole wait).
#[tokio::test]
async fn a_waiting_lease_gets_a_delayed_message_when_it_falls_due() {
    for_each_queue(|q, _| async move {
        let long = Duration::from_secs(20);
        q.push(&msg("job_before", "k.one"), Duration::from_millis(300)).await.unwrap();
        let start = Instant::now();
        let got = q.lease("c1", &kinds(), 10, long).await.unwrap();
        assert_eq!(got.first().map(|d| d.message.job_id.as_str()), Some("job_before"), "[{}]", q.backend());
        assert!(start.elapsed() < Duration::from_secs(5), "[{}] took {:?}", q.backend(), start.elapsed());
        q.ack(&got[0]).await.unwrap();

        let (all, start) = (kinds(), Instant::now());
        let (got, ()) = tokio::join!(q.lease("c1", &all, 10, long), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            q.push(&msg("job_while", "k.two"), Duration::from_millis(300)).await.unwrap();
        });
        let got = got.unwrap();
        assert_eq!(got.first().map(|d| d.message.job_id.as_str()), Some("job_while"), "[{}]", q.backend());
        assert!(start.elapsed() >= Duration::from_millis(450), "[{}] came early", q.backend());
        assert!(start.elapsed() < Duration::from_secs(5), "[{}] took {:?}", q.backend(), start.elapsed());
    })
    .await;
}

#[tokio::test]
async fn retry_puts_the_message_back_after_its_delay() {
    for_each_queue(|q, _| async move {
        q.push(&msg("job_r", "k.two"), Duration::ZERO).await.unwrap();
        let d = q.lease("c1", &kinds(), 1, Duration::from_millis(300)).await.unwrap().remove(0);
        q.retry(&d, Duration::from_millis(500)).await.unwrap();
        let stats = q.stats(&kinds()).await.unwrap();
        assert_eq!((stats[1].delayed, stats[1].in_flight), (1, 0), "[{}] {stats:?}", q.backend());
        assert!(q.lease("c1", &kinds(), 1, Duration::from_millis(100)).await.unwrap().is_empty());
        let start = Instant::now();
        let mut got = vec![];
        while got.is_empty() && start.elapsed() < Duration::from_secs(5) {
            got = q.lease("c1", &kinds(), 1, Duration::from_millis(300)).await.unwrap();
        }
        assert_eq!(got.first().map(|d| d.message.job_id.as_str()), Some("job_r"), "[{}]", q.backend());
    })
    .await;
}

#[tokio::test]
async fn buried_messages_go_to_the_dead_letter_list() {
    for_each_queue(|q, _| async move {
        q.push(&msg("job_d", "k.one"), Duration::ZERO).await.unwrap();
        let d = q.lease("c1", &kinds(), 1, Duration::from_millis(300)).await.unwrap().remove(0);
        q.bury(&d, "boom").await.unwrap();
        let dead = q.dead_letters("k.one", 10).await.unwrap();
        assert_eq!(dead.len(), 1, "[{}]", q.backend());
        assert_eq!((dead[0].message.job_id.as_str(), dead[0].error.as_str()), ("job_d", "boom"));
        let stats = q.stats(&kinds()).await.unwrap();
        assert_eq!((stats[0].dead, stats[0].in_flight, stats[0].pending), (1, 0, 0), "[{}]", q.backend());
        assert!(q.lease("c1", &kinds(), 1, Duration::from_millis(1500)).await.unwrap().is_empty());
        q.clear_dead("k.one").await.unwrap();
        assert_eq!(q.stats(&kinds()).await.unwrap()[0].dead, 0);
    })
    .await;
}

#[tokio::test]
async fn an_unacked_message_is_reclaimed_by_another_consumer_after_the_visibility_timeout() {
    for_each_queue(|q, _| async move {
        q.push(&msg("job_v", "k.one"), Duration::ZERO).await.unwrap();
        let first = q.lease("dead-worker", &kinds(), 1, Duration::from_millis(300)).await.unwrap();
        assert_eq!(first.len(), 1);
        let during = q.lease("other", &kinds(), 1, Duration::from_millis(300)).await.unwrap();
        assert!(during.is_empty(), "[{}] leased twice within the timeout", q.backend());
        tokio::time::sleep(VISIBILITY).await;
        let start = Instant::now();
        let mut got = vec![];
        while got.is_empty() && start.elapsed() < Duration::from_secs(5) {
            got = q.lease("other", &kinds(), 1, Duration::from_millis(300)).await.unwrap();
        }
        assert_eq!(got.len(), 1, "[{}] never reclaimed", q.backend());
        assert_eq!(got[0].message.job_id, "job_v");
        assert!(got[0].deliveries >= 2, "[{}] deliveries {}", q.backend(), got[0].deliveries);
        q.ack(&got[0]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn extending_a_lease_keeps_a_slow_message_from_being_reclaimed() {
    for_each_queue(|q, _| async move {
        q.push(&msg("job_slow", "k.one"), Duration::ZERO).await.unwrap();
        let d = q.lease("slow", &kinds(), 1, Duration::from_millis(300)).await.unwrap().remove(0);
        let start = Instant::now();
        while start.elapsed() < VISIBILITY * 2 {
            q.extend("slow", &d).await.unwrap();
            let stolen = q.lease("thief", &kinds(), 1, Duration::from_millis(250)).await.unwrap();
            assert!(stolen.is_empty(), "[{}] a live lease was reclaimed", q.backend());
        }
        q.ack(&d).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn outcomes_and_worker_heartbeats_are_counted() {
    for_each_queue(|q, _| async move {
        q.record_outcome("k.one", true).await.unwrap();
        q.record_outcome("k.one", true).await.unwrap();
        q.record_outcome("k.one", false).await.unwrap();
        let s = q.stats(&kinds()).await.unwrap();
        assert_eq!((s[0].done_last_minute, s[0].failed_last_minute), (2, 1), "[{}]", q.backend());
        assert_eq!((s[1].done_last_minute, s[1].failed_last_minute), (0, 0));
        q.heartbeat("w1").await.unwrap();
        q.heartbeat("w2").await.unwrap();
        q.heartbeat("w1").await.unwrap();
        assert_eq!(q.live_workers().await.unwrap(), 2, "[{}]", q.backend());
    })
    .await;
}

#[tokio::test]
async fn a_wiped_redis_is_recovered_from() {
    for_each_queue(|q, redis| async move {
        let Some((url, prefix)) = redis else { return };
        q.push(&msg("job_1", "k.one"), Duration::ZERO).await.unwrap();
        let d = q.lease("c1", &kinds(), 1, Duration::from_millis(300)).await.unwrap().remove(0);
        q.ack(&d).await.unwrap();
        // The streams and their consumer group vanish (as after FLUSHALL or a
        // restart of a Redis that keeps nothing on disk).
        wipe_redis_prefix(&url, &prefix).await;
        assert!(q.lease("c1", &kinds(), 1, Duration::from_millis(200)).await.unwrap().is_empty());
        q.push(&msg("job_2", "k.one"), Duration::ZERO).await.unwrap();
        let got = q.lease("c1", &kinds(), 1, Duration::from_millis(500)).await.unwrap();
        assert_eq!(got.first().map(|d| d.message.job_id.as_str()), Some("job_2"));
    })
    .await;
}
