//! Password hashing and verification off the async runtime, with a
//! process-wide cap on how many run at once.
//!
//! One Argon2id hash holds 19 MiB and a core for tens of milliseconds, and
//! `/auth/login` and `/auth/setup` hash for anyone who asks. Without a cap,
//! 48 concurrent logins with made-up emails took the server from 66 MB to
//! 928 MB (issue 18). Here at most [`concurrency`] hashes run at once, each
//! in one of as many reused 19 MiB buffers, so sign-in never holds more than
//! `concurrency() × 19 MiB`; a request that cannot start within
//! [`QUEUE_WAIT`] gets 429 RATE_LIMITED. The cap is process-wide because the
//! memory and the cores are. Buffers are kept for reuse only while other
//! hashes run or wait: once the last one finishes they are freed, so a
//! sign-in does not leave 19 MiB in an idle server.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::crypto::{self, HashMemory};
use crate::error::{Error, Result};

/// How long a request waits for a hashing slot before it is turned away.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// Hashes that may run at once: one per core, at most 8 (160 sign-ins a
/// second is plenty).
pub fn concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

struct Slots {
    permits: Semaphore,
    /// Buffers of finished hashes, at most one per permit.
    memory: Mutex<Vec<HashMemory>>,
}

/// Runs `work` on the blocking pool in a hashing slot.
async fn in_slot<T: Send + 'static>(work: impl FnOnce(&mut HashMemory) -> T + Send + 'static) -> Result<T> {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| Slots { permits: Semaphore::new(concurrency()), memory: Mutex::new(Vec::new()) });
    let _permit = match tokio::time::timeout(QUEUE_WAIT, slots.permits.acquire()).await {
        Ok(permit) => permit.map_err(Error::internal)?,
        Err(_) => {
            tracing::warn!("password hashing is saturated; turning a sign-in away");
            return Err(Error::RateLimited { retry_after_secs: 1, limit: concurrency() as u32 });
        }
    };
    let reused = slots.memory.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let (out, memory) = tokio::task::spawn_blocking(move || {
        let mut memory = reused.unwrap_or_default();
        (work(&mut memory), memory)
    })
    .await
    .map_err(Error::internal)?;
    let mut pool = slots.memory.lock().unwrap_or_else(|e| e.into_inner());
    if slots.permits.available_permits() + 1 < concurrency() {
        pool.push(memory);
    } else {
        // The last hash running: an idle server gives its buffers back
        // (the allocator returns them to the OS a second later).
        pool.clear();
    }
    Ok(out)
}

/// Argon2id hash of `password`, within the cap.
pub async fn hash(password: &str) -> Result<String> {
    let pw = password.to_string();
    in_slot(move |mem| crypto::hash_password_with(&pw, mem)).await?
}

/// Checks `password` against `stored`, within the cap; with no stored hash a
/// dummy hash is checked, so an unknown account costs (and takes) the same
/// as a real one.
pub async fn verify(password: &str, stored: Option<String>) -> Result<bool> {
    let pw = password.to_string();
    in_slot(move |mem| crypto::verify_password_with(&pw, stored.as_deref(), mem)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_accounts_verify_false_and_hashes_verify() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(verify("correct horse battery", Some(h.clone())).await.unwrap());
        assert!(!verify("wrong", Some(h)).await.unwrap());
        assert!(!verify("correct horse battery", None).await.unwrap());
    }
}
