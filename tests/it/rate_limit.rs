//! The per-caller rate limiter itself: the budget is the per-minute limit on
//! either backend, and with Redis it holds across processes even though each
//! process leases tokens in batches (the bound is documented in
//! `src/auth/rate_limit/leased.rs`: at most one `LEASE_TTL` of refill over
//! what the plain GCRA admits).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::auth::rate_limit::{RateLimiter, LEASE_TTL};
use switchyard::Error;

use crate::helpers::{redis_prefix, redis_url, wipe_redis_prefix};

/// A Redis limiter with a connection pool of its own, as another process has.
fn redis_limiter(url: &str, per_minute: u32, prefix: &str) -> RateLimiter {
    RateLimiter::redis(per_minute, switchyard::jobs::redis::pool(url).unwrap(), prefix.to_string())
}

/// Most requests GCRA admits over `elapsed` from a full budget of `limit`.
fn gcra_allows(limit: u32, elapsed: Duration) -> u32 {
    limit + (elapsed.as_secs_f64() * limit as f64 / 60.0).floor() as u32 + 1
}

/// Sends requests for `key` one after another until the first refusal;
/// returns how many were admitted and the time it took.
async fn until_refused(rl: &RateLimiter, key: &str) -> (u32, Duration) {
    let start = Instant::now();
    let mut admitted = 0;
    loop {
        match rl.check(key).await {
            Ok(info) => {
                assert_eq!(info.limit, 1000);
                admitted += 1;
                assert!(admitted < 2000, "never refused");
            }
            Err(Error::RateLimited { retry_after_secs, limit }) => {
                assert_eq!(limit, 1000);
                assert!((1..=60).contains(&retry_after_secs), "retry-after {retry_after_secs}");
                return (admitted, start.elapsed());
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn the_1001st_request_in_a_minute_is_refused_on_either_backend() {
    let mut limiters = vec![("memory", RateLimiter::per_minute(1000), None)];
    if let Some(url) = redis_url() {
        let prefix = redis_prefix();
        limiters.push(("redis", redis_limiter(&url, 1000, &prefix), Some((url, prefix))));
    }
    for (name, rl, redis) in limiters {
        let (admitted, took) = until_refused(&rl, "ak_one").await;
        // Exactly the budget, plus what refilled (one per 60 ms) meanwhile.
        assert!(admitted >= 1000 && admitted <= gcra_allows(1000, took), "[{name}] {admitted} in {took:?}");
        assert!(rl.check("ak_one").await.is_err(), "[{name}] still refused");
        assert!(rl.check("ak_two").await.is_ok(), "[{name}] keys are independent");
        if let Some((url, prefix)) = redis {
            wipe_redis_prefix(&url, &prefix).await;
        }
    }
}

/// Two processes (two limiters, each with its own Redis pool and leases)
/// hammer one key from 4 tasks each: together they stop near the one
/// budget. A limiter that ignored the other process would admit about
/// twice the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_together_stop_near_the_one_limit() {
    let Some(url) = redis_url() else {
        eprintln!("SWITCHYARD_TEST_REDIS_URL not set: nothing to share across processes");
        return;
    };
    let prefix = redis_prefix();
    let limit = 600; // one token per 100 ms
    let processes = [Arc::new(redis_limiter(&url, limit, &prefix)), Arc::new(redis_limiter(&url, limit, &prefix))];
    let admitted: [Arc<AtomicU32>; 2] = Default::default();
    let refused: [Arc<AtomicU32>; 2] = Default::default();
    let start = Instant::now();
    let run = Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for p in 0..2 {
        for _ in 0..4 {
            let (rl, ok, no) = (processes[p].clone(), admitted[p].clone(), refused[p].clone());
            tasks.push(tokio::spawn(async move {
                while start.elapsed() < run {
                    match rl.check_limit("ak_shared", limit).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(Error::RateLimited { .. }) => {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            no.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => panic!("{e}"),
                    };
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let [a, b] = [admitted[0].load(Ordering::Relaxed), admitted[1].load(Ordering::Relaxed)];
    let total = a + b;
    // The documented bound: one LEASE_TTL of refill over plain GCRA.
    let bound = gcra_allows(limit, elapsed + LEASE_TTL);
    assert!(total <= bound, "admitted {a} + {b} = {total} > {bound} in {elapsed:?}");
    // And the budget was not wasted: at most two leases (1/20 of the limit
    // each) per process can still be unspent.
    assert!(total >= limit - 4 * limit / 20, "admitted only {total} in {elapsed:?}");
    assert!(a > 0 && b > 0, "both processes were served: {a} / {b}");
    for (p, no) in refused.iter().enumerate() {
        assert!(no.load(Ordering::Relaxed) > 0, "process {p} was refused too");
    }
    wipe_redis_prefix(&url, &prefix).await;
}

/// Tokens a process leased and did not use go back once the lease expires,
/// so another process can spend the whole budget.
#[tokio::test]
async fn unused_leased_tokens_go_back_to_the_other_processes() {
    let Some(url) = redis_url() else {
        eprintln!("SWITCHYARD_TEST_REDIS_URL not set: nothing to share across processes");
        return;
    };
    let prefix = redis_prefix();
    let (a, b) = (redis_limiter(&url, 1000, &prefix), redis_limiter(&url, 1000, &prefix));
    let start = Instant::now();
    // A busy burst on process A grows its leases; some are left unspent.
    for _ in 0..300 {
        a.check("ak_moving").await.unwrap();
    }
    tokio::time::sleep(LEASE_TTL + Duration::from_millis(100)).await;
    a.shrink().await;
    let (on_b, _) = until_refused(&b, "ak_moving").await;
    let elapsed = start.elapsed();
    // B gets all A did not use, and what refilled meanwhile.
    let refilled = (elapsed.as_secs_f64() * 1000.0 / 60.0) as u32;
    assert!(300 + on_b >= 1000 + refilled.saturating_sub(2), "B got {on_b} after A's 300 in {elapsed:?}");
    assert!(300 + on_b <= gcra_allows(1000, elapsed), "B got {on_b} after A's 300 in {elapsed:?}");
    wipe_redis_prefix(&url, &prefix).await;
}
