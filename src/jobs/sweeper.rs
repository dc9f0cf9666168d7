//! The sweeper and scheduler loop, run only by the elected leader: every
//! `SWITCHYARD_SWEEP_INTERVAL_SECONDS` it re-rings overdue ledger rows and
//! fires due schedules.

use std::time::Duration;

use super::leader::Leader;
use crate::jobs::{ledger as jobs, schedules};
use crate::state::AppState;

pub fn spawn(st: &AppState) {
    let st = st.clone();
    let leader = match &st.redis {
        Some(pool) => {
            let ttl = Duration::from_secs(st.config.sweep_interval_seconds * 3).max(Duration::from_secs(3));
            Leader::redis(pool.clone(), &st.config.redis_prefix, ttl)
        }
        None => Leader::Solo,
    };
    let tasks = st.tasks.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(st.config.sweep_interval_seconds));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = st.shutdown.cancelled() => break,
            }
            match leader.hold().await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(cause = %e, "leader election failed; skipping this sweep");
                    continue;
                }
            }
            if let Err(e) = jobs::sweep(&st, 500).await {
                tracing::warn!(cause = %e, "sweep failed");
            }
            if let Err(e) = schedules::fire_due(&st).await {
                tracing::warn!(cause = %e, "scheduler failed");
            }
        }
        leader.release().await;
    });
}
