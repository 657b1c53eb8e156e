//! Failures of Redis requests, and how they become [`Error`]s: the kind
//! (connection, timeout, configuration, the server's answer) and a message
//! that names whom we talked to; the redis-rs error is the source.

use std::time::Duration;

use ::redis::RedisError;

use super::settings::Timeouts;
use crate::{Error, ErrorKind};

/// Whether a request was connecting or waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(super) enum Phase {
    Connect,
    Command,
}

/// A failed request, before it becomes an [`Error`].
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: RedisError,
    pub(super) phase: Phase,
}

impl Failure {
    pub(super) fn connect(error: RedisError) -> Self {
        Self {
            error,
            phase: Phase::Connect,
        }
    }

    pub(super) fn command(error: RedisError) -> Self {
        Self {
            error,
            phase: Phase::Command,
        }
    }

    /// Whether the request got as far as being sent.
    pub(super) fn is_command(&self) -> bool {
        matches!(self.phase, Phase::Command)
    }
}

/// `READONLY`: a write reached a replica (a demoted master, after a
/// failover).
pub(super) fn is_read_only(e: &RedisError) -> bool {
    e.code() == Some("READONLY")
}

/// Turns a redis-rs error into ours. `peer` names who we talked to
/// (`Redis at 127.0.0.1:6379/0`, `Redis Cluster at …`); passwords never
/// appear in it.
pub(super) fn map_error(peer: &str, timeouts: Timeouts, failure: Failure) -> Error {
    let Failure { error: e, phase } = failure;
    let (kind, message) = if e.is_timeout() {
        let message = match phase {
            Phase::Connect => format!(
                "cannot connect to {peer}: no answer within the connect timeout ({:?})",
                timeouts.connect
            ),
            Phase::Command => format!(
                "{peer} did not answer in time (response timeout {:?}, connect timeout {:?})",
                timeouts.response, timeouts.connect
            ),
        };
        (ErrorKind::Timeout, message)
    } else if e.is_io_error() {
        let lost = matches!(phase, Phase::Command)
            && e.is_connection_dropped()
            && !e.is_connection_refusal();
        let message = if lost {
            format!("lost the connection to {peer}")
        } else {
            format!("cannot connect to {peer}")
        };
        (ErrorKind::Connection, message)
    } else if e.code() == Some("NOAUTH") {
        (
            ErrorKind::Connection,
            format!("{peer} requires a password, and the URL gives none"),
        )
    } else {
        match e.kind() {
            ::redis::ErrorKind::AuthenticationFailed => (
                ErrorKind::Connection,
                format!("{peer} refused the credentials"),
            ),
            ::redis::ErrorKind::ClusterConnectionNotFound => (
                ErrorKind::Connection,
                format!("cannot reach the node of {peer} that holds the key"),
            ),
            ::redis::ErrorKind::InvalidClientConfig => (
                ErrorKind::Config,
                format!("invalid configuration for {peer}"),
            ),
            ::redis::ErrorKind::Parse | ::redis::ErrorKind::UnexpectedReturnType => {
                (ErrorKind::Backend, format!("unexpected reply from {peer}"))
            }
            _ => (ErrorKind::Backend, format!("{peer} answered with an error")),
        }
    };
    Error::with_source(kind, message, e)
}

/// A configuration error for a node whose redis-rs client cannot be built.
pub(super) fn config_error(address: &str, e: RedisError) -> Error {
    Error::with_source(
        ErrorKind::Config,
        format!("invalid Redis address `{address}`"),
        e,
    )
}

/// A redis-rs error for work that did not finish within `limit`.
pub(super) fn timed_out(what: &str, limit: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} did not finish within {limit:?}"),
    ))
}

/// A redis-rs error for a task of the I/O runtime that did not complete.
pub(super) fn task_failed(join: &tokio::task::JoinError) -> RedisError {
    RedisError::from(std::io::Error::other(format!(
        "the Redis connection task failed: {join}"
    )))
}
