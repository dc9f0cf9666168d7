//! The outgoing HTTP engine used by every kind of webhook: the SSRF guard,
//! the one pooled client, Standard Webhooks signing and the retry schedules.
//! What to send and what to record is in `services::deliveries`.

pub mod client;
pub mod provider;
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

/// The least break after a receiver timed out or answered 429.
pub const MIN_BREAK: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The break a receiver asked for with its answer, if any: `Retry-After` on
/// a 429 or 503 (at most [`MAX_RETRY_AFTER`]), and at least [`MIN_BREAK`]
/// after a timeout or a 429.
pub fn receiver_break(status: Option<u16>, timed_out: bool, retry_after: Option<Duration>) -> Option<Duration> {
    let asked = match status {
        Some(429 | 503) => retry_after.map(|r| r.min(MAX_RETRY_AFTER)),
        _ => None,
    };
    let floor = (timed_out || status == Some(429)).then_some(MIN_BREAK);
    match (asked, floor) {
        (None, None) => None,
        (a, f) => Some(a.unwrap_or_default().max(f.unwrap_or_default())),
    }
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

    #[test]
    fn receivers_get_the_break_they_ask_for_within_bounds() {
        let secs = Duration::from_secs;
        assert_eq!(receiver_break(Some(500), false, Some(secs(30))), None, "only 429 and 503 ask");
        assert_eq!(receiver_break(Some(503), false, Some(secs(30))), Some(secs(30)));
        assert_eq!(receiver_break(Some(503), false, None), None);
        assert_eq!(receiver_break(Some(429), false, None), Some(MIN_BREAK));
        assert_eq!(receiver_break(Some(429), false, Some(secs(5))), Some(MIN_BREAK), "a 429 rests at least 60 s");
        assert_eq!(receiver_break(Some(429), false, Some(secs(120))), Some(secs(120)));
        assert_eq!(receiver_break(Some(503), false, Some(secs(86_400))), Some(MAX_RETRY_AFTER));
        assert_eq!(receiver_break(None, true, None), Some(MIN_BREAK));
        assert_eq!(receiver_break(None, false, None), None);
    }
}
