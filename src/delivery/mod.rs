//! The outgoing HTTP engine used by every kind of webhook: the SSRF guard,
//! the one pooled client, Standard Webhooks signing and the retry schedules.
//! What to send and what to record is in `services::deliveries`.

pub mod client;
pub mod signing;
pub mod ssrf;

use std::time::Duration;

pub use client::{HttpClient, Sent};

/// The default retry schedule (seconds to wait before each retry): after
/// the immediate first attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_SCHEDULE: &[u64] = &[5, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// The collaborator policy of seed 001: 3 retries, `gap_seconds` apart
/// (60 by default: `SWITCHYARD_COLLABORATOR_RETRY_SECONDS`).
pub fn collaborator_schedule(gap_seconds: u64) -> Vec<u64> {
    vec![gap_seconds; 3]
}

/// The wait before retry number `retry` (1-based) of `schedule`, with ±20 %
/// jitter so retries of many deliveries do not arrive together.
pub fn retry_delay(schedule: &[u64], retry: usize) -> Duration {
    let base = schedule.get(retry.saturating_sub(1)).or(schedule.last()).copied().unwrap_or(60) as f64;
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    Duration::from_secs_f64(base * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_schedule_within_jitter() {
        for (i, base) in DEFAULT_SCHEDULE.iter().enumerate() {
            let d = retry_delay(DEFAULT_SCHEDULE, i + 1).as_secs_f64();
            assert!(d >= *base as f64 * 0.8 - 1e-9 && d <= *base as f64 * 1.2 + 1e-9, "retry {} took {d}", i + 1);
        }
        assert!(retry_delay(&collaborator_schedule(60), 9).as_secs_f64() <= 72.0);
    }
}
