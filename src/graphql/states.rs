//! The closed sets the services keep as strings (delivery and record
//! states, job states, storage), as GraphQL enums. An unknown string from
//! storage is a bug; it is logged and shown as the set's fallback value,
//! never as an error that would hide the rest of the object.

use async_graphql::Enum;

/// Declares an enum with its service strings, `parse`, `as_str` and a
/// fallback for strings the enum does not know.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, fallback = $fallback:ident, { $($(#[$vm:meta])* $variant:ident = $s:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// The enum value of a service string, if it is one.
            pub fn parse(s: &str) -> Option<Self> {
                [$(Self::$variant),+].into_iter().find(|v| v.as_str() == s)
            }

            /// The string the services use for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $s),+
                }
            }

            /// The enum value of a stored string (logged fallback when unknown).
            pub fn from_stored(s: &str) -> Self {
                Self::parse(s).unwrap_or_else(|| {
                    tracing::warn!(value = %s, set = stringify!($name), "unknown stored value");
                    Self::$fallback
                })
            }
        }
    };
}

string_enum!(
    /// Where a delivery stands.
    DeliveryStatus, fallback = Failed, {
        /// Waiting for its first or next attempt.
        Pending = crate::services::deliveries::PENDING,
        /// The receiver answered 2xx.
        Succeeded = crate::services::deliveries::SUCCEEDED,
        /// Every attempt failed (or the webhook was disabled).
        Failed = crate::services::deliveries::FAILED,
        /// Stopped; it is not attempted again unless retried by hand.
        Cancelled = crate::services::deliveries::CANCELLED,
    }
);

string_enum!(
    /// Where a record stands in processing.
    RecordStatus, fallback = Failed, {
        /// Accepted, waiting for a worker.
        Queued = crate::services::records::QUEUED,
        /// A worker is applying the change now.
        Processing = crate::services::records::PROCESSING,
        /// The change was applied.
        Processed = crate::services::records::PROCESSED,
        /// The change could not be applied; see `error`.
        Failed = crate::services::records::FAILED,
        /// The record was deleted.
        Deleted = crate::services::records::DELETED,
    }
);

string_enum!(
    /// The change last asked of a record.
    RecordOperation, fallback = Create, {
        /// `POST`: a new record.
        Create = "create",
        /// `PUT`: the body replaced.
        Replace = "replace",
        /// `DELETE`.
        Delete = "delete",
    }
);

string_enum!(
    /// Where a record's processing result went (`X-Webhook-Callback`).
    CallbackStatus, fallback = Failed, {
        /// Not sent yet, or being retried.
        Pending = "pending",
        /// The callback URL answered 2xx.
        Delivered = "delivered",
        /// Every attempt failed.
        Failed = "failed",
    }
);

string_enum!(
    /// Where a background job stands.
    JobState, fallback = Dead, {
        /// Waiting for its run time or a worker.
        Queued = crate::jobs::ledger::QUEUED,
        /// A worker runs it now.
        Running = crate::jobs::ledger::RUNNING,
        /// Finished successfully.
        Done = crate::jobs::ledger::DONE,
        /// Gave up after its last attempt.
        Dead = crate::jobs::ledger::DEAD,
    }
);

string_enum!(
    /// The database the server stores everything in.
    Storage, fallback = Sqlite, {
        /// Embedded SQLite (one process).
        Sqlite = "sqlite",
        /// PostgreSQL (production, scale-out).
        Postgres = "postgres",
    }
);
