//! The engine's own job kind: `diagnostic.noop`. Every other kind is
//! registered by the service that owns it (see `services::register_jobs`).

use std::time::Duration;

use entity::job;

use super::Handler;
use crate::error::{Error, Result};
use crate::state::AppState;

/// `diagnostic.noop`: does nothing, for benchmarks and end-to-end checks of
/// the machinery. Payload (all optional): `sleep_ms` (≤ 60000), `fail_attempts`
/// (fail while the attempt number is at most this), `panic` (panic instead of
/// failing), `retry_delay_ms` (wait between attempts), `timeout_ms` (its
/// time limit, default 30 s).
pub struct Noop;

#[async_trait::async_trait]
impl Handler for Noop {
    fn kind(&self) -> &'static str {
        "diagnostic.noop"
    }

    fn timeout(&self, job: &job::Model) -> Duration {
        match job.payload.get("timeout_ms").and_then(|v| v.as_u64()) {
            Some(ms) => Duration::from_millis(ms.clamp(1, 300_000)),
            None => Duration::from_secs(30),
        }
    }

    fn backoff(&self, job: &job::Model) -> Duration {
        match job.payload.get("retry_delay_ms").and_then(|v| v.as_u64()) {
            Some(ms) => Duration::from_millis(ms.min(600_000)),
            None => Duration::from_secs(1),
        }
    }

    async fn run(&self, _st: &AppState, job: &job::Model) -> Result<()> {
        let p = &job.payload;
        if let Some(ms) = p.get("sleep_ms").and_then(|v| v.as_u64()) {
            tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        }
        let fail_attempts = p.get("fail_attempts").and_then(|v| v.as_i64()).unwrap_or(0);
        if i64::from(job.attempts) <= fail_attempts {
            if p.get("panic").and_then(|v| v.as_bool()).unwrap_or(false) {
                panic!("diagnostic panic on attempt {}", job.attempts);
            }
            return Err(Error::internal(format!("diagnostic failure on attempt {}", job.attempts)));
        }
        Ok(())
    }
}
