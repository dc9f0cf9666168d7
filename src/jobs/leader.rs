//! Electing the one process that runs the sweeper and the scheduler: a lease
//! key in Redis (`SET NX PX`, renewed by its holder, taken over when it
//! lapses). Without Redis there is one process, and it leads.

use std::time::Duration;

use deadpool_redis::redis::{self, Script};
use deadpool_redis::Pool;

use crate::error::Result;

/// Renews the lease only if this process still holds it.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Deletes the lease only if this process holds it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

pub enum Leader {
    /// Single process: always the leader.
    Solo,
    Redis {
        pool: Pool,
        key: String,
        token: String,
        ttl: Duration,
    },
}

impl Leader {
    pub fn redis(pool: Pool, prefix: &str, ttl: Duration) -> Self {
        Leader::Redis { pool, key: format!("{prefix}:leader"), token: crate::ids::new_id("lead"), ttl }
    }

    /// Takes or renews the lease; true while this process leads.
    pub async fn hold(&self) -> Result<bool> {
        match self {
            Leader::Solo => Ok(true),
            Leader::Redis { pool, key, token, ttl } => {
                let mut conn = pool.get().await?;
                let ms = ttl.as_millis() as u64;
                let renewed: i64 = Script::new(RENEW).key(key).arg(token).arg(ms).invoke_async(&mut conn).await?;
                if renewed == 1 {
                    return Ok(true);
                }
                let taken: Option<String> =
                    redis::cmd("SET").arg(key).arg(token).arg("NX").arg("PX").arg(ms).query_async(&mut conn).await?;
                if taken.is_some() {
                    tracing::info!("this process now runs the sweeper and scheduler");
                }
                Ok(taken.is_some())
            }
        }
    }

    /// Gives the lease up (on shutdown) so another process takes over at once.
    pub async fn release(&self) {
        if let Leader::Redis { pool, key, token, .. } = self {
            if let Ok(mut conn) = pool.get().await {
                let _: redis::RedisResult<i64> = Script::new(RELEASE).key(key).arg(token).invoke_async(&mut conn).await;
            }
        }
    }
}
