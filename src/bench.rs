//! Benchmarks, run with `switchyard bench …`. Loopback only; every loop is
//! bounded by a request count.

use crate::config::{BenchCommand, Config};
use crate::error::Result;

pub async fn run(_config: Config, cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Http { requests, concurrency } => http::run(requests, concurrency).await,
    }
}

mod http {
    use crate::error::{Error, Result};

    pub async fn run(_requests: usize, _concurrency: usize) -> Result<()> {
        Err(Error::internal("bench http is being written"))
    }
}
