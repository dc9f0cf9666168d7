//! How a caller of the API waits for work that may not end at once: a
//! provider call behind its rate window (`callConnection`), a plugin action
//! queued as a job (`runPluginAction`). One shape and one bound for both,
//! so the two mutations take `wait` and `timeoutSeconds` alike.

use std::time::Duration;

use crate::error::{Error, Result};

/// Longest a caller may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// How the caller wants to wait.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    /// When the work cannot end at once, wait for its end (up to
    /// `timeout`) rather than getting it back queued.
    pub wait: bool,
    /// At most [`MAX_WAIT`].
    pub timeout: Duration,
}

impl Waiting {
    /// The waiting an API caller asked for, refused (naming
    /// `timeoutSeconds`) unless its timeout is 1 to 120 seconds.
    pub fn check(self) -> Result<Self> {
        if self.timeout < Duration::from_secs(1) || self.timeout > MAX_WAIT {
            return Err(Error::invalid_field("timeoutSeconds", "Between 1 and 120"));
        }
        Ok(self)
    }
}
