//! What a Redis store is built from, once resolved.

use std::time::Duration;

use ::redis::ConnectionInfo;

/// Connect and response timeouts, as configured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) response: Duration,
}

/// `info` with `username` and `password` where given (what is not given
/// is kept).
pub(super) fn with_credentials(
    info: ConnectionInfo,
    username: Option<&str>,
    password: Option<&str>,
) -> ConnectionInfo {
    let mut redis = info.redis_settings().clone();
    if let Some(username) = username {
        redis = redis.set_username(username);
    }
    if let Some(password) = password {
        redis = redis.set_password(password);
    }
    info.set_redis_settings(redis)
}
