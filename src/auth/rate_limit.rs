//! Per-caller request rate limit (GCRA, from the `governor` crate), answering
//! with the numbers for `RateLimit-*` headers.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Gcra};

use crate::error::{Error, Result};

/// What a response should advertise about the caller's remaining budget.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
}

/// In-memory keyed limiter; one process's view. (The jobs issue adds a Redis
/// implementation so the limit holds across processes.)
pub struct RateLimiter {
    per_minute: u32,
    inner: Gcra<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>,
}

impl RateLimiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n.max(1)).expect("at least 1");
        Self {
            per_minute: n.get(),
            inner: Gcra::keyed(Quota::per_minute(n))
                .with_middleware::<StateInformationMiddleware>(),
        }
    }

    /// Counts one request for `key`; RATE_LIMITED with the wait when over.
    pub fn check(&self, key: &str) -> Result<RateInfo> {
        match self.inner.check_key(&key.to_string()) {
            Ok(snapshot) => Ok(RateInfo {
                limit: self.per_minute,
                remaining: snapshot.remaining_burst_capacity(),
            }),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(Error::RateLimited {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                    limit: self.per_minute,
                })
            }
        }
    }

    /// Drops state for keys that are back at full capacity (called periodically).
    pub fn shrink(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_the_per_minute_limit_then_429() {
        let rl = RateLimiter::per_minute(3);
        assert_eq!(rl.check("a").unwrap().remaining, 2);
        rl.check("a").unwrap();
        assert_eq!(rl.check("a").unwrap().remaining, 0);
        match rl.check("a") {
            Err(Error::RateLimited {
                retry_after_secs,
                limit,
            }) => {
                assert_eq!(limit, 3);
                assert!((1..=20).contains(&retry_after_secs));
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        assert!(rl.check("b").is_ok(), "keys are independent");
    }
}
