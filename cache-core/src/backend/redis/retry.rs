//! Which failed requests may be sent again.

use ::redis::RedisError;

use super::error::{is_read_only, Failure, Phase};

/// Whether a failed request may be sent again.
#[derive(Clone, Copy)]
pub(super) enum Retry {
    /// Idempotent: retry once when the connection was lost or refused.
    Idempotent,
    /// Not idempotent (`SET NX`, `INCRBY`): retry once only when the
    /// request cannot have been carried out.
    IfNotSent,
}

impl Retry {
    /// After a failure on the same server (standalone: the connection
    /// manager reconnects behind it).
    pub(super) fn allows(self, e: &RedisError) -> bool {
        match self {
            Self::Idempotent => e.is_io_error() && e.is_connection_dropped(),
            Self::IfNotSent => e.is_connection_refusal(),
        }
    }

    /// After a failure that sent us looking for a new master (Sentinel).
    /// A request rejected with `READONLY`, or never sent, was not carried
    /// out.
    pub(super) fn allows_elsewhere(self, failure: &Failure) -> bool {
        match self {
            Self::Idempotent => true,
            Self::IfNotSent => {
                matches!(failure.phase, Phase::Connect)
                    || failure.error.is_connection_refusal()
                    || is_read_only(&failure.error)
            }
        }
    }
}
